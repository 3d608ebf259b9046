/*
 * snap_state: an entity's state as located JSON text, and the diff.
 *
 * DESIGN.  A state is kept as its JSON text (compact, ASCII, the bytes
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) would give) plus where each
 * top-level field's name and value lie in it, all in one malloc'd block.  A
 * new snapshot is written into a scratch writer (snap_writer_*) that records
 * those places as it goes, then compared with the entity's last state field
 * by field, byte for byte (snap_state_diff): a Notify that changes nothing
 * costs no allocation and reports nothing; a change costs one block, the new
 * state, and names the fields that differ.  States of one entity are written
 * by the same code, so their fields come in the same order, and the lookups
 * of the diff find each field where the last match left off.
 */
#include "snap_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- the writer ---- */

void snap_writer_begin(snap_writer_t *w) {
  jbuf_reset(&w->b);
  w->n = 0;
  w->failed = 0;
  jbuf_char(&w->b, '{');
}

/* Room for one more located member; 0, or -1 (out of memory: the state is not finished). */
static int snap_writer_more(snap_writer_t *w) {
  if (w->n < w->cap)
    return 0;
  size_t cap = w->cap ? w->cap * 2 : 64;
  snap_field_t *grown = realloc(w->fields, cap * sizeof(*grown));
  if (!grown) {
    w->failed = 1;
    return -1;
  }
  w->fields = grown;
  w->cap = cap;
  return 0;
}

/* The member whose `"name":` was written from `start` on: located. */
static void snap_writer_locate(snap_writer_t *w, size_t start) {
  snap_field_t *f = &w->fields[w->n++];
  f->name_off = (uint32_t)start + 1;
  f->name_len = (uint32_t)(w->b.len - start - 3); /* without the quotes and the colon */
  f->val_off = (uint32_t)w->b.len;
  f->val_len = 0;
}

void snap_writer_keyn(snap_writer_t *w, const char *name, size_t len) {
  if (snap_writer_more(w) != 0)
    return;
  if (w->n)
    jbuf_char(&w->b, ',');
  size_t start = w->b.len;
  jbuf_jstrn(&w->b, name, len);
  jbuf_char(&w->b, ':');
  snap_writer_locate(w, start);
}

void snap_writer_key(snap_writer_t *w, const char *name) { snap_writer_keyn(w, name, strlen(name)); }

void snap_writer_key_plain(snap_writer_t *w, const char *name, size_t len) {
  if (snap_writer_more(w) != 0 || !jbuf_reserve(&w->b, len + 4))
    return;
  if (w->n)
    w->b.data[w->b.len++] = ',';
  size_t start = w->b.len;
  jbuf_keyn(&w->b, name, len);
  snap_writer_locate(w, start);
}

/* Each value runs up to the next member's ',"' or the final '}'. */
int snap_writer_end(snap_writer_t *w) {
  jbuf_t *b = &w->b;
  jbuf_char(b, '}');
  if (b->failed || w->failed || b->len > UINT32_MAX)
    return -1;
  for (size_t i = 0; i < w->n; i++) {
    size_t end = i + 1 < w->n ? w->fields[i + 1].name_off - 2 : b->len - 1;
    w->fields[i].val_len = (uint32_t)(end - w->fields[i].val_off);
  }
  return 0;
}

snap_view_t snap_writer_view(const snap_writer_t *w) {
  snap_view_t v = {w->b.data, w->b.len, w->fields, w->n};
  return v;
}

void snap_writer_free(snap_writer_t *w) {
  jbuf_free(&w->b);
  free(w->fields);
  memset(w, 0, sizeof(*w));
}

/* ---- states ---- */

snap_view_t snap_state_view(const snap_state_t *st) {
  snap_view_t v = {st->text, st->len, st->fields, st->n};
  return v;
}

static int snap_view_named(const snap_view_t *v, size_t i, const char *name, size_t len) {
  return v->fields[i].name_len == len && memcmp(v->text + v->fields[i].name_off, name, len) == 0;
}

size_t snap_view_find(const snap_view_t *v, const char *name, size_t len, size_t hint) {
  if (hint >= v->n)
    hint = 0;
  for (size_t i = hint; i < v->n; i++) /* the usual case: found at once */
    if (snap_view_named(v, i, name, len))
      return i;
  for (size_t i = 0; i < hint; i++)
    if (snap_view_named(v, i, name, len))
      return i;
  return v->n;
}

const char *snap_state_value(const snap_state_t *st, const char *name, size_t hint, size_t *len) {
  if (!st)
    return NULL;
  snap_view_t v = snap_state_view(st);
  size_t i = snap_view_find(&v, name, strlen(name), hint);
  if (i == v.n)
    return NULL;
  *len = st->fields[i].val_len;
  return st->text + st->fields[i].val_off;
}

int snap_state_int(const snap_state_t *st, const char *name, size_t hint, long long *out) {
  size_t len;
  const char *v = snap_state_value(st, name, hint, &len);
  if (!v || len == 0 || len > 20 || !(isdigit((unsigned char)v[0]) || v[0] == '-'))
    return 0;
  char num[24];
  memcpy(num, v, len);
  num[len] = '\0';
  char *end;
  *out = strtoll(num, &end, 10);
  return *end == '\0';
}

snap_state_t *snap_state_new(const snap_view_t *v) {
  snap_state_t *st = malloc(sizeof(*st) + v->n * sizeof(snap_field_t) + v->len + 1);
  if (!st)
    return NULL;
  st->len = v->len;
  st->n = v->n;
  st->fields = (snap_field_t *)(st + 1);
  st->text = (char *)(st->fields + v->n);
  if (v->n)
    memcpy(st->fields, v->fields, v->n * sizeof(snap_field_t));
  memcpy(st->text, v->text, v->len);
  st->text[v->len] = '\0';
  return st;
}

snap_state_t *snap_state_dup(const snap_state_t *st) {
  snap_view_t v = snap_state_view(st);
  return snap_state_new(&v);
}

/* ---- the diff ---- */

/*
 * The top-level fields that differ between before and after, into
 * snap->diff: those of `after` in its order, then those only `before` has.
 * Returns how many (-1: out of memory).
 */
static long snap_state_diff(snap_t *snap, const snap_view_t *before, const snap_view_t *after) {
  size_t n = 0, hint = 0, matched = 0;
  if (snap->diff_cap < after->n + before->n) {
    snap_diff_ref_t *grown = realloc(snap->diff, (after->n + before->n) * sizeof(*grown));
    if (!grown)
      return -1;
    snap->diff = grown;
    snap->diff_cap = after->n + before->n;
  }
  for (size_t i = 0; i < after->n; i++) {
    const snap_field_t *af = &after->fields[i];
    if (hint < before->n) {
      /* the usual case, the same field unchanged where it was: `name":value` compared at once */
      const snap_field_t *bf = &before->fields[hint];
      if (bf->name_len == af->name_len && bf->val_len == af->val_len &&
          memcmp(before->text + bf->name_off, after->text + af->name_off,
                 af->val_off + af->val_len - af->name_off) == 0) {
        matched++;
        hint++;
        continue;
      }
    }
    size_t j = before->n ? snap_view_find(before, after->text + af->name_off, af->name_len, hint) : 0;
    if (j < before->n) {
      matched++;
      hint = j + 1;
      const snap_field_t *bf = &before->fields[j];
      if (bf->val_len == af->val_len &&
          memcmp(before->text + bf->val_off, after->text + af->val_off, af->val_len) == 0)
        continue;
    }
    snap->diff[n].in_before = 0;
    snap->diff[n++].index = i;
  }
  if (matched < before->n) { /* fields that went away */
    for (size_t j = 0; j < before->n; j++) {
      const snap_field_t *bf = &before->fields[j];
      if (snap_view_find(after, before->text + bf->name_off, bf->name_len, j) == after->n) {
        snap->diff[n].in_before = 1;
        snap->diff[n++].index = j;
      }
    }
  }
  return (long)n;
}

void snap_state_apply(snap_t *snap, snap_entity_t *entity, char op) {
  if (snap_writer_end(&snap->w) != 0)
    return; /* out of memory: the next snapshot brings it */
  snap_view_t after_view = snap_writer_view(&snap->w);
  long n_diff = 0;
  if (op == 0) {
    snap_view_t before_view = snap_state_view(entity->state);
    n_diff = snap_state_diff(snap, &before_view, &after_view);
    if (n_diff <= 0)
      return;
    op = 'u';
  }
  snap_state_t *after = snap_state_new(&after_view);
  if (after)
    snap_commit(snap, entity, op, after, NULL, (size_t)n_diff);
}
