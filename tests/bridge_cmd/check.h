/*
 * check.h: the tiny assertion kit of the bridge_cmd unit tests.  Each test
 * counts its checks and ends with "N passed, 0 failed" (exit 1 on failure).
 */
#ifndef BRIDGE_CMD_CHECK_H
#define BRIDGE_CMD_CHECK_H

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

#define CHECK_DONE()                                          \
  do {                                                        \
    printf("%d passed, %d failed\n", passed, failed);         \
    return failed ? 1 : 0;                                    \
  } while (0)

#endif
