/*
 * restore: committed events -> snapshot records.  See restore.h.
 */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "blog.h"

struct restore {
  char *pbx_id;
  json_t *records; /* entity id -> record, in arrival order */
  json_t *by_key;  /* "<topic>/<key>" -> entity id, for the tombstones */
};

restore_t *restore_new(const char *pbx_id) {
  restore_t *restore = calloc(1, sizeof(*restore));
  if (!restore)
    return NULL;
  restore->pbx_id = strdup(pbx_id);
  restore->records = json_object();
  restore->by_key = json_object();
  if (!restore->pbx_id || !restore->records || !restore->by_key) {
    restore_free(restore);
    return NULL;
  }
  return restore;
}

void restore_free(restore_t *restore) {
  if (!restore)
    return;
  free(restore->pbx_id);
  json_decref(restore->records);
  json_decref(restore->by_key);
  free(restore);
}

static const char *restore_kind(topic_id_t topic) {
  switch (topic) {
  case TOPIC_LINES:
    return "line";
  case TOPIC_PRESENCE:
    return "presence";
  case TOPIC_QUEUES:
    return "queue";
  case TOPIC_LIVE_CALLS:
    return "call";
  default:
    return NULL;
  }
}

void restore_add(restore_t *restore, const state_reader_msg_t *msg) {
  const char *kind = restore_kind(msg->topic);
  char ref[600];
  if (!kind)
    return; /* queue-stats and the like: not snapshot state */
  snprintf(ref, sizeof(ref), "%d/%.*s", (int)msg->topic, (int)msg->key_len, msg->key);
  if (!msg->value) { /* a tombstone: the entity is gone */
    const char *id = json_string_value(json_object_get(restore->by_key, ref));
    json_t *record = id ? json_object_get(restore->records, id) : NULL;
    if (record && msg->topic == TOPIC_LIVE_CALLS)
      json_object_del(restore->records, id); /* a call that ended is forgotten */
    else if (record)
      json_object_set_new(record, "state", json_null());
    return;
  }
  json_error_t jerr;
  json_t *event = json_loadb(msg->value, msg->value_len, 0, &jerr);
  json_t *source = json_object_get(event, "source");
  const char *pbx = json_string_value(json_object_get(source, "pbx"));
  const char *entity = json_string_value(json_object_get(source, "entity"));
  const char *op = json_string_value(json_object_get(event, "op"));
  json_int_t seq = json_integer_value(json_object_get(event, "seq"));
  json_t *after = json_object_get(event, "after");
  if (!event || !pbx || strcmp(pbx, restore->pbx_id) != 0) {
    if (!event)
      BLOG_W(KAFKA, ref, "not restored: %s", jerr.text);
    json_decref(event);
    return;
  }
  if (!entity || !op || seq < 1) {
    BLOG_W(KAFKA, ref, "not restored: no entity, op or seq");
    json_decref(event);
    return;
  }
  int is_call = msg->topic == TOPIC_LIVE_CALLS;
  if (is_call && (strcmp(op, "d") == 0 || !json_is_object(after) ||
                  !json_is_integer(json_object_get(after, "callid")))) {
    json_decref(event);
    return; /* a live copy is never a delete; anything else is not a call's */
  }
  const char *gcid = is_call ? json_string_value(json_object_get(after, "gcid")) : "";
  json_t *record = json_pack(
      "{s:s,s:s%,s:I,s:O,s:{s:O,s:O,s:O},s:I,s:s}", "kind", kind, "key", msg->key, msg->key_len, "seq", seq,
      "state", after && !json_is_null(after) ? after : json_null(), "line", "kind",
      json_object_get(source, "line_kind"), "guid", json_object_get(source, "line_guid"), "extn",
      json_object_get(source, "line_extn"), "callid",
      is_call ? json_integer_value(json_object_get(after, "callid")) : (json_int_t)0, "gcid", gcid ? gcid : "");
  if (record) {
    json_object_set_new(restore->records, entity, record);
    json_object_set_new(restore->by_key, ref, json_string(entity));
  } else {
    BLOG_W(KAFKA, entity, "not restored: its event lacks the line (source.line_kind, line_guid, line_extn)");
  }
  json_decref(event);
}

size_t restore_apply(restore_t *restore, snap_t *snap, size_t *calls) {
  const char *id;
  json_t *record;
  size_t n = 0;
  char err[512];
  *calls = 0;
  json_object_foreach(restore->records, id, record) {
    if (snap_restore(snap, id, record, err, sizeof(err)) == 0) {
      n++;
      if (strncmp(id, "call:", 5) == 0)
        (*calls)++;
    } else {
      BLOG_W(KAFKA, NULL, "not restored: %s", err);
    }
  }
  return n;
}
