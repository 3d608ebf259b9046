/*
 * test_jbuf: hand-written JSON is byte for byte what jansson dumps.
 *
 *   01 every byte value, alone and in every place of plain text, as a string: jansson's bytes (or, as
 *      jansson, a failure for a byte that is not UTF-8)
 *   02 integers at their limits
 *   03 members: a comma before each but the first of its object; keyn writes no comma
 *   04 growth across many reallocations keeps every byte and the NUL
 *   05 reset keeps the memory and empties the text; dup copies it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jbuf.h"

/* jansson's compact ASCII dump of n bytes as a string (unchecked when not UTF-8, as jbuf does). */
static char *jansson_string(const char *text, size_t n) {
  json_t *j = json_stringn(text, n);
  if (!j)
    j = json_stringn_nocheck(text, n);
  char *out = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
  json_decref(j);
  return out;
}

static void check_string(const char *text, size_t n) {
  jbuf_t b = JBUF_INIT;
  jbuf_jstrn(&b, text, n);
  char *want = jansson_string(text, n);
  if (want) {
    CHECK_STR(b.data, want);
    CHECK_INT(b.len, strlen(want));
  } else { /* not UTF-8: jansson cannot dump it as ASCII, and jbuf says so */
    CHECK(b.failed);
  }
  free(want);
  jbuf_free(&b);
}

static void s01_every_byte(void) {
  for (int c = 1; c < 256; c++) {
    char one[1] = {(char)c};
    char mid[7] = {'a', 'b', 'c', (char)c, 'x', 'y', 'z'};
    check_string(one, 1);
    check_string(mid, sizeof(mid));
    /* past eight bytes, which are tested a word at a time: the byte in each place of a 17-byte string */
    for (size_t at = 0; at < 17; at++) {
      char text[17];
      memcpy(text, "abcdefghijklmnopq", sizeof(text));
      text[at] = (char)c;
      check_string(text, sizeof(text));
    }
  }
  static const char *const strings[] = {"", "plain", "quote\" and \\ back", "caf\xc3\xa9",
                                        "\xe2\x82\xac euro", "\xf0\x9f\x9a\x80 rocket", "a/b", "\x7f"};
  for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
    check_string(strings[i], strlen(strings[i]));
  jbuf_t b = JBUF_INIT;
  jbuf_jstr(&b, NULL);
  CHECK_STR(b.data, "\"\"");
  jbuf_free(&b);
}

static void s02_integers(void) {
  static const long long ints[] = {0, 7, -1, 10, -10, 2147483647LL, -2147483648LL, 9223372036854775807LL,
                                   -9223372036854775807LL - 1};
  for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
    jbuf_t b = JBUF_INIT;
    jbuf_int(&b, ints[i]);
    json_t *j = json_integer(ints[i]);
    char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    CHECK_STR(b.data, want);
    free(want);
    json_decref(j);
    jbuf_free(&b);
  }
  jbuf_t b = JBUF_INIT;
  jbuf_uint(&b, 18446744073709551615ULL);
  CHECK_STR(b.data, "18446744073709551615");
  jbuf_free(&b);
  /* every length of number: each power of ten, one below it and one above, as printf writes them */
  unsigned long long p = 1;
  for (int digits = 1; digits <= 20; digits++, p *= 10) {
    unsigned long long vs[] = {p - 1, p, p + 1, p * 2 + 3};
    for (size_t i = 0; i < sizeof(vs) / sizeof(vs[0]); i++) {
      char want[32];
      snprintf(want, sizeof(want), "%llu", vs[i]);
      jbuf_t u = JBUF_INIT;
      jbuf_uint(&u, vs[i]);
      CHECK_STR(u.data, want);
      jbuf_free(&u);
    }
    if (digits == 19)
      break; /* p * 10 would overflow */
  }
}

static void s03_members(void) {
  jbuf_t b = JBUF_INIT;
  jbuf_char(&b, '{');
  jbuf_key(&b, "a");
  jbuf_int(&b, 1);
  jbuf_key(&b, "b");
  jbuf_char(&b, '{');
  jbuf_key(&b, "c");
  jbuf_str(&b, "null}");
  jbuf_char(&b, ',');
  jbuf_keyn(&b, "dee", 2);
  jbuf_str(&b, "[]}");
  CHECK_STR(b.data, "{\"a\":1,\"b\":{\"c\":null},\"de\":[]}");
  CHECK(!b.failed);
  jbuf_free(&b);
}

static void s04_growth(void) {
  jbuf_t b = JBUF_INIT;
  size_t want = 0;
  for (int i = 0; i < 20000; i++) {
    jbuf_jstr(&b, "0123456789");
    jbuf_char(&b, ',');
    jbuf_uint(&b, (unsigned)i);
    want += 14 + (i >= 10) + (i >= 100) + (i >= 1000) + (i >= 10000);
  }
  CHECK_INT(b.len, want);
  CHECK_INT(strlen(b.data), want);
  CHECK(memcmp(b.data, "\"0123456789\",0\"0123456789\",1", 28) == 0);
  CHECK(b.size > b.len);
  CHECK(!b.failed);
  jbuf_free(&b);
  CHECK(b.data == NULL && b.len == 0 && b.size == 0);
}

static void s05_reset_dup(void) {
  jbuf_t b = JBUF_INIT;
  jbuf_str(&b, "abc");
  char *copy = jbuf_dup(&b);
  CHECK_STR(copy, "abc");
  free(copy);
  size_t size = b.size;
  jbuf_reset(&b);
  CHECK_INT(b.len, 0);
  CHECK_STR(b.data, "");
  CHECK_INT(b.size, size);
  copy = jbuf_dup(&b);
  CHECK_STR(copy, "");
  free(copy);
  jbuf_free(&b);
  jbuf_t empty = JBUF_INIT;
  copy = jbuf_dup(&empty);
  CHECK_STR(copy, "");
  free(copy);
}

int main(void) {
  s01_every_byte();
  s02_integers();
  s03_members();
  s04_growth();
  s05_reset_dup();
  return check_done();
}
