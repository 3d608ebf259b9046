/*
 * sim_admin: the configuration commands of MTCTI3: UpdateUser (DND,
 * absence, twinning, short codes, hot desking, app presence, forwarding) and
 * UpdateQueue (service mode, voicemail, membership).
 *
 * DESIGN: pure model changes on the service thread, called by the
 * subscriptions when a SubscribeCmd arrives.  One table lists the short codes
 * the spec documents; a short code may act for another user
 * (ShortCodeData.onbehalf); a hot-desk login may make the user a teleworker.
 * An UpdateUser is all or nothing: it works on copies of the records it
 * touches and commits them, each changed one announced with
 * sim_model_notify (which is how the Notifies a real system would send come
 * about), only when every part was accepted.  Results are MTCTISESS_* codes.
 */
#ifndef SIM_ADMIN_H
#define SIM_ADMIN_H

#include "ipo_mtcti3.pb-c.h"
#include "sim_model.h"

/*
 * Apply an UpdateUser to user.  *app_live receives +1 for makelive, -1 for
 * makedead, 0 otherwise (the subscription's ACTIVAPP flag is the caller's).
 */
int sim_admin_update_user(sim_model_t *model, sim_user_t *user, const UpdateUser *uu,
                          int *app_live);
int sim_admin_update_queue(sim_model_t *model, sim_queue_t *queue, const UpdateQueue *uq);

#endif
