/*
 * jbuf: hand-written JSON in jansson's bytes.  See jbuf.h.
 */
#include "jbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jbuf_reset(jbuf_t *b) {
  b->len = 0;
  b->failed = 0;
  if (b->data)
    b->data[0] = '\0';
}

void jbuf_free(jbuf_t *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

int jbuf_grow(jbuf_t *b, size_t n) {
  if (b->failed)
    return 0;
  if (b->len + n < b->size)
    return 1;
  size_t size = b->size ? b->size : 4096;
  while (size <= b->len + n) {
    if (size > (size_t)-1 / 2) {
      b->failed = 1;
      return 0;
    }
    size *= 2;
  }
  char *grown = realloc(b->data, size);
  if (!grown) {
    b->failed = 1;
    return 0;
  }
  b->data = grown;
  b->size = size;
  return 1;
}

/* "00".."99": two digits per division (snprintf would cost ten times as much). */
static const char jbuf_digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
                                          "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
                                          "8081828384858687888990919293949596979899";

void jbuf_uint(jbuf_t *b, unsigned long long v) {
  static const unsigned long long powers[20] = {1ULL,
                                                10ULL,
                                                100ULL,
                                                1000ULL,
                                                10000ULL,
                                                100000ULL,
                                                1000000ULL,
                                                10000000ULL,
                                                100000000ULL,
                                                1000000000ULL,
                                                10000000000ULL,
                                                100000000000ULL,
                                                1000000000000ULL,
                                                10000000000000ULL,
                                                100000000000000ULL,
                                                1000000000000000ULL,
                                                10000000000000000ULL,
                                                100000000000000000ULL,
                                                1000000000000000000ULL,
                                                10000000000000000000ULL};
  /* the digits: log10 from the bit length (1233/4096 ~ log10(2)), corrected by one comparison */
  size_t t = (size_t)((64 - __builtin_clzll(v | 1)) * 1233) >> 12;
  size_t n = v ? t + 1 - (v < powers[t]) : 1;
  if (!jbuf_reserve(b, n))
    return;
  char *p = b->data + b->len + n; /* written backwards, in place */
  *p = '\0';
  while (v >= 100) {
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    p -= 2;
    p[0] = jbuf_digit_pairs[2 * r];
    p[1] = jbuf_digit_pairs[2 * r + 1];
  }
  if (v >= 10) {
    p[-2] = jbuf_digit_pairs[2 * v];
    p[-1] = jbuf_digit_pairs[2 * v + 1];
  } else {
    p[-1] = (char)('0' + v);
  }
  b->len += n;
}

void jbuf_int(jbuf_t *b, long long v) {
  if (v < 0) {
    jbuf_char(b, '-');
    jbuf_uint(b, 0ULL - (unsigned long long)v);
  } else {
    jbuf_uint(b, (unsigned long long)v);
  }
}

void jbuf_key(jbuf_t *b, const char *name) {
  if (b->len && b->data[b->len - 1] != '{')
    jbuf_char(b, ',');
  jbuf_keyn(b, name, strlen(name));
}

void jbuf_json(jbuf_t *b, const json_t *value) {
  const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY;
  char small[512];
  size_t n = value ? json_dumpb(value, small, sizeof(small), flags) : 0;
  if (n == 0) {
    b->failed = 1;
  } else if (n <= sizeof(small)) {
    jbuf_put(b, small, n);
  } else {
    char *text = json_dumps(value, flags);
    if (text)
      jbuf_str(b, text);
    else
      b->failed = 1;
    free(text);
  }
}

/*
 * The bytes jansson writes as they are in a compact ASCII dump: printable
 * ASCII and DEL, but for the quote and the backslash.  0x80 and above are
 * zero (multibyte UTF-8, escaped as \uXXXX).
 */
#define JBUF_PLAIN(c) ((c) >= 0x20 && (c) != '"' && (c) != '\\')
#define JBUF_PLAIN4(c) JBUF_PLAIN(c), JBUF_PLAIN((c) + 1), JBUF_PLAIN((c) + 2), JBUF_PLAIN((c) + 3)
#define JBUF_PLAIN16(c) JBUF_PLAIN4(c), JBUF_PLAIN4((c) + 4), JBUF_PLAIN4((c) + 8), JBUF_PLAIN4((c) + 12)
static const unsigned char jbuf_plain[256] = {
    JBUF_PLAIN16(0x00), JBUF_PLAIN16(0x10), JBUF_PLAIN16(0x20), JBUF_PLAIN16(0x30),
    JBUF_PLAIN16(0x40), JBUF_PLAIN16(0x50), JBUF_PLAIN16(0x60), JBUF_PLAIN16(0x70),
};

/*
 * Whether 8 bytes are all plain (see jbuf_plain): none below 0x20, none from
 * 0x80, no quote, no backslash, tested on the word at once.
 */
static int jbuf_plain8(const unsigned char *p) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t w, quote, backslash;
  memcpy(&w, p, sizeof(w));
  quote = w ^ (ones * '"');
  backslash = w ^ (ones * '\\');
  return !((w | ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & high);
}

void jbuf_jstrn(jbuf_t *b, const char *text, size_t n) {
  const unsigned char *p = (const unsigned char *)text;
  size_t i = 0;
  while (n - i >= 8 && jbuf_plain8(p + i))
    i += 8;
  while (i < n && jbuf_plain[p[i]])
    i++;
  if (i == n) { /* plain: copied between its quotes */
    if (!jbuf_reserve(b, n + 2))
      return;
    char *o = b->data + b->len;
    *o++ = '"';
    memcpy(o, text, n);
    o += n;
    *o++ = '"';
    *o = '\0';
    b->len += n + 2;
    return;
  }
  json_t *str = json_stringn(text, n);
  if (!str) /* not UTF-8: as jansson keeps such a string when told not to check */
    str = json_stringn_nocheck(text, n);
  if (str)
    jbuf_json(b, str);
  else
    b->failed = 1;
  json_decref(str);
}

void jbuf_jstr(jbuf_t *b, const char *text) {
  if (!text)
    text = "";
  jbuf_jstrn(b, text, strlen(text));
}

char *jbuf_dup(const jbuf_t *b) {
  if (b->failed)
    return NULL;
  char *copy = malloc(b->len + 1);
  if (copy) {
    if (b->len)
      memcpy(copy, b->data, b->len);
    copy[b->len] = '\0';
  }
  return copy;
}
