/*
 * cmd_store: the commands' records in Redis.  See cmd_store.h.
 */
#include "cmd_store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis.h>

#define CMD_STORE_KEY_MAX (CMD_ID_MAX + 256)

struct cmd_store {
  redisContext *redis;
  char host[256];
  int port;
  int db;
  char user[128];
  char password[256];
  char pbx_id[128];
  int timeout_ms;
  int64_t ttl_ms;
  int64_t claim_ttl_ms;
};

/*
 * KEYS: claim, record, inflight.  ARGV: claim value, claim ttl, id, action,
 * received_ms, deadline_ms, record ttl.  1 when claimed, else the record (HGETALL).
 */
static const char claim_script[] =
  "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
  "  redis.call('HSET', KEYS[2], 'id', ARGV[3], 'status', 'received', 'action', ARGV[4],\n"
  "             'received_ms', ARGV[5], 'deadline_ms', ARGV[6])\n"
  "  redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"
  "  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[3])\n"
  "  return 1\n"
  "end\n"
  "return redis.call('HGETALL', KEYS[2])\n";

/*
 * KEYS: record, inflight.  ARGV: id, ttl, channel, message, field, value, ...
 * 1 when written and published; 0 when the record already holds a final status.
 */
static const char finish_script[] =
  "local st = redis.call('HGET', KEYS[1], 'status')\n"
  "if st == 'succeeded' or st == 'failed' or st == 'rejected' or st == 'timeout' then\n"
  "  return 0\n"
  "end\n"
  "redis.call('HSET', KEYS[1], unpack(ARGV, 5))\n"
  "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
  "redis.call('ZREM', KEYS[2], ARGV[1])\n"
  "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"
  "return 1\n";

void cmd_store_config_init(cmd_store_config_t *conf) {
  memset(conf, 0, sizeof(*conf));
  conf->url = "redis://127.0.0.1:6379/0";
  conf->pbx_id = "ipo";
  conf->timeout_ms = 500;
  conf->ttl_ms = 24LL * 3600 * 1000;
}

void cmd_store_key(const char *pbx_id, const char *kind, const char *id, char *out, size_t size) {
  if (id)
    snprintf(out, size, "mtcti3:%s:%s:%s", pbx_id, kind, id);
  else
    snprintf(out, size, "mtcti3:%s:%s", pbx_id, kind);
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int store_error(char *errstr, size_t errstr_size, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(errstr, errstr_size, fmt, ap);
  va_end(ap);
  return -1;
}

/* redis://[[user]:password@]host[:port][/db] */
static int store_parse_url(cmd_store_t *store, const char *url, char *errstr, size_t errstr_size) {
  const char *p, *at, *colon, *slash, *end;
  char *num_end;
  long v;

  if (!url || strncmp(url, "redis://", 8) != 0)
    return store_error(errstr, errstr_size, "redis url: must start with redis://");
  p = url + 8;
  at = strrchr(p, '@');
  if (at) {
    colon = memchr(p, ':', (size_t)(at - p));
    if (colon) {
      snprintf(store->user, sizeof(store->user), "%.*s", (int)(colon - p), p);
      snprintf(store->password, sizeof(store->password), "%.*s", (int)(at - colon - 1), colon + 1);
    } else {
      snprintf(store->password, sizeof(store->password), "%.*s", (int)(at - p), p);
    }
    p = at + 1;
  }
  slash = strchr(p, '/');
  end = slash ? slash : p + strlen(p);
  colon = memchr(p, ':', (size_t)(end - p));
  snprintf(store->host, sizeof(store->host), "%.*s", (int)((colon ? colon : end) - p), p);
  store->port = 6379;
  if (colon) {
    v = strtol(colon + 1, &num_end, 10);
    if (num_end != end || v <= 0 || v > 65535)
      return store_error(errstr, errstr_size, "redis url: bad port");
    store->port = (int)v;
  }
  store->db = 0;
  if (slash && slash[1]) {
    v = strtol(slash + 1, &num_end, 10);
    if (*num_end || v < 0 || v > 65535)
      return store_error(errstr, errstr_size, "redis url: bad database number");
    store->db = (int)v;
  }
  if (!store->host[0])
    return store_error(errstr, errstr_size, "redis url: no host");
  return 0;
}

static void store_drop(cmd_store_t *store) {
  if (store->redis)
    redisFree(store->redis);
  store->redis = NULL;
}

/* Run one command on the open context; the reply or NULL with errstr. */
static redisReply *store_argv(cmd_store_t *store, int argc, const char **argv,
                              const size_t *argvlen, char *errstr, size_t errstr_size) {
  redisReply *reply = redisCommandArgv(store->redis, argc, argv, argvlen);

  if (!reply) {
    store_error(errstr, errstr_size, "redis %s:%d: %s", store->host, store->port,
                store->redis->errstr[0] ? store->redis->errstr : "no reply");
    store_drop(store);
    return NULL;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    store_error(errstr, errstr_size, "redis %s: %.*s", argv[0], (int)reply->len, reply->str);
    freeReplyObject(reply);
    return NULL;
  }
  return reply;
}

static int store_connect(cmd_store_t *store, char *errstr, size_t errstr_size) {
  struct timeval tv;
  redisReply *reply;
  char db[16];
  const char *argv[3];

  if (store->redis)
    return 0;
  tv.tv_sec = store->timeout_ms / 1000;
  tv.tv_usec = (store->timeout_ms % 1000) * 1000;
  store->redis = redisConnectWithTimeout(store->host, store->port, tv);
  if (!store->redis || store->redis->err) {
    store_error(errstr, errstr_size, "redis %s:%d: %s", store->host, store->port,
                store->redis ? store->redis->errstr : "out of memory");
    store_drop(store);
    return -1;
  }
  redisSetTimeout(store->redis, tv);
  if (store->password[0]) {
    int n = 0;
    argv[n++] = "AUTH";
    if (store->user[0])
      argv[n++] = store->user;
    argv[n++] = store->password;
    reply = store_argv(store, n, argv, NULL, errstr, errstr_size);
    if (!reply) {
      /* Never echo the password: the server's message names none. */
      store_drop(store);
      return -1;
    }
    freeReplyObject(reply);
  }
  if (store->db) {
    snprintf(db, sizeof(db), "%d", store->db);
    argv[0] = "SELECT";
    argv[1] = db;
    reply = store_argv(store, 2, argv, NULL, errstr, errstr_size);
    if (!reply) {
      store_drop(store);
      return -1;
    }
    freeReplyObject(reply);
  }
  return 0;
}

/* Connect if needed and run one command. */
static redisReply *store_command(cmd_store_t *store, int argc, const char **argv, char *errstr,
                                 size_t errstr_size) {
  if (store_connect(store, errstr, errstr_size) < 0)
    return NULL;
  return store_argv(store, argc, argv, NULL, errstr, errstr_size);
}

int cmd_store_new(const cmd_store_config_t *conf, cmd_store_t **out, char *errstr,
                  size_t errstr_size) {
  cmd_store_t *store = calloc(1, sizeof(*store));
  char ignored[256];

  *out = NULL;
  if (!store)
    return store_error(errstr, errstr_size, "out of memory");
  if (store_parse_url(store, conf->url, errstr, errstr_size) < 0)
    goto fail;
  if (!conf->pbx_id || !conf->pbx_id[0] || strlen(conf->pbx_id) >= sizeof(store->pbx_id)) {
    store_error(errstr, errstr_size, "redis: pbx id must be 1 to %zu characters",
                sizeof(store->pbx_id) - 1);
    goto fail;
  }
  snprintf(store->pbx_id, sizeof(store->pbx_id), "%s", conf->pbx_id);
  store->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 500;
  store->ttl_ms = conf->ttl_ms > 0 ? conf->ttl_ms : 24LL * 3600 * 1000;
  store->claim_ttl_ms = conf->claim_ttl_ms > 0 ? conf->claim_ttl_ms : store->ttl_ms;
  (void)store_connect(store, ignored, sizeof(ignored)); /* retried by each call */
  *out = store;
  return 0;

fail:
  cmd_store_destroy(store);
  return -1;
}

void cmd_store_destroy(cmd_store_t *store) {
  if (!store)
    return;
  store_drop(store);
  memset(store->password, 0, sizeof(store->password));
  free(store);
}

int cmd_store_ping(cmd_store_t *store, char *errstr, size_t errstr_size) {
  const char *argv[] = {"PING"};
  redisReply *reply = store_command(store, 1, argv, errstr, errstr_size);

  if (!reply)
    return -1;
  freeReplyObject(reply);
  return 0;
}

/* A flat HGETALL array -> {"field": "value", ...}. */
static json_t *record_from_reply(const redisReply *reply) {
  json_t *obj = json_object();
  size_t i;

  for (i = 0; obj && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
    const redisReply *k = reply->element[i], *v = reply->element[i + 1];
    if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
      json_object_set_new(obj, k->str, json_stringn(v->str, v->len));
  }
  return obj;
}

int cmd_store_claim(cmd_store_t *store, const char *id, const char *action, int64_t now_ms,
                    int64_t deadline_ms, json_t **stored, char *errstr, size_t errstr_size) {
  char claim_key[CMD_STORE_KEY_MAX], rec_key[CMD_STORE_KEY_MAX], inflight_key[CMD_STORE_KEY_MAX];
  char ttl[32], claim_ttl[32], now[32], deadline[32], *info;
  const char *argv[13];
  redisReply *reply;
  json_t *info_json;
  int rc = -1;

  *stored = NULL;
  cmd_store_key(store->pbx_id, "claim", id, claim_key, sizeof(claim_key));
  cmd_store_key(store->pbx_id, "cmd", id, rec_key, sizeof(rec_key));
  cmd_store_key(store->pbx_id, "cmd-inflight", NULL, inflight_key, sizeof(inflight_key));
  snprintf(ttl, sizeof(ttl), "%lld", (long long)store->ttl_ms);
  snprintf(claim_ttl, sizeof(claim_ttl), "%lld", (long long)store->claim_ttl_ms);
  snprintf(now, sizeof(now), "%lld", (long long)now_ms);
  snprintf(deadline, sizeof(deadline), "%lld", (long long)deadline_ms);
  info_json = json_pack("{sssI}", "action", action ? action : "", "claimed_ms", (json_int_t)now_ms);
  info = info_json ? json_dumps(info_json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(info_json);
  if (!info)
    return store_error(errstr, errstr_size, "out of memory");
  argv[0] = "EVAL";
  argv[1] = claim_script;
  argv[2] = "3";
  argv[3] = claim_key;
  argv[4] = rec_key;
  argv[5] = inflight_key;
  argv[6] = info;
  argv[7] = claim_ttl;
  argv[8] = id;
  argv[9] = action ? action : "";
  argv[10] = now;
  argv[11] = deadline;
  argv[12] = ttl;
  reply = store_command(store, 13, argv, errstr, errstr_size);
  free(info);
  if (!reply)
    return -1;
  if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
    rc = 1;
  } else if (reply->type == REDIS_REPLY_ARRAY) {
    *stored = record_from_reply(reply);
    rc = *stored ? 0 : store_error(errstr, errstr_size, "out of memory");
  } else {
    store_error(errstr, errstr_size, "redis claim: unexpected reply type %d", reply->type);
  }
  freeReplyObject(reply);
  return rc;
}

int cmd_store_next_requestid(cmd_store_t *store, int32_t *requestid, char *errstr,
                             size_t errstr_size) {
  char key[CMD_STORE_KEY_MAX];
  const char *argv[2] = {"INCR", key};
  redisReply *reply;

  cmd_store_key(store->pbx_id, "cmd-requestid", NULL, key, sizeof(key));
  reply = store_command(store, 2, argv, errstr, errstr_size);
  if (!reply)
    return -1;
  if (reply->type != REDIS_REPLY_INTEGER || reply->integer < 1) {
    freeReplyObject(reply);
    return store_error(errstr, errstr_size, "redis INCR %s: not a positive integer", key);
  }
  *requestid = (int32_t)(CMD_REQUESTID_BASE + (reply->integer - 1) % CMD_REQUESTID_SPAN);
  freeReplyObject(reply);
  return 0;
}

/* Send the appended pipeline and read `n` replies; 0 or -1 with errstr. */
static int store_pipeline_read(cmd_store_t *store, int n, char *errstr, size_t errstr_size) {
  redisReply *reply;
  int i, rc = 0;

  for (i = 0; i < n; i++) {
    if (redisGetReply(store->redis, (void **)&reply) != REDIS_OK) {
      store_error(errstr, errstr_size, "redis %s:%d: %s", store->host, store->port,
                  store->redis->errstr);
      store_drop(store);
      return -1;
    }
    if (reply->type == REDIS_REPLY_ERROR && rc == 0)
      rc = store_error(errstr, errstr_size, "redis: %.*s", (int)reply->len, reply->str);
    freeReplyObject(reply);
  }
  return rc;
}

int cmd_store_accepted(cmd_store_t *store, const char *id, int32_t requestid, int64_t sent_ms,
                       int64_t deadline_ms, char *errstr, size_t errstr_size) {
  char rec_key[CMD_STORE_KEY_MAX], inflight_key[CMD_STORE_KEY_MAX], req_key[CMD_STORE_KEY_MAX];
  char rid[16], sent[32], deadline[32], ttl[32];
  const char *hset[] = {"HSET",    rec_key, "status",      "accepted", "requestid",
                        rid,       "sent_ms", sent,        "deadline_ms", deadline};
  const char *zadd[] = {"ZADD", inflight_key, deadline, id};
  const char *set[] = {"SET", req_key, id, "PX", ttl};

  if (store_connect(store, errstr, errstr_size) < 0)
    return -1;
  snprintf(rid, sizeof(rid), "%ld", (long)requestid);
  snprintf(sent, sizeof(sent), "%lld", (long long)sent_ms);
  snprintf(deadline, sizeof(deadline), "%lld", (long long)deadline_ms);
  snprintf(ttl, sizeof(ttl), "%lld", (long long)store->ttl_ms);
  cmd_store_key(store->pbx_id, "cmd", id, rec_key, sizeof(rec_key));
  cmd_store_key(store->pbx_id, "cmd-inflight", NULL, inflight_key, sizeof(inflight_key));
  cmd_store_key(store->pbx_id, "req", rid, req_key, sizeof(req_key));
  /* One round trip; MULTI makes the three one step for other readers. */
  redisAppendCommand(store->redis, "MULTI");
  redisAppendCommandArgv(store->redis, 10, hset, NULL);
  redisAppendCommandArgv(store->redis, 4, zadd, NULL);
  redisAppendCommandArgv(store->redis, 5, set, NULL);
  redisAppendCommand(store->redis, "EXEC");
  return store_pipeline_read(store, 5, errstr, errstr_size);
}

int cmd_store_request_id(cmd_store_t *store, int32_t requestid, char *id, size_t id_size,
                         char *errstr, size_t errstr_size) {
  char key[CMD_STORE_KEY_MAX], rid[16];
  const char *argv[2] = {"GET", key};
  redisReply *reply;
  int rc = 0;

  snprintf(rid, sizeof(rid), "%ld", (long)requestid);
  cmd_store_key(store->pbx_id, "req", rid, key, sizeof(key));
  reply = store_command(store, 2, argv, errstr, errstr_size);
  if (!reply)
    return -1;
  if (reply->type == REDIS_REPLY_STRING) {
    snprintf(id, id_size, "%.*s", (int)reply->len, reply->str);
    rc = 1;
  }
  freeReplyObject(reply);
  return rc;
}

/* The hash fields of a result, as ARGV strings (kept in `buf`). */
typedef struct store_fields {
  const char *argv[40];
  char num[6][32];
  char *data;
  int n;
} store_fields_t;

static void fields_add(store_fields_t *f, const char *name, const char *value) {
  f->argv[f->n++] = name;
  f->argv[f->n++] = value ? value : "";
}

static void fields_fill(store_fields_t *f, const cmd_result_t *result, int64_t done_ms) {
  fields_add(f, "status", cmd_status_name(result->status));
  if (result->action)
    fields_add(f, "action", result->action);
  if (result->has_code) {
    snprintf(f->num[0], sizeof(f->num[0]), "%d", result->code);
    fields_add(f, "code", f->num[0]);
  }
  fields_add(f, "reason", result->reason);
  fields_add(f, "reason_code", cmd_reason_name(result->reason_code));
  if (result->requestid) {
    snprintf(f->num[1], sizeof(f->num[1]), "%ld", (long)result->requestid);
    fields_add(f, "requestid", f->num[1]);
  }
  snprintf(f->num[2], sizeof(f->num[2]), "%lld", (long long)done_ms);
  fields_add(f, "done_ms", f->num[2]);
  if (result->latency_ms >= 0) {
    snprintf(f->num[3], sizeof(f->num[3]), "%lld", (long long)result->latency_ms);
    fields_add(f, "latency_ms", f->num[3]);
  }
  if (result->data) {
    f->data = json_dumps(result->data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (f->data)
      fields_add(f, "data", f->data);
  }
}

int cmd_store_finish(cmd_store_t *store, const cmd_result_t *result, const char *text,
                     int64_t done_ms, char *errstr, size_t errstr_size) {
  char rec_key[CMD_STORE_KEY_MAX], inflight_key[CMD_STORE_KEY_MAX], ttl[32];
  store_fields_t f;
  const char *argv[64];
  char *rendered = NULL;
  redisReply *reply;
  int i, argc = 0, rc = -1;

  if (!result->id || !cmd_status_final(result->status) || result->status == CMD_STATUS_DUPLICATE)
    return store_error(errstr, errstr_size, "redis: only a final outcome of a command with an id "
                                            "is recorded");
  memset(&f, 0, sizeof(f));
  if (!text)
    text = rendered = cmd_result_json_text(result);
  if (!text)
    return store_error(errstr, errstr_size, "out of memory");
  fields_fill(&f, result, done_ms);
  cmd_store_key(store->pbx_id, "cmd", result->id, rec_key, sizeof(rec_key));
  cmd_store_key(store->pbx_id, "cmd-inflight", NULL, inflight_key, sizeof(inflight_key));
  snprintf(ttl, sizeof(ttl), "%lld", (long long)store->ttl_ms);
  argv[argc++] = "EVAL";
  argv[argc++] = finish_script;
  argv[argc++] = "2";
  argv[argc++] = rec_key;
  argv[argc++] = inflight_key;
  argv[argc++] = result->id;
  argv[argc++] = ttl;
  argv[argc++] = rec_key; /* the channel has the record's name */
  argv[argc++] = text;
  for (i = 0; i < f.n; i++)
    argv[argc++] = f.argv[i];
  reply = store_command(store, argc, argv, errstr, errstr_size);
  if (reply) {
    if (reply->type == REDIS_REPLY_INTEGER)
      rc = reply->integer == 1 ? 1 : 0;
    else
      store_error(errstr, errstr_size, "redis finish: unexpected reply type %d", reply->type);
    freeReplyObject(reply);
  }
  free(f.data);
  free(rendered);
  return rc;
}

int cmd_store_publish(cmd_store_t *store, const char *id, const char *text, char *errstr,
                      size_t errstr_size) {
  char channel[CMD_STORE_KEY_MAX];
  const char *argv[3] = {"PUBLISH", channel, text};
  redisReply *reply;

  cmd_store_key(store->pbx_id, "cmd", id, channel, sizeof(channel));
  reply = store_command(store, 3, argv, errstr, errstr_size);
  if (!reply)
    return -1;
  freeReplyObject(reply);
  return 0;
}

int cmd_store_get(cmd_store_t *store, const char *id, json_t **record, char *errstr,
                  size_t errstr_size) {
  char key[CMD_STORE_KEY_MAX];
  const char *argv[2] = {"HGETALL", key};
  redisReply *reply;

  *record = NULL;
  cmd_store_key(store->pbx_id, "cmd", id, key, sizeof(key));
  reply = store_command(store, 2, argv, errstr, errstr_size);
  if (!reply)
    return -1;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
    *record = record_from_reply(reply);
  freeReplyObject(reply);
  return *record ? 1 : 0;
}

static int64_t record_int(const json_t *record, const char *field) {
  const char *s = json_string_value(json_object_get(record, field));

  return s ? strtoll(s, NULL, 10) : 0;
}

int cmd_store_expired(cmd_store_t *store, int64_t now_ms, cmd_store_expired_t *out, size_t max,
                      size_t *n, char *errstr, size_t errstr_size) {
  char key[CMD_STORE_KEY_MAX], now[32], limit[32];
  const char *argv[] = {"ZRANGEBYSCORE", key, "-inf", now, "LIMIT", "0", limit};
  redisReply *reply;
  json_t *record;
  size_t i;
  int got;

  *n = 0;
  cmd_store_key(store->pbx_id, "cmd-inflight", NULL, key, sizeof(key));
  snprintf(now, sizeof(now), "(%lld", (long long)now_ms);
  snprintf(limit, sizeof(limit), "%zu", max);
  reply = store_command(store, 7, argv, errstr, errstr_size);
  if (!reply)
    return -1;
  for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements && *n < max; i++) {
    const redisReply *m = reply->element[i];
    cmd_store_expired_t *e = &out[*n];
    if (m->type != REDIS_REPLY_STRING)
      continue;
    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%.*s", (int)m->len, m->str);
    got = cmd_store_get(store, e->id, &record, errstr, errstr_size);
    if (got < 0) {
      freeReplyObject(reply);
      return -1;
    }
    if (got == 0) { /* the record expired: nothing left to complete */
      const char *zrem[] = {"ZREM", key, e->id};
      redisReply *r = store_command(store, 3, zrem, errstr, errstr_size);
      if (r)
        freeReplyObject(r);
      continue;
    }
    snprintf(e->action, sizeof(e->action), "%s",
             json_string_value(json_object_get(record, "action")) ? json_string_value(json_object_get(record, "action")) : "");
    e->requestid = (int32_t)record_int(record, "requestid");
    e->received_ms = record_int(record, "received_ms");
    e->deadline_ms = record_int(record, "deadline_ms");
    json_decref(record);
    (*n)++;
  }
  freeReplyObject(reply);
  return 0;
}

json_t *cmd_store_duplicate_json(const char *id, const json_t *record) {
  cmd_result_t result;
  const char *status = json_string_value(json_object_get(record, "status"));
  const char *code = json_string_value(json_object_get(record, "code"));
  const char *data = json_string_value(json_object_get(record, "data"));
  const char *reason = json_string_value(json_object_get(record, "reason"));
  const char *reason_code = json_string_value(json_object_get(record, "reason_code"));
  json_t *data_json = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL, *out;
  cmd_reason_t rc;

  cmd_result_init(&result, id, CMD_STATUS_DUPLICATE);
  result.original_status = status ? status : "unknown";
  if (code) {
    result.has_code = 1;
    result.code = (int)strtol(code, NULL, 10);
  }
  result.reason = reason && reason[0] ? reason : NULL;
  if (reason_code && cmd_reason_by_name(reason_code, &rc) == 0)
    result.reason_code = rc;
  result.requestid = (int32_t)record_int(record, "requestid");
  result.action = json_string_value(json_object_get(record, "action"));
  if (result.action && !result.action[0])
    result.action = NULL;
  if (json_object_get(record, "latency_ms"))
    result.latency_ms = record_int(record, "latency_ms");
  result.data = data_json;
  out = cmd_result_json(&result);
  json_decref(data_json);
  return out;
}

/* ---- a client's watcher of one command's channel ---- */

struct cmd_store_watch {
  cmd_store_t store; /* its URL, credentials and connection */
  char channel[CMD_STORE_KEY_MAX];
};

int cmd_store_watch_new(const cmd_store_config_t *conf, const char *id, cmd_store_watch_t **out,
                        char *errstr, size_t errstr_size) {
  cmd_store_watch_t *watch = calloc(1, sizeof(*watch));
  const char *argv[2];
  redisReply *reply;

  *out = NULL;
  if (!watch)
    return store_error(errstr, errstr_size, "out of memory");
  if (store_parse_url(&watch->store, conf->url, errstr, errstr_size) < 0)
    goto fail;
  watch->store.timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 500;
  cmd_store_key(conf->pbx_id, "cmd", id, watch->channel, sizeof(watch->channel));
  argv[0] = "SUBSCRIBE";
  argv[1] = watch->channel;
  reply = store_command(&watch->store, 2, argv, errstr, errstr_size);
  if (!reply)
    goto fail;
  freeReplyObject(reply);
  *out = watch;
  return 0;

fail:
  cmd_store_watch_destroy(watch);
  return -1;
}

static int64_t store_now_ms(void) {
  struct timeval tv;

  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

int cmd_store_watch_wait(cmd_store_watch_t *watch, int wait_ms, char **result_json, char *errstr,
                         size_t errstr_size) {
  int64_t deadline = store_now_ms() + wait_ms;
  redisReply *reply;
  struct timeval tv = {0, 200 * 1000};
  json_t *json;
  int final;

  *result_json = NULL;
  if (!watch->store.redis)
    return store_error(errstr, errstr_size, "redis: not connected");
  redisSetTimeout(watch->store.redis, tv);
  while (store_now_ms() < deadline) {
    reply = NULL;
    if (redisGetReply(watch->store.redis, (void **)&reply) != REDIS_OK) {
      if (watch->store.redis->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        /* A read timeout: hiredis marks the context failed; it cannot be reused. */
        watch->store.redis->err = 0;
        watch->store.redis->errstr[0] = '\0';
        continue;
      }
      return store_error(errstr, errstr_size, "redis: %s", watch->store.redis->errstr);
    }
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 3 &&
        reply->element[2]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "message") == 0) {
      json = json_loadb(reply->element[2]->str, reply->element[2]->len, 0, NULL);
      final = json && strcmp(json_string_value(json_object_get(json, "status")) ?
                             json_string_value(json_object_get(json, "status")) : "accepted",
                             "accepted") != 0;
      json_decref(json);
      if (final) {
        *result_json = strndup(reply->element[2]->str, reply->element[2]->len);
        freeReplyObject(reply);
        return *result_json ? 1 : store_error(errstr, errstr_size, "out of memory");
      }
    }
    freeReplyObject(reply);
  }
  return 0;
}

void cmd_store_watch_destroy(cmd_store_watch_t *watch) {
  if (!watch)
    return;
  store_drop(&watch->store);
  memset(watch->store.password, 0, sizeof(watch->store.password));
  free(watch);
}
