/*
 * cmd_action: every action a command may name, in one table.
 *
 * DESIGN.  cmd_actions() is the only list of actions (issue #5, section 2).
 * Each row says what the action acts on (its scope), how it is built (a
 * CallFunction action, a MakeCall, an UpdateUser payload, ...), which
 * featuresavailable bit must be set before it is tried (the spec: "only try
 * to do this if bitN of featuresavailable is set"), the line kinds the spec
 * allows it on, and its arguments with their limits.  The same table drives
 * validation (cmd_parse), the MTCTI3 message (cmd_build), the action
 * reference in docs/commands.md and schemas/command.schema.json (cmd_gen), so
 * none of them can disagree.  Pure data; no I/O.
 */
#ifndef CMD_ACTION_H
#define CMD_ACTION_H

#include <stddef.h>
#include <stdint.h>

/* What an action acts on, and so which of target/call a command needs. */
typedef enum cmd_scope {
  CMD_SCOPE_CALL,     /* an existing call: target user or queue, and call */
  CMD_SCOPE_NEW_CALL, /* a new call on a user: target user, no call */
  CMD_SCOPE_USER,     /* a user's settings: target user */
  CMD_SCOPE_QUEUE,    /* a queue's settings: target queue */
  CMD_SCOPE_PBX,      /* the PBX as a whole (GeneralCmd): no target */
  CMD_SCOPE_BRIDGE    /* the bridge itself: target optional */
} cmd_scope_t;

/* Which featuresavailable word holds the bit an action needs. */
typedef enum cmd_feature_word {
  CMD_FEAT_NONE,  /* no bit to check */
  CMD_FEAT_CALL,  /* CallInfo.featuresavailable (CODEC_CF_*) */
  CMD_FEAT_CALL2, /* CallInfo.featuresavailable2 (bit 0: AnswerPage) */
  CMD_FEAT_USER   /* NotifyUser.featuresavailable (CODEC_UF_*) */
} cmd_feature_word_t;

/* Line kinds a call action may be done on (the spec's "Line types"). */
#define CMD_LINE_USER 0x1u
#define CMD_LINE_QUEUE 0x2u
#define CMD_LINE_PARK 0x4u /* the park server: target {"parkserver": "<slot>"} */

/* How cmd_build turns the action into an MTCTI3 Message. */
typedef enum cmd_build_kind {
  CMD_BUILD_CALLFUNCTION, /* SubscribeCmd.callcontrol.callfunction */
  CMD_BUILD_MAKECALL,     /* SubscribeCmd.callcontrol.makecall (MakeCall.type: makecall_type) */
  CMD_BUILD_UNPARK,       /* SubscribeCmd.callcontrol.unparkcall */
  CMD_BUILD_USER_SAC,     /* SubscribeCmd.user.sac */
  CMD_BUILD_USER_ABSENCE,
  CMD_BUILD_USER_EC500,
  CMD_BUILD_USER_SHORTCODE,
  CMD_BUILD_USER_LOGIN,
  CMD_BUILD_USER_APP,
  CMD_BUILD_USER_FWDU,
  CMD_BUILD_USER_MAILBOX, /* short code 70, ";new,old,saved" */
  CMD_BUILD_QUEUE_SERVICEMODE,
  CMD_BUILD_QUEUE_VOICEMAIL,
  CMD_BUILD_QUEUE_MEMBERS,
  CMD_BUILD_QUEUE_ADDMEMBER,
  CMD_BUILD_QUEUE_DELMEMBER,
  CMD_BUILD_GETVERSION,   /* GeneralCmd.getversioninfo */
  CMD_BUILD_GETFILE,      /* GeneralCmd.getfile */
  CMD_BUILD_NONE          /* done by the bridge itself (snapshot) */
} cmd_build_kind_t;

typedef enum cmd_arg_type {
  CMD_ARG_STRING,  /* JSON string; min..max characters (code points) of `chars` */
  CMD_ARG_INT,     /* JSON integer in min..max */
  CMD_ARG_BOOL,    /* JSON true/false */
  CMD_ARG_ENUM,    /* JSON string, one of `choices` */
  CMD_ARG_CALLIDS, /* JSON integer callid, or an array of min..max of them */
  CMD_ARG_MEMBERS, /* array (min..max) of extensions or {extn, disabled} */
  CMD_ARG_ENUMS    /* array (min..max) of distinct `choices` */
} cmd_arg_type_t;

/* The characters a string argument may hold. */
typedef enum cmd_charset {
  CMD_CHARS_TEXT,  /* any UTF-8 without control characters */
  CMD_CHARS_DIAL,  /* 0-9 * # */
  CMD_CHARS_EXTN,  /* 0-9 (an extension number) */
  CMD_CHARS_PHONE, /* 0-9 * # + (a number the PBX may call) */
  CMD_CHARS_FILE   /* printable ASCII without space */
} cmd_charset_t;

/* What the argument is in the built message (cmd_build reads this). */
typedef enum cmd_arg_role {
  CMD_ROLE_NAMED,      /* read by name by the action's builder */
  CMD_ROLE_ARG1,       /* CallFunction.arg1, as given */
  CMD_ROLE_ARG1_INT,   /* CallFunction.arg1, the integer as text */
  CMD_ROLE_ARG1_TRUE1, /* CallFunction.arg1 = "1" when true (finish) */
  CMD_ROLE_CALLINST,   /* CallFunction.callinst[].callid */
  CMD_ROLE_MF_LREF,    /* CallFunction.memberfunctiondata.lref */
  CMD_ROLE_MF_OP,      /* CallFunction.memberfunctiondata.action */
  CMD_ROLE_AGENTREC,   /* CallFunction.agentrecording.pause / resume */
  CMD_ROLE_DEVICE      /* UpdateCallControl.devicehint */
} cmd_arg_role_t;

typedef struct cmd_arg {
  const char *name;
  cmd_arg_type_t type;
  int required;
  int secret;   /* never logged, stored or echoed (password, auth code) */
  long min;     /* STRING: characters; INT: value; lists: items */
  long max;
  cmd_charset_t chars;
  const char *const *choices; /* ENUM, ENUMS: NULL-terminated */
  cmd_arg_role_t role;
  const char *help;   /* one line, for the docs and the schema */
} cmd_arg_t;

typedef struct cmd_action {
  const char *name;     /* "blind_transfer" */
  cmd_scope_t scope;
  cmd_build_kind_t build;
  int cf_action;        /* CallFunction__Action for CMD_BUILD_CALLFUNCTION, else -1 */
  unsigned lines;       /* CMD_LINE_*: line kinds the action may target */
  cmd_feature_word_t feature_word;
  uint32_t feature_mask; /* the bit that must be set, 0 when none */
  const cmd_arg_t *args;
  size_t n_args;
  const char *summary;  /* one line */
  int makecall_type;    /* CMD_BUILD_MAKECALL: MakeCall.type (0 a normal call, 104 page, ...) */
} cmd_action_t;

/* The whole table, in the issue's order; *count receives its length. */
const cmd_action_t *cmd_actions(size_t *count);
/* The row named `name`, or NULL. */
const cmd_action_t *cmd_action_find(const char *name);
/* The argument named `name` of `action`, or NULL. */
const cmd_arg_t *cmd_action_arg(const cmd_action_t *action, const char *name);
/* "call", "new_call", "user", "queue", "pbx", "bridge". */
const char *cmd_scope_name(cmd_scope_t scope);
/* "0-9*#"-style description of a charset, for reasons and docs. */
const char *cmd_charset_name(cmd_charset_t chars);
/* 1 when every character of the NUL-terminated UTF-8 `s` is in `chars`. */
int cmd_charset_ok(cmd_charset_t chars, const char *s);
/* The spec's name of a MakeCall.type ("Page Call"), or NULL for 0 and unknown types. */
const char *cmd_makecall_type_name(int type);
/* Name of the featuresavailable bit the action needs ("PARK"), or NULL. */
const char *cmd_action_feature_name(const cmd_action_t *action);

/*
 * May `action` be tried now?  `call_features` / `call_features2` are the
 * call's current CallInfo.featuresavailable(2) (ignored for actions on no
 * call), `user_features` the target user's NotifyUser.featuresavailable (a
 * user word without the VALID bit is from an older PBX and allows all).
 * Returns 1, or 0 with a one-line reason ("featuresavailable lacks PARK").
 */
int cmd_action_available(const cmd_action_t *action, uint32_t call_features,
                         uint32_t call_features2, uint32_t user_features, char *reason,
                         size_t reason_size);

#endif
