/*
 * sim_calls: see sim_calls.h.
 *
 * Roles: every leg is the call's originator (A), a party it reached (B), or
 * an observer (the queue leg following a queued call).  A call ends when its
 * originator leaves before anyone answered, or when fewer than two parties
 * remain and nothing is still being offered.
 */
#include "sim_calls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "sim_log.h"

static int64_t now_ms(void) { return (int64_t)(lws_now_usecs() / 1000); }

/* ---- helpers ---- */

sim_user_t *calls_leg_user(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? sim_model_user_by_guid(c->model, l->owner, SIM_GUID_LEN) : NULL;
}

static void emit(sim_calls_t *c, leg_t *l, int lost, int thisend) {
  if (!c->observer || l->kind > SIM_LINE_PARK)
    return;
  sim_leg_event_t ev = {l->id, l->refid, l->kind,
                        l->kind == SIM_LINE_PARK ? NULL : l->owner,
                        l->state, lost, thisend, l->system,
                        l->lost_reason ? l->lost_reason : 16 /* normal clearing */, l->lost_desc};
  c->observer(c->observer_ctx, &ev);
}

void calls_touch(sim_calls_t *c, leg_t *l) { emit(c, l, 0, 0); }

void calls_touch_call(call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    calls_touch(call->calls, l);
}

leg_t *calls_leg_find(sim_calls_t *c, int callid) {
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->id == callid)
        return l;
  } lws_end_foreach_dll(d);
  return NULL;
}

static call_t *call_by_gcid(sim_calls_t *c, const char *hex) {
  uint8_t g[GCID_LEN + 1];
  if (!hex || codec_hex_parse(hex, g, sizeof g) != GCID_LEN)
    return NULL;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    if (memcmp(call->gcid, g, GCID_LEN) == 0)
      return call;
  } lws_end_foreach_dll(d);
  return NULL;
}

int calls_is_active(int state) {
  return state == S(CONNECTED) || state == S(ONHOLD) || state == S(ONHOLDPENDTRANSFER) ||
         state == S(ONHOLDPENDCONF);
}

int calls_parties(const call_t *call, int *connected, int *ringing) {
  int n = 0, con = 0, ring = 0;
  for (leg_t *l = call->legs; l; l = l->next) {
    if (l->role == ROLE_OBS)
      continue;
    n++;
    if (calls_is_active(l->state))
      con++;
    else if (l->state == S(RINGING))
      ring++;
  }
  if (connected)
    *connected = con;
  if (ringing)
    *ringing = ring;
  return n;
}

int calls_in_conference(const call_t *call) {
  int con = 0;
  calls_parties(call, &con, NULL);
  return con >= 3;
}

int calls_user_legs(sim_calls_t *c, const sim_user_t *u) { return u->n_legs; }

leg_t *calls_queue_leg(const call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_QUEUE)
      return l;
  return NULL;
}

leg_t *calls_origin(const call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->role == ROLE_A)
      return l;
  return NULL;
}

void calls_user_party(const sim_user_t *u, party_t *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->number, sizeof p->number, "%s", u->extn);
  snprintf(p->name, sizeof p->name, "%s", u->name);
  p->nametype = 5;
}

/* ---- construction and teardown ---- */

static void ring_cb(sim_timer_t *timer);
void calls_far_cb(sim_timer_t *timer);

call_t *calls_call_new(sim_calls_t *c) {
  call_t *call = calloc(1, sizeof *call);
  if (!call)
    return NULL;
  call->calls = c;
  uint32_t n = ++c->next_gcid;
  /* 01, the PBX's address (127.0.0.1), a counter: the shape of a real gcid. */
  const uint8_t g[GCID_LEN] = {0x01, 0x7f, 0x00, 0x00, 0x01, (uint8_t)(n >> 24),
                               (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
  memcpy(call->gcid, g, GCID_LEN);
  call->created_ms = now_ms();
  call->priority = 1;
  call->trunktype = TRUNK_INFO__TRUNK_TYPE__TrunkSIP;
  /* A UCID as Avaya systems make them: node (0001), sequence, time of creation. */
  uint32_t t = (uint32_t)(call->created_ms / 1000);
  const uint8_t u[8] = {0x00, 0x01, (uint8_t)(n >> 8), (uint8_t)n,
                        (uint8_t)(t >> 24), (uint8_t)(t >> 16), (uint8_t)(t >> 8), (uint8_t)t};
  memcpy(call->ucid, u, sizeof u);
  call->ucid_len = sizeof u;
  snprintf(call->language, sizeof call->language, "eng");
  lws_dll2_add_tail(&call->list, &c->calls);
  return call;
}

leg_t *calls_leg_new(call_t *call, role_t role, sim_line_kind_t kind, const uint8_t *owner) {
  leg_t *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->id = ++call->calls->next_leg_id;
  l->call = call;
  l->role = role;
  l->kind = kind;
  l->system = kind == SIM_LINE_QUEUE ? call->calls->queue_system : -1;
  if (owner)
    memcpy(l->owner, owner, SIM_GUID_LEN);
  l->created_ms = now_ms();
  /* The tag and account code belong to the call: "distributed with the call if it is transferred". */
  if (call->legs) {
    snprintf(l->tag, sizeof l->tag, "%s", call->legs->tag);
    snprintf(l->acct, sizeof l->acct, "%s", call->legs->acct);
  }
  if (kind == SIM_LINE_USER) {
    sim_user_t *u = sim_model_user_by_guid(call->calls->model, l->owner, SIM_GUID_LEN);
    if (u)
      u->n_legs++;
  }
  leg_t **pp = &call->legs;
  while (*pp)
    pp = &(*pp)->next;
  *pp = l;
  return l;
}

void calls_leg_unlink(leg_t *l) {
  for (leg_t **pp = &l->call->legs; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      return;
    }
}

void calls_call_free(call_t *call) {
  sim_timer_cancel(&call->timer_vm);
  sim_timer_cancel(&call->timer_ring);
  sim_timer_cancel(&call->timer_far);
  sim_timer_cancel(&call->timer_tele);
  lws_dll2_remove(&call->list);
  while (call->legs) {
    leg_t *l = call->legs;
    call->legs = l->next;
    free(l);
  }
  free(call);
}

/* The leg ends: CallLost to its observers, and the user is idle again. */
void calls_leg_end(sim_calls_t *c, leg_t *l, int thisend) {
  sim_user_t *u = calls_leg_user(c, l);
  if (u) {
    u->idle_since_ms = now_ms();
    u->n_legs--;
  }
  /* Relations are mutual: the other leg loses its relation too. */
  leg_t *o = l->related ? calls_leg_find(c, l->related) : NULL;
  if (o && o->related == l->id) {
    o->related = 0;
    calls_touch(c, o);
  }
  l->state = S(DISCONNECTED);
  emit(c, l, 1, thisend);
  calls_leg_unlink(l);
  free(l);
}

/* Clear the whole call; `dropper` (may be NULL) is the end that dropped it. */
void calls_call_clear(sim_calls_t *c, call_t *call, leg_t *dropper) {
  while (call->legs) {
    leg_t *l = call->legs;
    calls_leg_end(c, l, l == dropper);
  }
  calls_call_free(call);
}

void calls_queue_sync(sim_calls_t *c, call_t *call);
void calls_distribute(sim_calls_t *c, call_t *call);

/* After a party left: end the call if nothing is left to talk to. */
static void call_check(sim_calls_t *c, call_t *call, int origin_left) {
  int con = 0, ring = 0;
  int n = calls_parties(call, &con, &ring);
  leg_t *a = calls_origin(call);
  if (origin_left && !call->queued) {
    /* The caller gave up: unless someone answered and others remain. */
    if (con < 2) {
      calls_call_clear(c, call, NULL);
      return;
    }
    /* The conference goes on: the longest member becomes the originator. */
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->role == ROLE_B && calls_is_active(l->state)) {
        l->role = ROLE_A;
        break;
      }
  }
  if (origin_left && call->queued) {
    calls_call_clear(c, call, NULL);
    return;
  }
  if (n <= 1 && !(call->queued && a && ring == 0 && con <= 1 && calls_queue_leg(call) &&
                  calls_queue_leg(call)->state != S(CONNECTED) && calls_queue_leg(call)->state != S(ONHOLD))) {
    calls_call_clear(c, call, NULL);
    return;
  }
  if (n <= 1 && call->queued) {
    /* Back to queueing: the agent left before answering. */
    calls_distribute(c, call);
    return;
  }
  /* Two calls_parties left of a conference: an ordinary call again. */
  calls_queue_sync(c, call);
  calls_touch_call(call);
}

/* Remove one party from its call and tidy the call. */
void calls_leg_leave(sim_calls_t *c, leg_t *l, int thisend) {
  call_t *call = l->call;
  int was_origin = l->role == ROLE_A;
  int was_answered = calls_is_active(l->state);
  calls_leg_end(c, l, thisend);
  if (!call->legs) {
    calls_call_free(call);
    return;
  }
  /* An answered two-party call ends when either side hangs up. */
  int con = 0;
  calls_parties(call, &con, NULL);
  if (was_answered && con < 2 && !calls_in_conference(call)) {
    int ring = 0;
    calls_parties(call, NULL, &ring);
    if (ring == 0) {
      calls_call_clear(c, call, NULL);
      return;
    }
  }
  call_check(c, call, was_origin);
}

/* ---- target resolution and offering ---- */


tgt_t calls_resolve(sim_calls_t *c, const char *target, sim_user_t **u, sim_queue_t **q,
                     const char **external) {
  const char *prefix = sim_model_trunk_prefix(c->model);
  size_t plen = strlen(prefix);
  if (!target || !*target)
    return TGT_NONE;
  if ((*u = sim_model_user_by_extn(c->model, target)))
    return TGT_USER;
  if ((*q = sim_model_queue_by_extn(c->model, target)))
    return TGT_QUEUE;
  if (plen && strncmp(target, prefix, plen) == 0 && strlen(target) >= plen + 3) {
    *external = target + plen;
    return TGT_EXTERNAL;
  }
  return TGT_NONE;
}

int calls_dnd_blocks(const sim_user_t *u, const party_t *from) {
  if (!u->dnd)
    return 0;
  for (int i = 0; i < u->n_dnd_exc; i++)
    if (strcmp(u->dnd_exc[i], from->number) == 0)
      return 0;
  return 1;
}

/* A voicemail far end answers in place of a user or queue (extn). */
void calls_to_voicemail_of(call_t *call, const char *extn) {
  leg_t *vm = calls_leg_new(call, ROLE_B, SIM_LINE_VM, NULL);
  if (!vm)
    return;
  snprintf(vm->self.number, sizeof vm->self.number, "VM:%s", extn);
  snprintf(vm->self.name, sizeof vm->self.name, "Voicemail");
  vm->self.nametype = 5;
  vm->state = S(CONNECTED);
}

void calls_to_voicemail(call_t *call, const sim_user_t *u) { calls_to_voicemail_of(call, u->extn); }

/* A teleworker's remote phone answers (at once with the line held open). */
static void tele_cb(sim_timer_t *timer) {
  call_t *call = lws_container_of(timer, call_t, timer_tele);
  for (leg_t *l = call->legs; l; l = l->next) {
    sim_user_t *u = calls_leg_user(call->calls, l);
    if (l->role == ROLE_B && l->state == S(RINGING) && u && u->teleworker[0]) {
      sim_timer_cancel(&call->timer_ring);
      calls_answer(call->calls, l);
      return;
    }
  }
}

/* Offer the call to user u: a ringing leg, or busy (0 returned, nothing added). */
leg_t *calls_offer_user(sim_calls_t *c, call_t *call, sim_user_t *u, const party_t *orig_called) {
  leg_t *a = calls_origin(call);
  if (!u->loggedinextn[0] || (a && calls_dnd_blocks(u, &a->self)) || calls_user_legs(c, u) >= MAX_APPEARANCES)
    return NULL;
  leg_t *l = calls_leg_new(call, ROLE_B, SIM_LINE_USER, u->guid);
  if (!l)
    return NULL;
  calls_user_party(u, &l->self);
  l->state = S(RINGING);
  l->direction = CALL_INFO__DIRECTION__INBOUND;
  if (orig_called)
    l->orig_called = *orig_called;
  /* A teleworker: the system calls the remote number, whose phone answers. */
  if (u->teleworker[0])
    sim_timer_schedule(c->timers, &call->timer_tele, tele_cb,
                       u->holdlineopen ? 1 : (lws_usec_t)c->ring_ms * 1000);
  return l;
}

static void far_answer(sim_calls_t *c, call_t *call);

/* Offer to a trunk far end, which answers after ring_ms. */
leg_t *calls_offer_external(sim_calls_t *c, call_t *call, const char *number) {
  leg_t *l = calls_leg_new(call, ROLE_B, SIM_LINE_TRUNK, NULL);
  if (!l)
    return NULL;
  snprintf(l->self.number, sizeof l->self.number, "%s", number);
  snprintf(l->self.name, sizeof l->self.name, "External %s", number);
  l->self.nametype = 9;
  l->state = S(RINGING);
  call->trunk = 1;
  sim_timer_schedule(c->timers, &call->timer_far, calls_far_cb, (lws_usec_t)c->ring_ms * 1000);
  return l;
}

/* The queue as a party (the whole record: callers keep it on the stack). */
void calls_queue_party(const sim_queue_t *q, party_t *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->number, sizeof p->number, "%s", q->extn);
  snprintf(p->name, sizeof p->name, "%s", q->name);
  p->nametype = 5;
}

static void queue_vm_cb(sim_timer_t *timer);

/* Put the call into queue q (the first queue also gets the observer leg). */
int calls_offer_queue(sim_calls_t *c, call_t *call, sim_queue_t *q) {
  if (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__OOS ||
      q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__NS)
    return -1;
  memcpy(call->dist_queue, q->guid, SIM_GUID_LEN);
  call->queued = 1;
  leg_t *ql = calls_queue_leg(call);
  if (!ql) {
    ql = calls_leg_new(call, ROLE_OBS, SIM_LINE_QUEUE, q->guid);
    if (!ql)
      return -1;
    calls_queue_party(q, &ql->self);
    ql->direction = CALL_INFO__DIRECTION__INBOUND;
  }
  ql->state = S(QUEUEING);
  /* The queue's voicemail takes calls nobody answered within voicemailtime. */
  if (q->voicemail && q->voicemailtime > 0)
    sim_timer_schedule(c->timers, &call->timer_vm, queue_vm_cb,
                     (lws_usec_t)q->voicemailtime * LWS_US_PER_SEC);
  calls_distribute(c, call);
  return 0;
}

/* Caller-side state after its call was offered: ringback, busy or failed. */
static void origin_progress(call_t *call, leg_t *a, int offered, int failedcause) {
  if (!a)
    return;
  if (offered) {
    a->state = S(RINGBACK);
  } else if (failedcause) {
    a->state = S(FAILED);
    a->failedcause = failedcause;
  } else {
    a->state = S(BUSY);
  }
  (void)call;
}

static void noanswer_cb(sim_timer_t *timer);

/*
 * Offer a call made straight to user u (not through a queue): forwarding
 * unconditional first, then the user's phone, then voicemail.  Returns 1
 * when something rings, 2 when voicemail answered, 0 when busy.
 */
int calls_offer_direct(sim_calls_t *c, call_t *call, leg_t *a, sim_user_t *u) {
  party_t up;
  calls_user_party(u, &up);
  if (u->fwdu && (u->fwdtovm || u->fwdunumber[0])) {
    sim_user_t *fu = NULL;
    sim_queue_t *fq = NULL;
    const char *ext = NULL;
    tgt_t t = u->fwdtovm ? TGT_NONE : calls_resolve(c, u->fwdunumber, &fu, &fq, &ext);
    leg_t *b = NULL;
    if (t == TGT_USER && fu != u)
      b = calls_offer_user(c, call, fu, &up);
    else if (t == TGT_EXTERNAL)
      b = calls_offer_external(c, call, ext);
    if (b) {
      b->orig_called = up;
      return 1;
    }
    if (u->fwdtovm && u->voicemail) {
      calls_to_voicemail(call, u);
      return 2;
    }
  }
  if (calls_offer_user(c, call, u, NULL)) {
    /* Unanswered for the user's no-calls_answer time: voicemail takes it. */
    if (u->voicemail)
      sim_timer_schedule(c->timers, &call->timer_ring, noanswer_cb,
                       (lws_usec_t)(u->noanswertime > 0 ? u->noanswertime : 15) * LWS_US_PER_SEC);
    return 1;
  }
  if (u->voicemail && u->loggedinextn[0]) {
    calls_to_voicemail(call, u);
    return 2;
  }
  (void)a;
  return 0;
}

/* Route the call to `target` for originator a. */
void calls_route(sim_calls_t *c, call_t *call, leg_t *a, const char *target) {
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  snprintf(a->called, sizeof a->called, "%s", target);
  switch (calls_resolve(c, target, &u, &q, &ext)) {
  case TGT_USER: {
    int r = calls_offer_direct(c, call, a, u);
    if (r == 2) {
      a->state = S(CONNECTED);
      return;
    }
    origin_progress(call, a, r == 1, 0);
    return;
  }
  case TGT_QUEUE:
    origin_progress(call, a, calls_offer_queue(c, call, q) == 0, 0);
    return;
  case TGT_EXTERNAL:
    origin_progress(call, a, calls_offer_external(c, call, ext) != NULL, 0);
    return;
  case TGT_NONE:
    origin_progress(call, a, 0, CALL_INFO__FAILED_CAUSE__UNALLOCATEDNUMBER);
    return;
  }
}

/* ---- queue distribution ---- */

static int agent_idle(sim_calls_t *c, const sim_user_t *u) {
  return u && u->loggedinextn[0] && !u->dnd && calls_user_legs(c, u) == 0;
}

void calls_queue_sync(sim_calls_t *c, call_t *call) {
  leg_t *ql = calls_queue_leg(call);
  if (!ql)
    return;
  int old = ql->state, con = 0, ring = 0;
  calls_parties(call, &con, &ring);
  leg_t *agent = NULL;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->role == ROLE_B && calls_is_active(l->state) && !agent)
      agent = l;
  if (agent)
    ql->state = agent->kind == SIM_LINE_VM        ? S(ANSWEREDBYVOICEMAIL)
                : agent->state == S(CONNECTED) ? S(CONNECTED)
                                               : S(ONHOLD);
  else if (ring)
    ql->state = S(RINGING);
  else if (call->queued)
    ql->state = call->retargeting ? S(RETARGETING) : S(QUEUEING);
  if (agent)
    call->queued = 0;
  if (old != ql->state)
    calls_touch(c, ql);
}

void calls_distribute(sim_calls_t *c, call_t *call) {
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  int ring = 0;
  if (!call->queued || !q)
    return;
  calls_parties(call, NULL, &ring);
  if (ring)
    return;
  party_t qp;
  calls_queue_party(q, &qp);
  int offered = 0;
  if (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__Active && q->n_members > 0) {
    if (q->ringmode == 2) {
      for (int i = 0; i < q->n_members; i++) {
        sim_user_t *u = sim_model_user_by_extn(c->model, q->members[i].extn);
        if (!q->members[i].disabled && agent_idle(c, u) && calls_offer_user(c, call, u, &qp))
          offered++;
      }
    } else {
      int best = -1;
      for (int k = 0; k < q->n_members; k++) {
        /* Sequential: the member after the last one tried; ring idle: longest idle. */
        int i = q->ringmode == 1 ? (q->last_target + 1 + k) % q->n_members : k;
        sim_user_t *u = sim_model_user_by_extn(c->model, q->members[i].extn);
        if (q->members[i].disabled || !agent_idle(c, u))
          continue;
        if (q->ringmode == 1) {
          best = i;
          break;
        }
        if (best < 0 ||
            u->idle_since_ms <
                sim_model_user_by_extn(c->model, q->members[best].extn)->idle_since_ms)
          best = i;
      }
      if (best >= 0 &&
          calls_offer_user(c, call, sim_model_user_by_extn(c->model, q->members[best].extn), &qp)) {
        q->last_target = best;
        offered++;
      }
    }
  }
  call->retargeting = 0;
  /* The queue leg is touched by calls_queue_sync when its state moves. */
  calls_queue_sync(c, call);
  if (!offered)
    return; /* nobody free: the call waits as it was, nothing to report */
  leg_t *a = calls_origin(call);
  if (a && a->state != S(RINGBACK))
    a->state = S(RINGBACK);
  sim_timer_schedule(c->timers, &call->timer_ring, ring_cb,
                     (lws_usec_t)(q->noanswertime > 0 ? q->noanswertime : 10) * LWS_US_PER_SEC);
  calls_touch_call(call);
}

/* A direct call rang out: voicemail answers it. */
static void noanswer_cb(sim_timer_t *timer) {
  call_t *call = lws_container_of(timer, call_t, timer_ring);
  sim_calls_t *c = call->calls;
  leg_t *ringing = NULL;
  int n = 0;
  if (call->queued)
    return;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->role == ROLE_B && l->kind == SIM_LINE_USER && l->state == S(RINGING)) {
      ringing = l;
      n++;
    }
  sim_user_t *u = ringing ? calls_leg_user(c, ringing) : NULL;
  if (n != 1 || !u || !u->voicemail)
    return;
  calls_leg_end(c, ringing, 0);
  calls_to_voicemail(call, u);
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role == ROLE_A && o->state == S(RINGBACK))
      o->state = S(CONNECTED);
  calls_touch_call(call);
}

/* Still queued after the queue's voicemailtime: its voicemail answers. */
static void queue_vm_cb(sim_timer_t *timer) {
  call_t *call = lws_container_of(timer, call_t, timer_vm);
  sim_calls_t *c = call->calls;
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  if (!call->queued || !q)
    return;
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l->role == ROLE_B && l->state == S(RINGING))
      calls_leg_end(c, l, 0);
  }
  sim_timer_cancel(&call->timer_ring);
  call->queued = 0;
  call->retargeting = 0;
  calls_to_voicemail_of(call, q->extn);
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role == ROLE_A && o->state == S(RINGBACK))
      o->state = S(CONNECTED);
  calls_queue_sync(c, call);
  calls_touch_call(call);
}

/* No calls_answer within the queue's no-calls_answer time: retarget. */
static void ring_cb(sim_timer_t *timer) {
  call_t *call = lws_container_of(timer, call_t, timer_ring);
  sim_calls_t *c = call->calls;
  if (!call->queued)
    return;
  if (call->retargeting) {
    calls_distribute(c, call);
    return;
  }
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l->role == ROLE_B && l->state == S(RINGING))
      calls_leg_end(c, l, 0);
  }
  call->retargeting = 1;
  calls_queue_sync(c, call);
  /* RETARGETING lasts a moment, long enough to be reported. */
  sim_timer_schedule(c->timers, &call->timer_ring, ring_cb, 200 * LWS_US_PER_MS);
}

/* Calls waiting in queues get another chance whenever the tick comes round. */
static void tick_cb(sim_timer_t *timer) {
  sim_calls_t *c = lws_container_of(timer, sim_calls_t, timer_tick);
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    int ring = 0;
    calls_parties(call, NULL, &ring);
    if (call->queued && !call->retargeting && !ring)
      calls_distribute(c, call);
    else if (call->campon && !ring)
      calls_campon_retry(c, call);
  } lws_end_foreach_dll_safe(d, d1);
  sim_timer_schedule(c->timers, &c->timer_tick, tick_cb, 250 * LWS_US_PER_MS);
}

/* ---- answering ---- */

/* Put the user's other connected calls on hold (one active call per phone). */
void calls_hold_others(sim_calls_t *c, leg_t *keep);

void calls_do_hold(sim_calls_t *c, leg_t *l, int state) {
  l->state = state;
  for (leg_t *o = l->call->legs; o; o = o->next)
    if (o != l && o->role != ROLE_OBS && !o->activeheld) {
      o->activeheld = 1;
      calls_touch(c, o);
    }
  calls_queue_sync(c, l->call);
  calls_touch(c, l);
}

void calls_hold_others(sim_calls_t *c, leg_t *keep) {
  if (keep->kind != SIM_LINE_USER)
    return;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l != keep && l->kind == SIM_LINE_USER &&
          memcmp(l->owner, keep->owner, SIM_GUID_LEN) == 0 && l->state == S(CONNECTED))
        calls_do_hold(c, l, S(ONHOLD));
  } lws_end_foreach_dll(d);
}

/* Leg b (ringing) answers: the call connects, other offers are withdrawn. */
void calls_answer(sim_calls_t *c, leg_t *b) {
  call_t *call = b->call;
  calls_hold_others(c, b);
  b->state = S(CONNECTED);
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l != b && l->role == ROLE_B && l->state == S(RINGING) && !calls_in_conference(call) &&
        l->kind != SIM_LINE_TRUNK)
      calls_leg_end(c, l, 0);
  }
  for (leg_t *l = call->legs; l; l = l->next)
    if (l != b && l->role != ROLE_OBS &&
        (l->state == S(RINGBACK) || l->state == S(DIALLED) || l->state == S(DIALLING))) {
      l->state = S(CONNECTED);
      calls_touch(c, l);
    }
  call->queued = 0;
  call->retargeting = 0;
  sim_timer_cancel(&call->timer_ring);
  calls_queue_sync(c, call);
  calls_touch_call(call);
}

static void far_answer(sim_calls_t *c, call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK && l->state == S(RINGING)) {
      calls_answer(c, l);
      return;
    }
}

void calls_far_cb(sim_timer_t *timer) {
  call_t *call = lws_container_of(timer, call_t, timer_far);
  far_answer(call->calls, call);
}

int sim_calls_unpark(sim_calls_t *c, sim_user_t *u, const char *parkid, int refid, int *callid) {
  if (!u->loggedinextn[0])
    return MTCTISESS_CALLCONTROL_NOPHONE;
  if (!parkid || !*parkid || strlen(parkid) > 9)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (calls_user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *p = call->legs; p; p = p->next) {
      if (p->kind != SIM_LINE_PARK || strcmp(p->slot, parkid) != 0)
        continue;
      leg_t *l = calls_leg_new(call, p->role, SIM_LINE_USER, u->guid);
      if (!l)
        return MTCTISESS_REQUESTFAILED;
      calls_user_party(u, &l->self);
      l->direction = CALL_INFO__DIRECTION__PICKUP;
      l->refid = refid;
      snprintf(l->tag, sizeof l->tag, "%s", p->tag);
      snprintf(l->acct, sizeof l->acct, "%s", p->acct);
      calls_hold_others(c, l);
      l->state = S(CONNECTED);
      calls_leg_end(c, p, 0);
      for (leg_t *o = call->legs; o; o = o->next)
        o->activeheld = 0;
      calls_queue_sync(c, call);
      calls_touch_call(call);
      *callid = l->id;
      return MTCTISESS_SUCCESS;
    }
  } lws_end_foreach_dll(d);
  return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
}

int sim_calls_user_leg(sim_calls_t *c, const sim_user_t *u, uint32_t mask) {
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->kind == SIM_LINE_USER && memcmp(l->owner, u->guid, SIM_GUID_LEN) == 0 &&
          (mask & (1u << l->state)))
        return l->id;
  } lws_end_foreach_dll(d);
  return 0;
}

int sim_calls_gcid_user_leg(sim_calls_t *c, const char *gcid_hex, uint32_t mask,
                            uint8_t owner[SIM_GUID_LEN]) {
  call_t *call = call_by_gcid(c, gcid_hex);
  for (leg_t *l = call ? call->legs : NULL; l; l = l->next)
    if (l->kind == SIM_LINE_USER && (mask & (1u << l->state))) {
      memcpy(owner, l->owner, SIM_GUID_LEN);
      return l->id;
    }
  return 0;
}

int sim_calls_trunk_inbound(sim_calls_t *c, const sim_trunk_call_t *tc, char *gcid_hex,
                            size_t size) {
  const char *from = tc->from, *name = tc->name, *to = tc->to, *did = tc->did;
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  uint8_t ucid[sizeof ((call_t *)0)->ucid];
  long ucid_len = tc->ucid ? codec_hex_parse(tc->ucid, ucid, sizeof ucid) : 0;
  tgt_t t = calls_resolve(c, to, &u, &q, &ext);
  if (t != TGT_USER && t != TGT_QUEUE)
    return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
  if (ucid_len < 0 || (tc->ucid && !ucid_len) || tc->trunktype < 0 ||
      tc->trunktype > TRUNK_INFO__TRUNK_TYPE__TrunkAlog ||
      (tc->pintrinsics && strlen(tc->pintrinsics) > sizeof ((call_t *)0)->pintrinsics))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  call_t *call = calls_call_new(c);
  leg_t *a = call ? calls_leg_new(call, ROLE_A, SIM_LINE_TRUNK, NULL) : NULL;
  if (!a) {
    if (call)
      calls_call_free(call);
    return MTCTISESS_REQUESTFAILED;
  }
  snprintf(a->self.number, sizeof a->self.number, "%s", from && *from ? from : "01707123456");
  snprintf(a->self.name, sizeof a->self.name, "%s", name && *name ? name : "Avaya Test trunk");
  a->self.nametype = 9;
  a->state = S(RINGBACK);
  a->direction = CALL_INFO__DIRECTION__OUTBOUND;
  call->trunk = 1;
  if (!did || !*did)
    did = sim_model_trunk_count(c->model) ? sim_model_trunk_at(c->model, 0) : to;
  snprintf(call->did, sizeof call->did, "%s", did);
  if (tc->trunktype)
    call->trunktype = tc->trunktype;
  if (ucid_len > 0) {
    memcpy(call->ucid, ucid, (size_t)ucid_len);
    call->ucid_len = (size_t)ucid_len;
  }
  if (tc->pintrinsics) {
    call->pintrinsics_len = strlen(tc->pintrinsics);
    memcpy(call->pintrinsics, tc->pintrinsics, call->pintrinsics_len);
  }
  codec_hex_format(call->gcid, GCID_LEN, gcid_hex, size);
  int ok;
  if (t == TGT_USER) {
    int r = calls_offer_direct(c, call, a, u);
    if (r == 2)
      a->state = S(CONNECTED);
    ok = r != 0;
  } else {
    ok = calls_offer_queue(c, call, q) == 0;
  }
  if (!ok) {
    calls_call_clear(c, call, NULL);
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  }
  calls_touch_call(call);
  return MTCTISESS_SUCCESS;
}

int sim_calls_trunk_hangup(sim_calls_t *c, const char *gcid_hex) {
  call_t *call = call_by_gcid(c, gcid_hex);
  if (!call)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK) {
      calls_leg_leave(c, l, 0);
      return MTCTISESS_SUCCESS;
    }
  return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
}

int sim_calls_set_notes(sim_calls_t *c, const char *gcid_hex, const char *notes) {
  call_t *call = call_by_gcid(c, gcid_hex);
  if (!call)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  if (!notes || strlen(notes) >= sizeof call->notes)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  snprintf(call->notes, sizeof call->notes, "%s", notes);
  calls_touch_call(call);
  return MTCTISESS_SUCCESS;
}

int sim_calls_trunk_answer(sim_calls_t *c, const char *gcid_hex) {
  call_t *call = call_by_gcid(c, gcid_hex);
  if (!call)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK && l->state == S(RINGING)) {
      sim_timer_cancel(&call->timer_far);
      calls_answer(c, l);
      return MTCTISESS_SUCCESS;
    }
  return MTCTISESS_CALLCONTROL_INVALIDCALLSTATE;
}

int sim_calls_gcid_of(sim_calls_t *c, int callid, char *hex, size_t size) {
  leg_t *l = calls_leg_find(c, callid);
  if (!l)
    return -1;
  codec_hex_format(l->call->gcid, GCID_LEN, hex, size);
  return 0;
}

int sim_calls_phonestate(sim_calls_t *c, const sim_user_t *u) {
  int st = 0;
  if (!u->loggedinextn[0])
    return 5;
  if (u->extnfault)
    return 6;
  if (!u->n_legs)
    return 0; /* idle: no need to look through every call */
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next) {
      if (l->kind != SIM_LINE_USER || memcmp(l->owner, u->guid, SIM_GUID_LEN) != 0)
        continue;
      if (calls_is_active(l->state) || l->state == S(RINGBACK))
        st = 4;
      else if (l->state == S(RINGING) && st < 2)
        st = 2;
      else if ((l->state == S(DIALTONE) || l->state == S(DIALLING)) && st < 1)
        st = 1;
    }
  } lws_end_foreach_dll(d);
  return st;
}

size_t sim_calls_line_legs(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner,
                           int system, int *ids, size_t max) {
  size_t n = 0;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->kind == kind && (!owner || memcmp(l->owner, owner, SIM_GUID_LEN) == 0) &&
          (l->system < 0 || system < 0 || l->system == system) && n < max)
        ids[n++] = l->id;
  } lws_end_foreach_dll(d);
  return n;
}

size_t sim_calls_count(const sim_calls_t *c) { return c->calls.count; }

int sim_calls_queue_system(const sim_calls_t *c) { return c->queue_system; }

void sim_calls_system_lost(sim_calls_t *c, int system) {
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    leg_t *ql = calls_queue_leg(call);
    if (ql && ql->system == system && !calls_queue_phase(ql->state))
      calls_leg_end(c, ql, 0);
  } lws_end_foreach_dll_safe(d, d1);
}

int sim_calls_set_queue_system(sim_calls_t *c, int system) {
  int moved = 0;
  c->queue_system = system;
  /* (No `continue` in these loops: lws's foreach macros advance at their end.) */
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    leg_t *ql = calls_queue_leg(call);
    /* Waiting elsewhere: this system's queue takes the call as it stands (a new appearance
     * here).  Answered calls stay followed where they queued. */
    leg_t *nq = ql && ql->system != system && calls_queue_phase(ql->state)
                    ? calls_leg_new(call, ROLE_OBS, SIM_LINE_QUEUE, ql->owner)
                    : NULL;
    if (nq) {
      nq->self = ql->self;
      nq->direction = ql->direction;
      nq->state = ql->state;
      snprintf(nq->tag, sizeof nq->tag, "%s", ql->tag);
      snprintf(nq->acct, sizeof nq->acct, "%s", ql->acct);
      calls_leg_end(c, ql, 0);
      calls_touch(c, nq);
      moved++;
    }
  } lws_end_foreach_dll_safe(d, d1);
  sim_log(SIM_LOG_INFO, "calls", "queues active on system %d: %d waiting calls moved", system, moved);
  return moved;
}

void sim_calls_clear_all(sim_calls_t *c) {
  while (c->calls.head) {
    call_t *call = lws_container_of(c->calls.head, call_t, list);
    calls_call_clear(c, call, NULL);
  }
}

void sim_calls_model_event(sim_calls_t *c, int ev, void *record) {
  if (ev == SIM_EV_USER_REMOVED) {
    sim_user_t *u = record;
    int id;
    while ((id = sim_calls_user_leg(c, u, ~0u)) != 0) {
      leg_t *l = calls_leg_find(c, id);
      calls_leg_leave(c, l, 0);
    }
  } else if (ev == SIM_EV_QUEUE_REMOVED) {
    sim_queue_t *q = record;
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
      call_t *call = lws_container_of(d, call_t, list);
      leg_t *ql = calls_queue_leg(call);
      if (ql && memcmp(ql->owner, q->guid, SIM_GUID_LEN) == 0)
        calls_leg_end(c, ql, 0);
      if (memcmp(call->dist_queue, q->guid, SIM_GUID_LEN) == 0 && call->queued)
        calls_call_clear(c, call, NULL);
    } lws_end_foreach_dll_safe(d, d1);
  }
}

int sim_calls_new(sim_model_t *model, sim_timers_t *timers, int ring_ms, sim_calls_t **calls,
                  char *errstr, size_t errstr_size) {
  sim_calls_t *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  c->model = model;
  c->timers = timers;
  c->ring_ms = ring_ms;
  sim_timer_schedule(timers, &c->timer_tick, tick_cb, 250 * LWS_US_PER_MS);
  *calls = c;
  return 0;
}

void sim_calls_free(sim_calls_t *c) {
  if (!c)
    return;
  c->observer = NULL;
  while (c->calls.head)
    calls_call_free(lws_container_of(c->calls.head, call_t, list));
  sim_timer_cancel(&c->timer_tick);
  free(c->failures);
  free(c);
}

void sim_calls_observe(sim_calls_t *c, sim_calls_observer_fn fn, void *ctx) {
  c->observer = fn;
  c->observer_ctx = ctx;
}
