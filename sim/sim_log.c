/*
 * sim_log: see sim_log.h.  Lines look like
 *   2024-05-01T10:00:00.123Z info  server: listening on 127.0.0.1:8443
 */
#include "sim_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "codec_text.h"

static sim_log_level_t log_level = SIM_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

int sim_log_level_parse(const char *name, sim_log_level_t *level) {
  for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *level = (sim_log_level_t)i;
      return 0;
    }
  }
  return -1;
}

void sim_log_set_level(sim_log_level_t level) { log_level = level; }

int sim_log_enabled(sim_log_level_t level) { return level <= log_level; }

void sim_log(sim_log_level_t level, const char *module, const char *fmt, ...) {
  if (!sim_log_enabled(level))
    return;
  struct timeval tv;
  struct tm tm;
  char ts[32];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s.%03dZ %-5s %s: ", ts, (int)(tv.tv_usec / 1000), level_names[level],
          module);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void sim_log_message(int conn_id, const char *dir, const Message *msg) {
  if (!sim_log_enabled(SIM_LOG_DEBUG))
    return;
  char *text = codec_text_print(&msg->base, 0);
  sim_log(SIM_LOG_DEBUG, "mtcti3", "conn %d %s %s", conn_id, dir, text ? text : "(no memory)");
  free(text);
}
