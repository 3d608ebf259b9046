/*
 * kafka_sink: events to Kafka, each confirmed exactly once.
 *
 * DESIGN.  An idempotent librdkafka producer (acks=all, no delivery timeout
 * by default) on the bridge's event loop: librdkafka signals its main queue
 * on a pipe (kafka_sink_fd) that the loop watches, and kafka_sink_poll
 * serves delivery reports, errors and librdkafka's log lines there.  Every
 * produced event carries the caller's opaque; the `delivered` callback fires
 * exactly once per event, when Kafka has acknowledged it.  A delivery error
 * is logged, counted and the event produced again (after a pause), never
 * dropped.  When librdkafka's queue is full, events wait in an ordered
 * backlog, and the caller sees kafka_sink_blocked(): upstream then holds its
 * NotifyAcks, so the PBX stops sending.  kafka_bootstrap=embedded runs
 * librdkafka's mock cluster in-process (demo only: it keeps nothing).
 * Settings kafka.<prop> go to rd_kafka_conf_set after the bridge's defaults.
 * Fed by the ingest stage.
 */
#ifndef KAFKA_SINK_H
#define KAFKA_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "event.h"

typedef struct kafka_sink kafka_sink_t;

/* One librdkafka property; 0, or -1 with errstr "kafka.<name>: <why>". */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size);

/*
 * An event of kafka_sink_produce is done; `opaque` is the one given.
 * delivered 1: Kafka has it.  delivered 0: the sink is being destroyed and
 * the event was never confirmed (it stays pending in the store).  Called
 * exactly once per event.
 */
typedef void(kafka_sink_delivered_cb)(void *ctx, void *opaque, int delivered);

/* Check the kafka.<prop> settings against librdkafka, before anything starts; 0 or -1. */
int kafka_sink_check_config(const config_t *config, char *errstr, size_t errstr_size);
kafka_sink_t *kafka_sink_new(const config_t *config, kafka_sink_delivered_cb *delivered, void *ctx,
                             char *errstr, size_t errstr_size);
/* Create the topics (compacted ones as such); existing topics are fine.  Blocking, at start. */
/* A topic to create: its full name, and whether it is compacted. */
typedef struct kafka_topic_spec {
  const char *name;
  int compacted;
} kafka_topic_spec_t;

/*
 * Create `n` topics through rk's admin API, leaving any that exist as they
 * are (used by every stage that owns topics).  Blocks up to timeout_ms + 2 s;
 * called at start only.  0, or -1 with errstr naming the topic and the error.
 */
int kafka_create_topics(rd_kafka_t *rk, const kafka_topic_spec_t *specs, size_t n,
                        int partitions, int replication, int timeout_ms, char *errstr,
                        size_t errstr_size);
int kafka_sink_create_topics(kafka_sink_t *sink, int timeout_ms, char *errstr, size_t errstr_size);
/*
 * Hand over one event: its contents are taken (event is left empty, also on
 * failure).  0, or -1 with errstr (a fatal producer error).
 */
int kafka_sink_produce(kafka_sink_t *sink, event_t *event, void *opaque, char *errstr, size_t errstr_size);
/* Serve delivery reports and retry the backlog; -1 on a fatal producer error. */
int kafka_sink_poll(kafka_sink_t *sink, char *errstr, size_t errstr_size);
/* The fd that becomes readable when kafka_sink_poll has work (drain it with kafka_sink_poll). */
int kafka_sink_fd(const kafka_sink_t *sink);
/* Events handed to librdkafka and not yet delivered, and waiting in the backlog. */
size_t kafka_sink_inflight(const kafka_sink_t *sink);
size_t kafka_sink_backlog(const kafka_sink_t *sink);
/* Whether upstream should hold back (backlog not empty). */
int kafka_sink_blocked(const kafka_sink_t *sink);
/* The bootstrap servers in use (the mock cluster's when embedded). */
const char *kafka_sink_bootstrap(const kafka_sink_t *sink);
/* Wait up to timeout_ms for every event to be delivered; returns how many remain. */
size_t kafka_sink_flush(kafka_sink_t *sink, int timeout_ms);
void kafka_sink_destroy(kafka_sink_t *sink);

/* The topic suffixes the bridge produces to, and which are compacted. */
#define KAFKA_SINK_TOPICS(X) \
  X("calls", 0)              \
  X("presence", 1)           \
  X("queues", 1)             \
  X("lines", 1)              \
  X("bridge", 0)             \
  X("queue-stats", 1)

#endif
