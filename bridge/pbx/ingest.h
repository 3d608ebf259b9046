/*
 * ingest: the path of a Notify, from the PBX link to Kafka and back to a
 * NotifyAck.
 *
 * DESIGN.  The hub of the event loop.  pbx_link hands it every decoded
 * Message.  RequestResponse and SubscribeTerminated go to subs; a Notify is
 * applied to the snapshot state (snap), and every change it causes is
 * rendered (event) and queued in a batch; at the end of a flush the batch
 * goes to the sink (one transaction), each event with its Notify's gate as
 * opaque.  The gate counts the Notify's
 * events not yet confirmed by Kafka; when it reaches zero, and the link is
 * still the one the Notify came on, the NotifyAck is sent.  Because the PBX
 * sends a subscription's next Notify only after the last was acknowledged,
 * a slow or absent Kafka holds the PBX back instead of losing anything.
 * Every gate completes exactly once: on its last delivery report.  The
 * ingest stage also emits the bridge's lifecycle events (connected,
 * resync_started, resync_finished, disconnected) and turns a line's settled
 * resubscription into deletes for calls that ended meanwhile.  Every change
 * also feeds the queue statistics (qstats); their records are produced to
 * <prefix>queue-stats in the same Notify's gate, at the end of the Notify
 * (and at each tick: the window's expiry, midnight); at start their last
 * records come back with the rest of the state (state_reader) and the
 * restored state is walked into them.  The PBX's command executor (cmd_exec)
 * plugs in beside it: RequestResponses subs does not own (the commands'
 * requestids, >= PBX_LINK_REQUESTID_LIMIT), every GeneralData and every
 * tagged snapshot's completion go to it (ingest_set_commands); it sees the
 * PBX only through ingest_cmd_ops.
 */
#ifndef INGEST_H
#define INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cmd_exec.h"
#include "config.h"
#include "kafka_client.h"
#include "kafka_sink.h"
#include "pbx_link.h"
#include "ready.h"
#include "snap.h"
#include "subs.h"
#include "topics.h"

typedef struct ingest ingest_t;

ingest_t *ingest_new(const config_t *config, char *errstr, size_t errstr_size);
/* The PBX's topics. */
const topics_t *ingest_topics(const ingest_t *ingest);
/*
 * Wire the link and sink (created with ingest's handlers).  request_flush is
 * called when a turn's first event is queued: the loop then calls
 * ingest_flush at the end of the turn.
 */
void ingest_attach(ingest_t *ingest, pbx_link_t *link, kafka_sink_t *sink,
                   void (*request_flush)(void *opaque), void *opaque);
/* Hand the flush's events to the sink, as one batch. */
void ingest_flush(ingest_t *ingest);
void ingest_destroy(ingest_t *ingest);

/* Handlers for pbx_link. */
extern const pbx_link_handlers_t ingest_link_handlers;
/* The sink's batch completion (kafka_sink_done_cb; ctx = the ingest). */
void ingest_batch_done(void *ctx, kafka_sink_batch_t *batch, kafka_sink_status_t status);

/*
 * Read the committed state back from the PBX's topics (state_reader), then
 * call on_restored once: the link may connect.  Without state_from_topics,
 * or embedded, on_restored is called before this returns.  0, or -1.
 */
int ingest_restore_start(ingest_t *ingest, kafka_env_t *env, void (*on_restored)(void *opaque), void *opaque,
                         char *errstr, size_t errstr_size);
/* The reader's fd (-1: none; the reader goes once the state is restored: stop watching it then) and its service. */
int ingest_reader_fd(const ingest_t *ingest);
void ingest_reader_poll(ingest_t *ingest);
int ingest_is_restored(const ingest_t *ingest);
/* Periodic work: subscription timers, metrics. */
void ingest_tick(ingest_t *ingest, int64_t now_ms);
/* Lifecycle event on the bridge topic (type as in event_render_bridge). */
void ingest_lifecycle(ingest_t *ingest, const char *type, json_t *detail /* stolen, may be NULL */);

/*
 * The PBX's command executor: it gets the RequestResponses subs does not
 * own, the GeneralData and the snapshots' completions (NULL: none, the
 * stage is gone).  It reaches this PBX through ingest_cmd_ops (pbx = the
 * ingest): lines, subscriptions, calls, features, send, snapshot.
 */
void ingest_set_commands(ingest_t *ingest, cmd_exec_t *exec);
extern const cmd_pbx_ops_t ingest_cmd_ops;

/*
 * Add this PBX's components to the readiness registry (/readyz), named by
 * its pbx_id: kafka_producer, state, pbx_link, resync, kafka_keeping_up;
 * their probes read the ingest, which must outlive them
 * (ready_remove_pbx before ingest_destroy).
 */
void ingest_ready_add(ingest_t *ingest, ready_t *ready);
/* Notifies waiting for their events' delivery. */
size_t ingest_acks_pending(const ingest_t *ingest);

#endif
