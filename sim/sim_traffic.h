/*
 * sim_traffic: calls nobody has to make by hand: the load generator and
 * scripted scenarios.
 *
 * DESIGN: the load generator starts trunk calls at a configured rate (with
 * exponential gaps from the seeded PRNG, so a seed gives the same sequence)
 * and plays each one through a plan drawn from a realistic mix: answered,
 * held and resumed, blind transferred, queued, abandoned, unanswered.  Each
 * plan acts through the call engine exactly as a person at a phone would.
 * A scenario file is a list of timed control commands (the control API's
 * routes), run through sim_ctl_execute, with values saved from one step's
 * answer usable in later steps.  Presence churn changes users' DND, app
 * presence, absence and voicemail counts at a configured rate.  Timers are
 * sim_timer on the service thread.
 */
#ifndef SIM_TRAFFIC_H
#define SIM_TRAFFIC_H

#include <stddef.h>

#include <jansson.h>

#include "sim_calls.h"
#include "sim_ctl.h"
#include "sim_model.h"
#include "sim_timer.h"

/* *traffic owned by the caller (sim_traffic_free). */
int sim_traffic_new(sim_model_t *model, sim_calls_t *calls, sim_timers_t *timers,
                    unsigned seed, int ring_ms, sim_traffic_t **traffic, char *errstr,
                    size_t errstr_size);
void sim_traffic_free(sim_traffic_t *traffic);
/* Calls per second of the load generator (0 stops it). */
void sim_traffic_set_rate(sim_traffic_t *traffic, double calls_per_second);
/*
 * Presence churn: user changes per second (0 stops it), each a random user
 * toggling DND or absence, changing app presence or voicemail count; for
 * the benchmark, thousands a second across thousands of subscriptions.
 */
void sim_traffic_set_churn(sim_traffic_t *traffic, double changes_per_second);
/* Load and start a scenario file (format in docs/sim.md). */
int sim_traffic_scenario(sim_traffic_t *traffic, sim_ctl_t *ctl, const char *path, char *errstr,
                         size_t errstr_size);
/* Start a scenario given as JSON (POST /scenario). */
int sim_traffic_scenario_json(sim_traffic_t *traffic, sim_ctl_t *ctl, const json_t *scenario,
                              char *errstr, size_t errstr_size);
/* Rate, plans started, scenario progress (a new reference). */
json_t *sim_traffic_stats(sim_traffic_t *traffic);

#endif
