/*
 * snap: snapshot state and diff.  See snap.h for the design.
 */
#include "snap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <strings.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "strmap.h"

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

static const char *const snap_line_kinds[] = {"user", "queue", "parkserver"};
const char *snap_line_kind_name(snap_line_kind_t kind) { return snap_line_kinds[kind]; }

static int snap_line_kind_parse(const char *name, snap_line_kind_t *kind) {
  for (int i = 0; i < 3; i++) {
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

/* ---- entities ---- */

typedef struct snap_entity {
  char *id;
  snap_kind_t kind;
  char *key;
  uint64_t seq;
  json_t *state; /* NULL once deleted (the seq is kept for users, queues, lines) */
  char *text;    /* state as compact ASCII JSON, once rendered (NULL: not yet) */
  size_t text_len;
  snap_line_kind_t line_kind;
  char *line_guid;
  char *line_extn;
  int32_t callid; /* calls */
  char *gcid;     /* calls: hex, or "" */
  int unconfirmed;
  /* what the lookup indexes hold of it (snap_line_index, snap_call_ref_index) */
  char *indexed_extn; /* lines: in line_by_extn under "<indexed_kind>/<extn>"; NULL: not */
  snap_line_kind_t indexed_kind;
  char *indexed_name; /* queue lines: in queue_by_name */
  int32_t indexed_ref; /* calls: in call_by_ref under "<line guid>/<referencecallid>"; 0: not */
} snap_entity_t;

struct snap {
  snap_change_cb *cb;
  void *opaque;
  strmap_t entities; /* id -> entity */
  strmap_t callids;  /* "<line guid>/<callid>" -> call entity */
  /* lookup indexes for the command stage, kept as entities change */
  strmap_t line_by_extn;  /* "<line kind>/<extn>" -> live line entity */
  strmap_t queue_by_name; /* queue name -> live queue line entity */
  strmap_t call_by_ref;   /* "<line guid>/<referencecallid>" -> call entity (referencecallid != 0) */
  size_t counts[SNAP__KIND_COUNT];
};

static void snap_entity_free(void *p) {
  snap_entity_t *entity = p;
  if (!entity)
    return;
  free(entity->id);
  free(entity->key);
  free(entity->line_guid);
  free(entity->line_extn);
  free(entity->gcid);
  free(entity->text);
  free(entity->indexed_extn);
  free(entity->indexed_name);
  json_decref(entity->state);
  free(entity);
}

snap_t *snap_new(snap_change_cb *cb, void *opaque) {
  snap_t *snap = calloc(1, sizeof(*snap));
  if (!snap)
    return NULL;
  snap->cb = cb;
  snap->opaque = opaque;
  return snap;
}

void snap_destroy(snap_t *snap) {
  if (!snap)
    return;
  strmap_clear(&snap->callids, NULL);
  strmap_clear(&snap->line_by_extn, NULL);
  strmap_clear(&snap->queue_by_name, NULL);
  strmap_clear(&snap->call_by_ref, NULL);
  strmap_clear(&snap->entities, snap_entity_free);
  free(snap);
}

size_t snap_count(const snap_t *snap, snap_kind_t kind) { return snap->counts[kind]; }

static void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size);

const json_t *snap_call_state(const snap_t *snap, const char *line_guid, int32_t callid) {
  char ck[128];
  snap_callid_key(line_guid, callid, ck, sizeof(ck));
  const snap_entity_t *entity = strmap_get(&snap->callids, ck);
  return entity ? entity->state : NULL;
}

static snap_entity_t *snap_entity_new(snap_t *snap, snap_kind_t kind, const char *id, const char *key,
                                      snap_line_kind_t line_kind, const char *line_guid,
                                      const char *line_extn) {
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
  if (!entity->id || !entity->key || !entity->line_guid || !entity->line_extn || !entity->gcid ||
      strmap_put(&snap->entities, id, entity) != 0) {
    snap_entity_free(entity);
    return NULL;
  }
  return entity;
}

static void snap_set_str(char **field, const char *value) {
  char *copy = strdup(value ? value : "");
  if (copy) {
    free(*field);
    *field = copy;
  }
}

static void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size) {
  snprintf(out, size, "%s/%d", line_guid, callid);
}

/*
 * Names of the top-level fields that differ, in `after`'s order then
 * `before`'s.  States of one entity are built by the same code, so their
 * fields come in the same order: walk both together and look a name up only
 * where the orders part.
 */
static json_t *snap_diff(const json_t *before, const json_t *after) {
  json_t *changed = json_array();
  void *bi = json_object_iter((json_t *)before);
  size_t matched = 0;
  for (void *ai = json_object_iter((json_t *)after); ai; ai = json_object_iter_next((json_t *)after, ai)) {
    const char *name = json_object_iter_key(ai);
    json_t *old;
    if (bi && strcmp(json_object_iter_key(bi), name) == 0) {
      old = json_object_iter_value(bi);
      bi = json_object_iter_next((json_t *)before, bi);
      matched++;
    } else {
      bi = NULL; /* the orders part: by name from here on */
      old = json_object_get(before, name);
    }
    if (!old || !json_equal(old, json_object_iter_value(ai)))
      json_array_append_new(changed, json_string(name));
  }
  if (matched == json_object_size(before))
    return changed; /* every field of before is in after */
  const char *name;
  json_t *value;
  json_object_foreach((json_t *)before, name, value) {
    if (!json_object_get(after, name))
      json_array_append_new(changed, json_string(name));
  }
  return changed;
}

/*
 * Compact ASCII JSON text of a state, malloc'd (*len set), NULL when out of
 * memory.  Rendered into a scratch buffer first (json_dumps would grow its
 * own by doubling); snap runs on one thread.
 */
static char *snap_text(const json_t *state, size_t *len) {
  static char *scratch;
  static size_t scratch_size;
  const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII;
  size_t n = scratch ? json_dumpb(state, scratch, scratch_size, flags) : 0;
  if (!scratch || n > scratch_size) {
    size_t size = scratch_size ? scratch_size : 8192;
    while (size < n)
      size *= 2;
    char *grown = realloc(scratch, size);
    if (!grown)
      return NULL;
    scratch = grown;
    scratch_size = size;
    n = json_dumpb(state, scratch, scratch_size, flags);
    if (n > scratch_size)
      return NULL;
  }
  if (n == 0)
    return NULL;
  char *text = malloc(n);
  if (text) {
    memcpy(text, scratch, n);
    *len = n;
  }
  return text;
}

/*
 * Move `entity` to state `after` (a reference this function takes) and report
 * the change.  op 0 means: 'u' with the changed fields, nothing if none.
 */
static void snap_emit(snap_t *snap, snap_entity_t *entity, char op, json_t *after, json_t *lost) {
  json_t *before = entity->state, *changed = NULL;
  if (op == 0) {
    changed = snap_diff(before, after);
    if (json_array_size(changed) == 0) {
      json_decref(changed);
      json_decref(after);
      return;
    }
    op = 'u';
  }
  if (!before && after)
    snap->counts[entity->kind]++;
  else if (before && !after)
    snap->counts[entity->kind]--;
  /* the texts: the old state's (rendered now if it was restored), the new one's */
  if (before && !entity->text)
    entity->text = snap_text(before, &entity->text_len);
  size_t after_len = 0;
  char *after_text = after ? snap_text(after, &after_len) : NULL;
  char *before_text = entity->text;
  size_t before_len = entity->text_len;
  entity->seq++;
  entity->state = after;
  entity->text = after_text;
  entity->text_len = after_len;
  entity->unconfirmed = 0;
  snap_change_t change = {
      .kind = entity->kind,
      .op = op,
      .entity_id = entity->id,
      .key = entity->key,
      .seq = entity->seq,
      .before = op == 'c' || op == 'r' ? NULL : before,
      .after = after,
      .changed = changed,
      .lost = lost,
      .line = {entity->line_kind, entity->line_guid, entity->line_extn},
      .before_text = op == 'c' || op == 'r' ? NULL : before_text,
      .before_len = before_len,
      .after_text = after_text,
      .after_len = after_len,
  };
  if ((change.before && !change.before_text) || (after && !after_text))
    change.before_text = change.after_text = NULL; /* out of memory: event renders the trees */
  snap->cb(snap->opaque, &change);
  free(before_text);
  json_decref(before);
  json_decref(changed);
}

/* ---- normalization ---- */

static json_t *snap_bits_names(codec_bitset_t set, uint32_t value) {
  json_t *names = json_array();
  size_t count;
  const codec_bit_t *bits = codec_bits(set, &count);
  uint32_t named = 0;
  for (size_t i = 0; i < count; i++) {
    named |= bits[i].mask;
    if (value & bits[i].mask)
      json_array_append_new(names, json_string(bits[i].name));
  }
  if (value & ~named) {
    char hex[16];
    snprintf(hex, sizeof(hex), "0x%x", value & ~named);
    json_array_append_new(names, json_string(hex));
  }
  return names;
}

static json_t *snap_value(const ProtobufCFieldDescriptor *field, const void *member) {
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    return json_integer(*(const int32_t *)member);
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return json_integer(*(const uint32_t *)member);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    return json_integer(*(const int64_t *)member);
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return json_integer((json_int_t) * (const uint64_t *)member);
  case PROTOBUF_C_TYPE_FLOAT:
    return json_real(*(const float *)member);
  case PROTOBUF_C_TYPE_DOUBLE:
    return json_real(*(const double *)member);
  case PROTOBUF_C_TYPE_BOOL:
    return json_boolean(*(const protobuf_c_boolean *)member);
  case PROTOBUF_C_TYPE_ENUM: {
    int v = *(const int *)member;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(field->descriptor, v);
    return ev ? json_string(ev->name) : json_integer(v);
  }
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)member;
    return json_string(s ? s : "");
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *b = member;
    char text[512];
    if (strcmp(field->name, "guid") == 0 && b->len == CODEC_GUID_LEN)
      codec_guid_format(b->data, b->len, text, sizeof(text));
    else if (b->len * 2 + 1 <= sizeof(text))
      codec_hex_format(b->data, b->len, text, sizeof(text));
    else
      snprintf(text, sizeof(text), "(%zu bytes)", b->len);
    return json_string(text);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
    return sub ? snap_pb_to_json(sub) : json_null();
  }
  }
  return json_null();
}

static size_t snap_elem_size(const ProtobufCFieldDescriptor *field) {
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_FLOAT:
    return 4;
  case PROTOBUF_C_TYPE_ENUM:
    return sizeof(int);
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_DOUBLE:
    return 8;
  case PROTOBUF_C_TYPE_BOOL:
    return sizeof(protobuf_c_boolean);
  case PROTOBUF_C_TYPE_STRING:
  case PROTOBUF_C_TYPE_MESSAGE:
    return sizeof(void *);
  case PROTOBUF_C_TYPE_BYTES:
    return sizeof(ProtobufCBinaryData);
  }
  return 0;
}

json_t *snap_pb_to_json(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  json_t *out = json_object();
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    const char *base = (const char *)msg;
    json_t *value;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)(base + field->quantifier_offset) != field->id)
        continue;
      value = snap_value(field, base + field->offset);
    } else if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + field->quantifier_offset);
      const char *arr = *(char *const *)(base + field->offset);
      value = json_array();
      for (size_t k = 0; k < n; k++)
        json_array_append_new(value, snap_value(field, arr + k * snap_elem_size(field)));
    } else {
      value = snap_value(field, base + field->offset);
    }
    json_object_set_new(out, field->name, value);
    if (strcmp(field->name, "featuresavailable") == 0) {
      uint32_t v = *(const uint32_t *)(base + field->offset);
      if (desc == &call_info__descriptor)
        json_object_set_new(out, "featuresavailable_names", snap_bits_names(CODEC_BITS_CALL_FEATURES, v));
      else if (desc == &notify_user__descriptor)
        json_object_set_new(out, "featuresavailable_names", snap_bits_names(CODEC_BITS_USER_FEATURES, v));
    }
  }
  return out;
}

/* ---- lookup indexes (extension, queue name, referencecallid) ---- */

static void snap_index_key(char *out, size_t size, snap_line_kind_t kind, const char *extn) {
  snprintf(out, size, "%s/%s", snap_line_kind_name(kind), extn);
}

/*
 * Drop `entity` from `map` under `key`; when it held the slot, hand the slot
 * to another live line holding the same value (two lines may share an
 * extension for a moment, while a NotifyLines moves it): a scan, but only
 * when a line is deleted or renumbered.
 */
static void snap_index_drop(snap_t *snap, strmap_t *map, const char *key, snap_entity_t *entity, int by_name) {
  if (strmap_get(map, key) != entity)
    return;
  strmap_del(map, key);
  char other[160];
  STRMAP_FOREACH(&snap->entities, node) {
    snap_entity_t *e = node->value;
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

/* Bring a line entity's index entries in line with its state (a live line: its extension and queue name). */
static void snap_line_index(snap_t *snap, snap_entity_t *line) {
  const char *extn = line->state && line->line_extn[0] ? line->line_extn : NULL;
  const char *name = line->state && line->line_kind == SNAP_LINE_QUEUE
                         ? json_string_value(json_object_get(line->state, "name"))
                         : NULL;
  char key[160];
  if (name && !*name)
    name = NULL;
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

/* Bring a call entity's referencecallid entry in line with its state (none once deleted). */
static void snap_call_ref_index(snap_t *snap, snap_entity_t *call) {
  int32_t ref = call->state ? (int32_t)json_integer_value(json_object_get(call->state, "referencecallid")) : 0;
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

/* ---- lines, users, queues ---- */

static void snap_entity_id(char *out, size_t size, const char *kind, const char *guid) {
  snprintf(out, size, "%s:%s", kind, guid);
}

static void snap_delete(snap_t *snap, snap_entity_t *entity, json_t *lost);

/* Delete every call of a line (the line is gone). */
static void snap_line_calls_delete(snap_t *snap, const char *line_guid, const char *why) {
  snap_entity_t **victims = NULL;
  size_t n = 0;
  for (size_t i = 0; i < snap->entities.size; i++) {
    for (strmap_node_t *node = snap->entities.buckets[i]; node; node = node->next) {
      snap_entity_t *entity = node->value;
      if (entity->kind == SNAP_CALL && entity->state && strcmp(entity->line_guid, line_guid) == 0) {
        snap_entity_t **grown = realloc(victims, (n + 1) * sizeof(*grown));
        if (!grown)
          break;
        victims = grown;
        victims[n++] = entity;
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", victims[i]->callid,
                             "referencecallid", 0, "reason", 0, "thisenddropped", 0, "description",
                             why, "synthetic", 1);
    snap_delete(snap, victims[i], lost);
    json_decref(lost);
  }
  free(victims);
}

/* Report a delete; a call is then forgotten, other kinds keep their seq. */
static void snap_delete(snap_t *snap, snap_entity_t *entity, json_t *lost) {
  if (!entity->state)
    return;
  snap_emit(snap, entity, 'd', NULL, lost);
  if (entity->kind == SNAP_LINE)
    snap_line_index(snap, entity);
  if (entity->kind == SNAP_CALL) {
    snap_call_ref_index(snap, entity);
    char ck[128];
    snap_callid_key(entity->line_guid, entity->callid, ck, sizeof(ck));
    if (strmap_get(&snap->callids, ck) == entity)
      strmap_del(&snap->callids, ck);
    strmap_del(&snap->entities, entity->id);
    snap_entity_free(entity);
  }
}

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
  json_t *after = json_pack("{s:s,s:s,s:s,s:s}", "kind", snap_line_kind_name(kind), "guid", guid,
                            "extn", extn ? extn : "", "name", name ? name : "");
  snap_emit(snap, entity, entity->state ? 0 : op_new, after, NULL);
  snap_line_index(snap, entity);
  /* keep the user's or queue's line extension current */
  char sub[96];
  snap_entity_id(sub, sizeof(sub), kind == SNAP_LINE_USER ? "user" : "queue", guid);
  snap_entity_t *owner = strmap_get(&snap->entities, sub);
  if (owner)
    snap_set_str(&owner->line_extn, extn);
}

static void snap_line_remove(snap_t *snap, snap_entity_t *line) {
  char sub[96];
  snap_entity_id(sub, sizeof(sub), line->line_kind == SNAP_LINE_USER ? "user" : "queue", line->key);
  snap_line_calls_delete(snap, line->key, "line deleted");
  snap_entity_t *owner = strmap_get(&snap->entities, sub);
  if (owner)
    snap_delete(snap, owner, NULL);
  snap_delete(snap, line, NULL);
}

void snap_lines_apply(snap_t *snap, const NotifyLines *lines, int full) {
  char op_new = full ? 'r' : 'c';
  if (full) { /* everything not listed again is gone */
    for (size_t i = 0; i < snap->entities.size; i++)
      for (strmap_node_t *n = snap->entities.buckets[i]; n; n = n->next)
        if (((snap_entity_t *)n->value)->kind == SNAP_LINE)
          ((snap_entity_t *)n->value)->unconfirmed = 1;
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
    snap_line_upsert(snap, SNAP_LINE_QUEUE, &lines->changequeue[i]->guid,
                     lines->changequeue[i]->extn, lines->changequeue[i]->name, op_new);
  for (size_t k = 0; k < lines->n_deleteuser + lines->n_deletequeue; k++) {
    const ProtobufCBinaryData *g = k < lines->n_deleteuser
                                       ? &lines->deleteuser[k]->guid
                                       : &lines->deletequeue[k - lines->n_deleteuser]->guid;
    char guid[64], id[96];
    codec_guid_format(g->data, g->len, guid, sizeof(guid));
    snap_entity_id(id, sizeof(id), "line", guid);
    snap_entity_t *line = strmap_get(&snap->entities, id);
    if (line)
      snap_line_remove(snap, line);
  }
  if (full) {
    snap_entity_t **gone = NULL;
    size_t n = 0;
    for (size_t i = 0; i < snap->entities.size; i++) {
      for (strmap_node_t *node = snap->entities.buckets[i]; node; node = node->next) {
        snap_entity_t *e = node->value;
        if (e->kind == SNAP_LINE && e->unconfirmed && e->state) {
          snap_entity_t **grown = realloc(gone, (n + 1) * sizeof(*grown));
          if (!grown)
            break;
          gone = grown;
          gone[n++] = e;
        }
      }
    }
    for (size_t i = 0; i < n; i++)
      snap_line_remove(snap, gone[i]);
    free(gone);
  }
}

/* The line entity of `guid`, for its extension. */
static const char *snap_line_extn(snap_t *snap, const char *guid) {
  char id[96];
  snap_entity_id(id, sizeof(id), "line", guid);
  snap_entity_t *line = strmap_get(&snap->entities, id);
  return line && line->state ? line->line_extn : "";
}

static snap_entity_t *snap_owner(snap_t *snap, snap_kind_t kind, const char *guid) {
  char id[96];
  snap_entity_id(id, sizeof(id), kind == SNAP_USER ? "user" : "queue", guid);
  snap_entity_t *entity = strmap_get(&snap->entities, id);
  if (!entity)
    entity = snap_entity_new(snap, kind, id, guid, kind == SNAP_USER ? SNAP_LINE_USER : SNAP_LINE_QUEUE,
                             guid, snap_line_extn(snap, guid));
  return entity;
}

void snap_user_apply(snap_t *snap, const char *guid, const NotifyUser *user, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  json_t *after = json_pack("{s:s}", "guid", guid);
  json_t *pb = snap_pb_to_json(&user->base);
  json_object_update(after, pb);
  json_decref(pb);
  json_t *ps = entity->state ? json_object_get(entity->state, "phonestate") : NULL;
  json_t *psn = entity->state ? json_object_get(entity->state, "phonestate_name") : NULL;
  json_object_set(after, "phonestate", ps ? ps : json_null());
  json_object_set(after, "phonestate_name", psn ? psn : json_null());
  if (user->extn && *user->extn)
    snap_set_str(&entity->line_extn, user->extn);
  snap_emit(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'), after, NULL);
}

void snap_presence_apply(snap_t *snap, const char *guid, const NotifyPresentity *entry, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  /* The entry carries only the phone state here: the same one changes nothing (no copy, no diff). */
  json_t *ps = entity->state ? json_object_get(entity->state, "phonestate") : NULL;
  if (json_is_integer(ps) && json_integer_value(ps) == entry->phonestate)
    return;
  /* shallow: states are never changed in place, so the copy may share children */
  json_t *after = entity->state ? json_copy(entity->state) : json_pack("{s:s}", "guid", guid);
  json_object_set_new(after, "phonestate", json_integer(entry->phonestate));
  json_object_set_new(after, "phonestate_name", json_string(snap_phonestate_name(entry->phonestate)));
  snap_emit(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'), after, NULL);
}

void snap_queue_apply(snap_t *snap, const char *guid, const NotifyQueue *queue, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_QUEUE, guid);
  if (!entity)
    return;
  json_t *after = json_pack("{s:s}", "guid", guid);
  json_t *pb = snap_pb_to_json(&queue->base);
  json_object_update(after, pb);
  json_decref(pb);
  if (queue->extn && *queue->extn)
    snap_set_str(&entity->line_extn, queue->extn);
  snap_emit(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'), after, NULL);
}

/* ---- calls ---- */

static snap_entity_t *snap_call_find(snap_t *snap, const snap_line_t *line, const CallInfo *ci,
                                     const char *gcid) {
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

static void snap_call_info(snap_t *snap, const snap_line_t *line, const CallInfo *ci) {
  char gcid[256] = "";
  if (ci->gcid.len && ci->gcid.len * 2 + 1 <= sizeof(gcid))
    codec_hex_format(ci->gcid.data, ci->gcid.len, gcid, sizeof(gcid));
  snap_entity_t *entity = snap_call_find(snap, line, ci, gcid);
  if (!entity) {
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
    entity = snap_entity_new(snap, SNAP_CALL, id, key, line->kind, line->guid, line->extn);
    if (!entity)
      return;
    entity->callid = ci->callid;
    snap_set_str(&entity->gcid, gcid);
    snap_callid_key(line->guid, ci->callid, ck, sizeof(ck));
    strmap_put(&snap->callids, ck, entity);
  }
  entity->unconfirmed = 0;
  snap_set_str(&entity->line_extn, line->extn);
  snap_emit(snap, entity, entity->state ? 0 : 'c', snap_pb_to_json(&ci->base), NULL);
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
    json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", cl->callid, "referencecallid",
                             cl->referencecallid, "reason", cl->reason, "thisenddropped",
                             cl->thisenddropped, "description", cl->description ? cl->description : "",
                             "synthetic", 0);
    snap_delete(snap, entity, lost);
    json_decref(lost);
  }
}

void snap_line_resync_begin(snap_t *snap, const char *line_guid) {
  for (size_t i = 0; i < snap->entities.size; i++) {
    for (strmap_node_t *n = snap->entities.buckets[i]; n; n = n->next) {
      snap_entity_t *e = n->value;
      if (e->kind == SNAP_CALL && strcmp(e->line_guid, line_guid) == 0)
        e->unconfirmed = 1;
    }
  }
}

size_t snap_line_resync_end(snap_t *snap, const char *line_guid) {
  snap_entity_t **gone = NULL;
  size_t n = 0;
  for (size_t i = 0; i < snap->entities.size; i++) {
    for (strmap_node_t *node = snap->entities.buckets[i]; node; node = node->next) {
      snap_entity_t *e = node->value;
      if (e->kind == SNAP_CALL && e->unconfirmed && e->state && strcmp(e->line_guid, line_guid) == 0) {
        snap_entity_t **grown = realloc(gone, (n + 1) * sizeof(*grown));
        if (!grown)
          break;
        gone = grown;
        gone[n++] = e;
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    json_t *lost = json_pack("{s:i,s:i,s:i,s:b,s:s,s:b}", "callid", gone[i]->callid, "referencecallid",
                             0, "reason", 0, "thisenddropped", 0, "description",
                             "ended while the bridge was not connected", "synthetic", 1);
    snap_delete(snap, gone[i], lost);
    json_decref(lost);
  }
  free(gone);
  return n;
}

/* ---- lookups and re-emission ---- */

static int snap_line_found(const snap_entity_t *e, snap_line_kind_t kind, snap_line_t *line) {
  if (!e || e->kind != SNAP_LINE || !e->state || e->line_kind != kind)
    return 0;
  line->kind = e->line_kind;
  line->guid = e->key;
  line->extn = e->line_extn;
  return 1;
}

/* By GUID (the entity map), extension, then queue name (the indexes): O(1). */
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

static uint32_t snap_state_u32(const json_t *state, const char *field) {
  return (uint32_t)json_integer_value(json_object_get(state, field));
}

int snap_call_find_on_line(const snap_t *snap, const char *line_guid, int by_reference, int32_t value,
                           int32_t *callid, uint32_t *features, uint32_t *features2) {
  const snap_entity_t *found = NULL;
  if (!by_reference) {
    char ck[128];
    snap_callid_key(line_guid, value, ck, sizeof(ck));
    found = strmap_get(&snap->callids, ck);
  } else if (value) {
    char rk[128];
    snap_callid_key(line_guid, value, rk, sizeof(rk));
    found = strmap_get(&snap->call_by_ref, rk);
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
  if (!e || !e->state || !json_object_get(e->state, "featuresavailable"))
    return 0;
  *features = snap_state_u32(e->state, "featuresavailable");
  return 1;
}

size_t snap_reemit(snap_t *snap, unsigned kind_mask, const char *line_guid) {
  size_t n = 0;
  for (int kind = 0; kind < SNAP__KIND_COUNT; kind++) {
    if (!(kind_mask & (1u << kind)))
      continue;
    for (size_t i = 0; i < snap->entities.size; i++) {
      for (strmap_node_t *node = snap->entities.buckets[i]; node; node = node->next) {
        snap_entity_t *e = node->value;
        if ((int)e->kind != kind || !e->state || (line_guid && strcasecmp(e->line_guid, line_guid) != 0))
          continue;
        snap_emit(snap, e, 'r', json_incref(e->state), NULL);
        n++;
      }
    }
  }
  return n;
}

/* ---- store records ---- */

json_t *snap_record(const snap_t *snap, const snap_change_t *change, int with_state) {
  (void)snap;
  if (change->kind == SNAP_CALL && change->op == 'd')
    return NULL;
  snap_entity_t *entity = strmap_get(&snap->entities, change->entity_id);
  if (!entity)
    return NULL;
  json_t *record = json_pack("{s:s,s:s,s:I,s:{s:s,s:s,s:s},s:i,s:s}", "kind", snap_kind_name(entity->kind),
                             "key", entity->key, "seq", (json_int_t)entity->seq, "line", "kind",
                             snap_line_kind_name(entity->line_kind), "guid", entity->line_guid, "extn",
                             entity->line_extn, "callid", entity->callid, "gcid", entity->gcid);
  if (record && with_state)
    json_object_set(record, "state", entity->state ? entity->state : json_null());
  return record;
}

int snap_restore(snap_t *snap, const char *entity_id, const json_t *record, char *errstr,
                 size_t errstr_size) {
  const char *kind_name = NULL, *key = NULL, *line_kind_name = NULL, *line_guid = NULL,
             *line_extn = NULL, *gcid = "";
  json_int_t seq = 0;
  int callid = 0;
  json_t *state = NULL;
  json_error_t jerr;
  if (json_unpack_ex((json_t *)record, &jerr, 0, "{s:s,s:s,s:I,s:o,s:{s:s,s:s,s:s},s?i,s?s}", "kind",
                     &kind_name, "key", &key, "seq", &seq, "state", &state, "line", "kind",
                     &line_kind_name, "guid", &line_guid, "extn", &line_extn, "callid", &callid,
                     "gcid", &gcid) != 0) {
    snprintf(errstr, errstr_size, "%s: bad record: %s", entity_id, jerr.text);
    return -1;
  }
  snap_kind_t kind = SNAP__KIND_COUNT;
  for (int k = 0; k < SNAP__KIND_COUNT; k++)
    if (strcmp(kind_name, snap_kinds[k].name) == 0)
      kind = (snap_kind_t)k;
  snap_line_kind_t line_kind;
  if (kind == SNAP__KIND_COUNT || snap_line_kind_parse(line_kind_name, &line_kind) != 0) {
    snprintf(errstr, errstr_size, "%s: bad record: unknown kind", entity_id);
    return -1;
  }
  if (strmap_get(&snap->entities, entity_id)) {
    snprintf(errstr, errstr_size, "%s: restored twice", entity_id);
    return -1;
  }
  snap_entity_t *entity = snap_entity_new(snap, kind, entity_id, key, line_kind, line_guid, line_extn);
  if (!entity) {
    snprintf(errstr, errstr_size, "%s: out of memory", entity_id);
    return -1;
  }
  entity->seq = (uint64_t)seq;
  entity->state = json_is_null(state) ? NULL : json_incref(state);
  if (entity->state)
    snap->counts[kind]++;
  entity->callid = callid;
  snap_set_str(&entity->gcid, gcid);
  entity->unconfirmed = 1;
  if (kind == SNAP_CALL) {
    char ck[128];
    snap_callid_key(line_guid, callid, ck, sizeof(ck));
    strmap_put(&snap->callids, ck, entity);
    snap_call_ref_index(snap, entity);
  } else if (kind == SNAP_LINE) {
    snap_line_index(snap, entity);
  }
  return 0;
}
