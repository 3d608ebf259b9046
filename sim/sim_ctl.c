/*
 * sim_ctl: see sim_ctl.h.
 */
#include "sim_ctl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "codec_tables.h"
#include "sim_log.h"
#include "sim_traffic.h"

#define BODY_MAX (1u << 20)

struct sim_ctl {
  sim_model_t *model;
  sim_calls_t *calls;
  sim_server_t *server;
  sim_traffic_t *traffic;
};

typedef struct req {
  sim_ctl_t *ctl;
  const char *param;  /* the {placeholder} of the route */
  const json_t *body; /* never NULL: an empty object when there was none */
} req_t;

typedef int (*handler_fn)(req_t *r, json_t **out);

__attribute__((format(printf, 3, 4))) static int error(json_t **out, int status,
                                                       const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  *out = json_pack("{s:s}", "error", msg);
  return status;
}

/* A call engine result: 200 on success, 409 with the code's name otherwise. */
static int result(json_t **out, int code, json_t *extra) {
  json_t *o = extra ? extra : json_object();
  json_object_set_new(o, "result", json_string(codec_result_name(code)));
  json_object_set_new(o, "code", json_integer(code));
  *out = o;
  return code == MTCTISESS_SUCCESS ? 200 : 409;
}

static const char *body_str(const req_t *r, const char *key) {
  return json_string_value(json_object_get(r->body, key));
}

static int body_int(const req_t *r, const char *key) {
  return (int)json_integer_value(json_object_get(r->body, key));
}

/* ---- model ---- */

static int h_model(req_t *r, json_t **out) {
  *out = sim_model_to_json(r->ctl->model);
  json_object_set_new(*out, "calls", sim_calls_json(r->ctl->calls));
  return 200;
}

static int h_calls(req_t *r, json_t **out) {
  *out = json_pack("{s:o}", "calls", sim_calls_json(r->ctl->calls));
  return 200;
}

static int h_stats(req_t *r, json_t **out) {
  sim_ctl_t *c = r->ctl;
  json_t *server = sim_server_stats(c->server);
  json_t *systems = json_object_get(server, "systems");
  size_t count = 0;
  for (int i = 0; i < sim_server_system_count(c->server); i++) {
    sim_subs_t *subs = sim_server_system_subs(c->server, i);
    count += sim_subs_count(subs);
    json_object_set_new(json_array_get(systems, (size_t)i), "subscriptions", sim_subs_json(subs));
  }
  /* "subscriptions": the primary's (the only system unless a pair), as before pairs existed. */
  *out = json_pack("{s:o,s:O,s:I,s:I,s:I,s:I}", "server", server, "subscriptions",
                   json_object_get(json_array_get(systems, 0), "subscriptions"),
                   "subscription_count", (json_int_t)count, "calls",
                   (json_int_t)sim_calls_count(c->calls), "users",
                   (json_int_t)sim_model_user_count(c->model), "queues",
                   (json_int_t)sim_model_queue_count(c->model));
  if (c->traffic)
    json_object_set_new(*out, "traffic", sim_traffic_stats(c->traffic));
  return 200;
}

static int h_user_add(req_t *r, json_t **out) {
  char err[256];
  sim_user_t *u = NULL;
  if (sim_model_user_add(r->ctl->model, r->body, &u, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_user_json(u);
  return 201;
}

static int h_user_patch(req_t *r, json_t **out) {
  char err[256];
  sim_user_t *u = sim_model_user_by_extn(r->ctl->model, r->param);
  if (!u)
    return error(out, 404, "no user %s", r->param);
  if (sim_model_user_patch(r->ctl->model, u, r->body, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_user_json(u);
  return 200;
}

static int h_user_del(req_t *r, json_t **out) {
  sim_user_t *u = sim_model_user_by_extn(r->ctl->model, r->param);
  if (!u)
    return error(out, 404, "no user %s", r->param);
  sim_model_user_remove(r->ctl->model, u);
  *out = json_object();
  return 200;
}

static int h_queue_add(req_t *r, json_t **out) {
  char err[256];
  sim_queue_t *q = NULL;
  if (sim_model_queue_add(r->ctl->model, r->body, &q, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_queue_json(q);
  return 201;
}

static int h_queue_patch(req_t *r, json_t **out) {
  char err[256];
  sim_queue_t *q = sim_model_queue_by_extn(r->ctl->model, r->param);
  if (!q)
    return error(out, 404, "no queue %s", r->param);
  if (sim_model_queue_patch(r->ctl->model, q, r->body, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_queue_json(q);
  return 200;
}

static int h_queue_del(req_t *r, json_t **out) {
  sim_queue_t *q = sim_model_queue_by_extn(r->ctl->model, r->param);
  if (!q)
    return error(out, 404, "no queue %s", r->param);
  sim_model_queue_remove(r->ctl->model, q);
  *out = json_object();
  return 200;
}

static int h_presentity_add(req_t *r, json_t **out) {
  char err[256];
  sim_presentity_t *p = NULL;
  if (sim_model_presentity_add(r->ctl->model, r->body, &p, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_presentity_json(p);
  return 201;
}

static int h_presentity_patch(req_t *r, json_t **out) {
  char err[256];
  sim_presentity_t *p = sim_model_presentity_find(r->ctl->model, r->param);
  if (!p)
    return error(out, 404, "no presentity %s", r->param);
  if (sim_model_presentity_patch(r->ctl->model, p, r->body, err, sizeof err))
    return error(out, 400, "%s", err);
  *out = sim_model_presentity_json(p);
  return 200;
}

static int h_presentity_del(req_t *r, json_t **out) {
  sim_presentity_t *p = sim_model_presentity_find(r->ctl->model, r->param);
  if (!p)
    return error(out, 404, "no presentity %s", r->param);
  sim_model_presentity_remove(r->ctl->model, p);
  *out = json_object();
  return 200;
}

/* ---- a person at a phone ---- */

#define ST(x) (1u << CALL_INFO__STATE__##x)

static sim_user_t *phone_user(req_t *r) {
  sim_user_t *u = sim_model_user_at_extn(r->ctl->model, r->param);
  return u ? u : sim_model_user_by_extn(r->ctl->model, r->param);
}

/* The call the person means: the callid given, else the first in one of `mask`'s states. */
static int phone_call(req_t *r, sim_user_t *u, uint32_t mask) {
  int callid = body_int(r, "callid");
  return callid ? callid : sim_calls_user_leg(r->ctl->calls, u, mask);
}

static json_t *call_json(sim_ctl_t *c, int callid) {
  char g[64] = "";
  sim_calls_gcid_of(c->calls, callid, g, sizeof g);
  return json_pack("{s:i,s:s}", "callid", callid, "gcid", g);
}

static int phone_action(req_t *r, json_t **out, int action, uint32_t mask, const char *arg) {
  sim_user_t *u = phone_user(r);
  if (!u)
    return error(out, 404, "no phone %s", r->param);
  int callid = phone_call(r, u, mask);
  if (!callid)
    return error(out, 404, "no suitable call at %s", r->param);
  json_t *extra = call_json(r->ctl, callid);
  return result(out, sim_calls_action(r->ctl->calls, SIM_LINE_USER, u->guid, callid, action, arg),
                extra);
}

static int h_offhook(req_t *r, json_t **out) {
  sim_user_t *u = phone_user(r);
  int callid = 0;
  if (!u)
    return error(out, 404, "no phone %s", r->param);
  int rc = sim_calls_make(r->ctl->calls, u, body_str(r, "dial"), 0, NULL, 0, &callid);
  return result(out, rc, rc == MTCTISESS_SUCCESS ? call_json(r->ctl, callid) : NULL);
}

static int h_dial(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__Dial, ST(DIALTONE) | ST(DIALLING),
                      body_str(r, "digits"));
}
static int h_answer(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__AnswerCall, ST(RINGING), NULL);
}
static int h_hangup(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__DropCall,
                      ST(CONNECTED) | ST(RINGBACK) | ST(DIALTONE) | ST(DIALLING) | ST(BUSY) |
                          ST(FAILED) | ST(ONHOLD) | ST(ONHOLDPENDTRANSFER) | ST(ONHOLDPENDCONF),
                      NULL);
}
static int h_hold(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__HoldCall, ST(CONNECTED), NULL);
}
static int h_unhold(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__UnHoldCall, ST(ONHOLD), NULL);
}
static int h_transfer(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__BlindTransfer, ST(CONNECTED) | ST(ONHOLD),
                      body_str(r, "to"));
}
static int h_park(req_t *r, json_t **out) {
  return phone_action(r, out, CALL_FUNCTION__ACTION__Park, ST(CONNECTED) | ST(ONHOLD),
                      body_str(r, "slot"));
}
static int h_unpark(req_t *r, json_t **out) {
  sim_user_t *u = phone_user(r);
  int callid = 0;
  if (!u)
    return error(out, 404, "no phone %s", r->param);
  int rc = sim_calls_unpark(r->ctl->calls, u, body_str(r, "slot"), 0, &callid);
  return result(out, rc, rc == MTCTISESS_SUCCESS ? call_json(r->ctl, callid) : NULL);
}

/* ---- a caller on a trunk ---- */

static int h_trunk_call(req_t *r, json_t **out) {
  char gcid[64] = "";
  const char *to = body_str(r, "to");
  if (!to)
    return error(out, 400, "%s", "'to' (an extension or queue) is required");
  json_t *tt = json_object_get(r->body, "trunktype");
  if (tt && !json_is_integer(tt))
    return error(out, 400, "%s", "'trunktype' is TrunkInfo.TrunkType, 1-6");
  sim_trunk_call_t tc = {body_str(r, "from"), body_str(r, "name"), to, body_str(r, "did"),
                         (int)json_integer_value(tt), body_str(r, "ucid"),
                         body_str(r, "pintrinsics")};
  int rc = sim_calls_trunk_inbound(r->ctl->calls, &tc, gcid, sizeof gcid);
  if (rc == MTCTISESS_CALLCONTROL_TARGETNOTFOUND)
    return error(out, 404, "no user or queue %s", to);
  if (rc == MTCTISESS_CALLCONTROL_BADFORMATTING)
    return error(out, 400, "%s", "'trunktype' 1-6, 'ucid' hex of 1-32 bytes, 'pintrinsics' up to 256 bytes");
  return result(out, rc, rc == MTCTISESS_SUCCESS ? json_pack("{s:s}", "gcid", gcid) : NULL);
}

static int h_notes(req_t *r, json_t **out) {
  return result(out, sim_calls_set_notes(r->ctl->calls, body_str(r, "gcid"), body_str(r, "notes")),
                NULL);
}

static int h_trunk_hangup(req_t *r, json_t **out) {
  return result(out, sim_calls_trunk_hangup(r->ctl->calls, body_str(r, "gcid")), NULL);
}

static int h_trunk_answer(req_t *r, json_t **out) {
  return result(out, sim_calls_trunk_answer(r->ctl->calls, body_str(r, "gcid")), NULL);
}

/* The next MakeCall(s) of a user (or anyone) fail: refused, or accepted and lost at once. */
static int h_makecall_fail(req_t *r, json_t **out) {
  const char *extn = body_str(r, "extn"), *mode = body_str(r, "mode");
  const char *desc = body_str(r, "description");
  json_t *count = json_object_get(r->body, "count"), *res = json_object_get(r->body, "result");
  json_t *reason = json_object_get(r->body, "reason");
  sim_user_t *u = NULL;
  sim_makecall_failure_t f = {0, MTCTISESS_REQUESTFAILED, 41, "", 1};
  if (extn && !(u = sim_model_user_by_extn(r->ctl->model, extn)))
    return error(out, 404, "no user %s", extn);
  if (!mode || (strcmp(mode, "calllost") && strcmp(mode, "response")))
    return error(out, 400, "%s", "'mode' must be \"calllost\" or \"response\"");
  if ((count && (!json_is_integer(count) || json_integer_value(count) < 0)) ||
      (res && (!json_is_integer(res) || json_integer_value(res) <= 0)) ||
      (reason && !json_is_integer(reason)) || (desc && strlen(desc) >= sizeof f.description))
    return error(out, 400, "%s", "'count' >= 0, 'result' > 0 and 'reason' integers, 'description' under 64 bytes");
  f.calllost = strcmp(mode, "calllost") == 0;
  if (res)
    f.result = (int)json_integer_value(res);
  if (reason)
    f.reason = (int)json_integer_value(reason);
  if (count)
    f.count = (int)json_integer_value(count);
  snprintf(f.description, sizeof f.description, "%s", desc ? desc : "MakeCall failed");
  if (sim_calls_fail_makecall(r->ctl->calls, u, &f))
    return error(out, 409, "%s", "too many MakeCall failures armed");
  *out = json_pack("{s:s,s:s,s:i,s:s,s:i,s:i,s:s}", "extn", extn ? extn : "", "mode", mode,
                   "result", f.calllost ? 0 : f.result, "result_name",
                   f.calllost ? "MTCTISESS_SUCCESS" : codec_result_name(f.result), "reason",
                   f.reason, "count", f.count, "description", f.description);
  return 200;
}

static int h_calls_clear(req_t *r, json_t **out) {
  sim_calls_clear_all(r->ctl->calls);
  *out = json_object();
  return 200;
}

/* ---- the system ---- */

static int h_drop(req_t *r, json_t **out) {
  *out = json_pack("{s:i}", "dropped", sim_server_drop_all(r->ctl->server));
  return 200;
}

static int h_terminate(req_t *r, json_t **out) {
  int id = atoi(r->param), n = 0;
  const char *reason = body_str(r, "reason") ? body_str(r, "reason") : "terminated";
  for (int i = 0; i < sim_server_system_count(r->ctl->server); i++)
    n += sim_subs_terminate(sim_server_system_subs(r->ctl->server, i), id, reason);
  if (!n)
    return error(out, 404, "no subscription %s", r->param);
  *out = json_pack("{s:i}", "terminated", n);
  return 200;
}

/* A refresh on one system (body "system") or every system. */
static int h_refresh(req_t *r, json_t **out) {
  sim_server_t *s = r->ctl->server;
  const char *name = body_str(r, "system");
  int only = name ? sim_server_system_find(s, name) : -1, n = 0;
  if (name && only < 0)
    return error(out, 404, "no system %s", name);
  json_t *inst = json_object();
  for (int i = 0; i < sim_server_system_count(s); i++) {
    sim_subs_t *subs = sim_server_system_subs(s, i);
    if (only < 0 || only == i)
      n += sim_subs_refresh(subs);
    json_object_set_new(inst, sim_server_system_name(s, i),
                        json_integer(sim_subs_refreshinstance(subs)));
  }
  *out = json_pack("{s:i,s:o}", "refreshed", n, "refreshinstance", inst);
  return 200;
}

static int h_requests(req_t *r, json_t **out) {
  *out = sim_server_requests(r->ctl->server, 0);
  return 200;
}

static int h_pause(req_t *r, json_t **out) {
  json_t *on = json_object_get(r->body, "on");
  sim_server_pause(r->ctl->server, on ? json_is_true(on) : 1);
  *out = json_pack("{s:b}", "paused", on ? json_is_true(on) : 1);
  return 200;
}

/* ---- a resilient pair ---- */

/* Queues are active on the first system that is up: the primary while it is, else the secondary. */
static int queue_host(sim_server_t *server) {
  for (int i = 0; i < sim_server_system_count(server); i++)
    if (sim_server_system_up(server, i))
      return i;
  return -1;
}

static json_t *systems_json(sim_ctl_t *c) {
  json_t *arr = json_array();
  sim_server_t *s = c->server;
  for (int i = 0; i < sim_server_system_count(s); i++) {
    char url[128];
    snprintf(url, sizeof url, "wss://127.0.0.1:%d/tpkt/openapi", sim_server_system_port(s, i));
    json_array_append_new(arr, json_pack("{s:s,s:b,s:i,s:s}", "name", sim_server_system_name(s, i),
                                         "up", sim_server_system_up(s, i), "wss_port",
                                         sim_server_system_port(s, i), "url", url));
  }
  return json_pack("{s:o,s:s}", "systems", arr, "queues_on",
                   sim_server_system_name(s, sim_calls_queue_system(c->calls)));
}

static int h_systems(req_t *r, json_t **out) {
  *out = systems_json(r->ctl);
  return 200;
}

/* Fail (up 0) or restore (up 1) system r->param; queues follow the rule of queue_host. */
static int system_set(req_t *r, json_t **out, int up) {
  sim_ctl_t *c = r->ctl;
  char err[256];
  int i = sim_server_system_find(c->server, r->param), dropped = 0, moved = 0;
  if (i < 0)
    return error(out, 404, "no system %s", r->param);
  if (sim_server_system_set_up(c->server, i, up, &dropped, err, sizeof err))
    return error(out, 409, "%s", err);
  if (!up)
    sim_calls_system_lost(c->calls, i);
  int host = queue_host(c->server);
  if (host >= 0 && host != sim_calls_queue_system(c->calls))
    moved = sim_calls_set_queue_system(c->calls, host);
  *out = systems_json(c);
  json_object_set_new(*out, "system", json_string(r->param));
  json_object_set_new(*out, "up", json_boolean(up));
  json_object_set_new(*out, "dropped", json_integer(dropped));
  json_object_set_new(*out, "moved", json_integer(moved));
  return 200;
}

static int h_system_fail(req_t *r, json_t **out) { return system_set(r, out, 0); }
static int h_system_restore(req_t *r, json_t **out) { return system_set(r, out, 1); }

static int h_traffic(req_t *r, json_t **out) {
  json_t *cps = json_object_get(r->body, "calls_per_second");
  json_t *churn = json_object_get(r->body, "user_changes_per_second");
  if (!r->ctl->traffic || (!cps && !churn) || (cps && (!json_is_number(cps) || json_number_value(cps) < 0)) ||
      (churn && (!json_is_number(churn) || json_number_value(churn) < 0)))
    return error(out, 400, "%s",
                 "'calls_per_second' and/or 'user_changes_per_second' (numbers >= 0) are required");
  if (cps)
    sim_traffic_set_rate(r->ctl->traffic, json_number_value(cps));
  if (churn)
    sim_traffic_set_churn(r->ctl->traffic, json_number_value(churn));
  *out = sim_traffic_stats(r->ctl->traffic);
  return 200;
}

static int h_scenario(req_t *r, json_t **out) {
  char err[256];
  if (!r->ctl->traffic ||
      sim_traffic_scenario_json(r->ctl->traffic, r->ctl, r->body, err, sizeof err))
    return error(out, 400, "%s", r->ctl->traffic ? err : "no traffic module");
  *out = json_object();
  return 202;
}

typedef struct route {
  const char *method;
  const char *pattern; /* one {placeholder} at most */
  handler_fn fn;
  const char *body;    /* example body, for the docs */
  const char *help;
} route_t;

static const route_t routes[] = {
    {"GET", "/model", h_model, NULL, "the model in the --model file format, plus the live calls"},
    {"GET", "/calls", h_calls, NULL, "every call: gcid and legs (callid, line, state, role)"},
    {"GET", "/stats", h_stats, NULL, "counters: connections, messages, requests handled (server.subscribecmds, server.generalcmds), notifies, subscriptions, calls"},
    {"POST", "/users", h_user_add, "{\"extn\":\"2101\",\"name\":\"Ann\"}", "add a user (any model field; guid generated when absent); lines subscribers get adduser"},
    {"PATCH", "/users/{extn}", h_user_patch, "{\"name\":\"Renamed\",\"dnd\":true}", "change fields (rename: changeuser; others: user notify)"},
    {"DELETE", "/users/{extn}", h_user_del, NULL, "remove a user (deleteuser; its subscriptions are terminated)"},
    {"POST", "/queues", h_queue_add, "{\"extn\":\"5101\",\"name\":\"Sales2\",\"members\":[{\"extn\":\"2001\"}]}", "add a queue"},
    {"PATCH", "/queues/{extn}", h_queue_patch, "{\"name\":\"Renamed\",\"ringmode\":1}", "change a queue"},
    {"DELETE", "/queues/{extn}", h_queue_del, NULL, "remove a queue"},
    {"POST", "/presentities", h_presentity_add, "{\"id\":\"alice@partner.example\",\"dnd\":true,\"phonestate\":4,\"app\":\"In a meeting\"}", "add a presence-only entity (not a user): id, dnd, phonestate (0-8), absence_set, absence_msg, absence_str, app, fwdu, mb_new, noapphandler (default true); presence subscriptions naming it are told"},
    {"PATCH", "/presentities/{id}", h_presentity_patch, "{\"phonestate\":0}", "change a presence-only entity's state"},
    {"DELETE", "/presentities/{id}", h_presentity_del, NULL, "remove a presence-only entity (watchers see an unknown presentity again)"},
    {"POST", "/phone/{extn}/offhook", h_offhook, "{\"dial\":\"2002\"}", "lift the handset and dial (no dial: DIALTONE); returns callid and gcid"},
    {"POST", "/phone/{extn}/dial", h_dial, "{\"digits\":\"2\"}", "dial more digits on a call in DIALTONE/DIALLING"},
    {"POST", "/phone/{extn}/answer", h_answer, "{\"callid\":12}", "answer (callid optional: the first ringing call)"},
    {"POST", "/phone/{extn}/hangup", h_hangup, "{\"callid\":12}", "hang up (callid optional: the first active call)"},
    {"POST", "/phone/{extn}/hold", h_hold, "{\"callid\":12}", "hold the connected call"},
    {"POST", "/phone/{extn}/unhold", h_unhold, "{\"callid\":12}", "take a held call back"},
    {"POST", "/phone/{extn}/transfer", h_transfer, "{\"to\":\"2003\"}", "blind transfer the connected call"},
    {"POST", "/phone/{extn}/park", h_park, "{\"slot\":\"1\"}", "park the connected call"},
    {"POST", "/phone/{extn}/unpark", h_unpark, "{\"slot\":\"1\"}", "pick up a parked call"},
    {"POST", "/trunk/call", h_trunk_call, "{\"from\":\"01707123456\",\"to\":\"5001\",\"name\":\"Caller\",\"did\":\"01707120000\"}", "an inbound trunk call to a user or queue; optional: from, name, did, trunktype (TrunkInfo 1-6, default 1 SIP), ucid (hex, default made up), pintrinsics (text); returns its gcid"},
    {"POST", "/trunk/answer", h_trunk_answer, "{\"gcid\":\"017f00000100000001\"}", "the far end of an outbound call answers now"},
    {"POST", "/trunk/hangup", h_trunk_hangup, "{\"gcid\":\"017f00000100000001\"}", "the trunk party hangs up"},
    {"POST", "/calls/clear", h_calls_clear, NULL, "clear every call"},
    {"POST", "/calls/notes", h_notes, "{\"gcid\":\"017f00000100000001\",\"notes\":\"VIP\"}", "attach notes to a call, as another application would (CallInfo.notes with ccflags NOTES; up to 255 bytes)"},
    {"POST", "/makecall/fail", h_makecall_fail, "{\"extn\":\"2001\",\"mode\":\"calllost\",\"reason\":41,\"description\":\"no route\",\"count\":1}",
     "the next `count` (1) MakeCalls of user `extn` (absent: anyone) fail at once: `calllost` answers SUCCESS then sends only a CallLost (reason, description) for a call never reported, with the MakeCall's referencecallid; `response` answers `result` (default 5000 REQUESTFAILED) and places no call; count 0 disarms"},
    {"POST", "/connections/drop", h_drop, NULL, "close every MTCTI3 connection, as a reboot would"},
    {"POST", "/subscriptions/{id}/terminate", h_terminate, "{\"reason\":\"test\"}", "send SubscribeTerminated for subscription id on every connection (0: all)"},
    {"GET", "/systems", h_systems, NULL, "the systems (primary, and secondary in a pair): name, up, wss_port, url; and queues_on, the system whose queues are active"},
    {"POST", "/systems/{name}/fail", h_system_fail, NULL, "fail a system: its connections are killed (no close handshake), its port refuses connections; its queues' waiting calls move to the other system; answers as GET /systems plus system, up, dropped, moved"},
    {"POST", "/systems/{name}/restore", h_system_restore, NULL, "restore a failed system on the same port; queues return to the primary (waiting calls move back); answers as fail"},
    {"POST", "/refresh", h_refresh, "{\"system\":\"primary\"}", "a refresh (system absent: every system): refreshinstance + 1, and every user, queue, park server and presence subscription resends its whole state; answers refreshed (subscriptions) and refreshinstance per system"},
    {"GET", "/requests", h_requests, NULL, "the requests handled (SubscribeCmd, GeneralCmd; the last 512; not those ignored while paused), oldest first: requests[] of {seq, conn, system, message (proto3 JSON, as received: secrets included)}, and total"},
    {"POST", "/requests/pause", h_pause, "{\"on\":true}", "stop (or resume) answering MTCTI3 requests; NotifyAcks still count"},
    {"POST", "/traffic", h_traffic, "{\"calls_per_second\":2.5,\"user_changes_per_second\":0}",
     "set the load generator's rates: new calls, and user changes (DND, app presence, absence, voicemail)"},
    {"POST", "/scenario", h_scenario, "{\"steps\":[{\"at_ms\":0,\"method\":\"POST\",\"path\":\"/trunk/call\",\"body\":{\"to\":\"2001\"},\"save\":\"c1\"}]}", "run a scenario (as --scenario)"},
};

static int match(const char *pattern, const char *path, char *param, size_t size) {
  const char *brace = strchr(pattern, '{');
  if (!brace)
    return strcmp(pattern, path) == 0;
  size_t pre = (size_t)(brace - pattern);
  const char *after = strchr(brace, '}') + 1;
  if (strncmp(pattern, path, pre) != 0)
    return 0;
  const char *v = path + pre;
  size_t vlen = strcspn(v, "/");
  if (!vlen || vlen >= size || strcmp(v + vlen, after) != 0)
    return 0;
  memcpy(param, v, vlen);
  param[vlen] = '\0';
  return 1;
}

int sim_ctl_execute(sim_ctl_t *ctl, const char *method, const char *path, const json_t *body,
                    json_t **response) {
  char param[128];
  int path_known = 0;
  json_t *empty = NULL;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (!match(routes[i].pattern, path, param, sizeof param))
      continue;
    path_known = 1;
    if (strcmp(routes[i].method, method) != 0)
      continue;
    if (body && !json_is_object(body))
      return error(response, 400, "%s", "the body must be a JSON object");
    if (!body)
      body = empty = json_object();
    req_t r = {ctl, param, body};
    int status = routes[i].fn(&r, response);
    json_decref(empty);
    sim_log(SIM_LOG_INFO, "ctl", "%s %s -> %d", method, path, status);
    return status;
  }
  return path_known ? error(response, 405, "%s not allowed here", method)
                    : error(response, 404, "no route %s", path);
}

void sim_ctl_markdown(FILE *out) {
  fprintf(out, "| method | path | example body | what it does |\n|---|---|---|---|\n");
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    fprintf(out, "| %s | `%s` | %s%s%s | %s |\n", routes[i].method, routes[i].pattern,
            routes[i].body ? "`" : "", routes[i].body ? routes[i].body : "",
            routes[i].body ? "`" : "", routes[i].help);
}

/* ---- HTTP ---- */

typedef struct http_pss {
  char method[8];
  char path[256];
  char *body;
  size_t body_len;
  char *resp;
  size_t resp_len;
  int status;
  int responded; /* lws may still report body completion for an empty POST */
} http_pss_t;

static int http_respond(struct lws *wsi, http_pss_t *h, sim_ctl_t *ctl) {
  json_t *body = NULL, *resp = NULL;
  json_error_t jerr;
  if (h->responded)
    return 0;
  h->responded = 1;
  if (h->body_len) {
    body = json_loadb(h->body, h->body_len, 0, &jerr);
    if (!body) {
      h->status = error(&resp, 400, "bad JSON: %s", jerr.text);
      goto send;
    }
  }
  h->status = sim_ctl_execute(ctl, h->method, h->path, body, &resp);
send:
  free(h->resp);
  h->resp = json_dumps(resp, JSON_COMPACT);
  h->resp_len = h->resp ? strlen(h->resp) : 0;
  json_decref(body);
  json_decref(resp);
  unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
  if (lws_add_http_common_headers(wsi, (unsigned int)h->status, "application/json",
                                  h->resp_len, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  lws_callback_on_writable(wsi);
  return 0;
}

static int cb_ctl(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len) {
  http_pss_t *h = user;
  struct lws_vhost *vh = lws_get_vhost(wsi);
  sim_ctl_t *ctl = vh ? lws_vhost_user(vh) : NULL;
  switch (reason) {
  case LWS_CALLBACK_HTTP: {
    if (!ctl)
      return -1;
    static const char *const methods[] = {"GET", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"};
    char *uri = NULL, cl[32] = "";
    int ulen = 0, m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    memset(h, 0, sizeof *h);
    if (m < 0 || m > 5) {
      lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
      return -1;
    }
    snprintf(h->method, sizeof h->method, "%s", methods[m]);
    snprintf(h->path, sizeof h->path, "%.*s", ulen, uri);
    h->path[strcspn(h->path, "?")] = '\0';
    lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    if (atol(cl) > 0)
      return 0; /* the body comes next */
    return http_respond(wsi, h, ctl);
  }
  case LWS_CALLBACK_HTTP_BODY:
    if (!len)
      return 0;
    if (h->body_len + len > BODY_MAX)
      return -1;
    {
      char *n = realloc(h->body, h->body_len + len + 1);
      if (!n)
        return -1;
      h->body = n;
      memcpy(h->body + h->body_len, in, len);
      h->body_len += len;
    }
    return 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    return http_respond(wsi, h, ctl);
  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (!h->resp)
      return -1;
    {
      unsigned char *buf = malloc(LWS_PRE + h->resp_len + 1);
      if (!buf)
        return -1;
      memcpy(buf + LWS_PRE, h->resp, h->resp_len);
      int n = lws_write(wsi, buf + LWS_PRE, h->resp_len, LWS_WRITE_HTTP_FINAL);
      free(buf);
      free(h->resp);
      h->resp = NULL;
      free(h->body);
      h->body = NULL;
      h->body_len = 0;
      if (n < 0)
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  case LWS_CALLBACK_CLOSED_HTTP:
    free(h->body);
    free(h->resp);
    h->body = h->resp = NULL;
    return 0;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols ctl_protocol = {"sim-control", cb_ctl, sizeof(http_pss_t), 0,
                                                  0, NULL, 0};

const struct lws_protocols *sim_ctl_http_protocol(void) { return &ctl_protocol; }

int sim_ctl_new(sim_model_t *model, sim_calls_t *calls, sim_ctl_t **ctl, char *errstr,
                size_t errstr_size) {
  sim_ctl_t *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  c->model = model;
  c->calls = calls;
  *ctl = c;
  return 0;
}

void sim_ctl_set_server(sim_ctl_t *c, sim_server_t *server) { c->server = server; }
void sim_ctl_set_traffic(sim_ctl_t *c, sim_traffic_t *traffic) { c->traffic = traffic; }
void sim_ctl_free(sim_ctl_t *c) { free(c); }
