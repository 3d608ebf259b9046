/*
 * sim_model: the PBX configuration and user state the simulator serves.
 *
 * DESIGN: users (with DND, absence, forwarding, twinning, app presence,
 * mailbox, where they are logged in), queues (ring mode, members, service
 * mode), presence-only entities (presentities a presence subscription can
 * name that are not users: their state is set through the control API),
 * park slots, account and auth codes, the trunk dialling prefix and the
 * version string.  Loaded from a JSON file or generated from a seed (the
 * same seed gives the same model).  Runs on the service thread only.  Records
 * are plain structs other modules read and change; whoever changes one calls
 * sim_model_notify so the observers (subscriptions, call engine) can react.
 * One field table per record type drives JSON load, dump and PATCH.
 */
#ifndef SIM_MODEL_H
#define SIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SIM_GUID_LEN 16
#define SIM_MAX_MEMBERS 128
#define SIM_MAX_DND_EXC 8

typedef struct sim_user {
  uint8_t guid[SIM_GUID_LEN];
  char extn[16];
  char name[64];
  char fullname[64];
  char email[96];
  char language[8];
  int featuresavailable;   /* CODEC_UF_* */
  int voicemail;
  int dnd;
  int barred;
  int xdirectory;
  int extnfault;
  int pots;                /* an analogue phone: CTI cannot take it off hook */
  int ec500;
  char mobile[32];         /* twinning destination for EC500 */
  int fwdu, fwdb, fwdna, fwdhg, fwdtovm, offswitch;
  char fwdunumber[32];
  char fwdbnumber[32];
  int absence_set;
  int absence_msg;
  char absence_str[32];
  char app[40];
  int mb_new, mb_old, mb_saved;
  char loggedinextn[16];   /* "" when logged off */
  char teleworker[32];     /* hot-desked as a teleworker: calls go to this number ("": no) */
  int holdlineopen;        /* the teleworker line stays open: calls connect at once */
  int noanswertime;
  int n_dnd_exc;
  char dnd_exc[SIM_MAX_DND_EXC][32];
  /* Run-time state, not configuration. */
  int app_handlers;        /* subscriptions with ACTIVAPP set */
  int n_legs;              /* call appearances in use (kept by sim_calls) */
  int64_t idle_since_ms;   /* for ring mode "ring idle" */
} sim_user_t;

typedef struct sim_member {
  char extn[16];
  int disabled;
} sim_member_t;

typedef struct sim_queue {
  uint8_t guid[SIM_GUID_LEN];
  char extn[16];
  char name[64];
  char email[96];
  int ringmode;            /* 0 ring idle (longest idle), 1 sequential, 2 group */
  int noanswertime;        /* seconds ringing one agent before retargeting */
  int voicemail;
  int voicemailtime;
  int servicemode;         /* NotifyQueue.ServiceMode: 1 Active, 2 NS, 3 OOS */
  int n_members;
  sim_member_t members[SIM_MAX_MEMBERS];
  int mb_new, mb_old, mb_saved;
  int last_target;         /* sequential ring mode: index of the last member tried */
} sim_queue_t;

/*
 * A presence-only entity: something a presence subscription can watch that
 * is not a user of this system (a federated or remote presentity).  Its
 * state is whatever the control API sets.
 */
typedef struct sim_presentity {
  char id[128];            /* the presentity identifier, as subscriptions name it */
  int dnd;                 /* NotifyPresentity.sac */
  int phonestate;          /* 0 idle ... 8 unknown (the spec's phone states) */
  int absence_set;
  int absence_msg;
  char absence_str[32];
  char app[40];
  int fwdu;
  int mb_new;              /* vmunread_messages */
  int noapphandler;        /* no application can control its app presence */
} sim_presentity_t;

typedef enum sim_model_event {
  SIM_EV_USER_ADDED,
  SIM_EV_USER_REMOVED,     /* sent before the record is freed */
  SIM_EV_USER_RENAMED,     /* extn or name: the lines list changes */
  SIM_EV_USER_CHANGED,     /* any other field */
  SIM_EV_QUEUE_ADDED,
  SIM_EV_QUEUE_REMOVED,
  SIM_EV_QUEUE_RENAMED,
  SIM_EV_QUEUE_CHANGED,
  SIM_EV_PRESENTITY_CHANGED /* added, changed or (before it is freed) removed */
} sim_model_event_t;

typedef struct sim_model sim_model_t;
typedef void (*sim_model_observer_fn)(void *ctx, sim_model_event_t ev, void *record);

/* A generated model; *model owned by the caller (sim_model_free). */
int sim_model_generate(int users, int queues, unsigned seed, sim_model_t **model, char *errstr,
                       size_t errstr_size);
/* A model from a JSON file (format in docs/sim.md); *model owned by the caller. */
int sim_model_load(const char *path, sim_model_t **model, char *errstr, size_t errstr_size);
void sim_model_free(sim_model_t *model);
/* The whole model as JSON, in the load format (a new reference). */
json_t *sim_model_to_json(const sim_model_t *model);

int sim_model_observe(sim_model_t *model, sim_model_observer_fn fn, void *ctx);
void sim_model_notify(sim_model_t *model, sim_model_event_t ev, void *record);

size_t sim_model_user_count(const sim_model_t *model);
sim_user_t *sim_model_user_at(const sim_model_t *model, size_t i);
size_t sim_model_queue_count(const sim_model_t *model);
sim_queue_t *sim_model_queue_at(const sim_model_t *model, size_t i);

sim_user_t *sim_model_user_by_extn(const sim_model_t *model, const char *extn);
sim_user_t *sim_model_user_by_guid(const sim_model_t *model, const uint8_t *guid, size_t len);
/* A presence identity: extension, name, email or GUID text. */
sim_user_t *sim_model_user_by_presentity(const sim_model_t *model, const char *presentity);
/* The user logged in at extension `extn`, or NULL. */
sim_user_t *sim_model_user_at_extn(const sim_model_t *model, const char *extn);
sim_queue_t *sim_model_queue_by_extn(const sim_model_t *model, const char *extn);
sim_queue_t *sim_model_queue_by_guid(const sim_model_t *model, const uint8_t *guid, size_t len);
sim_queue_t *sim_model_queue_by_name(const sim_model_t *model, const char *name);

/* Add from JSON fields (extn required; guid generated when absent); notifies ADDED. */
int sim_model_user_add(sim_model_t *model, const json_t *fields, sim_user_t **user, char *errstr,
                       size_t errstr_size);
int sim_model_queue_add(sim_model_t *model, const json_t *fields, sim_queue_t **queue,
                        char *errstr, size_t errstr_size);
/* Change fields from JSON; notifies RENAMED or CHANGED. */
int sim_model_user_patch(sim_model_t *model, sim_user_t *user, const json_t *fields, char *errstr,
                         size_t errstr_size);
int sim_model_queue_patch(sim_model_t *model, sim_queue_t *queue, const json_t *fields,
                          char *errstr, size_t errstr_size);
/* Remove (notifies REMOVED first, then frees the record). */
void sim_model_user_remove(sim_model_t *model, sim_user_t *user);
void sim_model_queue_remove(sim_model_t *model, sim_queue_t *queue);
/* One record as JSON, in the load format (a new reference). */
json_t *sim_model_user_json(const sim_user_t *user);
json_t *sim_model_queue_json(const sim_queue_t *queue);

/* Presence-only entities: lookup (case-insensitive id), add, patch, remove; as for users. */
sim_presentity_t *sim_model_presentity_find(const sim_model_t *model, const char *id);
int sim_model_presentity_add(sim_model_t *model, const json_t *fields, sim_presentity_t **p,
                             char *errstr, size_t errstr_size);
int sim_model_presentity_patch(sim_model_t *model, sim_presentity_t *p, const json_t *fields,
                               char *errstr, size_t errstr_size);
void sim_model_presentity_remove(sim_model_t *model, sim_presentity_t *p);
json_t *sim_model_presentity_json(const sim_presentity_t *p);

/* Queue membership helpers: index of extn in queue, or -1. */
int sim_model_member_find(const sim_queue_t *queue, const char *extn);

const char *sim_model_version(const sim_model_t *model);
const char *sim_model_trunk_prefix(const sim_model_t *model);
int sim_model_is_account_code(const sim_model_t *model, const char *code);
int sim_model_is_auth_code(const sim_model_t *model, const char *code);
/* Account codes, one a line (the nasystem/AccountCode pseudo-file); malloc'd, caller frees. */
char *sim_model_account_codes_text(const sim_model_t *model);
size_t sim_model_park_slot_count(const sim_model_t *model);
const char *sim_model_park_slot_at(const sim_model_t *model, size_t i);
/* Inbound DID numbers of the trunks (for the load generator's callers). */
size_t sim_model_trunk_count(const sim_model_t *model);
const char *sim_model_trunk_at(const sim_model_t *model, size_t i);

/* Deterministic PRNG used by generation and the load generator. */
uint32_t sim_rand(uint64_t *state);

#endif
