/*
 * ready: whether the bridge is ready, component by component, for /readyz.
 *
 * DESIGN.  One registry per process.  Each component of the bridge (the
 * process's own Kafka and Redis connections, and each PBX's link, resync,
 * producer, state read back, Kafka keeping up and command stage) is added
 * once, named by its kind (READY_COMPONENTS, one table) and, for a PBX's,
 * by the PBX's id, with a probe: a function of the stage that owns it,
 * answering "ready, or not and why" from that stage's own state when asked.
 * A component without a probe is told instead (ready_set).  Nothing is
 * cached: ready_evaluate asks every probe, in order (process components
 * first, then each PBX's in the order they were added, each in table
 * order), so /readyz is never stale; http.c renders the answer as JSON.
 * ready_watch, from the loop's tick, logs the bridge's transitions (ready
 * for the first time, not ready and why, ready again).  When the bridge
 * stops, ready_stop replaces every component by one that says so, before
 * the stages its probes read are taken down.  Loop thread only.
 *
 *   ready_t *ready = ready_new();
 *   ready_add(ready, NULL, READY_REDIS, redis_client_ready, redis);     // process-wide
 *   ready_add(ready, "hq", READY_PBX_LINK, my_link_probe, ingest);      // one PBX's
 *   ...
 *   ready_remove_pbx(ready, "hq");                                       // the PBX goes
 */
#ifndef READY_H
#define READY_H

#include <stddef.h>

/*
 * X(enum suffix, name, what it means when ready): the components, in the
 * order /readyz lists them (docs/bridge.md, "Observability", has this
 * table).  kafka, redis, group and bridge are the process's (pbx NULL), the others
 * each PBX's.
 */
#define READY_COMPONENTS(X)                                                                          \
  X(KAFKA, "kafka", "some Kafka broker answers (every client's view; process-wide)")               \
  X(REDIS, "redis", "the Redis connection of the command store is up (process-wide)")              \
  X(GROUP, "group", "the topics exist and the group has given this instance its share of the PBXs (process-wide)") \
  X(OWNERSHIP, "ownership", "the PBX is this instance's and published, or another's (standby); detail: owner or standby") \
  X(KAFKA_PRODUCER, "kafka_producer", "the PBX's producer is initialised and not fenced")          \
  X(STATE, "state", "the PBX's committed state is read back from Kafka")                           \
  X(PBX_LINK, "pbx_link", "the websocket to the PBX is up")                                          \
  X(RESYNC, "resync", "every subscription is answered: the state is the PBX's")                    \
  X(KAFKA_KEEPING_UP, "kafka_keeping_up", "no batch of the PBX's events has waited for Kafka over 5 s") \
  X(COMMANDS, "commands", "the PBX's command stage runs (Redis answers, the PBX's commands are owned)") \
  X(BRIDGE, "bridge", "the bridge runs: it is not stopping (listed alone once it stops)")

typedef enum ready_kind {
#define READY_X_ENUM(e, n, w) READY_##e,
  READY_COMPONENTS(READY_X_ENUM)
#undef READY_X_ENUM
  READY__COUNT
} ready_kind_t;

/* The name of a kind ("pbx_link"). */
const char *ready_kind_name(ready_kind_t kind);

typedef struct ready ready_t;
typedef struct ready_component ready_component_t;

/*
 * A probe: 1 when the component is ready, else 0 with a one-line reason in
 * why ("not connected to the PBX").  A ready component may leave a short
 * note in why ("owner", "standby: no producer"): /readyz shows it as detail.  Called on the loop thread; must not
 * wait for anything.
 */
typedef int(ready_probe_cb)(void *opaque, char *why, size_t why_size);

/* NULL when out of memory. */
ready_t *ready_new(void);
/* Frees every component.  Safe on NULL. */
void ready_destroy(ready_t *ready);

/*
 * Add a component: `pbx` names the PBX it belongs to (copied; NULL: the
 * process's), `probe` (NULL: the state told by ready_set, not ready until
 * then) is asked with `opaque`.  The component is owned by the registry;
 * the returned handle is for ready_set and ready_remove.  NULL when out of
 * memory.
 */
ready_component_t *ready_add(ready_t *ready, const char *pbx, ready_kind_t kind, ready_probe_cb *probe,
                             void *opaque);
/* Tell a probe-less component's state (reason: printf format, used when not ready). */
void ready_set(ready_component_t *component, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Remove one component (safe on NULL). */
void ready_remove(ready_t *ready, ready_component_t *component);
/* Remove every component of the PBX `pbx`. */
void ready_remove_pbx(ready_t *ready, const char *pbx);

/*
 * The bridge stops: every component goes (their stages are taken down
 * next), and the one answer from now on is "bridge" not ready, with why
 * ("stopping (SIGTERM)").
 */
void ready_stop(ready_t *ready, const char *why);

/* One component's answer, as ready_evaluate hands it over: valid during the call. */
typedef struct ready_answer {
  const char *pbx;       /* NULL: the process's */
  ready_kind_t kind;
  const char *component; /* the kind's name */
  int ok;
  const char *why;       /* why not; when ok, a note (the probe's, may be ""): "owner" */
} ready_answer_t;

typedef void(ready_visit_cb)(void *opaque, const ready_answer_t *answer);

/*
 * Ask every component now, in order; `visit` (may be NULL) sees each
 * answer.  1 when every component is ready (also when there is none), else 0.
 */
int ready_evaluate(ready_t *ready, ready_visit_cb *visit, void *opaque);

/*
 * From the loop's tick: evaluate, and log when the bridge becomes ready
 * for the first time ("ready after 3.2 s"), stops being ready (which
 * components, why) and is ready again ("after 12.0 s not ready").
 */
void ready_watch(ready_t *ready);

#endif
