/*
 * cmd_store: the commands' records in Redis: idempotency claims, where each
 * command was read, requestids, the requestid -> command mapping, in-flight
 * deadlines, outcomes, and the fencing token of the PBX's owner.
 *
 * DESIGN.  Keys, for PBX <pbx> and command id <id> (docs/commands.md):
 *
 *   mtcti3:<pbx>:claim:<id>        string  SET NX PX <claim ttl>: {"action","claimed_ms","src"}
 *   mtcti3:<pbx>:cmd:<id>          hash    id, status, action, code, reason, reason_code,
 *                                          requestid, received_ms, sent_ms, deadline_ms,
 *                                          done_ms, latency_ms, data, src, reply_to, epoch,
 *                                          result, published; PX <ttl>
 *   mtcti3:<pbx>:cmd-inflight      zset    member <id>, score deadline_ms
 *   mtcti3:<pbx>:cmd-requestid     string  INCR counter
 *   mtcti3:<pbx>:req:<requestid>   string  <id>, PX <ttl>
 *   mtcti3:<pbx>:owner             string  the owner's epoch (fencing token)
 *   channel mtcti3:<pbx>:cmd:<id>          PUBLISH of the final result JSON
 *
 * Each step is one Lua script (EVALSHA, and EVAL when Redis answers
 * NOSCRIPT), so what must be atomic is:
 *
 *   own       the new owner's epoch: epoch 0 draws the next (INCR); an
 *             explicit epoch below the one stored is refused.
 *   claim     SET NX of the claim, the record (status received, deadline,
 *             src = topic/partition/offset where the command was read) and
 *             the in-flight entry; or, when the id was claimed before, the
 *             record, so the caller tells a redelivery of the same message
 *             (same src) from a new message that repeats the id.
 *   accepted  only for the current owner's epoch (else FENCED: a paused
 *             zombie cannot send after a takeover), only for a command
 *             without a final outcome (else FINAL, with the record) and not
 *             accepted under another epoch (else FINAL too: it may have been
 *             sent; it must never be sent again): draws the requestid (INCR,
 *             mapped into [2^30, 2^31 - 1), so it never collides with the
 *             link's subscribe requestids below 2^30), records status
 *             accepted, requestid, sent_ms, epoch, the mapping and the
 *             deadline.  One round trip instead of three.
 *   finish    the final outcome and its result text, only over a non-final
 *             status (else FINAL with the record holding the first outcome
 *             and its result), out of flight, PUBLISHed.
 *   published the result is confirmed by Kafka: a redelivered message whose
 *             outcome was published is not published again.
 *   expired   the in-flight commands past their deadline, for the owner's
 *             epoch only.
 *
 * Asynchronous: every operation takes a completion callback that receives
 * a result (cmd_store_res_t), never a Redis reply, exactly once, never from
 * inside the call (except when memory runs out, or for a finish the API
 * refuses: FAILED at once).  The store runs on the loop's thread over the shared
 * redis_client (borrowed) and never blocks.  Secrets are never written: the
 * store sees results, not arguments.
 */
#ifndef CMD_STORE_H
#define CMD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd_parse.h"
#include "cmd_result.h"
#include "redis_client.h"

#define CMD_REQUESTID_BASE 0x40000000L /* 2^30 */
#define CMD_REQUESTID_SPAN 0x3fffffffL

typedef struct cmd_store_config {
  const char *pbx_id;   /* the <pbx> of every key */
  int64_t ttl_ms;       /* records and mappings; default 24 h */
  int64_t claim_ttl_ms; /* idempotency claims; 0: ttl_ms */
} cmd_store_config_t;

void cmd_store_config_init(cmd_store_config_t *conf);

typedef struct cmd_store cmd_store_t;

/* What became of an operation (which ones can give which: see each). */
typedef enum cmd_store_rc {
  CMD_STORE_FAILED = -1, /* Redis unreachable, timed out or refused: errstr */
  CMD_STORE_DONE = 0,    /* done as asked */
  CMD_STORE_SEEN,        /* claim: the id was claimed before; record */
  CMD_STORE_FINAL,       /* accepted, finish: the command has its final outcome (or another owner's accept); record */
  CMD_STORE_FENCED,      /* own, accepted, expired: a newer owner holds the PBX; value = its epoch */
  CMD_STORE_ABSENT       /* get, request_id, accepted: no such record or mapping */
} cmd_store_rc_t;

/* One in-flight command past its deadline. */
typedef struct cmd_store_expired {
  char id[CMD_ID_MAX + 1];
  char action[64];
  int32_t requestid; /* 0: never sent */
  int64_t received_ms;
  int64_t deadline_ms;
  char reply_to[CMD_TOPIC_MAX + 1]; /* "" : the results topic */
} cmd_store_expired_t;

/* An operation's result; everything in it is borrowed for the callback. */
typedef struct cmd_store_res {
  cmd_store_rc_t rc;
  const char *errstr;          /* FAILED: one line */
  const json_t *record;        /* SEEN, FINAL, get DONE: the record, an object of strings ({} if expired) */
  int64_t value;               /* accepted DONE: the requestid; own DONE and FENCED: an epoch */
  const char *id;              /* request_id DONE: the command */
  const cmd_store_expired_t *expired; /* expired DONE: n_expired of them, oldest first */
  size_t n_expired;
} cmd_store_res_t;

typedef void(cmd_store_cb)(void *opaque, const cmd_store_res_t *res);

/* Where a command was read from Kafka; recorded by its claim. */
typedef struct cmd_store_src {
  const char *topic;
  int32_t partition;
  int64_t offset;
} cmd_store_src_t;

/* "topic/partition/offset", as the record's src field holds it. */
void cmd_store_src_text(const cmd_store_src_t *src, char *out, size_t size);

/* 0 and *store over `redis` (borrowed: outlives the store), or -1 with errstr (a bad pbx id). */
int cmd_store_new(const cmd_store_config_t *conf, redis_client_t *redis, cmd_store_t **store, char *errstr,
                  size_t errstr_size);
/* Answers every operation still pending (FAILED, "command store closed"), then frees. */
void cmd_store_destroy(cmd_store_t *store);

/* Become the PBX's owner with `epoch` (0: the next one).  DONE (value: the epoch) or FENCED. */
void cmd_store_own(cmd_store_t *store, int64_t epoch, cmd_store_cb *cb, void *opaque);

/*
 * Claim `id` (action NULL for an unparsable command; reply_to NULL for
 * none) read at `src`.  DONE: claimed, this owner runs it (status received,
 * deadline in flight); SEEN: claimed before, the record tells where it was
 * read and how far it got.
 */
void cmd_store_claim(cmd_store_t *store, const char *id, const char *action, const char *reply_to,
                     int64_t received_ms, int64_t deadline_ms, const cmd_store_src_t *src, cmd_store_cb *cb,
                     void *opaque);

/*
 * Record, before sending, that `id` goes to the PBX now: DONE with the
 * requestid (value) to send it with; FENCED (value: the owner's epoch);
 * FINAL (record): already finished, or accepted by another epoch's owner;
 * ABSENT: the record expired.
 */
void cmd_store_accepted(cmd_store_t *store, const char *id, int64_t epoch, int64_t sent_ms, int64_t deadline_ms,
                        cmd_store_cb *cb, void *opaque);

/* The command a requestid answers: DONE (id) or ABSENT. */
void cmd_store_request_id(cmd_store_t *store, int32_t requestid, cmd_store_cb *cb, void *opaque);

/*
 * Record a final outcome (not duplicate) with `text`, its JSON as
 * cmd_result_json_text() renders it, and PUBLISH it: DONE; FINAL when the
 * command already had one (record: that outcome, its result and whether it
 * was published).
 */
void cmd_store_finish(cmd_store_t *store, const cmd_result_t *result, const char *text, int64_t done_ms,
                      cmd_store_cb *cb, void *opaque);

/* The outcome's result is confirmed by Kafka: DONE (ABSENT when the record expired). */
void cmd_store_published(cmd_store_t *store, const char *id, cmd_store_cb *cb, void *opaque);

/* PUBLISH a rendered result (a duplicate's) on `id`'s channel: DONE. */
void cmd_store_publish(cmd_store_t *store, const char *id, const char *text, cmd_store_cb *cb, void *opaque);

/* The record of `id`: DONE (record) or ABSENT. */
void cmd_store_get(cmd_store_t *store, const char *id, cmd_store_cb *cb, void *opaque);

/*
 * Up to `max` in-flight commands whose deadline is before now_ms, oldest
 * first (DONE), for the owner of `epoch` (0: any; FENCED when another holds
 * the PBX).  The caller finishes each (timeout), which takes it out of
 * flight.  Records that expired meanwhile are dropped from the set.
 */
void cmd_store_expired(cmd_store_t *store, int64_t now_ms, int64_t epoch, size_t max, cmd_store_cb *cb,
                       void *opaque);

/* Operations sent and not yet answered. */
size_t cmd_store_pending(const cmd_store_t *store);

/*
 * The "duplicate" result for `id` from a stored record (as from a claim):
 * the first outcome's code, reason, requestid, action and data, status
 * duplicate and original_status.  New reference.  Pure.
 */
json_t *cmd_store_duplicate_json(const char *id, const json_t *record);

/* 1 for a record status that is a final outcome. */
int cmd_store_status_final(const char *status);

/* Key and channel names, for tests and tools: "mtcti3:<pbx>:<kind>[:<id>]". */
void cmd_store_key(const char *pbx_id, const char *kind, const char *id, char *out, size_t size);

#endif
