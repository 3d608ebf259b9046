/*
 * wb_config: the settings table and its parsers.  See wb_config.h.
 */
#include "wb_config.h"

#include "cfgtext.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wb_setting {
  const char *name;
  wb_type_t type;
  size_t offset;
  const char *def;
  long min, max;
  const char *choices;
  int flags;
  const char *help;
} wb_setting_t;

static const wb_setting_t wb_settings[] = {
#define WB_X_ROW(n, t, d, mn, mx, ch, fl, h) {#n, t, offsetof(wb_config_t, n), d, mn, mx, ch, fl, h},
    WB_SETTINGS(WB_X_ROW)
#undef WB_X_ROW
};
#define WB_N (sizeof(wb_settings) / sizeof(wb_settings[0]))

static const wb_setting_t *wb_find(const char *name) {
  for (size_t i = 0; i < WB_N; i++)
    if (strcmp(wb_settings[i].name, name) == 0)
      return &wb_settings[i];
  return NULL;
}

static int wb_set(wb_config_t *config, const wb_setting_t *s, const char *value, char *errstr, size_t errstr_size) {
  char *field = (char *)config + s->offset;
  if (s->type == WB_INT) {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer", s->name, value);
      return -1;
    }
    if (v < s->min || v > s->max) {
      snprintf(errstr, errstr_size, "%s: %ld is out of range [%ld, %ld]", s->name, v, s->min, s->max);
      return -1;
    }
    *(long *)field = v;
    return 0;
  }
  if (s->type == WB_ENUM && !cfgtext_choice_ok(s->choices, value)) {
    snprintf(errstr, errstr_size, "%s: \"%s\" is not one of %s", s->name, value, s->choices);
    return -1;
  }
  char *copy = strdup(value);
  if (!copy) {
    snprintf(errstr, errstr_size, "%s: out of memory", s->name);
    return -1;
  }
  free(*(char **)field);
  *(char **)field = copy;
  return 0;
}

/* One name=value; from_flag: the command line (no secrets there). */
static int wb_apply(wb_config_t *config, const char *name, const char *value, int from_flag, char *errstr,
                    size_t errstr_size) {
  if (strncmp(name, "kafka.", 6) == 0) {
    const char *prop = name + 6;
    if (!*prop) {
      snprintf(errstr, errstr_size, "kafka.: empty librdkafka property name");
      return -1;
    }
    if (from_flag && (strstr(prop, "password") || strstr(prop, "secret"))) {
      snprintf(errstr, errstr_size, "kafka.%s: not accepted on the command line (use the config file)", prop);
      return -1;
    }
    wb_kv_t *grown = realloc(config->kafka, (config->kafka_count + 1) * sizeof(*grown));
    if (!grown) {
      snprintf(errstr, errstr_size, "kafka.%s: out of memory", prop);
      return -1;
    }
    config->kafka = grown;
    grown[config->kafka_count].name = strdup(prop);
    grown[config->kafka_count].value = strdup(value);
    config->kafka_count++;
    if (!grown[config->kafka_count - 1].name || !grown[config->kafka_count - 1].value) {
      snprintf(errstr, errstr_size, "kafka.%s: out of memory", prop);
      return -1;
    }
    return 0;
  }
  const wb_setting_t *s = wb_find(name);
  if (!s) {
    snprintf(errstr, errstr_size, "%s: unknown setting (see --help)", name);
    return -1;
  }
  return wb_set(config, s, value, errstr, errstr_size);
}

static int wb_read_file(wb_config_t *config, const char *path, char *errstr, size_t errstr_size) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    snprintf(errstr, errstr_size, "config: cannot open \"%s\": %s", path, strerror(errno));
    return -1;
  }
  char line[4096], sub[512];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof(line), fp)) {
    lineno++;
    char *name, *value;
    cfgtext_line_t kind = cfgtext_line(line, &name, &value);
    if (kind == CFGTEXT_LINE_EMPTY)
      continue;
    if (kind != CFGTEXT_LINE_SETTING) { /* no sections here */
      snprintf(errstr, errstr_size, "config: %s:%d: expected `name = value`", path, lineno);
      rc = -1;
      break;
    }
    if (strcmp(name, "config") != 0 && wb_apply(config, name, value, 0, sub, sizeof(sub)) != 0) {
      snprintf(errstr, errstr_size, "%s (%s:%d)", sub, path, lineno);
      rc = -1;
    }
  }
  fclose(fp);
  return rc;
}

static void wb_print_help(FILE *fp, const char *prog) {
  fprintf(fp,
          "Usage: %s [--name=value ...]\n"
          "A live wallboard of the contact centre's queues: reads the bridges' queue statistics\n"
          "from Kafka (read_committed) and serves a page that shows them, updated as they change.\n"
          "Every setting can be given as a flag (--name=value), an environment variable\n"
          "(MTCTI3_WALLBOARD_NAME) or a line `name = value` in the config file.\n"
          "Precedence: flag > environment > config file > default.\n"
          "librdkafka properties pass through as kafka.<property>.\n"
          "Other flags: --help, --help-markdown, --version, --check-config.\n\n",
          prog);
  for (size_t i = 0; i < WB_N; i++) {
    const wb_setting_t *s = &wb_settings[i];
    char env[80];
    cfgtext_env_name("MTCTI3_WALLBOARD_", s->name, env, sizeof(env));
    fprintf(fp, "  --%-20s %s\n  %-22s env %s, default: %s%s%s\n", s->name, s->help, "", env,
            s->def[0] ? s->def : "(empty)", s->choices ? ", one of: " : "", s->choices ? s->choices : "");
  }
}

static void wb_print_markdown(FILE *fp) {
  fprintf(fp, "| name | environment | default | description |\n|---|---|---|---|\n");
  for (size_t i = 0; i < WB_N; i++) {
    const wb_setting_t *s = &wb_settings[i];
    char env[80];
    cfgtext_env_name("MTCTI3_WALLBOARD_", s->name, env, sizeof(env));
    fprintf(fp, "| `%s` | `%s` | %s%s%s | %s%s%s%s |\n", s->name, env, s->def[0] ? "`" : "",
            s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "", s->help, s->choices ? " (one of: " : "",
            s->choices ? s->choices : "", s->choices ? ")" : "");
  }
}

static int wb_validate(wb_config_t *c, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < WB_N; i++) {
    const wb_setting_t *s = &wb_settings[i];
    const char *v = *(char **)((char *)c + s->offset);
    if ((s->flags & WB_REQUIRED) && (!v || !*v)) {
      char env[80];
      cfgtext_env_name("MTCTI3_WALLBOARD_", s->name, env, sizeof(env));
      snprintf(errstr, errstr_size, "%s: missing (set %s, --%s or %s in the config file)", s->name, env, s->name,
               s->name);
      return -1;
    }
  }
  const char *colon = strrchr(c->listen, ':');
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : -1;
  if (!colon || colon == c->listen || !*(colon + 1) || *end || port < 0 || port > 65535) {
    snprintf(errstr, errstr_size, "listen: \"%s\" is not host:port", c->listen);
    return -1;
  }
  if (!c->topics[0] || (c->topics[0] != '^' && strspn(c->topics, ", ") == strlen(c->topics))) {
    snprintf(errstr, errstr_size, "topics: empty (a list of topics, or a regular expression starting with ^)");
    return -1;
  }
  if (c->alert_waiting < c->warn_waiting) {
    snprintf(errstr, errstr_size, "alert_waiting: %ld is less than warn_waiting (%ld)", c->alert_waiting,
             c->warn_waiting);
    return -1;
  }
  if (c->alert_wait_seconds < c->warn_wait_seconds) {
    snprintf(errstr, errstr_size, "alert_wait_seconds: %ld is less than warn_wait_seconds (%ld)",
             c->alert_wait_seconds, c->warn_wait_seconds);
    return -1;
  }
  if (c->alert_service_level > c->warn_service_level) {
    snprintf(errstr, errstr_size, "alert_service_level: %ld exceeds warn_service_level (%ld)",
             c->alert_service_level, c->warn_service_level);
    return -1;
  }
  return 0;
}

void wb_config_destroy(wb_config_t *config) {
  if (!config)
    return;
  for (size_t i = 0; i < WB_N; i++)
    if (wb_settings[i].type != WB_INT)
      free(*(char **)((char *)config + wb_settings[i].offset));
  for (size_t i = 0; i < config->kafka_count; i++) {
    free(config->kafka[i].name);
    free(config->kafka[i].value);
  }
  free(config->kafka);
  free(config);
}

int wb_config_load(int argc, char **argv, char **envp, void *out, wb_config_t **configp, wb_action_t *action,
                   char *errstr, size_t errstr_size) {
  wb_config_t *config = calloc(1, sizeof(*config));
  int check_only = 0;
  *configp = NULL;
  *action = WB_RUN;
  if (!config) {
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  for (size_t i = 0; i < WB_N; i++)
    if (wb_set(config, &wb_settings[i], wb_settings[i].def, errstr, errstr_size) != 0)
      goto fail;

  /* the special flags first, and where the config file is */
  const char *file = cfgtext_env_get(envp, "MTCTI3_WALLBOARD_CONFIG");
  switch (cfgtext_first_pass(argc, argv, &file)) {
  case CFGTEXT_HELP:
    wb_print_help(out, argv[0]);
    *action = WB_EXIT_OK;
    goto done;
  case CFGTEXT_MARKDOWN:
    wb_print_markdown(out);
    *action = WB_EXIT_OK;
    goto done;
  case CFGTEXT_VERSION:
    fprintf(out, "mtcti3-wallboard %s\n", MTCTI3_VERSION);
    *action = WB_EXIT_OK;
    goto done;
  case CFGTEXT_RUN:
    break;
  }
  if (file && *file &&
      (wb_set(config, wb_find("config"), file, errstr, errstr_size) != 0 ||
       wb_read_file(config, file, errstr, errstr_size) != 0))
    goto fail;

  for (size_t i = 0; i < WB_N; i++) {
    char env[80];
    if (strcmp(wb_settings[i].name, "config") == 0)
      continue;
    cfgtext_env_name("MTCTI3_WALLBOARD_", wb_settings[i].name, env, sizeof(env));
    const char *v = cfgtext_env_get(envp, env);
    if (v && wb_set(config, &wb_settings[i], v, errstr, errstr_size) != 0)
      goto fail;
  }

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--check-config") == 0) {
      check_only = 1;
      continue;
    }
    if (strncmp(a, "--", 2) != 0) {
      snprintf(errstr, errstr_size, "%s: unexpected argument (flags are --name=value)", a);
      goto fail;
    }
    a += 2;
    const char *eq = strchr(a, '=');
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
    for (char *p = name; *p && strncmp(name, "kafka.", 6) != 0; p++)
      if (*p == '-')
        *p = '_';
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
      if (i + 1 >= argc) {
        snprintf(errstr, errstr_size, "%s: needs a value", name);
        goto fail;
      }
      value = argv[++i];
    }
    if (strcmp(name, "config") != 0 && wb_apply(config, name, value, 1, errstr, errstr_size) != 0)
      goto fail;
  }
  if (wb_validate(config, errstr, errstr_size) != 0)
    goto fail;
  if (check_only) {
    fprintf(out, "configuration ok\n");
    *action = WB_EXIT_OK;
  }
done:
  *configp = config;
  return 0;
fail:
  wb_config_destroy(config);
  return -1;
}
