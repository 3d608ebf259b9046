/*
 * sim_log: the simulator's log lines, on stderr.
 *
 * DESIGN: one process-wide level (error, warn, info, debug) set once from the
 * command line; every line names the module it comes from ("server",
 * "calls", ...) and, for MTCTI3 traffic, the connection.  Messages in and out
 * are rendered with the codec's text rendering, at debug level only, so the
 * rendering cost is paid only when someone asks for it.
 */
#ifndef SIM_LOG_H
#define SIM_LOG_H

#include "ipo_mtcti3.pb-c.h"

typedef enum sim_log_level {
  SIM_LOG_ERROR = 0,
  SIM_LOG_WARN = 1,
  SIM_LOG_INFO = 2,
  SIM_LOG_DEBUG = 3
} sim_log_level_t;

/* Level by name ("error", "warn", "info", "debug"); 0, or -1 when unknown. */
int sim_log_level_parse(const char *name, sim_log_level_t *level);
void sim_log_set_level(sim_log_level_t level);
int sim_log_enabled(sim_log_level_t level);

void sim_log(sim_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One MTCTI3 message in ("<-") or out ("->") of connection conn_id, at debug level. */
void sim_log_message(int conn_id, const char *dir, const Message *msg);

#endif
