/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/segment: slot layout, append, fit, seal and spans, and
 * msh_idx_span() over an index of another layout.
 */
#include <errno.h>

#include "segment.h"
#include "testutil.h"

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)(i % 97);
}

static uint16_t
len_32(uint64_t i)
{
	(void)i;
	return 32;
}

static void *
slot_new(size_t n)
{
	void *p = aligned_alloc(4096, n);

	assert_non_null(p);
	return p;
}

static void
test_init_rejects_bad_slots(void **state)
{
	void *p = slot_new(8192);

	(void)state;
	errno = 0;
	assert_null(msh_segment_init(p, 100, 1, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(msh_segment_init((uint8_t *)p + 8, 4096, 1, 0));
	assert_null(msh_segment_init(p, 4100, 1, 0)); /* not a multiple of 16 */
	assert_null(msh_segment_init(NULL, 4096, 1, 0));
	assert_non_null(msh_segment_init(p, 4096, 1, 0));
	free(p);
}

static void
test_append_and_span_every_range(void **state)
{
	size_t slot = 16384;
	struct msh_segment *seg = msh_segment_init(slot_new(slot), slot, 100, 5);
	uint8_t buf[4096];
	struct msh_span sp;
	uint64_t i = 100;

	(void)state;
	assert_non_null(seg);
	assert_int_equal(msh_segment_room(seg), slot - MSH_SEGMENT_HDR_LEN);
	/* Fill with messages of varying length in batches of 3. */
	for (;;) {
		uint32_t len = t_blocks(buf, i, 3, len_var), fl;

		if (msh_segment_need(len, 3) > msh_segment_room(seg)) {
			/* fit must agree with room on the prefix it reports */
			uint32_t n = msh_segment_fit(seg, buf, 3, &fl);

			assert_true(n < 3);
			if (n > 0) {
				msh_segment_append_blocks(seg, buf, fl, n, 1000 + i);
				i += n;
			}
			break;
		}
		msh_segment_append_blocks(seg, buf, len, 3, 1000 + i);
		i += 3;
	}
	assert_int_equal(msh_segment_end_seq(seg), i);
	assert_true(msh_segment_room(seg) < 2 + 96 + MSH_IDX_ENTRY_LEN);
	/* Every message readable alone, with its timestamp. */
	for (uint64_t q = 100; q < i; q++) {
		assert_int_equal(msh_segment_span(seg, q, 1, 65535, &sp), 1);
		assert_true(sp.first_seq == q);
		t_check_blocks(sp.data, sp.len, q, 1, len_var);
		assert_true(msh_segment_ts(seg, q) >= 1000 + q - 2 && msh_segment_ts(seg, q) <= 1000 + q);
	}
	/* Ranges bounded by bytes: the run is maximal and within the bound. */
	for (uint64_t q = 100; q < i; q += 7) {
		uint32_t n = msh_segment_span(seg, q, 1000, 1400, &sp);

		assert_true(n >= 1);
		assert_true(sp.len <= 1400);
		t_check_blocks(sp.data, sp.len, q, n, len_var);
		if (q + n < i)
			assert_true(sp.len + 2 + len_var(q + n) > 1400);
	}
	/* Out of range. */
	assert_int_equal(msh_segment_span(seg, 99, 1, 65535, &sp), 0);
	assert_int_equal(msh_segment_span(seg, i, 1, 65535, &sp), 0);
	assert_int_equal(msh_segment_span(seg, 100, 0, 65535, &sp), 0);
	free(seg);
}

static void
test_span_count_and_first_too_big(void **state)
{
	struct msh_segment *seg = msh_segment_init(slot_new(8192), 8192, 1, 0);
	uint8_t buf[2048];
	struct msh_span sp;
	uint32_t len = t_blocks(buf, 1, 10, len_32);

	(void)state;
	msh_segment_append_blocks(seg, buf, len, 10, 7);
	assert_int_equal(msh_segment_span(seg, 3, 4, 65535, &sp), 4);
	assert_int_equal(sp.len, 4 * 34);
	t_check_blocks(sp.data, sp.len, 3, 4, len_32);
	assert_int_equal(msh_segment_span(seg, 8, 100, 65535, &sp), 3);
	/* A message larger than max_bytes gives nothing rather than a cut one. */
	assert_int_equal(msh_segment_span(seg, 1, 5, 33, &sp), 0);
	assert_int_equal(msh_segment_span(seg, 1, 5, 34, &sp), 1);
	free(seg);
}

static void
test_single_append_and_seal(void **state)
{
	struct msh_segment *seg = msh_segment_init(slot_new(4096), 4096, 1, 0);
	uint8_t msg[1000] = {0};
	int n = 0;

	(void)state;
	while (msh_segment_append(seg, msg, sizeof(msg), 1) == 0)
		n++;
	/* 4096 - 64 header = 4032; each message takes 1002 + 16 bytes. */
	assert_int_equal(n, 3);
	assert_int_equal(msh_segment_append(seg, msg, 0, 1), 0); /* empty message fits */
	assert_false(msh_segment_sealed(seg));
	msh_segment_seal(seg, 42);
	assert_true(msh_segment_sealed(seg));
	assert_int_equal(seg->sealed_ns, 42);
	msh_segment_seal(seg, 43);
	assert_int_equal(seg->sealed_ns, 42);
	assert_int_equal(msh_segment_append(seg, msg, 0, 1), -ENOSPC);
	free(seg);
}

/* A third index layout for msh_idx_span(): a plain array of count + 1
 * offsets, the last one the end of the blocks. */
struct flat_idx {
	const uint32_t *off;
	uint32_t count;
};

static uint32_t
flat_off(const void *ctx, uint32_t i)
{
	const struct flat_idx *x = ctx;

	assert_true(i <= x->count); /* never asked past the end */
	return x->off[i];
}

static void
test_idx_span_any_layout(void **state)
{
	enum { N = 40 };
	static const uint8_t blocks[1] = {0};
	uint32_t off[N + 1];
	struct flat_idx x = {off, N};
	const struct msh_idx_view v = {&x, flat_off, blocks, 500, N};
	struct msh_span sp;

	(void)state;
	/* Offsets only, no blocks behind them: some messages are empty (equal
	 * offsets), one is large. */
	off[0] = 0;
	for (uint32_t i = 0; i < N; i++)
		off[i + 1] = off[i] + (i == 17 ? 5000 : (i % 5 == 0 ? 0 : 10 + i));
	/* Every start, count and byte bound against a linear search. */
	for (uint32_t first = 0; first < N; first++) {
		for (uint32_t max_count = 0; max_count <= N + 2; max_count++) {
			for (uint32_t max_bytes = 0; max_bytes < 400; max_bytes += 7) {
				uint32_t want = 0, n;

				while (want < max_count && first + want < N &&
				       off[first + want + 1] - off[first] <= max_bytes)
					want++;
				memset(&sp, 0xa5, sizeof(sp));
				n = msh_idx_span(&v, first, max_count, max_bytes, &sp);
				if (n != want)
					fail_msg("first %u max_count %u max_bytes %u: %u, not %u",
						 first, max_count, max_bytes, n, want);
				if (n == 0) {
					/* out untouched */
					assert_int_equal(sp.count, 0xa5a5a5a5u);
					continue;
				}
				assert_ptr_equal(sp.data, blocks + off[first]);
				assert_int_equal(sp.len, off[first + n] - off[first]);
				assert_int_equal(sp.count, n);
				assert_true(sp.first_seq == 500 + first);
			}
		}
	}
	/* The large message is returned whole once the bound allows it. */
	assert_int_equal(msh_idx_span(&v, 17, 1, 4999, &sp), 0);
	assert_int_equal(msh_idx_span(&v, 17, 1, 5000, &sp), 1);
	assert_int_equal(sp.len, 5000);
	/* The last message, and everything at once. */
	assert_int_equal(msh_idx_span(&v, N - 1, 10, 65535, &sp), 1);
	assert_int_equal(msh_idx_span(&v, 0, N, UINT32_MAX, &sp), N);
	assert_int_equal(sp.len, off[N]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_slots),
		cmocka_unit_test(test_append_and_span_every_range),
		cmocka_unit_test(test_span_count_and_first_too_big),
		cmocka_unit_test(test_single_append_and_seal),
		cmocka_unit_test(test_idx_span_any_layout),
	};

	return cmocka_run_group_tests_name("segment", tests, NULL, NULL);
}
