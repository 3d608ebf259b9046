/*
 * sim_general: see sim_general.h.
 */
#include "sim_general.h"

#include <stdlib.h>
#include <string.h>

#include "codec_tables.h"

/* Answer a malformed command, when it carries a requestid (spec: only then). */
static void respond(sim_subs_send_fn send, void *ctx, int requestid, int result) {
  if (requestid)
    sim_subs_respond(send, ctx, requestid, result, NULL);
}

void sim_general_handle(sim_model_t *model, const GeneralCmd *cmd, sim_subs_send_fn send,
                        void *ctx) {
  GeneralData gd = GENERAL_DATA__INIT;
  GetFileResponse gf = GET_FILE_RESPONSE__INIT;
  Message msg = MESSAGE__INIT;
  char *text = NULL;
  gd.responseid = cmd->requestid;
  switch (cmd->payload_case) {
  case GENERAL_CMD__PAYLOAD_GETVERSIONINFO:
    gd.payload_case = GENERAL_DATA__PAYLOAD_VERSIONINFO;
    gd.versioninfo = (char *)sim_model_version(model);
    break;
  case GENERAL_CMD__PAYLOAD_GETFILE:
    if (!cmd->getfile->fname || !*cmd->getfile->fname) {
      respond(send, ctx, cmd->requestid, MTCTISESS_GENCMD_REQUIRED_DATA_MISSING);
      return;
    }
    gd.payload_case = GENERAL_DATA__PAYLOAD_GETFILE;
    gd.getfile = &gf;
    gf.cmdinst = cmd->getfile->cmdinst;
    gf.fname = cmd->getfile->fname;
    if (strcmp(cmd->getfile->fname, "nasystem/AccountCode") == 0 &&
        (text = sim_model_account_codes_text(model)) != NULL) {
      gf.result = MTCTISESS_SUCCESS;
      gf.payload.data = (uint8_t *)text;
      gf.payload.len = strlen(text);
    } else {
      gf.result = MTCTISESS_NOTFOUND;
    }
    break;
  default:
    respond(send, ctx, cmd->requestid, MTCTISESS_GENCMD_INVALID_PAYLOAD);
    return;
  }
  msg.payload_case = MESSAGE__PAYLOAD_GENERALDATA;
  msg.generaldata = &gd;
  send(ctx, &msg);
  free(text);
}
