/*
 * snap_restore: an entity's record for a store, and the state read back.
 *
 * DESIGN.  What a store keeps of an entity, beside its state text, is one
 * line of JSON (snap_record_write): kind, key, seq, its line, and a call's
 * callid and gcid, written by hand for the ingest stage's hot path.  At
 * start the state is read back (from Redis or the bridge's own topics) and
 * each entity handed to snap_restore with its state as a tree; the state is
 * written again through the same writer as live states, so equal content
 * gives equal bytes and the first fresh snapshot after a restart announces
 * nothing unchanged.  A restored entity is unconfirmed: a call the PBX does
 * not report again is deleted when its line settles (snap_calls.c).
 */
#include "snap_int.h"

#include <stdio.h>
#include <string.h>

int snap_record_write(const snap_t *snap, const snap_change_t *change, jbuf_t *b) {
  if (change->kind == SNAP_CALL && change->op == 'd')
    return 0;
  const snap_entity_t *entity = strmap_get(&snap->entities, change->entity_id);
  if (!entity)
    return 0;
  jbuf_char(b, '{');
  jbuf_key(b, "kind");
  jbuf_jstr(b, snap_kind_name(entity->kind));
  jbuf_key(b, "key");
  jbuf_jstr(b, entity->key);
  jbuf_key(b, "seq");
  jbuf_uint(b, entity->seq);
  jbuf_key(b, "line");
  jbuf_char(b, '{');
  jbuf_key(b, "kind");
  jbuf_jstr(b, snap_line_kind_name(entity->line_kind));
  jbuf_key(b, "guid");
  jbuf_jstr(b, entity->line_guid);
  jbuf_key(b, "extn");
  jbuf_jstr(b, entity->line_extn);
  jbuf_char(b, '}');
  jbuf_key(b, "callid");
  jbuf_int(b, entity->callid);
  jbuf_key(b, "gcid");
  jbuf_jstr(b, entity->gcid);
  jbuf_key(b, "v");
  jbuf_str(b, "2}");
  return 1;
}

/* The state tree written as a live state is (the same bytes for the same content); NULL when out of memory. */
static snap_state_t *snap_restore_state(snap_t *snap, const json_t *state) {
  snap_writer_t *w = &snap->w;
  const char *name;
  json_t *value;
  snap_writer_begin(w);
  json_object_foreach((json_t *)state, name, value) {
    snap_writer_key(w, name);
    jbuf_json(&w->b, value);
  }
  if (snap_writer_end(w) != 0)
    return NULL;
  snap_view_t view = snap_writer_view(w);
  return snap_state_new(&view);
}

int snap_restore(snap_t *snap, const char *entity_id, const json_t *record, char *errstr, size_t errstr_size) {
  const char *kind_name = NULL, *key = NULL, *line_kind_name = NULL, *line_guid = NULL, *line_extn = NULL,
             *gcid = "";
  json_int_t seq = 0;
  int callid = 0;
  json_t *state = NULL;
  json_error_t jerr;
  snap_kind_t kind;
  snap_line_kind_t line_kind;
  snap_entity_t *entity = NULL;
  if (json_unpack_ex((json_t *)record, &jerr, 0, "{s:s,s:s,s:I,s:o,s:{s:s,s:s,s:s},s?i,s?s}", "kind",
                     &kind_name, "key", &key, "seq", &seq, "state", &state, "line", "kind", &line_kind_name,
                     "guid", &line_guid, "extn", &line_extn, "callid", &callid, "gcid", &gcid) != 0) {
    snprintf(errstr, errstr_size, "%s: bad record: %s", entity_id, jerr.text);
    goto fail;
  }
  if (snap_kind_parse(kind_name, &kind) != 0 || snap_line_kind_parse(line_kind_name, &line_kind) != 0) {
    snprintf(errstr, errstr_size, "%s: bad record: unknown kind", entity_id);
    goto fail;
  }
  if (!json_is_null(state) && !json_is_object(state)) {
    snprintf(errstr, errstr_size, "%s: bad record: state is not an object", entity_id);
    goto fail;
  }
  if (strmap_get(&snap->entities, entity_id)) {
    snprintf(errstr, errstr_size, "%s: restored twice", entity_id);
    goto fail;
  }
  entity = snap_entity_new(snap, kind, entity_id, key, line_kind, line_guid, line_extn);
  if (!entity || (!json_is_null(state) && !(entity->state = snap_restore_state(snap, state)))) {
    snprintf(errstr, errstr_size, "%s: out of memory", entity_id);
    goto fail;
  }
  entity->seq = (uint64_t)seq;
  if (entity->state)
    snap->counts[kind]++;
  entity->callid = callid;
  snap_set_str(&entity->gcid, gcid);
  entity->unconfirmed = 1;
  if (kind == SNAP_CALL) {
    char ck[128];
    snap_callid_key(line_guid, callid, ck, sizeof(ck));
    strmap_put(&snap->callids, ck, entity);
    snap_call_index(snap, entity);
    snap_leg_index(snap, entity, 1);
  } else if (kind == SNAP_LINE) {
    snap_line_index(snap, entity, json_string_value(json_object_get(state, "name")));
  }
  return 0;
fail:
  if (entity) {
    strmap_del(&snap->entities, entity_id);
    snap_entity_free(entity);
  }
  return -1;
}
