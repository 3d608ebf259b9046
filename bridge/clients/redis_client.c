/*
 * redis_client: hiredis async on the libwebsockets loop.  See redis_client.h.
 */
#define _GNU_SOURCE /* getaddrinfo_a */
#include "redis_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <libwebsockets.h>

#include "bclock.h"
#include "blog.h"
#include "metrics.h"

#define REDIS_CLIENT_PROTOCOL "mtcti3-redis"
#define REDIS_CLIENT_RESOLVE_POLL_US (10 * LWS_US_PER_MS)

/* Reconnect delays (ms): lws_retry_bo_t repeats the last one, with jitter. */
static const uint32_t redis_client_backoff_ms[] = {50, 100, 200, 500, 1000};
static const lws_retry_bo_t redis_client_retry = {
    .retry_ms_table = redis_client_backoff_ms,
    .retry_ms_table_count = sizeof(redis_client_backoff_ms) / sizeof(redis_client_backoff_ms[0]),
    .conceal_count = LWS_RETRY_CONCEAL_ALWAYS, /* never give up */
    .jitter_percent = 20,
};

typedef enum redis_client_state {
  REDIS_CLIENT_DOWN,      /* no connection; the retry timer runs */
  REDIS_CLIENT_RESOLVING, /* getaddrinfo_a runs */
  REDIS_CLIENT_HANDSHAKE, /* connecting; AUTH, SELECT, PING in flight */
  REDIS_CLIENT_UP,
  REDIS_CLIENT_CLOSING    /* being destroyed */
} redis_client_state_t;

/* The handshake's steps, in the order they are pipelined. */
typedef enum redis_client_step { REDIS_STEP_NONE, REDIS_STEP_AUTH, REDIS_STEP_SELECT, REDIS_STEP_PING } redis_client_step_t;

/* One command: in flight (sent to hiredis), waiting for the handshake, or failed and waiting to be told. */
typedef struct redis_client_req {
  lws_dll2_t list;
  redis_client_t *client;
  redis_client_cb *cb; /* NULL for a handshake step */
  void *opaque;
  redis_client_step_t step;
  char *formatted; /* waiting: the command as hiredis formatted it */
  int formatted_len;
  int64_t sent_us; /* monotonic, when handed to hiredis */
  char errstr[600]; /* failed: why */
} redis_client_req_t;

/* An asynchronous name lookup (its own allocation: glibc's resolver thread writes into it). */
typedef struct redis_client_resolve {
  struct gaicb gai;
  struct addrinfo hints;
  char host[256];
  char port[8];
} redis_client_resolve_t;

struct redis_client {
  struct lws_context *context;
  struct lws_vhost *vhost;
  redis_client_url_t url;
  char name[64];
  int timeout_ms;
  redis_client_state_t state;
  redisAsyncContext *ac; /* the connection, NULL when none */
  struct lws *wsi;       /* watches a dup of ac's socket */
  redis_client_resolve_t *resolve;
  lws_dll2_owner_t inflight; /* handed to hiredis, oldest first */
  lws_dll2_owner_t waiting;  /* issued during the handshake */
  lws_dll2_owner_t failed;   /* to be answered with an error */
  lws_sorted_usec_list_t sul_retry, sul_timer, sul_failed;
  uint16_t retry_count;
  int64_t attempt_us;    /* monotonic: the current attempt's start */
  int64_t down_since_ms; /* wall: the outage's start; 0 when up */
  int ever_up, outage_logged;
  uint64_t connects, errors, attempts;
  char lost[600];    /* why the current connection ends / the last attempt failed */
  char last_error[600];
  char address[270];
};

static void redis_client_connect(redis_client_t *client);
static void redis_client_drop(redis_client_t *client, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- answering ---- */

static void redis_client_metrics(const redis_client_t *client) {
  metrics_set(METRICS_REDIS_CONNECTED, client->state == REDIS_CLIENT_UP);
  metrics_set(METRICS_REDIS_PENDING, (int64_t)(client->inflight.count + client->waiting.count));
}

static void redis_client_failed_cb(lws_sorted_usec_list_t *sul);

/* Answer `req` with an error later (never from inside the caller's redis_client_command). */
static void redis_client_fail_later(redis_client_t *client, redis_client_req_t *req, const char *errstr) {
  lws_dll2_remove(&req->list);
  snprintf(req->errstr, sizeof(req->errstr), "%s", errstr);
  lws_dll2_add_tail(&req->list, &client->failed);
  if (client->state != REDIS_CLIENT_CLOSING)
    lws_sul_schedule(client->context, 0, &client->sul_failed, redis_client_failed_cb, 1);
}

static void redis_client_req_free(redis_client_req_t *req) {
  free(req->formatted);
  free(req);
}

/* Tell every failed command why; their callbacks may fail more, which are told too. */
static void redis_client_answer_failed(redis_client_t *client) {
  struct lws_dll2 *d;
  while ((d = lws_dll2_get_head(&client->failed)) != NULL) {
    redis_client_req_t *req = lws_container_of(d, redis_client_req_t, list);
    lws_dll2_remove(d);
    client->errors++;
    metrics_add(METRICS_REDIS_ERRORS, 1);
    if (req->cb)
      req->cb(req->opaque, NULL, req->errstr);
    redis_client_req_free(req);
  }
  redis_client_metrics(client);
}

static void redis_client_failed_cb(lws_sorted_usec_list_t *sul) {
  redis_client_answer_failed(lws_container_of(sul, redis_client_t, sul_failed));
}

/* ---- the timer: a stalled server, a slow connect, a name lookup ---- */

static void redis_client_timer_cb(lws_sorted_usec_list_t *sul);

/* Arm the timer for the oldest thing that can time out (or the name lookup's next poll). */
static void redis_client_arm(redis_client_t *client) {
  int64_t due, limit = (int64_t)client->timeout_ms * 1000;
  switch (client->state) {
  case REDIS_CLIENT_RESOLVING:
    due = REDIS_CLIENT_RESOLVE_POLL_US;
    break;
  case REDIS_CLIENT_HANDSHAKE:
    due = client->attempt_us + limit - bclock_mono_us();
    break;
  case REDIS_CLIENT_UP:
    if (!client->inflight.head) {
      lws_sul_cancel(&client->sul_timer);
      return;
    }
    due = lws_container_of(client->inflight.head, redis_client_req_t, list)->sent_us + limit - bclock_mono_us();
    break;
  default:
    lws_sul_cancel(&client->sul_timer);
    return;
  }
  lws_sul_schedule(client->context, 0, &client->sul_timer, redis_client_timer_cb, due > 0 ? due : 1);
}

/* ---- the socket, watched by the loop ---- */

/* hiredis's event hooks: ev.data is the client. */
static void redis_client_add_read(void *data) {
  redis_client_t *client = data;
  if (client->wsi)
    lws_rx_flow_control(client->wsi, 1);
}

static void redis_client_del_read(void *data) {
  redis_client_t *client = data;
  if (client->wsi)
    lws_rx_flow_control(client->wsi, 0);
}

static void redis_client_add_write(void *data) {
  redis_client_t *client = data;
  if (client->wsi)
    lws_callback_on_writable(client->wsi);
}

static void redis_client_del_write(void *data) { (void)data; /* POLLOUT is one-shot in the loop */ }

static void redis_client_retry_cb(lws_sorted_usec_list_t *sul);

/*
 * hiredis is done with the connection (lost, refused, or freed by us): stop
 * watching the socket, and unless the client is closing, try again after
 * the backoff.  Called once or twice per connection (hiredis may repeat it).
 */
static void redis_client_cleanup(void *data) {
  redis_client_t *client = data;
  if (client->wsi) {
    lws_set_opaque_user_data(client->wsi, NULL);
    lws_set_timeout(client->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC); /* closes the dup */
    client->wsi = NULL;
  }
  if (client->ac) { /* hiredis found the error: take its words */
    if (!client->lost[0])
      snprintf(client->lost, sizeof(client->lost), "redis %s: %s: %s", client->address,
               client->state == REDIS_CLIENT_UP ? "connection lost" : "cannot connect",
               client->ac->errstr && client->ac->errstr[0] ? client->ac->errstr : "closed");
    client->ac = NULL;
  }
  if (client->state == REDIS_CLIENT_CLOSING || client->state == REDIS_CLIENT_DOWN)
    return;
  int was_up = client->state == REDIS_CLIENT_UP;
  client->state = REDIS_CLIENT_DOWN;
  snprintf(client->last_error, sizeof(client->last_error), "%s", client->lost);
  if (!client->down_since_ms)
    client->down_since_ms = bclock_wall_ms();
  if (was_up || !client->outage_logged) {
    BLOG_W(REDIS, client->name, "%s; %s", client->lost, was_up ? "reconnecting" : "retrying");
    client->outage_logged = 1;
  } else {
    BLOG_D(REDIS, client->name, "%s; retrying", client->lost);
  }
  /* commands issued for this attempt will not be sent on it */
  struct lws_dll2 *d;
  while ((d = lws_dll2_get_head(&client->waiting)) != NULL)
    redis_client_fail_later(client, lws_container_of(d, redis_client_req_t, list), client->lost);
  lws_sul_cancel(&client->sul_timer);
  lws_retry_sul_schedule(client->context, 0, &client->sul_retry, &redis_client_retry, redis_client_retry_cb,
                         &client->retry_count);
  redis_client_metrics(client);
}

static int redis_client_wsi_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                               size_t len) {
  redis_client_t *client = lws_get_opaque_user_data(wsi);
  (void)user;
  (void)in;
  (void)len;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    if (!client || !client->ac)
      return -1; /* a connection already given up: close our copy */
    redisAsyncHandleRead(client->ac);
    break;
  case LWS_CALLBACK_RAW_WRITEABLE_FILE:
    if (client && client->ac)
      redisAsyncHandleWrite(client->ac);
    break;
  case LWS_CALLBACK_RAW_CLOSE_FILE: /* the loop saw the socket hang up */
    if (client && client->wsi == wsi) {
      client->wsi = NULL;
      if (client->ac)
        redis_client_drop(client, "redis %s: connection closed", client->address);
    }
    break;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols redis_client_protocols[] = {
    {REDIS_CLIENT_PROTOCOL, redis_client_wsi_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- the connection's life ---- */

/*
 * Give the connection up (from anywhere, hiredis callbacks included): every
 * command in flight is answered with the reason, then the retry runs.
 */
static void redis_client_drop(redis_client_t *client, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(client->lost, sizeof(client->lost), fmt, ap);
  va_end(ap);
  redisAsyncContext *ac = client->ac;
  if (ac)
    redisAsyncFree(ac); /* answers the callbacks with NULL, then cleanup; deferred when inside a callback */
}

/* hiredis's reply callback; privdata is the request. */
static void redis_client_on_reply(redisAsyncContext *ac, void *r, void *privdata) {
  redis_client_req_t *req = privdata;
  redis_client_t *client = req->client;
  redisReply *reply = r;
  lws_dll2_remove(&req->list);
  if (req->step != REDIS_STEP_NONE) {
    /* a handshake step: an error reply ends the attempt; PING's answer ends the handshake */
    if (reply && reply->type == REDIS_REPLY_ERROR && client->ac) {
      static const char *const what[] = {"", "AUTH", "SELECT", "PING"};
      if (req->step == REDIS_STEP_AUTH)
        redis_client_drop(client, "redis %s: AUTH as %s%s%s refused: %s", client->address,
                          client->url.user[0] ? "user \"" : "the default user", client->url.user,
                          client->url.user[0] ? "\"" : "", reply->str);
      else if (req->step == REDIS_STEP_SELECT)
        redis_client_drop(client, "redis %s: SELECT %d refused: %s", client->address, client->url.db, reply->str);
      else
        redis_client_drop(client, "redis %s: %s refused: %s%s", client->address, what[req->step], reply->str,
                          strncmp(reply->str, "NOAUTH", 6) == 0 ? " (set redis_password)" : "");
    } else if (reply && req->step == REDIS_STEP_PING && client->state == REDIS_CLIENT_HANDSHAKE && client->ac) {
      client->state = REDIS_CLIENT_UP;
      client->connects++;
      client->retry_count = 0;
      client->last_error[0] = '\0';
      if (client->down_since_ms && client->ever_up)
        BLOG_I(REDIS, client->name, "redis %s: connected again after %lld ms down (%llu attempts)", client->address,
               (long long)(bclock_wall_ms() - client->down_since_ms), (unsigned long long)client->attempts);
      else if (client->attempts > 1)
        BLOG_I(REDIS, client->name, "redis %s: connected after %lld ms (%llu attempts)", client->address,
               (long long)(bclock_wall_ms() - client->down_since_ms), (unsigned long long)client->attempts);
      else
        BLOG_I(REDIS, client->name, "redis %s: connected", client->address);
      client->ever_up = 1;
      client->outage_logged = 0;
      client->down_since_ms = 0;
      client->attempts = 0;
      /* what waited for the handshake goes now, in order */
      struct lws_dll2 *d;
      while ((d = lws_dll2_get_head(&client->waiting)) != NULL) {
        redis_client_req_t *w = lws_container_of(d, redis_client_req_t, list);
        lws_dll2_remove(d);
        if (redisAsyncFormattedCommand(client->ac, redis_client_on_reply, w, w->formatted, (size_t)w->formatted_len) !=
            REDIS_OK) {
          redis_client_fail_later(client, w, "redis: cannot queue the command");
          continue;
        }
        free(w->formatted);
        w->formatted = NULL;
        w->sent_us = bclock_mono_us();
        lws_dll2_add_tail(&w->list, &client->inflight);
      }
    }
    redis_client_req_free(req);
  } else if (reply) {
    req->cb(req->opaque, reply, NULL);
    redis_client_req_free(req);
  } else {
    /* the connection went away with the command unanswered */
    if (!client->lost[0]) /* hiredis saw the error and answers before its cleanup hook */
      snprintf(client->lost, sizeof(client->lost), "redis %s: connection lost: %s", client->address,
               ac && ac->errstr && ac->errstr[0] ? ac->errstr : "closed");
    client->errors++;
    metrics_add(METRICS_REDIS_ERRORS, 1);
    req->cb(req->opaque, NULL, client->lost[0] ? client->lost : "redis: connection lost");
    redis_client_req_free(req);
  }
  if (client->state != REDIS_CLIENT_CLOSING) {
    redis_client_arm(client);
    redis_client_metrics(client);
  }
}

/* Hand a handshake step to hiredis (it waits in hiredis's buffer until connected). */
static int redis_client_step(redis_client_t *client, redis_client_step_t step, int argc, const char **argv) {
  redis_client_req_t *req = calloc(1, sizeof(*req));
  if (!req)
    return -1;
  req->client = client;
  req->step = step;
  req->sent_us = client->attempt_us;
  if (redisAsyncCommandArgv(client->ac, redis_client_on_reply, req, argc, argv, NULL) != REDIS_OK) {
    free(req);
    return -1;
  }
  lws_dll2_add_tail(&req->list, &client->inflight);
  return 0;
}

/* Connect to a numeric address: adopt the socket into the loop, pipeline the handshake. */
static void redis_client_open(redis_client_t *client, const char *ip) {
  client->lost[0] = '\0';
  redisAsyncContext *ac = redisAsyncConnect(ip, client->url.port);
  if (!ac || ac->err) {
    snprintf(client->lost, sizeof(client->lost), "redis %s: cannot connect: %s", client->address,
             ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    client->state = REDIS_CLIENT_HANDSHAKE; /* so that cleanup counts the failure */
    redis_client_cleanup(client);
    return;
  }
  client->ac = ac;
  client->state = REDIS_CLIENT_HANDSHAKE;
  lws_sock_file_fd_type fd;
  fd.filefd = dup(ac->c.fd);
  if (fd.filefd >= 0)
    client->wsi = lws_adopt_descriptor_vhost(client->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, REDIS_CLIENT_PROTOCOL, NULL);
  if (!client->wsi) {
    if (fd.filefd >= 0)
      close(fd.filefd);
    redis_client_drop(client, "redis %s: the event loop cannot watch the socket", client->address);
    return;
  }
  lws_set_opaque_user_data(client->wsi, client);
  ac->ev.data = client;
  ac->ev.addRead = redis_client_add_read;
  ac->ev.delRead = redis_client_del_read;
  ac->ev.addWrite = redis_client_add_write;
  ac->ev.delWrite = redis_client_del_write;
  ac->ev.cleanup = redis_client_cleanup;

  char db[16];
  const char *auth[3] = {"AUTH", NULL, NULL}, *select[2] = {"SELECT", db}, *ping[1] = {"PING"};
  int rc = 0;
  if (client->url.password[0] || client->url.user[0]) {
    int n = 1;
    if (client->url.user[0])
      auth[n++] = client->url.user;
    auth[n++] = client->url.password;
    rc |= redis_client_step(client, REDIS_STEP_AUTH, n, auth);
  }
  if (client->url.db) {
    snprintf(db, sizeof(db), "%d", client->url.db);
    rc |= redis_client_step(client, REDIS_STEP_SELECT, 2, select);
  }
  rc |= redis_client_step(client, REDIS_STEP_PING, 1, ping);
  if (rc)
    redis_client_drop(client, "redis %s: cannot queue the handshake", client->address);
  else
    redis_client_arm(client);
}

/* The name lookup is done (or still runs: poll again). */
static void redis_client_resolved(redis_client_t *client) {
  redis_client_resolve_t *res = client->resolve;
  int rc = gai_error(&res->gai);
  if (rc == EAI_INPROGRESS) {
    if (bclock_mono_us() - client->attempt_us > (int64_t)client->timeout_ms * 1000) {
      if (gai_cancel(&res->gai) == EAI_ALLDONE || gai_error(&res->gai) != EAI_INPROGRESS) {
        if (res->gai.ar_result)
          freeaddrinfo(res->gai.ar_result);
        free(res);
      } /* else: still running in glibc's thread; left to finish (a small, rare leak beats a crash) */
      client->resolve = NULL;
      snprintf(client->lost, sizeof(client->lost), "redis %s: no address for \"%s\" in %d ms", client->address,
               client->url.host, client->timeout_ms);
      client->state = REDIS_CLIENT_HANDSHAKE;
      redis_client_cleanup(client);
      return;
    }
    redis_client_arm(client);
    return;
  }
  char ip[INET6_ADDRSTRLEN] = "";
  if (rc == 0 && res->gai.ar_result) {
    const struct addrinfo *ai = res->gai.ar_result;
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) != 0)
      ip[0] = '\0';
  }
  if (res->gai.ar_result)
    freeaddrinfo(res->gai.ar_result);
  free(res);
  client->resolve = NULL;
  if (!ip[0]) {
    snprintf(client->lost, sizeof(client->lost), "redis %s: no address for \"%s\": %s", client->address,
             client->url.host, rc ? gai_strerror(rc) : "none");
    client->state = REDIS_CLIENT_HANDSHAKE;
    redis_client_cleanup(client);
    return;
  }
  redis_client_open(client, ip);
}

static void redis_client_timer_cb(lws_sorted_usec_list_t *sul) {
  redis_client_t *client = lws_container_of(sul, redis_client_t, sul_timer);
  int64_t now = bclock_mono_us(), limit = (int64_t)client->timeout_ms * 1000;
  switch (client->state) {
  case REDIS_CLIENT_RESOLVING:
    redis_client_resolved(client);
    break;
  case REDIS_CLIENT_HANDSHAKE:
    if (now - client->attempt_us >= limit)
      redis_client_drop(client, "redis %s: no answer to connect and handshake in %d ms", client->address,
                        client->timeout_ms);
    else
      redis_client_arm(client);
    break;
  case REDIS_CLIENT_UP:
    if (client->inflight.head &&
        now - lws_container_of(client->inflight.head, redis_client_req_t, list)->sent_us >= limit)
      redis_client_drop(client, "redis %s: no reply in %d ms", client->address, client->timeout_ms);
    else
      redis_client_arm(client);
    break;
  default:
    break;
  }
}

/* Start an attempt: look the name up (without waiting) or connect to the address. */
static void redis_client_connect(redis_client_t *client) {
  unsigned char addr[sizeof(struct in6_addr)];
  client->attempts++;
  client->attempt_us = bclock_mono_us();
  client->lost[0] = '\0';
  if (inet_pton(AF_INET, client->url.host, addr) == 1 || inet_pton(AF_INET6, client->url.host, addr) == 1) {
    redis_client_open(client, client->url.host);
    return;
  }
  redis_client_resolve_t *res = calloc(1, sizeof(*res));
  if (!res) {
    snprintf(client->lost, sizeof(client->lost), "redis %s: out of memory", client->address);
    client->state = REDIS_CLIENT_HANDSHAKE;
    redis_client_cleanup(client);
    return;
  }
  snprintf(res->host, sizeof(res->host), "%s", client->url.host);
  snprintf(res->port, sizeof(res->port), "%d", client->url.port);
  res->hints.ai_family = AF_UNSPEC;
  res->hints.ai_socktype = SOCK_STREAM;
  res->gai.ar_name = res->host;
  res->gai.ar_service = res->port;
  res->gai.ar_request = &res->hints;
  struct gaicb *list[1] = {&res->gai};
  int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL);
  if (rc != 0) {
    free(res);
    snprintf(client->lost, sizeof(client->lost), "redis %s: cannot look \"%s\" up: %s", client->address,
             client->url.host, gai_strerror(rc));
    client->state = REDIS_CLIENT_HANDSHAKE;
    redis_client_cleanup(client);
    return;
  }
  client->resolve = res;
  client->state = REDIS_CLIENT_RESOLVING;
  redis_client_arm(client);
}

static void redis_client_retry_cb(lws_sorted_usec_list_t *sul) {
  redis_client_t *client = lws_container_of(sul, redis_client_t, sul_retry);
  if (client->state == REDIS_CLIENT_DOWN)
    redis_client_connect(client);
}

/* ---- the API ---- */

void redis_client_config_init(redis_client_config_t *conf) {
  memset(conf, 0, sizeof(*conf));
  conf->timeout_ms = 2000;
}

int redis_client_new(const redis_client_config_t *conf, struct lws_context *context, redis_client_t **out,
                     char *errstr, size_t errstr_size) {
  redis_client_t *client = calloc(1, sizeof(*client));
  *out = NULL;
  if (!client) {
    snprintf(errstr, errstr_size, "redis: out of memory");
    return -1;
  }
  client->context = context;
  client->state = REDIS_CLIENT_CLOSING; /* until started: cleanup does nothing */
  if (redis_client_url_parse(conf->url, "redis_url", &client->url, errstr, errstr_size) != 0)
    goto fail;
  if (conf->password && conf->password[0])
    snprintf(client->url.password, sizeof(client->url.password), "%s", conf->password);
  snprintf(client->name, sizeof(client->name), "%s", conf->name ? conf->name : "redis");
  client->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 2000;
  snprintf(client->address, sizeof(client->address), strchr(client->url.host, ':') ? "[%s]:%d" : "%s:%d",
           client->url.host, client->url.port);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = redis_client_protocols;
  info.vhost_name = "redis";
  client->vhost = lws_create_vhost(context, &info);
  if (!client->vhost) {
    snprintf(errstr, errstr_size, "redis: libwebsockets cannot make the client's vhost");
    goto fail;
  }
  client->state = REDIS_CLIENT_DOWN;
  client->down_since_ms = bclock_wall_ms();
  redis_client_connect(client);
  redis_client_metrics(client);
  *out = client;
  return 0;
fail:
  redis_client_destroy(client);
  return -1;
}

void redis_client_command(redis_client_t *client, int argc, const char **argv, const size_t *argvlen,
                          redis_client_cb *cb, void *opaque) {
  redis_client_req_t *req = calloc(1, sizeof(*req));
  if (!req) { /* nothing to remember the callback by: the one answer given from inside */
    BLOG_E(REDIS, client->name, "out of memory: a command is lost");
    cb(opaque, NULL, "redis: out of memory");
    return;
  }
  req->client = client;
  req->cb = cb;
  req->opaque = opaque;
  switch (client->state) {
  case REDIS_CLIENT_UP:
    if (redisAsyncCommandArgv(client->ac, redis_client_on_reply, req, argc, argv, argvlen) != REDIS_OK) {
      redis_client_fail_later(client, req, client->lost[0] ? client->lost : "redis: cannot queue the command");
      return;
    }
    lws_dll2_remove(&req->list);
    req->sent_us = bclock_mono_us();
    lws_dll2_add_tail(&req->list, &client->inflight);
    if (client->inflight.count == 1)
      redis_client_arm(client);
    break;
  case REDIS_CLIENT_RESOLVING:
  case REDIS_CLIENT_HANDSHAKE:
    req->formatted_len = redisFormatCommandArgv(&req->formatted, argc, argv, argvlen);
    if (req->formatted_len < 0) {
      req->formatted = NULL;
      redis_client_fail_later(client, req, "redis: out of memory");
      return;
    }
    lws_dll2_remove(&req->list);
    lws_dll2_add_tail(&req->list, &client->waiting);
    break;
  case REDIS_CLIENT_DOWN:
  case REDIS_CLIENT_CLOSING: {
    char why[400];
    snprintf(why, sizeof(why), "redis %s: %s", client->address,
             client->state == REDIS_CLIENT_CLOSING ? "shutting down" : "not connected");
    redis_client_fail_later(client, req, why);
    return;
  }
  }
  redis_client_metrics(client);
}

void redis_client_health(const redis_client_t *client, redis_client_health_t *health) {
  memset(health, 0, sizeof(*health));
  health->connected = client->state == REDIS_CLIENT_UP;
  health->pending = client->inflight.count + client->waiting.count;
  health->down_since_ms = client->state == REDIS_CLIENT_UP ? 0 : client->down_since_ms;
  health->connects = client->connects;
  health->errors = client->errors;
  snprintf(health->last_error, sizeof(health->last_error), "%s", client->last_error);
  snprintf(health->address, sizeof(health->address), "%s", client->address);
}

int redis_client_ready(void *opaque, char *why, size_t why_size) {
  const redis_client_t *client = opaque;
  if (client->state == REDIS_CLIENT_UP)
    return 1;
  if (client->last_error[0])
    snprintf(why, why_size, "unreachable for %lld s: %s",
             (long long)(bclock_wall_ms() - client->down_since_ms) / 1000, client->last_error);
  else
    snprintf(why, why_size, "connecting to %s", client->address);
  return 0;
}

void redis_client_destroy(redis_client_t *client) {
  if (!client)
    return;
  client->state = REDIS_CLIENT_CLOSING;
  lws_sul_cancel(&client->sul_retry);
  lws_sul_cancel(&client->sul_timer);
  lws_sul_cancel(&client->sul_failed);
  snprintf(client->lost, sizeof(client->lost), "redis %s: shutting down", client->address);
  if (client->ac) {
    redisAsyncContext *ac = client->ac;
    redisAsyncFree(ac); /* answers what is in flight ("shutting down"), then cleanup */
    client->ac = NULL;
  }
  while (client->waiting.head || client->failed.head) {
    struct lws_dll2 *d;
    while ((d = lws_dll2_get_head(&client->waiting)) != NULL)
      redis_client_fail_later(client, lws_container_of(d, redis_client_req_t, list), client->lost);
    redis_client_answer_failed(client);
  }
  if (client->resolve) {
    redis_client_resolve_t *res = client->resolve;
    if (gai_cancel(&res->gai) != EAI_NOTCANCELED || gai_error(&res->gai) != EAI_INPROGRESS) {
      if (res->gai.ar_result)
        freeaddrinfo(res->gai.ar_result);
      free(res);
    } /* else left to glibc's thread to finish (see redis_client_resolved) */
  }
  if (client->wsi) {
    lws_set_opaque_user_data(client->wsi, NULL);
    lws_set_timeout(client->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
  }
  if (client->vhost)
    lws_vhost_destroy(client->vhost);
  metrics_set(METRICS_REDIS_CONNECTED, 0);
  metrics_set(METRICS_REDIS_PENDING, 0);
  redis_client_url_clear(&client->url);
  free(client);
}
