/*
 * codec_text: MTCTI3 messages rendered for people (logs, the mtcti3 CLI).
 *
 * DESIGN: one recursive walk over protobuf-c descriptors, so it renders any
 * message of ipo_mtcti3.proto without knowing its type.  The few fields the
 * spec's traces show specially (feature bits, flags in hex, result names,
 * GUIDs) are picked out by the text_rules table below, keyed by message
 * descriptor and field name.  Output goes into a growing buffer that remembers
 * running out of memory, so the walk itself never has to check.  Pure: no I/O,
 * no global state, safe from any thread.
 */
#include "codec_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_ids.h"
#include "codec_tables.h"
#include "codec_utf8.h"
#include "ipo_mtcti3.pb-c.h"

/* Beyond this nesting the walk prints "..." (the protocol needs about 6). */
#define TEXT_MAX_DEPTH 64

/* How a field's value is spelled when a rule matches it. */
typedef enum text_style {
  TEXT_PLAIN = 0, /* by type: numbers decimal, enums by name, bytes hex */
  TEXT_HEX,       /* integer as 0x.. (flags, ccflags, featuresavailable2) */
  TEXT_BITS,      /* integer as 0x.. then the bit names of `bits` */
  TEXT_RESULT,    /* integer then its MTCTISESS_* name when the spec has one */
  TEXT_GUID       /* 16 bytes as a UUID string */
} text_style_t;

/* The fields rendered specially; msg NULL matches the name in any message. */
static const struct text_rule {
  const ProtobufCMessageDescriptor *msg;
  const char *field;
  text_style_t style;
  codec_bitset_t bits; /* TEXT_BITS only */
} text_rules[] = {
  {&call_info__descriptor, "featuresavailable", TEXT_BITS, CODEC_BITS_CALL_FEATURES},
  {&notify_user__descriptor, "featuresavailable", TEXT_BITS, CODEC_BITS_USER_FEATURES},
  {&call_info__descriptor, "featuresavailable2", TEXT_HEX, 0},
  {&request_response__descriptor, "result", TEXT_RESULT, 0},
  {NULL, "flags", TEXT_HEX, 0},
  {NULL, "ccflags", TEXT_HEX, 0},
  {NULL, "guid", TEXT_GUID, 0},
  /* gcid and every other bytes field: lowercase hex, the TEXT_PLAIN default. */
};

/* Growing output; oom set once an allocation failed (later writes are no-ops). */
typedef struct text_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom;
} text_buf_t;

static void buf_reserve(text_buf_t *buf, size_t more) {
  size_t need, cap;
  char *data;

  if (buf->oom)
    return;
  if (more > SIZE_MAX - buf->len - 1) {
    buf->oom = 1;
    return;
  }
  need = buf->len + more + 1;
  if (need <= buf->cap)
    return;
  cap = buf->cap ? buf->cap : 256;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  data = realloc(buf->data, cap);
  if (!data) {
    buf->oom = 1;
    return;
  }
  buf->data = data;
  buf->cap = cap;
}

static void buf_append(text_buf_t *buf, const char *s, size_t n) {
  buf_reserve(buf, n);
  if (buf->oom)
    return;
  memcpy(buf->data + buf->len, s, n);
  buf->len += n;
  buf->data[buf->len] = '\0';
}

static void buf_puts(text_buf_t *buf, const char *s) {
  buf_append(buf, s, strlen(s));
}

static void buf_putc(text_buf_t *buf, char c) {
  buf_append(buf, &c, 1);
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void buf_printf(text_buf_t *buf, const char *fmt, ...) {
  char small[128];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    buf->oom = 1;
    return;
  }
  if ((size_t)n < sizeof(small)) {
    buf_append(buf, small, (size_t)n);
    return;
  }
  buf_reserve(buf, (size_t)n);
  if (buf->oom)
    return;
  va_start(ap, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf->len += (size_t)n;
}

/* Whether a string can print bare (like the spec's name=Bergcamp). */
static int string_is_bare(const unsigned char *s, size_t len) {
  size_t i, n;

  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    if (s[i] >= 0x80) {
      n = codec_utf8_seq_len(s + i, len - i);
      if (n == 0)
        return 0;
      i += n - 1;
      continue;
    }
    if (s[i] <= 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\' || s[i] == '{' ||
        s[i] == '}' || s[i] == '=')
      return 0;
  }
  return 1;
}

/*
 * A string field's value: bare when harmless, otherwise double-quoted with C
 * escapes.  Valid UTF-8 stays as is (names carry accents); control bytes and
 * invalid UTF-8 become \xNN so a log line never carries raw garbage.
 */
static void put_string(text_buf_t *buf, const char *str) {
  const unsigned char *s = (const unsigned char *)str;
  size_t len = strlen(str), i, n;

  if (string_is_bare(s, len)) {
    buf_append(buf, str, len);
    return;
  }
  buf_putc(buf, '"');
  for (i = 0; i < len; i++) {
    switch (s[i]) {
    case '"': buf_puts(buf, "\\\""); continue;
    case '\\': buf_puts(buf, "\\\\"); continue;
    case '\n': buf_puts(buf, "\\n"); continue;
    case '\r': buf_puts(buf, "\\r"); continue;
    case '\t': buf_puts(buf, "\\t"); continue;
    default: break;
    }
    if (s[i] >= 0x80) {
      n = codec_utf8_seq_len(s + i, len - i);
      if (n > 0) {
        buf_append(buf, (const char *)s + i, n);
        i += n - 1;
        continue;
      }
    }
    if (s[i] < 0x20 || s[i] >= 0x7f)
      buf_printf(buf, "\\x%02x", s[i]);
    else
      buf_putc(buf, (char)s[i]);
  }
  buf_putc(buf, '"');
}

static void put_hex_bytes(text_buf_t *buf, const ProtobufCBinaryData *bin) {
  if (bin->len == 0) {
    buf_puts(buf, "\"\""); /* only reached for a set oneof member */
    return;
  }
  if (bin->len > (SIZE_MAX - 1) / 2) {
    buf->oom = 1;
    return;
  }
  buf_reserve(buf, bin->len * 2);
  if (buf->oom)
    return;
  codec_hex_format(bin->data, bin->len, buf->data + buf->len, bin->len * 2 + 1);
  buf->len += bin->len * 2;
}

/* 0x23 DROP ANSWER REDIRECT; names only when the table knows some bit. */
static void put_bits(text_buf_t *buf, codec_bitset_t set, uint32_t value) {
  char small[512], hex[16], *names = small;
  size_t n;

  snprintf(hex, sizeof(hex), "0x%" PRIx32, value);
  buf_puts(buf, hex);
  n = codec_bits_format(set, value, small, sizeof(small));
  if (n >= sizeof(small)) {
    names = malloc(n + 1);
    if (!names) {
      buf->oom = 1;
      return;
    }
    codec_bits_format(set, value, names, n + 1);
  }
  /* All bits unnamed: the names would only repeat the hex. */
  if (names[0] != '\0' && strcmp(names, hex) != 0) {
    buf_putc(buf, ' ');
    buf_puts(buf, names);
  }
  if (names != small)
    free(names);
}

static const struct text_rule *rule_find(const ProtobufCMessageDescriptor *desc,
                                         const ProtobufCFieldDescriptor *field) {
  size_t i;

  for (i = 0; i < sizeof(text_rules) / sizeof(text_rules[0]); i++) {
    if ((text_rules[i].msg == NULL || text_rules[i].msg == desc) &&
        strcmp(text_rules[i].field, field->name) == 0)
      return &text_rules[i];
  }
  return NULL;
}

/* Rules name fields; they apply only where the type fits (a bytes "flags" prints as bytes). */
static int rule_applies(const struct text_rule *rule, const ProtobufCFieldDescriptor *field) {
  if (!rule)
    return 0;
  if (rule->style == TEXT_GUID)
    return field->type == PROTOBUF_C_TYPE_BYTES;
  return field->type == PROTOBUF_C_TYPE_INT32 || field->type == PROTOBUF_C_TYPE_UINT32 ||
         field->type == PROTOBUF_C_TYPE_SINT32 || field->type == PROTOBUF_C_TYPE_FIXED32 ||
         field->type == PROTOBUF_C_TYPE_SFIXED32;
}

static void put_message(text_buf_t *buf, const char *name, const ProtobufCMessage *msg,
                        int multiline, int depth);

static void put_indent(text_buf_t *buf, int depth) {
  int i;

  for (i = 0; i < depth; i++)
    buf_puts(buf, "  ");
}

/* Start of a field: a space on one line, a newline and indent otherwise. */
static void put_separator(text_buf_t *buf, int multiline, int depth) {
  if (multiline) {
    buf_putc(buf, '\n');
    put_indent(buf, depth);
  } else {
    buf_putc(buf, ' ');
  }
}

/* One value of a field at `member` (an element of a repeated field or the field). */
static void put_value(text_buf_t *buf, const ProtobufCMessageDescriptor *desc,
                      const ProtobufCFieldDescriptor *field, const void *member,
                      int multiline, int depth) {
  const struct text_rule *rule = rule_find(desc, field);
  const ProtobufCEnumValue *ev;
  char guid[CODEC_GUID_STRLEN + 1];
  const codec_result_t *result;
  uint32_t u32;
  int32_t i32;

  if (field->type == PROTOBUF_C_TYPE_MESSAGE) {
    put_separator(buf, multiline, depth);
    if (*(ProtobufCMessage *const *)member)
      put_message(buf, field->name, *(ProtobufCMessage *const *)member, multiline, depth);
    else
      buf_printf(buf, "%s { }", field->name); /* a set oneof case without its message */
    return;
  }
  put_separator(buf, multiline, depth);
  buf_puts(buf, field->name);
  buf_putc(buf, '=');
  if (rule_applies(rule, field) && rule->style != TEXT_GUID) {
    u32 = *(const uint32_t *)member;
    i32 = *(const int32_t *)member;
    switch (rule->style) {
    case TEXT_HEX: buf_printf(buf, "0x%" PRIx32, u32); return;
    case TEXT_BITS: put_bits(buf, rule->bits, u32); return;
    case TEXT_RESULT:
      buf_printf(buf, "%" PRId32, i32);
      result = codec_result_lookup(i32);
      if (result) {
        buf_putc(buf, ' ');
        buf_puts(buf, result->name);
      }
      return;
    default: break;
    }
  }
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    buf_printf(buf, "%" PRId32, *(const int32_t *)member);
    break;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    buf_printf(buf, "%" PRIu32, *(const uint32_t *)member);
    break;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    buf_printf(buf, "%" PRId64, *(const int64_t *)member);
    break;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    buf_printf(buf, "%" PRIu64, *(const uint64_t *)member);
    break;
  case PROTOBUF_C_TYPE_FLOAT:
    buf_printf(buf, "%.9g", (double)*(const float *)member);
    break;
  case PROTOBUF_C_TYPE_DOUBLE:
    buf_printf(buf, "%.17g", *(const double *)member);
    break;
  case PROTOBUF_C_TYPE_BOOL:
    buf_puts(buf, *(const protobuf_c_boolean *)member ? "true" : "false");
    break;
  case PROTOBUF_C_TYPE_ENUM:
    /* A number newer than our .proto prints as the number. */
    ev = protobuf_c_enum_descriptor_get_value(field->descriptor, *(const int *)member);
    if (ev)
      buf_puts(buf, ev->name);
    else
      buf_printf(buf, "%d", *(const int *)member);
    break;
  case PROTOBUF_C_TYPE_STRING: {
    const char *str = *(const char *const *)member;
    put_string(buf, str ? str : "");
    break;
  }
  case PROTOBUF_C_TYPE_BYTES: {
    const ProtobufCBinaryData *bin = member;
    if (rule_applies(rule, field) && rule->style == TEXT_GUID && bin->len == CODEC_GUID_LEN) {
      codec_guid_format(bin->data, bin->len, guid, sizeof(guid));
      buf_puts(buf, guid);
    } else {
      put_hex_bytes(buf, bin);
    }
    break;
  }
  default:
    buf_puts(buf, "?");
    break;
  }
}

/* Whether a proto3 singular field holds something other than its default. */
static int field_is_set(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *field,
                        const void *member) {
  if (field->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
    return *(const uint32_t *)((const char *)msg + field->quantifier_offset) == field->id;
  if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->quantifier_offset &&
      field->type != PROTOBUF_C_TYPE_MESSAGE && field->type != PROTOBUF_C_TYPE_STRING)
    return *(const protobuf_c_boolean *)((const char *)msg + field->quantifier_offset);
  switch (field->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    return *(const uint32_t *)member != 0;
  case PROTOBUF_C_TYPE_ENUM:
    return *(const int *)member != 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    return *(const uint64_t *)member != 0;
  case PROTOBUF_C_TYPE_FLOAT:
    return *(const float *)member != 0.0f;
  case PROTOBUF_C_TYPE_DOUBLE:
    return *(const double *)member != 0.0;
  case PROTOBUF_C_TYPE_BOOL:
    return *(const protobuf_c_boolean *)member != 0;
  case PROTOBUF_C_TYPE_STRING: {
    const char *str = *(const char *const *)member;
    return str != NULL && str[0] != '\0';
  }
  case PROTOBUF_C_TYPE_BYTES:
    return ((const ProtobufCBinaryData *)member)->len != 0;
  case PROTOBUF_C_TYPE_MESSAGE:
    return *(const ProtobufCMessage *const *)member != NULL;
  default:
    return 0;
  }
}

/* `name { field field ... }`, fields in field-number order. */
static void put_message(text_buf_t *buf, const char *name, const ProtobufCMessage *msg,
                        int multiline, int depth) {
  const ProtobufCMessageDescriptor *desc = msg->descriptor;
  const ProtobufCFieldDescriptor *field;
  const char *member, *elems;
  size_t i, j, n, size;

  buf_puts(buf, name);
  buf_puts(buf, " {");
  if (depth >= TEXT_MAX_DEPTH) {
    put_separator(buf, multiline, depth + 1);
    buf_puts(buf, "...");
  } else {
    for (i = 0; i < desc->n_fields; i++) {
      field = &desc->fields[i];
      member = (const char *)msg + field->offset;
      if (field->label == PROTOBUF_C_LABEL_REPEATED) {
        n = *(const size_t *)((const char *)msg + field->quantifier_offset);
        elems = *(const char *const *)member;
        size = codec_field_elem_size(field);
        for (j = 0; j < n && elems; j++)
          put_value(buf, desc, field, elems + j * size, multiline, depth + 1);
      } else if (field_is_set(msg, field, member)) {
        put_value(buf, desc, field, member, multiline, depth + 1);
      }
    }
  }
  put_separator(buf, multiline, depth);
  buf_putc(buf, '}');
}

char *codec_text_print(const ProtobufCMessage *msg, int multiline) {
  text_buf_t buf = {NULL, 0, 0, 0};

  if (!msg || !msg->descriptor)
    return strdup("(null)");
  put_message(&buf, msg->descriptor->short_name, msg, multiline, 0);
  if (buf.oom) {
    free(buf.data);
    return NULL;
  }
  return buf.data;
}
