/*
 * cmd_source: the command topic's Kafka side: read <prefix>commands, hand
 * each message to the PBX's executor (cmd_exec), produce its result, commit.
 *
 * DESIGN.  Small on purpose: the group member that decides which instance
 * owns which PBX (issue #10) replaces its consumer.  Runs on the bridge's
 * event loop: the consumer's queue and the results producer's queue signal
 * one pipe (cmd_source_fd) the loop watches; cmd_source_poll serves both.
 *
 *   - The consumer (group commands_group, read_committed, no auto commit)
 *     reads the topic (one partition: the PBX's ownership token).  A
 *     partition assigned makes the executor the owner (cmd_exec_own, epoch
 *     drawn from Redis); revoked, it stops (cmd_exec_disown).
 *   - Each message is an entry of its partition's cmd_offsets and the token
 *     of cmd_exec_submit; when the executor settles it (outcome recorded,
 *     result confirmed), the contiguous run of settled entries at the head
 *     is committed.  A crash re-reads only what was not committed.
 *   - The executor's results go out through cmd_source_emit: an idempotent
 *     producer (acks=all, no delivery timeout, murmur2_random), CloudEvents
 *     headers as given; a result Kafka refuses is produced again.
 *   - While the executor cannot reach Redis (cmd_exec_blocked) the
 *     partitions are paused.
 */
#ifndef CMD_SOURCE_H
#define CMD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "cmd_exec.h"
#include "config.h"
#include "kafka_client.h"
#include "topics.h"

typedef struct cmd_source cmd_source_t;

/*
 * Build the Kafka side, its clients from `env`, on the PBX's `topics`
 * (commands, command-results).  0 and *source; *source is NULL when
 * commands are off (commands=false, or no redis_url: logged).  -1 with
 * errstr when a Kafka client cannot be made.
 */
int cmd_source_new(const config_t *config, kafka_env_t *env, const topics_t *topics, cmd_source_t **source,
                   char *errstr, size_t errstr_size);
/* The executor the messages go to (borrowed; detach with NULL before destroying it). */
void cmd_source_attach(cmd_source_t *source, cmd_exec_t *exec);
/* The executor's emit and settled callbacks (opaque: the source). */
void cmd_source_emit(void *source, const cmd_emit_t *msg, cmd_emit_done_cb *done, void *done_opaque);
void cmd_source_settled(void *source, void *token, int ok);
/* The results topic's name, <prefix>command-results. */
const char *cmd_source_results_topic(const cmd_source_t *source);

/* Start consuming (once the topics exist: the one topic table creates them, commands with one partition). */
int cmd_source_subscribe(cmd_source_t *source, char *errstr, size_t errstr_size);
/* The fd that becomes readable when cmd_source_poll has work. */
int cmd_source_fd(const cmd_source_t *source);
/* Serve the consumer and the results producer; 1 when messages are left (call again soon), 0, or -1 fatal. */
int cmd_source_poll(cmd_source_t *source, char *errstr, size_t errstr_size);
/* Periodic work: pause or resume, results Kafka refused, commits. */
void cmd_source_tick(cmd_source_t *source, int64_t now_ms);
/* Before exit: read no more (the caller then lets the executor finish what it can). */
void cmd_source_stopping(cmd_source_t *source);
/* Wait up to timeout_ms for results in flight, commit what is settled, leave the group. */
void cmd_source_stop(cmd_source_t *source, int timeout_ms);
/* Every result still waiting is answered (delivered 0).  Safe on NULL. */
void cmd_source_destroy(cmd_source_t *source);

#endif
