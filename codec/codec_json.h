/*
 * codec_json: the proto3 JSON mapping of MTCTI3 messages, both ways.
 *
 * Printing follows the official protobuf JSON printer with original field
 * names (preserving_proto_field_name): fields holding their default value are
 * omitted (a set oneof member is always printed), enums by name, bytes as
 * standard base64, int32 as JSON numbers.  Parsing accepts what the official
 * parser accepts: original or lowerCamelCase names, enums by name or number,
 * numbers as JSON numbers or numeric strings, null as the default, base64
 * (standard or URL-safe, padded or not; OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock do the arithmetic).  Unknown names are an error.
 * Works on any message of ipo_mtcti3.proto through its descriptor.
 */
#ifndef CODEC_JSON_H
#define CODEC_JSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "ipo_mtcti3.pb-c.h"

/* A new jansson object for `msg` (a new reference), or NULL when out of memory. */
json_t *codec_json_from_pb(const ProtobufCMessage *msg);

/*
 * Build a message of type `desc` from a jansson value.  Returns 0 and *out,
 * owned by the caller (free with protobuf_c_message_free_unpacked(*out, NULL)),
 * or -1 with errstr naming the field path and the problem
 * ("subscribe.timeout: expected an integer, got a string").
 */
int codec_json_to_pb(const json_t *json, const ProtobufCMessageDescriptor *desc,
                     ProtobufCMessage **out, char *errstr, size_t errstr_size);

/* Compact JSON text of a Message; malloc'd, caller frees; NULL on OOM. */
char *codec_json_print(const Message *msg);

/*
 * Parse JSON text (exactly one value) into a Message.  0 and *msg (free with
 * codec_message_free), or -1 with errstr filled.
 */
int codec_json_parse(const char *text, size_t len, Message **msg, char *errstr,
                     size_t errstr_size);

#endif
