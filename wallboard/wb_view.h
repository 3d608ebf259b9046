/*
 * wb_view: what the wallboard shows, rebuilt from the queue statistics
 * topics, and the messages that keep the browsers' copies current.
 *
 * DESIGN.  Pure: fed each Kafka message of the statistics topics (topic,
 * key, value; a NULL value is a tombstone), it keeps the last record of
 * every queue, under the id "<topic>/<key>" (several bridges, several
 * PBXs: one topic each), and returns the message that tells the browsers
 * about it:
 *
 *   {"type":"queue","id":"<topic>/<key>","record":{...}|null}
 *
 * A new browser gets wb_view_snapshot: every queue at once, with the page's
 * settings and the service's clock,
 *
 *   {"type":"snapshot","now_ms":N,"kafka_ok":true,"config":{...},
 *    "queues":[{"id":..,"record":{..}},...]}       (by id)
 *
 * A value that is not a JSON object with a "queue" object is refused (the
 * caller logs it), so a browser only ever gets records.  Single-threaded.
 */
#ifndef WB_VIEW_H
#define WB_VIEW_H

#include <stddef.h>
#include <stdint.h>

typedef struct wb_view wb_view_t;

wb_view_t *wb_view_new(void);
void wb_view_destroy(wb_view_t *view);

/*
 * One message.  1 and *update (malloc'd, caller frees; *update_len) when
 * the view changed; 0 when nothing changed (a tombstone of an unknown
 * queue); -1 with errstr when the value is refused or memory runs out.
 */
int wb_view_apply(wb_view_t *view, const char *topic, const char *key, size_t key_len, const char *value,
                  size_t value_len, char **update, size_t *update_len, char *errstr, size_t errstr_size);

/* The snapshot message (malloc'd, caller frees); config_json: the page's settings as a JSON object text. */
char *wb_view_snapshot(const wb_view_t *view, const char *config_json, int64_t now_ms, int kafka_ok, size_t *len);

/* Queues shown. */
size_t wb_view_count(const wb_view_t *view);

#endif
