/*
 * snap_ref: reference normalization and records for the tests.  See snap_ref.h.
 */
#include "snap_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_ids.h"
#include "codec_tables.h"
#include "jbuf.h"

/* ["DROP","ANSWER",...], bits without a name as one "0x..." string. */
static json_t *ref_bits_names(codec_bitset_t set, uint32_t value) {
  size_t count;
  const codec_bit_t *bits = codec_bits(set, &count);
  uint32_t named = 0;
  json_t *names = json_array();
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

static json_t *ref_value(const ProtobufCFieldDescriptor *field, const void *member) {
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
    return sub ? snap_ref_pb_to_json(sub) : json_null();
  }
  }
  return json_null();
}

json_t *snap_ref_pb_to_json(const ProtobufCMessage *msg) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  const char *base = (const char *)msg;
  json_t *out = json_object();
  for (unsigned i = 0; i < desc->n_fields; i++) {
    const ProtobufCFieldDescriptor *field = &desc->fields[i];
    json_t *value;
    if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      if (*(const uint32_t *)(base + field->quantifier_offset) != field->id)
        continue;
      value = ref_value(field, base + field->offset);
    } else if (field->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t n = *(const size_t *)(base + field->quantifier_offset);
      const char *arr = *(char *const *)(base + field->offset);
      value = json_array();
      for (size_t k = 0; k < n; k++)
        json_array_append_new(value, ref_value(field, arr + k * codec_field_elem_size(field)));
    } else {
      value = ref_value(field, base + field->offset);
    }
    json_object_set_new(out, field->name, value);
    if (strcmp(field->name, "featuresavailable") == 0 &&
        (desc == &call_info__descriptor || desc == &notify_user__descriptor))
      json_object_set_new(out, "featuresavailable_names",
                          ref_bits_names(desc == &call_info__descriptor ? CODEC_BITS_CALL_FEATURES
                                                                        : CODEC_BITS_USER_FEATURES,
                                         *(const uint32_t *)(base + field->offset)));
  }
  return out;
}

json_t *snap_ref_record(const snap_t *snap, const snap_change_t *change) {
  jbuf_t b = JBUF_INIT;
  json_t *record = NULL;
  if (snap_record_write(snap, change, &b) && !b.failed)
    record = json_loadb(b.data, b.len, 0, NULL);
  jbuf_free(&b);
  if (!record)
    return NULL;
  json_object_del(record, "v");
  json_object_set_new(record, "state",
                      change->after_text ? json_loadb(change->after_text, change->after_len, 0, NULL)
                                         : json_null());
  return record;
}
