/*
 * sim_calls_render: how a leg looks to a subscription: the CallInfo of
 * sim_calls_render with the detail its ccflags ask for, and GET /calls.
 *
 * DESIGN: pure reads of the engine's state on the service thread; messages
 * are built in the caller's lwsac arena, freed in one go after encoding.
 */
#include "sim_calls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_ids.h"
#include "codec_tables.h"
#include "sim_log.h"

/* ---- rendering ---- */

static char *ac_str(struct lwsac **ac, const char *s) {
  size_t n = strlen(s) + 1;
  char *p = lwsac_use(ac, n, 0);
  if (p)
    memcpy(p, s, n);
  return p;
}

static PartyInfo *ac_party(struct lwsac **ac, const party_t *p) {
  PartyInfo *pi = lwsac_use_zero(ac, sizeof *pi, 0);
  if (!pi)
    return NULL;
  party_info__init(pi);
  pi->withheld = p->withheld;
  pi->number = ac_str(ac, p->withheld ? "" : p->number);
  pi->name = ac_str(ac, p->withheld ? "" : p->name);
  pi->nametype = p->nametype;
  return pi;
}

/*
 * Devices (ccflags DEVICES): the simulator's EndInfo values, documented in
 * docs/sim.md.  deviceclass: what the end is; devicetype: what kind of that.
 */
enum { DEV_EXTENSION = 1, DEV_TRUNK = 2, DEV_VOICEMAIL = 3, DEV_CONFERENCE = 4 };
enum { DEVT_DESK = 1, DEVT_ANALOGUE = 2, DEVT_TELEWORKER = 3, DEVT_MOBILE = 4 };

static EndInfo *end_info(struct lwsac **ac, const call_t *call, int class, int type,
                         int instance, const char *teleworker) {
  EndInfo *e = lwsac_use_zero(ac, sizeof *e, 0);
  if (!e)
    return NULL;
  end_info__init(e);
  e->gcid.data = (uint8_t *)call->gcid;
  e->gcid.len = GCID_LEN;
  e->deviceclass = class;
  e->devicetype = type;
  e->deviceinstance = instance;
  if (teleworker && *teleworker)
    e->teleworker = ac_str(ac, teleworker);
  return e;
}

/* The device a user's calls use: desk, analogue or teleworker; instance = the extension. */
static EndInfo *user_device(struct lwsac **ac, const call_t *call, const sim_user_t *u) {
  return end_info(ac, call, DEV_EXTENSION,
                  u->teleworker[0] ? DEVT_TELEWORKER : u->pots ? DEVT_ANALOGUE : DEVT_DESK,
                  atoi(u->loggedinextn), u->teleworker);
}

/* The far end of leg `other` as seen from a leg. */
static EndInfo *remote_device(sim_calls_t *c, struct lwsac **ac, const call_t *call,
                              const leg_t *other) {
  const sim_user_t *ou = other ? calls_leg_user(c, other) : NULL;
  if (ou)
    return user_device(ac, call, ou);
  if (!other)
    return NULL;
  switch (other->kind) {
  case SIM_LINE_TRUNK:
    return end_info(ac, call, DEV_TRUNK, call->trunktype, 1, NULL);
  case SIM_LINE_VM:
    return end_info(ac, call, DEV_VOICEMAIL, 0, 1, NULL);
  case SIM_LINE_CONF:
    return end_info(ac, call, DEV_CONFERENCE, 0, atoi(other->self.number), NULL);
  default:
    return NULL;
  }
}

static Target *target_of(struct lwsac **ac, const party_t *p) {
  Target *t = lwsac_use_zero(ac, sizeof *t, 0);
  if (t) {
    target__init(t);
    t->partyinfo = ac_party(ac, p);
  }
  return t;
}

int sim_calls_render(sim_calls_t *c, int callid, int ccflags, struct lwsac **ac, CallInfo **out) {
  leg_t *l = calls_leg_find(c, callid);
  if (!l)
    return -1;
  call_t *call = l->call;
  CallInfo *ci = lwsac_use_zero(ac, sizeof *ci, 0);
  if (!ci)
    return -1;
  call_info__init(ci);
  ci->callid = l->id;
  ci->referencecallid = l->refid;
  ci->relatedcallid = l->related;
  ci->state = l->state;
  ci->direction = l->direction;
  ci->activeheld = l->activeheld;
  ci->gcid.data = lwsac_use(ac, GCID_LEN, 0);
  if (ci->gcid.data) {
    memcpy(ci->gcid.data, call->gcid, GCID_LEN);
    ci->gcid.len = GCID_LEN;
  }
  ci->featuresavailable = calls_features(c, l);
  ci->featuresavailable2 = l->pagecall && l->state == S(CONNECTED) ? 1 : 0;
  leg_t *a = calls_origin(call);
  if (l->called[0])
    ci->calledparty = ac_str(ac, l->called);
  if (a && a != l && (l->direction == CALL_INFO__DIRECTION__INBOUND || l->kind != SIM_LINE_USER ||
                      l->direction == CALL_INFO__DIRECTION__PICKUP))
    ci->callingparty = ac_party(ac, &a->self);
  /* The other end: the first other party, or the queue while the call waits. */
  leg_t *other = NULL;
  for (leg_t *o = call->legs; o; o = o->next)
    if (o != l && o->role != ROLE_OBS && (o->role != ROLE_A || l->role != ROLE_A) &&
        !(l->kind == SIM_LINE_QUEUE && o == a) && !(l->kind == SIM_LINE_PARK && 0))
      if (!other || (calls_is_active(o->state) && !calls_is_active(other->state)))
        other = o;
  if (l->kind == SIM_LINE_QUEUE && other && other->state == S(RINGING))
    other = NULL;
  if (!other && l->role == ROLE_A && call->queued && calls_queue_leg(call))
    other = calls_queue_leg(call);
  if (other && l->state != S(DIALTONE))
    ci->connectedparty = ac_party(ac, &other->self);
  if (l->orig_called.number[0])
    ci->originalcalledparty = ac_party(ac, &l->orig_called);
  if (l->tag[0])
    ci->tag = ac_str(ac, l->tag);
  if (l->acct[0])
    ci->accountcode = ac_str(ac, l->acct);
  ci->mute = l->mute;
  ci->failedcause = l->failedcause;
  ci->recording = l->recording;
  ci->recordingpaused = l->recpaused;
  ci->pagecall = l->pagecall;
  if (l->kind == SIM_LINE_PARK)
    ci->parkslot = ac_str(ac, l->slot);
  if (other && other->kind == SIM_LINE_USER && l->kind == SIM_LINE_USER) {
    sim_user_t *ou = calls_leg_user(c, other);
    if (ou && ou->absence_set) {
      ci->absence = lwsac_use_zero(ac, sizeof *ci->absence, 0);
      if (ci->absence) {
        absence__init(ci->absence);
        ci->absence->msg = ou->absence_msg;
        ci->absence->str = ac_str(ac, ou->absence_str);
      }
    }
  }
  if (ccflags & CODEC_CC_DEVICES) {
    /* The other end (for a queue or park line: the caller); this line's own devices. */
    const leg_t *far = other ? other : l->kind != SIM_LINE_USER && a != l ? a : NULL;
    ci->remoteinfo = remote_device(c, ac, call, far);
    const sim_user_t *u = calls_leg_user(c, l);
    if (u && (ci->localinfo = lwsac_use_zero(ac, 2 * sizeof(EndInfo *), 0))) {
      if ((ci->localinfo[0] = user_device(ac, call, u)))
        ci->n_localinfo = 1;
      /* A twinned mobile is one of the user's devices too. */
      if (u->ec500 && u->mobile[0] &&
          (ci->localinfo[ci->n_localinfo] = end_info(ac, call, DEV_TRUNK, DEVT_MOBILE, 1, NULL)))
        ci->n_localinfo++;
    }
  }
  if ((ccflags & (CODEC_CC_CONFERENCE | CODEC_CC_CONFMEMBERS)) && calls_in_conference(call)) {
    size_t n = 0;
    for (leg_t *o = call->legs; o; o = o->next)
      n += o != l && o->role != ROLE_OBS && o->kind != SIM_LINE_CONF;
    ci->conferencemember = lwsac_use_zero(ac, n * sizeof(ConferenceMember *), 0);
    for (leg_t *o = call->legs; o && ci->conferencemember; o = o->next) {
      if (o == l || o->role == ROLE_OBS || o->kind == SIM_LINE_CONF) /* not the bridge itself */
        continue;
      ConferenceMember *m = lwsac_use_zero(ac, sizeof *m, 0);
      if (!m)
        break;
      conference_member__init(m);
      m->lref = o->id;
      m->state = o->state <= S(WAITINGFORLINE) ? o->state : S(CONNECTED);
      m->direction = o->direction;
      m->mute = o->mute;
      m->connectedparty = ac_party(ac, &o->self);
      ci->conferencemember[ci->n_conferencemember++] = m;
    }
  }
  if ((ccflags & CODEC_CC_DIALINFO) && l->called[0]) {
    ci->dialinfo = lwsac_use_zero(ac, sizeof(DialInfo), 0);
    if (ci->dialinfo) {
      dial_info__init(ci->dialinfo);
      ci->dialinfo->number = ac_str(ac, l->called);
      ci->dialinfo->complete = l->state != S(DIALLING);
      ci->dialinfo->withholdcli = l->withholdcli;
    }
  }
  if ((ccflags & CODEC_CC_TRUNK) && call->trunk) {
    ci->trunkinfo = lwsac_use_zero(ac, sizeof(TrunkInfo), 0);
    if (ci->trunkinfo) {
      trunk_info__init(ci->trunkinfo);
      ci->trunkinfo->trunktype = call->trunktype;
      ci->trunkinfo->did = ac_str(ac, call->did); /* the number dialled in ("" outbound) */
    }
  }
  sim_queue_t *q = sim_model_queue_by_guid(c->model, call->dist_queue, SIM_GUID_LEN);
  if ((ccflags & CODEC_CC_QUEUE) && q && calls_queue_leg(call)) {
    ci->queueinfo = lwsac_use_zero(ac, sizeof(QueueInfo), 0);
    if (ci->queueinfo) {
      queue_info__init(ci->queueinfo);
      ci->queueinfo->number = ac_str(ac, q->extn);
      ci->queueinfo->name = ac_str(ac, q->name);
      ci->queueinfo->priority = call->priority;
    }
  }
  if (ccflags & CODEC_CC_CALLDATA) {
    ci->calldata = lwsac_use_zero(ac, sizeof(CallData), 0);
    if (ci->calldata) {
      call_data__init(ci->calldata);
      ci->calldata->language = ac_str(ac, call->language);
      ci->calldata->privacy = l->privacy;
    }
  }
  if ((ccflags & CODEC_CC_NOTES) && call->notes[0]) {
    ci->notes = lwsac_use_zero(ac, sizeof(Notes), 0);
    if (ci->notes) {
      notes__init(ci->notes);
      ci->notes->notes = ac_str(ac, call->notes);
    }
  }
  if (ccflags & CODEC_CC_UCID) {
    ci->ucid = lwsac_use_zero(ac, sizeof(UCID), 0);
    if (ci->ucid) {
      ucid__init(ci->ucid);
      ci->ucid->ucid.data = call->ucid;
      ci->ucid->ucid.len = call->ucid_len;
    }
  }
  if ((ccflags & CODEC_CC_PINTRINSICS) && call->pintrinsics_len) {
    ci->pintrinsics = lwsac_use_zero(ac, sizeof(PIntrinsics), 0);
    if (ci->pintrinsics) {
      pintrinsics__init(ci->pintrinsics);
      ci->pintrinsics->pintrinsics.data = call->pintrinsics;
      ci->pintrinsics->pintrinsics.len = call->pintrinsics_len;
    }
  }
  /* A ringing user line: the devices ringing with the desk (the twinned mobile). */
  const sim_user_t *lu = calls_leg_user(c, l);
  if ((ccflags & CODEC_CC_TARGETS_SIMUL) && lu && l->state == S(RINGING) && lu->ec500 &&
      lu->mobile[0]) {
    party_t mobile;
    memset(&mobile, 0, sizeof mobile);
    snprintf(mobile.number, sizeof mobile.number, "%s", lu->mobile);
    snprintf(mobile.name, sizeof mobile.name, "%.50s mobile", lu->name);
    mobile.nametype = 9;
    ci->targets = lwsac_use_zero(ac, sizeof(Targets), 0);
    if (ci->targets) {
      targets__init(ci->targets);
      ci->targets->target = lwsac_use_zero(ac, sizeof(Target *), 0);
      if (ci->targets->target && (ci->targets->target[0] = target_of(ac, &mobile)))
        ci->targets->n_target = 1;
    }
  }
  if ((ccflags & CODEC_CC_TARGETS) && l->kind == SIM_LINE_QUEUE && calls_queue_phase(l->state)) {
    size_t n = 0;
    for (leg_t *o = call->legs; o; o = o->next)
      n += o->role == ROLE_B && o->state == S(RINGING);
    ci->targets = lwsac_use_zero(ac, sizeof(Targets), 0);
    if (ci->targets) {
      targets__init(ci->targets);
      ci->targets->target = lwsac_use_zero(ac, (n ? n : 1) * sizeof(Target *), 0);
      for (leg_t *o = call->legs; o && ci->targets->target; o = o->next) {
        if (o->role != ROLE_B || o->state != S(RINGING))
          continue;
        Target *t = target_of(ac, &o->self);
        if (!t)
          break;
        ci->targets->target[ci->targets->n_target++] = t;
      }
    }
  }
  *out = ci;
  return 0;
}

json_t *sim_calls_json(sim_calls_t *c) {
  json_t *arr = json_array();
  lws_start_foreach_dll(struct lws_dll2 *, d, lws_dll2_get_head(&c->calls)) {
    call_t *call = lws_container_of(d, call_t, list);
    char g[GCID_LEN * 2 + 1];
    json_t *legs = json_array();
    for (leg_t *l = call->legs; l; l = l->next) {
      const ProtobufCEnumValue *st = protobuf_c_enum_descriptor_get_value(&call_info__state__descriptor, l->state);
      static const char *const kinds[] = {"user", "queue", "park", "trunk", "voicemail",
                                          "conference"};
      json_array_append_new(legs, json_pack("{s:i,s:s,s:s,s:s,s:s,s:i,s:i,s:i}", "callid", l->id,
                                            "line", kinds[l->kind], "number", l->self.number,
                                            "role", l->role == ROLE_A ? "caller" : l->role == ROLE_B ? "called" : "observer",
                                            "state", st ? st->name : "?", "refid", l->refid,
                                            "related", l->related, "system", l->system));
    }
    char u[sizeof call->ucid * 2 + 1];
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o}", "gcid",
                                         codec_hex_format(call->gcid, GCID_LEN, g, sizeof g),
                                         "ucid", codec_hex_format(call->ucid, call->ucid_len, u, sizeof u),
                                         "notes", call->notes, "legs", legs));
  } lws_end_foreach_dll(d);
  return arr;
}
