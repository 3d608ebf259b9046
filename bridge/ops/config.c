/*
 * config: the settings table, and the file, environment and flag parsers
 * driven by it.  See config.h.
 */
#include "config.h"

#include "cfgtext.h"
#include "qstats.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

/* Store `value` into the setting's field; -1 with errstr on a bad value. */
static int config_set(config_t *config, const config_setting_t *setting, const char *value,
                      char *errstr, size_t errstr_size) {
  char *field = (char *)config + setting->offset;
  switch (setting->type) {
  case CONFIG_ENUM:
    if (!cfgtext_choice_ok(setting->choices, value)) {
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
    if (cfgtext_parse_bool(value, (int *)field) != 0) {
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

/*
 * The first line of `path` (without its line end) into *out (malloc'd), for
 * the `_file` variants of secrets; -1 with errstr naming `setting`.  The
 * buffer that held the line is wiped.
 */
static int config_read_secret_file(const char *setting, const char *path, char **out, char *errstr,
                                   size_t errstr_size) {
  FILE *fp = fopen(path, "r");
  if (!fp) {
    snprintf(errstr, errstr_size, "%s: cannot open \"%s\": %s", setting, path, strerror(errno));
    return -1;
  }
  char line[1024] = "";
  if (!fgets(line, sizeof(line), fp))
    line[0] = '\0';
  fclose(fp);
  line[strcspn(line, "\r\n")] = '\0';
  int rc = -1;
  if (!line[0]) {
    snprintf(errstr, errstr_size, "%s: \"%s\" is empty", setting, path);
  } else if (!(*out = strdup(line))) {
    snprintf(errstr, errstr_size, "%s: out of memory", setting);
  } else {
    rc = 0;
  }
  memset(line, 0, sizeof(line));
  return rc;
}

/* Whether a librdkafka property holds a secret (refused on the command line, has a _file variant). */
static int config_kafka_secret(const char *prop) { return strstr(prop, "password") || strstr(prop, "secret"); }

/*
 * kafka.<prop> = value, or kafka.<prop>_file = path for a secret property:
 * the file's first line becomes <prop>'s value.
 */
static int config_apply_kafka(config_t *config, const char *prop, const char *value, config_origin_t origin,
                              char *errstr, size_t errstr_size) {
  size_t len = strlen(prop);
  if (len > 5 && strcmp(prop + len - 5, "_file") == 0) {
    char base[256], setting[280];
    snprintf(base, sizeof(base), "%.*s", (int)(len - 5), prop);
    snprintf(setting, sizeof(setting), "kafka.%s", prop);
    if (!config_kafka_secret(base)) {
      snprintf(errstr, errstr_size, "%s: only secret properties (names holding password or secret) have a _file variant",
               setting);
      return -1;
    }
    char *secret = NULL;
    if (config_read_secret_file(setting, value, &secret, errstr, errstr_size) != 0)
      return -1;
    int rc = config_kafka_add(config, base, secret, errstr, errstr_size);
    memset(secret, 0, strlen(secret));
    free(secret);
    return rc;
  }
  if (origin == ORIGIN_FLAG && config_kafka_secret(prop)) {
    snprintf(errstr, errstr_size,
             "kafka.%s: not accepted on the command line (use the config file, the environment or kafka.%s_file)",
             prop, prop);
    return -1;
  }
  return config_kafka_add(config, prop, value, errstr, errstr_size);
}

/* Apply one name=value from `origin`. */
static int config_apply(config_t *config, const char *name, size_t name_len, const char *value,
                        config_origin_t origin, char *errstr, size_t errstr_size) {
  if (name_len > 6 && strncmp(name, "kafka.", 6) == 0) {
    char prop[256];
    snprintf(prop, sizeof(prop), "%.*s", (int)(name_len - 6), name + 6);
    return config_apply_kafka(config, prop, value, origin, errstr, errstr_size);
  }
  const config_setting_t *setting = config_find(name, name_len);
  if (!setting) {
    snprintf(errstr, errstr_size, "%.*s: unknown setting (see --help)", (int)name_len, name);
    return -1;
  }
  if ((setting->flags & CONFIG_SECRET) && origin == ORIGIN_FLAG) {
    char env[64];
    cfgtext_env_name("MTCTI3_", setting->name, env, sizeof(env));
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

/*
 * The environment's librdkafka properties: MTCTI3_KAFKA__<PROP>, where PROP is
 * the property in upper case with '.' as '_', '_' as '__' and '-' as '___'
 * (MTCTI3_KAFKA__SASL_MECHANISM is sasl.mechanism, MTCTI3_KAFKA__LOG__LEVEL
 * is log_level); a trailing _FILE names the file of a secret property.
 * Plain values first, then the files, so a file wins over a value.
 */
#define CONFIG_KAFKA_ENV "MTCTI3_KAFKA__"

static int config_kafka_env(config_t *config, char **envp, char *errstr, size_t errstr_size) {
  size_t plen = strlen(CONFIG_KAFKA_ENV);
  for (int pass = 0; pass < 2; pass++) {
    for (char **e = envp; e && *e; e++) {
      const char *eq = strchr(*e, '=');
      if (strncmp(*e, CONFIG_KAFKA_ENV, plen) != 0 || !eq)
        continue;
      const char *var = *e + plen;
      size_t var_len = (size_t)(eq - var);
      int is_file = var_len > 5 && strncmp(eq - 5, "_FILE", 5) == 0;
      if (is_file != pass)
        continue;
      char prop[256];
      size_t n = 0;
      for (size_t i = 0; i < var_len - (is_file ? 5 : 0) && n + 6 < sizeof(prop); i++) {
        if (strncmp(var + i, "___", 3) == 0) {
          prop[n++] = '-';
          i += 2;
        } else if (strncmp(var + i, "__", 2) == 0) {
          prop[n++] = '_';
          i += 1;
        } else if (var[i] == '_') {
          prop[n++] = '.';
        } else {
          prop[n++] = (char)tolower((unsigned char)var[i]);
        }
      }
      prop[n] = '\0';
      if (is_file)
        memcpy(prop + n, "_file", 6);
      char sub[512];
      if (!n) {
        snprintf(errstr, errstr_size, "%.*s: no librdkafka property named", (int)(eq - *e), *e);
        return -1;
      }
      if (config_apply_kafka(config, prop, eq + 1, ORIGIN_ENV, sub, sizeof(sub)) != 0) {
        snprintf(errstr, errstr_size, "%s (%.*s)", sub, (int)(eq - *e), *e);
        return -1;
      }
    }
  }
  return 0;
}

/* A [pbx <id>] section of the config file: its lines, applied once the top level is known. */
typedef struct config_section_kv {
  char *name, *value;
  int lineno;
} config_section_kv_t;

struct config_section {
  char *id;
  char *path;
  int lineno;
  config_section_kv_t *kv;
  size_t n;
};

static void config_sections_free(config_t *config) {
  for (size_t i = 0; i < config->section_count; i++) {
    struct config_section *sec = &config->sections[i];
    for (size_t k = 0; k < sec->n; k++) {
      free(sec->kv[k].name);
      if (sec->kv[k].value)
        memset(sec->kv[k].value, 0, strlen(sec->kv[k].value)); /* may be a password */
      free(sec->kv[k].value);
    }
    free(sec->kv);
    free(sec->id);
    free(sec->path);
  }
  free(config->sections);
  config->sections = NULL;
  config->section_count = 0;
}

/* "[pbx <id>]": a new section; 0, or -1 with errstr. */
static int config_section_open(config_t *config, char *line, const char *path, int lineno, char *errstr,
                               size_t errstr_size) {
  char *close = strchr(line, ']');
  char *body = line + 1;
  if (!close || close[1]) {
    snprintf(errstr, errstr_size, "config: %s:%d: expected `[pbx <id>]`", path, lineno);
    return -1;
  }
  *close = '\0';
  body = cfgtext_trim(body);
  if (strncmp(body, "pbx", 3) != 0 || (body[3] && !isspace((unsigned char)body[3]))) {
    snprintf(errstr, errstr_size, "config: %s:%d: unknown section [%s] (only [pbx <id>])", path, lineno, body);
    return -1;
  }
  char *id = cfgtext_trim(body + 3);
  if (!*id) {
    snprintf(errstr, errstr_size, "config: %s:%d: [pbx] needs an id: [pbx <id>]", path, lineno);
    return -1;
  }
  for (const char *p = id; *p; p++) {
    if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
      snprintf(errstr, errstr_size, "config: %s:%d: pbx id \"%s\" may hold only A-Za-z0-9._-", path, lineno, id);
      return -1;
    }
  }
  for (size_t i = 0; i < config->section_count; i++) {
    if (strcmp(config->sections[i].id, id) == 0) {
      snprintf(errstr, errstr_size, "config: %s:%d: [pbx %s] twice (first at line %d)", path, lineno, id,
               config->sections[i].lineno);
      return -1;
    }
  }
  struct config_section *grown = realloc(config->sections, (config->section_count + 1) * sizeof(*grown));
  if (!grown) {
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  config->sections = grown;
  struct config_section *sec = &grown[config->section_count++];
  memset(sec, 0, sizeof(*sec));
  sec->id = strdup(id);
  sec->path = strdup(path);
  sec->lineno = lineno;
  if (!sec->id || !sec->path) {
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  return 0;
}

/* One `name = value` line of the current section; only per-PBX settings belong there. */
static int config_section_add(struct config_section *sec, const char *name, const char *value, int lineno,
                              char *errstr, size_t errstr_size) {
  const config_setting_t *setting = config_find(name, strlen(name));
  if (!setting) {
    snprintf(errstr, errstr_size, "%s: unknown setting (see --help) (%s:%d)", name, sec->path, lineno);
    return -1;
  }
  if (!(setting->flags & CONFIG_PBX)) {
    snprintf(errstr, errstr_size, "%s: not a per-PBX setting: give it before any [pbx] section (%s:%d)", name,
             sec->path, lineno);
    return -1;
  }
  config_section_kv_t *grown = realloc(sec->kv, (sec->n + 1) * sizeof(*grown));
  if (!grown) {
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  sec->kv = grown;
  sec->kv[sec->n].name = strdup(name);
  sec->kv[sec->n].value = strdup(value);
  sec->kv[sec->n].lineno = lineno;
  if (!sec->kv[sec->n].name || !sec->kv[sec->n].value) {
    free(sec->kv[sec->n].name);
    free(sec->kv[sec->n].value);
    snprintf(errstr, errstr_size, "config: out of memory");
    return -1;
  }
  sec->n++;
  return 0;
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
    char *name, *value;
    cfgtext_line_t kind = cfgtext_line(line, &name, &value);
    if (kind == CFGTEXT_LINE_EMPTY)
      continue;
    if (kind == CFGTEXT_LINE_SECTION) {
      if (config_section_open(config, name, path, lineno, errstr, errstr_size) != 0) {
        rc = -1;
        break;
      }
      continue;
    }
    if (kind == CFGTEXT_LINE_BAD) {
      snprintf(errstr, errstr_size, "config: %s:%d: expected `name = value`", path, lineno);
      rc = -1;
      break;
    }
    char sub[512];
    if (config->section_count) { /* inside the last [pbx] section */
      if (config_section_add(&config->sections[config->section_count - 1], name, value, lineno, errstr,
                             errstr_size) != 0)
        rc = -1;
    } else if (config_apply(config, name, strlen(name), value, ORIGIN_FILE, sub, sizeof(sub)) != 0) {
      snprintf(errstr, errstr_size, "%s (%s:%d)", sub, path, lineno);
      rc = -1;
    }
  }
  fclose(fp);
  return rc;
}

/* The first line of the file named by setting `name` into *password (replacing it, wiped). */
static int config_read_password_file(const char *name, const char *path, char **password, char *errstr,
                                     size_t errstr_size) {
  char *line = NULL;
  if (config_read_secret_file(name, path, &line, errstr, errstr_size) != 0)
    return -1;
  if (*password)
    memset(*password, 0, strlen(*password));
  free(*password);
  *password = line;
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

/* A port: 1 to 5 digits, within [min, 65535]; 0 or -1. */
static int config_port_ok(const char *text, size_t len, long min) {
  if (len == 0 || len > 5)
    return -1;
  long port = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] < '0' || text[i] > '9')
      return -1;
    port = port * 10 + (text[i] - '0');
  }
  return port >= min && port <= 65535 ? 0 : -1;
}

/*
 * host[:port] of a URL's authority, or of http_listen (host may be empty
 * there, or a bracketed IPv6 address): the port part, or NULL when there is
 * none; -1 when a bracket is not closed.
 */
static int config_split_port(const char *hostport, size_t len, const char **port, size_t *port_len) {
  const char *end = hostport + len, *colon = NULL;
  if (len && hostport[0] == '[') {
    const char *close = memchr(hostport, ']', len);
    if (!close)
      return -1;
    if (close + 1 < end && close[1] != ':')
      return -1;
    colon = close + 1 < end ? close + 1 : NULL;
  } else {
    for (const char *p = hostport; p < end; p++)
      if (*p == ':')
        colon = p;
  }
  *port = colon ? colon + 1 : NULL;
  *port_len = colon ? (size_t)(end - colon - 1) : 0;
  return 0;
}

/* One IP Office URL: ws:// or wss://, a host, and a port in 1..65535 if any. */
static int config_check_url(const char *url, char *errstr, size_t errstr_size) {
  const char *rest = NULL;
  if (strncmp(url, "wss://", 6) == 0)
    rest = url + 6;
  else if (strncmp(url, "ws://", 5) == 0)
    rest = url + 5;
  if (!rest || !*rest || *rest == '/' || *rest == ':') {
    snprintf(errstr, errstr_size, "ipo_url: \"%s\" is not a ws:// or wss:// URL with a host", url);
    return -1;
  }
  size_t auth_len = strcspn(rest, "/?#");
  const char *port;
  size_t port_len;
  if (config_split_port(rest, auth_len, &port, &port_len) != 0) {
    snprintf(errstr, errstr_size, "ipo_url: \"%s\" has an unclosed [ in its host", url);
    return -1;
  }
  if (port && config_port_ok(port, port_len, 1) != 0) {
    snprintf(errstr, errstr_size, "ipo_url: \"%s\": port \"%.*s\" is not a number from 1 to 65535", url,
             (int)port_len, port);
    return -1;
  }
  return 0;
}

/* http_listen: host:port, port 0 to 65535 (0 picks one). */
static int config_check_listen(const char *listen, char *errstr, size_t errstr_size) {
  const char *port;
  size_t port_len;
  if (config_split_port(listen, strlen(listen), &port, &port_len) != 0 || !port) {
    snprintf(errstr, errstr_size, "http_listen: \"%s\" is not host:port", listen);
    return -1;
  }
  if (config_port_ok(port, port_len, 0) != 0) {
    snprintf(errstr, errstr_size, "http_listen: \"%s\": port \"%.*s\" is not a number from 0 to 65535", listen,
             (int)port_len, port);
    return -1;
  }
  return 0;
}

/* ipo_ca_file: readable, and at least one PEM certificate in it (what the TLS stack loads). */
static int config_check_ca_file(const char *path, char *errstr, size_t errstr_size) {
  FILE *ca = fopen(path, "r");
  if (!ca) {
    snprintf(errstr, errstr_size, "ipo_ca_file: cannot open \"%s\": %s", path, strerror(errno));
    return -1;
  }
  int certs = 0;
  STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read(ca, NULL, NULL, NULL);
  for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
    if (sk_X509_INFO_value(infos, i)->x509)
      certs++;
  sk_X509_INFO_pop_free(infos, X509_INFO_free);
  ERR_clear_error();
  fclose(ca);
  if (!certs) {
    snprintf(errstr, errstr_size, "ipo_ca_file: \"%s\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path);
    return -1;
  }
  return 0;
}

/*
 * log_file: a file that may be appended to, or a new one in a directory
 * that may be written (checked without creating it: --check-config writes
 * nothing).
 */
static int config_check_log_file(const char *path, char *errstr, size_t errstr_size) {
  char dir[4096];
  if (access(path, F_OK) == 0) {
    if (access(path, W_OK) != 0) {
      snprintf(errstr, errstr_size, "log_file: cannot write \"%s\": %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash == path ? 1 : slash - path) : 1, slash ? path : ".");
  if (access(dir, W_OK | X_OK) != 0) {
    snprintf(errstr, errstr_size, "log_file: cannot create \"%s\": %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Checks across settings, after every source is applied. */
/* What may differ per PBX: the link, its credentials, the subscriptions, the topic prefix. */
static int config_validate_pbx(config_t *config, const char *where, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *setting = &config_settings[i];
    if (!(setting->flags & CONFIG_REQUIRED) || !(setting->flags & CONFIG_PBX))
      continue;
    const char *v = *(char **)((char *)config + setting->offset);
    if (!v || !*v) {
      char env[64];
      cfgtext_env_name("MTCTI3_", setting->name, env, sizeof(env));
      if (where[0])
        snprintf(errstr, errstr_size, "%s: missing in %s", setting->name, where);
      else
        snprintf(errstr, errstr_size, "%s: missing (set %s, --%s or %s in the config file)", setting->name, env,
                 setting->name, setting->name);
      return -1;
    }
  }
  if (config->ipo_password_file[0] &&
      config_read_password_file("ipo_password_file", config->ipo_password_file, &config->ipo_password, errstr,
                                errstr_size) != 0)
    return -1;
  if (!config->ipo_password[0]) {
    if (where[0])
      snprintf(errstr, errstr_size, "ipo_password: missing in %s (ipo_password or ipo_password_file)", where);
    else
      snprintf(errstr, errstr_size, "ipo_password: missing (set MTCTI3_IPO_PASSWORD or MTCTI3_IPO_PASSWORD_FILE)");
    return -1;
  }
  /* every URL: ws:// or wss://, with a host, and a port in range */
  char urls[4096];
  snprintf(urls, sizeof(urls), "%s", config->ipo_url);
  for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save))
    if (config_check_url(u, errstr, errstr_size) != 0)
      return -1;
  /* a resilient pair: one URL each (a list of alternatives would blur which system is which) */
  if (config->ipo_secondary_url[0]) {
    size_t n_primary = 0, n_secondary = 0;
    snprintf(urls, sizeof(urls), "%s", config->ipo_url);
    for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save))
      n_primary++;
    snprintf(urls, sizeof(urls), "%s", config->ipo_secondary_url);
    for (char *save = NULL, *u = strtok_r(urls, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
      if (config_check_url(u, errstr, errstr_size) != 0) {
        char inner[512];
        snprintf(inner, sizeof(inner), "%s", errstr);
        snprintf(errstr, errstr_size, "ipo_secondary_url: %s", strncmp(inner, "ipo_url: ", 9) == 0 ? inner + 9 : inner);
        return -1;
      }
      n_secondary++;
    }
    if (n_primary != 1 || n_secondary != 1) {
      snprintf(errstr, errstr_size,
               "%s: with ipo_secondary_url set (a resilient pair), ipo_url is the primary's one URL and "
               "ipo_secondary_url the secondary's one URL (got %zu and %zu)",
               n_primary != 1 ? "ipo_url" : "ipo_secondary_url", n_primary, n_secondary);
      return -1;
    }
  }
  if (config->ipo_ca_file[0] && config_check_ca_file(config->ipo_ca_file, errstr, errstr_size) != 0)
    return -1;
  if (config->reconnect_max_ms < config->reconnect_min_ms) {
    snprintf(errstr, errstr_size, "reconnect_max_ms: %ld is less than reconnect_min_ms (%ld)",
             config->reconnect_max_ms, config->reconnect_min_ms);
    return -1;
  }
  char tz_err[256];
  if (qstats_timezone_check(config->queue_stats_timezone, tz_err, sizeof(tz_err)) != 0) {
    snprintf(errstr, errstr_size, "queue_stats_timezone: %s", tz_err);
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
  return 0;
}

/* What the process has once: Kafka, Redis, the command limits, HTTP. */
static int config_validate_global(config_t *config, char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *setting = &config_settings[i];
    if (!(setting->flags & CONFIG_REQUIRED) || (setting->flags & CONFIG_PBX))
      continue;
    const char *v = *(char **)((char *)config + setting->offset);
    if (!v || !*v) {
      char env[64];
      cfgtext_env_name("MTCTI3_", setting->name, env, sizeof(env));
      snprintf(errstr, errstr_size, "%s: missing (set %s, --%s or %s in the config file)", setting->name, env,
               setting->name, setting->name);
      return -1;
    }
  }
  if (config->commands_default_timeout_ms > config->commands_max_timeout_ms) {
    snprintf(errstr, errstr_size, "commands_default_timeout_ms: %ld exceeds commands_max_timeout_ms (%ld)",
             config->commands_default_timeout_ms, config->commands_max_timeout_ms);
    return -1;
  }
  if (!config->group[0]) { /* twins of one PBX meet in it; unrelated deployments do not */
    char group[300];
    if (config->section_count)
      snprintf(group, sizeof(group), "mtcti3-bridge");
    else
      snprintf(group, sizeof(group), "mtcti3-bridge-%s", config->pbx_id);
    if (config_set(config, config_find("group", 5), group, errstr, errstr_size) != 0)
      return -1;
    for (size_t i = 0; i < config->pbx_count; i++)
      if (config_set(config->pbx[i], config_find("group", 5), group, errstr, errstr_size) != 0)
        return -1;
  }
  if (config_validate_redis(config, errstr, errstr_size) != 0)
    return -1;
  if (config->http_listen[0] && config_check_listen(config->http_listen, errstr, errstr_size) != 0)
    return -1;
  if (config->log_file[0] && config_check_log_file(config->log_file, errstr, errstr_size) != 0)
    return -1;
  return 0;
}

/* A copy of every setting (strings duplicated), without PBXs or sections; NULL when out of memory. */
static config_t *config_clone(const config_t *src) {
  config_t *c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  *c = *src;
  c->pbx = NULL;
  c->pbx_count = 0;
  c->sections = NULL;
  c->section_count = 0;
  c->kafka = NULL;
  c->kafka_count = 0;
  int failed = 0;
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *setting = &config_settings[i];
    if (setting->type != CONFIG_STR && setting->type != CONFIG_ENUM)
      continue;
    char **field = (char **)((char *)c + setting->offset);
    if (*field && !(*field = strdup(*field)))
      failed = 1;
  }
  if (src->kafka_count && (c->kafka = calloc(src->kafka_count, sizeof(*c->kafka))) != NULL) {
    for (size_t i = 0; i < src->kafka_count; i++) {
      c->kafka[i].name = strdup(src->kafka[i].name);
      c->kafka[i].value = strdup(src->kafka[i].value);
      c->kafka_count++;
      failed |= !c->kafka[i].name || !c->kafka[i].value;
    }
  } else if (src->kafka_count) {
    failed = 1;
  }
  if (failed) {
    config_destroy(c);
    return NULL;
  }
  return c;
}

static int config_add_pbx(config_t *config, config_t *pbx) {
  config_t **grown = realloc(config->pbx, (config->pbx_count + 1) * sizeof(*grown));
  if (!grown)
    return -1;
  config->pbx = grown;
  config->pbx[config->pbx_count++] = pbx;
  return 0;
}

/*
 * The PBXs: the top level itself when there is no section; else one per
 * section, the top level's settings with the section's on top, its id as
 * pbx_id and, unless the section names one, <topic_prefix><id>. as its
 * prefix.  Ids and prefixes are unique.
 */
static int config_build_pbxs(config_t *config, char *errstr, size_t errstr_size) {
  if (!config->section_count) { /* the top level is the PBX (its password file read into it first) */
    if (config_validate_pbx(config, "", errstr, errstr_size) != 0)
      return -1;
    config_t *pbx = config_clone(config);
    if (!pbx || config_add_pbx(config, pbx) != 0) {
      config_destroy(pbx);
      snprintf(errstr, errstr_size, "config: out of memory");
      return -1;
    }
    return 0;
  }
  if (config->ipo_url[0]) {
    snprintf(errstr, errstr_size,
             "ipo_url: the config file has [pbx] sections: give each PBX's ipo_url in its section, none at the top");
    return -1;
  }
  for (size_t i = 0; i < config->section_count; i++) {
    const struct config_section *sec = &config->sections[i];
    char where[300], prefix[300];
    snprintf(where, sizeof(where), "[pbx %s] (%s:%d)", sec->id, sec->path, sec->lineno);
    config_t *pbx = config_clone(config);
    if (!pbx || config_add_pbx(config, pbx) != 0) {
      config_destroy(pbx);
      snprintf(errstr, errstr_size, "config: out of memory");
      return -1;
    }
    snprintf(prefix, sizeof(prefix), "%s%s.", config->topic_prefix, sec->id);
    if (config_set(pbx, config_find("pbx_id", 6), sec->id, errstr, errstr_size) != 0 ||
        config_set(pbx, config_find("topic_prefix", 12), prefix, errstr, errstr_size) != 0)
      return -1;
    for (size_t k = 0; k < sec->n; k++) {
      char sub[512];
      const config_setting_t *setting = config_find(sec->kv[k].name, strlen(sec->kv[k].name));
      if (config_set(pbx, setting, sec->kv[k].value, sub, sizeof(sub)) != 0) {
        snprintf(errstr, errstr_size, "%s (%s:%d)", sub, sec->path, sec->kv[k].lineno);
        return -1;
      }
    }
    if (config_validate_pbx(pbx, where, errstr, errstr_size) != 0)
      return -1;
    for (size_t j = 0; j < i; j++) {
      if (strcmp(config->pbx[j]->topic_prefix, pbx->topic_prefix) == 0) {
        snprintf(errstr, errstr_size, "topic_prefix: [pbx %s] and [pbx %s] share \"%s\": each PBX has its own topics",
                 config->pbx[j]->pbx_id, pbx->pbx_id, pbx->topic_prefix);
        return -1;
      }
    }
  }
  return 0;
}

void config_destroy(config_t *config) {
  if (!config)
    return;
  for (size_t i = 0; i < config->pbx_count; i++)
    config_destroy(config->pbx[i]);
  free(config->pbx);
  config_sections_free(config);
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
    if (config->kafka[i].value && config->kafka[i].name && config_kafka_secret(config->kafka[i].name))
      memset(config->kafka[i].value, 0, strlen(config->kafka[i].value));
    free(config->kafka[i].name);
    free(config->kafka[i].value);
  }
  free(config->kafka);
  free(config);
}

void config_changes(const config_t *a, const config_t *b,
                    void (*cb)(void *opaque, const char *name, int reloadable), void *opaque) {
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *s = &config_settings[i];
    const char *fa = (const char *)a + s->offset, *fb = (const char *)b + s->offset;
    int same;
    switch (s->type) {
    case CONFIG_INT:
      same = *(const long *)fa == *(const long *)fb;
      break;
    case CONFIG_BOOL:
      same = *(const int *)fa == *(const int *)fb;
      break;
    default: {
      const char *va = *(char *const *)fa, *vb = *(char *const *)fb;
      same = strcmp(va ? va : "", vb ? vb : "") == 0;
      break;
    }
    }
    if (!same)
      cb(opaque, s->name, (s->flags & CONFIG_RELOAD) != 0);
  }
  int same = a->kafka_count == b->kafka_count;
  for (size_t i = 0; same && i < a->kafka_count; i++)
    same = strcmp(a->kafka[i].name, b->kafka[i].name) == 0 && strcmp(a->kafka[i].value, b->kafka[i].value) == 0;
  if (!same)
    cb(opaque, "kafka.*", 0);
}

void config_print_help(void *out, const char *prog) {
  FILE *fp = out;
  fprintf(fp,
          "Usage: %s [--name=value ...]\n"
          "Bridges an Avaya IP Office (MTCTI3) to Kafka: snapshot-diff events per line, user,\n"
          "queue and call.  Every setting can be given as a flag (--name=value or --name value),\n"
          "an environment variable (MTCTI3_NAME) or a line `name = value` in the config file.\n"
          "Precedence: flag > environment > config file > default.\n"
          "librdkafka properties pass through as kafka.<property> (--kafka.security.protocol=SSL),\n"
          "or from the environment as MTCTI3_KAFKA__<PROPERTY> ('.' as '_', '_' as '__', '-' as '___':\n"
          "MTCTI3_KAFKA__SASL_MECHANISM); secret ones (password, secret) also from a file:\n"
          "kafka.sasl.password_file=PATH or MTCTI3_KAFKA__SASL_PASSWORD_FILE=PATH.\n"
          "Other flags: --help, --help-markdown, --version, --check-config.\n\n",
          prog);
  for (size_t i = 0; i < CONFIG_N; i++) {
    const config_setting_t *s = &config_settings[i];
    char env[64];
    cfgtext_env_name("MTCTI3_", s->name, env, sizeof(env));
    fprintf(fp, "  --%-20s %s%s%s\n", s->name, s->help, (s->flags & CONFIG_SECRET) ? " [secret]" : "",
            (s->flags & CONFIG_RELOAD) ? " [reloaded on SIGHUP]" : "");
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
    cfgtext_env_name("MTCTI3_", s->name, env, sizeof(env));
    fprintf(fp, "| `%s` | `%s` | %s%s%s | %s%s%s%s%s |\n", s->name, env, s->def[0] ? "`" : "",
            s->def[0] ? s->def : "(empty)", s->def[0] ? "`" : "", s->help,
            s->choices ? " (one of: " : "", s->choices ? s->choices : "", s->choices ? ")" : "",
            (s->flags & CONFIG_RELOAD) ? "; reloaded on SIGHUP" : "");
  }
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
  const char *file = cfgtext_env_get(envp, "MTCTI3_CONFIG");
  switch (cfgtext_first_pass(argc, argv, &file)) {
  case CFGTEXT_HELP:
    config_print_help(out, argv[0]);
    *action = CONFIG_EXIT_OK;
    goto done;
  case CFGTEXT_MARKDOWN:
    config_print_markdown(out);
    *action = CONFIG_EXIT_OK;
    goto done;
  case CFGTEXT_VERSION:
    fprintf(out, "mtcti3-bridge %s\n", MTCTI3_VERSION);
    *action = CONFIG_EXIT_OK;
    goto done;
  case CFGTEXT_RUN:
    break;
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
    cfgtext_env_name("MTCTI3_", s->name, env, sizeof(env));
    const char *v = cfgtext_env_get(envp, env);
    if (v && config_set(config, s, v, errstr, errstr_size) != 0)
      goto fail;
  }
  if (config_kafka_env(config, envp, errstr, errstr_size) != 0)
    goto fail;

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

  /* the PBXs first: their settings come first in the table, as do their errors */
  if (config_build_pbxs(config, errstr, errstr_size) != 0 ||
      config_validate_global(config, errstr, errstr_size) != 0)
    goto fail;
  if (check_only)
    *action = CONFIG_CHECK;
done:
  *configp = config;
  return 0;
fail:
  config_destroy(config);
  return -1;
}
