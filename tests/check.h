/*
 * check.h: the tiny assertion kit of every C unit test.  A test counts its
 * checks, goes on after a failure (so one run shows every fault), and ends
 * with CHECK_DONE(): "N passed, M failed", exit 1 when any failed.
 */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond)                                                                  \
      passed++;                                                                \
    else {                                                                     \
      failed++;                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STR(a, b)                                                                      \
  do {                                                                                       \
    const char *a_ = (a), *b_ = (b);                                                         \
    if (a_ && b_ && strcmp(a_, b_) == 0)                                                     \
      passed++;                                                                              \
    else {                                                                                   \
      failed++;                                                                              \
      fprintf(stderr, "%s:%d: got\n  %s\nwant\n  %s\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
              b_ ? b_ : "(null)");                                                           \
    }                                                                                        \
  } while (0)

/* `got` contains `want` (error messages whose tail may vary). */
#define CHECK_HAS(got, want)                                                        \
  do {                                                                              \
    const char *g_ = (got), *w_ = (want);                                           \
    if (g_ && w_ && strstr(g_, w_))                                                 \
      passed++;                                                                     \
    else {                                                                          \
      failed++;                                                                     \
      fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,          \
              g_ ? g_ : "(null)", w_ ? w_ : "(null)");                              \
    }                                                                               \
  } while (0)

#define CHECK_DONE()                                          \
  do {                                                        \
    printf("%d passed, %d failed\n", passed, failed);         \
    return failed ? 1 : 0;                                    \
  } while (0)

#endif
