"""Proof with a real consumer: the Python client (clients/python) folds the
real bridge's batch (tests/consumers/conftest.py) into the PBX's state, which
must be what the simulator says it is; the call legs in progress rebuilt
from live-calls; the leg keys of the decided format."""
import re

import pytest

from consumerlib import value
from mtcti3_bridge import Client

LEG_KEY = re.compile(r"^((?:[0-9a-f]{2})*)/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|park)"
                     r"/([0-9]+)$")


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
    assert len(calls) == 6
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
    assert len(legs) == 15
    ended = [e for e, chs in legs.items() if chs[-1].op == "d"]
    assert len(ended) == 9 and len(legs) - len(ended) == len(stream.state("calls"))
    for entity, chs in legs.items():
        assert [c.seq for c in chs] == list(range(1, len(chs) + 1)), entity
        assert chs[0].op == "c" and all(c.op == "u" for c in chs[1:-1]), entity


@pytest.mark.xfail(strict=True, reason="waits for the bridge: the compacted P live-calls topic (issue 12.2)")
def test_live_calls_rebuild_the_calls_in_progress(batch, folded):
    stream, _ = folded
    with Client(batch.bootstrap, prefix=batch.prefix).events(["live-calls"], wait_topics=5) as live:
        live.read_to_end()
        assert live.state("live-calls") == stream.state("calls")
        assert live.gaps == [] and live.duplicates == []
    last = {}
    for m in batch.messages["live-calls"]:
        last[m.key] = m
    ended = {value(m)["source"]["entity"] for m in batch.messages["calls"] if value(m)["op"] == "d"}
    # a leg that ended is a tombstone at the end of its key
    assert sorted(k.decode() for k, m in last.items() if m.value is None) == \
        sorted(e[len("call:"):] for e in ended)


@pytest.mark.xfail(strict=True, reason="waits for the bridge: per-leg keys <gcid>/<line guid|park>/<first_seen_ms> "
                                       "and the leg's identity in before/after (issue 12.1)")
def test_call_keys_are_leg_keys(batch):
    guid_of = {x["guid"]: x for x in batch.model["users"] + batch.model["queues"]}
    for m in batch.messages["calls"]:
        v = value(m)
        key = m.key.decode()
        gcid, line, first_seen = LEG_KEY.match(key).groups()
        row = v["after"] or v["before"]
        src = v["source"]
        assert v["source"]["entity"] == f"call:{key}"
        assert (row["leg"], row["gcid"], row["line_kind"], row["line_extn"]) == \
            (key, gcid, src["line_kind"], src["line_extn"])
        if line != "park":  # the park server's legs say park in the key
            assert row["line_guid"] == line and guid_of[line]["extn"] == row["line_extn"]
        assert int(first_seen) <= v["ts_ms"]
        assert dict(m.headers)["ce_id"].decode() == f"{batch.pbx}/call:{key}/{v['seq']}"
