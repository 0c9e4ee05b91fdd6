/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Commands a worker runs for the main lcore (Aeron's receiver proxy): a typed
 * message whose arguments are copied into it by value, sent on the worker's
 * command ring by proxy.c and run here between bursts. The message, not the
 * caller's stack, holds everything, and its state word decides who frees it:
 *
 *   PENDING --worker takes it--> RUNNING --worker done--> DONE (caller frees)
 *      |                            |
 *      +--caller gave up--> ABANDONED (never run; the worker frees it)
 *                                   +--caller gave up--> ABANDONED (worker frees)
 *   DETACHED: fire and forget (the worker runs it and frees it).
 *
 * So a command the caller timed out on is never run late, and one the worker
 * already runs finishes against its own copy. Worker side: nothing here
 * includes a main-side header.
 */
#ifndef MSH_APP_WORKER_CMD_H
#define MSH_APP_WORKER_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.h"

enum msh_cmd_type {
	MSH_CMD_SHARD_ADD = 0,  /**< shard: route it (and serve it, on the owner) */
	MSH_CMD_SHARD_DEL,      /**< shard: end its session (owner), forget it */
	MSH_CMD_SHARD_SET,      /**< set: live settings */
	MSH_CMD_SHARD_SEAL,     /**< shard: seal the active segment (error if empty) */
	MSH_CMD_SUB_KICK,       /**< kick: end matching subscriptions; out: how many */
	MSH_CMD_STORAGE_SEAL,   /**< shard: seal at a storage boundary; out: its seq */
	MSH_CMD_GO_PERSISTENT,  /**< persistent: journal from from_seq, hold acks */
	MSH_CMD_GO_MEMORY,      /**< shard: acks stop waiting; journal closes later */
	MSH_CMD_REPL_ROLE,      /**< role: promote or demote this node */
	MSH_CMD_STALL,          /**< stall: busy the worker for ms (fault injection) */
	MSH_CMD_FEED_ADD,       /**< feed: route its lines (the owner joins and serves it) */
	MSH_CMD_FEED_DEL,       /**< feed: forget it (the owner flushes it and leaves) */
};

enum msh_cmd_state {
	MSH_CMD_PENDING = 0,
	MSH_CMD_RUNNING,
	MSH_CMD_DONE,
	MSH_CMD_ABANDONED,
	MSH_CMD_DETACHED,
};

/** Live settings of a shard (shard set). */
struct msh_cmd_set {
	struct msh_app_shard *as;
	uint64_t max_bytes;
	uint64_t segment_age_ns;
	enum msh_on_full on_full;
};

/** A command and, once DONE, its answer. */
struct msh_cmd {
	enum msh_cmd_type type;
	uint32_t state; /**< enum msh_cmd_state, __atomic */
	union {
		struct msh_app_shard *shard;
		struct msh_app_feed *feed;
		struct msh_cmd_set set;
		struct {
			uint32_t ip;
			int32_t port; /**< -1: any */
		} kick;
		struct {
			struct msh_app_shard *as;
			uint64_t from_seq;
		} persistent;
		struct {
			bool promote;
		} role;
		struct {
			uint32_t ms;
		} stall;
	} arg;
	int rc;        /**< 0, or -1 with err */
	uint64_t out;  /**< kick: subscriptions ended; storage seal: the boundary seq */
	char err[256];
};

/** Number of command messages in the pool (dp->cmd_pool). */
#define MSH_CMD_POOL 255

/** Run @p c on @p w now (the worker's loop, or the main lcore before launch). */
void msh_worker_cmd_run(struct msh_worker *w, struct msh_cmd *c);

/** Take the commands queued on @p w's ring and run them (between bursts). */
void msh_worker_cmd_drain(struct msh_worker *w);

#endif /* MSH_APP_WORKER_CMD_H */
