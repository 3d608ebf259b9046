/*
 * strmap: a small string-keyed hash map.  See strmap.h.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

uint64_t strmap_hash(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

void *strmap_get(const strmap_t *map, const char *key) {
  if (!map->size)
    return NULL;
  for (strmap_node_t *n = map->buckets[strmap_hash(key) & (map->size - 1)]; n; n = n->next)
    if (strcmp(n->key, key) == 0)
      return n->value;
  return NULL;
}

static int strmap_grow(strmap_t *map) {
  size_t size = map->size ? map->size * 2 : 64;
  strmap_node_t **buckets = calloc(size, sizeof(*buckets));
  if (!buckets)
    return -1;
  for (size_t i = 0; i < map->size; i++) {
    for (strmap_node_t *n = map->buckets[i], *next; n; n = next) {
      next = n->next;
      size_t b = strmap_hash(n->key) & (size - 1);
      n->next = buckets[b];
      buckets[b] = n;
    }
  }
  free(map->buckets);
  map->buckets = buckets;
  map->size = size;
  return 0;
}

/* Insert or replace. */
int strmap_put(strmap_t *map, const char *key, void *value) {
  if (map->count + 1 > map->size * 3 / 4 && strmap_grow(map) != 0)
    return -1;
  size_t b = strmap_hash(key) & (map->size - 1);
  for (strmap_node_t *n = map->buckets[b]; n; n = n->next) {
    if (strcmp(n->key, key) == 0) {
      n->value = value;
      return 0;
    }
  }
  strmap_node_t *n = malloc(sizeof(*n));
  if (!n || !(n->key = strdup(key))) {
    free(n);
    return -1;
  }
  n->value = value;
  n->next = map->buckets[b];
  map->buckets[b] = n;
  map->count++;
  return 0;
}

void strmap_del(strmap_t *map, const char *key) {
  if (!map->size)
    return;
  for (strmap_node_t **pn = &map->buckets[strmap_hash(key) & (map->size - 1)]; *pn; pn = &(*pn)->next) {
    if (strcmp((*pn)->key, key) == 0) {
      strmap_node_t *n = *pn;
      *pn = n->next;
      free(n->key);
      free(n);
      map->count--;
      return;
    }
  }
}

void strmap_clear(strmap_t *map, void (*free_value)(void *)) {
  for (size_t i = 0; i < map->size; i++) {
    for (strmap_node_t *n = map->buckets[i], *next; n; n = next) {
      next = n->next;
      if (free_value)
        free_value(n->value);
      free(n->key);
      free(n);
    }
  }
  free(map->buckets);
  memset(map, 0, sizeof(*map));
}


size_t strmap_count(const strmap_t *map) { return map->count; }

strmap_iter_t strmap_iter(const strmap_t *map) {
  strmap_iter_t it = {NULL, NULL, map, 0, NULL};
  return it;
}

/* `next` is taken before the entry is handed out, so deleting that entry does not break the visit. */
int strmap_iter_next(strmap_iter_t *it) {
  while (!it->next) {
    if (it->bucket >= it->map->size)
      return 0;
    it->next = it->map->buckets[it->bucket++];
  }
  const strmap_node_t *n = it->next;
  it->next = n->next;
  it->key = n->key;
  it->value = n->value;
  return 1;
}

uint64_t strmap_rank(const strmap_t *map, const char *key) {
  if (!map->size)
    return UINT64_MAX;
  size_t b = strmap_hash(key) & (map->size - 1);
  uint64_t i = 0;
  for (const strmap_node_t *n = map->buckets[b]; n; n = n->next, i++)
    if (strcmp(n->key, key) == 0)
      return (uint64_t)b << 24 | i; /* a chain is a few nodes long (the map doubles at 3/4 load) */
  return UINT64_MAX;
}
