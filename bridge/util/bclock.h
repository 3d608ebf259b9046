/*
 * bclock: the two clocks the bridge reads.  Wall time (CLOCK_REALTIME) is
 * what events and lifecycle records carry; monotonic time is for deadlines,
 * retries and latencies, which must not jump with the wall clock.
 */
#ifndef BCLOCK_H
#define BCLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t bclock_us(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t bclock_wall_ms(void) { return bclock_us(CLOCK_REALTIME) / 1000; }
static inline int64_t bclock_mono_us(void) { return bclock_us(CLOCK_MONOTONIC); }
static inline int64_t bclock_mono_ms(void) { return bclock_us(CLOCK_MONOTONIC) / 1000; }

#endif
