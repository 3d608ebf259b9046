/*
 * loop: the process's one event loop (a libwebsockets context), and the
 * small adapters every stage plugs into it with.
 *
 * DESIGN.  Stages that have an fd to watch (librdkafka queues signalling a
 * pipe, a worker thread's completion pipe, a timerfd) hand it to
 * loop_watch with a callback; the loop calls it on the loop thread when the
 * fd is readable.  The loop adopts a dup() of the fd (libwebsockets closes
 * what it adopts), so the stage keeps its own and closes it itself.  Timers
 * are libwebsockets' sorted usec lists (lws_sul).  Signals arrive as one
 * more watched fd (signals.h).  The loop's periodic tick asks the stall
 * detector (loop_stall_check) whether the loop stood still.  Everything
 * runs on the loop thread.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stddef.h>

#include <libwebsockets.h>

typedef struct loop_watch loop_watch_t;

/* The fd is readable. */
typedef void(loop_fd_cb)(void *arg);

/* The protocol entry of the watched fds: list it in the vhost's protocols. */
void loop_protocol(struct lws_protocols *protocol);

/*
 * Watch `fd` (kept open by the caller) on `vhost`; NULL with errstr.  The
 * watch ends with loop_unwatch or when the context is destroyed.
 */
loop_watch_t *loop_watch(struct lws_vhost *vhost, int fd, loop_fd_cb *cb, void *arg, char *errstr,
                         size_t errstr_size);
/* Stop calling back (safe with NULL); the adopted dup closes soon after. */
void loop_unwatch(loop_watch_t *watch);

/*
 * The stall detector, called from the loop's periodic tick: the time since
 * its last call (CLOCK_BOOTTIME, so a suspended machine counts too); over
 * threshold_ms, the loop did not turn meanwhile (the process was stopped
 * or starved of CPU, a step blocked, the machine or VM paused): one line
 * is logged and mtcti3_bridge_loop_stalls_total counted.  Returns the
 * stall in ms, 0 when none (and at the first call).
 */
int64_t loop_stall_check(int64_t threshold_ms);

#endif
