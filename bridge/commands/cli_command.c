/*
 * mtcti3 command: send one command to the bridge and wait for its result.
 *
 * DESIGN.  One subcommand of the mtcti3 tool (a row of cli_subcommands[] in
 * codec/cli/mtcti3.c), built only when librdkafka and hiredis are found, so
 * the codec stays free of both.  Steps, all on one thread:
 *   1. the command: JSON from the operand (or stdin for "-"), or built from
 *      --action/--user/--queue/--parkserver/--callid/--referencecallid/--arg, typed by the
 *      action table; validated by cmd_parse as the bridge would (exit 2);
 *   2. start listening where the result will appear, BEFORE producing: the
 *      results topic (or --reply-to), every partition assigned at its high
 *      watermark, read_committed, keeping messages whose key is the id; or,
 *      with --redis, the command's channel mtcti3:<pbx>:cmd:<id> (the URL
 *      read by the bridge's own parser, redis_client_url_parse; <pbx> from
 *      the command, --pbx or MTCTI3_PBX_ID);
 *   3. produce it to <prefix>commands (idempotent producer, murmur2_random as
 *      Java would partition, key = id) and wait for the delivery report;
 *   4. print the first final result: exit 0 succeeded, 1 other, 3 none in time.
 * Options are parsed by getopt_long from the option table (which also drives
 * --help).  Kafka properties pass through with -X (as kcat); nothing secret
 * is printed: only the result, which carries no arguments.  A Redis password
 * comes from MTCTI3_REDIS_PASSWORD or MTCTI3_REDIS_PASSWORD_FILE, never from
 * the command line.  A command-line tool: it blocks, as it should.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <hiredis.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "cmd_parse.h"
#include "cmd_store.h"
#include "redis_client.h"

#define CC_PROG "mtcti3 command"
#define CC_EXIT_TIMEOUT 3
#define CC_MAX_PAIRS 64

typedef struct cc_opts {
  const char *bootstrap;
  const char *prefix;
  const char *id;
  const char *action;
  const char *user;
  const char *queue;
  const char *parkserver;
  const char *callid;
  const char *referencecallid;
  const char *timeout_ms;
  const char *reply_to;
  const char *pbx;
  const char *redis;
  const char *wait_ms;
  const char *arg_help;  /* --arg and -X are repeatable: collected below, these fields stay unused */
  const char *x_help;
  /* collected */
  const char *args[CC_MAX_PAIRS];
  size_t n_args;
  const char *props[CC_MAX_PAIRS];
  size_t n_props;
  const char *operand;
} cc_opts_t;

#define CC_OPT(name, arg, field, help) \
  {name, CLI_OPT_STRING, arg, offsetof(cc_opts_t, field), help, NULL, 0}

const cli_option_t cli_command_options[] = {
  CC_OPT("bootstrap", "HOST:PORT", bootstrap,
         "Kafka bootstrap servers (default: $MTCTI3_KAFKA_BOOTSTRAP)"),
  CC_OPT("prefix", "PREFIX", prefix, "topic prefix (default: $MTCTI3_TOPIC_PREFIX or mtcti3.)"),
  CC_OPT("id", "ID", id, "command id (default: cli-<host>-<pid>-<time>)"),
  CC_OPT("action", "ACTION", action, "the action (docs/commands.md); builds the command from flags"),
  CC_OPT("user", "EXTN|GUID", user, "target user"),
  CC_OPT("queue", "NAME|EXTN|GUID", queue, "target queue"),
  CC_OPT("parkserver", "SLOT", parkserver, "target the park server: the call parked in SLOT"),
  CC_OPT("callid", "N", callid, "the call, by callid"),
  CC_OPT("referencecallid", "N", referencecallid, "the call, by referencecallid"),
  CC_OPT("arg", "NAME=VALUE", arg_help,
         "an argument, typed by the action table (repeatable; lists comma-separated)"),
  CC_OPT("timeout-ms", "MS", timeout_ms, "the command's timeout_ms"),
  CC_OPT("reply-to", "TOPIC", reply_to, "ask for the result on TOPIC (and wait there)"),
  CC_OPT("pbx", "PBX", pbx,
         "PBX id: put in the command; names the Redis channel (default: $MTCTI3_PBX_ID, else ipo)"),
  CC_OPT("redis", "URL", redis,
         "wait on the Redis channel instead of Kafka: redis://[user@]host[:port][/db]; password from "
         "$MTCTI3_REDIS_PASSWORD or $MTCTI3_REDIS_PASSWORD_FILE"),
  CC_OPT("wait-ms", "MS", wait_ms, "how long to wait for the result (default: timeout + 5000)"),
  {"X", CLI_OPT_STRING, "PROP=VALUE", offsetof(cc_opts_t, x_help),
   "(as -X) a librdkafka property, kcat style (repeatable; kafka. prefix optional)", NULL, 0},
  {NULL, 0, NULL, 0, NULL, NULL, 0}};

static int64_t cc_now_ms(void) {
  struct timeval tv;

  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static int cc_usage(const char *fmt, ...) {
  va_list ap;

  fprintf(stderr, "%s: ", CC_PROG);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'mtcti3 command --help'.\n");
  return CLI_EXIT_USAGE;
}

/*
 * The options, by getopt_long over the option table (the table's
 * one-letter rows are short options: -X).  0 to go on, 1 after --help, or
 * -1 after a usage line.
 */
static int cc_getopt(const cli_subcommand_t *sub, int argc, char **argv, cc_opts_t *opts) {
  struct option longopts[32];
  size_t n = 0;
  int c;
  for (const cli_option_t *o = cli_command_options; o->name && n + 2 < sizeof(longopts) / sizeof(longopts[0]); o++)
    if (strlen(o->name) > 1)
      longopts[n++] = (struct option){o->name, required_argument, NULL, 1000 + (int)(o - cli_command_options)};
  longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
  longopts[n] = (struct option){NULL, 0, NULL, 0};
  opterr = 0;
  optind = 1;
  while ((c = getopt_long(argc, argv, ":hX:", longopts, NULL)) != -1) {
    const cli_option_t *o = c >= 1000 ? &cli_command_options[c - 1000] : NULL;
    switch (c) {
    case 'h':
      cli_print_help(sub);
      return 1;
    case 'X':
      if (opts->n_props >= CC_MAX_PAIRS) {
        cc_usage("%s", "too many -X");
        return -1;
      }
      opts->props[opts->n_props++] = optarg;
      break;
    case ':':
      cc_usage("option needs a value '%s'", argv[optind - 1]);
      return -1;
    case '?':
      cc_usage("unknown option '%s'", argv[optind - 1]);
      return -1;
    default:
      if (o->offset == offsetof(cc_opts_t, arg_help)) {
        if (opts->n_args >= CC_MAX_PAIRS) {
          cc_usage("%s", "too many --arg");
          return -1;
        }
        opts->args[opts->n_args++] = optarg;
      } else {
        *(const char **)((char *)opts + o->offset) = optarg;
      }
      break;
    }
  }
  for (int i = optind; i < argc; i++) {
    if (!opts->operand && (strcmp(argv[i], "-") == 0 || argv[i][0] == '{')) {
      opts->operand = argv[i];
    } else {
      cc_usage("unexpected argument '%s'", argv[i]);
      return -1;
    }
  }
  return 0;
}

static int cc_parse_int(const char *s, long long lo, long long hi, long long *v) {
  char *end;

  errno = 0;
  *v = strtoll(s, &end, 10);
  return s[0] && !*end && errno == 0 && *v >= lo && *v <= hi;
}

/* One --arg NAME=VALUE as the JSON value the action's table wants. */
static json_t *cc_arg_value(const cmd_action_t *action, const char *name, const char *value) {
  const cmd_arg_t *arg = action ? cmd_action_arg(action, name) : NULL;
  json_t *list;
  char *copy, *tok, *save = NULL;
  long long v;

  if (!arg)
    return json_string(value); /* cmd_parse names the problem */
  switch (arg->type) {
  case CMD_ARG_INT:
    return cc_parse_int(value, INT64_MIN, INT64_MAX, &v) ? json_integer(v) : json_string(value);
  case CMD_ARG_BOOL:
    if (!strcmp(value, "true") || !strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "1"))
      return json_true();
    if (!strcmp(value, "false") || !strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "0"))
      return json_false();
    return json_string(value);
  case CMD_ARG_CALLIDS:
  case CMD_ARG_MEMBERS:
  case CMD_ARG_ENUMS:
    if (arg->type == CMD_ARG_CALLIDS && !strchr(value, ',') && cc_parse_int(value, 0, INT64_MAX, &v))
      return json_integer(v);
    list = json_array();
    copy = strdup(value);
    for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
      if (arg->type == CMD_ARG_CALLIDS && cc_parse_int(tok, 0, INT64_MAX, &v))
        json_array_append_new(list, json_integer(v));
      else
        json_array_append_new(list, json_string(tok));
    }
    free(copy);
    return list;
  case CMD_ARG_STRING:
  case CMD_ARG_ENUM:
    break;
  }
  return json_string(value);
}

/* The command JSON from the flags; NULL after a usage message. */
static json_t *cc_from_flags(const cc_opts_t *opts, const char *id) {
  const cmd_action_t *action = cmd_action_find(opts->action);
  json_t *cmd = json_pack("{ssss}", "id", id, "action", opts->action), *args = json_object();
  long long v;
  size_t i;

  if (!!opts->user + !!opts->queue + !!opts->parkserver > 1) {
    cc_usage("%s", "--user, --queue and --parkserver exclude each other");
    goto fail;
  }
  if (opts->user || opts->queue || opts->parkserver)
    json_object_set_new(cmd, "target",
                        json_pack("{ss}", opts->user ? "user" : opts->queue ? "queue" : "parkserver",
                                  opts->user ? opts->user : opts->queue ? opts->queue : opts->parkserver));
  if (opts->callid || opts->referencecallid) {
    const char *s = opts->callid ? opts->callid : opts->referencecallid;
    if (opts->callid && opts->referencecallid) {
      cc_usage("%s", "--callid and --referencecallid exclude each other");
      goto fail;
    }
    if (!cc_parse_int(s, 1, 2147483647LL, &v)) {
      cc_usage("not a call number: '%s'", s);
      goto fail;
    }
    json_object_set_new(cmd, "call", json_pack("{sI}", opts->callid ? "callid" : "referencecallid",
                                               (json_int_t)v));
  }
  for (i = 0; i < opts->n_args; i++) {
    const char *eq = strchr(opts->args[i], '=');
    char name[64];
    if (!eq || eq == opts->args[i] || (size_t)(eq - opts->args[i]) >= sizeof(name)) {
      cc_usage("--arg wants NAME=VALUE, not '%s'", opts->args[i]);
      goto fail;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - opts->args[i]), opts->args[i]);
    json_object_set_new(args, name, cc_arg_value(action, name, eq + 1));
  }
  if (json_object_size(args))
    json_object_set(cmd, "args", args);
  json_decref(args);
  return cmd;

fail:
  json_decref(args);
  json_decref(cmd);
  return NULL;
}

static char *cc_read_stdin(void) {
  size_t len = 0, cap = 0, n;
  char *buf = NULL, *grown;

  do {
    if (cap - len < 4096) {
      grown = cap > (1u << 24) ? NULL : realloc(buf, cap + 65536);
      if (!grown) {
        free(buf);
        return NULL;
      }
      buf = grown;
      cap += 65536;
    }
    n = fread(buf + len, 1, cap - len - 1, stdin);
    len += n;
  } while (n > 0);
  buf[len] = '\0';
  return buf;
}

/* ---- Kafka ---- */

/* The tool's defaults, then -X properties (which win). */
static rd_kafka_conf_t *cc_kafka_conf(const cc_opts_t *opts, rd_kafka_type_t type, char *errstr,
                                      size_t errstr_size) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  size_t i;

  if (rd_kafka_conf_set(conf, "bootstrap.servers", opts->bootstrap, errstr, errstr_size) !=
      RD_KAFKA_CONF_OK)
    goto fail;
  if (type == RD_KAFKA_PRODUCER && /* the partition Java's default partitioner picks for the id */
      (rd_kafka_conf_set(conf, "partitioner", "murmur2_random", errstr, errstr_size) != RD_KAFKA_CONF_OK ||
       rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != RD_KAFKA_CONF_OK))
    goto fail;
  if (type == RD_KAFKA_CONSUMER && /* never a result of an aborted or open transaction */
      rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, errstr_size) != RD_KAFKA_CONF_OK)
    goto fail;
  for (i = 0; i < opts->n_props; i++) {
    const char *p = opts->props[i], *eq;
    char name[256];
    if (strncmp(p, "kafka.", 6) == 0)
      p += 6;
    eq = strchr(p, '=');
    if (!eq || eq == p || (size_t)(eq - p) >= sizeof(name)) {
      snprintf(errstr, errstr_size, "-X wants PROPERTY=VALUE");
      goto fail;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - p), p);
    /* librdkafka's message names the property, never the value. */
    if (rd_kafka_conf_set(conf, name, eq + 1, errstr, errstr_size) != RD_KAFKA_CONF_OK)
      goto fail;
  }
  return conf;

fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

/*
 * High watermark of one partition.  A topic created moments ago may not have
 * a partition leader yet, so transient errors are retried for up to 10 s.
 */
static int cc_watermark_high(rd_kafka_t *rk, const char *topic, int32_t p, int64_t *hi,
                             char *errstr, size_t errstr_size) {
  int64_t lo, deadline = cc_now_ms() + 10000;
  rd_kafka_resp_err_t err;

  for (;;) {
    err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, hi, 2000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return 0;
    if (cc_now_ms() >= deadline)
      break;
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL); /* metadata refreshes meanwhile */
  }
  snprintf(errstr, errstr_size, "Kafka: no offsets for %.160s [%d]: %s", topic, (int)p,
           rd_kafka_err2str(err));
  return -1;
}

/* A consumer positioned at the current end of `topic`, before anything is produced. */
static rd_kafka_t *cc_consumer(const cc_opts_t *opts, const char *topic, char *errstr,
                               size_t errstr_size) {
  rd_kafka_conf_t *conf = cc_kafka_conf(opts, RD_KAFKA_CONSUMER, errstr, errstr_size);
  rd_kafka_topic_partition_list_t *parts = NULL;
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = NULL;
  rd_kafka_t *rk = NULL;
  char group[128], host[64] = "host";
  int64_t hi;
  int i, exists = 0;

  if (!conf)
    return NULL;
  gethostname(host, sizeof(host) - 1);
  snprintf(group, sizeof(group), "mtcti3-command-%.40s-%ld-%lld", host, (long)getpid(),
           (long long)cc_now_ms());
  if (rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "1000", errstr, errstr_size) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return NULL;
  }
  rd_kafka_poll_set_consumer(rk);
  rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(errstr, errstr_size, "Kafka %.160s: no metadata for %.160s", opts->bootstrap, topic);
    goto fail;
  }
  exists = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
           md->topics[0].partition_cnt > 0;
  if (exists) {
    /* Every partition from its high watermark: only results produced from now on. */
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (i = 0; i < md->topics[0].partition_cnt; i++) {
      int32_t p = md->topics[0].partitions[i].id;
      if (cc_watermark_high(rk, topic, p, &hi, errstr, errstr_size) < 0)
        goto fail;
      rd_kafka_topic_partition_list_add(parts, topic, p)->offset = hi;
    }
    if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      snprintf(errstr, errstr_size, "Kafka: cannot assign %.160s", topic);
      goto fail;
    }
  } else {
    /* Not created yet: everything it will hold is newer than us (keys filter the rest). */
    parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      snprintf(errstr, errstr_size, "Kafka: cannot subscribe to %.160s", topic);
      goto fail;
    }
  }
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return rk;

fail:
  if (parts)
    rd_kafka_topic_partition_list_destroy(parts);
  if (md)
    rd_kafka_metadata_destroy(md);
  if (rkt)
    rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return NULL;
}

static void cc_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  *(rd_kafka_resp_err_t *)m->_private = m->err;
}

static int cc_produce(const cc_opts_t *opts, const char *topic, const char *id, const char *value,
                      char *errstr, size_t errstr_size) {
  rd_kafka_conf_t *conf = cc_kafka_conf(opts, RD_KAFKA_PRODUCER, errstr, errstr_size);
  rd_kafka_resp_err_t dr = RD_KAFKA_RESP_ERR__IN_PROGRESS, err;
  rd_kafka_t *rk;
  int64_t deadline;

  if (!conf)
    return -1;
  rd_kafka_conf_set_dr_msg_cb(conf, cc_delivery);
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return -1;
  }
  err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(id, strlen(id)),
                          RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&dr),
                          RD_KAFKA_V_END);
  if (err) {
    snprintf(errstr, errstr_size, "Kafka: cannot produce to %.160s: %.160s", topic, rd_kafka_err2str(err));
    rd_kafka_destroy(rk);
    return -1;
  }
  deadline = cc_now_ms() + 30000;
  while (dr == RD_KAFKA_RESP_ERR__IN_PROGRESS && cc_now_ms() < deadline)
    rd_kafka_poll(rk, 100);
  rd_kafka_destroy(rk);
  if (dr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(errstr, errstr_size, "Kafka: %.160s not delivered to %.160s: %.160s", id, topic,
             dr == RD_KAFKA_RESP_ERR__IN_PROGRESS ? "no delivery report in 30 s" : rd_kafka_err2str(dr));
    return -1;
  }
  return 0;
}

/* The first final result keyed `id`: 1 and *out, 0 when the wait ended. */
static int cc_kafka_wait(rd_kafka_t *rk, const char *id, int64_t deadline, char **out) {
  size_t idlen = strlen(id);

  while (cc_now_ms() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    if (!m->err && m->key_len == idlen && memcmp(m->key, id, idlen) == 0 && m->payload) {
      json_t *json = json_loadb(m->payload, m->len, 0, NULL);
      const char *st = json_string_value(json_object_get(json, "status"));
      if (st && strcmp(st, "accepted") != 0) {
        /* the payload is not NUL-terminated (strndup would look for a NUL past it) */
        if ((*out = malloc(m->len + 1)) != NULL) {
          memcpy(*out, m->payload, m->len);
          (*out)[m->len] = '\0';
        }
        json_decref(json);
        rd_kafka_message_destroy(m);
        return *out ? 1 : 0;
      }
      json_decref(json);
    }
    rd_kafka_message_destroy(m);
  }
  return 0;
}

/* ---- Redis: the command's channel ---- */

/* MTCTI3_REDIS_PASSWORD, else the first line of MTCTI3_REDIS_PASSWORD_FILE, into pw; -1 with errstr. */
static int cc_redis_password(char *pw, size_t size, char *errstr, size_t errstr_size) {
  const char *env = getenv("MTCTI3_REDIS_PASSWORD"), *file = getenv("MTCTI3_REDIS_PASSWORD_FILE");
  pw[0] = '\0';
  if (env && env[0]) {
    snprintf(pw, size, "%s", env);
    return 0;
  }
  if (!file || !file[0])
    return 0;
  FILE *fp = fopen(file, "r");
  if (!fp) {
    snprintf(errstr, errstr_size, "MTCTI3_REDIS_PASSWORD_FILE: cannot open \"%s\": %s", file, strerror(errno));
    return -1;
  }
  if (!fgets(pw, (int)size, fp))
    pw[0] = '\0';
  fclose(fp);
  pw[strcspn(pw, "\r\n")] = '\0';
  return 0;
}

/* One command on the synchronous context; 0, or -1 with errstr (the server's words, never the arguments). */
static int cc_redis_call(redisContext *c, const char *addr, const char *what, int argc, const char **argv,
                         char *errstr, size_t errstr_size) {
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  int rc = 0;
  if (!r || r->type == REDIS_REPLY_ERROR) {
    snprintf(errstr, errstr_size, "redis %s: %s %s: %s", addr, what, r ? "refused" : "failed",
             r ? r->str : c->errstr);
    rc = -1;
  }
  freeReplyObject(r);
  return rc;
}

/* Connect to `url` (AUTH, SELECT) and SUBSCRIBE `channel`, before the command is produced. */
static redisContext *cc_redis_subscribe(const char *url_text, const char *channel, char *errstr, size_t errstr_size) {
  redis_client_url_t url;
  char addr[300], pw[256], db[16];
  redisContext *c = NULL;
  if (redis_client_url_parse(url_text, "--redis", &url, errstr, errstr_size) != 0)
    return NULL;
  if (url.password[0]) {
    snprintf(errstr, errstr_size, "--redis: a password in the URL is not accepted on the command line (use "
                                  "MTCTI3_REDIS_PASSWORD or MTCTI3_REDIS_PASSWORD_FILE)");
    goto fail;
  }
  if (cc_redis_password(pw, sizeof(pw), errstr, errstr_size) != 0)
    goto fail;
  snprintf(url.password, sizeof(url.password), "%s", pw);
  memset(pw, 0, sizeof(pw));
  snprintf(addr, sizeof(addr), strchr(url.host, ':') ? "[%s]:%d" : "%s:%d", url.host, url.port);
  struct timeval tv = {2, 0};
  c = redisConnectWithTimeout(url.host, url.port, tv);
  if (!c || c->err) {
    snprintf(errstr, errstr_size, "redis %s: %s", addr, c ? c->errstr : "out of memory");
    goto fail;
  }
  redisSetTimeout(c, tv);
  if (url.password[0] || url.user[0]) {
    const char *auth[3] = {"AUTH", url.user[0] ? url.user : url.password, url.password};
    if (cc_redis_call(c, addr, "AUTH", url.user[0] ? 3 : 2, auth, errstr, errstr_size) != 0)
      goto fail;
  }
  snprintf(db, sizeof(db), "%d", url.db);
  const char *select[2] = {"SELECT", db}, *subscribe[2] = {"SUBSCRIBE", channel};
  if ((url.db && cc_redis_call(c, addr, "SELECT", 2, select, errstr, errstr_size) != 0) ||
      cc_redis_call(c, addr, "SUBSCRIBE", 2, subscribe, errstr, errstr_size) != 0)
    goto fail;
  redis_client_url_clear(&url);
  return c;
fail:
  redis_client_url_clear(&url);
  if (c)
    redisFree(c);
  return NULL;
}

/* The first final result on the channel: 1 and *out, 0 when the wait ended, -1 with errstr. */
static int cc_redis_wait(redisContext *c, int64_t deadline, char **out, char *errstr, size_t errstr_size) {
  for (;;) {
    redisReply *r = NULL;
    if (redisGetReplyFromReader(c, (void **)&r) != REDIS_OK) {
      snprintf(errstr, errstr_size, "redis: %s", c->errstr);
      return -1;
    }
    if (r) {
      int final = 0;
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[2]->type == REDIS_REPLY_STRING &&
          strcmp(r->element[0]->str, "message") == 0) {
        json_t *json = json_loadb(r->element[2]->str, r->element[2]->len, 0, NULL);
        const char *st = json_string_value(json_object_get(json, "status"));
        final = st && strcmp(st, "accepted") != 0;
        json_decref(json);
        if (final)
          *out = strndup(r->element[2]->str, r->element[2]->len);
      }
      freeReplyObject(r);
      if (final)
        return *out ? 1 : -1;
      continue;
    }
    int64_t left = deadline - cc_now_ms();
    if (left <= 0)
      return 0;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, (int)left) > 0 && redisBufferRead(c) != REDIS_OK) {
      snprintf(errstr, errstr_size, "redis: %s", c->errstr);
      return -1;
    }
  }
}

int cli_command_run(const cli_subcommand_t *sub, int argc, char **argv);

int cli_command_run(const cli_subcommand_t *sub, int argc, char **argv) {
  cc_opts_t opts;
  char errstr[600], idbuf[CMD_ID_MAX + 1], host[48] = "host", topic[512], results[512], channel[400];
  char *input = NULL, *text = NULL, *result = NULL;
  json_t *cmd_json = NULL, *res;
  cmd_parse_config_t pconf;
  cmd_refusal_t refusal;
  cmd_t *cmd = NULL;
  rd_kafka_t *consumer = NULL;
  redisContext *watch = NULL;
  long long timeout = 10000, wait = -1;
  int rc = CLI_EXIT_USAGE, got;
  const char *status, *pbx;

  memset(&opts, 0, sizeof(opts));
  opts.bootstrap = getenv("MTCTI3_KAFKA_BOOTSTRAP");
  opts.prefix = getenv("MTCTI3_TOPIC_PREFIX") ? getenv("MTCTI3_TOPIC_PREFIX") : "mtcti3.";
  opts.pbx = getenv("MTCTI3_PBX_ID") && getenv("MTCTI3_PBX_ID")[0] ? getenv("MTCTI3_PBX_ID") : NULL;
  got = cc_getopt(sub, argc, argv, &opts);
  if (got != 0) {
    rc = got > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    goto done;
  }
  if (opts.operand && opts.action) {
    rc = cc_usage("%s", "give the command as JSON or with --action, not both");
    goto done;
  }
  if (!opts.operand && !opts.action) {
    rc = cc_usage("%s", "no command: give JSON ('-' reads stdin) or --action");
    goto done;
  }
  if (!opts.bootstrap || !opts.bootstrap[0]) {
    rc = cc_usage("%s", "--bootstrap (or MTCTI3_KAFKA_BOOTSTRAP) is required");
    goto done;
  }
  /* 1. the command */
  if (opts.operand) {
    input = strcmp(opts.operand, "-") == 0 ? cc_read_stdin() : strdup(opts.operand);
    cmd_json = input ? json_loads(input, 0, NULL) : NULL;
    if (!cmd_json || !json_is_object(cmd_json)) {
      rc = cc_usage("%s", "the command is not one JSON object");
      goto done;
    }
  } else {
    if (!opts.id) {
      gethostname(host, sizeof(host) - 1);
      for (char *p = host; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-", *p))
          *p = '-';
      snprintf(idbuf, sizeof(idbuf), "cli-%s-%ld-%lld", host, (long)getpid(), (long long)cc_now_ms());
    }
    cmd_json = cc_from_flags(&opts, opts.id ? opts.id : idbuf);
    if (!cmd_json)
      goto done;
    if (opts.timeout_ms)
      json_object_set_new(cmd_json, "timeout_ms",
                          cc_parse_int(opts.timeout_ms, 0, INT32_MAX, &timeout) ? json_integer(timeout)
                                                                               : json_string(opts.timeout_ms));
    if (opts.reply_to)
      json_object_set_new(cmd_json, "reply_to", json_string(opts.reply_to));
    if (opts.pbx)
      json_object_set_new(cmd_json, "pbx", json_string(opts.pbx));
  }
  text = json_dumps(cmd_json, JSON_COMPACT | JSON_PRESERVE_ORDER);
  cmd_parse_config_init(&pconf);
  if (!text || cmd_parse(&pconf, text, strlen(text), &cmd, &refusal) < 0) {
    fprintf(stderr, "%s: refused before sending: %s\n", CC_PROG, text ? refusal.reason : "out of memory");
    rc = CLI_EXIT_USAGE;
    goto done;
  }
  timeout = cmd_timeout_ms(cmd);
  if (opts.wait_ms && !cc_parse_int(opts.wait_ms, 1, 3600000, &wait)) {
    rc = cc_usage("--wait-ms wants milliseconds, not '%s'", opts.wait_ms);
    goto done;
  }
  if (wait < 0)
    wait = timeout + 5000;
  snprintf(topic, sizeof(topic), "%scommands", opts.prefix);
  snprintf(results, sizeof(results), "%s",
           cmd_reply_to(cmd) ? cmd_reply_to(cmd) : "");
  if (!results[0])
    snprintf(results, sizeof(results), "%scommand-results", opts.prefix);

  /* 2. listen before producing */
  rc = CLI_EXIT_FAILED;
  if (opts.redis) {
    /* the channel of the PBX that runs it: the command's own pbx, else --pbx / MTCTI3_PBX_ID */
    pbx = json_string_value(json_object_get(cmd_json, "pbx"));
    if (!pbx)
      pbx = opts.pbx ? opts.pbx : "ipo";
    cmd_store_key(pbx, "cmd", cmd_id(cmd), channel, sizeof(channel));
    watch = cc_redis_subscribe(opts.redis, channel, errstr, sizeof(errstr));
    if (!watch) {
      fprintf(stderr, "%s: %s\n", CC_PROG, errstr);
      rc = strncmp(errstr, "--redis", 7) == 0 ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
      goto done;
    }
  } else {
    consumer = cc_consumer(&opts, results, errstr, sizeof(errstr));
    if (!consumer) {
      fprintf(stderr, "%s: %s\n", CC_PROG, errstr);
      goto done;
    }
  }
  /* 3. produce */
  if (cc_produce(&opts, topic, cmd_id(cmd), text, errstr, sizeof(errstr)) < 0) {
    fprintf(stderr, "%s: %s\n", CC_PROG, errstr);
    goto done;
  }
  /* 4. wait and print */
  if (watch)
    got = cc_redis_wait(watch, cc_now_ms() + wait, &result, errstr, sizeof(errstr));
  else
    got = cc_kafka_wait(consumer, cmd_id(cmd), cc_now_ms() + wait, &result);
  if (got < 0) {
    fprintf(stderr, "%s: %s\n", CC_PROG, errstr);
    goto done;
  }
  if (got == 0) {
    fprintf(stderr, "%s: no result for %s in %lld ms\n", CC_PROG, cmd_id(cmd), wait);
    rc = CC_EXIT_TIMEOUT;
    goto done;
  }
  printf("%s\n", result);
  res = json_loads(result, 0, NULL);
  status = json_string_value(json_object_get(res, "status"));
  rc = status && strcmp(status, "succeeded") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
  json_decref(res);

done:
  if (consumer) {
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
  }
  if (watch)
    redisFree(watch);
  cmd_free(cmd);
  json_decref(cmd_json);
  free(text);
  free(input);
  free(result);
  return rc;
}
