"""Presence-only entities: presentities a presence subscription names that
are not users of the system (their state set through the control API), with
every NotifyPresentity field: sac, phonestate, absence, app, fwdu,
vmunread_messages (flag 0x1) and noapphandler (flag 0x2, release 12.2)."""
from simlib import run

SUCCESS = 0


def entry_tuple(e):
    return (e.lref, e.presentity, e.sac, e.phonestate, e.HasField("absence"),
            e.absence.msg, e.absence.str, e.app, e.fwdu, e.vmunread_messages, e.noapphandler)


def test_presence_only_entity_every_field(sim, pb):
    st, out = sim.ctl("POST", "/presentities", {
        "id": "alice@partner.example", "dnd": True, "phonestate": 4, "absence_set": True,
        "absence_msg": 3, "absence_str": "14:00", "app": "In a meeting", "fwdu": True,
        "mb_new": 2, "noapphandler": False})
    assert (st, out) == (201, {"id": "alice@partner.example", "dnd": True, "phonestate": 4,
                               "absence_set": True, "absence_msg": 3, "absence_str": "14:00",
                               "app": "In a meeting", "fwdu": True, "mb_new": 2,
                               "noapphandler": False})

    async def body():
        c = await sim.client(pb)
        # Flags 3: unread voicemail counter, and noapphandler instead of "Offline".
        await c.subscribe(requestid=1, subscribe_id=1, timeout=600, presence={"flags": 3, "entry": [
            {"presentity": "ALICE@partner.example", "lref": 11},
            {"presentity": "bob@partner.example", "lref": 12},
            {"presentity": "carol@partner.example"}]})
        assert (await c.wait_response(1)).result == SUCCESS
        n = (await c.wait_notify(1, "presence", ack=True)).presence
        assert n.full == 1
        assert sorted(entry_tuple(e) for e in n.entry) == sorted([
            (11, "", True, 4, True, 3, "14:00", "In a meeting", True, 2, False),
            (12, "", False, 8, False, 0, "", "", False, 0, True),          # unknown
            (0, "carol@partner.example", False, 8, False, 0, "", "", False, 0, True)])
        # A change goes to the watchers, as a change (full=0), only that entry.
        sim.ctl("PATCH", "/presentities/alice@partner.example",
                {"phonestate": 0, "dnd": False, "absence_set": False, "mb_new": 0,
                 "noapphandler": True, "app": ""}, expect=200)
        n = (await c.wait_notify(1, "presence", ack=True)).presence
        assert (n.full, [entry_tuple(e) for e in n.entry]) == (
            0, [(11, "", False, 0, False, 0, "", "", True, 0, True)])
        # A new entity a watcher already names: reported when it appears.
        sim.ctl("POST", "/presentities", {"id": "bob@partner.example", "phonestate": 2}, expect=201)
        n = (await c.wait_notify(1, "presence", ack=True)).presence
        assert [entry_tuple(e) for e in n.entry] == [(12, "", False, 2, False, 0, "", "", False, 0, True)]
        # Removed: unknown again.
        sim.ctl("DELETE", "/presentities/bob@partner.example", expect=200)
        n = (await c.wait_notify(1, "presence", ack=True)).presence
        assert [(e.lref, e.phonestate) for e in n.entry] == [(12, 8)]
        await c.close()
    run(body())


def test_presence_only_entity_without_flags_shows_offline(sim, pb):
    """Without flag 0x2, no app handler shows as app "Offline" and noapphandler
    is not sent; without 0x1 no voicemail count."""
    sim.ctl("POST", "/presentities", {"id": "dave@partner.example", "mb_new": 5}, expect=201)

    async def body():
        c = await sim.client(pb)
        await c.subscribe(requestid=1, subscribe_id=1, timeout=600, presence={"entry": [
            {"presentity": "dave@partner.example", "lref": 1}]})
        assert (await c.wait_response(1)).result == SUCCESS
        e = (await c.wait_notify(1, "presence", ack=True)).presence.entry[0]
        assert (e.app, e.noapphandler, e.vmunread_messages, e.phonestate) == ("Offline", False, 0, 0)
        await c.close()
    run(body())


def test_presentity_control_errors(sim):
    assert sim.ctl("POST", "/presentities", {"id": "2001"}) == (
        400, {"error": "presentity 2001 is taken (a user or another presentity)"})
    assert sim.ctl("POST", "/presentities", {"phonestate": 1}) == (
        400, {"error": "a presentity needs an 'id'"})
    assert sim.ctl("POST", "/presentities", {"id": "x@y", "phonestate": 9})[0] == 400
    assert sim.ctl("POST", "/presentities", {"id": "x@y", "colour": "red"}) == (
        400, {"error": "unknown field 'colour'"})
    assert sim.ctl("PATCH", "/presentities/nobody@y", {"dnd": True}) == (
        404, {"error": "no presentity nobody@y"})
    sim.ctl("POST", "/presentities", {"id": "x@y"}, expect=201)
    assert sim.ctl("PATCH", "/presentities/x@y", {"id": "z@y"}) == (
        400, {"error": "a presentity's id cannot change"})
    assert sim.model()["presentities"] == [
        {"id": "x@y", "dnd": False, "phonestate": 0, "absence_set": False, "absence_msg": 0,
         "absence_str": "", "app": "", "fwdu": False, "mb_new": 0, "noapphandler": True}]
