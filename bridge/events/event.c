/*
 * event: Debezium envelope and CloudEvents headers.  See event.h.
 */
#include "event.h"

#include "jbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *event_op_word(char op) {
  switch (op) {
  case 'c':
    return "created";
  case 'u':
    return "updated";
  case 'd':
    return "deleted";
  case 'r':
    return "snapshot";
  }
  return "unknown";
}

topic_id_t event_kind_topic(snap_kind_t kind) {
  switch (kind) {
  case SNAP_LINE:
    return TOPIC_LINES;
  case SNAP_USER:
    return TOPIC_PRESENCE;
  case SNAP_QUEUE:
    return TOPIC_QUEUES;
  default:
    return TOPIC_CALLS;
  }
}

void event_time_format(int64_t ts_ms, char *out, size_t size) {
  time_t sec = (time_t)(ts_ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(ts_ms % 1000));
}

void event_clear(event_t *event) {
  free(event->key);
  free(event->partition_key);
  free(event->value);
  free(event->ce_id);
  for (size_t i = 0; i < event->n_headers; i++)
    free(event->headers[i].value);
  memset(event, 0, sizeof(*event));
}

static int event_header_add(event_t *event, const char *name, const char *value) {
  if (event->n_headers >= EVENT_MAX_HEADERS)
    return -1;
  char *copy = strdup(value);
  if (!copy)
    return -1;
  event->headers[event->n_headers].name = name;
  event->headers[event->n_headers].value = copy;
  event->n_headers++;
  return 0;
}

static int event_ce_headers(const event_ctx_t *ctx, event_t *event, const char *type,
                            const char *subject, int64_t ts_ms) {
  char source[256], when[40];
  snprintf(source, sizeof(source), "/mtcti3/%s", ctx->pbx_id);
  event_time_format(ts_ms, when, sizeof(when));
  if (event_header_add(event, "ce_specversion", "1.0") || event_header_add(event, "ce_id", event->ce_id) ||
      event_header_add(event, "ce_source", source) || event_header_add(event, "ce_type", type) ||
      event_header_add(event, "ce_time", when) || event_header_add(event, "ce_subject", subject) ||
      event_header_add(event, "content-type", "application/json"))
    return -1;
  return 0;
}

/* ---- the envelope, written by hand: the states come as text already ---- */

/* The scratch buffer of the event stage (one thread); the value is copied out of it. */
static jbuf_t event_scratch;

int event_render(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                 const event_origin_t *origin, event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char ce_id[512], type[96];
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  snprintf(type, sizeof(type), "mtcti3.%s.%s", snap_kind_name(change->kind), event_op_word(change->op));
  char op[2] = {change->op, '\0'};

  /* {"before","after","op","ts_ms","source":{...},"changed","seq"[,"calllost"]}, the order jansson kept */
  jbuf_t *b = &event_scratch;
  jbuf_reset(b);
  jbuf_char(b, '{');
  jbuf_key(b, "before");
  if (change->before_text)
    jbuf_put(b, change->before_text, change->before_len);
  else
    jbuf_str(b, "null");
  jbuf_key(b, "after");
  if (change->after_text)
    jbuf_put(b, change->after_text, change->after_len);
  else
    jbuf_str(b, "null");
  jbuf_key(b, "op");
  jbuf_jstr(b, op);
  jbuf_key(b, "ts_ms");
  jbuf_int(b, (long long)origin->ts_ms);
  jbuf_key(b, "source");
  jbuf_char(b, '{');
  jbuf_key(b, "version");
  jbuf_jstr(b, ctx->version);
  jbuf_key(b, "connector");
  jbuf_jstr(b, "mtcti3");
  jbuf_key(b, "name");
  jbuf_jstr(b, ctx->pbx_id);
  jbuf_key(b, "pbx");
  jbuf_jstr(b, ctx->pbx_id);
  jbuf_key(b, "ts_ms");
  jbuf_int(b, (long long)origin->ts_ms);
  jbuf_key(b, "snapshot"); /* a string, as Debezium has it */
  jbuf_jstr(b, origin->snapshot ? "true" : "false");
  jbuf_key(b, "entity");
  jbuf_jstr(b, change->entity_id);
  jbuf_key(b, "line_kind");
  jbuf_jstr(b, snap_line_kind_name(change->line.kind));
  jbuf_key(b, "line_guid");
  jbuf_jstr(b, change->line.guid);
  jbuf_key(b, "line_extn");
  jbuf_jstr(b, change->line.extn);
  jbuf_key(b, "subscribe_id");
  jbuf_int(b, origin->subscribe_id);
  jbuf_key(b, "notify_id");
  jbuf_int(b, origin->notify_id);
  jbuf_char(b, '}');
  jbuf_key(b, "changed");
  jbuf_char(b, '[');
  for (size_t i = 0; i < change->n_names; i++) { /* names as they stand in the state's text: escaped already */
    if (i)
      jbuf_char(b, ',');
    jbuf_char(b, '"');
    jbuf_put(b, change->names[i].name, change->names[i].len);
    jbuf_char(b, '"');
  }
  jbuf_char(b, ']');
  jbuf_key(b, "seq");
  jbuf_uint(b, change->seq);
  if (change->lost) {
    jbuf_key(b, "calllost");
    jbuf_json(b, change->lost);
  }
  jbuf_char(b, '}');
  if (b->failed)
    goto oom;
  event->value = malloc(b->len + 1);
  if (!event->value)
    goto oom;
  memcpy(event->value, b->data, b->len + 1);
  event->value_len = b->len;
  event->topic = ctx->topics->name[topic];
  event->topic_id = topic;
  event->key = strdup(change->key);
  event->partition_key = change->partition_key ? strdup(change->partition_key) : NULL;
  event->ce_id = strdup(ce_id);
  event->kind = change->kind;
  if (!event->key || !event->ce_id || (change->partition_key && !event->partition_key) ||
      event_ce_headers(ctx, event, type, change->entity_id, origin->ts_ms) != 0)
    goto oom;
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "event %s: out of memory", ce_id);
  return -1;
}

int event_render_tombstone(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                           event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char ce_id[512];
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu/tombstone", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  event->topic = ctx->topics->name[topic];
  event->topic_id = topic;
  event->key = strdup(change->key);
  event->partition_key = change->partition_key ? strdup(change->partition_key) : NULL;
  event->ce_id = strdup(ce_id);
  event->kind = change->kind;
  if (!event->key || !event->ce_id || (change->partition_key && !event->partition_key)) {
    event_clear(event);
    snprintf(errstr, errstr_size, "tombstone %s: out of memory", ce_id);
    return -1;
  }
  return 0;
}

int event_render_bridge(const event_ctx_t *ctx, const char *type, int64_t boot_id, uint64_t seq,
                        int64_t ts_ms, const json_t *detail, event_t *event, char *errstr,
                        size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char ce_id[256], ce_type[96], subject[128];
  snprintf(ce_id, sizeof(ce_id), "%s/bridge/%lld/%llu", ctx->pbx_id, (long long)boot_id,
           (unsigned long long)seq);
  snprintf(ce_type, sizeof(ce_type), "mtcti3.bridge.%s", type);
  snprintf(subject, sizeof(subject), "bridge:%s", ctx->pbx_id);
  char when[40];
  event_time_format(ts_ms, when, sizeof(when));
  json_t *root = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:O?}", "type", type, "pbx", ctx->pbx_id,
                           "version", ctx->version, "boot_id", (json_int_t)boot_id, "seq",
                           (json_int_t)seq, "ts_ms", (json_int_t)ts_ms, "time", when, "detail", detail);
  char *text = root ? json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  json_decref(root);
  if (!text)
    goto oom;
  event->value = text;
  event->value_len = strlen(text);
  event->topic = ctx->topics->name[TOPIC_BRIDGE];
  event->topic_id = TOPIC_BRIDGE;
  event->key = strdup(ctx->pbx_id);
  event->ce_id = strdup(ce_id);
  event->kind = -1;
  if (!event->key || !event->ce_id ||
      event_ce_headers(ctx, event, ce_type, subject, ts_ms) != 0)
    goto oom;
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "bridge event: out of memory");
  return -1;
}

int event_render_queue_stats(const event_ctx_t *ctx, const char *queue_guid, uint64_t seq, int64_t ts_ms,
                             const char *text, size_t len, event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char ce_id[512], subject[300];
  snprintf(subject, sizeof(subject), "queue-stats:%s", queue_guid);
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu%s", ctx->pbx_id, subject, (unsigned long long)seq,
           text ? "" : "/tombstone");
  event->topic = ctx->topics->name[TOPIC_QUEUE_STATS];
  event->topic_id = TOPIC_QUEUE_STATS;
  event->key = strdup(queue_guid);
  event->ce_id = strdup(ce_id);
  event->kind = -1;
  if (!event->key || !event->ce_id)
    goto oom;
  if (text) {
    if (!(event->value = malloc(len + 1)))
      goto oom;
    memcpy(event->value, text, len);
    event->value[len] = '\0';
    event->value_len = len;
    if (event_ce_headers(ctx, event, "mtcti3.queue_stats.updated", subject, ts_ms) != 0)
      goto oom;
  }
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "queue statistics %s: out of memory", ce_id);
  return -1;
}
