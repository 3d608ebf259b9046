/*
 * qstats_kafka: the queue statistics read back from <prefix>queue-stats at
 * start.  See qstats_kafka.h.
 */
#include "qstats_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "bclock.h"
#include "blog.h"
#include "kafka_sink.h"
#include "strmap.h"

/* The last value of a key: a malloc'd NUL-terminated text, or NULL after a tombstone. */
typedef struct qstats_kafka_last {
  char *text;
  size_t len;
} qstats_kafka_last_t;

static void qstats_kafka_last_free(void *p) {
  qstats_kafka_last_t *last = p;
  if (last)
    free(last->text);
  free(last);
}

static void qstats_kafka_keep(strmap_t *last, const rd_kafka_message_t *m) {
  char key[512];
  if (!m->key || !m->key_len || m->key_len >= sizeof(key))
    return;
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  qstats_kafka_last_t *l = strmap_get(last, key);
  if (!l && (!(l = calloc(1, sizeof(*l))) || strmap_put(last, key, l) != 0)) {
    free(l);
    return;
  }
  free(l->text);
  l->text = NULL;
  l->len = 0;
  if (m->payload && (l->text = malloc(m->len + 1)) != NULL) {
    memcpy(l->text, m->payload, m->len);
    l->text[m->len] = '\0';
    l->len = m->len;
  }
}

int qstats_kafka_restore(const config_t *config, qstats_t *qs, int timeout_ms, size_t *restored, char *errstr,
                         size_t errstr_size) {
  char topic[256], err[512];
  int rc = -1, parts = 0, eofs = 0;
  rd_kafka_t *rk = NULL;
  rd_kafka_topic_t *rkt = NULL;
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_partition_list_t *assignment = NULL;
  strmap_t last = STRMAP_INIT;
  *restored = 0;
  snprintf(topic, sizeof(topic), "%squeue-stats", config->topic_prefix);

  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (kafka_conf_set(conf, "bootstrap.servers", config->kafka_bootstrap, errstr, errstr_size) ||
      kafka_conf_set(conf, "group.id", "mtcti3-bridge-queue-stats-restore", errstr, errstr_size) ||
      kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
      kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
      kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size) ||
      kafka_conf_set(conf, "log_level", "3", errstr, errstr_size)) {
    rd_kafka_conf_destroy(conf);
    goto done;
  }
  for (size_t i = 0; i < config->kafka_count; i++) /* security settings apply here too */
    rd_kafka_conf_set(conf, config->kafka[i].name, config->kafka[i].value, err, sizeof(err));
  if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)))) {
    snprintf(errstr, errstr_size, "restore %s: %s", topic, err);
    rd_kafka_conf_destroy(conf);
    goto done;
  }
  rkt = rd_kafka_topic_new(rk, topic, NULL);
  rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR || md->topic_cnt != 1 || md->topics[0].err) {
    BLOG_I(KAFKA, topic, "no queue statistics to restore (%s)",
           e ? rd_kafka_err2str(e) : md && md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no metadata");
    rc = 0;
    goto done;
  }
  parts = md->topics[0].partition_cnt;
  assignment = rd_kafka_topic_partition_list_new(parts ? parts : 1);
  for (int p = 0; p < parts; p++)
    rd_kafka_topic_partition_list_add(assignment, topic, md->topics[0].partitions[p].id)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  if (parts)
    rd_kafka_assign(rk, assignment);

  /* every partition up to its end (the last stable offset: read_committed) */
  int64_t deadline = bclock_mono_ms() + timeout_ms;
  while (eofs < parts && bclock_mono_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
      eofs++; /* once per partition: the consumer reports its end once until more arrives */
    else if (!m->err)
      qstats_kafka_keep(&last, m);
    rd_kafka_message_destroy(m);
  }
  if (eofs < parts) {
    snprintf(errstr, errstr_size, "restore %s: %d of %d partitions not read within %d ms", topic, parts - eofs,
             parts, timeout_ms);
    goto done;
  }
  int64_t now = bclock_wall_ms();
  STRMAP_FOREACH(&last, node) {
    const qstats_kafka_last_t *l = node->value;
    if (!l->text)
      continue; /* the queue was deleted */
    if (qstats_restore(qs, l->text, l->len, now, err, sizeof(err)) == 0)
      (*restored)++;
    else
      BLOG_W(KAFKA, node->key, "queue statistics not restored: %s", err);
  }
  rc = 0;
done:
  if (assignment)
    rd_kafka_topic_partition_list_destroy(assignment);
  if (md)
    rd_kafka_metadata_destroy(md);
  if (rkt)
    rd_kafka_topic_destroy(rkt);
  if (rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
  strmap_clear(&last, qstats_kafka_last_free);
  return rc;
}
