/*
 * snap_calls: the calls on a line.
 *
 * DESIGN.  A call entity is one appearance of a call on one line (a user, a
 * queue, the park server), its state the CallInfo.  The PBX names a call by
 * callid, which is only unique on its line and only for one subscription: a
 * resubscription may give a known call a new callid.  So a call is found by
 * "<line guid>/<callid>" (snap->callids), and, failing that, by line and
 * gcid among the calls not yet confirmed since the line was resubscribed,
 * whose callid is then updated (snap_call_find).  snap_line_resync_begin
 * marks a line's calls unconfirmed when its subscription starts afresh;
 * every CallInfo confirms its call; snap_line_resync_end, once the line has
 * settled, deletes those still unconfirmed (ended while the bridge was away),
 * with a synthetic calllost.  A CallLost deletes its call with the PBX's
 * reason; a call is forgotten once deleted.
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

/* The call a CallInfo is about: by line and callid, else (after a resubscription) by line and gcid. */
static snap_entity_t *snap_call_find(snap_t *snap, const snap_line_t *line, const CallInfo *ci, const char *gcid) {
  char ck[128];
  snap_callid_key(line->guid, ci->callid, ck, sizeof(ck));
  snap_entity_t *entity = strmap_get(&snap->callids, ck);
  if (entity)
    return entity;
  if (!*gcid)
    return NULL;
  /* a call known from before a resubscription, under a new callid */
  char id[256];
  snprintf(id, sizeof(id), "call:%s:%s", line->guid, gcid);
  entity = strmap_get(&snap->entities, id);
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

/* A new call entity: "call:<line>:<gcid>" keyed by gcid, or "call:<line>:cid<callid>" without a gcid. */
static snap_entity_t *snap_call_new(snap_t *snap, const snap_line_t *line, const CallInfo *ci, const char *gcid) {
  char id[320], key[256], ck[128];
  if (*gcid) {
    snprintf(id, sizeof(id), "call:%s:%s", line->guid, gcid);
    if (strmap_get(&snap->entities, id)) /* same gcid twice on a line */
      snprintf(id, sizeof(id), "call:%s:%s:%d", line->guid, gcid, ci->callid);
    snprintf(key, sizeof(key), "%s", gcid);
  } else {
    snprintf(id, sizeof(id), "call:%s:cid%d", line->guid, ci->callid);
    snprintf(key, sizeof(key), "%s:%d", line->guid, ci->callid);
  }
  snap_entity_t *entity = snap_entity_new(snap, SNAP_CALL, id, key, line->kind, line->guid, line->extn);
  if (!entity)
    return NULL;
  entity->callid = ci->callid;
  snap_set_str(&entity->gcid, gcid);
  snap_callid_key(line->guid, ci->callid, ck, sizeof(ck));
  strmap_put(&snap->callids, ck, entity);
  return entity;
}

static void snap_call_info(snap_t *snap, const snap_line_t *line, const CallInfo *ci) {
  char gcid[256] = "";
  if (ci->gcid.len && ci->gcid.len * 2 + 1 <= sizeof(gcid))
    codec_hex_format(ci->gcid.data, ci->gcid.len, gcid, sizeof(gcid));
  snap_entity_t *entity = snap_call_find(snap, line, ci, gcid);
  if (!entity && !(entity = snap_call_new(snap, line, ci, gcid)))
    return;
  entity->unconfirmed = 0;
  snap_set_str(&entity->line_extn, line->extn);
  snap_writer_begin(&snap->w);
  snap_text_members(&snap->w, &ci->base);
  snap_state_apply(snap, entity, entity->state ? 0 : 'c');
  snap_call_ref_index(snap, entity);
}

void snap_calls_apply(snap_t *snap, const snap_line_t *line, const NotifyCallControl *cc) {
  for (size_t i = 0; i < cc->n_callinfo; i++)
    snap_call_info(snap, line, cc->callinfo[i]);
  for (size_t i = 0; i < cc->n_calllost; i++) {
    const CallLost *cl = cc->calllost[i];
    char ck[128];
    snap_callid_key(line->guid, cl->callid, ck, sizeof(ck));
    snap_entity_t *entity = strmap_get(&snap->callids, ck);
    if (!entity)
      continue; /* never reported (a MakeCall failing at once): nothing to delete */
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
  return snap_calls_delete(snap, line_guid, 1, "ended while the bridge was not connected");
}
