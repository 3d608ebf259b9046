/*
 * snap_lines: lines, users, queues and presence, the entities named by GUID.
 *
 * DESIGN.  The Lines subscription lists every user and queue line; each
 * becomes a line entity {kind, guid, extn, name}.  A full list (the first
 * Notify of a Lines subscription) replaces what is known: a line missing
 * from it is deleted, with its user or queue and its calls, as is a line
 * named in deleteuser or deletequeue.  A user's state is its NotifyUser with
 * the phone state of the presence subscription merged in (two subscriptions,
 * one entity: each keeps the other's part as it stands); a queue's is its
 * NotifyQueue.  Each new state is written whole into the scratch writer and
 * diffed (snap_state_apply), so a Notify that repeats the last one reports
 * nothing.  Fed by the ingest stage, one Notify at a time.
 */
#include "snap_int.h"

#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"

/* ---- lines ---- */

static void snap_line_upsert(snap_t *snap, snap_line_kind_t kind, const ProtobufCBinaryData *guid_bytes,
                             const char *extn, const char *name, char op_new) {
  char guid[64], id[96];
  codec_guid_format(guid_bytes->data, guid_bytes->len, guid, sizeof(guid));
  snap_entity_id(id, sizeof(id), "line", guid);
  snap_entity_t *entity = strmap_get(&snap->entities, id);
  if (!entity && !(entity = snap_entity_new(snap, SNAP_LINE, id, guid, kind, guid, extn)))
    return;
  entity->unconfirmed = 0;
  entity->line_kind = kind;
  snap_set_str(&entity->line_extn, extn);
  snap_writer_t *w = &snap->w;
  snap_writer_begin(w);
  snap_writer_key_lit(w, "kind");
  jbuf_jstr(&w->b, snap_line_kind_name(kind));
  snap_writer_key_lit(w, "guid");
  jbuf_jstr(&w->b, guid);
  snap_writer_key_lit(w, "extn");
  jbuf_jstr(&w->b, extn);
  snap_writer_key_lit(w, "name");
  jbuf_jstr(&w->b, name);
  snap_state_apply(snap, entity, entity->state ? 0 : op_new);
  snap_line_index(snap, entity, name);
  /* keep the user's or queue's line extension current */
  char sub[96];
  snap_entity_id(sub, sizeof(sub), kind == SNAP_LINE_USER ? "user" : "queue", guid);
  snap_entity_t *owner = strmap_get(&snap->entities, sub);
  if (owner)
    snap_set_str(&owner->line_extn, extn);
}

/* A line is gone: its calls, its user or queue, then itself. */
static void snap_line_remove(snap_t *snap, snap_entity_t *line) {
  char sub[96];
  snap_entity_id(sub, sizeof(sub), line->line_kind == SNAP_LINE_USER ? "user" : "queue", line->key);
  snap_line_calls_delete(snap, line->key, "line deleted");
  snap_entity_t *owner = strmap_get(&snap->entities, sub);
  if (owner)
    snap_delete(snap, owner, NULL);
  snap_delete(snap, line, NULL);
}

/* After a full list: every live line it did not confirm is removed. */
static void snap_lines_remove_unconfirmed(snap_t *snap) {
  snap_entity_t **gone = NULL;
  size_t n = 0;
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e->kind == SNAP_LINE && e->unconfirmed && e->state) {
      snap_entity_t **grown = realloc(gone, (n + 1) * sizeof(*grown));
      if (!grown)
        break;
      gone = grown;
      gone[n++] = e;
    }
  }
  for (size_t i = 0; i < n; i++)
    snap_line_remove(snap, gone[i]);
  free(gone);
}

void snap_lines_apply(snap_t *snap, const NotifyLines *lines, int full) {
  char op_new = full ? 'r' : 'c';
  if (full) { /* everything not listed again is gone */
    for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
      snap_entity_t *e = it.value;
      if (e->kind == SNAP_LINE)
        e->unconfirmed = 1;
    }
  }
  for (size_t i = 0; i < lines->n_adduser; i++)
    snap_line_upsert(snap, SNAP_LINE_USER, &lines->adduser[i]->guid, lines->adduser[i]->extn,
                     lines->adduser[i]->name, op_new);
  for (size_t i = 0; i < lines->n_addqueue; i++)
    snap_line_upsert(snap, SNAP_LINE_QUEUE, &lines->addqueue[i]->guid, lines->addqueue[i]->extn,
                     lines->addqueue[i]->name, op_new);
  for (size_t i = 0; i < lines->n_changeuser; i++)
    snap_line_upsert(snap, SNAP_LINE_USER, &lines->changeuser[i]->guid, lines->changeuser[i]->extn,
                     lines->changeuser[i]->name, op_new);
  for (size_t i = 0; i < lines->n_changequeue; i++)
    snap_line_upsert(snap, SNAP_LINE_QUEUE, &lines->changequeue[i]->guid, lines->changequeue[i]->extn,
                     lines->changequeue[i]->name, op_new);
  for (size_t k = 0; k < lines->n_deleteuser + lines->n_deletequeue; k++) {
    const ProtobufCBinaryData *g = k < lines->n_deleteuser ? &lines->deleteuser[k]->guid
                                                           : &lines->deletequeue[k - lines->n_deleteuser]->guid;
    char guid[64], id[96];
    codec_guid_format(g->data, g->len, guid, sizeof(guid));
    snap_entity_id(id, sizeof(id), "line", guid);
    snap_entity_t *line = strmap_get(&snap->entities, id);
    if (line)
      snap_line_remove(snap, line);
  }
  if (full)
    snap_lines_remove_unconfirmed(snap);
}

/* ---- users, queues, presence ---- */

/* The line entity of `guid`, for its extension. */
static const char *snap_line_extn(snap_t *snap, const char *guid) {
  char id[96];
  snap_entity_id(id, sizeof(id), "line", guid);
  snap_entity_t *line = strmap_get(&snap->entities, id);
  return line && line->state ? line->line_extn : "";
}

/* The user or queue entity of a line, made when first seen; NULL when out of memory. */
static snap_entity_t *snap_owner(snap_t *snap, snap_kind_t kind, const char *guid) {
  char id[96];
  snap_entity_id(id, sizeof(id), kind == SNAP_USER ? "user" : "queue", guid);
  snap_entity_t *entity = strmap_get(&snap->entities, id);
  if (!entity)
    entity = snap_entity_new(snap, kind, id, guid, kind == SNAP_USER ? SNAP_LINE_USER : SNAP_LINE_QUEUE, guid,
                             snap_line_extn(snap, guid));
  return entity;
}

/* Copy the value of `name` from the old state (where it is at `hint`, if it has not moved), or write null. */
static void snap_writer_carry(snap_writer_t *w, const snap_state_t *old, const char *name, size_t hint) {
  size_t len;
  const char *value = snap_state_value(old, name, hint, &len);
  snap_writer_key_plain(w, name, strlen(name));
  if (value)
    jbuf_put(&w->b, value, len);
  else
    jbuf_str(&w->b, "null");
}

void snap_user_apply(snap_t *snap, const char *guid, const NotifyUser *user, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  /* {guid, every NotifyUser field, phonestate and its name as the presence subscription last said} */
  snap_writer_t *w = &snap->w;
  snap_writer_begin(w);
  snap_writer_key_lit(w, "guid");
  jbuf_jstr(&w->b, guid);
  snap_text_members(w, &user->base);
  /* the two last fields, where a user's state keeps them */
  snap_writer_carry(w, entity->state, "phonestate", SNAP_HINT_LAST(entity->state) - 1);
  snap_writer_carry(w, entity->state, "phonestate_name", SNAP_HINT_LAST(entity->state));
  if (user->extn && *user->extn)
    snap_set_str(&entity->line_extn, user->extn);
  snap_state_apply(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
}

void snap_presence_apply(snap_t *snap, const char *guid, const NotifyPresentity *entry, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  /* The entry carries only the phone state here: the same one changes nothing (no copy, no diff). */
  long long ps;
  if (snap_state_int(entity->state, "phonestate", SNAP_HINT_LAST(entity->state) - 1, &ps) &&
      ps == entry->phonestate)
    return;
  /* the old state with phonestate and its name replaced in place (or added at the end) */
  const snap_state_t *old = entity->state;
  snap_writer_t *w = &snap->w;
  int seen_ps = 0, seen_psn = 0;
  snap_writer_begin(w);
  if (!old) {
    snap_writer_key_lit(w, "guid");
    jbuf_jstr(&w->b, guid);
  }
  for (size_t i = 0; old && i < old->n; i++) {
    const snap_field_t *f = &old->fields[i];
    const char *name = old->text + f->name_off;
    snap_writer_key_plain(w, name, f->name_len); /* as it stands in the old text */
    if (f->name_len == 10 && memcmp(name, "phonestate", 10) == 0 && (seen_ps = 1))
      jbuf_int(&w->b, entry->phonestate);
    else if (f->name_len == 15 && memcmp(name, "phonestate_name", 15) == 0 && (seen_psn = 1))
      jbuf_jstr(&w->b, snap_phonestate_name(entry->phonestate));
    else
      jbuf_put(&w->b, old->text + f->val_off, f->val_len);
  }
  if (!seen_ps) {
    snap_writer_key_lit(w, "phonestate");
    jbuf_int(&w->b, entry->phonestate);
  }
  if (!seen_psn) {
    snap_writer_key_lit(w, "phonestate_name");
    jbuf_jstr(&w->b, snap_phonestate_name(entry->phonestate));
  }
  snap_state_apply(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
}

void snap_queue_apply(snap_t *snap, const char *guid, const NotifyQueue *queue, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_QUEUE, guid);
  if (!entity)
    return;
  snap_writer_t *w = &snap->w;
  snap_writer_begin(w);
  snap_writer_key_lit(w, "guid");
  jbuf_jstr(&w->b, guid);
  snap_text_members(w, &queue->base);
  if (queue->extn && *queue->extn)
    snap_set_str(&entity->line_extn, queue->extn);
  snap_state_apply(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
}
