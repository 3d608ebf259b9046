"""Every action of the table end to end (issue 13): real Kafka, real Redis,
ipo-sim and the bridge, one of each for the whole module.  For each action:
the exact request the simulator received (GET /requests: the message in
proto3 JSON, the subscription it came on), the result on the results topic
(status, code, data) and the same result recorded in Redis, and what the
PBX did (the simulator's model, the events).

  snapshots      calls up and a call parked before the bridge starts are 'r';
                 every user's first event carries its phone state; a
                 presence-only entity carries every NotifyPresentity field
  user           set_dnd, set_absence, set_ec500, shortcode (and onbehalf),
                 set_app, set_forward_unconditional, set_mailbox, login_extn
                 (and a teleworker connection)
  queue          set_service_mode, set_voicemail, set_members, add_member,
                 delete_member
  pbx, bridge    get_version, get_file, snapshot
  calls          make_call, redirect, answer, hold, unhold, set_tag,
                 set_account_code, set_auth_code, generate_digits,
                 recording_on/off, privacy_on/off, agent_recording,
                 blind_transfer, drop, dial, setup_transfer,
                 complete_transfer, setup_conf, complete_conf, mute_on/off,
                 member_function, add_to_conf, push_to_ec500
  park server    park, then set_tag, blind_transfer, drop, force_clear on
                 {"parkserver": slot}; unpark
  MakeCall types page (and answer_page), force_feed, intrude, pickup, camp_on,
                 meetme
  failed calls   a MakeCall lost at once (only a CallLost) and one refused
  queue calls    set_priority, finish, force_clear, drop on a queue's call
  refresh        the PBX resends everything: nothing changed, nothing produced
"""
import json
import pathlib
import time

import pytest

from bridgelib import Bridge, Events, Sim, check_live_calls, check_sequences, validate_all
from services import wait_for
from test_bridge_commands import REQUESTID_BASE, Commands, record

ALICE = "alice@partner.example"
GHOST = "ghost@nowhere.example"


class World:
    """The module's simulator, bridge, events and commands, and the checks every action gets."""

    def __init__(self, sim, bridge, events, commands):
        self.sim, self.bridge, self.events, self.commands = sim, bridge, events, commands
        self.model = sim.model()
        self.sids = {}  # target -> the subscription its requests came on
        self.ran = set()  # actions run to a final outcome the PBX (or the bridge) decided

    def guid(self, extn):
        return next(u["guid"] for u in self.model["users"] if u["extn"] == extn)

    def user(self, extn):
        return self.sim.model_user(extn)

    def queue(self, extn):
        return next(q for q in self.sim.model()["queues"] if q["extn"] == extn)

    def kind_of(self, sid):
        conns = self.sim.ctl("GET", "/stats")["subscriptions"]["connections"]
        return next(x["kind"] for c in conns for x in c["subscriptions"] if x["subscribe_id"] == sid)

    def run(self, cmd, status="succeeded", code=0, sent=None, kind=None, reason=None, timeout=30):
        """Run `cmd` and check it all: the result (status, code, reason), its
        record in Redis, and the one request the simulator received for it
        (`sent`: the SubscribeCmd's payload or the GeneralCmd, without
        requestid and subscribe_id; `kind`: the subscription's kind).  None
        for a command that sends nothing."""
        before = self.sim.ctl("GET", "/requests")["total"]
        res = self.commands.run(dict(cmd), timeout=timeout)
        assert res["status"] == status, res
        assert res["action"] == cmd["action"] and res["reason"] == reason, res
        assert res["code"] == code, res
        rec = record(self.bridge.redis_url, self.bridge.pbx_id, res["id"])
        assert rec["status"] == status and rec["action"] == cmd["action"], rec
        assert json.loads(rec["result"]) == res, (rec, res)
        assert rec.get("code") == (None if code is None else str(code)), rec
        new = [r for r in self.sim.ctl("GET", "/requests")["requests"] if r["seq"] > before]
        ours = [r for r in new if (r["message"].get("subscribecmd") or r["message"].get("generalcmd"))
                ["requestid"] >= REQUESTID_BASE]
        if sent is None:
            assert ours == [], ours
            assert res["requestid"] is None and "requestid" not in rec, (res, rec)
            if status == "succeeded":
                self.ran.add(cmd["action"])
            return res
        assert len(ours) == 1, ours
        assert rec["requestid"] == str(res["requestid"]), rec
        if callable(sent):
            sent = sent(res)
        self.ran.add(cmd["action"])
        msg = ours[0]["message"]
        outer = "subscribecmd" if "subscribecmd" in msg else "generalcmd"
        got = dict(msg[outer])
        assert got.pop("requestid") == res["requestid"], msg
        if outer == "subscribecmd":
            sid = got.pop("subscribe_id")
            assert self.kind_of(sid) == kind, (sid, kind)
            target = json.dumps(cmd.get("target"), sort_keys=True)
            assert self.sids.setdefault(target, sid) == sid, (cmd, sid, self.sids[target])
        assert got == sent, (got, sent)
        return res

    # ---- the calls topic ----

    def legs(self, extn=None, line_kind="user"):
        """Each live leg's last state on a line (user by extension, or the park server)."""
        last = {}
        for e in self.events.of("calls"):
            s = e.value["source"]
            if s["line_kind"] == line_kind and (extn is None or s["line_extn"] == extn):
                last[e.key] = e.value
        return [v["after"] for v in last.values() if v["op"] != "d"]

    def leg(self, extn=None, line_kind="user", timeout=15, **want):
        """Wait for a live leg with these field values (or values a callable accepts); the newest such."""
        def find(evs):
            hits = [a for a in self.legs(extn, line_kind)
                    if all(w(a.get(k)) if callable(w) else a.get(k) == w for k, w in want.items())]
            return hits[-1] if hits else None
        return self.events.wait(find, timeout, f"leg {extn or line_kind} {want}")

    def first(self, key):
        return next(e for e in self.events.all if e.key == key and not e.tombstone and e.topic == "calls")

    def ended(self, gcid, timeout=15):
        """Every leg of the call deleted."""
        self.events.wait(lambda evs: [e for e in self.events.of("calls", gcid=gcid)]
                         and all(e.value["op"] == "d" for e in self.last_of(gcid)), timeout, f"call {gcid} ended")

    def last_of(self, gcid):
        last = {}
        for e in self.events.of("calls", gcid=gcid):
            last[e.key] = e
        return list(last.values())

    def clear(self):
        self.sim.ctl("POST", "/calls/clear")
        self.events.wait(lambda evs: not self.legs(None, "user") and not self.legs(None, "queue")
                         and not self.legs(None, "parkserver"), 15, "every call gone")

    def call(self, a, b):
        """a calls b, b answers: (gcid, a's leg, b's leg)."""
        r = self.sim.ctl("POST", f"/phone/{a}/offhook", {"dial": b})
        self.leg(b, gcid=r["gcid"], state="RINGING")
        self.sim.ctl("POST", f"/phone/{b}/answer", {})
        return r["gcid"], self.leg(a, gcid=r["gcid"], state="CONNECTED"), self.leg(b, gcid=r["gcid"], state="CONNECTED")


def cf(callid, action, **extra):
    return {"callcontrol": {"callid": callid, "callfunction": {"action": action, **extra}}}


@pytest.fixture(scope="module")
def world(tmp_path_factory, kafka, redis_server):
    work = tmp_path_factory.mktemp("actions")
    sim = Sim(work / "sim", users=8, queues=2, extra=["--ring-ms", "300"]).start()
    # before the bridge: a call up, a call parked, a presence-only entity
    sim.ctl("POST", "/phone/2007/offhook", {"dial": "2008"})
    sim.ctl("POST", "/phone/2008/answer", {})
    sim.ctl("POST", "/phone/2005/offhook", {"dial": "2006"})
    sim.ctl("POST", "/phone/2006/answer", {})
    sim.ctl("POST", "/phone/2006/park", {"slot": "5"})
    sim.ctl("POST", "/presentities", {"id": ALICE, "dnd": True, "phonestate": 4, "app": "In a meeting",
                                      "absence_set": True, "absence_msg": 2, "absence_str": "back at 3",
                                      "fwdu": True, "mb_new": 3, "noapphandler": False})
    bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url=redis_server.url,
                    extra=[f"--presence_entities={ALICE},{GHOST}"]).start()
    events = Events(kafka.bootstrap, bridge.prefix)
    commands = Commands(kafka.bootstrap, bridge)
    w = World(sim, bridge, events, commands)
    yield w
    events.poll(1)
    validate_all(events.all)
    check_sequences(events.all)
    check_live_calls(events.all)
    commands.close()
    events.close()
    bridge.stop()
    sim.stop()


# ---- one snapshot model ----

def test_snapshot_model(world):
    w = world
    ev = w.events
    # every user's first event is one 'r' carrying its phone state
    users = w.model["users"]
    ev.wait(lambda evs: all(ev.of("presence", key=u["guid"]) for u in users), 20, "every user")
    for u in users:
        first = ev.of("presence", key=u["guid"])[0].value
        assert first["op"] == "r" and first["seq"] == 1, first
        assert first["source"]["snapshot"] == "true", first
        assert isinstance(first["after"]["phonestate"], int), first
        assert first["after"]["extn"] == u["extn"], first
    assert ev.of("presence", key=w.guid("2007"))[0].value["after"]["phonestate_name"] == "connected"
    assert ev.of("presence", key=w.guid("2001"))[0].value["after"]["phonestate_name"] == "idle"
    # the calls up before the bridge started: read from the snapshot, 'r'
    a = w.leg("2007", state="CONNECTED")
    b = w.leg("2008", state="CONNECTED", gcid=a["gcid"])
    for leg in (a, b):
        first = w.first(leg["leg"]).value
        assert first["op"] == "r" and first["source"]["snapshot"] == "true", first
        assert first["source"]["refresh"] is None
    # the call parked before it: 'r' on the park server's line
    parked = w.leg(line_kind="parkserver", parkslot="5", state="ONHOLD")
    first = w.first(parked["leg"]).value
    assert first["op"] == "r" and first["source"]["line_kind"] == "parkserver", first
    assert parked["leg"].startswith("parkserver:") and parked["line_guid"] == "parkserver"
    # presence-only entities: every NotifyPresentity field; an unknown one reported as unknown
    ev.wait(lambda evs: ev.of("presence", key=ALICE) and ev.of("presence", key=GHOST), 20, "presentities")
    alice = ev.of("presence", key=ALICE)[0].value
    assert alice["op"] == "r" and alice["seq"] == 1
    assert alice["source"]["entity"] == f"presentity:{ALICE}" and alice["source"]["line_kind"] == "presentity"
    assert alice["after"] == {"presentity": ALICE, "sac": True, "phonestate": 4, "phonestate_name": "connected",
                              "absence": {"msg": 2, "str": "back at 3"}, "app": "In a meeting", "fwdu": True,
                              "vmunread_messages": 3, "noapphandler": False}
    ghost = ev.of("presence", key=GHOST)[0].value
    assert ghost["after"]["phonestate"] == 8 and ghost["after"]["phonestate_name"] == "unknown", ghost
    w.sim.ctl("PATCH", f"/presentities/{ALICE}", {"phonestate": 0, "app": ""})
    upd = ev.wait(lambda evs: ev.of("presence", key=ALICE, op="u"), 20, "alice updated")[0].value
    assert upd["changed"] == ["phonestate", "phonestate_name", "app"] and upd["seq"] == 2, upd
    assert upd["after"]["phonestate_name"] == "idle" and upd["source"]["snapshot"] == "false"
    w.clear()


# ---- users ----

def test_user_actions(world):
    w = world
    w.run({"action": "set_dnd", "target": {"user": "2001"}, "args": {"on": True}},
          sent={"user": {"sac": {"set": 1}}}, kind="user")
    assert w.user("2001")["dnd"] is True
    ev = w.events.wait(lambda evs: [e for e in w.events.of("presence", key=w.guid("2001"), op="u")
                                    if e.value["after"]["dnd"] is True], 20, "2001 dnd")[0].value
    assert ev["changed"] == ["dnd"] and ev["source"]["subscribe_id"] == w.sids['{"user": "2001"}']
    w.run({"action": "set_dnd", "target": {"user": w.guid("2001")}, "args": {"on": False}},
          sent={"user": {"sac": {}}}, kind="user")
    assert w.user("2001")["dnd"] is False
    w.run({"action": "set_absence", "target": {"user": "2001"}, "args": {"msg": 3, "text": "lunch"}},
          sent={"user": {"absence": {"set": 1, "absence": {"msg": 3, "str": "lunch"}}}}, kind="user")
    u = w.user("2001")
    assert (u["absence_set"], u["absence_msg"], u["absence_str"]) == (True, 3, "lunch")
    w.run({"action": "set_absence", "target": {"user": "2001"}, "args": {"clear": True}},
          sent={"user": {"absence": {}}}, kind="user")
    assert w.user("2001")["absence_set"] is False
    w.run({"action": "set_ec500", "target": {"user": "2002"}, "args": {"on": True}},
          sent={"user": {"ec500": {"set": 1}}}, kind="user")
    assert w.user("2002")["ec500"] is True
    # a short code; the same on behalf of another user (2004), who gets it instead
    w.run({"action": "shortcode", "target": {"user": "2003"}, "args": {"code": 7}},
          sent={"user": {"shortcodedata": [{"code": 7}]}}, kind="user")
    assert w.user("2003")["dnd"] is True
    w.run({"action": "shortcode", "target": {"user": "2003"}, "args": {"code": 7, "onbehalf": "2004"}},
          sent={"user": {"shortcodedata": [{"code": 7, "onbehalf": "2004"}]}}, kind="user")
    assert w.user("2004")["dnd"] is True
    w.run({"action": "shortcode", "target": {"user": "2003"}, "args": {"code": 8, "onbehalf": "2004"}},
          sent={"user": {"shortcodedata": [{"code": 8, "onbehalf": "2004"}]}}, kind="user")
    w.run({"action": "shortcode", "target": {"user": "2003"}, "args": {"code": 8}},
          sent={"user": {"shortcodedata": [{"code": 8}]}}, kind="user")
    assert w.user("2003")["dnd"] is False and w.user("2004")["dnd"] is False
    # on behalf of nobody the PBX knows: its answer, USERNOTFOUND (7)
    w.run({"action": "shortcode", "target": {"user": "2003"}, "args": {"code": 7, "onbehalf": "9999"}},
          status="failed", code=7, sent={"user": {"shortcodedata": [{"code": 7, "onbehalf": "9999"}]}}, kind="user")
    w.run({"action": "set_app", "target": {"user": "2003"}, "args": {"value": "In a meeting"}},
          sent={"user": {"app": {"value": "In a meeting"}}}, kind="user")
    assert w.user("2003")["app"] == "In a meeting"
    w.run({"action": "set_forward_unconditional", "target": {"user": "2004"}, "args": {"on": True, "number": "2005"}},
          sent={"user": {"fwdu": {"set": True, "fwdu_number": "2005"}}}, kind="user")
    u = w.user("2004")
    assert u["fwdu"] is True and u["fwdunumber"] == "2005"
    w.run({"action": "set_forward_unconditional", "target": {"user": "2004"}, "args": {"on": False}},
          sent={"user": {"fwdu": {}}}, kind="user")
    assert w.user("2004")["fwdu"] is False
    w.run({"action": "set_mailbox", "target": {"user": "2005"}, "args": {"new": 3, "old": 1, "saved": 2}},
          sent={"user": {"shortcodedata": [{"code": 70, "val": ";3,1,2"}]}}, kind="user")
    u = w.user("2005")
    assert (u["mb_new"], u["mb_old"], u["mb_saved"]) == (3, 1, 2)
    # hot desking as a teleworker: the PBX tests the number first; then back at the desk
    w.run({"action": "login_extn", "target": {"user": "2006"},
           "args": {"extn": "2006", "teleworker": "2007", "hold_line_open": True, "test_connection": True}},
          sent={"user": {"loginextn": {"extn": "2006", "teleworkerconnection":
                                       {"number": "2007", "holdlineopen": True, "testconnection": 1}}}},
          kind="user")
    u = w.user("2006")
    assert (u["teleworker"], u["holdlineopen"], u["loggedinextn"]) == ("2007", True, "2006")
    w.run({"action": "login_extn", "target": {"user": "2006"},
           "args": {"extn": "2006", "teleworker": "0123", "test_connection": True}},
          status="failed", code=5000,
          sent={"user": {"loginextn": {"extn": "2006", "teleworkerconnection": {"number": "0123",
                                                                               "testconnection": 1}}}},
          kind="user")
    assert w.user("2006")["teleworker"] == "2007"  # a failed login changes nothing
    w.run({"action": "login_extn", "target": {"user": "2006"}, "args": {"extn": "2006"}},
          sent={"user": {"loginextn": {"extn": "2006"}}}, kind="user")
    u = w.user("2006")
    assert (u["teleworker"], u["holdlineopen"]) == ("", False)


# ---- queues ----

def test_queue_actions(world):
    w = world
    members = w.queue("5002")["members"]
    w.run({"action": "set_service_mode", "target": {"queue": "5001"}, "args": {"mode": "night_service"}},
          sent={"queue": {"setservicemode": {"servicemode": "NS"}}}, kind="queue")
    assert w.queue("5001")["servicemode"] == 2
    w.run({"action": "set_service_mode", "target": {"queue": "5001"}, "args": {"mode": "active"}},
          sent={"queue": {"setservicemode": {"servicemode": "Active"}}}, kind="queue")
    assert w.queue("5001")["servicemode"] == 1
    w.run({"action": "set_voicemail", "target": {"queue": "5002"}, "args": {"on": True}},
          sent={"queue": {"setvoicemail": {"enabled": True}}}, kind="queue")
    assert w.queue("5002")["voicemail"] is True
    w.run({"action": "set_voicemail", "target": {"queue": "5002"}, "args": {"on": False}},
          sent={"queue": {"setvoicemail": {}}}, kind="queue")
    assert w.queue("5002")["voicemail"] is False
    w.run({"action": "set_members", "target": {"queue": "5002"},
           "args": {"members": ["2001", {"extn": "2002", "disabled": True}]}},
          sent={"queue": {"members": {"member": [{"extn": "2001"}, {"extn": "2002", "disabled": True}]}}},
          kind="queue")
    assert w.queue("5002")["members"] == [{"extn": "2001", "disabled": False}, {"extn": "2002", "disabled": True}]
    w.run({"action": "add_member", "target": {"queue": "5002"}, "args": {"extn": "2003"}},
          sent={"queue": {"addmember": [{"extn": "2003"}]}}, kind="queue")
    assert {"extn": "2003", "disabled": False} in w.queue("5002")["members"]
    w.run({"action": "delete_member", "target": {"queue": "5002"}, "args": {"extn": "2003"}},
          sent={"queue": {"deletemember": [{"extn": "2003"}]}}, kind="queue")
    assert all(m["extn"] != "2003" for m in w.queue("5002")["members"])
    w.run({"action": "set_members", "target": {"queue": "5002"}, "args": {"members": members}},
          sent={"queue": {"members": {"member": [{"extn": m["extn"], **({"disabled": True} if m["disabled"] else {})}
                                                 for m in members]}}}, kind="queue")
    assert w.queue("5002")["members"] == members


# ---- the PBX and the bridge ----

def test_pbx_and_bridge_actions(world):
    w = world
    res = w.run({"action": "get_version"}, sent={"getversioninfo": True})
    assert res["data"] == {"versioninfo": w.model["version"]}
    res = w.run({"action": "get_file", "args": {"name": "nasystem/AccountCode"}},
                sent=lambda r: {"getfile": {"cmdinst": r["requestid"], "fname": "nasystem/AccountCode"}})
    assert res["data"]["getfile"]["fname"] == "nasystem/AccountCode"
    # the bridge's own action: nothing to the PBX
    res = w.run({"action": "snapshot", "target": {"user": "2001"}, "args": {"topics": ["lines"]}}, code=None)
    assert res["data"] == {"events": 1}


# ---- calls ----

def test_call_actions(world):
    w = world
    res = w.run({"action": "make_call", "target": {"user": "2001"}, "args": {"to": "2002", "referencecallid": 1001}},
                sent={"callcontrol": {"referencecallid": 1001, "makecall": {"target": "2002"}}}, kind="user")
    a = w.leg("2001", referencecallid=1001)
    assert res["data"] == {"referencecallid": 1001, "callid": a["callid"], "leg": a["leg"]}
    g = a["gcid"]
    b = w.leg("2002", gcid=g, state="RINGING")
    w.run({"action": "redirect", "target": {"user": "2002"}, "call": {"callid": b["callid"]}, "args": {"to": "2003"}},
          sent=cf(b["callid"], "Redirect", arg1="2003"), kind="user")
    c = w.leg("2003", gcid=g, state="RINGING")
    w.run({"action": "answer", "target": {"user": "2003"}, "call": {"callid": c["callid"]}, "args": {"device": "desk"}},
          sent={"callcontrol": {"callid": c["callid"], "callfunction": {"action": "AnswerCall"}, "devicehint": "DESK"}},
          kind="user")
    cid = w.leg("2003", gcid=g, state="CONNECTED")["callid"]
    on = {"target": {"user": "2003"}, "call": {"callid": cid}}
    w.run({"action": "hold", **on}, sent=cf(cid, "HoldCall"), kind="user")
    w.leg("2003", callid=cid, state="ONHOLD")
    w.run({"action": "unhold", **on}, sent=cf(cid, "UnHoldCall"), kind="user")
    w.leg("2003", callid=cid, state="CONNECTED")
    w.run({"action": "set_tag", **on, "args": {"tag": "vip"}}, sent=cf(cid, "SetTag", arg1="vip"), kind="user")
    w.leg("2001", gcid=g, tag="vip")  # the tag goes with the call
    w.run({"action": "set_account_code", **on, "args": {"code": "1001"}}, sent=cf(cid, "SetAccountCode", arg1="1001"),
          kind="user")
    w.leg("2003", callid=cid, accountcode="1001")
    res = w.run({"action": "set_auth_code", **on, "args": {"code": "9001"}}, sent=cf(cid, "SetAuthCode", arg1="9001"),
                kind="user")
    assert "9001" not in json.dumps(record(w.bridge.redis_url, w.bridge.pbx_id, res["id"]))
    w.run({"action": "generate_digits", **on, "args": {"digits": "12#"}}, sent=cf(cid, "GenerateDigits", arg1="12#"),
          kind="user")
    w.run({"action": "recording_on", **on}, sent=cf(cid, "CallRecordingOn"), kind="user")
    w.leg("2003", callid=cid, recording=True)
    w.run({"action": "recording_off", **on}, sent=cf(cid, "CallRecordingOff"), kind="user")
    w.leg("2003", callid=cid, recording=False)
    w.run({"action": "privacy_on", **on}, sent=cf(cid, "PrivacyOn"), kind="user")
    w.leg("2003", callid=cid, calldata=lambda d: d["privacy"] is True)
    w.run({"action": "privacy_off", **on}, sent=cf(cid, "PrivacyOff"), kind="user")
    w.leg("2003", callid=cid, calldata=lambda d: d["privacy"] is False)
    w.run({"action": "agent_recording", **on, "args": {"op": "pause"}},
          sent=cf(cid, "AgentRecordingControl", agentrecording={"pause": True}), kind="user")
    w.leg("2003", callid=cid, recordingpaused=True)
    w.run({"action": "blind_transfer", **on, "args": {"to": "2004"}}, sent=cf(cid, "BlindTransfer", arg1="2004"),
          kind="user")
    d = w.leg("2004", gcid=g, state="RINGING")
    w.sim.ctl("POST", "/phone/2004/answer", {})
    w.leg("2004", callid=d["callid"], state="CONNECTED")
    w.run({"action": "drop", "target": {"user": "2004"}, "call": {"callid": d["callid"]}},
          sent=cf(d["callid"], "DropCall"), kind="user")
    w.ended(g)
    # dial: a phone off hook, dial tone, then the digits
    r = w.sim.ctl("POST", "/phone/2005/offhook", {})
    e = w.leg("2005", gcid=r["gcid"], state="DIALTONE")
    w.run({"action": "dial", "target": {"user": "2005"}, "call": {"callid": e["callid"]}, "args": {"digits": "2006"}},
          sent=cf(e["callid"], "Dial", arg1="2006"), kind="user")
    w.leg("2006", gcid=r["gcid"], state="RINGING")
    w.run({"action": "drop", "target": {"user": "2005"}, "call": {"callid": e["callid"]}},
          sent=cf(e["callid"], "DropCall"), kind="user")
    w.ended(r["gcid"])
    # ForceClear is not offered on a user line: refused, nothing sent
    g2, a2, b2 = w.call("2001", "2002")
    w.run({"action": "force_clear", "target": {"user": "2002"}, "call": {"callid": b2["callid"]}},
          status="rejected", code=None, reason="unavailable: the call's featuresavailable lacks FORCECLEAR: "
                                               "force_clear is not possible now")
    # PushToEC500: 2002 is twinned (set_ec500 above)
    w.run({"action": "push_to_ec500", "target": {"user": "2002"}, "call": {"callid": b2["callid"]}},
          sent=cf(b2["callid"], "PushToEC500"), kind="user")
    w.run({"action": "set_ec500", "target": {"user": "2002"}, "args": {"on": False}},
          sent={"user": {"ec500": {}}}, kind="user")
    w.clear()


def test_transfer_and_conference(world):
    w = world
    g, a, b = w.call("2001", "2002")
    w.run({"action": "setup_transfer", "target": {"user": "2002"}, "call": {"callid": b["callid"]},
           "args": {"to": "2003"}}, sent=cf(b["callid"], "SetupTransfer", arg1="2003"), kind="user")
    w.leg("2002", callid=b["callid"], state="ONHOLDPENDTRANSFER")
    c = w.leg("2003", state="RINGING")
    w.sim.ctl("POST", "/phone/2003/answer", {})
    w.leg("2003", callid=c["callid"], state="CONNECTED")
    w.run({"action": "complete_transfer", "target": {"user": "2002"}, "call": {"callid": b["callid"]}},
          sent=cf(b["callid"], "CompleteTransfer"), kind="user")
    w.events.wait(lambda evs: not w.legs("2002"), 15, "2002 left")
    w.clear()
    # a conference of three: 2004, 2005 and 2006
    g, a, b = w.call("2004", "2005")
    w.run({"action": "setup_conf", "target": {"user": "2005"}, "call": {"callid": b["callid"]},
           "args": {"to": "2006"}}, sent=cf(b["callid"], "SetupConf", arg1="2006"), kind="user")
    w.leg("2005", callid=b["callid"], state="ONHOLDPENDCONF")
    c = w.leg("2006", state="RINGING")
    w.sim.ctl("POST", "/phone/2006/answer", {})
    w.leg("2006", callid=c["callid"], state="CONNECTED")
    w.run({"action": "complete_conf", "target": {"user": "2005"}, "call": {"callid": b["callid"]}},
          sent=cf(b["callid"], "CompleteConf"), kind="user")
    conf = w.events.wait(lambda evs: [x for x in w.legs("2005") if x["state"] == "CONNECTED"
                                      and len(x["conferencemember"]) == 2], 15, "conference")[-1]
    cid = conf["callid"]
    on = {"target": {"user": "2005"}, "call": {"callid": cid}}
    w.run({"action": "mute_on", **on}, sent=cf(cid, "MuteOn"), kind="user")
    w.leg("2005", callid=cid, mute=True)
    w.run({"action": "mute_off", **on}, sent=cf(cid, "MuteOff"), kind="user")
    w.leg("2005", callid=cid, mute=False)
    lref = conf["conferencemember"][0]["lref"]
    w.run({"action": "member_function", **on, "args": {"lref": lref, "op": "mute_on"}},
          sent=cf(cid, "MemberFunction", memberfunctiondata={"lref": lref, "action": "MuteOn"}), kind="user")
    w.leg("2005", callid=cid, conferencemember=lambda ms: any(m["lref"] == lref and m["mute"] for m in ms))
    w.run({"action": "add_to_conf", **on, "args": {"to": "2007"}}, sent=cf(cid, "AddToConf", arg1="2007"), kind="user")
    w.leg("2007", state="RINGING")
    w.clear()


# ---- the park server ----

def test_park_server(world):
    w = world
    g, a, b = w.call("2001", "2002")
    w.run({"action": "park", "target": {"user": "2002"}, "call": {"callid": b["callid"]}, "args": {"slot": "1"}},
          sent=cf(b["callid"], "Park", arg1="1"), kind="user")
    p = w.leg(line_kind="parkserver", parkslot="1", state="ONHOLD")
    first = w.first(p["leg"]).value
    assert first["op"] == "c" and first["source"]["snapshot"] == "false", first  # parked now: created
    assert p["featuresavailable_names"] == ["DROP", "BLINDXFER", "TAG", "FORCECLEAR"], p
    w.run({"action": "set_tag", "target": {"parkserver": "1"}, "args": {"tag": "parked"}},
          sent=cf(p["callid"], "SetTag", arg1="parked"), kind="parkserver")
    w.leg(line_kind="parkserver", callid=p["callid"], tag="parked")
    w.run({"action": "blind_transfer", "target": {"parkserver": "1"}, "call": {"callid": p["callid"]},
           "args": {"to": "2003"}}, sent=cf(p["callid"], "BlindTransfer", arg1="2003"), kind="parkserver")
    w.leg("2003", gcid=g, state="RINGING")
    w.events.wait(lambda evs: not w.legs(None, "parkserver"), 15, "slot 1 empty")
    w.sim.ctl("POST", "/phone/2003/answer", {})
    w.leg("2003", gcid=g, state="CONNECTED")
    w.sim.ctl("POST", "/phone/2003/park", {"slot": "2"})
    p = w.leg(line_kind="parkserver", parkslot="2")
    w.run({"action": "drop", "target": {"parkserver": "2"}}, sent=cf(p["callid"], "DropCall"), kind="parkserver")
    w.ended(g)
    g, a, b = w.call("2004", "2005")
    w.sim.ctl("POST", "/phone/2005/park", {"slot": "3"})
    p = w.leg(line_kind="parkserver", parkslot="3")
    w.run({"action": "force_clear", "target": {"parkserver": "3"}}, sent=cf(p["callid"], "ForceClear"),
          kind="parkserver")
    w.ended(g)
    w.run({"action": "drop", "target": {"parkserver": "9"}}, status="rejected", code=None,
          reason="no_call: no call parked in slot 9")
    # unpark to another user: the new call is found by its referencecallid
    g, a, b = w.call("2006", "2007")
    w.sim.ctl("POST", "/phone/2007/park", {"slot": "4"})
    w.leg(line_kind="parkserver", parkslot="4")
    res = w.run({"action": "unpark", "target": {"user": "2008"}, "args": {"slot": "4", "referencecallid": 2001}},
                sent={"callcontrol": {"referencecallid": 2001, "unparkcall": {"parkid": "4"}}}, kind="user")
    u = w.leg("2008", referencecallid=2001)
    assert res["data"] == {"referencecallid": 2001, "callid": u["callid"], "leg": u["leg"]}
    assert u["gcid"] == g
    w.clear()


# ---- MakeCall's special types ----

def test_makecall_types(world):
    w = world

    def make(action, user, to, ref, type_):
        args = {"referencecallid": ref}
        if to is not None:
            args["to"] = to
        mc = {"type": type_} if to is None else {"target": to, "type": type_}
        res = w.run({"action": action, "target": {"user": user}, "args": args},
                    sent={"callcontrol": {"referencecallid": ref, "makecall": mc}}, kind="user")
        leg = w.leg(user, referencecallid=ref)
        assert res["data"] == {"referencecallid": ref, "callid": leg["callid"], "leg": leg["leg"]}
        return leg

    a = make("page", "2001", "2002", 3001, 104)
    p = w.leg("2002", gcid=a["gcid"], state="CONNECTED", pagecall=True, direction="INBOUND")
    assert p["featuresavailable2"] == 1
    w.run({"action": "answer_page", "target": {"user": "2002"}, "call": {"callid": p["callid"]}},
          sent=cf(p["callid"], "AnswerPage"), kind="user")
    w.leg("2002", callid=p["callid"], pagecall=False)
    w.clear()
    a = make("force_feed", "2003", "2004", 3002, 105)
    w.leg("2004", gcid=a["gcid"], state="CONNECTED")
    i = make("intrude", "2005", "2004", 3003, 106)
    assert i["gcid"] == a["gcid"]
    w.leg("2005", callid=i["callid"], state="CONNECTED")
    w.clear()
    r = w.sim.ctl("POST", "/phone/2001/offhook", {"dial": "2006"})
    w.leg("2006", gcid=r["gcid"], state="RINGING")
    k = make("pickup", "2007", "2006", 3004, 108)
    assert k["gcid"] == r["gcid"]
    w.leg("2007", callid=k["callid"], state="CONNECTED", direction="PICKUP")
    w.clear()
    w.sim.ctl("PATCH", "/users/2003", {"dnd": True})
    c = make("camp_on", "2008", "2003", 3005, 109)
    w.leg("2008", callid=c["callid"], state="RINGBACK")
    w.sim.ctl("PATCH", "/users/2003", {"dnd": False})
    w.leg("2003", gcid=c["gcid"], state="RINGING")  # free now: it rings
    w.clear()
    m = make("meetme", "2001", "600", 3006, 116)
    m = w.leg("2001", callid=m["callid"], state="CONNECTED")
    assert m["connectedparty"]["number"] == "600" and m["connectedparty"]["name"] == "MeetMe 600", m
    w.clear()


def test_makecall_fails_at_once(world):
    w = world
    w.sim.ctl("POST", "/makecall/fail", {"extn": "2001", "mode": "calllost", "reason": 41,
                                         "description": "no route"})
    seen = len(w.events.all)
    res = w.run({"action": "make_call", "target": {"user": "2001"}, "args": {"to": "2002", "referencecallid": 4001}},
                status="failed", code=0, reason="the call failed at once: CallLost reason 41: no route",
                sent={"callcontrol": {"referencecallid": 4001, "makecall": {"target": "2002"}}}, kind="user")
    assert res["code_name"] == "MTCTISESS_SUCCESS"
    lost = res["data"]["calllost"]
    assert res["data"] == {"referencecallid": 4001, "calllost": {
        "callid": lost["callid"], "referencecallid": 4001, "reason": 41, "thisenddropped": False,
        "description": "no route"}}, res
    w.events.poll(1)
    assert [e for e in w.events.all[seen:] if e.topic == "calls"] == []  # a call never reported
    w.sim.ctl("POST", "/makecall/fail", {"extn": "2001", "mode": "response"})
    res = w.run({"action": "page", "target": {"user": "2001"}, "args": {"to": "2002", "referencecallid": 4002}},
                status="failed", code=5000,
                sent={"callcontrol": {"referencecallid": 4002, "makecall": {"target": "2002", "type": 104}}},
                kind="user")
    assert res["code_name"] == "MTCTISESS_REQUESTFAILED" and res["data"] == {"referencecallid": 4002}, res


# ---- calls in a queue ----

def test_queue_calls(world):
    w = world
    w.sim.ctl("POST", "/queues", {"extn": "5101", "name": "Waiting", "members": []})
    w.events.wait(lambda evs: [e for e in w.events.of("lines", op="c") if e.value["after"]["extn"] == "5101"], 20,
                  "queue 5101")
    g = w.sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "5101", "did": "01707120000",
                                          "ucid": "00015a5a0000beef"})["gcid"]
    q = w.leg("5101", "queue", gcid=g, state="QUEUEING")
    # the default call detail: the trunk and its DID, the caller's number, the UCID, the devices, the targets
    assert q["trunkinfo"] == {"trunktype": "TrunkSIP", "did": "01707120000"}, q
    assert q["callingparty"]["number"] == "01707123456" and q["ucid"] == {"ucid": "00015a5a0000beef"}, q
    assert q["remoteinfo"] == {"gcid": g, "deviceclass": 2, "devicetype": 1, "deviceinstance": 1, "teleworker": ""}
    assert q["targets"] == {"target": []} and q["queueinfo"]["number"] == "5101", q  # nobody to ring
    on = {"target": {"queue": "5101"}, "call": {"callid": q["callid"]}}
    w.run({"action": "set_priority", **on, "args": {"priority": 3}}, sent=cf(q["callid"], "SetPriority", arg1="3"),
          kind="queue")
    w.leg("5101", "queue", callid=q["callid"], queueinfo=lambda i: i["priority"] == 3)
    w.run({"action": "force_clear", **on}, sent=cf(q["callid"], "ForceClear"), kind="queue")
    w.ended(g)
    g = w.sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "5101"})["gcid"]
    q = w.leg("5101", "queue", gcid=g, state="QUEUEING")
    w.run({"action": "finish", "target": {"queue": "5101"}, "call": {"callid": q["callid"]}, "args": {"now": True}},
          sent=cf(q["callid"], "Finish", arg1="1"), kind="queue")
    w.events.wait(lambda evs: not w.legs("5101", "queue"), 15, "no longer followed")
    w.sim.ctl("POST", "/trunk/hangup", {"gcid": g})
    g = w.sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "5101"})["gcid"]
    q = w.leg("5101", "queue", gcid=g, state="QUEUEING")
    w.run({"action": "drop", "target": {"queue": "5101"}, "call": {"callid": q["callid"]}},
          sent=cf(q["callid"], "DropCall"), kind="queue")
    w.ended(g)


# ---- the refresh ----

def test_refresh_changes_nothing(world):
    """The PBX resends every subscription's state (a refresh): with nothing
    changed, nothing is produced (a call up, a user, a presentity)."""
    w = world
    g, a, b = w.call("2001", "2002")
    w.events.poll(1)
    seen = len(w.events.all)
    notifies = w.sim.ctl("GET", "/stats")["subscriptions"]["notifies"]
    out = w.sim.ctl("POST", "/refresh", {})
    assert out["refreshed"] > 10, out
    wait_for(lambda: w.sim.ctl("GET", "/stats")["subscriptions"]["notifies"] >= notifies + out["refreshed"], 15, 0.1,
             "the refresh's Notifies")
    time.sleep(1.5)
    w.events.poll(1)
    assert [e for e in w.events.all[seen:] if e.topic != "bridge"] == []
    w.clear()


def test_every_action_was_run(world):
    """Every action of the table (the command schema's list) ran above, to
    an outcome the PBX (or, for snapshot, the bridge) decided."""
    schema = json.loads((pathlib.Path(__file__).resolve().parents[2] / "schemas" / "command.schema.json").read_text())
    table = set(schema["properties"]["action"]["enum"])
    assert len(table) == 54
    assert table - world.ran == set()
