/*
 * snap: the last known snapshot of every line, user, queue and call, and the
 * diff that turns each new snapshot into change records.
 *
 * DESIGN.  Pure: fed decoded MTCTI3 payloads (NotifyLines, NotifyUser,
 * NotifyPresentity, NotifyQueue, NotifyCallControl) by the ingest stage, it
 * compares each with the entity's last state and reports every difference
 * through a callback, one snap_change_t per changed entity; a payload that
 * changes nothing reports nothing.  Entities and their topics:
 *
 *   line   "line:<guid>"              lines     key guid     {kind, guid, extn, name}
 *   user   "user:<guid>"              presence  key guid     NotifyUser + phone state
 *   presentity "presentity:<name>"    presence  key name     NotifyPresentity (a presence-only entity)
 *   queue  "queue:<guid>"             queues    key guid     NotifyQueue
 *   call   "call:<leg>"               calls     key the leg  leg identity + CallInfo (one per line
 *                                                                  and call), partitioned by gcid
 *
 * A call leg's key is "<line guid>:<gcid>:<first seen, ms>" ("parkserver"
 * for the park server's line, "cid<callid>" when the call has no gcid): the
 * time makes it unique even when a restarted PBX hands out a gcid again, so
 * no two legs ever share a key, an entity id or a ce_id.
 *
 * A state is the normalized full snapshot (snap_pb_text): every field,
 * defaults included, enums by name, GUIDs as UUIDs, gcid as hex,
 * featuresavailable as a number plus a list of names.  Each entity carries
 * `seq`, growing by one with each of its changes.  A call keeps its identity
 * across a resubscription that gives it a new callid: it is matched by line
 * and gcid.  After a line is (re)subscribed, its known calls are marked
 * unconfirmed (snap_line_resync_begin); snap_line_resync_end deletes those
 * the PBX did not report again, so a call that ended during an outage gets
 * its delete.  snap_record_write/snap_restore carry the state to and from a
 * store.
 *
 * One snapshot model: an entity's first event carries its whole known state.
 * A new user is held until both its parts are known (NotifyUser and the
 * presence subscription's phone state), then reported once; a user whose
 * phone state does not come by the time its line settles
 * (snap_line_resync_end) is reported without it.  New entities from a
 * snapshot (an initial Notify, a resubscription's, a refresh) are 'r',
 * others 'c'; calls too (snap_calls_apply's snapshot), but for a user whose
 * phone was idle when its record came (it had no call up then).
 * Single-threaded, no I/O.
 */
#ifndef SNAP_H
#define SNAP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipo_mtcti3.pb-c.h"
#include "jbuf.h"

/* X(enum suffix, entity name, topic suffix, compacted) */
/* The calllost.description of a call deleted because it ended while no bridge saw it (synthetic). */
#define SNAP_CALL_ENDED_AWAY "ended while the bridge was not connected"

#define SNAP_KINDS(X)                   \
  X(LINE, "line", "lines", 1)           \
  X(USER, "presence", "presence", 1)    \
  X(QUEUE, "queue", "queues", 1)        \
  X(CALL, "call", "calls", 0)

typedef enum snap_kind {
#define SNAP_X_ENUM(e, n, t, c) SNAP_##e,
  SNAP_KINDS(SNAP_X_ENUM)
#undef SNAP_X_ENUM
  SNAP__KIND_COUNT
} snap_kind_t;

const char *snap_kind_name(snap_kind_t kind);  /* "call" */
const char *snap_kind_topic(snap_kind_t kind); /* "calls" (without prefix) */
int snap_kind_compacted(snap_kind_t kind);

typedef enum snap_line_kind {
  SNAP_LINE_USER = 0,
  SNAP_LINE_QUEUE = 1,
  SNAP_LINE_PARK = 2,
  SNAP_LINE_PRESENTITY = 3 /* no line: a presence-only entity */
} snap_line_kind_t;
const char *snap_line_kind_name(snap_line_kind_t kind); /* "user", "queue", "parkserver", "presentity" */

/* The line an entity belongs to (for a user or queue: itself). */
typedef struct snap_line {
  snap_line_kind_t kind;
  const char *guid; /* UUID text; "" for the park server */
  const char *extn;
} snap_line_t;

/* A field name as it stands in a state's JSON text (between its quotes, not NUL-terminated). */
typedef struct snap_name {
  const char *name;
  size_t len;
} snap_name_t;

/*
 * One change, valid during the callback only.  States come as compact
 * ASCII JSON text (the bytes json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII)
 * gives), NUL-terminated; NULL stands for null.
 */
typedef struct snap_change {
  snap_kind_t kind;
  char op;               /* 'c' create, 'u' update, 'd' delete, 'r' snapshot read */
  const char *entity_id; /* "call:<guid>:<gcid>" */
  const char *key;       /* Kafka key */
  uint64_t seq;
  const char *before_text; /* NULL for c and r */
  size_t before_len;
  const char *after_text; /* NULL for d */
  size_t after_len;
  /* the event's `changed`: for u the fields that differ; for c and r every field of after, for d of before */
  const snap_name_t *names;
  size_t n_names;
  const json_t *lost; /* for a call's d: {callid, referencecallid, reason, thisenddropped, description, synthetic} */
  snap_line_t line;
  /* what chooses the Kafka partition when not the key: a call's gcid, so every leg of a call shares one */
  const char *partition_key;
} snap_change_t;

typedef void(snap_change_cb)(void *opaque, const snap_change_t *change);

/*
 * What became of a call an application made with a referencecallid (a
 * MakeCall, an UnPark), on a line: reported (its first CallInfo carrying the
 * referencecallid: callid and leg) or lost before it was ever reported (the
 * spec's instant MakeCall failure: only a CallLost, matched by its
 * referencecallid).  Valid during the callback only.
 */
typedef struct snap_call_report {
  const char *line_guid;
  int32_t referencecallid;
  int32_t callid;
  const char *leg;         /* the leg's key; NULL when lost */
  int lost;                /* a CallLost for a call never reported */
  int32_t reason;          /* CallLost.reason, when lost */
  int thisenddropped;
  const char *description; /* CallLost.description, when lost ("" if none) */
} snap_call_report_t;

typedef void(snap_call_report_cb)(void *opaque, const snap_call_report_t *report);

typedef struct snap snap_t;

snap_t *snap_new(snap_change_cb *cb, void *opaque);
/* Where the changes go from now on (a warm view that becomes the published state, or back). */
void snap_set_callback(snap_t *snap, snap_change_cb *cb, void *opaque);
/* Who hears of calls made with a referencecallid (NULL: nobody); see snap_call_report_t. */
void snap_set_call_report(snap_t *snap, snap_call_report_cb *cb, void *opaque);
/* The wall clock a new call leg's key takes its time from (default bclock_wall_ms; tests fix it). */
void snap_set_clock(snap_t *snap, int64_t (*now_ms)(void));
void snap_destroy(snap_t *snap);

/*
 * A NotifyLines.  `full` (the first Notify of a lines subscription) holds
 * every line: known lines missing from it are deleted, with their user or
 * queue and calls.  New lines are 'r' when full, else 'c'.
 */
void snap_lines_apply(snap_t *snap, const NotifyLines *lines, int full);
/*
 * A NotifyUser of the user line `guid`; `snapshot` makes a new entity 'r'.
 * A new user is held until its phone state is known (see above).
 */
void snap_user_apply(snap_t *snap, const char *guid, const NotifyUser *user, int snapshot);
/* A presence entry of the user `guid`: merges phone state into the user (completing a held new one). */
void snap_presence_apply(snap_t *snap, const char *guid, const NotifyPresentity *entry, int snapshot);
/*
 * A presence entry of a presence-only entity `name` (no NotifyUser): every
 * NotifyPresentity field, {presentity, sac, phonestate, phonestate_name,
 * absence, app, fwdu, vmunread_messages, noapphandler}.
 */
void snap_presentity_apply(snap_t *snap, const char *name, const NotifyPresentity *entry, int snapshot);
/* A NotifyQueue of the queue line `guid`. */
void snap_queue_apply(snap_t *snap, const char *guid, const NotifyQueue *queue, int snapshot);
/*
 * Calls on a line: CallInfo creates or updates, CallLost deletes.  A call
 * first reported with a referencecallid, or lost without ever being
 * reported, is told to the call report callback.
 */
void snap_calls_apply(snap_t *snap, const snap_line_t *line, const NotifyCallControl *cc, int snapshot);

/* Mark the line's calls unconfirmed (its subscription starts afresh). */
void snap_line_resync_begin(snap_t *snap, const char *line_guid);
/*
 * The line has settled: delete its calls still unconfirmed (returns how
 * many), and report its user if still held for want of its phone state.
 */
size_t snap_line_resync_end(snap_t *snap, const char *line_guid);

/* ---- lookups and re-emission, for the command source (issue #5) ---- */

/*
 * A user or queue line by GUID (UUID text, any case), extension or, for a
 * queue, name.  1 and *line (strings borrowed until the next change), or 0.
 */
int snap_line_find(const snap_t *snap, snap_line_kind_t kind, const char *name, snap_line_t *line);
/*
 * A call known on the line `line_guid`, by callid (by_reference 0) or by
 * referencecallid (1).  1 with its current callid and featuresavailable
 * words, or 0.
 */
int snap_call_find_on_line(const snap_t *snap, const char *line_guid, int by_reference, int32_t value,
                           int32_t *callid, uint32_t *features, uint32_t *features2);
/* The call parked in `slot` on the park server: 1 with its callid and featuresavailable words, or 0. */
int snap_park_find(const snap_t *snap, const char *slot, int32_t *callid, uint32_t *features,
                   uint32_t *features2);
/* The user's NotifyUser.featuresavailable: 1 and *features, or 0 when not known yet. */
int snap_user_features(const snap_t *snap, const char *guid, uint32_t *features);
/*
 * Report every known entity again as an 'r' change (its seq grows, its state
 * is unchanged), for consumers that start late.  kind_mask: bits (1 << kind);
 * line_guid: only that line's entities (the line, its user or queue, its
 * calls), NULL for all.  Returns how many were reported.
 */
size_t snap_reemit(snap_t *snap, unsigned kind_mask, const char *line_guid);

/*
 * Replay every entity of `src` (a warm view whose changes nobody published)
 * into `dst` (the committed state) as a fresh snapshot: dst reports exactly
 * the differences (new entities as 'r'), each seq continuing; a call leg of
 * src becomes the committed leg of the same line and callid (or gcid), with
 * the committed leg's key; what src does not have is deleted (calls with a
 * synthetic calllost, lines with their user or queue).  Returns how many
 * entities were applied.  (snap_replay.c)
 */
size_t snap_replay(snap_t *dst, const snap_t *src);

/*
 * ---- a resilient pair (snap_replay.c) ----
 *
 * Two views (one per system, whose changes nobody publishes) merged into
 * one published state.  Call legs of different snaps are the same leg when
 * they share line and gcid (line and callid for a call without gcid): the
 * two systems number a queue's calls each their own way; the published leg
 * keeps its key and seq whichever system reports it.
 */
/* Whether to keep a call of dst that the sources lack (a call moving between systems); 1 keeps it. */
typedef int(snap_replay_keep_cb)(void *opaque, const char *line_guid, const char *gcid);
/*
 * `active`'s entities, plus `extra`'s queue-line calls (NULL: none) that
 * active does not have, replayed into dst as a fresh snapshot (only the
 * differences, new entities 'r'); dst's calls neither has are deleted
 * (synthetic calllost) unless `keep` (may be NULL) keeps them, its lines
 * active lacks with their user or queue.  Returns how many were applied.
 */
size_t snap_replay_pair(snap_t *dst, const snap_t *active, const snap_t *extra, snap_replay_keep_cb *keep,
                        void *opaque);
/* src's live entity `id` into dst as it stands: new ('r' when snapshot, else 'c') or only what differs.  1 when applied. */
int snap_replay_one(snap_t *dst, const snap_t *src, const char *id, int snapshot);
/*
 * src is deleting its entity `id` (call it from src's change callback, while
 * the entity is still known): dst's copy goes too (a call with `lost`, a line
 * with its user or queue).  1 when dst had it.
 */
int snap_replay_gone(snap_t *dst, const snap_t *src, const char *id, const json_t *lost);
/* The id of `other`'s live leg that is src's call `id` (see above), or NULL. */
const char *snap_leg_twin(const snap_t *other, const snap_t *src, const char *id);
/* Whether a call's state text (a change's before or after) waits for an answer (QUEUEING, RINGING, RETARGETING): a call a pair may move. */
int snap_call_waiting(const char *state_text);
/* The key of the live leg with callid `callid` on the line (borrowed until the next change), or NULL. */
const char *snap_call_leg(const snap_t *snap, const char *line_guid, int32_t callid);
/* How many live calls the line `line_guid` has (a scan: for the commands' routing). */
size_t snap_line_calls(const snap_t *snap, const char *line_guid);
/* dst's queue-line calls that neither a nor b (each may be NULL) has are deleted, but those `keep` keeps; how many. */
size_t snap_replay_orphans(snap_t *dst, const snap_t *a, const snap_t *b, snap_replay_keep_cb *keep, void *opaque);

/*
 * Every known entity's current state, as an 'r' change with its current seq
 * and no `changed` names, to `cb` (not the snap's own callback); changes
 * nothing.  For a stage that rebuilds its view from a restored state.
 */
void snap_walk(const snap_t *snap, snap_change_cb *cb, void *opaque);

/* Counts, for metrics. */
size_t snap_count(const snap_t *snap, snap_kind_t kind);

/*
 * What a store keeps of an entity after `change`, as one line of JSON into
 * b: {"kind", "key", "seq", "line": {"kind", "guid", "extn"}, "callid",
 * "gcid", "v": 2} (v: the store's format version).  1, or 0 when the entity
 * is gone for good (a deleted call).
 */
int snap_record_write(const snap_t *snap, const snap_change_t *change, jbuf_t *b);
/*
 * Load one entity from a record: snap_record_write's fields (v ignored) with
 * the entity's state under "state" (an object, or null once deleted).  0, or
 * -1 with errstr.
 */
int snap_restore(snap_t *snap, const char *entity_id, const json_t *record, char *errstr,
                 size_t errstr_size);

/*
 * The normalized JSON text of any MTCTI3 message, as a state holds it: every
 * field with its value or default, enums by name, bytes fields `guid` as
 * UUID, other bytes as hex, featuresavailable also as
 * `featuresavailable_names`; compact ASCII, the bytes json_dumps would give.
 * malloc'd, the caller frees; NULL when out of memory.
 */
char *snap_pb_text(const ProtobufCMessage *msg);

/* Phone state name (presence): "idle", "dialling", ..., or "unknown". */
const char *snap_phonestate_name(int phonestate);

#endif
