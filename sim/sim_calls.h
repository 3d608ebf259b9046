/*
 * sim_calls: the call engine: who is talking to whom, and how it looks from
 * each line.
 *
 * DESIGN: a call is one gcid and its legs.  A leg is one line's appearance in
 * the call: a user (reported on user subscriptions), a queue (reported on
 * queue subscriptions, following the call through QUEUEING, RINGING,
 * RETARGETING and after answer until it ends or is Finished), a park slot
 * (reported on park server subscriptions), or a trunk or voicemail far end
 * (never reported).  Commands come from MTCTI3 call control, the control API
 * and the load generator, and all go through the same action table, which
 * also computes featuresavailable from each leg's state and line type.
 * Every change is announced to the observer (the subscriptions), which
 * renders snapshots with sim_calls_render when it may next send a Notify.
 * Timers (ringing, queue retargeting, far ends answering) are sim_timer on
 * the one service thread.
 *
 * A resilient pair (docs/sim.md) shares one engine: user and park legs are
 * seen by every system, a queue leg only by the system its queue is active
 * on (sim_calls_set_queue_system moves waiting calls between systems).
 */
#ifndef SIM_CALLS_H
#define SIM_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipo_mtcti3.pb-c.h"
#include "sim_model.h"
#include "sim_timer.h"

struct lwsac;

typedef enum sim_line_kind {
  SIM_LINE_USER = 0,
  SIM_LINE_QUEUE = 1,
  SIM_LINE_PARK = 2,
  SIM_LINE_TRUNK = 3, /* far ends: not reported */
  SIM_LINE_VM = 4,
  SIM_LINE_CONF = 5   /* a MeetMe conference bridge: not reported */
} sim_line_kind_t;

/* What the observer learns of a leg when it changes or ends. */
typedef struct sim_leg_event {
  int callid;
  int refid;
  sim_line_kind_t kind;
  const uint8_t *owner;  /* user or queue guid (SIM_GUID_LEN); NULL otherwise */
  int state;             /* CallInfo.State */
  int lost;              /* the leg has ended: send CallLost */
  int thisenddropped;
  int system;            /* the one system that reports the leg (queue legs); -1: every system */
  int reason;            /* CallLost.reason (lost only) */
  const char *description; /* CallLost.description (lost only; "" for none) */
} sim_leg_event_t;

typedef void (*sim_calls_observer_fn)(void *ctx, const sim_leg_event_t *ev);

typedef struct sim_calls sim_calls_t;

/* New engine over `model`; ring_ms is how long simulated far ends take to answer. Caller frees. */
int sim_calls_new(sim_model_t *model, sim_timers_t *timers, int ring_ms, sim_calls_t **calls,
                  char *errstr, size_t errstr_size);
void sim_calls_free(sim_calls_t *calls);
void sim_calls_observe(sim_calls_t *calls, sim_calls_observer_fn fn, void *ctx);
/* The model changed (observer of sim_model): users removed, queues reconfigured... */
void sim_calls_model_event(sim_calls_t *calls, int ev, void *record);

/*
 * Render leg `callid` as a CallInfo with the detail ccflags asks for.  The
 * message and everything in it is allocated in *ac (freed with lwsac_free).
 * 0, or -1 when the leg no longer exists.
 */
int sim_calls_render(sim_calls_t *calls, int callid, int ccflags, struct lwsac **ac,
                     CallInfo **out);

/* Result codes below are MTCTISESS_* (codec_tables.h). */

/*
 * MakeCall from user, of MakeCall.type `type` (0, or one of the spec's
 * special types: sim_calls_make.c has the table); *callid receives the new
 * leg (0 when the MakeCall failed at once through an armed failure).  adv
 * may be NULL.
 */
int sim_calls_make(sim_calls_t *calls, sim_user_t *user, const char *target, int type,
                   const AdvancedMakeCall *adv, int refid, int *callid);
/* The MakeCall type names, for docs and errors: the name of `type`, or NULL. */
const char *sim_calls_make_type_name(int type);

/* How the next MakeCall(s) fail (control API). */
typedef struct sim_makecall_failure {
  int calllost;       /* 1: accepted (SUCCESS), then only a CallLost for a call never reported;
                         0: refused in the RequestResponse with `result` */
  int result;         /* MTCTISESS code for the refusal */
  int reason;         /* CallLost.reason */
  char description[64];
  int count;          /* how many MakeCalls fail */
} sim_makecall_failure_t;
/* Arm: the next f->count MakeCalls of user (NULL: anyone) fail as f says; count 0 disarms. */
int sim_calls_fail_makecall(sim_calls_t *calls, const sim_user_t *user,
                            const sim_makecall_failure_t *f);
/* UnParkCall by user from park slot `parkid`. */
int sim_calls_unpark(sim_calls_t *calls, sim_user_t *user, const char *parkid, int refid,
                     int *callid);
/*
 * A CallFunction on the leg with `callid` (or, when 0, referencecallid
 * `refid`) on the line (kind, owner guid; owner NULL for the park server),
 * asked on `system` (a queue leg another system reports is not found there).
 */
int sim_calls_function(sim_calls_t *calls, sim_line_kind_t kind, const uint8_t *owner,
                       int system, int callid, int refid, const CallFunction *cf);
/*
 * The same with just an action and argument, done by the person at the phone
 * (control API, load generator): a POTS phone can be answered this way.
 */
int sim_calls_action(sim_calls_t *calls, sim_line_kind_t kind, const uint8_t *owner, int callid,
                     int action, const char *arg1);

/*
 * A leg of user in one of the states of `state_mask` (bit per CallInfo.State),
 * preferring the oldest; its callid or 0.
 */
int sim_calls_user_leg(sim_calls_t *calls, const sim_user_t *user, uint32_t state_mask);

/* A user leg of call gcid_hex in one of state_mask's states: its callid (owner guid into owner); 0 when none. */
int sim_calls_gcid_user_leg(sim_calls_t *calls, const char *gcid_hex, uint32_t state_mask,
                            uint8_t owner[SIM_GUID_LEN]);

/* An inbound trunk call: who calls, the user or queue extension it reaches, the DID dialled. */
typedef struct sim_trunk_call {
  const char *from;  /* caller's number (NULL: a default) */
  const char *name;  /* caller's name (NULL: a default) */
  const char *to;    /* user or queue extension */
  const char *did;   /* number dialled on the trunk (NULL: the model's first trunk, else to) */
  int trunktype;     /* TrunkInfo.TrunkType (0: SIP) */
  const char *ucid;  /* the UCID the network gave the call, hex (NULL: the simulator makes one) */
  const char *pintrinsics; /* P-Intrinsics delivered by the SIP trunk (NULL: none) */
} sim_trunk_call_t;

/* Place an inbound trunk call; its gcid into gcid_hex.  MTCTISESS code. */
int sim_calls_trunk_inbound(sim_calls_t *calls, const sim_trunk_call_t *tc, char *gcid_hex,
                            size_t gcid_hex_size);
/* Notes another application attached to call gcid_hex (ccflags NOTES); MTCTISESS code. */
int sim_calls_set_notes(sim_calls_t *calls, const char *gcid_hex, const char *notes);
/* The trunk far end of call gcid_hex hangs up / answers; MTCTISESS code. */
int sim_calls_trunk_hangup(sim_calls_t *calls, const char *gcid_hex);
int sim_calls_trunk_answer(sim_calls_t *calls, const char *gcid_hex);
/* gcid of the call leg callid belongs to (hex); 0 or -1. */
int sim_calls_gcid_of(sim_calls_t *calls, int callid, char *gcid_hex, size_t size);

/* Presence phone state of a user (0 idle, 1 dialling, 2 ringing, 4 connected, 5 logged out). */
int sim_calls_phonestate(sim_calls_t *calls, const sim_user_t *user);
/* Call ids of every leg of a line system reports, for a new subscription's first snapshot. */
size_t sim_calls_line_legs(sim_calls_t *calls, sim_line_kind_t kind, const uint8_t *owner,
                           int system, int *callids, size_t max);

/* The system queues are active on (0 until told otherwise). */
int sim_calls_queue_system(const sim_calls_t *calls);
/*
 * Queues become active on `system`: each call waiting in a queue (QUEUEING,
 * RINGING, RETARGETING) reported elsewhere moves there (its old queue leg
 * ends, a new one with a new callid carries on); an answered call stays
 * with the system that followed it.  Returns how many calls moved.
 */
int sim_calls_set_queue_system(sim_calls_t *calls, int system);
/* `system` failed: the answered calls it followed are no longer followed (their queue legs end). */
void sim_calls_system_lost(sim_calls_t *calls, int system);
size_t sim_calls_count(const sim_calls_t *calls);
/* Every call and leg, for GET /calls (a new reference). */
json_t *sim_calls_json(sim_calls_t *calls);
/* Clear every call (CallLost on every leg). */
void sim_calls_clear_all(sim_calls_t *calls);

#endif
