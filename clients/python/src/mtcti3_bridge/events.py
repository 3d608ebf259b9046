"""Events: read the bridge's topics (read_committed) and fold them into the
current state of every entity.

Each message becomes a Change.  For the change-event topics the Debezium
envelope is applied to the entity named by `source.entity`: `c`, `r` and
`u` set its state to `after`, `d` removes it; a tombstone (null value on a
compacted topic) removes whatever its key held.  The `seq` of each entity
runs 1, 2, 3...: a seq at or below the last one applied is a duplicate (not
applied again), a seq beyond the next one is a gap (applied, and reported).
The first event seen of an entity starts its run wherever it is (a consumer
that joins late, or reads a compacted topic, sees later seqs first).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from .commands import high_watermark
from .topics import STATE_TOPICS, short_name, topic_name


@dataclass(frozen=True)
class Gap:
    """Events of `entity` on `topic` that were never seen: seqs expected to got-1."""
    topic: str
    entity: str
    expected: int
    got: int

    @property
    def missing(self) -> list:
        return list(range(self.expected, self.got))


@dataclass(frozen=True)
class Duplicate:
    """An event of `entity` whose seq was already applied (last: the last seq applied)."""
    topic: str
    entity: str
    seq: int
    last: int
    ce_id: Optional[str]


@dataclass
class Change:
    """One message of a bridge topic, and what it did to the state."""
    topic: str                  # short name: calls, presence, ...
    key: Optional[str]
    partition: int
    offset: int
    timestamp_ms: int
    headers: dict               # Kafka headers, str -> str
    value: Optional[dict]       # the message's JSON (None: a tombstone)
    entity: Optional[str] = None
    op: Optional[str] = None    # c r u d; None for a tombstone or a record without op
    seq: Optional[int] = None
    state: Any = None           # the entity's state after this change (None: gone)
    gap: Optional[Gap] = None
    duplicate: Optional[Duplicate] = None

    @property
    def tombstone(self) -> bool:
        return self.value is None

    @property
    def before(self):
        return self.value.get("before") if self.value else None

    @property
    def after(self):
        return self.value.get("after") if self.value else None


@dataclass
class _Entity:
    last_seq: int = 0
    key: Optional[str] = None


class EventStream:
    """A read_committed consumer of some of the bridge's topics with the
    folded state.  Iterate it (blocks), or call poll() / read_to_end()."""

    def __init__(self, conf: dict, prefix: str, topics=STATE_TOPICS, from_beginning: bool = True,
                 group_id: Optional[str] = None, wait_topics: float = 30.0):
        from confluent_kafka import Consumer
        self.prefix = prefix
        self.topics = [topic_name(prefix, t) for t in topics]
        self.consumer = Consumer({**conf,
                                  "group.id": group_id or f"mtcti3-client-{uuid.uuid4().hex}",
                                  "enable.auto.commit": bool(group_id),
                                  "auto.offset.reset": "earliest" if from_beginning else "latest",
                                  "isolation.level": "read_committed",
                                  "enable.partition.eof": True})
        self._states: dict = {}     # topic -> {entity: state}
        self._entities: dict = {}   # (topic, entity) -> _Entity
        self._keys: dict = {}       # (topic, key) -> entity
        self._eof: dict = {}        # (topic, partition) -> when (self._polls) its end was reached
        self._polls = 0
        self.gaps: list = []
        self.duplicates: list = []
        self.count = 0
        self._partitions = self._wait_partitions(wait_topics)
        if group_id:
            self.consumer.subscribe(self.topics)
        else:
            from confluent_kafka import TopicPartition, OFFSET_BEGINNING, OFFSET_END
            start = OFFSET_BEGINNING if from_beginning else OFFSET_END
            self.consumer.assign([TopicPartition(t, p, start) for t, p in self._partitions])

    def _wait_partitions(self, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while True:
            md = self.consumer.list_topics(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            found = [(t, md.topics.get(t)) for t in self.topics]
            missing = [t for t, m in found if m is None or m.error is not None or not m.partitions]
            if not missing:
                return [(t, p) for t, m in found for p in sorted(m.partitions)]
            if time.monotonic() >= deadline:
                raise ValueError(f"topics missing: {', '.join(missing)}")
            time.sleep(0.2)

    # ---- state -------------------------------------------------------------
    def state(self, topic: str) -> dict:
        """{entity: state} of one topic (short name) as folded so far."""
        return dict(self._states.get(topic, {}))

    def last_seq(self, topic: str, entity: str) -> int:
        e = self._entities.get((topic, entity))
        return e.last_seq if e else 0

    def _apply(self, ch: Change):
        topic, v = ch.topic, ch.value
        states = self._states.setdefault(topic, {})
        if v is None:  # a tombstone: the key's entity is gone
            ch.entity = self._keys.pop((topic, ch.key), None)
            if ch.entity is not None:
                states.pop(ch.entity, None)
            return
        if topic not in STATE_TOPICS:
            return
        source = v.get("source") if isinstance(v.get("source"), dict) else None
        ch.op = v.get("op")
        ch.seq = v.get("seq")
        ch.entity = source.get("entity") if source else (f"{topic}:{ch.key}" if ch.key else None)
        if ch.entity is None or not isinstance(ch.seq, int):
            return
        ent = self._entities.setdefault((topic, ch.entity), _Entity())
        if ent.last_seq and ch.seq <= ent.last_seq:
            ch.duplicate = Duplicate(topic, ch.entity, ch.seq, ent.last_seq, ch.headers.get("ce_id"))
            self.duplicates.append(ch.duplicate)
            ch.state = states.get(ch.entity)
            return
        if ent.last_seq and ch.seq > ent.last_seq + 1:
            ch.gap = Gap(topic, ch.entity, ent.last_seq + 1, ch.seq)
            self.gaps.append(ch.gap)
        ent.last_seq = ch.seq
        if ch.key is not None:
            self._keys[(topic, ch.key)] = ch.entity
        if ch.op is None:            # a record (queue-stats): the value is the state
            states[ch.entity] = v
        elif ch.op == "d":
            states.pop(ch.entity, None)
        else:
            states[ch.entity] = v.get("after")
        ch.state = states.get(ch.entity)

    # ---- reading -----------------------------------------------------------
    def _change(self, msg) -> Change:
        raw = msg.value()
        value = json.loads(raw) if raw is not None else None
        ch = Change(topic=short_name(self.prefix, msg.topic()),
                    key=msg.key().decode("utf-8", "replace") if msg.key() is not None else None,
                    partition=msg.partition(), offset=msg.offset(), timestamp_ms=msg.timestamp()[1],
                    headers={k: (x.decode("utf-8", "replace") if x is not None else None)
                             for k, x in (msg.headers() or [])},
                    value=value)
        self._apply(ch)
        self.count += 1
        return ch

    def poll(self, timeout: float = 1.0) -> Optional[Change]:
        """The next change, or None when none came within `timeout` s."""
        from confluent_kafka import KafkaError, KafkaException
        deadline = time.monotonic() + timeout
        while True:
            msg = self.consumer.poll(max(0.0, min(0.5, deadline - time.monotonic())))
            self._polls += 1
            if msg is not None:
                err = msg.error()
                if err is None:
                    self._eof.pop((msg.topic(), msg.partition()), None)
                    return self._change(msg)
                if err.code() == KafkaError._PARTITION_EOF:
                    self._eof[(msg.topic(), msg.partition())] = self._polls
                elif err.fatal() or not err.retriable():
                    raise KafkaException(err)
            if time.monotonic() >= deadline:
                return None

    def __iter__(self) -> Iterator[Change]:
        while True:
            ch = self.poll(1.0)
            if ch is not None:
                yield ch

    def read_to_end(self, timeout: float = 30.0) -> list:
        """Every change up to the end of every partition as it is now (the
        last committed offset), folded; returns them.  TimeoutError if the
        end is not reached within `timeout` s."""
        from confluent_kafka import TopicPartition
        deadline = time.monotonic() + timeout
        ends = {(t, p): high_watermark(self.consumer, t, p, deadline) for t, p in self._partitions}
        out = []
        started = self._polls  # an end reached before this call says nothing of now

        def done():
            pos = {(tp.topic, tp.partition): tp.offset
                   for tp in self.consumer.position([TopicPartition(t, p) for t, p in ends])}
            return all(end == 0 or self._eof.get((t, p), -1) > started or pos.get((t, p), -1) >= end
                       for (t, p), end in ends.items())
        while not done():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"read_to_end: not at the end of {sorted(ends)} within {timeout:g} s")
            ch = self.poll(0.2)
            if ch is not None:
                out.append(ch)
        return out

    def close(self):
        self.consumer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
