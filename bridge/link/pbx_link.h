/*
 * pbx_link: the websocket to the IP Office.
 *
 * DESIGN.  A libwebsockets client on the bridge's one event loop.  Connects
 * to the URLs of `ipo_url` in turn (wss, HTTP Basic auth, subprotocol
 * openapi or openapinoframing), verifies TLS against `ipo_ca_file` or the
 * system store unless tls_verify=false (then warns at every connect), pings
 * when idle, and reconnects with exponential backoff and jitter.  Each
 * received frame is decoded by the codec and handed to the `message`
 * handler (the ingest stage); pbx_link_send encodes and queues a Message.
 * The link knows nothing of subscriptions.  Credentials never reach a log.
 *
 * Fail-back.  The first URL of `ipo_url` is the preferred one: a connection
 * that fails moves the link to the next URL, and once the link has been on
 * a fallback (any other URL) for `failback_min_ms`, it opens a second
 * websocket to the first URL beside the fallback's, again and again with the
 * backoff of its lws_retry_bo_t (reconnect_min_ms doubling to
 * reconnect_max_ms, with jitter) while that fails.  The fallback's
 * connection carries on untouched meanwhile.  Only when the first URL's
 * websocket is established does the link switch: the `failback` handler,
 * then `disconnected` (the fallback's connection, closed) and `connected`
 * (the first URL's, a new generation), so the ingest stage resubscribes and
 * resyncs there.  Nothing the fallback's connection still sends is read.
 */
#ifndef PBX_LINK_H
#define PBX_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "config.h"
#include "ipo_mtcti3.pb-c.h"

typedef struct pbx_link pbx_link_t;

typedef struct pbx_link_handlers {
  /* The websocket is up; `generation` counts connections from 1. */
  void (*connected)(void *opaque, const char *url, uint64_t generation);
  /* One decoded message, borrowed for the call. */
  void (*message)(void *opaque, const Message *msg);
  /* The websocket is down (it was up, or a connect attempt failed). */
  void (*disconnected)(void *opaque, const char *reason, int was_up);
  /*
   * The first URL is up again: the link leaves the fallback `from` (on it
   * for `fallback_ms`) for `to`; disconnected and connected follow at once.
   * May be NULL.
   */
  void (*failback)(void *opaque, const char *from, const char *to, int64_t fallback_ms);
} pbx_link_handlers_t;

/* The lws protocol entry the context must list (name "mtcti3-pbx"). */
void pbx_link_protocol(pbx_link_t *link, struct lws_protocols *protocol);

pbx_link_t *pbx_link_new(const config_t *config, const pbx_link_handlers_t *handlers, void *opaque,
                         char *errstr, size_t errstr_size);
/*
 * A resilient pair's secondary (config->ipo_secondary_url): the same
 * credentials, CA and timers, its own websocket, reconnecting on its own;
 * it leaves the single-link gauges (connected, url index) to the primary's.
 */
pbx_link_t *pbx_link_new_secondary(const config_t *config, const pbx_link_handlers_t *handlers, void *opaque,
                                   char *errstr, size_t errstr_size);
/*
 * `companion` (borrowed, NULL: none) is started and stopped with `link`, on
 * its vhost: a pair's secondary link follows the primary's, which is the
 * one the PBX's owner starts and stops.
 */
void pbx_link_set_companion(pbx_link_t *link, pbx_link_t *companion);
/* Start connecting, on `vhost` of a created context (the companion too). */
void pbx_link_start(pbx_link_t *link, struct lws_context *context, struct lws_vhost *vhost);
/* Close the connection and stop reconnecting (the companion too). */
void pbx_link_stop(pbx_link_t *link);
/* Drop the connection (it reconnects); for tests of the bridge itself. */
void pbx_link_drop(pbx_link_t *link);
/* Queue one message; 0, or -1 with errstr (not connected, encode failed). */
int pbx_link_send(pbx_link_t *link, const Message *msg, char *errstr, size_t errstr_size);
int pbx_link_is_up(const pbx_link_t *link);
/*
 * The link's requestids (Subscribe, SubscribeEnd, ...) stay below 2^30; the
 * range above belongs to the commands (drawn by cmd_store_accepted), whose
 * RequestResponses and GeneralData the ingest stage routes to cmd_exec.
 */
#define PBX_LINK_REQUESTID_LIMIT 0x40000000
/* A requestid not used before on the current connection (1, 2, ... < 2^30). */
int32_t pbx_link_requestid(pbx_link_t *link);
/* Bytes queued for sending. */
size_t pbx_link_queued(const pbx_link_t *link);
void pbx_link_destroy(pbx_link_t *link);

/* Fill a vhost creation info with the link's TLS and keep-alive settings. */
void pbx_link_vhost_info(pbx_link_t *link, struct lws_context_creation_info *info);

#endif
