/*
 * snap_replay: a warm view of the PBX replayed into the committed state.
 *
 * DESIGN.  A standby instance keeps two states of a PBX it does not own:
 * the committed one (what consumers have seen: the owner's events read back
 * into a snap_t) and a warm view (its own subscription's Notifies applied to
 * another snap_t, whose changes nobody publishes).  When it takes the PBX
 * over, the view is replayed into the committed state as a fresh snapshot:
 * every entity of the view is written into the committed state's scratch
 * from its state text (its members copied as they stand, already
 * normalized) and applied there, so the committed state reports exactly the
 * differences, each entity's seq continuing from the last committed event.
 * Lines, users and queues are the same entity on both sides (by GUID); a
 * call leg is found by line and callid, or by line and gcid among the legs
 * not confirmed yet, and keeps the committed leg's key (its row's `leg` is
 * rewritten to it).  Whatever the view does not have any more is deleted
 * after: a call (calllost synthetic), a line with its user or queue.
 * Single-threaded, no I/O.
 */
#include "snap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write `src`'s state into dst's scratch, member by member; the call's `leg` member replaced by `leg`. */
static void snap_replay_write(snap_t *dst, const snap_state_t *st, const char *leg) {
  snap_writer_t *w = &dst->w;
  snap_writer_begin(w);
  for (size_t i = 0; i < st->n; i++) {
    const snap_field_t *f = &st->fields[i];
    snap_writer_key_plain(w, st->text + f->name_off, f->name_len);
    if (leg && f->name_len == 3 && memcmp(st->text + f->name_off, "leg", 3) == 0)
      jbuf_jstr(&w->b, leg);
    else
      jbuf_put(&w->b, st->text + f->val_off, f->val_len);
  }
}

/* The queue line's name, from its state, for the lookup index. */
static void snap_replay_line_index(snap_t *dst, snap_entity_t *line) {
  size_t len = 0;
  const char *v = snap_state_value(line->state, "name", 3, &len);
  char name[256] = "";
  if (v && len >= 2 && len - 2 < sizeof(name)) { /* a JSON string: its text between the quotes, as written */
    memcpy(name, v + 1, len - 2);
    name[len - 2] = '\0';
  }
  snap_line_index(dst, line, name);
}

/* dst's live leg of the line and gcid of `leg` (NULL: none, or `leg` has no gcid). */
static snap_entity_t *snap_replay_gcid_leg(const snap_t *dst, const snap_entity_t *leg) {
  if (!leg->gcid || !*leg->gcid)
    return NULL;
  char lk[320];
  snprintf(lk, sizeof(lk), "%s/%s", leg->line_guid, leg->gcid);
  snap_entity_t *e = strmap_get(&dst->call_legs, lk);
  return e && e->state ? e : NULL;
}

/*
 * The leg of dst a leg of another snap is.  A takeover's (pair 0): by line
 * and callid, else by line and gcid, among the legs not confirmed yet.  A
 * pair's (1): by line and gcid, else (no gcid) by line and callid, confirmed
 * or not: the two systems of a pair number a queue's calls each their own
 * way, and the gcid is what they share.  A leg found by gcid takes the new
 * callid.
 */
static snap_entity_t *snap_replay_match_leg(snap_t *dst, const snap_entity_t *leg, int pair) {
  char ck[128];
  snap_callid_key(leg->line_guid, leg->callid, ck, sizeof(ck));
  snap_entity_t *e;
  if (pair) {
    e = snap_replay_gcid_leg(dst, leg);
    if (!e && (!leg->gcid || !*leg->gcid) && (e = strmap_get(&dst->callids, ck)) != NULL && !e->state)
      e = NULL;
    if (!e || e->callid == leg->callid)
      return e;
  } else {
    e = strmap_get(&dst->callids, ck);
    if (e && e->unconfirmed)
      return e;
    if (!(e = snap_replay_gcid_leg(dst, leg)) || !e->unconfirmed)
      return NULL;
  }
  /* a new callid for a known leg: move its callid entry */
  char old[128];
  snap_callid_key(e->line_guid, e->callid, old, sizeof(old));
  if (strmap_get(&dst->callids, old) == e)
    strmap_del(&dst->callids, old);
  e->callid = leg->callid;
  strmap_put(&dst->callids, ck, e);
  return e;
}

/* One view entity into dst (a new one as `new_op`, legs matched as snap_replay_match_leg's `pair`); 1 when applied. */
static int snap_replay_entity(snap_t *dst, const snap_entity_t *v, int pair, char new_op) {
  snap_entity_t *e;
  if (v->kind == SNAP_CALL) {
    e = snap_replay_match_leg(dst, v, pair);
    if (!e) {
      if (strmap_get(&dst->entities, v->id))
        return 0; /* its id taken by another leg: cannot be (ids carry the time first seen) */
      e = snap_entity_new(dst, SNAP_CALL, v->id, v->key, v->line_kind, v->line_guid, v->line_extn);
      if (!e)
        return 0;
      e->callid = v->callid;
      snap_set_str(&e->gcid, v->gcid);
      char ck[128];
      snap_callid_key(e->line_guid, e->callid, ck, sizeof(ck));
      strmap_put(&dst->callids, ck, e);
      snap_leg_index(dst, e, 1);
    }
    snap_replay_write(dst, v->state, e->key);
  } else {
    e = strmap_get(&dst->entities, v->id);
    if (!e && !(e = snap_entity_new(dst, v->kind, v->id, v->key, v->line_kind, v->line_guid, v->line_extn)))
      return 0;
    e->line_kind = v->line_kind;
    snap_replay_write(dst, v->state, NULL);
  }
  e->unconfirmed = 0;
  snap_set_str(&e->line_extn, v->line_extn);
  snap_state_apply(dst, e, e->state ? 0 : new_op);
  if (e->kind == SNAP_LINE)
    snap_replay_line_index(dst, e);
  else if (e->kind == SNAP_CALL)
    snap_call_index(dst, e);
  return 1;
}

/* The live entities of `kind` still unconfirmed, in an array (malloc'd; NULL when none). */
static snap_entity_t **snap_replay_unconfirmed(snap_t *dst, snap_kind_t kind, size_t *n) {
  snap_entity_t **out = NULL;
  *n = 0;
  for (strmap_iter_t it = strmap_iter(&dst->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e->kind != kind || !e->unconfirmed || !e->state)
      continue;
    snap_entity_t **grown = realloc(out, (*n + 1) * sizeof(*grown));
    if (!grown)
      break;
    out = grown;
    out[(*n)++] = e;
  }
  return out;
}

/* A call on a queue line (the calls a pair takes from whichever system reports them). */
static int snap_replay_queue_call(const snap_entity_t *e) {
  return e->kind == SNAP_CALL && e->line_kind == SNAP_LINE_QUEUE;
}

/* Delete dst's calls still unconfirmed (but those `keep` keeps), then its lines still unconfirmed. */
static void snap_replay_sweep(snap_t *dst, snap_replay_keep_cb *keep, void *opaque) {
  size_t n;
  snap_entity_t **gone = snap_replay_unconfirmed(dst, SNAP_CALL, &n);
  for (size_t i = 0; i < n; i++) {
    if (keep && keep(opaque, gone[i]->line_guid, gone[i]->gcid))
      continue;
    json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", gone[i]->callid, "referencecallid", 0,
                             "reason", 0, "thisenddropped", 0, "description",
                             SNAP_CALL_ENDED_AWAY, "synthetic", 1);
    snap_delete(dst, gone[i], lost);
    json_decref(lost);
  }
  free(gone);
  gone = snap_replay_unconfirmed(dst, SNAP_LINE, &n);
  for (size_t i = 0; i < n; i++)
    snap_line_remove(dst, gone[i]);
  free(gone);
  for (strmap_iter_t it = strmap_iter(&dst->entities); strmap_iter_next(&it);)
    ((snap_entity_t *)it.value)->unconfirmed = 0;
}

size_t snap_replay_pair(snap_t *dst, const snap_t *active, const snap_t *extra, snap_replay_keep_cb *keep,
                        void *opaque) {
  size_t applied = 0;
  for (strmap_iter_t it = strmap_iter(&dst->entities); strmap_iter_next(&it);)
    ((snap_entity_t *)it.value)->unconfirmed = 1;
  static const snap_kind_t order[] = {SNAP_LINE, SNAP_USER, SNAP_QUEUE, SNAP_CALL};
  for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
    for (strmap_iter_t it = strmap_iter(&active->entities); strmap_iter_next(&it);) {
      const snap_entity_t *v = it.value;
      if (v->kind == order[o] && v->state)
        applied += (size_t)snap_replay_entity(dst, v, 1, 'r');
    }
  /* the other system's queue calls: the union (one the active system reports too was applied above) */
  if (extra) {
    for (strmap_iter_t it = strmap_iter(&extra->entities); strmap_iter_next(&it);) {
      const snap_entity_t *v = it.value;
      if (!v->state || !snap_replay_queue_call(v))
        continue;
      const snap_entity_t *twin = snap_replay_gcid_leg(dst, v);
      if (twin && !twin->unconfirmed)
        continue;
      applied += (size_t)snap_replay_entity(dst, v, 1, 'r');
    }
  }
  snap_replay_sweep(dst, keep, opaque);
  return applied;
}

int snap_replay_one(snap_t *dst, const snap_t *src, const char *id, int snapshot) {
  const snap_entity_t *v = strmap_get(&src->entities, id);
  if (!v || !v->state)
    return 0;
  return snap_replay_entity(dst, v, 1, snapshot ? 'r' : 'c');
}

int snap_replay_gone(snap_t *dst, const snap_t *src, const char *id, const json_t *lost) {
  const snap_entity_t *v = strmap_get(&src->entities, id);
  if (!v)
    return 0;
  snap_entity_t *e = v->kind == SNAP_CALL ? snap_replay_match_leg(dst, v, 1) : strmap_get(&dst->entities, id);
  if (!e || !e->state)
    return 0;
  if (e->kind == SNAP_LINE)
    snap_line_remove(dst, e);
  else
    snap_delete(dst, e, e->kind == SNAP_CALL ? lost : NULL);
  return 1;
}

const char *snap_leg_twin(const snap_t *other, const snap_t *src, const char *id) {
  const snap_entity_t *v = strmap_get(&src->entities, id);
  if (!v || v->kind != SNAP_CALL)
    return NULL;
  const snap_entity_t *e = snap_replay_gcid_leg(other, v);
  if (!e && (!v->gcid || !*v->gcid)) {
    char ck[128];
    snap_callid_key(v->line_guid, v->callid, ck, sizeof(ck));
    e = strmap_get(&other->callids, ck);
  }
  return e && e->state ? e->id : NULL;
}

int snap_call_waiting(const char *state_text) {
  static const char *const waiting[] = {"\"state\":\"QUEUEING\"", "\"state\":\"RINGING\"",
                                        "\"state\":\"RETARGETING\""};
  for (size_t i = 0; state_text && i < sizeof(waiting) / sizeof(waiting[0]); i++)
    if (strstr(state_text, waiting[i]))
      return 1;
  return 0;
}

const char *snap_call_leg(const snap_t *snap, const char *line_guid, int32_t callid) {
  char ck[128];
  snap_callid_key(line_guid, callid, ck, sizeof(ck));
  const snap_entity_t *e = strmap_get(&snap->callids, ck);
  return e && e->state ? e->key : NULL;
}

size_t snap_line_calls(const snap_t *snap, const char *line_guid) {
  size_t n = 0;
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    const snap_entity_t *e = it.value;
    n += e->kind == SNAP_CALL && e->state && strcmp(e->line_guid, line_guid) == 0;
  }
  return n;
}

size_t snap_replay_orphans(snap_t *dst, const snap_t *a, const snap_t *b, snap_replay_keep_cb *keep, void *opaque) {
  for (strmap_iter_t it = strmap_iter(&dst->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    e->unconfirmed = 0;
    if (!e->state || !snap_replay_queue_call(e))
      continue;
    const snap_t *views[2] = {a, b};
    int seen = 0;
    for (int k = 0; k < 2 && !seen; k++)
      seen = views[k] && snap_leg_twin(views[k], dst, e->id) != NULL;
    e->unconfirmed = !seen;
  }
  size_t before = dst->counts[SNAP_CALL];
  /* only calls are unconfirmed: the sweep deletes no line */
  snap_replay_sweep(dst, keep, opaque);
  return before - dst->counts[SNAP_CALL];
}

size_t snap_replay(snap_t *dst, const snap_t *src) {
  size_t applied = 0;
  for (strmap_iter_t it = strmap_iter(&dst->entities); strmap_iter_next(&it);)
    ((snap_entity_t *)it.value)->unconfirmed = 1;
  /* lines first: users, queues and calls hang on them */
  static const snap_kind_t order[] = {SNAP_LINE, SNAP_USER, SNAP_QUEUE, SNAP_CALL};
  for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
    for (strmap_iter_t it = strmap_iter(&src->entities); strmap_iter_next(&it);) {
      const snap_entity_t *v = it.value;
      if (v->kind == order[o] && v->state)
        applied += (size_t)snap_replay_entity(dst, v, 0, 'r');
    }
  }
  /* what the view does not have: calls that ended, lines deleted (with their user or queue); users and
     queues left unconfirmed with their line alive have not had their Notify in the view yet: kept */
  snap_replay_sweep(dst, NULL, NULL);
  return applied;
}
