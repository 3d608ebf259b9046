/*
 * sim_server: see sim_server.h.
 */
#include "sim_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>
#include <openssl/crypto.h>

#include "codec_frame.h"
#include "codec_json.h"
#include "codec_tables.h"
#include "sim_general.h"
#include "sim_log.h"
#include "sim_timer.h"

#define OUTQ_MAX 4096   /* messages queued for one client before we give up on it */
#define OUT_CHUNK 16384 /* bytes per write: one TLS record */
#define OUT_CHUNKS 16   /* writes per writable callback, while the socket takes them */
#define WS_HEADER_MAX 10
#define MTCTI3_PATH "/tpkt/openapi"
#define REQUEST_LOG 512 /* requests kept for GET /requests */

typedef struct sys sys_t;

typedef struct conn {
  lws_dll2_t list;     /* in its system's connections */
  sim_server_t *server;
  sys_t *sys;
  struct lws *wsi;
  int id;
  codec_framing_t framing;
  sim_subs_conn_t *subs;
  /*
   * Messages waiting for the socket: whole websocket frames (header and
   * payload, as lws would frame them) in one buffer, out[out_head..out_len),
   * out_count of them.
   */
  uint8_t *out;
  size_t out_head, out_len, out_cap, out_count;
  uint8_t *rx;
  size_t rx_len, rx_cap;
  int rx_text;      /* the message being received came in a text frame */
  int closing;
  enum lws_close_status close_status;
} conn_t;

typedef struct pss {
  conn_t *conn;
} pss_t;

/*
 * One IP Office: its listener, connections and subscriptions.  The
 * listening socket is our own, adopted into the lws loop: failing the
 * system closes it (connecting is then refused, as with a dead box) and
 * restoring opens it again on the same port (lws 4.1 does not close a
 * vhost's listener when the vhost is destroyed).  Accepted sockets go to the
 * one TLS vhost of all systems, each connection's wsi carrying its system as
 * opaque user data (one vhost: lws would move a connection to the first of
 * several non-listening vhosts when it reads the Host header).
 */
struct sys {
  sim_server_t *server;
  int index;
  char name[32];
  char addr[128];
  int port;              /* asked for; once listening, the port it got (kept for restore) */
  struct lws *lwsi;      /* the listening socket adopted into lws; NULL while down */
  sim_subs_t *subs;
  lws_dll2_owner_t conns;
  int up;
  unsigned long failures;
};

struct sim_server {
  sim_server_config_t cfg;
  struct lws_context *lws;
  sim_timers_t *timers;
  struct lws_vhost *ctl;
  struct lws_vhost *wss;       /* TLS, serving every system's accepted connections */
  struct lws_vhost *listeners; /* holds the systems' adopted listening sockets */
  sim_model_t *model;
  sys_t sys[SIM_MAX_SYSTEMS];
  int n_sys;
  int next_conn_id;
  int paused;
  volatile sig_atomic_t stop;
  unsigned long msgs_in, msgs_out, bad_in, refused_auth, refused_limit, dropped;
  unsigned long subscribecmds, generalcmds; /* requests handled (not while paused) */
  /* the last REQUEST_LOG requests handled (SubscribeCmd, GeneralCmd), oldest first from log_next */
  json_t *request_log[REQUEST_LOG];
  unsigned long requests_logged;
  char expected_auth[600];
};

/* ---- sending ---- */

/* A server's websocket frame header (FIN, binary, unmasked) for len payload bytes. */
static size_t ws_header(uint8_t *h, size_t len) {
  h[0] = 0x82;
  if (len < 126) {
    h[1] = (uint8_t)len;
    return 2;
  }
  if (len < 65536) {
    h[1] = 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; i++)
    h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  return 10;
}

/* Length of the whole frame starting at h (one of ours, from ws_header). */
static size_t ws_frame_len(const uint8_t *h) {
  size_t len = h[1] & 0x7f;
  if (len == 126)
    return 4 + ((size_t)h[2] << 8 | h[3]);
  if (len == 127) {
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
      n = n << 8 | h[2 + i];
    return 10 + (size_t)n;
  }
  return 2 + len;
}

/* Room for n more bytes at out + out_len; NULL when out of memory. */
static uint8_t *out_reserve(conn_t *c, size_t n) {
  if (c->out_head && c->out_len + n > c->out_cap) {
    memmove(c->out, c->out + c->out_head, c->out_len - c->out_head);
    c->out_len -= c->out_head;
    c->out_head = 0;
  }
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 65536;
    while (cap < c->out_len + n)
      cap *= 2;
    uint8_t *p = realloc(c->out, cap);
    if (!p)
      return NULL;
    c->out = p;
    c->out_cap = cap;
  }
  return c->out + c->out_len;
}

/* Queue one message: framed straight into the connection's output buffer. */
static int conn_send(void *ctx, const Message *msg) {
  conn_t *c = ctx;
  sim_server_t *s = c->server;
  char errstr[256];
  if (c->closing)
    return -1;
  if (c->out_count == OUTQ_MAX) {
    /* A client that stopped reading: close rather than grow without bound. */
    sim_log(SIM_LOG_WARN, "server", "conn %d: output queue full, closing", c->id);
    c->closing = 1;
    c->close_status = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    lws_callback_on_writable(c->wsi);
    return -1;
  }
  size_t len = codec_frame_size(msg, c->framing, s->cfg.max_payload, errstr, sizeof errstr);
  uint8_t *p = len ? out_reserve(c, WS_HEADER_MAX + len) : NULL;
  if (!p) {
    sim_log(SIM_LOG_ERROR, "server", "conn %d: cannot encode %s: %s", c->id,
            codec_message_kind(msg), len ? "out of memory" : errstr);
    return -1;
  }
  size_t hdr = ws_header(p, len);
  codec_frame_pack(msg, c->framing, p + hdr);
  c->out_len += hdr + len;
  sim_log_message(c->id, "->", msg);
  s->msgs_out++;
  if (c->out_count++ == 0) /* otherwise already asked for */
    lws_callback_on_writable(c->wsi);
  return 0;
}

/*
 * Write queued messages as long as the socket takes them, many frames per
 * write: each message stays its own websocket message, but one TLS record
 * and one system call carry up to OUT_CHUNK bytes of them instead of one
 * each (thousands of Notifies a second).  The frames are written raw; lws
 * keeps whatever the socket does not take and sends it first next time.
 */
static int conn_writable(conn_t *c) {
  if (c->closing) {
    if (c->close_status) /* 0: killed with its system, no reason to give */
      lws_close_reason(c->wsi, c->close_status, NULL, 0);
    return -1;
  }
  for (int chunk = 0; c->out_count && chunk < OUT_CHUNKS; chunk++) {
    if (chunk && lws_send_pipe_choked(c->wsi))
      break;
    /* Whole frames up to OUT_CHUNK bytes (at least one). */
    size_t start = c->out_head, end = start;
    do {
      end += ws_frame_len(c->out + end);
      c->out_count--;
    } while (c->out_count && end - start + ws_frame_len(c->out + end) <= OUT_CHUNK);
    if (lws_write(c->wsi, c->out + start, end - start, LWS_WRITE_RAW) < (int)(end - start))
      return -1;
    c->out_head = end;
    if (c->out_head == c->out_len)
      c->out_head = c->out_len = 0;
  }
  if (c->out_count)
    lws_callback_on_writable(c->wsi);
  return 0;
}

/* ---- receiving ---- */


/* Keep a request for GET /requests: its number, connection, system and the message as proto3 JSON. */
static void log_request(sim_server_t *s, const conn_t *c, const Message *msg) {
  json_t *entry = json_pack("{s:I,s:i,s:s,s:o}", "seq", (json_int_t)(s->requests_logged + 1), "conn", c->id,
                            "system", c->sys ? c->sys->name : "", "message", codec_json_from_pb(&msg->base));
  if (!entry)
    return;
  size_t slot = (size_t)(s->requests_logged % REQUEST_LOG);
  json_decref(s->request_log[slot]);
  s->request_log[slot] = entry;
  s->requests_logged++;
}

static void conn_message(conn_t *c) {
  sim_server_t *s = c->server;
  char errstr[256];
  Message *msg = NULL;
  s->msgs_in++;
  if (c->rx_text) {
    /*
     * Protobuf is binary: openapi and openapinoframing carry it in binary
     * frames.  A text frame is not a message, whatever its bytes.
     */
    s->bad_in++;
    sim_log(SIM_LOG_WARN, "server", "conn %d: text frame (%zu bytes) ignored", c->id, c->rx_len);
    sim_subs_respond(conn_send, c, 0, MTCTISESS_UNPACKERR,
                     "text frame: MTCTI3 messages are protobuf in binary frames");
    return;
  }
  if (codec_frame_decode(c->rx, c->rx_len, c->framing, s->cfg.max_payload, &msg, errstr,
                         sizeof errstr) != 0) {
    /* No requestid can be known: answer 0 with UNPACKERR and carry on. */
    s->bad_in++;
    sim_log(SIM_LOG_WARN, "server", "conn %d: undecodable message (%zu bytes): %s", c->id,
            c->rx_len, errstr);
    sim_subs_respond(conn_send, c, 0, MTCTISESS_UNPACKERR, errstr);
    return;
  }
  sim_log_message(c->id, "<-", msg);
  if (s->paused && msg->payload_case != MESSAGE__PAYLOAD_NOTIFYACK) {
    sim_log(SIM_LOG_INFO, "server", "conn %d: paused, ignoring %s", c->id,
            codec_message_kind(msg));
    codec_message_free(msg);
    return;
  }
  if (msg->payload_case == MESSAGE__PAYLOAD_SUBSCRIBECMD)
    s->subscribecmds++;
  else if (msg->payload_case == MESSAGE__PAYLOAD_GENERALCMD)
    s->generalcmds++;
  if (msg->payload_case == MESSAGE__PAYLOAD_SUBSCRIBECMD || msg->payload_case == MESSAGE__PAYLOAD_GENERALCMD)
    log_request(s, c, msg);
  switch (msg->payload_case) {
  case MESSAGE__PAYLOAD_SUBSCRIBE:
  case MESSAGE__PAYLOAD_SUBSCRIBECMD:
  case MESSAGE__PAYLOAD_SUBSCRIBEEND:
  case MESSAGE__PAYLOAD_NOTIFYACK:
    sim_subs_handle(c->subs, msg);
    break;
  case MESSAGE__PAYLOAD_GENERALCMD:
    sim_general_handle(s->model, msg->generalcmd, conn_send, c);
    break;
  default:
    /* Messages only IP Office sends, or nothing at all: ignored, as the spec says. */
    sim_log(SIM_LOG_WARN, "server", "conn %d: ignoring a %s message", c->id,
            codec_message_kind(msg));
    break;
  }
  codec_message_free(msg);
}

static int conn_receive(conn_t *c, const void *in, size_t len) {
  sim_server_t *s = c->server;
  size_t limit = s->cfg.max_payload + CODEC_FRAME_HEADER_LEN;
  if (c->rx_len + len > limit) {
    sim_log(SIM_LOG_WARN, "server", "conn %d: message over %zu bytes, closing", c->id, limit);
    s->bad_in++;
    lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
    return -1;
  }
  if (c->rx_len == 0)
    c->rx_text = !lws_frame_is_binary(c->wsi);
  if (c->rx_len + len > c->rx_cap) {
    size_t cap = c->rx_cap ? c->rx_cap : 4096;
    while (cap < c->rx_len + len)
      cap *= 2;
    uint8_t *n = realloc(c->rx, cap);
    if (!n)
      return -1;
    c->rx = n;
    c->rx_cap = cap;
  }
  memcpy(c->rx + c->rx_len, in, len);
  c->rx_len += len;
  if (lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi)) {
    conn_message(c);
    c->rx_len = 0;
  }
  return 0;
}

/* ---- connection lifecycle ---- */

static void conn_free(conn_t *c) {
  if (!c)
    return;
  sim_subs_conn_free(c->subs);
  lws_dll2_remove(&c->list);
  free(c->out);
  free(c->rx);
  free(c);
}

static conn_t *conn_new(sys_t *sys, struct lws *wsi, codec_framing_t framing) {
  sim_server_t *s = sys->server;
  conn_t *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->server = s;
  c->sys = sys;
  c->wsi = wsi;
  c->id = ++s->next_conn_id;
  c->framing = framing;
  c->subs = sim_subs_conn_new(sys->subs, c->id, conn_send, c);
  lws_dll2_add_tail(&c->list, &sys->conns);
  if (!c->subs) {
    conn_free(c);
    return NULL;
  }
  return c;
}

/* ---- the upgrade gate ---- */

/*
 * Refuse an upgrade with a bodiless HTTP/1.1 response.  Written by hand: at
 * this point lws has not recorded the request's HTTP version and would
 * answer HTTP/1.0, which websocket clients reject.
 */
static int http_reply(struct lws *wsi, unsigned int status, const char *reason,
                      const char *extra_header) {
  unsigned char buf[LWS_PRE + 512];
  int n = snprintf((char *)buf + LWS_PRE, sizeof buf - LWS_PRE,
                   "HTTP/1.1 %u %s\r\n%s%sContent-Length: 0\r\nConnection: close\r\n\r\n",
                   status, reason, extra_header ? extra_header : "", extra_header ? "\r\n" : "");
  if (n <= 0 || (size_t)n >= sizeof buf - LWS_PRE)
    return -1;
  if (lws_write(wsi, buf + LWS_PRE, (size_t)n, LWS_WRITE_HTTP_HEADERS) < 0)
    return -1;
  return 1;
}

static int check_upgrade(sys_t *sys, struct lws *wsi) {
  sim_server_t *s = sys->server;
  char uri[256] = "", proto[128] = "", auth[600] = "";
  codec_framing_t framing;
  if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 || strcmp(uri, MTCTI3_PATH) != 0) {
    sim_log(SIM_LOG_INFO, "server", "upgrade refused: path '%s'", uri);
    return http_reply(wsi, HTTP_STATUS_NOT_FOUND, "Not Found", NULL);
  }
  lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
  size_t alen = strlen(auth), elen = strlen(s->expected_auth);
  if (alen != elen || CRYPTO_memcmp(auth, s->expected_auth, elen) != 0) {
    s->refused_auth++;
    sim_log(SIM_LOG_INFO, "server", "upgrade refused: %s credentials", alen ? "wrong" : "no");
    return http_reply(wsi, HTTP_STATUS_UNAUTHORIZED, "Unauthorized",
                      "WWW-Authenticate: Basic realm=\"IPOffice\"");
  }
  lws_hdr_copy(wsi, proto, sizeof proto, WSI_TOKEN_PROTOCOL);
  if (codec_framing_from_subprotocol(proto, &framing) != 0) {
    sim_log(SIM_LOG_INFO, "server", "upgrade refused: subprotocol '%s'", proto);
    return http_reply(wsi, HTTP_STATUS_BAD_REQUEST, "Bad Request", NULL);
  }
  if (!sys->up) {
    /* Killed with its system while the upgrade was on its way. */
    return http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable", NULL);
  }
  if ((int)sys->conns.count >= s->cfg.max_connections) {
    s->refused_limit++;
    sim_log(SIM_LOG_WARN, "server", "%s: upgrade refused: %d connections already", sys->name,
            (int)sys->conns.count);
    return http_reply(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "Service Unavailable", NULL);
  }
  return 0;
}

/* The system whose listener accepted the connection. */
static sys_t *sys_of(struct lws *wsi) { return lws_get_opaque_user_data(wsi); }

/* protocols[0] of the MTCTI3 vhost: plain HTTP requests and the upgrade gate. */
static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len) {
  sys_t *sys;
  switch (reason) {
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    sys = sys_of(wsi);
    return sys ? check_upgrade(sys, wsi) : -1;
  case LWS_CALLBACK_HTTP:
    /* Only the websocket lives here. */
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
      return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static int cb_mtcti3(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len) {
  sys_t *sys;
  pss_t *pss = user;
  switch (reason) {
  case LWS_CALLBACK_ESTABLISHED: {
    if (!(sys = sys_of(wsi)) || !sys->up)
      return -1;
    codec_framing_t framing = CODEC_FRAMING_OPENAPI;
    char peer[64] = "";
    codec_framing_from_subprotocol(lws_get_protocol(wsi)->name, &framing);
    if ((int)sys->conns.count >= sys->server->cfg.max_connections)
      return -1;
    pss->conn = conn_new(sys, wsi, framing);
    if (!pss->conn)
      return -1;
    lws_get_peer_simple(wsi, peer, sizeof peer);
    sim_log(SIM_LOG_INFO, "server", "conn %d: %s: MTCTI3 session from %s (%s), %d open",
            pss->conn->id, sys->name, peer, lws_get_protocol(wsi)->name,
            (int)sys->conns.count);
    return 0;
  }
  case LWS_CALLBACK_RECEIVE:
    return pss->conn ? conn_receive(pss->conn, in, len) : -1;
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return pss->conn ? conn_writable(pss->conn) : -1;
  case LWS_CALLBACK_CLOSED:
    if (pss->conn) {
      sim_log(SIM_LOG_INFO, "server", "conn %d: closed", pss->conn->id);
      conn_free(pss->conn);
      pss->conn = NULL;
    }
    return 0;
  default:
    break;
  }
  return 0;
}

static const struct lws_protocols wss_protocols[] = {
    {"http", cb_http, 0, 0, 0, NULL, 0},
    {"openapi", cb_mtcti3, sizeof(pss_t), 65536, 0, NULL, 0},
    {"openapinoframing", cb_mtcti3, sizeof(pss_t), 65536, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- public ---- */

int sim_server_new(const sim_server_config_t *cfg, sim_server_t **server, char *errstr,
                   size_t errstr_size) {
  struct lws_context_creation_info info;
  char plain[512];
  sim_server_t *s = calloc(1, sizeof *s);
  *server = NULL;
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  s->cfg = *cfg;
  snprintf(plain, sizeof plain, "%s:%s", cfg->service_user, cfg->password);
  memcpy(s->expected_auth, "Basic ", 6);
  if (lws_b64_encode_string(plain, (int)strlen(plain), s->expected_auth + 6,
                            (int)sizeof s->expected_auth - 6) < 0) {
    snprintf(errstr, errstr_size, "service user credentials too long");
    goto fail;
  }
  lws_set_log_level(sim_log_enabled(SIM_LOG_DEBUG) ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.user = s;
  s->lws = lws_create_context(&info);
  if (!s->lws) {
    snprintf(errstr, errstr_size, "lws_create_context failed");
    goto fail;
  }
  if (sim_timers_new(s->lws, &s->timers, errstr, errstr_size) != 0)
    goto fail;
  *server = s;
  return 0;
fail:
  sim_server_free(s);
  return -1;
}

struct lws_context *sim_server_lws(sim_server_t *s) { return s->lws; }
sim_timers_t *sim_server_timers(sim_server_t *s) { return s->timers; }

static int is_loopback(const char *addr) {
  return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
         strcmp(addr, "localhost") == 0;
}

int sim_server_add_system(sim_server_t *s, const char *name, const char *addr, int port,
                          sim_subs_t *subs, char *errstr, size_t errstr_size) {
  if (s->n_sys == SIM_MAX_SYSTEMS) {
    snprintf(errstr, errstr_size, "at most %d systems", SIM_MAX_SYSTEMS);
    return -1;
  }
  sys_t *sys = &s->sys[s->n_sys];
  memset(sys, 0, sizeof *sys);
  sys->server = s;
  sys->index = s->n_sys++;
  snprintf(sys->name, sizeof sys->name, "%s", name);
  snprintf(sys->addr, sizeof sys->addr, "%s", addr);
  sys->port = port;
  sys->subs = subs;
  return 0;
}

/* A listening socket becomes readable: accept and hand to the system's TLS vhost. */
static int cb_listener(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
  sys_t *sys = lws_get_opaque_user_data(wsi);
  (void)user;
  (void)in;
  (void)len;
  if (!sys)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    for (int i = 0; i < 64; i++) { /* a burst of connections, not an unbounded loop */
      int fd = accept(lws_get_socket_fd(wsi), NULL, NULL);
      if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
          sim_log(SIM_LOG_WARN, "server", "%s: accept: %s", sys->name, strerror(errno));
        break;
      }
      if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || !sys->up) {
        close(fd);
        continue;
      }
      struct lws *nw = lws_adopt_socket_vhost(sys->server->wss, fd); /* closes fd on failure */
      if (nw)
        lws_set_opaque_user_data(nw, sys);
      else
        sim_log(SIM_LOG_WARN, "server", "%s: could not adopt a connection", sys->name);
    }
    return 0;
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    sys->lwsi = NULL; /* lws closed the socket */
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols listener_protocols[] = {
    {"sim-listener", cb_listener, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* A listening TCP socket on addr:port (0: any free port); its fd, or -1 with errstr. */
static int listen_socket(const char *addr, int port, int *bound, char *errstr,
                         size_t errstr_size) {
  struct addrinfo hints, *ai = NULL;
  char service[16];
  int fd = -1, one = 1, rc;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(service, sizeof service, "%d", port);
  if ((rc = getaddrinfo(strcmp(addr, "0.0.0.0") == 0 ? NULL : addr, service, &hints, &ai)) != 0) {
    snprintf(errstr, errstr_size, "%s: %s", addr, gai_strerror(rc));
    return -1;
  }
  fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0)
    goto fail;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
    goto fail;
  *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
  freeaddrinfo(ai);
  return fd;
fail:
  snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", addr, port, strerror(errno));
  if (fd >= 0)
    close(fd);
  freeaddrinfo(ai);
  return -1;
}

/* Open system sys's MTCTI3 listener (on its recorded port once it has one). */
static int sys_listen(sys_t *sys, char *errstr, size_t errstr_size) {
  sim_server_t *s = sys->server;
  int port = sys->port;
  int fd = listen_socket(sys->addr, sys->port, &port, errstr, errstr_size);
  if (fd < 0)
    return -1;
  lws_sock_file_fd_type desc;
  desc.filefd = fd;
  sys->lwsi = lws_adopt_descriptor_vhost(s->listeners, LWS_ADOPT_RAW_FILE_DESC, desc,
                                         listener_protocols[0].name, NULL);
  if (!sys->lwsi) {
    close(fd);
    snprintf(errstr, errstr_size, "%s: cannot add the listener to the lws loop", sys->name);
    return -1;
  }
  lws_set_opaque_user_data(sys->lwsi, sys);
  sys->port = port;
  sys->up = 1;
  sim_log(SIM_LOG_INFO, "server", "%s: MTCTI3 on %s://%s:%d%s", sys->name,
          s->cfg.insecure_plain_ws ? "wss+ws" : "wss", sys->addr, sys->port, MTCTI3_PATH);
  return 0;
}

int sim_server_start(sim_server_t *s, sim_model_t *model,
                     const struct lws_protocols *ctl_protocol, void *ctl_user, char *errstr,
                     size_t errstr_size) {
  struct lws_context_creation_info info;
  static struct lws_protocols ctl_protocols[2];
  s->model = model;
  memset(&info, 0, sizeof info);
  info.vhost_name = "mtcti3";
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* sockets come from the systems' own listeners */
  info.protocols = wss_protocols;
  info.ssl_cert_filepath = s->cfg.cert_file;
  info.ssl_private_key_filepath = s->cfg.key_file;
  info.alpn = "http/1.1";
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_VALIDATE_UTF8;
  if (s->cfg.insecure_plain_ws)
    info.options |= LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT |
                    LWS_SERVER_OPTION_ALLOW_HTTP_ON_HTTPS_LISTENER;
  info.user = s;
  s->wss = lws_create_vhost(s->lws, &info);
  if (!s->wss) {
    snprintf(errstr, errstr_size, "cannot set up TLS with %s", s->cfg.cert_file);
    return -1;
  }
  memset(&info, 0, sizeof info);
  info.vhost_name = "listeners";
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = listener_protocols;
  s->listeners = lws_create_vhost(s->lws, &info);
  if (!s->listeners) {
    snprintf(errstr, errstr_size, "cannot create the listeners' vhost");
    return -1;
  }
  for (int i = 0; i < s->n_sys; i++)
    if (sys_listen(&s->sys[i], errstr, errstr_size))
      return -1;
  if (!is_loopback(s->cfg.control_addr)) {
    snprintf(errstr, errstr_size, "--control must be a loopback address, not %s",
             s->cfg.control_addr);
    return -1;
  }
  ctl_protocols[0] = *ctl_protocol;
  memset(&ctl_protocols[1], 0, sizeof ctl_protocols[1]);
  memset(&info, 0, sizeof info);
  info.vhost_name = "control";
  info.port = s->cfg.control_port;
  info.iface = s->cfg.control_addr;
  info.protocols = ctl_protocols;
  info.user = ctl_user;
  s->ctl = lws_create_vhost(s->lws, &info);
  if (!s->ctl) {
    snprintf(errstr, errstr_size, "cannot listen on %s:%d (control)", s->cfg.control_addr,
             s->cfg.control_port);
    return -1;
  }
  sim_log(SIM_LOG_INFO, "server", "control on http://%s:%d", s->cfg.control_addr,
          sim_server_control_port(s));
  return 0;
}

int sim_server_control_port(const sim_server_t *s) {
  return s->ctl ? lws_get_vhost_listen_port(s->ctl) : -1;
}

int sim_server_system_count(const sim_server_t *s) { return s->n_sys; }

int sim_server_system_find(const sim_server_t *s, const char *name) {
  for (int i = 0; name && i < s->n_sys; i++)
    if (strcmp(s->sys[i].name, name) == 0)
      return i;
  return -1;
}

const char *sim_server_system_name(const sim_server_t *s, int i) {
  return i >= 0 && i < s->n_sys ? s->sys[i].name : "";
}
int sim_server_system_port(const sim_server_t *s, int i) {
  return i >= 0 && i < s->n_sys ? s->sys[i].port : -1;
}
int sim_server_system_up(const sim_server_t *s, int i) {
  return i >= 0 && i < s->n_sys && s->sys[i].up;
}
sim_subs_t *sim_server_system_subs(const sim_server_t *s, int i) {
  return i >= 0 && i < s->n_sys ? s->sys[i].subs : NULL;
}

int sim_server_system_set_up(sim_server_t *s, int i, int up, int *dropped, char *errstr,
                             size_t errstr_size) {
  sys_t *sys = &s->sys[i];
  int n = 0;
  if (dropped)
    *dropped = 0;
  if (up == sys->up) {
    snprintf(errstr, errstr_size, "%s is already %s", sys->name, up ? "up" : "down");
    return -1;
  }
  if (up)
    return sys_listen(sys, errstr, errstr_size);
  /* A failure, not a shutdown: no close handshake, the sockets just go. */
  sys->up = 0;
  sys->failures++;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&sys->conns)) {
    conn_t *c = lws_container_of(d, conn_t, list);
    if (!c->closing) {
      c->closing = 1;
      lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      n++;
    }
  } lws_end_foreach_dll(d);
  if (sys->lwsi) /* closes the listening socket now: connecting is refused from here on */
    lws_set_timeout(sys->lwsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
  if (dropped)
    *dropped = n;
  sim_log(SIM_LOG_INFO, "server", "%s: failed: %d connections killed, port %d closed", sys->name,
          n, sys->port);
  return 0;
}

int sim_server_run(sim_server_t *s) {
  int failures = 0;
  while (!s->stop) {
    int n = lws_service(s->lws, 0);
    if (n >= 0) {
      failures = 0;
      continue;
    }
    /* One bad turn (a client vanishing mid-write) must not end the PBX. */
    sim_log(SIM_LOG_WARN, "server", "lws_service returned %d", n);
    if (++failures == 100) {
      sim_log(SIM_LOG_ERROR, "server", "lws_service keeps failing, giving up");
      return -1;
    }
  }
  return 0;
}

void sim_server_stop(sim_server_t *s) {
  s->stop = 1;
  lws_cancel_service(s->lws);
}

void sim_server_free(sim_server_t *s) {
  if (!s)
    return;
  if (s->lws)
    lws_context_destroy(s->lws);
  for (int i = 0; i < s->n_sys; i++)
    while (s->sys[i].conns.head)
      conn_free(lws_container_of(s->sys[i].conns.head, conn_t, list));
  sim_timers_free(s->timers);
  for (size_t i = 0; i < REQUEST_LOG; i++)
    json_decref(s->request_log[i]);
  free(s);
}

int sim_server_drop_all(sim_server_t *s) {
  int n = 0;
  for (int i = 0; i < s->n_sys; i++)
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->sys[i].conns)) {
      conn_t *c = lws_container_of(d, conn_t, list);
      if (!c->closing) {
        c->closing = 1;
        c->close_status = LWS_CLOSE_STATUS_GOINGAWAY;
        lws_callback_on_writable(c->wsi);
        n++;
      }
    } lws_end_foreach_dll(d);
  s->dropped += (unsigned long)n;
  sim_log(SIM_LOG_INFO, "server", "dropping %d MTCTI3 connections", n);
  return n;
}

void sim_server_pause(sim_server_t *s, int on) {
  s->paused = on;
  sim_log(SIM_LOG_INFO, "server", "requests %s", on ? "paused" : "resumed");
}

json_t *sim_server_stats(sim_server_t *s) {
  int conns = 0;
  json_t *systems = json_array();
  for (int i = 0; i < s->n_sys; i++) {
    conns += (int)s->sys[i].conns.count;
    json_array_append_new(systems, json_pack("{s:s,s:b,s:i,s:i,s:I}", "name", s->sys[i].name, "up",
                                             s->sys[i].up, "wss_port", s->sys[i].port,
                                             "connections", (int)s->sys[i].conns.count,
                                             "failures", (json_int_t)s->sys[i].failures));
  }
  return json_pack("{s:o,s:i,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "systems", systems,
                   "connections", conns, "paused", s->paused, "messages_in", (json_int_t)s->msgs_in, "messages_out",
                   (json_int_t)s->msgs_out, "bad_messages", (json_int_t)s->bad_in,
                   "refused_auth", (json_int_t)s->refused_auth, "refused_limit",
                   (json_int_t)s->refused_limit, "dropped", (json_int_t)s->dropped, "subscribecmds",
                   (json_int_t)s->subscribecmds, "generalcmds", (json_int_t)s->generalcmds);
}

json_t *sim_server_requests(sim_server_t *s, unsigned long since) {
  json_t *list = json_array();
  unsigned long first = s->requests_logged > REQUEST_LOG ? s->requests_logged - REQUEST_LOG : 0;
  if (since > first)
    first = since;
  for (unsigned long n = first; list && n < s->requests_logged; n++)
    json_array_append(list, s->request_log[n % REQUEST_LOG]);
  return json_pack("{s:o,s:I}", "requests", list, "total", (json_int_t)s->requests_logged);
}
