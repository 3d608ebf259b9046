/*
 * fuzz_snap: libFuzzer target for what the bridge does with a PBX's Notify
 * once the codec has decoded it: the normalized state text and the diff.
 *
 * DESIGN: the input is one websocket payload (first byte: framing, as in
 * fuzz_codec).  Whatever decodes is written as a state text, which must be
 * exactly jansson's dump of the tests' reference tree (snap_ref_pb_to_json,
 * tests/bridge/snap_ref.c; the restore path depends on it).  A Notify is then applied to a snapshot state as the ingest stage
 * would (lines, user, queue, presence, calls), twice: every change reported
 * must carry well-formed JSON texts, and the second, identical application
 * must report nothing.  Any broken invariant aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec_frame.h"
#include "snap.h"
#include "snap_ref.h"

#define FUZZ_MAX_PAYLOAD 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t changes;

static void fuzz_fail(const char *what, const char *a, const char *b) {
  fprintf(stderr, "fuzz_snap: %s\n  first:  %s\n  second: %s\n", what, a ? a : "(null)", b ? b : "(null)");
  abort();
}

/* A state text must parse, and dump back to itself. */
static void check_text(const char *text, size_t len) {
  if (!text)
    return;
  if (strlen(text) != len)
    fuzz_fail("state text length is wrong", text, NULL);
  json_t *j = json_loadb(text, len, 0, NULL);
  char *again = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  if (!again || strcmp(again, text) != 0)
    fuzz_fail("state text is not jansson's dump of itself", text, again);
  free(again);
  json_decref(j);
}

static void on_change(void *opaque, const snap_change_t *c) {
  (void)opaque;
  changes++;
  check_text(c->before_text, c->before_len);
  check_text(c->after_text, c->after_len);
  for (size_t i = 0; i < c->n_names; i++)
    if (c->names[i].len == 0 && c->op == 'u')
      fuzz_fail("a changed field without a name", c->entity_id, NULL);
}

static void apply(snap_t *snap, const Notify *notify) {
  static const char guid[] = "dc51ba00-08a3-11dd-8053-0050569f6ef8";
  snap_line_t line = {SNAP_LINE_USER, guid, "2001"};
  switch (notify->payload_case) {
  case NOTIFY__PAYLOAD_LINES:
    snap_lines_apply(snap, notify->lines, 1);
    break;
  case NOTIFY__PAYLOAD_USER:
    snap_user_apply(snap, guid, notify->user, 1);
    break;
  case NOTIFY__PAYLOAD_QUEUE:
    snap_queue_apply(snap, guid, notify->queue, 1);
    break;
  case NOTIFY__PAYLOAD_PRESENCE:
    for (size_t i = 0; i < notify->presence->n_entry; i++)
      snap_presence_apply(snap, guid, notify->presence->entry[i], 1);
    break;
  case NOTIFY__PAYLOAD_CALLCONTROL:
    snap_calls_apply(snap, &line, notify->callcontrol, 0);
    break;
  default:
    break;
  }
}

/*
 * Whether applying the Notify a second time must report nothing: one entity
 * in it, not deleted.  (Two entries for one entity, a line both added and
 * deleted, a CallLost: the second application rightly changes things again.)
 */
static int fuzz_idempotent(const Notify *n) {
  switch (n->payload_case) {
  case NOTIFY__PAYLOAD_USER:
  case NOTIFY__PAYLOAD_QUEUE:
    return 1;
  case NOTIFY__PAYLOAD_PRESENCE:
    return n->presence->n_entry <= 1;
  case NOTIFY__PAYLOAD_CALLCONTROL:
    return n->callcontrol->n_callinfo <= 1 && n->callcontrol->n_calllost == 0;
  case NOTIFY__PAYLOAD_LINES:
    return n->lines->n_adduser + n->lines->n_addqueue + n->lines->n_changeuser + n->lines->n_changequeue <= 1 &&
           n->lines->n_deleteuser + n->lines->n_deletequeue == 0;
  default:
    return 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  codec_framing_t framing = (data[0] & 1) ? CODEC_FRAMING_NONE : CODEC_FRAMING_OPENAPI;
  Message *msg = NULL;
  char errstr[256];
  if (codec_frame_decode(data + 1, size - 1, framing, FUZZ_MAX_PAYLOAD, &msg, errstr, sizeof(errstr)) != 0)
    return 0;
  json_t *tree = snap_ref_pb_to_json(&msg->base);
  char *want = tree ? json_dumps(tree, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  char *got = snap_pb_text(&msg->base);
  if (!want || !got || strcmp(want, got) != 0)
    fuzz_fail("state text differs from jansson's dump of snap_ref_pb_to_json", got, want);
  free(want);
  free(got);
  json_decref(tree);
  if (msg->payload_case == MESSAGE__PAYLOAD_NOTIFY) {
    snap_t *snap = snap_new(on_change, NULL);
    if (snap) {
      apply(snap, msg->notify);
      size_t first = changes;
      int idempotent = fuzz_idempotent(msg->notify);
      apply(snap, msg->notify);
      if (idempotent && changes != first)
        fuzz_fail("the same Notify applied twice reported changes", NULL, NULL);
      snap_destroy(snap);
    }
  }
  codec_message_free(msg);
  return 0;
}
