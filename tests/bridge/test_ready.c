/*
 * test_ready: the readiness registry (ops/ready.c), as scenarios.
 *
 *   01 no component: ready; a component reports through its probe, asked at every evaluation
 *   02 order: the process's components first, then each PBX (as first added), each in table order
 *   03 a probe-less component is not ready ("starting") until told; told reasons are kept
 *   04 a probe that says no without a reason gets "not ready"; a reason of a ready one is dropped
 *   05 ready_remove_pbx removes one PBX's components only; ready_remove one component
 *   06 ready_stop: every component goes, one "bridge" component says why
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ready.h"

/* A probe answering what its state says. */
typedef struct probe_state {
  int ok;
  const char *why;
  int asked;
} probe_state_t;

static int probe(void *opaque, char *why, size_t why_size) {
  probe_state_t *p = opaque;
  p->asked++;
  if (p->why)
    snprintf(why, why_size, "%s", p->why);
  return p->ok;
}

/* The answers of one evaluation, as "pbx/component=ok(why);..." */
typedef struct seen {
  char text[2048];
} seen_t;

static void visit(void *opaque, const ready_answer_t *a) {
  seen_t *seen = opaque;
  size_t n = strlen(seen->text);
  snprintf(seen->text + n, sizeof(seen->text) - n, "%s%s%s=%d(%s);", a->pbx ? a->pbx : "", a->pbx ? "/" : "",
           a->component, a->ok, a->why);
}

static int evaluate(ready_t *ready, seen_t *seen) {
  memset(seen, 0, sizeof(*seen));
  return ready_evaluate(ready, visit, seen);
}

static void s01_probe(void) {
  ready_t *ready = ready_new();
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 1);
  CHECK_STR(seen.text, "");
  probe_state_t kafka = {0, "every broker unreachable", 0};
  ready_add(ready, NULL, READY_KAFKA, probe, &kafka);
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "kafka=0(every broker unreachable);");
  kafka.ok = 1;
  CHECK_INT(evaluate(ready, &seen), 1);
  CHECK_STR(seen.text, "kafka=1(every broker unreachable);"); /* a ready probe's words are its note (detail) */
  kafka.why = NULL;
  CHECK_INT(evaluate(ready, &seen), 1);
  CHECK_STR(seen.text, "kafka=1();");
  CHECK_INT(kafka.asked, 3);
  ready_destroy(ready);
}

static void s02_order(void) {
  ready_t *ready = ready_new();
  probe_state_t yes = {1, NULL, 0}, no = {0, "no", 0};
  ready_add(ready, "hq", READY_RESYNC, probe, &no);
  ready_add(ready, "hq", READY_PBX_LINK, probe, &yes);
  ready_add(ready, NULL, READY_REDIS, probe, &yes);
  ready_add(ready, "branch", READY_KAFKA_PRODUCER, probe, &yes);
  ready_add(ready, "hq", READY_KAFKA_PRODUCER, probe, &yes);
  ready_add(ready, NULL, READY_KAFKA, probe, &no);
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "kafka=0(no);redis=1();hq/kafka_producer=1();hq/pbx_link=1();hq/resync=0(no);"
                       "branch/kafka_producer=1();");
  CHECK_STR(ready_kind_name(READY_KAFKA_KEEPING_UP), "kafka_keeping_up");
  CHECK_STR(ready_kind_name(READY_COMMANDS), "commands");
  CHECK_STR(ready_kind_name(READY_STATE), "state");
  ready_destroy(ready);
}

static void s03_told(void) {
  ready_t *ready = ready_new();
  ready_component_t *c = ready_add(ready, "hq", READY_COMMANDS, NULL, NULL);
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "hq/commands=0(starting);");
  ready_set(c, 0, "Redis unreachable (%s)", "127.0.0.1:6379");
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "hq/commands=0(Redis unreachable (127.0.0.1:6379));");
  ready_set(c, 1, "ignored %d", 1);
  CHECK_INT(evaluate(ready, &seen), 1);
  CHECK_STR(seen.text, "hq/commands=1();");
  ready_set(NULL, 1, NULL); /* safe */
  ready_destroy(ready);
}

static void s04_reasons(void) {
  ready_t *ready = ready_new();
  probe_state_t mute = {0, NULL, 0}, chatty = {1, "all fine", 0};
  ready_add(ready, NULL, READY_KAFKA, probe, &mute);
  ready_add(ready, NULL, READY_REDIS, probe, &chatty);
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "kafka=0(not ready);redis=1(all fine);");
  CHECK_INT(ready_evaluate(ready, NULL, NULL), 0); /* no visitor */
  ready_destroy(ready);
}

static void s05_remove(void) {
  ready_t *ready = ready_new();
  probe_state_t no = {0, "no", 0};
  ready_add(ready, "hq", READY_PBX_LINK, probe, &no);
  ready_component_t *redis = ready_add(ready, NULL, READY_REDIS, probe, &no);
  ready_add(ready, "branch", READY_PBX_LINK, probe, &no);
  ready_add(ready, "hq", READY_RESYNC, probe, &no);
  ready_remove_pbx(ready, "hq");
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "redis=0(no);branch/pbx_link=0(no);");
  ready_remove(ready, redis);
  ready_remove(ready, NULL);
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "branch/pbx_link=0(no);");
  ready_remove_pbx(ready, "branch");
  CHECK_INT(evaluate(ready, &seen), 1);
  CHECK_STR(seen.text, "");
  ready_destroy(ready);
  ready_destroy(NULL);
}

static void s06_stop(void) {
  ready_t *ready = ready_new();
  probe_state_t yes = {1, NULL, 0};
  ready_add(ready, NULL, READY_KAFKA, probe, &yes);
  ready_add(ready, "hq", READY_PBX_LINK, probe, &yes);
  ready_stop(ready, "stopping");
  seen_t seen;
  CHECK_INT(evaluate(ready, &seen), 0);
  CHECK_STR(seen.text, "bridge=0(stopping);");
  CHECK_INT(yes.asked, 0); /* the stages' probes are never asked again */
  ready_destroy(ready);
}

int main(void) {
  s01_probe();
  s02_order();
  s03_told();
  s04_reasons();
  s05_remove();
  s06_stop();
  CHECK_DONE();
}
