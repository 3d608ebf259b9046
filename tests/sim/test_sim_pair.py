"""ipo-sim as a resilient pair (--secondary): one process, one model, two
IP Offices on two listeners.  The spec's "Resilient solutions": users, user
calls and commands are the same on both; a queue's calls are seen and
controlled only on the system where they queue, the primary while it is up;
when the primary fails the secondary's queues take over, and when it comes
back they return.  Every test talks to both systems over real TLS."""
import asyncio

import pytest

from simlib import guid_bytes, run
from test_sim_calls import (ANSWER, CALLNOTFOUND, DROP, SUCCESS, Line, only, queue_line,
                            user_line)


@pytest.fixture
def pair(sim_factory):
    return sim_factory("--users", "20", "--queues", "3", "--seed", "1", "--ring-ms", "300",
                       "--secondary", "127.0.0.1:0")


def park_agents(sim, queue):
    """Every member of `queue` in DND: its calls wait QUEUEING.  The members' extensions."""
    members = [m["extn"] for m in sim.queue(queue)["members"]]
    for m in members:
        sim.ctl("PATCH", f"/users/{m}", {"dnd": True}, expect=200)
    return members


def test_pair_ready_file_and_systems(pair):
    assert set(pair.systems) == {"primary", "secondary"}
    p, s = pair.systems["primary"], pair.systems["secondary"]
    assert p["wss_port"] == pair.wss_port and s["wss_port"] not in (p["wss_port"], 0)
    assert p["url"] == f"wss://127.0.0.1:{p['wss_port']}/tpkt/openapi"
    assert s["url"] == f"wss://127.0.0.1:{s['wss_port']}/tpkt/openapi"
    _, out = pair.ctl("GET", "/systems", expect=200)
    assert out == {"systems": [
        {"name": "primary", "up": True, "wss_port": p["wss_port"], "url": p["url"]},
        {"name": "secondary", "up": True, "wss_port": s["wss_port"], "url": s["url"]}],
        "queues_on": "primary"}


def test_single_system_lists_only_the_primary(sim):
    assert list(sim.systems) == ["primary"]
    _, out = sim.ctl("GET", "/systems", expect=200)
    assert [x["name"] for x in out["systems"]] == ["primary"] and out["queues_on"] == "primary"


def test_pair_same_lines_users_and_commands(pair, pb):
    async def body():
        p = await pair.client(pb, "primary")
        s = await pair.client(pb, "secondary")
        lines = []
        for c in (p, s):
            await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 3})
            assert (await c.wait_response(1)).result == SUCCESS
            n = await c.wait_notify(1, "lines", ack=True)
            lines.append(([(u.guid, u.extn, u.name) for u in n.lines.adduser],
                          [(q.guid, q.extn, q.name) for q in n.lines.addqueue]))
        assert lines[0] == lines[1] and len(lines[0][0]) == 20 and len(lines[0][1]) == 3
        g = guid_bytes(pair.user("2001")["guid"])
        for c in (p, s):
            await c.subscribe(requestid=2, subscribe_id=2, user={"guid": g})
            assert (await c.wait_response(2)).result == SUCCESS
            assert (await c.wait_notify(2, "user", ack=True)).user.dnd is False
        # A command on the secondary changes the one user both systems show.
        await s.subscribecmd(requestid=3, subscribe_id=2, user={"sac": {"set": 1}})
        assert (await s.wait_response(3)).result == SUCCESS
        for c in (p, s):
            n = await c.wait_notify(2, "user", ack=True)
            assert (n.user.extn, n.user.dnd) == ("2001", True)
        assert pair.user("2001")["dnd"] is True
        await p.close()
        await s.close()
    run(body())


def test_pair_user_calls_on_both_queue_calls_only_on_the_primary(pair, pb):
    st = pb.CallInfo
    park_agents(pair, "5003")

    async def body():
        p = await pair.client(pb, "primary")
        s = await pair.client(pb, "secondary")
        up, us = await user_line(pair, pb, p, "2001", 1), await user_line(pair, pb, s, "2001", 1)
        qp, qs = await queue_line(pair, pb, p, "5003", 2), await queue_line(pair, pb, s, "5003", 2)
        # A user call: both systems report it, and either can control it.
        _, out = pair.ctl("POST", "/trunk/call", {"to": "2001"}, expect=200)
        await up.until(lambda l: l.calls)
        await us.until(lambda l: l.calls)
        cp, cs = only(up.calls), only(us.calls)
        assert (cp.callid, cp.gcid.hex(), cp.state) == (cs.callid, out["gcid"], st.RINGING)
        assert await us.fn(ANSWER, cs.callid) == SUCCESS
        await up.until(lambda l: l.state(cp.callid) == st.CONNECTED)
        await us.until(lambda l: l.state(cs.callid) == st.CONNECTED)
        # A queued call: the primary only.
        _, q = pair.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        await qp.until(lambda l: l.calls)
        qc = only(qp.calls)
        assert (qc.state, qc.gcid.hex()) == (st.QUEUEING, q["gcid"])
        await s.expect_silence(0.5, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 2)
        assert await qs.fn(DROP, qc.callid) == 4             # NOTFOUND: not a call it knows
        assert await qs.fn(20 + 3, qc.callid) == CALLNOTFOUND  # ForceClear
        legs = [leg for call in pair.ctl("GET", "/calls")[1]["calls"] if call["gcid"] == q["gcid"]
                for leg in call["legs"]]
        assert [(x["line"], x["system"]) for x in legs] == [("trunk", -1), ("queue", 0)]
        assert not qs.calls
        # A new queue subscription on the secondary sees none of it either.
        await queue_line(pair, pb, s, "5003", 3)
        await s.expect_silence(0.3, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 3)
        await p.close()
        await s.close()
    run(body())


def test_pair_failover_moves_waiting_calls_and_restore_brings_them_back(pair, pb):
    st = pb.CallInfo
    members = park_agents(pair, "5003")

    async def body():
        p = await pair.client(pb, "primary")
        s = await pair.client(pb, "secondary")
        qp = await queue_line(pair, pb, p, "5003", 1)
        qs = await queue_line(pair, pb, s, "5003", 1)
        _, c1 = pair.ctl("POST", "/trunk/call", {"to": "5003", "from": "0111"}, expect=200)
        await qp.until(lambda l: l.calls)
        old = only(qp.calls)
        assert old.state == st.QUEUEING

        out = pair.fail("primary")
        assert (out["system"], out["up"], out["dropped"], out["moved"], out["queues_on"]) == (
            "primary", False, 1, 1, "secondary")
        assert [(x["name"], x["up"]) for x in out["systems"]] == [("primary", False),
                                                                ("secondary", True)]
        code, _ = await p.wait_closed()
        assert code == 1006                                  # killed: no close handshake
        with pytest.raises(OSError):                         # the port refuses connections
            await pair.client(pb, "primary", timeout=2)
        # The secondary's queue now reports the waiting call: same gcid, its own callid.
        await qs.until(lambda l: l.calls)
        moved = only(qs.calls)
        assert (moved.gcid, moved.state, moved.callingparty.number) == (old.gcid, st.QUEUEING, "0111")
        assert moved.callid != old.callid
        # ... and controls it: an agent comes free, the secondary sees it answered.
        pair.ctl("PATCH", f"/users/{members[0]}", {"dnd": False}, expect=200)
        await qs.until(lambda l: l.state(moved.callid) == st.RINGING, timeout=3)
        pair.ctl("POST", f"/phone/{members[0]}/answer", {}, expect=200)
        await qs.until(lambda l: l.state(moved.callid) == st.CONNECTED)
        # A call arriving during the outage queues on the secondary.
        _, c2 = pair.ctl("POST", "/trunk/call", {"to": "5003", "from": "0222"}, expect=200)
        await qs.until(lambda l: len(l.calls) == 2)
        waiting = [ci for ci in qs.calls.values() if ci.gcid.hex() == c2["gcid"]][0]
        assert waiting.state == st.QUEUEING

        out = pair.restore("primary")
        assert (out["system"], out["up"], out["dropped"], out["moved"], out["queues_on"]) == (
            "primary", True, 0, 1, "primary")
        assert out["systems"][0]["wss_port"] == pair.systems["primary"]["wss_port"]
        # The waiting call leaves the secondary; the answered one stays followed there.
        await qs.until(lambda l: waiting.callid in l.lost)
        assert qs.state(moved.callid) == st.CONNECTED
        p2 = await pair.client(pb, "primary")
        qp2 = await queue_line(pair, pb, p2, "5003", 1)
        await qp2.until(lambda l: l.calls)
        back = only(qp2.calls)
        assert (back.gcid.hex(), back.state, back.callingparty.number) == (
            c2["gcid"], st.QUEUEING, "0222")
        pair.ctl("POST", "/trunk/hangup", {"gcid": c1["gcid"]}, expect=200)
        await qs.until(lambda l: moved.callid in l.lost)
        await s.close()
        await p2.close()
    run(body())


def test_pair_failover_ends_the_primarys_answered_queue_calls(pair, pb):
    """The primary followed an answered queue call; it fails: nobody follows
    the call any more (the secondary never had it), the call itself goes on."""
    st = pb.CallInfo
    agent = pair.queue("5001")["members"][0]["extn"]

    async def body():
        s = await pair.client(pb, "secondary")
        us = await user_line(pair, pb, s, agent, 1)
        qs = await queue_line(pair, pb, s, "5001", 2)
        _, c = pair.ctl("POST", "/trunk/call", {"to": "5001"}, expect=200)
        await us.until(lambda l: l.calls)
        pair.ctl("POST", f"/phone/{agent}/answer", {}, expect=200)
        await us.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        out = pair.fail("primary")
        assert (out["dropped"], out["moved"]) == (0, 0)
        legs = [leg for call in pair.ctl("GET", "/calls")[1]["calls"] if call["gcid"] == c["gcid"]
                for leg in call["legs"]]
        assert sorted(x["line"] for x in legs) == ["trunk", "user"]
        await s.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify")
        assert not qs.calls and only(us.calls).state == st.CONNECTED
        await s.close()
    run(body())


def test_pair_secondary_failure_leaves_the_primary_alone(pair, pb):
    park_agents(pair, "5003")

    async def body():
        p = await pair.client(pb, "primary")
        s = await pair.client(pb, "secondary")
        qp = await queue_line(pair, pb, p, "5003", 1)
        pair.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        await qp.until(lambda l: l.calls)
        out = pair.fail("secondary")
        assert (out["dropped"], out["moved"], out["queues_on"]) == (1, 0, "primary")
        assert (await s.wait_closed())[0] == 1006
        await p.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify")
        await p.generalcmd(requestid=5, getversioninfo=True)
        assert (await p.wait_kind("generaldata")).responseid == 5
        out = pair.restore("secondary")
        assert (out["up"], out["moved"], out["queues_on"]) == (True, 0, "primary")
        s2 = await pair.client(pb, "secondary")
        await s2.close()
        await p.close()
    run(body())


def test_pair_control_errors(pair, sim):
    st, out = pair.ctl("POST", "/systems/tertiary/fail", {})
    assert (st, out) == (404, {"error": "no system tertiary"})
    st, out = pair.ctl("POST", "/systems/primary/restore", {})
    assert (st, out) == (409, {"error": "primary is already up"})
    pair.fail("primary")
    st, out = pair.ctl("POST", "/systems/primary/fail", {})
    assert (st, out) == (409, {"error": "primary is already down"})
    # Both down: queues stay where they were until one returns.
    out = pair.fail("secondary")
    assert (out["queues_on"], [x["up"] for x in out["systems"]]) == ("secondary", [False, False])
    assert pair.restore("primary")["queues_on"] == "primary"
    st, out = sim.ctl("POST", "/systems/secondary/fail", {})
    assert (st, out) == (404, {"error": "no system secondary"})


def test_pair_park_server_on_both(pair, pb):
    st = pb.CallInfo

    async def body():
        p = await pair.client(pb, "primary")
        s = await pair.client(pb, "secondary")
        parks = []
        for c in (p, s):
            await c.subscribe(requestid=9, subscribe_id=9, parkserver={"ccflags": 1})
            assert (await c.wait_response(9)).result == SUCCESS
            parks.append(Line(c, 9))
        a = await user_line(pair, pb, p, "2001", 1)
        _, out = pair.ctl("POST", "/trunk/call", {"to": "2001"}, expect=200)
        pair.ctl("POST", "/phone/2001/answer", {}, expect=200)
        await a.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        pair.ctl("POST", "/phone/2001/park", {"slot": "4"}, expect=200)
        for park in parks:
            await park.until(lambda l: l.calls)
            assert (only(park.calls).parkslot, only(park.calls).gcid.hex()) == ("4", out["gcid"])
        # Either system can act on it: dropped from the secondary.
        sc = only(parks[1].calls)
        assert await parks[1].fn(DROP, sc.callid) == SUCCESS
        for park in parks:
            await park.until(lambda l: not l.calls)
        await p.close()
        await s.close()
    run(body())
