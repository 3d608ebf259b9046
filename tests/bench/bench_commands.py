#!/usr/bin/env python3
"""Benchmark of the bridge's commands (not a test): real Kafka, real Redis,
ipo-sim and the bridge.  Measures, and records in
tests/bench/RESULTS-commands.md:

  - round trip: a command produced to <prefix>commands -> its result seen on
    <prefix>command-results, one at a time (p50, p99, max), for get_version
    (a GeneralCmd) and set_dnd (a SubscribeCmd on a user's subscription)
  - sustained commands/s: COUNT commands produced as fast as the producer
    goes, from the first produce to the last result

Bounded: at most --count commands per phase and --seconds per phase.

    tests/.work/venv/bin/python tests/bench/bench_commands.py [--count 2000] [--rtt 300]
"""
import argparse
import datetime
import json
import pathlib
import platform
import sys
import tempfile
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lib"))
sys.path.insert(0, str(HERE.parent / "bridge"))

from services import KafkaBroker, RedisServer, wait_for  # noqa: E402
from bridgelib import Bridge, Sim  # noqa: E402
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_END  # noqa: E402


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


class Client:
    def __init__(self, bootstrap, prefix):
        self.topic = prefix + "commands"
        self.results = prefix + "command-results"
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0})
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + uuid.uuid4().hex,
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 5})
        md = self.consumer.list_topics(self.results, timeout=10)
        parts = [TopicPartition(self.results, p, OFFSET_END) for p in md.topics[self.results].partitions]
        self.consumer.assign(parts)
        self.consumer.consume(100, 1.0)  # settle the assignment at the end

    def send(self, cmd):
        self.producer.produce(self.topic, key=cmd["id"], value=json.dumps(cmd))
        self.producer.poll(0)

    def take(self, timeout, n=1000):
        """Results read within timeout; consume() waits the whole timeout unless n arrive."""
        out = []
        for m in self.consumer.consume(n, timeout):
            if not m.error():
                out.append((m.key().decode(), json.loads(m.value()), time.monotonic()))
        return out


def round_trips(client, n, make, seconds):
    rtts, statuses = [], {}
    deadline = time.monotonic() + seconds
    for i in range(n):
        if time.monotonic() > deadline:
            break
        cmd = make(i)
        t0 = time.monotonic()
        client.send(cmd)
        client.producer.flush(5)
        got = None
        while got is None and time.monotonic() < deadline + 10:
            for key, value, t in client.take(0.05, 1):  # n=1: back as soon as one is there
                if key == cmd["id"]:
                    got = (value, t)
        if got is None:
            raise SystemExit(f"no result for {cmd['id']}")
        rtts.append((got[1] - t0) * 1000)
        statuses[got[0]["status"]] = statuses.get(got[0]["status"], 0) + 1
    return rtts, statuses


def sustained(client, n, seconds, tag):
    ids = {f"{tag}-{i}" for i in range(n)}
    seen, statuses = set(), {}
    t0 = time.monotonic()
    for i in range(n):
        client.send({"id": f"{tag}-{i}", "action": "get_version", "timeout_ms": 30000})
    client.producer.flush(30)
    t_produced = time.monotonic()
    deadline = t0 + seconds
    last = t0
    while len(seen) < n and time.monotonic() < deadline:
        for key, value, t in client.take(0.01):  # short: t is when consume() returned
            if key in ids and key not in seen:
                seen.add(key)
                last = t
                statuses[value["status"]] = statuses.get(value["status"], 0) + 1
    return len(seen), last - t0, t_produced - t0, statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=2000, help="commands in the sustained phase (at most)")
    ap.add_argument("--rtt", type=int, default=300, help="commands in each round-trip phase (at most)")
    ap.add_argument("--seconds", type=float, default=60, help="time bound of each phase")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--bridge-arg", action="append", default=[],
                    help="extra bridge flag, e.g. --bridge-arg=--kafka.fetch.wait.max.ms=50 (repeatable)")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-cmd-"))
    kafka = KafkaBroker(work / "kafka").start()
    redis = RedisServer(work / "redis").start()
    sim = Sim(work / "sim", users=20, queues=3).start()
    bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url=redis.url,
                    extra=["--log_level=warn", *args.bridge_arg]).start()
    try:
        client = Client(kafka.bootstrap, bridge.prefix)
        # warm up
        round_trips(client, 20, lambda i: {"id": f"warm-{i}", "action": "get_version"}, 30)
        rt_gv, st_gv = round_trips(client, args.rtt, lambda i: {"id": f"gv-{i}", "action": "get_version"},
                                   args.seconds)
        rt_dnd, st_dnd = round_trips(client, args.rtt,
                                     lambda i: {"id": f"dnd-{i}", "action": "set_dnd",
                                                "target": {"user": "2001"}, "args": {"on": i % 2 == 0}},
                                     args.seconds)
        done, took, produce_s, st_sus = sustained(client, args.count, args.seconds, "sus")
        rate = done / took if took > 0 else 0.0
        m = bridge.metrics()
    finally:
        bridge.stop()
        sim.stop()
        redis.stop()
        kafka.stop()

    lines = [
        f"round trip get_version ({len(rt_gv)} commands, one at a time): p50 {pct(rt_gv, 0.5):.1f} ms, "
        f"p99 {pct(rt_gv, 0.99):.1f} ms, max {max(rt_gv):.1f} ms; {st_gv}",
        f"round trip set_dnd     ({len(rt_dnd)} commands, one at a time): p50 {pct(rt_dnd, 0.5):.1f} ms, "
        f"p99 {pct(rt_dnd, 0.99):.1f} ms, max {max(rt_dnd):.1f} ms; {st_dnd}",
        f"sustained: {done}/{args.count} get_version results in {took:.2f} s = {rate:.0f} commands/s "
        f"(produced in {produce_s:.2f} s); {st_sus}",
        f"bridge: commands_total {{{', '.join(f'{k.split(chr(34))[1]}: {int(v)}' for k, v in m.items() if k.startswith('mtcti3_bridge_commands_total'))}}}, "
        f"round-trip histogram count {int(m['mtcti3_bridge_command_round_trip_seconds_count'])}, "
        f"mean {m['mtcti3_bridge_command_round_trip_seconds_sum'] * 1000 / max(1, m['mtcti3_bridge_command_round_trip_seconds_count']):.1f} ms",
    ]
    for line in lines:
        print(line)
    if not args.no_record:
        out = HERE / "RESULTS-commands.md"
        out.write_text(
            "# Command benchmark: latest results\n\n"
            "`tests/.work/venv/bin/python tests/bench/bench_commands.py "
            f"--count {args.count} --rtt {args.rtt}{''.join(' --bridge-arg=' + a for a in args.bridge_arg)}` (real Kafka broker, redis-server, ipo-sim, the bridge; "
            "all on one machine).\n\n"
            f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n"
            f"- machine: {platform.machine()}, {__import__('os').cpu_count()} CPUs, {platform.system()} {platform.release()}\n\n"
            "Round trip = produced to `<prefix>commands` until the result is read from "
            "`<prefix>command-results` by the client (claim, accepted, the PBX's answer, finish and the "
            "result produce are all inside it: four Redis round trips and two Kafka hops).\n\n"
            + "".join(f"- {line}\n" for line in lines))
        print(f"recorded in {out}")


if __name__ == "__main__":
    main()
