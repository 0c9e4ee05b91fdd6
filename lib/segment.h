/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A segment: one fixed-size slot holding a run of consecutive messages of a
 * shard. The slot starts with this header; message blocks (MoldUDP64 layout:
 * 2-byte big-endian length, then data) grow up from data[], and the index (one
 * 16-byte entry per message: receive timestamp and offset) grows down from the
 * end of the slot. Any run of consecutive messages is therefore one contiguous
 * byte range that can go on the wire as it is.
 *
 * msh_idx_span() is the span search over an index of any layout, shared with
 * spill files (spill.h).
 *
 * Threading: a segment has one writer (the shard's owner lcore). Once sealed it
 * is immutable and may be read by any lcore (spill, replication repair).
 */
#ifndef MSH_SEGMENT_H
#define MSH_SEGMENT_H

#include "common.h"

/** Bytes of index per message. */
#define MSH_IDX_ENTRY_LEN 16u
/** Bytes of a segment's header; data[] starts here. */
#define MSH_SEGMENT_HDR_LEN 64u
/** Smallest slot accepted by msh_segment_init(). */
#define MSH_SEGMENT_MIN_BYTES 4096u

#define MSH_SEG_F_SEALED 0x1u
/** Queued for the spill lcore: its slot must not be reused until written. */
#define MSH_SEG_F_SPILL_PENDING 0x2u
/** On disk in a verified spill file: its memory may be dropped at any time. */
#define MSH_SEG_F_SPILLED 0x4u

/** One index entry; entry i describes message first_seq + i. */
struct msh_idx {
	uint64_t ts_ns; /**< receive timestamp */
	uint32_t off;   /**< offset of its block in data[] */
	uint32_t rsvd;
};

struct msh_segment {
	uint64_t first_seq;  /**< shard_seq of message 0 */
	uint64_t created_ns; /**< when the segment was opened */
	uint64_t sealed_ns;  /**< when it was sealed, 0 while active */
	uint32_t count;      /**< messages held */
	uint32_t data_len;   /**< bytes of blocks in data[] */
	uint32_t cap;        /**< bytes for data and index together */
	uint32_t flags;      /**< MSH_SEG_F_* */
	uint32_t epoch;      /**< replication epoch when opened */
	uint32_t slot_bytes; /**< size of the whole slot */
	uint8_t rsvd[16];
	uint8_t data[];
} MSH_CACHE_ALIGNED;

_Static_assert(sizeof(struct msh_segment) == MSH_SEGMENT_HDR_LEN, "segment header size");

/** A contiguous run of consecutive messages, ready for the wire. */
struct msh_span {
	const uint8_t *data; /**< first block */
	uint32_t len;        /**< bytes of blocks */
	uint32_t count;      /**< messages */
	uint64_t first_seq;  /**< sequence number of the first */
};

/**
 * Offset of block @p i from the start of the blocks of an index of count
 * messages (struct msh_idx_view), for i in [0, count]: i == count gives the
 * end of the blocks. The offsets never decrease with i.
 * @param ctx  msh_idx_view.ctx: whatever the function needs to find the index
 */
typedef uint32_t (*msh_idx_off_fn)(const void *ctx, uint32_t i);

/**
 * A run of consecutive messages seen through its index, whatever the index's
 * layout: a segment's (16-byte host-order entries growing down from the end
 * of the slot) or a spill file's (12-byte little-endian entries in sequence
 * order). Only off() reads the index.
 */
struct msh_idx_view {
	const void *ctx;       /**< passed to off() as it is (segment, spill file) */
	msh_idx_off_fn off;    /**< block offsets, see msh_idx_off_fn */
	const uint8_t *blocks; /**< what the offsets point into */
	uint64_t first_seq;    /**< sequence number of entry 0 */
	uint32_t count;        /**< messages in the index */
};

/**
 * The span search of msh_segment_span() and msh_spill_read(): the longest run
 * starting at entry @p first with at most @p max_count messages and at most
 * @p max_bytes bytes of blocks. Offsets grow with the index, so this is a
 * binary search: about log2(max_count) calls of off(). Always inlined: with a
 * constant off() the search then compiles as if written for that one layout
 * (GCC 12 leaves off() as a call when only "inline"). Writes only @p out; may
 * run on any thread that may read the index.
 * @param first  entry of the first message, below v->count (the caller checks)
 * @return messages in @p out, or 0 with @p out untouched if @p max_count is 0
 *         or the first message is larger than @p max_bytes.
 */
static inline __attribute__((always_inline)) uint32_t
msh_idx_span(const struct msh_idx_view *v, uint32_t first, uint32_t max_count, uint32_t max_bytes,
	     struct msh_span *out)
{
	uint32_t start = v->off(v->ctx, first);
	uint32_t lo = 0, hi = MSH_MIN(max_count, v->count - first);

	/* Largest n in [0, hi] with off(first + n) - start <= max_bytes. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;

		if (v->off(v->ctx, first + mid) - start <= max_bytes)
			lo = mid;
		else
			hi = mid - 1;
	}
	if (lo == 0)
		return 0;
	out->data = v->blocks + start;
	out->len = v->off(v->ctx, first + lo) - start;
	out->count = lo;
	out->first_seq = v->first_seq + first;
	return lo;
}

/**
 * Initialise a segment at the start of @p slot.
 * @param slot       memory of @p slot_bytes, 64-byte aligned
 * @param slot_bytes at least MSH_SEGMENT_MIN_BYTES and below 4 GiB
 * @return the segment, or NULL (errno EINVAL) on a bad slot.
 */
struct msh_segment *msh_segment_init(void *slot, size_t slot_bytes, uint64_t first_seq,
				     uint64_t now_ns);

static inline struct msh_idx *
msh_segment_idx(const struct msh_segment *seg, uint32_t i)
{
	/* Entry 0 is the last 16 bytes of the slot; the index grows down. */
	return (struct msh_idx *)((uintptr_t)seg + seg->slot_bytes) - 1 - i;
}

/** Bytes still free for blocks and index entries together. */
static inline uint32_t
msh_segment_room(const struct msh_segment *seg)
{
	return seg->cap - seg->data_len - seg->count * MSH_IDX_ENTRY_LEN;
}

/** Bytes a run of @p count messages with @p blocks_len bytes of blocks needs. */
static inline uint64_t
msh_segment_need(uint32_t blocks_len, uint32_t count)
{
	return (uint64_t)blocks_len + (uint64_t)count * MSH_IDX_ENTRY_LEN;
}

static inline bool
msh_segment_sealed(const struct msh_segment *seg)
{
	return seg->flags & MSH_SEG_F_SEALED;
}

/** Sequence number after the last message (first_seq + count). */
static inline uint64_t
msh_segment_end_seq(const struct msh_segment *seg)
{
	return seg->first_seq + seg->count;
}

/**
 * Append @p count already validated blocks (2-byte length + data each, exactly
 * @p blocks_len bytes) with one copy, all stamped @p ts_ns. The caller has
 * checked that msh_segment_need() <= msh_segment_room(); the segment must not
 * be sealed.
 */
void msh_segment_append_blocks(struct msh_segment *seg, const uint8_t *blocks,
			       uint32_t blocks_len, uint32_t count, uint64_t ts_ns);

/**
 * How many of the @p count blocks at @p blocks fit the room left.
 * @param fit_len  out: bytes of blocks of that prefix
 */
uint32_t msh_segment_fit(const struct msh_segment *seg, const uint8_t *blocks, uint32_t count,
			 uint32_t *fit_len);

/** Append one message (a convenience for tests and tools). @return 0 or -ENOSPC. */
int msh_segment_append(struct msh_segment *seg, const void *msg, uint16_t len, uint64_t ts_ns);

/** Seal: no more appends; idempotent. */
void msh_segment_seal(struct msh_segment *seg, uint64_t now_ns);

/**
 * The longest run starting at @p seq with at most @p max_count messages and
 * at most @p max_bytes bytes of blocks (at least one message is returned if
 * the first one fits max_bytes).
 * @return messages in @p out (0 if seq is outside the segment or the first
 *         message is larger than max_bytes).
 */
uint32_t msh_segment_span(const struct msh_segment *seg, uint64_t seq, uint32_t max_count,
			  uint32_t max_bytes, struct msh_span *out);

/** Receive timestamp of message @p seq (which must be in the segment). */
static inline uint64_t
msh_segment_ts(const struct msh_segment *seg, uint64_t seq)
{
	return msh_segment_idx(seg, (uint32_t)(seq - seg->first_seq))->ts_ns;
}

#endif /* MSH_SEGMENT_H */
