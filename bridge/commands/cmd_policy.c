/*
 * cmd_policy: allow-lists of actions, users and queues.  See cmd_policy.h.
 */
#include "cmd_policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cmd_policy_list {
  int present;  /* 0: the key was absent, everything allowed */
  char **patterns;
  size_t n;
} cmd_policy_list_t;

struct cmd_policy {
  cmd_policy_list_t actions, users, queues;
};

static void list_free(cmd_policy_list_t *list) {
  size_t i;

  for (i = 0; i < list->n; i++)
    free(list->patterns[i]);
  free(list->patterns);
  memset(list, 0, sizeof(*list));
}

void cmd_policy_free(cmd_policy_t *policy) {
  if (!policy)
    return;
  list_free(&policy->actions);
  list_free(&policy->users);
  list_free(&policy->queues);
  free(policy);
}

static int all_digits(const char *s, size_t n) {
  size_t i;

  if (n == 0 || n > 18)
    return 0;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
  }
  return 1;
}

/* "LOW-HIGH" with both sides digits: 1 and the bounds. */
static int range_parse(const char *p, long long *lo, long long *hi) {
  const char *dash = strchr(p, '-');

  if (!dash || !all_digits(p, (size_t)(dash - p)) || !all_digits(dash + 1, strlen(dash + 1)))
    return 0;
  *lo = strtoll(p, NULL, 10);
  *hi = strtoll(dash + 1, NULL, 10);
  return 1;
}

static int pattern_match(const char *pattern, const char *s) {
  long long lo, hi, v;

  if (!s)
    return 0;
  if (range_parse(pattern, &lo, &hi)) {
    if (!all_digits(s, strlen(s)))
      return 0;
    v = strtoll(s, NULL, 10);
    return v >= lo && v <= hi;
  }
  return fnmatch(pattern, s, 0) == 0;
}

static int action_match(const char *pattern, const cmd_action_t *action) {
  if (pattern[0] == '@')
    return strcmp(pattern + 1, cmd_scope_name(action->scope)) == 0;
  return fnmatch(pattern, action->name, 0) == 0;
}

/* Does an action pattern name at least one action?  (Catches typos.) */
static int action_pattern_known(const char *pattern) {
  const cmd_action_t *actions;
  size_t n, i;

  actions = cmd_actions(&n);
  for (i = 0; i < n; i++) {
    if (action_match(pattern, &actions[i]))
      return 1;
  }
  return 0;
}

static int list_load(const json_t *root, const char *key, int is_actions, cmd_policy_list_t *list,
                     const char *origin, char *errstr, size_t errstr_size) {
  json_t *arr = json_object_get(root, key), *v;
  long long lo, hi;
  const char *p;
  size_t i;

  if (!arr)
    return 0;
  if (!json_is_array(arr)) {
    snprintf(errstr, errstr_size, "%s: %s: must be an array of strings", origin, key);
    return -1;
  }
  list->present = 1;
  list->patterns = calloc(json_array_size(arr) + 1, sizeof(char *));
  if (!list->patterns) {
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return -1;
  }
  json_array_foreach(arr, i, v) {
    p = json_string_value(v);
    if (!p || !p[0]) {
      snprintf(errstr, errstr_size, "%s: %s[%zu]: must be a non-empty string", origin, key, i);
      return -1;
    }
    if (range_parse(p, &lo, &hi) && lo > hi) {
      snprintf(errstr, errstr_size, "%s: %s[%zu]: range \"%s\" is empty", origin, key, i, p);
      return -1;
    }
    if (is_actions && !action_pattern_known(p)) {
      snprintf(errstr, errstr_size, "%s: %s[%zu]: \"%.64s\" names no action", origin, key, i, p);
      return -1;
    }
    list->patterns[list->n] = strdup(p);
    if (!list->patterns[list->n]) {
      snprintf(errstr, errstr_size, "%s: out of memory", origin);
      return -1;
    }
    list->n++;
  }
  return 0;
}

int cmd_policy_parse(const char *text, size_t len, const char *origin, cmd_policy_t **out,
                     char *errstr, size_t errstr_size) {
  static const char *const keys[] = {"actions", "users", "queues", NULL};
  cmd_policy_t *policy = calloc(1, sizeof(*policy));
  json_t *root = NULL, *v;
  json_error_t jerr;
  const char *key;
  int i;

  *out = NULL;
  if (!policy) {
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    goto fail;
  }
  if (!text) { /* no file: allow all */
    *out = policy;
    return 0;
  }
  root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root || !json_is_object(root)) {
    snprintf(errstr, errstr_size, "%s:%d:%d: %s", origin, root ? 1 : jerr.line,
             root ? 1 : jerr.column, root ? "the policy is a JSON object" : jerr.text);
    goto fail;
  }
  json_object_foreach(root, key, v) {
    for (i = 0; keys[i] && strcmp(keys[i], key) != 0; i++)
      ;
    if (!keys[i]) {
      snprintf(errstr, errstr_size, "%s: \"%.64s\": unknown key (actions, users, queues)", origin,
               key);
      goto fail;
    }
  }
  if (list_load(root, "actions", 1, &policy->actions, origin, errstr, errstr_size) < 0 ||
      list_load(root, "users", 0, &policy->users, origin, errstr, errstr_size) < 0 ||
      list_load(root, "queues", 0, &policy->queues, origin, errstr, errstr_size) < 0)
    goto fail;
  json_decref(root);
  *out = policy;
  return 0;

fail:
  json_decref(root);
  cmd_policy_free(policy);
  return -1;
}

int cmd_policy_load(const char *path, cmd_policy_t **policy, char *errstr, size_t errstr_size) {
  FILE *f;
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  int rc;

  if (!path || !path[0])
    return cmd_policy_parse(NULL, 0, "policy", policy, errstr, errstr_size);
  *policy = NULL;
  f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return -1;
  }
  for (;;) {
    if (cap - len < 4096) {
      char *grown = cap > (1u << 24) ? NULL : realloc(text, cap + 8192);
      if (!grown) {
        snprintf(errstr, errstr_size, "%s: too big or out of memory", path);
        free(text);
        fclose(f);
        return -1;
      }
      text = grown;
      cap += 8192;
    }
    n = fread(text + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  if (ferror(f)) {
    snprintf(errstr, errstr_size, "%s: read error", path);
    free(text);
    fclose(f);
    return -1;
  }
  fclose(f);
  rc = cmd_policy_parse(text, len, path, policy, errstr, errstr_size);
  free(text);
  return rc;
}

static int list_allows(const cmd_policy_list_t *list, const char *a, const char *b) {
  size_t i;

  if (!list->present)
    return 1;
  for (i = 0; i < list->n; i++) {
    if (pattern_match(list->patterns[i], a) || pattern_match(list->patterns[i], b))
      return 1;
  }
  return 0;
}

int cmd_policy_check(const cmd_policy_t *policy, const cmd_t *cmd, const char *target_extn,
                     char *reason, size_t reason_size) {
  const cmd_action_t *action = cmd_action(cmd);
  size_t i;
  int ok = !policy->actions.present;

  for (i = 0; !ok && i < policy->actions.n; i++)
    ok = action_match(policy->actions.patterns[i], action);
  if (!ok) {
    snprintf(reason, reason_size, "denied: action %s is not in the policy's actions",
             action->name);
    return 0;
  }
  switch (cmd_target_kind(cmd)) {
  case CMD_TARGET_USER:
    if (!list_allows(&policy->users, target_extn, cmd_target(cmd))) {
      snprintf(reason, reason_size, "denied: user %.64s is not in the policy's users",
               target_extn ? target_extn : cmd_target(cmd));
      return 0;
    }
    break;
  case CMD_TARGET_QUEUE:
    if (!list_allows(&policy->queues, target_extn, cmd_target(cmd))) {
      snprintf(reason, reason_size, "denied: queue %.64s is not in the policy's queues",
               cmd_target(cmd));
      return 0;
    }
    break;
  case CMD_TARGET_PARKSERVER: /* a parked call is nobody's line: the actions decide */
  case CMD_TARGET_NONE:
    break;
  }
  return 1;
}

int cmd_policy_check_user(const cmd_policy_t *policy, const char *extn, const char *name, const char *what,
                          char *reason, size_t reason_size) {
  if (list_allows(&policy->users, extn, name))
    return 1;
  snprintf(reason, reason_size, "denied: %s %.64s is not in the policy's users", what, extn ? extn : name);
  return 0;
}
