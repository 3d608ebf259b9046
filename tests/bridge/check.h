/*
 * check: the bridge unit tests' tiny harness.  CHECK(cond) and the typed
 * equality checks count failures without stopping; check_done prints
 * "N passed, M failed" and gives the exit status.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (cond) {                                                         \
      check_passed++;                                                   \
    } else {                                                            \
      check_failed++;                                                   \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                   \
  } while (0)

#define CHECK_STR(got, want)                                                                  \
  do {                                                                                        \
    const char *g_ = (got), *w_ = (want);                                                     \
    if (g_ && w_ && strcmp(g_, w_) == 0) {                                                    \
      check_passed++;                                                                         \
    } else {                                                                                  \
      check_failed++;                                                                         \
      fprintf(stderr, "%s:%d: FAILED: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #got, \
              g_ ? g_ : "(null)", w_ ? w_ : "(null)");                                        \
    }                                                                                         \
  } while (0)

#define CHECK_INT(got, want)                                                                   \
  do {                                                                                         \
    long long g_ = (long long)(got), w_ = (long long)(want);                                   \
    if (g_ == w_) {                                                                            \
      check_passed++;                                                                          \
    } else {                                                                                   \
      check_failed++;                                                                          \
      fprintf(stderr, "%s:%d: FAILED: %s\n  got:  %lld\n  want: %lld\n", __FILE__, __LINE__, #got, \
              g_, w_);                                                                         \
    }                                                                                          \
  } while (0)

static inline int check_done(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
