/*
 * test_snap: the snapshot state and its diff, as scenarios.
 *
 *   01 a user's first Notify is a snapshot read; the same Notify again says nothing
 *   02 one changed field: one update naming exactly that field
 *   03 presence merges the phone state into the user
 *   04 a call's life: create, update, CallLost delete carrying the reason
 *   05 a resubscription renumbers a call: matched by line and gcid
 *   06 a call that ended while disconnected is deleted at resync end
 *   07 Lines: full lists, adds, changes, deletes cascade to the user and its calls
 *   08 state recorded and restored: nothing unchanged is announced, seq continues
 *   09 queues, and a call without gcid keyed by line and callid
 *   10 the state text written from protobuf is jansson's dump of the reference tree (snap_ref.c), for every message type
 *   11 a restored state (parsed, dumped) compares equal to the live one: a restart announces nothing
 *   12 calls made with a referencecallid are reported once (first CallInfo), or lost when only a
 *      CallLost comes (the spec's instant MakeCall failure)
 *   13 two legs of one call on one line are two entities with keys of their own; a parked call is
 *      found by its slot
 *   14 one snapshot model: a new user's first event carries its phone state (whichever part came
 *      first), or goes out without it when its line settles; calls of a snapshot are 'r';
 *      a presence-only entity carries every NotifyPresentity field
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pbfill.h"
#include "snap.h"
#include "snap_ref.h"

#define MAXC 64

/* New call legs take their key's time from this clock: fixed, so the keys are known. */
static int64_t fixed_clock(void) { return 1000; }

typedef struct captured {
  char op;
  char id[160], key[160], partition_key[160];
  unsigned long long seq;
  char *changed, *before, *after, *lost;
  char *record; /* snap_record_write's line, when snap_for_record is set */
} captured_t;

static captured_t changes[MAXC];
static int n_changes;

static char *dump(const json_t *j) { return j ? json_dumps(j, JSON_COMPACT) : strdup("null"); }

static void reset(void) {
  for (int i = 0; i < n_changes; i++) {
    free(changes[i].changed);
    free(changes[i].before);
    free(changes[i].after);
    free(changes[i].lost);
    free(changes[i].record);
  }
  memset(changes, 0, sizeof(changes));
  n_changes = 0;
}

/* A state text as the test keeps it: a copy, or "null"; the text must be what jansson dumps of itself. */
static char *text_or_null(const char *text, size_t len) {
  if (!text)
    return strdup("null");
  CHECK_INT(strlen(text), len);
  json_t *j = json_loads(text, 0, NULL);
  char *again = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  CHECK_STR(text, again ? again : "(not JSON)");
  free(again);
  json_decref(j);
  return strndup(text, len);
}

/* The change's names as a JSON array text. */
static char *names_json(const snap_change_t *c) {
  json_t *a = json_array();
  for (size_t i = 0; i < c->n_names; i++)
    json_array_append_new(a, json_stringn(c->names[i].name, c->names[i].len));
  char *text = json_dumps(a, JSON_COMPACT);
  json_decref(a);
  return text;
}

/* For c, r and d the names are every field of the state, in its order. */
static void check_names_all(const snap_change_t *c, const char *state_text) {
  json_t *j = json_loads(state_text, 0, NULL);
  CHECK_INT(c->n_names, json_object_size(j));
  size_t i = 0;
  const char *name;
  json_t *value;
  json_object_foreach(j, name, value) {
    if (i < c->n_names)
      CHECK(c->names[i].len == strlen(name) && memcmp(c->names[i].name, name, c->names[i].len) == 0);
    i++;
  }
  json_decref(j);
}

static snap_t *recorded_snap; /* for snap_ref_record in the callback */
static snap_t *snap_for_record; /* for snap_record_write in the callback */
static json_t *records;       /* entity id -> last record */

static void capture(void *opaque, const snap_change_t *c) {
  captured_t *x = &changes[n_changes++];
  x->op = c->op;
  snprintf(x->id, sizeof(x->id), "%s", c->entity_id);
  snprintf(x->key, sizeof(x->key), "%s", c->key);
  snprintf(x->partition_key, sizeof(x->partition_key), "%s", c->partition_key ? c->partition_key : "(key)");
  x->seq = (unsigned long long)c->seq;
  x->changed = c->op == 'u' ? names_json(c) : strdup("null");
  x->before = text_or_null(c->before_text, c->before_len);
  x->after = text_or_null(c->after_text, c->after_len);
  /* c, r: every field of after; d: of before */
  if (c->op != 'u')
    check_names_all(c, c->op == 'd' ? c->before_text : c->after_text);
  x->lost = dump(c->lost);
  if (snap_for_record) {
    jbuf_t b = JBUF_INIT;
    x->record = snap_record_write(snap_for_record, c, &b) ? jbuf_dup(&b) : strdup("(gone)");
    jbuf_free(&b);
  }
  if (records && recorded_snap) {
    json_t *r = snap_ref_record(recorded_snap, c);
    if (r)
      json_object_set_new(records, c->entity_id, r);
    else
      json_object_del(records, c->entity_id);
  }
}

static const char *field(const char *json_text, const char *name) {
  static char out[256];
  json_t *j = json_loads(json_text, 0, NULL);
  json_t *v = json_object_get(j, name);
  char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  snprintf(out, sizeof(out), "%s", t ? t : "(absent)");
  free(t);
  json_decref(j);
  return out;
}

static uint8_t G1[16] = {0xdc, 0x51, 0xba, 0x00, 0x08, 0xa3, 0x11, 0xdd,
                         0x80, 0x53, 0x00, 0x50, 0x56, 0x9f, 0x6e, 0xf8};
static uint8_t G2[16] = {0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x33, 0x33,
                         0x44, 0x44, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55};
#define G1S "dc51ba00-08a3-11dd-8053-0050569f6ef8"
#define G2S "11111111-2222-3333-4444-555555555555"
#define Q1S "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeee01"
static uint8_t GCID[9] = {0x01, 0xc0, 0xa8, 0x2a, 0x0b, 0x00, 0x00, 0x03, 0xec};

static void user_init(NotifyUser *u, const char *extn, int dnd) {
  notify_user__init(u);
  u->extn = (char *)extn;
  u->name = "Bergkamp";
  u->featuresavailable = 0x43; /* VALID SAC MAKECALL */
  u->dnd = dnd;
}

/* The presence subscription's phone state of a user. */
static void phone(snap_t *snap, const char *guid, int phonestate) {
  NotifyPresentity p = NOTIFY_PRESENTITY__INIT;
  p.phonestate = phonestate;
  snap_presence_apply(snap, guid, &p, 0);
}

static void s01_user_snapshot(snap_t *snap) {
  NotifyUser u;
  user_init(&u, "2002", 0);
  snap_user_apply(snap, G1S, &u, 1);
  CHECK_INT(n_changes, 0); /* held: its phone state is not known yet */
  CHECK_INT(snap_count(snap, SNAP_USER), 0);
  phone(snap, G1S, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'r');
  CHECK_STR(changes[0].id, "user:" G1S);
  CHECK_STR(changes[0].key, G1S);
  CHECK_INT(changes[0].seq, 1);
  CHECK_STR(changes[0].before, "null");
  CHECK_STR(changes[0].changed, "null");
  CHECK_STR(field(changes[0].after, "guid"), "\"" G1S "\"");
  CHECK_STR(field(changes[0].after, "extn"), "\"2002\"");
  CHECK_STR(field(changes[0].after, "dnd"), "false");
  CHECK_STR(field(changes[0].after, "fwdunumber"), "\"\"");
  CHECK_STR(field(changes[0].after, "absence"), "null");
  CHECK_STR(field(changes[0].after, "featuresavailable"), "67");
  CHECK_STR(field(changes[0].after, "featuresavailable_names"), "[\"VALID\",\"SAC\",\"MAKECALL\"]");
  CHECK_STR(field(changes[0].after, "phonestate"), "0");
  CHECK_STR(field(changes[0].after, "phonestate_name"), "\"idle\"");
  /* the store's record line, byte for byte (state_store.c keeps it, a restart reads it) */
  CHECK_STR(changes[0].record, "{\"kind\":\"presence\",\"key\":\"" G1S "\",\"seq\":1,\"line\":{\"kind\":\"user\","
                               "\"guid\":\"" G1S "\",\"extn\":\"2002\"},\"callid\":0,\"gcid\":\"\",\"v\":2}");
  reset();
  snap_user_apply(snap, G1S, &u, 0);
  CHECK_INT(n_changes, 0);
  CHECK_INT(snap_count(snap, SNAP_USER), 1);
}

static void s02_user_update(snap_t *snap) {
  NotifyUser u;
  user_init(&u, "2002", 1);
  snap_user_apply(snap, G1S, &u, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_INT(changes[0].seq, 2);
  CHECK_STR(changes[0].changed, "[\"dnd\"]");
  CHECK_STR(field(changes[0].before, "dnd"), "false");
  CHECK_STR(field(changes[0].after, "dnd"), "true");
  reset();
  Absence a = ABSENCE__INIT;
  a.msg = 11;
  a.str = "at lunch";
  u.absence = &a;
  snap_user_apply(snap, G1S, &u, 0);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].changed, "[\"absence\"]");
  CHECK_STR(field(changes[0].after, "absence"), "{\"msg\":11,\"str\":\"at lunch\"}");
  CHECK_INT(changes[0].seq, 3);
  reset();
}

static void s03_presence(snap_t *snap) {
  NotifyPresentity p = NOTIFY_PRESENTITY__INIT;
  p.presentity = "2002";
  p.lref = 1;
  p.phonestate = 4;
  snap_presence_apply(snap, G1S, &p, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_STR(changes[0].changed, "[\"phonestate\",\"phonestate_name\"]");
  CHECK_STR(field(changes[0].after, "phonestate_name"), "\"connected\"");
  CHECK_STR(field(changes[0].after, "dnd"), "true");
  reset();
  snap_presence_apply(snap, G1S, &p, 0);
  CHECK_INT(n_changes, 0);
  /* a user Notify keeps the phone state it does not carry */
  NotifyUser u;
  user_init(&u, "2002", 0);
  snap_user_apply(snap, G1S, &u, 0);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].changed, "[\"dnd\",\"absence\"]");
  CHECK_STR(field(changes[0].after, "phonestate"), "4");
  reset();
}

static void call_init(CallInfo *ci, int callid, int state, int with_gcid) {
  call_info__init(ci);
  ci->callid = callid;
  ci->state = state;
  ci->direction = CALL_INFO__DIRECTION__INBOUND;
  ci->featuresavailable = 0x23;
  if (with_gcid) {
    ci->gcid.data = GCID;
    ci->gcid.len = sizeof(GCID);
  }
  ci->calledparty = "2002";
}

static void apply_calls(snap_t *snap, const snap_line_t *line, CallInfo *ci, CallLost *cl) {
  NotifyCallControl cc = NOTIFY_CALL_CONTROL__INIT;
  CallInfo *cis[1] = {ci};
  CallLost *cls[1] = {cl};
  if (ci) {
    cc.n_callinfo = 1;
    cc.callinfo = cis;
  }
  if (cl) {
    cc.n_calllost = 1;
    cc.calllost = cls;
  }
  snap_calls_apply(snap, line, &cc, 0);
}

static const snap_line_t LINE1 = {SNAP_LINE_USER, G1S, "2002"};

static void s04_call_life(snap_t *snap) {
  CallInfo ci;
  call_init(&ci, 1, CALL_INFO__STATE__RINGING, 1);
  apply_calls(snap, &LINE1, &ci, NULL);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'c');
  CHECK_STR(changes[0].id, "call:" G1S ":01c0a82a0b000003ec:1000");
  CHECK_STR(changes[0].key, G1S ":01c0a82a0b000003ec:1000"); /* the leg's own key */
  CHECK_STR(changes[0].partition_key, "01c0a82a0b000003ec"); /* the call's partition */
  CHECK_INT(changes[0].seq, 1);
  CHECK_STR(field(changes[0].after, "state"), "\"RINGING\"");
  CHECK_STR(field(changes[0].after, "gcid"), "\"01c0a82a0b000003ec\"");
  CHECK_STR(field(changes[0].after, "featuresavailable_names"), "[\"DROP\",\"ANSWER\",\"REDIRECT\"]");
  CHECK_STR(field(changes[0].after, "callingparty"), "null");
  CHECK_STR(field(changes[0].after, "localinfo"), "[]");
  reset();
  apply_calls(snap, &LINE1, &ci, NULL); /* same again */
  CHECK_INT(n_changes, 0);
  call_init(&ci, 1, CALL_INFO__STATE__CONNECTED, 1);
  ci.featuresavailable = 0x5;
  apply_calls(snap, &LINE1, &ci, NULL);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_INT(changes[0].seq, 2);
  CHECK_STR(changes[0].changed, "[\"state\",\"featuresavailable\",\"featuresavailable_names\"]");
  CHECK_STR(field(changes[0].before, "state"), "\"RINGING\"");
  CHECK_STR(field(changes[0].after, "state"), "\"CONNECTED\"");
  CHECK_INT(snap_count(snap, SNAP_CALL), 1);
  int32_t callid = 0;
  uint32_t features = 0, features2 = 0;
  CHECK_INT(snap_call_find_on_line(snap, G1S, 0, 1, &callid, &features, &features2), 1);
  CHECK_INT(callid, 1);
  CHECK_INT(features, 5);
  CHECK_INT(snap_call_find_on_line(snap, G1S, 0, 2, &callid, &features, &features2), 0);
  CHECK_INT(snap_call_find_on_line(snap, G2S, 0, 1, &callid, &features, &features2), 0);
  reset();
}

static void s05_resubscription(snap_t *snap) {
  snap_line_resync_begin(snap, G1S);
  CallInfo ci;
  call_init(&ci, 7, CALL_INFO__STATE__CONNECTED, 1);
  ci.featuresavailable = 0x5;
  apply_calls(snap, &LINE1, &ci, NULL);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_STR(changes[0].id, "call:" G1S ":01c0a82a0b000003ec:1000");
  CHECK_STR(changes[0].changed, "[\"callid\"]");
  CHECK_INT(changes[0].seq, 3);
  reset();
  CHECK_INT(snap_line_resync_end(snap, G1S), 0);
  CHECK_INT(n_changes, 0);
  CallLost cl = CALL_LOST__INIT;
  cl.callid = 7;
  cl.reason = 16;
  cl.thisenddropped = 1;
  cl.description = "Normal";
  apply_calls(snap, &LINE1, NULL, &cl);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'd');
  CHECK_INT(changes[0].seq, 4);
  CHECK_STR(changes[0].after, "null");
  CHECK_STR(field(changes[0].before, "callid"), "7");
  CHECK_STR(changes[0].lost, "{\"callid\":7,\"referencecallid\":0,\"reason\":16,\"thisenddropped\":true,"
                             "\"description\":\"Normal\",\"synthetic\":false}");
  CHECK_INT(snap_count(snap, SNAP_CALL), 0);
  reset();
  apply_calls(snap, &LINE1, NULL, &cl); /* lost twice: nothing */
  CHECK_INT(n_changes, 0);
}

static void s06_ended_while_down(snap_t *snap) {
  CallInfo ci;
  call_init(&ci, 9, CALL_INFO__STATE__CONNECTED, 0);
  apply_calls(snap, &LINE1, &ci, NULL);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].id, "call:" G1S ":cid9:1000");
  CHECK_STR(changes[0].key, G1S ":cid9:1000");
  CHECK_STR(changes[0].partition_key, "(key)"); /* no gcid: the key chooses */
  reset();
  snap_line_resync_begin(snap, G1S);
  CHECK_INT(snap_line_resync_end(snap, G1S), 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'd');
  CHECK_INT(changes[0].seq, 2);
  CHECK_STR(field(changes[0].lost, "synthetic"), "true");
  CHECK_STR(field(changes[0].lost, "description"), "\"ended while the bridge was not connected\"");
  reset();
}

static void lines_user(LinesUser *lu, uint8_t *guid, const char *extn, const char *name) {
  lines_user__init(lu);
  lu->guid.data = guid;
  lu->guid.len = 16;
  lu->extn = (char *)extn;
  lu->name = (char *)name;
}

static void s07_lines(snap_t *snap) {
  LinesUser u1, u2;
  LinesUser *adds[2] = {&u1, &u2};
  lines_user(&u1, G1, "2002", "Bergkamp");
  lines_user(&u2, G2, "2003", "Larsen");
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.n_adduser = 2;
  nl.adduser = adds;
  snap_lines_apply(snap, &nl, 1);
  CHECK_INT(n_changes, 2);
  CHECK_INT(changes[0].op, 'r');
  CHECK_STR(changes[0].id, "line:" G1S);
  CHECK_STR(changes[0].after, "{\"kind\":\"user\",\"guid\":\"" G1S "\",\"extn\":\"2002\",\"name\":\"Bergkamp\"}");
  reset();
  /* the same full list: nothing */
  snap_lines_apply(snap, &nl, 1);
  CHECK_INT(n_changes, 0);
  /* a rename */
  NotifyLines ch = NOTIFY_LINES__INIT;
  LinesUser u2b, *chs[1] = {&u2b};
  lines_user(&u2b, G2, "2003", "Larsen J");
  ch.n_changeuser = 1;
  ch.changeuser = chs;
  snap_lines_apply(snap, &ch, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_STR(changes[0].changed, "[\"name\"]");
  reset();
  /* a call on user 1, then a full list without user 1 */
  CallInfo ci;
  call_init(&ci, 3, CALL_INFO__STATE__RINGING, 1);
  apply_calls(snap, &LINE1, &ci, NULL);
  reset();
  NotifyLines only2 = NOTIFY_LINES__INIT;
  LinesUser *one[1] = {&u2b};
  only2.n_adduser = 1;
  only2.adduser = one;
  snap_lines_apply(snap, &only2, 1);
  CHECK_INT(n_changes, 3);
  CHECK_INT(changes[0].op, 'd');
  CHECK_STR(changes[0].id, "call:" G1S ":01c0a82a0b000003ec:1000");
  CHECK_STR(field(changes[0].lost, "description"), "\"line deleted\"");
  CHECK_INT(changes[1].op, 'd');
  CHECK_STR(changes[1].id, "user:" G1S);
  CHECK_INT(changes[1].seq, 6);
  CHECK_INT(changes[2].op, 'd');
  CHECK_STR(changes[2].id, "line:" G1S);
  CHECK_INT(changes[2].seq, 2);
  CHECK_INT(snap_count(snap, SNAP_USER), 0);
  CHECK_INT(snap_count(snap, SNAP_LINE), 1);
  reset();
  /* the user comes back: its seq continues after the delete */
  nl.n_adduser = 1;
  snap_lines_apply(snap, &nl, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'c');
  CHECK_INT(changes[0].seq, 3);
  reset();
}

static void s08_restore(void) {
  records = json_object();
  snap_t *a = snap_new(capture, NULL);
  snap_set_clock(a, fixed_clock);
  recorded_snap = a;
  NotifyUser u;
  user_init(&u, "2002", 0);
  snap_user_apply(a, G1S, &u, 1);
  phone(a, G1S, 0);
  CallInfo ci;
  call_init(&ci, 1, CALL_INFO__STATE__CONNECTED, 1);
  apply_calls(a, &LINE1, &ci, NULL);
  reset();
  recorded_snap = NULL;
  CHECK_INT(json_object_size(records), 2);

  snap_t *b = snap_new(capture, NULL);
  snap_set_clock(b, fixed_clock);
  const char *id;
  json_t *rec;
  char err[256] = "";
  json_object_foreach(records, id, rec) CHECK_INT(snap_restore(b, id, rec, err, sizeof(err)), 0);
  CHECK_INT(snap_count(b, SNAP_USER), 1);
  CHECK_INT(snap_count(b, SNAP_CALL), 1);
  snap_user_apply(b, G1S, &u, 1); /* the fresh snapshot after restart: unchanged */
  CHECK_INT(n_changes, 0);
  u.dnd = 1;
  snap_user_apply(b, G1S, &u, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].seq, 2);
  reset();
  /* the call was not reported again after the restart: it is deleted */
  CHECK_INT(snap_line_resync_end(b, G1S), 1);
  CHECK_INT(changes[0].op, 'd');
  CHECK_INT(changes[0].seq, 2);
  reset();
  CHECK_INT(snap_restore(b, "user:x", json_object_get(records, "user:" G1S), err, sizeof(err)), 0);
  CHECK_INT(snap_restore(b, "user:x", json_object_get(records, "user:" G1S), err, sizeof(err)), -1);
  CHECK_STR(err, "user:x: restored twice");
  json_t *bad = json_pack("{s:s}", "kind", "user");
  CHECK_INT(snap_restore(b, "user:y", bad, err, sizeof(err)), -1);
  CHECK(strncmp(err, "user:y: bad record:", 19) == 0);
  json_decref(bad);
  snap_destroy(a);
  snap_destroy(b);
  json_decref(records);
  records = NULL;
}

static void s09_queue(snap_t *snap) {
  NotifyQueue q = NOTIFY_QUEUE__INIT;
  QueueMember m1 = QUEUE_MEMBER__INIT, *ms[1] = {&m1};
  QueueMembers members = QUEUE_MEMBERS__INIT;
  m1.extn = "2002";
  members.n_member = 1;
  members.member = ms;
  q.extn = "300";
  q.name = "Sales";
  q.servicemode = NOTIFY_QUEUE__SERVICE_MODE__Active;
  q.queuemembers = &members;
  snap_queue_apply(snap, Q1S, &q, 1);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].id, "queue:" Q1S);
  CHECK_STR(field(changes[0].after, "servicemode"), "\"Active\"");
  CHECK_STR(field(changes[0].after, "queuemembers"), "{\"member\":[{\"extn\":\"2002\",\"disabled\":false}]}");
  reset();
  m1.disabled = 1;
  snap_queue_apply(snap, Q1S, &q, 0);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].changed, "[\"queuemembers\"]");
  reset();
  snap_line_t qline = {SNAP_LINE_QUEUE, Q1S, "300"};
  CallInfo ci;
  call_init(&ci, 5, CALL_INFO__STATE__QUEUEING, 1);
  apply_calls(snap, &qline, &ci, NULL);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].id, "call:" Q1S ":01c0a82a0b000003ec:1000");
  CHECK_STR(changes[0].key, Q1S ":01c0a82a0b000003ec:1000"); /* a key of its own ... */
  CHECK_STR(changes[0].partition_key, "01c0a82a0b000003ec"); /* ... the user's leg's partition */
  reset();
}

static void s10_text_is_janssons(void) {
  collect_types(&message__descriptor);
  CHECK_INT(n_types, 68);
  unsigned compared = 0;
  for (size_t t = 0; t < n_types; t++) {
    for (unsigned v = 0; v < max_oneof(types[t]); v++) {
      ProtobufCMessage *msg = fill_message(types[t], v, 0);
      json_t *tree = snap_ref_pb_to_json(msg);
      char *want = json_dumps(tree, JSON_COMPACT | JSON_ENSURE_ASCII);
      char *got = snap_pb_text(msg);
      CHECK_STR(got, want);
      if (got && want && strcmp(got, want) == 0)
        compared++;
      free(want);
      free(got);
      json_decref(tree);
      protobuf_c_message_free_unpacked(msg, NULL);
    }
  }
  CHECK(compared >= 68);
  /* a GUID of 16 bytes as a UUID, featuresavailable with its names (and an unnamed bit in hex) */
  NotifyUser u;
  user_init(&u, "2002", 1);
  u.featuresavailable = (int32_t)0x80000043u;
  char *text = snap_pb_text(&u.base);
  CHECK_STR(field(text, "featuresavailable_names"), "[\"VALID\",\"SAC\",\"MAKECALL\",\"0x80000000\"]");
  CHECK_STR(field(text, "featuresavailable"), "-2147483581");
  free(text);
  LinesUser lu;
  lines_user__init(&lu);
  lu.guid.data = G1;
  lu.guid.len = 16;
  text = snap_pb_text(&lu.base);
  CHECK_STR(field(text, "guid"), "\"" G1S "\"");
  free(text);
}

/* Every user field changed, restored from the recorded text, then the same Notify: no event. */
static void s11_restored_equal(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  NotifyUser u;
  user_init(&u, "2\"0\\2\xc3\xa9", 1);
  u.fullname = "Dennis \xe2\x9c\x93 \xf0\x9f\x93\x9e\ttab";
  Absence ab;
  absence__init(&ab);
  ab.msg = 3;
  ab.str = "back \"soon\"";
  u.absence = &ab;
  snap_user_apply(snap, G2S, &u, 1);
  phone(snap, G2S, 2);
  CHECK_INT(n_changes, 1);
  json_t *state = json_loads(changes[0].after, 0, NULL);
  CHECK(state != NULL);
  json_t *record = json_pack("{s:s,s:s,s:I,s:o,s:{s:s,s:s,s:s}}", "kind", "presence", "key", G2S, "seq",
                             (json_int_t)changes[0].seq, "state", state, "line", "kind", "user", "guid", G2S,
                             "extn", "2002");
  snap_destroy(snap);
  reset();
  snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  char err[256] = "";
  CHECK_INT(snap_restore(snap, "user:" G2S, record, err, sizeof(err)), 0);
  snap_user_apply(snap, G2S, &u, 1);
  CHECK_INT(n_changes, 0);
  u.dnd = 0;
  snap_user_apply(snap, G2S, &u, 0);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].changed, "[\"dnd\"]");
  CHECK_INT(changes[0].seq, 2);
  /* a record whose state is not an object is refused, with a reason */
  json_t *bad = json_pack("{s:s,s:s,s:I,s:i,s:{s:s,s:s,s:s}}", "kind", "presence", "key", G1S, "seq",
                          (json_int_t)1, "state", 5, "line", "kind", "user", "guid", G1S, "extn", "1");
  CHECK_INT(snap_restore(snap, "user:" G1S, bad, err, sizeof(err)), -1);
  CHECK_STR(err, "user:" G1S ": bad record: state is not an object");
  json_decref(bad);
  json_decref(record);
  snap_destroy(snap);
  reset();
}

static char reports[8][256];
static int n_reports;

static void on_report(void *opaque, const snap_call_report_t *r) {
  (void)opaque;
  if (n_reports < 8)
    snprintf(reports[n_reports++], sizeof(reports[0]), "%s ref=%d callid=%d leg=%s lost=%d reason=%d %s",
             r->line_guid, r->referencecallid, r->callid, r->leg ? r->leg : "-", r->lost, r->reason,
             r->description);
}

static void s12_call_reports(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  snap_set_call_report(snap, on_report, NULL);
  n_reports = 0;
  CallInfo ci;
  call_init(&ci, 4, CALL_INFO__STATE__DIALLING, 1);
  ci.referencecallid = 1073741825;
  apply_calls(snap, &LINE1, &ci, NULL);
  ci.state = CALL_INFO__STATE__RINGBACK;
  apply_calls(snap, &LINE1, &ci, NULL); /* reported once, at its first CallInfo */
  CHECK_INT(n_reports, 1);
  CHECK_STR(reports[0], G1S " ref=1073741825 callid=4 leg=" G1S ":01c0a82a0b000003ec:1000 lost=0 reason=0 ");
  CallLost cl = CALL_LOST__INIT;
  cl.callid = 4; /* a known call's loss: its delete, no report */
  cl.referencecallid = 1073741825;
  cl.reason = 16;
  apply_calls(snap, &LINE1, NULL, &cl);
  CHECK_INT(n_reports, 1);
  CHECK_INT(n_changes, 3);
  CHECK_INT(changes[2].op, 'd');
  reset();
  /* a CallLost for a call never reported: no event, a report with the reason */
  cl.callid = 99;
  cl.referencecallid = 77;
  cl.reason = 41;
  cl.description = "no route";
  apply_calls(snap, &LINE1, NULL, &cl);
  CHECK_INT(n_changes, 0);
  CHECK_INT(n_reports, 2);
  CHECK_STR(reports[1], G1S " ref=77 callid=99 leg=- lost=1 reason=41 no route");
  cl.referencecallid = 0; /* without a referencecallid nobody can be told */
  apply_calls(snap, &LINE1, NULL, &cl);
  CHECK_INT(n_reports, 2);
  /* a call without referencecallid: no report */
  call_init(&ci, 5, CALL_INFO__STATE__RINGING, 0);
  apply_calls(snap, &LINE1, &ci, NULL);
  CHECK_INT(n_reports, 2);
  snap_destroy(snap);
  reset();
}

static void s13_two_legs_one_line(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  /* one call (one gcid) twice on one line at once: a held leg and a new one (an intrusion, a pickup) */
  CallInfo a, b;
  call_init(&a, 10, CALL_INFO__STATE__ONHOLD, 1);
  call_init(&b, 11, CALL_INFO__STATE__CONNECTED, 1);
  NotifyCallControl cc = NOTIFY_CALL_CONTROL__INIT;
  CallInfo *both[2] = {&a, &b};
  cc.n_callinfo = 2;
  cc.callinfo = both;
  snap_calls_apply(snap, &LINE1, &cc, 0);
  CHECK_INT(n_changes, 2);
  CHECK_STR(changes[0].key, G1S ":01c0a82a0b000003ec:1000");
  CHECK_STR(changes[1].key, G1S ":01c0a82a0b000003ec:1001"); /* the same millisecond: the next */
  CHECK_STR(changes[0].partition_key, "01c0a82a0b000003ec");
  CHECK_STR(changes[1].partition_key, "01c0a82a0b000003ec");
  CHECK_STR(field(changes[0].after, "leg"), "\"" G1S ":01c0a82a0b000003ec:1000\"");
  CHECK_STR(field(changes[1].after, "leg"), "\"" G1S ":01c0a82a0b000003ec:1001\"");
  CHECK_INT(snap_count(snap, SNAP_CALL), 2);
  reset();
  /* each changes on its own */
  b.state = CALL_INFO__STATE__ONHOLD;
  snap_calls_apply(snap, &LINE1, &cc, 0);
  CHECK_INT(n_changes, 1);
  CHECK_STR(changes[0].key, G1S ":01c0a82a0b000003ec:1001");
  CHECK_STR(changes[0].changed, "[\"state\"]");
  reset();
  /* a resubscription renumbers both: each is matched again, none is made anew */
  snap_line_resync_begin(snap, G1S);
  a.callid = 20;
  b.callid = 21;
  snap_calls_apply(snap, &LINE1, &cc, 0);
  CHECK_INT(n_changes, 2);
  CHECK_INT(changes[0].op, 'u');
  CHECK_INT(changes[1].op, 'u');
  CHECK_STR(changes[0].changed, "[\"callid\"]");
  CHECK_STR(changes[1].changed, "[\"callid\"]");
  CHECK(strcmp(changes[0].key, changes[1].key) != 0);
  CHECK_INT(snap_line_resync_end(snap, G1S), 0);
  CHECK_INT(snap_count(snap, SNAP_CALL), 2);
  reset();
  /* a parked call is found by its slot, on the park server's line */
  snap_line_t park = {SNAP_LINE_PARK, "parkserver", ""};
  CallInfo p;
  call_init(&p, 30, CALL_INFO__STATE__ONHOLD, 1);
  p.parkslot = "1#";
  p.featuresavailable = 0x202011;
  apply_calls(snap, &park, &p, NULL);
  CHECK_STR(changes[0].key, "parkserver:01c0a82a0b000003ec:1000");
  int32_t callid = 0;
  uint32_t f = 0, f2 = 0;
  CHECK_INT(snap_park_find(snap, "1#", &callid, &f, &f2), 1);
  CHECK_INT(callid, 30);
  CHECK_INT(f, 0x202011);
  CHECK_INT(snap_park_find(snap, "2", &callid, &f, &f2), 0);
  CallLost cl = CALL_LOST__INIT;
  cl.callid = 30;
  apply_calls(snap, &park, NULL, &cl);
  CHECK_INT(snap_park_find(snap, "1#", &callid, &f, &f2), 0);
  snap_destroy(snap);
  reset();
}

static void s14_one_snapshot_model(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  NotifyUser u;
  user_init(&u, "2003", 1);
  /* the phone state first, then the NotifyUser: one event, whole */
  phone(snap, G2S, 4);
  CHECK_INT(n_changes, 0);
  snap_user_apply(snap, G2S, &u, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'r');
  CHECK_INT(changes[0].seq, 1);
  CHECK_STR(field(changes[0].after, "dnd"), "true");
  CHECK_STR(field(changes[0].after, "phonestate"), "4");
  CHECK_STR(field(changes[0].after, "phonestate_name"), "\"connected\"");
  reset();
  /* a user added later ('c'), whose phone state never comes: out when its line settles */
  user_init(&u, "2004", 0);
  snap_user_apply(snap, G1S, &u, 0);
  u.dnd = 1; /* a second NotifyUser while held: the latest counts, the first's op stays */
  snap_user_apply(snap, G1S, &u, 1);
  CHECK_INT(n_changes, 0);
  CHECK_INT(snap_line_resync_end(snap, G1S), 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'c');
  CHECK_STR(field(changes[0].after, "dnd"), "true");
  CHECK_STR(field(changes[0].after, "phonestate"), "null");
  CHECK_STR(field(changes[0].after, "phonestate_name"), "null");
  reset();
  phone(snap, G1S, 0); /* then it comes: an update */
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_STR(changes[0].changed, "[\"phonestate\",\"phonestate_name\"]");
  reset();
  /* calls of a snapshot (up when the line was subscribed, a refresh) are snapshot reads */
  CallInfo ci;
  call_init(&ci, 2, CALL_INFO__STATE__CONNECTED, 1);
  NotifyCallControl cc = NOTIFY_CALL_CONTROL__INIT;
  CallInfo *one[1] = {&ci};
  cc.n_callinfo = 1;
  cc.callinfo = one;
  snap_calls_apply(snap, &LINE1, &cc, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'r');
  reset();
  snap_calls_apply(snap, &LINE1, &cc, 1); /* a refresh that changes nothing: nothing */
  CHECK_INT(n_changes, 0);
  ci.state = CALL_INFO__STATE__ONHOLD;
  snap_calls_apply(snap, &LINE1, &cc, 1); /* a refresh that reveals a change: an update */
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  reset();
  /* a presence-only entity: every NotifyPresentity field (lref is the bridge's, not kept) */
  NotifyPresentity p = NOTIFY_PRESENTITY__INIT;
  Absence ab = ABSENCE__INIT;
  ab.msg = 2;
  ab.str = "back at 3";
  p.presentity = "alice@partner.example";
  p.lref = 0x40000000;
  p.sac = 1;
  p.phonestate = 4;
  p.absence = &ab;
  p.app = "In a meeting";
  p.fwdu = 1;
  p.vmunread_messages = 3;
  p.noapphandler = 1;
  snap_presentity_apply(snap, "alice@partner.example", &p, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'r');
  CHECK_STR(changes[0].id, "presentity:alice@partner.example");
  CHECK_STR(changes[0].key, "alice@partner.example");
  CHECK_STR(changes[0].after, "{\"presentity\":\"alice@partner.example\",\"sac\":true,\"phonestate\":4,"
                              "\"phonestate_name\":\"connected\",\"absence\":{\"msg\":2,\"str\":\"back at 3\"},"
                              "\"app\":\"In a meeting\",\"fwdu\":true,\"vmunread_messages\":3,\"noapphandler\":true}");
  reset();
  p.lref = 7; /* another lref (a new connection): the same state */
  snap_presentity_apply(snap, "alice@partner.example", &p, 1);
  CHECK_INT(n_changes, 0);
  p.app = "";
  p.absence = NULL;
  snap_presentity_apply(snap, "alice@partner.example", &p, 0);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'u');
  CHECK_STR(changes[0].changed, "[\"absence\",\"app\"]");
  CHECK_INT(changes[0].seq, 2);
  CHECK_INT(snap_count(snap, SNAP_USER), 3);
  /* a user whose phone was busy when its record came may have calls up: a snapshot's are 'r' ... */
  snap_line_t line2 = {SNAP_LINE_USER, G2S, "2003"};
  CallInfo c2;
  call_init(&c2, 40, CALL_INFO__STATE__CONNECTED, 0);
  cc.callinfo = (CallInfo *[]){&c2};
  reset();
  snap_calls_apply(snap, &line2, &cc, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'r');
  /* ... one idle then had none: a first report that looks like a snapshot is a new call */
  phone(snap, G2S, 0);
  user_init(&u, "2003", 1);
  snap_user_apply(snap, G2S, &u, 0);
  reset();
  call_init(&c2, 41, CALL_INFO__STATE__RINGING, 0);
  snap_calls_apply(snap, &line2, &cc, 1);
  CHECK_INT(n_changes, 1);
  CHECK_INT(changes[0].op, 'c');
  snap_destroy(snap);
  reset();
}

int main(void) {
  s10_text_is_janssons();
  s14_one_snapshot_model();
  s12_call_reports();
  s13_two_legs_one_line();
  s11_restored_equal();
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  snap_for_record = snap;
  s01_user_snapshot(snap);
  snap_for_record = NULL;
  reset();
  s02_user_update(snap);
  s03_presence(snap);
  s04_call_life(snap);
  s05_resubscription(snap);
  s06_ended_while_down(snap);
  s07_lines(snap);
  snap_destroy(snap);
  s08_restore();
  snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  s09_queue(snap);
  snap_destroy(snap);
  reset();
  return check_done();
}
