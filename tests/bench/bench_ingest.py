#!/usr/bin/env python3
"""Benchmark of the bridge's ingest (not a test): ipo-sim load through
mtcti3-bridge to a real Kafka broker (single-node KRaft), all on loopback.
Start it through tests/bench/run.sh (builds the Release tree first).  One
run measures the bridge twice, with its transactional producer (the
default) and without (kafka_transactions=false), each against the same
simulator, and prints, per mode:

  - subscribe: USERS users and QUEUES queues fully subscribed (the bridge's
    resync_finished event: connect to every subscription active), and the
    wall time from starting the bridge
  - at the latency point (--changes user changes/s offered, about 20,000
    Notifies/s): notifies/s, events/s, notify-to-ack p50 and p99 (the
    bridge's histogram mtcti3_bridge_notify_ack_latency_seconds: a Notify's
    arrival to its NotifyAck, sent once Kafka committed every event it
    caused), bridge CPU per Notify and per event (/proc/<pid>/stat), the
    other processes' CPU, and the bytes the broker wrote to its log per
    event (the record batches as produced: compressed)
  - at the saturation point (--max-changes offered, more than the machine
    carries): sustained notifies/s and events/s, and the same figures
  - peak RSS (VmHWM) of the bridge
  - the broker's ceiling, in the same run: a sample of the events the bridge
    produced (with their headers), read back and written to a file, produced
    again by kcat -P -K with the bridge's producer settings (transactional or
    idempotent as the mode, acks=all, linger.ms, compression), KCAT_RUNS
    times: kcat's events/s and its own CPU per event, and the ratios
    bridge CPU per Notify / kcat CPU per event, bridge events/s / kcat
    events/s

and the targets: issue 9 item 7 (CPU per Notify <= 12 us and <= 2 x kcat's
CPU per event, notify-to-ack p99 <= 20 ms at 20,000 Notifies/s), issue 10
item 7 (transactions cost at most 20 % of sustained notifies/s and keep
notify-to-ack p99 within 50 ms), issue 4 (subscribe < 10 s, 20,000
Notifies/s, peak RSS <= 150 MB).

--codecs none,lz4,zstd adds, per codec, a short run of the bridge
(transactional) at the latency point with kafka.compression.codec set: the
broker's log bytes per event and the bridge's CPU per Notify, and kcat's CPU
per event with the same codec.  --bridge-arg passes any bridge flag (a lean
envelope: --bridge-arg=--event_lean=before).  --profile FILE records the
bridge with `perf record` (cpu-clock, call graphs) during the transactional
latency window and writes the report to FILE (the figures of such a run
include perf's own cost: it writes no results).

RESULTS.md: the run's figures replace only the section between the markers
`<!-- bench_ingest: begin -->` and `<!-- bench_ingest: end -->` (added at
the top when missing); every other section is kept as it is.

Bounded: every wait has a deadline, the whole run an alarm (--max-seconds);
every process it starts is stopped on the way out.
"""
import argparse
import json
import os
import pathlib
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
sys.path.insert(0, str(TOP / "tests" / "bridge"))

from services import KafkaBroker, RedisServer, wait_for  # noqa: E402
from bridgelib import Bridge, Events, Sim  # noqa: E402

BEGIN, END = "<!-- bench_ingest: begin -->", "<!-- bench_ingest: end -->"
# topics whose events the kcat ceiling replays (every event topic of the load)
EVENT_TOPICS = ("presence", "queue-stats", "calls", "live-calls", "queues")
# the bridge's producer defaults kcat is given (bridge/clients/kafka_client.h)
KCAT_PRODUCER = {"acks": "all", "enable.idempotence": "true", "linger.ms": "5",
                 "partitioner": "murmur2_random"}


def proc_cpu_seconds(pid):
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def loadavg():
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def histogram(metrics, name):
    """[(upper bound, cumulative count)] and the count, from /metrics."""
    buckets = sorted((float(k.split('le="')[1].split('"')[0]), v) for k, v in metrics.items()
                     if k.startswith(name + "_bucket") and "+Inf" not in k)
    return buckets, metrics.get(name + "_count", 0)


def quantile(m1, m0, name, q):
    """The bucket upper bound holding quantile q of the observations between two scrapes,
    in milliseconds (the histograms are in seconds)."""
    b1, n1 = histogram(m1, name)
    b0, n0 = histogram(m0, name)
    before = dict(b0)
    total = n1 - n0
    if total <= 0:
        return None
    for le, count in b1:
        if count - before.get(le, 0) >= q * total:
            return round(le * 1000, 3)
    return float("inf")


def delta(m1, m0, key):
    return m1.get(key, 0) - m0.get(key, 0)


def machine():
    cpu = "?"
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(pathlib.Path("/proc/meminfo").read_text().split()[1]) // 1024
    osr = platform.freedesktop_os_release().get("PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else ""
    return f"{os.cpu_count()} CPUs ({cpu}), {mem} MB RAM, {osr}, Linux {platform.release()}"


def log_bytes(kafka, prefix, by_topic=None):
    """Bytes of the broker's log files of the topics named prefix* (record batches as produced);
    by_topic (a dict), when given, receives them per topic suffix."""
    total = 0
    for d in kafka.data_dir.glob(prefix.replace("*", "") + "*"):
        n = 0
        for f in d.glob("*.log"):
            try:
                n += f.stat().st_size
            except OSError:
                pass
        total += n
        if by_topic is not None:
            topic = d.name[len(prefix):].rsplit("-", 1)[0]
            by_topic[topic] = by_topic.get(topic, 0) + n
    return total


class Run:
    """The processes every mode shares: the broker, Redis, the simulator."""

    def __init__(self, args, work):
        self.args, self.work = args, work
        self.kafka = self.redis = self.sim = None
        self.bridges = []

    def start(self):
        self.kafka = KafkaBroker(self.work / "kafka").start()
        if not self.args.no_redis:
            self.redis = RedisServer(self.work / "redis").start()
        self.sim = Sim(self.work / "sim", users=self.args.users, queues=self.args.queues, seed=3,
                       extra=["--log-level", "warn"]).start()

    def others(self):
        o = {"sim": self.sim.proc.pid, "kafka": self.kafka.pid}
        if self.redis:
            o["redis"] = self.redis.pid
        return o

    def traffic(self, changes, cps):
        self.sim.ctl("POST", "/traffic", {"calls_per_second": cps, "user_changes_per_second": changes})

    def stop(self):
        for p in (*self.bridges, self.sim, self.redis, self.kafka):
            if p:
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001 - keep stopping the others
                    print(f"stopping {p}: {e}", file=sys.stderr)


def bridge_codec(args):
    """The bridge's compression (a --bridge-arg's, else --codec: its default), as a codec spec."""
    conf = {}
    for a in args.bridge_arg:
        for k in ("compression.codec", "compression.level"):
            if a.startswith(f"--kafka.{k}="):
                conf[k] = a.split("=", 1)[1]
    codec = conf.get("compression.codec", args.codec)
    return codec + (":" + conf["compression.level"] if "compression.level" in conf and ":" not in codec else "")


def start_bridge(run, name, flags):
    """A bridge on a topic prefix of its own, subscribed: (bridge, subscribe figures)."""
    args = run.args
    bridge = Bridge(run.work / name, run.sim, run.kafka.bootstrap,
                    redis_url=run.redis.url if run.redis else "",
                    extra=["--log_level=warn", *flags, *args.bridge_arg])
    run.bridges.append(bridge)
    t0 = time.monotonic()
    bridge.start(wait_resync=False)
    events = Events(run.kafka.bootstrap, bridge.prefix)
    try:
        events.wait(lambda evs: "resync_finished" in events.lifecycle(), 120, "resync_finished")
        wall_s = time.monotonic() - t0
        finished = [e for e in events.all if e.topic == "bridge" and e.value["type"] == "resync_finished"][0]
    finally:
        events.close()
    detail = finished.value["detail"]
    return bridge, {"subscribe_s": round(detail["duration_ms"] / 1000, 2), "subscribe_wall_s": round(wall_s, 2),
                    "subscriptions_active": detail.get("active")}


def measure(run, bridge, changes, profile=None):
    """One load point: warm up, then the figures of --seconds."""
    args = run.args
    pid, others = bridge.proc.pid, run.others()
    run.traffic(changes, args.cps)
    time.sleep(args.warmup)
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,8192",
                                 "-p", str(pid),
                                 "-o", str(run.work / "perf.data")], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    bt0, bt1 = {}, {}
    s0, b0 = run.sim.ctl("GET", "/stats"), log_bytes(run.kafka, bridge.prefix, bt0)
    m0, c0, w0 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
    o0 = {k: proc_cpu_seconds(p) for k, p in others.items()}
    time.sleep(args.seconds)
    m1, c1, w1 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
    o1 = {k: proc_cpu_seconds(p) for k, p in others.items()}
    s1, b1 = run.sim.ctl("GET", "/stats"), log_bytes(run.kafka, bridge.prefix, bt1)
    la = loadavg()
    run.traffic(0, 0)
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        with open(profile, "w") as out:
            subprocess.run(["perf", "report", "-i", str(run.work / "perf.data"), "--stdio", "--no-children",
                            "--percent-limit", "0.3", "-g", "none", "--sort", "dso,sym"],
                           stdout=out, stderr=subprocess.DEVNULL, check=False, timeout=300)
            out.write("\n\n# callers, by inclusive share\n")
            out.flush()
            subprocess.run(["perf", "report", "-i", str(run.work / "perf.data"), "--stdio", "--children",
                            "--percent-limit", "2", "-g", "none", "--sort", "sym"],
                           stdout=out, stderr=subprocess.DEVNULL, check=False, timeout=300)
    wall = w1 - w0
    notifies = delta(m1, m0, "mtcti3_bridge_notifies_received_total")
    produced = sum(delta(m1, m0, k) for k in m1 if k.startswith("mtcti3_bridge_events_produced_total"))
    mix = {k.split('topic="')[1].split('"')[0]: round(delta(m1, m0, k) / wall) for k in m1
           if k.startswith("mtcti3_bridge_events_produced_total{") and delta(m1, m0, k) > 0}
    # let the bridge drain before the next point
    wait_for(lambda: bridge.metrics().get("mtcti3_bridge_acks_pending", 1) == 0, 60, 0.2, "bridge drained")
    return {
        "offered_user_changes_per_s": round((s1["traffic"]["user_changes"] - s0["traffic"]["user_changes"]) / wall),
        "notifies_per_s": round(notifies / wall),
        "acks_per_s": round(delta(m1, m0, "mtcti3_bridge_notify_acks_sent_total") / wall),
        "events_per_s": round(produced / wall),
        "events_per_s_by_topic": mix,
        "ack_p50_ms": quantile(m1, m0, "mtcti3_bridge_notify_ack_latency_seconds", 0.5),
        "ack_p99_ms": quantile(m1, m0, "mtcti3_bridge_notify_ack_latency_seconds", 0.99),
        "delivery_p50_ms": quantile(m1, m0, "mtcti3_bridge_kafka_delivery_latency_seconds", 0.5),
        "delivery_p99_ms": quantile(m1, m0, "mtcti3_bridge_kafka_delivery_latency_seconds", 0.99),
        "bridge_cpu_percent": round((c1 - c0) / wall * 100, 1),
        "bridge_cpu_us_per_notify": round((c1 - c0) / max(1.0, notifies) * 1e6, 2),
        "bridge_cpu_us_per_event": round((c1 - c0) / max(1.0, produced) * 1e6, 2),
        **{f"{k}_cpu_percent": round((o1[k] - o0[k]) / wall * 100, 1) for k in others},
        "log_bytes_per_event": round((b1 - b0) / max(1.0, produced), 1),
        "log_bytes_per_event_by_topic": {t: round((bt1.get(t, 0) - bt0.get(t, 0)) / (mix[t] * wall), 1)
                                         for t in sorted(mix) if mix[t]},
        # the events producer's average round trip to the broker (librdkafka's statistics, every 5 s)
        "events_broker_rtt_ms": max((round(v * 1000, 1) for k, v in m1.items()
                                     if k.startswith("mtcti3_bridge_kafka_broker_rtt_seconds{") and "-events-" in k),
                                    default=None),
        "loadavg_end": la,
    }


def last_messages(kafka, topic, n):
    """Up to n of the last committed messages of a topic (read_committed), as (key, value, headers)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer(kafka.client_config(**{"group.id": f"bench-{os.getpid()}-{time.monotonic_ns()}",
                                        "enable.auto.commit": False, "isolation.level": "read_committed"}))
    out = []
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        parts = sorted(md.partitions)
        ends, assign = {}, []
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = hi
            if hi > lo:
                assign.append(TopicPartition(topic, p, max(lo, hi - n // len(parts) - 1)))
        c.assign(assign)
        done = {tp.partition for tp in assign if tp.offset >= ends[tp.partition]}
        deadline, idle = time.monotonic() + 30, 0
        while len(done) < len(assign) and len(out) < n and time.monotonic() < deadline and idle < 3:
            m = c.poll(0.5)
            idle = idle + 1 if m is None else 0
            if m is None or m.error():
                continue
            if m.value() is not None and m.key() is not None:
                out.append((m.key(), m.value(), list(m.headers() or [])))
            if m.offset() + 1 >= ends[m.partition()] - 1:  # the last is a transaction marker or the last message
                done.add(m.partition())
    finally:
        c.close()
    return out


def kcat_sample(run, bridge, mix, n_events):
    """The bridge's own events, in the proportions of topics it produced them (mix: topic -> events/s),
    for kcat: (file, headers, average bytes of key + value + headers)."""
    total = sum(v for k, v in mix.items() if k in EVENT_TOPICS) or 1
    sample = []
    for topic in EVENT_TOPICS:
        want = round(20000 * mix.get(topic, 0) / total)
        if want:
            sample += [m for m in last_messages(run.kafka, bridge.prefix + topic, want)
                       if b"\n" not in m[1] and b"\t" not in m[0]]
    if not sample:
        return None
    sample.sort(key=lambda m: hash(m[1]))  # topics mixed, as the bridge writes them
    # kcat adds the same headers to every message (-H): those of the first event that has them
    headers = next((m[2] for m in sample if m[2]), [])
    path = run.work / f"events-{bridge.prefix}kv"
    raw = 0
    with open(path, "wb") as f:
        for i in range(n_events):
            key, value, hdrs = sample[i % len(sample)]
            f.write(key + b"\t" + value + b"\n")
            raw += len(key) + len(value) + sum(len(k) + len(v or b"") for k, v in hdrs)
    return path, headers, raw / n_events


def kcat_ceiling(run, bridge, sample, runs, transactional, codec, tag):
    """kcat -P producing the sample file: best events/s, its runs, kcat's lowest CPU per event."""
    path, headers, _ = sample
    n = sum(1 for _ in open(path, "rb"))
    topic = bridge.prefix + "kcat-" + tag
    run.kafka.create_topic(topic, 3)
    conf = {**KCAT_PRODUCER, **codec_conf(codec)}
    if transactional:  # kcat writes the whole file in one transaction
        conf["transactional.id"] = f"bench-kcat-{bridge.prefix}{tag}"
    cmd = ["kcat", "-P", "-b", run.kafka.bootstrap, "-t", topic, "-K", "\t", "-l", str(path)]
    for k, v in conf.items():
        cmd += ["-X", f"{k}={v}"]
    for k, v in headers:
        cmd += ["-H", f"{k}={(v or b'').decode()}"]
    rates, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        rates.append(n / (time.monotonic() - t))
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n * 1e6)
    return {"kcat_events_per_s": round(max(rates)), "kcat_runs_events_per_s": [round(r) for r in rates],
            "kcat_cpu_us_per_event": round(min(cpus), 2)}


def run_mode(run, name, transactional, profile=None):
    """One bridge (transactional or not): both load points, its peak RSS, kcat's ceiling."""
    args = run.args
    flags = [] if transactional else ["--kafka_transactions=false"]
    bridge, sub = start_bridge(run, name, flags)
    lat = measure(run, bridge, args.changes, profile)
    sat = measure(run, bridge, args.max_changes) if args.max_changes else None
    rss = proc_hwm_mb(bridge.proc.pid)
    sample = kcat_sample(run, bridge, lat["events_per_s_by_topic"], args.kcat_events)
    kcat = kcat_ceiling(run, bridge, sample, args.kcat_runs, transactional, bridge_codec(args), name) if sample else {}
    bridge.stop()
    out = {**sub, "bridge_peak_rss_mb": round(rss, 1), "latency": lat, "saturation": sat, **kcat}
    if sample:
        out["event_bytes_avg"] = round(sample[2])
    if kcat:
        out["cpu_ratio_notify"] = round(lat["bridge_cpu_us_per_notify"] / kcat["kcat_cpu_us_per_event"], 2)
        out["cpu_ratio_event"] = round(lat["bridge_cpu_us_per_event"] / kcat["kcat_cpu_us_per_event"], 2)
        top = sat or lat
        out["rate_ratio"] = round(top["events_per_s"] / kcat["kcat_events_per_s"], 3)
    return out


class CallgrindBridge(Bridge):
    """The bridge under valgrind's callgrind, counting nothing until told (callgrind_control -i on)."""

    def __init__(self, *args, out=None, **kw):
        super().__init__(*args, **kw)
        self.out = out

    def command(self):
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}",
                *super().command()]


def run_callgrind(run, report):
    """The whole bridge (every thread, user space; transactional unless a --bridge-arg says otherwise)
    under callgrind for --seconds of load:
    instructions per Notify and per event, by object and by function, written to `report`."""
    args = run.args
    out = run.work / "callgrind.out"
    bridge = CallgrindBridge(run.work / "callgrind", run.sim, run.kafka.bootstrap,
                             redis_url=run.redis.url if run.redis else "",
                             extra=["--log_level=warn", *args.bridge_arg], out=out)
    run.bridges.append(bridge)
    bridge.start(wait_resync=False)
    events = Events(run.kafka.bootstrap, bridge.prefix)
    try:
        events.wait(lambda evs: "resync_finished" in events.lifecycle(), 600, "resync_finished under callgrind")
    finally:
        events.close()
    pid = bridge.proc.pid
    run.traffic(args.changes, args.cps)
    time.sleep(args.warmup)
    def control(*what):
        subprocess.run(["callgrind_control", *what, str(pid)], check=True, capture_output=True, timeout=120)
    control("-i", "on")
    time.sleep(args.warmup)  # instrumented: slower, and the load settles again
    control("-z")
    m0 = bridge.metrics()
    time.sleep(args.seconds)
    control("-d")
    m1 = bridge.metrics()
    control("-i", "off")
    run.traffic(0, 0)
    bridge.stop()
    notifies = delta(m1, m0, "mtcti3_bridge_notifies_received_total")
    produced = sum(delta(m1, m0, k) for k in m1 if k.startswith("mtcti3_bridge_events_produced_total"))
    dump = max(run.work.glob("callgrind.out*"), key=lambda f: f.stat().st_size)
    incl = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(dump)], capture_output=True, text=True).stdout
    selfc = subprocess.run(["callgrind_annotate", str(dump)], capture_output=True, text=True).stdout
    total = 0
    for line in selfc.splitlines():
        if "PROGRAM TOTALS" in line and line.split()[0] != ".":
            total = int(line.split()[0].replace(",", ""))
    row = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?$")

    def rows(text):
        for line in text.splitlines():
            m = row.match(line)
            if m and "PROGRAM TOTALS" not in m.group(2):
                yield int(m.group(1).replace(",", "")), m.group(2).split(":", 1)[-1], (m.group(3) or "").rsplit("/", 1)[-1]
    by_obj = {}
    for ir, _, obj in rows(selfc):
        by_obj[obj] = by_obj.get(obj, 0) + ir
    n = max(1.0, notifies)
    with open(report, "w") as f:
        f.write(f"callgrind, whole bridge (user space, every thread), bridge flags {' '.join(args.bridge_arg) or '(none)'}, "
                f"{args.changes:g} changes/s offered, {args.seconds:g} s: {notifies:.0f} Notifies, {produced:.0f} events\n")
        f.write(f"instructions per Notify: {total / n:,.0f}   per event: {total / max(1.0, produced):,.0f}\n\n")
        f.write("by object (self, per Notify):\n")
        for obj, ir in sorted(by_obj.items(), key=lambda kv: -kv[1])[:12]:
            f.write(f"  {ir / n:>9,.0f}  {obj or '?'}\n")
        f.write("\nfunctions, callees included (per Notify):\n")
        for ir, name, obj in list(rows(incl))[:60]:
            f.write(f"  {ir / n:>9,.0f}  {name}  [{obj}]\n")
        f.write("\nfunctions, self (per Notify):\n")
        for ir, name, obj in list(rows(selfc))[:40]:
            f.write(f"  {ir / n:>9,.0f}  {name}  [{obj}]\n")
    print(open(report).read())


def codec_conf(spec):
    """A codec spec, "zstd" or "zstd:1" (with compression.level), as producer properties."""
    name, _, level = spec.partition(":")
    return {"compression.codec": name, **({"compression.level": level} if level else {})}


def run_codecs(run, codecs):
    """Per codec: the transactional bridge at the latency point, and kcat with that codec."""
    args = run.args
    out = {}
    for codec in codecs:
        bridge, _ = start_bridge(run, f"codec-{codec.replace(':', '-')}",
                                 [f"--kafka.{k}={v}" for k, v in codec_conf(codec).items()])
        saved = args.seconds
        args.seconds = args.codec_seconds
        try:
            lat = measure(run, bridge, args.changes)
        finally:
            args.seconds = saved
        sample = kcat_sample(run, bridge, lat["events_per_s_by_topic"], args.kcat_events)
        tag = "c" + codec.replace(":", "-")
        kcat = kcat_ceiling(run, bridge, sample, args.kcat_runs, True, codec, tag) if sample else {}
        kcat_bytes = log_bytes(run.kafka, bridge.prefix + "kcat-" + tag)
        bridge.stop()
        out[codec] = {"notifies_per_s": lat["notifies_per_s"], "events_per_s": lat["events_per_s"],
                      "ack_p99_ms": lat["ack_p99_ms"],
                      "bridge_cpu_us_per_notify": lat["bridge_cpu_us_per_notify"],
                      "kafka_cpu_percent": lat["kafka_cpu_percent"],
                      "log_bytes_per_event": lat["log_bytes_per_event"],
                      "log_bytes_per_event_by_topic": lat["log_bytes_per_event_by_topic"],
                      "event_bytes_avg": round(sample[2]) if sample else None,
                      "kcat_cpu_us_per_event": kcat.get("kcat_cpu_us_per_event"),
                      "kcat_log_bytes_per_event": round(kcat_bytes / max(1, args.kcat_events * args.kcat_runs), 1),
                      "loadavg_end": lat["loadavg_end"]}
    return out


def targets(result):
    """(what, target, value, met) rows."""
    on, off = result["txn"], result.get("plain")
    lat = on["latency"]
    rows = [
        ("3,000 users + 300 queues subscribed (issue 4)", "< 10 s", on["subscribe_s"], on["subscribe_s"] < 10),
        ("bridge peak RSS (issue 4)", "<= 150 MB", on["bridge_peak_rss_mb"], on["bridge_peak_rss_mb"] <= 150),
        ("bridge CPU per Notify, transactional, latency point (issue 9.7)", "<= 12 us",
         lat["bridge_cpu_us_per_notify"], lat["bridge_cpu_us_per_notify"] <= 12),
    ]
    if "cpu_ratio_notify" in on:
        rows.append(("bridge CPU per Notify / kcat CPU per event, same run (issue 9.7)", "<= 2",
                     on["cpu_ratio_notify"], on["cpu_ratio_notify"] <= 2))
    rows.append(("notify-to-ack p99 at 20,000 Notifies/s, transactional (issue 9.7)", "<= 20 ms",
                 f"{lat['ack_p99_ms']} ms at {lat['notifies_per_s']}/s",
                 lat["ack_p99_ms"] is not None and lat["ack_p99_ms"] <= 20 and lat["notifies_per_s"] >= 20000))
    rows.append(("notify-to-ack p99 with transactions (issue 10.7)", "<= 50 ms", lat["ack_p99_ms"],
                 lat["ack_p99_ms"] is not None and lat["ack_p99_ms"] <= 50))
    top = on["saturation"] or lat
    rows.append(("notifies/s sustained, transactional (issue 4)", ">= 20,000", top["notifies_per_s"],
                 top["notifies_per_s"] >= 20000))
    if off:
        top_off = off["saturation"] or off["latency"]
        cost = 1 - top["notifies_per_s"] / max(1, top_off["notifies_per_s"])
        result["txn_cost_notifies"] = round(cost, 3)
        rows.append(("transactions' cost in sustained notifies/s (issue 10.7)", "<= 20 %",
                     f"{cost * 100:.1f} % ({top['notifies_per_s']} vs {top_off['notifies_per_s']})", cost <= 0.20))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--queues", type=int, default=300)
    ap.add_argument("--changes", type=float, default=21000,
                    help="user changes/s offered at the latency point (about 20,000 Notifies/s)")
    ap.add_argument("--max-changes", type=float, default=80000,
                    help="user changes/s offered at the saturation point (0: no saturation point)")
    ap.add_argument("--cps", type=float, default=20, help="new calls/s the simulator offers")
    ap.add_argument("--seconds", type=float, default=20, help="measurement window of each point")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--modes", default="txn,plain",
                    help="txn (the transactional producer), plain (kafka_transactions=false), or both")
    ap.add_argument("--codec", default="zstd",
                    help="the bridge's compression.codec default (kafka_client.h), for kcat; a --bridge-arg "
                         "setting kafka.compression.codec wins")
    ap.add_argument("--codecs", default="", help="compare compression codecs, e.g. none,lz4,zstd,zstd:1 (:level)")
    ap.add_argument("--codec-seconds", type=float, default=10)
    ap.add_argument("--kcat-events", type=int, default=200000)
    ap.add_argument("--kcat-runs", type=int, default=3)
    ap.add_argument("--no-redis", action="store_true", help="run the bridge without Redis (commands off)")
    ap.add_argument("--profile", default="", metavar="FILE",
                    help="perf record the transactional bridge's latency window, report to FILE (writes no results)")
    ap.add_argument("--callgrind", default="", metavar="FILE",
                    help="only the bridge under callgrind for --seconds at --changes: "
                         "instructions per Notify to FILE (writes no results)")
    ap.add_argument("--max-seconds", type=int, default=1500, help="give up after this long")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="'' to write nothing")
    ap.add_argument("--bridge-arg", action="append", default=[], metavar="FLAG",
                    help="an extra bridge flag, e.g. --bridge-arg=--kafka.linger.ms=1 (repeatable)")
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in ("txn", "plain") for m in modes):
        ap.error("--modes: txn, plain or txn,plain")

    def too_long(signum, frame):
        raise TimeoutError(f"benchmark over {args.max_seconds} s")
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    run = Run(args, work)
    result = {"users": args.users, "queues": args.queues, "redis": not args.no_redis,
              "bridge_args": args.bridge_arg, "loadavg_start": loadavg()}
    try:
        run.start()
        if args.callgrind:
            run_callgrind(run, args.callgrind)
            return
        for mode in modes:
            result["txn" if mode == "txn" else "plain"] = run_mode(
                run, mode, mode == "txn", args.profile if mode == "txn" else None)
        if args.codecs:
            result["codecs"] = run_codecs(run, [c for c in args.codecs.split(",") if c])
        result["loadavg_end"] = loadavg()
        rows = targets(result) if "txn" in result else []
        print(json.dumps(result, indent=2))
        for what, target, value, met in rows:
            print(f"{'MET   ' if met else 'MISSED'}  {what}: {value} (target {target})")
        if args.results and not args.profile:
            write_results(pathlib.Path(args.results), args, result, rows)
    finally:
        signal.alarm(0)
        run.stop()


def section(args, result, rows):
    """The markdown of this run, between the markers."""
    argv, cmd = sys.argv[1:], []
    while argv:  # the command, without where its results went
        a = argv.pop(0)
        if a == "--results" and argv:
            argv.pop(0)
        elif not a.startswith("--results="):
            cmd.append(a)
    cmd = " ".join(cmd)
    out = [BEGIN, "## Latest run (written by bench_ingest.py)", "",
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.",
           "Real Kafka (single-node KRaft, from the Maven jars), "
           f"{'redis-server (the command store), ' if result['redis'] else ''}ipo-sim and the bridge "
           "(Release build) share the machine, on loopback; load average "
           f"{result['loadavg_start']} at the start, {result['loadavg_end']} at the end (other work on the "
           "machine shows there).",
           f"Command: `tests/bench/run.sh {cmd}`".rstrip() + "", ""]
    if rows:
        out += ["| target | value | |", "|---|---|---|"]
        out += [f"| {what} {target} | {value} | {'met' if met else '**missed**'} |" for what, target, value, met in rows]
        out.append("")
    modes = [m for m in ("txn", "plain") if m in result]
    names = {"txn": "transactional", "plain": "idempotent (kafka_transactions=false)"}
    out += ["| figure | " + " | ".join(names[m] for m in modes) + " |", "|---|" + "---|" * len(modes)]
    keys = [k for k in result[modes[0]] if k not in ("latency", "saturation")]
    for k in keys:
        out.append(f"| {k} | " + " | ".join(str(result[m].get(k)) for m in modes) + " |")
    for point in ("latency", "saturation"):
        if not result[modes[0]].get(point):
            continue
        for k in result[modes[0]][point]:
            out.append(f"| {point}: {k} | " + " | ".join(str((result[m].get(point) or {}).get(k)) for m in modes) + " |")
    if "txn_cost_notifies" in result:
        out.append(f"| transactions' cost (1 - sustained notifies/s on / off) | {result['txn_cost_notifies']} | |")
    if result.get("codecs"):
        codecs = list(result["codecs"])
        out += ["", "Compression (transactional bridge at the latency point, "
                f"{args.codec_seconds:g} s each; log bytes: what the broker wrote per event):", "",
                "| figure | " + " | ".join(codecs) + " |", "|---|" + "---|" * len(codecs)]
        for k in result["codecs"][codecs[0]]:
            out.append(f"| {k} | " + " | ".join(str(result["codecs"][c].get(k)) for c in codecs) + " |")
    out += ["", "How to read them: see \"How the figures are made\" below.", END]
    return "\n".join(out) + "\n"


def write_results(path, args, result, rows):
    """Replace this script's section of RESULTS.md, keeping every other section."""
    text = path.read_text() if path.exists() else "# mtcti3-bridge ingest benchmark\n"
    new = section(args, result, rows)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + new + "\n" + rest.split(END, 1)[1].lstrip("\n")
    else:  # after the title
        lines = text.split("\n", 1)
        text = lines[0] + "\n\n" + new + "\n" + (lines[1].lstrip("\n") if len(lines) > 1 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
