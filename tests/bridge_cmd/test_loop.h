/*
 * test_loop.h: a libwebsockets loop for the tests of the asynchronous
 * stages (the Redis client, the command store, the executor), and the
 * redis-server processes they run against.
 *
 *   test_loop_init()          the context (no listener), a 10 ms timer that
 *                             records the longest gap between its runs
 *   test_loop_run_until(c,a,ms)  serve the loop until c(a) or ms passed
 *   test_redis_start(port, extra) a redis-server on 127.0.0.1:port (no
 *                             persistence, its log in the test's dir)
 *   test_redis_stop(pid)      SIGKILL (after SIGCONT) and reap
 */
#ifndef TEST_LOOP_H
#define TEST_LOOP_H

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>
#include <libwebsockets.h>

#include "bclock.h"

extern char **environ;

static struct lws_context *test_ctx;
static lws_sorted_usec_list_t test_sul_tick;
static int64_t test_last_tick_us, test_max_gap_us;
static char test_dir[128];

static void test_loop_tick(lws_sorted_usec_list_t *sul) {
  int64_t now = bclock_mono_us();
  (void)sul;
  if (test_last_tick_us && now - test_last_tick_us > test_max_gap_us)
    test_max_gap_us = now - test_last_tick_us;
  test_last_tick_us = now;
  lws_sul_schedule(test_ctx, 0, &test_sul_tick, test_loop_tick, 10 * LWS_US_PER_MS);
}

/* Reset the longest-gap measure. */
static inline void test_loop_gap_reset(void) {
  test_last_tick_us = 0;
  test_max_gap_us = 0;
}

static inline int test_loop_init(const char *name) {
  struct lws_context_creation_info info;
  signal(SIGPIPE, SIG_IGN);
  snprintf(test_dir, sizeof(test_dir), "/tmp/%s.%d", name, (int)getpid());
  mkdir(test_dir, 0700);
  lws_set_log_level(LLL_ERR, NULL);
  memset(&info, 0, sizeof(info));
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.gid = -1;
  info.uid = -1;
  test_ctx = lws_create_context(&info);
  if (!test_ctx)
    return -1;
  test_loop_tick(&test_sul_tick);
  return 0;
}

static inline void test_loop_done(void) {
  char cmd[200];
  lws_sul_cancel(&test_sul_tick);
  lws_context_destroy(test_ctx);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", test_dir);
}

/* Serve the loop until cond(arg) or timeout_ms; 1 when cond held. */
static inline int test_loop_run_until(int (*cond)(void *), void *arg, int timeout_ms) {
  int64_t end = bclock_mono_ms() + timeout_ms;
  while (bclock_mono_ms() < end) {
    if (cond && cond(arg))
      return 1;
    lws_service(test_ctx, 0);
  }
  return cond ? cond(arg) : 1;
}

static inline void test_loop_run_for(int ms) { test_loop_run_until(NULL, NULL, ms); }

static inline int test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
    return 0;
  close(fd);
  return ntohs(a.sin_port);
}

/* A synchronous connection for the test's own checks; AUTH with `password` when given. */
static inline redisContext *test_redis_admin(int port, const char *password) {
  struct timeval tv = {1, 0};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (!c || c->err) {
    if (c)
      redisFree(c);
    return NULL;
  }
  if (password)
    freeReplyObject(redisCommand(c, "AUTH %s", password));
  return c;
}

/* redis-server on `port` with `extra` arguments (NULL-ended); its pid once it answers, or -1. */
static inline pid_t test_redis_start(int port, const char *const *extra) {
  char portstr[16], log[256];
  const char *server = getenv("MTCTI3_REDIS_SERVER") ? getenv("MTCTI3_REDIS_SERVER") : "redis-server";
  const char *argv[32] = {server, "--port", portstr, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", test_dir, "--logfile", log};
  int n = 13;
  pid_t pid;
  snprintf(portstr, sizeof(portstr), "%d", port);
  snprintf(log, sizeof(log), "%s/redis-%d.log", test_dir, port);
  for (; extra && *extra && n < 30; extra++)
    argv[n++] = *extra;
  argv[n] = NULL;
  posix_spawn_file_actions_t fa; /* not our stdout: a pipe reading the test would wait for the server */
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&pid, server, &fa, NULL, (char *const *)argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  for (int i = 0; i < 200; i++) {
    redisContext *c = test_redis_admin(port, NULL);
    if (c) {
      redisReply *r = redisCommand(c, "PING");
      int ok = r && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR); /* NOAUTH: it answers */
      freeReplyObject(r);
      redisFree(c);
      if (ok)
        return pid;
    }
    nanosleep(&(struct timespec){0, 25 * 1000 * 1000}, NULL);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static inline void test_redis_stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGCONT);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

#endif
