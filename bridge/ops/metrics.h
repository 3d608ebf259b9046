/*
 * metrics: the bridge's counters and gauges, in one table, rendered in the
 * Prometheus text format for /metrics.
 *
 * DESIGN.  Every stage bumps its counters through the calls below; the HTTP
 * stage renders them.  One process may serve several PBXs, so each series
 * has a scope, stated once in its table row: PROCESS (one series: the shared
 * Redis client, the event loop) or PBX (one series per PBX, labelled
 * pbx="<pbx_id>").  A PBX's series live in a metrics_pbx_t block that a
 * stage looks up once (metrics_pbx, at its construction) and then bumps
 * through the handle: an index into fixed arrays, no lookup, allocation or
 * formatting per call (a Notify costs ~35k instructions; its metrics must
 * stay a rounding error).  Labelled series (events per topic, subscriptions
 * per state) are small fixed arrays indexed by the label.  One process-wide
 * instance, used from the event loop thread only (the per-Kafka-client
 * gauges excepted: see metrics_client_set).  The text passes `promtool check
 * metrics`: base units (durations in seconds, sizes in bytes), counters end
 * in _total; HELP and TYPE once per family, then one sample per PBX, in the
 * order the PBXs registered.  Besides the bridge's own series it renders the
 * process_* series every Prometheus client exports (read from /proc at each
 * scrape), mtcti3_bridge_build_info, each PBX's link state as a state set,
 * and gauges per Kafka client that the client factory sets from librdkafka's
 * statistics (metrics_client_set; their `client` label already names the
 * PBX, so they carry no pbx label).
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "topics.h"

/*
 * Where a series belongs: one for the process, or one per PBX (label pbx).
 * METRICS_TABLE and METRICS_HISTOGRAMS name it by the suffix (PROCESS, PBX).
 */
typedef enum metrics_scope { METRICS_SCOPE_PROCESS, METRICS_SCOPE_PBX } metrics_scope_t;

/*
 * X(enum suffix, name, type, scope, help).  PROCESS: the shared Redis client
 * (commands_paused too: the group pauses every PBX's command topic when that
 * Redis cannot be used, so it counts the paused topics of the process) and
 * the event loop.  PBX: everything one PBX's link, subscriptions, pipeline
 * and commands do.
 */
#define METRICS_TABLE(X)                                                                           \
  X(NOTIFIES, "mtcti3_bridge_notifies_received_total", "counter", PBX, "Notify messages received") \
  X(NOTIFY_ACKS, "mtcti3_bridge_notify_acks_sent_total", "counter", PBX,                           \
    "NotifyAck messages sent")                                                                     \
  X(ACKS_PENDING, "mtcti3_bridge_acks_pending", "gauge", PBX,                                      \
    "Notifies whose events await Kafka delivery (NotifyAck withheld)")                             \
  X(EVENTS_INFLIGHT, "mtcti3_bridge_events_inflight", "gauge", PBX,                                \
    "Events handed to librdkafka and not yet delivered")                                           \
  X(EVENTS_BACKLOG, "mtcti3_bridge_events_backlog", "gauge", PBX,                                  \
    "Events waiting for room in librdkafka's queue")                                               \
  X(KAFKA_ERRORS, "mtcti3_bridge_kafka_delivery_errors_total", "counter", PBX,                     \
    "Delivery reports with an error (the event is produced again)")                                \
  X(RECONNECTS, "mtcti3_bridge_reconnects_total", "counter", PBX,                                  \
    "Connection attempts to the PBX")                                                              \
  X(CONNECTED, "mtcti3_bridge_pbx_connected", "gauge", PBX, "1 while the PBX link is up")          \
  X(PBX_URL_INDEX, "mtcti3_bridge_pbx_url_index", "gauge", PBX,                                    \
    "Index in ipo_url of the URL the PBX link is connected to (or trying): 0 the first")           \
  X(PBX_FAILBACKS, "mtcti3_bridge_pbx_failbacks_total", "counter", PBX,                            \
    "Returns from a fallback URL of ipo_url to the first once it was reachable again")             \
  X(REQUEST_ERRORS, "mtcti3_bridge_request_errors_total", "counter", PBX,                          \
    "RequestResponse results other than success")                                                  \
  X(SUBSCRIBE_TERMINATED, "mtcti3_bridge_subscriptions_terminated_total", "counter", PBX,          \
    "SubscribeTerminated messages from the PBX")                                                   \
  X(DECODE_ERRORS, "mtcti3_bridge_decode_errors_total", "counter", PBX,                            \
    "Frames that did not decode")                                                                  \
  X(RESYNC_DELETES, "mtcti3_bridge_resync_deletes_total", "counter", PBX,                          \
    "Calls deleted because they ended while the bridge was not connected")                         \
  X(REDIS_ERRORS, "mtcti3_bridge_redis_errors_total", "counter", PROCESS,                          \
    "Redis command failures")                                                                      \
  X(REDIS_CONNECTED, "mtcti3_bridge_redis_connected", "gauge", PROCESS,                            \
    "1 while the Redis connection is up (handshake done)")                                         \
  X(REDIS_PENDING, "mtcti3_bridge_redis_pending", "gauge", PROCESS,                                \
    "Redis commands sent or waiting for the handshake, not yet answered")                          \
  X(SUBSCRIBE_INFLIGHT, "mtcti3_bridge_subscribe_requests_inflight", "gauge", PBX,                 \
    "Subscribe requests waiting for their RequestResponse (at most subscribe_window)")             \
  X(SUBSCRIBE_INFLIGHT_PEAK, "mtcti3_bridge_subscribe_requests_inflight_peak", "gauge", PBX,       \
    "Most subscribe requests ever waiting at once")                                                \
  X(SUBSCRIBE_QUEUED, "mtcti3_bridge_subscribe_requests_queued", "gauge", PBX,                     \
    "Subscribe and refresh requests waiting for room in the window")                               \
  X(COMMANDS_RECEIVED, "mtcti3_bridge_commands_received_total", "counter", PBX,                    \
    "Messages read from the command topic")                                                        \
  X(COMMANDS_INFLIGHT, "mtcti3_bridge_commands_inflight", "gauge", PBX,                            \
    "Commands read and not yet completed (claimed, waiting, sent or result unconfirmed)")          \
  X(COMMANDS_PAUSED, "mtcti3_bridge_commands_paused", "gauge", PROCESS,                            \
    "Command topics paused because Redis cannot be used (1 per PBX whose commands wait)")          \
  X(LOOP_STALLS, "mtcti3_bridge_loop_stalls_total", "counter", PROCESS,                            \
    "Times the event loop stood still beyond its stall threshold (a stopped process, a paused machine)")

typedef enum metrics_id {
#define METRICS_X_ENUM(e, n, t, s, h) METRICS_##e,
  METRICS_TABLE(METRICS_X_ENUM)
#undef METRICS_X_ENUM
  METRICS__COUNT
} metrics_id_t;

/*
 * X(enum suffix, name, scope, help): the histograms; observed in
 * milliseconds, rendered in seconds.  All three are a PBX's.
 */
#define METRICS_HISTOGRAMS(X)                                                                      \
  X(DELIVERY, "mtcti3_bridge_kafka_delivery_latency_seconds", PBX,                                 \
    "From produce to delivery report, per event")                                                  \
  X(NOTIFY_ACK, "mtcti3_bridge_notify_ack_latency_seconds", PBX,                                   \
    "From a Notify's arrival to its NotifyAck (every event it caused confirmed by Kafka)")         \
  X(COMMAND_ROUND_TRIP, "mtcti3_bridge_command_round_trip_seconds", PBX,                           \
    "From a command's receipt to the PBX's answer (or its timeout)")

/*
 * X(enum suffix, name): the PBX link's states, rendered as the state set
 * mtcti3_bridge_pbx_link_state{pbx,state} (1 for the PBX's current state, 0
 * for the others).
 */
#define METRICS_LINK_STATES(X)                                                                     \
  X(CONNECTING, "connecting") /* no websocket: connecting or waiting to reconnect */               \
  X(RESYNCING, "resyncing")   /* websocket up, subscriptions not all answered yet */               \
  X(SYNCED, "synced")         /* websocket up, every subscription active or given up */

typedef enum metrics_link_state {
#define METRICS_X_LINK_ENUM(e, n) METRICS_LINK_##e,
  METRICS_LINK_STATES(METRICS_X_LINK_ENUM)
#undef METRICS_X_LINK_ENUM
  METRICS_LINK__COUNT
} metrics_link_state_t;

/*
 * X(enum suffix, name, label, help): gauges per Kafka client (label client,
 * plus `label` when not NULL), set by the Kafka client factory from
 * librdkafka's statistics callback.  A series appears once set.
 */
#define METRICS_CLIENT_GAUGES(X)                                                                   \
  X(KAFKA_BROKER_RTT, "mtcti3_bridge_kafka_broker_rtt_seconds", "broker",                          \
    "Average round trip to the broker (librdkafka statistics: brokers[].rtt.avg)")                 \
  X(KAFKA_OUTQ, "mtcti3_bridge_kafka_broker_outq_requests", "broker",                              \
    "Requests waiting to be sent to the broker (brokers[].outbuf_cnt)")                            \
  X(KAFKA_PRODUCE_QUEUE, "mtcti3_bridge_kafka_produce_queue_messages", NULL,                       \
    "Messages in the producer's queue (msg_cnt)")                                                  \
  X(KAFKA_PRODUCE_QUEUE_BYTES, "mtcti3_bridge_kafka_produce_queue_bytes", NULL,                    \
    "Bytes of messages in the producer's queue (msg_size)")                                        \
  X(KAFKA_CONSUMER_LAG, "mtcti3_bridge_kafka_consumer_lag_messages", "partition",                  \
    "Messages between the consumer's position and the partition's end (topics[].partitions[].consumer_lag)")

typedef enum metrics_client_gauge {
#define METRICS_X_CLIENT_ENUM(e, n, l, h) METRICS_CLIENT_##e,
  METRICS_CLIENT_GAUGES(METRICS_X_CLIENT_ENUM)
#undef METRICS_X_CLIENT_ENUM
  METRICS_CLIENT__COUNT
} metrics_client_gauge_t;

/* Label sets. */
#define METRICS_CMD_STATUSES 8 /* cmd_status_t values */
#define METRICS_TOPICS TOPIC__COUNT /* the topic table's rows */
#define METRICS_SUB_STATES 4

/*
 * A PBX's block of series, looked up by pbx_id (copied), registered at the
 * first call: its series are rendered from then on (zeros until bumped).
 * Owned by the metrics: valid until metrics_reset, never freed by the
 * caller.  Linear in the PBXs registered: call it once, at construction, and
 * keep the handle.  NULL when out of memory; every call below takes a NULL
 * handle and does nothing with it.
 */
typedef struct metrics_pbx metrics_pbx_t;
metrics_pbx_t *metrics_pbx(const char *pbx_id);

/*
 * The counters and gauges of METRICS_TABLE.  metrics_add/set/get take the
 * PROCESS rows, metrics_pbx_add/set/get the PBX rows; a row of the other
 * scope is ignored (get answers 0), so a misplaced call cannot write a
 * series nobody renders.
 */
void metrics_add(metrics_id_t id, int64_t delta);
void metrics_set(metrics_id_t id, int64_t value);
int64_t metrics_get(metrics_id_t id);
void metrics_pbx_add(metrics_pbx_t *pbx, metrics_id_t id, int64_t delta);
void metrics_pbx_set(metrics_pbx_t *pbx, metrics_id_t id, int64_t value);
int64_t metrics_pbx_get(const metrics_pbx_t *pbx, metrics_id_t id);

/* An event delivered to `topic_index` (topic_id_t), latency_ms after its produce. */
void metrics_pbx_event_delivered(metrics_pbx_t *pbx, int topic_index, double latency_ms);
/* A NotifyAck sent, latency_ms after its Notify arrived. */
void metrics_pbx_notify_acked(metrics_pbx_t *pbx, double latency_ms);
/* The PBX link's current state. */
void metrics_pbx_link_state(metrics_pbx_t *pbx, metrics_link_state_t state);
/*
 * Subscriptions per state, set by the PBX's pipeline.  The state names are
 * the same for every PBX (static, borrowed): the series appear for every
 * registered PBX once the first names are known.
 */
void metrics_pbx_subscriptions(metrics_pbx_t *pbx, const char *const state_names[METRICS_SUB_STATES],
                               const size_t counts[METRICS_SUB_STATES]);
/* Entities known per kind (snap kinds). */
void metrics_pbx_entities(metrics_pbx_t *pbx, const size_t counts[4]);
/*
 * A command completed with status `status` (named `name`, static, an index
 * below METRICS_CMD_STATUSES); round_trip_ms >= 0 for a command the PBX
 * answered or that timed out (from receipt to outcome), else -1.  A status
 * once named is rendered for every PBX (0 where none ended so).
 */
void metrics_pbx_command_done(metrics_pbx_t *pbx, int status, const char *name, double round_trip_ms);

/* Ownership: 1 while this instance owns (publishes, runs the commands of) the PBX. */
void metrics_pbx_owned(metrics_pbx_t *pbx, int owned);
/* An ownership change of the PBX: "assigned", "revoked", "fenced", "failed". */
void metrics_pbx_ownership_change(metrics_pbx_t *pbx, const char *change);
/* A resilient pair's system (0 primary, 1 secondary): its websocket up (1) or not. */
void metrics_pbx_pair_system(metrics_pbx_t *pbx, int system, int up);
/* A resilient pair's published state follows `system` now (counted as a failover or a fail-back). */
void metrics_pbx_pair_active(metrics_pbx_t *pbx, int system);

/*
 * One label of mtcti3_bridge_build_info (the bridge's `version` is always
 * there): name must be a label name ([a-z_]+), value any text (copied).
 * Setting a name again replaces its value; at most 8 labels.
 */
void metrics_build_info(const char *name, const char *value);
/*
 * Set a per-client gauge: `client` names the Kafka client (its client.id or
 * role: "producer", "commands"), `label` the broker or partition for gauges
 * that have one (ignored for the others).  Both copied.  Thread-safe: called
 * from the threads that serve librdkafka's statistics.
 */
void metrics_client_set(metrics_client_gauge_t gauge, const char *client, const char *label, double value);
/* Drop every series of `client` (the client is gone). */
void metrics_client_forget(const char *client);

/* The whole exposition text; malloc'd, caller frees. */
char *metrics_render(size_t *len);
/*
 * Free what the metrics hold (build_info labels, client series, every PBX's
 * block: handles from metrics_pbx dangle afterwards) and zero every series;
 * at exit, after the stages are gone, and between unit tests.
 */
void metrics_reset(void);

#endif
