/*
 * strmap: a string-keyed hash map of borrowed pointers, for the stages'
 * indexes (entities by id, calls by line and callid, lines by GUID).
 *
 * DESIGN.  FNV-1a, chained, power-of-two buckets that double at 3/4 load.
 * Keys are copied; values are borrowed (strmap_clear can free them).  The
 * struct is public only so that a map can live inside its owner
 * (STRMAP_INIT); its fields are strmap.c's alone: others read the size with
 * strmap_count and visit the entries with an iterator.  Not thread-safe; no
 * I/O.
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
  strmap_node_t **buckets; /* private to strmap.c */
  size_t size, count;      /* private: strmap_count */
} strmap_t;

#define STRMAP_INIT {NULL, 0, 0}

uint64_t strmap_hash(const char *s);
void *strmap_get(const strmap_t *map, const char *key);
/* Insert or replace; 0 or -1 (out of memory). */
int strmap_put(strmap_t *map, const char *key, void *value);
void strmap_del(strmap_t *map, const char *key);
/* Remove everything, calling free_value (if any) on each value. */
void strmap_clear(strmap_t *map, void (*free_value)(void *));
/* How many entries. */
size_t strmap_count(const strmap_t *map);

/*
 * A visit of every entry once, in no particular order:
 *
 *   for (strmap_iter_t it = strmap_iter(&map); strmap_iter_next(&it);)
 *     use(it.key, it.value);
 *
 * The entry just returned may be deleted (strmap_del) before the next call;
 * any other insertion or deletion during the visit is not allowed.  key and
 * value are borrowed from the map.
 */
typedef struct strmap_iter {
  const char *key;
  void *value;
  /* private */
  const strmap_t *map;
  size_t bucket;
  const strmap_node_t *next;
} strmap_iter_t;

strmap_iter_t strmap_iter(const strmap_t *map);
/* Step to the next entry: 1 with it->key and it->value set, or 0 at the end. */
int strmap_iter_next(strmap_iter_t *it);
/*
 * A key's place in a visit, while the map does not change: a visit meets
 * the keys by increasing rank (to visit a few entries in the order a whole
 * visit would, without the whole visit).  UINT64_MAX when the key is not there.
 */
uint64_t strmap_rank(const strmap_t *map, const char *key);

#endif
