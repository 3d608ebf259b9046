"""schemas/asyncapi.yaml: validated by the AsyncAPI project's own parser
(@asyncapi/parser from npm, pinned by tests/contract/package-lock.json,
installed under tests/.work/node), its content checked channel by channel,
and its topics compared with the ones a real bridge creates on a real
broker."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from bridgelib import Bridge, Sim
from testenv import TOP

DOC = TOP / "schemas" / "asyncapi.yaml"
CHECK = pathlib.Path(__file__).resolve().parent / "asyncapi_check.cjs"
NODEENV = TOP / "tests" / "lib" / "nodeenv.sh"

LEG_KEY = ("^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|parkserver)"
           ":(([0-9a-f]{2})+|cid[0-9]+):[0-9]+$")
GUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
CMD_ID = "^[A-Za-z0-9._:-]{1,128}$"
CE = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"]
CE_NO_SUBJECT = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"]
SCHEMA_ID = "https://github.com/mtcti3-bridge/schemas/event-{}.schema.json"

# channel id -> (topic, cleanup policy, partitions, [(message, payload $id, key pattern, headers)])
TOMBSTONE = ("tombstone", None, None, None)
CHANNELS = {
    "calls": ("calls", ["delete"], None, [("callEvent", SCHEMA_ID.format("call"), LEG_KEY, CE)]),
    "liveCalls": ("live-calls", ["compact"], None,
                  [("callEvent", SCHEMA_ID.format("call"), LEG_KEY, CE), TOMBSTONE]),
    "presence": ("presence", ["compact"], None,
                 [("presenceEvent", SCHEMA_ID.format("presence"), GUID, CE), TOMBSTONE]),
    "queues": ("queues", ["compact"], None, [("queueEvent", SCHEMA_ID.format("queue"), GUID, CE), TOMBSTONE]),
    "lines": ("lines", ["compact"], None, [("lineEvent", SCHEMA_ID.format("line"), GUID, CE), TOMBSTONE]),
    "queueStats": ("queue-stats", ["compact"], None,
                   [("queueStats", SCHEMA_ID.format("queue-stats"), GUID, CE), TOMBSTONE]),
    "bridge": ("bridge", ["delete"], None,
               [("lifecycle", SCHEMA_ID.format("bridge"), None, CE_NO_SUBJECT)]),
    "commands": ("commands", ["delete"], 1, [("command", "urn:mtcti3-bridge:schema:command", CMD_ID, None)]),
    "commandResults": ("command-results", ["delete"], None,
                       [("commandResult", "urn:mtcti3-bridge:schema:command-result", CMD_ID, CE_NO_SUBJECT)]),
    "commandReply": (None, None, None,
                     [("commandResult", "urn:mtcti3-bridge:schema:command-result", CMD_ID, CE_NO_SUBJECT)]),
}


def parse(path):
    node_path = subprocess.run(["bash", str(NODEENV)], capture_output=True, text=True, check=True,
                               timeout=600).stdout.strip()
    out = subprocess.run(["node", str(CHECK), str(path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "NODE_PATH": node_path})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def doc():
    return parse(DOC)


def topics_documented(doc, prefix):
    return {c["address"].replace("{prefix}", prefix) for c in doc["channels"] if c["address"]}


def test_valid_for_the_asyncapi_parser(doc):
    assert [d for d in doc["diagnostics"] if d["severity"] <= 1] == []
    # 3.0, as issue 12 asks; the parser only says that 3.1 exists
    assert [d["code"] for d in doc["diagnostics"]] == ["asyncapi-latest-version"]


def test_the_parser_refuses_a_broken_document(tmp_path):
    """The parser does check: a $ref to a missing schema and an operation
    without its action are errors."""
    for p in DOC.parent.glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    text = DOC.read_text()
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(text.replace("./event-call.schema.json", "./event-calls.schema.json"))
    diags = parse(broken)["diagnostics"]
    assert any(d["severity"] == 0 and "event-calls.schema.json" in d["message"] for d in diags), diags
    broken.write_text(text.replace("  sendPresence:\n    action: send\n", "  sendPresence:\n"))
    diags = parse(broken)["diagnostics"]
    assert any(d["severity"] == 0 and d["path"][:2] == ["operations", "sendPresence"] for d in diags), diags


def test_every_channel(doc):
    got = {}
    for c in doc["channels"]:
        topic = c["address"][len("{prefix}"):] if c["address"] else None
        if c["address"]:
            assert c["address"].startswith("{prefix}")
            assert c["parameters"] == [{"id": "prefix", "default": "mtcti3."}]
        got[c["id"]] = (topic, c["cleanup"], c["partitions"],
                        [(m["id"], m["payload_id"], m["key_pattern"], m["headers_required"]) for m in c["messages"]])
    assert got == CHANNELS


def test_payloads_are_the_json_schemas(doc):
    """Every payload with an $id is the file of schemas/ with that $id."""
    ids = {json.loads(p.read_text())["$id"]: p.name for p in DOC.parent.glob("*.schema.json")}
    used = {m["payload_id"] for c in doc["channels"] for m in c["messages"] if m["payload_id"]}
    assert used <= set(ids)
    assert {ids[i] for i in used} == {"event-call.schema.json", "event-presence.schema.json",
                                      "event-queue.schema.json", "event-line.schema.json",
                                      "event-bridge.schema.json", "event-queue-stats.schema.json",
                                      "command.schema.json", "command-result.schema.json"}


def test_queue_stats_payload_is_its_schema(doc):
    [c] = [c for c in doc["channels"] if c["id"] == "queueStats"]
    assert c["messages"][0]["payload_id"] == SCHEMA_ID.format("queue-stats")


def test_operations(doc):
    ops = {o["id"]: (o["action"], o["channels"], o["messages"]) for o in doc["operations"]}
    sends = {o: v for o, v in ops.items() if v[0] == "send"}
    receives = {o: v for o, v in ops.items() if v[0] == "receive"}
    # the bridge sends on every channel but commands, and reads commands and
    # its compacted topics back
    assert sorted(c for v in sends.values() for c in v[1]) == sorted(set(CHANNELS) - {"commands"})
    assert sorted(c for v in receives.values() for c in v[1]) == \
        ["commands", "lines", "liveCalls", "presence", "queueStats", "queues"]


def test_the_client_knows_the_same_topics(doc):
    from mtcti3_bridge import TOPICS
    assert set(TOPICS) == {t for t, *_ in CHANNELS.values() if t}
    assert {t: TOPICS[t][0] for t in TOPICS} == {t: c[0] for t, c, *_ in CHANNELS.values() if t}


# ---- the topics a real bridge creates -------------------------------------

@pytest.fixture(scope="module")
def created(tmp_path_factory, kafka, redis_server):
    """{topic: (partitions, cleanup.policy)} of the topics a bridge created
    at start (with Redis, so its command stage runs too)."""
    sim = Sim(tmp_path_factory.mktemp("contract-sim"), users=2, queues=1).start()
    bridge = Bridge(tmp_path_factory.mktemp("contract-bridge"), sim, kafka.bootstrap,
                    redis_url=redis_server.url)
    try:
        bridge.start()
        md = kafka.admin().list_topics(timeout=10)
        names = sorted(t for t in md.topics if t.startswith(bridge.prefix))
        return bridge.prefix, {t: (len(md.topics[t].partitions), kafka.topic_config(t)["cleanup.policy"])
                               for t in names}
    finally:
        bridge.stop()
        sim.stop()


def test_every_topic_the_bridge_creates_is_documented(doc, created):
    prefix, topics = created
    assert set(topics) <= topics_documented(doc, prefix)
    assert len(topics) == 9
    cleanup = {c["address"].replace("{prefix}", prefix): c["cleanup"] for c in doc["channels"] if c["address"]}
    assert {t: [p] for t, (_, p) in topics.items()} == {t: cleanup[t] for t in topics}


def test_the_bridge_creates_every_documented_topic(doc, created):
    prefix, topics = created
    assert set(topics) == topics_documented(doc, prefix)


def test_the_commands_topic_has_one_partition(created):
    prefix, topics = created
    assert topics[prefix + "commands"] == (1, "delete")
