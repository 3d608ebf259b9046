/*
 * kafka_client: every Kafka client of the bridge is made here.
 *
 * DESIGN.  One factory for the producers and consumers of every stage (the
 * event sink, the committed-state reader, the ownership group, the command
 * results), so that settings, logs, errors and statistics are handled in one
 * place.  A client's configuration is, in order: bootstrap.servers, the
 * defaults of its role (KAFKA_CLIENT_DEFAULTS below: one table, shown by
 * docs/bridge.md), the operator's kafka.<property> settings (passed through
 * to rd_kafka_conf_set as Fluent Bit's rdkafka.* and kcat's -X do), then
 * what the stage must force (group.id, transactional.id).  Every client
 * logs through blog (log.queue: its lines arrive on the queue its owner
 * polls, so on the owner's thread), reports errors through one callback that
 * logs an outage's start once and its end with its duration, and feeds its
 * statistics (statistics.interval.ms) to the metrics.
 *
 * The environment (kafka_env_t) holds what the clients share: the bootstrap
 * servers, and with kafka_bootstrap=embedded the in-process mock cluster
 * (demo only).  Made once at start, on the main thread; clients may then be
 * made from any thread.
 */
#ifndef KAFKA_CLIENT_H
#define KAFKA_CLIENT_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* X(enum suffix, name, librdkafka type): what a client is for. */
#define KAFKA_CLIENT_ROLES(X)                          \
  X(EVENTS, "events", RD_KAFKA_PRODUCER)               \
  X(RESULTS, "results", RD_KAFKA_PRODUCER)             \
  X(GROUP, "group", RD_KAFKA_CONSUMER)                 \
  X(READER, "reader", RD_KAFKA_CONSUMER)               \
  X(ADMIN, "admin", RD_KAFKA_PRODUCER)

typedef enum kafka_client_role {
#define KAFKA_CLIENT_X_ENUM(e, n, t) KAFKA_CLIENT_##e,
  KAFKA_CLIENT_ROLES(KAFKA_CLIENT_X_ENUM)
#undef KAFKA_CLIENT_X_ENUM
  KAFKA_CLIENT__ROLE_COUNT
} kafka_client_role_t;

/*
 * X(role mask, property, value): the bridge's defaults, applied before the
 * operator's kafka.<property> settings (which win).  Role masks: P every
 * producer, E events, S results, C every consumer, G the group, R the
 * reader.
 */
#define KAFKA_CLIENT_DEFAULTS(X)                                                                   \
  X(P, "acks", "all", "a write is confirmed once every in-sync replica has it")                    \
  X(P, "enable.idempotence", "true", "no duplicates, no reordering on retries")                    \
  X(P, "linger.ms", "5", "gather a few milliseconds of events per request")                       \
  X(P, "compression.codec", "zstd", "half lz4's bytes for this JSON (172 vs 400 per event; tests/bench/RESULTS.md)") \
  X(S, "partitioner", "murmur2_random", "keys land where Java's default partitioner puts them (the events' is the same, in code)") \
  X(P, "queue.buffering.max.messages", "500000", "room for bursts before back-pressure")            \
  X(E, "message.timeout.ms", "0", "no delivery timeout: an event is retried until Kafka has it")   \
  X(C, "isolation.level", "read_committed", "never read an aborted or open transaction's events") \
  X(C, "enable.auto.commit", "false", "offsets are committed by the stage, after the work")       \
  X(C, "auto.offset.reset", "earliest", "a new group reads what is there")                         \
  X(G, "partition.assignment.strategy", "cooperative-sticky", "a rebalance moves only what must move") \
  X(G, "session.timeout.ms", "6000", "a dead instance's PBXs move within seconds (broker minimum 6000)") \
  X(G, "heartbeat.interval.ms", "1000", "a rebalance is noticed within a second")                   \
  X(R, "enable.partition.eof", "true", "the reader knows when it has read everything")

#define KAFKA_CLIENT_ROLE_P ((1u << KAFKA_CLIENT_EVENTS) | (1u << KAFKA_CLIENT_RESULTS))
#define KAFKA_CLIENT_ROLE_E (1u << KAFKA_CLIENT_EVENTS)
#define KAFKA_CLIENT_ROLE_S (1u << KAFKA_CLIENT_RESULTS)
#define KAFKA_CLIENT_ROLE_C ((1u << KAFKA_CLIENT_GROUP) | (1u << KAFKA_CLIENT_READER))
#define KAFKA_CLIENT_ROLE_G (1u << KAFKA_CLIENT_GROUP)
#define KAFKA_CLIENT_ROLE_R (1u << KAFKA_CLIENT_READER)

typedef struct kafka_env kafka_env_t;

/*
 * The clients' shared environment; with kafka_bootstrap=embedded, starts the
 * mock cluster (with `topics`, NULL-ended full names, and `partitions`
 * each, and the command topics with one).  NULL with errstr.  Free with
 * kafka_env_destroy after every client.
 */
kafka_env_t *kafka_env_new(const config_t *config, char *errstr, size_t errstr_size);
void kafka_env_destroy(kafka_env_t *env);
/* The bootstrap servers (the mock cluster's when embedded). */
const char *kafka_env_bootstrap(const kafka_env_t *env);
int kafka_env_embedded(const kafka_env_t *env);
/* Whether every broker is unreachable, as last reported by any client. */
int kafka_env_outage(kafka_env_t *env);
/*
 * A client has just heard from a broker (a transaction committed): an
 * outage, if any, ends now (else its end is seen in the clients' statistics,
 * every 5 s).  Any thread.
 */
void kafka_env_reachable(kafka_env_t *env);
/*
 * The readiness probe of the process's Kafka (ready.h's ready_probe_cb;
 * opaque is the kafka_env_t): 0 during an outage, with why
 * ("every broker unreachable for 12 s: 1/1 brokers are down").
 */
int kafka_env_ready(void *env, char *why, size_t why_size);
/* With the mock cluster: create a topic there (no admin API needed); 0 otherwise too. */
void kafka_env_mock_topic(kafka_env_t *env, const char *topic, int partitions);

/* Check the kafka.<prop> settings against librdkafka, before anything starts: 0 or -1. */
int kafka_client_check_config(const config_t *config, char *errstr, size_t errstr_size);

/* What a stage asks of the factory. */
typedef struct kafka_client_spec {
  kafka_client_role_t role;
  const char *name;             /* client.id suffix and log instance: "events-hq" */
  const char *group_id;         /* GROUP; READER may leave it NULL */
  const char *transactional_id; /* EVENTS with transactions */
  void *opaque;                 /* rd_kafka_opaque */
  /* optional callbacks */
  void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque);
  void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                       void *opaque);
  /* a producer's partitioner for every topic (rd_kafka_topic_conf_set_partitioner_cb) */
  int32_t (*partitioner_cb)(const rd_kafka_topic_t *rkt, const void *keydata, size_t keylen, int32_t partition_cnt,
                            void *rkt_opaque, void *msg_opaque);
  /* extra properties after the operator's (NULL-ended name/value pairs) */
  const char *const *forced;
} kafka_client_spec_t;

/* A client; NULL with errstr ("kafka.linger.ms: ..."). Caller destroys it (rd_kafka_destroy). */
rd_kafka_t *kafka_client_new(kafka_env_t *env, const kafka_client_spec_t *spec, char *errstr,
                             size_t errstr_size);
/* Destroy a client of the factory (NULL is fine) and drop its series from /metrics. */
void kafka_client_destroy(rd_kafka_t *rk);

/* The defaults table as markdown (for --help-markdown and the docs). */
void kafka_client_print_defaults(void *out /* FILE * */);

/*
 * A pipe the loop watches for a librdkafka queue: wake->fds[0] becomes
 * readable when the queue has something (rd_kafka_queue_io_event_enable).
 */
typedef struct kafka_wake {
  int fds[2];
} kafka_wake_t;
/* 0, or -1 with errstr. */
int kafka_wake_open(kafka_wake_t *wake, rd_kafka_queue_t *queue, char *errstr, size_t errstr_size);
void kafka_wake_drain(kafka_wake_t *wake);
void kafka_wake_close(kafka_wake_t *wake);

#endif
