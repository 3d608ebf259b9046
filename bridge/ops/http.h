/*
 * http: /metrics (Prometheus text), /healthz and /readyz.
 *
 * DESIGN.  A libwebsockets HTTP server protocol on its own vhost of the
 * bridge's one context, so it runs on the same event loop as everything
 * else; made first at start (before any client of Kafka, Redis or the PBX
 * exists), so it answers from the loop's first turn.  /metrics renders the
 * metrics table; /healthz answers 200 while the loop runs; /readyz asks the
 * readiness registry (ready.h) and answers 200 when every component is
 * ready, else 503, both with the same JSON body naming each component:
 *
 *   {"ready":false,"components":[
 *     {"component":"kafka","ready":true},
 *     {"pbx":"hq","component":"pbx_link","ready":false,"reason":"not connected to the PBX"}, ...]}
 *
 * Reads only.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

#include "ready.h"

typedef struct http http_t;

/* `ready` is borrowed: it outlives the endpoint.  NULL when out of memory. */
http_t *http_new(ready_t *ready);
void http_destroy(http_t *http);

/*
 * Listen on `address` ("host:port", host empty for every address, a name,
 * an IPv4 or a bracketed IPv6 address; port 0 picks one) with a vhost of
 * its own on `context`.  The address is resolved and bound once here
 * first, so that a busy port or a wrong address is one line: 0 and *port
 * (the port listened on), or -1 with errstr ("http_listen: cannot listen
 * on 127.0.0.1:9464: Address already in use").  Nothing else on the
 * context has started when the bridge calls it.
 */
int http_listen(http_t *http, struct lws_context *context, const char *address, int *port, char *errstr,
                size_t errstr_size);

/* The body /readyz answers (malloc'd JSON, one line, with a newline; NULL when out of memory) and the verdict. */
char *http_ready_body(ready_t *ready, int *all_ready, size_t *len);

#endif
