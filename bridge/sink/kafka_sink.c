/*
 * kafka_sink: the librdkafka producer stage.  See kafka_sink.h.
 */
#include "kafka_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "bclock.h"
#include "blog.h"
#include "metrics.h"

static const struct {
  const char *suffix;
  int compacted;
} kafka_sink_topics[] = {
#define KAFKA_SINK_X_ROW(s, c) {s, c},
    KAFKA_SINK_TOPICS(KAFKA_SINK_X_ROW)
#undef KAFKA_SINK_X_ROW
};
#define KAFKA_SINK_NTOPICS (sizeof(kafka_sink_topics) / sizeof(kafka_sink_topics[0]))

/* One event from produce to its delivery report; re-produced on errors. */
typedef struct kafka_sink_msg {
  struct kafka_sink_msg *next; /* in the backlog */
  void *opaque;
  int64_t t0_us;
  int topic_index; /* metrics label */
  int64_t retry_at_us;
  event_t event; /* moved in from the caller; kept until the delivery report (and for a retry) */
} kafka_sink_msg_t;

struct kafka_sink {
  const config_t *config;
  kafka_sink_delivered_cb *delivered;
  void *ctx;
  rd_kafka_t *rk;
  rd_kafka_t *mock_rk;
  rd_kafka_mock_cluster_t *mock;
  char *bootstrap;
  int pipe_fds[2];
  rd_kafka_queue_t *mainq;
  size_t inflight, backlog_len;
  int closing; /* destroy: delivery reports only free */
  kafka_sink_msg_t *backlog_head, *backlog_tail;
};

static void kafka_sink_msg_free(kafka_sink_msg_t *msg) {
  if (!msg)
    return;
  event_clear(&msg->event);
  free(msg);
}

static void kafka_sink_backlog_push(kafka_sink_t *sink, kafka_sink_msg_t *msg) {
  msg->next = NULL;
  if (sink->backlog_tail)
    sink->backlog_tail->next = msg;
  else
    sink->backlog_head = msg;
  sink->backlog_tail = msg;
  sink->backlog_len++;
  metrics_set(METRICS_EVENTS_BACKLOG, (int64_t)sink->backlog_len);
}

/* Try to hand one message to librdkafka: 0 queued, 1 queue full, -1 error. */
static int kafka_sink_try(kafka_sink_t *sink, kafka_sink_msg_t *msg, char *errstr, size_t errstr_size) {
  const event_t *ev = &msg->event;
  /* built at each try: a produced message owns (and frees) its headers */
  rd_kafka_headers_t *headers = ev->n_headers ? rd_kafka_headers_new(ev->n_headers) : NULL;
  for (size_t i = 0; headers && i < ev->n_headers; i++)
    rd_kafka_header_add(headers, ev->headers[i].name, -1, ev->headers[i].value, -1);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      sink->rk, RD_KAFKA_V_TOPIC(ev->topic), RD_KAFKA_V_KEY(ev->key, strlen(ev->key)),
      /* no copy: msg keeps the value until the delivery report (and for a retry) */
      RD_KAFKA_V_VALUE(ev->value, ev->value_len), RD_KAFKA_V_MSGFLAGS(0),
      RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(msg), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    sink->inflight++;
    metrics_set(METRICS_EVENTS_INFLIGHT, (int64_t)sink->inflight);
    return 0;
  }
  if (headers)
    rd_kafka_headers_destroy(headers);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
    return 1;
  snprintf(errstr, errstr_size, "produce to %s: %s", ev->topic, rd_kafka_err2str(err));
  return -1;
}

static int kafka_sink_topic_index(const char *topic, const char *prefix) {
  size_t plen = strlen(prefix);
  static const char *const order[] = {"lines", "presence", "queues", "calls", "bridge"};
  if (strncmp(topic, prefix, plen) == 0)
    for (int i = 0; i < 5; i++)
      if (strcmp(topic + plen, order[i]) == 0)
        return i;
  return -1;
}

int kafka_sink_produce(kafka_sink_t *sink, event_t *event, void *opaque, char *errstr, size_t errstr_size) {
  kafka_sink_msg_t *msg = calloc(1, sizeof(*msg));
  if (!msg)
    goto oom;
  msg->opaque = opaque;
  msg->t0_us = bclock_mono_us();
  msg->topic_index = kafka_sink_topic_index(event->topic, sink->config->topic_prefix);
  msg->event = *event;
  memset(event, 0, sizeof(*event));
  if (sink->backlog_head) { /* keep order behind what already waits */
    kafka_sink_backlog_push(sink, msg);
    return 0;
  }
  int rc = kafka_sink_try(sink, msg, errstr, errstr_size);
  if (rc == 1) {
    kafka_sink_backlog_push(sink, msg);
    BLOG_D(KAFKA, NULL, "librdkafka queue full: %zu events wait", sink->backlog_len);
    return 0;
  }
  if (rc < 0) {
    kafka_sink_msg_free(msg);
    return -1;
  }
  return 0;
oom:
  event_clear(event);
  snprintf(errstr, errstr_size, "produce: out of memory");
  return -1;
}

static void kafka_sink_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkmessage, void *ctx) {
  kafka_sink_t *sink = ctx;
  kafka_sink_msg_t *msg = rkmessage->_private;
  sink->inflight--;
  metrics_set(METRICS_EVENTS_INFLIGHT, (int64_t)sink->inflight);
  if (sink->closing) {
    void *opaque = msg->opaque;
    kafka_sink_msg_free(msg);
    sink->delivered(sink->ctx, opaque, 0);
    return;
  }
  if (rkmessage->err) {
    metrics_add(METRICS_KAFKA_ERRORS, 1);
    BLOG_E(KAFKA, msg->event.topic, "delivery of key %s failed: %s; producing it again", msg->event.key,
           rd_kafka_err2str(rkmessage->err));
    msg->retry_at_us = bclock_mono_us() + 1000000;
    kafka_sink_backlog_push(sink, msg);
    return;
  }
  metrics_event_delivered(msg->topic_index, (double)(bclock_mono_us() - msg->t0_us) / 1000.0);
  void *opaque = msg->opaque;
  kafka_sink_msg_free(msg);
  sink->delivered(sink->ctx, opaque, 1);
}

static void kafka_sink_error(rd_kafka_t *rk, int err, const char *reason, void *ctx) {
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    BLOG_E(KAFKA, NULL, "fatal: %s", reason);
  } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    BLOG_D(KAFKA, NULL, "%s", reason); /* librdkafka's own log line says it already */
  } else {
    BLOG_W(KAFKA, NULL, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
  }
}

void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  blog_level_t l = level <= 3 ? BLOG_ERROR : level <= 4 ? BLOG_WARN : level <= 6 ? BLOG_INFO : BLOG_DEBUG;
  if (l == BLOG_DEBUG)
    BLOG_D(KAFKA, fac, "%s", buf);
  else
    blog_write(BLOG_CTX_KAFKA, fac, l, "%s", buf);
}

int kafka_sink_poll(kafka_sink_t *sink, char *errstr, size_t errstr_size) {
  char buf[64];
  while (read(sink->pipe_fds[0], buf, sizeof(buf)) > 0) {
  }
  rd_kafka_poll(sink->rk, 0);
  int64_t now = bclock_mono_us();
  while (sink->backlog_head) {
    kafka_sink_msg_t *msg = sink->backlog_head;
    if (msg->retry_at_us > now)
      break;
    int rc = kafka_sink_try(sink, msg, errstr, errstr_size);
    if (rc == 1)
      break;
    if (rc < 0) {
      BLOG_E(KAFKA, msg->event.topic, "%s; trying again", errstr);
      msg->retry_at_us = now + 1000000;
      break;
    }
    sink->backlog_head = msg->next;
    if (!sink->backlog_head)
      sink->backlog_tail = NULL;
    sink->backlog_len--;
    metrics_set(METRICS_EVENTS_BACKLOG, (int64_t)sink->backlog_len);
  }
  char fatal[200]; /* the error line holds it whole (callers give 256 or more) */
  if (rd_kafka_fatal_error(sink->rk, fatal, sizeof(fatal))) {
    snprintf(errstr, errstr_size, "fatal producer error: %s", fatal);
    return -1;
  }
  return 0;
}

int kafka_sink_fd(const kafka_sink_t *sink) { return sink->pipe_fds[0]; }
size_t kafka_sink_inflight(const kafka_sink_t *sink) { return sink->inflight; }
size_t kafka_sink_backlog(const kafka_sink_t *sink) { return sink->backlog_len; }
int kafka_sink_blocked(const kafka_sink_t *sink) { return sink->backlog_head != NULL; }
const char *kafka_sink_bootstrap(const kafka_sink_t *sink) { return sink->bootstrap; }

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                   size_t errstr_size) {
  char err[256];
  if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "kafka.%s: %s", name, err);
    return -1;
  }
  return 0;
}

/* The bridge's producer defaults; kafka.<prop> settings come after them and win. */
static const char *const kafka_sink_defaults[][2] = {
    {"enable.idempotence", "true"}, {"acks", "all"},        {"message.timeout.ms", "0"},
    {"linger.ms", "5"},             {"log.queue", "true"}, {"client.id", "mtcti3-bridge"},
    {"queue.buffering.max.messages", "500000"}, {"compression.codec", "lz4"},
};
#define KAFKA_SINK_NDEFAULTS (sizeof(kafka_sink_defaults) / sizeof(kafka_sink_defaults[0]))

static void kafka_sink_log_nothing(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

/*
 * Each property as rd_kafka_conf_set sees it, then the whole configuration
 * as rd_kafka_new sees it (a producer with the bridge's defaults and no
 * bootstrap servers: it connects nowhere), so what librdkafka would refuse
 * at start (acks=1 with idempotence, an unknown SASL mechanism, an
 * unreadable ssl.ca.location) is refused here, before anything starts.
 */
int kafka_sink_check_config(const config_t *config, char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512];
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < KAFKA_SINK_NDEFAULTS; i++)
    rc = kafka_conf_set(conf, kafka_sink_defaults[i][0], kafka_sink_defaults[i][1], errstr, errstr_size);
  for (size_t i = 0; rc == 0 && i < config->kafka_count; i++)
    rc = kafka_conf_set(conf, config->kafka[i].name, config->kafka[i].value, errstr, errstr_size);
  if (rc != 0) {
    rd_kafka_conf_destroy(conf);
    return rc;
  }
  rd_kafka_conf_set_log_cb(conf, kafka_sink_log_nothing); /* "no bootstrap.servers": true, and expected */
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, errstr_size, "kafka: %s", err);
    return -1;
  }
  rd_kafka_destroy(rk);
  return 0;
}

static int kafka_sink_embedded(kafka_sink_t *sink, char *errstr, size_t errstr_size) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, kafka_log);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)); /* it has no brokers of its own: quiet */
  sink->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!sink->mock_rk) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, errstr_size, "kafka_bootstrap: embedded cluster: %s", err);
    return -1;
  }
  sink->mock = rd_kafka_mock_cluster_new(sink->mock_rk, 1);
  if (!sink->mock) {
    snprintf(errstr, errstr_size, "kafka_bootstrap: cannot start the embedded cluster");
    return -1;
  }
  sink->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(sink->mock));
  for (size_t i = 0; i < KAFKA_SINK_NTOPICS; i++) {
    char topic[256];
    snprintf(topic, sizeof(topic), "%s%s", sink->config->topic_prefix, kafka_sink_topics[i].suffix);
    rd_kafka_mock_topic_create(sink->mock, topic, (int)sink->config->kafka_partitions, 1);
  }
  BLOG_W(KAFKA, "embedded",
         "kafka_bootstrap=embedded: an in-process mock cluster that keeps nothing (demo only); "
         "consume from it at %s",
         sink->bootstrap);
  printf("embedded Kafka bootstrap: %s\n", sink->bootstrap);
  fflush(stdout);
  return 0;
}

kafka_sink_t *kafka_sink_new(const config_t *config, kafka_sink_delivered_cb *delivered, void *ctx,
                             char *errstr, size_t errstr_size) {
  kafka_sink_t *sink = calloc(1, sizeof(*sink));
  rd_kafka_conf_t *conf = NULL;
  char err[512];
  if (!sink) {
    snprintf(errstr, errstr_size, "kafka: out of memory");
    return NULL;
  }
  sink->pipe_fds[0] = sink->pipe_fds[1] = -1;
  sink->config = config;
  sink->delivered = delivered;
  sink->ctx = ctx;
  if (strcmp(config->kafka_bootstrap, "embedded") == 0) {
    if (kafka_sink_embedded(sink, errstr, errstr_size) != 0)
      goto fail;
  } else {
    sink->bootstrap = strdup(config->kafka_bootstrap);
  }
  if (!sink->bootstrap)
    goto oom;
  if (pipe(sink->pipe_fds) != 0) {
    snprintf(errstr, errstr_size, "kafka: pipe: %s", strerror(errno));
    goto fail;
  }
  fcntl(sink->pipe_fds[0], F_SETFL, O_NONBLOCK);
  fcntl(sink->pipe_fds[1], F_SETFL, O_NONBLOCK);

  conf = rd_kafka_conf_new();
  if (kafka_conf_set(conf, "bootstrap.servers", sink->bootstrap, errstr, errstr_size) != 0)
    goto fail;
  for (size_t i = 0; i < KAFKA_SINK_NDEFAULTS; i++)
    if (kafka_conf_set(conf, kafka_sink_defaults[i][0], kafka_sink_defaults[i][1], errstr, errstr_size) != 0)
      goto fail;
  for (size_t i = 0; i < config->kafka_count; i++)
    if (kafka_conf_set(conf, config->kafka[i].name, config->kafka[i].value, errstr, errstr_size) != 0)
      goto fail;
  rd_kafka_conf_set_dr_msg_cb(conf, kafka_sink_dr);
  rd_kafka_conf_set_error_cb(conf, kafka_sink_error);
  rd_kafka_conf_set_log_cb(conf, kafka_log);
  rd_kafka_conf_set_opaque(conf, sink);
  sink->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!sink->rk) {
    snprintf(errstr, errstr_size, "kafka: %s", err);
    goto fail;
  }
  conf = NULL; /* owned by rk now */
  sink->mainq = rd_kafka_queue_get_main(sink->rk);
  rd_kafka_set_log_queue(sink->rk, sink->mainq);
  rd_kafka_queue_io_event_enable(sink->mainq, sink->pipe_fds[1], "1", 1);
  BLOG_I(KAFKA, NULL, "producer to %s (idempotent, acks=all)", sink->bootstrap);
  return sink;
oom:
  snprintf(errstr, errstr_size, "kafka: out of memory");
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  kafka_sink_destroy(sink);
  return NULL;
}

int kafka_create_topics(rd_kafka_t *rk, const kafka_topic_spec_t *specs, size_t n,
                        int partitions, int replication, int timeout_ms, char *errstr,
                        size_t errstr_size) {
  rd_kafka_NewTopic_t **topics = calloc(n ? n : 1, sizeof(*topics));
  rd_kafka_AdminOptions_t *options = NULL;
  rd_kafka_queue_t *q = NULL;
  rd_kafka_event_t *ev = NULL;
  char err[256];
  int rc = -1;

  if (!topics) {
    snprintf(errstr, errstr_size, "creating topics: out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    topics[i] = rd_kafka_NewTopic_new(specs[i].name, partitions, replication, err, sizeof(err));
    if (!topics[i]) {
      snprintf(errstr, errstr_size, "topic %s: %s", specs[i].name, err);
      goto done;
    }
    if (specs[i].compacted)
      rd_kafka_NewTopic_set_config(topics[i], "cleanup.policy", "compact");
  }
  q = rd_kafka_queue_new(rk);
  options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_CreateTopics(rk, topics, n, options, q);
  ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
  if (!ev) {
    snprintf(errstr, errstr_size, "creating topics: no answer in %d ms", timeout_ms);
    goto done;
  }
  if (rd_kafka_event_error(ev)) {
    snprintf(errstr, errstr_size, "creating topics: %s", rd_kafka_event_error_string(ev));
    goto done;
  }
  rc = 0;
  size_t nres;
  const rd_kafka_topic_result_t **results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
  for (size_t i = 0; i < nres; i++) {
    rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      BLOG_I(KAFKA, rd_kafka_topic_result_name(results[i]), "topic created");
    } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      snprintf(errstr, errstr_size, "topic %s: %s", rd_kafka_topic_result_name(results[i]),
               rd_kafka_topic_result_error_string(results[i]));
      rc = -1;
    }
  }
done:
  if (ev)
    rd_kafka_event_destroy(ev);
  if (options)
    rd_kafka_AdminOptions_destroy(options);
  if (q)
    rd_kafka_queue_destroy(q);
  for (size_t i = 0; i < n; i++)
    if (topics[i])
      rd_kafka_NewTopic_destroy(topics[i]);
  free(topics);
  return rc;
}

int kafka_sink_create_topics(kafka_sink_t *sink, int timeout_ms, char *errstr, size_t errstr_size) {
  if (sink->mock)
    return 0; /* created with the mock cluster */
  char names[KAFKA_SINK_NTOPICS][256];
  kafka_topic_spec_t specs[KAFKA_SINK_NTOPICS];
  for (size_t i = 0; i < KAFKA_SINK_NTOPICS; i++) {
    snprintf(names[i], sizeof(names[i]), "%s%s", sink->config->topic_prefix,
             kafka_sink_topics[i].suffix);
    specs[i] = (kafka_topic_spec_t){names[i], kafka_sink_topics[i].compacted};
  }
  return kafka_create_topics(sink->rk, specs, KAFKA_SINK_NTOPICS,
                             (int)sink->config->kafka_partitions,
                             (int)sink->config->kafka_replication, timeout_ms, errstr, errstr_size);
}

size_t kafka_sink_flush(kafka_sink_t *sink, int timeout_ms) {
  int64_t deadline = bclock_mono_us() + (int64_t)timeout_ms * 1000;
  char errstr[256];
  while ((sink->inflight || sink->backlog_len) && bclock_mono_us() < deadline) {
    rd_kafka_flush(sink->rk, 100);
    kafka_sink_poll(sink, errstr, sizeof(errstr));
  }
  return sink->inflight + sink->backlog_len;
}

void kafka_sink_destroy(kafka_sink_t *sink) {
  if (!sink)
    return;
  for (kafka_sink_msg_t *m = sink->backlog_head, *next; m; m = next) {
    next = m->next;
    void *opaque = m->opaque;
    kafka_sink_msg_free(m);
    if (sink->delivered)
      sink->delivered(sink->ctx, opaque, 0);
  }
  sink->backlog_head = sink->backlog_tail = NULL;
  if (sink->mainq)
    rd_kafka_queue_destroy(sink->mainq);
  sink->closing = 1;
  if (sink->rk) {
    rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(sink->rk, 0);
    rd_kafka_destroy(sink->rk);
  }
  if (sink->mock)
    rd_kafka_mock_cluster_destroy(sink->mock);
  if (sink->mock_rk)
    rd_kafka_destroy(sink->mock_rk);
  if (sink->pipe_fds[0] >= 0)
    close(sink->pipe_fds[0]);
  if (sink->pipe_fds[1] >= 0)
    close(sink->pipe_fds[1]);
  free(sink->bootstrap);
  free(sink);
}
