/*
 * cmd_result: what became of a command, as the JSON that goes to Kafka
 * (<prefix>command-results or reply_to), to the Redis channel and, field by
 * field, into the Redis hash.  schemas/command-result.schema.json describes it.
 *
 * DESIGN.  Two tables: the statuses (issue #5, section 4) and the reason codes
 * a command can be refused with.  A refusal's reason is always
 * "<reason code>: <one line for people>", so a program can switch on the code
 * and an operator can read the rest.  Pure; no I/O.
 */
#ifndef CMD_RESULT_H
#define CMD_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* X(enum, name, final, description) */
#define CMD_STATUSES(X)                                                               \
  X(CMD_STATUS_ACCEPTED, "accepted", 0, "sent to the PBX, waiting for its RequestResponse") \
  X(CMD_STATUS_SUCCEEDED, "succeeded", 1, "the PBX answered MTCTISESS_SUCCESS (or the bridge did it)") \
  X(CMD_STATUS_FAILED, "failed", 1, "the PBX answered another MTCTISESS_* code (code, code_name), or a new call was lost at once (a CallLost, code 0: see above)") \
  X(CMD_STATUS_REJECTED, "rejected", 1, "not sent: reason says why")                   \
  X(CMD_STATUS_TIMEOUT, "timeout", 1, "no RequestResponse by the deadline: the outcome is unknown") \
  X(CMD_STATUS_DUPLICATE, "duplicate", 1, "the id was seen before: not executed again; the first outcome is echoed")

typedef enum cmd_status {
#define CMD_X_ENUM(e, n, f, d) e,
  CMD_STATUSES(CMD_X_ENUM)
#undef CMD_X_ENUM
  CMD_STATUS__COUNT
} cmd_status_t;

/* X(enum, name, description) */
#define CMD_REASONS(X)                                                                \
  X(CMD_REASON_NONE, "", "no refusal")                                                \
  X(CMD_REASON_TOO_BIG, "too_big", "the message is longer than the configured limit") \
  X(CMD_REASON_BAD_JSON, "bad_json", "not one JSON object")                           \
  X(CMD_REASON_BAD_ID, "bad_id", "id missing, or not 1 to 128 of A-Za-z0-9._:-")      \
  X(CMD_REASON_BAD_FIELD, "bad_field", "an unknown or mistyped top-level field")       \
  X(CMD_REASON_UNKNOWN_ACTION, "unknown_action", "action missing or not in the table") \
  X(CMD_REASON_BAD_TARGET, "bad_target", "target missing, not allowed, or malformed for the action") \
  X(CMD_REASON_BAD_CALL, "bad_call", "call missing, not allowed, or malformed for the action") \
  X(CMD_REASON_BAD_ARGS, "bad_args", "an argument missing, unknown, or outside the spec's limits") \
  X(CMD_REASON_BAD_TIMEOUT, "bad_timeout", "timeout_ms not an integer within the bridge's bounds") \
  X(CMD_REASON_BAD_REPLY_TO, "bad_reply_to", "reply_to is not a valid Kafka topic name") \
  X(CMD_REASON_WRONG_PBX, "wrong_pbx", "pbx names another PBX than this bridge's")     \
  X(CMD_REASON_DENIED, "denied", "the operator's policy does not allow it")            \
  X(CMD_REASON_NO_TARGET, "no_target", "the target user or queue is not on this PBX")  \
  X(CMD_REASON_NO_CALL, "no_call", "the call is not known on that line")               \
  X(CMD_REASON_UNAVAILABLE, "unavailable", "featuresavailable does not offer the action now") \
  X(CMD_REASON_INTERNAL, "internal", "the bridge could not build or send the request")

typedef enum cmd_reason {
#define CMD_X_ENUM(e, n, d) e,
  CMD_REASONS(CMD_X_ENUM)
#undef CMD_X_ENUM
  CMD_REASON__COUNT
} cmd_reason_t;

/* "succeeded", ...; "?" out of range. */
const char *cmd_status_name(cmd_status_t status);
/* 1 for a final status (everything but accepted). */
int cmd_status_final(cmd_status_t status);
/* Status of a name; 0, or -1 when unknown. */
int cmd_status_by_name(const char *name, cmd_status_t *status);
const char *cmd_status_description(cmd_status_t status);
/* "bad_args", ...; "" for CMD_REASON_NONE. */
const char *cmd_reason_name(cmd_reason_t reason);
const char *cmd_reason_description(cmd_reason_t reason);
/* Reason code of a name; 0, or -1 when unknown. */
int cmd_reason_by_name(const char *name, cmd_reason_t *reason);

/*
 * One outcome.  Strings and data are borrowed; NULL means absent.  `code`
 * is the MTCTISESS_* result when has_code (failed and succeeded from the PBX).
 */
typedef struct cmd_result {
  const char *id;            /* NULL only for a message without a valid id */
  cmd_status_t status;
  int has_code;
  int code;
  cmd_reason_t reason_code;  /* rejected: why; else CMD_REASON_NONE */
  const char *reason;        /* one line, for people; NULL: none */
  int32_t requestid;         /* 0: never sent */
  const char *action;        /* NULL when unknown */
  int64_t latency_ms;        /* from receipt to outcome; -1: absent */
  const json_t *data;        /* get_version / get_file payload; NULL: none */
  const char *original_status; /* duplicate: the first outcome's status */
} cmd_result_t;

/* A result with everything absent and status `status`. */
void cmd_result_init(cmd_result_t *result, const char *id, cmd_status_t status);

/*
 * The result as a JSON object (new reference): always id, status, code,
 * code_name, reason, requestid, action, latency_ms, data (null when absent),
 * plus reason_code when refused and original_status for a duplicate.
 */
json_t *cmd_result_json(const cmd_result_t *result);
/* The same as compact JSON text; malloc'd, caller frees; NULL on OOM. */
char *cmd_result_json_text(const cmd_result_t *result);

#endif
