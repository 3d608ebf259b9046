/*
 * pbx: one PBX the process serves, and whether this instance owns it.
 *
 * DESIGN.  Runs on the event loop.  A pbx_t holds what one PBX needs: its
 * vhost (its own TLS CA), its link (link/pbx_link.c), its pipeline
 * (pbx/ingest.c: state, events, acks), its command executor
 * (commands/cmd_exec.c), and, only while it owns the PBX, a transactional
 * producer (sink/kafka_sink.c, transactional.id mtcti3-bridge-<pbx id>).
 * Ownership comes from Kafka's group assignment (commands/cmd_source.c: the
 * PBX's commands partition), never from a lock or a timer of ours:
 *
 *   STANDBY   the link (with standby_warm) keeps a warm view; a following
 *             state reader keeps the committed state current
 *   FENCING   assigned: the producer initialises, which fences the previous
 *             owner's producer and aborts its open transaction
 *   SYNCING   the reader reads up to the topics' ends as they are after the
 *             fence: the committed state is final
 *   OWNER     ingest_take_over: the warm view replayed against the committed
 *             state (only the differences, every seq continuing), then every
 *             Notify published, the executor runs the PBX's commands
 *
 * Revoked (or fenced: a newer owner's producer fenced ours, so its batch
 * came back KAFKA_SINK_FENCED), it hands over: nothing more is published,
 * the producer goes (its open transaction is aborted by the next owner),
 * the published state becomes the warm view and the reader follows again.
 * Every step is visible: lifecycle events on the bridge topic (owner
 * assigned/revoked), /metrics (mtcti3_bridge_pbx_owned{pbx}), /readyz.
 */
#ifndef PBX_H
#define PBX_H

#include <stddef.h>

#include <libwebsockets.h>

#include "cmd_source.h"
#include "config.h"
#include "kafka_client.h"
#include "ready.h"
#include "redis_client.h"

typedef struct pbx pbx_t;

/* What the PBXs of a process share (borrowed; outlives them). */
typedef struct pbx_shared {
  kafka_env_t *kafka;
  struct lws_context *context;
  redis_client_t *redis; /* NULL: commands are off */
  cmd_source_t *group;
  void (*request_flush)(void *opaque); /* a flush's first event: flush soon */
  void *flush_opaque;
} pbx_shared_t;

typedef enum pbx_state { PBX_STANDBY, PBX_FENCING, PBX_SYNCING, PBX_OWNER } pbx_state_t;

/* `config` is the PBX's own (config->pbx[i]); both borrowed.  NULL with errstr. */
pbx_t *pbx_new(const config_t *config, const pbx_shared_t *shared, char *errstr, size_t errstr_size);
/* A setting that cannot work (ipo_ca_file): pbx_start's answer, the process exits 2. */
#define PBX_BAD_SETTING (-2)
/*
 * Its vhost, its fd watches, its link (warm), its reader, its group slot.
 * 0, or -1 (PBX_BAD_SETTING for a setting) with errstr.
 */
int pbx_start(pbx_t *pbx, char *errstr, size_t errstr_size);
/* The PBX's topics exist: its committed state can be followed.  0, or -1 with errstr. */
int pbx_topics_ready(pbx_t *pbx, char *errstr, size_t errstr_size);
/* Periodic work (the loop's tick): the ownership steps, subscriptions, deadlines, metrics. */
void pbx_tick(pbx_t *pbx);
/* Hand this flush's events to the producer. */
void pbx_flush(pbx_t *pbx);
/*
 * Add this PBX's components to /readyz's registry (ready.h), named by its
 * pbx_id: ownership (detail owner or standby), kafka_producer, state,
 * pbx_link, resync, kafka_keeping_up, commands; each answers for the PBX's
 * role (a standby has no producer and runs no command: those are ready).
 * pbx_destroy removes them.
 */
void pbx_ready_add(pbx_t *pbx, ready_t *ready);
/* SIGHUP: the command policy read again from `path` (0, or -1 with errstr: the running one stays). */
int pbx_policy_reload(pbx_t *pbx, const char *path, char *errstr, size_t errstr_size);
const char *pbx_name(const pbx_t *pbx);
/* Before exit: the commands settle (the caller drives the loop while pbx_settling). */
int pbx_settling(const pbx_t *pbx);
/* Before exit: publish what is decided, wait up to timeout_ms for it to commit, close the link. */
void pbx_stop(pbx_t *pbx, int timeout_ms);
void pbx_destroy(pbx_t *pbx);

#endif
