/*
 * test_subs: the subscription manager, fed by hand, its messages captured.
 *
 *   01 connect: Lines (flags 7) first, nothing else until its Notify
 *   02 the full Lines list: presence (first), users, queues, park server, paced by the window
 *   03 responses: active; each answer lets one more request out
 *   04 a retryable error: counted, retried after backoff with the same id
 *   05 a final error: failed, not retried
 *   06 SubscribeTerminated: a fresh subscription with a new subscribe_id
 *   07 Lines deletes: SubscribeEnd, presence entry removed
 *   08 refresh at 80% of the timeout; settle after the grace; resync done
 *   09 no answer in time: retried
 *   10 what a Notify is: a record's first, the calls already up (the report right after the
 *      record, within the grace), a refresh (refreshinstance up; presence full again), a live
 *      report; the park server's first report after the grace is live; presence-only entities
 *      watched by the presence subscription
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec_tables.h"
#include "config.h"
#include "subs.h"

#define MAXM 256
static Message *sent[MAXM];
static int n_sent;
static int32_t next_rid = 1;
static char fresh[16][64];
static int n_fresh, n_settled, resync_done_calls;
static size_t done_active, done_failed;

static int h_send(void *opaque, const Message *msg) {
  size_t len = protobuf_c_message_get_packed_size(&msg->base);
  uint8_t *buf = malloc(len ? len : 1);
  protobuf_c_message_pack(&msg->base, buf);
  sent[n_sent++] = message__unpack(NULL, len, buf);
  free(buf);
  return 0;
}
static int32_t h_requestid(void *opaque) { return next_rid++; }
static void h_fresh(void *opaque, const char *guid) { snprintf(fresh[n_fresh++ % 16], 64, "%s", guid); }
static int h_settled(void *opaque, const char *guid, int32_t id) {
  n_settled++;
  return 0;
}
static void h_done(void *opaque, size_t active, size_t failed) {
  resync_done_calls++;
  done_active = active;
  done_failed = failed;
}
static const subs_handlers_t H = {h_send, h_requestid, h_fresh, h_settled, h_done};

static void clear_sent(void) {
  for (int i = 0; i < n_sent; i++)
    message__free_unpacked(sent[i], NULL);
  n_sent = 0;
}

static void respond(subs_t *subs, int32_t requestid, int result, int64_t now) {
  RequestResponse r = REQUEST_RESPONSE__INIT;
  r.requestid = requestid;
  r.result = result;
  CHECK_INT(subs_response(subs, &r, now), 0);
}

static uint8_t G[4][16] = {{1}, {2}, {3}, {4}};

static void lines_user(LinesUser *u, int i, const char *extn) {
  lines_user__init(u);
  u->guid.data = G[i];
  u->guid.len = 16;
  u->extn = (char *)extn;
  u->name = "n";
}

/* A Notify of subscription `id` carrying `kind` (callcontrol: with refreshinstance; presence: full). */
static int notify_of(subs_t *subs, int32_t id, int32_t notify_id, Notify__PayloadCase kind, int32_t instance,
                     int64_t now, subs_target_t *target) {
  Notify n = NOTIFY__INIT;
  NotifyCallControl cc = NOTIFY_CALL_CONTROL__INIT;
  NotifyPresence pr = NOTIFY_PRESENCE__INIT;
  NotifyUser u = NOTIFY_USER__INIT;
  NotifyLines l = NOTIFY_LINES__INIT;
  n.subscribe_id = id;
  n.notify_id = notify_id;
  n.payload_case = kind;
  cc.refreshinstance = instance;
  pr.full = instance;
  if (kind == NOTIFY__PAYLOAD_CALLCONTROL)
    n.callcontrol = &cc;
  else if (kind == NOTIFY__PAYLOAD_PRESENCE)
    n.presence = &pr;
  else if (kind == NOTIFY__PAYLOAD_USER)
    n.user = &u;
  else if (kind == NOTIFY__PAYLOAD_LINES)
    n.lines = &l;
  return subs_notify(subs, &n, now, target);
}

static void s10_what_a_notify_is(void) {
  char *argv[] = {"t", "--resync_grace_ms=500", "--presence_entities= alice@partner.example , sip:bob@x,", NULL};
  char *envp[] = {"MTCTI3_IPO_URL=wss://x/", "MTCTI3_IPO_USER=u", "MTCTI3_IPO_PASSWORD=p",
                  "MTCTI3_KAFKA_BOOTSTRAP=k:1", NULL};
  config_t *config;
  config_action_t action;
  char err[256];
  subs_target_t t;
  CHECK_INT(config_load(3, argv, envp, stdout, &config, &action, err, sizeof(err)), 0);
  subs_t *subs = subs_new(config, &H, NULL);
  int64_t now = 50000;
  clear_sent();
  subs_connected(subs, now);
  int32_t lines_id = sent[0]->subscribe->subscribe_id;
  respond(subs, sent[0]->subscribe->requestid, 0, now);
  clear_sent();
  CHECK_INT(notify_of(subs, lines_id, 1, NOTIFY__PAYLOAD_LINES, 0, now, &t), 0);
  CHECK(t.first && t.snapshot && !t.refresh);
  LinesUser u0, *users[1] = {&u0};
  lines_user(&u0, 0, "201");
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.flags = CODEC_LN_PARKSERVER;
  nl.n_adduser = 1;
  nl.adduser = users;
  subs_lines(subs, &nl, 1, now);
  CHECK_INT(n_sent, 3); /* presence, the user, the park server */
  int32_t presence_id = sent[0]->subscribe->subscribe_id, user_id = sent[1]->subscribe->subscribe_id;
  int32_t park_id = sent[2]->subscribe->subscribe_id;
  /* presence watches the user and both presence-only entities */
  SubscribePresence *sp = sent[0]->subscribe->presence;
  CHECK_INT(sp->n_entry, 3);
  CHECK_INT(sp->flags, 3);
  CHECK_STR(sp->entry[0]->presentity, "201");
  CHECK_STR(sp->entry[1]->presentity, "alice@partner.example");
  CHECK_INT(sp->entry[1]->lref, 0x40000000);
  CHECK_STR(sp->entry[2]->presentity, "sip:bob@x");
  CHECK_INT(sp->entry[2]->lref, 0x40000001);
  for (int i = 0; i < 3; i++)
    respond(subs, sent[i]->subscribe->requestid, 0, now);
  clear_sent();
  CHECK_STR(subs_presence_entity(subs, 0x40000001, NULL), "sip:bob@x");
  CHECK_STR(subs_presence_entity(subs, 0, "alice@partner.example"), "alice@partner.example");
  CHECK(subs_presence_entity(subs, 0x40000002, "carol@x") == NULL);
  CHECK(subs_presence_entity(subs, 1, "201") == NULL);
  /* the user's record, then the calls already up: both snapshots */
  CHECK_INT(notify_of(subs, user_id, 1, NOTIFY__PAYLOAD_USER, 0, now + 10, &t), 0);
  CHECK(t.first && t.snapshot && !t.refresh);
  subs_notify_acked(subs, user_id, 1, now + 60); /* the record's ack, after Kafka took its event */
  CHECK_INT(notify_of(subs, user_id, 2, NOTIFY__PAYLOAD_CALLCONTROL, 1, now + 100, &t), 0);
  CHECK(!t.first && t.snapshot && !t.refresh);
  /* a live report, then a refresh (refreshinstance up), then live again */
  CHECK_INT(notify_of(subs, user_id, 3, NOTIFY__PAYLOAD_CALLCONTROL, 1, now + 200, &t), 0);
  CHECK(!t.snapshot && !t.refresh);
  CHECK_INT(notify_of(subs, user_id, 4, NOTIFY__PAYLOAD_CALLCONTROL, 2, now + 5000, &t), 0);
  CHECK(t.snapshot && t.refresh == 2);
  CHECK_INT(notify_of(subs, user_id, 5, NOTIFY__PAYLOAD_CALLCONTROL, 2, now + 5100, &t), 0);
  CHECK(!t.snapshot && !t.refresh);
  /* the park server's first report, after the grace: a call parked now, live */
  CHECK_INT(notify_of(subs, park_id, 1, NOTIFY__PAYLOAD_CALLCONTROL, 2, now + 600, &t), 0);
  CHECK(t.first && !t.snapshot);
  /* presence: the first, full again (a refresh), a change */
  CHECK_INT(notify_of(subs, presence_id, 1, NOTIFY__PAYLOAD_PRESENCE, 1, now, &t), 0);
  CHECK(t.first && t.snapshot);
  CHECK_INT(notify_of(subs, presence_id, 2, NOTIFY__PAYLOAD_PRESENCE, 1, now + 7000, &t), 0);
  CHECK(!t.first && t.snapshot && !t.refresh);
  CHECK_INT(notify_of(subs, presence_id, 3, NOTIFY__PAYLOAD_PRESENCE, 0, now + 7100, &t), 0);
  CHECK(!t.snapshot);
  /* a resubscription's answer is a snapshot again: the calls up then */
  SubscribeTerminated st = SUBSCRIBE_TERMINATED__INIT;
  st.subscribe_id = user_id;
  subs_terminated(subs, &st, now + 8000);
  int32_t again = sent[0]->subscribe->subscribe_id;
  respond(subs, sent[0]->subscribe->requestid, 0, now + 8000);
  clear_sent();
  CHECK_INT(notify_of(subs, again, 1, NOTIFY__PAYLOAD_USER, 0, now + 8010, &t), 0);
  CHECK(t.snapshot);
  subs_notify_acked(subs, again, 1, now + 9000); /* a slow Kafka: the ack long after the record */
  CHECK_INT(notify_of(subs, again, 2, NOTIFY__PAYLOAD_CALLCONTROL, 2, now + 9050, &t), 0);
  CHECK(t.snapshot && !t.refresh); /* right after the ack: the calls up, however late */
  /* once more: a first call report long after the record's ack is a call that started since */
  st.subscribe_id = again;
  subs_terminated(subs, &st, now + 10000);
  int32_t third = sent[0]->subscribe->subscribe_id;
  respond(subs, sent[0]->subscribe->requestid, 0, now + 10000);
  clear_sent();
  CHECK_INT(notify_of(subs, third, 1, NOTIFY__PAYLOAD_USER, 0, now + 10010, &t), 0);
  subs_notify_acked(subs, third, 1, now + 10020);
  CHECK_INT(notify_of(subs, third, 2, NOTIFY__PAYLOAD_CALLCONTROL, 2, now + 10521, &t), 0);
  CHECK(!t.snapshot && !t.refresh);
  subs_destroy(subs);
  config_destroy(config);
  clear_sent();
}


int main(void) {
  char *argv[] = {"t", "--subscribe_window=2", "--subscribe_timeout=100", "--resync_grace_ms=500",
                  "--request_timeout_ms=1000", NULL};
  char *envp[] = {"MTCTI3_IPO_URL=wss://x/", "MTCTI3_IPO_USER=u", "MTCTI3_IPO_PASSWORD=p",
                  "MTCTI3_KAFKA_BOOTSTRAP=k:1", NULL};
  config_t *config;
  config_action_t action;
  char err[256];
  CHECK_INT(config_load(5, argv, envp, stdout, &config, &action, err, sizeof(err)), 0);
  subs_t *subs = subs_new(config, &H, NULL);
  int64_t now = 1000;

  /* 01 */
  subs_connected(subs, now);
  CHECK_INT(n_sent, 1);
  CHECK_INT(sent[0]->payload_case, MESSAGE__PAYLOAD_SUBSCRIBE);
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_LINES);
  CHECK_INT(sent[0]->subscribe->lines->flags, 7);
  CHECK_INT(sent[0]->subscribe->timeout, 100);
  int32_t lines_id = sent[0]->subscribe->subscribe_id;
  respond(subs, sent[0]->subscribe->requestid, 0, now);
  clear_sent();

  /* 02: 3 users, 1 queue, park server available; window 2 */
  subs_target_t target;
  CHECK_INT(notify_of(subs, lines_id, 1, NOTIFY__PAYLOAD_LINES, 0, now, &target), 0);
  CHECK_INT(target.kind, SUBS_LINES);
  CHECK_INT(target.first, 1);
  LinesUser u0, u1, u2;
  LinesQueue q0 = LINES_QUEUE__INIT;
  lines_user(&u0, 0, "201");
  lines_user(&u1, 1, "202");
  lines_user(&u2, 2, "203");
  q0.guid.data = G[3];
  q0.guid.len = 16;
  q0.extn = "500";
  LinesUser *users[3] = {&u0, &u1, &u2};
  LinesQueue *queues[1] = {&q0};
  NotifyLines nl = NOTIFY_LINES__INIT;
  nl.flags = CODEC_LN_PARKSERVER;
  nl.n_adduser = 3;
  nl.adduser = users;
  nl.n_addqueue = 1;
  nl.addqueue = queues;
  subs_lines(subs, &nl, 1, now);
  CHECK_INT(n_fresh, 5); /* 3 users, the queue, the park server */
  CHECK_INT(n_sent, 2);  /* the window: presence first, then the first user */
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_PRESENCE);
  CHECK_INT(sent[0]->subscribe->presence->n_entry, 3);
  CHECK_INT(sent[0]->subscribe->presence->flags, 3);
  int32_t presence_id = sent[0]->subscribe->subscribe_id;
  int32_t rid_presence = sent[0]->subscribe->requestid;
  CHECK_INT(sent[1]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_USER);
  CHECK_INT(sent[1]->subscribe->user->flags, 0xf);
  CHECK_INT(sent[1]->subscribe->user->ccflags, 0x40fb);
  CHECK_INT(sent[1]->subscribe->user->guid.len, 16);
  CHECK_INT(sent[1]->subscribe->user->guid.data[0], 1);
  CHECK(sent[0]->subscribe->subscribe_id != sent[1]->subscribe->subscribe_id);
  size_t counts[4];
  subs_counts(subs, counts);
  CHECK_INT(counts[1], 2); /* requested */
  CHECK_INT(counts[0], 4); /* waiting: 2 users, the queue, park */
  CHECK_INT(counts[2], 1); /* active: lines */

  /* 03: each answer lets one more out, in order: user 2, user 3, queue, park */
  int32_t user0_id = sent[1]->subscribe->subscribe_id;
  int32_t rid0 = sent[1]->subscribe->requestid;
  clear_sent();
  respond(subs, rid_presence, 0, now);
  CHECK_INT(n_sent, 1);
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_USER);
  CHECK_INT(sent[0]->subscribe->user->guid.data[0], 2);
  int32_t rid1 = sent[0]->subscribe->requestid;
  respond(subs, rid0, 0, now);
  CHECK_INT(n_sent, 2);
  CHECK_INT(sent[1]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_USER);
  CHECK_INT(sent[1]->subscribe->user->guid.data[0], 3);
  int32_t rid_user2 = sent[1]->subscribe->requestid;
  clear_sent();
  respond(subs, rid1, 0, now);
  CHECK_INT(n_sent, 1);
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_QUEUE);
  CHECK_INT(sent[0]->subscribe->queue->flags, 0x3);
  CHECK_INT(sent[0]->subscribe->queue->ccflags, 0x441e3);
  int32_t rid_queue = sent[0]->subscribe->requestid;
  clear_sent();

  /* 04: a retryable error (TOOMANY) on the third user: retried later, same id */
  respond(subs, rid_user2, MTCTISESS_TOOMANY, now);
  CHECK_INT(n_sent, 1); /* the window let the park server out */
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_PARKSERVER);
  int32_t rid_park = sent[0]->subscribe->requestid;
  clear_sent();
  respond(subs, rid_queue, 0, now);
  CHECK_INT(n_sent, 0);
  respond(subs, rid_park, 0, now);
  subs_tick(subs, now + 400); /* backoff of the first failure: 500..1000 ms */
  CHECK_INT(n_sent, 0);
  subs_tick(subs, now + 1001);
  CHECK_INT(n_sent, 1);
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD_USER);
  CHECK_INT(sent[0]->subscribe->user->guid.data[0], 3);
  int32_t rid_retry = sent[0]->subscribe->requestid;
  clear_sent();

  /* 05: a final error (USERNOTFOUND): failed for good */
  respond(subs, rid_retry, MTCTISESS_USERNOTFOUND, now + 1001);
  subs_tick(subs, now + 3000); /* past the grace: lines settle */
  subs_tick(subs, now + 3100); /* then the resync is done */
  CHECK_INT(n_sent, 0);
  subs_counts(subs, counts);
  CHECK_INT(counts[3], 1); /* failed */
  CHECK_INT(counts[2], 6); /* lines, 2 users, queue, presence, park */
  /* 08 (part): settled after the grace, and the resync is done */
  CHECK_INT(n_settled, 4); /* 2 users, the queue, the park server */
  CHECK_INT(resync_done_calls, 1);
  CHECK_INT(done_active, 6);
  CHECK_INT(done_failed, 1);

  /* 06: SubscribeTerminated for user 0: fresh, new subscribe_id */
  SubscribeTerminated st = SUBSCRIBE_TERMINATED__INIT;
  st.subscribe_id = user0_id;
  int fresh_before = n_fresh;
  subs_terminated(subs, &st, now + 4000);
  CHECK_INT(n_fresh, fresh_before + 1);
  CHECK_INT(n_sent, 1);
  CHECK(sent[0]->subscribe->subscribe_id != user0_id);
  CHECK_INT(sent[0]->subscribe->user->guid.data[0], 1);
  CHECK_INT(notify_of(subs, user0_id, 9, NOTIFY__PAYLOAD_USER, 0, now, &target), -1); /* the old id is gone */
  respond(subs, sent[0]->subscribe->requestid, 0, now + 4000);
  clear_sent();

  /* 07: user 1 deleted: SubscribeEnd, presence remove */
  NotifyLines del = NOTIFY_LINES__INIT;
  LinesUser *dels[1] = {&u1};
  del.n_deleteuser = 1;
  del.deleteuser = dels;
  subs_lines(subs, &del, 0, now + 4000);
  int ends = 0, removes = 0;
  for (int i = 0; i < n_sent; i++) {
    if (sent[i]->payload_case == MESSAGE__PAYLOAD_SUBSCRIBEEND)
      ends++;
    if (sent[i]->payload_case == MESSAGE__PAYLOAD_SUBSCRIBECMD && sent[i]->subscribecmd->presence &&
        sent[i]->subscribecmd->presence->n_remove == 1) {
      removes++;
      CHECK_STR(sent[i]->subscribecmd->presence->remove[0]->presentity, "202");
      CHECK_INT(sent[i]->subscribecmd->subscribe_id, presence_id);
    }
  }
  CHECK_INT(ends, 1);
  CHECK_INT(removes, 1);
  clear_sent();
  CHECK_STR(subs_presence_user(subs, 0, "201", NULL), "01000000-0000-0000-0000-000000000000");
  CHECK(subs_presence_user(subs, 0, "202", NULL) == NULL);
  subs_kind_t kind;
  CHECK(subs_line_subscription(subs, "500", &kind) > 0);
  CHECK_INT(kind, SUBS_QUEUE);

  /* 08: refresh at 80% of 100 s: subscribe_id and timeout only */
  subs_tick(subs, now + 79000);
  CHECK_INT(n_sent, 0);
  subs_tick(subs, now + 80001);
  CHECK_INT(n_sent, 2); /* lines, queue, presence, park are due; the window lets 2 out */
  CHECK_INT(sent[0]->subscribe->payload_case, SUBSCRIBE__PAYLOAD__NOT_SET);
  CHECK_INT(sent[0]->subscribe->timeout, 100);
  int32_t rid_refresh = sent[1]->subscribe->requestid;
  clear_sent();

  /* 09: a refresh not answered in time: the next ones go out, it is retried later */
  subs_tick(subs, now + 80001 + 1001);
  CHECK(n_sent >= 1);
  (void)rid_refresh;
  clear_sent();

  subs_disconnected(subs);
  subs_counts(subs, counts);
  CHECK_INT(counts[0] + counts[1] + counts[2] + counts[3], 0);
  subs_destroy(subs);
  config_destroy(config);
  s10_what_a_notify_is();
  return check_done();
}
