/*
 * cfgtext: the text side of a settings table, shared by every program of
 * the project that reads settings from flags, the environment and a config
 * file (the bridge's ops/config.c, the wallboard's wb_config.c).
 *
 * DESIGN.  Each program keeps its own table (names, types, defaults, help)
 * and what a value means; this module only reads text: a config file's
 * lines, environment lookups, an environment variable's name, choice lists,
 * booleans, and the first pass over the flags (--help, --help-markdown,
 * --version, --config).  Pure functions, no allocation.
 */
#ifndef CFGTEXT_H
#define CFGTEXT_H

#include <stddef.h>

/* `s` without its leading and trailing white space (trailing ones cut in place). */
char *cfgtext_trim(char *s);

/* The value of `name` in `envp` ("NAME=value"); NULL when absent. */
const char *cfgtext_env_get(char **envp, const char *name);

/* `prefix` and the setting's name upper-cased: ("MTCTI3_", "log_level") -> "MTCTI3_LOG_LEVEL". */
void cfgtext_env_name(const char *prefix, const char *name, char *out, size_t size);

/* Whether `value` is one of `choices` ("text|json"). */
int cfgtext_choice_ok(const char *choices, const char *value);

/* true/yes/on/1 and false/no/off/0, any case: 0 and *out, or -1. */
int cfgtext_parse_bool(const char *text, int *out);

typedef enum cfgtext_line {
  CFGTEXT_LINE_BAD = -1,  /* neither: "expected `name = value`" */
  CFGTEXT_LINE_EMPTY = 0, /* blank, or a # comment */
  CFGTEXT_LINE_SETTING,   /* name = value: *name and *value trimmed, the value's enclosing quotes removed */
  CFGTEXT_LINE_SECTION    /* [...]: *name is the whole trimmed line */
} cfgtext_line_t;

/* One line of a config file, cut in place (*name and *value point into it). */
cfgtext_line_t cfgtext_line(char *line, char **name, char **value);

typedef enum cfgtext_flag {
  CFGTEXT_RUN,      /* none of the flags below */
  CFGTEXT_HELP,     /* --help or -h */
  CFGTEXT_MARKDOWN, /* --help-markdown */
  CFGTEXT_VERSION   /* --version */
} cfgtext_flag_t;

/*
 * The first pass over the flags: the first of --help, -h, --help-markdown,
 * --version met, and the config file named by --config FILE or
 * --config=FILE into *file (left as it is when none names one).
 */
cfgtext_flag_t cfgtext_first_pass(int argc, char **argv, const char **file);

#endif
