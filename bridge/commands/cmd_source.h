/*
 * cmd_source: the bridge instances' Kafka group: which instance owns which
 * PBX, and that PBX's commands.
 *
 * DESIGN.  One group member per process (group.id `group`,
 * partition.assignment.strategy cooperative-sticky) subscribes to the
 * commands topic of every PBX the process serves.  Each commands topic has
 * one partition, the PBX's ownership token: Kafka's assignment gives it to
 * exactly one live member, and moves only what must move when members join
 * or leave (issue #10).  Runs on the bridge's event loop: the consumer's
 * queue and the results producer's queue signal one pipe (cmd_source_fd)
 * the loop watches; cmd_source_poll serves both.
 *
 *   - A PBX's partition 0 assigned makes this instance its owner: its
 *     executor owns the commands (cmd_exec_own, epoch drawn from Redis) and
 *     the PBX's `own` callback starts the takeover; revoked (or lost), both
 *     let go (cmd_exec_disown, own(0)).  Another partition of a commands
 *     topic is refused (paused, never read, said once).
 *   - Each message is an entry of its partition's cmd_offsets and the token
 *     of cmd_exec_submit; when the executor settles it (outcome recorded,
 *     result confirmed), the contiguous run of settled entries at the head
 *     is committed.  A crash re-reads only what was not committed.
 *   - The executors' results go out through cmd_source_emit: an idempotent
 *     producer (acks=all, no delivery timeout, murmur2_random), CloudEvents
 *     headers as given; a result Kafka refuses is produced again.
 *   - Without executors (commands off: no Redis) the partitions still give
 *     ownership, and are paused: no command is read, none is lost.  While an
 *     executor cannot reach Redis (cmd_exec_blocked) its partition is paused.
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
 * Build the group member, its clients from `env`, in group config->group.
 * NULL with errstr when a Kafka client cannot be made.
 */
cmd_source_t *cmd_source_new(const config_t *config, kafka_env_t *env, char *errstr, size_t errstr_size);

/*
 * A PBX's partition 0 was assigned (owned 1), revoked (owned 0), or lost
 * (owned 0, lost 1: the group's session expired, Kafka unreachable or this
 * process stalled; the partition may be given to another member, or back).
 */
typedef void(cmd_source_own_cb)(void *opaque, int owned, int lost);
/*
 * Serve one PBX: its commands topic (taken from `topics`), its `own`
 * callback.  Returns its slot (0, 1, ...), or -1 with errstr.  Before
 * cmd_source_subscribe.
 */
int cmd_source_add(cmd_source_t *source, const topics_t *topics, cmd_source_own_cb *own, void *opaque,
                   char *errstr, size_t errstr_size);
/* The executor a slot's commands go to (borrowed; NULL: commands off; detach before destroying it). */
void cmd_source_attach(cmd_source_t *source, int slot, cmd_exec_t *exec);
/* Whether this instance holds the slot's ownership token. */
int cmd_source_owns(const cmd_source_t *source, int slot);
/*
 * Whether the group has assigned this member its share once (librdkafka
 * calls the rebalance callback with the cooperative protocol's assignment
 * even when it is empty): until then no PBX is known to be anyone's.
 */
int cmd_source_joined(const cmd_source_t *source);
/* The executor's emit and settled callbacks (opaque: the source). */
void cmd_source_emit(void *source, const cmd_emit_t *msg, cmd_emit_done_cb *done, void *done_opaque);
void cmd_source_settled(void *source, void *token, int ok);
/* Join the group (once the topics exist: the one topic table creates them, commands with one partition). */
int cmd_source_subscribe(cmd_source_t *source, char *errstr, size_t errstr_size);
/* The fd that becomes readable when cmd_source_poll has work. */
int cmd_source_fd(const cmd_source_t *source);
/* Serve the consumer and the results producer; 1 when messages are left (call again soon), 0, or -1 fatal. */
int cmd_source_poll(cmd_source_t *source, char *errstr, size_t errstr_size);
/* Periodic work: pause or resume, results Kafka refused, commits. */
void cmd_source_tick(cmd_source_t *source, int64_t now_ms);
/* Before exit: read no more (the caller then lets the executor finish what it can). */
void cmd_source_stopping(cmd_source_t *source);
/* Wait up to timeout_ms for results in flight, commit what is settled, leave the group (a clean handover). */
void cmd_source_stop(cmd_source_t *source, int timeout_ms);
/* Every result still waiting is answered (delivered 0).  Safe on NULL. */
void cmd_source_destroy(cmd_source_t *source);

#endif
