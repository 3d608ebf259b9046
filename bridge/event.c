/*
 * event: Debezium envelope and CloudEvents headers.  See event.h.
 */
#include "event.h"

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

void event_topic(const event_ctx_t *ctx, snap_kind_t kind, char *out, size_t size) {
  snprintf(out, size, "%s%s", ctx->topic_prefix, snap_kind_topic(kind));
}

void event_time_format(int64_t ts_ms, char *out, size_t size) {
  time_t sec = (time_t)(ts_ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(ts_ms % 1000));
}

void event_clear(event_t *event) {
  free(event->topic);
  free(event->key);
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

/* A growing text buffer; on failure `failed` is set and nothing more is written. */
typedef struct event_buf {
  char *data;
  size_t len, size;
  int failed;
} event_buf_t;

static void event_buf_put(event_buf_t *b, const char *text, size_t n) {
  if (b->failed)
    return;
  if (b->len + n + 1 > b->size) {
    size_t size = b->size ? b->size : 4096;
    while (size < b->len + n + 1)
      size *= 2;
    char *grown = realloc(b->data, size);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->size = size;
  }
  memcpy(b->data + b->len, text, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void event_buf_str(event_buf_t *b, const char *text) { event_buf_put(b, text, strlen(text)); }

static void event_buf_int(event_buf_t *b, long long v) {
  char num[32];
  int n = snprintf(num, sizeof(num), "%lld", v);
  event_buf_put(b, num, (size_t)n);
}

/* A JSON value as jansson writes it (compact, ASCII). */
static void event_buf_json(event_buf_t *b, const json_t *value) {
  const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY;
  char small[512];
  size_t n = json_dumpb(value, small, sizeof(small), flags);
  if (n == 0) {
    b->failed = 1;
  } else if (n <= sizeof(small)) {
    event_buf_put(b, small, n);
  } else {
    char *text = json_dumps(value, flags);
    if (text)
      event_buf_str(b, text);
    else
      b->failed = 1;
    free(text);
  }
}

/* A JSON string: printable ASCII without quote or backslash is copied, anything else goes through jansson. */
static void event_buf_jstr(event_buf_t *b, const char *text) {
  const unsigned char *p = (const unsigned char *)text;
  while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
    p++;
  if (*p == '\0') {
    event_buf_put(b, "\"", 1);
    event_buf_put(b, text, (size_t)(p - (const unsigned char *)text));
    event_buf_put(b, "\"", 1);
    return;
  }
  json_t *str = json_string(text);
  if (!str)
    str = json_stringn_nocheck(text, strlen(text)); /* not UTF-8: as jansson would have kept it */
  if (str)
    event_buf_json(b, str);
  else
    b->failed = 1;
  json_decref(str);
}

/* "name": then a value. */
static void event_buf_key(event_buf_t *b, const char *name) {
  if (b->len > 1) /* after "{": the first member has no comma */
    event_buf_put(b, ",", 1);
  event_buf_put(b, "\"", 1);
  event_buf_str(b, name);
  event_buf_put(b, "\":", 2);
}

/* A state: its text when snap has it, else the tree rendered. */
static void event_buf_state(event_buf_t *b, const json_t *state, const char *text, size_t len) {
  if (!state)
    event_buf_put(b, "null", 4);
  else if (text)
    event_buf_put(b, text, len);
  else
    event_buf_json(b, state);
}

/* The scratch buffer of the event stage (one thread); the value is copied out of it. */
static event_buf_t event_scratch;

int event_render(const event_ctx_t *ctx, const snap_change_t *change, const event_origin_t *origin,
                 event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char topic[256], ce_id[512], type[96];
  event_topic(ctx, change->kind, topic, sizeof(topic));
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  snprintf(type, sizeof(type), "mtcti3.%s.%s", snap_kind_name(change->kind), event_op_word(change->op));
  char op[2] = {change->op, '\0'};

  /* {"before","after","op","ts_ms","source":{...},"changed","seq"[,"calllost"]}, the order jansson kept */
  event_buf_t *b = &event_scratch;
  b->len = 0;
  b->failed = 0;
  event_buf_put(b, "{", 1);
  event_buf_key(b, "before");
  event_buf_state(b, change->before, change->before_text, change->before_len);
  event_buf_key(b, "after");
  event_buf_state(b, change->after, change->after_text, change->after_len);
  event_buf_key(b, "op");
  event_buf_jstr(b, op);
  event_buf_key(b, "ts_ms");
  event_buf_int(b, (long long)origin->ts_ms);
  event_buf_key(b, "source");
  event_buf_str(b, "{\"version\":");
  event_buf_jstr(b, ctx->version);
  event_buf_str(b, ",\"connector\":\"mtcti3\",\"name\":");
  event_buf_jstr(b, ctx->pbx_id);
  event_buf_str(b, ",\"pbx\":");
  event_buf_jstr(b, ctx->pbx_id);
  event_buf_str(b, ",\"ts_ms\":");
  event_buf_int(b, (long long)origin->ts_ms);
  event_buf_str(b, origin->snapshot ? ",\"snapshot\":\"true\",\"entity\":" : ",\"snapshot\":\"false\",\"entity\":");
  event_buf_jstr(b, change->entity_id);
  event_buf_str(b, ",\"line_kind\":");
  event_buf_jstr(b, snap_line_kind_name(change->line.kind));
  event_buf_str(b, ",\"line_guid\":");
  event_buf_jstr(b, change->line.guid);
  event_buf_str(b, ",\"line_extn\":");
  event_buf_jstr(b, change->line.extn ? change->line.extn : "");
  event_buf_str(b, ",\"subscribe_id\":");
  event_buf_int(b, origin->subscribe_id);
  event_buf_str(b, ",\"notify_id\":");
  event_buf_int(b, origin->notify_id);
  event_buf_put(b, "}", 1);
  event_buf_key(b, "changed");
  event_buf_put(b, "[", 1);
  if (change->changed) {
    size_t i;
    json_t *name;
    json_array_foreach((json_t *)change->changed, i, name) {
      if (i)
        event_buf_put(b, ",", 1);
      event_buf_jstr(b, json_string_value(name));
    }
  } else { /* c, r, d: every field */
    const char *name;
    json_t *value;
    int first = 1;
    json_object_foreach((json_t *)(change->after ? change->after : change->before), name, value) {
      if (!first)
        event_buf_put(b, ",", 1);
      first = 0;
      event_buf_jstr(b, name);
    }
  }
  event_buf_put(b, "]", 1);
  event_buf_key(b, "seq");
  event_buf_int(b, (long long)change->seq);
  if (change->lost) {
    event_buf_key(b, "calllost");
    event_buf_json(b, change->lost);
  }
  event_buf_put(b, "}", 1);
  if (b->failed)
    goto oom;
  event->value = malloc(b->len + 1);
  if (!event->value)
    goto oom;
  memcpy(event->value, b->data, b->len + 1);
  event->value_len = b->len;
  event->topic = strdup(topic);
  event->key = strdup(change->key);
  event->ce_id = strdup(ce_id);
  event->kind = change->kind;
  if (!event->topic || !event->key || !event->ce_id ||
      event_ce_headers(ctx, event, type, change->entity_id, origin->ts_ms) != 0)
    goto oom;
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "event %s: out of memory", ce_id);
  return -1;
}

int event_render_tombstone(const event_ctx_t *ctx, const snap_change_t *change, event_t *event,
                           char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char topic[256], ce_id[512];
  event_topic(ctx, change->kind, topic, sizeof(topic));
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu/tombstone", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  event->topic = strdup(topic);
  event->key = strdup(change->key);
  event->ce_id = strdup(ce_id);
  event->kind = change->kind;
  if (!event->topic || !event->key || !event->ce_id) {
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
  char topic[256], ce_id[256], ce_type[96], subject[128];
  snprintf(topic, sizeof(topic), "%sbridge", ctx->topic_prefix);
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
  event->topic = strdup(topic);
  event->key = strdup(ctx->pbx_id);
  event->ce_id = strdup(ce_id);
  event->kind = -1;
  if (!event->topic || !event->key || !event->ce_id ||
      event_ce_headers(ctx, event, ce_type, subject, ts_ms) != 0)
    goto oom;
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "bridge event: out of memory");
  return -1;
}

char *event_record_text(const event_t *event, long long n, size_t *len) {
  event_buf_t b = {0};
  event_buf_str(&b, "{\"topic\":");
  event_buf_jstr(&b, event->topic);
  event_buf_str(&b, ",\"key\":");
  event_buf_jstr(&b, event->key);
  event_buf_str(&b, ",\"ce_id\":");
  event_buf_jstr(&b, event->ce_id);
  event_buf_str(&b, ",\"kind\":");
  event_buf_int(&b, event->kind);
  event_buf_str(&b, ",\"n\":");
  event_buf_int(&b, n);
  event_buf_str(&b, ",\"headers\":[");
  for (size_t i = 0; i < event->n_headers; i++) {
    event_buf_str(&b, i ? ",[" : "[");
    event_buf_jstr(&b, event->headers[i].name);
    event_buf_put(&b, ",", 1);
    event_buf_jstr(&b, event->headers[i].value);
    event_buf_put(&b, "]", 1);
  }
  event_buf_str(&b, event->value ? "],\"tombstone\":false}\n" : "],\"tombstone\":true}\n");
  if (event->value)
    event_buf_put(&b, event->value, event->value_len);
  if (b.failed) {
    free(b.data);
    return NULL;
  }
  *len = b.len;
  return b.data;
}

/* Header names are static strings; map a stored name back to one. */
static const char *event_header_name(const char *name) {
  static const char *const names[] = {"ce_specversion", "ce_id",      "ce_source",   "ce_type",
                                      "ce_time",        "ce_subject", "content-type"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(names[i], name) == 0)
      return names[i];
  return NULL;
}

int event_from_record_text(const char *text, size_t len, event_t *event, long long *n, char *errstr,
                           size_t errstr_size) {
  const char *topic, *key, *ce_id;
  json_t *headers;
  int kind = -1, tombstone = 0;
  json_int_t number = 0;
  json_error_t jerr;
  memset(event, 0, sizeof(*event));
  const char *nl = memchr(text, '\n', len);
  json_t *head = nl ? json_loadb(text, (size_t)(nl - text), 0, &jerr) : NULL;
  if (!head) {
    snprintf(errstr, errstr_size, "stored event: %s", nl ? jerr.text : "no header line");
    return -1;
  }
  if (json_unpack_ex(head, &jerr, 0, "{s:s,s:s,s:s,s:o,s?i,s?I,s?b}", "topic", &topic, "key", &key,
                     "ce_id", &ce_id, "headers", &headers, "kind", &kind, "n", &number, "tombstone",
                     &tombstone) != 0) {
    snprintf(errstr, errstr_size, "stored event: %s", jerr.text);
    json_decref(head);
    return -1;
  }
  event->topic = strdup(topic);
  event->key = strdup(key);
  event->ce_id = strdup(ce_id);
  event->kind = kind;
  if (!tombstone) {
    size_t value_len = len - (size_t)(nl + 1 - text);
    event->value = malloc(value_len + 1);
    if (event->value) {
      memcpy(event->value, nl + 1, value_len);
      event->value[value_len] = '\0';
      event->value_len = value_len;
    }
  }
  size_t i;
  json_t *pair;
  json_array_foreach(headers, i, pair) {
    const char *name = event_header_name(json_string_value(json_array_get(pair, 0)));
    const char *hv = json_string_value(json_array_get(pair, 1));
    if (name && hv)
      event_header_add(event, name, hv);
  }
  json_decref(head);
  if (n)
    *n = number;
  if (!event->topic || !event->key || !event->ce_id || (!tombstone && !event->value)) {
    event_clear(event);
    snprintf(errstr, errstr_size, "stored event: out of memory");
    return -1;
  }
  return 0;
}
