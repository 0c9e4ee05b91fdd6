/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A shard owner's side of spill and persistence: queue sealed segments for
 * writing (one write in flight per shard, oldest first), ask for ranges older
 * than memory to be read back, gather appended blocks for the journal, and
 * apply the spill thread's answers. Never waits: when the pool or the ring is
 * out of room it says so and the caller tries again on a later turn. Called
 * by the owning worker, and by the main lcore at shutdown once the workers
 * have stopped (msh_spill_flush).
 */
#ifndef MSH_APP_SPILL_CLIENT_H
#define MSH_APP_SPILL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "shard_state.h"
#include "spill_msg.h"

/* Oldest sequence number the shard still serves: from its spill files when
 * they reach back further than memory (a gap between the two, left by a
 * segment evicted before it could be spilled, is met with UNAVAILABLE). */
static inline uint64_t
msh_spill_retained_first(const struct msh_app_shard *as)
{
	uint64_t mem = msh_shard_first_seq(as->shard);
	uint64_t disk = as->dir ? __atomic_load_n(&as->sp.disk_first, __ATOMIC_ACQUIRE) : 0;

	return disk != 0 && disk < mem ? disk : mem;
}

/* Whether [seq, ...) is to be read from the spill files: older than memory
 * and within what the files hold. */
static inline bool
msh_spill_on_disk(const struct msh_app_shard *as, uint64_t seq)
{
	uint64_t first, next;

	if (as->dir == NULL || seq >= msh_shard_first_seq(as->shard))
		return false;
	first = __atomic_load_n(&as->sp.disk_first, __ATOMIC_ACQUIRE);
	next = __atomic_load_n(&as->sp.disk_next, __ATOMIC_ACQUIRE);
	return first != 0 && seq >= first && seq < next;
}

/* The first sequence number at or after @p seq the shard can still serve:
 * @p seq itself when it is on disk or in memory, else the start of the next
 * range that is (the files, or memory past a gap the files do not cover). */
static inline uint64_t
msh_spill_next_servable(const struct msh_app_shard *as, uint64_t seq)
{
	uint64_t mem = msh_shard_first_seq(as->shard), disk;

	if (seq >= mem || msh_spill_on_disk(as, seq))
		return seq;
	disk = as->dir ? __atomic_load_n(&as->sp.disk_first, __ATOMIC_ACQUIRE) : 0;
	return disk != 0 && seq < disk ? disk : mem;
}

/** Queue the oldest sealed segment of @p as not yet written (one in flight). */
void msh_spill_kick(struct msh_spill_svc *svc, struct msh_app_shard *as, uint64_t tsc);

/**
 * Ask for [seq, end) of @p as to be read back for subscriber slot @p sub_idx
 * (or UINT32_MAX: a re-request to ip:port via mac).
 * @return 0, or -1 when no message could be had (try again later).
 */
int msh_spill_read_req(struct msh_spill_svc *svc, struct msh_app_shard *as, uint64_t seq,
		       uint64_t end, uint32_t sub_idx, const uint8_t *mac, uint32_t ip,
		       uint16_t port);

/**
 * Apply a WRITE answer to its segment: on disk (then freed at once under
 * spill_release = eager, and the next one queued), or back to unspilled with
 * a retry after a pause.
 */
void msh_spill_written(struct msh_spill_svc *svc, struct msh_spill_msg *m, uint64_t tsc);

/**
 * Make room in the shard's journal message for @p len more bytes of blocks
 * (sending the full one). @return 0, or -1 when no message could be had:
 * refuse the publish (backpressure).
 */
int msh_spill_journal_room(struct msh_spill_svc *svc, struct msh_app_shard *as, uint32_t len);

/**
 * Copy messages [first_seq, first_seq + count) of the shard into its journal
 * message (room made first). @return messages copied.
 */
uint32_t msh_spill_journal_add(struct msh_app_shard *as, uint64_t first_seq, uint32_t count);

/**
 * Send the gathered journal message. @return 0 when nothing is left gathered
 * (sent, or empty), -1 when the ring would not take it (kept for later).
 */
int msh_spill_journal_flush(struct msh_spill_svc *svc, struct msh_app_shard *as);

/** Lift the pause after a failed write (shutdown flush: one more try now). */
static inline void
msh_spill_retry_now(struct msh_app_shard *as)
{
	as->wk.spill_retry_tsc = 0;
}

/** Drop the gathered journal message unsent (a half-made switch). */
void msh_spill_journal_drop(struct msh_spill_svc *svc, struct msh_app_shard *as);

#endif /* MSH_APP_SPILL_CLIENT_H */
