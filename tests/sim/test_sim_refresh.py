"""A refresh, on request of the control API: refreshinstance goes up by one
and every subscription resends its whole state (user and queue records,
every call even unchanged, an empty call list too, presence in full); the
RefreshWrapper Notify closing the round carries the new number."""
from simlib import guid_bytes, run

SUCCESS = 0


def test_refresh_resends_everything_with_a_new_refreshinstance(sim, pb):
    st = pb.CallInfo
    for m in sim.queue("5003")["members"]:
        sim.ctl("PATCH", f"/users/{m['extn']}", {"dnd": True}, expect=200)

    async def sub(c, sid, **payload):
        await c.subscribe(requestid=sid, subscribe_id=sid, timeout=3600, **payload)
        assert (await c.wait_response(sid)).result == SUCCESS

    async def body():
        c = await sim.client(pb, auto_ack=True)
        await sub(c, 1, refreshwrapper={})
        await sub(c, 2, user={"guid": guid_bytes(sim.user("2001")["guid"]), "flags": 1, "ccflags": 1})
        await sub(c, 3, queue={"guid": guid_bytes(sim.queue("5003")["guid"]), "ccflags": 1})
        await sub(c, 4, presence={"entry": [{"presentity": "2001", "lref": 7},
                                            {"presentity": "2002", "lref": 8}]})
        await sub(c, 5, parkserver={"ccflags": 1})
        await sub(c, 6, user={"guid": guid_bytes(sim.user("2002")["guid"]), "ccflags": 1})
        user1 = await c.wait_notify(2, "user")
        await c.wait_notify(3, "queue")
        await c.wait_notify(4, "presence")
        await c.wait_notify(6, "user")
        sim.ctl("POST", "/trunk/call", {"to": "2001"}, expect=200)
        sim.ctl("POST", "/phone/2001/answer", {}, expect=200)
        sim.ctl("POST", "/trunk/call", {"to": "5003"}, expect=200)
        last = {}
        while set(last) != {2, 3} or last[2].state != st.CONNECTED:
            n = await c.wait_notify(kind="callcontrol")
            assert n.callcontrol.refreshinstance == 1
            last[n.subscribe_id] = n.callcontrol.callinfo[-1]
        await c.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify"
                               and m.notify.WhichOneof("payload") != "refreshwrapper")
        c.drain()                               # what came before the refresh

        _, out = sim.ctl("POST", "/refresh", {}, expect=200)
        assert out == {"refreshed": 5, "refreshinstance": {"primary": 2}}
        assert (await c.wait_notify(2, "user")).user == user1.user
        await c.wait_notify(3, "queue")
        await c.wait_notify(6, "user")
        p = (await c.wait_notify(4, "presence")).presence
        assert (p.full, sorted(e.lref for e in p.entry)) == (1, [7, 8])
        for sid in (2, 3):
            cc = (await c.wait_notify(sid, "callcontrol")).callcontrol
            assert (cc.refreshinstance, list(cc.callinfo), list(cc.calllost)) == (2, [last[sid]], [])
        for sid in (5, 6):                                       # no calls: an empty list
            cc = (await c.wait_notify(sid, "callcontrol")).callcontrol
            assert (cc.refreshinstance, len(cc.callinfo), len(cc.calllost)) == (2, 0, 0)
        wrappers = [m.notify.refreshwrapper.dummy for m in c.received
                    if m.WhichOneof("payload") == "notify"
                    and m.notify.WhichOneof("payload") == "refreshwrapper"]
        assert wrappers[0] == 1 and wrappers[-1] == 2 and sorted(wrappers) == wrappers
        # Changes after it carry the new number.
        sim.ctl("POST", "/phone/2001/hangup", {}, expect=200)
        cc = (await c.wait_notify(2, "callcontrol")).callcontrol
        assert (cc.refreshinstance, [x.callid for x in cc.calllost]) == (2, [last[2].callid])
        await c.close()
    run(body())


def test_refresh_of_one_system_of_a_pair(sim_factory, pb):
    pair = sim_factory("--users", "5", "--queues", "1", "--secondary", "127.0.0.1:0")

    async def body():
        s = await pair.client(pb, "secondary", auto_ack=True)
        await s.subscribe(requestid=1, subscribe_id=1,
                          user={"guid": guid_bytes(pair.user("2001")["guid"]), "ccflags": 1})
        assert (await s.wait_response(1)).result == SUCCESS
        await s.wait_notify(1, "user")
        _, out = pair.ctl("POST", "/refresh", {"system": "primary"}, expect=200)
        assert out == {"refreshed": 0, "refreshinstance": {"primary": 2, "secondary": 1}}
        await s.expect_silence(0.3)
        _, out = pair.ctl("POST", "/refresh", {"system": "secondary"}, expect=200)
        assert out == {"refreshed": 1, "refreshinstance": {"primary": 2, "secondary": 2}}
        await s.wait_notify(1, "user")
        assert (await s.wait_notify(1, "callcontrol")).callcontrol.refreshinstance == 2
        assert pair.ctl("POST", "/refresh", {"system": "tertiary"}) == (
            404, {"error": "no system tertiary"})
        await s.close()
    run(body())
