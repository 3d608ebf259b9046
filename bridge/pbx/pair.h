/*
 * pair: a resilient IP Office pair (primary and secondary, live-live)
 * merged into the one state the bridge publishes.
 *
 * DESIGN.  Runs on the event loop, fed by the ingest stage.  Each system's
 * Notifies go into its own view (pair_view: a snap_t whose changes nobody
 * publishes); every change of a view is carried at once into the published
 * state (pair_set_published: the ingest's snap, which renders the events),
 * or not, by one rule:
 *
 *   lines, users, presence, queues, user-line and park server calls
 *       from the ACTIVE system: the primary while its link is up and
 *       resynced (and has been for PAIR_SETTLE_MS, its calls reported),
 *       else the secondary; the other's view is kept warm
 *   queue-line calls
 *       from whichever system reports them (the union): a call queues on one
 *       system, and moves with a failover or a fail-back.  A queue call leg
 *       is (queue guid, gcid): the published leg keeps its key and seq
 *       whichever system reports it.
 *
 * The same change seen on both systems is one change of the published
 * state (snap's diff finds nothing the second time): one event.  When the
 * active system changes (pair_system says a link went down, or came back
 * resynced), the new active view is replayed into the published state
 * (snap_replay_pair): only the differences.  A waiting queue call that one
 * system stops reporting (its link went down, or it said CallLost) while
 * the other is not in sync may be moving to the other: its leg is held, its
 * delete published only if the other has not reported it within
 * PAIR_HOLD_MS (or once the other is in sync without it).  The switches are
 * told to the ingest (pair_handlers_t: lifecycle events, metrics) before
 * their replay.  Single-threaded, no I/O.
 */
#ifndef PAIR_H
#define PAIR_H

#include <stddef.h>
#include <stdint.h>

#include "snap.h"

#define PAIR_PRIMARY 0
#define PAIR_SECONDARY 1

/* A waiting queue call no system reports any more is kept this long, in case it is moving. */
#define PAIR_HOLD_MS 15000
/* The primary back in sync serves the published state after this long (its calls' reports come after the resync). */
#define PAIR_SETTLE_MS 1500

typedef struct pair pair_t;

typedef struct pair_handlers {
  /* The published state follows `to` (PAIR_PRIMARY or PAIR_SECONDARY) from now on; its replay follows. */
  void (*switched)(void *opaque, int from, int to);
} pair_handlers_t;

/* The two views (made here, owned).  NULL when out of memory. */
pair_t *pair_new(const pair_handlers_t *handlers, void *opaque);
void pair_destroy(pair_t *pair);
/* The view a system's Notifies go into (owned by the pair). */
snap_t *pair_view(pair_t *pair, int system);
/*
 * The state the merge goes into (borrowed; the ingest swaps it at a
 * takeover and a hand-over); the active view is replayed into it.
 */
void pair_set_published(pair_t *pair, snap_t *published);
/* The active view replayed into the published state (a new owner's), with the other's queue calls: only the differences. */
void pair_replay(pair_t *pair);
/* A system's link: up (connected), synced (up and every subscription answered). */
void pair_system(pair_t *pair, int system, int up, int synced, int64_t now_ms);
/* Timers: holds that expire, a settled primary to fail back to. */
void pair_tick(pair_t *pair, int64_t now_ms);
int pair_active(const pair_t *pair);
int pair_system_up(const pair_t *pair, int system);
const char *pair_system_name(int system); /* "primary", "secondary" */
/* The system that reports calls on the queue line `line_guid` (the active one first); the active when none. */
int pair_queue_system(const pair_t *pair, const char *line_guid);
/* Queue call legs held (moving, maybe). */
size_t pair_held(const pair_t *pair);

#endif
