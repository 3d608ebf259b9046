/*
 * cmd_source: commands from Kafka to the PBX and their results back.  See cmd_source.h.
 */
#include "cmd_source.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "blog.h"
#include "cmd_build.h"
#include "cmd_offsets.h"
#include "cmd_parse.h"
#include "cmd_policy.h"
#include "cmd_result.h"
#include "cmd_store.h"
#include "codec_frame.h"
#include "codec_json.h"
#include "codec_tables.h"
#include "bclock.h"
#include "kafka_client.h"
#include "topics.h"
#include "metrics.h"
#include "snap.h"
#include "strmap.h"
#include "subs.h"

#define CMD_SOURCE_POLL_MAX 500      /* messages served per poll call */
#define CMD_SOURCE_EXPIRED_MAX 64    /* deadlines handled per scan */
#define CMD_SOURCE_SCAN_MS 200       /* deadline scan period */
#define CMD_SOURCE_PING_MS 1000      /* Redis ping period while paused */

typedef enum cmd_job_state {
  CMD_JOB_HELD,      /* read, not claimed yet (Redis unreachable) */
  CMD_JOB_WAITING,   /* claimed; waits for the PBX (link down, resync, subscription) */
  CMD_JOB_SENT,      /* accepted and sent; waits for its answer or deadline */
  CMD_JOB_EMITTING,  /* snapshot: its events re-emitted, waiting for Kafka to confirm them all */
  CMD_JOB_FINISHING, /* outcome decided; its Redis record failed, retried */
  CMD_JOB_RECORDED,  /* outcome recorded; Kafka refused the result for now, retried */
  CMD_JOB_PRODUCING, /* outcome recorded; result handed to Kafka */
  CMD_JOB_DONE       /* result confirmed: its offset may be committed */
} cmd_job_state_t;

typedef struct cmd_part cmd_part_t;

/* One message of the command topic, from its read to its committed offset. */
typedef struct cmd_job {
  cmd_offsets_entry_t entry; /* first: in its partition's tracker, offset order (entry.offset) */
  cmd_part_t *part;          /* NULL: not from the topic (a deadline of an earlier run) */
  cmd_job_state_t state;
  char *raw;                 /* the message value, kept until parsed and claimed */
  size_t raw_len;
  char *msg_key;             /* the Kafka key, for a result without a usable id */
  cmd_t *cmd;                /* NULL when refused */
  cmd_refusal_t refusal;
  char id[CMD_ID_MAX + 1];   /* "" when the message has no usable id */
  char action[64];
  char reply_to[CMD_TOPIC_MAX + 1];
  int indexed;               /* in by_id */
  int64_t received_ms, deadline_ms; /* wall clock */
  int64_t sent_mono_ms;
  int32_t requestid;         /* 0: not sent */
  int32_t referencecallid;   /* make_call, unpark */
  size_t snapshot_events;    /* snapshot: how many were re-emitted */
  /* the outcome, once decided */
  cmd_result_t result;
  char reason[300];
  json_t *data;
  char *result_text;         /* what goes to Kafka */
} cmd_job_t;

/* A partition of the command topic: its jobs in offset order. */
struct cmd_part {
  struct cmd_part *next;
  int32_t partition;
  int revoked;           /* no longer ours: its jobs finish, nothing is committed */
  cmd_offsets_t offsets; /* its jobs (their entries), and what may be committed */
};

/* The job of a tracker entry (its first member). */
static cmd_job_t *cmd_job_of(cmd_offsets_entry_t *entry) { return (cmd_job_t *)entry; }

struct cmd_source {
  const config_t *config;
  ingest_t *ingest;
  pbx_link_t *link;
  cmd_parse_config_t parse_conf;
  cmd_policy_t *policy;
  cmd_store_t *store;
  rd_kafka_t *consumer, *producer;
  rd_kafka_queue_t *consumer_q, *producer_q;
  int pipe_fds[2];
  char topic[256], results_topic[256];
  char group[256]; /* commands_group, or mtcti3-bridge-<pbx_id> */
  cmd_part_t *parts;
  strmap_t by_id;        /* id -> live job (not done) */
  strmap_t by_requestid; /* "<requestid>" -> sent job */
  size_t live;           /* jobs not done */
  int redis_down, paused;
  int64_t next_ping_mono, next_scan_mono;
  int stopping;   /* exit: no new command is read */
  int destroying; /* delivery reports only free */
};

static void cmd_source_finish(cmd_source_t *source, cmd_job_t *job);
static void cmd_source_advance(cmd_source_t *source, cmd_job_t *job);

/* ---- jobs ---- */

static void cmd_job_free(cmd_job_t *job) {
  if (!job)
    return;
  free(job->raw);
  free(job->msg_key);
  cmd_free(job->cmd);
  json_decref(job->data);
  free(job->result_text);
  free(job);
}

static void cmd_job_unindex(cmd_source_t *source, cmd_job_t *job) {
  if (job->indexed && strmap_get(&source->by_id, job->id) == job)
    strmap_del(&source->by_id, job->id);
  job->indexed = 0;
  if (job->requestid) {
    char k[16];
    snprintf(k, sizeof(k), "%d", job->requestid);
    if (strmap_get(&source->by_requestid, k) == job)
      strmap_del(&source->by_requestid, k);
  }
}

/* ---- Redis up and down: pause and resume the topic ---- */

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
}

static void cmd_source_redis_failed(cmd_source_t *source, const char *what, const char *errstr) {
  metrics_add(METRICS_REDIS_ERRORS, 1);
  if (!source->redis_down)
    BLOG_W(CMD, "redis", "%s: %s; command topic paused until Redis answers", what, errstr);
  source->redis_down = 1;
  source->next_ping_mono = bclock_mono_ms() + CMD_SOURCE_PING_MS;
  cmd_source_pause(source, 1);
}

/* ---- results ---- */

static void cmd_source_produce(cmd_source_t *source, cmd_job_t *job) {
  const char *topic = job->reply_to[0] ? job->reply_to : source->results_topic;
  const char *key = job->id[0] ? job->id : job->msg_key;
  rd_kafka_resp_err_t err = rd_kafka_producev(
      source->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
      RD_KAFKA_V_VALUE(job->result_text, strlen(job->result_text)),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(job), RD_KAFKA_V_END);
  job->state = CMD_JOB_PRODUCING;
  if (err) { /* queue full or a bad topic: tried again by the tick */
    BLOG_W(CMD, job->id, "result not produced to %s: %s; trying again", topic, rd_kafka_err2str(err));
    job->state = CMD_JOB_RECORDED;
  }
}

/* The result is in Kafka: the job is done. */
static void cmd_source_dr(rd_kafka_t *rk, const rd_kafka_message_t *rkmessage, void *opaque) {
  cmd_source_t *source = opaque;
  cmd_job_t *job = rkmessage->_private;
  (void)rk;
  if (!job || source->destroying)
    return;
  if (rkmessage->err) {
    BLOG_W(CMD, job->id, "result delivery failed: %s; producing it again", rd_kafka_err2str(rkmessage->err));
    if (!source->stopping)
      cmd_source_produce(source, job);
    return;
  }
  cmd_source_advance(source, job);
}

/*
 * Decide the job's outcome: record it in Redis (finish-once), publish it,
 * then produce it.  A duplicate's JSON is given ready-made in `text`.
 */
static void cmd_source_outcome(cmd_source_t *source, cmd_job_t *job, cmd_status_t status, int has_code,
                               int code, cmd_reason_t reason_code, const char *reason, json_t *data /* stolen */) {
  cmd_job_unindex(source, job);
  cmd_result_init(&job->result, job->id[0] ? job->id : NULL, status);
  job->result.has_code = has_code;
  job->result.code = code;
  job->result.reason_code = reason_code;
  snprintf(job->reason, sizeof(job->reason), "%s", reason ? reason : "");
  job->result.reason = reason ? job->reason : NULL;
  job->result.requestid = job->requestid;
  job->result.action = job->action[0] ? job->action : NULL;
  int64_t now = bclock_wall_ms();
  job->result.latency_ms = job->received_ms ? now - job->received_ms : -1;
  json_decref(job->data);
  job->data = data;
  job->result.data = data;
  free(job->result_text);
  job->result_text = cmd_result_json_text(&job->result);
  double rt = (status == CMD_STATUS_SUCCEEDED || status == CMD_STATUS_FAILED || status == CMD_STATUS_TIMEOUT) &&
                      job->result.latency_ms >= 0
                  ? (double)job->result.latency_ms
                  : -1;
  metrics_command_done((int)status, cmd_status_name(status), rt);
  if (status == CMD_STATUS_REJECTED)
    BLOG_I(CMD, job->id[0] ? job->id : "-", "rejected: %s", reason ? reason : "");
  else
    BLOG_D(CMD, job->id[0] ? job->id : "-", "%s %s%s%s", job->action, cmd_status_name(status),
           has_code ? " " : "", has_code ? codec_result_name(code) : "");
  job->state = CMD_JOB_FINISHING;
  cmd_source_finish(source, job);
}

/* Record the decided outcome (retried while Redis fails), then produce it. */
static void cmd_source_finish(cmd_source_t *source, cmd_job_t *job) {
  char errstr[256];
  if (!job->result_text) {
    BLOG_E(CMD, job->id, "out of memory: result lost");
    cmd_source_advance(source, job);
    return;
  }
  if (job->id[0] && job->result.status != CMD_STATUS_DUPLICATE) {
    int rc = cmd_store_finish(source->store, &job->result, job->result_text, bclock_wall_ms(), errstr,
                              sizeof(errstr));
    if (rc < 0) {
      cmd_source_redis_failed(source, "recording an outcome", errstr);
      return; /* FINISHING: the tick tries again */
    }
    if (rc == 0) { /* already final (its deadline won): that outcome was announced */
      BLOG_D(CMD, job->id, "outcome already recorded; %s not announced", cmd_status_name(job->result.status));
      cmd_source_advance(source, job);
      return;
    }
  } else if (job->id[0]) {
    if (cmd_store_publish(source->store, job->id, job->result_text, errstr, sizeof(errstr)) < 0) {
      cmd_source_redis_failed(source, "publishing a duplicate", errstr);
      return;
    }
  }
  cmd_source_produce(source, job);
}

static void cmd_source_reject(cmd_source_t *source, cmd_job_t *job, cmd_reason_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cmd_source_reject(cmd_source_t *source, cmd_job_t *job, cmd_reason_t code, const char *fmt, ...) {
  char text[256], reason[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  snprintf(reason, sizeof(reason), "%s: %s", cmd_reason_name(code), text);
  cmd_source_outcome(source, job, CMD_STATUS_REJECTED, 0, 0, code, reason, NULL);
}

/* ---- offsets: commit what is done, contiguously per partition ---- */

/* The job is done (outcome recorded, result confirmed): count it; cmd_source_reap commits. */
static void cmd_source_advance(cmd_source_t *source, cmd_job_t *job) {
  cmd_job_unindex(source, job);
  job->state = CMD_JOB_DONE;
  cmd_offsets_done(&job->entry);
  if (source->live)
    source->live--;
  metrics_set(METRICS_COMMANDS_INFLIGHT, (int64_t)source->live);
  if (!job->part)
    cmd_job_free(job); /* not from the topic: nothing to commit */
}

/*
 * Per partition, free the done jobs at the head and commit the offset after
 * the last of them: every command up to it has its outcome.  Runs at the
 * end of a poll and of a tick, never while a job is being handled.
 */
static void cmd_source_reap(cmd_source_t *source) {
  for (cmd_part_t *part = source->parts; part; part = part->next) {
    cmd_offsets_entry_t *done = NULL;
    int64_t commit = cmd_offsets_take(&part->offsets, &done);
    for (cmd_offsets_entry_t *next; done; done = next) {
      next = done->next;
      cmd_job_free(cmd_job_of(done));
    }
    if (commit < 0 || part->revoked || !source->consumer)
      continue;
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, source->topic, part->partition)->offset = commit;
    rd_kafka_resp_err_t err = rd_kafka_commit(source->consumer, offsets, 1);
    if (err)
      BLOG_W(CMD, source->topic, "commit of partition %d offset %lld: %s", part->partition,
             (long long)commit, rd_kafka_err2str(err));
    else
      BLOG_D(CMD, source->topic, "commit partition %d offset %lld", part->partition, (long long)commit);
    rd_kafka_topic_partition_list_destroy(offsets);
  }
}

/* ---- resolving and sending ---- */

static int cmd_source_pbx_ready(cmd_source_t *source) {
  return pbx_link_is_up(source->link) && subs_resynced(ingest_subs(source->ingest));
}

/* Which snapshot kinds the snapshot action's `topics` names (all when absent). */
static unsigned cmd_source_snapshot_mask(const cmd_t *cmd) {
  const json_t *topics = json_object_get(cmd_args(cmd), "topics");
  if (!json_is_array(topics))
    return (1u << SNAP__KIND_COUNT) - 1;
  unsigned mask = 0;
  size_t i;
  const json_t *t;
  json_array_foreach(topics, i, t) {
    for (int k = 0; k < SNAP__KIND_COUNT; k++)
      if (json_is_string(t) && strcmp(json_string_value(t), snap_kind_topic((snap_kind_t)k)) == 0)
        mask |= 1u << k;
  }
  return mask;
}

/*
 * Try to run a claimed job: policy, target, call, features, then the request.
 * Leaves it WAITING when the PBX is not ready (or Redis failed).
 */
static void cmd_source_dispatch(cmd_source_t *source, cmd_job_t *job) {
  const cmd_t *cmd = job->cmd;
  const cmd_action_t *action = cmd_action(cmd);
  const snap_t *snap = ingest_snap(source->ingest);
  char reason[256], errstr[256];
  snap_line_t line = {SNAP_LINE_USER, NULL, NULL};
  int found = 0;
  cmd_target_kind_t tk = cmd_target_kind(cmd);

  if (tk != CMD_TARGET_NONE)
    found = snap_line_find(snap, tk == CMD_TARGET_USER ? SNAP_LINE_USER : SNAP_LINE_QUEUE, cmd_target(cmd), &line);
  if (!cmd_policy_check(source->policy, cmd, found ? line.extn : NULL, reason, sizeof(reason))) {
    cmd_source_outcome(source, job, CMD_STATUS_REJECTED, 0, 0, CMD_REASON_DENIED, reason, NULL);
    return;
  }
  if (action->scope == CMD_SCOPE_BRIDGE) { /* snapshot: the bridge does it */
    if (tk != CMD_TARGET_NONE && !found) {
      cmd_source_reject(source, job, CMD_REASON_NO_TARGET, "no %s \"%s\" on this PBX",
                        tk == CMD_TARGET_USER ? "user" : "queue", cmd_target(cmd));
      return;
    }
    /* succeeded once Kafka confirms every event: cmd_source_snapshot_done (maybe at once) */
    job->state = CMD_JOB_EMITTING;
    job->snapshot_events = ingest_snapshot(source->ingest, cmd_source_snapshot_mask(cmd),
                                           found ? line.guid : NULL, job->id);
    return;
  }
  if (!cmd_source_pbx_ready(source))
    return; /* waits: the tick tries again until the deadline */

  cmd_build_ctx_t ctx = {0, 0, 0};
  if (tk != CMD_TARGET_NONE) {
    if (!found) {
      cmd_source_reject(source, job, CMD_REASON_NO_TARGET, "no %s \"%s\" on this PBX",
                        tk == CMD_TARGET_USER ? "user" : "queue", cmd_target(cmd));
      return;
    }
    ctx.subscribe_id = subs_line_subscription(ingest_subs(source->ingest), line.guid, NULL);
    if (!ctx.subscribe_id)
      return; /* its subscription is not active yet: wait */
  }
  uint32_t cf = 0, cf2 = 0, uf = 0;
  if (action->scope == CMD_SCOPE_CALL) {
    int32_t value = 0;
    cmd_call_kind_t ck = cmd_call(cmd, &value);
    if (!snap_call_find_on_line(snap, line.guid, ck == CMD_CALL_REFERENCECALLID, value, &ctx.callid, &cf, &cf2)) {
      cmd_source_reject(source, job, CMD_REASON_NO_CALL, "no call with %s %d on %s %s",
                        ck == CMD_CALL_REFERENCECALLID ? "referencecallid" : "callid", value,
                        tk == CMD_TARGET_QUEUE ? "queue" : "user", line.extn);
      return;
    }
  }
  if (tk == CMD_TARGET_USER)
    (void)snap_user_features(snap, line.guid, &uf);
  if (!cmd_action_available(action, cf, cf2, uf, reason, sizeof(reason))) {
    cmd_source_reject(source, job, CMD_REASON_UNAVAILABLE, "%s", reason);
    return;
  }

  if (cmd_store_next_requestid(source->store, &ctx.requestid, errstr, sizeof(errstr)) < 0) {
    cmd_source_redis_failed(source, "drawing a requestid", errstr);
    return;
  }
  int64_t now = bclock_wall_ms();
  if (cmd_store_accepted(source->store, job->id, ctx.requestid, now, job->deadline_ms, errstr, sizeof(errstr)) < 0) {
    cmd_source_redis_failed(source, "recording accepted", errstr);
    return;
  }
  Message *msg = NULL;
  if (cmd_build(cmd, &ctx, &msg, errstr, sizeof(errstr)) != 0) {
    job->requestid = ctx.requestid;
    cmd_source_reject(source, job, CMD_REASON_INTERNAL, "%s", errstr);
    return;
  }
  job->referencecallid = cmd_build_referencecallid(cmd, &ctx);
  int sent = pbx_link_send(source->link, msg, errstr, sizeof(errstr));
  codec_message_free(msg);
  if (sent != 0) {
    BLOG_D(CMD, job->id, "not sent (%s): waits", errstr);
    return; /* accepted in Redis, but not sent: a later try draws a new requestid */
  }
  job->requestid = ctx.requestid;
  job->sent_mono_ms = bclock_mono_ms();
  job->state = CMD_JOB_SENT;
  char k[16];
  snprintf(k, sizeof(k), "%d", job->requestid);
  strmap_put(&source->by_requestid, k, job);
  if (blog_enabled(BLOG_CTX_CMD, BLOG_DEBUG)) {
    char *text = cmd_to_text_redacted(cmd);
    BLOG_D(CMD, job->id, "sent requestid=%d subscribe_id=%d callid=%d: %s", ctx.requestid, ctx.subscribe_id,
           ctx.callid, text ? text : "");
    free(text);
  }
}

/* A make_call or unpark's referencecallid, merged into the result's data. */
static json_t *cmd_source_data(const cmd_job_t *job, json_t *data /* stolen, may be NULL */) {
  if (!job->referencecallid)
    return data;
  if (!data)
    data = json_object();
  json_object_set_new(data, "referencecallid", json_integer(job->referencecallid));
  return data;
}

/*
 * The ingest stage's callback: the snapshot `tag` (a job id) has every
 * re-emitted event settled by Kafka.  A job that timed out meanwhile is gone
 * from by_id: nothing to do.
 */
static void cmd_source_snapshot_done(void *opaque, const char *tag, size_t events, size_t failed) {
  cmd_source_t *source = opaque;
  cmd_job_t *job = strmap_get(&source->by_id, tag);
  if (!job || job->state != CMD_JOB_EMITTING) {
    BLOG_D(CMD, tag, "snapshot settled (%zu events) after its outcome: ignored", events);
    return;
  }
  if (failed) {
    cmd_source_reject(source, job, CMD_REASON_INTERNAL, "%zu of the %zu re-emitted events not confirmed by Kafka",
                      failed, events);
    return;
  }
  cmd_source_outcome(source, job, CMD_STATUS_SUCCEEDED, 0, 0, CMD_REASON_NONE, NULL,
                     json_pack("{s:I}", "events", (json_int_t)events));
}

/* ---- answers to our requests (routed here by the ingest stage) ---- */

static cmd_job_t *cmd_source_by_requestid(cmd_source_t *source, int32_t requestid) {
  char k[16];
  snprintf(k, sizeof(k), "%d", requestid);
  return strmap_get(&source->by_requestid, k);
}

/* An answer for a requestid this run did not send: record it by the Redis mapping. */
static void cmd_source_orphan_answer(cmd_source_t *source, int32_t requestid, cmd_status_t status, int code) {
  char id[CMD_ID_MAX + 1], errstr[256];
  int rc = cmd_store_request_id(source->store, requestid, id, sizeof(id), errstr, sizeof(errstr));
  if (rc <= 0) {
    BLOG_D(CMD, NULL, "answer to unknown requestid=%d ignored", requestid);
    return;
  }
  cmd_job_t *job = calloc(1, sizeof(*job));
  if (!job)
    return;
  snprintf(job->id, sizeof(job->id), "%s", id);
  job->requestid = requestid;
  source->live++;
  cmd_source_outcome(source, job, status, 1, code, CMD_REASON_NONE, NULL, NULL);
}

static void cmd_source_on_response(cmd_source_t *source, const RequestResponse *response) {
  cmd_job_t *job = cmd_source_by_requestid(source, response->requestid);
  cmd_status_t status = response->result == 0 ? CMD_STATUS_SUCCEEDED : CMD_STATUS_FAILED;
  if (!job || job->state != CMD_JOB_SENT) {
    cmd_source_orphan_answer(source, response->requestid, status, response->result);
    return;
  }
  const char *add = response->additional && *response->additional ? response->additional : NULL;
  cmd_source_outcome(source, job, status, 1, response->result, CMD_REASON_NONE, add, cmd_source_data(job, NULL));
}

static void cmd_source_on_generaldata(cmd_source_t *source, const GeneralData *gd) {
  cmd_job_t *job = cmd_source_by_requestid(source, gd->responseid);
  int code = 0;
  json_t *data = NULL;
  if (gd->payload_case == GENERAL_DATA__PAYLOAD_VERSIONINFO) {
    data = json_pack("{s:s}", "versioninfo", gd->versioninfo ? gd->versioninfo : "");
  } else if (gd->payload_case == GENERAL_DATA__PAYLOAD_GETFILE && gd->getfile) {
    code = gd->getfile->result;
    data = json_pack("{s:o}", "getfile", codec_json_from_pb(&gd->getfile->base));
  }
  if (!job || job->state != CMD_JOB_SENT) {
    json_decref(data);
    cmd_source_orphan_answer(source, gd->responseid, code == 0 ? CMD_STATUS_SUCCEEDED : CMD_STATUS_FAILED, code);
    return;
  }
  cmd_source_outcome(source, job, code == 0 ? CMD_STATUS_SUCCEEDED : CMD_STATUS_FAILED, 1, code, CMD_REASON_NONE,
                     NULL, data);
}

/* The ingest stage's callback for messages that are not the subscriptions'. */
static void cmd_source_on_message(void *opaque, const Message *msg) {
  if (msg->payload_case == MESSAGE__PAYLOAD_RESPONSE) {
    if (msg->response->requestid >= PBX_LINK_REQUESTID_LIMIT)
      cmd_source_on_response(opaque, msg->response);
    else if (msg->response->result != 0)
      BLOG_W(PBX, NULL, "requestid=%d: %s (%d)", msg->response->requestid,
             codec_result_name(msg->response->result), msg->response->result);
  } else if (msg->payload_case == MESSAGE__PAYLOAD_GENERALDATA &&
             msg->generaldata->responseid >= PBX_LINK_REQUESTID_LIMIT) {
    cmd_source_on_generaldata(opaque, msg->generaldata);
  }
}

/* ---- claiming ---- */

/*
 * A job's id was seen before.  In flight in this run: a duplicate echoing
 * its current record.  Left by an earlier run (the message is read again
 * because its offset was never committed): never sent ("received") runs now,
 * sent ("accepted") waits for its deadline; final: a duplicate.
 */
static void cmd_source_seen(cmd_source_t *source, cmd_job_t *job, json_t *stored) {
  const char *status = json_string_value(json_object_get(stored, "status"));
  cmd_job_t *live = strmap_get(&source->by_id, job->id);
  if (job->cmd && !live && status && (strcmp(status, "received") == 0 || strcmp(status, "accepted") == 0)) {
    const char *dl = json_string_value(json_object_get(stored, "deadline_ms"));
    const char *rcv = json_string_value(json_object_get(stored, "received_ms"));
    if (dl)
      job->deadline_ms = strtoll(dl, NULL, 10);
    if (rcv)
      job->received_ms = strtoll(rcv, NULL, 10);
    job->indexed = strmap_put(&source->by_id, job->id, job) == 0;
    if (strcmp(status, "received") == 0) {
      BLOG_I(CMD, job->id, "claimed before but never sent (a restart): running it now");
      job->state = CMD_JOB_WAITING;
      cmd_source_dispatch(source, job);
    } else {
      const char *rid = json_string_value(json_object_get(stored, "requestid"));
      BLOG_I(CMD, job->id, "sent before a restart: its answer is lost; waiting for its deadline");
      job->requestid = rid ? (int32_t)strtol(rid, NULL, 10) : 0;
      job->state = CMD_JOB_SENT; /* no answer can come on this connection: the deadline decides */
    }
    return;
  }
  json_t *dup = cmd_store_duplicate_json(job->id, stored);
  char *text = dup ? json_dumps(dup, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(dup);
  cmd_result_init(&job->result, job->id, CMD_STATUS_DUPLICATE);
  free(job->result_text);
  job->result_text = text;
  metrics_command_done(CMD_STATUS_DUPLICATE, "duplicate", -1);
  BLOG_I(CMD, job->id, "duplicate (first outcome: %s): not executed again", status ? status : "unknown");
  job->state = CMD_JOB_FINISHING;
  cmd_source_finish(source, job);
}

/* Claim a parsed job; it stays HELD when Redis fails. */
static void cmd_source_claim(cmd_source_t *source, cmd_job_t *job) {
  char errstr[256];
  json_t *stored = NULL;
  if (!job->id[0]) { /* nothing to claim or record: only the result */
    job->state = CMD_JOB_FINISHING;
    cmd_source_outcome(source, job, CMD_STATUS_REJECTED, 0, 0, job->refusal.code, job->refusal.reason, NULL);
    return;
  }
  int rc = cmd_store_claim(source->store, job->id, job->action[0] ? job->action : NULL, job->received_ms,
                           job->deadline_ms, &stored, errstr, sizeof(errstr));
  if (rc < 0) {
    cmd_source_redis_failed(source, "claiming a command", errstr);
    return;
  }
  free(job->raw);
  job->raw = NULL;
  if (rc == 0) {
    cmd_source_seen(source, job, stored);
    json_decref(stored);
    return;
  }
  if (!job->cmd) {
    cmd_source_outcome(source, job, CMD_STATUS_REJECTED, 0, 0, job->refusal.code, job->refusal.reason, NULL);
    return;
  }
  job->indexed = strmap_get(&source->by_id, job->id) == NULL && strmap_put(&source->by_id, job->id, job) == 0;
  job->state = CMD_JOB_WAITING;
  cmd_source_dispatch(source, job);
}

/* ---- the consumer ---- */

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

/* One message of the command topic becomes a job. */
static void cmd_source_message(cmd_source_t *source, const rd_kafka_message_t *m) {
  cmd_part_t *part = cmd_source_part(source, m->partition);
  if (!part)
    return;
  if (!cmd_offsets_fresh(&part->offsets, m->offset)) /* read again after a pause: already ours */
    return;
  cmd_job_t *job = calloc(1, sizeof(*job));
  if (!job) {
    BLOG_E(CMD, NULL, "out of memory: command left uncommitted");
    return;
  }
  metrics_add(METRICS_COMMANDS_RECEIVED, 1);
  job->part = part;
  cmd_offsets_push(&part->offsets, &job->entry, m->offset);
  job->received_ms = bclock_wall_ms();
  if (m->key_len) {
    job->msg_key = malloc(m->key_len + 1);
    if (job->msg_key) {
      memcpy(job->msg_key, m->key, m->key_len);
      job->msg_key[m->key_len] = '\0';
    }
  }
  source->live++;
  metrics_set(METRICS_COMMANDS_INFLIGHT, (int64_t)source->live);

  if (cmd_parse(&source->parse_conf, m->payload ? m->payload : "", m->payload ? m->len : 0, &job->cmd,
                &job->refusal) == 0) {
    snprintf(job->id, sizeof(job->id), "%s", cmd_id(job->cmd));
    snprintf(job->action, sizeof(job->action), "%s", cmd_action(job->cmd)->name);
    snprintf(job->reply_to, sizeof(job->reply_to), "%s", cmd_reply_to(job->cmd) ? cmd_reply_to(job->cmd) : "");
    job->deadline_ms = job->received_ms + cmd_timeout_ms(job->cmd);
    if (blog_enabled(BLOG_CTX_CMD, BLOG_DEBUG)) {
      char *text = cmd_to_text_redacted(job->cmd);
      BLOG_D(CMD, job->id, "received partition %d offset %lld: %s", m->partition, (long long)m->offset,
             text ? text : "");
      free(text);
    }
  } else {
    snprintf(job->id, sizeof(job->id), "%s", job->refusal.id);
    snprintf(job->action, sizeof(job->action), "%s", job->refusal.action);
    snprintf(job->reply_to, sizeof(job->reply_to), "%s", job->refusal.reply_to);
    job->deadline_ms = job->received_ms + source->parse_conf.default_timeout_ms;
  }
  job->state = CMD_JOB_HELD;
  if (source->redis_down)
    return; /* claimed once Redis answers */
  cmd_source_claim(source, job);
}

static void cmd_source_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                 rd_kafka_topic_partition_list_t *partitions, void *opaque) {
  cmd_source_t *source = opaque;
  /* cooperative (the group's default): only what moves is assigned or revoked */
  int cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    BLOG_I(CMD, source->topic, "%d partition(s) assigned", partitions->cnt);
    if (cooperative) {
      rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, partitions);
      if (error)
        rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, partitions);
    }
    if (source->paused)
      rd_kafka_pause_partitions(rk, partitions);
  } else {
    BLOG_I(CMD, source->topic, "%d partition(s) revoked", partitions->cnt);
    for (int i = 0; i < partitions->cnt; i++)
      for (cmd_part_t *p = source->parts; p; p = p->next)
        if (p->partition == partitions->elems[i].partition)
          p->revoked = 1;
    if (cooperative) {
      rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, partitions);
      if (error)
        rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, NULL);
    }
  }
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

/* ---- the tick ---- */

static void cmd_source_expired(cmd_source_t *source, int64_t now_ms) {
  cmd_store_expired_t expired[CMD_SOURCE_EXPIRED_MAX];
  size_t n = 0;
  char errstr[256];
  if (cmd_store_expired(source->store, now_ms, expired, CMD_SOURCE_EXPIRED_MAX, &n, errstr, sizeof(errstr)) < 0) {
    cmd_source_redis_failed(source, "scanning deadlines", errstr);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    cmd_job_t *job = strmap_get(&source->by_id, expired[i].id);
    char reason[128];
    if (job && (job->state == CMD_JOB_WAITING || job->state == CMD_JOB_SENT || job->state == CMD_JOB_EMITTING)) {
      snprintf(reason, sizeof(reason), "%s by the deadline (%lld ms)",
               job->state == CMD_JOB_SENT       ? "no answer from the PBX"
               : job->state == CMD_JOB_EMITTING ? "re-emitted events not all confirmed by Kafka"
                                                : "not sent: the PBX was not ready",
               (long long)(job->deadline_ms - job->received_ms));
      cmd_source_outcome(source, job, CMD_STATUS_TIMEOUT, 0, 0, CMD_REASON_NONE, reason, cmd_source_data(job, NULL));
      continue;
    }
    if (job)
      continue; /* being finished */
    /* claimed by an earlier run of the bridge, never completed */
    job = calloc(1, sizeof(*job));
    if (!job)
      return;
    snprintf(job->id, sizeof(job->id), "%.128s", expired[i].id);
    snprintf(job->action, sizeof(job->action), "%.63s", expired[i].action);
    job->requestid = expired[i].requestid;
    job->received_ms = expired[i].received_ms;
    job->deadline_ms = expired[i].deadline_ms;
    source->live++;
    cmd_source_outcome(source, job, CMD_STATUS_TIMEOUT, 0, 0, CMD_REASON_NONE,
                       job->requestid ? "no answer from the PBX by the deadline (the bridge restarted)"
                                      : "not sent by the deadline (the bridge restarted)",
                       NULL);
  }
}

void cmd_source_tick(cmd_source_t *source, int64_t now_ms) {
  int64_t mono = bclock_mono_ms();
  char errstr[256];
  if (source->redis_down) {
    if (mono < source->next_ping_mono)
      return;
    if (cmd_store_ping(source->store, errstr, sizeof(errstr)) != 0) {
      source->next_ping_mono = mono + CMD_SOURCE_PING_MS;
      return;
    }
    BLOG_I(CMD, "redis", "Redis answers again: resuming the command topic");
    source->redis_down = 0;
  }
  /* held, waiting and unrecorded jobs, in offset order per partition */
  for (cmd_part_t *p = source->parts; p && !source->redis_down; p = p->next) {
    for (cmd_offsets_entry_t *e = p->offsets.head, *next; e && !source->redis_down; e = next) {
      next = e->next; /* jobs of a partition are freed only by cmd_source_reap */
      cmd_job_t *job = cmd_job_of(e);
      if (job->state == CMD_JOB_HELD)
        cmd_source_claim(source, job);
      else if (job->state == CMD_JOB_WAITING)
        cmd_source_dispatch(source, job);
      else if (job->state == CMD_JOB_FINISHING)
        cmd_source_finish(source, job);
      else if (job->state == CMD_JOB_RECORDED)
        cmd_source_produce(source, job);
    }
  }
  if (!source->redis_down)
    cmd_source_pause(source, 0);
  if (!source->redis_down && mono >= source->next_scan_mono) {
    source->next_scan_mono = mono + CMD_SOURCE_SCAN_MS;
    cmd_source_expired(source, now_ms);
  }
  cmd_source_reap(source);
  /* free partitions that were revoked and have nothing left */
  for (cmd_part_t **pp = &source->parts; *pp;) {
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
  static const char *const producer_forced[] = {"linger.ms", "1", "message.timeout.ms", "0", NULL};
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

int cmd_source_new(const config_t *config, kafka_env_t *env, ingest_t *ingest, pbx_link_t *link,
                   cmd_source_t **out, char *errstr, size_t errstr_size) {
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
  source->ingest = ingest;
  source->link = link;
  snprintf(source->topic, sizeof(source->topic), "%s", ingest_topics(ingest)->name[TOPIC_COMMANDS]);
  snprintf(source->results_topic, sizeof(source->results_topic), "%s",
           ingest_topics(ingest)->name[TOPIC_COMMAND_RESULTS]);
  if (config->commands_group[0])
    snprintf(source->group, sizeof(source->group), "%s", config->commands_group);
  else
    snprintf(source->group, sizeof(source->group), "mtcti3-bridge-%s", config->pbx_id);

  cmd_parse_config_init(&source->parse_conf);
  source->parse_conf.pbx_id = config->pbx_id;
  source->parse_conf.max_bytes = (size_t)config->commands_max_bytes;
  source->parse_conf.default_timeout_ms = config->commands_default_timeout_ms;
  source->parse_conf.max_timeout_ms = config->commands_max_timeout_ms;
  if (cmd_policy_load(config->commands_policy_file, &source->policy, errstr, errstr_size) != 0)
    goto fail;

  cmd_store_config_t sconf;
  cmd_store_config_init(&sconf);
  sconf.url = config->redis_url;
  sconf.pbx_id = config->pbx_id;
  sconf.ttl_ms = config->commands_result_ttl_ms;
  sconf.claim_ttl_ms = config->commands_idempotency_ttl_ms;
  char err[256];
  if (cmd_store_new(&sconf, &source->store, err, sizeof(err)) != 0) {
    snprintf(errstr, errstr_size, "redis_url: %s", err);
    goto fail;
  }

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

  ingest_set_other(ingest, cmd_source_on_message, source);
  ingest_set_snapshot_done(ingest, cmd_source_snapshot_done, source);
  *out = source;
  return 0;
fail:
  cmd_source_destroy(source);
  return -1;
}

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

void cmd_source_stop(cmd_source_t *source, int timeout_ms) {
  if (!source)
    return;
  source->stopping = 1;
  char errstr[256];
  int64_t deadline = bclock_mono_ms() + timeout_ms;
  while (rd_kafka_outq_len(source->producer) > 0 && bclock_mono_ms() < deadline) {
    rd_kafka_flush(source->producer, 100);
    cmd_source_poll(source, errstr, sizeof(errstr));
  }
  cmd_source_reap(source);
  if (source->consumer) {
    rd_kafka_consumer_close(source->consumer);
  }
  if (source->live)
    BLOG_I(CMD, NULL, "%zu command(s) without a confirmed outcome at exit: read again at the next start", source->live);
}

void cmd_source_destroy(cmd_source_t *source) {
  if (!source)
    return;
  source->destroying = 1;
  if (source->ingest) { /* unwire what cmd_source_new wired */
    ingest_set_other(source->ingest, NULL, NULL);
    ingest_set_snapshot_done(source->ingest, NULL, NULL);
  }
  if (source->consumer_q)
    rd_kafka_queue_destroy(source->consumer_q);
  if (source->producer_q)
    rd_kafka_queue_destroy(source->producer_q);
  if (source->consumer)
    rd_kafka_destroy(source->consumer);
  if (source->producer) {
    rd_kafka_purge(source->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(source->producer, 0);
    rd_kafka_destroy(source->producer);
  }
  for (cmd_part_t *p = source->parts, *next; p; p = next) {
    next = p->next;
    for (cmd_offsets_entry_t *e = p->offsets.head, *en; e; e = en) {
      en = e->next;
      cmd_job_free(cmd_job_of(e));
    }
    free(p);
  }
  strmap_clear(&source->by_id, NULL);
  strmap_clear(&source->by_requestid, NULL);
  if (source->pipe_fds[0] >= 0)
    close(source->pipe_fds[0]);
  if (source->pipe_fds[1] >= 0)
    close(source->pipe_fds[1]);
  cmd_store_destroy(source->store);
  cmd_policy_free(source->policy);
  free(source);
}
