/*
 * cmd_offsets: which offset of a command-topic partition may be committed.
 *
 * DESIGN.  Pure bookkeeping for cmd_source (no Kafka, no I/O): the entries
 * of one partition in the order they were read, each marked done once its
 * command's outcome is recorded and its result confirmed.  The committable
 * offset is one past the last entry of the contiguous run of done entries
 * at the head: a command done early waits for every one before it, so a
 * crash never skips an unfinished command.  Entries are intrusive (embedded
 * in the caller's job, as its first member when the caller casts back) and
 * owned by the caller: cmd_offsets_take hands the popped ones back to free.
 * A message read again at or below the highest offset seen (a consumer
 * resumed after a pause re-fetches) is not fresh and must be ignored.
 * Single-threaded.
 */
#ifndef CMD_OFFSETS_H
#define CMD_OFFSETS_H

#include <stdint.h>

typedef struct cmd_offsets_entry {
  struct cmd_offsets_entry *next; /* read order */
  int64_t offset;
  int done;
} cmd_offsets_entry_t;

typedef struct cmd_offsets {
  cmd_offsets_entry_t *head, *tail;
  int64_t high; /* highest offset read; -1 before the first */
} cmd_offsets_t;

void cmd_offsets_init(cmd_offsets_t *offsets);
/* 1 when `offset` was not read before (above the highest seen), else 0. */
int cmd_offsets_fresh(const cmd_offsets_t *offsets, int64_t offset);
/* Append `entry` (not done) for a fresh `offset`; 0, or -1 when it is not fresh (nothing appended). */
int cmd_offsets_push(cmd_offsets_t *offsets, cmd_offsets_entry_t *entry, int64_t offset);
/* Mark an entry done (its outcome recorded, its result confirmed). */
void cmd_offsets_done(cmd_offsets_entry_t *entry);
/*
 * Unlink the done entries at the head, in order, into *popped (NULL-ended
 * through next; the caller frees them); returns the offset to commit (the
 * last popped + 1), or -1 when the head is not done.
 */
int64_t cmd_offsets_take(cmd_offsets_t *offsets, cmd_offsets_entry_t **popped);
/* Nothing left: every entry read was taken. */
int cmd_offsets_empty(const cmd_offsets_t *offsets);

#endif
