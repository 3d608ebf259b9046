"""Proof with a real consumer: the Python client (clients/python) folds the
real bridge's batch (tests/consumers/conftest.py) into the PBX's state, which
must be what the simulator says it is; the call legs in progress rebuilt
from live-calls; the leg keys as docs/bridge.md and schemas/asyncapi.yaml
describe them."""
import re

import pytest
import yaml

from consumerlib import value
from mtcti3_bridge import Client
from testenv import TOP

# <line guid, or parkserver>:<gcid hex, or cid<callid>>:<first seen ms> (docs/bridge.md, "Topics and keys")
LEG_KEY = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|parkserver)"
                     r":((?:[0-9a-f]{2})+|cid[0-9]+):([0-9]+)$")
# the contract's own pattern of a leg key (schemas/asyncapi.yaml)
CONTRACT_LEG_KEY = yaml.safe_load((TOP / "schemas" / "asyncapi.yaml").read_text())[
    "components"]["schemas"]["legKey"]["pattern"]


def sim_legs(batch):
    """(gcid, callid, state) of every leg in progress on a bridge line, per the simulator."""
    return sorted((c["gcid"], leg["callid"], leg["state"]) for c in batch.sim_calls for leg in c["legs"]
                  if leg["line"] != "trunk")


@pytest.fixture(scope="module")
def folded(batch):
    with Client(batch.bootstrap, prefix=batch.prefix).events(
            ["calls", "presence", "queues", "lines", "bridge"]) as stream:
        changes = stream.read_to_end()
        return stream, changes


def test_the_state_is_the_pbx_state(batch, folded):
    stream, changes = folded
    assert stream.gaps == [] and stream.duplicates == []
    assert len(changes) == sum(len(batch.messages[t]) for t in ("calls", "presence", "queues", "lines", "bridge"))
    calls = stream.state("calls")
    assert sorted((a["gcid"], a["callid"], a["state"]) for a in calls.values()) == sim_legs(batch)
    assert len(calls) == 7
    users = {u["guid"]: u for u in batch.model["users"]}
    presence = stream.state("presence")
    assert sorted(presence) == sorted(f"user:{g}" for g in users)
    assert {g: presence[f"user:{g}"]["dnd"] for g in users} == {g: u["dnd"] for g, u in users.items()}
    assert [u["extn"] for u in users.values() if u["dnd"]] == ["2002"]  # the batch's set_dnd
    assert {e: (s["extn"], s["name"]) for e, s in stream.state("lines").items()} == \
        {f"line:{x['guid']}": (x["extn"], x["name"]) for x in batch.model["users"] + batch.model["queues"]}
    members = {q["guid"]: [m["extn"] for m in q["members"]] for q in batch.model["queues"]}
    assert {e: [m["extn"] for m in s["queuemembers"]["member"]] for e, s in stream.state("queues").items()} == \
        {f"queue:{g}": m for g, m in members.items()}


def test_every_leg_ran_from_create_to_its_end(batch, folded):
    stream, changes = folded
    legs = {}
    for ch in changes:
        if ch.topic == "calls":
            legs.setdefault(ch.entity, []).append(ch)
    assert len(legs) == 17
    ended = [e for e, chs in legs.items() if chs[-1].op == "d"]
    assert len(ended) == 10 and len(legs) - len(ended) == len(stream.state("calls"))
    for entity, chs in legs.items():
        assert [c.seq for c in chs] == list(range(1, len(chs) + 1)), entity
        assert chs[0].op == "c" and all(c.op == "u" for c in chs[1:-1]), entity


def test_live_calls_rebuild_the_calls_in_progress(batch, folded):
    stream, _ = folded
    with Client(batch.bootstrap, prefix=batch.prefix).events(["live-calls"], wait_topics=5) as live:
        live.read_to_end()
        assert live.state("live-calls") == stream.state("calls")
        assert live.gaps == [] and live.duplicates == []
    last = {}
    for m in batch.messages["live-calls"]:
        assert re.fullmatch(CONTRACT_LEG_KEY, m.key.decode()), m.key
        last[m.key] = m
    ended = {value(m)["source"]["entity"] for m in batch.messages["calls"] if value(m)["op"] == "d"}
    # a leg that ended is a tombstone at the end of its key
    assert sorted(k.decode() for k, m in last.items() if m.value is None) == \
        sorted(e[len("call:"):] for e in ended)


def test_call_keys_are_leg_keys(batch):
    """Every call event's key is its leg: the key's parts are the row's
    line and gcid, the row names its key (leg) and line, ce_id and the
    entity are built on it; a leg's first-seen time is at most its first
    event's; every leg kind of the batch is there, the park server's too."""
    line_of = {**{u["guid"]: ("user", u["extn"]) for u in batch.model["users"]},
               **{q["guid"]: ("queue", q["extn"]) for q in batch.model["queues"]}}
    kinds = {"user": set(), "queue": set(), "parkserver": set()}
    first = {}
    for m in batch.messages["calls"]:
        v = value(m)
        key = m.key.decode()
        assert re.fullmatch(CONTRACT_LEG_KEY, key), key
        line, gcid, first_seen = LEG_KEY.match(key).groups()
        assert not gcid.startswith("cid")  # every call of the simulator has a gcid
        row = v["after"] or v["before"]
        src = v["source"]
        assert src["entity"] == f"call:{key}"
        assert (row["leg"], row["gcid"], row["line_guid"], row["line_kind"], row["line_extn"]) == \
            (key, gcid, line, src["line_kind"], src["line_extn"])
        assert (src["line_guid"], src["line_extn"]) == (line, row["line_extn"])
        if line == "parkserver":
            assert row["line_kind"] == "parkserver" and row["parkslot"] == "1"
        else:
            assert (row["line_kind"], row["line_extn"]) == line_of[line]
        first.setdefault(key, v["ts_ms"])
        assert int(first_seen) <= first[key]
        assert dict(m.headers)["ce_id"].decode() == f"{batch.pbx}/call:{key}/{v['seq']}"
        kinds[row["line_kind"]].add(key)
    assert {k: len(v) for k, v in kinds.items()} == {"user": 13, "queue": 3, "parkserver": 1}
