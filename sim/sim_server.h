/*
 * sim_server: the network side: one libwebsockets context, a TLS vhost
 * serving MTCTI3 on /tpkt/openapi and a plain loopback vhost for the control
 * API.
 *
 * DESIGN: single service thread.  The MTCTI3 vhost checks each upgrade
 * (path, HTTP Basic credentials of the service user, subprotocol openapi or
 * openapinoframing, the connection limit) and answers 401/400/404/503
 * without upgrading when one fails; plain HTTP is refused unless the
 * test-only flag allows it.  Each connection decodes whole websocket
 * messages with the codec (too large closes with 1009), hands subscription
 * traffic to sim_subs and GeneralCmd to sim_general, and writes through a
 * bounded queue drained on WRITEABLE: messages are framed as websocket frames
 * straight into one buffer per connection and written many to a TLS record.
 * Every message in and out is logged at debug level.  The control vhost's HTTP protocol comes from sim_ctl.
 */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <stddef.h>

#include <jansson.h>

#include "sim_model.h"
#include "sim_subs.h"
#include "sim_timer.h"

struct lws_context;
struct lws_protocols;

typedef struct sim_server_config {
  const char *listen_addr;
  int listen_port;
  const char *control_addr;
  int control_port;
  const char *cert_file;
  const char *key_file;
  int insecure_plain_ws;
  int max_connections;
  size_t max_payload;
  const char *service_user;
  const char *password;
} sim_server_config_t;

typedef struct sim_server sim_server_t;

/* Create the lws context and its timers (they work from here on); *server owned by the caller. */
int sim_server_new(const sim_server_config_t *cfg, sim_server_t **server, char *errstr,
                   size_t errstr_size);
struct lws_context *sim_server_lws(sim_server_t *server);
sim_timers_t *sim_server_timers(sim_server_t *server);
/*
 * Open both listeners.  ctl_protocol serves the control vhost, with ctl_user
 * as the vhost user pointer.
 */
int sim_server_start(sim_server_t *server, sim_model_t *model, sim_subs_t *subs,
                     const struct lws_protocols *ctl_protocol, void *ctl_user, char *errstr,
                     size_t errstr_size);
int sim_server_wss_port(const sim_server_t *server);
int sim_server_control_port(const sim_server_t *server);
/* Serve until sim_server_stop (safe from a signal handler). */
int sim_server_run(sim_server_t *server);
void sim_server_stop(sim_server_t *server);
void sim_server_free(sim_server_t *server);

/* Close every MTCTI3 connection, as a reboot would; how many. */
int sim_server_drop_all(sim_server_t *server);
/* Stop (1) or resume (0) answering requests: they are read and ignored. */
void sim_server_pause(sim_server_t *server, int on);
/* Connection and message counters (a new reference). */
json_t *sim_server_stats(sim_server_t *server);

#endif
