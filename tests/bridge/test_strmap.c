/*
 * test_strmap: the string map, as scenarios.
 *
 *   01 put, get, replace, delete, count; keys are copied
 *   02 the iterator visits every entry once, across bucket growth
 *   03 deleting the entry just visited does not break the visit
 *   04 an empty map (never grown) iterates nothing
 *   05 a visit meets the keys by increasing rank (chains of several nodes too)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "strmap.h"

#define N 1000

static void s01_basics(void) {
  strmap_t map = STRMAP_INIT;
  char key[16];
  int values[3] = {1, 2, 3};
  snprintf(key, sizeof(key), "a");
  CHECK_INT(strmap_put(&map, key, &values[0]), 0);
  key[0] = 'z'; /* the map kept its own copy */
  CHECK(strmap_get(&map, "a") == &values[0]);
  CHECK(strmap_get(&map, "z") == NULL);
  CHECK_INT(strmap_put(&map, "a", &values[1]), 0);
  CHECK(strmap_get(&map, "a") == &values[1]);
  CHECK_INT(strmap_count(&map), 1);
  CHECK_INT(strmap_put(&map, "b", &values[2]), 0);
  CHECK_INT(strmap_count(&map), 2);
  strmap_del(&map, "a");
  strmap_del(&map, "nothing");
  CHECK(strmap_get(&map, "a") == NULL);
  CHECK_INT(strmap_count(&map), 1);
  strmap_clear(&map, NULL);
  CHECK_INT(strmap_count(&map), 0);
}

static void fill(strmap_t *map, int *values) {
  char key[16];
  for (int i = 0; i < N; i++) {
    values[i] = i;
    snprintf(key, sizeof(key), "k%d", i);
    CHECK_INT(strmap_put(map, key, &values[i]), 0);
  }
}

static void s02_visit_all(void) {
  static int values[N];
  static int seen[N];
  strmap_t map = STRMAP_INIT;
  fill(&map, values);
  memset(seen, 0, sizeof(seen));
  size_t visits = 0;
  for (strmap_iter_t it = strmap_iter(&map); strmap_iter_next(&it);) {
    int v = *(int *)it.value;
    char want[16];
    snprintf(want, sizeof(want), "k%d", v);
    CHECK_STR(it.key, want);
    seen[v]++;
    visits++;
  }
  CHECK_INT(visits, N);
  int once = 0;
  for (int i = 0; i < N; i++)
    once += seen[i] == 1;
  CHECK_INT(once, N);
  strmap_clear(&map, NULL);
}

static void s03_delete_while_visiting(void) {
  static int values[N];
  strmap_t map = STRMAP_INIT;
  fill(&map, values);
  size_t visits = 0;
  for (strmap_iter_t it = strmap_iter(&map); strmap_iter_next(&it);) {
    visits++;
    if (*(int *)it.value % 2 == 0)
      strmap_del(&map, it.key); /* it.key is freed now: not read again */
  }
  CHECK_INT(visits, N);
  CHECK_INT(strmap_count(&map), N / 2);
  CHECK(strmap_get(&map, "k2") == NULL);
  CHECK(strmap_get(&map, "k3") == &values[3]);
  strmap_clear(&map, NULL);
}

static void s04_empty(void) {
  strmap_t map = STRMAP_INIT;
  strmap_iter_t it = strmap_iter(&map);
  CHECK_INT(strmap_iter_next(&it), 0);
  CHECK_INT(strmap_iter_next(&it), 0);
  CHECK(strmap_get(&map, "x") == NULL);
  strmap_del(&map, "x");
}

static void s05_rank(void) {
  static int values[N];
  strmap_t map = STRMAP_INIT;
  fill(&map, values);
  uint64_t last = 0;
  size_t n = 0;
  int chained = 0;
  for (strmap_iter_t it = strmap_iter(&map); strmap_iter_next(&it); n++) {
    uint64_t rank = strmap_rank(&map, it.key);
    CHECK(n == 0 || rank > last);
    chained |= n > 0 && rank >> 24 == last >> 24; /* two keys of one bucket */
    last = rank;
  }
  CHECK_INT(n, N);
  CHECK(chained);
  CHECK(strmap_rank(&map, "not there") == UINT64_MAX);
  strmap_clear(&map, NULL);
  CHECK(strmap_rank(&map, "k1") == UINT64_MAX);
}

int main(void) {
  s01_basics();
  s02_visit_all();
  s03_delete_while_visiting();
  s04_empty();
  s05_rank();
  return check_done();
}
