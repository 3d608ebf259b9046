/*
 * redis_client: the bridge's one connection to Redis, asynchronous, on the
 * libwebsockets event loop.
 *
 * DESIGN.  hiredis's asynchronous API plugged into the loop through its
 * event hooks (addRead, delRead, addWrite, delWrite, cleanup): the socket
 * hiredis opens is watched by libwebsockets as a raw file descriptor (a dup
 * of it, so that each side closes its own), and its readiness calls
 * redisAsyncHandleRead / redisAsyncHandleWrite.  Nothing waits: connecting
 * is non-blocking, a host name is resolved by getaddrinfo_a (glibc's
 * resolver thread) while the loop goes on, and every command is written
 * with redisAsyncCommandArgv, pipelined behind the ones before it (hiredis
 * formats the protocol; nothing here writes RESP by hand).
 *
 * A connection is usable once its handshake (AUTH [user] password, SELECT
 * db, PING, sent pipelined at connect) has been answered; commands issued
 * while it runs wait for it in order, commands issued while there is no
 * connection fail at once (their callback says why).  A connection is lost
 * when hiredis says so, or when the oldest command has had no reply for
 * `timeout_ms` (a stopped or overloaded server): every command in flight is
 * then answered with an error, and the client reconnects after the
 * libwebsockets retry/backoff policy's delay (50 ms, doubling to 1 s, with
 * jitter), forever.  Each outage is logged once when it starts and once when
 * it ends, with its duration; the password is never logged.
 *
 * Every callback given to redis_client_command is called exactly once: with
 * the reply, or with an error when the command could not be sent, the
 * connection was lost or timed out, or the client is destroyed.  Never from
 * inside redis_client_command itself (short of memory for its record), so a
 * caller may issue commands from any callback; never destroy the client
 * from one.  One client serves every stage of the process that needs
 * Redis (the command stores of every PBX); it runs on the loop's thread and
 * is not thread-safe.
 *
 * The URL parser (redis_client_url_parse, redis_client_url.c) is pure and
 * links without the loop: the configuration check and the `mtcti3 command`
 * tool use it too, so the bridge and its tools read redis_url alike.
 */
#ifndef REDIS_CLIENT_H
#define REDIS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct lws_context;
struct redisReply; /* hiredis.h: read the replies' fields with it */

/* ---- the URL ---- */

#define REDIS_CLIENT_DEFAULT_PORT 6379

/*
 * redis://[user[:password]@]host[:port][/db], the user name and password
 * percent-decoded; an IPv6 host in brackets.  The password is a secret:
 * wipe it with redis_client_url_clear.
 */
typedef struct redis_client_url {
  char host[256];
  int port;
  int db;
  char user[128];     /* "": the default user */
  char password[256]; /* "": no AUTH */
} redis_client_url_t;

/*
 * Parse `url`.  0 and *out, or -1 with a one-line errstr that starts with
 * `what` ("redis_url") and never holds the password:
 *   redis_url: "redis//x" is not redis://[user[:password]@]host[:port][/db]
 *   redis_url: bad port "99999" (1 to 65535)
 *   redis_url: bad database "x" (a number, 0 or more)
 *   redis_url: rediss:// (TLS) is not supported ... (docs/bridge.md, "Redis over TLS")
 */
int redis_client_url_parse(const char *url, const char *what, redis_client_url_t *out, char *errstr,
                           size_t errstr_size);
/* 1 when `url` carries a password (for refusing one on a command line). */
int redis_client_url_has_password(const char *url);
/* Wipe the password. */
void redis_client_url_clear(redis_client_url_t *url);

/* ---- the client ---- */

typedef struct redis_client_config {
  const char *url;      /* redis://...; see above */
  const char *password; /* when non-empty, used instead of the URL's (secret) */
  int timeout_ms;       /* connect and handshake, and the oldest reply in flight; 0: 2000 */
  const char *name;     /* for logs: "commands"; NULL: "redis" */
} redis_client_config_t;

void redis_client_config_init(redis_client_config_t *conf);

typedef struct redis_client redis_client_t;

/*
 * A command is done.  `reply` is Redis's reply, borrowed for the call (an
 * error reply too: REDIS_REPLY_ERROR), or NULL when there was none: then
 * `errstr` says why in one line ("redis 127.0.0.1:6379: connection lost:
 * ...", "...: no reply in 2000 ms", "...: not connected (...)",
 * "...: shutting down").
 */
typedef void(redis_client_cb)(void *opaque, const struct redisReply *reply, const char *errstr);

/*
 * Parse the configuration and start connecting on `context`'s loop (a vhost
 * of the client's own is made on it).  0 and *client, or -1 with errstr (a
 * bad URL; an unreachable server is not an error: it is retried).  Destroy
 * the client before the context.
 */
int redis_client_new(const redis_client_config_t *conf, struct lws_context *context,
                     redis_client_t **client, char *errstr, size_t errstr_size);
/*
 * Answer every command still waiting (errstr "...: shutting down"), close
 * the connection and free the client.  Safe on NULL and on a half-built one.
 */
void redis_client_destroy(redis_client_t *client);

/*
 * Send one command: argv[0..argc) (argvlen NULL: NUL-terminated strings),
 * copied before this returns.  `cb` is called exactly once, later (see
 * above).
 */
void redis_client_command(redis_client_t *client, int argc, const char **argv, const size_t *argvlen,
                          redis_client_cb *cb, void *opaque);

/* What /readyz and the metrics show. */
typedef struct redis_client_health {
  int connected;        /* the handshake is done and the connection is up */
  size_t pending;       /* commands sent or waiting for the handshake, not yet answered */
  int64_t down_since_ms; /* wall clock when the current outage started; 0 when up */
  uint64_t connects;     /* handshakes completed since start */
  uint64_t errors;       /* commands answered with an error (not error replies) */
  char last_error[600];  /* "" when none yet */
  char address[270];     /* host:port, for messages */
} redis_client_health_t;

void redis_client_health(const redis_client_t *client, redis_client_health_t *health);

/*
 * The readiness probe (ready.h's ready_probe_cb; opaque is the client): 1
 * while connected, else 0 with why ("unreachable for 4 s: redis
 * 127.0.0.1:6379: no reply in 2000 ms", "connecting to 127.0.0.1:6379").
 */
int redis_client_ready(void *client, char *why, size_t why_size);

#endif
