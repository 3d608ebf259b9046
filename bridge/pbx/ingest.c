/*
 * ingest: Notify -> snapshot diff -> events -> Kafka -> NotifyAck.  See ingest.h.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bclock.h"
#include "blog.h"
#include "codec_frame.h"
#include "codec_tables.h"
#include "event.h"
#include "jbuf.h"
#include "kafka_restore.h"
#include "metrics.h"
#include "qstats.h"
#include "qstats_kafka.h"
#include "snap.h"
#include "strmap.h"
#include "subs.h"

/* The events of one Notify, until Kafka has them all. */
typedef struct ingest_gate {
  int32_t subscribe_id, notify_id;
  uint64_t generation; /* link connection the Notify came on */
  size_t pending;      /* events not yet delivered (+1 while still producing) */
  int64_t t0_us;       /* arrival, for the notify-to-ack latency */
  /* a snapshot command's gate (no Notify to acknowledge): its tag, and the counts */
  char *snapshot_tag;
  size_t events, failed;
} ingest_gate_t;

/* One produced event's opaque, in one allocation with its ce_id (the event itself goes to the sink). */
typedef struct ingest_ev {
  ingest_gate_t *gate; /* NULL: not caused by a Notify */
  char ce_id[];
} ingest_ev_t;

struct ingest {
  const config_t *config;
  state_store_t *store;
  pbx_link_t *link;
  kafka_sink_t *sink;
  snap_t *snap;
  subs_t *subs;
  event_ctx_t event_ctx;
  uint64_t generation; /* current link connection, 0 when down */
  /* events of this loop turn: recorded in the store, then produced at its end */
  struct ingest_pending_event {
    event_t event;
    ingest_gate_t *gate;
  } *batch;
  size_t batch_len, batch_size;
  ingest_gate_t *cur_gate; /* the Notify being applied, NULL otherwise */
  void (*request_flush)(void *opaque);
  void *flush_opaque;
  ingest_other_cb *other; /* the command stage, when there is one */
  void *other_opaque;
  ingest_snapshot_cb *snapshot_done; /* ... and its snapshots' completion */
  void *snapshot_opaque;
  event_origin_t origin;
  size_t gates_open;
  strmap_t gates_by_sub; /* "<subscribe_id>" -> count of open gates (as intptr) */
  int64_t boot_id;
  uint64_t lifecycle_seq;
  int resync_active;
  int64_t resync_started_ms;
  jbuf_t record; /* scratch: a store record's head */
  qstats_t *qstats; /* queue statistics (NULL: queue_stats off) */
};

/* ---- batches: render now, record in the store, produce after its flush ---- */

static void ingest_batch_add(ingest_t *ingest, event_t *event) {
  if (ingest->batch_len == ingest->batch_size) {
    size_t size = ingest->batch_size ? ingest->batch_size * 2 : 64;
    struct ingest_pending_event *grown = realloc(ingest->batch, size * sizeof(*grown));
    if (!grown) {
      BLOG_E(EVENT, event->ce_id, "out of memory: event lost");
      event_clear(event);
      return;
    }
    ingest->batch = grown;
    ingest->batch_size = size;
  }
  if (ingest->batch_len == 0 && ingest->request_flush)
    ingest->request_flush(ingest->flush_opaque);
  ingest->batch[ingest->batch_len].event = *event;
  ingest->batch[ingest->batch_len].gate = ingest->cur_gate;
  if (ingest->cur_gate) {
    ingest->cur_gate->pending++;
    ingest->cur_gate->events++;
  }
  ingest->batch_len++;
}

static void ingest_gate_sub_adjust(ingest_t *ingest, int32_t subscribe_id, int delta) {
  char k[16];
  snprintf(k, sizeof(k), "%d", subscribe_id);
  intptr_t n = (intptr_t)strmap_get(&ingest->gates_by_sub, k) + delta;
  if (n > 0)
    strmap_put(&ingest->gates_by_sub, k, (void *)n);
  else
    strmap_del(&ingest->gates_by_sub, k);
}

/* A snapshot's events are all settled: tell the command stage (if it is still there), once. */
static void ingest_snapshot_gate_done(ingest_t *ingest, ingest_gate_t *gate) {
  if (ingest->snapshot_done)
    ingest->snapshot_done(ingest->snapshot_opaque, gate->snapshot_tag, gate->events, gate->failed);
  free(gate->snapshot_tag);
  free(gate);
}

/* The gate's events are all in Kafka: acknowledge the Notify, once. */
static void ingest_gate_done(ingest_t *ingest, ingest_gate_t *gate) {
  if (gate->snapshot_tag) {
    ingest_snapshot_gate_done(ingest, gate);
    return;
  }
  if (gate->notify_id && gate->generation == ingest->generation && pbx_link_is_up(ingest->link)) {
    Message msg = MESSAGE__INIT;
    NotifyAck ack = NOTIFY_ACK__INIT;
    msg.payload_case = MESSAGE__PAYLOAD_NOTIFYACK;
    msg.notifyack = &ack;
    ack.subscribe_id = gate->subscribe_id;
    ack.notify_id = gate->notify_id;
    char errstr[256];
    if (pbx_link_send(ingest->link, &msg, errstr, sizeof(errstr)) == 0) {
      metrics_add(METRICS_NOTIFY_ACKS, 1);
      metrics_notify_acked((double)(bclock_mono_us() - gate->t0_us) / 1000.0);
      BLOG_D(PBX, NULL, "NotifyAck subscribe_id=%d notify_id=%d", gate->subscribe_id, gate->notify_id);
    } else {
      BLOG_D(PBX, NULL, "NotifyAck subscribe_id=%d notify_id=%d not sent: %s", gate->subscribe_id,
             gate->notify_id, errstr);
    }
  }
  ingest_gate_sub_adjust(ingest, gate->subscribe_id, -1);
  ingest->gates_open--;
  metrics_set(METRICS_ACKS_PENDING, (int64_t)ingest->gates_open);
  free(gate);
}

static void ingest_gate_release(ingest_t *ingest, ingest_gate_t *gate) {
  if (gate && --gate->pending == 0)
    ingest_gate_done(ingest, gate);
}

/*
 * The end of a loop turn: flush the store (one round trip for every event of
 * the turn), then hand the events to Kafka.  An event that cannot be handed
 * over releases its gate at once (logged: it is lost, which only a fatal
 * producer state causes).
 */
void ingest_flush(ingest_t *ingest) {
  if (!ingest->batch_len)
    return;
  state_store_flush(ingest->store);
  size_t n = ingest->batch_len;
  ingest->batch_len = 0;
  for (size_t i = 0; i < n; i++) {
    event_t *event = &ingest->batch[i].event;
    ingest_gate_t *gate = ingest->batch[i].gate;
    size_t id_len = strlen(event->ce_id);
    ingest_ev_t *ev = malloc(sizeof(*ev) + id_len + 1);
    char errstr[256];
    if (ev) {
      ev->gate = gate;
      memcpy(ev->ce_id, event->ce_id, id_len + 1);
      BLOG_D(EVENT, event->topic, "produce %s key=%s", event->ce_id, event->key);
      if (kafka_sink_produce(ingest->sink, event, ev, errstr, sizeof(errstr)) == 0) {
        gate = NULL; /* released by the delivery report */
      } else {
        BLOG_E(KAFKA, NULL, "event %s not produced: %s", ev->ce_id, errstr);
        free(ev);
        if (gate)
          gate->failed++;
      }
    } else {
      BLOG_E(EVENT, event->ce_id, "out of memory: event lost");
      if (gate)
        gate->failed++;
    }
    ingest_gate_release(ingest, gate);
    event_clear(event);
  }
}

void ingest_delivered(void *ctx, void *opaque, int delivered) {
  ingest_t *ingest = ctx;
  ingest_ev_t *ev = opaque;
  if (delivered)
    state_store_pending_del(ingest->store, ev->ce_id);
  else if (ev->gate)
    ev->gate->failed++;
  ingest_gate_release(ingest, ev->gate);
  free(ev);
}

/* snap's callback: one change becomes an event (and a tombstone after a delete). */
static void ingest_on_change(void *opaque, const snap_change_t *change) {
  ingest_t *ingest = opaque;
  event_t event;
  char errstr[256];
  if (event_render(&ingest->event_ctx, change, &ingest->origin, &event, errstr, sizeof(errstr)) != 0) {
    BLOG_E(EVENT, change->entity_id, "%s", errstr);
    return;
  }
  if (state_store_enabled(ingest->store)) {
    jbuf_reset(&ingest->record);
    if (snap_record_write(ingest->snap, change, &ingest->record) && !ingest->record.failed)
      state_store_put(ingest->store, change->entity_id, ingest->record.data, ingest->record.len,
                      change->after_text, change->after_len);
    else if (!ingest->record.failed)
      state_store_del(ingest->store, change->entity_id);
  }
  BLOG_D(SNAPSHOT, change->entity_id, "op=%c seq=%llu", change->op, (unsigned long long)change->seq);
  if (ingest->qstats)
    qstats_change(ingest->qstats, change, ingest->origin.ts_ms);
  state_store_pending_add(ingest->store, &event);
  ingest_batch_add(ingest, &event);
  if (change->op == 'd' && snap_kind_compacted(change->kind)) {
    if (event_render_tombstone(&ingest->event_ctx, change, &event, errstr, sizeof(errstr)) == 0) {
      state_store_pending_add(ingest->store, &event);
      ingest_batch_add(ingest, &event);
    }
  }
}

/* ---- queue statistics: records produced like events, in the current Notify's gate ---- */

static void ingest_on_queue_stats(void *opaque, const qstats_record_t *record) {
  ingest_t *ingest = opaque;
  event_t event;
  char errstr[256];
  if (event_render_queue_stats(&ingest->event_ctx, record->queue_guid, record->seq, record->ts_ms, record->text,
                               record->len, &event, errstr, sizeof(errstr)) != 0) {
    BLOG_E(EVENT, record->queue_guid, "%s", errstr);
    return;
  }
  state_store_pending_add(ingest->store, &event);
  ingest_batch_add(ingest, &event);
}

static void ingest_stats_flush(ingest_t *ingest) {
  if (ingest->qstats)
    qstats_flush(ingest->qstats, bclock_wall_ms());
}

/* snap_walk's callback: the restored state, told to the statistics. */
static void ingest_stats_walk(void *opaque, const snap_change_t *change) {
  ingest_t *ingest = opaque;
  qstats_change(ingest->qstats, change, bclock_wall_ms());
}

/* The statistics' last records from <prefix>queue-stats, then the restored state walked into them. */
static int ingest_stats_restore(ingest_t *ingest, char *errstr, size_t errstr_size) {
  size_t queues = 0;
  if (!ingest->qstats)
    return 0;
  if (strcmp(ingest->config->kafka_bootstrap, "embedded") != 0) {
    if (qstats_kafka_restore(ingest->config, ingest->qstats, 60000, &queues, errstr, errstr_size) != 0)
      return -1;
    BLOG_I(KAFKA, NULL, "queue statistics of %zu queue(s) restored", queues);
  }
  snap_walk(ingest->snap, ingest_stats_walk, ingest);
  size_t pruned = qstats_prune(ingest->qstats);
  if (pruned)
    BLOG_I(KAFKA, NULL, "%zu queued call(s) ended while the bridge was away: not counted", pruned);
  return 0;
}

void ingest_lifecycle(ingest_t *ingest, const char *type, json_t *detail) {
  event_t event;
  char errstr[256];
  if (event_render_bridge(&ingest->event_ctx, type, ingest->boot_id, ++ingest->lifecycle_seq,
                          bclock_wall_ms(), detail, &event, errstr, sizeof(errstr)) == 0) {
    ingest_gate_t *gate = ingest->cur_gate;
    ingest->cur_gate = NULL;
    ingest_batch_add(ingest, &event);
    ingest->cur_gate = gate;
  } else {
    BLOG_E(EVENT, "bridge", "%s", errstr);
  }
  json_decref(detail);
}

/* ---- subs handlers ---- */

static int ingest_subs_send(void *opaque, const Message *msg) {
  ingest_t *ingest = opaque;
  char errstr[256];
  if (pbx_link_send(ingest->link, msg, errstr, sizeof(errstr)) != 0) {
    BLOG_D(SUBS, NULL, "not sent: %s", errstr);
    return -1;
  }
  return 0;
}

static int32_t ingest_subs_requestid(void *opaque) {
  ingest_t *ingest = opaque;
  return pbx_link_requestid(ingest->link);
}

static void ingest_line_fresh(void *opaque, const char *line_guid) {
  ingest_t *ingest = opaque;
  snap_line_resync_begin(ingest->snap, line_guid);
}

static int ingest_line_settled(void *opaque, const char *line_guid, int32_t subscribe_id) {
  ingest_t *ingest = opaque;
  char k[16];
  snprintf(k, sizeof(k), "%d", subscribe_id);
  if (strmap_get(&ingest->gates_by_sub, k))
    return 1; /* a Notify of it still waits for Kafka; its successor may list more calls */
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms()};
  size_t n = snap_line_resync_end(ingest->snap, line_guid);
  if (n) {
    metrics_add(METRICS_RESYNC_DELETES, (int64_t)n);
    BLOG_I(SNAPSHOT, line_guid, "%zu call(s) ended while not connected: deleted", n);
  }
  return 0;
}

static void ingest_resync_done(void *opaque, size_t active, size_t failed) {
  ingest_t *ingest = opaque;
  if (!ingest->resync_active)
    return;
  ingest->resync_active = 0;
  int64_t took = bclock_mono_ms() - ingest->resync_started_ms;
  BLOG_I(SUBS, NULL, "resync finished in %lld ms: %zu subscriptions active, %zu failed", (long long)took,
         active, failed);
  ingest_lifecycle(ingest, "resync_finished",
                   json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "duration_ms", (json_int_t)took, "active",
                             (json_int_t)active, "failed", (json_int_t)failed, "users",
                             (json_int_t)snap_count(ingest->snap, SNAP_USER), "queues",
                             (json_int_t)snap_count(ingest->snap, SNAP_QUEUE), "calls",
                             (json_int_t)snap_count(ingest->snap, SNAP_CALL)));
}

static const subs_handlers_t ingest_subs_handlers = {
    .send = ingest_subs_send,
    .requestid = ingest_subs_requestid,
    .line_fresh = ingest_line_fresh,
    .line_settled = ingest_line_settled,
    .resync_done = ingest_resync_done,
};

/* ---- link handlers ---- */

static void ingest_connected(void *opaque, const char *url, uint64_t generation) {
  ingest_t *ingest = opaque;
  ingest->generation = generation;
  ingest->resync_active = 1;
  ingest->resync_started_ms = bclock_mono_ms();
  ingest_lifecycle(ingest, "connected", json_pack("{s:s,s:I}", "url", url, "connection", (json_int_t)generation));
  ingest_lifecycle(ingest, "resync_started", NULL);
  subs_connected(ingest->subs, bclock_mono_ms());
}

static void ingest_disconnected(void *opaque, const char *reason, int was_up) {
  ingest_t *ingest = opaque;
  ingest->generation = 0;
  subs_disconnected(ingest->subs);
  if (was_up)
    ingest_lifecycle(ingest, "disconnected", json_pack("{s:s}", "reason", reason));
}

static void ingest_notify(ingest_t *ingest, const Notify *notify) {
  subs_target_t target;
  int64_t now = bclock_mono_ms();
  metrics_add(METRICS_NOTIFIES, 1);
  ingest_gate_t *gate = calloc(1, sizeof(*gate));
  if (!gate) {
    BLOG_E(PBX, NULL, "out of memory: Notify subscribe_id=%d dropped, not acknowledged", notify->subscribe_id);
    return;
  }
  gate->subscribe_id = notify->subscribe_id;
  gate->notify_id = notify->notify_id;
  gate->generation = ingest->generation;
  gate->pending = 1; /* held while producing */
  gate->t0_us = bclock_mono_us();
  ingest->gates_open++;
  ingest_gate_sub_adjust(ingest, notify->subscribe_id, +1);
  metrics_set(METRICS_ACKS_PENDING, (int64_t)ingest->gates_open);

  if (subs_notify(ingest->subs, notify->subscribe_id, now, &target) != 0) {
    BLOG_D(PBX, NULL, "Notify for unknown subscribe_id=%d ignored", notify->subscribe_id);
    ingest_gate_release(ingest, gate);
    return;
  }
  ingest->origin = (event_origin_t){notify->subscribe_id, notify->notify_id, target.snapshot, bclock_wall_ms()};
  ingest->cur_gate = gate;
  switch (notify->payload_case) {
  case NOTIFY__PAYLOAD_LINES:
    if (target.kind == SUBS_LINES) {
      snap_lines_apply(ingest->snap, notify->lines, target.first);
      subs_lines(ingest->subs, notify->lines, target.first, now);
    }
    break;
  case NOTIFY__PAYLOAD_USER:
    if (target.kind == SUBS_USER)
      snap_user_apply(ingest->snap, target.guid, notify->user, target.snapshot);
    break;
  case NOTIFY__PAYLOAD_QUEUE:
    if (target.kind == SUBS_QUEUE)
      snap_queue_apply(ingest->snap, target.guid, notify->queue, target.snapshot);
    break;
  case NOTIFY__PAYLOAD_PRESENCE:
    for (size_t i = 0; i < notify->presence->n_entry; i++) {
      const NotifyPresentity *entry = notify->presence->entry[i];
      const char *guid = subs_presence_user(ingest->subs, entry->lref, entry->presentity, NULL);
      if (guid)
        snap_presence_apply(ingest->snap, guid, entry, target.snapshot);
      else
        BLOG_D(SNAPSHOT, NULL, "presence entry lref=%d %s: no such user", entry->lref,
               entry->presentity ? entry->presentity : "");
    }
    break;
  case NOTIFY__PAYLOAD_CALLCONTROL: {
    snap_line_t line = {target.kind == SUBS_QUEUE       ? SNAP_LINE_QUEUE
                        : target.kind == SUBS_PARKSERVER ? SNAP_LINE_PARK
                                                         : SNAP_LINE_USER,
                        target.guid, target.extn};
    if (target.kind == SUBS_USER || target.kind == SUBS_QUEUE || target.kind == SUBS_PARKSERVER)
      snap_calls_apply(ingest->snap, &line, notify->callcontrol);
    break;
  }
  default:
    break; /* park server availability, refresh wrapper: nothing to report */
  }
  ingest_stats_flush(ingest);
  ingest->cur_gate = NULL;
  ingest_gate_release(ingest, gate); /* the hold: acks now if nothing changed */
  if (ingest->batch_len >= 10000)
    ingest_flush(ingest);
}

static void ingest_message(void *opaque, const Message *msg) {
  ingest_t *ingest = opaque;
  int64_t now = bclock_mono_ms();
  switch (msg->payload_case) {
  case MESSAGE__PAYLOAD_NOTIFY:
    ingest_notify(ingest, msg->notify);
    break;
  case MESSAGE__PAYLOAD_RESPONSE:
    /* a response subs does not know belongs to another stage (issue #5's commands) */
    if (subs_response(ingest->subs, msg->response, now) == 0)
      break;
    if (ingest->other)
      ingest->other(ingest->other_opaque, msg);
    else if (msg->response->result != 0)
      BLOG_W(PBX, NULL, "requestid=%d: %s (%d)", msg->response->requestid,
             codec_result_name(msg->response->result), msg->response->result);
    break;
  case MESSAGE__PAYLOAD_GENERALDATA:
    if (ingest->other)
      ingest->other(ingest->other_opaque, msg);
    break;
  case MESSAGE__PAYLOAD_SUBSCRIBETERMINATED:
    subs_terminated(ingest->subs, msg->subscribeterminated, now);
    break;
  default:
    BLOG_D(PBX, NULL, "%s message ignored", codec_message_kind(msg));
    break;
  }
}

const pbx_link_handlers_t ingest_link_handlers = {
    .connected = ingest_connected,
    .message = ingest_message,
    .disconnected = ingest_disconnected,
};

/* ---- life ---- */

ingest_t *ingest_new(const config_t *config, state_store_t *store, char *errstr, size_t errstr_size) {
  ingest_t *ingest = calloc(1, sizeof(*ingest));
  if (!ingest)
    goto oom;
  ingest->config = config;
  ingest->store = store;
  ingest->event_ctx = (event_ctx_t){config->pbx_id, config->topic_prefix, MTCTI3_VERSION};
  ingest->boot_id = bclock_wall_ms();
  ingest->snap = snap_new(ingest_on_change, ingest);
  ingest->subs = subs_new(config, &ingest_subs_handlers, ingest);
  if (!ingest->snap || !ingest->subs)
    goto oom;
  if (config->queue_stats) {
    qstats_config_t qc = {config->pbx_id, config->queue_stats_service_level, config->queue_stats_window,
                          config->queue_stats_timezone};
    if (!(ingest->qstats = qstats_new(&qc, ingest_on_queue_stats, ingest, errstr, errstr_size))) {
      ingest_destroy(ingest);
      return NULL;
    }
  }
  return ingest;
oom:
  snprintf(errstr, errstr_size, "ingest: out of memory");
  ingest_destroy(ingest);
  return NULL;
}

void ingest_attach(ingest_t *ingest, pbx_link_t *link, kafka_sink_t *sink,
                   void (*request_flush)(void *opaque), void *opaque) {
  ingest->link = link;
  ingest->sink = sink;
  ingest->request_flush = request_flush;
  ingest->flush_opaque = opaque;
}

void ingest_destroy(ingest_t *ingest) {
  if (!ingest)
    return;
  for (size_t i = 0; i < ingest->batch_len; i++)
    event_clear(&ingest->batch[i].event);
  free(ingest->batch);
  jbuf_free(&ingest->record);
  subs_destroy(ingest->subs);
  qstats_destroy(ingest->qstats);
  snap_destroy(ingest->snap);
  strmap_clear(&ingest->gates_by_sub, NULL);
  free(ingest);
}

static int ingest_restore_state(ingest_t *ingest, char *errstr, size_t errstr_size);

int ingest_restore(ingest_t *ingest, char *errstr, size_t errstr_size) {
  if (ingest_restore_state(ingest, errstr, errstr_size) != 0)
    return -1;
  return ingest_stats_restore(ingest, errstr, errstr_size);
}

static int ingest_restore_state(ingest_t *ingest, char *errstr, size_t errstr_size) {
  json_t *pending = NULL;
  size_t entities = 0;
  if (!state_store_enabled(ingest->store)) {
    if (!ingest->config->state_from_topics || strcmp(ingest->config->kafka_bootstrap, "embedded") == 0) {
      ingest_lifecycle(ingest, "started", json_pack("{s:I,s:I,s:s}", "restored_entities", (json_int_t)0,
                                                    "replayed_events", (json_int_t)0, "state_from", "none"));
      return 0;
    }
    if (kafka_restore_run(ingest->config, ingest->snap, 60000, &entities, errstr, errstr_size) != 0)
      return -1;
    BLOG_I(KAFKA, NULL, "restored %zu entities from the topics", entities);
    ingest_lifecycle(ingest, "started", json_pack("{s:I,s:I,s:s}", "restored_entities", (json_int_t)entities,
                                                  "replayed_events", (json_int_t)0, "state_from", "topics"));
    return 0;
  }
  if (state_store_load(ingest->store, ingest->snap, &pending, &entities, errstr, errstr_size) != 0) {
    json_decref(pending);
    return -1;
  }
  size_t i, replayed = 0;
  json_t *record;
  json_array_foreach(pending, i, record) {
    event_t event;
    char err[256];
    if (event_from_record_text(json_string_value(record), json_string_length(record), &event, NULL, err,
                               sizeof(err)) == 0) {
      ingest_batch_add(ingest, &event);
      replayed++;
    } else {
      BLOG_W(REDIS, NULL, "%s", err);
    }
  }
  json_decref(pending);
  BLOG_I(REDIS, NULL, "restored %zu entities; producing again %zu events not confirmed before", entities,
         replayed);
  ingest_lifecycle(ingest, "started",
                   json_pack("{s:I,s:I,s:s}", "restored_entities", (json_int_t)entities, "replayed_events",
                             (json_int_t)replayed, "state_from", "redis"));
  return 0;
}

void ingest_tick(ingest_t *ingest, int64_t now_ms) {
  (void)now_ms;
  subs_tick(ingest->subs, bclock_mono_ms());
  size_t counts[4];
  subs_counts(ingest->subs, counts);
  metrics_subscriptions(subs_state_names(), counts);
  size_t entities[4];
  for (int k = 0; k < 4; k++)
    entities[k] = snap_count(ingest->snap, (snap_kind_t)k);
  metrics_entities(entities);
  ingest_stats_flush(ingest); /* the window's expiry, midnight, resync deletes */
  ingest_flush(ingest);
  state_store_flush(ingest->store);
}

int ingest_kafka_poll(ingest_t *ingest, char *errstr, size_t errstr_size) {
  /* the pending copies the delivery reports remove leave with the next flush or tick */
  return kafka_sink_poll(ingest->sink, errstr, errstr_size);
}

int ingest_ready(const ingest_t *ingest, char *why, size_t why_size) {
  if (!pbx_link_is_up(ingest->link)) {
    snprintf(why, why_size, "not connected to the PBX");
    return 0;
  }
  if (!subs_resynced(ingest->subs)) {
    snprintf(why, why_size, "resync in progress");
    return 0;
  }
  if (kafka_sink_blocked(ingest->sink)) {
    snprintf(why, why_size, "Kafka is not keeping up (%zu events wait)", kafka_sink_backlog(ingest->sink));
    return 0;
  }
  snprintf(why, why_size, "ok");
  return 1;
}

size_t ingest_acks_pending(const ingest_t *ingest) { return ingest->gates_open; }

void ingest_set_other(ingest_t *ingest, ingest_other_cb *cb, void *opaque) {
  ingest->other = cb;
  ingest->other_opaque = opaque;
}

const snap_t *ingest_snap(const ingest_t *ingest) { return ingest->snap; }
const subs_t *ingest_subs(const ingest_t *ingest) { return ingest->subs; }

size_t ingest_snapshot(ingest_t *ingest, unsigned kind_mask, const char *line_guid, const char *tag) {
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms()};
  ingest_gate_t *gate = ingest->cur_gate, *snap_gate = NULL;
  if (tag && (snap_gate = calloc(1, sizeof(*snap_gate))) != NULL &&
      (snap_gate->snapshot_tag = strdup(tag)) == NULL) {
    free(snap_gate);
    snap_gate = NULL;
  }
  if (tag && !snap_gate)
    BLOG_E(EVENT, tag, "out of memory: snapshot not tracked");
  if (snap_gate)
    snap_gate->pending = 1; /* held while re-emitting */
  ingest->cur_gate = snap_gate;
  size_t n = snap_reemit(ingest->snap, kind_mask, line_guid);
  ingest->cur_gate = gate;
  ingest_gate_release(ingest, snap_gate); /* no event: done at once */
  return n;
}

void ingest_set_snapshot_done(ingest_t *ingest, ingest_snapshot_cb *cb, void *opaque) {
  ingest->snapshot_done = cb;
  ingest->snapshot_opaque = opaque;
}
