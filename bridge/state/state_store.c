/*
 * state_store: Redis persistence of the snapshot state.  See state_store.h.
 */
#include "state_store.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis.h>

#include "blog.h"
#include "jbuf.h"
#include "metrics.h"

/*
 * Consecutive writes of one kind to one hash, sent as one HSET or HDEL: its
 * arguments after the command name and key, already in Redis's protocol
 * (RESP bulk strings), so a value is copied once into it and once into
 * hiredis's output buffer.
 */
typedef struct state_store_cmd {
  int open, del;
  size_t argc;
  jbuf_t args;
} state_store_cmd_t;

/* Replies not yet read before a flush waits for them (each is one HSET or HDEL of up to 2000 fields). */
#define STATE_STORE_REPLIES_OWED_MAX 256

struct state_store {
  state_store_cmd_t cmds[2]; /* 0: the state hash, 1: the pending hash */
  redisContext *redis;
  char host[256];
  int port, db;
  char password[256];
  char state_key[256], pending_key[256];
  size_t queued; /* commands appended, replies not read */
  long long pending_seq;
  int healthy;
  jbuf_t scratch; /* a pending record's head line */
};

static int state_store_parse_url(state_store_t *store, const char *url, char *errstr, size_t errstr_size) {
  const char *p = url + strlen("redis://");
  const char *at = strchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    snprintf(store->password, sizeof(store->password), "%.*s", (int)(at - pw), pw);
    p = at + 1;
  }
  const char *slash = strchr(p, '/');
  const char *colon = strchr(p, ':');
  size_t host_len = colon && (!slash || colon < slash) ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
  snprintf(store->host, sizeof(store->host), "%.*s", (int)host_len, p);
  store->port = colon && (!slash || colon < slash) ? atoi(colon + 1) : 6379;
  store->db = slash && slash[1] ? atoi(slash + 1) : 0;
  if (!store->host[0] || store->port <= 0 || store->port > 65535) {
    snprintf(errstr, errstr_size, "redis_url: cannot parse \"%s\"", url);
    return -1;
  }
  return 0;
}

static void state_store_cmd_free(state_store_cmd_t *cmd) {
  jbuf_reset(&cmd->args);
  cmd->argc = 0;
  cmd->open = 0;
}

static void state_store_drop(state_store_t *store) {
  state_store_cmd_free(&store->cmds[0]);
  state_store_cmd_free(&store->cmds[1]);
  if (store->redis)
    redisFree(store->redis);
  store->redis = NULL;
  store->queued = 0;
  store->healthy = 0;
}

static int state_store_connect(state_store_t *store, char *errstr, size_t errstr_size) {
  struct timeval tv = {2, 0};
  state_store_drop(store);
  store->redis = redisConnectWithTimeout(store->host, store->port, tv);
  if (!store->redis || store->redis->err) {
    snprintf(errstr, errstr_size, "redis %s:%d: %s", store->host, store->port,
             store->redis ? store->redis->errstr : "out of memory");
    state_store_drop(store);
    return -1;
  }
  redisSetTimeout(store->redis, tv);
  redisReply *reply = NULL;
  if (store->password[0]) {
    reply = redisCommand(store->redis, "AUTH %s", store->password);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      snprintf(errstr, errstr_size, "redis %s:%d: AUTH failed", store->host, store->port);
      goto fail;
    }
    freeReplyObject(reply);
  }
  if (store->db) {
    reply = redisCommand(store->redis, "SELECT %d", store->db);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      snprintf(errstr, errstr_size, "redis %s:%d: SELECT %d failed", store->host, store->port, store->db);
      goto fail;
    }
    freeReplyObject(reply);
  }
  store->healthy = 1;
  return 0;
fail:
  if (reply)
    freeReplyObject(reply);
  state_store_drop(store);
  return -1;
}

state_store_t *state_store_new(const config_t *config, char *errstr, size_t errstr_size) {
  state_store_t *store = calloc(1, sizeof(*store));
  if (!store) {
    snprintf(errstr, errstr_size, "redis: out of memory");
    return NULL;
  }
  if (!config->redis_url[0])
    return store;
  if (state_store_parse_url(store, config->redis_url, errstr, errstr_size) != 0) {
    free(store);
    return NULL;
  }
  snprintf(store->state_key, sizeof(store->state_key), "mtcti3:%s:state", config->pbx_id);
  snprintf(store->pending_key, sizeof(store->pending_key), "mtcti3:%s:pending", config->pbx_id);
  return store;
}

void state_store_destroy(state_store_t *store) {
  if (!store)
    return;
  state_store_sync(store);
  state_store_drop(store);
  for (int i = 0; i < 2; i++)
    jbuf_free(&store->cmds[i].args);
  jbuf_free(&store->scratch);
  memset(store->password, 0, sizeof(store->password));
  free(store);
}

int state_store_enabled(const state_store_t *store) { return store && store->host[0]; }
int state_store_healthy(const state_store_t *store) { return !state_store_enabled(store) || store->healthy; }

static int state_store_pending_cmp(const void *a, const void *b) {
  json_int_t na = json_integer_value(json_object_get(*(json_t *const *)a, "n"));
  json_int_t nb = json_integer_value(json_object_get(*(json_t *const *)b, "n"));
  return na < nb ? -1 : na > nb;
}

int state_store_load(state_store_t *store, snap_t *snap, json_t **pending, size_t *entities,
                     char *errstr, size_t errstr_size) {
  *pending = json_array();
  *entities = 0;
  if (!state_store_enabled(store))
    return 0;
  if (state_store_connect(store, errstr, errstr_size) != 0)
    return -1;
  redisReply *reply = redisCommand(store->redis, "HGETALL %s", store->state_key);
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    snprintf(errstr, errstr_size, "redis HGETALL %s failed", store->state_key);
    if (reply)
      freeReplyObject(reply);
    return -1;
  }
  for (size_t i = 0; i + 1 < reply->elements; i += 2) {
    const char *id = reply->element[i]->str, *text = reply->element[i + 1]->str;
    size_t len = reply->element[i + 1]->len;
    const char *nl = memchr(text, '\n', len);
    json_error_t jerr = {0};
    json_t *record = nl ? json_loadb(text, (size_t)(nl - text), JSON_DECODE_ANY, &jerr) : NULL;
    json_t *last = nl ? json_loadb(nl + 1, len - (size_t)(nl + 1 - text), JSON_DECODE_ANY, &jerr) : NULL;
    char err[256] = "";
    if (record && last) {
      /* v 2: the line after the record is the state; before it, the entity's last event */
      json_t *state = json_integer_value(json_object_get(record, "v")) == 2 ? last : json_object_get(last, "after");
      json_object_set(record, "state", state ? state : json_null());
    }
    if (!record || !last || snap_restore(snap, id, record, err, sizeof(err)) != 0)
      BLOG_W(REDIS, NULL, "ignoring stored state of %s: %s", id, err[0] ? err : nl ? jerr.text : "no header");
    else
      (*entities)++;
    json_decref(record);
    json_decref(last);
  }
  freeReplyObject(reply);

  reply = redisCommand(store->redis, "HGETALL %s", store->pending_key);
  if (!reply || reply->type != REDIS_REPLY_ARRAY) {
    snprintf(errstr, errstr_size, "redis HGETALL %s failed", store->pending_key);
    if (reply)
      freeReplyObject(reply);
    return -1;
  }
  size_t n = reply->elements / 2, k = 0;
  json_t **records = calloc(n ? n : 1, sizeof(*records));
  for (size_t i = 0; records && i + 1 < reply->elements; i += 2) {
    event_t event;
    long long seq = 0;
    char err[256];
    if (event_from_record_text(reply->element[i + 1]->str, reply->element[i + 1]->len, &event, &seq, err,
                               sizeof(err)) != 0) {
      BLOG_W(REDIS, NULL, "ignoring stored event %s: %s", reply->element[i]->str, err);
      continue;
    }
    event_clear(&event);
    if (seq > store->pending_seq)
      store->pending_seq = seq;
    records[k++] = json_pack("{s:I,s:s%}", "n", (json_int_t)seq, "text", reply->element[i + 1]->str,
                             reply->element[i + 1]->len);
  }
  freeReplyObject(reply);
  if (records) {
    qsort(records, k, sizeof(*records), state_store_pending_cmp);
    for (size_t i = 0; i < k; i++) {
      json_array_append(*pending, json_object_get(records[i], "text"));
      json_decref(records[i]);
    }
    free(records);
  }
  return 0;
}

/* Hand the open command of `hash` to hiredis's output buffer. */
static void state_store_close(state_store_t *store, int hash) {
  state_store_cmd_t *cmd = &store->cmds[hash];
  if (!cmd->open)
    return;
  const char *key = hash ? store->pending_key : store->state_key;
  char head[320];
  int n = snprintf(head, sizeof(head), "*%zu\r\n$4\r\n%s\r\n$%zu\r\n%s\r\n", cmd->argc + 2,
                   cmd->del ? "HDEL" : "HSET", strlen(key), key);
  if (store->redis && !cmd->args.failed && n > 0 && (size_t)n < sizeof(head) &&
      redisAppendFormattedCommand(store->redis, head, (size_t)n) == REDIS_OK &&
      redisAppendFormattedCommand(store->redis, cmd->args.data, cmd->args.len) == REDIS_OK)
    store->queued++;
  else
    metrics_add(METRICS_REDIS_ERRORS, 1);
  state_store_cmd_free(cmd);
}

/*
 * Open (or continue) the command of `hash` for one more field: HSET when
 * del is 0, HDEL when 1.  Runs of the same kind on the same hash become one
 * command; order is kept.  NULL when there is no connection.
 */
static state_store_cmd_t *state_store_cmd(state_store_t *store, int hash, int del) {
  if (!store->redis) {
    char errstr[256];
    if (state_store_connect(store, errstr, sizeof(errstr)) != 0) {
      metrics_add(METRICS_REDIS_ERRORS, 1);
      return NULL;
    }
    BLOG_I(REDIS, NULL, "connected to %s:%d", store->host, store->port);
  }
  state_store_cmd_t *cmd = &store->cmds[hash];
  if (cmd->open && (cmd->del != del || cmd->argc >= 4000))
    state_store_close(store, hash);
  if (!cmd->open) {
    cmd->open = 1;
    cmd->del = del;
  }
  return cmd;
}

/* One bulk string of len bytes, written by the caller with jbuf_put between begin and end. */
static void state_store_arg_begin(state_store_cmd_t *cmd, size_t len) {
  jbuf_char(&cmd->args, '$');
  jbuf_uint(&cmd->args, len);
  jbuf_put(&cmd->args, "\r\n", 2);
}

static void state_store_arg_end(state_store_cmd_t *cmd) {
  jbuf_put(&cmd->args, "\r\n", 2);
  cmd->argc++;
}

static void state_store_arg(state_store_cmd_t *cmd, const char *data, size_t len) {
  state_store_arg_begin(cmd, len);
  jbuf_put(&cmd->args, data, len);
  state_store_arg_end(cmd);
}

void state_store_put(state_store_t *store, const char *entity_id, const char *head, size_t head_len,
                     const char *state_text, size_t state_len) {
  if (!state_store_enabled(store))
    return;
  state_store_cmd_t *cmd = state_store_cmd(store, 0, 0);
  if (!cmd)
    return;
  if (!state_text) {
    state_text = "null";
    state_len = 4;
  }
  state_store_arg(cmd, entity_id, strlen(entity_id));
  state_store_arg_begin(cmd, head_len + 1 + state_len);
  jbuf_put(&cmd->args, head, head_len);
  jbuf_char(&cmd->args, '\n');
  jbuf_put(&cmd->args, state_text, state_len);
  state_store_arg_end(cmd);
}

void state_store_del(state_store_t *store, const char *entity_id) {
  state_store_cmd_t *cmd = state_store_enabled(store) ? state_store_cmd(store, 0, 1) : NULL;
  if (cmd)
    state_store_arg(cmd, entity_id, strlen(entity_id));
}

void state_store_pending_add(state_store_t *store, const event_t *event) {
  state_store_cmd_t *cmd = state_store_enabled(store) ? state_store_cmd(store, 1, 0) : NULL;
  if (!cmd)
    return;
  jbuf_reset(&store->scratch);
  event_record_write_head(event, ++store->pending_seq, &store->scratch);
  state_store_arg(cmd, event->ce_id, strlen(event->ce_id));
  state_store_arg_begin(cmd, store->scratch.len + event->value_len);
  jbuf_put(&cmd->args, store->scratch.data, store->scratch.len);
  if (event->value)
    jbuf_put(&cmd->args, event->value, event->value_len);
  state_store_arg_end(cmd);
  if (store->scratch.failed)
    cmd->args.failed = 1;
}

void state_store_pending_del(state_store_t *store, const char *ce_id) {
  state_store_cmd_t *cmd = state_store_enabled(store) ? state_store_cmd(store, 1, 1) : NULL;
  if (cmd)
    state_store_arg(cmd, ce_id, strlen(ce_id));
}

/* Hand every queued command to the socket (blocking until written); 0 or -1 (connection dropped). */
static int state_store_send(state_store_t *store) {
  state_store_close(store, 0);
  state_store_close(store, 1);
  int done = 0;
  while (!done) {
    if (redisBufferWrite(store->redis, &done) != REDIS_OK) {
      BLOG_W(REDIS, NULL, "redis %s:%d: %s; %zu writes lost, reconnecting at the next write", store->host,
             store->port, store->redis->errstr, store->queued);
      metrics_add(METRICS_REDIS_ERRORS, (int64_t)store->queued);
      state_store_drop(store);
      return -1;
    }
  }
  return 0;
}

/* Read the replies that are there (all of them when `wait`); 0, or -1 on an error reply or a lost connection. */
static int state_store_collect(state_store_t *store, int wait) {
  int rc = 0;
  while (store->queued) {
    redisReply *reply = NULL;
    if (redisGetReplyFromReader(store->redis, (void **)&reply) != REDIS_OK)
      goto lost;
    if (!reply) {
      struct pollfd pfd = {store->redis->fd, POLLIN, 0};
      if (!wait && poll(&pfd, 1, 0) <= 0)
        break; /* the rest at a later flush */
      if (redisBufferRead(store->redis) != REDIS_OK)
        goto lost;
      continue;
    }
    store->queued--;
    if (reply->type == REDIS_REPLY_ERROR) {
      metrics_add(METRICS_REDIS_ERRORS, 1);
      rc = -1;
    }
    freeReplyObject(reply);
  }
  if (rc == 0)
    store->healthy = 1;
  return rc;
lost:
  BLOG_W(REDIS, NULL, "redis %s:%d: %s; %zu writes lost, reconnecting at the next write", store->host,
         store->port, store->redis->errstr, store->queued);
  metrics_add(METRICS_REDIS_ERRORS, (int64_t)store->queued);
  state_store_drop(store);
  return -1;
}

int state_store_flush(state_store_t *store) {
  if (!state_store_enabled(store) || !store->redis)
    return 0;
  if (state_store_send(store) != 0)
    return -1;
  /* replies are only counted: wait for them only when too many are owed */
  return state_store_collect(store, store->queued > STATE_STORE_REPLIES_OWED_MAX);
}

int state_store_sync(state_store_t *store) {
  if (!state_store_enabled(store) || !store->redis)
    return 0;
  if (state_store_send(store) != 0)
    return -1;
  return state_store_collect(store, 1);
}
