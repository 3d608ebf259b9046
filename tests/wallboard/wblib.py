"""Helpers of the wallboard's integration tests: the queue statistics read
back from Kafka, mtcti3-wallboard as a process, and a queue set up with one
free agent.  Imported as wblib (not from conftest: tests/bridge has one too)."""
from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bridge"))

from bridgelib import find_binary  # noqa: E402
from services import tail, wait_for  # noqa: E402

class QueueStats:
    """Every record of <prefix>queue-stats, read from the beginning with
    read_committed, as a consumer of the topic would."""

    def __init__(self, bootstrap, prefix):
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        self.topic = prefix + "queue-stats"
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "isolation.level": "read_committed",
                                  "topic.metadata.refresh.interval.ms": 1000})

        def parts():
            t = self.consumer.list_topics(self.topic, timeout=5).topics.get(self.topic)
            if t is None or t.error or not t.partitions:
                return None
            return [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in t.partitions]
        self.consumer.assign(wait_for(parts, 30, 0.3, f"topic {self.topic}"))
        self.all = []  # (key, value or None, headers)

    def poll(self, timeout=0.3):
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.consumer.consume(1000, max(0.0, min(0.2, deadline - time.monotonic())))
            for m in msgs:
                if m.error():
                    continue
                headers = {k: v.decode() for k, v in (m.headers() or [])}
                self.all.append((m.key().decode(), json.loads(m.value()) if m.value() else None, headers))
            if time.monotonic() >= deadline and not msgs:
                return self.all

    def records(self, guid):
        self.poll(0.1)
        return [v for k, v, _ in self.all if k == guid]

    def last(self, guid):
        recs = self.records(guid)
        return recs[-1] if recs else None

    def wait(self, guid, cond, timeout=20, what="queue statistics"):
        def ok():
            rec = self.last(guid)
            return rec if rec is not None and cond(rec) else None
        try:
            return wait_for(ok, timeout, 0.05, what)
        except TimeoutError:
            raise AssertionError(f"{what}: last record {json.dumps(self.last(guid))}")

    def close(self):
        self.consumer.close()


class Wallboard:
    """mtcti3-wallboard on a free port."""

    def __init__(self, workdir, bootstrap, topics, extra=()):
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cmd = [find_binary("mtcti3-wallboard", "MTCTI3_WALLBOARD"), f"--kafka_bootstrap={bootstrap}",
                    f"--topics={topics}", "--listen=127.0.0.1:0", f"--ready_file={self.workdir / 'wb.json'}",
                    "--log_level=debug", *extra]
        self.proc = None

    def start(self):
        ready = self.workdir / "wb.json"
        ready.unlink(missing_ok=True)
        self.log_path = self.workdir / "wallboard.log"
        self.proc = subprocess.Popen(self.cmd, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"wallboard exited {self.proc.returncode}:\n{tail(self.log_path)}")
            return ready.exists() and json.loads(ready.read_text())
        self.ready = wait_for(up, 20, what="wallboard ready file")
        self.url = f"http://127.0.0.1:{self.ready['http_port']}/"
        return self

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc


def queue_setup(sim, extn="5001"):
    """The queue `extn` of the sim's model: its guid, its members, and one
    member (the agent) left available while every other member goes on DND."""
    model = sim.model()
    queue = next(q for q in model["queues"] if q["extn"] == extn)
    members = [m["extn"] for m in queue["members"] if not m.get("disabled")]
    agent = members[0]
    for m in members[1:]:
        sim.ctl("PATCH", f"/users/{m}", {"dnd": True})
    sim.ctl("PATCH", f"/users/{agent}", {"dnd": False})
    return queue["guid"], members, agent
