/*
 * sim_subs: MTCTI3 subscriptions: Lines, User, Queue, Presence, ParkServer
 * and RefreshWrapper, with the spec's mechanics.
 *
 * DESIGN: each connection owns a table of subscriptions.  Changes in the
 * model and the call engine only mark subscriptions dirty (a user's config,
 * a lines entry, a presentity, a call leg); a zero-delay timer then sends at
 * most one Notify per subscription, built from the state at that moment.  A
 * subscription with an unacknowledged Notify sends nothing more until its
 * NotifyAck arrives, and what changed meanwhile folds into the next snapshot
 * (snapshots, not transitions).  Requests with a requestid get a
 * RequestResponse with the spec's result codes.  Expiry and server-side
 * termination send SubscribeTerminated.  Runs on the service thread; sends
 * through the connection's send callback.  One engine per system: in a
 * resilient pair each system's connections have their own, which sees the
 * shared model and user calls but only the queue calls of its system.
 */
#ifndef SIM_SUBS_H
#define SIM_SUBS_H

#include <stddef.h>

#include <jansson.h>

#include "ipo_mtcti3.pb-c.h"
#include "sim_calls.h"
#include "sim_model.h"
#include "sim_timer.h"

struct lws_context;

typedef struct sim_subs sim_subs_t;
typedef struct sim_subs_conn sim_subs_conn_t;

/* Queue one message for the connection; 0, or -1 when the connection is failing. */
typedef int (*sim_subs_send_fn)(void *ctx, const Message *msg);

/*
 * Send RequestResponse{requestid, result, additional} through send (additional
 * may be NULL).  Callers answer only requests that carry a requestid, as the
 * spec says; the one exception is UNPACKERR, whose requestid cannot be known.
 */
int sim_subs_respond(sim_subs_send_fn send, void *ctx, int requestid, int result,
                     const char *additional);

/*
 * The subscription engine of system `system` (0 primary, 1 secondary); *subs
 * owned by the caller (sim_subs_free).  Notifies go out in the lws loop turn
 * after a change (an lws sul due at once); expiry uses the timers.
 */
int sim_subs_new(sim_model_t *model, sim_calls_t *calls, struct lws_context *lws,
                 sim_timers_t *timers, int system, sim_subs_t **subs, char *errstr,
                 size_t errstr_size);
void sim_subs_free(sim_subs_t *subs);

/* Before the lws context goes: cancel timers and schedule no more (shutdown). */
void sim_subs_quiesce(sim_subs_t *subs);

/* A connection's table; freed with sim_subs_conn_free when the connection ends. */
sim_subs_conn_t *sim_subs_conn_new(sim_subs_t *subs, int conn_id, sim_subs_send_fn send,
                                   void *ctx);
void sim_subs_conn_free(sim_subs_conn_t *conn);

/* A Subscribe, SubscribeCmd, SubscribeEnd or NotifyAck from the client. */
void sim_subs_handle(sim_subs_conn_t *conn, const Message *msg);

/*
 * A refresh (docs/sim.md): refreshinstance goes up by one and every user,
 * queue, park server and presence subscription on every connection resends
 * its whole state: configuration, presence (full=1) and every call, with a
 * callcontrol Notify even when there is none.  How many subscriptions.
 */
int sim_subs_refresh(sim_subs_t *subs);
/* The current refreshinstance (1 until the first refresh). */
int sim_subs_refreshinstance(const sim_subs_t *subs);

/* Terminate subscription `id` on every connection (0 = all); how many ended. */
int sim_subs_terminate(sim_subs_t *subs, int id, const char *reason);

/* Observers of the model and the call engine. */
void sim_subs_model_event(sim_subs_t *subs, int ev, void *record);
void sim_subs_leg_event(sim_subs_t *subs, const sim_leg_event_t *ev);

/* Counters and the subscriptions of every connection, for GET /stats (a new reference). */
json_t *sim_subs_json(sim_subs_t *subs);
size_t sim_subs_count(const sim_subs_t *subs);

#endif
