/*
 * codec_json: the proto3 JSON mapping, driven by protobuf-c descriptors.
 *
 * DESIGN.  Both directions go by the ProtobufCMessageDescriptor, so one file
 * serves every message of ipo_mtcti3.proto.  The printer mirrors the
 * official printer with preserving_proto_field_name: the codec's walk
 * (codec_walk.h, CODEC_WALK_SET) gives the fields proto3 serializes in
 * field-number order (defaults left out, a set oneof member and a set
 * submessage always there) and reads their values; this file only spells
 * them as jansson values.  The parser builds the
 * message in place, in memory laid out exactly as protobuf-c's own unpacker
 * does (every string, bytes buffer, array and submessage malloc'd), so that
 * protobuf_c_message_free_unpacked(msg, NULL) frees a finished message and a
 * half-built one alike.  Pure functions: no I/O, no globals.
 */
#include "codec_json.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "codec_frame.h" /* CODEC_MAX_DEPTH, codec_field_elem_size */
#include "codec_utf8.h"
#include "codec_walk.h"

#define JSON_PATH_MAX 256

/* ---------------------------------------------------------------------- */
/* Shared helpers                                                         */
/* ---------------------------------------------------------------------- */

static void *json_member(const void *msg, unsigned offset) {
  return (char *)msg + offset;
}

/* ---------------------------------------------------------------------- */
/* Printer                                                                */
/* ---------------------------------------------------------------------- */

static json_t *json_msg_from_pb(const ProtobufCMessage *msg);

/*
 * A JSON string for a protobuf string.  protobuf-c does not check UTF-8 when
 * unpacking, and JSON cannot carry invalid UTF-8, so each invalid byte becomes
 * U+FFFD rather than failing the whole message: NULL then means only "out of
 * memory", as the header promises.
 */
static json_t *json_string_from_pb(const char *str) {
  const unsigned char *s = (const unsigned char *)(str ? str : "");
  size_t len = strlen((const char *)s), i = 0, o = 0, n;
  char *fixed;
  json_t *out;

  while (i < len && (n = codec_utf8_seq_len(s + i, len - i)) > 0)
    i += n;
  if (i == len)
    return json_stringn((const char *)s, len);

  fixed = malloc(len * 3 + 1); /* worst case: every byte becomes 3 bytes */
  if (!fixed)
    return NULL;
  for (i = 0; i < len;) {
    n = codec_utf8_seq_len(s + i, len - i);
    if (n) {
      memcpy(fixed + o, s + i, n);
      o += n;
      i += n;
    } else {
      memcpy(fixed + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  out = json_stringn(fixed, o);
  free(fixed);
  return out;
}

/* Standard base64 with padding, as the official printer writes bytes (OpenSSL's encoder). */
static json_t *json_bytes_from_pb(const ProtobufCBinaryData *bd) {
  size_t len = bd->data ? bd->len : 0;
  unsigned char *text;
  json_t *out;

  if (len > INT_MAX / 4 * 3 - 3)
    return NULL;
  text = malloc((len + 2) / 3 * 4 + 1);
  if (!text)
    return NULL;
  out = json_stringn((const char *)text, (size_t)EVP_EncodeBlock(text, bd->data, (int)len));
  free(text);
  return out;
}

/* NaN and the infinities are strings in proto3 JSON; other values numbers. */
static json_t *json_real_from_pb(double d) {
  if (isnan(d))
    return json_string("NaN");
  if (isinf(d))
    return json_string(d > 0 ? "Infinity" : "-Infinity");
  return json_real(d);
}

/* One value, as the official printer spells it. */
static json_t *json_value_from_pb(const codec_value_t *v) {
  char num[32];

  switch (v->kind) {
  case CODEC_VALUE_INT:
    /* 64-bit integers are strings in proto3 JSON (JavaScript loses precision). */
    if (!v->wide)
      return json_integer((json_int_t)v->i);
    snprintf(num, sizeof(num), "%lld", (long long)v->i);
    return json_string(num);
  case CODEC_VALUE_UINT:
    if (!v->wide)
      return json_integer((json_int_t)v->u);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)v->u);
    return json_string(num);
  case CODEC_VALUE_REAL:
    return json_real_from_pb(v->d);
  case CODEC_VALUE_BOOL:
    return json_boolean(v->b);
  case CODEC_VALUE_ENUM:
    /* An open enum may hold a number without a name: print the number. */
    return v->name ? json_string(v->name) : json_integer((json_int_t)v->i);
  case CODEC_VALUE_STRING:
    return json_string_from_pb(v->s);
  case CODEC_VALUE_BYTES:
    return json_bytes_from_pb(v->bytes);
  case CODEC_VALUE_MESSAGE:
    return v->msg ? json_msg_from_pb(v->msg) : json_object();
  }
  return NULL;
}

/* Every field proto3 serializes, in field-number order (the official printer's). */
static json_t *json_msg_from_pb(const ProtobufCMessage *msg) {
  json_t *obj = json_object();
  codec_walk_t walk;
  codec_value_t v;
  size_t i;

  if (!obj)
    return NULL;
  codec_walk_begin(&walk, msg, CODEC_WALK_SET);
  while (codec_walk_next(&walk)) {
    json_t *value;

    if (walk.repeated) {
      value = json_array();
      if (!value)
        goto fail;
      for (i = 0; i < walk.count; i++) {
        codec_walk_value(&walk, i, &v);
        if (json_array_append_new(value, json_value_from_pb(&v))) {
          json_decref(value);
          goto fail;
        }
      }
    } else {
      codec_walk_value(&walk, 0, &v);
      /* a oneof member set without its string or message (built by hand) is not sent */
      if ((v.kind == CODEC_VALUE_STRING && !v.s) || (v.kind == CODEC_VALUE_MESSAGE && !v.msg))
        continue;
      value = json_value_from_pb(&v);
    }
    /* json_object_set_new takes the reference even when it fails (or NULL). */
    if (json_object_set_new(obj, walk.field->name, value))
      goto fail;
  }
  return obj;

fail:
  json_decref(obj);
  return NULL;
}

json_t *codec_json_from_pb(const ProtobufCMessage *msg) {
  if (!msg || !msg->descriptor)
    return NULL;
  return json_msg_from_pb(msg);
}

char *codec_json_print(const Message *msg) {
  json_t *obj;
  char *text;

  if (!msg)
    return NULL;
  obj = codec_json_from_pb(&msg->base);
  if (!obj)
    return NULL;
  text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(obj);
  return text;
}

/* ---------------------------------------------------------------------- */
/* Parser                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct json_parse_ctx {
  char *errstr;
  size_t errstr_size;
  const ProtobufCMessageDescriptor *root;
  char path[JSON_PATH_MAX]; /* "subscribe.lines.flags", "notify.x[2].name" */
  size_t path_len;
} json_parse_ctx_t;

static int json_parse_message(json_parse_ctx_t *ctx, const json_t *json,
                              const ProtobufCMessageDescriptor *desc,
                              ProtobufCMessage *msg, int depth);

static int json_fail(json_parse_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int json_fail(json_parse_ctx_t *ctx, const char *fmt, ...) {
  char what[200];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (ctx->errstr && ctx->errstr_size)
    snprintf(ctx->errstr, ctx->errstr_size, "%s: %s",
             ctx->path_len ? ctx->path : ctx->root->name, what);
  return -1;
}

/* Append ".name" (or "name" at the root) or "[i]" to the path; returns the
 * old length for json_path_pop.  A path too long for the buffer is cut. */
static size_t json_path_push(json_parse_ctx_t *ctx, const char *name, long index) {
  size_t old = ctx->path_len, room = sizeof(ctx->path) - old;
  int n;

  if (name)
    n = snprintf(ctx->path + old, room, "%s%s", old ? "." : "", name);
  else
    n = snprintf(ctx->path + old, room, "[%ld]", index);
  if (n < 0)
    n = 0;
  ctx->path_len = (size_t)n < room ? old + (size_t)n : sizeof(ctx->path) - 1;
  return old;
}

static void json_path_pop(json_parse_ctx_t *ctx, size_t old) {
  ctx->path_len = old;
  ctx->path[old] = '\0';
}

static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "an array";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "something else";
}

/* Whether `key` is `name` in protoc's lowerCamelCase json_name: each '_' is
 * dropped and the letter after it upper-cased; nothing else changes. */
static int json_key_is_camel(const char *key, const char *name) {
  int upper_next = 0;

  for (; *name; name++) {
    char want;

    if (*name == '_') {
      upper_next = 1;
      continue;
    }
    want = *name;
    if (upper_next && want >= 'a' && want <= 'z')
      want = (char)(want - 'a' + 'A');
    upper_next = 0;
    if (*key++ != want)
      return 0;
  }
  return *key == '\0';
}

/* Index of the field named `key` (original name or json_name), or -1. */
static int json_find_field(const ProtobufCMessageDescriptor *desc, const char *key) {
  unsigned f;

  for (f = 0; f < desc->n_fields; f++)
    if (strcmp(desc->fields[f].name, key) == 0)
      return (int)f;
  for (f = 0; f < desc->n_fields; f++)
    if (json_key_is_camel(key, desc->fields[f].name))
      return (int)f;
  return -1;
}

/* A decimal integer string: optional '-', then digits only. */
static int json_decimal_ok(const char *s) {
  if (*s == '-')
    s++;
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

/*
 * A signed integer within [min, max] from a JSON integer, an integral JSON
 * real (1.0, 1e3: the official parser takes those) or a decimal string.
 */
static int json_get_signed(json_parse_ctx_t *ctx, const json_t *v, long long min,
                           long long max, const char *type, long long *out) {
  long long x;

  if (json_is_integer(v)) {
    x = json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);

    if (d != floor(d))
      return json_fail(ctx, "expected an integer, got a fraction (%.17g)", d);
    /* 2^63 as a double: anything at or past it cannot be a long long. */
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
      return json_fail(ctx, "%.17g is out of range for %s", d, type);
    x = (long long)d;
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);

    if (!json_decimal_ok(s))
      return json_fail(ctx, "expected an integer, got a string (\"%.40s\")", s);
    errno = 0;
    x = strtoll(s, NULL, 10);
    if (errno == ERANGE)
      return json_fail(ctx, "%.40s is out of range for %s", s, type);
  } else {
    return json_fail(ctx, "expected an integer, got %s", json_kind(v));
  }
  if (x < min || x > max)
    return json_fail(ctx, "%lld is out of range for %s", x, type);
  *out = x;
  return 0;
}

/* An unsigned integer no greater than max; same accepted forms as signed. */
static int json_get_unsigned(json_parse_ctx_t *ctx, const json_t *v,
                             unsigned long long max, const char *type,
                             unsigned long long *out) {
  unsigned long long x;

  if (json_is_integer(v)) {
    if (json_integer_value(v) < 0)
      return json_fail(ctx, "%lld is out of range for %s",
                       (long long)json_integer_value(v), type);
    x = (unsigned long long)json_integer_value(v);
  } else if (json_is_real(v)) {
    double d = json_real_value(v);

    if (d != floor(d))
      return json_fail(ctx, "expected an integer, got a fraction (%.17g)", d);
    if (d < 0 || d >= 18446744073709551616.0)
      return json_fail(ctx, "%.17g is out of range for %s", d, type);
    x = (unsigned long long)d;
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);

    if (!json_decimal_ok(s))
      return json_fail(ctx, "expected an integer, got a string (\"%.40s\")", s);
    if (*s == '-') {
      /* "-0" is zero; any other negative is out of range. */
      if (strspn(s + 1, "0") != strlen(s + 1))
        return json_fail(ctx, "%.40s is out of range for %s", s, type);
      x = 0;
    } else {
      errno = 0;
      x = strtoull(s, NULL, 10);
      if (errno == ERANGE)
        return json_fail(ctx, "%.40s is out of range for %s", s, type);
    }
  } else {
    return json_fail(ctx, "expected an integer, got %s", json_kind(v));
  }
  if (x > max)
    return json_fail(ctx, "%llu is out of range for %s", x, type);
  *out = x;
  return 0;
}

/* A float or double: a JSON number, "NaN", "Infinity", "-Infinity" or a
 * numeric string.  Finite values beyond a float's range are refused. */
static int json_get_real(json_parse_ctx_t *ctx, const json_t *v, int is_float,
                         double *out) {
  double d;

  if (json_is_number(v)) {
    d = json_number_value(v);
  } else if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;

    if (strcmp(s, "NaN") == 0) {
      *out = NAN;
      return 0;
    }
    if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
      *out = s[0] == '-' ? -INFINITY : INFINITY;
      return 0;
    }
    errno = 0;
    d = strtod(s, &end);
    /* strtod also takes "inf", "nan", hex and leading blanks: not JSON. */
    if (!*s || *end || errno == ERANGE || !isfinite(d) || s[0] == ' ' ||
        strpbrk(s, "xXiInN"))
      return json_fail(ctx, "expected a number, got a string (\"%.40s\")", s);
  } else {
    return json_fail(ctx, "expected a number, got %s", json_kind(v));
  }
  if (is_float && fabs(d) > FLT_MAX)
    return json_fail(ctx, "%.17g is out of range for float", d);
  *out = d;
  return 0;
}

/*
 * Base64, standard or URL-safe alphabet, padded or not, into bd (malloc'd).
 * Checked here, so that a fault names its offset; then put in the standard
 * alphabet with its padding for OpenSSL's decoder.
 */
static int json_get_bytes(json_parse_ctx_t *ctx, const json_t *v, ProtobufCBinaryData *bd) {
  const char *s;
  size_t len, pad = 0, i;
  char *std = NULL;
  uint8_t *data = NULL;
  int n, rc = -1;

  if (!json_is_string(v))
    return json_fail(ctx, "expected a base64 string, got %s", json_kind(v));
  s = json_string_value(v);
  len = json_string_length(v);
  while (pad < 2 && len > 0 && s[len - 1] == '=') {
    len--;
    pad++;
  }
  if ((pad && (len + pad) % 4 != 0) || len % 4 == 1)
    return json_fail(ctx, "invalid base64: bad length or padding");
  if (len == 0) {
    bd->len = 0;
    bd->data = NULL;
    return 0;
  }
  if (len > INT_MAX - 4) {
    json_fail(ctx, "invalid base64: too long");
    goto done;
  }
  pad = (4 - len % 4) % 4;
  std = malloc(len + pad + 1);
  data = malloc((len + pad) / 4 * 3);
  if (!std || !data) {
    json_fail(ctx, "out of memory");
    goto done;
  }
  for (i = 0; i < len; i++) {
    char c = s[i];

    if (c == '-' || c == '_')
      c = c == '-' ? '+' : '/';
    else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
               c == '/')) {
      json_fail(ctx, "invalid base64: unexpected character at offset %zu", i);
      goto done;
    }
    std[i] = c;
  }
  memset(std + len, '=', pad);
  /* whole quads in, three bytes out for each, the padding's included */
  n = EVP_DecodeBlock(data, (const unsigned char *)std, (int)(len + pad));
  if (n < 0 || (size_t)n < pad) {
    json_fail(ctx, "invalid base64");
    goto done;
  }
  bd->len = (size_t)n - pad;
  bd->data = data;
  data = NULL;
  rc = 0;
done:
  free(std);
  free(data);
  return rc;
}

/* One enum value: a name of the enum, or any int32 (proto3 enums are open). */
static int json_get_enum(json_parse_ctx_t *ctx, const ProtobufCFieldDescriptor *fd,
                         const json_t *v, int32_t *out) {
  const ProtobufCEnumDescriptor *ed = fd->descriptor;
  long long x;

  if (json_is_string(v)) {
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(v));

    if (ev) {
      *out = ev->value;
      return 0;
    }
    if (!json_decimal_ok(json_string_value(v)))
      return json_fail(ctx, "unknown value \"%.40s\" of enum %s",
                       json_string_value(v), ed->name);
  } else if (!json_is_number(v)) {
    return json_fail(ctx, "expected an enum name or number, got %s", json_kind(v));
  }
  if (json_get_signed(ctx, v, INT32_MIN, INT32_MAX, "an enum", &x))
    return -1;
  *out = (int32_t)x;
  return 0;
}

/*
 * Parse one value of field `fd` into `slot` (a member or an array cell that
 * holds the default or zero).  Pointers are stored in the slot as soon as
 * they own memory, so that freeing the enclosing message cleans up on error.
 */
static int json_parse_value(json_parse_ctx_t *ctx, const ProtobufCFieldDescriptor *fd,
                            const json_t *v, void *slot, int depth) {
  long long s;
  unsigned long long u;
  double d;

  switch (fd->type) {
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SFIXED32:
    if (json_get_signed(ctx, v, INT32_MIN, INT32_MAX, "int32", &s))
      return -1;
    *(int32_t *)slot = (int32_t)s;
    return 0;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_FIXED32:
    if (json_get_unsigned(ctx, v, UINT32_MAX, "uint32", &u))
      return -1;
    *(uint32_t *)slot = (uint32_t)u;
    return 0;
  case PROTOBUF_C_TYPE_INT64:
  case PROTOBUF_C_TYPE_SINT64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (json_get_signed(ctx, v, INT64_MIN, INT64_MAX, "int64", &s))
      return -1;
    *(int64_t *)slot = (int64_t)s;
    return 0;
  case PROTOBUF_C_TYPE_UINT64:
  case PROTOBUF_C_TYPE_FIXED64:
    if (json_get_unsigned(ctx, v, UINT64_MAX, "uint64", &u))
      return -1;
    *(uint64_t *)slot = (uint64_t)u;
    return 0;
  case PROTOBUF_C_TYPE_FLOAT:
    if (json_get_real(ctx, v, 1, &d))
      return -1;
    *(float *)slot = (float)d;
    return 0;
  case PROTOBUF_C_TYPE_DOUBLE:
    if (json_get_real(ctx, v, 0, &d))
      return -1;
    *(double *)slot = d;
    return 0;
  case PROTOBUF_C_TYPE_BOOL:
    if (!json_is_boolean(v))
      return json_fail(ctx, "expected true or false, got %s", json_kind(v));
    *(protobuf_c_boolean *)slot = json_is_true(v);
    return 0;
  case PROTOBUF_C_TYPE_ENUM:
    return json_get_enum(ctx, fd, v, (int32_t *)slot);
  case PROTOBUF_C_TYPE_STRING: {
    size_t len;
    char *copy;

    if (!json_is_string(v))
      return json_fail(ctx, "expected a string, got %s", json_kind(v));
    len = json_string_length(v);
    /* A char * cannot carry an embedded NUL (jansson can, with ALLOW_NUL). */
    if (memchr(json_string_value(v), '\0', len))
      return json_fail(ctx, "string contains a NUL character");
    /* Always malloc'd, "" included: free_unpacked frees every repeated
     * element and every oneof string not equal to the descriptor default. */
    copy = malloc(len + 1);
    if (!copy)
      return json_fail(ctx, "out of memory");
    memcpy(copy, json_string_value(v), len + 1);
    *(char **)slot = copy;
    return 0;
  }
  case PROTOBUF_C_TYPE_BYTES:
    return json_get_bytes(ctx, v, (ProtobufCBinaryData *)slot);
  case PROTOBUF_C_TYPE_MESSAGE: {
    const ProtobufCMessageDescriptor *sd = fd->descriptor;
    ProtobufCMessage *sub;

    if (!json_is_object(v))
      return json_fail(ctx, "expected an object, got %s", json_kind(v));
    if (depth >= CODEC_MAX_DEPTH)
      return json_fail(ctx, "nested deeper than %d", CODEC_MAX_DEPTH);
    sub = malloc(sd->sizeof_message);
    if (!sub)
      return json_fail(ctx, "out of memory");
    protobuf_c_message_init(sd, sub);
    *(ProtobufCMessage **)slot = sub;
    return json_parse_message(ctx, v, sd, sub, depth + 1);
  }
  }
  return json_fail(ctx, "field type %d not supported", (int)fd->type);
}

static int json_parse_repeated(json_parse_ctx_t *ctx, const ProtobufCFieldDescriptor *fd,
                               const json_t *v, ProtobufCMessage *msg, int depth) {
  size_t *count = json_member(msg, fd->quantifier_offset);
  char **arr = json_member(msg, fd->offset);
  size_t n, i, esize = codec_field_elem_size(fd);

  if (!json_is_array(v))
    return json_fail(ctx, "expected an array, got %s", json_kind(v));
  n = json_array_size(v);
  if (n == 0)
    return 0;
  /* Zeroed, and counted before each element is filled: free_unpacked then
   * sees NULL pointers (which it skips) in cells not yet parsed. */
  *arr = calloc(n, esize);
  if (!*arr)
    return json_fail(ctx, "out of memory");
  for (i = 0; i < n; i++) {
    const json_t *elem = json_array_get(v, i);
    size_t old = json_path_push(ctx, NULL, (long)i);

    *count = i + 1;
    if (json_is_null(elem))
      return json_fail(ctx, "null is not allowed in a repeated field");
    if (json_parse_value(ctx, fd, elem, *arr + i * esize, depth))
      return -1;
    json_path_pop(ctx, old);
  }
  return 0;
}

/* Fill `msg` (initialised, owned by the caller) from the JSON object. */
static int json_parse_message(json_parse_ctx_t *ctx, const json_t *json,
                              const ProtobufCMessageDescriptor *desc,
                              ProtobufCMessage *msg, int depth) {
  unsigned char *seen = NULL;
  const char *key;
  size_t key_len;
  json_t *value;
  int rc = -1;

  if (!json_is_object(json)) {
    json_fail(ctx, "expected an object, got %s", json_kind(json));
    goto done;
  }
  seen = calloc(desc->n_fields ? desc->n_fields : 1, 1);
  if (!seen) {
    json_fail(ctx, "out of memory");
    goto done;
  }
  json_object_keylen_foreach((json_t *)json, key, key_len, value) {
    /* A key with a NUL inside (jansson allows one) names no field. */
    int f = strlen(key) == key_len ? json_find_field(desc, key) : -1;
    const ProtobufCFieldDescriptor *fd;
    size_t old;

    if (f < 0) {
      old = json_path_push(ctx, key, 0);
      json_fail(ctx, "unknown field");
      goto done;
    }
    fd = &desc->fields[f];
    old = json_path_push(ctx, fd->name, 0);
    /* "subscribe_id" and "subscribeId" name the same field. */
    if (seen[f]) {
      json_fail(ctx, "field given twice");
      goto done;
    }
    seen[f] = 1;
    /* null means the default; the official parser does not count it as
     * setting a oneof either. */
    if (json_is_null(value)) {
      json_path_pop(ctx, old);
      continue;
    }
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
      if (json_parse_repeated(ctx, fd, value, msg, depth))
        goto done;
    } else {
      if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = json_member(msg, fd->quantifier_offset);

        if (*which) {
          const ProtobufCFieldDescriptor *other =
              protobuf_c_message_descriptor_get_field(desc, *which);
          json_fail(ctx, "only one member of a oneof may be set, %s is set already",
                    other ? other->name : "another");
          goto done;
        }
        /* Selected before filling: the union is still zero, so a failure
         * below leaves NULL pointers that free_unpacked skips. */
        *which = fd->id;
      } else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
                 fd->type != PROTOBUF_C_TYPE_STRING &&
                 fd->type != PROTOBUF_C_TYPE_MESSAGE) {
        *(protobuf_c_boolean *)json_member(msg, fd->quantifier_offset) = 1;
      }
      if (json_parse_value(ctx, fd, value, json_member(msg, fd->offset), depth))
        goto done;
    }
    json_path_pop(ctx, old);
  }
  rc = 0;

done:
  free(seen);
  return rc;
}

int codec_json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, char *errstr, size_t errstr_size) {
  json_parse_ctx_t ctx;
  ProtobufCMessage *msg = NULL;

  if (out)
    *out = NULL;
  if (!json || !desc || !out) {
    if (errstr && errstr_size)
      snprintf(errstr, errstr_size, "codec_json_to_pb: missing argument");
    return -1;
  }
  memset(&ctx, 0, sizeof(ctx));
  ctx.errstr = errstr;
  ctx.errstr_size = errstr_size;
  ctx.root = desc;

  msg = malloc(desc->sizeof_message);
  if (!msg) {
    json_fail(&ctx, "out of memory");
    goto fail;
  }
  protobuf_c_message_init(desc, msg);
  if (json_parse_message(&ctx, json, desc, msg, 1))
    goto fail;
  *out = msg;
  return 0;

fail:
  if (msg)
    protobuf_c_message_free_unpacked(msg, NULL);
  return -1;
}

int codec_json_parse(const char *text, size_t len, Message **msg, char *errstr,
                     size_t errstr_size) {
  json_error_t jerr;
  json_t *json;
  ProtobufCMessage *out = NULL;
  int rc;

  if (msg)
    *msg = NULL;
  if (!text || !msg) {
    if (errstr && errstr_size)
      snprintf(errstr, errstr_size, "codec_json_parse: missing argument");
    return -1;
  }
  /* DECODE_ANY so that `5` gets "expected an object" from the walker below;
   * trailing text after the value is still refused by jansson. */
  json = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!json) {
    if (errstr && errstr_size)
      snprintf(errstr, errstr_size, "invalid JSON at line %d column %d: %s", jerr.line,
               jerr.column, jerr.text);
    return -1;
  }
  rc = codec_json_to_pb(json, &message__descriptor, &out, errstr, errstr_size);
  json_decref(json);
  if (rc == 0)
    *msg = (Message *)out;
  return rc;
}
