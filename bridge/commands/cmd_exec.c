/*
 * cmd_exec: one PBX's command executor.  See cmd_exec.h.
 */
#include "cmd_exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bclock.h"
#include "blog.h"
#include "cmd_build.h"
#include "cmd_result.h"
#include "cmd_store.h"
#include "codec_frame.h"
#include "codec_json.h"
#include "codec_tables.h"
#include "metrics.h"
#include "strmap.h"

#define CMD_EXEC_SCAN_MS 200     /* the deadline scan of commands without a job here */
#define CMD_EXEC_EXPIRED_MAX 64  /* deadlines handled per scan */
#define CMD_EXEC_RETRY_MS 1000   /* a step Redis failed is tried again after this */

/* Where a command is; a job in a state with an operation in flight has `busy` set. */
typedef enum cmd_job_state {
  CMD_JOB_HELD,       /* read; its claim failed (Redis): tried again */
  CMD_JOB_CLAIMING,   /* claim in flight */
  CMD_JOB_WAITING,    /* claimed: waits for ownership, the PBX, or a retry of accepted */
  CMD_JOB_ACCEPTING,  /* accepted in flight */
  CMD_JOB_SENT,       /* sent: waits for its answer or its deadline */
  CMD_JOB_CALLING,    /* a new call the PBX accepted: waits for its first report (or its loss), or the deadline */
  CMD_JOB_ORPHANED,   /* accepted before a failover or restart: never sent again, waits for its deadline */
  CMD_JOB_SNAPSHOT,   /* snapshot: its events re-emitted, waiting for Kafka */
  CMD_JOB_FINISHING,  /* outcome decided: finish (or a duplicate's PUBLISH) in flight */
  CMD_JOB_UNRECORDED, /* outcome decided; Redis failed to record it: tried again */
  CMD_JOB_EMITTING,   /* result handed to Kafka */
  CMD_JOB_UNEMITTED,  /* Kafka gave the result back: emitted again */
  CMD_JOB_MARKING,    /* result confirmed: published in flight */
  CMD_JOB_FOLLOWING   /* a redelivery of a command another job here is finishing: settles with it */
} cmd_job_state_t;

typedef struct cmd_job cmd_job_t;

/* One command, from its message to its settlement. */
struct cmd_job {
  cmd_job_t *prev, *next; /* every job, in the order taken */
  cmd_exec_t *exec;
  cmd_job_state_t state;
  void *token;      /* the Kafka side's; NULL: not a message (a deadline found by the scan) */
  int busy;         /* a store or emit operation is in flight */
  int abandoned;    /* dropped while busy: freed when the operation ends */
  int indexed;      /* by_id holds it */
  int has_src;
  char topic[256];
  char src[300];    /* topic/partition/offset */
  int32_t partition;
  int64_t offset;
  char *msg_key;    /* the Kafka key, for a result without a usable id */
  cmd_t *cmd;       /* NULL when refused by cmd_parse */
  cmd_refusal_t refusal;
  char id[CMD_ID_MAX + 1]; /* "" when the message has no usable id */
  char action[64];
  char reply_to[CMD_TOPIC_MAX + 1];
  int64_t received_ms, deadline_ms; /* wall clock */
  int32_t requestid; /* sent with it (0: not sent) */
  int32_t referencecallid;
  /* a new call's first report (make_call, unpark): awaited on the target's line */
  char line_guid[64];
  int call_wait;      /* in by_reference: the outcome needs the call's report too */
  int call_seen;      /* reported: call_callid, call_leg */
  int call_lost;      /* lost before it was ever reported: call_callid, lost_reason, lost_description */
  int32_t call_callid, lost_reason;
  int lost_thisend;
  char call_leg[320];
  char lost_description[128];
  int code;          /* an answer that found no job: its code, until recorded */
  int64_t retry_mono; /* HELD, WAITING, UNRECORDED, UNEMITTED: not before */
  cmd_job_t *leader;  /* FOLLOWING */
  /* the outcome */
  cmd_result_t result;
  char reason[300];
  json_t *data;
  char *result_text;     /* what goes to Kafka */
  char status_name[16];  /* the result's status, for ce_type */
  int64_t done_ms;
  int duplicate;         /* not recorded: PUBLISHed on the channel, then emitted */
  int mark;              /* record `published` once Kafka confirms */
};

struct cmd_exec {
  cmd_exec_config_t conf;
  metrics_pbx_t *metrics; /* the PBX's series (owned by the metrics) */
  cmd_policy_t *policy;
  char pbx_id[128];
  char results_topic[256];
  char ce_source[160];
  cmd_store_t *store;
  cmd_job_t *head, *tail;
  size_t live;
  strmap_t by_id;        /* id -> the job that answers for it */
  strmap_t by_requestid; /* "<requestid>" -> a sent (or orphaned) job */
  strmap_t by_reference; /* "<line guid>/<referencecallid>" -> a job awaiting its new call's report */
  int owned, want_own, own_busy;
  int64_t epoch, want_epoch, own_retry_mono;
  int scan_busy;
  int64_t next_scan_mono;
  int redis_down; /* a Redis step failed and none succeeded since (logged once) */
  int destroying;
};

static void cmd_exec_dispatch(cmd_exec_t *exec, cmd_job_t *job);
static void cmd_exec_emit(cmd_exec_t *exec, cmd_job_t *job);
static void cmd_exec_claim(cmd_exec_t *exec, cmd_job_t *job);
static void cmd_exec_record(cmd_exec_t *exec, cmd_job_t *job);
static void cmd_exec_fenced(cmd_exec_t *exec, int64_t holder, const char *what);
static void cmd_exec_timeout(cmd_exec_t *exec, cmd_job_t *job);

/* ---- jobs ---- */

static cmd_job_t *cmd_job_new(cmd_exec_t *exec, void *token) {
  cmd_job_t *job = calloc(1, sizeof(*job));
  if (!job)
    return NULL;
  job->exec = exec;
  job->token = token;
  job->received_ms = bclock_wall_ms();
  job->prev = exec->tail;
  if (exec->tail)
    exec->tail->next = job;
  else
    exec->head = job;
  exec->tail = job;
  exec->live++;
  metrics_pbx_set(exec->metrics, METRICS_COMMANDS_INFLIGHT, (int64_t)exec->live);
  return job;
}

static void cmd_job_free(cmd_job_t *job) {
  cmd_free(job->cmd);
  free(job->msg_key);
  json_decref(job->data);
  free(job->result_text);
  free(job);
}

/* "<line guid>/<referencecallid>": where a new call's report finds its job. */
static void cmd_job_call_key(const char *line_guid, int32_t ref, char *out, size_t size) {
  snprintf(out, size, "%s/%d", line_guid, ref);
}

static void cmd_job_unindex_call(cmd_exec_t *exec, cmd_job_t *job) {
  char k[128];
  if (!job->call_wait)
    return;
  cmd_job_call_key(job->line_guid, job->referencecallid, k, sizeof(k));
  if (strmap_get(&exec->by_reference, k) == job)
    strmap_del(&exec->by_reference, k);
  job->call_wait = 0;
}

static void cmd_job_unindex(cmd_exec_t *exec, cmd_job_t *job) {
  if (job->indexed && strmap_get(&exec->by_id, job->id) == job)
    strmap_del(&exec->by_id, job->id);
  job->indexed = 0;
  if (job->requestid) {
    char k[16];
    snprintf(k, sizeof(k), "%d", job->requestid);
    if (strmap_get(&exec->by_requestid, k) == job)
      strmap_del(&exec->by_requestid, k);
  }
  cmd_job_unindex_call(exec, job);
}

/* Make `job` the one that answers for its id here (unless another does). */
static void cmd_job_index(cmd_exec_t *exec, cmd_job_t *job) {
  if (!job->indexed && job->id[0] && !strmap_get(&exec->by_id, job->id))
    job->indexed = strmap_put(&exec->by_id, job->id, job) == 0;
}

static void cmd_job_index_requestid(cmd_exec_t *exec, cmd_job_t *job) {
  char k[16];
  snprintf(k, sizeof(k), "%d", job->requestid);
  strmap_put(&exec->by_requestid, k, job);
}

/*
 * The job is over: its message settled (ok: its offset may be committed),
 * the jobs following it with it.  Freed now, or when its operation ends.
 */
static void cmd_job_settle(cmd_exec_t *exec, cmd_job_t *job, int ok) {
  cmd_job_unindex(exec, job);
  if (job->prev)
    job->prev->next = job->next;
  else
    exec->head = job->next;
  if (job->next)
    job->next->prev = job->prev;
  else
    exec->tail = job->prev;
  job->prev = job->next = NULL;
  exec->live--;
  metrics_pbx_set(exec->metrics, METRICS_COMMANDS_INFLIGHT, (int64_t)exec->live);
  if (job->token && exec->conf.settled)
    exec->conf.settled(exec->conf.settled_opaque, job->token, ok);
  job->token = NULL;
  for (cmd_job_t *j = exec->head, *next; j; j = next) {
    next = j->next;
    if (j->state == CMD_JOB_FOLLOWING && j->leader == job) {
      BLOG_D(CMD, j->id, "read again while it was finishing here: settled with it");
      cmd_job_settle(exec, j, ok);
      next = exec->head; /* the list changed under us: followers are few, start over */
    }
  }
  if (job->busy)
    job->abandoned = 1;
  else
    cmd_job_free(job);
}

/* An operation of `job` ended: 1 when the job is gone (or everything is), and the caller stops. */
static int cmd_job_op_end(cmd_job_t *job) {
  job->busy = 0;
  if (job->abandoned) { /* dropped meanwhile (its executor may be gone: job->exec NULL) */
    cmd_job_free(job);
    return 1;
  }
  return job->exec->destroying;
}

static cmd_job_t *cmd_exec_by_requestid(cmd_exec_t *exec, int32_t requestid) {
  char k[16];
  snprintf(k, sizeof(k), "%d", requestid);
  return strmap_get(&exec->by_requestid, k);
}

/* ---- Redis trouble and recovery ---- */

static void cmd_exec_redis_failed(cmd_exec_t *exec, cmd_job_t *job, const char *what, const char *errstr) {
  if (!exec->redis_down)
    BLOG_W(CMD, job && job->id[0] ? job->id : NULL, "%s: %s; commands wait for Redis", what, errstr);
  else
    BLOG_D(CMD, job && job->id[0] ? job->id : NULL, "%s: %s", what, errstr);
  exec->redis_down = 1;
  if (job)
    job->retry_mono = bclock_mono_ms() + CMD_EXEC_RETRY_MS;
}

static void cmd_exec_redis_ok(cmd_exec_t *exec) {
  if (exec->redis_down)
    BLOG_I(CMD, NULL, "Redis answers again: commands go on");
  exec->redis_down = 0;
}

/* ---- results ---- */

/*
 * A make_call or unpark's referencecallid, merged into the result's data;
 * with the call once reported (callid, leg: the calls topic's key) or what
 * the CallLost said of it (calllost).
 */
static json_t *cmd_exec_data(const cmd_job_t *job, json_t *data /* stolen, may be NULL */) {
  if (!job->referencecallid)
    return data;
  if (!data)
    data = json_object();
  json_object_set_new(data, "referencecallid", json_integer(job->referencecallid));
  if (job->call_seen) {
    json_object_set_new(data, "callid", json_integer(job->call_callid));
    json_object_set_new(data, "leg", json_string(job->call_leg));
  } else if (job->call_lost) {
    json_object_set_new(data, "calllost",
                        json_pack("{s:i,s:i,s:i,s:b,s:s}", "callid", job->call_callid, "referencecallid",
                                  job->referencecallid, "reason", job->lost_reason, "thisenddropped",
                                  job->lost_thisend, "description", job->lost_description));
  }
  return data;
}

/*
 * The job's outcome is decided: render it, count it, then record it
 * (cmd_exec_record) and, once recorded, emit it.  A message without a usable
 * id has nothing to record: its result goes straight out.
 */
static void cmd_exec_outcome(cmd_exec_t *exec, cmd_job_t *job, cmd_status_t status, int has_code, int code,
                             cmd_reason_t reason_code, const char *reason, json_t *data /* stolen */) {
  if (job->requestid) { /* no answer is expected any more */
    char k[16];
    snprintf(k, sizeof(k), "%d", job->requestid);
    if (strmap_get(&exec->by_requestid, k) == job)
      strmap_del(&exec->by_requestid, k);
  }
  cmd_job_unindex_call(exec, job); /* nor a call report */
  cmd_result_init(&job->result, job->id[0] ? job->id : NULL, status);
  job->result.has_code = has_code;
  job->result.code = code;
  job->result.reason_code = reason_code;
  snprintf(job->reason, sizeof(job->reason), "%s", reason ? reason : "");
  job->result.reason = reason ? job->reason : NULL;
  job->result.requestid = job->requestid;
  job->result.action = job->action[0] ? job->action : NULL;
  job->done_ms = bclock_wall_ms();
  job->result.latency_ms = job->received_ms ? job->done_ms - job->received_ms : -1;
  json_decref(job->data);
  job->data = data;
  job->result.data = data;
  free(job->result_text);
  job->result_text = cmd_result_json_text(&job->result);
  snprintf(job->status_name, sizeof(job->status_name), "%s", cmd_status_name(status));
  double rt = (status == CMD_STATUS_SUCCEEDED || status == CMD_STATUS_FAILED || status == CMD_STATUS_TIMEOUT) &&
                      job->result.latency_ms >= 0
                  ? (double)job->result.latency_ms
                  : -1;
  metrics_pbx_command_done(exec->metrics, (int)status, cmd_status_name(status), rt);
  if (status == CMD_STATUS_REJECTED)
    BLOG_I(CMD, job->id[0] ? job->id : "-", "rejected: %s", reason ? reason : "");
  else
    BLOG_D(CMD, job->id[0] ? job->id : "-", "%s %s%s%s", job->action, cmd_status_name(status), has_code ? " " : "",
           has_code ? codec_result_name(code) : "");
  if (!job->result_text) {
    BLOG_E(CMD, job->id, "out of memory: result lost");
    cmd_job_settle(exec, job, 1);
    return;
  }
  if (!job->id[0]) {
    cmd_exec_emit(exec, job);
    return;
  }
  cmd_exec_record(exec, job);
}

static void cmd_exec_reject(cmd_exec_t *exec, cmd_job_t *job, cmd_reason_t code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void cmd_exec_reject(cmd_exec_t *exec, cmd_job_t *job, cmd_reason_t code, const char *fmt, ...) {
  char text[256], reason[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  snprintf(reason, sizeof(reason), "%s: %s", cmd_reason_name(code), text);
  cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, code, reason, NULL);
}

/*
 * Publish the result a record already holds (an outcome recorded by an
 * earlier owner or run, or by this one before a reply was lost), unless it
 * was published: then the job is simply settled.
 */
static void cmd_exec_republish(cmd_exec_t *exec, cmd_job_t *job, const json_t *record) {
  const char *published = json_string_value(json_object_get(record, "published"));
  const char *text = json_string_value(json_object_get(record, "result"));
  const char *status = json_string_value(json_object_get(record, "status"));
  const char *done = json_string_value(json_object_get(record, "done_ms"));
  if (published && strcmp(published, "1") == 0) {
    BLOG_D(CMD, job->id, "outcome %s recorded and published before: not published again", status ? status : "?");
    cmd_job_settle(exec, job, 1);
    return;
  }
  if (!text) {
    BLOG_W(CMD, job->id, "outcome %s recorded without its result (an older bridge): not published",
           status ? status : "?");
    cmd_job_settle(exec, job, 1);
    return;
  }
  BLOG_I(CMD, job->id, "outcome %s recorded before but not published: publishing it", status ? status : "?");
  cmd_job_index(exec, job);
  free(job->result_text);
  job->result_text = strdup(text);
  snprintf(job->status_name, sizeof(job->status_name), "%s", status ? status : "unknown");
  job->done_ms = done ? strtoll(done, NULL, 10) : bclock_wall_ms();
  job->mark = 1;
  if (!job->result_text) {
    cmd_job_settle(exec, job, 1);
    return;
  }
  cmd_exec_emit(exec, job);
}

/* ---- recording ---- */

static void cmd_exec_on_recorded(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  cmd_exec_t *exec = job->exec;
  if (cmd_job_op_end(job))
    return;
  switch (res->rc) {
  case CMD_STORE_FAILED:
    cmd_exec_redis_failed(exec, job, job->duplicate ? "publishing a duplicate" : "recording an outcome", res->errstr);
    job->state = CMD_JOB_UNRECORDED;
    return;
  case CMD_STORE_FINAL: /* an outcome was there first (its deadline, another owner, or ours with a lost reply) */
    cmd_exec_redis_ok(exec);
    cmd_exec_republish(exec, job, res->record);
    return;
  default:
    cmd_exec_redis_ok(exec);
    job->mark = !job->duplicate;
    cmd_exec_emit(exec, job);
    return;
  }
}

/* Record the decided outcome (finish; a duplicate's PUBLISH), then emit. */
static void cmd_exec_record(cmd_exec_t *exec, cmd_job_t *job) {
  job->state = CMD_JOB_FINISHING;
  job->busy = 1;
  if (job->duplicate)
    cmd_store_publish(exec->store, job->id, job->result_text, cmd_exec_on_recorded, job);
  else
    cmd_store_finish(exec->store, &job->result, job->result_text, job->done_ms, cmd_exec_on_recorded, job);
}

/* ---- emitting ---- */

static void cmd_exec_on_marked(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  if (cmd_job_op_end(job))
    return;
  if (res->rc == CMD_STORE_FAILED) /* settled anyway: a redelivery may publish it once more, that is all */
    BLOG_D(CMD, job->id, "not marked published: %s", res->errstr);
  cmd_job_settle(job->exec, job, 1);
}

static void cmd_exec_on_emitted(void *opaque, int delivered) {
  cmd_job_t *job = opaque;
  cmd_exec_t *exec = job->exec;
  if (cmd_job_op_end(job))
    return;
  if (!delivered) {
    job->state = CMD_JOB_UNEMITTED;
    job->retry_mono = bclock_mono_ms() + CMD_EXEC_RETRY_MS;
    return;
  }
  BLOG_D(CMD, job->id[0] ? job->id : "-", "result %s confirmed", job->status_name);
  if (job->mark && job->id[0]) {
    job->state = CMD_JOB_MARKING;
    job->busy = 1;
    cmd_store_published(exec->store, job->id, cmd_exec_on_marked, job);
    return;
  }
  cmd_job_settle(exec, job, 1);
}

/* The result to Kafka, with its CloudEvents headers. */
static void cmd_exec_emit(cmd_exec_t *exec, cmd_job_t *job) {
  char ce_id[CMD_ID_MAX + 300], ce_type[64], ce_time[40];
  cmd_emit_header_t headers[CMD_EMIT_HEADERS_MAX];
  size_t n = 0;
  if (!job->id[0])
    snprintf(ce_id, sizeof(ce_id), "%s/command/-/%d/%lld", exec->pbx_id, job->partition, (long long)job->offset);
  else if (job->duplicate)
    snprintf(ce_id, sizeof(ce_id), "%s/command/%s/duplicate/%d/%lld", exec->pbx_id, job->id, job->partition,
             (long long)job->offset);
  else
    snprintf(ce_id, sizeof(ce_id), "%s/command/%s", exec->pbx_id, job->id);
  snprintf(ce_type, sizeof(ce_type), "mtcti3.command.%s", job->status_name);
  bclock_rfc3339(job->done_ms ? job->done_ms : bclock_wall_ms(), ce_time, sizeof(ce_time));
  headers[n++] = (cmd_emit_header_t){"ce_specversion", "1.0"};
  headers[n++] = (cmd_emit_header_t){"ce_id", ce_id};
  headers[n++] = (cmd_emit_header_t){"ce_source", exec->ce_source};
  headers[n++] = (cmd_emit_header_t){"ce_type", ce_type};
  headers[n++] = (cmd_emit_header_t){"ce_time", ce_time};
  if (job->id[0])
    headers[n++] = (cmd_emit_header_t){"ce_subject", job->id};
  headers[n++] = (cmd_emit_header_t){"content-type", "application/json"};
  const char *key = job->id[0] ? job->id : job->msg_key;
  cmd_emit_t msg = {job->reply_to[0] ? job->reply_to : exec->results_topic,
                    key,
                    key ? strlen(key) : 0,
                    job->result_text,
                    strlen(job->result_text),
                    headers,
                    n};
  job->state = CMD_JOB_EMITTING;
  job->busy = 1;
  exec->conf.emit(exec->conf.emit_opaque, &msg, cmd_exec_on_emitted, job);
}

/* ---- resolving and sending ---- */

/* The names of the snapshot action's `topics`; n 0 means every topic. */
static size_t cmd_exec_snapshot_topics(const cmd_t *cmd, const char *names[4]) {
  const json_t *topics = json_object_get(cmd_args(cmd), "topics");
  size_t n = 0, i;
  const json_t *t;
  json_array_foreach(topics, i, t) {
    if (json_is_string(t) && n < 4)
      names[n++] = json_string_value(t);
  }
  return n;
}

/*
 * The operator's policy: the action and target, and the user a short code
 * runs on behalf of.  1, or 0 once the job is rejected.
 */
static int cmd_exec_policy(cmd_exec_t *exec, cmd_job_t *job, const char *target_extn) {
  char reason[256];
  const char *onbehalf = cmd_arg_string(job->cmd, "onbehalf");
  if (!cmd_policy_check(exec->policy, job->cmd, target_extn, reason, sizeof(reason))) {
    cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, CMD_REASON_DENIED, reason, NULL);
    return 0;
  }
  if (onbehalf) {
    cmd_line_t other = {NULL, NULL};
    int known = exec->conf.ops->line_find(exec->conf.pbx, CMD_TARGET_USER, onbehalf, &other);
    if (!cmd_policy_check_user(exec->policy, known ? other.extn : NULL, onbehalf, "onbehalf", reason,
                               sizeof(reason))) {
      cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, CMD_REASON_DENIED, reason, NULL);
      return 0;
    }
  }
  return 1;
}

/*
 * The call of a call action into ctx->callid and its featuresavailable
 * words: on its line by callid or referencecallid; on the park server, the
 * call in the slot (which the named call, if any, must be).  0, or -1 once
 * the job is rejected (no_call).
 */
static int cmd_exec_find_call(cmd_exec_t *exec, cmd_job_t *job, const cmd_line_t *line, cmd_build_ctx_t *ctx,
                              uint32_t *cf, uint32_t *cf2) {
  const cmd_pbx_ops_t *ops = exec->conf.ops;
  int32_t value = 0, parked = 0;
  cmd_call_kind_t ck = cmd_call(job->cmd, &value);
  const char *by = ck == CMD_CALL_REFERENCECALLID ? "referencecallid" : "callid";
  if (cmd_target_kind(job->cmd) == CMD_TARGET_PARKSERVER) {
    const char *slot = cmd_target(job->cmd);
    uint32_t pf = 0, pf2 = 0;
    if (!ops->park_find || !ops->park_find(exec->conf.pbx, slot, &parked, &pf, &pf2)) {
      cmd_exec_reject(exec, job, CMD_REASON_NO_CALL, "no call parked in slot %s", slot);
      return -1;
    }
    if (ck == CMD_CALL_NONE) {
      ctx->callid = parked;
      *cf = pf;
      *cf2 = pf2;
      return 0;
    }
    if (!ops->call_find(exec->conf.pbx, line->guid, ck, value, &ctx->callid, cf, cf2) || ctx->callid != parked) {
      cmd_exec_reject(exec, job, CMD_REASON_NO_CALL, "no call with %s %d parked in slot %s", by, value, slot);
      return -1;
    }
    return 0;
  }
  if (!ops->call_find(exec->conf.pbx, line->guid, ck, value, &ctx->callid, cf, cf2)) {
    cmd_exec_reject(exec, job, CMD_REASON_NO_CALL, "no call with %s %d on %s %s", by, value,
                    cmd_target_kind_name(cmd_target_kind(job->cmd)), line->extn);
    return -1;
  }
  return 0;
}

typedef enum cmd_exec_resolved { CMD_EXEC_GO, CMD_EXEC_WAIT, CMD_EXEC_REFUSED } cmd_exec_resolved_t;

/*
 * What the PBX says of the command now: its target, subscription and call
 * into *ctx (GO), not yet (WAIT), or a refusal already decided (REFUSED).
 * `full` adds the policy, the snapshot action and featuresavailable: the
 * checks before a requestid is drawn.
 */
static cmd_exec_resolved_t cmd_exec_resolve(cmd_exec_t *exec, cmd_job_t *job, int full, cmd_build_ctx_t *ctx,
                                            cmd_line_t *resolved) {
  const cmd_pbx_ops_t *ops = exec->conf.ops;
  void *pbx = exec->conf.pbx;
  const cmd_t *cmd = job->cmd;
  const cmd_action_t *action = cmd_action(cmd);
  cmd_target_kind_t tk = cmd_target_kind(cmd);
  cmd_line_t line = {NULL, NULL};
  char reason[256];
  int park = tk == CMD_TARGET_PARKSERVER;
  int found = park || (tk != CMD_TARGET_NONE && ops->line_find(pbx, tk, cmd_target(cmd), &line));
  const char *kind = cmd_target_kind_name(tk);

  if (park) {
    line.guid = CMD_PARK_LINE;
    line.extn = "";
  }
  if (full && !cmd_exec_policy(exec, job, found ? line.extn : NULL))
    return CMD_EXEC_REFUSED;
  if (full && action->scope == CMD_SCOPE_BRIDGE) { /* snapshot: the bridge does it */
    if (tk != CMD_TARGET_NONE && !found) {
      cmd_exec_reject(exec, job, CMD_REASON_NO_TARGET, "no %s \"%s\" on this PBX", kind, cmd_target(cmd));
      return CMD_EXEC_REFUSED;
    }
    const char *names[4];
    size_t n = cmd_exec_snapshot_topics(cmd, names);
    job->state = CMD_JOB_SNAPSHOT; /* cmd_exec_snapshot_done, maybe before this returns */
    ops->snapshot(pbx, n ? names : NULL, n, found ? line.guid : NULL, job->id);
    return CMD_EXEC_REFUSED; /* nothing to send */
  }
  if (!ops->ready(pbx))
    return CMD_EXEC_WAIT;
  if (tk != CMD_TARGET_NONE) {
    if (!found) {
      cmd_exec_reject(exec, job, CMD_REASON_NO_TARGET, "no %s \"%s\" on this PBX", kind, cmd_target(cmd));
      return CMD_EXEC_REFUSED;
    }
    ctx->subscribe_id = ops->line_subscription(pbx, line.guid);
    if (!ctx->subscribe_id && park) { /* resynced, and no park server subscription: there is none */
      cmd_exec_reject(exec, job, CMD_REASON_NO_TARGET, "no park server on this PBX (not offered, or parkserver=false)");
      return CMD_EXEC_REFUSED;
    }
    if (!ctx->subscribe_id)
      return CMD_EXEC_WAIT; /* its subscription is not active yet */
  }
  uint32_t cf = 0, cf2 = 0, uf = 0;
  if (action->scope == CMD_SCOPE_CALL && cmd_exec_find_call(exec, job, &line, ctx, &cf, &cf2) != 0)
    return CMD_EXEC_REFUSED;
  if (resolved)
    *resolved = line;
  if (!full)
    return CMD_EXEC_GO;
  if (tk == CMD_TARGET_USER)
    (void)ops->user_features(pbx, line.guid, &uf);
  if (!cmd_action_available(action, cf, cf2, uf, reason, sizeof(reason))) {
    cmd_exec_reject(exec, job, CMD_REASON_UNAVAILABLE, "%s", reason);
    return CMD_EXEC_REFUSED;
  }
  return CMD_EXEC_GO;
}

/*
 * A new call (referencecallid) on a line that reports its calls: its
 * outcome waits for the call's first report too (cmd_exec_on_call_report).
 */
static void cmd_job_await_call(cmd_exec_t *exec, cmd_job_t *job, const cmd_line_t *line) {
  char k[128];
  const cmd_pbx_ops_t *ops = exec->conf.ops;
  if (!job->referencecallid || !line->guid || strlen(line->guid) >= sizeof(job->line_guid) || !ops->calls_reported ||
      !ops->calls_reported(exec->conf.pbx, line->guid))
    return;
  snprintf(job->line_guid, sizeof(job->line_guid), "%s", line->guid);
  cmd_job_call_key(job->line_guid, job->referencecallid, k, sizeof(k));
  job->call_seen = job->call_lost = 0;
  job->call_wait = strmap_put(&exec->by_reference, k, job) == 0;
}

/* The PBX accepted a new call (or its report came after the acceptance): decide, or wait for the report. */
static void cmd_exec_call_decide(cmd_exec_t *exec, cmd_job_t *job) {
  char reason[300];
  if (job->call_lost) {
    snprintf(reason, sizeof(reason), "the call failed at once: CallLost reason %d%s%s", job->lost_reason,
             job->lost_description[0] ? ": " : "", job->lost_description);
    cmd_exec_outcome(exec, job, CMD_STATUS_FAILED, 1, 0, CMD_REASON_NONE, reason, cmd_exec_data(job, NULL));
  } else if (job->call_seen) {
    cmd_exec_outcome(exec, job, CMD_STATUS_SUCCEEDED, 1, 0, CMD_REASON_NONE, NULL, cmd_exec_data(job, NULL));
  } else {
    job->state = CMD_JOB_CALLING; /* its report, or its deadline */
  }
}

/*
 * `accepted` is recorded with `requestid`: look once more (the PBX may have
 * moved on), build, send.  A command not sent keeps no requestid (its
 * result says none); one that waits is accepted again, with a new one.
 */
static void cmd_exec_send(cmd_exec_t *exec, cmd_job_t *job, int32_t requestid) {
  cmd_build_ctx_t ctx = {requestid, 0, 0};
  cmd_line_t line = {NULL, NULL};
  char errstr[256];
  job->state = CMD_JOB_WAITING;
  if (cmd_exec_resolve(exec, job, 0, &ctx, &line) != CMD_EXEC_GO)
    return;
  Message *msg = NULL;
  if (cmd_build(job->cmd, &ctx, &msg, errstr, sizeof(errstr)) != 0) {
    cmd_exec_reject(exec, job, CMD_REASON_INTERNAL, "%s", errstr);
    return;
  }
  int sent = exec->conf.ops->send(exec->conf.pbx, msg, errstr, sizeof(errstr));
  codec_message_free(msg);
  if (sent != 0) {
    BLOG_D(CMD, job->id, "not sent (%s): waits", errstr);
    return;
  }
  job->requestid = requestid;
  job->referencecallid = cmd_build_referencecallid(job->cmd, &ctx);
  job->state = CMD_JOB_SENT;
  cmd_job_index_requestid(exec, job);
  cmd_job_await_call(exec, job, &line);
  if (blog_enabled(BLOG_CTX_CMD, BLOG_DEBUG)) {
    char *text = cmd_to_text_redacted(job->cmd);
    BLOG_D(CMD, job->id, "sent requestid=%d subscribe_id=%d callid=%d epoch=%lld: %s", ctx.requestid,
           ctx.subscribe_id, ctx.callid, (long long)exec->epoch, text ? text : "");
    free(text);
  }
}

static void cmd_exec_orphan(cmd_exec_t *exec, cmd_job_t *job, const json_t *record);

static void cmd_exec_on_accepted(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  cmd_exec_t *exec = job->exec;
  if (cmd_job_op_end(job))
    return;
  switch (res->rc) {
  case CMD_STORE_FAILED:
    cmd_exec_redis_failed(exec, job, "recording accepted", res->errstr);
    job->state = CMD_JOB_WAITING;
    return;
  case CMD_STORE_FENCED:
    cmd_exec_redis_ok(exec);
    cmd_exec_fenced(exec, res->value, "recording accepted");
    return;
  case CMD_STORE_FINAL: {
    cmd_exec_redis_ok(exec);
    const char *status = json_string_value(json_object_get(res->record, "status"));
    if (status && strcmp(status, "accepted") == 0)
      cmd_exec_orphan(exec, job, res->record); /* another epoch's owner sent it */
    else
      cmd_exec_republish(exec, job, res->record);
    return;
  }
  case CMD_STORE_ABSENT:
    cmd_exec_redis_ok(exec);
    cmd_exec_reject(exec, job, CMD_REASON_INTERNAL, "its record is gone from Redis (expired?)");
    return;
  default:
    cmd_exec_redis_ok(exec);
    if (bclock_wall_ms() >= job->deadline_ms) { /* its deadline passed meanwhile: not sent now */
      job->state = CMD_JOB_WAITING;
      cmd_exec_timeout(exec, job);
      return;
    }
    cmd_exec_send(exec, job, (int32_t)res->value);
    return;
  }
}

/* Try to run a claimed job: checks, then accepted; it stays WAITING while the PBX is not ready. */
static void cmd_exec_dispatch(cmd_exec_t *exec, cmd_job_t *job) {
  cmd_build_ctx_t ctx = {0, 0, 0};
  if (!exec->owned || job->busy || bclock_mono_ms() < job->retry_mono)
    return;
  if (cmd_exec_resolve(exec, job, 1, &ctx, NULL) != CMD_EXEC_GO)
    return;
  job->state = CMD_JOB_ACCEPTING;
  job->busy = 1;
  cmd_store_accepted(exec->store, job->id, exec->epoch, bclock_wall_ms(), job->deadline_ms, cmd_exec_on_accepted, job);
}

/* ---- claiming ---- */

/* Sent before a failover or restart (the record says accepted): never again; its deadline decides. */
static void cmd_exec_orphan(cmd_exec_t *exec, cmd_job_t *job, const json_t *record) {
  const char *rid = json_string_value(json_object_get(record, "requestid"));
  const char *epoch = json_string_value(json_object_get(record, "epoch"));
  const char *dl = json_string_value(json_object_get(record, "deadline_ms"));
  const char *rcv = json_string_value(json_object_get(record, "received_ms"));
  if (dl)
    job->deadline_ms = strtoll(dl, NULL, 10);
  if (rcv)
    job->received_ms = strtoll(rcv, NULL, 10);
  job->requestid = rid ? (int32_t)strtol(rid, NULL, 10) : 0;
  BLOG_I(CMD, job->id, "sent before a restart or failover (requestid %d, epoch %s): not sent again; its deadline "
                       "decides", job->requestid, epoch ? epoch : "?");
  cmd_job_index(exec, job);
  if (job->requestid && !cmd_exec_by_requestid(exec, job->requestid))
    cmd_job_index_requestid(exec, job); /* its answer may still come on this connection */
  job->state = CMD_JOB_ORPHANED;
}

/* Settle `job` with `leader`, the job here that answers for its id. */
static void cmd_exec_follow(cmd_job_t *job, cmd_job_t *leader) {
  BLOG_D(CMD, job->id, "read again while it runs here: settles with it");
  job->state = CMD_JOB_FOLLOWING;
  job->leader = leader;
}

/* A new message repeating an id: "duplicate", echoing the first outcome (or how far it got). */
static void cmd_exec_duplicate(cmd_exec_t *exec, cmd_job_t *job, const json_t *record) {
  const char *status = json_string_value(json_object_get(record, "status"));
  json_t *dup = cmd_store_duplicate_json(job->id, record);
  free(job->result_text);
  job->result_text = dup ? json_dumps(dup, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(dup);
  job->duplicate = 1;
  job->done_ms = bclock_wall_ms();
  snprintf(job->status_name, sizeof(job->status_name), "duplicate");
  metrics_pbx_command_done(exec->metrics, CMD_STATUS_DUPLICATE, "duplicate", -1);
  BLOG_I(CMD, job->id, "duplicate (first outcome: %s): not executed again", status ? status : "unknown");
  if (!job->result_text) {
    cmd_job_settle(exec, job, 1);
    return;
  }
  cmd_exec_record(exec, job);
}

/* The id was claimed before: tell a redelivery of this very message from a new one. */
static void cmd_exec_seen(cmd_exec_t *exec, cmd_job_t *job, const json_t *record) {
  const char *status = json_string_value(json_object_get(record, "status"));
  const char *src = json_string_value(json_object_get(record, "src"));
  cmd_job_t *live = strmap_get(&exec->by_id, job->id);
  /* records of a bridge before src was kept: any redelivery is taken for this message */
  int same = src ? job->has_src && strcmp(src, job->src) == 0 : status != NULL;
  if (same && cmd_store_status_final(status) && src) {
    if (live && live != job)
      cmd_exec_follow(job, live);
    else
      cmd_exec_republish(exec, job, record);
  } else if (same && job->cmd && status && strcmp(status, "received") == 0) {
    if (live && live != job) {
      cmd_exec_follow(job, live);
      return;
    }
    BLOG_I(CMD, job->id, "claimed before but never sent (a restart or failover): running it now");
    const char *dl = json_string_value(json_object_get(record, "deadline_ms"));
    const char *rcv = json_string_value(json_object_get(record, "received_ms"));
    if (dl)
      job->deadline_ms = strtoll(dl, NULL, 10);
    if (rcv)
      job->received_ms = strtoll(rcv, NULL, 10);
    cmd_job_index(exec, job);
    job->state = CMD_JOB_WAITING;
    cmd_exec_dispatch(exec, job);
  } else if (same && job->cmd && status && strcmp(status, "accepted") == 0) {
    if (live && live != job)
      cmd_exec_follow(job, live);
    else
      cmd_exec_orphan(exec, job, record);
  } else if (same && !job->cmd && !cmd_store_status_final(status)) { /* refused, then a crash before its record */
    cmd_job_index(exec, job);
    cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, job->refusal.code, job->refusal.reason, NULL);
  } else {
    cmd_exec_duplicate(exec, job, record);
  }
}

static void cmd_exec_on_claimed(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  cmd_exec_t *exec = job->exec;
  if (cmd_job_op_end(job))
    return;
  switch (res->rc) {
  case CMD_STORE_FAILED:
    cmd_exec_redis_failed(exec, job, "claiming a command", res->errstr);
    job->state = CMD_JOB_HELD;
    return;
  case CMD_STORE_SEEN:
    cmd_exec_redis_ok(exec);
    cmd_exec_seen(exec, job, res->record);
    return;
  default:
    cmd_exec_redis_ok(exec);
    cmd_job_index(exec, job);
    if (!job->cmd) {
      cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, job->refusal.code, job->refusal.reason, NULL);
      return;
    }
    job->state = CMD_JOB_WAITING;
    cmd_exec_dispatch(exec, job);
    return;
  }
}

/* Claim a parsed job (a message without a usable id only gets its result). */
static void cmd_exec_claim(cmd_exec_t *exec, cmd_job_t *job) {
  if (!job->id[0]) {
    cmd_exec_outcome(exec, job, CMD_STATUS_REJECTED, 0, 0, job->refusal.code, job->refusal.reason, NULL);
    return;
  }
  cmd_store_src_t src = {job->topic, job->partition, job->offset};
  job->state = CMD_JOB_CLAIMING;
  job->busy = 1;
  cmd_store_claim(exec->store, job->id, job->action[0] ? job->action : NULL, job->reply_to[0] ? job->reply_to : NULL,
                  job->received_ms, job->deadline_ms, &src, cmd_exec_on_claimed, job);
}

void cmd_exec_submit(cmd_exec_t *exec, const cmd_exec_input_t *in, void *token) {
  cmd_job_t *job = cmd_job_new(exec, token);
  if (!job) {
    BLOG_E(CMD, NULL, "out of memory: command left unsettled");
    return;
  }
  metrics_pbx_add(exec->metrics, METRICS_COMMANDS_RECEIVED, 1);
  cmd_store_src_t src = {in->topic, in->partition, in->offset};
  cmd_store_src_text(&src, job->src, sizeof(job->src));
  snprintf(job->topic, sizeof(job->topic), "%s", in->topic ? in->topic : "");
  job->has_src = 1;
  job->partition = in->partition;
  job->offset = in->offset;
  if (in->key_len && (job->msg_key = malloc(in->key_len + 1)) != NULL) {
    memcpy(job->msg_key, in->key, in->key_len);
    job->msg_key[in->key_len] = '\0';
  }
  if (cmd_parse(&exec->conf.parse, in->value ? in->value : "", in->value ? in->value_len : 0, &job->cmd,
                &job->refusal) == 0) {
    snprintf(job->id, sizeof(job->id), "%s", cmd_id(job->cmd));
    snprintf(job->action, sizeof(job->action), "%s", cmd_action(job->cmd)->name);
    snprintf(job->reply_to, sizeof(job->reply_to), "%s", cmd_reply_to(job->cmd) ? cmd_reply_to(job->cmd) : "");
    job->deadline_ms = job->received_ms + cmd_timeout_ms(job->cmd);
    if (blog_enabled(BLOG_CTX_CMD, BLOG_DEBUG)) {
      char *text = cmd_to_text_redacted(job->cmd);
      BLOG_D(CMD, job->id, "received %s: %s", job->src, text ? text : "");
      free(text);
    }
  } else {
    snprintf(job->id, sizeof(job->id), "%s", job->refusal.id);
    snprintf(job->action, sizeof(job->action), "%s", job->refusal.action);
    snprintf(job->reply_to, sizeof(job->reply_to), "%s", job->refusal.reply_to);
    job->deadline_ms = job->received_ms + exec->conf.parse.default_timeout_ms;
  }
  job->state = CMD_JOB_HELD;
  cmd_exec_claim(exec, job);
}

/* ---- answers from the PBX ---- */

static void cmd_exec_on_orphan_recorded(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  if (cmd_job_op_end(job))
    return;
  if (res->rc == CMD_STORE_FAILED)
    BLOG_W(CMD, job->id, "answer to requestid=%d not recorded: %s", job->requestid, res->errstr);
  else
    BLOG_D(CMD, job->id, "answer to requestid=%d %s (sent before this executor dropped it)", job->requestid,
           res->rc == CMD_STORE_DONE ? "recorded" : "came after its outcome");
  cmd_job_settle(job->exec, job, 1);
}

static void cmd_exec_on_orphan_id(void *opaque, const cmd_store_res_t *res) {
  cmd_job_t *job = opaque;
  if (cmd_job_op_end(job))
    return;
  if (res->rc != CMD_STORE_DONE) {
    BLOG_D(CMD, NULL, "answer to unknown requestid=%d ignored", job->requestid);
    cmd_job_settle(job->exec, job, 1);
    return;
  }
  snprintf(job->id, sizeof(job->id), "%s", res->id);
  cmd_result_init(&job->result, job->id, job->result.status);
  job->result.has_code = 1;
  job->result.code = job->code;
  job->result.requestid = job->requestid;
  job->result.data = job->data;
  job->done_ms = bclock_wall_ms();
  job->result_text = cmd_result_json_text(&job->result);
  if (!job->result_text) {
    cmd_job_settle(job->exec, job, 1);
    return;
  }
  job->state = CMD_JOB_FINISHING;
  job->busy = 1;
  cmd_store_finish(job->exec->store, &job->result, job->result_text, job->done_ms, cmd_exec_on_orphan_recorded, job);
}

/*
 * An answer for a requestid no job here waits for (sent before this
 * executor dropped the command): record it through the Redis mapping, so
 * whoever owns the command now finds the real outcome.  Never published here.
 */
static void cmd_exec_orphan_answer(cmd_exec_t *exec, int32_t requestid, cmd_status_t status, int code,
                                   json_t *data /* stolen */) {
  cmd_job_t *job = cmd_job_new(exec, NULL);
  if (!job) {
    json_decref(data);
    return;
  }
  job->data = data;
  job->requestid = requestid;
  job->result.status = status;
  job->code = code;
  job->state = CMD_JOB_FINISHING;
  job->busy = 1;
  cmd_store_request_id(exec->store, requestid, cmd_exec_on_orphan_id, job);
}

static void cmd_exec_on_response(cmd_exec_t *exec, const RequestResponse *response) {
  cmd_job_t *job = cmd_exec_by_requestid(exec, response->requestid);
  cmd_status_t status = response->result == 0 ? CMD_STATUS_SUCCEEDED : CMD_STATUS_FAILED;
  if (job && job->state == CMD_JOB_CALLING) { /* answered before: its call's report decides */
    BLOG_D(CMD, job->id, "requestid=%d answered again: ignored", response->requestid);
    return;
  }
  if (!job || (job->state != CMD_JOB_SENT && job->state != CMD_JOB_ORPHANED) || job->busy) {
    cmd_exec_orphan_answer(exec, response->requestid, status, response->result, NULL);
    return;
  }
  const char *add = response->additional && *response->additional ? response->additional : NULL;
  if (job->state == CMD_JOB_SENT && job->call_wait && response->result == 0) {
    cmd_exec_call_decide(exec, job);
    return;
  }
  cmd_exec_outcome(exec, job, status, 1, response->result, CMD_REASON_NONE, add, cmd_exec_data(job, NULL));
}

void cmd_exec_on_call_report(cmd_exec_t *exec, const cmd_call_report_t *report) {
  char k[128];
  cmd_job_call_key(report->line_guid, report->referencecallid, k, sizeof(k));
  cmd_job_t *job = strmap_get(&exec->by_reference, k);
  if (!job || job->busy || job->call_seen || job->call_lost)
    return; /* no command waits for it, or its first report came already */
  job->call_callid = report->callid;
  if (report->lost) {
    job->call_lost = 1;
    job->lost_reason = report->reason;
    job->lost_thisend = report->thisenddropped;
    snprintf(job->lost_description, sizeof(job->lost_description), "%s",
             report->description ? report->description : "");
  } else {
    job->call_seen = 1;
    snprintf(job->call_leg, sizeof(job->call_leg), "%s", report->leg ? report->leg : "");
  }
  BLOG_D(CMD, job->id, "its call (referencecallid %d) %s: callid %d", report->referencecallid,
         report->lost ? "lost at once" : "reported", report->callid);
  if (job->state == CMD_JOB_CALLING)
    cmd_exec_call_decide(exec, job);
}

static void cmd_exec_on_generaldata(cmd_exec_t *exec, const GeneralData *gd) {
  cmd_job_t *job = cmd_exec_by_requestid(exec, gd->responseid);
  int code = 0;
  json_t *data = NULL;
  if (gd->payload_case == GENERAL_DATA__PAYLOAD_VERSIONINFO) {
    data = json_pack("{s:s}", "versioninfo", gd->versioninfo ? gd->versioninfo : "");
  } else if (gd->payload_case == GENERAL_DATA__PAYLOAD_GETFILE && gd->getfile) {
    code = gd->getfile->result;
    data = json_pack("{s:o}", "getfile", codec_json_from_pb(&gd->getfile->base));
  }
  cmd_status_t status = code == 0 ? CMD_STATUS_SUCCEEDED : CMD_STATUS_FAILED;
  if (!job || (job->state != CMD_JOB_SENT && job->state != CMD_JOB_ORPHANED) || job->busy) {
    cmd_exec_orphan_answer(exec, gd->responseid, status, code, data);
    return;
  }
  cmd_exec_outcome(exec, job, status, 1, code, CMD_REASON_NONE, NULL, data);
}

void cmd_exec_on_message(cmd_exec_t *exec, const Message *msg) {
  if (msg->payload_case == MESSAGE__PAYLOAD_RESPONSE) {
    if (msg->response->requestid >= CMD_REQUESTID_BASE)
      cmd_exec_on_response(exec, msg->response);
    else if (msg->response->result != 0)
      BLOG_W(PBX, NULL, "requestid=%d: %s (%d)", msg->response->requestid, codec_result_name(msg->response->result),
             msg->response->result);
  } else if (msg->payload_case == MESSAGE__PAYLOAD_GENERALDATA && msg->generaldata->responseid >= CMD_REQUESTID_BASE) {
    cmd_exec_on_generaldata(exec, msg->generaldata);
  }
}

void cmd_exec_snapshot_done(cmd_exec_t *exec, const char *tag, size_t events, size_t failed) {
  cmd_job_t *job = strmap_get(&exec->by_id, tag);
  if (!job || job->state != CMD_JOB_SNAPSHOT) {
    BLOG_D(CMD, tag, "snapshot settled (%zu events) after its outcome: ignored", events);
    return;
  }
  if (failed) {
    cmd_exec_reject(exec, job, CMD_REASON_INTERNAL, "%zu of the %zu re-emitted events not confirmed by Kafka", failed,
                    events);
    return;
  }
  cmd_exec_outcome(exec, job, CMD_STATUS_SUCCEEDED, 0, 0, CMD_REASON_NONE, NULL,
                   json_pack("{s:I}", "events", (json_int_t)events));
}

/* ---- deadlines ---- */

static void cmd_exec_timeout(cmd_exec_t *exec, cmd_job_t *job) {
  char reason[300];
  long long ms = (long long)(job->deadline_ms - job->received_ms);
  switch (job->state) {
  case CMD_JOB_SENT:
    snprintf(reason, sizeof(reason), "no answer from the PBX by the deadline (%lld ms)", ms);
    break;
  case CMD_JOB_ORPHANED:
    snprintf(reason, sizeof(reason),
             "no answer by the deadline (%lld ms): sent before a restart or failover, its answer went to that "
             "connection; not sent again", ms);
    break;
  case CMD_JOB_SNAPSHOT:
    snprintf(reason, sizeof(reason), "re-emitted events not all confirmed by Kafka by the deadline (%lld ms)", ms);
    break;
  case CMD_JOB_CALLING: /* the PBX said SUCCESS: not a timeout, but the call was not seen */
    snprintf(reason, sizeof(reason), "the PBX accepted it; the call was not reported by the deadline (%lld ms)", ms);
    cmd_exec_outcome(exec, job, CMD_STATUS_SUCCEEDED, 1, 0, CMD_REASON_NONE, reason, cmd_exec_data(job, NULL));
    return;
  default:
    snprintf(reason, sizeof(reason), "not sent: the PBX was not ready by the deadline (%lld ms)", ms);
    break;
  }
  cmd_exec_outcome(exec, job, CMD_STATUS_TIMEOUT, 0, 0, CMD_REASON_NONE, reason, cmd_exec_data(job, NULL));
}

/* The scan found commands past their deadline; those without a job here are a dead run's or owner's. */
static void cmd_exec_on_scanned(void *opaque, const cmd_store_res_t *res) {
  cmd_exec_t *exec = opaque;
  exec->scan_busy = 0;
  if (exec->destroying)
    return;
  if (res->rc == CMD_STORE_FAILED) {
    BLOG_D(CMD, NULL, "deadline scan: %s", res->errstr);
    return;
  }
  if (res->rc == CMD_STORE_FENCED) {
    cmd_exec_fenced(exec, res->value, "scanning deadlines");
    return;
  }
  if (!exec->owned)
    return;
  for (size_t i = 0; i < res->n_expired; i++) {
    const cmd_store_expired_t *e = &res->expired[i];
    if (strmap_get(&exec->by_id, e->id))
      continue; /* a job here: its own deadline decides */
    cmd_job_t *job = cmd_job_new(exec, NULL);
    if (!job)
      return;
    snprintf(job->id, sizeof(job->id), "%s", e->id);
    snprintf(job->action, sizeof(job->action), "%s", e->action);
    snprintf(job->reply_to, sizeof(job->reply_to), "%s", e->reply_to);
    job->requestid = e->requestid;
    job->received_ms = e->received_ms;
    job->deadline_ms = e->deadline_ms;
    cmd_job_index(exec, job);
    cmd_exec_outcome(exec, job, CMD_STATUS_TIMEOUT, 0, 0, CMD_REASON_NONE,
                     job->requestid ? "no answer from the PBX by the deadline (sent before a restart or failover)"
                                    : "not sent by the deadline (claimed before a restart or failover)",
                     NULL);
  }
}

/* ---- ownership ---- */

/* A result handed to Kafka, or its `published` mark in flight. */
static int cmd_job_going_out(const cmd_job_t *job) {
  return job->busy && (job->state == CMD_JOB_EMITTING || job->state == CMD_JOB_MARKING);
}

/*
 * Drop every job: their messages are settled 0 (not committed); the new
 * owner reads them again.  A result already on its way to Kafka goes on
 * (its `published` mark spares the new owner publishing it twice), without
 * its message.
 */
static void cmd_exec_drop_all(cmd_exec_t *exec) {
  for (cmd_job_t *job = exec->head; job; job = job->next) {
    if (cmd_job_going_out(job) && job->token) {
      if (exec->conf.settled)
        exec->conf.settled(exec->conf.settled_opaque, job->token, 0);
      job->token = NULL;
    }
  }
  for (;;) { /* settling one may settle its followers too: look again from the start */
    cmd_job_t *job = exec->head;
    while (job && cmd_job_going_out(job))
      job = job->next;
    if (!job)
      break;
    cmd_job_settle(exec, job, 0);
  }
}

static void cmd_exec_fenced(cmd_exec_t *exec, int64_t holder, const char *what) {
  BLOG_W(CMD, exec->pbx_id, "%s: fenced: the PBX's commands are owned under epoch %lld (ours %lld); not executing "
                            "any more", what, (long long)holder, (long long)exec->epoch);
  exec->want_own = 0;
  exec->owned = 0;
  exec->epoch = 0;
  cmd_exec_drop_all(exec);
}

static void cmd_exec_own_start(cmd_exec_t *exec);

static void cmd_exec_on_owned(void *opaque, const cmd_store_res_t *res) {
  cmd_exec_t *exec = opaque;
  exec->own_busy = 0;
  if (exec->destroying || !exec->want_own)
    return;
  switch (res->rc) {
  case CMD_STORE_FAILED:
    cmd_exec_redis_failed(exec, NULL, "taking over the PBX's commands", res->errstr);
    exec->own_retry_mono = bclock_mono_ms() + CMD_EXEC_RETRY_MS;
    return;
  case CMD_STORE_FENCED:
    exec->want_own = 0;
    BLOG_W(CMD, exec->pbx_id, "not the owner: epoch %lld holds the PBX's commands (asked for %lld)",
           (long long)res->value, (long long)exec->want_epoch);
    return;
  default:
    cmd_exec_redis_ok(exec);
    if (exec->want_epoch && exec->want_epoch != res->value) { /* asked again meanwhile */
      cmd_exec_own_start(exec);
      return;
    }
    exec->owned = 1;
    exec->epoch = res->value;
    BLOG_I(CMD, exec->pbx_id, "owner of the PBX's commands (epoch %lld)", (long long)exec->epoch);
    for (cmd_job_t *job = exec->head, *next; job; job = next) {
      next = job->next;
      if (job->state == CMD_JOB_WAITING)
        cmd_exec_dispatch(exec, job);
    }
    return;
  }
}

static void cmd_exec_own_start(cmd_exec_t *exec) {
  exec->own_busy = 1;
  cmd_store_own(exec->store, exec->want_epoch, cmd_exec_on_owned, exec);
}

void cmd_exec_own(cmd_exec_t *exec, int64_t epoch) {
  if (exec->owned && (epoch == 0 || epoch == exec->epoch) && exec->want_own)
    return;
  exec->want_own = 1;
  exec->want_epoch = epoch;
  if (exec->owned && epoch != exec->epoch) { /* a new epoch: stop sending under the old one meanwhile */
    exec->owned = 0;
    exec->epoch = 0;
  }
  exec->own_retry_mono = 0;
  if (!exec->own_busy)
    cmd_exec_own_start(exec);
}

void cmd_exec_disown(cmd_exec_t *exec) {
  if (exec->owned || exec->want_own)
    BLOG_I(CMD, exec->pbx_id, "no longer the owner of the PBX's commands (epoch %lld): %zu command(s) left to the "
                              "next owner", (long long)exec->epoch, exec->live);
  exec->want_own = 0;
  exec->owned = 0;
  exec->epoch = 0;
  cmd_exec_drop_all(exec);
}

int64_t cmd_exec_epoch(const cmd_exec_t *exec) { return exec->owned ? exec->epoch : 0; }

/* ---- the tick ---- */

void cmd_exec_tick(cmd_exec_t *exec, int64_t now_ms) {
  int64_t mono = bclock_mono_ms();
  if (exec->want_own && !exec->owned && !exec->own_busy && mono >= exec->own_retry_mono)
    cmd_exec_own_start(exec);
  for (cmd_job_t *job = exec->head, *next; job; job = next) {
    next = job->next; /* a settled job leaves the list; those after it stay */
    if (job->busy)
      continue;
    switch (job->state) {
    case CMD_JOB_HELD:
      if (mono >= job->retry_mono)
        cmd_exec_claim(exec, job);
      break;
    case CMD_JOB_WAITING:
      if (now_ms >= job->deadline_ms)
        cmd_exec_timeout(exec, job);
      else
        cmd_exec_dispatch(exec, job);
      break;
    case CMD_JOB_SENT:
    case CMD_JOB_CALLING:
    case CMD_JOB_ORPHANED:
    case CMD_JOB_SNAPSHOT:
      if (now_ms >= job->deadline_ms)
        cmd_exec_timeout(exec, job);
      break;
    case CMD_JOB_UNRECORDED:
      if (mono >= job->retry_mono)
        cmd_exec_record(exec, job);
      break;
    case CMD_JOB_UNEMITTED:
      if (mono >= job->retry_mono)
        cmd_exec_emit(exec, job);
      break;
    default:
      break;
    }
  }
  if (exec->owned && !exec->scan_busy && mono >= exec->next_scan_mono && !cmd_exec_blocked(exec)) {
    exec->next_scan_mono = mono + CMD_EXEC_SCAN_MS;
    exec->scan_busy = 1;
    cmd_store_expired(exec->store, now_ms, exec->epoch, CMD_EXEC_EXPIRED_MAX, cmd_exec_on_scanned, exec);
  }
}

/* ---- life ---- */

int cmd_exec_new(const cmd_exec_config_t *conf, cmd_exec_t **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  cmd_exec_t *exec = calloc(1, sizeof(*exec));
  if (!exec) {
    snprintf(errstr, errstr_size, "commands: out of memory");
    return -1;
  }
  exec->conf = *conf;
  exec->metrics = metrics_pbx(conf->pbx_id);
  snprintf(exec->pbx_id, sizeof(exec->pbx_id), "%s", conf->pbx_id);
  snprintf(exec->results_topic, sizeof(exec->results_topic), "%s", conf->results_topic);
  snprintf(exec->ce_source, sizeof(exec->ce_source), "/mtcti3/%s", conf->pbx_id);
  exec->conf.pbx_id = exec->pbx_id;
  exec->conf.results_topic = exec->results_topic;
  exec->conf.parse.pbx_id = exec->pbx_id;
  exec->conf.policy_file = NULL;
  if (cmd_policy_load(conf->policy_file, &exec->policy, errstr, errstr_size) != 0) {
    free(exec);
    return -1;
  }
  cmd_store_config_t sconf;
  cmd_store_config_init(&sconf);
  sconf.pbx_id = conf->pbx_id;
  sconf.ttl_ms = conf->result_ttl_ms;
  sconf.claim_ttl_ms = conf->claim_ttl_ms;
  if (cmd_store_new(&sconf, conf->redis, &exec->store, errstr, errstr_size) != 0) {
    cmd_policy_free(exec->policy);
    free(exec);
    return -1;
  }
  *out = exec;
  return 0;
}

int cmd_exec_policy_reload(cmd_exec_t *exec, const char *path, char *errstr, size_t errstr_size) {
  cmd_policy_t *policy = NULL;
  if (cmd_policy_load(path, &policy, errstr, errstr_size) != 0)
    return -1; /* the running policy stays */
  cmd_policy_free(exec->policy);
  exec->policy = policy;
  return 0;
}

void cmd_exec_destroy(cmd_exec_t *exec) {
  if (!exec)
    return;
  size_t left = exec->live;
  exec->destroying = 1;
  cmd_store_destroy(exec->store); /* answers its operations; the callbacks see `destroying` */
  while (exec->head) {
    cmd_job_t *job = exec->head;
    int emitting = job->busy; /* only an emit can still be pending: its answer frees the job */
    cmd_job_settle(exec, job, 0);
    if (emitting)
      job->exec = NULL;
  }
  if (left)
    BLOG_I(CMD, exec->pbx_id, "%zu command(s) without a confirmed outcome at exit: read again at the next start", left);
  strmap_clear(&exec->by_id, NULL);
  strmap_clear(&exec->by_requestid, NULL);
  strmap_clear(&exec->by_reference, NULL);
  cmd_policy_free(exec->policy);
  free(exec);
}

/* ---- state ---- */

int cmd_exec_blocked(const cmd_exec_t *exec) {
  redis_client_health_t health;
  redis_client_health(exec->conf.redis, &health);
  return !health.connected;
}

int cmd_exec_ready(const cmd_exec_t *exec, char *why, size_t why_size) {
  redis_client_health_t health;
  redis_client_health(exec->conf.redis, &health);
  if (!health.connected) {
    snprintf(why, why_size, "Redis unreachable (%s)%s%s", health.address, health.last_error[0] ? ": " : "",
             health.last_error);
    return 0;
  }
  if (exec->want_own && !exec->owned) {
    snprintf(why, why_size, "taking over the PBX's commands");
    return 0;
  }
  return 1;
}

size_t cmd_exec_live(const cmd_exec_t *exec) { return exec->live; }

size_t cmd_exec_finishing(const cmd_exec_t *exec) {
  size_t n = 0;
  for (const cmd_job_t *job = exec->head; job; job = job->next)
    n += job->state >= CMD_JOB_FINISHING && job->state <= CMD_JOB_MARKING;
  return n;
}
