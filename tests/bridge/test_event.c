/*
 * test_event: rendering of changes as Kafka messages.
 *
 *   01 a line's snapshot read: the exact envelope, topic, key and CE headers
 *   02 an update: before, after, changed, source fields
 *   03 a call's delete carries calllost; the compacted-topic tombstone
 *   04 the bridge's lifecycle event
 *   05 an event survives the store's record round trip unchanged
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event.h"

static const event_ctx_t CTX = {"ipo1", "mtcti3.", "0.1.0"};
#define TS 1764067722123LL

static const char *header(const event_t *e, const char *name) {
  for (size_t i = 0; i < e->n_headers; i++)
    if (strcmp(e->headers[i].name, name) == 0)
      return e->headers[i].value;
  return NULL;
}

static void s01_line_snapshot(void) {
  json_t *after = json_pack("{s:s,s:s,s:s,s:s}", "kind", "user", "guid", "g1", "extn", "2002", "name", "B");
  snap_change_t c = {.kind = SNAP_LINE, .op = 'r', .entity_id = "line:g1", .key = "g1", .seq = 1,
                     .after = after, .line = {SNAP_LINE_USER, "g1", "2002"}};
  event_origin_t o = {5, 1, 1, TS};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, &c, &o, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.lines");
  CHECK_STR(e.key, "g1");
  CHECK_STR(e.ce_id, "ipo1/line:g1/1");
  CHECK_STR(e.value,
            "{\"before\":null,\"after\":{\"kind\":\"user\",\"guid\":\"g1\",\"extn\":\"2002\",\"name\":\"B\"},"
            "\"op\":\"r\",\"ts_ms\":1764067722123,\"source\":{\"version\":\"0.1.0\",\"connector\":\"mtcti3\","
            "\"name\":\"ipo1\",\"pbx\":\"ipo1\",\"ts_ms\":1764067722123,\"snapshot\":\"true\","
            "\"entity\":\"line:g1\",\"line_kind\":\"user\",\"line_guid\":\"g1\",\"line_extn\":\"2002\","
            "\"subscribe_id\":5,\"notify_id\":1},\"changed\":[\"kind\",\"guid\",\"extn\",\"name\"],\"seq\":1}");
  CHECK_INT(e.n_headers, 7);
  CHECK_STR(header(&e, "ce_specversion"), "1.0");
  CHECK_STR(header(&e, "ce_id"), "ipo1/line:g1/1");
  CHECK_STR(header(&e, "ce_source"), "/mtcti3/ipo1");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.line.snapshot");
  CHECK_STR(header(&e, "ce_time"), "2025-11-25T10:48:42.123Z");
  CHECK_STR(header(&e, "ce_subject"), "line:g1");
  CHECK_STR(header(&e, "content-type"), "application/json");
  event_clear(&e);
  json_decref(after);
}

static void s02_update(void) {
  json_t *before = json_pack("{s:s,s:b}", "guid", "g1", "dnd", 0);
  json_t *after = json_pack("{s:s,s:b}", "guid", "g1", "dnd", 1);
  json_t *changed = json_pack("[s]", "dnd");
  snap_change_t c = {.kind = SNAP_USER, .op = 'u', .entity_id = "user:g1", .key = "g1", .seq = 42,
                     .before = before, .after = after, .changed = changed,
                     .line = {SNAP_LINE_USER, "g1", "2002"}};
  event_origin_t o = {5, 9, 0, TS};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, &c, &o, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.presence");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.presence.updated");
  CHECK_STR(header(&e, "ce_id"), "ipo1/user:g1/42");
  json_t *v = json_loads(e.value, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(v, "op")), "u");
  CHECK_INT(json_integer_value(json_object_get(v, "seq")), 42);
  CHECK(json_equal(json_object_get(v, "before"), before));
  CHECK(json_equal(json_object_get(v, "after"), after));
  CHECK(json_equal(json_object_get(v, "changed"), changed));
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "snapshot")), "false");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(v, "source"), "notify_id")), 9);
  CHECK(json_object_get(v, "calllost") == NULL);
  json_decref(v);
  event_clear(&e);
  json_decref(before);
  json_decref(after);
  json_decref(changed);
}

static void s03_delete_and_tombstone(void) {
  json_t *before = json_pack("{s:i,s:s}", "callid", 7, "state", "CONNECTED");
  json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", 7, "referencecallid", 0, "reason", 16,
                           "thisenddropped", 1, "description", "Normal", "synthetic", 0);
  snap_change_t c = {.kind = SNAP_CALL, .op = 'd', .entity_id = "call:g1:01ab", .key = "01ab", .seq = 4,
                     .before = before, .lost = lost, .line = {SNAP_LINE_QUEUE, "g1", "300"}};
  event_origin_t o = {5, 9, 0, TS};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, &c, &o, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.calls");
  CHECK_STR(e.key, "01ab");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.call.deleted");
  json_t *v = json_loads(e.value, 0, NULL);
  CHECK(json_is_null(json_object_get(v, "after")));
  CHECK(json_equal(json_object_get(v, "calllost"), lost));
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "line_kind")), "queue");
  char *changed = json_dumps(json_object_get(v, "changed"), JSON_COMPACT);
  CHECK_STR(changed, "[\"callid\",\"state\"]");
  free(changed);
  json_decref(v);
  event_clear(&e);

  snap_change_t cu = {.kind = SNAP_USER, .op = 'd', .entity_id = "user:g1", .key = "g1", .seq = 6,
                      .before = before, .line = {SNAP_LINE_USER, "g1", "2002"}};
  CHECK_INT(event_render_tombstone(&CTX, &cu, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.presence");
  CHECK_STR(e.key, "g1");
  CHECK(e.value == NULL);
  CHECK_INT(e.n_headers, 0);
  CHECK_STR(e.ce_id, "ipo1/user:g1/6/tombstone");
  event_clear(&e);
  json_decref(before);
  json_decref(lost);
}

static void s04_bridge(void) {
  event_t e;
  char err[128];
  json_t *detail = json_pack("{s:s}", "url", "wss://pbx/");
  CHECK_INT(event_render_bridge(&CTX, "connected", 1000, 3, TS, detail, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.bridge");
  CHECK_STR(e.key, "ipo1");
  CHECK_STR(e.ce_id, "ipo1/bridge/1000/3");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.bridge.connected");
  CHECK_STR(e.value, "{\"type\":\"connected\",\"pbx\":\"ipo1\",\"version\":\"0.1.0\",\"boot_id\":1000,\"seq\":3,"
                     "\"ts_ms\":1764067722123,\"time\":\"2025-11-25T10:48:42.123Z\",\"detail\":{\"url\":\"wss://pbx/\"}}");
  event_clear(&e);
  json_decref(detail);
}

static void s05_record_round_trip(void) {
  json_t *after = json_pack("{s:s}", "x", "y");
  snap_change_t c = {.kind = SNAP_QUEUE, .op = 'c', .entity_id = "queue:q", .key = "q", .seq = 1,
                     .after = after, .line = {SNAP_LINE_QUEUE, "q", "300"}};
  event_origin_t o = {1, 2, 0, TS};
  event_t e, back;
  char err[128];
  CHECK_INT(event_render(&CTX, &c, &o, &e, err, sizeof(err)), 0);
  size_t len = 0;
  long long n = 0;
  char *rec = event_record_text(&e, 42, &len);
  CHECK(rec != NULL && len == strlen(rec));
  CHECK(strstr(rec, "\n{\"before\":null") != NULL); /* the value follows the header line as is */
  CHECK_INT(event_from_record_text(rec, len, &back, &n, err, sizeof(err)), 0);
  CHECK_INT(n, 42);
  CHECK_STR(back.topic, e.topic);
  CHECK_STR(back.key, e.key);
  CHECK_STR(back.value, e.value);
  CHECK_INT(back.value_len, e.value_len);
  CHECK_STR(back.ce_id, e.ce_id);
  CHECK_INT(back.n_headers, e.n_headers);
  for (size_t i = 0; i < e.n_headers && i < back.n_headers; i++) {
    CHECK_STR(back.headers[i].name, e.headers[i].name);
    CHECK_STR(back.headers[i].value, e.headers[i].value);
  }
  event_clear(&back);
  free(rec);
  CHECK_INT(event_from_record_text("{\"topic\":\"t\"}\n", 15, &back, NULL, err, sizeof(err)), -1);
  CHECK_INT(event_from_record_text("no newline", 10, &back, NULL, err, sizeof(err)), -1);
  CHECK_STR(err, "stored event: no header line");
  /* a tombstone keeps its null value */
  snap_change_t cd = c;
  cd.op = 'd';
  event_t t;
  CHECK_INT(event_render_tombstone(&CTX, &cd, &t, err, sizeof(err)), 0);
  rec = event_record_text(&t, 7, &len);
  CHECK_INT(event_from_record_text(rec, len, &back, &n, err, sizeof(err)), 0);
  CHECK(back.value == NULL);
  CHECK_STR(back.ce_id, "ipo1/queue:q/1/tombstone");
  event_clear(&back);
  event_clear(&t);
  free(rec);
  event_clear(&e);
  json_decref(after);
}

int main(void) {
  s01_line_snapshot();
  s02_update();
  s03_delete_and_tombstone();
  s04_bridge();
  s05_record_round_trip();
  return check_done();
}
