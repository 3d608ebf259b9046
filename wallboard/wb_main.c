/*
 * mtcti3-wallboard: the contact centre's queues on a screen.
 *
 * DESIGN.  One thread, one libwebsockets event loop, three parts:
 *
 *   Kafka    a consumer of the queue statistics topics (`topics`: a list,
 *            or a regular expression for every PBX's <prefix>queue-stats),
 *            read_committed, in a consumer group of its own (a fresh name at
 *            every start, nothing committed) that starts at the earliest
 *            offset: the compacted topics rebuild the view at start.  It
 *            wakes the loop through a pipe (rd_kafka_queue_io_event_enable);
 *            the loop drains it without blocking.  Its statistics events
 *            (every 2 s) and the messages it fetches say whether a broker
 *            is up.
 *   view     wb_view.c (pure): each queue's last record, and the message
 *            that tells the browsers about a change.
 *   HTTP     one vhost on `listen`: GET / (the page), /app.js, /style.css
 *            (compiled into the binary from wallboard/web/), /healthz; and
 *            the websocket subprotocol "wallboard" on /stream: a snapshot at
 *            the connect, then every change, and a heartbeat each second
 *            (the service's clock, whether Kafka is reachable) from which
 *            the page judges staleness.  A browser that falls 10,000
 *            messages behind is disconnected (it reconnects and gets a
 *            fresh snapshot).
 *
 * Nothing on the loop waits on the network: Kafka is polled with a zero
 * timeout when its pipe says something is there.  Exit status: 0 after
 * SIGINT/SIGTERM, 1 on a fatal runtime error, 2 on a bad configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <librdkafka/rdkafka.h>

#include "wb_assets.h"
#include "wb_config.h"
#include "wb_view.h"

extern char **environ;

#define WB_MAX_BACKLOG 10000
#define WB_DRAIN_MAX 2000 /* Kafka messages per loop turn */

/* One message to the browsers, shared by every session that still has to send it. */
typedef struct wb_msg {
  int refs;
  size_t len;
  unsigned char data[]; /* LWS_PRE bytes, then the text */
} wb_msg_t;

typedef struct wb_out {
  struct wb_out *next;
  wb_msg_t *msg;
} wb_out_t;

/* A browser's websocket. */
typedef struct wb_session {
  struct wb_session *next, *prev;
  struct lws *wsi;
  wb_out_t *head, *tail;
  size_t queued;
  int closing;
} wb_session_t;

/* An HTTP request's response being written. */
typedef struct wb_http {
  const unsigned char *body;
  size_t len;
  int sent;
} wb_http_t;

typedef struct wb {
  wb_config_t *config;
  wb_view_t *view;
  rd_kafka_t *rk;
  rd_kafka_queue_t *queue;
  int pipe_fds[2];
  struct lws_context *context;
  struct lws_vhost *vhost;
  struct lws_protocols protocols[4];
  lws_sorted_usec_list_t sul_tick, sul_drain;
  wb_session_t *sessions;
  char *page_config; /* the page's settings, JSON */
  int kafka_ok;
  int64_t kafka_seen_ms; /* last statistics event with a broker up */
  size_t records;
  int level; /* 0 error .. 3 debug */
  int stop;
} wb_t;

static wb_t *wb_signal;

/* ---- logs: one line each, to stderr ---- */

static void wb_log(wb_t *wb, int level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn ", "info ", "debug"};
  if (level > wb->level)
    return;
  char when[40];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ %s wallboard ", when, ts.tv_nsec / 1000000, names[level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static int64_t wb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- messages to the browsers ---- */

static wb_msg_t *wb_msg_new(const char *text, size_t len) {
  wb_msg_t *msg = malloc(sizeof(*msg) + LWS_PRE + len);
  if (!msg)
    return NULL;
  msg->refs = 0;
  msg->len = len;
  memcpy(msg->data + LWS_PRE, text, len);
  return msg;
}

static void wb_msg_unref(wb_msg_t *msg) {
  if (msg && --msg->refs <= 0)
    free(msg);
}

static void wb_session_push(wb_session_t *s, wb_msg_t *msg) {
  if (s->closing)
    return;
  if (s->queued >= WB_MAX_BACKLOG) {
    s->closing = 1; /* too slow: it reconnects and starts from a snapshot */
    lws_callback_on_writable(s->wsi);
    return;
  }
  wb_out_t *out = malloc(sizeof(*out));
  if (!out) {
    s->closing = 1;
    lws_callback_on_writable(s->wsi);
    return;
  }
  out->next = NULL;
  out->msg = msg;
  msg->refs++;
  if (s->tail)
    s->tail->next = out;
  else
    s->head = out;
  s->tail = out;
  s->queued++;
  lws_callback_on_writable(s->wsi);
}

/* Send `text` to every browser (taken over: freed here). */
static void wb_broadcast(wb_t *wb, char *text, size_t len) {
  wb_msg_t *msg = wb->sessions ? wb_msg_new(text, len) : NULL;
  free(text);
  if (!msg)
    return;
  msg->refs++; /* held while pushing */
  for (wb_session_t *s = wb->sessions; s; s = s->next)
    wb_session_push(s, msg);
  wb_msg_unref(msg);
}

static void wb_session_clear(wb_session_t *s) {
  while (s->head) {
    wb_out_t *out = s->head;
    s->head = out->next;
    wb_msg_unref(out->msg);
    free(out);
  }
  s->tail = NULL;
  s->queued = 0;
}

/* ---- Kafka ---- */

static void wb_kafka_message(wb_t *wb, rd_kafka_message_t *m) {
  if (m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      wb_log(wb, 1, "kafka: %s", rd_kafka_message_errstr(m));
    return;
  }
  char *update = NULL, err[512];
  size_t len = 0;
  const char *topic = rd_kafka_topic_name(m->rkt);
  int rc = wb_view_apply(wb->view, topic, m->key, m->key_len, m->payload, m->len, &update, &len, err, sizeof(err));
  if (rc < 0) {
    wb_log(wb, 1, "kafka: %s (offset %lld of partition %d): ignored", err, (long long)m->offset, m->partition);
    return;
  }
  wb->records++;
  if (rc > 0)
    wb_broadcast(wb, update, len);
}

static void wb_drain(lws_sorted_usec_list_t *sul);

/* Everything the consumer has now, without waiting; a long backlog goes on in the next turn. */
static void wb_kafka_poll(wb_t *wb) {
  char buf[256];
  while (read(wb->pipe_fds[0], buf, sizeof(buf)) > 0)
    ;
  for (int i = 0; i < WB_DRAIN_MAX; i++) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(wb->queue, 0);
    if (!ev)
      return;
    switch (rd_kafka_event_type(ev)) {
    case RD_KAFKA_EVENT_FETCH: {
      const rd_kafka_message_t *m;
      while ((m = rd_kafka_event_message_next(ev)) != NULL) {
        if (!m->err) { /* a message fetched: a broker is up */
          wb->kafka_ok = 1;
          wb->kafka_seen_ms = wb_now_ms();
        }
        wb_kafka_message(wb, (rd_kafka_message_t *)m);
      }
      break;
    }
    case RD_KAFKA_EVENT_STATS: {
      int up = strstr(rd_kafka_event_stats(ev), "\"state\":\"UP\"") != NULL;
      if (up != wb->kafka_ok)
        wb_log(wb, up ? 2 : 1, "kafka: %s", up ? "a broker is up" : "no broker up");
      wb->kafka_ok = up;
      if (up)
        wb->kafka_seen_ms = wb_now_ms();
      break;
    }
    case RD_KAFKA_EVENT_ERROR:
      wb_log(wb, rd_kafka_event_error_is_fatal(ev) ? 0 : 1, "kafka: %s", rd_kafka_event_error_string(ev));
      if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        wb->kafka_ok = 0;
      break;
    case RD_KAFKA_EVENT_REBALANCE:
      if (rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        rd_kafka_assign(wb->rk, rd_kafka_event_topic_partition_list(ev));
      else
        rd_kafka_assign(wb->rk, NULL);
      break;
    case RD_KAFKA_EVENT_LOG: {
      const char *fac, *str;
      int level;
      if (rd_kafka_event_log(ev, &fac, &str, &level) == 0)
        wb_log(wb, level <= 3 ? 0 : level <= 4 ? 1 : 3, "kafka: %s: %s", fac, str);
      break;
    }
    default:
      break;
    }
    rd_kafka_event_destroy(ev);
  }
  lws_sul_schedule(wb->context, 0, &wb->sul_drain, wb_drain, 1); /* more next turn */
}

static void wb_drain(lws_sorted_usec_list_t *sul) { wb_kafka_poll(lws_container_of(sul, wb_t, sul_drain)); }

static int wb_kafka_start(wb_t *wb, char *errstr, size_t errstr_size) {
  char err[512], group[128], host[64] = "host";
  const wb_config_t *c = wb->config;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  gethostname(host, sizeof(host) - 1);
  snprintf(group, sizeof(group), "mtcti3-wallboard-%s-%d-%lld", host, (int)getpid(), (long long)wb_now_ms());
  const char *defaults[][2] = {
      {"bootstrap.servers", c->kafka_bootstrap}, {"group.id", group},
      {"auto.offset.reset", "earliest"},         {"enable.auto.commit", "false"},
      {"isolation.level", "read_committed"},     {"enable.partition.eof", "false"},
      {"statistics.interval.ms", "2000"},        {"topic.metadata.refresh.interval.ms", "5000"},
      {"log.queue", "true"},                     {"client.id", "mtcti3-wallboard"},
  };
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
    if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errstr_size, "kafka.%s: %s", defaults[i][0], err);
      goto fail;
    }
  for (size_t i = 0; i < c->kafka_count; i++)
    if (rd_kafka_conf_set(conf, c->kafka[i].name, c->kafka[i].value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      snprintf(errstr, errstr_size, "kafka.%s: %s", c->kafka[i].name, err);
      goto fail;
    }
  rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_FETCH | RD_KAFKA_EVENT_ERROR | RD_KAFKA_EVENT_STATS |
                                     RD_KAFKA_EVENT_REBALANCE | RD_KAFKA_EVENT_LOG);
  if (!(wb->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)))) {
    snprintf(errstr, errstr_size, "kafka: %s", err);
    goto fail;
  }
  conf = NULL;
  rd_kafka_poll_set_consumer(wb->rk);
  wb->queue = rd_kafka_queue_get_consumer(wb->rk);
  if (pipe(wb->pipe_fds) != 0) {
    snprintf(errstr, errstr_size, "pipe: %s", strerror(errno));
    return -1;
  }
  fcntl(wb->pipe_fds[0], F_SETFL, O_NONBLOCK);
  fcntl(wb->pipe_fds[1], F_SETFL, O_NONBLOCK);
  rd_kafka_queue_io_event_enable(wb->queue, wb->pipe_fds[1], "1", 1);

  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(4);
  char list[4096];
  snprintf(list, sizeof(list), "%s", c->topics);
  if (list[0] == '^') {
    rd_kafka_topic_partition_list_add(topics, list, RD_KAFKA_PARTITION_UA);
  } else {
    for (char *save = NULL, *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
      rd_kafka_topic_partition_list_add(topics, t, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t e = rd_kafka_subscribe(wb->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) {
    snprintf(errstr, errstr_size, "topics: \"%s\": %s", c->topics, rd_kafka_err2str(e));
    return -1;
  }
  wb->kafka_ok = 1; /* not known to be down until librdkafka says so (its first statistics come in 2 s) */
  wb->kafka_seen_ms = wb_now_ms();
  wb_log(wb, 2, "reading %s from %s (read_committed, from the beginning)", c->topics, c->kafka_bootstrap);
  return 0;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  return -1;
}

/* ---- HTTP and the stream ---- */

/* The service a callback belongs to (NULL for the context's own callbacks). */
static wb_t *wb_of(struct lws *wsi) {
  const struct lws_protocols *protocol = lws_get_protocol(wsi);
  return protocol ? protocol->user : NULL;
}

static int wb_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  wb_t *wb = wb_of(wsi);
  wb_http_t *req = user;
  if (!wb)
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  switch (reason) {
  case LWS_CALLBACK_HTTP: {
    const char *path = in ? (const char *)in : "/";
    const wb_asset_t *asset = wb_asset_find(strcmp(path, "/") == 0 ? "/index.html" : path);
    static const unsigned char ok[] = "ok\n", missing[] = "not found\n";
    unsigned status = HTTP_STATUS_OK;
    const char *type = "text/plain";
    if (asset) {
      req->body = asset->data;
      req->len = asset->len;
      type = asset->type;
    } else if (strcmp(path, "/healthz") == 0) {
      req->body = ok;
      req->len = 3;
    } else {
      req->body = missing;
      req->len = sizeof(missing) - 1;
      status = HTTP_STATUS_NOT_FOUND;
    }
    wb_log(wb, 3, "GET %s %u", path, status);
    uint8_t buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)req->len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return 1;
    lws_callback_on_writable(wsi);
    return 0;
  }
  case LWS_CALLBACK_HTTP_WRITEABLE: {
    if (!req || !req->body)
      return -1;
    unsigned char *buf = malloc(LWS_PRE + req->len + 1);
    if (!buf)
      return -1;
    memcpy(buf + LWS_PRE, req->body, req->len);
    int w = lws_write(wsi, buf + LWS_PRE, req->len, LWS_WRITE_HTTP_FINAL);
    free(buf);
    req->body = NULL;
    if (w < (int)req->len)
      return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  }
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int wb_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  wb_t *wb = wb_of(wsi);
  wb_session_t *s = user;
  if (!wb || !s)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED: {
    memset(s, 0, sizeof(*s));
    s->wsi = wsi;
    s->next = wb->sessions;
    if (wb->sessions)
      wb->sessions->prev = s;
    wb->sessions = s;
    size_t n = 0;
    char *snap = wb_view_snapshot(wb->view, wb->page_config, wb_now_ms(), wb->kafka_ok, &n);
    wb_msg_t *msg = snap ? wb_msg_new(snap, n) : NULL;
    free(snap);
    if (!msg)
      return -1;
    wb_session_push(s, msg);
    wb_log(wb, 3, "browser connected (%zu queues sent)", wb_view_count(wb->view));
    return 0;
  }
  case LWS_CALLBACK_SERVER_WRITEABLE: {
    if (s->closing)
      return -1;
    wb_out_t *out = s->head;
    if (!out)
      return 0;
    if (lws_write(wsi, out->msg->data + LWS_PRE, out->msg->len, LWS_WRITE_TEXT) < (int)out->msg->len)
      return -1;
    s->head = out->next;
    if (!s->head)
      s->tail = NULL;
    s->queued--;
    wb_msg_unref(out->msg);
    free(out);
    if (s->head)
      lws_callback_on_writable(wsi);
    return 0;
  }
  case LWS_CALLBACK_RECEIVE:
    return 0; /* the page sends nothing that matters */
  case LWS_CALLBACK_CLOSED:
    if (s->prev)
      s->prev->next = s->next;
    else if (wb->sessions == s)
      wb->sessions = s->next;
    if (s->next)
      s->next->prev = s->prev;
    wb_session_clear(s);
    return 0;
  default:
    break;
  }
  (void)in;
  (void)len;
  return 0;
}

static int wb_pipe_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  wb_t *wb = wb_of(wsi);
  if (reason == LWS_CALLBACK_RAW_RX_FILE && wb)
    wb_kafka_poll(wb);
  (void)user;
  (void)in;
  (void)len;
  return 0;
}

/* Each second: the heartbeat the pages judge staleness by. */
static void wb_tick(lws_sorted_usec_list_t *sul) {
  wb_t *wb = lws_container_of(sul, wb_t, sul_tick);
  if (wb->stop) {
    lws_cancel_service(wb->context);
    return;
  }
  if (wb->kafka_ok && wb_now_ms() - wb->kafka_seen_ms > 10000)
    wb->kafka_ok = 0; /* no statistics event for a while: librdkafka itself is stuck */
  json_t *hb = json_pack("{s:s,s:I,s:b,s:I,s:I}", "type", "heartbeat", "now_ms", (json_int_t)wb_now_ms(), "kafka_ok",
                         wb->kafka_ok, "records", (json_int_t)wb->records, "queues",
                         (json_int_t)wb_view_count(wb->view));
  char *text = hb ? json_dumps(hb, JSON_COMPACT) : NULL;
  json_decref(hb);
  if (text)
    wb_broadcast(wb, text, strlen(text));
  wb_kafka_poll(wb); /* in case a wake-up was missed */
  lws_sul_schedule(wb->context, 0, &wb->sul_tick, wb_tick, LWS_US_PER_SEC);
}

static void wb_on_signal(int sig) {
  (void)sig;
  if (wb_signal) {
    wb_signal->stop = 1;
    if (wb_signal->context)
      lws_cancel_service(wb_signal->context);
  }
}

static void wb_lws_log(int level, const char *line) {
  if (wb_signal && (level & LLL_ERR))
    wb_log(wb_signal, 1, "lws: %.*s", (int)strcspn(line, "\n"), line);
}

static int wb_write_ready_file(const char *path, int port, char *errstr, size_t errstr_size) {
  char tmp[1100];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    snprintf(errstr, errstr_size, "ready_file: cannot write \"%.200s\": %s", tmp, strerror(errno));
    return -1;
  }
  fprintf(fp, "{\"http_port\":%d,\"pid\":%d}", port, (int)getpid());
  fclose(fp);
  if (rename(tmp, path) != 0) {
    snprintf(errstr, errstr_size, "ready_file: cannot rename to \"%s\": %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

static int wb_start(wb_t *wb, char *errstr, size_t errstr_size) {
  const wb_config_t *c = wb->config;
  json_t *pc = json_pack("{s:s,s:I,s:{s:I,s:I},s:{s:I,s:I},s:{s:I,s:I}}", "title", c->title, "stale_seconds",
                         (json_int_t)c->stale_seconds, "waiting", "warn", (json_int_t)c->warn_waiting, "alert",
                         (json_int_t)c->alert_waiting, "wait_seconds", "warn", (json_int_t)c->warn_wait_seconds,
                         "alert", (json_int_t)c->alert_wait_seconds, "service_level", "warn",
                         (json_int_t)c->warn_service_level, "alert", (json_int_t)c->alert_service_level);
  wb->page_config = pc ? json_dumps(pc, JSON_COMPACT) : NULL;
  json_decref(pc);
  wb->view = wb_view_new();
  if (!wb->page_config || !wb->view) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  if (wb_kafka_start(wb, errstr, errstr_size) != 0)
    return -1;

  wb->protocols[0] = (struct lws_protocols){"http", wb_http_callback, sizeof(wb_http_t), 0, 0, wb, 0};
  wb->protocols[1] = (struct lws_protocols){"wallboard", wb_ws_callback, sizeof(wb_session_t), 4096, 0, wb, 0};
  wb->protocols[2] = (struct lws_protocols){"wallboard-kafka", wb_pipe_callback, 0, 0, 0, wb, 0};
  lws_set_log_level(LLL_ERR, wb_lws_log);
  char host[256];
  const char *colon = strrchr(c->listen, ':');
  snprintf(host, sizeof(host), "%.*s", (int)(colon - c->listen), c->listen);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = atoi(colon + 1);
  info.iface = host[0] ? host : NULL;
  info.protocols = wb->protocols;
  info.gid = -1;
  info.uid = -1;
  info.vhost_name = "wallboard";
  wb->context = lws_create_context(&info);
  wb->vhost = wb->context ? lws_get_vhost_by_name(wb->context, "wallboard") : NULL;
  if (!wb->vhost) {
    snprintf(errstr, errstr_size, "listen: cannot listen on %s", c->listen);
    return -1;
  }
  lws_sock_file_fd_type fd;
  fd.filefd = wb->pipe_fds[0];
  if (!lws_adopt_descriptor_vhost(wb->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "wallboard-kafka", NULL)) {
    snprintf(errstr, errstr_size, "libwebsockets: cannot watch the Kafka queue");
    return -1;
  }
  int port = lws_get_vhost_listen_port(wb->vhost);
  wb_log(wb, 2, "serving the wallboard on http://%s:%d/", host[0] ? host : "0.0.0.0", port);
  lws_sul_schedule(wb->context, 0, &wb->sul_tick, wb_tick, LWS_US_PER_SEC);
  if (c->ready_file[0] && wb_write_ready_file(c->ready_file, port, errstr, errstr_size) != 0)
    return -1;
  return 0;
}

static void wb_stop(wb_t *wb) {
  while (wb->sessions) { /* the context's teardown closes them; their queues go here */
    wb_session_t *s = wb->sessions;
    wb->sessions = s->next;
    wb_session_clear(s);
  }
  if (wb->context)
    lws_context_destroy(wb->context);
  if (wb->queue)
    rd_kafka_queue_destroy(wb->queue);
  if (wb->rk) {
    rd_kafka_consumer_close(wb->rk);
    rd_kafka_destroy(wb->rk);
  }
  if (wb->pipe_fds[0] >= 0)
    close(wb->pipe_fds[0]);
  if (wb->pipe_fds[1] >= 0)
    close(wb->pipe_fds[1]);
  wb_view_destroy(wb->view);
  free(wb->page_config);
}

int main(int argc, char **argv) {
  static const char *const levels[] = {"error", "warn", "info", "debug"};
  char errstr[1024];
  wb_action_t action;
  wb_t wb;
  memset(&wb, 0, sizeof(wb));
  wb.pipe_fds[0] = wb.pipe_fds[1] = -1;
  if (wb_config_load(argc, argv, environ, stdout, &wb.config, &action, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "mtcti3-wallboard: %s\n", errstr);
    return 2;
  }
  if (action == WB_EXIT_OK) {
    wb_config_destroy(wb.config);
    return 0;
  }
  for (int i = 0; i < 4; i++)
    if (strcmp(wb.config->log_level, levels[i]) == 0)
      wb.level = i;
  wb_signal = &wb;
  signal(SIGINT, wb_on_signal);
  signal(SIGTERM, wb_on_signal);
  signal(SIGPIPE, SIG_IGN);
  int rc = 0;
  if (wb_start(&wb, errstr, sizeof(errstr)) != 0) {
    int config_error = !wb.context && wb.rk == NULL; /* a Kafka property or the listen address */
    fprintf(stderr, "mtcti3-wallboard: %s\n", errstr);
    rc = config_error || strncmp(errstr, "listen:", 7) == 0 || strncmp(errstr, "kafka.", 6) == 0 ? 2 : 1;
  } else {
    while (!wb.stop && lws_service(wb.context, 0) >= 0)
      ;
    wb_log(&wb, 2, "stopping");
  }
  wb_stop(&wb);
  wb_config_destroy(wb.config);
  return rc;
}
