/*
 * sim_timer: the simulator's timers (calls ringing and answering, queue
 * retargeting, the load generator, scenarios, subscription expiry).
 *
 * DESIGN: libwebsockets 4.1 waits in poll() for the time to its next sul
 * deadline in whole milliseconds, rounded down, so in the last millisecond
 * before every sul its loop calls poll() with a zero timeout over and over
 * (about 120,000 times a second with nothing running but the load
 * generator's 5 ms tick).  These timers are therefore kept out of lws: a
 * min-heap by deadline, and one timerfd, adopted into the lws context as a
 * raw file, armed for the earliest deadline, so that poll() sleeps until
 * exactly then.  Work for "the next loop turn" (no delay) needs no timer:
 * an lws sul due at once never makes the loop spin.  Runs on the one
 * service thread.
 */
#ifndef SIM_TIMER_H
#define SIM_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct lws_context;

typedef struct sim_timers sim_timers_t;
typedef struct sim_timer sim_timer_t;
typedef void (*sim_timer_fn)(sim_timer_t *timer);

/* Embedded in its owner and zeroed with it; the owner is found with lws_container_of. */
struct sim_timer {
  sim_timers_t *timers; /* while scheduled */
  size_t slot;          /* in the heap, while scheduled */
  int64_t due_us;       /* CLOCK_MONOTONIC */
  sim_timer_fn fn;
};

/* The timers of one lws context; *timers owned by the caller (sim_timers_free). */
int sim_timers_new(struct lws_context *lws, sim_timers_t **timers, char *errstr,
                   size_t errstr_size);
/* After the lws context is destroyed; every timer should be cancelled by then. */
void sim_timers_free(sim_timers_t *timers);

/* Call fn(timer) in delay_us (at least 1); a scheduled timer is moved. */
void sim_timer_schedule(sim_timers_t *timers, sim_timer_t *timer, sim_timer_fn fn,
                        int64_t delay_us);
/* Unschedule; a timer that is not scheduled is left alone. */
void sim_timer_cancel(sim_timer_t *timer);

#endif
