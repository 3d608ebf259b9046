/*
 * test_config: the settings table and its three sources.
 *
 *   01 defaults, and the environment variables the issue names
 *   02 precedence: flag > environment > config file > default
 *   03 kafka.<prop> pass through from the file and the flags, in order
 *   04 bad or missing settings: one line naming the setting
 *   05 secrets: refused on the command line; read from a password file
 *   06 --help lists every setting with its default; --check-config
 *   07 ports, URLs and the CA file: out of range, malformed, not PEM
 *   08 kafka.<prop> from the environment (MTCTI3_KAFKA__...), secrets from files
 *   09 redis_url: ACL user and password, percent-escapes, IPv6, bad port and
 *      database, rediss://, the password from one place only, never on the
 *      command line, never in an error line
 *   10 [pbx <id>] sections: one PBX each, the top level's settings with the
 *      section's on top, <topic_prefix><id>. as prefix, the group derived;
 *      a global setting in a section, ipo_url at the top, twice the same id
 *      or prefix, a bad id: one line each
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "redis_client.h"

static char err[512];
static char outbuf[16384];

static int load(char **argv, char **envp, config_t **config, config_action_t *action) {
  int argc = 0;
  while (argv[argc])
    argc++;
  outbuf[0] = '\0';
  FILE *out = fmemopen(outbuf, sizeof(outbuf), "w");
  err[0] = '\0';
  int rc = config_load(argc, argv, envp, out, config, action, err, sizeof(err));
  fclose(out);
  return rc;
}

#define BASE_ENV "MTCTI3_IPO_URL=wss://pbx.example:8443/tapi", "MTCTI3_IPO_USER=svc", "MTCTI3_IPO_PASSWORD=pw", \
                 "MTCTI3_KAFKA_BOOTSTRAP=k1:9092"

/* A PEM certificate of the test data (tests/bridge/data/test-ca.pem). */
static const char *test_ca(void) {
  static char path[512];
  const char *dir = getenv("MTCTI3_TEST_DATA");
  snprintf(path, sizeof(path), "%s/data/test-ca.pem", dir ? dir : ".");
  return path;
}

static void s01_defaults_and_env(void) {
  char *argv[] = {"bridge", NULL};
  char ca[600];
  snprintf(ca, sizeof(ca), "MTCTI3_IPO_CA_FILE=%s", test_ca());
  char *envp[] = {BASE_ENV, ca, "MTCTI3_REDIS_URL=redis://127.0.0.1:6379/2",
                  "MTCTI3_PBX_ID=ipo-hq", "MTCTI3_TOPIC_PREFIX=acme.", "UNRELATED=1", NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), 0);
  CHECK_INT(a, CONFIG_RUN);
  CHECK_STR(c->ipo_url, "wss://pbx.example:8443/tapi");
  CHECK_STR(c->ipo_user, "svc");
  CHECK_STR(c->ipo_password, "pw");
  CHECK_STR(c->ipo_ca_file, test_ca());
  CHECK_STR(c->kafka_bootstrap, "k1:9092");
  CHECK_STR(c->redis_url, "redis://127.0.0.1:6379/2");
  CHECK_STR(c->pbx_id, "ipo-hq");
  CHECK_STR(c->topic_prefix, "acme.");
  CHECK_INT(c->tls_verify, 1);
  CHECK_INT(c->user_ccflags, 0x40fb);
  CHECK_INT(c->queue_ccflags, 0x441e3);
  CHECK_INT(c->parkserver_ccflags, 0x40a3);
  CHECK_INT(c->subscribe_window, 64);
  CHECK_INT(c->failback_min_ms, 60000);
  CHECK_STR(c->ipo_subprotocol, "openapi");
  CHECK_INT(c->kafka_count, 0);
  config_destroy(c);
}

static const char *write_file(const char *name, const char *text) {
  static char path[256];
  snprintf(path, sizeof(path), "/tmp/test_config_%d_%s", (int)getpid(), name);
  FILE *fp = fopen(path, "w");
  fputs(text, fp);
  fclose(fp);
  return path;
}

static void s02_precedence(void) {
  const char *file = write_file("a.conf", "# comment\n"
                                          "pbx_id = from-file\n"
                                          "topic_prefix = \"file.\"\n"
                                          "subscribe_window = 8\n"
                                          "tls_verify = no\n"
                                          "kafka.linger.ms = 50\n");
  char flag[300];
  snprintf(flag, sizeof(flag), "--config=%s", file);
  char *argv[] = {"bridge", flag, "--pbx_id=from-flag", "--subscribe-window", "16", NULL};
  char *envp[] = {BASE_ENV, "MTCTI3_PBX_ID=from-env", "MTCTI3_TOPIC_PREFIX=env.", NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), 0);
  CHECK_STR(c->pbx_id, "from-flag");
  CHECK_STR(c->topic_prefix, "env.");
  CHECK_INT(c->subscribe_window, 16);
  CHECK_INT(c->tls_verify, 0);
  CHECK_STR(c->config_file, file);
  config_destroy(c);
  unlink(file);
}

static void s03_kafka_passthrough(void) {
  const char *file = write_file("k.conf", "kafka.security.protocol = SASL_SSL\nkafka.sasl.mechanism=PLAIN\n");
  char *envp[] = {BASE_ENV, NULL};
  char flag[300];
  snprintf(flag, sizeof(flag), "--config=%s", file);
  char *argv[] = {"bridge", flag, "--kafka.linger.ms=20", "--kafka.client.id", "x-1", NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), 0);
  CHECK_INT(c->kafka_count, 4);
  if (c->kafka_count == 4) {
    CHECK_STR(c->kafka[0].name, "security.protocol");
    CHECK_STR(c->kafka[0].value, "SASL_SSL");
    CHECK_STR(c->kafka[1].name, "sasl.mechanism");
    CHECK_STR(c->kafka[1].value, "PLAIN");
    CHECK_STR(c->kafka[2].name, "linger.ms");
    CHECK_STR(c->kafka[2].value, "20");
    CHECK_STR(c->kafka[3].name, "client.id");
    CHECK_STR(c->kafka[3].value, "x-1");
  }
  config_destroy(c);
  unlink(file);
}

static void expect_error(char **argv, char **envp, const char *want) {
  config_t *c = (config_t *)1;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), -1);
  CHECK(c == NULL);
  CHECK_STR(err, want);
}

static void s04_errors(void) {
  char *none[] = {NULL};
  char *argv[] = {"bridge", NULL};
  expect_error(argv, none, "ipo_url: missing (set MTCTI3_IPO_URL, --ipo_url or ipo_url in the config file)");
  char *no_kafka[] = {"MTCTI3_IPO_URL=wss://a/", "MTCTI3_IPO_USER=u", "MTCTI3_IPO_PASSWORD=p", NULL};
  expect_error(argv, no_kafka,
               "kafka_bootstrap: missing (set MTCTI3_KAFKA_BOOTSTRAP, --kafka_bootstrap or kafka_bootstrap in the config file)");
  char *env[] = {BASE_ENV, NULL};
  char *a1[] = {"bridge", "--ping_interval=0", NULL};
  expect_error(a1, env, "ping_interval: 0 is out of range [1, 3600]");
  char *a2[] = {"bridge", "--tls_verify=maybe", NULL};
  expect_error(a2, env, "tls_verify: \"maybe\" is not a boolean (true/false)");
  char *a3[] = {"bridge", "--log_format=xml", NULL};
  expect_error(a3, env, "log_format: \"xml\" is not one of text|json");
  char *a4[] = {"bridge", "--no_such_thing=1", NULL};
  expect_error(a4, env, "no_such_thing: unknown setting (see --help)");
  char *a5[] = {"bridge", "--ipo_url=https://pbx/", NULL};
  expect_error(a5, env, "ipo_url: \"https://pbx/\" is not a ws:// or wss:// URL with a host");
  char *a6[] = {"bridge", "--ipo_ca_file=/nonexistent/ca.pem", NULL};
  expect_error(a6, env, "ipo_ca_file: cannot open \"/nonexistent/ca.pem\": No such file or directory");
  char *a7[] = {"bridge", "--redis_url=localhost:6379", NULL};
  expect_error(a7, env, "redis_url: \"localhost:6379\" is not redis://[user[:password]@]host[:port][/db]");
  char *a8[] = {"bridge", "stray", NULL};
  expect_error(a8, env, "stray: unexpected argument (flags are --name=value)");
  char *a9[] = {"bridge", "--pbx_id=a b", NULL};
  expect_error(a9, env, "pbx_id: \"a b\" may hold only A-Za-z0-9._-");
  const char *file = write_file("bad.conf", "pbx_id = x\nnot a setting line\n");
  char flag[300], want[400];
  snprintf(flag, sizeof(flag), "--config=%s", file);
  snprintf(want, sizeof(want), "config: %s:2: expected `name = value`", file);
  char *a10[] = {"bridge", flag, NULL};
  expect_error(a10, env, want);
  unlink(file);
  char *a11[] = {"bridge", "--reconnect_min_ms=5000", "--reconnect_max_ms=1000", NULL};
  expect_error(a11, env, "reconnect_max_ms: 1000 is less than reconnect_min_ms (5000)");
  char *a12[] = {"bridge", "--failback_min_ms=-1", NULL};
  expect_error(a12, env, "failback_min_ms: -1 is out of range [0, 86400000]");
}

static void s05_secrets(void) {
  char *env[] = {"MTCTI3_IPO_URL=wss://a/", "MTCTI3_IPO_USER=u", "MTCTI3_KAFKA_BOOTSTRAP=k:1", NULL};
  char *a1[] = {"bridge", "--ipo_password=hunter2", NULL};
  expect_error(a1, env,
               "ipo_password: not accepted on the command line (use MTCTI3_IPO_PASSWORD, "
               "MTCTI3_IPO_PASSWORD_FILE or the config file)");
  CHECK(strstr(err, "hunter2") == NULL);
  char *a4[] = {"bridge", "--kafka.sasl.password=hunter2", NULL};
  char *env_ok[] = {"MTCTI3_IPO_URL=wss://a/", "MTCTI3_IPO_USER=u", "MTCTI3_IPO_PASSWORD=p",
                    "MTCTI3_KAFKA_BOOTSTRAP=k:1", NULL};
  expect_error(a4, env_ok,
               "kafka.sasl.password: not accepted on the command line (use the config file, the environment or "
               "kafka.sasl.password_file)");
  const char *file = write_file("pw", "s3cret\nsecond line ignored\n");
  char flag[300];
  snprintf(flag, sizeof(flag), "--ipo_password_file=%s", file);
  char *a2[] = {"bridge", flag, NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(a2, env, &c, &a), 0);
  CHECK_STR(c->ipo_password, "s3cret");
  config_destroy(c);
  unlink(file);
  char *a3[] = {"bridge", NULL};
  expect_error(a3, env, "ipo_password: missing (set MTCTI3_IPO_PASSWORD or MTCTI3_IPO_PASSWORD_FILE)");
}

static void s06_help(void) {
  char *none[] = {NULL};
  char *argv[] = {"bridge", "--help", NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, none, &c, &a), 0);
  CHECK_INT(a, CONFIG_EXIT_OK);
  config_destroy(c);
  static const char *const names[] = {"ipo_url", "ipo_user", "ipo_password", "ipo_password_file",
                                      "ipo_ca_file", "tls_verify", "kafka_bootstrap", "redis_url",
                                      "pbx_id", "topic_prefix", "subscribe_window", "http_listen"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char flag[64];
    snprintf(flag, sizeof(flag), "--%s ", names[i]);
    CHECK(strstr(outbuf, flag) != NULL);
  }
  CHECK(strstr(outbuf, "env MTCTI3_IPO_PASSWORD_FILE, default: (empty)") != NULL);
  CHECK(strstr(outbuf, "env MTCTI3_TOPIC_PREFIX, default: mtcti3.") != NULL);
  CHECK(strstr(outbuf, "env MTCTI3_USER_CCFLAGS, default: 0x40fb") != NULL);
  char *env[] = {BASE_ENV, NULL};
  char *chk[] = {"bridge", "--check-config", NULL};
  CHECK_INT(load(chk, env, &c, &a), 0);
  CHECK_INT(a, CONFIG_CHECK); /* the caller checks librdkafka's view, then prints "configuration ok" */
  CHECK_STR(outbuf, "");
  config_destroy(c);
}

static void s07_ports_urls_ca(void) {
  char *env[] = {BASE_ENV, NULL};
  char *a1[] = {"bridge", "--http_listen=127.0.0.1:99999", NULL};
  expect_error(a1, env, "http_listen: \"127.0.0.1:99999\": port \"99999\" is not a number from 0 to 65535");
  char *a2[] = {"bridge", "--http_listen=127.0.0.1:http", NULL};
  expect_error(a2, env, "http_listen: \"127.0.0.1:http\": port \"http\" is not a number from 0 to 65535");
  char *a3[] = {"bridge", "--http_listen=127.0.0.1", NULL};
  expect_error(a3, env, "http_listen: \"127.0.0.1\" is not host:port");
  char *a4[] = {"bridge", "--http_listen=127.0.0.1:", NULL};
  expect_error(a4, env, "http_listen: \"127.0.0.1:\": port \"\" is not a number from 0 to 65535");
  char *a5[] = {"bridge", "--ipo_url=wss://pbx:8443/a,wss://pbx:70000/tapi", NULL};
  expect_error(a5, env, "ipo_url: \"wss://pbx:70000/tapi\": port \"70000\" is not a number from 1 to 65535");
  char *a6[] = {"bridge", "--ipo_url=wss://pbx:0/tapi", NULL};
  expect_error(a6, env, "ipo_url: \"wss://pbx:0/tapi\": port \"0\" is not a number from 1 to 65535");
  char *a7[] = {"bridge", "--ipo_url=wss://pbx:84x3", NULL};
  expect_error(a7, env, "ipo_url: \"wss://pbx:84x3\": port \"84x3\" is not a number from 1 to 65535");
  char *a8[] = {"bridge", "--ipo_url=wss://[::1:8443/tapi", NULL};
  expect_error(a8, env, "ipo_url: \"wss://[::1:8443/tapi\" has an unclosed [ in its host");
  const char *not_pem = write_file("ca.der", "this is no certificate\n");
  char flag[300], want[500];
  snprintf(flag, sizeof(flag), "--ipo_ca_file=%s", not_pem);
  snprintf(want, sizeof(want), "ipo_ca_file: \"%s\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)", not_pem);
  char *a9[] = {"bridge", flag, NULL};
  expect_error(a9, env, want);
  unlink(not_pem);
  /* what is fine: IPv6, no port, port 0 for http_listen, a real PEM file */
  char ca[600];
  snprintf(ca, sizeof(ca), "--ipo_ca_file=%s", test_ca());
  char *ok[] = {"bridge", "--ipo_url=wss://[::1]:8443/tapi, ws://pbx, wss://pbx:65535", "--http_listen=[::1]:0", ca,
                NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(ok, env, &c, &a), 0);
  if (c)
    CHECK_STR(c->http_listen, "[::1]:0");
  config_destroy(c);
}

static void s08_kafka_env_and_files(void) {
  char pw[256], keypw[256], file[256], empty[256]; /* write_file's path is one static buffer */
  snprintf(pw, sizeof(pw), "%s", write_file("sasl", "sasl-s3cret\nignored\n"));
  snprintf(keypw, sizeof(keypw), "%s", write_file("keypw", "key-s3cret\n"));
  snprintf(file, sizeof(file), "%s", write_file("k8.conf", "kafka.sasl.mechanism = PLAIN\nkafka.linger.ms = 1\n"));
  char conf[300], e1[300], e2[300];
  snprintf(conf, sizeof(conf), "--config=%s", file);
  snprintf(e1, sizeof(e1), "MTCTI3_KAFKA__SASL_PASSWORD_FILE=%s", pw);
  snprintf(e2, sizeof(e2), "MTCTI3_KAFKA__SSL_KEY_PASSWORD_FILE=%s", keypw);
  char *envp[] = {BASE_ENV, "MTCTI3_KAFKA__SASL_MECHANISM=SCRAM-SHA-512", e1, "MTCTI3_KAFKA__LOG__LEVEL=6",
                  "MTCTI3_KAFKA__SASL_PASSWORD=plain-loses", e2, "MTCTI3_KAFKA__X___Y=1", NULL};
  char *argv[] = {"bridge", conf, "--kafka.linger.ms=20", NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), 0);
  /* file, then the environment's values, then its files, then the flags: later wins in librdkafka */
  static const char *const want[][2] = {
      {"sasl.mechanism", "PLAIN"},         {"linger.ms", "1"},
      {"sasl.mechanism", "SCRAM-SHA-512"}, {"log_level", "6"},
      {"sasl.password", "plain-loses"},    {"x-y", "1"},
      {"sasl.password", "sasl-s3cret"},    {"ssl.key.password", "key-s3cret"},
      {"linger.ms", "20"},
  };
  size_t n = sizeof(want) / sizeof(want[0]);
  CHECK_INT(c ? c->kafka_count : 0, n);
  for (size_t i = 0; c && i < n && i < c->kafka_count; i++) {
    CHECK_STR(c->kafka[i].name, want[i][0]);
    CHECK_STR(c->kafka[i].value, want[i][1]);
  }
  config_destroy(c);

  /* the _file variant from the config file and the command line (a path is no secret) */
  char flag[300];
  snprintf(flag, sizeof(flag), "--kafka.sasl.password_file=%s", pw);
  char *base[] = {BASE_ENV, NULL};
  char *a2[] = {"bridge", flag, NULL};
  CHECK_INT(load(a2, base, &c, &a), 0);
  CHECK_INT(c ? c->kafka_count : 0, 1);
  if (c && c->kafka_count == 1) {
    CHECK_STR(c->kafka[0].name, "sasl.password");
    CHECK_STR(c->kafka[0].value, "sasl-s3cret");
  }
  config_destroy(c);

  /* errors: one line, naming the variable; never the secret */
  char *e3[] = {BASE_ENV, "MTCTI3_KAFKA__SASL_PASSWORD_FILE=/nonexistent/pw", NULL};
  char *plain[] = {"bridge", NULL};
  expect_error(plain, e3,
               "kafka.sasl.password_file: cannot open \"/nonexistent/pw\": No such file or directory "
               "(MTCTI3_KAFKA__SASL_PASSWORD_FILE)");
  snprintf(empty, sizeof(empty), "%s", write_file("empty", "\n"));
  char e4v[300];
  snprintf(e4v, sizeof(e4v), "MTCTI3_KAFKA__SSL_KEY_PASSWORD_FILE=%s", empty);
  char *e4[] = {BASE_ENV, e4v, NULL};
  char want4[500];
  snprintf(want4, sizeof(want4), "kafka.ssl.key.password_file: \"%s\" is empty (MTCTI3_KAFKA__SSL_KEY_PASSWORD_FILE)",
           empty);
  expect_error(plain, e4, want4);
  char *e5[] = {BASE_ENV, "MTCTI3_KAFKA__SSL_CA_LOCATION_FILE=/etc/ssl/ca.pem", NULL};
  expect_error(plain, e5,
               "kafka.ssl.ca.location_file: only secret properties (names holding password or secret) have a "
               "_file variant (MTCTI3_KAFKA__SSL_CA_LOCATION_FILE)");
  char *e6[] = {BASE_ENV, "MTCTI3_KAFKA__=1", NULL};
  expect_error(plain, e6, "MTCTI3_KAFKA__: no librdkafka property named");
  unlink(pw);
  unlink(keypw);
  unlink(file);
  unlink(empty);
}

static void s09_redis(void) {
  char *env[] = {BASE_ENV, NULL};
  config_t *c;
  config_action_t a;
  redis_client_url_t u;
  char e[256];
  /* the parser itself */
  CHECK_INT(redis_client_url_parse("redis://bridge:p%40ss%3Aw@redis.example:6380/3", "redis_url", &u, e,
                                   sizeof(e)), 0);
  CHECK_STR(u.user, "bridge");
  CHECK_STR(u.password, "p@ss:w");
  CHECK_STR(u.host, "redis.example");
  CHECK_INT(u.port, 6380);
  CHECK_INT(u.db, 3);
  redis_client_url_clear(&u);
  CHECK_STR(u.password, "");
  CHECK_INT(redis_client_url_parse("redis://:only-pw@10.0.0.1", "redis_url", &u, e, sizeof(e)), 0);
  CHECK_STR(u.user, "");
  CHECK_STR(u.password, "only-pw");
  CHECK_INT(u.port, 6379);
  CHECK_INT(u.db, 0);
  CHECK_INT(redis_client_url_parse("redis://acl-user@[::1]:7000/", "redis_url", &u, e, sizeof(e)), 0);
  CHECK_STR(u.user, "acl-user");
  CHECK_STR(u.password, "");
  CHECK_STR(u.host, "::1");
  CHECK_INT(u.port, 7000);
  static const char *const bad[][2] = {
      {"redis://h:99999", "redis_url: bad port \"99999\" (1 to 65535)"},
      {"redis://h:0/1", "redis_url: bad port \"0\" (1 to 65535)"},
      {"redis://h:6379x", "redis_url: bad port \"6379x\" (1 to 65535)"},
      {"redis://h/x", "redis_url: bad database \"x\" (a number, 0 or more)"},
      {"redis://h/-1", "redis_url: bad database \"-1\" (a number, 0 or more)"},
      {"redis://u:secret@/0", "redis_url: \"redis://u:***@/0\" is not redis://[user[:password]@]host[:port][/db]"},
      {"redis://u:se%zzcret@h", "redis_url: bad user or password in \"redis://u:***@h\" (%-escapes, at most 255 bytes)"},
      {"redis://h?db=1", "redis_url: \"redis://h?db=1\" is not redis://[user[:password]@]host[:port][/db]"},
      {"http://h", "redis_url: \"http://h\" is not redis://[user[:password]@]host[:port][/db]"},
      {"rediss://u:pw@h:6380", "redis_url: rediss:// (TLS) is not supported: this hiredis (0.14) has no TLS; put a "
                               "TLS tunnel (stunnel) on 127.0.0.1 and use redis:// to it (docs/bridge.md, \"Redis over "
                               "TLS\")"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    CHECK_INT(redis_client_url_parse(bad[i][0], "redis_url", &u, e, sizeof(e)), -1);
    CHECK_STR(e, bad[i][1]);
    CHECK(strstr(e, "secret") == NULL && strstr(e, "pw@") == NULL);
  }
  /* through the configuration: exit 2 lines */
  char *a1[] = {"bridge", "--redis_url=redis://127.0.0.1:70000", NULL};
  expect_error(a1, env, "redis_url: bad port \"70000\" (1 to 65535)");
  char *a2[] = {"bridge", "--redis_url=rediss://127.0.0.1", NULL};
  expect_error(a2, env, "redis_url: rediss:// (TLS) is not supported: this hiredis (0.14) has no TLS; put a TLS "
                        "tunnel (stunnel) on 127.0.0.1 and use redis:// to it (docs/bridge.md, \"Redis over TLS\")");
  char *a3[] = {"bridge", "--redis_url=redis://bridge:hunter2@127.0.0.1/1", NULL};
  expect_error(a3, env, "redis_url: a password in the URL is not accepted on the command line (use "
                        "MTCTI3_REDIS_PASSWORD, MTCTI3_REDIS_PASSWORD_FILE or the config file)");
  CHECK(strstr(err, "hunter2") == NULL);
  char *a4[] = {"bridge", "--redis_password=hunter2", NULL};
  expect_error(a4, env, "redis_password: not accepted on the command line (use MTCTI3_REDIS_PASSWORD, "
                        "MTCTI3_REDIS_PASSWORD_FILE or the config file)");
  char *env_pw[] = {BASE_ENV, "MTCTI3_REDIS_URL=redis://bridge:in-url@127.0.0.1", "MTCTI3_REDIS_PASSWORD=again",
                    NULL};
  char *a5[] = {"bridge", NULL};
  expect_error(a5, env_pw, "redis_password: the password is also in redis_url; give it once");
  char *env_nourl[] = {BASE_ENV, "MTCTI3_REDIS_PASSWORD=x", NULL};
  expect_error(a5, env_nourl, "redis_password: given without redis_url");
  /* an ACL user in the URL (from the environment), its password from a file */
  const char *file = write_file("redis-pw", "r3dis-pw\n");
  char env_file[300];
  snprintf(env_file, sizeof(env_file), "MTCTI3_REDIS_PASSWORD_FILE=%s", file);
  char *env_acl[] = {BASE_ENV, "MTCTI3_REDIS_URL=redis://bridge@127.0.0.1:6390/4", env_file, NULL};
  CHECK_INT(load(a5, env_acl, &c, &a), 0);
  if (c) {
    CHECK_STR(c->redis_url, "redis://bridge@127.0.0.1:6390/4");
    CHECK_STR(c->redis_password, "r3dis-pw");
    CHECK_INT(c->redis_timeout_ms, 2000);
    config_destroy(c);
  }
  unlink(file);
  char env_missing[] = "MTCTI3_REDIS_PASSWORD_FILE=/nonexistent/redis-pw";
  char *env_nofile[] = {BASE_ENV, "MTCTI3_REDIS_URL=redis://127.0.0.1", env_missing, NULL};
  expect_error(a5, env_nofile, "redis_password_file: cannot open \"/nonexistent/redis-pw\": No such file or directory");
}

static void s10_sections(void) {
  char *envp[] = {"MTCTI3_IPO_USER=svc", "MTCTI3_IPO_PASSWORD=pw", "MTCTI3_KAFKA_BOOTSTRAP=k1:9092", NULL};
  const char *pwfile = write_file("hq-pw", "hq-secret\n");
  char text[2048];
  snprintf(text, sizeof(text),
           "topic_prefix = acme.\n"
           "subscribe_window = 8\n"
           "standby_warm = false\n"
           "\n"
           "[pbx hq]\n"
           "ipo_url = wss://hq.example:8443/tapi\n"
           "ipo_password_file = %s\n"
           "subscribe_window = 32\n"
           "[ pbx branch-2 ]\n"
           "ipo_url = wss://b2.example/tapi,wss://b2b.example/tapi\n"
           "topic_prefix = b2.\n",
           pwfile);
  const char *file = write_file("s.conf", text);
  char flag[300];
  snprintf(flag, sizeof(flag), "--config=%s", file);
  char *argv[] = {"bridge", flag, NULL};
  config_t *c;
  config_action_t a;
  CHECK_INT(load(argv, envp, &c, &a), 0);
  if (c) {
    CHECK_INT(c->pbx_count, 2);
    CHECK_STR(c->group, "mtcti3-bridge");
    CHECK_INT(c->standby_warm, 0);
    if (c->pbx_count == 2) {
      CHECK_STR(c->pbx[0]->pbx_id, "hq");
      CHECK_STR(c->pbx[0]->ipo_url, "wss://hq.example:8443/tapi");
      CHECK_STR(c->pbx[0]->ipo_password, "hq-secret");
      CHECK_STR(c->pbx[0]->topic_prefix, "acme.hq.");
      CHECK_INT(c->pbx[0]->subscribe_window, 32);
      CHECK_STR(c->pbx[1]->pbx_id, "branch-2");
      CHECK_STR(c->pbx[1]->ipo_password, "pw");
      CHECK_STR(c->pbx[1]->topic_prefix, "b2.");
      CHECK_INT(c->pbx[1]->subscribe_window, 8);
      CHECK_STR(c->pbx[1]->group, "mtcti3-bridge");
    }
    config_destroy(c);
  }
  /* one PBX: the group is its own */
  char *one_env[] = {BASE_ENV, "MTCTI3_PBX_ID=ipo-7", NULL};
  char *one_argv[] = {"bridge", NULL};
  CHECK_INT(load(one_argv, one_env, &c, &a), 0);
  if (c) {
    CHECK_INT(c->pbx_count, 1);
    CHECK_STR(c->group, "mtcti3-bridge-ipo-7");
    CHECK_STR(c->pbx[0]->pbx_id, "ipo-7");
    config_destroy(c);
  }
  static const struct {
    const char *text, *want, *after; /* the line: want, then (if after) the file's path and after */
  } bad[] = {
      {"[pbx a]\nipo_url = wss://a/\nkafka_partitions = 6\n",
       "kafka_partitions: not a per-PBX setting: give it before any [pbx] section (", ":3)"},
      {"ipo_url = wss://top/\n[pbx a]\nipo_url = wss://a/\n",
       "ipo_url: the config file has [pbx] sections: give each PBX's ipo_url in its section, none at the top", NULL},
      {"[pbx a]\nipo_url = wss://a/\n[pbx a]\nipo_url = wss://b/\n", "config: ", ":3: [pbx a] twice (first at line 1)"},
      {"[pbx a]\nipo_url = wss://a/\ntopic_prefix = x.\n[pbx b]\nipo_url = wss://b/\ntopic_prefix = x.\n",
       "topic_prefix: [pbx a] and [pbx b] share \"x.\": each PBX has its own topics", NULL},
      {"[pbx a/b]\n", "config: ", ":1: pbx id \"a/b\" may hold only A-Za-z0-9._-"},
      {"[pbx]\n", "config: ", ":1: [pbx] needs an id: [pbx <id>]"},
      {"[queue a]\n", "config: ", ":1: unknown section [queue a] (only [pbx <id>])"},
      {"[pbx a]\nipo_url = wss://a/\nping_interval = 0\n", "ping_interval: 0 is out of range [1, 3600] (", ":3)"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    const char *path = write_file("bad.conf", bad[i].text);
    char want[600];
    snprintf(want, sizeof(want), "%s%s%s", bad[i].want, bad[i].after ? path : "", bad[i].after ? bad[i].after : "");
    snprintf(flag, sizeof(flag), "--config=%s", path);
    expect_error(argv, envp, want);
    unlink(path);
  }
  unlink(file);
  unlink(pwfile);
}

int main(void) {
  s01_defaults_and_env();
  s02_precedence();
  s03_kafka_passthrough();
  s04_errors();
  s05_secrets();
  s06_help();
  s07_ports_urls_ca();
  s08_kafka_env_and_files();
  s09_redis();
  s10_sections();
  return check_done();
}
