/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/shard: region layout, publish (dedupe + all-or-nothing
 * append), seal by size, age and command, reads across segments, reject and
 * evict at max_bytes, live limit changes, hooks.
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

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 300);
}

static void
conf_small(struct msh_shard_conf *c, uint32_t segments, enum msh_on_full on_full)
{
	memset(c, 0, sizeof(*c));
	msh_name_from_str(&c->name, "t");
	c->segment_bytes = SEG;
	c->max_bytes = (uint64_t)segments * SEG;
	c->on_full = on_full;
	c->max_message = 1438;
	c->max_publishers = 16;
	c->replicas = 1;
	c->acks = MSH_ACKS_ONE;
}

static struct msh_shard *
shard_new(const struct msh_shard_conf *c)
{
	size_t len = msh_shard_footprint(c);
	void *mem;
	struct msh_shard *s;

	assert_true(len > 0);
	mem = aligned_alloc(64, MSH_ALIGN_UP(len, (size_t)64));
	assert_non_null(mem);
	s = msh_shard_init(mem, len, c, 1);
	assert_non_null(s);
	return s;
}

/* Publish messages [from, from + n) as one datagram of publisher 7. */
static void
pub(struct msh_shard *s, uint64_t from, uint32_t n, uint16_t (*len_of)(uint64_t), uint64_t now,
    struct msh_pub_result *r)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, from, n, len_of);

	msh_shard_publish(s, 7, from, buf, len, n, now, r);
}

/* Read every retained message from @p from to the end, checking contents. */
static uint64_t
read_all(const struct msh_shard *s, uint64_t from, uint16_t (*len_of)(uint64_t))
{
	struct msh_span sp;
	uint64_t seq = from;
	int n;

	while ((n = msh_shard_read(s, seq, 64, 1400, &sp)) > 0) {
		assert_true(sp.first_seq == seq);
		t_check_blocks(sp.data, sp.len, seq, (uint32_t)n, len_of);
		seq += (uint64_t)n;
	}
	assert_int_equal(n, 0);
	return seq;
}

static void
test_footprint_and_init_errors(void **state)
{
	struct msh_shard_conf c;
	uint8_t *mem;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	assert_true(msh_shard_footprint(&c) >= 4 * SEG);
	c.max_bytes = SEG; /* fewer than two segments */
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.segment_bytes = 1024; /* below the minimum slot */
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.max_publishers = 0;
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.max_message = SEG; /* a segment could not hold one message */
	assert_int_equal(msh_shard_footprint(&c), 0);

	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	mem = aligned_alloc(64, msh_shard_footprint(&c) + 64);
	errno = 0;
	assert_null(msh_shard_init(mem, msh_shard_footprint(&c) - 1, &c, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(msh_shard_init(mem + 8, msh_shard_footprint(&c), &c, 1));
	assert_null(msh_shard_init(mem, msh_shard_footprint(&c), &c, 0));
	assert_non_null(msh_shard_init(mem, msh_shard_footprint(&c), &c, 1));
	free(mem);
}

static void
test_publish_and_read_across_segments(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;

	(void)state;
	conf_small(&c, 16, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	assert_int_equal(msh_shard_read(s, 1, 10, 1400, &(struct msh_span){0}), 0);
	while (seq < 500) {
		uint32_t n = 1 + (uint32_t)(seq % 9);

		pub(s, seq, n, len_var, seq, &r);
		assert_int_equal(r.status, MSH_S_OK);
		assert_int_equal(r.appended, n);
		assert_true(r.first_seq == seq); /* one publisher: shard_seq == publisher_seq */
		seq += n;
	}
	assert_true(s->seg_n > 3); /* crossed several segments */
	assert_true(s->stats.sealed_size == s->seg_n - 1);
	assert_true(s->next_seq == seq);
	assert_true(msh_shard_first_seq(s) == 1);
	assert_true(read_all(s, 1, len_var) == seq);
	/* Start in the middle of each segment too. */
	for (uint64_t q = 1; q < seq; q += 13)
		assert_true(read_all(s, q, len_var) == seq);
	/* Segments chain without holes: each ends where the next begins. */
	{
		const struct msh_segment *a = msh_shard_find(s, 1);
		uint32_t n = 0;

		while (a != NULL) {
			n++;
			assert_true(a->count > 0);
			if (msh_segment_end_seq(a) == s->next_seq)
				break;
			const struct msh_segment *b = msh_shard_find(s, msh_segment_end_seq(a));

			assert_non_null(b);
			assert_true(b->first_seq == msh_segment_end_seq(a));
			a = b;
		}
		assert_int_equal(n, s->seg_n);
	}
	assert_true(s->stats.appended_msgs == seq - 1);
	free(s);
}

static void
test_batch_spanning_segments_is_contiguous(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	/* 8192-byte slots hold 69 messages of 100 bytes (118 bytes each with
	 * block header and index); a batch of 150 spans three segments. */
	pub(s, 1, 150, len_100, 1, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 150);
	assert_int_equal(s->seg_n, 3);
	assert_true(read_all(s, 1, len_100) == 151);
	free(s);
}

static void
test_reject_at_limit_is_all_or_nothing(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1, next;

	(void)state;
	conf_small(&c, 2, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	for (;;) {
		pub(s, seq, 10, len_100, 0, &r);
		if (r.status != MSH_S_OK)
			break;
		seq += 10;
	}
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	assert_int_equal(r.appended, 0);
	assert_true(r.first_seq == 0);
	next = s->next_seq;
	assert_true(next == seq); /* nothing of the refused datagram went in */
	assert_true(s->stats.full_rejects == 1);
	assert_true(s->stats.full_reject_msgs == 10);
	/* The refused datagram is not a duplicate when retried: the
	 * publisher did not advance. Once room is made, the retry goes in at
	 * the next shard_seq. */
	pub(s, seq, 10, len_100, 0, &r);
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	assert_true(s->stats.dup_datagrams == 0);
	msh_shard_set_on_full(s, MSH_ON_FULL_EVICT);
	pub(s, seq, 10, len_100, 0, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 10);
	assert_true(r.first_seq == next);
	assert_true(s->stats.evicted_segments == 1);
	msh_shard_set_on_full(s, MSH_ON_FULL_REJECT);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == s->next_seq);
	free(s);
}

static int evicted_calls;
static uint64_t evicted_last_first;

static void
on_evict(void *ctx, struct msh_shard *s, struct msh_segment *seg)
{
	(void)ctx;
	(void)s;
	assert_true(msh_segment_sealed(seg));
	evicted_calls++;
	evicted_last_first = seg->first_seq;
}

static void
test_evict_drops_oldest(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;
	struct msh_span sp;

	(void)state;
	conf_small(&c, 3, MSH_ON_FULL_EVICT);
	s = shard_new(&c);
	evicted_calls = 0;
	msh_shard_set_hooks(s, NULL, on_evict, NULL);
	while (seq < 2000) {
		pub(s, seq, 10, len_100, 0, &r);
		assert_int_equal(r.status, MSH_S_OK);
		seq += 10;
	}
	assert_true(evicted_calls > 0);
	assert_true(s->stats.evicted_segments == (uint64_t)evicted_calls);
	assert_true(s->seg_n <= 3);
	assert_true(msh_shard_mem_used(s) <= c.max_bytes);
	/* What remains is the newest, contiguous, up to next_seq. */
	assert_true(msh_shard_first_seq(s) > evicted_last_first);
	assert_true(s->stats.evicted_msgs == msh_shard_first_seq(s) - 1);
	assert_int_equal(msh_shard_read(s, 1, 1, 1400, &sp), -ERANGE);
	assert_int_equal(msh_shard_read(s, msh_shard_first_seq(s) - 1, 1, 1400, &sp), -ERANGE);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == seq);
	free(s);
}

static int sealed_calls[3];

static void
on_seal(void *ctx, struct msh_shard *s, struct msh_segment *seg, enum msh_seal_reason why)
{
	(void)ctx;
	(void)s;
	assert_true(msh_segment_sealed(seg));
	sealed_calls[why]++;
}

static void
test_seal_by_age_and_command(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	c.segment_age_ns = 1000;
	s = shard_new(&c);
	memset(sealed_calls, 0, sizeof(sealed_calls));
	msh_shard_set_hooks(s, on_seal, NULL, NULL);
	assert_int_equal(msh_shard_tick(s, 5000), 0); /* no segment yet */
	assert_int_equal(msh_shard_seal(s, 5000), -ENODATA);
	pub(s, 1, 5, len_100, 10000, &r);
	assert_int_equal(msh_shard_tick(s, 10999), 0);
	assert_int_equal(msh_shard_tick(s, 11000), 1);
	assert_int_equal(sealed_calls[MSH_SEAL_AGE], 1);
	assert_null(s->active);
	assert_int_equal(msh_shard_tick(s, 99999), 0); /* nothing open: no empty segments */
	pub(s, 6, 5, len_100, 20000, &r);
	assert_int_equal(s->seg_n, 2);
	assert_true(s->active->first_seq == 6);
	assert_int_equal(msh_shard_seal(s, 20001), 0);
	assert_int_equal(sealed_calls[MSH_SEAL_MANUAL], 1);
	assert_true(s->stats.sealed_age == 1 && s->stats.sealed_manual == 1);
	assert_true(read_all(s, 1, len_100) == 11);
	free(s);
}

static void
test_dedupe_through_publish(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	pub(s, 1, 10, len_100, 0, &r);
	assert_int_equal(r.appended, 10);
	pub(s, 1, 10, len_100, 0, &r); /* whole duplicate */
	assert_int_equal(r.status, MSH_S_DUPLICATE);
	assert_int_equal(r.appended, 0);
	assert_true(r.first_seq == 0);
	pub(s, 5, 10, len_100, 0, &r); /* 5..14: 11..14 are new */
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 4);
	assert_true(r.first_seq == 11);
	pub(s, 20, 2, len_100, 0, &r); /* gap of 15..19 */
	assert_int_equal(r.status, MSH_S_OK);
	assert_true(r.gap == 5);
	assert_true(r.first_seq == 15); /* shard_seq has no holes */
	assert_true(s->stats.dup_datagrams == 1);
	assert_true(s->stats.dup_msgs == 10 + 6);
	assert_true(s->stats.partial_overlaps == 1);
	assert_true(s->stats.publisher_gaps == 1 && s->stats.publisher_gap_msgs == 5);
	assert_true(s->next_seq == 17);
	free(s);
}

static void
test_live_limit_changes(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;

	(void)state;
	conf_small(&c, 6, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	assert_int_equal(msh_shard_set_max_bytes(s, 7 * (uint64_t)SEG), -EINVAL); /* beyond reservation */
	assert_int_equal(msh_shard_set_max_bytes(s, SEG), -EINVAL);
	while (s->seg_n < 5) {
		pub(s, seq, 10, len_100, 0, &r);
		seq += 10;
	}
	/* Shrink below what is held: reject refuses until memory frees. */
	assert_int_equal(msh_shard_set_max_bytes(s, 2 * (uint64_t)SEG), 0);
	do {
		pub(s, seq, 10, len_100, 0, &r);
		if (r.status == MSH_S_OK)
			seq += 10;
	} while (r.status == MSH_S_OK);
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	/* Switch to evict: the oldest go, the limit holds. */
	msh_shard_set_on_full(s, MSH_ON_FULL_EVICT);
	for (int k = 0; k < 50; k++) {
		pub(s, seq, 10, len_100, 0, &r);
		assert_int_equal(r.status, MSH_S_OK);
		seq += 10;
	}
	assert_true(s->seg_n <= 2);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == seq);
	free(s);
}

/* Random batches, random sizes, random reads against a model of what must
 * be retained. */
static void
test_random_against_model(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t rng = 0x9e3779b97f4a7c15ull, seq = 1;

	(void)state;
	conf_small(&c, 5, MSH_ON_FULL_EVICT);
	s = shard_new(&c);
	for (int k = 0; k < 20000; k++) {
		uint32_t n = 1 + (uint32_t)(t_rand(&rng) % 40);
		struct msh_span sp;
		uint64_t first, q;
		int got;

		pub(s, seq, n, len_var, (uint64_t)k, &r);
		assert_int_equal(r.status, MSH_S_OK);
		assert_true(r.first_seq == seq);
		seq += n;
		first = msh_shard_first_seq(s);
		assert_true(first <= seq);
		q = first + t_rand(&rng) % (seq - first);
		got = msh_shard_read(s, q, 1 + (uint32_t)(t_rand(&rng) % 50), 1400, &sp);
		assert_true(got > 0);
		t_check_blocks(sp.data, sp.len, q, (uint32_t)got, len_var);
		if (first > 1)
			assert_int_equal(msh_shard_read(s, first - 1, 1, 1400, &sp), -ERANGE);
	}
	assert_true(s->stats.evicted_msgs + (s->next_seq - msh_shard_first_seq(s)) ==
		    s->stats.appended_msgs);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_footprint_and_init_errors),
		cmocka_unit_test(test_publish_and_read_across_segments),
		cmocka_unit_test(test_batch_spanning_segments_is_contiguous),
		cmocka_unit_test(test_reject_at_limit_is_all_or_nothing),
		cmocka_unit_test(test_evict_drops_oldest),
		cmocka_unit_test(test_seal_by_age_and_command),
		cmocka_unit_test(test_dedupe_through_publish),
		cmocka_unit_test(test_live_limit_changes),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("shard", tests, NULL, NULL);
}
