"""Proof with a real consumer: Flink's debezium-json format
(DebeziumJsonDeserializationSchema, flink-json from Maven Central) reads the
calls topic a real bridge wrote (tests/consumers/conftest.py's batch), in one
run of tests/consumers/flink/CallsCheck.java, and keeps its changelog in a
table keyed by the Kafka key."""
import json
import subprocess

import pytest

from consumerlib import value
from services import _java
from testenv import TOP

ROWS = {"c": {"+I": 1}, "r": {"+I": 1}, "u": {"-U": 1, "+U": 1}, "d": {"-D": 1}}
COLUMNS = ("leg", "line_kind", "line_guid", "line_extn", "callid", "referencecallid", "gcid", "state",
           "direction", "featuresavailable", "featuresavailable_names", "callingparty", "tag", "mute",
           "recording", "parkslot")


@pytest.fixture(scope="module")
def flink(batch, tmp_path_factory):
    cp = subprocess.run(["bash", str(TOP / "tests" / "consumers" / "flink.sh")], capture_output=True,
                        text=True, timeout=900)
    assert cp.returncode == 0, cp.stderr
    out = tmp_path_factory.mktemp("flink") / "calls-check.json"
    run = subprocess.run([_java(), "-XX:TieredStopAtLevel=1", "-cp", cp.stdout.strip(),
                          "mtcti3.consumers.CallsCheck", batch.bootstrap, batch.prefix + "calls", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_call_event_deserializes(batch, flink):
    msgs = batch.messages["calls"]
    assert flink["messages"] == len(msgs) >= 30
    assert flink["errors"] == [] and flink["tombstones"] == 0
    expected = {"+I": 0, "-U": 0, "+U": 0, "-D": 0}
    per_message = {}
    for m in msgs:
        for kind, n in ROWS[value(m)["op"]].items():
            expected[kind] += n
        per_message[f"{m.partition}/{m.offset}"] = sum(ROWS[value(m)["op"]].values())
    assert flink["rows"] == expected
    assert flink["rows_per_message"] == per_message


def row_of(after, source=None):
    """A call row as CallsCheck reads it: its columns from after (the leg
    identity from after, where the decided format puts it)."""
    cp = after.get("callingparty")
    r = {c: after.get(c) for c in COLUMNS}
    r["callingparty"] = None if cp is None else {"number": cp.get("number"), "name": cp.get("name")}
    return r


def test_rows_are_the_events(batch, flink):
    """Each key's rows are what the events say: the table left at the end
    holds, for each key, the after of its last event that is not a delete."""
    last = {}
    for m in batch.messages["calls"]:
        v = value(m)
        last[m.key.decode()] = v
    held = {k: row_of(v["after"]) for k, v in last.items() if v["op"] != "d"}
    assert flink["table"] == held


def test_one_row_per_leg_keyed_by_the_kafka_key(batch, flink):
    assert (flink["insert_over_existing"], flink["before_mismatch"], flink["delete_mismatch"],
            flink["delete_missing"], flink["key_of_row_mismatch"]) == (0, 0, 0, 0, 0)
    assert all(len(guids) == 1 for guids in flink["legs_per_key"].values()), flink["legs_per_key"]
    entities = {value(m)["source"]["entity"] for m in batch.messages["calls"]}
    assert flink["keys"] == len(entities)
    # the legs in progress are the simulator's legs on bridge lines
    legs = sorted((c["gcid"], leg["callid"], leg["state"]) for c in batch.sim_calls for leg in c["legs"]
                  if leg["line"] != "trunk")
    assert sorted((r["gcid"], r["callid"], r["state"]) for r in flink["table"].values()) == legs
    assert all(r["leg"] == k and r["line_guid"] is not None for k, r in flink["table"].items())
