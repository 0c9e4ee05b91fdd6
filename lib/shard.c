/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Shard region layout, publish and append (fast path first, then the rarer
 * path that crosses segments and applies on_full), replicated appends at given
 * sequence numbers, truncation and reset, reads and sealing.
 */
#include <errno.h>

#include "shard.h"
#include "wire.h"

struct layout {
	size_t segs_off, free_off, dedupe_off, slots_off, total;
	uint32_t slot_bytes, n_slots;
};

static int
layout_of(const struct msh_shard_conf *conf, struct layout *l)
{
	size_t ded;
	uint64_t slot;

	if (conf->segment_bytes < MSH_SEGMENT_MIN_BYTES || conf->segment_bytes > UINT32_MAX - (MSH_SLOT_ALIGN - 1))
		return -EINVAL;
	slot = MSH_ALIGN_UP(conf->segment_bytes, (uint64_t)MSH_SLOT_ALIGN);
	if (conf->max_bytes / slot < 2 || conf->max_bytes / slot > UINT32_MAX)
		return -EINVAL;
	/* A segment must hold at least one message of the largest size. */
	if (slot - MSH_SEGMENT_HDR_LEN < conf->max_message + MSH_BLOCK_HDR_LEN + MSH_IDX_ENTRY_LEN)
		return -EINVAL;
	ded = msh_dedupe_footprint(conf->max_publishers);
	if (ded == 0)
		return -EINVAL;
	l->slot_bytes = (uint32_t)slot;
	l->n_slots = (uint32_t)(conf->max_bytes / slot);
	l->segs_off = MSH_ALIGN_UP(sizeof(struct msh_shard), (size_t)MSH_CACHE_LINE);
	l->free_off = l->segs_off + MSH_ALIGN_UP(l->n_slots * sizeof(void *), (size_t)MSH_CACHE_LINE);
	l->dedupe_off = l->free_off + MSH_ALIGN_UP(l->n_slots * sizeof(void *), (size_t)MSH_CACHE_LINE);
	l->slots_off = l->dedupe_off + MSH_ALIGN_UP(ded, (size_t)MSH_CACHE_LINE);
	/* Slack so that the slots can start on a page boundary wherever the
	 * region starts (it is only 64-byte aligned). */
	l->total = l->slots_off + (MSH_SLOT_ALIGN - MSH_CACHE_LINE) + (size_t)l->n_slots * slot;
	return 0;
}

size_t
msh_shard_footprint(const struct msh_shard_conf *conf)
{
	struct layout l;

	return layout_of(conf, &l) == 0 ? l.total : 0;
}

struct msh_shard *
msh_shard_init(void *mem, size_t len, const struct msh_shard_conf *conf, uint64_t first_seq)
{
	struct msh_shard *s = mem;
	struct layout l;
	uint8_t *base = mem;

	if (mem == NULL || ((uintptr_t)mem & (MSH_CACHE_LINE - 1)) != 0 || first_seq == 0 ||
	    layout_of(conf, &l) != 0 || len < l.total) {
		errno = EINVAL;
		return NULL;
	}
	memset(s, 0, sizeof(*s));
	s->conf = *conf;
	s->region_bytes = len;
	s->next_seq = first_seq;
	s->max_message = conf->max_message;
	s->on_full = conf->on_full;
	s->slot_bytes = l.slot_bytes;
	s->n_slots = l.n_slots;
	s->slot_limit = l.n_slots;
	s->segs = (struct msh_segment **)(base + l.segs_off);
	s->free_slots = (void **)(base + l.free_off);
	s->dedupe = msh_dedupe_init(base + l.dedupe_off, conf->max_publishers);
	s->slots = (uint8_t *)MSH_ALIGN_UP((uintptr_t)(base + l.slots_off), (uintptr_t)MSH_SLOT_ALIGN);
	/* Stack the slots so the lowest address is taken first: fewer pages
	 * touched by a shard that never fills up. */
	for (uint32_t i = 0; i < l.n_slots; i++)
		s->free_slots[i] = s->slots + (size_t)(l.n_slots - 1 - i) * l.slot_bytes;
	s->n_free = l.n_slots;
	return s;
}

void
msh_shard_set_hooks(struct msh_shard *s, msh_seal_hook_t on_seal, msh_evict_hook_t on_evict,
		    void *ctx)
{
	s->on_seal = on_seal;
	s->on_evict = on_evict;
	s->hook_ctx = ctx;
}

static inline struct msh_segment *
seg_at(const struct msh_shard *s, uint32_t i)
{
	uint32_t j = s->seg_head + i;

	if (j >= s->n_slots)
		j -= s->n_slots;
	return s->segs[j];
}

uint64_t
msh_shard_first_seq(const struct msh_shard *s)
{
	return s->seg_n ? seg_at(s, 0)->first_seq : s->next_seq;
}

static void
seal_active(struct msh_shard *s, uint64_t now, enum msh_seal_reason why)
{
	struct msh_segment *seg = s->active;

	msh_segment_seal(seg, now);
	s->active = NULL;
	switch (why) {
	case MSH_SEAL_SIZE:
		s->stats.sealed_size++;
		break;
	case MSH_SEAL_AGE:
		s->stats.sealed_age++;
		break;
	case MSH_SEAL_MANUAL:
		s->stats.sealed_manual++;
		break;
	}
	if (s->on_seal)
		s->on_seal(s->hook_ctx, s, seg, why);
}

/* Sealed segments that could be dropped now, oldest first (the active one
 * never is): spilled ones always, others only under on_full=evict, and none
 * from the first one still waiting to be spilled. *pending tells whether a
 * spill in progress held the count back. */
static uint32_t
evictable_why(const struct msh_shard *s, bool *pending)
{
	uint32_t sealed = s->seg_n - (s->active ? 1 : 0), n = 0;

	*pending = false;
	for (; n < sealed; n++) {
		uint32_t f = seg_at(s, n)->flags;

		if (f & MSH_SEG_F_SPILLED)
			continue;
		if (f & MSH_SEG_F_SPILL_PENDING) {
			*pending = true;
			break;
		}
		if (s->on_full != MSH_ON_FULL_EVICT)
			break;
	}
	return n;
}

static inline uint32_t
evictable(const struct msh_shard *s)
{
	bool pending;

	return evictable_why(s, &pending);
}

static void
evict_oldest(struct msh_shard *s)
{
	struct msh_segment *seg = seg_at(s, 0);

	if (s->on_evict)
		s->on_evict(s->hook_ctx, s, seg);
	if (seg->flags & MSH_SEG_F_SPILLED) {
		s->stats.released_segments++;
		s->stats.released_msgs += seg->count;
	} else {
		s->stats.evicted_segments++;
		s->stats.evicted_msgs += seg->count;
	}
	s->seg_head = s->seg_head + 1 == s->n_slots ? 0 : s->seg_head + 1;
	s->seg_n--;
	s->free_slots[s->n_free++] = seg;
}

/* Slots that may be taken without evicting. */
static inline uint32_t
slots_available(const struct msh_shard *s)
{
	uint32_t room = s->slot_limit > s->seg_n ? s->slot_limit - s->seg_n : 0;

	return MSH_MIN(room, s->n_free);
}

/* Open a new active segment; the caller has made sure a slot is free. */
static struct msh_segment *
open_segment(struct msh_shard *s, uint64_t now)
{
	void *slot = s->free_slots[--s->n_free];
	struct msh_segment *seg = msh_segment_init(slot, s->slot_bytes, s->next_seq, now);
	uint32_t j = s->seg_head + s->seg_n;

	if (j >= s->n_slots)
		j -= s->n_slots;
	seg->epoch = s->epoch;
	s->segs[j] = seg;
	s->seg_n++;
	s->active = seg;
	return seg;
}

/* Segments a fresh run of blocks would need once the active one is full. */
static uint32_t
segments_needed(const struct msh_shard *s, const uint8_t *blocks, uint32_t count)
{
	uint32_t cap = s->slot_bytes - MSH_SEGMENT_HDR_LEN;
	uint32_t room = 0, need = 0, off = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t b = MSH_BLOCK_HDR_LEN + msh_load_be16(blocks + off);

		if (b + MSH_IDX_ENTRY_LEN > room) {
			need++;
			room = cap;
		}
		room -= b + MSH_IDX_ENTRY_LEN;
		off += b;
	}
	return need;
}

static int __attribute__((noinline))
append_slow(struct msh_shard *s, const uint8_t *blocks, uint32_t blocks_len, uint32_t count,
	    uint64_t now)
{
	uint32_t n0 = 0, l0 = 0, need, avail;

	if (s->active)
		n0 = msh_segment_fit(s->active, blocks, count, &l0);
	need = segments_needed(s, blocks + l0, count - n0);
	avail = slots_available(s);
	if (need > avail) {
		/* Evictions needed so that the segments held after this publish
		 * stay within slot_limit (seg_n may exceed it after a live shrink).
		 * The oldest go first, so the segment being filled now is never
		 * one of them when this many are evictable. */
		uint64_t evictions = (uint64_t)s->seg_n + need - s->slot_limit;
		bool pending;

		if (evictions > evictable_why(s, &pending)) {
			if (pending)
				s->stats.spill_waits++;
			return -ENOSPC;
		}
	}
	if (n0 > 0)
		msh_segment_append_blocks(s->active, blocks, l0, n0, now);
	blocks += l0;
	blocks_len -= l0;
	count -= n0;
	s->next_seq += n0;
	while (count > 0) {
		struct msh_segment *seg;
		uint32_t n, l;

		if (s->active)
			seal_active(s, now, MSH_SEAL_SIZE);
		while (slots_available(s) == 0)
			evict_oldest(s);
		seg = open_segment(s, now);
		n = msh_segment_fit(seg, blocks, count, &l);
		msh_segment_append_blocks(seg, blocks, l, n, now);
		blocks += l;
		blocks_len -= l;
		count -= n;
		s->next_seq += n;
	}
	return 0;
}

int
msh_shard_append(struct msh_shard *s, const uint8_t *blocks, uint32_t blocks_len,
		 uint32_t count, uint64_t now_ns, uint64_t *first_seq)
{
	struct msh_segment *seg = s->active;
	int rc = 0;

	*first_seq = s->next_seq;
	if (MSH_LIKELY(seg != NULL &&
		       msh_segment_need(blocks_len, count) <= msh_segment_room(seg))) {
		msh_segment_append_blocks(seg, blocks, blocks_len, count, now_ns);
		s->next_seq += count;
	} else {
		rc = append_slow(s, blocks, blocks_len, count, now_ns);
	}
	if (MSH_LIKELY(rc == 0)) {
		s->stats.appended_msgs += count;
		s->stats.appended_bytes += blocks_len;
	}
	return rc;
}

int
msh_shard_append_at(struct msh_shard *s, uint64_t first_seq, const uint8_t *blocks,
		    uint32_t blocks_len, uint32_t count, uint64_t now_ns)
{
	uint64_t seq;
	int rc;

	if (count == 0 || first_seq == 0 || first_seq + count < first_seq)
		return -EINVAL;
	if (first_seq < s->next_seq)
		return -EALREADY;
	if (first_seq > s->next_seq)
		return -ENOMSG;
	rc = msh_shard_append(s, blocks, blocks_len, count, now_ns, &seq);
	if (rc != 0) {
		s->stats.full_rejects++;
		s->stats.full_reject_msgs += count;
	}
	return rc;
}

uint64_t
msh_shard_ts(const struct msh_shard *s, uint64_t seq)
{
	const struct msh_segment *seg = msh_shard_find(s, seq);

	return seg ? msh_segment_ts(seg, seq) : 0;
}

/* Whether dropping messages >= seq would cut or free a segment that the spill
 * lcore may be reading right now. */
static bool
drop_blocked(const struct msh_shard *s, uint64_t seq)
{
	for (uint32_t i = s->seg_n; i-- > 0;) {
		const struct msh_segment *seg = seg_at(s, i);

		if (msh_segment_end_seq(seg) <= seq)
			break;
		if (seg->flags & MSH_SEG_F_SPILL_PENDING)
			return true;
	}
	return false;
}

/* Take messages >= seq out of the segments, newest segment first; returns the
 * bytes of blocks freed. Leaves next_seq and the dedupe table to the caller,
 * who has checked drop_blocked(). */
static uint64_t
drop_from(struct msh_shard *s, uint64_t seq)
{
	uint64_t bytes = 0;

	while (s->seg_n > 0) {
		struct msh_segment *seg = seg_at(s, s->seg_n - 1);
		uint32_t keep, len;

		if (msh_segment_end_seq(seg) <= seq)
			break;
		keep = seg->first_seq >= seq ? 0 : (uint32_t)(seq - seg->first_seq);
		if (s->on_truncate)
			s->on_truncate(s->truncate_ctx, s, seg, keep);
		if (keep == 0) {
			bytes += seg->data_len;
			if (seg == s->active)
				s->active = NULL;
			s->seg_n--;
			s->free_slots[s->n_free++] = seg;
			continue;
		}
		/* Index entries past keep become free room again: appends to an
		 * active segment overwrite them, a sealed one stays sealed. */
		len = msh_segment_idx(seg, keep)->off;
		bytes += seg->data_len - len;
		seg->data_len = len;
		seg->count = keep;
		seg->flags &= ~MSH_SEG_F_SPILLED;
		break;
	}
	return bytes;
}

/* Forget (reset to "never seen") every publisher appended at or after @p ts.
 * An entry with next_seq 1 and no holes behaves exactly like a missing one in
 * msh_dedupe_check() and msh_dedupe_advance(); keeping it saves rehashing the
 * table, and its old last_seen makes it the first to go when room is needed.
 * Done here because dedupe.h exposes the entries and this is the only caller. */
static uint64_t
dedupe_forget_since(struct msh_dedupe *d, uint64_t ts)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i <= d->mask; i++) {
		struct msh_dedupe_entry *e = &d->slot[i];

		if (e->next_seq != 0 && e->last_seen >= ts && (e->next_seq != 1 || e->n_holes)) {
			e->next_seq = 1;
			e->n_holes = 0;
			n++;
		}
	}
	return n;
}

int
msh_shard_truncate(struct msh_shard *s, uint64_t seq)
{
	uint64_t ts = 0;

	if (seq == 0)
		return -EINVAL;
	if (seq >= s->next_seq)
		return 0;
	if (drop_blocked(s, seq))
		return -EBUSY;
	/* Read the timestamp before the index entry goes; 0 (not in memory)
	 * forgets every publisher. */
	if (seq >= msh_shard_first_seq(s))
		ts = msh_shard_ts(s, seq);
	s->stats.dedupe_forgotten += dedupe_forget_since(s->dedupe, ts);
	s->stats.truncated_bytes += drop_from(s, seq);
	s->stats.truncations++;
	s->stats.truncated_msgs += s->next_seq - seq;
	s->next_seq = seq;
	return 0;
}

int
msh_shard_reset(struct msh_shard *s, uint64_t next_seq)
{
	uint64_t first = msh_shard_first_seq(s);

	if (next_seq < s->next_seq)
		return -EINVAL;
	if (drop_blocked(s, first))
		return -EBUSY;
	s->stats.resets++;
	s->stats.reset_msgs += s->next_seq - first;
	drop_from(s, first);
	s->next_seq = next_seq;
	return 0;
}

void
msh_shard_set_truncate_hook(struct msh_shard *s, msh_truncate_hook_t on_truncate, void *ctx)
{
	s->on_truncate = on_truncate;
	s->truncate_ctx = ctx;
}

void
msh_shard_publish(struct msh_shard *s, uint32_t publisher_id, uint64_t publisher_seq,
		  const uint8_t *blocks, uint32_t blocks_len, uint32_t count, uint64_t now_ns,
		  struct msh_pub_result *r)
{
	struct msh_dedupe_verdict v;
	uint32_t off;

	s->stats.pub_datagrams++;
	msh_dedupe_check(s->dedupe, publisher_id, publisher_seq, count, &v);
	r->appended = 0;
	r->first_seq = 0;
	r->gap = 0;
	if (v.take == 0) {
		s->stats.dup_datagrams++;
		s->stats.dup_msgs += count;
		r->status = MSH_S_DUPLICATE;
		return;
	}
	off = 0;
	if (v.skip > 0)
		off = msh_blocks_skip(blocks, v.skip);
	if (msh_shard_append(s, blocks + off, blocks_len - off, v.take, now_ns, &r->first_seq) != 0) {
		s->stats.full_rejects++;
		s->stats.full_reject_msgs += v.take;
		r->first_seq = 0;
		r->status = MSH_S_SHARD_FULL;
		return;
	}
	/* Count overlap and gap only once the append made them real; a refused
	 * publish will be retried and must not be counted twice. */
	if (v.skip > 0) {
		s->stats.partial_overlaps++;
		s->stats.dup_msgs += v.skip;
	}
	if (v.gap > 0) {
		s->stats.publisher_gaps++;
		s->stats.publisher_gap_msgs += v.gap;
	}
	if (v.late)
		s->stats.late_fills++;
	msh_dedupe_advance(s->dedupe, publisher_id, publisher_seq + v.skip,
			   publisher_seq + v.skip + v.take, now_ns);
	r->appended = v.take;
	r->gap = v.gap;
	r->status = MSH_S_OK;
}

const struct msh_segment *
msh_shard_find(const struct msh_shard *s, uint64_t seq)
{
	uint32_t lo = 0, hi;

	if (s->seg_n == 0 || seq >= s->next_seq || seq < seg_at(s, 0)->first_seq)
		return NULL;
	/* Live readers mostly want the newest segment. */
	hi = s->seg_n - 1;
	if (seq >= seg_at(s, hi)->first_seq)
		return seg_at(s, hi);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;

		if (seg_at(s, mid)->first_seq <= seq)
			lo = mid;
		else
			hi = mid - 1;
	}
	return seg_at(s, lo);
}

int
msh_shard_read(const struct msh_shard *s, uint64_t seq, uint32_t max_count, uint32_t max_bytes,
	       struct msh_span *out)
{
	const struct msh_segment *seg;
	uint32_t n;

	if (seq >= s->next_seq)
		return 0;
	seg = msh_shard_find(s, seq);
	if (seg == NULL)
		return -ERANGE;
	n = msh_segment_span(seg, seq, max_count, max_bytes, out);
	if (n == 0)
		return max_count == 0 ? 0 : -EMSGSIZE;
	return (int)n;
}

int
msh_shard_tick(struct msh_shard *s, uint64_t now_ns)
{
	const struct msh_segment *seg = s->active;

	if (seg == NULL || seg->count == 0 || s->conf.segment_age_ns == 0 ||
	    now_ns - seg->created_ns < s->conf.segment_age_ns)
		return 0;
	seal_active(s, now_ns, MSH_SEAL_AGE);
	return 1;
}

int
msh_shard_seal(struct msh_shard *s, uint64_t now_ns)
{
	if (s->active == NULL || s->active->count == 0)
		return -ENODATA;
	seal_active(s, now_ns, MSH_SEAL_MANUAL);
	return 0;
}

int
msh_shard_set_max_bytes(struct msh_shard *s, uint64_t max_bytes)
{
	uint64_t limit = max_bytes / s->slot_bytes;

	if (limit < 2 || limit > s->n_slots)
		return -EINVAL;
	s->slot_limit = (uint32_t)limit;
	s->conf.max_bytes = max_bytes;
	if (s->on_full == MSH_ON_FULL_EVICT)
		while (s->seg_n > s->slot_limit && evictable(s) > 0)
			evict_oldest(s);
	return 0;
}

uint32_t
msh_shard_release_spilled(struct msh_shard *s)
{
	uint32_t n = 0;

	while (s->seg_n > 0 && seg_at(s, 0) != s->active &&
	       (seg_at(s, 0)->flags & MSH_SEG_F_SPILLED)) {
		evict_oldest(s);
		n++;
	}
	return n;
}

void
msh_shard_set_on_full(struct msh_shard *s, enum msh_on_full on_full)
{
	s->on_full = on_full;
	s->conf.on_full = on_full;
}
