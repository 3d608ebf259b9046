/*
 * wb_view: the queues' last records.  See wb_view.h.
 */
#include "wb_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct wb_view {
  json_t *queues; /* id -> record (object) */
};

wb_view_t *wb_view_new(void) {
  wb_view_t *view = calloc(1, sizeof(*view));
  if (view && !(view->queues = json_object())) {
    free(view);
    return NULL;
  }
  return view;
}

void wb_view_destroy(wb_view_t *view) {
  if (!view)
    return;
  json_decref(view->queues);
  free(view);
}

size_t wb_view_count(const wb_view_t *view) { return json_object_size(view->queues); }

static char *wb_view_dump(json_t *msg, size_t *len) {
  char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
  json_decref(msg);
  if (text)
    *len = strlen(text);
  return text;
}

int wb_view_apply(wb_view_t *view, const char *topic, const char *key, size_t key_len, const char *value,
                  size_t value_len, char **update, size_t *update_len, char *errstr, size_t errstr_size) {
  char id[1024];
  json_t *record = NULL;
  *update = NULL;
  if (!key || !key_len || key_len > 512 || memchr(key, '\0', key_len)) {
    snprintf(errstr, errstr_size, "%s: a message without a usable key", topic);
    return -1;
  }
  snprintf(id, sizeof(id), "%s/%.*s", topic, (int)key_len, key);
  if (value) {
    json_error_t jerr;
    record = json_loadb(value, value_len, 0, &jerr);
    if (!json_is_object(record) || !json_is_object(json_object_get(record, "queue"))) {
      snprintf(errstr, errstr_size, "%s: not a queue statistics record%s%s", id, record ? "" : ": ",
               record ? "" : jerr.text);
      json_decref(record);
      return -1;
    }
    if (json_object_set(view->queues, id, record) != 0) {
      json_decref(record);
      snprintf(errstr, errstr_size, "%s: out of memory", id);
      return -1;
    }
  } else {
    if (!json_object_get(view->queues, id))
      return 0;
    json_object_del(view->queues, id);
  }
  json_t *msg = json_pack("{s:s,s:s,s:o}", "type", "queue", "id", id, "record", record ? record : json_null());
  if (!(*update = wb_view_dump(msg, update_len))) {
    snprintf(errstr, errstr_size, "%s: out of memory", id);
    return -1;
  }
  return 1;
}

static int wb_view_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

char *wb_view_snapshot(const wb_view_t *view, const char *config_json, int64_t now_ms, int kafka_ok, size_t *len) {
  size_t n = json_object_size(view->queues), k = 0;
  const char **ids = calloc(n ? n : 1, sizeof(*ids));
  json_t *list = json_array(), *config = json_loads(config_json ? config_json : "{}", 0, NULL);
  const char *id;
  json_t *record;
  if (!ids || !list) {
    free(ids);
    json_decref(list);
    json_decref(config);
    return NULL;
  }
  json_object_foreach(view->queues, id, record)
    ids[k++] = id;
  qsort(ids, n, sizeof(*ids), wb_view_cmp);
  for (k = 0; k < n; k++)
    json_array_append_new(list, json_pack("{s:s,s:O}", "id", ids[k], "record", json_object_get(view->queues, ids[k])));
  free(ids);
  json_t *msg = json_pack("{s:s,s:I,s:b,s:o,s:o}", "type", "snapshot", "now_ms", (json_int_t)now_ms, "kafka_ok",
                          kafka_ok, "config", config ? config : json_object(), "queues", list);
  return wb_view_dump(msg, len);
}
