/*
 * ingest: the path of a Notify, from the PBX link to Kafka and back to a
 * NotifyAck.
 *
 * DESIGN.  The hub of the event loop.  pbx_link hands it every decoded
 * Message.  RequestResponse and SubscribeTerminated go to subs; a Notify is
 * applied to the snapshot state (snap), and every change it causes is
 * rendered (event) and queued; at the end of the loop turn the turn's events
 * are recorded in the state store (one round trip) and then produced
 * (kafka_sink), each with its Notify's gate as opaque.  The gate counts the Notify's
 * events not yet confirmed by Kafka; when it reaches zero, and the link is
 * still the one the Notify came on, the NotifyAck is sent.  Because the PBX
 * sends a subscription's next Notify only after the last was acknowledged,
 * a slow or absent Kafka holds the PBX back instead of losing anything.
 * Every gate completes exactly once: on its last delivery report.  The
 * ingest stage also emits the bridge's lifecycle events (connected,
 * resync_started, resync_finished, disconnected) and turns a line's settled
 * resubscription into deletes for calls that ended meanwhile.  The PBX's
 * command executor (cmd_exec) plugs in beside it: RequestResponses subs does
 * not own (the commands' requestids, >= PBX_LINK_REQUESTID_LIMIT), every
 * GeneralData and every tagged snapshot's completion go to it
 * (ingest_set_commands); it sees the PBX only through ingest_cmd_ops.
 */
#ifndef INGEST_H
#define INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "cmd_exec.h"
#include "config.h"
#include "kafka_sink.h"
#include "pbx_link.h"
#include "snap.h"
#include "state_store.h"
#include "subs.h"

typedef struct ingest ingest_t;

ingest_t *ingest_new(const config_t *config, state_store_t *store, char *errstr, size_t errstr_size);
/*
 * Wire the link and sink (created with ingest's handlers).  request_flush is
 * called when a turn's first event is queued: the loop then calls
 * ingest_flush at the end of the turn.
 */
void ingest_attach(ingest_t *ingest, pbx_link_t *link, kafka_sink_t *sink,
                   void (*request_flush)(void *opaque), void *opaque);
/* Record the turn's events in the store, then produce them. */
void ingest_flush(ingest_t *ingest);
void ingest_destroy(ingest_t *ingest);

/* Handlers for pbx_link. */
extern const pbx_link_handlers_t ingest_link_handlers;
/* Delivery callback for kafka_sink (ctx = the ingest). */
void ingest_delivered(void *ctx, void *opaque, int delivered);

/* Restore the last known state and produce the events still pending; at start. */
int ingest_restore(ingest_t *ingest, char *errstr, size_t errstr_size);
/* Periodic work: subscription timers, metrics, store writes. */
void ingest_tick(ingest_t *ingest, int64_t now_ms);
/* The Kafka fd is readable; -1 on a fatal producer error. */
int ingest_kafka_poll(ingest_t *ingest, char *errstr, size_t errstr_size);
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

/* For /readyz: connected, resynced, Kafka not blocked. */
int ingest_ready(const ingest_t *ingest, char *why, size_t why_size);
/* Notifies waiting for their events' delivery. */
size_t ingest_acks_pending(const ingest_t *ingest);

#endif
