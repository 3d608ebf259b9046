/*
 * sim_admin: the configuration commands of MTCTI3: UpdateUser (DND,
 * absence, twinning, short codes, hot desking, app presence, forwarding) and
 * UpdateQueue (service mode, voicemail, membership).
 *
 * DESIGN: pure model changes on the service thread, called by the
 * subscriptions when a SubscribeCmd arrives.  One table lists the short codes
 * the spec documents.  Each command changes the record and calls
 * sim_model_notify, which is how the Notifies a real system would send come
 * about.  Results are MTCTISESS_* codes.
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
