/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * What the workers, the main lcore and the spill thread say to one another:
 * the spill message (a request and, filled in, its reply) and the service
 * handle (the request ring, the message pool, one reply ring per worker). A
 * message comes from the pool, counts in its shard's inflight until it goes
 * back, and belongs to whoever holds it: a sender never touches it after a
 * successful send.
 */
#ifndef MSH_APP_SPILL_MSG_H
#define MSH_APP_SPILL_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "config.h"

struct msh_app_shard;
struct msh_segment;
struct msh_journal;

/** Bytes of message blocks one read brings back (one round trip). */
#define MSH_SPILL_CHUNK (48u * 1024u)
#define MSH_SPILL_MAX_WORKERS 128

enum msh_spill_op {
	MSH_SPILL_OP_WRITE = 0,     /**< write seg to a file; reply: rc */
	MSH_SPILL_OP_READ,          /**< read [seq, end) from the files; reply: the blocks */
	MSH_SPILL_OP_JOURNAL,       /**< append count blocks from first_seq to the journal */
	MSH_SPILL_OP_OPEN_JOURNAL,  /**< main: take journal (opened at seq) as the shard's */
	MSH_SPILL_OP_CLOSE_JOURNAL, /**< drop the journal once seq is spilled */
};

/** A request to the spill thread and, filled in, its reply. */
struct msh_spill_msg {
	enum msh_spill_op op;
	int rc;                  /**< reply: 0 or -errno / -spill error */
	struct msh_app_shard *as;
	struct msh_segment *seg; /**< WRITE */
	struct msh_journal *journal; /**< OPEN_JOURNAL */
	/* READ: where the blocks go once the worker has them. */
	uint64_t seq, end;       /**< wanted [seq, end); OPEN/CLOSE_JOURNAL: seq */
	uint32_t sub_idx;        /**< subscriber slot it feeds, or UINT32_MAX: a re-request */
	uint32_t ip;
	uint16_t port;
	uint8_t mac[6];
	/* READ reply, JOURNAL request: whole blocks from first_seq. */
	uint64_t first_seq;
	uint32_t count, len;
	uint8_t data[MSH_SPILL_CHUNK];
};

/** The spill service: what its clients need to reach it. */
struct msh_spill_svc {
	struct rte_ring *ring;     /**< requests, any thread -> spill thread (MP/SC) */
	struct rte_mempool *pool;  /**< every message there is */
	struct rte_ring *done[MSH_SPILL_MAX_WORKERS]; /**< replies -> worker i (SP/SC) */
	unsigned int n_done;
	volatile bool quit;        /**< stop once everything queued is answered */
	uint64_t tsc_hz;
};

/** A message for @p as (zeroed header, op set) or NULL when the pool is empty. */
struct msh_spill_msg *msh_spill_msg_get(struct msh_spill_svc *svc, struct msh_app_shard *as,
					enum msh_spill_op op);
/** Give a message back (from whoever holds it): the shard's inflight drops. */
void msh_spill_msg_put(struct msh_spill_svc *svc, struct msh_spill_msg *m);
/**
 * Send @p m to the spill thread. @return 0 (it is the thread's now), or -1
 * when the ring would not take it: then @p m was given back (never waits).
 */
int msh_spill_send(struct msh_spill_svc *svc, struct msh_spill_msg *m);

#endif /* MSH_APP_SPILL_MSG_H */
