/*
 * signals: SIGINT, SIGTERM and SIGHUP on the loop.  See signals.h.
 */
#include "signals.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "loop.h"

static const struct {
  int signo;
  const char *name;
  signals_action_t action;
} signals_table[] = {
#define SIGNALS_X_ROW(s, a) {s, #s, a},
    SIGNALS_TABLE(SIGNALS_X_ROW)
#undef SIGNALS_X_ROW
};
#define SIGNALS_N (sizeof(signals_table) / sizeof(signals_table[0]))

struct signals {
  int fd;
  loop_watch_t *watch;
  signals_cb *cb;
  void *opaque;
};

static void signals_set(sigset_t *set) {
  sigemptyset(set);
  for (size_t i = 0; i < SIGNALS_N; i++)
    sigaddset(set, signals_table[i].signo);
}

int signals_block(char *errstr, size_t errstr_size) {
  sigset_t set;
  signals_set(&set);
  int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (rc != 0) {
    snprintf(errstr, errstr_size, "signals: cannot block them: %s", strerror(rc));
    return -1;
  }
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

/* The fd is readable: serve every signal waiting in it. */
static void signals_read(void *arg) {
  signals_t *signals = arg;
  struct signalfd_siginfo info;
  while (read(signals->fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
    for (size_t i = 0; i < SIGNALS_N; i++)
      if ((int)info.ssi_signo == signals_table[i].signo)
        signals->cb(signals->opaque, signals_table[i].name, signals_table[i].action);
  }
}

signals_t *signals_watch(struct lws_vhost *vhost, signals_cb *cb, void *opaque, char *errstr, size_t errstr_size) {
  signals_t *signals = calloc(1, sizeof(*signals));
  sigset_t set;
  if (!signals) {
    snprintf(errstr, errstr_size, "signals: out of memory");
    return NULL;
  }
  signals->fd = -1;
  signals->cb = cb;
  signals->opaque = opaque;
  signals_set(&set);
  signals->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signals->fd < 0) {
    snprintf(errstr, errstr_size, "signals: signalfd: %s", strerror(errno));
    goto fail;
  }
  signals->watch = loop_watch(vhost, signals->fd, signals_read, signals, errstr, errstr_size);
  if (!signals->watch)
    goto fail;
  return signals;
fail:
  signals_destroy(signals);
  return NULL;
}

void signals_destroy(signals_t *signals) {
  if (!signals)
    return;
  loop_unwatch(signals->watch);
  if (signals->fd >= 0)
    close(signals->fd);
  free(signals);
}
