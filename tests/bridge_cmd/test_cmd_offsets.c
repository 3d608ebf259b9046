/*
 * test_cmd_offsets: the per-partition contiguous commit tracker of the
 * command stage, as scenarios.
 *
 *   01 nothing read, nothing done: nothing to commit
 *   02 done in order: each commits one past itself
 *   03 done out of order: a later command waits for the one before it
 *   04 a redelivery at or below the highest offset is not fresh
 *   05 gaps in offsets (compaction, transactions' markers) commit past the last done
 *   06 taken entries come back in read order, for the caller to free
 *   07 many: done in reverse order, one commit for all
 */
#include <stdlib.h>

#include "check.h"
#include "cmd_offsets.h"

#define N 8

static cmd_offsets_t offsets;
static cmd_offsets_entry_t entries[N];

/* Read offsets first, first + 1, ... into entries[0..n). */
static void read_n(int64_t first, int n) {
  cmd_offsets_init(&offsets);
  for (int i = 0; i < n; i++)
    CHECK_INT(cmd_offsets_push(&offsets, &entries[i], first + i), 0);
}

static int count(const cmd_offsets_entry_t *e) {
  int n = 0;
  for (; e; e = e->next)
    n++;
  return n;
}

static void s01_empty(void) {
  cmd_offsets_entry_t *popped = (cmd_offsets_entry_t *)&offsets;
  cmd_offsets_init(&offsets);
  CHECK(cmd_offsets_empty(&offsets));
  CHECK_INT(cmd_offsets_take(&offsets, &popped), -1);
  CHECK(popped == NULL);
  read_n(0, 3);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), -1);
  CHECK(popped == NULL);
  CHECK(!cmd_offsets_empty(&offsets));
}

static void s02_in_order(void) {
  cmd_offsets_entry_t *popped;
  read_n(10, 3);
  for (int i = 0; i < 3; i++) {
    cmd_offsets_done(&entries[i]);
    CHECK_INT(cmd_offsets_take(&offsets, &popped), 11 + i);
    CHECK(popped == &entries[i]);
    CHECK_INT(count(popped), 1);
  }
  CHECK(cmd_offsets_empty(&offsets));
}

static void s03_out_of_order(void) {
  cmd_offsets_entry_t *popped;
  read_n(100, 4);
  cmd_offsets_done(&entries[1]);
  cmd_offsets_done(&entries[2]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), -1); /* 100 still runs: nothing past it */
  CHECK(popped == NULL);
  cmd_offsets_done(&entries[0]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 103); /* 100, 101, 102 at once */
  CHECK_INT(count(popped), 3);
  CHECK(offsets.head == &entries[3]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), -1);
  cmd_offsets_done(&entries[3]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 104);
  CHECK(cmd_offsets_empty(&offsets));
  /* an empty tracker still remembers the highest offset read */
  CHECK(!cmd_offsets_fresh(&offsets, 103));
  CHECK(cmd_offsets_fresh(&offsets, 104));
}

static void s04_redelivery(void) {
  cmd_offsets_entry_t extra;
  read_n(5, 2);
  CHECK(!cmd_offsets_fresh(&offsets, 5));
  CHECK(!cmd_offsets_fresh(&offsets, 6));
  CHECK(!cmd_offsets_fresh(&offsets, 0));
  CHECK_INT(cmd_offsets_push(&offsets, &extra, 6), -1);
  CHECK(offsets.tail == &entries[1]); /* nothing appended */
  CHECK(cmd_offsets_fresh(&offsets, 7));
  CHECK_INT(cmd_offsets_push(&offsets, &extra, 7), 0);
  CHECK(offsets.tail == &extra);
}

static void s05_gaps(void) {
  cmd_offsets_entry_t *popped;
  cmd_offsets_init(&offsets);
  CHECK_INT(cmd_offsets_push(&offsets, &entries[0], 3), 0);
  CHECK_INT(cmd_offsets_push(&offsets, &entries[1], 9), 0);
  CHECK_INT(cmd_offsets_push(&offsets, &entries[2], 20), 0);
  cmd_offsets_done(&entries[0]);
  cmd_offsets_done(&entries[1]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 10);
  cmd_offsets_done(&entries[2]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 21);
}

static void s06_popped_in_order(void) {
  cmd_offsets_entry_t *popped;
  read_n(0, 5);
  for (int i = 0; i < 5; i++)
    cmd_offsets_done(&entries[i]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 5);
  int64_t want = 0;
  for (cmd_offsets_entry_t *e = popped; e; e = e->next)
    CHECK_INT(e->offset, want++);
  CHECK_INT(want, 5);
  CHECK(offsets.head == NULL && offsets.tail == NULL);
  /* the tracker goes on after being emptied */
  CHECK_INT(cmd_offsets_push(&offsets, &entries[0], 5), 0);
  CHECK(offsets.head == &entries[0] && offsets.tail == &entries[0]);
}

static void s07_many_reverse(void) {
  enum { M = 1000 };
  cmd_offsets_entry_t *many = calloc(M, sizeof(*many)), *popped;
  cmd_offsets_init(&offsets);
  for (int i = 0; i < M; i++)
    CHECK_INT(cmd_offsets_push(&offsets, &many[i], 5000 + i), 0);
  int early = 0;
  for (int i = M - 1; i >= 1; i--) {
    cmd_offsets_done(&many[i]);
    if (cmd_offsets_take(&offsets, &popped) != -1)
      early++;
  }
  CHECK_INT(early, 0);
  cmd_offsets_done(&many[0]);
  CHECK_INT(cmd_offsets_take(&offsets, &popped), 5000 + M);
  CHECK_INT(count(popped), M);
  CHECK(cmd_offsets_empty(&offsets));
  free(many);
}

int main(void) {
  s01_empty();
  s02_in_order();
  s03_out_of_order();
  s04_redelivery();
  s05_gaps();
  s06_popped_in_order();
  s07_many_reverse();
  CHECK_DONE();
}
