/*
 * state_store: the last known state and the not-yet-confirmed events, kept in
 * Redis so that a restarted bridge forgets nothing.
 *
 * DESIGN.  Two hashes per PBX: mtcti3:<pbx>:state (entity id -> the record
 * of snap_record_write on one line, with "v":2, a newline, then the entity's state
 * as JSON; a record without "v" is followed by the entity's last event, whose
 * `after` is its state, as bridges before v 2 wrote it) and mtcti3:<pbx>:pending (ce_id -> the rendered event
 * as event_record_text, until Kafka confirms it).  The ingest stage queues writes
 * while it handles a Notify and calls state_store_flush before producing
 * the Notify's events, so whatever reaches Kafka is known to Redis first.
 * At start, state_store_load restores every entity into the snapshot state
 * and hands back the pending events to produce again, with their original
 * ce_id and seq.  Commands are pipelined on a synchronous hiredis context:
 * a flush writes them to the socket and reads whatever replies have come
 * (they are only counted), so the loop does not wait on Redis; when Redis
 * is away the writes are counted as errors and the store reconnects at the
 * next flush.
 * With no redis_url every call is a no-op.
 */
#ifndef STATE_STORE_H
#define STATE_STORE_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "event.h"
#include "snap.h"

typedef struct state_store state_store_t;

/* NULL redis_url: a store that keeps nothing.  NULL with errstr on a bad URL. */
state_store_t *state_store_new(const config_t *config, char *errstr, size_t errstr_size);
void state_store_destroy(state_store_t *store);
int state_store_enabled(const state_store_t *store);

/*
 * Restore every entity into `snap` and return the pending events (a JSON
 * array of strings, each an event_record_text, oldest first; new reference).
 * 0, or -1 with errstr when Redis cannot be read.
 */
int state_store_load(state_store_t *store, snap_t *snap, json_t **pending, size_t *entities,
                     char *errstr, size_t errstr_size);

/* Queue writes (sent by state_store_flush). */
/* The entity's record (head: snap_record_write's line) and its state as JSON text (NULL: null). */
void state_store_put(state_store_t *store, const char *entity_id, const char *head, size_t head_len,
                     const char *state_text, size_t state_len);
void state_store_del(state_store_t *store, const char *entity_id);
void state_store_pending_add(state_store_t *store, const event_t *event);
void state_store_pending_del(state_store_t *store, const char *ce_id);
/*
 * Send the queued writes: written to Redis's socket when this returns, so
 * they reach Redis even if the bridge dies next.  Their replies (counted
 * only) are read when they are there, without waiting unless too many are
 * owed.  0 or -1.
 */
int state_store_flush(state_store_t *store);
/* Send the queued writes and wait for every reply owed; 0 or -1. */
int state_store_sync(state_store_t *store);
int state_store_healthy(const state_store_t *store);

#endif
