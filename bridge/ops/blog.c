/*
 * blog: stderr logging with levels and contexts.  See blog.h.
 */
#include "blog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static const char *const blog_ctx_names[] = {
#define BLOG_X_NAME(e, n) n,
    BLOG_CONTEXTS(BLOG_X_NAME)
#undef BLOG_X_NAME
};

static const char *const blog_level_names[] = {"error", "warn", "info", "debug"};

static struct {
  blog_level_t level;
  int json;
  unsigned debug_mask;
} blog = {BLOG_INFO, 0, 0};

int blog_level_parse(const char *name, blog_level_t *level) {
  for (int i = 0; i <= BLOG_DEBUG; i++) {
    if (strcasecmp(name, blog_level_names[i]) == 0) {
      *level = (blog_level_t)i;
      return 0;
    }
  }
  if (strcasecmp(name, "warning") == 0) {
    *level = BLOG_WARN;
    return 0;
  }
  return -1;
}

int blog_debug_parse(const char *list, unsigned *mask, char *errstr, size_t errstr_size) {
  char buf[256];
  *mask = 0;
  snprintf(buf, sizeof(buf), "%s", list);
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    if (strcmp(tok, "all") == 0) {
      *mask = ~0u;
      continue;
    }
    int found = 0;
    for (int i = 0; i < BLOG_CTX__COUNT; i++) {
      if (strcmp(tok, blog_ctx_names[i]) == 0) {
        *mask |= 1u << i;
        found = 1;
      }
    }
    if (!found) {
      snprintf(errstr, errstr_size, "unknown debug context \"%s\" (known: all,%s)", tok,
               blog_context_names());
      return -1;
    }
  }
  return 0;
}

const char *blog_context_names(void) {
  static char names[256];
  if (!names[0]) {
    for (int i = 0; i < BLOG_CTX__COUNT; i++) {
      if (i)
        strcat(names, ",");
      strcat(names, blog_ctx_names[i]);
    }
  }
  return names;
}

void blog_setup(blog_level_t level, int json, unsigned debug_mask) {
  blog.level = debug_mask ? BLOG_DEBUG : level;
  if (level == BLOG_DEBUG && !debug_mask)
    debug_mask = ~0u;
  blog.json = json;
  blog.debug_mask = debug_mask;
}

int blog_open(const char *path, char *errstr, size_t errstr_size) {
  if (!path || !*path)
    return 0;
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    snprintf(errstr, errstr_size, "log_file: cannot open \"%s\": %s", path, strerror(errno));
    return -1;
  }
  fflush(stderr);
  int rc = dup2(fd, STDERR_FILENO);
  int err = errno;
  close(fd);
  if (rc < 0) {
    snprintf(errstr, errstr_size, "log_file: cannot put \"%s\" in place of stderr: %s", path, strerror(err));
    return -1;
  }
  return 0;
}

int blog_enabled(blog_ctx_t ctx, blog_level_t level) {
  if (level == BLOG_DEBUG)
    return (blog.debug_mask >> ctx) & 1u;
  return level <= blog.level;
}

void blog_write(blog_ctx_t ctx, const char *inst, blog_level_t level, const char *fmt, ...) {
  if (!blog_enabled(ctx, level))
    return;
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++) /* one line per event, always */
    if (*p == '\n' || *p == '\r')
      *p = ' ';

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

  if (blog.json) {
    json_t *line = json_pack("{s:s,s:s,s:s,s:s,s:s}", "ts", when, "level", blog_level_names[level],
                             "ctx", blog_ctx_names[ctx], "inst", inst ? inst : "", "msg", msg);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    if (text)
      fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
  } else if (inst && *inst) {
    fprintf(stderr, "%s %-5s %s[%s] %s\n", when, blog_level_names[level], blog_ctx_names[ctx], inst,
            msg);
  } else {
    fprintf(stderr, "%s %-5s %s %s\n", when, blog_level_names[level], blog_ctx_names[ctx], msg);
  }
  fflush(stderr);
}
