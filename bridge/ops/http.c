/*
 * http: the observability endpoint.  See http.h.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#include "blog.h"
#include "metrics.h"

struct http {
  http_ready_cb *ready;
  void *opaque;
};

/* Per request: the response body being written. */
typedef struct http_session {
  char *body;
  size_t len;
} http_session_t;

static int http_respond(struct lws *wsi, http_session_t *session, unsigned status, const char *type,
                        char *body, size_t len) {
  uint8_t buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
  session->body = body;
  session->len = len;
  if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return 1;
  lws_callback_on_writable(wsi);
  return 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  const struct lws_protocols *protocol = lws_get_protocol(wsi);
  http_t *http = protocol ? (http_t *)protocol->user : NULL;
  http_session_t *session = user;
  if (!http) /* the context's own calls (thread id, ...) come without a protocol */
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  switch (reason) {
  case LWS_CALLBACK_HTTP: {
    const char *path = in ? (const char *)in : "/";
    char *body = NULL;
    size_t body_len = 0;
    BLOG_D(HTTP, NULL, "GET %s", path);
    if (strcmp(path, "/metrics") == 0) {
      body = metrics_render(&body_len);
      return http_respond(wsi, session, HTTP_STATUS_OK, "text/plain; version=0.0.4", body, body_len);
    }
    if (strcmp(path, "/healthz") == 0) {
      body = strdup("ok\n");
      return http_respond(wsi, session, HTTP_STATUS_OK, "text/plain", body, 3);
    }
    if (strcmp(path, "/readyz") == 0) {
      char why[256];
      int ok = http->ready(http->opaque, why, sizeof(why));
      body = malloc(strlen(why) + 2);
      if (body)
        sprintf(body, "%s\n", why);
      return http_respond(wsi, session, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                          "text/plain", body, body ? strlen(body) : 0);
    }
    body = strdup("not found: try /metrics, /healthz, /readyz\n");
    return http_respond(wsi, session, HTTP_STATUS_NOT_FOUND, "text/plain", body, body ? strlen(body) : 0);
  }
  case LWS_CALLBACK_HTTP_WRITEABLE: {
    if (!session->body && session->len)
      return -1;
    size_t n = session->len;
    uint8_t *buf = malloc(LWS_PRE + n + 1);
    if (!buf)
      return -1;
    memcpy(buf + LWS_PRE, session->body ? session->body : "", n);
    int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
    free(buf);
    free(session->body);
    session->body = NULL;
    session->len = 0;
    if (w < (int)n)
      return -1;
    if (lws_http_transaction_completed(wsi))
      return -1;
    break;
  }
  case LWS_CALLBACK_CLOSED_HTTP:
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    if (session) {
      free(session->body);
      session->body = NULL;
      session->len = 0;
    }
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

http_t *http_new(http_ready_cb *ready, void *opaque) {
  http_t *http = calloc(1, sizeof(*http));
  if (http) {
    http->ready = ready;
    http->opaque = opaque;
  }
  return http;
}

void http_destroy(http_t *http) { free(http); }

void http_protocol(http_t *http, struct lws_protocols *protocol) {
  memset(protocol, 0, sizeof(*protocol));
  protocol->name = "mtcti3-http";
  protocol->callback = http_callback;
  protocol->per_session_data_size = sizeof(http_session_t);
  protocol->user = http;
}
