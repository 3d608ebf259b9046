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

/*
 * Compact ASCII JSON text of `root`, malloc'd, in one allocation: rendered
 * into a scratch buffer first (json_dumps would grow its own by doubling, a
 * dozen reallocations for a 2 KiB event).  The scratch buffer is the event
 * stage's own; the stage runs on one thread.
 */
static char *event_dump(const json_t *root, size_t *len) {
  static char *scratch;
  static size_t scratch_size;
  const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII;
  size_t n = scratch ? json_dumpb(root, scratch, scratch_size, flags) : (size_t)-1;
  if (n == 0)
    return NULL;
  if (!scratch || n > scratch_size) {
    size_t size = scratch_size ? scratch_size : 16384;
    if (scratch)
      while (size < n)
        size *= 2;
    char *grown = realloc(scratch, size);
    if (!grown)
      return NULL;
    scratch = grown;
    scratch_size = size;
    n = json_dumpb(root, scratch, scratch_size, flags);
    if (n == 0 || n > scratch_size)
      return NULL;
  }
  char *text = malloc(n + 1);
  if (!text)
    return NULL;
  memcpy(text, scratch, n);
  text[n] = '\0';
  *len = n;
  return text;
}

/* Field names of an object, as a JSON array. */
static json_t *event_keys(const json_t *obj) {
  json_t *names = json_array();
  const char *name;
  json_t *value;
  json_object_foreach((json_t *)obj, name, value) json_array_append_new(names, json_string(name));
  return names;
}

int event_render(const event_ctx_t *ctx, const snap_change_t *change, const event_origin_t *origin,
                 event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  char topic[256], ce_id[512], type[96];
  event_topic(ctx, change->kind, topic, sizeof(topic));
  snprintf(ce_id, sizeof(ce_id), "%s/%s/%llu", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  snprintf(type, sizeof(type), "mtcti3.%s.%s", snap_kind_name(change->kind), event_op_word(change->op));
  char op[2] = {change->op, '\0'};

  json_t *changed = change->changed ? json_incref((json_t *)change->changed)
                                    : event_keys(change->after ? change->after : change->before);
  json_t *source = json_pack(
      "{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:i,s:i}", "version", ctx->version, "connector", "mtcti3",
      "name", ctx->pbx_id, "pbx", ctx->pbx_id, "ts_ms", (json_int_t)origin->ts_ms, "snapshot",
      origin->snapshot ? "true" : "false", "entity", change->entity_id, "line_kind",
      snap_line_kind_name(change->line.kind), "line_guid", change->line.guid, "line_extn",
      change->line.extn ? change->line.extn : "", "subscribe_id", origin->subscribe_id, "notify_id",
      origin->notify_id);
  json_t *root = json_pack("{s:O?,s:O?,s:s,s:I,s:o,s:o,s:I}", "before", change->before, "after",
                           change->after, "op", op, "ts_ms", (json_int_t)origin->ts_ms, "source", source,
                           "changed", changed, "seq", (json_int_t)change->seq);
  if (root && change->lost)
    json_object_set(root, "calllost", (json_t *)change->lost);
  size_t text_len = 0;
  char *text = root ? event_dump(root, &text_len) : NULL;
  json_decref(root);
  if (!text)
    goto oom;
  event->value = text;
  event->value_len = text_len;
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
  json_t *headers = json_array();
  for (size_t i = 0; i < event->n_headers; i++)
    json_array_append_new(headers, json_pack("[ss]", event->headers[i].name, event->headers[i].value));
  json_t *head = json_pack("{s:s,s:s,s:s,s:i,s:I,s:o,s:b}", "topic", event->topic, "key", event->key,
                           "ce_id", event->ce_id, "kind", event->kind, "n", (json_int_t)n, "headers",
                           headers, "tombstone", event->value == NULL);
  char *line = head ? json_dumps(head, JSON_COMPACT) : NULL;
  json_decref(head);
  if (!line)
    return NULL;
  size_t head_len = strlen(line), value_len = event->value ? event->value_len : 0;
  char *text = malloc(head_len + 1 + value_len + 1);
  if (text) {
    memcpy(text, line, head_len);
    text[head_len] = '\n';
    if (value_len)
      memcpy(text + head_len + 1, event->value, value_len);
    text[head_len + 1 + value_len] = '\0';
    *len = head_len + 1 + value_len;
  }
  free(line);
  return text;
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
