/*
 * mtcti3-bridge: an IP Office's lines, users, queues and calls as change
 * events in Kafka.
 *
 * DESIGN.  One thread, one libwebsockets event loop.  Follow a Notify
 * forward through the folders:
 *
 *   link/pbx_link.c      websocket to the PBX: TLS, Basic auth, ping, reconnect
 *   link/subs.c          subscriptions: Lines, users, queues, presence, park server
 *   pbx/ingest.c         one PBX: Notify -> snap -> event -> kafka_sink -> NotifyAck
 *   state/snap.c         last known state of every entity, and the diff
 *   events/event.c       Debezium envelope, CloudEvents headers, topics and keys
 *   sink/kafka_sink.c    idempotent producer, delivery reports, backlog
 *   commands/cmd_source.c  the command topic (Kafka side): consume, results, commit
 *   commands/cmd_exec.c    one PBX's commands -> MTCTI3 requests -> results (via Redis)
 *   clients/redis_client.c the asynchronous Redis client on this loop
 *   ops/http.c           /metrics, /healthz, /readyz
 *
 * with ops/config.c (the settings table), ops/blog.c (logs) and
 * ops/metrics.c beside them.  This file builds the stages, in order, wires them to the loop
 * (librdkafka wakes it through a pipe, timers are lws_sul), runs it until
 * SIGINT or SIGTERM, and takes everything down through one exit path.
 * Exit status: 0 after a signal, 1 on a fatal runtime error, 2 on a bad
 * configuration (before any connection).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/timerfd.h>

#include <libwebsockets.h>

#include "bclock.h"
#include "blog.h"
#include "cmd_exec.h"
#include "cmd_source.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "kafka_sink.h"
#include "metrics.h"
#include "pbx_link.h"
#include "redis_client.h"
#include "state_store.h"

extern char **environ;

typedef struct bridge {
  config_t *config;
  state_store_t *store;
  ingest_t *ingest;
  kafka_sink_t *sink;
  pbx_link_t *link;
  cmd_source_t *cmd; /* NULL when commands are off */
  cmd_exec_t *exec;  /* the PBX's command executor, with cmd */
  redis_client_t *redis; /* the command store's Redis, with cmd */
  http_t *http;
  struct lws_context *context;
  struct lws_vhost *pbx_vhost, *http_vhost;
  struct lws_protocols protocols[5]; /* pbx vhost: the PBX link, the Kafka pipe, the command pipe, the flush timer */
  struct lws_protocols http_protocols[2]; /* http vhost */
  lws_sorted_usec_list_t sul_tick;
  lws_sorted_usec_list_t sul_flush; /* the end of a loop turn with events queued (no flush timer) */
  int flush_fd;                     /* timerfd: events have waited BRIDGE_FLUSH_DELAY_US; -1: none */
  lws_sorted_usec_list_t sul_cmd;   /* the command source has more messages to serve */
  int fatal;
} bridge_t;

static volatile sig_atomic_t bridge_stop;
static struct lws_context *bridge_signal_context;

static void bridge_on_signal(int sig) {
  bridge_stop = 1;
  if (bridge_signal_context)
    lws_cancel_service(bridge_signal_context);
}

/* The Kafka pipe, adopted as a raw file: librdkafka has something for us. */
static int bridge_kafka_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                                 size_t len) {
  bridge_t *bridge = (bridge_t *)lws_get_protocol(wsi)->user;
  if (reason == LWS_CALLBACK_RAW_RX_FILE && bridge) {
    char errstr[512];
    if (ingest_kafka_poll(bridge->ingest, errstr, sizeof(errstr)) != 0) {
      BLOG_E(KAFKA, NULL, "%s", errstr);
      bridge->fatal = 1;
      bridge_stop = 1;
    }
  }
  return 0;
}

static void bridge_cmd_more(lws_sorted_usec_list_t *sul);

/* Serve the command source; more to do soon when it stopped at its batch limit. */
static void bridge_cmd_poll(bridge_t *bridge) {
  char errstr[512];
  if (!bridge->cmd)
    return;
  int rc = cmd_source_poll(bridge->cmd, errstr, sizeof(errstr));
  if (rc < 0) {
    BLOG_E(CMD, NULL, "%s", errstr);
    bridge->fatal = 1;
    bridge_stop = 1;
  } else if (rc > 0) {
    lws_sul_schedule(bridge->context, 0, &bridge->sul_cmd, bridge_cmd_more, 1);
  }
}

static void bridge_cmd_more(lws_sorted_usec_list_t *sul) {
  bridge_cmd_poll(lws_container_of(sul, bridge_t, sul_cmd));
}

/* The command pipe: the command consumer or the results producer has something. */
static int bridge_cmd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                               size_t len) {
  bridge_t *bridge = (bridge_t *)lws_get_protocol(wsi)->user;
  if (reason == LWS_CALLBACK_RAW_RX_FILE && bridge)
    bridge_cmd_poll(bridge);
  return 0;
}

static void bridge_tick(lws_sorted_usec_list_t *sul) {
  bridge_t *bridge = lws_container_of(sul, bridge_t, sul_tick);
  char errstr[512];
  if (ingest_kafka_poll(bridge->ingest, errstr, sizeof(errstr)) != 0) {
    BLOG_E(KAFKA, NULL, "%s", errstr);
    bridge->fatal = 1;
    bridge_stop = 1;
  }
  ingest_tick(bridge->ingest, bclock_wall_ms());
  if (bridge->cmd) {
    bridge_cmd_poll(bridge);
    cmd_source_tick(bridge->cmd, bclock_wall_ms());
    cmd_exec_tick(bridge->exec, bclock_wall_ms());
  }
  lws_sul_schedule(bridge->context, 0, &bridge->sul_tick, bridge_tick, 100 * LWS_US_PER_MS);
}

static void bridge_flush(lws_sorted_usec_list_t *sul) {
  bridge_t *bridge = lws_container_of(sul, bridge_t, sul_flush);
  ingest_flush(bridge->ingest);
}

/*
 * Events wait this long for more to join them before one Redis write and
 * their produce: under load a flush then carries hundreds of events instead
 * of a few, for a millisecond of latency (Kafka's linger is 5 ms anyway).
 * A timerfd rings it: libwebsockets 4.1 polls with millisecond timeouts and
 * spins through the last millisecond before a sul, which for a 1 ms wait
 * would burn a core at a few hundred events/s.
 */
#define BRIDGE_FLUSH_DELAY_US 1000

static void bridge_request_flush(void *opaque) {
  bridge_t *bridge = opaque;
  if (bridge->flush_fd >= 0) {
    struct itimerspec when = {{0, 0}, {0, BRIDGE_FLUSH_DELAY_US * 1000L}};
    if (timerfd_settime(bridge->flush_fd, 0, &when, NULL) == 0)
      return;
  }
  if (bridge->context) /* no timer: at the end of this loop turn */
    lws_sul_schedule(bridge->context, 0, &bridge->sul_flush, bridge_flush, 1);
}

/* The flush timer, adopted as a raw file. */
static int bridge_flush_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                                 size_t len) {
  bridge_t *bridge = (bridge_t *)lws_get_protocol(wsi)->user;
  if (reason == LWS_CALLBACK_RAW_RX_FILE && bridge) {
    uint64_t expirations;
    if (read(bridge->flush_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
      BLOG_W(MAIN, NULL, "flush timer: %s", strerror(errno));
    ingest_flush(bridge->ingest);
  }
  return 0;
}

static int bridge_ready(void *opaque, char *why, size_t why_size) {
  bridge_t *bridge = opaque;
  if (!ingest_ready(bridge->ingest, why, why_size))
    return 0;
  return !bridge->exec || cmd_exec_ready(bridge->exec, why, why_size);
}

/* The command stage on the loop: the Redis client, the PBX's executor wired to the Kafka side and the PBX. */
static int bridge_start_commands(bridge_t *bridge, char *errstr, size_t errstr_size) {
  const config_t *config = bridge->config;
  redis_client_config_t rconf;
  redis_client_config_init(&rconf);
  rconf.url = config->redis_url;
  rconf.password = config->redis_password;
  rconf.timeout_ms = (int)config->redis_timeout_ms;
  rconf.name = "commands";
  if (redis_client_new(&rconf, bridge->context, &bridge->redis, errstr, errstr_size) != 0)
    return -1;
  cmd_exec_config_t xconf;
  memset(&xconf, 0, sizeof(xconf));
  xconf.pbx_id = config->pbx_id;
  xconf.results_topic = cmd_source_results_topic(bridge->cmd);
  cmd_parse_config_init(&xconf.parse);
  xconf.parse.max_bytes = (size_t)config->commands_max_bytes;
  xconf.parse.default_timeout_ms = config->commands_default_timeout_ms;
  xconf.parse.max_timeout_ms = config->commands_max_timeout_ms;
  xconf.policy_file = config->commands_policy_file;
  xconf.redis = bridge->redis;
  xconf.result_ttl_ms = config->commands_result_ttl_ms;
  xconf.claim_ttl_ms = config->commands_idempotency_ttl_ms;
  xconf.ops = &ingest_cmd_ops;
  xconf.pbx = bridge->ingest;
  xconf.emit = cmd_source_emit;
  xconf.emit_opaque = bridge->cmd;
  xconf.settled = cmd_source_settled;
  xconf.settled_opaque = bridge->cmd;
  if (cmd_exec_new(&xconf, &bridge->exec, errstr, errstr_size) != 0)
    return -1;
  cmd_source_attach(bridge->cmd, bridge->exec);
  ingest_set_commands(bridge->ingest, bridge->exec);
  return 0;
}

/* Let the commands whose outcome is decided get it recorded and confirmed, stop reading, commit, leave. */
static void bridge_stop_commands(bridge_t *bridge) {
  if (!bridge->cmd)
    return;
  cmd_source_stopping(bridge->cmd);
  int64_t end = bclock_mono_ms() + 3000;
  while (bridge->exec && bridge->context && cmd_exec_finishing(bridge->exec) && bclock_mono_ms() < end) {
    lws_service(bridge->context, 0);
    bridge_cmd_poll(bridge);
  }
  cmd_source_stop(bridge->cmd, 3000);
  cmd_source_attach(bridge->cmd, NULL);
  if (bridge->ingest)
    ingest_set_commands(bridge->ingest, NULL);
  cmd_exec_destroy(bridge->exec);
  bridge->exec = NULL;
  redis_client_destroy(bridge->redis); /* before the loop it runs on */
  bridge->redis = NULL;
}

static void bridge_lws_log(int level, const char *line) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s", line);
  msg[strcspn(msg, "\n")] = '\0';
  blog_write(BLOG_CTX_PBX, "lws", level & LLL_ERR ? BLOG_WARN : BLOG_DEBUG, "%s", msg);
}

static int bridge_write_ready_file(bridge_t *bridge, int http_port, char *errstr, size_t errstr_size) {
  char tmp[1024];
  snprintf(tmp, sizeof(tmp), "%s.tmp", bridge->config->ready_file);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    snprintf(errstr, errstr_size, "ready_file: cannot write \"%.200s\": %s", tmp, strerror(errno));
    return -1;
  }
  json_t *ready = json_pack("{s:i,s:s,s:i}", "http_port", http_port, "kafka_bootstrap",
                            kafka_sink_bootstrap(bridge->sink), "pid", (int)getpid());
  json_dumpf(ready, fp, JSON_COMPACT);
  json_decref(ready);
  fclose(fp);
  if (rename(tmp, bridge->config->ready_file) != 0) {
    snprintf(errstr, errstr_size, "ready_file: cannot rename to \"%s\": %s", bridge->config->ready_file,
             strerror(errno));
    return -1;
  }
  return 0;
}

/* Build every stage; 0, or -1 with errstr (the caller tears down). */
static int bridge_start(bridge_t *bridge, char *errstr, size_t errstr_size) {
  const config_t *config = bridge->config;
  bridge->store = state_store_new(config, errstr, errstr_size);
  if (!bridge->store)
    return -1;
  bridge->ingest = ingest_new(config, bridge->store, errstr, errstr_size);
  if (!bridge->ingest)
    return -1;
  bridge->sink = kafka_sink_new(config, ingest_delivered, bridge->ingest, errstr, errstr_size);
  if (!bridge->sink)
    return -1;
  bridge->link = pbx_link_new(config, &ingest_link_handlers, bridge->ingest, errstr, errstr_size);
  if (!bridge->link)
    return -1;
  if (cmd_source_new(config, kafka_sink_bootstrap(bridge->sink), &bridge->cmd, errstr, errstr_size) != 0)
    return -1;
  bridge->http = http_new(bridge_ready, bridge);
  if (!bridge->http)
    return -1;
  ingest_attach(bridge->ingest, bridge->link, bridge->sink, bridge_request_flush, bridge);

  if (config->kafka_create_topics) {
    char err[512];
    if (kafka_sink_create_topics(bridge->sink, 10000, err, sizeof(err)) != 0)
      BLOG_W(KAFKA, NULL, "%s; continuing (the broker may create topics itself)", err);
  }
  if (bridge->cmd) {
    char err[512];
    if (cmd_source_create_topics(bridge->cmd, 10000, err, sizeof(err)) != 0)
      BLOG_W(CMD, NULL, "%s; continuing", err);
  }
  if (ingest_restore(bridge->ingest, errstr, errstr_size) != 0)
    return -1;

  /* the loop */
  pbx_link_protocol(bridge->link, &bridge->protocols[0]);
  bridge->protocols[1].name = "mtcti3-kafka";
  bridge->protocols[1].callback = bridge_kafka_callback;
  bridge->protocols[1].user = bridge;
  bridge->protocols[2].name = "mtcti3-cmd";
  bridge->protocols[2].callback = bridge_cmd_callback;
  bridge->protocols[2].user = bridge;
  bridge->protocols[3].name = "mtcti3-flush";
  bridge->protocols[3].callback = bridge_flush_callback;
  bridge->protocols[3].user = bridge;
  http_protocol(bridge->http, &bridge->http_protocols[0]);
  lws_set_log_level(LLL_ERR | (blog_enabled(BLOG_CTX_PBX, BLOG_DEBUG) ? LLL_WARN : 0), bridge_lws_log);

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = bridge->protocols;
  info.gid = -1;
  info.uid = -1;
  bridge->context = lws_create_context(&info);
  if (!bridge->context) {
    snprintf(errstr, errstr_size, "libwebsockets: cannot create the context");
    return -1;
  }
  bridge_signal_context = bridge->context;
  if (bridge->cmd && bridge_start_commands(bridge, errstr, errstr_size) != 0)
    return -1;

  memset(&info, 0, sizeof(info));
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = bridge->protocols;
  info.vhost_name = "pbx";
  pbx_link_vhost_info(bridge->link, &info);
  bridge->pbx_vhost = lws_create_vhost(bridge->context, &info);
  if (!bridge->pbx_vhost) {
    snprintf(errstr, errstr_size, "ipo_ca_file: cannot set up TLS with \"%s\"",
             config->ipo_ca_file[0] ? config->ipo_ca_file : "the system store");
    return -1;
  }

  int http_port = 0;
  if (config->http_listen[0]) {
    char host[256];
    const char *colon = strrchr(config->http_listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - config->http_listen), config->http_listen);
    memset(&info, 0, sizeof(info));
    info.port = atoi(colon + 1);
    info.iface = host[0] ? host : NULL;
    info.protocols = bridge->http_protocols;
    info.vhost_name = "http";
    bridge->http_vhost = lws_create_vhost(bridge->context, &info);
    if (!bridge->http_vhost) {
      snprintf(errstr, errstr_size, "http_listen: cannot listen on %s", config->http_listen);
      return -1;
    }
    http_port = lws_get_vhost_listen_port(bridge->http_vhost);
    BLOG_I(HTTP, NULL, "serving /metrics, /healthz, /readyz on http://%s:%d/", host[0] ? host : "*", http_port);
  }

  lws_sock_file_fd_type fd;
  fd.filefd = kafka_sink_fd(bridge->sink);
  if (!lws_adopt_descriptor_vhost(bridge->pbx_vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "mtcti3-kafka", NULL)) {
    snprintf(errstr, errstr_size, "libwebsockets: cannot watch the Kafka queue");
    return -1;
  }
  bridge->flush_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  fd.filefd = bridge->flush_fd;
  if (bridge->flush_fd >= 0 &&
      !lws_adopt_descriptor_vhost(bridge->pbx_vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "mtcti3-flush", NULL)) {
    BLOG_W(MAIN, NULL, "libwebsockets: cannot watch the flush timer; flushing at the end of each loop turn");
    close(bridge->flush_fd);
    bridge->flush_fd = -1;
  }
  if (bridge->cmd) {
    fd.filefd = cmd_source_fd(bridge->cmd);
    if (!lws_adopt_descriptor_vhost(bridge->pbx_vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "mtcti3-cmd", NULL)) {
      snprintf(errstr, errstr_size, "libwebsockets: cannot watch the command queue");
      return -1;
    }
  }
  lws_sul_schedule(bridge->context, 0, &bridge->sul_tick, bridge_tick, 100 * LWS_US_PER_MS);
  ingest_flush(bridge->ingest); /* the restored pending events and "started" */

  if (config->ready_file[0] && bridge_write_ready_file(bridge, http_port, errstr, errstr_size) != 0)
    return -1;
  pbx_link_start(bridge->link, bridge->context, bridge->pbx_vhost);
  return 0;
}

/* Take everything down; safe on a half-built bridge. */
static void bridge_stop_all(bridge_t *bridge) {
  bridge_stop_commands(bridge);
  if (bridge->ingest && bridge->sink && bridge->link) {
    ingest_lifecycle(bridge->ingest, "stopped", NULL);
    ingest_flush(bridge->ingest);
    pbx_link_stop(bridge->link);
    if (bridge->context)
      for (int i = 0; i < 5; i++)
        lws_service(bridge->context, 0);
    size_t left = kafka_sink_flush(bridge->sink, 5000);
    if (left)
      BLOG_W(KAFKA, NULL, "%zu events not confirmed at exit (the PBX sends them again: they were not acknowledged)", left);
  }
  if (bridge->context) {
    lws_sul_cancel(&bridge->sul_tick);
    lws_sul_cancel(&bridge->sul_flush);
    lws_sul_cancel(&bridge->sul_cmd);
    bridge_signal_context = NULL;
    lws_context_destroy(bridge->context);
  }
  cmd_source_destroy(bridge->cmd);
  kafka_sink_destroy(bridge->sink);
  pbx_link_destroy(bridge->link);
  ingest_destroy(bridge->ingest);
  state_store_destroy(bridge->store);
  http_destroy(bridge->http);
  config_destroy(bridge->config);
}

int main(int argc, char **argv) {
  bridge_t bridge;
  config_action_t action;
  char errstr[512];
  int status = 0;
  memset(&bridge, 0, sizeof(bridge));
  bridge.flush_fd = -1;

  if (config_load(argc, argv, environ, stdout, &bridge.config, &action, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "mtcti3-bridge: %s\n", errstr);
    return 2;
  }
  if (action == CONFIG_EXIT_OK) {
    config_destroy(bridge.config);
    return 0;
  }
  if (kafka_sink_check_config(bridge.config, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "mtcti3-bridge: %s\n", errstr);
    config_destroy(bridge.config);
    return 2;
  }
  blog_level_t level = BLOG_INFO;
  unsigned debug_mask = 0;
  blog_level_parse(bridge.config->log_level, &level);
  if (blog_debug_parse(bridge.config->debug, &debug_mask, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "mtcti3-bridge: debug: %s\n", errstr);
    config_destroy(bridge.config);
    return 2;
  }
  blog_setup(level, strcmp(bridge.config->log_format, "json") == 0, debug_mask);
  srandom((unsigned)time(NULL) ^ (unsigned)getpid());

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = bridge_on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  BLOG_I(MAIN, bridge.config->pbx_id, "mtcti3-bridge %s starting", MTCTI3_VERSION);
  if (bridge_start(&bridge, errstr, sizeof(errstr)) != 0) {
    BLOG_E(MAIN, bridge.config->pbx_id, "%s", errstr);
    status = 1;
    goto done;
  }
  while (!bridge_stop) {
    if (lws_service(bridge.context, 0) < 0)
      break;
  }
  status = bridge.fatal ? 1 : 0;
  BLOG_I(MAIN, bridge.config->pbx_id, "stopping");
done:
  bridge_stop_all(&bridge);
  return status;
}
