/*
 * codec_text: MTCTI3 messages rendered for people (logs, the mtcti3 CLI).
 *
 * DESIGN: the codec's walk (codec_walk.h) visits the fields proto3 would send
 * and reads their values, so this file only spells them, for any message of
 * ipo_mtcti3.proto.  The few fields the spec's traces show specially (feature
 * bits, flags in hex, result names, GUIDs) are named by codec_walk_style's
 * table, shared with the bridge's state texts.  Output goes into a growing
 * buffer that remembers running out of memory, so the walk itself never has
 * to check.  Pure: no I/O, no global state, safe from any thread.
 */
#include "codec_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "codec_utf8.h"
#include "codec_walk.h"

/* Beyond this nesting the walk prints "..." (the protocol needs about 6). */
#define TEXT_MAX_DEPTH 64

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

/* One value of the walk's current field (an element of a repeated field, or the field). */
static void put_value(text_buf_t *buf, const codec_walk_t *walk, const codec_value_t *value,
                      int multiline, int depth) {
  const ProtobufCFieldDescriptor *field = walk->field;
  codec_bitset_t bits = walk->bits;
  codec_style_t style = walk->style;
  char guid[CODEC_GUID_STRLEN + 1];
  const codec_result_t *result;

  if (value->kind == CODEC_VALUE_MESSAGE) {
    put_separator(buf, multiline, depth);
    if (value->msg)
      put_message(buf, field->name, value->msg, multiline, depth);
    else
      buf_printf(buf, "%s { }", field->name); /* a set oneof case without its message */
    return;
  }
  put_separator(buf, multiline, depth);
  buf_puts(buf, field->name);
  buf_putc(buf, '=');
  switch (style) { /* the styles of integers (codec_walk_style applies them to 32-bit ones only) */
  case CODEC_STYLE_HEX:
    buf_printf(buf, "0x%" PRIx32, (uint32_t)value->i);
    return;
  case CODEC_STYLE_BITS:
    put_bits(buf, bits, (uint32_t)value->i);
    return;
  case CODEC_STYLE_RESULT:
    buf_printf(buf, "%" PRId32, (int32_t)value->i);
    result = codec_result_lookup((int32_t)value->i);
    if (result) {
      buf_putc(buf, ' ');
      buf_puts(buf, result->name);
    }
    return;
  default:
    break;
  }
  switch (value->kind) {
  case CODEC_VALUE_INT:
    if (value->wide)
      buf_printf(buf, "%" PRId64, value->i);
    else
      buf_printf(buf, "%" PRId32, (int32_t)value->i);
    break;
  case CODEC_VALUE_UINT:
    if (value->wide)
      buf_printf(buf, "%" PRIu64, value->u);
    else
      buf_printf(buf, "%" PRIu32, (uint32_t)value->u);
    break;
  case CODEC_VALUE_REAL:
    buf_printf(buf, value->wide ? "%.17g" : "%.9g", value->d);
    break;
  case CODEC_VALUE_BOOL:
    buf_puts(buf, value->b ? "true" : "false");
    break;
  case CODEC_VALUE_ENUM:
    /* A number newer than our .proto prints as the number. */
    if (value->name)
      buf_puts(buf, value->name);
    else
      buf_printf(buf, "%d", (int)value->i);
    break;
  case CODEC_VALUE_STRING:
    put_string(buf, value->s ? value->s : "");
    break;
  case CODEC_VALUE_BYTES:
    if (style == CODEC_STYLE_GUID && value->bytes->len == CODEC_GUID_LEN) {
      codec_guid_format(value->bytes->data, value->bytes->len, guid, sizeof(guid));
      buf_puts(buf, guid);
    } else {
      put_hex_bytes(buf, value->bytes);
    }
    break;
  default:
    buf_puts(buf, "?");
    break;
  }
}

/* `name { field field ... }`: the fields proto3 would send, in field-number order. */
static void put_message(text_buf_t *buf, const char *name, const ProtobufCMessage *msg,
                        int multiline, int depth) {
  codec_walk_t walk;
  codec_value_t value;
  size_t i;

  buf_puts(buf, name);
  buf_puts(buf, " {");
  if (depth >= TEXT_MAX_DEPTH) {
    put_separator(buf, multiline, depth + 1);
    buf_puts(buf, "...");
  } else {
    codec_walk_begin(&walk, msg, CODEC_WALK_SET);
    while (codec_walk_next(&walk)) {
      for (i = 0; i < walk.count; i++) {
        codec_walk_value(&walk, i, &value);
        put_value(buf, &walk, &value, multiline, depth + 1);
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
