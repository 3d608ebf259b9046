/*
 * test_snap_lookup: the command stage's lookups (snap_line_find,
 * snap_call_find_on_line) answer from indexes kept as lines and calls change.
 *
 *   01 a user line by GUID (any case) and by extension; a queue also by name
 *   02 a line renumbered: found under its new extension only
 *   03 two lines sharing an extension for a moment: the survivor keeps it
 *   04 a deleted line is not found; added again, it is
 *   05 a call by callid and by referencecallid; gone after its CallLost
 *   06 a renumbered call (resubscription) is still found by referencecallid
 *   07 restored state (snap_restore) is indexed too
 *   08 3,000 users: lookups by extension stay correct (the index, not a scan)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "snap.h"
#include "snap_ref.h"

/* New call legs take their key's time from this clock: fixed, so the keys are known. */
static int64_t fixed_clock(void) { return 1000; }

static json_t *records; /* entity id -> last record (for 07) */
static snap_t *recorded;

static void capture(void *opaque, const snap_change_t *c) {
  (void)opaque;
  if (!recorded)
    return;
  json_t *r = snap_ref_record(recorded, c);
  if (r)
    json_object_set_new(records, c->entity_id, r);
  else
    json_object_del(records, c->entity_id);
}

static void guid_of(int n, uint8_t guid[16]) {
  memset(guid, 0, 16);
  guid[0] = 0xAB;
  guid[14] = (uint8_t)(n >> 8);
  guid[15] = (uint8_t)n;
}

static void guid_text(int n, char *out, size_t size) {
  snprintf(out, size, "ab000000-0000-0000-0000-00000000%04x", n);
}

/* One NotifyLines: users 1..n_users (extension 2000 + i) and, when with_queue, queue 900 "Sales". */
static void lines(snap_t *snap, int n_users, int first_extn, int with_queue, int full) {
  LinesUser *users = calloc((size_t)n_users, sizeof(*users));
  LinesUser **adds = calloc((size_t)n_users, sizeof(*adds));
  uint8_t(*guids)[16] = calloc((size_t)n_users + 1, 16);
  char(*extns)[16] = calloc((size_t)n_users, 16);
  for (int i = 0; i < n_users; i++) {
    lines_user__init(&users[i]);
    guid_of(i + 1, guids[i]);
    snprintf(extns[i], 16, "%d", first_extn + i);
    users[i].guid.data = guids[i];
    users[i].guid.len = 16;
    users[i].extn = extns[i];
    users[i].name = "User";
    adds[i] = &users[i];
  }
  LinesQueue q;
  LinesQueue *qs[1] = {&q};
  lines_queue__init(&q);
  guid_of(0xF900, guids[n_users]);
  q.guid.data = guids[n_users];
  q.guid.len = 16;
  q.extn = "900";
  q.name = "Sales";
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.n_adduser = (size_t)n_users;
  nl.adduser = adds;
  if (with_queue) {
    nl.n_addqueue = 1;
    nl.addqueue = qs;
  }
  snap_lines_apply(snap, &nl, full);
  free(users);
  free(adds);
  free(guids);
  free(extns);
}

static void change_user(snap_t *snap, int n, const char *extn) {
  uint8_t guid[16];
  guid_of(n, guid);
  LinesUser u;
  LinesUser *us[1] = {&u};
  lines_user__init(&u);
  u.guid.data = guid;
  u.guid.len = 16;
  u.extn = (char *)extn;
  u.name = "User";
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.n_changeuser = 1;
  nl.changeuser = us;
  snap_lines_apply(snap, &nl, 0);
}

static void delete_user(snap_t *snap, int n) {
  uint8_t guid[16];
  guid_of(n, guid);
  LinesUser u;
  LinesUser *us[1] = {&u};
  lines_user__init(&u);
  u.guid.data = guid;
  u.guid.len = 16;
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.n_deleteuser = 1;
  nl.deleteuser = us;
  snap_lines_apply(snap, &nl, 0);
}

static const char *find(snap_t *snap, snap_line_kind_t kind, const char *name) {
  static char guid[64];
  snap_line_t line;
  if (!snap_line_find(snap, kind, name, &line))
    return "(none)";
  snprintf(guid, sizeof(guid), "%s", line.guid);
  return guid;
}

static void s01_find(snap_t *snap) {
  char g1[64], gq[64];
  guid_text(1, g1, sizeof(g1));
  guid_text(0xF900, gq, sizeof(gq));
  CHECK_STR(find(snap, SNAP_LINE_USER, "2001"), g1);
  CHECK_STR(find(snap, SNAP_LINE_USER, g1), g1);
  CHECK_STR(find(snap, SNAP_LINE_USER, "AB000000-0000-0000-0000-000000000001"), g1);
  CHECK_STR(find(snap, SNAP_LINE_QUEUE, "900"), gq);
  CHECK_STR(find(snap, SNAP_LINE_QUEUE, "Sales"), gq);
  CHECK_STR(find(snap, SNAP_LINE_QUEUE, gq), gq);
  /* the kind must match: a user is not a queue, a queue's name is not a user's */
  CHECK_STR(find(snap, SNAP_LINE_QUEUE, "2001"), "(none)");
  CHECK_STR(find(snap, SNAP_LINE_USER, "900"), "(none)");
  CHECK_STR(find(snap, SNAP_LINE_USER, "Sales"), "(none)");
  CHECK_STR(find(snap, SNAP_LINE_USER, "2999"), "(none)");
  CHECK_STR(find(snap, SNAP_LINE_USER, ""), "(none)");
  snap_line_t line;
  CHECK_INT(snap_line_find(snap, SNAP_LINE_USER, "2002", &line), 1);
  CHECK_STR(line.extn, "2002");
  CHECK_INT(line.kind, SNAP_LINE_USER);
}

static void s02_renumbered(snap_t *snap) {
  char g2[64];
  guid_text(2, g2, sizeof(g2));
  change_user(snap, 2, "2102");
  CHECK_STR(find(snap, SNAP_LINE_USER, "2102"), g2);
  CHECK_STR(find(snap, SNAP_LINE_USER, "2002"), "(none)");
  change_user(snap, 2, "2002");
  CHECK_STR(find(snap, SNAP_LINE_USER, "2002"), g2);
  CHECK_STR(find(snap, SNAP_LINE_USER, "2102"), "(none)");
}

static void s03_shared_extension(snap_t *snap) {
  char g3[64], g4[64];
  guid_text(3, g3, sizeof(g3));
  guid_text(4, g4, sizeof(g4));
  change_user(snap, 4, "2003"); /* 4 takes 2003 while 3 still has it */
  CHECK_STR(find(snap, SNAP_LINE_USER, "2003"), g4);
  change_user(snap, 4, "2004"); /* and gives it back: 3 holds it again */
  CHECK_STR(find(snap, SNAP_LINE_USER, "2003"), g3);
  CHECK_STR(find(snap, SNAP_LINE_USER, "2004"), g4);
  change_user(snap, 4, "2003");
  delete_user(snap, 4); /* the holder goes: 3 holds it again */
  CHECK_STR(find(snap, SNAP_LINE_USER, "2003"), g3);
  CHECK_STR(find(snap, SNAP_LINE_USER, g4), "(none)");
}

static void s04_deleted(snap_t *snap) {
  char g5[64];
  guid_text(5, g5, sizeof(g5));
  delete_user(snap, 5);
  CHECK_STR(find(snap, SNAP_LINE_USER, "2005"), "(none)");
  CHECK_STR(find(snap, SNAP_LINE_USER, g5), "(none)");
  change_user(snap, 5, "2005"); /* a change of an unknown line adds it */
  CHECK_STR(find(snap, SNAP_LINE_USER, "2005"), g5);
}

static void call(snap_t *snap, const snap_line_t *line, int callid, int ref, int lost) {
  NotifyCallControl cc = NOTIFY_CALL_CONTROL__INIT;
  CallInfo ci;
  CallLost cl;
  CallInfo *cis[1] = {&ci};
  CallLost *cls[1] = {&cl};
  static uint8_t gcid[9] = {0x01, 0xc0, 0xa8, 0x2a, 0x0b, 0x00, 0x00, 0x03, 0xec};
  if (lost) {
    call_lost__init(&cl);
    cl.callid = callid;
    cc.n_calllost = 1;
    cc.calllost = cls;
  } else {
    call_info__init(&ci);
    ci.callid = callid;
    ci.referencecallid = ref;
    ci.featuresavailable = 0x23;
    ci.gcid.data = gcid;
    ci.gcid.len = sizeof(gcid);
    cc.n_callinfo = 1;
    cc.callinfo = cis;
  }
  snap_calls_apply(snap, line, &cc, 0);
}

static int find_call(snap_t *snap, const char *guid, int by_ref, int value) {
  int32_t callid = -1;
  uint32_t f = 0, f2 = 0;
  if (!snap_call_find_on_line(snap, guid, by_ref, value, &callid, &f, &f2))
    return -1;
  CHECK_INT(f, 0x23);
  return callid;
}

static void s05_calls(snap_t *snap) {
  char g1[64], g2[64];
  guid_text(1, g1, sizeof(g1));
  guid_text(2, g2, sizeof(g2));
  snap_line_t line = {SNAP_LINE_USER, g1, "2001"};
  call(snap, &line, 7, 4242, 0);
  CHECK_INT(find_call(snap, g1, 0, 7), 7);
  CHECK_INT(find_call(snap, g1, 1, 4242), 7);
  CHECK_INT(find_call(snap, g2, 1, 4242), -1); /* another line */
  CHECK_INT(find_call(snap, g1, 1, 0), -1);    /* 0 is no referencecallid */
  call(snap, &line, 7, 4242, 1);
  CHECK_INT(find_call(snap, g1, 0, 7), -1);
  CHECK_INT(find_call(snap, g1, 1, 4242), -1);
}

static void s06_renumbered_call(snap_t *snap) {
  char g1[64];
  guid_text(1, g1, sizeof(g1));
  snap_line_t line = {SNAP_LINE_USER, g1, "2001"};
  call(snap, &line, 8, 5150, 0);
  snap_line_resync_begin(snap, g1);
  call(snap, &line, 18, 5150, 0); /* same gcid, new callid */
  CHECK_INT(snap_line_resync_end(snap, g1), 0);
  CHECK_INT(find_call(snap, g1, 1, 5150), 18);
  CHECK_INT(find_call(snap, g1, 0, 8), -1);
  call(snap, &line, 18, 0, 0); /* referencecallid cleared */
  CHECK_INT(find_call(snap, g1, 1, 5150), -1);
  call(snap, &line, 18, 0, 1);
}

static void s07_restored(void) {
  records = json_object();
  snap_t *a = snap_new(capture, NULL);
  snap_set_clock(a, fixed_clock);
  recorded = a;
  lines(a, 3, 2001, 1, 1);
  char g1[64], gq[64];
  guid_text(1, g1, sizeof(g1));
  guid_text(0xF900, gq, sizeof(gq));
  snap_line_t line = {SNAP_LINE_USER, g1, "2001"};
  call(a, &line, 9, 777, 0);
  recorded = NULL;
  snap_destroy(a);
  snap_t *b = snap_new(capture, NULL);
  snap_set_clock(b, fixed_clock);
  const char *id;
  json_t *rec;
  char errstr[256];
  json_object_foreach(records, id, rec) CHECK_INT(snap_restore(b, id, rec, errstr, sizeof(errstr)), 0);
  CHECK_STR(find(b, SNAP_LINE_USER, "2002"), "ab000000-0000-0000-0000-000000000002");
  CHECK_STR(find(b, SNAP_LINE_QUEUE, "Sales"), gq);
  CHECK_INT(find_call(b, g1, 1, 777), 9);
  snap_destroy(b);
  json_decref(records);
  records = NULL;
}

static void s08_many(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  lines(snap, 3000, 10000, 1, 1);
  int wrong = 0;
  for (int i = 0; i < 3000; i++) {
    char extn[16], guid[64];
    snprintf(extn, sizeof(extn), "%d", 10000 + i);
    guid_text(i + 1, guid, sizeof(guid));
    if (strcmp(find(snap, SNAP_LINE_USER, extn), guid) != 0)
      wrong++;
  }
  CHECK_INT(wrong, 0);
  snap_destroy(snap);
}

int main(void) {
  snap_t *snap = snap_new(capture, NULL);
  snap_set_clock(snap, fixed_clock);
  lines(snap, 5, 2001, 1, 1);
  s01_find(snap);
  s02_renumbered(snap);
  s03_shared_extension(snap);
  s04_deleted(snap);
  s05_calls(snap);
  s06_renumbered_call(snap);
  snap_destroy(snap);
  s07_restored();
  s08_many();
  CHECK_DONE();
}
