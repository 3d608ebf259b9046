/*
 * signals: SIGINT, SIGTERM and SIGHUP as events of the event loop.
 *
 * DESIGN.  At the very start of main, before any thread exists,
 * signals_block blocks the three signals of SIGNALS_TABLE in the process's
 * mask (every thread made later, librdkafka's and the resolver's included,
 * inherits it), so that none interrupts a system call or lands on another
 * thread, and ignores SIGPIPE.  Once the loop exists, signals_watch opens a
 * signalfd for them and watches it on the loop (loop_watch): each signal is
 * then an ordinary event on the loop thread, delivered to a callback with
 * what it asks for: stop (SIGINT, SIGTERM) or reload (SIGHUP).  A signal
 * sent before the loop runs waits in the fd and is served on its first
 * turn; a signal sent while the bridge stops (outside the loop) is not
 * served, and the stop ends anyway.  Loop thread only.
 */
#ifndef SIGNALS_H
#define SIGNALS_H

#include <stddef.h>

#include <libwebsockets.h>

/* X(signal, what it asks for): the signals the bridge serves, one row each. */
#define SIGNALS_TABLE(X)    \
  X(SIGINT, SIGNALS_STOP)   \
  X(SIGTERM, SIGNALS_STOP)  \
  X(SIGHUP, SIGNALS_RELOAD)

typedef enum signals_action {
  SIGNALS_STOP,  /* stop cleanly, exit 0 */
  SIGNALS_RELOAD /* reopen the log, reload what can be reloaded */
} signals_action_t;

typedef struct signals signals_t;

/* A signal arrived: `name` ("SIGTERM") asks for `action`. */
typedef void(signals_cb)(void *opaque, const char *name, signals_action_t action);

/* Block the table's signals, ignore SIGPIPE: first thing in main.  0, or -1 with errstr. */
int signals_block(char *errstr, size_t errstr_size);

/* Deliver the blocked signals on `vhost`'s loop.  NULL with errstr. */
signals_t *signals_watch(struct lws_vhost *vhost, signals_cb *cb, void *opaque, char *errstr, size_t errstr_size);
/* Stop watching (the signals stay blocked).  Safe on NULL. */
void signals_destroy(signals_t *signals);

#endif
