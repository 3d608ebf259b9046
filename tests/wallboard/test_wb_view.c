/*
 * test_wb_view: the wallboard's view of the statistics topics: records in,
 * browser messages out, exact bytes.
 */
#include "../check.h"

#include <stdlib.h>
#include <string.h>

#include "wb_view.h"

#define REC_A "{\"pbx\":\"hq\",\"seq\":3,\"queue\":{\"guid\":\"g1\",\"extn\":\"5001\",\"name\":\"Sales\"},\"waiting\":2}"
#define REC_B "{\"pbx\":\"branch\",\"seq\":1,\"queue\":{\"guid\":\"g1\",\"extn\":\"5001\",\"name\":\"Desk\"},\"waiting\":0}"

static int apply(wb_view_t *v, const char *topic, const char *key, const char *value, char **update, char *err) {
  size_t len = 0;
  return wb_view_apply(v, topic, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, update, &len, err, 256);
}

int main(void) {
  char err[256], *update = NULL;
  size_t len = 0;
  wb_view_t *v = wb_view_new();

  /* an empty view: the snapshot has the settings and no queue */
  char *snap = wb_view_snapshot(v, "{\"title\":\"T\"}", 1000, 1, &len);
  CHECK_STR(snap, "{\"type\":\"snapshot\",\"now_ms\":1000,\"kafka_ok\":true,\"config\":{\"title\":\"T\"},\"queues\":[]}");
  CHECK_INT(len, strlen(snap));
  free(snap);

  /* two PBXs with the same queue GUID: two queues (one topic each) */
  CHECK_INT(apply(v, "mtcti3.hq.queue-stats", "g1", REC_A, &update, err), 1);
  CHECK_STR(update, "{\"type\":\"queue\",\"id\":\"mtcti3.hq.queue-stats/g1\",\"record\":" REC_A "}");
  free(update);
  CHECK_INT(apply(v, "mtcti3.branch.queue-stats", "g1", REC_B, &update, err), 1);
  free(update);
  CHECK_INT(wb_view_count(v), 2);
  snap = wb_view_snapshot(v, "{}", 2000, 0, &len);
  CHECK_STR(snap, "{\"type\":\"snapshot\",\"now_ms\":2000,\"kafka_ok\":false,\"config\":{},\"queues\":["
                  "{\"id\":\"mtcti3.branch.queue-stats/g1\",\"record\":" REC_B "},"
                  "{\"id\":\"mtcti3.hq.queue-stats/g1\",\"record\":" REC_A "}]}");
  free(snap);

  /* refused: not JSON, not a record, no key; the view is unchanged */
  CHECK_INT(apply(v, "t", "k", "{nope", &update, err), -1);
  CHECK_STR(err, "t/k: not a queue statistics record: string or '}' expected near 'nope'");
  CHECK_INT(apply(v, "t", "k", "[1]", &update, err), -1);
  CHECK_STR(err, "t/k: not a queue statistics record");
  CHECK_INT(apply(v, "t", "k", "{\"queue\":3}", &update, err), -1);
  CHECK_STR(err, "t/k: not a queue statistics record");
  CHECK_INT(apply(v, "t", NULL, REC_A, &update, err), -1);
  CHECK_STR(err, "t: a message without a usable key");
  CHECK(update == NULL);
  CHECK_INT(wb_view_count(v), 2);

  /* a tombstone removes the queue; one of an unknown queue changes nothing */
  CHECK_INT(apply(v, "mtcti3.branch.queue-stats", "g1", NULL, &update, err), 1);
  CHECK_STR(update, "{\"type\":\"queue\",\"id\":\"mtcti3.branch.queue-stats/g1\",\"record\":null}");
  free(update);
  CHECK_INT(apply(v, "mtcti3.branch.queue-stats", "g1", NULL, &update, err), 0);
  CHECK(update == NULL);
  CHECK_INT(wb_view_count(v), 1);
  wb_view_destroy(v);
  CHECK_DONE();
}
