/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/shard's spill states: a segment waiting for the spill
 * lcore (MSH_SEG_F_SPILL_PENDING) is never dropped, even under on_full=evict
 * (the publish is refused and counted as spill_waits); a segment on disk
 * (MSH_SEG_F_SPILLED) is dropped under memory pressure whatever on_full says,
 * counted as released rather than evicted; msh_shard_release_spilled() drops
 * the spilled prefix and stops at the first segment that is not on disk.
 */
#include <errno.h>

#include "shard.h"
#include "testutil.h"
#include "wire.h"

#define SEG 8192u

static uint16_t
len_100(uint64_t i)
{
	(void)i;
	return 100;
}

static struct msh_shard *
shard_new(uint32_t segments, enum msh_on_full on_full)
{
	struct msh_shard_conf c;
	size_t len;
	void *mem;
	struct msh_shard *s;

	memset(&c, 0, sizeof(c));
	msh_name_from_str(&c.name, "t");
	c.segment_bytes = SEG;
	c.max_bytes = (uint64_t)segments * SEG;
	c.on_full = on_full;
	c.max_message = 1438;
	c.max_publishers = 16;
	c.replicas = 1;
	c.acks = MSH_ACKS_ONE;
	len = msh_shard_footprint(&c);
	assert_true(len > 0);
	mem = aligned_alloc(64, MSH_ALIGN_UP(len, (size_t)64));
	assert_non_null(mem);
	s = msh_shard_init(mem, len, &c, 1);
	assert_non_null(s);
	return s;
}

/* Publish [from, from + n) of publisher 7; @return the status. */
static uint8_t
pub(struct msh_shard *s, uint64_t from, uint32_t n)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, from, n, len_100);
	struct msh_pub_result r;

	msh_shard_publish(s, 7, from, buf, len, n, 1000, &r);
	return r.status;
}

/* Publish one message at a time until the shard holds @p segs segments (the
 * last one active); @return the next publisher sequence number. */
static uint64_t
fill(struct msh_shard *s, uint32_t segs)
{
	uint64_t seq = 1;

	while (s->seg_n < segs) {
		assert_int_equal(pub(s, seq, 1), MSH_S_OK);
		seq++;
	}
	assert_non_null(s->active);
	return seq;
}

static struct msh_segment *
oldest(const struct msh_shard *s)
{
	return s->segs[s->seg_head];
}

static void
test_pending_blocks_eviction(void **state)
{
	struct msh_shard *s = shard_new(3, MSH_ON_FULL_EVICT);
	uint64_t seq = fill(s, 3), first = msh_shard_first_seq(s);
	uint8_t st;

	oldest(s)->flags |= MSH_SEG_F_SPILL_PENDING;
	/* Needs a fourth segment: the oldest is the only candidate and waits. */
	do
		st = pub(s, seq, 1), seq += st == MSH_S_OK;
	while (st == MSH_S_OK);
	assert_int_equal(st, MSH_S_SHARD_FULL);
	assert_int_equal(s->stats.spill_waits, 1);
	assert_int_equal(s->stats.evicted_segments, 0);
	assert_int_equal(msh_shard_first_seq(s), first);
	/* Written: now it goes, as a release, not an eviction. */
	oldest(s)->flags = (oldest(s)->flags & ~MSH_SEG_F_SPILL_PENDING) | MSH_SEG_F_SPILLED;
	assert_int_equal(pub(s, seq, 1), MSH_S_OK);
	assert_int_equal(s->stats.released_segments, 1);
	assert_int_equal(s->stats.evicted_segments, 0);
	assert_true(msh_shard_first_seq(s) > first);
	free(s);
}

static void
test_spilled_dropped_under_reject(void **state)
{
	struct msh_shard *s = shard_new(3, MSH_ON_FULL_REJECT);
	uint64_t seq = fill(s, 3);
	uint8_t st;

	/* Nothing on disk: reject, as without spill. */
	do
		st = pub(s, seq, 1), seq += st == MSH_S_OK;
	while (st == MSH_S_OK);
	assert_int_equal(st, MSH_S_SHARD_FULL);
	assert_int_equal(s->stats.spill_waits, 0);
	/* The oldest on disk: dropping it loses nothing, so reject lets it go. */
	oldest(s)->flags |= MSH_SEG_F_SPILLED;
	assert_int_equal(pub(s, seq, 1), MSH_S_OK);
	assert_int_equal(s->stats.released_segments, 1);
	assert_true(s->stats.released_msgs > 0);
	assert_int_equal(s->stats.evicted_segments, 0);
	free(s);
}

static void
test_release_spilled_prefix(void **state)
{
	struct msh_shard *s = shard_new(4, MSH_ON_FULL_REJECT);
	uint64_t held;

	fill(s, 4);
	held = s->next_seq - msh_shard_first_seq(s);
	/* Spilled: 0 and 2, not 1: only 0 may go (oldest first, no holes). */
	s->segs[(s->seg_head + 0) % s->n_slots]->flags |= MSH_SEG_F_SPILLED;
	s->segs[(s->seg_head + 2) % s->n_slots]->flags |= MSH_SEG_F_SPILLED;
	assert_int_equal(msh_shard_release_spilled(s), 1);
	assert_int_equal(s->seg_n, 3);
	assert_int_equal(s->stats.released_segments, 1);
	assert_int_equal(s->next_seq - msh_shard_first_seq(s) + s->stats.released_msgs, held);
	/* 1 written too: 1 and 2 go; the active one never does. */
	oldest(s)->flags |= MSH_SEG_F_SPILLED;
	s->active->flags |= MSH_SEG_F_SPILLED; /* even if marked by mistake */
	assert_int_equal(msh_shard_release_spilled(s), 2);
	assert_int_equal(s->seg_n, 1);
	assert_ptr_equal(oldest(s), s->active);
	assert_int_equal(msh_shard_release_spilled(s), 0);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pending_blocks_eviction),
		cmocka_unit_test(test_spilled_dropped_under_reject),
		cmocka_unit_test(test_release_spilled_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
