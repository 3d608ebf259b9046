"""The test-services harness itself, against the real servers: a KRaft Kafka
broker and a redis-server (tests/lib/services.py, tests/lib/fixtures.py)."""
import time

import pytest
from confluent_kafka import KafkaError, Producer

from services import KafkaBroker, RedisServer, free_port, wait_for


def test_free_port_and_wait_for():
    a, b = free_port(), free_port()
    assert a != b and 1024 < a < 65536
    t0 = time.monotonic()
    assert wait_for(lambda: time.monotonic() - t0 > 0.2, 5, 0.05)
    with pytest.raises(TimeoutError):
        wait_for(lambda: False, 0.3, 0.05, "never")


def _produce(kafka, topic, msgs, **conf):
    p = Producer(kafka.client_config(acks="all", **conf))
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(err)
    for m in msgs:
        p.produce(topic, callback=cb, **m)
    assert p.flush(30) == 0
    assert errors == []


def test_kafka_roundtrip_keys_values_headers_order(kafka, kafka_topic):
    topic = kafka_topic(partitions=3)
    sent = [dict(key=f"key-{i % 7}".encode(),
                 value=f"value-{i}".encode(),
                 headers=[("seq", str(i).encode()), ("kind", b"test"),
                          ("empty", b"")])
            for i in range(100)]
    _produce(kafka, topic, sent)

    got = kafka.consume_all(topic, timeout=30)
    assert len(got) == 100
    assert {m.partition for m in got} <= {0, 1, 2}
    by_key = {}
    for m in got:
        # one key, one partition
        assert by_key.setdefault(m.key, m.partition) == m.partition
    assert len(set(by_key.values())) > 1  # 7 keys spread over partitions

    # Per partition: offsets 0..n-1 in order, messages in send order, and
    # every key/value/header exactly as sent.
    for p in range(3):
        mine = [m for m in got if m.partition == p]
        assert [m.offset for m in mine] == list(range(len(mine)))
        seqs = [int(dict(m.headers)["seq"]) for m in mine]
        assert seqs == sorted(seqs)
        for m in mine:
            want = sent[int(dict(m.headers)["seq"])]
            assert m.key == want["key"]
            assert m.value == want["value"]
            assert m.headers == want["headers"]
    assert sorted(int(dict(m.headers)["seq"]) for m in got) == list(range(100))


def test_consume_all_expect_waits_for_late_messages(kafka, kafka_topic):
    import threading
    topic = kafka_topic()
    t = threading.Timer(1.0, _produce, (kafka, topic,
                                        [dict(key=b"k", value=b"late")]))
    t.start()
    try:
        got = kafka.consume_all(topic, timeout=20, expect=1)
    finally:
        t.join()
    assert [(m.key, m.value) for m in got] == [(b"k", b"late")]
    with pytest.raises(TimeoutError):
        kafka.consume_all(topic, timeout=1, expect=2)


def test_kafka_compacted_topic_config(kafka, kafka_topic):
    topic = kafka_topic(partitions=2, compacted=True)
    cfg = kafka.topic_config(topic)
    assert cfg["cleanup.policy"] == "compact"
    plain = kafka_topic()
    assert kafka.topic_config(plain)["cleanup.policy"] == "delete"
    md = kafka.admin().list_topics(topic, timeout=10)
    assert len(md.topics[topic].partitions) == 2


def test_kafka_stop_restart_same_ports_data_survives(service_workdir):
    """Own broker: stopping the session one would slow the others."""
    broker = KafkaBroker(service_workdir("kafka-restart"))
    broker.start()
    try:
        port, cport = broker.port, broker.controller_port
        broker.create_topic("survive", 3)
        _produce(broker, "survive",
                 [dict(key=f"k{i}".encode(), value=f"v{i}".encode(),
                       headers=[("n", str(i).encode())]) for i in range(30)])
        before = broker.consume_all("survive", timeout=30)
        assert len(before) == 30

        # A long-lived client made while the broker is up, as the bridge's is.
        queued_errors, queued_ok = [], []
        longlived = Producer(broker.client_config(acks="all"))

        with broker.stopped():
            assert not broker.running
            # Short message.timeout: the produce fails while the broker is down.
            short = Producer(broker.client_config(**{
                "message.timeout.ms": 1500, "acks": "all"}))
            errs = []
            short.produce("survive", key=b"x", value=b"lost",
                          on_delivery=lambda e, m: errs.append(e))
            short.flush(10)
            assert len(errs) == 1 and errs[0] is not None
            assert errs[0].code() in (KafkaError._MSG_TIMED_OUT,
                                      KafkaError._TRANSPORT)
            # Default timeout: the message stays queued.
            longlived.produce(
                "survive", key=b"k-queued", value=b"queued",
                on_delivery=lambda e, m: (queued_errors if e else queued_ok)
                .append(e or m))
            longlived.poll(1.0)
            assert len(longlived) == 1 and not queued_errors and not queued_ok

        assert broker.running
        assert (broker.port, broker.controller_port) == (port, cport)
        # The queued message goes out once the broker is back.
        assert longlived.flush(60) == 0
        assert queued_errors == [] and len(queued_ok) == 1

        after = broker.consume_all("survive", timeout=30, expect=31)
        assert len(after) == 31
        old = [(m.partition, m.offset, m.key, m.value, m.headers)
               for m in after if m.key != b"k-queued"]
        assert old == [(m.partition, m.offset, m.key, m.value, m.headers)
                       for m in before]
        assert any(m.value == b"queued" for m in after)

        # A crash (SIGKILL) too: the flushed data comes back.
        broker.kill()
        broker.start()
        assert len(broker.consume_all("survive", timeout=30)) == 31
    finally:
        broker.stop()
    assert not broker.running


def test_kafka_start_failure_reports_log_tail(tmp_path):
    b = KafkaBroker(tmp_path, extra_config={"node.id": "not-a-number"})
    with pytest.raises(Exception) as ei:
        b.start(timeout=60)
    assert "kafka.log" in str(ei.value) or "format" in str(ei.value)
    assert "not-a-number" in str(ei.value)
    assert not b.running


def test_redis_set_get(redis_server):
    r = redis_server.client()
    assert redis_server.url.startswith("redis://127.0.0.1:")
    r.set("greeting", "hello")
    assert r.get("greeting") == b"hello"
    assert r.config_get("appendonly")["appendonly"] == "no"
    assert r.config_get("bind")["bind"] == "127.0.0.1"


def test_redis_restart_appendonly_survives(service_workdir):
    srv = RedisServer(service_workdir("redis-aof"), appendonly=True)
    srv.start()
    try:
        port = srv.port
        r = srv.client()
        r.set("k", "v1")
        r.hset("h", mapping={"a": "1", "b": "2"})
        srv.stop()
        assert not srv.running
        with pytest.raises(Exception):
            srv.client(socket_connect_timeout=0.5).ping()
        srv.start()
        assert srv.port == port
        r = srv.client()
        assert r.get("k") == b"v1"
        assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
        # A crash too: appendfsync always keeps every acknowledged write.
        r.set("k", "v2")
        srv.kill()
        srv.start()
        assert srv.client().get("k") == b"v2"
    finally:
        srv.stop()


def test_redis_without_appendonly_forgets(service_workdir):
    srv = RedisServer(service_workdir("redis-plain"))
    with srv:
        srv.client().set("k", "v")
        srv.restart()
        assert srv.client().get("k") is None
