"""The deployment artefacts of deploy/, checked with the tools that use them.

  systemd        systemd-analyze verify (no warning at all) and its offline security
                 score; the example config with the unit's credential passes the
                 real binary's --check-config
  alert rules    promtool check rules, and promtool test rules (each alert fires on
                 its series with exact labels and annotations, none on a healthy bridge)
  dashboard      every panel's query is valid PromQL (promtool, as recording rules)
  metric names   every metric the dashboard and the rules use is one a real running
                 bridge exports (a scrape of /metrics after events and a command, real
                 Kafka, Redis and ipo-sim): the scrape is the truth, a table could
                 drift; the scrape passes promtool check metrics and docs/bridge.md's
                 table lists exactly its families
  helm           helm lint --strict; helm template renders the kinds promised (the
                 ServiceMonitor only where its CRD exists), probes on /healthz and
                 /readyz, passwords from the Secret as files, a PodDisruptionBudget;
                 the rendered bridge.conf passes the real binary's --check-config
  compose        the demo stack's services, secrets and settings
  environment    every MTCTI3_* variable any artefact sets is a setting of the bridge
  image          the Dockerfile's runtime packages are the ones that ship the
                 libraries the binaries link (ldd + dpkg -S on this Debian 12 machine;
                 tests/deploy/image.sh checks the same inside the built image)
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

from testenv import TOP, WORK, binary
from services import wait_for

DEPLOY = TOP / "deploy"
UNIT = DEPLOY / "systemd" / "mtcti3-bridge.service"
RULES = DEPLOY / "prometheus" / "mtcti3-bridge.rules.yml"
DASHBOARD = DEPLOY / "grafana" / "mtcti3-bridge.dashboard.json"
CHART = DEPLOY / "helm" / "mtcti3-bridge"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
TEST_CA = TOP / "tests" / "bridge" / "data" / "test-ca.pem"

# Settings the artefacts already set for the ownership work of PLAN.md (issue 10):
# until the bridge has them they must still be missing, so this list shrinks.
PENDING_SETTINGS: dict = {}  # environment names the deploy files may use before their setting lands


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def tool(name):
    path = shutil.which(name)
    assert path, f"{name} is not installed (deploy/install-deps.sh --test)"
    return path


@pytest.fixture(scope="session")
def helm():
    r = run([str(TOP / "tests" / "deploy" / "helm.sh")], timeout=1800)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="session")
def bridge_exe():
    return str(binary("mtcti3-bridge"))


def settings(bridge_exe):
    """The bridge's environment variables, from its own --help-markdown table."""
    out = run([bridge_exe, "--help-markdown"]).stdout
    return set(re.findall(r"^\| `[a-z_]+` \| `(MTCTI3_[A-Z_]+)` \|", out, re.M))


def check_env_name(name, known):
    if name in known or name.startswith("MTCTI3_KAFKA__"):
        return True
    if name.endswith("_FILE") and name[:-5] in known:  # ipo_password_file is in the table itself
        return True
    return False


# ---- systemd ----

def test_systemd_unit_verifies(tmp_path, bridge_exe):
    tool("systemd-analyze")
    unit = tmp_path / "mtcti3-bridge.service"
    # verify checks that ExecStart's binary exists: the built one stands in for /usr/local/bin's
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/mtcti3-bridge", bridge_exe))
    r = run(["systemd-analyze", "verify", str(unit)])
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)])
    m = re.search(r"Overall exposure level for mtcti3-bridge.service: ([0-9.]+) (\w+)", r.stdout)
    assert m, r.stdout[-500:] + r.stderr
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=30s", "DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "LoadCredential=ipo-password:/etc/mtcti3/credentials/ipo-password",
                 "Environment=MTCTI3_IPO_PASSWORD_FILE=%d/ipo-password", "RestartPreventExitStatus=2",
                 "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line in text.splitlines(), line


def test_systemd_unit_config_with_credential(tmp_path, bridge_exe):
    """What the unit hands the bridge (the example config, the credential file it
    names through %d) is a configuration the real binary accepts."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "ipo-password").write_text("from-a-credential\n")
    conf = tmp_path / "bridge.conf"
    conf.write_text((DEPLOY / "systemd" / "bridge.conf.example").read_text()
                    .replace("/etc/mtcti3/ipo-ca.pem", str(TEST_CA)))
    env_lines = [l.split("=", 1)[1] for l in UNIT.read_text().splitlines() if l.startswith("Environment=")]
    env = {"PATH": "/usr/bin:/bin"}
    for kv in env_lines:
        k, v = kv.split("=", 1)
        env[k] = v.replace("%d", str(creds))
    exec_start = next(l for l in UNIT.read_text().splitlines() if l.startswith("ExecStart="))
    args = exec_start.split()[1:]
    assert args == ["--config=/etc/mtcti3/bridge.conf"]
    r = run([bridge_exe, f"--config={conf}", "--check-config"], env=env)
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration ok\n", "")


# ---- Prometheus and Grafana ----

def test_alert_rules():
    tool("promtool")
    r = run(["promtool", "check", "rules", str(RULES)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 10 rules found" in r.stdout
    r = run(["promtool", "test", "rules", "mtcti3-bridge.rules.test.yml"], cwd=RULES.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [l.strip() for l in r.stdout.splitlines() if l.strip()][-1] == "SUCCESS"


def dashboard_exprs():
    d = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in d["panels"] for t in p.get("targets", [])]


def rule_exprs():
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_dashboard_queries_are_promql(tmp_path):
    """Grafana's variables replaced by what they stand for, each query becomes a
    recording rule, which promtool parses."""
    exprs = dashboard_exprs()
    assert len(exprs) >= 30
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}",
         "expr": e.replace("$__rate_interval", "5m").replace("$instance", ".*").replace("$pbx", ".*")}
        for i, e in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    r = run(["promtool", "check", "rules", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr
    d = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    assert d["uid"] == "mtcti3-bridge"


NAME = re.compile(r"\b((?:mtcti3_bridge|process)_[a-z0-9_]+)\b")


def used_metric_names():
    names = set()
    for e in dashboard_exprs() + rule_exprs():
        names |= set(NAME.findall(e))
    return names


@pytest.fixture(scope="module")
def scrape(tmp_path_factory, kafka, redis_server):
    """/metrics of a real bridge that did real work: resynced with ipo-sim, events
    delivered to the broker, one command through Redis."""
    from bridgelib import Bridge, Sim
    from confluent_kafka import Consumer, Producer
    work = tmp_path_factory.mktemp("scrape")
    sim = Sim(work / "sim", users=3, queues=1, calls_per_second=2).start()
    bridge = Bridge(work / "bridge", sim, kafka.bootstrap, redis_url=redis_server.url).start()
    try:
        wait_for(lambda: bridge.metrics().get("mtcti3_bridge_notify_ack_latency_seconds_count", 0) > 0, 30,
                 what="a NotifyAck")
        cid = "scrape-" + uuid.uuid4().hex[:8]
        p = Producer({"bootstrap.servers": kafka.bootstrap})
        p.produce(bridge.prefix + "commands", key=cid, value=json.dumps({"id": cid, "action": "get_version"}))
        p.flush(10)
        wait_for(lambda: bridge.metrics().get('mtcti3_bridge_commands_total{status="succeeded"}', 0) == 1, 30,
                 what="the command's outcome")
        return bridge.http("/metrics")[1]
    finally:
        bridge.stop()
        sim.stop()


def families(text):
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_scrape_passes_promtool(scrape):
    r = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert "_ms" not in "".join(families(scrape))


def test_dashboard_and_rules_use_exported_metrics(scrape):
    fams = families(scrape)
    types = {line.split()[2]: line.split()[3] for line in scrape.splitlines() if line.startswith("# TYPE ")}
    exported = set(fams)
    for name, kind in types.items():
        if kind == "histogram":
            exported |= {name + "_bucket", name + "_sum", name + "_count"}
    used = used_metric_names()
    assert len(used) >= 25, sorted(used)
    assert sorted(used - exported) == []
    # and the samples the rules select by label exist as such, with the pbx label the
    # rules group by (the one PBX of the scraped bridge)
    (pbx,) = re.findall(r'^mtcti3_bridge_pbx_connected\{pbx="([^"]+)"\} 1$', scrape, re.M)
    assert f'mtcti3_bridge_pbx_link_state{{pbx="{pbx}",state="resyncing"}} 0' in scrape.splitlines()
    assert f'mtcti3_bridge_commands_total{{pbx="{pbx}",status="succeeded"}} 1' in scrape.splitlines()
    # the process's own series carry none
    assert "mtcti3_bridge_redis_connected 1" in scrape.splitlines()
    assert "mtcti3_bridge_commands_paused 0" in scrape.splitlines()


def test_dashboard_filters_pbx_series():
    """Each panel of a PBX's series filters by the dashboard's $pbx; those of the
    process (Redis, paused command topics, process_*, build_info) do not."""
    process = {"mtcti3_bridge_redis_errors_total", "mtcti3_bridge_commands_paused", "mtcti3_bridge_build_info"}
    for e in dashboard_exprs():
        for name, labels in re.findall(r"\b((?:mtcti3_bridge|process)_[a-z0-9_]+)\{([^}]*)\}", e):
            want = not (name in process or name.startswith("process_"))
            assert ('pbx=~"$pbx"' in labels) == want, e


def test_docs_table_lists_exactly_the_families(scrape):
    doc = (TOP / "docs" / "bridge.md").read_text()
    table = set(re.findall(r"^\| `((?:mtcti3_bridge|process)_[a-z0-9_]+)` \| (?:counter|gauge|histogram) \|", doc, re.M))
    assert sorted(table ^ families(scrape)) == []


# ---- Helm ----

def helm_template(helm, *args, ok=True):
    r = run([helm, "template", "r1", str(CHART), "--namespace", "cti", *args])
    if not ok:
        return r
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def test_helm_lint(helm):
    r = run([helm, "lint", "--strict", str(CHART)])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in r.stdout


def test_helm_template(helm, tmp_path, bridge_exe):
    docs = helm_template(helm, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor"]
    by = {d["kind"]: d for d in docs}
    dep = by["Deployment"]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    env = {e["name"]: e["value"] for e in c["env"]}
    # group empty: the bridge's own default (one group per PBX id)
    assert env == {"MTCTI3_HTTP_LISTEN": "0.0.0.0:9464", "MTCTI3_IPO_PASSWORD_FILE": "/run/secrets/mtcti3/ipo-password"}
    assert all("valueFrom" not in e for e in c["env"])
    secret_vol = next(v for v in pod["volumes"] if v["name"] == "secrets")["secret"]
    assert secret_vol == {"secretName": "r1-mtcti3-bridge", "defaultMode": 0o400,
                          "items": [{"key": "ipo-password", "path": "ipo-password"}]}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    assert by["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    sel = dep["spec"]["selector"]["matchLabels"]
    assert by["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == sel
    assert by["Service"]["spec"]["selector"] == sel
    assert by["ServiceMonitor"]["spec"]["endpoints"] == [
        {"port": "http-metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}]
    # the config file the chart writes is one the bridge accepts, with the Secret's file
    conf = tmp_path / "bridge.conf"
    conf.write_text(by["ConfigMap"]["data"]["bridge.conf"])
    pw = tmp_path / "ipo-password"
    pw.write_text("from-the-secret\n")
    r = run([bridge_exe, f"--config={conf}", "--check-config"],
            env={"PATH": "/usr/bin:/bin", "MTCTI3_IPO_PASSWORD_FILE": str(pw),
                 "MTCTI3_HTTP_LISTEN": env["MTCTI3_HTTP_LISTEN"]})
    assert (r.returncode, r.stdout, r.stderr) == (0, "configuration ok\n", "")


def test_helm_template_options(helm):
    kinds = sorted(d["kind"] for d in helm_template(helm))
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]  # no CRD: no ServiceMonitor
    docs = helm_template(helm, "--set", "secret.create=true", "--set", "secret.values.ipo-password=pw1",
                         "--set", "secret.values.kafka-sasl-password=pw2", "--set", "secret.kafkaSaslPassword=true",
                         "--set", "kafka.security\\.protocol=SASL_SSL", "--set-string", "ipoCaCert=PEM")
    by = {d["kind"]: d for d in docs}
    assert by["Secret"]["stringData"] == {"ipo-password": "pw1", "kafka-sasl-password": "pw2"}
    (c,) = by["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["MTCTI3_KAFKA__SASL_PASSWORD_FILE"] == "/run/secrets/mtcti3/kafka-sasl-password"
    dep = {d["kind"]: d for d in helm_template(helm, "--set", "group=acme-bridges")}["Deployment"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert {e["name"]: e["value"] for e in c["env"]}["MTCTI3_GROUP"] == "acme-bridges"
    assert env["MTCTI3_IPO_CA_FILE"] == "/etc/mtcti3/ipo-ca.pem"
    assert "kafka.security.protocol = SASL_SSL" in by["ConfigMap"]["data"]["bridge.conf"].splitlines()
    assert by["ConfigMap"]["data"]["ipo-ca.pem"] == "PEM\n"
    r = helm_template(helm, "--set", "kafka.sasl\\.password=oops", ok=False)
    assert r.returncode != 0
    assert "kafka.sasl.password: a secret: put it in the Secret (secret.kafkaSaslPassword)" in r.stderr
    assert "oops" not in r.stderr


# ---- compose ----

def test_compose_stack(bridge_exe):
    c = yaml.safe_load(COMPOSE.read_text())
    assert sorted(c["services"]) == ["bridge", "ipo-sim", "kafka", "redis"]
    kafka = c["services"]["kafka"]
    assert kafka["image"].startswith("docker.io/apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    bridge = c["services"]["bridge"]
    assert bridge["network_mode"] == "service:ipo-sim"
    assert bridge["image"] == c["services"]["ipo-sim"]["image"]
    assert c["services"]["ipo-sim"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    for name, spec in c["secrets"].items():
        assert (COMPOSE.parent / spec["file"]).is_file(), name
    assert "MTCTI3_IPO_PASSWORD" not in bridge["environment"]  # a file, not a value
    assert bridge["environment"]["MTCTI3_IPO_PASSWORD_FILE"] == "/run/secrets/ipo_password"


# ---- every MTCTI3_ variable is a setting ----

def test_environment_names_are_settings(helm, bridge_exe):
    known = settings(bridge_exe)
    assert len(known) > 40
    for name in PENDING_SETTINGS:
        assert name not in known, f"{name} landed: drop it from PENDING_SETTINGS"
    texts = {"systemd": UNIT.read_text(), "compose": COMPOSE.read_text(), "Dockerfile": DOCKERFILE.read_text(),
             "helm": run([helm, "template", "r1", str(CHART), "--set", "secret.kafkaSaslPassword=true",
                          "--set-string", "ipoCaCert=x"]).stdout,
             "README": (DEPLOY / "README.md").read_text()}
    for where, text in texts.items():
        names = set(re.findall(r"\b(MTCTI3_[A-Z0-9_]+)\b", text))
        names.discard("MTCTI3_NAME")  # the README's "every setting name is also MTCTI3_NAME"
        bad = sorted(n for n in names if not check_env_name(n, known) and n not in PENDING_SETTINGS)
        assert bad == [], where


# ---- the image's runtime packages ----

# What the binaries link that every Debian 12 image has (debootstrap's minbase,
# so debian:12-slim too); image.sh checks against the real base image's list.
IN_EVERY_BASE = {"libc6"}
SANITIZER_RUNTIMES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


def test_runtime_packages_match_the_libraries():
    """The Dockerfile's runtime list is the set of packages that ship the libraries
    the binaries link directly (ELF NEEDED; apt brings what those need), less what
    every Debian base has (IN_EVERY_BASE); nothing listed is unused.
    The sanitizer runtimes of a test build are not the image's business."""
    text = DOCKERFILE.read_text()
    runtime = text[text.index("FROM ${BASE}\n"):]
    block = runtime[runtime.index("--no-install-recommends"):runtime.index("rm -rf")]
    listed = set(re.findall(r"\b(lib[a-z0-9.+-]+|ca-certificates)\b", block)) - {"ca-certificates"}
    paths = {}
    needed = set()
    for b in ("mtcti3-bridge", "ipo-sim", "mtcti3"):
        exe = str(binary(b))
        out = run(["ldd", exe]).stdout
        assert "not found" not in out
        paths.update(dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M)))
        needed |= set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", exe]).stdout))
    needed = {n for n in needed if not SANITIZER_RUNTIMES.match(n)}
    pkgs = set()
    for soname in sorted(needed):
        lib = os.path.realpath(paths[soname])
        r = run(["dpkg", "-S", lib])
        if r.returncode != 0:  # /lib vs /usr/lib (merged /usr): ask for the other spelling
            alt = lib.replace("/usr/lib/", "/lib/", 1) if lib.startswith("/usr/lib/") else "/usr" + lib
            r = run(["dpkg", "-S", alt])
        assert r.returncode == 0, lib
        pkgs.add(r.stdout.split(":")[0])
    # what a listed package depends on comes with it (libwebsockets17 brings libcap2)
    brought = set()
    for p in listed:
        deps = run(["dpkg-query", "-W", "-f", "${Depends}", p]).stdout
        brought |= {d.split()[0].split(":")[0] for d in re.split(r"[,|]", deps) if d.strip()}
    assert sorted(pkgs - listed - brought - IN_EVERY_BASE) == []  # needed, not installed by the Dockerfile
    assert sorted(listed - pkgs) == []                               # installed, needed by nothing
