/*
 * test_cfgtext: reading settings' text, shared by the bridge and the wallboard.
 *
 *   01 a config file's lines: blank, comment, section, setting (quotes), bad
 *   02 environment lookups and names
 *   03 choices and booleans
 *   04 the first pass over the flags
 */
#include <string.h>

#include "cfgtext.h"
#include "check.h"

static void s01_lines(void) {
  char a[] = "   ", b[] = "  # a comment = no", c[] = " [pbx hq] ", d[] = "  log_level =  debug  ",
       e[] = "ipo_user = \" svc bridge \"", f[] = "no equals here", g[] = "empty =", h[] = "q = \"";
  char *name, *value;
  CHECK_INT(cfgtext_line(a, &name, &value), CFGTEXT_LINE_EMPTY);
  CHECK_INT(cfgtext_line(b, &name, &value), CFGTEXT_LINE_EMPTY);
  CHECK_INT(cfgtext_line(c, &name, &value), CFGTEXT_LINE_SECTION);
  CHECK_STR(name, "[pbx hq]");
  CHECK_INT(cfgtext_line(d, &name, &value), CFGTEXT_LINE_SETTING);
  CHECK_STR(name, "log_level");
  CHECK_STR(value, "debug");
  CHECK_INT(cfgtext_line(e, &name, &value), CFGTEXT_LINE_SETTING);
  CHECK_STR(value, " svc bridge "); /* the quotes keep the spaces */
  CHECK_INT(cfgtext_line(f, &name, &value), CFGTEXT_LINE_BAD);
  CHECK(name == NULL && value == NULL);
  CHECK_INT(cfgtext_line(g, &name, &value), CFGTEXT_LINE_SETTING);
  CHECK_STR(value, "");
  CHECK_INT(cfgtext_line(h, &name, &value), CFGTEXT_LINE_SETTING);
  CHECK_STR(value, "\""); /* one quote is not a quoted value */
}

static void s02_env(void) {
  char *envp[] = {"MTCTI3_LOG=x", "MTCTI3_LOG_LEVEL=debug", "MTCTI3_EMPTY=", NULL};
  CHECK_STR(cfgtext_env_get(envp, "MTCTI3_LOG_LEVEL"), "debug");
  CHECK_STR(cfgtext_env_get(envp, "MTCTI3_LOG"), "x");
  CHECK_STR(cfgtext_env_get(envp, "MTCTI3_EMPTY"), "");
  CHECK(cfgtext_env_get(envp, "MTCTI3_LO") == NULL);
  CHECK(cfgtext_env_get(NULL, "X") == NULL);
  char out[32];
  cfgtext_env_name("MTCTI3_", "log_level", out, sizeof(out));
  CHECK_STR(out, "MTCTI3_LOG_LEVEL");
  cfgtext_env_name("MTCTI3_WALLBOARD_", "kafka_bootstrap", out, 24);
  CHECK_STR(out, "MTCTI3_WALLBOARD_KAFKA_"); /* cut to the buffer */
}

static void s03_values(void) {
  CHECK_INT(cfgtext_choice_ok("text|json", "json"), 1);
  CHECK_INT(cfgtext_choice_ok("text|json", "tex"), 0);
  CHECK_INT(cfgtext_choice_ok("text|json", "text|json"), 0);
  CHECK_INT(cfgtext_choice_ok(NULL, "x"), 0);
  int v = -1;
  CHECK_INT(cfgtext_parse_bool("YES", &v), 0);
  CHECK_INT(v, 1);
  CHECK_INT(cfgtext_parse_bool("off", &v), 0);
  CHECK_INT(v, 0);
  CHECK_INT(cfgtext_parse_bool("2", &v), -1);
  CHECK_INT(v, 0);
}

static void s04_first_pass(void) {
  const char *file = "from-env";
  char *a1[] = {"prog", "--log_level=debug", NULL};
  CHECK_INT(cfgtext_first_pass(2, a1, &file), CFGTEXT_RUN);
  CHECK_STR(file, "from-env");
  char *a2[] = {"prog", "--config", "a.conf", "--config=b.conf", NULL};
  CHECK_INT(cfgtext_first_pass(4, a2, &file), CFGTEXT_RUN);
  CHECK_STR(file, "b.conf");
  char *a3[] = {"prog", "--config", NULL}; /* no file after it: not a config flag */
  file = NULL;
  CHECK_INT(cfgtext_first_pass(2, a3, &file), CFGTEXT_RUN);
  CHECK(file == NULL);
  char *a4[] = {"prog", "--version", "-h", NULL};
  CHECK_INT(cfgtext_first_pass(3, a4, &file), CFGTEXT_VERSION);
  char *a5[] = {"prog", "-h", NULL};
  CHECK_INT(cfgtext_first_pass(2, a5, &file), CFGTEXT_HELP);
  char *a6[] = {"prog", "--help-markdown", NULL};
  CHECK_INT(cfgtext_first_pass(2, a6, &file), CFGTEXT_MARKDOWN);
}

int main(void) {
  s01_lines();
  s02_env();
  s03_values();
  s04_first_pass();
  return check_done();
}
