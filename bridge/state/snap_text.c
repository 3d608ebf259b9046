/*
 * snap_text: a protobuf message as the normalized JSON text of a state.
 *
 * DESIGN.  The normalization (snap.h): every field of the message with its
 * value or its default (a snapshot is the whole truth, so a consumer never
 * has to know proto3's defaults), enums by name, a 16-byte `guid` as a UUID,
 * other bytes as lowercase hex, an absent submessage as null, repeated
 * fields as arrays, and after a featuresavailable its bits by name
 * (featuresavailable_names, from the codec's bit tables).  Written straight
 * into a jbuf in the bytes jansson would dump, with no tree built: this runs
 * for every Notify.  The top-level members go through the state writer so
 * that the diff can find them (snap_state.c); nested objects are plain text.
 */
#include "snap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_ids.h"
#include "codec_tables.h"

static void snap_text_bits(jbuf_t *b, codec_bitset_t set, uint32_t value) {
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

/* The featuresavailable bit set a message's featuresavailable field names, if any. */
static int snap_text_features_set(const ProtobufCMessageDescriptor *desc, codec_bitset_t *set) {
  if (desc == &call_info__descriptor)
    *set = CODEC_BITS_CALL_FEATURES;
  else if (desc == &notify_user__descriptor)
    *set = CODEC_BITS_USER_FEATURES;
  else
    return 0;
  return 1;
}

/* A bytes field's text: a GUID as a UUID, anything else as hex (long ones only counted). */
static void snap_text_bytes(const ProtobufCFieldDescriptor *field, const ProtobufCBinaryData *b, char *text,
                            size_t size) {
  if (strcmp(field->name, "guid") == 0 && b->len == CODEC_GUID_LEN)
    codec_guid_format(b->data, b->len, text, size);
  else if (b->len * 2 + 1 <= size)
    codec_hex_format(b->data, b->len, text, size);
  else
    snprintf(text, size, "(%zu bytes)", b->len);
}

static void snap_text_object(snap_writer_t *w, jbuf_t *b, const ProtobufCMessage *msg, int top);

static void snap_text_value(snap_writer_t *w, jbuf_t *b, const ProtobufCFieldDescriptor *field,
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
    snap_text_bytes(field, member, text, sizeof(text));
    jbuf_jstr(b, text);
    return;
  }
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)member;
    if (sub)
      snap_text_object(w, b, sub, 0);
    else
      jbuf_str(b, "null");
    return;
  }
  }
  jbuf_str(b, "null");
}

/*
 * Every field of msg, normalized, in its order.  top: as members of the
 * state being written in w (located; the braces are the writer's); else a
 * whole object into b.
 */
static void snap_text_object(snap_writer_t *w, jbuf_t *b, const ProtobufCMessage *msg, int top) {
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
      snap_writer_key(w, field->name);
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
        snap_text_value(w, b, field, arr + k * codec_field_elem_size(field));
      }
      jbuf_char(b, ']');
    } else {
      snap_text_value(w, b, field, base + field->offset);
    }
    codec_bitset_t set;
    if (strcmp(field->name, "featuresavailable") == 0 && snap_text_features_set(desc, &set)) {
      if (top)
        snap_writer_key(w, "featuresavailable_names");
      else
        jbuf_str(b, ",\"featuresavailable_names\":");
      snap_text_bits(b, set, *(const uint32_t *)(base + field->offset));
    }
  }
  if (!top)
    jbuf_char(b, '}');
}

void snap_text_members(snap_writer_t *w, const ProtobufCMessage *msg) { snap_text_object(w, &w->b, msg, 1); }

char *snap_pb_text(const ProtobufCMessage *msg) {
  jbuf_t b = JBUF_INIT;
  snap_text_object(NULL, &b, msg, 0);
  char *text = jbuf_dup(&b);
  jbuf_free(&b);
  return text;
}
