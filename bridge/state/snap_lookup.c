/*
 * snap_lookup: what the command stage asks of the state, and re-emission.
 *
 * DESIGN.  A command names a line by GUID, extension or (a queue) name, and a
 * call by callid or by referencecallid; each must be answered in O(1) with
 * thousands of lines.  The entity map answers GUIDs and callids; three
 * indexes kept beside it answer the rest (line_by_extn, queue_by_name,
 * call_by_ref).  They are brought in line with an entity whenever its state
 * changes (snap_line_index, snap_call_ref_index, from snap_lines.c,
 * snap_calls.c, snap.c's deletes and the restore), and an entity remembers
 * what it holds in them, so an unchanged line costs a string compare.  Two
 * lines may share an extension for a moment (a NotifyLines moving it): the
 * slot then passes to the other holder when the first lets go.
 * snap_reemit reports live entities again for consumers that start late.
 */
#include "snap_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the indexes ---- */

static void snap_index_key(char *out, size_t size, snap_line_kind_t kind, const char *extn) {
  snprintf(out, size, "%s/%s", snap_line_kind_name(kind), extn);
}

/*
 * Drop `entity` from `map` under `key`; when it held the slot, hand the slot
 * to another live line holding the same value: a scan, but only when a line
 * is deleted or renumbered.
 */
static void snap_index_drop(snap_t *snap, strmap_t *map, const char *key, snap_entity_t *entity, int by_name) {
  if (strmap_get(map, key) != entity)
    return;
  strmap_del(map, key);
  char other[160];
  for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
    snap_entity_t *e = it.value;
    if (e == entity || e->kind != SNAP_LINE)
      continue;
    const char *held = by_name ? e->indexed_name : e->indexed_extn;
    if (!held)
      continue;
    if (by_name)
      snprintf(other, sizeof(other), "%s", held);
    else
      snap_index_key(other, sizeof(other), e->indexed_kind, held);
    if (strcmp(other, key) == 0) {
      strmap_put(map, key, e);
      return;
    }
  }
}

void snap_line_index(snap_t *snap, snap_entity_t *line, const char *name) {
  const char *extn = line->state && line->line_extn[0] ? line->line_extn : NULL;
  if (!line->state || line->line_kind != SNAP_LINE_QUEUE || (name && !*name))
    name = NULL;
  char key[160];
  if (!extn || !line->indexed_extn || strcmp(extn, line->indexed_extn) != 0 ||
      line->indexed_kind != line->line_kind) {
    if (line->indexed_extn) {
      snap_index_key(key, sizeof(key), line->indexed_kind, line->indexed_extn);
      snap_index_drop(snap, &snap->line_by_extn, key, line, 0);
      free(line->indexed_extn);
      line->indexed_extn = NULL;
    }
    if (extn && (line->indexed_extn = strdup(extn)) != NULL) {
      line->indexed_kind = line->line_kind;
      snap_index_key(key, sizeof(key), line->line_kind, extn);
      strmap_put(&snap->line_by_extn, key, line);
    }
  }
  if (!name || !line->indexed_name || strcmp(name, line->indexed_name) != 0) {
    if (line->indexed_name) {
      snap_index_drop(snap, &snap->queue_by_name, line->indexed_name, line, 1);
      free(line->indexed_name);
      line->indexed_name = NULL;
    }
    if (name && (line->indexed_name = strdup(name)) != NULL)
      strmap_put(&snap->queue_by_name, name, line);
  }
}

void snap_call_ref_index(snap_t *snap, snap_entity_t *call) {
  long long value = 0;
  int32_t ref = snap_state_int(call->state, "referencecallid", 0, &value) ? (int32_t)value : 0;
  if (ref == call->indexed_ref)
    return;
  char key[128];
  if (call->indexed_ref) {
    snap_callid_key(call->line_guid, call->indexed_ref, key, sizeof(key));
    if (strmap_get(&snap->call_by_ref, key) == call)
      strmap_del(&snap->call_by_ref, key);
  }
  call->indexed_ref = 0;
  if (ref) {
    snap_callid_key(call->line_guid, ref, key, sizeof(key));
    if (strmap_put(&snap->call_by_ref, key, call) == 0)
      call->indexed_ref = ref;
  }
}

/* ---- lookups ---- */

static int snap_line_found(const snap_entity_t *e, snap_line_kind_t kind, snap_line_t *line) {
  if (!e || e->kind != SNAP_LINE || !e->state || e->line_kind != kind)
    return 0;
  line->kind = e->line_kind;
  line->guid = e->key;
  line->extn = e->line_extn;
  return 1;
}

/* By GUID (the entity map), extension, then queue name (the indexes). */
int snap_line_find(const snap_t *snap, snap_line_kind_t kind, const char *name, snap_line_t *line) {
  if (!name || !*name)
    return 0;
  char key[160];
  size_t len = strlen(name);
  if (len < 64) { /* a GUID, any case: line ids hold it in lower case */
    size_t o = (size_t)snprintf(key, sizeof(key), "line:");
    for (size_t i = 0; i <= len; i++)
      key[o + i] = (char)tolower((unsigned char)name[i]);
    if (snap_line_found(strmap_get(&snap->entities, key), kind, line))
      return 1;
  }
  if (len < 128) {
    snap_index_key(key, sizeof(key), kind, name);
    if (snap_line_found(strmap_get(&snap->line_by_extn, key), kind, line))
      return 1;
  }
  return kind == SNAP_LINE_QUEUE && snap_line_found(strmap_get(&snap->queue_by_name, name), kind, line);
}

static uint32_t snap_state_u32(const snap_state_t *state, const char *field) {
  long long value = 0;
  return snap_state_int(state, field, 0, &value) ? (uint32_t)value : 0;
}

int snap_call_find_on_line(const snap_t *snap, const char *line_guid, int by_reference, int32_t value,
                           int32_t *callid, uint32_t *features, uint32_t *features2) {
  const snap_entity_t *found = NULL;
  char key[128];
  if (!by_reference) {
    snap_callid_key(line_guid, value, key, sizeof(key));
    found = strmap_get(&snap->callids, key);
  } else if (value) {
    snap_callid_key(line_guid, value, key, sizeof(key));
    found = strmap_get(&snap->call_by_ref, key);
  }
  if (!found || !found->state)
    return 0;
  *callid = found->callid;
  *features = snap_state_u32(found->state, "featuresavailable");
  *features2 = snap_state_u32(found->state, "featuresavailable2");
  return 1;
}

int snap_user_features(const snap_t *snap, const char *guid, uint32_t *features) {
  char id[96];
  snap_entity_id(id, sizeof(id), "user", guid);
  const snap_entity_t *e = strmap_get(&snap->entities, id);
  size_t len;
  if (!e || !snap_state_value(e->state, "featuresavailable", 0, &len))
    return 0;
  *features = snap_state_u32(e->state, "featuresavailable");
  return 1;
}

/* ---- re-emission ---- */

size_t snap_reemit(snap_t *snap, unsigned kind_mask, const char *line_guid) {
  size_t n = 0;
  for (int kind = 0; kind < SNAP__KIND_COUNT; kind++) {
    if (!(kind_mask & (1u << kind)))
      continue;
    for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
      snap_entity_t *e = it.value;
      if ((int)e->kind != kind || !e->state || (line_guid && strcasecmp(e->line_guid, line_guid) != 0))
        continue;
      snap_state_t *again = snap_state_dup(e->state);
      if (!again)
        return n;
      snap_commit(snap, e, 'r', again, NULL, 0);
      n++;
    }
  }
  return n;
}

void snap_walk(const snap_t *snap, snap_change_cb *cb, void *opaque) {
  for (int kind = 0; kind < SNAP__KIND_COUNT; kind++) { /* lines, users and queues before their calls */
    for (strmap_iter_t it = strmap_iter(&snap->entities); strmap_iter_next(&it);) {
      const snap_entity_t *e = it.value;
      if ((int)e->kind != kind || !e->state)
        continue;
      snap_change_t change = {
          .kind = e->kind,
          .op = 'r',
          .entity_id = e->id,
          .key = e->key,
          .seq = e->seq,
          .after_text = e->state->text,
          .after_len = e->state->len,
          .line = {e->line_kind, e->line_guid, e->line_extn},
          .partition_key = e->kind == SNAP_CALL && e->gcid && *e->gcid ? e->gcid : NULL,
      };
      cb(opaque, &change);
    }
  }
}
