/*
 * sim_server: the network side: one libwebsockets context, a TLS vhost
 * serving MTCTI3 on /tpkt/openapi and a plain loopback vhost for the control
 * API.
 *
 * DESIGN: single service thread.  Each system (one IP Office, or both
 * halves of a resilient pair) is one TLS vhost with its own connections and
 * subscriptions; failing a system closes its vhost, restoring it opens a
 * new one on the same port.  The MTCTI3 vhost checks each upgrade
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

#define SIM_MAX_SYSTEMS 2 /* a resilient pair: primary and secondary */

typedef struct sim_server_config {
  const char *control_addr;
  int control_port;
  const char *cert_file;
  const char *key_file;
  int insecure_plain_ws;
  int max_connections;   /* per system, as on each IP Office */
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
 * Declare a system (an IP Office of the pair) before sim_server_start: its
 * name, its MTCTI3 listener (port 0: any free port) and the subscriptions
 * its connections use (borrowed).  Its index is the order of declaration.
 */
int sim_server_add_system(sim_server_t *server, const char *name, const char *addr, int port,
                          sim_subs_t *subs, char *errstr, size_t errstr_size);
/*
 * Open every system's listener and the control listener.  ctl_protocol
 * serves the control vhost, with ctl_user as the vhost user pointer.
 */
int sim_server_start(sim_server_t *server, sim_model_t *model,
                     const struct lws_protocols *ctl_protocol, void *ctl_user, char *errstr,
                     size_t errstr_size);
int sim_server_control_port(const sim_server_t *server);
int sim_server_system_count(const sim_server_t *server);
/* Index of the system called name, or -1. */
int sim_server_system_find(const sim_server_t *server, const char *name);
const char *sim_server_system_name(const sim_server_t *server, int system);
/* The port of the system's listener (kept while the system is down). */
int sim_server_system_port(const sim_server_t *server, int system);
int sim_server_system_up(const sim_server_t *server, int system);
sim_subs_t *sim_server_system_subs(const sim_server_t *server, int system);
/*
 * Fail (up 0) or restore (up 1) a system.  Failing kills its connections
 * without a close handshake and closes its listener, so connecting is
 * refused; restoring listens again on the same port.  *dropped (may be
 * NULL) receives how many connections were killed.  0, or -1 with errstr.
 */
int sim_server_system_set_up(sim_server_t *server, int system, int up, int *dropped,
                             char *errstr, size_t errstr_size);
/* Serve until sim_server_stop (safe from a signal handler). */
int sim_server_run(sim_server_t *server);
void sim_server_stop(sim_server_t *server);
void sim_server_free(sim_server_t *server);

/* Close every MTCTI3 connection of every system, as a reboot would; how many. */
int sim_server_drop_all(sim_server_t *server);
/* Stop (1) or resume (0) answering requests: they are read and ignored. */
void sim_server_pause(sim_server_t *server, int on);
/* Connection and message counters (a new reference). */
json_t *sim_server_stats(sim_server_t *server);
/*
 * The requests handled (SubscribeCmd and GeneralCmd, not while paused), the
 * last 512 at most, those numbered above `since` (seq counts from 1):
 * {"requests": [{"seq", "conn", "system", "message": proto3 JSON}], "total"}
 * (a new reference).
 */
json_t *sim_server_requests(sim_server_t *server, unsigned long since);

#endif
