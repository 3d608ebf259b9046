/*
 * topics: the topic table.  See topics.h.
 */
#include "topics.h"

#include <stdio.h>
#include <string.h>

static const topic_row_t topics_rows[TOPIC__COUNT] = {
#define TOPICS_X_ROW(e, s, c, p, r, k, ce, sc, d) {s, c, p, r, k, ce, sc, d},
    TOPICS(TOPICS_X_ROW)
#undef TOPICS_X_ROW
};

const topic_row_t *topics_row(topic_id_t id) {
  return id >= 0 && id < TOPIC__COUNT ? &topics_rows[id] : NULL;
}

int topics_by_suffix(const char *suffix) {
  for (int i = 0; i < TOPIC__COUNT; i++)
    if (strcmp(topics_rows[i].suffix, suffix) == 0)
      return i;
  return -1;
}

int topics_init(topics_t *topics, const char *prefix, char *errstr, size_t errstr_size) {
  if (strlen(prefix) >= sizeof(topics->prefix)) {
    snprintf(errstr, errstr_size, "topic_prefix: longer than %zu characters", sizeof(topics->prefix) - 1);
    return -1;
  }
  snprintf(topics->prefix, sizeof(topics->prefix), "%s", prefix);
  for (int i = 0; i < TOPIC__COUNT; i++)
    snprintf(topics->name[i], sizeof(topics->name[i]), "%s%s", prefix, topics_rows[i].suffix);
  return 0;
}

int topics_lookup(const topics_t *topics, const char *name) {
  size_t plen = strlen(topics->prefix);
  if (strncmp(name, topics->prefix, plen) != 0)
    return -1;
  return topics_by_suffix(name + plen);
}
