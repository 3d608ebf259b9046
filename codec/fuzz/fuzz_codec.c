/*
 * fuzz_codec: libFuzzer target for the whole codec.
 *
 * DESIGN: the first input byte picks the framing (bit 0: 0 "openapi", 1
 * "openapinoframing"); the rest is one websocket payload.  Whatever decodes
 * is rendered every way (JSON, text on one line and multiline), and must
 * survive a true round trip: its JSON parsed back, encoded, decoded again,
 * printed again, gives the same JSON text; decoded into an arena it gives the
 * same message (or the same refusal).  Independently, the whole input is
 * fed to the JSON parser as text; what parses must print, re-parse to the
 * same JSON and encode.  Any broken invariant aborts, which libFuzzer reports
 * as a crash with the input that caused it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_frame.h"
#include "codec_json.h"
#include "codec_text.h"

/* Small, so that the fuzzer also explores the oversize path. */
#define FUZZ_MAX_PAYLOAD 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const char *a, const char *b) {
  fprintf(stderr, "fuzz_codec: %s\n  first:  %s\n  second: %s\n", what, a ? a : "(null)",
          b ? b : "(null)");
  abort();
}

/* Every rendering of msg; aborts when one fails (only OOM could, and the
 * fuzzer's inputs are far too small for that). */
static void render_all(const Message *msg) {
  char *text;

  text = codec_text_print(&msg->base, 0);
  if (!text || strchr(text, '\n'))
    fuzz_fail("one-line text rendering failed or spans lines", text, NULL);
  free(text);
  text = codec_text_print(&msg->base, 1);
  if (!text)
    fuzz_fail("multiline text rendering failed", NULL, NULL);
  free(text);
}

/*
 * JSON of msg -> Message -> payload -> Message -> JSON must give `json` back.
 * Messages without a payload cannot be encoded (codec_frame_encode refuses
 * them), so their round trip stops at the JSON.
 */
static void round_trip(const Message *msg, const char *json, codec_framing_t framing) {
  char errstr[256], *json2 = NULL, *json3 = NULL;
  Message *msg2 = NULL, *msg3 = NULL;
  uint8_t *alloc = NULL;
  size_t len;

  if (codec_json_parse(json, strlen(json), &msg2, errstr, sizeof(errstr)) < 0)
    fuzz_fail("printed JSON does not parse back", json, errstr);
  json2 = codec_json_print(msg2);
  if (!json2 || strcmp(json, json2) != 0)
    fuzz_fail("JSON -> Message -> JSON changed the text", json, json2);
  if (msg->payload_case != MESSAGE__PAYLOAD__NOT_SET) {
    if (codec_frame_encode(msg2, framing, 0, 0, &alloc, &len, errstr, sizeof(errstr)) < 0)
      fuzz_fail("a decoded message does not encode", json, errstr);
    if (codec_frame_decode(alloc, len, framing, 0, &msg3, errstr, sizeof(errstr)) < 0)
      fuzz_fail("an encoded message does not decode", json, errstr);
    json3 = codec_json_print(msg3);
    if (!json3 || strcmp(json, json3) != 0)
      fuzz_fail("encode -> decode changed the JSON", json, json3);
  }
  free(json3);
  free(json2);
  free(alloc);
  codec_message_free(msg3);
  codec_message_free(msg2);
}

/* One arena for the whole run, as a link keeps one: messages decoded into it one after another. */
static codec_arena_t *fuzz_arena;

static void fuzz_payload(const uint8_t *buf, size_t len, codec_framing_t framing) {
  char errstr[256], errstr2[256], *json, *json2;
  Message *msg = NULL, *msg2 = NULL;
  int rc, rc2;

  if (!fuzz_arena && !(fuzz_arena = codec_arena_new()))
    fuzz_fail("no arena", NULL, NULL);
  rc = codec_frame_decode(buf, len, framing, FUZZ_MAX_PAYLOAD, &msg, errstr, sizeof(errstr));
  rc2 = codec_frame_decode_into(fuzz_arena, buf, len, framing, FUZZ_MAX_PAYLOAD, &msg2, errstr2,
                                sizeof(errstr2));
  if (rc != rc2 || (rc < 0 && strcmp(errstr, errstr2) != 0))
    fuzz_fail("decoding into an arena answers otherwise", rc < 0 ? errstr : "decoded",
              rc2 < 0 ? errstr2 : "decoded");
  if (rc < 0) {
    if (msg || msg2 || errstr[0] == '\0')
      fuzz_fail("a failed decode left a message or no reason", errstr, NULL);
    return;
  }
  json = codec_json_print(msg);
  json2 = codec_json_print(msg2);
  if (!json || !json2)
    fuzz_fail("JSON rendering failed", NULL, NULL);
  if (strcmp(json, json2) != 0)
    fuzz_fail("the message decoded into an arena differs", json, json2);
  render_all(msg);
  round_trip(msg, json, framing);
  free(json2);
  free(json);
  codec_message_free(msg);
}

static void fuzz_json_text(const uint8_t *data, size_t size) {
  char errstr[256], *json;
  Message *msg = NULL;
  uint8_t *alloc = NULL;
  size_t len;

  if (codec_json_parse((const char *)data, size, &msg, errstr, sizeof(errstr)) < 0) {
    if (msg || errstr[0] == '\0')
      fuzz_fail("a failed JSON parse left a message or no reason", errstr, NULL);
    return;
  }
  json = codec_json_print(msg);
  if (!json)
    fuzz_fail("JSON rendering failed", NULL, NULL);
  render_all(msg);
  /* Parsed JSON need not be canonical, but what we print must be. */
  if (msg->payload_case != MESSAGE__PAYLOAD__NOT_SET &&
      codec_frame_encode(msg, CODEC_FRAMING_OPENAPI, 0, 0, &alloc, &len, errstr,
                         sizeof(errstr)) == 0)
    free(alloc);
  round_trip(msg, json, CODEC_FRAMING_OPENAPI);
  free(json);
  codec_message_free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  fuzz_payload(data + 1, size - 1, (data[0] & 1) ? CODEC_FRAMING_NONE : CODEC_FRAMING_OPENAPI);
  fuzz_json_text(data, size);
  return 0;
}
