/*
 * metrics: the bridge's counters and gauges, in one table, rendered in the
 * Prometheus text format for /metrics.
 *
 * DESIGN.  Every stage bumps its counters through metrics_add/metrics_set;
 * the HTTP stage renders them.  Labelled series (events per topic,
 * subscriptions per state) are small fixed arrays indexed by the label.  One
 * process-wide instance, used from the event loop thread only.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "topics.h"

/* X(enum suffix, name, type, help) */
#define METRICS_TABLE(X)                                                                          \
  X(NOTIFIES, "mtcti3_bridge_notifies_received_total", "counter", "Notify messages received")     \
  X(NOTIFY_ACKS, "mtcti3_bridge_notify_acks_sent_total", "counter", "NotifyAck messages sent")    \
  X(ACKS_PENDING, "mtcti3_bridge_acks_pending", "gauge",                                         \
    "Notifies whose events await Kafka delivery (NotifyAck withheld)")                           \
  X(EVENTS_INFLIGHT, "mtcti3_bridge_events_inflight", "gauge",                                   \
    "Events handed to the producer and not yet committed")                                        \
  X(EVENTS_BACKLOG, "mtcti3_bridge_events_backlog", "gauge",                                     \
    "Events in batches waiting behind the one being written")                                     \
  X(KAFKA_ERRORS, "mtcti3_bridge_kafka_delivery_errors_total", "counter",                        \
    "Delivery reports with an error (the event is produced again)")                               \
  X(RECONNECTS, "mtcti3_bridge_reconnects_total", "counter", "Connection attempts to the PBX")    \
  X(CONNECTED, "mtcti3_bridge_pbx_connected", "gauge", "1 while the PBX link is up")             \
  X(REQUEST_ERRORS, "mtcti3_bridge_request_errors_total", "counter",                             \
    "RequestResponse results other than success")                                                 \
  X(SUBSCRIBE_TERMINATED, "mtcti3_bridge_subscriptions_terminated_total", "counter",             \
    "SubscribeTerminated messages from the PBX")                                                  \
  X(DECODE_ERRORS, "mtcti3_bridge_decode_errors_total", "counter", "Frames that did not decode") \
  X(RESYNC_DELETES, "mtcti3_bridge_resync_deletes_total", "counter",                             \
    "Calls deleted because they ended while the bridge was not connected")                        \
  X(REDIS_ERRORS, "mtcti3_bridge_redis_errors_total", "counter", "Redis command failures")        \
  X(REDIS_CONNECTED, "mtcti3_bridge_redis_connected", "gauge",                                   \
    "1 while the Redis connection is up (handshake done)")                                        \
  X(REDIS_PENDING, "mtcti3_bridge_redis_pending", "gauge",                                       \
    "Redis commands sent or waiting for the handshake, not yet answered")                        \
  X(SUBSCRIBE_INFLIGHT, "mtcti3_bridge_subscribe_requests_inflight", "gauge",                    \
    "Subscribe requests waiting for their RequestResponse (at most subscribe_window)")            \
  X(SUBSCRIBE_INFLIGHT_PEAK, "mtcti3_bridge_subscribe_requests_inflight_peak", "gauge",          \
    "Most subscribe requests ever waiting at once")                                              \
  X(SUBSCRIBE_QUEUED, "mtcti3_bridge_subscribe_requests_queued", "gauge",                        \
    "Subscribe and refresh requests waiting for room in the window")                             \
  X(COMMANDS_RECEIVED, "mtcti3_bridge_commands_received_total", "counter",                       \
    "Messages read from the command topic")                                                       \
  X(COMMANDS_INFLIGHT, "mtcti3_bridge_commands_inflight", "gauge",                               \
    "Commands read and not yet completed (claimed, waiting, sent or result unconfirmed)")        \
  X(COMMANDS_PAUSED, "mtcti3_bridge_commands_paused", "gauge",                                   \
    "1 while the command topic is paused (Redis unreachable)")

typedef enum metrics_id {
#define METRICS_X_ENUM(e, n, t, h) METRICS_##e,
  METRICS_TABLE(METRICS_X_ENUM)
#undef METRICS_X_ENUM
  METRICS__COUNT
} metrics_id_t;

/* Label sets. */
#define METRICS_CMD_STATUSES 8 /* cmd_status_t values */
#define METRICS_TOPICS TOPIC__COUNT /* the topic table's rows */
#define METRICS_SUB_STATES 4

void metrics_add(metrics_id_t id, int64_t delta);
void metrics_set(metrics_id_t id, int64_t value);
int64_t metrics_get(metrics_id_t id);
/* An event delivered to `topic_index` (topic_id_t). */
void metrics_event_delivered(int topic_index, double latency_ms);
/* A NotifyAck sent, latency_ms after its Notify arrived. */
void metrics_notify_acked(double latency_ms);
/* Subscriptions per state, set by the subscriptions stage. */
void metrics_subscriptions(const char *const state_names[METRICS_SUB_STATES],
                           const size_t counts[METRICS_SUB_STATES]);
/* Entities known per kind (snap kinds). */
void metrics_entities(const size_t counts[4]);

/*
 * A command completed with status `status` (named `name`, an index below
 * METRICS_CMD_STATUSES); round_trip_ms >= 0 for a command the PBX answered
 * or that timed out (from receipt to outcome), else -1.
 */
void metrics_command_done(int status, const char *name, double round_trip_ms);

/*
 * A collector adds its own series to the exposition: fn(opaque, FILE *out)
 * at each render, called on the loop thread (it locks what it reads).  One
 * per opaque; fn NULL removes it.
 */
typedef void(metrics_collector_fn)(void *opaque, void *out);
void metrics_add_collector(metrics_collector_fn *fn, void *opaque);

/* The whole exposition text; malloc'd, caller frees. */
char *metrics_render(size_t *len);

#endif
