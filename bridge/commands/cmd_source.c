/*
 * cmd_source: the command topic's Kafka side.  See cmd_source.h.
 */
#include "cmd_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bclock.h"
#include "blog.h"
#include "cmd_offsets.h"
#include "kafka_client.h"
#include "metrics.h"

#define CMD_SOURCE_POLL_MAX 500 /* messages served per poll call */
#define CMD_SOURCE_RETRY_MS 500 /* a result Kafka refused is produced again after this */

typedef struct cmd_part cmd_part_t;

/* One message read: its entry in its partition's tracker (first member), the executor's token. */
typedef struct cmd_msg {
  cmd_offsets_entry_t entry;
  cmd_part_t *part;
} cmd_msg_t;

/* A partition of the command topic. */
struct cmd_part {
  struct cmd_part *next;
  int32_t partition;
  int revoked;           /* no longer ours: nothing is committed */
  cmd_offsets_t offsets; /* its messages, and what may be committed */
};

/* A result on its way to Kafka: its own copy, produced again until Kafka has it. */
typedef struct cmd_out {
  struct cmd_out *next; /* in the retry list */
  cmd_source_t *source;
  cmd_emit_done_cb *done;
  void *done_opaque;
  char *topic, *key, *value;
  size_t key_len, value_len;
  size_t n_headers;
  char *headers[CMD_EMIT_HEADERS_MAX][2];
  int64_t retry_mono;
} cmd_out_t;

struct cmd_source {
  const config_t *config;
  cmd_exec_t *exec;
  rd_kafka_t *consumer, *producer;
  rd_kafka_queue_t *consumer_q, *producer_q;
  int pipe_fds[2];
  char topic[256], results_topic[256];
  char group[256]; /* commands_group, or mtcti3-bridge-<pbx_id> */
  cmd_part_t *parts;
  cmd_out_t *retry; /* results Kafka refused for now */
  size_t outstanding; /* results handed to librdkafka, not yet reported */
  int paused;
  int stopping;   /* exit: no new message is read */
  int destroying; /* delivery reports only answer "not delivered" */
};

/* ---- results ---- */

static void cmd_out_free(cmd_out_t *out) {
  free(out->topic);
  free(out->key);
  free(out->value);
  for (size_t i = 0; i < out->n_headers; i++) {
    free(out->headers[i][0]);
    free(out->headers[i][1]);
  }
  free(out);
}

/* Tell the executor, once, and forget the result. */
static void cmd_out_done(cmd_out_t *out, int delivered) {
  cmd_emit_done_cb *done = out->done;
  void *opaque = out->done_opaque;
  cmd_out_free(out);
  done(opaque, delivered);
}

/* Hand the copy to librdkafka; on a refusal now (queue full, say) it waits in the retry list. */
static void cmd_out_produce(cmd_source_t *source, cmd_out_t *out) {
  rd_kafka_headers_t *headers = rd_kafka_headers_new(out->n_headers);
  for (size_t i = 0; i < out->n_headers; i++)
    rd_kafka_header_add(headers, out->headers[i][0], -1, out->headers[i][1], -1);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      source->producer, RD_KAFKA_V_TOPIC(out->topic), RD_KAFKA_V_KEY(out->key, out->key_len),
      RD_KAFKA_V_VALUE(out->value, out->value_len), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(out), RD_KAFKA_V_END);
  if (err) {
    rd_kafka_headers_destroy(headers);
    BLOG_W(CMD, out->key, "result not produced to %s: %s; trying again", out->topic, rd_kafka_err2str(err));
    out->retry_mono = bclock_mono_ms() + CMD_SOURCE_RETRY_MS;
    out->next = source->retry;
    source->retry = out;
    return;
  }
  source->outstanding++;
}

void cmd_source_emit(void *opaque, const cmd_emit_t *msg, cmd_emit_done_cb *done, void *done_opaque) {
  cmd_source_t *source = opaque;
  cmd_out_t *out = calloc(1, sizeof(*out));
  if (!out) {
    BLOG_E(CMD, NULL, "out of memory: a result is lost");
    return;
  }
  out->source = source;
  out->done = done;
  out->done_opaque = done_opaque;
  out->topic = strdup(msg->topic);
  out->value = malloc(msg->value_len ? msg->value_len : 1);
  out->value_len = msg->value_len;
  int ok = out->topic && out->value;
  if (ok)
    memcpy(out->value, msg->value, msg->value_len);
  if (ok && msg->key) {
    out->key = malloc(msg->key_len ? msg->key_len : 1);
    out->key_len = msg->key_len;
    ok = out->key != NULL;
    if (ok)
      memcpy(out->key, msg->key, msg->key_len);
  }
  for (size_t i = 0; ok && i < msg->n_headers && i < CMD_EMIT_HEADERS_MAX; i++) {
    out->headers[i][0] = strdup(msg->headers[i].name);
    out->headers[i][1] = strdup(msg->headers[i].value);
    out->n_headers++;
    ok = out->headers[i][0] && out->headers[i][1];
  }
  if (!ok) { /* told "not delivered" by the tick, so never from inside */
    BLOG_E(CMD, NULL, "out of memory: a result is not produced");
    out->retry_mono = -1;
    out->next = source->retry;
    source->retry = out;
    return;
  }
  cmd_out_produce(source, out);
}

static void cmd_source_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkmessage, void *opaque) {
  cmd_source_t *source = opaque;
  cmd_out_t *out = rkmessage->_private;
  (void)rk;
  if (!out)
    return;
  source->outstanding--;
  if (rkmessage->err && !source->destroying && !source->stopping) {
    BLOG_W(CMD, out->key, "result delivery failed: %s; producing it again", rd_kafka_err2str(rkmessage->err));
    out->retry_mono = bclock_mono_ms() + CMD_SOURCE_RETRY_MS;
    out->next = source->retry;
    source->retry = out;
    return;
  }
  cmd_out_done(out, rkmessage->err == RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ---- offsets: commit what is settled, contiguously per partition ---- */

void cmd_source_settled(void *opaque, void *token, int ok) {
  cmd_msg_t *msg = token;
  (void)opaque;
  if (ok)
    cmd_offsets_done(&msg->entry); /* committed by cmd_source_reap, after every one before it */
  /* not ok: never done, so nothing at or after it is committed by this owner */
}

/* Free the settled messages at each partition's head and commit the offset after them. */
static void cmd_source_reap(cmd_source_t *source) {
  for (cmd_part_t *part = source->parts; part; part = part->next) {
    cmd_offsets_entry_t *done = NULL;
    int64_t commit = cmd_offsets_take(&part->offsets, &done);
    for (cmd_offsets_entry_t *next; done; done = next) {
      next = done->next;
      free(done); /* the cmd_msg_t: the entry is its first member */
    }
    if (commit < 0 || part->revoked || !source->consumer)
      continue;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, source->topic, part->partition)->offset = commit;
    rd_kafka_resp_err_t err = rd_kafka_commit(source->consumer, offsets, 1);
    if (err)
      BLOG_W(CMD, source->topic, "commit of partition %d offset %lld: %s", part->partition, (long long)commit,
             rd_kafka_err2str(err));
    else
      BLOG_D(CMD, source->topic, "commit partition %d offset %lld", part->partition, (long long)commit);
    rd_kafka_topic_partition_list_destroy(offsets);
  }
}

/* A partition's messages, all of them (its executor let go of every token). */
static void cmd_part_free_messages(cmd_part_t *part) {
  for (cmd_offsets_entry_t *e = part->offsets.head, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  cmd_offsets_init(&part->offsets);
}

/* ---- the consumer ---- */

static void cmd_source_pause(cmd_source_t *source, int pause) {
  if (source->paused == pause || !source->consumer)
    return;
  rd_kafka_topic_partition_list_t *assigned = NULL;
  if (rd_kafka_assignment(source->consumer, &assigned) == RD_KAFKA_RESP_ERR_NO_ERROR && assigned) {
    if (pause)
      rd_kafka_pause_partitions(source->consumer, assigned);
    else
      rd_kafka_resume_partitions(source->consumer, assigned);
    rd_kafka_topic_partition_list_destroy(assigned);
  }
  source->paused = pause;
  metrics_set(METRICS_COMMANDS_PAUSED, pause);
  if (pause)
    BLOG_W(CMD, source->topic, "paused: the commands cannot reach Redis");
  else
    BLOG_I(CMD, source->topic, "resumed");
}

static cmd_part_t *cmd_source_part(cmd_source_t *source, int32_t partition) {
  for (cmd_part_t *p = source->parts; p; p = p->next)
    if (p->partition == partition && !p->revoked)
      return p;
  cmd_part_t *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->partition = partition;
  cmd_offsets_init(&p->offsets);
  p->next = source->parts;
  source->parts = p;
  return p;
}

static void cmd_source_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *partitions,
                                 void *opaque) {
  cmd_source_t *source = opaque;
  /* cooperative (the group's default): only what moves is assigned or revoked */
  int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  rd_kafka_error_t *error = NULL;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    BLOG_I(CMD, source->topic, "%d partition(s) assigned: this bridge runs the PBX's commands", partitions->cnt);
    if (cooperative)
      error = rd_kafka_incremental_assign(rk, partitions);
    else
      rd_kafka_assign(rk, partitions);
    if (error)
      rd_kafka_error_destroy(error);
    if (source->paused)
      rd_kafka_pause_partitions(rk, partitions);
    if (partitions->cnt > 0 && source->exec)
      cmd_exec_own(source->exec, 0);
    return;
  }
  BLOG_I(CMD, source->topic, "%d partition(s) revoked", partitions->cnt);
  if (source->exec)
    cmd_exec_disown(source->exec); /* lets go of every token */
  for (cmd_part_t *p = source->parts; p; p = p->next) {
    p->revoked = 1;
    cmd_part_free_messages(p);
  }
  if (cooperative)
    error = rd_kafka_incremental_unassign(rk, partitions);
  else
    rd_kafka_assign(rk, NULL);
  if (error)
    rd_kafka_error_destroy(error);
}

/* One message of the command topic to the executor. */
static void cmd_source_message(cmd_source_t *source, const rd_kafka_message_t *m) {
  cmd_part_t *part = cmd_source_part(source, m->partition);
  if (!part || !source->exec)
    return;
  if (!cmd_offsets_fresh(&part->offsets, m->offset)) /* read again after a pause: already ours */
    return;
  cmd_msg_t *msg = calloc(1, sizeof(*msg));
  if (!msg) {
    BLOG_E(CMD, NULL, "out of memory: command left uncommitted");
    return;
  }
  msg->part = part;
  cmd_offsets_push(&part->offsets, &msg->entry, m->offset);
  cmd_exec_input_t in = {source->topic, m->partition, m->offset, m->key, m->key_len, m->payload, m->payload ? m->len : 0};
  cmd_exec_submit(source->exec, &in, msg);
}

int cmd_source_poll(cmd_source_t *source, char *errstr, size_t errstr_size) {
  char buf[64];
  while (read(source->pipe_fds[0], buf, sizeof(buf)) > 0) {
  }
  rd_kafka_poll(source->producer, 0);
  int more = 0;
  for (int n = 0; n < CMD_SOURCE_POLL_MAX; n++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(source->consumer, 0);
    if (!m)
      break;
    if (n == CMD_SOURCE_POLL_MAX - 1)
      more = 1;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        BLOG_W(CMD, source->topic, "consumer: %s", rd_kafka_message_errstr(m));
    } else if (!source->stopping) {
      cmd_source_message(source, m);
    }
    rd_kafka_message_destroy(m);
  }
  cmd_source_reap(source);
  char fatal[512];
  if (rd_kafka_fatal_error(source->producer, fatal, sizeof(fatal)) ||
      rd_kafka_fatal_error(source->consumer, fatal, sizeof(fatal))) {
    snprintf(errstr, errstr_size, "command source: fatal Kafka error: %s", fatal);
    return -1;
  }
  return more;
}

int cmd_source_fd(const cmd_source_t *source) { return source->pipe_fds[0]; }

void cmd_source_tick(cmd_source_t *source, int64_t now_ms) {
  int64_t mono = bclock_mono_ms();
  (void)now_ms;
  if (source->exec && !source->stopping)
    cmd_source_pause(source, cmd_exec_blocked(source->exec));
  cmd_out_t *retry = source->retry;
  source->retry = NULL;
  for (cmd_out_t *out = retry, *next; out; out = next) {
    next = out->next;
    if (out->retry_mono < 0 || source->stopping) {
      cmd_out_done(out, 0);
    } else if (mono < out->retry_mono) {
      out->next = source->retry;
      source->retry = out;
    } else {
      cmd_out_produce(source, out);
    }
  }
  cmd_source_reap(source);
  for (cmd_part_t **pp = &source->parts; *pp;) { /* partitions revoked and empty */
    cmd_part_t *p = *pp;
    if (p->revoked && cmd_offsets_empty(&p->offsets)) {
      *pp = p->next;
      free(p);
    } else {
      pp = &p->next;
    }
  }
}

/* ---- life ---- */

/* A client of the factory: the results producer, or the command consumer of the group. */
static rd_kafka_t *cmd_source_client(cmd_source_t *source, kafka_env_t *env, kafka_client_role_t role,
                                     char *errstr, size_t errstr_size) {
  char name[200];
  /* an idle fetch's longest wait: docs/commands.md */
  static const char *const consumer_forced[] = {"fetch.wait.max.ms", "10", "enable.partition.eof", "false", NULL};
  static const char *const producer_forced[] = {"linger.ms", "1", NULL};
  snprintf(name, sizeof(name), "%s-%s", role == KAFKA_CLIENT_GROUP ? "commands" : "results",
           source->config->pbx_id);
  kafka_client_spec_t spec = {.role = role,
                              .name = name,
                              .group_id = role == KAFKA_CLIENT_GROUP ? source->group : NULL,
                              .opaque = source,
                              .forced = role == KAFKA_CLIENT_GROUP ? consumer_forced : producer_forced};
  if (role == KAFKA_CLIENT_GROUP)
    spec.rebalance_cb = cmd_source_rebalance;
  else
    spec.dr_msg_cb = cmd_source_dr;
  return kafka_client_new(env, &spec, errstr, errstr_size);
}

int cmd_source_new(const config_t *config, kafka_env_t *env, const topics_t *topics, cmd_source_t **out,
                   char *errstr, size_t errstr_size) {
  *out = NULL;
  if (!config->commands)
    return 0;
  if (!config->redis_url[0]) {
    BLOG_W(CMD, NULL, "commands=true but no redis_url: commands are off (no command runs without its claim)");
    return 0;
  }
  cmd_source_t *source = calloc(1, sizeof(*source));
  if (!source) {
    snprintf(errstr, errstr_size, "command source: out of memory");
    return -1;
  }
  source->pipe_fds[0] = source->pipe_fds[1] = -1;
  source->config = config;
  snprintf(source->topic, sizeof(source->topic), "%s", topics->name[TOPIC_COMMANDS]);
  snprintf(source->results_topic, sizeof(source->results_topic), "%s", topics->name[TOPIC_COMMAND_RESULTS]);
  if (config->commands_group[0])
    snprintf(source->group, sizeof(source->group), "%s", config->commands_group);
  else
    snprintf(source->group, sizeof(source->group), "mtcti3-bridge-%s", config->pbx_id);
  if (pipe(source->pipe_fds) != 0) {
    snprintf(errstr, errstr_size, "command source: pipe: %s", strerror(errno));
    goto fail;
  }
  fcntl(source->pipe_fds[0], F_SETFL, O_NONBLOCK);
  fcntl(source->pipe_fds[1], F_SETFL, O_NONBLOCK);
  source->producer = cmd_source_client(source, env, KAFKA_CLIENT_RESULTS, errstr, errstr_size);
  if (!source->producer)
    goto fail;
  source->consumer = cmd_source_client(source, env, KAFKA_CLIENT_GROUP, errstr, errstr_size);
  if (!source->consumer)
    goto fail;
  rd_kafka_poll_set_consumer(source->consumer);
  source->consumer_q = rd_kafka_queue_get_consumer(source->consumer);
  source->producer_q = rd_kafka_queue_get_main(source->producer);
  rd_kafka_set_log_queue(source->producer, source->producer_q);
  rd_kafka_set_log_queue(source->consumer, source->consumer_q);
  rd_kafka_queue_io_event_enable(source->consumer_q, source->pipe_fds[1], "1", 1);
  rd_kafka_queue_io_event_enable(source->producer_q, source->pipe_fds[1], "1", 1);
  *out = source;
  return 0;
fail:
  cmd_source_destroy(source);
  return -1;
}

void cmd_source_attach(cmd_source_t *source, cmd_exec_t *exec) { source->exec = exec; }

const char *cmd_source_results_topic(const cmd_source_t *source) { return source->results_topic; }

int cmd_source_subscribe(cmd_source_t *source, char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, source->topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(source->consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    snprintf(errstr, errstr_size, "subscribe to %s: %s", source->topic, rd_kafka_err2str(err));
    return -1;
  }
  BLOG_I(CMD, source->topic, "consuming commands (group %s)", source->group);
  return 0;
}

void cmd_source_stopping(cmd_source_t *source) {
  if (source)
    source->stopping = 1;
}

void cmd_source_stop(cmd_source_t *source, int timeout_ms) {
  if (!source)
    return;
  source->stopping = 1;
  char errstr[256];
  int64_t deadline = bclock_mono_ms() + timeout_ms;
  while (source->outstanding > 0 && bclock_mono_ms() < deadline) {
    rd_kafka_flush(source->producer, 100);
    cmd_source_poll(source, errstr, sizeof(errstr));
  }
  cmd_source_reap(source);
  if (source->consumer)
    rd_kafka_consumer_close(source->consumer);
}

void cmd_source_destroy(cmd_source_t *source) {
  if (!source)
    return;
  source->destroying = 1;
  if (source->consumer_q)
    rd_kafka_queue_destroy(source->consumer_q);
  if (source->producer_q)
    rd_kafka_queue_destroy(source->producer_q);
  if (source->consumer)
    kafka_client_destroy(source->consumer);
  if (source->producer) {
    rd_kafka_purge(source->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(source->producer, 0); /* the purged results are reported: delivered 0 */
    kafka_client_destroy(source->producer);
  }
  for (cmd_out_t *out = source->retry, *next; out; out = next) {
    next = out->next;
    cmd_out_done(out, 0);
  }
  for (cmd_part_t *p = source->parts, *next; p; p = next) {
    next = p->next;
    cmd_part_free_messages(p);
    free(p);
  }
  if (source->pipe_fds[0] >= 0)
    close(source->pipe_fds[0]);
  if (source->pipe_fds[1] >= 0)
    close(source->pipe_fds[1]);
  free(source);
}
