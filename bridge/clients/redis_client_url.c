/*
 * redis_client_url: redis://[user[:password]@]host[:port][/db].  Pure; see
 * redis_client.h.
 */
#include "redis_client.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_URL_FORM "redis://[user[:password]@]host[:port][/db]"

static int url_hex(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode [s, s+len) into out; -1 on a bad escape, a NUL or no room. */
static int url_decode(const char *s, size_t len, char *out, size_t size) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int hi = i + 2 < len ? url_hex((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < len ? url_hex((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return -1;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c == 0 || n + 1 >= size)
      return -1;
    out[n++] = (char)c;
  }
  out[n] = '\0';
  return 0;
}

/* A number in [lo, hi] spelt only with digits; 0 or -1. */
static int url_number(const char *s, size_t len, long lo, long hi, int *out) {
  long v = 0;
  if (len == 0 || len > 10)
    return -1;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i]))
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

/* The URL for a message, its password (if any) replaced by "***". */
static void url_masked(const char *url, char *out, size_t size) {
  const char *auth = strstr(url, "://");
  auth = auth ? auth + 3 : url;
  const char *end = auth + strcspn(auth, "/");
  const char *at = NULL;
  for (const char *p = auth; p < end; p++)
    if (*p == '@')
      at = p;
  const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (colon)
    snprintf(out, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
  else
    snprintf(out, size, "%s", url);
}

int redis_client_url_has_password(const char *url) {
  redis_client_url_t parsed;
  char errstr[16];
  int has = url && redis_client_url_parse(url, "redis_url", &parsed, errstr, sizeof(errstr)) == 0 &&
            parsed.password[0];
  redis_client_url_clear(&parsed);
  return has;
}

void redis_client_url_clear(redis_client_url_t *url) {
  volatile char *p = url->password;
  for (size_t i = 0; i < sizeof(url->password); i++)
    p[i] = 0;
}

int redis_client_url_parse(const char *url, const char *what, redis_client_url_t *out, char *errstr,
                           size_t errstr_size) {
  char shown[512];
  memset(out, 0, sizeof(*out));
  out->port = REDIS_CLIENT_DEFAULT_PORT;
  if (!url)
    url = "";
  url_masked(url, shown, sizeof(shown));
  if (strncmp(url, "rediss://", 9) == 0) {
    snprintf(errstr, errstr_size,
             "%s: rediss:// (TLS) is not supported: this hiredis (0.14) has no TLS; put a TLS tunnel "
             "(stunnel) on 127.0.0.1 and use redis:// to it (docs/bridge.md, \"Redis over TLS\")",
             what);
    return -1;
  }
  if (strncmp(url, "redis://", 8) != 0)
    goto bad_form;
  const char *auth = url + 8;
  const char *slash = strchr(auth, '/');
  const char *end = slash ? slash : auth + strlen(auth);
  if (strpbrk(url, "?# \t\r\n"))
    goto bad_form;

  /* userinfo: everything before the last '@' of the authority */
  const char *at = NULL;
  for (const char *p = auth; p < end; p++)
    if (*p == '@')
      at = p;
  const char *host = auth;
  if (at) {
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    const char *user_end = colon ? colon : at;
    if (url_decode(auth, (size_t)(user_end - auth), out->user, sizeof(out->user)) != 0 ||
        (colon && url_decode(colon + 1, (size_t)(at - colon - 1), out->password, sizeof(out->password)) != 0)) {
      redis_client_url_clear(out);
      snprintf(errstr, errstr_size, "%s: bad user or password in \"%s\" (%%-escapes, at most %zu bytes)", what,
               shown, sizeof(out->password) - 1);
      return -1;
    }
    host = at + 1;
  }

  /* host, [v6], then :port */
  const char *host_end, *port = NULL;
  if (*host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));
    if (!close || close == host + 1)
      goto bad_form;
    snprintf(out->host, sizeof(out->host), "%.*s", (int)(close - host - 1), host + 1);
    host_end = close + 1;
    if (host_end < end && *host_end != ':')
      goto bad_form;
  } else {
    host_end = memchr(host, ':', (size_t)(end - host));
    if (!host_end)
      host_end = end;
    if ((size_t)(host_end - host) >= sizeof(out->host))
      goto bad_form;
    snprintf(out->host, sizeof(out->host), "%.*s", (int)(host_end - host), host);
  }
  if (!out->host[0])
    goto bad_form;
  for (const char *p = out->host; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr(".-_:%", *p))
      goto bad_form;
  if (host_end < end) { /* ":port" */
    port = host_end + 1;
    if (url_number(port, (size_t)(end - port), 1, 65535, &out->port) != 0) {
      redis_client_url_clear(out);
      snprintf(errstr, errstr_size, "%s: bad port \"%.*s\" (1 to 65535)", what, (int)(end - port > 32 ? 32 : end - port),
               port);
      return -1;
    }
  }
  if (slash && slash[1]) {
    if (url_number(slash + 1, strlen(slash + 1), 0, 2147483647L, &out->db) != 0) {
      redis_client_url_clear(out);
      snprintf(errstr, errstr_size, "%s: bad database \"%.32s\" (a number, 0 or more)", what, slash + 1);
      return -1;
    }
  }
  return 0;

bad_form:
  redis_client_url_clear(out);
  snprintf(errstr, errstr_size, "%s: \"%s\" is not %s", what, shown, REDIS_URL_FORM);
  return -1;
}
