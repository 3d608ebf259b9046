/*
 * kafka_restore: the last known state read back from the bridge's own
 * topics, for a bridge that runs without Redis.
 *
 * DESIGN.  Runs once at start, before the PBX link connects, blocking (with
 * a deadline).  A librdkafka consumer (no group, nothing committed) reads
 * <prefix>lines, <prefix>presence and <prefix>queues (compacted) from the
 * beginning, and <prefix>calls (not compacted) from the offset of now -
 * calls_restore_window seconds (rd_kafka_offsets_for_times; 0: not at all),
 * each partition up to its high watermark.  The last event of each entity
 * gives its seq and state (`after`); a delete or a tombstone leaves a user,
 * queue or line deleted with its seq, and a call whose last event is a
 * delete is not restored (it is gone).  The calls topic may hold many
 * events: each is sorted by its CloudEvents headers alone (ce_source names
 * the pbx, ce_subject the entity, ce_type a delete), keeping the last
 * message of each call, and only those are parsed at the end.  A call's
 * record is derived from that event as snap_record_write would have written it:
 * the entity id from source.entity, the key from the message key, the line
 * from source (line_kind, line_guid, line_extn), callid and gcid from
 * `after`.  Each entity is handed to snap_restore, which marks it
 * unconfirmed, so the fresh snapshots after the connect are diffed against
 * it: nothing unchanged is announced again and seq continues, and a restored
 * call that the line's new subscription does not report again is deleted
 * once the line has settled (snap_line_resync_end).  A call whose last event
 * is older than the window is not restored: if it is still up, it is
 * announced as created (seq 1).
 */
#ifndef KAFKA_RESTORE_H
#define KAFKA_RESTORE_H

#include <stddef.h>

#include "config.h"
#include "snap.h"

/* 0 and *restored (entities, calls included), or -1 with errstr. */
int kafka_restore_run(const config_t *config, snap_t *snap, int timeout_ms, size_t *restored,
                      char *errstr, size_t errstr_size);

#endif
