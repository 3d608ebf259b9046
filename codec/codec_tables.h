/*
 * codec_tables: the enumerated things of MTCTI3, each in one table.
 *
 * Result codes (RequestResponse.result), call featuresavailable bits, user
 * featuresavailable bits, subscribe flags and ccflags bits.  Every other part
 * of the project names codes and bits only through these tables, so that
 * rendering, validation and documentation cannot disagree.  The tables are
 * X-macros: one list drives the C enum and the lookup arrays.
 */
#ifndef CODEC_TABLES_H
#define CODEC_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* X(name, number, description): every MTCTISESS_* code the spec lists. */
#define CODEC_RESULTS(X)                                                              \
  X(MTCTISESS_SUCCESS, 0, "Success")                                                  \
  X(MTCTISESS_ERRUNKNOWN, 1, "Unknown error")                                         \
  X(MTCTISESS_UNPACKERR, 2, "Message unpack error")                                   \
  X(MTCTISESS_NOTINSTRUMENTED, 3, "Not instrumented")                                 \
  X(MTCTISESS_NOTFOUND, 4, "Not found")                                               \
  X(MTCTISESS_TOOMANY, 5, "Too many")                                                 \
  X(MTCTISESS_TOOBIG, 6, "Too big")                                                   \
  X(MTCTISESS_USERNOTFOUND, 7, "User not found")                                      \
  X(MTCTISESS_SERVICE_NOT_AVAILABLE, 8, "Service not available")                      \
  X(MTCTISESS_NOTALLOWED, 9, "Not allowed")                                           \
  X(MTCTISESS_SUBSCRIPTION_INVALID, 100, "Not a recognized subscription")             \
  X(MTCTISESS_SUBSCRIPTION_INVALID_ID, 101, "Subscription update with invalid ID")    \
  X(MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL, 102, "Subscription timeout out of range") \
  X(MTCTISESS_GENCMD_ERRUNKNOWN, 150, "General command error")                        \
  X(MTCTISESS_GENCMD_INVALID_PAYLOAD, 151, "General command badly formatted")         \
  X(MTCTISESS_GENCMD_REQUIRED_DATA_MISSING, 152, "General command with mandatory element missing") \
  X(MTCTISESS_PRESENCE_ERRUNKNOWN, 500, "Any error to do with presence subscription") \
  X(MTCTISESS_CALLCONTROL_NOPHONE, 600, "Cannot make or unpark a call: user not logged in to any handset") \
  X(MTCTISESS_CALLCONTROL_EXTNFAULT, 601, "Cannot make a call: the user's phone is not connected") \
  X(MTCTISESS_CALLCONTROL_CALLNOTFOUND, 602, "The call cannot be found")              \
  X(MTCTISESS_CALLCONTROL_MAXCALLS, 603, "The user has no more call appearances")     \
  X(MTCTISESS_CALLCONTROL_BADACCT, 604, "The account code is not valid")              \
  X(MTCTISESS_CALLCONTROL_BADAUTH, 605, "The authorization code is not valid")        \
  X(MTCTISESS_CALLCONTROL_TARGETNOTFOUND, 606, "Cannot find the thing targeted")      \
  X(MTCTISESS_CALLCONTROL_PERMISSION, 607, "No permission to perform this action")    \
  X(MTCTISESS_CALLCONTROL_BADFORMATTING, 608, "A field is missing, too long or out of range") \
  X(MTCTISESS_CALLCONTROL_INVALIDCALLSTATE, 609, "Cannot do this action at this time") \
  X(MTCTISESS_CALLCONTROL_CANTBEDONE, 610, "Cannot be done on this phone")            \
  X(MTCTISESS_CALLCONTROL_NOCOVERAGE, 611, "Cannot drop a ringing call without a coverage destination") \
  X(MTCTISESS_CALLCONTROL_TRANSFERFAILED, 612, "The transfer target is invalid or refused the call") \
  X(MTCTISESS_CALLCONTROL_PARKFAILED, 613, "Could not park this call")                \
  X(MTCTISESS_CALLCONTROL_OTHERNOTFOUND, 614, "Complete transfer/conference with invalid related calls") \
  X(MTCTISESS_CALLCONTROL_CANTCOMPLETE, 615, "Transfer complete not allowed")         \
  X(MTCTISESS_CALLCONTROL_UNSUPPORTED, 616, "Not a supported function")               \
  X(MTCTISESS_CALLCONTROL_ALREADYDONE, 617, "The command would have no effect")       \
  X(MTCTISESS_REQUESTFAILED, 5000, "A valid command has failed")                      \
  X(MTCTISESS_REQUESTTIMEOUT, 5001, "A valid command has taken too long to create a response") \
  X(MTCTISESS_REQUEST_INVALID_PAYLOAD, 5002, "Missing or field out of range")         \
  X(MTCTISESS_REQUEST_INVALID_CONTEXT, 5003, "Cannot find context for this action")

typedef enum codec_result_code {
#define CODEC_X_ENUM(n, c, t) n = c,
  CODEC_RESULTS(CODEC_X_ENUM)
#undef CODEC_X_ENUM
} codec_result_code_t;

typedef struct codec_result {
  int code;
  const char *name;        /* "MTCTISESS_SUCCESS" */
  const char *description;
} codec_result_t;

/* The whole table, in the spec's order; *count receives its length. */
const codec_result_t *codec_results(size_t *count);
/* The entry for a code, or NULL when the spec does not list it. */
const codec_result_t *codec_result_lookup(int code);
/* The code's name, or "UNKNOWN" for a code the spec does not list. */
const char *codec_result_name(int code);
/* Code of a name ("MTCTISESS_NOTFOUND" or just "NOTFOUND"); 0 or -1. */
int codec_result_by_name(const char *name, int *code);

/*
 * Bit sets.  X(set, constant, bit, short name, description).  Short names are
 * the ones the spec's trace renderings print (featuresavailable=0x23 DROP
 * ANSWER REDIRECT); reserved bits are not listed and render as hex.
 */
#define CODEC_BITS(X)                                                                 \
  /* CallInfo.featuresavailable: the CallFunction actions allowed now. */             \
  X(CALL_FEATURES, CODEC_CF_DROP, 0, "DROP", "DropCall")                              \
  X(CALL_FEATURES, CODEC_CF_ANSWER, 1, "ANSWER", "AnswerCall")                        \
  X(CALL_FEATURES, CODEC_CF_HOLD, 2, "HOLD", "HoldCall")                              \
  X(CALL_FEATURES, CODEC_CF_UNHOLD, 3, "UNHOLD", "UnHoldCall")                        \
  X(CALL_FEATURES, CODEC_CF_BLINDXFER, 4, "BLINDXFER", "BlindTransfer")               \
  X(CALL_FEATURES, CODEC_CF_REDIRECT, 5, "REDIRECT", "Redirect")                      \
  X(CALL_FEATURES, CODEC_CF_DIAL, 6, "DIAL", "Dial")                                  \
  X(CALL_FEATURES, CODEC_CF_PARK, 7, "PARK", "Park")                                  \
  X(CALL_FEATURES, CODEC_CF_SETUPXFER, 8, "SETUPXFER", "SetupTransfer")               \
  X(CALL_FEATURES, CODEC_CF_COMPLETEXFER, 9, "COMPLETEXFER", "CompleteTransfer")      \
  X(CALL_FEATURES, CODEC_CF_COMPLETECONF, 10, "COMPLETECONF", "CompleteConf")         \
  X(CALL_FEATURES, CODEC_CF_ADDTOCONF, 11, "ADDTOCONF", "AddToConf")                  \
  X(CALL_FEATURES, CODEC_CF_ADMINCONFMEMBER, 12, "ADMINCONFMEMBER", "AdminConfMember (MemberFunction)") \
  X(CALL_FEATURES, CODEC_CF_TAG, 13, "TAG", "SetTag")                                 \
  X(CALL_FEATURES, CODEC_CF_ACCT, 14, "ACCT", "SetAccountCode")                       \
  X(CALL_FEATURES, CODEC_CF_EC500, 16, "EC500", "PushToEC500")                        \
  X(CALL_FEATURES, CODEC_CF_DIGITS, 17, "DIGITS", "GenerateDigits")                   \
  X(CALL_FEATURES, CODEC_CF_RECPAUSE, 20, "RECPAUSE", "RecordingPauseControl")        \
  X(CALL_FEATURES, CODEC_CF_FORCECLEAR, 21, "FORCECLEAR", "ForceClear")               \
  X(CALL_FEATURES, CODEC_CF_AUTH, 22, "AUTH", "SetAuthCode")                          \
  X(CALL_FEATURES, CODEC_CF_RECON, 23, "RECON", "CallRecordingOn")                    \
  X(CALL_FEATURES, CODEC_CF_RECOFF, 24, "RECOFF", "CallRecordingOff")                 \
  X(CALL_FEATURES, CODEC_CF_PRIVON, 25, "PRIVON", "PrivacyOn")                        \
  X(CALL_FEATURES, CODEC_CF_PRIVOFF, 26, "PRIVOFF", "PrivacyOff")                     \
  X(CALL_FEATURES, CODEC_CF_MUTEON, 27, "MUTEON", "MuteOn")                           \
  X(CALL_FEATURES, CODEC_CF_MUTEOFF, 28, "MUTEOFF", "MuteOff")                        \
  X(CALL_FEATURES, CODEC_CF_PRIORITY, 29, "PRIORITY", "SetPriority")                  \
  X(CALL_FEATURES, CODEC_CF_FINISH, 30, "FINISH", "Finish")                           \
  /* NotifyUser.featuresavailable: what may be changed on the user. */                \
  X(USER_FEATURES, CODEC_UF_VALID, 0, "VALID", "This field is populated")             \
  X(USER_FEATURES, CODEC_UF_SAC, 1, "SAC", "Can set or unset Do Not Disturb")         \
  X(USER_FEATURES, CODEC_UF_ABSENCE, 2, "ABSENCE", "Can change absence text")         \
  X(USER_FEATURES, CODEC_UF_EC500, 3, "EC500", "Can change mobile twinning")          \
  X(USER_FEATURES, CODEC_UF_LOGIN, 4, "LOGIN", "Can hot-desk to another extension")   \
  X(USER_FEATURES, CODEC_UF_SHORTCODE, 5, "SHORTCODE", "Allowed to send short codes") \
  X(USER_FEATURES, CODEC_UF_MAKECALL, 6, "MAKECALL", "Allowed to MakeCall")           \
  X(USER_FEATURES, CODEC_UF_FWDU, 7, "FWDU", "Allowed to set Forward Unconditional")  \
  X(USER_FEATURES, CODEC_UF_DFOI, 8, "DFOI", "Reserved")                              \
  X(USER_FEATURES, CODEC_UF_APP, 9, "APP", "Allowed to change the application presence") \
  /* SubscribeLines.flags */                                                          \
  X(LINES_FLAGS, CODEC_LF_USERS, 0, "USERS", "List all users")                        \
  X(LINES_FLAGS, CODEC_LF_QUEUES, 1, "QUEUES", "List all groups (queues)")            \
  X(LINES_FLAGS, CODEC_LF_PARKSERVER, 2, "PARKSERVER", "Report park server availability") \
  /* NotifyLines.flags */                                                             \
  X(LINES_NOTIFY_FLAGS, CODEC_LN_PARKSERVER, 0, "PARKSERVER", "Park server can be subscribed") \
  /* SubscribeUser.flags */                                                           \
  X(USER_FLAGS, CODEC_USF_MAILBOX, 0, "MAILBOX", "Include voicemail box message counters") \
  X(USER_FLAGS, CODEC_USF_FWD, 1, "FWD", "Include forwarding details")                \
  X(USER_FLAGS, CODEC_USF_APP, 2, "APP", "Include application presence")              \
  X(USER_FLAGS, CODEC_USF_ABSENCE, 3, "ABSENCE", "Include absence (when enabled)")    \
  X(USER_FLAGS, CODEC_USF_ACTIVAPP, 11, "ACTIVAPP", "Counts as an application that can edit the app field") \
  /* SubscribeQueue.flags */                                                          \
  X(QUEUE_FLAGS, CODEC_QSF_MAILBOX, 0, "MAILBOX", "Include voicemail box message counters") \
  X(QUEUE_FLAGS, CODEC_QSF_MEMBERS, 1, "MEMBERS", "Include huntgroup members list")   \
  /* SubscribePresence.flags */                                                       \
  X(PRESENCE_FLAGS, CODEC_PSF_VMCOUNT, 0, "VMCOUNT", "Include unread voicemail counter") \
  X(PRESENCE_FLAGS, CODEC_PSF_NOAPPHANDLER, 1, "NOAPPHANDLER", "Report noapphandler instead of app 'Offline'") \
  /* ccflags of user, queue and park server subscriptions: call detail wanted. */     \
  X(CCFLAGS, CODEC_CC_PRIMARY, 0, "PRIMARY", "Primary call control data")             \
  X(CCFLAGS, CODEC_CC_DEVICES, 1, "DEVICES", "Local and remote devices")              \
  X(CCFLAGS, CODEC_CC_TARGETS_SIMUL, 2, "SIMULTARGETS", "Additional simultaneous targets") \
  X(CCFLAGS, CODEC_CC_CONFERENCE, 3, "CONFERENCE", "Conference membership")           \
  X(CCFLAGS, CODEC_CC_DIALINFO, 4, "DIALINFO", "Dial info")                           \
  X(CCFLAGS, CODEC_CC_TRUNK, 5, "TRUNK", "Extended trunk detail")                     \
  X(CCFLAGS, CODEC_CC_QUEUE, 6, "QUEUE", "Extended queue information")                \
  X(CCFLAGS, CODEC_CC_CALLDATA, 7, "CALLDATA", "Language, privacy")                   \
  X(CCFLAGS, CODEC_CC_CONFMEMBERS, 8, "CONFMEMBERS", "Conference membership (queue)") \
  X(CCFLAGS, CODEC_CC_NOTES, 13, "NOTES", "Notes")                                    \
  X(CCFLAGS, CODEC_CC_UCID, 14, "UCID", "UCID")                                       \
  X(CCFLAGS, CODEC_CC_PINTRINSICS, 15, "PINTRINSICS", "P-Intrinsics")                 \
  X(CCFLAGS, CODEC_CC_TARGETS, 18, "TARGETS", "Targets list")                         \
  X(CCFLAGS, CODEC_CC_EPHEMERAL, 30, "EPHEMERAL", "Only report calls while they are queueing")

typedef enum codec_bitset {
  CODEC_BITS_CALL_FEATURES,
  CODEC_BITS_USER_FEATURES,
  CODEC_BITS_LINES_FLAGS,
  CODEC_BITS_LINES_NOTIFY_FLAGS,
  CODEC_BITS_USER_FLAGS,
  CODEC_BITS_QUEUE_FLAGS,
  CODEC_BITS_PRESENCE_FLAGS,
  CODEC_BITS_CCFLAGS,
  CODEC_BITS__COUNT
} codec_bitset_t;

/* Masks as constants (CODEC_CF_DROP == 0x1, ...). */
enum codec_bit_mask {
#define CODEC_X_MASK(set, c, bit, n, d) c = (int)(1u << (bit)),
  CODEC_BITS(CODEC_X_MASK)
#undef CODEC_X_MASK
};

typedef struct codec_bit {
  codec_bitset_t set;
  uint32_t mask;
  const char *name;        /* short upper-case name, as in traces */
  const char *description;
} codec_bit_t;

/* The named bits of one set, lowest first; *count receives the length. */
const codec_bit_t *codec_bits(codec_bitset_t set, size_t *count);
/* Name of the set, for documentation ("call_features"). */
const char *codec_bitset_name(codec_bitset_t set);
/* Mask of the bit named `name` in `set`; 0 on success, -1 when unknown. */
int codec_bit_by_name(codec_bitset_t set, const char *name, uint32_t *mask);
/*
 * Spell `value` out as space-separated names ("DROP ANSWER REDIRECT"); bits
 * the table does not name are appended as one hex word ("0x8000").  Always
 * NUL-terminates; returns the length it would have written (as snprintf).
 */
size_t codec_bits_format(codec_bitset_t set, uint32_t value, char *buf, size_t size);

#endif
