/*
 * codec_ids: the identities MTCTI3 carries as raw bytes, rendered for people
 * and JSON consumers: GUIDs (16 bytes) as UUID strings, gcid (variable
 * length) as lowercase hex.
 */
#ifndef CODEC_IDS_H
#define CODEC_IDS_H

#include <stddef.h>
#include <stdint.h>

#define CODEC_GUID_LEN 16
#define CODEC_GUID_STRLEN 36 /* without the NUL */

/*
 * "dc51ba00-08a3-11dd-8053-0050569f6ef8" into out (size >= 37).  A guid that
 * is not 16 bytes long renders as plain hex instead.  Returns out.
 */
char *codec_guid_format(const uint8_t *guid, size_t len, char *out, size_t size);
/* Parse a UUID string (with or without dashes, any case) into 16 bytes; 0 or -1. */
int codec_guid_parse(const char *text, uint8_t guid[CODEC_GUID_LEN]);
/* Lowercase hex of `len` bytes into out (size >= 2*len+1); returns out. */
char *codec_hex_format(const uint8_t *data, size_t len, char *out, size_t size);
/* Parse hex (even length, any case, optional spaces) into out; length or -1. */
long codec_hex_parse(const char *text, uint8_t *out, size_t size);

#endif
