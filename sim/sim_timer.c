/*
 * sim_timer: see sim_timer.h.
 */
#include "sim_timer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "sim_log.h"

struct sim_timers {
  sim_timer_t **heap; /* heap[0] is due first */
  size_t n, cap;
  int fd;             /* the timerfd */
  struct lws *wsi;    /* the timerfd adopted into lws, which closes it */
  int64_t armed_us;   /* deadline the timerfd is set for; 0: none */
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the heap ---- */

static void put(sim_timers_t *t, size_t slot, sim_timer_t *x) {
  t->heap[slot] = x;
  x->slot = slot;
}

static void sift_up(sim_timers_t *t, size_t slot) {
  sim_timer_t *x = t->heap[slot];
  while (slot) {
    size_t parent = (slot - 1) / 2;
    if (t->heap[parent]->due_us <= x->due_us)
      break;
    put(t, slot, t->heap[parent]);
    slot = parent;
  }
  put(t, slot, x);
}

static void sift_down(sim_timers_t *t, size_t slot) {
  sim_timer_t *x = t->heap[slot];
  for (;;) {
    size_t child = 2 * slot + 1;
    if (child >= t->n)
      break;
    if (child + 1 < t->n && t->heap[child + 1]->due_us < t->heap[child]->due_us)
      child++;
    if (x->due_us <= t->heap[child]->due_us)
      break;
    put(t, slot, t->heap[child]);
    slot = child;
  }
  put(t, slot, x);
}

static void heap_remove(sim_timers_t *t, sim_timer_t *x) {
  size_t slot = x->slot;
  sim_timer_t *last = t->heap[--t->n];
  x->timers = NULL;
  if (last == x)
    return;
  put(t, slot, last);
  if (slot && t->heap[(slot - 1) / 2]->due_us > last->due_us)
    sift_up(t, slot);
  else
    sift_down(t, slot);
}

/* ---- the timerfd ---- */

/* Wake for the earliest deadline.  An earlier wake than needed is harmless: it re-arms. */
static void arm(sim_timers_t *t) {
  if (!t->n)
    return;
  int64_t due = t->heap[0]->due_us;
  if (t->armed_us && t->armed_us <= due)
    return;
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(due / 1000000);
  its.it_value.tv_nsec = (long)(due % 1000000) * 1000;
  if (timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
    sim_log(SIM_LOG_ERROR, "timer", "timerfd_settime: %s", strerror(errno));
    return;
  }
  t->armed_us = due;
}

/* Run every timer that is due; those they schedule run in a later turn. */
static void run_due(sim_timers_t *t) {
  int64_t now = now_us();
  while (t->n && t->heap[0]->due_us <= now) {
    sim_timer_t *x = t->heap[0];
    heap_remove(t, x);
    x->fn(x);
  }
  arm(t);
}

static int cb_timerfd(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
  struct lws_vhost *vh = lws_get_vhost(wsi);
  sim_timers_t *t = vh ? lws_vhost_user(vh) : NULL;
  uint64_t expirations;
  (void)user;
  (void)in;
  (void)len;
  if (!t)
    return 0;
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    if (read(t->fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
      sim_log(SIM_LOG_ERROR, "timer", "timerfd read: %s", strerror(errno));
    t->armed_us = 0;
    run_due(t);
    return 0;
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    t->wsi = NULL;
    t->fd = -1; /* closed by lws */
    return 0;
  default:
    return 0;
  }
}

static const struct lws_protocols timer_protocols[] = {
    {"sim-timer", cb_timerfd, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- public ---- */

int sim_timers_new(struct lws_context *lws, sim_timers_t **timers, char *errstr,
                   size_t errstr_size) {
  struct lws_context_creation_info info;
  struct lws_vhost *vh;
  lws_sock_file_fd_type fd;
  sim_timers_t *t = calloc(1, sizeof *t);
  *timers = NULL;
  if (!t) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t->fd < 0) {
    snprintf(errstr, errstr_size, "timerfd_create: %s", strerror(errno));
    goto fail;
  }
  memset(&info, 0, sizeof info);
  info.vhost_name = "timers";
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = timer_protocols;
  info.user = t;
  vh = lws_create_vhost(lws, &info);
  fd.filefd = t->fd;
  if (!vh || !(t->wsi = lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, fd,
                                                    timer_protocols[0].name, NULL))) {
    snprintf(errstr, errstr_size, "cannot add the timerfd to the lws context");
    goto fail;
  }
  *timers = t;
  return 0;
fail:
  if (t->fd >= 0)
    close(t->fd);
  free(t);
  return -1;
}

void sim_timers_free(sim_timers_t *t) {
  if (!t)
    return;
  if (t->n)
    sim_log(SIM_LOG_WARN, "timer", "%zu timers still scheduled at exit", t->n);
  if (!t->wsi && t->fd >= 0)
    close(t->fd);
  free(t->heap);
  free(t);
}

void sim_timer_schedule(sim_timers_t *t, sim_timer_t *x, sim_timer_fn fn, int64_t delay_us) {
  if (x->timers)
    heap_remove(x->timers, x);
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    sim_timer_t **heap = realloc(t->heap, cap * sizeof *heap);
    if (!heap) {
      sim_log(SIM_LOG_ERROR, "timer", "out of memory: a timer is lost");
      return;
    }
    t->heap = heap;
    t->cap = cap;
  }
  x->fn = fn;
  x->due_us = now_us() + (delay_us < 1 ? 1 : delay_us);
  x->timers = t;
  t->heap[t->n] = x;
  sift_up(t, t->n++);
  if (x->slot == 0)
    arm(t);
}

void sim_timer_cancel(sim_timer_t *x) {
  if (x->timers)
    heap_remove(x->timers, x);
}
