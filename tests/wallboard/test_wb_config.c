/*
 * test_wb_config: the wallboard's settings: precedence, and one clear line
 * for every bad setting.
 */
#include "../check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_config.h"

static int load(char **argv, char **envp, wb_config_t **c, char *err) {
  int argc = 0;
  while (argv[argc])
    argc++;
  wb_action_t action;
  FILE *out = fopen("/dev/null", "w");
  int rc = wb_config_load(argc, argv, envp, out, c, &action, err, 256);
  fclose(out);
  return rc;
}

static void check_error(char **argv, char **envp, const char *want) {
  wb_config_t *c = NULL;
  char err[256] = "";
  CHECK_INT(load(argv, envp, &c, err), -1);
  CHECK(c == NULL);
  CHECK_STR(err, want);
}

int main(void) {
  char err[256];
  wb_config_t *c = NULL;
  char *env[] = {"MTCTI3_WALLBOARD_KAFKA_BOOTSTRAP=env:9092", "MTCTI3_WALLBOARD_STALE_SECONDS=30", NULL};
  char *argv[] = {"wb", "--stale-seconds=5", "--topics", "a.queue-stats,b.queue-stats", "--kafka.client.id=x", NULL};
  CHECK_INT(load(argv, env, &c, err), 0);
  CHECK_STR(c->kafka_bootstrap, "env:9092");
  CHECK_INT(c->stale_seconds, 5); /* the flag over the environment */
  CHECK_STR(c->topics, "a.queue-stats,b.queue-stats");
  CHECK_STR(c->listen, "127.0.0.1:8088");
  CHECK_INT(c->warn_service_level, 80);
  CHECK_INT(c->kafka_count, 1);
  CHECK_STR(c->kafka[0].name, "client.id");
  wb_config_destroy(c);

  char *none[] = {NULL};
  check_error((char *[]){"wb", NULL}, none,
              "kafka_bootstrap: missing (set MTCTI3_WALLBOARD_KAFKA_BOOTSTRAP, --kafka_bootstrap or "
              "kafka_bootstrap in the config file)");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--listen=nowhere", NULL}, none,
              "listen: \"nowhere\" is not host:port");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--listen=127.0.0.1:99999", NULL}, none,
              "listen: \"127.0.0.1:99999\" is not host:port");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--stale_seconds=abc", NULL}, none,
              "stale_seconds: \"abc\" is not an integer");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--stale_seconds=1", NULL}, none,
              "stale_seconds: 1 is out of range [2, 3600]");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--log_level=loud", NULL}, none,
              "log_level: \"loud\" is not one of error|warn|info|debug");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--colour=red", NULL}, none,
              "colour: unknown setting (see --help)");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--kafka.sasl.password=x", NULL}, none,
              "kafka.sasl.password: not accepted on the command line (use the config file)");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--topics= , ", NULL}, none,
              "topics: empty (a list of topics, or a regular expression starting with ^)");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--warn_wait_seconds=90", NULL}, none,
              "alert_wait_seconds: 60 is less than warn_wait_seconds (90)");
  check_error((char *[]){"wb", "--kafka_bootstrap=k", "--alert_service_level=90", NULL}, none,
              "alert_service_level: 90 exceeds warn_service_level (80)");
  check_error((char *[]){"wb", "stray", NULL}, none, "stray: unexpected argument (flags are --name=value)");
  check_error((char *[]){"wb", "--config=/nonexistent/wb.conf", NULL}, none,
              "config: cannot open \"/nonexistent/wb.conf\": No such file or directory");

  /* the config file, under the environment */
  char path[] = "/tmp/test_wb_config_XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fprintf(f, "# a wallboard\nkafka_bootstrap = file:9092\ntitle = \"Support floor\"\nstale_seconds = 20\n");
  fclose(f);
  char *argv2[] = {"wb", "--config", path, NULL};
  CHECK_INT(load(argv2, env, &c, err), 0);
  CHECK_STR(c->kafka_bootstrap, "env:9092");
  CHECK_STR(c->title, "Support floor");
  CHECK_INT(c->stale_seconds, 30);
  wb_config_destroy(c);
  f = fopen(path, "w");
  fprintf(f, "kafka_bootstrap = k\nwarn_waiting 3\n");
  fclose(f);
  char msg[512];
  snprintf(msg, sizeof(msg), "config: %s:2: expected `name = value`", path);
  check_error(argv2, none, msg);
  remove(path);
  CHECK_DONE();
}
