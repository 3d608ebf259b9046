/*
 * metrics: Prometheus text exposition of the tables in metrics.h: the
 * process's series and one block per registered PBX.
 */
#include "metrics.h"

#include <pthread.h>

#include "topics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

static const struct {
  const char *name, *type, *help;
  metrics_scope_t scope;
} metrics_rows[] = {
#define METRICS_X_ROW(e, n, t, s, h) {n, t, h, METRICS_SCOPE_##s},
    METRICS_TABLE(METRICS_X_ROW)
#undef METRICS_X_ROW
};

enum {
#define METRICS_X_HIST_ENUM(e, n, s, h) METRICS_HIST_##e,
  METRICS_HISTOGRAMS(METRICS_X_HIST_ENUM)
#undef METRICS_X_HIST_ENUM
  METRICS_HIST__COUNT
};

static const struct {
  const char *name, *help;
  metrics_scope_t scope;
} metrics_hist_rows[] = {
#define METRICS_X_HIST_ROW(e, n, s, h) {n, h, METRICS_SCOPE_##s},
    METRICS_HISTOGRAMS(METRICS_X_HIST_ROW)
#undef METRICS_X_HIST_ROW
};

static const char *const metrics_link_state_names[] = {
#define METRICS_X_LINK_NAME(e, n) n,
    METRICS_LINK_STATES(METRICS_X_LINK_NAME)
#undef METRICS_X_LINK_NAME
};

static const struct {
  const char *name, *label, *help;
} metrics_client_rows[] = {
#define METRICS_X_CLIENT_ROW(e, n, l, h) {n, l, h},
    METRICS_CLIENT_GAUGES(METRICS_X_CLIENT_ROW)
#undef METRICS_X_CLIENT_ROW
};

/* per topic: the table's suffixes; per snapshot kind (entities): its topic's */
static const char *metrics_topic_name(int topic) { return topics_row((topic_id_t)topic)->suffix; }
static const topic_id_t metrics_kind_topics[4] = {TOPIC_LINES, TOPIC_PRESENCE, TOPIC_QUEUES, TOPIC_CALLS};
/* Upper bounds in seconds, from half a millisecond to 30 s. */
static const double metrics_buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05,
                                         0.075,  0.1,   0.25,  0.5,   1,    5,    30};
#define METRICS_NB (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))
#define METRICS_BUILD_LABELS 8

typedef struct metrics_histogram {
  uint64_t buckets[METRICS_NB]; /* not cumulative: the first bucket that holds the value */
  uint64_t count;
  double sum; /* seconds */
} metrics_histogram_t;

typedef struct metrics_client_series {
  metrics_client_gauge_t gauge;
  char *client, *label; /* label NULL for gauges without one */
  double value;
} metrics_client_series_t;

/* Ownership changes and a resilient pair's systems and switches, by name. */
static const char *const metrics_ownership_changes[] = {"assigned", "revoked", "fenced", "failed"};
#define METRICS_N_CHANGES (sizeof(metrics_ownership_changes) / sizeof(metrics_ownership_changes[0]))
static const char *const metrics_pair_systems[] = {"primary", "secondary"};
static const char *const metrics_pair_switches[] = {"failover", "failback"};

/*
 * One PBX's series: the PBX rows of the tables (the PROCESS rows' slots stay
 * 0; indexing by metrics_id_t keeps a bump one add), its label sets, its
 * ownership and pair state.
 */
struct metrics_pbx {
  char *pbx_id;
  char *label; /* pbx="<pbx_id escaped>", made once: every scrape writes it many times */
  int64_t values[METRICS__COUNT];
  uint64_t produced[METRICS_TOPICS];
  metrics_histogram_t hist[METRICS_HIST__COUNT];
  size_t sub_counts[METRICS_SUB_STATES];
  size_t entities[4];
  uint64_t cmd_done[METRICS_CMD_STATUSES];
  metrics_link_state_t link_state;
  int owned;
  uint64_t changes[METRICS_N_CHANGES];
  int pair;             /* a resilient pair: the pair series are rendered */
  int system_up[2];     /* primary, secondary */
  int active;           /* the system the published state follows */
  uint64_t switches[2]; /* failover, failback */
};

static struct {
  int64_t values[METRICS__COUNT];                /* the PROCESS rows */
  metrics_histogram_t hist[METRICS_HIST__COUNT]; /* the PROCESS histograms (none today) */
  /* label values shared by every PBX: the names are static, the counts per PBX */
  const char *sub_states[METRICS_SUB_STATES];
  const char *cmd_status_names[METRICS_CMD_STATUSES];
  metrics_pbx_t **pbx; /* in registration order: the order of the samples */
  size_t n_pbx;
  char *build_names[METRICS_BUILD_LABELS], *build_values[METRICS_BUILD_LABELS];
  metrics_client_series_t *clients;
  size_t n_clients;
} metrics;

static void metrics_label_value(FILE *fp, const char *value);
static void metrics_header(FILE *fp, const char *name, const char *type, const char *help);

metrics_pbx_t *metrics_pbx(const char *pbx_id) {
  for (size_t i = 0; i < metrics.n_pbx; i++)
    if (strcmp(metrics.pbx[i]->pbx_id, pbx_id) == 0)
      return metrics.pbx[i];
  metrics_pbx_t **grown = realloc(metrics.pbx, (metrics.n_pbx + 1) * sizeof(*grown));
  if (!grown)
    return NULL;
  metrics.pbx = grown;
  metrics_pbx_t *p = calloc(1, sizeof(*p));
  char *label = NULL;
  size_t label_len = 0;
  FILE *fp = open_memstream(&label, &label_len);
  if (fp) {
    fputs("pbx=\"", fp);
    metrics_label_value(fp, pbx_id);
    fputc('"', fp);
    fclose(fp);
  }
  if (!p || !label || !(p->pbx_id = strdup(pbx_id))) {
    free(label);
    free(p);
    return NULL;
  }
  p->label = label;
  metrics.pbx[metrics.n_pbx++] = p;
  return p;
}

/* A misplaced call (a row of the other scope) is dropped: nobody would render what it wrote. */
static int metrics_scoped(metrics_id_t id, metrics_scope_t scope) {
  return (unsigned)id < METRICS__COUNT && metrics_rows[id].scope == scope;
}

void metrics_add(metrics_id_t id, int64_t delta) {
  if (metrics_scoped(id, METRICS_SCOPE_PROCESS))
    metrics.values[id] += delta;
}
void metrics_set(metrics_id_t id, int64_t value) {
  if (metrics_scoped(id, METRICS_SCOPE_PROCESS))
    metrics.values[id] = value;
}
int64_t metrics_get(metrics_id_t id) { return metrics_scoped(id, METRICS_SCOPE_PROCESS) ? metrics.values[id] : 0; }

void metrics_pbx_add(metrics_pbx_t *pbx, metrics_id_t id, int64_t delta) {
  if (pbx && metrics_scoped(id, METRICS_SCOPE_PBX))
    pbx->values[id] += delta;
}
void metrics_pbx_set(metrics_pbx_t *pbx, metrics_id_t id, int64_t value) {
  if (pbx && metrics_scoped(id, METRICS_SCOPE_PBX))
    pbx->values[id] = value;
}
int64_t metrics_pbx_get(const metrics_pbx_t *pbx, metrics_id_t id) {
  return pbx && metrics_scoped(id, METRICS_SCOPE_PBX) ? pbx->values[id] : 0;
}

static void metrics_observe(metrics_histogram_t *h, double ms) {
  double seconds = ms / 1000.0;
  size_t i = 0;
  while (i < METRICS_NB && seconds > metrics_buckets[i])
    i++;
  if (i < METRICS_NB)
    h->buckets[i]++;
  h->count++;
  h->sum += seconds;
}

/* A histogram of the PBX's or the process's, by the histogram's scope. */
static metrics_histogram_t *metrics_hist_of(metrics_pbx_t *pbx, int hist) {
  return metrics_hist_rows[hist].scope == METRICS_SCOPE_PBX ? &pbx->hist[hist] : &metrics.hist[hist];
}

void metrics_pbx_event_delivered(metrics_pbx_t *pbx, int topic_index, double latency_ms) {
  if (!pbx)
    return;
  if (topic_index >= 0 && topic_index < METRICS_TOPICS)
    pbx->produced[topic_index]++;
  metrics_observe(metrics_hist_of(pbx, METRICS_HIST_DELIVERY), latency_ms);
}

void metrics_pbx_notify_acked(metrics_pbx_t *pbx, double latency_ms) {
  if (pbx)
    metrics_observe(metrics_hist_of(pbx, METRICS_HIST_NOTIFY_ACK), latency_ms);
}

void metrics_pbx_link_state(metrics_pbx_t *pbx, metrics_link_state_t state) {
  if (pbx && state < METRICS_LINK__COUNT)
    pbx->link_state = state;
}

void metrics_pbx_subscriptions(metrics_pbx_t *pbx, const char *const state_names[METRICS_SUB_STATES],
                               const size_t counts[METRICS_SUB_STATES]) {
  if (!pbx)
    return;
  for (int i = 0; i < METRICS_SUB_STATES; i++) {
    metrics.sub_states[i] = state_names[i];
    pbx->sub_counts[i] = counts[i];
  }
}

void metrics_pbx_entities(metrics_pbx_t *pbx, const size_t counts[4]) {
  if (pbx)
    memcpy(pbx->entities, counts, sizeof(pbx->entities));
}

void metrics_pbx_command_done(metrics_pbx_t *pbx, int status, const char *name, double round_trip_ms) {
  if (!pbx)
    return;
  if (status >= 0 && status < METRICS_CMD_STATUSES) {
    metrics.cmd_status_names[status] = name;
    pbx->cmd_done[status]++;
  }
  if (round_trip_ms >= 0)
    metrics_observe(metrics_hist_of(pbx, METRICS_HIST_COMMAND_ROUND_TRIP), round_trip_ms);
}

void metrics_build_info(const char *name, const char *value) {
  int free_slot = -1;
  for (int i = 0; i < METRICS_BUILD_LABELS; i++) {
    if (metrics.build_names[i] && strcmp(metrics.build_names[i], name) == 0) {
      char *copy = strdup(value);
      if (copy) {
        free(metrics.build_values[i]);
        metrics.build_values[i] = copy;
      }
      return;
    }
    if (!metrics.build_names[i] && free_slot < 0)
      free_slot = i;
  }
  if (free_slot < 0)
    return;
  metrics.build_names[free_slot] = strdup(name);
  metrics.build_values[free_slot] = strdup(value);
  if (!metrics.build_names[free_slot] || !metrics.build_values[free_slot]) {
    free(metrics.build_names[free_slot]);
    free(metrics.build_values[free_slot]);
    metrics.build_names[free_slot] = metrics.build_values[free_slot] = NULL;
  }
}

void metrics_pbx_owned(metrics_pbx_t *pbx, int owned) {
  if (pbx)
    pbx->owned = owned;
}

void metrics_pbx_ownership_change(metrics_pbx_t *pbx, const char *change) {
  for (size_t c = 0; pbx && c < METRICS_N_CHANGES; c++)
    if (strcmp(metrics_ownership_changes[c], change) == 0)
      pbx->changes[c]++;
}

void metrics_pbx_pair_system(metrics_pbx_t *pbx, int system, int up) {
  if (pbx) {
    pbx->pair = 1;
    pbx->system_up[system ? 1 : 0] = up;
  }
}

void metrics_pbx_pair_active(metrics_pbx_t *pbx, int system) {
  if (pbx) {
    pbx->pair = 1;
    pbx->active = system ? 1 : 0;
    pbx->switches[system ? 0 : 1]++; /* to the secondary: a failover; back to the primary: a fail-back */
  }
}

/*
 * A resilient pair's series (only PBXs configured as one).  The families are
 * always there, like the per-client gauges': the docs' table of families
 * matches any scrape.
 */
static void metrics_render_pair(FILE *fp) {
  metrics_header(fp, "mtcti3_bridge_pbx_system_up", "gauge",
                 "Resilient pair: 1 while the bridge's websocket to the system (primary, secondary) is up");
  for (size_t i = 0; i < metrics.n_pbx; i++)
    for (int k = 0; metrics.pbx[i]->pair && k < 2; k++)
      fprintf(fp, "mtcti3_bridge_pbx_system_up{%s,system=\"%s\"} %d\n", metrics.pbx[i]->label,
              metrics_pair_systems[k], metrics.pbx[i]->system_up[k]);
  metrics_header(fp, "mtcti3_bridge_pbx_system_active", "gauge",
                 "Resilient pair: 1 for the system whose lines, users, presence and user calls are published");
  for (size_t i = 0; i < metrics.n_pbx; i++)
    for (int k = 0; metrics.pbx[i]->pair && k < 2; k++)
      fprintf(fp, "mtcti3_bridge_pbx_system_active{%s,system=\"%s\"} %d\n", metrics.pbx[i]->label,
              metrics_pair_systems[k], metrics.pbx[i]->active == k);
  metrics_header(fp, "mtcti3_bridge_pbx_system_switches_total", "counter",
                 "Resilient pair: switches of the published state to the secondary (failover) and back (failback)");
  for (size_t i = 0; i < metrics.n_pbx; i++)
    for (int k = 0; metrics.pbx[i]->pair && k < 2; k++)
      fprintf(fp, "mtcti3_bridge_pbx_system_switches_total{%s,switch=\"%s\"} %llu\n", metrics.pbx[i]->label,
              metrics_pair_switches[k], (unsigned long long)metrics.pbx[i]->switches[k]);
}

static void metrics_render_ownership(FILE *fp) {
  metrics_render_pair(fp);
  metrics_header(fp, "mtcti3_bridge_pbx_owned", "gauge",
                 "1 while this instance owns the PBX: publishes its events and runs its commands");
  for (size_t i = 0; i < metrics.n_pbx; i++)
    fprintf(fp, "mtcti3_bridge_pbx_owned{%s} %d\n", metrics.pbx[i]->label, metrics.pbx[i]->owned);
  metrics_header(fp, "mtcti3_bridge_pbx_ownership_changes_total", "counter",
                 "Ownership changes of the PBX in this instance: assigned, revoked, fenced, failed");
  for (size_t i = 0; i < metrics.n_pbx; i++)
    for (size_t c = 0; c < METRICS_N_CHANGES; c++)
      fprintf(fp, "mtcti3_bridge_pbx_ownership_changes_total{%s,change=\"%s\"} %llu\n", metrics.pbx[i]->label,
              metrics_ownership_changes[c], (unsigned long long)metrics.pbx[i]->changes[c]);
}

/* The client series are set from the threads that serve each Kafka client's statistics. */
static pthread_mutex_t metrics_clients_lock = PTHREAD_MUTEX_INITIALIZER;

static int metrics_same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static void metrics_client_set_locked(metrics_client_gauge_t gauge, const char *client, const char *label,
                                      double value) {
  for (size_t i = 0; i < metrics.n_clients; i++) {
    metrics_client_series_t *s = &metrics.clients[i];
    if (s->gauge == gauge && strcmp(s->client, client) == 0 && metrics_same(s->label, label)) {
      s->value = value;
      return;
    }
  }
  metrics_client_series_t *grown = realloc(metrics.clients, (metrics.n_clients + 1) * sizeof(*grown));
  if (!grown)
    return;
  metrics.clients = grown;
  metrics_client_series_t *s = &grown[metrics.n_clients];
  s->gauge = gauge;
  s->client = strdup(client);
  s->label = label ? strdup(label) : NULL;
  s->value = value;
  if (!s->client || (label && !s->label)) {
    free(s->client);
    free(s->label);
    return;
  }
  metrics.n_clients++;
}

void metrics_client_set(metrics_client_gauge_t gauge, const char *client, const char *label, double value) {
  if (gauge >= METRICS_CLIENT__COUNT || !client)
    return;
  if (!metrics_client_rows[gauge].label)
    label = NULL;
  else if (!label)
    label = "";
  pthread_mutex_lock(&metrics_clients_lock);
  metrics_client_set_locked(gauge, client, label, value);
  pthread_mutex_unlock(&metrics_clients_lock);
}

void metrics_client_forget(const char *client) {
  pthread_mutex_lock(&metrics_clients_lock);
  size_t kept = 0;
  for (size_t i = 0; i < metrics.n_clients; i++) {
    metrics_client_series_t *s = &metrics.clients[i];
    if (strcmp(s->client, client) == 0) {
      free(s->client);
      free(s->label);
    } else {
      metrics.clients[kept++] = *s;
    }
  }
  metrics.n_clients = kept;
  pthread_mutex_unlock(&metrics_clients_lock);
}

void metrics_reset(void) {
  for (int i = 0; i < METRICS_BUILD_LABELS; i++) {
    free(metrics.build_names[i]);
    free(metrics.build_values[i]);
    metrics.build_names[i] = metrics.build_values[i] = NULL;
  }
  for (size_t i = 0; i < metrics.n_clients; i++) {
    free(metrics.clients[i].client);
    free(metrics.clients[i].label);
  }
  free(metrics.clients);
  metrics.clients = NULL;
  for (size_t i = 0; i < metrics.n_pbx; i++) {
    free(metrics.pbx[i]->pbx_id);
    free(metrics.pbx[i]->label);
    free(metrics.pbx[i]);
  }
  free(metrics.pbx);
  /* every series from zero: a unit test starts afresh, nothing outlives it at exit */
  memset(&metrics, 0, sizeof(metrics));
}

/* A label value, escaped as the text format wants (backslash, quote, newline). */
static void metrics_label_value(FILE *fp, const char *value) {
  for (const char *p = value; *p; p++) {
    if (*p == '\\')
      fputs("\\\\", fp);
    else if (*p == '"')
      fputs("\\\"", fp);
    else if (*p == '\n')
      fputs("\\n", fp);
    else
      fputc(*p, fp);
  }
}

static void metrics_header(FILE *fp, const char *name, const char *type, const char *help) {
  fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's samples; `labels` ("" or pbx="...") before le. */
static void metrics_render_histogram(FILE *fp, const char *name, const char *labels, const metrics_histogram_t *h) {
  const char *sep = labels[0] ? "," : "";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < METRICS_NB; i++) {
    cumulative += h->buckets[i];
    fprintf(fp, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, metrics_buckets[i],
            (unsigned long long)cumulative);
  }
  fprintf(fp, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)h->count);
  if (labels[0])
    fprintf(fp, "%s_sum{%s} %.15g\n%s_count{%s} %llu\n", name, labels, h->sum, name, labels,
            (unsigned long long)h->count);
  else
    fprintf(fp, "%s_sum %.15g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

/* The process_* series of the Prometheus client libraries, from /proc (Linux). */
static void metrics_render_process(FILE *fp) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    metrics_header(fp, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
    fprintf(fp, "process_cpu_seconds_total %.6f\n", cpu);
  }
  long page = sysconf(_SC_PAGESIZE);
  unsigned long long vm_pages = 0, rss_pages = 0;
  FILE *statm = fopen("/proc/self/statm", "r");
  if (statm) {
    if (fscanf(statm, "%llu %llu", &vm_pages, &rss_pages) == 2) {
      metrics_header(fp, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
      fprintf(fp, "process_virtual_memory_bytes %llu\n", vm_pages * (unsigned long long)page);
      metrics_header(fp, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
      fprintf(fp, "process_resident_memory_bytes %llu\n", rss_pages * (unsigned long long)page);
    }
    fclose(statm);
  }
  DIR *fds = opendir("/proc/self/fd");
  if (fds) {
    long n = 0;
    for (struct dirent *d = readdir(fds); d; d = readdir(fds))
      if (d->d_name[0] != '.')
        n++;
    closedir(fds);
    metrics_header(fp, "process_open_fds", "gauge", "Number of open file descriptors.");
    fprintf(fp, "process_open_fds %ld\n", n - 1); /* not the one reading the directory */
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    metrics_header(fp, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    fprintf(fp, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
  }
  /* start time: boot time (/proc/stat btime) + field 22 of /proc/self/stat, in clock ticks */
  unsigned long long btime = 0, start_ticks = 0;
  char line[1024];
  FILE *stat = fopen("/proc/stat", "r");
  if (stat) {
    while (fgets(line, sizeof(line), stat))
      if (sscanf(line, "btime %llu", &btime) == 1)
        break;
    fclose(stat);
  }
  FILE *self = fopen("/proc/self/stat", "r");
  if (self) {
    size_t n = fread(line, 1, sizeof(line) - 1, self);
    line[n] = '\0';
    fclose(self);
    const char *p = strrchr(line, ')'); /* the command name may hold spaces */
    /* after ") ": field 3 (state) ... field 22 (starttime) */
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                    &start_ticks) == 1 &&
        btime) {
      metrics_header(fp, "process_start_time_seconds", "gauge",
                     "Start time of the process since unix epoch in seconds.");
      fprintf(fp, "process_start_time_seconds %.2f\n",
              (double)btime + (double)start_ticks / (double)sysconf(_SC_CLK_TCK));
    }
  }
}

char *metrics_render(size_t *len) {
  char *buf = NULL;
  size_t size = 0;
  FILE *fp = open_memstream(&buf, &size);
  if (!fp)
    return NULL;
  for (int i = 0; i < METRICS__COUNT; i++) {
    metrics_header(fp, metrics_rows[i].name, metrics_rows[i].type, metrics_rows[i].help);
    if (metrics_rows[i].scope == METRICS_SCOPE_PROCESS)
      fprintf(fp, "%s %lld\n", metrics_rows[i].name, (long long)metrics.values[i]);
    else
      for (size_t p = 0; p < metrics.n_pbx; p++)
        fprintf(fp, "%s{%s} %lld\n", metrics_rows[i].name, metrics.pbx[p]->label,
                (long long)metrics.pbx[p]->values[i]);
  }
  metrics_header(fp, "mtcti3_bridge_build_info", "gauge",
                 "The bridge's version and the versions of the libraries it runs with; always 1");
  fprintf(fp, "mtcti3_bridge_build_info{version=\"");
  metrics_label_value(fp, MTCTI3_VERSION);
  fputc('"', fp);
  for (int i = 0; i < METRICS_BUILD_LABELS; i++) {
    if (!metrics.build_names[i])
      continue;
    fprintf(fp, ",%s=\"", metrics.build_names[i]);
    metrics_label_value(fp, metrics.build_values[i]);
    fputc('"', fp);
  }
  fprintf(fp, "} 1\n");
  metrics_header(fp, "mtcti3_bridge_pbx_link_state", "gauge",
                 "The PBX link's state: 1 for the current one (connecting, resyncing, synced)");
  for (size_t p = 0; p < metrics.n_pbx; p++)
    for (int i = 0; i < METRICS_LINK__COUNT; i++)
      fprintf(fp, "mtcti3_bridge_pbx_link_state{%s,state=\"%s\"} %d\n", metrics.pbx[p]->label,
              metrics_link_state_names[i], (int)metrics.pbx[p]->link_state == i);
  metrics_header(fp, "mtcti3_bridge_events_produced_total", "counter", "Events confirmed by Kafka, per topic");
  for (size_t p = 0; p < metrics.n_pbx; p++)
    for (int i = 0; i < METRICS_TOPICS; i++)
      fprintf(fp, "mtcti3_bridge_events_produced_total{%s,topic=\"%s\"} %llu\n", metrics.pbx[p]->label,
              metrics_topic_name(i), (unsigned long long)metrics.pbx[p]->produced[i]);
  for (int i = 0; i < METRICS_HIST__COUNT; i++) {
    metrics_header(fp, metrics_hist_rows[i].name, "histogram", metrics_hist_rows[i].help);
    if (metrics_hist_rows[i].scope == METRICS_SCOPE_PROCESS)
      metrics_render_histogram(fp, metrics_hist_rows[i].name, "", &metrics.hist[i]);
    else
      for (size_t p = 0; p < metrics.n_pbx; p++)
        metrics_render_histogram(fp, metrics_hist_rows[i].name, metrics.pbx[p]->label, &metrics.pbx[p]->hist[i]);
  }
  metrics_header(fp, "mtcti3_bridge_subscriptions", "gauge", "Subscriptions to the PBX, per state");
  for (size_t p = 0; p < metrics.n_pbx; p++)
    for (int i = 0; i < METRICS_SUB_STATES; i++)
      if (metrics.sub_states[i])
        fprintf(fp, "mtcti3_bridge_subscriptions{%s,state=\"%s\"} %zu\n", metrics.pbx[p]->label,
                metrics.sub_states[i], metrics.pbx[p]->sub_counts[i]);
  metrics_header(fp, "mtcti3_bridge_entities", "gauge", "Entities in the last known state, per topic");
  for (size_t p = 0; p < metrics.n_pbx; p++)
    for (int i = 0; i < 4; i++)
      fprintf(fp, "mtcti3_bridge_entities{%s,topic=\"%s\"} %zu\n", metrics.pbx[p]->label,
              metrics_topic_name(metrics_kind_topics[i]), metrics.pbx[p]->entities[i]);
  metrics_header(fp, "mtcti3_bridge_commands_total", "counter", "Commands completed, per final status");
  for (size_t p = 0; p < metrics.n_pbx; p++)
    for (int i = 0; i < METRICS_CMD_STATUSES; i++)
      if (metrics.cmd_status_names[i])
        fprintf(fp, "mtcti3_bridge_commands_total{%s,status=\"%s\"} %llu\n", metrics.pbx[p]->label,
                metrics.cmd_status_names[i], (unsigned long long)metrics.pbx[p]->cmd_done[i]);
  metrics_render_ownership(fp);
  pthread_mutex_lock(&metrics_clients_lock);
  for (int g = 0; g < METRICS_CLIENT__COUNT; g++) {
    /* the family is always there, its series once a client has reported */
    metrics_header(fp, metrics_client_rows[g].name, "gauge", metrics_client_rows[g].help);
    for (size_t i = 0; i < metrics.n_clients; i++) {
      const metrics_client_series_t *s = &metrics.clients[i];
      if ((int)s->gauge != g)
        continue;
      fprintf(fp, "%s{client=\"", metrics_client_rows[g].name);
      metrics_label_value(fp, s->client);
      if (s->label) {
        fprintf(fp, "\",%s=\"", metrics_client_rows[g].label);
        metrics_label_value(fp, s->label);
      }
      fprintf(fp, "\"} %.15g\n", s->value);
    }
  }
  pthread_mutex_unlock(&metrics_clients_lock);
  metrics_render_process(fp);
  fclose(fp);
  *len = size;
  return buf;
}
