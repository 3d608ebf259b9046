/*
 * test_cmd_store: the command records, asynchronously, on a libwebsockets
 * loop against a real redis-server (started by the test on a free port).
 *
 *   01 a claim records where the command was read; a second claim is SEEN
 *      with the record (status, src), another PBX is another namespace
 *   02 ownership: epoch 0 draws the next, an explicit epoch may not go back
 *   03 accepted: requestids from 2^30, in order, wrapping; the current
 *      owner only (FENCED otherwise); never over a final outcome or another
 *      epoch's accept (FINAL); ABSENT without a record
 *   04 finish: recorded and PUBLISHed once; a second outcome is FINAL with
 *      the first one's record and result; published marks it; the
 *      duplicate echoes the first outcome
 *   05 deadlines: the expired scan for the owner only, records that expired
 *      dropped from the set
 *   06 the scripts after SCRIPT FLUSH (NOSCRIPT -> EVAL), then cached again
 *   07 secrets are never written
 *   08 Redis down: every operation answered FAILED with the reason; destroy
 *      answers what is pending
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cmd_build.h"
#include "cmd_store.h"
#include "redis_client.h"
#include "test_loop.h"

static int port;
static pid_t server;
static redisContext *admin;
static redis_client_t *client;

/* ---- results ---- */

typedef struct got {
  int calls;
  cmd_store_rc_t rc;
  char err[600];
  json_t *record;
  int64_t value;
  char id[CMD_ID_MAX + 1];
  cmd_store_expired_t expired[16];
  size_t n;
} got_t;

static void got_cb(void *opaque, const cmd_store_res_t *res) {
  got_t *g = opaque;
  g->calls++;
  g->rc = res->rc;
  snprintf(g->err, sizeof(g->err), "%s", res->errstr ? res->errstr : "");
  json_decref(g->record);
  g->record = res->record ? json_deep_copy(res->record) : NULL;
  g->value = res->value;
  snprintf(g->id, sizeof(g->id), "%s", res->id ? res->id : "");
  g->n = res->n_expired < 16 ? res->n_expired : 16;
  if (res->expired)
    memcpy(g->expired, res->expired, g->n * sizeof(*g->expired));
}

static int answered(void *arg) { return ((got_t *)arg)->calls > 0; }

/* Run the loop until `g` is answered; then `g` holds the result. */
static got_t *wait_for(got_t *g) {
  CHECK(test_loop_run_until(answered, g, 5000));
  CHECK_INT(g->calls, 1);
  return g;
}

static void got_reset(got_t *g) {
  json_decref(g->record);
  memset(g, 0, sizeof(*g));
}

static const char *field(const got_t *g, const char *name) {
  return json_string_value(json_object_get(g->record, name));
}

static cmd_store_t *store_open(const char *pbx) {
  cmd_store_config_t conf;
  cmd_store_t *store = NULL;
  char err[256];
  cmd_store_config_init(&conf);
  conf.pbx_id = pbx;
  conf.ttl_ms = 60000;
  if (cmd_store_new(&conf, client, &store, err, sizeof(err)) < 0)
    fprintf(stderr, "store: %s\n", err);
  return store;
}

static int connected(void *arg) {
  redis_client_health_t h;
  redis_client_health(arg, &h);
  return h.connected;
}

static const cmd_store_src_t src_a = {"mtcti3.commands", 0, 41};
static const cmd_store_src_t src_b = {"mtcti3.commands", 0, 97};

/* ---- scenarios ---- */

static void s01_claim(cmd_store_t *store, cmd_store_t *other) {
  got_t g = {0};
  cmd_store_claim(store, "c1", "drop", NULL, 1000, 11000, &src_a, got_cb, &g);
  CHECK_INT(g.calls, 0); /* never from inside */
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK(g.record == NULL);
  got_reset(&g);
  cmd_store_claim(store, "c1", "drop", NULL, 2000, 12000, &src_b, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_SEEN);
  CHECK_STR(field(&g, "status"), "received");
  CHECK_STR(field(&g, "action"), "drop");
  CHECK_STR(field(&g, "received_ms"), "1000");
  CHECK_STR(field(&g, "deadline_ms"), "11000");
  CHECK_STR(field(&g, "src"), "mtcti3.commands/0/41");
  got_reset(&g);
  redisReply *r = redisCommand(admin, "GET mtcti3:t1:claim:c1");
  CHECK(r && r->type == REDIS_REPLY_STRING);
  if (r && r->type == REDIS_REPLY_STRING)
    CHECK_STR(r->str, "{\"action\":\"drop\",\"claimed_ms\":1000,\"src\":\"mtcti3.commands/0/41\"}");
  freeReplyObject(r);
  r = redisCommand(admin, "PTTL mtcti3:t1:cmd:c1");
  CHECK(r && r->integer > 0 && r->integer <= 60000);
  freeReplyObject(r);
  r = redisCommand(admin, "ZSCORE mtcti3:t1:cmd-inflight c1");
  CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "11000") == 0);
  freeReplyObject(r);
  /* another PBX: another namespace */
  cmd_store_claim(other, "c1", "drop", NULL, 3000, 13000, &src_b, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
}

static void s02_own(cmd_store_t *store) {
  got_t g = {0};
  cmd_store_own(store, 0, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_INT(g.value, 1);
  got_reset(&g);
  cmd_store_own(store, 0, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, 2);
  got_reset(&g);
  cmd_store_own(store, 7, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_INT(g.value, 7);
  got_reset(&g);
  cmd_store_own(store, 7, got_cb, &g); /* the same owner again: fine */
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  cmd_store_own(store, 5, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FENCED);
  CHECK_INT(g.value, 7);
  got_reset(&g);
  cmd_store_own(store, 0, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, 8);
  got_reset(&g);
  redisReply *r = redisCommand(admin, "GET mtcti3:t1:owner");
  CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "8") == 0);
  freeReplyObject(r);
}

static void s03_accepted(cmd_store_t *store) {
  got_t g = {0};
  /* owner epoch 8 (s02) */
  cmd_store_claim(store, "a1", "get_version", NULL, 100, 60000, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_accepted(store, "a1", 8, 110, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_INT(g.value, CMD_REQUESTID_BASE);
  got_reset(&g);
  /* the same owner may accept again (a send that did not go out): a new requestid */
  cmd_store_accepted(store, "a1", 8, 120, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, CMD_REQUESTID_BASE + 1);
  got_reset(&g);
  redisReply *r = redisCommand(admin, "HGETALL mtcti3:t1:cmd:a1");
  json_t *rec = json_object();
  for (size_t i = 0; r && i + 1 < r->elements; i += 2)
    json_object_set_new(rec, r->element[i]->str, json_string(r->element[i + 1]->str));
  freeReplyObject(r);
  CHECK_STR(json_string_value(json_object_get(rec, "status")), "accepted");
  CHECK_STR(json_string_value(json_object_get(rec, "requestid")), "1073741825");
  CHECK_STR(json_string_value(json_object_get(rec, "sent_ms")), "120");
  CHECK_STR(json_string_value(json_object_get(rec, "epoch")), "8");
  json_decref(rec);
  cmd_store_request_id(store, CMD_REQUESTID_BASE + 1, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_STR(g.id, "a1");
  got_reset(&g);
  cmd_store_request_id(store, 12345, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_ABSENT);
  got_reset(&g);
  /* a stale epoch is fenced, whatever the command */
  cmd_store_accepted(store, "a1", 7, 130, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FENCED);
  CHECK_INT(g.value, 8);
  got_reset(&g);
  /* a newer owner never re-accepts what the old one accepted: it may have been sent */
  cmd_store_own(store, 9, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_accepted(store, "a1", 9, 140, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FINAL);
  CHECK_STR(field(&g, "status"), "accepted");
  CHECK_STR(field(&g, "epoch"), "8");
  got_reset(&g);
  cmd_store_accepted(store, "no-such", 9, 140, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_ABSENT);
  got_reset(&g);
  /* near the end of the range the counter wraps to the base, never below 2^30 */
  freeReplyObject(redisCommand(admin, "SET mtcti3:t1:cmd-requestid %ld", CMD_REQUESTID_SPAN - 1));
  cmd_store_claim(store, "a2", "get_version", NULL, 100, 60000, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_accepted(store, "a2", 9, 150, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, CMD_REQUESTID_BASE + CMD_REQUESTID_SPAN - 1);
  got_reset(&g);
  cmd_store_accepted(store, "a2", 9, 151, 60000, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, CMD_REQUESTID_BASE);
  got_reset(&g);
}

static void s04_finish(cmd_store_t *store) {
  redisContext *sub = test_redis_admin(port, NULL);
  struct timeval tv = {5, 0};
  redisReply *r = NULL;
  got_t g = {0};
  cmd_result_t res;
  redisSetTimeout(sub, tv);
  freeReplyObject(redisCommand(sub, "SUBSCRIBE mtcti3:t1:cmd:f1"));
  cmd_store_claim(store, "f1", "park", NULL, 5000, 15000, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_accepted(store, "f1", 9, 5001, 15001, got_cb, &g);
  int32_t rid = (int32_t)wait_for(&g)->value;
  got_reset(&g);
  cmd_result_init(&res, "f1", CMD_STATUS_FAILED);
  res.has_code = 1;
  res.code = 613;
  res.requestid = rid;
  res.action = "park";
  res.latency_ms = 25;
  char *want = cmd_result_json_text(&res);
  cmd_store_finish(store, &res, want, 5025, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  CHECK(redisGetReply(sub, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_ARRAY && r->elements == 3);
  if (r && r->elements == 3)
    CHECK_STR(r->element[2]->str, want);
  freeReplyObject(r);
  r = NULL;
  cmd_store_get(store, "f1", got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_STR(field(&g, "status"), "failed");
  CHECK_STR(field(&g, "code"), "613");
  CHECK_STR(field(&g, "latency_ms"), "25");
  CHECK_STR(field(&g, "done_ms"), "5025");
  CHECK_STR(field(&g, "result"), want);
  CHECK(field(&g, "published") == NULL);
  got_reset(&g);
  r = redisCommand(admin, "ZSCORE mtcti3:t1:cmd-inflight f1");
  CHECK(r && r->type == REDIS_REPLY_NIL);
  freeReplyObject(r);

  /* a late second outcome changes nothing and says what the first was */
  cmd_result_init(&res, "f1", CMD_STATUS_TIMEOUT);
  cmd_store_finish(store, &res, NULL, 20000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FINAL);
  CHECK_STR(field(&g, "status"), "failed");
  CHECK_STR(field(&g, "result"), want);
  got_reset(&g);
  cmd_store_published(store, "f1", got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  cmd_store_published(store, "never-claimed", got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_ABSENT);
  got_reset(&g);
  cmd_store_get(store, "f1", got_cb, &g);
  CHECK_STR(wait_for(&g)->record ? field(&g, "published") : NULL, "1");
  /* the duplicate's result echoes the first outcome */
  json_t *dup = cmd_store_duplicate_json("f1", g.record);
  char *dup_text = json_dumps(dup, JSON_COMPACT | JSON_PRESERVE_ORDER);
  char expect[512];
  snprintf(expect, sizeof(expect),
           "{\"id\":\"f1\",\"status\":\"duplicate\",\"code\":613,\"code_name\":"
           "\"MTCTISESS_CALLCONTROL_PARKFAILED\",\"reason\":null,\"requestid\":%ld,\"action\":"
           "\"park\",\"latency_ms\":25,\"data\":null,\"original_status\":\"failed\"}",
           (long)rid);
  CHECK_STR(dup_text, expect);
  free(dup_text);
  json_decref(dup);
  got_reset(&g);
  /* a duplicate's JSON goes to the channel as is */
  freeReplyObject(redisCommand(sub, "SUBSCRIBE mtcti3:t1:cmd:f2"));
  r = NULL;
  cmd_store_publish(store, "f2", "{\"x\":1}", got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  CHECK(redisGetReply(sub, (void **)&r) == REDIS_OK && r && r->elements == 3 && strcmp(r->element[2]->str, "{\"x\":1}") == 0);
  freeReplyObject(r);
  /* refused by the API: a non-final outcome */
  cmd_result_init(&res, "f1", CMD_STATUS_ACCEPTED);
  cmd_store_finish(store, &res, NULL, 1, got_cb, &g);
  CHECK_INT(g.calls, 1);
  CHECK_INT(g.rc, CMD_STORE_FAILED);
  CHECK_STR(g.err, "redis: only a final outcome of a command with an id is recorded");
  got_reset(&g);
  free(want);
  redisFree(sub);
}

static void s05_expired(void) {
  cmd_store_t *store = store_open("t3"), *again;
  got_t g = {0};
  cmd_result_t res;
  cmd_store_own(store, 0, got_cb, &g);
  int64_t epoch = wait_for(&g)->value;
  got_reset(&g);
  /* e1 sent, e2 claimed but never sent, e3 still in time, e4's record expired */
  cmd_store_claim(store, "e1", "hold", NULL, 100, 1100, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_accepted(store, "e1", epoch, 110, 1110, got_cb, &g);
  int32_t rid = (int32_t)wait_for(&g)->value;
  got_reset(&g);
  cmd_store_claim(store, "e2", "make_call", "crm.replies", 200, 1200, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_claim(store, "e3", "get_file", NULL, 300, 9300, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_claim(store, "e4", "drop", NULL, 50, 1050, &src_a, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  freeReplyObject(redisCommand(admin, "DEL mtcti3:t3:cmd:e4"));
  cmd_store_destroy(store);

  again = store_open("t3");
  cmd_store_expired(again, 5000, epoch, 8, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_INT(g.n, 2);
  if (g.n == 2) {
    CHECK_STR(g.expired[0].id, "e1");
    CHECK_STR(g.expired[0].action, "hold");
    CHECK(g.expired[0].requestid == rid && g.expired[0].deadline_ms == 1110 && g.expired[0].received_ms == 100);
    CHECK_STR(g.expired[0].reply_to, "");
    CHECK_STR(g.expired[1].id, "e2");
    CHECK_INT(g.expired[1].requestid, 0);
    CHECK_STR(g.expired[1].reply_to, "crm.replies");
  }
  got_reset(&g);
  redisReply *r = redisCommand(admin, "ZSCORE mtcti3:t3:cmd-inflight e4");
  CHECK(r && r->type == REDIS_REPLY_NIL);
  freeReplyObject(r);
  /* after a takeover the old owner is fenced; epoch 0 scans for anyone */
  cmd_store_own(again, 0, got_cb, &g);
  CHECK_INT(wait_for(&g)->value, epoch + 1);
  got_reset(&g);
  cmd_store_expired(again, 5000, epoch, 8, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FENCED);
  CHECK_INT(g.value, epoch + 1);
  got_reset(&g);
  epoch++;
  cmd_store_expired(again, 5000, 0, 1, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  CHECK_INT(g.n, 1);
  got_reset(&g);
  cmd_result_init(&res, "e1", CMD_STATUS_TIMEOUT);
  res.requestid = rid;
  res.action = "hold";
  cmd_store_finish(again, &res, NULL, 5000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  cmd_result_init(&res, "e2", CMD_STATUS_TIMEOUT);
  res.reason = "not sent before the bridge stopped";
  cmd_store_finish(again, &res, NULL, 5000, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  cmd_store_expired(again, 5000, epoch, 8, got_cb, &g);
  CHECK_INT(wait_for(&g)->n, 0);
  got_reset(&g);
  cmd_store_expired(again, 10000, epoch, 8, got_cb, &g);
  CHECK_INT(wait_for(&g)->n, 1);
  got_reset(&g);
  /* data round-trips through the record as JSON text */
  json_t *data = json_pack("{ss}", "versioninfo", "IP Office 11.1");
  cmd_result_init(&res, "e3", CMD_STATUS_SUCCEEDED);
  res.has_code = 1;
  res.data = data;
  cmd_store_finish(again, &res, NULL, 6000, got_cb, &g);
  wait_for(&g);
  got_reset(&g);
  cmd_store_get(again, "e3", got_cb, &g);
  CHECK_STR(wait_for(&g)->record ? field(&g, "data") : NULL, "{\"versioninfo\":\"IP Office 11.1\"}");
  got_reset(&g);
  json_decref(data);
  cmd_store_destroy(again);
}

static void s06_noscript(cmd_store_t *store) {
  got_t g = {0};
  freeReplyObject(redisCommand(admin, "SCRIPT FLUSH"));
  cmd_store_claim(store, "n1", "drop", NULL, 1, 60000, &src_a, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
  got_reset(&g);
  /* EVAL cached it: the next EVALSHA finds it */
  redisReply *r = redisCommand(admin, "INFO stats");
  freeReplyObject(r);
  cmd_store_claim(store, "n1", "drop", NULL, 1, 60000, &src_a, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_SEEN);
  got_reset(&g);
  r = redisCommand(admin, "SCRIPT EXISTS %s", "0000000000000000000000000000000000000000");
  CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->integer == 0);
  freeReplyObject(r);
}

/* Run a login_extn and an auth-code make_call through every store step: the secrets appear nowhere. */
static void s07_no_secrets(void) {
  cmd_store_t *store = store_open("t4");
  const char *texts[] = {"{\"id\":\"s1\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},"
                         "\"args\":{\"extn\":\"210\",\"password\":\"Pw-7781\"}}",
                         "{\"id\":\"s2\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"},"
                         "\"args\":{\"to\":\"202\",\"auth_code\":\"AC-5531\"}}"};
  cmd_parse_config_t conf;
  cmd_refusal_t refusal;
  got_t g = {0};
  int leaked = 0;
  cmd_parse_config_init(&conf);
  cmd_store_own(store, 0, got_cb, &g);
  int64_t epoch = wait_for(&g)->value;
  got_reset(&g);
  for (size_t i = 0; i < 2; i++) {
    cmd_t *cmd = NULL;
    cmd_result_t res;
    CHECK(cmd_parse(&conf, texts[i], strlen(texts[i]), &cmd, &refusal) == 0);
    if (!cmd)
      continue;
    cmd_store_claim(store, cmd_id(cmd), cmd_action(cmd)->name, NULL, 1, 100000, &src_a, got_cb, &g);
    CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
    got_reset(&g);
    cmd_store_accepted(store, cmd_id(cmd), epoch, 2, 100000, got_cb, &g);
    int32_t rid = (int32_t)wait_for(&g)->value;
    got_reset(&g);
    cmd_result_init(&res, cmd_id(cmd), CMD_STATUS_SUCCEEDED);
    res.has_code = 1;
    res.requestid = rid;
    res.action = cmd_action(cmd)->name;
    cmd_store_finish(store, &res, NULL, 3, got_cb, &g);
    CHECK_INT(wait_for(&g)->rc, CMD_STORE_DONE);
    got_reset(&g);
    cmd_free(cmd);
  }
  redisReply *keys = redisCommand(admin, "KEYS mtcti3:t4:*");
  CHECK(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements >= 7);
  for (size_t k = 0; keys && k < keys->elements; k++) {
    const char *key = keys->element[k]->str;
    redisReply *v = redisCommand(admin, "DUMP %s", key);
    if (strstr(key, "Pw-7781") || strstr(key, "AC-5531") ||
        (v && v->type == REDIS_REPLY_STRING &&
         (memmem(v->str, v->len, "Pw-7781", 7) || memmem(v->str, v->len, "AC-5531", 7))))
      leaked++;
    freeReplyObject(v);
  }
  CHECK_INT(leaked, 0);
  freeReplyObject(keys);
  cmd_store_destroy(store);
}

static void s08_redis_down(void) {
  cmd_store_t *store = store_open("t5");
  got_t g = {0}, h = {0};
  test_redis_stop(server);
  server = -1;
  cmd_store_claim(store, "d1", "drop", NULL, 1, 2, &src_a, got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FAILED);
  char want[128];
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: connection lost: ", port);
  CHECK(strncmp(g.err, want, strlen(want)) == 0);
  got_reset(&g);
  test_loop_run_for(100);
  cmd_store_get(store, "d1", got_cb, &g);
  CHECK_INT(wait_for(&g)->rc, CMD_STORE_FAILED);
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: not connected", port);
  CHECK_STR(g.err, want);
  got_reset(&g);
  /* destroyed with an operation pending: answered once, at once */
  server = test_redis_start(port, NULL);
  CHECK(test_loop_run_until(connected, client, 5000));
  cmd_store_claim(store, "d2", "drop", NULL, 1, 2, &src_a, got_cb, &h);
  CHECK_INT(cmd_store_pending(store), 1);
  cmd_store_destroy(store);
  CHECK_INT(h.calls, 1);
  CHECK_INT(h.rc, CMD_STORE_FAILED);
  CHECK_STR(h.err, "redis: command store closed");
  test_loop_run_for(200); /* the client's answer comes and finds nothing to tell */
  CHECK_INT(h.calls, 1);
  got_reset(&h);
}

int main(void) {
  if (test_loop_init("test_cmd_store") != 0)
    return 1;
  port = test_free_port();
  server = test_redis_start(port, NULL);
  admin = test_redis_admin(port, NULL);
  if (server < 0 || !admin) {
    fprintf(stderr, "cannot start redis-server\n");
    return 1;
  }
  redis_client_config_t rconf;
  char url[64], err[256];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
  redis_client_config_init(&rconf);
  rconf.url = url;
  if (redis_client_new(&rconf, test_ctx, &client, err, sizeof(err)) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  test_loop_run_until(connected, client, 5000);
  cmd_store_t *store = store_open("t1"), *other = store_open("t2");
  s01_claim(store, other);
  s02_own(store);
  s03_accepted(store);
  s04_finish(store);
  s05_expired();
  s06_noscript(store);
  s07_no_secrets();
  cmd_store_destroy(store);
  cmd_store_destroy(other);
  s08_redis_down();
  redis_client_destroy(client);
  redisFree(admin);
  test_redis_stop(server);
  test_loop_done();
  CHECK_DONE();
}
