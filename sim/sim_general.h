/*
 * sim_general: GeneralCmd, the context-less commands: getversioninfo and
 * getfile (the nasystem/AccountCode pseudo-file).
 *
 * DESIGN: answers from the model on the service thread; the answer goes
 * back through the connection's send callback as GeneralData (or a
 * RequestResponse with a GENCMD_* code when the command is malformed).
 */
#ifndef SIM_GENERAL_H
#define SIM_GENERAL_H

#include "ipo_mtcti3.pb-c.h"
#include "sim_model.h"
#include "sim_subs.h"

void sim_general_handle(sim_model_t *model, const GeneralCmd *cmd, sim_subs_send_fn send,
                        void *ctx);

#endif
