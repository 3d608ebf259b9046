/*
 * restore: the committed events read back (state_reader) turned into the
 * snapshot state's entities.
 *
 * DESIGN.  Fed, on the loop thread, each last message of each key of the
 * PBX's compacted topics (lines, presence, queues, live-calls), it keeps
 * the record snap_restore takes for each entity: the entity id, key and line
 * from the event's `source`, its seq, its state (`after`); for a call also
 * callid and gcid from `after`.  A tombstone after an entity's delete keeps
 * the entity deleted with its seq (so an entity that comes back continues
 * its seq and no ce_id names two events); a call whose live copy ends with a
 * tombstone is gone.  Events of another PBX, or that do not parse, are
 * skipped with a warning.  restore_apply hands every record to the state
 * (snap_restore marks them unconfirmed: the fresh snapshot after the
 * connect is diffed against them).  Pure apart from logging.
 */
#ifndef RESTORE_H
#define RESTORE_H

#include <stddef.h>

#include "snap.h"
#include "state_reader.h"

typedef struct restore restore_t;

/* NULL when out of memory. */
restore_t *restore_new(const char *pbx_id);
/* One message read back (state_reader's callback). */
void restore_add(restore_t *restore, const state_reader_msg_t *msg);
/* Load every entity into `snap`; returns how many, and how many calls in *calls. */
size_t restore_apply(restore_t *restore, snap_t *snap, size_t *calls);
void restore_free(restore_t *restore);

#endif
