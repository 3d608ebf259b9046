/*
 * metrics: Prometheus text exposition of the table in metrics.h.
 */
#include "metrics.h"

#include "topics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name, *type, *help;
} metrics_rows[] = {
#define METRICS_X_ROW(e, n, t, h) {n, t, h},
    METRICS_TABLE(METRICS_X_ROW)
#undef METRICS_X_ROW
};

/* per topic: the table's suffixes; per snapshot kind (entities): its topic's */
static const char *metrics_topic_name(int topic) { return topics_row((topic_id_t)topic)->suffix; }
static const topic_id_t metrics_kind_topics[4] = {TOPIC_LINES, TOPIC_PRESENCE, TOPIC_QUEUES, TOPIC_CALLS};
static const double metrics_buckets[] = {0.5, 1, 2, 5, 10, 20, 30, 50, 75, 100, 250, 500, 1000, 5000, 30000};
#define METRICS_NB (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))

typedef struct metrics_histogram {
  uint64_t buckets[METRICS_NB]; /* not cumulative: the first bucket that holds the value */
  uint64_t count;
  double sum;
} metrics_histogram_t;

static struct {
  int64_t values[METRICS__COUNT];
  uint64_t produced[METRICS_TOPICS];
  metrics_histogram_t delivery, ack;
  const char *sub_states[METRICS_SUB_STATES];
  size_t sub_counts[METRICS_SUB_STATES];
  size_t entities[4];
  const char *cmd_status_names[METRICS_CMD_STATUSES];
  uint64_t cmd_done[METRICS_CMD_STATUSES];
  metrics_histogram_t cmd_round_trip;
  struct {
    metrics_collector_fn *fn;
    void *opaque;
  } collectors[8];
} metrics;

void metrics_add_collector(metrics_collector_fn *fn, void *opaque) {
  size_t free_slot = sizeof(metrics.collectors) / sizeof(metrics.collectors[0]);
  for (size_t i = 0; i < sizeof(metrics.collectors) / sizeof(metrics.collectors[0]); i++) {
    if (metrics.collectors[i].fn && metrics.collectors[i].opaque == opaque) {
      metrics.collectors[i].fn = fn;
      return;
    }
    if (!metrics.collectors[i].fn && free_slot == sizeof(metrics.collectors) / sizeof(metrics.collectors[0]))
      free_slot = i;
  }
  if (fn && free_slot < sizeof(metrics.collectors) / sizeof(metrics.collectors[0])) {
    metrics.collectors[free_slot].fn = fn;
    metrics.collectors[free_slot].opaque = opaque;
  }
}

void metrics_add(metrics_id_t id, int64_t delta) { metrics.values[id] += delta; }
void metrics_set(metrics_id_t id, int64_t value) { metrics.values[id] = value; }
int64_t metrics_get(metrics_id_t id) { return metrics.values[id]; }

static void metrics_observe(metrics_histogram_t *h, double ms) {
  size_t i = 0;
  while (i < METRICS_NB && ms > metrics_buckets[i])
    i++;
  if (i < METRICS_NB)
    h->buckets[i]++;
  h->count++;
  h->sum += ms;
}

void metrics_event_delivered(int topic_index, double latency_ms) {
  if (topic_index >= 0 && topic_index < METRICS_TOPICS)
    metrics.produced[topic_index]++;
  metrics_observe(&metrics.delivery, latency_ms);
}

void metrics_notify_acked(double latency_ms) { metrics_observe(&metrics.ack, latency_ms); }

static void metrics_render_histogram(FILE *fp, const char *name, const char *help,
                                     const metrics_histogram_t *h) {
  fprintf(fp, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < METRICS_NB; i++) {
    cumulative += h->buckets[i];
    fprintf(fp, "%s_bucket{le=\"%g\"} %llu\n", name, metrics_buckets[i], (unsigned long long)cumulative);
  }
  fprintf(fp, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
  fprintf(fp, "%s_sum %g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

void metrics_subscriptions(const char *const state_names[METRICS_SUB_STATES],
                           const size_t counts[METRICS_SUB_STATES]) {
  for (int i = 0; i < METRICS_SUB_STATES; i++) {
    metrics.sub_states[i] = state_names[i];
    metrics.sub_counts[i] = counts[i];
  }
}

void metrics_entities(const size_t counts[4]) { memcpy(metrics.entities, counts, sizeof(metrics.entities)); }

void metrics_command_done(int status, const char *name, double round_trip_ms) {
  if (status >= 0 && status < METRICS_CMD_STATUSES) {
    metrics.cmd_status_names[status] = name;
    metrics.cmd_done[status]++;
  }
  if (round_trip_ms >= 0)
    metrics_observe(&metrics.cmd_round_trip, round_trip_ms);
}

char *metrics_render(size_t *len) {
  char *buf = NULL;
  size_t size = 0;
  FILE *fp = open_memstream(&buf, &size);
  if (!fp)
    return NULL;
  for (int i = 0; i < METRICS__COUNT; i++) {
    fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", metrics_rows[i].name, metrics_rows[i].help,
            metrics_rows[i].name, metrics_rows[i].type, metrics_rows[i].name,
            (long long)metrics.values[i]);
  }
  fprintf(fp, "# HELP mtcti3_bridge_events_produced_total Events confirmed by Kafka, per topic\n"
              "# TYPE mtcti3_bridge_events_produced_total counter\n");
  for (int i = 0; i < METRICS_TOPICS; i++)
    fprintf(fp, "mtcti3_bridge_events_produced_total{topic=\"%s\"} %llu\n", metrics_topic_name(i),
            (unsigned long long)metrics.produced[i]);
  metrics_render_histogram(fp, "mtcti3_bridge_kafka_delivery_latency_ms",
                           "From produce to delivery report, per event", &metrics.delivery);
  metrics_render_histogram(fp, "mtcti3_bridge_notify_ack_latency_ms",
                           "From a Notify's arrival to its NotifyAck (every event it caused confirmed by Kafka)",
                           &metrics.ack);
  fprintf(fp, "# HELP mtcti3_bridge_subscriptions Subscriptions to the PBX, per state\n"
              "# TYPE mtcti3_bridge_subscriptions gauge\n");
  for (int i = 0; i < METRICS_SUB_STATES; i++)
    if (metrics.sub_states[i])
      fprintf(fp, "mtcti3_bridge_subscriptions{state=\"%s\"} %zu\n", metrics.sub_states[i],
              metrics.sub_counts[i]);
  fprintf(fp, "# HELP mtcti3_bridge_entities Entities in the last known state, per topic\n"
              "# TYPE mtcti3_bridge_entities gauge\n");
  for (int i = 0; i < 4; i++)
    fprintf(fp, "mtcti3_bridge_entities{topic=\"%s\"} %zu\n", metrics_topic_name(metrics_kind_topics[i]),
            metrics.entities[i]);
  fprintf(fp, "# HELP mtcti3_bridge_commands_total Commands completed, per final status\n"
              "# TYPE mtcti3_bridge_commands_total counter\n");
  for (int i = 0; i < METRICS_CMD_STATUSES; i++)
    if (metrics.cmd_status_names[i])
      fprintf(fp, "mtcti3_bridge_commands_total{status=\"%s\"} %llu\n", metrics.cmd_status_names[i],
              (unsigned long long)metrics.cmd_done[i]);
  metrics_render_histogram(fp, "mtcti3_bridge_command_round_trip_ms",
                           "From a command's receipt to the PBX's answer (or its timeout)", &metrics.cmd_round_trip);
  for (size_t i = 0; i < sizeof(metrics.collectors) / sizeof(metrics.collectors[0]); i++)
    if (metrics.collectors[i].fn)
      metrics.collectors[i].fn(metrics.collectors[i].opaque, fp);
  fclose(fp);
  *len = size;
  return buf;
}
