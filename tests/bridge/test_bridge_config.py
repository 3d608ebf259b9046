"""Configuration without surprises, against the real binary.

  bad settings      one line, exit status 2, within a second, nothing contacted:
                    the same line at --check-config
  kafka from env    MTCTI3_KAFKA__<PROP> reaches librdkafka (its own refusal proves it)
  secret files      kafka.sasl.password from MTCTI3_KAFKA__SASL_PASSWORD_FILE against a
                    real SASL broker: the right one works, a wrong one is refused; neither
                    is in any log line, even with every debug context on
  json logs         log_format=json: every line on stderr is JSON, librdkafka's and
                    libwebsockets' included
"""
import json
import subprocess
import time

import pytest

from bridgelib import find_binary
from services import KafkaBroker, free_port, wait_for

BASE_ENV = {"PATH": "/usr/bin:/bin", "MTCTI3_IPO_URL": "wss://127.0.0.1:9/", "MTCTI3_IPO_USER": "u",
            "MTCTI3_IPO_PASSWORD": "p", "MTCTI3_KAFKA_BOOTSTRAP": "127.0.0.1:9"}


def run(args, env=None, check_config=False):
    exe = find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")
    cmd = [exe, *(["--check-config"] if check_config else []), "--http_listen=127.0.0.1:0", *args]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env={**BASE_ENV, **(env or {})}, capture_output=True, text=True, timeout=20)
    return r, time.monotonic() - t0


def test_bad_settings_one_line_exit_2(tmp_path):
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"\x30\x82\x01\x0a not a PEM file\n")
    cases = [
        (["--http_listen=127.0.0.1:99999"], {},
         'http_listen: "127.0.0.1:99999": port "99999" is not a number from 0 to 65535'),
        (["--http_listen=localhost"], {}, 'http_listen: "localhost" is not host:port'),
        ([], {"MTCTI3_IPO_URL": "wss://127.0.0.1:8443/tapi,wss://ipo-b:99999/tapi"},
         'ipo_url: "wss://ipo-b:99999/tapi": port "99999" is not a number from 1 to 65535'),
        ([], {"MTCTI3_IPO_URL": "wss://ipo:https/tapi"},
         'ipo_url: "wss://ipo:https/tapi": port "https" is not a number from 1 to 65535'),
        ([f"--ipo_ca_file={not_pem}"], {},
         f'ipo_ca_file: "{not_pem}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)'),
        (["--kafka.acks=banana"], {},
         'kafka.acks: Invalid value for configuration property "request.required.acks"'),
        (["--kafka.acks=1"], {},
         "kafka: `acks` must be set to `all` when `enable.idempotence` is true"),
        (["--kafka.security.protocol=SASL_SSL", "--kafka.sasl.mechanism=NOPE"], {},
         "kafka: Unsupported SASL mechanism: NOPE"),
        ([], {"MTCTI3_KAFKA__COMPRESSION_CODEC": "zip"},
         'kafka.compression.codec: Invalid value "zip" for configuration property "compression.codec"'),
        ([], {"MTCTI3_KAFKA__NO_SUCH": "1"},
         'kafka.no.such: No such configuration property: "no.such"'),
        ([], {"MTCTI3_KAFKA__SASL_PASSWORD_FILE": str(tmp_path / "missing")},
         f'kafka.sasl.password_file: cannot open "{tmp_path / "missing"}": No such file or directory '
         "(MTCTI3_KAFKA__SASL_PASSWORD_FILE)"),
    ]
    for args, env, want in cases:
        for check in (False, True):
            r, took = run(args, env, check_config=check)
            assert r.returncode == 2, (args, env, check, r.stderr)
            assert r.stderr.splitlines() == [f"mtcti3-bridge: {want}"], (args, env, check)
            assert r.stdout == ""
            assert took < 5, took


def test_bad_settings_in_json_mode():
    """Once the settings are read, log_format=json makes the error a JSON log line too;
    an error in the settings themselves stays the plain line (log_format may be it)."""
    for check in (False, True):
        r, _ = run(["--log_format=json", "--kafka.acks=1"], check_config=check)
        assert r.returncode == 2
        (line,) = r.stderr.splitlines()
        obj = json.loads(line)
        assert {k: obj[k] for k in ("level", "ctx", "inst", "msg")} == {
            "level": "error", "ctx": "config", "inst": "",
            "msg": "kafka: `acks` must be set to `all` when `enable.idempotence` is true"}
        r, _ = run(["--log_format=json", "--debug=pbx,nope"], check_config=check)
        assert r.returncode == 2
        assert json.loads(r.stderr)["msg"] == \
            'debug: unknown debug context "nope" (known: all,main,config,pbx,subs,snapshot,event,kafka,redis,http,cmd)'
        r, _ = run(["--log_format=json", "--http_listen=127.0.0.1:65536"], check_config=check)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [
            'mtcti3-bridge: http_listen: "127.0.0.1:65536": port "65536" is not a number from 0 to 65535']


def test_check_config_ok_with_kafka_env_and_secret_files(tmp_path):
    pw = tmp_path / "sasl-password"
    pw.write_text("Sasl-Secret-0815\n")
    keypw = tmp_path / "key-password"
    keypw.write_text("Key-Secret-4711\n")
    env = {"MTCTI3_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT", "MTCTI3_KAFKA__SASL_MECHANISM": "PLAIN",
           "MTCTI3_KAFKA__SASL_USERNAME": "bridge", "MTCTI3_KAFKA__SASL_PASSWORD_FILE": str(pw),
           "MTCTI3_KAFKA__SSL_KEY_PASSWORD_FILE": str(keypw), "MTCTI3_KAFKA__LOG__LEVEL": "6"}
    r, _ = run([], env, check_config=True)
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration ok\n", "")
    # the same properties, but a value librdkafka refuses, from the environment
    r, _ = run([], {**env, "MTCTI3_KAFKA__LOG__LEVEL": "eight"}, check_config=True)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        'mtcti3-bridge: kafka.log_level: Invalid value for configuration property "log_level"']


SASL_SECRET = "Sasl-Secret-0815"


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory):
    """A real broker with a SASL_PLAINTEXT listener (PLAIN, user bridge) beside its
    PLAINTEXT one (the harness's own clients and the broker's inter-broker traffic)."""
    port, cport, sport = free_port(), free_port(), free_port()
    broker = KafkaBroker(tmp_path_factory.mktemp("sasl-kafka"), port=port, controller_port=cport, extra_config={
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport},SASL_PLAINTEXT://127.0.0.1:{sport}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sport}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            'org.apache.kafka.common.security.plain.PlainLoginModule required '
            f'user_bridge="{SASL_SECRET}";',
    }).start()
    broker.sasl_bootstrap = f"127.0.0.1:{sport}"
    yield broker
    broker.stop()


@pytest.mark.parametrize("right", [True, False], ids=["right-password", "wrong-password"])
def test_sasl_password_from_file(tmp_path, sim, make_bridge, sasl_kafka, right):
    """kafka.sasl.password from MTCTI3_KAFKA__SASL_PASSWORD_FILE is what librdkafka
    sends: the right one gets the bridge's events into the SASL broker, a wrong one is
    refused by it; neither password is in any log line, with every debug context and
    librdkafka's security debugging on."""
    password = SASL_SECRET if right else "Wrong-Secret-4711"
    pw = tmp_path / "sasl-password"
    pw.write_text(password + "\n")
    bridge = make_bridge(sim, env={"MTCTI3_KAFKA_BOOTSTRAP": sasl_kafka.sasl_bootstrap,
                                   "MTCTI3_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                   "MTCTI3_KAFKA__SASL_MECHANISM": "PLAIN",
                                   "MTCTI3_KAFKA__SASL_USERNAME": "bridge",
                                   "MTCTI3_KAFKA__SASL_PASSWORD_FILE": str(pw),
                                   "MTCTI3_KAFKA__DEBUG": "security,broker",
                                   "MTCTI3_STATE_FROM_TOPICS": "false", "MTCTI3_COMMANDS": "false"},
                         extra=["--debug=all"])
    if right:
        bridge.start()
        msgs = sasl_kafka.consume_all(bridge.prefix + "bridge", timeout=30, expect=2)
        assert [json.loads(m.value)["type"] for m in msgs][:2] == ["started", "connected"]
    else:
        bridge.start(wait_resync=False)
        wait_for(lambda: "Authentication failed" in bridge.log_path.read_text(), 30,
                 what="the broker's refusal in the log")
        assert bridge.http("/readyz")[0] == 503
    bridge.stop()
    log = bridge.log_path.read_text()
    assert password not in log
    assert SASL_SECRET not in log


def test_json_logs_every_line(tmp_path, sim, kafka):
    """Every line on stderr is one JSON object: the bridge's, librdkafka's (kafka.debug,
    client and facility as inst) and libwebsockets' (inst "lws": without the sim's CA its TLS
    verification fails and libwebsockets says so)."""
    from bridgelib import Bridge
    bridge = Bridge(tmp_path / "b", sim, kafka.bootstrap,
                    env={"MTCTI3_IPO_URL": f"wss://127.0.0.1:1/dead,{sim.url}", "MTCTI3_IPO_CA_FILE": ""},
                    extra=["--log_format=json", "--debug=all", "--kafka.debug=broker,topic,metadata"])
    err_path, out_path = bridge.workdir / "stderr.log", bridge.workdir / "stdout.log"
    with open(err_path, "wb") as err, open(out_path, "wb") as out:
        proc = subprocess.Popen(bridge.command(), stdout=out, stderr=err, env=bridge.environment())
        try:
            def seen():
                assert proc.poll() is None, err_path.read_text()[-2000:]
                text = err_path.read_text()
                return '"inst":"lws"' in text and ' METADATA"' in text and "cannot connect" in text
            wait_for(seen, 40, what="lines of libwebsockets, librdkafka and the bridge")
        finally:
            proc.terminate()
            assert proc.wait(20) == 0
    lines = err_path.read_text().splitlines()
    assert len(lines) > 20
    objs = []
    for line in lines:
        obj = json.loads(line)  # raises on any line that is not JSON
        assert set(obj) == {"ts", "level", "ctx", "inst", "msg"}, line
        assert obj["level"] in ("error", "warn", "info", "debug")
        objs.append(obj)
    # librdkafka's lines name their client and facility: "mtcti3-bridge-events-<pbx>#producer-1 METADATA"
    facilities = {o["inst"].split()[-1] for o in objs if o["ctx"] == "kafka" and o["inst"]}
    assert {"BROKER", "METADATA"} <= facilities, facilities
    assert any(o["inst"] == "lws" and o["msg"].startswith("SSL error: ") for o in objs)
    assert any(o["msg"].startswith("cannot connect to wss://127.0.0.1:1/dead") for o in objs)
    assert out_path.read_text() == ""
