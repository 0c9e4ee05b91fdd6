/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/dedupe: footprint and init errors, the verdicts (first
 * contact, contiguous, whole duplicate, partial overlap, gap), independence
 * of publishers, the bound with least-recently-advanced eviction, and a seeded
 * random run against a reference model that also exercises backward-shift
 * deletion.
 */
#include <errno.h>

#include "dedupe.h"
#include "testutil.h"

static struct msh_dedupe *
dedupe_new(uint32_t max)
{
	size_t len = msh_dedupe_footprint(max);
	void *mem;
	struct msh_dedupe *d;

	assert_true(len > 0);
	mem = malloc(len);
	assert_non_null(mem);
	/* Garbage first: init must not rely on zeroed memory. */
	memset(mem, 0xa5, len);
	d = msh_dedupe_init(mem, max);
	assert_ptr_equal(d, mem);
	return d;
}

static void
check(const struct msh_dedupe *d, uint32_t id, uint64_t seq, uint32_t count, uint32_t skip,
      uint32_t take, uint64_t gap)
{
	struct msh_dedupe_verdict v;

	memset(&v, 0xff, sizeof(v));
	msh_dedupe_check(d, id, seq, count, &v);
	assert_int_equal(v.skip, skip);
	assert_int_equal(v.take, take);
	assert_int_equal(v.gap, gap);
}

/* Advance contiguously from the publisher's next_seq to @p to (the old
 * single-mark form); a @p to at or below next_seq only refreshes last_seen. */
static void
adv_to(struct msh_dedupe *d, uint32_t id, uint64_t to, uint64_t now)
{
	uint64_t next = msh_dedupe_next(d, id);

	msh_dedupe_advance(d, id, next, to > next ? to : next, now);
}

static void
test_footprint_and_init_errors(void **state)
{
	uint8_t mem[4096] __attribute__((aligned(8)));
	struct msh_dedupe *d;

	(void)state;
	assert_int_equal(msh_dedupe_footprint(0), 0);
	assert_int_equal(msh_dedupe_footprint((1u << 30) + 1), 0);
	assert_int_equal(msh_dedupe_footprint(UINT32_MAX), 0);
	assert_true(msh_dedupe_footprint(1u << 30) > 0);
	/* At least 8 slots, and at least twice max_publishers. */
	assert_int_equal(msh_dedupe_footprint(1),
			 sizeof(struct msh_dedupe) + 8 * sizeof(struct msh_dedupe_entry));
	assert_int_equal(msh_dedupe_footprint(4),
			 sizeof(struct msh_dedupe) + 8 * sizeof(struct msh_dedupe_entry));
	assert_int_equal(msh_dedupe_footprint(5),
			 sizeof(struct msh_dedupe) + 16 * sizeof(struct msh_dedupe_entry));
	assert_int_equal(msh_dedupe_footprint(64),
			 sizeof(struct msh_dedupe) + 128 * sizeof(struct msh_dedupe_entry));

	errno = 0;
	assert_null(msh_dedupe_init(NULL, 4));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(msh_dedupe_init(mem, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(msh_dedupe_init(mem, (1u << 30) + 1));
	assert_int_equal(errno, EINVAL);

	memset(mem, 0xa5, sizeof(mem));
	d = msh_dedupe_init(mem, 5);
	assert_ptr_equal(d, (void *)mem);
	assert_int_equal(d->mask, 15);
	assert_int_equal(d->max, 5);
	assert_int_equal(d->live, 0);
	assert_int_equal(d->forgotten, 0);
	for (uint32_t i = 0; i <= d->mask; i++)
		assert_int_equal(d->slot[i].next_seq, 0);
	assert_int_equal(msh_dedupe_next(d, 0xa5a5a5a5u), 1);
}

static void
test_first_contact(void **state)
{
	struct msh_dedupe *d = dedupe_new(16);

	(void)state;
	assert_int_equal(msh_dedupe_next(d, 7), 1);
	check(d, 7, 1, 10, 0, 10, 0);
	check(d, 7, 5, 3, 0, 3, 4);
	check(d, 7, 1, 1, 0, 1, 0);
	/* check is read-only: nothing was recorded. */
	assert_int_equal(msh_dedupe_next(d, 7), 1);
	assert_int_equal(d->live, 0);

	msh_dedupe_advance(d, 7, 5, 8, 100); /* appended 5..7 after a gap of 4 */
	assert_int_equal(d->live, 1);
	assert_int_equal(msh_dedupe_next(d, 7), 8);
	/* 1..4 were never appended: arriving late (reordered), they still are. */
	check(d, 7, 1, 4, 0, 4, 0);
	check(d, 7, 2, 2, 0, 2, 0);
	free(d);
}

static void
test_contiguous_duplicate_overlap_gap(void **state)
{
	struct msh_dedupe *d = dedupe_new(16);

	(void)state;
	adv_to(d, 7, 11, 1); /* 1..10 appended */
	assert_int_equal(msh_dedupe_next(d, 7), 11);

	/* Contiguous. */
	check(d, 7, 11, 5, 0, 5, 0);
	adv_to(d, 7, 16, 2);
	assert_int_equal(msh_dedupe_next(d, 7), 16);

	/* Whole duplicates: ranges ending at or before next. */
	check(d, 7, 1, 15, 15, 0, 0);
	check(d, 7, 11, 5, 5, 0, 0);
	check(d, 7, 15, 1, 1, 0, 0);
	check(d, 7, 1, 1, 1, 0, 0);

	/* Partial overlaps: exactly the messages from next on are taken. */
	check(d, 7, 15, 2, 1, 1, 0);
	check(d, 7, 10, 10, 6, 4, 0);
	check(d, 7, 1, 16, 15, 1, 0);

	/* Jump forward. */
	check(d, 7, 17, 1, 0, 1, 1);
	check(d, 7, 30, 3, 0, 3, 14);
	msh_dedupe_advance(d, 7, 30, 33, 3);
	assert_int_equal(msh_dedupe_next(d, 7), 33);
	/* The skipped 16..29 are a hole: a late datagram over them takes them. */
	check(d, 7, 16, 17, 0, 14, 0);

	/* A late append fills its part of the hole, never moves next back. */
	msh_dedupe_advance(d, 7, 20, 21, 4);
	assert_int_equal(msh_dedupe_next(d, 7), 33);
	check(d, 7, 20, 1, 1, 0, 0);  /* 20 is appended now */
	check(d, 7, 19, 3, 0, 1, 0);  /* 19 is still a hole, 20 not, 21 is */
	check(d, 7, 21, 2, 0, 2, 0);
	adv_to(d, 7, 33, 5);
	assert_int_equal(msh_dedupe_next(d, 7), 33);
	assert_int_equal(d->live, 1);
	free(d);
}

static void
test_next_one_equals_unknown(void **state)
{
	struct msh_dedupe *d = dedupe_new(16);

	(void)state;
	adv_to(d, 9, 1, 1);
	assert_int_equal(d->live, 1);
	assert_int_equal(msh_dedupe_next(d, 9), 1);
	assert_int_equal(msh_dedupe_next(d, 10), 1);
	check(d, 9, 1, 3, 0, 3, 0);
	check(d, 10, 1, 3, 0, 3, 0);
	check(d, 9, 3, 1, 0, 1, 2);
	check(d, 10, 3, 1, 0, 1, 2);
	free(d);
}

static void
test_many_publishers_independent(void **state)
{
	/* Small consecutive ids, id 0 and the extremes of the id space. */
	static const uint32_t extra[] = {0, UINT32_MAX, 0x80000000u, 0xdeadbeefu};
	struct msh_dedupe *d = dedupe_new(64);
	uint32_t n = 0;

	(void)state;
	for (uint32_t id = 1; id <= 50; id++, n++)
		adv_to(d, id, (uint64_t)id * 10 + 1, id);
	for (uint32_t k = 0; k < MSH_ARRAY_SIZE(extra); k++, n++)
		adv_to(d, extra[k], 1000 + k, 100 + k);
	assert_int_equal(d->live, n);
	assert_int_equal(d->forgotten, 0);

	/* Advancing one leaves the others alone. */
	adv_to(d, 25, 500, 200);
	for (uint32_t id = 1; id <= 50; id++) {
		uint64_t want = id == 25 ? 500 : (uint64_t)id * 10 + 1;

		assert_int_equal(msh_dedupe_next(d, id), want);
		check(d, id, want - 1, 2, 1, 1, 0);
	}
	for (uint32_t k = 0; k < MSH_ARRAY_SIZE(extra); k++)
		assert_int_equal(msh_dedupe_next(d, extra[k]), 1000 + k);
	assert_int_equal(msh_dedupe_next(d, 51), 1);
	assert_int_equal(msh_dedupe_next(d, 12345), 1);
	assert_int_equal(d->live, n);
	free(d);
}

static void
test_bound_forgets_least_recent(void **state)
{
	enum { N = 16, K = 10 };
	struct msh_dedupe *d = dedupe_new(N);

	(void)state;
	for (uint32_t id = 0; id < N + K; id++) {
		adv_to(d, id, 100 + id, 1 + id);
		assert_int_equal(d->live, MSH_MIN(id + 1, (uint32_t)N));
	}
	assert_int_equal(d->forgotten, K);
	assert_int_equal(d->live, N);
	for (uint32_t id = 0; id < K; id++)
		assert_int_equal(msh_dedupe_next(d, id), 1);
	for (uint32_t id = K; id < N + K; id++)
		assert_int_equal(msh_dedupe_next(d, id), 100 + id);

	/* Least recently advanced, not first inserted: refresh the oldest
	 * (id K) with an advance that does not move next, then add one more. */
	adv_to(d, K, 50, 1000);
	assert_int_equal(msh_dedupe_next(d, K), 100 + K);
	assert_int_equal(d->forgotten, K);
	adv_to(d, 999, 2, 1001);
	assert_int_equal(d->forgotten, K + 1);
	{
		/* The control path reads the same counter through the API. */
		struct msh_dedupe_stats ds;

		msh_dedupe_stats_get(d, &ds);
		assert_int_equal(ds.forgotten, K + 1);
		assert_int_equal(ds.holes_given_up, d->holes_given_up);
	}
	assert_int_equal(d->live, N);
	assert_int_equal(msh_dedupe_next(d, K), 100 + K);
	assert_int_equal(msh_dedupe_next(d, K + 1), 1);
	assert_int_equal(msh_dedupe_next(d, 999), 2);
	for (uint32_t id = K + 2; id < N + K; id++)
		assert_int_equal(msh_dedupe_next(d, id), 100 + id);

	/* A forgotten publisher comes back as new (its retransmission would be
	 * appended again: the documented price of the bound). */
	check(d, 0, 1, 100, 0, 100, 0);
	free(d);
}

/* Reference model: a plain array with LRU eviction. */
struct model_pub {
	uint32_t id;
	uint64_t next, last_seen;
};

struct model {
	struct model_pub p[64];
	uint32_t n, max;
	uint64_t forgotten;
};

static struct model_pub *
model_find(struct model *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->p[i].id == id)
			return &m->p[i];
	return NULL;
}

static uint64_t
model_next(struct model *m, uint32_t id)
{
	struct model_pub *p = model_find(m, id);

	return p ? p->next : 1;
}

static void
model_advance(struct model *m, uint32_t id, uint64_t next, uint64_t now)
{
	struct model_pub *p = model_find(m, id);

	if (p != NULL) {
		p->next = MSH_MAX(p->next, next);
		p->last_seen = now;
		return;
	}
	if (m->n == m->max) {
		uint32_t v = 0;

		for (uint32_t i = 1; i < m->n; i++)
			if (m->p[i].last_seen < m->p[v].last_seen)
				v = i;
		m->p[v] = m->p[--m->n];
		m->forgotten++;
	}
	m->p[m->n++] = (struct model_pub){.id = id, .next = next, .last_seen = now};
}

static void
test_random_against_model(void **state)
{
	enum { IDS = 300, MAX = 64, OPS = 100000 };
	static struct model m;
	struct msh_dedupe *d = dedupe_new(MAX);
	uint64_t rng = 0x2545f4914f6cdd1dull;
	uint32_t ids[IDS];

	(void)state;
	memset(&m, 0, sizeof(m));
	m.max = MAX;
	/* Scattered ids: some small and consecutive, some hashed all over. */
	for (uint32_t i = 0; i < IDS; i++)
		ids[i] = i < IDS / 2 ? i : (uint32_t)t_rand(&rng);

	for (uint64_t op = 1; op <= OPS; op++) {
		uint32_t id = ids[t_rand(&rng) % IDS];
		uint64_t next = model_next(&m, id);
		uint64_t lo = next > 4 ? next - 4 : 1;
		/* At or below next: jumps forward would make holes, which the
		 * model does not keep (test_holes_* cover them). */
		uint64_t seq = lo + t_rand(&rng) % (next - lo + 1);
		uint32_t count = 1 + (uint32_t)(t_rand(&rng) % 6);
		struct msh_dedupe_verdict v;

		msh_dedupe_check(d, id, seq, count, &v);
		if (seq >= next) {
			assert_int_equal(v.skip, 0);
			assert_int_equal(v.take, count);
			assert_int_equal(v.gap, seq - next);
		} else if (seq + count <= next) {
			assert_int_equal(v.skip, count);
			assert_int_equal(v.take, 0);
			assert_int_equal(v.gap, 0);
		} else {
			assert_int_equal(v.skip, next - seq);
			assert_int_equal(v.take, count - (next - seq));
			assert_int_equal(v.gap, 0);
		}
		/* Mostly advance as the shard does; sometimes with a stale
		 * next_seq, which must only refresh last_seen. */
		if (t_rand(&rng) % 8 != 0) {
			uint64_t to = (t_rand(&rng) % 4 == 0) ? seq : seq + count;

			adv_to(d, id, to, op);
			model_advance(&m, id, to, op);
		}
		assert_int_equal(d->live, m.n);
		assert_int_equal(d->forgotten, m.forgotten);
		for (uint32_t i = 0; i < m.n; i++)
			if (msh_dedupe_next(d, m.p[i].id) != m.p[i].next)
				fail_msg("op %llu: publisher %u next %llu, model %llu",
					 (unsigned long long)op, m.p[i].id,
					 (unsigned long long)msh_dedupe_next(d, m.p[i].id),
					 (unsigned long long)m.p[i].next);
		if (op % 1000 == 0)
			for (uint32_t i = 0; i < IDS; i++)
				assert_int_equal(msh_dedupe_next(d, ids[i]),
						 model_next(&m, ids[i]));
	}
	/* The run did evict, many times. */
	assert_true(m.forgotten > 10000);
	free(d);
}

static void
test_holes_reordered_datagrams_all_appended(void **state)
{
	/* Datagrams of 4 messages, delivered with random adjacent swaps (what a
	 * network that reorders does): every message is taken exactly once. */
	enum { DGRAMS = 20000, K = 4 };
	static uint8_t taken[DGRAMS * K + 1];
	struct msh_dedupe *d = dedupe_new(8);
	uint64_t rng = 0x9e3779b97f4a7c15ull, total = 0;
	uint32_t order[DGRAMS];

	(void)state;
	for (uint32_t i = 0; i < DGRAMS; i++)
		order[i] = i;
	for (uint32_t i = 0; i + 1 < DGRAMS; i++)
		if (t_rand(&rng) % 4 == 0) {
			uint32_t t = order[i];

			order[i] = order[i + 1];
			order[i + 1] = t;
			i++;
		}
	memset(taken, 0, sizeof(taken));
	for (uint32_t i = 0; i < DGRAMS; i++) {
		uint64_t seq = 1 + (uint64_t)order[i] * K;
		struct msh_dedupe_verdict v;

		msh_dedupe_check(d, 3, seq, K, &v);
		for (uint32_t j = 0; j < v.take; j++) {
			uint64_t q = seq + v.skip + j;

			if (taken[q])
				fail_msg("message %llu taken twice", (unsigned long long)q);
			taken[q] = 1;
		}
		total += v.take;
		msh_dedupe_advance(d, 3, seq + v.skip, seq + v.skip + v.take, i);
	}
	assert_int_equal(total, DGRAMS * K);
	assert_int_equal(msh_dedupe_next(d, 3), DGRAMS * K + 1);
	assert_int_equal(d->holes_given_up, 0);
	assert_true(d->holes_filled > 1000);
	/* And now everything is a duplicate. */
	for (uint32_t i = 0; i < DGRAMS; i += 97) {
		struct msh_dedupe_verdict v;

		msh_dedupe_check(d, 3, 1 + (uint64_t)i * K, K, &v);
		assert_int_equal(v.take, 0);
	}
	free(d);
}

static void
test_holes_bounded_oldest_given_up(void **state)
{
	struct msh_dedupe *d = dedupe_new(8);
	struct msh_dedupe_verdict v;

	(void)state;
	/* Five jumps forward: holes at 1, 3, 5, 7, 9; only four are kept. */
	for (uint64_t s = 2; s <= 10; s += 2)
		msh_dedupe_advance(d, 1, s, s + 1, s);
	assert_int_equal(d->holes_given_up, 1);
	msh_dedupe_check(d, 1, 1, 1, &v); /* the oldest hole was given up */
	assert_int_equal(v.take, 0);
	for (uint64_t s = 3; s <= 9; s += 2) {
		msh_dedupe_check(d, 1, s, 1, &v);
		assert_int_equal(v.take, 1);
		assert_true(v.late);
	}
	/* A datagram over two holes and what lies between takes its first run. */
	msh_dedupe_check(d, 1, 3, 3, &v); /* 3 hole, 4 appended, 5 hole */
	assert_int_equal(v.skip, 0);
	assert_int_equal(v.take, 1);
	/* Splitting a hole when all four are used gives the oldest up. */
	msh_dedupe_advance(d, 1, 20, 30, 99); /* hole 11..19, the oldest (3) goes */
	assert_int_equal(d->holes_given_up, 2);
	msh_dedupe_check(d, 1, 3, 1, &v);
	assert_int_equal(v.take, 0);
	msh_dedupe_advance(d, 1, 15, 16, 100); /* split 11..19: 11..14, 16..19 */
	msh_dedupe_check(d, 1, 11, 9, &v);
	assert_int_equal(v.skip, 0);
	assert_int_equal(v.take, 4);
	msh_dedupe_check(d, 1, 15, 5, &v);
	assert_int_equal(v.skip, 1);
	assert_int_equal(v.take, 4);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holes_reordered_datagrams_all_appended),
		cmocka_unit_test(test_holes_bounded_oldest_given_up),
		cmocka_unit_test(test_footprint_and_init_errors),
		cmocka_unit_test(test_first_contact),
		cmocka_unit_test(test_contiguous_duplicate_overlap_gap),
		cmocka_unit_test(test_next_one_equals_unknown),
		cmocka_unit_test(test_many_publishers_independent),
		cmocka_unit_test(test_bound_forgets_least_recent),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("dedupe", tests, NULL, NULL);
}
