"""Issue 12.3: keys land where Java's producer puts them.  Java's own
answer comes from kafka-clients (tests/consumers/partitioner/JavaPartitioner.java
on the broker's jars: Utils.murmur2 and BuiltInPartitioner.partitionForKey,
what the default partitioner does with a keyed record), compared with where
librdkafka's murmur2_random, the Python client, the bridge and the CLI put
their messages on the real broker."""
import subprocess
import uuid

import pytest
from confluent_kafka import Producer

from consumerlib import java_partitions, value
from mtcti3_bridge import Client, NoResult
from testenv import binary

# Computed with kafka-clients 3.9.1 (the same code computes them again below).
KNOWN = {
    "": (275646681, {3: 0, 5: 1}),
    "a": (-1563381124, {3: 1, 5: 4}),
    "mtcti3": (-2035517598, {3: 2, 5: 0}),
    "017f00000100000001": (423387209, {3: 2, 5: 4}),
    "236052c1-5222-4d1a-adc1-0148f70bd782": (-1909654429, {3: 1, 5: 4}),
    "py-dnd-1": (-631591360, {3: 1, 5: 3}),
    "236052c1-5222-4d1a-adc1-0148f70bd782:017f00000100000001:1796593357622": (1919007564, {3: 0, 5: 4}),
    "parkserver:017f00000100000001:1796593357622": (78348475, {3: 1, 5: 0}),
}


def sample_keys():
    """gcids of several lengths, GUIDs, leg keys, command ids, non-ASCII."""
    keys = [f"01{'7f000001' if i % 2 else 'c0a82a0b'}{i:0{8 + i % 5}x}" for i in range(60)]
    keys += [str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128))) for i in range(40)]
    keys += [f"{keys[60 + i]}:{keys[i]}:{1796593357622 + i}" for i in range(30)]  # leg keys
    keys += [f"parkserver:{keys[i]}:{1796593357622 + i}" for i in range(5)] + ["parkserver:cid7:1796593357622"]
    keys += [f"crm-{i}:transfer-{i * 7}" for i in range(30)] + ["café", "ключ", "x" * 300]
    return keys


def test_known_vectors():
    assert java_partitions(list(KNOWN), [3, 5]) == KNOWN


def landed(kafka, topic):
    return {m.key.decode(): m.partition for m in kafka.consume_all(topic)}


@pytest.mark.parametrize("partitions", [3, 7])
def test_librdkafka_murmur2_random_is_java(kafka, kafka_topic, partitions):
    keys = sample_keys()
    topic = kafka_topic(partitions=partitions, prefix="murmur2")
    p = Producer({"bootstrap.servers": kafka.bootstrap, "partitioner": "murmur2_random"})
    for k in keys:
        p.produce(topic, key=k.encode(), value=b"{}")
    assert p.flush(30) == 0
    java = java_partitions(keys, [partitions])
    assert landed(kafka, topic) == {k: java[k][1][partitions] for k in keys}


def commands_prefix(kafka, partitions=5):
    """A PBX prefix with no bridge, its commands topic with several
    partitions, so that where a command lands shows the partitioner."""
    prefix = f"part{uuid.uuid4().hex[:6]}."
    kafka.create_topic(prefix + "commands", partitions)
    kafka.create_topic(prefix + "command-results", 1)
    return prefix


def test_the_python_clients_commands(kafka):
    prefix = commands_prefix(kafka)
    ids = [f"py-part-{i}" for i in range(6)]
    with Client(kafka.bootstrap, prefix=prefix) as c:
        for i in ids:
            with pytest.raises(NoResult):
                c.send_command("get_version", id=i, wait=0.5)
    java = java_partitions(ids, [5])
    assert landed(kafka, prefix + "commands") == {i: java[i][1][5] for i in ids}


def test_the_clis_commands(kafka):
    prefix = commands_prefix(kafka)
    ids = [f"cli-part-{i}" for i in range(6)]
    for i in ids:
        r = subprocess.run([str(binary("mtcti3")), "command", "--bootstrap", kafka.bootstrap, "--prefix", prefix,
                            "--id", i, "--action", "get_version", "--wait-ms", "300"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 3, r.stderr
    java = java_partitions(ids, [5])
    assert landed(kafka, prefix + "commands") == {i: java[i][1][5] for i in ids}


def call_gcid(m):
    """A call leg's gcid: the middle of its key (<line>:<gcid>:<first seen>),
    which tombstones on live-calls carry too; the row says the same."""
    gcid = m.key.decode().split(":")[1]
    v = value(m)
    assert v is None or (v["after"] or v["before"])["gcid"] == gcid
    return gcid


def expected_partition(topic, m, java, n):
    """Where Java puts the message: by its key; a call leg's event (calls,
    live-calls, tombstones included) by its gcid."""
    if topic in ("calls", "live-calls"):
        return java[call_gcid(m)][1][n]
    return java[m.key.decode()][1][n]


def test_the_bridges_messages(batch):
    """Every message of every topic the bridge writes, tombstones included."""
    topics = ("calls", "live-calls", "presence", "queues", "lines", "queue-stats", "bridge", "command-results")
    keys = []
    for t in topics:
        for m in batch.messages[t]:
            keys.append(m.key.decode())
            if t in ("calls", "live-calls"):
                keys.append(call_gcid(m))
    counts = sorted({batch.partitions[batch.prefix + t] for t in topics})
    java = java_partitions(keys, counts)
    wrong = []
    for t in topics:
        n = batch.partitions[batch.prefix + t]
        for m in batch.messages[t]:
            if m.partition != expected_partition(t, m, java, n):
                wrong.append((t, m.key.decode(), m.partition, expected_partition(t, m, java, n)))
    assert wrong == []
    assert all(batch.messages[t] for t in topics)
    assert sum(1 for m in batch.messages["live-calls"] if m.value is None) == 10  # the legs that ended
    assert sum(len(batch.messages[t]) for t in topics) >= 150
