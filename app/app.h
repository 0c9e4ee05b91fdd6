/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The main lcore's state: configuration, the shared data-plane context (what
 * the workers see: dataplane.h), the NUMA arena, the shard table and list,
 * shards being deleted. Main side only: the telemetry thread reads the shard
 * table under shards_lock; workers never include this header.
 */
#ifndef MSH_APP_APP_H
#define MSH_APP_APP_H

#include <pthread.h>
#include <stdbool.h>

#include <rte_memzone.h>

#include "arena.h"
#include "config.h"
#include "dataplane.h"
#include "table.h"

struct msh_cmd;

/** The delete commands of one shard, one per worker (proxy.c). */
struct msh_del_cmds {
	struct msh_cmd *cmd[MSH_MAX_WORKERS]; /**< NULL: that worker has let go */
	bool sent[MSH_MAX_WORKERS];           /**< queued (else: its ring was full, retried) */
};

/** A deleted shard whose workers have not all let go yet (shards.c). */
struct msh_tombstone {
	struct msh_app_shard *as;
	struct msh_del_cmds del;
	uint64_t since_tsc;
	bool logged;
};

#define MSH_MAX_TOMBSTONES 64

/** A deleted feed whose workers have not all let go yet (feeds.c). */
struct msh_feed_tomb {
	struct msh_app_feed *fd;
	struct msh_del_cmds del;
};

struct msh_app {
	struct msh_conf conf;
	struct msh_dp dp;
	struct msh_arena arena;
	const struct rte_memzone *arena_mz;
	struct msh_table *shards; /**< name -> struct msh_app_shard */
	struct msh_app_shard *shard_list[MSH_CONF_MAX_SHARDS];
	unsigned int n_shards;
	struct msh_tombstone tomb[MSH_MAX_TOMBSTONES];
	unsigned int n_tomb;
	/* Multicast feeds (feeds.c); the telemetry thread reads the list under
	 * shards_lock too. */
	struct msh_app_feed *feed_list[MSH_CONF_MAX_FEEDS];
	unsigned int n_feeds;
	struct msh_feed_tomb feed_tomb[MSH_CONF_MAX_FEEDS];
	unsigned int n_feed_tomb;
	bool allmulti[MSH_MAX_PORT_SLOTS]; /**< the PMD has no multicast filter: all-multicast */
	bool no_huge;
	bool debug_commands; /**< MEMSHARD_DEBUG=1: the 'debug' control commands */
	/* The telemetry thread reads shards through shards and shard_list while
	 * the main lcore adds and removes them: both hold this lock for that. */
	pthread_mutex_t shards_lock;
	bool tel_closed; /**< shutdown: telemetry handlers answer nothing */
};

extern struct msh_app msh_app;

#endif /* MSH_APP_APP_H */
