/*
 * cmd_build: a validated command + what the bridge resolved -> the exact
 * MTCTI3 Message to send.
 *
 * DESIGN.  Runs on the bridge's loop thread, after the command was parsed,
 * claimed, allowed by the policy and its target and call were found.  The
 * action table says how each action is built (cmd_action_t.build and each
 * argument's role); this module only assembles: a SubscribeCmd on the line's
 * subscription (UpdateCallControl with CallFunction, MakeCall or UnParkCall;
 * UpdateUser; UpdateQueue) or a GeneralCmd (getversioninfo, getfile).  The
 * message is assembled as proto3 JSON and parsed by the codec
 * (codec_json_to_pb), so every allocation is the codec's and
 * codec_message_free() frees it.  Pure; no I/O.
 */
#ifndef CMD_BUILD_H
#define CMD_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cmd_parse.h"
#include "ipo_mtcti3.pb-c.h"

typedef struct cmd_build_ctx {
  int32_t requestid;    /* drawn by cmd_store_accepted(); never 0 */
  int32_t subscribe_id; /* the target line's subscription, the park server's for a parkserver
                           target (unused for pbx actions) */
  int32_t callid;       /* call actions: the call's current callid; 0: address the
                           call as the command named it (callid or referencecallid) */
} cmd_build_ctx_t;

/*
 * The Message for `cmd`.  Returns 0 and *msg (free with codec_message_free),
 * or -1 with errstr (the action is done by the bridge itself, or the codec
 * refused the message: a bug).  The message holds the command's secrets:
 * encode it and free it; never log it.
 */
int cmd_build(const cmd_t *cmd, const cmd_build_ctx_t *ctx, Message **msg, char *errstr,
              size_t errstr_size);

/* The same Message as proto3 JSON (new reference), before the codec sees it. */
json_t *cmd_build_json(const cmd_t *cmd, const cmd_build_ctx_t *ctx, char *errstr,
                       size_t errstr_size);

/*
 * The referencecallid a make_call or unpark uses: the command's
 * args.referencecallid, else the requestid.  0 for other actions.  The
 * bridge puts it in the result's data so the sender can find the new call.
 */
int32_t cmd_build_referencecallid(const cmd_t *cmd, const cmd_build_ctx_t *ctx);

#endif
