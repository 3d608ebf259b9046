"""Helpers of the bridge's integration tests: ipo-sim, the bridge process,
reading its topics, and validating events against schemas/.

    sim = Sim(workdir, users=5, queues=2).start()
    bridge = Bridge(workdir, sim, kafka.bootstrap, redis_url=...).start()
    events = Events(kafka.bootstrap, bridge.prefix)
    events.wait(lambda evs: ..., timeout=20)

Binaries: the build tree (MTCTI3_BUILD_DIR), or MTCTI3_IPO_SIM /
MTCTI3_BRIDGE naming them.
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import time
import urllib.request
import uuid
from typing import Callable, Optional

from services import wait_for, tail

TOP = pathlib.Path(__file__).resolve().parent.parent.parent
SCHEMAS = TOP / "schemas"
TOPICS = ("calls", "live-calls", "presence", "queues", "lines", "bridge")
SCHEMA_OF = {"calls": "event-call.schema.json", "live-calls": "event-call.schema.json",
             "presence": "event-presence.schema.json",
             "queues": "event-queue.schema.json", "lines": "event-line.schema.json",
             "bridge": "event-bridge.schema.json"}


def find_binary(name: str, env: str) -> str:
    """The binary named by the environment variable `env`, else the build tree's."""
    if os.environ.get(env):
        return os.environ[env]
    import testenv
    return str(testenv.binary(name))


class Sim:
    """ipo-sim with a generated model, TLS with its own CA."""

    password = "sim-secret"
    user = "mtcti3"

    def __init__(self, workdir, users=5, queues=2, seed=1, calls_per_second=0.0, extra=()):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = ["--users", str(users), "--queues", str(queues), "--seed", str(seed),
                     "--calls-per-second", str(calls_per_second), *extra]
        self.proc = None
        self.ready = None

    def start(self):
        ready = self.workdir / "sim-ready.json"
        ready.unlink(missing_ok=True)
        self.log = open(self.workdir / "sim.log", "ab")
        cmd = [find_binary("ipo-sim", "MTCTI3_IPO_SIM"), "--listen", "127.0.0.1:0",
               "--control", "127.0.0.1:0", "--ready-file", str(ready),
               "--tls-dir", str(self.workdir / "tls"), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "IPO_SIM_PASSWORD": self.password})
        wait_for(lambda: ready.exists() and json.loads(ready.read_text()), 15, what="ipo-sim ready file")
        self.ready = json.loads(ready.read_text())
        return self

    @property
    def url(self):
        return f"wss://127.0.0.1:{self.ready['wss_port']}/tpkt/openapi"

    def ctl(self, method, path, body=None, ok=(200, 201)):
        if body is None and method != "GET":
            body = {}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.ready['control_port']}{path}",
                                     data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if ok and status not in ok:
            raise AssertionError(f"ipo-sim {method} {path}: {status} {text!r}")
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise AssertionError(f"ipo-sim {method} {path}: {status} not JSON: {text[:200]!r}")

    def model(self):
        return self.ctl("GET", "/model")

    def model_user(self, extn):
        """The model's user `extn` as it stands now."""
        return next(u for u in self.model()["users"] if u["extn"] == extn)

    def user_guid(self, extn):
        return self.model_user(extn)["guid"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def label_pair(name, value):
    """name="value", the value escaped as the Prometheus text format wants."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}="{escaped}"'


def strip_label(series, pair):
    """`series` without the label `pair` (name="value"), the first of its set
    (the bridge writes pbx first); `{}` dropped when nothing else remains."""
    base, brace, labels = series.partition("{")
    if not brace:
        return series
    labels = labels[:-1]
    if labels == pair:
        return base
    if labels.startswith(pair + ","):
        return f"{base}{{{labels[len(pair) + 1:]}}}"
    return series


class Bridge:
    """mtcti3-bridge against a Sim, on a topic prefix of its own."""

    def __init__(self, workdir, sim: Sim, bootstrap: str, redis_url: str = "",
                 prefix: Optional[str] = None, pbx_id: Optional[str] = None, extra=(), env=None):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        self.prefix = prefix or f"t{tag}."
        self.pbx_id = pbx_id or f"ipo-{tag}"
        self.sim = sim
        self.bootstrap = bootstrap
        self.redis_url = redis_url
        self.extra = list(extra)
        self.env = env or {}
        self.proc = None
        self.starts = 0

    def command(self):
        return [find_binary("mtcti3-bridge", "MTCTI3_BRIDGE"), "--http_listen=127.0.0.1:0",
                f"--ready_file={self.workdir / 'bridge-ready.json'}", "--resync_grace_ms=1000",
                "--reconnect_min_ms=200", "--reconnect_max_ms=2000", "--kafka_partitions=3",
                "--kafka_replication=1", "--log_level=info", *self.extra]

    def environment(self):
        return {**os.environ,
                "MTCTI3_IPO_URL": self.sim.url, "MTCTI3_IPO_USER": self.sim.user,
                "MTCTI3_IPO_PASSWORD": self.sim.password,
                "MTCTI3_IPO_CA_FILE": self.sim.ready["ca_file"],
                "MTCTI3_KAFKA_BOOTSTRAP": self.bootstrap, "MTCTI3_REDIS_URL": self.redis_url,
                "MTCTI3_PBX_ID": self.pbx_id, "MTCTI3_TOPIC_PREFIX": self.prefix, **self.env}

    def spawn(self):
        """Start the process and return at once (start() waits for it)."""
        (self.workdir / "bridge-ready.json").unlink(missing_ok=True)
        self.log_path = self.workdir / "bridge.log"
        self.log = open(self.log_path, "ab")
        self.log.write(f"==== start {self.starts}\n".encode())
        self.log.flush()
        self.starts += 1
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.environment())
        return self

    def log_lines(self):
        """The log of the current (or last) run, one string per line."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("==== start ")]
        return lines[starts[-1] + 1:] if starts else lines

    def wait_log(self, text, timeout=30):
        """Wait for a line of the current run holding `text`; returns it."""
        def found():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"bridge exited {self.proc.returncode}:\n{tail(self.log_path)}")
            return next((line for line in self.log_lines() if text in line), None)
        return wait_for(found, timeout, 0.05, f"log line with {text!r}")

    def signal_exit(self, sig=signal.SIGTERM, timeout=30):
        """Send `sig` and wait for the exit: (exit status, seconds from the signal to the exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        took = time.monotonic() - t0
        self.proc = None
        return rc, took

    def start(self, wait_resync=True):
        ready = self.workdir / "bridge-ready.json"
        self.spawn()
        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"bridge exited {self.proc.returncode}:\n{tail(self.log_path)}")
            return ready.exists() and json.loads(ready.read_text())
        self.ready = wait_for(up, 40, what="bridge ready file")
        if wait_resync:
            self.wait_ready()
        return self

    def http(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ready['http_port']}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def readyz(self):
        """/readyz: (status, {"ready": bool, "components": [...]}) -- the same body with 200 and 503."""
        status, body = self.http("/readyz")
        return status, json.loads(body)

    def readiness(self):
        """/readyz's components as {"<pbx>/<component>" or "<component>": (ready, reason, or detail when
        ready, or None)}."""
        _, doc = self.readyz()
        return {(f"{c['pbx']}/" if "pbx" in c else "") + c["component"]:
                (c["ready"], c.get("reason") if not c["ready"] else c.get("detail"))
                for c in doc["components"]}

    def wait_ready(self, timeout=40):
        wait_for(lambda: self.http("/readyz")[0] == 200, timeout, 0.2, "bridge /readyz")

    def metrics(self, raw=False) -> dict:
        """/metrics as {series text: value}.  The series of this bridge's own
        PBX (self.pbx_id) lose their pbx label, so a single-PBX test reads
        m["mtcti3_bridge_pbx_connected"] or m['mtcti3_bridge_subscriptions{state="active"}'];
        other PBXs' series keep theirs.  `raw`: every series as exported."""
        own = label_pair("pbx", self.pbx_id)
        out = {}
        for line in self.http("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                if not raw:
                    name = strip_label(name, own)
                out[name] = float(value)
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Event:
    def __init__(self, msg, prefix=""):
        self.topic = msg.topic()[len(prefix):] if prefix else msg.topic().split(".")[-1]
        self.partition = msg.partition()
        self.offset = msg.offset()
        self.key = msg.key().decode() if msg.key() is not None else None
        self.raw = msg.value()
        self.value = json.loads(msg.value()) if msg.value() is not None else None
        self.headers = {k: (v.decode() if v is not None else None) for k, v in (msg.headers() or [])}

    @property
    def tombstone(self):
        return self.value is None

    def __getattr__(self, name):
        if self.value is not None and name in self.value:
            return self.value[name]
        raise AttributeError(name)

    @property
    def entity(self):
        return self.value["source"]["entity"] if self.value and "source" in self.value else None

    def __repr__(self):
        if self.tombstone:
            return f"<{self.topic} {self.key} tombstone>"
        if self.topic == "bridge":
            return f"<bridge {self.value['type']}>"
        return f"<{self.topic} {self.entity} {self.value['op']} seq={self.value['seq']} changed={self.value['changed'] if self.value['op'] == 'u' else ''}>"


def same_leg(name, entity):
    """Tests name a call leg "call:<line guid>:<gcid>"; its entity id adds the
    time the bridge first saw it ("call:<line guid>:<gcid>:<ms>")."""
    return (name.startswith("call:") and entity is not None and entity.startswith(name + ":")
            and entity[len(name) + 1:].isdigit())


class Events:
    """Every message of the bridge's event topics, read from the beginning,
    as a consumer should: isolation.level=read_committed (the bridge writes
    in transactions)."""

    def __init__(self, bootstrap, prefix):
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        self.prefix = prefix
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                  "isolation.level": "read_committed",
                                  "topic.metadata.refresh.interval.ms": 1000})
        topics = [prefix + t for t in TOPICS]
        def parts():
            md = self.consumer.list_topics(timeout=5)
            found = [md.topics.get(t) for t in topics]
            if any(t is None or not t.partitions for t in found):
                return None
            return [TopicPartition(t.topic, p, OFFSET_BEGINNING) for t in found for p in t.partitions]
        self.consumer.assign(wait_for(parts, 30, 0.3, f"topics {prefix}*"))
        self.all: list[Event] = []

    def poll(self, timeout=0.5):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.consumer.consume(1000, max(0.0, min(0.2, deadline - time.monotonic())))
            for m in msgs:
                if m.error():
                    continue
                self.all.append(Event(m, self.prefix))
            if time.monotonic() >= deadline and not msgs:
                return self.all

    def wait(self, pred: Callable[[list], object], timeout=30.0, what=None):
        def cond():
            self.poll(0.3)
            return pred(self.all)
        return wait_for(cond, timeout, 0.05, what or "events")

    def of(self, topic=None, entity=None, op=None, key=None, tombstones=False, gcid=None):
        """Events of this selection; gcid= picks the legs of one call (each leg
        has a key of its own, "<line guid>:<gcid>:<first seen ms>")."""
        out = []
        for e in self.all:
            if topic and e.topic != topic:
                continue
            if gcid is not None and (e.tombstone or e.topic not in ("calls", "live-calls")
                                     or (e.value["after"] or e.value["before"])["gcid"] != gcid):
                continue
            if e.tombstone:
                if tombstones and (key is None or e.key == key):
                    out.append(e)
                continue
            if tombstones:
                continue
            if entity and e.entity != entity and not same_leg(entity, e.entity):
                continue
            if op and (e.topic == "bridge" or e.value["op"] not in op):
                continue
            if key and e.key != key:
                continue
            out.append(e)
        return out

    def lifecycle(self):
        return [e.value["type"] for e in self.all if e.topic == "bridge"]

    def started(self):
        """The values of the bridge's `started` events, one per start."""
        return [e.value for e in self.all if e.topic == "bridge" and e.value["type"] == "started"]

    def close(self):
        self.consumer.close()


_validators = {}


def validator(topic):
    if not _validators:
        from jsonschema import Draft202012Validator
        from referencing import Registry, Resource
        resources = []
        for p in SCHEMAS.glob("event-*.schema.json"):
            s = json.loads(p.read_text())
            resources.append((s["$id"], Resource.from_contents(s)))
        registry = Registry().with_resources(resources)
        for t, name in SCHEMA_OF.items():
            s = json.loads((SCHEMAS / name).read_text())
            _validators[t] = Draft202012Validator(s, registry=registry,
                                                  format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _validators[topic]


def validate_all(events: list[Event]):
    """Every event valid against its schema, every CloudEvents header right."""
    for e in events:
        if e.tombstone:
            assert e.topic in ("presence", "queues", "lines", "live-calls"), f"tombstone on {e.topic}"
            continue
        errors = sorted(validator(e.topic).iter_errors(e.value), key=str)
        assert not errors, f"{e!r} invalid: {errors[0].message} at {list(errors[0].absolute_path)}\n{e.raw[:400]!r}"
        h = e.headers
        assert h["ce_specversion"] == "1.0" and h["content-type"] == "application/json"
        assert h["ce_source"].startswith("/mtcti3/")
        if e.topic != "bridge":
            assert h["ce_id"] == f"{e.value['source']['pbx']}/{e.entity}/{e.value['seq']}"
            assert h["ce_subject"] == e.entity


def check_sequences(events: list[Event]):
    """Per entity: seq runs 1, 2, 3... with no gap (events are read from the
    beginning of topics of the test's own, so every entity's first event, seq
    1, is there); a repeated seq is the same event again (same ce_id, same
    payload).  The live copies (live-calls) are checked by check_live_calls.
    Returns {entity: [events]}."""
    by_entity: dict[str, list[Event]] = {}
    for e in events:
        if e.tombstone or e.topic in ("bridge", "live-calls"):
            continue
        by_entity.setdefault(e.entity, []).append(e)
    for entity, evs in by_entity.items():
        first = {}
        for e in evs:
            s = e.value["seq"]
            if s in first:
                assert first[s].raw == e.raw, f"{entity}: seq {s} sent twice with different content"
                assert first[s].headers["ce_id"] == e.headers["ce_id"]
            else:
                first[s] = e
        seqs = sorted(first)
        assert seqs == list(range(1, len(seqs) + 1)), f"{entity}: seq gap {seqs}"
        # per-key order: an entity's events share a key, hence a partition;
        # in it, each new seq comes after every earlier one (repeats aside)
        assert len({e.partition for e in evs}) == 1, f"{entity}: spread over partitions"
        seen, top = set(), 0
        for e in sorted(evs, key=lambda x: x.offset):
            s = e.value["seq"]
            if s not in seen:
                assert s > top, f"{entity}: seq {s} after {top}"
                seen.add(s)
                top = s
    return by_entity


def check_live_calls(events: list[Event]):
    """live-calls mirrors calls: every call event but the deletes is there
    once, byte for byte, under the same key; each delete is a tombstone
    there instead.  Returns {key: last live message} (a tombstone for a leg
    that ended): what a consumer reading the compacted topic from the start
    keeps."""
    calls = [e for e in events if e.topic == "calls" and not e.tombstone]
    live = [e for e in events if e.topic == "live-calls"]
    want = [(e.key, e.raw) for e in calls if e.value["op"] != "d"]
    got = [(e.key, e.raw) for e in live if not e.tombstone]
    assert sorted(got) == sorted(want), "live-calls is not the calls topic without its deletes"
    ended = sorted(e.key for e in calls if e.value["op"] == "d")
    assert sorted(e.key for e in live if e.tombstone) == ended
    last = {}
    for e in sorted(live, key=lambda x: (x.partition, x.offset)):
        last[e.key] = e
    return last
