"""Calls as the spec describes them: internal, trunk inbound to users and
queues, outbound; answer, hold, transfer, redirect, conference, park; one
gcid on every leg; CallLost reason 16 with thisenddropped; featuresavailable
from state and line type; the spec's result codes for failures."""
from simlib import guid_bytes, run


# CallFunction actions and featuresavailable bits (spec numbering).
DROP, ANSWER, HOLD, UNHOLD, BLIND, REDIRECT, DIAL, PARK = 1, 2, 3, 4, 5, 6, 7, 8
SETUPXFER, SETUPCONF, COMPLETEXFER, COMPLETECONF, ADDTOCONF, MEMBERFN = 9, 10, 11, 12, 13, 14
SETTAG, SETACCT, SETNOTES, EC500, DIGITS, FORCECLEAR, SETAUTH = 15, 16, 17, 18, 19, 23, 24
RECON, RECOFF, PRIVON, PRIVOFF, MUTEON, MUTEOFF, PRIORITY, FINISH = 25, 26, 27, 28, 29, 30, 34, 35
F = {name: 1 << bit for name, bit in dict(
    DROP=0, ANSWER=1, HOLD=2, UNHOLD=3, BLINDXFER=4, REDIRECT=5, DIAL=6, PARK=7, SETUPXFER=8,
    COMPLETEXFER=9, COMPLETECONF=10, ADDTOCONF=11, ADMINCONF=12, TAG=13, ACCT=14, EC500=16,
    DIGITS=17, FORCECLEAR=21, AUTH=22, RECON=23, RECOFF=24, PRIVON=25, PRIVOFF=26, MUTEON=27,
    MUTEOFF=28, PRIORITY=29, FINISH=30).items()}

SUCCESS, NOTFOUND = 0, 4
NOPHONE, CALLNOTFOUND, MAXCALLS, BADACCT, BADAUTH, TARGETNOTFOUND = 600, 602, 603, 604, 605, 606
BADFORMATTING, INVALIDCALLSTATE, TRANSFERFAILED, PARKFAILED = 608, 609, 612, 613
OTHERNOTFOUND, UNSUPPORTED, ALREADYDONE, NOCOVERAGE = 614, 616, 617, 611


class Line:
    """One subscription with call control on a user or queue, acking as it reads."""

    def __init__(self, client, sid):
        self.c = client
        self.sid = sid
        self.calls = {}     # callid -> latest CallInfo
        self.lost = {}      # callid -> CallLost
        self.rid = sid * 1000

    async def cc(self, timeout=5.0):
        """The next callcontrol Notify (acknowledged), folded into calls/lost."""
        n = await self.c.wait_notify(self.sid, "callcontrol", timeout=timeout, ack=True)
        for ci in n.callcontrol.callinfo:
            self.calls[ci.callid] = ci
        for cl in n.callcontrol.calllost:
            self.lost[cl.callid] = cl
            self.calls.pop(cl.callid, None)
        return n.callcontrol

    async def until(self, pred, timeout=5.0):
        """Read callcontrol Notifies until pred(self) holds."""
        import time
        deadline = time.monotonic() + timeout
        while not pred(self):
            await self.cc(max(0.05, deadline - time.monotonic()))
        return self

    def state(self, callid):
        ci = self.calls.get(callid)
        return ci.state if ci else None

    async def fn(self, action, callid=0, **kw):
        self.rid += 1
        return (await self.c.call_function(self.sid, self.rid, action, callid=callid, **kw)).result

    async def make(self, target, refid, **kw):
        self.rid += 1
        return (await self.c.make_call(self.sid, self.rid, target, refid, **kw)).result


async def user_line(sim, pb, client, extn, sid, ccflags=0x99):
    g = guid_bytes(sim.user(extn)["guid"])
    await client.subscribe(requestid=sid, subscribe_id=sid, user={"guid": g, "ccflags": ccflags})
    assert (await client.wait_response(sid)).result == 0
    await client.wait_notify(sid, "user", ack=True)
    return Line(client, sid)


async def queue_line(sim, pb, client, extn, sid, ccflags=0x400FF):
    g = guid_bytes(sim.queue(extn)["guid"])
    await client.subscribe(requestid=sid, subscribe_id=sid, queue={"guid": g, "ccflags": ccflags})
    assert (await client.wait_response(sid)).result == 0
    await client.wait_notify(sid, "queue", ack=True)
    return Line(client, sid)


def only(d):
    assert len(d) == 1, d
    return next(iter(d.values()))


async def answered_call(sim, pb, line, extn):
    """A trunk call to extn answered at the phone: (the CallInfo on line, now
    the only call and CONNECTED; the control API's gcid, which it carries)."""
    _, out = sim.ctl("POST", "/trunk/call", {"to": extn}, expect=200)
    sim.ctl("POST", f"/phone/{extn}/answer", {}, expect=200)
    await line.until(lambda l: l.calls and only(l.calls).state == pb.CallInfo.CONNECTED)
    ci = only(line.calls)
    assert ci.gcid.hex() == out["gcid"]
    return ci, out["gcid"]


def test_internal_call_answer_hold_drop(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        assert await a.make("2002", refid=555) == SUCCESS
        await a.until(lambda l: l.calls)
        await b.until(lambda l: l.calls)
        ca, cb = only(a.calls), only(b.calls)
        assert (ca.state, ca.direction, ca.referencecallid, ca.calledparty) == (
            st.RINGBACK, st.OUTBOUND, 555, "2002")
        assert (cb.state, cb.direction) == (st.RINGING, st.INBOUND)
        assert cb.featuresavailable == F["DROP"] | F["ANSWER"] | F["REDIRECT"]   # spec: 0x23
        assert cb.callingparty.number == "2001"
        assert ca.gcid == cb.gcid and len(ca.gcid) > 0
        assert await b.fn(ANSWER, cb.callid) == SUCCESS
        await a.until(lambda l: l.state(ca.callid) == st.CONNECTED)
        await b.until(lambda l: l.state(cb.callid) == st.CONNECTED)
        f = b.calls[cb.callid].featuresavailable
        assert f & F["HOLD"] and f & F["BLINDXFER"] and f & F["SETUPXFER"] and f & F["PARK"]
        assert not f & F["ANSWER"] and not f & F["UNHOLD"]
        assert a.calls[ca.callid].connectedparty.number == "2002"
        assert await b.fn(ANSWER, cb.callid) == INVALIDCALLSTATE
        assert await b.fn(HOLD, cb.callid) == SUCCESS
        await b.until(lambda l: l.state(cb.callid) == st.ONHOLD)
        await a.until(lambda l: l.calls[ca.callid].activeheld)
        assert b.calls[cb.callid].featuresavailable & F["UNHOLD"]
        assert await b.fn(HOLD, cb.callid) == ALREADYDONE
        assert await b.fn(UNHOLD, cb.callid) == SUCCESS
        await a.until(lambda l: not l.calls[ca.callid].activeheld)
        assert await b.fn(UNHOLD, cb.callid) == ALREADYDONE
        assert await a.fn(DROP, ca.callid) == SUCCESS
        await a.until(lambda l: ca.callid in l.lost)
        await b.until(lambda l: cb.callid in l.lost)
        la, lb = a.lost[ca.callid], b.lost[cb.callid]
        assert (la.reason, la.thisenddropped, la.referencecallid) == (16, True, 555)
        assert (lb.reason, lb.thisenddropped) == (16, False)
        await c.close()
    run(body())


def test_trunk_inbound_to_user_and_caller_hangs_up(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        u = await user_line(sim, pb, c, "2003", 1, ccflags=0xFF)
        _, out = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "name": "Caller",
                                                 "to": "2003"}, expect=200)
        await u.until(lambda l: l.calls)
        ci = only(u.calls)
        assert ci.gcid.hex() == out["gcid"]
        assert (ci.state, ci.callingparty.number, ci.callingparty.name) == (
            st.RINGING, "01707123456", "Caller")
        assert ci.trunkinfo.did == sim.model()["trunks"][0] and ci.calldata.language
        sim.ctl("POST", "/phone/2003/answer", {}, expect=200)
        await u.until(lambda l: l.state(ci.callid) == st.CONNECTED)
        assert u.calls[ci.callid].connectedparty.number == "01707123456"
        sim.ctl("POST", "/trunk/hangup", {"gcid": out["gcid"]}, expect=200)
        await u.until(lambda l: ci.callid in l.lost)
        assert u.lost[ci.callid].thisenddropped is False and u.lost[ci.callid].reason == 16
        assert sim.ctl("GET", "/calls")[1]["calls"] == []
        await c.close()
    run(body())


def test_snapshot_not_transitions(sim, pb):
    """A call answered while the previous Notify is unacked is first seen CONNECTED."""
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        g = guid_bytes(sim.user("2004")["guid"])
        await c.subscribe(requestid=1, subscribe_id=1, user={"guid": g, "ccflags": 1})
        n = await c.wait_notify(1, "user")                 # not acked yet
        sim.ctl("POST", "/trunk/call", {"to": "2004"}, expect=200)
        sim.ctl("POST", "/phone/2004/answer", {}, expect=200)
        await c.expect_silence(0.4)
        await c.ack(n)
        n2 = await c.wait_notify(1, "callcontrol")
        assert [ci.state for ci in n2.callcontrol.callinfo] == [st.CONNECTED]
        await c.expect_silence(0.3)                        # and nothing until acked
        await c.close()
    run(body())


def test_queue_call_targets_retargets_and_is_answered(sim, pb):
    st = pb.CallInfo
    # 5002 rings sequentially; one second of no-answer before retargeting.
    sim.ctl("PATCH", "/queues/5002", {"noanswertime": 1, "ringmode": 1}, expect=200)
    members = [m["extn"] for m in sim.queue("5002")["members"]]

    async def body():
        c = await sim.client(pb)
        q = await queue_line(sim, pb, c, "5002", 1)
        sim.ctl("POST", "/trunk/call", {"to": "5002", "from": "0123"}, expect=200)
        await q.until(lambda l: l.calls and only(l.calls).state == st.RINGING)
        ci = only(q.calls)
        assert ci.direction == st.INBOUND and ci.queueinfo.number == "5002"
        first = [t.partyinfo.number for t in ci.targets.target]
        assert len(first) == 1 and first[0] in members
        f = ci.featuresavailable
        for bit in ("DROP", "BLINDXFER", "REDIRECT", "PARK", "TAG", "ACCT", "FORCECLEAR",
                    "PRIORITY", "FINISH"):
            assert f & F[bit], bit
        for bit in ("ANSWER", "HOLD", "AUTH", "DIAL"):
            assert not f & F[bit], bit
        seen = set()
        await q.until(lambda l: seen.add(l.calls[ci.callid].state) or
                      (l.calls[ci.callid].state == st.RINGING and
                       [t.partyinfo.number for t in l.calls[ci.callid].targets.target] != first),
                      timeout=4)
        second = q.calls[ci.callid].targets.target[0].partyinfo.number
        assert second != first[0]
        sim.ctl("POST", f"/phone/{second}/answer", {}, expect=200)
        await q.until(lambda l: l.state(ci.callid) == st.CONNECTED)
        assert q.calls[ci.callid].connectedparty.number == second
        assert not q.calls[ci.callid].targets.target
        sim.ctl("POST", f"/phone/{second}/hangup", {}, expect=200)
        await q.until(lambda l: ci.callid in l.lost)
        await c.close()
    run(body())


def test_queue_call_queues_until_an_agent_is_free(sim, pb):
    st = pb.CallInfo
    members = [m["extn"] for m in sim.queue("5003")["members"]]
    for m in members:
        sim.ctl("PATCH", f"/users/{m}", {"dnd": True}, expect=200)

    async def body():
        c = await sim.client(pb)
        q = await queue_line(sim, pb, c, "5003", 1)
        sim.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        await q.until(lambda l: l.calls)
        ci = only(q.calls)
        assert ci.state == st.QUEUEING and not ci.targets.target
        sim.ctl("PATCH", f"/users/{members[0]}", {"dnd": False}, expect=200)
        await q.until(lambda l: l.state(ci.callid) == st.RINGING, timeout=3)
        assert [t.partyinfo.number for t in q.calls[ci.callid].targets.target] == [members[0]]
        await c.close()
    run(body())


def test_ephemeral_queue_subscription_and_finish(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        eph = await queue_line(sim, pb, c, "5001", 1, ccflags=0x40000001)
        full = await queue_line(sim, pb, c, "5001", 2, ccflags=0x1)
        agent_extn = sim.queue("5001")["members"][0]["extn"]
        agent = await user_line(sim, pb, c, agent_extn, 3)
        sim.ctl("POST", "/trunk/call", {"to": "5001"}, expect=200)
        await eph.until(lambda l: l.calls)
        await agent.until(lambda l: l.calls)
        acall = only(agent.calls)
        assert await agent.fn(ANSWER, acall.callid) == SUCCESS
        await full.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        await eph.until(lambda l: l.lost)                   # stopped queueing: gone
        qcall = only(full.calls)
        assert await full.fn(FINISH, qcall.callid, arg1="2") == BADFORMATTING
        assert await full.fn(FINISH, qcall.callid) == SUCCESS
        await full.until(lambda l: qcall.callid in l.lost)
        await c.expect_silence(0.3, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 3
                               and m.notify.callcontrol.calllost)
        await agent.until(lambda l: l.state(acall.callid) == st.CONNECTED)   # the call goes on
        assert acall.callid not in agent.lost
        await c.close()
    run(body())


def test_outbound_to_trunk_answers(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        u = await user_line(sim, pb, c, "2005", 1, ccflags=0x31)
        assert await u.make("901707999888", refid=7) == SUCCESS
        await u.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED, timeout=3)
        ci = only(u.calls)
        assert ci.direction == st.OUTBOUND and ci.dialinfo.number == "901707999888"
        assert ci.connectedparty.number == "01707999888" and ci.trunkinfo.trunktype == 1
        assert await u.fn(DIGITS, ci.callid, arg1="12#") == SUCCESS
        assert await u.fn(DIGITS, ci.callid, arg1="12x") == BADFORMATTING
        assert await u.fn(DIGITS, ci.callid, arg1="1" * 33) == BADFORMATTING
        assert await u.fn(DROP, ci.callid) == SUCCESS
        await u.until(lambda l: l.lost)
        # Unknown numbers fail, and the call says why.
        assert await u.make("1234", refid=8) == SUCCESS
        await u.until(lambda l: l.calls)
        ci = only(u.calls)
        assert ci.state == st.FAILED and ci.failedcause == st.UNALLOCATEDNUMBER
        await c.close()
    run(body())


def test_blind_transfer_and_redirect(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2006", 2)
        ca, gcid = await answered_call(sim, pb, a, "2001")
        assert await a.fn(BLIND, ca.callid, arg1="") == BADFORMATTING
        assert await a.fn(BLIND, ca.callid, arg1="2" * 79) == BADFORMATTING
        assert await a.fn(BLIND, ca.callid, arg1="7777") == TRANSFERFAILED
        assert await a.fn(BLIND, 9999, arg1="2006") == CALLNOTFOUND
        assert await a.fn(BLIND, ca.callid, arg1="2006") == SUCCESS
        await a.until(lambda l: ca.callid in l.lost)
        assert a.lost[ca.callid].thisenddropped
        await b.until(lambda l: l.calls)
        cb = only(b.calls)
        assert cb.state == st.RINGING and cb.gcid.hex() == gcid
        # Redirect the ringing call onwards.
        assert await b.fn(REDIRECT, cb.callid, arg1="2001") == SUCCESS
        await b.until(lambda l: cb.callid in l.lost)
        await a.until(lambda l: l.calls)
        assert only(a.calls).state == st.RINGING and only(a.calls).gcid.hex() == gcid
        assert await a.fn(REDIRECT, only(a.calls).callid, arg1="abc") == TRANSFERFAILED
        await c.close()
    run(body())


def test_result_codes(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2007", 1)
        assert await a.fn(ANSWER, 4242) == CALLNOTFOUND
        assert await a.fn(DROP, 4242) == NOTFOUND          # DropCall's spec code
        assert await a.fn(HOLD, 0, referencecallid=4242) == CALLNOTFOUND
        # MakeCall needs a referencecallid and no callid.
        await c.subscribecmd(requestid=90, subscribe_id=1, callcontrol={"makecall": {"target": "2002"}})
        assert (await c.wait_response(90)).result == BADFORMATTING
        await c.subscribecmd(requestid=91, subscribe_id=1, callcontrol={
            "callid": 5, "referencecallid": 5, "makecall": {"target": "2002"}})
        assert (await c.wait_response(91)).result == BADFORMATTING
        await c.subscribecmd(requestid=92, subscribe_id=1, callcontrol={"callfunction": {"action": 1}})
        assert (await c.wait_response(92)).result == BADFORMATTING
        assert await a.make("2002", 1, advanced={"accountcode": "0000"}) == BADACCT
        assert await a.make("2002", 1, advanced={"authcode": "0000"}) == BADAUTH
        assert await a.make("2002", 1, advanced={"accountcode": "1" * 16}) == BADFORMATTING
        assert await a.make("2", 1) == SUCCESS                  # fails: unallocated number
        for r in range(2, 5):
            assert await a.make("", r) == SUCCESS                # dial tone
        assert await a.make("", 9) == MAXCALLS
        await a.until(lambda l: len(l.calls) == 4)
        dt = [ci for ci in a.calls.values() if ci.state == st.DIALTONE][0]
        assert dt.featuresavailable & F["DIAL"]
        assert await a.fn(PRIORITY, dt.callid, arg1="1") == UNSUPPORTED      # queue only
        assert await a.fn(SETNOTES, dt.callid) == UNSUPPORTED
        assert await a.fn(HOLD, dt.callid) == INVALIDCALLSTATE
        # Dial completes the number, overlap style.
        assert await a.fn(DIAL, dt.callid, arg1="20") == SUCCESS
        await a.until(lambda l: l.state(dt.callid) == st.DIALLING)
        assert await a.fn(DIAL, dt.callid, arg1="02") == SUCCESS
        await a.until(lambda l: l.state(dt.callid) == st.RINGBACK)
        # A logged-off user has no phone.
        sim.ctl("PATCH", "/users/2008", {"loggedinextn": ""}, expect=200)
        b = await user_line(sim, pb, c, "2008", 2)
        assert await b.make("2002", 1) == NOPHONE
        assert await b.fn(DROP, 0, referencecallid=77) == NOTFOUND
        await c.close()
    run(body())


def test_ringing_drop_needs_coverage(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2010", {"voicemail": False}, expect=200)

    async def body():
        c = await sim.client(pb)
        u = await user_line(sim, pb, c, "2010", 1)
        v = await user_line(sim, pb, c, "2011", 2)
        sim.ctl("POST", "/trunk/call", {"to": "2010"}, expect=200)
        await u.until(lambda l: l.calls)
        assert await u.fn(DROP, only(u.calls).callid) == NOCOVERAGE
        sim.ctl("POST", "/trunk/call", {"to": "2011"}, expect=200)
        await v.until(lambda l: l.calls)
        vc = only(v.calls)
        assert await v.fn(DROP, vc.callid) == SUCCESS          # voicemail covers
        await v.until(lambda l: vc.callid in l.lost)
        calls = sim.ctl("GET", "/calls")[1]["calls"]
        assert any(leg["line"] == "voicemail" and leg["state"] == "CONNECTED"
                   for call in calls for leg in call["legs"])
        assert u.state(only(u.calls).callid) == st.RINGING
        await c.close()
    run(body())


def test_assisted_transfer(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        t = await user_line(sim, pb, c, "2003", 2)
        held, gcid = await answered_call(sim, pb, a, "2001")
        assert await a.fn(COMPLETEXFER, held.callid) == INVALIDCALLSTATE
        assert await a.fn(SETUPXFER, held.callid, arg1="2003") == SUCCESS
        await a.until(lambda l: len(l.calls) == 2 and l.state(held.callid) == st.ONHOLDPENDTRANSFER)
        asst = [ci for ci in a.calls.values() if ci.callid != held.callid][0]
        assert a.calls[held.callid].relatedcallid == asst.callid
        assert asst.relatedcallid == held.callid and asst.state == st.RINGBACK
        await t.until(lambda l: l.calls)
        sim.ctl("POST", "/phone/2003/answer", {}, expect=200)
        await a.until(lambda l: l.state(asst.callid) == st.CONNECTED)
        assert a.calls[asst.callid].featuresavailable & F["COMPLETEXFER"]
        assert await a.fn(COMPLETEXFER, asst.callid) == SUCCESS
        cc = await a.cc()
        assert sorted(x.callid for x in cc.calllost) == sorted([held.callid, asst.callid])
        await t.until(lambda l: only(l.calls).gcid.hex() == gcid)
        tc = only(t.calls)
        assert tc.state == st.CONNECTED and tc.connectedparty.number == "01707123456"
        await c.close()
    run(body())


def test_conference_and_members(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1, ccflags=0x9)
        b = await user_line(sim, pb, c, "2002", 2, ccflags=0x9)
        await user_line(sim, pb, c, "2003", 3, ccflags=0x9)
        first, _ = await answered_call(sim, pb, a, "2001")
        assert await a.fn(SETUPCONF, first.callid, arg1="2002") == SUCCESS
        await a.until(lambda l: l.state(first.callid) == st.ONHOLDPENDCONF)
        sim.ctl("POST", "/phone/2002/answer", {}, expect=200)
        asst = await a.until(lambda l: any(ci.state == st.CONNECTED for ci in l.calls.values()))
        asst = [ci for ci in a.calls.values() if ci.callid != first.callid][0]
        assert await a.fn(COMPLETECONF, asst.callid) == SUCCESS
        await a.until(lambda l: l.state(first.callid) == st.CONNECTED and
                      len(l.calls[first.callid].conferencemember) == 2)
        conf = a.calls[first.callid]
        assert conf.featuresavailable & F["ADDTOCONF"] and conf.featuresavailable & F["MUTEON"]
        members = {m.connectedparty.number: m.lref for m in conf.conferencemember}
        assert set(members) == {"01707123456", "2002"}
        assert await a.fn(ADDTOCONF, first.callid, arg1="2003") == SUCCESS
        # An invalid number still succeeds: a FAILED member appears (spec: AddToConference).
        assert await a.fn(ADDTOCONF, first.callid, arg1="55") == SUCCESS
        await a.until(lambda l: any(m.state == st.FAILED for m in l.calls[first.callid].conferencemember))
        failed = [m.lref for m in a.calls[first.callid].conferencemember if m.state == st.FAILED][0]
        assert await a.fn(MEMBERFN, first.callid, memberfunctiondata={"lref": failed, "action": 1}) == SUCCESS
        sim.ctl("PATCH", "/users/2004", {"dnd": True}, expect=200)
        assert await a.fn(ADDTOCONF, first.callid, arg1="2004") == TARGETNOTFOUND
        assert await a.fn(MEMBERFN, first.callid, memberfunctiondata={"lref": 99999, "action": 2}) == OTHERNOTFOUND
        assert await a.fn(MEMBERFN, first.callid,
                          memberfunctiondata={"lref": members["2002"], "action": 2}) == SUCCESS
        await a.until(lambda l: any(m.mute for m in l.calls[first.callid].conferencemember))
        assert await a.fn(MUTEON, first.callid) == SUCCESS
        await a.until(lambda l: l.calls[first.callid].mute)
        assert await a.fn(MEMBERFN, first.callid,
                          memberfunctiondata={"lref": members["2002"], "action": 1}) == SUCCESS
        await b.until(lambda l: l.lost)
        await c.close()
    run(body())


def test_park_and_unpark(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        await c.subscribe(requestid=3, subscribe_id=3, parkserver={"ccflags": 1})
        assert (await c.wait_response(3)).result == 0
        p = Line(c, 3)
        ca, gcid = await answered_call(sim, pb, a, "2001")
        assert await a.fn(PARK, ca.callid, arg1="1234567890") == BADFORMATTING
        assert await a.fn(PARK, ca.callid, arg1="1") == SUCCESS
        await a.until(lambda l: ca.callid in l.lost)
        await p.until(lambda l: l.calls)
        pc = only(p.calls)
        assert pc.parkslot == "1" and pc.gcid.hex() == gcid
        # Another call cannot take the same slot.
        again, _ = await answered_call(sim, pb, a, "2001")
        assert await a.fn(PARK, again.callid, arg1="1") == PARKFAILED
        # Unpark by another user, with the application's reference.
        b.rid += 1
        await c.subscribecmd(requestid=b.rid, subscribe_id=2, callcontrol={
            "referencecallid": 321, "unparkcall": {"parkid": "9"}})
        assert (await c.wait_response(b.rid)).result == TARGETNOTFOUND
        b.rid += 1
        await c.subscribecmd(requestid=b.rid, subscribe_id=2, callcontrol={
            "referencecallid": 321, "unparkcall": {"parkid": "1"}})
        assert (await c.wait_response(b.rid)).result == SUCCESS
        await b.until(lambda l: l.calls)
        bc = only(b.calls)
        assert (bc.state, bc.direction, bc.referencecallid) == (st.CONNECTED, st.PICKUP, 321)
        assert bc.gcid.hex() == gcid
        await p.until(lambda l: pc.callid in l.lost)
        await c.close()
    run(body())


def test_tag_account_auth_recording_privacy(sim, pb):

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        ci, _ = await answered_call(sim, pb, a, "2001")
        cid = ci.callid
        assert await a.fn(SETTAG, cid, arg1="x" * 200) == SUCCESS      # truncated, not refused
        await a.until(lambda l: len(l.calls[cid].tag) == 127)
        assert await a.fn(SETACCT, cid, arg1="9999") == BADACCT
        assert await a.fn(SETACCT, cid, arg1="1" * 16) == BADFORMATTING
        assert await a.fn(SETACCT, cid, arg1="1001") == SUCCESS
        await a.until(lambda l: l.calls[cid].accountcode == "1001")
        assert await a.fn(SETAUTH, cid, arg1="1234") == BADAUTH
        assert await a.fn(SETAUTH, cid, arg1="9001") == SUCCESS
        assert await a.fn(RECON, cid) == SUCCESS
        await a.until(lambda l: l.calls[cid].recording)
        assert a.calls[cid].featuresavailable & F["RECOFF"]
        assert await a.fn(RECON, cid) == INVALIDCALLSTATE
        assert await a.fn(PRIVON, cid) == SUCCESS
        await a.until(lambda l: l.calls[cid].calldata.privacy)
        assert await a.fn(MUTEON, cid) == INVALIDCALLSTATE              # not a conference
        assert await a.fn(EC500, cid) == INVALIDCALLSTATE               # no twinning
        assert await a.fn(FORCECLEAR, cid) == SUCCESS
        await a.until(lambda l: cid in l.lost)
        await c.close()
    run(body())


def test_queue_actions(sim, pb):

    async def body():
        c = await sim.client(pb)
        q = await queue_line(sim, pb, c, "5001", 1)
        sim.ctl("POST", "/trunk/call", {"to": "5001"}, expect=200)
        await q.until(lambda l: l.calls)
        cid = only(q.calls).callid
        assert await q.fn(PRIORITY, cid, arg1="4") == BADFORMATTING
        assert await q.fn(PRIORITY, cid, arg1="3") == SUCCESS
        await q.until(lambda l: l.calls[cid].queueinfo.priority == 3)
        assert await q.fn(ANSWER, cid) == UNSUPPORTED                    # user only
        assert await q.fn(SETAUTH, cid, arg1="9001") == UNSUPPORTED
        assert await q.fn(BLIND, cid, arg1="2009") == SUCCESS           # still followed here
        await q.until(lambda l: [t.partyinfo.number for t in l.calls[cid].targets.target] == ["2009"])
        assert await q.fn(DROP, cid) == SUCCESS
        await q.until(lambda l: cid in l.lost)
        await c.close()
    run(body())


def test_makecall_advanced_options(sim, pb):
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        d = await user_line(sim, pb, c, "2003", 3)
        assert await a.make("2002", 11, advanced={"accountcode": "1002", "authcode": "9002",
                                                  "tag": "vip", "explicitcli": "5550100",
                                                  "privacy": True}) == SUCCESS
        await b.until(lambda l: l.calls)
        cb = only(b.calls)
        assert cb.callingparty.number == "5550100" and cb.tag == "vip"
        assert cb.accountcode == "1002"
        await a.until(lambda l: l.calls)
        ca = only(a.calls)
        assert (ca.referencecallid, ca.tag, ca.accountcode) == (11, "vip", "1002")
        assert await a.make("2003", 12, advanced={"withholdcli": True}) == SUCCESS
        await d.until(lambda l: l.calls)
        cd = only(d.calls)
        assert cd.callingparty.withheld and cd.callingparty.number == ""
        await c.close()
    run(body())


def test_forwarding_and_no_answer_to_voicemail(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2012", {"fwdu": True, "fwdunumber": "2013"}, expect=200)
    sim.ctl("PATCH", "/users/2014", {"noanswertime": 1}, expect=200)

    async def body():
        c = await sim.client(pb)
        f = await user_line(sim, pb, c, "2013", 1)
        n = await user_line(sim, pb, c, "2014", 2)
        sim.ctl("POST", "/trunk/call", {"to": "2012"}, expect=200)
        await f.until(lambda l: l.calls)
        ci = only(f.calls)
        assert ci.state == st.RINGING and ci.originalcalledparty.number == "2012"
        _, out = sim.ctl("POST", "/trunk/call", {"to": "2014"}, expect=200)
        await n.until(lambda l: l.calls)
        cid = only(n.calls).callid
        await n.until(lambda l: cid in l.lost, timeout=3)        # rang out to voicemail
        legs = [leg for call in sim.ctl("GET", "/calls")[1]["calls"] if call["gcid"] == out["gcid"]
                for leg in call["legs"]]
        assert ("voicemail", "CONNECTED") in [(x["line"], x["state"]) for x in legs]
        await c.close()
    run(body())


def test_ec500_and_agent_recording(sim, pb):
    sim.ctl("PATCH", "/users/2015", {"ec500": True}, expect=200)

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2015", 1)
        ci, _ = await answered_call(sim, pb, a, "2015")
        cid = ci.callid
        assert a.calls[cid].featuresavailable & F["EC500"]
        assert await a.fn(32, cid) == BADFORMATTING                       # no agentrecording
        assert await a.fn(32, cid, agentrecording={"pause": True}) == SUCCESS
        await a.until(lambda l: l.calls[cid].recordingpaused)
        assert await a.fn(EC500, cid) == SUCCESS
        await a.until(lambda l: cid in l.lost)
        legs = sim.ctl("GET", "/calls")[1]["calls"][0]["legs"]
        assert [x["line"] for x in legs] == ["trunk", "trunk"]           # caller and the mobile
        await c.close()
    run(body())


def test_queue_voicemail_after_voicemailtime(sim, pb):
    st = pb.CallInfo
    members = [m["extn"] for m in sim.queue("5003")["members"]]
    for m in members:
        sim.ctl("PATCH", f"/users/{m}", {"dnd": True}, expect=200)
    sim.ctl("PATCH", "/queues/5003", {"voicemail": True, "voicemailtime": 1}, expect=200)

    async def body():
        c = await sim.client(pb)
        q = await queue_line(sim, pb, c, "5003", 1)
        sim.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        await q.until(lambda l: l.calls and only(l.calls).state == st.QUEUEING)
        cid = only(q.calls).callid
        await q.until(lambda l: l.state(cid) == st.ANSWEREDBYVOICEMAIL, timeout=3)
        assert q.calls[cid].connectedparty.number == "VM:5003"
        await c.close()
    run(body())


def test_queue_transfer_reported_on_first_queue_until_finish(sim, pb):
    async def body():
        c = await sim.client(pb)
        a = await queue_line(sim, pb, c, "5001", 1, ccflags=0x41)
        b = await queue_line(sim, pb, c, "5002", 2, ccflags=1)
        _, out = sim.ctl("POST", "/trunk/call", {"to": "5001"}, expect=200)
        await a.until(lambda l: l.calls)
        cid = only(a.calls).callid
        assert await a.fn(BLIND, cid, arg1="5002") == SUCCESS
        # Still reported on 5001, whose view now names the queue the call is in.
        await a.until(lambda l: l.calls[cid].queueinfo.number == "5002")
        await c.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.subscribe_id == 2)
        assert await a.fn(FINISH, cid, arg1="1") == SUCCESS
        await a.until(lambda l: cid in l.lost)
        await b.until(lambda l: l.calls)
        assert only(b.calls).gcid.hex() == out["gcid"]
        await c.close()
    run(body())


def test_ccflags_select_callinfo_detail(sim, pb):
    """A field appears only when a ccflags bit asks for it."""
    async def body():
        c = await sim.client(pb)
        bare = await queue_line(sim, pb, c, "5001", 1, ccflags=0x1)
        full = await queue_line(sim, pb, c, "5001", 2, ccflags=0x4E0FF)
        sim.ctl("POST", "/trunk/call", {"to": "5001"}, expect=200)
        await bare.until(lambda l: l.calls)
        await full.until(lambda l: l.calls)
        b, f = only(bare.calls), only(full.calls)
        for field in ("remoteinfo", "trunkinfo", "queueinfo", "calldata", "targets", "ucid"):
            assert not b.HasField(field), field
            assert f.HasField(field), field
        assert not b.localinfo and not f.localinfo      # a queue line has no device of its own
        assert b.callingparty.number == f.callingparty.number and b.state == f.state
        await c.close()
    run(body())


def test_pots_phone_cannot_be_answered_by_cti(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2016", {"pots": True}, expect=200)

    async def body():
        c = await sim.client(pb)
        u = await user_line(sim, pb, c, "2016", 1)
        sim.ctl("POST", "/trunk/call", {"to": "2016"}, expect=200)
        await u.until(lambda l: l.calls)
        ci = only(u.calls)
        assert ci.state == st.RINGING and ci.featuresavailable == F["DROP"] | F["REDIRECT"]
        assert await u.fn(ANSWER, ci.callid) == 610            # CANTBEDONE
        sim.ctl("POST", "/phone/2016/answer", {}, expect=200)  # the person lifts the handset
        await u.until(lambda l: l.state(ci.callid) == st.CONNECTED)
        await c.close()
    run(body())


def test_waiting_queue_call_is_not_renotified(sim, pb):
    """A call waiting with nobody free is reported once, not again on every
    distribution attempt; the next Notify is the one that says something new."""
    st = pb.CallInfo
    members = [m["extn"] for m in sim.queue("5003")["members"]]
    for m in members:
        sim.ctl("PATCH", f"/users/{m}", {"dnd": True}, expect=200)

    async def body():
        c = await sim.client(pb)
        q = await queue_line(sim, pb, c, "5003", 1)
        sim.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        cc = await q.cc()
        assert [ci.state for ci in cc.callinfo] == [st.QUEUEING]
        cid = cc.callinfo[0].callid
        # Distribution is retried every 250 ms: 1.3 s of retries, not one Notify.
        await c.expect_silence(1.3, lambda m: m.WhichOneof("payload") == "notify")
        sim.ctl("PATCH", f"/users/{members[0]}", {"dnd": False}, expect=200)
        cc = await q.cc(timeout=2)
        assert [(ci.callid, ci.state) for ci in cc.callinfo] == [(cid, st.RINGING)]
        await c.close()
    run(body())


def test_unchanged_leg_is_not_renotified(sim, pb):
    """An action that changes nothing a subscription shows (the auth code is
    not part of CallInfo) sends no Notify."""
    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        ci, _ = await answered_call(sim, pb, a, "2001")
        assert await a.fn(SETAUTH, ci.callid, arg1="9001") == SUCCESS
        await c.expect_silence(0.5, lambda m: m.WhichOneof("payload") == "notify")
        assert await a.fn(SETTAG, ci.callid, arg1="seen") == SUCCESS
        cc = await a.cc()
        assert [(x.callid, x.tag) for x in cc.callinfo] == [(ci.callid, "seen")]
        await c.close()
    run(body())


def test_agent_leg_of_queue_call_names_the_queue(sim, pb):
    """The ringing agent sees the queue as the original called party."""
    st = pb.CallInfo
    queue = sim.queue("5001")
    agent = queue["members"][0]["extn"]

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, agent, 1)
        sim.ctl("POST", "/trunk/call", {"to": "5001", "from": "0123456"}, expect=200)
        await a.until(lambda l: l.calls)
        ci = only(a.calls)
        assert ci.state == st.RINGING
        oc = ci.originalcalledparty
        assert (oc.number, oc.name, oc.nametype, oc.withheld) == ("5001", queue["name"], 5, False)
        assert (ci.callingparty.number, ci.callingparty.withheld) == ("0123456", False)
        await c.close()
    run(body())


async def parked_call(sim, pb, c, line, park, extn, slot):
    """A trunk call answered at extn and parked in slot: (the park leg's CallInfo, gcid)."""
    ci, gcid = await answered_call(sim, pb, line, extn)
    assert await line.fn(PARK, ci.callid, arg1=slot) == SUCCESS
    await line.until(lambda l: ci.callid in l.lost)
    await park.until(lambda l: any(x.parkslot == slot for x in l.calls.values()))
    return [x for x in park.calls.values() if x.parkslot == slot][0], gcid


def test_park_server_line_actions(sim, pb):
    """The spec's Line types name the park server for DropCall, BlindTransfer,
    SetTag and ForceClear: offered there, and they act on the parked call."""
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, "2001", 1)
        b = await user_line(sim, pb, c, "2002", 2)
        await c.subscribe(requestid=3, subscribe_id=3, parkserver={"ccflags": 1})
        assert (await c.wait_response(3)).result == SUCCESS
        p = Line(c, 3)
        pc, gcid = await parked_call(sim, pb, c, a, p, "2001", "1")
        assert (pc.state, pc.parkslot, pc.gcid.hex()) == (st.ONHOLD, "1", gcid)
        assert pc.featuresavailable == F["DROP"] | F["BLINDXFER"] | F["TAG"] | F["FORCECLEAR"]
        for action in (HOLD, ANSWER, PARK, SETACCT, REDIRECT):
            assert await p.fn(action, pc.callid, arg1="1") == UNSUPPORTED, action
        # SetTag: on the parked call.
        assert await p.fn(SETTAG, pc.callid, arg1="parked vip") == SUCCESS
        await p.until(lambda l: l.calls[pc.callid].tag == "parked vip")
        # BlindTransfer: the parked call goes to 2002 and leaves the slot.
        assert await p.fn(BLIND, pc.callid, arg1="7777") == TRANSFERFAILED
        assert await p.fn(BLIND, pc.callid, arg1="2002") == SUCCESS
        await p.until(lambda l: pc.callid in l.lost)
        assert p.lost[pc.callid].thisenddropped
        await b.until(lambda l: l.calls)
        bc = only(b.calls)
        assert (bc.state, bc.gcid.hex(), bc.callingparty.number, bc.tag) == (
            st.RINGING, gcid, "01707123456", "parked vip")
        sim.ctl("POST", "/calls/clear", {}, expect=200)
        await b.until(lambda l: not l.calls)
        # DropCall: the parked call is dropped, caller and all.
        pc, gcid = await parked_call(sim, pb, c, a, p, "2001", "2")
        assert await p.fn(DROP, pc.callid) == SUCCESS
        await p.until(lambda l: pc.callid in l.lost)
        assert p.lost[pc.callid].thisenddropped and sim.ctl("GET", "/calls")[1]["calls"] == []
        # ForceClear: likewise.
        pc, gcid = await parked_call(sim, pb, c, a, p, "2001", "3")
        assert await p.fn(FORCECLEAR, pc.callid) == SUCCESS
        await p.until(lambda l: pc.callid in l.lost)
        assert sim.ctl("GET", "/calls")[1]["calls"] == []
        assert await p.fn(DROP, pc.callid) == NOTFOUND
        await c.close()
    run(body())
