"""The PBX link and the configuration, against ipo-sim.

  url list        a dead first URL: the bridge moves on to the next one (and
                  will check the first again after failback_min_ms)
  tls_verify off  no CA: connects anyway, with a warning at every connect
  tls verify      no CA and verification on: refuses the sim's certificate
  bad password    refused by the PBX, retried with backoff; the password never logged
  bad config      one line naming the setting, exit status 2, nothing contacted
  settings docs   docs/bridge.md carries every row of --help-markdown
  json logs       log_format=json: one JSON object per line with ctx and level
"""
import json
import subprocess
import time

from bridgelib import find_binary
from services import wait_for


def test_url_list_failover(sim, make_bridge):
    bridge = make_bridge(sim, env={"MTCTI3_IPO_URL": f"wss://127.0.0.1:1/dead,{sim.url}"}).start()
    assert bridge.metrics()["mtcti3_bridge_reconnects_total"] >= 2
    log = bridge.log_path.read_text()
    assert "cannot connect to wss://127.0.0.1:1/dead" in log
    assert f"connected to {sim.url}" in log
    # on a fallback: the first URL is checked again after failback_min_ms (default 60 s)
    assert f"on the fallback {sim.url}: checking the first URL wss://127.0.0.1:1/dead in 60000 ms" in log
    assert bridge.metrics()["mtcti3_bridge_pbx_url_index"] == 1


def test_tls_verify_false_warns_each_connect(sim, make_bridge):
    bridge = make_bridge(sim, env={"MTCTI3_IPO_CA_FILE": "", "MTCTI3_TLS_VERIFY": "false"}).start()
    sim.ctl("POST", "/connections/drop")
    wait_for(lambda: bridge.log_path.read_text().count("connected to wss://") >= 2, 20, what="reconnect")
    assert bridge.log_path.read_text().count("tls_verify=false") >= 2


def test_tls_verification_refuses_unknown_ca(sim, make_bridge):
    bridge = make_bridge(sim, env={"MTCTI3_IPO_CA_FILE": ""}).start(wait_resync=False)
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_reconnects_total"] >= 2, 20)
    assert bridge.metrics()["mtcti3_bridge_pbx_connected"] == 0
    # once it owns the PBX (the group, fencing, the committed state: a few seconds), /readyz says why
    wait_for(lambda: bridge.readiness().get(f"{bridge.pbx_id}/pbx_link") == (False, "not connected to the PBX"), 30,
             what="/readyz: not connected")
    status, doc = bridge.readyz()
    assert status == 503 and doc["ready"] is False
    assert "cannot connect" in bridge.log_path.read_text()


def test_bad_password_retried_never_logged(sim, make_bridge):
    secret = "Wrong-Secret-4711"
    bridge = make_bridge(sim, env={"MTCTI3_IPO_PASSWORD": secret},
                         extra=["--debug=all"]).start(wait_resync=False)
    wait_for(lambda: bridge.metrics()["mtcti3_bridge_reconnects_total"] >= 3, 20)
    assert bridge.metrics()["mtcti3_bridge_pbx_connected"] == 0
    bridge.stop()
    log = bridge.log_path.read_text()
    assert secret not in log
    import base64
    assert base64.b64encode(f"{sim.user}:{secret}".encode()).decode() not in log


def test_bad_config_exits_2(tmp_path):
    exe = find_binary("mtcti3-bridge", "MTCTI3_BRIDGE")
    env = {"PATH": "/usr/bin:/bin", "MTCTI3_IPO_URL": "wss://127.0.0.1:9/", "MTCTI3_IPO_USER": "u",
           "MTCTI3_IPO_PASSWORD": "p", "MTCTI3_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    cases = [
        ([], {"MTCTI3_IPO_URL": ""}, "mtcti3-bridge: ipo_url: missing (set MTCTI3_IPO_URL, --ipo_url or ipo_url in the config file)"),
        (["--subscribe_window=0"], {}, "mtcti3-bridge: subscribe_window: 0 is out of range [1, 100000]"),
        (["--ipo_password=x"], {}, "mtcti3-bridge: ipo_password: not accepted on the command line (use MTCTI3_IPO_PASSWORD, MTCTI3_IPO_PASSWORD_FILE or the config file)"),
        ([], {"MTCTI3_TLS_VERIFY": "perhaps"}, 'mtcti3-bridge: tls_verify: "perhaps" is not a boolean (true/false)'),
        (["--kafka.no.such.property=1"], {}, "mtcti3-bridge: kafka.no.such.property: No such configuration property: \"no.such.property\""),
    ]
    for args, extra, want in cases:
        t0 = time.monotonic()
        r = subprocess.run([exe, *args, "--http_listen="], env={**env, **extra}, capture_output=True,
                           text=True, timeout=20)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.splitlines() == [want]
        assert time.monotonic() - t0 < 5


def test_docs_list_every_setting():
    """docs/bridge.md carries the settings table the binary prints (--help-markdown,
    from config.h's table), so they cannot disagree."""
    from bridgelib import TOP
    out = subprocess.run([find_binary("mtcti3-bridge", "MTCTI3_BRIDGE"), "--help-markdown"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) > 40
    doc = (TOP / "docs" / "bridge.md").read_text().splitlines()
    missing = [r for r in rows if r not in doc]
    assert not missing, missing
    assert "| `kafka_transactions` | `MTCTI3_KAFKA_TRANSACTIONS` | `true` |" in "\n".join(rows)


def test_json_logs(sim, make_bridge):
    bridge = make_bridge(sim, extra=["--log_format=json"]).start()
    bridge.stop()
    lines = [l for l in bridge.log_path.read_text().splitlines() if l.startswith("{")]
    assert len(lines) > 3
    for line in lines:
        obj = json.loads(line)
        assert set(obj) == {"ts", "level", "ctx", "inst", "msg"}
        assert obj["level"] in ("error", "warn", "info", "debug")
