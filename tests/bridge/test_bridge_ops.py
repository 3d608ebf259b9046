"""The bridge under a supervisor (issue #11): signals, start-up, readiness and
the log, against the real binary and real services (Kafka broker, Redis,
ipo-sim).  Every stop is timed from the signal to the exit.

  stop         SIGTERM while running with commands: exit 0 within 10 s, the
               `stopped` event committed, the command offsets committed, a
               new instance continues every seq (nothing half-written)
  start-up     SIGINT while it starts: exit 0 within 10 s; SIGHUP then never kills
  first second HTTP served within 1 s with Kafka, Redis and the PBX all away;
               /readyz 503 naming each component and why; SIGTERM: exit 0
  Kafka lost   SIGTERM with events waiting for a stopped broker: exit 0 within
               10 s, the events left unacknowledged, a new instance loses nothing
  Redis lost   SIGTERM with Redis stopped (SIGSTOP) and a command waiting
  PBX away     SIGTERM with the PBX unreachable
  read-back    SIGTERM while the committed state is being read back (the
               reader throttled by a broker quota)
  readiness    200 with every component, 503 again when the PBX drops (and
               the log says so), 200 again after
  http_listen  a busy port or an address not of this machine: one line, exit 2
  SIGHUP       reopens log_file (rotation), reloads the policy file; a bad
               policy file keeps the running one; a broken config file keeps
               every setting; changes needing a restart are named
  bad files    a log_file that cannot be written, a policy file that does not
               parse: one line, exit 2, also at --check-config
  outages      each Kafka outage and each Redis outage logged once when it
               starts and once when it ends, with its duration
  stall        the bridge stopped (SIGSTOP) for 20 s: one line, "stalled for ~20 s"
"""
import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from bridgelib import Bridge, Events, Sim, check_sequences, find_binary, validate_all
from services import free_port, tail, wait_for
from test_bridge_commands import Commands, rejected, succeeded

STOP_LIMIT = 10.0  # seconds from the signal to the exit, in every state
STOPPED = re.compile(r"^stopped in (\d+\.\d) s, exit status (\d+)$")
LINE = re.compile(r"^\S+Z (error|warn|info|debug)\s+(\w+)(?:\[([^]]*)\])? (.*)$")


def msg(line):
    """A log line's message, without its time, level, context and instance ("" when not a log line)."""
    m = LINE.match(line)
    return m.group(4) if m else ""


def messages(lines, pattern):
    """The messages of `lines` that match `pattern` (a regex, whole)."""
    return [msg(line) for line in lines if re.fullmatch(pattern, msg(line))]
# librdkafka's words after ours: "1/1 brokers are down" (ALL_BROKERS_DOWN), or its last connection failure
KAFKA_DOWN = r"every broker unreachable for \d+ s: (\d+/\d+ brokers are down|no broker up: .+)"
COMPONENTS = ["ownership", "kafka_producer", "state", "pbx_link", "resync", "kafka_keeping_up"]


def clean_stop(bridge, sig=signal.SIGTERM):
    """Send `sig`; the bridge exits 0 within STOP_LIMIT and says so last.  Returns its lines."""
    rc, took = bridge.signal_exit(sig)
    lines = bridge.log_lines()
    assert rc == 0, (rc, tail(bridge.log_path))
    assert took < STOP_LIMIT, (took, tail(bridge.log_path))
    m = STOPPED.match(msg(lines[-1]))
    assert m and m.group(2) == "0", lines[-3:]
    assert float(m.group(1)) <= took + 0.1
    name = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}[sig]
    assert messages(lines, f"{name}: stopping") == [f"{name}: stopping"], lines[-10:]
    return lines


def component(bridge, name, ready, reason=None, timeout=30):
    """Wait until /readyz shows component `name` ("<pbx>/pbx_link", "kafka") with
    `ready` and a reason that matches `reason` (a regex, whole) when given."""
    def ok():
        got = bridge.readiness().get(name)
        if got is None or got[0] != ready:
            return None
        if reason is not None and not re.fullmatch(reason, got[1] or ""):
            return None
        return got
    return wait_for(ok, timeout, 0.05, f"/readyz {name} ready={ready} {reason or ''}")


def committed_offset(bootstrap, group, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        return c.committed([TopicPartition(topic, partition)], timeout=10)[0].offset
    finally:
        c.close()


# ---- SIGTERM and SIGINT in every state ----

def test_sigterm_running_commits_everything(tmp_path, kafka, redis_server, make_bridge, make_events):
    """A running bridge with traffic and commands stops within 10 s: its last
    events (`stopped` among them) committed, the command offsets committed; a
    new instance continues every entity's seq."""
    sim = Sim(tmp_path / "sim", users=6, queues=2, seed=11, calls_per_second=5).start()
    try:
        bridge = make_bridge(sim, redis_url=redis_server.url).start()
        events = make_events(bridge)
        commands = Commands(kafka.bootstrap, bridge)
        for _ in range(3):
            succeeded(commands.run({"action": "get_version"}), "get_version")
        commands.close()
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
        lines = clean_stop(bridge)
        assert not [line for line in lines if "not confirmed at exit" in line]
        events.wait(lambda evs: "stopped" in events.lifecycle(), 10, "the stopped event")
        assert events.lifecycle()[-1] == "stopped"
        group = f"mtcti3-bridge-{bridge.pbx_id}"
        assert committed_offset(kafka.bootstrap, group, bridge.prefix + "commands") == 3
        # a new instance of the same PBX: every seq goes on, none repeats with other content
        again = make_bridge(sim, redis_url=redis_server.url, prefix=bridge.prefix, pbx_id=bridge.pbx_id).start()
        events.wait(lambda evs: events.lifecycle().count("resync_finished") == 2, 30, "second resync")
        sim.ctl("POST", "/traffic", {"calls_per_second": 0}, ok=None)
        clean_stop(again)
        events.poll(2)
        validate_all(events.all)
        check_sequences(events.all)
    finally:
        sim.stop()


def test_sigint_during_start_up_and_sighup_never_kills(sim, make_bridge):
    """SIGHUP while the bridge starts does not kill it; SIGINT then stops it
    cleanly although nothing is ready yet."""
    bridge = make_bridge(sim).spawn()
    bridge.wait_log("starting (pid")
    bridge.proc.send_signal(signal.SIGHUP)
    bridge.wait_log("SIGHUP: settings reloaded, log on stderr")
    assert bridge.proc.poll() is None
    clean_stop(bridge, signal.SIGINT)


def test_http_first_second_with_everything_away(tmp_path, kafka, redis_server, make_bridge):
    """Kafka stopped, Redis stopped (SIGSTOP), the PBX unreachable: /healthz
    answers within a second of the start, /readyz is 503 and names each
    component and why; SIGTERM stops it within 10 s."""
    port = free_port()
    dead_pbx = f"wss://127.0.0.1:{free_port()}/tpkt/openapi"
    sim = Sim(tmp_path / "sim", users=2, queues=1).start()
    try:
        bridge = make_bridge(sim, redis_url=redis_server.url, env={"MTCTI3_IPO_URL": dead_pbx},
                             extra=[f"--http_listen=127.0.0.1:{port}"])
        pbx = bridge.pbx_id
        os.kill(redis_server.pid, signal.SIGSTOP)
        try:
            with kafka.stopped():
                t0 = time.monotonic()
                bridge.spawn()
                bridge.ready = {"http_port": port}
                wait_for(lambda: bridge.http("/healthz") == (200, "ok\n"), 5, 0.01, "/healthz")
                assert time.monotonic() - t0 < 1.0, time.monotonic() - t0
                status, doc = bridge.readyz()
                assert status == 503 and doc["ready"] is False
                assert [c.get("pbx", "") + "/" + c["component"] for c in doc["components"]] == \
                    ["/kafka", "/redis", "/group"] + [f"{pbx}/{c}" for c in COMPONENTS] + [f"{pbx}/commands"]
                component(bridge, "kafka", False, KAFKA_DOWN)
                component(bridge, "redis", False, rf"unreachable for \d+ s: redis 127\.0\.0\.1:{redis_server.port}: "
                                                  r"no answer to connect and handshake in 2000 ms")
                assert bridge.readiness() == {
                    "kafka": bridge.readiness()["kafka"], "redis": bridge.readiness()["redis"],
                    "group": (False, "creating the topics"),
                    f"{pbx}/ownership": (True, "standby"),  # nobody's yet: the group has not formed
                    f"{pbx}/kafka_producer": (True, "standby: none"),
                    f"{pbx}/state": (False, "waiting for the topics"),
                    f"{pbx}/pbx_link": (False, "not connected to the PBX"),  # a warm standby connects at once
                    f"{pbx}/resync": (False, "not connected"),
                    f"{pbx}/kafka_keeping_up": (True, None),
                    f"{pbx}/commands": (True, "standby")}
                status, _ = bridge.readyz()
                assert status == 503
                clean_stop(bridge)
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
    finally:
        sim.stop()


def test_sigterm_with_events_waiting_for_a_stopped_broker(tmp_path, kafka, make_bridge, make_events):
    """Kafka stops under traffic: SIGTERM stops the bridge within 10 s, the
    events Kafka never confirmed are not acknowledged (the PBX sends them
    again), and a new instance after Kafka is back loses nothing."""
    sim = Sim(tmp_path / "sim", users=6, queues=2, seed=12, calls_per_second=5).start()
    try:
        bridge = make_bridge(sim).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 3, 30, "traffic flowing")
        with kafka.stopped():
            wait_for(lambda: bridge.metrics()["mtcti3_bridge_events_inflight"] > 0, 20, what="events waiting")
            component(bridge, f"{bridge.pbx_id}/kafka_keeping_up", False,
                      r"Kafka is not keeping up \(\d+ events wait, the oldest for \d+ ms\)")
            lines = clean_stop(bridge)
            assert len(messages(lines, r"\d+ events not committed at exit after \d+ ms, the producer still [a-z ]+ "
                                       r"\(the PBX sends them again: they were not acknowledged\)")) == 1
        again = make_bridge(sim, prefix=bridge.prefix, pbx_id=bridge.pbx_id).start()
        sim.ctl("POST", "/traffic", {"calls_per_second": 0}, ok=None)
        events.wait(lambda evs: events.lifecycle().count("resync_finished") == 2, 60, "second resync")
        clean_stop(again)
        events.poll(2)
        validate_all(events.all)
        check_sequences(events.all)
        ids = [e.headers["ce_id"] for e in events.all if not e.tombstone and e.topic != "live-calls"]
        assert len(ids) == len(set(ids)), "an event was duplicated"
    finally:
        sim.stop()


def test_sigterm_with_redis_stopped_and_a_command_waiting(kafka, redis_server, sim, make_bridge):
    bridge = make_bridge(sim, redis_url=redis_server.url).start()
    commands = Commands(kafka.bootstrap, bridge)
    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        commands.send({"id": "w-" + uuid.uuid4().hex[:8], "action": "get_version"})
        component(bridge, "redis", False,
                  rf"unreachable for \d+ s: redis 127\.0\.0\.1:{redis_server.port}: no reply in 2000 ms")
        clean_stop(bridge)
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
        commands.close()


def test_kafka_refusing_events_counts_delivery_errors(kafka, sim, make_bridge):
    """A topic whose broker refuses every record batch (max.message.bytes below
    any batch of events, above a transaction marker's): each refusal counts in mtcti3_bridge_kafka_delivery_errors_total
    (the alert on failing deliveries reads it), nothing is acknowledged as
    committed, the bridge is not ready, and it still stops cleanly."""
    bridge = make_bridge(sim)
    kafka.create_topic(bridge.prefix + "lines", partitions=1, compacted=True, config={"max.message.bytes": 200})
    bridge.start(wait_resync=False)
    pbx = bridge.pbx_id
    first = wait_for(lambda: bridge.metrics()["mtcti3_bridge_kafka_delivery_errors_total"] or None, 60,
                     what="a delivery error counted")
    assert first >= 1
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_kafka_delivery_errors_total"] > first, 30,
             what="the refused events produced again, and refused again")
    assert bridge.readiness()[f"{pbx}/ownership"] == (False, "taking over (committing the first events)")
    assert bridge.http("/readyz")[0] == 503
    clean_stop(bridge)


def test_sigterm_with_the_pbx_unreachable(kafka, sim, make_bridge):
    bridge = make_bridge(sim, env={"MTCTI3_IPO_URL": f"wss://127.0.0.1:{free_port()}/tpkt/openapi"})
    bridge.start(wait_resync=False)
    component(bridge, f"{bridge.pbx_id}/pbx_link", False, "not connected to the PBX")
    component(bridge, f"{bridge.pbx_id}/ownership", True, "owner")  # no PBX to wait for: it publishes
    assert bridge.readiness()[f"{bridge.pbx_id}/state"] == (True, None)
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_reconnects_total"] >= 2, 20, what="reconnects")
    clean_stop(bridge)


def test_sigterm_during_the_state_read_back(tmp_path, kafka, sim, make_bridge):
    """The committed state is being read back (the reader throttled by a broker
    quota to 2 KB/s, 1 KB per partition per fetch, over 60 KB of tombstones):
    SIGTERM stops the bridge within 10 s."""
    bridge = make_bridge(sim, extra=["--kafka.max.partition.fetch.bytes=1024"])
    kafka.create_topic(bridge.prefix + "presence", partitions=3, compacted=True)
    producer = kafka.producer(**{"linger.ms": 0, "batch.num.messages": 1})
    for i in range(1200):
        producer.produce(bridge.prefix + "presence", key=f"user-{i:05d}-{'x' * 24}".encode(), value=None)
        producer.poll(0)
    assert producer.flush(30) == 0
    kafka.client_quota(f"mtcti3-bridge-reader-{bridge.pbx_id}", consumer_byte_rate=2048)
    bridge.start(wait_resync=False)
    pbx = bridge.pbx_id
    component(bridge, f"{pbx}/state", False,
              r"reading the committed state back from Kafka \([1-9]\d* messages so far\)")
    # assigned, its producer initialised: the takeover waits for the state read back
    component(bridge, f"{pbx}/ownership", False, r"taking over \(syncing\)")
    component(bridge, f"{pbx}/kafka_producer", True)
    clean_stop(bridge)
    assert not [line for line in bridge.log_lines() if "restored" in line and "entities" in line]


# ---- readiness ----

def test_readyz_ready_then_not_when_the_pbx_drops(sim, make_bridge):
    bridge = make_bridge(sim).start()
    pbx = bridge.pbx_id
    status, doc = bridge.readyz()
    assert status == 200
    assert doc == {"ready": True, "components": [{"component": "kafka", "ready": True},
                                                 {"component": "group", "ready": True},
                                                 {"pbx": pbx, "component": "ownership", "ready": True,
                                                  "detail": "owner"}] + [
        {"pbx": pbx, "component": c, "ready": True} for c in COMPONENTS[1:]]}
    assert re.fullmatch(r"ready \d+\.\d s after start", msg(bridge.wait_log(" main ready ")))
    sim.ctl("POST", "/connections/drop")
    component(bridge, f"{pbx}/resync", False)
    line = msg(bridge.wait_log(" main not ready: "))
    assert re.fullmatch(rf"not ready: {pbx}/pbx_link \(not connected to the PBX\), {pbx}/resync \(not connected\)"
                        rf"|not ready: {pbx}/resync \(resync in progress\)", line), line
    bridge.wait_ready()
    assert re.fullmatch(r"ready again after \d+\.\d s not ready", msg(bridge.wait_log(" main ready again after")))
    assert bridge.readyz() == (200, doc)


def test_http_listen_busy_or_not_local(tmp_path, sim, kafka):
    """A port another process listens on, or an address of no interface of this
    machine: one line naming http_listen and why, exit 2, nothing started."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        for listen, why in ((f"127.0.0.1:{port}", "Address already in use"),
                            ("192.0.2.1:9464", "Cannot assign requested address")):
            bridge = Bridge(tmp_path / f"b-{port}-{why[:4]}", sim, kafka.bootstrap,
                            extra=[f"--http_listen={listen}"])
            t0 = time.monotonic()
            r = subprocess.run(bridge.command(), env=bridge.environment(), capture_output=True, text=True,
                               timeout=20)
            assert r.returncode == 2, r.stderr
            assert time.monotonic() - t0 < 5
            errors = [line for line in r.stderr.splitlines() if "http_listen" in line]
            assert errors == [f"mtcti3-bridge: http_listen: cannot listen on {listen}: {why}"], r.stderr
            assert "kafka[" not in r.stderr and "redis[" not in r.stderr  # nothing else was started
    finally:
        busy.close()


# ---- SIGHUP ----

def test_sighup_reopens_the_log_and_reloads_the_policy(tmp_path, kafka, redis_server, sim, make_bridge):
    log = tmp_path / "bridge-file.log"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"actions": ["set_dnd"]}))
    conf = tmp_path / "bridge.conf"
    conf.write_text(f"log_file = {log}\ncommands_policy_file = {policy}\nsubscribe_window = 64\n")
    bridge = make_bridge(sim, redis_url=redis_server.url, extra=[f"--config={conf}"]).start()
    commands = Commands(kafka.bootstrap, bridge)
    try:
        assert bridge.log_lines() == []  # everything goes to log_file
        text = log.read_text()
        assert "mtcti3-bridge 0.1.0 starting" in text and " main ready " in text
        rejected(commands.run({"action": "get_version"}), "denied", "get_version")
        # rotation: the file moved away, a new policy, a setting that needs a restart
        log.rename(tmp_path / "bridge-file.log.1")
        policy.write_text(json.dumps({"actions": ["set_dnd", "get_version"]}))
        conf.write_text(f"log_file = {log}\ncommands_policy_file = {policy}\nsubscribe_window = 32\n")
        bridge.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: log.exists() and "command policy reloaded" in log.read_text(), 10, what="new log")
        lines = log.read_text().splitlines()
        assert [msg(line) for line in lines if "SIGHUP" in line] == [
            "SIGHUP: subscribe_window changed: takes effect at the next start",
            f"SIGHUP: settings reloaded, log reopened: {log}",
            f"SIGHUP: command policy reloaded from {policy}"]
        assert "SIGHUP" not in (tmp_path / "bridge-file.log.1").read_text()
        succeeded(commands.run({"action": "get_version"}), "get_version")
        # a bad policy file: the running one stays, the log says why
        policy.write_text('{"actions": ["dorp"]}')
        bridge.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "policy not reloaded" in log.read_text(), 10, what="policy refused")
        refused = [msg(line) for line in log.read_text().splitlines() if "policy not reloaded" in line]
        assert refused == [f"SIGHUP: command policy not reloaded, the running one stays: {policy}: actions[0]: "
                           "\"dorp\" names no action"], refused
        succeeded(commands.run({"action": "get_version"}), "get_version")
        # a broken config file: nothing changes, the log says why
        conf.write_text("log_file = \nno_such_setting = 1\n")
        bridge.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "settings not reloaded" in log.read_text(), 10, what="settings refused")
        assert [msg(line) for line in log.read_text().splitlines() if "settings not reloaded" in line] == [
            'SIGHUP: settings not reloaded, the running ones stay: no_such_setting: unknown setting (see --help) '
            f'({conf}:2)']
        assert bridge.proc.poll() is None
        assert bridge.http("/readyz")[0] == 200
        rc, took = bridge.signal_exit()
        assert rc == 0 and took < STOP_LIMIT
        assert STOPPED.match(msg(log.read_text().splitlines()[-1]))
    finally:
        commands.close()


def test_log_file_or_policy_file_unusable(tmp_path, sim, kafka):
    """A log_file that cannot be written, a policy file that does not parse:
    one line naming the setting, exit 2, at --check-config and at start."""
    bad = tmp_path / "no-such-dir" / "bridge.log"
    policy = tmp_path / "policy.json"
    policy.write_text('{"actions": ["dorp"]}')
    for flag, line in ((f"--log_file={bad}", f'log_file: cannot create "{bad}": No such file or directory'),
                       (f"--commands_policy_file={policy}",
                        f'commands_policy_file: {policy}: actions[0]: "dorp" names no action')):
        bridge = Bridge(tmp_path / "b", sim, kafka.bootstrap, extra=[flag])
        for extra in (["--check-config"], []):
            r = subprocess.run(bridge.command() + extra, env=bridge.environment(), capture_output=True, text=True,
                               timeout=20)
            assert r.returncode == 2
            assert r.stderr.splitlines() == [f"mtcti3-bridge: {line}"], r.stderr


# ---- the log tells what happened ----

def test_kafka_outage_logged_once_with_its_duration(tmp_path, kafka, make_bridge, make_events):
    sim = Sim(tmp_path / "sim", users=4, queues=1, seed=13, calls_per_second=3).start()
    try:
        bridge = make_bridge(sim).start()
        events = make_events(bridge)
        events.wait(lambda evs: len(events.of("calls", op="c")) >= 2, 30, "traffic flowing")
        t_stop = time.monotonic()
        with kafka.stopped():
            t_down = time.monotonic()
            component(bridge, "kafka", False, KAFKA_DOWN, 30)
            time.sleep(8)  # the outage's length: nothing to wait for, it is what is measured
        t_up = time.monotonic()
        bridge.wait_log("Kafka reachable again after", 30)
        component(bridge, "kafka", True)
        lines = [msg(line) for line in bridge.log_lines()]
        down = [i for i, m in enumerate(lines) if re.fullmatch(r"Kafka unreachable \(.*\): events and commands wait", m)]
        up = [i for i, m in enumerate(lines) if re.fullmatch(r"Kafka reachable again after \d+\.\d s", m)]
        assert len(down) == 1 and len(up) == 1 and down[0] < up[0], [m for m in lines if "Kafka" in m]
        seconds = float(re.fullmatch(r"Kafka reachable again after (\d+\.\d) s", lines[up[0]]).group(1))
        assert t_up - t_down - 1 <= seconds <= t_up - t_stop + 6, (seconds, t_up - t_down, t_up - t_stop)
    finally:
        sim.stop()


def test_redis_outage_logged_once_with_its_duration(kafka, redis_server, sim, make_bridge):
    bridge = make_bridge(sim, redis_url=redis_server.url).start()
    commands = Commands(kafka.bootstrap, bridge)
    addr = f"127.0.0.1:{redis_server.port}"
    try:
        os.kill(redis_server.pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        try:
            cid = commands.send({"id": "o-" + uuid.uuid4().hex[:8], "action": "get_version", "timeout_ms": 60000})
            component(bridge, "redis", False, rf"unreachable for \d+ s: redis {re.escape(addr)}: no reply in 2000 ms")
            t_seen = time.monotonic()
            time.sleep(6)  # the outage's length: nothing to wait for, it is what is measured
        finally:
            os.kill(redis_server.pid, signal.SIGCONT)
        t_cont = time.monotonic()
        bridge.wait_log("connected again after", 30)
        succeeded(commands.wait(cid, timeout=30), "get_version")
        lines = [msg(line) for line in bridge.log_lines() if "redis" in line]
        down = [m for m in lines if re.fullmatch(rf"redis {re.escape(addr)}: .*; reconnecting", m)]
        assert down == [f"redis {addr}: no reply in 2000 ms; reconnecting"], lines
        up = [m for m in lines if "connected again after" in m]
        assert len(up) == 1, lines
        m = re.fullmatch(rf"redis {re.escape(addr)}: connected again after (\d+) ms down \((\d+) attempts\)", up[0])
        assert m, up
        assert (t_cont - t_seen) * 1000 - 500 <= int(m.group(1)) <= (t_cont - t_stop) * 1000 + 3000, \
            (m.group(1), t_cont - t_seen, t_cont - t_stop)
    finally:
        commands.close()


def test_event_loop_stall_logged(sim, make_bridge):
    """The bridge stopped for 20 s (SIGSTOP, as a paused VM or a debugger would):
    one line says the loop stood still for about 20 s."""
    bridge = make_bridge(sim).start()
    os.kill(bridge.proc.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        time.sleep(20)  # the stall's length: nothing to wait for, it is what is measured
    finally:
        os.kill(bridge.proc.pid, signal.SIGCONT)
    stopped = time.monotonic() - t0
    line = msg(bridge.wait_log("event loop stalled for", 10))
    m = re.fullmatch(r"event loop stalled for (\d+\.\d) s \(loop_stall_ms=5000\): the process was stopped or starved "
                     r"of CPU, or the machine paused", line)
    assert m, line
    assert stopped - 0.5 <= float(m.group(1)) <= stopped + 0.5, (m.group(1), stopped)
    assert len([x for x in bridge.log_lines() if "event loop stalled" in x]) == 1
    assert bridge.metrics()["mtcti3_bridge_loop_stalls_total"] == 1
    assert bridge.http("/healthz") == (200, "ok\n")
    bridge.wait_ready()
    clean_stop(bridge)


def test_docs_list_every_ready_component():
    """docs/bridge.md's table of /readyz components is READY_COMPONENTS of
    bridge/ops/ready.h, row for row, in order."""
    from bridgelib import TOP
    header = (TOP / "bridge" / "ops" / "ready.h").read_text()
    names = re.findall(r'^\s*X\(\w+, "(\w+)",', header, re.M)
    assert len(names) == 11, names
    doc = (TOP / "docs" / "bridge.md").read_text()
    rows = re.findall(r"^\s*\| `(\w+)` \| (?:the process|each PBX)", doc, re.M)
    assert rows == names
