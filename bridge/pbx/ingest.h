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
 * resync_started, resync_finished, disconnected, failback) and turns a line's settled
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
#include "state_reader.h"
#include "pbx_link.h"
#include "snap.h"
#include "subs.h"
#include "topics.h"

typedef struct ingest ingest_t;

ingest_t *ingest_new(const config_t *config, char *errstr, size_t errstr_size);
/* The PBX's topics. */
const topics_t *ingest_topics(const ingest_t *ingest);
/*
 * Wire the link.  request_flush is called when a flush's first event is
 * queued: the loop then calls ingest_flush soon.
 */
void ingest_attach(ingest_t *ingest, pbx_link_t *link, void (*request_flush)(void *opaque), void *opaque);
/* Hand the flush's events to the sink, as one batch (nothing while not publishing). */
void ingest_flush(ingest_t *ingest);
void ingest_destroy(ingest_t *ingest);

/* Handlers for pbx_link. */
extern const pbx_link_handlers_t ingest_link_handlers;
/* The sink's batch completion (kafka_sink_done_cb; ctx = the ingest). */
void ingest_batch_done(void *ctx, kafka_sink_batch_t *batch, kafka_sink_status_t status);
/* Called when a batch comes back fenced (opaque: as given). */
void ingest_on_fenced(ingest_t *ingest, void (*fenced)(void *opaque), void *opaque);

/*
 * ---- ownership ----
 *
 * An ingest starts as a standby: Notifies are applied to a warm view whose
 * changes are published by nobody (they are acknowledged at once), lifecycle
 * events wait, and the committed state (what the owner published, read back
 * by a following state_reader) is kept as records.  ingest_take_over, with
 * a ready transactional sink and the committed records read up to the ends
 * after the fence, makes it the owner: the committed state becomes the
 * published one and the warm view is replayed into it (snap_replay), so
 * consumers get exactly the differences with every seq continuing; if the
 * view was not in sync, the link resubscribes instead.  ingest_hand_over
 * makes it a standby again (the published state becomes the warm view).
 */
/* One committed message read back (state_reader's callback; opaque = the ingest). */
void ingest_committed(void *opaque, const state_reader_msg_t *msg);
/* Forget the committed records (a following reader reads them again from the start). */
void ingest_committed_reset(ingest_t *ingest);
/* Become the owner, publishing through `sink` (borrowed); 0, or -1 with errstr. */
int ingest_take_over(ingest_t *ingest, kafka_sink_t *sink, char *errstr, size_t errstr_size);
/* Stop publishing (why: "revoked", "fenced"; the sink is being taken away, its batches complete as dropped). */
void ingest_hand_over(ingest_t *ingest, const char *why);
/* Whether the warm view is in sync with the PBX (connected, every subscription answered). */
int ingest_view_synced(const ingest_t *ingest);
/*
 * Whether that sync is on its way: connected and resyncing, or the first
 * connection still being made (no connection has failed yet).
 */
int ingest_view_coming(const ingest_t *ingest);

/* Periodic work: subscription timers, metrics. */
void ingest_tick(ingest_t *ingest, int64_t now_ms);
/* Lifecycle event on the bridge topic (type as in event_render_bridge); kept until publishing. */
void ingest_lifecycle(ingest_t *ingest, const char *type, json_t *detail /* stolen, may be NULL */);

/*
 * The PBX's command executor: it gets the RequestResponses subs does not
 * own, the GeneralData and the snapshots' completions (NULL: none, the
 * stage is gone).  It reaches this PBX through ingest_cmd_ops (pbx = the
 * ingest): lines, subscriptions, calls, features, send, snapshot, the park
 * server's slots, whether lines report calls; and it hears of the calls
 * made with a referencecallid (cmd_exec_on_call_report, from snap).
 */
void ingest_set_commands(ingest_t *ingest, cmd_exec_t *exec);
extern const cmd_pbx_ops_t ingest_cmd_ops;

/*
 * For /readyz (pbx.c adds this PBX's components, ready.h): 1, or 0 with a
 * one-line why.  The link is up; every subscription is answered; no batch
 * has waited for Kafka over 5 s (always 1 when not publishing).
 */
int ingest_ready_link(const ingest_t *ingest, char *why, size_t why_size);
int ingest_ready_resync(const ingest_t *ingest, char *why, size_t why_size);
int ingest_ready_keeping_up(const ingest_t *ingest, char *why, size_t why_size);

#endif
