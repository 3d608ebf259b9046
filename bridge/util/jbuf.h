/*
 * jbuf: a growing text buffer for writing JSON by hand, in exactly the
 * bytes jansson's json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) would give.
 *
 * DESIGN.  The hot path (snapshot states, event envelopes, store records)
 * writes JSON straight from protobuf messages and known strings instead of
 * building a jansson tree and dumping it: no allocation per value.  Output
 * must stay byte-identical to jansson's, because states restored from a
 * store (parsed and dumped by jansson) are compared with fresh ones byte for
 * byte: strings that are plain printable ASCII are copied, anything else is
 * escaped by jansson itself.  Appending is inline while the buffer has room
 * (the common case: the buffers are reused and stop growing), with growth
 * in jbuf.c.  A failed allocation sets `failed`; everything after it is a
 * no-op, so callers check once at the end.  Not thread-safe.
 */
#ifndef JBUF_H
#define JBUF_H

#include <stddef.h>
#include <string.h>

#include <jansson.h>

typedef struct jbuf {
  char *data; /* NUL-terminated when len > 0 */
  size_t len, size;
  int failed;
} jbuf_t;

#define JBUF_INIT {NULL, 0, 0, 0}

/* Empty it (keeping its memory) / free its memory. */
void jbuf_reset(jbuf_t *b);
void jbuf_free(jbuf_t *b);

/* Room for n more bytes and the NUL after them: 1, or 0 once failed (out of memory). */
int jbuf_grow(jbuf_t *b, size_t n);
static inline int jbuf_reserve(jbuf_t *b, size_t n) {
  return (!b->failed && b->len + n < b->size) || jbuf_grow(b, n);
}

/* raw bytes */
static inline void jbuf_put(jbuf_t *b, const char *text, size_t n) {
  if (!jbuf_reserve(b, n))
    return;
  memcpy(b->data + b->len, text, n);
  b->len += n;
  b->data[b->len] = '\0';
}

/* raw, NUL-terminated */
static inline void jbuf_str(jbuf_t *b, const char *text) { jbuf_put(b, text, strlen(text)); }

static inline void jbuf_char(jbuf_t *b, char c) {
  if (!jbuf_reserve(b, 1))
    return;
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
}

void jbuf_int(jbuf_t *b, long long v);
void jbuf_uint(jbuf_t *b, unsigned long long v);
/* A JSON string of n bytes of UTF-8 (quoted and escaped as jansson does). */
void jbuf_jstrn(jbuf_t *b, const char *text, size_t n);
void jbuf_jstr(jbuf_t *b, const char *text); /* NUL-terminated; NULL writes "" */
/*
 * An object member's `"name":` (name: a plain ASCII name, written as is),
 * after a comma unless it opens its object; its value follows.
 */
void jbuf_key(jbuf_t *b, const char *name);
/* The same with the name's length known, and no comma: `"name":`. */
static inline void jbuf_keyn(jbuf_t *b, const char *name, size_t len) {
  if (!jbuf_reserve(b, len + 3))
    return;
  char *p = b->data + b->len;
  *p++ = '"';
  memcpy(p, name, len);
  p += len;
  *p++ = '"';
  *p++ = ':';
  *p = '\0';
  b->len += len + 3;
}
/* Any JSON value, dumped by jansson (compact, ASCII). */
void jbuf_json(jbuf_t *b, const json_t *value);

/* A malloc'd copy of the contents (NUL-terminated), NULL when out of memory; caller frees. */
char *jbuf_dup(const jbuf_t *b);

#endif
