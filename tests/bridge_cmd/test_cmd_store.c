/*
 * test_cmd_store: the command records against a real redis-server
 * (with_redis.sh starts one and passes its port in MTCTI3_TEST_REDIS_PORT).
 * Scenarios: a claim and its duplicate; requestids; accepted, mapping and
 * outcome; exactly one final outcome; the outcome published; deadlines
 * passed after a "restart"; secrets never written; a dropped connection.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <sys/time.h>

#include <hiredis.h>

#include "check.h"
#include "cmd_build.h"
#include "cmd_store.h"

static int port;
static redisContext *admin;

static cmd_store_t *store_open(const char *pbx) {
  cmd_store_config_t conf;
  cmd_store_t *store = NULL;
  char url[64], err[256];

  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
  cmd_store_config_init(&conf);
  conf.url = url;
  conf.pbx_id = pbx;
  conf.ttl_ms = 60000;
  if (cmd_store_new(&conf, &store, err, sizeof(err)) < 0)
    fprintf(stderr, "store: %s\n", err);
  return store;
}

static const char *field(const json_t *record, const char *name) {
  return json_string_value(json_object_get(record, name));
}

static void test_claim_and_duplicate(cmd_store_t *store) {
  json_t *stored = NULL;
  char err[256];
  redisReply *r;

  CHECK(cmd_store_claim(store, "c1", "drop", 1000, 11000, &stored, err, sizeof(err)) == 1);
  CHECK(stored == NULL);
  CHECK(cmd_store_claim(store, "c1", "drop", 2000, 12000, &stored, err, sizeof(err)) == 0);
  CHECK(stored != NULL);
  CHECK_STR(field(stored, "status"), "received");
  CHECK_STR(field(stored, "action"), "drop");
  CHECK_STR(field(stored, "received_ms"), "1000");
  json_decref(stored);
  /* The claim holds the request info and has a TTL; another PBX is another namespace. */
  r = redisCommand(admin, "GET mtcti3:t1:claim:c1");
  CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "{\"action\":\"drop\",\"claimed_ms\":1000}") == 0);
  freeReplyObject(r);
  r = redisCommand(admin, "PTTL mtcti3:t1:claim:c1");
  CHECK(r && r->integer > 0 && r->integer <= 60000);
  freeReplyObject(r);
  r = redisCommand(admin, "PTTL mtcti3:t1:cmd:c1");
  CHECK(r && r->integer > 0 && r->integer <= 60000);
  freeReplyObject(r);
}

static void test_requestids(cmd_store_t *store, cmd_store_t *other) {
  int32_t first = 0, prev = 0, rid = 0, o = 0;
  char err[256];
  int i, ok = 1;

  CHECK(cmd_store_next_requestid(store, &first, err, sizeof(err)) == 0);
  CHECK(first == CMD_REQUESTID_BASE);
  prev = first;
  for (i = 0; i < 1000; i++) {
    ok &= cmd_store_next_requestid(store, &rid, err, sizeof(err)) == 0 && rid == prev + 1;
    prev = rid;
  }
  CHECK(ok);
  /* Another PBX has its own counter. */
  CHECK(cmd_store_next_requestid(other, &o, err, sizeof(err)) == 0 && o == CMD_REQUESTID_BASE);
  /* Near the end of the range the counter wraps to the base, never to 0 or below 2^30. */
  freeReplyObject(redisCommand(admin, "SET mtcti3:t2:cmd-requestid %ld", CMD_REQUESTID_SPAN - 1));
  CHECK(cmd_store_next_requestid(other, &o, err, sizeof(err)) == 0 &&
        o == CMD_REQUESTID_BASE + CMD_REQUESTID_SPAN - 1 && o > 0);
  CHECK(cmd_store_next_requestid(other, &o, err, sizeof(err)) == 0 && o == CMD_REQUESTID_BASE);
}

static void test_lifecycle_and_publish(cmd_store_t *store) {
  redisContext *sub = redisConnect("127.0.0.1", port);
  struct timeval tv = {5, 0};
  redisReply *r = NULL;
  json_t *record = NULL, *stored = NULL, *dup;
  cmd_result_t res;
  int32_t rid = 0;
  char err[256], id[CMD_ID_MAX + 1] = "", *dup_text;

  redisSetTimeout(sub, tv);
  freeReplyObject(redisCommand(sub, "SUBSCRIBE mtcti3:t1:cmd:c2"));
  CHECK(cmd_store_claim(store, "c2", "park", 5000, 15000, &stored, err, sizeof(err)) == 1);
  CHECK(cmd_store_next_requestid(store, &rid, err, sizeof(err)) == 0);
  CHECK(cmd_store_accepted(store, "c2", rid, 5001, 15001, err, sizeof(err)) == 0);
  CHECK(cmd_store_request_id(store, rid, id, sizeof(id), err, sizeof(err)) == 1);
  CHECK_STR(id, "c2");
  CHECK(cmd_store_request_id(store, 12345, id, sizeof(id), err, sizeof(err)) == 0);
  CHECK(cmd_store_get(store, "c2", &record, err, sizeof(err)) == 1);
  CHECK_STR(field(record, "status"), "accepted");
  CHECK_STR(field(record, "sent_ms"), "5001");
  json_decref(record);

  cmd_result_init(&res, "c2", CMD_STATUS_FAILED);
  res.has_code = 1;
  res.code = 613;
  res.requestid = rid;
  res.action = "park";
  res.latency_ms = 25;
  {
    char *want = cmd_result_json_text(&res); /* given rendered, as the bridge does */
    CHECK(cmd_store_finish(store, &res, want, 5025, err, sizeof(err)) == 1);
    /* The channel got the result JSON. */
    CHECK(redisGetReply(sub, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_ARRAY &&
          r->elements == 3);
    if (r && r->elements == 3)
      CHECK_STR(r->element[2]->str, want);
    free(want);
  }
  freeReplyObject(r);
  CHECK(cmd_store_get(store, "c2", &record, err, sizeof(err)) == 1);
  CHECK_STR(field(record, "status"), "failed");
  CHECK_STR(field(record, "code"), "613");
  CHECK_STR(field(record, "latency_ms"), "25");
  CHECK_STR(field(record, "done_ms"), "5025");

  /* A late second outcome (a timeout scan after the response) is ignored. */
  cmd_result_init(&res, "c2", CMD_STATUS_TIMEOUT);
  CHECK(cmd_store_finish(store, &res, NULL, 20000, err, sizeof(err)) == 0);
  json_decref(record);
  CHECK(cmd_store_get(store, "c2", &record, err, sizeof(err)) == 1);
  CHECK_STR(field(record, "status"), "failed");

  /* The duplicate's result echoes the first outcome. */
  dup = cmd_store_duplicate_json("c2", record);
  dup_text = json_dumps(dup, JSON_COMPACT | JSON_PRESERVE_ORDER);
  {
    char want[512];
    snprintf(want, sizeof(want),
             "{\"id\":\"c2\",\"status\":\"duplicate\",\"code\":613,\"code_name\":"
             "\"MTCTISESS_CALLCONTROL_PARKFAILED\",\"reason\":null,\"requestid\":%ld,\"action\":"
             "\"park\",\"latency_ms\":25,\"data\":null,\"original_status\":\"failed\"}",
             (long)rid);
    CHECK_STR(dup_text, want);
  }
  free(dup_text);
  json_decref(dup);
  json_decref(record);
  /* Not in flight any more. */
  r = redisCommand(admin, "ZSCORE mtcti3:t1:cmd-inflight c2");
  CHECK(r && r->type == REDIS_REPLY_NIL);
  freeReplyObject(r);
  redisFree(sub);
}

static void test_expired_after_restart(void) {
  cmd_store_t *store = store_open("t3"), *again;
  cmd_store_expired_t out[8];
  json_t *stored = NULL, *data;
  cmd_result_t res;
  size_t n = 0;
  int32_t rid = 0;
  char err[256];

  /* e1 sent, e2 claimed but never sent (the bridge died in between), e3 still in time. */
  CHECK(cmd_store_claim(store, "e1", "hold", 100, 1100, &stored, err, sizeof(err)) == 1);
  CHECK(cmd_store_next_requestid(store, &rid, err, sizeof(err)) == 0);
  CHECK(cmd_store_accepted(store, "e1", rid, 110, 1110, err, sizeof(err)) == 0);
  CHECK(cmd_store_claim(store, "e2", "make_call", 200, 1200, &stored, err, sizeof(err)) == 1);
  CHECK(cmd_store_claim(store, "e3", "get_file", 300, 9300, &stored, err, sizeof(err)) == 1);
  cmd_store_destroy(store);

  again = store_open("t3");
  CHECK(cmd_store_expired(again, 5000, out, 8, &n, err, sizeof(err)) == 0);
  CHECK(n == 2);
  if (n == 2) {
    CHECK_STR(out[0].id, "e1");
    CHECK_STR(out[0].action, "hold");
    CHECK(out[0].requestid == rid && out[0].deadline_ms == 1110 && out[0].received_ms == 100);
    CHECK_STR(out[1].id, "e2");
    CHECK(out[1].requestid == 0);
  }
  cmd_result_init(&res, "e1", CMD_STATUS_TIMEOUT);
  res.requestid = rid;
  res.action = "hold";
  CHECK(cmd_store_finish(again, &res, NULL, 5000, err, sizeof(err)) == 1);
  cmd_result_init(&res, "e2", CMD_STATUS_TIMEOUT);
  res.reason = "not sent before the bridge stopped";
  CHECK(cmd_store_finish(again, &res, NULL, 5000, err, sizeof(err)) == 1);
  CHECK(cmd_store_expired(again, 5000, out, 8, &n, err, sizeof(err)) == 0 && n == 0);
  CHECK(cmd_store_expired(again, 10000, out, 8, &n, err, sizeof(err)) == 0 && n == 1);

  /* Data round-trips through the record as JSON text. */
  data = json_pack("{ss}", "versioninfo", "IP Office 11.1");
  cmd_result_init(&res, "e3", CMD_STATUS_SUCCEEDED);
  res.has_code = 1;
  res.data = data;
  CHECK(cmd_store_finish(again, &res, NULL, 6000, err, sizeof(err)) == 1);
  CHECK(cmd_store_get(again, "e3", &stored, err, sizeof(err)) == 1);
  CHECK_STR(field(stored, "data"), "{\"versioninfo\":\"IP Office 11.1\"}");
  json_decref(stored);
  json_decref(data);
  cmd_store_destroy(again);
}

/* Run a login_extn and an auth-code make_call through every store call: the
 * secrets appear in no key and no value. */
static void test_no_secrets(void) {
  cmd_store_t *store = store_open("t4");
  const char *texts[] = {
    "{\"id\":\"s1\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},"
    "\"args\":{\"extn\":\"210\",\"password\":\"Pw-7781\"}}",
    "{\"id\":\"s2\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"},"
    "\"args\":{\"to\":\"202\",\"auth_code\":\"AC-5531\"}}"};
  cmd_parse_config_t conf;
  cmd_refusal_t refusal;
  redisReply *keys, *v;
  size_t i, k;
  char err[256];
  int leaked = 0;

  cmd_parse_config_init(&conf);
  for (i = 0; i < 2; i++) {
    cmd_t *cmd = NULL;
    json_t *stored = NULL;
    int32_t rid = 0;
    cmd_result_t res;
    CHECK(cmd_parse(&conf, texts[i], strlen(texts[i]), &cmd, &refusal) == 0);
    if (!cmd)
      continue;
    CHECK(cmd_store_claim(store, cmd_id(cmd), cmd_action(cmd)->name, 1, 100000, &stored, err,
                          sizeof(err)) == 1);
    CHECK(cmd_store_next_requestid(store, &rid, err, sizeof(err)) == 0);
    CHECK(cmd_store_accepted(store, cmd_id(cmd), rid, 2, 100000, err, sizeof(err)) == 0);
    cmd_result_init(&res, cmd_id(cmd), CMD_STATUS_SUCCEEDED);
    res.has_code = 1;
    res.requestid = rid;
    res.action = cmd_action(cmd)->name;
    CHECK(cmd_store_finish(store, &res, NULL, 3, err, sizeof(err)) == 1);
    cmd_free(cmd);
  }
  keys = redisCommand(admin, "KEYS mtcti3:t4:*");
  CHECK(keys && keys->type == REDIS_REPLY_ARRAY && keys->elements >= 6);
  for (k = 0; keys && k < keys->elements; k++) {
    const char *key = keys->element[k]->str;
    v = redisCommand(admin, "DUMP %s", key);
    if (strstr(key, "Pw-7781") || strstr(key, "AC-5531") ||
        (v && v->type == REDIS_REPLY_STRING &&
         (memmem(v->str, v->len, "Pw-7781", 7) || memmem(v->str, v->len, "AC-5531", 7))))
      leaked++;
    freeReplyObject(v);
  }
  CHECK(leaked == 0);
  freeReplyObject(keys);
  cmd_store_destroy(store);
}

static int64_t now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void test_connection_loss(void) {
  cmd_store_t *store = store_open("t5"), *down;
  cmd_store_config_t conf;
  json_t *stored = NULL;
  redisReply *r;
  char err[256] = "", url[64];
  int64_t t0;
  int32_t rid;
  int rc1, rc2;

  CHECK(cmd_store_ping(store, err, sizeof(err)) == 0);
  /* Kill every client connection but the admin's: the store notices and reconnects. */
  r = redisCommand(admin, "CLIENT KILL TYPE normal SKIPME yes");
  freeReplyObject(r);
  rc1 = cmd_store_next_requestid(store, &rid, err, sizeof(err));
  rc2 = rc1 == 0 ? 0 : cmd_store_next_requestid(store, &rid, err, sizeof(err));
  CHECK(rc2 == 0); /* at most one failed call, then back */
  CHECK(cmd_store_claim(store, "k1", "drop", 1, 2, &stored, err, sizeof(err)) == 1);
  cmd_store_destroy(store);

  /* Nothing listening: every call fails fast with a reason, none hangs. */
  cmd_store_config_init(&conf);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", 1);
  conf.url = url;
  conf.pbx_id = "t5";
  conf.timeout_ms = 200;
  CHECK(cmd_store_new(&conf, &down, err, sizeof(err)) == 0);
  t0 = now_ms();
  CHECK(cmd_store_claim(down, "k2", "drop", 1, 2, &stored, err, sizeof(err)) == -1);
  CHECK(strstr(err, "redis 127.0.0.1:1: ") == err);
  CHECK(now_ms() - t0 < 2000);
  cmd_store_destroy(down);

  /* Bad URLs are one-line errors. */
  conf.url = "http://x";
  CHECK(cmd_store_new(&conf, &down, err, sizeof(err)) == -1);
  CHECK_STR(err, "redis url: must start with redis://");
  conf.url = "redis://host:99999";
  CHECK(cmd_store_new(&conf, &down, err, sizeof(err)) == -1);
  CHECK_STR(err, "redis url: bad port");
}

int main(void) {
  const char *p = getenv("MTCTI3_TEST_REDIS_PORT");
  cmd_store_t *store, *other;

  if (!p) {
    fprintf(stderr, "run me through with_redis.sh (MTCTI3_TEST_REDIS_PORT unset)\n");
    return 1;
  }
  port = atoi(p);
  admin = redisConnect("127.0.0.1", port);
  if (!admin || admin->err) {
    fprintf(stderr, "cannot reach redis on %d\n", port);
    return 1;
  }
  store = store_open("t1");
  other = store_open("t2");
  test_claim_and_duplicate(store);
  test_requestids(store, other);
  test_lifecycle_and_publish(store);
  test_expired_after_restart();
  test_no_secrets();
  test_connection_loss();
  cmd_store_destroy(store);
  cmd_store_destroy(other);
  redisFree(admin);
  CHECK_DONE();
}
