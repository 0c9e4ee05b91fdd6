/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Typed calls from the main lcore to a worker (Aeron's receiver proxy): each
 * builds a command message (worker_cmd.h) with its arguments copied in, puts
 * it on the worker's command ring and waits for the answer, at most
 * MSH_PROXY_WAIT_MS. A command still queued then is abandoned and never runs
 * ("not applied"); one already running is waited for a while longer. Before
 * the workers are launched the command runs here, on the main lcore. Main
 * side only.
 */
#ifndef MSH_APP_PROXY_H
#define MSH_APP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "dataplane.h"
#include "worker_cmd.h"

#define MSH_PROXY_WAIT_MS 2000     /**< for a queued command */
#define MSH_PROXY_RUNNING_MS 10000 /**< more, for one the worker is running */

/** Make the pool of command messages. @return 0 or -1 with @p err. */
int msh_proxy_init(struct msh_dp *dp, char *err, size_t errlen);
/** Free it (workers stopped). */
void msh_proxy_fini(struct msh_dp *dp);

/** Route @p as on every worker, its owner first; stops at the first failure. */
int msh_proxy_shard_add(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen);

/**
 * Tell every worker to forget @p as (the owner ends its session). A delete
 * is never abandoned: every command message is taken first (none is sent
 * when the pool is short: -1, nothing changed), then each is queued (a full
 * ring is retried by msh_proxy_del_poll) and waited for at most
 * MSH_PROXY_WAIT_MS; what is still under way stays in @p d.
 * @return 0, or -1 with @p err when the messages could not be had.
 */
int msh_proxy_shard_del(struct msh_dp *dp, struct msh_app_shard *as, struct msh_del_cmds *d,
			char *err, size_t errlen);

/** Queue what is unsent, free what is answered. @return true once every worker let go. */
bool msh_proxy_del_poll(struct msh_dp *dp, struct msh_del_cmds *d);

/** Route feed @p fd on every worker, its owner first; stops at the first failure. */
int msh_proxy_feed_add(struct msh_dp *dp, struct msh_app_feed *fd, char *err, size_t errlen);

/** Tell every worker to forget @p fd, as msh_proxy_shard_del() does for a shard. */
int msh_proxy_feed_del(struct msh_dp *dp, struct msh_app_feed *fd, struct msh_del_cmds *d,
		       char *err, size_t errlen);

int msh_proxy_shard_set(struct msh_dp *dp, const struct msh_cmd_set *set, char *err,
			size_t errlen);
int msh_proxy_shard_seal(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen);
/** End the subscriptions of ip[:port] on every worker; @p kicked: how many. */
int msh_proxy_sub_kick(struct msh_dp *dp, uint32_t ip, int32_t port, uint64_t *kicked, char *err,
		       size_t errlen);
/** Seal @p as at a storage boundary; @p boundary: the first seq after it. */
int msh_proxy_storage_seal(struct msh_dp *dp, struct msh_app_shard *as, uint64_t *boundary,
			   char *err, size_t errlen);
int msh_proxy_go_persistent(struct msh_dp *dp, struct msh_app_shard *as, uint64_t from_seq,
			    char *err, size_t errlen);
int msh_proxy_go_memory(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen);
/** Promote or demote the node (worker 0 of a pair). */
int msh_proxy_repl_role(struct msh_dp *dp, bool promote, char *err, size_t errlen);
/** Keep worker @p worker busy for @p ms (fault injection); does not wait. */
int msh_proxy_stall(struct msh_dp *dp, unsigned int worker, uint32_t ms, char *err,
		    size_t errlen);

#endif /* MSH_APP_PROXY_H */
