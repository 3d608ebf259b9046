/*
 * codec_ids: GUIDs and gcids between raw bytes and text.  MTCTI3 carries
 * both as bytes; people and JSON consumers want UUID strings and hex.
 */
#include "codec_ids.h"

#include <ctype.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

char *codec_hex_format(const uint8_t *data, size_t len, char *out, size_t size) {
  size_t o = 0;
  if (!size)
    return out;
  for (size_t i = 0; i < len && o + 2 < size; i++) {
    out[o++] = hexdigits[data[i] >> 4];
    out[o++] = hexdigits[data[i] & 0xf];
  }
  out[o] = '\0';
  return out;
}

char *codec_guid_format(const uint8_t *guid, size_t len, char *out, size_t size) {
  if (len != CODEC_GUID_LEN || size < CODEC_GUID_STRLEN + 1)
    return codec_hex_format(guid, len, out, size);
  size_t o = 0;
  for (size_t i = 0; i < CODEC_GUID_LEN; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      out[o++] = '-';
    out[o++] = hexdigits[guid[i] >> 4];
    out[o++] = hexdigits[guid[i] & 0xf];
  }
  out[o] = '\0';
  return out;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

long codec_hex_parse(const char *text, uint8_t *out, size_t size) {
  size_t n = 0;
  int hi = -1;
  for (const char *p = text; *p; p++) {
    if (*p == ' ' || *p == '\t' || *p == ':')
      continue;
    int v = hexval((unsigned char)*p);
    if (v < 0)
      return -1;
    if (hi < 0) {
      hi = v;
      continue;
    }
    if (n >= size)
      return -1;
    out[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  return hi < 0 ? (long)n : -1;
}

int codec_guid_parse(const char *text, uint8_t guid[CODEC_GUID_LEN]) {
  size_t n = 0;
  int hi = -1;
  for (const char *p = text; *p; p++) {
    if (*p == '-')
      continue;
    int v = hexval((unsigned char)*p);
    if (v < 0 || n >= CODEC_GUID_LEN)
      return -1;
    if (hi < 0) {
      hi = v;
      continue;
    }
    guid[n++] = (uint8_t)(hi << 4 | v);
    hi = -1;
  }
  return n == CODEC_GUID_LEN && hi < 0 ? 0 : -1;
}
