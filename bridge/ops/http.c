/*
 * http: the observability endpoint.  See http.h.
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <jansson.h>

#include "blog.h"
#include "metrics.h"

struct http {
  ready_t *ready;
  struct lws_protocols protocols[2]; /* the vhost's: ours, and the end of the list */
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
      int ok = 0;
      body = http_ready_body(http->ready, &ok, &body_len);
      return http_respond(wsi, session, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                          "application/json", body, body_len);
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

/* One component's answer as a member of the body's list. */
static void http_ready_add(void *opaque, const ready_answer_t *answer) {
  json_t *list = opaque, *item = json_object();
  if (!item)
    return;
  if (answer->pbx)
    json_object_set_new(item, "pbx", json_string(answer->pbx));
  json_object_set_new(item, "component", json_string(answer->component));
  json_object_set_new(item, "ready", json_boolean(answer->ok));
  if (!answer->ok)
    json_object_set_new(item, "reason", json_string(answer->why));
  else if (answer->why[0])
    json_object_set_new(item, "detail", json_string(answer->why));
  json_array_append_new(list, item);
}

char *http_ready_body(ready_t *ready, int *all_ready, size_t *len) {
  json_t *list = json_array(), *root = json_object();
  char *body = NULL;
  *all_ready = 0;
  *len = 0;
  if (list && root) {
    *all_ready = ready_evaluate(ready, http_ready_add, list);
    json_object_set_new(root, "ready", json_boolean(*all_ready));
    json_object_set(root, "components", list);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text && (body = malloc(strlen(text) + 2)) != NULL) {
      *len = (size_t)sprintf(body, "%s\n", text);
    }
    free(text);
  }
  json_decref(list);
  json_decref(root);
  return body;
}

http_t *http_new(ready_t *ready) {
  http_t *http = calloc(1, sizeof(*http));
  if (http) {
    http->ready = ready;
    http->protocols[0].name = "mtcti3-http";
    http->protocols[0].callback = http_callback;
    http->protocols[0].per_session_data_size = sizeof(http_session_t);
    http->protocols[0].user = http;
  }
  return http;
}

void http_destroy(http_t *http) { free(http); }

/*
 * Split "host:port" (host may be empty, or a bracketed IPv6 address); the
 * settings' check already made sure the port is a number from 0 to 65535.
 */
static int http_split(const char *address, char *host, size_t host_size, char *port, size_t port_size) {
  const char *colon = strrchr(address, ':');
  if (!colon)
    return -1;
  const char *h = address;
  size_t hlen = (size_t)(colon - address);
  if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
    h++;
    hlen -= 2;
  }
  if (hlen >= host_size || strlen(colon + 1) >= port_size)
    return -1;
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  snprintf(port, port_size, "%s", colon + 1);
  return 0;
}

/*
 * Resolve the address and bind it once (then let go): what libwebsockets
 * would meet, found here with the system's own words.  The numeric address
 * goes to libwebsockets ("" for every address).  0, or -1 with errstr.
 */
static int http_try_bind(const char *address, const char *host, const char *port, char *numeric, size_t numeric_size,
                         char *errstr, size_t errstr_size) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(errstr, errstr_size, "http_listen: cannot listen on %s: %s", address,
             rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    if (res)
      freeaddrinfo(res);
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, err = 0;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1) != 0)
    err = errno;
  if (fd >= 0)
    close(fd);
  numeric[0] = '\0';
  if (!err && host[0] &&
      getnameinfo(res->ai_addr, res->ai_addrlen, numeric, (socklen_t)numeric_size, NULL, 0, NI_NUMERICHOST) != 0)
    err = EINVAL;
  freeaddrinfo(res);
  if (err) {
    snprintf(errstr, errstr_size, "http_listen: cannot listen on %s: %s", address, strerror(err));
    return -1;
  }
  return 0;
}

int http_listen(http_t *http, struct lws_context *context, const char *address, int *port, char *errstr,
                size_t errstr_size) {
  char host[256], service[16], numeric[NI_MAXHOST];
  if (http_split(address, host, sizeof(host), service, sizeof(service)) != 0) {
    snprintf(errstr, errstr_size, "http_listen: \"%s\" is not host:port", address);
    return -1;
  }
  if (http_try_bind(address, host, service, numeric, sizeof(numeric), errstr, errstr_size) != 0)
    return -1;
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = atoi(service);
  info.iface = numeric[0] ? numeric : NULL;
  info.protocols = http->protocols;
  info.vhost_name = "http";
  struct lws_vhost *vhost = lws_create_vhost(context, &info);
  if (!vhost) {
    snprintf(errstr, errstr_size, "http_listen: cannot listen on %s (libwebsockets refused it)", address);
    return -1;
  }
  *port = lws_get_vhost_listen_port(vhost);
  BLOG_I(HTTP, NULL, "serving /metrics, /healthz, /readyz on http://%s%s%s:%d/", strchr(numeric, ':') ? "[" : "",
         numeric[0] ? numeric : "*", strchr(numeric, ':') ? "]" : "", *port);
  return 0;
}
