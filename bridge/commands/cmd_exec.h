/*
 * cmd_exec: one PBX's command executor.  A message of the command topic
 * becomes at most one MTCTI3 request, and exactly one result.
 *
 * DESIGN.  Runs on the bridge's event loop; nothing in it waits on the
 * network: Redis is reached through cmd_store (asynchronous), the PBX
 * through an ops table the PBX pipeline gives at construction
 * (cmd_pbx_ops_t: no knowledge of the snapshot state, subscriptions or link
 * here), Kafka through two callbacks (the results go out by `emit`; a
 * message is reported `settled` once its offset may be committed).  A
 * command walks forward through the steps, each one handing on to the next
 * from its completion:
 *
 *   cmd_exec_submit: parse and validate (cmd_parse) -> claim (cmd_store) ->
 *   policy (cmd_policy) -> resolve target and call (ops) -> available
 *   (cmd_action_available) -> accepted (cmd_store: fencing token and
 *   requestid in one round trip) -> build (cmd_build) -> send (ops)
 *   ... cmd_exec_on_message (RequestResponse, GeneralData) or the deadline
 *   -> finish (cmd_store) -> emit (the result, with CloudEvents headers) ->
 *   published (cmd_store) -> settled.
 *
 * A call made with a referencecallid (make_call and its special types,
 * unpark) is not over with the PBX's SUCCESS: the spec's MakeCall may fail
 * at once with only a CallLost, for a call never reported, that "the
 * application will have to match" by referencecallid.  So its outcome waits
 * for both the RequestResponse and the call's first report on the target's
 * line (cmd_exec_on_call_report, in either order): reported, it succeeded
 * (data: referencecallid, callid, leg); lost, it failed (data.calllost, the
 * PBX's reason); neither by the deadline, it succeeded with a reason saying
 * the call was not seen.  A RequestResponse error fails it at once.
 *
 * Exactly once, also across a failover.  The claim records where the
 * command was read (topic/partition/offset), so a redelivery of the same
 * message (a restart, or a new owner reading what the old one never
 * committed) is told from a new message that repeats an id:
 *   - same message, outcome final and published: nothing is published
 *     again, the message is settled;
 *   - same message, outcome final, not published (the old owner died
 *     between the two): the stored result is published, once;
 *   - same message, never accepted: this owner runs it;
 *   - same message, accepted (maybe sent) by an earlier owner or run: it is
 *     never sent again; at its deadline it times out, unless the old
 *     owner's answer was recorded first, whose result is then published;
 *   - a new message with an id seen before: "duplicate".
 * Only the owner sends: cmd_exec_own records its epoch in Redis (the
 * fencing token, mtcti3:<pbx>:owner) and every `accepted` checks it, so a
 * paused zombie cannot send after a takeover (it learns it is fenced and
 * stops).  cmd_exec_disown drops every command (settled 0: not committed;
 * the new owner reads them again); answers that still come for requests
 * it sent are recorded in Redis (through the requestid mapping), never
 * published by it.
 *
 * Every submitted message is settled exactly once; every decided outcome
 * is recorded before its result is emitted; every emitted result is
 * confirmed before its message is settled.  Redis unreachable: commands
 * wait at the step that failed and go on from it once Redis answers
 * (cmd_exec_blocked tells the Kafka side to pause).  Secrets never leave
 * the parsed command except in the MTCTI3 request.
 */
#ifndef CMD_EXEC_H
#define CMD_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "cmd_parse.h"
#include "cmd_policy.h"
#include "ipo_mtcti3.pb-c.h"
#include "redis_client.h"

/* A user or queue line the PBX knows; strings borrowed until the PBX pipeline runs again. */
typedef struct cmd_line {
  const char *guid;
  const char *extn;
} cmd_line_t;

/* The PBX, as the executor needs it; `pbx` is the pipeline's own pointer. */
typedef struct cmd_pbx_ops {
  /* 1 when a request may be sent now: the link is up and resynced. */
  int (*ready)(void *pbx);
  /* A user (by extension or GUID) or queue (by name, extension or GUID): 1 and *line, or 0. */
  int (*line_find)(void *pbx, cmd_target_kind_t kind, const char *name, cmd_line_t *line);
  /* The line's live subscription, whose SubscribeCmd carries the request; 0 when none (yet).
     CMD_PARK_LINE: the park server's. */
  int32_t (*line_subscription)(void *pbx, const char *line_guid);
  /* A call on the line by callid or referencecallid: 1, its current callid and featuresavailable words, or 0. */
  int (*call_find)(void *pbx, const char *line_guid, cmd_call_kind_t by, int32_t value, int32_t *callid,
                   uint32_t *features, uint32_t *features2);
  /* A user's NotifyUser.featuresavailable: 1 and *features, or 0 when not known. */
  int (*user_features)(void *pbx, const char *user_guid, uint32_t *features);
  /* Write one request to the PBX: 0, or -1 with errstr (not sent). */
  int (*send)(void *pbx, const Message *msg, char *errstr, size_t errstr_size);
  /*
   * Emit the current state again as r events: `topics` (n_topics names of
   * calls, presence, queues, lines; NULL for all), one line's entities or
   * every line's (line_guid NULL).  Returns how many; cmd_exec_snapshot_done
   * is called with `tag` once Kafka has settled them all, exactly once
   * (maybe before this returns).
   */
  size_t (*snapshot)(void *pbx, const char *const *topics, size_t n_topics, const char *line_guid, const char *tag);
  /* The call parked in `slot` on the park server: 1, its callid and featuresavailable words, or 0. */
  int (*park_find)(void *pbx, const char *slot, int32_t *callid, uint32_t *features, uint32_t *features2);
  /* 1 when the line's subscription reports its calls (ccflags), so a new call's report can be awaited. */
  int (*calls_reported)(void *pbx, const char *line_guid);
} cmd_pbx_ops_t;

/* A call made with a referencecallid, as the PBX pipeline saw it (borrowed for the call). */
typedef struct cmd_call_report {
  const char *line_guid;
  int32_t referencecallid;
  int32_t callid;
  const char *leg;         /* the call leg's key (the calls topic's); NULL when lost */
  int lost;                /* only a CallLost: the call failed before it was ever reported */
  int32_t reason;          /* CallLost.reason */
  int thisenddropped;
  const char *description; /* CallLost.description */
} cmd_call_report_t;

/* The park server's line, as line_subscription and call_find know it. */
#define CMD_PARK_LINE "parkserver"

/* A result on its way to Kafka; everything borrowed for the call (copy what is kept). */
typedef struct cmd_emit_header {
  const char *name;
  const char *value;
} cmd_emit_header_t;

#define CMD_EMIT_HEADERS_MAX 8

typedef struct cmd_emit {
  const char *topic; /* reply_to, or the results topic */
  const char *key;   /* the command id (or the message's key); NULL: none */
  size_t key_len;
  const char *value; /* the result JSON */
  size_t value_len;
  const cmd_emit_header_t *headers; /* CloudEvents: ce_specversion, ce_id, ce_source, ce_type, ce_time, ... */
  size_t n_headers;
} cmd_emit_t;

/* The emitter's answer: delivered 1 when Kafka confirmed the result, 0 when it never will (shutdown). */
typedef void(cmd_emit_done_cb)(void *done_opaque, int delivered);
/* Hand a result to Kafka; `done` exactly once, later (never from inside). */
typedef void(cmd_emit_fn)(void *opaque, const cmd_emit_t *msg, cmd_emit_done_cb *done, void *done_opaque);
/* A submitted message is settled: ok 1, its offset may be committed; 0, it must not be (dropped). */
typedef void(cmd_exec_settled_fn)(void *opaque, void *token, int ok);

typedef struct cmd_exec_config {
  const char *pbx_id;
  const char *results_topic;   /* <prefix>command-results */
  cmd_parse_config_t parse;    /* limits of cmd_parse (pbx_id set from above) */
  const char *policy_file;     /* the operator's policy (cmd_policy); NULL or "": everything allowed */
  redis_client_t *redis;       /* borrowed; outlives the executor */
  int64_t result_ttl_ms, claim_ttl_ms;
  const cmd_pbx_ops_t *ops;
  void *pbx;
  cmd_emit_fn *emit;
  void *emit_opaque;
  cmd_exec_settled_fn *settled;
  void *settled_opaque;
} cmd_exec_config_t;

typedef struct cmd_exec cmd_exec_t;

/* 0 and *exec, or -1 with errstr (a bad policy file).  Not the owner until cmd_exec_own. */
int cmd_exec_new(const cmd_exec_config_t *conf, cmd_exec_t **exec, char *errstr, size_t errstr_size);
/*
 * Read the policy file at `path` again (NULL or "": everything allowed) and
 * check every command against it from now on (SIGHUP).  0, or -1 with
 * errstr, the running policy kept: a bad file changes nothing.
 */
int cmd_exec_policy_reload(cmd_exec_t *exec, const char *path, char *errstr, size_t errstr_size);
/* Every message not yet settled is settled 0; pending Redis work is abandoned.  Safe on NULL. */
void cmd_exec_destroy(cmd_exec_t *exec);

/* One message of the command topic, borrowed for the call. */
typedef struct cmd_exec_input {
  const char *topic;
  int32_t partition;
  int64_t offset;
  const void *key;
  size_t key_len;
  const void *value;
  size_t value_len;
} cmd_exec_input_t;

/* Take a message; `token` comes back through `settled`, exactly once, never from inside. */
void cmd_exec_submit(cmd_exec_t *exec, const cmd_exec_input_t *in, void *token);

/* The PBX pipeline: a RequestResponse or GeneralData that is not the subscriptions'. */
void cmd_exec_on_message(cmd_exec_t *exec, const Message *msg);
/* The PBX pipeline: a call made with a referencecallid was reported, or lost before it ever was. */
void cmd_exec_on_call_report(cmd_exec_t *exec, const cmd_call_report_t *report);
/* The PBX pipeline: the snapshot `tag` has all its events settled by Kafka (failed of them refused). */
void cmd_exec_snapshot_done(cmd_exec_t *exec, const char *tag, size_t events, size_t failed);
/* Periodic work (every 100 ms or so): waiting commands, deadlines, retries after Redis failed. */
void cmd_exec_tick(cmd_exec_t *exec, int64_t now_ms);

/*
 * Ownership (issue #10): become the PBX's command owner with `epoch` (0:
 * the next one Redis draws; an explicit one must not go backwards).
 * Commands wait until Redis has recorded it; a newer owner's epoch
 * refuses it (logged).
 */
void cmd_exec_own(cmd_exec_t *exec, int64_t epoch);
/* Stop being the owner: every command is dropped unsettled (settled 0). */
void cmd_exec_disown(cmd_exec_t *exec);
/* The epoch this executor owns the PBX with; 0 when it does not. */
int64_t cmd_exec_epoch(const cmd_exec_t *exec);

/* For /readyz: 1, or 0 with why ("Redis unreachable: ...", "not the owner yet"). */
int cmd_exec_ready(const cmd_exec_t *exec, char *why, size_t why_size);
/* 1 while Redis is unreachable: the Kafka side pauses the topic. */
int cmd_exec_blocked(const cmd_exec_t *exec);
/* Messages taken and not settled; of them, those whose outcome is decided and on its way out. */
size_t cmd_exec_live(const cmd_exec_t *exec);
size_t cmd_exec_finishing(const cmd_exec_t *exec);

#endif
