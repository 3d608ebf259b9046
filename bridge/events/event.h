/*
 * event: a snapshot change rendered as a Kafka message.
 *
 * DESIGN.  Pure: takes a snap_change_t (and where it came from: the
 * subscription, the Notify, the time) and writes the message the Kafka sink
 * produces: topic <prefix><calls|presence|queues|lines>, key (GUID, or gcid
 * for calls), a JSON value in a Debezium-compatible envelope
 *
 *   {"before":{..}|null, "after":{..}|null, "op":"c|u|d|r", "ts_ms":N,
 *    "source":{"version","connector":"mtcti3","name":pbx,"pbx","ts_ms","snapshot",
 *              "entity","line_kind","line_guid","line_extn","subscribe_id","notify_id"},
 *    "changed":[names], "seq":N, "calllost":{..} (a call's delete only)}
 *
 * and CloudEvents 1.0 binary-mode headers: ce_specversion, ce_id
 * (<pbx>/<entity>/<seq>: the same event sent twice has the same id), ce_source
 * (/mtcti3/<pbx>), ce_type (mtcti3.<kind>.<created|updated|deleted|snapshot>),
 * ce_time, ce_subject (the entity), content-type.  On compacted topics a
 * delete is followed by a tombstone (event_render_tombstone).  The bridge's
 * own lifecycle goes to <prefix>bridge (event_render_bridge), the queue
 * statistics to <prefix>queue-stats (event_render_queue_stats).  Fed by the
 * ingest stage; feeds the Kafka sink.
 */
#ifndef EVENT_H
#define EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jbuf.h"
#include "snap.h"

#define EVENT_MAX_HEADERS 8

typedef struct event_header {
  const char *name; /* static */
  char *value;      /* owned */
} event_header_t;

/* One Kafka message; every pointer owned by it (event_clear frees). */
typedef struct event {
  char *topic;
  char *key;
  char *value; /* NULL: a tombstone */
  size_t value_len;
  event_header_t headers[EVENT_MAX_HEADERS];
  size_t n_headers;
  char *ce_id;
  int kind; /* snap_kind_t, or -1 for the bridge topic */
} event_t;

/* Settings every event shares. */
typedef struct event_ctx {
  const char *pbx_id;
  const char *topic_prefix;
  const char *version;
} event_ctx_t;

/* Where a change came from. */
typedef struct event_origin {
  int32_t subscribe_id; /* 0: none (a resync delete, a restore) */
  int32_t notify_id;
  int snapshot;         /* part of an initial snapshot or resync */
  int64_t ts_ms;        /* when the bridge saw it */
} event_origin_t;

/* The op's ce_type word: created, updated, deleted, snapshot. */
const char *event_op_word(char op);
/* "<prefix><topic>" of a kind into out. */
void event_topic(const event_ctx_t *ctx, snap_kind_t kind, char *out, size_t size);

/* Render a change; 0, or -1 with errstr (out of memory). */
int event_render(const event_ctx_t *ctx, const snap_change_t *change, const event_origin_t *origin,
                 event_t *event, char *errstr, size_t errstr_size);
/* The tombstone following a delete on a compacted topic (no value, no CE headers). */
int event_render_tombstone(const event_ctx_t *ctx, const snap_change_t *change, event_t *event,
                           char *errstr, size_t errstr_size);
/*
 * A lifecycle event on <prefix>bridge: type "started", "connected",
 * "resync_started", "resync_finished", "disconnected", "stopped".  `detail`
 * (borrowed, may be NULL) is copied in.  boot_id and seq identify it.
 */
int event_render_bridge(const event_ctx_t *ctx, const char *type, int64_t boot_id, uint64_t seq,
                        int64_t ts_ms, const json_t *detail, event_t *event, char *errstr,
                        size_t errstr_size);

/*
 * A queue's statistics record (qstats) on <prefix>queue-stats, key the queue
 * GUID, as it is (a NULL text: a tombstone), with CloudEvents headers:
 * ce_type mtcti3.queue_stats.updated, ce_subject queue-stats:<guid>,
 * ce_id <pbx>/queue-stats:<guid>/<seq>.
 */
int event_render_queue_stats(const event_ctx_t *ctx, const char *queue_guid, uint64_t seq, int64_t ts_ms,
                             const char *text, size_t len, event_t *event, char *errstr, size_t errstr_size);

/*
 * An event as a store record: one line of JSON (topic, key, ce_id, kind, n,
 * headers, tombstone), a newline, then the value as produced (no second
 * encoding of the payload).  malloc'd, caller frees; NULL when out of memory.
 */
char *event_record_text(const event_t *event, long long n, size_t *len);
/* The same, appended to b; and its head line alone (with its newline). */
void event_record_write(const event_t *event, long long n, jbuf_t *b);
void event_record_write_head(const event_t *event, long long n, jbuf_t *b);
/* Parse a record of event_record_text; 0 and *event (and *n), or -1 with errstr. */
int event_from_record_text(const char *text, size_t len, event_t *event, long long *n, char *errstr,
                           size_t errstr_size);

void event_clear(event_t *event);

/* RFC 3339 UTC time with milliseconds. */
void event_time_format(int64_t ts_ms, char *out, size_t size);

#endif
