/*
 * test_cmd_build: every action family becomes the exact MTCTI3 Message,
 * checked as the codec's JSON rendering and, for the spec's own examples, as
 * exact bytes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "cmd_build.h"
#include "codec_frame.h"
#include "codec_json.h"

static cmd_t *parse(const char *text) {
  cmd_parse_config_t conf;
  cmd_refusal_t refusal;
  cmd_t *cmd = NULL;

  cmd_parse_config_init(&conf);
  if (cmd_parse(&conf, text, strlen(text), &cmd, &refusal) < 0)
    fprintf(stderr, "refused: %s: %s\n", text, refusal.reason);
  return cmd;
}

/* Command -> codec JSON of the built Message, requestid 2^30, subscribe_id 7000. */
static const struct {
  const char *command, *message;
} golden[] = {
  {"{\"id\":\"a1\",\"action\":\"drop\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"DropCall\"}}}}"},
  {"{\"id\":\"a2\",\"action\":\"answer\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7},\"args\":{\"device\":\"softphone\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"AnswerCall\"},\"devicehint\":\"SOFTPHONEANY\"}}}"},
  {"{\"id\":\"a3\",\"action\":\"blind_transfer\",\"target\":{\"queue\":\"Sales\"},\"call\":{\"referencecallid\":99},\"args\":{\"to\":\"202\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":99,\"callfunction\":{\"action\":\"BlindTransfer\",\"arg1\":\"202\"}}}}"},
  {"{\"id\":\"a4\",\"action\":\"park\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7},\"args\":{\"slot\":\"12#\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"Park\",\"arg1\":\"12#\"}}}}"},
  {"{\"id\":\"a5\",\"action\":\"complete_conf\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7},\"args\":{\"with\":[8,9]}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"CompleteConf\",\"callinst\":[{\"callid\":8},{\"callid\":9}]}}}}"},
  {"{\"id\":\"a6\",\"action\":\"member_function\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7},\"args\":{\"lref\":3,\"op\":\"mute_on\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"MemberFunction\",\"memberfunctiondata\":{\"lref\":3,\"action\":\"MuteOn\"}}}}}"},
  {"{\"id\":\"a7\",\"action\":\"agent_recording\",\"target\":{\"queue\":\"7000\"},\"call\":{\"callid\":7},\"args\":{\"op\":\"pause\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"AgentRecordingControl\",\"agentrecording\":{\"pause\":true}}}}}"},
  {"{\"id\":\"a8\",\"action\":\"set_priority\",\"target\":{\"queue\":\"7000\"},\"call\":{\"callid\":7},\"args\":{\"priority\":3}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"SetPriority\",\"arg1\":\"3\"}}}}"},
  {"{\"id\":\"a9\",\"action\":\"finish\",\"target\":{\"queue\":\"7000\"},\"call\":{\"callid\":7},\"args\":{\"now\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"callid\":7,\"callfunction\":{\"action\":\"Finish\",\"arg1\":\"1\"}}}}"},
  {"{\"id\":\"b1\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"202\",\"account_code\":\"12\",\"auth_code\":\"999\",\"withhold_cli\":true,\"device\":\"desk\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"target\":\"202\",\"advanced\":{\"accountcode\":\"12\",\"authcode\":\"999\",\"withholdcli\":true}},\"devicehint\":\"DESK\"}}}"},
  {"{\"id\":\"b2\",\"action\":\"unpark\",\"target\":{\"user\":\"201\"},\"args\":{\"slot\":\"5\",\"referencecallid\":42}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":42,\"unparkcall\":{\"parkid\":\"5\"}}}}"},
  {"{\"id\":\"c1\",\"action\":\"set_dnd\",\"target\":{\"user\":\"201\"},\"args\":{\"on\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"sac\":{\"set\":1}}}}"},
  {"{\"id\":\"c2\",\"action\":\"set_absence\",\"target\":{\"user\":\"201\"},\"args\":{\"msg\":11,\"text\":\"Back at 3\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"absence\":{\"set\":1,\"absence\":{\"msg\":11,\"str\":\"Back at 3\"}}}}}"},
  {"{\"id\":\"c3\",\"action\":\"set_absence\",\"target\":{\"user\":\"201\"},\"args\":{\"clear\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"absence\":{}}}}"},
  {"{\"id\":\"c4\",\"action\":\"set_mailbox\",\"target\":{\"user\":\"201\"},\"args\":{\"new\":3,\"old\":0,\"saved\":1}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"shortcodedata\":[{\"code\":70,\"val\":\";3,0,1\"}]}}}"},
  {"{\"id\":\"c5\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},\"args\":{\"extn\":\"210\",\"password\":\"1234\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"loginextn\":{\"extn\":\"210\",\"password\":\"1234\"}}}}"},
  {"{\"id\":\"c6\",\"action\":\"set_forward_unconditional\",\"target\":{\"user\":\"201\"},\"args\":{\"on\":true,\"number\":\"0700\",\"to_voicemail\":false}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"fwdu\":{\"set\":true,\"fwdu_number\":\"0700\"}}}}"},
  {"{\"id\":\"c7\",\"action\":\"set_app\",\"target\":{\"user\":\"201\"},\"args\":{\"value\":\"In a meeting\",\"makelive\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"app\":{\"value\":\"In a meeting\",\"makelive\":true}}}}"},
  {"{\"id\":\"c8\",\"action\":\"shortcode\",\"target\":{\"user\":\"201\"},\"args\":{\"code\":7}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"shortcodedata\":[{\"code\":7}]}}}"},
  {"{\"id\":\"c9\",\"action\":\"set_ec500\",\"target\":{\"user\":\"201\"},\"args\":{\"on\":false}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"ec500\":{}}}}"},
  {"{\"id\":\"d1\",\"action\":\"set_service_mode\",\"target\":{\"queue\":\"Sales\"},\"args\":{\"mode\":\"night_service\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"queue\":{\"setservicemode\":{\"servicemode\":\"NS\"}}}}"},
  {"{\"id\":\"d2\",\"action\":\"set_members\",\"target\":{\"queue\":\"Sales\"},\"args\":{\"members\":[\"201\",{\"extn\":\"202\",\"disabled\":true}]}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"queue\":{\"members\":{\"member\":[{\"extn\":\"201\"},{\"extn\":\"202\",\"disabled\":true}]}}}}"},
  {"{\"id\":\"d3\",\"action\":\"add_member\",\"target\":{\"queue\":\"Sales\"},\"args\":{\"extn\":\"203\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"queue\":{\"addmember\":[{\"extn\":\"203\"}]}}}"},
  {"{\"id\":\"d4\",\"action\":\"delete_member\",\"target\":{\"queue\":\"Sales\"},\"args\":{\"extn\":\"203\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"queue\":{\"deletemember\":[{\"extn\":\"203\"}]}}}"},
  {"{\"id\":\"d5\",\"action\":\"set_voicemail\",\"target\":{\"queue\":\"Sales\"},\"args\":{\"on\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"queue\":{\"setvoicemail\":{\"enabled\":true}}}}"},
  /* issue 13: MakeCall's types, the park server, onbehalf, a teleworker login */
  {"{\"id\":\"f1\",\"action\":\"page\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"5001\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"target\":\"5001\",\"type\":104}}}}"},
  {"{\"id\":\"f2\",\"action\":\"force_feed\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"202\",\"referencecallid\":8}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":8,\"makecall\":{\"target\":\"202\",\"type\":105}}}}"},
  {"{\"id\":\"f3\",\"action\":\"intrude\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"202\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"target\":\"202\",\"type\":106}}}}"},
  {"{\"id\":\"f4\",\"action\":\"pickup\",\"target\":{\"user\":\"201\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"type\":108}}}}"},
  {"{\"id\":\"f5\",\"action\":\"camp_on\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"202\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"target\":\"202\",\"type\":109}}}}"},
  {"{\"id\":\"f6\",\"action\":\"meetme\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"600\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"callcontrol\":{\"referencecallid\":1073741824,\"makecall\":{\"target\":\"600\",\"type\":116}}}}"},
  {"{\"id\":\"f7\",\"action\":\"shortcode\",\"target\":{\"user\":\"201\"},\"args\":{\"code\":7,\"onbehalf\":\"202\"}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"shortcodedata\":[{\"code\":7,\"onbehalf\":\"202\"}]}}}"},
  {"{\"id\":\"f8\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},\"args\":{\"extn\":\"201\",\"teleworker\":\"901707123456\",\"hold_line_open\":true,\"test_connection\":true}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"loginextn\":{\"extn\":\"201\",\"teleworkerconnection\":{\"number\":\"901707123456\",\"holdlineopen\":true,\"testconnection\":1}}}}}"},
  {"{\"id\":\"f9\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},\"args\":{\"extn\":\"201\",\"teleworker\":\"2005\",\"hold_line_open\":false}}",
   "{\"subscribecmd\":{\"requestid\":1073741824,\"subscribe_id\":7000,\"user\":{\"loginextn\":{\"extn\":\"201\",\"teleworkerconnection\":{\"number\":\"2005\"}}}}}"},
  {"{\"id\":\"e1\",\"action\":\"get_version\"}",
   "{\"generalcmd\":{\"requestid\":1073741824,\"getversioninfo\":true}}"},
  {"{\"id\":\"e2\",\"action\":\"get_file\",\"args\":{\"name\":\"nasystem/AccountCode\"}}",
   "{\"generalcmd\":{\"requestid\":1073741824,\"getfile\":{\"cmdinst\":1073741824,\"fname\":\"nasystem/AccountCode\"}}}"},
};

static void test_golden_json(void) {
  cmd_build_ctx_t ctx = {1073741824, 7000, 0};
  size_t i;

  for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
    cmd_t *cmd = parse(golden[i].command);
    Message *msg = NULL;
    char err[256], *text;
    CHECK(cmd != NULL);
    if (!cmd)
      continue;
    CHECK(cmd_build(cmd, &ctx, &msg, err, sizeof(err)) == 0);
    text = msg ? codec_json_print(msg) : NULL;
    CHECK_STR(text, golden[i].message);
    free(text);
    codec_message_free(msg);
    cmd_free(cmd);
  }
}

static void check_bytes(const char *command, cmd_build_ctx_t ctx, const uint8_t *want,
                        size_t want_len) {
  cmd_t *cmd = parse(command);
  Message *msg = NULL;
  uint8_t *alloc = NULL;
  size_t len = 0;
  char err[256];

  CHECK(cmd && cmd_build(cmd, &ctx, &msg, err, sizeof(err)) == 0);
  CHECK(msg && codec_frame_encode(msg, CODEC_FRAMING_NONE, 0, 0, &alloc, &len, err,
                                  sizeof(err)) == 0);
  CHECK(len == want_len && alloc && memcmp(alloc, want, len) == 0);
  free(alloc);
  codec_message_free(msg);
  cmd_free(cmd);
}

static void test_exact_bytes(void) {
  /* DropCall on callid 7 of subscription 7000, requestid 1. */
  static const uint8_t drop[] = {0x22, 0x0d, 0x08, 0x01, 0x10, 0xd8, 0x36, 0x72,
                                 0x06, 0x08, 0x07, 0x22, 0x02, 0x08, 0x01};
  /* The spec's getversioninfo example: requestid 3000. */
  static const uint8_t version[] = {0x12, 0x05, 0x08, 0xb8, 0x17, 0x38, 0x01};
  cmd_build_ctx_t ctx1 = {1, 7000, 0}, ctx3000 = {3000, 0, 0};

  check_bytes("{\"id\":\"x\",\"action\":\"drop\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":7}}",
              ctx1, drop, sizeof(drop));
  check_bytes("{\"id\":\"x\",\"action\":\"get_version\"}", ctx3000, version, sizeof(version));
}

static void test_resolved_callid(void) {
  /* A call named by referencecallid, resolved by the bridge to callid 12. */
  cmd_t *cmd = parse("{\"id\":\"r\",\"action\":\"hold\",\"target\":{\"user\":\"201\"},"
                     "\"call\":{\"referencecallid\":99}}");
  cmd_build_ctx_t ctx = {5, 7000, 12};
  json_t *json;
  char err[128], *text;

  json = cmd ? cmd_build_json(cmd, &ctx, err, sizeof(err)) : NULL;
  text = json ? json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  CHECK_STR(text, "{\"subscribecmd\":{\"requestid\":5,\"subscribe_id\":7000,\"callcontrol\":"
                  "{\"callid\":12,\"callfunction\":{\"action\":3}}}}");
  free(text);
  json_decref(json);
  cmd_free(cmd);
}

static void test_park_server_call(void) {
  /* On the park server the bridge resolves the slot to the parked call's callid (40). */
  cmd_t *cmd = parse("{\"id\":\"p\",\"action\":\"blind_transfer\",\"target\":{\"parkserver\":\"3\"},"
                     "\"args\":{\"to\":\"2002\"}}");
  cmd_build_ctx_t ctx = {6, 7004, 40};
  json_t *json;
  char err[128], *text;

  json = cmd ? cmd_build_json(cmd, &ctx, err, sizeof(err)) : NULL;
  text = json ? json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  CHECK_STR(text, "{\"subscribecmd\":{\"requestid\":6,\"subscribe_id\":7004,\"callcontrol\":"
                  "{\"callid\":40,\"callfunction\":{\"action\":5,\"arg1\":\"2002\"}}}}");
  free(text);
  json_decref(json);
  cmd_free(cmd);
}

static void test_referencecallid_default(void) {
  cmd_t *mc = parse("{\"id\":\"m\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"}}");
  cmd_t *mc2 = parse("{\"id\":\"m\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"},"
                     "\"args\":{\"referencecallid\":77}}");
  cmd_t *drop = parse("{\"id\":\"d\",\"action\":\"drop\",\"target\":{\"user\":\"201\"},"
                      "\"call\":{\"callid\":1}}");
  cmd_build_ctx_t ctx = {1073741830, 7000, 0};

  CHECK(mc && cmd_build_referencecallid(mc, &ctx) == 1073741830);
  CHECK(mc2 && cmd_build_referencecallid(mc2, &ctx) == 77);
  {
    cmd_t *page = parse("{\"id\":\"p\",\"action\":\"page\",\"target\":{\"user\":\"201\"},\"args\":{\"to\":\"5001\"}}");
    CHECK(page && cmd_build_referencecallid(page, &ctx) == 1073741830);
    cmd_free(page);
  }
  CHECK(drop && cmd_build_referencecallid(drop, &ctx) == 0);
  cmd_free(mc);
  cmd_free(mc2);
  cmd_free(drop);
}

static void test_bridge_action_not_built(void) {
  cmd_t *cmd = parse("{\"id\":\"s\",\"action\":\"snapshot\",\"args\":{\"topics\":[\"calls\"]}}");
  cmd_build_ctx_t ctx = {1, 0, 0};
  Message *msg = (Message *)1;
  char err[128] = "";

  CHECK(cmd && cmd_build(cmd, &ctx, &msg, err, sizeof(err)) == -1);
  CHECK(msg == NULL);
  CHECK_STR(err, "snapshot is done by the bridge, not sent to the PBX");
  cmd_free(cmd);
}

int main(void) {
  test_golden_json();
  test_exact_bytes();
  test_resolved_callid();
  test_park_server_call();
  test_referencecallid_default();
  test_bridge_action_not_built();
  CHECK_DONE();
}
