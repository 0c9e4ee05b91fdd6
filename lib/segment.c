/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Segment append, seal and range reads (see segment.h for the slot layout).
 */
#include <errno.h>

#include "segment.h"

struct msh_segment *
msh_segment_init(void *slot, size_t slot_bytes, uint64_t first_seq, uint64_t now_ns)
{
	struct msh_segment *seg = slot;

	if (slot == NULL || ((uintptr_t)slot & (MSH_CACHE_LINE - 1)) != 0 ||
	    slot_bytes < MSH_SEGMENT_MIN_BYTES || slot_bytes > UINT32_MAX ||
	    (slot_bytes & (MSH_IDX_ENTRY_LEN - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	memset(seg, 0, sizeof(*seg));
	seg->first_seq = first_seq;
	seg->created_ns = now_ns;
	seg->slot_bytes = (uint32_t)slot_bytes;
	seg->cap = (uint32_t)(slot_bytes - sizeof(*seg));
	return seg;
}

void
msh_segment_append_blocks(struct msh_segment *seg, const uint8_t *blocks, uint32_t blocks_len,
			  uint32_t count, uint64_t ts_ns)
{
	uint32_t off = seg->data_len;
	struct msh_idx *idx = msh_segment_idx(seg, seg->count);

	memcpy(seg->data + off, blocks, blocks_len);
	/* Walk the copy, not the source: the lengths were validated on the
	 * way in and the copy is already in cache. */
	for (uint32_t i = 0; i < count; i++) {
		idx[-(int32_t)i].ts_ns = ts_ns;
		idx[-(int32_t)i].off = off;
		off += MSH_BLOCK_HDR_LEN + msh_load_be16(seg->data + off);
	}
	seg->data_len = off;
	seg->count += count;
}

uint32_t
msh_segment_fit(const struct msh_segment *seg, const uint8_t *blocks, uint32_t count,
		uint32_t *fit_len)
{
	uint32_t room = msh_segment_room(seg);
	uint32_t len = 0, n = 0;

	while (n < count) {
		uint32_t b = MSH_BLOCK_HDR_LEN + msh_load_be16(blocks + len);

		if ((uint64_t)len + b + (uint64_t)(n + 1) * MSH_IDX_ENTRY_LEN > room)
			break;
		len += b;
		n++;
	}
	*fit_len = len;
	return n;
}

int
msh_segment_append(struct msh_segment *seg, const void *msg, uint16_t len, uint64_t ts_ns)
{
	uint8_t hdr[MSH_BLOCK_HDR_LEN];
	uint32_t off = seg->data_len;
	struct msh_idx *idx;

	if (msh_segment_sealed(seg) ||
	    msh_segment_need(MSH_BLOCK_HDR_LEN + len, 1) > msh_segment_room(seg))
		return -ENOSPC;
	msh_store_be16(hdr, len);
	memcpy(seg->data + off, hdr, sizeof(hdr));
	memcpy(seg->data + off + sizeof(hdr), msg, len);
	idx = msh_segment_idx(seg, seg->count);
	idx->ts_ns = ts_ns;
	idx->off = off;
	seg->data_len = off + MSH_BLOCK_HDR_LEN + len;
	seg->count++;
	return 0;
}

void
msh_segment_seal(struct msh_segment *seg, uint64_t now_ns)
{
	if (!msh_segment_sealed(seg)) {
		seg->flags |= MSH_SEG_F_SEALED;
		seg->sealed_ns = now_ns;
	}
}

/* msh_idx_off_fn of a segment's index. */
static inline uint32_t
idx_off(const void *ctx, uint32_t i)
{
	const struct msh_segment *seg = ctx;

	return i < seg->count ? msh_segment_idx(seg, i)->off : seg->data_len;
}

uint32_t
msh_segment_span(const struct msh_segment *seg, uint64_t seq, uint32_t max_count,
		 uint32_t max_bytes, struct msh_span *out)
{
	const struct msh_idx_view v = {
		.ctx = seg,
		.off = idx_off,
		.blocks = seg->data,
		.first_seq = seg->first_seq,
		.count = seg->count,
	};

	if (seq < seg->first_seq || seq >= msh_segment_end_seq(seg) || max_count == 0)
		return 0;
	return msh_idx_span(&v, (uint32_t)(seq - seg->first_seq), max_count, max_bytes, out);
}
