"""The bridge's ingest against real services: ipo-sim, a real Kafka broker,
and the bridge itself.  Each test runs its own sim and bridge on a topic
prefix of its own; every event read is validated against schemas/.

  initial snapshot    r events for every line, user and queue
  call life           c, u, d on the user's line, with before and after
  queue call          each leg its own key, all in the gcid's partition
  unchanged notify    no event for a Notify that changes nothing
  presence, members   one update naming exactly the changed fields
  lines add/delete    lines c/d with tombstones, subscriptions following
  terminated          SubscribeTerminated: resubscribed, calls keep identity
  pbx drop            reconnect and resync; a call that ended meanwhile is deleted
"""
import time

from bridgelib import check_live_calls, check_sequences, same_leg, validate_all
from services import wait_for


def test_initial_snapshot(sim, kafka, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    for topic, policy in (("presence", "compact"), ("queues", "compact"), ("lines", "compact"),
                          ("calls", "delete"), ("bridge", "delete")):
        assert kafka.topic_config(bridge.prefix + topic)["cleanup.policy"] == policy, topic
    m = sim.model()
    users = {u["guid"] for u in m["users"]}
    queues = {q["guid"] for q in m["queues"]}
    events.wait(lambda evs: "resync_finished" in events.lifecycle()
                and len(events.of("presence", op="r")) >= len(users)
                and len(events.of("queues", op="r")) >= len(queues), 30, "initial snapshot")
    assert {e.key for e in events.of("lines", op="r")} == users | queues
    assert {e.key for e in events.of("presence", op="r")} == users
    assert {e.key for e in events.of("queues", op="r")} == queues
    for e in events.of("presence", op="r"):
        u = next(x for x in m["users"] if x["guid"] == e.key)
        assert e.after["extn"] == u["extn"] and e.after["name"] == u["name"]
        assert e.after["dnd"] == u["dnd"] and e.before is None and e.seq == 1
        assert e.headers["ce_type"] == "mtcti3.presence.snapshot"
        assert e.source["snapshot"] == "true"
    for e in events.of("queues", op="r"):
        q = next(x for x in m["queues"] if x["guid"] == e.key)
        assert [x["extn"] for x in e.after["queuemembers"]["member"]] == [x["extn"] for x in q["members"]]
    lines = {e.key: e.after for e in events.of("lines")}
    assert all(lines[u["guid"]]["kind"] == "user" for u in m["users"])
    assert all(lines[q["guid"]]["kind"] == "queue" for q in m["queues"])
    assert events.lifecycle()[:3] == ["started", "connected", "resync_started"]
    validate_all(events.all)
    check_sequences(events.all)
    metrics = bridge.metrics()
    assert metrics['mtcti3_bridge_subscriptions{state="active"}'] == 1 + len(users) + len(queues) + 1 + 1
    assert metrics["mtcti3_bridge_acks_pending"] == 0
    assert metrics["mtcti3_bridge_notify_acks_sent_total"] >= len(users) + len(queues) + 2


def test_call_life(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    g2001 = sim.user_guid("2001")
    gcid = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "2001", "name": "Caller"})["gcid"]
    entity = f"call:{g2001}:{gcid}"
    events.wait(lambda evs: events.of("calls", entity=entity, op="c"), 15, "call created")
    sim.ctl("POST", "/phone/2001/answer", {})
    events.wait(lambda evs: any(e.after["state"] == "CONNECTED" for e in events.of("calls", entity=entity, op="u")),
                15, "call connected")
    sim.ctl("POST", "/phone/2001/hangup", {})
    events.wait(lambda evs: events.of("calls", entity=entity, op="d"), 15, "call deleted")
    evs = events.of("calls", entity=entity)
    assert evs[0].op == "c" and evs[-1].op == "d" and {e.op for e in evs[1:-1]} == {"u"}
    assert [e.seq for e in evs] == list(range(1, len(evs) + 1))
    c = evs[0]
    assert c.before is None and c.after["state"] == "RINGING" and c.after["gcid"] == gcid
    assert c.key == c.entity[len("call:"):] and c.key.startswith(f"{g2001}:{gcid}:")
    assert c.after["leg"] == c.key and c.after["line_guid"] == g2001 and c.after["line_kind"] == "user"
    assert c.after["line_extn"] == "2001" and c.source["line_guid"] == g2001 and c.source["line_extn"] == "2001"
    assert "ANSWER" in c.after["featuresavailable_names"]
    for prev, e in zip(evs, evs[1:]):
        if e.op == "u":
            assert e.before == prev.after, "before is the previous after"
            assert e.changed and set(e.changed) == {k for k in e.after if e.after[k] != e.before.get(k)}
    d = evs[-1]
    assert d.after is None and d.before == evs[-2].after
    assert d.calllost["synthetic"] is False and isinstance(d.calllost["reason"], int)
    assert d.headers["ce_type"] == "mtcti3.call.deleted"
    validate_all(events.all)
    check_sequences(events.all)


def test_queue_call_legs_share_a_partition(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    gcid = sim.ctl("POST", "/trunk/call", {"to": "5001"})["gcid"]
    queue = next(q for q in sim.model()["queues"] if q["extn"] == "5001")
    events.wait(lambda evs: {e.source["line_kind"] for e in events.of("calls", gcid=gcid)} >= {"queue", "user"},
                15, "queue and user legs")
    legs = events.of("calls", gcid=gcid)
    assert len({e.partition for e in legs}) == 1
    queue_legs = {e.entity for e in legs if e.source["line_kind"] == "queue"}
    assert len(queue_legs) == 1 and same_leg(f"call:{queue['guid']}:{gcid}", next(iter(queue_legs)))
    assert len({e.key for e in legs}) == len({e.entity for e in legs}) >= 2  # a key per leg, one partition
    assert all(e.after["gcid"] == gcid for e in legs if e.op == "c")
    sim.ctl("POST", "/calls/clear")
    events.wait(lambda evs: all(any(x.op == "d" for x in events.of("calls", entity=ent))
                                for ent in {e.entity for e in events.of("calls", gcid=gcid)}), 15, "all legs deleted")
    validate_all(events.all)
    check_sequences(events.all)


def test_no_event_for_unchanged_notify(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    g = sim.user_guid("2002")
    events.wait(lambda evs: "resync_finished" in events.lifecycle(), 20)
    time.sleep(1.5)
    events.poll(1)
    before = list(events.all)
    assert events.of("presence", entity=f"user:{g}"), "the user's snapshot was read"
    m = bridge.metrics()
    notifies, acks = m["mtcti3_bridge_notifies_received_total"], m["mtcti3_bridge_notify_acks_sent_total"]
    dnd = sim.model_user("2002")["dnd"]
    sim.ctl("PATCH", "/users/2002", {"dnd": dnd})  # the PBX notifies, nothing changed
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_notifies_received_total"] > notifies, 10, what="the Notify")
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_acks_pending"] == 0, 10, what="its ack")
    m = bridge.metrics()
    # acknowledged at once (no event to wait for), and no event on any topic
    assert m["mtcti3_bridge_notify_acks_sent_total"] - acks == m["mtcti3_bridge_notifies_received_total"] - notifies
    events.poll(2)
    assert events.all == before, events.all[len(before):]


def test_presence_and_queue_members(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    g = sim.user_guid("2003")
    events.wait(lambda evs: "resync_finished" in events.lifecycle(), 20)
    sim.ctl("PATCH", "/users/2003", {"dnd": True})
    e = events.wait(lambda evs: [x for x in events.of("presence", entity=f"user:{g}", op="u") if "dnd" in x.changed],
                    15, "dnd update")[0]
    assert e.changed == ["dnd"] and e.before["dnd"] is False and e.after["dnd"] is True
    assert e.key == g and e.headers["ce_type"] == "mtcti3.presence.updated"
    q = next(q for q in sim.model()["queues"] if q["extn"] == "5001")
    members = [{"extn": "2002", "disabled": False}, {"extn": "2004", "disabled": True}]
    sim.ctl("PATCH", "/queues/5001", {"members": members})
    e = events.wait(lambda evs: events.of("queues", entity=f"queue:{q['guid']}", op="u"), 15, "members update")[0]
    assert e.changed == ["queuemembers"]
    assert e.after["queuemembers"]["member"] == members
    # the user's first event carried its phone state (one model: no separate update for it)
    first = events.of("presence", entity=f"user:{g}")[0]
    assert first.op == "r" and first.after["phonestate"] == 0 and first.after["phonestate_name"] == "idle"
    assert [x for x in events.of("presence", entity=f"user:{g}", op="u") if "phonestate" in x.changed] == []
    # a phone call moves the phone state on the presence topic (out of DND: a DND user's calls go to voicemail)
    sim.ctl("PATCH", "/users/2003", {"dnd": False})
    events.wait(lambda evs: [x for x in events.of("presence", entity=f"user:{g}", op="u")
                             if "dnd" in x.changed and x.after["dnd"] is False], 15, "dnd off")
    sim.ctl("POST", "/trunk/call", {"to": "2003"})
    ps = events.wait(lambda evs: [x for x in events.of("presence", entity=f"user:{g}", op="u")
                                  if "phonestate" in x.changed], 15, "phone state")[0]
    assert set(ps.changed) == {"phonestate", "phonestate_name"}
    assert ps.before["phonestate"] != ps.after["phonestate"]
    sim.ctl("POST", "/calls/clear")
    validate_all(events.all)
    check_sequences(events.all)


def test_lines_added_and_deleted(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    events.wait(lambda evs: "resync_finished" in events.lifecycle(), 20)
    active = bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}']
    added = sim.ctl("POST", "/users", {"extn": "2101", "name": "Ann"})
    g = added["guid"]
    events.wait(lambda evs: events.of("lines", entity=f"line:{g}", op="c")
                and events.of("presence", entity=f"user:{g}"), 15, "new line and its user")
    assert events.of("lines", entity=f"line:{g}")[0].after == {"kind": "user", "guid": g, "extn": "2101", "name": "Ann"}
    assert events.of("presence", entity=f"user:{g}")[0].op == "c", "a user added later is created, not read"
    wait_for(lambda: bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == active + 1, 10,
             what="a subscription for the new user")
    # the new user's calls are reported
    gcid = sim.ctl("POST", "/trunk/call", {"to": "2101"})["gcid"]
    events.wait(lambda evs: events.of("calls", entity=f"call:{g}:{gcid}", op="c"), 15, "call on the new line")
    sim.ctl("DELETE", "/users/2101")
    events.wait(lambda evs: events.of("lines", entity=f"line:{g}", op="d")
                and events.of("presence", entity=f"user:{g}", op="d")
                and events.of("lines", key=g, tombstones=True)
                and events.of("presence", key=g, tombstones=True), 15, "deletes and tombstones")
    lines_g = [e for e in events.all if e.topic == "lines" and e.key == g]
    assert lines_g[-1].tombstone and lines_g[-2].value["op"] == "d"
    wait_for(lambda: bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == active, 10,
             what="the subscription ended")
    events.wait(lambda evs: events.of("calls", entity=f"call:{g}:{gcid}", op="d"), 15, "its call deleted")
    sim.ctl("POST", "/calls/clear")
    validate_all(events.all)
    check_sequences(events.all)


def test_subscribe_terminated(sim, make_bridge, make_events):
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    g = sim.user_guid("2004")
    gcid = sim.ctl("POST", "/trunk/call", {"to": "2004"})["gcid"]
    entity = f"call:{g}:{gcid}"
    events.wait(lambda evs: events.of("calls", entity=entity, op="c"), 15)
    subs_before = bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}']
    assert subs_before == 1 + 5 + 2 + 1 + 1  # lines, users, queues, presence, park server
    terminated = sim.ctl("POST", "/subscriptions/0/terminate", {"reason": "test"})["terminated"]
    assert terminated == subs_before
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_subscriptions_terminated_total"] == terminated, 10)
    wait_for(lambda: bridge.metrics()['mtcti3_bridge_subscriptions{state="active"}'] == subs_before, 20,
             what="every subscription back")
    time.sleep(2.5)  # past resync_grace_ms: the call must survive the resubscription
    events.poll(1)
    assert not events.of("calls", entity=entity, op="d"), "the call kept its identity"
    assert len(events.of("calls", entity=entity, op="c")) == 1
    sim.ctl("POST", "/phone/2004/answer", {})
    events.wait(lambda evs: any(e.after["state"] == "CONNECTED" for e in events.of("calls", entity=entity, op="u")), 15)
    # the same call (entity, key, seq carried on) now reported by a new subscription
    c = events.of("calls", entity=entity, op="c")[0]
    up = next(e for e in events.of("calls", entity=entity, op="u") if e.after["state"] == "CONNECTED")
    assert up.key == c.key and up.before["state"] == "RINGING" and "state" in up.changed
    assert up.source["subscribe_id"] != c.source["subscribe_id"]
    sim.ctl("POST", "/calls/clear")
    events.wait(lambda evs: events.of("calls", entity=entity, op="d"), 15)
    validate_all(events.all)
    check_sequences(events.all)


def test_pbx_drop_and_resync(sim, make_bridge, make_events):
    bridge = make_bridge(sim, extra=["--reconnect_min_ms=3000", "--reconnect_max_ms=4000"]).start()
    events = make_events(bridge)
    g1, g2 = sim.user_guid("2001"), sim.user_guid("2002")
    gcid1 = sim.ctl("POST", "/trunk/call", {"to": "2001"})["gcid"]
    gcid2 = sim.ctl("POST", "/trunk/call", {"to": "2002"})["gcid"]
    events.wait(lambda evs: events.of("calls", entity=f"call:{g1}:{gcid1}", op="c")
                and events.of("calls", entity=f"call:{g2}:{gcid2}", op="c"), 15)
    sim.ctl("POST", "/connections/drop")
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_pbx_connected"] == 0, 5, what="disconnected")
    sim.ctl("POST", "/trunk/hangup", {"gcid": gcid1})   # ends while the bridge is away
    sim.ctl("PATCH", "/users/2005", {"dnd": True})      # changes while the bridge is away
    events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 30, "second resync")
    d = events.wait(lambda evs: events.of("calls", entity=f"call:{g1}:{gcid1}", op="d"), 10, "delete")[0]
    assert d.calllost["synthetic"] is True
    assert not events.of("calls", entity=f"call:{g2}:{gcid2}", op="d"), "the live call survives"
    g5 = sim.user_guid("2005")
    upd = [e for e in events.of("presence", entity=f"user:{g5}", op="u") if "dnd" in e.changed]
    assert len(upd) == 1 and upd[0].changed == ["dnd"]
    life = events.lifecycle()
    assert life[:3] == ["started", "connected", "resync_started"]
    assert "disconnected" in life and life.count("connected") == 2
    # nothing unchanged was announced again: no second r for users or lines
    assert all(len(events.of("lines", entity=e.entity)) == 1 for e in events.of("lines", op="r"))
    sim.ctl("POST", "/calls/clear")
    events.wait(lambda evs: events.of("calls", entity=f"call:{g2}:{gcid2}", op="d"), 15)
    validate_all(events.all)
    check_sequences(events.all)
