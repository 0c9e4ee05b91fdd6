/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Publisher dedupe for one shard: for each publisher_id, the next
 * publisher_seq it is expected to send, and up to MSH_DEDUPE_HOLES ranges below
 * it that were skipped over and never appended (holes). A PUBLISH whose range
 * was appended already is a duplicate, a partial overlap appends only its new
 * messages, and a jump forward is accepted, counted as a gap and remembered as
 * a hole (PROTOCOL.md). A datagram that arrives late, after a later one (the
 * network reordered them), falls in a hole and is appended then: only a range
 * that really was appended is a duplicate. When a publisher has more holes than
 * the table keeps, the oldest is given up (counted): a datagram for it arriving
 * even later is then taken for a duplicate.
 *
 * The table is bounded (max_publishers, open addressing over memory handed in
 * by the caller, no allocation). When it is full, the publisher seen least
 * recently is forgotten (and counted): a late retransmission from it would
 * then be appended again, which is the price of a bounded table.
 *
 * Two phases, so a refused append (shard full) does not advance the publisher:
 * msh_dedupe_check() decides, msh_dedupe_advance() records after the append.
 * Threading: owned by the shard's writer lcore.
 */
#ifndef MSH_DEDUPE_H
#define MSH_DEDUPE_H

#include "common.h"

/** Holes remembered per publisher. */
#define MSH_DEDUPE_HOLES 4

/** A range [start, end) of publisher_seq skipped over, not appended. */
struct msh_dedupe_hole {
	uint64_t start, end;
};

struct msh_dedupe_entry {
	uint64_t next_seq;   /**< next expected publisher_seq; 0 = slot empty */
	uint64_t last_seen;  /**< caller's clock at the last advance */
	uint32_t publisher_id;
	uint32_t n_holes;
	struct msh_dedupe_hole hole[MSH_DEDUPE_HOLES]; /**< sorted, disjoint */
};

struct msh_dedupe {
	uint32_t mask;   /**< slots - 1 (slots is a power of two) */
	uint32_t max;    /**< live entries allowed */
	uint32_t live;
	uint32_t rsvd;
	uint64_t forgotten; /**< publishers dropped to make room */
	uint64_t holes_given_up; /**< holes dropped because a publisher had too many */
	uint64_t holes_filled;   /**< late datagrams appended into a hole (reordering) */
	struct msh_dedupe_entry slot[];
};

/** Verdict on one PUBLISH. */
struct msh_dedupe_verdict {
	uint32_t skip;  /**< leading messages already appended */
	uint32_t take;  /**< messages to append after those (0 = whole duplicate) */
	uint64_t gap;   /**< publisher messages skipped over by this one (new hole) */
	bool late;      /**< fills (part of) a hole: it arrived after a later one */
};

/** Bytes needed for a table of @p max_publishers entries. */
size_t msh_dedupe_footprint(uint32_t max_publishers);

/**
 * Initialise a table in @p mem (msh_dedupe_footprint() bytes, 8-byte aligned).
 * @return the table or NULL (errno EINVAL) if max_publishers is 0 or above 2^30.
 */
struct msh_dedupe *msh_dedupe_init(void *mem, uint32_t max_publishers);

/**
 * Decide what to append of messages [seq, seq + count) from @p publisher_id:
 * the first contiguous run of them not appended yet (in a hole or at or past
 * next_seq). seq >= 1 and count >= 1 (the codec checks both). Read-only.
 * A publisher never seen starts at 1: a first seq above 1 is a gap.
 * A datagram whose new messages form several runs (it straddles a hole and
 * appended messages) gets only its first run appended; the rest stay holes.
 */
void msh_dedupe_check(const struct msh_dedupe *d, uint32_t publisher_id, uint64_t seq,
		      uint32_t count, struct msh_dedupe_verdict *v);

/**
 * Record that messages [first, end) of the publisher were appended: past
 * next_seq it moves next_seq (leaving a hole for any gap), below it it fills
 * the hole it lies in.
 */
void msh_dedupe_advance(struct msh_dedupe *d, uint32_t publisher_id, uint64_t first, uint64_t end,
			uint64_t now);

/** Next expected seq of a publisher, 1 if unknown. */
uint64_t msh_dedupe_next(const struct msh_dedupe *d, uint32_t publisher_id);

/** What the table gave up to stay within its size (single writer; readers may race). */
struct msh_dedupe_stats {
	uint64_t forgotten;      /**< publishers dropped to make room */
	uint64_t holes_given_up; /**< holes dropped because a publisher had too many */
};

/** The table's counters, for the control path. */
void msh_dedupe_stats_get(const struct msh_dedupe *d, struct msh_dedupe_stats *out);

#endif /* MSH_DEDUPE_H */
