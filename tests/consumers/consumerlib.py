"""Helpers of the consumer proofs (tests/consumers).

The batch of events they read: one real bridge (with Redis) against ipo-sim
and the session's real broker, driven through a fixed scenario of calls
(ended and in progress, queue calls with several legs, an internal call, a
held call, a parked call) and commands (every outcome), then stopped, so every proof reads
the same, final topics.  Built once per session, on first use, by the
`batch` fixture (conftest.py).  java_partitions(): Java's placement of keys."""
import json
import pathlib
import time
from dataclasses import dataclass

EVENT_TOPICS = ("calls", "presence", "queues", "lines", "bridge")


@dataclass
class Batch:
    prefix: str
    pbx: str
    bootstrap: str
    sim_calls: list          # GET /calls of the simulator when the bridge stopped
    model: dict              # GET /model then
    messages: dict           # short topic name -> [services.Message], partition then offset order
    partitions: dict         # full topic name -> partition count
    command_ids: dict        # what each command was sent for -> id


def _total(kafka, topics):
    """The sum of the end offsets of every partition of `topics`."""
    from confluent_kafka import Consumer, TopicPartition
    md = kafka.admin().list_topics(timeout=10)
    cons = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "batch-watermarks"})
    try:
        return sum(cons.get_watermark_offsets(TopicPartition(t, p), timeout=10, cached=False)[1]
                   for t in topics for p in md.topics[t].partitions)
    finally:
        cons.close()


def _scenario(sim, client):
    ctl = sim.ctl
    ids = {}
    # ended calls: a queue call abandoned, an answered call hung up, a queue
    # call answered by an agent who then hangs up
    e = ctl("POST", "/trunk/call", {"from": "01707100001", "to": "5002", "name": "Abandons"})["gcid"]
    time.sleep(0.5)
    ctl("POST", "/trunk/hangup", {"gcid": e})
    ctl("POST", "/trunk/call", {"from": "01707100002", "to": "2001", "name": "Short"})
    time.sleep(0.3)
    ctl("POST", "/phone/2001/answer", {})
    time.sleep(0.3)
    ctl("POST", "/phone/2001/hangup", {})
    ctl("POST", "/trunk/call", {"from": "01707100003", "to": "5001", "name": "Queued"})
    time.sleep(0.5)
    ctl("POST", "/phone/2003/answer", {})
    time.sleep(0.3)
    ctl("POST", "/phone/2003/hangup", {})
    # calls left in progress: answered, answered through a queue, internal,
    # held
    ctl("POST", "/trunk/call", {"from": "01707100004", "to": "2002", "name": "Talks"})
    time.sleep(0.3)
    ctl("POST", "/phone/2002/answer", {})
    ctl("POST", "/trunk/call", {"from": "01707100005", "to": "5001", "name": "Queued2"})
    time.sleep(0.5)
    ctl("POST", "/phone/2001/answer", {})
    ctl("POST", "/phone/2003/offhook", {"dial": "2004"})
    time.sleep(0.3)
    ctl("POST", "/phone/2004/answer", {})
    ctl("POST", "/trunk/call", {"from": "01707100006", "to": "2005", "name": "Held"})
    time.sleep(0.3)
    ctl("POST", "/phone/2005/answer", {})
    time.sleep(0.3)
    ctl("POST", "/phone/2005/hold", {})
    # a call parked: its user leg ends, a leg on the park server's line
    # (key parkserver:<gcid>:<ms>) holds it
    ctl("POST", "/trunk/call", {"from": "01707100007", "to": "2006", "name": "Parked"})
    time.sleep(0.3)
    ctl("POST", "/phone/2006/answer", {})
    time.sleep(0.3)
    ctl("POST", "/phone/2006/park", {"slot": "1"})
    # commands: succeeded, rejected, failed, a duplicate
    from mtcti3_bridge import CommandError
    for what, kw in (("succeeded", dict(action="get_version")),
                     ("dnd", dict(action="set_dnd", user="2002", args={"on": True})),
                     ("rejected", dict(action="set_dnd", user="2999", args={"on": True})),
                     ("failed", dict(action="get_file", args={"name": "nasystem/Nothing"})),
                     ("duplicate", dict(action="get_version", id=None))):
        kw = dict(kw)
        if what == "duplicate":
            kw["id"] = ids["succeeded"]
        else:
            kw["id"] = f"batch-{what}-{int(time.time() * 1000)}"
        ids[what] = kw["id"]
        try:
            client.send_command(kw.pop("action"), **kw)
        except CommandError:
            pass
    return ids



def value(msg):
    return json.loads(msg.value) if msg.value is not None else None


def java_partitions(keys, counts):
    """{key: (murmur2, {partition count: partition})} as Java's producer
    computes them (kafka-clients from the broker's jars, in one JVM)."""
    import subprocess
    from services import _java, kafka_jars
    keys = list(dict.fromkeys(keys))
    assert all("\n" not in k for k in keys)
    src = pathlib.Path(__file__).resolve().parent / "partitioner" / "JavaPartitioner.java"
    out = subprocess.run([_java(), "-XX:TieredStopAtLevel=1", "-cp", f"{kafka_jars()}/*", str(src),
                          *map(str, counts)], input="".join(k + "\n" for k in keys),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = {}
    for line in out.stdout.splitlines():
        k, h, *ps = line.split("\t")
        got[k] = (int(h), dict(zip(counts, map(int, ps))))
    assert list(got) == keys
    return got
