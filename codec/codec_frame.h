/*
 * codec_frame: one websocket payload <-> one MTCTI3 Message.
 *
 * Two framings exist, chosen by the websocket subprotocol: "openapi" puts the
 * 4-octet header 00 00 00 01 before the protobuf bytes, "openapinoframing"
 * sends bare protobuf.  Decoding first walks the wire format against the
 * message descriptors (so a malformed payload gets a message saying what is
 * wrong and where), then unpacks it with protobuf-c.  Unknown fields are
 * skipped: newer IP Office releases add fields.  Pure functions: no I/O.
 */
#ifndef CODEC_FRAME_H
#define CODEC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "ipo_mtcti3.pb-c.h"

#define CODEC_FRAME_HEADER_LEN 4
#define CODEC_MAX_PAYLOAD_DEFAULT ((size_t)1 << 20) /* 1 MiB */
/* Nesting deeper than this is refused (the protocol needs about 6). */
#define CODEC_MAX_DEPTH 32

typedef enum codec_framing {
  CODEC_FRAMING_OPENAPI = 0, /* subprotocol "openapi": 00 00 00 01 + protobuf */
  CODEC_FRAMING_NONE = 1     /* subprotocol "openapinoframing": bare protobuf */
} codec_framing_t;

/* "openapi" or "openapinoframing". */
const char *codec_framing_subprotocol(codec_framing_t framing);
/* Framing of a subprotocol name; 0, or -1 when the name is neither. */
int codec_framing_from_subprotocol(const char *name, codec_framing_t *framing);

/*
 * Check the protobuf wire format of `len` bytes against `desc` (tags, wire
 * types, lengths, varints, nesting), without allocating.  0 when sound; -1
 * with a one-line reason in errstr ("Message.subscribe (3): length 12 runs
 * past the end at offset 2").
 */
int codec_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                     size_t len, char *errstr, size_t errstr_size);

/*
 * Decode one websocket payload.  max_payload 0 means the default (1 MiB).
 * Returns 0 and *msg, owned by the caller (free with codec_message_free), or
 * -1 with errstr filled and *msg NULL.
 */
int codec_frame_decode(const uint8_t *buf, size_t len, codec_framing_t framing,
                       size_t max_payload, Message **msg, char *errstr,
                       size_t errstr_size);

/*
 * An arena for decoded messages.  protobuf-c allocates every submessage,
 * string and array of a message it unpacks, and frees them one by one; a
 * stream of messages decoded one at a time (a link's receive path) can
 * instead unpack each into memory kept from one message to the next: no
 * allocation once the arena has grown to fit, and a message is freed whole
 * by decoding the next.  Owned by the caller; one thread at a time.
 */
typedef struct codec_arena codec_arena_t;

/* A new, empty arena; NULL when out of memory.  codec_arena_free frees it and the message in it. */
codec_arena_t *codec_arena_new(void);
void codec_arena_free(codec_arena_t *arena);

/*
 * codec_frame_decode into `arena`: the previous message decoded into it is
 * gone, and *msg lives until the next decode into it or codec_arena_free
 * (never codec_message_free it).  Same refusals, same errstr.
 */
int codec_frame_decode_into(codec_arena_t *arena, const uint8_t *buf, size_t len,
                            codec_framing_t framing, size_t max_payload, Message **msg,
                            char *errstr, size_t errstr_size);

/*
 * Encode one Message as a websocket payload.  The payload is written at
 * *alloc + headroom (headroom lets libwebsockets put its LWS_PRE header in
 * front without a copy) and is *len bytes long.  *alloc is malloc'd and owned
 * by the caller (free()).  Returns 0, or -1 with errstr filled (nothing set,
 * too big for max_payload, or out of memory).
 */
int codec_frame_encode(const Message *msg, codec_framing_t framing, size_t max_payload,
                       size_t headroom, uint8_t **alloc, size_t *len, char *errstr,
                       size_t errstr_size);

/*
 * The same in two steps, for a caller that packs into its own buffer: the
 * payload's size, or 0 with errstr filled (as codec_frame_encode refuses);
 * then the payload written at out, which has room for that many bytes.
 */
size_t codec_frame_size(const Message *msg, codec_framing_t framing, size_t max_payload,
                        char *errstr, size_t errstr_size);
void codec_frame_pack(const Message *msg, codec_framing_t framing, uint8_t *out);

/* Free a Message from codec_frame_decode or codec_json_parse; NULL is fine. */
void codec_message_free(Message *msg);

/* Name of the Message's payload ("subscribe", "notify", ...) or "none". */
const char *codec_message_kind(const Message *msg);

/*
 * Size of one element of a repeated field's array, as protobuf-c lays it out
 * (element i of `field` in msg is at *(char **)(msg + field->offset) + i * size).
 */
size_t codec_field_elem_size(const ProtobufCFieldDescriptor *field);

#endif
