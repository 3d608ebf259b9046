/*
 * sim_ctl: the control interface for tests and demos: HTTP with JSON on a
 * loopback port, and the same commands for scenario files.
 *
 * DESIGN: one route table (method, path pattern, handler, help) drives
 * dispatch and the endpoint list in docs/sim.md.  Handlers act on the model
 * (users, queues, presence-only entities), the call engine (a person at a
 * phone, a caller on a trunk, notes, MakeCall failures), the subscriptions
 * (terminate, refresh) and the server (drop connections, pause, fail and
 * restore a system of a resilient pair).
 * sim_ctl_execute is the one entry: the HTTP protocol below and the
 * scenario runner both call it.  Service thread only.
 */
#ifndef SIM_CTL_H
#define SIM_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "sim_calls.h"
#include "sim_model.h"
#include "sim_server.h"
#include "sim_subs.h"

struct lws_protocols;
typedef struct sim_traffic sim_traffic_t;

typedef struct sim_ctl sim_ctl_t;

/* *ctl owned by the caller (sim_ctl_free); the subscriptions are the server's systems'. */
int sim_ctl_new(sim_model_t *model, sim_calls_t *calls, sim_ctl_t **ctl, char *errstr,
                size_t errstr_size);
void sim_ctl_set_server(sim_ctl_t *ctl, sim_server_t *server);
void sim_ctl_set_traffic(sim_ctl_t *ctl, sim_traffic_t *traffic);
void sim_ctl_free(sim_ctl_t *ctl);

/*
 * Run one command: method ("GET", "POST", "PATCH", "DELETE"), path
 * ("/users/2001"), body (may be NULL).  Returns the HTTP status and
 * *response (a new reference, always set).
 */
int sim_ctl_execute(sim_ctl_t *ctl, const char *method, const char *path, const json_t *body,
                    json_t **response);

/* The lws protocol serving sim_ctl_execute over HTTP; vhost user = the sim_ctl_t. */
const struct lws_protocols *sim_ctl_http_protocol(void);

/* The route table as Markdown, for docs/sim.md. */
void sim_ctl_markdown(FILE *out);

#endif
