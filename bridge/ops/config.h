/*
 * config: every setting of the bridge, in one table.
 *
 * DESIGN.  CONFIG_SETTINGS below is the only list of settings.  It drives the
 * config file parser, the environment (MTCTI3_<NAME in upper case>), the
 * command-line flags (--<name>=<value>), --help, the markdown reference in
 * docs/bridge.md (--help-markdown prints it) and validation.  Precedence:
 * default < config file < environment < flag.  Settings named kafka.<prop>
 * are not in the table: they go straight to rd_kafka_conf_set, from the
 * file, the flags or the environment (MTCTI3_KAFKA__<PROP>, see config.c);
 * a secret one (name holding password or secret) also as kafka.<prop>_file.
 * Secrets (flag SECRET) are refused on the command line and never printed.
 * Runs once at start, before any connection; pure apart from reading the
 * files (the config file, secret files, the CA file's certificates).
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

typedef enum config_type {
  CONFIG_STR,  /* any string */
  CONFIG_INT,  /* decimal or 0x hex, within [min, max] */
  CONFIG_BOOL, /* true/false, yes/no, on/off, 1/0 */
  CONFIG_ENUM  /* one of the '|'-separated choices in `choices` */
} config_type_t;

#define CONFIG_REQUIRED 0x1 /* must end up non-empty */
#define CONFIG_SECRET 0x2   /* never from the command line, never printed */
#define CONFIG_NOENV 0x4    /* no environment variable */
#define CONFIG_PBX 0x8      /* may differ per PBX: settable in a [pbx <id>] section */
#define CONFIG_RELOAD 0x10  /* a running bridge takes a new value on SIGHUP (the others at the next start) */

/*
 * X(name, type, field, default, min, max, choices, flags, help).  `field` is
 * the member of config_t that receives the value (char * for STR and ENUM,
 * long for INT, int for BOOL).
 */
#define CONFIG_SETTINGS(X)                                                                       \
  X(config, CONFIG_STR, config_file, "", 0, 0, NULL, 0,                                          \
    "Config file: one `name = value` per line, # starts a comment")                              \
  X(ipo_url, CONFIG_STR, ipo_url, "", 0, 0, NULL, CONFIG_REQUIRED | CONFIG_PBX,                               \
    "IP Office websocket URLs, comma-separated, tried in turn (wss://host:port/path)")           \
  X(ipo_secondary_url, CONFIG_STR, ipo_secondary_url, "", 0, 0, NULL, CONFIG_PBX,                      \
    "Secondary IP Office of a resilient pair (one URL): watched live-live beside ipo_url, then the "   \
    "primary's one URL; empty: no pair")                                                         \
  X(ipo_user, CONFIG_STR, ipo_user, "", 0, 0, NULL, CONFIG_REQUIRED | CONFIG_PBX,                             \
    "Service user name for HTTP Basic auth")                                                     \
  X(ipo_password, CONFIG_STR, ipo_password, "", 0, 0, NULL, CONFIG_SECRET | CONFIG_PBX,                       \
    "Service user password (environment or config file only)")                                   \
  X(ipo_password_file, CONFIG_STR, ipo_password_file, "", 0, 0, NULL, CONFIG_PBX,                         \
    "File holding the service user password (first line)")                                       \
  X(ipo_ca_file, CONFIG_STR, ipo_ca_file, "", 0, 0, NULL, CONFIG_PBX,                                     \
    "CA certificate file (PEM) for the IP Office; empty: the system store")                      \
  X(tls_verify, CONFIG_BOOL, tls_verify, "true", 0, 0, NULL, CONFIG_PBX,                                  \
    "Verify the IP Office certificate; false logs a warning at every connect")                   \
  X(ipo_subprotocol, CONFIG_ENUM, ipo_subprotocol, "openapi", 0, 0, "openapi|openapinoframing", CONFIG_PBX, \
    "Websocket subprotocol")                                                                     \
  X(ping_interval, CONFIG_INT, ping_interval, "20", 1, 3600, NULL, CONFIG_PBX,                            \
    "Seconds of silence before a websocket ping")                                                \
  X(ping_timeout, CONFIG_INT, ping_timeout, "60", 2, 7200, NULL, CONFIG_PBX,                              \
    "Seconds of silence (no pong either) before the link is dropped")                             \
  X(reconnect_min_ms, CONFIG_INT, reconnect_min_ms, "500", 10, 600000, NULL, CONFIG_PBX,                  \
    "First reconnect delay; doubles at each failure, with jitter")                               \
  X(reconnect_max_ms, CONFIG_INT, reconnect_max_ms, "30000", 10, 3600000, NULL, CONFIG_PBX,               \
    "Longest reconnect delay")                                                                   \
  X(group, CONFIG_STR, group, "", 0, 0, NULL, 0,                                                 \
    "Kafka consumer group of the instances that serve these PBXs (Kafka's assignment decides which owns which); empty: mtcti3-bridge-<pbx_id> for one PBX, mtcti3-bridge with [pbx] sections") \
  X(standby_warm, CONFIG_BOOL, standby_warm, "true", 0, 0, NULL, 0,                              \
    "Keep a connection and subscriptions to the PBXs this instance does not own, so a takeover is a diff from a warm state") \
  X(failback_min_ms, CONFIG_INT, failback_min_ms, "60000", 0, 86400000, NULL, CONFIG_PBX,        \
    "Time on a fallback URL of ipo_url before checking, with backoff, that the first is back "   \
    "(then failing back to it); 0: never fail back")                                             \
  X(pbx_id, CONFIG_STR, pbx_id, "ipo", 0, 0, NULL, 0,                                            \
    "Name of this PBX in events (source.pbx, ce_source, ce_id, Redis keys)")                     \
  X(topic_prefix, CONFIG_STR, topic_prefix, "mtcti3.", 0, 0, NULL, CONFIG_PBX,                            \
    "Prefix of every topic (calls, presence, queues, lines, bridge)")                            \
  X(kafka_bootstrap, CONFIG_STR, kafka_bootstrap, "", 0, 0, NULL, CONFIG_REQUIRED,               \
    "Kafka bootstrap servers, or `embedded` for an in-process mock cluster (demo only)")         \
  X(kafka_partitions, CONFIG_INT, kafka_partitions, "3", 1, 10000, NULL, 0,                      \
    "Partitions of the topics the bridge creates")                                               \
  X(kafka_replication, CONFIG_INT, kafka_replication, "-1", -1, 32, NULL, 0,                     \
    "Replication factor of the topics the bridge creates (-1: broker default)")                  \
  X(kafka_create_topics, CONFIG_BOOL, kafka_create_topics, "true", 0, 0, NULL, 0,                \
    "Create the topics at start (presence, queues, lines compacted)")                            \
  X(kafka_transactions, CONFIG_BOOL, kafka_transactions, "true", 0, 0, NULL, 0,                  \
    "Publish each batch of events in one Kafka transaction (transactional.id mtcti3-bridge-<pbx_id>): a newer instance fences an older one") \
  X(event_lean, CONFIG_ENUM, event_lean, "off", 0, 0, "off|before|names|all", 0,                 \
    "Leave parts of the event envelope out: before (an update's before is null: Flink's debezium-json rejects such updates), names (no featuresavailable_names), all (both); off: the full envelope") \
  X(redis_url, CONFIG_STR, redis_url, "", 0, 0, NULL, 0,                                         \
    "Redis for the command store: redis://[user[:password]@]host[:port][/db] (no rediss://); empty: commands off") \
  X(redis_password, CONFIG_STR, redis_password, "", 0, 0, NULL, CONFIG_SECRET,                   \
    "Redis password (AUTH), instead of one in redis_url (environment or config file only)")     \
  X(redis_password_file, CONFIG_STR, redis_password_file, "", 0, 0, NULL, 0,                     \
    "File holding the Redis password (first line)")                                              \
  X(redis_timeout_ms, CONFIG_INT, redis_timeout_ms, "2000", 100, 60000, NULL, 0,                 \
    "A Redis connect or reply slower than this counts as a lost connection (then reconnect)")    \
  X(state_from_topics, CONFIG_BOOL, state_from_topics, "true", 0, 0, NULL, 0,                    \
    "Restore the state at start by reading back the compacted topics (lines, presence, queues, live-calls)") \
  X(user_flags, CONFIG_INT, user_flags, "0xf", 0, 0x7fffffff, NULL, CONFIG_PBX,                           \
    "SubscribeUser.flags (MAILBOX FWD APP ABSENCE)")                                             \
  X(user_ccflags, CONFIG_INT, user_ccflags, "0x40fb", 0, 0x7fffffff, NULL, CONFIG_PBX, \
    "SubscribeUser.ccflags (PRIMARY DEVICES CONFERENCE DIALINFO TRUNK QUEUE CALLDATA UCID)")     \
  X(queue_flags, CONFIG_INT, queue_flags, "0x3", 0, 0x7fffffff, NULL, CONFIG_PBX, \
    "SubscribeQueue.flags (MAILBOX MEMBERS)")                                                    \
  X(queue_ccflags, CONFIG_INT, queue_ccflags, "0x441e3", 0, 0x7fffffff, NULL, CONFIG_PBX, \
    "SubscribeQueue.ccflags (PRIMARY DEVICES TRUNK QUEUE CALLDATA CONFMEMBERS UCID TARGETS)")    \
  X(presence_flags, CONFIG_INT, presence_flags, "0x3", 0, 0x7fffffff, NULL, CONFIG_PBX, \
    "SubscribePresence.flags (VMCOUNT NOAPPHANDLER)")                                            \
  X(presence_entities, CONFIG_STR, presence_entities, "", 0, 0, NULL, CONFIG_PBX, \
    "Presence-only entities to watch besides the users (comma-separated presentities: SIP URIs, e-mail addresses, ...)") \
  X(parkserver, CONFIG_BOOL, parkserver, "true", 0, 0, NULL, CONFIG_PBX, \
    "Subscribe to the park server when the PBX offers it")                                       \
  X(parkserver_ccflags, CONFIG_INT, parkserver_ccflags, "0x40a3", 0, 0x7fffffff, NULL, CONFIG_PBX, \
    "SubscribeParkServer.ccflags (PRIMARY DEVICES TRUNK CALLDATA UCID)")                         \
  X(subscribe_timeout, CONFIG_INT, subscribe_timeout, "3600", 60, 86400, NULL, CONFIG_PBX, \
    "Subscription timeout in seconds; refreshed at 80% of it")                                   \
  X(subscribe_window, CONFIG_INT, subscribe_window, "64", 1, 100000, NULL, CONFIG_PBX,                    \
    "Subscribe requests in flight at most (paces thousands of subscribes)")                      \
  X(request_timeout_ms, CONFIG_INT, request_timeout_ms, "10000", 100, 600000, NULL, CONFIG_PBX,           \
    "A subscribe with no RequestResponse by then is retried")                                    \
  X(resync_grace_ms, CONFIG_INT, resync_grace_ms, "2000", 0, 600000, NULL, CONFIG_PBX,                    \
    "After a (re)subscription, calls not reported again within this time are deleted")           \
  X(commands, CONFIG_BOOL, commands, "true", 0, 0, NULL, 0,                                      \
    "Consume <prefix>commands and run them on the PBX (needs redis_url)")                      \
  X(commands_policy_file, CONFIG_STR, commands_policy_file, "", 0, 0, NULL, CONFIG_PBX | CONFIG_RELOAD, \
    "Policy file of allow-lists (actions, users, queues); empty: everything allowed")            \
  X(commands_default_timeout_ms, CONFIG_INT, commands_default_timeout_ms, "10000", 100, 3600000, \
    NULL, 0, "Deadline of a command that names no timeout_ms")                                   \
  X(commands_max_timeout_ms, CONFIG_INT, commands_max_timeout_ms, "300000", 100, 3600000, NULL, 0, \
    "Largest timeout_ms a command may ask for")                                                  \
  X(commands_result_ttl_ms, CONFIG_INT, commands_result_ttl_ms, "86400000", 1000, 2592000000L,   \
    NULL, 0, "How long a command's outcome stays in Redis (mtcti3:<pbx>:cmd:<id>)")             \
  X(commands_idempotency_ttl_ms, CONFIG_INT, commands_idempotency_ttl_ms, "86400000", 1000,      \
    2592000000L, NULL, 0, "How long a command id is remembered: a repeat within it is a duplicate") \
  X(commands_max_bytes, CONFIG_INT, commands_max_bytes, "65536", 256, 1048576, NULL, 0,          \
    "Largest command message accepted (larger ones are rejected, too_big)")                     \
  X(queue_stats, CONFIG_BOOL, queue_stats, "true", 0, 0, NULL, 0,                               \
    "Publish per-queue statistics on <prefix>queue-stats (docs/wallboard.md)")                  \
  X(queue_stats_service_level, CONFIG_INT, queue_stats_service_level, "20", 1, 3600, NULL, 0,    \
    "Queue statistics: a call answered within this many seconds of its offer is in service level") \
  X(queue_stats_window, CONFIG_INT, queue_stats_window, "900", 10, 86400, NULL, 0,               \
    "Queue statistics: the sliding window, in seconds")                                         \
  X(queue_stats_timezone, CONFIG_STR, queue_stats_timezone, "UTC", 0, 0, NULL, 0,                \
    "Queue statistics: the time zone whose midnight starts `today` (UTC or a zoneinfo name)")   \
  X(http_listen, CONFIG_STR, http_listen, "127.0.0.1:9464", 0, 0, NULL, 0,                       \
    "Address of /metrics, /healthz, /readyz (host:port; port 0 picks one; empty disables)")     \
  X(ready_file, CONFIG_STR, ready_file, "", 0, 0, NULL, 0,                                       \
    "Write a JSON file with the HTTP port and Kafka bootstrap once running")                    \
  X(log_level, CONFIG_ENUM, log_level, "info", 0, 0, "error|warn|info|debug", CONFIG_RELOAD, "Log level") \
  X(log_format, CONFIG_ENUM, log_format, "text", 0, 0, "text|json", CONFIG_RELOAD, "Log line format") \
  X(log_file, CONFIG_STR, log_file, "", 0, 0, NULL, CONFIG_RELOAD,                                \
    "File the log is appended to (reopened on SIGHUP, for log rotation); empty: stderr")         \
  X(debug, CONFIG_STR, debug, "", 0, 0, NULL, CONFIG_RELOAD,                                      \
    "Debug contexts, comma-separated: all,main,config,pbx,subs,snapshot,event,kafka,redis,http,cmd") \
  X(loop_stall_ms, CONFIG_INT, loop_stall_ms, "5000", 100, 3600000, NULL, CONFIG_RELOAD,         \
    "Log a line when the event loop did not turn for this long (a stopped process, a paused machine)")

typedef struct config_kv {
  char *name; /* without the "kafka." prefix */
  char *value;
} config_kv_t;

/* The settings, typed.  Strings are owned by the config_t. */
typedef struct config {
  char *config_file;
  char *ipo_url;
  char *ipo_secondary_url;
  char *ipo_user;
  char *ipo_password;
  char *ipo_password_file;
  char *ipo_ca_file;
  int tls_verify;
  char *ipo_subprotocol;
  long ping_interval;
  long ping_timeout;
  long reconnect_min_ms;
  long reconnect_max_ms;
  char *group;
  int standby_warm;
  long failback_min_ms;
  char *pbx_id;
  char *topic_prefix;
  char *kafka_bootstrap;
  long kafka_partitions;
  long kafka_replication;
  int kafka_create_topics;
  int kafka_transactions;
  char *event_lean;
  char *redis_url;
  char *redis_password;
  char *redis_password_file;
  long redis_timeout_ms;
  int state_from_topics;
  long user_flags;
  long user_ccflags;
  long queue_flags;
  long queue_ccflags;
  long presence_flags;
  char *presence_entities;
  int parkserver;
  long parkserver_ccflags;
  long subscribe_timeout;
  long subscribe_window;
  long request_timeout_ms;
  long resync_grace_ms;
  int commands;
  char *commands_policy_file;
  long commands_default_timeout_ms;
  long commands_max_timeout_ms;
  long commands_result_ttl_ms;
  long commands_idempotency_ttl_ms;
  long commands_max_bytes;
  int queue_stats;
  long queue_stats_service_level;
  long queue_stats_window;
  char *queue_stats_timezone;
  char *http_listen;
  char *ready_file;
  char *log_level;
  char *log_format;
  char *log_file;
  char *debug;
  long loop_stall_ms;
  /*
   * The PBXs this process serves, each a whole config_t (the top-level
   * settings with its section's on top; its pbx_id and topic_prefix its
   * own): one, the top level itself, when the file has no [pbx <id>]
   * section.  Owned by the top-level config_t.
   */
  struct config **pbx;
  size_t pbx_count;
  struct config_section *sections; /* the file's [pbx] sections, as read */
  size_t section_count;
  /* kafka.<prop> settings, in the order given (later ones win in librdkafka) */
  config_kv_t *kafka;
  size_t kafka_count;
} config_t;

typedef enum config_action {
  CONFIG_RUN = 0,   /* run the bridge */
  CONFIG_EXIT_OK,   /* --help, --version: done, exit 0 */
  CONFIG_CHECK,     /* --check-config: the settings are valid; the caller checks what needs its
                       libraries (librdkafka's properties), prints "configuration ok" and exits */
} config_action_t;

/*
 * Build the configuration from defaults, the config file, `envp` (NULL-ended
 * "NAME=value" strings, normally environ) and argv.  0 and *config (free with
 * config_destroy) and *action; or -1 with a one-line errstr naming the
 * setting ("ipo_url: missing (set MTCTI3_IPO_URL, --ipo_url or ipo_url in the
 * config file)").  --help and --help-markdown print to `out`.
 */
int config_load(int argc, char **argv, char **envp, void *out, config_t **config,
                config_action_t *action, char *errstr, size_t errstr_size);
void config_destroy(config_t *config);

/*
 * Each setting whose value differs between `a` and `b`, in table order
 * (the kafka.<prop> settings as one, "kafka.*"): cb with its name and
 * whether a running bridge takes it on SIGHUP (CONFIG_RELOAD).  Secrets
 * are compared, never handed out.
 */
void config_changes(const config_t *a, const config_t *b,
                    void (*cb)(void *opaque, const char *name, int reloadable), void *opaque);

/* Print the --help text (FILE *out). */
void config_print_help(void *out, const char *prog);
/* Print the settings as a markdown table (FILE *out). */
void config_print_markdown(void *out);

#endif
