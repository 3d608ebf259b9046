/*
 * subs: subscription manager.  See subs.h for the design.
 */
#include "subs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blog.h"
#include "codec_ids.h"
#include "codec_tables.h"
#include "metrics.h"
#include "strmap.h"

typedef enum subs_state { SUBS_WAITING, SUBS_REQUESTED, SUBS_ACTIVE, SUBS_FAILED } subs_state_t;
static const char *const subs_state_name[] = {"waiting", "requested", "active", "failed"};
static const char *const subs_kind_name[] = {"lines", "user", "queue", "presence", "parkserver"};

typedef enum subs_req { SUBS_REQ_NONE, SUBS_REQ_SUBSCRIBE, SUBS_REQ_REFRESH } subs_req_t;

/*
 * RequestResponse codes after which a retry can help (the PBX was busy or
 * slow); every other error leaves the subscription failed until the next
 * connection or Lines change.
 */
static const int subs_retryable[] = {
    MTCTISESS_ERRUNKNOWN,      MTCTISESS_TOOMANY,        MTCTISESS_SERVICE_NOT_AVAILABLE,
    MTCTISESS_REQUESTFAILED,   MTCTISESS_REQUESTTIMEOUT, MTCTISESS_SUBSCRIPTION_INVALID_ID,
    MTCTISESS_PRESENCE_ERRUNKNOWN,
};

typedef struct subs_entry {
  subs_kind_t kind;
  int32_t subscribe_id;
  char guid[64]; /* UUID text, "parkserver", "" for lines and presence */
  uint8_t guid_bytes[CODEC_GUID_LEN];
  size_t guid_len;
  char extn[64];
  int32_t lref; /* users: reference in the presence subscription */
  subs_state_t state;
  subs_req_t want;  /* queued for this request */
  subs_req_t doing; /* the request in flight */
  int32_t requestid;
  int64_t deadline_ms, retry_at_ms, refresh_at_ms, settle_at_ms;
  unsigned failures;
  int notified, settled;
  int initial; /* from the connection's first Lines list (or lines, presence, park) */
  int64_t active_ms;      /* the subscribe's SUCCESS came then (0: not yet) */
  int64_t first_acked_ms; /* its first Notify was acknowledged then (0: not yet) */
  int cc_seen;            /* a call report came on this subscription */
  int32_t refresh_last;   /* refreshinstance of its last call report */
  struct subs_entry *fifo_next;
} subs_entry_t;

struct subs {
  const config_t *config;
  metrics_pbx_t *metrics; /* its PBX's series (owned by the metrics); a pair's two systems share them */
  subs_handlers_t handlers;
  void *opaque;
  strmap_t by_id;   /* "<subscribe_id>" -> entry */
  strmap_t by_guid; /* guid -> user or queue entry */
  strmap_t by_lref; /* "<lref>" -> user entry */
  strmap_t requests; /* "<requestid>" -> entry */
  subs_entry_t *lines, *presence, *park;
  subs_entry_t *fifo_head, *fifo_tail;
  size_t inflight;
  int32_t next_subscribe_id, next_lref;
  int connected, lines_seen, resync_reported;
  char **presentities; /* presence_entities, watched with lref SUBS_PRESENTITY_LREF + index */
  size_t n_presentities;
};

/* The lrefs of presence-only entities: far above the users' (1, 2, ...). */
#define SUBS_PRESENTITY_LREF 0x40000000
/*
 * The calls already up come this soon after the record's NotifyAck (the
 * park server's: its RequestResponse): the PBX sends them at once.  A first
 * call report later than that is a call that started since.
 */
#define SUBS_CALLS_UP_MS 500
/* The longest presence-only entity's name watched (it is a Kafka key and in an entity id). */
#define SUBS_PRESENTITY_MAX 255

static void subs_key(char *out, size_t size, int32_t n) { snprintf(out, size, "%d", n); }

/* presence_entities: comma-separated, blanks around each trimmed, empty ones skipped.  0, or -1 (out of memory). */
static int subs_presentities_parse(subs_t *subs, const char *list) {
  const char *p = list ? list : "";
  while (*p) {
    size_t len = strcspn(p, ",");
    const char *a = p, *b = p + len;
    while (a < b && (*a == ' ' || *a == '\t'))
      a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
      b--;
    if (b - a > SUBS_PRESENTITY_MAX) {
      BLOG_W(SUBS, "presence", "presence_entities: \"%.32s...\" is longer than %d characters: not watched",
             a, SUBS_PRESENTITY_MAX);
    } else if (b > a) {
      char **grown = realloc(subs->presentities, (subs->n_presentities + 1) * sizeof(*grown));
      if (!grown)
        return -1;
      subs->presentities = grown;
      if (!(subs->presentities[subs->n_presentities] = strndup(a, (size_t)(b - a))))
        return -1;
      subs->n_presentities++;
    }
    p += len + (p[len] == ',');
  }
  return 0;
}

subs_t *subs_new(const config_t *config, const subs_handlers_t *handlers, void *opaque) {
  subs_t *subs = calloc(1, sizeof(*subs));
  if (!subs)
    return NULL;
  subs->config = config;
  subs->metrics = metrics_pbx(config->pbx_id);
  subs->handlers = *handlers;
  subs->opaque = opaque;
  subs->next_subscribe_id = 1;
  subs->next_lref = 1;
  if (subs_presentities_parse(subs, config->presence_entities) != 0) {
    subs_destroy(subs);
    return NULL;
  }
  return subs;
}

static void subs_clear(subs_t *subs) {
  strmap_clear(&subs->requests, NULL);
  strmap_clear(&subs->by_guid, NULL);
  strmap_clear(&subs->by_lref, NULL);
  strmap_clear(&subs->by_id, free);
  subs->lines = subs->presence = subs->park = NULL;
  subs->fifo_head = subs->fifo_tail = NULL;
  subs->inflight = 0;
  metrics_pbx_set(subs->metrics, METRICS_SUBSCRIBE_INFLIGHT, 0);
  subs->lines_seen = subs->resync_reported = 0;
}

void subs_destroy(subs_t *subs) {
  if (!subs)
    return;
  subs_clear(subs);
  for (size_t i = 0; i < subs->n_presentities; i++)
    free(subs->presentities[i]);
  free(subs->presentities);
  free(subs);
}

static void subs_enqueue(subs_t *subs, subs_entry_t *entry, subs_req_t want) {
  if (entry->want != SUBS_REQ_NONE) { /* already queued: a subscribe beats a refresh */
    if (want == SUBS_REQ_SUBSCRIBE)
      entry->want = want;
    return;
  }
  entry->want = want;
  entry->fifo_next = NULL;
  if (subs->fifo_tail)
    subs->fifo_tail->fifo_next = entry;
  else
    subs->fifo_head = entry;
  subs->fifo_tail = entry;
}

static void subs_fifo_remove(subs_t *subs, subs_entry_t *entry) {
  subs_entry_t *prev = NULL;
  for (subs_entry_t *e = subs->fifo_head; e; prev = e, e = e->fifo_next) {
    if (e == entry) {
      if (prev)
        prev->fifo_next = e->fifo_next;
      else
        subs->fifo_head = e->fifo_next;
      if (subs->fifo_tail == e)
        subs->fifo_tail = prev;
      break;
    }
  }
  entry->want = SUBS_REQ_NONE;
}

static void subs_request_forget(subs_t *subs, subs_entry_t *entry) {
  if (entry->doing == SUBS_REQ_NONE)
    return;
  char k[16];
  subs_key(k, sizeof(k), entry->requestid);
  if (strmap_get(&subs->requests, k) == entry)
    strmap_del(&subs->requests, k);
  entry->doing = SUBS_REQ_NONE;
  subs->inflight--;
  metrics_pbx_set(subs->metrics, METRICS_SUBSCRIBE_INFLIGHT, (int64_t)subs->inflight);
}

static subs_entry_t *subs_entry_new(subs_t *subs, subs_kind_t kind) {
  subs_entry_t *entry = calloc(1, sizeof(*entry));
  char k[16];
  if (!entry)
    return NULL;
  entry->kind = kind;
  entry->subscribe_id = subs->next_subscribe_id++;
  subs_key(k, sizeof(k), entry->subscribe_id);
  if (strmap_put(&subs->by_id, k, entry) != 0) {
    free(entry);
    return NULL;
  }
  return entry;
}

/* A fresh subscription for an entry (new subscribe_id), queued. */
static void subs_restart(subs_t *subs, subs_entry_t *entry) {
  char k[16];
  subs_request_forget(subs, entry);
  subs_key(k, sizeof(k), entry->subscribe_id);
  strmap_del(&subs->by_id, k);
  entry->subscribe_id = subs->next_subscribe_id++;
  subs_key(k, sizeof(k), entry->subscribe_id);
  strmap_put(&subs->by_id, k, entry);
  entry->state = SUBS_WAITING;
  entry->notified = entry->settled = 0;
  entry->active_ms = 0;
  entry->first_acked_ms = 0;
  entry->cc_seen = 0;
  entry->refresh_last = 0;
  if (entry->kind == SUBS_USER || entry->kind == SUBS_QUEUE || entry->kind == SUBS_PARKSERVER)
    subs->handlers.line_fresh(subs->opaque, entry->guid);
  subs_enqueue(subs, entry, SUBS_REQ_SUBSCRIBE);
  subs->resync_reported = 0;
}

static void subs_presence_fill(subs_t *subs, SubscribePresence *sp, Presentity ***entries) {
  size_t n = 0;
  size_t users = strmap_count(&subs->by_lref) + subs->n_presentities;
  *entries = calloc(users ? users : 1, sizeof(Presentity *));
  Presentity *items = calloc(users ? users : 1, sizeof(Presentity));
  if (!*entries || !items) {
    free(*entries);
    free(items);
    *entries = NULL;
    return;
  }
  for (strmap_iter_t it = strmap_iter(&subs->by_lref); strmap_iter_next(&it);) {
    subs_entry_t *user = it.value;
    if (!user->extn[0])
      continue;
    presentity__init(&items[n]);
    items[n].presentity = user->extn;
    items[n].lref = user->lref;
    (*entries)[n] = &items[n];
    n++;
  }
  for (size_t i = 0; i < subs->n_presentities; i++) {
    presentity__init(&items[n]);
    items[n].presentity = subs->presentities[i];
    items[n].lref = SUBS_PRESENTITY_LREF + (int32_t)i;
    (*entries)[n] = &items[n];
    n++;
  }
  sp->n_entry = n;
  sp->entry = *entries;
}

/* Send the entry's queued request. */
static int subs_send(subs_t *subs, subs_entry_t *entry, subs_req_t req, int64_t now_ms) {
  Message msg = MESSAGE__INIT;
  Subscribe sub = SUBSCRIBE__INIT;
  SubscribeLines lines = SUBSCRIBE_LINES__INIT;
  SubscribeUser user = SUBSCRIBE_USER__INIT;
  SubscribeQueue queue = SUBSCRIBE_QUEUE__INIT;
  SubscribePresence presence = SUBSCRIBE_PRESENCE__INIT;
  SubscribeParkServer park = SUBSCRIBE_PARK_SERVER__INIT;
  Presentity **entries = NULL;
  const config_t *config = subs->config;

  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBE;
  msg.subscribe = &sub;
  sub.requestid = subs->handlers.requestid(subs->opaque);
  sub.subscribe_id = entry->subscribe_id;
  sub.timeout = (int32_t)config->subscribe_timeout;
  if (req == SUBS_REQ_SUBSCRIBE) {
    switch (entry->kind) {
    case SUBS_LINES:
      sub.payload_case = SUBSCRIBE__PAYLOAD_LINES;
      sub.lines = &lines;
      lines.flags = CODEC_LF_USERS | CODEC_LF_QUEUES | CODEC_LF_PARKSERVER;
      break;
    case SUBS_USER:
      sub.payload_case = SUBSCRIBE__PAYLOAD_USER;
      sub.user = &user;
      user.guid.data = entry->guid_bytes;
      user.guid.len = entry->guid_len;
      user.flags = (int32_t)config->user_flags;
      user.ccflags = (int32_t)config->user_ccflags;
      break;
    case SUBS_QUEUE:
      sub.payload_case = SUBSCRIBE__PAYLOAD_QUEUE;
      sub.queue = &queue;
      queue.guid.data = entry->guid_bytes;
      queue.guid.len = entry->guid_len;
      queue.flags = (int32_t)config->queue_flags;
      queue.ccflags = (int32_t)config->queue_ccflags;
      break;
    case SUBS_PRESENCE:
      sub.payload_case = SUBSCRIBE__PAYLOAD_PRESENCE;
      sub.presence = &presence;
      presence.flags = (int32_t)config->presence_flags;
      subs_presence_fill(subs, &presence, &entries);
      break;
    case SUBS_PARKSERVER:
      sub.payload_case = SUBSCRIBE__PAYLOAD_PARKSERVER;
      sub.parkserver = &park;
      park.ccflags = (int32_t)config->parkserver_ccflags;
      break;
    }
  }
  int rc = subs->handlers.send(subs->opaque, &msg);
  if (entries) {
    free(entries[0]);
    free(entries);
  }
  if (rc != 0)
    return -1;
  char k[16];
  subs_key(k, sizeof(k), sub.requestid);
  strmap_put(&subs->requests, k, entry);
  entry->requestid = sub.requestid;
  entry->doing = req;
  entry->deadline_ms = now_ms + subs->config->request_timeout_ms;
  if (req == SUBS_REQ_SUBSCRIBE)
    entry->state = SUBS_REQUESTED;
  subs->inflight++;
  metrics_pbx_set(subs->metrics, METRICS_SUBSCRIBE_INFLIGHT, (int64_t)subs->inflight);
  if ((int64_t)subs->inflight > metrics_pbx_get(subs->metrics, METRICS_SUBSCRIBE_INFLIGHT_PEAK))
    metrics_pbx_set(subs->metrics, METRICS_SUBSCRIBE_INFLIGHT_PEAK, (int64_t)subs->inflight);
  BLOG_D(SUBS, subs_kind_name[entry->kind], "%s subscribe_id=%d requestid=%d %s",
         req == SUBS_REQ_SUBSCRIBE ? "subscribe" : "refresh", entry->subscribe_id, sub.requestid,
         entry->guid);
  return 0;
}

static void subs_pump(subs_t *subs, int64_t now_ms) {
  while (subs->connected && subs->fifo_head && subs->inflight < (size_t)subs->config->subscribe_window) {
    subs_entry_t *entry = subs->fifo_head;
    subs->fifo_head = entry->fifo_next;
    if (!subs->fifo_head)
      subs->fifo_tail = NULL;
    subs_req_t want = entry->want;
    entry->want = SUBS_REQ_NONE;
    if (entry->doing != SUBS_REQ_NONE) /* a request is still out: supersede it */
      subs_request_forget(subs, entry);
    if (subs_send(subs, entry, want, now_ms) != 0) {
      subs_enqueue(subs, entry, want); /* link down: the next connection starts over anyway */
      break;
    }
  }
}

void subs_connected(subs_t *subs, int64_t now_ms) {
  subs_clear(subs);
  subs->connected = 1;
  subs->lines = subs_entry_new(subs, SUBS_LINES);
  if (subs->lines)
    subs->lines->initial = 1;
  if (subs->lines)
    subs_enqueue(subs, subs->lines, SUBS_REQ_SUBSCRIBE);
  subs_pump(subs, now_ms);
}

void subs_disconnected(subs_t *subs) {
  subs->connected = 0;
  subs_clear(subs);
}

/*
 * Is a call report the PBX's answer to the subscription (the calls already
 * up), or a refresh (its refreshinstance went up)?  Sets target->snapshot
 * and target->refresh.
 */
static void subs_call_report(subs_t *subs, subs_entry_t *entry, const Notify *notify, int64_t now_ms,
                             subs_target_t *target) {
  int32_t instance = notify->callcontrol ? notify->callcontrol->refreshinstance : 0;
  if (entry->cc_seen) {
    if (instance > entry->refresh_last) { /* the PBX resends this line's calls */
      target->snapshot = 1;
      target->refresh = instance;
    }
  } else {
    /*
     * The PBX answers a subscription with its record, then (once that is
     * acknowledged) with the calls up; the park server with its calls at
     * once.  So the calls already up come right after: soon after the
     * record's NotifyAck, or the park server's RequestResponse.  A line
     * added later had no calls when subscribed: its first report is a new call.
     */
    int park = entry->kind == SUBS_PARKSERVER;
    int right_after = park ? notify->notify_id == 1 : notify->notify_id == 2;
    int64_t since = park ? entry->active_ms : entry->first_acked_ms;
    int soon = !since || now_ms - since <= SUBS_CALLS_UP_MS;
    target->snapshot = entry->initial && right_after && soon;
  }
  entry->cc_seen = 1;
  if (instance > entry->refresh_last)
    entry->refresh_last = instance;
}

int subs_notify(subs_t *subs, const Notify *notify, int64_t now_ms, subs_target_t *target) {
  char k[16];
  subs_key(k, sizeof(k), notify->subscribe_id);
  subs_entry_t *entry = strmap_get(&subs->by_id, k);
  if (!entry)
    return -1;
  target->kind = entry->kind;
  target->guid = entry->guid;
  target->extn = entry->extn;
  target->first = !entry->notified;
  target->snapshot = 0;
  target->refresh = 0;
  switch (notify->payload_case) {
  case NOTIFY__PAYLOAD_CALLCONTROL:
    subs_call_report(subs, entry, notify, now_ms, target);
    break;
  case NOTIFY__PAYLOAD_PRESENCE: /* full=1 again: the PBX resends every entry (a refresh) */
    target->snapshot = target->first || (notify->presence && notify->presence->full);
    break;
  default: /* Lines, a user's or queue's record */
    target->snapshot = target->first && entry->initial;
    break;
  }
  /* the first Notify (the snapshot) restarts the grace; later ones do not,
     so a busy line settles too */
  if (!entry->notified && !entry->settled)
    entry->settle_at_ms = now_ms + subs->config->resync_grace_ms;
  entry->notified = 1;
  return 0;
}

void subs_notify_acked(subs_t *subs, int32_t subscribe_id, int32_t notify_id, int64_t now_ms) {
  char k[16];
  subs_key(k, sizeof(k), subscribe_id);
  subs_entry_t *entry = strmap_get(&subs->by_id, k);
  if (entry && notify_id == 1 && !entry->first_acked_ms)
    entry->first_acked_ms = now_ms;
}

const char *subs_presence_entity(const subs_t *subs, int32_t lref, const char *presentity) {
  if (lref >= SUBS_PRESENTITY_LREF && (size_t)(lref - SUBS_PRESENTITY_LREF) < subs->n_presentities)
    return subs->presentities[lref - SUBS_PRESENTITY_LREF];
  for (size_t i = 0; presentity && *presentity && i < subs->n_presentities; i++)
    if (strcmp(subs->presentities[i], presentity) == 0)
      return subs->presentities[i];
  return NULL;
}

const char *subs_presence_user(subs_t *subs, int32_t lref, const char *presentity, const char **extn) {
  char k[16];
  subs_entry_t *user = NULL;
  if (lref) {
    subs_key(k, sizeof(k), lref);
    user = strmap_get(&subs->by_lref, k);
  }
  if (!user && presentity && *presentity) {
    for (strmap_iter_t it = strmap_iter(&subs->by_lref); strmap_iter_next(&it);) {
      subs_entry_t *u = it.value;
      if (strcmp(u->extn, presentity) == 0) {
        user = u;
        break;
      }
    }
  }
  if (!user)
    return NULL;
  if (extn)
    *extn = user->extn;
  return user->guid;
}

/* Add or remove one presentity on the live presence subscription. */
static void subs_presence_update(subs_t *subs, subs_entry_t *user, int add) {
  if (!subs->presence || subs->presence->state == SUBS_WAITING || !user->extn[0])
    return;
  if (subs->presence->want == SUBS_REQ_SUBSCRIBE)
    return; /* the queued subscribe will list the current users */
  Message msg = MESSAGE__INIT;
  SubscribeCmd cmd = SUBSCRIBE_CMD__INIT;
  UpdatePresence update = UPDATE_PRESENCE__INIT;
  Presentity p = PRESENTITY__INIT, *list[1] = {&p};
  msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBECMD;
  msg.subscribecmd = &cmd;
  cmd.subscribe_id = subs->presence->subscribe_id;
  cmd.payload_case = SUBSCRIBE_CMD__PAYLOAD_PRESENCE;
  cmd.presence = &update;
  p.presentity = user->extn;
  p.lref = user->lref;
  if (add) {
    update.n_add = 1;
    update.add = list;
  } else {
    update.n_remove = 1;
    update.remove = list;
  }
  subs->handlers.send(subs->opaque, &msg);
}

static void subs_line_add(subs_t *subs, subs_kind_t kind, const ProtobufCBinaryData *guid,
                          const char *extn, int initial) {
  char text[64];
  codec_guid_format(guid->data, guid->len, text, sizeof(text));
  subs_entry_t *entry = strmap_get(&subs->by_guid, text);
  if (entry) { /* known: a change of extension or name */
    if (strcmp(entry->extn, extn ? extn : "") != 0) {
      if (kind == SUBS_USER)
        subs_presence_update(subs, entry, 0);
      snprintf(entry->extn, sizeof(entry->extn), "%s", extn ? extn : "");
      if (kind == SUBS_USER)
        subs_presence_update(subs, entry, 1);
    }
    return;
  }
  entry = subs_entry_new(subs, kind);
  if (!entry)
    return;
  snprintf(entry->guid, sizeof(entry->guid), "%s", text);
  entry->guid_len = guid->len < CODEC_GUID_LEN ? guid->len : CODEC_GUID_LEN;
  memcpy(entry->guid_bytes, guid->data, entry->guid_len);
  snprintf(entry->extn, sizeof(entry->extn), "%s", extn ? extn : "");
  entry->initial = initial;
  strmap_put(&subs->by_guid, entry->guid, entry);
  if (kind == SUBS_USER) {
    char k[16];
    entry->lref = subs->next_lref++;
    subs_key(k, sizeof(k), entry->lref);
    strmap_put(&subs->by_lref, k, entry);
    subs_presence_update(subs, entry, 1);
  }
  subs->handlers.line_fresh(subs->opaque, entry->guid);
  subs_enqueue(subs, entry, SUBS_REQ_SUBSCRIBE);
}

/* End the subscription of a line that is gone, and forget it. */
static void subs_line_remove(subs_t *subs, subs_entry_t *entry) {
  char k[16];
  if (entry->state == SUBS_REQUESTED || entry->state == SUBS_ACTIVE) {
    Message msg = MESSAGE__INIT;
    SubscribeEnd end = SUBSCRIBE_END__INIT;
    msg.payload_case = MESSAGE__PAYLOAD_SUBSCRIBEEND;
    msg.subscribeend = &end;
    end.requestid = subs->handlers.requestid(subs->opaque);
    end.subscribe_id = entry->subscribe_id;
    end.reason = "line deleted";
    subs->handlers.send(subs->opaque, &msg);
  }
  if (entry->kind == SUBS_USER) {
    subs_presence_update(subs, entry, 0);
    subs_key(k, sizeof(k), entry->lref);
    strmap_del(&subs->by_lref, k);
  }
  subs_request_forget(subs, entry);
  if (entry->want != SUBS_REQ_NONE)
    subs_fifo_remove(subs, entry);
  strmap_del(&subs->by_guid, entry->guid);
  subs_key(k, sizeof(k), entry->subscribe_id);
  strmap_del(&subs->by_id, k);
  BLOG_I(SUBS, subs_kind_name[entry->kind], "line %s (%s) deleted: subscription ended", entry->guid,
         entry->extn);
  free(entry);
}

void subs_lines(subs_t *subs, const NotifyLines *lines, int full, int64_t now_ms) {
  strmap_t listed = STRMAP_INIT;
  char text[64];
  if (full && !subs->presence && (lines->n_adduser || subs->n_presentities)) {
    /* presence first: every user's phone state is known when its record comes (one first event) */
    subs->presence = subs_entry_new(subs, SUBS_PRESENCE);
    if (subs->presence)
      subs_enqueue(subs, subs->presence, SUBS_REQ_SUBSCRIBE);
  }
  for (size_t i = 0; i < lines->n_adduser; i++)
    subs_line_add(subs, SUBS_USER, &lines->adduser[i]->guid, lines->adduser[i]->extn, full);
  for (size_t i = 0; i < lines->n_addqueue; i++)
    subs_line_add(subs, SUBS_QUEUE, &lines->addqueue[i]->guid, lines->addqueue[i]->extn, full);
  for (size_t i = 0; i < lines->n_changeuser; i++)
    subs_line_add(subs, SUBS_USER, &lines->changeuser[i]->guid, lines->changeuser[i]->extn, full);
  for (size_t i = 0; i < lines->n_changequeue; i++)
    subs_line_add(subs, SUBS_QUEUE, &lines->changequeue[i]->guid, lines->changequeue[i]->extn, full);
  for (size_t i = 0; i < lines->n_deleteuser + lines->n_deletequeue; i++) {
    const ProtobufCBinaryData *g = i < lines->n_deleteuser
                                       ? &lines->deleteuser[i]->guid
                                       : &lines->deletequeue[i - lines->n_deleteuser]->guid;
    codec_guid_format(g->data, g->len, text, sizeof(text));
    subs_entry_t *entry = strmap_get(&subs->by_guid, text);
    if (entry)
      subs_line_remove(subs, entry);
  }
  if (full) {
    /* lines not listed in a full Notify are gone */
    for (size_t i = 0; i < lines->n_adduser; i++) {
      codec_guid_format(lines->adduser[i]->guid.data, lines->adduser[i]->guid.len, text, sizeof(text));
      strmap_put(&listed, text, subs);
    }
    for (size_t i = 0; i < lines->n_addqueue; i++) {
      codec_guid_format(lines->addqueue[i]->guid.data, lines->addqueue[i]->guid.len, text, sizeof(text));
      strmap_put(&listed, text, subs);
    }
    subs_entry_t **gone = NULL;
    size_t n = 0;
    for (strmap_iter_t it = strmap_iter(&subs->by_guid); strmap_iter_next(&it);) {
      if (!strmap_get(&listed, it.key)) {
        subs_entry_t **grown = realloc(gone, (n + 1) * sizeof(*grown));
        if (grown) {
          gone = grown;
          gone[n++] = it.value;
        }
      }
    }
    for (size_t i = 0; i < n; i++)
      subs_line_remove(subs, gone[i]);
    free(gone);
    strmap_clear(&listed, NULL);
    subs->lines_seen = 1;
    if (!subs->presence && (strmap_count(&subs->by_lref) || subs->n_presentities)) {
      subs->presence = subs_entry_new(subs, SUBS_PRESENCE);
      if (subs->presence)
        subs_enqueue(subs, subs->presence, SUBS_REQ_SUBSCRIBE);
    }
  } else if (!subs->presence && (strmap_count(&subs->by_lref) || subs->n_presentities) && subs->lines_seen) {
    subs->presence = subs_entry_new(subs, SUBS_PRESENCE);
    if (subs->presence)
      subs_enqueue(subs, subs->presence, SUBS_REQ_SUBSCRIBE);
  }
  if ((lines->flags & CODEC_LN_PARKSERVER) && subs->config->parkserver && !subs->park) {
    subs->park = subs_entry_new(subs, SUBS_PARKSERVER);
    if (subs->park) {
      subs->park->initial = 1;
      snprintf(subs->park->guid, sizeof(subs->park->guid), "parkserver");
      subs->handlers.line_fresh(subs->opaque, subs->park->guid);
      subs_enqueue(subs, subs->park, SUBS_REQ_SUBSCRIBE);
    }
  }
  subs_pump(subs, now_ms);
}

static int subs_is_retryable(int code) {
  for (size_t i = 0; i < sizeof(subs_retryable) / sizeof(subs_retryable[0]); i++)
    if (subs_retryable[i] == code)
      return 1;
  return 0;
}

static int64_t subs_backoff_ms(unsigned failures) {
  int64_t delay = 1000;
  for (unsigned i = 1; i < failures && delay < 60000; i++)
    delay *= 2;
  if (delay > 60000)
    delay = 60000;
  return delay / 2 + random() % (delay / 2 + 1);
}

static void subs_failed(subs_t *subs, subs_entry_t *entry, int code, const char *why, int64_t now_ms) {
  subs_req_t doing = entry->doing;
  subs_request_forget(subs, entry);
  entry->failures++;
  metrics_pbx_add(subs->metrics, METRICS_REQUEST_ERRORS, 1);
  if (code == MTCTISESS_SUBSCRIPTION_INVALID_ID && doing == SUBS_REQ_REFRESH) {
    BLOG_W(SUBS, subs_kind_name[entry->kind], "refresh of subscribe_id=%d %s refused (%s): subscribing afresh",
           entry->subscribe_id, entry->guid, codec_result_name(code));
    subs_restart(subs, entry);
    return;
  }
  if (code < 0 || subs_is_retryable(code)) {
    entry->state = SUBS_FAILED;
    entry->retry_at_ms = now_ms + subs_backoff_ms(entry->failures);
    BLOG_W(SUBS, subs_kind_name[entry->kind], "%s subscribe_id=%d %s failed: %s; retry in %lld ms",
           doing == SUBS_REQ_REFRESH ? "refresh of" : "subscribe", entry->subscribe_id, entry->guid, why,
           (long long)(entry->retry_at_ms - now_ms));
  } else {
    entry->state = SUBS_FAILED;
    entry->retry_at_ms = 0;
    entry->settled = 1;
    BLOG_E(SUBS, subs_kind_name[entry->kind], "subscribe_id=%d %s failed: %s; not retried",
           entry->subscribe_id, entry->guid, why);
  }
}

int subs_response(subs_t *subs, const RequestResponse *response, int64_t now_ms) {
  char k[16];
  subs_key(k, sizeof(k), response->requestid);
  subs_entry_t *entry = strmap_get(&subs->requests, k);
  if (!entry) {
    if (response->result != 0)
      BLOG_D(SUBS, NULL, "requestid=%d (not a subscription's): %s (%d)%s%s", response->requestid,
             codec_result_name(response->result), response->result,
             response->additional && *response->additional ? ": " : "",
             response->additional ? response->additional : "");
    return -1;
  }
  if (response->result != 0) {
    char why[256];
    snprintf(why, sizeof(why), "%s (%d)%s%s", codec_result_name(response->result), response->result,
             response->additional && *response->additional ? ": " : "",
             response->additional ? response->additional : "");
    subs_failed(subs, entry, response->result, why, now_ms);
  } else {
    subs_req_t doing = entry->doing;
    subs_request_forget(subs, entry);
    entry->failures = 0;
    entry->state = SUBS_ACTIVE;
    entry->refresh_at_ms = now_ms + subs->config->subscribe_timeout * 800;
    if (doing == SUBS_REQ_SUBSCRIBE) {
      entry->active_ms = now_ms;
      if (entry->settle_at_ms < now_ms + subs->config->resync_grace_ms)
        entry->settle_at_ms = now_ms + subs->config->resync_grace_ms;
      BLOG_D(SUBS, subs_kind_name[entry->kind], "subscribe_id=%d %s active", entry->subscribe_id,
             entry->guid);
    }
  }
  subs_pump(subs, now_ms);
  return 0;
}

void subs_terminated(subs_t *subs, const SubscribeTerminated *terminated, int64_t now_ms) {
  char k[16];
  subs_key(k, sizeof(k), terminated->subscribe_id);
  subs_entry_t *entry = strmap_get(&subs->by_id, k);
  metrics_pbx_add(subs->metrics, METRICS_SUBSCRIBE_TERMINATED, 1);
  if (!entry) {
    BLOG_W(SUBS, NULL, "SubscribeTerminated for unknown subscribe_id=%d", terminated->subscribe_id);
    return;
  }
  BLOG_W(SUBS, subs_kind_name[entry->kind], "subscribe_id=%d %s terminated by the PBX%s%s: subscribing afresh",
         entry->subscribe_id, entry->guid, terminated->reason && *terminated->reason ? ": " : "",
         terminated->reason ? terminated->reason : "");
  if (entry->kind == SUBS_LINES)
    subs->lines_seen = 0;
  subs_restart(subs, entry);
  subs_pump(subs, now_ms);
}

void subs_tick(subs_t *subs, int64_t now_ms) {
  if (!subs->connected)
    return;
  size_t active = 0, failed = 0, pending = 0;
  subs_entry_t **settle = NULL;
  size_t n_settle = 0;
  for (strmap_iter_t it = strmap_iter(&subs->by_id); strmap_iter_next(&it);) {
    subs_entry_t *entry = it.value;
    if (entry->doing != SUBS_REQ_NONE && now_ms >= entry->deadline_ms) {
      subs_failed(subs, entry, -1, "no RequestResponse in time", now_ms);
    }
    if (entry->state == SUBS_FAILED && entry->retry_at_ms && now_ms >= entry->retry_at_ms &&
        entry->want == SUBS_REQ_NONE) {
      entry->retry_at_ms = 0;
      entry->state = SUBS_WAITING;
      subs_enqueue(subs, entry, SUBS_REQ_SUBSCRIBE);
    }
    if (entry->state == SUBS_ACTIVE && entry->doing == SUBS_REQ_NONE && entry->want == SUBS_REQ_NONE &&
        now_ms >= entry->refresh_at_ms)
      subs_enqueue(subs, entry, SUBS_REQ_REFRESH);
    if (entry->state == SUBS_ACTIVE && !entry->settled) {
      if (entry->kind == SUBS_LINES || entry->kind == SUBS_PRESENCE) {
        entry->settled = 1;
      } else if (now_ms >= entry->settle_at_ms) {
        subs_entry_t **grown = realloc(settle, (n_settle + 1) * sizeof(*grown));
        if (grown) {
          settle = grown;
          settle[n_settle++] = entry;
        }
      }
    }
    if (entry->state == SUBS_ACTIVE && entry->settled)
      active++;
    else if (entry->state == SUBS_FAILED && !entry->retry_at_ms)
      failed++;
    else
      pending++;
  }
  for (size_t i = 0; i < n_settle; i++) {
    subs_entry_t *entry = settle[i];
    if (subs->handlers.line_settled(subs->opaque, entry->guid, entry->subscribe_id) == 0)
      entry->settled = 1;
    else
      entry->settle_at_ms = now_ms + subs->config->resync_grace_ms;
  }
  free(settle);
  subs_pump(subs, now_ms);
  if (!subs->resync_reported && subs->lines_seen && pending == n_settle && n_settle == 0 &&
      subs->fifo_head == NULL) {
    subs->resync_reported = 1;
    subs->handlers.resync_done(subs->opaque, active, failed);
  }
}

void subs_counts(const subs_t *subs, size_t counts[4]) {
  size_t queued = 0;
  for (const subs_entry_t *e = subs->fifo_head; e; e = e->fifo_next)
    queued++;
  metrics_pbx_set(subs->metrics, METRICS_SUBSCRIBE_QUEUED, (int64_t)queued);
  memset(counts, 0, 4 * sizeof(size_t));
  for (strmap_iter_t it = strmap_iter(&subs->by_id); strmap_iter_next(&it);)
    counts[((subs_entry_t *)it.value)->state]++;
}

const char *const *subs_state_names(void) { return subs_state_name; }

int32_t subs_line_subscription(const subs_t *subs, const char *guid_or_extn, subs_kind_t *kind) {
  const subs_entry_t *entry = strmap_get(&subs->by_guid, guid_or_extn);
  if (!entry && subs->park && strcmp(guid_or_extn, subs->park->guid) == 0)
    entry = subs->park;
  if (!entry) {
    for (strmap_iter_t it = strmap_iter(&subs->by_guid); strmap_iter_next(&it);) {
      const subs_entry_t *e = it.value;
      if (strcmp(e->extn, guid_or_extn) == 0) {
        entry = e;
        break;
      }
    }
  }
  if (!entry || entry->state != SUBS_ACTIVE)
    return 0;
  if (kind)
    *kind = entry->kind;
  return entry->subscribe_id;
}

int subs_resynced(const subs_t *subs) { return subs->connected && subs->resync_reported; }
