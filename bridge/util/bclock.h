/*
 * bclock: the two clocks the bridge reads.  Wall time (CLOCK_REALTIME) is
 * what events and lifecycle records carry; monotonic time is for deadlines,
 * retries and latencies, which must not jump with the wall clock.
 */
#ifndef BCLOCK_H
#define BCLOCK_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline int64_t bclock_us(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t bclock_wall_ms(void) { return bclock_us(CLOCK_REALTIME) / 1000; }
static inline int64_t bclock_mono_us(void) { return bclock_us(CLOCK_MONOTONIC); }
static inline int64_t bclock_mono_ms(void) { return bclock_us(CLOCK_MONOTONIC) / 1000; }

/* RFC 3339 UTC time with milliseconds ("2026-11-25T10:48:42.123Z") of a wall-clock ms. */
static inline void bclock_rfc3339(int64_t ts_ms, char *out, size_t size) {
  time_t sec = (time_t)(ts_ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03dZ", (int)(ts_ms % 1000));
}

#endif
