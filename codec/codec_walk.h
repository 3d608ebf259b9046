/*
 * codec_walk: the one walk over a decoded message's fields and values, for
 * every rendering of MTCTI3 messages (the proto3 JSON printer, the text
 * renderer, the bridge's state texts).
 *
 * DESIGN.  protobuf-c describes a message by a descriptor: its fields in
 * number order, each with a label (repeated or not), a type, where its value
 * lies and where its quantifier lies (a count, a has_ flag, a oneof case).
 * Reading a field means knowing three ways to be present and fifteen types
 * laid out five ways; every rendering needs exactly that and differs only in
 * how it spells a value.  So the reading is here, once:
 *
 *   codec_walk_t w;
 *   codec_walk_begin(&w, msg, CODEC_WALK_SET);
 *   while (codec_walk_next(&w))           w.field, w.name_len, w.style, w.repeated, w.count
 *     for (size_t i = 0; i < w.count; i++) {
 *       codec_value_t v;
 *       codec_walk_value(&w, i, &v);      v.kind: INT UINT REAL BOOL ENUM STRING BYTES MESSAGE
 *       ...spell v; for a MESSAGE, walk v.msg (the renderer owns the recursion)
 *     }
 *
 * Two modes: CODEC_WALK_SET visits what proto3 serializes (a repeated field
 * with elements, the member a oneof has set (its string or message may be
 * NULL in a message built by hand: the value says so), an explicit-presence
 * field whose flag is set, any other field holding something else than its
 * default);
 * CODEC_WALK_ALL visits every field, defaults and empty arrays included, and
 * of a oneof only the member set.  A few fields are spelled specially by
 * people-facing renderings (feature bits by name, flags in hex, result codes
 * by name, GUIDs as UUIDs): codec_walk_style says which, from one table.
 * What the walk needs to know of each field beyond its descriptor (its name's
 * length, its style) is worked out once per message type, the first time a
 * walk begins, for every type of ipo_mtcti3.proto; a walk sets it in
 * name_len, style and bits.
 *
 * What does not use the walk, and why: the wire check (codec_frame.c) reads
 * bytes before there is a message, tag by tag, so it walks the wire format
 * against the same descriptors but cannot walk a message; it shares the
 * table of types (codec_walk_type: wire type and element size).  The JSON
 * parser (codec_json.c) builds a message, so it writes values where this
 * reads them: one switch each way.
 *
 * No allocation, no I/O; the one global state, the table of message types
 * worked out once, is built under pthread_once and only read after: safe
 * from any thread.
 */
#ifndef CODEC_WALK_H
#define CODEC_WALK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "codec_tables.h"

/* ---- the types ---- */

/* What a value is, once read: the renderings' cases. */
typedef enum codec_value_kind {
  CODEC_VALUE_INT,    /* .i: int32, sint32, sfixed32; `wide`: int64, sint64, sfixed64 */
  CODEC_VALUE_UINT,   /* .u: uint32, fixed32; `wide`: uint64, fixed64 */
  CODEC_VALUE_REAL,   /* .d: float; `wide`: double */
  CODEC_VALUE_BOOL,   /* .b */
  CODEC_VALUE_ENUM,   /* .i the number, .name its name (NULL: a number the enum does not name) */
  CODEC_VALUE_STRING, /* .s, NUL-terminated; NULL only in a message built by hand */
  CODEC_VALUE_BYTES,  /* .bytes */
  CODEC_VALUE_MESSAGE /* .msg; NULL for an absent submessage */
} codec_value_kind_t;

/* One row per ProtobufCType: how a value of it is stored and sent. */
typedef struct codec_type {
  const char *name;        /* "int32" */
  codec_value_kind_t kind; /* what codec_walk_value makes of it */
  int wide;                /* 64 bits (integers) or double */
  size_t elem_size;        /* size of one element of a repeated field's array */
  int wire_type;           /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
} codec_type_t;

/* The table, one row per ProtobufCType (for codec_walk_type, inline: the wire check asks per field). */
#define CODEC_WALK_TYPES 17
extern const codec_type_t codec_walk_types[CODEC_WALK_TYPES];

/* The row of `type`; NULL for a number protobuf-c does not define. */
static inline const codec_type_t *codec_walk_type(ProtobufCType type) {
  return (unsigned)type < CODEC_WALK_TYPES ? &codec_walk_types[type] : NULL;
}

/* ---- the fields spelled specially ---- */

typedef enum codec_style {
  CODEC_STYLE_PLAIN = 0, /* by type: numbers in decimal, enums by name, bytes in hex */
  CODEC_STYLE_HEX,       /* an integer in hex (flags, ccflags, featuresavailable2) */
  CODEC_STYLE_BITS,      /* an integer whose bits have names (featuresavailable): see `bits` */
  CODEC_STYLE_RESULT,    /* a result code with its MTCTISESS_* name */
  CODEC_STYLE_GUID       /* bytes that are a GUID: a UUID string when 16 bytes long */
} codec_style_t;

/*
 * How field `field` of messages of type `desc` is spelled by people-facing
 * renderings; *bits receives the bit set of CODEC_STYLE_BITS.  A style
 * applies only where the type fits it (GUID to bytes, the others to 32-bit
 * integers): elsewhere the field is CODEC_STYLE_PLAIN.
 */
codec_style_t codec_walk_style(const ProtobufCMessageDescriptor *desc, const ProtobufCFieldDescriptor *field,
                               codec_bitset_t *bits);

/* ---- the walk ---- */

typedef enum codec_walk_mode {
  CODEC_WALK_SET, /* what proto3 serializes: set, non-default, non-empty */
  CODEC_WALK_ALL  /* every field, defaults included; of a oneof, the member set */
} codec_walk_mode_t;

/* A walk over one message's fields; the message is borrowed for as long as the walk runs. */
typedef struct codec_walk {
  const ProtobufCMessageDescriptor *desc; /* the message's type */
  /* the field codec_walk_next stopped at */
  const ProtobufCFieldDescriptor *field;
  size_t name_len;     /* strlen(field->name) */
  codec_style_t style; /* codec_walk_style(desc, field, &bits) */
  codec_bitset_t bits;
  int repeated; /* a repeated field: `count` values (an array, possibly empty) */
  size_t count; /* 1 for a singular field */
  /* private */
  const ProtobufCMessage *msg;
  const struct codec_walk_info *info; /* the message type's fields, worked out once; NULL: none */
  codec_walk_mode_t mode;
  unsigned next;
} codec_walk_t;

void codec_walk_begin(codec_walk_t *walk, const ProtobufCMessage *msg, codec_walk_mode_t mode);
/* Step to the next field the mode visits: 1, or 0 when there is none left. */
int codec_walk_next(codec_walk_t *walk);

typedef struct codec_value {
  codec_value_kind_t kind;
  int wide; /* see codec_value_kind_t */
  union {
    int64_t i;
    uint64_t u;
    double d;
    int b;
    const char *s;
    const ProtobufCBinaryData *bytes;
    const ProtobufCMessage *msg;
  };
  const char *name; /* CODEC_VALUE_ENUM: the value's name, or NULL */
} codec_value_t;

/* Value `index` (< walk->count) of the current field; pointers in it are borrowed from the message. */
void codec_walk_value(const codec_walk_t *walk, size_t index, codec_value_t *value);

#endif
