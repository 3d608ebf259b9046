#!/usr/bin/env python3
"""Benchmark of the bridge's ingest (not a test): ipo-sim load through
mtcti3-bridge to a real Kafka broker (single-node KRaft), with Redis, all on
loopback.  Start it through tests/bench/run.sh (builds the Release tree
first).  Prints, and writes to tests/bench/RESULTS.md:

  - subscribe: USERS users and QUEUES queues fully subscribed (the bridge's
    resync_finished event: connect to every subscription active), and the
    wall time from starting the bridge
  - sustained notifies/s and events/s while the simulator offers presence
    churn (--changes user changes/s) and calls (--cps), NotifyAck gated per
    subscription, acknowledged only after Kafka confirmed the events
  - notify-to-Kafka-ack latency p50 and p99: the bridge's histogram
    mtcti3_bridge_notify_ack_latency_seconds (from a Notify's arrival to its
    NotifyAck, i.e. until every event it caused was confirmed by Kafka)
  - bridge CPU (/proc/<pid>/stat) and peak RSS (VmHWM), and the other
    processes' CPU for context
  - the broker's ceiling, in the same run: a sample of the events the bridge
    produced, dumped to a file, produced again by kcat -P -K (same producer
    settings: idempotent, acks=all, linger.ms=5, lz4) KCAT_RUNS times, and
    the ratio bridge events/s / kcat events/s

Bounded: every wait has a deadline, the whole run an alarm (--max-seconds);
every process it starts is stopped on the way out.
"""
import argparse
import json
import os
import pathlib
import platform
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

TARGETS = {
    "subscribe_s": ("3,000 users + 300 queues subscribed", "< 10 s"),
    "notifies_per_s": ("notifies/s sustained, ack after delivery", ">= 20,000"),
    "ack_p99_ms": ("notify-to-ack latency p99", "<= 50 ms"),
    "bridge_peak_rss_mb": ("bridge peak RSS", "<= 150 MB"),
    "ratio": ("bridge events/s / kcat events/s", ">= 0.5"),
}


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


def kcat_ceiling(kafka, bridge, work, n_events, runs):
    """kcat producing a sample of the bridge's own events, from a file, timed."""
    sample = []
    for topic in ("presence", "calls", "queues"):
        for m in kafka.consume_all(bridge.prefix + topic, timeout=30):
            if m.value and m.key and b"\n" not in m.value and b"\t" not in m.key:
                sample.append(m.key + b"\t" + m.value)
            if len(sample) >= 20000:
                break
    if not sample:
        return None, 0, []
    path = work / "events.kv"
    with open(path, "wb") as f:
        for i in range(n_events):
            f.write(sample[i % len(sample)] + b"\n")
    size = path.stat().st_size
    topic = bridge.prefix + "kcat"
    kafka.create_topic(topic, 3)
    rates, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.monotonic()
        subprocess.run(["kcat", "-P", "-b", kafka.bootstrap, "-t", topic, "-K", "\t",
                        "-X", "acks=all", "-X", "enable.idempotence=true", "-X", "linger.ms=5",
                        "-X", "compression.codec=lz4", "-l", str(path)],
                       check=True, capture_output=True, timeout=300)
        rates.append(n_events / (time.monotonic() - t))
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / n_events * 1e6)
    return max(rates), size // n_events, [round(r) for r in rates], round(min(cpus), 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--queues", type=int, default=300)
    ap.add_argument("--changes", type=float, default=30000, help="user changes/s the simulator offers")
    ap.add_argument("--cps", type=float, default=20, help="new calls/s the simulator offers")
    ap.add_argument("--seconds", type=float, default=20, help="measurement window")
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--kcat-events", type=int, default=200000)
    ap.add_argument("--kcat-runs", type=int, default=3)
    ap.add_argument("--no-redis", action="store_true", help="run the bridge without Redis")
    ap.add_argument("--max-seconds", type=int, default=600, help="give up after this long")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="'' to write nothing")
    ap.add_argument("--bridge-arg", action="append", default=[], metavar="FLAG",
                    help="an extra bridge flag, e.g. --bridge-arg=--kafka.compression.codec=none (repeatable)")
    args = ap.parse_args()

    def too_long(signum, frame):
        raise TimeoutError(f"benchmark over {args.max_seconds} s")
    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(args.max_seconds)

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    kafka = redis = sim = bridge = events = None
    try:
        kafka = KafkaBroker(work / "kafka").start()
        redis = RedisServer(work / "redis").start()
        sim = Sim(work / "sim", users=args.users, queues=args.queues, seed=3,
                  extra=["--log-level", "warn"]).start()
        bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url="" if args.no_redis else redis.url,
                        extra=["--log_level=warn", *args.bridge_arg])
        t0 = time.monotonic()
        bridge.start(wait_resync=False)
        events = Events(kafka.bootstrap, bridge.prefix)
        events.wait(lambda evs: "resync_finished" in events.lifecycle(), 120, "resync_finished")
        wall_s = time.monotonic() - t0
        finished = [e for e in events.all if e.topic == "bridge" and e.value["type"] == "resync_finished"][0]
        resync_s = finished.value["detail"]["duration_ms"] / 1000
        subscribed = finished.value["detail"]
        events.close()
        events = None

        pid = bridge.proc.pid
        others = {"sim": sim.proc.pid, "kafka": kafka.pid, "redis": redis.pid}
        sim.ctl("POST", "/traffic", {"calls_per_second": args.cps, "user_changes_per_second": args.changes})
        time.sleep(args.warmup)
        s0 = sim.ctl("GET", "/stats")
        m0, c0, w0 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
        o0 = {k: proc_cpu_seconds(p) for k, p in others.items()}
        time.sleep(args.seconds)
        m1, c1, w1 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
        o1 = {k: proc_cpu_seconds(p) for k, p in others.items()}
        s1 = sim.ctl("GET", "/stats")
        sim.ctl("POST", "/traffic", {"calls_per_second": 0, "user_changes_per_second": 0})
        wall = w1 - w0
        notifies = delta(m1, m0, "mtcti3_bridge_notifies_received_total") / wall
        acks = delta(m1, m0, "mtcti3_bridge_notify_acks_sent_total") / wall
        produced = sum(delta(m1, m0, k) for k in m1 if k.startswith("mtcti3_bridge_events_produced_total")) / wall
        offered = (s1["traffic"]["user_changes"] - s0["traffic"]["user_changes"]) / wall
        p50 = quantile(m1, m0, "mtcti3_bridge_notify_ack_latency_seconds", 0.5)
        p99 = quantile(m1, m0, "mtcti3_bridge_notify_ack_latency_seconds", 0.99)
        d99 = quantile(m1, m0, "mtcti3_bridge_kafka_delivery_latency_seconds", 0.99)
        rss = proc_hwm_mb(pid)
        # let the bridge drain before reading its topics back
        wait_for(lambda: bridge.metrics().get("mtcti3_bridge_acks_pending", 1) == 0, 60, 0.2, "bridge drained")

        kcat_rate, event_bytes, kcat_runs, kcat_us = kcat_ceiling(kafka, bridge, work, args.kcat_events,
                                                                  args.kcat_runs)
        result = {
            "users": args.users, "queues": args.queues, "redis": not args.no_redis,
            "offered_user_changes_per_s": round(offered), "offered_calls_per_s": args.cps,
            "subscribe_s": round(resync_s, 2), "subscribe_wall_s": round(wall_s, 2),
            "subscriptions_active": subscribed.get("active"),
            "notifies_per_s": round(notifies), "acks_per_s": round(acks), "events_per_s": round(produced),
            "ack_p50_ms": p50, "ack_p99_ms": p99, "delivery_p99_ms": d99,
            "bridge_cpu_percent": round((c1 - c0) / wall * 100, 1),
            "bridge_cpu_us_per_notify": round((c1 - c0) / max(1.0, notifies * wall) * 1e6, 1),
            "bridge_cpu_us_per_event": round((c1 - c0) / max(1.0, produced * wall) * 1e6, 1),
            "bridge_peak_rss_mb": round(rss, 1),
            **{f"{k}_cpu_percent": round((o1[k] - o0[k]) / wall * 100, 1) for k in others},
            "kcat_events_per_s": round(kcat_rate) if kcat_rate else None,
            "kcat_runs_events_per_s": kcat_runs, "kcat_cpu_us_per_event": kcat_us, "event_bytes_avg": event_bytes,
            "ratio": round(produced / kcat_rate, 3) if kcat_rate else None,
        }
        met = {
            "subscribe_s": result["subscribe_s"] < 10,
            "notifies_per_s": result["notifies_per_s"] >= 20000,
            "ack_p99_ms": p99 is not None and p99 <= 50,
            "bridge_peak_rss_mb": rss <= 150,
            "ratio": bool(result["ratio"]) and result["ratio"] >= 0.5,
        }
        print(json.dumps(result, indent=2))
        for k, (what, target) in TARGETS.items():
            print(f"{'MET ' if met[k] else 'MISSED'}  {what}: {result[k]} (target {target})")
        if args.results:
            write_results(pathlib.Path(args.results), args, result, met)
    finally:
        signal.alarm(0)
        if events:
            events.close()
        for p in (bridge, sim, redis, kafka):
            if p:
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001 - keep stopping the others
                    print(f"stopping {p}: {e}", file=sys.stderr)


def write_results(out, args, result, met):
    cmd = " ".join(a for a in sys.argv[1:] if not a.startswith("--results"))
    with open(out, "w") as f:
        f.write("# mtcti3-bridge ingest benchmark: latest results\n\n")
        f.write(f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.\n"
                "Real Kafka (single-node KRaft, from the Maven jars), redis-server, ipo-sim and the bridge "
                "(Release build) share the machine, on loopback.\n"
                f"Command: `tests/bench/run.sh {cmd}`\n\n")
        f.write("## Targets (issue #4, 2 cores)\n\n| target | value | |\n|---|---|---|\n")
        for k, (what, target) in TARGETS.items():
            f.write(f"| {what} {target} | {result[k]} | {'met' if met[k] else '**missed**'} |\n")
        f.write("\n## Figures\n\n| figure | value |\n|---|---|\n")
        for k, v in result.items():
            f.write(f"| {k} | {v} |\n")
        f.write("""
How to read them:

- Load: the simulator's presence churn (users toggling DND and absence,
  changing app presence and voicemail counts) plus a trickle of calls.
  Every user subscription and the presence subscription is NotifyAck-gated
  as the spec says: a subscription's next Notify waits for the ack of the
  previous one, and the bridge acks only after Kafka confirmed every event
  the Notify caused.  Throughput comes from thousands of subscriptions in
  flight at once; changes made while a Notify waits fold into the next one,
  so notifies/s can be below the changes offered.
- subscribe_s is the bridge's own resync_finished duration (connected to
  every subscription active); subscribe_wall_s adds process start, Kafka
  metadata and topic creation.
- Latencies are histogram bucket upper bounds (the true quantile is at or
  below).  ack: Notify in to NotifyAck out; delivery: produce to delivery
  report, per event.
- kcat: the same events (read back from the bridge's topics) produced from
  a file with `kcat -P -K` and the bridge's producer settings, on the same
  broker in the same run; the best of the runs is the ceiling.
- CPU percentages are of one core; the machine has two, shared by all.
  kcat_cpu_us_per_event is kcat's own CPU (user + system) per event in its
  best run, beside bridge_cpu_us_per_event (everything the bridge does for
  an event: TLS, protobuf, diff, JSON, Redis, producing).
""")


if __name__ == "__main__":
    main()
