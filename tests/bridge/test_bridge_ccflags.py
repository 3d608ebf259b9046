"""Call detail by ccflags (issue 13): every bit the simulator renders, on
and off, through the bridge.  Two bridges watch one simulator: one asks for
every bit on users, queues and the park server, the other for PRIMARY only.
The same calls (a trunk call with a DID, a UCID, P-Intrinsics and notes to a
twinned user; an outbound call; a conference; a queue call with ringing
targets, answered and conferenced; a parked call) are checked field by
field: the exact values with the bit, the default (null, []) without it,
and every other field the same in both.
"""
import pytest

from bridgelib import Bridge, Events, Sim, check_sequences, validate_all
from test_bridge_commands import Commands

ALL = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100 | 0x2000 | 0x4000 | 0x8000 | 0x40000
DETAIL = {"remoteinfo": None, "localinfo": [], "conferencemember": [], "queueinfo": None, "trunkinfo": None,
          "dialinfo": None, "calldata": None, "notes": None, "ucid": None, "pintrinsics": None, "targets": None}
CALLDATA = {"language": "eng", "emergency": False, "privacy": False, "secure": False, "rprivacy": False}


def flags(bits):
    return [f"--user_ccflags={bits:#x}", f"--queue_ccflags={bits:#x}", f"--parkserver_ccflags={bits:#x}"]


class View:
    """One bridge's calls topic."""

    def __init__(self, events):
        self.events = events

    def legs(self, extn=None, line_kind="user"):
        last = {}
        for e in self.events.of("calls"):
            s = e.value["source"]
            if s["line_kind"] == line_kind and (extn is None or s["line_extn"] == extn):
                last[e.key] = e.value
        return [v["after"] for v in last.values() if v["op"] != "d"]

    def leg(self, extn=None, line_kind="user", **want):
        def find(evs):
            hits = [a for a in self.legs(extn, line_kind)
                    if all(w(a.get(k)) if callable(w) else a.get(k) == w for k, w in want.items())]
            return hits[-1] if hits else None
        return self.events.wait(find, 20, f"leg {extn or line_kind} {want}")


@pytest.fixture(scope="module")
def pair(tmp_path_factory, kafka, redis_server):
    work = tmp_path_factory.mktemp("ccflags")
    sim = Sim(work / "sim", users=6, queues=2, extra=["--ring-ms", "300"]).start()
    sim.ctl("PATCH", "/users/2004", {"ec500": True, "mobile": "07700900123"})
    full = Bridge(work / "all", sim, kafka.bootstrap, redis_url=redis_server.url, extra=flags(ALL)).start()
    base = Bridge(work / "base", sim, kafka.bootstrap, extra=flags(0x1)).start()
    ef, eb = Events(kafka.bootstrap, full.prefix), Events(kafka.bootstrap, base.prefix)
    commands = Commands(kafka.bootstrap, full)
    yield sim, View(ef), View(eb), commands
    for e in (ef, eb):
        e.poll(1)
        validate_all(e.all)
        check_sequences(e.all)
    commands.close()
    ef.close()
    eb.close()
    full.stop()
    base.stop()
    sim.stop()


def same_but_detail(a, b):
    """Every field but the ccflags detail (and the leg's key, each bridge's own) is the same."""
    strip = lambda x: {k: v for k, v in x.items() if k not in DETAIL and k != "leg"}  # noqa: E731
    assert strip(a) == strip(b), (a, b)
    assert {k: b[k] for k in DETAIL} == DETAIL, b


def test_trunk_call_to_a_twinned_user(pair):
    sim, full, base, _ = pair
    name = sim.model_user("2004")["name"]
    g = sim.ctl("POST", "/trunk/call", {"to": "2004", "from": "0123", "name": "Ann", "did": "01707120000",
                                        "trunktype": 2, "ucid": "00015a5a0000beef",
                                        "pintrinsics": "cpc=normal"})["gcid"]
    sim.ctl("POST", "/calls/notes", {"gcid": g, "notes": "VIP"})
    a = full.leg("2004", gcid=g, state="RINGING", notes={"notes": "VIP"})
    b = base.leg("2004", gcid=g, state="RINGING")
    same_but_detail(a, b)
    assert a["remoteinfo"] == {"gcid": g, "deviceclass": 2, "devicetype": 2, "deviceinstance": 1, "teleworker": ""}
    assert a["localinfo"] == [{"gcid": g, "deviceclass": 1, "devicetype": 1, "deviceinstance": 2004, "teleworker": ""},
                              {"gcid": g, "deviceclass": 2, "devicetype": 4, "deviceinstance": 1, "teleworker": ""}]
    assert a["targets"] == {"target": [{"partyinfo": {"numbertype": 0, "number": "07700900123", "subaddr": "",
                                                      "name": f"{name} mobile", "nametype": 9, "withheld": False,
                                                      "diversionreason": 0}}]}
    assert a["trunkinfo"] == {"trunktype": "TrunkISDN", "did": "01707120000"}
    assert a["callingparty"]["number"] == "0123" and a["callingparty"]["name"] == "Ann"
    assert a["ucid"] == {"ucid": "00015a5a0000beef"}
    assert a["pintrinsics"] == {"pintrinsics": b"cpc=normal".hex()}
    assert a["notes"] == {"notes": "VIP"}
    assert a["calldata"] == CALLDATA
    assert (a["queueinfo"], a["conferencemember"]) == (None, [])
    sim.ctl("POST", "/phone/2004/answer", {})
    a = full.leg("2004", gcid=g, state="CONNECTED")
    b = base.leg("2004", gcid=g, state="CONNECTED")
    same_but_detail(a, b)
    assert a["targets"] is None  # simultaneous targets while it rings only


def test_outbound_call_and_conference(pair):
    sim, full, base, commands = pair
    r = sim.ctl("POST", "/phone/2001/offhook", {"dial": "2006"})
    a = full.leg("2001", gcid=r["gcid"], state="RINGBACK")
    b = base.leg("2001", gcid=r["gcid"], state="RINGBACK")
    same_but_detail(a, b)
    assert a["dialinfo"] == {"number": "2006", "calltype": 0, "withholdcli": False, "hidenumber": False,
                             "complete": True, "madn": "", "subaddr": "", "allowcli": False, "explicitcli": ""}
    assert a["remoteinfo"] == {"gcid": r["gcid"], "deviceclass": 1, "devicetype": 1, "deviceinstance": 2006,
                               "teleworker": ""}
    assert a["trunkinfo"] is None and len(a["ucid"]["ucid"]) == 16 and a["ucid"]["ucid"].startswith("0001")
    sim.ctl("POST", "/phone/2006/answer", {})
    # the trunk call at 2004 becomes a conference with 2005 (commands through the first bridge)
    c = full.leg("2004", state="CONNECTED")
    res = commands.run({"action": "setup_conf", "target": {"user": "2004"}, "call": {"callid": c["callid"]},
                        "args": {"to": "2005"}})
    assert res["status"] == "succeeded", res
    full.leg("2005", state="RINGING")
    sim.ctl("POST", "/phone/2005/answer", {})
    full.leg("2005", state="CONNECTED", gcid=lambda x: x != c["gcid"])
    res = commands.run({"action": "complete_conf", "target": {"user": "2004"}, "call": {"callid": c["callid"]}})
    assert res["status"] == "succeeded", res
    a = full.leg("2004", callid=c["callid"], conferencemember=lambda m: len(m) == 2)
    b = base.leg("2004", callid=c["callid"], state="CONNECTED")
    same_but_detail(a, b)
    got = sorted((m["connectedparty"]["number"], m["state"], m["direction"], m["mute"]) for m in a["conferencemember"])
    assert got == [("0123", "CONNECTED", "OUTBOUND", False), ("2005", "CONNECTED", "INBOUND", False)], got
    assert all(set(m) == {"lref", "state", "direction", "activeheld", "calledparty", "connectedparty", "mute",
                          "failedcause"} for m in a["conferencemember"])
    sim.ctl("POST", "/calls/clear")


def test_queue_call(pair):
    sim, full, base, commands = pair
    queue = next(q for q in sim.model()["queues"] if q["extn"] == "5001")
    g = sim.ctl("POST", "/trunk/call", {"to": "5001", "from": "0444", "did": "01707120001"})["gcid"]
    a = full.leg("5001", "queue", gcid=g, state="RINGING", targets=lambda t: t and t["target"])
    ringing = sorted(leg["number"] for c in sim.ctl("GET", "/calls")["calls"] if c["gcid"] == g
                     for leg in c["legs"] if leg["role"] == "called" and leg["state"] == "RINGING")
    b = base.leg("5001", "queue", gcid=g, state="RINGING")
    same_but_detail(a, b)
    assert sorted(t["partyinfo"]["number"] for t in a["targets"]["target"]) == ringing and ringing
    assert a["queueinfo"] == {"number": "5001", "name": queue["name"], "priority": 1, "overflow_number": "",
                              "overflow_name": ""}
    assert a["trunkinfo"] == {"trunktype": "TrunkSIP", "did": "01707120001"}
    assert a["remoteinfo"]["deviceclass"] == 2 and a["localinfo"] == []  # a queue has no device
    # answered, then conferenced: the queue line's members (CONFMEMBERS)
    agent = ringing[0]
    sim.ctl("POST", f"/phone/{agent}/answer", {})
    c = full.leg(agent, gcid=g, state="CONNECTED")
    other = next(u["extn"] for u in sim.model()["users"] if u["extn"] not in ringing and u["extn"] != "2004")
    assert commands.run({"action": "setup_conf", "target": {"user": agent}, "call": {"callid": c["callid"]},
                         "args": {"to": other}})["status"] == "succeeded"
    full.leg(other, state="RINGING")
    sim.ctl("POST", f"/phone/{other}/answer", {})
    full.leg(other, state="CONNECTED")
    assert commands.run({"action": "complete_conf", "target": {"user": agent},
                         "call": {"callid": c["callid"]}})["status"] == "succeeded"
    a = full.leg("5001", "queue", gcid=g, conferencemember=lambda m: len(m) == 3)
    assert sorted(m["connectedparty"]["number"] for m in a["conferencemember"]) == sorted(["0444", agent, other])
    b = base.leg("5001", "queue", gcid=g, state=a["state"])
    same_but_detail(a, b)
    sim.ctl("POST", "/calls/clear")


def test_parked_call(pair):
    sim, full, base, _ = pair
    r = sim.ctl("POST", "/phone/2002/offhook", {"dial": "2003"})
    full.leg("2003", gcid=r["gcid"], state="RINGING")
    sim.ctl("POST", "/phone/2003/answer", {})
    full.leg("2003", gcid=r["gcid"], state="CONNECTED")
    sim.ctl("POST", "/phone/2003/park", {"slot": "1"})
    a = full.leg(line_kind="parkserver", gcid=r["gcid"], parkslot="1")
    b = base.leg(line_kind="parkserver", gcid=r["gcid"], parkslot="1")
    same_but_detail(a, b)
    assert a["remoteinfo"] == {"gcid": r["gcid"], "deviceclass": 1, "devicetype": 1, "deviceinstance": 2002,
                               "teleworker": ""}
    assert a["localinfo"] == [] and a["calldata"] == CALLDATA and a["ucid"]["ucid"].startswith("0001")
    sim.ctl("POST", "/calls/clear")
