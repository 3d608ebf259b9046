/*
 * test_frame: framing, wire checking and the tables, against exact bytes.
 * The golden vector is the specification's own example (WIRE.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_ids.h"
#include "codec_json.h"
#include "codec_tables.h"
#include "check.h"

static const uint8_t golden[] = {0x1a, 0x0c, 0x08, 0x01, 0x10, 0x01, 0x18,
                                 0x90, 0x1c, 0xc2, 0x02, 0x02, 0x08, 0x07};
static const uint8_t golden_framed[] = {0x00, 0x00, 0x00, 0x01, 0x1a, 0x0c, 0x08, 0x01, 0x10,
                                        0x01, 0x18, 0x90, 0x1c, 0xc2, 0x02, 0x02, 0x08, 0x07};

static void test_golden_decode(void) {
  char err[256] = "";
  Message *m = NULL;
  CHECK(codec_frame_decode(golden_framed, sizeof golden_framed, CODEC_FRAMING_OPENAPI, 0, &m,
                           err, sizeof err) == 0);
  CHECK(m && m->payload_case == MESSAGE__PAYLOAD_SUBSCRIBE);
  if (!m || m->payload_case != MESSAGE__PAYLOAD_SUBSCRIBE)
    return;
  CHECK(m->subscribe->requestid == 1);
  CHECK(m->subscribe->subscribe_id == 1);
  CHECK(m->subscribe->timeout == 3600);
  CHECK(m->subscribe->payload_case == SUBSCRIBE__PAYLOAD_LINES);
  CHECK(m->subscribe->lines->flags == 7);
  CHECK_STR(codec_message_kind(m), "subscribe");
  codec_message_free(m);

  CHECK(codec_frame_decode(golden, sizeof golden, CODEC_FRAMING_NONE, 0, &m, err, sizeof err) == 0);
  CHECK(m && m->subscribe && m->subscribe->lines->flags == 7);
  codec_message_free(m);
}

static void test_golden_encode(void) {
  Message msg = MESSAGE__INIT;
  Subscribe sub = SUBSCRIBE__INIT;
  SubscribeLines lines = SUBSCRIBE_LINES__INIT;
  lines.flags = 7;
  sub.requestid = 1;
  sub.subscribe_id = 1;
  sub.timeout = 3600;
  sub.payload_case = SUBSCRIBE__PAYLOAD_LINES;
  sub.lines = &lines;
  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBE;
  msg.subscribe = &sub;

  uint8_t *buf = NULL;
  size_t len = 0;
  char err[256];
  CHECK(codec_frame_encode(&msg, CODEC_FRAMING_OPENAPI, 0, 16, &buf, &len, err, sizeof err) == 0);
  CHECK(len == sizeof golden_framed && memcmp(buf + 16, golden_framed, len) == 0);
  free(buf);
  CHECK(codec_frame_encode(&msg, CODEC_FRAMING_NONE, 0, 0, &buf, &len, err, sizeof err) == 0);
  CHECK(len == sizeof golden && memcmp(buf, golden, len) == 0);
  free(buf);

  /* the size limit applies to the protobuf payload */
  CHECK(codec_frame_encode(&msg, CODEC_FRAMING_NONE, 13, 0, &buf, &len, err, sizeof err) == -1);
  CHECK_STR(err, "payload of 14 bytes exceeds the limit of 13 bytes");
  CHECK(buf == NULL);

  Message empty = MESSAGE__INIT;
  CHECK(codec_frame_encode(&empty, CODEC_FRAMING_NONE, 0, 0, &buf, &len, err, sizeof err) == -1);
  CHECK_STR(err, "Message has no payload set");

  /* In two steps, into the caller's buffer: the same bytes, the same refusals. */
  uint8_t out[64];
  CHECK_INT(codec_frame_size(&msg, CODEC_FRAMING_OPENAPI, 0, err, sizeof err), sizeof golden_framed);
  memset(out, 0xee, sizeof out);
  codec_frame_pack(&msg, CODEC_FRAMING_OPENAPI, out);
  CHECK(memcmp(out, golden_framed, sizeof golden_framed) == 0 && out[sizeof golden_framed] == 0xee);
  CHECK_INT(codec_frame_size(&msg, CODEC_FRAMING_NONE, 0, err, sizeof err), sizeof golden);
  codec_frame_pack(&msg, CODEC_FRAMING_NONE, out);
  CHECK(memcmp(out, golden, sizeof golden) == 0);
  CHECK_INT(codec_frame_size(&msg, CODEC_FRAMING_NONE, 13, err, sizeof err), 0);
  CHECK_STR(err, "payload of 14 bytes exceeds the limit of 13 bytes");
  CHECK_INT(codec_frame_size(&empty, CODEC_FRAMING_OPENAPI, 0, err, sizeof err), 0);
  CHECK_STR(err, "Message has no payload set");
}

/* Decode `n` bytes unframed; expect failure with exactly `want` as error. */
static void expect_bad(const uint8_t *b, size_t n, codec_framing_t fr, size_t max,
                       const char *want) {
  char err[256] = "";
  Message *m = (Message *)1;
  CHECK(codec_frame_decode(b, n, fr, max, &m, err, sizeof err) == -1);
  CHECK(m == NULL);
  CHECK_STR(err, want);
}

static void test_malformed(void) {
  expect_bad(golden_framed, 3, CODEC_FRAMING_OPENAPI, 0,
             "frame of 3 bytes is shorter than the 4-octet header");
  expect_bad(golden_framed, 0, CODEC_FRAMING_OPENAPI, 0,
             "frame of 0 bytes is shorter than the 4-octet header");
  const uint8_t badhdr[] = {0, 0, 0, 2, 0x1a, 0x00};
  expect_bad(badhdr, sizeof badhdr, CODEC_FRAMING_OPENAPI, 0,
             "bad framing header 00 00 00 02 (expected 00 00 00 01)");
  /* the golden payload read as framed: its first bytes are not a header */
  expect_bad(golden, sizeof golden, CODEC_FRAMING_OPENAPI, 0,
             "bad framing header 1a 0c 08 01 (expected 00 00 00 01)");
  expect_bad(golden, sizeof golden, CODEC_FRAMING_NONE, 13,
             "payload of 14 bytes exceeds the limit of 13 bytes");
  /* truncated: the subscribe claims 12 bytes, only 11 follow */
  expect_bad(golden, sizeof golden - 1, CODEC_FRAMING_NONE, 0,
             "Message.subscribe (3): length 12 runs past the end (11 bytes left) at offset 0");
  /* timeout varint cut in the middle (0x90 has its continuation bit) */
  const uint8_t trunc_varint[] = {0x1a, 0x06, 0x08, 0x01, 0x10, 0x01, 0x18, 0x90};
  expect_bad(trunc_varint, sizeof trunc_varint, CODEC_FRAMING_NONE, 0,
             "Message.subscribe.timeout (3): truncated or overlong varint at offset 6");
  /* an 11-byte varint is never valid */
  const uint8_t resp_long[] = {0x0a, 0x0c, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                               0xff, 0xff, 0xff, 0x01};
  expect_bad(resp_long, sizeof resp_long, CODEC_FRAMING_NONE, 0,
             "Message.response.requestid (1): truncated or overlong varint at offset 2");
  /* wrong wire type: requestid sent as length-delimited */
  const uint8_t wrong_wt[] = {0x0a, 0x03, 0x0a, 0x01, 0x41};
  expect_bad(wrong_wt, sizeof wrong_wt, CODEC_FRAMING_NONE, 0,
             "Message.response.requestid (1): wire type length-delimited where varint was "
             "expected at offset 2");
  /* wrong wire type at the top: subscribe (3) as a varint */
  const uint8_t wrong_top[] = {0x18, 0x01};
  expect_bad(wrong_top, sizeof wrong_top, CODEC_FRAMING_NONE, 0,
             "Message.subscribe (3): wire type varint where length-delimited was expected at "
             "offset 0");
  /* a truncated tag */
  const uint8_t trunc_tag[] = {0x80};
  expect_bad(trunc_tag, sizeof trunc_tag, CODEC_FRAMING_NONE, 0,
             "Message: truncated or overlong field tag at offset 0");
  /* field number 0 */
  const uint8_t zero_field[] = {0x00, 0x01};
  expect_bad(zero_field, sizeof zero_field, CODEC_FRAMING_NONE, 0,
             "Message: field number out of range at offset 0");
  /* a group (wire type 3) in an unknown field */
  const uint8_t group[] = {0x7b, 0x7c};
  expect_bad(group, sizeof group, CODEC_FRAMING_NONE, 0,
             "Message field 15: groups are not used by proto3 at offset 0");
  /* a group where a known message field belongs is a wire-type fault */
  const uint8_t group_known[] = {0x0b, 0x0c};
  expect_bad(group_known, sizeof group_known, CODEC_FRAMING_NONE, 0,
             "Message.response (1): wire type group start where length-delimited was "
             "expected at offset 0");
  /* invalid UTF-8 in RequestResponse.additional */
  const uint8_t bad_utf8[] = {0x0a, 0x04, 0x1a, 0x02, 0xc3, 0x28};
  expect_bad(bad_utf8, sizeof bad_utf8, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  /* overlong, surrogate, past U+10FFFF: refused, as the JSON and text renderings
   * treat them (one decoder, codec_utf8.h); a 4-byte character is fine */
  const uint8_t overlong[] = {0x0a, 0x04, 0x1a, 0x02, 0xc0, 0xaf};
  expect_bad(overlong, sizeof overlong, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  const uint8_t surrogate[] = {0x0a, 0x05, 0x1a, 0x03, 0xed, 0xa0, 0x80};
  expect_bad(surrogate, sizeof surrogate, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  const uint8_t too_high[] = {0x0a, 0x06, 0x1a, 0x04, 0xf4, 0x90, 0x80, 0x80};
  expect_bad(too_high, sizeof too_high, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  {
    const uint8_t emoji[] = {0x0a, 0x06, 0x1a, 0x04, 0xf0, 0x9f, 0x93, 0x9e};
    char err[256] = "";
    Message *m = NULL;
    CHECK(codec_frame_decode(emoji, sizeof emoji, CODEC_FRAMING_NONE, 0, &m, err, sizeof err) == 0);
    CHECK_STR(m ? m->response->additional : NULL, "\xf0\x9f\x93\x9e");
    codec_message_free(m);
  }
  /* a NUL inside a string would be truncated by protobuf-c: refused */
  const uint8_t nul_str[] = {0x0a, 0x04, 0x1a, 0x02, 0x41, 0x00};
  expect_bad(nul_str, sizeof nul_str, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string contains a NUL byte at offset 2");
  /* past eight bytes of ASCII (checked a word at a time): a NUL, a bad byte, and
   * both (not UTF-8 is what is said, as the whole string is checked first) */
  const uint8_t long_nul[] = {0x0a, 0x0e, 0x1a, 0x0c, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 0x00, 'k', 'l'};
  expect_bad(long_nul, sizeof long_nul, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string contains a NUL byte at offset 2");
  const uint8_t long_bad[] = {0x0a, 0x0e, 0x1a, 0x0c, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 0xff};
  expect_bad(long_bad, sizeof long_bad, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  const uint8_t nul_then_bad[] = {0x0a, 0x0e, 0x1a, 0x0c, 0x00, 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 0xc3, 0x28};
  expect_bad(nul_then_bad, sizeof nul_then_bad, CODEC_FRAMING_NONE, 0,
             "Message.response.additional (3): string is not valid UTF-8 at offset 2");
  /* fields out of number order (the check tries the next one first) are still known */
  const uint8_t unordered[] = {0x0a, 0x07, 0x1a, 0x01, 'x', 0x10, 0x05, 0x08, 0x09};
  {
    char err[256] = "";
    Message *m = NULL;
    CHECK(codec_frame_decode(unordered, sizeof unordered, CODEC_FRAMING_NONE, 0, &m, err, sizeof err) == 0);
    CHECK(m && m->response->requestid == 9 && m->response->result == 5);
    CHECK_STR(m ? m->response->additional : NULL, "x");
    codec_message_free(m);
  }
  const uint8_t unordered_bad[] = {0x0a, 0x04, 0x1a, 0x00, 0x08, 0xff};
  expect_bad(unordered_bad, sizeof unordered_bad, CODEC_FRAMING_NONE, 0,
             "Message.response.requestid (1): truncated or overlong varint at offset 4");
  /* a fixed64 unknown field cut short */
  const uint8_t trunc_fixed[] = {0x79, 0x01, 0x02};
  expect_bad(trunc_fixed, sizeof trunc_fixed, CODEC_FRAMING_NONE, 0,
             "Message field 15: truncated fixed-width value at offset 0");
  /* a length running past the end inside a nested notify */
  const uint8_t nested[] = {0x42, 0x05, 0xc2, 0x02, 0x05, 0x12, 0x00};
  expect_bad(nested, sizeof nested, CODEC_FRAMING_NONE, 0,
             "Message.notify.lines (40): length 5 runs past the end (2 bytes left) at offset 2");
}

static void test_unknown_fields_skipped(void) {
  /* subscribe{requestid=1 <field 99 varint 5> <field 100 bytes "hi"> lines{flags=7 <field 9 fixed32>}} */
  const uint8_t b[] = {0x1a, 0x16, 0x08, 0x01, 0x98, 0x06, 0x05, 0xa2, 0x06, 0x02, 0x68,
                       0x69, 0xc2, 0x02, 0x07, 0x08, 0x07, 0x4d, 0x01, 0x02, 0x03, 0x04, 0x10, 0x02};
  char err[256] = "";
  Message *m = NULL;
  int rc = codec_frame_decode(b, sizeof b, CODEC_FRAMING_NONE, 0, &m, err, sizeof err);
  CHECK(rc == 0);
  if (rc != 0) {
    fprintf(stderr, "  error: %s\n", err);
    return;
  }
  CHECK(m->subscribe->requestid == 1);
  CHECK(m->subscribe->subscribe_id == 2);
  CHECK(m->subscribe->lines->flags == 7);
  codec_message_free(m);

  /* a payload from a newer release: an unknown oneof member only */
  const uint8_t newer[] = {0x52, 0x02, 0x08, 0x01};
  CHECK(codec_frame_decode(newer, sizeof newer, CODEC_FRAMING_NONE, 0, &m, err, sizeof err) == 0);
  CHECK(m && m->payload_case == MESSAGE__PAYLOAD__NOT_SET);
  CHECK_STR(m ? codec_message_kind(m) : NULL, "none");
  codec_message_free(m);
}

static void test_subprotocols(void) {
  codec_framing_t f;
  CHECK(codec_framing_from_subprotocol("openapi", &f) == 0 && f == CODEC_FRAMING_OPENAPI);
  CHECK(codec_framing_from_subprotocol("openapinoframing", &f) == 0 && f == CODEC_FRAMING_NONE);
  CHECK(codec_framing_from_subprotocol("OpenAPI", &f) == -1);
  CHECK(codec_framing_from_subprotocol(NULL, &f) == -1);
  CHECK_STR(codec_framing_subprotocol(CODEC_FRAMING_NONE), "openapinoframing");
}

static void test_tables(void) {
  size_t n;
  const codec_result_t *r = codec_results(&n);
  CHECK(n == 39);
  CHECK(r[0].code == 0);
  CHECK_STR(codec_result_name(602), "MTCTISESS_CALLCONTROL_CALLNOTFOUND");
  CHECK_STR(codec_result_name(102), "MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL");
  CHECK_STR(codec_result_name(5003), "MTCTISESS_REQUEST_INVALID_CONTEXT");
  CHECK_STR(codec_result_name(12345), "UNKNOWN");
  int code = -1;
  CHECK(codec_result_by_name("MTCTISESS_CALLCONTROL_BADFORMATTING", &code) == 0 && code == 608);
  CHECK(codec_result_by_name("NOTFOUND", &code) == 0 && code == 4);
  CHECK(codec_result_by_name("NOSUCH", &code) == -1);
  CHECK(MTCTISESS_CALLCONTROL_ALREADYDONE == 617);
  CHECK(MTCTISESS_REQUESTFAILED == 5000);

  char buf[256];
  CHECK(codec_bits_format(CODEC_BITS_CALL_FEATURES, 0x23, buf, sizeof buf) == 20);
  CHECK_STR(buf, "DROP ANSWER REDIRECT");
  /* bit 15 and bit 31 are not named: they come out as one hex word */
  codec_bits_format(CODEC_BITS_CALL_FEATURES, 0x80008001u, buf, sizeof buf);
  CHECK_STR(buf, "DROP 0x80008000");
  codec_bits_format(CODEC_BITS_CALL_FEATURES, 0, buf, sizeof buf);
  CHECK_STR(buf, "");
  codec_bits_format(CODEC_BITS_USER_FEATURES, 0x3ff, buf, sizeof buf);
  CHECK_STR(buf, "VALID SAC ABSENCE EC500 LOGIN SHORTCODE MAKECALL FWDU DFOI APP");
  codec_bits_format(CODEC_BITS_CCFLAGS, 0x40000099u, buf, sizeof buf);
  CHECK_STR(buf, "PRIMARY CONFERENCE DIALINFO CALLDATA EPHEMERAL");
  /* truncation still NUL-terminates and reports the full length */
  CHECK(codec_bits_format(CODEC_BITS_CALL_FEATURES, 0x23, buf, 5) == 20);
  CHECK_STR(buf, "DROP");
  CHECK(CODEC_CF_FINISH == 0x40000000 && CODEC_CF_PARK == 0x80 && CODEC_UF_APP == 0x200);
  CHECK(CODEC_QSF_MEMBERS == 2 && CODEC_LF_PARKSERVER == 4 && CODEC_CC_EPHEMERAL == 0x40000000);
  uint32_t mask = 0;
  CHECK(codec_bit_by_name(CODEC_BITS_CALL_FEATURES, "blindxfer", &mask) == 0 && mask == 0x10);
  CHECK(codec_bit_by_name(CODEC_BITS_USER_FLAGS, "ACTIVAPP", &mask) == 0 && mask == 0x800);
  CHECK(codec_bit_by_name(CODEC_BITS_USER_FLAGS, "DROP", &mask) == -1);
  const codec_bit_t *b = codec_bits(CODEC_BITS_CALL_FEATURES, &n);
  CHECK(n == 28 && b[0].mask == 1 && b[n - 1].mask == 0x40000000);
  b = codec_bits(CODEC_BITS_PRESENCE_FLAGS, &n);
  CHECK(n == 2 && b[1].mask == 2);
  CHECK_STR(codec_bitset_name(CODEC_BITS_CCFLAGS), "ccflags");
}

static void test_ids(void) {
  const uint8_t g[16] = {0xdc, 0x51, 0xba, 0x00, 0x08, 0xa3, 0x11, 0xdd,
                         0x80, 0x53, 0x00, 0x50, 0x56, 0x9f, 0x6e, 0xf8};
  char s[64];
  CHECK_STR(codec_guid_format(g, 16, s, sizeof s), "dc51ba00-08a3-11dd-8053-0050569f6ef8");
  uint8_t back[16];
  CHECK(codec_guid_parse("DC51BA0008A311DD80530050569F6EF8", back) == 0 && memcmp(back, g, 16) == 0);
  CHECK(codec_guid_parse("dc51ba00-08a3-11dd-8053-0050569f6ef8", back) == 0 &&
        memcmp(back, g, 16) == 0);
  CHECK(codec_guid_parse("dc51ba00-08a3-11dd-8053-0050569f6e", back) == -1);
  CHECK(codec_guid_parse("dc51ba00-08a3-11dd-8053-0050569f6ef800", back) == -1);
  CHECK(codec_guid_parse("zz51ba0008a311dd80530050569f6ef8", back) == -1);
  const uint8_t gcid[9] = {0x01, 0xc0, 0xa8, 0x2a, 0x0b, 0x00, 0x00, 0x03, 0xec};
  CHECK_STR(codec_hex_format(gcid, 9, s, sizeof s), "01c0a82a0b000003ec");
  CHECK_STR(codec_guid_format(gcid, 9, s, sizeof s), "01c0a82a0b000003ec");
  uint8_t raw[16];
  CHECK(codec_hex_parse("01 C0 A8 2A 0B 00 00 03 EC", raw, sizeof raw) == 9 &&
        memcmp(raw, gcid, 9) == 0);
  CHECK(codec_hex_parse("abc", raw, sizeof raw) == -1);
  CHECK(codec_hex_parse("0102", raw, 1) == -1);
}

/*
 * An arena: messages of every size decoded one after another give what a
 * plain decode gives; a refused payload gives the same error and leaves the
 * arena usable; a message needing several blocks is followed by one that
 * fits the grown arena.
 */
static void test_arena(void) {
  codec_arena_t *arena = codec_arena_new();
  char err[256] = "", err2[256] = "";
  Message *m = NULL, *plain = NULL;
  CHECK(arena != NULL);
  if (!arena)
    return;
  for (size_t round = 0; round < 3; round++) {
    for (size_t users = 0; users <= 4000; users = users ? users * 4 : 1) {
      /* a NotifyLines listing `users` users, packed, then decoded both ways */
      Message msg = MESSAGE__INIT;
      Notify notify = NOTIFY__INIT;
      NotifyLines lines = NOTIFY_LINES__INIT;
      LinesUser *items = calloc(users ? users : 1, sizeof(*items));
      LinesUser **adds = calloc(users ? users : 1, sizeof(*adds));
      uint8_t guid[16] = {1, 2, 3};
      char name[32];
      for (size_t i = 0; i < users; i++) {
        lines_user__init(&items[i]);
        items[i].guid.data = guid;
        items[i].guid.len = sizeof(guid);
        items[i].extn = "2001";
        snprintf(name, sizeof name, "user %zu", i % 7);
        items[i].name = strdup(name);
        adds[i] = &items[i];
      }
      lines.n_adduser = users;
      lines.adduser = adds;
      notify.subscribe_id = 1;
      notify.payload_case = NOTIFY__PAYLOAD_LINES;
      notify.lines = &lines;
      msg.payload_case = MESSAGE__PAYLOAD_NOTIFY;
      msg.notify = &notify;
      uint8_t *alloc = NULL;
      size_t len = 0;
      CHECK(codec_frame_encode(&msg, CODEC_FRAMING_OPENAPI, 0, 0, &alloc, &len, err, sizeof err) == 0);
      CHECK(codec_frame_decode_into(arena, alloc, len, CODEC_FRAMING_OPENAPI, 0, &m, err, sizeof err) == 0);
      CHECK(codec_frame_decode(alloc, len, CODEC_FRAMING_OPENAPI, 0, &plain, err, sizeof err) == 0);
      char *a = m ? codec_json_print(m) : NULL, *b = plain ? codec_json_print(plain) : NULL;
      CHECK(a && b && strcmp(a, b) == 0);
      CHECK(m && m->notify->lines->n_adduser == users);
      free(a);
      free(b);
      codec_message_free(plain);
      free(alloc);
      for (size_t i = 0; i < users; i++)
        free(items[i].name);
      free(items);
      free(adds);
    }
  }
  /* refused as a plain decode refuses it; the golden vector decodes after it */
  static const uint8_t bad[] = {0x00, 0x00, 0x00, 0x01, 0x1a, 0x0c, 0x08};
  CHECK(codec_frame_decode_into(arena, bad, sizeof bad, CODEC_FRAMING_OPENAPI, 0, &m, err, sizeof err) == -1);
  CHECK(m == NULL);
  CHECK(codec_frame_decode(bad, sizeof bad, CODEC_FRAMING_OPENAPI, 0, &plain, err2, sizeof err2) == -1);
  CHECK_STR(err, err2);
  CHECK(codec_frame_decode_into(arena, golden_framed, sizeof golden_framed, CODEC_FRAMING_OPENAPI, 0, &m, err,
                                sizeof err) == 0);
  CHECK(m && m->subscribe && m->subscribe->lines->flags == 7);
  codec_arena_free(arena);
  codec_arena_free(NULL);
}

int main(void) {
  test_golden_decode();
  test_golden_encode();
  test_malformed();
  test_unknown_fields_skipped();
  test_subprotocols();
  test_tables();
  test_ids();
  test_arena();
  CHECK_DONE();
}
