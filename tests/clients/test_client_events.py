"""The Python client's event stream (clients/python), against the real
broker, ipo-sim and the bridge: the state rebuilt from the topics, a call
followed live, tombstones, read_committed, and seq gaps and duplicates (the
bridge's own events produced again with one left out or repeated)."""
import json
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING

from mtcti3_bridge import Client, Duplicate, Gap
from services import wait_for


def follow(stream, pred, timeout=20, what="changes"):
    """Changes polled until pred(changes) holds; returns them."""
    got = []

    def cond():
        ch = stream.poll(0.3)
        if ch is not None:
            got.append(ch)
        return pred(got)
    wait_for(cond, timeout, 0, what)
    return got


def test_state_rebuilt_from_the_topics(client, sim):
    model = sim.model()
    with client.events(["lines", "presence", "queues", "calls"]) as stream:
        changes = stream.read_to_end()
        lines = stream.state("lines")
        assert lines == {**{f"line:{u['guid']}": {"kind": "user", "guid": u["guid"], "extn": u["extn"],
                                                  "name": u["name"]} for u in model["users"]},
                         **{f"line:{q['guid']}": {"kind": "queue", "guid": q["guid"], "extn": q["extn"],
                                                  "name": q["name"]} for q in model["queues"]}}
        presence = stream.state("presence")
        assert sorted(presence) == sorted(f"user:{u['guid']}" for u in model["users"])
        for u in model["users"]:
            p = presence[f"user:{u['guid']}"]
            assert (p["extn"], p["dnd"], p["phonestate_name"]) == (u["extn"], u["dnd"], "idle")
        assert sorted(stream.state("queues")) == sorted(f"queue:{q['guid']}" for q in model["queues"])
        assert stream.state("calls") == {}
        assert stream.gaps == [] and stream.duplicates == []
        assert stream.count == len(changes) and len(changes) >= 2 * len(model["users"]) + 2 * len(model["queues"])
        runs = {}
        for ch in changes:
            runs.setdefault((ch.topic, ch.entity), []).append(ch.seq)
        assert all(seqs == list(range(1, len(seqs) + 1)) and stream.last_seq(*k) == len(seqs)
                   for k, seqs in runs.items()), runs
        assert {ch.topic for ch in changes} == {"lines", "presence", "queues"}


def test_follows_a_call(client, sim):
    g2003 = sim.user_guid("2003")
    with client.events(["calls"]) as stream:
        stream.read_to_end()
        gcid = sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "2003", "name": "Caller"})["gcid"]

        def leg(changes):
            return [c for c in changes if c.value and c.value["source"]["line_guid"] == g2003
                    and (c.after or c.before)["gcid"] == gcid]
        seen = follow(stream, lambda got: leg(got), what="the leg's create")
        [c] = leg(seen)
        entity = c.entity
        assert (c.op, c.seq, c.gap, c.duplicate) == ("c", 1, None, None)
        assert c.state == c.after and c.state["state"] == "RINGING"
        assert stream.state("calls")[entity]["callingparty"]["number"] == "01707123456"
        sim.ctl("POST", "/phone/2003/answer", {})
        seen += follow(stream, lambda got: stream.state("calls").get(entity, {}).get("state") == "CONNECTED",
                       what="connected")
        sim.ctl("POST", "/phone/2003/hangup", {})
        seen += follow(stream, lambda got: any(x.op == "d" for x in leg(got)), what="the leg's delete")
        mine = leg(seen)
        assert [x.seq for x in mine] == list(range(1, len(mine) + 1))
        assert [x.op for x in mine] == ["c"] + ["u"] * (len(mine) - 2) + ["d"]
        assert all(x.entity == entity for x in mine)
        assert mine[-1].state is None and entity not in stream.state("calls")
        assert mine[-1].value["calllost"]["synthetic"] is False
        assert stream.gaps == [] and stream.duplicates == []


def test_tombstones_remove_a_deleted_line(client, sim):
    with client.events(["lines", "presence"]) as stream:
        stream.read_to_end()
        added = sim.ctl("POST", "/users", {"extn": "2101", "name": "Ann"})
        guid = added.get("guid") or sim.user_guid("2101")
        follow(stream, lambda got: f"line:{guid}" in stream.state("lines")
               and f"user:{guid}" in stream.state("presence"), what="the new user")
        assert stream.state("lines")[f"line:{guid}"] == {"kind": "user", "guid": guid, "extn": "2101",
                                                        "name": "Ann"}
        sim.ctl("DELETE", "/users/2101")
        got = follow(stream, lambda got: len([c for c in got if c.tombstone]) == 2, what="two tombstones")
        ends = [(c.topic, c.op, c.tombstone, c.entity) for c in got if c.key == guid and (c.op == "d" or c.tombstone)]
        assert sorted(ends, key=repr) == sorted([("lines", "d", False, f"line:{guid}"), ("lines", None, True, f"line:{guid}"),
                                       ("presence", "d", False, f"user:{guid}"),
                                       ("presence", None, True, f"user:{guid}")], key=repr)
        assert f"line:{guid}" not in stream.state("lines") and f"user:{guid}" not in stream.state("presence")


def test_from_the_end_starts_wherever_the_entity_is(client, sim):
    guid = sim.user_guid("2005")
    with client.events(["presence"]) as full:
        full.read_to_end()
        last = full.last_seq("presence", f"user:{guid}")
    with client.events(["presence"], from_beginning=False) as stream:
        assert stream.read_to_end() == []
        sim.ctl("PATCH", "/users/2005", {"app": f"lunch-{uuid.uuid4().hex[:4]}"})
        [ch] = follow(stream, lambda got: got, what="the change")
    assert (ch.entity, ch.op, ch.seq, ch.gap) == (f"user:{guid}", "u", last + 1, None)
    assert ch.value["changed"] == ["app"]
    assert stream.state("presence") == {f"user:{guid}": ch.after}


# ---- gaps, duplicates, read_committed: the bridge's events produced again --

@pytest.fixture
def presence_run(client, sim, kafka, bridge):
    """Four real presence events of user 2004 (seq 1 to 4), as raw messages."""
    guid = sim.user_guid("2004")
    entity = f"user:{guid}"
    with client.events(["presence"]) as stream:
        stream.read_to_end()
        for dnd in (True, False, True):  # one at a time: changes in a row may fold into one Notify
            sim.ctl("PATCH", "/users/2004", {"dnd": dnd})
            follow(stream, lambda got: stream.state("presence")[entity]["dnd"] is dnd, what=f"dnd {dnd}")

    def four():
        msgs = [m for m in kafka.consume_all(bridge.prefix + "presence") if m.key == guid.encode()]
        return msgs if len(msgs) >= 4 else None
    msgs = wait_for(four, 20, 0.3, "four presence events")[:4]
    assert [json.loads(m.value)["seq"] for m in msgs] == [1, 2, 3, 4]
    return entity, msgs


def copy_prefix(kafka):
    prefix = f"copy{uuid.uuid4().hex[:6]}."
    kafka.create_topic(prefix + "presence", 1, compacted=True)
    return prefix


def produce(producer, topic, msg):
    producer.produce(topic, key=msg.key, value=msg.value, headers=msg.headers)


def test_gap_and_duplicate_reported(kafka, presence_run):
    entity, (e1, e2, e3, e4) = presence_run
    prefix = copy_prefix(kafka)
    p = Producer({"bootstrap.servers": kafka.bootstrap})
    for m in (e1, e2, e4, e2):
        produce(p, prefix + "presence", m)
    assert p.flush(10) == 0
    with Client(kafka.bootstrap, prefix=prefix).events(["presence"]) as stream:
        changes = stream.read_to_end()
    assert [(c.seq, c.gap, c.duplicate) for c in changes] == [
        (1, None, None), (2, None, None),
        (4, Gap("presence", entity, 3, 4), None),
        (2, None, Duplicate("presence", entity, 2, 4, f"{json.loads(e2.value)['source']['pbx']}/{entity}/2"))]
    assert changes[2].gap.missing == [3]
    assert stream.gaps == [changes[2].gap] and stream.duplicates == [changes[3].duplicate]
    # the duplicate is not applied: the state is the fourth event's
    assert stream.state("presence") == {entity: json.loads(e4.value)["after"]}
    assert changes[3].state == json.loads(e4.value)["after"]


def test_read_committed(kafka, presence_run):
    """An aborted transaction's events are never seen; the same events
    committed later are seen once."""
    entity, (e1, e2, e3, _) = presence_run
    prefix = copy_prefix(kafka)
    topic = prefix + "presence"
    p = Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": f"t-{uuid.uuid4().hex}"})
    p.init_transactions(30)
    for msgs, commit in (((e1,), True), ((e2, e3), False), ((e2, e3), True)):
        p.begin_transaction()
        for m in msgs:
            produce(p, topic, m)
        assert p.flush(30) == 0  # in the log before the abort (an abort purges what is not sent)
        p.commit_transaction(30) if commit else p.abort_transaction(30)
    with Client(kafka.bootstrap, prefix=prefix).events(["presence"]) as stream:
        changes = stream.read_to_end()
    assert [c.seq for c in changes] == [1, 2, 3]
    assert stream.gaps == [] and stream.duplicates == []
    assert stream.state("presence") == {entity: json.loads(e3.value)["after"]}
    # read_uncommitted sees the aborted copies too: they are in the log
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                  "isolation.level": "read_uncommitted", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen = []
    wait_for(lambda: seen.extend(json.loads(m.value())["seq"] for m in c.consume(100, 0.3) if not m.error())
             or len(seen) >= 5, 20, 0, "uncommitted reads")
    c.close()
    assert seen == [1, 2, 3, 2, 3]
