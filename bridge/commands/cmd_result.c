/*
 * cmd_result: statuses, reason codes and the result JSON.  See cmd_result.h.
 */
#include "cmd_result.h"

#include <string.h>

#include "codec_tables.h"

static const struct {
  const char *name;
  int final;
  const char *description;
} cmd_status_table[] = {
#define CMD_X_ROW(e, n, f, d) {n, f, d},
  CMD_STATUSES(CMD_X_ROW)
#undef CMD_X_ROW
};

static const struct {
  const char *name;
  const char *description;
} cmd_reason_table[] = {
#define CMD_X_ROW(e, n, d) {n, d},
  CMD_REASONS(CMD_X_ROW)
#undef CMD_X_ROW
};

const char *cmd_status_name(cmd_status_t status) {
  return (unsigned)status < CMD_STATUS__COUNT ? cmd_status_table[status].name : "?";
}

int cmd_status_final(cmd_status_t status) {
  return (unsigned)status < CMD_STATUS__COUNT ? cmd_status_table[status].final : 0;
}

const char *cmd_status_description(cmd_status_t status) {
  return (unsigned)status < CMD_STATUS__COUNT ? cmd_status_table[status].description : "?";
}

int cmd_status_by_name(const char *name, cmd_status_t *status) {
  int i;

  for (i = 0; i < CMD_STATUS__COUNT; i++) {
    if (name && strcmp(cmd_status_table[i].name, name) == 0) {
      *status = (cmd_status_t)i;
      return 0;
    }
  }
  return -1;
}

const char *cmd_reason_name(cmd_reason_t reason) {
  return (unsigned)reason < CMD_REASON__COUNT ? cmd_reason_table[reason].name : "internal";
}

const char *cmd_reason_description(cmd_reason_t reason) {
  return (unsigned)reason < CMD_REASON__COUNT ? cmd_reason_table[reason].description : "?";
}

int cmd_reason_by_name(const char *name, cmd_reason_t *reason) {
  int i;

  for (i = 1; i < CMD_REASON__COUNT; i++) {
    if (name && strcmp(cmd_reason_table[i].name, name) == 0) {
      *reason = (cmd_reason_t)i;
      return 0;
    }
  }
  return -1;
}

void cmd_result_init(cmd_result_t *result, const char *id, cmd_status_t status) {
  memset(result, 0, sizeof(*result));
  result->id = id;
  result->status = status;
  result->reason_code = CMD_REASON_NONE;
  result->latency_ms = -1;
}

static json_t *string_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

json_t *cmd_result_json(const cmd_result_t *result) {
  json_t *obj = json_object();
  int bad = 0;

  if (!obj)
    return NULL;
  bad |= json_object_set_new(obj, "id", string_or_null(result->id));
  bad |= json_object_set_new(obj, "status", json_string(cmd_status_name(result->status)));
  bad |= json_object_set_new(obj, "code", result->has_code ? json_integer(result->code) : json_null());
  bad |= json_object_set_new(obj, "code_name", result->has_code
                                                   ? json_string(codec_result_name(result->code))
                                                   : json_null());
  bad |= json_object_set_new(obj, "reason", string_or_null(result->reason));
  if (result->reason_code != CMD_REASON_NONE)
    bad |= json_object_set_new(obj, "reason_code", json_string(cmd_reason_name(result->reason_code)));
  bad |= json_object_set_new(obj, "requestid",
                             result->requestid ? json_integer(result->requestid) : json_null());
  bad |= json_object_set_new(obj, "action", string_or_null(result->action));
  bad |= json_object_set_new(obj, "latency_ms",
                             result->latency_ms >= 0 ? json_integer(result->latency_ms) : json_null());
  bad |= json_object_set_new(obj, "data", result->data ? json_deep_copy(result->data) : json_null());
  if (result->original_status)
    bad |= json_object_set_new(obj, "original_status", json_string(result->original_status));
  if (bad) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

char *cmd_result_json_text(const cmd_result_t *result) {
  json_t *obj = cmd_result_json(result);
  char *text;

  if (!obj)
    return NULL;
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  return text;
}
