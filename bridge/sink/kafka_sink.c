/*
 * kafka_sink: the producer thread of one PBX.  See kafka_sink.h.
 */
#include "kafka_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bclock.h"
#include "blog.h"

/* One event of a batch, from the loop thread to its delivery report. */
typedef struct kafka_sink_item {
  event_t event;
  void *opaque;
  int delivered; /* this attempt's delivery report was a success */
} kafka_sink_item_t;

struct kafka_sink_batch {
  struct kafka_sink_batch *next;
  kafka_sink_item_t *items;
  size_t len, size;
  rd_kafka_topic_partition_list_t *offsets;
  rd_kafka_consumer_group_metadata_t *cgmd;
  int64_t t0_us, t1_us; /* submitted, completed */
  kafka_sink_status_t status;
};

/*
 * What the sink thread writes at once: every batch waiting when it starts
 * (first to last, consecutive in `todo`), in one transaction or one produce
 * round, so that a commit's round trips are paid once for all of them.
 */
typedef struct kafka_sink_round {
  kafka_sink_batch_t *first, *last;
  size_t events;
  /* this attempt's delivery reports */
  size_t reported, failed;
  rd_kafka_resp_err_t last_err;
} kafka_sink_round_t;

/* A queue of batches (submitted, or completed), in order. */
typedef struct kafka_sink_fifo {
  kafka_sink_batch_t *head, *tail;
} kafka_sink_fifo_t;

struct kafka_sink {
  char name[128];
  kafka_env_t *env; /* told when a broker answers (the end of an outage) */
  rd_kafka_t *rk;
  int transactional;
  kafka_sink_done_cb *done;
  void *ctx;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t lock; /* the fields below */
  pthread_cond_t cond;
  kafka_sink_fifo_t todo, finished;
  int stopping;  /* the thread ends once `todo` is empty */
  int abandon;   /* the thread ends at once: `todo` is dropped */
  int fenced;
  int ready;
  size_t pending_events; /* submitted and not yet completed (loop thread's view) */
  atomic_size_t delivery_errors; /* delivery reports with an error, and produce calls refused (sink thread) */
  const char *_Atomic phase;     /* what the sink thread does now (a static string), for the exit's log */
  const char *stop_phase;        /* its phase when kafka_sink_stop gave up waiting (loop thread) */
  kafka_sink_batch_t *writing_last; /* the last batch of the round being written, NULL: none */
  kafka_sink_round_t *cur_round;    /* the round being written (sink thread only) */
  int wake[2];           /* the thread -> the loop: batches finished */
};

/* ---- batches ---- */

kafka_sink_batch_t *kafka_sink_batch_new(void) { return calloc(1, sizeof(kafka_sink_batch_t)); }

int kafka_sink_batch_add(kafka_sink_batch_t *batch, event_t *event, void *opaque) {
  if (batch->len == batch->size) {
    size_t size = batch->size ? batch->size * 2 : 64;
    kafka_sink_item_t *grown = realloc(batch->items, size * sizeof(*grown));
    if (!grown) {
      event_clear(event);
      return -1;
    }
    batch->items = grown;
    batch->size = size;
  }
  kafka_sink_item_t *item = &batch->items[batch->len++];
  item->event = *event;
  item->opaque = opaque;
  item->delivered = 0;
  memset(event, 0, sizeof(*event));
  return 0;
}

size_t kafka_sink_batch_len(const kafka_sink_batch_t *batch) { return batch->len; }
void *kafka_sink_batch_opaque(const kafka_sink_batch_t *batch, size_t i) { return batch->items[i].opaque; }
int kafka_sink_batch_topic(const kafka_sink_batch_t *batch, size_t i) { return batch->items[i].event.topic_id; }
double kafka_sink_batch_seconds(const kafka_sink_batch_t *batch) {
  return batch->t1_us > batch->t0_us ? (double)(batch->t1_us - batch->t0_us) / 1e6 : 0;
}

void kafka_sink_batch_offsets(kafka_sink_batch_t *batch, rd_kafka_topic_partition_list_t *offsets,
                              rd_kafka_consumer_group_metadata_t *cgmd) {
  if (batch->offsets)
    rd_kafka_topic_partition_list_destroy(batch->offsets);
  if (batch->cgmd)
    rd_kafka_consumer_group_metadata_destroy(batch->cgmd);
  batch->offsets = offsets;
  batch->cgmd = cgmd;
}

void kafka_sink_batch_free(kafka_sink_batch_t *batch) {
  if (!batch)
    return;
  for (size_t i = 0; i < batch->len; i++)
    event_clear(&batch->items[i].event);
  free(batch->items);
  kafka_sink_batch_offsets(batch, NULL, NULL);
  free(batch);
}

static void kafka_sink_fifo_push(kafka_sink_fifo_t *fifo, kafka_sink_batch_t *batch) {
  batch->next = NULL;
  if (fifo->tail)
    fifo->tail->next = batch;
  else
    fifo->head = batch;
  fifo->tail = batch;
}

static kafka_sink_batch_t *kafka_sink_fifo_pop(kafka_sink_fifo_t *fifo) {
  kafka_sink_batch_t *batch = fifo->head;
  if (batch) {
    fifo->head = batch->next;
    if (!fifo->head)
      fifo->tail = NULL;
    batch->next = NULL;
  }
  return batch;
}

/* ---- the sink thread ---- */

/* A delivery report, on the sink thread (served by its polls and its commits). */
static void kafka_sink_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  kafka_sink_t *sink = opaque;
  kafka_sink_round_t *round = sink->cur_round;
  (void)rk;
  if (!round)
    return;
  round->reported++;
  if (m->err) {
    atomic_fetch_add(&sink->delivery_errors, 1);
    round->failed++;
    round->last_err = m->err;
  } else if (m->_private) {
    ((kafka_sink_item_t *)m->_private)->delivered = 1;
  }
}

/*
 * Where an event goes: Java's default partitioner (murmur2 of the key) over
 * the event's partition key when it has one (a call leg's gcid: every leg
 * of a call in one partition, in order), else over its key.  Runs on
 * librdkafka's threads: it reads only the message's own event.
 */
static int32_t kafka_sink_partitioner(const rd_kafka_topic_t *rkt, const void *keydata, size_t keylen,
                                      int32_t partition_cnt, void *rkt_opaque, void *msg_opaque) {
  const kafka_sink_item_t *item = msg_opaque;
  if (item && item->event.partition_key)
    return rd_kafka_msg_partitioner_murmur2_random(rkt, item->event.partition_key, strlen(item->event.partition_key),
                                                   partition_cnt, rkt_opaque, msg_opaque);
  return rd_kafka_msg_partitioner_murmur2_random(rkt, keydata, keylen, partition_cnt, rkt_opaque, msg_opaque);
}

static int kafka_sink_abandoned(kafka_sink_t *sink);

/*
 * Hand one event to librdkafka; while its queue is full, serve the delivery
 * reports (they hold room in it) and try again.  0, or the error.
 */
static rd_kafka_resp_err_t kafka_sink_produce(kafka_sink_t *sink, kafka_sink_item_t *item) {
  const event_t *ev = &item->event;
  for (;;) {
    rd_kafka_headers_t *headers = ev->n_headers ? rd_kafka_headers_new(ev->n_headers) : NULL;
    for (size_t i = 0; headers && i < ev->n_headers; i++)
      rd_kafka_header_add(headers, ev->headers[i].name, -1, ev->headers[i].value, (ssize_t)ev->headers[i].len);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        sink->rk, RD_KAFKA_V_TOPIC(ev->topic), RD_KAFKA_V_KEY(ev->key, ev->key_len),
        /* no copy: the batch keeps the value until it completes (and for a retry) */
        RD_KAFKA_V_VALUE(ev->value, ev->value_len), RD_KAFKA_V_MSGFLAGS(0), RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(item), RD_KAFKA_V_END);
    if (err && headers)
      rd_kafka_headers_destroy(headers);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return err;
    rd_kafka_poll(sink->rk, 50);
    if (kafka_sink_abandoned(sink))
      return RD_KAFKA_RESP_ERR__DESTROY;
  }
}

/* Whether the thread should give up on what it is doing. */
static int kafka_sink_abandoned(kafka_sink_t *sink) {
  pthread_mutex_lock(&sink->lock);
  int abandon = sink->abandon;
  pthread_mutex_unlock(&sink->lock);
  return abandon;
}

/* The batch after `batch` in its round, NULL after the round's last. */
static kafka_sink_batch_t *kafka_sink_round_next(const kafka_sink_round_t *round, const kafka_sink_batch_t *batch) {
  return batch == round->last ? NULL : batch->next;
}

/*
 * The idempotent path: produce every event of the round not yet delivered,
 * poll until each has its report, again for the failures.  0 done, -1
 * abandoned.
 */
static int kafka_sink_write_plain(kafka_sink_t *sink, kafka_sink_round_t *round) {
  for (;;) {
    size_t expected = 0;
    round->reported = round->failed = 0;
    for (kafka_sink_batch_t *batch = round->first; batch; batch = kafka_sink_round_next(round, batch)) {
      for (size_t i = 0; i < batch->len; i++) {
        if (batch->items[i].delivered)
          continue;
        rd_kafka_resp_err_t err = kafka_sink_produce(sink, &batch->items[i]);
        if (err) {
          BLOG_E(KAFKA, sink->name, "produce to %s: %s; trying again", batch->items[i].event.topic,
                 rd_kafka_err2str(err));
          round->failed++;
          atomic_fetch_add(&sink->delivery_errors, 1);
          continue;
        }
        expected++;
      }
    }
    while (round->reported < expected) {
      rd_kafka_poll(sink->rk, 100);
      if (kafka_sink_abandoned(sink))
        return -1;
    }
    if (round->failed == 0) {
      kafka_env_reachable(sink->env);
      return 0;
    }
    BLOG_E(KAFKA, sink->name, "%zu of %zu events not delivered (%s); producing them again", round->failed,
           round->events, rd_kafka_err2str(round->last_err));
    for (int i = 0; i < 10 && !kafka_sink_abandoned(sink); i++)
      rd_kafka_poll(sink->rk, 100); /* a pause, serving librdkafka's queue */
    if (kafka_sink_abandoned(sink))
      return -1;
  }
}

/* Report a transactional error; 1 when it is fatal (fenced), else 0. */
static int kafka_sink_txn_error(kafka_sink_t *sink, const char *what, rd_kafka_error_t *error) {
  int fatal = rd_kafka_error_is_fatal(error);
  if (fatal)
    BLOG_E(KAFKA, sink->name, "%s: %s: this producer is fenced or failed; it stops", what,
           rd_kafka_error_string(error));
  else
    BLOG_W(KAFKA, sink->name, "%s: %s", what, rd_kafka_error_string(error));
  rd_kafka_error_destroy(error);
  return fatal;
}

/* Produce every event of the round, then the batches' consumed offsets; 0, or the error. */
static rd_kafka_resp_err_t kafka_sink_produce_round(kafka_sink_t *sink, kafka_sink_round_t *round, int *fatal) {
  rd_kafka_resp_err_t perr = 0;
  sink->phase = "producing";
  for (kafka_sink_batch_t *batch = round->first; batch && !perr; batch = kafka_sink_round_next(round, batch)) {
    for (size_t i = 0; i < batch->len && !perr; i++) {
      batch->items[i].delivered = 0;
      perr = kafka_sink_produce(sink, &batch->items[i]);
    }
  }
  for (kafka_sink_batch_t *batch = round->first; batch && !perr; batch = kafka_sink_round_next(round, batch)) {
    if (!batch->offsets || !batch->cgmd)
      continue;
    sink->phase = "adding the command offsets to the transaction";
    rd_kafka_error_t *error = rd_kafka_send_offsets_to_transaction(sink->rk, batch->offsets, batch->cgmd, -1);
    if (error) {
      *fatal = kafka_sink_txn_error(sink, "commit command offsets", error);
      perr = RD_KAFKA_RESP_ERR__STATE;
    }
  }
  return perr;
}

/*
 * The transactional path: one transaction per round, begun again after an
 * abortable error.  0 done, 1 fenced (fatal), -1 abandoned.
 */
static int kafka_sink_write_txn(kafka_sink_t *sink, kafka_sink_round_t *round) {
  for (;;) {
    rd_kafka_error_t *error;
    int fatal = 0;
    if (kafka_sink_abandoned(sink))
      return -1;
    sink->phase = "beginning a transaction";
    if ((error = rd_kafka_begin_transaction(sink->rk)) != NULL) {
      if (kafka_sink_txn_error(sink, "begin transaction", error))
        return 1;
      rd_kafka_poll(sink->rk, 500);
      continue;
    }
    round->reported = round->failed = 0;
    rd_kafka_resp_err_t perr = kafka_sink_produce_round(sink, round, &fatal);
    if (fatal)
      return 1;
    if (!perr) {
      /* resumable: a timeout is retried, the commit goes on in the background; meanwhile the client's
         logs, errors (an outage) and statistics are served */
      sink->phase = "committing";
      while ((error = rd_kafka_commit_transaction(sink->rk, 1000)) != NULL &&
             rd_kafka_error_is_retriable(error) && !kafka_sink_abandoned(sink)) {
        rd_kafka_error_destroy(error);
        rd_kafka_poll(sink->rk, 0);
      }
      if (!error) {
        rd_kafka_poll(sink->rk, 0); /* the delivery reports, for the counts */
        kafka_env_reachable(sink->env);
        return 0;
      }
      if (rd_kafka_error_is_retriable(error)) { /* abandoned mid-commit */
        rd_kafka_error_destroy(error);
        return -1;
      }
      if (!rd_kafka_error_txn_requires_abort(error)) {
        if (kafka_sink_txn_error(sink, "commit", error))
          return 1;
        continue;
      }
      kafka_sink_txn_error(sink, "commit", error);
    } else if (perr != RD_KAFKA_RESP_ERR__STATE) {
      BLOG_W(KAFKA, sink->name, "produce: %s; aborting the transaction", rd_kafka_err2str(perr));
    }
    sink->phase = "aborting";
    while ((error = rd_kafka_abort_transaction(sink->rk, 1000)) != NULL && rd_kafka_error_is_retriable(error) &&
           !kafka_sink_abandoned(sink)) {
      rd_kafka_error_destroy(error);
      rd_kafka_poll(sink->rk, 0);
    }
    if (error) {
      if (kafka_sink_txn_error(sink, "abort", error))
        return 1;
    }
    BLOG_W(KAFKA, sink->name, "transaction of %zu events aborted; producing them again", round->events);
  }
}

/* Initialise the transactional producer, retrying until done; 0, 1 fenced/fatal, -1 abandoned. */
static int kafka_sink_init_txn(kafka_sink_t *sink) {
  int64_t t0 = bclock_mono_ms(), said = t0;
  sink->phase = "initialising transactions";
  for (;;) {
    rd_kafka_error_t *error = rd_kafka_init_transactions(sink->rk, 1000);
    if (!error) {
      BLOG_I(KAFKA, sink->name, "transactional producer ready in %lld ms",
             (long long)(bclock_mono_ms() - t0));
      kafka_env_reachable(sink->env);
      return 0;
    }
    if (!rd_kafka_error_is_retriable(error)) {
      if (kafka_sink_txn_error(sink, "initialise transactions", error))
        return 1;
    } else {
      if (bclock_mono_ms() - said >= 10000) { /* say why it takes long, now and then */
        BLOG_W(KAFKA, sink->name, "initialising transactions for %lld s: %s",
               (long long)(bclock_mono_ms() - t0) / 1000, rd_kafka_error_string(error));
        said = bclock_mono_ms();
      }
      rd_kafka_error_destroy(error);
    }
    rd_kafka_poll(sink->rk, 0); /* its logs and errors (an authentication failure) meanwhile */
    if (kafka_sink_abandoned(sink))
      return -1;
  }
}

static void kafka_sink_wake_loop(kafka_sink_t *sink) {
  if (write(sink->wake[1], "1", 1) < 0 && errno != EAGAIN)
    BLOG_W(KAFKA, sink->name, "wake: %s", strerror(errno));
}

static void *kafka_sink_main(void *arg) {
  kafka_sink_t *sink = arg;
  int fenced = 0;
  if (sink->transactional) {
    int rc = kafka_sink_init_txn(sink);
    fenced = rc == 1;
    if (rc < 0)
      return NULL;
  }
  pthread_mutex_lock(&sink->lock);
  sink->ready = !fenced;
  sink->fenced = fenced;
  pthread_mutex_unlock(&sink->lock);
  kafka_sink_wake_loop(sink);
  for (;;) {
    pthread_mutex_lock(&sink->lock);
    while (!sink->todo.head && !sink->stopping && !sink->abandon) {
      pthread_mutex_unlock(&sink->lock);
      rd_kafka_poll(sink->rk, 0); /* logs, statistics */
      pthread_mutex_lock(&sink->lock);
      if (sink->todo.head || sink->stopping || sink->abandon)
        break;
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += 200 * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&sink->cond, &sink->lock, &until);
    }
    /* the round: every batch waiting now, written at once */
    kafka_sink_round_t round = {sink->abandon ? NULL : sink->todo.head, sink->todo.tail, 0, 0, 0, 0};
    for (kafka_sink_batch_t *b = round.first; b; b = kafka_sink_round_next(&round, b))
      round.events += b->len;
    sink->writing_last = round.first ? round.last : NULL;
    pthread_mutex_unlock(&sink->lock);
    if (!round.first)
      break;
    sink->cur_round = &round;
    sink->phase = "writing a round of batches";
    int rc = fenced                ? 1
             : sink->transactional ? kafka_sink_write_txn(sink, &round)
                                   : kafka_sink_write_plain(sink, &round);
    sink->cur_round = NULL;
    sink->phase = "idle";
    if (rc < 0)
      break; /* abandoned: the round stays in todo, dropped by the loop */
    fenced = fenced || rc == 1;
    int64_t t1_us = bclock_mono_us();
    pthread_mutex_lock(&sink->lock);
    for (;;) {
      kafka_sink_batch_t *batch = kafka_sink_fifo_pop(&sink->todo);
      batch->status = rc == 1 ? KAFKA_SINK_FENCED : KAFKA_SINK_DONE;
      batch->t1_us = t1_us;
      kafka_sink_fifo_push(&sink->finished, batch);
      if (batch == round.last)
        break;
    }
    sink->writing_last = NULL;
    if (fenced) {
      sink->fenced = 1;
      sink->ready = 0;
    }
    pthread_mutex_unlock(&sink->lock);
    kafka_sink_wake_loop(sink);
  }
  return NULL;
}

/* ---- the loop thread's side ---- */

kafka_sink_t *kafka_sink_new(kafka_env_t *env, const char *name, const char *transactional_id,
                             kafka_sink_done_cb *done, void *ctx, char *errstr, size_t errstr_size) {
  kafka_sink_t *sink = calloc(1, sizeof(*sink));
  if (!sink) {
    snprintf(errstr, errstr_size, "kafka sink: out of memory");
    return NULL;
  }
  sink->phase = "idle";
  sink->wake[0] = sink->wake[1] = -1;
  pthread_mutex_init(&sink->lock, NULL);
  pthread_cond_init(&sink->cond, NULL);
  snprintf(sink->name, sizeof(sink->name), "%s", name);
  sink->env = env;
  sink->done = done;
  sink->ctx = ctx;
  sink->transactional = transactional_id != NULL;
  if (pipe(sink->wake) != 0) {
    snprintf(errstr, errstr_size, "kafka sink: pipe: %s", strerror(errno));
    goto fail;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(sink->wake[i], F_SETFL, O_NONBLOCK);
    fcntl(sink->wake[i], F_SETFD, FD_CLOEXEC);
  }
  kafka_client_spec_t spec = {.role = KAFKA_CLIENT_EVENTS,
                              .name = name,
                              .transactional_id = transactional_id,
                              .opaque = sink,
                              .dr_msg_cb = kafka_sink_dr,
                              .partitioner_cb = kafka_sink_partitioner};
  /*
   * Transactions need a delivery timeout within the transaction's.  A
   * committed transaction is every event delivered (a failed one fails the
   * commit), so only failures need a delivery report: librdkafka then frees
   * the others on its broker thread instead of queueing a report for each.
   */
  static const char *const txn_forced[] = {"message.timeout.ms",         "50000", "transaction.timeout.ms", "60000",
                                           "delivery.report.only.error", "true",  NULL};
  if (transactional_id)
    spec.forced = txn_forced;
  sink->rk = kafka_client_new(env, &spec, errstr, errstr_size);
  if (!sink->rk)
    goto fail;
  if (pthread_create(&sink->thread, NULL, kafka_sink_main, sink) != 0) {
    snprintf(errstr, errstr_size, "kafka sink: cannot start its thread");
    goto fail;
  }
  sink->thread_started = 1;
  BLOG_I(KAFKA, name, "producer to %s (%s)", kafka_env_bootstrap(env),
         transactional_id ? "transactional" : "idempotent, acks=all");
  return sink;
fail:
  kafka_sink_destroy(sink);
  return NULL;
}

void kafka_sink_submit(kafka_sink_t *sink, kafka_sink_batch_t *batch) {
  batch->t0_us = bclock_mono_us();
  pthread_mutex_lock(&sink->lock);
  sink->pending_events += batch->len;
  kafka_sink_fifo_push(&sink->todo, batch);
  pthread_cond_signal(&sink->cond);
  pthread_mutex_unlock(&sink->lock);
}

int kafka_sink_fd(const kafka_sink_t *sink) { return sink->wake[0]; }

void kafka_sink_poll(kafka_sink_t *sink) {
  char buf[64];
  while (read(sink->wake[0], buf, sizeof(buf)) > 0) {
  }
  for (;;) {
    pthread_mutex_lock(&sink->lock);
    kafka_sink_batch_t *batch = kafka_sink_fifo_pop(&sink->finished);
    if (batch)
      sink->pending_events -= batch->len;
    pthread_mutex_unlock(&sink->lock);
    if (!batch)
      break;
    sink->done(sink->ctx, batch, batch->status);
    kafka_sink_batch_free(batch);
  }
}

size_t kafka_sink_pending(const kafka_sink_t *sink) {
  pthread_mutex_lock((pthread_mutex_t *)&sink->lock);
  size_t n = sink->pending_events;
  pthread_mutex_unlock((pthread_mutex_t *)&sink->lock);
  return n;
}

size_t kafka_sink_delivery_errors(const kafka_sink_t *sink) {
  return atomic_load(&((kafka_sink_t *)sink)->delivery_errors);
}

size_t kafka_sink_queued(const kafka_sink_t *sink) {
  pthread_mutex_lock((pthread_mutex_t *)&sink->lock);
  size_t n = 0;
  const kafka_sink_batch_t *b = sink->writing_last ? sink->writing_last->next : sink->todo.head;
  for (; b; b = b->next)
    n += b->len;
  pthread_mutex_unlock((pthread_mutex_t *)&sink->lock);
  return n;
}

int64_t kafka_sink_oldest_ms(const kafka_sink_t *sink) {
  pthread_mutex_lock((pthread_mutex_t *)&sink->lock);
  int64_t t0 = sink->todo.head ? sink->todo.head->t0_us : 0;
  pthread_mutex_unlock((pthread_mutex_t *)&sink->lock);
  return t0 ? (bclock_mono_us() - t0) / 1000 : 0;
}

const char *kafka_sink_phase(const kafka_sink_t *sink) { return sink->stop_phase ? sink->stop_phase : sink->phase; }

int kafka_sink_fenced(const kafka_sink_t *sink) {
  pthread_mutex_lock((pthread_mutex_t *)&sink->lock);
  int fenced = sink->fenced;
  pthread_mutex_unlock((pthread_mutex_t *)&sink->lock);
  return fenced;
}

int kafka_sink_ready(const kafka_sink_t *sink) {
  pthread_mutex_lock((pthread_mutex_t *)&sink->lock);
  int ready = sink->ready;
  pthread_mutex_unlock((pthread_mutex_t *)&sink->lock);
  return ready;
}

/* Every batch not written completes as dropped (their gates released); how many events. */
static size_t kafka_sink_drop_todo(kafka_sink_t *sink) {
  size_t dropped = 0;
  kafka_sink_batch_t *batch;
  sink->writing_last = NULL; /* an abandoned round's last batch goes with the rest (kafka_sink_queued reads it) */
  while ((batch = kafka_sink_fifo_pop(&sink->todo)) != NULL) {
    dropped += batch->len;
    sink->pending_events -= batch->len;
    sink->done(sink->ctx, batch, KAFKA_SINK_DROPPED);
    kafka_sink_batch_free(batch);
  }
  return dropped;
}

size_t kafka_sink_stop(kafka_sink_t *sink, int timeout_ms) {
  if (!sink)
    return 0;
  if (!sink->thread_started) /* stopped already: a batch submitted since has no thread to write it */
    return kafka_sink_drop_todo(sink);
  int64_t deadline = bclock_mono_ms() + timeout_ms;
  pthread_mutex_lock(&sink->lock);
  sink->stopping = 1;
  pthread_cond_signal(&sink->cond);
  pthread_mutex_unlock(&sink->lock);
  for (;;) {
    kafka_sink_poll(sink);
    pthread_mutex_lock(&sink->lock);
    int idle = !sink->todo.head;
    pthread_mutex_unlock(&sink->lock);
    if (idle || bclock_mono_ms() >= deadline)
      break;
    usleep(10000);
  }
  sink->stop_phase = sink->phase; /* what it was still doing when given up on */
  pthread_mutex_lock(&sink->lock);
  sink->abandon = 1;
  pthread_cond_signal(&sink->cond);
  pthread_mutex_unlock(&sink->lock);
  pthread_join(sink->thread, NULL);
  sink->thread_started = 0;
  kafka_sink_poll(sink);
  return kafka_sink_drop_todo(sink);
}

void kafka_sink_destroy(kafka_sink_t *sink) {
  if (!sink)
    return;
  kafka_sink_stop(sink, 0);
  if (sink->rk) {
    rd_kafka_purge(sink->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(sink->rk, 0);
    kafka_client_destroy(sink->rk);
  }
  for (int i = 0; i < 2; i++)
    if (sink->wake[i] >= 0)
      close(sink->wake[i]);
  pthread_cond_destroy(&sink->cond);
  pthread_mutex_destroy(&sink->lock);
  free(sink);
}
