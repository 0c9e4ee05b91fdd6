/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A shard as the appliance serves it, split by who may write what:
 *   - the fixed part, set by the main lcore before any other thread sees the
 *     shard (shards.c) and freed by it after every thread let go;
 *   - wk: the owning worker's, written by it alone (its commands included);
 *   - sp: the spill thread's, written by it alone once the shard is published
 *     (spill_admin.c fills it before publication and after withdrawal);
 *   - inflight: spill messages under way for the shard, atomics, any thread.
 * Other threads only read another owner's part: 64-bit single-writer words,
 * and __atomic acquire loads where an order matters (disk range, durable_seq).
 * tools/check_deps.py refuses a write to wk. or sp. from another thread's files.
 */
#ifndef MSH_APP_SHARD_STATE_H
#define MSH_APP_SHARD_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"
#include "repl.h"
#include "shard.h"
#include "sub.h"

struct msh_spill_msg;
struct msh_spilldir;
struct msh_journal;

/** A publisher's ACK held until its messages are on disk (storage = persistent). */
struct msh_held_ack {
	uint64_t end_seq; /**< sent once durable_seq >= end_seq */
	uint64_t pub_seq, first_seq;
	uint32_t pub_id, ip;
	uint16_t port, count;
	uint8_t mac[6];
	uint8_t status;
};

/** The owning worker's part of a shard. */
struct msh_shard_wk {
	struct msh_subs subs;
	/* Fan-out bookkeeping: every subscriber had everything up to fed_seq
	 * and none is behind, so a turn with nothing new skips the shard. */
	uint64_t fed_seq;
	bool behind;
	bool ended;              /**< deleted: answers still on their way are dropped */
	bool persistent;         /**< acks wait for the journal */
	uint64_t spill_retry_tsc; /**< no new spill writes before (after a failure) */
	struct msh_spill_msg *jmsg; /**< journal blocks being gathered this turn */
	uint32_t pend_head, pend_n; /**< held acks in the fixed part's pend[] */
	struct {
		uint64_t held, released, busy;
	} persist;
	struct msh_repl_lag repl_lag; /**< refreshed every millisecond for the control path */
	uint64_t repl_not_primary;     /**< publishes refused: not the primary */
	uint64_t spill_queued, spill_queue_full, disk_feed_msgs, disk_retrans_msgs;
};

/** The spill thread's part of a shard. */
struct msh_shard_sp {
	struct msh_journal *journal; /**< storage = persistent (or its last period) */
	uint64_t journal_close_at;    /**< destroy the journal once the files reach it */
	uint32_t journals_closed;     /**< __atomic: journals it destroyed (see mn) */
	uint64_t disk_first;          /**< __atomic: oldest seq in a verified file, 0: none */
	uint64_t disk_next;           /**< __atomic: one past the newest seq on disk */
	uint64_t durable_seq;         /**< __atomic: every seq below is on disk */
	int journal_error;            /**< 0, or why nothing more becomes durable */
	int last_error;               /**< last write error (-errno), 0 if none */
	uint64_t files, bytes, write_errors, bad_files, reads, read_msgs, read_errors;
};

/** The main lcore's part of a shard (control path only). */
struct msh_shard_mn {
	uint32_t journals_opened; /**< journals it opened: one is open while != sp's closed */
};

/** A shard as the appliance serves it (see the file comment for ownership). */
struct msh_app_shard {
	/* Fixed while the shard is published. */
	struct msh_shard *shard;     /**< appended to by the owner only */
	unsigned int worker;         /**< index of the owning worker */
	unsigned int owner_lcore;    /**< its lcore */
	void *region;                /**< from the arena */
	uint64_t region_len;
	struct msh_spilldir *dir;    /**< spill = disk: the spill thread's file table */
	struct msh_repl_shard *repl; /**< replicas = 2: the owner's replication state */
	struct hist *repl_lag_hist;  /**< owner: append to the secondary's ack */
	struct msh_held_ack *pend;   /**< persistent: pend_cap held acks (owner's ring) */
	uint32_t pend_cap;

	struct msh_shard_wk wk;
	struct msh_shard_sp sp;
	struct msh_shard_mn mn;
	uint32_t inflight; /**< __atomic: spill messages not yet answered */
};

#endif /* MSH_APP_SHARD_STATE_H */
