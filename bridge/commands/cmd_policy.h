/*
 * cmd_policy: the operator's bounds on what commands may do.
 *
 * DESIGN.  The PBX puts no limit on an MTCTI3 application, so the operator
 * can: a JSON file of allow-lists, read once at start (docs/commands.md,
 * "Policy file"):
 *
 *   {"actions": ["@call", "make_call", "set_*"],
 *    "users":   ["201", "2000-2999", "3*"],
 *    "queues":  ["Sales", "7000-7099"]}
 *
 * A list that is absent allows everything of its kind; an empty list allows
 * nothing.  A pattern is an exact name, a glob (* and ?), a numeric range
 * "LOW-HIGH" (digits only, matched against numeric extensions), or, for
 * actions, "@<scope>" (call, new_call, user, queue, pbx, bridge).  A call
 * action on the park server is bounded by the actions alone (a parked call
 * is no user's or queue's line); a short code run on behalf of another user
 * needs that user in the users list too.  Without a file everything is
 * allowed.  A bad file is a one-line error naming what is
 * wrong.  Checked on the loop thread after the target is resolved.
 */
#ifndef CMD_POLICY_H
#define CMD_POLICY_H

#include <stddef.h>

#include "cmd_parse.h"

typedef struct cmd_policy cmd_policy_t;

/* Read the policy file at `path`; NULL or "" gives the allow-all policy.
 * 0 and *policy (free with cmd_policy_free), or -1 with errstr. */
int cmd_policy_load(const char *path, cmd_policy_t **policy, char *errstr, size_t errstr_size);
/* The same from JSON text (`origin` names it in errors). */
int cmd_policy_parse(const char *text, size_t len, const char *origin, cmd_policy_t **policy,
                     char *errstr, size_t errstr_size);
void cmd_policy_free(cmd_policy_t *policy);

/*
 * May `cmd` run?  target_extn is the resolved extension of the command's user
 * or queue (NULL when unknown or none); the command's own target string
 * (a queue name, say) is matched too.  Returns 1, or 0 with reason filled
 * ("denied: action force_clear is not in the policy's actions").
 */
int cmd_policy_check(const cmd_policy_t *policy, const cmd_t *cmd, const char *target_extn,
                     char *reason, size_t reason_size);

/*
 * May a command act on the user `extn` (resolved; NULL when unknown) named
 * `name` by the command, besides its target (a short code's onbehalf)?  1,
 * or 0 with reason ("denied: onbehalf 2005 is not in the policy's users";
 * `what` names the argument).
 */
int cmd_policy_check_user(const cmd_policy_t *policy, const char *extn, const char *name, const char *what,
                          char *reason, size_t reason_size);

#endif
