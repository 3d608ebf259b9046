/*
 * kafka_sink: one PBX's events to Kafka, in batches, each batch confirmed
 * exactly once.
 *
 * DESIGN.  The loop thread gathers the events of a flush into a batch
 * (kafka_sink_batch_*) and hands it over (kafka_sink_submit); a sink thread
 * owns the producer and takes the batches in order, every batch waiting
 * at once (a round: the commit's round trips are paid once for all of them,
 * so a round grows with the load instead of batches queueing behind one
 * another).  With a transactional_id, each round is one transaction: begin,
 * produce every event (and commit the consumed offsets its batches carry,
 * for the command stage), commit; an abortable error aborts it and the
 * whole round is produced again in a new transaction (consumers reading
 * read_committed never see the aborted copy); a fatal error (this producer
 * was fenced by a newer owner of the same transactional.id) ends the sink:
 * that round and every later batch complete as KAFKA_SINK_FENCED and
 * nothing more is written.  Without a transactional_id the producer is
 * idempotent and a round is done when every event's delivery report is a
 * success (a failed delivery is produced again, never dropped).  A finished batch goes back
 * through a pipe the loop watches (kafka_sink_fd): kafka_sink_poll, on the
 * loop thread, calls `done` once per batch, in order.  Nothing on the loop
 * thread waits for Kafka: the commit's round trips happen on the sink
 * thread, and while one batch commits the loop gathers the next, so the
 * batches grow with the load.  Fed by the PBX pipeline (pbx/); its `done`
 * acknowledges the Notifies whose events the batch carried.
 */
#ifndef KAFKA_SINK_H
#define KAFKA_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "event.h"
#include "kafka_client.h"
#include "topics.h"

typedef struct kafka_sink kafka_sink_t;
typedef struct kafka_sink_batch kafka_sink_batch_t;

typedef enum kafka_sink_status {
  KAFKA_SINK_DONE = 0, /* every event is in Kafka (committed) */
  KAFKA_SINK_FENCED,   /* a newer owner fenced this producer: nothing of the batch is visible */
  KAFKA_SINK_DROPPED,  /* the sink was stopped before the batch was written */
} kafka_sink_status_t;

/* A new, empty batch; NULL when out of memory.  Owned by the caller until submitted. */
kafka_sink_batch_t *kafka_sink_batch_new(void);
/*
 * Add one event (its contents are taken; *event is left empty) with the
 * caller's `opaque` for it (given back by kafka_sink_batch_opaque).  0, or
 * -1 when out of memory (the event is freed).
 */
int kafka_sink_batch_add(kafka_sink_batch_t *batch, event_t *event, void *opaque);
size_t kafka_sink_batch_len(const kafka_sink_batch_t *batch);
void *kafka_sink_batch_opaque(const kafka_sink_batch_t *batch, size_t i);
/* The topic (topic_id_t, or -1) of event i, and its produce-to-confirmation time in seconds. */
int kafka_sink_batch_topic(const kafka_sink_batch_t *batch, size_t i);
double kafka_sink_batch_seconds(const kafka_sink_batch_t *batch);
/*
 * Offsets to commit in the batch's transaction (transactional sinks only):
 * `offsets` (taken) of the group described by `cgmd` (taken).
 */
void kafka_sink_batch_offsets(kafka_sink_batch_t *batch, rd_kafka_topic_partition_list_t *offsets,
                              rd_kafka_consumer_group_metadata_t *cgmd);
void kafka_sink_batch_free(kafka_sink_batch_t *batch);

/* A batch is done (status above); the batch is freed after the call. */
typedef void(kafka_sink_done_cb)(void *ctx, kafka_sink_batch_t *batch, kafka_sink_status_t status);

/*
 * A sink for one PBX: `name` names its client ("events-hq"); with a
 * transactional_id its batches are transactions.  The thread starts at
 * once (and, transactional, initialises the producer first: that fences an
 * older producer of the same id).  NULL with errstr.
 */
kafka_sink_t *kafka_sink_new(kafka_env_t *env, const char *name, const char *transactional_id,
                             kafka_sink_done_cb *done, void *ctx, char *errstr, size_t errstr_size);
/* Hand a batch over (taken); it completes through `done`, in order. */
void kafka_sink_submit(kafka_sink_t *sink, kafka_sink_batch_t *batch);
/* The fd that becomes readable when kafka_sink_poll has batches to complete. */
int kafka_sink_fd(const kafka_sink_t *sink);
/* Complete the finished batches (loop thread). */
void kafka_sink_poll(kafka_sink_t *sink);
/* Events submitted and not yet completed. */
size_t kafka_sink_pending(const kafka_sink_t *sink);
/*
 * Events Kafka refused so far (a delivery report with an error, a produce
 * call refused): each is produced again, but the count is what an operator
 * alerts on (mtcti3_bridge_kafka_delivery_errors_total).  Any thread.
 */
size_t kafka_sink_delivery_errors(const kafka_sink_t *sink);
/* Events in batches waiting behind the one being written (Kafka slower than the PBX). */
size_t kafka_sink_queued(const kafka_sink_t *sink);
/* How long the oldest batch not yet completed has waited, in ms (0: none). */
int64_t kafka_sink_oldest_ms(const kafka_sink_t *sink);
/* Whether the producer was fenced (a newer owner took over). */
int kafka_sink_fenced(const kafka_sink_t *sink);
/* Whether the producer is ready (transactional: initialised). */
int kafka_sink_ready(const kafka_sink_t *sink);
/*
 * Wait up to timeout_ms for every submitted batch to complete (completing
 * them through `done`), then stop the thread; batches still waiting then
 * complete as KAFKA_SINK_DROPPED.  Returns how many events were dropped.
 */
size_t kafka_sink_stop(kafka_sink_t *sink, int timeout_ms);
/* What the sink's thread is doing ("committing", "idle", ...), or was when kafka_sink_stop gave up: for logs. */
const char *kafka_sink_phase(const kafka_sink_t *sink);
/* Stop (at once) and free. */
void kafka_sink_destroy(kafka_sink_t *sink);

#endif
