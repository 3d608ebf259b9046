"""Commands: produce one to `<prefix>commands`, wait for its final result.

The result is correlated by the command id, the Kafka key of both the
command and its result.  Before producing, the sender places its consumer of
the results topic (or of the command's reply_to topic) at the end of every
partition, so any result that follows is seen, whichever partition it lands
on; results with another key are skipped.  Reads are read_committed.
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from .errors import (CommandError, CommandFailed, CommandNotSent, CommandRejected,
                     CommandTimedOut, NoResult)
from .topics import topic_name

ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
FINAL = ("succeeded", "failed", "rejected", "timeout")
# How much longer than the command's own deadline the client waits by
# default: the bridge reports a timeout at the deadline, this is the margin
# for that report to reach the client.
WAIT_MARGIN_MS = 5000
DEFAULT_TIMEOUT_MS = 10000
# The longest the client looks for the result topic's partitions and their
# ends before producing (not counted in `wait`).
SETUP_TIMEOUT = 10.0


@dataclass(frozen=True)
class CommandResult:
    """A command's final result (docs/commands.md, Results)."""
    id: str
    status: str                      # succeeded, failed, rejected, timeout, duplicate
    code: Optional[int]
    code_name: Optional[str]
    reason: Optional[str]
    reason_code: Optional[str]
    requestid: Optional[int]
    action: Optional[str]
    latency_ms: Optional[int]
    data: Any
    original_status: Optional[str]   # a duplicate's first outcome
    raw: dict = field(repr=False)    # the result JSON as received
    headers: dict = field(repr=False, default_factory=dict)  # Kafka headers, str -> str
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def duplicate(self) -> bool:
        return self.status == "duplicate"

    @property
    def outcome(self) -> str:
        """The command's outcome: status, or for a duplicate the first outcome's."""
        return self.original_status if self.duplicate else self.status

    @classmethod
    def from_message(cls, msg) -> "CommandResult":
        v = json.loads(msg.value())
        return cls(id=v.get("id"), status=v.get("status"), code=v.get("code"),
                   code_name=v.get("code_name"), reason=v.get("reason"),
                   reason_code=v.get("reason_code"), requestid=v.get("requestid"),
                   action=v.get("action"), latency_ms=v.get("latency_ms"), data=v.get("data"),
                   original_status=v.get("original_status"), raw=v,
                   headers=_headers(msg), topic=msg.topic(), partition=msg.partition(),
                   offset=msg.offset())


def _headers(msg) -> dict:
    return {k: (v.decode("utf-8", "replace") if v is not None else None)
            for k, v in (msg.headers() or [])}


def high_watermark(consumer, topic: str, partition: int, deadline: float) -> int:
    """The partition's end offset now, asked of its leader; retried until
    `deadline` (time.monotonic()) while the error may go away (a new
    topic's leader not known yet, or not known to this client yet)."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition
    again = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION,
             KafkaError._TRANSPORT, KafkaError.REQUEST_TIMED_OUT)
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                  timeout=max(0.1, deadline - time.monotonic()),
                                                  cached=False)[1]
        except KafkaException as e:
            err = e.args[0]
            if not (err.retriable() or err.code() in again) or time.monotonic() >= deadline:
                raise
            # the leader moved or is new: refresh the metadata, then again
            consumer.list_topics(topic, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            time.sleep(0.05)


def new_command_id(prefix: str = "py") -> str:
    """A fresh command id: `<prefix>-<32 hex digits>`."""
    return f"{prefix}-{uuid.uuid4().hex}"


def build_command(action: str, *, id: str, user: Optional[str] = None,
                  queue: Optional[str] = None, callid: Optional[int] = None,
                  referencecallid: Optional[int] = None, args: Optional[dict] = None,
                  timeout_ms: Optional[int] = None, reply_to: Optional[str] = None,
                  pbx: Optional[str] = None) -> dict:
    """The command's JSON object (schemas/command.schema.json).  Checks only
    what the client must know (the id, one target, one call reference); the
    bridge validates the rest and rejects what is wrong."""
    if not isinstance(id, str) or not ID_RE.match(id):
        raise ValueError(f"command id {id!r}: must be 1 to 128 of A-Za-z0-9._:-")
    if not isinstance(action, str) or not action:
        raise ValueError("action: a non-empty string")
    if user is not None and queue is not None:
        raise ValueError("target: user or queue, not both")
    if callid is not None and referencecallid is not None:
        raise ValueError("call: callid or referencecallid, not both")
    cmd: dict = {"id": id, "action": action}
    if user is not None:
        cmd["target"] = {"user": str(user)}
    elif queue is not None:
        cmd["target"] = {"queue": str(queue)}
    if callid is not None:
        cmd["call"] = {"callid": int(callid)}
    elif referencecallid is not None:
        cmd["call"] = {"referencecallid": int(referencecallid)}
    if args:
        cmd["args"] = dict(args)
    if timeout_ms is not None:
        cmd["timeout_ms"] = int(timeout_ms)
    if reply_to is not None:
        cmd["reply_to"] = reply_to
    if pbx is not None:
        cmd["pbx"] = pbx
    return cmd


def raise_for_outcome(result: CommandResult) -> CommandResult:
    """Returns a succeeded result (or a duplicate of one); raises the
    exception of any other final outcome."""
    cid, outcome = result.id, result.outcome
    dup = " (duplicate: the first outcome)" if result.duplicate else ""
    if outcome == "succeeded":
        return result
    if outcome == "failed":
        raise CommandFailed(f"command {cid} failed{dup}: {result.code_name} ({result.code})", cid, result)
    if outcome == "rejected":
        raise CommandRejected(f"command {cid} rejected{dup}: {result.reason}", cid, result)
    if outcome == "timeout":
        raise CommandTimedOut(f"command {cid} timed out{dup}: {result.reason or 'no answer from the PBX'}",
                              cid, result)
    raise CommandError(f"command {cid}: outcome {outcome!r}{dup}", cid, result)


class CommandSender:
    """One producer to `<prefix>commands` and one read_committed consumer of
    result topics.  Not thread-safe: one send at a time."""

    def __init__(self, conf: dict, prefix: str, pbx: Optional[str] = None,
                 reply_to: Optional[str] = None):
        from confluent_kafka import Consumer, Producer
        self.prefix = prefix
        self.pbx = pbx
        self.reply_to = reply_to
        self.commands_topic = topic_name(prefix, "commands")
        self.results_topic = topic_name(prefix, "command-results")
        self.producer = Producer({**conf, "enable.idempotence": True, "acks": "all",
                                  "partitioner": "murmur2_random", "linger.ms": 0})
        self.consumer = Consumer({**conf, "group.id": f"mtcti3-client-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "auto.offset.reset": "latest",
                                  "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 10})

    def _partitions(self, topic: str, timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while True:
            md = self.consumer.list_topics(topic, timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                return sorted(t.partitions)
            if time.monotonic() >= deadline:
                raise ValueError(f"topic {topic} does not exist (results are read from it)")
            time.sleep(0.2)

    def _watch_from_end(self, topic: str, timeout: float):
        """Assign every partition of `topic` at its current end."""
        from confluent_kafka import TopicPartition
        deadline = time.monotonic() + timeout
        self.consumer.assign([TopicPartition(topic, p, high_watermark(self.consumer, topic, p, deadline))
                              for p in self._partitions(topic, timeout)])

    def send(self, action: str, *, id: Optional[str] = None, user=None, queue=None,
             callid=None, referencecallid=None, args=None, timeout_ms=None,
             reply_to=None, wait: Optional[float] = None) -> CommandResult:
        cid = id or new_command_id()
        reply_to = reply_to if reply_to is not None else self.reply_to
        cmd = build_command(action, id=cid, user=user, queue=queue, callid=callid,
                            referencecallid=referencecallid, args=args, timeout_ms=timeout_ms,
                            reply_to=reply_to, pbx=self.pbx)
        if wait is None:
            wait = ((timeout_ms or DEFAULT_TIMEOUT_MS) + WAIT_MARGIN_MS) / 1000.0
        topic = reply_to or self.results_topic
        self._watch_from_end(topic, max(SETUP_TIMEOUT, wait))
        deadline = time.monotonic() + wait

        delivery = []
        self.producer.produce(self.commands_topic, key=cid.encode(), value=json.dumps(cmd).encode(),
                              on_delivery=lambda err, msg: delivery.append(err))
        self.producer.flush(max(0.1, deadline - time.monotonic()))
        if not delivery:
            raise NoResult(f"command {cid}: Kafka did not confirm it within {wait:g} s", cid)
        if delivery[0] is not None:
            raise CommandNotSent(f"command {cid}: not delivered to {self.commands_topic}: {delivery[0]}", cid)

        key = cid.encode()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise NoResult(f"command {cid}: no result on {topic} within {wait:g} s", cid)
            for msg in self.consumer.consume(100, min(left, 0.2)):
                if msg.error() or msg.key() != key or msg.value() is None:
                    continue
                try:
                    result = CommandResult.from_message(msg)
                except ValueError:
                    continue
                if result.status in FINAL:
                    return raise_for_outcome(result)
                if result.duplicate and result.original_status in FINAL:
                    return raise_for_outcome(result)
                # accepted, or a duplicate of a command still running: its
                # own result follows on the same topic (if it named the same
                # reply_to), so keep waiting.

    def close(self):
        self.producer.flush(5)
        self.consumer.close()
