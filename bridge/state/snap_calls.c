/*
 * snap_calls: the calls on a line.
 *
 * DESIGN.  A call entity is one appearance of a call on one line (a user, a
 * queue, the park server), its state the CallInfo.  The PBX names a call by
 * callid, which is only unique on its line and only for one subscription: a
 * resubscription may give a known call a new callid.  So a call is found by
 * "<line guid>/<callid>" (snap->callids), and, failing that, by line and
 * gcid (snap->call_legs, the line's last leg of each gcid; a scan when a
 * line has two legs of one call) among the calls not yet confirmed since
 * the line was resubscribed (or the bridge restarted), whose callid is then
 * updated (snap_call_find).  A leg's key (and entity id, "call:<key>") is
 * "<line guid>:<gcid>:<first seen, ms>": the time makes a gcid that a
 * restarted PBX hands out again a new leg, and two legs of one gcid on one
 * line two entities.  Its state starts with its identity (leg, line_kind,
 * line_guid, line_extn), then the CallInfo.  snap_line_resync_begin
 * marks a line's calls unconfirmed when its subscription starts afresh;
 * every CallInfo confirms its call; snap_line_resync_end, once the line has
 * settled, deletes those still unconfirmed (ended while the bridge was away),
 * with a synthetic calllost.  A call first seen in a snapshot (the calls
 * already up when the line was subscribed, a refresh) is a snapshot read
 * ('r'); one first seen later is created ('c'), as is one on a user line
 * whose phone was idle (the presence subscription's phone state) when its
 * record came: it cannot have been up then.  A CallLost deletes its call with the PBX's
 * reason; a call is forgotten once deleted.  The first report of a call
 * carrying a referencecallid (an application's MakeCall or UnPark), and a
 * CallLost with a referencecallid for a call never reported (the spec's
 * instant MakeCall failure, which "the application will have to match"),
 * go to the call report callback, so the command stage can tell its
 * sender what became of the call.
 */
#include "snap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"

/* A call's delete event's calllost: {callid, referencecallid, reason, thisenddropped, description, synthetic}. */
static json_t *snap_call_lost(int32_t callid, int32_t referencecallid, int32_t reason, int thisenddropped,
                              const char *description, int synthetic) {
  return json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", callid, "referencecallid", referencecallid, "reason",
                   reason, "thisenddropped", thisenddropped, "description", description ? description : "",
                   "synthetic", synthetic);
}

/* Delete the live calls of a line (only the unconfirmed ones when `unconfirmed`); how many. */
static size_t snap_calls_delete(snap_t *snap, const char *line_guid, int unconfirmed, const char *why) {
  snap_entity_t **gone = NULL;
  size_t n = 0;
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e->kind == SNAP_CALL && e->state && (!unconfirmed || e->unconfirmed) &&
        strcmp(e->line_guid, line_guid) == 0) {
      snap_entity_t **grown = realloc(gone, (n + 1) * sizeof(*grown));
      if (!grown)
        break;
      gone = grown;
      gone[n++] = e;
    }
  }
  for (size_t i = 0; i < n; i++) {
    json_t *lost = snap_call_lost(gone[i]->callid, 0, 0, 0, why, 1);
    snap_delete(snap, gone[i], lost);
    json_decref(lost);
  }
  free(gone);
  return n;
}

void snap_line_calls_delete(snap_t *snap, const char *line_guid, const char *why) {
  snap_calls_delete(snap, line_guid, 0, why);
}

/* A leg of `gcid` on the line still unconfirmed since its resubscription, or NULL (a scan: two legs of a gcid). */
static snap_entity_t *snap_leg_unconfirmed(snap_t *snap, const char *line_guid, const char *gcid) {
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e->kind == SNAP_CALL && e->unconfirmed && e->state && strcmp(e->gcid, gcid) == 0 &&
        strcmp(e->line_guid, line_guid) == 0)
      return e;
  }
  return NULL;
}

/* The call a CallInfo is about: by line and callid, else (after a resubscription) by line and gcid. */
static snap_entity_t *snap_call_find(snap_t *snap, const snap_line_t *line, const CallInfo *ci, const char *gcid) {
  char ck[128];
  snap_callid_key(line->guid, ci->callid, ck, sizeof(ck));
  snap_entity_t *entity = strmap_get(&snap->callids, ck);
  if (entity)
    return entity;
  if (!*gcid)
    return NULL;
  /* a call known from before a resubscription (or a restart), under a new callid */
  char lk[320];
  snprintf(lk, sizeof(lk), "%s/%s", line->guid, gcid);
  entity = strmap_get(&snap->call_legs, lk);
  if (entity && !entity->unconfirmed) /* the line's last leg of that gcid is matched: another of it? (rare) */
    entity = snap_leg_unconfirmed(snap, line->guid, gcid);
  if (entity && entity->unconfirmed) {
    char old[128];
    snap_callid_key(line->guid, entity->callid, old, sizeof(old));
    if (strmap_get(&snap->callids, old) == entity)
      strmap_del(&snap->callids, old);
    entity->callid = ci->callid;
    strmap_put(&snap->callids, ck, entity);
    return entity;
  }
  return NULL;
}

void snap_leg_index(snap_t *snap, snap_entity_t *call, int add) {
  char lk[320];
  if (!call->gcid || !*call->gcid)
    return;
  snprintf(lk, sizeof(lk), "%s/%s", call->line_guid, call->gcid);
  if (add)
    strmap_put(&snap->call_legs, lk, call);
  else if (strmap_get(&snap->call_legs, lk) == call)
    strmap_del(&snap->call_legs, lk);
}

/* A new leg: "call:<line guid>:<gcid>:<first seen>" ("cid<callid>" without a gcid), keyed by all but "call:". */
static snap_entity_t *snap_call_new(snap_t *snap, const snap_line_t *line, const CallInfo *ci, const char *gcid) {
  char id[400], ck[128];
  int64_t first_seen = snap->now_ms();
  const char *line_tok = *line->guid ? line->guid : "parkserver";
  for (;;) {
    if (*gcid)
      snprintf(id, sizeof(id), "call:%s:%s:%lld", line_tok, gcid, (long long)first_seen);
    else
      snprintf(id, sizeof(id), "call:%s:cid%d:%lld", line_tok, ci->callid, (long long)first_seen);
    if (!strmap_get(&snap->entities, id))
      break;
    first_seen++; /* two legs of one gcid on one line in the same millisecond */
  }
  snap_entity_t *entity = snap_entity_new(snap, SNAP_CALL, id, id + 5, line->kind, line->guid, line->extn);
  if (!entity)
    return NULL;
  entity->callid = ci->callid;
  snap_set_str(&entity->gcid, gcid);
  snap_callid_key(line->guid, ci->callid, ck, sizeof(ck));
  strmap_put(&snap->callids, ck, entity);
  snap_leg_index(snap, entity, 1);
  return entity;
}

static void snap_call_info(snap_t *snap, const snap_line_t *line, const CallInfo *ci, int snapshot) {
  char gcid[256] = "";
  if (ci->gcid.len && ci->gcid.len * 2 + 1 <= sizeof(gcid))
    codec_hex_format(ci->gcid.data, ci->gcid.len, gcid, sizeof(gcid));
  snap_entity_t *entity = snap_call_find(snap, line, ci, gcid);
  if (!entity && !(entity = snap_call_new(snap, line, ci, gcid)))
    return;
  entity->unconfirmed = 0;
  snap_set_str(&entity->line_extn, line->extn);
  snap_writer_begin(&snap->w);
  /* the row's identity first (a keyed table's primary key), then CallInfo */
  snap_writer_key_lit(&snap->w, "leg");
  jbuf_jstr(&snap->w.b, entity->key);
  snap_writer_key_lit(&snap->w, "line_kind");
  jbuf_jstr(&snap->w.b, snap_line_kind_name(line->kind));
  snap_writer_key_lit(&snap->w, "line_guid");
  jbuf_jstr(&snap->w.b, line->guid);
  snap_writer_key_lit(&snap->w, "line_extn");
  jbuf_jstr(&snap->w.b, line->extn);
  snap_text_members(&snap->w, &ci->base);
  int32_t ref_before = entity->indexed_ref;
  snap_state_apply(snap, entity, entity->state ? 0 : snapshot ? 'r' : 'c');
  snap_call_index(snap, entity);
  if (snap->report_cb && entity->indexed_ref && entity->indexed_ref != ref_before) {
    snap_call_report_t report = {line->guid, entity->indexed_ref, entity->callid, entity->key, 0, 0, 0, ""};
    snap->report_cb(snap->report_opaque, &report);
  }
}

void snap_calls_apply(snap_t *snap, const snap_line_t *line, const NotifyCallControl *cc, int snapshot) {
  if (snapshot && line->kind == SNAP_LINE_USER) { /* a user idle when its record came had no call up */
    char id[96];
    snap_entity_id(id, sizeof(id), "user", line->guid);
    const snap_entity_t *user = strmap_get(&snap->entities, id);
    if (user && user->idle_at_record)
      snapshot = 0;
  }
  for (size_t i = 0; i < cc->n_callinfo; i++)
    snap_call_info(snap, line, cc->callinfo[i], snapshot);
  for (size_t i = 0; i < cc->n_calllost; i++) {
    const CallLost *cl = cc->calllost[i];
    char ck[128];
    snap_callid_key(line->guid, cl->callid, ck, sizeof(ck));
    snap_entity_t *entity = strmap_get(&snap->callids, ck);
    if (!entity) { /* never reported (a MakeCall failing at once): nothing to delete, but someone to tell */
      if (snap->report_cb && cl->referencecallid) {
        snap_call_report_t report = {line->guid,        cl->referencecallid, cl->callid, NULL, 1, cl->reason,
                                     cl->thisenddropped, cl->description ? cl->description : ""};
        snap->report_cb(snap->report_opaque, &report);
      }
      continue;
    }
    json_t *lost =
        snap_call_lost(cl->callid, cl->referencecallid, cl->reason, cl->thisenddropped, cl->description, 0);
    snap_delete(snap, entity, lost);
    json_decref(lost);
  }
}

void snap_line_resync_begin(snap_t *snap, const char *line_guid) {
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e->kind == SNAP_CALL && strcmp(e->line_guid, line_guid) == 0)
      e->unconfirmed = 1;
  }
}

size_t snap_line_resync_end(snap_t *snap, const char *line_guid) {
  snap_user_release(snap, line_guid);
  return snap_calls_delete(snap, line_guid, 1, SNAP_CALL_ENDED_AWAY);
}
