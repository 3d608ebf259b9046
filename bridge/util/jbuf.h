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
 * escaped by jansson itself.  A failed allocation sets `failed`; everything
 * after it is a no-op, so callers check once at the end.  Not thread-safe.
 */
#ifndef JBUF_H
#define JBUF_H

#include <stddef.h>

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

void jbuf_put(jbuf_t *b, const char *text, size_t n); /* raw bytes */
void jbuf_str(jbuf_t *b, const char *text);            /* raw, NUL-terminated */
void jbuf_char(jbuf_t *b, char c);
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
/* Any JSON value, dumped by jansson (compact, ASCII). */
void jbuf_json(jbuf_t *b, const json_t *value);

/* A malloc'd copy of the contents (NUL-terminated), NULL when out of memory; caller frees. */
char *jbuf_dup(const jbuf_t *b);

#endif
