/*
 * blog: the bridge's logging.  One line per event on stderr, as text
 *
 *   2026-11-25T10:48:42.123Z warn  pbx[ipo1] tls_verify=false: ...
 *
 * or as one JSON object per line ({"ts":..,"level":..,"ctx":..,"inst":..,"msg":..}).
 * Every line names its context (the stage: pbx, subs, snapshot, kafka, ...)
 * and the instance within it.  Debug lines are printed only for the contexts
 * named in the `debug` setting, as librdkafka's `debug` property does.
 * Lines go to stderr, or to `log_file` (blog_open), one write each.
 * Called from the loop thread, and from the producer and reader threads
 * (librdkafka's own log lines are forwarded through each client's main
 * queue, so they arrive here from whoever serves it); configured from the
 * loop thread.
 */
#ifndef BLOG_H
#define BLOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum blog_level {
  BLOG_ERROR = 0,
  BLOG_WARN = 1,
  BLOG_INFO = 2,
  BLOG_DEBUG = 3
} blog_level_t;

/* X(enum suffix, name): the contexts, one per stage. */
#define BLOG_CONTEXTS(X) \
  X(MAIN, "main")        \
  X(CONFIG, "config")    \
  X(PBX, "pbx")          \
  X(SUBS, "subs")        \
  X(SNAPSHOT, "snapshot") \
  X(EVENT, "event")      \
  X(KAFKA, "kafka")      \
  X(REDIS, "redis")      \
  X(HTTP, "http")        \
  X(CMD, "cmd")

typedef enum blog_ctx {
#define BLOG_X_ENUM(e, n) BLOG_CTX_##e,
  BLOG_CONTEXTS(BLOG_X_ENUM)
#undef BLOG_X_ENUM
  BLOG_CTX__COUNT
} blog_ctx_t;

/* Level by name ("error", "warn", "info", "debug"); 0 or -1. */
int blog_level_parse(const char *name, blog_level_t *level);
/* Debug context list ("pbx,kafka", "all", ""); 0, or -1 naming the bad one. */
int blog_debug_parse(const char *list, unsigned *mask, char *errstr, size_t errstr_size);
/* The comma-separated names of every context, for --help. */
const char *blog_context_names(void);

/* Configure at start (and again on SIGHUP); json 1 selects JSON lines. */
void blog_setup(blog_level_t level, int json, unsigned debug_mask);
/*
 * Append the log to the file at `path` from now on ("" leaves it where it
 * is: stderr): the file is opened (created 0640 if need be) and put in
 * place of stderr (dup2), so that whatever else writes to stderr (a
 * library, a sanitizer) lands there too and every thread switches at once.
 * Called at start, and on SIGHUP to reopen a file that was rotated (moved
 * away).  0, or -1 with errstr (the log stays where it was).
 */
int blog_open(const char *path, char *errstr, size_t errstr_size);
/* Whether a line of this level and context would be printed. */
int blog_enabled(blog_ctx_t ctx, blog_level_t level);

void blog_write(blog_ctx_t ctx, const char *inst, blog_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define BLOG_E(ctx, inst, ...) blog_write(BLOG_CTX_##ctx, inst, BLOG_ERROR, __VA_ARGS__)
#define BLOG_W(ctx, inst, ...) blog_write(BLOG_CTX_##ctx, inst, BLOG_WARN, __VA_ARGS__)
#define BLOG_I(ctx, inst, ...) blog_write(BLOG_CTX_##ctx, inst, BLOG_INFO, __VA_ARGS__)
#define BLOG_D(ctx, inst, ...)                                  \
  do {                                                          \
    if (blog_enabled(BLOG_CTX_##ctx, BLOG_DEBUG))               \
      blog_write(BLOG_CTX_##ctx, inst, BLOG_DEBUG, __VA_ARGS__); \
  } while (0)

#endif
