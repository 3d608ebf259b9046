/*
 * snap_int: what the files of snap share; private to bridge/state/snap*.c.
 *
 * DESIGN.  snap (see snap.h) is split by concern, one file each, in the
 * order a Notify meets them:
 *
 *   snap_lines.c    lines, users, queues, presence: the entities named by GUID
 *   snap_calls.c    calls on a line: found by callid, or by line and gcid after
 *                   a resubscription; CallLost; resync begin and end
 *   snap_text.c     protobuf -> a state's JSON text (the normalization)
 *   snap_state.c    a state: its text with the top-level fields located; the
 *                   writer that builds one in the scratch; the field-by-field
 *                   diff that decides what changed
 *   snap.c          the entity table: ids, kinds, seq, counts, the change
 *                   callback (snap_commit), deletes
 *   snap_lookup.c   the command stage's indexes (extension, queue name,
 *                   referencecallid), its lookups, and re-emission
 *   snap_restore.c  store records: written for a store, read back at start
 *   snap_replay.c   one snapshot state replayed into another (a takeover)
 *
 * A Notify's path: snap_lines.c or snap_calls.c finds (or makes) the entity
 * and writes the new state through snap_text.c into the scratch writer;
 * snap_state_apply diffs it with the entity's state and, when something
 * changed, hands it to snap_commit, which moves the entity on (seq, counts)
 * and reports the change; the lookup indexes follow.  Nothing here is
 * thread-safe: one snap_t belongs to one thread.
 */
#ifndef SNAP_INT_H
#define SNAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jbuf.h"
#include "snap.h"
#include "strmap.h"

/* ---- states (snap_state.c) ---- */

/* Offsets into a state's text: a field's name (inside its quotes) and its value. */
typedef struct snap_field {
  uint32_t name_off, name_len, val_off, val_len;
} snap_field_t;

/* One malloc'd block: this header, the fields, then the text (NUL-terminated). */
typedef struct snap_state {
  size_t len, n;
  snap_field_t *fields;
  char *text;
} snap_state_t;

/* A state being written (in the scratch) or a finished one: the same view. */
typedef struct snap_view {
  const char *text;
  size_t len;
  const snap_field_t *fields;
  size_t n;
} snap_view_t;

/*
 * The scratch a new state is written into: the text, and where each
 * top-level member lies in it.  Begin, then for each member a key
 * (snap_writer_key) followed by its value written into `b`, then end.
 */
typedef struct snap_writer {
  jbuf_t b;
  snap_field_t *fields;
  size_t n, cap;
  int failed;
} snap_writer_t;

void snap_writer_begin(snap_writer_t *w);
/* A member's name (any text: escaped as needed); its value follows in w->b. */
void snap_writer_keyn(snap_writer_t *w, const char *name, size_t len);
void snap_writer_key(snap_writer_t *w, const char *name);
/* The same for a name known to need no escape (a protobuf field name, a literal, a name copied from a state). */
void snap_writer_key_plain(snap_writer_t *w, const char *name, size_t len);
#define snap_writer_key_lit(w, lit) snap_writer_key_plain((w), (lit), sizeof(lit) - 1)
/* Close the object and locate each value; 0, or -1 when out of memory. */
int snap_writer_end(snap_writer_t *w);
snap_view_t snap_writer_view(const snap_writer_t *w);
void snap_writer_free(snap_writer_t *w);

snap_view_t snap_state_view(const snap_state_t *st);
/* A malloc'd state holding a copy of the view; NULL when out of memory. */
snap_state_t *snap_state_new(const snap_view_t *v);
snap_state_t *snap_state_dup(const snap_state_t *st);
/* The field named name[0..len) in v, or v->n; fields come in a fixed order: `hint` is where to look first. */
size_t snap_view_find(const snap_view_t *v, const char *name, size_t len, size_t hint);
/*
 * The value text of a field (not NUL-terminated), NULL when st is NULL or has
 * no such field; `hint` is the index to look at first (SNAP_HINT_LAST(st):
 * the last field, where a user's phone state is).
 */
const char *snap_state_value(const snap_state_t *st, const char *name, size_t hint, size_t *len);
#define SNAP_HINT_LAST(st) ((st) && (st)->n ? (st)->n - 1 : 0)
/* An integer field: 1 and *out, or 0 (absent or not an integer). */
int snap_state_int(const snap_state_t *st, const char *name, size_t hint, long long *out);

/* ---- entities (snap.c) ---- */

typedef struct snap_entity {
  char *id;
  snap_kind_t kind;
  char *key;
  uint64_t seq;
  snap_state_t *state; /* NULL once deleted (the seq is kept for users, queues, lines) */
  snap_line_kind_t line_kind;
  char *line_guid;
  char *line_extn;
  int32_t callid; /* calls */
  char *gcid;     /* calls: hex, or "" */
  int unconfirmed;
  /* a new user waiting for its other part (snap_lines.c): its NotifyUser as a state, or its phone state */
  snap_state_t *held; /* the state to report once complete; NULL: none */
  char held_op;       /* 'r' or 'c': as its first NotifyUser said */
  int held_phone;     /* the phone state that came first; -1: none */
  int idle_at_record; /* users: its phone was idle (no call) when its last NotifyUser came */
  /* what the lookup indexes hold of it (snap_lookup.c) */
  char *indexed_extn;  /* lines: in line_by_extn under "<indexed_kind>/<extn>"; NULL: not */
  snap_line_kind_t indexed_kind;
  char *indexed_name;  /* queue lines: in queue_by_name */
  int32_t indexed_ref; /* calls: in call_by_ref under "<line guid>/<referencecallid>"; 0: not */
  char *indexed_slot;  /* park server calls: in park_by_slot under their parkslot; NULL: not */
} snap_entity_t;

/* One field named in a change: in the new state (after) or, for one that went away, the old. */
typedef struct snap_diff_ref {
  int in_before;
  size_t index;
} snap_diff_ref_t;

struct snap {
  snap_change_cb *cb;
  void *opaque;
  strmap_t entities; /* id -> entity (owned) */
  strmap_t callids;  /* "<line guid>/<callid>" -> call entity */
  strmap_t call_legs; /* "<line guid>/<gcid>" -> the line's last call entity of that gcid */
  int64_t (*now_ms)(void); /* the wall clock, for a new leg's key (tests fix it) */
  snap_call_report_cb *report_cb; /* calls made with a referencecallid: reported or lost */
  void *report_opaque;
  /* lookup indexes for the command stage, kept as entities change (snap_lookup.c) */
  strmap_t line_by_extn;  /* "<line kind>/<extn>" -> live line entity */
  strmap_t queue_by_name; /* queue name -> live queue line entity */
  strmap_t call_by_ref;   /* "<line guid>/<referencecallid>" -> call entity (referencecallid != 0) */
  strmap_t park_by_slot;  /* parkslot -> the park server's call entity parked there */
  size_t counts[SNAP__KIND_COUNT];
  /* scratch, reused from one change to the next */
  snap_writer_t w;       /* the state being written */
  snap_diff_ref_t *diff; /* the changed fields of the last diff */
  size_t diff_cap;
  snap_name_t *names; /* the names a change reports */
  size_t names_cap;
};

/* A new entity, in the table under `id`; NULL when out of memory. */
snap_entity_t *snap_entity_new(snap_t *snap, snap_kind_t kind, const char *id, const char *key,
                               snap_line_kind_t line_kind, const char *line_guid, const char *line_extn);
void snap_entity_free(void *entity);
/* "<kind>:<guid>" */
void snap_entity_id(char *out, size_t size, const char *kind, const char *guid);
/* "<line guid>/<callid>": the key of callids and call_by_ref */
void snap_callid_key(const char *line_guid, int32_t callid, char *out, size_t size);
/* A call leg in (add) or out of call_legs, its place by line and gcid (calls with a gcid only). */
void snap_leg_index(snap_t *snap, snap_entity_t *call, int add);
/* Replace a copied string unless it is unchanged (the usual case: no copy); NULL is "". */
void snap_set_str(char **field, const char *value);
int snap_kind_parse(const char *name, snap_kind_t *kind);
int snap_line_kind_parse(const char *name, snap_line_kind_t *kind);

/*
 * Move `entity` to state `after` (taken; NULL for a delete), count and
 * report the change.  For 'u', snap->diff holds the n_diff changed fields.
 */
void snap_commit(snap_t *snap, snap_entity_t *entity, char op, snap_state_t *after, const json_t *lost,
                 size_t n_diff);
/* Report a delete (lost: a call's calllost, or NULL); a call is then forgotten, other kinds keep their seq. */
void snap_delete(snap_t *snap, snap_entity_t *entity, const json_t *lost);
/* Forget a held new user's parts (it was never reported). */
void snap_entity_unhold(snap_entity_t *entity);

/* ---- users (snap_lines.c) ---- */

/* Report the line's user if it is held for want of its phone state (as it stands, phone state null). */
void snap_user_release(snap_t *snap, const char *line_guid);

/*
 * The state written in snap->w becomes the entity's (snap_state.c): op 'c'
 * or 'r' for a new entity; 0 for an update, reported with the fields that
 * differ, and not at all when none does.
 */
void snap_state_apply(snap_t *snap, snap_entity_t *entity, char op);

/* ---- protobuf to text (snap_text.c) ---- */

/* Every field of msg, normalized, as top-level members of the state being written. */
void snap_text_members(snap_writer_t *w, const ProtobufCMessage *msg);

/* ---- lines (snap_lines.c) ---- */

/* A line is gone: its calls, its user or queue, then itself (each reported). */
void snap_line_remove(snap_t *snap, snap_entity_t *line);

/* ---- calls (snap_calls.c) ---- */

/* Delete every call of a line that is gone (calllost.description `why`). */
void snap_line_calls_delete(snap_t *snap, const char *line_guid, const char *why);

/* ---- lookup indexes (snap_lookup.c) ---- */

/* A line entity's index entries brought in line with its state: its extension and, for a queue, `name`. */
void snap_line_index(snap_t *snap, snap_entity_t *line, const char *name);
/*
 * A call entity's index entries brought in line with its state (none once
 * deleted): its referencecallid and, on the park server, its parkslot.
 */
void snap_call_index(snap_t *snap, snap_entity_t *call);

#endif
