/*
 * cmd_action: the table of actions.  See cmd_action.h.
 *
 * Limits come from the spec's "Call functions individually described"
 * (argument lengths and characters, the featuresavailable bit, the line
 * types: DropCall, BlindTransfer, SetTag and ForceClear also on the park
 * server), its MakeCall section (the special call types 104 to 116), its
 * UpdateUser and presence sections (absence text at most 21, application
 * presence at most 34) and, where the spec is silent (a short code's
 * onbehalf, a teleworker connection), from the bridge (noted in the
 * argument's help).
 */
#include "cmd_action.h"

#include <stdio.h>
#include <string.h>

#include "codec_tables.h"
#include "ipo_mtcti3.pb-c.h"

/* Row builders, so every argument reads as one line. */
#define A_STR(name, req, secret, lo, hi, chars, role, help) \
  {name, CMD_ARG_STRING, req, secret, lo, hi, chars, NULL, role, help}
#define A_INT(name, req, lo, hi, role, help) \
  {name, CMD_ARG_INT, req, 0, lo, hi, CMD_CHARS_TEXT, NULL, role, help}
#define A_BOOL(name, req, role, help) \
  {name, CMD_ARG_BOOL, req, 0, 0, 1, CMD_CHARS_TEXT, NULL, role, help}
#define A_ENUM(name, req, choices, role, help) \
  {name, CMD_ARG_ENUM, req, 0, 0, 0, CMD_CHARS_TEXT, choices, role, help}

#define REQ 1
#define OPT 0
#define SECRET 1
#define PLAIN 0

/* The spec: transfer and dial targets are 1 to 78 characters. */
#define TARGET_MAX 78
/* Extensions: IP Office extension numbers have at most 15 digits. */
#define EXTN_MAX 15
/* A user named by extension, name, e-mail or GUID: as long as a command's target may be. */
#define USER_NAME_MAX 64
/* A teleworker's number: under 32 characters (the bridge's bound; the spec gives none). */
#define PHONE_MAX 31

static const char *const member_ops[] = {"drop", "mute_on", "mute_off", NULL};
static const char *const agentrec_ops[] = {"pause", "resume", NULL};
static const char *const devices[] = {"desk", "mobile", "softphone", NULL};
static const char *const service_modes[] = {"active", "night_service", "out_of_service", NULL};
static const char *const snapshot_topics[] = {"calls", "presence", "queues", "lines", NULL};

/* ---- arguments, one array per action that takes any ---- */

static const cmd_arg_t args_answer[] = {
  A_ENUM("device", OPT, devices, CMD_ROLE_DEVICE,
         "answer on this kind of device (UpdateCallControl.devicehint)"),
};
static const cmd_arg_t args_to_required[] = {
  A_STR("to", REQ, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_ARG1,
        "destination: 1 to 78 characters, normally 0-9 * #"),
};
static const cmd_arg_t args_to_optional[] = {
  A_STR("to", OPT, PLAIN, 0, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_ARG1,
        "complete number to dial for the new call; without it the call gets dial tone"),
};
static const cmd_arg_t args_dial[] = {
  A_STR("digits", REQ, PLAIN, 1, TARGET_MAX, CMD_CHARS_DIAL, CMD_ROLE_ARG1,
        "digits appended to the dialled string (overlap dialling)"),
};
static const cmd_arg_t args_park[] = {
  A_STR("slot", REQ, PLAIN, 1, 9, CMD_CHARS_DIAL, CMD_ROLE_ARG1, "park slot"),
};
static const cmd_arg_t args_complete_transfer[] = {
  {"with", CMD_ARG_CALLIDS, OPT, PLAIN, 1, 1, CMD_CHARS_TEXT, NULL, CMD_ROLE_CALLINST,
   "callid of the call to transfer to, instead of the related call"},
};
static const cmd_arg_t args_complete_conf[] = {
  {"with", CMD_ARG_CALLIDS, OPT, PLAIN, 1, 16, CMD_CHARS_TEXT, NULL, CMD_ROLE_CALLINST,
   "callid, or array of callids, to conference in, instead of the related call"},
};
static const cmd_arg_t args_member_function[] = {
  A_INT("lref", REQ, 0, 2147483647L, CMD_ROLE_MF_LREF,
        "the conference member (ConferenceMember.lref)"),
  A_ENUM("op", REQ, member_ops, CMD_ROLE_MF_OP, "what to do to the member"),
};
static const cmd_arg_t args_tag[] = {
  A_STR("tag", REQ, PLAIN, 0, 127, CMD_CHARS_TEXT, CMD_ROLE_ARG1,
        "call tag; empty clears it"),
};
static const cmd_arg_t args_account_code[] = {
  A_STR("code", REQ, PLAIN, 0, 15, CMD_CHARS_TEXT, CMD_ROLE_ARG1,
        "account code configured on the PBX; empty clears it"),
};
static const cmd_arg_t args_auth_code[] = {
  A_STR("code", REQ, SECRET, 0, 15, CMD_CHARS_TEXT, CMD_ROLE_ARG1,
        "authorization code; empty clears it"),
};
static const cmd_arg_t args_generate_digits[] = {
  A_STR("digits", REQ, PLAIN, 1, 32, CMD_CHARS_DIAL, CMD_ROLE_ARG1, "DTMF digits to play"),
};
static const cmd_arg_t args_agent_recording[] = {
  A_ENUM("op", REQ, agentrec_ops, CMD_ROLE_AGENTREC, "pause or resume the system recording"),
};
static const cmd_arg_t args_priority[] = {
  A_INT("priority", REQ, 1, 3, CMD_ROLE_ARG1_INT, "1 low, 2 medium, 3 high"),
};
static const cmd_arg_t args_finish[] = {
  A_BOOL("now", OPT, CMD_ROLE_ARG1_TRUE1,
         "true: report the call at once on any new queue (arg1 \"1\")"),
};
static const cmd_arg_t args_make_call[] = {
  A_STR("to", OPT, PLAIN, 0, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "number to dial; empty or absent: the call gets dial tone"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the new call, seen in its CallInfo; default: the requestid"),
  A_STR("account_code", OPT, PLAIN, 0, 15, CMD_CHARS_TEXT, CMD_ROLE_NAMED, "account code"),
  A_STR("auth_code", OPT, SECRET, 0, 15, CMD_CHARS_TEXT, CMD_ROLE_NAMED, "authorization code"),
  A_STR("tag", OPT, PLAIN, 0, 127, CMD_CHARS_TEXT, CMD_ROLE_NAMED, "call tag"),
  A_BOOL("withhold_cli", OPT, CMD_ROLE_NAMED, "make the call anonymously"),
  A_BOOL("privacy", OPT, CMD_ROLE_NAMED, "do not allow others to intrude"),
  A_STR("madn", OPT, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "call origin for a campaign call"),
  A_BOOL("allow_cli", OPT, CMD_ROLE_NAMED, "reveal the CLI on a phone set to hide it"),
  A_STR("explicit_cli", OPT, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "CLI for the outgoing call"),
  A_ENUM("device", OPT, devices, CMD_ROLE_DEVICE, "make the call from this kind of device"),
};
static const cmd_arg_t args_page[] = {
  A_STR("to", REQ, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "the user, or the queue whose members, to page (MakeCall.target)"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the new call, seen in its CallInfo; default: the requestid"),
};
static const cmd_arg_t args_user_call[] = {
  A_STR("to", REQ, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "the user to call (MakeCall.target)"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the new call, seen in its CallInfo; default: the requestid"),
};
static const cmd_arg_t args_pickup[] = {
  A_STR("to", OPT, PLAIN, 0, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "where the call rings: a user's or queue's extension; empty or absent: any ringing call"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the picked-up call, seen in its CallInfo; default: the requestid"),
};
static const cmd_arg_t args_meetme[] = {
  A_STR("to", REQ, PLAIN, 1, TARGET_MAX, CMD_CHARS_DIAL, CMD_ROLE_NAMED,
        "the MeetMe conference's number (MakeCall.target)"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the new call, seen in its CallInfo; default: the requestid"),
};
static const cmd_arg_t args_unpark[] = {
  A_STR("slot", REQ, PLAIN, 1, 9, CMD_CHARS_DIAL, CMD_ROLE_NAMED, "park slot"),
  A_INT("referencecallid", OPT, 1, 2147483647L, CMD_ROLE_NAMED,
        "your id for the unparked call; default: the requestid"),
  A_ENUM("device", OPT, devices, CMD_ROLE_DEVICE, "unpark to this kind of device"),
};
static const cmd_arg_t args_on[] = {
  A_BOOL("on", REQ, CMD_ROLE_NAMED, "true sets, false clears"),
};
static const cmd_arg_t args_absence[] = {
  A_INT("msg", OPT, 0, 11, CMD_ROLE_NAMED,
        "absence message type (11: the whole text is in text); required unless clear"),
  A_STR("text", OPT, PLAIN, 0, 21, CMD_CHARS_TEXT, CMD_ROLE_NAMED, "absence text"),
  A_BOOL("clear", OPT, CMD_ROLE_NAMED, "true: clear the absence (no msg, no text)"),
};
static const cmd_arg_t args_shortcode[] = {
  A_INT("code", REQ, 0, 65535, CMD_ROLE_NAMED, "short code number (ShortCodeData.code)"),
  A_STR("value", OPT, PLAIN, 0, 127, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "short code parameter string (ShortCodeData.val)"),
  A_STR("onbehalf", OPT, PLAIN, 1, USER_NAME_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "run it for this user instead (ShortCodeData.onbehalf: extension, name, e-mail or GUID); "
        "the policy's users must allow that user too"),
};
static const cmd_arg_t args_login[] = {
  A_STR("extn", REQ, PLAIN, 1, EXTN_MAX, CMD_CHARS_EXTN, CMD_ROLE_NAMED,
        "extension to log the user in to (hot desking)"),
  A_STR("password", OPT, SECRET, 0, 31, CMD_CHARS_TEXT, CMD_ROLE_NAMED, "the user's login code"),
  A_STR("teleworker", OPT, PLAIN, 1, PHONE_MAX, CMD_CHARS_PHONE, CMD_ROLE_NAMED,
        "log in as a teleworker: calls go to this number (TeleworkerConnection.number)"),
  A_BOOL("hold_line_open", OPT, CMD_ROLE_NAMED,
         "keep the line to the teleworker's number open between calls (needs teleworker)"),
  A_BOOL("test_connection", OPT, CMD_ROLE_NAMED,
         "the PBX calls the number before it takes the login (needs teleworker)"),
};
static const cmd_arg_t args_app[] = {
  A_STR("value", REQ, PLAIN, 0, 34, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "application presence text"),
  A_BOOL("makelive", OPT, CMD_ROLE_NAMED, "count this connection as an app presence handler"),
  A_BOOL("makedead", OPT, CMD_ROLE_NAMED, "stop counting it as one"),
};
static const cmd_arg_t args_fwdu[] = {
  A_BOOL("on", REQ, CMD_ROLE_NAMED, "forward unconditional on or off"),
  A_STR("number", OPT, PLAIN, 1, TARGET_MAX, CMD_CHARS_TEXT, CMD_ROLE_NAMED,
        "forward destination"),
  A_BOOL("to_voicemail", OPT, CMD_ROLE_NAMED, "forward to voicemail"),
};
static const cmd_arg_t args_mailbox[] = {
  A_INT("new", REQ, 0, 9999, CMD_ROLE_NAMED, "new messages"),
  A_INT("old", REQ, 0, 9999, CMD_ROLE_NAMED, "old messages"),
  A_INT("saved", REQ, 0, 9999, CMD_ROLE_NAMED, "saved messages"),
};
static const cmd_arg_t args_service_mode[] = {
  A_ENUM("mode", REQ, service_modes, CMD_ROLE_NAMED, "the queue's service mode"),
};
static const cmd_arg_t args_members[] = {
  {"members", CMD_ARG_MEMBERS, REQ, PLAIN, 0, 1000, CMD_CHARS_EXTN, NULL, CMD_ROLE_NAMED,
   "the whole member list: extensions, or {\"extn\": ..., \"disabled\": bool}"},
};
static const cmd_arg_t args_add_member[] = {
  A_STR("extn", REQ, PLAIN, 1, EXTN_MAX, CMD_CHARS_EXTN, CMD_ROLE_NAMED, "member extension"),
  A_BOOL("disabled", OPT, CMD_ROLE_NAMED,
         "member does not take calls (adding an existing member updates it)"),
};
static const cmd_arg_t args_delete_member[] = {
  A_STR("extn", REQ, PLAIN, 1, EXTN_MAX, CMD_CHARS_EXTN, CMD_ROLE_NAMED, "member extension"),
};
static const cmd_arg_t args_get_file[] = {
  A_STR("name", REQ, PLAIN, 1, 255, CMD_CHARS_FILE, CMD_ROLE_NAMED,
        "pseudo-file to read, for example nasystem/AccountCode"),
};
static const cmd_arg_t args_snapshot[] = {
  {"topics", CMD_ARG_ENUMS, OPT, PLAIN, 1, 4, CMD_CHARS_TEXT, snapshot_topics, CMD_ROLE_NAMED,
   "topics to re-emit (default: all); with a target, only that line's entities"},
};

#define ARGS(a) a, sizeof(a) / sizeof((a)[0])
#define NOARGS NULL, 0
#define CF(x) CALL_FUNCTION__ACTION__##x
#define UQ (CMD_LINE_USER | CMD_LINE_QUEUE)
#define UQP (CMD_LINE_USER | CMD_LINE_QUEUE | CMD_LINE_PARK)
#define U CMD_LINE_USER
#define Q CMD_LINE_QUEUE
#define CALL(name, cf, lines, bit, args, summary) \
  {name, CMD_SCOPE_CALL, CMD_BUILD_CALLFUNCTION, CF(cf), lines, CMD_FEAT_CALL, bit, args, summary, 0}
/* A MakeCall of one of the spec's special types, from the target user. */
#define MAKECALL(name, type, args, summary) \
  {name, CMD_SCOPE_NEW_CALL, CMD_BUILD_MAKECALL, -1, U, CMD_FEAT_USER, CODEC_UF_MAKECALL, args, summary, type}

static const cmd_action_t cmd_action_table[] = {
  /* on a call */
  CALL("drop", DropCall, UQP, CODEC_CF_DROP, NOARGS, "Drop the call (a ringing call goes to coverage)"),
  CALL("answer", AnswerCall, U, CODEC_CF_ANSWER, ARGS(args_answer), "Answer a ringing call"),
  CALL("hold", HoldCall, U, CODEC_CF_HOLD, NOARGS, "Put the connected call on hold"),
  CALL("unhold", UnHoldCall, U, CODEC_CF_UNHOLD, NOARGS, "Take the held call off hold"),
  CALL("blind_transfer", BlindTransfer, UQP, CODEC_CF_BLINDXFER, ARGS(args_to_required),
       "Transfer the call to another destination at once"),
  CALL("redirect", Redirect, UQ, CODEC_CF_REDIRECT, ARGS(args_to_required),
       "Send the ringing call to another destination"),
  CALL("dial", Dial, U, CODEC_CF_DIAL, ARGS(args_dial), "Dial more digits on the call"),
  CALL("park", Park, UQ, CODEC_CF_PARK, ARGS(args_park), "Park the call in a slot"),
  CALL("setup_transfer", SetupTransfer, U, CODEC_CF_SETUPXFER, ARGS(args_to_optional),
       "Hold the call for transfer and start an assisted transfer call"),
  CALL("setup_conf", SetupConf, U, CODEC_CF_SETUPXFER, ARGS(args_to_optional),
       "Hold the call for a conference and start a consultation call"),
  CALL("complete_transfer", CompleteTransfer, U, CODEC_CF_COMPLETEXFER,
       ARGS(args_complete_transfer), "Join the call to its related call and leave"),
  CALL("complete_conf", CompleteConf, U, CODEC_CF_COMPLETECONF, ARGS(args_complete_conf),
       "Join the call and its related call(s) into a conference"),
  CALL("add_to_conf", AddToConf, UQ, CODEC_CF_ADDTOCONF, ARGS(args_to_required),
       "Invite another party into the conference"),
  CALL("member_function", MemberFunction, UQ, CODEC_CF_ADMINCONFMEMBER,
       ARGS(args_member_function), "Drop, mute or unmute one conference member"),
  CALL("set_tag", SetTag, UQP, CODEC_CF_TAG, ARGS(args_tag), "Set or clear the call's tag"),
  CALL("set_account_code", SetAccountCode, UQ, CODEC_CF_ACCT, ARGS(args_account_code),
       "Set or clear the call's account code"),
  CALL("set_auth_code", SetAuthCode, U, CODEC_CF_AUTH, ARGS(args_auth_code),
       "Set or clear the call's authorization code"),
  CALL("push_to_ec500", PushToEC500, U, CODEC_CF_EC500, NOARGS,
       "Push the call to the user's mobile twin"),
  CALL("generate_digits", GenerateDigits, U, CODEC_CF_DIGITS, ARGS(args_generate_digits),
       "Play DTMF digits to the far end"),
  {"answer_page", CMD_SCOPE_CALL, CMD_BUILD_CALLFUNCTION, CF(AnswerPage), U, CMD_FEAT_CALL2, 0x1,
   NOARGS, "Turn an incoming page into a two-way call", 0},
  CALL("force_clear", ForceClear, UQP, CODEC_CF_FORCECLEAR, NOARGS,
       "Clear the call all the way (ends a conference)"),
  CALL("recording_on", CallRecordingOn, U, CODEC_CF_RECON, NOARGS,
       "Start personal call recording"),
  CALL("recording_off", CallRecordingOff, U, CODEC_CF_RECOFF, NOARGS,
       "Stop personal call recording"),
  CALL("privacy_on", PrivacyOn, U, CODEC_CF_PRIVON, NOARGS, "Make the call private"),
  CALL("privacy_off", PrivacyOff, U, CODEC_CF_PRIVOFF, NOARGS, "Make the call not private"),
  CALL("mute_on", MuteOn, U, CODEC_CF_MUTEON, NOARGS, "Mute the user in the conference"),
  CALL("mute_off", MuteOff, U, CODEC_CF_MUTEOFF, NOARGS, "Unmute the user in the conference"),
  CALL("agent_recording", AgentRecordingControl, UQ, CODEC_CF_RECPAUSE,
       ARGS(args_agent_recording), "Pause or resume the system recording of the call"),
  CALL("set_priority", SetPriority, Q, CODEC_CF_PRIORITY, ARGS(args_priority),
       "Change the call's priority in the queue"),
  CALL("finish", Finish, Q, CODEC_CF_FINISH, ARGS(args_finish),
       "Stop following the call on this queue"),
  /* new calls */
  {"make_call", CMD_SCOPE_NEW_CALL, CMD_BUILD_MAKECALL, -1, U, CMD_FEAT_USER, CODEC_UF_MAKECALL,
   ARGS(args_make_call), "Make a new call from the user", 0},
  {"unpark", CMD_SCOPE_NEW_CALL, CMD_BUILD_UNPARK, -1, U, CMD_FEAT_NONE, 0, ARGS(args_unpark),
   "Unpark the call in a slot to the user", 0},
  MAKECALL("page", 104, ARGS(args_page),
           "Page a user, or every member of a queue who can be paged: their phones answer one way at once"),
  MAKECALL("force_feed", 105, ARGS(args_user_call),
           "Call a user whose phone answers by itself (force-feed)"),
  MAKECALL("intrude", 106, ARGS(args_user_call), "Join the user's connected call (intrude)"),
  MAKECALL("pickup", 108, ARGS(args_pickup), "Answer a call ringing elsewhere (pickup)"),
  MAKECALL("camp_on", 109, ARGS(args_user_call),
           "Call a user and wait until they are free; never to voicemail (camp-on)"),
  MAKECALL("meetme", 116, ARGS(args_meetme), "Join a MeetMe conference"),
  /* on a user */
  {"set_dnd", CMD_SCOPE_USER, CMD_BUILD_USER_SAC, -1, U, CMD_FEAT_USER, CODEC_UF_SAC,
   ARGS(args_on), "Set or clear Do Not Disturb", 0},
  {"set_absence", CMD_SCOPE_USER, CMD_BUILD_USER_ABSENCE, -1, U, CMD_FEAT_USER, CODEC_UF_ABSENCE,
   ARGS(args_absence), "Set or clear the absence message", 0},
  {"set_ec500", CMD_SCOPE_USER, CMD_BUILD_USER_EC500, -1, U, CMD_FEAT_USER, CODEC_UF_EC500,
   ARGS(args_on), "Turn mobile twinning on or off", 0},
  {"shortcode", CMD_SCOPE_USER, CMD_BUILD_USER_SHORTCODE, -1, U, CMD_FEAT_USER,
   CODEC_UF_SHORTCODE, ARGS(args_shortcode), "Run a short code on behalf of the user", 0},
  {"login_extn", CMD_SCOPE_USER, CMD_BUILD_USER_LOGIN, -1, U, CMD_FEAT_USER, CODEC_UF_LOGIN,
   ARGS(args_login), "Log the user in to another extension (hot desking)", 0},
  {"set_app", CMD_SCOPE_USER, CMD_BUILD_USER_APP, -1, U, CMD_FEAT_USER, CODEC_UF_APP,
   ARGS(args_app), "Set the application presence text", 0},
  {"set_forward_unconditional", CMD_SCOPE_USER, CMD_BUILD_USER_FWDU, -1, U, CMD_FEAT_USER,
   CODEC_UF_FWDU, ARGS(args_fwdu), "Set forward unconditional", 0},
  {"set_mailbox", CMD_SCOPE_USER, CMD_BUILD_USER_MAILBOX, -1, U, CMD_FEAT_USER,
   CODEC_UF_SHORTCODE, ARGS(args_mailbox), "Set the voicemail counters (short code 70)", 0},
  /* on a queue */
  {"set_service_mode", CMD_SCOPE_QUEUE, CMD_BUILD_QUEUE_SERVICEMODE, -1, Q, CMD_FEAT_NONE, 0,
   ARGS(args_service_mode), "Put the queue in service, night service or out of service", 0},
  {"set_voicemail", CMD_SCOPE_QUEUE, CMD_BUILD_QUEUE_VOICEMAIL, -1, Q, CMD_FEAT_NONE, 0,
   ARGS(args_on), "Turn the queue's voicemail on or off", 0},
  {"set_members", CMD_SCOPE_QUEUE, CMD_BUILD_QUEUE_MEMBERS, -1, Q, CMD_FEAT_NONE, 0,
   ARGS(args_members), "Replace the queue's member list", 0},
  {"add_member", CMD_SCOPE_QUEUE, CMD_BUILD_QUEUE_ADDMEMBER, -1, Q, CMD_FEAT_NONE, 0,
   ARGS(args_add_member), "Add a member, or change whether one is disabled", 0},
  {"delete_member", CMD_SCOPE_QUEUE, CMD_BUILD_QUEUE_DELMEMBER, -1, Q, CMD_FEAT_NONE, 0,
   ARGS(args_delete_member), "Remove a member from the queue", 0},
  /* on the PBX */
  {"get_version", CMD_SCOPE_PBX, CMD_BUILD_GETVERSION, -1, 0, CMD_FEAT_NONE, 0, NOARGS,
   "The IP Office version (result data.versioninfo)", 0},
  {"get_file", CMD_SCOPE_PBX, CMD_BUILD_GETFILE, -1, 0, CMD_FEAT_NONE, 0, ARGS(args_get_file),
   "Read a pseudo-file of the PBX (result data.getfile)", 0},
  /* on the bridge */
  {"snapshot", CMD_SCOPE_BRIDGE, CMD_BUILD_NONE, -1, UQ, CMD_FEAT_NONE, 0, ARGS(args_snapshot),
   "Re-emit the current state as r events (all, some topics, or one line)", 0},
};

#define CMD_N_ACTIONS (sizeof(cmd_action_table) / sizeof(cmd_action_table[0]))

const cmd_action_t *cmd_actions(size_t *count) {
  *count = CMD_N_ACTIONS;
  return cmd_action_table;
}

const cmd_action_t *cmd_action_find(const char *name) {
  size_t i;

  if (!name)
    return NULL;
  for (i = 0; i < CMD_N_ACTIONS; i++) {
    if (strcmp(cmd_action_table[i].name, name) == 0)
      return &cmd_action_table[i];
  }
  return NULL;
}

const cmd_arg_t *cmd_action_arg(const cmd_action_t *action, const char *name) {
  size_t i;

  for (i = 0; i < action->n_args; i++) {
    if (strcmp(action->args[i].name, name) == 0)
      return &action->args[i];
  }
  return NULL;
}

const char *cmd_scope_name(cmd_scope_t scope) {
  static const char *const names[] = {"call", "new_call", "user", "queue", "pbx", "bridge"};

  return (unsigned)scope < sizeof(names) / sizeof(names[0]) ? names[scope] : "?";
}

const char *cmd_charset_name(cmd_charset_t chars) {
  switch (chars) {
  case CMD_CHARS_DIAL:
    return "0-9*#";
  case CMD_CHARS_EXTN:
    return "0-9";
  case CMD_CHARS_PHONE:
    return "0-9*#+";
  case CMD_CHARS_FILE:
    return "printable ASCII without spaces";
  case CMD_CHARS_TEXT:
    break;
  }
  return "text without control characters";
}

int cmd_charset_ok(cmd_charset_t chars, const char *s) {
  const unsigned char *p;

  for (p = (const unsigned char *)s; *p; p++) {
    switch (chars) {
    case CMD_CHARS_DIAL:
      if (!((*p >= '0' && *p <= '9') || *p == '*' || *p == '#'))
        return 0;
      break;
    case CMD_CHARS_EXTN:
      if (!(*p >= '0' && *p <= '9'))
        return 0;
      break;
    case CMD_CHARS_PHONE:
      if (!((*p >= '0' && *p <= '9') || *p == '*' || *p == '#' || *p == '+'))
        return 0;
      break;
    case CMD_CHARS_FILE:
      if (*p <= 0x20 || *p >= 0x7f)
        return 0;
      break;
    case CMD_CHARS_TEXT:
      /* C0 controls and DEL; C1 controls are U+0080..U+009F = C2 80..C2 9F. */
      if (*p < 0x20 || *p == 0x7f)
        return 0;
      if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
        return 0;
      break;
    }
  }
  return 1;
}

/* The spec's MakeCall section: "certain values for this field which should be used carefully". */
static const struct {
  int type;
  const char *name;
} cmd_makecall_types[] = {
  {104, "Page Call"}, {105, "Forcefeed"}, {106, "Intrude"}, {108, "Pickup"},
  {109, "CampOn"},    {116, "Dial a MeetMe conference"},
};

const char *cmd_makecall_type_name(int type) {
  size_t i;

  for (i = 0; i < sizeof(cmd_makecall_types) / sizeof(cmd_makecall_types[0]); i++) {
    if (cmd_makecall_types[i].type == type)
      return cmd_makecall_types[i].name;
  }
  return NULL;
}

const char *cmd_action_feature_name(const cmd_action_t *action) {
  const codec_bit_t *bits;
  size_t n, i;

  switch (action->feature_word) {
  case CMD_FEAT_CALL:
    bits = codec_bits(CODEC_BITS_CALL_FEATURES, &n);
    break;
  case CMD_FEAT_USER:
    bits = codec_bits(CODEC_BITS_USER_FEATURES, &n);
    break;
  case CMD_FEAT_CALL2:
    return "ANSWERPAGE"; /* featuresavailable2 bit 0; the codec names no bit there */
  case CMD_FEAT_NONE:
  default:
    return NULL;
  }
  for (i = 0; i < n; i++) {
    if (bits[i].mask == action->feature_mask)
      return bits[i].name;
  }
  return NULL;
}

int cmd_action_available(const cmd_action_t *action, uint32_t call_features,
                         uint32_t call_features2, uint32_t user_features, char *reason,
                         size_t reason_size) {
  uint32_t word;
  const char *where;

  switch (action->feature_word) {
  case CMD_FEAT_CALL:
    word = call_features;
    where = "the call's featuresavailable";
    break;
  case CMD_FEAT_CALL2:
    word = call_features2;
    where = "the call's featuresavailable2";
    break;
  case CMD_FEAT_USER:
    /* Older PBXs do not fill the user word; VALID says it is filled. */
    if (!(user_features & (uint32_t)CODEC_UF_VALID))
      return 1;
    word = user_features;
    where = "the user's featuresavailable";
    break;
  case CMD_FEAT_NONE:
  default:
    return 1;
  }
  if (word & action->feature_mask)
    return 1;
  snprintf(reason, reason_size, "%s lacks %s: %s is not possible now", where,
           cmd_action_feature_name(action), action->name);
  return 0;
}
