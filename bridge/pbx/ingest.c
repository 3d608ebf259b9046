/*
 * ingest: Notify -> snapshot diff -> events -> Kafka -> NotifyAck.  See ingest.h.
 */
#include "ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bclock.h"
#include "blog.h"
#include "codec_frame.h"
#include "codec_tables.h"
#include "event.h"
#include "metrics.h"
#include "pair.h"
#include "qstats.h"
#include "restore.h"
#include "snap.h"
#include "state_reader.h"
#include "strmap.h"
#include "subs.h"

/* A batch not committed after this long means Kafka is not keeping up (/readyz). */
#define INGEST_KAFKA_LATE_MS 5000
/* Lifecycle events a standby keeps for its takeover (the oldest go first). */
#define INGEST_LIFE_MAX 64

/* The events of one Notify, until Kafka has them all. */
typedef struct ingest_gate {
  int32_t subscribe_id, notify_id;
  int sys;             /* the system (connection) the Notify came on: 0, or a pair's secondary 1 */
  uint64_t generation; /* link connection the Notify came on */
  size_t pending;      /* events not yet delivered (+1 while still producing) */
  int64_t t0_us;       /* arrival, for the notify-to-ack latency */
  /* a snapshot command's gate (no Notify to acknowledge): its tag, and the counts */
  char *snapshot_tag;
  size_t events, failed;
} ingest_gate_t;

/*
 * One system the ingest watches, with its own connection and
 * subscriptions: the PBX, or one of a resilient pair (then its Notifies go
 * into its view, which pair.c merges into the published state).
 */
typedef struct ingest_sys {
  ingest_t *ingest;
  int index;           /* 0: the PBX or a pair's primary; 1: a pair's secondary */
  pbx_link_t *link;
  subs_t *subs;
  uint64_t generation; /* current link connection, 0 when down */
  strmap_t gates_by_sub; /* "<subscribe_id>" -> count of open gates (as intptr) */
  int resync_active;
  int64_t resync_started_ms;
} ingest_sys_t;

struct ingest {
  unsigned long link_failures; /* connections lost or refused since the start (every system) */
  const config_t *config;
  metrics_pbx_t *metrics; /* the PBX's series (owned by the metrics) */
  pbx_link_t *link; /* the active system's (a pair's follows its switches) */
  kafka_sink_t *sink;
  snap_t *snap;     /* the published state (a standby's warm view) */
  subs_t *subs;     /* the active system's */
  ingest_sys_t sys[2];
  size_t n_sys;     /* 2 for a resilient pair */
  pair_t *pair;     /* a resilient pair's merge; NULL for one system */
  pbx_link_t *secondary_link; /* a pair's (owned; the primary's is the pbx's) */
  int cmd_sys;      /* the system the command being sent goes to (-1: the active one) */
  topics_t topics;
  event_ctx_t event_ctx;
  uint64_t generation; /* current link connection, 0 when down */
  kafka_sink_batch_t *batch; /* events of this flush: handed to the sink at its end */
  ingest_gate_t *cur_gate; /* the Notify being applied, NULL otherwise */
  void (*request_flush)(void *opaque);
  void *flush_opaque;
  cmd_exec_t *commands; /* the PBX's command executor, when there is one */
  event_origin_t origin;
  size_t gates_open;
  int64_t boot_id;
  uint64_t lifecycle_seq;
  /* ownership: publishing only as the owner; as a standby, a warm view and the committed records */
  int publishing;
  char instance[160]; /* <host>/<pid>, in the owner events */
  int ever_published;        /* "started" said once per process */
  restore_t *committed;      /* the owner's events read back: each entity's last record */
  strmap_t committed_stats;  /* queue GUID -> its last queue-stats record (text, owned) */
  void (*fenced)(void *opaque);
  void *fenced_opaque;
  qstats_t *qstats; /* queue statistics (NULL: queue_stats off, or not the owner) */
  /* lifecycle events while not publishing, said at the takeover in order */
  struct ingest_pending_life {
    char type[32];
    json_t *detail;
  } life[INGEST_LIFE_MAX];
  size_t n_life;
};

/* ---- batches: render now, record in the store, produce after its flush ---- */

/* Queue one rendered event (taken) in this flush's batch, counted by the current gate. */
static void ingest_batch_add(ingest_t *ingest, event_t *event) {
  if (!ingest->batch && !(ingest->batch = kafka_sink_batch_new())) {
    BLOG_E(EVENT, event->ce_id, "out of memory: event lost");
    event_clear(event);
    return;
  }
  if (kafka_sink_batch_len(ingest->batch) == 0 && ingest->request_flush)
    ingest->request_flush(ingest->flush_opaque);
  ingest_gate_t *gate = ingest->cur_gate;
  BLOG_D(EVENT, event->topic, "queue %s key=%s", event->ce_id ? event->ce_id : "(tombstone)", event->key);
  if (kafka_sink_batch_add(ingest->batch, event, gate) != 0) {
    BLOG_E(EVENT, NULL, "out of memory: event lost");
    if (gate)
      gate->failed++;
    return;
  }
  if (gate) {
    gate->pending++;
    gate->events++;
  }
}

static void ingest_gate_sub_adjust(ingest_sys_t *sys, int32_t subscribe_id, int delta) {
  char k[16];
  snprintf(k, sizeof(k), "%d", subscribe_id);
  intptr_t n = (intptr_t)strmap_get(&sys->gates_by_sub, k) + delta;
  if (n > 0)
    strmap_put(&sys->gates_by_sub, k, (void *)n);
  else
    strmap_del(&sys->gates_by_sub, k);
}

/* The state a system's Notifies go into: its view in a pair, else the published one. */
static snap_t *ingest_sys_snap(ingest_sys_t *sys) {
  return sys->ingest->pair ? pair_view(sys->ingest->pair, sys->index) : sys->ingest->snap;
}

/* "primary"/"secondary" in a pair's lifecycle details (nothing for one system). */
static json_t *ingest_sys_detail(ingest_sys_t *sys, json_t *detail) {
  if (sys->ingest->pair && detail)
    json_object_set_new(detail, "system", json_string(pair_system_name(sys->index)));
  return detail;
}

/* A snapshot's events are all settled: tell the command executor (if it is still there), once. */
static void ingest_snapshot_gate_done(ingest_t *ingest, ingest_gate_t *gate) {
  if (ingest->commands)
    cmd_exec_snapshot_done(ingest->commands, gate->snapshot_tag, gate->events, gate->failed);
  free(gate->snapshot_tag);
  free(gate);
}

/* The gate's events are all in Kafka: acknowledge the Notify, once, on the connection it came on. */
static void ingest_gate_done(ingest_t *ingest, ingest_gate_t *gate) {
  if (gate->snapshot_tag) {
    ingest_snapshot_gate_done(ingest, gate);
    return;
  }
  ingest_sys_t *sys = &ingest->sys[gate->sys];
  if (gate->notify_id && gate->generation == sys->generation && pbx_link_is_up(sys->link)) {
    Message msg = MESSAGE__INIT;
    NotifyAck ack = NOTIFY_ACK__INIT;
    msg.payload_case = MESSAGE__PAYLOAD_NOTIFYACK;
    msg.notifyack = &ack;
    ack.subscribe_id = gate->subscribe_id;
    ack.notify_id = gate->notify_id;
    char errstr[256];
    if (pbx_link_send(sys->link, &msg, errstr, sizeof(errstr)) == 0) {
      subs_notify_acked(sys->subs, gate->subscribe_id, gate->notify_id, bclock_mono_ms());
      metrics_pbx_add(ingest->metrics, METRICS_NOTIFY_ACKS, 1);
      metrics_pbx_notify_acked(ingest->metrics, (double)(bclock_mono_us() - gate->t0_us) / 1000.0);
      BLOG_D(PBX, NULL, "NotifyAck subscribe_id=%d notify_id=%d", gate->subscribe_id, gate->notify_id);
    } else {
      BLOG_D(PBX, NULL, "NotifyAck subscribe_id=%d notify_id=%d not sent: %s", gate->subscribe_id,
             gate->notify_id, errstr);
    }
  }
  ingest_gate_sub_adjust(sys, gate->subscribe_id, -1);
  ingest->gates_open--;
  metrics_pbx_set(ingest->metrics, METRICS_ACKS_PENDING, (int64_t)ingest->gates_open);
  free(gate);
}

static void ingest_gate_release(ingest_t *ingest, ingest_gate_t *gate) {
  if (gate && --gate->pending == 0)
    ingest_gate_done(ingest, gate);
}

/*
 * The end of a flush: hand this flush's events to the sink as one batch
 * (one transaction); the next events start a new batch.
 */
void ingest_flush(ingest_t *ingest) {
  if (!ingest->batch || kafka_sink_batch_len(ingest->batch) == 0 || !ingest->sink)
    return;
  kafka_sink_submit(ingest->sink, ingest->batch);
  ingest->batch = NULL;
}

void ingest_batch_done(void *ctx, kafka_sink_batch_t *batch, kafka_sink_status_t status) {
  ingest_t *ingest = ctx;
  double seconds = kafka_sink_batch_seconds(batch);
  if (status == KAFKA_SINK_FENCED && ingest->publishing) {
    BLOG_E(KAFKA, ingest->config->pbx_id, "fenced: another instance publishes this PBX's events now");
    if (ingest->fenced)
      ingest->fenced(ingest->fenced_opaque); /* the PBX hands over: this batch's gates are released below */
  }
  for (size_t i = 0; i < kafka_sink_batch_len(batch); i++) {
    ingest_gate_t *gate = kafka_sink_batch_opaque(batch, i);
    if (status == KAFKA_SINK_DONE)
      metrics_pbx_event_delivered(ingest->metrics, kafka_sink_batch_topic(batch, i), seconds * 1000.0);
    else if (gate)
      gate->failed++;
    ingest_gate_release(ingest, gate);
  }
}

/* The warm view's callback: a standby publishes nothing (its Notifies are acknowledged at once). */
static void ingest_on_view_change(void *opaque, const snap_change_t *change) {
  (void)opaque;
  BLOG_D(SNAPSHOT, change->entity_id, "view op=%c", change->op);
}

/* snap's call reports (a call made with a referencecallid: reported, or lost at once) go to the commands. */
static void ingest_on_call_report(void *opaque, const snap_call_report_t *r) {
  ingest_t *ingest = opaque;
  cmd_call_report_t report = {r->line_guid, r->referencecallid, r->callid, r->leg,
                              r->lost,      r->reason,          r->thisenddropped, r->description};
  if (ingest->commands)
    cmd_exec_on_call_report(ingest->commands, &report);
}

/* snap's callback: one change becomes its events (and tombstones on the compacted topics). */
static void ingest_on_change(void *opaque, const snap_change_t *change) {
  ingest_t *ingest = opaque;
  event_t event;
  char errstr[256];
  topic_id_t topic = event_kind_topic(change->kind);
  BLOG_D(SNAPSHOT, change->entity_id, "op=%c seq=%llu", change->op, (unsigned long long)change->seq);
  if (ingest->qstats)
    qstats_change(ingest->qstats, change, ingest->origin.ts_ms);
  if (event_render(&ingest->event_ctx, topic, change, &ingest->origin, &event, errstr, sizeof(errstr)) != 0) {
    BLOG_E(EVENT, change->entity_id, "%s", errstr);
    return;
  }
  ingest_batch_add(ingest, &event);
  if (change->op == 'd' && topics_row(topic)->compacted &&
      event_render_tombstone(&ingest->event_ctx, topic, change, &event, errstr, sizeof(errstr)) == 0)
    ingest_batch_add(ingest, &event);
  if (change->kind == SNAP_CALL) { /* the live copy: the leg's last event, a tombstone when it ends */
    int rc = change->op == 'd'
                 ? event_render_tombstone(&ingest->event_ctx, TOPIC_LIVE_CALLS, change, &event, errstr, sizeof(errstr))
                 : event_render(&ingest->event_ctx, TOPIC_LIVE_CALLS, change, &ingest->origin, &event, errstr,
                                sizeof(errstr));
    if (rc == 0)
      ingest_batch_add(ingest, &event);
    else
      BLOG_E(EVENT, change->entity_id, "%s", errstr);
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

void ingest_lifecycle(ingest_t *ingest, const char *type, json_t *detail) {
  event_t event;
  char errstr[256];
  if (!ingest->publishing) { /* kept for the takeover */
    if (ingest->n_life == INGEST_LIFE_MAX) {
      json_decref(ingest->life[0].detail);
      memmove(&ingest->life[0], &ingest->life[1], (INGEST_LIFE_MAX - 1) * sizeof(ingest->life[0]));
      ingest->n_life--;
    }
    snprintf(ingest->life[ingest->n_life].type, sizeof(ingest->life[0].type), "%s", type);
    ingest->life[ingest->n_life++].detail = detail;
    return;
  }
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

/* ---- subs handlers (opaque: the system) ---- */

static int ingest_subs_send(void *opaque, const Message *msg) {
  ingest_sys_t *sys = opaque;
  char errstr[256];
  if (pbx_link_send(sys->link, msg, errstr, sizeof(errstr)) != 0) {
    BLOG_D(SUBS, NULL, "not sent: %s", errstr);
    return -1;
  }
  return 0;
}

static int32_t ingest_subs_requestid(void *opaque) {
  ingest_sys_t *sys = opaque;
  return pbx_link_requestid(sys->link);
}

static void ingest_line_fresh(void *opaque, const char *line_guid) {
  ingest_sys_t *sys = opaque;
  snap_line_resync_begin(ingest_sys_snap(sys), line_guid);
}

static int ingest_line_settled(void *opaque, const char *line_guid, int32_t subscribe_id) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  char k[16];
  snprintf(k, sizeof(k), "%d", subscribe_id);
  if (strmap_get(&sys->gates_by_sub, k))
    return 1; /* a Notify of it still waits for Kafka; its successor may list more calls */
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
  size_t n = snap_line_resync_end(ingest_sys_snap(sys), line_guid);
  if (n) {
    metrics_pbx_add(ingest->metrics, METRICS_RESYNC_DELETES, (int64_t)n);
    BLOG_I(SNAPSHOT, line_guid, "%zu call(s) ended while not connected: deleted", n);
  }
  return 0;
}

/* A pair's system changed (link up or down, resynced): the pair decides which one the published state follows. */
static void ingest_pair_system(ingest_sys_t *sys) {
  ingest_t *ingest = sys->ingest;
  if (!ingest->pair)
    return;
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
  pair_system(ingest->pair, sys->index, pbx_link_is_up(sys->link), pbx_link_is_up(sys->link) && subs_resynced(sys->subs),
              bclock_mono_ms());
  metrics_pbx_pair_system(ingest->metrics, sys->index, pbx_link_is_up(sys->link));
}

static void ingest_resync_done(void *opaque, size_t active, size_t failed) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  if (!sys->resync_active)
    return;
  sys->resync_active = 0;
  if (sys->index == 0)
    metrics_pbx_link_state(ingest->metrics, METRICS_LINK_SYNCED);
  int64_t took = bclock_mono_ms() - sys->resync_started_ms;
  BLOG_I(SUBS, NULL, "resync finished in %lld ms: %zu subscriptions active, %zu failed", (long long)took,
         active, failed);
  snap_t *snap = ingest_sys_snap(sys);
  ingest_lifecycle(ingest, "resync_finished",
                   ingest_sys_detail(sys, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "duration_ms", (json_int_t)took,
                                                    "active", (json_int_t)active, "failed", (json_int_t)failed,
                                                    "users", (json_int_t)snap_count(snap, SNAP_USER), "queues",
                                                    (json_int_t)snap_count(snap, SNAP_QUEUE), "calls",
                                                    (json_int_t)snap_count(snap, SNAP_CALL))));
  ingest_pair_system(sys);
}

static const subs_handlers_t ingest_subs_handlers = {
    .send = ingest_subs_send,
    .requestid = ingest_subs_requestid,
    .line_fresh = ingest_line_fresh,
    .line_settled = ingest_line_settled,
    .resync_done = ingest_resync_done,
};

/* ---- link handlers (opaque: the system) ---- */

static void ingest_connected(void *opaque, const char *url, uint64_t generation) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  sys->generation = generation;
  sys->resync_active = 1;
  sys->resync_started_ms = bclock_mono_ms();
  if (sys->index == 0)
    metrics_pbx_link_state(ingest->metrics, METRICS_LINK_RESYNCING);
  ingest_lifecycle(ingest, "connected",
                   ingest_sys_detail(sys, json_pack("{s:s,s:I}", "url", url, "connection", (json_int_t)generation)));
  ingest_lifecycle(ingest, "resync_started", ingest->pair ? ingest_sys_detail(sys, json_object()) : NULL);
  subs_connected(sys->subs, bclock_mono_ms());
  ingest_pair_system(sys);
}

static void ingest_disconnected(void *opaque, const char *reason, int was_up) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  sys->generation = 0;
  ingest->link_failures++;
  if (sys->index == 0)
    metrics_pbx_link_state(ingest->metrics, METRICS_LINK_CONNECTING);
  subs_disconnected(sys->subs);
  if (was_up)
    ingest_lifecycle(ingest, "disconnected", ingest_sys_detail(sys, json_pack("{s:s}", "reason", reason)));
  ingest_pair_system(sys);
}

static void ingest_failback(void *opaque, const char *from, const char *to, int64_t fallback_ms) {
  ingest_sys_t *sys = opaque;
  ingest_lifecycle(sys->ingest, "failback",
                   json_pack("{s:s,s:s,s:I}", "from", from, "to", to, "fallback_ms", (json_int_t)fallback_ms));
}

static void ingest_notify(ingest_sys_t *sys, const Notify *notify) {
  ingest_t *ingest = sys->ingest;
  snap_t *snap = ingest_sys_snap(sys);
  subs_target_t target;
  int64_t now = bclock_mono_ms();
  metrics_pbx_add(ingest->metrics, METRICS_NOTIFIES, 1);
  ingest_gate_t *gate = calloc(1, sizeof(*gate));
  if (!gate) {
    BLOG_E(PBX, NULL, "out of memory: Notify subscribe_id=%d dropped, not acknowledged", notify->subscribe_id);
    return;
  }
  gate->subscribe_id = notify->subscribe_id;
  gate->notify_id = notify->notify_id;
  gate->sys = sys->index;
  gate->generation = sys->generation;
  gate->pending = 1; /* held while producing */
  gate->t0_us = bclock_mono_us();
  ingest->gates_open++;
  ingest_gate_sub_adjust(sys, notify->subscribe_id, +1);
  metrics_pbx_set(ingest->metrics, METRICS_ACKS_PENDING, (int64_t)ingest->gates_open);

  if (subs_notify(sys->subs, notify, now, &target) != 0) {
    BLOG_D(PBX, NULL, "Notify for unknown subscribe_id=%d ignored", notify->subscribe_id);
    ingest_gate_release(ingest, gate);
    return;
  }
  ingest->origin = (event_origin_t){notify->subscribe_id, notify->notify_id, target.snapshot, bclock_wall_ms(),
                                    target.refresh};
  ingest->cur_gate = gate;
  switch (notify->payload_case) {
  case NOTIFY__PAYLOAD_LINES:
    if (target.kind == SUBS_LINES) {
      snap_lines_apply(snap, notify->lines, target.first);
      subs_lines(sys->subs, notify->lines, target.first, now);
    }
    break;
  case NOTIFY__PAYLOAD_USER:
    if (target.kind == SUBS_USER)
      snap_user_apply(snap, target.guid, notify->user, target.snapshot);
    break;
  case NOTIFY__PAYLOAD_QUEUE:
    if (target.kind == SUBS_QUEUE)
      snap_queue_apply(snap, target.guid, notify->queue, target.snapshot);
    break;
  case NOTIFY__PAYLOAD_PRESENCE:
    for (size_t i = 0; i < notify->presence->n_entry; i++) {
      const NotifyPresentity *entry = notify->presence->entry[i];
      const char *guid = subs_presence_user(sys->subs, entry->lref, entry->presentity, NULL);
      const char *other = guid ? NULL : subs_presence_entity(sys->subs, entry->lref, entry->presentity);
      if (guid)
        snap_presence_apply(snap, guid, entry, target.snapshot);
      else if (other)
        snap_presentity_apply(snap, other, entry, target.snapshot);
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
      snap_calls_apply(snap, &line, notify->callcontrol, target.snapshot);
    break;
  }
  default:
    break; /* park server availability, refresh wrapper: nothing to report */
  }
  ingest_stats_flush(ingest);
  ingest->cur_gate = NULL;
  ingest_gate_release(ingest, gate); /* the hold: acks now if nothing changed */
  if (ingest->batch && kafka_sink_batch_len(ingest->batch) >= 10000)
    ingest_flush(ingest);
}

static void ingest_message(void *opaque, const Message *msg) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  int64_t now = bclock_mono_ms();
  switch (msg->payload_case) {
  case MESSAGE__PAYLOAD_NOTIFY:
    ingest_notify(sys, msg->notify);
    break;
  case MESSAGE__PAYLOAD_RESPONSE:
    /* a response subs does not know belongs to another stage (issue #5's commands) */
    if (subs_response(sys->subs, msg->response, now) == 0)
      break;
    if (ingest->commands)
      cmd_exec_on_message(ingest->commands, msg);
    else if (msg->response->result != 0)
      BLOG_W(PBX, NULL, "requestid=%d: %s (%d)", msg->response->requestid,
             codec_result_name(msg->response->result), msg->response->result);
    break;
  case MESSAGE__PAYLOAD_GENERALDATA:
    if (ingest->commands)
      cmd_exec_on_message(ingest->commands, msg);
    break;
  case MESSAGE__PAYLOAD_SUBSCRIBETERMINATED:
    subs_terminated(sys->subs, msg->subscribeterminated, now);
    break;
  default:
    BLOG_D(PBX, NULL, "%s message ignored", codec_message_kind(msg));
    break;
  }
}

/* pbx.c's link (the PBX, or a pair's primary) and a pair's secondary link: opaque = the ingest, each its system. */
static void ingest_connected_0(void *o, const char *url, uint64_t g) { ingest_connected(&((ingest_t *)o)->sys[0], url, g); }
static void ingest_message_0(void *o, const Message *msg) { ingest_message(&((ingest_t *)o)->sys[0], msg); }
static void ingest_disconnected_0(void *o, const char *reason, int was_up) {
  ingest_disconnected(&((ingest_t *)o)->sys[0], reason, was_up);
}
static void ingest_failback_0(void *o, const char *from, const char *to, int64_t ms) {
  ingest_failback(&((ingest_t *)o)->sys[0], from, to, ms);
}
static void ingest_connected_1(void *o, const char *url, uint64_t g) { ingest_connected(&((ingest_t *)o)->sys[1], url, g); }
static void ingest_message_1(void *o, const Message *msg) { ingest_message(&((ingest_t *)o)->sys[1], msg); }
static void ingest_disconnected_1(void *o, const char *reason, int was_up) {
  ingest_disconnected(&((ingest_t *)o)->sys[1], reason, was_up);
}

const pbx_link_handlers_t ingest_link_handlers = {
    .connected = ingest_connected_0,
    .message = ingest_message_0,
    .disconnected = ingest_disconnected_0,
    .failback = ingest_failback_0,
};

static const pbx_link_handlers_t ingest_secondary_handlers = {
    .connected = ingest_connected_1,
    .message = ingest_message_1,
    .disconnected = ingest_disconnected_1,
    .failback = NULL, /* one URL: no fallback */
};

/* ---- a resilient pair ---- */

/* The published state follows another system of the pair: the commands and /readyz too; said on the bridge topic. */
static void ingest_pair_switched(void *opaque, int from, int to) {
  ingest_t *ingest = opaque;
  ingest->link = ingest->sys[to].link;
  ingest->subs = ingest->sys[to].subs;
  metrics_pbx_pair_active(ingest->metrics, to);
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
  ingest_lifecycle(ingest, to == PAIR_SECONDARY ? "system_failover" : "system_failback",
                   json_pack("{s:s,s:s,s:b,s:b}", "active", pair_system_name(to), "from", pair_system_name(from),
                             "primary_up", pbx_link_is_up(ingest->sys[0].link), "secondary_up",
                             pbx_link_is_up(ingest->sys[1].link)));
}

static const pair_handlers_t ingest_pair_handlers = {.switched = ingest_pair_switched};

/* A system's call reports (calls made with a referencecallid): the active one's, with the published leg's key. */
static void ingest_on_view_call_report(void *opaque, const snap_call_report_t *r) {
  ingest_sys_t *sys = opaque;
  ingest_t *ingest = sys->ingest;
  if (sys->index != pair_active(ingest->pair))
    return; /* the same call, reported by both systems: told once */
  snap_call_report_t published = *r;
  if (r->leg)
    published.leg = snap_call_leg(ingest->snap, r->line_guid, r->callid);
  if (!r->leg || published.leg)
    ingest_on_call_report(ingest, &published);
}

/* ---- life ---- */

ingest_t *ingest_new(const config_t *config, char *errstr, size_t errstr_size) {
  ingest_t *ingest = calloc(1, sizeof(*ingest));
  if (!ingest)
    goto oom;
  ingest->config = config;
  ingest->metrics = metrics_pbx(config->pbx_id);
  if (topics_init(&ingest->topics, config->topic_prefix, errstr, errstr_size) != 0)
    goto fail;
  ingest->event_ctx = (event_ctx_t){config->pbx_id, &ingest->topics, MTCTI3_VERSION, event_lean_flags(config->event_lean)};
  ingest->boot_id = bclock_wall_ms();
  char host[128] = "";
  gethostname(host, sizeof(host) - 1);
  snprintf(ingest->instance, sizeof(ingest->instance), "%s/%d", host, (int)getpid());
  ingest->snap = snap_new(ingest_on_view_change, ingest); /* a standby's warm view, until the takeover */
  ingest->committed = restore_new(config->pbx_id);
  ingest->cmd_sys = -1;
  ingest->n_sys = config->ipo_secondary_url && config->ipo_secondary_url[0] ? 2 : 1;
  for (size_t i = 0; i < ingest->n_sys; i++) {
    ingest->sys[i].ingest = ingest;
    ingest->sys[i].index = (int)i;
    if (!(ingest->sys[i].subs = subs_new(config, &ingest_subs_handlers, &ingest->sys[i])))
      goto oom;
  }
  ingest->subs = ingest->sys[0].subs;
  if (!ingest->snap || !ingest->committed)
    goto oom;
  if (ingest->n_sys == 2) { /* a resilient pair: a view per system, merged into the published state */
    if (!(ingest->pair = pair_new(&ingest_pair_handlers, ingest)))
      goto oom;
    pair_set_published(ingest->pair, ingest->snap);
    for (int i = 0; i < 2; i++)
      snap_set_call_report(pair_view(ingest->pair, i), ingest_on_view_call_report, &ingest->sys[i]);
    ingest->secondary_link = pbx_link_new_secondary(config, &ingest_secondary_handlers, ingest, errstr, errstr_size);
    if (!ingest->secondary_link)
      goto fail;
    ingest->sys[1].link = ingest->secondary_link;
    for (int i = 0; i < 2; i++)
      metrics_pbx_pair_system(ingest->metrics, i, 0);
  } else {
    snap_set_call_report(ingest->snap, ingest_on_call_report, ingest);
  }
  if (config->queue_stats) { /* the time zone, checked now: the module is made at the takeover */
    qstats_config_t qc = {config->pbx_id, config->queue_stats_service_level, config->queue_stats_window,
                          config->queue_stats_timezone};
    qstats_t *check = qstats_new(&qc, ingest_on_queue_stats, ingest, errstr, errstr_size);
    if (!check)
      goto fail;
    qstats_destroy(check);
  }
  return ingest;
oom:
  snprintf(errstr, errstr_size, "ingest: out of memory");
fail:
  ingest_destroy(ingest);
  return NULL;
}

const topics_t *ingest_topics(const ingest_t *ingest) { return &ingest->topics; }

void ingest_attach(ingest_t *ingest, pbx_link_t *link, void (*request_flush)(void *opaque), void *opaque) {
  ingest->link = link;
  ingest->sys[0].link = link;
  if (ingest->secondary_link) /* the secondary's websocket comes and goes with the primary's */
    pbx_link_set_companion(link, ingest->secondary_link);
  ingest->request_flush = request_flush;
  ingest->flush_opaque = opaque;
}

void ingest_on_fenced(ingest_t *ingest, void (*fenced)(void *opaque), void *opaque) {
  ingest->fenced = fenced;
  ingest->fenced_opaque = opaque;
}

static void ingest_stats_free(void *p) { free(p); }

void ingest_destroy(ingest_t *ingest) {
  if (!ingest)
    return;
  kafka_sink_batch_free(ingest->batch);
  restore_free(ingest->committed);
  strmap_clear(&ingest->committed_stats, ingest_stats_free);
  for (size_t i = 0; i < ingest->n_life; i++)
    json_decref(ingest->life[i].detail);
  for (size_t i = 0; i < 2; i++) {
    subs_destroy(ingest->sys[i].subs);
    strmap_clear(&ingest->sys[i].gates_by_sub, NULL);
  }
  qstats_destroy(ingest->qstats);
  pair_destroy(ingest->pair);
  pbx_link_destroy(ingest->secondary_link);
  snap_destroy(ingest->snap);
  free(ingest);
}

/* ---- ownership ---- */

void ingest_committed(void *opaque, const state_reader_msg_t *msg) {
  ingest_t *ingest = opaque;
  if (msg->topic == TOPIC_QUEUE_STATS) { /* the statistics' last record of each queue */
    char key[300];
    snprintf(key, sizeof(key), "%.*s", (int)msg->key_len, msg->key);
    char *old = strmap_get(&ingest->committed_stats, key);
    if (!msg->value) {
      if (old) {
        strmap_del(&ingest->committed_stats, key);
        free(old);
      }
      return;
    }
    char *copy = malloc(msg->value_len + 1);
    if (!copy)
      return;
    memcpy(copy, msg->value, msg->value_len);
    copy[msg->value_len] = '\0';
    if (strmap_put(&ingest->committed_stats, key, copy) == 0)
      free(old);
    else
      free(copy);
    return;
  }
  restore_add(ingest->committed, msg);
}

void ingest_committed_reset(ingest_t *ingest) {
  restore_t *fresh = restore_new(ingest->config->pbx_id);
  if (!fresh) {
    BLOG_E(KAFKA, ingest->config->pbx_id, "out of memory: the committed state is not reset");
    return;
  }
  restore_free(ingest->committed);
  ingest->committed = fresh;
  strmap_clear(&ingest->committed_stats, ingest_stats_free);
}

int ingest_view_synced(const ingest_t *ingest) {
  return ingest->link && pbx_link_is_up(ingest->link) && subs_resynced(ingest->subs);
}

int ingest_view_coming(const ingest_t *ingest) {
  return ingest->link && !ingest_view_synced(ingest) && (pbx_link_is_up(ingest->link) || ingest->link_failures == 0);
}


/* The queue statistics for a new owner: their last records, then the restored state walked into them. */
static int ingest_stats_take_over(ingest_t *ingest, char *errstr, size_t errstr_size) {
  if (!ingest->config->queue_stats)
    return 0;
  qstats_config_t qc = {ingest->config->pbx_id, ingest->config->queue_stats_service_level,
                        ingest->config->queue_stats_window, ingest->config->queue_stats_timezone};
  qstats_destroy(ingest->qstats);
  if (!(ingest->qstats = qstats_new(&qc, ingest_on_queue_stats, ingest, errstr, errstr_size)))
    return -1;
  size_t restored = 0;
  for (strmap_iter_t it = strmap_iter(&ingest->committed_stats); strmap_iter_next(&it);) {
    char err[256];
    const char *text = it.value;
    if (qstats_restore(ingest->qstats, text, strlen(text), bclock_wall_ms(), err, sizeof(err)) == 0)
      restored++;
    else
      BLOG_W(KAFKA, it.key, "queue statistics not restored: %s", err);
  }
  BLOG_I(KAFKA, NULL, "queue statistics of %zu queue(s) restored", restored);
  snap_walk(ingest->snap, ingest_stats_walk, ingest);
  size_t pruned = qstats_prune(ingest->qstats);
  if (pruned)
    BLOG_I(KAFKA, NULL, "%zu queued call(s) ended while the bridge was away: not counted", pruned);
  return 0;
}

int ingest_take_over(ingest_t *ingest, kafka_sink_t *sink, char *errstr, size_t errstr_size) {
  if (ingest->publishing)
    return 0;
  snap_t *live = snap_new(ingest_on_change, ingest);
  if (!live) {
    snprintf(errstr, errstr_size, "takeover: out of memory");
    return -1;
  }
  if (!ingest->pair) /* the commands hear of their new calls from the published state (a pair's: from its views) */
    snap_set_call_report(live, ingest_on_call_report, ingest);
  size_t calls = 0, n = restore_apply(ingest->committed, live, &calls);
  snap_t *view = ingest->snap;
  int synced = ingest_view_synced(ingest);
  ingest->snap = live;
  ingest->sink = sink;
  ingest->publishing = 1;
  if (ingest_stats_take_over(ingest, errstr, errstr_size) != 0) {
    ingest->snap = view;
    ingest->sink = NULL;
    ingest->publishing = 0;
    snap_destroy(live);
    return -1;
  }
  /* what happened before: started once per process, the link's story since, the takeover */
  if (!ingest->ever_published) {
    ingest->ever_published = 1;
    ingest_lifecycle(ingest, "started",
                     json_pack("{s:I,s:I,s:I,s:s}", "restored_entities", (json_int_t)n, "restored_calls",
                               (json_int_t)calls, "replayed_events", (json_int_t)0, "state_from",
                               ingest->config->state_from_topics ? "topics" : "none"));
  }
  for (size_t i = 0; i < ingest->n_life; i++)
    ingest_lifecycle(ingest, ingest->life[i].type, ingest->life[i].detail);
  ingest->n_life = 0;
  ingest_lifecycle(ingest, "owner", json_pack("{s:s,s:s,s:b}", "state", "assigned", "instance", ingest->instance, "warm",
                                               synced));
  if (ingest->pair) { /* the systems' views, merged afresh against what consumers have */
    ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
    pair_set_published(ingest->pair, live);
    pair_replay(ingest->pair);
  } else if (synced) { /* the warm view, as a fresh snapshot against what consumers have */
    ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
    snap_replay(live, view);
  } else if (ingest->link && pbx_link_is_up(ingest->link)) {
    pbx_link_drop(ingest->link); /* mid-resync: a fresh one, against the committed state */
  }
  snap_destroy(view);
  BLOG_I(KAFKA, ingest->config->pbx_id, "owner: restored %zu entities (%zu calls) from the committed state; %s", n,
         calls, synced ? "the warm view replayed against it" : "a fresh snapshot is diffed against it");
  ingest_flush(ingest);
  return 0;
}

void ingest_hand_over(ingest_t *ingest, const char *why) {
  if (!ingest->publishing)
    return;
  ingest_lifecycle(ingest, "owner", json_pack("{s:s,s:s}", "state", why, "instance", ingest->instance));
  ingest_flush(ingest); /* best effort: the sink may still commit it before it goes */
  ingest->publishing = 0;
  kafka_sink_batch_free(ingest->batch); /* never produced: the next owner diffs what it says */
  ingest->batch = NULL;
  ingest->sink = NULL;
  snap_set_callback(ingest->snap, ingest_on_view_change, ingest); /* the published state is the warm view now */
  qstats_destroy(ingest->qstats);
  ingest->qstats = NULL;
  ingest_committed_reset(ingest);
}

void ingest_tick(ingest_t *ingest, int64_t now_ms) {
  (void)now_ms;
  size_t counts[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < ingest->n_sys; i++) { /* a pair's subscriptions: both systems' */
    size_t one[4];
    subs_tick(ingest->sys[i].subs, bclock_mono_ms());
    subs_counts(ingest->sys[i].subs, one);
    for (int k = 0; k < 4; k++)
      counts[k] += one[k];
  }
  metrics_pbx_subscriptions(ingest->metrics, subs_state_names(), counts);
  if (ingest->pair) { /* a switch, or held queue calls no system took */
    ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
    pair_tick(ingest->pair, bclock_mono_ms());
  }
  size_t entities[4];
  for (int k = 0; k < 4; k++)
    entities[k] = snap_count(ingest->snap, (snap_kind_t)k);
  metrics_pbx_entities(ingest->metrics, entities);
  ingest_stats_flush(ingest); /* the window's expiry, midnight, resync deletes */
  if (ingest->sink) {
    metrics_pbx_set(ingest->metrics, METRICS_EVENTS_INFLIGHT, (int64_t)kafka_sink_pending(ingest->sink));
    metrics_pbx_set(ingest->metrics, METRICS_EVENTS_BACKLOG, (int64_t)kafka_sink_queued(ingest->sink));
  }
  ingest_flush(ingest);
}

/* ---- readiness: pbx.c's components of this PBX (ready.h) ---- */

int ingest_ready_link(const ingest_t *ingest, char *why, size_t why_size) {
  if (ingest->link && pbx_link_is_up(ingest->link))
    return 1;
  snprintf(why, why_size, "not connected to the PBX");
  return 0;
}

int ingest_ready_resync(const ingest_t *ingest, char *why, size_t why_size) {
  if (ingest_view_synced(ingest))
    return 1;
  snprintf(why, why_size, "%s", ingest->link && pbx_link_is_up(ingest->link) ? "resync in progress" : "not connected");
  return 0;
}

int ingest_ready_keeping_up(const ingest_t *ingest, char *why, size_t why_size) {
  int64_t waited = ingest->sink ? kafka_sink_oldest_ms(ingest->sink) : 0;
  if (waited <= INGEST_KAFKA_LATE_MS)
    return 1;
  snprintf(why, why_size, "Kafka is not keeping up (%zu events wait, the oldest for %lld ms)",
           kafka_sink_pending(ingest->sink), (long long)waited);
  return 0;
}


void ingest_set_commands(ingest_t *ingest, cmd_exec_t *exec) { ingest->commands = exec; }

/*
 * Emit the current state again as 'r' events (snap_reemit: kind_mask of
 * 1 << snap_kind_t, line_guid NULL for every line); they go to Kafka with
 * the turn's other events.  Returns how many.  With a tag (copied), the
 * events are counted like a Notify's: once Kafka has settled every one of
 * them, the executor's cmd_exec_snapshot_done gets the tag; exactly once,
 * maybe before this returns (none).
 */
static size_t ingest_snapshot(ingest_t *ingest, unsigned kind_mask, const char *line_guid, const char *tag) {
  ingest->origin = (event_origin_t){0, 0, 1, bclock_wall_ms(), 0};
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

/* ---- the command executor's view of this PBX (cmd_pbx_ops_t) ---- */

static int ingest_cmd_ready(void *pbx) {
  ingest_t *ingest = pbx;
  ingest->cmd_sys = -1; /* a new command: the active system's, unless its line says otherwise */
  return ingest->publishing && pbx_link_is_up(ingest->link) && subs_resynced(ingest->subs);
}

static int ingest_cmd_line_find(void *pbx, cmd_target_kind_t kind, const char *name, cmd_line_t *line) {
  ingest_t *ingest = pbx;
  snap_line_t found = {SNAP_LINE_USER, NULL, NULL};
  if (!snap_line_find(ingest->snap, kind == CMD_TARGET_QUEUE ? SNAP_LINE_QUEUE : SNAP_LINE_USER, name, &found))
    return 0;
  line->guid = found.guid;
  line->extn = found.extn;
  return 1;
}

static int32_t ingest_cmd_line_subscription(void *pbx, const char *line_guid) {
  ingest_t *ingest = pbx;
  if (ingest->pair) { /* a queue's calls are controlled on the system where they queue */
    snap_line_t queue;
    int sys = pair_active(ingest->pair);
    if (snap_line_find(ingest->snap, SNAP_LINE_QUEUE, line_guid, &queue))
      sys = pair_queue_system(ingest->pair, queue.guid);
    ingest->cmd_sys = sys;
    return subs_line_subscription(ingest->sys[sys].subs, line_guid, NULL);
  }
  return subs_line_subscription(ingest->subs, line_guid, NULL);
}

static int ingest_cmd_call_find(void *pbx, const char *line_guid, cmd_call_kind_t by, int32_t value, int32_t *callid,
                                uint32_t *features, uint32_t *features2) {
  ingest_t *ingest = pbx;
  return snap_call_find_on_line(ingest->snap, line_guid, by == CMD_CALL_REFERENCECALLID, value, callid, features,
                                features2);
}

static int ingest_cmd_user_features(void *pbx, const char *user_guid, uint32_t *features) {
  ingest_t *ingest = pbx;
  return snap_user_features(ingest->snap, user_guid, features);
}

static int ingest_cmd_send(void *pbx, const Message *msg, char *errstr, size_t errstr_size) {
  ingest_t *ingest = pbx;
  pbx_link_t *link = ingest->cmd_sys >= 0 ? ingest->sys[ingest->cmd_sys].link : ingest->link;
  ingest->cmd_sys = -1;
  return pbx_link_send(link, msg, errstr, errstr_size);
}

static size_t ingest_cmd_snapshot(void *pbx, const char *const *topics, size_t n_topics, const char *line_guid,
                                  const char *tag) {
  unsigned mask = topics ? 0 : (1u << SNAP__KIND_COUNT) - 1;
  for (size_t i = 0; i < n_topics; i++)
    for (int k = 0; k < SNAP__KIND_COUNT; k++)
      if (strcmp(topics[i], snap_kind_topic((snap_kind_t)k)) == 0)
        mask |= 1u << k;
  return ingest_snapshot(pbx, mask, line_guid, tag);
}

static int ingest_cmd_calls_reported(void *pbx, const char *line_guid) {
  ingest_t *ingest = pbx;
  (void)line_guid; /* the commands' new calls are made on user lines */
  return ingest->config->user_ccflags != 0;
}

static int ingest_cmd_park_find(void *pbx, const char *slot, int32_t *callid, uint32_t *features,
                                uint32_t *features2) {
  ingest_t *ingest = pbx;
  return snap_park_find(ingest->snap, slot, callid, features, features2);
}

const cmd_pbx_ops_t ingest_cmd_ops = {
    .ready = ingest_cmd_ready,
    .line_find = ingest_cmd_line_find,
    .line_subscription = ingest_cmd_line_subscription,
    .call_find = ingest_cmd_call_find,
    .user_features = ingest_cmd_user_features,
    .send = ingest_cmd_send,
    .snapshot = ingest_cmd_snapshot,
    .park_find = ingest_cmd_park_find,
    .calls_reported = ingest_cmd_calls_reported,
};
