/*
 * topics: every Kafka topic the bridge reads or writes, in one table.
 *
 * DESIGN.  TOPICS below is the only list of topics.  Topic creation, event
 * rendering (topic, CloudEvents type), metric labels, the state read back
 * at start, the command stage and the documentation all read it, so adding
 * a topic is one row here.  Names are per PBX: `<prefix><suffix>`, the
 * prefix being the PBX's topic_prefix (docs/bridge.md, "Topics and keys").
 * Pure, no I/O.
 */
#ifndef TOPICS_H
#define TOPICS_H

#include <stddef.h>

/*
 * X(enum suffix, name suffix, compacted, partitions (0: the kafka_partitions
 *   setting), read back at start, key, CloudEvents kind, schema, content)
 */
#define TOPICS(X)                                                                                   \
  X(CALLS, "calls", 0, 0, 0, "call leg", "call", "event-call.schema.json",                          \
    "every event of every call leg (history)")                                                      \
  X(LIVE_CALLS, "live-calls", 1, 0, 1, "call leg", "call", "event-call.schema.json",                \
    "the last event of every call leg in progress; a tombstone when it ends")                       \
  X(PRESENCE, "presence", 1, 0, 1, "user GUID", "presence", "event-presence.schema.json",           \
    "users: NotifyUser merged with the presence subscription's phone state")                        \
  X(QUEUES, "queues", 1, 0, 1, "queue GUID", "queue", "event-queue.schema.json",                    \
    "queues: NotifyQueue with members")                                                              \
  X(LINES, "lines", 1, 0, 1, "GUID", "line", "event-line.schema.json", "the Lines list: users and queues") \
  X(QUEUE_STATS, "queue-stats", 1, 0, 1, "queue GUID", "queue_stats", "event-queue-stats.schema.json", \
    "live statistics per queue (wallboards)")                                                        \
  X(BRIDGE, "bridge", 0, 0, 0, "pbx id", "bridge", "event-bridge.schema.json",                      \
    "the bridge's lifecycle and ownership changes")                                                  \
  X(COMMANDS, "commands", 0, 1, 0, "command id", "command", "command.schema.json",                 \
    "commands to the PBX; its one partition is the PBX's ownership token")                          \
  X(COMMAND_RESULTS, "command-results", 0, 0, 0, "command id", "command", "command-result.schema.json", \
    "the outcome of every command")

typedef enum topic_id {
#define TOPICS_X_ENUM(e, s, c, p, r, k, ce, sc, d) TOPIC_##e,
  TOPICS(TOPICS_X_ENUM)
#undef TOPICS_X_ENUM
  TOPIC__COUNT
} topic_id_t;

/* One row of the table. */
typedef struct topic_row {
  const char *suffix;
  int compacted;
  int partitions; /* 0: the kafka_partitions setting */
  int restore;    /* read back at start (the committed state) */
  const char *key, *ce_kind, *schema, *content;
} topic_row_t;

const topic_row_t *topics_row(topic_id_t id);
/* The topic whose suffix is `suffix` ("calls"); -1 when none. */
int topics_by_suffix(const char *suffix);

/* The full names of one PBX's topics. */
typedef struct topics {
  char prefix[200];
  char name[TOPIC__COUNT][256];
} topics_t;

/* Fill *topics for `prefix`; 0, or -1 with errstr when a name would not fit. */
int topics_init(topics_t *topics, const char *prefix, char *errstr, size_t errstr_size);
/* The topic of a full name of this PBX; -1 when none. */
int topics_lookup(const topics_t *topics, const char *name);

#endif
