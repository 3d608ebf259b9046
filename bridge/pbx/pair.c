/*
 * pair: a resilient pair's two views merged into the published state.  See pair.h.
 */
#include "pair.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blog.h"
#include "strmap.h"

typedef struct pair_sys {
  pair_t *pair;
  int index;
  snap_t *view;
  int up, synced;
  int64_t synced_since_ms; /* while synced */
  int64_t down_since_ms;   /* while down, after having been up: its view's queue calls may be moving */
  int swept;               /* its stale view no longer counts: the published calls it alone had are swept */
} pair_sys_t;

/*
 * A waiting queue call that a system stopped reporting: its published leg
 * stays until the other reports it, or the deadline (then it is deleted
 * with a synthetic calllost: the system's own CallLost may have been a move).
 */
typedef struct pair_hold {
  char *line_guid, *gcid;
  int64_t deadline_ms;
} pair_hold_t;

struct pair {
  pair_handlers_t handlers;
  void *opaque;
  pair_sys_t sys[2];
  snap_t *published;
  int active;
  strmap_t holds; /* "<line guid>/<gcid>" -> pair_hold_t */
  int64_t now_ms;
};

static const char *const pair_names[] = {"primary", "secondary"};

const char *pair_system_name(int system) { return pair_names[system ? 1 : 0]; }

/* Whether a system's view counts for the queue calls: up, or down for less than PAIR_HOLD_MS. */
static int pair_counts(const pair_t *pair, int system) {
  const pair_sys_t *sys = &pair->sys[system];
  return sys->up || (sys->down_since_ms && pair->now_ms - sys->down_since_ms < PAIR_HOLD_MS);
}

static void pair_hold_free(void *p) {
  pair_hold_t *hold = p;
  if (!hold)
    return;
  free(hold->line_guid);
  free(hold->gcid);
  free(hold);
}

static void pair_unhold(pair_t *pair, const char *key) {
  pair_hold_t *hold = strmap_get(&pair->holds, key);
  if (!hold)
    return;
  strmap_del(&pair->holds, key);
  pair_hold_free(hold);
}

static int pair_keep(void *opaque, const char *line_guid, const char *gcid) {
  pair_t *pair = opaque;
  char key[320];
  snprintf(key, sizeof(key), "%s/%s", line_guid, gcid ? gcid : "");
  return strmap_get(&pair->holds, key) != NULL;
}

/* The published leg stays, as it stands, until some system reports it again or the hold ends. */
static void pair_hold(pair_t *pair, const char *key, const char *line_guid, const char *gcid) {
  pair_unhold(pair, key);
  pair_hold_t *hold = calloc(1, sizeof(*hold));
  if (!hold || !(hold->line_guid = strdup(line_guid)) || !(hold->gcid = strdup(gcid)) ||
      strmap_put(&pair->holds, key, hold) != 0) {
    pair_hold_free(hold);
    return;
  }
  hold->deadline_ms = pair->now_ms + PAIR_HOLD_MS;
  BLOG_I(PBX, line_guid, "queue call %s no longer reported: held %d ms (moving to the other system?)", gcid,
         PAIR_HOLD_MS);
}

/* A view's change, carried into the published state by the rule of pair.h. */
static void pair_on_change(void *opaque, const snap_change_t *change) {
  pair_sys_t *sys = opaque;
  pair_t *pair = sys->pair;
  snap_t *dst = pair->published;
  if (!dst)
    return;
  int queue_call = change->kind == SNAP_CALL && change->line.kind == SNAP_LINE_QUEUE;
  if (!queue_call) { /* the active system's; the other's is kept warm in its view */
    if (sys->index != pair->active)
      return;
    if (change->op == 'd')
      snap_replay_gone(dst, sys->view, change->entity_id, change->lost);
    else
      snap_replay_one(dst, sys->view, change->entity_id, change->op == 'r');
    return;
  }
  const char *gcid = change->partition_key; /* the gcid, NULL when the call has none */
  char key[320];
  snprintf(key, sizeof(key), "%s/%s", change->line.guid, gcid ? gcid : "");
  if (change->op != 'd') {
    if (gcid)
      pair_unhold(pair, key);
    snap_replay_one(dst, sys->view, change->entity_id, change->op == 'r');
    return;
  }
  int t = 1 - sys->index;
  const char *twin = pair_counts(pair, t) ? snap_leg_twin(pair->sys[t].view, sys->view, change->entity_id) : NULL;
  if (twin) { /* the other system reports it: the leg goes on from there */
    snap_replay_one(dst, pair->sys[t].view, twin, 0);
    return;
  }
  if (gcid && !pair->sys[t].synced && snap_call_waiting(change->before_text)) {
    pair_hold(pair, key, change->line.guid, gcid);
    return;
  }
  snap_replay_gone(dst, sys->view, change->entity_id, change->lost);
}

/* The published state follows `to` now: told first, then its view replayed (only the differences). */
static void pair_switch(pair_t *pair, int to) {
  int from = pair->active;
  pair->active = to;
  BLOG_I(PBX, NULL, "resilient pair: the published state follows the %s now (was the %s)", pair_names[to],
         pair_names[from]);
  if (pair->handlers.switched)
    pair->handlers.switched(pair->opaque, from, to);
  pair_replay(pair);
}

/*
 * Which system the published state follows: the primary while it is in sync
 * (and, coming back, has been for PAIR_SETTLE_MS), else the secondary if it
 * is; with neither in sync, whichever it was.  At the start the primary
 * (still connecting) is kept until it fails.
 */
static void pair_choose(pair_t *pair) {
  const pair_sys_t *p = &pair->sys[PAIR_PRIMARY], *s = &pair->sys[PAIR_SECONDARY];
  int want = pair->active;
  if (pair->active == PAIR_SECONDARY && p->synced && pair->now_ms - p->synced_since_ms >= PAIR_SETTLE_MS)
    want = PAIR_PRIMARY;
  else if (pair->active == PAIR_PRIMARY && !p->synced && p->down_since_ms && s->synced)
    want = PAIR_SECONDARY;
  if (want != pair->active)
    pair_switch(pair, want);
}

void pair_replay(pair_t *pair) {
  int a = pair->active;
  if (pair->published)
    snap_replay_pair(pair->published, pair->sys[a].view, pair_counts(pair, 1 - a) ? pair->sys[1 - a].view : NULL,
                     pair_keep, pair);
}

pair_t *pair_new(const pair_handlers_t *handlers, void *opaque) {
  pair_t *pair = calloc(1, sizeof(*pair));
  if (!pair)
    return NULL;
  pair->handlers = *handlers;
  pair->opaque = opaque;
  for (int i = 0; i < 2; i++) {
    pair->sys[i].pair = pair;
    pair->sys[i].index = i;
    if (!(pair->sys[i].view = snap_new(pair_on_change, &pair->sys[i]))) {
      pair_destroy(pair);
      return NULL;
    }
  }
  return pair;
}

void pair_destroy(pair_t *pair) {
  if (!pair)
    return;
  for (int i = 0; i < 2; i++)
    snap_destroy(pair->sys[i].view);
  strmap_clear(&pair->holds, pair_hold_free);
  free(pair);
}

snap_t *pair_view(pair_t *pair, int system) { return pair->sys[system ? 1 : 0].view; }

void pair_set_published(pair_t *pair, snap_t *published) { pair->published = published; }

void pair_system(pair_t *pair, int system, int up, int synced, int64_t now_ms) {
  pair_sys_t *sys = &pair->sys[system ? 1 : 0];
  pair->now_ms = now_ms;
  if (!up && (sys->up || !sys->down_since_ms)) { /* down (or its first connection failed) */
    sys->down_since_ms = now_ms;
    sys->swept = 0;
  }
  if (up)
    sys->down_since_ms = 0;
  if (synced && !sys->synced)
    sys->synced_since_ms = now_ms;
  sys->up = up;
  sys->synced = up && synced;
  pair_choose(pair);
}

void pair_tick(pair_t *pair, int64_t now_ms) {
  pair->now_ms = now_ms;
  pair_choose(pair);
  if (!pair->published)
    return;
  int sweep = 0;
  /* holds past their deadline: published as lost, unless a system reports the call by now */
  for (int again = 1; again;) {
    again = 0;
    for (strmap_iter_t it = strmap_iter(&pair->holds); strmap_iter_next(&it);) {
      pair_hold_t *hold = it.value;
      if (hold->deadline_ms > now_ms)
        continue;
      BLOG_I(PBX, hold->line_guid, "queue call %s: no system reports it after %d ms: ended", hold->gcid, PAIR_HOLD_MS);
      pair_unhold(pair, it.key);
      sweep = again = 1;
      break; /* the map changed: iterate afresh */
    }
  }
  /* a view that stopped counting (its system down for PAIR_HOLD_MS): the calls only it had are gone */
  for (int i = 0; i < 2; i++) {
    pair_sys_t *sys = &pair->sys[i];
    if (sys->down_since_ms && !sys->swept && !pair_counts(pair, i)) {
      sys->swept = 1;
      sweep = 1;
    }
  }
  if (sweep) {
    size_t n = snap_replay_orphans(pair->published, pair_counts(pair, 0) ? pair->sys[0].view : NULL,
                                   pair_counts(pair, 1) ? pair->sys[1].view : NULL, pair_keep, pair);
    if (n)
      BLOG_I(PBX, NULL, "resilient pair: %zu queue call(s) no system reports any more: deleted", n);
  }
}

int pair_active(const pair_t *pair) { return pair->active; }

int pair_system_up(const pair_t *pair, int system) { return pair->sys[system ? 1 : 0].up; }

int pair_queue_system(const pair_t *pair, const char *line_guid) {
  int a = pair->active;
  if (pair->sys[a].up && snap_line_calls(pair->sys[a].view, line_guid))
    return a;
  if (pair->sys[1 - a].up && snap_line_calls(pair->sys[1 - a].view, line_guid))
    return 1 - a;
  return a;
}

size_t pair_held(const pair_t *pair) { return strmap_count(&pair->holds); }
