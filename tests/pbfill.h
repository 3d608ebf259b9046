/*
 * pbfill: every MTCTI3 message type, fully populated through its descriptor,
 * for the tests that check a rendering of every message (codec JSON, the
 * bridge's normalized states).  Header-only, like check.h; include it after
 * check.h and the generated ipo_mtcti3.pb-c.h.
 *
 *   collect_types(&message__descriptor)  fills types[]/n_types
 *   fill_message(desc, variant, 0)        a malloc'd message, every field set
 *                                         (free with protobuf_c_message_free_unpacked(msg, NULL))
 *   max_oneof(desc)                       variants that reach every oneof member
 */
#ifndef PBFILL_H
#define PBFILL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "codec_frame.h"

#define MAX_TYPES 128

static const ProtobufCMessageDescriptor *types[MAX_TYPES];
static size_t n_types;

/* Every message type reachable from Message. */
static void collect_types(const ProtobufCMessageDescriptor *desc) {
  size_t i;
  unsigned f;

  for (i = 0; i < n_types; i++)
    if (types[i] == desc)
      return;
  CHECK(n_types < MAX_TYPES);
  types[n_types++] = desc;
  for (f = 0; f < desc->n_fields; f++)
    if (desc->fields[f].type == PROTOBUF_C_TYPE_MESSAGE)
      collect_types(desc->fields[f].descriptor);
}

static unsigned counter; /* makes every filled value distinct */

static void *slot_of(void *msg, unsigned offset) {
  return (char *)msg + offset;
}

static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *desc,
                                      unsigned variant, int depth);

/* A distinctive non-default value of field `fd` into `slot`. */
static void fill_value(const ProtobufCFieldDescriptor *fd, void *slot, unsigned variant,
                       int depth) {
  unsigned c = ++counter;

  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    /* Positive, negative, and values with the high bit set in turn. */
    *(int32_t *)slot = c % 3 == 0   ? (int32_t)(c * 1000 + 1)
                       : c % 3 == 1 ? -(int32_t)(c * 7 + 3)
                                    : INT32_MIN + (int32_t)c;
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    *(uint32_t *)slot = 0x80000000u + c;
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    *(int64_t *)slot = -(int64_t)c * 1000000007LL;
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    *(uint64_t *)slot = 0x8000000000000000ull + c;
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    *(float *)slot = (float)c + 0.5f;
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    *(double *)slot = (double)c + 0.25;
    break;
  case PROTOBUF_C_TYPE_BOOL:
    *(protobuf_c_boolean *)slot = 1;
    break;
  case PROTOBUF_C_TYPE_ENUM: {
    const ProtobufCEnumDescriptor *ed = fd->descriptor;
    /* Named non-zero values in turn; every fourth time a number without a
     * name, which prints as the number. */
    if (c % 4 == 0 || ed->n_values < 2)
      *(int32_t *)slot = 1000 + (int32_t)c;
    else
      *(int32_t *)slot = ed->values[1 + c % (ed->n_values - 1)].value;
    break;
  }
  case PROTOBUF_C_TYPE_STRING: {
    char buf[96];
    snprintf(buf, sizeof(buf), "%s-%u \"q\" \\ caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x93\x9e\n\t",
             fd->name, c);
    *(char **)slot = strdup(buf);
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    ProtobufCBinaryData *bd = slot;
    size_t i;
    /* 1..5 bytes, so every padding length occurs; 0xfb 0xff give '+' '/'. */
    bd->len = 1 + c % 5;
    bd->data = malloc(bd->len);
    for (i = 0; i < bd->len; i++)
      bd->data[i] = (uint8_t)(i == 0 ? 0xfb : i == 1 ? 0xff : c * 53 + i * 101);
    break;
  }
  case PROTOBUF_C_TYPE_MESSAGE:
    *(ProtobufCMessage **)slot = fill_message(fd->descriptor, variant, depth + 1);
    break;
  }
}

/* The members of the oneof that field index f belongs to: first and count. */
static void oneof_members(const ProtobufCMessageDescriptor *desc, unsigned f,
                          unsigned *first, unsigned *count) {
  unsigned i, qo = desc->fields[f].quantifier_offset;

  *first = desc->n_fields;
  *count = 0;
  for (i = 0; i < desc->n_fields; i++) {
    if ((desc->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        desc->fields[i].quantifier_offset == qo) {
      if (*first == desc->n_fields)
        *first = i;
      (*count)++;
    }
  }
}

/* Largest oneof of a message (1 when it has none): the variants to build. */
static unsigned max_oneof(const ProtobufCMessageDescriptor *desc) {
  unsigned f, first, count, max = 1;

  for (f = 0; f < desc->n_fields; f++) {
    if (!(desc->fields[f].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
      continue;
    oneof_members(desc, f, &first, &count);
    if (count > max)
      max = count;
  }
  return max;
}

/* A malloc'd message of type desc with every field set; oneof member
 * `variant % members` of each oneof is the one chosen. */
static ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *desc,
                                      unsigned variant, int depth) {
  ProtobufCMessage *msg = malloc(desc->sizeof_message);
  unsigned f;

  CHECK(msg != NULL);
  CHECK(depth < 16);
  protobuf_c_message_init(desc, msg);
  for (f = 0; f < desc->n_fields; f++) {
    const ProtobufCFieldDescriptor *fd = &desc->fields[f];

    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      size_t esize = codec_field_elem_size(fd), i;
      char *arr;

      arr = calloc(2, esize);
      for (i = 0; i < 2; i++)
        fill_value(fd, arr + i * esize, variant + (unsigned)i, depth);
      *(char **)slot_of(msg, fd->offset) = arr;
      *(size_t *)slot_of(msg, fd->quantifier_offset) = 2;
    } else if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      unsigned first, count;

      oneof_members(desc, f, &first, &count);
      if (f != first + variant % count)
        continue;
      *(uint32_t *)slot_of(msg, fd->quantifier_offset) = fd->id;
      fill_value(fd, slot_of(msg, fd->offset), variant, depth);
    } else {
      if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->type != PROTOBUF_C_TYPE_STRING &&
          fd->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)slot_of(msg, fd->quantifier_offset) = 1;
      fill_value(fd, slot_of(msg, fd->offset), variant, depth);
    }
  }
  return msg;
}

#endif
