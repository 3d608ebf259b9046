/*
 * cmd_parse: validation of one command.  See cmd_parse.h.
 */
#include "cmd_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_TARGET_MAX 64 /* an extension, a queue name or a GUID string */
#define CMD_SLOT_MAX 9    /* a park slot, as the park action's slot argument */

struct cmd {
  char *id;
  const cmd_action_t *action;
  cmd_target_kind_t target_kind;
  char *target;
  cmd_call_kind_t call_kind;
  int32_t call_value;
  int64_t timeout_ms;
  char *reply_to;
  char *pbx;
  json_t *args; /* validated and normalized; holds secrets */
};

void cmd_parse_config_init(cmd_parse_config_t *conf) {
  memset(conf, 0, sizeof(*conf));
  conf->pbx_id = NULL;
  conf->max_bytes = 64 * 1024;
  conf->default_timeout_ms = 10000;
  conf->min_timeout_ms = 100;
  conf->max_timeout_ms = 300000;
}

/* Fill the refusal: "<code>: <printf text>".  Always returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int refuse(cmd_refusal_t *refusal, cmd_reason_t code, const char *fmt, ...) {
  char text[sizeof(refusal->reason) - 24];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof(text), fmt, ap);
  va_end(ap);
  refusal->code = code;
  snprintf(refusal->reason, sizeof(refusal->reason), "%.20s: %s", cmd_reason_name(code), text);
  return -1;
}

int cmd_id_valid(const char *s) {
  size_t n;

  if (!s)
    return 0;
  for (n = 0; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == ':' || c == '-'))
      return 0;
  }
  return n >= 1 && n <= CMD_ID_MAX;
}

int cmd_topic_valid(const char *s) {
  size_t n;

  if (!s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return 0;
  for (n = 0; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return 0;
  }
  return n >= 1 && n <= CMD_TOPIC_MAX;
}

/* Code points in valid UTF-8 (jansson guarantees validity). */
static size_t utf8_chars(const char *s) {
  size_t n = 0;

  for (; *s; s++) {
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  }
  return n;
}

/* A JSON integer that fits int64 and lies in [lo, hi]. */
static int int_in(const json_t *v, long lo, long hi) {
  return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static void choices_text(const char *const *choices, char *buf, size_t size) {
  size_t used = 0;
  int i;

  buf[0] = '\0';
  for (i = 0; choices[i] && used < size; i++)
    used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", choices[i]);
}

static int choice_index(const char *const *choices, const char *s) {
  int i;

  for (i = 0; choices[i]; i++) {
    if (strcmp(choices[i], s) == 0)
      return i;
  }
  return -1;
}

/* The limits of a string argument, said once for the reason. */
static void string_limits(const cmd_arg_t *arg, char *buf, size_t size) {
  if (arg->chars == CMD_CHARS_TEXT) {
    if (arg->min == 0)
      snprintf(buf, size, "must be at most %ld characters, without control characters",
               arg->max);
    else
      snprintf(buf, size, "must be %ld to %ld characters, without control characters",
               arg->min, arg->max);
  } else {
    snprintf(buf, size, "must be %ld to %ld of %s", arg->min, arg->max,
             cmd_charset_name(arg->chars));
  }
}

static int string_ok(const cmd_arg_t *arg, const json_t *v) {
  size_t n;

  if (!json_is_string(v))
    return 0;
  n = utf8_chars(json_string_value(v));
  /* An embedded NUL (\u0000) is refused: the PBX would truncate at it. */
  if (strlen(json_string_value(v)) != json_string_length(v))
    return 0;
  return (long)n >= arg->min && (long)n <= arg->max &&
         cmd_charset_ok(arg->chars, json_string_value(v));
}

/*
 * Validate one argument value; on success *out is the normalized value (new
 * reference).  On failure fills refusal and returns -1.
 */
static int arg_check(const cmd_arg_t *arg, json_t *v, json_t **out, cmd_refusal_t *refusal) {
  char limits[160];
  size_t i, n;
  json_t *list = NULL, *item;

  switch (arg->type) {
  case CMD_ARG_STRING:
    if (!string_ok(arg, v)) {
      string_limits(arg, limits, sizeof(limits));
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: %s", arg->name, limits);
    }
    *out = json_incref(v);
    return 0;
  case CMD_ARG_INT:
    if (!int_in(v, arg->min, arg->max))
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be an integer from %ld to %ld",
                    arg->name, arg->min, arg->max);
    *out = json_incref(v);
    return 0;
  case CMD_ARG_BOOL:
    if (!json_is_boolean(v))
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be true or false", arg->name);
    *out = json_incref(v);
    return 0;
  case CMD_ARG_ENUM:
    if (!json_is_string(v) || choice_index(arg->choices, json_string_value(v)) < 0) {
      choices_text(arg->choices, limits, sizeof(limits));
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be one of %s", arg->name, limits);
    }
    *out = json_incref(v);
    return 0;
  case CMD_ARG_CALLIDS:
    if (int_in(v, 1, 2147483647L)) {
      *out = json_pack("[O]", v);
      return *out ? 0 : refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
    }
    if (arg->max > 1 && json_is_array(v) && (long)json_array_size(v) >= arg->min &&
        (long)json_array_size(v) <= arg->max) {
      json_array_foreach(v, i, item) {
        if (!int_in(item, 1, 2147483647L))
          break;
      }
      if (i == json_array_size(v)) {
        *out = json_incref(v);
        return 0;
      }
    }
    if (arg->max > 1)
      return refuse(refusal, CMD_REASON_BAD_ARGS,
                    "args.%s: must be a callid (1 to 2147483647) or an array of %ld to %ld of them",
                    arg->name, arg->min, arg->max);
    return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be a callid (1 to 2147483647)",
                  arg->name);
  case CMD_ARG_MEMBERS: {
    /* Extensions, or {"extn": ..., "disabled": bool}; normalized to objects. */
    cmd_arg_t extn = {"extn", CMD_ARG_STRING, 1, 0, 1, 15, CMD_CHARS_EXTN, NULL, CMD_ROLE_NAMED, ""};
    if (!json_is_array(v) || (long)json_array_size(v) < arg->min ||
        (long)json_array_size(v) > arg->max)
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be an array of %ld to %ld members",
                    arg->name, arg->min, arg->max);
    list = json_array();
    n = json_array_size(v);
    for (i = 0; list && i < n; i++) {
      json_t *e = json_array_get(v, i), *x = e, *d = json_false();
      if (json_is_object(e)) {
        const char *key;
        json_t *val;
        json_object_foreach(e, key, val) {
          if (strcmp(key, "extn") != 0 && strcmp(key, "disabled") != 0)
            break;
        }
        x = json_object_get(e, "extn");
        d = json_object_get(e, "disabled");
        if (key || (d && !json_is_boolean(d)))
          x = NULL;
        if (!d)
          d = json_false();
      }
      if (!x || !string_ok(&extn, x)) {
        json_decref(list);
        return refuse(refusal, CMD_REASON_BAD_ARGS,
                      "args.%s[%zu]: must be an extension (1 to 15 of 0-9) or "
                      "{\"extn\": ..., \"disabled\": true|false}",
                      arg->name, i);
      }
      json_array_append_new(list, json_pack("{sOsO}", "extn", x, "disabled", d));
    }
    if (!list)
      return refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
    *out = list;
    return 0;
  }
  case CMD_ARG_ENUMS:
    choices_text(arg->choices, limits, sizeof(limits));
    if (!json_is_array(v) || (long)json_array_size(v) < arg->min ||
        (long)json_array_size(v) > arg->max)
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: must be an array of %ld to %ld of %s",
                    arg->name, arg->min, arg->max, limits);
    json_array_foreach(v, i, item) {
      size_t j;
      if (!json_is_string(item) || choice_index(arg->choices, json_string_value(item)) < 0)
        return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s[%zu]: must be one of %s", arg->name,
                      i, limits);
      for (j = 0; j < i; j++) {
        if (json_equal(json_array_get(v, j), item))
          return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: \"%s\" is named twice", arg->name,
                        json_string_value(item));
      }
    }
    *out = json_incref(v);
    return 0;
  }
  return refuse(refusal, CMD_REASON_INTERNAL, "args.%s: no rule for this type", arg->name);
}

/* Rules that tie arguments together, which the table cannot say. */
static int args_cross_check(const cmd_action_t *action, const json_t *args,
                            cmd_refusal_t *refusal) {
  if (action->build == CMD_BUILD_USER_ABSENCE) {
    if (json_is_true(json_object_get(args, "clear"))) {
      if (json_object_get(args, "msg") || json_object_get(args, "text"))
        return refuse(refusal, CMD_REASON_BAD_ARGS,
                      "args.clear: give either clear or msg and text, not both");
    } else if (!json_object_get(args, "msg")) {
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.msg: required unless clear is true");
    }
  }
  if (action->build == CMD_BUILD_USER_LOGIN && !json_object_get(args, "teleworker")) {
    if (json_object_get(args, "hold_line_open"))
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.hold_line_open: only with teleworker");
    if (json_object_get(args, "test_connection"))
      return refuse(refusal, CMD_REASON_BAD_ARGS, "args.test_connection: only with teleworker");
  }
  if (action->build == CMD_BUILD_USER_APP && json_is_true(json_object_get(args, "makelive")) &&
      json_is_true(json_object_get(args, "makedead")))
    return refuse(refusal, CMD_REASON_BAD_ARGS, "args.makedead: cannot be true with makelive");
  return 0;
}

static int args_check(const cmd_action_t *action, json_t *in, json_t **out,
                      cmd_refusal_t *refusal) {
  json_t *args = json_object(), *v, *norm = NULL;
  const char *key;
  size_t i;

  if (!args)
    return refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
  if (in && !json_is_object(in)) {
    json_decref(args);
    return refuse(refusal, CMD_REASON_BAD_ARGS, "args: must be an object");
  }
  if (in) {
    json_object_foreach(in, key, v) {
      if (!cmd_action_arg(action, key)) {
        json_decref(args);
        if (action->n_args == 0)
          return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%.64s: %s takes no arguments", key,
                        action->name);
        return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%.64s: not an argument of %s", key,
                      action->name);
      }
    }
  }
  for (i = 0; i < action->n_args; i++) {
    const cmd_arg_t *arg = &action->args[i];
    v = in ? json_object_get(in, arg->name) : NULL;
    if (!v || json_is_null(v)) {
      if (arg->required) {
        json_decref(args);
        return refuse(refusal, CMD_REASON_BAD_ARGS, "args.%s: required by %s", arg->name,
                      action->name);
      }
      continue;
    }
    if (arg_check(arg, v, &norm, refusal) < 0) {
      json_decref(args);
      return -1;
    }
    json_object_set_new(args, arg->name, norm);
  }
  if (args_cross_check(action, args, refusal) < 0) {
    json_decref(args);
    return -1;
  }
  *out = args;
  return 0;
}

const char *cmd_target_kind_name(cmd_target_kind_t kind) {
  static const char *const names[] = {"", "user", "queue", "parkserver"};

  return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "";
}

/* The target object: exactly one of user / queue / parkserver, as the scope allows. */
static int target_check(const cmd_action_t *action, json_t *target, cmd_t *cmd,
                        cmd_refusal_t *refusal) {
  const char *key = NULL;
  json_t *v = NULL;
  int allow_user, allow_queue, allow_park;
  const char *allowed;

  allow_user = (action->scope == CMD_SCOPE_CALL || action->scope == CMD_SCOPE_BRIDGE)
                   ? (action->lines & CMD_LINE_USER) != 0
                   : action->scope == CMD_SCOPE_NEW_CALL || action->scope == CMD_SCOPE_USER;
  allow_queue = (action->scope == CMD_SCOPE_CALL || action->scope == CMD_SCOPE_BRIDGE)
                    ? (action->lines & CMD_LINE_QUEUE) != 0
                    : action->scope == CMD_SCOPE_QUEUE;
  allow_park = action->scope == CMD_SCOPE_CALL && (action->lines & CMD_LINE_PARK) != 0;
  allowed = allow_park ? "{\"user\": ...}, {\"queue\": ...} or {\"parkserver\": \"<slot>\"}"
                       : "{\"user\": ...} or {\"queue\": ...}";
  if (!target || json_is_null(target)) {
    if (action->scope == CMD_SCOPE_PBX || action->scope == CMD_SCOPE_BRIDGE)
      return 0;
    return refuse(refusal, CMD_REASON_BAD_TARGET, "target: %s needs {\"%s\": ...}", action->name,
                  allow_user ? "user" : "queue");
  }
  if (action->scope == CMD_SCOPE_PBX)
    return refuse(refusal, CMD_REASON_BAD_TARGET, "target: %s acts on the PBX and takes none",
                  action->name);
  if (!json_is_object(target) || json_object_size(target) != 1)
    return refuse(refusal, CMD_REASON_BAD_TARGET, "target: must be %s", allowed);
  json_object_foreach(target, key, v) {
    break;
  }
  if (strcmp(key, "user") == 0 && allow_user) {
    cmd->target_kind = CMD_TARGET_USER;
  } else if (strcmp(key, "queue") == 0 && allow_queue) {
    cmd->target_kind = CMD_TARGET_QUEUE;
  } else if (strcmp(key, "parkserver") == 0 && allow_park) {
    cmd->target_kind = CMD_TARGET_PARKSERVER;
  } else if (strcmp(key, "user") == 0 || strcmp(key, "queue") == 0 ||
             strcmp(key, "parkserver") == 0) {
    return refuse(refusal, CMD_REASON_BAD_TARGET, "target.%s: %s cannot be done on a %s",
                  key, action->name, strcmp(key, "parkserver") == 0 ? "park server" : key);
  } else {
    return refuse(refusal, CMD_REASON_BAD_TARGET, "target.%.64s: unknown; must be %s", key, allowed);
  }
  if (cmd->target_kind == CMD_TARGET_PARKSERVER) {
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > CMD_SLOT_MAX ||
        !cmd_charset_ok(CMD_CHARS_DIAL, json_string_value(v)))
      return refuse(refusal, CMD_REASON_BAD_TARGET,
                    "target.parkserver: must be a park slot, 1 to %d of 0-9*#", CMD_SLOT_MAX);
  } else if (!json_is_string(v) || json_string_length(v) < 1 ||
             utf8_chars(json_string_value(v)) > CMD_TARGET_MAX ||
             strlen(json_string_value(v)) != json_string_length(v) ||
             !cmd_charset_ok(CMD_CHARS_TEXT, json_string_value(v))) {
    return refuse(refusal, CMD_REASON_BAD_TARGET,
                  "target.%s: must be an extension, name or GUID of 1 to %d characters", key,
                  CMD_TARGET_MAX);
  }
  cmd->target = strdup(json_string_value(v));
  return cmd->target ? 0 : refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
}

static int call_check(const cmd_action_t *action, json_t *call, cmd_t *cmd,
                      cmd_refusal_t *refusal) {
  const char *key = NULL;
  json_t *v = NULL;

  if (action->scope != CMD_SCOPE_CALL) {
    if (call && !json_is_null(call))
      return refuse(refusal, CMD_REASON_BAD_CALL, "call: %s acts on no existing call",
                    action->name);
    return 0;
  }
  if (!call || json_is_null(call)) {
    if (cmd->target_kind == CMD_TARGET_PARKSERVER)
      return 0; /* the call parked in the slot */
    return refuse(refusal, CMD_REASON_BAD_CALL,
                  "call: %s needs {\"callid\": N} or {\"referencecallid\": N}", action->name);
  }
  if (!json_is_object(call) || json_object_size(call) != 1)
    return refuse(refusal, CMD_REASON_BAD_CALL,
                  "call: must be {\"callid\": N} or {\"referencecallid\": N}");
  json_object_foreach(call, key, v) {
    break;
  }
  if (strcmp(key, "callid") == 0)
    cmd->call_kind = CMD_CALL_CALLID;
  else if (strcmp(key, "referencecallid") == 0)
    cmd->call_kind = CMD_CALL_REFERENCECALLID;
  else
    return refuse(refusal, CMD_REASON_BAD_CALL,
                  "call.%.64s: unknown; must be callid or referencecallid", key);
  if (!int_in(v, 1, 2147483647L))
    return refuse(refusal, CMD_REASON_BAD_CALL, "call.%s: must be an integer from 1 to 2147483647",
                  key);
  cmd->call_value = (int32_t)json_integer_value(v);
  return 0;
}

static const char *const cmd_fields[] = {"id",      "action",     "target",   "call", "args",
                                         "timeout_ms", "reply_to", "pbx",     NULL};

int cmd_parse(const cmd_parse_config_t *conf, const char *buf, size_t len, cmd_t **out,
              cmd_refusal_t *refusal) {
  json_error_t jerr;
  json_t *root = NULL, *v;
  cmd_t *cmd = NULL;
  const char *key;
  int i;

  *out = NULL;
  memset(refusal, 0, sizeof(*refusal));
  if (len > conf->max_bytes) {
    refuse(refusal, CMD_REASON_TOO_BIG, "%zu bytes, more than the limit of %zu", len,
           conf->max_bytes);
    goto fail;
  }
  root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    refuse(refusal, CMD_REASON_BAD_JSON, "%s at line %d column %d", jerr.text, jerr.line,
           jerr.column);
    goto fail;
  }
  if (!json_is_object(root)) {
    refuse(refusal, CMD_REASON_BAD_JSON, "a command is a JSON object");
    goto fail;
  }
  /* id and reply_to first, so that every later refusal can be answered. */
  v = json_object_get(root, "id");
  if (!json_is_string(v) || !cmd_id_valid(json_string_value(v)) ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    refuse(refusal, CMD_REASON_BAD_ID, "id: %s 1 to 128 of A-Za-z0-9._:-",
           v ? "must be" : "required,");
    goto fail;
  }
  snprintf(refusal->id, sizeof(refusal->id), "%s", json_string_value(v));
  v = json_object_get(root, "reply_to");
  if (v && !json_is_null(v)) {
    if (!json_is_string(v) || !cmd_topic_valid(json_string_value(v))) {
      refuse(refusal, CMD_REASON_BAD_REPLY_TO,
             "reply_to: must be a Kafka topic name (1 to 249 of A-Za-z0-9._-)");
      goto fail;
    }
    snprintf(refusal->reply_to, sizeof(refusal->reply_to), "%s", json_string_value(v));
  }
  json_object_foreach(root, key, v) {
    for (i = 0; cmd_fields[i] && strcmp(cmd_fields[i], key) != 0; i++)
      ;
    if (!cmd_fields[i]) {
      refuse(refusal, CMD_REASON_BAD_FIELD, "%.64s: not a field of a command", key);
      goto fail;
    }
  }
  cmd = calloc(1, sizeof(*cmd));
  if (!cmd) {
    refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
    goto fail;
  }
  v = json_object_get(root, "action");
  cmd->action = json_is_string(v) ? cmd_action_find(json_string_value(v)) : NULL;
  if (!cmd->action) {
    if (json_is_string(v))
      refuse(refusal, CMD_REASON_UNKNOWN_ACTION, "action: \"%.64s\" is not an action",
             json_string_value(v));
    else
      refuse(refusal, CMD_REASON_UNKNOWN_ACTION, "action: required, a string");
    goto fail;
  }
  snprintf(refusal->action, sizeof(refusal->action), "%s", cmd->action->name);
  v = json_object_get(root, "pbx");
  if (v && !json_is_null(v)) {
    if (!json_is_string(v)) {
      refuse(refusal, CMD_REASON_BAD_FIELD, "pbx: must be a string");
      goto fail;
    }
    if (conf->pbx_id && strcmp(conf->pbx_id, json_string_value(v)) != 0) {
      refuse(refusal, CMD_REASON_WRONG_PBX, "pbx: \"%.64s\" is not this bridge's PBX (\"%.64s\")",
             json_string_value(v), conf->pbx_id);
      goto fail;
    }
    cmd->pbx = strdup(json_string_value(v));
  }
  v = json_object_get(root, "timeout_ms");
  cmd->timeout_ms = conf->default_timeout_ms;
  if (v && !json_is_null(v)) {
    if (!int_in(v, (long)conf->min_timeout_ms, (long)conf->max_timeout_ms)) {
      refuse(refusal, CMD_REASON_BAD_TIMEOUT, "timeout_ms: must be an integer from %lld to %lld",
             (long long)conf->min_timeout_ms, (long long)conf->max_timeout_ms);
      goto fail;
    }
    cmd->timeout_ms = json_integer_value(v);
  }
  if (target_check(cmd->action, json_object_get(root, "target"), cmd, refusal) < 0 ||
      call_check(cmd->action, json_object_get(root, "call"), cmd, refusal) < 0 ||
      args_check(cmd->action, json_object_get(root, "args"), &cmd->args, refusal) < 0)
    goto fail;
  cmd->id = strdup(refusal->id);
  if (refusal->reply_to[0])
    cmd->reply_to = strdup(refusal->reply_to);
  if (!cmd->id || (refusal->reply_to[0] && !cmd->reply_to)) {
    refuse(refusal, CMD_REASON_INTERNAL, "out of memory");
    goto fail;
  }
  json_decref(root);
  *out = cmd;
  return 0;

fail:
  cmd_free(cmd);
  json_decref(root);
  return -1;
}

void cmd_free(cmd_t *cmd) {
  if (!cmd)
    return;
  free(cmd->id);
  free(cmd->target);
  free(cmd->reply_to);
  free(cmd->pbx);
  json_decref(cmd->args);
  free(cmd);
}

const char *cmd_id(const cmd_t *cmd) {
  return cmd->id;
}

const cmd_action_t *cmd_action(const cmd_t *cmd) {
  return cmd->action;
}

cmd_target_kind_t cmd_target_kind(const cmd_t *cmd) {
  return cmd->target_kind;
}

const char *cmd_target(const cmd_t *cmd) {
  return cmd->target;
}

cmd_call_kind_t cmd_call(const cmd_t *cmd, int32_t *value) {
  if (value)
    *value = cmd->call_value;
  return cmd->call_kind;
}

int64_t cmd_timeout_ms(const cmd_t *cmd) {
  return cmd->timeout_ms;
}

const char *cmd_reply_to(const cmd_t *cmd) {
  return cmd->reply_to;
}

const json_t *cmd_args(const cmd_t *cmd) {
  return cmd->args;
}

const char *cmd_arg_string(const cmd_t *cmd, const char *name) {
  return json_string_value(json_object_get(cmd->args, name));
}

int cmd_arg_int(const cmd_t *cmd, const char *name, int64_t *value) {
  json_t *v = json_object_get(cmd->args, name);

  if (!json_is_integer(v))
    return 0;
  *value = json_integer_value(v);
  return 1;
}

int cmd_arg_bool(const cmd_t *cmd, const char *name, int dflt) {
  json_t *v = json_object_get(cmd->args, name);

  return json_is_boolean(v) ? json_is_true(v) : dflt;
}

json_t *cmd_to_json_redacted(const cmd_t *cmd) {
  json_t *obj = json_object(), *args = json_object(), *v;
  const char *key;
  const cmd_arg_t *arg;

  if (!obj || !args)
    goto fail;
  json_object_foreach(cmd->args, key, v) {
    arg = cmd_action_arg(cmd->action, key);
    json_object_set_new(args, key, arg && arg->secret ? json_string(CMD_REDACTED) : json_deep_copy(v));
  }
  json_object_set_new(obj, "id", json_string(cmd->id));
  json_object_set_new(obj, "action", json_string(cmd->action->name));
  if (cmd->target_kind != CMD_TARGET_NONE)
    json_object_set_new(obj, "target", json_pack("{ss}", cmd_target_kind_name(cmd->target_kind), cmd->target));
  if (cmd->call_kind != CMD_CALL_NONE)
    json_object_set_new(obj, "call",
                        json_pack("{si}",
                                  cmd->call_kind == CMD_CALL_CALLID ? "callid" : "referencecallid",
                                  (int)cmd->call_value));
  json_object_set_new(obj, "args", args);
  args = NULL;
  json_object_set_new(obj, "timeout_ms", json_integer(cmd->timeout_ms));
  if (cmd->reply_to)
    json_object_set_new(obj, "reply_to", json_string(cmd->reply_to));
  if (cmd->pbx)
    json_object_set_new(obj, "pbx", json_string(cmd->pbx));
  return obj;

fail:
  json_decref(obj);
  json_decref(args);
  return NULL;
}

char *cmd_to_text_redacted(const cmd_t *cmd) {
  json_t *obj = cmd_to_json_redacted(cmd);
  char *text;

  if (!obj)
    return NULL;
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  return text;
}
