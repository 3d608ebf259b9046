/*
 * test_metrics: the Prometheus text of the metrics table and histograms.
 *
 *   01 counters and gauges render with their HELP and TYPE lines and values
 *   02 histograms are observed in ms and rendered in seconds, cumulative per
 *      bucket, with +Inf, sum and count; the command round trip like the others
 *   03 build_info: the version, library labels (replaced, escaped)
 *   04 the PBX link's state set: exactly one state is 1
 *   05 per-client gauges: appear once set, updated in place, forgotten per client
 *   06 process_* series: plausible values of this very process
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
  HAS_LINE("# TYPE mtcti3_bridge_notify_ack_latency_seconds histogram");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"0.002\"} 0");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"0.005\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"0.03\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"0.05\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"30\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{le=\"+Inf\"} 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_count 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_sum 1000.042");
  HAS_LINE("# TYPE mtcti3_bridge_command_round_trip_seconds histogram");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{le=\"0.005\"} 0");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{le=\"0.01\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{le=\"+Inf\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_count 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_sum 0.007");
  HAS_LINE("mtcti3_bridge_commands_total{status=\"succeeded\"} 2");
  HAS_LINE("# TYPE mtcti3_bridge_kafka_delivery_latency_seconds histogram");
  HAS_LINE("mtcti3_bridge_kafka_delivery_latency_seconds_count 0");
  CHECK(strstr(text, "_ms") == NULL); /* no unit but base units */
}

static void s03_build_info(void) {
  render();
  HAS_LINE("# TYPE mtcti3_bridge_build_info gauge");
  HAS_LINE("mtcti3_bridge_build_info{version=\"" MTCTI3_VERSION "\"} 1");
  metrics_build_info("librdkafka", "2.0.2");
  metrics_build_info("openssl", "old");
  metrics_build_info("openssl", "3.0.\"x\"\\");
  render();
  HAS_LINE("mtcti3_bridge_build_info{version=\"" MTCTI3_VERSION
           "\",librdkafka=\"2.0.2\",openssl=\"3.0.\\\"x\\\"\\\\\"} 1");
}

static void s04_link_state(void) {
  render();
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"connecting\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"resyncing\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"synced\"} 0");
  metrics_link_state(METRICS_LINK_SYNCED);
  render();
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"connecting\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"resyncing\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_link_state{state=\"synced\"} 1");
}

static void s05_client_gauges(void) {
  render();
  /* the families are there from the start (HELP, TYPE), their series once a client reports */
  HAS_LINE("# TYPE mtcti3_bridge_kafka_broker_rtt_seconds gauge");
  CHECK(strstr(text, "mtcti3_bridge_kafka_broker_rtt_seconds{") == NULL);
  metrics_client_set(METRICS_CLIENT_KAFKA_BROKER_RTT, "producer", "k1:9092/1", 0.0025);
  metrics_client_set(METRICS_CLIENT_KAFKA_BROKER_RTT, "producer", "k2:9092/2", 0.5);
  metrics_client_set(METRICS_CLIENT_KAFKA_BROKER_RTT, "producer", "k1:9092/1", 0.003);
  metrics_client_set(METRICS_CLIENT_KAFKA_PRODUCE_QUEUE, "producer", "ignored", 12);
  metrics_client_set(METRICS_CLIENT_KAFKA_CONSUMER_LAG, "commands", "mtcti3.commands/0", 4);
  render();
  HAS_LINE("# TYPE mtcti3_bridge_kafka_broker_rtt_seconds gauge");
  HAS_LINE("mtcti3_bridge_kafka_broker_rtt_seconds{client=\"producer\",broker=\"k1:9092/1\"} 0.003");
  HAS_LINE("mtcti3_bridge_kafka_broker_rtt_seconds{client=\"producer\",broker=\"k2:9092/2\"} 0.5");
  HAS_LINE("mtcti3_bridge_kafka_produce_queue_messages{client=\"producer\"} 12");
  HAS_LINE("mtcti3_bridge_kafka_consumer_lag_messages{client=\"commands\",partition=\"mtcti3.commands/0\"} 4");
  CHECK(strstr(text, "k1:9092/1\"} 0.0025") == NULL);
  metrics_client_forget("producer");
  render();
  CHECK(strstr(text, "mtcti3_bridge_kafka_broker_rtt_seconds{") == NULL);
  CHECK(strstr(text, "mtcti3_bridge_kafka_produce_queue_messages{") == NULL);
  HAS_LINE("mtcti3_bridge_kafka_consumer_lag_messages{client=\"commands\",partition=\"mtcti3.commands/0\"} 4");
}

static double value_of(const char *name) {
  char key[128];
  snprintf(key, sizeof(key), "\n%s ", name);
  const char *p = strstr(text, key);
  CHECK(p != NULL);
  return p ? strtod(p + strlen(key), NULL) : -1;
}

static void s06_process(void) {
  render();
  HAS_LINE("# TYPE process_cpu_seconds_total counter");
  HAS_LINE("# TYPE process_resident_memory_bytes gauge");
  HAS_LINE("# TYPE process_start_time_seconds gauge");
  CHECK(value_of("process_cpu_seconds_total") >= 0);
  CHECK(value_of("process_resident_memory_bytes") > 100000);
  CHECK(value_of("process_virtual_memory_bytes") >= value_of("process_resident_memory_bytes"));
  CHECK(value_of("process_open_fds") >= 3); /* stdin, stdout, stderr */
  CHECK(value_of("process_max_fds") >= value_of("process_open_fds"));
  double start = value_of("process_start_time_seconds"), now = (double)time(NULL);
  CHECK(start > now - 120 && start <= now + 1); /* started just now */
}

int main(void) {
  s01_counters();
  s02_histograms();
  s03_build_info();
  s04_link_state();
  s05_client_gauges();
  s06_process();
  metrics_reset();
  free(text);
  return check_done();
}
