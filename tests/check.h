/*
 * check.h: the tiny assertion kit of every C unit test.  A test counts its
 * checks, goes on after a failure (so one run shows every fault), and ends
 * with CHECK_DONE(): "N passed, M failed", exit 1 when any failed.
 */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond)                                                                  \
      check_passed++;                                                                \
    else {                                                                     \
      check_failed++;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STR(a, b)                                                                      \
  do {                                                                                       \
    const char *a_ = (a), *b_ = (b);                                                         \
    if (a_ && b_ && strcmp(a_, b_) == 0)                                                     \
      check_passed++;                                                                              \
    else {                                                                                   \
      check_failed++;                                                                              \
      fprintf(stderr, "%s:%d: got\n  %s\nwant\n  %s\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
              b_ ? b_ : "(null)");                                                           \
    }                                                                                        \
  } while (0)

#define CHECK_INT(got, want)                                                        \
  do {                                                                              \
    long long g_ = (long long)(got), w_ = (long long)(want);                        \
    if (g_ == w_)                                                                   \
      check_passed++;                                                                     \
    else {                                                                          \
      check_failed++;                                                                     \
      fprintf(stderr, "%s:%d: %s: got %lld, want %lld\n", __FILE__, __LINE__, #got, \
              g_, w_);                                                              \
    }                                                                               \
  } while (0)

/* `got` contains `want` (error messages whose tail may vary). */
#define CHECK_HAS(got, want)                                                        \
  do {                                                                              \
    const char *g_ = (got), *w_ = (want);                                           \
    if (g_ && w_ && strstr(g_, w_))                                                 \
      check_passed++;                                                                     \
    else {                                                                          \
      check_failed++;                                                                     \
      fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,          \
              g_ ? g_ : "(null)", w_ ? w_ : "(null)");                              \
    }                                                                               \
  } while (0)

/* "N passed, M failed"; the exit status for main. */
static inline int check_done(void) {
  printf("%d passed, %d failed\n", check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#define CHECK_DONE() return check_done()

#endif
