/*
 * pbx: one PBX and its ownership.  See pbx.h.
 */
#include "pbx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bclock.h"
#include "blog.h"
#include "cmd_exec.h"
#include "ingest.h"
#include "kafka_sink.h"
#include "loop.h"
#include "metrics.h"
#include "pbx_link.h"
#include "state_reader.h"

/* A fenced owner still holding the token tries again after this long (the group sorts out who owns it). */
#define PBX_FENCED_RETRY_MS 5000
/*
 * An owner whose group session expired keeps publishing (its transactions
 * fence it the moment another instance takes over) until the group has had
 * this long, with Kafka reachable, to give the PBX back: past it, the PBX
 * is another member's, and this one hands over even if nothing fenced it.
 */
#define PBX_LOST_GRACE_MS 15000
/*
 * A new owner whose warm view is on its way (connected and resyncing, or
 * the first connection being made) waits this long for it before
 * publishing (then the view is a diff against the committed state); past
 * it, or with a link that has failed, it publishes from the committed state
 * and lets the link resync into it.
 */
#define PBX_VIEW_WAIT_MS 30000

struct pbx {
  const config_t *config;
  pbx_shared_t shared;
  ingest_t *ingest;
  pbx_link_t *link;
  cmd_exec_t *exec; /* NULL: commands off */
  int slot;         /* in the group */
  struct lws_vhost *vhost;
  struct lws_protocols protocols[3]; /* the link, the fd watches */
  int link_started;
  /* ownership */
  pbx_state_t state;
  int owned;               /* the group says so */
  kafka_sink_t *sink;      /* while FENCING, SYNCING, OWNER */
  loop_watch_t *w_sink;
  state_reader_t *reader;  /* the committed state, while not the owner */
  loop_watch_t *w_reader;
  uint64_t sync_request;   /* SYNCING: the reader's sync asked for */
  int64_t fenced_at_ms;    /* a fence while the token was ours: when to try again */
  int fence_pending;       /* a batch came back fenced: hand over at the next step (not inside the poll) */
  int stopping;            /* pbx_stop: the group's last word (a revoke as it leaves) changes nothing */
  int committed;           /* OWNER: the takeover's first events are committed (ready from then on) */
  int64_t lost_at_ms;      /* the token lost with the group's session, still publishing: since when (Kafka reachable) */
  int64_t state_since_ms;
  int topics_ready;        /* pbx_topics_ready: the committed state can be read */
  ready_t *ready; /* where its components are (pbx_ready_add), removed with it */
  metrics_pbx_t *metrics; /* its series (label pbx), owned by the metrics */
  size_t sink_errors;     /* the sink's delivery errors already counted */
};

static const char *const pbx_state_names[] = {"standby", "fencing", "syncing", "owner"};

const char *pbx_name(const pbx_t *pbx) { return pbx->config->pbx_id; }

static void pbx_set_state(pbx_t *pbx, pbx_state_t state) {
  if (pbx->state == state)
    return;
  BLOG_I(MAIN, pbx->config->pbx_id, "%s -> %s", pbx_state_names[pbx->state], pbx_state_names[state]);
  pbx->state = state;
  pbx->state_since_ms = bclock_mono_ms();
  metrics_pbx_owned(pbx->metrics, state == PBX_OWNER);
}

/* ---- the committed state, read back while not the owner ---- */

static void pbx_reader_fd(void *arg) {
  pbx_t *pbx = arg;
  if (pbx->reader)
    state_reader_poll(pbx->reader, ingest_committed, pbx->ingest);
}

static void pbx_reader_stop(pbx_t *pbx) {
  loop_unwatch(pbx->w_reader);
  pbx->w_reader = NULL;
  state_reader_destroy(pbx->reader);
  pbx->reader = NULL;
}

/* A following reader from the start (the committed records start afresh with it). */
static int pbx_reader_start(pbx_t *pbx, char *errstr, size_t errstr_size) {
  pbx_reader_stop(pbx);
  ingest_committed_reset(pbx->ingest);
  if (!pbx->config->state_from_topics || kafka_env_embedded(pbx->shared.kafka))
    return 0; /* nothing to read back: the owner starts from an empty state */
  char name[160];
  snprintf(name, sizeof(name), "reader-%s", pbx->config->pbx_id);
  pbx->reader = state_reader_new(pbx->shared.kafka, name, ingest_topics(pbx->ingest), 1, errstr, errstr_size);
  if (!pbx->reader)
    return -1;
  pbx->w_reader = loop_watch(pbx->vhost, state_reader_fd(pbx->reader), pbx_reader_fd, pbx, errstr, errstr_size);
  return pbx->w_reader ? 0 : -1;
}

/* ---- the producer, while owning ---- */

static void pbx_sink_fd(void *arg) {
  pbx_t *pbx = arg;
  if (pbx->sink)
    kafka_sink_poll(pbx->sink);
}

static void pbx_sink_stop(pbx_t *pbx) {
  loop_unwatch(pbx->w_sink);
  pbx->w_sink = NULL;
  kafka_sink_destroy(pbx->sink); /* batches not written complete as dropped: their Notifies are acknowledged */
  pbx->sink = NULL;
}

static int pbx_sink_start(pbx_t *pbx, char *errstr, size_t errstr_size) {
  char name[160], txn_id[300];
  snprintf(name, sizeof(name), "events-%s", pbx->config->pbx_id);
  snprintf(txn_id, sizeof(txn_id), "mtcti3-bridge-%s", pbx->config->pbx_id);
  pbx->sink = kafka_sink_new(pbx->shared.kafka, name, pbx->config->kafka_transactions ? txn_id : NULL,
                             ingest_batch_done, pbx->ingest, errstr, errstr_size);
  if (!pbx->sink)
    return -1;
  pbx->sink_errors = 0;
  pbx->w_sink = loop_watch(pbx->vhost, kafka_sink_fd(pbx->sink), pbx_sink_fd, pbx, errstr, errstr_size);
  return pbx->w_sink ? 0 : -1;
}

/* ---- ownership ---- */

/* Stop publishing: back to a standby that follows the new owner. */
static void pbx_hand_over(pbx_t *pbx, const char *why) {
  if (pbx->state == PBX_STANDBY)
    return;
  BLOG_I(MAIN, pbx->config->pbx_id, "handing over (%s)", why);
  ingest_hand_over(pbx->ingest, strcmp(why, "fenced") == 0 ? "fenced" : "revoked");
  pbx_sink_stop(pbx);
  metrics_pbx_ownership_change(pbx->metrics, why);
  char errstr[256];
  if (pbx_reader_start(pbx, errstr, sizeof(errstr)) != 0)
    BLOG_E(KAFKA, pbx->config->pbx_id, "%s", errstr);
  if (!pbx->config->standby_warm && pbx->link_started) { /* a cold standby keeps no connection */
    pbx_link_stop(pbx->link);
    pbx->link_started = 0;
  }
  pbx_set_state(pbx, PBX_STANDBY);
}

static void pbx_begin_takeover(pbx_t *pbx) {
  char errstr[512];
  if (pbx_sink_start(pbx, errstr, sizeof(errstr)) != 0) {
    BLOG_E(KAFKA, pbx->config->pbx_id, "%s; trying again", errstr);
    pbx_sink_stop(pbx);
    pbx->fenced_at_ms = bclock_mono_ms(); /* retried by the tick */
    return;
  }
  metrics_pbx_ownership_change(pbx->metrics, "assigned");
  pbx_set_state(pbx, PBX_FENCING);
}

/*
 * The group's word: partition 0 of the PBX's commands topic is ours (1) or
 * not any more (0).  A token lost with the session (Kafka unreachable, say)
 * is not a hand-over yet: with transactions, whoever takes over fences this
 * instance, so it goes on publishing what the PBX says (and holding its
 * NotifyAcks until Kafka has it) rather than drop it.
 */
static void pbx_own(void *opaque, int owned, int lost) {
  pbx_t *pbx = opaque;
  pbx->owned = owned;
  if (pbx->stopping)
    return;
  pbx->fenced_at_ms = 0;
  pbx->lost_at_ms = 0;
  if (!owned && lost && pbx->config->kafka_transactions && pbx->state != PBX_STANDBY) {
    BLOG_W(MAIN, pbx->config->pbx_id, "ownership uncertain (group session lost): publishing on until fenced, or "
                                      "until the group gives the PBX back or to another instance");
    pbx->lost_at_ms = bclock_mono_ms();
    return;
  }
  if (owned && pbx->state == PBX_STANDBY)
    pbx_begin_takeover(pbx);
  else if (!owned)
    pbx_hand_over(pbx, "revoked");
}

/* Fenced: another producer of this PBX's transactional.id is newer.  Stop publishing now. */
static void pbx_fenced_now(pbx_t *pbx) {
  pbx->fence_pending = 0;
  pbx_hand_over(pbx, "fenced");
  if (pbx->owned)
    pbx->fenced_at_ms = bclock_mono_ms(); /* still ours for the group: try again later */
}

/* A batch came back fenced (inside the sink's poll: the hand-over waits for the next step). */
static void pbx_fenced(void *opaque) {
  pbx_t *pbx = opaque;
  pbx->fence_pending = 1;
}

static void pbx_link_begin(pbx_t *pbx) {
  if (pbx->link_started)
    return;
  pbx->link_started = 1;
  pbx_link_start(pbx->link, pbx->shared.context, pbx->vhost);
}

/* The ownership steps, each from the one before. */
static void pbx_steps(pbx_t *pbx) {
  char errstr[512];
  if (pbx->stopping)
    return;
  if (pbx->fence_pending)
    pbx_fenced_now(pbx);
  if (pbx->lost_at_ms) {
    if (pbx->state == PBX_STANDBY || kafka_env_outage(pbx->shared.kafka))
      pbx->lost_at_ms = pbx->state == PBX_STANDBY ? 0 : bclock_mono_ms(); /* the grace counts from Kafka's return */
    else if (bclock_mono_ms() - pbx->lost_at_ms >= PBX_LOST_GRACE_MS) {
      pbx->lost_at_ms = 0;
      pbx_hand_over(pbx, "revoked");
    }
  }
  if (pbx->state == PBX_STANDBY && pbx->owned && pbx->fenced_at_ms &&
      bclock_mono_ms() - pbx->fenced_at_ms >= PBX_FENCED_RETRY_MS) {
    pbx->fenced_at_ms = 0;
    pbx_begin_takeover(pbx);
  }
  if (pbx->state == PBX_FENCING && pbx->sink) {
    if (kafka_sink_fenced(pbx->sink)) {
      pbx_fenced_now(pbx);
      return;
    }
    if (!kafka_sink_ready(pbx->sink))
      return;
    if (pbx->reader)
      pbx->sync_request = state_reader_sync(pbx->reader);
    pbx_set_state(pbx, PBX_SYNCING);
  }
  if (pbx->state == PBX_SYNCING) {
    if (pbx->reader) {
      state_reader_poll(pbx->reader, ingest_committed, pbx->ingest);
      if (state_reader_synced(pbx->reader) < pbx->sync_request)
        return;
    }
    if (pbx->link_started && ingest_view_coming(pbx->ingest) && bclock_mono_ms() - pbx->state_since_ms < PBX_VIEW_WAIT_MS)
      return;
    if (ingest_take_over(pbx->ingest, pbx->sink, errstr, sizeof(errstr)) != 0) {
      BLOG_E(MAIN, pbx->config->pbx_id, "%s", errstr);
      pbx_hand_over(pbx, "failed");
      pbx->fenced_at_ms = bclock_mono_ms();
      return;
    }
    pbx_reader_stop(pbx); /* the owner's own events are the committed state now */
    pbx->committed = 0;
    pbx_set_state(pbx, PBX_OWNER);
    pbx_link_begin(pbx); /* a cold standby connects now */
  }
}

/* ---- life ---- */

pbx_t *pbx_new(const config_t *config, const pbx_shared_t *shared, char *errstr, size_t errstr_size) {
  pbx_t *pbx = calloc(1, sizeof(*pbx));
  if (!pbx) {
    snprintf(errstr, errstr_size, "%s: out of memory", config->pbx_id);
    return NULL;
  }
  pbx->config = config;
  pbx->shared = *shared;
  pbx->slot = -1;
  /* registered before its stages (each looks its handle up too): the PBXs' samples keep the config's order */
  pbx->metrics = metrics_pbx(config->pbx_id);
  pbx->ingest = ingest_new(config, errstr, errstr_size);
  if (!pbx->ingest)
    goto fail;
  pbx->link = pbx_link_new(config, &ingest_link_handlers, pbx->ingest, errstr, errstr_size);
  if (!pbx->link)
    goto fail;
  ingest_attach(pbx->ingest, pbx->link, shared->request_flush, shared->flush_opaque);
  ingest_on_fenced(pbx->ingest, pbx_fenced, pbx);
  if (shared->redis) {
    const topics_t *topics = ingest_topics(pbx->ingest);
    cmd_exec_config_t xconf;
    memset(&xconf, 0, sizeof(xconf));
    xconf.pbx_id = config->pbx_id;
    xconf.results_topic = topics->name[TOPIC_COMMAND_RESULTS];
    cmd_parse_config_init(&xconf.parse);
    xconf.parse.max_bytes = (size_t)config->commands_max_bytes;
    xconf.parse.default_timeout_ms = config->commands_default_timeout_ms;
    xconf.parse.max_timeout_ms = config->commands_max_timeout_ms;
    xconf.policy_file = config->commands_policy_file;
    xconf.redis = shared->redis;
    xconf.result_ttl_ms = config->commands_result_ttl_ms;
    xconf.claim_ttl_ms = config->commands_idempotency_ttl_ms;
    xconf.ops = &ingest_cmd_ops;
    xconf.pbx = pbx->ingest;
    xconf.emit = cmd_source_emit;
    xconf.emit_opaque = shared->group;
    xconf.settled = cmd_source_settled;
    xconf.settled_opaque = shared->group;
    if (cmd_exec_new(&xconf, &pbx->exec, errstr, errstr_size) != 0)
      goto fail;
    ingest_set_commands(pbx->ingest, pbx->exec);
  }
  metrics_pbx_owned(pbx->metrics, 0);
  return pbx;
fail:
  pbx_destroy(pbx);
  return NULL;
}

int pbx_start(pbx_t *pbx, char *errstr, size_t errstr_size) {
  const config_t *config = pbx->config;
  pbx_link_protocol(pbx->link, &pbx->protocols[0]);
  loop_protocol(&pbx->protocols[1]);
  struct lws_context_creation_info info;
  char vhost_name[160];
  memset(&info, 0, sizeof(info));
  snprintf(vhost_name, sizeof(vhost_name), "pbx-%s", config->pbx_id);
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = pbx->protocols;
  info.vhost_name = vhost_name;
  pbx_link_vhost_info(pbx->link, &info);
  pbx->vhost = lws_create_vhost(pbx->shared.context, &info);
  if (!pbx->vhost) {
    snprintf(errstr, errstr_size, "ipo_ca_file: cannot set up TLS with \"%s\"",
             config->ipo_ca_file[0] ? config->ipo_ca_file : "the system store");
    return PBX_BAD_SETTING;
  }
  pbx->slot = cmd_source_add(pbx->shared.group, ingest_topics(pbx->ingest), pbx_own, pbx, errstr, errstr_size);
  if (pbx->slot < 0)
    return -1;
  cmd_source_attach(pbx->shared.group, pbx->slot, pbx->exec);
  pbx->state_since_ms = bclock_mono_ms();
  if (config->standby_warm)
    pbx_link_begin(pbx);
  return 0;
}

int pbx_topics_ready(pbx_t *pbx, char *errstr, size_t errstr_size) {
  pbx->topics_ready = 1;
  return pbx_reader_start(pbx, errstr, errstr_size);
}

void pbx_tick(pbx_t *pbx) {
  if (pbx->sink) {
    kafka_sink_poll(pbx->sink);
    size_t errors = kafka_sink_delivery_errors(pbx->sink);
    metrics_pbx_add(pbx->metrics, METRICS_KAFKA_ERRORS, (int64_t)(errors - pbx->sink_errors));
    pbx->sink_errors = errors;
  }
  pbx_steps(pbx);
  if (pbx->state == PBX_OWNER && pbx->sink && kafka_sink_fenced(pbx->sink))
    pbx_fenced_now(pbx);
  if (pbx->state == PBX_OWNER && pbx->sink && !pbx->committed && kafka_sink_pending(pbx->sink) == 0)
    pbx->committed = 1;
  ingest_tick(pbx->ingest, bclock_wall_ms());
  if (pbx->exec)
    cmd_exec_tick(pbx->exec, bclock_wall_ms());
}

void pbx_flush(pbx_t *pbx) { ingest_flush(pbx->ingest); }

/* ---- readiness: this PBX's components of /readyz (ready.h), each told by its role ---- */

static int pbx_ready_ownership(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  switch (pbx->state) {
  case PBX_STANDBY: /* another instance's (or nobody's yet): ready to take over when the other checks are */
    snprintf(why, why_size, "standby");
    return 1;
  case PBX_FENCING:
  case PBX_SYNCING:
    snprintf(why, why_size, "taking over (%s)", pbx_state_names[pbx->state]);
    return 0;
  case PBX_OWNER:
    if (!pbx->committed) { /* a reader of the topics must find the takeover's state there */
      snprintf(why, why_size, "taking over (committing the first events)");
      return 0;
    }
    snprintf(why, why_size, "owner");
    return 1;
  }
  return 0;
}

static int pbx_ready_producer(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  if (!pbx->sink) {
    snprintf(why, why_size, "standby: none");
    return 1;
  }
  if (kafka_sink_fenced(pbx->sink)) {
    snprintf(why, why_size, "fenced: another instance publishes this PBX");
    return 0;
  }
  if (!kafka_sink_ready(pbx->sink)) {
    snprintf(why, why_size, "initialising the producer (transactions: older instances fenced first)");
    return 0;
  }
  return 1;
}

static int pbx_ready_state(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  if (!pbx->topics_ready) {
    snprintf(why, why_size, "waiting for the topics");
    return 0;
  }
  if (!pbx->reader || state_reader_caught_up(pbx->reader))
    return 1;
  snprintf(why, why_size, "reading the committed state back from Kafka (%llu messages so far)",
           (unsigned long long)state_reader_count(pbx->reader));
  return 0;
}

/* A cold standby (standby_warm=false) keeps no connection: nothing to be ready. */
static int pbx_ready_cold(const pbx_t *pbx, char *why, size_t why_size) {
  if (pbx->link_started)
    return 0;
  snprintf(why, why_size, "standby: no connection (standby_warm=false)");
  return 1;
}

static int pbx_ready_link(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  return pbx_ready_cold(pbx, why, why_size) || ingest_ready_link(pbx->ingest, why, why_size);
}

static int pbx_ready_resync(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  return pbx_ready_cold(pbx, why, why_size) || ingest_ready_resync(pbx->ingest, why, why_size);
}

static int pbx_ready_keeping_up(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  return ingest_ready_keeping_up(pbx->ingest, why, why_size);
}

static int pbx_ready_commands(void *opaque, char *why, size_t why_size) {
  const pbx_t *pbx = opaque;
  if (pbx->state != PBX_OWNER) { /* Redis matters to the owner only: a standby runs no command */
    snprintf(why, why_size, "standby");
    return 1;
  }
  return cmd_exec_ready(pbx->exec, why, why_size);
}

void pbx_ready_add(pbx_t *pbx, ready_t *ready) {
  const char *id = pbx->config->pbx_id;
  pbx->ready = ready;
  ready_add(ready, id, READY_OWNERSHIP, pbx_ready_ownership, pbx);
  ready_add(ready, id, READY_KAFKA_PRODUCER, pbx_ready_producer, pbx);
  ready_add(ready, id, READY_STATE, pbx_ready_state, pbx);
  ready_add(ready, id, READY_PBX_LINK, pbx_ready_link, pbx);
  ready_add(ready, id, READY_RESYNC, pbx_ready_resync, pbx);
  ready_add(ready, id, READY_KAFKA_KEEPING_UP, pbx_ready_keeping_up, pbx);
  if (pbx->exec)
    ready_add(ready, id, READY_COMMANDS, pbx_ready_commands, pbx);
}

int pbx_policy_reload(pbx_t *pbx, const char *path, char *errstr, size_t errstr_size) {
  return pbx->exec ? cmd_exec_policy_reload(pbx->exec, path, errstr, errstr_size) : 0;
}

int pbx_settling(const pbx_t *pbx) { return pbx->exec && cmd_exec_finishing(pbx->exec) > 0; }

void pbx_stop(pbx_t *pbx, int timeout_ms) {
  if (!pbx)
    return;
  pbx->stopping = 1;
  if (pbx->state == PBX_OWNER) {
    ingest_lifecycle(pbx->ingest, "stopped", NULL);
    ingest_flush(pbx->ingest);
  }
  if (pbx->sink) { /* what Kafka commits now is still acknowledged to the PBX */
    int64_t t0 = bclock_mono_ms();
    size_t left = kafka_sink_stop(pbx->sink, timeout_ms);
    if (left)
      BLOG_W(KAFKA, pbx->config->pbx_id,
             "%zu events not committed at exit after %lld ms, the producer still %s (the PBX sends them again: "
             "they were not acknowledged)",
             left, (long long)(bclock_mono_ms() - t0), kafka_sink_phase(pbx->sink));
  }
  pbx_link_stop(pbx->link);
}

void pbx_destroy(pbx_t *pbx) {
  if (!pbx)
    return;
  if (pbx->ready) /* before what its probes read goes */
    ready_remove_pbx(pbx->ready, pbx->config->pbx_id);
  if (pbx->exec) {
    ingest_set_commands(pbx->ingest, NULL);
    if (pbx->slot >= 0)
      cmd_source_attach(pbx->shared.group, pbx->slot, NULL);
    cmd_exec_destroy(pbx->exec);
  }
  pbx_reader_stop(pbx);
  pbx_sink_stop(pbx);
  pbx_link_destroy(pbx->link);
  ingest_destroy(pbx->ingest);
  free(pbx);
}
