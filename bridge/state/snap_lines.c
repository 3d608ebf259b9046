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
 *
 * A user's first event carries both parts: a new user's first part waits
 * in the entity (held: its NotifyUser as a finished state, or the phone
 * state) until the other comes, and is then reported once ('r' when its
 * NotifyUser was a snapshot's); if the phone state never comes (no
 * presence subscription, an extension nobody watches), the user is
 * reported as it stands when its line settles (snap_user_release), its
 * phone state null.  A presence-only entity (a presentity the bridge
 * watches that is no user: a partner's SIP URI, say) has no NotifyUser: its
 * state is the whole NotifyPresentity.
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
void snap_line_remove(snap_t *snap, snap_entity_t *line) {
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

/* A phone state that means no call: idle, after call work, logged out (-1, unknown: no). */
static int snap_phone_idle(int phonestate) { return phonestate == 0 || phonestate == 3 || phonestate == 5; }

/* Write the phone state (-1: unknown, null) as a user's two last fields. */
static void snap_writer_phone(snap_writer_t *w, int phonestate) {
  snap_writer_key_lit(w, "phonestate");
  if (phonestate < 0)
    jbuf_str(&w->b, "null");
  else
    jbuf_int(&w->b, phonestate);
  snap_writer_key_lit(w, "phonestate_name");
  if (phonestate < 0)
    jbuf_str(&w->b, "null");
  else
    jbuf_jstr(&w->b, snap_phonestate_name(phonestate));
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
  if (entity->state) { /* the two last fields, where a user's state keeps them */
    snap_writer_carry(w, entity->state, "phonestate", SNAP_HINT_LAST(entity->state) - 1);
    snap_writer_carry(w, entity->state, "phonestate_name", SNAP_HINT_LAST(entity->state));
  } else {
    snap_writer_phone(w, entity->held_phone);
  }
  if (user->extn && *user->extn)
    snap_set_str(&entity->line_extn, user->extn);
  long long phone = entity->held_phone;
  if (entity->state && !snap_state_int(entity->state, "phonestate", SNAP_HINT_LAST(entity->state) - 1, &phone))
    phone = -1;
  entity->idle_at_record = snap_phone_idle((int)phone);
  if (entity->state) {
    snap_state_apply(snap, entity, 0);
    return;
  }
  char op = entity->held ? entity->held_op : snapshot ? 'r' : 'c';
  if (entity->held_phone >= 0) { /* the phone state came first: whole now */
    snap_entity_unhold(entity);
    snap_state_apply(snap, entity, op);
    return;
  }
  /* held until the phone state comes (or the line settles) */
  if (snap_writer_end(w) != 0)
    return; /* out of memory: the next NotifyUser brings it */
  snap_view_t view = snap_writer_view(w);
  snap_state_t *held = snap_state_new(&view);
  if (held) {
    free(entity->held);
    entity->held = held;
    entity->held_op = op;
  }
}

void snap_user_release(snap_t *snap, const char *line_guid) {
  char id[96];
  snap_entity_id(id, sizeof(id), "user", line_guid);
  snap_entity_t *entity = strmap_get(&snap->entities, id);
  if (!entity || entity->state || !entity->held)
    return;
  snap_state_t *held = entity->held;
  char op = entity->held_op;
  entity->held = NULL;
  snap_entity_unhold(entity);
  snap_commit(snap, entity, op, held, NULL, 0);
}

void snap_presence_apply(snap_t *snap, const char *guid, const NotifyPresentity *entry, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  (void)snapshot; /* a user's op is its NotifyUser's */
  /* The entry carries only the phone state here: the same one changes nothing (no copy, no diff). */
  long long ps;
  if (snap_state_int(entity->state, "phonestate", SNAP_HINT_LAST(entity->state) - 1, &ps) &&
      ps == entry->phonestate)
    return;
  /* the old state (or a held new user's) with phonestate and its name replaced in place */
  const snap_state_t *old = entity->state ? entity->state : entity->held;
  if (!old) { /* no NotifyUser yet: the phone state waits for it */
    entity->held_phone = entry->phonestate < 0 ? 0 : entry->phonestate;
    return;
  }
  snap_writer_t *w = &snap->w;
  int seen_ps = 0, seen_psn = 0;
  snap_writer_begin(w);
  for (size_t i = 0; i < old->n; i++) {
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
  if (entity->state) {
    snap_state_apply(snap, entity, 0);
    return;
  }
  char op = entity->held_op; /* a held new user, whole now */
  snap_state_apply(snap, entity, op); /* the writer holds the state: the held copy may go */
  snap_entity_unhold(entity);
}

void snap_presentity_apply(snap_t *snap, const char *name, const NotifyPresentity *entry, int snapshot) {
  char id[600];
  snap_entity_id(id, sizeof(id), "presentity", name);
  snap_entity_t *entity = strmap_get(&snap->entities, id);
  if (!entity && !(entity = snap_entity_new(snap, SNAP_USER, id, name, SNAP_LINE_PRESENTITY, "", "")))
    return;
  snap_writer_t *w = &snap->w;
  snap_writer_begin(w);
  snap_writer_key_lit(w, "presentity");
  jbuf_jstr(&w->b, name);
  snap_writer_key_lit(w, "sac");
  jbuf_str(&w->b, entry->sac ? "true" : "false");
  snap_writer_key_lit(w, "phonestate");
  jbuf_int(&w->b, entry->phonestate);
  snap_writer_key_lit(w, "phonestate_name");
  jbuf_jstr(&w->b, snap_phonestate_name(entry->phonestate));
  snap_writer_key_lit(w, "absence");
  if (entry->absence) {
    jbuf_str(&w->b, "{\"msg\":");
    jbuf_int(&w->b, entry->absence->msg);
    jbuf_str(&w->b, ",\"str\":");
    jbuf_jstr(&w->b, entry->absence->str);
    jbuf_char(&w->b, '}');
  } else {
    jbuf_str(&w->b, "null");
  }
  snap_writer_key_lit(w, "app");
  jbuf_jstr(&w->b, entry->app);
  snap_writer_key_lit(w, "fwdu");
  jbuf_str(&w->b, entry->fwdu ? "true" : "false");
  snap_writer_key_lit(w, "vmunread_messages");
  jbuf_int(&w->b, entry->vmunread_messages);
  snap_writer_key_lit(w, "noapphandler");
  jbuf_str(&w->b, entry->noapphandler ? "true" : "false");
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
