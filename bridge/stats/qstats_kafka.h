/*
 * qstats_kafka: the queue statistics read back from the bridge's own
 * <prefix>queue-stats topic at start.
 *
 * DESIGN.  Runs once at start, before the PBX link connects, blocking (with a
 * deadline), whatever holds the rest of the state (Redis or the topics).  A
 * librdkafka consumer (read_committed, no offsets committed) reads every
 * partition of the compacted topic from the beginning to its end (partition
 * EOF), keeps the last value of each key (a tombstone: the queue is gone),
 * and gives each queue's last record of this PBX to qstats_restore.  The
 * ingest stage then walks the restored snapshot state into the module
 * (snap_walk) and prunes the calls the state does not know (qstats_prune).
 */
#ifndef QSTATS_KAFKA_H
#define QSTATS_KAFKA_H

#include <stddef.h>

#include "config.h"
#include "qstats.h"

/* 0 and *restored (queues), or -1 with errstr.  A missing topic restores nothing. */
int qstats_kafka_restore(const config_t *config, qstats_t *qs, int timeout_ms, size_t *restored, char *errstr,
                         size_t errstr_size);

#endif
