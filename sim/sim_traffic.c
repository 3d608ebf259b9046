/*
 * sim_traffic: see sim_traffic.h.
 */
#include "sim_traffic.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "codec_tables.h"
#include "sim_log.h"

#define ST(x) (1u << CALL_INFO__STATE__##x)
#define MAX_VARS 64
#define POLL_MS 250

/* The mix: each plan with its share of the calls. */
typedef enum plan { P_ANSWERED, P_HELD, P_TRANSFERRED, P_QUEUED, P_ABANDONED, P_UNANSWERED } plan_t;
static const struct {
  plan_t plan;
  int weight;
  const char *name;
} mix[] = {
    {P_ANSWERED, 35, "answered"},   {P_HELD, 10, "held"},
    {P_TRANSFERRED, 10, "transferred"}, {P_QUEUED, 25, "queued"},
    {P_ABANDONED, 10, "abandoned"}, {P_UNANSWERED, 10, "unanswered"},
};
#define N_MIX (sizeof mix / sizeof mix[0])

typedef enum step { S_ANSWER, S_HOLD, S_UNHOLD, S_TRANSFER, S_ANSWER2, S_HANGUP, S_DONE } step_t;

typedef struct gen_call {
  lws_dll2_t list;
  sim_traffic_t *t;
  sim_timer_t timer;
  plan_t plan;
  step_t step;
  char gcid[32];
  char transfer_to[16];
  int talk_ms;
  int waited_ms;
} gen_call_t;

typedef struct scen_step {
  int at_ms;
  json_t *step;
} scen_step_t;

struct sim_traffic {
  sim_model_t *model;
  sim_calls_t *calls;
  sim_timers_t *timers;
  uint64_t rng;
  int ring_ms;
  double rate;
  sim_timer_t timer_gen;
  lws_dll2_owner_t active;
  unsigned long started[N_MIX];
  unsigned long failed;
  /* Presence churn: users changing DND, app presence, absence, voicemail. */
  double churn_rate;
  double churn_carry;
  int64_t churn_last_us;
  sim_timer_t timer_churn;
  unsigned long changes;
  /* The running scenario. */
  sim_ctl_t *ctl;
  json_t *scenario;
  size_t next_step;
  int64_t scenario_start_ms;
  sim_timer_t timer_scen;
  json_t *vars;
  unsigned long steps_run, steps_failed;
};

static int rnd(sim_traffic_t *t, int lo, int hi) {
  return lo + (int)(sim_rand(&t->rng) % (uint32_t)(hi - lo + 1));
}

static void gen_free(gen_call_t *g) {
  sim_timer_cancel(&g->timer);
  lws_dll2_remove(&g->list);
  free(g);
}

static void gen_at(gen_call_t *g, int ms);

/* One step of a generated call's plan. */
static void gen_cb(sim_timer_t *timer) {
  gen_call_t *g = lws_container_of(timer, gen_call_t, timer);
  sim_traffic_t *t = g->t;
  uint8_t owner[SIM_GUID_LEN];
  int callid;
  switch (g->step) {
  case S_ANSWER:
  case S_ANSWER2:
    callid = sim_calls_gcid_user_leg(t->calls, g->gcid, ST(RINGING), owner);
    if (!callid) {
      /* Not ringing anywhere yet (queued): wait, unless the call is gone. */
      if (!sim_calls_gcid_user_leg(t->calls, g->gcid, ~0u, owner) && g->waited_ms > 2000 &&
          sim_calls_trunk_hangup(t->calls, g->gcid) != MTCTISESS_SUCCESS) {
        gen_free(g);
        return;
      }
      g->waited_ms += POLL_MS;
      if (g->waited_ms > 60000) {
        sim_calls_trunk_hangup(t->calls, g->gcid);
        gen_free(g);
        return;
      }
      gen_at(g, POLL_MS);
      return;
    }
    sim_calls_action(t->calls, SIM_LINE_USER, owner, callid, CALL_FUNCTION__ACTION__AnswerCall, NULL);
    if (g->plan == P_HELD && g->step == S_ANSWER)
      g->step = S_HOLD;
    else if (g->plan == P_TRANSFERRED && g->step == S_ANSWER)
      g->step = S_TRANSFER;
    else
      g->step = S_HANGUP;
    gen_at(g, g->step == S_HANGUP ? g->talk_ms : rnd(t, 1000, 3000));
    return;
  case S_HOLD:
  case S_UNHOLD:
    callid = sim_calls_gcid_user_leg(t->calls, g->gcid, g->step == S_HOLD ? ST(CONNECTED) : ST(ONHOLD), owner);
    if (callid)
      sim_calls_action(t->calls, SIM_LINE_USER, owner, callid,
                       g->step == S_HOLD ? CALL_FUNCTION__ACTION__HoldCall
                                         : CALL_FUNCTION__ACTION__UnHoldCall, NULL);
    g->step = g->step == S_HOLD ? S_UNHOLD : S_HANGUP;
    gen_at(g, g->step == S_HANGUP ? g->talk_ms : rnd(t, 1000, 4000));
    return;
  case S_TRANSFER:
    callid = sim_calls_gcid_user_leg(t->calls, g->gcid, ST(CONNECTED), owner);
    if (callid && sim_calls_action(t->calls, SIM_LINE_USER, owner, callid,
                                   CALL_FUNCTION__ACTION__BlindTransfer, g->transfer_to) == MTCTISESS_SUCCESS) {
      g->step = S_ANSWER2;
      g->waited_ms = 0;
      gen_at(g, rnd(t, 500, t->ring_ms + 500));
      return;
    }
    g->step = S_HANGUP;
    gen_at(g, g->talk_ms);
    return;
  case S_HANGUP:
    /* Half the time the caller hangs up, half the time the agent. */
    callid = sim_calls_gcid_user_leg(t->calls, g->gcid, ST(CONNECTED) | ST(ONHOLD), owner);
    if (callid && rnd(t, 0, 1))
      sim_calls_action(t->calls, SIM_LINE_USER, owner, callid, CALL_FUNCTION__ACTION__DropCall, NULL);
    else
      sim_calls_trunk_hangup(t->calls, g->gcid);
    gen_free(g);
    return;
  case S_DONE:
    gen_free(g);
    return;
  }
}

static void gen_at(gen_call_t *g, int ms) {
  sim_timer_schedule(g->t->timers, &g->timer, gen_cb, (lws_usec_t)ms * LWS_US_PER_MS);
}

static void start_call(sim_traffic_t *t) {
  size_t nu = sim_model_user_count(t->model), nq = sim_model_queue_count(t->model);
  int total = 0, pick;
  size_t k;
  if (!nu)
    return;
  for (k = 0; k < N_MIX; k++)
    total += mix[k].weight;
  pick = rnd(t, 0, total - 1);
  for (k = 0; k < N_MIX - 1 && pick >= mix[k].weight; k++)
    pick -= mix[k].weight;
  gen_call_t *g = calloc(1, sizeof *g);
  if (!g)
    return;
  g->t = t;
  g->plan = mix[k].plan;
  g->talk_ms = rnd(t, 2000, 10000);
  const char *to;
  if ((g->plan == P_QUEUED || (g->plan == P_ABANDONED && rnd(t, 0, 1))) && nq)
    to = sim_model_queue_at(t->model, (size_t)rnd(t, 0, (int)nq - 1))->extn;
  else
    to = sim_model_user_at(t->model, (size_t)rnd(t, 0, (int)nu - 1))->extn;
  snprintf(g->transfer_to, sizeof g->transfer_to, "%s",
           sim_model_user_at(t->model, (size_t)rnd(t, 0, (int)nu - 1))->extn);
  char from[32];
  size_t nt = sim_model_trunk_count(t->model);
  snprintf(from, sizeof from, "0%d", rnd(t, 100000000, 999999999));
  /* Callers dial the trunks' numbers in turn. */
  sim_trunk_call_t tc = {from, "Caller", to,
                         nt ? sim_model_trunk_at(t->model, (size_t)rnd(t, 0, (int)nt - 1)) : NULL,
                         0, NULL, NULL};
  int rc = sim_calls_trunk_inbound(t->calls, &tc, g->gcid, sizeof g->gcid);
  t->started[k]++;
  if (rc != MTCTISESS_SUCCESS) {
    t->failed++;
    free(g);
    return;
  }
  lws_dll2_add_tail(&g->list, &t->active);
  switch (g->plan) {
  case P_ABANDONED:
    g->step = S_HANGUP;
    gen_at(g, rnd(t, 1000, 4000));
    g->talk_ms = 0;
    break;
  case P_UNANSWERED:
    g->step = S_HANGUP;
    gen_at(g, rnd(t, 6000, 12000));
    break;
  default:
    g->step = S_ANSWER;
    gen_at(g, rnd(t, 300, t->ring_ms + 1500));
  }
}

static void gen_tick(sim_timer_t *timer) {
  sim_traffic_t *t = lws_container_of(timer, sim_traffic_t, timer_gen);
  if (t->rate <= 0)
    return;
  start_call(t);
  /* Exponential gaps: a Poisson arrival process at the configured rate. */
  double u = (sim_rand(&t->rng) + 1.0) / 4294967297.0;
  double gap_ms = -log(u) * 1000.0 / t->rate;
  if (gap_ms < 1)
    gap_ms = 1;
  sim_timer_schedule(t->timers, &t->timer_gen, gen_tick, (lws_usec_t)(gap_ms * 1000));
}

void sim_traffic_set_rate(sim_traffic_t *t, double cps) {
  t->rate = cps;
  sim_timer_cancel(&t->timer_gen);
  if (cps > 0)
    sim_timer_schedule(t->timers, &t->timer_gen, gen_tick, 1000);
  sim_log(SIM_LOG_INFO, "traffic", "load generator at %.2f calls/s", cps);
}

/* ---- presence churn ---- */

#define CHURN_TICK_MS 5

static const char *const churn_apps[] = {"", "Available", "In a meeting", "Lunch", "Back at 3",
                                         "Working from home"};

/* One person changes one thing, as at the phone or in the app. */
static void churn_one(sim_traffic_t *t) {
  size_t nu = sim_model_user_count(t->model);
  if (!nu)
    return;
  sim_user_t *u = sim_model_user_at(t->model, (size_t)rnd(t, 0, (int)nu - 1));
  switch (rnd(t, 0, 3)) {
  case 0:
    u->dnd = !u->dnd;
    break;
  case 1:
    snprintf(u->app, sizeof u->app, "%s",
             churn_apps[rnd(t, 0, (int)(sizeof churn_apps / sizeof churn_apps[0]) - 1)]);
    break;
  case 2:
    u->absence_set = !u->absence_set;
    u->absence_msg = u->absence_set ? rnd(t, 1, 20) : 0;
    break;
  default:
    u->mb_new = u->mb_new >= 9 ? 0 : u->mb_new + 1;
    break;
  }
  t->changes++;
  sim_model_notify(t->model, SIM_EV_USER_CHANGED, u);
}

static void churn_tick(sim_timer_t *timer) {
  sim_traffic_t *t = lws_container_of(timer, sim_traffic_t, timer_churn);
  if (t->churn_rate <= 0)
    return;
  int64_t now = (int64_t)lws_now_usecs();
  t->churn_carry += t->churn_rate * (double)(now - t->churn_last_us) / 1e6;
  t->churn_last_us = now;
  if (t->churn_carry > t->churn_rate) /* a stalled loop does not make up for lost time */
    t->churn_carry = t->churn_rate;
  for (; t->churn_carry >= 1; t->churn_carry -= 1)
    churn_one(t);
  sim_timer_schedule(t->timers, &t->timer_churn, churn_tick, CHURN_TICK_MS * LWS_US_PER_MS);
}

void sim_traffic_set_churn(sim_traffic_t *t, double changes_per_second) {
  t->churn_rate = changes_per_second;
  sim_timer_cancel(&t->timer_churn);
  if (changes_per_second > 0) {
    t->churn_last_us = (int64_t)lws_now_usecs();
    t->churn_carry = 0;
    sim_timer_schedule(t->timers, &t->timer_churn, churn_tick, CHURN_TICK_MS * LWS_US_PER_MS);
  }
  sim_log(SIM_LOG_INFO, "traffic", "presence churn at %.0f user changes/s", changes_per_second);
}

/* ---- scenarios ---- */

/* Replace ${name} with saved values in every string of a JSON value (in place). */
static json_t *subst(sim_traffic_t *t, json_t *v) {
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char out[1024];
    size_t n = 0;
    while (*s && n < sizeof out - 1) {
      const char *end;
      if (s[0] == '$' && s[1] == '{' && (end = strchr(s, '}'))) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(end - s - 2), s + 2);
        json_t *val = json_object_get(t->vars, name);
        char num[32];
        const char *txt = json_is_string(val) ? json_string_value(val) : "";
        if (json_is_integer(val)) {
          snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
          txt = num;
        }
        n += (size_t)snprintf(out + n, sizeof out - n, "%s", txt);
        if (n >= sizeof out)
          n = sizeof out - 1;
        s = end + 1;
      } else {
        out[n++] = *s++;
      }
    }
    out[n] = '\0';
    return json_string(out);
  }
  if (json_is_object(v)) {
    json_t *o = json_object();
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) json_object_set_new(o, k, subst(t, x));
    return o;
  }
  if (json_is_array(v)) {
    json_t *a = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) json_array_append_new(a, subst(t, x));
    return a;
  }
  return json_incref(v);
}

static void scen_cb(sim_timer_t *timer);

static void scen_next(sim_traffic_t *t) {
  json_t *steps = json_object_get(t->scenario, "steps");
  if (t->next_step >= json_array_size(steps)) {
    sim_log(SIM_LOG_INFO, "traffic", "scenario done: %lu steps, %lu failed", t->steps_run,
            t->steps_failed);
    return;
  }
  json_t *st = json_array_get(steps, t->next_step);
  int64_t at = t->scenario_start_ms + json_integer_value(json_object_get(st, "at_ms"));
  int64_t now = (int64_t)(lws_now_usecs() / 1000);
  sim_timer_schedule(t->timers, &t->timer_scen, scen_cb,
                   (lws_usec_t)(at > now ? at - now : 0) * LWS_US_PER_MS + 1);
}

static void scen_cb(sim_timer_t *timer) {
  sim_traffic_t *t = lws_container_of(timer, sim_traffic_t, timer_scen);
  json_t *st = json_array_get(json_object_get(t->scenario, "steps"), t->next_step++);
  json_t *path = subst(t, json_object_get(st, "path"));
  json_t *body = json_object_get(st, "body") ? subst(t, json_object_get(st, "body")) : NULL;
  const char *method = json_string_value(json_object_get(st, "method"));
  json_t *resp = NULL;
  int status = sim_ctl_execute(t->ctl, method ? method : "POST", json_string_value(path), body, &resp);
  t->steps_run++;
  if (status >= 300) {
    t->steps_failed++;
    char *txt = json_dumps(resp, JSON_COMPACT);
    sim_log(SIM_LOG_WARN, "traffic", "scenario step %zu (%s) -> %d %s", t->next_step,
            json_string_value(path), status, txt ? txt : "");
    free(txt);
  }
  /* "save": "name" keeps the answer's gcid (or callid) for later steps. */
  const char *save = json_string_value(json_object_get(st, "save"));
  if (save && resp) {
    json_t *v = json_object_get(resp, "gcid");
    if (!v || !json_string_length(v))
      v = json_object_get(resp, "callid");
    if (v)
      json_object_set(t->vars, save, v);
  }
  json_decref(path);
  json_decref(body);
  json_decref(resp);
  scen_next(t);
}

int sim_traffic_scenario_json(sim_traffic_t *t, sim_ctl_t *ctl, const json_t *scenario,
                              char *errstr, size_t errstr_size) {
  json_t *steps = json_object_get(scenario, "steps");
  size_t i;
  json_t *st;
  int last = 0;
  if (!json_is_array(steps)) {
    snprintf(errstr, errstr_size, "a scenario is {\"steps\":[...]}");
    return -1;
  }
  json_array_foreach(steps, i, st) {
    json_t *at = json_object_get(st, "at_ms");
    if (!json_is_integer(at) || json_integer_value(at) < last ||
        !json_is_string(json_object_get(st, "path"))) {
      snprintf(errstr, errstr_size, "steps[%zu]: needs a \"path\" and \"at_ms\" (not decreasing)", i);
      return -1;
    }
    last = (int)json_integer_value(at);
  }
  sim_timer_cancel(&t->timer_scen);
  json_decref(t->scenario);
  t->scenario = json_deep_copy(scenario);
  t->ctl = ctl;
  t->next_step = 0;
  t->scenario_start_ms = (int64_t)(lws_now_usecs() / 1000);
  scen_next(t);
  return 0;
}

int sim_traffic_scenario(sim_traffic_t *t, sim_ctl_t *ctl, const char *path, char *errstr,
                         size_t errstr_size) {
  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  if (!root) {
    snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
    return -1;
  }
  int rc = sim_traffic_scenario_json(t, ctl, root, errstr, errstr_size);
  json_decref(root);
  return rc;
}

json_t *sim_traffic_stats(sim_traffic_t *t) {
  json_t *started = json_object();
  for (size_t k = 0; k < N_MIX; k++)
    json_object_set_new(started, mix[k].name, json_integer((json_int_t)t->started[k]));
  return json_pack("{s:f,s:f,s:I,s:o,s:I,s:I,s:I,s:I}", "calls_per_second", t->rate,
                   "user_changes_per_second", t->churn_rate, "user_changes", (json_int_t)t->changes,
                   "started", started, "failed", (json_int_t)t->failed, "active", (json_int_t)t->active.count,
                   "scenario_steps_run", (json_int_t)t->steps_run, "scenario_steps_failed",
                   (json_int_t)t->steps_failed);
}

int sim_traffic_new(sim_model_t *model, sim_calls_t *calls, sim_timers_t *timers,
                    unsigned seed, int ring_ms, sim_traffic_t **traffic, char *errstr,
                    size_t errstr_size) {
  sim_traffic_t *t = calloc(1, sizeof *t);
  if (!t || !(t->vars = json_object())) {
    free(t);
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  t->model = model;
  t->calls = calls;
  t->timers = timers;
  t->rng = (uint64_t)seed * 7919u + 17u;
  t->ring_ms = ring_ms;
  *traffic = t;
  return 0;
}

void sim_traffic_free(sim_traffic_t *t) {
  if (!t)
    return;
  sim_timer_cancel(&t->timer_gen);
  sim_timer_cancel(&t->timer_scen);
  sim_timer_cancel(&t->timer_churn);
  while (t->active.head)
    gen_free(lws_container_of(t->active.head, gen_call_t, list));
  json_decref(t->scenario);
  json_decref(t->vars);
  free(t);
}
