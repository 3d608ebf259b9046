/*
 * codec_walk: fields and values of a decoded message, through protobuf-c's
 * descriptors.  See codec_walk.h for the design.
 */
#include "codec_walk.h"

#include <pthread.h>
#include <string.h>

#include "ipo_mtcti3.pb-c.h"

/* ---- the types: one row per ProtobufCType ---- */

_Static_assert(PROTOBUF_C_TYPE_MESSAGE + 1 == CODEC_WALK_TYPES, "one row per ProtobufCType");

const codec_type_t codec_walk_types[CODEC_WALK_TYPES] = {
    [PROTOBUF_C_TYPE_INT32] = {"int32", CODEC_VALUE_INT, 0, sizeof(int32_t), 0},
    [PROTOBUF_C_TYPE_SINT32] = {"sint32", CODEC_VALUE_INT, 0, sizeof(int32_t), 0},
    [PROTOBUF_C_TYPE_SFIXED32] = {"sfixed32", CODEC_VALUE_INT, 0, sizeof(int32_t), 5},
    [PROTOBUF_C_TYPE_INT64] = {"int64", CODEC_VALUE_INT, 1, sizeof(int64_t), 0},
    [PROTOBUF_C_TYPE_SINT64] = {"sint64", CODEC_VALUE_INT, 1, sizeof(int64_t), 0},
    [PROTOBUF_C_TYPE_SFIXED64] = {"sfixed64", CODEC_VALUE_INT, 1, sizeof(int64_t), 1},
    [PROTOBUF_C_TYPE_UINT32] = {"uint32", CODEC_VALUE_UINT, 0, sizeof(uint32_t), 0},
    [PROTOBUF_C_TYPE_FIXED32] = {"fixed32", CODEC_VALUE_UINT, 0, sizeof(uint32_t), 5},
    [PROTOBUF_C_TYPE_UINT64] = {"uint64", CODEC_VALUE_UINT, 1, sizeof(uint64_t), 0},
    [PROTOBUF_C_TYPE_FIXED64] = {"fixed64", CODEC_VALUE_UINT, 1, sizeof(uint64_t), 1},
    [PROTOBUF_C_TYPE_FLOAT] = {"float", CODEC_VALUE_REAL, 0, sizeof(float), 5},
    [PROTOBUF_C_TYPE_DOUBLE] = {"double", CODEC_VALUE_REAL, 1, sizeof(double), 1},
    [PROTOBUF_C_TYPE_BOOL] = {"bool", CODEC_VALUE_BOOL, 0, sizeof(protobuf_c_boolean), 0},
    /* protobuf-c stores an enum as its C enum type */
    [PROTOBUF_C_TYPE_ENUM] = {"enum", CODEC_VALUE_ENUM, 0, sizeof(int), 0},
    [PROTOBUF_C_TYPE_STRING] = {"string", CODEC_VALUE_STRING, 0, sizeof(char *), 2},
    [PROTOBUF_C_TYPE_BYTES] = {"bytes", CODEC_VALUE_BYTES, 0, sizeof(ProtobufCBinaryData), 2},
    [PROTOBUF_C_TYPE_MESSAGE] = {"message", CODEC_VALUE_MESSAGE, 0, sizeof(ProtobufCMessage *), 2},
};

/* ---- presence ---- */

/* A string or a message: held through a pointer. */
static int codec_walk_pointer(const ProtobufCFieldDescriptor *field) {
  return field->type == PROTOBUF_C_TYPE_STRING || field->type == PROTOBUF_C_TYPE_MESSAGE;
}

/* Whether an implicit-presence (proto3) value is its type's default. */
static int codec_walk_is_default(const ProtobufCFieldDescriptor *field, const void *member) {
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_ENUM:
    return *(const int32_t *)member == 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return *(const int64_t *)member == 0;
  case PROTOBUF_C_TYPE_FLOAT: {
    uint32_t bits;
    memcpy(&bits, member, sizeof(bits));
    return bits == 0; /* -0.0 is not the default, as on the wire */
  }
  case PROTOBUF_C_TYPE_DOUBLE: {
    uint64_t bits;
    memcpy(&bits, member, sizeof(bits));
    return bits == 0;
  }
  case PROTOBUF_C_TYPE_BOOL:
    return !*(const protobuf_c_boolean *)member;
  case PROTOBUF_C_TYPE_STRING: {
    const char *s = *(char *const *)member;
    return !s || !*s;
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)member)->len == 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(ProtobufCMessage *const *)member == NULL;
  }
  return 1;
}

/* Whether a singular field that is not in a oneof is visited by CODEC_WALK_SET (what protobuf-c packs). */
static int codec_walk_singular_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field) {
  const char *base = (const char *)msg;
  const void *member = base + field->offset;
  switch (field->label) {
  case PROTOBUF_C_LABEL_REQUIRED:
    return 1;
  case PROTOBUF_C_LABEL_OPTIONAL:
    if (codec_walk_pointer(field))
      return *(void *const *)member != NULL && *(void *const *)member != field->default_value;
    return *(const protobuf_c_boolean *)(base + field->quantifier_offset) != 0;
  default:
    return !codec_walk_is_default(field, member);
  }
}

/* ---- what a walk needs of each field, worked out once per message type ---- */

struct codec_walk_info {
  uint16_t name_len;
  uint8_t style; /* codec_style_t */
  uint8_t bits;  /* codec_bitset_t */
};

/*
 * Every message type of ipo_mtcti3.proto (those reachable from Message), its
 * fields' infos in one pool: an open-addressed table by descriptor address.
 * Built once; a type that does not fit is worked out field by field instead.
 */
#define WALK_TYPES 256 /* a power of two, over twice the types (68) */
#define WALK_FIELDS 1024

static struct {
  const ProtobufCMessageDescriptor *desc;
  const struct codec_walk_info *info;
} walk_types[WALK_TYPES];
static struct codec_walk_info walk_pool[WALK_FIELDS];
static size_t walk_pool_used;
static pthread_once_t walk_once = PTHREAD_ONCE_INIT;

static size_t walk_slot(const ProtobufCMessageDescriptor *desc) {
  return (size_t)(((uintptr_t)desc >> 4) * 0x9e3779b97f4a7c15ull >> 32) & (WALK_TYPES - 1);
}

static void walk_info_of(const ProtobufCMessageDescriptor *desc, unsigned i, struct codec_walk_info *info) {
  codec_bitset_t bits = 0;
  size_t len = strlen(desc->fields[i].name);
  info->name_len = (uint16_t)(len < UINT16_MAX ? len : UINT16_MAX);
  info->style = (uint8_t)codec_walk_style(desc, &desc->fields[i], &bits);
  info->bits = (uint8_t)bits;
}

static void walk_types_add(const ProtobufCMessageDescriptor *desc, size_t depth) {
  size_t slot = walk_slot(desc), probes = 0;
  while (walk_types[slot].desc && walk_types[slot].desc != desc && probes++ < WALK_TYPES)
    slot = (slot + 1) & (WALK_TYPES - 1);
  if (walk_types[slot].desc || probes >= WALK_TYPES || walk_pool_used + desc->n_fields > WALK_FIELDS ||
      depth > 64)
    return; /* known already, or no room: worked out field by field */
  struct codec_walk_info *info = &walk_pool[walk_pool_used];
  walk_pool_used += desc->n_fields;
  for (unsigned i = 0; i < desc->n_fields; i++)
    walk_info_of(desc, i, &info[i]);
  walk_types[slot].info = info;
  walk_types[slot].desc = desc;
  for (unsigned i = 0; i < desc->n_fields; i++)
    if (desc->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
      walk_types_add(desc->fields[i].descriptor, depth + 1);
}

static void walk_types_build(void) { walk_types_add(&message__descriptor, 0); }

static const struct codec_walk_info *walk_types_find(const ProtobufCMessageDescriptor *desc) {
  size_t slot = walk_slot(desc);
  for (size_t probes = 0; probes < WALK_TYPES && walk_types[slot].desc; probes++) {
    if (walk_types[slot].desc == desc)
      return walk_types[slot].info;
    slot = (slot + 1) & (WALK_TYPES - 1);
  }
  return NULL;
}

/* ---- the walk ---- */

void codec_walk_begin(codec_walk_t *walk, const ProtobufCMessage *msg, codec_walk_mode_t mode) {
  memset(walk, 0, sizeof(*walk));
  walk->desc = msg->descriptor;
  walk->msg = msg;
  walk->mode = mode;
  pthread_once(&walk_once, walk_types_build);
  walk->info = walk_types_find(walk->desc);
}

/* The walk stops at field i: what the renderings need of it. */
static int codec_walk_at(codec_walk_t *walk, unsigned i, int repeated, size_t count) {
  struct codec_walk_info computed;
  const struct codec_walk_info *info = walk->info ? &walk->info[i] : &computed;
  if (!walk->info)
    walk_info_of(walk->desc, i, &computed);
  walk->field = &walk->desc->fields[i];
  walk->name_len = info->name_len;
  walk->style = (codec_style_t)info->style;
  walk->bits = (codec_bitset_t)info->bits;
  walk->repeated = repeated;
  walk->count = count;
  return 1;
}

int codec_walk_next(codec_walk_t *walk) {
  const ProtobufCMessageDescriptor *desc = walk->desc;
  const char *base = (const char *)walk->msg;
  while (walk->next < desc->n_fields) {
    unsigned i = walk->next++;
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + field->quantifier_offset);
      if (!*(void *const *)(base + field->offset))
        n = 0;
      if (!n && walk->mode == CODEC_WALK_SET)
        continue;
      return codec_walk_at(walk, i, 1, n);
    }
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      /* the member set; in a message built by hand its pointer may be NULL */
      if (*(const uint32_t *)(base + field->quantifier_offset) != field->id)
        continue;
    } else if (walk->mode == CODEC_WALK_SET && !codec_walk_singular_set(walk->msg, field)) {
      continue;
    }
    return codec_walk_at(walk, i, 0, 1);
  }
  return 0;
}

void codec_walk_value(const codec_walk_t *walk, size_t index, codec_value_t *value) {
  const ProtobufCFieldDescriptor *field = walk->field;
  const char *member = (const char *)walk->msg + field->offset;
  const codec_type_t *type = codec_walk_type(field->type);
  if (walk->repeated)
    member = *(const char *const *)member + index * type->elem_size;
  value->kind = type->kind;
  value->wide = type->wide;
  value->name = NULL;
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    value->i = *(const int32_t *)member;
    return;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    value->i = *(const int64_t *)member;
    return;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    value->u = *(const uint32_t *)member;
    return;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    value->u = *(const uint64_t *)member;
    return;
  case PROTOBUF_C_TYPE_FLOAT:
    value->d = *(const float *)member;
    return;
  case PROTOBUF_C_TYPE_DOUBLE:
    value->d = *(const double *)member;
    return;
  case PROTOBUF_C_TYPE_BOOL:
    value->b = *(const protobuf_c_boolean *)member != 0;
    return;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumValue *ev;
    value->i = *(const int *)member;
    ev = protobuf_c_enum_descriptor_get_value(field->descriptor, (int)value->i);
    value->name = ev ? ev->name : NULL;
    return;
  }
  case PROTOBUF_C_TYPE_STRING:
    value->s = *(char *const *)member;
    return;
  case PROTOBUF_C_TYPE_BYTES:
    value->bytes = (const ProtobufCBinaryData *)member;
    return;
  case PROTOBUF_C_TYPE_MESSAGE:
    value->msg = *(ProtobufCMessage *const *)member;
    return;
  }
}

/* ---- the fields spelled specially: one table ---- */

/* The fields people-facing renderings spell specially; msg NULL matches the name in any message. */
static const struct codec_style_rule {
  const ProtobufCMessageDescriptor *msg;
  const char *field;
  codec_style_t style;
  codec_bitset_t bits; /* CODEC_STYLE_BITS only */
} codec_style_rules[] = {
    {&call_info__descriptor, "featuresavailable", CODEC_STYLE_BITS, CODEC_BITS_CALL_FEATURES},
    {&notify_user__descriptor, "featuresavailable", CODEC_STYLE_BITS, CODEC_BITS_USER_FEATURES},
    {&call_info__descriptor, "featuresavailable2", CODEC_STYLE_HEX, 0},
    {&request_response__descriptor, "result", CODEC_STYLE_RESULT, 0},
    {NULL, "flags", CODEC_STYLE_HEX, 0},
    {NULL, "ccflags", CODEC_STYLE_HEX, 0},
    {NULL, "guid", CODEC_STYLE_GUID, 0},
    /* gcid and every other bytes field: lowercase hex, the plain style. */
};

codec_style_t codec_walk_style(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *field,
                               codec_bitset_t *bits) {
  int is_bytes = field->type == PROTOBUF_C_TYPE_BYTES;
  int is_int32 = field->type == PROTOBUF_C_TYPE_INT32 || field->type == PROTOBUF_C_TYPE_UINT32 ||
                 field->type == PROTOBUF_C_TYPE_SINT32 || field->type == PROTOBUF_C_TYPE_FIXED32 ||
                 field->type == PROTOBUF_C_TYPE_SFIXED32;
  if (!is_bytes && !is_int32)
    return CODEC_STYLE_PLAIN;
  for (size_t i = 0; i < sizeof(codec_style_rules) / sizeof(codec_style_rules[0]); i++) {
    const struct codec_style_rule *rule = &codec_style_rules[i];
    if ((rule->msg && rule->msg != desc) || rule->field[0] != field->name[0] ||
        strcmp(rule->field, field->name) != 0)
      continue;
    /* the first rule naming the field decides; it applies only where the type fits */
    if ((rule->style == CODEC_STYLE_GUID) != is_bytes)
      return CODEC_STYLE_PLAIN;
    if (bits)
      *bits = rule->bits;
    return rule->style;
  }
  return CODEC_STYLE_PLAIN;
}
