/*
 * test_text: codec_text renderings, compared with exact strings.
 *
 * Scenarios: the spec's golden lines subscription; an incoming call as in the
 * spec's trace (featuresavailable=0x23 DROP ANSWER REDIRECT); a user notify
 * with user feature bits; a lines notify with GUIDs; result codes known and
 * unknown; multiline layout; odd strings; values the .proto does not know
 * (enum numbers, feature bits); a huge string; bytes that protobuf-c unpacked
 * from the wire.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_text.h"
#include "ipo_mtcti3.pb-c.h"

#include "check.h"

/* Render `msg` and compare with `want`; prints both on a mismatch. */
static void expect_text(int line, const void *msg, int multiline, const char *want) {
  char *got = codec_text_print((const ProtobufCMessage *)msg, multiline);

  if (got && strcmp(got, want) == 0) {
    check_passed++;
  } else {
    check_failed++;
    fprintf(stderr, "%s:%d: FAILED\n  want: %s\n  got:  %s\n", __FILE__, line, want,
            got ? got : "(NULL)");
  }
  free(got);
}
#define EXPECT_TEXT(msg, multiline, want) expect_text(__LINE__, (msg), (multiline), (want))

/* The golden vector's message, built field by field. */
typedef struct golden {
  Message msg;
  Subscribe sub;
  SubscribeLines lines;
} golden_t;

static void golden_init(golden_t *g) {
  message__init(&g->msg);
  subscribe__init(&g->sub);
  subscribe_lines__init(&g->lines);
  g->lines.flags = 7;
  g->sub.requestid = 1;
  g->sub.subscribe_id = 1;
  g->sub.timeout = 3600;
  g->sub.payload_case = SUBSCRIBE__PAYLOAD_LINES;
  g->sub.lines = &g->lines;
  g->msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBE;
  g->msg.subscribe = &g->sub;
}

static void test_golden(void) {
  golden_t g;

  golden_init(&g);
  EXPECT_TEXT(&g.msg, 0,
              "Message { subscribe { requestid=1 subscribe_id=1 timeout=3600 "
              "lines { flags=0x7 } } }");
}

static void test_golden_multiline(void) {
  golden_t g;

  golden_init(&g);
  EXPECT_TEXT(&g.msg, 1,
              "Message {\n"
              "  subscribe {\n"
              "    requestid=1\n"
              "    subscribe_id=1\n"
              "    timeout=3600\n"
              "    lines {\n"
              "      flags=0x7\n"
              "    }\n"
              "  }\n"
              "}");
}

/* A set submessage prints even when all its fields are defaults. */
static void test_empty_submessage(void) {
  golden_t g;

  golden_init(&g);
  g.lines.flags = 0;
  g.sub.requestid = 0;
  g.sub.timeout = 0;
  EXPECT_TEXT(&g.msg, 0, "Message { subscribe { subscribe_id=1 lines { } } }");
  EXPECT_TEXT(&g.msg, 1,
              "Message {\n  subscribe {\n    subscribe_id=1\n    lines {\n    }\n  }\n}");
}

static void test_empty_message(void) {
  Message msg;

  message__init(&msg);
  EXPECT_TEXT(&msg, 0, "Message { }");
  EXPECT_TEXT(&msg, 1, "Message {\n}");
}

/* The spec's incoming-call trace. */
typedef struct call {
  Message msg;
  Notify notify;
  NotifyCallControl cc;
  CallInfo info;
  CallInfo *infos[1];
  PartyInfo calling;
} call_t;

static const uint8_t call_gcid[] = {0x01, 0xc0, 0xa8, 0x2a, 0x0b, 0x00, 0x00, 0x03, 0xec};

static void call_init(call_t *c) {
  message__init(&c->msg);
  notify__init(&c->notify);
  notify_call_control__init(&c->cc);
  call_info__init(&c->info);
  party_info__init(&c->calling);
  c->calling.number = "61001";
  c->calling.name = "Agent 61001";
  c->calling.nametype = 5;
  c->info.callid = 1;
  c->info.state = CALL_INFO__STATE__RINGING;
  c->info.direction = CALL_INFO__DIRECTION__INBOUND;
  c->info.gcid.data = (uint8_t *)call_gcid;
  c->info.gcid.len = sizeof(call_gcid);
  c->info.featuresavailable = 0x23;
  c->info.callingparty = &c->calling;
  c->infos[0] = &c->info;
  c->cc.refreshinstance = 1;
  c->cc.n_callinfo = 1;
  c->cc.callinfo = c->infos;
  c->notify.subscribe_id = 7000;
  c->notify.payload_case = NOTIFY__PAYLOAD_CALLCONTROL;
  c->notify.callcontrol = &c->cc;
  c->msg.payload_case = MESSAGE__PAYLOAD_NOTIFY;
  c->msg.notify = &c->notify;
}

static void test_callinfo(void) {
  call_t c;

  call_init(&c);
  EXPECT_TEXT(&c.msg, 0,
              "Message { notify { subscribe_id=7000 callcontrol { refreshinstance=1 "
              "callinfo { callid=1 state=RINGING direction=INBOUND gcid=01c0a82a0b000003ec "
              "featuresavailable=0x23 DROP ANSWER REDIRECT "
              "callingparty { number=61001 name=\"Agent 61001\" nametype=5 } } } } }");
}

/* Numbers our tables and .proto do not name still print, as numbers. */
static void test_callinfo_unknown_values(void) {
  call_t c;

  call_init(&c);
  c.info.state = 99;
  c.info.featuresavailable = 0x8023; /* bit 15 is reserved */
  c.info.featuresavailable2 = 0x5;
  c.info.callingparty = NULL;
  c.info.gcid.len = 0;
  EXPECT_TEXT(&c.info, 0,
              "CallInfo { callid=1 state=99 direction=INBOUND "
              "featuresavailable=0x8023 DROP ANSWER REDIRECT 0x8000 featuresavailable2=0x5 }");
  c.info.featuresavailable = 0x8000; /* only unnamed bits: the hex alone */
  c.info.featuresavailable2 = 0;
  c.info.state = CALL_INFO__STATE__UNKNOWN;
  c.info.direction = CALL_INFO__DIRECTION__UNDEFINED;
  EXPECT_TEXT(&c.info, 0, "CallInfo { callid=1 featuresavailable=0x8000 }");
}

/* Several callinfo elements, each as its own block; spec-style multiline. */
static void test_repeated_multiline(void) {
  call_t c;
  CallInfo second;
  CallInfo *infos[2];

  call_init(&c);
  call_info__init(&second);
  second.callid = 2;
  second.state = CALL_INFO__STATE__CONNECTED;
  second.activeheld = 1;
  infos[0] = &c.info;
  infos[1] = &second;
  c.cc.callinfo = infos;
  c.cc.n_callinfo = 2;
  EXPECT_TEXT(&c.msg, 1,
              "Message {\n"
              "  notify {\n"
              "    subscribe_id=7000\n"
              "    callcontrol {\n"
              "      refreshinstance=1\n"
              "      callinfo {\n"
              "        callid=1\n"
              "        state=RINGING\n"
              "        direction=INBOUND\n"
              "        gcid=01c0a82a0b000003ec\n"
              "        featuresavailable=0x23 DROP ANSWER REDIRECT\n"
              "        callingparty {\n"
              "          number=61001\n"
              "          name=\"Agent 61001\"\n"
              "          nametype=5\n"
              "        }\n"
              "      }\n"
              "      callinfo {\n"
              "        callid=2\n"
              "        state=CONNECTED\n"
              "        activeheld=true\n"
              "      }\n"
              "    }\n"
              "  }\n"
              "}");
}

static void test_notify_user(void) {
  Message msg;
  Notify notify;
  NotifyUser user;

  message__init(&msg);
  notify__init(&notify);
  notify_user__init(&user);
  user.extn = "201";
  user.name = "Bergcamp";
  user.featuresavailable = 0x43; /* VALID SAC MAKECALL */
  user.dnd = 1;
  notify.subscribe_id = 7001;
  notify.payload_case = NOTIFY__PAYLOAD_USER;
  notify.user = &user;
  msg.payload_case = MESSAGE__PAYLOAD_NOTIFY;
  msg.notify = &notify;
  EXPECT_TEXT(&msg, 0,
              "Message { notify { subscribe_id=7001 user { extn=201 name=Bergcamp "
              "featuresavailable=0x43 VALID SAC MAKECALL dnd=true } } }");
}

static const uint8_t guid_user[16] = {0xdc, 0x51, 0xba, 0x00, 0x08, 0xa3, 0x11, 0xdd,
                                      0x80, 0x53, 0x00, 0x50, 0x56, 0x9f, 0x6e, 0xf8};
static const uint8_t guid_queue[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static void test_lines_guids(void) {
  Message msg;
  Notify notify;
  NotifyLines lines;
  LinesUser user, odd;
  LinesUser *users[2];
  LinesQueue queue;
  LinesQueue *queues[1];

  message__init(&msg);
  notify__init(&notify);
  notify_lines__init(&lines);
  lines_user__init(&user);
  lines_user__init(&odd);
  lines_queue__init(&queue);
  user.guid.data = (uint8_t *)guid_user;
  user.guid.len = 16;
  user.extn = "201";
  user.name = "Bergcamp";
  odd.guid.data = (uint8_t *)guid_user; /* not 16 bytes: hex, not a UUID */
  odd.guid.len = 3;
  odd.extn = "202";
  queue.guid.data = (uint8_t *)guid_queue;
  queue.guid.len = 16;
  queue.extn = "300";
  queue.name = "Sales Queue";
  users[0] = &user;
  users[1] = &odd;
  queues[0] = &queue;
  lines.flags = 1;
  lines.n_adduser = 2;
  lines.adduser = users;
  lines.n_addqueue = 1;
  lines.addqueue = queues;
  notify.subscribe_id = 1;
  notify.payload_case = NOTIFY__PAYLOAD_LINES;
  notify.lines = &lines;
  msg.payload_case = MESSAGE__PAYLOAD_NOTIFY;
  msg.notify = &notify;
  EXPECT_TEXT(&msg, 0,
              "Message { notify { subscribe_id=1 lines { flags=0x1 "
              "adduser { guid=dc51ba00-08a3-11dd-8053-0050569f6ef8 extn=201 name=Bergcamp } "
              "adduser { guid=dc51ba extn=202 } "
              "addqueue { guid=00112233-4455-6677-8899-aabbccddeeff extn=300 "
              "name=\"Sales Queue\" } } } }");
}

static void test_subscribe_user_ccflags(void) {
  Message msg;
  Subscribe sub;
  SubscribeUser user;

  message__init(&msg);
  subscribe__init(&sub);
  subscribe_user__init(&user);
  user.guid.data = (uint8_t *)guid_user;
  user.guid.len = 16;
  user.flags = 0x1;
  user.ccflags = 0x19;
  sub.requestid = 2;
  sub.subscribe_id = 7000;
  sub.payload_case = SUBSCRIBE__PAYLOAD_USER;
  sub.user = &user;
  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBE;
  msg.subscribe = &sub;
  EXPECT_TEXT(&msg, 0,
              "Message { subscribe { requestid=2 subscribe_id=7000 user { "
              "guid=dc51ba00-08a3-11dd-8053-0050569f6ef8 flags=0x1 ccflags=0x19 } } }");
}

static void test_request_response(void) {
  Message msg;
  RequestResponse resp;

  message__init(&msg);
  request_response__init(&resp);
  resp.requestid = 5;
  resp.result = 602;
  resp.additional = "no such call";
  msg.payload_case = MESSAGE__PAYLOAD_RESPONSE;
  msg.response = &resp;
  EXPECT_TEXT(&msg, 0,
              "Message { response { requestid=5 result=602 MTCTISESS_CALLCONTROL_CALLNOTFOUND "
              "additional=\"no such call\" } }");
  resp.result = 777; /* not in the spec's table */
  resp.additional = NULL;
  EXPECT_TEXT(&msg, 0, "Message { response { requestid=5 result=777 } }");
  resp.result = -1;
  EXPECT_TEXT(&msg, 0, "Message { response { requestid=5 result=-1 } }");
  resp.result = 0; /* success is the default: left out, as in proto3 */
  EXPECT_TEXT(&msg, 0, "Message { response { requestid=5 } }");
}

/* Strings that would make a trace ambiguous or unreadable are quoted. */
static void test_string_escaping(void) {
  static const struct {
    const char *in;
    const char *out;
  } cases[] = {
      {"plain", "SubscribeEnd { reason=plain }"},
      {"two words", "SubscribeEnd { reason=\"two words\" }"},
      {"a=b", "SubscribeEnd { reason=\"a=b\" }"},
      {"{x}", "SubscribeEnd { reason=\"{x}\" }"},
      {"say \"hi\"", "SubscribeEnd { reason=\"say \\\"hi\\\"\" }"},
      {"back\\slash", "SubscribeEnd { reason=\"back\\\\slash\" }"},
      {"tab\there\nnl\rcr", "SubscribeEnd { reason=\"tab\\there\\nnl\\rcr\" }"},
      {"bell\x07" "del\x7f", "SubscribeEnd { reason=\"bell\\x07del\\x7f\" }"},
      {"M\xc3\xbcller", "SubscribeEnd { reason=M\xc3\xbcller }"},          /* valid UTF-8 */
      {"\xff\xfe", "SubscribeEnd { reason=\"\\xff\\xfe\" }"},               /* invalid */
      {"\xc3", "SubscribeEnd { reason=\"\\xc3\" }"},                        /* truncated */
      {"\xc0\xaf", "SubscribeEnd { reason=\"\\xc0\\xaf\" }"},               /* overlong */
      {"\xed\xa0\x80", "SubscribeEnd { reason=\"\\xed\\xa0\\x80\" }"},      /* surrogate */
      {"\xf0\x9f\x93\x9e ok", "SubscribeEnd { reason=\"\xf0\x9f\x93\x9e ok\" }"},
  };
  SubscribeEnd end;
  size_t i;
  char *got;

  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    subscribe_end__init(&end);
    end.reason = (char *)cases[i].in;
    got = codec_text_print(&end.base, 0);
    if (got && strcmp(got, cases[i].out) == 0) {
      check_passed++;
    } else {
      check_failed++;
      fprintf(stderr, "%s: case %zu FAILED\n  want: %s\n  got:  %s\n", __func__, i,
              cases[i].out, got ? got : "(NULL)");
    }
    free(got);
  }
}

/* A set oneof member prints even when it holds its default value. */
static void test_oneof_defaults(void) {
  Message msg;
  GeneralData data;
  GeneralCmd cmd;

  message__init(&msg);
  general_data__init(&data);
  data.responseid = 3;
  data.payload_case = GENERAL_DATA__PAYLOAD_VERSIONINFO;
  data.versioninfo = "";
  msg.payload_case = MESSAGE__PAYLOAD_GENERALDATA;
  msg.generaldata = &data;
  EXPECT_TEXT(&msg, 0, "Message { generaldata { responseid=3 versioninfo=\"\" } }");

  general_cmd__init(&cmd);
  cmd.payload_case = GENERAL_CMD__PAYLOAD_GETVERSIONINFO;
  cmd.getversioninfo = 0;
  msg.payload_case = MESSAGE__PAYLOAD_GENERALCMD;
  msg.generalcmd = &cmd;
  EXPECT_TEXT(&msg, 0, "Message { generalcmd { getversioninfo=false } }");
}

/* Repeated submessages of a presence subscription, each its own block. */
static void test_presence_entries(void) {
  SubscribePresence pres;
  Presentity a, b;
  Presentity *entries[2];

  subscribe_presence__init(&pres);
  presentity__init(&a);
  presentity__init(&b);
  a.presentity = "201";
  a.lref = 5678;
  b.presentity = "202";
  entries[0] = &a;
  entries[1] = &b;
  pres.n_entry = 2;
  pres.entry = entries;
  pres.flags = 3;
  EXPECT_TEXT(&pres, 0,
              "SubscribePresence { entry { presentity=201 lref=5678 } "
              "entry { presentity=202 } flags=0x3 }");
}

/* A megabyte of text renders whole, without trouble. */
static void test_huge_string(void) {
  SubscribeEnd end;
  size_t n = 1u << 20;
  char *big = malloc(n + 1), *got;

  CHECK(big != NULL);
  if (!big)
    return;
  memset(big, 'x', n);
  big[n] = '\0';
  big[n / 2] = ' ';
  subscribe_end__init(&end);
  end.reason = big;
  got = codec_text_print(&end.base, 0);
  CHECK(got != NULL);
  CHECK(got && strlen(got) == n + strlen("SubscribeEnd { reason=\"\" }"));
  CHECK(got && strncmp(got, "SubscribeEnd { reason=\"xxx", 26) == 0);
  free(got);
  free(big);
}

/* Bytes off the wire: unknown enum number and invalid UTF-8 as protobuf-c gives them. */
static void test_unpacked(void) {
  /* notify { subscribe_id=9 callcontrol { callinfo { callid=3 state=200
   * calledparty="\xff a" } } } */
  static const uint8_t wire[] = {0x42, 0x10, 0x08, 0x09, 0x72, 0x0c, 0x12, 0x0a, 0x10,
                                 0x03, 0x28, 0xc8, 0x01, 0x52, 0x03, 0xff, 0x20, 0x61};
  Message *msg = message__unpack(NULL, sizeof(wire), wire);

  CHECK(msg != NULL);
  if (!msg)
    return;
  EXPECT_TEXT(msg, 0,
              "Message { notify { subscribe_id=9 callcontrol { callinfo { callid=3 "
              "state=200 calledparty=\"\\xff a\" } } } }");
  message__free_unpacked(msg, NULL);
}

int main(void) {
  test_golden();
  test_golden_multiline();
  test_empty_submessage();
  test_empty_message();
  test_callinfo();
  test_callinfo_unknown_values();
  test_repeated_multiline();
  test_notify_user();
  test_lines_guids();
  test_subscribe_user_ccflags();
  test_request_response();
  test_string_escaping();
  test_oneof_defaults();
  test_presence_entries();
  test_huge_string();
  test_unpacked();
  CHECK_DONE();
}
