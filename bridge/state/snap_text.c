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
 * for every Notify.  The codec's walk (codec_walk.h, every field) reads the
 * message; its style table says which field is a GUID and which has bits by
 * name.  The top-level members go through the state writer so that the diff
 * can find them (snap_state.c); nested objects are plain text.
 */
#include "snap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "codec_walk.h"

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

/* A bytes value's text: a GUID as a UUID, anything else as hex (long ones only counted). */
static void snap_text_bytes(codec_style_t style, const ProtobufCBinaryData *b, char *text, size_t size) {
  if (style == CODEC_STYLE_GUID && b->len == CODEC_GUID_LEN)
    codec_guid_format(b->data, b->len, text, size);
  else if (b->len * 2 + 1 <= size)
    codec_hex_format(b->data, b->len, text, size);
  else
    snprintf(text, size, "(%zu bytes)", b->len);
}

static void snap_text_object(snap_writer_t *w, jbuf_t *b, const ProtobufCMessage *msg, int top);

static void snap_text_value(jbuf_t *b, codec_style_t style, const codec_value_t *v) {
  switch (v->kind) {
  case CODEC_VALUE_INT:
    jbuf_int(b, v->i);
    return;
  case CODEC_VALUE_UINT:
    if (v->wide) /* as jansson holds it: a signed 64-bit integer */
      jbuf_int(b, (long long)v->u);
    else
      jbuf_uint(b, v->u);
    return;
  case CODEC_VALUE_REAL: { /* none in MTCTI3: let jansson write them */
    json_t *real = json_real(v->d);
    jbuf_json(b, real);
    json_decref(real);
    return;
  }
  case CODEC_VALUE_BOOL:
    jbuf_str(b, v->b ? "true" : "false");
    return;
  case CODEC_VALUE_ENUM:
    if (v->name)
      jbuf_jstr(b, v->name);
    else
      jbuf_int(b, v->i);
    return;
  case CODEC_VALUE_STRING:
    jbuf_jstr(b, v->s);
    return;
  case CODEC_VALUE_BYTES: {
    char text[512];
    snap_text_bytes(style, v->bytes, text, sizeof(text));
    jbuf_jstr(b, text);
    return;
  }
  case CODEC_VALUE_MESSAGE:
    if (v->msg)
      snap_text_object(NULL, b, v->msg, 0);
    else
      jbuf_str(b, "null");
    return;
  }
  jbuf_str(b, "null");
}

/*
 * Every field of msg, normalized, in its order (the codec's walk, every
 * field).  top: as members of the state being written in w (located; the
 * braces are the writer's); else a whole object into b.
 */
static void snap_text_object(snap_writer_t *w, jbuf_t *b, const ProtobufCMessage *msg, int top) {
  codec_walk_t walk;
  codec_value_t v;
  int first = 1;
  if (!top)
    jbuf_char(b, '{');
  codec_walk_begin(&walk, msg, CODEC_WALK_ALL);
  while (codec_walk_next(&walk)) {
    const char *name = walk.field->name; /* a protobuf name: plain ASCII */
    size_t name_len = walk.name_len;
    codec_style_t style = walk.style;
    if (top) {
      snap_writer_key_plain(w, name, name_len);
    } else {
      if (!first)
        jbuf_char(b, ',');
      jbuf_keyn(b, name, name_len);
    }
    first = 0;
    if (walk.repeated) {
      jbuf_char(b, '[');
      for (size_t k = 0; k < walk.count; k++) {
        if (k)
          jbuf_char(b, ',');
        codec_walk_value(&walk, k, &v);
        snap_text_value(b, style, &v);
      }
      jbuf_char(b, ']');
      continue;
    }
    codec_walk_value(&walk, 0, &v);
    snap_text_value(b, style, &v);
    if (style == CODEC_STYLE_BITS) { /* featuresavailable: its bits by name follow */
      if (top)
        snap_writer_key_lit(w, "featuresavailable_names");
      else
        jbuf_str(b, ",\"featuresavailable_names\":");
      snap_text_bits(b, walk.bits, (uint32_t)v.i);
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
