/*
 * cmd_parse: one Kafka message value -> one validated command.
 *
 * DESIGN.  Runs on the bridge's loop thread when a message arrives from
 * <prefix>commands, before anything else looks at the command (claim,
 * policy, target lookup, build).  Pure: bytes in, a cmd_t or a refusal out.
 * Every check the command alone allows is made here, driven by the action
 * table (cmd_action.h): JSON shape and types, unknown fields, the spec's
 * argument limits, which of target / call the action's scope needs.  What
 * needs the PBX's state (does the target exist, is the call known, does
 * featuresavailable offer the action) is left to the bridge, with
 * cmd_action_available().  Secrets stay in the cmd_t (the builder needs them)
 * but never leave it except through cmd_build: every rendering is redacted.
 */
#ifndef CMD_PARSE_H
#define CMD_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd_action.h"
#include "cmd_result.h"

#define CMD_ID_MAX 128
#define CMD_TOPIC_MAX 249
#define CMD_REDACTED "[redacted]"

typedef struct cmd_parse_config {
  const char *pbx_id;          /* this bridge's PBX; NULL: accept any "pbx" */
  size_t max_bytes;            /* larger messages are refused (too_big) */
  int64_t default_timeout_ms;  /* when the command gives none */
  int64_t min_timeout_ms;
  int64_t max_timeout_ms;
} cmd_parse_config_t;

/* Defaults: any PBX, 64 KiB, timeout 10 s within 100 ms .. 5 min. */
void cmd_parse_config_init(cmd_parse_config_t *conf);

/* Why a message was refused, with what could be read of it for the result. */
typedef struct cmd_refusal {
  cmd_reason_t code;
  char reason[256];            /* "bad_args: args.slot: must be 1 to 9 of 0-9*#" */
  char id[CMD_ID_MAX + 1];     /* "" when the id itself was unusable */
  char action[64];             /* "" when unknown */
  char reply_to[CMD_TOPIC_MAX + 1]; /* "" when absent or unusable */
} cmd_refusal_t;

typedef struct cmd cmd_t;

typedef enum cmd_target_kind {
  CMD_TARGET_NONE,
  CMD_TARGET_USER,
  CMD_TARGET_QUEUE,
  CMD_TARGET_PARKSERVER /* the park server; cmd_target() is the park slot */
} cmd_target_kind_t;

/* "user", "queue", "parkserver" ("" for none): the target's key in a command. */
const char *cmd_target_kind_name(cmd_target_kind_t kind);

typedef enum cmd_call_kind {
  CMD_CALL_NONE,
  CMD_CALL_CALLID,
  CMD_CALL_REFERENCECALLID
} cmd_call_kind_t;

/*
 * Parse and validate `len` bytes.  Returns 0 and *cmd (free with cmd_free),
 * or -1 with *refusal filled and *cmd NULL.  Never crashes on any input.
 */
int cmd_parse(const cmd_parse_config_t *conf, const char *buf, size_t len, cmd_t **cmd,
              cmd_refusal_t *refusal);

void cmd_free(cmd_t *cmd);

const char *cmd_id(const cmd_t *cmd);
const cmd_action_t *cmd_action(const cmd_t *cmd);
cmd_target_kind_t cmd_target_kind(const cmd_t *cmd);
/* The user's extension or GUID, the queue's name, extension or GUID, the park slot; NULL when none. */
const char *cmd_target(const cmd_t *cmd);
/*
 * The call named by the command; *value receives its callid or
 * referencecallid.  CMD_CALL_NONE for actions on no existing call, and for
 * a call action on the park server that names none (the call in the slot).
 */
cmd_call_kind_t cmd_call(const cmd_t *cmd, int32_t *value);
int64_t cmd_timeout_ms(const cmd_t *cmd);
/* The topic the result goes to instead of <prefix>command-results, or NULL. */
const char *cmd_reply_to(const cmd_t *cmd);
/* The validated args (borrowed; an object, maybe empty).  Holds secrets. */
const json_t *cmd_args(const cmd_t *cmd);
/* One argument: the string (NULL when absent or not a string). */
const char *cmd_arg_string(const cmd_t *cmd, const char *name);
/* One integer argument: 1 and *value when present, 0 when absent. */
int cmd_arg_int(const cmd_t *cmd, const char *name, int64_t *value);
/* One boolean argument: its value, or `dflt` when absent. */
int cmd_arg_bool(const cmd_t *cmd, const char *name, int dflt);

/* The command as JSON with every secret argument replaced by "[redacted]" (new reference). */
json_t *cmd_to_json_redacted(const cmd_t *cmd);
/* The same as compact text, malloc'd (caller frees); NULL on OOM. */
char *cmd_to_text_redacted(const cmd_t *cmd);

/* 1 when `s` is 1 to 128 of A-Za-z0-9._:- */
int cmd_id_valid(const char *s);
/* 1 when `s` is a legal Kafka topic name (1 to 249 of A-Za-z0-9._-, not "." or ".."). */
int cmd_topic_valid(const char *s);

#endif
