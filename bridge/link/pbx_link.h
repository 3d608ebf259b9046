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
} pbx_link_handlers_t;

/* The lws protocol entry the context must list (name "mtcti3-pbx"). */
void pbx_link_protocol(pbx_link_t *link, struct lws_protocols *protocol);

pbx_link_t *pbx_link_new(const config_t *config, const pbx_link_handlers_t *handlers, void *opaque,
                         char *errstr, size_t errstr_size);
/* Start connecting, on `vhost` of a created context. */
void pbx_link_start(pbx_link_t *link, struct lws_context *context, struct lws_vhost *vhost);
/* Close the connection and stop reconnecting. */
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
