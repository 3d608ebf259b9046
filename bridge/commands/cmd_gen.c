/*
 * cmd_gen: the action reference of docs/commands.md and
 * schemas/command.schema.json, generated from the action table.
 *
 * DESIGN.  `cmd_gen docs` prints the markdown that sits between the
 * "BEGIN actions" and "END actions" markers of docs/commands.md; `cmd_gen
 * schema` prints the whole command schema.  A ctest (tests/bridge_cmd)
 * compares both with the files in the repository, so the docs, the schema
 * and the table cannot drift apart.  Regenerate with
 * tests/bridge_cmd/regen.sh after changing the table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd_action.h"
#include "cmd_gen.h"
#include "cmd_parse.h"
#include "cmd_result.h"
#include "ipo_mtcti3.pb-c.h"

static const char *arg_type_name(const cmd_arg_t *arg) {
  switch (arg->type) {
  case CMD_ARG_STRING:
    return "string";
  case CMD_ARG_INT:
    return "integer";
  case CMD_ARG_BOOL:
    return "boolean";
  case CMD_ARG_ENUM:
    return "string";
  case CMD_ARG_CALLIDS:
    return arg->max > 1 ? "integer or array" : "integer";
  case CMD_ARG_MEMBERS:
    return "array";
  case CMD_ARG_ENUMS:
    return "array";
  }
  return "?";
}

/* The limits column of the docs: what cmd_parse enforces. */
static void arg_limits(const cmd_arg_t *arg, char *buf, size_t size) {
  size_t used = 0;
  int i;

  buf[0] = '\0';
  switch (arg->type) {
  case CMD_ARG_STRING:
    if (arg->chars == CMD_CHARS_TEXT)
      snprintf(buf, size, "%ld to %ld characters", arg->min, arg->max);
    else
      snprintf(buf, size, "%ld to %ld of `%s`", arg->min, arg->max, cmd_charset_name(arg->chars));
    break;
  case CMD_ARG_INT:
    snprintf(buf, size, "%ld to %ld", arg->min, arg->max);
    break;
  case CMD_ARG_BOOL:
    snprintf(buf, size, "true, false");
    break;
  case CMD_ARG_ENUM:
  case CMD_ARG_ENUMS:
    if (arg->type == CMD_ARG_ENUMS)
      used = (size_t)snprintf(buf, size, "%ld to %ld of ", arg->min, arg->max);
    for (i = 0; arg->choices[i] && used < size; i++)
      used += (size_t)snprintf(buf + used, size - used, "%s`%s`", i ? ", " : "", arg->choices[i]);
    break;
  case CMD_ARG_CALLIDS:
    if (arg->max > 1)
      snprintf(buf, size, "a callid, or %ld to %ld callids", arg->min, arg->max);
    else
      snprintf(buf, size, "a callid");
    break;
  case CMD_ARG_MEMBERS:
    snprintf(buf, size, "%ld to %ld members", arg->min, arg->max);
    break;
  }
}

static const char *target_text(const cmd_action_t *a) {
  switch (a->scope) {
  case CMD_SCOPE_CALL:
    return a->lines == (CMD_LINE_USER | CMD_LINE_QUEUE | CMD_LINE_PARK) ? "user, queue or parkserver"
           : a->lines == (CMD_LINE_USER | CMD_LINE_QUEUE)               ? "user or queue"
           : a->lines == CMD_LINE_QUEUE                                 ? "queue"
                                                                        : "user";
  case CMD_SCOPE_NEW_CALL:
  case CMD_SCOPE_USER:
    return "user";
  case CMD_SCOPE_QUEUE:
    return "queue";
  case CMD_SCOPE_PBX:
    return "none";
  case CMD_SCOPE_BRIDGE:
    return "optional user or queue";
  }
  return "?";
}

static const char *build_text(const cmd_action_t *a, char *buf, size_t size) {
  static const char *const names[] = {
    "CallFunction", "MakeCall", "UnParkCall", "UpdateUser.sac", "UpdateUser.absence",
    "UpdateUser.ec500", "UpdateUser.shortcodedata", "UpdateUser.loginextn", "UpdateUser.app",
    "UpdateUser.fwdu", "UpdateUser.shortcodedata code 70", "UpdateQueue.setservicemode",
    "UpdateQueue.setvoicemail", "UpdateQueue.members", "UpdateQueue.addmember",
    "UpdateQueue.deletemember", "GeneralCmd.getversioninfo", "GeneralCmd.getfile",
    "(the bridge)"};
  const ProtobufCEnumValue *v;

  if (a->build == CMD_BUILD_CALLFUNCTION) {
    v = protobuf_c_enum_descriptor_get_value(&call_function__action__descriptor, a->cf_action);
    snprintf(buf, size, "CallFunction %s (%d)", v ? v->name : "?", a->cf_action);
    return buf;
  }
  if (a->build == CMD_BUILD_MAKECALL && a->makecall_type) {
    snprintf(buf, size, "MakeCall type %d (%s)", a->makecall_type, cmd_makecall_type_name(a->makecall_type));
    return buf;
  }
  return names[a->build];
}

int cmd_gen_docs(FILE *out) {
  const cmd_action_t *actions, *a;
  size_t n, i, j;
  char limits[256], built[96];
  const char *bit;

  actions = cmd_actions(&n);
  fprintf(out, "| action | scope | target | MTCTI3 request | featuresavailable bit |\n");
  fprintf(out, "|---|---|---|---|---|\n");
  for (i = 0; i < n; i++) {
    a = &actions[i];
    bit = cmd_action_feature_name(a);
    fprintf(out, "| [`%s`](#%s) | %s | %s | %s | %s%s%s |\n", a->name, a->name,
            cmd_scope_name(a->scope), target_text(a), build_text(a, built, sizeof(built)),
            bit ? "`" : "-", bit ? bit : "", bit ? "`" : "");
  }
  for (i = 0; i < n; i++) {
    a = &actions[i];
    fprintf(out, "\n### %s\n\n%s.  Scope `%s`; target: %s%s.\n", a->name, a->summary,
            cmd_scope_name(a->scope), target_text(a),
            a->scope != CMD_SCOPE_CALL        ? ""
            : (a->lines & CMD_LINE_PARK) ? "; call: `callid` or `referencecallid` (on the park server: optional, "
                                           "the call in the slot)"
                                         : "; call: `callid` or `referencecallid`");
    if (a->n_args == 0) {
      fprintf(out, "\nNo arguments.\n");
      continue;
    }
    fprintf(out, "\n| argument | type | required | limits | |\n|---|---|---|---|---|\n");
    for (j = 0; j < a->n_args; j++) {
      const cmd_arg_t *arg = &a->args[j];
      arg_limits(arg, limits, sizeof(limits));
      fprintf(out, "| `%s` | %s | %s | %s | %s%s |\n", arg->name, arg_type_name(arg),
              arg->required ? "yes" : "no", limits, arg->secret ? "**secret**: never logged or stored; " : "",
              arg->help);
    }
  }
  fprintf(out, "\n## Result statuses\n\n| status | final | meaning |\n|---|---|---|\n");
  for (i = 0; i < CMD_STATUS__COUNT; i++)
    fprintf(out, "| `%s` | %s | %s |\n", cmd_status_name((cmd_status_t)i),
            cmd_status_final((cmd_status_t)i) ? "yes" : "no",
            cmd_status_description((cmd_status_t)i));
  fprintf(out, "\n## Reason codes\n\n| reason_code | meaning |\n|---|---|\n");
  for (i = 1; i < CMD_REASON__COUNT; i++)
    fprintf(out, "| `%s` | %s |\n", cmd_reason_name((cmd_reason_t)i),
            cmd_reason_description((cmd_reason_t)i));
  return 0;
}

/* ---- the JSON schema ---- */

static json_t *int_schema(long lo, long hi) {
  return json_pack("{sssIsI}", "type", "integer", "minimum", (json_int_t)lo, "maximum",
                   (json_int_t)hi);
}

static json_t *string_schema(cmd_charset_t chars, long lo, long hi) {
  static const char *const patterns[] = {
    [CMD_CHARS_TEXT] = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
    [CMD_CHARS_DIAL] = "^[0-9*#]*$",
    [CMD_CHARS_EXTN] = "^[0-9]*$",
    [CMD_CHARS_PHONE] = "^[0-9*#+]*$",
    [CMD_CHARS_FILE] = "^[!-~]*$",
  };
  return json_pack("{sssIsIss}", "type", "string", "minLength", (json_int_t)lo, "maxLength",
                   (json_int_t)hi, "pattern", patterns[chars]);
}

static json_t *choices_json(const char *const *choices) {
  json_t *list = json_array();
  int i;

  for (i = 0; choices[i]; i++)
    json_array_append_new(list, json_string(choices[i]));
  return list;
}

static json_t *arg_schema(const cmd_arg_t *arg) {
  json_t *s = NULL;

  switch (arg->type) {
  case CMD_ARG_STRING:
    s = string_schema(arg->chars, arg->min, arg->max);
    break;
  case CMD_ARG_INT:
    s = int_schema(arg->min, arg->max);
    break;
  case CMD_ARG_BOOL:
    s = json_pack("{ss}", "type", "boolean");
    break;
  case CMD_ARG_ENUM:
    s = json_pack("{so}", "enum", choices_json(arg->choices));
    break;
  case CMD_ARG_CALLIDS:
    if (arg->max <= 1)
      s = int_schema(1, 2147483647L);
    else
      s = json_pack("{s[o{sssosIsI}]}", "oneOf", int_schema(1, 2147483647L), "type", "array",
                    "items", int_schema(1, 2147483647L), "minItems", (json_int_t)arg->min,
                    "maxItems", (json_int_t)arg->max);
    break;
  case CMD_ARG_MEMBERS:
    s = json_pack("{sssIsIs{s[o{sss[s]sbs{sos{ss}}}]}}", "type", "array", "minItems",
                  (json_int_t)arg->min, "maxItems", (json_int_t)arg->max, "items", "oneOf",
                  string_schema(CMD_CHARS_EXTN, 1, 15), "type", "object", "required", "extn",
                  "additionalProperties", 0, "properties", "extn",
                  string_schema(CMD_CHARS_EXTN, 1, 15), "disabled", "type", "boolean");
    break;
  case CMD_ARG_ENUMS:
    s = json_pack("{sssIsIsbs{so}}", "type", "array", "minItems", (json_int_t)arg->min,
                  "maxItems", (json_int_t)arg->max, "uniqueItems", 1, "items", "enum",
                  choices_json(arg->choices));
    break;
  }
  if (!s)
    return NULL;
  json_object_set_new(s, "description", json_string(arg->help));
  if (arg->secret)
    json_object_set_new(s, "writeOnly", json_true());
  return s;
}

/* The "then" of one action: its target, call and args. */
/* The keys a target may have: {"propertyNames": {"enum": [...]}} of user, queue, parkserver. */
static json_t *target_keys(unsigned lines) {
  json_t *keys = json_array();

  if (lines & CMD_LINE_USER)
    json_array_append_new(keys, json_string("user"));
  if (lines & CMD_LINE_QUEUE)
    json_array_append_new(keys, json_string("queue"));
  if (lines & CMD_LINE_PARK)
    json_array_append_new(keys, json_string("parkserver"));
  return json_pack("{s{so}}", "propertyNames", "enum", keys);
}

static json_t *action_rule(const cmd_action_t *a) {
  json_t *props = json_object(), *args_props = json_object(), *args_req = json_array();
  json_t *required = json_array(), *then, *extra = NULL;
  size_t i;

  for (i = 0; i < a->n_args; i++) {
    json_object_set_new(args_props, a->args[i].name, arg_schema(&a->args[i]));
    if (a->args[i].required)
      json_array_append_new(args_req, json_string(a->args[i].name));
  }
  json_object_set_new(props, "args",
                      json_pack("{sssbsoso}", "type", "object", "additionalProperties", 0,
                                "properties", args_props, "required", args_req));
  switch (a->scope) {
  case CMD_SCOPE_CALL:
  case CMD_SCOPE_BRIDGE:
    json_object_set_new(props, "target", target_keys(a->lines));
    if (a->scope == CMD_SCOPE_CALL) {
      json_array_append_new(required, json_string("target"));
      if (a->lines & CMD_LINE_PARK) /* the call, unless the park slot names it */
        extra = json_pack("{s[{s[s]}{s{s{s[s]}}}]}", "anyOf", "required", "call", "properties", "target",
                          "required", "parkserver");
      else
        json_array_append_new(required, json_string("call"));
    } else {
      json_object_set_new(props, "call", json_false());
    }
    break;
  case CMD_SCOPE_NEW_CALL:
  case CMD_SCOPE_USER:
  case CMD_SCOPE_QUEUE:
    json_object_set_new(props, "target", target_keys(a->scope == CMD_SCOPE_QUEUE ? CMD_LINE_QUEUE : CMD_LINE_USER));
    json_object_set_new(props, "call", json_false());
    json_array_append_new(required, json_string("target"));
    break;
  case CMD_SCOPE_PBX:
    json_object_set_new(props, "target", json_false());
    json_object_set_new(props, "call", json_false());
    break;
  }
  for (i = 0; i < a->n_args; i++) {
    if (a->args[i].required) {
      json_array_append_new(required, json_string("args"));
      break;
    }
  }
  then = json_pack("{so}", "properties", props);
  if (json_array_size(required))
    json_object_set_new(then, "required", required);
  else
    json_decref(required);
  if (extra)
    json_object_update(then, extra);
  json_decref(extra);
  return json_pack("{s{s{s{ss}}s[s]}so}", "if", "properties", "action", "const", a->name,
                   "required", "action", "then", then);
}

json_t *cmd_gen_schema(void) {
  const cmd_action_t *actions;
  json_t *names = json_array(), *rules = json_array(), *root, *target_value, *slot_value;
  size_t n, i;

  actions = cmd_actions(&n);
  for (i = 0; i < n; i++) {
    json_array_append_new(names, json_string(actions[i].name));
    json_array_append_new(rules, action_rule(&actions[i]));
  }
  target_value = json_pack("{sssisi}", "type", "string", "minLength", 1, "maxLength", 64);
  slot_value = json_pack("{sssisiss}", "type", "string", "minLength", 1, "maxLength", 9, "pattern", "^[0-9*#]*$",
                         "description", "the park server: the call parked in this slot");
  root = json_pack(
    "{ss ss ss ss ss s[ss] sb s{"
    "s{ssssss} s{ssso} "
    "s{sssisisbs{sOsOso}} "
    "s{sssisisbs{soso}} "
    "s{ssss} s{sssIss} s{ssssss} s{ssss}"
    "} so}",
    "$schema", "https://json-schema.org/draft/2020-12/schema",
    "$id", "urn:mtcti3-bridge:schema:command",
    "title", "mtcti3-bridge command",
    "description", "One message on the <prefix>commands topic.  Generated from the action table "
                   "(bridge/commands/cmd_action.c) by cmd_gen; see docs/commands.md.",
    "type", "object",
    "required", "id", "action",
    "additionalProperties", 0,
    "properties",
    "id", "type", "string", "pattern", "^[A-Za-z0-9._:-]{1,128}$", "description",
    "chosen by the sender; a repeated id is not executed again",
    "action", "description", "what to do (docs/commands.md)", "enum", names,
    "target", "type", "object", "minProperties", 1, "maxProperties", 1, "additionalProperties", 0,
    "properties", "user", target_value, "queue", target_value, "parkserver", slot_value,
    "call", "type", "object", "minProperties", 1, "maxProperties", 1, "additionalProperties", 0,
    "properties", "callid", int_schema(1, 2147483647L), "referencecallid",
    int_schema(1, 2147483647L),
    "args", "type", "object", "description", "the action's arguments",
    "timeout_ms", "type", "integer", "minimum", (json_int_t)1, "description",
    "deadline for the PBX's answer; the bridge's bounds apply (default 100 to 300000)",
    "reply_to", "type", "string", "pattern", "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,249}$",
    "description", "topic for the result instead of <prefix>command-results",
    "pbx", "type", "string", "description", "when present, must be the bridge's PBX id",
    "allOf", rules);
  json_decref(target_value);
  return root;
}

char *cmd_gen_schema_text(void) {
  json_t *schema = cmd_gen_schema();
  char *body, *text;
  size_t len;

  if (!schema)
    return NULL;
  body = json_dumps(schema, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(schema);
  if (!body)
    return NULL;
  len = strlen(body);
  text = malloc(len + 2);
  if (text) {
    memcpy(text, body, len);
    text[len] = '\n';
    text[len + 1] = '\0';
  }
  free(body);
  return text;
}
