/*
 * test_cmd_parse: what a command may be.  Every refusal has its reason code
 * and exact one-line reason; secrets never reach a rendering; bad bytes never
 * crash.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "cmd_parse.h"

static cmd_parse_config_t conf;

/* Refused with exactly `reason` (which begins with its reason code). */
static void refused(const char *text, cmd_reason_t code, const char *reason) {
  cmd_refusal_t refusal;
  cmd_t *cmd = (cmd_t *)1;

  CHECK(cmd_parse(&conf, text, strlen(text), &cmd, &refusal) == -1);
  CHECK(cmd == NULL);
  if (refusal.code != code)
    fprintf(stderr, "  for %s\n", text);
  CHECK(refusal.code == code);
  CHECK_STR(refusal.reason, reason);
}

static cmd_t *accepted(const char *text) {
  cmd_refusal_t refusal;
  cmd_t *cmd = NULL;

  if (cmd_parse(&conf, text, strlen(text), &cmd, &refusal) < 0)
    fprintf(stderr, "refused: %s: %s\n", text, refusal.reason);
  CHECK(cmd != NULL);
  return cmd;
}

static void test_shape(void) {
  refused("", CMD_REASON_BAD_JSON, "bad_json: '[' or '{' expected near end of file at line 1 column 0");
  refused("[1]", CMD_REASON_BAD_JSON, "bad_json: a command is a JSON object");
  refused("{\"id\":\"a\",\"id\":\"b\"}", CMD_REASON_BAD_JSON,
          "bad_json: duplicate object key near '\"id\"' at line 1 column 14");
  refused("{}", CMD_REASON_BAD_ID, "bad_id: id: required, 1 to 128 of A-Za-z0-9._:-");
  refused("{\"id\":\"a b\"}", CMD_REASON_BAD_ID, "bad_id: id: must be 1 to 128 of A-Za-z0-9._:-");
  refused("{\"id\":7}", CMD_REASON_BAD_ID, "bad_id: id: must be 1 to 128 of A-Za-z0-9._:-");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"tagret\":{}}", CMD_REASON_BAD_FIELD,
          "bad_field: tagret: not a field of a command");
  refused("{\"id\":\"a\"}", CMD_REASON_UNKNOWN_ACTION, "unknown_action: action: required, a string");
  refused("{\"id\":\"a\",\"action\":\"explode\"}", CMD_REASON_UNKNOWN_ACTION,
          "unknown_action: action: \"explode\" is not an action");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"reply_to\":\"bad topic\"}",
          CMD_REASON_BAD_REPLY_TO,
          "bad_reply_to: reply_to: must be a Kafka topic name (1 to 249 of A-Za-z0-9._-)");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"reply_to\":\"..\"}", CMD_REASON_BAD_REPLY_TO,
          "bad_reply_to: reply_to: must be a Kafka topic name (1 to 249 of A-Za-z0-9._-)");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"pbx\":\"other\"}", CMD_REASON_WRONG_PBX,
          "wrong_pbx: pbx: \"other\" is not this bridge's PBX (\"ipo1\")");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"timeout_ms\":5}", CMD_REASON_BAD_TIMEOUT,
          "bad_timeout: timeout_ms: must be an integer from 100 to 300000");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"timeout_ms\":\"100\"}",
          CMD_REASON_BAD_TIMEOUT, "bad_timeout: timeout_ms: must be an integer from 100 to 300000");
}

static void test_size_limit(void) {
  size_t n = conf.max_bytes + 1;
  char *big = malloc(n);
  cmd_refusal_t refusal;
  cmd_t *cmd;
  char want[128];

  memset(big, ' ', n);
  CHECK(cmd_parse(&conf, big, n, &cmd, &refusal) == -1);
  CHECK(refusal.code == CMD_REASON_TOO_BIG);
  snprintf(want, sizeof(want), "too_big: %zu bytes, more than the limit of %zu", n, conf.max_bytes);
  CHECK_STR(refusal.reason, want);
  free(big);
}

static void test_target_and_call(void) {
  refused("{\"id\":\"a\",\"action\":\"drop\",\"call\":{\"callid\":1}}", CMD_REASON_BAD_TARGET,
          "bad_target: target: drop needs {\"user\": ...}");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"user\":\"201\"}}", CMD_REASON_BAD_CALL,
          "bad_call: call: drop needs {\"callid\": N} or {\"referencecallid\": N}");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":0}}",
          CMD_REASON_BAD_CALL, "bad_call: call.callid: must be an integer from 1 to 2147483647");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"user\":\"201\"},"
          "\"call\":{\"callid\":1,\"referencecallid\":2}}",
          CMD_REASON_BAD_CALL, "bad_call: call: must be {\"callid\": N} or {\"referencecallid\": N}");
  refused("{\"id\":\"a\",\"action\":\"hold\",\"target\":{\"queue\":\"Sales\"},\"call\":{\"callid\":1}}",
          CMD_REASON_BAD_TARGET, "bad_target: target.queue: hold cannot be done on a queue");
  refused("{\"id\":\"a\",\"action\":\"set_priority\",\"target\":{\"user\":\"201\"},"
          "\"call\":{\"callid\":1},\"args\":{\"priority\":2}}",
          CMD_REASON_BAD_TARGET, "bad_target: target.user: set_priority cannot be done on a user");
  refused("{\"id\":\"a\",\"action\":\"set_dnd\",\"target\":{\"user\":\"\"},\"args\":{\"on\":true}}",
          CMD_REASON_BAD_TARGET,
          "bad_target: target.user: must be an extension, name or GUID of 1 to 64 characters");
  refused("{\"id\":\"a\",\"action\":\"set_dnd\",\"target\":{\"line\":\"201\"},\"args\":{\"on\":true}}",
          CMD_REASON_BAD_TARGET,
          "bad_target: target.line: unknown; must be {\"user\": ...} or {\"queue\": ...}");
  refused("{\"id\":\"a\",\"action\":\"get_version\",\"target\":{\"user\":\"201\"}}",
          CMD_REASON_BAD_TARGET, "bad_target: target: get_version acts on the PBX and takes none");
  refused("{\"id\":\"a\",\"action\":\"make_call\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":1}}",
          CMD_REASON_BAD_CALL, "bad_call: call: make_call acts on no existing call");
  /* the park server: a slot names the line and the call; a call, if given, must be that one */
  {
    cmd_t *cmd = accepted("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"parkserver\":\"1#\"}}");
    int32_t v = -1;
    CHECK(cmd_target_kind(cmd) == CMD_TARGET_PARKSERVER && strcmp(cmd_target(cmd), "1#") == 0);
    CHECK(cmd_call(cmd, &v) == CMD_CALL_NONE);
    cmd_free(cmd);
    cmd = accepted("{\"id\":\"a\",\"action\":\"force_clear\",\"target\":{\"parkserver\":\"2\"},"
                   "\"call\":{\"callid\":9}}");
    CHECK(cmd_call(cmd, &v) == CMD_CALL_CALLID && v == 9);
    cmd_free(cmd);
  }
  refused("{\"id\":\"a\",\"action\":\"hold\",\"target\":{\"parkserver\":\"1\"}}", CMD_REASON_BAD_TARGET,
          "bad_target: target.parkserver: hold cannot be done on a park server");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"parkserver\":\"1234567890\"}}",
          CMD_REASON_BAD_TARGET, "bad_target: target.parkserver: must be a park slot, 1 to 9 of 0-9*#");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"parkserver\":\"A\"}}",
          CMD_REASON_BAD_TARGET, "bad_target: target.parkserver: must be a park slot, 1 to 9 of 0-9*#");
  refused("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"line\":\"1\"},\"call\":{\"callid\":1}}",
          CMD_REASON_BAD_TARGET,
          "bad_target: target.line: unknown; must be {\"user\": ...}, {\"queue\": ...} or {\"parkserver\": \"<slot>\"}");
  refused("{\"id\":\"a\",\"action\":\"set_dnd\",\"target\":{\"parkserver\":\"1\"},\"args\":{\"on\":true}}",
          CMD_REASON_BAD_TARGET, "bad_target: target.parkserver: set_dnd cannot be done on a park server");
}

static void test_args_limits(void) {
#define CALL_ON(action, args) \
  "{\"id\":\"a\",\"action\":\"" action "\",\"target\":{\"user\":\"201\"},\"call\":{\"callid\":1},\"args\":" args "}"
#define QCALL_ON(action, args) \
  "{\"id\":\"a\",\"action\":\"" action "\",\"target\":{\"queue\":\"7000\"},\"call\":{\"callid\":1},\"args\":" args "}"
#define USER_DO(action, args) \
  "{\"id\":\"a\",\"action\":\"" action "\",\"target\":{\"user\":\"201\"},\"args\":" args "}"
  char long_to[200];

  refused(CALL_ON("park", "{\"slot\":\"1234567890\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.slot: must be 1 to 9 of 0-9*#");
  refused(CALL_ON("park", "{\"slot\":\"12a\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.slot: must be 1 to 9 of 0-9*#");
  refused(CALL_ON("park", "{}"), CMD_REASON_BAD_ARGS, "bad_args: args.slot: required by park");
  refused(CALL_ON("park", "[]"), CMD_REASON_BAD_ARGS, "bad_args: args: must be an object");
  refused(CALL_ON("drop", "{\"to\":\"1\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.to: drop takes no arguments");
  refused(CALL_ON("park", "{\"slot\":\"1\",\"spot\":\"2\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.spot: not an argument of park");
  refused(CALL_ON("generate_digits", "{\"digits\":\"123456789012345678901234567890123\"}"),
          CMD_REASON_BAD_ARGS, "bad_args: args.digits: must be 1 to 32 of 0-9*#");
  refused(CALL_ON("blind_transfer", "{\"to\":\"\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.to: must be 1 to 78 characters, without control characters");
  snprintf(long_to, sizeof(long_to), CALL_ON("blind_transfer", "{\"to\":\"%079d\"}"), 0);
  refused(long_to, CMD_REASON_BAD_ARGS,
          "bad_args: args.to: must be 1 to 78 characters, without control characters");
  refused(CALL_ON("blind_transfer", "{\"to\":\"20\\n2\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.to: must be 1 to 78 characters, without control characters");
  refused(CALL_ON("blind_transfer", "{\"to\":\"20\\u00002\"}"), CMD_REASON_BAD_JSON,
          "bad_json: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"20\\u00002\"' at line 1 "
          "column 104");
  refused(CALL_ON("set_account_code", "{\"code\":\"1234567890123456\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.code: must be at most 15 characters, without control characters");
  refused(QCALL_ON("set_priority", "{\"priority\":4}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.priority: must be an integer from 1 to 3");
  refused(QCALL_ON("set_priority", "{\"priority\":\"2\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.priority: must be an integer from 1 to 3");
  refused(QCALL_ON("finish", "{\"now\":1}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.now: must be true or false");
  refused(CALL_ON("member_function", "{\"lref\":1,\"op\":\"kick\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.op: must be one of drop, mute_on, mute_off");
  refused(CALL_ON("complete_transfer", "{\"with\":[1,2]}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.with: must be a callid (1 to 2147483647)");
  refused(CALL_ON("complete_conf", "{\"with\":[1,0]}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.with: must be a callid (1 to 2147483647) or an array of 1 to 16 of them");
  refused(USER_DO("set_absence", "{\"text\":\"x\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.msg: required unless clear is true");
  /* issue 13: MakeCall types, onbehalf, a teleworker login */
  refused(USER_DO("page", "{}"), CMD_REASON_BAD_ARGS, "bad_args: args.to: required by page");
  refused(USER_DO("meetme", "{\"to\":\"60a\"}"), CMD_REASON_BAD_ARGS, "bad_args: args.to: must be 1 to 78 of 0-9*#");
  refused(USER_DO("camp_on", "{\"to\":\"2002\",\"tag\":\"x\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.tag: not an argument of camp_on");
  cmd_free(accepted(USER_DO("pickup", "{\"to\":\"\"}")));
  refused(USER_DO("shortcode", "{\"code\":7,\"onbehalf\":\"\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.onbehalf: must be 1 to 64 characters, without control characters");
  refused(USER_DO("login_extn", "{\"extn\":\"201\",\"teleworker\":\"0170 7123\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.teleworker: must be 1 to 31 of 0-9*#+");
  refused(USER_DO("login_extn", "{\"extn\":\"201\",\"hold_line_open\":true}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.hold_line_open: only with teleworker");
  refused(USER_DO("login_extn", "{\"extn\":\"201\",\"test_connection\":false}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.test_connection: only with teleworker");
  refused(USER_DO("set_absence", "{\"clear\":true,\"msg\":1}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.clear: give either clear or msg and text, not both");
  refused(USER_DO("set_absence", "{\"msg\":1,\"text\":\"0123456789012345678901\"}"),
          CMD_REASON_BAD_ARGS,
          "bad_args: args.text: must be at most 21 characters, without control characters");
  refused(USER_DO("set_app", "{\"value\":\"x\",\"makelive\":true,\"makedead\":true}"),
          CMD_REASON_BAD_ARGS, "bad_args: args.makedead: cannot be true with makelive");
  refused(USER_DO("login_extn", "{\"extn\":\"2x1\",\"password\":\"1\"}"), CMD_REASON_BAD_ARGS,
          "bad_args: args.extn: must be 1 to 15 of 0-9");
  refused("{\"id\":\"a\",\"action\":\"set_members\",\"target\":{\"queue\":\"Sales\"},"
          "\"args\":{\"members\":[\"201\",{\"extn\":\"202\",\"mute\":true}]}}",
          CMD_REASON_BAD_ARGS,
          "bad_args: args.members[1]: must be an extension (1 to 15 of 0-9) or {\"extn\": ..., "
          "\"disabled\": true|false}");
  refused("{\"id\":\"a\",\"action\":\"snapshot\",\"args\":{\"topics\":[\"calls\",\"calls\"]}}",
          CMD_REASON_BAD_ARGS, "bad_args: args.topics: \"calls\" is named twice");
  refused("{\"id\":\"a\",\"action\":\"snapshot\",\"args\":{\"topics\":[\"events\"]}}",
          CMD_REASON_BAD_ARGS, "bad_args: args.topics[0]: must be one of calls, presence, queues, lines");
}

static void test_unicode_lengths(void) {
  /* 127 characters of 2-byte UTF-8 is a valid tag; 128 is not. */
  char text[2048], tag[600];
  int i;
  cmd_t *cmd;

  for (i = 0; i < 127; i++)
    memcpy(tag + 2 * i, "\xc3\xa9", 2);
  tag[254] = '\0';
  snprintf(text, sizeof(text), CALL_ON("set_tag", "{\"tag\":\"%s\"}"), tag);
  cmd = accepted(text);
  cmd_free(cmd);
  snprintf(text, sizeof(text), CALL_ON("set_tag", "{\"tag\":\"%s\\u00e9\"}"), tag);
  refused(text, CMD_REASON_BAD_ARGS,
          "bad_args: args.tag: must be at most 127 characters, without control characters");
}

static void test_accessors(void) {
  cmd_t *cmd = accepted("{\"id\":\"op-1:x\",\"action\":\"blind_transfer\",\"target\":{\"queue\":\"Sales\"},"
                        "\"call\":{\"referencecallid\":99},\"args\":{\"to\":\"202\"},"
                        "\"timeout_ms\":2500,\"reply_to\":\"app.replies\",\"pbx\":\"ipo1\"}");
  int32_t v = 0;

  if (!cmd)
    return;
  CHECK_STR(cmd_id(cmd), "op-1:x");
  CHECK_STR(cmd_action(cmd)->name, "blind_transfer");
  CHECK(cmd_target_kind(cmd) == CMD_TARGET_QUEUE);
  CHECK_STR(cmd_target(cmd), "Sales");
  CHECK(cmd_call(cmd, &v) == CMD_CALL_REFERENCECALLID && v == 99);
  CHECK(cmd_timeout_ms(cmd) == 2500);
  CHECK_STR(cmd_reply_to(cmd), "app.replies");
  CHECK_STR(cmd_arg_string(cmd, "to"), "202");
  cmd_free(cmd);

  cmd = accepted("{\"id\":\"d\",\"action\":\"get_version\"}");
  CHECK(cmd && cmd_timeout_ms(cmd) == 10000 && cmd_reply_to(cmd) == NULL &&
        cmd_target_kind(cmd) == CMD_TARGET_NONE && cmd_call(cmd, NULL) == CMD_CALL_NONE);
  cmd_free(cmd);
}

static void test_refusal_keeps_id_and_reply_to(void) {
  const char *text = "{\"id\":\"r-9\",\"action\":\"park\",\"reply_to\":\"mine\","
                     "\"target\":{\"user\":\"201\"},\"call\":{\"callid\":1},\"args\":{}}";
  cmd_refusal_t refusal;
  cmd_t *cmd;

  CHECK(cmd_parse(&conf, text, strlen(text), &cmd, &refusal) == -1);
  CHECK_STR(refusal.id, "r-9");
  CHECK_STR(refusal.action, "park");
  CHECK_STR(refusal.reply_to, "mine");
}

static void test_redaction(void) {
  cmd_t *login = accepted("{\"id\":\"l\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},"
                          "\"args\":{\"extn\":\"210\",\"password\":\"s3cr3t\"}}");
  cmd_t *auth = accepted(CALL_ON("set_auth_code", "{\"code\":\"98765\"}"));
  cmd_t *mc = accepted(USER_DO("make_call", "{\"to\":\"202\",\"auth_code\":\"4321\",\"tag\":\"t\"}"));
  char *text;

  text = login ? cmd_to_text_redacted(login) : NULL;
  CHECK_STR(text, "{\"id\":\"l\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},"
                  "\"args\":{\"extn\":\"210\",\"password\":\"[redacted]\"},\"timeout_ms\":10000}");
  free(text);
  text = auth ? cmd_to_text_redacted(auth) : NULL;
  CHECK(text && !strstr(text, "98765") && strstr(text, "[redacted]"));
  free(text);
  text = mc ? cmd_to_text_redacted(mc) : NULL;
  CHECK(text && !strstr(text, "4321") && strstr(text, "\"tag\":\"t\""));
  free(text);
  /* The secret is still there for the builder. */
  CHECK(login && strcmp(cmd_arg_string(login, "password"), "s3cr3t") == 0);
  cmd_free(login);
  cmd_free(auth);
  cmd_free(mc);
}

/* Truncations and random bytes: refused or accepted, never a crash (ASan). */
static void test_garbage(void) {
  const char *good = CALL_ON("complete_conf", "{\"with\":[2,3]}");
  size_t len = strlen(good), i;
  unsigned seed = 12345;
  char buf[512];
  cmd_refusal_t refusal;
  cmd_t *cmd;
  int ok = 1, r;

  for (i = 0; i < len; i++) {
    r = cmd_parse(&conf, good, i, &cmd, &refusal);
    ok &= r == -1 && refusal.reason[0] != '\0';
    cmd_free(cmd);
  }
  for (i = 0; i < 20000; i++) {
    size_t n = (size_t)(rand_r(&seed) % sizeof(buf)), j;
    memcpy(buf, good, len < n ? len : n);
    for (j = 0; j < n / 8; j++)
      buf[rand_r(&seed) % (n ? n : 1)] = (char)rand_r(&seed);
    r = cmd_parse(&conf, buf, n, &cmd, &refusal);
    ok &= (r == 0) == (cmd != NULL);
    cmd_free(cmd);
  }
  CHECK(ok);
}

int main(void) {
  cmd_parse_config_init(&conf);
  conf.pbx_id = "ipo1";
  test_shape();
  test_size_limit();
  test_target_and_call();
  test_args_limits();
  test_unicode_lengths();
  test_accessors();
  test_refusal_keeps_id_and_reply_to();
  test_redaction();
  test_garbage();
  CHECK_DONE();
}
