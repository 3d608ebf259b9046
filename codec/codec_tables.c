/*
 * codec_tables: lookup over the X-macro tables of codec_tables.h.  The
 * tables are small (under 40 rows), so linear search is the simplest correct
 * thing; nothing here is on a per-byte path.
 */
#include "codec_tables.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const codec_result_t results[] = {
#define CODEC_X_ROW(n, c, t) {c, #n, t},
    CODEC_RESULTS(CODEC_X_ROW)
#undef CODEC_X_ROW
};

const codec_result_t *codec_results(size_t *count) {
  *count = sizeof(results) / sizeof(results[0]);
  return results;
}

const codec_result_t *codec_result_lookup(int code) {
  for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++)
    if (results[i].code == code)
      return &results[i];
  return NULL;
}

const char *codec_result_name(int code) {
  const codec_result_t *r = codec_result_lookup(code);
  return r ? r->name : "UNKNOWN";
}

int codec_result_by_name(const char *name, int *code) {
  static const char prefix[] = "MTCTISESS_";
  for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
    const char *full = results[i].name;
    if (strcmp(full, name) == 0 || strcmp(full + sizeof(prefix) - 1, name) == 0) {
      *code = results[i].code;
      return 0;
    }
  }
  return -1;
}

/* All sets in one array; CODEC_BITS keeps each set's rows together and
 * lowest bit first, so a set is a contiguous run. */
static const codec_bit_t bits[] = {
#define CODEC_X_ROW(set, c, bit, n, d) {CODEC_BITS_##set, 1u << (bit), n, d},
    CODEC_BITS(CODEC_X_ROW)
#undef CODEC_X_ROW
};
#define NBITS (sizeof(bits) / sizeof(bits[0]))

static const char *const set_names[CODEC_BITS__COUNT] = {
    [CODEC_BITS_CALL_FEATURES] = "call_features",
    [CODEC_BITS_USER_FEATURES] = "user_features",
    [CODEC_BITS_LINES_FLAGS] = "lines_flags",
    [CODEC_BITS_LINES_NOTIFY_FLAGS] = "lines_notify_flags",
    [CODEC_BITS_USER_FLAGS] = "user_flags",
    [CODEC_BITS_QUEUE_FLAGS] = "queue_flags",
    [CODEC_BITS_PRESENCE_FLAGS] = "presence_flags",
    [CODEC_BITS_CCFLAGS] = "ccflags",
};

const codec_bit_t *codec_bits(codec_bitset_t set, size_t *count) {
  size_t first = 0, n = 0;
  while (first < NBITS && bits[first].set != set)
    first++;
  while (first + n < NBITS && bits[first + n].set == set)
    n++;
  *count = n;
  return n ? &bits[first] : NULL;
}

const char *codec_bitset_name(codec_bitset_t set) {
  return (unsigned)set < CODEC_BITS__COUNT ? set_names[set] : "unknown";
}

int codec_bit_by_name(codec_bitset_t set, const char *name, uint32_t *mask) {
  size_t n;
  const codec_bit_t *b = codec_bits(set, &n);
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(b[i].name, name) == 0) {
      *mask = b[i].mask;
      return 0;
    }
  return -1;
}

size_t codec_bits_format(codec_bitset_t set, uint32_t value, char *buf, size_t size) {
  size_t n, len = 0;
  const codec_bit_t *b = codec_bits(set, &n);
  uint32_t rest = value;
  if (size)
    buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (!(value & b[i].mask))
      continue;
    rest &= ~b[i].mask;
    int w = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0, "%s%s",
                     len ? " " : "", b[i].name);
    len += (size_t)w;
  }
  if (rest) {
    int w = snprintf(len < size ? buf + len : NULL, len < size ? size - len : 0,
                     "%s0x%x", len ? " " : "", rest);
    len += (size_t)w;
  }
  return len;
}
