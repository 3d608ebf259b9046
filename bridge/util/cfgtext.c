/*
 * cfgtext: reading settings' text.  See cfgtext.h.
 */
#include "cfgtext.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

char *cfgtext_trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

const char *cfgtext_env_get(char **envp, const char *name) {
  size_t len = strlen(name);
  for (char **e = envp; e && *e; e++)
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
      return *e + len + 1;
  return NULL;
}

void cfgtext_env_name(const char *prefix, const char *name, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "%s", prefix);
  if (n >= size)
    n = size - 1;
  for (const char *p = name; *p && n + 1 < size; p++)
    out[n++] = (char)toupper((unsigned char)*p);
  out[n] = '\0';
}

int cfgtext_choice_ok(const char *choices, const char *value) {
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

int cfgtext_parse_bool(const char *text, int *out) {
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

cfgtext_line_t cfgtext_line(char *line, char **name, char **value) {
  char *s = cfgtext_trim(line);
  *name = *value = NULL;
  if (!*s || *s == '#')
    return CFGTEXT_LINE_EMPTY;
  if (*s == '[') {
    *name = s;
    return CFGTEXT_LINE_SECTION;
  }
  char *eq = strchr(s, '=');
  if (!eq)
    return CFGTEXT_LINE_BAD;
  *eq = '\0';
  *name = cfgtext_trim(s);
  char *v = cfgtext_trim(eq + 1);
  size_t vlen = strlen(v);
  if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
    v[vlen - 1] = '\0';
    v++;
  }
  *value = v;
  return CFGTEXT_LINE_SETTING;
}

cfgtext_flag_t cfgtext_first_pass(int argc, char **argv, const char **file) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
      return CFGTEXT_HELP;
    if (strcmp(a, "--help-markdown") == 0)
      return CFGTEXT_MARKDOWN;
    if (strcmp(a, "--version") == 0)
      return CFGTEXT_VERSION;
    if (strcmp(a, "--config") == 0 && i + 1 < argc)
      *file = argv[i + 1];
    else if (strncmp(a, "--config=", 9) == 0)
      *file = a + 9;
  }
  return CFGTEXT_RUN;
}
