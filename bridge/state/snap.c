/*
 * snap: snapshot state and diff.  See snap.h for the design.
 *
 * A state is kept as its JSON text (compact, ASCII, the bytes jansson would
 * dump) plus where each top-level field's name and value lie in it.  A new
 * snapshot is written straight from the protobuf message into a scratch
 * buffer and compared with the last state field by field, byte for byte:
 * a Notify that changes nothing costs no allocation, and a change costs one
 * (the new state's block), with no jansson tree built on the way.  A tree is
 * parsed from the text only where a rare reader needs one (commands, store
 * records, queue names).
 */
#include "snap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <strings.h>

#include "codec_frame.h"
#include "codec_ids.h"
#include "codec_tables.h"
#include "jbuf.h"
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

/* ---- states: JSON text with its top-level fields located ---- */

/* Offsets into the state's text: the name (inside its quotes) and the value. */
typedef struct snap_field {
  uint32_t name_off, name_len, val_off, val_len;
} snap_field_t;

/* One malloc'd block: this header, the fields, then the text (NUL-terminated). */
typedef struct snap_state {
  size_t len, n;
  snap_field_t *fields;
  char *text;
} snap_state_t;

/* A state being written (in snap's scratch), or a finished one: the same view. */
typedef struct snap_view {
  const char *text;
  size_t len;
  const snap_field_t *fields;
  size_t n;
} snap_view_t;

static snap_view_t snap_state_view(const snap_state_t *st) {
  snap_view_t v = {st->text, st->len, st->fields, st->n};
  return v;
}

/* The field named name[0..len) in v, or v->n.  Fields come in a fixed order: `hint` is where to look first. */
static size_t snap_view_find(const snap_view_t *v, const char *name, size_t len, size_t hint) {
  for (size_t k = 0; k < v->n; k++) {
    size_t i = (hint + k) % v->n;
    if (v->fields[i].name_len == len && memcmp(v->text + v->fields[i].name_off, name, len) == 0)
      return i;
  }
  return v->n;
}

/* The value text of a field (not NUL-terminated), NULL when absent. */
static const char *snap_state_value(const snap_state_t *st, const char *name, size_t *len) {
  if (!st)
    return NULL;
  snap_view_t v = snap_state_view(st);
  size_t i = snap_view_find(&v, name, strlen(name), 0);
  if (i == v.n)
    return NULL;
  *len = st->fields[i].val_len;
  return st->text + st->fields[i].val_off;
}

/* An integer field: 1 and *out, or 0 (absent or not an integer). */
static int snap_state_int(const snap_state_t *st, const char *name, long long *out) {
  size_t len;
  const char *v = snap_state_value(st, name, &len);
  if (!v || len == 0 || len > 20 || !(isdigit((unsigned char)v[0]) || v[0] == '-'))
    return 0;
  char num[24];
  memcpy(num, v, len);
  num[len] = '\0';
  char *end;
  *out = strtoll(num, &end, 10);
  return *end == '\0';
}

static snap_state_t *snap_state_new(const snap_view_t *v) {
  snap_state_t *st = malloc(sizeof(*st) + v->n * sizeof(snap_field_t) + v->len + 1);
  if (!st)
    return NULL;
  st->len = v->len;
  st->n = v->n;
  st->fields = (snap_field_t *)(st + 1);
  st->text = (char *)(st->fields + v->n);
  if (v->n)
    memcpy(st->fields, v->fields, v->n * sizeof(snap_field_t));
  memcpy(st->text, v->text, v->len);
  st->text[v->len] = '\0';
  return st;
}

static snap_state_t *snap_state_dup(const snap_state_t *st) {
  snap_view_t v = snap_state_view(st);
  return snap_state_new(&v);
}

/* ---- entities ---- */

typedef struct snap_entity {
  char *id;
  snap_kind_t kind;
  char *key;
  uint64_t seq;
  snap_state_t *state; /* NULL once deleted (the seq is kept for users, queues, lines) */
  json_t *tree;        /* the state parsed, for the rare readers that want one; NULL: not yet */
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

/* One field named in a change: in the new state (after) or, for one that went away, the old. */
typedef struct snap_diff_ref {
  int in_before;
  size_t index;
} snap_diff_ref_t;

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
  /* scratch, reused from one change to the next (snap runs on one thread) */
  jbuf_t wb;           /* the state being written */
  snap_field_t *wf;    /* ... its top-level fields */
  size_t wn, wcap;
  int wfailed;
  snap_diff_ref_t *diff; /* the changed fields of the last diff */
  size_t diff_cap;
  snap_name_t *names;  /* the names a change reports */
  size_t names_cap;
};

/* The entity's state as a jansson tree, parsed once (a cache: the state is not changed by it). */
static json_t *snap_entity_tree(const snap_entity_t *entity) {
  snap_entity_t *e = (snap_entity_t *)entity;
  if (!e->state)
    return NULL;
  if (!e->tree)
    e->tree = json_loadb(e->state->text, e->state->len, 0, NULL);
  return e->tree;
}

static void snap_entity_set_state(snap_entity_t *entity, snap_state_t *state) {
  free(entity->state);
  entity->state = state;
  json_decref(entity->tree);
  entity->tree = NULL;
}

static void snap_entity_free(void *p) {
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
  snap_entity_set_state(entity, NULL);
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
  jbuf_free(&snap->wb);
  free(snap->wf);
  free(snap->diff);
  free(snap->names);
  free(snap);
}

size_t snap_count(const snap_t *snap, snap_kind_t kind) { return snap->counts[kind]; }

static void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size);

const json_t *snap_call_state(const snap_t *snap, const char *line_guid, int32_t callid) {
  char ck[128];
  snap_callid_key(line_guid, callid, ck, sizeof(ck));
  const snap_entity_t *entity = strmap_get(&snap->callids, ck);
  return entity ? snap_entity_tree(entity) : NULL;
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
  if (*field && strcmp(*field, value ? value : "") == 0)
    return; /* the usual case: unchanged, no copy */
  char *copy = strdup(value ? value : "");
  if (copy) {
    free(*field);
    *field = copy;
  }
}

static void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size) {
  snprintf(out, size, "%s/%d", line_guid, callid);
}

/* ---- writing a state into the scratch ---- */

static void snap_w_begin(snap_t *snap) {
  jbuf_reset(&snap->wb);
  snap->wn = 0;
  snap->wfailed = 0;
  jbuf_char(&snap->wb, '{');
}

/* A top-level member's name (any text: escaped as needed), its value to follow. */
static void snap_w_keyn(snap_t *snap, const char *name, size_t len) {
  jbuf_t *b = &snap->wb;
  if (snap->wn)
    jbuf_char(b, ',');
  size_t start = b->len;
  jbuf_jstrn(b, name, len);
  jbuf_char(b, ':');
  if (snap->wn == snap->wcap) {
    size_t cap = snap->wcap ? snap->wcap * 2 : 64;
    snap_field_t *grown = realloc(snap->wf, cap * sizeof(*grown));
    if (!grown) {
      snap->wfailed = 1;
      return;
    }
    snap->wf = grown;
    snap->wcap = cap;
  }
  snap_field_t *f = &snap->wf[snap->wn++];
  f->name_off = (uint32_t)start + 1;
  f->name_len = (uint32_t)(b->len - start - 3); /* without the quotes and the colon */
  f->val_off = (uint32_t)b->len;
  f->val_len = 0;
}

static void snap_w_key(snap_t *snap, const char *name) { snap_w_keyn(snap, name, strlen(name)); }

/* Close the object and work out each value's length (up to the next ',"' or the final '}'); 0 or -1. */
static int snap_w_end(snap_t *snap) {
  jbuf_t *b = &snap->wb;
  jbuf_char(b, '}');
  if (b->failed || snap->wfailed || b->len > UINT32_MAX)
    return -1;
  for (size_t i = 0; i < snap->wn; i++) {
    size_t end = i + 1 < snap->wn ? snap->wf[i + 1].name_off - 2 : b->len - 1;
    snap->wf[i].val_len = (uint32_t)(end - snap->wf[i].val_off);
  }
  return 0;
}

static snap_view_t snap_w_view(const snap_t *snap) {
  snap_view_t v = {snap->wb.data, snap->wb.len, snap->wf, snap->wn};
  return v;
}

/* ---- normalization: protobuf to the state's JSON ---- */

static void snap_bits_names_write(jbuf_t *b, codec_bitset_t set, uint32_t value) {
  size_t count;
  const codec_bit_t *bits = codec_bits(set, &count);
  uint32_t named = 0;
  int first = 1;
  jbuf_char(b, '[');
  for (size_t i = 0; i < count; i++) {
    named |= bits[i].mask;
    if (value & bits[i].mask) {
      if (!first)
        jbuf_char(b, ',');
      first = 0;
      jbuf_jstr(b, bits[i].name);
    }
  }
  if (value & ~named) {
    char hex[16];
    snprintf(hex, sizeof(hex), "0x%x", value & ~named);
    if (!first)
      jbuf_char(b, ',');
    jbuf_jstr(b, hex);
  }
  jbuf_char(b, ']');
}

static json_t *snap_bits_names(codec_bitset_t set, uint32_t value) {
  jbuf_t b = JBUF_INIT;
  snap_bits_names_write(&b, set, value);
  json_t *names = b.failed ? NULL : json_loadb(b.data, b.len, 0, NULL);
  jbuf_free(&b);
  return names ? names : json_array();
}

/* The featuresavailable bit set a message's featuresavailable field names, if any. */
static int snap_features_set(const ProtobufCMessageDescriptor *desc, codec_bitset_t *set) {
  if (desc == &call_info__descriptor)
    *set = CODEC_BITS_CALL_FEATURES;
  else if (desc == &notify_user__descriptor)
    *set = CODEC_BITS_USER_FEATURES;
  else
    return 0;
  return 1;
}

/* A bytes field's text: a GUID as a UUID, anything else as hex (long ones only counted). */
static void snap_bytes_text(const ProtobufCFieldDescriptor *field, const ProtobufCBinaryData *b, char *text,
                            size_t size) {
  if (strcmp(field->name, "guid") == 0 && b->len == CODEC_GUID_LEN)
    codec_guid_format(b->data, b->len, text, size);
  else if (b->len * 2 + 1 <= size)
    codec_hex_format(b->data, b->len, text, size);
  else
    snprintf(text, size, "(%zu bytes)", b->len);
}

static void snap_write_object(snap_t *snap, jbuf_t *b, const ProtobufCMessage *msg, int top);

static void snap_write_value(snap_t *snap, jbuf_t *b, const ProtobufCFieldDescriptor *field,
                             const void *member) {
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    jbuf_int(b, *(const int32_t *)member);
    return;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    jbuf_uint(b, *(const uint32_t *)member);
    return;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64: /* as jansson holds it: a signed 64-bit integer */
  case PROTOBUF_C_TYPE_FIXED64:
    jbuf_int(b, *(const int64_t *)member);
    return;
  case PROTOBUF_C_TYPE_FLOAT: /* none in MTCTI3: let jansson write them */
  case PROTOBUF_C_TYPE_DOUBLE: {
    json_t *real = json_real(field->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)member
                                                                   : *(const double *)member);
    jbuf_json(b, real);
    json_decref(real);
    return;
  }
  case PROTOBUF_C_TYPE_BOOL:
    jbuf_str(b, *(const protobuf_c_boolean *)member ? "true" : "false");
    return;
  case PROTOBUF_C_TYPE_ENUM: {
    int v = *(const int *)member;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(field->descriptor, v);
    if (ev)
      jbuf_jstr(b, ev->name);
    else
      jbuf_int(b, v);
    return;
  }
  case PROTOBUF_C_TYPE_STRING:
    jbuf_jstr(b, *(char *const *)member);
    return;
  case PROTOBUF_C_TYPE_BYTES: {
    char text[512];
    snap_bytes_text(field, member, text, sizeof(text));
    jbuf_jstr(b, text);
    return;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
    if (sub)
      snap_write_object(snap, b, sub, 0);
    else
      jbuf_str(b, "null");
    return;
  }
  }
  jbuf_str(b, "null");
}

/*
 * Every field of msg, as snap_pb_to_json has them, in its order.  top: as
 * members of the state being written (located, the braces the caller's);
 * else a whole object into b.
 */
static void snap_write_object(snap_t *snap, jbuf_t *b, const ProtobufCMessage *msg, int top) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  const char *base = (const char *)msg;
  int first = 1;
  if (!top)
    jbuf_char(b, '{');
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    if ((field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(const uint32_t *)(base + field->quantifier_offset) != field->id)
      continue;
    if (top) {
      snap_w_key(snap, field->name);
    } else {
      if (!first)
        jbuf_char(b, ',');
      jbuf_jstr(b, field->name);
      jbuf_char(b, ':');
    }
    first = 0;
    if (field->label == PROTOBUF_C_LABEL_REPEATED && !(field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
      size_t n = *(const size_t *)(base + field->quantifier_offset);
      const char *arr = *(char *const *)(base + field->offset);
      jbuf_char(b, '[');
      for (size_t k = 0; k < n; k++) {
        if (k)
          jbuf_char(b, ',');
        snap_write_value(snap, b, field, arr + k * codec_field_elem_size(field));
      }
      jbuf_char(b, ']');
    } else {
      snap_write_value(snap, b, field, base + field->offset);
    }
    codec_bitset_t set;
    if (strcmp(field->name, "featuresavailable") == 0 && snap_features_set(desc, &set)) {
      if (top) {
        snap_w_key(snap, "featuresavailable_names");
      } else {
        jbuf_str(b, ",\"featuresavailable_names\":");
      }
      snap_bits_names_write(b, set, *(const uint32_t *)(base + field->offset));
    }
  }
  if (!top)
    jbuf_char(b, '}');
}

/* ---- diff and emit ---- */

/*
 * The top-level fields that differ between the entity's state and the one
 * written in the scratch, into snap->diff: those of `after` in its order,
 * then those only `before` has.  States of one entity are written by the
 * same code, so their fields come in the same order: each lookup starts
 * where the last match left off.  Returns how many (-1: out of memory).
 */
static long snap_diff(snap_t *snap, const snap_view_t *before, const snap_view_t *after) {
  size_t n = 0, hint = 0, matched = 0;
  if (snap->diff_cap < after->n + before->n) {
    snap_diff_ref_t *grown = realloc(snap->diff, (after->n + before->n) * sizeof(*grown));
    if (!grown)
      return -1;
    snap->diff = grown;
    snap->diff_cap = after->n + before->n;
  }
  for (size_t i = 0; i < after->n; i++) {
    const snap_field_t *af = &after->fields[i];
    size_t j = before->n ? snap_view_find(before, after->text + af->name_off, af->name_len, hint) : 0;
    if (j < before->n) {
      matched++;
      hint = j + 1;
      const snap_field_t *bf = &before->fields[j];
      if (bf->val_len == af->val_len &&
          memcmp(before->text + bf->val_off, after->text + af->val_off, af->val_len) == 0)
        continue;
    }
    snap->diff[n].in_before = 0;
    snap->diff[n++].index = i;
  }
  if (matched < before->n) { /* fields that went away */
    for (size_t j = 0; j < before->n; j++) {
      const snap_field_t *bf = &before->fields[j];
      if (snap_view_find(after, before->text + bf->name_off, bf->name_len, j) == after->n) {
        snap->diff[n].in_before = 1;
        snap->diff[n++].index = j;
      }
    }
  }
  return (long)n;
}

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

/*
 * Move `entity` to state `after` (taken; NULL for a delete) and report the
 * change.  For 'u', snap->diff holds the n_diff changed fields, indexed as
 * in `after`.
 */
static void snap_commit(snap_t *snap, snap_entity_t *entity, char op, snap_state_t *after, const json_t *lost,
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
  json_t *tree = entity->tree;
  entity->tree = NULL;
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
  };
  snap->cb(snap->opaque, &change);
  free(before);
  json_decref(tree);
}

/* The state written in the scratch becomes the entity's: op 0 means 'u' with the changed fields, nothing if none. */
static void snap_apply_written(snap_t *snap, snap_entity_t *entity, char op) {
  if (snap_w_end(snap) != 0)
    return; /* out of memory: the next snapshot brings it */
  snap_view_t after_view = snap_w_view(snap);
  long n_diff = 0;
  if (op == 0) {
    snap_view_t before_view = snap_state_view(entity->state);
    n_diff = snap_diff(snap, &before_view, &after_view);
    if (n_diff <= 0)
      return;
    op = 'u';
  }
  snap_state_t *after = snap_state_new(&after_view);
  if (after)
    snap_commit(snap, entity, op, after, NULL, (size_t)n_diff);
}

/* ---- the public normalizations ---- */

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
    char text[512];
    snap_bytes_text(field, member, text, sizeof(text));
    return json_string(text);
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
    return sub ? snap_pb_to_json(sub) : json_null();
  }
  }
  return json_null();
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
        json_array_append_new(value, snap_value(field, arr + k * codec_field_elem_size(field)));
    } else {
      value = snap_value(field, base + field->offset);
    }
    json_object_set_new(out, field->name, value);
    codec_bitset_t set;
    if (strcmp(field->name, "featuresavailable") == 0 && snap_features_set(desc, &set))
      json_object_set_new(out, "featuresavailable_names",
                          snap_bits_names(set, *(const uint32_t *)(base + field->offset)));
  }
  return out;
}

char *snap_pb_text(const ProtobufCMessage *msg) {
  snap_t scratch;
  memset(&scratch, 0, sizeof(scratch));
  jbuf_t b = JBUF_INIT;
  snap_write_object(&scratch, &b, msg, 0);
  char *text = jbuf_dup(&b);
  jbuf_free(&b);
  return text;
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
                         ? json_string_value(json_object_get(snap_entity_tree(line), "name"))
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
  long long value = 0;
  int32_t ref = snap_state_int(call->state, "referencecallid", &value) ? (int32_t)value : 0;
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
  snap_commit(snap, entity, 'd', NULL, lost, 0);
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
  snap_w_begin(snap);
  snap_w_key(snap, "kind");
  jbuf_jstr(&snap->wb, snap_line_kind_name(kind));
  snap_w_key(snap, "guid");
  jbuf_jstr(&snap->wb, guid);
  snap_w_key(snap, "extn");
  jbuf_jstr(&snap->wb, extn);
  snap_w_key(snap, "name");
  jbuf_jstr(&snap->wb, name);
  snap_apply_written(snap, entity, entity->state ? 0 : op_new);
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

/* Copy the value of `name` from the old state, or write null. */
static void snap_w_carry(snap_t *snap, const snap_state_t *old, const char *name) {
  size_t len;
  const char *value = snap_state_value(old, name, &len);
  snap_w_key(snap, name);
  if (value)
    jbuf_put(&snap->wb, value, len);
  else
    jbuf_str(&snap->wb, "null");
}

void snap_user_apply(snap_t *snap, const char *guid, const NotifyUser *user, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  /* {guid, every NotifyUser field, phonestate and its name as the presence subscription last said} */
  snap_w_begin(snap);
  snap_w_key(snap, "guid");
  jbuf_jstr(&snap->wb, guid);
  snap_write_object(snap, &snap->wb, &user->base, 1);
  snap_w_carry(snap, entity->state, "phonestate");
  snap_w_carry(snap, entity->state, "phonestate_name");
  if (user->extn && *user->extn)
    snap_set_str(&entity->line_extn, user->extn);
  snap_apply_written(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
}

void snap_presence_apply(snap_t *snap, const char *guid, const NotifyPresentity *entry, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_USER, guid);
  if (!entity)
    return;
  /* The entry carries only the phone state here: the same one changes nothing (no copy, no diff). */
  long long ps;
  if (snap_state_int(entity->state, "phonestate", &ps) && ps == entry->phonestate)
    return;
  /* the old state with phonestate and its name replaced in place (or added at the end) */
  const snap_state_t *old = entity->state;
  int seen_ps = 0, seen_psn = 0;
  snap_w_begin(snap);
  if (!old) {
    snap_w_key(snap, "guid");
    jbuf_jstr(&snap->wb, guid);
  }
  for (size_t i = 0; old && i < old->n; i++) {
    const snap_field_t *f = &old->fields[i];
    const char *name = old->text + f->name_off;
    snap_w_keyn(snap, name, f->name_len);
    if (f->name_len == 10 && memcmp(name, "phonestate", 10) == 0 && (seen_ps = 1))
      jbuf_int(&snap->wb, entry->phonestate);
    else if (f->name_len == 15 && memcmp(name, "phonestate_name", 15) == 0 && (seen_psn = 1))
      jbuf_jstr(&snap->wb, snap_phonestate_name(entry->phonestate));
    else
      jbuf_put(&snap->wb, old->text + f->val_off, f->val_len);
  }
  if (!seen_ps) {
    snap_w_key(snap, "phonestate");
    jbuf_int(&snap->wb, entry->phonestate);
  }
  if (!seen_psn) {
    snap_w_key(snap, "phonestate_name");
    jbuf_jstr(&snap->wb, snap_phonestate_name(entry->phonestate));
  }
  snap_apply_written(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
}

void snap_queue_apply(snap_t *snap, const char *guid, const NotifyQueue *queue, int snapshot) {
  snap_entity_t *entity = snap_owner(snap, SNAP_QUEUE, guid);
  if (!entity)
    return;
  snap_w_begin(snap);
  snap_w_key(snap, "guid");
  jbuf_jstr(&snap->wb, guid);
  snap_write_object(snap, &snap->wb, &queue->base, 1);
  if (queue->extn && *queue->extn)
    snap_set_str(&entity->line_extn, queue->extn);
  snap_apply_written(snap, entity, entity->state ? 0 : (snapshot ? 'r' : 'c'));
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
  snap_w_begin(snap);
  snap_write_object(snap, &snap->wb, &ci->base, 1);
  snap_apply_written(snap, entity, entity->state ? 0 : 'c');
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

static uint32_t snap_state_u32(const snap_state_t *state, const char *field) {
  long long value = 0;
  return snap_state_int(state, field, &value) ? (uint32_t)value : 0;
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
  size_t len;
  if (!e || !snap_state_value(e->state, "featuresavailable", &len))
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
        snap_state_t *again = snap_state_dup(e->state);
        if (!again)
          return n;
        snap_commit(snap, e, 'r', again, NULL, 0);
        n++;
      }
    }
  }
  return n;
}

void snap_walk(const snap_t *snap, snap_change_cb *cb, void *opaque) {
  for (int kind = 0; kind < SNAP__KIND_COUNT; kind++) { /* lines, users and queues before their calls */
    STRMAP_FOREACH(&snap->entities, node) {
      const snap_entity_t *e = node->value;
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
      };
      cb(opaque, &change);
    }
  }
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
  if (record && with_state) {
    json_t *tree = snap_entity_tree(entity);
    json_object_set(record, "state", tree ? tree : json_null());
  }
  return record;
}

int snap_record_write(const snap_t *snap, const snap_change_t *change, jbuf_t *b) {
  if (change->kind == SNAP_CALL && change->op == 'd')
    return 0;
  const snap_entity_t *entity = strmap_get(&snap->entities, change->entity_id);
  if (!entity)
    return 0;
  /* the keys in snap_record's order, then the version */
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
  if (!json_is_null(state) && !json_is_object(state)) {
    snprintf(errstr, errstr_size, "%s: bad record: state is not an object", entity_id);
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
  if (!json_is_null(state)) { /* written as the live states are: the same bytes for the same content */
    snap_w_begin(snap);
    const char *name;
    json_t *value;
    json_object_foreach(state, name, value) {
      snap_w_key(snap, name);
      jbuf_json(&snap->wb, value);
    }
    int failed = snap_w_end(snap);
    snap_view_t view = snap_w_view(snap);
    if (failed || !(entity->state = snap_state_new(&view))) {
      snprintf(errstr, errstr_size, "%s: out of memory", entity_id);
      strmap_del(&snap->entities, entity_id);
      snap_entity_free(entity);
      return -1;
    }
  }
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
