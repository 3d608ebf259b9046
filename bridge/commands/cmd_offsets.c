/*
 * cmd_offsets: the contiguous commit tracker of a command partition.  See cmd_offsets.h.
 */
#include "cmd_offsets.h"

#include <stddef.h>

void cmd_offsets_init(cmd_offsets_t *offsets) {
  offsets->head = offsets->tail = NULL;
  offsets->high = -1;
}

int cmd_offsets_fresh(const cmd_offsets_t *offsets, int64_t offset) { return offset > offsets->high; }

int cmd_offsets_push(cmd_offsets_t *offsets, cmd_offsets_entry_t *entry, int64_t offset) {
  if (!cmd_offsets_fresh(offsets, offset))
    return -1;
  entry->next = NULL;
  entry->offset = offset;
  entry->done = 0;
  if (offsets->tail)
    offsets->tail->next = entry;
  else
    offsets->head = entry;
  offsets->tail = entry;
  offsets->high = offset;
  return 0;
}

void cmd_offsets_done(cmd_offsets_entry_t *entry) { entry->done = 1; }

int64_t cmd_offsets_take(cmd_offsets_t *offsets, cmd_offsets_entry_t **popped) {
  int64_t commit = -1;
  cmd_offsets_entry_t *first = NULL, *last = NULL;
  while (offsets->head && offsets->head->done) {
    cmd_offsets_entry_t *entry = offsets->head;
    offsets->head = entry->next;
    if (!offsets->head)
      offsets->tail = NULL;
    entry->next = NULL;
    if (last)
      last->next = entry;
    else
      first = entry;
    last = entry;
    commit = entry->offset + 1;
  }
  *popped = first;
  return commit;
}

int cmd_offsets_empty(const cmd_offsets_t *offsets) { return offsets->head == NULL; }
