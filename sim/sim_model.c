/*
 * sim_model: see sim_model.h.
 */
#include "sim_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec_ids.h"
#include "codec_tables.h"

#define MAX_OBSERVERS 4
#define MAX_CODES 64

struct sim_model {
  sim_user_t **users;
  size_t n_users, cap_users;
  sim_queue_t **queues;
  size_t n_queues, cap_queues;
  sim_presentity_t **presentities;
  size_t n_presentities, cap_presentities;
  char version[128];
  char trunk_prefix[8];
  char park_slots[MAX_CODES][16];
  size_t n_park_slots;
  char account_codes[MAX_CODES][16];
  size_t n_account_codes;
  char auth_codes[MAX_CODES][16];
  size_t n_auth_codes;
  char trunks[MAX_CODES][32];
  size_t n_trunks;
  uint64_t guid_state;
  /* Hash indexes (open addressing, slot = position + 1), rebuilt on every add, remove or rename. */
  uint32_t *ix_user_guid, *ix_user_extn, *ix_queue_guid, *ix_queue_extn;
  size_t ix_cap;
  struct {
    sim_model_observer_fn fn;
    void *ctx;
  } observers[MAX_OBSERVERS];
  int n_observers;
};

/* ---- indexes ---- */

static uint32_t hash_bytes(const void *key, size_t len) {
  const uint8_t *p = key;
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

static void ix_put(uint32_t *ix, size_t cap, const void *key, size_t len, uint32_t pos) {
  size_t i = hash_bytes(key, len) & (cap - 1);
  while (ix[i])
    i = (i + 1) & (cap - 1);
  ix[i] = pos + 1;
}

/* Rebuild every index; on allocation failure lookups fall back to scanning. */
static void reindex(sim_model_t *m) {
  size_t need = 64;
  while (need < 2 * (m->n_users + m->n_queues) + 2)
    need *= 2;
  if (need != m->ix_cap || !m->ix_user_guid) {
    free(m->ix_user_guid);
    m->ix_user_guid = calloc(4 * need, sizeof *m->ix_user_guid);
    m->ix_cap = m->ix_user_guid ? need : 0;
  } else {
    memset(m->ix_user_guid, 0, 4 * need * sizeof *m->ix_user_guid);
  }
  if (!m->ix_cap)
    return;
  m->ix_user_extn = m->ix_user_guid + need;
  m->ix_queue_guid = m->ix_user_extn + need;
  m->ix_queue_extn = m->ix_queue_guid + need;
  for (size_t i = 0; i < m->n_users; i++) {
    ix_put(m->ix_user_guid, need, m->users[i]->guid, SIM_GUID_LEN, (uint32_t)i);
    ix_put(m->ix_user_extn, need, m->users[i]->extn, strlen(m->users[i]->extn), (uint32_t)i);
  }
  for (size_t i = 0; i < m->n_queues; i++) {
    ix_put(m->ix_queue_guid, need, m->queues[i]->guid, SIM_GUID_LEN, (uint32_t)i);
    ix_put(m->ix_queue_extn, need, m->queues[i]->extn, strlen(m->queues[i]->extn), (uint32_t)i);
  }
}

/* Position of the record whose key matches, via index ix; -1 when absent. */
#define IX_FIND(m, ix, arr, n, field, key, len, cmp)                                    \
  do {                                                                                    \
    if (!(m)->ix_cap) {                                                                   \
      for (size_t k_ = 0; k_ < (n); k_++)                                                 \
        if (cmp((arr)[k_]->field, key, len) == 0)                                         \
          return (arr)[k_];                                                               \
      return NULL;                                                                        \
    }                                                                                     \
    size_t i_ = hash_bytes(key, len) & ((m)->ix_cap - 1);                                 \
    while ((ix)[i_]) {                                                                    \
      size_t p_ = (ix)[i_] - 1;                                                           \
      if (p_ < (n) && cmp((arr)[p_]->field, key, len) == 0)                               \
        return (arr)[p_];                                                                 \
      i_ = (i_ + 1) & ((m)->ix_cap - 1);                                                  \
    }                                                                                     \
    return NULL;                                                                          \
  } while (0)

static int extn_cmp(const char *a, const char *b, size_t len) {
  return strlen(a) == len && memcmp(a, b, len) == 0 ? 0 : 1;
}

/* ---- field tables: JSON <-> record ---- */

typedef enum ftype { F_STR, F_INT, F_BOOL } ftype_t;
typedef struct field {
  const char *name;
  ftype_t type;
  size_t offset;
  size_t size; /* for strings */
  int lines;   /* part of the lines list: changing it is a rename */
} field_t;

#define US(f, l) {#f, F_STR, offsetof(sim_user_t, f), sizeof(((sim_user_t *)0)->f), l}
#define UI(f) {#f, F_INT, offsetof(sim_user_t, f), 0, 0}
#define UB(f) {#f, F_BOOL, offsetof(sim_user_t, f), 0, 0}
static const field_t user_fields[] = {
    US(extn, 1), US(name, 1), US(fullname, 0), US(email, 0), US(language, 0),
    UI(featuresavailable), UB(voicemail), UB(dnd), UB(barred), UB(xdirectory), UB(extnfault), UB(pots),
    UB(ec500), US(mobile, 0), UB(fwdu), UB(fwdb), UB(fwdna), UB(fwdhg), UB(fwdtovm),
    UB(offswitch), US(fwdunumber, 0), US(fwdbnumber, 0), UB(absence_set), UI(absence_msg),
    US(absence_str, 0), US(app, 0), UI(mb_new), UI(mb_old), UI(mb_saved), US(loggedinextn, 0),
    US(teleworker, 0), UB(holdlineopen), UI(noanswertime),
};
#define QS(f, l) {#f, F_STR, offsetof(sim_queue_t, f), sizeof(((sim_queue_t *)0)->f), l}
#define QI(f) {#f, F_INT, offsetof(sim_queue_t, f), 0, 0}
#define QB(f) {#f, F_BOOL, offsetof(sim_queue_t, f), 0, 0}
static const field_t queue_fields[] = {
    QS(extn, 1), QS(name, 1), QS(email, 0), QI(ringmode), QI(noanswertime), QB(voicemail),
    QI(voicemailtime), QI(servicemode), QI(mb_new), QI(mb_old), QI(mb_saved),
};
#define PS(f) {#f, F_STR, offsetof(sim_presentity_t, f), sizeof(((sim_presentity_t *)0)->f), 0}
#define PI(f) {#f, F_INT, offsetof(sim_presentity_t, f), 0, 0}
#define PB(f) {#f, F_BOOL, offsetof(sim_presentity_t, f), 0, 0}
static const field_t presentity_fields[] = {
    PS(id), PB(dnd), PI(phonestate), PB(absence_set), PI(absence_msg), PS(absence_str), PS(app),
    PB(fwdu), PI(mb_new), PB(noapphandler),
};
#define NFIELDS(t) (sizeof t / sizeof t[0])

static int fields_from_json(void *rec, const field_t *fields, size_t n, const json_t *obj,
                            const char *const *extra, int *lines_changed, char *errstr,
                            size_t errstr_size) {
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    const field_t *f = NULL;
    for (size_t i = 0; i < n; i++)
      if (strcmp(fields[i].name, key) == 0)
        f = &fields[i];
    if (!f) {
      int known = 0;
      for (size_t i = 0; extra && extra[i]; i++)
        if (strcmp(extra[i], key) == 0)
          known = 1;
      if (!known) {
        snprintf(errstr, errstr_size, "unknown field '%s'", key);
        return -1;
      }
      continue;
    }
    char *p = (char *)rec + f->offset;
    switch (f->type) {
    case F_STR:
      if (!json_is_string(val) || strlen(json_string_value(val)) >= f->size) {
        snprintf(errstr, errstr_size, "'%s' must be a string shorter than %zu", key, f->size);
        return -1;
      }
      if (f->lines && strcmp(p, json_string_value(val)) != 0 && lines_changed)
        *lines_changed = 1;
      snprintf(p, f->size, "%s", json_string_value(val));
      break;
    case F_INT:
      if (!json_is_integer(val)) {
        snprintf(errstr, errstr_size, "'%s' must be an integer", key);
        return -1;
      }
      *(int *)p = (int)json_integer_value(val);
      break;
    case F_BOOL:
      if (!json_is_boolean(val) && !json_is_integer(val)) {
        snprintf(errstr, errstr_size, "'%s' must be a boolean", key);
        return -1;
      }
      *(int *)p = json_is_boolean(val) ? json_is_true(val) : json_integer_value(val) != 0;
      break;
    }
  }
  return 0;
}

static void fields_to_json(json_t *obj, const void *rec, const field_t *fields, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *p = (const char *)rec + fields[i].offset;
    switch (fields[i].type) {
    case F_STR:
      json_object_set_new(obj, fields[i].name, json_string(p));
      break;
    case F_INT:
      json_object_set_new(obj, fields[i].name, json_integer(*(const int *)p));
      break;
    case F_BOOL:
      json_object_set_new(obj, fields[i].name, json_boolean(*(const int *)p));
      break;
    }
  }
}

uint32_t sim_rand(uint64_t *state) {
  /* splitmix64: small, seedable, good enough for test data. */
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (uint32_t)((z ^ (z >> 31)) >> 16);
}

static void new_guid(sim_model_t *model, uint8_t guid[SIM_GUID_LEN]) {
  for (int i = 0; i < SIM_GUID_LEN; i += 2) {
    uint32_t r = sim_rand(&model->guid_state);
    guid[i] = (uint8_t)r;
    guid[i + 1] = (uint8_t)(r >> 8);
  }
  guid[6] = (uint8_t)((guid[6] & 0x0f) | 0x40); /* looks like a v4 UUID */
  guid[8] = (uint8_t)((guid[8] & 0x3f) | 0x80);
}

static int guid_from_json(const json_t *obj, uint8_t guid[SIM_GUID_LEN], char *errstr,
                          size_t errstr_size) {
  json_t *g = json_object_get(obj, "guid");
  if (!g)
    return 1;
  if (!json_is_string(g) || codec_guid_parse(json_string_value(g), guid) != 0) {
    snprintf(errstr, errstr_size, "'guid' must be a UUID string");
    return -1;
  }
  return 0;
}

static const int all_user_features = CODEC_UF_VALID | CODEC_UF_SAC | CODEC_UF_ABSENCE |
                                     CODEC_UF_EC500 | CODEC_UF_LOGIN | CODEC_UF_SHORTCODE |
                                     CODEC_UF_MAKECALL | CODEC_UF_FWDU | CODEC_UF_APP;

static void user_defaults(sim_user_t *u) {
  memset(u, 0, sizeof *u);
  snprintf(u->language, sizeof u->language, "eng");
  u->featuresavailable = all_user_features;
  u->voicemail = 1;
  u->noanswertime = 15;
}

static void queue_defaults(sim_queue_t *q) {
  memset(q, 0, sizeof *q);
  q->ringmode = 2;
  q->noanswertime = 10;
  q->voicemailtime = 45;
  q->servicemode = 1;
  q->last_target = -1;
}

static int user_insert(sim_model_t *model, sim_user_t *u) {
  if (model->n_users == model->cap_users) {
    size_t cap = model->cap_users ? model->cap_users * 2 : 32;
    sim_user_t **n = realloc(model->users, cap * sizeof *n);
    if (!n)
      return -1;
    model->users = n;
    model->cap_users = cap;
  }
  model->users[model->n_users++] = u;
  return 0;
}

static int queue_insert(sim_model_t *model, sim_queue_t *q) {
  if (model->n_queues == model->cap_queues) {
    size_t cap = model->cap_queues ? model->cap_queues * 2 : 8;
    sim_queue_t **n = realloc(model->queues, cap * sizeof *n);
    if (!n)
      return -1;
    model->queues = n;
    model->cap_queues = cap;
  }
  model->queues[model->n_queues++] = q;
  return 0;
}

static const char *const user_extra[] = {"guid", NULL};
static const char *const queue_extra[] = {"guid", "members", NULL};

static int members_from_json(sim_model_t *model, sim_queue_t *q, const json_t *arr, char *errstr,
                             size_t errstr_size) {
  if (!json_is_array(arr) || json_array_size(arr) > SIM_MAX_MEMBERS) {
    snprintf(errstr, errstr_size, "'members' must be an array of at most %d", SIM_MAX_MEMBERS);
    return -1;
  }
  size_t i;
  json_t *m;
  q->n_members = 0;
  json_array_foreach(arr, i, m) {
    const char *extn = json_is_string(m) ? json_string_value(m)
                                         : json_string_value(json_object_get(m, "extn"));
    if (!extn || strlen(extn) >= sizeof q->members[0].extn) {
      snprintf(errstr, errstr_size, "members[%zu]: needs an extn", i);
      return -1;
    }
    (void)model;
    snprintf(q->members[q->n_members].extn, sizeof q->members[0].extn, "%s", extn);
    q->members[q->n_members].disabled = json_is_true(json_object_get(m, "disabled"));
    q->n_members++;
  }
  return 0;
}

int sim_model_user_add(sim_model_t *model, const json_t *fields, sim_user_t **user, char *errstr,
                       size_t errstr_size) {
  sim_user_t *u = malloc(sizeof *u);
  if (!u) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  user_defaults(u);
  int g = guid_from_json(fields, u->guid, errstr, errstr_size);
  if (g < 0)
    goto fail;
  if (g > 0)
    new_guid(model, u->guid);
  if (fields_from_json(u, user_fields, NFIELDS(user_fields), fields, user_extra, NULL, errstr,
                       errstr_size))
    goto fail;
  if (!u->extn[0]) {
    snprintf(errstr, errstr_size, "a user needs an 'extn'");
    goto fail;
  }
  if (sim_model_user_by_extn(model, u->extn) || sim_model_queue_by_extn(model, u->extn)) {
    snprintf(errstr, errstr_size, "extension %s is taken", u->extn);
    goto fail;
  }
  if (sim_model_user_by_guid(model, u->guid, SIM_GUID_LEN)) {
    snprintf(errstr, errstr_size, "guid is taken");
    goto fail;
  }
  if (!u->name[0])
    snprintf(u->name, sizeof u->name, "Extn%s", u->extn);
  if (!json_object_get(fields, "loggedinextn"))
    snprintf(u->loggedinextn, sizeof u->loggedinextn, "%s", u->extn);
  if (user_insert(model, u)) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  reindex(model);
  if (user)
    *user = u;
  sim_model_notify(model, SIM_EV_USER_ADDED, u);
  return 0;
fail:
  free(u);
  return -1;
}

int sim_model_queue_add(sim_model_t *model, const json_t *fields, sim_queue_t **queue,
                        char *errstr, size_t errstr_size) {
  sim_queue_t *q = malloc(sizeof *q);
  if (!q) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  queue_defaults(q);
  int g = guid_from_json(fields, q->guid, errstr, errstr_size);
  if (g < 0)
    goto fail;
  if (g > 0)
    new_guid(model, q->guid);
  if (fields_from_json(q, queue_fields, NFIELDS(queue_fields), fields, queue_extra, NULL, errstr,
                       errstr_size))
    goto fail;
  json_t *members = json_object_get(fields, "members");
  if (members && members_from_json(model, q, members, errstr, errstr_size))
    goto fail;
  if (!q->extn[0]) {
    snprintf(errstr, errstr_size, "a queue needs an 'extn'");
    goto fail;
  }
  if (sim_model_user_by_extn(model, q->extn) || sim_model_queue_by_extn(model, q->extn)) {
    snprintf(errstr, errstr_size, "extension %s is taken", q->extn);
    goto fail;
  }
  if (!q->name[0])
    snprintf(q->name, sizeof q->name, "Queue%s", q->extn);
  if (queue_insert(model, q)) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  reindex(model);
  if (queue)
    *queue = q;
  sim_model_notify(model, SIM_EV_QUEUE_ADDED, q);
  return 0;
fail:
  free(q);
  return -1;
}

int sim_model_user_patch(sim_model_t *model, sim_user_t *user, const json_t *fields, char *errstr,
                         size_t errstr_size) {
  sim_user_t copy = *user;
  int renamed = 0;
  if (json_object_get(fields, "guid")) {
    snprintf(errstr, errstr_size, "a user's guid cannot change");
    return -1;
  }
  if (fields_from_json(&copy, user_fields, NFIELDS(user_fields), fields, NULL, &renamed, errstr,
                       errstr_size))
    return -1;
  if (strcmp(copy.extn, user->extn) != 0 &&
      (sim_model_user_by_extn(model, copy.extn) || sim_model_queue_by_extn(model, copy.extn))) {
    snprintf(errstr, errstr_size, "extension %s is taken", copy.extn);
    return -1;
  }
  *user = copy;
  reindex(model);
  sim_model_notify(model, renamed ? SIM_EV_USER_RENAMED : SIM_EV_USER_CHANGED, user);
  return 0;
}

int sim_model_queue_patch(sim_model_t *model, sim_queue_t *queue, const json_t *fields,
                          char *errstr, size_t errstr_size) {
  sim_queue_t copy = *queue;
  int renamed = 0;
  const char *const extra[] = {"members", NULL};
  if (json_object_get(fields, "guid")) {
    snprintf(errstr, errstr_size, "a queue's guid cannot change");
    return -1;
  }
  if (fields_from_json(&copy, queue_fields, NFIELDS(queue_fields), fields, extra, &renamed,
                       errstr, errstr_size))
    return -1;
  json_t *members = json_object_get(fields, "members");
  if (members && members_from_json(model, &copy, members, errstr, errstr_size))
    return -1;
  if (strcmp(copy.extn, queue->extn) != 0 &&
      (sim_model_user_by_extn(model, copy.extn) || sim_model_queue_by_extn(model, copy.extn))) {
    snprintf(errstr, errstr_size, "extension %s is taken", copy.extn);
    return -1;
  }
  *queue = copy;
  reindex(model);
  sim_model_notify(model, renamed ? SIM_EV_QUEUE_RENAMED : SIM_EV_QUEUE_CHANGED, queue);
  return 0;
}

void sim_model_user_remove(sim_model_t *model, sim_user_t *user) {
  for (size_t i = 0; i < model->n_users; i++) {
    if (model->users[i] != user)
      continue;
    sim_model_notify(model, SIM_EV_USER_REMOVED, user);
    memmove(&model->users[i], &model->users[i + 1], (model->n_users - i - 1) * sizeof user);
    model->n_users--;
    free(user);
    reindex(model);
    return;
  }
}

void sim_model_queue_remove(sim_model_t *model, sim_queue_t *queue) {
  for (size_t i = 0; i < model->n_queues; i++) {
    if (model->queues[i] != queue)
      continue;
    sim_model_notify(model, SIM_EV_QUEUE_REMOVED, queue);
    memmove(&model->queues[i], &model->queues[i + 1], (model->n_queues - i - 1) * sizeof queue);
    model->n_queues--;
    free(queue);
    reindex(model);
    return;
  }
}

/* ---- presence-only entities ---- */

sim_presentity_t *sim_model_presentity_find(const sim_model_t *m, const char *id) {
  for (size_t i = 0; id && i < m->n_presentities; i++)
    if (strcasecmp(m->presentities[i]->id, id) == 0)
      return m->presentities[i];
  return NULL;
}

/* The fields' limits: the spec's absence (21) and app (34) lengths, phone states 0-8. */
static int presentity_check(sim_model_t *model, const sim_presentity_t *p,
                            const sim_presentity_t *self, char *errstr, size_t errstr_size) {
  const sim_presentity_t *other = sim_model_presentity_find(model, p->id);
  if (!p->id[0]) {
    snprintf(errstr, errstr_size, "a presentity needs an 'id'");
    return -1;
  }
  if ((other && other != self) || sim_model_user_by_presentity(model, p->id)) {
    snprintf(errstr, errstr_size, "presentity %s is taken (a user or another presentity)", p->id);
    return -1;
  }
  if (p->phonestate < 0 || p->phonestate > 8 || strlen(p->absence_str) > 21 ||
      strlen(p->app) > 34 || p->mb_new < 0) {
    snprintf(errstr, errstr_size,
             "phonestate 0-8, absence_str up to 21 and app up to 34 characters, mb_new >= 0");
    return -1;
  }
  return 0;
}

int sim_model_presentity_add(sim_model_t *model, const json_t *fields, sim_presentity_t **out,
                             char *errstr, size_t errstr_size) {
  sim_presentity_t *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  p->noapphandler = 1;
  if (fields_from_json(p, presentity_fields, NFIELDS(presentity_fields), fields, NULL, NULL,
                       errstr, errstr_size) ||
      presentity_check(model, p, NULL, errstr, errstr_size))
    goto fail;
  if (model->n_presentities == model->cap_presentities) {
    size_t cap = model->cap_presentities ? model->cap_presentities * 2 : 8;
    sim_presentity_t **n = realloc(model->presentities, cap * sizeof *n);
    if (!n) {
      snprintf(errstr, errstr_size, "out of memory");
      goto fail;
    }
    model->presentities = n;
    model->cap_presentities = cap;
  }
  model->presentities[model->n_presentities++] = p;
  if (out)
    *out = p;
  sim_model_notify(model, SIM_EV_PRESENTITY_CHANGED, p);
  return 0;
fail:
  free(p);
  return -1;
}

int sim_model_presentity_patch(sim_model_t *model, sim_presentity_t *p, const json_t *fields,
                               char *errstr, size_t errstr_size) {
  sim_presentity_t copy = *p;
  if (json_object_get(fields, "id")) {
    snprintf(errstr, errstr_size, "a presentity's id cannot change");
    return -1;
  }
  if (fields_from_json(&copy, presentity_fields, NFIELDS(presentity_fields), fields, NULL, NULL,
                       errstr, errstr_size) ||
      presentity_check(model, &copy, p, errstr, errstr_size))
    return -1;
  *p = copy;
  sim_model_notify(model, SIM_EV_PRESENTITY_CHANGED, p);
  return 0;
}

void sim_model_presentity_remove(sim_model_t *model, sim_presentity_t *p) {
  for (size_t i = 0; i < model->n_presentities; i++) {
    if (model->presentities[i] != p)
      continue;
    memmove(&model->presentities[i], &model->presentities[i + 1],
            (model->n_presentities - i - 1) * sizeof p);
    model->n_presentities--;
    /* Watchers look it up again and find an unknown presentity. */
    sim_model_notify(model, SIM_EV_PRESENTITY_CHANGED, p);
    free(p);
    return;
  }
}

json_t *sim_model_presentity_json(const sim_presentity_t *p) {
  json_t *o = json_object();
  fields_to_json(o, p, presentity_fields, NFIELDS(presentity_fields));
  return o;
}

json_t *sim_model_user_json(const sim_user_t *u) {
  char g[CODEC_GUID_STRLEN + 1];
  json_t *o = json_object();
  json_object_set_new(o, "guid", json_string(codec_guid_format(u->guid, SIM_GUID_LEN, g, sizeof g)));
  fields_to_json(o, u, user_fields, NFIELDS(user_fields));
  return o;
}

json_t *sim_model_queue_json(const sim_queue_t *q) {
  char g[CODEC_GUID_STRLEN + 1];
  json_t *o = json_object();
  json_object_set_new(o, "guid", json_string(codec_guid_format(q->guid, SIM_GUID_LEN, g, sizeof g)));
  fields_to_json(o, q, queue_fields, NFIELDS(queue_fields));
  json_t *m = json_array();
  for (int i = 0; i < q->n_members; i++)
    json_array_append_new(m, json_pack("{s:s,s:b}", "extn", q->members[i].extn, "disabled",
                                       q->members[i].disabled));
  json_object_set_new(o, "members", m);
  return o;
}

static json_t *strings_json(const char (*list)[16], size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(list[i]));
  return a;
}

json_t *sim_model_to_json(const sim_model_t *model) {
  json_t *o = json_object();
  json_object_set_new(o, "version", json_string(model->version));
  json_object_set_new(o, "trunk_prefix", json_string(model->trunk_prefix));
  json_t *users = json_array(), *queues = json_array(), *trunks = json_array();
  for (size_t i = 0; i < model->n_users; i++)
    json_array_append_new(users, sim_model_user_json(model->users[i]));
  for (size_t i = 0; i < model->n_queues; i++)
    json_array_append_new(queues, sim_model_queue_json(model->queues[i]));
  for (size_t i = 0; i < model->n_trunks; i++)
    json_array_append_new(trunks, json_string(model->trunks[i]));
  json_object_set_new(o, "users", users);
  json_object_set_new(o, "queues", queues);
  json_t *pres = json_array();
  for (size_t i = 0; i < model->n_presentities; i++)
    json_array_append_new(pres, sim_model_presentity_json(model->presentities[i]));
  json_object_set_new(o, "presentities", pres);
  json_object_set_new(o, "parkslots", strings_json(model->park_slots, model->n_park_slots));
  json_object_set_new(o, "accountcodes", strings_json(model->account_codes, model->n_account_codes));
  json_object_set_new(o, "authcodes", strings_json(model->auth_codes, model->n_auth_codes));
  json_object_set_new(o, "trunks", trunks);
  return o;
}

static sim_model_t *model_new(unsigned seed) {
  sim_model_t *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  m->guid_state = 0x1b873593u ^ ((uint64_t)seed << 20);
  snprintf(m->version, sizeof m->version, "IP Office 12.2.0.0 build 600 (ipo-sim %s)",
           MTCTI3_VERSION);
  snprintf(m->trunk_prefix, sizeof m->trunk_prefix, "9");
  return m;
}

static int strings_from_json(const json_t *arr, char *list, size_t width, size_t *n,
                             const char *what, char *errstr, size_t errstr_size) {
  size_t i;
  json_t *v;
  if (!arr)
    return 0;
  if (!json_is_array(arr) || json_array_size(arr) > MAX_CODES) {
    snprintf(errstr, errstr_size, "'%s' must be an array of at most %d strings", what, MAX_CODES);
    return -1;
  }
  *n = 0;
  json_array_foreach(arr, i, v) {
    if (!json_is_string(v) || strlen(json_string_value(v)) >= width) {
      snprintf(errstr, errstr_size, "%s[%zu]: must be a string shorter than %zu", what, i, width);
      return -1;
    }
    snprintf(list + (*n)++ * width, width, "%s", json_string_value(v));
  }
  return 0;
}

int sim_model_load(const char *path, sim_model_t **model, char *errstr, size_t errstr_size) {
  json_error_t jerr;
  sim_model_t *m = NULL;
  json_t *root = json_load_file(path, 0, &jerr);
  size_t i;
  json_t *v;
  *model = NULL;
  if (!root) {
    snprintf(errstr, errstr_size, "%s:%d: %s", path, jerr.line, jerr.text);
    return -1;
  }
  m = model_new(1);
  if (!m) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  json_t *ver = json_object_get(root, "version");
  if (json_is_string(ver))
    snprintf(m->version, sizeof m->version, "%s", json_string_value(ver));
  json_t *tp = json_object_get(root, "trunk_prefix");
  if (json_is_string(tp))
    snprintf(m->trunk_prefix, sizeof m->trunk_prefix, "%s", json_string_value(tp));
  if (strings_from_json(json_object_get(root, "parkslots"), &m->park_slots[0][0], 16,
                        &m->n_park_slots, "parkslots", errstr, errstr_size) ||
      strings_from_json(json_object_get(root, "accountcodes"), &m->account_codes[0][0], 16,
                        &m->n_account_codes, "accountcodes", errstr, errstr_size) ||
      strings_from_json(json_object_get(root, "authcodes"), &m->auth_codes[0][0], 16,
                        &m->n_auth_codes, "authcodes", errstr, errstr_size) ||
      strings_from_json(json_object_get(root, "trunks"), &m->trunks[0][0], 32, &m->n_trunks,
                        "trunks", errstr, errstr_size))
    goto fail;
  json_array_foreach(json_object_get(root, "users"), i, v) {
    char e[200];
    if (sim_model_user_add(m, v, NULL, e, sizeof e)) {
      snprintf(errstr, errstr_size, "%s: users[%zu]: %s", path, i, e);
      goto fail;
    }
  }
  json_array_foreach(json_object_get(root, "queues"), i, v) {
    char e[200];
    if (sim_model_queue_add(m, v, NULL, e, sizeof e)) {
      snprintf(errstr, errstr_size, "%s: queues[%zu]: %s", path, i, e);
      goto fail;
    }
  }
  json_array_foreach(json_object_get(root, "presentities"), i, v) {
    char e[200];
    if (sim_model_presentity_add(m, v, NULL, e, sizeof e)) {
      snprintf(errstr, errstr_size, "%s: presentities[%zu]: %s", path, i, e);
      goto fail;
    }
  }
  json_decref(root);
  *model = m;
  return 0;
fail:
  json_decref(root);
  sim_model_free(m);
  return -1;
}

static const char *const first_names[] = {"Anna", "Ben", "Chloe", "David", "Emma", "Farid",
                                          "Grace", "Hugo", "Ines", "Jonas", "Kira", "Liam",
                                          "Maya", "Noah", "Olga", "Pavel", "Quinn", "Rosa",
                                          "Sami", "Tara"};
static const char *const last_names[] = {"Berg", "Costa", "Dahl", "Evans", "Fischer", "Garcia",
                                         "Hansen", "Ito", "Jensen", "Kowalski", "Larsen",
                                         "Moreau", "Nagy", "Olsen", "Patel", "Rossi"};
static const char *const languages[] = {"eng", "deu", "fra", "dan", "esp"};
static const char *const queue_names[] = {"Sales", "Support", "Billing", "Reception",
                                          "Technical", "Returns", "Partners", "Priority"};

int sim_model_generate(int users, int queues, unsigned seed, sim_model_t **model, char *errstr,
                       size_t errstr_size) {
  sim_model_t *m = model_new(seed);
  uint64_t rs = seed;
  *model = NULL;
  if (!m) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  for (int i = 0; i < users; i++) {
    sim_user_t *u = malloc(sizeof *u);
    if (!u || user_insert(m, u)) {
      free(u);
      snprintf(errstr, errstr_size, "out of memory");
      goto fail;
    }
    user_defaults(u);
    new_guid(m, u->guid);
    const char *fn = first_names[sim_rand(&rs) % (sizeof first_names / sizeof first_names[0])];
    const char *ln = last_names[sim_rand(&rs) % (sizeof last_names / sizeof last_names[0])];
    snprintf(u->extn, sizeof u->extn, "%d", 2001 + i);
    snprintf(u->name, sizeof u->name, "%s%s", fn, u->extn);
    snprintf(u->fullname, sizeof u->fullname, "%s %s", fn, ln);
    snprintf(u->email, sizeof u->email, "%s.%s%s@example.com", fn, ln, u->extn);
    for (char *p = u->email; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    snprintf(u->language, sizeof u->language, "%s",
             languages[sim_rand(&rs) % (sizeof languages / sizeof languages[0])]);
    snprintf(u->mobile, sizeof u->mobile, "907700900%03d", i % 1000);
    snprintf(u->loggedinextn, sizeof u->loggedinextn, "%s", u->extn);
  }
  for (int k = 0; k < queues; k++) {
    sim_queue_t *q = malloc(sizeof *q);
    if (!q || queue_insert(m, q)) {
      free(q);
      snprintf(errstr, errstr_size, "out of memory");
      goto fail;
    }
    queue_defaults(q);
    new_guid(m, q->guid);
    snprintf(q->extn, sizeof q->extn, "%d", 5001 + k);
    snprintf(q->name, sizeof q->name, "%s",
             queue_names[k % (sizeof queue_names / sizeof queue_names[0])]);
    if (k >= (int)(sizeof queue_names / sizeof queue_names[0]))
      snprintf(q->name, sizeof q->name, "Queue%s", q->extn);
    snprintf(q->email, sizeof q->email, "queue%s@example.com", q->extn);
    q->ringmode = k % 3 == 0 ? 2 : k % 3 == 1 ? 1 : 0;
    /* Members: users spread over the queues, a few in two queues. */
    for (int i = 0; i < users && q->n_members < SIM_MAX_MEMBERS; i++)
      if (i % queues == k || (i % 7 == 0 && (i / 7) % queues == k))
        if (sim_model_member_find(q, m->users[i]->extn) < 0)
          snprintf(q->members[q->n_members++].extn, sizeof q->members[0].extn, "%s",
                   m->users[i]->extn);
  }
  for (int i = 0; i < 10; i++)
    snprintf(m->park_slots[m->n_park_slots++], 16, "%d", 1 + i);
  for (int i = 0; i < 5; i++)
    snprintf(m->account_codes[m->n_account_codes++], 16, "%d", 1001 + i);
  for (int i = 0; i < 3; i++)
    snprintf(m->auth_codes[m->n_auth_codes++], 16, "%d", 9001 + i);
  for (int i = 0; i < 4; i++)
    snprintf(m->trunks[m->n_trunks++], 32, "0170712%04d", 3456 + i);
  reindex(m);
  *model = m;
  return 0;
fail:
  sim_model_free(m);
  return -1;
}

void sim_model_free(sim_model_t *model) {
  if (!model)
    return;
  for (size_t i = 0; i < model->n_users; i++)
    free(model->users[i]);
  for (size_t i = 0; i < model->n_queues; i++)
    free(model->queues[i]);
  for (size_t i = 0; i < model->n_presentities; i++)
    free(model->presentities[i]);
  free(model->users);
  free(model->queues);
  free(model->presentities);
  free(model->ix_user_guid);
  free(model);
}

int sim_model_observe(sim_model_t *model, sim_model_observer_fn fn, void *ctx) {
  if (model->n_observers == MAX_OBSERVERS)
    return -1;
  model->observers[model->n_observers].fn = fn;
  model->observers[model->n_observers++].ctx = ctx;
  return 0;
}

void sim_model_notify(sim_model_t *model, sim_model_event_t ev, void *record) {
  for (int i = 0; i < model->n_observers; i++)
    model->observers[i].fn(model->observers[i].ctx, ev, record);
}

size_t sim_model_user_count(const sim_model_t *m) { return m->n_users; }
sim_user_t *sim_model_user_at(const sim_model_t *m, size_t i) { return i < m->n_users ? m->users[i] : NULL; }
size_t sim_model_queue_count(const sim_model_t *m) { return m->n_queues; }
sim_queue_t *sim_model_queue_at(const sim_model_t *m, size_t i) { return i < m->n_queues ? m->queues[i] : NULL; }

sim_user_t *sim_model_user_by_extn(const sim_model_t *m, const char *extn) {
  if (!extn)
    return NULL;
  IX_FIND(m, m->ix_user_extn, m->users, m->n_users, extn, extn, strlen(extn), extn_cmp);
}

sim_user_t *sim_model_user_by_guid(const sim_model_t *m, const uint8_t *guid, size_t len) {
  if (!guid || len != SIM_GUID_LEN)
    return NULL;
  IX_FIND(m, m->ix_user_guid, m->users, m->n_users, guid, guid, SIM_GUID_LEN, memcmp);
}

sim_user_t *sim_model_user_by_presentity(const sim_model_t *m, const char *p) {
  uint8_t g[SIM_GUID_LEN];
  if (!p || !*p)
    return NULL;
  sim_user_t *by_extn = sim_model_user_by_extn(m, p); /* the usual presentity, indexed */
  if (by_extn)
    return by_extn;
  for (size_t i = 0; i < m->n_users; i++) {
    sim_user_t *u = m->users[i];
    if (strcmp(u->extn, p) == 0 || strcmp(u->name, p) == 0 ||
        (u->email[0] && strcasecmp(u->email, p) == 0))
      return u;
  }
  if (strlen(p) >= 32 && codec_guid_parse(p, g) == 0)
    return sim_model_user_by_guid(m, g, SIM_GUID_LEN);
  return NULL;
}

sim_user_t *sim_model_user_at_extn(const sim_model_t *m, const char *extn) {
  for (size_t i = 0; extn && *extn && i < m->n_users; i++)
    if (strcmp(m->users[i]->loggedinextn, extn) == 0)
      return m->users[i];
  return NULL;
}

sim_queue_t *sim_model_queue_by_extn(const sim_model_t *m, const char *extn) {
  if (!extn)
    return NULL;
  IX_FIND(m, m->ix_queue_extn, m->queues, m->n_queues, extn, extn, strlen(extn), extn_cmp);
}

sim_queue_t *sim_model_queue_by_guid(const sim_model_t *m, const uint8_t *guid, size_t len) {
  if (!guid || len != SIM_GUID_LEN)
    return NULL;
  IX_FIND(m, m->ix_queue_guid, m->queues, m->n_queues, guid, guid, SIM_GUID_LEN, memcmp);
}

sim_queue_t *sim_model_queue_by_name(const sim_model_t *m, const char *name) {
  for (size_t i = 0; name && *name && i < m->n_queues; i++)
    if (strcmp(m->queues[i]->name, name) == 0)
      return m->queues[i];
  return NULL;
}

int sim_model_member_find(const sim_queue_t *q, const char *extn) {
  for (int i = 0; i < q->n_members; i++)
    if (strcmp(q->members[i].extn, extn) == 0)
      return i;
  return -1;
}

const char *sim_model_version(const sim_model_t *m) { return m->version; }
const char *sim_model_trunk_prefix(const sim_model_t *m) { return m->trunk_prefix; }

int sim_model_is_account_code(const sim_model_t *m, const char *code) {
  for (size_t i = 0; i < m->n_account_codes; i++)
    if (strcmp(m->account_codes[i], code) == 0)
      return 1;
  return 0;
}

int sim_model_is_auth_code(const sim_model_t *m, const char *code) {
  for (size_t i = 0; i < m->n_auth_codes; i++)
    if (strcmp(m->auth_codes[i], code) == 0)
      return 1;
  return 0;
}

char *sim_model_account_codes_text(const sim_model_t *m) {
  char *out = malloc(m->n_account_codes * 17 + 1);
  size_t n = 0;
  if (!out)
    return NULL;
  for (size_t i = 0; i < m->n_account_codes; i++)
    n += (size_t)sprintf(out + n, "%s\n", m->account_codes[i]);
  out[n] = '\0';
  return out;
}

size_t sim_model_park_slot_count(const sim_model_t *m) { return m->n_park_slots; }
const char *sim_model_park_slot_at(const sim_model_t *m, size_t i) { return i < m->n_park_slots ? m->park_slots[i] : NULL; }
size_t sim_model_trunk_count(const sim_model_t *m) { return m->n_trunks; }
const char *sim_model_trunk_at(const sim_model_t *m, size_t i) { return i < m->n_trunks ? m->trunks[i] : NULL; }
