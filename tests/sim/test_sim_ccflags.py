"""CallInfo detail by ccflags: every bit the simulator renders, on and off,
with exact values (the spec's ccflags tables for users and queues)."""
from simlib import run
from test_sim_calls import answered_call, only, queue_line, user_line

PRIMARY, DEVICES, SIMULTARGETS, CONFERENCE, DIALINFO = 0x1, 0x2, 0x4, 0x8, 0x10
TRUNK, QUEUE, CALLDATA, CONFMEMBERS = 0x20, 0x40, 0x80, 0x100
NOTES, UCID, PINTRINSICS, TARGETS = 0x2000, 0x4000, 0x8000, 0x40000


def fields(ci):
    return {f.name for f, _ in ci.ListFields()}


def test_each_queue_ccflags_bit_adds_exactly_its_field(sim, pb):
    st = pb.CallInfo
    queue = sim.queue("5001")
    members = [m["extn"] for m in queue["members"]]
    bits = {DEVICES: {"remoteinfo"}, TRUNK: {"trunkinfo"}, QUEUE: {"queueinfo"},
            CALLDATA: {"calldata"}, NOTES: {"notes"}, UCID: {"ucid"},
            PINTRINSICS: {"pintrinsics"}, TARGETS: {"targets"}}

    async def body():
        c = await sim.client(pb)
        base = await queue_line(sim, pb, c, "5001", 1, ccflags=PRIMARY)
        lines = {bit: await queue_line(sim, pb, c, "5001", 10 + i, ccflags=PRIMARY | bit)
                 for i, bit in enumerate(bits)}
        _, out = sim.ctl("POST", "/trunk/call", {
            "to": "5001", "from": "0123", "name": "Ann", "did": "01707120000", "trunktype": 2,
            "ucid": "00015a5a0000beef", "pintrinsics": "cpc=normal"}, expect=200)
        sim.ctl("POST", "/calls/notes", {"gcid": out["gcid"], "notes": "VIP"}, expect=200)
        for line in [base, *lines.values()]:
            await line.until(lambda l: l.calls and only(l.calls).state == st.RINGING)
        for bit, line in lines.items():
            await line.until(lambda l: bit != NOTES or only(l.calls).notes.notes == "VIP")
        b = only(base.calls)
        assert fields(b) == {"callid", "state", "direction", "gcid", "featuresavailable",
                             "callingparty"}
        assert (b.callingparty.number, b.callingparty.name, b.callingparty.nametype) == (
            "0123", "Ann", 9)
        for bit, line in lines.items():
            ci = only(line.calls)
            assert fields(ci) - fields(b) == bits[bit], hex(bit)
            assert (ci.callid, ci.state, ci.callingparty) == (b.callid, b.state, b.callingparty)
        got = {bit: only(line.calls) for bit, line in lines.items()}
        r = got[DEVICES].remoteinfo
        assert (r.gcid.hex(), r.deviceclass, r.devicetype, r.deviceinstance, r.teleworker) == (
            out["gcid"], 2, 2, 1, "")
        assert not got[DEVICES].localinfo                      # a queue has no device
        assert (got[TRUNK].trunkinfo.trunktype, got[TRUNK].trunkinfo.did) == (2, "01707120000")
        q = got[QUEUE].queueinfo
        assert (q.number, q.name, q.priority) == ("5001", queue["name"], 1)
        assert (got[CALLDATA].calldata.language, got[CALLDATA].calldata.privacy) == ("eng", False)
        assert got[NOTES].notes.notes == "VIP"
        assert got[UCID].ucid.ucid.hex() == "00015a5a0000beef"
        assert got[PINTRINSICS].pintrinsics.pintrinsics == b"cpc=normal"
        assert sorted(t.partyinfo.number for t in got[TARGETS].targets.target) == sorted(
            m for m in members)
        calls = sim.ctl("GET", "/calls")[1]["calls"]
        assert (calls[0]["ucid"], calls[0]["notes"]) == ("00015a5a0000beef", "VIP")
        await c.close()
    run(body())


def test_user_ccflags_devices_dialinfo_simultargets_conference(sim, pb):
    st = pb.CallInfo
    sim.ctl("PATCH", "/users/2004", {"ec500": True, "mobile": "07700900123"}, expect=200)

    async def body():
        c = await sim.client(pb)
        bare = await user_line(sim, pb, c, "2004", 1, ccflags=PRIMARY)
        dev = await user_line(sim, pb, c, "2004", 2, ccflags=PRIMARY | DEVICES)
        sim_ = await user_line(sim, pb, c, "2004", 3, ccflags=PRIMARY | SIMULTARGETS)
        dial = await user_line(sim, pb, c, "2001", 4, ccflags=PRIMARY | DIALINFO)
        plain = await user_line(sim, pb, c, "2001", 5, ccflags=PRIMARY)
        _, out = sim.ctl("POST", "/trunk/call", {"to": "2004", "from": "0999"}, expect=200)
        for line in (bare, dev, sim_):
            await line.until(lambda l: l.calls)
        b, d, s = only(bare.calls), only(dev.calls), only(sim_.calls)
        assert fields(d) - fields(b) == {"remoteinfo", "localinfo"}
        assert [(x.deviceclass, x.devicetype, x.deviceinstance) for x in d.localinfo] == [
            (1, 1, 2004), (2, 4, 1)]                           # the desk, the twinned mobile
        assert (d.remoteinfo.deviceclass, d.remoteinfo.devicetype) == (2, 1)   # a SIP trunk
        assert fields(s) - fields(b) == {"targets"}
        assert [(t.partyinfo.number, t.partyinfo.nametype) for t in s.targets.target] == [
            ("07700900123", 9)]
        # UCID made up by the simulator: node 0001, a sequence, a time; the same on every leg.
        calls = sim.ctl("GET", "/calls")[1]["calls"]
        assert len(calls[0]["ucid"]) == 16 and calls[0]["ucid"].startswith("0001")
        # Dial info on an outbound call, only with its bit.
        assert await dial.make("2006", 77) == 0
        await dial.until(lambda l: l.calls)
        await plain.until(lambda l: l.calls)
        di = only(dial.calls).dialinfo
        assert (di.number, di.complete, di.withholdcli) == ("2006", True, False)
        assert not only(plain.calls).HasField("dialinfo")
        await c.close()
    run(body())


def test_conference_bits(sim, pb):
    """CONFERENCE (0x8) on user lines, CONFMEMBERS (0x100) on queue lines."""
    st = pb.CallInfo
    agent = sim.queue("5002")["members"][0]["extn"]

    async def body():
        c = await sim.client(pb)
        a = await user_line(sim, pb, c, agent, 1, ccflags=PRIMARY | CONFERENCE)
        a0 = await user_line(sim, pb, c, agent, 2, ccflags=PRIMARY)
        qm = await queue_line(sim, pb, c, "5002", 3, ccflags=PRIMARY | CONFMEMBERS)
        q0 = await queue_line(sim, pb, c, "5002", 4, ccflags=PRIMARY)
        sim.ctl("POST", "/trunk/call", {"to": "5002", "from": "0444"}, expect=200)
        sim.ctl("POST", f"/phone/{agent}/answer", {}, expect=200)
        await a.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED)
        assert await a.fn(13, only(a.calls).callid, arg1="2019") == 609      # not a conference yet
        # Conference the call with 2019 (SetupConf, answer, CompleteConf).
        assert await a.fn(10, only(a.calls).callid, arg1="2019") == 0
        sim.ctl("POST", "/phone/2019/answer", {}, expect=200)
        await a.until(lambda l: len(l.calls) == 2 and all(x.state in (st.CONNECTED, st.ONHOLDPENDCONF)
                                                          for x in l.calls.values()))
        asst = [x for x in a.calls.values() if x.state == st.CONNECTED][0]
        assert await a.fn(12, asst.callid) == 0
        await a.until(lambda l: len(l.calls) == 1 and len(only(l.calls).conferencemember) == 2)
        assert sorted(m.connectedparty.number for m in only(a.calls).conferencemember) == [
            "0444", "2019"]
        await qm.until(lambda l: l.calls and len(only(l.calls).conferencemember) == 3)
        assert sorted(m.connectedparty.number for m in only(qm.calls).conferencemember) == sorted(
            ["0444", "2019", agent])
        await a0.until(lambda l: len(l.calls) == 1)
        await q0.until(lambda l: l.calls)
        assert not only(a0.calls).conferencemember and not only(q0.calls).conferencemember
        await c.close()
    run(body())
