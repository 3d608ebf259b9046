/*
 * sim_admin: see sim_admin.h.
 */
#include "sim_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_tables.h"

#define ABSENCE_MAX 21 /* the spec's absence text limit */
#define APP_MAX 34     /* the spec's application presence limit */

typedef int (*sc_fn)(sim_user_t *u, const char *val);

static int sc_set(int *field, int v) {
  *field = v;
  return MTCTISESS_SUCCESS;
}
static int sc_fwdu_on(sim_user_t *u, const char *v) { return sc_set(&u->fwdu, 1); }
static int sc_fwdu_off(sim_user_t *u, const char *v) { return sc_set(&u->fwdu, 0); }
static int sc_fwdb_on(sim_user_t *u, const char *v) { return sc_set(&u->fwdb, 1); }
static int sc_fwdb_off(sim_user_t *u, const char *v) { return sc_set(&u->fwdb, 0); }
static int sc_fwdna_on(sim_user_t *u, const char *v) { return sc_set(&u->fwdna, 1); }
static int sc_fwdna_off(sim_user_t *u, const char *v) { return sc_set(&u->fwdna, 0); }
static int sc_dnd_on(sim_user_t *u, const char *v) { return sc_set(&u->dnd, 1); }
static int sc_dnd_off(sim_user_t *u, const char *v) { return sc_set(&u->dnd, 0); }
static int sc_vm_on(sim_user_t *u, const char *v) { return sc_set(&u->voicemail, 1); }
static int sc_vm_off(sim_user_t *u, const char *v) { return sc_set(&u->voicemail, 0); }
static int sc_ec500_on(sim_user_t *u, const char *v) { return sc_set(&u->ec500, 1); }
static int sc_ec500_off(sim_user_t *u, const char *v) { return sc_set(&u->ec500, 0); }

static int sc_number(char *dst, size_t size, const char *v) {
  if (!v || !*v || strlen(v) >= size)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  snprintf(dst, size, "%s", v);
  return MTCTISESS_SUCCESS;
}
static int sc_fwd_number(sim_user_t *u, const char *v) { return sc_number(u->fwdunumber, sizeof u->fwdunumber, v); }
static int sc_fwdb_number(sim_user_t *u, const char *v) { return sc_number(u->fwdbnumber, sizeof u->fwdbnumber, v); }

static int sc_dnd_exc(sim_user_t *u, const char *v) {
  if (!v || !*v || strlen(v) >= sizeof u->dnd_exc[0])
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  if (u->n_dnd_exc == SIM_MAX_DND_EXC)
    return MTCTISESS_TOOMANY;
  snprintf(u->dnd_exc[u->n_dnd_exc++], sizeof u->dnd_exc[0], "%s", v);
  return MTCTISESS_SUCCESS;
}
static int sc_dnd_exc_clear(sim_user_t *u, const char *v) { return sc_set(&u->n_dnd_exc, 0); }

/* ";new,old,saved": the mailbox counters an application-provided voicemail shows. */
static int sc_mailbox(sim_user_t *u, const char *v) {
  int n, o, s;
  char end;
  if (!v || sscanf(v, ";%d,%d,%d%c", &n, &o, &s, &end) != 3 || n < 0 || o < 0 || s < 0)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  u->mb_new = n;
  u->mb_old = o;
  u->mb_saved = s;
  return MTCTISESS_SUCCESS;
}

static int sc_noanswer(sim_user_t *u, const char *v) {
  char *end = NULL;
  long t = v ? strtol(v, &end, 10) : -1;
  if (!v || !*v || *end || t < 1 || t > 99999)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  u->noanswertime = (int)t;
  return MTCTISESS_SUCCESS;
}

/* "$set,$msg,$str": SetAbsentText. */
static int sc_absence(sim_user_t *u, const char *v) {
  int set, msg, used = 0;
  if (!v || sscanf(v, "%d,%d,%n", &set, &msg, &used) != 2 || !used)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  u->absence_set = set != 0;
  u->absence_msg = msg;
  snprintf(u->absence_str, sizeof u->absence_str, "%.*s", ABSENCE_MAX, v + used);
  return MTCTISESS_SUCCESS;
}

static const struct short_code {
  int code;
  sc_fn fn;
  const char *what;
} short_codes[] = {
    {0, sc_fwdu_on, "Set forward unconditional"},
    {1, sc_fwdu_off, "Unset forward unconditional"},
    {2, sc_fwdb_on, "Set forward on busy"},
    {3, sc_fwdb_off, "Unset forward on busy"},
    {4, sc_fwdna_on, "Set forward no answer"},
    {5, sc_fwdna_off, "Unset forward no answer"},
    {6, sc_fwd_number, "Set forward number"},
    {7, sc_dnd_on, "Set DND"},
    {8, sc_dnd_off, "Unset DND"},
    {9, sc_dnd_exc, "Set DND exception"},
    {10, sc_dnd_exc_clear, "Clear all DND exceptions"},
    {17, sc_vm_on, "Voicemail on"},
    {18, sc_vm_off, "Voicemail off"},
    {70, sc_mailbox, "Set voicemail mailbox counters"},
    {94, sc_noanswer, "Set no answer timeout"},
    {109, sc_absence, "SetAbsentText"},
    {114, sc_fwdb_number, "Set forward busy number"},
    {166, sc_ec500_on, "Set EC500"},
    {167, sc_ec500_off, "Unset EC500"},
};

/* A user whose record an UpdateUser changes, and the record as it will be. */
typedef struct edit {
  sim_user_t *user;
  sim_user_t next;
} edit_t;

#define MAX_EDITS 8 /* the subscription's user and up to 7 others (ShortCodeData.onbehalf) */

/* The edit of u, added when new; NULL when there are too many. */
static edit_t *edit_of(edit_t *edits, int *n, sim_user_t *u) {
  for (int i = 0; i < *n; i++)
    if (edits[i].user == u)
      return &edits[i];
  if (*n == MAX_EDITS)
    return NULL;
  edits[*n].user = u;
  edits[*n].next = *u;
  return &edits[(*n)++];
}

/* Characters of a dialled number. */
static int is_number(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (!strchr("0123456789*#+", *s))
      return 0;
  return 1;
}

/*
 * A teleworker number the system can call: a user's extension, or the trunk
 * prefix and at least 3 more digits (an external number), as routing does.
 */
static int reachable(const sim_model_t *model, const char *number) {
  const char *prefix = sim_model_trunk_prefix(model);
  size_t plen = strlen(prefix);
  if (sim_model_user_by_extn(model, number))
    return 1;
  return plen && strncmp(number, prefix, plen) == 0 && strlen(number) >= plen + 3;
}

/* UpdateUserLoginExtn: hot-desk to extn (empty: log off), optionally as a teleworker. */
static int login(sim_model_t *model, sim_user_t *user, sim_user_t *next,
                 const UpdateUserLoginExtn *le) {
  const char *extn = le->extn ? le->extn : "";
  const TeleworkerConnection *tw = le->teleworkerconnection;
  if (!(user->featuresavailable & CODEC_UF_LOGIN))
    return MTCTISESS_NOTALLOWED;
  if (strlen(extn) >= sizeof next->loggedinextn)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  if (tw) {
    const char *num = tw->number ? tw->number : "";
    if (!*extn || strlen(num) >= sizeof next->teleworker || !is_number(num))
      return MTCTISESS_REQUEST_INVALID_PAYLOAD;
    /* testconnection: the system calls the number before taking the login. */
    if (tw->testconnection && !reachable(model, num))
      return MTCTISESS_REQUESTFAILED;
  }
  /* Hot desking onto an extension logs off whoever was there. */
  sim_user_t *there = *extn ? sim_model_user_at_extn(model, extn) : NULL;
  if (there && there != user) {
    there->loggedinextn[0] = '\0';
    there->teleworker[0] = '\0';
    there->holdlineopen = 0;
    sim_model_notify(model, SIM_EV_USER_CHANGED, there);
  }
  snprintf(next->loggedinextn, sizeof next->loggedinextn, "%s", extn);
  snprintf(next->teleworker, sizeof next->teleworker, "%s", tw && tw->number ? tw->number : "");
  next->holdlineopen = tw ? tw->holdlineopen : 0;
  return MTCTISESS_SUCCESS;
}

int sim_admin_update_user(sim_model_t *model, sim_user_t *user, const UpdateUser *uu,
                          int *app_live) {
  edit_t edits[MAX_EDITS];
  int n_edits = 0, rc = MTCTISESS_SUCCESS;
  sim_user_t *next = &edit_of(edits, &n_edits, user)->next;
  *app_live = 0;
  if (!uu->sac && !uu->absence && !uu->ec500 && !uu->n_shortcodedata && !uu->loginextn &&
      !uu->app && !uu->fwdu)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  if (uu->sac) {
    if (!(user->featuresavailable & CODEC_UF_SAC))
      return MTCTISESS_NOTALLOWED;
    next->dnd = uu->sac->set != 0;
  }
  if (uu->absence) {
    if (!(user->featuresavailable & CODEC_UF_ABSENCE))
      return MTCTISESS_NOTALLOWED;
    next->absence_set = uu->absence->set != 0;
    next->absence_msg = uu->absence->absence ? uu->absence->absence->msg : 0;
    snprintf(next->absence_str, sizeof next->absence_str, "%.*s", ABSENCE_MAX,
             uu->absence->absence && uu->absence->absence->str ? uu->absence->absence->str : "");
  }
  if (uu->ec500) {
    if (!(user->featuresavailable & CODEC_UF_EC500))
      return MTCTISESS_NOTALLOWED;
    next->ec500 = uu->ec500->set != 0;
  }
  for (size_t i = 0; i < uu->n_shortcodedata; i++) {
    const ShortCodeData *sc = uu->shortcodedata[i];
    const struct short_code *def = NULL;
    sim_user_t *target = user;
    if (!(user->featuresavailable & CODEC_UF_SHORTCODE))
      return MTCTISESS_NOTALLOWED;
    for (size_t k = 0; k < sizeof short_codes / sizeof short_codes[0]; k++)
      if (short_codes[k].code == sc->code)
        def = &short_codes[k];
    if (!def)
      return MTCTISESS_REQUEST_INVALID_PAYLOAD;
    /* onbehalf: the short code acts for another user (extension, name, e-mail or GUID). */
    if (sc->onbehalf && *sc->onbehalf &&
        !(target = sim_model_user_by_presentity(model, sc->onbehalf)))
      return MTCTISESS_USERNOTFOUND;
    edit_t *e = edit_of(edits, &n_edits, target);
    if (!e)
      return MTCTISESS_TOOMANY;
    if ((rc = def->fn(&e->next, sc->val)) != MTCTISESS_SUCCESS)
      return rc;
  }
  if (uu->loginextn && (rc = login(model, user, next, uu->loginextn)) != MTCTISESS_SUCCESS)
    return rc;
  if (uu->app) {
    if (!(user->featuresavailable & CODEC_UF_APP))
      return MTCTISESS_NOTALLOWED;
    if (uu->app->makelive && uu->app->makedead)
      return MTCTISESS_REQUEST_INVALID_PAYLOAD;
    snprintf(next->app, sizeof next->app, "%.*s", APP_MAX, uu->app->value ? uu->app->value : "");
    *app_live = uu->app->makelive ? 1 : uu->app->makedead ? -1 : 0;
  }
  if (uu->fwdu) {
    if (!(user->featuresavailable & CODEC_UF_FWDU))
      return MTCTISESS_NOTALLOWED;
    const char *num = uu->fwdu->fwdu_number ? uu->fwdu->fwdu_number : "";
    if (strlen(num) >= sizeof next->fwdunumber)
      return MTCTISESS_REQUEST_INVALID_PAYLOAD;
    next->fwdu = uu->fwdu->set;
    if (*num)
      snprintf(next->fwdunumber, sizeof next->fwdunumber, "%s", num);
    next->fwdtovm = uu->fwdu->fwdtovm;
  }
  /* All or nothing: every record changes only once everything was accepted (and only if it does). */
  for (int i = 0; i < n_edits; i++) {
    if (memcmp(edits[i].user, &edits[i].next, sizeof edits[i].next) == 0)
      continue;
    *edits[i].user = edits[i].next;
    sim_model_notify(model, SIM_EV_USER_CHANGED, edits[i].user);
  }
  return MTCTISESS_SUCCESS;
}

static int member_set(sim_model_t *model, sim_queue_t *q, const QueueMember *m) {
  if (!m->extn || !sim_model_user_by_extn(model, m->extn))
    return MTCTISESS_USERNOTFOUND;
  int i = sim_model_member_find(q, m->extn);
  if (i < 0) {
    if (q->n_members == SIM_MAX_MEMBERS)
      return MTCTISESS_TOOMANY;
    i = q->n_members++;
    snprintf(q->members[i].extn, sizeof q->members[i].extn, "%s", m->extn);
  }
  q->members[i].disabled = m->disabled;
  return MTCTISESS_SUCCESS;
}

int sim_admin_update_queue(sim_model_t *model, sim_queue_t *queue, const UpdateQueue *uq) {
  sim_queue_t next = *queue;
  int rc;
  if (!uq->setservicemode && !uq->setvoicemail && !uq->members && !uq->n_addmember &&
      !uq->n_deletemember)
    return MTCTISESS_REQUEST_INVALID_PAYLOAD;
  if (uq->setservicemode) {
    int m = uq->setservicemode->servicemode;
    if (m < SET_SERVICE_MODE__SERVICE_MODE__Active || m > SET_SERVICE_MODE__SERVICE_MODE__OOS)
      return MTCTISESS_REQUEST_INVALID_PAYLOAD;
    next.servicemode = m;
  }
  if (uq->setvoicemail)
    next.voicemail = uq->setvoicemail->enabled;
  if (uq->members) {
    next.n_members = 0;
    for (size_t i = 0; i < uq->members->n_member; i++)
      if ((rc = member_set(model, &next, uq->members->member[i])) != MTCTISESS_SUCCESS)
        return rc;
  }
  /* addmember also updates the disabled flag of an existing member. */
  for (size_t i = 0; i < uq->n_addmember; i++)
    if ((rc = member_set(model, &next, uq->addmember[i])) != MTCTISESS_SUCCESS)
      return rc;
  for (size_t i = 0; i < uq->n_deletemember; i++) {
    int k = uq->deletemember[i]->extn ? sim_model_member_find(&next, uq->deletemember[i]->extn) : -1;
    if (k < 0)
      return MTCTISESS_NOTFOUND;
    memmove(&next.members[k], &next.members[k + 1],
            (size_t)(next.n_members - k - 1) * sizeof next.members[0]);
    next.n_members--;
  }
  *queue = next;
  sim_model_notify(model, SIM_EV_QUEUE_CHANGED, queue);
  return MTCTISESS_SUCCESS;
}
