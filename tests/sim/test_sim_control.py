"""The control API and the model: generated deterministically or loaded
from JSON; people at phones and callers on trunks."""
import json

from simlib import guid_bytes, run


def test_generated_model_is_deterministic(sim_factory):
    a = sim_factory("--users", "5", "--queues", "2", "--seed", "7").model()
    b = sim_factory("--users", "5", "--queues", "2", "--seed", "7").model()
    c = sim_factory("--users", "5", "--queues", "2", "--seed", "8").model()
    assert a == b
    assert [u["guid"] for u in a["users"]] != [u["guid"] for u in c["users"]]
    assert len(a["users"]) == 5 and len(a["queues"]) == 2
    assert a["users"][0]["extn"] == "2001" and a["queues"][0]["extn"] == "5001"
    assert a["parkslots"] and a["accountcodes"] and a["authcodes"] and a["version"]
    assert all(len(guid_bytes(u["guid"])) == 16 for u in a["users"])


def test_model_file_round_trip(sim_factory, pb, tmp_path):
    model = {
        "version": "IP Office 11.1.0.0 build 600",
        "users": [{"extn": "100", "name": "Alice", "guid": "dc51ba00-08a3-11dd-8053-0050569f6ef8",
                   "dnd": True, "mb_new": 1},
                  {"extn": "101", "name": "Bob", "loggedinextn": ""}],
        "queues": [{"extn": "300", "name": "Agents", "ringmode": 1,
                    "members": [{"extn": "100"}, {"extn": "101", "disabled": True}]}],
        "accountcodes": ["42"], "authcodes": ["77"], "parkslots": ["1"], "trunks": ["555"],
        "presentities": [{"id": "sip:carol@partner.example", "dnd": True, "app": "Away"}],
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    s = sim_factory("--model", str(path))
    got = s.model()
    assert got["version"] == model["version"]
    alice = got["users"][0]
    assert alice["guid"] == "dc51ba00-08a3-11dd-8053-0050569f6ef8" and alice["dnd"]
    assert got["users"][1]["loggedinextn"] == ""
    assert got["queues"][0]["members"][1] == {"extn": "101", "disabled": True}
    assert got["presentities"] == [{"id": "sip:carol@partner.example", "dnd": True, "phonestate": 0,
                                    "absence_set": False, "absence_msg": 0, "absence_str": "",
                                    "app": "Away", "fwdu": False, "mb_new": 0, "noapphandler": True}]

    async def body():
        c = await s.client(pb)
        await c.generalcmd(requestid=1, getversioninfo=True)
        assert (await c.wait_kind("generaldata")).versioninfo == model["version"]
        await c.subscribe(requestid=2, subscribe_id=2,
                          user={"guid": bytes.fromhex("DC51BA0008A311DD80530050569F6EF8")})
        n = await c.wait_notify(2, "user")
        assert n.user.name == "Alice" and n.user.dnd
        await c.close()
    run(body())
    # A second simulator loads what the first one dumped.
    path2 = tmp_path / "dump.json"
    dumped = dict(got)
    dumped.pop("calls")
    path2.write_text(json.dumps(dumped))
    assert {k: v for k, v in sim_factory("--model", str(path2)).model().items() if k != "calls"} == dumped


def test_bad_model_file_is_refused(tmp_path):
    import subprocess
    from simlib import binary
    path = tmp_path / "bad.json"
    path.write_text('{"users":[{"extn":"1","bogus":1}]}')
    out = subprocess.run([str(binary("ipo-sim")), "--model", str(path)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode != 0 and "bogus" in out.stderr


def test_control_errors(sim):
    def refused(method, path, body=None):
        """The status of a refused request, whose answer is {"error": <text>}."""
        status, out = sim.ctl(method, path, body)
        assert list(out) == ["error"] and out["error"], (method, path, out)
        return status
    assert refused("GET", "/nope") == 404
    assert refused("DELETE", "/model") == 405
    assert refused("PATCH", "/users/9999", {"name": "x"}) == 404
    assert refused("PATCH", "/users/2001", {"nosuchfield": 1}) == 400
    assert refused("PATCH", "/users/2001", {"extn": "2002"}) == 400       # taken
    assert refused("POST", "/users", {"extn": "2001"}) == 400             # taken
    assert refused("POST", "/trunk/call", {"to": "8888"}) == 404
    assert refused("POST", "/trunk/call", {}) == 400
    assert refused("POST", "/phone/2001/answer", {}) == 404               # nothing ringing
    assert refused("POST", "/subscriptions/5/terminate", {}) == 404
    # None of them changed anything.
    assert sim.user("2001")["name"] != "x" and "nosuchfield" not in sim.user("2001")
    assert sim.ctl("GET", "/calls")[1]["calls"] == []
    st, out = sim.ctl("GET", "/stats")
    assert st == 200 and out["users"] == 20 and out["server"]["connections"] == 0


def test_phone_and_trunk_operations(sim, pb):
    st = pb.CallInfo
    _, out = sim.ctl("POST", "/phone/2001/offhook", {"dial": "2002"}, expect=200)
    gcid = out["gcid"]
    calls = sim.ctl("GET", "/calls")[1]["calls"]
    assert [(l["number"], l["state"]) for l in calls[0]["legs"]] == [("2001", "RINGBACK"),
                                                                     ("2002", "RINGING")]
    sim.ctl("POST", "/phone/2002/answer", {}, expect=200)
    sim.ctl("POST", "/phone/2002/hold", {}, expect=200)
    sim.ctl("POST", "/phone/2002/unhold", {}, expect=200)
    sim.ctl("POST", "/phone/2002/transfer", {"to": "2003"}, expect=200)
    legs = sim.ctl("GET", "/calls")[1]["calls"][0]["legs"]
    assert calls[0]["gcid"] == gcid
    assert ("2003", "RINGING") in [(l["number"], l["state"]) for l in legs]
    sim.ctl("POST", "/phone/2003/answer", {}, expect=200)
    sim.ctl("POST", "/phone/2003/park", {"slot": "4"}, expect=200)
    sim.ctl("POST", "/phone/2005/unpark", {"slot": "4"}, expect=200)
    sim.ctl("POST", "/phone/2005/hangup", {}, expect=200)
    assert sim.ctl("GET", "/calls")[1]["calls"] == []
    # Dial tone, then digits.
    _, out = sim.ctl("POST", "/phone/2006/offhook", {}, expect=200)
    sim.ctl("POST", "/phone/2006/dial", {"digits": "9"}, expect=200)
    sim.ctl("POST", "/phone/2006/dial", {"digits": "0123456"}, expect=200)
    legs = sim.ctl("GET", "/calls")[1]["calls"][0]["legs"]
    assert legs[1]["line"] == "trunk"
    sim.ctl("POST", "/trunk/answer", {"gcid": out["gcid"]}, expect=200)
    assert sim.ctl("GET", "/calls")[1]["calls"][0]["legs"][0]["state"] == "CONNECTED"
    sim.ctl("POST", "/trunk/hangup", {"gcid": out["gcid"]}, expect=200)
    sim.ctl("POST", "/trunk/call", {"to": "2007"}, expect=200)
    sim.ctl("POST", "/calls/clear", {}, expect=200)
    assert sim.ctl("GET", "/calls")[1]["calls"] == []


def test_removed_user_ends_its_calls_and_subscriptions(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        g = guid_bytes(sim.user("2009")["guid"])
        await c.subscribe(requestid=1, subscribe_id=1, user={"guid": g, "ccflags": 1})
        await c.wait_notify(1, "user")
        sim.ctl("POST", "/trunk/call", {"to": "2009"}, expect=200)
        n = await c.wait_notify(1, "callcontrol")
        cid = n.callcontrol.callinfo[0].callid
        sim.ctl("DELETE", "/users/2009", expect=200)
        st = await c.wait_kind("subscribeterminated")
        assert (st.subscribe_id, st.reason) == (1, "deleted")
        assert sim.ctl("GET", "/calls")[1]["calls"] == []
        assert cid and all(u["extn"] != "2009" for u in sim.model()["users"])
        # The guid is gone: subscribing to it again is USERNOTFOUND (7).
        await c.subscribe(requestid=2, subscribe_id=2, user={"guid": g})
        assert (await c.wait_response(2)).result == 7
        await c.close()
    run(body())


def test_docs_list_every_option_and_route():
    """docs/sim.md carries the tables the binary prints, so they cannot disagree."""
    import pathlib
    import subprocess
    from simlib import TOP, binary
    out = subprocess.run([str(binary("ipo-sim")), "--help-markdown"], capture_output=True,
                         text=True, timeout=10).stdout
    doc = (TOP / "docs" / "sim.md").read_text()
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) > 40
    missing = [r for r in rows if r not in doc]
    assert not missing, missing
    assert pathlib.Path(TOP / "docs" / "sim.md").exists()
