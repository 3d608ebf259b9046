/*
 * snap: the entity table.  See snap.h for what snap does, snap_int.h for how
 * its files divide the work.
 *
 * DESIGN.  Every entity (line, user, queue, call) lives in one map by id,
 * owned by it; calls are also found by line and callid.  An entity's life is
 * a sequence of changes, each reported once through the callback by
 * snap_commit, which alone moves seq and the per-kind counts: a change's seq
 * is the entity's seq after it, one more than the last.  A delete keeps a
 * line's, user's or queue's entity (without state) so that its seq goes on
 * when it comes back; a deleted call is forgotten.  The kinds and line kinds
 * are tables here; the phone state names too.
 */
#include "snap_int.h"

#include "bclock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- kinds ---- */

static const struct {
  const char *name, *topic;
  int compacted;
} snap_kinds[] = {
#define SNAP_X_ROW(e, n, t, c) {n, t, c},
    SNAP_KINDS(SNAP_X_ROW)
#undef SNAP_X_ROW
};

const char *snap_kind_name(snap_kind_t kind) { return snap_kinds[kind].name; }
const char *snap_kind_topic(snap_kind_t kind) { return snap_kinds[kind].topic; }
int snap_kind_compacted(snap_kind_t kind) { return snap_kinds[kind].compacted; }

int snap_kind_parse(const char *name, snap_kind_t *kind) {
  for (int k = 0; k < SNAP__KIND_COUNT; k++) {
    if (strcmp(name, snap_kinds[k].name) == 0) {
      *kind = (snap_kind_t)k;
      return 0;
    }
  }
  return -1;
}

static const char *const snap_line_kinds[] = {"user", "queue", "parkserver", "presentity"};
const char *snap_line_kind_name(snap_line_kind_t kind) { return snap_line_kinds[kind]; }

int snap_line_kind_parse(const char *name, snap_line_kind_t *kind) {
  for (size_t i = 0; i < sizeof(snap_line_kinds) / sizeof(snap_line_kinds[0]); i++) {
    if (strcmp(name, snap_line_kinds[i]) == 0) {
      *kind = (snap_line_kind_t)i;
      return 0;
    }
  }
  return -1;
}

/* Phone states of the presence subscription (the spec's Table 1). */
static const char *const snap_phonestates[] = {"idle",   "dialling", "ringing", "acw",    "connected",
                                               "logout", "fault",    "recover", "unknown"};

const char *snap_phonestate_name(int phonestate) {
  if (phonestate < 0 || phonestate >= (int)(sizeof(snap_phonestates) / sizeof(snap_phonestates[0])))
    return "unknown";
  return snap_phonestates[phonestate];
}

/* ---- the table ---- */

snap_t *snap_new(snap_change_cb *cb, void *opaque) {
  snap_t *snap = calloc(1, sizeof(*snap));
  if (!snap)
    return NULL;
  snap->cb = cb;
  snap->opaque = opaque;
  snap->now_ms = bclock_wall_ms;
  return snap;
}

void snap_set_clock(snap_t *snap, int64_t (*now_ms)(void)) { snap->now_ms = now_ms; }

void snap_set_callback(snap_t *snap, snap_change_cb *cb, void *opaque) {
  snap->cb = cb;
  snap->opaque = opaque;
}

void snap_set_call_report(snap_t *snap, snap_call_report_cb *cb, void *opaque) {
  snap->report_cb = cb;
  snap->report_opaque = opaque;
}

void snap_destroy(snap_t *snap) {
  if (!snap)
    return;
  strmap_clear(&snap->callids, NULL);
  strmap_clear(&snap->call_legs, NULL);
  strmap_clear(&snap->line_by_extn, NULL);
  strmap_clear(&snap->queue_by_name, NULL);
  strmap_clear(&snap->call_by_ref, NULL);
  strmap_clear(&snap->park_by_slot, NULL);
  strmap_clear(&snap->entities, snap_entity_free);
  snap_writer_free(&snap->w);
  free(snap->diff);
  free(snap->names);
  free(snap);
}

size_t snap_count(const snap_t *snap, snap_kind_t kind) { return snap->counts[kind]; }

void snap_entity_free(void *p) {
  snap_entity_t *entity = p;
  if (!entity)
    return;
  free(entity->id);
  free(entity->key);
  free(entity->line_guid);
  free(entity->line_extn);
  free(entity->gcid);
  free(entity->indexed_extn);
  free(entity->indexed_name);
  free(entity->indexed_slot);
  free(entity->held);
  free(entity->state);
  free(entity);
}

snap_entity_t *snap_entity_new(snap_t *snap, snap_kind_t kind, const char *id, const char *key,
                               snap_line_kind_t line_kind, const char *line_guid, const char *line_extn) {
  snap_entity_t *entity = calloc(1, sizeof(*entity));
  if (!entity)
    return NULL;
  entity->kind = kind;
  entity->id = strdup(id);
  entity->key = strdup(key);
  entity->line_kind = line_kind;
  entity->line_guid = strdup(line_guid ? line_guid : "");
  entity->line_extn = strdup(line_extn ? line_extn : "");
  entity->gcid = strdup("");
  entity->held_phone = -1;
  if (!entity->id || !entity->key || !entity->line_guid || !entity->line_extn || !entity->gcid ||
      strmap_put(&snap->entities, id, entity) != 0) {
    snap_entity_free(entity);
    return NULL;
  }
  return entity;
}

/* a, the separator, then b, into out (cut to fit, always NUL-terminated): snprintf costs ten times as much */
static void snap_join(char *out, size_t size, const char *a, char sep, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (!size)
    return;
  if (la > size - 1)
    la = size - 1;
  memcpy(out, a, la);
  if (la + 1 < size) {
    out[la++] = sep;
    if (lb > size - 1 - la)
      lb = size - 1 - la;
    memcpy(out + la, b, lb);
    la += lb;
  }
  out[la] = '\0';
}

void snap_entity_id(char *out, size_t size, const char *kind, const char *guid) { snap_join(out, size, kind, ':', guid); }

void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size) {
  char digits[16], *p = digits + sizeof(digits);
  uint32_t v = callid < 0 ? 0u - (uint32_t)callid : (uint32_t)callid;
  *--p = '\0';
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (callid < 0)
    *--p = '-';
  snap_join(out, size, line_guid, '/', p);
}

void snap_set_str(char **field, const char *value) {
  if (*field && strcmp(*field, value ? value : "") == 0)
    return;
  char *copy = strdup(value ? value : "");
  if (copy) {
    free(*field);
    *field = copy;
  }
}

/* ---- changes ---- */

static int snap_names_reserve(snap_t *snap, size_t n) {
  if (snap->names_cap >= n)
    return 0;
  snap_name_t *grown = realloc(snap->names, n * sizeof(*grown));
  if (!grown)
    return -1;
  snap->names = grown;
  snap->names_cap = n;
  return 0;
}

static void snap_name_of(snap_name_t *out, const snap_state_t *st, size_t i) {
  out->name = st->text + st->fields[i].name_off;
  out->len = st->fields[i].name_len;
}

void snap_commit(snap_t *snap, snap_entity_t *entity, char op, snap_state_t *after, const json_t *lost,
                 size_t n_diff) {
  snap_state_t *before = entity->state;
  size_t n_names = op == 'u' ? n_diff : after ? after->n : before ? before->n : 0;
  if (snap_names_reserve(snap, n_names) != 0)
    n_names = 0; /* out of memory: the event goes out listing no field rather than not at all */
  for (size_t i = 0; i < n_names; i++) {
    if (op != 'u')
      snap_name_of(&snap->names[i], after ? after : before, i);
    else if (snap->diff[i].in_before)
      snap_name_of(&snap->names[i], before, snap->diff[i].index);
    else
      snap_name_of(&snap->names[i], after, snap->diff[i].index);
  }
  if (!before && after)
    snap->counts[entity->kind]++;
  else if (before && !after)
    snap->counts[entity->kind]--;
  entity->seq++;
  entity->state = after;
  entity->unconfirmed = 0;
  int with_before = before && op != 'c' && op != 'r';
  snap_change_t change = {
      .kind = entity->kind,
      .op = op,
      .entity_id = entity->id,
      .key = entity->key,
      .seq = entity->seq,
      .before_text = with_before ? before->text : NULL,
      .before_len = with_before ? before->len : 0,
      .after_text = after ? after->text : NULL,
      .after_len = after ? after->len : 0,
      .names = snap->names,
      .n_names = n_names,
      .lost = lost,
      .line = {entity->line_kind, entity->line_guid, entity->line_extn},
      .partition_key = entity->kind == SNAP_CALL && entity->gcid && *entity->gcid ? entity->gcid : NULL,
  };
  snap->cb(snap->opaque, &change);
  free(before);
}

void snap_entity_unhold(snap_entity_t *entity) {
  free(entity->held);
  entity->held = NULL;
  entity->held_phone = -1;
}

void snap_delete(snap_t *snap, snap_entity_t *entity, const json_t *lost) {
  snap_entity_unhold(entity);
  if (!entity->state)
    return;
  snap_commit(snap, entity, 'd', NULL, lost, 0);
  if (entity->kind == SNAP_LINE)
    snap_line_index(snap, entity, NULL);
  if (entity->kind == SNAP_CALL) {
    snap_call_index(snap, entity);
    char ck[128];
    snap_callid_key(entity->line_guid, entity->callid, ck, sizeof(ck));
    if (strmap_get(&snap->callids, ck) == entity)
      strmap_del(&snap->callids, ck);
    snap_leg_index(snap, entity, 0);
    strmap_del(&snap->entities, entity->id);
    snap_entity_free(entity);
  }
}
