/*
 * kafka_restore: read back the topics.  See kafka_restore.h.
 */
#include "kafka_restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "bclock.h"
#include "blog.h"
#include "strmap.h"

static const struct {
  const char *suffix, *entity_prefix, *kind;
  int windowed; /* not compacted: read from now - calls_restore_window */
} kafka_restore_topics[] = {
    {"lines", "line:", "line", 0},
    {"presence", "user:", "presence", 0},
    {"queues", "queue:", "queue", 0},
    {"calls", "call:", "call", 1},
};
#define KAFKA_RESTORE_NTOPICS (int)(sizeof(kafka_restore_topics) / sizeof(kafka_restore_topics[0]))
#define KAFKA_RESTORE_CALLS 3

/* The last message of a call entity on the calls topic, kept until the read ends. */
typedef struct kafka_restore_last {
  char *key;
  char *payload;
  size_t len;
} kafka_restore_last_t;

/* One restore run: what is read, from where, and what it gave. */
typedef struct kafka_restore {
  const config_t *config;
  rd_kafka_t *rk;
  rd_kafka_topic_partition_list_t *assignment; /* partitions to read, with their start offsets */
  int64_t *high;                               /* per assigned partition: its high watermark */
  json_t *records;                             /* entity id -> record (as snap_restore takes it) */
  strmap_t calls;                              /* call entity id -> kafka_restore_last_t */
  size_t calls_read;                           /* events of the calls topic read */
} kafka_restore_t;

static void kafka_restore_last_free(void *p) {
  kafka_restore_last_t *last = p;
  if (last) {
    free(last->key);
    free(last->payload);
    free(last);
  }
}

/* Index in kafka_restore_topics of a topic name, or -1. */
static int kafka_restore_topic_index(const config_t *config, const char *topic) {
  size_t plen = strlen(config->topic_prefix);
  if (strncmp(topic, config->topic_prefix, plen) != 0)
    return -1;
  for (int t = 0; t < KAFKA_RESTORE_NTOPICS; t++)
    if (strcmp(topic + plen, kafka_restore_topics[t].suffix) == 0)
      return t;
  return -1;
}

/* Read `partition` of `topic` from `offset` up to `high`; 0, or -1 when out of memory. */
static int kafka_restore_assign(kafka_restore_t *kr, const char *topic, int32_t partition, int64_t offset,
                                int64_t high) {
  int64_t *grown = realloc(kr->high, (size_t)(kr->assignment->cnt + 1) * sizeof(*grown));
  if (!grown)
    return -1;
  kr->high = grown;
  kr->high[kr->assignment->cnt] = high;
  rd_kafka_topic_partition_list_add(kr->assignment, topic, partition)->offset = offset;
  return 0;
}

/*
 * The partitions of topic `t` with something to read: a compacted topic's
 * from the beginning, the calls topic's from the first message of the
 * window.  0, or -1 with errstr.
 */
static int kafka_restore_partitions(kafka_restore_t *kr, int t, char *errstr, size_t errstr_size) {
  char topic[256];
  int rc = 0;
  snprintf(topic, sizeof(topic), "%s%s", kr->config->topic_prefix, kafka_restore_topics[t].suffix);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(kr->rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(8);
  int64_t *times_high = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(kr->rk, 0, rkt, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err) {
    BLOG_I(KAFKA, topic, "nothing to restore from (%s)",
           e ? rd_kafka_err2str(e) : md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
    goto done;
  }
  for (int p = 0; p < md->topics[0].partition_cnt; p++) {
    int64_t lo = 0, hi = 0;
    int32_t id = md->topics[0].partitions[p].id;
    if (rd_kafka_query_watermark_offsets(kr->rk, topic, id, &lo, &hi, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi <= lo)
      continue;
    if (!kafka_restore_topics[t].windowed) {
      if (kafka_restore_assign(kr, topic, id, RD_KAFKA_OFFSET_BEGINNING, hi) != 0)
        goto oom;
      continue;
    }
    int64_t *grown = realloc(times_high, (size_t)(times->cnt + 1) * sizeof(*grown));
    if (!grown)
      goto oom;
    times_high = grown;
    times_high[times->cnt] = hi;
    rd_kafka_topic_partition_list_add(times, topic, id)->offset =
        bclock_wall_ms() - (int64_t)kr->config->calls_restore_window * 1000;
  }
  if (times->cnt == 0)
    goto done;
  /* the window: each partition from its first message at or after now - window */
  e = rd_kafka_offsets_for_times(kr->rk, times, 10000);
  for (int i = 0; i < times->cnt && !e; i++) {
    const rd_kafka_topic_partition_t *tp = &times->elems[i];
    if (tp->err) {
      e = tp->err;
    } else if (tp->offset >= 0 && tp->offset < times_high[i]) { /* -1: nothing that recent */
      if (kafka_restore_assign(kr, topic, tp->partition, tp->offset, times_high[i]) != 0)
        goto oom;
    }
  }
  if (e) {
    snprintf(errstr, errstr_size, "restore from topics: %s: offsets for the last %ld s: %s", topic,
             kr->config->calls_restore_window, rd_kafka_err2str(e));
    rc = -1;
  }
  goto done;
oom:
  snprintf(errstr, errstr_size, "restore from topics: %s: out of memory", topic);
  rc = -1;
done:
  free(times_high);
  rd_kafka_topic_partition_list_destroy(times);
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return rc;
}

/*
 * The last event of a call entity: its record, as snap_record_write writes it
 * (key, seq, state = after, line from source, callid and gcid from after).
 */
static void kafka_restore_call(kafka_restore_t *kr, const char *entity_id, const kafka_restore_last_t *last) {
  json_t *event = json_loadb(last->payload, last->len, 0, NULL);
  json_t *source = json_object_get(event, "source");
  const char *pbx = json_string_value(json_object_get(source, "pbx"));
  const char *entity = json_string_value(json_object_get(source, "entity"));
  const char *line_guid = json_string_value(json_object_get(source, "line_guid"));
  const char *op = json_string_value(json_object_get(event, "op"));
  json_int_t seq = json_integer_value(json_object_get(event, "seq"));
  json_t *after = json_object_get(event, "after");
  size_t glen = line_guid ? strlen(line_guid) : 0;
  /* "call:<line guid>:<gcid>", "call:<line guid>:<gcid>:<callid>" or "call:<line guid>:cid<callid>" */
  if (!pbx || strcmp(pbx, kr->config->pbx_id) != 0 || !entity || strcmp(entity, entity_id) != 0 ||
      !line_guid || !op || strcmp(op, "d") == 0 || seq < 1 || strncmp(entity, "call:", 5) != 0 ||
      strncmp(entity + 5, line_guid, glen) != 0 || entity[5 + glen] != ':' || !entity[6 + glen] ||
      !json_is_object(after) || !json_is_integer(json_object_get(after, "callid"))) {
    BLOG_W(KAFKA, entity_id, "not restored: its last event on the calls topic is not a call's");
    json_decref(event);
    return;
  }
  const char *tail = entity + 6 + glen;
  const char *gcid = strncmp(tail, "cid", 3) == 0 ? "" : json_string_value(json_object_get(after, "gcid"));
  json_t *record = json_pack("{s:s,s:s,s:I,s:O,s:{s:O,s:s,s:O},s:I,s:s}", "kind", "call", "key", last->key,
                             "seq", seq, "state", after, "line", "kind", json_object_get(source, "line_kind"),
                             "guid", line_guid, "extn", json_object_get(source, "line_extn"), "callid",
                             json_integer_value(json_object_get(after, "callid")), "gcid", gcid ? gcid : "");
  if (record)
    json_object_set_new(kr->records, entity_id, record);
  json_decref(event);
}

/* Header `name` of `hdrs` is `value`. */
static int kafka_restore_header_is(rd_kafka_headers_t *hdrs, const char *name, const char *value) {
  const void *v = NULL;
  size_t n = 0;
  if (rd_kafka_header_get_last(hdrs, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
    return 0;
  return n == strlen(value) && memcmp(v, value, n) == 0;
}

/*
 * A message of the calls topic, read without parsing its payload: the
 * CloudEvents headers name the pbx (ce_source), the entity (ce_subject) and
 * a delete (ce_type).  The message is kept as the entity's last, or the
 * entity dropped on a delete (a deleted call is forgotten); only the last
 * messages are parsed, once the read is done.
 */
static void kafka_restore_call_message(kafka_restore_t *kr, const rd_kafka_message_t *m) {
  char source[300], entity[512];
  rd_kafka_headers_t *hdrs = NULL;
  const void *subject = NULL;
  size_t subject_len = 0;
  kr->calls_read++;
  snprintf(source, sizeof(source), "/mtcti3/%s", kr->config->pbx_id);
  if (!m->payload || rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      !kafka_restore_header_is(hdrs, "ce_source", source) ||
      rd_kafka_header_get_last(hdrs, "ce_subject", &subject, &subject_len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      !subject || subject_len < 6 || subject_len >= sizeof(entity) || memcmp(subject, "call:", 5) != 0)
    return; /* not an event of this PBX's calls (a bridge's events carry these headers) */
  memcpy(entity, subject, subject_len);
  entity[subject_len] = '\0';
  kafka_restore_last_t *last = strmap_get(&kr->calls, entity);
  if (kafka_restore_header_is(hdrs, "ce_type", "mtcti3.call.deleted")) {
    if (last) {
      strmap_del(&kr->calls, entity);
      kafka_restore_last_free(last);
    }
    return;
  }
  if (!last && (!(last = calloc(1, sizeof(*last))) || strmap_put(&kr->calls, entity, last) != 0)) {
    free(last);
    BLOG_W(KAFKA, entity, "not restored: out of memory");
    return;
  }
  char *key = malloc(m->key_len + 1), *payload = malloc(m->len);
  if (!key || !payload) { /* forgotten rather than restored in an older state */
    free(key);
    free(payload);
    strmap_del(&kr->calls, entity);
    kafka_restore_last_free(last);
    BLOG_W(KAFKA, entity, "not restored: out of memory");
    return;
  }
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  memcpy(payload, m->payload, m->len);
  free(last->key);
  free(last->payload);
  last->key = key;
  last->payload = payload;
  last->len = m->len;
}

/* One message: update the entity's record. */
static void kafka_restore_message(kafka_restore_t *kr, int topic_index, const rd_kafka_message_t *m) {
  char id[512];
  if (!m->key || !m->key_len)
    return;
  if (topic_index == KAFKA_RESTORE_CALLS) {
    kafka_restore_call_message(kr, m);
    return;
  }
  snprintf(id, sizeof(id), "%s%.*s", kafka_restore_topics[topic_index].entity_prefix, (int)m->key_len,
           (const char *)m->key);
  if (!m->payload) { /* a tombstone: the entity is gone, its seq stays */
    json_t *record = json_object_get(kr->records, id);
    if (record)
      json_object_set_new(record, "state", json_null());
    return;
  }
  json_t *event = json_loadb(m->payload, m->len, 0, NULL);
  json_t *source = json_object_get(event, "source");
  const char *pbx = json_string_value(json_object_get(source, "pbx"));
  if (!pbx || strcmp(pbx, kr->config->pbx_id) != 0) {
    json_decref(event);
    return;
  }
  const char *entity = json_string_value(json_object_get(source, "entity"));
  json_int_t seq = json_integer_value(json_object_get(event, "seq"));
  if (!entity || strcmp(entity, id) != 0 || seq < 1) {
    json_decref(event);
    return;
  }
  json_t *after = json_object_get(event, "after");
  json_t *record = json_pack(
      "{s:s,s:s%,s:I,s:O,s:{s:O,s:O,s:O},s:i,s:s}", "kind", kafka_restore_topics[topic_index].kind, "key",
      (const char *)m->key, m->key_len, "seq", seq, "state", after ? after : json_null(), "line", "kind",
      json_object_get(source, "line_kind"), "guid", json_object_get(source, "line_guid"), "extn",
      json_object_get(source, "line_extn"), "callid", 0, "gcid", "");
  if (record)
    json_object_set_new(kr->records, id, record);
  json_decref(event);
}

int kafka_restore_run(const config_t *config, snap_t *snap, int timeout_ms, size_t *restored,
                      char *errstr, size_t errstr_size) {
  char err[512], group[300];
  kafka_restore_t kr = {.config = config, .records = json_object()};
  int rc = -1;
  size_t done = 0, n_parts = 0, calls = 0;
  int *finished = NULL;
  *restored = 0;

  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  snprintf(group, sizeof(group), "mtcti3-bridge-restore-%s", config->pbx_id);
  if (rd_kafka_conf_set(conf, "bootstrap.servers", config->kafka_bootstrap, err, sizeof(err)) ||
      rd_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err)) ||
      rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, sizeof(err)) ||
      rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err))) {
    snprintf(errstr, errstr_size, "restore from topics: %s", err);
    rd_kafka_conf_destroy(conf);
    goto done;
  }
  for (size_t i = 0; i < config->kafka_count; i++) /* security settings apply here too */
    rd_kafka_conf_set(conf, config->kafka[i].name, config->kafka[i].value, err, sizeof(err));
  kr.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!kr.rk) {
    snprintf(errstr, errstr_size, "restore from topics: %s", err);
    rd_kafka_conf_destroy(conf);
    goto done;
  }

  /* every partition with something to read */
  kr.assignment = rd_kafka_topic_partition_list_new(16);
  for (int t = 0; t < KAFKA_RESTORE_NTOPICS; t++) {
    if (kafka_restore_topics[t].windowed && config->calls_restore_window == 0)
      continue;
    if (kafka_restore_partitions(&kr, t, errstr, errstr_size) != 0)
      goto done;
  }
  n_parts = (size_t)kr.assignment->cnt;
  if (n_parts > 0)
    rd_kafka_assign(kr.rk, kr.assignment);

  /* read up to the high watermarks */
  int64_t deadline = bclock_mono_ms() + timeout_ms;
  finished = calloc(n_parts ? n_parts : 1, sizeof(int));
  while (finished && done < n_parts && bclock_mono_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(kr.rk, 200);
    if (!m)
      continue;
    if (!m->err) {
      const char *topic = rd_kafka_topic_name(m->rkt);
      int t = kafka_restore_topic_index(config, topic);
      if (t >= 0)
        kafka_restore_message(&kr, t, m);
      for (size_t i = 0; i < n_parts; i++) {
        const rd_kafka_topic_partition_t *tp = &kr.assignment->elems[i];
        if (!finished[i] && tp->partition == m->partition && strcmp(tp->topic, topic) == 0 &&
            m->offset >= kr.high[i] - 1) {
          finished[i] = 1;
          done++;
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  if (done < n_parts) {
    snprintf(errstr, errstr_size, "restore from topics: %zu of %zu partitions not read within %d ms",
             n_parts - done, n_parts, timeout_ms);
    goto done;
  }
  for (strmap_iter_t it = strmap_iter(&kr.calls); strmap_iter_next(&it);)
    kafka_restore_call(&kr, it.key, it.value);
  const char *id;
  json_t *record;
  json_object_foreach(kr.records, id, record) {
    if (snap_restore(snap, id, record, err, sizeof(err)) == 0) {
      (*restored)++;
      if (strncmp(id, "call:", 5) == 0)
        calls++;
    } else {
      BLOG_W(KAFKA, NULL, "not restored: %s", err);
    }
  }
  if (config->calls_restore_window > 0)
    BLOG_I(KAFKA, NULL, "%zu call(s) restored from the last %ld s of %scalls (%zu events read)", calls,
           config->calls_restore_window, config->topic_prefix, kr.calls_read);
  rc = 0;
done:
  free(finished);
  if (kr.rk) {
    rd_kafka_consumer_close(kr.rk);
    rd_kafka_destroy(kr.rk);
  }
  if (kr.assignment)
    rd_kafka_topic_partition_list_destroy(kr.assignment);
  free(kr.high);
  json_decref(kr.records);
  strmap_clear(&kr.calls, kafka_restore_last_free);
  return rc;
}
