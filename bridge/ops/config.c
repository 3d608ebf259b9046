/*
 * config: the settings table, and the file, environment and flag parsers
 * driven by it.  See config.h.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redis_client.h"

typedef struct config_setting {
  const char *name;
  config_type_t type;
  size_t offset;
  const char *def;
  long min, max;
  const char *choices;
  int flags;
  const char *help;
} config_setting_t;

static const config_setting_t config_settings[] = {
#define CONFIG_X_ROW(n, t, f, d, mn, mx, ch, fl, h) {#n, t, offsetof(config_t, f), d, mn, mx, ch, fl, h},
    CONFIG_SETTINGS(CONFIG_X_ROW)
#undef CONFIG_X_ROW
};
#define CONFIG_N (sizeof(config_settings) / sizeof(config_settings[0]))

/* Where a value came from, for error messages. */
typedef enum config_origin { ORIGIN_DEFAULT, ORIGIN_FILE, ORIGIN_ENV, ORIGIN_FLAG } config_origin_t;

static const config_setting_t *config_find(const char *name, size_t len) {
  for (size_t i = 0; i < CONFIG_N; i++) {
    if (strlen(config_settings[i].name) == len && strncmp(config_settings[i].name, name, len) == 0)
      return &config_settings[i];
  }
  return NULL;
}

static void config_env_name(const config_setting_t *setting, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "MTCTI3_");
  for (const char *p = setting->name; *p && n + 1 < size; p++)
    out[n++] = (char)toupper((unsigned char)*p);
  out[n] = '\0';
}

static int config_parse_bool(const char *text, int *out) {
  static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
  for (size_t i = 0; i < 4; i++) {
    if (strcasecmp(text, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(text, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

static int config_choice_ok(const char *choices, const char *value) {
  size_t len = strlen(value);
  for (const char *p = choices; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == len && strncmp(p, value, n) == 0)
      return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

/* Store `value` into the setting's field; -1 with errstr on a bad value. */
static int config_set(config_t *config, const config_setting_t *setting, const char *value,
                      char *errstr, size_t errstr_size) {
  char *field = (char *)config + setting->offset;
  switch (setting->type) {
  case CONFIG_ENUM:
    if (!config_choice_ok(setting->choices, value)) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not one of %s", setting->name, value,
               setting->choices);
      return -1;
    }
    /* fall through */
  case CONFIG_STR: {
    char *copy = strdup(value);
    if (!copy) {
      snprintf(errstr, errstr_size, "%s: out of memory", setting->name);
      return -1;
    }
    free(*(char **)field);
    *(char **)field = copy;
    return 0;
  }
  case CONFIG_INT: {
    char *end;
    errno = 0;
    long v = strtol(value, &end, 0);
    if (errno || end == value || *end) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer", setting->name, value);
      return -1;
    }
    if (v < setting->min || v > setting->max) {
      snprintf(errstr, errstr_size, "%s: %ld is out of range [%ld, %ld]", setting->name, v,
               setting->min, setting->max);
      return -1;
    }
    *(long *)field = v;
    return 0;
  }
  case CONFIG_BOOL:
    if (config_parse_bool(value, (int *)field) != 0) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not a boolean (true/false)", setting->name, value);
      return -1;
    }
    return 0;
  }
  return -1;
}

static int config_kafka_add(config_t *config, const char *prop, const char *value, char *errstr,
                            size_t errstr_size) {
  if (!*prop) {
    snprintf(errstr, errstr_size, "kafka.: empty librdkafka property name");
    return -1;
  }
  config_kv_t *grown = realloc(config->kafka, (config->kafka_count + 1) * sizeof(*grown));
  if (!grown)
    goto oom;
  config->kafka = grown;
  grown[config->kafka_count].name = strdup(prop);
  grown[config->kafka_count].value = strdup(value);
  config->kafka_count++;
  if (!grown[config->kafka_count - 1].name || !grown[config->kafka_count - 1].value)
    goto oom;
  return 0;
oom:
  snprintf(errstr, errstr_size, "kafka.%s: out of memory", prop);
  return -1;
}

/* Apply one name=value from `origin`. */
static int config_apply(config_t *config, const char *name, size_t name_len, const char *value,
                        config_origin_t origin, char *errstr, size_t errstr_size) {
  if (name_len > 6 && strncmp(name, "kafka.", 6) == 0) {
    char prop[256];
    snprintf(prop, sizeof(prop), "%.*s", (int)(name_len - 6), name + 6);
    if (origin == ORIGIN_FLAG && (strstr(prop, "password") || strstr(prop, "secret"))) {
      snprintf(errstr, errstr_size, "kafka.%s: not accepted on the command line (use the config file)", prop);
      return -1;
    }
    return config_kafka_add(config, prop, value, errstr, errstr_size);
  }
  const config_setting_t *setting = config_find(name, name_len);
  if (!setting) {
    snprintf(errstr, errstr_size, "%.*s: unknown setting (see --help)", (int)name_len, name);
    return -1;
  }
  if ((setting->flags & CONFIG_SECRET) && origin == ORIGIN_FLAG) {
    char env[64];
    config_env_name(setting, env, sizeof(env));
    snprintf(errstr, errstr_size,
             "%s: not accepted on the command line (use %s, %s_FILE or the config file)",
             setting->name, env, env);
    return -1;
  }
  if (origin == ORIGIN_FLAG && strcmp(setting->name, "redis_url") == 0 && redis_client_url_has_password(value)) {
    snprintf(errstr, errstr_size,
             "redis_url: a password in the URL is not accepted on the command line (use MTCTI3_REDIS_PASSWORD, "
             "MTCTI3_REDIS_PASSWORD_FILE or the config file)");
    return -1;
  }
  return config_set(config, setting, value, errstr, errstr_size);
}

static char *config_trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static int config_read_file(config_t *config, const char *path, char *errstr, size_t errstr_size) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    snprintf(errstr, errstr_size, "config: cannot open \"%s\": %s", path, strerror(errno));
    return -1;
  }
  char line[4096];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof(line), fp)) {
    lineno++;
    char *s = config_trim(line);
    if (!*s || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      snprintf(errstr, errstr_size, "config: %s:%d: expected `name = value`", path, lineno);
      rc = -1;
      break;
    }
    *eq = '\0';
    char *name = config_trim(s), *value = config_trim(eq + 1);
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
      value[vlen - 1] = '\0';
      value++;
    }
    char sub[512];
    if (config_apply(config, name, strlen(name), value, ORIGIN_FILE, sub, sizeof(sub)) != 0) {
      snprintf(errstr, errstr_size, "%s (%s:%d)", sub, path, lineno);
      rc = -1;
    }
  }
  fclose(fp);
  return rc;
}

/* The first line of the file named by setting `name` into *password (replacing it). */
static int config_read_password_file(const char *name, const char *path, char **password, char *errstr,
                                     size_t errstr_size) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    snprintf(errstr, errstr_size, "%s: cannot open \"%s\": %s", name, path, strerror(errno));
    return -1;
  }
  char line[1024] = "";
  if (!fgets(line, sizeof(line), fp))
    line[0] = '\0';
  fclose(fp);
  line[strcspn(line, "\r\n")] = '\0';
  if (!line[0]) {
    snprintf(errstr, errstr_size, "%s: \"%s\" is empty", name, path);
    return -1;
  }
  if (*password)
    memset(*password, 0, strlen(*password));
  free(*password);
  *password = strdup(line);
  memset(line, 0, sizeof(line));
  if (!*password) {
    snprintf(errstr, errstr_size, "%s: out of memory", name);
    return -1;
  }
  return 0;
}

/* redis_url parses; its password comes from one place only. */
static int config_validate_redis(config_t *config, char *errstr, size_t errstr_size) {
  redis_client_url_t url;
  if (!config->redis_url[0]) {
    if (config->redis_password[0] || config->redis_password_file[0]) {
      snprintf(errstr, errstr_size, "redis_password: given without redis_url");
      return -1;
    }
    return 0;
  }
  if (redis_client_url_parse(config->redis_url, "redis_url", &url, errstr, errstr_size) != 0)
    return -1;
  int in_url = url.password[0] != '\0';
  redis_client_url_clear(&url);
  if (config->redis_password[0] && config->redis_password_file[0]) {
    snprintf(errstr, errstr_size, "redis_password: give redis_password or redis_password_file, not both");
    return -1;
  }
  if (config->redis_password_file[0] &&
      config_read_password_file("redis_password_file", config->redis_password_file, &config->redis_password,
                                errstr, errstr_size) != 0)
    return -1;
  if (in_url && config->redis_password[0]) {
    snprintf(errstr, errstr_size, "redis_password: the password is also in redis_url; give it once");
    return -1;
  }
  return 0;
}

/* Checks across settings, after every source is applied. */
static int config_validate(config_t *config, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *setting = &config_settings[i];
    if (!(setting->flags & CONFIG_REQUIRED))
      continue;
    const char *v = *(char **)((char *)config + setting->offset);
    if (!v || !*v) {
      char env[64];
      config_env_name(setting, env, sizeof(env));
      snprintf(errstr, errstr_size, "%s: missing (set %s, --%s or %s in the config file)",
               setting->name, env, setting->name, setting->name);
      return -1;
    }
  }
  if (config->ipo_password_file[0] &&
      config_read_password_file("ipo_password_file", config->ipo_password_file, &config->ipo_password, errstr,
                                errstr_size) != 0)
    return -1;
  if (!config->ipo_password[0]) {
    snprintf(errstr, errstr_size,
             "ipo_password: missing (set MTCTI3_IPO_PASSWORD or MTCTI3_IPO_PASSWORD_FILE)");
    return -1;
  }
  /* every URL: ws:// or wss://, with a host */
  char urls[4096];
  snprintf(urls, sizeof(urls), "%s", config->ipo_url);
  for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
    const char *rest = NULL;
    if (strncmp(u, "wss://", 6) == 0)
      rest = u + 6;
    else if (strncmp(u, "ws://", 5) == 0)
      rest = u + 5;
    if (!rest || !*rest || *rest == '/' || *rest == ':') {
      snprintf(errstr, errstr_size, "ipo_url: \"%s\" is not a ws:// or wss:// URL with a host", u);
      return -1;
    }
  }
  if (config->ipo_ca_file[0]) {
    FILE *ca = fopen(config->ipo_ca_file, "r");
    if (!ca) {
      snprintf(errstr, errstr_size, "ipo_ca_file: cannot open \"%s\": %s", config->ipo_ca_file,
               strerror(errno));
      return -1;
    }
    fclose(ca);
  }
  if (config->commands_default_timeout_ms > config->commands_max_timeout_ms) {
    snprintf(errstr, errstr_size, "commands_default_timeout_ms: %ld exceeds commands_max_timeout_ms (%ld)",
             config->commands_default_timeout_ms, config->commands_max_timeout_ms);
    return -1;
  }
  if (config->reconnect_max_ms < config->reconnect_min_ms) {
    snprintf(errstr, errstr_size, "reconnect_max_ms: %ld is less than reconnect_min_ms (%ld)",
             config->reconnect_max_ms, config->reconnect_min_ms);
    return -1;
  }
  if (config->ping_timeout <= config->ping_interval) {
    snprintf(errstr, errstr_size, "ping_timeout: %ld must exceed ping_interval (%ld)",
             config->ping_timeout, config->ping_interval);
    return -1;
  }
  if (!config->pbx_id[0]) {
    snprintf(errstr, errstr_size, "pbx_id: must not be empty");
    return -1;
  }
  for (const char *p = config->pbx_id; *p; p++) {
    if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
      snprintf(errstr, errstr_size, "pbx_id: \"%s\" may hold only A-Za-z0-9._-", config->pbx_id);
      return -1;
    }
  }
  for (const char *p = config->topic_prefix; *p; p++) {
    if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
      snprintf(errstr, errstr_size, "topic_prefix: \"%s\" may hold only A-Za-z0-9._-",
               config->topic_prefix);
      return -1;
    }
  }
  if (config_validate_redis(config, errstr, errstr_size) != 0)
    return -1;
  if (config->http_listen[0] && !strrchr(config->http_listen, ':')) {
    snprintf(errstr, errstr_size, "http_listen: \"%s\" is not host:port", config->http_listen);
    return -1;
  }
  return 0;
}

void config_destroy(config_t *config) {
  if (!config)
    return;
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *setting = &config_settings[i];
    if (setting->type == CONFIG_STR || setting->type == CONFIG_ENUM) {
      char **field = (char **)((char *)config + setting->offset);
      if (*field && (setting->flags & CONFIG_SECRET))
        memset(*field, 0, strlen(*field));
      free(*field);
    }
  }
  for (size_t i = 0; i < config->kafka_count; i++) {
    free(config->kafka[i].name);
    free(config->kafka[i].value);
  }
  free(config->kafka);
  free(config);
}

void config_print_help(void *out, const char *prog) {
  FILE *fp = out;
  fprintf(fp,
          "Usage: %s [--name=value ...]\n"
          "Bridges an Avaya IP Office (MTCTI3) to Kafka: snapshot-diff events per line, user,\n"
          "queue and call.  Every setting can be given as a flag (--name=value or --name value),\n"
          "an environment variable (MTCTI3_NAME) or a line `name = value` in the config file.\n"
          "Precedence: flag > environment > config file > default.\n"
          "librdkafka properties pass through as kafka.<property> (--kafka.security.protocol=SSL).\n"
          "Other flags: --help, --help-markdown, --version, --check-config.\n\n",
          prog);
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *s = &config_settings[i];
    char env[64];
    config_env_name(s, env, sizeof(env));
    fprintf(fp, "  --%-20s %s%s\n", s->name, s->help,
            (s->flags & CONFIG_SECRET) ? " [secret]" : "");
    fprintf(fp, "  %-22s env %s, default: %s%s%s\n", "", env, s->def[0] ? s->def : "(empty)",
            s->choices ? ", one of: " : "", s->choices ? s->choices : "");
  }
}

void config_print_markdown(void *out) {
  FILE *fp = out;
  fprintf(fp, "| name | environment | default | description |\n|---|---|---|---|\n");
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *s = &config_settings[i];
    char env[64];
    config_env_name(s, env, sizeof(env));
    fprintf(fp, "| `%s` | `%s` | %s%s%s | %s%s%s%s |\n", s->name, env, s->def[0] ? "`" : "",
            s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "", s->help,
            s->choices ? " (one of: " : "", s->choices ? s->choices : "", s->choices ? ")" : "");
  }
}

static const char *config_env_get(char **envp, const char *name) {
  size_t len = strlen(name);
  for (char **e = envp; e && *e; e++) {
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
      return *e + len + 1;
  }
  return NULL;
}

int config_load(int argc, char **argv, char **envp, void *out, config_t **configp,
                config_action_t *action, char *errstr, size_t errstr_size) {
  config_t *config = calloc(1, sizeof(*config));
  int check_only = 0;
  *configp = NULL;
  *action = CONFIG_RUN;
  if (!config) {
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  for (size_t i = 0; i < CONFIG_N; i++) {
    if (config_set(config, &config_settings[i], config_settings[i].def, errstr, errstr_size) != 0)
      goto fail;
  }

  /* First pass over the flags: the special ones, and where the config file is. */
  const char *file = config_env_get(envp, "MTCTI3_CONFIG");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      config_print_help(out, argv[0]);
      *action = CONFIG_EXIT_OK;
      goto done;
    }
    if (strcmp(a, "--help-markdown") == 0) {
      config_print_markdown(out);
      *action = CONFIG_EXIT_OK;
      goto done;
    }
    if (strcmp(a, "--version") == 0) {
      fprintf(out, "mtcti3-bridge %s\n", MTCTI3_VERSION);
      *action = CONFIG_EXIT_OK;
      goto done;
    }
    if (strcmp(a, "--config") == 0 && i + 1 < argc)
      file = argv[i + 1];
    else if (strncmp(a, "--config=", 9) == 0)
      file = a + 9;
  }
  if (file && *file) {
    if (config_set(config, config_find("config", 6), file, errstr, errstr_size) != 0 ||
        config_read_file(config, file, errstr, errstr_size) != 0)
      goto fail;
  }

  /* The environment: MTCTI3_<NAME>. */
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *s = &config_settings[i];
    char env[64];
    if (s->flags & CONFIG_NOENV || strcmp(s->name, "config") == 0)
      continue;
    config_env_name(s, env, sizeof(env));
    const char *v = config_env_get(envp, env);
    if (v && config_set(config, s, v, errstr, errstr_size) != 0)
      goto fail;
  }

  /* The flags. */
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
    size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)name_len, a);
    for (char *p = name; *p && strncmp(name, "kafka.", 6) != 0; p++)
      if (*p == '-')
        *p = '_';
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
      const config_setting_t *s = config_find(name, strlen(name));
      if (s && s->type == CONFIG_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)) {
        value = "true"; /* --tls_verify alone */
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        snprintf(errstr, errstr_size, "%s: needs a value", name);
        goto fail;
      }
    }
    if (strcmp(name, "config") == 0)
      continue;
    if (config_apply(config, name, strlen(name), value, ORIGIN_FLAG, errstr, errstr_size) != 0)
      goto fail;
  }

  if (config_validate(config, errstr, errstr_size) != 0)
    goto fail;
  if (check_only) {
    fprintf(out, "configuration ok\n");
    *action = CONFIG_EXIT_OK;
  }
done:
  *configp = config;
  return 0;
fail:
  config_destroy(config);
  return -1;
}
