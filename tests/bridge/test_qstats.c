/*
 * test_qstats: the queue statistics over a scripted day's end in Berlin.
 *
 * One queue (5001 Sales: members 2001, 2002, 2003), service level 20 s,
 * window 60 s, time zone Europe/Berlin.  The script starts at 23:58:00
 * local time (22:58:00 UTC, 10 March 2026, winter time: UTC+1):
 *
 *   +0 s     snapshot: 2001 available, 2002 on DND, 2003 logged off
 *   +1 s     call A queues; +2 s call B queues
 *   +11 s    A answered by 2001 (waited 10 s: within the service level)
 *   +32 s    B answered (waited 30 s: outside)
 *   +33 s    C queues, +38 s C's caller hangs up (abandoned)
 *   +40 s    D queues, +41 s D ends while "the bridge was away" (synthetic: not counted)
 *   +50 s    A and B end (answered before: not abandoned)
 *   +61.5 s  the window (60 s) no longer holds A's offer
 *   +120 s   midnight in Berlin: today starts again
 *   +125 s   E queues (today: offered 1)
 *
 * then a restart: a new module restored from the last record continues
 * the figures and the seq, and writes nothing while nothing changed.
 */
#include "../check.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "qstats.h"
#include "snap.h"

#define T0 1773183480000LL       /* 2026-03-10 23:58:00 Europe/Berlin */
#define DAY0 1773097200000LL     /* 2026-03-10 00:00:00 Europe/Berlin */
#define MIDNIGHT 1773183600000LL /* 2026-03-11 00:00:00 Europe/Berlin */

#define QGUID "11111111-0000-0000-0000-000000005001"
#define U1 "22222222-0000-0000-0000-000000002001"
#define U2 "22222222-0000-0000-0000-000000002002"
#define U3 "22222222-0000-0000-0000-000000002003"

static char *records[64];
static size_t n_records;

static void on_record(void *opaque, const qstats_record_t *r) {
  (void)opaque;
  if (n_records < 64)
    records[n_records++] = r->text ? strdup(r->text) : strdup("(tombstone)");
}

static void reset_records(void) {
  for (size_t i = 0; i < n_records; i++)
    free(records[i]);
  n_records = 0;
}

static void feed(qstats_t *qs, snap_kind_t kind, char op, const char *id, snap_line_kind_t lk, const char *guid,
                 const char *extn, const char *after, int synthetic, int64_t now) {
  json_t *lost = op == 'd' && kind == SNAP_CALL ? json_pack("{s:b}", "synthetic", synthetic) : NULL;
  snap_change_t ch = {.kind = kind,
                      .op = op,
                      .entity_id = id,
                      .key = guid,
                      .seq = 1,
                      .after_text = after,
                      .after_len = after ? strlen(after) : 0,
                      .lost = lost,
                      .line = {lk, guid, extn}};
  qstats_change(qs, &ch, now);
  json_decref(lost);
}

static void queue_snapshot(qstats_t *qs, int64_t now) {
  feed(qs, SNAP_QUEUE, 'r', "queue:" QGUID, SNAP_LINE_QUEUE, QGUID, "5001",
       "{\"guid\":\"" QGUID "\",\"extn\":\"5001\",\"name\":\"Sales\",\"ringmode\":2,\"servicemode\":\"Active\","
       "\"queuemembers\":{\"member\":[{\"extn\":\"2001\",\"disabled\":false},{\"extn\":\"2002\",\"disabled\":false},"
       "{\"extn\":\"2003\",\"disabled\":false}]},\"mailbox\":null}",
       0, now);
}

static void user(qstats_t *qs, char op, const char *guid, const char *extn, const char *name, int dnd,
                 int loggedoff, int64_t now) {
  char after[512];
  snprintf(after, sizeof(after),
           "{\"guid\":\"%s\",\"extn\":\"%s\",\"name\":\"%s\",\"dnd\":%s,\"loggedinextn\":\"%s\","
           "\"loggedoff\":%s,\"absence\":null,\"phonestate\":0}",
           guid, extn, name, dnd ? "true" : "false", loggedoff ? "" : extn, loggedoff ? "true" : "false");
  char id[64];
  snprintf(id, sizeof(id), "user:%s", guid);
  feed(qs, SNAP_USER, op, id, SNAP_LINE_USER, guid, extn, after, 0, now);
}

/* A call leg on the queue's line (gcid g) in `state`, or its delete. */
static void qcall(qstats_t *qs, char op, const char *gcid, const char *state, int synthetic, int64_t now) {
  char id[128], after[256];
  snprintf(id, sizeof(id), "call:" QGUID ":%s", gcid);
  snprintf(after, sizeof(after),
           "{\"callid\":7,\"state\":\"%s\",\"gcid\":\"%s\",\"conferencemember\":[{\"state\":\"X\"}],"
           "\"connectedparty\":null}",
           state ? state : "", gcid);
  feed(qs, SNAP_CALL, op, id, SNAP_LINE_QUEUE, QGUID, "5001", op == 'd' ? NULL : after, synthetic, now);
}

/* A call leg on user 2001's line. */
static void ucall(qstats_t *qs, char op, const char *gcid, const char *state, int64_t now) {
  char id[128], after[256];
  snprintf(id, sizeof(id), "call:" U1 ":%s", gcid);
  snprintf(after, sizeof(after), "{\"callid\":9,\"state\":\"%s\",\"gcid\":\"%s\"}", state ? state : "", gcid);
  feed(qs, SNAP_CALL, op, id, SNAP_LINE_USER, U1, "2001", op == 'd' ? NULL : after, 0, now);
}

static json_t *last_record(void) {
  return n_records ? json_loads(records[n_records - 1], 0, NULL) : NULL;
}

/* window or today figures: offered answered answered_in_sl abandoned voicemail, and the share as text */
static void check_counts(json_t *rec, const char *period, long o, long a, long asl, long ab, long vm,
                         const char *sl, int line) {
  json_t *p = json_object_get(rec, period);
  long got[5] = {(long)json_integer_value(json_object_get(p, "offered")),
                 (long)json_integer_value(json_object_get(p, "answered")),
                 (long)json_integer_value(json_object_get(p, "answered_in_sl")),
                 (long)json_integer_value(json_object_get(p, "abandoned")),
                 (long)json_integer_value(json_object_get(p, "voicemail"))};
  long want[5] = {o, a, asl, ab, vm};
  for (int i = 0; i < 5; i++)
    if (got[i] != want[i]) {
      fprintf(stderr, "line %d: %s figure %d: got %ld, want %ld\n", line, period, i, got[i], want[i]);
      check_failed++;
    } else {
      check_passed++;
    }
  char *text = json_dumps(json_object_get(p, "service_level"), JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
  CHECK_STR(text, sl);
  free(text);
}

static void check_agents(json_t *rec, long li, long av, long ri, long bu, long dn, int line) {
  json_t *a = json_object_get(rec, "agents");
  long got[6] = {(long)json_integer_value(json_object_get(a, "members")),
                 (long)json_integer_value(json_object_get(a, "logged_in")),
                 (long)json_integer_value(json_object_get(a, "available")),
                 (long)json_integer_value(json_object_get(a, "ringing")),
                 (long)json_integer_value(json_object_get(a, "busy")),
                 (long)json_integer_value(json_object_get(a, "dnd"))};
  long want[6] = {3, li, av, ri, bu, dn};
  for (int i = 0; i < 6; i++)
    if (got[i] != want[i]) {
      fprintf(stderr, "line %d: agents figure %d: got %ld, want %ld\n", line, i, got[i], want[i]);
      check_failed++;
    } else {
      check_passed++;
    }
}

#define WAITING(rec) json_integer_value(json_object_get(rec, "waiting"))
#define OLDEST(rec) json_integer_value(json_object_get(rec, "oldest_waiting_since_ms"))
#define SEQ(rec) json_integer_value(json_object_get(rec, "seq"))
#define CHECK_COUNTS(rec, period, o, a, asl, ab, vm, sl) check_counts(rec, period, o, a, asl, ab, vm, sl, __LINE__)
#define CHECK_AGENTS(rec, li, av, ri, bu, dn) check_agents(rec, li, av, ri, bu, dn, __LINE__)

static const qstats_config_t config = {"hq", 20, 60, "Europe/Berlin"};

static void test_script(char **last_text) {
  char err[256];
  qstats_t *qs = qstats_new(&config, on_record, NULL, err, sizeof(err));
  CHECK(qs != NULL);
  json_t *r;

  queue_snapshot(qs, T0);
  user(qs, 'r', U1, "2001", "Anna", 0, 0, T0);
  user(qs, 'r', U2, "2002", "Ben", 1, 0, T0);
  user(qs, 'r', U3, "2003", "Cleo", 0, 1, T0);
  CHECK_INT(qstats_flush(qs, T0), 1);
  CHECK_STR(records[0],
            "{\"pbx\":\"hq\",\"ts_ms\":1773183480000,\"seq\":1,\"queue\":{\"guid\":\"" QGUID "\",\"extn\":\"5001\","
            "\"name\":\"Sales\"},\"waiting\":0,\"oldest_waiting_since_ms\":null,\"agents\":{\"members\":3,"
            "\"logged_in\":2,\"available\":1,\"ringing\":0,\"busy\":0,\"dnd\":1,\"absent\":0,\"disabled\":0},"
            "\"agent_list\":[{\"guid\":\"" U1 "\",\"extn\":\"2001\",\"name\":\"Anna\",\"state\":\"available\","
            "\"since_ms\":1773183480000},{\"guid\":\"" U2 "\",\"extn\":\"2002\",\"name\":\"Ben\",\"state\":\"dnd\","
            "\"since_ms\":1773183480000},{\"guid\":\"" U3 "\",\"extn\":\"2003\",\"name\":\"Cleo\",\"state\":"
            "\"logged_out\",\"since_ms\":1773183480000}],\"service_level_seconds\":20,\"window\":{\"seconds\":60,"
            "\"offered\":0,\"answered\":0,\"answered_in_sl\":0,\"abandoned\":0,\"voicemail\":0,\"service_level\":null},"
            "\"today\":{\"since_ms\":1773097200000,\"timezone\":\"Europe/Berlin\",\"offered\":0,\"answered\":0,"
            "\"answered_in_sl\":0,\"abandoned\":0,\"voicemail\":0,\"service_level\":null},\"restore\":{\"v\":1,"
            "\"calls\":[],\"buckets\":[]}}");
  /* nothing changed: nothing written */
  CHECK_INT(qstats_flush(qs, T0 + 500), 0);

  qcall(qs, 'c', "a1", "QUEUEING", 0, T0 + 1000);
  CHECK_INT(qstats_flush(qs, T0 + 1000), 1);
  qcall(qs, 'c', "b2", "QUEUEING", 0, T0 + 2000);
  qcall(qs, 'u', "a1", "RINGING", 0, T0 + 2000);
  ucall(qs, 'c', "a1", "RINGING", T0 + 2000);
  CHECK_INT(qstats_flush(qs, T0 + 2000), 1);
  r = last_record();
  CHECK_INT(SEQ(r), 3);
  CHECK_INT(WAITING(r), 2);
  CHECK_INT(OLDEST(r), T0 + 1000);
  CHECK_AGENTS(r, 2, 0, 1, 0, 1);
  CHECK_COUNTS(r, "window", 2, 0, 0, 0, 0, "null");
  json_decref(r);

  /* A answered after 10 s (in service level); 2001 busy on it */
  qcall(qs, 'u', "a1", "CONNECTED", 0, T0 + 11000);
  ucall(qs, 'u', "a1", "CONNECTED", T0 + 11000);
  CHECK_INT(qstats_flush(qs, T0 + 11000), 1);
  r = last_record();
  CHECK_INT(WAITING(r), 1);
  CHECK_INT(OLDEST(r), T0 + 2000);
  CHECK_AGENTS(r, 2, 0, 0, 1, 1);
  CHECK_COUNTS(r, "window", 2, 1, 1, 0, 0, "1");
  CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r, "agent_list"), 0), "state")),
            "busy");
  CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "agent_list"), 0), "since_ms")),
            T0 + 11000);
  json_decref(r);

  /* B answered after 30 s (outside); a hold on A changes nothing counted */
  qcall(qs, 'u', "b2", "CONNECTED", 0, T0 + 32000);
  qcall(qs, 'u', "a1", "ONHOLD", 0, T0 + 32000);
  /* C abandoned after 5 s */
  qcall(qs, 'c', "c3", "QUEUEING", 0, T0 + 33000);
  qcall(qs, 'd', "c3", NULL, 0, T0 + 38000);
  /* D: ended while the bridge was away */
  qcall(qs, 'c', "d4", "QUEUEING", 0, T0 + 40000);
  qcall(qs, 'd', "d4", NULL, 1, T0 + 41000);
  /* A ends after its answer */
  qcall(qs, 'd', "a1", NULL, 0, T0 + 50000);
  ucall(qs, 'd', "a1", NULL, T0 + 50000);
  qcall(qs, 'd', "b2", NULL, 0, T0 + 50000);
  CHECK_INT(qstats_flush(qs, T0 + 50000), 1);
  r = last_record();
  CHECK_INT(WAITING(r), 0);
  CHECK(json_is_null(json_object_get(r, "oldest_waiting_since_ms")));
  CHECK_AGENTS(r, 2, 1, 0, 0, 1);
  CHECK_COUNTS(r, "window", 4, 2, 1, 1, 0, "0.3333");
  CHECK_COUNTS(r, "today", 4, 2, 1, 1, 0, "0.3333");
  json_decref(r);

  /* the window: A's offer (second +1) leaves at +61 s */
  CHECK_INT(qstats_flush(qs, T0 + 60999), 0);
  CHECK_INT(qstats_flush(qs, T0 + 61500), 1);
  r = last_record();
  CHECK_COUNTS(r, "window", 3, 2, 1, 1, 0, "0.3333");
  CHECK_COUNTS(r, "today", 4, 2, 1, 1, 0, "0.3333");
  json_decref(r);
  /* +62 s: B's offer leaves too */
  CHECK_INT(qstats_flush(qs, T0 + 62000), 1);
  r = last_record();
  CHECK_COUNTS(r, "window", 2, 2, 1, 1, 0, "0.3333");
  json_decref(r);
  /* +71 s: A's answer (second +11) leaves: in service level 0 of 2 outcomes */
  CHECK_INT(qstats_flush(qs, T0 + 71000), 1);
  r = last_record();
  CHECK_COUNTS(r, "window", 2, 1, 0, 1, 0, "0");
  json_decref(r);

  /* midnight in Berlin */
  CHECK_INT(qstats_flush(qs, MIDNIGHT - 1), 1); /* the window is empty by now */
  r = last_record();
  CHECK_COUNTS(r, "window", 0, 0, 0, 0, 0, "null");
  CHECK_COUNTS(r, "today", 4, 2, 1, 1, 0, "0.3333");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "today"), "since_ms")), DAY0);
  json_decref(r);
  CHECK_INT(qstats_flush(qs, MIDNIGHT), 1);
  r = last_record();
  CHECK_COUNTS(r, "today", 0, 0, 0, 0, 0, "null");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "today"), "since_ms")), MIDNIGHT);
  json_decref(r);

  /* E queues after midnight; 2001 goes on DND, 2002 off it */
  qcall(qs, 'c', "e5", "QUEUEING", 0, MIDNIGHT + 5000);
  user(qs, 'u', U1, "2001", "Anna", 1, 0, MIDNIGHT + 5000);
  user(qs, 'u', U2, "2002", "Ben", 0, 0, MIDNIGHT + 5000);
  CHECK_INT(qstats_flush(qs, MIDNIGHT + 5000), 1);
  r = last_record();
  CHECK_INT(SEQ(r), 11);
  CHECK_INT(WAITING(r), 1);
  CHECK_INT(OLDEST(r), MIDNIGHT + 5000);
  CHECK_AGENTS(r, 2, 1, 0, 0, 1);
  CHECK_COUNTS(r, "window", 1, 0, 0, 0, 0, "null");
  CHECK_COUNTS(r, "today", 1, 0, 0, 0, 0, "null");
  json_decref(r);
  *last_text = strdup(records[n_records - 1]);
  qstats_destroy(qs);
}

/* The bridge restarts 10 s later: the last record gives the figures back. */
static void test_restore(const char *last_text) {
  char err[256];
  reset_records();
  qstats_t *qs = qstats_new(&config, on_record, NULL, err, sizeof(err));
  int64_t now = MIDNIGHT + 15000;
  CHECK_INT(qstats_restore(qs, last_text, strlen(last_text), now, err, sizeof(err)), 0);
  /* the restored snapshot state, walked: the queue, the users, E still queueing */
  queue_snapshot(qs, now);
  user(qs, 'r', U1, "2001", "Anna", 1, 0, now);
  user(qs, 'r', U2, "2002", "Ben", 0, 0, now);
  user(qs, 'r', U3, "2003", "Cleo", 0, 1, now);
  qcall(qs, 'r', "e5", "QUEUEING", 0, now);
  CHECK_INT(qstats_prune(qs), 0);
  CHECK_INT(qstats_flush(qs, now), 0); /* nothing changed: nothing written */

  /* E answered 20 s after its offer: in service level (<= 20 s) */
  qcall(qs, 'u', "e5", "CONNECTED", 0, MIDNIGHT + 25000);
  CHECK_INT(qstats_flush(qs, MIDNIGHT + 25000), 1);
  json_t *r = last_record();
  CHECK_INT(SEQ(r), 12);
  CHECK_INT(WAITING(r), 0);
  CHECK_COUNTS(r, "window", 1, 1, 1, 0, 0, "1");
  CHECK_COUNTS(r, "today", 1, 1, 1, 0, 0, "1");
  /* 2001 has been on DND since before the restart */
  CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(r, "agent_list"), 0), "since_ms")),
            MIDNIGHT + 5000);
  json_decref(r);
  qstats_destroy(qs);

  /* restored the next day: today's figures start again, the window has expired */
  reset_records();
  qs = qstats_new(&config, on_record, NULL, err, sizeof(err));
  now = MIDNIGHT + 86400000LL + 1000;
  CHECK_INT(qstats_restore(qs, last_text, strlen(last_text), now, err, sizeof(err)), 0);
  /* E is gone (the state does not know it): pruned, uncounted */
  CHECK_INT(qstats_prune(qs), 1);
  CHECK_INT(qstats_flush(qs, now), 1);
  r = last_record();
  CHECK_INT(SEQ(r), 12);
  CHECK_INT(WAITING(r), 0);
  CHECK_COUNTS(r, "window", 0, 0, 0, 0, 0, "null");
  CHECK_COUNTS(r, "today", 0, 0, 0, 0, 0, "null");
  CHECK_INT(json_integer_value(json_object_get(json_object_get(r, "today"), "since_ms")), MIDNIGHT + 86400000LL);
  json_decref(r);
  qstats_destroy(qs);
}

static void test_voicemail_and_delete(void) {
  char err[256];
  reset_records();
  qstats_t *qs = qstats_new(&config, on_record, NULL, err, sizeof(err));
  queue_snapshot(qs, T0);
  /* first seen already connected (answered before the first Notify's ack): offered and answered */
  qcall(qs, 'c', "f6", "CONNECTED", 0, T0 + 1000);
  qcall(qs, 'c', "g7", "QUEUEING", 0, T0 + 1000);
  qcall(qs, 'u', "g7", "ANSWEREDBYVOICEMAIL", 0, T0 + 3000);
  qcall(qs, 'd', "g7", NULL, 0, T0 + 9000); /* after voicemail: not abandoned */
  CHECK_INT(qstats_flush(qs, T0 + 9000), 1);
  json_t *r = last_record();
  CHECK_COUNTS(r, "window", 2, 1, 1, 0, 1, "0.5");
  json_decref(r);
  /* the queue goes: a tombstone */
  feed(qs, SNAP_QUEUE, 'd', "queue:" QGUID, SNAP_LINE_QUEUE, QGUID, "5001", NULL, 0, T0 + 10000);
  CHECK_INT(qstats_flush(qs, T0 + 10000), 1);
  CHECK_STR(records[n_records - 1], "(tombstone)");
  CHECK_INT(qstats_count(qs), 0);
  qstats_destroy(qs);
}

static void test_bad_input(void) {
  char err[256];
  qstats_config_t bad = config;
  bad.timezone = "Mars/Olympus";
  CHECK(qstats_new(&bad, on_record, NULL, err, sizeof(err)) == NULL);
  CHECK_STR(err, "\"Mars/Olympus\" is not a known time zone (no such zoneinfo file)");
  bad.timezone = "../etc/passwd";
  CHECK(qstats_new(&bad, on_record, NULL, err, sizeof(err)) == NULL);
  CHECK_STR(err, "\"../etc/passwd\" is not a time zone name (UTC, Europe/Berlin, ...)");
  CHECK_INT(qstats_timezone_check("UTC", err, sizeof(err)), 0);

  qstats_t *qs = qstats_new(&config, on_record, NULL, err, sizeof(err));
  CHECK_INT(qstats_restore(qs, "{", 1, T0, err, sizeof(err)), -1);
  CHECK_HAS(err, "queue-stats record: ");
  const char *other = "{\"pbx\":\"other\",\"seq\":1,\"queue\":{\"guid\":\"q\"},\"today\":{\"since_ms\":0},"
                      "\"agent_list\":[],\"restore\":{\"v\":1,\"calls\":[],\"buckets\":[]}}";
  CHECK_INT(qstats_restore(qs, other, strlen(other), T0, err, sizeof(err)), -1);
  CHECK_STR(err, "queue-stats record of queue q: pbx \"other\", not \"hq\"");
  const char *v2 = "{\"pbx\":\"hq\",\"seq\":1,\"queue\":{\"guid\":\"q\"},\"today\":{\"since_ms\":0},"
                   "\"agent_list\":[],\"restore\":{\"v\":2,\"calls\":[],\"buckets\":[]}}";
  CHECK_INT(qstats_restore(qs, v2, strlen(v2), T0, err, sizeof(err)), -1);
  CHECK_STR(err, "queue-stats record of queue q: unknown restore format (v 2)");
  CHECK_INT(qstats_count(qs), 0);
  /* a change with a truncated state: no crash, nothing counted but the call */
  feed(qs, SNAP_CALL, 'c', "call:x", SNAP_LINE_QUEUE, QGUID, "5001", "{\"state\":\"QUEU", 0, T0);
  feed(qs, SNAP_USER, 'r', "user:x", SNAP_LINE_USER, U1, "2001", "{\"extn\":", 0, T0);
  CHECK_INT(qstats_flush(qs, T0), 1);
  qstats_destroy(qs);
}

int main(void) {
  char *last = NULL;
  test_script(&last);
  if (last)
    test_restore(last);
  free(last);
  test_voicemail_and_delete();
  test_bad_input();
  reset_records();
  CHECK_DONE();
}
