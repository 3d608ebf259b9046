/*
 * state_reader: the committed state read back.  See state_reader.h.
 */
#include "state_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bclock.h"
#include "blog.h"
#include "strmap.h"

/* One message, copied out of librdkafka's buffer. */
typedef struct state_reader_item {
  struct state_reader_item *next;
  topic_id_t topic;
  int64_t offset;
  char *key;
  size_t key_len;
  char *value; /* NULL: tombstone */
  size_t value_len;
} state_reader_item_t;

struct state_reader {
  char name[128];
  topics_t topics;
  int follow;
  rd_kafka_t *rk;
  pthread_t thread;
  int thread_started;
  int wake[2];
  pthread_mutex_t lock; /* the fields below */
  int stop;
  state_reader_item_t *head, *tail; /* read, not yet delivered */
  int caught_up_posted;             /* the thread has posted everything up to the ends */
  int caught_up;                    /* the loop has delivered it (loop thread only) */
  uint64_t count;
};

static void state_reader_item_free(state_reader_item_t *item) {
  if (item) {
    free(item->key);
    free(item->value);
    free(item);
  }
}

static state_reader_item_t *state_reader_item_new(topic_id_t topic, const rd_kafka_message_t *m) {
  state_reader_item_t *item = calloc(1, sizeof(*item));
  if (!item)
    return NULL;
  item->topic = topic;
  item->offset = m->offset;
  item->key = malloc(m->key_len + 1);
  item->key_len = m->key_len;
  if (m->payload) {
    item->value = malloc(m->len + 1);
    item->value_len = m->len;
  }
  if (!item->key || (m->payload && !item->value)) {
    state_reader_item_free(item);
    return NULL;
  }
  memcpy(item->key, m->key, m->key_len);
  item->key[m->key_len] = '\0';
  if (m->payload) {
    memcpy(item->value, m->payload, m->len);
    item->value[m->len] = '\0';
  }
  return item;
}

static int state_reader_stopping(state_reader_t *reader) {
  pthread_mutex_lock(&reader->lock);
  int stop = reader->stop;
  pthread_mutex_unlock(&reader->lock);
  return stop;
}

/* Hand items to the loop (a chain, in order), and maybe the "caught up" mark. */
static void state_reader_post(state_reader_t *reader, state_reader_item_t *first, state_reader_item_t *last,
                              int caught_up) {
  pthread_mutex_lock(&reader->lock);
  if (first) {
    if (reader->tail)
      reader->tail->next = first;
    else
      reader->head = first;
    reader->tail = last;
  }
  if (caught_up)
    reader->caught_up_posted = 1;
  pthread_mutex_unlock(&reader->lock);
  if (write(reader->wake[1], "1", 1) < 0 && errno != EAGAIN)
    BLOG_W(KAFKA, reader->name, "wake: %s", strerror(errno));
}

/*
 * Every partition of the restore topics, from the beginning.  Retries until
 * Kafka answers; a topic that does not exist has nothing to read.  0, or -1
 * when stopped.
 */
static int state_reader_assign(state_reader_t *reader, int *n_parts) {
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(32);
  int64_t warned = 0;
  for (int t = 0; t < TOPIC__COUNT; t++) {
    if (!topics_row((topic_id_t)t)->restore)
      continue;
    for (;;) {
      if (state_reader_stopping(reader)) {
        rd_kafka_topic_partition_list_destroy(parts);
        return -1;
      }
      rd_kafka_topic_t *rkt = rd_kafka_topic_new(reader->rk, reader->topics.name[t], NULL);
      const struct rd_kafka_metadata *md = NULL;
      rd_kafka_resp_err_t e = rd_kafka_metadata(reader->rk, 0, rkt, &md, 2000);
      rd_kafka_topic_destroy(rkt);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
          (md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR ||
           md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)) {
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
          rd_kafka_topic_partition_list_add(parts, reader->topics.name[t], md->topics[0].partitions[p].id)
              ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_metadata_destroy(md);
        break;
      }
      if (md)
        rd_kafka_metadata_destroy(md);
      if (bclock_mono_ms() - warned > 10000) {
        BLOG_W(KAFKA, reader->name, "%s: no metadata yet (%s); still trying", reader->topics.name[t],
               rd_kafka_err2str(e ? e : RD_KAFKA_RESP_ERR__TRANSPORT));
        warned = bclock_mono_ms();
      }
    }
  }
  *n_parts = parts->cnt;
  BLOG_D(KAFKA, reader->name, "reading %d partitions back", parts->cnt);
  if (parts->cnt)
    rd_kafka_assign(reader->rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  return 0;
}

/*
 * The last message of each key, until caught up: its last value, and the
 * tombstone that followed it if any (a deleted entity keeps its seq: an
 * entity that comes back continues it, so no ce_id is used twice).
 */
typedef struct state_reader_last {
  state_reader_item_t *value, *tomb;
} state_reader_last_t;

static void state_reader_last_free(void *p) {
  state_reader_last_t *last = p;
  if (last) {
    state_reader_item_free(last->value);
    state_reader_item_free(last->tomb);
    free(last);
  }
}

/* Keep `item` as its key's last; 0, or -1 when out of memory (item freed). */
static int state_reader_keep(strmap_t *map, state_reader_item_t *item) {
  state_reader_last_t *last = strmap_get(map, item->key);
  if (!last) {
    if (!(last = calloc(1, sizeof(*last))) || strmap_put(map, item->key, last) != 0) {
      free(last);
      state_reader_item_free(item);
      return -1;
    }
  }
  if (item->value) {
    state_reader_item_free(last->value);
    state_reader_item_free(last->tomb);
    last->value = item;
    last->tomb = NULL;
  } else {
    state_reader_item_free(last->tomb);
    last->tomb = item;
  }
  return 0;
}

/* Append an item to a chain. */
static void state_reader_chain(state_reader_item_t **first, state_reader_item_t **tail, state_reader_item_t *item) {
  if (!item)
    return;
  item->next = NULL;
  if (*tail)
    (*tail)->next = item;
  else
    *first = item;
  *tail = item;
}

static void *state_reader_main(void *arg) {
  state_reader_t *reader = arg;
  int n_parts = 0, eofs = 0;
  strmap_t last[TOPIC__COUNT];
  memset(last, 0, sizeof(last));
  int64_t t0 = bclock_mono_ms();
  if (state_reader_assign(reader, &n_parts) != 0)
    goto done;
  /* every partition reports its end once (enable.partition.eof), also an empty one */
  strmap_t seen_eof = {0};
  while (eofs < n_parts && !state_reader_stopping(reader)) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(reader->rk, 200);
    if (!m)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      char k[300];
      snprintf(k, sizeof(k), "%s/%d", rd_kafka_topic_name(m->rkt), m->partition);
      if (!strmap_get(&seen_eof, k)) {
        strmap_put(&seen_eof, k, (void *)1);
        eofs++;
        BLOG_D(KAFKA, reader->name, "%s at its end (%d of %d)", k, eofs, n_parts);
      }
    } else if (m->err) {
      BLOG_W(KAFKA, reader->name, "%s", rd_kafka_message_errstr(m));
    } else if (m->key) {
      int t = topics_lookup(&reader->topics, rd_kafka_topic_name(m->rkt));
      state_reader_item_t *item = t >= 0 ? state_reader_item_new((topic_id_t)t, m) : NULL;
      if (item && state_reader_keep(&last[t], item) != 0)
        BLOG_W(KAFKA, reader->name, "out of memory: a message of %s not kept", reader->topics.name[t]);
      pthread_mutex_lock(&reader->lock);
      reader->count++;
      pthread_mutex_unlock(&reader->lock);
    }
    rd_kafka_message_destroy(m);
  }
  strmap_clear(&seen_eof, NULL);
  if (eofs < n_parts)
    goto done;
  /* the survivors, topic by topic (lines before the users, queues and calls that need them) */
  state_reader_item_t *first = NULL, *tail = NULL;
  static const topic_id_t order[] = {TOPIC_LINES, TOPIC_PRESENCE, TOPIC_QUEUES, TOPIC_LIVE_CALLS,
                                     TOPIC_QUEUE_STATS};
  size_t kept = 0;
  for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++) {
    for (strmap_iter_t it = strmap_iter(&last[order[o]]); strmap_iter_next(&it);) {
      state_reader_last_t *l = it.value;
      state_reader_chain(&first, &tail, l->value);
      state_reader_chain(&first, &tail, l->tomb);
      l->value = l->tomb = NULL;
      kept++;
    }
    strmap_clear(&last[order[o]], state_reader_last_free);
  }
  BLOG_I(KAFKA, reader->name, "read back %llu messages of %d partitions in %lld ms: %zu entities",
         (unsigned long long)reader->count, n_parts, (long long)(bclock_mono_ms() - t0), kept);
  state_reader_post(reader, first, tail, 1);
  while (reader->follow && !state_reader_stopping(reader)) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(reader->rk, 200);
    if (!m)
      continue;
    if (!m->err && m->key) {
      int t = topics_lookup(&reader->topics, rd_kafka_topic_name(m->rkt));
      state_reader_item_t *item = t >= 0 ? state_reader_item_new((topic_id_t)t, m) : NULL;
      if (item)
        state_reader_post(reader, item, item, 0);
      pthread_mutex_lock(&reader->lock);
      reader->count++;
      pthread_mutex_unlock(&reader->lock);
    }
    rd_kafka_message_destroy(m);
  }
done:
  for (int t = 0; t < TOPIC__COUNT; t++)
    strmap_clear(&last[t], state_reader_last_free);
  return NULL;
}

state_reader_t *state_reader_new(kafka_env_t *env, const char *name, const topics_t *topics, int follow,
                                 char *errstr, size_t errstr_size) {
  state_reader_t *reader = calloc(1, sizeof(*reader));
  if (!reader) {
    snprintf(errstr, errstr_size, "state reader: out of memory");
    return NULL;
  }
  reader->wake[0] = reader->wake[1] = -1;
  pthread_mutex_init(&reader->lock, NULL);
  snprintf(reader->name, sizeof(reader->name), "%s", name);
  reader->topics = *topics;
  reader->follow = follow;
  if (pipe(reader->wake) != 0) {
    snprintf(errstr, errstr_size, "state reader: pipe: %s", strerror(errno));
    goto fail;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(reader->wake[i], F_SETFL, O_NONBLOCK);
    fcntl(reader->wake[i], F_SETFD, FD_CLOEXEC);
  }
  /* a group id is required by the consumer API; the reader assigns partitions itself and commits nothing */
  char group[200];
  snprintf(group, sizeof(group), "mtcti3-bridge-%s", name);
  kafka_client_spec_t spec = {.role = KAFKA_CLIENT_READER, .name = name, .group_id = group, .opaque = reader};
  reader->rk = kafka_client_new(env, &spec, errstr, errstr_size);
  if (!reader->rk)
    goto fail;
  if (pthread_create(&reader->thread, NULL, state_reader_main, reader) != 0) {
    snprintf(errstr, errstr_size, "state reader: cannot start its thread");
    goto fail;
  }
  reader->thread_started = 1;
  return reader;
fail:
  state_reader_destroy(reader);
  return NULL;
}

int state_reader_fd(const state_reader_t *reader) { return reader->wake[0]; }

int state_reader_poll(state_reader_t *reader, state_reader_msg_cb *cb, void *opaque) {
  char buf[64];
  while (read(reader->wake[0], buf, sizeof(buf)) > 0) {
  }
  pthread_mutex_lock(&reader->lock);
  state_reader_item_t *item = reader->head;
  reader->head = reader->tail = NULL;
  int caught_up = reader->caught_up_posted;
  pthread_mutex_unlock(&reader->lock);
  while (item) {
    state_reader_item_t *next = item->next;
    state_reader_msg_t msg = {item->topic, item->key, item->key_len, item->value, item->value_len, item->offset};
    cb(opaque, &msg);
    state_reader_item_free(item);
    item = next;
  }
  if (caught_up && !reader->caught_up) {
    reader->caught_up = 1;
    return 1;
  }
  return 0;
}

int state_reader_caught_up(const state_reader_t *reader) { return reader->caught_up; }

uint64_t state_reader_count(const state_reader_t *reader) {
  pthread_mutex_lock((pthread_mutex_t *)&reader->lock);
  uint64_t n = reader->count;
  pthread_mutex_unlock((pthread_mutex_t *)&reader->lock);
  return n;
}

void state_reader_destroy(state_reader_t *reader) {
  if (!reader)
    return;
  if (reader->thread_started) {
    pthread_mutex_lock(&reader->lock);
    reader->stop = 1;
    pthread_mutex_unlock(&reader->lock);
    pthread_join(reader->thread, NULL);
  }
  for (state_reader_item_t *item = reader->head, *next; item; item = next) {
    next = item->next;
    state_reader_item_free(item);
  }
  if (reader->rk) {
    rd_kafka_consumer_close(reader->rk);
    kafka_client_destroy(reader->rk);
  }
  for (int i = 0; i < 2; i++)
    if (reader->wake[i] >= 0)
      close(reader->wake[i]);
  pthread_mutex_destroy(&reader->lock);
  free(reader);
}
