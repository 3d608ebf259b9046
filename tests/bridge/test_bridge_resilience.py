"""Nothing lost: the bridge under a broker outage and a crash, with the
simulator's load generator making calls all along.

  kafka outage   the broker is stopped for 30 s: NotifyAcks are withheld (the
                 PBX waits), and once the broker is back every event arrives,
                 none twice with different content, per-key order kept
  bridge crash   SIGKILL and restart with Redis: the state is restored, the
                 events not confirmed before the crash are sent again with
                 the same ce_id and seq, and nothing is missing
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
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_acks_pending"] > 0, 20,
                     what="NotifyAcks withheld")
            pending_peak = 0
            while time.monotonic() - t0 < 30:
                m = bridge.metrics()
                pending_peak = max(pending_peak, m["mtcti3_bridge_acks_pending"])
                time.sleep(1)
            assert bridge.http("/readyz")[0] in (200, 503)
        assert pending_peak > 0
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_acks_pending"] == 0
                 or bridge.metrics()["mtcti3_bridge_events_inflight"] < 50, 90, what="drained")
        quiesce(sim, events, 90)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_inflight"] == 0, 30)
        events.poll(3)
        validate_all(events.all)
        by_entity = check_sequences(events.all)
        assert len([e for e in by_entity if e.startswith("call:")]) >= 5
        # the idempotent producer wrote nothing twice: no ce_id repeats
        ids = [e.headers["ce_id"] for e in events.all if not e.tombstone]
        assert len(ids) == len(set(ids)), "an event was duplicated"
    finally:
        sim.stop()


def test_bridge_killed_and_restarted(tmp_path, kafka, redis_server, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=10, queues=2, seed=11, calls_per_second=3).start()
    try:
        bridge = make_bridge(sim, redis_url=redis_server.url).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 5, 30, "traffic flowing")
        bridge.kill()
        time.sleep(4)  # calls start and end meanwhile
        bridge.start()
        events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 40, "resync after restart")
        assert "started" in events.lifecycle()
        time.sleep(2)
        quiesce(sim, events, 90)
        events.poll(3)
        validate_all(events.all)
        by_entity = check_sequences(events.all)
        # nothing unchanged announced after the restart: one r per line
        for e in events.of("lines", op="r"):
            assert len([x for x in events.of("lines", entity=e.entity) if x.value["seq"] == 1]) >= 1
            assert all(x.value["op"] != "r" or x.value["seq"] == 1 for x in events.of("lines", entity=e.entity))
        assert len([e for e in by_entity if e.startswith("call:")]) >= 5
    finally:
        sim.stop()


def test_bridge_killed_while_kafka_down(tmp_path, kafka, redis_server, make_bridge, make_events):
    """Events produced but never confirmed survive a crash in Redis and are
    produced again, with their original ce_id and seq, by the next run."""
    sim = Sim(tmp_path / "sim", users=8, queues=2, seed=23, calls_per_second=3).start()
    try:
        bridge = make_bridge(sim, redis_url=redis_server.url).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
        with kafka.stopped():
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_inflight"] >= 3, 20,
                     what="events waiting for the broker")
            bridge.kill()
        pending = redis_server.client().hlen(f"mtcti3:{bridge.pbx_id}:pending")
        assert pending >= 3
        bridge.start()
        log = bridge.log_path.read_text()
        assert f"producing again {pending} events not confirmed before" in log
        events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 40, "resync after restart")
        quiesce(sim, events, 90)
        wait_for(lambda: redis_server.client().hlen(f"mtcti3:{bridge.pbx_id}:pending") == 0, 20,
                 what="pending events confirmed")
        events.poll(3)
        validate_all(events.all)
        check_sequences(events.all)
    finally:
        sim.stop()


def test_restart_without_redis_reads_back_topics(sim, make_bridge, make_events):
    """Without Redis, a restarted bridge restores users, queues and lines from
    its compacted topics: only what changed meanwhile is announced."""
    bridge = make_bridge(sim).start()
    events = make_events(bridge)
    events.wait(lambda evs: "resync_finished" in events.lifecycle(), 20)
    assert bridge.stop() == 0
    sim.ctl("PATCH", "/users/2002", {"dnd": True})
    g = sim.user_guid("2002")
    bridge.start()
    assert "restored" in bridge.log_path.read_text()
    events.wait(lambda evs: events.lifecycle().count("resync_finished") >= 2, 30)
    events.poll(2)
    upd = [e for e in events.of("presence", entity=f"user:{g}") if e.value["op"] == "u" and "dnd" in e.changed]
    assert len(upd) == 1 and upd[0].changed == ["dnd"]
    assert all(len([x for x in events.of("lines", entity=e.entity)]) == 1 for e in events.of("lines"))
    assert all(len([x for x in events.of("queues", entity=e.entity)]) == 1 for e in events.of("queues"))
    validate_all(events.all)
    check_sequences(events.all)


def test_librdkafka_queue_full_backlog(tmp_path, kafka, make_bridge, make_events):
    """When librdkafka's queue is full, events wait in order in the bridge's
    backlog, /readyz says so, and everything drains once the broker is back."""
    sim = Sim(tmp_path / "sim", users=10, queues=2, seed=5).start()
    try:
        bridge = make_bridge(sim, extra=["--kafka.queue.buffering.max.messages=3"]).start()
        events = make_events(bridge)
        with kafka.stopped():
            for extn in ("2001", "2002", "2003", "2004"):
                sim.ctl("POST", "/trunk/call", {"to": extn})
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_backlog"] > 0, 20, what="a backlog")
            status, why = bridge.http("/readyz")
            assert status == 503 and "Kafka is not keeping up" in why
            sim.ctl("POST", "/calls/clear")
            time.sleep(1)
        wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_backlog"] == 0
                 and bridge.metrics()["mtcti3_bridge_events_inflight"] == 0, 60, what="drained")
        events.wait(lambda evs: calls_all_ended(events), 30, "every call deleted")
        validate_all(events.all)
        check_sequences(events.all)
        ids = [e.headers["ce_id"] for e in events.all if not e.tombstone]
        assert len(ids) == len(set(ids))
    finally:
        sim.stop()
