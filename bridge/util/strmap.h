/*
 * strmap: a string-keyed hash map of borrowed pointers, for the stages'
 * indexes (entities by id, calls by line and callid, lines by GUID).
 * Iterate with STRMAP_FOREACH.  Not thread-safe; no I/O.
 */
#ifndef STRMAP_H
#define STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_node {
  char *key;
  void *value;
  struct strmap_node *next;
} strmap_node_t;

typedef struct strmap {
  strmap_node_t **buckets;
  size_t size, count;
} strmap_t;

#define STRMAP_INIT {NULL, 0, 0}

uint64_t strmap_hash(const char *s);
void *strmap_get(const strmap_t *map, const char *key);
/* Insert or replace; 0 or -1 (out of memory). */
int strmap_put(strmap_t *map, const char *key, void *value);
void strmap_del(strmap_t *map, const char *key);
/* Remove everything, calling free_value (if any) on each value. */
void strmap_clear(strmap_t *map, void (*free_value)(void *));

/* Visit every node; the body must not add or delete. */
#define STRMAP_FOREACH(map, node)                            \
  for (size_t strmap_i_ = 0; strmap_i_ < (map)->size; strmap_i_++) \
    for (strmap_node_t *node = (map)->buckets[strmap_i_]; node; node = node->next)

#endif
