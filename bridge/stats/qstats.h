/*
 * qstats: live statistics of every queue, for wallboards.
 *
 * DESIGN.  Pure: fed the snapshot state's changes (snap_change_t, as the
 * ingest stage receives them from snap) and the wall time, it keeps per
 * queue the calls waiting and the oldest one's start, the members' states
 * (from the queue's members, the users' presence and the users' calls), and
 * the calls offered, answered (within the service level or not), abandoned
 * and taken by voicemail over a sliding window of whole seconds and since
 * midnight in a time zone.  qstats_flush writes one record (JSON text) per
 * queue whose figures changed since its last record, through the callback;
 * the ingest stage produces it to <prefix>queue-stats (compacted, key the
 * queue GUID).  A queue's record carries what its figures are made of (the
 * calls still on the queue, the window's per-second counts), so a restarted
 * bridge gives each queue's last record to qstats_restore and goes on where
 * it was.  docs/wallboard.md defines every figure; the record's schema is
 * schemas/event-queue-stats.schema.json.
 *
 * Which events count (docs/wallboard.md has the full text):
 *   offered    a call first seen on a queue's line (op c, or r when not known)
 *   answered   its queue leg first reaches CONNECTED, ONHOLD(PEND*) (an agent took it)
 *   voicemail  ... or first reaches RINGINGVOICEMAIL, ANSWEREDBYVOICEMAIL, LEAVINGVOICEMAILMESSAGE
 *   abandoned  its queue leg is deleted (CallLost) before either, and the
 *              delete is not synthetic (a call that ended while the bridge
 *              was away is not counted at all)
 *   waiting    calls on the queue's line neither answered nor in voicemail
 *
 * Single-threaded, no I/O, except that the local midnight is computed with
 * the C library's time zone database (TZ is switched to the configured zone
 * for the call, once at start and once a day): call it from one thread.
 */
#ifndef QSTATS_H
#define QSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "snap.h"

typedef struct qstats_config {
  const char *pbx_id;            /* borrowed for the module's life */
  long service_level_seconds;    /* answered within this many seconds of the offer: in service level */
  long window_seconds;           /* the sliding window, in whole seconds */
  const char *timezone;          /* "UTC" or a zoneinfo name ("Europe/Berlin"), for "today" */
} qstats_config_t;

/* One queue's record, valid during the callback only. */
typedef struct qstats_record {
  const char *queue_guid; /* the Kafka key */
  uint64_t seq;
  int64_t ts_ms;
  const char *text; /* NULL: the queue is gone (a tombstone) */
  size_t len;
} qstats_record_t;

typedef void(qstats_record_cb)(void *opaque, const qstats_record_t *record);

typedef struct qstats qstats_t;

/* 0 when `tz` is a zone the module can use ("UTC" or a zoneinfo file), else -1 with errstr. */
int qstats_timezone_check(const char *tz, char *errstr, size_t errstr_size);

/* A new module; NULL with errstr on a bad setting or out of memory. */
qstats_t *qstats_new(const qstats_config_t *config, qstats_record_cb *cb, void *opaque, char *errstr,
                     size_t errstr_size);
void qstats_destroy(qstats_t *qs);

/* One change of the snapshot state, seen at now_ms (wall clock).  Records wait for qstats_flush. */
void qstats_change(qstats_t *qs, const snap_change_t *change, int64_t now_ms);

/*
 * Expire the window, roll the day over at midnight, and write the record of
 * every queue whose figures changed; returns how many records were written.
 */
size_t qstats_flush(qstats_t *qs, int64_t now_ms);

/*
 * Load a queue from its last record (as qstats_flush wrote it, read back from
 * <prefix>queue-stats): seq, today's counts (when still the same day), the
 * window's counts still inside the window at now_ms, the calls on the queue,
 * the members' states and since when.  Call before the first change.  0, or
 * -1 with a one-line errstr (the record is ignored).
 */
int qstats_restore(qstats_t *qs, const char *text, size_t len, int64_t now_ms, char *errstr,
                   size_t errstr_size);

/*
 * After the restore and a walk of the restored snapshot state (every entity
 * given to qstats_change as an 'r'): forget the restored calls the state
 * does not know (they ended while the bridge was away, uncounted).
 * Returns how many.
 */
size_t qstats_prune(qstats_t *qs);

/* Queues known. */
size_t qstats_count(const qstats_t *qs);

#endif
