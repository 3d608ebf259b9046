"""Fail-back with a plain list of URLs (issue 14.3), against two independent
ipo-sim processes: A, the first (preferred) URL of ipo_url, and B, the
fallback.  Same seed, so the same users, lines and GUIDs; same CA; nothing
else shared (a DND set on one is not on the other).

  A killed          the bridge moves to B; only what differs there is announced
  A refusing        A's port answers again but refuses the service user: every
                    check fails and B's connection goes on untouched (events,
                    commands, no lifecycle event)
  A back            a fresh A on the same port: the bridge fails back within one
                    backoff step, never before failback_min_ms on B; a failback
                    lifecycle event, the metrics, a resync that announces exactly
                    what differs (the DNDs set on B, the call only B knew)
  throughout        every event valid, seq continuous, no ce_id twice, commands
                    before, during and after
"""
import json
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

from bridgelib import Sim, check_live_calls, check_sequences, validate_all
from services import wait_for

FAILBACK_MIN_MS = 3000
RECONNECT_MAX_MS = 2000  # bridgelib's; the checks' backoff tops out there (20% jitter)


class Results:
    """Commands produced to the bridge, their results read (read_committed)."""

    def __init__(self, bootstrap, bridge):
        self.topic = bridge.prefix + "commands"
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False, "isolation.level": "read_committed"})
        results = bridge.prefix + "command-results"

        def parts():
            t = self.consumer.list_topics(results, timeout=5).topics.get(results)
            if t is None or t.error is not None or not t.partitions:
                return None
            return [TopicPartition(results, p, OFFSET_BEGINNING) for p in t.partitions]
        self.consumer.assign(wait_for(parts, 30, 0.3, "the results topic"))
        self.got = {}

    def run(self, action, user, args):
        cid = f"fb-{uuid.uuid4().hex[:10]}"
        cmd = {"id": cid, "action": action, "target": {"user": user}, "args": args}
        self.producer.produce(self.topic, key=cid, value=json.dumps(cmd))
        self.producer.flush(10)

        def result():
            for m in self.consumer.consume(100, 0.3):
                if not m.error():
                    self.got[m.key().decode()] = json.loads(m.value())
            return self.got.get(cid)
        return wait_for(result, 30, 0, f"the result of {action} {user}")

    def close(self):
        self.consumer.close()


def lifecycle(events):
    return [(e.value["type"], e.value["detail"], e.value["ts_ms"]) for e in events.all if e.topic == "bridge"]


def presence(events, guid, since):
    """(changed, dnd, phonestate_name) of user `guid`'s updates read after the first `since` events."""
    return [(e.value["changed"], e.value["after"]["dnd"], e.value["after"]["phonestate_name"])
            for e in events.all[since:] if e.topic == "presence" and e.entity == f"user:{guid}"
            and e.value["op"] == "u"]


def settle(events, quiet=1.0):
    """Reads until nothing new came for `quiet` s; how many events were read."""
    last = [len(events.all), time.monotonic()]

    def still():
        events.poll(0.2)
        if len(events.all) != last[0]:
            last[:] = [len(events.all), time.monotonic()]
        return time.monotonic() - last[1] >= quiet
    wait_for(still, 30, 0, "the topics to settle")
    return len(events.all)


def server(sim):
    """The simulator's connection counters (GET /stats)."""
    st = sim.ctl("GET", "/stats")["server"]
    return {"connections": st["connections"], "refused_auth": st["refused_auth"]}


def log_count(bridge, text):
    return bridge.log_path.read_text().count(text)


def test_fail_back_to_the_first_url(tmp_path, kafka, redis_server, make_bridge, make_events):
    tls = ("--tls-dir", str(tmp_path / "tls"))  # one CA for both systems
    a = Sim(tmp_path / "a", users=4, queues=1, seed=5, extra=tls).start()
    b = Sim(tmp_path / "b", users=4, queues=1, seed=5, extra=tls).start()
    a_port = a.ready["wss_port"]
    a_url, b_url = a.url, b.url
    again = []  # A's later processes on the same port
    results = bridge = None
    try:
        assert [u["guid"] for u in a.model()["users"]] == [u["guid"] for u in b.model()["users"]]
        bridge = make_bridge(a, redis_url=redis_server.url, extra=[f"--failback_min_ms={FAILBACK_MIN_MS}"],
                             env={"MTCTI3_IPO_URL": f"{a_url},{b_url}"}).start()
        events = make_events(bridge)
        results = Results(kafka.bootstrap, bridge)
        guid = {u["extn"]: u["guid"] for u in a.model()["users"]}
        m = bridge.metrics()
        assert (m["mtcti3_bridge_pbx_url_index"], m["mtcti3_bridge_pbx_failbacks_total"]) == (0, 0)

        snapshot = settle(events)  # the first snapshot, read whole

        # before: a command on A
        assert results.run("set_dnd", "2001", {"on": True})["status"] == "succeeded"
        assert a.model_user("2001")["dnd"] is True
        events.wait(lambda evs: presence(events, guid["2001"], snapshot), 20, "2001's DND on A")

        # A killed: the bridge moves to B, where 2001 has no DND
        a.proc.kill()
        a.proc.wait()
        events.wait(lambda evs: [t for t, _, _ in lifecycle(events)].count("resync_finished") == 2, 30,
                    "the resync on B")
        m = bridge.metrics()
        assert (m["mtcti3_bridge_pbx_url_index"], m["mtcti3_bridge_pbx_failbacks_total"]) == (1, 0)
        assert results.run("set_dnd", "2002", {"on": True})["status"] == "succeeded"
        assert b.model_user("2002")["dnd"] is True
        on_b = [t for t, _, _ in lifecycle(events)]

        # A's port answers again, but refuses the service user: the checks fail,
        # B's connection goes on (a call rings there, a command runs there)
        on_a_port = (*tls, "--listen", f"127.0.0.1:{a_port}")
        wrong = Sim(tmp_path / "a-wrong", users=4, queues=1, seed=5, extra=on_a_port)
        wrong.password = "not-the-bridge's"
        again.append(wrong.start())
        checks = log_count(bridge, f"the first URL {a_url} is not back")
        wait_for(lambda: log_count(bridge, f"the first URL {a_url} is not back") >= checks + 2, 30, 0.2,
                 "two refused checks")
        # the checks got as far as the websocket upgrade (TCP and TLS up) and were refused there
        assert server(wrong)["connections"] == 0 and server(wrong)["refused_auth"] >= 2
        gcid = b.ctl("POST", "/trunk/call", {"from": "01707100123", "to": "2004", "name": "OnB"})["gcid"]
        events.wait(lambda evs: events.of("calls", op="c", gcid=gcid), 20, "the call ringing on B")
        assert results.run("set_dnd", "2003", {"on": True})["status"] == "succeeded"
        assert b.model_user("2003")["dnd"] is True
        events.wait(lambda evs: presence(events, guid["2003"], snapshot), 20, "2003's DND on B")
        m = bridge.metrics()
        assert (m["mtcti3_bridge_pbx_url_index"], m["mtcti3_bridge_pbx_failbacks_total"],
                m["mtcti3_bridge_pbx_connected"]) == (1, 0, 1)
        assert [t for t, _, _ in lifecycle(events)] == on_b  # nothing happened to the link
        assert server(b) == {"connections": 1, "refused_auth": 0}
        wrong.stop()

        # A back, fresh, on its port: the bridge fails back to it
        fresh = Sim(tmp_path / "a-again", users=4, queues=1, seed=5, extra=on_a_port)
        again.append(fresh.start())
        back_ms = time.time() * 1000
        events.wait(lambda evs: [t for t, _, _ in lifecycle(events)].count("resync_finished") == 3, 30,
                    "the resync on A")
        assert results.run("set_dnd", "2004", {"on": True})["status"] == "succeeded"  # after: on A
        assert fresh.model_user("2004")["dnd"] is True
        assert b.model_user("2004")["dnd"] is False
        events.wait(lambda evs: presence(events, guid["2004"], snapshot)
                    and presence(events, guid["2004"], snapshot)[-1][1] is True, 20, "2004's DND on A")
        m = bridge.metrics()
        assert (m["mtcti3_bridge_pbx_url_index"], m["mtcti3_bridge_pbx_failbacks_total"],
                m["mtcti3_bridge_pbx_connected"]) == (0, 1, 1)
        # the fallback's connection is closed, the first URL's is the only one
        wait_for(lambda: server(b)["connections"] == 0, 10, 0.1, "B's connection closed")
        assert server(fresh) == {"connections": 1, "refused_auth": 0}

        life = lifecycle(events)
        assert [t for t, _, _ in life] == [
            "started", "connected", "resync_started", "resync_finished", "owner",
            "disconnected", "connected", "resync_started", "resync_finished",
            "failback", "disconnected", "connected", "resync_started", "resync_finished"]
        connected = [(d["url"], d["connection"], ts) for t, d, ts in life if t == "connected"]
        assert [c[:2] for c in connected] == [(a_url, 1), (b_url, 2), (a_url, 3)]
        [(failback, fb_ts)] = [(d, ts) for t, d, ts in life if t == "failback"]
        assert (failback["from"], failback["to"]) == (b_url, a_url)
        assert failback["fallback_ms"] >= FAILBACK_MIN_MS
        assert fb_ts - connected[1][2] >= FAILBACK_MIN_MS  # never before the minimum on B
        # within one backoff step of A's return (the step at most reconnect_max_ms + 20%)
        assert fb_ts - back_ms <= RECONNECT_MAX_MS * 1.2 + 1000, (fb_ts - back_ms)
        assert [d["reason"] for t, d, _ in life if t == "disconnected"] == \
            ["closed", "failing back to the first URL"]

        # what each move announced: exactly what differs between the systems
        settle(events)
        assert presence(events, guid["2001"], snapshot) == [(["dnd"], True, "idle"), (["dnd"], False, "idle")]
        assert presence(events, guid["2002"], snapshot) == [(["dnd"], True, "idle"), (["dnd"], False, "idle")]
        assert presence(events, guid["2003"], snapshot) == [(["dnd"], True, "idle"), (["dnd"], False, "idle")]
        assert [(x[1], x[2]) for x in presence(events, guid["2004"], snapshot)] == \
            [(False, "ringing"), (False, "idle"), (True, "idle")]
        # the call only B knew: created there, deleted (inferred) once A had resynced without it
        legs = events.of("calls", gcid=gcid)
        assert [(e.value["op"], e.value["seq"]) for e in legs] == [("c", 1), ("d", 2)]
        assert legs[1].value["calllost"]["synthetic"] is True
        # nothing else: lines and queues said nothing after the first snapshot
        later = events.all[snapshot:]
        assert [e for e in later if e.topic in ("lines", "queues")] == []

        validate_all(events.all)
        check_sequences(events.all)
        check_live_calls(events.all)
        ce_ids = [e.headers["ce_id"] for e in events.all if not e.tombstone and e.topic != "live-calls"]
        assert len(ce_ids) == len(set(ce_ids)), "an event published twice"
        # one stay on a fallback: the first check waited failback_min_ms, once
        first_check = f"on the fallback {b_url}: checking the first URL {a_url} in {FAILBACK_MIN_MS} ms"
        assert log_count(bridge, first_check) == 1
    finally:
        if results:
            results.close()
        if bridge:
            bridge.stop()
        for s in again:
            s.stop()
        a.stop()
        b.stop()
