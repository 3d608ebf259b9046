/*
 * test_cmd_policy: the operator's allow-lists, and the result JSON.
 */
#include <stdlib.h>

#include "check.h"
#include "cmd_policy.h"
#include "cmd_result.h"

static cmd_t *parse(const char *text) {
  cmd_parse_config_t conf;
  cmd_refusal_t refusal;
  cmd_t *cmd = NULL;

  cmd_parse_config_init(&conf);
  if (cmd_parse(&conf, text, strlen(text), &cmd, &refusal) < 0)
    fprintf(stderr, "refused: %s\n", refusal.reason);
  return cmd;
}

static cmd_policy_t *policy_of(const char *text) {
  cmd_policy_t *policy = NULL;
  char err[256];

  if (cmd_policy_parse(text, strlen(text), "test", &policy, err, sizeof(err)) < 0)
    fprintf(stderr, "policy: %s\n", err);
  return policy;
}

static void bad_policy(const char *text, const char *want) {
  cmd_policy_t *policy = NULL;
  char err[256] = "";

  CHECK(cmd_policy_parse(text, strlen(text), "p.json", &policy, err, sizeof(err)) == -1);
  CHECK(policy == NULL);
  CHECK_STR(err, want);
}

static void test_default_allows_all(void) {
  cmd_policy_t *policy = NULL;
  cmd_t *cmd = parse("{\"id\":\"a\",\"action\":\"force_clear\",\"target\":{\"user\":\"999\"},"
                     "\"call\":{\"callid\":1}}");
  char err[128], reason[128];

  CHECK(cmd_policy_load(NULL, &policy, err, sizeof(err)) == 0);
  CHECK(policy && cmd_policy_check(policy, cmd, "999", reason, sizeof(reason)) == 1);
  cmd_policy_free(policy);
  CHECK(cmd_policy_load("/nonexistent/policy.json", &policy, err, sizeof(err)) == -1);
  CHECK_STR(err, "/nonexistent/policy.json: No such file or directory");
  cmd_free(cmd);
}

static void test_bad_files(void) {
  bad_policy("{", "p.json:1:1: string or '}' expected near end of file");
  bad_policy("[]", "p.json:1:1: the policy is a JSON object");
  bad_policy("{\"action\":[]}", "p.json: \"action\": unknown key (actions, users, queues)");
  bad_policy("{\"actions\":\"drop\"}", "p.json: actions: must be an array of strings");
  bad_policy("{\"actions\":[\"drop\",\"dorp\"]}", "p.json: actions[1]: \"dorp\" names no action");
  bad_policy("{\"actions\":[\"@calls\"]}", "p.json: actions[0]: \"@calls\" names no action");
  bad_policy("{\"users\":[\"\"]}", "p.json: users[0]: must be a non-empty string");
  bad_policy("{\"users\":[\"300-200\"]}", "p.json: users[0]: range \"300-200\" is empty");
}

static void test_checks(void) {
  cmd_policy_t *policy = policy_of("{\"actions\":[\"@call\",\"make_call\",\"set_*\",\"get_version\"],"
                                   "\"users\":[\"201\",\"2000-2999\",\"3*\"],"
                                   "\"queues\":[\"Sales\",\"7000-7099\"]}");
  cmd_t *drop = parse("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"user\":\"2500\"},\"call\":{\"callid\":1}}");
  cmd_t *drop1999 = parse("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"user\":\"1999\"},\"call\":{\"callid\":1}}");
  cmd_t *login = parse("{\"id\":\"a\",\"action\":\"login_extn\",\"target\":{\"user\":\"201\"},"
                       "\"args\":{\"extn\":\"202\"}}");
  cmd_t *dnd_guid = parse("{\"id\":\"a\",\"action\":\"set_dnd\",\"target\":"
                          "{\"user\":\"dc51ba00-08a3-11dd-8053-0050569f6ef8\"},\"args\":{\"on\":true}}");
  cmd_t *q = parse("{\"id\":\"a\",\"action\":\"set_voicemail\",\"target\":{\"queue\":\"Support\"},"
                   "\"args\":{\"on\":true}}");
  cmd_t *q2 = parse("{\"id\":\"a\",\"action\":\"set_voicemail\",\"target\":{\"queue\":\"Sales\"},"
                    "\"args\":{\"on\":true}}");
  cmd_t *ver = parse("{\"id\":\"a\",\"action\":\"get_version\"}");
  char reason[160];

  CHECK(policy != NULL);
  if (!policy)
    return;
  CHECK(cmd_policy_check(policy, drop, "2500", reason, sizeof(reason)) == 1);
  CHECK(cmd_policy_check(policy, drop1999, "1999", reason, sizeof(reason)) == 0);
  CHECK_STR(reason, "denied: user 1999 is not in the policy's users");
  CHECK(cmd_policy_check(policy, login, "201", reason, sizeof(reason)) == 0);
  CHECK_STR(reason, "denied: action login_extn is not in the policy's actions");
  /* A GUID target is matched through its resolved extension. */
  CHECK(cmd_policy_check(policy, dnd_guid, "345", reason, sizeof(reason)) == 1);
  CHECK(cmd_policy_check(policy, dnd_guid, "401", reason, sizeof(reason)) == 0);
  CHECK(cmd_policy_check(policy, dnd_guid, NULL, reason, sizeof(reason)) == 0);
  /* Queues by name or by extension. */
  CHECK(cmd_policy_check(policy, q, "7050", reason, sizeof(reason)) == 1);
  CHECK(cmd_policy_check(policy, q, "8000", reason, sizeof(reason)) == 0);
  CHECK_STR(reason, "denied: queue Support is not in the policy's queues");
  CHECK(cmd_policy_check(policy, q2, "8000", reason, sizeof(reason)) == 1);
  CHECK(cmd_policy_check(policy, ver, NULL, reason, sizeof(reason)) == 1);
  /* A parked call is nobody's line: the actions alone decide. */
  {
    cmd_t *park = parse("{\"id\":\"a\",\"action\":\"drop\",\"target\":{\"parkserver\":\"1\"}}");
    CHECK(park && cmd_policy_check(policy, park, NULL, reason, sizeof(reason)) == 1);
    cmd_free(park);
  }
  /* A short code run on behalf of another user needs that user in the list too. */
  CHECK(cmd_policy_check_user(policy, "2005", "2005", "onbehalf", reason, sizeof(reason)) == 1);
  CHECK(cmd_policy_check_user(policy, "401", "dc51ba00-08a3-11dd-8053-0050569f6ef8", "onbehalf", reason,
                              sizeof(reason)) == 0);
  CHECK_STR(reason, "denied: onbehalf 401 is not in the policy's users");
  CHECK(cmd_policy_check_user(policy, NULL, "anna@example.com", "onbehalf", reason, sizeof(reason)) == 0);
  CHECK_STR(reason, "denied: onbehalf anna@example.com is not in the policy's users");
  cmd_policy_free(policy);

  policy = policy_of("{\"actions\":[]}");
  CHECK(policy && cmd_policy_check(policy, ver, NULL, reason, sizeof(reason)) == 0);
  cmd_policy_free(policy);
  cmd_free(drop);
  cmd_free(drop1999);
  cmd_free(login);
  cmd_free(dnd_guid);
  cmd_free(q);
  cmd_free(q2);
  cmd_free(ver);
}

static void test_result_json(void) {
  cmd_result_t r;
  json_t *data = json_pack("{ss}", "versioninfo", "IP Office 11.1.0.0 build 600");
  char *text;
  cmd_status_t st;
  cmd_reason_t rc;

  cmd_result_init(&r, "c-1", CMD_STATUS_FAILED);
  r.has_code = 1;
  r.code = 613;
  r.requestid = 1073741825;
  r.action = "park";
  r.latency_ms = 42;
  text = cmd_result_json_text(&r);
  CHECK_STR(text, "{\"id\":\"c-1\",\"status\":\"failed\",\"code\":613,"
                  "\"code_name\":\"MTCTISESS_CALLCONTROL_PARKFAILED\",\"reason\":null,"
                  "\"requestid\":1073741825,\"action\":\"park\",\"latency_ms\":42,\"data\":null}");
  free(text);

  cmd_result_init(&r, "c-2", CMD_STATUS_REJECTED);
  r.reason_code = CMD_REASON_BAD_ARGS;
  r.reason = "bad_args: args.slot: must be 1 to 9 of 0-9*#";
  r.action = "park";
  text = cmd_result_json_text(&r);
  CHECK_STR(text, "{\"id\":\"c-2\",\"status\":\"rejected\",\"code\":null,\"code_name\":null,"
                  "\"reason\":\"bad_args: args.slot: must be 1 to 9 of 0-9*#\","
                  "\"reason_code\":\"bad_args\",\"requestid\":null,\"action\":\"park\","
                  "\"latency_ms\":null,\"data\":null}");
  free(text);

  cmd_result_init(&r, "c-3", CMD_STATUS_SUCCEEDED);
  r.has_code = 1;
  r.code = 0;
  r.data = data;
  r.action = "get_version";
  text = cmd_result_json_text(&r);
  CHECK_STR(text, "{\"id\":\"c-3\",\"status\":\"succeeded\",\"code\":0,\"code_name\":"
                  "\"MTCTISESS_SUCCESS\",\"reason\":null,\"requestid\":null,\"action\":"
                  "\"get_version\",\"latency_ms\":null,\"data\":{\"versioninfo\":"
                  "\"IP Office 11.1.0.0 build 600\"}}");
  free(text);
  json_decref(data);

  cmd_result_init(&r, NULL, CMD_STATUS_REJECTED);
  r.reason_code = CMD_REASON_BAD_JSON;
  r.reason = "bad_json: x";
  text = cmd_result_json_text(&r);
  CHECK(text && strncmp(text, "{\"id\":null,\"status\":\"rejected\"", 30) == 0);
  free(text);

  CHECK(cmd_status_by_name("timeout", &st) == 0 && st == CMD_STATUS_TIMEOUT);
  CHECK(cmd_status_by_name("lost", &st) == -1);
  CHECK(!cmd_status_final(CMD_STATUS_ACCEPTED) && cmd_status_final(CMD_STATUS_DUPLICATE));
  CHECK(cmd_reason_by_name("denied", &rc) == 0 && rc == CMD_REASON_DENIED);
  CHECK(cmd_reason_by_name("", &rc) == -1);
}

int main(void) {
  test_default_allows_all();
  test_bad_files();
  test_checks();
  test_result_json();
  CHECK_DONE();
}
