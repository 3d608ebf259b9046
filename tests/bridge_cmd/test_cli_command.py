"""`mtcti3 command` against a real Kafka broker and a real redis-server.

A stand-in for the bridge, written here with confluent-kafka and redis-py,
reads the command from <prefix>commands and answers on the results topic, on
reply_to or on the Redis channel, as the bridge does (docs/commands.md).
"""
import json
import subprocess
import threading
import uuid

import jsonschema
import pytest
import redis as redislib
from confluent_kafka import Consumer, Producer

from testenv import TOP, binary

RESULT_SCHEMA = json.loads((TOP / "schemas" / "command-result.schema.json").read_text())


def run(*args, stdin=None, timeout=60):
    return subprocess.run([str(binary("mtcti3")), "command", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def result(cmd, status="succeeded", code=0, **extra):
    r = {"id": cmd["id"], "status": status, "code": code,
         "code_name": "MTCTISESS_SUCCESS" if code == 0 else "MTCTISESS_CALLCONTROL_PARKFAILED",
         "reason": None, "requestid": 1073741824, "action": cmd["action"], "latency_ms": 3,
         "data": None}
    r.update(extra)
    jsonschema.validate(r, RESULT_SCHEMA)
    return r


class FakeBridge(threading.Thread):
    """Answers the first command on <prefix>commands; records what it read."""

    def __init__(self, kafka, prefix, answer, redis_url=None):
        super().__init__(daemon=True)
        self.kafka, self.prefix, self.answer, self.redis_url = kafka, prefix, answer, redis_url
        self.seen = []
        self.consumer = Consumer({"bootstrap.servers": kafka.bootstrap,
                                  "group.id": "fake-" + uuid.uuid4().hex,
                                  "auto.offset.reset": "earliest"})
        self.consumer.subscribe([prefix + "commands"])
        self.stop = False

    def run(self):
        while not self.stop:
            m = self.consumer.poll(0.2)
            if m is None or m.error():
                continue
            cmd = json.loads(m.value())
            self.seen.append((m.key().decode(), cmd))
            res = self.answer(cmd)
            if res is None:
                continue
            if self.redis_url:
                r = redislib.Redis.from_url(self.redis_url)
                r.publish(f"mtcti3:{cmd.get('pbx', 'ipo')}:cmd:{cmd['id']}", json.dumps(res))
            else:
                p = Producer({"bootstrap.servers": self.kafka.bootstrap})
                # An unrelated result first: the CLI must match on the key.
                p.produce(cmd.get("reply_to") or self.prefix + "command-results",
                          key="someone-else", value=json.dumps(result({"id": "x", "action": "drop"})))
                p.produce(cmd.get("reply_to") or self.prefix + "command-results",
                          key=cmd["id"], value=json.dumps(res))
                p.flush(10)
        self.consumer.close()


@pytest.fixture
def prefix(kafka):
    p = f"t{uuid.uuid4().hex[:8]}."
    kafka.create_topic(p + "commands", 1)
    kafka.create_topic(p + "command-results", 3)
    return p


def test_usage_errors_exit_2():
    assert run().returncode == 2
    assert run("--bootstrap", "127.0.0.1:1").returncode == 2
    p = run("--bootstrap", "127.0.0.1:1", "--action", "park", "--user", "201",
            "--callid", "7", "--arg", "slot=1234567890")
    assert p.returncode == 2
    assert "bad_args: args.slot: must be 1 to 9 of 0-9*#" in p.stderr
    p = run("--bootstrap", "127.0.0.1:1", "not json")
    assert p.returncode == 2
    p = run("--bootstrap", "127.0.0.1:1", "-", stdin="{\"id\":\"a\",\"action\":\"explode\"}")
    assert p.returncode == 2 and "unknown_action" in p.stderr
    assert run("--help").returncode == 0


def test_flags_build_the_command_and_result_is_printed(kafka, prefix):
    bridge = FakeBridge(kafka, prefix, lambda c: result(c, data={"referencecallid": 42}))
    bridge.start()
    try:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--id", "cli-1",
                "--action", "make_call", "--user", "201", "--arg", "to=202",
                "--arg", "withhold_cli=true", "--arg", "auth_code=9911", "--arg", "referencecallid=42")
    finally:
        bridge.stop = True
        bridge.join(10)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["id"] == "cli-1" and out["status"] == "succeeded"
    key, cmd = bridge.seen[0]
    assert key == "cli-1"
    assert cmd == {"id": "cli-1", "action": "make_call", "target": {"user": "201"},
                   "args": {"to": "202", "withhold_cli": True, "auth_code": "9911",
                            "referencecallid": 42}}
    assert "9911" not in p.stdout and "9911" not in p.stderr


def test_failed_outcome_exits_1_and_reply_to(kafka, prefix):
    reply = prefix + "mine"
    kafka.create_topic(reply, 1)
    bridge = FakeBridge(kafka, prefix, lambda c: result(c, "failed", 613))
    bridge.start()
    try:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "-",
                stdin=json.dumps({"id": "cli-2", "action": "park", "target": {"user": "201"},
                                  "call": {"callid": 7}, "args": {"slot": "5"},
                                  "reply_to": reply}))
    finally:
        bridge.stop = True
        bridge.join(10)
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["code_name"] == "MTCTISESS_CALLCONTROL_PARKFAILED"


def test_no_result_exits_3(kafka, prefix):
    p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--action", "get_version",
            "--wait-ms", "1500")
    assert p.returncode == 3
    assert "no result" in p.stderr


def test_wait_on_redis_channel(kafka, prefix, redis_server):
    bridge = FakeBridge(kafka, prefix, lambda c: result(c), redis_url=redis_server.url)
    bridge.start()
    try:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--redis", redis_server.url,
                "--pbx", "ipo7", "--id", "cli-3", "--action", "set_dnd", "--user", "201",
                "--arg", "on=yes")
    finally:
        bridge.stop = True
        bridge.join(10)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == "cli-3"
    assert bridge.seen[0][1]["pbx"] == "ipo7" and bridge.seen[0][1]["args"] == {"on": True}
