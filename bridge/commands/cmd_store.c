/*
 * cmd_store: the commands' records in Redis, asynchronous.  See cmd_store.h.
 */
#include "cmd_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>
#include <openssl/evp.h>

#define CMD_STORE_KEY_MAX (CMD_ID_MAX + 256)
#define CMD_STORE_ARGV_MAX 48

/* X(enum suffix, name, number of keys, body): the scripts, loaded by EVALSHA (EVAL on NOSCRIPT). */
#define CMD_STORE_SCRIPTS(X)                                                                              \
  /* KEYS: owner.  ARGV: epoch (0: the next).  {"owner", epoch} or {"fenced", holder} */                  \
  X(OWN, "own", 1,                                                                                               \
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"                                           \
    "local e = tonumber(ARGV[1])\n"                                                                       \
    "if e == 0 then return {'owner', tostring(redis.call('INCR', KEYS[1]))} end\n"                       \
    "if e < cur then return {'fenced', tostring(cur)} end\n"                                             \
    "redis.call('SET', KEYS[1], ARGV[1])\n"                                                               \
    "return {'owner', ARGV[1]}\n")                                                                        \
  /* KEYS: claim, record, inflight.  ARGV: claim value, claim ttl, id, action, received_ms,              \
   * deadline_ms, ttl, src, reply_to.  {"claimed"} or {"seen", HGETALL} */                                \
  X(CLAIM, "claim", 3,                                                                                    \
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"                                  \
    "  redis.call('HSET', KEYS[2], 'id', ARGV[3], 'status', 'received', 'action', ARGV[4],\n"             \
    "             'received_ms', ARGV[5], 'deadline_ms', ARGV[6], 'src', ARGV[8], 'reply_to', ARGV[9])\n" \
    "  redis.call('PEXPIRE', KEYS[2], ARGV[7])\n"                                                         \
    "  redis.call('ZADD', KEYS[3], ARGV[6], ARGV[3])\n"                                                   \
    "  return {'claimed'}\n"                                                                              \
    "end\n"                                                                                               \
    "return {'seen', redis.call('HGETALL', KEYS[2])}\n")                                                  \
  /* KEYS: record, inflight, requestid counter, owner.  ARGV: id, epoch, sent_ms, deadline_ms, ttl,       \
   * req key prefix, base, span.  {"accepted", rid} {"fenced", owner} {"final", HGETALL} {"absent"} */    \
  X(ACCEPTED, "accepted", 4,                                                                                          \
    "local owner = redis.call('GET', KEYS[4])\n"                                                          \
    "if owner ~= ARGV[2] then return {'fenced', owner or '0'} end\n"                                      \
    "local st = redis.call('HGET', KEYS[1], 'status')\n"                                                  \
    "if not st then return {'absent'} end\n"                                                              \
    "if st == 'succeeded' or st == 'failed' or st == 'rejected' or st == 'timeout' or\n"                  \
    "   (st == 'accepted' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2]) then\n"                    \
    "  return {'final', redis.call('HGETALL', KEYS[1])}\n"                                                \
    "end\n"                                                                                               \
    "local n = redis.call('INCR', KEYS[3])\n"                                                             \
    "local rid = tostring(tonumber(ARGV[7]) + (n - 1) % tonumber(ARGV[8]))\n"                             \
    "redis.call('HSET', KEYS[1], 'status', 'accepted', 'requestid', rid, 'sent_ms', ARGV[3],\n"           \
    "           'deadline_ms', ARGV[4], 'epoch', ARGV[2])\n"                                              \
    "redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])\n"                                                     \
    "redis.call('SET', ARGV[6] .. rid, ARGV[1], 'PX', ARGV[5])\n"                                         \
    "return {'accepted', rid}\n")                                                                         \
  /* KEYS: record, inflight.  ARGV: id, ttl, channel, result text, field, value, ...                      \
   * {"finished"} or {"final", HGETALL} */                                                                \
  X(FINISH, "finish", 2,                                                                                            \
    "local st = redis.call('HGET', KEYS[1], 'status')\n"                                                  \
    "if st == 'succeeded' or st == 'failed' or st == 'rejected' or st == 'timeout' then\n"                \
    "  return {'final', redis.call('HGETALL', KEYS[1])}\n"                                                \
    "end\n"                                                                                               \
    "redis.call('HSET', KEYS[1], 'result', ARGV[4], unpack(ARGV, 5))\n"                                   \
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"                                                           \
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"                                                              \
    "redis.call('PUBLISH', ARGV[3], ARGV[4])\n"                                                           \
    "return {'finished'}\n")                                                                              \
  /* KEYS: record.  {"published"} or {"absent"} */                                                        \
  X(PUBLISHED, "published", 1,                                                                                         \
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'absent'} end\n"                                  \
    "redis.call('HSET', KEYS[1], 'published', '1')\n"                                                     \
    "return {'published'}\n")                                                                             \
  /* KEYS: inflight, owner.  ARGV: now (exclusive), max, epoch (0: any), record key prefix.               \
   * {"fenced", owner} or {"expired", {id, action, requestid, received_ms, deadline_ms, reply_to}, ...} */          \
  X(EXPIRED, "expired", 2,                                                                                           \
    "if ARGV[3] ~= '0' and redis.call('GET', KEYS[2]) ~= ARGV[3] then\n"                                  \
    "  return {'fenced', redis.call('GET', KEYS[2]) or '0'}\n"                                            \
    "end\n"                                                                                               \
    "local out = {'expired'}\n"                                                                           \
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[2])\n"    \
    "for _, id in ipairs(ids) do\n"                                                                       \
    "  local r = redis.call('HMGET', ARGV[4] .. id, 'status', 'action', 'requestid', 'received_ms',\n"   \
    "                       'deadline_ms', 'reply_to')\n"                                                 \
    "  if not r[1] then redis.call('ZREM', KEYS[1], id)\n"                                                \
    "  else table.insert(out, {id, r[2] or '', r[3] or '0', r[4] or '0', r[5] or '0', r[6] or ''}) end\n" \
    "end\n"                                                                                               \
    "return out\n")

typedef enum cmd_store_script {
#define CMD_STORE_X_ENUM(e, n, k, b) CMD_STORE_SCRIPT_##e,
  CMD_STORE_SCRIPTS(CMD_STORE_X_ENUM)
#undef CMD_STORE_X_ENUM
  CMD_STORE_SCRIPT__COUNT,
  CMD_STORE_NO_SCRIPT = -1
} cmd_store_script_t;

static const struct {
  const char *name;
  int keys;
  const char *body;
} cmd_store_scripts[] = {
#define CMD_STORE_X_ROW(e, n, k, b) {n, k, b},
    CMD_STORE_SCRIPTS(CMD_STORE_X_ROW)
#undef CMD_STORE_X_ROW
};

/* What an operation is, and so how its reply becomes a result. */
typedef enum cmd_store_kind {
  CMD_STORE_OP_OWN,
  CMD_STORE_OP_CLAIM,
  CMD_STORE_OP_ACCEPTED,
  CMD_STORE_OP_REQUEST_ID,
  CMD_STORE_OP_FINISH,
  CMD_STORE_OP_PUBLISHED,
  CMD_STORE_OP_PUBLISH,
  CMD_STORE_OP_GET,
  CMD_STORE_OP_EXPIRED
} cmd_store_kind_t;

/* One operation in flight: its own copy of the arguments (a NOSCRIPT answer sends them again). */
typedef struct cmd_store_op {
  struct cmd_store_op *prev, *next;
  cmd_store_t *store; /* NULL once the store was destroyed (already answered) */
  cmd_store_kind_t kind;
  cmd_store_script_t script;
  cmd_store_cb *cb;
  void *opaque;
  int argc, broken; /* broken: an argument was lost (memory) */
  char *argv[CMD_STORE_ARGV_MAX];
  size_t max; /* expired: how many at most */
} cmd_store_op_t;

struct cmd_store {
  redis_client_t *redis;
  char pbx_id[128];
  int64_t ttl_ms, claim_ttl_ms;
  char sha[CMD_STORE_SCRIPT__COUNT][41];
  cmd_store_op_t *ops; /* pending */
  size_t pending;
};

void cmd_store_config_init(cmd_store_config_t *conf) {
  memset(conf, 0, sizeof(*conf));
  conf->pbx_id = "ipo";
  conf->ttl_ms = 24LL * 3600 * 1000;
}

void cmd_store_key(const char *pbx_id, const char *kind, const char *id, char *out, size_t size) {
  if (id)
    snprintf(out, size, "mtcti3:%s:%s:%s", pbx_id, kind, id);
  else
    snprintf(out, size, "mtcti3:%s:%s", pbx_id, kind);
}

void cmd_store_src_text(const cmd_store_src_t *src, char *out, size_t size) {
  snprintf(out, size, "%s/%ld/%lld", src && src->topic ? src->topic : "", src ? (long)src->partition : -1L,
           src ? (long long)src->offset : -1LL);
}

int cmd_store_status_final(const char *status) {
  return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                    strcmp(status, "rejected") == 0 || strcmp(status, "timeout") == 0);
}

size_t cmd_store_pending(const cmd_store_t *store) { return store->pending; }

/* ---- operations ---- */

static void cmd_store_op_free(cmd_store_op_t *op) {
  for (int i = 0; i < op->argc; i++)
    free(op->argv[i]);
  free(op);
}

static void cmd_store_unlink(cmd_store_op_t *op) {
  cmd_store_t *store = op->store;
  if (!store)
    return;
  if (op->prev)
    op->prev->next = op->next;
  else
    store->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->prev = op->next = NULL;
  store->pending--;
}

/* Answer the operation once and forget it. */
static void cmd_store_answer(cmd_store_op_t *op, const cmd_store_res_t *res) {
  cmd_store_cb *cb = op->cb;
  void *opaque = op->opaque;
  cmd_store_unlink(op);
  op->store = NULL;
  op->cb = NULL;
  if (cb)
    cb(opaque, res);
}

static void cmd_store_fail(cmd_store_op_t *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cmd_store_fail(cmd_store_op_t *op, const char *fmt, ...) {
  char errstr[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errstr, sizeof(errstr), fmt, ap);
  va_end(ap);
  cmd_store_res_t res = {.rc = CMD_STORE_FAILED, .errstr = errstr};
  cmd_store_answer(op, &res);
}

/* A flat field/value array -> {"field": "value", ...}. */
static json_t *cmd_store_record(const redisReply *reply) {
  json_t *obj = json_object();
  for (size_t i = 0; obj && reply && reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
    const redisReply *k = reply->element[i], *v = reply->element[i + 1];
    if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
      json_object_set_new(obj, k->str, json_stringn(v->str, v->len));
  }
  return obj;
}

/* The tag a script answered with ({"tag", ...}), or "" . */
static const char *cmd_store_tag(const redisReply *reply) {
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_STRING)
    return reply->element[0]->str;
  return "";
}

static const redisReply *cmd_store_elem(const redisReply *reply, size_t i) {
  return reply->type == REDIS_REPLY_ARRAY && i < reply->elements ? reply->element[i] : NULL;
}

static int64_t cmd_store_elem_int(const redisReply *reply, size_t i) {
  const redisReply *e = cmd_store_elem(reply, i);
  if (!e)
    return 0;
  if (e->type == REDIS_REPLY_INTEGER)
    return e->integer;
  return e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
}

static void cmd_store_send(cmd_store_op_t *op);

/* A reply -> the operation's result. */
static void cmd_store_on_reply(void *opaque, const redisReply *reply, const char *errstr) {
  cmd_store_op_t *op = opaque;
  if (!op->store) { /* answered when the store was destroyed */
    cmd_store_op_free(op);
    return;
  }
  if (!reply) {
    cmd_store_fail(op, "%s", errstr);
    cmd_store_op_free(op);
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    if (op->script != CMD_STORE_NO_SCRIPT && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        strcmp(op->argv[0], "EVALSHA") == 0) { /* the script is not cached (a new or flushed server): send it */
      free(op->argv[0]);
      free(op->argv[1]);
      op->argv[0] = strdup("EVAL");
      op->argv[1] = strdup(cmd_store_scripts[op->script].body);
      if (op->argv[0] && op->argv[1]) {
        cmd_store_send(op);
        return;
      }
    }
    cmd_store_fail(op, "redis %s: %s", op->script == CMD_STORE_NO_SCRIPT ? op->argv[0] : cmd_store_scripts[op->script].name,
                   reply->str);
    cmd_store_op_free(op);
    return;
  }
  cmd_store_res_t res = {.rc = CMD_STORE_DONE};
  json_t *record = NULL;
  cmd_store_expired_t *expired = NULL;
  const char *tag = cmd_store_tag(reply);
  char id[CMD_ID_MAX + 1];
  switch (op->kind) {
  case CMD_STORE_OP_OWN:
    res.rc = strcmp(tag, "owner") == 0 ? CMD_STORE_DONE : CMD_STORE_FENCED;
    res.value = cmd_store_elem_int(reply, 1);
    break;
  case CMD_STORE_OP_CLAIM:
    if (strcmp(tag, "seen") == 0) {
      res.rc = CMD_STORE_SEEN;
      res.record = record = cmd_store_record(cmd_store_elem(reply, 1));
    }
    break;
  case CMD_STORE_OP_ACCEPTED:
    if (strcmp(tag, "accepted") == 0) {
      res.value = cmd_store_elem_int(reply, 1);
    } else if (strcmp(tag, "fenced") == 0) {
      res.rc = CMD_STORE_FENCED;
      res.value = cmd_store_elem_int(reply, 1);
    } else if (strcmp(tag, "final") == 0) {
      res.rc = CMD_STORE_FINAL;
      res.record = record = cmd_store_record(cmd_store_elem(reply, 1));
    } else {
      res.rc = CMD_STORE_ABSENT;
    }
    break;
  case CMD_STORE_OP_FINISH:
    if (strcmp(tag, "final") == 0) {
      res.rc = CMD_STORE_FINAL;
      res.record = record = cmd_store_record(cmd_store_elem(reply, 1));
    }
    break;
  case CMD_STORE_OP_PUBLISHED:
    res.rc = strcmp(tag, "published") == 0 ? CMD_STORE_DONE : CMD_STORE_ABSENT;
    break;
  case CMD_STORE_OP_REQUEST_ID:
    if (reply->type == REDIS_REPLY_STRING) {
      snprintf(id, sizeof(id), "%.*s", (int)reply->len, reply->str);
      res.id = id;
    } else {
      res.rc = CMD_STORE_ABSENT;
    }
    break;
  case CMD_STORE_OP_GET:
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
      res.record = record = cmd_store_record(reply);
    else
      res.rc = CMD_STORE_ABSENT;
    break;
  case CMD_STORE_OP_EXPIRED:
    if (strcmp(tag, "fenced") == 0) {
      res.rc = CMD_STORE_FENCED;
      res.value = cmd_store_elem_int(reply, 1);
      break;
    }
    expired = calloc(reply->elements ? reply->elements : 1, sizeof(*expired));
    for (size_t i = 1; expired && i < reply->elements && res.n_expired < op->max; i++) {
      const redisReply *e = reply->element[i];
      cmd_store_expired_t *x = &expired[res.n_expired];
      if (e->type != REDIS_REPLY_ARRAY || e->elements != 6 || e->element[0]->type != REDIS_REPLY_STRING)
        continue;
      snprintf(x->id, sizeof(x->id), "%.*s", (int)e->element[0]->len, e->element[0]->str);
      snprintf(x->action, sizeof(x->action), "%.*s", e->element[1]->str ? (int)e->element[1]->len : 0,
               e->element[1]->str ? e->element[1]->str : "");
      x->requestid = (int32_t)cmd_store_elem_int(e, 2);
      x->received_ms = cmd_store_elem_int(e, 3);
      x->deadline_ms = cmd_store_elem_int(e, 4);
      if (e->element[5]->type == REDIS_REPLY_STRING)
        snprintf(x->reply_to, sizeof(x->reply_to), "%.*s", (int)e->element[5]->len, e->element[5]->str);
      res.n_expired++;
    }
    res.expired = expired;
    if (!expired) {
      cmd_store_fail(op, "redis: out of memory");
      cmd_store_op_free(op);
      return;
    }
    break;
  case CMD_STORE_OP_PUBLISH:
    break;
  }
  int wants_record = res.rc == CMD_STORE_SEEN || res.rc == CMD_STORE_FINAL ||
                     (op->kind == CMD_STORE_OP_GET && res.rc == CMD_STORE_DONE);
  if (wants_record && !record) {
    cmd_store_fail(op, "redis: out of memory");
  } else {
    cmd_store_answer(op, &res);
  }
  json_decref(record);
  free(expired);
  cmd_store_op_free(op);
}

static void cmd_store_send(cmd_store_op_t *op) {
  redis_client_command(op->store->redis, op->argc, (const char **)op->argv, NULL, cmd_store_on_reply, op);
}

/* A new operation; its arguments are added with cmd_store_arg. */
static cmd_store_op_t *cmd_store_op(cmd_store_t *store, cmd_store_kind_t kind, cmd_store_script_t script,
                                    cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = calloc(1, sizeof(*op));
  if (!op)
    return NULL;
  op->store = store;
  op->kind = kind;
  op->script = script;
  op->cb = cb;
  op->opaque = opaque;
  op->next = store->ops;
  if (store->ops)
    store->ops->prev = op;
  store->ops = op;
  store->pending++;
  return op;
}

static void cmd_store_arg(cmd_store_op_t *op, const char *arg) {
  char *copy = op->argc < CMD_STORE_ARGV_MAX ? strdup(arg ? arg : "") : NULL;
  if (copy)
    op->argv[op->argc++] = copy;
  else
    op->broken = 1;
}

static void cmd_store_argf(cmd_store_op_t *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cmd_store_argf(cmd_store_op_t *op, const char *fmt, ...) {
  char buf[CMD_STORE_KEY_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  cmd_store_arg(op, buf);
}

/* A script's operation: EVALSHA sha nkeys, then the caller's keys and arguments. */
static cmd_store_op_t *cmd_store_script_op(cmd_store_t *store, cmd_store_kind_t kind, cmd_store_script_t script,
                                           cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_op(store, kind, script, cb, opaque);
  if (!op)
    return NULL;
  cmd_store_arg(op, "EVALSHA");
  cmd_store_arg(op, store->sha[script]);
  cmd_store_argf(op, "%d", cmd_store_scripts[script].keys);
  return op;
}

/* Send the built operation, or answer it FAILED at once when building it ran out of memory. */
static void cmd_store_go(cmd_store_op_t *op) {
  if (op->broken) {
    cmd_store_fail(op, "redis: out of memory");
    cmd_store_op_free(op);
    return;
  }
  cmd_store_send(op);
}

/* An operation that could not even be made: the caller hears at once (short of memory). */
static void cmd_store_oom(cmd_store_cb *cb, void *opaque) {
  cmd_store_res_t res = {.rc = CMD_STORE_FAILED, .errstr = "redis: out of memory"};
  cb(opaque, &res);
}

/* ---- the API ---- */

static void cmd_store_sha1(const char *body, char out[41]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  out[0] = '\0';
  if (EVP_Digest(body, strlen(body), md, &len, EVP_sha1(), NULL) != 1)
    return;
  for (unsigned int i = 0; i < len && i < 20; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int cmd_store_new(const cmd_store_config_t *conf, redis_client_t *redis, cmd_store_t **out, char *errstr,
                  size_t errstr_size) {
  *out = NULL;
  if (!conf->pbx_id || !conf->pbx_id[0] || strlen(conf->pbx_id) >= 128) {
    snprintf(errstr, errstr_size, "redis: pbx id must be 1 to 127 characters");
    return -1;
  }
  cmd_store_t *store = calloc(1, sizeof(*store));
  if (!store) {
    snprintf(errstr, errstr_size, "redis: out of memory");
    return -1;
  }
  store->redis = redis;
  snprintf(store->pbx_id, sizeof(store->pbx_id), "%s", conf->pbx_id);
  store->ttl_ms = conf->ttl_ms > 0 ? conf->ttl_ms : 24LL * 3600 * 1000;
  store->claim_ttl_ms = conf->claim_ttl_ms > 0 ? conf->claim_ttl_ms : store->ttl_ms;
  for (int i = 0; i < CMD_STORE_SCRIPT__COUNT; i++)
    cmd_store_sha1(cmd_store_scripts[i].body, store->sha[i]);
  *out = store;
  return 0;
}

void cmd_store_destroy(cmd_store_t *store) {
  if (!store)
    return;
  while (store->ops) {
    cmd_store_op_t *op = store->ops; /* freed when the client answers it */
    cmd_store_res_t res = {.rc = CMD_STORE_FAILED, .errstr = "redis: command store closed"};
    cmd_store_answer(op, &res);
  }
  free(store);
}

void cmd_store_own(cmd_store_t *store, int64_t epoch, cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_script_op(store, CMD_STORE_OP_OWN, CMD_STORE_SCRIPT_OWN, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_argf(op, "mtcti3:%s:owner", store->pbx_id);
  cmd_store_argf(op, "%lld", (long long)epoch);
  cmd_store_go(op);
}

void cmd_store_claim(cmd_store_t *store, const char *id, const char *action, const char *reply_to,
                     int64_t received_ms, int64_t deadline_ms, const cmd_store_src_t *src, cmd_store_cb *cb,
                     void *opaque) {
  char srctext[400];
  cmd_store_src_text(src, srctext, sizeof(srctext));
  json_t *info_json = json_pack("{sssIss}", "action", action ? action : "", "claimed_ms", (json_int_t)received_ms,
                                "src", srctext);
  char *info = info_json ? json_dumps(info_json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(info_json);
  cmd_store_op_t *op = info ? cmd_store_script_op(store, CMD_STORE_OP_CLAIM, CMD_STORE_SCRIPT_CLAIM, cb, opaque) : NULL;
  if (!op) {
    free(info);
    return cmd_store_oom(cb, opaque);
  }
  cmd_store_argf(op, "mtcti3:%s:claim:%s", store->pbx_id, id);
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, id);
  cmd_store_argf(op, "mtcti3:%s:cmd-inflight", store->pbx_id);
  cmd_store_arg(op, info);
  cmd_store_argf(op, "%lld", (long long)store->claim_ttl_ms);
  cmd_store_arg(op, id);
  cmd_store_arg(op, action ? action : "");
  cmd_store_argf(op, "%lld", (long long)received_ms);
  cmd_store_argf(op, "%lld", (long long)deadline_ms);
  cmd_store_argf(op, "%lld", (long long)store->ttl_ms);
  cmd_store_arg(op, srctext);
  cmd_store_arg(op, reply_to ? reply_to : "");
  free(info);
  cmd_store_go(op);
}

void cmd_store_accepted(cmd_store_t *store, const char *id, int64_t epoch, int64_t sent_ms, int64_t deadline_ms,
                        cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_script_op(store, CMD_STORE_OP_ACCEPTED, CMD_STORE_SCRIPT_ACCEPTED, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, id);
  cmd_store_argf(op, "mtcti3:%s:cmd-inflight", store->pbx_id);
  cmd_store_argf(op, "mtcti3:%s:cmd-requestid", store->pbx_id);
  cmd_store_argf(op, "mtcti3:%s:owner", store->pbx_id);
  cmd_store_arg(op, id);
  cmd_store_argf(op, "%lld", (long long)epoch);
  cmd_store_argf(op, "%lld", (long long)sent_ms);
  cmd_store_argf(op, "%lld", (long long)deadline_ms);
  cmd_store_argf(op, "%lld", (long long)store->ttl_ms);
  cmd_store_argf(op, "mtcti3:%s:req:", store->pbx_id);
  cmd_store_argf(op, "%ld", CMD_REQUESTID_BASE);
  cmd_store_argf(op, "%ld", CMD_REQUESTID_SPAN);
  cmd_store_go(op);
}

void cmd_store_request_id(cmd_store_t *store, int32_t requestid, cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_op(store, CMD_STORE_OP_REQUEST_ID, CMD_STORE_NO_SCRIPT, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_arg(op, "GET");
  cmd_store_argf(op, "mtcti3:%s:req:%ld", store->pbx_id, (long)requestid);
  cmd_store_go(op);
}

void cmd_store_finish(cmd_store_t *store, const cmd_result_t *result, const char *text, int64_t done_ms,
                      cmd_store_cb *cb, void *opaque) {
  char *rendered = NULL, *data = NULL;
  if (!result->id || !cmd_status_final(result->status) || result->status == CMD_STATUS_DUPLICATE) {
    cmd_store_res_t res = {.rc = CMD_STORE_FAILED,
                           .errstr = "redis: only a final outcome of a command with an id is recorded"};
    cb(opaque, &res); /* a caller's mistake, told at once */
    return;
  }
  if (!text)
    text = rendered = cmd_result_json_text(result);
  cmd_store_op_t *op = text ? cmd_store_script_op(store, CMD_STORE_OP_FINISH, CMD_STORE_SCRIPT_FINISH, cb, opaque) : NULL;
  if (!op) {
    free(rendered);
    return cmd_store_oom(cb, opaque);
  }
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, result->id);
  cmd_store_argf(op, "mtcti3:%s:cmd-inflight", store->pbx_id);
  cmd_store_arg(op, result->id);
  cmd_store_argf(op, "%lld", (long long)store->ttl_ms);
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, result->id); /* the channel has the record's name */
  cmd_store_arg(op, text);
  cmd_store_arg(op, "status");
  cmd_store_arg(op, cmd_status_name(result->status));
  if (result->action) {
    cmd_store_arg(op, "action");
    cmd_store_arg(op, result->action);
  }
  if (result->has_code) {
    cmd_store_arg(op, "code");
    cmd_store_argf(op, "%d", result->code);
  }
  cmd_store_arg(op, "reason");
  cmd_store_arg(op, result->reason);
  cmd_store_arg(op, "reason_code");
  cmd_store_arg(op, cmd_reason_name(result->reason_code));
  if (result->requestid) {
    cmd_store_arg(op, "requestid");
    cmd_store_argf(op, "%ld", (long)result->requestid);
  }
  cmd_store_arg(op, "done_ms");
  cmd_store_argf(op, "%lld", (long long)done_ms);
  if (result->latency_ms >= 0) {
    cmd_store_arg(op, "latency_ms");
    cmd_store_argf(op, "%lld", (long long)result->latency_ms);
  }
  if (result->data && (data = json_dumps(result->data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY))) {
    cmd_store_arg(op, "data");
    cmd_store_arg(op, data);
  }
  free(data);
  free(rendered);
  cmd_store_go(op);
}

void cmd_store_published(cmd_store_t *store, const char *id, cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_script_op(store, CMD_STORE_OP_PUBLISHED, CMD_STORE_SCRIPT_PUBLISHED, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, id);
  cmd_store_go(op);
}

void cmd_store_publish(cmd_store_t *store, const char *id, const char *text, cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_op(store, CMD_STORE_OP_PUBLISH, CMD_STORE_NO_SCRIPT, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_arg(op, "PUBLISH");
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, id);
  cmd_store_arg(op, text);
  cmd_store_go(op);
}

void cmd_store_get(cmd_store_t *store, const char *id, cmd_store_cb *cb, void *opaque) {
  cmd_store_op_t *op = cmd_store_op(store, CMD_STORE_OP_GET, CMD_STORE_NO_SCRIPT, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  cmd_store_arg(op, "HGETALL");
  cmd_store_argf(op, "mtcti3:%s:cmd:%s", store->pbx_id, id);
  cmd_store_go(op);
}

void cmd_store_expired(cmd_store_t *store, int64_t now_ms, int64_t epoch, size_t max, cmd_store_cb *cb,
                       void *opaque) {
  cmd_store_op_t *op = cmd_store_script_op(store, CMD_STORE_OP_EXPIRED, CMD_STORE_SCRIPT_EXPIRED, cb, opaque);
  if (!op)
    return cmd_store_oom(cb, opaque);
  op->max = max;
  cmd_store_argf(op, "mtcti3:%s:cmd-inflight", store->pbx_id);
  cmd_store_argf(op, "mtcti3:%s:owner", store->pbx_id);
  cmd_store_argf(op, "%lld", (long long)now_ms);
  cmd_store_argf(op, "%zu", max);
  cmd_store_argf(op, "%lld", (long long)epoch);
  cmd_store_argf(op, "mtcti3:%s:cmd:", store->pbx_id);
  cmd_store_go(op);
}

static int64_t record_int(const json_t *record, const char *field) {
  const char *s = json_string_value(json_object_get(record, field));
  return s ? strtoll(s, NULL, 10) : 0;
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
