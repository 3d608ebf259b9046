/*
 * pbx_link: libwebsockets client for the MTCTI3 websocket.  See pbx_link.h.
 */
#include "pbx_link.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "blog.h"
#include "codec_frame.h"
#include "metrics.h"

/* Steps of the probes' backoff: reconnect_min_ms doubling, at most reconnect_max_ms (then the last again). */
#define PBX_LINK_PROBE_STEPS 24

typedef struct pbx_frame {
  struct pbx_frame *next;
  uint8_t *alloc; /* LWS_PRE headroom + payload */
  size_t len;
} pbx_frame_t;

struct pbx_link {
  const config_t *config;
  metrics_pbx_t *metrics; /* its PBX's series (owned by the metrics) */
  pbx_link_handlers_t handlers;
  void *opaque;
  struct lws_context *context;
  struct lws_vhost *vhost;
  struct lws *wsi;
  struct lws *probe;     /* a websocket to urls[0] opened while on a fallback; NULL when none */
  struct lws *retiring;  /* the fallback's websocket, closing after a fail-back */
  codec_framing_t framing;
  char **urls;
  size_t n_urls, url_index;
  char *auth;            /* "Basic <base64>" */
  unsigned attempt;      /* failures since the last good connection */
  int up, stopping, dropping;
  struct timespec up_since;
  uint64_t generation;
  int32_t next_requestid; /* per connection */
  lws_sorted_usec_list_t sul_reconnect;
  lws_sorted_usec_list_t sul_probe;
  lws_retry_bo_t retry;  /* the keep-alive, and the probes' backoff (probe_ms) */
  uint32_t probe_ms[PBX_LINK_PROBE_STEPS];
  uint16_t probe_try;    /* failed probes since the fallback's connection came up */
  uint8_t *rx;           /* a message being reassembled from fragments */
  size_t rx_len, rx_size;
  codec_arena_t *arena;  /* the message decoded last: each is decoded into it, freed by the next */
  pbx_frame_t *tx_head, *tx_tail;
  size_t tx_bytes;
  char inst[64];
  int secondary;            /* a pair's secondary: the single-link gauges are the primary's */
  pbx_link_t *companion;    /* a pair's secondary link, started and stopped with this one (borrowed) */
};

static void pbx_link_connect(lws_sorted_usec_list_t *sul);
static void pbx_link_probe(lws_sorted_usec_list_t *sul);

/* At most this many bytes of queued messages leave in one write (the rest at the next writable turn). */
#define PBX_LINK_TX_TURN_BYTES 65536

/*
 * The queued messages of one writable turn, each its own websocket message,
 * written at once: framed and masked here (RFC 6455 5.2: FIN, binary, the
 * client's mask, a fresh key each, drawn in one call for the turn) into one
 * buffer that lws writes raw, so that a turn's NotifyAcks cost one TLS write
 * (and one system call) instead of one each.  A write lws had to buffer in
 * part ends the turn.  0, or -1 when the connection must go.
 */
static int pbx_link_write_queued(pbx_link_t *link, struct lws *wsi) {
  size_t n = 0, total = 0;
  for (pbx_frame_t *f = link->tx_head; f && (n == 0 || total + f->len + 14 <= PBX_LINK_TX_TURN_BYTES); f = f->next) {
    total += f->len + 14; /* the longest header: 2 + 8 bytes of length + 4 of mask */
    n++;
  }
  uint8_t *buf = malloc(LWS_PRE + total), *keys = malloc(4 * n);
  if (!buf || !keys || lws_get_random(link->context, keys, 4 * n) != 4 * n) {
    free(buf);
    free(keys);
    return -1;
  }
  uint8_t *p = buf + LWS_PRE;
  for (size_t i = 0; i < n; i++) {
    pbx_frame_t *f = link->tx_head;
    const uint8_t *payload = f->alloc + LWS_PRE, *key = keys + 4 * i;
    size_t len = f->len;
    *p++ = 0x82; /* FIN, binary */
    if (len < 126) {
      *p++ = (uint8_t)(0x80 | len);
    } else if (len < 65536) {
      *p++ = 0x80 | 126;
      *p++ = (uint8_t)(len >> 8);
      *p++ = (uint8_t)len;
    } else {
      *p++ = 0x80 | 127;
      for (int shift = 56; shift >= 0; shift -= 8)
        *p++ = (uint8_t)((uint64_t)len >> shift);
    }
    memcpy(p, key, 4);
    p += 4;
    for (size_t k = 0; k < len; k++)
      *p++ = payload[k] ^ key[k & 3];
    link->tx_head = f->next;
    if (!link->tx_head)
      link->tx_tail = NULL;
    link->tx_bytes -= f->len;
    free(f->alloc);
    free(f);
  }
  size_t len = (size_t)(p - (buf + LWS_PRE));
  int written = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_RAW); /* lws keeps what it could not send */
  free(buf);
  free(keys);
  return written < (int)len ? -1 : 0;
}

static void pbx_link_tx_clear(pbx_link_t *link) {
  for (pbx_frame_t *f = link->tx_head, *next; f; f = next) {
    next = f->next;
    free(f->alloc);
    free(f);
  }
  link->tx_head = link->tx_tail = NULL;
  link->tx_bytes = 0;
}

static void pbx_link_schedule(pbx_link_t *link) {
  if (link->stopping)
    return;
  long base = link->config->reconnect_min_ms;
  for (unsigned i = 0; i < link->attempt && base < link->config->reconnect_max_ms; i++)
    base *= 2;
  if (base > link->config->reconnect_max_ms)
    base = link->config->reconnect_max_ms;
  /* jitter: half fixed, half random */
  long delay = base / 2 + (long)(random() % (base / 2 + 1));
  link->attempt++;
  BLOG_I(PBX, link->inst, "reconnecting in %ld ms to %s", delay, link->urls[link->url_index]);
  lws_sul_schedule(link->context, 0, &link->sul_reconnect, pbx_link_connect, (lws_usec_t)delay * 1000);
}

/* Stop checking the first URL: no next check, and a probe under way is dropped unseen. */
static void pbx_link_probe_cancel(pbx_link_t *link) {
  if (link->context)
    lws_sul_cancel(&link->sul_probe);
  if (link->probe) {
    lws_set_timeout(link->probe, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    link->probe = NULL;
  }
}

/*
 * On a fallback, check the first URL: `failback_min_ms` after the fallback's
 * connection came up (first), then after each failed check with the backoff.
 */
static void pbx_link_probe_schedule(pbx_link_t *link, int first, const char *why) {
  if (link->stopping || !link->up || link->url_index == 0 || link->config->failback_min_ms <= 0)
    return;
  unsigned delay;
  if (first) {
    link->probe_try = 0;
    delay = (unsigned)link->config->failback_min_ms;
    BLOG_I(PBX, link->inst, "on the fallback %s: checking the first URL %s in %u ms", link->urls[link->url_index],
           link->urls[0], delay);
  } else {
    char conceal;
    delay = lws_retry_get_delay_ms(link->context, &link->retry, &link->probe_try, &conceal);
    BLOG_I(PBX, link->inst, "the first URL %s is not back (%s): checking again in %u ms", link->urls[0], why, delay);
  }
  lws_sul_schedule(link->context, 0, &link->sul_probe, pbx_link_probe, (lws_usec_t)delay * 1000);
}

static void pbx_link_probe_failed(pbx_link_t *link, const char *why) {
  link->probe = NULL;
  pbx_link_probe_schedule(link, 0, why);
}

static void pbx_link_down(pbx_link_t *link, const char *reason) {
  int was_up = link->up;
  pbx_link_probe_cancel(link);
  if (was_up) { /* a connection that held a while resets the backoff */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - link->up_since.tv_sec >= 10)
      link->attempt = 0;
  }
  link->wsi = NULL;
  link->up = 0;
  link->rx_len = 0;
  pbx_link_tx_clear(link);
  if (!link->secondary)
    metrics_pbx_set(link->metrics, METRICS_CONNECTED, 0);
  if (was_up)
    BLOG_W(PBX, link->inst, "disconnected from %s: %s", link->urls[link->url_index], reason);
  else
    BLOG_W(PBX, link->inst, "cannot connect to %s: %s", link->urls[link->url_index], reason);
  if (!was_up || link->n_urls > 1)
    link->url_index = (link->url_index + 1) % link->n_urls;
  if (link->handlers.disconnected)
    link->handlers.disconnected(link->opaque, reason, was_up);
  pbx_link_schedule(link);
}

/* Open a websocket to `url`; the wsi (also in *pwsi when given), or NULL with *why. */
static struct lws *pbx_link_dial(pbx_link_t *link, const char *url, struct lws **pwsi, const char *doing,
                                 const char **why) {
  char buf[1024];
  const char *prot, *address, *path;
  int port;
  snprintf(buf, sizeof(buf), "%s", url);
  if (lws_parse_uri(buf, &prot, &address, &port, &path) != 0) {
    *why = "unparsable URL";
    return NULL;
  }
  int tls = strcasecmp(prot, "wss") == 0;
  char full_path[1024];
  snprintf(full_path, sizeof(full_path), "%s%s", path[0] == '/' ? "" : "/", path);

  struct lws_client_connect_info info;
  memset(&info, 0, sizeof(info));
  info.context = link->context;
  info.vhost = link->vhost;
  info.address = address;
  info.port = port;
  info.path = full_path;
  info.host = address;
  info.origin = address;
  info.protocol = codec_framing_subprotocol(link->framing);
  info.local_protocol_name = "mtcti3-pbx";
  info.ietf_version_or_minus_one = -1;
  info.opaque_user_data = link;
  info.pwsi = pwsi;
  info.retry_and_idle_policy = &link->retry;
  if (tls) {
    info.ssl_connection = LCCSCF_USE_SSL;
    if (!link->config->tls_verify) {
      info.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
      BLOG_W(PBX, link->inst,
             "tls_verify=false: the certificate of %s is not checked; anyone on the path can "
             "impersonate the PBX",
             address);
    }
  } else {
    BLOG_W(PBX, link->inst, "%s is not TLS (ws://): credentials and events travel in clear", url);
  }
  metrics_pbx_add(link->metrics, METRICS_RECONNECTS, 1);
  BLOG_I(PBX, link->inst, "%s %s://%s:%d%s (subprotocol %s)", doing, prot, address, port, full_path,
         info.protocol);
  struct lws *wsi = lws_client_connect_via_info(&info);
  if (!wsi)
    *why = "connect failed at once";
  return wsi;
}

static void pbx_link_connect(lws_sorted_usec_list_t *sul) {
  pbx_link_t *link = lws_container_of(sul, pbx_link_t, sul_reconnect);
  if (link->stopping || link->wsi)
    return;
  const char *why = NULL;
  if (!link->secondary)
    metrics_pbx_set(link->metrics, METRICS_PBX_URL_INDEX, (int64_t)link->url_index);
  if (!pbx_link_dial(link, link->urls[link->url_index], &link->wsi, "connecting to", &why)) {
    link->wsi = NULL;
    pbx_link_down(link, why);
  }
}

/* A check of the first URL: a websocket beside the fallback's (its wsi is kept from the return value only). */
static void pbx_link_probe(lws_sorted_usec_list_t *sul) {
  pbx_link_t *link = lws_container_of(sul, pbx_link_t, sul_probe);
  if (link->stopping || !link->up || link->url_index == 0 || link->probe)
    return;
  const char *why = NULL;
  if (!(link->probe = pbx_link_dial(link, link->urls[0], NULL, "checking the first URL: connecting to", &why)))
    pbx_link_probe_failed(link, why);
}

/* The websocket link->wsi is up (a new generation). */
static void pbx_link_established(pbx_link_t *link) {
  link->up = 1;
  link->next_requestid = 1;
  clock_gettime(CLOCK_MONOTONIC, &link->up_since);
  link->generation++;
  if (!link->secondary) {
    metrics_pbx_set(link->metrics, METRICS_CONNECTED, 1);
    metrics_pbx_set(link->metrics, METRICS_PBX_URL_INDEX, (int64_t)link->url_index);
  }
  BLOG_I(PBX, link->inst, "connected to %s", link->urls[link->url_index]);
  if (link->handlers.connected)
    link->handlers.connected(link->opaque, link->urls[link->url_index], link->generation);
  pbx_link_probe_schedule(link, 1, NULL);
}

/*
 * The first URL's websocket (the probe `wsi`) is established: leave the
 * fallback for it.  The fallback's websocket is closed (politely, at its
 * next writable turn; killed after 5 s at the latest) and nothing more is
 * read from it; what was queued for it (NotifyAcks of its Notifies) is
 * dropped, as at any disconnection.
 */
static void pbx_link_failback(pbx_link_t *link, struct lws *wsi) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t fallback_ms = (int64_t)(now.tv_sec - link->up_since.tv_sec) * 1000 +
                        (now.tv_nsec - link->up_since.tv_nsec) / 1000000;
  const char *from = link->urls[link->url_index];
  if (link->context)
    lws_sul_cancel(&link->sul_probe);
  link->probe = NULL;
  if (link->wsi) {
    link->retiring = link->wsi;
    lws_set_timeout(link->retiring, PENDING_TIMEOUT_USER_OK, 5);
    lws_callback_on_writable(link->retiring);
  }
  link->wsi = wsi;
  link->up = 0;
  link->rx_len = 0;
  pbx_link_tx_clear(link);
  metrics_pbx_add(link->metrics, METRICS_PBX_FAILBACKS, 1);
  BLOG_I(PBX, link->inst, "the first URL %s is back: failing back to it from %s (on it %lld ms)", link->urls[0], from,
         (long long)fallback_ms);
  if (link->handlers.failback)
    link->handlers.failback(link->opaque, from, link->urls[0], fallback_ms);
  if (link->handlers.disconnected)
    link->handlers.disconnected(link->opaque, "failing back to the first URL", 1);
  link->url_index = 0;
  link->attempt = 0;
  pbx_link_established(link);
}

static int pbx_link_rx(pbx_link_t *link, struct lws *wsi, const void *in, size_t len) {
  if (lws_is_first_fragment(wsi))
    link->rx_len = 0;
  if (link->rx_len + len > CODEC_MAX_PAYLOAD_DEFAULT + CODEC_FRAME_HEADER_LEN) {
    BLOG_E(PBX, link->inst, "message larger than %zu bytes: dropping the connection",
           (size_t)CODEC_MAX_PAYLOAD_DEFAULT);
    return -1;
  }
  if (link->rx_len + len > link->rx_size) {
    size_t size = link->rx_size ? link->rx_size : 4096;
    while (size < link->rx_len + len)
      size *= 2;
    uint8_t *grown = realloc(link->rx, size);
    if (!grown)
      return -1;
    link->rx = grown;
    link->rx_size = size;
  }
  memcpy(link->rx + link->rx_len, in, len);
  link->rx_len += len;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
    return 0;

  Message *msg = NULL;
  char errstr[256];
  if (codec_frame_decode_into(link->arena, link->rx, link->rx_len, link->framing, 0, &msg, errstr,
                              sizeof(errstr)) != 0) {
    metrics_pbx_add(link->metrics, METRICS_DECODE_ERRORS, 1);
    BLOG_W(PBX, link->inst, "undecodable frame of %zu bytes ignored: %s", link->rx_len, errstr);
    link->rx_len = 0;
    return 0;
  }
  link->rx_len = 0;
  if (link->handlers.message)
    link->handlers.message(link->opaque, msg);
  return 0;
}

static int pbx_link_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                             size_t len) {
  pbx_link_t *link = lws_get_opaque_user_data(wsi);
  switch (reason) {
  case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
    unsigned char **p = (unsigned char **)in, *end = (*p) + len;
    if (!link || lws_add_http_header_by_name(wsi, (const unsigned char *)"authorization:",
                                             (const unsigned char *)link->auth, (int)strlen(link->auth),
                                             p, end))
      return -1;
    break;
  }
  case LWS_CALLBACK_CLIENT_ESTABLISHED:
    if (!link)
      break;
    if (link->stopping)
      return -1;
    if (wsi == link->probe && link->up) {
      pbx_link_failback(link, wsi);
      break;
    }
    if (wsi != link->wsi)
      return -1; /* a probe dropped meanwhile */
    pbx_link_established(link);
    break;
  case LWS_CALLBACK_CLIENT_RECEIVE:
    if (link && wsi == link->wsi && pbx_link_rx(link, wsi, in, len) != 0)
      return -1;
    break;
  case LWS_CALLBACK_CLIENT_WRITEABLE: {
    if (!link)
      break;
    if (wsi != link->wsi)
      return -1; /* the fallback's websocket after a fail-back: closed */
    if (link->stopping || link->dropping)
      return -1;
    if (!link->tx_head)
      break;
    if (pbx_link_write_queued(link, wsi) != 0) {
      BLOG_W(PBX, link->inst, "write failed: dropping the connection");
      return -1;
    }
    if (link->tx_head)
      lws_callback_on_writable(wsi);
    break;
  }
  case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    if (link && link->probe == wsi)
      pbx_link_probe_failed(link, in ? (const char *)in : "connection error");
    else if (link && link->wsi == wsi)
      pbx_link_down(link, in ? (const char *)in : "connection error");
    break;
  case LWS_CALLBACK_CLIENT_CLOSED:
    if (link && link->retiring == wsi) {
      link->retiring = NULL;
      break;
    }
    if (link && link->probe == wsi) {
      pbx_link_probe_failed(link, "closed before the websocket was up");
      break;
    }
    if (link && link->wsi == wsi) {
      const char *why = link->dropping ? "dropped on request" : "closed";
      link->dropping = 0;
      if (link->stopping) {
        link->wsi = NULL;
        link->up = 0;
        break;
      }
      pbx_link_down(link, why);
    }
    break;
  default:
    break;
  }
  return 0;
}

void pbx_link_protocol(pbx_link_t *link, struct lws_protocols *protocol) {
  memset(protocol, 0, sizeof(*protocol));
  protocol->name = "mtcti3-pbx";
  protocol->callback = pbx_link_callback;
  protocol->rx_buffer_size = 65536;
  protocol->user = link;
}

void pbx_link_vhost_info(pbx_link_t *link, struct lws_context_creation_info *info) {
  if (link->config->ipo_ca_file[0])
    info->client_ssl_ca_filepath = link->config->ipo_ca_file;
  info->retry_and_idle_policy = &link->retry;
}

/* A link to the URLs of `url_list` (ipo_url, or a pair's ipo_secondary_url). */
static pbx_link_t *pbx_link_create(const config_t *config, const char *url_list, int secondary,
                                   const pbx_link_handlers_t *handlers, void *opaque, char *errstr,
                                   size_t errstr_size) {
  pbx_link_t *link = calloc(1, sizeof(*link));
  if (!link) {
    snprintf(errstr, errstr_size, "pbx: out of memory");
    return NULL;
  }
  link->config = config;
  link->metrics = metrics_pbx(config->pbx_id);
  link->handlers = *handlers;
  link->opaque = opaque;
  if (!(link->arena = codec_arena_new()))
    goto oom;
  link->secondary = secondary;
  snprintf(link->inst, sizeof(link->inst), "%s%s", config->pbx_id, secondary ? "/secondary" : "");
  if (codec_framing_from_subprotocol(config->ipo_subprotocol, &link->framing) != 0) {
    snprintf(errstr, errstr_size, "ipo_subprotocol: unknown \"%s\"", config->ipo_subprotocol);
    goto fail;
  }
  char *urls = strdup(url_list);
  if (!urls)
    goto oom;
  for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
    char **grown = realloc(link->urls, (link->n_urls + 1) * sizeof(*grown));
    if (!grown || !(grown[link->n_urls] = strdup(u))) {
      if (grown)
        link->urls = grown;
      free(urls);
      goto oom;
    }
    link->urls = grown;
    link->n_urls++;
  }
  free(urls);
  if (!link->n_urls) {
    snprintf(errstr, errstr_size, "ipo_url: no URL");
    goto fail;
  }
  /* "Basic " + base64(user:password) */
  size_t plain_len = strlen(config->ipo_user) + 1 + strlen(config->ipo_password);
  char *plain = malloc(plain_len + 1);
  link->auth = malloc(6 + plain_len * 4 / 3 + 8);
  if (!plain || !link->auth) {
    free(plain);
    goto oom;
  }
  snprintf(plain, plain_len + 1, "%s:%s", config->ipo_user, config->ipo_password);
  memcpy(link->auth, "Basic ", 6);
  lws_b64_encode_string(plain, (int)plain_len, link->auth + 6, (int)(plain_len * 4 / 3 + 8));
  memset(plain, 0, plain_len);
  free(plain);
  link->retry.secs_since_valid_ping = (uint16_t)config->ping_interval;
  link->retry.secs_since_valid_hangup = (uint16_t)config->ping_timeout;
  uint16_t steps = 0;
  for (long ms = config->reconnect_min_ms; steps < PBX_LINK_PROBE_STEPS; ms *= 2) {
    link->probe_ms[steps++] = (uint32_t)(ms < config->reconnect_max_ms ? ms : config->reconnect_max_ms);
    if (ms >= config->reconnect_max_ms)
      break;
  }
  link->retry.retry_ms_table = link->probe_ms;
  link->retry.retry_ms_table_count = steps;
  link->retry.conceal_count = LWS_RETRY_CONCEAL_ALWAYS;
  link->retry.jitter_percent = 20;
  return link;
oom:
  snprintf(errstr, errstr_size, "pbx: out of memory");
fail:
  pbx_link_destroy(link);
  return NULL;
}

pbx_link_t *pbx_link_new(const config_t *config, const pbx_link_handlers_t *handlers, void *opaque,
                         char *errstr, size_t errstr_size) {
  return pbx_link_create(config, config->ipo_url, 0, handlers, opaque, errstr, errstr_size);
}

pbx_link_t *pbx_link_new_secondary(const config_t *config, const pbx_link_handlers_t *handlers, void *opaque,
                                   char *errstr, size_t errstr_size) {
  return pbx_link_create(config, config->ipo_secondary_url, 1, handlers, opaque, errstr, errstr_size);
}

void pbx_link_set_companion(pbx_link_t *link, pbx_link_t *companion) { link->companion = companion; }

void pbx_link_start(pbx_link_t *link, struct lws_context *context, struct lws_vhost *vhost) {
  if (link->companion)
    pbx_link_start(link->companion, context, vhost);
  link->context = context;
  link->vhost = vhost;
  link->stopping = 0; /* started again after a stop: a standby's link, for one */
  link->attempt = 0;
  lws_sul_schedule(context, 0, &link->sul_reconnect, pbx_link_connect, 1);
}

void pbx_link_stop(pbx_link_t *link) {
  if (!link)
    return;
  link->stopping = 1;
  pbx_link_stop(link->companion);
  if (link->context)
    lws_sul_cancel(&link->sul_reconnect);
  pbx_link_probe_cancel(link);
  if (link->wsi)
    lws_callback_on_writable(link->wsi);
}

void pbx_link_drop(pbx_link_t *link) {
  if (link->wsi) {
    link->dropping = 1;
    lws_callback_on_writable(link->wsi);
  }
}

int pbx_link_send(pbx_link_t *link, const Message *msg, char *errstr, size_t errstr_size) {
  if (!link->up || !link->wsi) {
    snprintf(errstr, errstr_size, "not connected");
    return -1;
  }
  pbx_frame_t *frame = calloc(1, sizeof(*frame));
  if (!frame) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  if (codec_frame_encode(msg, link->framing, 0, LWS_PRE, &frame->alloc, &frame->len, errstr,
                         errstr_size) != 0) {
    free(frame);
    return -1;
  }
  if (link->tx_tail)
    link->tx_tail->next = frame;
  else
    link->tx_head = frame;
  link->tx_tail = frame;
  link->tx_bytes += frame->len;
  lws_callback_on_writable(link->wsi);
  return 0;
}

int pbx_link_is_up(const pbx_link_t *link) { return link && link->up; }

int32_t pbx_link_requestid(pbx_link_t *link) {
  if (link->next_requestid <= 0 || link->next_requestid >= PBX_LINK_REQUESTID_LIMIT)
    link->next_requestid = 1; /* wraps below the commands' range */
  return link->next_requestid++;
}
size_t pbx_link_queued(const pbx_link_t *link) { return link->tx_bytes; }

void pbx_link_destroy(pbx_link_t *link) {
  if (!link)
    return;
  pbx_link_tx_clear(link);
  for (size_t i = 0; i < link->n_urls; i++)
    free(link->urls[i]);
  free(link->urls);
  if (link->auth) {
    memset(link->auth, 0, strlen(link->auth));
    free(link->auth);
  }
  free(link->rx);
  codec_arena_free(link->arena);
  free(link);
}
