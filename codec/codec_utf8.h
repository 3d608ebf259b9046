/*
 * codec_utf8: the one strict UTF-8 decoder of the codec, private to it.  The
 * wire check refuses strings that are not valid UTF-8, the JSON printer
 * replaces invalid bytes with U+FFFD, and the text renderer escapes them; all
 * three must agree on what "valid" means, so they share this.
 */
#ifndef CODEC_UTF8_H
#define CODEC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the valid UTF-8 sequence at s (1 for an ASCII byte, NUL
 * included), or 0 when it is not valid: truncated, overlong, a UTF-16
 * surrogate or past U+10FFFF.  left >= 1 is how many bytes s holds.
 */
static inline size_t codec_utf8_seq_len(const uint8_t *s, size_t left) {
  uint8_t c = s[0], lo = 0x80, hi = 0xbf;
  size_t n, i;

  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  if (left < n)
    return 0;
  /* The second byte's range rules out overlongs, surrogates and > U+10FFFF. */
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return n;
}

#endif
