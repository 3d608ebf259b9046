/*
 * sim_calls: see sim_calls.h.
 *
 * Roles: every leg is the call's originator (A), a party it reached (B), or
 * an observer (the queue leg following a queued call).  A call ends when its
 * originator leaves before anyone answered, or when fewer than two parties
 * remain and nothing is still being offered.
 */
#include "sim_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "sim_log.h"

#define GCID_LEN 9
#define MAX_TARGETS 16
#define MAX_APPEARANCES 4   /* call appearances per user */
#define LOST_NORMAL 16      /* CallLost.reason: normal clearing */
#define S(x) CALL_INFO__STATE__##x
#define SBIT(x) (1u << CALL_INFO__STATE__##x)

typedef enum role { ROLE_A, ROLE_B, ROLE_OBS } role_t;

typedef struct party {
  char number[40];
  char name[64];
  int nametype;
  int withheld;   /* presented without number or name */
} party_t;

struct call;

typedef struct leg {
  int id;
  struct call *call;
  struct leg *next;
  role_t role;
  sim_line_kind_t kind;
  uint8_t owner[SIM_GUID_LEN];
  char slot[16];          /* park slot of a park leg */
  party_t self;
  party_t orig_called;    /* set when offered through a queue or forwarding */
  int state, direction, activeheld, failedcause;
  int refid, related;
  char called[80];
  char tag[512], acct[16], auth[16];
  int recording, privacy, mute, recpaused, pagecall, withholdcli;
  int64_t created_ms;
} leg_t;

typedef struct call {
  lws_dll2_t list;
  struct sim_calls *calls;
  uint8_t gcid[GCID_LEN];
  leg_t *legs;
  uint8_t dist_queue[SIM_GUID_LEN]; /* queue currently distributing the call */
  int queued;
  int priority;
  int retargeting;
  char language[8];
  int trunk;                         /* a trunk far end is in the call */
  char did[32];
  lws_sorted_usec_list_t sul_ring;   /* queue: no-answer timeout / retarget */
  lws_sorted_usec_list_t sul_far;    /* trunk far end answering */
  lws_sorted_usec_list_t sul_vm;     /* queue: voicemail after voicemailtime */
  int64_t created_ms;
} call_t;

struct sim_calls {
  sim_model_t *model;
  struct lws_context *lws;
  int ring_ms;
  lws_dll2_owner_t calls;
  int next_leg_id;
  uint32_t next_gcid;
  sim_calls_observer_fn observer;
  void *observer_ctx;
  lws_sorted_usec_list_t sul_tick;
};

static int64_t now_ms(void) { return (int64_t)(lws_now_usecs() / 1000); }

/* ---- helpers ---- */

static sim_user_t *leg_user(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? sim_model_user_by_guid(c->model, l->owner, SIM_GUID_LEN) : NULL;
}

static void emit(sim_calls_t *c, leg_t *l, int lost, int thisend) {
  if (!c->observer || l->kind > SIM_LINE_PARK)
    return;
  sim_leg_event_t ev = {l->id, l->refid, l->kind,
                        l->kind == SIM_LINE_PARK ? NULL : l->owner,
                        l->state, lost, thisend};
  c->observer(c->observer_ctx, &ev);
}

static void touch(sim_calls_t *c, leg_t *l) { emit(c, l, 0, 0); }

static void touch_call(call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    touch(call->calls, l);
}

static leg_t *leg_find(sim_calls_t *c, int callid) {
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

static int is_active(int state) {
  return state == S(CONNECTED) || state == S(ONHOLD) || state == S(ONHOLDPENDTRANSFER) ||
         state == S(ONHOLDPENDCONF);
}

static int parties(const call_t *call, int *connected, int *ringing) {
  int n = 0, con = 0, ring = 0;
  for (leg_t *l = call->legs; l; l = l->next) {
    if (l->role == ROLE_OBS)
      continue;
    n++;
    if (is_active(l->state))
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

static int in_conference(const call_t *call) {
  int con = 0;
  parties(call, &con, NULL);
  return con >= 3;
}

static int user_legs(sim_calls_t *c, const sim_user_t *u) { return u->n_legs; }

static leg_t *queue_leg(const call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_QUEUE)
      return l;
  return NULL;
}

static leg_t *origin(const call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->role == ROLE_A)
      return l;
  return NULL;
}

static void user_party(const sim_user_t *u, party_t *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->number, sizeof p->number, "%s", u->extn);
  snprintf(p->name, sizeof p->name, "%s", u->name);
  p->nametype = 5;
}

/* ---- construction and teardown ---- */

static void ring_cb(lws_sorted_usec_list_t *sul);
static void far_cb(lws_sorted_usec_list_t *sul);

static call_t *call_new(sim_calls_t *c) {
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
  snprintf(call->language, sizeof call->language, "eng");
  lws_dll2_add_tail(&call->list, &c->calls);
  return call;
}

static leg_t *leg_new(call_t *call, role_t role, sim_line_kind_t kind, const uint8_t *owner) {
  leg_t *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->id = ++call->calls->next_leg_id;
  l->call = call;
  l->role = role;
  l->kind = kind;
  if (owner)
    memcpy(l->owner, owner, SIM_GUID_LEN);
  l->created_ms = now_ms();
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

static void leg_unlink(leg_t *l) {
  for (leg_t **pp = &l->call->legs; *pp; pp = &(*pp)->next)
    if (*pp == l) {
      *pp = l->next;
      return;
    }
}

static void call_free(call_t *call) {
  lws_sul_cancel(&call->sul_vm);
  lws_sul_cancel(&call->sul_ring);
  lws_sul_cancel(&call->sul_far);
  lws_dll2_remove(&call->list);
  while (call->legs) {
    leg_t *l = call->legs;
    call->legs = l->next;
    free(l);
  }
  free(call);
}

/* The leg ends: CallLost to its observers, and the user is idle again. */
static void leg_end(sim_calls_t *c, leg_t *l, int thisend) {
  sim_user_t *u = leg_user(c, l);
  if (u) {
    u->idle_since_ms = now_ms();
    u->n_legs--;
  }
  /* Relations are mutual: the other leg loses its relation too. */
  leg_t *o = l->related ? leg_find(c, l->related) : NULL;
  if (o && o->related == l->id) {
    o->related = 0;
    touch(c, o);
  }
  l->state = S(DISCONNECTED);
  emit(c, l, 1, thisend);
  leg_unlink(l);
  free(l);
}

/* Clear the whole call; `dropper` (may be NULL) is the end that dropped it. */
static void call_clear(sim_calls_t *c, call_t *call, leg_t *dropper) {
  while (call->legs) {
    leg_t *l = call->legs;
    leg_end(c, l, l == dropper);
  }
  call_free(call);
}

static void queue_sync(sim_calls_t *c, call_t *call);
static void distribute(sim_calls_t *c, call_t *call);

/* After a party left: end the call if nothing is left to talk to. */
static void call_check(sim_calls_t *c, call_t *call, int origin_left) {
  int con = 0, ring = 0;
  int n = parties(call, &con, &ring);
  leg_t *a = origin(call);
  if (origin_left && !call->queued) {
    /* The caller gave up: unless someone answered and others remain. */
    if (con < 2) {
      call_clear(c, call, NULL);
      return;
    }
    /* The conference goes on: the longest member becomes the originator. */
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->role == ROLE_B && is_active(l->state)) {
        l->role = ROLE_A;
        break;
      }
  }
  if (origin_left && call->queued) {
    call_clear(c, call, NULL);
    return;
  }
  if (n <= 1 && !(call->queued && a && ring == 0 && con <= 1 && queue_leg(call) &&
                  queue_leg(call)->state != S(CONNECTED) && queue_leg(call)->state != S(ONHOLD))) {
    call_clear(c, call, NULL);
    return;
  }
  if (n <= 1 && call->queued) {
    /* Back to queueing: the agent left before answering. */
    distribute(c, call);
    return;
  }
  /* Two parties left of a conference: an ordinary call again. */
  queue_sync(c, call);
  touch_call(call);
}

/* Remove one party from its call and tidy the call. */
static void leg_leave(sim_calls_t *c, leg_t *l, int thisend) {
  call_t *call = l->call;
  int was_origin = l->role == ROLE_A;
  int was_answered = is_active(l->state);
  leg_end(c, l, thisend);
  if (!call->legs) {
    call_free(call);
    return;
  }
  /* An answered two-party call ends when either side hangs up. */
  int con = 0;
  parties(call, &con, NULL);
  if (was_answered && con < 2 && !in_conference(call)) {
    int ring = 0;
    parties(call, NULL, &ring);
    if (ring == 0) {
      call_clear(c, call, NULL);
      return;
    }
  }
  call_check(c, call, was_origin);
}

/* ---- target resolution and offering ---- */

typedef enum tgt { TGT_NONE, TGT_USER, TGT_QUEUE, TGT_EXTERNAL } tgt_t;

static tgt_t resolve(sim_calls_t *c, const char *target, sim_user_t **u, sim_queue_t **q,
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

static int dnd_blocks(const sim_user_t *u, const party_t *from) {
  if (!u->dnd)
    return 0;
  for (int i = 0; i < u->n_dnd_exc; i++)
    if (strcmp(u->dnd_exc[i], from->number) == 0)
      return 0;
  return 1;
}

/* A voicemail far end answers in place of a user or queue (extn). */
static void to_voicemail_of(call_t *call, const char *extn) {
  leg_t *vm = leg_new(call, ROLE_B, SIM_LINE_VM, NULL);
  if (!vm)
    return;
  snprintf(vm->self.number, sizeof vm->self.number, "VM:%s", extn);
  snprintf(vm->self.name, sizeof vm->self.name, "Voicemail");
  vm->self.nametype = 5;
  vm->state = S(CONNECTED);
}

static void to_voicemail(call_t *call, const sim_user_t *u) { to_voicemail_of(call, u->extn); }

/* Offer the call to user u: a ringing leg, or busy (0 returned, nothing added). */
static leg_t *offer_user(sim_calls_t *c, call_t *call, sim_user_t *u, const party_t *orig_called) {
  leg_t *a = origin(call);
  if (!u->loggedinextn[0] || (a && dnd_blocks(u, &a->self)) || user_legs(c, u) >= MAX_APPEARANCES)
    return NULL;
  leg_t *l = leg_new(call, ROLE_B, SIM_LINE_USER, u->guid);
  if (!l)
    return NULL;
  user_party(u, &l->self);
  l->state = S(RINGING);
  l->direction = CALL_INFO__DIRECTION__INBOUND;
  if (orig_called)
    l->orig_called = *orig_called;
  return l;
}

static void far_answer(sim_calls_t *c, call_t *call);

/* Offer to a trunk far end, which answers after ring_ms. */
static leg_t *offer_external(sim_calls_t *c, call_t *call, const char *number) {
  leg_t *l = leg_new(call, ROLE_B, SIM_LINE_TRUNK, NULL);
  if (!l)
    return NULL;
  snprintf(l->self.number, sizeof l->self.number, "%s", number);
  snprintf(l->self.name, sizeof l->self.name, "External %s", number);
  l->self.nametype = 9;
  l->state = S(RINGING);
  call->trunk = 1;
  lws_sul_schedule(c->lws, 0, &call->sul_far, far_cb, (lws_usec_t)c->ring_ms * 1000);
  return l;
}

static void queue_party(const sim_queue_t *q, party_t *p) {
  snprintf(p->number, sizeof p->number, "%s", q->extn);
  snprintf(p->name, sizeof p->name, "%s", q->name);
  p->nametype = 5;
}

static void queue_vm_cb(lws_sorted_usec_list_t *sul);

/* Put the call into queue q (the first queue also gets the observer leg). */
static int offer_queue(sim_calls_t *c, call_t *call, sim_queue_t *q) {
  if (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__OOS ||
      q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__NS)
    return -1;
  memcpy(call->dist_queue, q->guid, SIM_GUID_LEN);
  call->queued = 1;
  leg_t *ql = queue_leg(call);
  if (!ql) {
    ql = leg_new(call, ROLE_OBS, SIM_LINE_QUEUE, q->guid);
    if (!ql)
      return -1;
    queue_party(q, &ql->self);
    ql->direction = CALL_INFO__DIRECTION__INBOUND;
  }
  ql->state = S(QUEUEING);
  /* The queue's voicemail takes calls nobody answered within voicemailtime. */
  if (q->voicemail && q->voicemailtime > 0)
    lws_sul_schedule(c->lws, 0, &call->sul_vm, queue_vm_cb,
                     (lws_usec_t)q->voicemailtime * LWS_US_PER_SEC);
  distribute(c, call);
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

static void noanswer_cb(lws_sorted_usec_list_t *sul);

/*
 * Offer a call made straight to user u (not through a queue): forwarding
 * unconditional first, then the user's phone, then voicemail.  Returns 1
 * when something rings, 2 when voicemail answered, 0 when busy.
 */
static int offer_direct(sim_calls_t *c, call_t *call, leg_t *a, sim_user_t *u) {
  party_t up;
  user_party(u, &up);
  if (u->fwdu && (u->fwdtovm || u->fwdunumber[0])) {
    sim_user_t *fu = NULL;
    sim_queue_t *fq = NULL;
    const char *ext = NULL;
    tgt_t t = u->fwdtovm ? TGT_NONE : resolve(c, u->fwdunumber, &fu, &fq, &ext);
    leg_t *b = NULL;
    if (t == TGT_USER && fu != u)
      b = offer_user(c, call, fu, &up);
    else if (t == TGT_EXTERNAL)
      b = offer_external(c, call, ext);
    if (b) {
      b->orig_called = up;
      return 1;
    }
    if (u->fwdtovm && u->voicemail) {
      to_voicemail(call, u);
      return 2;
    }
  }
  if (offer_user(c, call, u, NULL)) {
    /* Unanswered for the user's no-answer time: voicemail takes it. */
    if (u->voicemail)
      lws_sul_schedule(c->lws, 0, &call->sul_ring, noanswer_cb,
                       (lws_usec_t)(u->noanswertime > 0 ? u->noanswertime : 15) * LWS_US_PER_SEC);
    return 1;
  }
  if (u->voicemail && u->loggedinextn[0]) {
    to_voicemail(call, u);
    return 2;
  }
  (void)a;
  return 0;
}

/* Route the call to `target` for originator a. */
static void route(sim_calls_t *c, call_t *call, leg_t *a, const char *target) {
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  snprintf(a->called, sizeof a->called, "%s", target);
  switch (resolve(c, target, &u, &q, &ext)) {
  case TGT_USER: {
    int r = offer_direct(c, call, a, u);
    if (r == 2) {
      a->state = S(CONNECTED);
      return;
    }
    origin_progress(call, a, r == 1, 0);
    return;
  }
  case TGT_QUEUE:
    origin_progress(call, a, offer_queue(c, call, q) == 0, 0);
    return;
  case TGT_EXTERNAL:
    origin_progress(call, a, offer_external(c, call, ext) != NULL, 0);
    return;
  case TGT_NONE:
    origin_progress(call, a, 0, CALL_INFO__FAILED_CAUSE__UNALLOCATEDNUMBER);
    return;
  }
}

/* ---- queue distribution ---- */

static int agent_idle(sim_calls_t *c, const sim_user_t *u) {
  return u && u->loggedinextn[0] && !u->dnd && user_legs(c, u) == 0;
}

static void queue_sync(sim_calls_t *c, call_t *call) {
  leg_t *ql = queue_leg(call);
  if (!ql)
    return;
  int old = ql->state, con = 0, ring = 0;
  parties(call, &con, &ring);
  leg_t *agent = NULL;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->role == ROLE_B && is_active(l->state) && !agent)
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
    touch(c, ql);
}

static void distribute(sim_calls_t *c, call_t *call) {
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  int ring = 0;
  if (!call->queued || !q)
    return;
  parties(call, NULL, &ring);
  if (ring)
    return;
  party_t qp;
  queue_party(q, &qp);
  int offered = 0;
  if (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__Active && q->n_members > 0) {
    if (q->ringmode == 2) {
      for (int i = 0; i < q->n_members; i++) {
        sim_user_t *u = sim_model_user_by_extn(c->model, q->members[i].extn);
        if (!q->members[i].disabled && agent_idle(c, u) && offer_user(c, call, u, &qp))
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
          offer_user(c, call, sim_model_user_by_extn(c->model, q->members[best].extn), &qp)) {
        q->last_target = best;
        offered++;
      }
    }
  }
  call->retargeting = 0;
  if (offered) {
    leg_t *a = origin(call);
    if (a && a->state != S(RINGBACK)) {
      a->state = S(RINGBACK);
    }
    lws_sul_schedule(c->lws, 0, &call->sul_ring, ring_cb,
                     (lws_usec_t)(q->noanswertime > 0 ? q->noanswertime : 10) * LWS_US_PER_SEC);
  }
  queue_sync(c, call);
  touch_call(call);
}

/* A direct call rang out: voicemail answers it. */
static void noanswer_cb(lws_sorted_usec_list_t *sul) {
  call_t *call = lws_container_of(sul, call_t, sul_ring);
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
  sim_user_t *u = ringing ? leg_user(c, ringing) : NULL;
  if (n != 1 || !u || !u->voicemail)
    return;
  leg_end(c, ringing, 0);
  to_voicemail(call, u);
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role == ROLE_A && o->state == S(RINGBACK))
      o->state = S(CONNECTED);
  touch_call(call);
}

/* Still queued after the queue's voicemailtime: its voicemail answers. */
static void queue_vm_cb(lws_sorted_usec_list_t *sul) {
  call_t *call = lws_container_of(sul, call_t, sul_vm);
  sim_calls_t *c = call->calls;
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  if (!call->queued || !q)
    return;
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l->role == ROLE_B && l->state == S(RINGING))
      leg_end(c, l, 0);
  }
  lws_sul_cancel(&call->sul_ring);
  call->queued = 0;
  call->retargeting = 0;
  to_voicemail_of(call, q->extn);
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role == ROLE_A && o->state == S(RINGBACK))
      o->state = S(CONNECTED);
  queue_sync(c, call);
  touch_call(call);
}

/* No answer within the queue's no-answer time: retarget. */
static void ring_cb(lws_sorted_usec_list_t *sul) {
  call_t *call = lws_container_of(sul, call_t, sul_ring);
  sim_calls_t *c = call->calls;
  if (!call->queued)
    return;
  if (call->retargeting) {
    distribute(c, call);
    return;
  }
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l->role == ROLE_B && l->state == S(RINGING))
      leg_end(c, l, 0);
  }
  call->retargeting = 1;
  queue_sync(c, call);
  /* RETARGETING lasts a moment, long enough to be reported. */
  lws_sul_schedule(c->lws, 0, &call->sul_ring, ring_cb, 200 * LWS_US_PER_MS);
}

/* Calls waiting in queues get another chance whenever the tick comes round. */
static void tick_cb(lws_sorted_usec_list_t *sul) {
  sim_calls_t *c = lws_container_of(sul, sim_calls_t, sul_tick);
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    int ring = 0;
    parties(call, NULL, &ring);
    if (call->queued && !call->retargeting && !ring)
      distribute(c, call);
  } lws_end_foreach_dll_safe(d, d1);
  lws_sul_schedule(c->lws, 0, &c->sul_tick, tick_cb, 250 * LWS_US_PER_MS);
}

/* ---- answering ---- */

/* Put the user's other connected calls on hold (one active call per phone). */
static void hold_others(sim_calls_t *c, leg_t *keep);

static void do_hold(sim_calls_t *c, leg_t *l, int state) {
  l->state = state;
  for (leg_t *o = l->call->legs; o; o = o->next)
    if (o != l && o->role != ROLE_OBS && !o->activeheld) {
      o->activeheld = 1;
      touch(c, o);
    }
  queue_sync(c, l->call);
  touch(c, l);
}

static void hold_others(sim_calls_t *c, leg_t *keep) {
  if (keep->kind != SIM_LINE_USER)
    return;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l != keep && l->kind == SIM_LINE_USER &&
          memcmp(l->owner, keep->owner, SIM_GUID_LEN) == 0 && l->state == S(CONNECTED))
        do_hold(c, l, S(ONHOLD));
  } lws_end_foreach_dll(d);
}

/* Leg b (ringing) answers: the call connects, other offers are withdrawn. */
static void answer(sim_calls_t *c, leg_t *b) {
  call_t *call = b->call;
  hold_others(c, b);
  b->state = S(CONNECTED);
  for (leg_t *l = call->legs, *n; l; l = n) {
    n = l->next;
    if (l != b && l->role == ROLE_B && l->state == S(RINGING) && !in_conference(call) &&
        l->kind != SIM_LINE_TRUNK)
      leg_end(c, l, 0);
  }
  for (leg_t *l = call->legs; l; l = l->next)
    if (l != b && l->role != ROLE_OBS &&
        (l->state == S(RINGBACK) || l->state == S(DIALLED) || l->state == S(DIALLING))) {
      l->state = S(CONNECTED);
      touch(c, l);
    }
  call->queued = 0;
  call->retargeting = 0;
  lws_sul_cancel(&call->sul_ring);
  queue_sync(c, call);
  touch_call(call);
}

static void far_answer(sim_calls_t *c, call_t *call) {
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK && l->state == S(RINGING)) {
      answer(c, l);
      return;
    }
}

static void far_cb(lws_sorted_usec_list_t *sul) {
  call_t *call = lws_container_of(sul, call_t, sul_far);
  far_answer(call->calls, call);
}

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
  int argmin, argmax;  /* arg1 length limits in characters; argmax < 0: not checked */
  int notfound;        /* result when the call cannot be found */
  avail_fn avail;      /* offered (featuresavailable) in the leg's current state? */
  run_fn run;
  avail_fn allowed;    /* when set: allowed though not offered (NULL: as avail) */
};

static int live(int state) {
  return state != S(DISCONNECTED) && state != S(UNKNOWN);
}
static int queue_phase(int state) {
  return state == S(QUEUEING) || state == S(RINGING) || state == S(RETARGETING);
}

static int av_drop(sim_calls_t *c, const leg_t *l) { return live(l->state); }
static int av_answer(sim_calls_t *c, const leg_t *l) { return l->state == S(RINGING); }
static int av_hold(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED); }
static int av_unhold(sim_calls_t *c, const leg_t *l) {
  return l->state == S(ONHOLD) || l->state == S(ONHOLDPENDTRANSFER) || l->state == S(ONHOLDPENDCONF);
}
static int av_blind(sim_calls_t *c, const leg_t *l) {
  if (l->kind == SIM_LINE_USER)
    return l->state == S(CONNECTED) || l->state == S(ONHOLD);
  return queue_phase(l->state) || is_active(l->state);
}
static int av_redirect(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? l->state == S(RINGING) : queue_phase(l->state);
}
static int av_dial(sim_calls_t *c, const leg_t *l) {
  return l->state == S(DIALTONE) || l->state == S(DIALLING);
}
static int av_park(sim_calls_t *c, const leg_t *l) {
  if (l->kind == SIM_LINE_USER)
    return l->state == S(CONNECTED) || l->state == S(ONHOLD);
  return queue_phase(l->state) || is_active(l->state);
}
static int av_setup(sim_calls_t *c, const leg_t *l) {
  return l->state == S(CONNECTED) && !l->related && parties(l->call, NULL, NULL) >= 2;
}
static int av_complete(sim_calls_t *c, const leg_t *l, int pend) {
  const leg_t *o = l->related ? leg_find(c, l->related) : NULL;
  if (!o)
    return 0;
  const leg_t *held = l->state == pend ? l : o->state == pend ? o : NULL;
  const leg_t *asst = held == l ? o : l;
  return held && (asst->state == S(CONNECTED) || asst->state == S(RINGBACK));
}
static int av_cxfer(sim_calls_t *c, const leg_t *l) { return av_complete(c, l, S(ONHOLDPENDTRANSFER)); }
static int av_cconf(sim_calls_t *c, const leg_t *l) { return av_complete(c, l, S(ONHOLDPENDCONF)); }
static int av_conf(sim_calls_t *c, const leg_t *l) {
  return l->kind == SIM_LINE_USER ? l->state == S(CONNECTED) && in_conference(l->call)
                                  : in_conference(l->call);
}
static int av_tag(sim_calls_t *c, const leg_t *l) {
  /* A ringing user line offers only drop, answer and redirect (spec example 0x23). */
  return live(l->state) && !(l->kind == SIM_LINE_USER && l->state == S(RINGING));
}
static int av_connected(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED); }
static int av_ec500(sim_calls_t *c, const leg_t *l) {
  const sim_user_t *u = leg_user(c, l);
  return l->state == S(CONNECTED) && u && u->ec500 && u->mobile[0];
}
static int av_recon(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && !l->recording; }
static int av_recoff(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && l->recording; }
static int av_privon(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && !l->privacy; }
static int av_privoff(sim_calls_t *c, const leg_t *l) { return l->state == S(CONNECTED) && l->privacy; }
static int av_muteon(sim_calls_t *c, const leg_t *l) { return av_conf(c, l) && !l->mute; }
static int av_muteoff(sim_calls_t *c, const leg_t *l) { return av_conf(c, l) && l->mute; }
static int av_priority(sim_calls_t *c, const leg_t *l) { return queue_phase(l->state); }
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
  tgt_t t = resolve(c, target, &u, &q, &ext);
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
        leg_end(c, o, 0);
    }
    lws_sul_cancel(&call->sul_ring);
    call->queued = 0;
    call->retargeting = 0;
    leg_t *b = NULL;
    if (t == TGT_QUEUE) {
      if (offer_queue(c, call, q))
        return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
    } else {
      b = t == TGT_USER ? offer_user(c, call, u, NULL) : offer_external(c, call, ext);
      if (!b)
        return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
      leg_t *a = origin(call);
      if (a && a->kind == SIM_LINE_USER)
        a->state = S(RINGBACK);
    }
    queue_sync(c, call);
    touch_call(call);
    return MTCTISESS_SUCCESS;
  }
  /* Check the target can take the call before letting go of it. */
  if (t == TGT_USER && (!u->loggedinextn[0] || u->dnd || user_legs(c, u) >= MAX_APPEARANCES))
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  if (t == TGT_QUEUE && (q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__OOS ||
                         q->servicemode == NOTIFY_QUEUE__SERVICE_MODE__NS))
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  role_t role = l->role;
  leg_end(c, l, 1);
  leg_t *b = NULL;
  if (t == TGT_QUEUE) {
    offer_queue(c, call, q);
  } else {
    b = t == TGT_USER ? offer_user(c, call, u, NULL) : offer_external(c, call, ext);
    if (b && role == ROLE_A)
      b->role = ROLE_B;
  }
  for (leg_t *o = call->legs; o; o = o->next)
    if (o->role != ROLE_OBS && o != b && is_active(o->state)) {
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
  queue_sync(c, call);
  touch_call(call);
  return MTCTISESS_SUCCESS;
}

static int run_drop(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  call_t *call = l->call;
  if (l->kind != SIM_LINE_USER) {
    /* Queue or park server: the call is dropped. */
    call_clear(c, call, l);
    return MTCTISESS_SUCCESS;
  }
  if (l->state == S(RINGING) && l->role == ROLE_B && !call->queued) {
    int ring = 0;
    parties(call, NULL, &ring);
    if (ring <= 1) {
      /* Coverage: voicemail, or nowhere to send the call. */
      sim_user_t *u = leg_user(c, l);
      if (!u || !u->voicemail)
        return MTCTISESS_CALLCONTROL_NOCOVERAGE;
      leg_end(c, l, 1);
      to_voicemail(call, u);
      for (leg_t *o = call->legs; o; o = o->next)
        if (o->role == ROLE_A && o->state == S(RINGBACK))
          o->state = S(CONNECTED);
      touch_call(call);
      return MTCTISESS_SUCCESS;
    }
  }
  if (l->state == S(RINGING) && call->queued) {
    leg_end(c, l, 1);
    int ring = 0;
    parties(call, NULL, &ring);
    if (!ring) {
      lws_sul_cancel(&call->sul_ring);
      distribute(c, call);
    }
    return MTCTISESS_SUCCESS;
  }
  leg_leave(c, l, 1);
  return MTCTISESS_SUCCESS;
}

static int run_answer(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  answer(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_hold(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  do_hold(c, l, S(ONHOLD));
  return MTCTISESS_SUCCESS;
}

static int run_unhold(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  hold_others(c, l);
  l->state = S(CONNECTED);
  for (leg_t *o = l->call->legs; o; o = o->next)
    if (o != l && o->activeheld) {
      o->activeheld = 0;
      touch(c, o);
    }
  queue_sync(c, l->call);
  touch(c, l);
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
  if (resolve(c, l->called, &u, &q, &ext) != TGT_NONE) {
    char target[80];
    snprintf(target, sizeof target, "%s", l->called);
    route(c, l->call, l, target);
    touch_call(l->call);
  } else {
    l->state = S(DIALLING);
    touch(c, l);
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
  leg_t *p = leg_new(call, l->kind == SIM_LINE_QUEUE ? ROLE_B : l->role, SIM_LINE_PARK, NULL);
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
        leg_end(c, o, 0);
    }
    call->queued = 0;
    lws_sul_cancel(&call->sul_ring);
  } else {
    leg_end(c, l, 1);
  }
  for (leg_t *o = call->legs; o; o = o->next)
    if (o != p && o->role != ROLE_OBS) {
      o->activeheld = 1;
      if (o->kind == SIM_LINE_USER && (o->state == S(RINGBACK)))
        o->state = S(CONNECTED);
    }
  queue_sync(c, call);
  touch_call(call);
  return MTCTISESS_SUCCESS;
}

/* SetupTransfer and SetupConf: hold the call, make an assistant call. */
static int setup_assist(sim_calls_t *c, leg_t *l, const CallFunction *cf, int pend) {
  sim_user_t *u = leg_user(c, l);
  if (!u)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  if (user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  call_t *c2 = call_new(c);
  leg_t *a = c2 ? leg_new(c2, ROLE_A, SIM_LINE_USER, u->guid) : NULL;
  if (!a) {
    if (c2)
      call_free(c2);
    return MTCTISESS_REQUESTFAILED;
  }
  user_party(u, &a->self);
  a->direction = CALL_INFO__DIRECTION__OUTBOUND;
  a->related = l->id;
  l->related = a->id;
  do_hold(c, l, pend);
  if (cf->arg1 && *cf->arg1)
    route(c, c2, a, cf->arg1);
  else
    a->state = S(DIALTONE);
  touch_call(c2);
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
    o = leg_find(c, cf->callinst[0]->callid);
    if (!o || o == l || o->kind != SIM_LINE_USER || memcmp(o->owner, l->owner, SIM_GUID_LEN))
      return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  } else if (l->related) {
    o = leg_find(c, l->related);
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
      leg_end(c, o, 0);
      continue;
    }
    leg_unlink(o);
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
        lws_sul_schedule(c->lws, 0, &to->sul_far, far_cb, (lws_usec_t)c->ring_ms * 1000);
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
  if (parties(c1, NULL, NULL) < 2 || parties(c2, NULL, NULL) < 2)
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  /* Two public calls may not be joined without an internal party. */
  if (all_external(c1, held) && all_external(c2, asst))
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  int ringing = 0;
  for (leg_t *o = c2->legs; o; o = o->next)
    if (o != asst && o->state == S(RINGING))
      ringing = 1;
  merge_into(c, c1, c2, asst);
  leg_end(c, asst, 1);
  call_free(c2);
  leg_end(c, held, 1);
  for (leg_t *o = c1->legs; o; o = o->next) {
    o->activeheld = 0;
    if (o->role != ROLE_OBS && o->kind == SIM_LINE_USER && o->state != S(RINGING))
      o->state = ringing ? S(RINGBACK) : S(CONNECTED);
  }
  queue_sync(c, c1);
  touch_call(c1);
  return MTCTISESS_SUCCESS;
}

static int run_cconf(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  leg_t *held = NULL, *asst = NULL;
  int rc = complete_pair(c, l, cf, &held, &asst);
  if (rc != MTCTISESS_SUCCESS)
    return rc;
  for (size_t i = 1; i < cf->n_callinst; i++)
    if (!leg_find(c, cf->callinst[i]->callid))
      return MTCTISESS_CALLCONTROL_OTHERNOTFOUND;
  call_t *c1 = held->call, *c2 = asst->call;
  if (parties(c2, NULL, NULL) < 2)
    return MTCTISESS_CALLCONTROL_CANTCOMPLETE;
  merge_into(c, c1, c2, asst);
  leg_end(c, asst, 1);
  call_free(c2);
  held->related = 0;
  held->state = S(CONNECTED);
  for (leg_t *o = c1->legs; o; o = o->next)
    o->activeheld = 0;
  queue_sync(c, c1);
  touch_call(c1);
  return MTCTISESS_SUCCESS;
}

static int run_addtoconf(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  sim_user_t *u = NULL;
  sim_queue_t *q = NULL;
  const char *ext = NULL;
  tgt_t t = resolve(c, cf->arg1, &u, &q, &ext);
  leg_t *b = NULL;
  if (t == TGT_USER)
    b = offer_user(c, l->call, u, NULL);
  else if (t == TGT_EXTERNAL)
    b = offer_external(c, l->call, ext);
  if (!b)
    return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
  touch_call(l->call);
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
    leg_leave(c, o, 0);
    return MTCTISESS_SUCCESS;
  case MEMBER_FUNCTION_DATA__ACTION__MuteOn:
  case MEMBER_FUNCTION_DATA__ACTION__MuteOff:
    o->mute = m->action == MEMBER_FUNCTION_DATA__ACTION__MuteOn;
    touch_call(l->call);
    return MTCTISESS_SUCCESS;
  default:
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  }
}

/* Length in characters of UTF-8 text. */
static size_t utf8_len(const char *s) {
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
  touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_acct(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && !sim_model_is_account_code(c->model, cf->arg1))
    return MTCTISESS_CALLCONTROL_BADACCT;
  for (leg_t *o = l->call->legs; o; o = o->next)
    snprintf(o->acct, sizeof o->acct, "%s", cf->arg1);
  touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_auth(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && !sim_model_is_auth_code(c->model, cf->arg1))
    return MTCTISESS_CALLCONTROL_BADAUTH;
  snprintf(l->auth, sizeof l->auth, "%s", cf->arg1);
  touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_ec500(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  sim_user_t *u = leg_user(c, l);
  if (!u || !u->ec500 || !u->mobile[0])
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  /* The mobile answers: the call moves there and leaves the desk. */
  call_t *call = l->call;
  leg_t *m = leg_new(call, ROLE_B, SIM_LINE_TRUNK, NULL);
  if (!m)
    return MTCTISESS_REQUESTFAILED;
  snprintf(m->self.number, sizeof m->self.number, "%s", u->mobile);
  snprintf(m->self.name, sizeof m->self.name, "%.50s mobile", u->name);
  m->state = S(CONNECTED);
  leg_end(c, l, 1);
  touch_call(call);
  return MTCTISESS_SUCCESS;
}

static int run_digits(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  for (const char *p = cf->arg1; *p; p++)
    if (!strchr("0123456789*#", *p))
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
  return MTCTISESS_SUCCESS;
}

static int run_forceclear(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  call_clear(c, l->call, l);
  return MTCTISESS_SUCCESS;
}

static int run_recording(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  int on = cf->action == CALL_FUNCTION__ACTION__CallRecordingOn;
  if (on && l->privacy)
    return MTCTISESS_CALLCONTROL_PERMISSION;
  l->recording = on;
  touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_privacy(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->privacy = cf->action == CALL_FUNCTION__ACTION__PrivacyOn;
  if (l->privacy)
    l->recording = 0;
  touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_mute(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->mute = cf->action == CALL_FUNCTION__ACTION__MuteOn;
  touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_agentrec(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (!cf->agentrecording || cf->agentrecording->pause == cf->agentrecording->resume)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  for (leg_t *o = l->call->legs; o; o = o->next)
    o->recpaused = cf->agentrecording->pause;
  touch_call(l->call);
  return MTCTISESS_SUCCESS;
}

static int run_priority(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (strcmp(cf->arg1, "1") && strcmp(cf->arg1, "2") && strcmp(cf->arg1, "3"))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  l->call->priority = cf->arg1[0] - '0';
  touch(c, l);
  return MTCTISESS_SUCCESS;
}

static int run_finish(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  if (*cf->arg1 && strcmp(cf->arg1, "1"))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  /* Every client watching the queue stops seeing the call; the call goes on. */
  leg_end(c, l, 0);
  return MTCTISESS_SUCCESS;
}

static int run_answerpage(sim_calls_t *c, leg_t *l, const CallFunction *cf) {
  l->pagecall = 0;
  touch(c, l);
  return MTCTISESS_SUCCESS;
}

#define A(x) CALL_FUNCTION__ACTION__##x
static const action_def_t action_table[] = {
    {A(DropCall), CODEC_CF_DROP, K_ALL, 0, -1, MTCTISESS_NOTFOUND, av_drop, run_drop, NULL},
    {A(AnswerCall), CODEC_CF_ANSWER, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_answer, run_answer, NULL},
    {A(HoldCall), CODEC_CF_HOLD, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_hold, run_hold, NULL},
    {A(UnHoldCall), CODEC_CF_UNHOLD, K_USER, 0, -1, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_unhold, run_unhold, NULL},
    {A(BlindTransfer), CODEC_CF_BLINDXFER, K_ALL, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_blind, run_blind, NULL},
    {A(Redirect), CODEC_CF_REDIRECT, K_USER | K_QUEUE, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_redirect, run_blind, NULL},
    {A(Dial), CODEC_CF_DIAL, K_USER, 1, 78, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_dial, run_dial, NULL},
    {A(Park), CODEC_CF_PARK, K_USER | K_QUEUE, 1, 9, MTCTISESS_CALLCONTROL_CALLNOTFOUND, av_park, run_park, NULL},
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

static int features(sim_calls_t *c, const leg_t *l) {
  int f = 0;
  for (size_t i = 0; i < N_ACTIONS; i++) {
    const action_def_t *d = &action_table[i];
    if (d->bit && (d->kinds & (1u << l->kind)) && d->avail(c, l))
      f |= (int)d->bit;
  }
  return f;
}

/* ---- public commands ---- */

int sim_calls_function(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int callid,
                       int refid, const CallFunction *cf) {
  const action_def_t *d = action_lookup(cf->action);
  leg_t *l = NULL;
  if (callid)
    l = leg_find(c, callid);
  else if (refid) {
    lws_start_foreach_dll(struct lws_dll2 *, dd, lws_dll2_get_head(&c->calls)) {
      call_t *call = lws_container_of(dd, call_t, list);
      for (leg_t *x = call->legs; x && !l; x = x->next)
        if (x->refid == refid && x->kind == kind &&
            (!owner || memcmp(x->owner, owner, SIM_GUID_LEN) == 0))
          l = x;
    } lws_end_foreach_dll(dd);
  }
  if (l && (l->kind != kind || (owner && memcmp(l->owner, owner, SIM_GUID_LEN) != 0)))
    l = NULL;
  if (!l)
    return d ? d->notfound : MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  if (!d)
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  if (!(d->kinds & (1u << kind)))
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  const char *arg = cf->arg1 ? cf->arg1 : "";
  size_t alen = utf8_len(arg);
  if (d->argmax >= 0 && (alen < (size_t)d->argmin || alen > (size_t)d->argmax))
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (d->argmax < 0 && d->argmin > 0 && alen < (size_t)d->argmin)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (cf->action == CALL_FUNCTION__ACTION__HoldCall && l->state == S(ONHOLD))
    return MTCTISESS_CALLCONTROL_ALREADYDONE;
  if (cf->action == CALL_FUNCTION__ACTION__UnHoldCall && l->state == S(CONNECTED))
    return MTCTISESS_CALLCONTROL_ALREADYDONE;
  if (!(d->allowed ? d->allowed : d->avail)(c, l))
    return MTCTISESS_CALLCONTROL_INVALIDCALLSTATE;
  CallFunction copy = *cf;
  copy.arg1 = (char *)arg;
  return d->run(c, l, &copy);
}

int sim_calls_action(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int callid,
                     int action, const char *arg1) {
  CallFunction cf = CALL_FUNCTION__INIT;
  cf.action = action;
  cf.arg1 = (char *)(arg1 ? arg1 : "");
  return sim_calls_function(c, kind, owner, callid, 0, &cf);
}

int sim_calls_make(sim_calls_t *c, sim_user_t *u, const char *target, int type,
                   const AdvancedMakeCall *adv, int refid, int *callid) {
  if (!u->loggedinextn[0])
    return MTCTISESS_CALLCONTROL_NOPHONE;
  if (u->extnfault)
    return MTCTISESS_CALLCONTROL_EXTNFAULT;
  if (!(u->featuresavailable & CODEC_UF_MAKECALL))
    return MTCTISESS_CALLCONTROL_PERMISSION;
  if (target && utf8_len(target) > 78)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (adv) {
    if (adv->accountcode && utf8_len(adv->accountcode) > 15)
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
    if (adv->authcode && utf8_len(adv->authcode) > 15)
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
    if (adv->accountcode && *adv->accountcode &&
        !sim_model_is_account_code(c->model, adv->accountcode))
      return MTCTISESS_CALLCONTROL_BADACCT;
    if (adv->authcode && *adv->authcode && !sim_model_is_auth_code(c->model, adv->authcode))
      return MTCTISESS_CALLCONTROL_BADAUTH;
  }
  if (user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  call_t *call = call_new(c);
  leg_t *a = call ? leg_new(call, ROLE_A, SIM_LINE_USER, u->guid) : NULL;
  if (!a) {
    if (call)
      call_free(call);
    return MTCTISESS_REQUESTFAILED;
  }
  user_party(u, &a->self);
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
  a->pagecall = type == 104;
  hold_others(c, a);
  if (target && *target)
    route(c, call, a, target);
  else
    a->state = S(DIALTONE);
  if (adv) {
    for (leg_t *o = a->next; o; o = o->next) {
      snprintf(o->acct, sizeof o->acct, "%s", a->acct);
      snprintf(o->tag, sizeof o->tag, "%s", a->tag);
      if (o != a && type == 104)
        o->pagecall = 1;
    }
  }
  *callid = a->id;
  touch_call(call);
  return MTCTISESS_SUCCESS;
}

int sim_calls_unpark(sim_calls_t *c, sim_user_t *u, const char *parkid, int refid, int *callid) {
  if (!u->loggedinextn[0])
    return MTCTISESS_CALLCONTROL_NOPHONE;
  if (!parkid || !*parkid || strlen(parkid) > 9)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (user_legs(c, u) >= MAX_APPEARANCES)
    return MTCTISESS_CALLCONTROL_MAXCALLS;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *p = call->legs; p; p = p->next) {
      if (p->kind != SIM_LINE_PARK || strcmp(p->slot, parkid) != 0)
        continue;
      leg_t *l = leg_new(call, p->role, SIM_LINE_USER, u->guid);
      if (!l)
        return MTCTISESS_REQUESTFAILED;
      user_party(u, &l->self);
      l->direction = CALL_INFO__DIRECTION__PICKUP;
      l->refid = refid;
      snprintf(l->tag, sizeof l->tag, "%s", p->tag);
      snprintf(l->acct, sizeof l->acct, "%s", p->acct);
      hold_others(c, l);
      l->state = S(CONNECTED);
      leg_end(c, p, 0);
      for (leg_t *o = call->legs; o; o = o->next)
        o->activeheld = 0;
      queue_sync(c, call);
      touch_call(call);
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
  tgt_t t = resolve(c, to, &u, &q, &ext);
  if (t != TGT_USER && t != TGT_QUEUE)
    return MTCTISESS_CALLCONTROL_TARGETNOTFOUND;
  call_t *call = call_new(c);
  leg_t *a = call ? leg_new(call, ROLE_A, SIM_LINE_TRUNK, NULL) : NULL;
  if (!a) {
    if (call)
      call_free(call);
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
  codec_hex_format(call->gcid, GCID_LEN, gcid_hex, size);
  int ok;
  if (t == TGT_USER) {
    int r = offer_direct(c, call, a, u);
    if (r == 2)
      a->state = S(CONNECTED);
    ok = r != 0;
  } else {
    ok = offer_queue(c, call, q) == 0;
  }
  if (!ok) {
    call_clear(c, call, NULL);
    return MTCTISESS_CALLCONTROL_TRANSFERFAILED;
  }
  touch_call(call);
  return MTCTISESS_SUCCESS;
}

int sim_calls_trunk_hangup(sim_calls_t *c, const char *gcid_hex) {
  call_t *call = call_by_gcid(c, gcid_hex);
  if (!call)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK) {
      leg_leave(c, l, 0);
      return MTCTISESS_SUCCESS;
    }
  return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
}

int sim_calls_trunk_answer(sim_calls_t *c, const char *gcid_hex) {
  call_t *call = call_by_gcid(c, gcid_hex);
  if (!call)
    return MTCTISESS_CALLCONTROL_CALLNOTFOUND;
  for (leg_t *l = call->legs; l; l = l->next)
    if (l->kind == SIM_LINE_TRUNK && l->state == S(RINGING)) {
      lws_sul_cancel(&call->sul_far);
      answer(c, l);
      return MTCTISESS_SUCCESS;
    }
  return MTCTISESS_CALLCONTROL_INVALIDCALLSTATE;
}

int sim_calls_gcid_of(sim_calls_t *c, int callid, char *hex, size_t size) {
  leg_t *l = leg_find(c, callid);
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
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next) {
      if (l->kind != SIM_LINE_USER || memcmp(l->owner, u->guid, SIM_GUID_LEN) != 0)
        continue;
      if (is_active(l->state) || l->state == S(RINGBACK))
        st = 4;
      else if (l->state == S(RINGING) && st < 2)
        st = 2;
      else if ((l->state == S(DIALTONE) || l->state == S(DIALLING)) && st < 1)
        st = 1;
    }
  } lws_end_foreach_dll(d);
  return st;
}

size_t sim_calls_line_legs(sim_calls_t *c, sim_line_kind_t kind, const uint8_t *owner, int *ids,
                           size_t max) {
  size_t n = 0;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    for (leg_t *l = call->legs; l; l = l->next)
      if (l->kind == kind && (!owner || memcmp(l->owner, owner, SIM_GUID_LEN) == 0) && n < max)
        ids[n++] = l->id;
  } lws_end_foreach_dll(d);
  return n;
}

size_t sim_calls_count(const sim_calls_t *c) { return c->calls.count; }

/* ---- rendering ---- */

static char *ac_str(struct lwsac **ac, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = lwsac_use(ac, n, 0);
  if (p)
    memcpy(p, s, n);
  return p;
}

static PartyInfo *ac_party(struct lwsac **ac, const party_t *p) {
  PartyInfo *pi = lwsac_use_zero(ac, sizeof *pi, 0);
  if (!pi)
    return NULL;
  party_info__init(pi);
  pi->withheld = p->withheld;
  pi->number = ac_str(ac, p->withheld ? "" : p->number);
  pi->name = ac_str(ac, p->withheld ? "" : p->name);
  pi->nametype = p->nametype;
  return pi;
}

int sim_calls_render(sim_calls_t *c, int callid, int ccflags, struct lwsac **ac, CallInfo **out) {
  leg_t *l = leg_find(c, callid);
  if (!l)
    return -1;
  call_t *call = l->call;
  CallInfo *ci = lwsac_use_zero(ac, sizeof *ci, 0);
  if (!ci)
    return -1;
  call_info__init(ci);
  ci->callid = l->id;
  ci->referencecallid = l->refid;
  ci->relatedcallid = l->related;
  ci->state = l->state;
  ci->direction = l->direction;
  ci->activeheld = l->activeheld;
  ci->gcid.data = lwsac_use(ac, GCID_LEN, 0);
  if (ci->gcid.data) {
    memcpy(ci->gcid.data, call->gcid, GCID_LEN);
    ci->gcid.len = GCID_LEN;
  }
  ci->featuresavailable = features(c, l);
  ci->featuresavailable2 = l->pagecall && l->state == S(CONNECTED) ? 1 : 0;
  leg_t *a = origin(call);
  if (l->called[0])
    ci->calledparty = ac_str(ac, l->called);
  if (a && a != l && (l->direction == CALL_INFO__DIRECTION__INBOUND || l->kind != SIM_LINE_USER ||
                      l->direction == CALL_INFO__DIRECTION__PICKUP))
    ci->callingparty = ac_party(ac, &a->self);
  /* The other end: the first other party, or the queue while the call waits. */
  leg_t *other = NULL;
  for (leg_t *o = call->legs; o; o = o->next)
    if (o != l && o->role != ROLE_OBS && (o->role != ROLE_A || l->role != ROLE_A) &&
        !(l->kind == SIM_LINE_QUEUE && o == a) && !(l->kind == SIM_LINE_PARK && 0))
      if (!other || (is_active(o->state) && !is_active(other->state)))
        other = o;
  if (l->kind == SIM_LINE_QUEUE && other && other->state == S(RINGING))
    other = NULL;
  if (!other && l->role == ROLE_A && call->queued && queue_leg(call))
    other = queue_leg(call);
  if (other && l->state != S(DIALTONE))
    ci->connectedparty = ac_party(ac, &other->self);
  if (l->orig_called.number[0])
    ci->originalcalledparty = ac_party(ac, &l->orig_called);
  if (l->tag[0])
    ci->tag = ac_str(ac, l->tag);
  if (l->acct[0])
    ci->accountcode = ac_str(ac, l->acct);
  ci->mute = l->mute;
  ci->failedcause = l->failedcause;
  ci->recording = l->recording;
  ci->recordingpaused = l->recpaused;
  ci->pagecall = l->pagecall;
  if (l->kind == SIM_LINE_PARK)
    ci->parkslot = ac_str(ac, l->slot);
  if (other && other->kind == SIM_LINE_USER && l->kind == SIM_LINE_USER) {
    sim_user_t *ou = leg_user(c, other);
    if (ou && ou->absence_set) {
      ci->absence = lwsac_use_zero(ac, sizeof *ci->absence, 0);
      if (ci->absence) {
        absence__init(ci->absence);
        ci->absence->msg = ou->absence_msg;
        ci->absence->str = ac_str(ac, ou->absence_str);
      }
    }
  }
  if (ccflags & CODEC_CC_DEVICES) {
    ci->remoteinfo = lwsac_use_zero(ac, sizeof(EndInfo), 0);
    ci->localinfo = lwsac_use_zero(ac, sizeof(EndInfo *), 0);
    EndInfo *li = lwsac_use_zero(ac, sizeof(EndInfo), 0);
    if (ci->remoteinfo && ci->localinfo && li) {
      end_info__init(ci->remoteinfo);
      end_info__init(li);
      ci->remoteinfo->gcid = ci->gcid;
      ci->remoteinfo->deviceclass = other && other->kind == SIM_LINE_TRUNK ? 2 : 1;
      li->gcid = ci->gcid;
      li->deviceclass = 1;
      li->devicetype = 1;
      ci->localinfo[0] = li;
      ci->n_localinfo = 1;
    }
  }
  if ((ccflags & (CODEC_CC_CONFERENCE | CODEC_CC_CONFMEMBERS)) && in_conference(call)) {
    size_t n = 0;
    for (leg_t *o = call->legs; o; o = o->next)
      n += o != l && o->role != ROLE_OBS;
    ci->conferencemember = lwsac_use_zero(ac, n * sizeof(ConferenceMember *), 0);
    for (leg_t *o = call->legs; o && ci->conferencemember; o = o->next) {
      if (o == l || o->role == ROLE_OBS)
        continue;
      ConferenceMember *m = lwsac_use_zero(ac, sizeof *m, 0);
      if (!m)
        break;
      conference_member__init(m);
      m->lref = o->id;
      m->state = o->state <= S(WAITINGFORLINE) ? o->state : S(CONNECTED);
      m->direction = o->direction;
      m->mute = o->mute;
      m->connectedparty = ac_party(ac, &o->self);
      ci->conferencemember[ci->n_conferencemember++] = m;
    }
  }
  if ((ccflags & CODEC_CC_DIALINFO) && l->called[0]) {
    ci->dialinfo = lwsac_use_zero(ac, sizeof(DialInfo), 0);
    if (ci->dialinfo) {
      dial_info__init(ci->dialinfo);
      ci->dialinfo->number = ac_str(ac, l->called);
      ci->dialinfo->complete = l->state != S(DIALLING);
      ci->dialinfo->withholdcli = l->withholdcli;
    }
  }
  if ((ccflags & CODEC_CC_TRUNK) && call->trunk) {
    ci->trunkinfo = lwsac_use_zero(ac, sizeof(TrunkInfo), 0);
    if (ci->trunkinfo) {
      trunk_info__init(ci->trunkinfo);
      ci->trunkinfo->trunktype = TRUNK_INFO__TRUNK_TYPE__TrunkSIP;
      ci->trunkinfo->did = ac_str(ac, call->did);
    }
  }
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  if ((ccflags & CODEC_CC_QUEUE) && q && queue_leg(call)) {
    ci->queueinfo = lwsac_use_zero(ac, sizeof(QueueInfo), 0);
    if (ci->queueinfo) {
      queue_info__init(ci->queueinfo);
      ci->queueinfo->number = ac_str(ac, q->extn);
      ci->queueinfo->name = ac_str(ac, q->name);
      ci->queueinfo->priority = call->priority;
    }
  }
  if (ccflags & CODEC_CC_CALLDATA) {
    ci->calldata = lwsac_use_zero(ac, sizeof(CallData), 0);
    if (ci->calldata) {
      call_data__init(ci->calldata);
      ci->calldata->language = ac_str(ac, call->language);
      ci->calldata->privacy = l->privacy;
    }
  }
  if (ccflags & CODEC_CC_UCID) {
    ci->ucid = lwsac_use_zero(ac, sizeof(UCID), 0);
    if (ci->ucid) {
      ucid__init(ci->ucid);
      ci->ucid->ucid = ci->gcid;
    }
  }
  if ((ccflags & CODEC_CC_TARGETS) && l->kind == SIM_LINE_QUEUE && queue_phase(l->state)) {
    size_t n = 0;
    for (leg_t *o = call->legs; o; o = o->next)
      n += o->role == ROLE_B && o->state == S(RINGING);
    ci->targets = lwsac_use_zero(ac, sizeof(Targets), 0);
    if (ci->targets) {
      targets__init(ci->targets);
      ci->targets->target = lwsac_use_zero(ac, (n ? n : 1) * sizeof(Target *), 0);
      for (leg_t *o = call->legs; o && ci->targets->target; o = o->next) {
        if (o->role != ROLE_B || o->state != S(RINGING))
          continue;
        Target *t = lwsac_use_zero(ac, sizeof *t, 0);
        if (!t)
          break;
        target__init(t);
        t->partyinfo = ac_party(ac, &o->self);
        ci->targets->target[ci->targets->n_target++] = t;
      }
    }
  }
  *out = ci;
  return 0;
}

json_t *sim_calls_json(sim_calls_t *c) {
  json_t *arr = json_array();
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    char g[GCID_LEN * 2 + 1];
    json_t *legs = json_array();
    for (leg_t *l = call->legs; l; l = l->next) {
      const ProtobufCEnumValue *st = protobuf_c_enum_descriptor_get_value(&call_info__state__descriptor, l->state);
      static const char *const kinds[] = {"user", "queue", "park", "trunk", "voicemail"};
      json_array_append_new(legs, json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:i}", "callid", l->id,
                                            "line", kinds[l->kind], "number", l->self.number,
                                            "role", l->role == ROLE_A ? "caller" : l->role == ROLE_B ? "called" : "observer",
                                            "state", st ? st->name : "?", "refid", l->refid,
                                            "related", l->related));
    }
    json_array_append_new(arr, json_pack("{s:s,s:o}", "gcid",
                                         codec_hex_format(call->gcid, GCID_LEN, g, sizeof g),
                                         "legs", legs));
  } lws_end_foreach_dll(d);
  return arr;
}

void sim_calls_clear_all(sim_calls_t *c) {
  while (c->calls.head) {
    call_t *call = lws_container_of(c->calls.head, call_t, list);
    call_clear(c, call, NULL);
  }
}

void sim_calls_model_event(sim_calls_t *c, int ev, void *record) {
  if (ev == SIM_EV_USER_REMOVED) {
    sim_user_t *u = record;
    int id;
    while ((id = sim_calls_user_leg(c, u, ~0u)) != 0) {
      leg_t *l = leg_find(c, id);
      leg_leave(c, l, 0);
    }
  } else if (ev == SIM_EV_QUEUE_REMOVED) {
    sim_queue_t *q = record;
    lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&c->calls)) {
      call_t *call = lws_container_of(d, call_t, list);
      leg_t *ql = queue_leg(call);
      if (ql && memcmp(ql->owner, q->guid, SIM_GUID_LEN) == 0)
        leg_end(c, ql, 0);
      if (memcmp(call->dist_queue, q->guid, SIM_GUID_LEN) == 0 && call->queued)
        call_clear(c, call, NULL);
    } lws_end_foreach_dll_safe(d, d1);
  }
}

int sim_calls_new(sim_model_t *model, struct lws_context *lws, int ring_ms, sim_calls_t **calls,
                  char *errstr, size_t errstr_size) {
  sim_calls_t *c = calloc(1, sizeof *c);
  if (!c) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  c->model = model;
  c->lws = lws;
  c->ring_ms = ring_ms;
  lws_sul_schedule(lws, 0, &c->sul_tick, tick_cb, 250 * LWS_US_PER_MS);
  *calls = c;
  return 0;
}

void sim_calls_free(sim_calls_t *c) {
  if (!c)
    return;
  c->observer = NULL;
  while (c->calls.head)
    call_free(lws_container_of(c->calls.head, call_t, list));
  lws_sul_cancel(&c->sul_tick);
  free(c);
}

void sim_calls_observe(sim_calls_t *c, sim_calls_observer_fn fn, void *ctx) {
  c->observer = fn;
  c->observer_ctx = ctx;
}
