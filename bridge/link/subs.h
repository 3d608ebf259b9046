/*
 * subs: the subscriptions the bridge keeps on the PBX.
 *
 * DESIGN.  Runs on the event loop.  On every connection it subscribes to
 * Lines (flags 7); the lines it learns start one presence subscription
 * listing every user's extension (first: the phone states are known by the
 * time the users' records come), one user or queue subscription each
 * (flags and ccflags from the config), and the park server when offered.  Lines
 * adds, deletes and changes start, end or relabel subscriptions.  Requests
 * are paced: at most `subscribe_window` wait for their RequestResponse; the
 * rest wait in a FIFO.  Active subscriptions are refreshed at 80% of their
 * timeout.  A RequestResponse error is logged by name (codec_result_name),
 * counted, and retried with backoff when the code says a retry can help;
 * SubscribeTerminated starts a fresh subscription.  Fed by the ingest stage
 * (responses, terminations, lines), it sends through a callback (the PBX
 * link), tells the ingest stage when a line's subscription starts afresh
 * (its calls become unconfirmed) and when it has settled (unconfirmed calls
 * are deleted), and when the whole resync is done.
 *
 * It also says what each Notify is (subs_notify): a snapshot, the PBX's
 * answer to a (re)subscription, or a change.  The first Lines Notify; a
 * user's or queue's first record Notify when the line was in the
 * connection's first Lines list; the first presence Notify; and a
 * subscription's first call report when it is the PBX's answer to the
 * subscription (the Notify right after the record, arriving within 500 ms
 * of the record's NotifyAck, or the park server's first, within 500 ms of
 * its RequestResponse: the PBX sends them at once; on a line of the
 * connection's first Lines list: a line added later had no calls yet): the
 * calls already up.  A refresh (the PBX resends its
 * state) is a snapshot too: a call report whose refreshinstance is higher
 * than the subscription's last (target.refresh = that number), or a presence
 * Notify with full=1 after the first.  The presence subscription also
 * watches the presence-only entities named by `presence_entities`
 * (subs_presence_entity; names over 255 characters are skipped, with a
 * warning).
 */
#ifndef SUBS_H
#define SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ipo_mtcti3.pb-c.h"
#include "snap.h"

typedef struct subs subs_t;

typedef enum subs_kind { SUBS_LINES, SUBS_USER, SUBS_QUEUE, SUBS_PRESENCE, SUBS_PARKSERVER } subs_kind_t;

typedef struct subs_handlers {
  /* Send a message to the PBX; 0 or -1. */
  int (*send)(void *opaque, const Message *msg);
  /* A requestid not used before on this connection (shared with other stages). */
  int32_t (*requestid)(void *opaque);
  /* The line's subscription starts afresh (user, queue, park server). */
  void (*line_fresh)(void *opaque, const char *line_guid);
  /* The line's subscription is active and quiet: 0 settled, 1 ask again later. */
  int (*line_settled)(void *opaque, const char *line_guid, int32_t subscribe_id);
  /* Every subscription of this connection is active (or failed for good). */
  void (*resync_done)(void *opaque, size_t active, size_t failed);
} subs_handlers_t;

/* What a Notify's subscribe_id refers to. */
typedef struct subs_target {
  subs_kind_t kind;
  const char *guid; /* user or queue GUID (UUID text); "parkserver" for the park server */
  const char *extn;
  int first;        /* first Notify on this subscription */
  int snapshot;     /* a snapshot (see above): new entities are snapshot reads ('r'), else creates ('c') */
  int32_t refresh;  /* a refresh's snapshot: the PBX's refreshinstance; 0 otherwise (or not known) */
} subs_target_t;

subs_t *subs_new(const config_t *config, const subs_handlers_t *handlers, void *opaque);
void subs_destroy(subs_t *subs);

/* The link is up: forget every old subscription, subscribe to Lines. */
void subs_connected(subs_t *subs, int64_t now_ms);
/* The link is down: every subscription is void. */
void subs_disconnected(subs_t *subs);

/* Find the subscription of a Notify and say what the Notify is; 0 and *target, -1 when unknown. */
int subs_notify(subs_t *subs, const Notify *notify, int64_t now_ms, subs_target_t *target);
/* A Notify was acknowledged (the first's time tells the calls already up from later ones). */
void subs_notify_acked(subs_t *subs, int32_t subscribe_id, int32_t notify_id, int64_t now_ms);
/* The user GUID of a presence entry (by lref, else by extension); NULL if unknown. */
const char *subs_presence_user(subs_t *subs, int32_t lref, const char *presentity, const char **extn);
/* The presence-only entity (one of presence_entities) of a presence entry, by lref else by name; NULL if none. */
const char *subs_presence_entity(const subs_t *subs, int32_t lref, const char *presentity);

/* A NotifyLines; `full` for the first on the lines subscription. */
void subs_lines(subs_t *subs, const NotifyLines *lines, int full, int64_t now_ms);
/* A RequestResponse; 0 when it was ours. */
int subs_response(subs_t *subs, const RequestResponse *response, int64_t now_ms);
/* A SubscribeTerminated. */
void subs_terminated(subs_t *subs, const SubscribeTerminated *terminated, int64_t now_ms);

/* Timers: requests timed out, retries due, refreshes due, lines settled. */
void subs_tick(subs_t *subs, int64_t now_ms);

/* Counts per state (waiting, requested, active, failed), for metrics and /readyz. */
void subs_counts(const subs_t *subs, size_t counts[4]);
const char *const *subs_state_names(void);
/*
 * The live subscription of a user or queue line, by GUID or extension, or
 * of the park server ("parkserver"), for stages that send SubscribeCmd on
 * it (issue #5's commands); 0 when none.
 */
int32_t subs_line_subscription(const subs_t *subs, const char *guid_or_extn, subs_kind_t *kind);
/* Whether the resync of the current connection is done. */
int subs_resynced(const subs_t *subs);

#endif
