"""The bridge's topics: one table, the names under a PBX's topic prefix.

A bridge serving one PBX uses the prefix `topic_prefix` (default
`mtcti3.`); a PBX listed in a section of the bridge's config file gets
`<topic_prefix><pbx_id>.` unless the section sets its own prefix.  See
docs/bridge.md of the repository and schemas/asyncapi.yaml.
"""

DEFAULT_PREFIX = "mtcti3."

# name -> (cleanup policy, what it holds)
TOPICS = {
    "calls": ("delete", "every event of every call leg (Debezium envelope)"),
    "live-calls": ("compact", "each call leg in progress: its last event; a tombstone when it ends"),
    "presence": ("compact", "users (Debezium envelope)"),
    "queues": ("compact", "queues (Debezium envelope)"),
    "lines": ("compact", "the Lines list: users and queues (Debezium envelope)"),
    "queue-stats": ("compact", "queue statistics records"),
    "bridge": ("delete", "the bridge's lifecycle events"),
    "commands": ("delete", "commands to the PBX (one partition)"),
    "command-results": ("delete", "what became of each command"),
}

# The topics of change events that fold into a state per entity.
STATE_TOPICS = ("calls", "live-calls", "presence", "queues", "lines", "queue-stats")


def topic_name(prefix: str, name: str) -> str:
    """The full topic name of `name` (a key of TOPICS) under `prefix`."""
    if name not in TOPICS:
        raise ValueError(f"unknown topic {name!r} (one of: {', '.join(TOPICS)})")
    return prefix + name


def short_name(prefix: str, topic: str) -> str:
    """The short name of a full topic name under `prefix` (the full name
    itself when it is not one of the bridge's)."""
    if topic.startswith(prefix) and topic[len(prefix):] in TOPICS:
        return topic[len(prefix):]
    return topic
