"""Nothing lost: the bridge under a broker outage and a crash, with the
simulator's load generator making calls all along.

  kafka outage   the broker is stopped for 30 s: NotifyAcks are withheld (the
                 PBX waits), and once the broker is back every event arrives,
                 none twice, per-key order kept
  bridge crash   SIGKILL and restart: the state is read back from the
                 compacted topics, nothing unchanged is announced, every seq
                 runs on without a gap
  crash, Kafka   SIGKILL while the broker is down: the open transaction is
  down           aborted by the next run (a read_committed consumer never sees
                 it), and the fresh snapshot's diff says what it would have
                 said: no gap, no ce_id naming two bodies, the final states
                 equal the simulator's
  queue full     librdkafka's queue full: batches wait in order, /readyz
                 says so, everything drains
"""
import time

from bridgelib import Sim, check_sequences, validate_all
from services import wait_for


def calls_all_ended(events):
    created = {e.entity for e in events.of("calls", op="c")}
    deleted = {e.entity for e in events.of("calls", op="d")}
    return created and created <= deleted


def quiesce(sim, events, timeout=60):
    sim.ctl("POST", "/traffic", {"calls_per_second": 0})
    time.sleep(1)
    sim.ctl("POST", "/calls/clear")
    events.wait(lambda evs: calls_all_ended(events), timeout, "every call deleted")


def test_kafka_outage(tmp_path, kafka, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=10, queues=2, seed=7, calls_per_second=2).start()
    try:
        bridge = make_bridge(sim).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
        with kafka.stopped():
            t0 = time.monotonic()
            withheld = wait_for(lambda: bridge.metrics()["mtcti3_bridge_acks_pending"], 20,
                                what="NotifyAcks withheld")
            while time.monotonic() - t0 < 30:
                time.sleep(1)
            m = bridge.metrics()
            # 30 s later the Notifies that caused events still wait for Kafka (no ack
            # given up on, no event dropped): their gates never close while it is down
            assert m["mtcti3_bridge_acks_pending"] >= withheld
            assert m["mtcti3_bridge_events_inflight"] > 0
        quiesce(sim, events, 90)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_acks_pending"] == 0
                 and bridge.metrics()["mtcti3_bridge_events_inflight"] == 0, 30, what="drained")
        events.poll(3)
        m = bridge.metrics()
        assert events.lifecycle().count("connected") == 1, "one connection all along"
        # every Notify acknowledged, every confirmed event read, none twice
        assert m["mtcti3_bridge_notify_acks_sent_total"] == m["mtcti3_bridge_notifies_received_total"]
        assert m['mtcti3_bridge_events_produced_total{topic="calls"}'] == len(events.of("calls"))
        validate_all(events.all)
        by_entity = check_sequences(events.all)
        assert len([e for e in by_entity if e.startswith("call:")]) >= 5
        # nothing twice: no ce_id repeats (a transaction aborted and produced again is never seen)
        ids = [e.headers["ce_id"] for e in events.all if not e.tombstone and e.topic != "live-calls"]
        assert len(ids) == len(set(ids)), "an event was duplicated"
    finally:
        sim.stop()


def test_bridge_killed_and_restarted(tmp_path, kafka, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=10, queues=2, seed=11, calls_per_second=3).start()
    try:
        bridge = make_bridge(sim).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 5, 30, "traffic flowing")
        bridge.kill()
        time.sleep(4)  # calls start and end meanwhile
        bridge.start()
        events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 40, "resync after restart")
        detail = events.started()[1]["detail"]
        # 12 lines, 10 users, 2 queues at least (and the calls up at the kill)
        assert detail["state_from"] == "topics" and detail["restored_entities"] >= 12 + 10 + 2
        time.sleep(2)
        quiesce(sim, events, 90)
        events.poll(3)
        validate_all(events.all)
        by_entity = check_sequences(events.all)
        # nothing unchanged announced after the restart: the lines did not
        # change, so each has its one r (seq 1) and nothing else
        lines = {e.entity for e in events.of("lines")}
        assert len(lines) == 12
        for entity in lines:
            assert {(x.op, x.seq) for x in events.of("lines", entity=entity)} == {("r", 1)}, entity
        assert all(e.seq == 1 for e in events.of(op="r"))
        assert len([e for e in by_entity if e.startswith("call:")]) >= 5
    finally:
        sim.stop()


def no_id_names_two_bodies(events):
    bodies = {}
    for e in events.all:
        if e.tombstone or e.topic in ("bridge", "live-calls"):
            continue
        assert bodies.setdefault(e.headers["ce_id"], e.raw) == e.raw, f"{e.headers['ce_id']} names two events"


def test_bridge_killed_while_kafka_down(tmp_path, kafka, make_bridge, make_events):
    """Events produced but never committed die with the bridge: the next run
    aborts their transaction (init_transactions) before reading the state
    back, and diffs the PBX's fresh snapshot against what was committed."""
    sim = Sim(tmp_path / "sim", users=8, queues=2, seed=23, calls_per_second=3).start()
    try:
        bridge = make_bridge(sim).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
        with kafka.stopped():
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_inflight"] >= 3, 20,
                     what="events waiting for the broker")
            bridge.kill()
        bridge.start()
        events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 60, "resync after restart")
        detail = events.started()[1]["detail"]
        assert detail["state_from"] == "topics" and detail["replayed_events"] == 0
        quiesce(sim, events, 90)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_inflight"] == 0, 30, what="drained")
        events.poll(3)
        validate_all(events.all)
        check_sequences(events.all)
        no_id_names_two_bodies(events)
        # the users as the simulator has them, as a consumer folding presence sees them
        last = {}
        for e in events.of("presence"):
            last[e.key] = e.after
        for u in sim.model()["users"]:
            assert last[u["guid"]]["dnd"] == u["dnd"] and last[u["guid"]]["extn"] == u["extn"]
    finally:
        sim.stop()


def test_restart_without_redis_reads_back_topics(sim, make_bridge, make_events):
    """Without Redis, a restarted bridge restores users, queues and lines from
    its compacted topics: only what changed meanwhile is announced."""
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    events.wait(lambda evs: "resync_finished" in events.lifecycle(), 20)
    assert bridge.stop() == 0
    g = sim.user_guid("2002")
    events.poll(1)
    last = events.of("presence", entity=f"user:{g}")[-1]
    sim.ctl("PATCH", "/users/2002", {"dnd": True})
    bridge.start()
    events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 30)
    events.poll(2)
    # 7 lines, 5 users, 2 queues read back from the compacted topics
    assert events.started()[1]["detail"] == {"restored_entities": 7 + 5 + 2, "restored_calls": 0,
                                             "replayed_events": 0, "state_from": "topics"}
    upd = [e for e in events.of("presence", entity=f"user:{g}") if e.value["op"] == "u" and "dnd" in e.changed]
    assert len(upd) == 1 and upd[0].changed == ["dnd"]
    # the restored state carries the seq on and is the event's before
    assert upd[0].seq == last.seq + 1 and upd[0].before == last.after
    assert upd[0].after == {**last.after, "dnd": True}
    assert all(len([x for x in events.of("lines", entity=e.entity)]) == 1 for e in events.of("lines"))
    assert all(len([x for x in events.of("queues", entity=e.entity)]) == 1 for e in events.of("queues"))
    validate_all(events.all)
    check_sequences(events.all)


def test_librdkafka_queue_full_backlog(tmp_path, kafka, make_bridge, make_events):
    """When librdkafka's queue is full (and the broker away), batches wait in
    order behind the one being written, /readyz says so, and everything
    drains once the broker is back."""
    sim = Sim(tmp_path / "sim", users=10, queues=2, seed=5).start()
    try:
        bridge = make_bridge(sim, extra=["--kafka.queue.buffering.max.messages=3"]).start()
        events = make_events(bridge)
        with kafka.stopped():
            for extn in ("2001", "2002", "2003", "2004"):
                sim.ctl("POST", "/trunk/call", {"to": extn})
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_backlog"] > 0, 20, what="a backlog")
            status, why = wait_for(lambda: (lambda r: r[0] == 503 and "Kafka is not keeping up" in r[1] and r)(
                bridge.http("/readyz")), 20, what="/readyz: Kafka not keeping up")
            sim.ctl("POST", "/calls/clear")
            time.sleep(1)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_backlog"] == 0
                 and bridge.metrics()["mtcti3_bridge_events_inflight"] == 0, 60, what="drained")
        events.wait(lambda evs: calls_all_ended(events), 30, "every call deleted")
        validate_all(events.all)
        check_sequences(events.all)
        ids = [e.headers["ce_id"] for e in events.all if not e.tombstone and e.topic != "live-calls"]
        assert len(ids) == len(set(ids))
    finally:
        sim.stop()
