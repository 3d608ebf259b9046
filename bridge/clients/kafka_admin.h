/*
 * kafka_admin: topic creation without waiting.
 *
 * DESIGN.  An admin client of the factory whose results arrive on a queue
 * that signals a pipe the loop watches: kafka_admin_create_topics sends the
 * request and returns; kafka_admin_poll, when the fd is readable, reports
 * the outcome (topics that exist already are fine).  An unreachable Kafka
 * makes the request time out: the caller asks again later.  Loop thread.
 */
#ifndef KAFKA_ADMIN_H
#define KAFKA_ADMIN_H

#include <stddef.h>

#include "kafka_client.h"

typedef struct kafka_admin kafka_admin_t;

/* A topic to create: its full name, compaction, partitions and replicas (-1: broker default). */
typedef struct kafka_topic_spec {
  const char *name;
  int compacted;
  int partitions;
  int replication;
} kafka_topic_spec_t;

/* NULL with errstr. */
kafka_admin_t *kafka_admin_new(kafka_env_t *env, char *errstr, size_t errstr_size);
int kafka_admin_fd(const kafka_admin_t *admin);
/* Ask for `n` topics (copied); the answer comes through kafka_admin_poll.  0, or -1 with errstr. */
int kafka_admin_create_topics(kafka_admin_t *admin, const kafka_topic_spec_t *specs, size_t n, int timeout_ms,
                              char *errstr, size_t errstr_size);
/*
 * 1 with an answer: errstr "" when every topic exists now, else the first
 * error ("topic mtcti3.calls: ..."); 0 when nothing came yet.
 */
int kafka_admin_poll(kafka_admin_t *admin, char *errstr, size_t errstr_size);
void kafka_admin_destroy(kafka_admin_t *admin);

#endif
