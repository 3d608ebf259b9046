/*
 * loop: fd watches on the libwebsockets loop.  See loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blog.h"
#include "metrics.h"

#define LOOP_PROTOCOL "mtcti3-fd"

struct loop_watch {
  loop_fd_cb *cb; /* NULL once unwatched */
  void *arg;
  struct lws *wsi; /* NULL once closed */
};

static int loop_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
  loop_watch_t *watch = lws_get_opaque_user_data(wsi);
  switch (reason) {
  case LWS_CALLBACK_RAW_RX_FILE:
    if (watch && watch->cb)
      watch->cb(watch->arg);
    else if (watch) /* unwatched: close this wsi */
      return -1;
    break;
  case LWS_CALLBACK_RAW_CLOSE_FILE:
    if (watch) {
      lws_set_opaque_user_data(wsi, NULL);
      watch->wsi = NULL;
      if (!watch->cb)
        free(watch); /* unwatched before: nobody holds it any more */
      else
        watch->cb = NULL; /* the context goes: loop_unwatch frees it */
    }
    break;
  default:
    break;
  }
  return 0;
}

void loop_protocol(struct lws_protocols *protocol) {
  memset(protocol, 0, sizeof(*protocol));
  protocol->name = LOOP_PROTOCOL;
  protocol->callback = loop_callback;
}

loop_watch_t *loop_watch(struct lws_vhost *vhost, int fd, loop_fd_cb *cb, void *arg, char *errstr,
                         size_t errstr_size) {
  loop_watch_t *watch = calloc(1, sizeof(*watch));
  int dup_fd = fd >= 0 ? dup(fd) : -1;
  if (!watch || dup_fd < 0) {
    snprintf(errstr, errstr_size, "event loop: cannot watch fd %d: %s", fd, watch ? strerror(errno) : "out of memory");
    free(watch);
    if (dup_fd >= 0)
      close(dup_fd);
    return NULL;
  }
  watch->cb = cb;
  watch->arg = arg;
  lws_adopt_desc_t desc;
  memset(&desc, 0, sizeof(desc));
  desc.vh = vhost;
  desc.type = LWS_ADOPT_RAW_FILE_DESC;
  desc.fd.filefd = dup_fd;
  desc.vh_prot_name = LOOP_PROTOCOL;
  desc.opaque = watch;
  watch->wsi = lws_adopt_descriptor_vhost_via_info(&desc);
  if (!watch->wsi) {
    snprintf(errstr, errstr_size, "event loop: libwebsockets cannot watch fd %d", fd);
    free(watch);
    return NULL; /* lws closed dup_fd */
  }
  return watch;
}

void loop_unwatch(loop_watch_t *watch) {
  if (!watch)
    return;
  if (!watch->wsi) { /* closed with the context already */
    free(watch);
    return;
  }
  watch->cb = NULL;
  lws_set_timeout(watch->wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
}

int64_t loop_stall_check(int64_t threshold_ms) {
  static int64_t last_ms; /* one loop per process */
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int64_t gap = last_ms ? now_ms - last_ms : 0;
  last_ms = now_ms;
  if (threshold_ms <= 0 || gap <= threshold_ms)
    return 0;
  metrics_add(METRICS_LOOP_STALLS, 1);
  BLOG_W(MAIN, NULL,
         "event loop stalled for %.1f s (loop_stall_ms=%lld): the process was stopped or starved of CPU, or the "
         "machine paused",
         (double)gap / 1000.0, (long long)threshold_ms);
  return gap;
}
