/*
 * kafka_admin: asynchronous topic creation.  See kafka_admin.h.
 */
#include "kafka_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blog.h"

struct kafka_admin {
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  kafka_wake_t wake;
};

kafka_admin_t *kafka_admin_new(kafka_env_t *env, char *errstr, size_t errstr_size) {
  kafka_admin_t *admin = calloc(1, sizeof(*admin));
  if (!admin) {
    snprintf(errstr, errstr_size, "kafka admin: out of memory");
    return NULL;
  }
  admin->wake.fds[0] = admin->wake.fds[1] = -1;
  kafka_client_spec_t spec = {.role = KAFKA_CLIENT_ADMIN, .name = "admin", .opaque = admin};
  admin->rk = kafka_client_new(env, &spec, errstr, errstr_size);
  if (!admin->rk)
    goto fail;
  admin->queue = rd_kafka_queue_new(admin->rk);
  if (kafka_wake_open(&admin->wake, admin->queue, errstr, errstr_size) != 0)
    goto fail;
  return admin;
fail:
  kafka_admin_destroy(admin);
  return NULL;
}

int kafka_admin_fd(const kafka_admin_t *admin) { return admin->wake.fds[0]; }

int kafka_admin_create_topics(kafka_admin_t *admin, const kafka_topic_spec_t *specs, size_t n, int timeout_ms,
                              char *errstr, size_t errstr_size) {
  rd_kafka_NewTopic_t **topics = calloc(n ? n : 1, sizeof(*topics));
  char err[256];
  int rc = -1;
  if (!topics) {
    snprintf(errstr, errstr_size, "creating topics: out of memory");
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    topics[i] = rd_kafka_NewTopic_new(specs[i].name, specs[i].partitions, specs[i].replication, err, sizeof(err));
    if (!topics[i]) {
      snprintf(errstr, errstr_size, "topic %s: %s", specs[i].name, err);
      goto done;
    }
    if (specs[i].compacted)
      rd_kafka_NewTopic_set_config(topics[i], "cleanup.policy", "compact");
  }
  rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(admin->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, err, sizeof(err));
  rd_kafka_CreateTopics(admin->rk, topics, n, options, admin->queue);
  rd_kafka_AdminOptions_destroy(options);
  rc = 0;
done:
  for (size_t i = 0; i < n; i++)
    if (topics[i])
      rd_kafka_NewTopic_destroy(topics[i]);
  free(topics);
  return rc;
}

int kafka_admin_poll(kafka_admin_t *admin, char *errstr, size_t errstr_size) {
  kafka_wake_drain(&admin->wake);
  rd_kafka_poll(admin->rk, 0); /* its log lines and errors */
  rd_kafka_event_t *ev = rd_kafka_queue_poll(admin->queue, 0);
  if (!ev)
    return 0;
  errstr[0] = '\0';
  if (rd_kafka_event_type(ev) != RD_KAFKA_EVENT_CREATETOPICS_RESULT) {
    rd_kafka_event_destroy(ev);
    return 0;
  }
  if (rd_kafka_event_error(ev)) {
    snprintf(errstr, errstr_size, "creating topics: %s", rd_kafka_event_error_string(ev));
  } else {
    size_t nres;
    const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        BLOG_I(KAFKA, rd_kafka_topic_result_name(results[i]), "topic created");
      } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && !errstr[0]) {
        snprintf(errstr, errstr_size, "topic %s: %s", rd_kafka_topic_result_name(results[i]),
                 rd_kafka_topic_result_error_string(results[i]));
      }
    }
  }
  rd_kafka_event_destroy(ev);
  return 1;
}

void kafka_admin_destroy(kafka_admin_t *admin) {
  if (!admin)
    return;
  if (admin->queue) {
    rd_kafka_queue_io_event_enable(admin->queue, -1, NULL, 0);
    rd_kafka_queue_destroy(admin->queue);
  }
  if (admin->rk)
    kafka_client_destroy(admin->rk);
  kafka_wake_close(&admin->wake);
  free(admin);
}
