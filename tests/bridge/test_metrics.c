/*
 * test_metrics: the Prometheus text of the metrics table and histograms.
 *
 *   01 counters and gauges render with their HELP and TYPE lines and values
 *   02 histograms are cumulative per bucket, with +Inf, sum and count; the
 *      command round trip renders like the others
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

static char *text;

static void render(void) {
  size_t len = 0;
  free(text);
  text = metrics_render(&len);
  CHECK(text != NULL);
  CHECK_INT(strlen(text), len);
}

#define HAS_LINE(line) CHECK_HAS(text, "\n" line "\n")

static void s01_counters(void) {
  metrics_add(METRICS_NOTIFIES, 3);
  metrics_add(METRICS_NOTIFIES, 2);
  metrics_set(METRICS_ACKS_PENDING, 7);
  render();
  HAS_LINE("# TYPE mtcti3_bridge_notifies_received_total counter");
  HAS_LINE("mtcti3_bridge_notifies_received_total 5");
  HAS_LINE("mtcti3_bridge_acks_pending 7");
  CHECK_INT(metrics_get(METRICS_NOTIFIES), 5);
}

static void s02_histograms(void) {
  metrics_notify_acked(3);
  metrics_notify_acked(40);
  metrics_notify_acked(999999); /* beyond the last bucket: counted in +Inf only */
  metrics_command_done(0, "succeeded", 7);
  metrics_command_done(0, "succeeded", -1); /* no round trip known: counted, not observed */
  render();
  HAS_LINE("# TYPE mtcti3_bridge_notify_ack_latency_ms histogram");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"2\"} 0");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"5\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"30\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"50\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"30000\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_bucket{le=\"+Inf\"} 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_count 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_ms_sum 1.00004e+06");
  HAS_LINE("# TYPE mtcti3_bridge_command_round_trip_ms histogram");
  HAS_LINE("mtcti3_bridge_command_round_trip_ms_bucket{le=\"5\"} 0");
  HAS_LINE("mtcti3_bridge_command_round_trip_ms_bucket{le=\"10\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_ms_bucket{le=\"+Inf\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_ms_count 1");
  HAS_LINE("mtcti3_bridge_commands_total{status=\"succeeded\"} 2");
}

int main(void) {
  s01_counters();
  s02_histograms();
  free(text);
  return check_done();
}
