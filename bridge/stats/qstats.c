/*
 * qstats: queue statistics from the snapshot state's changes.  See qstats.h.
 */
#include "qstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jbuf.h"
#include "strmap.h"

/* ---- what a call's state on a queue line means ---- */

typedef enum qs_call_state { QS_WAITING = 0, QS_ANSWERED, QS_VOICEMAIL } qs_call_state_t;

static const char *const qs_call_state_names[] = {"waiting", "answered", "voicemail"};

/* CallInfo states that end the wait: X(state name, outcome). Every other state is waiting. */
static const struct {
  const char *state;
  qs_call_state_t outcome;
} qs_outcomes[] = {
    {"CONNECTED", QS_ANSWERED},
    {"ONHOLD", QS_ANSWERED},
    {"ONHOLDPENDTRANSFER", QS_ANSWERED},
    {"ONHOLDPENDCONF", QS_ANSWERED},
    {"RINGINGVOICEMAIL", QS_VOICEMAIL},
    {"ANSWEREDBYVOICEMAIL", QS_VOICEMAIL},
    {"LEAVINGVOICEMAILMESSAGE", QS_VOICEMAIL},
};

/* ---- a member's state, in order of precedence ---- */

typedef enum qs_agent_state {
  QS_LOGGED_OUT = 0,
  QS_DISABLED,
  QS_BUSY,
  QS_RINGING,
  QS_DND,
  QS_ABSENT,
  QS_AVAILABLE,
  QS__AGENT_STATES
} qs_agent_state_t;

static const char *const qs_agent_state_names[QS__AGENT_STATES] = {
    "logged_out", "disabled", "busy", "ringing", "dnd", "absent", "available"};

/* An agent_list row after "state": the state's name and the next key. */
#define QS_STATE_ROW(name) {"\"" name "\",\"since_ms\":", sizeof(name) + 13}
static const struct {
  const char *text;
  size_t len;
} qs_agent_state_rows[QS__AGENT_STATES] = {
    QS_STATE_ROW("logged_out"), QS_STATE_ROW("disabled"), QS_STATE_ROW("busy"),     QS_STATE_ROW("ringing"),
    QS_STATE_ROW("dnd"),        QS_STATE_ROW("absent"),   QS_STATE_ROW("available")};
#undef QS_STATE_ROW

/* The counts one period keeps: one row per figure, in the record's order. */
#define QS_FIGURES(X) X(offered) X(answered) X(answered_in_sl) X(abandoned) X(voicemail)

typedef struct qs_counts {
#define QS_X_FIELD(f) long f;
  QS_FIGURES(QS_X_FIELD)
#undef QS_X_FIELD
} qs_counts_t;

/* One second of the window. */
typedef struct qs_bucket {
  int64_t sec;
  qs_counts_t c;
} qs_bucket_t;

/* A call on a queue's line. */
typedef struct qs_qcall {
  int64_t offered_ms, done_ms; /* done: answered or voicemail, 0 while waiting */
  qs_call_state_t state;
  int unconfirmed; /* restored, not reported by a change since (qstats_prune) */
} qs_qcall_t;

typedef struct qs_user qs_user_t;

typedef struct qs_member {
  char *extn;
  int disabled;
  qs_agent_state_t state; /* as last written */
  int64_t since_ms;       /* 0: not written yet */
  const qs_user_t *user;  /* qs_write_figures' lookup, valid while it runs */
} qs_member_t;

typedef struct qs_queue {
  char *guid, *extn, *name;
  qs_member_t *members;
  size_t n_members;
  strmap_t calls; /* entity id -> qs_qcall_t */
  qs_bucket_t *buckets;
  size_t n_buckets, cap_buckets;
  jbuf_t buckets_text; /* the buckets as the record lists them, when not stale */
  int buckets_stale;
  qs_counts_t window, today;
  uint64_t seq;
  jbuf_t last; /* the figures of the last record (the "cmp" text); no data before the first */
  json_t *restored; /* after a restore, until the first flush: the last record's figures */
  int dirty, gone;
  int listed; /* in qs->dirty_list */
} qs_queue_t;

struct qs_user {
  char *guid, *extn, *name;
  char *row; /* its agent_list row's start, {"guid":..,"extn":..,"name":..,"state": (NULL: not known) */
  size_t row_len;
  int known; /* its state was seen (not only its calls) */
  int logged_in, dnd, absent;
  long calls, ringing;
};

/* A call on a user's line. */
typedef struct qs_ucall {
  qs_user_t *user;
  int ringing;
} qs_ucall_t;

/* The queues listing an extension as a member. */
typedef struct qs_qlist {
  qs_queue_t **q;
  size_t n, cap;
} qs_qlist_t;

struct qstats {
  char *pbx_id, *timezone;
  long sl_seconds, window_seconds;
  qstats_record_cb *cb;
  void *opaque;
  strmap_t queues;    /* guid -> qs_queue_t */
  strmap_t users;     /* guid -> qs_user_t */
  strmap_t by_extn;   /* extn -> qs_user_t (users whose state is known) */
  strmap_t member_of; /* extn -> qs_qlist_t */
  strmap_t ucalls;    /* call entity id -> qs_ucall_t */
  int64_t day_start_ms, day_next_ms;
  /*
   * qstats_flush's shortcut: the queues marked dirty since it last ran (once
   * each), unless `dirty_all` (midnight, out of memory, more than the list
   * holds) asks for a visit of every queue; the second of the last visit of
   * every queue (the window expires by whole seconds).
   */
  qs_queue_t **dirty_list;
  size_t n_dirty, cap_dirty;
  int dirty_all;
  int64_t flushed_sec;
  jbuf_t cmp, rec; /* scratch */
};

/* ---- the time zone: local midnights ---- */

int qstats_timezone_check(const char *tz, char *errstr, size_t errstr_size) {
  char path[512];
  const char *dir = getenv("TZDIR");
  if (!tz || !*tz) {
    snprintf(errstr, errstr_size, "empty time zone");
    return -1;
  }
  if (strcmp(tz, "UTC") == 0)
    return 0;
  if (tz[0] == '/' || tz[0] == ':' || strstr(tz, "..") || strlen(tz) > 200) {
    snprintf(errstr, errstr_size, "\"%s\" is not a time zone name (UTC, Europe/Berlin, ...)", tz);
    return -1;
  }
  snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
  FILE *f = fopen(path, "rb");
  char magic[4] = {0};
  size_t n = f ? fread(magic, 1, 4, f) : 0;
  if (f)
    fclose(f);
  if (n != 4 || memcmp(magic, "TZif", 4) != 0) {
    snprintf(errstr, errstr_size, "\"%s\" is not a known time zone (no such zoneinfo file)", tz);
    return -1;
  }
  return 0;
}

/* floor division for negative times too */
static int64_t qs_floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* The local midnight at or before now_ms, and the next one, in zone tz. */
static void qs_midnights(const char *tz, int64_t now_ms, int64_t *start_ms, int64_t *next_ms) {
  const char *old = getenv("TZ");
  char *saved = old ? strdup(old) : NULL;
  setenv("TZ", tz, 1);
  tzset();
  time_t t = (time_t)qs_floor_div(now_ms, 1000);
  struct tm tm, day;
  localtime_r(&t, &tm);
  day = tm;
  day.tm_hour = day.tm_min = day.tm_sec = 0;
  day.tm_isdst = -1;
  time_t start = mktime(&day);
  day = tm;
  day.tm_mday += 1;
  day.tm_hour = day.tm_min = day.tm_sec = 0;
  day.tm_isdst = -1;
  time_t next = mktime(&day);
  if (saved)
    setenv("TZ", saved, 1);
  else
    unsetenv("TZ");
  tzset();
  free(saved);
  *start_ms = (int64_t)start * 1000;
  *next_ms = (int64_t)next * 1000;
}

/* ---- a compact JSON object's top-level fields, found without parsing it ---- */

/* Skip the JSON value at p (< end); returns the position after it. */
static const char *qs_skip_value(const char *p, const char *end) {
  int depth = 0;
  while (p < end) {
    char c = *p;
    if (c == '"') {
      for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
          p++;
      p++;
      if (depth == 0)
        return p;
      continue;
    }
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (depth == 0)
        return p;
      if (--depth == 0)
        return p + 1;
    } else if (c == ',' && depth == 0) {
      return p;
    }
    p++;
  }
  return p;
}

/* The value of top-level field `name` in the compact object text: 1 and its span, or 0. */
static int qs_field(const char *text, size_t len, const char *name, const char **val, size_t *val_len) {
  const char *p = text, *end = text + len;
  size_t nlen = strlen(name);
  if (!text || len < 2 || *p != '{')
    return 0;
  p++;
  while (p < end && *p == '"') {
    const char *k = ++p;
    while (p < end && *p != '"')
      p += *p == '\\' ? 2 : 1;
    size_t klen = (size_t)(p - k);
    p += 2; /* the closing quote and the colon */
    if (p >= end)
      return 0;
    const char *v = p;
    p = qs_skip_value(p, end);
    if (klen == nlen && memcmp(k, name, nlen) == 0) {
      *val = v;
      *val_len = (size_t)(p - v);
      return 1;
    }
    if (p < end && *p == ',')
      p++;
  }
  return 0;
}

/*
 * Several top-level fields in one pass: for each of names[0..n), 1 and its
 * span in vals/val_lens when found (a name found twice: its first), else 0
 * in found[].  The pass ends once every name is found.
 */
static void qs_fields(const char *text, size_t len, const char *const *names, size_t n, int *found,
                      const char **vals, size_t *val_lens) {
  const char *p = text, *end = text + len;
  size_t left = n, nlens[8];
  for (size_t i = 0; i < n && i < 8; i++) {
    found[i] = 0;
    nlens[i] = strlen(names[i]);
  }
  if (!text || len < 2 || *p != '{' || n > 8)
    return;
  p++;
  while (left && p < end && *p == '"') {
    const char *k = ++p;
    while (p < end && *p != '"')
      p += *p == '\\' ? 2 : 1;
    size_t klen = (size_t)(p - k);
    p += 2; /* the closing quote and the colon */
    if (p >= end)
      return;
    const char *v = p;
    p = qs_skip_value(p, end);
    for (size_t i = 0; i < n; i++) {
      if (!found[i] && klen == nlens[i] && memcmp(k, names[i], klen) == 0) {
        found[i] = 1;
        vals[i] = v;
        val_lens[i] = (size_t)(p - v);
        left--;
        break;
      }
    }
    if (p < end && *p == ',')
      p++;
  }
}

/* A string field's text (as qs_field_str), from its span (found 0: absent). */
static char *qs_span_str(int found, const char *v, size_t n) {
  if (!found || n < 2 || v[0] != '"')
    return strdup("");
  if (!memchr(v, '\\', n)) {
    char *s = malloc(n - 1);
    if (s) {
      memcpy(s, v + 1, n - 2);
      s[n - 2] = '\0';
    }
    return s;
  }
  json_t *j = json_loadb(v, n, JSON_DECODE_ANY, NULL);
  char *s = strdup(json_is_string(j) ? json_string_value(j) : "");
  json_decref(j);
  return s;
}

/* A span is the literal (found 0: absent, never). */
static int qs_span_is(int found, const char *v, size_t n, const char *literal) {
  return found && n == strlen(literal) && memcmp(v, literal, n) == 0;
}

/* A string field, decoded; malloc'd ("" when absent or not a string); NULL when out of memory. */
static char *qs_field_str(const char *text, size_t len, const char *name) {
  const char *v = NULL;
  size_t n = 0;
  int found = qs_field(text, len, name, &v, &n);
  return qs_span_str(found, v, n);
}

/* A string field compared with a plain ASCII word, without decoding. */
static int qs_field_str_is(const char *text, size_t len, const char *name, const char *word) {
  const char *v;
  size_t n, wlen = strlen(word);
  return qs_field(text, len, name, &v, &n) && n == wlen + 2 && v[0] == '"' && memcmp(v + 1, word, wlen) == 0;
}

/* ---- queues, users, the member index ---- */

static void qs_members_free(qs_member_t *members, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(members[i].extn);
  free(members);
}

static void qs_queue_free(void *p) {
  qs_queue_t *q = p;
  if (!q)
    return;
  free(q->guid);
  free(q->extn);
  free(q->name);
  qs_members_free(q->members, q->n_members);
  strmap_clear(&q->calls, free);
  free(q->buckets);
  jbuf_free(&q->buckets_text);
  jbuf_free(&q->last);
  json_decref(q->restored);
  free(q);
}

static void qs_user_free(void *p) {
  qs_user_t *u = p;
  if (!u)
    return;
  free(u->guid);
  free(u->extn);
  free(u->name);
  free(u->row);
  free(u);
}

static void qs_qlist_free(void *p) {
  qs_qlist_t *l = p;
  if (l)
    free(l->q);
  free(l);
}

static void qs_set(char **field, char *value) {
  if (!value)
    return; /* out of memory: keep the old value */
  free(*field);
  *field = value;
}

/* q's figures may have changed: qstats_flush looks at it. */
static void qs_mark(qstats_t *qs, qs_queue_t *q) {
  q->dirty = 1;
  if (q->listed || qs->dirty_all)
    return;
  if (qs->n_dirty == qs->cap_dirty) {
    size_t cap = qs->cap_dirty ? qs->cap_dirty * 2 : 16;
    qs_queue_t **grown = realloc(qs->dirty_list, cap * sizeof(*grown));
    if (!grown) {
      qs->dirty_all = 1; /* the next flush visits every queue */
      return;
    }
    qs->dirty_list = grown;
    qs->cap_dirty = cap;
  }
  qs->dirty_list[qs->n_dirty++] = q;
  q->listed = 1;
}

/* Mark dirty every queue listing `extn` as a member. */
static void qs_dirty_extn(qstats_t *qs, const char *extn) {
  qs_qlist_t *l = extn && *extn ? strmap_get(&qs->member_of, extn) : NULL;
  for (size_t i = 0; l && i < l->n; i++)
    qs_mark(qs, l->q[i]);
}

static void qs_index_members(qstats_t *qs, qs_queue_t *q, int add) {
  for (size_t i = 0; i < q->n_members; i++) {
    const char *extn = q->members[i].extn;
    qs_qlist_t *l = strmap_get(&qs->member_of, extn);
    if (!add) {
      for (size_t j = 0; l && j < l->n; j++)
        if (l->q[j] == q) {
          l->q[j] = l->q[--l->n];
          break;
        }
      if (l && l->n == 0) {
        strmap_del(&qs->member_of, extn);
        qs_qlist_free(l);
      }
      continue;
    }
    if (!l) {
      l = calloc(1, sizeof(*l));
      if (!l || strmap_put(&qs->member_of, extn, l) != 0) {
        free(l);
        continue;
      }
    }
    size_t j;
    for (j = 0; j < l->n && l->q[j] != q; j++)
      ;
    if (j < l->n)
      continue; /* listed twice */
    if (l->n == l->cap) {
      size_t cap = l->cap ? l->cap * 2 : 4;
      qs_queue_t **grown = realloc(l->q, cap * sizeof(*grown));
      if (!grown)
        continue;
      l->q = grown;
      l->cap = cap;
    }
    l->q[l->n++] = q;
  }
}

/* Replace the queue's members, keeping each extension's last state and since. */
static void qs_queue_set_members(qstats_t *qs, qs_queue_t *q, qs_member_t *members, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < q->n_members; j++)
      if (strcmp(members[i].extn, q->members[j].extn) == 0) {
        members[i].state = q->members[j].state;
        members[i].since_ms = q->members[j].since_ms;
        break;
      }
  qs_index_members(qs, q, 0);
  qs_members_free(q->members, q->n_members);
  q->members = members;
  q->n_members = n;
  qs_index_members(qs, q, 1);
}

static qs_queue_t *qs_queue_get(qstats_t *qs, const char *guid, const char *extn) {
  qs_queue_t *q = strmap_get(&qs->queues, guid);
  if (q)
    return q;
  q = calloc(1, sizeof(*q));
  if (!q || !(q->guid = strdup(guid)) || !(q->extn = strdup(extn ? extn : "")) || !(q->name = strdup("")) ||
      strmap_put(&qs->queues, guid, q) != 0) {
    qs_queue_free(q);
    return NULL;
  }
  return q;
}

static qs_user_t *qs_user_get(qstats_t *qs, const char *guid) {
  qs_user_t *u = strmap_get(&qs->users, guid);
  if (u)
    return u;
  u = calloc(1, sizeof(*u));
  if (!u || !(u->guid = strdup(guid)) || !(u->extn = strdup("")) || !(u->name = strdup("")) ||
      strmap_put(&qs->users, guid, u) != 0) {
    qs_user_free(u);
    return NULL;
  }
  return u;
}

/* ---- counting ---- */

static void qs_counts_add(qs_counts_t *to, const qs_counts_t *c, long sign) {
#define QS_X_ADD(f) to->f += sign * c->f;
  QS_FIGURES(QS_X_ADD)
#undef QS_X_ADD
}

/* Add `c` to the window's second `sec` (the latest second or a later one). */
static void qs_window_add(qs_queue_t *q, int64_t sec, const qs_counts_t *c) {
  if (!q->n_buckets || q->buckets[q->n_buckets - 1].sec != sec) {
    if (q->n_buckets == q->cap_buckets) {
      size_t cap = q->cap_buckets ? q->cap_buckets * 2 : 16;
      qs_bucket_t *grown = realloc(q->buckets, cap * sizeof(*grown));
      if (!grown)
        return;
      q->buckets = grown;
      q->cap_buckets = cap;
    }
    q->buckets[q->n_buckets++] = (qs_bucket_t){sec, {0}};
  }
  qs_counts_add(&q->buckets[q->n_buckets - 1].c, c, 1);
  q->buckets_stale = 1;
  qs_counts_add(&q->window, c, 1);
  q->dirty = 1;
}

/* Count `c` at time t_ms: in the window's second and in today's figures. */
static void qs_count(qstats_t *qs, qs_queue_t *q, int64_t t_ms, const qs_counts_t *c) {
  qs_window_add(q, qs_floor_div(t_ms, 1000), c);
  if (t_ms >= qs->day_start_ms)
    qs_counts_add(&q->today, c, 1);
  qs_mark(qs, q);
}

/* Drop the window's seconds that are over: a second s counts while floor(now) - s < window. */
static void qs_expire(qstats_t *qs, qs_queue_t *q, int64_t now_ms) {
  int64_t oldest = qs_floor_div(now_ms, 1000) - qs->window_seconds + 1;
  size_t k = 0;
  while (k < q->n_buckets && q->buckets[k].sec < oldest) {
    qs_counts_add(&q->window, &q->buckets[k].c, -1);
    k++;
  }
  if (k) {
    memmove(q->buckets, q->buckets + k, (q->n_buckets - k) * sizeof(*q->buckets));
    q->n_buckets -= k;
    q->buckets_stale = 1;
    q->dirty = 1;
  }
}

/* At (or after) midnight: today starts again for every queue. */
static void qs_day(qstats_t *qs, int64_t now_ms) {
  if (now_ms >= qs->day_start_ms && now_ms < qs->day_next_ms)
    return;
  qs_midnights(qs->timezone, now_ms, &qs->day_start_ms, &qs->day_next_ms);
  for (strmap_iter_t node = strmap_iter(&qs->queues); strmap_iter_next(&node);) {
    qs_queue_t *q = node.value;
    memset(&q->today, 0, sizeof(q->today));
    q->dirty = 1;
  }
  qs->dirty_all = 1;
}

/* ---- changes ---- */

static void qs_on_queue(qstats_t *qs, const snap_change_t *ch) {
  qs_queue_t *q = qs_queue_get(qs, ch->line.guid, ch->line.extn);
  if (!q)
    return;
  qs_mark(qs, q);
  if (ch->op == 'd') {
    q->gone = 1;
    return;
  }
  q->gone = 0;
  const char *t = ch->after_text;
  size_t n = ch->after_len;
  qs_set(&q->extn, qs_field_str(t, n, "extn"));
  qs_set(&q->name, qs_field_str(t, n, "name"));
  /* "queuemembers":{"member":[{"extn":"2001","disabled":false},...]} or null */
  const char *v;
  size_t vlen;
  json_t *qm = qs_field(t, n, "queuemembers", &v, &vlen) ? json_loadb(v, vlen, JSON_DECODE_ANY, NULL) : NULL;
  json_t *list = json_object_get(qm, "member");
  size_t count = json_array_size(list), k = 0;
  qs_member_t *members = calloc(count ? count : 1, sizeof(*members));
  for (size_t i = 0; members && i < count; i++) {
    json_t *m = json_array_get(list, i);
    const char *extn = json_string_value(json_object_get(m, "extn"));
    if (!extn || !*extn || !(members[k].extn = strdup(extn)))
      continue;
    members[k].disabled = json_is_true(json_object_get(m, "disabled"));
    k++;
  }
  json_decref(qm);
  if (members)
    qs_queue_set_members(qs, q, members, k);
}

/* The start of the user's agent_list rows, as qs_write_figures writes them (NULL when out of memory). */
static void qs_user_row(qs_user_t *u) {
  jbuf_t b = JBUF_INIT;
  jbuf_char(&b, '{');
  jbuf_key(&b, "guid");
  jbuf_jstr(&b, u->guid);
  jbuf_key(&b, "extn");
  jbuf_jstr(&b, u->extn);
  jbuf_key(&b, "name");
  jbuf_jstr(&b, u->name);
  jbuf_key(&b, "state");
  free(u->row);
  u->row = b.failed ? NULL : jbuf_dup(&b);
  u->row_len = u->row ? b.len : 0;
  jbuf_free(&b);
}

/* The fields of a user's state that its members' states are made of (qs_on_user reads them). */
static const char *const qs_user_fields[] = {"extn", "name", "dnd", "absence", "loggedoff", "loggedinextn"};

/*
 * An update of a user changed none of the fields qs_on_user reads (its
 * `changed` names say so; snap always names them: one without is read whole).
 */
static int qs_user_unchanged(const snap_change_t *ch) {
  if (ch->op != 'u' || !ch->n_names)
    return 0;
  for (size_t i = 0; i < ch->n_names; i++)
    for (size_t k = 0; k < sizeof(qs_user_fields) / sizeof(qs_user_fields[0]); k++)
      if (ch->names[i].len == strlen(qs_user_fields[k]) && memcmp(ch->names[i].name, qs_user_fields[k], ch->names[i].len) == 0)
        return 0;
  return 1;
}

static void qs_on_user(qstats_t *qs, const snap_change_t *ch) {
  qs_user_t *u = qs_user_get(qs, ch->line.guid);
  if (!u)
    return;
  /* what it would read is what it has: nothing to do (but for a user sharing its extension with another) */
  if (u->known && qs_user_unchanged(ch) && (!*u->extn || strmap_get(&qs->by_extn, u->extn) == u))
    return;
  if (u->known && strmap_get(&qs->by_extn, u->extn) == u)
    strmap_del(&qs->by_extn, u->extn);
  qs_dirty_extn(qs, u->extn);
  if (ch->op == 'd') {
    u->known = 0;
    if (!u->calls) {
      strmap_del(&qs->users, u->guid);
      qs_user_free(u);
    }
    return;
  }
  /* qs_user_fields, in one pass over the state: extn, name, dnd, absence, loggedoff, loggedinextn */
  enum { F_EXTN, F_NAME, F_DND, F_ABSENCE, F_LOGGEDOFF, F_LOGGEDINEXTN, F__N };
  int found[F__N];
  const char *v[F__N];
  size_t vlen[F__N];
  qs_fields(ch->after_text, ch->after_len, qs_user_fields, F__N, found, v, vlen);
  qs_set(&u->extn, qs_span_str(found[F_EXTN], v[F_EXTN], vlen[F_EXTN]));
  qs_set(&u->name, qs_span_str(found[F_NAME], v[F_NAME], vlen[F_NAME]));
  u->dnd = qs_span_is(found[F_DND], v[F_DND], vlen[F_DND], "true");
  u->absent = found[F_ABSENCE] && !qs_span_is(1, v[F_ABSENCE], vlen[F_ABSENCE], "null");
  u->logged_in = !qs_span_is(found[F_LOGGEDOFF], v[F_LOGGEDOFF], vlen[F_LOGGEDOFF], "true") &&
                 !qs_span_is(found[F_LOGGEDINEXTN], v[F_LOGGEDINEXTN], vlen[F_LOGGEDINEXTN], "\"\"");
  u->known = 1;
  qs_user_row(u);
  if (*u->extn)
    strmap_put(&qs->by_extn, u->extn, u);
  qs_dirty_extn(qs, u->extn);
}

static void qs_on_user_call(qstats_t *qs, const snap_change_t *ch) {
  qs_ucall_t *c = strmap_get(&qs->ucalls, ch->entity_id);
  if (ch->op == 'd') {
    if (!c)
      return;
    qs_user_t *u = c->user;
    u->calls--;
    u->ringing -= c->ringing;
    strmap_del(&qs->ucalls, ch->entity_id);
    free(c);
    qs_dirty_extn(qs, u->extn);
    if (!u->calls && !u->known) {
      strmap_del(&qs->users, u->guid);
      qs_user_free(u);
    }
    return;
  }
  int ringing = qs_field_str_is(ch->after_text, ch->after_len, "state", "RINGING");
  if (!c) {
    qs_user_t *u = qs_user_get(qs, ch->line.guid);
    if (!u || !(c = calloc(1, sizeof(*c))))
      return;
    if (strmap_put(&qs->ucalls, ch->entity_id, c) != 0) {
      free(c);
      return;
    }
    c->user = u;
    u->calls++;
  } else if (c->ringing == ringing) {
    return;
  }
  c->user->ringing += ringing - c->ringing;
  c->ringing = ringing;
  qs_dirty_extn(qs, c->user->extn);
}

static qs_call_state_t qs_classify(const snap_change_t *ch) {
  const char *v;
  size_t n;
  if (!qs_field(ch->after_text, ch->after_len, "state", &v, &n) || n < 2)
    return QS_WAITING;
  for (size_t i = 0; i < sizeof(qs_outcomes) / sizeof(qs_outcomes[0]); i++)
    if (n == strlen(qs_outcomes[i].state) + 2 && memcmp(v + 1, qs_outcomes[i].state, n - 2) == 0)
      return qs_outcomes[i].outcome;
  return QS_WAITING;
}

static void qs_on_queue_call(qstats_t *qs, const snap_change_t *ch, int64_t now_ms) {
  qs_queue_t *q = qs_queue_get(qs, ch->line.guid, ch->line.extn);
  if (!q)
    return;
  qs_qcall_t *c = strmap_get(&q->calls, ch->entity_id);
  if (ch->op == 'd') {
    if (!c)
      return;
    json_t *synthetic = json_object_get(ch->lost, "synthetic");
    if (c->state == QS_WAITING && !json_is_true(synthetic))
      qs_count(qs, q, now_ms, &(qs_counts_t){.abandoned = 1});
    strmap_del(&q->calls, ch->entity_id);
    free(c);
    qs_mark(qs, q);
    return;
  }
  if (!c) {
    if (!(c = calloc(1, sizeof(*c))) || strmap_put(&q->calls, ch->entity_id, c) != 0) {
      free(c);
      return;
    }
    c->offered_ms = now_ms;
    qs_count(qs, q, now_ms, &(qs_counts_t){.offered = 1});
  }
  qs_mark(qs, q);
  c->unconfirmed = 0;
  if (c->state != QS_WAITING)
    return; /* only the first answer counts */
  c->state = qs_classify(ch);
  if (c->state == QS_WAITING)
    return;
  c->done_ms = now_ms;
  int in_sl = now_ms - c->offered_ms <= (int64_t)qs->sl_seconds * 1000;
  if (c->state == QS_ANSWERED)
    qs_count(qs, q, now_ms, &(qs_counts_t){.answered = 1, .answered_in_sl = in_sl});
  else
    qs_count(qs, q, now_ms, &(qs_counts_t){.voicemail = 1});
}

void qstats_change(qstats_t *qs, const snap_change_t *ch, int64_t now_ms) {
  if (!ch->line.guid || !*ch->line.guid)
    return; /* the park server: no queue */
  qs_day(qs, now_ms);
  switch (ch->kind) {
  case SNAP_QUEUE:
    qs_on_queue(qs, ch);
    break;
  case SNAP_USER:
    qs_on_user(qs, ch);
    break;
  case SNAP_CALL:
    if (ch->line.kind == SNAP_LINE_QUEUE)
      qs_on_queue_call(qs, ch, now_ms);
    else if (ch->line.kind == SNAP_LINE_USER)
      qs_on_user_call(qs, ch);
    break;
  default:
    break; /* lines: names come with the queues' and users' own states */
  }
}

/* ---- the record ---- */

static qs_agent_state_t qs_agent_state(const qstats_t *qs, const qs_member_t *m, const qs_user_t **user) {
  const qs_user_t *u = strmap_get(&qs->by_extn, m->extn);
  *user = u;
  if (!u || !u->logged_in)
    return QS_LOGGED_OUT;
  if (m->disabled)
    return QS_DISABLED;
  if (u->calls > u->ringing)
    return QS_BUSY;
  if (u->ringing)
    return QS_RINGING;
  if (u->dnd)
    return QS_DND;
  if (u->absent)
    return QS_ABSENT;
  return QS_AVAILABLE;
}

/* A share as a number with at most 4 decimals ("0.6667", "1", "0"), or null. */
static void qs_write_share(jbuf_t *b, long num, long den) {
  if (den <= 0) {
    jbuf_str(b, "null");
    return;
  }
  long scaled = (long)((num * 10000 + den / 2) / den); /* rounded half up */
  if (scaled < 0) { /* never (counts are not negative): as it always was written */
    char text[48];
    if (scaled % 10000 == 0) {
      snprintf(text, sizeof(text), "%ld", scaled / 10000);
    } else {
      snprintf(text, sizeof(text), "%ld.%04ld", scaled / 10000, scaled % 10000);
      size_t n = strlen(text);
      while (text[n - 1] == '0')
        text[--n] = '\0';
    }
    jbuf_str(b, text);
    return;
  }
  jbuf_int(b, scaled / 10000);
  long frac = scaled % 10000;
  if (frac > 0) { /* ".6667", trailing zeros dropped */
    char text[6] = {'.', (char)('0' + frac / 1000), (char)('0' + frac / 100 % 10), (char)('0' + frac / 10 % 10),
                    (char)('0' + frac % 10), '\0'};
    size_t n = 5;
    while (text[n - 1] == '0')
      n--;
    jbuf_put(b, text, n);
  }
}

static void qs_write_counts(jbuf_t *b, const qs_counts_t *c) {
#define QS_X_WRITE(f)  \
  jbuf_key(b, #f);     \
  jbuf_int(b, c->f);
  QS_FIGURES(QS_X_WRITE)
#undef QS_X_WRITE
  jbuf_key(b, "service_level");
  qs_write_share(b, c->answered_in_sl, c->answered + c->abandoned + c->voicemail);
}

typedef struct qs_call_ref {
  const char *id;
  const qs_qcall_t *call;
} qs_call_ref_t;

static int qs_call_ref_cmp(const void *a, const void *b) {
  const qs_call_ref_t *x = a, *y = b;
  if (x->call->offered_ms != y->call->offered_ms)
    return x->call->offered_ms < y->call->offered_ms ? -1 : 1;
  return strcmp(x->id, y->id);
}

/*
 * The queue's figures as a JSON object (everything but pbx, ts_ms and seq)
 * into qs->cmp; the members' states and since are brought up to date.
 */
static void qs_write_figures(qstats_t *qs, qs_queue_t *q, int64_t now_ms) {
  jbuf_t *b = &qs->cmp;
  jbuf_reset(b);
  jbuf_char(b, '{');
  jbuf_key(b, "queue");
  jbuf_char(b, '{');
  jbuf_key(b, "guid");
  jbuf_jstr(b, q->guid);
  jbuf_key(b, "extn");
  jbuf_jstr(b, q->extn);
  jbuf_key(b, "name");
  jbuf_jstr(b, q->name);
  jbuf_char(b, '}');

  /* calls on the queue, oldest first */
  size_t n_calls = q->calls.count, k = 0, waiting = 0;
  qs_call_ref_t *refs = calloc(n_calls ? n_calls : 1, sizeof(*refs));
  if (!refs) {
    b->failed = 1;
    return;
  }
  for (strmap_iter_t node = strmap_iter(&q->calls); strmap_iter_next(&node);) {
    refs[k++] = (qs_call_ref_t){node.key, node.value};
    waiting += ((const qs_qcall_t *)node.value)->state == QS_WAITING;
  }
  qsort(refs, n_calls, sizeof(*refs), qs_call_ref_cmp);
  jbuf_key(b, "waiting");
  jbuf_uint(b, waiting);
  jbuf_key(b, "oldest_waiting_since_ms");
  for (k = 0; k < n_calls && refs[k].call->state != QS_WAITING; k++)
    ;
  if (k < n_calls)
    jbuf_int(b, refs[k].call->offered_ms);
  else
    jbuf_str(b, "null");

  /* members */
  long counts[QS__AGENT_STATES] = {0};
  for (size_t i = 0; i < q->n_members; i++) {
    qs_member_t *m = &q->members[i];
    qs_agent_state_t st = qs_agent_state(qs, m, &m->user);
    if (st != m->state || !m->since_ms) {
      m->state = st;
      m->since_ms = now_ms;
    }
    counts[st]++;
  }
  jbuf_key(b, "agents");
  jbuf_char(b, '{');
  jbuf_key(b, "members");
  jbuf_uint(b, q->n_members);
  jbuf_key(b, "logged_in");
  jbuf_int(b, (long long)q->n_members - counts[QS_LOGGED_OUT]);
  static const struct {
    const char *name;
    qs_agent_state_t state;
  } shown[] = {{"available", QS_AVAILABLE}, {"ringing", QS_RINGING}, {"busy", QS_BUSY},
               {"dnd", QS_DND},             {"absent", QS_ABSENT},   {"disabled", QS_DISABLED}};
  for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
    jbuf_key(b, shown[i].name);
    jbuf_int(b, counts[shown[i].state]);
  }
  jbuf_char(b, '}');
  jbuf_key(b, "agent_list");
  jbuf_char(b, '[');
  for (size_t i = 0; i < q->n_members; i++) {
    const qs_user_t *u = q->members[i].user; /* by_extn's user of the extension: its extn is this one */
    if (i)
      jbuf_char(b, ',');
    if (u && u->row) {
      jbuf_put(b, u->row, u->row_len);
    } else {
      jbuf_char(b, '{');
      jbuf_key(b, "guid");
      jbuf_jstr(b, u ? u->guid : "");
      jbuf_key(b, "extn");
      jbuf_jstr(b, q->members[i].extn);
      jbuf_key(b, "name");
      jbuf_jstr(b, u ? u->name : "");
      jbuf_key(b, "state");
    }
    jbuf_put(b, qs_agent_state_rows[q->members[i].state].text, qs_agent_state_rows[q->members[i].state].len);
    jbuf_int(b, q->members[i].since_ms);
    jbuf_char(b, '}');
  }
  jbuf_char(b, ']');

  jbuf_key(b, "service_level_seconds");
  jbuf_int(b, qs->sl_seconds);
  jbuf_key(b, "window");
  jbuf_char(b, '{');
  jbuf_key(b, "seconds");
  jbuf_int(b, qs->window_seconds);
  qs_write_counts(b, &q->window);
  jbuf_char(b, '}');
  jbuf_key(b, "today");
  jbuf_char(b, '{');
  jbuf_key(b, "since_ms");
  jbuf_int(b, qs->day_start_ms);
  jbuf_key(b, "timezone");
  jbuf_jstr(b, qs->timezone);
  qs_write_counts(b, &q->today);
  jbuf_char(b, '}');

  /* what a restarted bridge needs: the calls on the queue, the window's seconds */
  jbuf_key(b, "restore");
  jbuf_char(b, '{');
  jbuf_key(b, "v");
  jbuf_int(b, 1);
  jbuf_key(b, "calls");
  jbuf_char(b, '[');
  for (k = 0; k < n_calls; k++) {
    const qs_qcall_t *c = refs[k].call;
    if (k)
      jbuf_char(b, ',');
    jbuf_char(b, '{');
    jbuf_key(b, "id");
    jbuf_jstr(b, refs[k].id);
    jbuf_key(b, "state");
    jbuf_jstr(b, qs_call_state_names[c->state]);
    jbuf_key(b, "offered_ms");
    jbuf_int(b, c->offered_ms);
    jbuf_key(b, "done_ms");
    if (c->state == QS_WAITING)
      jbuf_str(b, "null");
    else
      jbuf_int(b, c->done_ms);
    jbuf_char(b, '}');
  }
  jbuf_char(b, ']');
  jbuf_key(b, "buckets");
  jbuf_char(b, '[');
  jbuf_t *bt = &q->buckets_text;
  if (q->buckets_stale || bt->failed) { /* written again only when the window changed */
    jbuf_reset(bt);
    for (size_t i = 0; i < q->n_buckets; i++) {
      const qs_bucket_t *bk = &q->buckets[i];
      if (i)
        jbuf_char(bt, ',');
      jbuf_char(bt, '[');
      jbuf_int(bt, bk->sec);
#define QS_X_BUCKET(f) \
  jbuf_char(bt, ',');  \
  jbuf_int(bt, bk->c.f);
      QS_FIGURES(QS_X_BUCKET)
#undef QS_X_BUCKET
      jbuf_char(bt, ']');
    }
    q->buckets_stale = 0;
  }
  if (bt->failed)
    b->failed = 1;
  else
    jbuf_put(b, bt->data ? bt->data : "", bt->len);
  jbuf_str(b, "]}}");
  free(refs);
}

/* The figures differ from the last record's. */
static int qs_changed(qs_queue_t *q, const jbuf_t *cmp) {
  if (q->restored) { /* the restored record: compared as JSON values, once */
    json_t *now = json_loadb(cmp->data, cmp->len, 0, NULL);
    int same = now && json_equal(now, q->restored);
    json_decref(now);
    json_decref(q->restored);
    q->restored = NULL;
    return !same;
  }
  return !q->last.data || q->last.len != cmp->len || memcmp(q->last.data, cmp->data, cmp->len) != 0;
}

/* The record of dirty queue q (not gone), when its figures changed: 1 written, else 0. */
static int qs_flush_queue(qstats_t *qs, qs_queue_t *q, int64_t now_ms) {
  q->dirty = 0;
  qs_write_figures(qs, q, now_ms);
  if (qs->cmp.failed) {
    q->dirty = qs->dirty_all = 1; /* out of memory: the next flush tries again */
    return 0;
  }
  if (!qs_changed(q, &qs->cmp))
    return 0;
  jbuf_t last = q->last; /* the figures become the last record's; its old buffer the next scratch */
  q->last = qs->cmp;
  qs->cmp = last;
  q->seq++;
  jbuf_t *r = &qs->rec;
  jbuf_reset(r);
  jbuf_char(r, '{');
  jbuf_key(r, "pbx");
  jbuf_jstr(r, qs->pbx_id);
  jbuf_key(r, "ts_ms");
  jbuf_int(r, now_ms);
  jbuf_key(r, "seq");
  jbuf_uint(r, q->seq);
  jbuf_char(r, ',');
  jbuf_put(r, q->last.data + 1, q->last.len - 1);
  if (r->failed)
    return 0;
  qstats_record_t rec = {q->guid, q->seq, now_ms, r->data, r->len};
  qs->cb(qs->opaque, &rec);
  return 1;
}

/* A gone queue's tombstone; the queue is freed. */
static void qs_flush_gone(qstats_t *qs, qs_queue_t *gone, int64_t now_ms) {
  qstats_record_t rec = {gone->guid, gone->seq, now_ms, NULL, 0};
  qs->cb(qs->opaque, &rec);
  qs_index_members(qs, gone, 0);
  strmap_del(&qs->queues, gone->guid);
  qs_queue_free(gone);
}

typedef struct qs_ranked {
  uint64_t rank;
  qs_queue_t *q;
} qs_ranked_t;

static int qs_ranked_cmp(const void *a, const void *b) {
  const qs_ranked_t *x = a, *y = b;
  return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/*
 * Within the second of the last visit of every queue: only the queues
 * marked dirty since, in the order a visit of every queue meets them (the
 * records come out as they would from the whole visit).  -1: a whole visit
 * is needed (out of memory).
 */
static long qs_flush_listed(qstats_t *qs, int64_t now_ms) {
  size_t n = qs->n_dirty, written = 0;
  qs_ranked_t small[16], *ranked = n <= 16 ? small : malloc(n * sizeof(*ranked));
  if (!ranked)
    return -1;
  for (size_t i = 0; i < n; i++) {
    qs_queue_t *q = qs->dirty_list[i];
    q->listed = 0;
    qs_expire(qs, q, now_ms); /* nothing to drop within the second, unless a change came from an older one */
    ranked[i] = (qs_ranked_t){strmap_rank(&qs->queues, q->guid), q};
  }
  qs->n_dirty = 0;
  qsort(ranked, n, sizeof(*ranked), qs_ranked_cmp);
  for (size_t i = 0; i < n; i++) /* the map's order, gone ones after the rest (as a whole visit) */
    if (ranked[i].q->dirty && !ranked[i].q->gone)
      written += (size_t)qs_flush_queue(qs, ranked[i].q, now_ms);
  for (size_t i = 0; i < n; i++) {
    if (ranked[i].q->dirty && ranked[i].q->gone) {
      qs_flush_gone(qs, ranked[i].q, now_ms);
      written++;
    }
  }
  if (ranked != small)
    free(ranked);
  return (long)written;
}

size_t qstats_flush(qstats_t *qs, int64_t now_ms) {
  size_t written = 0;
  int64_t sec = qs_floor_div(now_ms, 1000);
  if (!qs->dirty_all && sec == qs->flushed_sec && now_ms >= qs->day_start_ms && now_ms < qs->day_next_ms) {
    if (!qs->n_dirty)
      return 0; /* nothing marked dirty; nothing expires within the second */
    long n = qs_flush_listed(qs, now_ms);
    if (n >= 0)
      return (size_t)n;
  }
  for (size_t i = 0; i < qs->n_dirty; i++) /* the visit below meets every queue */
    qs->dirty_list[i]->listed = 0;
  qs->n_dirty = 0;
  qs->dirty_all = 0;
  qs->flushed_sec = sec;
  qs_day(qs, now_ms);
  qs->dirty_all = 0; /* qs_day's: this visit is it */
  qs_queue_t *gone = NULL;
  for (strmap_iter_t node = strmap_iter(&qs->queues); strmap_iter_next(&node);) {
    qs_queue_t *q = node.value;
    qs_expire(qs, q, now_ms);
    if (!q->dirty)
      continue;
    if (q->gone) {
      if (!gone)
        gone = q; /* one at a time: the map cannot change while iterated */
      continue;
    }
    written += (size_t)qs_flush_queue(qs, q, now_ms);
  }
  while (gone) {
    qs_flush_gone(qs, gone, now_ms);
    written++;
    gone = NULL;
    for (strmap_iter_t node = strmap_iter(&qs->queues); strmap_iter_next(&node);) {
      qs_queue_t *q = node.value;
      if (q->gone && q->dirty && !gone)
        gone = q;
    }
  }
  return written;
}

/* ---- restore ---- */

int qstats_restore(qstats_t *qs, const char *text, size_t len, int64_t now_ms, char *errstr,
                   size_t errstr_size) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, 0, &jerr), *queue, *today, *restore, *agents, *calls, *buckets;
  const char *pbx, *guid, *extn = "", *name = "";
  json_int_t seq, since = 0;
  int rc = -1, v = 0;
  qs_queue_t *q = NULL;
  if (!root) {
    snprintf(errstr, errstr_size, "queue-stats record: %s", jerr.text);
    goto done;
  }
  if (json_unpack_ex(root, &jerr, 0, "{s:s,s:I,s:o,s:o,s:o,s:o}", "pbx", &pbx, "seq", &seq, "queue", &queue,
                     "today", &today, "agent_list", &agents, "restore", &restore) != 0 ||
      json_unpack_ex(queue, &jerr, 0, "{s:s,s?s,s?s}", "guid", &guid, "extn", &extn, "name", &name) != 0 ||
      json_unpack_ex(today, &jerr, 0, "{s:I}", "since_ms", &since) != 0 ||
      json_unpack_ex(restore, &jerr, 0, "{s:i,s:o,s:o}", "v", &v, "calls", &calls, "buckets", &buckets) != 0) {
    snprintf(errstr, errstr_size, "queue-stats record: %s", jerr.text);
    goto done;
  }
  if (strcmp(pbx, qs->pbx_id) != 0) {
    snprintf(errstr, errstr_size, "queue-stats record of queue %s: pbx \"%s\", not \"%s\"", guid, pbx,
             qs->pbx_id);
    goto done;
  }
  if (v != 1 || !json_is_array(calls) || !json_is_array(buckets) || !json_is_array(agents) || seq < 1) {
    snprintf(errstr, errstr_size, "queue-stats record of queue %s: unknown restore format (v %d)", guid, v);
    goto done;
  }
  if (strmap_get(&qs->queues, guid)) {
    snprintf(errstr, errstr_size, "queue-stats record of queue %s: restored twice", guid);
    goto done;
  }
  qs_day(qs, now_ms);
  if (!(q = qs_queue_get(qs, guid, extn))) {
    snprintf(errstr, errstr_size, "queue-stats record of queue %s: out of memory", guid);
    goto done;
  }
  qs_set(&q->name, strdup(name));
  q->seq = (uint64_t)seq;
  if (since == qs->day_start_ms) { /* same day: today goes on */
#define QS_X_TODAY(f) q->today.f = (long)json_integer_value(json_object_get(today, #f));
    QS_FIGURES(QS_X_TODAY)
#undef QS_X_TODAY
  }
  size_t i;
  json_t *item;
  int64_t oldest = qs_floor_div(now_ms, 1000) - qs->window_seconds + 1;
  json_array_foreach(buckets, i, item) {
    json_int_t sec = json_integer_value(json_array_get(item, 0));
    if (json_array_size(item) != 6 || sec < oldest || (q->n_buckets && sec <= q->buckets[q->n_buckets - 1].sec))
      continue;
    qs_counts_t c = {0};
    size_t f = 1;
#define QS_X_BUCKET(fld) c.fld = (long)json_integer_value(json_array_get(item, f++));
    QS_FIGURES(QS_X_BUCKET)
#undef QS_X_BUCKET
    qs_window_add(q, (int64_t)sec, &c);
  }
  json_array_foreach(calls, i, item) {
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *state = json_string_value(json_object_get(item, "state"));
    qs_qcall_t *c;
    if (!id || !state || strmap_get(&q->calls, id) || !(c = calloc(1, sizeof(*c))))
      continue;
    c->offered_ms = json_integer_value(json_object_get(item, "offered_ms"));
    c->done_ms = json_integer_value(json_object_get(item, "done_ms"));
    c->unconfirmed = 1;
    for (int s = 0; s < 3; s++)
      if (strcmp(state, qs_call_state_names[s]) == 0)
        c->state = (qs_call_state_t)s;
    if (strmap_put(&q->calls, id, c) != 0)
      free(c);
  }
  size_t n = json_array_size(agents), k = 0;
  qs_member_t *members = calloc(n ? n : 1, sizeof(*members));
  json_array_foreach(agents, i, item) {
    const char *m_extn = json_string_value(json_object_get(item, "extn"));
    const char *state = json_string_value(json_object_get(item, "state"));
    if (!members || !m_extn || !state || !(members[k].extn = strdup(m_extn)))
      continue;
    for (int s = 0; s < QS__AGENT_STATES; s++)
      if (strcmp(state, qs_agent_state_names[s]) == 0)
        members[k].state = (qs_agent_state_t)s;
    members[k].disabled = members[k].state == QS_DISABLED;
    members[k].since_ms = json_integer_value(json_object_get(item, "since_ms"));
    k++;
  }
  if (members)
    qs_queue_set_members(qs, q, members, k);
  json_object_del(root, "pbx");
  json_object_del(root, "ts_ms");
  json_object_del(root, "seq");
  q->restored = json_incref(root);
  qs_mark(qs, q);
  rc = 0;
done:
  json_decref(root);
  return rc;
}

/* The first restored call of q that no change confirmed, or NULL. */
static const char *qs_unconfirmed(qs_queue_t *q) {
  for (strmap_iter_t node = strmap_iter(&q->calls); strmap_iter_next(&node);)
    if (((qs_qcall_t *)node.value)->unconfirmed)
      return node.key;
  return NULL;
}

size_t qstats_prune(qstats_t *qs) {
  size_t n = 0;
  for (strmap_iter_t node = strmap_iter(&qs->queues); strmap_iter_next(&node);) {
    qs_queue_t *q = node.value;
    const char *id;
    while ((id = qs_unconfirmed(q)) != NULL) { /* the map cannot change while iterated: one at a time */
      free(strmap_get(&q->calls, id));
      strmap_del(&q->calls, id);
      qs_mark(qs, q);
      n++;
    }
  }
  return n;
}

/* ---- life ---- */

qstats_t *qstats_new(const qstats_config_t *config, qstats_record_cb *cb, void *opaque, char *errstr,
                     size_t errstr_size) {
  if (config->service_level_seconds < 1 || config->window_seconds < 1) {
    snprintf(errstr, errstr_size, "queue statistics: service level and window must be at least 1 s");
    return NULL;
  }
  if (qstats_timezone_check(config->timezone, errstr, errstr_size) != 0)
    return NULL;
  qstats_t *qs = calloc(1, sizeof(*qs));
  if (!qs || !(qs->pbx_id = strdup(config->pbx_id ? config->pbx_id : "")) ||
      !(qs->timezone = strdup(config->timezone))) {
    qstats_destroy(qs);
    snprintf(errstr, errstr_size, "queue statistics: out of memory");
    return NULL;
  }
  qs->sl_seconds = config->service_level_seconds;
  qs->window_seconds = config->window_seconds;
  qs->cb = cb;
  qs->opaque = opaque;
  qs->day_start_ms = 1;
  qs->day_next_ms = 0; /* the first change or flush computes the day */
  return qs;
}

void qstats_destroy(qstats_t *qs) {
  if (!qs)
    return;
  strmap_clear(&qs->queues, qs_queue_free);
  strmap_clear(&qs->by_extn, NULL);
  strmap_clear(&qs->users, qs_user_free);
  strmap_clear(&qs->member_of, qs_qlist_free);
  strmap_clear(&qs->ucalls, free);
  jbuf_free(&qs->cmp);
  jbuf_free(&qs->rec);
  free(qs->dirty_list);
  free(qs->pbx_id);
  free(qs->timezone);
  free(qs);
}

size_t qstats_count(const qstats_t *qs) { return qs->queues.count; }
