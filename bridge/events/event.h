/*
 * event: a snapshot change rendered as a Kafka message.
 *
 * DESIGN.  Pure: takes a snap_change_t (and where it came from: the
 * subscription, the Notify, the time) and writes the message the Kafka sink
 * produces: topic (the table in topics.h), key (GUID, or the call leg), a
 * JSON value in a Debezium-compatible envelope
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
#include "topics.h"

#define EVENT_MAX_HEADERS 8

typedef struct event_header {
  const char *name; /* static */
  char *value;      /* owned */
} event_header_t;

/* One Kafka message; every pointer owned by it (event_clear frees) but `topic`. */
typedef struct event {
  const char *topic; /* a name of the PBX's topics_t: lives as long as the PBX */
  int topic_id;      /* topic_id_t */
  char *key;
  char *partition_key; /* what chooses the partition (Java's murmur2, as for a key); NULL: the key */
  char *value; /* NULL: a tombstone */
  size_t value_len;
  event_header_t headers[EVENT_MAX_HEADERS];
  size_t n_headers;
  char *ce_id;
  int kind; /* snap_kind_t, or -1 (bridge, command result) */
} event_t;

/* Settings every event of one PBX shares. */
typedef struct event_ctx {
  const char *pbx_id;
  const topics_t *topics;
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
/* The topic of a snapshot kind's events (calls, presence, queues, lines). */
topic_id_t event_kind_topic(snap_kind_t kind);

/*
 * Render a change on `topic` (the kind's, or TOPIC_LIVE_CALLS for a call's
 * live copy); 0, or -1 with errstr (out of memory).
 */
int event_render(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                 const event_origin_t *origin, event_t *event, char *errstr, size_t errstr_size);
/*
 * The tombstone of a deleted entity on a compacted `topic` (no value, no CE
 * headers): after a delete on presence, queues and lines, and in place of a
 * call's delete on live-calls.
 */
int event_render_tombstone(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                           event_t *event, char *errstr, size_t errstr_size);
/*
 * A lifecycle event on <prefix>bridge: type "started", "connected",
 * "resync_started", "resync_finished", "disconnected", "stopped", and the
 * ownership changes.  `detail` (borrowed, may be NULL) is copied in.
 * boot_id and seq identify it.
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

void event_clear(event_t *event);

/* RFC 3339 UTC time with milliseconds. */
void event_time_format(int64_t ts_ms, char *out, size_t size);

#endif
