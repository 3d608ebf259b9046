/*
 * kafka_client: the factory of the bridge's Kafka clients.  See kafka_client.h.
 */
#include "kafka_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka_mock.h>

#include "bclock.h"
#include "blog.h"
#include "metrics.h"

static const char *const kafka_client_role_names[] = {
#define KAFKA_CLIENT_X_NAME(e, n, t) n,
    KAFKA_CLIENT_ROLES(KAFKA_CLIENT_X_NAME)
#undef KAFKA_CLIENT_X_NAME
};
static const rd_kafka_type_t kafka_client_role_types[] = {
#define KAFKA_CLIENT_X_TYPE(e, n, t) t,
    KAFKA_CLIENT_ROLES(KAFKA_CLIENT_X_TYPE)
#undef KAFKA_CLIENT_X_TYPE
};

static const struct {
  unsigned roles;
  const char *name, *value, *why;
} kafka_client_defaults[] = {
#define KAFKA_CLIENT_X_DEFAULT(r, n, v, w) {KAFKA_CLIENT_ROLE_##r, n, v, w},
    KAFKA_CLIENT_DEFAULTS(KAFKA_CLIENT_X_DEFAULT)
#undef KAFKA_CLIENT_X_DEFAULT
};
#define KAFKA_CLIENT_NDEFAULTS (sizeof(kafka_client_defaults) / sizeof(kafka_client_defaults[0]))

struct kafka_env {
  const config_t *config;
  char *bootstrap;
  rd_kafka_t *mock_rk;
  rd_kafka_mock_cluster_t *mock;
  pthread_mutex_t lock; /* clients live on several threads: the fields below */
  int outage;           /* every broker unreachable, as last reported */
  int64_t outage_since_ms;
  char outage_reason[256];
  int64_t last_up_ms;       /* a client last saw a broker up (statistics) or a commit went through; 0: never */
  int64_t failing_since_ms; /* the first connection failure since then; 0: none */
  char last_failure[256];
};

/* ---- logs, errors, statistics ---- */

static void kafka_client_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  blog_level_t l = level <= 3 ? BLOG_ERROR : level <= 4 ? BLOG_WARN : level <= 6 ? BLOG_INFO : BLOG_DEBUG;
  char inst[160];
  snprintf(inst, sizeof(inst), "%s %s", rd_kafka_name(rk), fac);
  if (l != BLOG_DEBUG || blog_enabled(BLOG_CTX_KAFKA, BLOG_DEBUG))
    blog_write(BLOG_CTX_KAFKA, inst, l, "%s", buf);
}

static kafka_env_t *kafka_client_env(rd_kafka_t *rk);

/*
 * How an outage is seen.  Its start: a client's ALL_BROKERS_DOWN (not
 * every client raises it: a transactional producer's coordinator keeps it
 * from ever counting every broker down), or a client's statistics with no
 * broker up after a connection failure, no client having seen one up for
 * KAFKA_ENV_UP_STALE_MS (the statistics come every 5 s); it started at the
 * first connection failure since a broker was last seen up (a connection
 * that could not be made or set up: one closed for being idle is none).
 * Its end: a client's statistics with a broker up, or a transaction
 * committed.  Logged once each, however many clients report them.
 */
#define KAFKA_ENV_UP_STALE_MS 6000
#define KAFKA_ENV_ALL_DOWN_STALE_MS 2000 /* an ALL_BROKERS_DOWN queued before the end, served after it */

static void kafka_env_outage_begin(kafka_env_t *env, const char *reason, int64_t stale_ms) {
  pthread_mutex_lock(&env->lock);
  int64_t now = bclock_mono_ms();
  int first = !env->outage && (!env->last_up_ms || now - env->last_up_ms > stale_ms);
  if (first) {
    env->outage = 1;
    env->outage_since_ms = env->failing_since_ms ? env->failing_since_ms : now;
    snprintf(env->outage_reason, sizeof(env->outage_reason), "%s", reason);
  }
  pthread_mutex_unlock(&env->lock);
  if (first)
    BLOG_E(KAFKA, NULL, "Kafka unreachable (%s): events and commands wait", reason);
}

/* A connection failed: the start of an outage, if one is found later. */
static void kafka_env_failure(kafka_env_t *env, const char *reason) {
  pthread_mutex_lock(&env->lock);
  if (!env->failing_since_ms)
    env->failing_since_ms = bclock_mono_ms();
  snprintf(env->last_failure, sizeof(env->last_failure), "%s", reason);
  pthread_mutex_unlock(&env->lock);
}

/* Some broker answers: the end of an outage, if there is one, with its duration. */
static void kafka_env_outage_end(kafka_env_t *env) {
  pthread_mutex_lock(&env->lock);
  int was = env->outage;
  int64_t since = env->outage_since_ms, now = bclock_mono_ms();
  env->outage = 0;
  env->last_up_ms = now;
  env->failing_since_ms = 0;
  pthread_mutex_unlock(&env->lock);
  if (was)
    BLOG_W(KAFKA, NULL, "Kafka reachable again after %.1f s", (double)(now - since) / 1000.0);
}

void kafka_env_reachable(kafka_env_t *env) {
  if (env)
    kafka_env_outage_end(env);
}

int kafka_env_ready(void *opaque, char *why, size_t why_size) {
  kafka_env_t *env = opaque;
  pthread_mutex_lock(&env->lock);
  int outage = env->outage;
  if (outage)
    snprintf(why, why_size, "every broker unreachable for %lld s: %s",
             (long long)(bclock_mono_ms() - env->outage_since_ms) / 1000, env->outage_reason);
  pthread_mutex_unlock(&env->lock);
  return !outage;
}

int kafka_env_outage(kafka_env_t *env) {
  pthread_mutex_lock(&env->lock);
  int outage = env->outage;
  pthread_mutex_unlock(&env->lock);
  return outage;
}

static void kafka_client_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  kafka_env_t *env = kafka_client_env(rk);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    if (env)
      kafka_env_outage_begin(env, reason, KAFKA_ENV_ALL_DOWN_STALE_MS);
  } else if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char fatal[256];
    rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
    BLOG_E(KAFKA, rd_kafka_name(rk), "fatal: %s", fatal);
  } else if (err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE) {
    /* a connection the client needs cannot be made (not a connection closed for being idle) */
    if (env && (err == RD_KAFKA_RESP_ERR__RESOLVE || strstr(reason, "Connect to ") || strstr(reason, "timed out")))
      kafka_env_failure(env, reason);
    BLOG_D(KAFKA, rd_kafka_name(rk), "%s", reason); /* an outage is logged once, at its start */
  } else {
    BLOG_W(KAFKA, rd_kafka_name(rk), "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
  }
}

/*
 * librdkafka's statistics (JSON, every statistics.interval.ms, on the thread
 * that serves the client): the figures /metrics shows, per client
 * (metrics_client_set is thread-safe), and the end of an outage.
 */
static int kafka_client_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque) {
  kafka_env_t *env = kafka_client_env(rk);
  json_t *root = env ? json_loadb(json, json_len, 0, NULL) : NULL;
  if (!root)
    return 0;
  const char *client = rd_kafka_name(rk);
  int up = 0, brokers = 0;
  const char *bname;
  json_t *b;
  json_object_foreach(json_object_get(root, "brokers"), bname, b) {
    const char *source = json_string_value(json_object_get(b, "source"));
    const char *state = json_string_value(json_object_get(b, "state"));
    if (!source || strcmp(source, "logical") != 0) /* not a coordinator's alias: a broker, or a bootstrap one */
      brokers++;
    if (json_integer_value(json_object_get(b, "nodeid")) < 0)
      continue; /* a bootstrap placeholder, a coordinator's alias */
    if (state && strcmp(state, "UP") == 0) {
      up++;
      metrics_client_set(METRICS_CLIENT_KAFKA_BROKER_RTT, client, bname,
                         (double)json_integer_value(json_object_get(json_object_get(b, "rtt"), "avg")) / 1e6);
    }
    metrics_client_set(METRICS_CLIENT_KAFKA_OUTQ, client, bname,
                       (double)json_integer_value(json_object_get(b, "outbuf_cnt")));
  }
  if (rd_kafka_type(rk) == RD_KAFKA_PRODUCER) {
    metrics_client_set(METRICS_CLIENT_KAFKA_PRODUCE_QUEUE, client, NULL,
                       (double)json_integer_value(json_object_get(root, "msg_cnt")));
    metrics_client_set(METRICS_CLIENT_KAFKA_PRODUCE_QUEUE_BYTES, client, NULL,
                       (double)json_integer_value(json_object_get(root, "msg_size")));
  } else {
    const char *tname, *pname;
    json_t *t, *p;
    json_object_foreach(json_object_get(root, "topics"), tname, t) {
      json_object_foreach(json_object_get(t, "partitions"), pname, p) {
        json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
        char label[300];
        if (strcmp(pname, "-1") == 0 || lag < 0)
          continue;
        snprintf(label, sizeof(label), "%s/%s", tname, pname);
        metrics_client_set(METRICS_CLIENT_KAFKA_CONSUMER_LAG, client, label, (double)lag);
      }
    }
  }
  json_decref(root);
  if (up > 0) {
    kafka_env_outage_end(env);
  } else if (brokers > 0) {
    char reason[300];
    pthread_mutex_lock(&env->lock);
    int failing = env->failing_since_ms != 0;
    snprintf(reason, sizeof(reason), "no broker up: %s", env->last_failure);
    pthread_mutex_unlock(&env->lock);
    if (failing)
      kafka_env_outage_begin(env, reason, KAFKA_ENV_UP_STALE_MS);
  }
  return 0; /* librdkafka frees json */
}

/* ---- the environment ---- */

static kafka_env_t *kafka_env_current; /* one per process: the callbacks find it here */

static kafka_env_t *kafka_client_env(rd_kafka_t *rk) { return kafka_env_current; }

kafka_env_t *kafka_env_new(const config_t *config, char *errstr, size_t errstr_size) {
  kafka_env_t *env = calloc(1, sizeof(*env));
  char err[256];
  if (!env) {
    snprintf(errstr, errstr_size, "kafka: out of memory");
    return NULL;
  }
  env->config = config;
  pthread_mutex_init(&env->lock, NULL);
  if (strcmp(config->kafka_bootstrap, "embedded") == 0) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_client_log);
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err)); /* it has no brokers of its own: quiet */
    rd_kafka_conf_set(conf, "client.id", "mtcti3-bridge-embedded", err, sizeof(err));
    env->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!env->mock_rk) {
      rd_kafka_conf_destroy(conf);
      snprintf(errstr, errstr_size, "kafka_bootstrap: embedded cluster: %s", err);
      goto fail;
    }
    env->mock = rd_kafka_mock_cluster_new(env->mock_rk, 1);
    if (!env->mock) {
      snprintf(errstr, errstr_size, "kafka_bootstrap: cannot start the embedded cluster");
      goto fail;
    }
    env->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(env->mock));
    BLOG_W(KAFKA, "embedded",
           "kafka_bootstrap=embedded: an in-process mock cluster that keeps nothing (demo only); "
           "consume from it at %s",
           env->bootstrap ? env->bootstrap : "?");
  } else {
    env->bootstrap = strdup(config->kafka_bootstrap);
  }
  if (!env->bootstrap) {
    snprintf(errstr, errstr_size, "kafka: out of memory");
    goto fail;
  }
  kafka_env_current = env;
  return env;
fail:
  kafka_env_destroy(env);
  return NULL;
}

void kafka_env_destroy(kafka_env_t *env) {
  if (!env)
    return;
  if (kafka_env_current == env)
    kafka_env_current = NULL;
  if (env->mock)
    rd_kafka_mock_cluster_destroy(env->mock);
  if (env->mock_rk)
    rd_kafka_destroy(env->mock_rk);
  pthread_mutex_destroy(&env->lock);
  free(env->bootstrap);
  free(env);
}

const char *kafka_env_bootstrap(const kafka_env_t *env) { return env->bootstrap; }
int kafka_env_embedded(const kafka_env_t *env) { return env->mock != NULL; }

void kafka_env_mock_topic(kafka_env_t *env, const char *topic, int partitions) {
  if (env->mock)
    rd_kafka_mock_topic_create(env->mock, topic, partitions, 1);
}

/* ---- clients ---- */

/* One property; 0, or -1 with errstr "kafka.<name>: <why>". */
static int kafka_client_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                            size_t errstr_size) {
  char err[256];
  if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
    snprintf(errstr, errstr_size, "kafka.%s: %s", name, err);
    return -1;
  }
  return 0;
}

static void kafka_client_log_nothing(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {}

/*
 * Each property as rd_kafka_conf_set sees it, then the whole configuration
 * as rd_kafka_new sees it (the events producer with the bridge's defaults
 * and no bootstrap servers: it connects nowhere), so what librdkafka would
 * refuse at start (acks=1 with idempotence, an unknown SASL mechanism, an
 * unreadable ssl.ca.location) is refused here, before anything starts.
 */
int kafka_client_check_config(const config_t *config, char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512];
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < KAFKA_CLIENT_NDEFAULTS; i++)
    if (kafka_client_defaults[i].roles & KAFKA_CLIENT_ROLE_E)
      rc = kafka_client_set(conf, kafka_client_defaults[i].name, kafka_client_defaults[i].value, errstr,
                            errstr_size);
  for (size_t i = 0; rc == 0 && i < config->kafka_count; i++)
    rc = kafka_client_set(conf, config->kafka[i].name, config->kafka[i].value, errstr, errstr_size);
  if (rc != 0) {
    rd_kafka_conf_destroy(conf);
    return rc;
  }
  rd_kafka_conf_set_log_cb(conf, kafka_client_log_nothing); /* "no bootstrap.servers": true, and expected */
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, errstr_size, "kafka: %s", err);
    return -1;
  }
  rd_kafka_destroy(rk);
  return 0;
}

rd_kafka_t *kafka_client_new(kafka_env_t *env, const kafka_client_spec_t *spec, char *errstr,
                             size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  char err[512], client_id[200];
  unsigned role = 1u << spec->role;
  snprintf(client_id, sizeof(client_id), "mtcti3-bridge-%s", spec->name);
  if (kafka_client_set(conf, "bootstrap.servers", env->bootstrap, errstr, errstr_size) != 0 ||
      kafka_client_set(conf, "client.id", client_id, errstr, errstr_size) != 0 ||
      kafka_client_set(conf, "log.queue", "true", errstr, errstr_size) != 0 ||
      kafka_client_set(conf, "statistics.interval.ms", "5000", errstr, errstr_size) != 0)
    goto fail;
  for (size_t i = 0; i < KAFKA_CLIENT_NDEFAULTS; i++)
    if ((kafka_client_defaults[i].roles & role) &&
        kafka_client_set(conf, kafka_client_defaults[i].name, kafka_client_defaults[i].value, errstr,
                         errstr_size) != 0)
      goto fail;
  for (size_t i = 0; i < env->config->kafka_count; i++) {
    const config_kv_t *kv = &env->config->kafka[i];
    if (kafka_client_set(conf, kv->name, kv->value, errstr, errstr_size) != 0)
      goto fail;
  }
  if (spec->group_id && kafka_client_set(conf, "group.id", spec->group_id, errstr, errstr_size) != 0)
    goto fail;
  if (spec->transactional_id &&
      kafka_client_set(conf, "transactional.id", spec->transactional_id, errstr, errstr_size) != 0)
    goto fail;
  for (const char *const *f = spec->forced; f && f[0]; f += 2)
    if (kafka_client_set(conf, f[0], f[1], errstr, errstr_size) != 0)
      goto fail;
  if (spec->partitioner_cb) {
    rd_kafka_topic_conf_t *tconf = rd_kafka_topic_conf_new();
    rd_kafka_topic_conf_set_partitioner_cb(tconf, spec->partitioner_cb);
    rd_kafka_conf_set_default_topic_conf(conf, tconf);
  }
  rd_kafka_conf_set_log_cb(conf, kafka_client_log);
  rd_kafka_conf_set_error_cb(conf, kafka_client_error);
  rd_kafka_conf_set_stats_cb(conf, kafka_client_stats_cb);
  if (spec->dr_msg_cb)
    rd_kafka_conf_set_dr_msg_cb(conf, spec->dr_msg_cb);
  if (spec->rebalance_cb)
    rd_kafka_conf_set_rebalance_cb(conf, spec->rebalance_cb);
  rd_kafka_conf_set_opaque(conf, spec->opaque);
  rd_kafka_t *rk = rd_kafka_new(kafka_client_role_types[spec->role], conf, err, sizeof(err));
  if (!rk) {
    snprintf(errstr, errstr_size, "kafka %s client: %s", kafka_client_role_names[spec->role], err);
    goto fail;
  }
  /*
   * log.queue: the lines wait on the main queue for whoever serves the
   * client (its own thread, or the loop), never on librdkafka's threads.  A
   * reader serves its consumer queue only: the main queue goes there.
   */
  rd_kafka_queue_t *mainq = rd_kafka_queue_get_main(rk);
  rd_kafka_set_log_queue(rk, mainq);
  rd_kafka_queue_destroy(mainq);
  if (spec->role == KAFKA_CLIENT_READER)
    rd_kafka_poll_set_consumer(rk);
  return rk;
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

void kafka_client_destroy(rd_kafka_t *rk) {
  if (!rk)
    return;
  metrics_client_forget(rd_kafka_name(rk));
  rd_kafka_destroy(rk);
}

void kafka_client_print_defaults(void *out) {
  FILE *fp = out;
  fprintf(fp, "| property | value | clients | why |\n|---|---|---|---|\n");
  for (size_t i = 0; i < KAFKA_CLIENT_NDEFAULTS; i++) {
    char roles[128] = "";
    for (int r = 0; r < KAFKA_CLIENT__ROLE_COUNT; r++)
      if (kafka_client_defaults[i].roles & (1u << r))
        snprintf(roles + strlen(roles), sizeof(roles) - strlen(roles), "%s%s", roles[0] ? ", " : "",
                 kafka_client_role_names[r]);
    fprintf(fp, "| `%s` | `%s` | %s | %s |\n", kafka_client_defaults[i].name, kafka_client_defaults[i].value,
            roles, kafka_client_defaults[i].why);
  }
}

/* ---- waking the loop ---- */

int kafka_wake_open(kafka_wake_t *wake, rd_kafka_queue_t *queue, char *errstr, size_t errstr_size) {
  wake->fds[0] = wake->fds[1] = -1;
  if (pipe(wake->fds) != 0) {
    snprintf(errstr, errstr_size, "kafka: pipe: %s", strerror(errno));
    return -1;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(wake->fds[i], F_SETFL, O_NONBLOCK);
    fcntl(wake->fds[i], F_SETFD, FD_CLOEXEC);
  }
  if (queue)
    rd_kafka_queue_io_event_enable(queue, wake->fds[1], "1", 1);
  return 0;
}

void kafka_wake_drain(kafka_wake_t *wake) {
  char buf[64];
  while (wake->fds[0] >= 0 && read(wake->fds[0], buf, sizeof(buf)) > 0) {
  }
}

void kafka_wake_close(kafka_wake_t *wake) {
  for (int i = 0; i < 2; i++)
    if (wake->fds[i] >= 0)
      close(wake->fds[i]);
  wake->fds[0] = wake->fds[1] = -1;
}
