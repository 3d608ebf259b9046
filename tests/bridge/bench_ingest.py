#!/usr/bin/env python3
"""Benchmark of the bridge's ingest (not a test): ipo-sim load through the
bridge to a real Kafka broker, with Redis.  Prints and records (in
tests/bridge/bench-results.md):

  - time to subscribe USERS users and QUEUES queues (connect to resync_finished)
  - sustained notifies/s and events/s at the load generator's rate
  - produce-to-Kafka-ack latency p50 and p99 (the bridge's histogram; a
    Notify is acknowledged when its last event is), bridge CPU and peak RSS
  - the broker's ceiling measured in the same run: kcat producing the same
    events from a file, and the ratio bridge events/s / kcat events/s

    tests/.work/venv/bin/python tests/bridge/bench_ingest.py [--users 3000]
        [--queues 300] [--cps 400] [--seconds 30]
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
sys.path.insert(0, str(HERE))

from services import KafkaBroker, RedisServer, wait_for  # noqa: E402
from bridgelib import Bridge, Events, Sim  # noqa: E402


def proc_cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def quantile(metrics, q):
    buckets = sorted((float(k.split('le="')[1].rstrip('"}')), v) for k, v in metrics.items()
                     if k.startswith("mtcti3_bridge_kafka_delivery_latency_ms_bucket") and "+Inf" not in k)
    total = metrics["mtcti3_bridge_kafka_delivery_latency_ms_count"]
    for le, count in buckets:
        if count >= q * total:
            return le
    return float("inf")


def delta(m1, m0, key):
    return m1.get(key, 0) - m0.get(key, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--queues", type=int, default=300)
    ap.add_argument("--cps", type=float, default=400)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--no-redis", action="store_true", help="run the bridge without Redis")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    kafka = KafkaBroker(work / "kafka").start()
    redis = RedisServer(work / "redis").start()
    sim = Sim(work / "sim", users=args.users, queues=args.queues, seed=3).start()
    bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url="" if args.no_redis else redis.url,
                    extra=["--log_level=warn"])
    try:
        t0 = time.monotonic()
        bridge.start(wait_resync=False)
        events = Events(kafka.bootstrap, bridge.prefix)
        events.wait(lambda evs: "resync_finished" in events.lifecycle(), 120, "resync")
        subscribed_s = time.monotonic() - t0
        pid = bridge.proc.pid
        sim.ctl("POST", "/traffic", {"calls_per_second": args.cps})
        time.sleep(3)  # warm up
        m0, c0, w0 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
        s0 = proc_cpu_seconds(sim.proc.pid)
        time.sleep(args.seconds)
        m1, c1, w1 = bridge.metrics(), proc_cpu_seconds(pid), time.monotonic()
        s1 = proc_cpu_seconds(sim.proc.pid)
        sim.ctl("POST", "/traffic", {"calls_per_second": 0})
        wall = w1 - w0
        notifies = delta(m1, m0, "mtcti3_bridge_notifies_received_total") / wall
        produced = sum(delta(m1, m0, k) for k in m1 if k.startswith("mtcti3_bridge_events_produced_total")) / wall
        lat = {k: delta(m1, m0, k) for k in m1 if k.startswith("mtcti3_bridge_kafka_delivery_latency_ms")}
        p50, p99 = quantile(lat, 0.5), quantile(lat, 0.99)
        cpu = (c1 - c0) / wall * 100
        rss = proc_hwm_mb(pid)

        # the broker's ceiling: kcat producing the same events, from a file
        msgs = kafka.consume_all(bridge.prefix + "calls", timeout=30)
        payloads = [m.value for m in msgs if m.value and b"\n" not in m.value]
        n = min(len(payloads), 200000)
        sample = work / "events.txt"
        with open(sample, "wb") as f:
            for i in range(max(n, 1) and 100000):
                f.write(payloads[i % n] + b"\n")
        topic = bridge.prefix + "kcat"
        kafka.create_topic(topic, 3)
        t = time.monotonic()
        subprocess.run(["kcat", "-P", "-b", kafka.bootstrap, "-t", topic, "-X", "acks=all",
                        "-X", "enable.idempotence=true", "-X", "linger.ms=5", "-l", str(sample)],
                       check=True, capture_output=True)
        kcat_rate = 100000 / (time.monotonic() - t)

        result = {
            "users": args.users, "queues": args.queues, "cps": args.cps, "redis": not args.no_redis,
            "subscribed_s": round(subscribed_s, 2),
            "notifies_per_s": round(notifies), "events_per_s": round(produced),
            "latency_p50_ms_le": p50, "latency_p99_ms_le": p99,
            "bridge_cpu_percent": round(cpu, 1), "bridge_peak_rss_mb": round(rss, 1),
            "bridge_cpu_us_per_notify": round((c1 - c0) / max(1, notifies * wall) * 1e6),
            "sim_cpu_percent": round((s1 - s0) / wall * 100, 1),
            "kcat_events_per_s": round(kcat_rate), "ratio": round(produced / kcat_rate, 3),
        }
        print(json.dumps(result, indent=2))
        out = HERE / "bench-results.md"
        with open(out, "w") as f:
            f.write("# mtcti3-bridge ingest benchmark: latest results\n\n")
            f.write(f"Run {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())} on {os.cpu_count()} CPUs, "
                    "real Kafka (single-node KRaft) and Redis on the same machine.\n"
                    "Command: `tests/.work/venv/bin/python tests/bridge/bench_ingest.py "
                    f"--users {args.users} --queues {args.queues} --cps {args.cps} --seconds {args.seconds}`\n\n")
            f.write("| figure | value |\n|---|---|\n")
            for k, v in result.items():
                f.write(f"| {k} | {v} |\n")
            f.write("\nThe simulator, the broker, Redis and the bridge share the machine; when "
                    "sim_cpu_percent nears 100 the load generator, not the bridge, sets the rate "
                    "(bridge_cpu_us_per_notify then tells the bridge's own cost).\n")
            f.write("\nLatency is produce-to-delivery-report per event (histogram bucket upper bounds); "
                    "a Notify's NotifyAck follows its last event's report.  kcat produced 100000 of "
                    "the run's call events from a file with the same producer settings.\n")
        events.close()
    finally:
        bridge.stop()
        sim.stop()
        redis.stop()
        kafka.stop()


if __name__ == "__main__":
    main()
