/*
 * state_reader: a PBX's committed state, read back from its own topics.
 *
 * DESIGN.  Kafka is the bridge's memory: each entity's last event on the
 * compacted topics (lines, presence, queues, live-calls, queue-stats: the
 * `restore` column of topics.h) is its last committed state and seq.  A
 * reader thread owns a consumer (isolation.level=read_committed, no group:
 * every partition assigned from the beginning) and reads those topics to
 * their ends, keeping only the last message of each key (so a topic not yet
 * compacted costs reading, not memory or the loop's time), then hands the
 * survivors to the loop thread at once: that is "caught up".  With `follow`
 * it goes on reading and hands each new message over as it comes (a standby
 * keeps the committed state of a PBX it does not own current this way).
 * The loop watches state_reader_fd and calls state_reader_poll, which
 * delivers the messages in order to a callback.  Nothing on the loop waits
 * for Kafka; an unreachable Kafka only delays "caught up" (the owner of the
 * PBX waits for it before connecting, so that a fresh snapshot is diffed
 * against what consumers have seen).
 */
#ifndef STATE_READER_H
#define STATE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "kafka_client.h"
#include "topics.h"

typedef struct state_reader state_reader_t;

/* One message read back; valid during the callback.  value NULL: a tombstone. */
typedef struct state_reader_msg {
  topic_id_t topic;
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
  int64_t offset;
} state_reader_msg_t;

/*
 * Start reading `topics` (the PBX's) back; `name` names the client
 * ("reader-hq").  NULL with errstr.
 */
state_reader_t *state_reader_new(kafka_env_t *env, const char *name, const topics_t *topics, int follow,
                                 char *errstr, size_t errstr_size);
/* The fd that becomes readable when state_reader_poll has something. */
int state_reader_fd(const state_reader_t *reader);

typedef void(state_reader_msg_cb)(void *opaque, const state_reader_msg_t *msg);
/*
 * Deliver what the thread has read, in order (loop thread).  Returns 1 the
 * first time everything up to the ends has been delivered ("caught up"),
 * else 0.
 */
int state_reader_poll(state_reader_t *reader, state_reader_msg_cb *cb, void *opaque);
/* Whether the reader has caught up (delivered everything up to the ends it first saw). */
int state_reader_caught_up(const state_reader_t *reader);
/* Messages read so far (all, also those a later one replaced). */
uint64_t state_reader_count(const state_reader_t *reader);
/* Stop the thread and free. */
void state_reader_destroy(state_reader_t *reader);

#endif
