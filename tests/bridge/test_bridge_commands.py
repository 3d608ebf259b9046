"""Commands end to end (issue #5): real Kafka, real Redis, ipo-sim and the
bridge.  A command is produced to <prefix>commands; its result is read from
<prefix>command-results and the Redis hash; the simulator's model and the
event topics show what it did.

  actions      every family: user (set_dnd, set_forward_unconditional,
               set_absence), new calls (make_call), calls (answer, hold,
               unhold, drop on a ringing trunk call), queues
               (set_service_mode, add_member), the PBX (get_version,
               get_file), the bridge (snapshot)
  rejections   bad JSON, bad id, unknown action, bad args, policy, unknown
               target, unknown call, feature not available, wrong pbx, too big
  duplicates   the same id twice: executed once, the second gets duplicate
  timeouts     the simulator stops answering: timeout at the deadline
  PBX down     connections dropped: commands wait, time out unsent at their
               deadline, or run once the PBX is back before it
  the CLI      mtcti3 command, flags and JSON
  Redis        restarted in the middle of a stream: nothing lost, nothing twice;
               stopped (SIGSTOP): Notifies still acknowledged, events still
               produced, /readyz says why, commands wait and then run once;
               an ACL user (AUTH user password)
  SIGKILL      the bridge killed and restarted in the middle of a stream
  headers      every result carries its CloudEvents headers (exact values)
"""
import base64
import datetime
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import jsonschema
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

from bridgelib import Bridge, Events, Sim
from services import RedisServer, wait_for
from testenv import TOP, binary

RESULT_SCHEMA = json.loads((TOP / "schemas" / "command-result.schema.json").read_text())
HEADERS_SCHEMA = {"type": "object", "additionalProperties": False, **RESULT_SCHEMA["x-kafka-headers"]}
REQUESTID_BASE = 1 << 30
FINAL = ("succeeded", "failed", "rejected", "timeout")

POLICY = {"users": ["2001-2004"],
          "actions": ["@new_call", "@user", "@queue", "@pbx", "@bridge", "drop", "answer", "hold", "unhold"]}
DENY_POLICY_ACTION = "force_clear"


class Commands:
    """Produce commands to a bridge and read their results."""

    def __init__(self, bootstrap, bridge):
        self.bridge = bridge
        self.topic = bridge.prefix + "commands"
        self.results_topic = bridge.prefix + "command-results"
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "isolation.level": "read_committed"})

        def parts():
            md = self.consumer.list_topics(self.results_topic, timeout=5)
            t = md.topics.get(self.results_topic)
            if t is None or t.error is not None or not t.partitions:
                return None
            return [TopicPartition(self.results_topic, p, OFFSET_BEGINNING) for p in t.partitions]
        self.consumer.assign(wait_for(parts, 30, 0.3, "results topic"))
        self.results = []  # (key, value) in arrival order
        self.headers = []  # (key, {header: value}, partition, offset) of each, same order

    def send(self, cmd, key=None):
        """Produce one command (a dict, or raw bytes); returns its id."""
        if isinstance(cmd, dict):
            value = json.dumps(cmd).encode()
            key = key or cmd.get("id")
        else:
            value = cmd
        self.producer.produce(self.topic, key=key, value=value)
        self.producer.flush(10)
        return cmd.get("id") if isinstance(cmd, dict) else key

    def poll(self, timeout=0.3):
        for m in self.consumer.consume(500, timeout):
            if m.error():
                continue
            key = m.key().decode() if m.key() else None
            self.results.append((key, json.loads(m.value())))
            self.headers.append((key, {k: v.decode() for k, v in (m.headers() or [])}))

    def of(self, key):
        return [v for k, v in self.results if k == key]

    def wait(self, key, n=1, timeout=30):
        def got():
            self.poll()
            r = self.of(key)
            return r if len(r) >= n else None
        r = wait_for(got, timeout, 0.05, f"result of {key}")
        for v in r:
            jsonschema.validate(v, RESULT_SCHEMA)
        for (k, v), (_, h) in zip(self.results, self.headers):
            if k == key:
                check_headers(self.bridge.pbx_id, k, v, h)
        return r[n - 1]

    def run(self, cmd, timeout=30):
        cmd.setdefault("id", "t-" + uuid.uuid4().hex[:12])
        self.send(cmd)
        return self.wait(cmd["id"], timeout=timeout)

    def close(self):
        self.consumer.close()


def check_headers(pbx, key, result, h):
    """The CloudEvents attributes of a result, as docs/commands.md gives them."""
    cid, status = result["id"], result["status"]
    jsonschema.validate(h, HEADERS_SCHEMA)
    assert set(h) == ({"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"}
                      | ({"ce_subject"} if cid else set())), h
    assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json", h
    assert h["ce_source"] == f"/mtcti3/{pbx}", h
    assert h["ce_type"] == f"mtcti3.command.{status}", h
    if cid is None:
        assert h["ce_id"].startswith(f"{pbx}/command/-/0/"), h
    elif status == "duplicate":
        assert h["ce_id"].startswith(f"{pbx}/command/{cid}/duplicate/0/"), h
        assert h["ce_subject"] == cid, h
    else:
        assert h["ce_id"] == f"{pbx}/command/{cid}" and h["ce_subject"] == cid, h
    t = datetime.datetime.strptime(h["ce_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((datetime.datetime.utcnow() - t).total_seconds()) < 600, h


def record(redis_url, pbx, cid):
    import redis
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    return r.hgetall(f"mtcti3:{pbx}:cmd:{cid}")


def succeeded(res, action):
    assert res["status"] == "succeeded", res
    assert res["code"] == 0 and res["code_name"] == "MTCTISESS_SUCCESS", res
    assert res["reason"] is None and res["action"] == action, res
    assert REQUESTID_BASE <= res["requestid"] < 2 ** 31, res
    assert isinstance(res["latency_ms"], int) and res["latency_ms"] >= 0


def rejected(res, code, action=None):
    assert res["status"] == "rejected", res
    assert res["reason_code"] == code, res
    assert res["reason"].startswith(code + ": "), res
    assert res["code"] is None and res["code_name"] is None and res["requestid"] is None, res
    if action is not None:
        assert res["action"] == action, res


@pytest.fixture(scope="module")
def env(tmp_path_factory, kafka, redis_server):
    """One simulator and one bridge (with a policy file) for the scenario tests."""
    work = tmp_path_factory.mktemp("cmd")
    sim = Sim(work / "sim", users=5, queues=2).start()
    policy = work / "policy.json"
    policy.write_text(json.dumps(POLICY))
    bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url=redis_server.url,
                    extra=[f"--commands_policy_file={policy}"]).start()
    events = Events(kafka.bootstrap, bridge.prefix)
    commands = Commands(kafka.bootstrap, bridge)
    model = sim.ctl("GET", "/model")
    yield sim, bridge, events, commands, model
    commands.close()
    events.close()
    bridge.stop()
    sim.stop()


def user_guid(model, extn):
    return next(u["guid"] for u in model["users"] if u["extn"] == extn)


def stats(sim):
    return sim.ctl("GET", "/stats")["server"]


# ---- every action family ----

def test_user_actions(env):
    sim, bridge, events, commands, model = env
    guid = user_guid(model, "2001")
    res = commands.run({"action": "set_dnd", "target": {"user": "2001"}, "args": {"on": True}})
    succeeded(res, "set_dnd")
    assert res["data"] is None
    assert sim.ctl("GET", "/model")["users"][0]["dnd"] is True
    events.wait(lambda evs: any(e.value["after"]["dnd"] is True for e in events.of("presence", key=guid, op="u")),
                20, "presence dnd true")
    # by GUID, and back off
    res = commands.run({"action": "set_dnd", "target": {"user": guid}, "args": {"on": False}})
    succeeded(res, "set_dnd")
    events.wait(lambda evs: events.of("presence", key=guid, op="u")[-1].value["after"]["dnd"] is False, 20)
    res = commands.run({"action": "set_forward_unconditional", "target": {"user": "2002"},
                        "args": {"on": True, "number": "2003"}})
    succeeded(res, "set_forward_unconditional")
    u2 = sim.model_user("2002")
    assert u2["fwdu"] is True and u2["fwdunumber"] == "2003"
    succeeded(commands.run({"action": "set_forward_unconditional", "target": {"user": "2002"},
                            "args": {"on": False}}), "set_forward_unconditional")
    assert sim.model_user("2002")["fwdu"] is False
    res = commands.run({"action": "set_absence", "target": {"user": "2002"}, "args": {"msg": 3, "text": "lunch"}})
    succeeded(res, "set_absence")
    u2 = sim.model_user("2002")
    assert u2["absence_set"] is True and u2["absence_str"] == "lunch"
    # the outcome is in Redis too, without arguments
    rec = record(bridge.redis_url, bridge.pbx_id, res["id"])
    assert rec["status"] == "succeeded" and rec["code"] == "0" and rec["action"] == "set_absence"
    assert rec["requestid"] == str(res["requestid"])
    assert "lunch" not in json.dumps(rec)


def test_make_call_and_call_actions(env):
    sim, bridge, events, commands, model = env
    res = commands.run({"action": "make_call", "target": {"user": "2001"}, "args": {"to": "2002"}})
    succeeded(res, "make_call")
    ref = res["data"]["referencecallid"]
    g1 = user_guid(model, "2001")
    created = events.wait(lambda evs: [e for e in events.of("calls", op="c")
                                       if e.value["source"]["line_guid"] == g1
                                       and e.value["after"]["referencecallid"] == ref], 20, "make_call's call")
    # the result waited for the call's first report: it names the call and its leg
    assert res["data"] == {"referencecallid": ref, "callid": created[0].value["after"]["callid"],
                           "leg": created[0].key} and ref != 0
    # the callee's ringing leg: answer, hold, unhold, drop it by command
    g2 = user_guid(model, "2002")
    ringing = events.wait(lambda evs: [e for e in events.of("calls", op="cu")
                                       if e.value["source"]["line_guid"] == g2
                                       and e.value["after"]["state"] == "RINGING"], 20, "2002 ringing")[-1]
    callid = ringing.value["after"]["callid"]
    # hold on a ringing call is not offered: unavailable, nothing sent
    before = stats(sim)["subscribecmds"]
    res = commands.run({"action": "hold", "target": {"user": "2002"}, "call": {"callid": callid}})
    rejected(res, "unavailable", "hold")
    assert "HOLD" in res["reason"]
    assert stats(sim)["subscribecmds"] == before
    res = commands.run({"action": "answer", "target": {"user": "2002"}, "call": {"callid": callid}})
    succeeded(res, "answer")

    def state_of(guid, cid, state):
        return lambda evs: [e for e in events.of("calls", op="u") if e.value["source"]["line_guid"] == guid
                            and e.value["after"]["callid"] == cid and e.value["after"]["state"] == state]
    events.wait(state_of(g2, callid, "CONNECTED"), 20, "answered")
    succeeded(commands.run({"action": "hold", "target": {"user": "2002"}, "call": {"callid": callid}}), "hold")
    events.wait(state_of(g2, callid, "ONHOLD"), 20, "held")
    succeeded(commands.run({"action": "unhold", "target": {"user": "2002"}, "call": {"callid": callid}}), "unhold")
    events.wait(lambda evs: len(state_of(g2, callid, "CONNECTED")(evs)) >= 2, 20, "unheld")
    # drop, addressing the caller's leg by its referencecallid
    succeeded(commands.run({"action": "drop", "target": {"user": "2001"}, "call": {"referencecallid": ref}}), "drop")
    entity = created[0].entity
    events.wait(lambda evs: events.of("calls", entity=entity, op="d"), 20, "call deleted")


def test_trunk_call_answered_and_dropped(env):
    sim, bridge, events, commands, model = env
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "2003"})["gcid"]
    g3 = user_guid(model, "2003")
    ev = events.wait(lambda evs: [e for e in events.of("calls", op="c", gcid=gcid)
                                  if e.value["source"]["line_guid"] == g3], 20, "trunk call ringing")[0]
    assert ev.value["after"]["state"] == "RINGING"
    callid = ev.value["after"]["callid"]
    succeeded(commands.run({"action": "answer", "target": {"user": "2003"}, "call": {"callid": callid}}), "answer")
    events.wait(lambda evs: [e for e in events.of("calls", op="u", gcid=gcid)
                             if e.value["after"]["state"] == "CONNECTED"], 20, "connected")
    succeeded(commands.run({"action": "drop", "target": {"user": "2003"}, "call": {"callid": callid}}), "drop")
    events.wait(lambda evs: events.of("calls", op="d", gcid=gcid), 20, "trunk call deleted")
    assert all(c["gcid"] != gcid for c in sim.ctl("GET", "/calls")["calls"])


def test_queue_actions(env):
    sim, bridge, events, commands, model = env
    q = model["queues"][0]
    res = commands.run({"action": "set_service_mode", "target": {"queue": q["name"]},
                        "args": {"mode": "night_service"}})
    succeeded(res, "set_service_mode")
    assert next(x for x in sim.ctl("GET", "/model")["queues"] if x["extn"] == q["extn"])["servicemode"] == 2
    events.wait(lambda evs: [e for e in events.of("queues", key=q["guid"], op="u")
                             if e.value["after"]["servicemode"] == "NS"], 20, "queue night service")
    succeeded(commands.run({"action": "set_service_mode", "target": {"queue": q["extn"]},
                            "args": {"mode": "active"}}), "set_service_mode")
    assert next(x for x in sim.ctl("GET", "/model")["queues"] if x["extn"] == q["extn"])["servicemode"] == 1
    succeeded(commands.run({"action": "add_member", "target": {"queue": q["guid"]},
                            "args": {"extn": "2004", "disabled": True}}), "add_member")
    members = next(x for x in sim.ctl("GET", "/model")["queues"] if x["extn"] == q["extn"])["members"]
    assert {"extn": "2004", "disabled": True} in members


def test_pbx_actions(env):
    sim, bridge, events, commands, model = env
    before = stats(sim)["generalcmds"]
    res = commands.run({"action": "get_version"})
    succeeded(res, "get_version")
    assert res["data"] == {"versioninfo": model["version"]}
    res = commands.run({"action": "get_file", "args": {"name": "nasystem/AccountCode"}})
    succeeded(res, "get_file")
    gf = res["data"]["getfile"]
    assert gf["fname"] == "nasystem/AccountCode"
    assert base64.b64decode(gf["payload"]).decode().split() == model["accountcodes"]
    res = commands.run({"action": "get_file", "args": {"name": "nasystem/Nothing"}})
    assert res["status"] == "failed" and res["code"] == 4, res
    assert res["code_name"] == "MTCTISESS_NOTFOUND", res
    assert res["data"]["getfile"]["fname"] == "nasystem/Nothing"
    assert stats(sim)["generalcmds"] == before + 3


def test_snapshot(env):
    sim, bridge, events, commands, model = env
    events.poll(1)
    seen = len(events.all)
    res = commands.run({"action": "snapshot", "args": {"topics": ["queues"]}})
    assert res["status"] == "succeeded" and res["code"] is None and res["requestid"] is None, res
    assert res["data"] == {"events": len(model["queues"])}
    new = events.wait(lambda evs: [e for e in evs[seen:] if e.topic == "queues" and e.value["op"] == "r"]
                      if len([e for e in evs[seen:] if e.topic == "queues"]) >= len(model["queues"]) else None, 20)
    assert {e.key for e in new} == {q["guid"] for q in model["queues"]}
    assert all(e.value["before"] is None and e.value["source"]["snapshot"] == "true" for e in new)
    # one line: its line entity, its presence; seq grows, no other topic
    seen = len(events.all)
    res = commands.run({"action": "snapshot", "target": {"user": "2004"}, "args": {"topics": ["presence", "lines"]}})
    assert res["status"] == "succeeded" and res["data"] == {"events": 2}, res
    g4 = user_guid(model, "2004")
    new = events.wait(lambda evs: [e for e in evs[seen:] if not e.tombstone and e.topic in ("presence", "lines")]
                      if len([e for e in evs[seen:] if e.topic in ("presence", "lines")]) >= 2 else None, 20)
    assert sorted(e.topic for e in new) == ["lines", "presence"] and all(e.key == g4 for e in new)
    prev = [e for e in events.all[:seen] if e.topic == "presence" and e.key == g4]
    assert [e for e in new if e.topic == "presence"][0].value["seq"] == prev[-1].value["seq"] + 1


# ---- rejections ----

def test_rejections(env):
    sim, bridge, events, commands, model = env
    before = stats(sim)
    # bad JSON: no id, so the result is keyed by the message key
    commands.send(b"{not json", key="raw-1")
    res = commands.wait("raw-1")
    assert res["id"] is None
    rejected(res, "bad_json")
    commands.send(b'{"id": "bad id!", "action": "get_version"}', key="raw-2")
    rejected(commands.wait("raw-2"), "bad_id")
    commands.send(b"x" * 70000, key="raw-3")
    rejected(commands.wait("raw-3"), "too_big")
    rejected(commands.run({"action": "dorp", "target": {"user": "2001"}}), "unknown_action")
    res = commands.run({"action": "park", "target": {"user": "2001"}, "call": {"callid": 1}, "args": {"slot": "A1"}})
    rejected(res, "bad_args", "park")
    assert "args.slot" in res["reason"]
    res = commands.run({"action": "set_dnd", "target": {"user": "2005"}, "args": {"on": True}})
    rejected(res, "denied", "set_dnd")
    res = commands.run({"action": DENY_POLICY_ACTION, "target": {"user": "2001"}, "call": {"callid": 1}})
    rejected(res, "denied", DENY_POLICY_ACTION)
    res = commands.run({"action": "set_dnd", "target": {"user": "2999"}, "args": {"on": True}})
    rejected(res, "denied", "set_dnd")  # outside the policy's users as written
    res = commands.run({"action": "set_service_mode", "target": {"queue": "NoSuchQueue"},
                        "args": {"mode": "active"}})
    rejected(res, "no_target", "set_service_mode")
    assert res["reason"] == 'no_target: no queue "NoSuchQueue" on this PBX'
    res = commands.run({"action": "drop", "target": {"user": "2001"}, "call": {"callid": 987654}})
    rejected(res, "no_call", "drop")
    assert res["reason"] == "no_call: no call with callid 987654 on user 2001"
    res = commands.run({"action": "get_version", "pbx": "some-other-pbx"})
    rejected(res, "wrong_pbx", "get_version")
    res = commands.run({"action": "get_version", "timeout_ms": 5})
    rejected(res, "bad_timeout", "get_version")
    # nothing of it reached the PBX
    after = stats(sim)
    assert after["subscribecmds"] == before["subscribecmds"] and after["generalcmds"] == before["generalcmds"]
    # a rejection is recorded and repeats as a duplicate
    res = commands.run({"id": "rej-dup", "action": "set_dnd", "target": {"user": "2005"}, "args": {"on": True}})
    rejected(res, "denied")
    commands.send({"id": "rej-dup", "action": "set_dnd", "target": {"user": "2005"}, "args": {"on": True}})
    dup = commands.wait("rej-dup", n=2)
    assert dup["status"] == "duplicate" and dup["original_status"] == "rejected" and dup["reason_code"] == "denied"


def test_secrets_stay_out(env):
    sim, bridge, events, commands, model = env
    res = commands.run({"action": "login_extn", "target": {"user": "2003"},
                        "args": {"extn": "2003", "password": "s3cr3t-pw"}})
    assert res["status"] in ("succeeded", "failed"), res
    assert "s3cr3t-pw" not in json.dumps(res)
    assert "s3cr3t-pw" not in json.dumps(record(bridge.redis_url, bridge.pbx_id, res["id"]))
    assert b"s3cr3t-pw" not in bridge.log_path.read_bytes()


# ---- duplicates and timeouts ----

def test_duplicate_executes_once(env):
    sim, bridge, events, commands, model = env
    before = stats(sim)["subscribecmds"]
    cmd = {"id": "dup-" + uuid.uuid4().hex[:8], "action": "make_call", "target": {"user": "2004"},
           "args": {"to": "2003"}}
    first = commands.run(dict(cmd))
    succeeded(first, "make_call")
    commands.send(dict(cmd))
    second = commands.wait(cmd["id"], n=2)
    assert second["status"] == "duplicate" and second["original_status"] == "succeeded", second
    assert second["requestid"] == first["requestid"] and second["code"] == 0
    assert second["code_name"] == "MTCTISESS_SUCCESS" and second["data"] == first["data"]
    time.sleep(1)
    assert stats(sim)["subscribecmds"] == before + 1
    assert len([c for c in sim.ctl("GET", "/calls")["calls"]
                if any(leg.get("line") == "2004" or leg.get("extn") == "2004" for leg in c.get("legs", []))]) <= 1
    rec = record(bridge.redis_url, bridge.pbx_id, cmd["id"])
    assert rec["status"] == "succeeded" and rec["requestid"] == str(first["requestid"])
    sim.ctl("POST", "/calls/clear")


def test_timeout_when_pbx_does_not_answer(env):
    sim, bridge, events, commands, model = env
    sim.ctl("POST", "/requests/pause", {"on": True})
    try:
        t0 = time.monotonic()
        res = commands.run({"action": "get_version", "timeout_ms": 1500})
        took = time.monotonic() - t0
        assert res["status"] == "timeout", res
        assert res["code"] is None and res["reason"].startswith("no answer from the PBX by the deadline"), res
        assert REQUESTID_BASE <= res["requestid"]
        assert 1.4 <= took < 6, took
        assert record(bridge.redis_url, bridge.pbx_id, res["id"])["status"] == "timeout"
    finally:
        sim.ctl("POST", "/requests/pause", {"on": False})
    succeeded(commands.run({"action": "get_version"}), "get_version")
    m = bridge.metrics()
    assert m['mtcti3_bridge_commands_total{status="timeout"}'] >= 1
    assert m['mtcti3_bridge_commands_total{status="succeeded"}'] >= 1
    assert m["mtcti3_bridge_command_round_trip_seconds_count"] >= 2
    assert m["mtcti3_bridge_commands_inflight"] == 0 and m["mtcti3_bridge_commands_paused"] == 0


class Dropper:
    """Keeps the PBX away from the bridge: POST /connections/drop every 50 ms
    on a thread, so the bridge reconnects but never gets through a resync."""

    def __init__(self, sim):
        self.sim = sim
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.sim.ctl("POST", "/connections/drop")
            except Exception:  # noqa: BLE001 - a control call racing the drop: try again
                pass
            self.stop_flag.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)

    def __exit__(self, *exc):
        self.stop()


def test_pbx_disconnected_commands_wait_then_time_out_or_run(env):
    """With the PBX disconnected, commands wait: at their deadline they time
    out, never sent (no requestid, nothing reached the PBX); if the PBX comes
    back before the deadline they run, once."""
    sim, bridge, events, commands, model = env
    before = stats(sim)
    dnd_before = sim.model_user("2003")["dnd"]
    with Dropper(sim) as dropper:
        wait_for(lambda: bridge.http("/readyz")[0] != 200, 10, 0.05, "bridge not ready (PBX dropped)")
        t0 = time.monotonic()
        gv = {"id": "down-gv-" + uuid.uuid4().hex[:8], "action": "get_version", "timeout_ms": 2000}
        dnd = {"id": "down-dnd-" + uuid.uuid4().hex[:8], "action": "set_dnd", "target": {"user": "2003"},
               "args": {"on": not dnd_before}, "timeout_ms": 2000}
        commands.send(gv)
        commands.send(dnd)
        for cmd in (gv, dnd):
            res = commands.wait(cmd["id"], timeout=15)
            took = time.monotonic() - t0
            assert res["status"] == "timeout", res
            assert res["action"] == cmd["action"] and res["code"] is None and res["code_name"] is None, res
            assert res["requestid"] is None, res
            assert res["reason"] == "not sent: the PBX was not ready by the deadline (2000 ms)", res
            assert 1.9 <= took < 8, took
            rec = record(bridge.redis_url, bridge.pbx_id, cmd["id"])
            assert rec["status"] == "timeout", rec
        # a command that outlives the outage: sent once the bridge has resynced
        late = {"id": "down-late-" + uuid.uuid4().hex[:8], "action": "get_version", "timeout_ms": 20000}
        commands.send(late)
        time.sleep(1.5)
        commands.poll()
        assert commands.of(late["id"]) == [], commands.of(late["id"])
        dropper.stop()
        t_back = time.monotonic()
        res = commands.wait(late["id"], timeout=25)
    succeeded(res, "get_version")
    assert res["latency_ms"] >= 1500, res
    assert time.monotonic() - t_back < 19, "ran well before its deadline"
    assert "versioninfo" in res["data"], res
    bridge.wait_ready()
    time.sleep(0.5)
    commands.poll()
    # exactly one result each, nothing sent to the PBX but the late command
    assert [len(commands.of(c["id"])) for c in (gv, dnd, late)] == [1, 1, 1]
    after = stats(sim)
    assert after["generalcmds"] == before["generalcmds"] + 1, (before, after)
    assert after["subscribecmds"] == before["subscribecmds"], (before, after)
    assert record(bridge.redis_url, bridge.pbx_id, late["id"])["status"] == "succeeded"
    assert sim.model_user("2003")["dnd"] == dnd_before
    m = bridge.metrics()
    assert m["mtcti3_bridge_commands_inflight"] == 0


# ---- the CLI ----

def test_cli_command(env, kafka):
    sim, bridge, events, commands, model = env
    out = subprocess.run([str(binary("mtcti3")), "command", "--bootstrap", kafka.bootstrap,
                          "--prefix", bridge.prefix, "--pbx", bridge.pbx_id, "--action", "set_dnd",
                          "--user", "2003", "--arg", "on=true", "--id", "cli-dnd-1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    succeeded(res, "set_dnd")
    assert res["id"] == "cli-dnd-1"
    assert sim.model_user("2003")["dnd"] is True
    out = subprocess.run([str(binary("mtcti3")), "command", "--bootstrap", kafka.bootstrap,
                          "--prefix", bridge.prefix, "--redis", bridge.redis_url, "--pbx", bridge.pbx_id, "-"],
                         input=json.dumps({"id": "cli-dnd-2", "action": "set_dnd", "target": {"user": "2999"},
                                           "args": {"on": False}}),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    res = json.loads(out.stdout)
    assert res["status"] == "rejected" and res["reason_code"] == "denied"


# ---- nothing lost, nothing twice ----

def stream(commands, n, tag, gap=0.05, timeout_ms=4000):
    ids = []
    for i in range(n):
        cid = f"{tag}-{i:03d}"
        commands.send({"id": cid, "action": "get_version", "timeout_ms": timeout_ms})
        ids.append(cid)
        time.sleep(gap)
    return ids


def final_outcomes(commands, ids, timeout=60):
    def all_final():
        commands.poll()
        return all(any(r["status"] in FINAL or r["status"] == "duplicate" for r in commands.of(i)) for i in ids)
    wait_for(all_final, timeout, 0.2, "every command's result")
    return {i: [r for r in commands.of(i) if r["status"] in FINAL] for i in ids}


def test_redis_restarted_mid_stream(tmp_path, kafka):
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    sim = Sim(tmp_path / "sim", users=3, queues=1).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap, redis_url=redis.url).start()
    commands = Commands(kafka.bootstrap, bridge)
    try:
        before = stats(sim)["generalcmds"]
        ids = stream(commands, 15, "rr-a")
        redis.stop()
        # read while Redis is down: held, the topic paused (a deadline long
        # enough for Redis's restart on a loaded machine: this is about nothing
        # lost and nothing twice, not deadlines)
        ids += stream(commands, 15, "rr-b", timeout_ms=20000)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_commands_paused"] == 1, 10, what="paused")
        time.sleep(1)
        redis.start()
        ids += stream(commands, 10, "rr-c")
        outcomes = final_outcomes(commands, ids)
        for cid, rs in outcomes.items():
            assert [r["status"] for r in rs] == ["succeeded"], (cid, rs)
            assert commands.of(cid) == rs, (cid, commands.of(cid))  # one result each, no duplicate
        rids = [rs[0]["requestid"] for rs in outcomes.values()]
        assert len(set(rids)) == len(rids)
        time.sleep(0.5)
        assert stats(sim)["generalcmds"] == before + len(ids)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_commands_paused"] == 0, 10)
        for cid in ids:
            assert record(redis.url, bridge.pbx_id, cid)["status"] == "succeeded"
    finally:
        commands.close()
        bridge.stop()
        sim.stop()
        redis.stop()


def test_bridge_killed_mid_stream(tmp_path, kafka, redis_server):
    sim = Sim(tmp_path / "sim", users=3, queues=1).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap, redis_url=redis_server.url).start()
    commands = Commands(kafka.bootstrap, bridge)
    try:
        before = stats(sim)["generalcmds"]
        ids = stream(commands, 20, "kill-a", gap=0.02, timeout_ms=3000)
        bridge.kill()
        ids += stream(commands, 10, "kill-b", gap=0.02, timeout_ms=3000)  # produced while it is down
        bridge.start()
        ids += stream(commands, 10, "kill-c", gap=0.02, timeout_ms=3000)
        final_outcomes(commands, ids, 90)
        executed = stats(sim)["generalcmds"] - before
        statuses = {}
        for cid in ids:
            # one outcome each, in Redis; on Kafka as a result, or (when the
            # bridge died between recording it and Kafka confirming the
            # result) as the duplicate that echoes it when the command is re-read
            rec = record(redis_server.url, bridge.pbx_id, cid)
            assert rec["status"] in FINAL, (cid, rec)
            statuses.setdefault(rec["status"], []).append(cid)
            results = commands.of(cid)
            assert results, cid
            for r in results:
                if r["status"] == "duplicate":
                    assert r["original_status"] == rec["status"], (cid, r, rec)
                else:
                    assert r["status"] == rec["status"], (cid, r, rec)
        assert set(statuses) <= {"succeeded", "timeout"}, statuses
        # every command produced after the crash ran; none ran twice
        assert all(c in statuses.get("succeeded", []) for c in ids if not c.startswith("kill-a")), statuses
        assert len(statuses.get("succeeded", [])) <= executed <= len(ids), (executed, statuses)
        assert len(statuses.get("succeeded", [])) + len(statuses.get("timeout", [])) == len(ids)
    finally:
        commands.close()
        bridge.stop()
        sim.stop()


# ---- Redis stopped, Redis with an ACL user ----

def test_redis_stopped_events_flow_commands_resume(tmp_path, kafka):
    """SIGSTOP of redis-server: the loop never waits on it.  Notifies are
    still acknowledged and their events produced, /metrics answers at once,
    /readyz says Redis is unreachable, the command topic is paused and the
    commands read meanwhile run once Redis answers again (SIGCONT)."""
    redis = RedisServer(tmp_path / "redis").start()
    sim = Sim(tmp_path / "sim", users=4, queues=1, calls_per_second=4).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap, redis_url=redis.url,
                    extra=["--redis_timeout_ms=500"]).start()
    commands = Commands(kafka.bootstrap, bridge)
    events = Events(kafka.bootstrap, bridge.prefix)
    stopped = False
    try:
        succeeded(commands.run({"action": "get_version"}), "get_version")
        before = stats(sim)["generalcmds"]
        m0 = bridge.metrics()
        events.poll(1)
        seen = len(events.all)
        os.kill(redis.pid, signal.SIGSTOP)
        stopped = True
        ids = [f"stop-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
        for cid in ids:
            commands.send({"id": cid, "action": "get_version", "timeout_ms": 30000})
        t_end = time.monotonic() + 5
        slowest = 0.0
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            m = bridge.metrics()
            slowest = max(slowest, time.monotonic() - t0)
            time.sleep(0.2)
        assert slowest < 1.0, slowest
        m1 = bridge.metrics()
        assert m1["mtcti3_bridge_notify_acks_sent_total"] > m0["mtcti3_bridge_notify_acks_sent_total"], (m0, m1)
        assert m1["mtcti3_bridge_notifies_received_total"] > m0["mtcti3_bridge_notifies_received_total"]
        assert m1["mtcti3_bridge_redis_connected"] == 0 and m1["mtcti3_bridge_commands_paused"] == 1, m1
        code, body = bridge.http("/readyz")
        assert code == 503 and "Redis unreachable (127.0.0.1:" in body, (code, body)
        events.poll(1)
        assert len(events.all) > seen  # calls still go to Kafka
        commands.poll()
        assert all(commands.of(cid) == [] for cid in ids)
        assert stats(sim)["generalcmds"] == before
        os.kill(redis.pid, signal.SIGCONT)
        stopped = False
        for cid in ids:
            succeeded(commands.wait(cid, timeout=30), "get_version")
        time.sleep(0.5)
        commands.poll()
        assert [len(commands.of(cid)) for cid in ids] == [1, 1, 1]
        assert stats(sim)["generalcmds"] == before + 3
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_commands_paused"] == 0, 10, what="resumed")
        bridge.wait_ready()
        assert bridge.metrics()["mtcti3_bridge_redis_connected"] == 1
    finally:
        if stopped:
            os.kill(redis.pid, signal.SIGCONT)
        events.close()
        commands.close()
        bridge.stop()
        sim.stop()
        redis.stop()


def test_redis_acl_user(tmp_path, kafka):
    """redis_url names an ACL user, its password comes from a file: the
    bridge authenticates as that user (AUTH user password) and runs commands."""
    redis = RedisServer(tmp_path / "redis").start()
    import redis as redislib
    admin = redislib.Redis(host="127.0.0.1", port=redis.port)
    admin.execute_command("ACL", "SETUSER", "bridge", "on", ">br1dge-pw", "~mtcti3:*", "&mtcti3:*", "+@all")
    admin.execute_command("CONFIG", "SET", "requirepass", "admin-pw")  # no one else gets in
    admin = redislib.Redis(host="127.0.0.1", port=redis.port, password="admin-pw")
    pw = tmp_path / "redis-pw"
    pw.write_text("br1dge-pw\n")
    sim = Sim(tmp_path / "sim", users=2, queues=1).start()
    bridge = Bridge(tmp_path / "bridge", sim, kafka.bootstrap,
                    redis_url=f"redis://bridge@127.0.0.1:{redis.port}/2",
                    env={"MTCTI3_REDIS_PASSWORD_FILE": str(pw)}).start()
    commands = Commands(kafka.bootstrap, bridge)
    try:
        res = commands.run({"action": "get_version"})
        succeeded(res, "get_version")
        admin.execute_command("SELECT", "2")
        assert admin.hget(f"mtcti3:{bridge.pbx_id}:cmd:{res['id']}", "status") == b"succeeded"
        clients = admin.execute_command("CLIENT", "LIST").decode()
        assert " user=bridge " in clients
        assert b"br1dge-pw" not in bridge.log_path.read_bytes()
    finally:
        commands.close()
        bridge.stop()
        sim.stop()
        redis.stop()
