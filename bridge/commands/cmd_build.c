/*
 * cmd_build: the MTCTI3 Message of a command.  See cmd_build.h.
 */
#include "cmd_build.h"

#include <stdio.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_json.h"

/* Set obj[key] = value (stealing value); a NULL value is skipped. */
static void put(json_t *obj, const char *key, json_t *value) {
  if (value)
    json_object_set_new(obj, key, value);
}

/* A copy of args[name] when present, else NULL. */
static json_t *arg_copy(const cmd_t *cmd, const char *name) {
  json_t *v = json_object_get(cmd_args(cmd), name);

  return v ? json_deep_copy(v) : NULL;
}

static int device_hint(const cmd_t *cmd) {
  static const char *const names[] = {"desk", "mobile", "softphone"};
  const char *d = cmd_arg_string(cmd, "device");
  int i;

  for (i = 0; d && i < 3; i++) {
    if (strcmp(d, names[i]) == 0)
      return UPDATE_CALL_CONTROL__DEVICE__DESK + i;
  }
  return UPDATE_CALL_CONTROL__DEVICE__UNSPECIFIED;
}

/* The CallFunction of a call action, from the roles of its arguments. */
static json_t *callfunction_json(const cmd_t *cmd) {
  const cmd_action_t *action = cmd_action(cmd);
  json_t *cf = json_pack("{si}", "action", action->cf_action), *v, *mf = NULL;
  char num[32];
  size_t i;

  for (i = 0; cf && i < action->n_args; i++) {
    const cmd_arg_t *arg = &action->args[i];
    v = json_object_get(cmd_args(cmd), arg->name);
    if (!v)
      continue;
    switch (arg->role) {
    case CMD_ROLE_ARG1:
      put(cf, "arg1", json_deep_copy(v));
      break;
    case CMD_ROLE_ARG1_INT:
      snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
      put(cf, "arg1", json_string(num));
      break;
    case CMD_ROLE_ARG1_TRUE1:
      if (json_is_true(v))
        put(cf, "arg1", json_string("1"));
      break;
    case CMD_ROLE_CALLINST: {
      json_t *list = json_array(), *item;
      size_t j;
      json_array_foreach(v, j, item) {
        json_array_append_new(list, json_pack("{sO}", "callid", item));
      }
      put(cf, "callinst", list);
      break;
    }
    case CMD_ROLE_MF_LREF:
    case CMD_ROLE_MF_OP:
      if (!mf)
        mf = json_object();
      if (arg->role == CMD_ROLE_MF_LREF)
        put(mf, "lref", json_deep_copy(v));
      else /* drop, mute_on, mute_off -> DropCall=1, MuteOn=2, MuteOff=3 */
        put(mf, "action",
            json_integer(strcmp(json_string_value(v), "drop") == 0      ? MEMBER_FUNCTION_DATA__ACTION__DropCall
                         : strcmp(json_string_value(v), "mute_on") == 0 ? MEMBER_FUNCTION_DATA__ACTION__MuteOn
                                                                        : MEMBER_FUNCTION_DATA__ACTION__MuteOff));
      break;
    case CMD_ROLE_AGENTREC:
      put(cf, "agentrecording", json_pack("{sb}", json_string_value(v), 1));
      break;
    case CMD_ROLE_DEVICE: /* on UpdateCallControl, not here */
    case CMD_ROLE_NAMED:
      break;
    }
  }
  put(cf, "memberfunctiondata", mf);
  return cf;
}

static json_t *makecall_json(const cmd_t *cmd) {
  static const struct {
    const char *arg, *field;
  } advanced_fields[] = {
    {"account_code", "accountcode"}, {"auth_code", "authcode"}, {"tag", "tag"},
    {"withhold_cli", "withholdcli"}, {"privacy", "privacy"},    {"madn", "madn"},
    {"allow_cli", "allowcli"},       {"explicit_cli", "explicitcli"},
  };
  json_t *mc = json_object(), *adv = json_object();
  size_t i;

  put(mc, "target", arg_copy(cmd, "to"));
  if (cmd_action(cmd)->makecall_type)
    put(mc, "type", json_integer(cmd_action(cmd)->makecall_type));
  for (i = 0; adv && i < sizeof(advanced_fields) / sizeof(advanced_fields[0]); i++)
    put(adv, advanced_fields[i].field, arg_copy(cmd, advanced_fields[i].arg));
  if (json_object_size(adv))
    put(mc, "advanced", adv);
  else
    json_decref(adv);
  return mc;
}

static json_t *members_json(const json_t *members) {
  json_t *list = json_array(), *m;
  size_t i;

  json_array_foreach(members, i, m) {
    json_t *o = json_pack("{sO}", "extn", json_object_get(m, "extn"));
    if (json_is_true(json_object_get(m, "disabled")))
      json_object_set_new(o, "disabled", json_true());
    json_array_append_new(list, o);
  }
  return list;
}

int32_t cmd_build_referencecallid(const cmd_t *cmd, const cmd_build_ctx_t *ctx) {
  int64_t ref;

  if (cmd_action(cmd)->build != CMD_BUILD_MAKECALL && cmd_action(cmd)->build != CMD_BUILD_UNPARK)
    return 0;
  return cmd_arg_int(cmd, "referencecallid", &ref) ? (int32_t)ref : ctx->requestid;
}

/* The SubscribeCmd payload (callcontrol, user or queue) and its key. */
static json_t *payload_json(const cmd_t *cmd, const cmd_build_ctx_t *ctx, const char **key) {
  const cmd_action_t *action = cmd_action(cmd);
  json_t *p = json_object(), *cc;
  char val[64];
  int64_t n, o, s;
  int32_t value;
  int dev;

  switch (action->build) {
  case CMD_BUILD_CALLFUNCTION:
  case CMD_BUILD_MAKECALL:
  case CMD_BUILD_UNPARK:
    *key = "callcontrol";
    cc = p;
    if (action->build == CMD_BUILD_CALLFUNCTION) {
      cmd_call_kind_t kind = cmd_call(cmd, &value);
      if (ctx->callid > 0)
        put(cc, "callid", json_integer(ctx->callid));
      else
        put(cc, kind == CMD_CALL_REFERENCECALLID ? "referencecallid" : "callid",
            json_integer(value));
      put(cc, "callfunction", callfunction_json(cmd));
    } else if (action->build == CMD_BUILD_MAKECALL) {
      put(cc, "referencecallid", json_integer(cmd_build_referencecallid(cmd, ctx)));
      put(cc, "makecall", makecall_json(cmd));
    } else {
      put(cc, "referencecallid", json_integer(cmd_build_referencecallid(cmd, ctx)));
      put(cc, "unparkcall", json_pack("{ss}", "parkid", cmd_arg_string(cmd, "slot")));
    }
    dev = device_hint(cmd);
    if (dev)
      put(cc, "devicehint", json_integer(dev));
    return p;
  case CMD_BUILD_USER_SAC:
  case CMD_BUILD_USER_EC500:
    *key = "user";
    put(p, action->build == CMD_BUILD_USER_SAC ? "sac" : "ec500",
        json_pack("{si}", "set", cmd_arg_bool(cmd, "on", 0)));
    return p;
  case CMD_BUILD_USER_ABSENCE:
    *key = "user";
    if (cmd_arg_bool(cmd, "clear", 0)) {
      put(p, "absence", json_pack("{si}", "set", 0));
    } else {
      json_t *ab = json_object();
      put(ab, "msg", arg_copy(cmd, "msg"));
      put(ab, "str", arg_copy(cmd, "text"));
      put(p, "absence", json_pack("{sisO}", "set", 1, "absence", ab));
      json_decref(ab);
    }
    return p;
  case CMD_BUILD_USER_SHORTCODE: {
    json_t *sc = json_object();
    *key = "user";
    put(sc, "code", arg_copy(cmd, "code"));
    put(sc, "val", arg_copy(cmd, "value"));
    put(sc, "onbehalf", arg_copy(cmd, "onbehalf"));
    put(p, "shortcodedata", json_pack("[o]", sc));
    return p;
  }
  case CMD_BUILD_USER_MAILBOX:
    *key = "user";
    cmd_arg_int(cmd, "new", &n);
    cmd_arg_int(cmd, "old", &o);
    cmd_arg_int(cmd, "saved", &s);
    snprintf(val, sizeof(val), ";%lld,%lld,%lld", (long long)n, (long long)o, (long long)s);
    put(p, "shortcodedata", json_pack("[{siss}]", "code", 70, "val", val));
    return p;
  case CMD_BUILD_USER_LOGIN: {
    json_t *l = json_object();
    *key = "user";
    put(l, "extn", arg_copy(cmd, "extn"));
    put(l, "password", arg_copy(cmd, "password"));
    if (cmd_arg_string(cmd, "teleworker")) {
      json_t *tw = json_object();
      put(tw, "number", arg_copy(cmd, "teleworker"));
      if (cmd_arg_bool(cmd, "hold_line_open", 0))
        put(tw, "holdlineopen", json_true());
      if (cmd_arg_bool(cmd, "test_connection", 0))
        put(tw, "testconnection", json_integer(1));
      put(l, "teleworkerconnection", tw);
    }
    put(p, "loginextn", l);
    return p;
  }
  case CMD_BUILD_USER_APP: {
    json_t *a = json_object();
    *key = "user";
    put(a, "value", arg_copy(cmd, "value"));
    put(a, "makelive", arg_copy(cmd, "makelive"));
    put(a, "makedead", arg_copy(cmd, "makedead"));
    put(p, "app", a);
    return p;
  }
  case CMD_BUILD_USER_FWDU: {
    json_t *f = json_object();
    *key = "user";
    put(f, "set", arg_copy(cmd, "on"));
    put(f, "fwdu_number", arg_copy(cmd, "number"));
    put(f, "fwdtovm", arg_copy(cmd, "to_voicemail"));
    put(p, "fwdu", f);
    return p;
  }
  case CMD_BUILD_QUEUE_SERVICEMODE: {
    const char *mode = cmd_arg_string(cmd, "mode");
    *key = "queue";
    put(p, "setservicemode",
        json_pack("{si}", "servicemode",
                  strcmp(mode, "active") == 0          ? SET_SERVICE_MODE__SERVICE_MODE__Active
                  : strcmp(mode, "night_service") == 0 ? SET_SERVICE_MODE__SERVICE_MODE__NS
                                                       : SET_SERVICE_MODE__SERVICE_MODE__OOS));
    return p;
  }
  case CMD_BUILD_QUEUE_VOICEMAIL:
    *key = "queue";
    put(p, "setvoicemail", json_pack("{sb}", "enabled", cmd_arg_bool(cmd, "on", 0)));
    return p;
  case CMD_BUILD_QUEUE_MEMBERS:
    *key = "queue";
    put(p, "members",
        json_pack("{so}", "member", members_json(json_object_get(cmd_args(cmd), "members"))));
    return p;
  case CMD_BUILD_QUEUE_ADDMEMBER: {
    json_t *m = json_pack("{ss}", "extn", cmd_arg_string(cmd, "extn"));
    *key = "queue";
    if (cmd_arg_bool(cmd, "disabled", 0))
      json_object_set_new(m, "disabled", json_true());
    put(p, "addmember", json_pack("[o]", m));
    return p;
  }
  case CMD_BUILD_QUEUE_DELMEMBER:
    *key = "queue";
    put(p, "deletemember", json_pack("[{ss}]", "extn", cmd_arg_string(cmd, "extn")));
    return p;
  case CMD_BUILD_GETVERSION:
  case CMD_BUILD_GETFILE:
  case CMD_BUILD_NONE:
    break;
  }
  json_decref(p);
  return NULL;
}

json_t *cmd_build_json(const cmd_t *cmd, const cmd_build_ctx_t *ctx, char *errstr,
                       size_t errstr_size) {
  const cmd_action_t *action = cmd_action(cmd);
  const char *key = NULL;
  json_t *payload;

  switch (action->build) {
  case CMD_BUILD_NONE:
    snprintf(errstr, errstr_size, "%s is done by the bridge, not sent to the PBX", action->name);
    return NULL;
  case CMD_BUILD_GETVERSION:
    return json_pack("{s{sisb}}", "generalcmd", "requestid", ctx->requestid, "getversioninfo", 1);
  case CMD_BUILD_GETFILE:
    return json_pack("{s{sis{siss}}}", "generalcmd", "requestid", ctx->requestid, "getfile",
                     "cmdinst", ctx->requestid, "fname", cmd_arg_string(cmd, "name"));
  default:
    break;
  }
  payload = payload_json(cmd, ctx, &key);
  if (!payload) {
    snprintf(errstr, errstr_size, "%s: cannot build the request", action->name);
    return NULL;
  }
  return json_pack("{s{sisiso}}", "subscribecmd", "requestid", ctx->requestid, "subscribe_id",
                   ctx->subscribe_id, key, payload);
}

int cmd_build(const cmd_t *cmd, const cmd_build_ctx_t *ctx, Message **msg, char *errstr,
              size_t errstr_size) {
  ProtobufCMessage *pb = NULL;
  json_t *json;
  char codec_err[256];
  int rc;

  *msg = NULL;
  json = cmd_build_json(cmd, ctx, errstr, errstr_size);
  if (!json)
    return -1;
  rc = codec_json_to_pb(json, &message__descriptor, &pb, codec_err, sizeof(codec_err));
  /* The JSON may hold a secret: never put it in errstr, only the codec's word. */
  json_decref(json);
  if (rc < 0) {
    snprintf(errstr, errstr_size, "%s: codec refused the request: %s", cmd_action(cmd)->name,
             codec_err);
    return -1;
  }
  *msg = (Message *)pb;
  return 0;
}
