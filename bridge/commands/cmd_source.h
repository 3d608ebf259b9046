/*
 * cmd_source: the command topic becomes MTCTI3 requests, each executed once,
 * each outcome recorded in Redis and produced to Kafka (issue #5).
 *
 * DESIGN.  Runs on the bridge's one event loop thread.  A librdkafka
 * consumer in the group `commands_group` reads <prefix>commands; its queue
 * and the results producer's queue signal one pipe (cmd_source_fd) that the
 * loop watches, and the loop's tick calls cmd_source_tick.  Each message
 * becomes a job that walks the colleague's modules in order:
 *
 *   cmd_parse -> cmd_store_claim -> cmd_policy_check -> resolve the target
 *   (snap/subs state through the ingest stage) and the call ->
 *   cmd_action_available -> cmd_store_next_requestid -> cmd_store_accepted
 *   -> cmd_build -> pbx_link_send ... RequestResponse / GeneralData (routed
 *   here by the ingest stage: ingest_set_other) -> cmd_store_finish -> the result
 *   produced to <prefix>command-results (or reply_to) -> offset committed.
 *
 * Fed by the consumer, the ingest stage (answers) and the tick (deadlines:
 * cmd_store_expired, every in-flight command past its deadline times out);
 * feeds the PBX link, Redis (cmd_store, sync and bounded) and Kafka.
 *
 * Exactly once: nothing is sent before its claim and its `accepted` record
 * are in Redis; an offset is committed only when every command up to it has
 * its outcome recorded and its result confirmed by Kafka (per-partition
 * contiguous completion: cmd_offsets), so a crash re-reads the uncommitted commands and
 * the claims turn them into duplicates (or, for a command the dead bridge
 * claimed and never sent, into its first execution).  With Redis
 * unreachable the assigned partitions are paused and messages already read
 * wait unclaimed; a ping each second resumes them.  With the PBX
 * disconnected (or resyncing) claimed commands wait until their deadline.
 * Secrets never leave the cmd_t except in the MTCTI3 request.
 */
#ifndef CMD_SOURCE_H
#define CMD_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kafka_client.h"
#include "ingest.h"
#include "pbx_link.h"

typedef struct cmd_source cmd_source_t;

/*
 * Build the stage, its Kafka clients from `env`.  0 and *source; *source is NULL when commands are off
 * (commands=false, or no redis_url: logged).  -1 with errstr on a bad
 * setting (the policy file) or a Kafka client that cannot be made.
 */
int cmd_source_new(const config_t *config, kafka_env_t *env, ingest_t *ingest, pbx_link_t *link,
                   cmd_source_t **source, char *errstr, size_t errstr_size);
/* Start consuming (once the topics exist). */
int cmd_source_subscribe(cmd_source_t *source, char *errstr, size_t errstr_size);
/* The fd that becomes readable when cmd_source_poll has work. */
int cmd_source_fd(const cmd_source_t *source);
/* Serve the consumer and the results producer; 1 when messages are left (call again soon), 0, or -1 fatal. */
int cmd_source_poll(cmd_source_t *source, char *errstr, size_t errstr_size);
/* Periodic work: waiting commands, deadlines, Redis while paused. */
void cmd_source_tick(cmd_source_t *source, int64_t now_ms);
/* Before exit: wait up to timeout_ms for results in flight, commit, leave the group. */
void cmd_source_stop(cmd_source_t *source, int timeout_ms);
void cmd_source_destroy(cmd_source_t *source);

#endif
