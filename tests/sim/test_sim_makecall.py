"""MakeCall's types as the spec names them (104 page, 105 force-feed, 106
intrude, 108 pickup, 109 camp-on, 116 MeetMe), and the MakeCall that fails
at once (only a CallLost, correlated by referencecallid; or a refusal), armed
through the control API.  Exact states, parties and codes."""
import time

from simlib import run
from test_sim_calls import (DROP, FORCECLEAR, PRIVON, SUCCESS, TARGETNOTFOUND, UNSUPPORTED,
                            only, user_line)

PAGE, FORCEFEED, INTRUDE, PICKUP, CAMPON, MEETME = 104, 105, 106, 108, 109, 116
ANSWERPAGE = 22
PERMISSION, BADFORMATTING, MAXCALLS, REQUESTFAILED = 607, 608, 603, 5000


def test_page_a_user_and_answer_the_page(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        assert await a.make("2002", 31, type=PAGE) == SUCCESS
        await a.until(lambda l: l.calls)
        await b.until(lambda l: l.calls)
        ca, cb = only(a.calls), only(b.calls)
        assert (ca.state, ca.pagecall, ca.calledparty, ca.referencecallid, ca.featuresavailable2) == (
            st.CONNECTED, False, "2002", 31, 0)
        assert (cb.state, cb.direction, cb.pagecall, cb.featuresavailable2) == (
            st.CONNECTED, st.INBOUND, True, 1)                  # bit 0: AnswerPage
        assert (cb.callingparty.number, cb.gcid) == ("2001", ca.gcid)
        assert await a.fn(ANSWERPAGE, ca.callid) == 609          # not a page it hears
        assert await b.fn(ANSWERPAGE, cb.callid) == SUCCESS
        await b.until(lambda l: not l.calls[cb.callid].pagecall)
        assert (b.calls[cb.callid].state, b.calls[cb.callid].featuresavailable2) == (st.CONNECTED, 0)
        await c.close()
    run(body())


def test_page_busy_unknown_and_group(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2003", {"dnd": True}, expect=200)
    members = [m["extn"] for m in sim.queue("5002")["members"]]

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        assert await a.make("", 40, type=PAGE) == BADFORMATTING
        assert await a.make("2003", 41, type=PAGE) == SUCCESS     # DND: not paged
        await a.until(lambda l: l.calls)
        assert only(a.calls).state == st.BUSY
        assert await a.fn(DROP, only(a.calls).callid) == SUCCESS
        await a.until(lambda l: not l.calls)
        assert await a.make("777", 42, type=PAGE) == SUCCESS      # not an extension
        await a.until(lambda l: l.calls)
        ci = only(a.calls)
        assert (ci.state, ci.failedcause) == (st.FAILED, st.UNALLOCATEDNUMBER)
        assert await a.fn(DROP, ci.callid) == SUCCESS
        await a.until(lambda l: not l.calls)
        # A group page reaches every available member of the queue at once.
        _, out = sim.ctl("GET", "/calls")
        assert out["calls"] == []
        assert await a.make("5002", 43, type=PAGE) == SUCCESS
        await a.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        legs = sim.ctl("GET", "/calls")[1]["calls"][0]["legs"]
        paged = sorted(x["number"] for x in legs if x["role"] == "called")
        assert paged == sorted(m for m in members if m != "2003")
        assert all(x["state"] == "CONNECTED" for x in legs)
        await c.close()
    run(body())


def test_forcefeed_is_answered_by_the_called_phone(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        assert await a.make("2002", 51, type=FORCEFEED) == SUCCESS
        cc = await b.cc()                                  # first seen already answered
        assert [(x.state, x.direction, x.pagecall, x.callingparty.number)
                for x in cc.callinfo] == [(st.CONNECTED, st.INBOUND, False, "2001")]
        await a.until(lambda l: l.calls)
        assert (only(a.calls).state, only(a.calls).connectedparty.number) == (st.CONNECTED, "2002")
        await c.close()
    run(body())


def test_intrude_joins_a_connected_call(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        t = await user_line(sim, pb, c, "2003", 1, ccflags=0x9)
        i = await user_line(sim, pb, c, "2001", 2, ccflags=0x9)
        j = await user_line(sim, pb, c, "2004", 3, ccflags=0x9)
        _, out = sim.ctl("POST", "/trunk/call", {"to": "2003", "from": "0555"}, expect=200)
        sim.ctl("POST", "/phone/2003/answer", {}, expect=200)
        await t.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        assert await i.make("2003", 61, type=INTRUDE) == SUCCESS
        await i.until(lambda l: l.calls)
        ci = only(i.calls)
        assert (ci.state, ci.direction, ci.referencecallid, ci.gcid.hex()) == (
            st.CONNECTED, st.OUTBOUND, 61, out["gcid"])
        await t.until(lambda l: len(only(l.calls).conferencemember) == 2)
        assert sorted(m.connectedparty.number for m in only(t.calls).conferencemember) == [
            "0555", "2001"]
        # A private call cannot be intruded on.
        assert await t.fn(PRIVON, only(t.calls).callid) == SUCCESS
        assert await j.make("2003", 62, type=INTRUDE) == PERMISSION
        # An idle target: a normal call.
        assert await j.make("2005", 63, type=INTRUDE) == SUCCESS
        await j.until(lambda l: l.calls)
        assert only(j.calls).state == st.RINGBACK
        await c.close()
    run(body())


def test_pickup_a_ringing_call(sim, pb):
    st = pb.CallInfo
    queue = sim.queue("5002")

    async def body():
        c = await sim.client(pb)
        t = await user_line(sim, pb, c, "2003", 1)
        p = await user_line(sim, pb, c, "2001", 2)
        assert await p.make("2003", 70, type=PICKUP) == TARGETNOTFOUND   # nothing rings
        _, out = sim.ctl("POST", "/trunk/call", {"to": "2003", "from": "0666"}, expect=200)
        await t.until(lambda l: l.calls)
        tc = only(t.calls)
        assert await p.make("2003", 71, type=PICKUP) == SUCCESS
        await p.until(lambda l: l.calls)
        pc = only(p.calls)
        assert (pc.state, pc.direction, pc.referencecallid, pc.gcid.hex(),
                pc.callingparty.number) == (st.CONNECTED, st.PICKUP, 71, out["gcid"], "0666")
        await t.until(lambda l: tc.callid in l.lost)
        # Group pickup: a call the queue offers.
        sim.ctl("POST", "/trunk/call", {"to": "5002", "from": "0777"}, expect=200)
        q = await user_line(sim, pb, c, "2010", 3)
        assert "2010" not in [m["extn"] for m in queue["members"]]
        time.sleep(0.1)
        assert await q.make("5002", 72, type=PICKUP) == SUCCESS
        await q.until(lambda l: l.calls)
        qc = only(q.calls)
        assert (qc.state, qc.direction, qc.callingparty.number) == (st.CONNECTED, st.PICKUP, "0777")
        await c.close()
    run(body())


def test_campon_waits_for_a_busy_user_and_never_goes_to_voicemail(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2002", {"noanswertime": 1}, expect=200)

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        sim.ctl("POST", "/trunk/call", {"to": "2002"}, expect=200)
        sim.ctl("POST", "/phone/2002/answer", {}, expect=200)
        await b.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        busy = only(b.calls).callid
        assert await a.make("2002", 81, type=CAMPON) == SUCCESS
        await a.until(lambda l: l.calls)
        assert only(a.calls).state == st.RINGBACK
        await c.expect_silence(0.6, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 2)   # no call waiting on 2002
        sim.ctl("POST", "/phone/2002/hangup", {}, expect=200)
        await b.until(lambda l: busy in l.lost and l.calls, timeout=3)
        rc = only(b.calls)
        assert (rc.state, rc.callingparty.number, rc.gcid) == (st.RINGING, "2001", only(a.calls).gcid)
        time.sleep(1.5)                                   # past 2002's no-answer time: still ringing
        await c.expect_silence(0.2, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 2)
        sim.ctl("POST", "/phone/2002/answer", {}, expect=200)
        await a.until(lambda l: only(l.calls).state == st.CONNECTED)
        await c.close()
    run(body())


def test_meetme_conference(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1, ccflags=0x9)
        b = await user_line(sim, pb, c, "2002", 2, ccflags=0x9)
        assert await a.make("", 90, type=MEETME) == BADFORMATTING
        assert await a.make("777", 91, type=MEETME) == SUCCESS
        await a.until(lambda l: l.calls)
        ca = only(a.calls)
        assert (ca.state, ca.calledparty, ca.connectedparty.number, ca.connectedparty.name) == (
            st.CONNECTED, "777", "777", "MeetMe 777")
        assert not ca.conferencemember
        assert await b.make("777", 92, type=MEETME) == SUCCESS
        await a.until(lambda l: len(l.calls[ca.callid].conferencemember) == 1)
        assert [m.connectedparty.number for m in a.calls[ca.callid].conferencemember] == ["2002"]
        await b.until(lambda l: l.calls)
        assert only(b.calls).gcid == ca.gcid
        # Another conference number is another conference.
        d = await user_line(sim, pb, c, "2003", 3, ccflags=0x9)
        assert await d.make("778", 93, type=MEETME) == SUCCESS
        await d.until(lambda l: l.calls)
        assert only(d.calls).gcid != ca.gcid
        # ForceClear on a member's call ends the conference for everyone in it.
        assert await b.fn(FORCECLEAR, only(b.calls).callid) == SUCCESS
        await a.until(lambda l: ca.callid in l.lost)
        await b.until(lambda l: not l.calls)
        assert [len(call["legs"]) for call in sim.ctl("GET", "/calls")[1]["calls"]] == [2]
        await c.close()
    run(body())


def test_unknown_makecall_type_is_unsupported(sim, pb):
    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        assert await a.make("2002", 1, type=107) == UNSUPPORTED
        assert await a.make("2002", 1, type=1) == UNSUPPORTED
        await c.close()
    run(body())


def test_makecall_lost_at_once_only_a_calllost(sim, pb):
    """The spec: "If a MakeCall fails instantly ... you may never see a
    CallInfo for the call, only the CallLost ... the application will have to
    match the reference callid with the failed call attempt"."""
    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        st, out = sim.ctl("POST", "/makecall/fail", {"extn": "2001", "mode": "calllost",
                                                     "reason": 34, "description": "no circuit"})
        assert (st, out) == (200, {"extn": "2001", "mode": "calllost", "result": 0,
                                   "result_name": "MTCTISESS_SUCCESS", "reason": 34, "count": 1,
                                   "description": "no circuit"})
        assert await a.make("2002", 4242) == SUCCESS
        cc = await a.cc()
        assert not cc.callinfo and len(cc.calllost) == 1
        lost = cc.calllost[0]
        assert (lost.referencecallid, lost.reason, lost.description, lost.thisenddropped) == (
            4242, 34, "no circuit", False)
        assert lost.callid > 0 and sim.ctl("GET", "/calls")[1]["calls"] == []
        # Armed once: the next MakeCall is an ordinary one.
        assert await a.make("2002", 4243) == SUCCESS
        await a.until(lambda l: l.calls)
        assert only(a.calls).referencecallid == 4243
        await c.close()
    run(body())


def test_makecall_refused_at_once(sim, pb):
    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        _, out = sim.ctl("POST", "/makecall/fail", {"mode": "response", "count": 2}, expect=200)
        assert (out["result"], out["result_name"], out["count"]) == (
            REQUESTFAILED, "MTCTISESS_REQUESTFAILED", 2)
        assert await a.make("2003", 1) == REQUESTFAILED             # anyone's MakeCall
        sim.ctl("POST", "/makecall/fail", {"extn": "2002", "mode": "response", "result": MAXCALLS},
                expect=200)
        assert await b.make("2003", 2) == MAXCALLS                  # 2002's own comes first
        assert await b.make("2003", 3) == REQUESTFAILED             # then anyone's second
        assert await b.make("2003", 4) == SUCCESS
        await c.expect_silence(0.2, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 1)
        # Disarm, and the errors.
        sim.ctl("POST", "/makecall/fail", {"mode": "response", "count": 1}, expect=200)
        sim.ctl("POST", "/makecall/fail", {"mode": "response", "count": 0}, expect=200)
        assert await a.make("", 5) == SUCCESS
        assert sim.ctl("POST", "/makecall/fail", {"mode": "sometimes"}) == (
            400, {"error": "'mode' must be \"calllost\" or \"response\""})
        assert sim.ctl("POST", "/makecall/fail", {"extn": "9999", "mode": "response"}) == (
            404, {"error": "no user 9999"})
        await c.close()
    run(body())
