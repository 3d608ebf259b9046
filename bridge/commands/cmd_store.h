/*
 * cmd_store: the commands' records in Redis: idempotency claims, requestids,
 * the requestid -> command mapping, in-flight deadlines and outcomes.
 *
 * DESIGN.  Keys, for PBX <pbx> and command id <id> (docs/commands.md):
 *
 *   mtcti3:<pbx>:claim:<id>        string  SET NX PX <ttl>: {"action","claimed_ms"}
 *   mtcti3:<pbx>:cmd:<id>          hash    id, status, action, code, code_name,
 *                                          reason, reason_code, requestid,
 *                                          received_ms, sent_ms, deadline_ms,
 *                                          done_ms, latency_ms, data; PX <ttl>
 *   mtcti3:<pbx>:cmd-inflight      zset    member <id>, score deadline_ms
 *   mtcti3:<pbx>:cmd-requestid     string  INCR counter
 *   mtcti3:<pbx>:req:<requestid>   string  <id>, PX <ttl>
 *   channel mtcti3:<pbx>:cmd:<id>          PUBLISH of the final result JSON
 *
 * A claim is atomic with the hash (status "received") and the in-flight
 * entry (a Lua script), so a command that was claimed but never sent, because
 * the bridge died in between, still reaches its deadline and gets a
 * "timeout" outcome from cmd_store_expired() after a restart: every claimed
 * command completes exactly once.  cmd_store_finish() writes a final status
 * only over a non-final one (also a script), so a late RequestResponse and the
 * timeout scan cannot both complete a command.
 *
 * Requestids: INCR of one counter per PBX, never reset, mapped into
 * [2^30, 2^31 - 1): they never repeat within a PBX connection (nor across
 * connections, until 2^30 commands have been sent), and they cannot collide
 * with the bridge's own subscribe requestids, which stay below 2^30.
 *
 * Synchronous hiredis: every call is one round trip (a script or a
 * pipeline), bounded by `timeout_ms` for connect, read and write.  Commands
 * are rare next to notifies, the claim must be recorded before the command
 * may run anyway, and a Redis that does not answer in time is treated as
 * down: the call returns -1, the context is dropped and the next call
 * reconnects.  The bridge pauses consumption of the command topic while calls
 * fail.  Secrets are never written: the store sees results, not arguments.
 * Runs on the bridge's loop thread; not thread-safe.
 */
#ifndef CMD_STORE_H
#define CMD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd_parse.h"
#include "cmd_result.h"

#define CMD_REQUESTID_BASE 0x40000000L /* 2^30 */
#define CMD_REQUESTID_SPAN 0x3fffffffL

typedef struct cmd_store_config {
  const char *url;     /* redis://[[user]:password@]host[:port][/db] */
  const char *pbx_id;  /* the <pbx> of every key */
  int timeout_ms;      /* bound on connect and on each call; default 500 */
  int64_t ttl_ms;      /* records and mappings; default 24 h */
  int64_t claim_ttl_ms; /* idempotency claims; 0: ttl_ms */
} cmd_store_config_t;

void cmd_store_config_init(cmd_store_config_t *conf);

typedef struct cmd_store cmd_store_t;

/* Parse the URL and connect.  -1 with errstr only for a bad URL; an
 * unreachable server is retried by every later call. */
int cmd_store_new(const cmd_store_config_t *conf, cmd_store_t **store, char *errstr,
                  size_t errstr_size);
void cmd_store_destroy(cmd_store_t *store);
/* 0 when Redis answers PING now, else -1 with errstr. */
int cmd_store_ping(cmd_store_t *store, char *errstr, size_t errstr_size);

/*
 * Claim command `id` (action may be NULL for an unparsable command).
 * Returns 1: claimed, this bridge runs it (the record says "received",
 * deadline_ms is in flight); 0: seen before, *stored (new reference) is the
 * record as cmd_store_get() gives it (maybe {} if it expired); -1: Redis
 * error, nothing claimed.
 */
int cmd_store_claim(cmd_store_t *store, const char *id, const char *action, int64_t now_ms,
                    int64_t deadline_ms, json_t **stored, char *errstr, size_t errstr_size);

/* A requestid never used before on this PBX.  0, or -1 on a Redis error. */
int cmd_store_next_requestid(cmd_store_t *store, int32_t *requestid, char *errstr,
                             size_t errstr_size);

/* Record that `id` was sent as `requestid` (status accepted, the mapping and
 * the in-flight deadline).  Call before sending.  0 or -1. */
int cmd_store_accepted(cmd_store_t *store, const char *id, int32_t requestid, int64_t sent_ms,
                       int64_t deadline_ms, char *errstr, size_t errstr_size);

/* The command a RequestResponse's requestid answers: 1 and id, 0 unknown, -1 error. */
int cmd_store_request_id(cmd_store_t *store, int32_t requestid, char *id, size_t id_size,
                         char *errstr, size_t errstr_size);

/*
 * Record a final outcome and PUBLISH it on the command's channel, unless the
 * command already has a final outcome.  `text` is the result as
 * cmd_result_json_text() renders it (the caller has it for Kafka anyway);
 * NULL renders it here.  1: recorded, 0: already final (nothing written),
 * -1: Redis error.
 */
int cmd_store_finish(cmd_store_t *store, const cmd_result_t *result, const char *text,
                     int64_t done_ms, char *errstr, size_t errstr_size);

/* PUBLISH a rendered result (a duplicate's JSON) on `id`'s channel; 0 or -1. */
int cmd_store_publish(cmd_store_t *store, const char *id, const char *text, char *errstr,
                      size_t errstr_size);

/* The record of `id` as a JSON object of strings: 1 found, 0 absent, -1 error. */
int cmd_store_get(cmd_store_t *store, const char *id, json_t **record, char *errstr,
                  size_t errstr_size);

typedef struct cmd_store_expired {
  char id[CMD_ID_MAX + 1];
  char action[64];
  int32_t requestid;   /* 0: never sent */
  int64_t received_ms;
  int64_t deadline_ms;
} cmd_store_expired_t;

/*
 * Up to `max` in-flight commands whose deadline is before now_ms, oldest
 * first, into out[]; *n receives the count.  The caller finishes each (status
 * timeout), which takes it out of flight.  0 or -1.
 */
int cmd_store_expired(cmd_store_t *store, int64_t now_ms, cmd_store_expired_t *out, size_t max,
                      size_t *n, char *errstr, size_t errstr_size);

/*
 * The "duplicate" result for `id` from a stored record (as from
 * cmd_store_claim): the first outcome's code, reason, requestid, action and
 * data, status duplicate and original_status.  New reference.
 */
json_t *cmd_store_duplicate_json(const char *id, const json_t *record);

/*
 * A watcher for one command's channel, for clients (mtcti3 command): connect
 * and SUBSCRIBE before the command is produced, then wait.  Its own
 * connection, since a subscribed connection runs no other command.
 */
typedef struct cmd_store_watch cmd_store_watch_t;

int cmd_store_watch_new(const cmd_store_config_t *conf, const char *id, cmd_store_watch_t **watch,
                        char *errstr, size_t errstr_size);
/* 1 and *result_json (malloc'd) for a final result; 0 when wait_ms passed; -1 on error. */
int cmd_store_watch_wait(cmd_store_watch_t *watch, int wait_ms, char **result_json,
                         char *errstr, size_t errstr_size);
void cmd_store_watch_destroy(cmd_store_watch_t *watch);

/* Key and channel names, for tests and tools: "mtcti3:<pbx>:cmd:<id>". */
void cmd_store_key(const char *pbx_id, const char *kind, const char *id, char *out, size_t size);

#endif
