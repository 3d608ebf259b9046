/*
 * sim_calls_make: MakeCall (see sim_calls.h): the checks, the table of
 * MakeCall types the spec names, and the failures the control API arms.
 *
 * DESIGN: one table lists every MakeCall.type the simulator accepts with
 * its name and the function that places the call: 0 (a normal call), 104
 * page, 105 force-feed, 106 intrude, 108 pickup, 109 camp-on and 116
 * MeetMe; any other type is UNSUPPORTED.  Each is modelled on what the spec
 * says of it (docs/sim.md has the behaviour).  Before placing the call, an
 * armed failure may take the MakeCall instead: refused with a result code,
 * or accepted and then lost at once (only a CallLost, for a call never
 * reported, with the application's referencecallid).  Service thread only.
 */
#include "sim_calls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_tables.h"
#include "sim_log.h"

#define MAX_FAILURES 16

typedef int (*place_fn)(sim_calls_t *c, sim_user_t *u, const char *target,
                        const AdvancedMakeCall *adv, int refid, int *callid);

/* ---- the caller's leg ---- */

/* The calling user's new leg in call, with the application's reference and advanced options. */
static leg_t *origin_leg(sim_calls_t *c, call_t *call, role_t role, sim_user_t *u,
                         const AdvancedMakeCall *adv, int refid) {
  leg_t *a = calls_leg_new(call, role, SIM_LINE_USER, u->guid);
  if (!a)
    return NULL;
  calls_user_party(u, &a->self);
  a->direction = CALL_INFO__DIRECTION__OUTBOUND;
  a->refid = refid;
  if (adv) {
    if (adv->accountcode)
      snprintf(a->acct, sizeof a->acct, "%s", adv->accountcode);
    if (adv->authcode)
      snprintf(a->auth, sizeof a->auth, "%s", adv->authcode);
    if (adv->tag)
      snprintf(a->tag, sizeof a->tag, "%.127s", adv->tag);
    a->privacy = adv->privacy;
    a->withholdcli = adv->withholdcli;
    /* What the called party sees: another CLI, or none. */
    if (adv->explicitcli && *adv->explicitcli)
      snprintf(a->self.number, sizeof a->self.number, "%s", adv->explicitcli);
    a->self.withheld = adv->withholdcli && !adv->allowcli;
  }
  return a;
}

/* A new call from u: its originating leg (NULL when out of memory). */
static leg_t *new_call(sim_calls_t *c, sim_user_t *u, const AdvancedMakeCall *adv, int refid) {
  call_t *call = calls_call_new(c);
  leg_t *a = call ? origin_leg(c, call, ROLE_A, u, adv, refid) : NULL;
  if (!a && call)
    calls_call_free(call);
  return a;
}

/* The tag and account code the caller set go with the call to every other party. */
static void share_advanced(leg_t *a, const AdvancedMakeCall *adv) {
  if (!adv)
    return;
  for (leg_t *o = a->call->legs; o; o = o->next)
    if (o != a) {
      snprintf(o->acct, sizeof o->acct, "%s", a->acct);
      snprintf(o->tag, sizeof o->tag, "%s", a->tag);
    }
}

static int done(leg_t *a, int *callid) {
  *callid = a->id;
  calls_touch_call(a->call);
  return MTCTISESS_SUCCESS;
}

/* ---- the types ---- */

/* 0: dial target (or dial tone without one). */
static int place_normal(sim_calls_t *c, sim_user_t *u, const char *target,
                        const AdvancedMakeCall *adv, int refid, int *callid) {
  leg_t *a = new_call(c, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  calls_hold_others(c, a);
  if (target && *target)
    calls_route(c, a->call, a, target);
  else
    a->state = S(DIALTONE);
  share_advanced(a, adv);
  return done(a, callid);
}

/* A user a page reaches: logged in, not in DND, idle. */
static int pageable(sim_calls_t *c, const sim_user_t *v, const sim_user_t *from) {
  return v && v != from && v->loggedinextn[0] && !v->dnd && calls_user_legs(c, v) == 0;
}

/* One paged phone: it answers at once on its speaker, one way (pagecall, AnswerPage offered). */
static void page_one(sim_calls_t *c, call_t *call, sim_user_t *v) {
  leg_t *b = calls_offer_user(c, call, v, NULL);
  if (b) {
    b->state = S(CONNECTED);
    b->pagecall = 1;
  }
}

/*
 * 104: a page to a user, or to every available member of a queue (a group
 * page).  Paged phones are connected at once with pagecall set; a user who
 * is busy, in DND or logged off is not paged; nobody paged: BUSY.
 */
static int place_page(sim_calls_t *c, sim_user_t *u, const char *target,
                      const AdvancedMakeCall *adv, int refid, int *callid) {
  sim_user_t *v = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  if (!target || !*target)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  tgt_t t = calls_resolve(c, target, &v, &q, &ext);
  leg_t *a = new_call(c, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  call_t *call = a->call;
  snprintf(a->called, sizeof a->called, "%s", target);
  calls_hold_others(c, a);
  if (t == TGT_USER && pageable(c, v, u))
    page_one(c, call, v);
  else if (t == TGT_QUEUE)
    for (int i = 0; i < q->n_members; i++) {
      sim_user_t *m = sim_model_user_by_extn(c->model, q->members[i].extn);
      if (!q->members[i].disabled && pageable(c, m, u))
        page_one(c, call, m);
    }
  int paged = calls_parties(call, NULL, NULL) > 1;
  if (t != TGT_USER && t != TGT_QUEUE) {
    a->state = S(FAILED);
    a->failedcause = CALL_INFO__FAILED_CAUSE__UNALLOCATEDNUMBER;
  } else {
    a->state = paged ? S(CONNECTED) : S(BUSY);
  }
  share_advanced(a, adv);
  return done(a, callid);
}

/* The first user leg of call ringing as its direct result (forwarded or not). */
static leg_t *ringing_user(call_t *call) {
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role == ROLE_B && o->kind == SIM_LINE_USER && o->state == S(RINGING))
      return o;
  return NULL;
}

/* 105: a call the called phone answers by itself (force-feed, "force autoanswer"). */
static int place_forcefeed(sim_calls_t *c, sim_user_t *u, const char *target,
                           const AdvancedMakeCall *adv, int refid, int *callid) {
  sim_user_t *v = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  if (!target || !*target)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  leg_t *a = new_call(c, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  calls_hold_others(c, a);
  calls_route(c, a->call, a, target);
  leg_t *b = calls_resolve(c, target, &v, &q, &ext) == TGT_USER ? ringing_user(a->call) : NULL;
  if (b) {
    sim_timer_cancel(&a->call->timer_ring); /* no voicemail: it is answered */
    calls_answer(c, b);
  }
  share_advanced(a, adv);
  return done(a, callid);
}

/* A connected call of user v: the leg, or NULL. */
static leg_t *connected_leg(sim_calls_t *c, const sim_user_t *v) {
  int id = sim_calls_user_leg(c, v, 1u << S(CONNECTED));
  return id ? calls_leg_find(c, id) : NULL;
}

/*
 * 106: intrude into the target user's connected call: the caller joins it
 * (a conference of three).  A call anyone in it made private refuses
 * (PERMISSION); an idle target gets a normal call.
 */
static int place_intrude(sim_calls_t *c, sim_user_t *u, const char *target,
                         const AdvancedMakeCall *adv, int refid, int *callid) {
  sim_user_t *v = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  if (!target || !*target)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  leg_t *on = calls_resolve(c, target, &v, &q, &ext) == TGT_USER && v != u ? connected_leg(c, v)
                                                                         : NULL;
  if (!on)
    return place_normal(c, u, target, adv, refid, callid);
  for (leg_t *o = on->call->legs; o; o = o->next)
    if (o->privacy)
      return MTCTISESS_CALLCONTROL_PERMISSION;
  leg_t *a = origin_leg(c, on->call, ROLE_B, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  snprintf(a->called, sizeof a->called, "%s", target);
  calls_hold_others(c, a);
  a->state = S(CONNECTED);
  calls_queue_sync(c, a->call);
  return done(a, callid);
}

/* A ringing call to pick up at target (a user, or a queue's calls), not u's own. */
static leg_t *pickable(sim_calls_t *c, const sim_user_t *u, const char *target) {
  sim_user_t *v = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  tgt_t t = target && *target ? calls_resolve(c, target, &v, &q, &ext) : TGT_NONE;
  if (target && *target && t != TGT_USER && t != TGT_QUEUE)
    return NULL;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *o = call->legs; o; o = o->next) {
      if (o->role != ROLE_B || o->kind != SIM_LINE_USER || o->state != S(RINGING) ||
          memcmp(o->owner, u->guid, SIM_GUID_LEN) == 0)
        continue;
      if ((t == TGT_NONE) || (t == TGT_USER && memcmp(o->owner, v->guid, SIM_GUID_LEN) == 0) ||
          (t == TGT_QUEUE && memcmp(call->dist_queue, q->guid, SIM_GUID_LEN) == 0))
        return o;
    }
  } lws_end_foreach_dll(d);
  return NULL;
}

/*
 * 108: pick up a call ringing at target (a user's extension; a queue's
 * extension: a call the queue offers; empty: any call ringing anywhere).
 * The caller answers it (direction PICKUP); the ringing offers end.
 * Nothing ringing there: TARGETNOTFOUND.
 */
static int place_pickup(sim_calls_t *c, sim_user_t *u, const char *target,
                        const AdvancedMakeCall *adv, int refid, int *callid) {
  leg_t *o = pickable(c, u, target);
  if (!o)
    return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
  leg_t *a = origin_leg(c, o->call, ROLE_B, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  a->direction = CALL_INFO__DIRECTION__PICKUP;
  a->state = S(RINGING);
  if (target)
    snprintf(a->called, sizeof a->called, "%s", target);
  calls_answer(c, a); /* withdraws the other offers */
  return done(a, callid);
}

/* A user a camped-on call can ring now: logged in, not in DND, no other call. */
static int campon_free(sim_calls_t *c, const sim_user_t *v) {
  return v->loggedinextn[0] && !v->dnd && calls_user_legs(c, v) == 0;
}

/*
 * 109: camp on a user: the call rings the user's phone only (no forwarding,
 * never voicemail); while the user is busy (on a call, in DND, logged off)
 * the caller waits in RINGBACK and the call rings as soon as the user is
 * free.  Other targets: a normal call.
 */
static int place_campon(sim_calls_t *c, sim_user_t *u, const char *target,
                        const AdvancedMakeCall *adv, int refid, int *callid) {
  sim_user_t *v = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  if (!target || !*target)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (calls_resolve(c, target, &v, &q, &ext) != TGT_USER || v == u)
    return place_normal(c, u, target, adv, refid, callid);
  leg_t *a = new_call(c, u, adv, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  call_t *call = a->call;
  snprintf(a->called, sizeof a->called, "%s", target);
  calls_hold_others(c, a);
  call->campon = 1;
  memcpy(call->campon_user, v->guid, SIM_GUID_LEN);
  a->state = S(RINGBACK);
  if (campon_free(c, v))
    calls_offer_user(c, call, v, NULL);
  share_advanced(a, adv);
  return done(a, callid);
}

void calls_campon_retry(sim_calls_t *c, call_t *call) {
  sim_user_t *v = sim_model_user_by_guid(c->model, call->campon_user, SIM_GUID_LEN);
  int con = 0;
  calls_parties(call, &con, NULL);
  if (con || !v || !campon_free(c, v))
    return; /* answered, or still busy */
  leg_t *b = calls_offer_user(c, call, v, NULL);
  if (b) {
    share_advanced(calls_origin(call), NULL);
    calls_touch_call(call);
  }
}

/* The MeetMe conference numbered `number`, or NULL. */
static call_t *meetme_find(sim_calls_t *c, const char *number) {
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    if (call->meetme[0] && strcmp(call->meetme, number) == 0)
      return call;
  } lws_end_foreach_dll(d);
  return NULL;
}

/*
 * 116: dial into MeetMe conference `target` (any number: the first caller
 * opens it).  Each caller is connected to the conference bridge; with two
 * or more callers the call is a conference (conferencemember lists the
 * others).  It lasts while someone is in it; ForceClear on any member's
 * call ends it for all.
 */
static int place_meetme(sim_calls_t *c, sim_user_t *u, const char *target,
                        const AdvancedMakeCall *adv, int refid, int *callid) {
  if (!target || !*target)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  call_t *call = meetme_find(c, target);
  leg_t *a;
  if (!call) {
    if (!(a = new_call(c, u, adv, refid)))
      return MTCTISESS_REQUESTFAILED;
    call = a->call;
    snprintf(call->meetme, sizeof call->meetme, "%s", target);
    leg_t *bridge = calls_leg_new(call, ROLE_B, SIM_LINE_CONF, NULL);
    if (!bridge) {
      calls_call_clear(c, call, NULL);
      return MTCTISESS_REQUESTFAILED;
    }
    snprintf(bridge->self.number, sizeof bridge->self.number, "%s", target);
    snprintf(bridge->self.name, sizeof bridge->self.name, "MeetMe %.50s", target);
    bridge->self.nametype = 5;
    bridge->state = S(CONNECTED);
  } else if (!(a = origin_leg(c, call, ROLE_B, u, adv, refid))) {
    return MTCTISESS_REQUESTFAILED;
  }
  snprintf(a->called, sizeof a->called, "%s", target);
  calls_hold_others(c, a);
  a->state = S(CONNECTED);
  return done(a, callid);
}

static const struct make_type {
  int type;
  const char *name;
  place_fn place;
} make_types[] = {
    {0, "normal", place_normal},
    {104, "page", place_page},
    {105, "forcefeed", place_forcefeed},
    {106, "intrude", place_intrude},
    {108, "pickup", place_pickup},
    {109, "campon", place_campon},
    {116, "meetme", place_meetme},
};
#define N_TYPES (sizeof make_types / sizeof make_types[0])

static const struct make_type *make_type(int type) {
  for (size_t i = 0; i < N_TYPES; i++)
    if (make_types[i].type == type)
      return &make_types[i];
  return NULL;
}

const char *sim_calls_make_type_name(int type) {
  const struct make_type *t = make_type(type);
  return t ? t->name : NULL;
}

/* ---- failures armed by the control API ---- */

int sim_calls_fail_makecall(sim_calls_t *c, const sim_user_t *u, const sim_makecall_failure_t *f) {
  /* One entry per user (or for anyone): arming again replaces it, count 0 removes it. */
  size_t i = 0;
  for (; i < c->n_failures; i++)
    if (c->failures[i].any_user == !u &&
        (!u || memcmp(c->failures[i].user, u->guid, SIM_GUID_LEN) == 0))
      break;
  if (f->count <= 0) {
    if (i < c->n_failures)
      c->failures[i] = c->failures[--c->n_failures];
    return 0;
  }
  if (i == c->n_failures) {
    if (c->n_failures == MAX_FAILURES)
      return -1;
    if (!c->failures && !(c->failures = calloc(MAX_FAILURES, sizeof *c->failures)))
      return -1;
    c->n_failures++;
  }
  struct make_failure *mf = &c->failures[i];
  memset(mf, 0, sizeof *mf);
  mf->any_user = !u;
  if (u)
    memcpy(mf->user, u->guid, SIM_GUID_LEN);
  mf->f = *f;
  return 0;
}

/* The failure armed for u (its own before anyone's), counted down; NULL when none. */
static const sim_makecall_failure_t *take_failure(sim_calls_t *c, const sim_user_t *u,
                                                  sim_makecall_failure_t *out) {
  struct make_failure *hit = NULL;
  for (size_t i = 0; i < c->n_failures; i++) {
    struct make_failure *mf = &c->failures[i];
    if (!mf->any_user && memcmp(mf->user, u->guid, SIM_GUID_LEN) == 0)
      hit = mf;
    else if (mf->any_user && !hit)
      hit = mf;
  }
  if (!hit)
    return NULL;
  *out = hit->f;
  if (--hit->f.count <= 0)
    *hit = c->failures[--c->n_failures];
  return out;
}

/*
 * "If a MakeCall fails instantly, and for some reason there is not a stable
 * FAILED state, you may never see a CallInfo for the call, only the
 * CallLost": a call that ends before it is ever reported.
 */
static int lost_at_once(sim_calls_t *c, sim_user_t *u, const sim_makecall_failure_t *f,
                        int refid) {
  leg_t *a = new_call(c, u, NULL, refid);
  if (!a)
    return MTCTISESS_REQUESTFAILED;
  call_t *call = a->call;
  a->lost_reason = f->reason;
  snprintf(a->lost_desc, sizeof a->lost_desc, "%s", f->description);
  calls_leg_end(c, a, 0);
  calls_call_free(call);
  return MTCTISESS_SUCCESS;
}

int sim_calls_make(sim_calls_t *c, sim_user_t *u, const char *target, int type,
                   const AdvancedMakeCall *adv, int refid, int *callid) {
  sim_makecall_failure_t fail;
  const struct make_type *t = make_type(type);
  *callid = 0;
  if (!u->loggedinextn[0])
    return MTCTISESS_CALLCONTROL_NOPHONE;
  if (u->extnfault)
    return MTCTISESS_CALLCONTROL_EXTNFAULT;
  if (!(u->featuresavailable & CODEC_UF_MAKECALL))
    return MTCTISESS_CALLCONTROL_PERMISSION;
  if (!t)
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  if (target && calls_utf8_len(target) > 78)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (adv) {
    if (adv->accountcode && calls_utf8_len(adv->accountcode) > 15)
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
    if (adv->authcode && calls_utf8_len(adv->authcode) > 15)
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
    if (adv->accountcode && *adv->accountcode &&
        !sim_model_is_account_code(c->model, adv->accountcode))
      return MTCTISESS_CALLCONTROL_BADACCT;
    if (adv->authcode && *adv->authcode && !sim_model_is_auth_code(c->model, adv->authcode))
      return MTCTISESS_CALLCONTROL_BADAUTH;
  }
  if (calls_user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  if (take_failure(c, u, &fail)) {
    sim_log(SIM_LOG_INFO, "calls", "MakeCall of %s (ref %d) fails as armed: %s", u->extn, refid,
            fail.calllost ? "CallLost" : "refused");
    return fail.calllost ? lost_at_once(c, u, &fail, refid) : fail.result;
  }
  return t->place(c, u, target, adv, refid, callid);
}
