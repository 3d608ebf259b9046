/*
 * test_json: the proto3 JSON mapping of codec_json.
 *
 * Scenarios: the spec's golden vector both ways; every message type, filled
 * in through its descriptor with every field set (each oneof member in turn),
 * round-trips JSON -> protobuf -> JSON unchanged and packs to the same bytes;
 * what the parser accepts (camelCase names, enum numbers, numeric strings,
 * null, URL-safe base64) with the exact values it produces; what it refuses,
 * with the exact error text; and truncated or mangled input never crashes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_json.h"

#include "check.h"
#include "pbfill.h"

static void msg_free(void *msg) {
  if (msg)
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* Parse, or fail the test showing the parser's error. */
static Message *parse_ok(const char *text, int line) {
  char err[256] = "";
  Message *msg = NULL;

  if (codec_json_parse(text, strlen(text), &msg, err, sizeof(err)) != 0 || !msg) {
    fprintf(stderr, "%s:%d: parse of %s failed: %s\n", __FILE__, line, text, err);
    exit(1);
  }
  check_passed++;
  return msg;
}
#define PARSE_OK(text) parse_ok((text), __LINE__)

/* Parse expecting a failure whose message contains `want`. */
static void parse_bad(const char *text, const char *want, int line) {
  char err[256] = "";
  Message *msg = (Message *)(uintptr_t)1;

  if (codec_json_parse(text, strlen(text), &msg, err, sizeof(err)) == 0) {
    fprintf(stderr, "%s:%d: parse of %s should have failed\n", __FILE__, line, text);
    exit(1);
  }
  if (msg != NULL || !strstr(err, want)) {
    fprintf(stderr, "%s:%d: parse of %s: error \"%s\" lacks \"%s\"\n", __FILE__, line,
            text, err, want);
    exit(1);
  }
  check_passed++;
}
#define PARSE_BAD(text, want) parse_bad((text), (want), __LINE__)

/* JSON text -> Message -> JSON text must give `want` back. */
static void reprint(const char *text, const char *want, int line) {
  Message *msg = parse_ok(text, line);
  char *out = codec_json_print(msg);

  if (!out || strcmp(out, want) != 0) {
    fprintf(stderr, "%s:%d: %s printed back as %s, want %s\n", __FILE__, line, text,
            out ? out : "(null)", want);
    exit(1);
  }
  check_passed++;
  free(out);
  msg_free(msg);
}
#define REPRINT(text, want) reprint((text), (want), __LINE__)

static char *hex(const uint8_t *buf, size_t len) {
  char *s = malloc(len * 3 + 1), *p = s;
  size_t i;

  *p = '\0';
  for (i = 0; i < len; i++)
    p += sprintf(p, i ? " %02x" : "%02x", buf[i]);
  return s;
}

/* Packed bytes of a message, as hex text (malloc'd). */
static char *pack_hex(const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t *buf = malloc(len ? len : 1);
  char *s;

  CHECK(protobuf_c_message_pack(msg, buf) == len);
  s = hex(buf, len);
  free(buf);
  return s;
}

static char *dump(const ProtobufCMessage *msg) {
  json_t *json = codec_json_from_pb(msg);
  char *s;

  CHECK(json != NULL);
  s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(json);
  CHECK(s != NULL);
  return s;
}

/* ---------------------------------------------------------------------- */

static const char golden_json[] =
    "{\"subscribe\":{\"requestid\":1,\"subscribe_id\":1,\"timeout\":3600,"
    "\"lines\":{\"flags\":7}}}";
static const uint8_t golden_pb[] = {0x1a, 0x0c, 0x08, 0x01, 0x10, 0x01, 0x18,
                                    0x90, 0x1c, 0xc2, 0x02, 0x02, 0x08, 0x07};

static void test_golden(void) {
  Message msg = MESSAGE__INIT, *back;
  Subscribe sub = SUBSCRIBE__INIT;
  SubscribeLines lines = SUBSCRIBE_LINES__INIT;
  char *text, *want_hex = hex(golden_pb, sizeof(golden_pb)), *got_hex;

  /* Built by hand: prints as the golden JSON and packs to the golden bytes. */
  lines.flags = 7;
  sub.requestid = 1;
  sub.subscribe_id = 1;
  sub.timeout = 3600;
  sub.payload_case = SUBSCRIBE__PAYLOAD_LINES;
  sub.lines = &lines;
  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBE;
  msg.subscribe = &sub;
  text = codec_json_print(&msg);
  CHECK_STR(text, golden_json);
  free(text);
  got_hex = pack_hex(&msg.base);
  CHECK_STR(got_hex, want_hex);
  free(got_hex);

  /* Unpacked from the golden bytes by protobuf-c. */
  back = message__unpack(NULL, sizeof(golden_pb), golden_pb);
  CHECK(back != NULL);
  text = codec_json_print(back);
  CHECK_STR(text, golden_json);
  free(text);
  msg_free(back);

  /* Parsed from the golden JSON: the exact values, and the golden bytes. */
  back = PARSE_OK(golden_json);
  CHECK(back->payload_case == MESSAGE__PAYLOAD_SUBSCRIBE);
  CHECK(back->subscribe->requestid == 1);
  CHECK(back->subscribe->subscribe_id == 1);
  CHECK(back->subscribe->timeout == 3600);
  CHECK(back->subscribe->payload_case == SUBSCRIBE__PAYLOAD_LINES);
  CHECK(back->subscribe->lines->flags == 7);
  got_hex = pack_hex(&back->base);
  CHECK_STR(got_hex, want_hex);
  free(got_hex);
  msg_free(back);
  free(want_hex);
}

/* ---------------------------------------------------------------------- */
/* Every message type, fully populated through its descriptor             */
/* ---------------------------------------------------------------------- */

/* collect_types, fill_message, max_oneof: tests/pbfill.h */

/* Keys the printer must emit for a filled message: every field but the
 * oneof members not chosen. */
static size_t expected_keys(const ProtobufCMessageDescriptor *desc) {
  size_t n = 0;
  unsigned f, first, count;

  for (f = 0; f < desc->n_fields; f++) {
    if (desc->fields[f].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
      oneof_members(desc, f, &first, &count);
      if (f != first)
        continue;
    }
    n++;
  }
  return n;
}

static void test_every_type(void) {
  size_t t;
  unsigned variants_run = 0;

  collect_types(&message__descriptor);
  /* ipo_mtcti3.proto defines 68 messages, all reachable from Message. */
  CHECK(n_types == 68);
  for (t = 0; t < n_types; t++) {
    const ProtobufCMessageDescriptor *desc = types[t];
    unsigned v, nv = max_oneof(desc);

    for (v = 0; v < nv; v++) {
      ProtobufCMessage *orig = fill_message(desc, v, 0), *back = NULL, *unpacked;
      char err[256] = "";
      char *j1, *j2, *j3, *h1, *h2;
      json_t *json = codec_json_from_pb(orig);
      size_t plen;
      uint8_t *pbuf;

      CHECK(json != NULL);
      if (json_object_size(json) != expected_keys(desc)) {
        fprintf(stderr, "%s variant %u: %zu keys, want %zu\n", desc->name, v,
                json_object_size(json), expected_keys(desc));
        CHECK(0);
      }
      j1 = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);

      /* JSON -> pb: same JSON, same bytes. */
      if (codec_json_to_pb(json, desc, &back, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s variant %u: %s\n  in %s\n", desc->name, v, err, j1);
        CHECK(0);
      }
      j2 = dump(back);
      CHECK_STR(j2, j1);
      h1 = pack_hex(orig);
      h2 = pack_hex(back);
      CHECK_STR(h2, h1);

      /* Through protobuf-c's own unpacker: same JSON again. */
      plen = protobuf_c_message_get_packed_size(orig);
      pbuf = malloc(plen);
      protobuf_c_message_pack(orig, pbuf);
      unpacked = protobuf_c_message_unpack(desc, NULL, plen, pbuf);
      CHECK(unpacked != NULL);
      j3 = dump(unpacked);
      CHECK_STR(j3, j1);

      free(pbuf);
      free(j1);
      free(j2);
      free(j3);
      free(h1);
      free(h2);
      json_decref(json);
      msg_free(orig);
      msg_free(back);
      msg_free(unpacked);
      variants_run++;
    }
  }
  CHECK(variants_run >= n_types);
}

/* ---------------------------------------------------------------------- */
/* Printing details                                                       */
/* ---------------------------------------------------------------------- */

static void test_print_details(void) {
  /* Defaults are left out; a set but empty submessage is printed. */
  REPRINT("{\"subscribe\":{\"requestid\":0,\"label\":\"\",\"lines\":{\"flags\":0}}}",
          "{\"subscribe\":{\"lines\":{}}}");
  REPRINT("{\"subscribe\":{}}", "{\"subscribe\":{}}");
  REPRINT("{}", "{}");
  /* A set oneof member is printed even when it holds its default. */
  REPRINT("{\"subscribecmd\":{\"timeout\":0}}", "{\"subscribecmd\":{\"timeout\":0}}");
  REPRINT("{\"generalcmd\":{\"getversioninfo\":false}}",
          "{\"generalcmd\":{\"getversioninfo\":false}}");
  REPRINT("{\"generaldata\":{\"versioninfo\":\"\"}}",
          "{\"generaldata\":{\"versioninfo\":\"\"}}");
  /* Empty repeated fields are left out; elements print in order. */
  REPRINT("{\"notify\":{\"lines\":{\"adduser\":[]}}}", "{\"notify\":{\"lines\":{}}}");
  REPRINT("{\"notify\":{\"lines\":{\"adduser\":[{},{\"extn\":\"201\"}]}}}",
          "{\"notify\":{\"lines\":{\"adduser\":[{},{\"extn\":\"201\"}]}}}");
  /* Enums by name; a number without a name stays a number. */
  REPRINT("{\"notify\":{\"queue\":{\"servicemode\":2}}}",
          "{\"notify\":{\"queue\":{\"servicemode\":\"NS\"}}}");
  REPRINT("{\"notify\":{\"queue\":{\"servicemode\":99}}}",
          "{\"notify\":{\"queue\":{\"servicemode\":99}}}");
  REPRINT("{\"notify\":{\"queue\":{\"servicemode\":-5}}}",
          "{\"notify\":{\"queue\":{\"servicemode\":-5}}}");
  REPRINT("{\"notify\":{\"queue\":{\"servicemode\":\"Unset\"}}}",
          "{\"notify\":{\"queue\":{}}}");
  /* Bytes: standard base64, padded. */
  REPRINT("{\"subscribe\":{\"user\":{\"guid\":\"-_8\"}}}",
          "{\"subscribe\":{\"user\":{\"guid\":\"+/8=\"}}}");
  REPRINT("{\"subscribe\":{\"user\":{\"guid\":\"AQ\"}}}",
          "{\"subscribe\":{\"user\":{\"guid\":\"AQ==\"}}}");
  REPRINT("{\"subscribe\":{\"user\":{\"guid\":\"\"}}}", "{\"subscribe\":{\"user\":{}}}");
  /* Strings: escapes and UTF-8 kept. */
  REPRINT("{\"response\":{\"additional\":\"a\\\"b\\\\c\\n\\u00e9\\u2713\"}}",
          "{\"response\":{\"additional\":\"a\\\"b\\\\c\\n\xc3\xa9\xe2\x9c\x93\"}}");

  /* int32 with the high bit set on the wire (a 5-octet varint, as some
   * encoders send it) is a negative JSON number. */
  {
    static const uint8_t wire[] = {0x0a, 0x06, 0x08, 0xff, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t wire10[] = {0x0a, 0x0b, 0x10, 0x80, 0x80, 0x80, 0x80,
                                     0xf8, 0xff, 0xff, 0xff, 0xff, 0x01};
    Message *msg = message__unpack(NULL, sizeof(wire), wire);
    char *text;

    CHECK(msg != NULL);
    text = codec_json_print(msg);
    CHECK_STR(text, "{\"response\":{\"requestid\":-1}}");
    free(text);
    msg_free(msg);
    msg = message__unpack(NULL, sizeof(wire10), wire10);
    CHECK(msg != NULL);
    text = codec_json_print(msg);
    CHECK_STR(text, "{\"response\":{\"result\":-2147483648}}");
    free(text);
    msg_free(msg);
  }

  /* Invalid UTF-8 (protobuf-c does not check it) prints with U+FFFD. */
  {
    RequestResponse rr = REQUEST_RESPONSE__INIT;
    Message msg = MESSAGE__INIT;
    char bad[] = "a\xff" "b\xc3";
    char *text;

    rr.additional = bad;
    msg.payload_case = MESSAGE__PAYLOAD_RESPONSE;
    msg.response = &rr;
    text = codec_json_print(&msg);
    CHECK_STR(text, "{\"response\":{\"additional\":\"a\xef\xbf\xbd" "b\xef\xbf\xbd\"}}");
    free(text);
  }
  CHECK(codec_json_print(NULL) == NULL);
  CHECK(codec_json_from_pb(NULL) == NULL);
}

/* ---------------------------------------------------------------------- */
/* What the parser accepts                                                */
/* ---------------------------------------------------------------------- */

static void test_parse_accepts(void) {
  Message *msg;
  char *h;

  /* lowerCamelCase names; integers as numeric strings and integral reals. */
  msg = PARSE_OK("{\"subscribe\":{\"subscribeId\":5,\"requestid\":\"12\","
                 "\"timeout\":\"-2147483648\",\"lines\":{\"flags\":1e2}}}");
  CHECK(msg->subscribe->subscribe_id == 5);
  CHECK(msg->subscribe->requestid == 12);
  CHECK(msg->subscribe->timeout == INT32_MIN);
  CHECK(msg->subscribe->lines->flags == 100);
  msg_free(msg);
  msg = PARSE_OK("{\"response\":{\"requestid\":2147483647,\"result\":-7.0}}");
  CHECK(msg->response->requestid == INT32_MAX);
  CHECK(msg->response->result == -7);
  msg_free(msg);
  msg = PARSE_OK("{\"subscribeterminated\":{\"subscribeId\":3}}");
  CHECK(msg->payload_case == MESSAGE__PAYLOAD_SUBSCRIBETERMINATED);
  CHECK(msg->subscribeterminated->subscribe_id == 3);
  msg_free(msg);

  /* Enums by name, by number, by numeric string, unnamed numbers kept. */
  msg = PARSE_OK("{\"notify\":{\"queue\":{\"servicemode\":\"OOS\"}}}");
  CHECK(msg->notify->queue->servicemode == NOTIFY_QUEUE__SERVICE_MODE__OOS);
  msg_free(msg);
  msg = PARSE_OK("{\"notify\":{\"queue\":{\"servicemode\":1}}}");
  CHECK(msg->notify->queue->servicemode == NOTIFY_QUEUE__SERVICE_MODE__Active);
  msg_free(msg);
  msg = PARSE_OK("{\"notify\":{\"queue\":{\"servicemode\":\"2\"}}}");
  CHECK(msg->notify->queue->servicemode == NOTIFY_QUEUE__SERVICE_MODE__NS);
  msg_free(msg);
  msg = PARSE_OK("{\"notify\":{\"queue\":{\"servicemode\":1234}}}");
  CHECK((int)msg->notify->queue->servicemode == 1234);
  msg_free(msg);

  /* null is the default / absent, and does not select a oneof member. */
  msg = PARSE_OK("{\"subscribe\":{\"requestid\":null,\"lines\":null,\"label\":null,"
                 "\"user\":{\"guid\":null}}}");
  CHECK(msg->subscribe->requestid == 0);
  CHECK(msg->subscribe->payload_case == SUBSCRIBE__PAYLOAD_USER);
  CHECK(msg->subscribe->user->guid.len == 0);
  CHECK(strcmp(msg->subscribe->label, "") == 0);
  msg_free(msg);
  msg = PARSE_OK("{\"response\":null}");
  CHECK(msg->payload_case == MESSAGE__PAYLOAD__NOT_SET);
  msg_free(msg);
  msg = PARSE_OK("{\"notify\":{\"lines\":{\"adduser\":null}}}");
  CHECK(msg->notify->lines->n_adduser == 0);
  msg_free(msg);

  /* Booleans. */
  msg = PARSE_OK("{\"generalcmd\":{\"getversioninfo\":true}}");
  CHECK(msg->generalcmd->payload_case == GENERAL_CMD__PAYLOAD_GETVERSIONINFO);
  CHECK(msg->generalcmd->getversioninfo == 1);
  msg_free(msg);

  /* Base64: standard, URL-safe, padded or not. */
  msg = PARSE_OK("{\"subscribe\":{\"user\":{\"guid\":\"-_8\"}}}");
  CHECK(msg->subscribe->user->guid.len == 2);
  CHECK(msg->subscribe->user->guid.data[0] == 0xfb);
  CHECK(msg->subscribe->user->guid.data[1] == 0xff);
  msg_free(msg);
  msg = PARSE_OK("{\"subscribe\":{\"user\":{\"guid\":\"+/8=\"}}}");
  CHECK(msg->subscribe->user->guid.len == 2);
  CHECK(msg->subscribe->user->guid.data[0] == 0xfb);
  CHECK(msg->subscribe->user->guid.data[1] == 0xff);
  msg_free(msg);
  msg = PARSE_OK("{\"subscribe\":{\"queue\":{\"guid\":\"AAECAwQFBgcICQoLDA0ODw\"}}}");
  h = hex(msg->subscribe->queue->guid.data, msg->subscribe->queue->guid.len);
  CHECK_STR(h, "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f");
  free(h);
  msg_free(msg);

  /* Repeated messages, strings, a oneof string member holding "". */
  msg = PARSE_OK("{\"notify\":{\"lines\":{\"changequeue\":[{\"extn\":\"7\"},"
                 "{\"name\":\"Sales \\u00e9\"}]}}}");
  CHECK(msg->notify->lines->n_changequeue == 2);
  CHECK(strcmp(msg->notify->lines->changequeue[0]->extn, "7") == 0);
  CHECK(strcmp(msg->notify->lines->changequeue[1]->name, "Sales \xc3\xa9") == 0);
  msg_free(msg);
  msg = PARSE_OK("{\"generaldata\":{\"versioninfo\":\"\"}}");
  CHECK(msg->generaldata->payload_case == GENERAL_DATA__PAYLOAD_VERSIONINFO);
  h = pack_hex(&msg->base);
  CHECK_STR(h, "3a 02 3a 00"); /* the empty member is on the wire */
  free(h);
  msg_free(msg);

  /* codec_json_to_pb on any message type, straight from a json_t. */
  {
    json_t *json = json_pack("{s:i,s:s}", "newmessages", 4, "oldmessages", "5");
    ProtobufCMessage *out = NULL;
    char err[128];
    Mailbox *mb;

    CHECK(codec_json_to_pb(json, &mailbox__descriptor, &out, err, sizeof(err)) == 0);
    mb = (Mailbox *)out;
    CHECK(mb->newmessages == 4);
    CHECK(mb->oldmessages == 5);
    CHECK(mb->savedmessages == 0);
    msg_free(out);
    json_decref(json);
  }
}

/* ---------------------------------------------------------------------- */
/* What the parser refuses                                                */
/* ---------------------------------------------------------------------- */

static void test_parse_rejects(void) {
  /* Wrong types, named by field path. */
  PARSE_BAD("{\"subscribe\":{\"lines\":{\"flags\":\"x\"}}}",
            "subscribe.lines.flags: expected an integer, got a string");
  PARSE_BAD("{\"subscribe\":{\"lines\":{\"flags\":true}}}",
            "subscribe.lines.flags: expected an integer, got a boolean");
  PARSE_BAD("{\"subscribe\":{\"timeout\":{}}}",
            "subscribe.timeout: expected an integer, got an object");
  PARSE_BAD("{\"subscribe\":{\"lines\":{\"flags\":1.5}}}",
            "subscribe.lines.flags: expected an integer, got a fraction (1.5)");
  PARSE_BAD("{\"subscribe\":{\"timeout\":\"1.0\"}}",
            "subscribe.timeout: expected an integer, got a string");
  PARSE_BAD("{\"subscribe\":{\"timeout\":\" 1\"}}",
            "subscribe.timeout: expected an integer, got a string");
  PARSE_BAD("{\"subscribe\":{\"timeout\":\"\"}}",
            "subscribe.timeout: expected an integer, got a string");
  PARSE_BAD("{\"subscribe\":5}", "subscribe: expected an object, got an integer");
  PARSE_BAD("{\"response\":{\"additional\":5}}",
            "response.additional: expected a string, got an integer");
  PARSE_BAD("{\"generalcmd\":{\"getversioninfo\":1}}",
            "generalcmd.getversioninfo: expected true or false, got an integer");
  PARSE_BAD("{\"generalcmd\":{\"getversioninfo\":\"true\"}}",
            "generalcmd.getversioninfo: expected true or false, got a string");
  PARSE_BAD("[]", "Message: expected an object, got an array");
  PARSE_BAD("5", "Message: expected an object, got an integer");
  PARSE_BAD("{\"notify\":{\"lines\":{\"adduser\":{}}}}",
            "notify.lines.adduser: expected an array, got an object");
  PARSE_BAD("{\"notify\":{\"lines\":{\"adduser\":[{},null]}}}",
            "notify.lines.adduser[1]: null is not allowed in a repeated field");
  PARSE_BAD("{\"notify\":{\"lines\":{\"adduser\":[{},{\"name\":5}]}}}",
            "notify.lines.adduser[1].name: expected a string, got an integer");
  PARSE_BAD("{\"notify\":{\"lines\":{\"adduser\":[{\"extn\":\"1\"},7]}}}",
            "notify.lines.adduser[1]: expected an object, got an integer");

  /* int32 range. */
  PARSE_BAD("{\"subscribe\":{\"requestid\":2147483648}}",
            "subscribe.requestid: 2147483648 is out of range for int32");
  PARSE_BAD("{\"subscribe\":{\"requestid\":-2147483649}}",
            "subscribe.requestid: -2147483649 is out of range for int32");
  PARSE_BAD("{\"subscribe\":{\"requestid\":\"99999999999999999999999\"}}",
            "subscribe.requestid: 99999999999999999999999 is out of range for int32");
  PARSE_BAD("{\"subscribe\":{\"requestid\":1e300}}",
            "subscribe.requestid: 1.0000000000000001e+300 is out of range for int32");

  /* Enums. */
  PARSE_BAD("{\"notify\":{\"queue\":{\"servicemode\":\"Paused\"}}}",
            "notify.queue.servicemode: unknown value \"Paused\" of enum "
            "NotifyQueue.ServiceMode");
  PARSE_BAD("{\"notify\":{\"queue\":{\"servicemode\":true}}}",
            "notify.queue.servicemode: expected an enum name or number, got a boolean");
  PARSE_BAD("{\"notify\":{\"queue\":{\"servicemode\":4294967296}}}",
            "notify.queue.servicemode: 4294967296 is out of range for an enum");

  /* Base64. */
  PARSE_BAD("{\"subscribe\":{\"user\":{\"guid\":\"A\"}}}",
            "subscribe.user.guid: invalid base64: bad length or padding");
  PARSE_BAD("{\"subscribe\":{\"user\":{\"guid\":\"AB=\"}}}",
            "subscribe.user.guid: invalid base64: bad length or padding");
  PARSE_BAD("{\"subscribe\":{\"user\":{\"guid\":\"AB$D\"}}}",
            "subscribe.user.guid: invalid base64: unexpected character at offset 2");
  PARSE_BAD("{\"subscribe\":{\"user\":{\"guid\":\"A=BC\"}}}",
            "subscribe.user.guid: invalid base64: unexpected character at offset 1");
  PARSE_BAD("{\"subscribe\":{\"user\":{\"guid\":7}}}",
            "subscribe.user.guid: expected a base64 string, got an integer");

  /* Names. */
  PARSE_BAD("{\"subscribe\":{\"bogus\":1}}", "subscribe.bogus: unknown field");
  PARSE_BAD("{\"Subscribe\":{}}", "Subscribe: unknown field");
  PARSE_BAD("{\"subscribe\":{\"SubscribeId\":1}}", "subscribe.SubscribeId: unknown field");
  PARSE_BAD("{\"subscribe\":{\"subscribe_id\":1,\"subscribeId\":2}}",
            "subscribe.subscribe_id: field given twice");

  /* Oneofs. */
  PARSE_BAD("{\"subscribe\":{\"lines\":{},\"user\":{}}}",
            "subscribe.user: only one member of a oneof may be set, lines is set already");
  PARSE_BAD("{\"response\":{},\"notify\":{}}",
            "notify: only one member of a oneof may be set, response is set already");
  PARSE_BAD("{\"subscribecmd\":{\"timeout\":0,\"user\":{}}}",
            "subscribecmd.user: only one member of a oneof may be set, timeout is set "
            "already");

  /* Text. */
  PARSE_BAD("{\"subscribe\":{}} x", "end of file expected");
  PARSE_BAD("{\"subscribe\":{}}{}", "end of file expected");
  PARSE_BAD("", "invalid JSON at line 1");
  PARSE_BAD("{\"subscribe\":{\"label\":\"a\",\"label\":\"b\"}}", "duplicate object key");
  PARSE_BAD("{\"response\":{\"additional\":\"a\\u0000b\"}}", "invalid JSON");
  PARSE_BAD("{\"response\":{\"additional\":\"\xff\"}}", "invalid JSON");

  /* A json_t holding a NUL inside a string (jansson allows it). */
  {
    json_t *json = json_pack("{s:s%}", "additional", "a\0b", (size_t)3);
    ProtobufCMessage *out = (ProtobufCMessage *)(uintptr_t)1;
    char err[128];

    CHECK(codec_json_to_pb(json, &request_response__descriptor, &out, err,
                           sizeof(err)) == -1);
    CHECK(out == NULL);
    CHECK_STR(err, "additional: string contains a NUL character");
    json_decref(json);
  }

  /* A key with a NUL inside names no field. */
  {
    json_t *json = json_object();
    ProtobufCMessage *out = NULL;
    char err[128];

    json_object_setn_new(json, "requestid\0x", 11, json_integer(1));
    CHECK(codec_json_to_pb(json, &request_response__descriptor, &out, err,
                           sizeof(err)) == -1);
    CHECK_STR(err, "requestid: unknown field");
    json_decref(json);
  }

  /* Small or missing error buffers are safe. */
  {
    char tiny[8];
    Message *msg;
    const char *text = "{\"subscribe\":{\"bogus\":1}}";

    CHECK(codec_json_parse(text, strlen(text), &msg, tiny, sizeof(tiny)) == -1);
    CHECK_STR(tiny, "subscri");
    CHECK(codec_json_parse(text, strlen(text), &msg, NULL, 0) == -1);
    CHECK(codec_json_parse(NULL, 0, &msg, tiny, sizeof(tiny)) == -1);
  }
}

/* Every prefix of a rich message's JSON, and single-byte mutations of it:
 * parse or fail cleanly, never crash or leak (the sanitizer build checks). */
static void test_mangled_input(void) {
  ProtobufCMessage *orig = fill_message(&message__descriptor, 7, 0);
  char *text = dump(orig), *copy;
  size_t len = strlen(text), i, ok = 0, bad = 0;
  static const char subst[] = "\"{}[]:,0-9e.n\\ ";

  copy = malloc(len + 1);
  for (i = 0; i < len; i++) {
    char err[256];
    Message *msg = NULL;
    size_t k;

    if (codec_json_parse(text, i, &msg, err, sizeof(err)) == 0) {
      ok++;
      msg_free(msg);
    } else {
      bad++;
      CHECK(err[0] != '\0');
    }
    for (k = 0; k < sizeof(subst) - 1; k += 3) {
      memcpy(copy, text, len + 1);
      copy[i] = subst[(i + k) % (sizeof(subst) - 1)];
      msg = NULL;
      if (codec_json_parse(copy, len, &msg, err, sizeof(err)) == 0) {
        ok++;
        msg_free(msg);
      } else {
        bad++;
      }
    }
  }
  CHECK(bad > 0);
  CHECK(ok + bad > len);
  free(copy);
  free(text);
  msg_free(orig);
}

int main(void) {
  test_golden();
  test_every_type();
  test_print_details();
  test_parse_accepts();
  test_parse_rejects();
  test_mangled_input();
  CHECK_DONE();
}
