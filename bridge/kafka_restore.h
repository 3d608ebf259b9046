/*
 * kafka_restore: the last known state read back from the bridge's own
 * compacted topics, for a bridge that runs without Redis.
 *
 * DESIGN.  Runs once at start, before the PBX link connects, blocking (with
 * a deadline).  A librdkafka consumer (no group, nothing committed) reads
 * <prefix>lines, <prefix>presence and <prefix>queues from the beginning to
 * their high watermarks; the last event of each entity gives its seq and
 * state (`after`), a delete or a tombstone leaves it deleted with its seq.
 * Each entity is handed to snap_restore, so the fresh snapshots after the
 * connect are diffed against it: nothing unchanged is announced again and
 * seq continues.  Calls are not restored this way (their topic is not
 * compacted): without Redis, a call that ended while the bridge was down
 * gets no delete.
 */
#ifndef KAFKA_RESTORE_H
#define KAFKA_RESTORE_H

#include <stddef.h>

#include "config.h"
#include "snap.h"

/* 0 and *restored (entities), or -1 with errstr. */
int kafka_restore_run(const config_t *config, snap_t *snap, int timeout_ms, size_t *restored,
                      char *errstr, size_t errstr_size);

#endif
