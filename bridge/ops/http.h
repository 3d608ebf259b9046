/*
 * http: /metrics (Prometheus text), /healthz and /readyz.
 *
 * DESIGN.  A libwebsockets HTTP server protocol on its own vhost of the
 * bridge's one context, so it runs on the same event loop as everything
 * else.  /metrics renders the metrics table; /healthz answers 200 while the
 * loop runs; /readyz asks the `ready` callback (connected, resynced, Kafka
 * keeping up) and answers 200 or 503 with the reason.  Reads only.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

typedef struct http http_t;

/* 1 when ready, else 0 with a reason in why. */
typedef int(http_ready_cb)(void *opaque, char *why, size_t why_size);

http_t *http_new(http_ready_cb *ready, void *opaque);
void http_destroy(http_t *http);
/* The lws protocol entry (name "mtcti3-http"). */
void http_protocol(http_t *http, struct lws_protocols *protocol);

#endif
