"""User and queue commands (UpdateUser, UpdateQueue) change the model and
cause the Notifies a real system would send; GeneralCmd answers from the
model."""
from simlib import guid_bytes, run

SUCCESS, NOTFOUND, USERNOTFOUND, NOTALLOWED = 0, 4, 7, 9
GENCMD_INVALID, GENCMD_MISSING = 151, 152
INVALID_PAYLOAD, INVALID_CONTEXT = 5002, 5003


async def user_sub(sim, c, extn, sid, flags=0xF):
    await c.subscribe(requestid=sid, subscribe_id=sid,
                      user={"guid": guid_bytes(sim.user(extn)["guid"]), "flags": flags})
    assert (await c.wait_response(sid)).result == SUCCESS
    return (await c.wait_notify(sid, "user", ack=True)).user


async def update(c, sid, rid, **user):
    await c.subscribecmd(requestid=rid, subscribe_id=sid, user=user)
    return (await c.wait_response(rid)).result


def test_update_user(sim, pb):
    async def body():
        c = await sim.client(pb)
        await user_sub(sim, c, "2001", 1)
        assert await update(c, 1, 10, sac={"set": 1}) == SUCCESS
        assert (await c.wait_notify(1, "user", ack=True)).user.dnd
        assert await update(c, 1, 11, sac={"set": 0}) == SUCCESS
        assert not (await c.wait_notify(1, "user", ack=True)).user.dnd
        assert await update(c, 1, 12, absence={"set": 1, "absence": {"msg": 11, "str": "x" * 30}}) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert n.absence.msg == 11 and n.absence.str == "x" * 21        # spec: max 21
        assert await update(c, 1, 13, ec500={"set": 1}) == SUCCESS
        assert (await c.wait_notify(1, "user", ack=True)).user.ec500
        # The spec's mailbox trick: short code 70, ";new,old,saved".
        assert await update(c, 1, 14, shortcodedata=[{"code": 70, "val": ";3,0,0"}]) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert (n.mailbox.newmessages, n.mailbox.oldmessages) == (3, 0)
        assert await update(c, 1, 15, shortcodedata=[{"code": 6, "val": "2002"},
                                                     {"code": 0}]) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert n.fwdu and n.fwdunumber == "2002"
        assert await update(c, 1, 16, shortcodedata=[{"code": 1}, {"code": 18}, {"code": 7}]) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert not n.fwdu and not n.voicemail and n.dnd
        assert await update(c, 1, 17, shortcodedata=[{"code": 109, "val": "1,3,Friday"}]) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert (n.absence.msg, n.absence.str) == (3, "Friday")
        assert await update(c, 1, 18, shortcodedata=[{"code": 999}]) == INVALID_PAYLOAD
        assert await update(c, 1, 19, shortcodedata=[{"code": 70, "val": "3,0"}]) == INVALID_PAYLOAD
        assert await update(c, 1, 20, fwdu={"set": True, "fwdu_number": "2005", "fwdtovm": False}) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert n.fwdu and n.fwdunumber == "2005"
        assert await update(c, 1, 21, app={"value": "In a meeting"}) == SUCCESS
        assert (await c.wait_notify(1, "user", ack=True)).user.app == "In a meeting"
        # Hot desking: log off, log in elsewhere (whoever was there is logged off).
        assert await update(c, 1, 22, loginextn={"extn": ""}) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert n.loggedoff and n.loggedinextn == ""
        await user_sub(sim, c, "2002", 2)
        assert await update(c, 1, 23, loginextn={"extn": "2002"}) == SUCCESS
        assert (await c.wait_notify(1, "user", ack=True)).user.loggedinextn == "2002"
        assert (await c.wait_notify(2, "user", ack=True)).user.loggedoff
        assert await update(c, 1, 24) == INVALID_PAYLOAD                    # nothing asked
        await c.close()
    run(body())


def test_user_features_gate_commands(sim, pb):
    sim.ctl("PATCH", "/users/2003", {"featuresavailable": 1}, expect=200)

    async def body():
        c = await sim.client(pb)
        n = await user_sub(sim, c, "2003", 1)
        assert n.featuresavailable == 1
        assert await update(c, 1, 10, sac={"set": 1}) == NOTALLOWED
        assert await update(c, 1, 11, shortcodedata=[{"code": 7}]) == NOTALLOWED
        await c.close()
    run(body())


def test_update_queue(sim, pb):
    q = sim.queue("5001")

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, queue={"guid": guid_bytes(q["guid"]), "flags": 2})
        await c.wait_notify(1, "queue", ack=True)

        async def uq(rid, **kw):
            await c.subscribecmd(requestid=rid, subscribe_id=1, queue=kw)
            return (await c.wait_response(rid)).result
        assert await uq(2, setservicemode={"servicemode": 3}) == SUCCESS
        assert (await c.wait_notify(1, "queue", ack=True)).queue.servicemode == 3
        assert await uq(3, setvoicemail={"enabled": True}) == SUCCESS
        assert (await c.wait_notify(1, "queue", ack=True)).queue.voicemail
        assert await uq(4, members={"member": [{"extn": "2002"}, {"extn": "2003"}]}) == SUCCESS
        n = (await c.wait_notify(1, "queue", ack=True)).queue
        assert [(m.extn, m.disabled) for m in n.queuemembers.member] == [("2002", False), ("2003", False)]
        assert await uq(5, addmember=[{"extn": "2004"}, {"extn": "2002", "disabled": True}]) == SUCCESS
        n = (await c.wait_notify(1, "queue", ack=True)).queue
        assert [(m.extn, m.disabled) for m in n.queuemembers.member] == [
            ("2002", True), ("2003", False), ("2004", False)]
        assert await uq(6, deletemember=[{"extn": "2003"}]) == SUCCESS
        n = (await c.wait_notify(1, "queue", ack=True)).queue
        assert [m.extn for m in n.queuemembers.member] == ["2002", "2004"]
        assert await uq(7, addmember=[{"extn": "9999"}]) == USERNOTFOUND
        assert await uq(8, deletemember=[{"extn": "2010"}]) == NOTFOUND
        # Out of service: trunk calls to the queue are refused.
        status, _ = sim.ctl("POST", "/trunk/call", {"to": "5001"})
        assert status == 409
        # A user command on a queue subscription has no context.
        await c.subscribecmd(requestid=9, subscribe_id=1, user={"sac": {"set": 1}})
        assert (await c.wait_response(9)).result == INVALID_CONTEXT
        await c.close()
    run(body())


def test_general_commands(sim, pb):
    async def body():
        c = await sim.client(pb)
        await c.generalcmd(requestid=3000, getversioninfo=True)
        gd = await c.wait_kind("generaldata")
        assert gd.responseid == 3000 and gd.versioninfo.startswith("IP Office ")
        await c.generalcmd(requestid=3001, getfile={"cmdinst": 4, "fname": "nasystem/AccountCode"})
        gd = await c.wait_kind("generaldata")
        assert gd.responseid == 3001 and gd.getfile.cmdinst == 4 and gd.getfile.result == 0
        assert gd.getfile.payload.decode().split() == sim.model()["accountcodes"]
        await c.generalcmd(requestid=3002, getfile={"fname": "nasystem/Other"})
        gd = await c.wait_kind("generaldata")
        assert gd.getfile.result == NOTFOUND
        await c.generalcmd(requestid=3003, getfile={"cmdinst": 1})
        assert (await c.wait_response(3003)).result == GENCMD_MISSING
        await c.generalcmd(requestid=3004)
        assert (await c.wait_response(3004)).result == GENCMD_INVALID
        # Without a requestid the same mistakes get no RequestResponse at all
        # (spec: one is sent only when the request carries a requestid).
        seen = len(c.received)
        await c.generalcmd(getfile={"cmdinst": 1})
        await c.generalcmd()
        await c.generalcmd(requestid=3005, getversioninfo=True)
        assert (await c.wait_kind("generaldata")).responseid == 3005
        assert [m.WhichOneof("payload") for m in c.received[seen:]] == ["generaldata"]
        await c.close()
    run(body())


def test_shortcode_on_behalf_of_another_user(sim, pb):
    """ShortCodeData.onbehalf: the short code acts for the user it names."""
    async def body():
        c = await sim.client(pb)
        await user_sub(sim, c, "2001", 1)
        await user_sub(sim, c, "2002", 2)
        assert await update(c, 1, 10, shortcodedata=[{"code": 7, "onbehalf": "2002"}]) == SUCCESS
        n = await c.wait_notify(2, "user", ack=True)
        assert (n.user.extn, n.user.dnd) == ("2002", True)
        await c.expect_silence(0.3, lambda m: m.WhichOneof("payload") == "notify")
        assert not [m for m in c.received if m.WhichOneof("payload") == "notify"
                    and m.notify.subscribe_id == 1 and m.notify.notify_id > 1]
        assert (sim.user("2001")["dnd"], sim.user("2002")["dnd"]) == (False, True)
        # By name too; and its own short codes in the same command.
        name = sim.user("2002")["name"]
        assert await update(c, 1, 11, shortcodedata=[{"code": 8, "onbehalf": name},
                                                     {"code": 0}, {"code": 6, "val": "2003"}]) == SUCCESS
        assert not (await c.wait_notify(2, "user", ack=True)).user.dnd
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert (n.fwdu, n.fwdunumber) == (True, "2003")
        # All or nothing: an unknown user, or a bad code later, changes no one.
        assert await update(c, 1, 12, shortcodedata=[{"code": 7, "onbehalf": "9999"}]) == USERNOTFOUND
        assert await update(c, 1, 13, shortcodedata=[{"code": 7, "onbehalf": "2002"},
                                                     {"code": 999}]) == INVALID_PAYLOAD
        await c.expect_silence(0.3, lambda m: m.WhichOneof("payload") == "notify")
        assert sim.user("2002")["dnd"] is False
        await c.close()
    run(body())


def test_hot_desk_login_as_a_teleworker(sim, pb):
    """UpdateUserLoginExtn.teleworkerconnection: the user is logged in with
    calls delivered to a remote number (its phone answers after --ring-ms,
    at once with holdlineopen); testconnection checks the number first."""
    from test_sim_calls import Line, only
    st = pb.CallInfo

    async def body():
        c = await sim.client(pb)
        await user_sub(sim, c, "2005", 1)
        tw = {"number": "901707555000", "testconnection": 1}
        assert await update(c, 1, 10, loginextn={"extn": "2005", "teleworkerconnection":
                                                 {"number": "12", "testconnection": 1}}) == 5000
        assert await update(c, 1, 11, loginextn={"extn": "2005", "teleworkerconnection":
                                                 {"number": "9x"}}) == INVALID_PAYLOAD
        assert await update(c, 1, 12, loginextn={"extn": "", "teleworkerconnection": tw}) == INVALID_PAYLOAD
        assert await update(c, 1, 13, loginextn={"extn": "2005", "teleworkerconnection": tw}) == SUCCESS
        n = (await c.wait_notify(1, "user", ack=True)).user
        assert (n.loggedinextn, n.loggedoff) == ("2005", False)   # NotifyUser has no teleworker field
        u = sim.user("2005")
        assert (u["teleworker"], u["holdlineopen"]) == ("901707555000", False)
        # A call: rings, then the remote phone answers; the local device is the teleworker.
        await c.subscribe(requestid=2, subscribe_id=2,
                          user={"guid": guid_bytes(u["guid"]), "ccflags": 0x3})
        assert (await c.wait_response(2)).result == SUCCESS
        await c.wait_notify(2, "user", ack=True)
        line = Line(c, 2)
        sim.ctl("POST", "/trunk/call", {"to": "2005"}, expect=200)
        await line.until(lambda l: l.calls)
        assert only(line.calls).state == st.RINGING
        await line.until(lambda l: only(l.calls).state == st.CONNECTED, timeout=3)
        local = only(line.calls).localinfo
        assert [(d.deviceclass, d.devicetype, d.deviceinstance, d.teleworker) for d in local] == [
            (1, 3, 2005, "901707555000")]
        sim.ctl("POST", "/calls/clear", {}, expect=200)
        await line.until(lambda l: not l.calls)
        # Hold line open: calls connect at once.
        tw["holdlineopen"] = True
        assert await update(c, 1, 14, loginextn={"extn": "2005", "teleworkerconnection": tw}) == SUCCESS
        await c.wait_notify(2, "user", ack=True)          # a change of the user's record
        sim.ctl("POST", "/trunk/call", {"to": "2005"}, expect=200)
        await line.until(lambda l: l.calls and only(l.calls).state == st.CONNECTED, timeout=2)
        # A desk login again: no teleworker any more.
        assert await update(c, 1, 15, loginextn={"extn": "2005"}) == SUCCESS
        u = sim.user("2005")
        assert (u["teleworker"], u["holdlineopen"]) == ("", False)
        await c.close()
    run(body())


def test_request_log(sim, pb):
    """GET /requests shows each SubscribeCmd and GeneralCmd handled, numbered,
    with its connection, in proto3 JSON; nothing else (subscribes, acks)."""
    async def body():
        _, before = sim.ctl("GET", "/requests", expect=200)
        assert before == {"requests": [], "total": 0}
        c = await sim.client(pb)
        await user_sub(sim, c, "2001", 1)
        assert await update(c, 1, 10, sac={"set": 1}) == SUCCESS
        await c.generalcmd(requestid=11, getversioninfo=True)
        assert (await c.wait_kind("generaldata")).responseid == 11
        _, got = sim.ctl("GET", "/requests", expect=200)
        assert got["total"] == 2
        first, second = got["requests"]
        assert first["seq"] == 1 and second["seq"] == 2
        assert first["system"] == "primary" and first["conn"] == second["conn"]
        assert first["message"] == {"subscribecmd": {"requestid": 10, "subscribe_id": 1, "user": {"sac": {"set": 1}}}}
        assert second["message"] == {"generalcmd": {"requestid": 11, "getversioninfo": True}}
        await c.close()
    run(body())
