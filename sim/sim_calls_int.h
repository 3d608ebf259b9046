/*
 * sim_calls_int: what the call engine's files share (sim_calls.c: calls,
 * legs, routing and queues; sim_calls_make.c: MakeCall and its types;
 * sim_calls_actions.c: the CallFunction table and featuresavailable;
 * sim_calls_render.c: CallInfo and JSON).
 * Private to them: other modules use sim_calls.h.
 */
#ifndef SIM_CALLS_INT_H
#define SIM_CALLS_INT_H

#include <libwebsockets.h>

#include "sim_calls.h"

#define GCID_LEN 9
#define MAX_APPEARANCES 4   /* call appearances per user */
#define S(x) CALL_INFO__STATE__##x

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
  int system;             /* queue legs: the system reporting it; -1 for every other leg */
  uint8_t owner[SIM_GUID_LEN];
  char slot[16];          /* park slot of a park leg */
  party_t self;
  party_t orig_called;    /* set when offered through a queue or forwarding */
  int state, direction, activeheld, failedcause;
  int refid, related;
  char called[80];
  char tag[512], acct[16], auth[16];
  int recording, privacy, mute, recpaused, pagecall, withholdcli;
  int lost_reason;        /* CallLost.reason when it ends (0: normal clearing, 16) */
  char lost_desc[64];     /* CallLost.description */
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
  char meetme[80];                   /* a MeetMe conference: its number ("" otherwise) */
  int campon;                        /* camped on a busy user (MakeCall type 109) */
  uint8_t campon_user[SIM_GUID_LEN];
  sim_timer_t timer_ring;   /* queue: no-answer timeout / retarget */
  sim_timer_t timer_far;    /* trunk far end answering */
  sim_timer_t timer_vm;     /* queue: voicemail after voicemailtime */
  sim_timer_t timer_tele;   /* a teleworker's remote phone answering */
  int trunktype;            /* TrunkInfo.TrunkType of its trunk (SIP unless told) */
  uint8_t ucid[32];         /* the call's UCID (8 bytes unless given) */
  size_t ucid_len;
  char notes[256];          /* Notes set by another application (control API) */
  uint8_t pintrinsics[256]; /* P-Intrinsics the SIP trunk delivered */
  size_t pintrinsics_len;
  int64_t created_ms;
} call_t;

struct sim_calls {
  sim_model_t *model;
  sim_timers_t *timers;
  int ring_ms;
  lws_dll2_owner_t calls;
  int next_leg_id;
  uint32_t next_gcid;
  sim_calls_observer_fn observer;
  void *observer_ctx;
  struct make_failure *failures;   /* MakeCall failures armed through the control API */
  size_t n_failures;
  int queue_system;        /* where queues are active (a resilient pair: 0 primary, 1 secondary) */
  sim_timer_t timer_tick;
};


typedef enum tgt { TGT_NONE, TGT_USER, TGT_QUEUE, TGT_EXTERNAL } tgt_t;

/* A MakeCall failure armed with sim_calls_fail_makecall (sim_calls_make.c). */
struct make_failure {
  uint8_t user[SIM_GUID_LEN];
  int any_user;
  sim_makecall_failure_t f;
};

/* Shared helpers (sim_calls.c unless noted). */
void calls_answer(sim_calls_t *c, leg_t *b);
void calls_call_clear(sim_calls_t *c, call_t *call, leg_t *dropper);
void calls_call_free(call_t *call);
call_t *calls_call_new(sim_calls_t *c);
void calls_distribute(sim_calls_t *c, call_t *call);
void calls_do_hold(sim_calls_t *c, leg_t *l, int state);
void calls_far_cb(sim_timer_t *timer);
int calls_dnd_blocks(const sim_user_t *u, const party_t *from);
int calls_offer_direct(sim_calls_t *c, call_t *call, leg_t *a, sim_user_t *u);
void calls_queue_party(const sim_queue_t *q, party_t *p);
void calls_to_voicemail_of(call_t *call, const char *extn);
/* sim_calls_make.c */
void calls_campon_retry(sim_calls_t *c, call_t *call);
/* sim_calls_actions.c */
int calls_features(sim_calls_t *c, const leg_t *l);
void calls_hold_others(sim_calls_t *c, leg_t *keep);
int calls_in_conference(const call_t *call);
int calls_is_active(int state);
void calls_leg_end(sim_calls_t *c, leg_t *l, int thisend);
leg_t *calls_leg_find(sim_calls_t *c, int callid);
void calls_leg_leave(sim_calls_t *c, leg_t *l, int thisend);
leg_t *calls_leg_new(call_t *call, role_t role, sim_line_kind_t kind, const uint8_t *owner);
void calls_leg_unlink(leg_t *l);
sim_user_t *calls_leg_user(sim_calls_t *c, const leg_t *l);
leg_t *calls_offer_external(sim_calls_t *c, call_t *call, const char *number);
int calls_offer_queue(sim_calls_t *c, call_t *call, sim_queue_t *q);
leg_t *calls_offer_user(sim_calls_t *c, call_t *call, sim_user_t *u, const party_t *orig_called);
leg_t *calls_origin(const call_t *call);
int calls_parties(const call_t *call, int *connected, int *ringing);
leg_t *calls_queue_leg(const call_t *call);
int calls_queue_phase(int state);
void calls_queue_sync(sim_calls_t *c, call_t *call);
tgt_t calls_resolve(sim_calls_t *c, const char *target, sim_user_t **u, sim_queue_t **q, const char **external);
void calls_route(sim_calls_t *c, call_t *call, leg_t *a, const char *target);
void calls_to_voicemail(call_t *call, const sim_user_t *u);
void calls_touch(sim_calls_t *c, leg_t *l);
void calls_touch_call(call_t *call);
int calls_user_legs(sim_calls_t *c, const sim_user_t *u);
void calls_user_party(const sim_user_t *u, party_t *p);
size_t calls_utf8_len(const char *s);

#endif
