"""Python client of mtcti3-bridge (Avaya IP Office <-> Kafka).

    from mtcti3_bridge import Client, CommandFailed

    with Client("kafka1:9092", prefix="mtcti3.") as client:
        result = client.send_command("set_dnd", user="2001", args={"on": True})
        with client.events(["presence"]) as stream:
            stream.read_to_end()
            users = stream.state("presence")   # {entity: current state}

See clients/python/README.md.
"""
from __future__ import annotations

from typing import Optional

from .commands import CommandResult, CommandSender, build_command, new_command_id
from .errors import (CommandError, CommandFailed, CommandNotSent, CommandRejected,
                     CommandTimedOut, NoResult)
from .events import Change, Duplicate, EventStream, Gap
from .topics import DEFAULT_PREFIX, STATE_TOPICS, TOPICS, topic_name

__version__ = "0.1.0"

__all__ = ["Client", "send_command", "CommandResult", "CommandError", "CommandRejected",
           "CommandFailed", "CommandTimedOut", "NoResult", "CommandNotSent", "EventStream",
           "Change", "Gap", "Duplicate", "TOPICS", "STATE_TOPICS", "DEFAULT_PREFIX",
           "topic_name", "build_command", "new_command_id"]


class Client:
    """The topics of one PBX on one Kafka cluster.

    bootstrap   Kafka bootstrap servers
    prefix      the PBX's topic prefix (the bridge's topic_prefix; default mtcti3.)
    pbx         when given, commands carry it ("pbx"): a bridge serving
                another PBX rejects them (wrong_pbx) instead of running them
    reply_to    default topic for results instead of <prefix>command-results
    kafka       more librdkafka properties (security.protocol, sasl.*, ...)
    """

    def __init__(self, bootstrap: str, prefix: str = DEFAULT_PREFIX, pbx: Optional[str] = None,
                 reply_to: Optional[str] = None, kafka: Optional[dict] = None):
        self.conf = {"bootstrap.servers": bootstrap, **(kafka or {})}
        self.prefix = prefix
        self.pbx = pbx
        self.reply_to = reply_to
        self._sender: Optional[CommandSender] = None

    def topic(self, name: str) -> str:
        """The full name of one of the bridge's topics (calls, presence, ...)."""
        return topic_name(self.prefix, name)

    def send_command(self, action: str, *, id: Optional[str] = None, user: Optional[str] = None,
                     queue: Optional[str] = None, callid: Optional[int] = None,
                     referencecallid: Optional[int] = None, args: Optional[dict] = None,
                     timeout_ms: Optional[int] = None, reply_to: Optional[str] = None,
                     wait: Optional[float] = None) -> CommandResult:
        """Send one command and return its result once final.

        Returns the result of a command that succeeded (or of a duplicate
        whose first outcome succeeded).  Raises CommandRejected,
        CommandFailed, CommandTimedOut (the PBX did not answer by the
        deadline), NoResult (nothing within `wait` s of sending, default
        timeout_ms + 5 s), CommandNotSent; ValueError for a malformed id or target.
        `id` defaults to a fresh one; sending the same id again never runs
        the command twice (see the README on duplicates)."""
        build_command(action, id=id or "check", user=user, queue=queue, callid=callid,
                      referencecallid=referencecallid)  # a malformed one raises before any connection
        if self._sender is None:
            self._sender = CommandSender(self.conf, self.prefix, self.pbx, self.reply_to)
        return self._sender.send(action, id=id, user=user, queue=queue, callid=callid,
                                 referencecallid=referencecallid, args=args,
                                 timeout_ms=timeout_ms, reply_to=reply_to, wait=wait)

    def events(self, topics=STATE_TOPICS, from_beginning: bool = True,
               group_id: Optional[str] = None, wait_topics: float = 30.0) -> EventStream:
        """A read_committed EventStream of `topics` (short names), folding
        their events into the current state per entity."""
        return EventStream(self.conf, self.prefix, topics, from_beginning=from_beginning,
                           group_id=group_id, wait_topics=wait_topics)

    def close(self):
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_command(bootstrap: str, action: str, *, prefix: str = DEFAULT_PREFIX,
                 pbx: Optional[str] = None, kafka: Optional[dict] = None, **kw) -> CommandResult:
    """One command with a client of its own: Client(bootstrap, prefix, pbx,
    kafka=kafka).send_command(action, **kw)."""
    with Client(bootstrap, prefix=prefix, pbx=pbx, kafka=kafka) as client:
        return client.send_command(action, **kw)
