/*
 * wb_config: every setting of mtcti3-wallboard, in one table.
 *
 * DESIGN.  WB_SETTINGS below is the only list of settings, as the bridge's
 * CONFIG_SETTINGS: it drives the config file parser (`name = value` lines),
 * the environment (MTCTI3_WALLBOARD_<NAME in upper case>), the flags
 * (--name=value or --name value), --help, --help-markdown (the table in
 * docs/wallboard.md) and validation.  Precedence: default < config file <
 * environment < flag.  kafka.<property> goes straight to rd_kafka_conf_set;
 * a property naming a password or secret is refused on the command line.
 * Runs once at start; pure apart from reading the config file.
 */
#ifndef WB_CONFIG_H
#define WB_CONFIG_H

#include <stddef.h>

typedef enum wb_type { WB_STR, WB_INT, WB_ENUM } wb_type_t;

#define WB_REQUIRED 0x1

/* X(name, type, default, min, max, choices, flags, help) */
#define WB_SETTINGS(X)                                                                              \
  X(config, WB_STR, "", 0, 0, NULL, 0, "Config file: one `name = value` per line, # starts a comment") \
  X(kafka_bootstrap, WB_STR, "", 0, 0, NULL, WB_REQUIRED, "Kafka bootstrap servers (host:port,...)")  \
  X(topics, WB_STR, "^mtcti3\\..*queue-stats$", 0, 0, NULL, 0,                                     \
    "Queue statistics topics: a comma-separated list, or one regular expression starting with ^ (every PBX's <prefix>queue-stats)") \
  X(listen, WB_STR, "127.0.0.1:8088", 0, 0, NULL, 0,                                                \
    "Address of the page and its stream (host:port; port 0 picks one)")                            \
  X(ready_file, WB_STR, "", 0, 0, NULL, 0, "Write a JSON file with the HTTP port once serving")    \
  X(title, WB_STR, "Contact centre", 0, 0, NULL, 0, "Title shown on the page")                     \
  X(stale_seconds, WB_INT, "10", 2, 3600, NULL, 0,                                                  \
    "The page marks its data stale after this many seconds without word from the service, or while Kafka is unreachable") \
  X(warn_waiting, WB_INT, "1", 1, 100000, NULL, 0, "A tile turns amber with this many calls waiting") \
  X(alert_waiting, WB_INT, "3", 1, 100000, NULL, 0, "... and red with this many")                  \
  X(warn_wait_seconds, WB_INT, "30", 1, 86400, NULL, 0, "A tile turns amber when the longest wait reaches this") \
  X(alert_wait_seconds, WB_INT, "60", 1, 86400, NULL, 0, "... and red at this")                    \
  X(warn_service_level, WB_INT, "80", 0, 100, NULL, 0,                                              \
    "A tile turns amber when the window's service level (%) falls below this")                     \
  X(alert_service_level, WB_INT, "60", 0, 100, NULL, 0, "... and red below this")                  \
  X(log_level, WB_ENUM, "info", 0, 0, "error|warn|info|debug", 0, "Log level")

typedef struct wb_kv {
  char *name; /* without "kafka." */
  char *value;
} wb_kv_t;

/* The settings, typed (strings owned by the wb_config_t). */
typedef struct wb_config {
#define WB_X_FIELD_WB_STR(n) char *n;
#define WB_X_FIELD_WB_ENUM(n) char *n;
#define WB_X_FIELD_WB_INT(n) long n;
#define WB_X_FIELD(n, t, d, mn, mx, ch, fl, h) WB_X_FIELD_##t(n)
  WB_SETTINGS(WB_X_FIELD)
#undef WB_X_FIELD
  wb_kv_t *kafka; /* kafka.<prop>, in the order given */
  size_t kafka_count;
} wb_config_t;

typedef enum wb_action { WB_RUN = 0, WB_EXIT_OK } wb_action_t;

/*
 * Defaults, the config file, `envp` (NULL-ended "NAME=value"), argv.  0 and
 * *config (wb_config_destroy) and *action; or -1 with a one-line errstr
 * naming the setting.  --help / --help-markdown / --version print to `out`
 * (FILE *).
 */
int wb_config_load(int argc, char **argv, char **envp, void *out, wb_config_t **config, wb_action_t *action,
                   char *errstr, size_t errstr_size);
void wb_config_destroy(wb_config_t *config);

#endif
