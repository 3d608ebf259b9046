"""Proof with a real consumer: the CloudEvents SDK for Python (cloudevents,
pinned in tests/requirements.txt) reads the headers of every message of the
real bridge's batch (tests/consumers/conftest.py) in binary content mode:
every change event (calls and live-calls too), every queue statistics
record, every lifecycle event, every command result."""
import datetime

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from consumerlib import value

KIND = {"calls": "call", "live-calls": "call", "presence": "presence", "queues": "queue", "lines": "line"}
VERB = {"c": "created", "u": "updated", "d": "deleted", "r": "snapshot"}


def cloudevent(m):
    return from_binary_event(KafkaMessage(headers={k: v for k, v in m.headers}, key=m.key, value=m.value))


def utc_ms(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def test_every_change_event(batch):
    n = 0
    for topic, kind in KIND.items():
        for m in batch.messages[topic]:
            v = value(m)
            if v is None:
                assert m.headers == []  # tombstones carry no headers
                continue
            ev = cloudevent(m)
            entity = v["source"]["entity"]
            assert ev.get_specversion() == "1.0"
            assert ev.get_id() == f"{batch.pbx}/{entity}/{v['seq']}"
            assert ev.get_source() == f"/mtcti3/{batch.pbx}"
            assert ev.get_type() == f"mtcti3.{kind}.{VERB[v['op']]}"
            assert ev.get_subject() == entity
            assert ev.get_time() == utc_ms(v["ts_ms"])
            assert ev.get_datacontenttype() == "application/json"
            assert ev.get_data() == v
            assert ev.get_extension("partitionkey") == m.key.decode()
            n += 1
    assert n == sum(1 for t in KIND for m in batch.messages[t] if m.value is not None) >= 70


def test_every_queue_stats_record(batch):
    n = 0
    for m in batch.messages["queue-stats"]:
        v = value(m)
        if v is None:
            assert m.headers == []
            continue
        ev = cloudevent(m)
        guid = v["queue"]["guid"]
        assert (ev.get_specversion(), ev.get_id(), ev.get_source(), ev.get_type(), ev.get_subject()) == \
            ("1.0", f"{batch.pbx}/queue-stats:{guid}/{v['seq']}", f"/mtcti3/{batch.pbx}",
             "mtcti3.queue_stats.updated", f"queue-stats:{guid}")
        assert ev.get_time() == utc_ms(v["ts_ms"]) and ev.get_datacontenttype() == "application/json"
        assert ev.get_data() == v and ev.get_extension("partitionkey") == guid
        n += 1
    assert n == len(batch.messages["queue-stats"]) >= 2 * len(batch.model["queues"])


def test_every_lifecycle_event(batch):
    types = []
    for m in batch.messages["bridge"]:
        v = value(m)
        ev = cloudevent(m)
        assert (ev.get_specversion(), ev.get_source(), ev.get_type()) == \
            ("1.0", f"/mtcti3/{batch.pbx}", f"mtcti3.bridge.{v['type']}")
        assert ev.get_time() == utc_ms(v["ts_ms"]) and ev.get_data() == v
        assert ev.get_extension("partitionkey") == batch.pbx
        types.append(v["type"])
    assert types == ["started", "connected", "resync_started", "resync_finished", "owner", "stopped"]


def test_every_id_names_one_event(batch):
    """A ce_id never names two different events (the same event sent
    twice has the same id and the same bytes)."""
    seen = {}
    for t in (*KIND, "queue-stats"):
        for m in batch.messages[t]:
            if m.value is not None:
                ce_id = dict(m.headers)["ce_id"].decode()
                assert seen.setdefault(ce_id, m.value) == m.value, ce_id
    assert len(seen) >= 70


def test_every_command_result(batch, redis_server):
    """Each result's headers are docs/commands.md's: ce_id <pbx>/command/<id>
    (a duplicate's names the repeating message's place), ce_type
    mtcti3.command.<status>, ce_subject the id, ce_time the outcome's
    done_ms as Redis recorded it."""
    results = batch.messages["command-results"]
    ids = batch.command_ids
    status = {"succeeded": "succeeded", "dnd": "succeeded", "rejected": "rejected", "failed": "failed",
              "duplicate": "duplicate"}
    # the duplicate: the second message with the repeated id on the commands topic
    [first, again] = [m for m in batch.messages["commands"] if m.key.decode() == ids["succeeded"]]
    expected = {f"{batch.pbx}/command/{ids[w]}": (ids[w], status[w]) for w in status if w != "duplicate"}
    expected[f"{batch.pbx}/command/{ids['succeeded']}/duplicate/{again.partition}/{again.offset}"] = \
        (ids["succeeded"], "duplicate")
    r = redis_server.client()
    got = {}
    for m in results:
        v = value(m)
        ev = cloudevent(m)
        assert (ev.get_specversion(), ev.get_source(), ev.get_datacontenttype()) == \
            ("1.0", f"/mtcti3/{batch.pbx}", "application/json")
        assert ev.get_data() == v and ev.get_extension("partitionkey") == v["id"] == m.key.decode()
        got[ev.get_id()] = (ev.get_subject(), ev.get_type()[len("mtcti3.command."):])
        assert ev.get_type() == f"mtcti3.command.{v['status']}"
        done_ms = int(r.hget(f"mtcti3:{batch.pbx}:cmd:{v['id']}", "done_ms"))
        if v["status"] == "duplicate":  # decided when the repeat was read, after the first outcome
            assert ev.get_time() >= utc_ms(done_ms)
        else:
            assert ev.get_time() == utc_ms(done_ms)
    assert got == expected
