/*
 * sim_timer: timers fire in deadline order, never early, once; cancelled and
 * moved ones behave; one scheduled from a callback runs in a later turn; and
 * the lws loop sleeps until a deadline instead of spinning up to it.
 */
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "check.h"
#include "sim_log.h"
#include "sim_timer.h"

typedef struct item {
  sim_timer_t timer;
  char name;
  int64_t due_us;   /* when it should fire (monotonic) */
  int64_t fired_us; /* when it did */
  size_t seq;       /* how many fired before it */
} item_t;

static sim_timers_t *timers;
static char order[16];
static size_t n_fired;
static item_t items[6]; /* a..f */

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void fired(sim_timer_t *timer) {
  item_t *it = lws_container_of(timer, item_t, timer);
  it->fired_us = now_us();
  it->seq = n_fired;
  if (n_fired < sizeof order - 1)
    order[n_fired] = it->name;
  n_fired++;
  /* b schedules f as it fires: f runs in a later turn, not in this one. */
  if (it->name == 'b') {
    items[5].due_us = now_us() + 1;
    sim_timer_schedule(timers, &items[5].timer, fired, 0);
  }
}

static void at(item_t *it, int64_t delay_us) {
  it->due_us = now_us() + delay_us;
  sim_timer_schedule(timers, &it->timer, fired, delay_us);
}

int main(void) {
  struct lws_context_creation_info info;
  char errstr[256];
  lws_set_log_level(LLL_ERR, NULL);
  sim_log_set_level(SIM_LOG_WARN);
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.port = CONTEXT_PORT_NO_LISTEN;
  struct lws_context *lws = lws_create_context(&info);
  CHECK(lws != NULL);
  if (!lws)
    return 1;
  CHECK_INT(sim_timers_new(lws, &timers, errstr, sizeof errstr), 0);

  for (int i = 0; i < 6; i++)
    items[i].name = (char)('a' + i);
  at(&items[0], 60000); /* a: 60 ms */
  at(&items[1], 20000); /* b: 20 ms, schedules f */
  at(&items[2], 40000); /* c: 40 ms, then moved to 10 ms */
  at(&items[3], 30000); /* d: cancelled */
  at(&items[4], 50000); /* e: 50 ms */
  sim_timer_cancel(&items[3].timer);
  sim_timer_cancel(&items[3].timer); /* twice is fine */
  at(&items[2], 10000);

  int64_t start = now_us();
  int turns = 0;
  while (n_fired < 5 && now_us() - start < 2000000) {
    lws_service(lws, 0);
    turns++;
  }
  CHECK_STR(order, "cbfea");
  for (int i = 0; i < 6; i++)
    if (i != 3) {
      CHECK(items[i].fired_us >= items[i].due_us);
      CHECK(items[i].fired_us - items[i].due_us < 500000);
    }
  CHECK_INT(items[3].fired_us, 0);
  /* lws 4.1 alone would poll() thousands of times in the last millisecond before each. */
  CHECK(turns < 60);

  /* Many at once, some cancelled, some moved: each due one fires once, in deadline order. */
  static item_t many[300];
  static item_t *seq[300];
  uint64_t rng = 12345;
  size_t want = 0;
  n_fired = 0;
  for (size_t i = 0; i < 300; i++) {
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    many[i].name = 'm';
    at(&many[i], 1000 + (int64_t)(rng >> 33) % 20000);
  }
  for (size_t i = 0; i < 300; i++) {
    if (i % 3 == 0)
      sim_timer_cancel(&many[i].timer);
    else if (i % 3 == 1)
      at(&many[i], 500 + (int64_t)(i * 37) % 15000);
    want += i % 3 != 0;
  }
  start = now_us();
  while (n_fired < want && now_us() - start < 2000000)
    lws_service(lws, 0);
  CHECK_INT(n_fired, want);
  for (size_t i = 0; i < 300; i++) {
    CHECK((many[i].fired_us != 0) == (i % 3 != 0));
    if (many[i].fired_us) {
      CHECK(many[i].fired_us >= many[i].due_us);
      if (many[i].seq < 300)
        seq[many[i].seq] = &many[i];
    }
  }
  for (size_t k = 1; k < want; k++)
    CHECK(seq[k] && seq[k - 1] && seq[k - 1]->timer.due_us <= seq[k]->timer.due_us);
  lws_context_destroy(lws);
  sim_timers_free(timers);
  CHECK_INT(n_fired, want);
  CHECK_DONE();
}
