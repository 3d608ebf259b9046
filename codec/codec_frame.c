/*
 * codec_frame: websocket payload <-> Message.
 *
 * DESIGN: decoding is two passes.  codec_wire_check walks the bytes against
 * the descriptors and stops at the first fault with a message a person can
 * act on (protobuf-c's unpacker only says "failed"); then protobuf-c unpacks.
 * The check also enforces what proto3 parsers enforce and protobuf-c does not:
 * valid UTF-8 in string fields, field numbers in range, no groups; and it
 * refuses a NUL inside a string, which protobuf-c would silently truncate.  It
 * allocates nothing and recurses at most CODEC_MAX_DEPTH levels.  It is the
 * one walk of the codec that cannot be codec_walk's: it reads bytes before
 * there is a message; it takes each type's wire type from codec_walk's table.
 * A stream of messages may be decoded into an arena (codec_frame_decode_into)
 * that keeps its memory from one message to the next: protobuf-c then
 * allocates from it, and nothing is freed piece by piece.
 */
#include "codec_frame.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_utf8.h"
#include "codec_walk.h"

static const uint8_t frame_header[CODEC_FRAME_HEADER_LEN] = {0, 0, 0, 1};

static int fail(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *errstr, size_t errstr_size, const char *fmt, ...) {
  if (errstr && errstr_size) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
  }
  return -1;
}

const char *codec_framing_subprotocol(codec_framing_t framing) {
  return framing == CODEC_FRAMING_NONE ? "openapinoframing" : "openapi";
}

int codec_framing_from_subprotocol(const char *name, codec_framing_t *framing) {
  if (name && strcmp(name, "openapi") == 0)
    *framing = CODEC_FRAMING_OPENAPI;
  else if (name && strcmp(name, "openapinoframing") == 0)
    *framing = CODEC_FRAMING_NONE;
  else
    return -1;
  return 0;
}

/* ---- wire check ---- */

/* The field path so far, kept on the stack and printed only on error. */
struct path {
  const struct path *up;
  const ProtobufCMessageDescriptor *desc;
  const ProtobufCFieldDescriptor *field;
};

static void path_print(const struct path *p, char *buf, size_t size, size_t *len) {
  if (!p)
    return;
  path_print(p->up, buf, size, len);
  if (*len >= size)
    return;
  int w;
  if (!p->up)
    w = snprintf(buf + *len, size - *len, "%s", p->desc->short_name);
  else
    w = snprintf(buf + *len, size - *len, ".%s", p->up->field->name);
  if (w > 0)
    *len += (size_t)w;
}

struct walk {
  const uint8_t *base; /* start of the whole buffer, for offsets */
  char *errstr;
  size_t errstr_size;
};

static int walk_fail(const struct walk *w, const struct path *p, const char *field,
                     unsigned number, const uint8_t *at, const char *what) {
  char where[256];
  size_t len = 0;
  where[0] = '\0';
  path_print(p, where, sizeof where, &len);
  if (field)
    return fail(w->errstr, w->errstr_size, "%s.%s (%u): %s at offset %zu", where, field,
                number, what, (size_t)(at - w->base));
  if (number)
    return fail(w->errstr, w->errstr_size, "%s field %u: %s at offset %zu", where, number,
                what, (size_t)(at - w->base));
  return fail(w->errstr, w->errstr_size, "%s: %s at offset %zu", where, what,
              (size_t)(at - w->base));
}

/* Reads a base-128 varint; 0 on success, -1 when truncated or over 10 bytes. */
static int read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out) {
  const uint8_t *p = *pp;
  uint64_t v = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (p >= end)
      return -1;
    uint8_t b = *p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *pp = p;
      *out = v;
      return 0;
    }
  }
  return -1;
}

/*
 * A string field's n bytes: 0 when valid UTF-8 (codec_utf8.h's strict rules)
 * without a NUL, 1 when not valid UTF-8, 2 when valid but holding a NUL.
 * Eight bytes of ASCII without a NUL, the usual case, are passed at once.
 */
static int string_check(const uint8_t *s, size_t n) {
  const uint64_t high = 0x8080808080808080ull, ones = 0x0101010101010101ull;
  size_t i = 0, k;
  int nul = 0;
  while (i < n) {
    if (n - i >= 8) {
      uint64_t w;
      memcpy(&w, s + i, sizeof(w));
      if (!(w & high) && !((w - ones) & ~w & high)) {
        i += 8;
        continue;
      }
    }
    if ((k = codec_utf8_seq_len(s + i, n - i)) == 0)
      return 1;
    nul |= s[i] == 0;
    i += k;
  }
  return nul ? 2 : 0;
}

/* The wire type a field's type is sent with (the codec's table of types). */
static int wire_type_of(const ProtobufCFieldDescriptor *f) {
  const codec_type_t *type = codec_walk_type(f->type);
  return type ? type->wire_type : 2;
}

static const char *const wire_names[8] = {"varint", "fixed64", "length-delimited",
                                          "group start", "group end", "fixed32",
                                          "wire type 6", "wire type 7"};

static int walk_message(const struct walk *w, const struct path *up,
                        const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                        const uint8_t *end, unsigned depth) {
  /* here.field is set just before descending, so a child's path reads
   * parent.field; it is only read while printing an error. */
  struct path here = {up, desc, NULL};
  const struct path *cur = &here;
  unsigned next = 0;
  if (depth > CODEC_MAX_DEPTH)
    return walk_fail(w, up, NULL, 0, p, "nesting too deep");
  while (p < end) {
    const uint8_t *at = p;
    uint64_t tag, v;
    if (read_varint(&p, end, &tag) < 0)
      return walk_fail(w, cur, NULL, 0, at, "truncated or overlong field tag");
    uint64_t number = tag >> 3;
    unsigned wt = (unsigned)(tag & 7);
    if (number == 0 || number > 536870911u)
      return walk_fail(w, cur, NULL, 0, at, "field number out of range");
    /* fields usually come in number order: the one after the last is tried before a search */
    const ProtobufCFieldDescriptor *f =
        next < desc->n_fields && desc->fields[next].id == number
            ? &desc->fields[next]
            : protobuf_c_message_descriptor_get_field(desc, (unsigned)number);
    if (f)
      next = (unsigned)(f - desc->fields) + 1;
    const char *fname = f ? f->name : NULL;
    if (f) {
      int want = wire_type_of(f);
      int packed_ok = f->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && wt == 2;
      if ((int)wt != want && !packed_ok) {
        char what[96];
        snprintf(what, sizeof what, "wire type %s where %s was expected", wire_names[wt],
                 wire_names[want]);
        return walk_fail(w, cur, fname, (unsigned)number, at, what);
      }
    }
    switch (wt) {
    case 0:
      if (read_varint(&p, end, &v) < 0)
        return walk_fail(w, cur, fname, (unsigned)number, at, "truncated or overlong varint");
      break;
    case 1:
    case 5: {
      size_t need = wt == 1 ? 8 : 4;
      if ((size_t)(end - p) < need)
        return walk_fail(w, cur, fname, (unsigned)number, at, "truncated fixed-width value");
      p += need;
      break;
    }
    case 2: {
      if (read_varint(&p, end, &v) < 0)
        return walk_fail(w, cur, fname, (unsigned)number, at, "truncated length");
      if (v > (uint64_t)(end - p)) {
        char what[96];
        snprintf(what, sizeof what, "length %llu runs past the end (%zu bytes left)",
                 (unsigned long long)v, (size_t)(end - p));
        return walk_fail(w, cur, fname, (unsigned)number, at, what);
      }
      const uint8_t *body = p;
      p += v;
      if (!f)
        break;
      if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        here.field = f;
        if (walk_message(w, cur, f->descriptor, body, p, depth + 1) < 0)
          return -1;
      } else if (f->type == PROTOBUF_C_TYPE_STRING) {
        int bad = string_check(body, (size_t)v);
        if (bad == 1)
          return walk_fail(w, cur, fname, (unsigned)number, at, "string is not valid UTF-8");
        /* protobuf-c keeps strings NUL-terminated: refuse rather than truncate */
        if (bad == 2)
          return walk_fail(w, cur, fname, (unsigned)number, at, "string contains a NUL byte");
      } else if (f->type != PROTOBUF_C_TYPE_BYTES) {
        /* packed repeated varints: every element must be whole */
        const uint8_t *q = body;
        while (q < p)
          if (read_varint(&q, p, &v) < 0)
            return walk_fail(w, cur, fname, (unsigned)number, at, "truncated packed varint");
      }
      break;
    }
    default:
      return walk_fail(w, cur, fname, (unsigned)number, at,
                       wt == 3 || wt == 4 ? "groups are not used by proto3"
                                          : "invalid wire type");
    }
  }
  return 0;
}

int codec_wire_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
                     char *errstr, size_t errstr_size) {
  struct walk w = {buf, errstr, errstr_size};
  return walk_message(&w, NULL, desc, buf, buf + len, 0);
}

/* ---- frames ---- */

/* The payload of a frame, checked (framing, limit, wire format); 0, or -1 with errstr. */
static int frame_payload(const uint8_t **buf, size_t *len, codec_framing_t framing, size_t max_payload,
                         char *errstr, size_t errstr_size) {
  if (!max_payload)
    max_payload = CODEC_MAX_PAYLOAD_DEFAULT;
  if (framing == CODEC_FRAMING_OPENAPI) {
    if (*len < CODEC_FRAME_HEADER_LEN)
      return fail(errstr, errstr_size,
                  "frame of %zu bytes is shorter than the 4-octet header", *len);
    if (memcmp(*buf, frame_header, CODEC_FRAME_HEADER_LEN) != 0)
      return fail(errstr, errstr_size,
                  "bad framing header %02x %02x %02x %02x (expected 00 00 00 01)", (*buf)[0],
                  (*buf)[1], (*buf)[2], (*buf)[3]);
    *buf += CODEC_FRAME_HEADER_LEN;
    *len -= CODEC_FRAME_HEADER_LEN;
  }
  if (*len > max_payload)
    return fail(errstr, errstr_size, "payload of %zu bytes exceeds the limit of %zu bytes",
                *len, max_payload);
  return codec_wire_check(&message__descriptor, *buf, *len, errstr, errstr_size);
}

int codec_frame_decode(const uint8_t *buf, size_t len, codec_framing_t framing,
                       size_t max_payload, Message **msg, char *errstr, size_t errstr_size) {
  *msg = NULL;
  if (frame_payload(&buf, &len, framing, max_payload, errstr, errstr_size) < 0)
    return -1;
  *msg = message__unpack(NULL, len, buf);
  if (!*msg) /* the check passed, so only memory can be short here */
    return fail(errstr, errstr_size, "protobuf unpack failed (out of memory?)");
  return 0;
}

/* ---- the arena ---- */

/* One block of the arena; blocks are chained, the newest first. */
typedef struct arena_block {
  struct arena_block *next;
  size_t size, used;
  max_align_t data[]; /* size bytes */
} arena_block_t;

struct codec_arena {
  ProtobufCAllocator allocator; /* protobuf-c allocates through this */
  arena_block_t *blocks;
  size_t need; /* bytes handed out for the message being decoded */
};

#define ARENA_ALIGN sizeof(max_align_t)
#define ARENA_MIN_BLOCK ((size_t)16384)

static arena_block_t *arena_block_new(size_t size) {
  arena_block_t *block;
  if (size > SIZE_MAX - sizeof(*block))
    return NULL;
  block = malloc(sizeof(*block) + size);
  if (block) {
    block->next = NULL;
    block->size = size;
    block->used = 0;
  }
  return block;
}

static void *arena_alloc(void *data, size_t size) {
  codec_arena_t *arena = data;
  arena_block_t *block = arena->blocks;
  if (size > SIZE_MAX - ARENA_ALIGN)
    return NULL;
  size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  if (!block || block->size - block->used < size) {
    size_t want = block && block->size > ARENA_MIN_BLOCK ? block->size * 2 : ARENA_MIN_BLOCK;
    arena_block_t *grown = arena_block_new(want > size ? want : size);
    if (!grown)
      return NULL;
    grown->next = block;
    arena->blocks = block = grown;
  }
  void *p = (char *)block->data + block->used;
  block->used += size;
  arena->need += size;
  return p;
}

static void arena_free_one(void *data, void *p) { /* everything goes at once, in arena_reset */
  (void)data;
  (void)p;
}

static void arena_free_blocks(arena_block_t *block) {
  while (block) {
    arena_block_t *next = block->next;
    free(block);
    block = next;
  }
}

/* Forget the last message.  When it needed more than one block, the next gets one block that size. */
static void arena_reset(codec_arena_t *arena) {
  arena_block_t *block = arena->blocks;
  if (block && block->next) {
    arena_free_blocks(block->next);
    block->next = NULL;
    if (block->size < arena->need) {
      arena_block_t *bigger = arena_block_new(arena->need);
      if (bigger) {
        free(block);
        arena->blocks = block = bigger;
      }
    }
  }
  if (block)
    block->used = 0;
  arena->need = 0;
}

codec_arena_t *codec_arena_new(void) {
  codec_arena_t *arena = calloc(1, sizeof(*arena));
  if (arena) {
    arena->allocator.alloc = arena_alloc;
    arena->allocator.free = arena_free_one;
    arena->allocator.allocator_data = arena;
  }
  return arena;
}

void codec_arena_free(codec_arena_t *arena) {
  if (!arena)
    return;
  arena_free_blocks(arena->blocks);
  free(arena);
}

int codec_frame_decode_into(codec_arena_t *arena, const uint8_t *buf, size_t len,
                            codec_framing_t framing, size_t max_payload, Message **msg,
                            char *errstr, size_t errstr_size) {
  *msg = NULL;
  arena_reset(arena);
  if (frame_payload(&buf, &len, framing, max_payload, errstr, errstr_size) < 0)
    return -1;
  *msg = message__unpack(&arena->allocator, len, buf);
  if (!*msg)
    return fail(errstr, errstr_size, "protobuf unpack failed (out of memory?)");
  return 0;
}

size_t codec_frame_size(const Message *msg, codec_framing_t framing, size_t max_payload,
                        char *errstr, size_t errstr_size) {
  if (!max_payload)
    max_payload = CODEC_MAX_PAYLOAD_DEFAULT;
  if (msg->payload_case == MESSAGE__PAYLOAD__NOT_SET) {
    fail(errstr, errstr_size, "Message has no payload set");
    return 0;
  }
  size_t size = message__get_packed_size(msg);
  if (size > max_payload) {
    fail(errstr, errstr_size, "payload of %zu bytes exceeds the limit of %zu bytes", size,
         max_payload);
    return 0;
  }
  return (framing == CODEC_FRAMING_OPENAPI ? CODEC_FRAME_HEADER_LEN : 0) + size;
}

void codec_frame_pack(const Message *msg, codec_framing_t framing, uint8_t *out) {
  size_t hdr = framing == CODEC_FRAMING_OPENAPI ? CODEC_FRAME_HEADER_LEN : 0;
  memcpy(out, frame_header, hdr);
  message__pack(msg, out + hdr);
}

int codec_frame_encode(const Message *msg, codec_framing_t framing, size_t max_payload,
                       size_t headroom, uint8_t **alloc, size_t *len, char *errstr,
                       size_t errstr_size) {
  *alloc = NULL;
  *len = 0;
  size_t size = codec_frame_size(msg, framing, max_payload, errstr, errstr_size);
  if (!size)
    return -1;
  uint8_t *b = malloc(headroom + size);
  if (!b)
    return fail(errstr, errstr_size, "out of memory");
  codec_frame_pack(msg, framing, b + headroom);
  *alloc = b;
  *len = size;
  return 0;
}

void codec_message_free(Message *msg) {
  if (msg)
    message__free_unpacked(msg, NULL);
}

const char *codec_message_kind(const Message *msg) {
  if (msg->payload_case == MESSAGE__PAYLOAD__NOT_SET)
    return "none";
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field(&message__descriptor, msg->payload_case);
  return f ? f->name : "unknown";
}

size_t codec_field_elem_size(const ProtobufCFieldDescriptor *field) {
  const codec_type_t *type = codec_walk_type(field->type);
  return type ? type->elem_size : 0;
}
