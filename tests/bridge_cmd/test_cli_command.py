"""`mtcti3 command` against a real Kafka broker and a real redis-server.

A stand-in for the bridge, written here with confluent-kafka and redis-py,
reads the command from <prefix>commands and answers on the results topic, on
reply_to or on the Redis channel, as the bridge does (docs/commands.md).
"""
import json
import os
import subprocess
import threading
import time
import uuid

import jsonschema
import pytest
import redis as redislib
from confluent_kafka import Consumer, Producer

from testenv import TOP, binary

RESULT_SCHEMA = json.loads((TOP / "schemas" / "command-result.schema.json").read_text())


def run(*args, stdin=None, timeout=60, env=None):
    return subprocess.run([str(binary("mtcti3")), "command", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


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

    def __init__(self, kafka, prefix, answer, redis_url=None, aborted_first=None):
        super().__init__(daemon=True)
        self.kafka, self.prefix, self.answer, self.redis_url = kafka, prefix, answer, redis_url
        self.aborted_first = aborted_first  # a result produced in a transaction that is aborted, first
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
                topic = cmd.get("reply_to") or self.prefix + "command-results"
                if self.aborted_first:
                    t = Producer({"bootstrap.servers": self.kafka.bootstrap,
                                  "transactional.id": "fake-" + uuid.uuid4().hex})
                    t.init_transactions(30)
                    t.begin_transaction()
                    t.produce(topic, key=cmd["id"], value=json.dumps(self.aborted_first(cmd)))
                    t.flush(10)
                    t.abort_transaction(30)
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


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (what Java's default partitioner hashes a key with), as a signed int."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    for i in range(0, len(data) - len(data) % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[len(data) - len(data) % 4:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if len(tail) >= 1:
        h ^= tail[0]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def test_murmur2_matches_javas_vectors():
    # org.apache.kafka.common.utils.UtilsTest.testMurmur2
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_command_lands_where_java_puts_it(kafka):
    """murmur2_random: on a topic of 7 partitions each command's partition is
    the one Java's default partitioner picks for its id."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    kafka.create_topic(prefix + "commands", 7)
    kafka.create_topic(prefix + "command-results", 1)
    ids = [f"cli-part-{i}" for i in range(12)]
    for cid in ids:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--id", cid, "--action", "get_version",
                "--wait-ms", "1")
        assert p.returncode == 3, p.stderr  # nobody answers: only where it landed matters
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "t-" + uuid.uuid4().hex,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.subscribe([prefix + "commands"])
    where = {}
    end = time.monotonic() + 30
    while len(where) < len(ids) and time.monotonic() < end:
        m = c.poll(0.5)
        if m is not None and not m.error():
            where[m.key().decode()] = m.partition()
    c.close()
    assert where == {cid: (murmur2(cid.encode()) & 0x7FFFFFFF) % 7 for cid in ids}
    assert len(set(where.values())) > 1


def test_pbx_id_from_the_environment(kafka, prefix, redis_server):
    """MTCTI3_PBX_ID names the PBX: it goes into the command, and --redis
    waits on that PBX's channel (with the default "ipo" it waited in vain)."""
    bridge = FakeBridge(kafka, prefix, lambda c: result(c), redis_url=redis_server.url)
    bridge.start()
    try:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--redis", redis_server.url,
                "--id", "cli-env-1", "--action", "get_version", "--wait-ms", "15000",
                env={"MTCTI3_PBX_ID": "hq-7"})
    finally:
        bridge.stop = True
        bridge.join(10)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "succeeded"
    assert bridge.seen[0][1] == {"id": "cli-env-1", "action": "get_version", "pbx": "hq-7"}


def test_results_read_committed(kafka, prefix):
    """A result written in a transaction that was aborted is never taken."""
    bridge = FakeBridge(kafka, prefix, lambda c: result(c), aborted_first=lambda c: result(c, "failed", 613))
    bridge.start()
    try:
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--id", "cli-rc-1",
                "--action", "get_version", "--wait-ms", "20000")
    finally:
        bridge.stop = True
        bridge.join(10)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["status"] == "succeeded"


def test_redis_acl_user_password_from_the_environment(kafka, prefix, service_workdir):
    """--redis with an ACL user; the password from MTCTI3_REDIS_PASSWORD_FILE,
    never from the command line."""
    from services import RedisServer
    server = RedisServer(service_workdir("cli-redis")).start()
    try:
        admin = redislib.Redis(host="127.0.0.1", port=server.port)
        admin.execute_command("ACL", "SETUSER", "watcher", "on", ">w4tch", "&mtcti3:*", "+subscribe", "+ping")
        pwfile = service_workdir("cli-pw") / "pw"
        pwfile.write_text("w4tch\n")
        url = f"redis://watcher@127.0.0.1:{server.port}"
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--redis",
                f"redis://watcher:w4tch@127.0.0.1:{server.port}", "--action", "get_version")
        assert p.returncode == 2
        assert p.stderr.splitlines()[0] == ("mtcti3 command: --redis: a password in the URL is not accepted on "
                                            "the command line (use MTCTI3_REDIS_PASSWORD or "
                                            "MTCTI3_REDIS_PASSWORD_FILE)")
        p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--redis", url, "--action", "get_version",
                env={"MTCTI3_REDIS_PASSWORD": "wrong"})
        assert p.returncode == 1
        assert p.stderr.startswith(f"mtcti3 command: redis 127.0.0.1:{server.port}: AUTH refused: WRONGPASS"), p.stderr
        assert "wrong" not in p.stderr.split("WRONGPASS")[0]
        bridge = FakeBridge(kafka, prefix, lambda c: result(c), redis_url=server.url)
        bridge.start()
        try:
            p = run("--bootstrap", kafka.bootstrap, "--prefix", prefix, "--redis", url, "--pbx", "acl1",
                    "--id", "cli-acl-1", "--action", "get_version", "--wait-ms", "15000",
                    env={"MTCTI3_REDIS_PASSWORD_FILE": str(pwfile)})
        finally:
            bridge.stop = True
            bridge.join(10)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["id"] == "cli-acl-1"
    finally:
        server.stop()


def test_option_errors():
    p = run("--bootstrap", "127.0.0.1:1", "--nope", "--action", "get_version")
    assert p.returncode == 2
    assert p.stderr == "mtcti3 command: unknown option '--nope'\nTry 'mtcti3 command --help'.\n"
    p = run("--bootstrap", "127.0.0.1:1", "--action")
    assert p.returncode == 2
    assert p.stderr == "mtcti3 command: option needs a value '--action'\nTry 'mtcti3 command --help'.\n"
    p = run("--bootstrap", "127.0.0.1:1", "--action", "get_version", "stray")
    assert p.returncode == 2
    assert p.stderr == "mtcti3 command: unexpected argument 'stray'\nTry 'mtcti3 command --help'.\n"
    p = run("--bootstrap", "127.0.0.1:1", "--action=get_version", "-Xno-equals", "--wait-ms=1")
    assert p.returncode == 1
    assert p.stderr == "mtcti3 command: -X wants PROPERTY=VALUE\n"
    p = run("--bootstrap", "127.0.0.1:1", "--redis", "redis://h:99999", "--action", "get_version")
    assert p.returncode == 2
    assert p.stderr == "mtcti3 command: --redis: bad port \"99999\" (1 to 65535)\n"
    p = run("--help")
    assert p.returncode == 0 and "--redis URL" in p.stdout and "MTCTI3_PBX_ID" in p.stdout
