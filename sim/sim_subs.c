/*
 * sim_subs: see sim_subs.h.
 */
#include "sim_subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libwebsockets.h>

#include "codec_tables.h"
#include "sim_admin.h"
#include "sim_log.h"

#define MAX_SUBS_PER_CONN 20000
#define PRESENCE_TIMEOUT_MIN 60
#define PRESENCE_TIMEOUT_MAX 86400
#define PS_UNKNOWN 8 /* presence phone state for a presentity that is not a user */

typedef enum sub_kind { K_LINES, K_USER, K_QUEUE, K_PRESENCE, K_PARK, K_REFRESH } sub_kind_t;
static const char *const kind_names[] = {"lines", "user", "queue", "presence", "parkserver",
                                         "refreshwrapper"};

typedef enum lines_op { OP_ADD = 1, OP_DEL, OP_CHG } lines_op_t;

typedef struct lines_pending {
  uint8_t guid[SIM_GUID_LEN];
  char extn[16];
  char name[64];
  int is_queue;
  lines_op_t op;
} lines_pending_t;

typedef struct track {
  int callid;
  int dirty;
  int lost;
  int thisend;
  int refid;
  int reason;     /* CallLost.reason */
  char desc[64];  /* CallLost.description */
  uint64_t sent;  /* hash of the CallInfo last sent (0: none): only changes go out */
} track_t;

typedef struct pres_entry {
  char presentity[128];
  int lref;
  int dirty;
  char last[160]; /* signature of what was last sent, to send only real changes */
} pres_entry_t;

#define SUB_ID_BUCKETS 4096

typedef struct sub {
  struct sub *next;
  struct sub *next_by_id; /* in the connection's id buckets */
  lws_dll2_t by_line;  /* in the bucket of its user or queue, or the park/presence list */
  lws_dll2_t due;      /* in the connection's due list: may have something to notify */
  sim_subs_conn_t *conn;
  int id;
  sub_kind_t kind;
  int flags, ccflags, timeout;
  uint8_t guid[SIM_GUID_LEN];
  /*
   * The record of a user or queue subscription.  A record lives until it is
   * removed from the model, and its removal ends the subscription first.
   */
  sim_user_t *user;
  sim_queue_t *queue;
  int next_notify;
  int awaiting;      /* notify_id not yet acknowledged, 0 = none */
  int first;         /* the first Notify (whole lines list, full presence) is due */
  int cfg_dirty;
  lines_pending_t *lines;
  size_t n_lines, cap_lines;
  pres_entry_t *pres;
  size_t n_pres, cap_pres;
  uint64_t *pres_ix;   /* by the lower-case presentity's hash: hash << 32 | entry index + 1 */
  size_t pres_ix_size; /* 0: to rebuild (entries changed) */
  size_t n_pres_long;  /* entries of 32+ characters: marked by any user's change */
  track_t *tracks;
  size_t n_tracks, cap_tracks;
  int refresh_cc;    /* a refresh is due: a callcontrol Notify with every call, even none */
  int activapp;
  sim_timer_t timer_expire;
} sub_t;

struct sim_subs_conn {
  lws_dll2_t list;
  sim_subs_t *subs;
  int conn_id;
  sim_subs_send_fn send;
  void *ctx;
  sub_t *head;
  sub_t *by_id[SUB_ID_BUCKETS];
  lws_dll2_owner_t due; /* subscriptions that may have a Notify to send */
  sub_t *only[K_REFRESH + 1]; /* the lines, park server and refresh wrapper subscriptions */
  size_t count;
  int refresh_due;   /* a NotifyRefreshWrapper closes the round */
};

/*
 * Sparse (a few thousand subscriptions at most): a change to a user rarely
 * walks past another line's subscriptions, each of which is a cache miss.
 */
#define LINE_BUCKETS 8192

struct sim_subs {
  lws_dll2_owner_t buckets[LINE_BUCKETS]; /* user and queue subscriptions by guid */
  lws_dll2_owner_t park_subs, presence_subs;
  sim_model_t *model;
  sim_calls_t *calls;
  int system;              /* which system of a pair these subscriptions are on */
  struct lws_context *lws;
  sim_timers_t *timers;
  lws_dll2_owner_t conns;
  lws_sorted_usec_list_t sul_flush;
  int flush_pending;
  int stopping;
  int round;
  int refresh;             /* refreshinstance: 1, one more for each refresh */
  unsigned long notifies, acks, requests;
};

/* ---- small helpers ---- */

static void *grow(void *arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap)
    return arr;
  size_t nc = *cap ? *cap * 2 : 8;
  void *p = realloc(arr, nc * elem);
  if (p)
    *cap = nc;
  return p;
}

/*
 * A string field of a Notify, pointing at the model's (or the subscription's)
 * own text: a Notify is packed as soon as it is built (sub_flush), before
 * anything it points to can change, so there is nothing to copy.
 */
static char *pb_str(const char *s) { return (char *)s; }

static void flush_cb(lws_sorted_usec_list_t *sul);

static void schedule_flush(sim_subs_t *s) {
  if (s->flush_pending || s->stopping)
    return;
  s->flush_pending = 1;
  lws_sul_schedule(s->lws, 0, &s->sul_flush, flush_cb, 1);
}

int sim_subs_respond(sim_subs_send_fn send, void *ctx, int requestid, int result,
                     const char *additional) {
  RequestResponse rr = REQUEST_RESPONSE__INIT;
  Message msg = MESSAGE__INIT;
  rr.requestid = requestid;
  rr.result = result;
  rr.additional = (char *)additional;
  msg.payload_case = MESSAGE__PAYLOAD_RESPONSE;
  msg.response = &rr;
  return send(ctx, &msg);
}

static void respond(sim_subs_conn_t *conn, int requestid, int result) {
  if (requestid)
    sim_subs_respond(conn->send, conn->ctx, requestid, result, NULL);
}

static sub_t **sub_id_slot(sim_subs_conn_t *conn, int id) {
  return &conn->by_id[(unsigned)id % SUB_ID_BUCKETS];
}

static sub_t *sub_find(sim_subs_conn_t *conn, int id) {
  for (sub_t *x = *sub_id_slot(conn, id); x; x = x->next_by_id)
    if (x->id == id)
      return x;
  return NULL;
}

/* x may have something to tell: look at it in the next flush round. */
static void sub_due(sub_t *x) {
  if (lws_dll2_is_detached(&x->due))
    lws_dll2_add_tail(&x->due, &x->conn->due);
}

static track_t *track_get(sub_t *x, int callid, int create) {
  for (size_t i = 0; i < x->n_tracks; i++)
    if (x->tracks[i].callid == callid)
      return &x->tracks[i];
  if (!create)
    return NULL;
  track_t *t = grow(x->tracks, &x->cap_tracks, x->n_tracks, sizeof *t);
  if (!t)
    return NULL;
  x->tracks = t;
  t = &x->tracks[x->n_tracks++];
  memset(t, 0, sizeof *t);
  t->callid = callid;
  return t;
}

static void app_handlers_changed(sim_subs_t *s, const uint8_t *guid, int delta) {
  sim_user_t *u = sim_model_user_by_guid(s->model, guid, SIM_GUID_LEN);
  if (!u)
    return;
  int before = u->app_handlers > 0;
  u->app_handlers += delta;
  if (u->app_handlers < 0)
    u->app_handlers = 0;
  if (before != (u->app_handlers > 0))
    sim_model_notify(s->model, SIM_EV_USER_CHANGED, u);
}

static lws_dll2_owner_t *bucket(sim_subs_t *s, const uint8_t *guid) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (int i = 0; i < SIM_GUID_LEN; i++)
    h = (h ^ guid[i]) * 16777619u;
  return &s->buckets[h % LINE_BUCKETS];
}

/* File a new subscription where leg events will look for it. */
static void sub_index(sim_subs_t *s, sub_t *x) {
  if (x->kind == K_USER || x->kind == K_QUEUE)
    lws_dll2_add_tail(&x->by_line, bucket(s, x->guid));
  else if (x->kind == K_PARK)
    lws_dll2_add_tail(&x->by_line, &s->park_subs);
  else if (x->kind == K_PRESENCE)
    lws_dll2_add_tail(&x->by_line, &s->presence_subs);
}

static void sub_free(sub_t *x) {
  lws_dll2_remove(&x->by_line);
  lws_dll2_remove(&x->due);
  free(x->pres_ix);
  sim_timer_cancel(&x->timer_expire);
  free(x->lines);
  free(x->pres);
  free(x->tracks);
  free(x);
}

static void sub_remove(sim_subs_conn_t *conn, sub_t *x) {
  for (sub_t **pp = &conn->head; *pp; pp = &(*pp)->next)
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  for (sub_t **pp = sub_id_slot(conn, x->id); *pp; pp = &(*pp)->next_by_id)
    if (*pp == x) {
      *pp = x->next_by_id;
      break;
    }
  conn->count--;
  if (conn->only[x->kind] == x)
    conn->only[x->kind] = NULL;
  if (x->activapp)
    app_handlers_changed(conn->subs, x->guid, -1);
  sub_free(x);
}

static void terminate(sim_subs_conn_t *conn, sub_t *x, const char *reason) {
  SubscribeTerminated st = SUBSCRIBE_TERMINATED__INIT;
  Message msg = MESSAGE__INIT;
  st.subscribe_id = x->id;
  st.reason = (char *)reason;
  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBETERMINATED;
  msg.subscribeterminated = &st;
  sim_log(SIM_LOG_INFO, "subs", "conn %d: subscription %d terminated (%s)", conn->conn_id, x->id,
          reason);
  conn->send(conn->ctx, &msg);
  sub_remove(conn, x);
}

static void expire_cb(sim_timer_t *timer) {
  sub_t *x = lws_container_of(timer, sub_t, timer_expire);
  terminate(x->conn, x, "timeout");
}

static void arm_expiry(sim_subs_t *s, sub_t *x) {
  sim_timer_cancel(&x->timer_expire);
  if (x->timeout > 0 && !s->stopping)
    sim_timer_schedule(s->timers, &x->timer_expire, expire_cb,
                       (int64_t)x->timeout * LWS_US_PER_SEC);
}

/* ---- building notifies ---- */

static LinesUser *lines_user(struct lwsac **ac, const uint8_t *guid, const char *extn,
                             const char *name) {
  LinesUser *lu = lwsac_use_zero(ac, sizeof *lu, 0);
  if (!lu)
    return NULL;
  lines_user__init(lu);
  lu->guid.data = lwsac_use(ac, SIM_GUID_LEN, 0);
  if (lu->guid.data) {
    memcpy(lu->guid.data, guid, SIM_GUID_LEN);
    lu->guid.len = SIM_GUID_LEN;
  }
  lu->extn = pb_str(extn);
  lu->name = pb_str(name);
  return lu;
}

/* LinesQueue has the same layout as LinesUser; built the same way. */
static LinesQueue *lines_queue(struct lwsac **ac, const uint8_t *guid, const char *extn,
                               const char *name) {
  LinesQueue *lq = lwsac_use_zero(ac, sizeof *lq, 0);
  if (!lq)
    return NULL;
  lines_queue__init(lq);
  lq->guid.data = lwsac_use(ac, SIM_GUID_LEN, 0);
  if (lq->guid.data) {
    memcpy(lq->guid.data, guid, SIM_GUID_LEN);
    lq->guid.len = SIM_GUID_LEN;
  }
  lq->extn = pb_str(extn);
  lq->name = pb_str(name);
  return lq;
}

#define PUSH(ac, arr, n, cap, item)                                                          \
  do {                                                                                        \
    if ((n) == (cap)) {                                                                       \
      size_t nc_ = (cap) ? (cap) * 2 : 16;                                                    \
      void *na_ = lwsac_use_zero(ac, nc_ * sizeof *(arr), 0);                                 \
      if (!na_)                                                                               \
        break;                                                                                \
      if (n)                                                                                  \
        memcpy(na_, (arr), (n) * sizeof *(arr));                                              \
      (arr) = na_;                                                                            \
      (cap) = nc_;                                                                            \
    }                                                                                         \
    (arr)[(n)++] = (item);                                                                    \
  } while (0)

static NotifyLines *build_lines(sim_subs_t *s, sub_t *x, struct lwsac **ac) {
  NotifyLines *nl = lwsac_use_zero(ac, sizeof *nl, 0);
  size_t cau = 0, caq = 0, cdu = 0, cdq = 0, ccu = 0, ccq = 0;
  if (!nl)
    return NULL;
  notify_lines__init(nl);
  if (x->flags & CODEC_LF_PARKSERVER)
    nl->flags = CODEC_LN_PARKSERVER;
  if (x->first) {
    /* The whole list; anything pending is already part of it. */
    if (x->flags & CODEC_LF_USERS)
      for (size_t i = 0; i < sim_model_user_count(s->model); i++) {
        sim_user_t *u = sim_model_user_at(s->model, i);
        PUSH(ac, nl->adduser, nl->n_adduser, cau, lines_user(ac, u->guid, u->extn, u->name));
      }
    if (x->flags & CODEC_LF_QUEUES)
      for (size_t i = 0; i < sim_model_queue_count(s->model); i++) {
        sim_queue_t *q = sim_model_queue_at(s->model, i);
        PUSH(ac, nl->addqueue, nl->n_addqueue, caq, lines_queue(ac, q->guid, q->extn, q->name));
      }
  } else {
    for (size_t i = 0; i < x->n_lines; i++) {
      lines_pending_t *p = &x->lines[i];
      /* Current names for adds and changes; remembered ones for deletes. */
      const char *extn = p->extn, *name = p->name;
      if (p->op != OP_DEL) {
        if (p->is_queue) {
          sim_queue_t *q = sim_model_queue_by_guid(s->model, p->guid, SIM_GUID_LEN);
          if (q)
            extn = q->extn, name = q->name;
        } else {
          sim_user_t *u = sim_model_user_by_guid(s->model, p->guid, SIM_GUID_LEN);
          if (u)
            extn = u->extn, name = u->name;
        }
      }
      if (p->is_queue) {
        LinesQueue *lq = lines_queue(ac, p->guid, extn, name);
        if (p->op == OP_ADD)
          PUSH(ac, nl->addqueue, nl->n_addqueue, caq, lq);
        else if (p->op == OP_DEL)
          PUSH(ac, nl->deletequeue, nl->n_deletequeue, cdq, lq);
        else
          PUSH(ac, nl->changequeue, nl->n_changequeue, ccq, lq);
      } else {
        LinesUser *lu = lines_user(ac, p->guid, extn, name);
        if (p->op == OP_ADD)
          PUSH(ac, nl->adduser, nl->n_adduser, cau, lu);
        else if (p->op == OP_DEL)
          PUSH(ac, nl->deleteuser, nl->n_deleteuser, cdu, lu);
        else
          PUSH(ac, nl->changeuser, nl->n_changeuser, ccu, lu);
      }
    }
  }
  x->n_lines = 0;
  x->first = 0;
  return nl;
}

static Mailbox *mailbox(struct lwsac **ac, int n, int o, int sv) {
  Mailbox *mb = lwsac_use_zero(ac, sizeof *mb, 0);
  if (mb) {
    mailbox__init(mb);
    mb->newmessages = n;
    mb->oldmessages = o;
    mb->savedmessages = sv;
  }
  return mb;
}

static Absence *absence(struct lwsac **ac, const sim_user_t *u) {
  Absence *a = lwsac_use_zero(ac, sizeof *a, 0);
  if (a) {
    absence__init(a);
    a->msg = u->absence_msg;
    a->str = pb_str(u->absence_str);
  }
  return a;
}

static NotifyUser *build_user(sim_subs_t *s, sub_t *x, const sim_user_t *u, struct lwsac **ac) {
  NotifyUser *nu = lwsac_use_zero(ac, sizeof *nu, 0);
  if (!nu)
    return NULL;
  notify_user__init(nu);
  nu->extn = pb_str(u->extn);
  nu->name = pb_str(u->name);
  nu->fullname = pb_str(u->fullname);
  nu->email = pb_str(u->email);
  nu->featuresavailable = u->featuresavailable;
  nu->language = pb_str(u->language);
  nu->dnd = u->dnd;
  nu->barred = u->barred;
  nu->xdirectory = u->xdirectory;
  nu->voicemail = u->voicemail;
  nu->loggedinextn = pb_str(u->loggedinextn);
  nu->extnfault = u->extnfault;
  nu->loggedoff = !u->loggedinextn[0];
  nu->ec500 = u->ec500;
  if (x->flags & CODEC_USF_MAILBOX)
    nu->mailbox = mailbox(ac, u->mb_new, u->mb_old, u->mb_saved);
  if ((x->flags & CODEC_USF_ABSENCE) && u->absence_set)
    nu->absence = absence(ac, u);
  if (x->flags & CODEC_USF_APP) {
    nu->app = pb_str(u->app);
    nu->noapphandler = u->app_handlers == 0;
  }
  if (x->flags & CODEC_USF_FWD) {
    nu->fwdu = u->fwdu;
    nu->fwdb = u->fwdb;
    nu->fwdna = u->fwdna;
    nu->fwdhg = u->fwdhg;
    nu->fwdunumber = pb_str(u->fwdunumber);
    nu->fwdbnumber = pb_str(u->fwdbnumber);
    nu->fwdtovm = u->fwdtovm;
    nu->offswitch = u->offswitch;
  }
  return nu;
}

static NotifyQueue *build_queue(sim_subs_t *s, sub_t *x, const sim_queue_t *q, struct lwsac **ac) {
  NotifyQueue *nq = lwsac_use_zero(ac, sizeof *nq, 0);
  if (!nq)
    return NULL;
  notify_queue__init(nq);
  nq->extn = pb_str(q->extn);
  nq->name = pb_str(q->name);
  nq->email = pb_str(q->email);
  nq->ringmode = q->ringmode;
  nq->noanswertime = q->noanswertime;
  nq->voicemail = q->voicemail;
  nq->voicemailtime = q->voicemailtime;
  nq->servicemode = q->servicemode;
  if (x->flags & CODEC_QSF_MAILBOX)
    nq->mailbox = mailbox(ac, q->mb_new, q->mb_old, q->mb_saved);
  if (x->flags & CODEC_QSF_MEMBERS) {
    nq->queuemembers = lwsac_use_zero(ac, sizeof *nq->queuemembers, 0);
    if (nq->queuemembers) {
      queue_members__init(nq->queuemembers);
      nq->queuemembers->member = lwsac_use_zero(ac, (size_t)(q->n_members + 1) * sizeof(QueueMember *), 0);
      for (int i = 0; i < q->n_members && nq->queuemembers->member; i++) {
        QueueMember *m = lwsac_use_zero(ac, sizeof *m, 0);
        if (!m)
          break;
        queue_member__init(m);
        m->extn = pb_str(q->members[i].extn);
        m->disabled = q->members[i].disabled;
        nq->queuemembers->member[nq->queuemembers->n_member++] = m;
      }
    }
  }
  return nq;
}

/* What a presence entry shows now: a user's state, a presence-only entity's, or unknown. */
typedef struct pres_state {
  int dnd;
  int phonestate;
  int absence_set, absence_msg;
  const char *absence_str;
  const char *app;
  int fwdu;
  int vm;        /* unread voicemail messages */
  int noapp;     /* no application handles its app presence */
} pres_state_t;

/* The presence state of one entry, and its signature (to send only real changes). */
static void presentity_state(sim_subs_t *s, const sub_t *x, const pres_entry_t *e,
                             pres_state_t *st, char *sig, size_t sig_size) {
  const sim_user_t *u = sim_model_user_by_presentity(s->model, e->presentity);
  const sim_presentity_t *p = u ? NULL : sim_model_presentity_find(s->model, e->presentity);
  memset(st, 0, sizeof *st);
  st->absence_str = st->app = "";
  st->noapp = 1;
  st->phonestate = PS_UNKNOWN;
  if (u) {
    st->dnd = u->dnd;
    st->phonestate = sim_calls_phonestate(s->calls, u);
    st->absence_set = u->absence_set;
    st->absence_msg = u->absence_msg;
    st->absence_str = u->absence_str;
    st->app = u->app;
    st->fwdu = u->fwdu;
    st->vm = u->mb_new;
    st->noapp = u->app_handlers == 0;
  } else if (p) {
    st->dnd = p->dnd;
    st->phonestate = p->phonestate;
    st->absence_set = p->absence_set;
    st->absence_msg = p->absence_msg;
    st->absence_str = p->absence_str;
    st->app = p->app;
    st->fwdu = p->fwdu;
    st->vm = p->mb_new;
    st->noapp = p->noapphandler;
  }
  if (st->noapp && !(x->flags & CODEC_PSF_NOAPPHANDLER))
    st->app = "Offline";
  snprintf(sig, sig_size, "%d|%d|%d|%d|%s|%s|%d|%d|%d", st->dnd, st->phonestate,
           st->absence_set, st->absence_msg, st->absence_str, st->app, st->fwdu, st->vm,
           st->noapp);
}

static NotifyPresentity *presentity(const sub_t *x, const pres_entry_t *e,
                                    const pres_state_t *st, struct lwsac **ac) {
  NotifyPresentity *np = lwsac_use_zero(ac, sizeof *np, 0);
  if (!np)
    return NULL;
  notify_presentity__init(np);
  /* With an lref the client knows the presentity; the identifier is left out. */
  if (e->lref)
    np->lref = e->lref;
  else
    np->presentity = pb_str(e->presentity);
  np->sac = st->dnd;
  np->phonestate = st->phonestate;
  if (st->absence_set && (np->absence = lwsac_use_zero(ac, sizeof *np->absence, 0))) {
    absence__init(np->absence);
    np->absence->msg = st->absence_msg;
    np->absence->str = pb_str(st->absence_str);
  }
  np->app = pb_str(st->app);
  np->fwdu = st->fwdu;
  if (x->flags & CODEC_PSF_VMCOUNT)
    np->vmunread_messages = st->vm;
  if (x->flags & CODEC_PSF_NOAPPHANDLER)
    np->noapphandler = st->noapp;
  return np;
}

static NotifyPresence *build_presence(sim_subs_t *s, sub_t *x, struct lwsac **ac) {
  NotifyPresence *np = lwsac_use_zero(ac, sizeof *np, 0);
  size_t cap = 0;
  if (!np)
    return NULL;
  notify_presence__init(np);
  np->full = x->first ? 1 : 0;
  for (size_t i = 0; i < x->n_pres; i++) {
    pres_entry_t *e = &x->pres[i];
    char sig[sizeof e->last];
    pres_state_t st;
    if (!x->first && !e->dirty)
      continue;
    presentity_state(s, x, e, &st, sig, sizeof sig);
    if (!x->first && e->last[0] && strcmp(sig, e->last) == 0) {
      e->dirty = 0;
      continue;
    }
    NotifyPresentity *p = presentity(x, e, &st, ac);
    snprintf(e->last, sizeof e->last, "%s", sig);
    e->dirty = 0;
    PUSH(ac, np->entry, np->n_entry, cap, p);
  }
  int was_first = x->first;
  x->first = 0;
  x->cfg_dirty = 0;
  return np->n_entry || was_first ? np : NULL;
}

/* FNV-1a of the packed CallInfo, never 0 (0: out of memory, cannot tell). */
static uint64_t callinfo_hash(const CallInfo *ci) {
  uint8_t stack[2048];
  size_t len = call_info__get_packed_size(ci);
  uint8_t *buf = len <= sizeof stack ? stack : malloc(len);
  uint64_t h = 14695981039346656037ULL;
  if (!buf)
    return 0;
  call_info__pack(ci, buf);
  for (size_t i = 0; i < len; i++)
    h = (h ^ buf[i]) * 1099511628211ULL;
  if (buf != stack)
    free(buf);
  return h ? h : 1;
}

static NotifyCallControl *build_cc(sim_subs_t *s, sub_t *x, struct lwsac **ac) {
  NotifyCallControl *cc = lwsac_use_zero(ac, sizeof *cc, 0);
  size_t cap_i = 0, cap_l = 0;
  if (!cc)
    return NULL;
  notify_call_control__init(cc);
  cc->refreshinstance = s->refresh;
  int ccflags = x->ccflags ? x->ccflags : CODEC_CC_PRIMARY;
  for (size_t i = 0; i < x->n_tracks;) {
    track_t *t = &x->tracks[i];
    if (t->lost) {
      CallLost *cl = lwsac_use_zero(ac, sizeof *cl, 0);
      if (cl) {
        call_lost__init(cl);
        cl->callid = t->callid;
        cl->referencecallid = t->refid;
        cl->reason = t->reason;
        cl->thisenddropped = t->thisend;
        if (t->desc[0] && (cl->description = lwsac_use(ac, sizeof t->desc, 0)))
          memcpy(cl->description, t->desc, sizeof t->desc); /* the track goes below */
        PUSH(ac, cc->calllost, cc->n_calllost, cap_l, cl);
      }
      x->tracks[i] = x->tracks[--x->n_tracks];
      continue;
    }
    if (t->dirty) {
      CallInfo *ci = NULL;
      t->dirty = 0;
      if (sim_calls_render(s->calls, t->callid, ccflags, ac, &ci) == 0) {
        /* A leg marked changed that looks as it did when last sent is not news. */
        uint64_t h = callinfo_hash(ci);
        if (!h || h != t->sent) {
          t->sent = h;
          PUSH(ac, cc->callinfo, cc->n_callinfo, cap_i, ci);
        }
      }
    }
    i++;
  }
  /* A refresh answers even with no calls: the list is complete, and empty. */
  int refresh = x->refresh_cc;
  x->refresh_cc = 0;
  return cc->n_callinfo || cc->n_calllost || refresh ? cc : NULL;
}

static int calls_pending(const sub_t *x) {
  for (size_t i = 0; i < x->n_tracks; i++)
    if (x->tracks[i].dirty || x->tracks[i].lost)
      return 1;
  return 0;
}

/* Anything to tell on x?  Cheap: asked of every subscription every round. */
static int sub_has_content(const sim_subs_conn_t *conn, const sub_t *x) {
  switch (x->kind) {
  case K_LINES:
    return x->first || x->n_lines;
  case K_REFRESH:
    return conn->refresh_due;
  default:
    return x->first || x->cfg_dirty || calls_pending(x) || x->refresh_cc;
  }
}

/* Send the next Notify of subscription x if one is due; 1 when sent. */
static int sub_flush(sim_subs_t *s, sim_subs_conn_t *conn, sub_t *x) {
  struct lwsac *ac = NULL;
  Notify *n;
  Message msg = MESSAGE__INIT;
  int sent = 0;
  if (x->awaiting || !sub_has_content(conn, x))
    return 0;
  n = lwsac_use_zero(&ac, sizeof *n, 4096);
  if (!n)
    return 0;
  notify__init(n);
  n->subscribe_id = x->id;
  switch (x->kind) {
  case K_LINES:
    if (x->first || x->n_lines) {
      n->lines = build_lines(s, x, &ac);
      n->payload_case = n->lines ? NOTIFY__PAYLOAD_LINES : NOTIFY__PAYLOAD__NOT_SET;
    }
    break;
  case K_USER:
    if (x->first || x->cfg_dirty) {
      x->first = x->cfg_dirty = 0;
      if ((n->user = build_user(s, x, x->user, &ac)))
        n->payload_case = NOTIFY__PAYLOAD_USER;
    }
    break;
  case K_QUEUE:
    if (x->first || x->cfg_dirty) {
      x->first = x->cfg_dirty = 0;
      if ((n->queue = build_queue(s, x, x->queue, &ac)))
        n->payload_case = NOTIFY__PAYLOAD_QUEUE;
    }
    break;
  case K_PRESENCE:
    if (x->first || x->cfg_dirty)
      if ((n->presence = build_presence(s, x, &ac)))
        n->payload_case = NOTIFY__PAYLOAD_PRESENCE;
    break;
  case K_PARK:
    x->first = 0;
    break;
  case K_REFRESH:
    if (conn->refresh_due) {
      conn->refresh_due = 0;
      n->refreshwrapper = lwsac_use_zero(&ac, sizeof *n->refreshwrapper, 0);
      if (n->refreshwrapper) {
        notify_refresh_wrapper__init(n->refreshwrapper);
        n->refreshwrapper->dummy = s->refresh;
        n->payload_case = NOTIFY__PAYLOAD_REFRESHWRAPPER;
      }
    }
    break;
  }
  if (n->payload_case == NOTIFY__PAYLOAD__NOT_SET && x->kind != K_LINES &&
      x->kind != K_REFRESH && (calls_pending(x) || x->refresh_cc)) {
    if ((n->callcontrol = build_cc(s, x, &ac)))
      n->payload_case = NOTIFY__PAYLOAD_CALLCONTROL;
  }
  if (n->payload_case != NOTIFY__PAYLOAD__NOT_SET) {
    n->notify_id = ++x->next_notify;
    x->awaiting = n->notify_id;
    msg.payload_case = MESSAGE__PAYLOAD_NOTIFY;
    msg.notify = n;
    s->notifies++;
    conn->send(conn->ctx, &msg);
    sent = 1;
  }
  lwsac_free(&ac);
  return sent;
}

static void flush_cb(lws_sorted_usec_list_t *sul) {
  sim_subs_t *s = lws_container_of(sul, sim_subs_t, sul_flush);
  s->flush_pending = 0;
  s->round++;
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    sub_t *rw = NULL;
    int any = 0;
    /*
     * Only the subscriptions marked due since the last round: a change, an
     * ack or a new subscription put them there.  One still waiting for its
     * ack leaves the list; the ack brings it back.
     */
    lws_dll2_owner_t due = conn->due;
    memset(&conn->due, 0, sizeof conn->due);
    for (lws_dll2_t *e = due.head; e; e = e->next)
      e->owner = &due;
    while (due.head) {
      sub_t *x = lws_container_of(due.head, sub_t, due);
      lws_dll2_remove(&x->due);
      if (x->kind == K_REFRESH) {
        rw = x;
        continue;
      }
      any |= sub_flush(s, conn, x);
    }
    /* RefreshWrapper: one Notify after each round that notified anything. */
    if (!rw && any)
      rw = conn->only[K_REFRESH];
    if (rw && any)
      conn->refresh_due = 1;
    if (rw && (any || conn->refresh_due))
      sub_flush(s, conn, rw);
  } lws_end_foreach_dll_safe(d, d1);
}

/* ---- subscribing ---- */

/* The entries changed: the index is rebuilt when next needed. */
static void presence_ix_drop(sub_t *x) {
  free(x->pres_ix);
  x->pres_ix = NULL;
  x->pres_ix_size = 0;
}

static int presence_add(sub_t *x, const Presentity *p) {
  if (!p->presentity && !p->lref)
    return MTCTISESS_PRESENCE_ERRUNKNOWN;
  /* The same lref again replaces the entry. */
  pres_entry_t *e = NULL;
  for (size_t i = 0; p->lref && i < x->n_pres; i++)
    if (x->pres[i].lref == p->lref)
      e = &x->pres[i];
  if (!e) {
    pres_entry_t *arr = grow(x->pres, &x->cap_pres, x->n_pres, sizeof *arr);
    if (!arr)
      return MTCTISESS_ERRUNKNOWN;
    x->pres = arr;
    e = &x->pres[x->n_pres++];
  }
  presence_ix_drop(x);
  memset(e, 0, sizeof *e);
  snprintf(e->presentity, sizeof e->presentity, "%s", p->presentity ? p->presentity : "");
  e->lref = p->lref;
  e->dirty = 1;
  return MTCTISESS_SUCCESS;
}

static int presence_remove(sub_t *x, const Presentity *p) {
  for (size_t i = 0; i < x->n_pres; i++) {
    pres_entry_t *e = &x->pres[i];
    if ((p->lref && e->lref == p->lref) ||
        (!p->lref && p->presentity && strcmp(p->presentity, e->presentity) == 0)) {
      x->pres[i] = x->pres[--x->n_pres];
      presence_ix_drop(x);
      return MTCTISESS_SUCCESS;
    }
  }
  return MTCTISESS_NOTFOUND;
}

static void track_existing(sim_subs_t *s, sub_t *x, sim_line_kind_t kind, const uint8_t *owner) {
  int ids[256];
  size_t n = sim_calls_line_legs(s->calls, kind, owner, s->system, ids, 256);
  for (size_t i = 0; i < n; i++) {
    track_t *t = track_get(x, ids[i], 1);
    if (t)
      t->dirty = 1;
  }
}

static int subscribe_new(sim_subs_t *s, sim_subs_conn_t *conn, const Subscribe *sb, sub_t **out) {
  if (conn->count >= MAX_SUBS_PER_CONN)
    return MTCTISESS_TOOMANY;
  if (sb->timeout < 0)
    return MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL;
  sub_t *x = calloc(1, sizeof *x);
  if (!x)
    return MTCTISESS_ERRUNKNOWN;
  x->conn = conn;
  x->id = sb->subscribe_id;
  x->timeout = sb->timeout;
  x->first = 1;
  int rc = MTCTISESS_SUCCESS;
  switch (sb->payload_case) {
  case SUBSCRIBE__PAYLOAD_LINES:
    x->kind = K_LINES;
    x->flags = sb->lines->flags;
    if (conn->only[K_LINES])
      rc = MTCTISESS_TOOMANY; /* only one lines subscription */
    break;
  case SUBSCRIBE__PAYLOAD_USER: {
    x->kind = K_USER;
    x->flags = sb->user->flags;
    x->ccflags = sb->user->ccflags;
    sim_user_t *u = sim_model_user_by_guid(s->model, sb->user->guid.data, sb->user->guid.len);
    if (!u) {
      rc = MTCTISESS_USERNOTFOUND;
      break;
    }
    memcpy(x->guid, u->guid, SIM_GUID_LEN);
    x->user = u;
    if (x->ccflags)
      track_existing(s, x, SIM_LINE_USER, u->guid);
    break;
  }
  case SUBSCRIBE__PAYLOAD_QUEUE: {
    x->kind = K_QUEUE;
    x->flags = sb->queue->flags;
    x->ccflags = sb->queue->ccflags;
    sim_queue_t *q = sb->queue->guid.len
                         ? sim_model_queue_by_guid(s->model, sb->queue->guid.data, sb->queue->guid.len)
                         : sim_model_queue_by_name(s->model, sb->queue->name);
    if (!q) {
      rc = MTCTISESS_NOTFOUND;
      break;
    }
    memcpy(x->guid, q->guid, SIM_GUID_LEN);
    x->queue = q;
    if (x->ccflags)
      track_existing(s, x, SIM_LINE_QUEUE, q->guid);
    break;
  }
  case SUBSCRIBE__PAYLOAD_PRESENCE:
    x->kind = K_PRESENCE;
    x->flags = sb->presence->flags;
    if (sb->timeout < PRESENCE_TIMEOUT_MIN || sb->timeout > PRESENCE_TIMEOUT_MAX) {
      rc = MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL;
      break;
    }
    if (sb->presence->n_entry > sim_model_user_count(s->model) + 64) {
      rc = MTCTISESS_TOOMANY;
      break;
    }
    for (size_t i = 0; i < sb->presence->n_entry && rc == MTCTISESS_SUCCESS; i++)
      rc = presence_add(x, sb->presence->entry[i]);
    break;
  case SUBSCRIBE__PAYLOAD_PARKSERVER:
    x->kind = K_PARK;
    x->flags = sb->parkserver->flags;
    x->ccflags = sb->parkserver->ccflags;
    if (conn->only[K_PARK])
      rc = MTCTISESS_TOOMANY;
    track_existing(s, x, SIM_LINE_PARK, NULL);
    break;
  case SUBSCRIBE__PAYLOAD_REFRESHWRAPPER:
    x->kind = K_REFRESH;
    x->first = 0;
    if (conn->only[K_REFRESH])
      rc = MTCTISESS_TOOMANY;
    break;
  default:
    rc = MTCTISESS_SUBSCRIPTION_INVALID;
  }
  if (rc != MTCTISESS_SUCCESS) {
    sub_free(x);
    return rc;
  }
  if (x->kind == K_USER && (x->flags & CODEC_USF_ACTIVAPP)) {
    x->activapp = 1;
    app_handlers_changed(s, x->guid, +1);
  }
  if (x->kind == K_LINES || x->kind == K_PARK || x->kind == K_REFRESH)
    conn->only[x->kind] = x;
  x->next = conn->head;
  conn->head = x;
  x->next_by_id = *sub_id_slot(conn, x->id);
  *sub_id_slot(conn, x->id) = x;
  conn->count++;
  sub_due(x);
  sub_index(s, x);
  arm_expiry(s, x);
  *out = x;
  return MTCTISESS_SUCCESS;
}

static void on_subscribe(sim_subs_t *s, sim_subs_conn_t *conn, const Subscribe *sb) {
  sub_t *x = sb->subscribe_id > 0 ? sub_find(conn, sb->subscribe_id) : NULL;
  int rc;
  if (sb->subscribe_id <= 0) {
    rc = MTCTISESS_SUBSCRIPTION_INVALID_ID;
  } else if (sb->payload_case == SUBSCRIBE__PAYLOAD__NOT_SET) {
    /* A refresh: same id, a new timeout. */
    if (!x)
      rc = MTCTISESS_SUBSCRIPTION_INVALID_ID;
    else if (sb->timeout < 0 ||
             (x->kind == K_PRESENCE &&
              (sb->timeout < PRESENCE_TIMEOUT_MIN || sb->timeout > PRESENCE_TIMEOUT_MAX)))
      rc = MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL;
    else {
      x->timeout = sb->timeout;
      arm_expiry(s, x);
      rc = MTCTISESS_SUCCESS;
    }
  } else if (x) {
    rc = MTCTISESS_SUBSCRIPTION_INVALID_ID; /* the id is in use */
  } else {
    rc = subscribe_new(s, conn, sb, &x);
    if (rc == MTCTISESS_SUCCESS)
      sim_log(SIM_LOG_INFO, "subs", "conn %d: subscription %d: %s flags=0x%x ccflags=0x%x",
              conn->conn_id, x->id, kind_names[x->kind], (unsigned)x->flags,
              (unsigned)x->ccflags);
  }
  respond(conn, sb->requestid, rc);
  schedule_flush(s);
}

static int on_callcontrol(sim_subs_t *s, sub_t *x, const UpdateCallControl *cc) {
  int payloads = (cc->makecall != NULL) + (cc->callfunction != NULL) + (cc->unparkcall != NULL);
  if (payloads != 1)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (x->kind != K_USER && x->kind != K_QUEUE && x->kind != K_PARK)
    return MTCTISESS_REQUEST_INVALID_CONTEXT;
  if (cc->callfunction) {
    if (!cc->callid && !cc->referencecallid)
      return MTCTISESS_CALLCONTROL_BADFORMATTING;
    sim_line_kind_t kind = x->kind == K_USER ? SIM_LINE_USER : x->kind == K_QUEUE ? SIM_LINE_QUEUE
                                                                                  : SIM_LINE_PARK;
    return sim_calls_function(s->calls, kind, x->kind == K_PARK ? NULL : x->guid, s->system,
                              cc->callid, cc->referencecallid, cc->callfunction);
  }
  /* MakeCall and UnPark: a new call named by the application's reference. */
  if (!cc->referencecallid || cc->callid)
    return MTCTISESS_CALLCONTROL_BADFORMATTING;
  if (x->kind != K_USER)
    return MTCTISESS_CALLCONTROL_UNSUPPORTED;
  sim_user_t *u = sim_model_user_by_guid(s->model, x->guid, SIM_GUID_LEN);
  int callid = 0;
  if (!u)
    return MTCTISESS_USERNOTFOUND;
  if (cc->makecall)
    return sim_calls_make(s->calls, u, cc->makecall->target, cc->makecall->type,
                          cc->makecall->advanced, cc->referencecallid, &callid);
  return sim_calls_unpark(s->calls, u, cc->unparkcall->parkid, cc->referencecallid, &callid);
}

static void on_subscribecmd(sim_subs_t *s, sim_subs_conn_t *conn, const SubscribeCmd *sc) {
  sub_t *x = sub_find(conn, sc->subscribe_id);
  int rc = MTCTISESS_SUCCESS;
  if (!x) {
    respond(conn, sc->requestid, MTCTISESS_SUBSCRIPTION_INVALID_ID);
    return;
  }
  switch (sc->payload_case) {
  case SUBSCRIBE_CMD__PAYLOAD_TIMEOUT:
    if (sc->timeout < 0 || (x->kind == K_PRESENCE && (sc->timeout < PRESENCE_TIMEOUT_MIN ||
                                                      sc->timeout > PRESENCE_TIMEOUT_MAX)))
      rc = MTCTISESS_SUBSCRIPTION_TIMEOUT_TOO_SMALL;
    else {
      x->timeout = sc->timeout;
      arm_expiry(s, x);
    }
    break;
  case SUBSCRIBE_CMD__PAYLOAD_PRESENCE:
    if (x->kind != K_PRESENCE) {
      rc = MTCTISESS_REQUEST_INVALID_CONTEXT;
      break;
    }
    for (size_t i = 0; i < sc->presence->n_remove && rc == MTCTISESS_SUCCESS; i++)
      rc = presence_remove(x, sc->presence->remove[i]);
    for (size_t i = 0; i < sc->presence->n_add && rc == MTCTISESS_SUCCESS; i++)
      rc = presence_add(x, sc->presence->add[i]);
    x->cfg_dirty = 1;
    sub_due(x);
    break;
  case SUBSCRIBE_CMD__PAYLOAD_CALLCONTROL:
    rc = on_callcontrol(s, x, sc->callcontrol);
    break;
  case SUBSCRIBE_CMD__PAYLOAD_USER: {
    sim_user_t *u = x->kind == K_USER ? sim_model_user_by_guid(s->model, x->guid, SIM_GUID_LEN) : NULL;
    int live = 0;
    if (!u) {
      rc = MTCTISESS_REQUEST_INVALID_CONTEXT;
      break;
    }
    rc = sim_admin_update_user(s->model, u, sc->user, &live);
    /* makelive / makedead switch this subscription's ACTIVAPP on and off. */
    if (rc == MTCTISESS_SUCCESS && live && (live > 0) != x->activapp) {
      x->activapp = live > 0;
      app_handlers_changed(s, x->guid, live);
    }
    break;
  }
  case SUBSCRIBE_CMD__PAYLOAD_QUEUE: {
    sim_queue_t *q = x->kind == K_QUEUE ? sim_model_queue_by_guid(s->model, x->guid, SIM_GUID_LEN) : NULL;
    rc = q ? sim_admin_update_queue(s->model, q, sc->queue) : MTCTISESS_REQUEST_INVALID_CONTEXT;
    break;
  }
  default:
    rc = MTCTISESS_REQUEST_INVALID_PAYLOAD;
  }
  respond(conn, sc->requestid, rc);
  schedule_flush(s);
}

void sim_subs_handle(sim_subs_conn_t *conn, const Message *msg) {
  sim_subs_t *s = conn->subs;
  s->requests++;
  switch (msg->payload_case) {
  case MESSAGE__PAYLOAD_SUBSCRIBE:
    on_subscribe(s, conn, msg->subscribe);
    break;
  case MESSAGE__PAYLOAD_SUBSCRIBECMD:
    on_subscribecmd(s, conn, msg->subscribecmd);
    break;
  case MESSAGE__PAYLOAD_SUBSCRIBEEND: {
    sub_t *x = sub_find(conn, msg->subscribeend->subscribe_id);
    if (x)
      sub_remove(conn, x);
    respond(conn, msg->subscribeend->requestid,
            x ? MTCTISESS_SUCCESS : MTCTISESS_SUBSCRIPTION_INVALID_ID);
    break;
  }
  case MESSAGE__PAYLOAD_NOTIFYACK: {
    sub_t *x = sub_find(conn, msg->notifyack->subscribe_id);
    s->acks++;
    if (x && x->awaiting && x->awaiting == msg->notifyack->notify_id) {
      x->awaiting = 0;
      sub_due(x);
      schedule_flush(s);
    } else {
      sim_log(SIM_LOG_WARN, "subs", "conn %d: NotifyAck %d/%d matches no outstanding Notify",
              conn->conn_id, msg->notifyack->subscribe_id, msg->notifyack->notify_id);
    }
    break;
  }
  default:
    break;
  }
}

/* ---- observers ---- */

static void lines_mark(sub_t *x, const uint8_t *guid, const char *extn, const char *name,
                       int is_queue, lines_op_t op) {
  if (!(x->flags & (is_queue ? CODEC_LF_QUEUES : CODEC_LF_USERS)))
    return;
  if (x->first)
    return; /* the whole list is still to come */
  for (size_t i = 0; i < x->n_lines; i++) {
    lines_pending_t *p = &x->lines[i];
    if (p->is_queue != is_queue || memcmp(p->guid, guid, SIM_GUID_LEN) != 0)
      continue;
    /* Fold: add+change = add, add+delete = nothing, delete+add = change. */
    if (p->op == OP_ADD && op == OP_DEL)
      x->lines[i] = x->lines[--x->n_lines];
    else if (p->op == OP_DEL && op == OP_ADD)
      p->op = OP_CHG;
    else if (op == OP_DEL)
      p->op = OP_DEL;
    snprintf(p->extn, sizeof p->extn, "%s", extn);
    snprintf(p->name, sizeof p->name, "%s", name);
    sub_due(x);
    return;
  }
  lines_pending_t *arr = grow(x->lines, &x->cap_lines, x->n_lines, sizeof *arr);
  if (!arr)
    return;
  x->lines = arr;
  lines_pending_t *p = &x->lines[x->n_lines++];
  memcpy(p->guid, guid, SIM_GUID_LEN);
  snprintf(p->extn, sizeof p->extn, "%s", extn);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->is_queue = is_queue;
  p->op = op;
  sub_due(x);
}

static uint32_t presence_hash(const char *p) {
  uint32_t h = 2166136261u; /* FNV-1a of the lower-case text */
  for (; *p; p++)
    h = (h ^ (uint8_t)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) * 16777619u;
  return h;
}

/* Index the entries by presentity (a change is then a lookup, not a scan of thousands). */
static int presence_ix_build(sub_t *x) {
  size_t size = 64;
  while (size < x->n_pres * 2)
    size *= 2;
  uint64_t *ix = calloc(size, sizeof *ix);
  if (!ix)
    return -1;
  x->n_pres_long = 0;
  for (size_t i = 0; i < x->n_pres; i++) {
    if (strlen(x->pres[i].presentity) >= 32)
      x->n_pres_long++;
    uint32_t h = presence_hash(x->pres[i].presentity);
    size_t k = h & (size - 1);
    while (ix[k])
      k = (k + 1) & (size - 1);
    ix[k] = (uint64_t)h << 32 | ((uint64_t)i + 1);
  }
  x->pres_ix = ix;
  x->pres_ix_size = size;
  return 0;
}

static void presence_dirty(sub_t *x, pres_entry_t *e) {
  e->dirty = 1;
  x->cfg_dirty = 1;
  sub_due(x);
}

/*
 * Mark the entries naming u (by extension, name or e-mail, and any of 32+
 * characters, a GUID maybe) for the next presence Notify.
 */
static void presence_mark(sub_t *x, const sim_user_t *u) {
  if (!x->pres_ix_size && presence_ix_build(x) != 0) {
    for (size_t i = 0; i < x->n_pres; i++) /* no memory for the index: the slow way */
      presence_dirty(x, &x->pres[i]);
    return;
  }
  const char *names[3] = {u->extn, u->name, u->email};
  size_t mask = x->pres_ix_size - 1;
  for (int n = 0; n < 3; n++) {
    if (!names[n][0])
      continue;
    uint32_t h = presence_hash(names[n]);
    for (size_t k = h & mask; x->pres_ix[k]; k = (k + 1) & mask) {
      if ((uint32_t)(x->pres_ix[k] >> 32) != h)
        continue; /* another presentity: no need to look at its entry */
      pres_entry_t *e = &x->pres[(uint32_t)x->pres_ix[k] - 1];
      if (n < 2 ? strcmp(e->presentity, names[n]) == 0 : strcasecmp(e->presentity, names[n]) == 0)
        presence_dirty(x, e);
    }
  }
  for (size_t i = 0; x->n_pres_long && i < x->n_pres; i++)
    if (strlen(x->pres[i].presentity) >= 32)
      presence_dirty(x, &x->pres[i]);
}

/* Mark the entries naming presence-only entity id (they look it up again when built). */
static void presence_mark_id(sub_t *x, const char *id) {
  for (size_t i = 0; i < x->n_pres; i++)
    if (strcasecmp(x->pres[i].presentity, id) == 0)
      presence_dirty(x, &x->pres[i]);
}

void sim_subs_model_event(sim_subs_t *s, int ev, void *record) {
  if (ev == SIM_EV_PRESENTITY_CHANGED) {
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->presence_subs)) {
      presence_mark_id(lws_container_of(d, sub_t, by_line), ((sim_presentity_t *)record)->id);
    } lws_end_foreach_dll(d);
    schedule_flush(s);
    return;
  }
  int is_queue = ev >= SIM_EV_QUEUE_ADDED;
  const uint8_t *guid = is_queue ? ((sim_queue_t *)record)->guid : ((sim_user_t *)record)->guid;
  const char *extn = is_queue ? ((sim_queue_t *)record)->extn : ((sim_user_t *)record)->extn;
  const char *name = is_queue ? ((sim_queue_t *)record)->name : ((sim_user_t *)record)->name;
  if (ev == SIM_EV_USER_CHANGED || ev == SIM_EV_QUEUE_CHANGED) {
    /* The common case, at load: only that line's subscriptions and presence care. */
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(bucket(s, guid))) {
      sub_t *x = lws_container_of(d, sub_t, by_line);
      if ((x->kind == K_QUEUE) == is_queue && memcmp(x->guid, guid, SIM_GUID_LEN) == 0) {
        x->cfg_dirty = 1;
        sub_due(x);
      }
    } lws_end_foreach_dll(d);
    if (!is_queue)
      lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->presence_subs)) {
        presence_mark(lws_container_of(d, sub_t, by_line), record);
      } lws_end_foreach_dll(d);
    schedule_flush(s);
    return;
  }
  lws_start_foreach_dll_safe(struct lws_dll2 *, d, d1, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    for (sub_t *x = conn->head, *nx; x; x = nx) {
      nx = x->next;
      switch (x->kind) {
      case K_LINES:
        if (ev == SIM_EV_USER_ADDED || ev == SIM_EV_QUEUE_ADDED)
          lines_mark(x, guid, extn, name, is_queue, OP_ADD);
        else if (ev == SIM_EV_USER_REMOVED || ev == SIM_EV_QUEUE_REMOVED)
          lines_mark(x, guid, extn, name, is_queue, OP_DEL);
        else if (ev == SIM_EV_USER_RENAMED || ev == SIM_EV_QUEUE_RENAMED)
          lines_mark(x, guid, extn, name, is_queue, OP_CHG);
        break;
      case K_USER:
      case K_QUEUE:
        if ((x->kind == K_QUEUE) != is_queue || memcmp(x->guid, guid, SIM_GUID_LEN) != 0)
          break;
        if (ev == SIM_EV_USER_REMOVED || ev == SIM_EV_QUEUE_REMOVED) {
          if (x->activapp)
            x->activapp = 0; /* the record goes away with its count */
          terminate(conn, x, "deleted");
        } else {
          x->cfg_dirty = 1;
          sub_due(x);
        }
        break;
      case K_PRESENCE:
        if (!is_queue)
          presence_mark(x, record);
        break;
      default:
        break;
      }
    }
  } lws_end_foreach_dll_safe(d, d1);
  schedule_flush(s);
}

static void track_event(sub_t *x, const sim_leg_event_t *ev) {
  int lost = ev->lost;
  /* Ephemeral queue subscriptions see calls only while they queue. */
  if (x->kind == K_QUEUE && (x->ccflags & CODEC_CC_EPHEMERAL) && !lost &&
      ev->state != CALL_INFO__STATE__QUEUEING && ev->state != CALL_INFO__STATE__RINGING &&
      ev->state != CALL_INFO__STATE__RETARGETING) {
    if (!track_get(x, ev->callid, 0))
      return;
    lost = 1;
  }
  track_t *t = track_get(x, ev->callid, 1);
  if (!t)
    return;
  t->refid = ev->refid;
  if (lost) {
    t->lost = 1;
    t->thisend = ev->thisenddropped;
    t->reason = ev->lost ? ev->reason : 16; /* an ephemeral queue's end of view: normal */
    snprintf(t->desc, sizeof t->desc, "%s", ev->lost && ev->description ? ev->description : "");
  } else {
    t->dirty = 1;
  }
  sub_due(x);
}

void sim_subs_leg_event(sim_subs_t *s, const sim_leg_event_t *ev) {
  if (ev->system >= 0 && ev->system != s->system)
    return; /* a queue call another system reports */
  if (ev->kind == SIM_LINE_USER && s->presence_subs.count) {
    sim_user_t *u = sim_model_user_by_guid(s->model, ev->owner, SIM_GUID_LEN);
    lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->presence_subs)) {
      if (u)
        presence_mark(lws_container_of(d, sub_t, by_line), u);
    } lws_end_foreach_dll(d);
  }
  lws_dll2_owner_t *list = ev->kind == SIM_LINE_PARK ? &s->park_subs
                           : ev->owner ? bucket(s, ev->owner) : NULL;
  if (!list)
    return;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(list)) {
    sub_t *x = lws_container_of(d, sub_t, by_line);
    int match = x->kind == K_PARK ||
                (x->ccflags && memcmp(x->guid, ev->owner, SIM_GUID_LEN) == 0 &&
                 ((x->kind == K_USER && ev->kind == SIM_LINE_USER) ||
                  (x->kind == K_QUEUE && ev->kind == SIM_LINE_QUEUE)));
    if (match)
      track_event(x, ev);
  } lws_end_foreach_dll(d);
  schedule_flush(s);
}

/* ---- lifecycle ---- */

sim_subs_conn_t *sim_subs_conn_new(sim_subs_t *s, int conn_id, sim_subs_send_fn send, void *ctx) {
  sim_subs_conn_t *conn = calloc(1, sizeof *conn);
  if (!conn)
    return NULL;
  conn->subs = s;
  conn->conn_id = conn_id;
  conn->send = send;
  conn->ctx = ctx;
  lws_dll2_add_tail(&conn->list, &s->conns);
  return conn;
}

void sim_subs_conn_free(sim_subs_conn_t *conn) {
  if (!conn)
    return;
  while (conn->head)
    sub_remove(conn, conn->head);
  lws_dll2_remove(&conn->list);
  free(conn);
}

int sim_subs_refresh(sim_subs_t *s) {
  int n = 0;
  s->refresh++;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    for (sub_t *x = conn->head; x; x = x->next) {
      if (x->kind == K_LINES || x->kind == K_REFRESH)
        continue;
      if (x->kind == K_PRESENCE) {
        x->first = 1; /* full=1, every entry */
      } else {
        if (x->kind != K_PARK)
          x->cfg_dirty = 1;
        if (x->ccflags || x->kind == K_PARK) {
          /* Every call of the line, sent even if unchanged, and the Notify even without one. */
          track_existing(s, x, x->kind == K_USER ? SIM_LINE_USER
                               : x->kind == K_QUEUE ? SIM_LINE_QUEUE : SIM_LINE_PARK,
                         x->kind == K_PARK ? NULL : x->guid);
          for (size_t i = 0; i < x->n_tracks; i++)
            if (!x->tracks[i].lost) {
              x->tracks[i].dirty = 1;
              x->tracks[i].sent = 0;
            }
          x->refresh_cc = 1;
        }
      }
      sub_due(x);
      n++;
    }
  } lws_end_foreach_dll(d);
  sim_log(SIM_LOG_INFO, "subs", "system %d: refresh %d of %d subscriptions", s->system, s->refresh,
          n);
  schedule_flush(s);
  return n;
}

int sim_subs_refreshinstance(const sim_subs_t *s) { return s->refresh; }

int sim_subs_terminate(sim_subs_t *s, int id, const char *reason) {
  int n = 0;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    for (sub_t *x = conn->head, *nx; x; x = nx) {
      nx = x->next;
      if (id == 0 || x->id == id) {
        terminate(conn, x, reason);
        n++;
      }
    }
  } lws_end_foreach_dll(d);
  return n;
}

size_t sim_subs_count(const sim_subs_t *s) {
  size_t n = 0;
  lws_start_foreach_dll(struct lws_dll2 *, d, s->conns.head) {
    n += lws_container_of(d, sim_subs_conn_t, list)->count;
  } lws_end_foreach_dll(d);
  return n;
}

json_t *sim_subs_json(sim_subs_t *s) {
  json_t *conns = json_array();
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    json_t *subs = json_array();
    for (sub_t *x = conn->head; x; x = x->next)
      json_array_append_new(subs, json_pack("{s:i,s:s,s:i,s:i,s:i,s:i}", "subscribe_id", x->id,
                                            "kind", kind_names[x->kind], "flags", x->flags,
                                            "ccflags", x->ccflags, "timeout", x->timeout,
                                            "awaiting_ack", x->awaiting));
    json_array_append_new(conns, json_pack("{s:i,s:o}", "conn", conn->conn_id, "subscriptions", subs));
  } lws_end_foreach_dll(d);
  return json_pack("{s:o,s:I,s:I,s:I}", "connections", conns, "notifies", (json_int_t)s->notifies,
                   "acks", (json_int_t)s->acks, "requests", (json_int_t)s->requests);
}

int sim_subs_new(sim_model_t *model, sim_calls_t *calls, struct lws_context *lws,
                 sim_timers_t *timers, int system, sim_subs_t **subs, char *errstr,
                 size_t errstr_size) {
  sim_subs_t *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  s->model = model;
  s->calls = calls;
  s->system = system;
  s->refresh = 1;
  s->lws = lws;
  s->timers = timers;
  *subs = s;
  return 0;
}

void sim_subs_quiesce(sim_subs_t *s) {
  s->stopping = 1;
  lws_sul_cancel(&s->sul_flush);
  s->flush_pending = 0;
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&s->conns)) {
    sim_subs_conn_t *conn = lws_container_of(d, sim_subs_conn_t, list);
    for (sub_t *x = conn->head; x; x = x->next)
      sim_timer_cancel(&x->timer_expire);
  } lws_end_foreach_dll(d);
}

void sim_subs_free(sim_subs_t *s) {
  if (!s)
    return;
  while (s->conns.head)
    sim_subs_conn_free(lws_container_of(s->conns.head, sim_subs_conn_t, list));
  lws_sul_cancel(&s->sul_flush);
  free(s);
}
