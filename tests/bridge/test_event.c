/*
 * test_event: rendering of changes as Kafka messages.
 *
 *   01 a line's snapshot read: the exact envelope, topic, key and CE headers
 *   02 an update: before, after, changed, source fields
 *   03 a call's delete carries calllost; the compacted-topic tombstone
 *   04 the bridge's lifecycle event
 *   05 a call's live copy on live-calls, and its tombstone there
 *   06 jbuf writes strings and integers in jansson's exact bytes
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event.h"

static topics_t TOPICS;
static const event_ctx_t CTX = {"ipo1", &TOPICS, "0.1.0", 0};
#define TS 1764067722123LL

static const char *header(const event_t *e, const char *name) {
  for (size_t i = 0; i < e->n_headers; i++)
    if (strcmp(e->headers[i].name, name) == 0)
      return e->headers[i].value;
  return NULL;
}

/* A change's names: the fields of a state text, as snap reports them (pointing into the text). */
static size_t names_of(const char *text, snap_name_t *names, size_t max) {
  json_t *j = json_loads(text, 0, NULL);
  size_t n = 0;
  const char *name;
  json_t *value;
  json_object_foreach(j, name, value) {
    if (n == max)
      break;
    names[n].name = strstr(text, name);
    names[n++].len = strlen(name);
  }
  json_decref(j);
  return n;
}

#define TEXT(t) .after_text = (t), .after_len = sizeof(t) - 1

static void s01_line_snapshot(void) {
  static const char after[] = "{\"kind\":\"user\",\"guid\":\"g1\",\"extn\":\"2002\",\"name\":\"B\"}";
  snap_name_t names[8];
  snap_change_t c = {.kind = SNAP_LINE, .op = 'r', .entity_id = "line:g1", .key = "g1", .seq = 1, TEXT(after),
                     .names = names, .n_names = names_of(after, names, 8), .line = {SNAP_LINE_USER, "g1", "2002"}};
  event_origin_t o = {5, 1, 1, TS, 0};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.lines");
  CHECK_STR(e.key, "g1");
  CHECK_STR(e.ce_id, "ipo1/line:g1/1");
  CHECK_STR(e.value,
            "{\"before\":null,\"after\":{\"kind\":\"user\",\"guid\":\"g1\",\"extn\":\"2002\",\"name\":\"B\"},"
            "\"op\":\"r\",\"ts_ms\":1764067722123,\"source\":{\"version\":\"0.1.0\",\"connector\":\"mtcti3\","
            "\"name\":\"ipo1\",\"pbx\":\"ipo1\",\"ts_ms\":1764067722123,\"snapshot\":\"true\","
            "\"entity\":\"line:g1\",\"line_kind\":\"user\",\"line_guid\":\"g1\",\"line_extn\":\"2002\","
            "\"subscribe_id\":5,\"notify_id\":1,\"refresh\":null},\"changed\":[\"kind\",\"guid\",\"extn\",\"name\"],"
            "\"seq\":1}");
  CHECK_INT(e.n_headers, 7);
  CHECK_STR(header(&e, "ce_specversion"), "1.0");
  CHECK_STR(header(&e, "ce_id"), "ipo1/line:g1/1");
  CHECK_STR(header(&e, "ce_source"), "/mtcti3/ipo1");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.line.snapshot");
  CHECK_STR(header(&e, "ce_time"), "2025-11-25T10:48:42.123Z");
  CHECK_STR(header(&e, "ce_subject"), "line:g1");
  CHECK_STR(header(&e, "content-type"), "application/json");
  event_clear(&e);
}

static void s02_update(void) {
  static const char before_text[] = "{\"guid\":\"g1\",\"dnd\":false}";
  static const char after_text[] = "{\"guid\":\"g1\",\"dnd\":true}";
  json_t *before = json_loads(before_text, 0, NULL), *after = json_loads(after_text, 0, NULL);
  json_t *changed = json_pack("[s]", "dnd");
  snap_name_t names[1] = {{strstr(after_text, "dnd"), 3}};
  snap_change_t c = {.kind = SNAP_USER, .op = 'u', .entity_id = "user:g1", .key = "g1", .seq = 42,
                     .before_text = before_text, .before_len = sizeof(before_text) - 1, TEXT(after_text),
                     .names = names, .n_names = 1, .line = {SNAP_LINE_USER, "g1", "2002"}};
  event_origin_t o = {5, 9, 0, TS, 0};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
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
  CHECK(json_is_null(json_object_get(json_object_get(v, "source"), "refresh")));
  CHECK(json_object_get(v, "calllost") == NULL);
  json_decref(v);
  event_clear(&e);
  /* the same change from a PBX refresh: marked with its refreshinstance, a snapshot */
  o.snapshot = 1;
  o.refresh = 3;
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
  v = json_loads(e.value, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "snapshot")), "true");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(v, "source"), "refresh")), 3);
  CHECK_STR(header(&e, "ce_type"), "mtcti3.presence.updated");
  json_decref(v);
  event_clear(&e);
  /* a 'c' never is one (a user added later, reported when its line settles) */
  c.op = 'c';
  c.before_text = NULL;
  o = (event_origin_t){0, 0, 1, TS, 0};
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
  v = json_loads(e.value, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "snapshot")), "false");
  json_decref(v);
  event_clear(&e);
  /* an 'r' is a snapshot read whatever Notify completed it */
  c.op = 'r';
  c.before_text = NULL;
  o = (event_origin_t){5, 10, 0, TS, 0};
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
  v = json_loads(e.value, 0, NULL);
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "snapshot")), "true");
  json_decref(v);
  event_clear(&e);
  json_decref(before);
  json_decref(after);
  json_decref(changed);
}

static void s03_delete_and_tombstone(void) {
  static const char before[] = "{\"callid\":7,\"state\":\"CONNECTED\"}";
  snap_name_t names[4];
  json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", 7, "referencecallid", 0, "reason", 16,
                           "thisenddropped", 1, "description", "Normal", "synthetic", 0);
  snap_change_t c = {.kind = SNAP_CALL, .op = 'd', .entity_id = "call:g1:01ab", .key = "01ab", .seq = 4,
                     .before_text = before, .before_len = sizeof(before) - 1, .names = names,
                     .n_names = names_of(before, names, 4), .lost = lost, .line = {SNAP_LINE_QUEUE, "g1", "300"}};
  event_origin_t o = {5, 9, 0, TS, 0};
  event_t e;
  char err[128];
  CHECK_INT(event_render(&CTX, event_kind_topic(c.kind), &c, &o, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.calls");
  CHECK_STR(e.key, "01ab");
  CHECK_STR(header(&e, "ce_type"), "mtcti3.call.deleted");
  json_t *v = json_loads(e.value, 0, NULL);
  CHECK(json_is_null(json_object_get(v, "after")));
  CHECK_INT(json_integer_value(json_object_get(json_object_get(v, "before"), "callid")), 7);
  CHECK(json_equal(json_object_get(v, "calllost"), lost));
  CHECK_STR(json_string_value(json_object_get(json_object_get(v, "source"), "line_kind")), "queue");
  char *changed = json_dumps(json_object_get(v, "changed"), JSON_COMPACT);
  CHECK_STR(changed, "[\"callid\",\"state\"]");
  free(changed);
  json_decref(v);
  event_clear(&e);

  snap_change_t cu = {.kind = SNAP_USER, .op = 'd', .entity_id = "user:g1", .key = "g1", .seq = 6,
                      .before_text = before, .before_len = sizeof(before) - 1, .line = {SNAP_LINE_USER, "g1", "2002"}};
  CHECK_INT(event_render_tombstone(&CTX, event_kind_topic(cu.kind), &cu, &e, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.presence");
  CHECK_STR(e.key, "g1");
  CHECK(e.value == NULL);
  CHECK_INT(e.n_headers, 0);
  CHECK_STR(e.ce_id, "ipo1/user:g1/6/tombstone");
  event_clear(&e);
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

/* A call's live copy: the same event on live-calls; its end a tombstone there. */
static void s05_live_calls(void) {
  static const char after[] = "{\"callid\":7,\"gcid\":\"01ab\"}";
  snap_change_t c = {.kind = SNAP_CALL, .op = 'c', .entity_id = "call:g1:01ab", .key = "g1:01ab", .seq = 1,
                     TEXT(after), .line = {SNAP_LINE_USER, "g1", "201"}};
  event_origin_t o = {1, 2, 0, TS, 0};
  event_t e, live;
  char err[128];
  CHECK_INT(event_render(&CTX, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  CHECK_INT(event_render(&CTX, TOPIC_LIVE_CALLS, &c, &o, &live, err, sizeof(err)), 0);
  CHECK_STR(e.topic, "mtcti3.calls");
  CHECK_INT(e.topic_id, TOPIC_CALLS);
  CHECK_STR(live.topic, "mtcti3.live-calls");
  CHECK_INT(live.topic_id, TOPIC_LIVE_CALLS);
  CHECK_STR(live.key, e.key);
  CHECK_STR(live.value, e.value);
  CHECK_STR(live.ce_id, "ipo1/call:g1:01ab/1");
  CHECK_STR(header(&live, "ce_type"), "mtcti3.call.created");
  event_clear(&e);
  event_clear(&live);
  snap_change_t d = c;
  d.op = 'd';
  d.seq = 4;
  CHECK_INT(event_render_tombstone(&CTX, TOPIC_LIVE_CALLS, &d, &live, err, sizeof(err)), 0);
  CHECK_STR(live.topic, "mtcti3.live-calls");
  CHECK_STR(live.key, "g1:01ab");
  CHECK(live.value == NULL);
  CHECK_INT(live.n_headers, 0);
  CHECK_STR(live.ce_id, "ipo1/call:g1:01ab/4/tombstone");
  event_clear(&live);
}

/* jbuf writes exactly what jansson dumps (compact, ASCII). */
static void s06_jbuf_matches_jansson(void) {
  static const char *const strings[] = {"plain", "", "quote\" and \\ back", "tab\tnl\ncr\r", "\x01\x1f\x7f",
                                        "caf\xc3\xa9", "\xe2\x82\xac euro", "\xf0\x9f\x9a\x80 rocket", "a/b"};
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
    jbuf_t b = JBUF_INIT;
    jbuf_jstr(&b, strings[i]);
    json_t *j = json_string(strings[i]);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    CHECK_STR(b.data, want);
    free(want);
    json_decref(j);
    jbuf_free(&b);
  }
  static const long long ints[] = {0, 7, -1, 2147483647LL, -2147483648LL, 9223372036854775807LL,
                                   -9223372036854775807LL - 1};
  for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
    jbuf_t b = JBUF_INIT;
    jbuf_int(&b, ints[i]);
    json_t *j = json_integer(ints[i]);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK_STR(b.data, want);
    free(want);
    json_decref(j);
    jbuf_free(&b);
  }
  jbuf_t b = JBUF_INIT;
  jbuf_uint(&b, 18446744073709551615ULL);
  CHECK_STR(b.data, "18446744073709551615");
  jbuf_jstr(&b, NULL);
  CHECK_STR(b.data, "18446744073709551615\"\"");
  char *copy = jbuf_dup(&b);
  CHECK_STR(copy, b.data);
  free(copy);
  jbuf_reset(&b);
  CHECK_INT(b.len, 0);
  CHECK_STR(b.data, "");
  /* members: a comma before each but the first of its object */
  jbuf_char(&b, '{');
  jbuf_key(&b, "a");
  jbuf_int(&b, 1);
  jbuf_key(&b, "b");
  jbuf_char(&b, '{');
  jbuf_key(&b, "c");
  jbuf_str(&b, "null}}");
  CHECK_STR(b.data, "{\"a\":1,\"b\":{\"c\":null}}");
  jbuf_free(&b);
}

/*
 * The lean envelope (event_lean): an update's before null, no
 * featuresavailable_names anywhere; a delete keeps its before; off leaves
 * the bytes as they were.
 */
static void s07_lean(void) {
  static const char before[] = "{\"callid\":7,\"featuresavailable\":3,\"featuresavailable_names\":[\"DROP\",\"ANSWER\"],"
                               "\"state\":\"RINGING\"}";
  static const char after[] = "{\"callid\":7,\"featuresavailable\":1,\"featuresavailable_names\":[\"DROP\"],"
                              "\"state\":\"CONNECTED\"}";
  snap_name_t names[3] = {{strstr(after, "featuresavailable\""), 17},
                          {strstr(after, "featuresavailable_names"), 23},
                          {strstr(after, "state"), 5}};
  snap_change_t c = {.kind = SNAP_CALL, .op = 'u', .entity_id = "call:g1:01ab", .key = "g1:01ab", .seq = 2,
                     .before_text = before, .before_len = sizeof(before) - 1, TEXT(after),
                     .names = names, .n_names = 3, .line = {SNAP_LINE_USER, "g1", "201"}};
  event_origin_t o = {1, 2, 0, TS, 0};
  static const char source[] =
      "\"op\":\"u\",\"ts_ms\":1764067722123,\"source\":{\"version\":\"0.1.0\",\"connector\":\"mtcti3\","
      "\"name\":\"ipo1\",\"pbx\":\"ipo1\",\"ts_ms\":1764067722123,\"snapshot\":\"false\","
      "\"entity\":\"call:g1:01ab\",\"line_kind\":\"user\",\"line_guid\":\"g1\",\"line_extn\":\"201\","
      "\"subscribe_id\":1,\"notify_id\":2,\"refresh\":null},";
  event_t e;
  char err[128], want[2048];
  event_ctx_t ctx = CTX;
  ctx.lean = event_lean_flags("all");
  CHECK_INT(event_render(&ctx, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  snprintf(want, sizeof(want),
           "{\"before\":null,\"after\":{\"callid\":7,\"featuresavailable\":1,\"state\":\"CONNECTED\"},%s"
           "\"changed\":[\"featuresavailable\",\"state\"],\"seq\":2}",
           source);
  CHECK_STR(e.value, want);
  CHECK_INT(e.value_len, strlen(want));
  event_clear(&e);
  ctx.lean = event_lean_flags("before");
  CHECK_INT(event_render(&ctx, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  snprintf(want, sizeof(want),
           "{\"before\":null,\"after\":%s,%s\"changed\":[\"featuresavailable\",\"featuresavailable_names\",\"state\"],"
           "\"seq\":2}",
           after, source);
  CHECK_STR(e.value, want);
  event_clear(&e);
  ctx.lean = event_lean_flags("names");
  CHECK_INT(event_render(&ctx, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  snprintf(want, sizeof(want),
           "{\"before\":{\"callid\":7,\"featuresavailable\":3,\"state\":\"RINGING\"},"
           "\"after\":{\"callid\":7,\"featuresavailable\":1,\"state\":\"CONNECTED\"},%s"
           "\"changed\":[\"featuresavailable\",\"state\"],\"seq\":2}",
           source);
  CHECK_STR(e.value, want);
  event_clear(&e);
  /* a delete keeps its before (lean), as Debezium's */
  c.op = 'd';
  c.after_text = NULL;
  c.after_len = 0;
  ctx.lean = event_lean_flags("all");
  CHECK_INT(event_render(&ctx, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  static const char deleted[] = "{\"before\":{\"callid\":7,\"featuresavailable\":3,\"state\":\"RINGING\"},\"after\":null,";
  CHECK(strncmp(e.value, deleted, sizeof(deleted) - 1) == 0);
  event_clear(&e);
  /* off, or a setting it does not know: the full envelope */
  c.op = 'u';
  c.after_text = after;
  c.after_len = sizeof(after) - 1;
  CHECK_INT(event_lean_flags("off"), 0);
  CHECK_INT(event_lean_flags("nonsense"), 0);
  CHECK_INT(event_render(&CTX, TOPIC_CALLS, &c, &o, &e, err, sizeof(err)), 0);
  snprintf(want, sizeof(want),
           "{\"before\":%s,\"after\":%s,%s\"changed\":[\"featuresavailable\",\"featuresavailable_names\",\"state\"],"
           "\"seq\":2}",
           before, after, source);
  CHECK_STR(e.value, want);
  CHECK_STR(header(&e, "ce_time"), "2025-11-25T10:48:42.123Z");
  event_clear(&e);
}

/* The time's text: each millisecond, second and day boundary as strftime and printf write it. */
static void s08_times(void) {
  static const int64_t times[] = {0, 999, 1000, 1764067722000LL, 1764067722001LL, 1764067722999LL, 1764067723000LL,
                                  1764115199999LL, 1764115200000LL, 4102444800000LL};
  snap_change_t c = {.kind = SNAP_LINE, .op = 'r', .entity_id = "line:g1", .key = "g1", .seq = 1,
                     TEXT("{}"), .line = {SNAP_LINE_USER, "g1", "2002"}};
  for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
    event_origin_t o = {5, 1, 1, times[i], 0};
    event_t e;
    char err[128], want[40];
    CHECK_INT(event_render(&CTX, TOPIC_LINES, &c, &o, &e, err, sizeof(err)), 0);
    event_time_format(times[i], want, sizeof(want));
    CHECK_STR(header(&e, "ce_time"), want);
    event_clear(&e);
  }
}

int main(void) {
  char err[128];
  CHECK_INT(topics_init(&TOPICS, "mtcti3.", err, sizeof(err)), 0);
  s01_line_snapshot();
  s02_update();
  s03_delete_and_tombstone();
  s04_bridge();
  s05_live_calls();
  s06_jbuf_matches_jansson();
  s07_lean();
  s08_times();
  return check_done();
}
