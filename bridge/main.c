/*
 * mtcti3-bridge: an IP Office's lines, users, queues and calls as change
 * events in Kafka.
 *
 * DESIGN.  One event loop thread (libwebsockets); beside it, one producer
 * thread per PBX this instance owns (sink/) and one reader thread per PBX it
 * does not own (state/: the committed state, kept current).  The process
 * serves every PBX of its configuration (config->pbx: one, or a config
 * file's [pbx <id>] sections), each a pbx/pbx.c; instances with the same
 * `group` share the PBXs through one Kafka consumer group
 * (commands/cmd_source.c: each PBX's commands partition is its ownership
 * token).  Follow a Notify forward through the folders:
 *
 *   link/pbx_link.c      websocket to the PBX: TLS, Basic auth, ping, reconnect
 *   link/subs.c          subscriptions: Lines, users, queues, presence, park server
 *   pbx/ingest.c         one PBX: Notify -> snap -> event -> kafka_sink -> NotifyAck
 *   state/snap.c         last known state of every entity, and the diff
 *   stats/qstats.c       queue statistics from the state's changes
 *   events/event.c       Debezium envelope, CloudEvents headers; topics.c the topic table
 *   sink/kafka_sink.c    the producer thread: one transaction per batch
 *   commands/cmd_source.c  the group: ownership, the commands' Kafka side
 *   commands/cmd_exec.c    one PBX's commands -> MTCTI3 requests -> results (via Redis)
 *   ops/http.c           /metrics, /healthz, /readyz
 *
 * with pbx/pbx.c (one PBX and its ownership steps), clients/kafka_client.c
 * (every Kafka client), clients/redis_client.c (the asynchronous Redis
 * client on this loop), ops/config.c (the settings table), ops/blog.c
 * (logs), ops/metrics.c and ops/loop.c (fd watches, the stall detector),
 * ops/signals.c (signals on the loop) and ops/ready.c (readiness, per
 * component) beside them.  This file builds the process, wires it to the
 * loop, runs it until SIGINT or SIGTERM, and takes everything down through
 * one exit path within 10 s (BRIDGE_STOP_*).  Nothing here waits on the
 * network: the HTTP endpoint is made first and answers from the loop's
 * first turn, topics are created, producers initialised and states read
 * back while the loop runs.  SIGHUP reopens the log and reloads the
 * settings marked CONFIG_RELOAD (bridge_reload).  Exit status: 0 after a
 * signal, 1 on a fatal runtime error, 2 on a bad configuration (before any
 * connection; an http_listen that cannot be listened on included).  Under systemd
 * (Type=notify, built with libsystemd) it tells READY once the loop runs,
 * STOPPING when it begins to stop, and pings the watchdog from the loop's
 * tick when WatchdogSec is set.
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
#include <openssl/crypto.h>
#ifdef MTCTI3_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "bclock.h"
#include "blog.h"
#include "cmd_policy.h"
#include "cmd_source.h"
#include "config.h"
#include "http.h"
#include "kafka_admin.h"
#include "kafka_client.h"
#include "loop.h"
#include "metrics.h"
#include "pbx.h"
#include "ready.h"
#include "redis_client.h"
#include "signals.h"

extern char **environ;

/*
 * From the signal to the exit: the commands whose outcome is decided get
 * it recorded for BRIDGE_STOP_COMMANDS_MS, their results and offsets as
 * long again; the batches of events already handed to the producers have
 * until BRIDGE_STOP_SINK_MS, BRIDGE_STOP_OUTAGE_MS while every broker is
 * unreachable (what Kafka commits by then is acknowledged to the PBX, the
 * rest is not, and the PBX sends it again); then the group is left (the
 * PBXs move to another instance at once) and everything closes.  Within
 * 10 s in every state (Kafka, Redis or the PBX away, the state being read
 * back): Kubernetes' default grace period is 30 s, systemd's 90 s.
 */
#define BRIDGE_STOP_COMMANDS_MS 2000
#define BRIDGE_STOP_SINK_MS 6000
#define BRIDGE_STOP_OUTAGE_MS 1000
#define BRIDGE_STOP_GROUP_MS 1500

typedef struct bridge {
  config_t *config;
  kafka_env_t *env;
  kafka_admin_t *admin;  /* until the topics exist */
  cmd_source_t *group;   /* the instances' group: ownership, commands */
  redis_client_t *redis; /* the command store's Redis; NULL: commands off */
  pbx_t **pbx;
  size_t n_pbx;
  http_t *http;
  ready_t *ready;     /* what /readyz shows */
  signals_t *signals; /* SIGINT, SIGTERM, SIGHUP on the loop */
  struct lws_context *context;
  struct lws_vhost *main_vhost;
  struct lws_protocols protocols[2]; /* main vhost: the fd watches */
  loop_watch_t *w_admin, *w_group, *w_flush;
  lws_sorted_usec_list_t sul_tick;
  lws_sorted_usec_list_t sul_flush; /* the end of a loop turn with events queued (no flush timer) */
  int flush_fd;                     /* timerfd: events have waited BRIDGE_FLUSH_DELAY_US; -1: none */
  lws_sorted_usec_list_t sul_group; /* the group has more messages to serve */
  lws_sorted_usec_list_t sul_wake;  /* while stopping: a loop turn never waits longer than this */
  int topics_ready;                 /* created (or left to the broker) */
  int64_t topics_retry_ms;
  int http_port;
  int fatal;
  int bad_setting; /* bridge_start failed on a setting: exit 2 */
  int argc;        /* for SIGHUP's new reading of the settings */
  char **argv;
  int64_t stall_ms;       /* loop_stall_ms, as last reloaded */
  char log_file[1024];    /* log_file, as last reloaded */
  int64_t stop_ms;        /* monotonic: when the stop began (the signal) */
  uint64_t watchdog_usec;   /* 0: no watchdog */
  int64_t watchdog_last_us; /* monotonic time of the last WATCHDOG=1 */
} bridge_t;

/* sd_notify, when built with libsystemd and run by systemd (NOTIFY_SOCKET); else nothing. */
static void bridge_notify(const char *state) {
#ifdef MTCTI3_HAVE_SYSTEMD
  sd_notify(0, state);
#else
  (void)state;
#endif
}

/* The watchdog interval systemd asked for (WATCHDOG_USEC), 0 when none. */
static uint64_t bridge_watchdog_usec(void) {
#ifdef MTCTI3_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0)
    return usec;
#endif
  return 0;
}

static int bridge_stop; /* the loop ends after this turn (a signal, a fatal error) */

static void bridge_fatal(bridge_t *bridge, blog_ctx_t ctx, const char *errstr) {
  blog_write(ctx, NULL, BLOG_ERROR, "%s", errstr);
  bridge->fatal = 1;
  bridge_stop = 1;
}

/* ---- the group: ownership and commands ---- */

static void bridge_group_more(lws_sorted_usec_list_t *sul);

/* Serve the group; more to do soon when it stopped at its batch limit. */
static void bridge_group_poll(bridge_t *bridge) {
  char errstr[512];
  int rc = cmd_source_poll(bridge->group, errstr, sizeof(errstr));
  if (rc < 0)
    bridge_fatal(bridge, BLOG_CTX_CMD, errstr);
  else if (rc > 0)
    lws_sul_schedule(bridge->context, 0, &bridge->sul_group, bridge_group_more, 1);
}

static void bridge_group_more(lws_sorted_usec_list_t *sul) {
  bridge_group_poll(lws_container_of(sul, bridge_t, sul_group));
}

static void bridge_group_fd(void *arg) { bridge_group_poll(arg); }

/* ---- topics: every PBX's, created without waiting ---- */

static void bridge_topics_request(bridge_t *bridge) {
  size_t n = bridge->config->pbx_count * TOPIC__COUNT;
  kafka_topic_spec_t *specs = calloc(n, sizeof(*specs));
  topics_t *topics = calloc(bridge->config->pbx_count, sizeof(*topics));
  char errstr[512];
  if (!specs || !topics) {
    BLOG_E(KAFKA, NULL, "creating topics: out of memory");
    goto done;
  }
  for (size_t p = 0; p < bridge->config->pbx_count; p++) {
    const config_t *pc = bridge->config->pbx[p];
    if (topics_init(&topics[p], pc->topic_prefix, errstr, sizeof(errstr)) != 0)
      goto done;
    for (int i = 0; i < TOPIC__COUNT; i++) {
      const topic_row_t *row = topics_row((topic_id_t)i);
      specs[p * TOPIC__COUNT + (size_t)i] =
          (kafka_topic_spec_t){topics[p].name[i], row->compacted,
                               row->partitions ? row->partitions : (int)pc->kafka_partitions,
                               (int)pc->kafka_replication};
    }
  }
  if (kafka_admin_create_topics(bridge->admin, specs, n, 10000, errstr, sizeof(errstr)) != 0)
    BLOG_W(KAFKA, NULL, "%s", errstr);
done:
  free(specs);
  free(topics);
}

/* The topics exist (or the broker will create them): the group may form. */
static void bridge_topics_done(bridge_t *bridge) {
  bridge->topics_ready = 1;
  loop_unwatch(bridge->w_admin);
  bridge->w_admin = NULL;
  kafka_admin_destroy(bridge->admin); /* done: nobody would serve its queue any more */
  bridge->admin = NULL;
  char errstr[512];
  for (size_t i = 0; i < bridge->n_pbx; i++) {
    if (pbx_topics_ready(bridge->pbx[i], errstr, sizeof(errstr)) != 0) {
      bridge_fatal(bridge, BLOG_CTX_KAFKA, errstr);
      return;
    }
  }
  if (cmd_source_subscribe(bridge->group, errstr, sizeof(errstr)) != 0)
    bridge_fatal(bridge, BLOG_CTX_CMD, errstr);
}

static void bridge_admin_fd(void *arg) {
  bridge_t *bridge = arg;
  char errstr[512];
  if (!bridge->admin || kafka_admin_poll(bridge->admin, errstr, sizeof(errstr)) != 1)
    return;
  if (!errstr[0]) {
    bridge_topics_done(bridge);
  } else if (strstr(errstr, "imed out") || strstr(errstr, "ransport")) {
    BLOG_W(KAFKA, NULL, "%s; asking again", errstr); /* Kafka not there yet */
    bridge->topics_retry_ms = bclock_mono_ms() + 2000;
  } else {
    BLOG_W(KAFKA, NULL, "%s; continuing (the broker may create topics itself)", errstr);
    bridge_topics_done(bridge);
  }
}

static void bridge_tick(lws_sorted_usec_list_t *sul) {
  bridge_t *bridge = lws_container_of(sul, bridge_t, sul_tick);
  if (!bridge_stop) /* the stop's own waits are no stall */
    loop_stall_check(bridge->stall_ms);
  if (bridge->watchdog_usec && bclock_mono_us() - bridge->watchdog_last_us >= (int64_t)bridge->watchdog_usec / 2) {
    bridge_notify("WATCHDOG=1"); /* twice per interval: the loop turns */
    bridge->watchdog_last_us = bclock_mono_us();
  }
  if (!bridge->topics_ready && bridge->topics_retry_ms && bclock_mono_ms() >= bridge->topics_retry_ms) {
    bridge->topics_retry_ms = 0;
    bridge_topics_request(bridge);
  }
  bridge_group_poll(bridge);
  cmd_source_tick(bridge->group, bclock_wall_ms());
  for (size_t i = 0; i < bridge->n_pbx; i++)
    pbx_tick(bridge->pbx[i]);
  if (!bridge_stop)
    ready_watch(bridge->ready);
  lws_sul_schedule(bridge->context, 0, &bridge->sul_tick, bridge_tick, 100 * LWS_US_PER_MS);
}

/* ---- flushes: a millisecond of events per batch ---- */

static void bridge_flush_all(bridge_t *bridge) {
  for (size_t i = 0; i < bridge->n_pbx; i++)
    pbx_flush(bridge->pbx[i]);
}

static void bridge_flush(lws_sorted_usec_list_t *sul) {
  bridge_flush_all(lws_container_of(sul, bridge_t, sul_flush));
}

/*
 * Events wait this long for more to join them before their batch goes to
 * the sink: under load a batch then carries hundreds of events instead of a
 * few, for a millisecond of latency (Kafka's linger is 5 ms anyway).  A
 * timerfd rings it: libwebsockets 4.1 polls with millisecond timeouts and
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

static void bridge_flush_fd(void *arg) {
  bridge_t *bridge = arg;
  uint64_t expirations;
  if (read(bridge->flush_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
    BLOG_W(MAIN, NULL, "flush timer: %s", strerror(errno));
  bridge_flush_all(bridge);
}

/* ---- readiness and the ready file ---- */

/* The process's share of the group: the topics made, the group joined and its assignment given. */
static int bridge_group_ready(void *opaque, char *why, size_t why_size) {
  const bridge_t *bridge = opaque;
  if (!bridge->topics_ready) {
    snprintf(why, why_size, "creating the topics");
    return 0;
  }
  if (!cmd_source_joined(bridge->group)) { /* until then, no PBX is known to be ours or another's */
    snprintf(why, why_size, "joining the group %s", bridge->config->group);
    return 0;
  }
  return 1;
}

/*
 * A configuration error found once the settings are read: one line, as
 * "mtcti3-bridge: <setting>: <error>" or, with log_format=json, as a JSON log line.
 */
static void bridge_config_error(int json, const char *prefix, const char *errstr) {
  if (json)
    blog_write(BLOG_CTX_CONFIG, NULL, BLOG_ERROR, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "", errstr);
  else
    fprintf(stderr, "mtcti3-bridge: %s%s%s\n", prefix ? prefix : "", prefix ? ": " : "", errstr);
}

static void bridge_lws_log(int level, const char *line) {
  char msg[512];
  snprintf(msg, sizeof(msg), "%s", line);
  msg[strcspn(msg, "\n")] = '\0';
  blog_write(BLOG_CTX_PBX, "lws", level & LLL_ERR ? BLOG_WARN : BLOG_DEBUG, "%s", msg);
}

static int bridge_write_ready_file(bridge_t *bridge, char *errstr, size_t errstr_size) {
  char tmp[1024];
  snprintf(tmp, sizeof(tmp), "%s.tmp", bridge->config->ready_file);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    snprintf(errstr, errstr_size, "ready_file: cannot write \"%.200s\": %s", tmp, strerror(errno));
    return -1;
  }
  json_t *ready = json_pack("{s:i,s:s,s:i}", "http_port", bridge->http_port, "kafka_bootstrap",
                            kafka_env_bootstrap(bridge->env), "pid", (int)getpid());
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

/* ---- signals: SIGINT and SIGTERM stop, SIGHUP reloads ---- */

static void bridge_apply_log_settings(const config_t *config) {
  blog_level_t level = BLOG_INFO;
  unsigned debug_mask = 0;
  blog_level_parse(config->log_level, &level);
  blog_debug_parse(config->debug, &debug_mask, NULL, 0); /* checked by config_load's caller */
  blog_setup(level, strcmp(config->log_format, "json") == 0, debug_mask);
  /* libwebsockets' own lines through blog (JSON in JSON mode) */
  lws_set_log_level(LLL_ERR | (blog_enabled(BLOG_CTX_PBX, BLOG_DEBUG) ? LLL_WARN : 0), bridge_lws_log);
}

/* A setting that differs from the running one: what SIGHUP does with it. */
static void bridge_reload_change(void *opaque, const char *name, int reloadable) {
  (void)opaque;
  if (reloadable)
    BLOG_I(CONFIG, NULL, "SIGHUP: %s changed: applied", name);
  else
    BLOG_W(CONFIG, NULL, "SIGHUP: %s changed: takes effect at the next start", name);
}

/* SIGHUP: each PBX's command policy read again (the PBXs are matched by id; a new one waits for a restart). */
static void bridge_reload_policies(bridge_t *bridge, const config_t *fresh) {
  char errstr[512];
  for (size_t i = 0; i < bridge->n_pbx; i++) {
    const char *id = pbx_name(bridge->pbx[i]), *path = NULL;
    for (size_t j = 0; fresh && j < fresh->pbx_count && !path; j++)
      if (strcmp(fresh->pbx[j]->pbx_id, id) == 0)
        path = fresh->pbx[j]->commands_policy_file;
    if (!path)
      path = bridge->config->pbx[i]->commands_policy_file; /* not in the new settings: its file read again */
    if (pbx_policy_reload(bridge->pbx[i], path, errstr, sizeof(errstr)) == 0)
      BLOG_I(CMD, id, "SIGHUP: command policy reloaded%s%s", path[0] ? " from " : ": no policy file, every command allowed",
             path);
    else
      BLOG_E(CMD, id, "SIGHUP: command policy not reloaded, the running one stays: %s", errstr);
  }
}

/*
 * SIGHUP: read the settings again (file, environment, flags), reopen the
 * log (log rotation), and apply what a running bridge can take
 * (CONFIG_RELOAD: log_file, log_level, log_format, debug, loop_stall_ms,
 * commands_policy_file; the policy files are read again even when their
 * names did not change).  Settings that cannot be read, or a policy file
 * that is bad, change nothing of what runs, and the log says why.
 */
static void bridge_reload(bridge_t *bridge) {
  char errstr[512], debug_err[256];
  config_t *fresh = NULL;
  config_action_t action;
  unsigned mask;
  int loaded = config_load(bridge->argc, bridge->argv, environ, stdout, &fresh, &action, errstr, sizeof(errstr)) == 0;
  if (loaded && blog_debug_parse(fresh->debug, &mask, debug_err, sizeof(debug_err)) != 0) {
    snprintf(errstr, sizeof(errstr), "debug: %s", debug_err);
    loaded = 0;
  }
  const char *log_file = loaded && fresh->log_file[0] ? fresh->log_file : bridge->log_file;
  int reopened = blog_open(log_file, debug_err, sizeof(debug_err)) == 0;
  if (!loaded) {
    BLOG_E(CONFIG, NULL, "SIGHUP: settings not reloaded, the running ones stay: %s", errstr);
  } else {
    bridge_apply_log_settings(fresh);
    config_changes(bridge->config, fresh, bridge_reload_change, NULL);
    if (!fresh->log_file[0] && bridge->log_file[0])
      BLOG_W(CONFIG, NULL, "SIGHUP: log_file emptied: the log stays in \"%s\" until the next start", bridge->log_file);
    bridge->stall_ms = fresh->loop_stall_ms;
  }
  if (!reopened)
    BLOG_E(MAIN, NULL, "SIGHUP: %s; the log stays where it was", debug_err);
  else if (log_file[0])
    snprintf(bridge->log_file, sizeof(bridge->log_file), "%s", log_file);
  BLOG_I(MAIN, NULL, "SIGHUP: settings %s, %s%s%s", loaded ? "reloaded" : "kept",
         !log_file[0] ? "log on stderr" : reopened ? "log reopened" : "log not reopened", log_file[0] ? ": " : "",
         log_file);
  bridge_reload_policies(bridge, loaded ? fresh : NULL);
  config_destroy(fresh);
}

static void bridge_on_signal(void *opaque, const char *name, signals_action_t action) {
  bridge_t *bridge = opaque;
  if (action == SIGNALS_RELOAD) {
    bridge_reload(bridge);
    return;
  }
  if (!bridge_stop) {
    BLOG_I(MAIN, NULL, "%s: stopping", name);
    bridge->stop_ms = bclock_mono_ms();
  }
  bridge_stop = 1;
}

/*
 * The loop and the HTTP endpoint: up before anything talks to the network.
 * The PBX vhost comes first: libwebsockets asks the first vhost's first
 * protocol for context-wide answers.
 */
static int bridge_start_loop(bridge_t *bridge, char *errstr, size_t errstr_size) {
  const config_t *config = bridge->config;
  bridge->ready = ready_new();
  bridge->http = bridge->ready ? http_new(bridge->ready) : NULL;
  if (!bridge->http) {
    snprintf(errstr, errstr_size, "http: out of memory");
    return -1;
  }
  loop_protocol(&bridge->protocols[0]);

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

  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = bridge->protocols;
  info.vhost_name = "main";
  bridge->main_vhost = lws_create_vhost(bridge->context, &info);
  if (!bridge->main_vhost) {
    snprintf(errstr, errstr_size, "libwebsockets: cannot create the main vhost");
    return -1;
  }

  if (config->http_listen[0] &&
      http_listen(bridge->http, bridge->context, config->http_listen, &bridge->http_port, errstr, errstr_size) != 0) {
    bridge->bad_setting = 1;
    return -1;
  }
  bridge->signals = signals_watch(bridge->main_vhost, bridge_on_signal, bridge, errstr, errstr_size);
  return bridge->signals ? 0 : -1;
}

/*
 * Build every stage; 0, or -1 with errstr (the caller tears down).  The
 * loop and the HTTP endpoint first, before any client of Kafka, Redis or
 * a PBX exists.
 */
static int bridge_start(bridge_t *bridge, char *errstr, size_t errstr_size) {
  const config_t *config = bridge->config;
  if (bridge_start_loop(bridge, errstr, errstr_size) != 0)
    return -1;
  bridge->env = kafka_env_new(config, errstr, errstr_size);
  if (!bridge->env)
    return -1;
  if (kafka_env_embedded(bridge->env)) {
    for (size_t p = 0; p < config->pbx_count; p++) {
      topics_t topics;
      if (topics_init(&topics, config->pbx[p]->topic_prefix, errstr, errstr_size) != 0)
        return -1;
      for (int i = 0; i < TOPIC__COUNT; i++) {
        const topic_row_t *row = topics_row((topic_id_t)i);
        kafka_env_mock_topic(bridge->env, topics.name[i], row->partitions ? row->partitions : (int)config->kafka_partitions);
      }
    }
    printf("embedded Kafka bootstrap: %s\n", kafka_env_bootstrap(bridge->env));
    fflush(stdout);
  }
  bridge->group = cmd_source_new(config, bridge->env, errstr, errstr_size);
  if (!bridge->group)
    return -1;
  ready_add(bridge->ready, NULL, READY_KAFKA, kafka_env_ready, bridge->env);
  ready_add(bridge->ready, NULL, READY_GROUP, bridge_group_ready, bridge);
  if (config->commands && config->redis_url[0]) {
    redis_client_config_t rconf;
    redis_client_config_init(&rconf);
    rconf.url = config->redis_url;
    rconf.password = config->redis_password;
    rconf.timeout_ms = (int)config->redis_timeout_ms;
    rconf.name = "commands";
    if (redis_client_new(&rconf, bridge->context, &bridge->redis, errstr, errstr_size) != 0)
      return -1;
    ready_add(bridge->ready, NULL, READY_REDIS, redis_client_ready, bridge->redis);
  } else if (config->commands) {
    BLOG_W(CMD, NULL, "commands=true but no redis_url: commands are off (no command runs without its claim)");
  }
  bridge->pbx = calloc(config->pbx_count, sizeof(*bridge->pbx));
  if (!bridge->pbx) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  pbx_shared_t shared = {bridge->env, bridge->context, bridge->redis, bridge->group, bridge_request_flush, bridge};
  for (size_t p = 0; p < config->pbx_count; p++) {
    bridge->pbx[p] = pbx_new(config->pbx[p], &shared, errstr, errstr_size);
    if (!bridge->pbx[p])
      return -1;
    bridge->n_pbx++;
    pbx_ready_add(bridge->pbx[p], bridge->ready);
    int rc = pbx_start(bridge->pbx[p], errstr, errstr_size);
    if (rc != 0) {
      bridge->bad_setting = rc == PBX_BAD_SETTING;
      return -1;
    }
  }
  bridge->w_group = loop_watch(bridge->main_vhost, cmd_source_fd(bridge->group), bridge_group_fd, bridge, errstr,
                               errstr_size);
  if (!bridge->w_group)
    return -1;
  bridge->flush_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (bridge->flush_fd >= 0 && !(bridge->w_flush = loop_watch(bridge->main_vhost, bridge->flush_fd, bridge_flush_fd,
                                                               bridge, errstr, errstr_size))) {
    BLOG_W(MAIN, NULL, "%s; flushing at the end of each loop turn", errstr);
    close(bridge->flush_fd);
    bridge->flush_fd = -1;
  }
  if (config->kafka_create_topics && !kafka_env_embedded(bridge->env)) {
    bridge->admin = kafka_admin_new(bridge->env, errstr, errstr_size);
    if (!bridge->admin)
      return -1;
    bridge->w_admin = loop_watch(bridge->main_vhost, kafka_admin_fd(bridge->admin), bridge_admin_fd, bridge, errstr,
                                 errstr_size);
    if (!bridge->w_admin)
      return -1;
    bridge_topics_request(bridge);
  } else {
    bridge_topics_done(bridge);
  }
  lws_sul_schedule(bridge->context, 0, &bridge->sul_tick, bridge_tick, 100 * LWS_US_PER_MS);
  if (config->ready_file[0] && bridge_write_ready_file(bridge, errstr, errstr_size) != 0)
    return -1;
  return 0;
}

static void bridge_wake(lws_sorted_usec_list_t *sul) { (void)sul; }

/* One loop turn while stopping: what is ready is served, and it waits 20 ms at most (a half-built bridge has no tick). */
static void bridge_service_briefly(bridge_t *bridge) {
  if (!bridge->context)
    return;
  lws_sul_schedule(bridge->context, 0, &bridge->sul_wake, bridge_wake, 20 * LWS_US_PER_MS);
  lws_service(bridge->context, 0);
}

/* Milliseconds from now until `end_ms` (monotonic), never below 0. */
static int bridge_ms_until(int64_t end_ms) {
  int64_t left = end_ms - bclock_mono_ms();
  return left > 0 ? (int)left : 0;
}

/*
 * Take everything down; safe on a half-built bridge.  A clean hand-over:
 * read no more commands, let the decided ones be recorded and confirmed,
 * commit what each PBX has produced, then leave the group (the PBXs move to
 * another instance at once), then close the links.  Bounded by BRIDGE_STOP_*.
 */
static void bridge_stop_all(bridge_t *bridge) {
  if (!bridge->stop_ms)
    bridge->stop_ms = bclock_mono_ms();
  if (bridge->ready) /* before the stages its probes read go */
    ready_stop(bridge->ready, bridge->fatal ? "stopping (fatal error)" : "stopping");
  if (bridge->group && bridge->context) {
    cmd_source_stopping(bridge->group);
    for (;;) {
      int settling = 0;
      for (size_t i = 0; i < bridge->n_pbx; i++)
        settling |= pbx_settling(bridge->pbx[i]);
      if (!settling || !bridge_ms_until(bridge->stop_ms + BRIDGE_STOP_COMMANDS_MS))
        break;
      bridge_service_briefly(bridge);
      bridge_group_poll(bridge);
    }
  }
  /* what Kafka commits now is still acknowledged to the PBX; with every broker away, nothing will be */
  int64_t sink_end = bridge->stop_ms + BRIDGE_STOP_SINK_MS;
  if (bridge->env && kafka_env_outage(bridge->env) && sink_end > bclock_mono_ms() + BRIDGE_STOP_OUTAGE_MS)
    sink_end = bclock_mono_ms() + BRIDGE_STOP_OUTAGE_MS;
  for (size_t i = 0; i < bridge->n_pbx; i++)
    pbx_stop(bridge->pbx[i], bridge_ms_until(sink_end));
  int group_left = bridge_ms_until(sink_end + BRIDGE_STOP_GROUP_MS);
  cmd_source_stop(bridge->group, group_left > 500 ? group_left : 500);
  for (int i = 0; i < 5; i++) /* the last acks and the close go out */
    bridge_service_briefly(bridge);
  signals_destroy(bridge->signals);
  loop_unwatch(bridge->w_admin);
  loop_unwatch(bridge->w_group);
  loop_unwatch(bridge->w_flush);
  for (size_t i = 0; i < bridge->n_pbx; i++)
    pbx_destroy(bridge->pbx[i]);
  free(bridge->pbx);
  cmd_source_destroy(bridge->group);
  redis_client_destroy(bridge->redis); /* before the loop it runs on */
  if (bridge->context) {
    lws_sul_cancel(&bridge->sul_tick);
    lws_sul_cancel(&bridge->sul_flush);
    lws_sul_cancel(&bridge->sul_group);
    lws_sul_cancel(&bridge->sul_wake);
    lws_context_destroy(bridge->context);
  }
  if (bridge->flush_fd >= 0)
    close(bridge->flush_fd);
  kafka_admin_destroy(bridge->admin);
  kafka_env_destroy(bridge->env);
  http_destroy(bridge->http);
  ready_destroy(bridge->ready);
}

/* The command policy files, read once before anything starts: a bad one is a bad setting. */
static int bridge_check_policy(const config_t *config, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < config->pbx_count; i++) {
    const char *path = config->pbx[i]->commands_policy_file;
    cmd_policy_t *policy = NULL;
    char why[400];
    if (!path[0])
      continue;
    if (cmd_policy_load(path, &policy, why, sizeof(why)) != 0) {
      snprintf(errstr, errstr_size, "commands_policy_file: %s", why);
      return -1;
    }
    cmd_policy_free(policy);
  }
  return 0;
}

int main(int argc, char **argv) {
  bridge_t bridge;
  config_action_t action;
  char errstr[512];
  int status = 0;
  memset(&bridge, 0, sizeof(bridge));
  bridge.flush_fd = -1;
  bridge.argc = argc;
  bridge.argv = argv;

  if (signals_block(errstr, sizeof(errstr)) != 0) { /* before any thread: every thread inherits the mask */
    fprintf(stderr, "mtcti3-bridge: %s\n", errstr);
    return 1;
  }
  if (config_load(argc, argv, environ, stdout, &bridge.config, &action, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "mtcti3-bridge: %s\n", errstr);
    return 2;
  }
  if (action == CONFIG_EXIT_OK) {
    config_destroy(bridge.config);
    return 0;
  }
  unsigned debug_mask = 0;
  int json = strcmp(bridge.config->log_format, "json") == 0;
  blog_setup(BLOG_INFO, json, 0);
  if (blog_debug_parse(bridge.config->debug, &debug_mask, errstr, sizeof(errstr)) != 0) {
    bridge_config_error(json, "debug", errstr);
    config_destroy(bridge.config);
    return 2;
  }
  bridge_apply_log_settings(bridge.config);
  if (kafka_client_check_config(bridge.config, errstr, sizeof(errstr)) != 0 ||
      bridge_check_policy(bridge.config, errstr, sizeof(errstr)) != 0) {
    bridge_config_error(json, NULL, errstr);
    config_destroy(bridge.config);
    return 2;
  }
  if (action == CONFIG_CHECK) {
    printf("configuration ok\n");
    config_destroy(bridge.config);
    return 0;
  }
  if (blog_open(bridge.config->log_file, errstr, sizeof(errstr)) != 0) {
    bridge_config_error(json, NULL, errstr);
    config_destroy(bridge.config);
    return 2;
  }
  snprintf(bridge.log_file, sizeof(bridge.log_file), "%s", bridge.config->log_file);
  bridge.stall_ms = bridge.config->loop_stall_ms;
  metrics_build_info("librdkafka", rd_kafka_version_str());
  metrics_build_info("libwebsockets", lws_get_library_version());
  metrics_build_info("openssl", OpenSSL_version(OPENSSL_VERSION_STRING));
  srandom((unsigned)time(NULL) ^ (unsigned)getpid());

  BLOG_I(MAIN, NULL, "mtcti3-bridge %s starting (pid %d): %zu PBX(s), group %s", MTCTI3_VERSION, (int)getpid(),
         bridge.config->pbx_count, bridge.config->group);
  if (bridge_start(&bridge, errstr, sizeof(errstr)) != 0) {
    if (bridge.bad_setting) /* the one line of a configuration error */
      bridge_config_error(json, NULL, errstr);
    else
      BLOG_E(MAIN, NULL, "%s", errstr);
    status = bridge.bad_setting ? 2 : 1;
    goto done;
  }
  bridge.watchdog_usec = bridge_watchdog_usec();
  bridge.watchdog_last_us = bclock_mono_us();
  bridge_notify("READY=1\nSTATUS=running");
  while (!bridge_stop) {
    if (lws_service(bridge.context, 0) < 0)
      break;
  }
  status = bridge.fatal ? 1 : 0;
done:
  bridge_notify("STOPPING=1\nSTATUS=stopping");
  bridge_stop_all(&bridge);
  BLOG_I(MAIN, NULL, "stopped in %.1f s, exit status %d", (double)(bclock_mono_ms() - bridge.stop_ms) / 1000.0,
         status);
  config_destroy(bridge.config);
  metrics_reset();
  return status;
}
