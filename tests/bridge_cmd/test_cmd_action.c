/*
 * test_cmd_action: the action table is whole and consistent, its
 * featuresavailable checks follow the spec, and docs/commands.md and
 * schemas/command.schema.json are exactly what it generates.
 * Usage: test_cmd_action SOURCE_DIR
 */
#include <stdlib.h>

#include "check.h"
#include "cmd_action.h"
#include "cmd_gen.h"
#include "codec_tables.h"
#include "ipo_mtcti3.pb-c.h"

static const char *const issue_actions[] = {
  "drop", "answer", "hold", "unhold", "blind_transfer", "redirect", "dial", "park",
  "setup_transfer", "setup_conf", "complete_transfer", "complete_conf", "add_to_conf",
  "member_function", "set_tag", "set_account_code", "set_auth_code", "push_to_ec500",
  "generate_digits", "answer_page", "force_clear", "recording_on", "recording_off", "privacy_on",
  "privacy_off", "mute_on", "mute_off", "agent_recording", "set_priority", "finish", "make_call",
  "unpark", "set_dnd", "set_absence", "set_ec500", "shortcode", "login_extn", "set_app",
  "set_forward_unconditional", "set_mailbox", "set_service_mode", "set_voicemail", "set_members",
  "add_member", "delete_member", "get_version", "get_file", "snapshot",
  /* issue 13: MakeCall's special types */
  "page", "force_feed", "intrude", "pickup", "camp_on", "meetme", NULL};

static void test_table_whole(void) {
  const cmd_action_t *actions;
  size_t n, i, j;
  int k;

  actions = cmd_actions(&n);
  for (k = 0; issue_actions[k]; k++)
    CHECK(cmd_action_find(issue_actions[k]) != NULL);
  CHECK(n == (size_t)k);
  CHECK(cmd_action_find("explode") == NULL);
  for (i = 0; i < n; i++) {
    const cmd_action_t *a = &actions[i];
    int secrets = 0;
    for (j = i + 1; j < n; j++)
      CHECK(strcmp(a->name, actions[j].name) != 0);
    /* A call action is a CallFunction whose action the enum names and whose
     * bit is in the call word; others are not CallFunctions. */
    if (a->scope == CMD_SCOPE_CALL) {
      CHECK(a->build == CMD_BUILD_CALLFUNCTION);
      CHECK(protobuf_c_enum_descriptor_get_value(&call_function__action__descriptor,
                                                 a->cf_action) != NULL);
      CHECK(a->feature_word == CMD_FEAT_CALL || a->feature_word == CMD_FEAT_CALL2);
      CHECK(a->feature_mask != 0 && cmd_action_feature_name(a) != NULL);
      CHECK(a->lines != 0);
    } else {
      CHECK(a->build != CMD_BUILD_CALLFUNCTION && a->cf_action == -1);
    }
    for (j = 0; j < a->n_args; j++) {
      size_t m;
      CHECK(a->args[j].min <= a->args[j].max);
      CHECK(a->args[j].help && a->args[j].help[0]);
      for (m = j + 1; m < a->n_args; m++)
        CHECK(strcmp(a->args[j].name, a->args[m].name) != 0);
      secrets += a->args[j].secret;
    }
    /* Exactly the password and the auth codes are secret. */
    if (strcmp(a->name, "login_extn") == 0)
      CHECK(cmd_action_arg(a, "password")->secret && secrets == 1);
    else if (strcmp(a->name, "set_auth_code") == 0)
      CHECK(cmd_action_arg(a, "code")->secret && secrets == 1);
    else if (strcmp(a->name, "make_call") == 0)
      CHECK(cmd_action_arg(a, "auth_code")->secret && secrets == 1);
    else
      CHECK(secrets == 0);
  }
}

static void test_spec_facts(void) {
  /* A few rows against the spec's own words. */
  const cmd_action_t *park = cmd_action_find("park"), *conf = cmd_action_find("setup_conf");
  const cmd_action_t *page = cmd_action_find("answer_page"), *prio = cmd_action_find("set_priority");
  const cmd_arg_t *slot = cmd_action_arg(park, "slot");

  CHECK(park->cf_action == CALL_FUNCTION__ACTION__Park && park->feature_mask == CODEC_CF_PARK);
  CHECK(slot->min == 1 && slot->max == 9 && slot->chars == CMD_CHARS_DIAL);
  CHECK(conf->feature_mask == CODEC_CF_SETUPXFER); /* "same bit as SetupTransfer" */
  CHECK(page->feature_word == CMD_FEAT_CALL2 && page->feature_mask == 1);
  CHECK(prio->lines == CMD_LINE_QUEUE);
  CHECK(cmd_action_arg(cmd_action_find("generate_digits"), "digits")->max == 32);
  CHECK(cmd_action_arg(cmd_action_find("blind_transfer"), "to")->max == 78);
  CHECK(cmd_action_arg(cmd_action_find("set_tag"), "tag")->max == 127);
  CHECK(cmd_action_arg(cmd_action_find("set_account_code"), "code")->max == 15);
  CHECK(cmd_action_find("make_call")->feature_mask == CODEC_UF_MAKECALL);
  CHECK(cmd_action_find("set_dnd")->feature_mask == CODEC_UF_SAC);
  /* MakeCall's types: "104 = Page Call ... 116 = Dial a MeetMe conference"; each needs MAKECALL */
  {
    static const struct {
      const char *name;
      int type;
    } types[] = {{"make_call", 0},  {"page", 104},    {"force_feed", 105}, {"intrude", 106},
                 {"pickup", 108},   {"camp_on", 109}, {"meetme", 116}};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
      const cmd_action_t *a = cmd_action_find(types[i].name);
      CHECK(a->build == CMD_BUILD_MAKECALL && a->makecall_type == types[i].type);
      CHECK(a->scope == CMD_SCOPE_NEW_CALL && a->feature_mask == CODEC_UF_MAKECALL);
      CHECK(cmd_action_arg(a, "referencecallid") != NULL);
    }
    CHECK_STR(cmd_makecall_type_name(109), "CampOn");
    CHECK(cmd_makecall_type_name(0) == NULL && cmd_makecall_type_name(107) == NULL);
    CHECK(!cmd_action_arg(cmd_action_find("pickup"), "to")->required);
    CHECK(cmd_action_arg(cmd_action_find("meetme"), "to")->chars == CMD_CHARS_DIAL);
  }
  /* The park server's line types: DropCall, BlindTransfer, SetTag, ForceClear, and nothing else */
  {
    const cmd_action_t *actions;
    size_t n, i, on_park = 0;
    actions = cmd_actions(&n);
    for (i = 0; i < n; i++) {
      if (actions[i].lines & CMD_LINE_PARK) {
        on_park++;
        CHECK(actions[i].cf_action == CALL_FUNCTION__ACTION__DropCall ||
              actions[i].cf_action == CALL_FUNCTION__ACTION__BlindTransfer ||
              actions[i].cf_action == CALL_FUNCTION__ACTION__SetTag ||
              actions[i].cf_action == CALL_FUNCTION__ACTION__ForceClear);
      }
    }
    CHECK(on_park == 4);
  }
  CHECK(cmd_action_arg(cmd_action_find("shortcode"), "onbehalf")->max == 64);
  CHECK(cmd_action_arg(cmd_action_find("login_extn"), "teleworker")->chars == CMD_CHARS_PHONE);
  CHECK(cmd_charset_ok(CMD_CHARS_PHONE, "+44*1#9") && !cmd_charset_ok(CMD_CHARS_PHONE, "44 1"));
}

static void test_available(void) {
  char reason[160] = "";
  const cmd_action_t *park = cmd_action_find("park"), *dnd = cmd_action_find("set_dnd");

  CHECK(cmd_action_available(park, CODEC_CF_PARK | CODEC_CF_DROP, 0, 0, reason, sizeof(reason)));
  CHECK(!cmd_action_available(park, CODEC_CF_DROP, 0, 0, reason, sizeof(reason)));
  CHECK_STR(reason, "the call's featuresavailable lacks PARK: park is not possible now");
  CHECK(!cmd_action_available(cmd_action_find("answer_page"), 0xffffffffu, 0, 0, reason,
                              sizeof(reason)));
  CHECK(cmd_action_available(cmd_action_find("answer_page"), 0, 1, 0, reason, sizeof(reason)));
  /* The user word counts only when VALID is set (older PBXs leave it 0). */
  CHECK(cmd_action_available(dnd, 0, 0, 0, reason, sizeof(reason)));
  CHECK(!cmd_action_available(dnd, 0, 0, CODEC_UF_VALID, reason, sizeof(reason)));
  CHECK_STR(reason, "the user's featuresavailable lacks SAC: set_dnd is not possible now");
  CHECK(cmd_action_available(dnd, 0, 0, CODEC_UF_VALID | CODEC_UF_SAC, reason, sizeof(reason)));
  CHECK(cmd_action_available(cmd_action_find("set_members"), 0, 0, 0, reason, sizeof(reason)));
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;

  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
    buf[n] = '\0';
  else {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static void test_generated_files(const char *srcdir) {
  char path[1024], *docs, *schema, *want_schema, *gen = NULL, *begin, *end;
  size_t gen_len = 0;
  FILE *mem;

  snprintf(path, sizeof(path), "%s/schemas/command.schema.json", srcdir);
  schema = slurp(path);
  want_schema = cmd_gen_schema_text();
  CHECK(schema && want_schema && strcmp(schema, want_schema) == 0);
  if (schema && want_schema && strcmp(schema, want_schema) != 0)
    fprintf(stderr, "schemas/command.schema.json differs from the table: run "
                    "tests/bridge_cmd/regen.sh\n");
  free(schema);
  free(want_schema);

  snprintf(path, sizeof(path), "%s/docs/commands.md", srcdir);
  docs = slurp(path);
  mem = open_memstream(&gen, &gen_len);
  cmd_gen_docs(mem);
  fclose(mem);
  begin = docs ? strstr(docs, CMD_GEN_DOCS_BEGIN) : NULL;
  end = begin ? strstr(begin, CMD_GEN_DOCS_END) : NULL;
  CHECK(begin && end);
  if (begin && end) {
    begin += strlen(CMD_GEN_DOCS_BEGIN);
    CHECK((size_t)(end - begin) == gen_len && memcmp(begin, gen, gen_len) == 0);
    if ((size_t)(end - begin) != gen_len || memcmp(begin, gen, gen_len) != 0)
      fprintf(stderr, "docs/commands.md differs from the table: run tests/bridge_cmd/regen.sh\n");
  }
  free(gen);
  free(docs);
}

int main(int argc, char **argv) {
  test_table_whole();
  test_spec_facts();
  test_available();
  if (argc > 1)
    test_generated_files(argv[1]);
  else
    fprintf(stderr, "no SOURCE_DIR: generated files not compared\n");
  CHECK_DONE();
}
