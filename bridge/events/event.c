/*
 * event: Debezium envelope and CloudEvents headers.  See event.h.
 *
 * An event costs one allocation: its value and its own strings (key,
 * partition key, ce_id, ce_time, ce_subject) are written one after the
 * other into the stage's scratch buffer and copied out in one block.  What
 * many events share is written once and kept for the process's life: per
 * PBX (pbx id and version) the envelope's source head and ce_source, per
 * kind and op the ce_type, per second the time's text up to the
 * milliseconds.  The bytes are those the envelope always had (the unit
 * tests and bench_notify's digest check them).
 */
#include "event.h"

#include "jbuf.h"

#include <stdint.h>
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

unsigned event_lean_flags(const char *setting) {
  if (!setting)
    return 0;
  if (strcmp(setting, "before") == 0)
    return EVENT_LEAN_BEFORE;
  if (strcmp(setting, "names") == 0)
    return EVENT_LEAN_NAMES;
  if (strcmp(setting, "all") == 0)
    return EVENT_LEAN_BEFORE | EVENT_LEAN_NAMES;
  return 0;
}

void event_time_format(int64_t ts_ms, char *out, size_t size) {
  time_t sec = (time_t)(ts_ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(ts_ms % 1000));
}

void event_clear(event_t *event) {
  free(event->text);
  memset(event, 0, sizeof(*event));
}

/* ---- what many events share ---- */

/* The time's text up to the seconds, for the last second asked (event_time). */
static int64_t event_time_sec = INT64_MIN;
static char event_time_head[40];
static size_t event_time_head_len;

/* ts_ms as event_time_format writes it, appended to b (the same second's head written once). */
static void event_time(jbuf_t *b, int64_t ts_ms) {
  if (ts_ms < 0) { /* before 1970: as it always was */
    char when[40];
    event_time_format(ts_ms, when, sizeof(when));
    jbuf_str(b, when);
    return;
  }
  int64_t sec = ts_ms / 1000;
  if (sec != event_time_sec) {
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    event_time_head_len = strftime(event_time_head, sizeof(event_time_head), "%Y-%m-%dT%H:%M:%S", &tm);
    event_time_sec = sec;
  }
  int ms = (int)(ts_ms % 1000);
  char tail[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '\0'};
  jbuf_put(b, event_time_head, event_time_head_len);
  jbuf_put(b, tail, 5);
}

/* One PBX's texts (pbx id and version): never freed, so that events may point at them. */
typedef struct event_shared {
  struct event_shared *next;
  char *pbx_id, *version;
  char *ce_source; /* /mtcti3/<pbx> */
  size_t ce_source_len;
  char *source_head; /* ,"source":{"version":..,"connector":"mtcti3","name":..,"pbx":..,"ts_ms": */
  size_t source_head_len;
} event_shared_t;

static event_shared_t *event_shared_list;

static char *event_jbuf_text(jbuf_t *b, size_t *len) {
  char *text = b->failed ? NULL : jbuf_dup(b);
  *len = text ? b->len : 0;
  jbuf_free(b);
  return text;
}

/* The shared texts of ctx's PBX; NULL when out of memory. */
static const event_shared_t *event_shared(const event_ctx_t *ctx) {
  event_shared_t *s;
  for (s = event_shared_list; s; s = s->next)
    if (strcmp(s->pbx_id, ctx->pbx_id) == 0 && strcmp(s->version, ctx->version) == 0)
      return s;
  if (!(s = calloc(1, sizeof(*s))))
    return NULL;
  jbuf_t b = JBUF_INIT;
  jbuf_str(&b, "/mtcti3/");
  jbuf_str(&b, ctx->pbx_id);
  s->ce_source = event_jbuf_text(&b, &s->ce_source_len);
  jbuf_str(&b, ",\"source\":{");
  jbuf_key(&b, "version");
  jbuf_jstr(&b, ctx->version);
  jbuf_key(&b, "connector");
  jbuf_jstr(&b, "mtcti3");
  jbuf_key(&b, "name");
  jbuf_jstr(&b, ctx->pbx_id);
  jbuf_key(&b, "pbx");
  jbuf_jstr(&b, ctx->pbx_id);
  jbuf_key(&b, "ts_ms");
  s->source_head = event_jbuf_text(&b, &s->source_head_len);
  s->pbx_id = strdup(ctx->pbx_id);
  s->version = strdup(ctx->version);
  if (!s->ce_source || !s->source_head || !s->pbx_id || !s->version) {
    free(s->ce_source);
    free(s->source_head);
    free(s->pbx_id);
    free(s->version);
    free(s);
    return NULL;
  }
  s->next = event_shared_list;
  event_shared_list = s;
  return s;
}

/* A kind and op's ce_type, mtcti3.<kind>.<created|updated|deleted|snapshot|unknown>. */
static const char *event_type(snap_kind_t kind, char op, size_t *len) {
  static char types[SNAP__KIND_COUNT][5][64];
  static size_t lens[SNAP__KIND_COUNT][5];
  static const char ops[] = "cudr";
  const char *at = memchr(ops, op, 4);
  size_t o = op && at ? (size_t)(at - ops) : 4;
  if (!lens[kind][o])
    lens[kind][o] = (size_t)snprintf(types[kind][o], sizeof(types[kind][o]), "mtcti3.%s.%s", snap_kind_name(kind),
                                     event_op_word(op));
  *len = lens[kind][o];
  return types[kind][o];
}

/* ---- an event's block ---- */

/* The scratch buffer of the event stage (one thread); an event's texts are copied out of it. */
static jbuf_t event_scratch;

/* Offsets of an event's strings in the scratch buffer, then in its block; SIZE_MAX: none. */
typedef struct event_layout {
  size_t value, value_len, key, key_len, partition_key, ce_id, time, time_len, subject, subject_len, type, type_len;
} event_layout_t;

#define EVENT_NONE SIZE_MAX

/* Close the string just written (a NUL after it). */
static void event_end(jbuf_t *b) { jbuf_char(b, '\0'); }

/* key, partition key and ce_id (<pbx>/<entity>/<seq>[/tombstone]) after what b holds. */
static void event_ids(jbuf_t *b, event_layout_t *l, const event_ctx_t *ctx, const char *key,
                      const char *partition_key, const char *entity, uint64_t seq, int tombstone) {
  l->key = b->len;
  jbuf_str(b, key);
  l->key_len = b->len - l->key;
  event_end(b);
  l->partition_key = EVENT_NONE;
  if (partition_key) {
    l->partition_key = b->len;
    jbuf_str(b, partition_key);
    event_end(b);
  }
  l->ce_id = b->len;
  jbuf_str(b, ctx->pbx_id);
  jbuf_char(b, '/');
  jbuf_str(b, entity);
  jbuf_char(b, '/');
  jbuf_uint(b, seq);
  if (tombstone)
    jbuf_str(b, "/tombstone");
  event_end(b);
}

/* ce_time and ce_subject after what b holds. */
static void event_time_subject(jbuf_t *b, event_layout_t *l, int64_t ts_ms, const char *subject) {
  l->time = b->len;
  event_time(b, ts_ms);
  l->time_len = b->len - l->time;
  event_end(b);
  l->subject = b->len;
  jbuf_str(b, subject);
  l->subject_len = b->len - l->subject;
  event_end(b);
}

/*
 * The event from the scratch buffer b: its block, its strings, and the
 * CloudEvents headers when `type` (ce_type) is given.  0, or -1 (out of
 * memory: the event is empty).
 */
static int event_take(jbuf_t *b, const event_layout_t *l, const event_ctx_t *ctx, topic_id_t topic, int kind,
                      const char *type, size_t type_len, event_t *event) {
  const event_shared_t *shared = type ? event_shared(ctx) : NULL;
  if (b->failed || (type && !shared) || !(event->text = malloc(b->len + 1)))
    return -1;
  char *t = event->text;
  memcpy(t, b->data, b->len + 1);
  event->topic = ctx->topics->name[topic];
  event->topic_id = topic;
  event->kind = kind;
  event->key = t + l->key;
  event->key_len = l->key_len;
  event->partition_key = l->partition_key != EVENT_NONE ? t + l->partition_key : NULL;
  event->ce_id = t + l->ce_id;
  if (l->value != EVENT_NONE) {
    event->value = t + l->value;
    event->value_len = l->value_len;
  }
  if (type) {
    if (l->type != EVENT_NONE)
      type = t + l->type; /* a type of its own (a lifecycle event's) */
    const event_header_t headers[] = {
        {"ce_specversion", "1.0", 3},
        {"ce_id", event->ce_id, strlen(event->ce_id)},
        {"ce_source", shared->ce_source, shared->ce_source_len},
        {"ce_type", type, type_len},
        {"ce_time", t + l->time, l->time_len},
        {"ce_subject", t + l->subject, l->subject_len},
        {"content-type", "application/json", 16},
    };
    memcpy(event->headers, headers, sizeof(headers));
    event->n_headers = sizeof(headers) / sizeof(headers[0]);
  }
  return 0;
}

/* ---- the envelope, written by hand: the states come as text already ---- */

/* The first `n` bytes of `what` in [p, end), or NULL. */
static const char *event_find(const char *p, const char *end, const char *what, size_t n) {
  for (; (size_t)(end - p) >= n && (p = memchr(p, what[0], (size_t)(end - p) - n + 1)) != NULL; p++)
    if (memcmp(p, what, n) == 0)
      return p;
  return NULL;
}

/* A state's text, without its featuresavailable_names members when `lean_names` (EVENT_LEAN_NAMES). */
static void event_state(jbuf_t *b, const char *text, size_t len, int lean_names) {
  static const char member[] = ",\"featuresavailable_names\":";
  const char *p = text, *end = text + len, *at;
  while (lean_names && (at = event_find(p, end, member, sizeof(member) - 1)) != NULL) {
    jbuf_put(b, p, (size_t)(at - p));
    p = at + sizeof(member) - 1; /* skip its value: an array of names (strings) */
    int depth = 0;
    for (; p < end; p++) {
      if (*p == '"') {
        for (p++; p < end && *p != '"'; p++)
          if (*p == '\\')
            p++;
      } else if (*p == '[') {
        depth++;
      } else if (*p == ']' && --depth <= 0) {
        p++;
        break;
      }
    }
  }
  jbuf_put(b, p, (size_t)(end - p));
}

int event_render(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                 const event_origin_t *origin, event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  const event_shared_t *shared = event_shared(ctx);
  int lean_names = (ctx->lean & EVENT_LEAN_NAMES) != 0;
  static const char lean_name[] = "featuresavailable_names";
  event_layout_t l;
  size_t type_len;
  const char *type = event_type(change->kind, change->op, &type_len);

  /* {"before","after","op","ts_ms","source":{...},"changed","seq"[,"calllost"]}, the order jansson kept */
  jbuf_t *b = &event_scratch;
  jbuf_reset(b);
  if (!shared)
    goto oom;
  l.value = 0;
  jbuf_str(b, "{\"before\":");
  if (change->before_text && !(change->op == 'u' && (ctx->lean & EVENT_LEAN_BEFORE)))
    event_state(b, change->before_text, change->before_len, lean_names);
  else
    jbuf_str(b, "null");
  jbuf_str(b, ",\"after\":");
  if (change->after_text)
    event_state(b, change->after_text, change->after_len, lean_names);
  else
    jbuf_str(b, "null");
  char op[] = ",\"op\":\"x\",\"ts_ms\":";
  op[7] = change->op;
  jbuf_str(b, op);
  jbuf_int(b, (long long)origin->ts_ms);
  jbuf_put(b, shared->source_head, shared->source_head_len);
  jbuf_int(b, (long long)origin->ts_ms);
  /* a string, as Debezium has it; a snapshot read always is one, a create never */
  jbuf_str(b, change->op == 'r' || (origin->snapshot && change->op != 'c') ? ",\"snapshot\":\"true\""
                                                                       : ",\"snapshot\":\"false\"");
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
  jbuf_key(b, "refresh");
  if (origin->refresh)
    jbuf_int(b, origin->refresh);
  else
    jbuf_str(b, "null");
  jbuf_str(b, "},\"changed\":[");
  int first = 1;
  for (size_t i = 0; i < change->n_names; i++) { /* names as they stand in the state's text: escaped already */
    if (lean_names && change->names[i].len == sizeof(lean_name) - 1 &&
        memcmp(change->names[i].name, lean_name, sizeof(lean_name) - 1) == 0)
      continue;
    if (!first)
      jbuf_char(b, ',');
    first = 0;
    jbuf_char(b, '"');
    jbuf_put(b, change->names[i].name, change->names[i].len);
    jbuf_char(b, '"');
  }
  jbuf_str(b, "],\"seq\":");
  jbuf_uint(b, change->seq);
  if (change->lost) {
    jbuf_key(b, "calllost");
    jbuf_json(b, change->lost);
  }
  jbuf_char(b, '}');
  l.value_len = b->len;
  event_end(b);
  event_ids(b, &l, ctx, change->key, change->partition_key, change->entity_id, change->seq, 0);
  event_time_subject(b, &l, origin->ts_ms, change->entity_id);
  l.type = EVENT_NONE;
  if (event_take(b, &l, ctx, topic, change->kind, type, type_len, event) != 0)
    goto oom;
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "event %s/%s/%llu: out of memory", ctx->pbx_id, change->entity_id,
           (unsigned long long)change->seq);
  return -1;
}

int event_render_tombstone(const event_ctx_t *ctx, topic_id_t topic, const snap_change_t *change,
                           event_t *event, char *errstr, size_t errstr_size) {
  memset(event, 0, sizeof(*event));
  jbuf_t *b = &event_scratch;
  event_layout_t l;
  jbuf_reset(b);
  l.value = EVENT_NONE;
  event_ids(b, &l, ctx, change->key, change->partition_key, change->entity_id, change->seq, 1);
  if (event_take(b, &l, ctx, topic, change->kind, NULL, 0, event) != 0) {
    event_clear(event);
    snprintf(errstr, errstr_size, "tombstone %s/%s/%llu: out of memory", ctx->pbx_id, change->entity_id,
             (unsigned long long)change->seq);
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
  jbuf_t *b = &event_scratch;
  event_layout_t l;
  jbuf_reset(b);
  if (!text)
    goto oom;
  l.value = 0;
  jbuf_str(b, text);
  free(text);
  l.value_len = b->len;
  event_end(b);
  l.key = b->len;
  jbuf_str(b, ctx->pbx_id);
  l.key_len = b->len - l.key;
  event_end(b);
  l.partition_key = EVENT_NONE;
  l.ce_id = b->len;
  jbuf_str(b, ce_id);
  event_end(b);
  event_time_subject(b, &l, ts_ms, subject);
  l.type = b->len;
  jbuf_str(b, ce_type);
  l.type_len = b->len - l.type;
  event_end(b);
  if (event_take(b, &l, ctx, TOPIC_BRIDGE, -1, ce_type, l.type_len, event) != 0)
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
  static const char type[] = "mtcti3.queue_stats.updated", head[] = "queue-stats:";
  char entity[300];
  size_t glen = strnlen(queue_guid, sizeof(entity) - sizeof(head)); /* as snprintf into entity[300] would cut it */
  memcpy(entity, head, sizeof(head) - 1);
  memcpy(entity + sizeof(head) - 1, queue_guid, glen);
  entity[sizeof(head) - 1 + glen] = '\0';
  jbuf_t *b = &event_scratch;
  event_layout_t l;
  jbuf_reset(b);
  l.value = EVENT_NONE;
  if (text) {
    l.value = 0;
    jbuf_put(b, text, len);
    l.value_len = len;
    event_end(b);
  }
  event_ids(b, &l, ctx, queue_guid, NULL, entity, seq, !text);
  l.type = EVENT_NONE;
  if (text)
    event_time_subject(b, &l, ts_ms, entity);
  if (event_take(b, &l, ctx, TOPIC_QUEUE_STATS, -1, text ? type : NULL, sizeof(type) - 1, event) != 0) {
    event_clear(event);
    snprintf(errstr, errstr_size, "queue statistics %s/%s/%llu: out of memory", ctx->pbx_id, entity,
             (unsigned long long)seq);
    return -1;
  }
  return 0;
}
