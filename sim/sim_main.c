/*
 * ipo-sim: an Avaya IP Office simulator speaking MTCTI3 (docs/sim.md).
 *
 * DESIGN: main wires the modules together and runs the one service thread:
 * options -> TLS material -> model -> lws context -> call engine ->
 * subscriptions (one engine per system: the primary, and the secondary of a
 * resilient pair) -> load generator -> control API -> listeners -> ready
 * file -> serve until SIGINT/SIGTERM.  The model announces changes to the
 * call engine and every system's subscriptions; the call engine announces
 * leg changes to every system's subscriptions, each keeping what it shows.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_calls.h"
#include "sim_ctl.h"
#include "sim_log.h"
#include "sim_model.h"
#include "sim_opts.h"
#include "sim_server.h"
#include "sim_subs.h"
#include "sim_tls.h"
#include "sim_traffic.h"

static sim_server_t *the_server;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  stop_signal = sig;
  if (the_server)
    sim_server_stop(the_server);
}

typedef struct app {
  sim_calls_t *calls;
  sim_subs_t *subs[SIM_MAX_SYSTEMS];
  int n_subs;
} app_t;

static const char *const system_names[SIM_MAX_SYSTEMS] = {"primary", "secondary"};

static void model_observer(void *ctx, sim_model_event_t ev, void *record) {
  app_t *app = ctx;
  if (app->calls)
    sim_calls_model_event(app->calls, ev, record);
  for (int i = 0; i < app->n_subs; i++)
    sim_subs_model_event(app->subs[i], ev, record);
}

static void leg_observer(void *ctx, const sim_leg_event_t *ev) {
  app_t *app = ctx;
  for (int i = 0; i < app->n_subs; i++)
    sim_subs_leg_event(app->subs[i], ev);
}

/* Write the ready file atomically: clients poll for it and must never read half of it. */
static int write_ready(const char *path, sim_server_t *server, const char *ca_file, char *errstr,
                       size_t errstr_size) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  json_t *systems = json_array();
  for (int i = 0; i < sim_server_system_count(server); i++) {
    char url[128];
    snprintf(url, sizeof url, "wss://127.0.0.1:%d/tpkt/openapi", sim_server_system_port(server, i));
    json_array_append_new(systems, json_pack("{s:s,s:i,s:s}", "name",
                                             sim_server_system_name(server, i), "wss_port",
                                             sim_server_system_port(server, i), "url", url));
  }
  json_t *o = json_pack("{s:i,s:i,s:s,s:i,s:o}", "wss_port", sim_server_system_port(server, 0),
                        "control_port", sim_server_control_port(server), "ca_file",
                        ca_file ? ca_file : "", "pid", (int)getpid(), "systems", systems);
  if (!o || json_dump_file(o, tmp, JSON_COMPACT) != 0 || rename(tmp, path) != 0) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    json_decref(o);
    unlink(tmp);
    return -1;
  }
  json_decref(o);
  return 0;
}

int main(int argc, char **argv) {
  sim_opts_t opts;
  char errstr[512];
  char listen_addr[128], second_addr[128], ctl_addr[128], tls_dir[1024] = "", cert[1100],
      key[1100], ca[4200] = "";
  int listen_port, second_port = 0, ctl_port, rc = 1;
  sim_log_level_t level;
  sim_model_t *model = NULL;
  sim_server_t *server = NULL;
  sim_ctl_t *ctl = NULL;
  sim_traffic_t *traffic = NULL;
  app_t app = {NULL, {NULL}, 0};

  if (sim_opts_parse(&opts, argc, argv, errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: %s\n", errstr);
    return 2;
  }
  if (opts.help) {
    sim_opts_usage(stdout, "ipo-sim");
    return 0;
  }
  if (opts.help_markdown) {
    printf("### Options\n\n");
    sim_opts_markdown(stdout);
    printf("\n### Control API\n\n");
    sim_ctl_markdown(stdout);
    return 0;
  }
  if (opts.version) {
    printf("ipo-sim %s\n", MTCTI3_VERSION);
    return 0;
  }
  if (sim_log_level_parse(opts.log_level, &level)) {
    fprintf(stderr, "ipo-sim: --log-level: '%s' is not error, warn, info or debug\n", opts.log_level);
    return 2;
  }
  sim_log_set_level(level);
  if (sim_opts_split_addr(opts.listen, listen_addr, sizeof listen_addr, &listen_port) ||
      sim_opts_split_addr(opts.control, ctl_addr, sizeof ctl_addr, &ctl_port) ||
      (opts.secondary &&
       sim_opts_split_addr(opts.secondary, second_addr, sizeof second_addr, &second_port))) {
    fprintf(stderr, "ipo-sim: --listen, --secondary and --control take ADDR:PORT\n");
    return 2;
  }
  if (sim_opts_load_password(&opts, errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: %s\n", errstr);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  /* TLS material: given, or generated into a directory. */
  if (opts.cert) {
    snprintf(cert, sizeof cert, "%s", opts.cert);
    snprintf(key, sizeof key, "%s", opts.key);
  } else {
    if (opts.tls_dir) {
      snprintf(tls_dir, sizeof tls_dir, "%s", opts.tls_dir);
    } else {
      const char *tmpdir = getenv("TMPDIR");
      snprintf(tls_dir, sizeof tls_dir, "%s/ipo-sim-tls-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
      if (!mkdtemp(tls_dir)) {
        fprintf(stderr, "ipo-sim: %s: %s\n", tls_dir, strerror(errno));
        return 1;
      }
    }
    if (sim_tls_ensure(tls_dir, errstr, sizeof errstr)) {
      fprintf(stderr, "ipo-sim: TLS: %s\n", errstr);
      return 1;
    }
    snprintf(cert, sizeof cert, "%s/server.pem", tls_dir);
    snprintf(key, sizeof key, "%s/server.key", tls_dir);
    /* Clients get an absolute path to the CA in the ready file. */
    char abs[4096];
    snprintf(ca, sizeof ca, "%s/ca.pem", realpath(tls_dir, abs) ? abs : tls_dir);
  }

  if (opts.model_file ? sim_model_load(opts.model_file, &model, errstr, sizeof errstr)
                      : sim_model_generate(opts.users, opts.queues, (unsigned)opts.seed, &model,
                                           errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: model: %s\n", errstr);
    goto done;
  }

  sim_server_config_t cfg = {ctl_addr, ctl_port, cert, key, opts.insecure_plain_ws,
                             opts.max_connections, (size_t)opts.max_payload, opts.service_user,
                             opts.password};
  const char *addrs[SIM_MAX_SYSTEMS] = {listen_addr, second_addr};
  const int ports[SIM_MAX_SYSTEMS] = {listen_port, second_port};
  int n_systems = opts.secondary ? 2 : 1;
  if (sim_server_new(&cfg, &server, errstr, sizeof errstr) ||
      sim_calls_new(model, sim_server_timers(server), opts.ring_ms, &app.calls, errstr,
                    sizeof errstr))
    goto fail;
  for (int i = 0; i < n_systems; i++) {
    if (sim_subs_new(model, app.calls, sim_server_lws(server), sim_server_timers(server), i,
                     &app.subs[i], errstr, sizeof errstr))
      goto fail;
    app.n_subs++;
    if (sim_server_add_system(server, system_names[i], addrs[i], ports[i], app.subs[i], errstr,
                              sizeof errstr))
      goto fail;
  }
  if (sim_traffic_new(model, app.calls, sim_server_timers(server), (unsigned)opts.seed,
                      opts.ring_ms, &traffic, errstr, sizeof errstr) ||
      sim_ctl_new(model, app.calls, &ctl, errstr, sizeof errstr))
    goto fail;
  sim_model_observe(model, model_observer, &app);
  sim_calls_observe(app.calls, leg_observer, &app);
  sim_ctl_set_server(ctl, server);
  sim_ctl_set_traffic(ctl, traffic);
  if (sim_server_start(server, model, sim_ctl_http_protocol(), ctl, errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: %s\n", errstr);
    goto done;
  }
  if (opts.scenario && sim_traffic_scenario(traffic, ctl, opts.scenario, errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: scenario: %s\n", errstr);
    goto done;
  }
  if (opts.calls_per_second > 0)
    sim_traffic_set_rate(traffic, opts.calls_per_second);
  if (opts.user_changes_per_second > 0)
    sim_traffic_set_churn(traffic, opts.user_changes_per_second);
  sim_log(SIM_LOG_INFO, "main", "ipo-sim %s: %zu users, %zu queues, %s, service user '%s'%s%s",
          MTCTI3_VERSION, sim_model_user_count(model), sim_model_queue_count(model),
          n_systems == 2 ? "a resilient pair" : "one system", opts.service_user,
          ca[0] ? ", CA " : "", ca);
  if (opts.ready_file && write_ready(opts.ready_file, server, ca, errstr, sizeof errstr)) {
    fprintf(stderr, "ipo-sim: ready file: %s\n", errstr);
    goto done;
  }
  the_server = server;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  rc = sim_server_run(server) ? 1 : 0;
  sim_log(SIM_LOG_INFO, "main", "stopping (%s)",
          stop_signal == SIGINT ? "SIGINT" : stop_signal == SIGTERM ? "SIGTERM" : "service failure");
  goto done;
fail:
  fprintf(stderr, "ipo-sim: %s\n", errstr);
done:
  the_server = NULL;
  /*
   * Timers live with the lws context: everything that schedules them stops
   * before it goes.  Connections close while the context is destroyed and
   * still reach the subscriptions, which are freed last.
   */
  sim_traffic_free(traffic);
  sim_ctl_free(ctl);
  for (int i = 0; i < app.n_subs; i++)
    sim_subs_quiesce(app.subs[i]);
  sim_calls_free(app.calls);
  app.calls = NULL;
  sim_server_free(server);
  for (int i = 0; i < app.n_subs; i++)
    sim_subs_free(app.subs[i]);
  app.n_subs = 0;
  sim_model_free(model);
  return rc;
}
