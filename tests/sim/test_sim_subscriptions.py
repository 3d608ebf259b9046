"""Subscriptions as the spec states them: Lines, User, Queue, Presence,
ParkServer, RefreshWrapper; RequestResponse only with a requestid; refresh,
expiry, end and termination; one Notify at a time until its NotifyAck, with
changes meanwhile folded into the next snapshot."""
import asyncio

from simlib import guid_bytes, run

SUCCESS, TOOMANY, USERNOTFOUND, NOTFOUND = 0, 5, 7, 4
INVALID, INVALID_ID, TIMEOUT_RANGE = 100, 101, 102


def test_lines_whole_list_then_changes(sim, pb):
    model = sim.model()

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=10, timeout=3600, lines={"flags": 7})
        assert (await c.wait_response(1)).result == SUCCESS
        n = await c.wait_notify(10, "lines", ack=True)
        assert n.notify_id == 1
        assert n.lines.flags & 1                       # park server can be subscribed
        users = {u.extn: u for u in n.lines.adduser}
        assert set(users) == {u["extn"] for u in model["users"]}
        for u in model["users"]:
            assert users[u["extn"]].guid == guid_bytes(u["guid"])
            assert len(users[u["extn"]].guid) == 16
            assert users[u["extn"]].name == u["name"]
        assert [q.extn for q in n.lines.addqueue] == [q["extn"] for q in model["queues"]]
        assert not n.lines.deleteuser and not n.lines.changeuser

        sim.ctl("POST", "/users", {"extn": "2101", "name": "NewUser"}, expect=201)
        n = await c.wait_notify(10, "lines", ack=True)
        assert [(u.extn, u.name) for u in n.lines.adduser] == [("2101", "NewUser")]
        assert n.notify_id == 2
        new_guid = n.lines.adduser[0].guid

        sim.ctl("PATCH", "/users/2101", {"name": "Renamed"}, expect=200)
        n = await c.wait_notify(10, "lines", ack=True)
        assert [(u.guid, u.name) for u in n.lines.changeuser] == [(new_guid, "Renamed")]

        sim.ctl("DELETE", "/users/2101", expect=200)
        n = await c.wait_notify(10, "lines", ack=True)
        assert [u.guid for u in n.lines.deleteuser] == [new_guid]

        sim.ctl("POST", "/queues", {"extn": "5101", "name": "Q2"}, expect=201)
        n = await c.wait_notify(10, "lines", ack=True)
        assert [q.extn for q in n.lines.addqueue] == ["5101"]
        sim.ctl("DELETE", "/queues/5101", expect=200)
        n = await c.wait_notify(10, "lines", ack=True)
        assert [q.extn for q in n.lines.deletequeue] == ["5101"]
        await c.close()
    run(body())


def test_removing_a_record_with_a_change_pending_ends_its_subscriptions(sim, pb):
    """A user or queue removed while its subscription waits for an ack, with a
    change pending: SubscribeTerminated, and nothing more on it."""
    sim.ctl("POST", "/users", {"extn": "2102"}, expect=201)
    sim.ctl("POST", "/queues", {"extn": "5102", "members": [{"extn": "2102"}]}, expect=201)
    user, queue = sim.user("2102"), sim.queue("5102")

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, user={"guid": guid_bytes(user["guid"]),
                                                               "flags": 0xf})
        await c.subscribe(requestid=2, subscribe_id=2, queue={"guid": guid_bytes(queue["guid"]),
                                                                "flags": 3})
        first = [await c.wait_notify(1, "user"), await c.wait_notify(2, "queue")]
        sim.ctl("PATCH", "/users/2102", {"dnd": True}, expect=200)
        sim.ctl("PATCH", "/queues/5102", {"ringmode": 1}, expect=200)
        sim.ctl("DELETE", "/users/2102", expect=200)
        sim.ctl("DELETE", "/queues/5102", expect=200)
        ended = {(await c.wait_kind("subscribeterminated")).subscribe_id for _ in range(2)}
        assert ended == {1, 2}
        for n in first:
            await c.ack(n)
        await c.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify")
        await c.close()
    run(body())


def test_lines_flags_select_users_or_queues(sim, pb):
    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 1})
        n = await c.wait_notify(1, "lines", ack=True)
        assert len(n.lines.adduser) == 20 and not n.lines.addqueue and n.lines.flags == 0
        sim.ctl("POST", "/queues", {"extn": "5101"}, expect=201)
        await c.expect_silence(0.4)
        c2 = await sim.client(pb)
        await c2.subscribe(requestid=1, subscribe_id=1, lines={"flags": 2})
        n = await c2.wait_notify(1, "lines")
        assert not n.lines.adduser and len(n.lines.addqueue) == 4
        await c.close()
        await c2.close()
    run(body())


def test_nothing_before_notifyack_and_changes_fold(sim, pb):
    async def body():
        c = await sim.client(pb)
        await c.subscribe(subscribe_id=3, lines={"flags": 3})      # no requestid
        first = await c.wait_for(lambda m: True)
        assert first.WhichOneof("payload") == "notify"              # no RequestResponse
        n = first.notify
        sim.ctl("POST", "/users", {"extn": "2101", "name": "A"}, expect=201)
        sim.ctl("POST", "/users", {"extn": "2102", "name": "B"}, expect=201)
        sim.ctl("PATCH", "/users/2101", {"name": "A2"}, expect=200)
        sim.ctl("DELETE", "/users/2102", expect=200)                # added and gone: nothing
        sim.ctl("DELETE", "/users/2005", expect=200)
        await c.expect_silence(0.6)                                 # not acked: nothing
        await c.ack(n)
        n2 = await c.wait_notify(3, "lines")
        assert n2.notify_id == n.notify_id + 1
        assert [(u.extn, u.name) for u in n2.lines.adduser] == [("2101", "A2")]
        assert [u.extn for u in n2.lines.deleteuser] == ["2005"]
        assert not n2.lines.changeuser
        await c.expect_silence(0.3)
        await c.close()
    run(body())


def test_user_subscription_flags(sim, pb):
    u = sim.user("2003")
    sim.ctl("PATCH", "/users/2003", {"mb_new": 2, "fwdu": True, "fwdunumber": "2004",
                                     "absence_set": True, "absence_msg": 11,
                                     "absence_str": "Out", "app": "Busy"}, expect=200)

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=7000, user={"guid": guid_bytes(u["guid"])})
        assert (await c.wait_response(1)).result == SUCCESS
        n = (await c.wait_notify(7000, "user", ack=True)).user
        assert (n.extn, n.name, n.fullname, n.email, n.language) == (
            "2003", u["name"], u["fullname"], u["email"], u["language"])
        assert n.featuresavailable == 0x2ff and n.voicemail and n.loggedinextn == "2003"
        assert not n.HasField("mailbox") and not n.HasField("absence")
        assert not n.fwdu and n.fwdunumber == "" and n.app == ""
        await c.subscribe(requestid=2, subscribe_id=7001,
                          user={"guid": guid_bytes(u["guid"]), "flags": 0xF})
        assert (await c.wait_response(2)).result == SUCCESS
        n = (await c.wait_notify(7001, "user", ack=True)).user
        assert n.mailbox.newmessages == 2
        assert n.fwdu and n.fwdunumber == "2004"
        assert n.app == "Busy" and n.noapphandler
        assert n.absence.msg == 11 and n.absence.str == "Out"
        # A change notifies both subscriptions.
        sim.ctl("PATCH", "/users/2003", {"dnd": True}, expect=200)
        a = await c.wait_notify(7000, "user", ack=True)
        b = await c.wait_notify(7001, "user", ack=True)
        assert a.user.dnd and b.user.dnd and a.notify_id == 2
        # Unknown guid.
        await c.subscribe(requestid=3, subscribe_id=7002, user={"guid": b"\x01" * 16})
        assert (await c.wait_response(3)).result == USERNOTFOUND
        await c.close()
    run(body())


def test_queue_subscription_by_guid_and_name(sim, pb):
    q = sim.queue("5001")

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, queue={"guid": guid_bytes(q["guid"])})
        assert (await c.wait_response(1)).result == SUCCESS
        n = (await c.wait_notify(1, "queue", ack=True)).queue
        assert (n.extn, n.name, n.ringmode, n.servicemode) == ("5001", q["name"], q["ringmode"], 1)
        assert not n.HasField("queuemembers") and not n.HasField("mailbox")
        await c.subscribe(requestid=2, subscribe_id=2, queue={"name": q["name"], "flags": 3})
        assert (await c.wait_response(2)).result == SUCCESS
        n = (await c.wait_notify(2, "queue", ack=True)).queue
        assert [m.extn for m in n.queuemembers.member] == [m["extn"] for m in q["members"]]
        assert n.HasField("mailbox")
        await c.subscribe(requestid=3, subscribe_id=3, queue={"name": "NoSuchQueue"})
        assert (await c.wait_response(3)).result == NOTFOUND
        await c.close()
    run(body())


def test_presence(sim, pb):
    async def body():
        c = await sim.client(pb)
        for rid, t in ((1, 0), (2, 59), (3, 86401)):
            await c.subscribe(requestid=rid, subscribe_id=50 + rid, timeout=t,
                              presence={"entry": [{"presentity": "2001", "lref": 1}]})
            assert (await c.wait_response(rid)).result == TIMEOUT_RANGE
        await c.subscribe(requestid=4, subscribe_id=98765, timeout=3600, presence={
            "flags": 1, "entry": [{"presentity": "2001", "lref": 5678},
                                  {"presentity": "2002", "lref": 5679},
                                  {"presentity": "nobody", "lref": 5680}]})
        assert (await c.wait_response(4)).result == SUCCESS
        n = await c.wait_notify(98765, "presence", ack=True)
        assert n.presence.full == 1
        e = {x.lref: x for x in n.presence.entry}
        assert set(e) == {5678, 5679, 5680}
        assert e[5678].presentity == "" and e[5678].phonestate == 0 and not e[5678].sac
        assert e[5678].app == "Offline"            # no app handler and flag 0x02 not set
        assert e[5680].phonestate == 8             # unknown
        sim.ctl("PATCH", "/users/2002", {"dnd": True}, expect=200)
        n = await c.wait_notify(98765, "presence", ack=True)
        assert n.presence.full == 0
        assert [(x.lref, x.sac) for x in n.presence.entry] == [(5679, True)]
        await c.subscribecmd(requestid=5, subscribe_id=98765, presence={
            "add": [{"presentity": "2003", "lref": 5681}], "remove": [{"lref": 5678}]})
        assert (await c.wait_response(5)).result == SUCCESS
        n = await c.wait_notify(98765, "presence", ack=True)
        assert [x.lref for x in n.presence.entry] == [5681]
        sim.ctl("PATCH", "/users/2001", {"dnd": True}, expect=200)   # removed: not reported
        await c.expect_silence(0.4)
        # Refresh needs a timeout in range too.
        await c.subscribe(requestid=6, subscribe_id=98765, timeout=10)
        assert (await c.wait_response(6)).result == TIMEOUT_RANGE
        await c.subscribe(requestid=7, subscribe_id=98765, timeout=7200)
        assert (await c.wait_response(7)).result == SUCCESS
        await c.close()
    run(body())


def test_presence_entries_by_name_email_and_guid(sim, pb):
    """A user's change reaches every entry naming them: extension, name, e-mail
    (any case) and GUID; entries naming others stay quiet."""
    u = sim.user("2005")

    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, timeout=600, presence={"entry": [
            {"presentity": "2005", "lref": 1}, {"presentity": u["name"], "lref": 2},
            {"presentity": u["email"].upper(), "lref": 3}, {"presentity": u["guid"], "lref": 4},
            {"presentity": "2006", "lref": 5}, {"presentity": u["name"].lower(), "lref": 6}]})
        n = await c.wait_notify(1, "presence")
        assert n.presence.full == 1 and len(n.presence.entry) == 6
        sim.ctl("PATCH", "/users/2005", {"dnd": True}, expect=200)
        n = await c.wait_notify(1, "presence")
        assert sorted((x.lref, x.sac) for x in n.presence.entry) == [
            (1, True), (2, True), (3, True), (4, True)]
        await c.close()
    run(body())


def test_presence_phonestate_follows_calls(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, timeout=600, presence={
            "flags": 2, "entry": [{"presentity": "2001"}]})
        n = await c.wait_notify(1, "presence")
        assert n.presence.entry[0].presentity == "2001" and n.presence.entry[0].noapphandler
        sim.ctl("POST", "/trunk/call", {"to": "2001"}, expect=200)
        n = await c.wait_notify(1, "presence")
        assert n.presence.entry[0].phonestate == 2          # ringing
        sim.ctl("POST", "/phone/2001/answer", {}, expect=200)
        n = await c.wait_notify(1, "presence")
        assert n.presence.entry[0].phonestate == 4          # connected
        await c.close()
    run(body())


def test_refresh_expiry_end_and_ids(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, timeout=1, lines={"flags": 1})
        assert (await c.wait_response(1)).result == SUCCESS
        st = await c.wait_kind("subscribeterminated", timeout=3)
        assert st.subscribe_id == 1
        # Refresh keeps it alive past its first timeout.
        await c.subscribe(requestid=2, subscribe_id=2, timeout=1, lines={"flags": 1})
        assert (await c.wait_response(2)).result == SUCCESS
        await asyncio.sleep(0.6)
        await c.subscribe(requestid=3, subscribe_id=2, timeout=3600)
        assert (await c.wait_response(3)).result == SUCCESS
        await c.expect_silence(0.8, lambda m: m.WhichOneof("payload") == "subscribeterminated")
        # SubscribeCmd timeout works the same way.
        await c.subscribecmd(requestid=4, subscribe_id=2, timeout=0)
        assert (await c.wait_response(4)).result == SUCCESS
        # Ids: in use, zero, unknown, no payload.
        await c.subscribe(requestid=5, subscribe_id=2, user={"guid": b"\x00" * 16})
        assert (await c.wait_response(5)).result == INVALID_ID
        await c.subscribe(requestid=6, subscribe_id=0, lines={"flags": 1})
        assert (await c.wait_response(6)).result == INVALID_ID
        await c.subscribe(requestid=7, subscribe_id=99, timeout=60)
        assert (await c.wait_response(7)).result == INVALID_ID
        await c.subscribecmd(requestid=8, subscribe_id=99, timeout=60)
        assert (await c.wait_response(8)).result == INVALID_ID
        await c.subscribeend(requestid=9, subscribe_id=99)
        assert (await c.wait_response(9)).result == INVALID_ID
        # Only one lines subscription.
        await c.subscribe(requestid=10, subscribe_id=3, lines={"flags": 1})
        assert (await c.wait_response(10)).result == TOOMANY
        # End: answered, then silence on it.
        await c.subscribeend(requestid=11, subscribe_id=2, reason="bye")
        assert (await c.wait_response(11)).result == SUCCESS
        sim.ctl("POST", "/users", {"extn": "2101"}, expect=201)
        await c.expect_silence(0.4, lambda m: m.WhichOneof("payload") == "notify")
        await c.close()
    run(body())


def test_control_terminate_drop_and_pause(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=42, lines={"flags": 1})
        await c.wait_notify(42)
        sim.ctl("POST", "/subscriptions/42/terminate", {}, expect=200)
        st = await c.wait_kind("subscribeterminated")
        assert st.subscribe_id == 42
        sim.ctl("POST", "/subscriptions/42/terminate", {}, expect=404)
        sim.ctl("POST", "/requests/pause", {"on": True}, expect=200)
        await c.subscribe(requestid=2, subscribe_id=43, lines={"flags": 1})
        await c.expect_silence(0.5)
        sim.ctl("POST", "/requests/pause", {"on": False}, expect=200)
        await c.subscribe(requestid=3, subscribe_id=43, lines={"flags": 1})
        assert (await c.wait_response(3)).result == SUCCESS
        status, out = sim.ctl("POST", "/connections/drop")
        assert status == 200 and out["dropped"] == 1
        code, _ = await c.wait_closed()
        assert code == 1001
        c2 = await sim.client(pb)      # reconnecting works, as after a reboot
        await c2.close()
    run(body())


def test_app_presence_handlers(sim, pb):
    u = sim.user("2004")
    guid = guid_bytes(u["guid"])

    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, user={"guid": guid, "flags": 0x4})
        n = await c.wait_notify(1, "user")
        assert n.user.noapphandler
        await c.subscribe(requestid=2, subscribe_id=2, user={"guid": guid, "flags": 0x804})
        n = await c.wait_notify(1, "user")               # the other subscription learns
        assert not n.user.noapphandler
        await c.subscribecmd(requestid=3, subscribe_id=2, user={"app": {"value": "At desk",
                                                                        "makedead": True}})
        assert (await c.wait_response(3)).result == SUCCESS
        n = await c.wait_notify(1, "user")
        assert n.user.app == "At desk" and n.user.noapphandler
        await c.close()
    run(body())


def test_refreshwrapper_and_parkserver(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, refreshwrapper={})
        assert (await c.wait_response(1)).result == SUCCESS
        await c.subscribe(requestid=2, subscribe_id=2, parkserver={"ccflags": 1})
        assert (await c.wait_response(2)).result == SUCCESS
        await c.subscribe(requestid=3, subscribe_id=3, parkserver={})
        assert (await c.wait_response(3)).result == TOOMANY
        await c.subscribe(requestid=4, subscribe_id=4, lines={"flags": 1})
        await c.wait_notify(4, "lines")
        n = await c.wait_notify(1, "refreshwrapper")
        assert n.refreshwrapper.dummy > 0
        await c.close()
    run(body())


def test_one_per_connection_kinds_free_again_when_ended(sim, pb):
    async def body():
        c = await sim.client(pb, auto_ack=True)
        for i, payload in enumerate(({"lines": {"flags": 1}}, {"parkserver": {}},
                                     {"refreshwrapper": {}})):
            sid = 10 * (i + 1)
            await c.subscribe(requestid=sid, subscribe_id=sid, **payload)
            assert (await c.wait_response(sid)).result == SUCCESS
            await c.subscribe(requestid=sid + 1, subscribe_id=sid + 1, **payload)
            assert (await c.wait_response(sid + 1)).result == TOOMANY
            await c.subscribeend(requestid=sid + 2, subscribe_id=sid)
            assert (await c.wait_response(sid + 2)).result == SUCCESS
            await c.subscribe(requestid=sid + 3, subscribe_id=sid + 3, **payload)
            assert (await c.wait_response(sid + 3)).result == SUCCESS
        # The new refresh wrapper follows the next round that notified something.
        await c.subscribe(requestid=5, subscribe_id=5, lines={"flags": 1})
        assert (await c.wait_response(5)).result == TOOMANY
        sim.ctl("POST", "/users", {"extn": "2101"}, expect=201)
        n = await c.wait_notify(33, "refreshwrapper")
        assert n.refreshwrapper.dummy > 0
        await c.close()
    run(body())
def test_lines_queue_rename_and_members_notify(sim, pb):
    q = sim.queue("5002")

    async def body():
        c = await sim.client(pb, auto_ack=True)
        await c.subscribe(requestid=1, subscribe_id=1, lines={"flags": 2})
        await c.wait_notify(1, "lines")
        await c.subscribe(requestid=2, subscribe_id=2, queue={"guid": guid_bytes(q["guid"]), "flags": 2})
        await c.wait_notify(2, "queue")
        sim.ctl("PATCH", "/queues/5002", {"name": "Renamed"}, expect=200)
        n = await c.wait_notify(1, "lines")
        assert [(x.guid, x.name) for x in n.lines.changequeue] == [(guid_bytes(q["guid"]), "Renamed")]
        assert (await c.wait_notify(2, "queue")).queue.name == "Renamed"
        sim.ctl("PATCH", "/queues/5002", {"members": [{"extn": "2001", "disabled": True}]}, expect=200)
        n = await c.wait_notify(2, "queue")
        assert [(m.extn, m.disabled) for m in n.queue.queuemembers.member] == [("2001", True)]
        await c.close()
    run(body())
