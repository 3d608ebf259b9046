/*
 * test_metrics: the Prometheus text of the metrics table and histograms.
 *
 *   00 before any PBX registers: the PBX families have their HELP and TYPE
 *      lines and no sample; the process's series are there
 *   01 counters and gauges render with their HELP and TYPE lines and values:
 *      a PBX row once per family, then one sample per PBX (label pbx,
 *      escaped), in registration order, each with its own value; a PROCESS
 *      row unlabelled; a call of the wrong scope changes nothing
 *   02 histograms are observed in ms and rendered in seconds, cumulative per
 *      bucket, with +Inf, sum and count, per PBX; the command round trip like
 *      the others
 *   03 build_info: the version, library labels (replaced, escaped)
 *   04 the PBX link's state set, per PBX: exactly one state is 1
 *   05 per-client gauges: appear once set, updated in place, forgotten per client
 *   06 process_* series: plausible values of this very process
 *   07 the label sets per PBX: events per topic, subscriptions per state,
 *      entities per topic, commands per status (a status named by one PBX
 *      shows for the other as 0); ownership and a pair's series by handle
 *   08 metrics_reset: every block gone, a PBX registered again starts at 0
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

static metrics_pbx_t *hq, *branch;

static void s00_no_pbx(void) {
  metrics_add(METRICS_LOOP_STALLS, 1);
  render();
  CHECK_HAS(text, "# TYPE mtcti3_bridge_pbx_connected gauge\n# HELP mtcti3_bridge_pbx_url_index ");
  CHECK_HAS(text, "# TYPE mtcti3_bridge_pbx_link_state gauge\n# HELP mtcti3_bridge_events_produced_total ");
  CHECK(strstr(text, "{pbx=") == NULL);
  HAS_LINE("mtcti3_bridge_loop_stalls_total 1");
  HAS_LINE("mtcti3_bridge_redis_connected 0");
}

static void s01_counters(void) {
  hq = metrics_pbx("hq");
  branch = metrics_pbx("branch \"2\"\\");
  CHECK(hq != NULL && branch != NULL && hq != branch);
  CHECK(metrics_pbx("hq") == hq); /* looked up, not registered twice */
  render();
  /* registered: zeros at once, as a single PBX had them */
  HAS_LINE("mtcti3_bridge_notifies_received_total{pbx=\"hq\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"connecting\"} 1");
  metrics_pbx_add(hq, METRICS_NOTIFIES, 3);
  metrics_pbx_add(hq, METRICS_NOTIFIES, 2);
  metrics_pbx_add(branch, METRICS_NOTIFIES, 1);
  metrics_pbx_set(hq, METRICS_ACKS_PENDING, 7);
  metrics_pbx_set(branch, METRICS_CONNECTED, 1);
  metrics_set(METRICS_REDIS_PENDING, 4);
  /* the wrong scope: ignored, both ways */
  metrics_add(METRICS_NOTIFIES, 100);
  metrics_set(METRICS_CONNECTED, 1);
  metrics_pbx_add(hq, METRICS_LOOP_STALLS, 100);
  metrics_pbx_set(hq, METRICS_REDIS_PENDING, 100);
  metrics_pbx_add(NULL, METRICS_NOTIFIES, 1); /* no handle (out of memory at registration): nothing */
  render();
  CHECK_HAS(text, "# HELP mtcti3_bridge_notifies_received_total Notify messages received\n"
                  "# TYPE mtcti3_bridge_notifies_received_total counter\n"
                  "mtcti3_bridge_notifies_received_total{pbx=\"hq\"} 5\n"
                  "mtcti3_bridge_notifies_received_total{pbx=\"branch \\\"2\\\"\\\\\"} 1\n"
                  "# HELP mtcti3_bridge_notify_acks_sent_total ");
  HAS_LINE("mtcti3_bridge_acks_pending{pbx=\"hq\"} 7");
  HAS_LINE("mtcti3_bridge_acks_pending{pbx=\"branch \\\"2\\\"\\\\\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_connected{pbx=\"hq\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_connected{pbx=\"branch \\\"2\\\"\\\\\"} 1");
  HAS_LINE("mtcti3_bridge_redis_pending 4");
  HAS_LINE("mtcti3_bridge_loop_stalls_total 1");
  CHECK(strstr(text, "\nmtcti3_bridge_redis_pending{") == NULL);
  CHECK(strstr(text, "\nmtcti3_bridge_pbx_connected ") == NULL);
  CHECK_INT(metrics_pbx_get(hq, METRICS_NOTIFIES), 5);
  CHECK_INT(metrics_pbx_get(branch, METRICS_NOTIFIES), 1);
  CHECK_INT(metrics_pbx_get(hq, METRICS_REDIS_PENDING), 0);
  CHECK_INT(metrics_get(METRICS_NOTIFIES), 0);
  CHECK_INT(metrics_get(METRICS_REDIS_PENDING), 4);
  /* HELP and TYPE once per family */
  const char *first = strstr(text, "# TYPE mtcti3_bridge_acks_pending gauge");
  CHECK(first && !strstr(first + 1, "# TYPE mtcti3_bridge_acks_pending gauge"));
}

static void s02_histograms(void) {
  metrics_pbx_notify_acked(hq, 3);
  metrics_pbx_notify_acked(hq, 40);
  metrics_pbx_notify_acked(hq, 999999); /* beyond the last bucket: counted in +Inf only */
  metrics_pbx_notify_acked(branch, 0.7);
  metrics_pbx_command_done(hq, 0, "succeeded", 7);
  metrics_pbx_command_done(hq, 0, "succeeded", -1); /* no round trip known: counted, not observed */
  render();
  HAS_LINE("# TYPE mtcti3_bridge_notify_ack_latency_seconds histogram");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"0.002\"} 0");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"0.005\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"0.03\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"0.05\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"30\"} 2");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"hq\",le=\"+Inf\"} 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_count{pbx=\"hq\"} 3");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_sum{pbx=\"hq\"} 1000.042");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"branch \\\"2\\\"\\\\\",le=\"0.0005\"} 0");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"branch \\\"2\\\"\\\\\",le=\"0.001\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_bucket{pbx=\"branch \\\"2\\\"\\\\\",le=\"+Inf\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_count{pbx=\"branch \\\"2\\\"\\\\\"} 1");
  HAS_LINE("mtcti3_bridge_notify_ack_latency_seconds_sum{pbx=\"branch \\\"2\\\"\\\\\"} 0.0007");
  HAS_LINE("# TYPE mtcti3_bridge_command_round_trip_seconds histogram");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{pbx=\"hq\",le=\"0.005\"} 0");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{pbx=\"hq\",le=\"0.01\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_bucket{pbx=\"hq\",le=\"+Inf\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_count{pbx=\"hq\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_sum{pbx=\"hq\"} 0.007");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_count{pbx=\"branch \\\"2\\\"\\\\\"} 0");
  HAS_LINE("mtcti3_bridge_commands_total{pbx=\"hq\",status=\"succeeded\"} 2");
  HAS_LINE("mtcti3_bridge_commands_total{pbx=\"branch \\\"2\\\"\\\\\",status=\"succeeded\"} 0");
  HAS_LINE("# TYPE mtcti3_bridge_kafka_delivery_latency_seconds histogram");
  HAS_LINE("mtcti3_bridge_kafka_delivery_latency_seconds_count{pbx=\"hq\"} 0");
  CHECK(strstr(text, "_ms") == NULL); /* no unit but base units */
  CHECK(strstr(text, "_seconds_count ") == NULL); /* every histogram is a PBX's */
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
  metrics_pbx_link_state(branch, METRICS_LINK_RESYNCING);
  render();
  HAS_LINE("mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"connecting\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"resyncing\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"synced\"} 0");
  metrics_pbx_link_state(hq, METRICS_LINK_SYNCED);
  render();
  CHECK_HAS(text, "\n# TYPE mtcti3_bridge_pbx_link_state gauge\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"connecting\"} 0\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"resyncing\"} 0\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"hq\",state=\"synced\"} 1\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"branch \\\"2\\\"\\\\\",state=\"connecting\"} 0\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"branch \\\"2\\\"\\\\\",state=\"resyncing\"} 1\n"
                  "mtcti3_bridge_pbx_link_state{pbx=\"branch \\\"2\\\"\\\\\",state=\"synced\"} 0\n"
                  "# HELP ");
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

static void s07_label_sets(void) {
  static const char *const states[METRICS_SUB_STATES] = {"waiting", "requested", "active", "failed"};
  size_t hq_subs[METRICS_SUB_STATES] = {0, 1, 7, 0}, branch_subs[METRICS_SUB_STATES] = {2, 0, 3, 1};
  size_t hq_entities[4] = {4, 3, 1, 2}, branch_entities[4] = {9, 8, 0, 0};
  render();
  CHECK(strstr(text, "mtcti3_bridge_subscriptions{") == NULL); /* no state named yet */
  metrics_pbx_subscriptions(hq, states, hq_subs);
  metrics_pbx_entities(hq, hq_entities);
  metrics_pbx_entities(branch, branch_entities);
  metrics_pbx_event_delivered(hq, TOPIC_CALLS, 2);
  metrics_pbx_event_delivered(hq, TOPIC_CALLS, 2);
  metrics_pbx_event_delivered(branch, TOPIC_LINES, 2);
  metrics_pbx_command_done(branch, 3, "failed", 1000);
  render();
  /* the other PBX's subscriptions, not yet reported: zeros */
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"hq\",state=\"active\"} 7");
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"branch \\\"2\\\"\\\\\",state=\"active\"} 0");
  metrics_pbx_subscriptions(branch, states, branch_subs);
  render();
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"hq\",state=\"requested\"} 1");
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"branch \\\"2\\\"\\\\\",state=\"waiting\"} 2");
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"branch \\\"2\\\"\\\\\",state=\"active\"} 3");
  HAS_LINE("mtcti3_bridge_subscriptions{pbx=\"branch \\\"2\\\"\\\\\",state=\"failed\"} 1");
  HAS_LINE("mtcti3_bridge_entities{pbx=\"hq\",topic=\"lines\"} 4");
  HAS_LINE("mtcti3_bridge_entities{pbx=\"hq\",topic=\"calls\"} 2");
  HAS_LINE("mtcti3_bridge_entities{pbx=\"branch \\\"2\\\"\\\\\",topic=\"lines\"} 9");
  HAS_LINE("mtcti3_bridge_entities{pbx=\"branch \\\"2\\\"\\\\\",topic=\"presence\"} 8");
  HAS_LINE("mtcti3_bridge_events_produced_total{pbx=\"hq\",topic=\"calls\"} 2");
  HAS_LINE("mtcti3_bridge_events_produced_total{pbx=\"hq\",topic=\"lines\"} 0");
  HAS_LINE("mtcti3_bridge_events_produced_total{pbx=\"branch \\\"2\\\"\\\\\",topic=\"lines\"} 1");
  HAS_LINE("mtcti3_bridge_events_produced_total{pbx=\"branch \\\"2\\\"\\\\\",topic=\"calls\"} 0");
  HAS_LINE("mtcti3_bridge_kafka_delivery_latency_seconds_count{pbx=\"hq\"} 2");
  HAS_LINE("mtcti3_bridge_commands_total{pbx=\"hq\",status=\"failed\"} 0");
  HAS_LINE("mtcti3_bridge_commands_total{pbx=\"branch \\\"2\\\"\\\\\",status=\"failed\"} 1");
  HAS_LINE("mtcti3_bridge_command_round_trip_seconds_sum{pbx=\"branch \\\"2\\\"\\\\\"} 1");
  /* ownership and a pair's series, through the same handles */
  HAS_LINE("# TYPE mtcti3_bridge_pbx_system_up gauge"); /* the family, without a pair */
  CHECK(strstr(text, "mtcti3_bridge_pbx_system_up{") == NULL);
  metrics_pbx_owned(branch, 1);
  metrics_pbx_ownership_change(branch, "assigned");
  metrics_pbx_pair_system(hq, 1, 1);
  metrics_pbx_pair_active(hq, 1);
  render();
  HAS_LINE("mtcti3_bridge_pbx_owned{pbx=\"hq\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_owned{pbx=\"branch \\\"2\\\"\\\\\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_ownership_changes_total{pbx=\"branch \\\"2\\\"\\\\\",change=\"assigned\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_ownership_changes_total{pbx=\"hq\",change=\"assigned\"} 0");
  HAS_LINE("mtcti3_bridge_pbx_system_up{pbx=\"hq\",system=\"secondary\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_system_active{pbx=\"hq\",system=\"secondary\"} 1");
  HAS_LINE("mtcti3_bridge_pbx_system_switches_total{pbx=\"hq\",switch=\"failover\"} 1");
  CHECK(strstr(text, "mtcti3_bridge_pbx_system_up{pbx=\"branch") == NULL); /* not a pair */
}

static void s08_reset(void) {
  metrics_reset();
  render();
  CHECK(strstr(text, "{pbx=") == NULL);
  HAS_LINE("mtcti3_bridge_loop_stalls_total 0");
  metrics_pbx_t *again = metrics_pbx("hq");
  CHECK(again != NULL);
  render();
  HAS_LINE("mtcti3_bridge_notifies_received_total{pbx=\"hq\"} 0");
  CHECK(strstr(text, "branch") == NULL);
}

int main(void) {
  s00_no_pbx();
  s01_counters();
  s02_histograms();
  s03_build_info();
  s04_link_state();
  s05_client_gauges();
  s06_process();
  s07_label_sets();
  s08_reset();
  metrics_reset();
  free(text);
  return check_done();
}
