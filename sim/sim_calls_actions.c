/*
 * sim_calls_actions: the CallFunction actions of sim_calls (see sim_calls.h).
 *
 * DESIGN: one table lists every action with its featuresavailable bit, the
 * line types the spec allows it on, its arg1 limits, the code for a call that
 * cannot be found, when it is offered, and its handler.  The same table
 * computes featuresavailable for CallInfo, so what is offered and what is
 * accepted cannot disagree.  Service thread only.
 */
#include "sim_calls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "sim_log.h"

/* ---- the action table ---- */

#define K_USER (1u << SIM_LINE_USER)
#define K_QUEUE (1u << SIM_LINE_QUEUE)
#define K_PARK (1u << SIM_LINE_PARK)
#define K_ALL (K_USER | K_QUEUE | K_PARK)

typedef struct action_def action_def_t;
typedef int (*avail_fn)(sim_calls_t *c, const leg_t *l);
typedef int (*run_fn)(sim_calls_t *c, leg_t *l, const CallFunction *cf);

struct action_def {
  int action;
  uint32_t bit;        /* CODEC_CF_* (0: none) */
  unsigned kinds;      /* line types, from the spec's "Line types" */
  int argmin, argmax;  /* arg1 length limits in characters; argmax < 0: arg1 not checked */
  int notfound;        /* result when the call cannot be found */
  avail_fn avail;      /* offered (featuresavailable) in the leg's current state? */
  run_fn run;
  avail_fn allowed;    /* when set: allowed though not offered (NULL: as avail) */
};

static int live(int state) {
  return state != S(DISCONNECTED) && state != S(UNKNOWN);
}
int calls_queue_phase(int state) {
  return state == S(QUEUEING) || state == S(RINGING) || state == S(RETARGETING);
}

static int av_drop(sim_calls_t *c, const leg_t *l) { return live(l->state); }
/* A ringing POTS phone cannot be answered through CTI: not offered. */
static int av_answer(sim_calls_t *c, const leg_t *l) {
  const sim_user_t *u = calls_leg_user(c, l);
  return l->state == S(RINGING) && !(u && u->pots);
}
static int av_ringing(sim_calls_t *c, const leg_t *l) { return l->state == S(RINGING); }
static int av_hold(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED); }
static int av_unhold(sim_calls_t *c, const leg_t *l) {
  return l->state == S(ONHOLD) || l->state == S(ONHOLDPENDTRANSFER) || l->state == S(ONHOLDPENDCONF);
}
/* BlindTransfer and Park: a user's call once answered, a queue's at any time. */
static int av_blind(sim_calls_t *c, const leg_t *l) {
  if (l->kind == SIM_LINE_USER)
    return l->state == S(CONNECTED) || l->state == S(ONHOLD);
  return calls_queue_phase(l->state) || calls_is_active(l->state);
}
static int av_redirect(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? l->state == S(RINGING) : calls_queue_phase(l->state);
}
static int av_dial(sim_calls_t *c, const leg_t *l) {
  return l->state == S(DIALTONE) || l->state == S(DIALLING);
}
static int av_setup(sim_calls_t *c, const leg_t *l) {
  return l->state == S(CONNECTED) && !l->related && calls_parties(l->call, NULL, NULL) >= 2;
}
static int av_complete(sim_calls_t *c, const leg_t *l, int pend) {
  const leg_t *o = l->related ? calls_leg_find(c, l->related) : NULL;
  if (!o)
    return 0;
  const leg_t *held = l->state == pend ? l : o->state == pend ? o : NULL;
  const leg_t *asst = held == l ? o : l;
  return held && (asst->state == S(CONNECTED) || asst->state == S(RINGBACK));
}
static int av_cxfer(sim_calls_t *c, const leg_t *l) { return av_complete(c, l, S(ONHOLDPENDTRANSFER)); }
static int av_cconf(sim_calls_t *c, const leg_t *l) { return av_complete(c, l, S(ONHOLDPENDCONF)); }
static int av_conf(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? l->state == S(CONNECTED) && calls_in_conference(l->call)
                                  : calls_in_conference(l->call);
}
static int av_tag(sim_calls_t *c, const leg_t *l) {
  /* A ringing user line offers only drop, calls_answer and redirect (spec example 0x23). */
  return live(l->state) && !(l->kind == SIM_LINE_USER && l->state == S(RINGING));
}
static int av_connected(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED); }
static int av_ec500(sim_calls_t *c, const leg_t *l) {
  const sim_user_t *u = calls_leg_user(c, l);
  return l->state == S(CONNECTED) && u && u->ec500 && u->mobile[0];
}
static int av_recon(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && !l->recording; }
static int av_recoff(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && l->recording; }
static int av_privon(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && !l->privacy; }
static int av_privoff(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && l->privacy; }
static int av_muteon(sim_calls_t *c, const leg_t *l) { return av_conf(c, l) && !l->mute; }
static int av_muteoff(sim_calls_t *c, const leg_t *l) { return av_conf(c, l) && l->mute; }
static int av_priority(sim_calls_t *c, const leg_t *l) { return calls_queue_phase(l->state); }
static int av_finish(sim_calls_t *c, const leg_t *l) { return live(l->state); }
/* "A brutal function [that] should not normally be offered" to a user line. */
static int av_forceclear(sim_calls_t *c, const leg_t *l) {
  return l->kind != SIM_LINE_USER && live(l->state);
}
static int av_page(sim_calls_t *c, const leg_t *l) { return l->pagecall && l->state == S(CONNECTED); }

/* Put leg l's place in its call to target: the blind transfer and redirect. */
static int transfer_to(sim_calls_t *c, leg_t *l, const char *target) {
  call_t *call = l->call;
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  tgt_t t = calls_resolve(c, target, &u, &q, &ext);
  if (t == TGT_NONE)
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  if (t == TGT_USER && u->guid[0] == l->owner[0] && memcmp(u->guid, l->owner, SIM_GUID_LEN) == 0 &&
      l->kind == SIM_LINE_USER)
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  if (l->kind == SIM_LINE_QUEUE) {
    /* The queue keeps following the call; the offers go to the new target. */
    for (leg_t *o = call->legs, *n; o; o = n) {
      n = o->next;
      if (o->role == ROLE_B)
        calls_leg_end(c, o, 0);
    }
    sim_timer_cancel(&call->timer_ring);
    call->queued = 0;
    call->retargeting = 0;
    leg_t *b = NULL;
    if (t == TGT_QUEUE) {
      if (calls_offer_queue(c, call, q))
        return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
    } else {
      b = t == TGT_USER ? calls_offer_user(c, call, u, NULL) : calls_offer_external(c, call, ext);
      if (!b)
        return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
      leg_t *a = calls_origin(call);
      if (a && a->kind == SIM_LINE_USER)
        a->state = S(RINGBACK);
    }
    calls_queue_sync(c, call);
    calls_touch_call(call);
    return MTCTISESS_SUCCESS;
  }
  /* Check the target can take the call before letting go of it. */
  if (t == TGT_USER && (!u->loggedinextn[0] || u->dnd || calls_user_legs(c, u) >= MAX_APPEARANCES))
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  if (t == TGT_QUEUE && (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__OOS ||
                         q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__NS))
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  role_t role = l->role;
  calls_leg_end(c, l, 1);
  leg_t *b = NULL;
  if (t == TGT_QUEUE) {
    calls_offer_queue(c, call, q);
  } else {
    b = t == TGT_USER ? calls_offer_user(c, call, u, NULL) : calls_offer_external(c, call, ext);
    if (b && role == ROLE_A)
      b->role = ROLE_B;
  }
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role != ROLE_OBS && o != b && calls_is_active(o->state)) {
      o->activeheld = 0;
      if (o->kind == SIM_LINE_USER)
        o->state = S(RINGBACK);
    }
  if (role == ROLE_A) {
    /* The transferred party becomes the caller. */
    for (leg_t *o = call->legs; o; o = o->next)
      if (o->role == ROLE_B && o != b) {
        o->role = ROLE_A;
        break;
      }
  }
  calls_queue_sync(c, call);
  calls_touch_call(call);
  return MTCTISESS_SUCCESS;
}

static int run_drop(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  call_t *call = l->call;
  if (l->kind != SIM_LINE_USER) {
    /* Queue or park server: the call is dropped. */
    calls_call_clear(c, call, l);
    return MTCTISESS_SUCCESS;
  }
  if (l->state == S(RINGING) && l->role == ROLE_B && !call->queued) {
    int ring = 0;
    calls_parties(call, NULL, &ring);
    if (ring <= 1) {
      /* Coverage: voicemail, or nowhere to send the call. */
      sim_user_t *u = calls_leg_user(c, l);
      if (!u || !u->voicemail)
        return MTCTISESS_CALLCONTROL_NOCOVERAGE;
      calls_leg_end(c, l, 1);
      calls_to_voicemail(call, u);
      for (leg_t *o = call->legs; o; o = o->next)
        if (o->role == ROLE_A && o->state == S(RINGBACK))
          o->state = S(CONNECTED);
      calls_touch_call(call);
      return MTCTISESS_SUCCESS;
    }
  }
  if (l->state == S(RINGING) && call->queued) {
    calls_leg_end(c, l, 1);
    int ring = 0;
    calls_parties(call, NULL, &ring);
    if (!ring) {
      sim_timer_cancel(&call->timer_ring);
      calls_distribute(c, call);
    }
    return MTCTISESS_SUCCESS;
  }
  calls_leg_leave(c, l, 1);
  return MTCTISESS_SUCCESS;
}

static int run_answer(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  calls_answer(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_hold(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  calls_do_hold(c, l, S(ONHOLD));
  return MTCTISESS_SUCCESS;
}

static int run_unhold(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  calls_hold_others(c, l);
  l->state = S(CONNECTED);
  for (leg_t *o = l->call->legs; o; o = o->next)
    if (o != l && o->activeheld) {
      o->activeheld = 0;
      calls_touch(c, o);
    }
  calls_queue_sync(c, l->call);
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_blind(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  return transfer_to(c, l, cf->arg1);
}

static int run_dial(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  size_t n = strlen(l->called);
  snprintf(l->called + n, sizeof l->called - n, "%s", cf->arg1);
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  if (calls_resolve(c, l->called, &u, &q, &ext) != TGT_NONE) {
    char target[80];
    snprintf(target, sizeof target, "%s", l->called);
    calls_route(c, l->call, l, target);
    calls_touch_call(l->call);
  } else {
    l->state = S(DIALLING);
    calls_touch(c, l);
  }
  return MTCTISESS_SUCCESS;
}

static int park_slot_busy(sim_calls_t *c, const char *slot) {
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->kind == SIM_LINE_PARK && strcmp(l->slot, slot) == 0)
        return 1;
  } lws_end_foreach_dll(d);
  return 0;
}

static int run_park(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  call_t *call = l->call;
  if (park_slot_busy(c, cf->arg1))
    return MTCTISESS_CALLCONTROL_PARKFAILED;
  leg_t *p = calls_leg_new(call, l->kind == SIM_LINE_QUEUE ? ROLE_B : l->role, SIM_LINE_PARK, NULL);
  if (!p)
    return MTCTISESS_REQUESTFAILED;
  snprintf(p->slot, sizeof p->slot, "%s", cf->arg1);
  snprintf(p->self.number, sizeof p->self.number, "Park %s", cf->arg1);
  snprintf(p->self.name, sizeof p->self.name, "Park %s", cf->arg1);
  p->state = S(ONHOLD);
  p->direction = CALL_INFO__DIRECTION__INBOUND;
  if (l->kind == SIM_LINE_QUEUE) {
    /* Park from the queue: the call leaves its agents for the slot. */
    for (leg_t *o = call->legs, *n; o; o = n) {
      n = o->next;
      if (o->role == ROLE_B && o != p)
        calls_leg_end(c, o, 0);
    }
    call->queued = 0;
    sim_timer_cancel(&call->timer_ring);
  } else {
    calls_leg_end(c, l, 1);
  }
  for (leg_t *o = call->legs; o; o = o->next)
    if (o != p && o->role != ROLE_OBS) {
      o->activeheld = 1;
      if (o->kind == SIM_LINE_USER && (o->state == S(RINGBACK)))
        o->state = S(CONNECTED);
    }
  calls_queue_sync(c, call);
  calls_touch_call(call);
  return MTCTISESS_SUCCESS;
}

/* SetupTransfer and SetupConf: hold the call, make an assistant call. */
static int setup_assist(sim_calls_t *c, leg_t *l, const CallFunction *cf, int pend) {
  sim_user_t *u = calls_leg_user(c, l);
  if (!u)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  if (calls_user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  call_t *c2 = calls_call_new(c);
  leg_t *a = c2 ? calls_leg_new(c2, ROLE_A, SIM_LINE_USER, u->guid) : NULL;
  if (!a) {
    if (c2)
      calls_call_free(c2);
    return MTCTISESS_REQUESTFAILED;
  }
  calls_user_party(u, &a->self);
  a->direction = CALL_INFO__DIRECTION__OUTBOUND;
  a->related = l->id;
  l->related = a->id;
  calls_do_hold(c, l, pend);
  if (cf->arg1 && *cf->arg1)
    calls_route(c, c2, a, cf->arg1);
  else
    a->state = S(DIALTONE);
  calls_touch_call(c2);
  return MTCTISESS_SUCCESS;
}

static int run_setupxfer(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  return setup_assist(c, l, cf, S(ONHOLDPENDTRANSFER));
}
static int run_setupconf(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  return setup_assist(c, l, cf, S(ONHOLDPENDCONF));
}

/* The pair (held, assistant) of a complete: from callinst or relatedcallid. */
static int complete_pair(sim_calls_t *c, leg_t *l, const CallFunction *cf, leg_t **held,
                         leg_t **asst) {
  leg_t *o = NULL;
  if (cf->n_callinst > 0) {
    o = calls_leg_find(c, cf->callinst[0]->callid);
    if (!o || o == l || o->kind != SIM_LINE_USER || memcmp(o->owner, l->owner, SIM_GUID_LEN))
      return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  } else if (l->related) {
    o = calls_leg_find(c, l->related);
  }
  if (!o)
    return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  if (o->call == l->call)
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  int l_held = l->state == S(ONHOLDPENDTRANSFER) || l->state == S(ONHOLDPENDCONF) ||
               l->state == S(ONHOLD);
  *held = l_held ? l : o;
  *asst = l_held ? o : l;
  return MTCTISESS_SUCCESS;
}

/* Move every party of `from` except `skip` into call `to`. */
static void merge_into(sim_calls_t *c, call_t *to, call_t *from, leg_t *skip) {
  for (leg_t *o = from->legs, *n; o; o = n) {
    n = o->next;
    if (o == skip)
      continue;
    if (o->role == ROLE_OBS) {
      calls_leg_end(c, o, 0);
      continue;
    }
    calls_leg_unlink(o);
    o->next = NULL;
    o->call = to;
    o->role = ROLE_B;
    leg_t **pp = &to->legs;
    while (*pp)
      pp = &(*pp)->next;
    *pp = o;
    if (o->kind == SIM_LINE_TRUNK) {
      to->trunk = 1;
      if (o->state == S(RINGING))
        sim_timer_schedule(c->timers, &to->timer_far, calls_far_cb, (lws_usec_t)c->ring_ms * 1000);
    }
  }
}

static int all_external(const call_t *call, const leg_t *skip) {
  for (leg_t *o = call->legs; o; o = o->next)
    if (o != skip && o->role != ROLE_OBS && o->kind != SIM_LINE_TRUNK)
      return 0;
  return 1;
}

static int run_cxfer(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  leg_t *held = NULL, *asst = NULL;
  int rc = complete_pair(c, l, cf, &held, &asst);
  if (rc != MTCTISESS_SUCCESS)
    return rc;
  call_t *c1 = held->call, *c2 = asst->call;
  if (calls_parties(c1, NULL, NULL) < 2 || calls_parties(c2, NULL, NULL) < 2)
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  /* Two public calls may not be joined without an internal party. */
  if (all_external(c1, held) && all_external(c2, asst))
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  int ringing = 0;
  for (leg_t *o = c2->legs; o; o = o->next)
    if (o != asst && o->state == S(RINGING))
      ringing = 1;
  merge_into(c, c1, c2, asst);
  calls_leg_end(c, asst, 1);
  calls_call_free(c2);
  calls_leg_end(c, held, 1);
  for (leg_t *o = c1->legs; o; o = o->next) {
    o->activeheld = 0;
    if (o->role != ROLE_OBS && o->kind == SIM_LINE_USER && o->state != S(RINGING))
      o->state = ringing ? S(RINGBACK) : S(CONNECTED);
  }
  calls_queue_sync(c, c1);
  calls_touch_call(c1);
  return MTCTISESS_SUCCESS;
}

static int run_cconf(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  leg_t *held = NULL, *asst = NULL;
  int rc = complete_pair(c, l, cf, &held, &asst);
  if (rc != MTCTISESS_SUCCESS)
    return rc;
  for (size_t i = 1; i < cf->n_callinst; i++)
    if (!calls_leg_find(c, cf->callinst[i]->callid))
      return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  call_t *c1 = held->call, *c2 = asst->call;
  if (calls_parties(c2, NULL, NULL) < 2)
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  merge_into(c, c1, c2, asst);
  calls_leg_end(c, asst, 1);
  calls_call_free(c2);
  held->related = 0;
  held->state = S(CONNECTED);
  for (leg_t *o = c1->legs; o; o = o->next)
    o->activeheld = 0;
  calls_queue_sync(c, c1);
  calls_touch_call(c1);
  return MTCTISESS_SUCCESS;
}

static int run_addtoconf(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  tgt_t t = calls_resolve(c, cf->arg1, &u, &q, &ext);
  leg_t *b = NULL;
  if (t == TGT_NONE) {
    /* The spec's normal case: a member in state FAILED, to be dropped later. */
    b = calls_leg_new(l->call, ROLE_B, SIM_LINE_TRUNK, NULL);
    if (!b)
      return MTCTISESS_REQUESTFAILED;
    snprintf(b->self.number, sizeof b->self.number, "%s", cf->arg1);
    b->state = S(FAILED);
    b->failedcause = CALL_INFO__FAILED_CAUSE__UNALLOCATEDNUMBER;
  } else if (t == TGT_USER) {
    b = calls_offer_user(c, l->call, u, NULL);
  } else if (t == TGT_EXTERNAL) {
    b = calls_offer_external(c, l->call, ext);
  }
  /* A destination that exists but cannot be reached (busy, DND, a queue). */
  if (!b)
    return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
  calls_touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_member(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  const MemberFunctionData *m = cf->memberfunctiondata;
  if (!m)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  leg_t *o = NULL;
  for (leg_t *x = l->call->legs; x; x = x->next)
    if (x->id == m->lref && x->role != ROLE_OBS)
      o = x;
  if (!o)
    return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  switch (m->action) {
  case MEMBER_FUNCTION_DATA__ACTION__DropCall:
    calls_leg_leave(c, o, 0);
    return MTCTISESS_SUCCESS;
  case MEMBER_FUNCTION_DATA__ACTION__MuteOn:
  case MEMBER_FUNCTION_DATA__ACTION__MuteOff:
    o->mute = m->action == MEMBER_FUNCTION_DATA__ACTION__MuteOn;
    calls_touch_call(l->call);
    return MTCTISESS_SUCCESS;
  default:
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  }
}

/* Length in characters of UTF-8 text. */
size_t calls_utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  return n;
}

static int run_tag(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  /* Longer than 127 characters is truncated, not refused; a NUL ends it anyway. */
  size_t chars = 0, i = 0;
  const char *s = cf->arg1;
  for (; s[i] && chars <= 127; i++)
    if (((unsigned char)s[i] & 0xc0) != 0x80 && ++chars > 127)
      break;
  snprintf(l->tag, sizeof l->tag, "%.*s", (int)i, s);
  /* The tag goes with the call: every leg shows it. */
  for (leg_t *o = l->call->legs; o; o = o->next)
    if (o != l)
      snprintf(o->tag, sizeof o->tag, "%s", l->tag);
  calls_touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_acct(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && !sim_model_is_account_code(c->model, cf->arg1))
    return MTCTISESS_CALLCONTROL_BADACCT;
  for (leg_t *o = l->call->legs; o; o = o->next)
    snprintf(o->acct, sizeof o->acct, "%s", cf->arg1);
  calls_touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_auth(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && !sim_model_is_auth_code(c->model, cf->arg1))
    return MTCTISESS_CALLCONTROL_BADAUTH;
  snprintf(l->auth, sizeof l->auth, "%s", cf->arg1);
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_ec500(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  sim_user_t *u = calls_leg_user(c, l);
  if (!u || !u->ec500 || !u->mobile[0])
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  /* The mobile answers: the call moves there and leaves the desk. */
  call_t *call = l->call;
  leg_t *m = calls_leg_new(call, ROLE_B, SIM_LINE_TRUNK, NULL);
  if (!m)
    return MTCTISESS_REQUESTFAILED;
  snprintf(m->self.number, sizeof m->self.number, "%s", u->mobile);
  snprintf(m->self.name, sizeof m->self.name, "%.50s mobile", u->name);
  m->state = S(CONNECTED);
  calls_leg_end(c, l, 1);
  calls_touch_call(call);
  return MTCTISESS_SUCCESS;
}

static int run_digits(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  for (const char *p = cf->arg1; *p; p++)
    if (!strchr("0123456789*#", *p))
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
  return MTCTISESS_SUCCESS;
}

static int run_forceclear(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  calls_call_clear(c, l->call, l);
  return MTCTISESS_SUCCESS;
}

static int run_recording(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  int on = cf->action == CALL_FUNCTION__ACTION__CallRecordingOn;
  if (on && l->privacy)
    return MTCTISESS_CALLCONTROL_PERMISSION;
  l->recording = on;
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_privacy(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->privacy = cf->action == CALL_FUNCTION__ACTION__PrivacyOn;
  if (l->privacy)
    l->recording = 0;
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_mute(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->mute = cf->action == CALL_FUNCTION__ACTION__MuteOn;
  calls_touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_agentrec(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (!cf->agentrecording || cf->agentrecording->pause == cf->agentrecording->resume)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  for (leg_t *o = l->call->legs; o; o = o->next)
    o->recpaused = cf->agentrecording->pause;
  calls_touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_priority(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (strcmp(cf->arg1, "1") && strcmp(cf->arg1, "2") && strcmp(cf->arg1, "3"))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  l->call->priority = cf->arg1[0] - '0';
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_finish(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && strcmp(cf->arg1, "1"))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  /* Every client watching the queue stops seeing the call; the call goes on. */
  call_t *call = l->call;
  int other_queue = memcmp(call->dist_queue, l->owner, SIM_GUID_LEN) != 0;
  calls_leg_end(c, l, 0);
  /* "1": report at once on the queue the call is in now, if that is another. */
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  if (strcmp(cf->arg1, "1") == 0 && other_queue && q) {
    leg_t *ql = calls_leg_new(call, ROLE_OBS, SIM_LINE_QUEUE, q->guid);
    if (ql) {
      snprintf(ql->self.number, sizeof ql->self.number, "%s", q->extn);
      snprintf(ql->self.name, sizeof ql->self.name, "%s", q->name);
      ql->self.nametype = 5;
      ql->direction = CALL_INFO__DIRECTION__INBOUND;
      ql->state = S(QUEUEING);
      calls_queue_sync(c, call);
      calls_touch(c, ql);
    }
  }
  return MTCTISESS_SUCCESS;
}

static int run_answerpage(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->pagecall = 0;
  calls_touch(c, l);
  return MTCTISESS_SUCCESS;
}

#define A(x) CALL_FUNCTION__ACTION__##x
static const action_def_t action_table[] = {
    {A(DropCall), CODEC_CF_DROP, K_ALL, 0, -1, MTCTISESS_NOTFOUND, av_drop, run_drop, NULL},
    {A(AnswerCall), CODEC_CF_ANSWER, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_answer, run_answer, av_ringing},
    {A(HoldCall), CODEC_CF_HOLD, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_hold, run_hold, NULL},
    {A(UnHoldCall), CODEC_CF_UNHOLD, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_unhold, run_unhold, NULL},
    {A(BlindTransfer), CODEC_CF_BLINDXFER, K_ALL, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_blind, run_blind, NULL},
    {A(Redirect), CODEC_CF_REDIRECT, K_USER | K_QUEUE, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_redirect, run_blind, NULL},
    {A(Dial), CODEC_CF_DIAL, K_USER, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_dial, run_dial, NULL},
    {A(Park), CODEC_CF_PARK, K_USER | K_QUEUE, 1, 9, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_blind, run_park, NULL},
    {A(SetupTransfer), CODEC_CF_SETUPXFER, K_USER, 0, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_setup, run_setupxfer, NULL},
    {A(SetupConf), CODEC_CF_SETUPXFER, K_USER, 0, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_setup, run_setupconf, NULL},
    {A(CompleteTransfer), CODEC_CF_COMPLETEXFER, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_cxfer, run_cxfer, NULL},
    {A(CompleteConf), CODEC_CF_COMPLETECONF, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_cconf, run_cconf, NULL},
    {A(AddToConf), CODEC_CF_ADDTOCONF, K_USER | K_QUEUE, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_conf, run_addtoconf, NULL},
    {A(MemberFunction), CODEC_CF_ADMINCONFMEMBER, K_USER | K_QUEUE, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_conf, run_member, NULL},
    {A(SetTag), CODEC_CF_TAG, K_ALL, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_tag, run_tag, NULL},
    {A(SetAccountCode), CODEC_CF_ACCT, K_USER | K_QUEUE, 0, 15, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_tag, run_acct, NULL},
    {A(PushToEC500), CODEC_CF_EC500, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_ec500, run_ec500, NULL},
    {A(GenerateDigits), CODEC_CF_DIGITS, K_USER, 1, 32, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_connected, run_digits, NULL},
    {A(AnswerPage), 0, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_page, run_answerpage, NULL},
    {A(ForceClear), CODEC_CF_FORCECLEAR, K_ALL, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_forceclear, run_forceclear, av_drop},
    {A(SetAuthCode), CODEC_CF_AUTH, K_USER, 0, 15, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_tag, run_auth, NULL},
    {A(CallRecordingOn), CODEC_CF_RECON, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_recon, run_recording, NULL},
    {A(CallRecordingOff), CODEC_CF_RECOFF, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_recoff, run_recording, NULL},
    {A(PrivacyOn), CODEC_CF_PRIVON, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_privon, run_privacy, NULL},
    {A(PrivacyOff), CODEC_CF_PRIVOFF, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_privoff, run_privacy, NULL},
    {A(MuteOn), CODEC_CF_MUTEON, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_muteon, run_mute, NULL},
    {A(MuteOff), CODEC_CF_MUTEOFF, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_muteoff, run_mute, NULL},
    {A(AgentRecordingControl), CODEC_CF_RECPAUSE, K_USER | K_QUEUE, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_connected, run_agentrec, NULL},
    {A(SetPriority), CODEC_CF_PRIORITY, K_QUEUE, 1, 1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_priority, run_priority, NULL},
    {A(Finish), CODEC_CF_FINISH, K_QUEUE, 0, 1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_finish, run_finish, NULL},
};
#undef A
#define N_ACTIONS (sizeof action_table / sizeof action_table[0])

static const action_def_t *action_lookup(int action) {
  for (size_t i = 0; i < N_ACTIONS; i++)
    if (action_table[i].action == action)
      return &action_table[i];
  return NULL;
}

int calls_features(sim_calls_t *c, const leg_t *l) {
  int f = 0;
  for (size_t i = 0; i < N_ACTIONS; i++) {
    const action_def_t *d = &action_table[i];
    if (d->bit && (d->kinds & (1u << l->kind)) && d->avail(c, l))
      f |= (int)d->bit;
  }
  return f;
}

/* ---- public commands ---- */

/* One CallFunction; by_cti: from MTCTI3 rather than a person at the phone. */
static int dispatch(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int system,
                    int callid, int refid, const CallFunction *cf, int by_cti) {
  const action_def_t *d = action_lookup(cf->action);
  leg_t *l = NULL;
  if (callid)
    l = calls_leg_find(c, callid);
  else if (refid) {
    lws_start_foreach_dll(struct lws_dll2 *, dd, lws_dll2_get_head(&c->calls)) {
      call_t *call = lws_container_of(dd, call_t, list);
      for (leg_t *x = call->legs; x && !l; x = x->next)
        if (x->refid == refid && x->kind == kind &&
            (!owner || memcmp(x->owner, owner, SIM_GUID_LEN) == 0) &&
            (system < 0 || x->system < 0 || x->system == system))
          l = x;
    } lws_end_foreach_dll(dd);
  }
  if (l && (l->kind != kind || (owner && memcmp(l->owner, owner, SIM_GUID_LEN) != 0)))
    l = NULL;
  /* A queued call is seen and controlled only on the system where it queues. */
  if (l && system >= 0 && l->system >= 0 && l->system != system)
    l = NULL;
  if (!l)
    return d ? d->notfound : MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  if (!d)
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  if (!(d->kinds & (1u << kind)))
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  const char *arg = cf->arg1 ? cf->arg1 : "";
  size_t alen = calls_utf8_len(arg);
  if (d->argmax >= 0 && (alen < (size_t)d->argmin || alen > (size_t)d->argmax))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (cf->action == CALL_FUNCTION__ACTION__HoldCall && l->state == S(ONHOLD))
    return MTCTISESS_CALLCONTROL_ALREADYDONE;
  if (cf->action == CALL_FUNCTION__ACTION__UnHoldCall && l->state == S(CONNECTED))
    return MTCTISESS_CALLCONTROL_ALREADYDONE;
  if (!(d->allowed ? d->allowed : d->avail)(c, l))
    return MTCTISESS_CALLCONTROL_INVALIDCALLSTATE;
  /* CTI cannot lift the handset of an analogue phone; its user can. */
  const sim_user_t *u = calls_leg_user(c, l);
  if (by_cti && cf->action == CALL_FUNCTION__ACTION__AnswerCall && u && u->pots)
    return MTCTISESS_CALLCONTROL_CANTBEDONE;
  CallFunction copy = *cf;
  copy.arg1 = (char *)arg;
  return d->run(c, l, &copy);
}

int sim_calls_action(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int callid,
                     int action, const char *arg1) {
  CallFunction cf = CALL_FUNCTION__INIT;
  cf.action = action;
  cf.arg1 = (char *)(arg1 ? arg1 : "");
  return dispatch(c, kind, owner, -1, callid, 0, &cf, 0);
}

int sim_calls_function(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int system,
                       int callid, int refid, const CallFunction *cf) {
  return dispatch(c, kind, owner, system, callid, refid, cf, 1);
}
