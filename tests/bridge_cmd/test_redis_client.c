/*
 * test_redis_client: the asynchronous Redis client on a real libwebsockets
 * loop against real redis-server processes it starts itself (free ports on
 * 127.0.0.1, nothing kept), so that it can kill, restart and stop them.
 *
 *   01 connect, then 2000 commands pipelined before the first reply: each
 *      callback once, in order, with its exact reply; error replies pass
 *      through; nothing is answered from inside redis_client_command
 *   02 commands issued during the handshake wait for it; a host name is
 *      looked up without blocking
 *   03 an ACL user: AUTH user password, SELECT db; a wrong password is one
 *      line that names the user and never the password, and commands fail
 *      with "not connected" until it is fixed
 *   04 redis-server killed with commands in flight: every callback answered
 *      once with the error; restarted: the client is back by itself
 *   05 redis-server stopped (SIGSTOP): the loop never stalls (a 10 ms timer
 *      keeps its pace), pending commands fail after timeout_ms, attempts to
 *      reconnect time out too; SIGCONT: back, commands answered
 *   06 destroy with commands in flight and waiting: each answered once
 *      ("shutting down"); nothing is touched after
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "redis_client.h"
#include "test_loop.h"

static int in_call; /* set while inside redis_client_command */

/* ---- callbacks ---- */

typedef struct got {
  int calls, inside;
  int type;
  long long integer;
  char str[256];
  char err[600];
  int64_t at_ms;
} got_t;

static void got_cb(void *opaque, const struct redisReply *reply, const char *errstr) {
  got_t *g = opaque;
  g->calls++;
  g->inside |= in_call;
  g->at_ms = bclock_mono_ms();
  if (reply) {
    g->type = reply->type;
    g->integer = reply->integer;
    snprintf(g->str, sizeof(g->str), "%s", reply->str ? reply->str : "");
  } else {
    g->type = -1;
    snprintf(g->err, sizeof(g->err), "%s", errstr ? errstr : "(null)");
  }
}

static void send_cmd(redis_client_t *client, got_t *g, int argc, const char **argv) {
  in_call = 1;
  redis_client_command(client, argc, argv, NULL, got_cb, g);
  in_call = 0;
}

static void send1(redis_client_t *client, got_t *g, const char *a0, const char *a1, const char *a2) {
  const char *argv[3] = {a0, a1, a2};
  send_cmd(client, g, a2 ? 3 : a1 ? 2 : 1, argv);
}

static int connected(void *arg) {
  redis_client_health_t h;
  redis_client_health(arg, &h);
  return h.connected;
}

static int disconnected(void *arg) { return !connected(arg); }

static int answered(void *arg) { return ((got_t *)arg)->calls > 0; }

typedef struct many {
  got_t *g;
  size_t n;
} many_t;

static int all_answered(void *arg) {
  many_t *m = arg;
  for (size_t i = 0; i < m->n; i++)
    if (!m->g[i].calls)
      return 0;
  return 1;
}

static redis_client_t *client_new(const char *url, const char *password, int timeout_ms) {
  redis_client_config_t conf;
  redis_client_t *client = NULL;
  char err[256];
  redis_client_config_init(&conf);
  conf.url = url;
  conf.password = password;
  conf.timeout_ms = timeout_ms;
  conf.name = "test";
  if (redis_client_new(&conf, test_ctx, &client, err, sizeof(err)) != 0)
    fprintf(stderr, "redis_client_new: %s\n", err);
  return client;
}

/* ---- scenarios ---- */

static void s01_pipelining(void) {
  int port = test_free_port();
  pid_t pid = test_redis_start(port, NULL);
  char url[64];
  CHECK(pid > 0);
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  redis_client_t *client = client_new(url, NULL, 2000);
  CHECK(client != NULL);
  CHECK(test_loop_run_until(connected, client, 5000));
  enum { N = 2000 };
  static got_t g[N];
  memset(g, 0, sizeof(g));
  for (int i = 0; i < N; i++)
    send1(client, &g[i], "INCR", "s01", NULL);
  redis_client_health_t h;
  redis_client_health(client, &h);
  CHECK_INT(h.pending, N);
  CHECK_INT(g[0].calls, 0); /* nothing answered before the loop runs */
  many_t m = {g, N};
  CHECK(test_loop_run_until(all_answered, &m, 10000));
  int ok = 1;
  for (int i = 0; i < N; i++)
    ok &= g[i].calls == 1 && g[i].type == REDIS_REPLY_INTEGER && g[i].integer == i + 1 && !g[i].inside;
  CHECK(ok);
  /* replies arrive in order: each callback no earlier than the one before */
  for (int i = 1; i < N; i++)
    ok &= g[i].at_ms >= g[i - 1].at_ms;
  CHECK(ok);
  redis_client_health(client, &h);
  CHECK_INT(h.pending, 0);
  CHECK_INT(h.connects, 1);
  CHECK_INT(h.errors, 0);
  CHECK_STR(h.address, url + 8);
  /* an error reply is a reply */
  got_t e = {0};
  send1(client, &e, "NOSUCHCOMMAND", "x", NULL);
  CHECK(test_loop_run_until(answered, &e, 3000));
  CHECK_INT(e.type, REDIS_REPLY_ERROR);
  CHECK(strncmp(e.str, "ERR unknown command", 19) == 0);
  /* binary-safe arguments */
  got_t set = {0}, get = {0};
  const char *sargv[3] = {"SET", "bin", "a\0b"};
  size_t slen[3] = {3, 3, 3};
  in_call = 1;
  redis_client_command(client, 3, sargv, slen, got_cb, &set);
  in_call = 0;
  send1(client, &get, "STRLEN", "bin", NULL);
  CHECK(test_loop_run_until(answered, &get, 3000));
  CHECK_STR(set.str, "OK");
  CHECK_INT(get.integer, 3);
  redis_client_destroy(client);
  test_redis_stop(pid);
}

static void s02_handshake_wait_and_names(void) {
  int port = test_free_port();
  pid_t pid = test_redis_start(port, NULL);
  char url[64];
  snprintf(url, sizeof(url), "redis://localhost:%d/5", port);
  redis_client_t *client = client_new(url, NULL, 2000);
  got_t a = {0}, b = {0};
  send1(client, &a, "SET", "s02", "v"); /* while the name is looked up */
  send1(client, &b, "GET", "s02", NULL);
  CHECK_INT(a.calls, 0);
  CHECK(test_loop_run_until(answered, &b, 5000));
  CHECK(!a.inside && !b.inside);
  CHECK_STR(a.str, "OK");
  CHECK_STR(b.str, "v");
  redisContext *admin = test_redis_admin(port, NULL);
  redisReply *r = redisCommand(admin, "SELECT 5");
  freeReplyObject(r);
  r = redisCommand(admin, "GET s02");
  CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "v") == 0);
  freeReplyObject(r);
  redisFree(admin);
  redis_client_destroy(client);
  /* nothing listens: commands fail quickly, asynchronously, with the reason */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", test_free_port());
  client = client_new(url, NULL, 500);
  test_loop_run_for(100);
  got_t c = {0};
  send1(client, &c, "PING", NULL, NULL);
  CHECK_INT(c.calls, 0);
  CHECK(test_loop_run_until(answered, &c, 2000));
  CHECK(!c.inside);
  char want[128];
  snprintf(want, sizeof(want), "redis %s: not connected", url + 8);
  CHECK_STR(c.err, want);
  redis_client_health_t h;
  redis_client_health(client, &h);
  CHECK_INT(h.connected, 0);
  CHECK(h.down_since_ms > 0);
  CHECK_HAS(h.last_error, "Connection refused");
  redis_client_destroy(client);
  test_redis_stop(pid);
}

static void s03_acl_user(void) {
  int port = test_free_port();
  const char *extra[] = {"--requirepass", "admin-pw", NULL};
  pid_t pid = test_redis_start(port, extra);
  redisContext *admin = test_redis_admin(port, "admin-pw");
  redisReply *r = redisCommand(admin, "ACL SETUSER bridge on >br1dge-pw ~mtcti3:* +@all");
  CHECK(r && r->type == REDIS_REPLY_STATUS);
  freeReplyObject(r);
  char url[96];
  snprintf(url, sizeof(url), "redis://bridge@127.0.0.1:%d/3", port);
  redis_client_t *client = client_new(url, "br1dge-pw", 2000);
  CHECK(test_loop_run_until(connected, client, 5000));
  got_t who = {0}, set = {0}, denied = {0};
  send1(client, &who, "ACL", "WHOAMI", NULL);
  send1(client, &set, "SET", "mtcti3:s03", "x");
  send1(client, &denied, "SET", "other:s03", "x");
  CHECK(test_loop_run_until(answered, &denied, 3000));
  CHECK_STR(who.str, "bridge");
  CHECK_STR(set.str, "OK");
  CHECK_INT(denied.type, REDIS_REPLY_ERROR);
  CHECK_HAS(denied.str, "NOPERM");
  r = redisCommand(admin, "SELECT 3");
  freeReplyObject(r);
  r = redisCommand(admin, "EXISTS mtcti3:s03");
  CHECK(r && r->integer == 1);
  freeReplyObject(r);
  redis_client_destroy(client);
  /* the password in the URL itself, percent-escaped */
  r = redisCommand(admin, "ACL SETUSER odd on >p@ss:word ~* +@all");
  freeReplyObject(r);
  snprintf(url, sizeof(url), "redis://odd:p%%40ss%%3Aword@127.0.0.1:%d", port);
  client = client_new(url, NULL, 2000);
  CHECK(test_loop_run_until(connected, client, 5000));
  redis_client_destroy(client);
  /* a wrong password: one line naming the user, never the password */
  snprintf(url, sizeof(url), "redis://bridge@127.0.0.1:%d/3", port);
  client = client_new(url, "not-the-pw", 2000);
  redis_client_health_t h;
  int64_t t0 = bclock_mono_ms();
  while (bclock_mono_ms() - t0 < 3000) {
    test_loop_run_for(50);
    redis_client_health(client, &h);
    if (h.last_error[0])
      break;
  }
  char want[256];
  snprintf(want, sizeof(want),
           "redis 127.0.0.1:%d: AUTH as user \"bridge\" refused: WRONGPASS invalid username-password pair or user is "
           "disabled.",
           port);
  CHECK_STR(h.last_error, want);
  CHECK(strstr(h.last_error, "not-the-pw") == NULL);
  CHECK_INT(h.connected, 0);
  got_t g = {0};
  send1(client, &g, "PING", NULL, NULL);
  test_loop_run_until(answered, &g, 3000);
  CHECK_INT(g.type, -1);
  redis_client_destroy(client);
  /* no password at all where one is required */
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  client = client_new(url, NULL, 2000);
  t0 = bclock_mono_ms();
  do {
    test_loop_run_for(50);
    redis_client_health(client, &h);
  } while (!h.last_error[0] && bclock_mono_ms() - t0 < 3000);
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: PING refused: NOAUTH Authentication required. (set redis_password)",
           port);
  CHECK_STR(h.last_error, want);
  redis_client_destroy(client);
  redisFree(admin);
  test_redis_stop(pid);
}

static void s04_killed_and_restarted(void) {
  int port = test_free_port();
  pid_t pid = test_redis_start(port, NULL);
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  redis_client_t *client = client_new(url, NULL, 5000);
  CHECK(test_loop_run_until(connected, client, 5000));
  /* a command the server holds (BLPOP), and more pipelined behind it */
  enum { N = 50 };
  static got_t g[N];
  memset(g, 0, sizeof(g));
  send1(client, &g[0], "BLPOP", "s04-nothing", "30");
  for (int i = 1; i < N; i++)
    send1(client, &g[i], "INCR", "s04", NULL);
  test_loop_run_for(200);
  CHECK_INT(g[0].calls, 0);
  CHECK_INT(g[N - 1].calls, 0);
  test_redis_stop(pid);
  many_t m = {g, N};
  CHECK(test_loop_run_until(all_answered, &m, 3000));
  int once = 1, err = 1;
  for (int i = 0; i < N; i++) {
    once &= g[i].calls == 1 && !g[i].inside;
    err &= g[i].type == -1 && strstr(g[i].err, "connection lost") != NULL;
  }
  CHECK(once);
  CHECK(err);
  char want[128];
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: connection lost: ", port);
  CHECK(strncmp(g[0].err, want, strlen(want)) == 0);
  CHECK(test_loop_run_until(disconnected, client, 1000));
  got_t down = {0};
  send1(client, &down, "PING", NULL, NULL);
  CHECK(test_loop_run_until(answered, &down, 1000));
  CHECK_INT(down.type, -1);
  test_loop_run_for(1500); /* a few attempts fail meanwhile */
  pid = test_redis_start(port, NULL);
  CHECK(pid > 0);
  int64_t t0 = bclock_mono_ms();
  CHECK(test_loop_run_until(connected, client, 5000));
  CHECK(bclock_mono_ms() - t0 < 2500); /* the backoff is at most ~1.2 s */
  got_t up = {0};
  send1(client, &up, "INCR", "s04", NULL);
  CHECK(test_loop_run_until(answered, &up, 2000));
  CHECK_INT(up.integer, 1); /* a fresh server */
  redis_client_health_t h;
  redis_client_health(client, &h);
  CHECK_INT(h.connects, 2);
  CHECK_INT(h.errors, N + 1);
  CHECK_INT(h.pending, 0);
  redis_client_destroy(client);
  test_redis_stop(pid);
}

static void s05_stopped_server(void) {
  int port = test_free_port();
  pid_t pid = test_redis_start(port, NULL);
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  redis_client_t *client = client_new(url, NULL, 500);
  CHECK(test_loop_run_until(connected, client, 5000));
  kill(pid, SIGSTOP);
  got_t g[3];
  memset(g, 0, sizeof(g));
  int64_t t0 = bclock_mono_ms();
  for (int i = 0; i < 3; i++)
    send1(client, &g[i], "INCR", "s05", NULL);
  test_loop_gap_reset();
  many_t m = {g, 3};
  CHECK(test_loop_run_until(all_answered, &m, 3000));
  int64_t took = bclock_mono_ms() - t0;
  CHECK(took >= 450 && took < 1500);
  char want[128];
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: no reply in 500 ms", port);
  CHECK_STR(g[0].err, want);
  CHECK_STR(g[2].err, want);
  CHECK(g[0].calls == 1 && g[1].calls == 1 && g[2].calls == 1);
  /* stopped for 3 s more: reconnects reach the kernel's backlog and time out; the loop never waits */
  test_loop_run_for(3000);
  if (test_max_gap_us >= 300 * 1000) /* a stall on the server would be 500 ms per attempt */
    fprintf(stderr, "longest loop gap %lld us\n", (long long)test_max_gap_us);
  CHECK(test_max_gap_us < 300 * 1000);
  redis_client_health_t h;
  redis_client_health(client, &h);
  CHECK_INT(h.connected, 0);
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: no answer to connect and handshake in 500 ms", port);
  CHECK_STR(h.last_error, want);
  kill(pid, SIGCONT);
  CHECK(test_loop_run_until(connected, client, 5000));
  got_t after = {0};
  send1(client, &after, "INCR", "s05", NULL);
  CHECK(test_loop_run_until(answered, &after, 2000));
  CHECK_INT(after.type, REDIS_REPLY_INTEGER);
  CHECK(after.integer >= 1 && after.integer <= 4); /* the stalled INCRs may have run once the server woke */
  redis_client_destroy(client);
  test_redis_stop(pid);
}

static void s06_destroy_answers(void) {
  int port = test_free_port();
  pid_t pid = test_redis_start(port, NULL);
  char url[64];
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
  redis_client_t *client = client_new(url, NULL, 2000);
  CHECK(test_loop_run_until(connected, client, 5000));
  got_t held = {0}, behind = {0};
  send1(client, &held, "BLPOP", "s06-nothing", "30");
  send1(client, &behind, "PING", NULL, NULL);
  test_loop_run_for(100);
  redis_client_destroy(client);
  char want[128];
  snprintf(want, sizeof(want), "redis 127.0.0.1:%d: shutting down", port);
  CHECK_INT(held.calls, 1);
  CHECK_INT(behind.calls, 1);
  CHECK_STR(held.err, want);
  /* destroyed during the handshake: the waiting command is answered too */
  client = client_new(url, NULL, 2000);
  got_t early = {0};
  send1(client, &early, "PING", NULL, NULL);
  redis_client_destroy(client);
  CHECK_INT(early.calls, 1);
  CHECK_STR(early.err, want);
  test_loop_run_for(100); /* the loop after: nothing of the clients is touched */
  test_redis_stop(pid);
}

int main(void) {
  if (test_loop_init("test_redis_client") != 0) {
    fprintf(stderr, "no lws context\n");
    return 1;
  }
  s01_pipelining();
  s02_handshake_wait_and_names();
  s03_acl_user();
  s04_killed_and_restarted();
  s05_stopped_server();
  s06_destroy_answers();
  test_loop_done();
  CHECK_DONE();
}
