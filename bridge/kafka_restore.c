/*
 * kafka_restore: read back the compacted topics.  See kafka_restore.h.
 */
#include "kafka_restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "blog.h"

static const struct {
  const char *suffix, *entity_prefix, *kind;
} kafka_restore_topics[] = {
    {"lines", "line:", "line"},
    {"presence", "user:", "presence"},
    {"queues", "queue:", "queue"},
};
#define KAFKA_RESTORE_NTOPICS 3

static int64_t kafka_restore_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One message: update the entity's record in `records` (entity id -> record). */
static void kafka_restore_message(const config_t *config, int topic_index, const rd_kafka_message_t *m,
                                  json_t *records) {
  char id[512];
  if (!m->key)
    return;
  snprintf(id, sizeof(id), "%s%.*s", kafka_restore_topics[topic_index].entity_prefix, (int)m->key_len,
           (const char *)m->key);
  if (!m->payload) { /* a tombstone: the entity is gone, its seq stays */
    json_t *record = json_object_get(records, id);
    if (record)
      json_object_set_new(record, "state", json_null());
    return;
  }
  json_t *event = json_loadb(m->payload, m->len, 0, NULL);
  json_t *source = json_object_get(event, "source");
  const char *pbx = json_string_value(json_object_get(source, "pbx"));
  const char *entity = json_string_value(json_object_get(source, "entity"));
  json_int_t seq = json_integer_value(json_object_get(event, "seq"));
  if (!event || !pbx || strcmp(pbx, config->pbx_id) != 0 || !entity || strcmp(entity, id) != 0 || seq < 1) {
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
    json_object_set_new(records, id, record);
  json_decref(event);
}

int kafka_restore_run(const config_t *config, snap_t *snap, int timeout_ms, size_t *restored,
                      char *errstr, size_t errstr_size) {
  char err[512], group[300];
  rd_kafka_t *rk = NULL;
  rd_kafka_topic_partition_list_t *assignment = NULL;
  int64_t *high = NULL;
  json_t *records = json_object();
  int rc = -1;
  size_t n_parts = 0, done = 0;
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
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (!rk) {
    snprintf(errstr, errstr_size, "restore from topics: %s", err);
    rd_kafka_conf_destroy(conf);
    goto done;
  }

  /* every partition with something in it, from its start */
  assignment = rd_kafka_topic_partition_list_new(16);
  for (int t = 0; t < KAFKA_RESTORE_NTOPICS; t++) {
    char topic[256];
    snprintf(topic, sizeof(topic), "%s%s", config->topic_prefix, kafka_restore_topics[t].suffix);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && !md->topics[0].err) {
      for (int p = 0; p < md->topics[0].partition_cnt; p++) {
        int64_t lo = 0, hi = 0;
        int32_t id = md->topics[0].partitions[p].id;
        if (rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > lo) {
          rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(assignment, topic, id);
          tp->offset = RD_KAFKA_OFFSET_BEGINNING;
          int64_t *grown = realloc(high, (n_parts + 1) * sizeof(*grown));
          if (grown) {
            high = grown;
            high[n_parts++] = hi;
          }
        }
      }
    } else {
      BLOG_I(KAFKA, topic, "nothing to restore from (%s)",
             e ? rd_kafka_err2str(e) : md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
    }
    if (md)
      rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }
  if (n_parts == 0) {
    rc = 0;
    goto done;
  }
  rd_kafka_assign(rk, assignment);

  /* read up to the high watermarks */
  int64_t deadline = kafka_restore_now_ms() + timeout_ms;
  int *finished = calloc(n_parts, sizeof(int));
  while (finished && done < n_parts && kafka_restore_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    if (!m->err) {
      const char *topic = rd_kafka_topic_name(m->rkt);
      int t = -1;
      for (int k = 0; k < KAFKA_RESTORE_NTOPICS; k++) {
        size_t plen = strlen(config->topic_prefix);
        if (strncmp(topic, config->topic_prefix, plen) == 0 &&
            strcmp(topic + plen, kafka_restore_topics[k].suffix) == 0)
          t = k;
      }
      if (t >= 0)
        kafka_restore_message(config, t, m, records);
      for (size_t i = 0; i < n_parts; i++) {
        const rd_kafka_topic_partition_t *tp = &assignment->elems[i];
        if (!finished[i] && tp->partition == m->partition && strcmp(tp->topic, topic) == 0 &&
            m->offset >= high[i] - 1) {
          finished[i] = 1;
          done++;
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  free(finished);
  if (done < n_parts) {
    snprintf(errstr, errstr_size, "restore from topics: %zu of %zu partitions not read within %d ms",
             n_parts - done, n_parts, timeout_ms);
    goto done;
  }
  const char *id;
  json_t *record;
  json_object_foreach(records, id, record) {
    if (snap_restore(snap, id, record, err, sizeof(err)) == 0)
      (*restored)++;
    else
      BLOG_W(KAFKA, NULL, "not restored: %s", err);
  }
  rc = 0;
done:
  if (rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
  if (assignment)
    rd_kafka_topic_partition_list_destroy(assignment);
  free(high);
  json_decref(records);
  return rc;
}
