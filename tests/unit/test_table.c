/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/table: footprint and init errors, add/lookup/del and their
 * error codes, names that differ in one byte or share a full hash, a seeded
 * random run against a reference model (many deletes, so backward shifts),
 * walk with early stop, and copy on write.
 */
#include <errno.h>
#include <stdio.h>

#include "table.h"
#include "testutil.h"

static struct msh_table *
table_new(uint32_t max)
{
	size_t len = msh_table_footprint(max);
	void *mem;
	struct msh_table *t;

	assert_true(len > 0);
	mem = malloc(len);
	assert_non_null(mem);
	memset(mem, 0xa5, len); /* init must not rely on zeroed memory */
	t = msh_table_init(mem, max);
	assert_ptr_equal(t, mem);
	return t;
}

static struct msh_name
name_of(const char *s)
{
	struct msh_name n;

	assert_int_equal(msh_name_from_str(&n, s), 0);
	return n;
}

static struct msh_name
name_raw(const char *ten)
{
	struct msh_name n;

	memcpy(n.b, ten, MSH_NAME_LEN);
	return n;
}

static void
test_footprint_and_init_errors(void **state)
{
	uint8_t mem[1024] __attribute__((aligned(8)));
	struct msh_table *t;

	(void)state;
	assert_int_equal(msh_table_footprint(0), 0);
	assert_int_equal(msh_table_footprint((1u << 24) + 1), 0);
	assert_int_equal(msh_table_footprint(UINT32_MAX), 0);
	assert_int_equal(msh_table_footprint(1u << 24),
			 sizeof(struct msh_table) +
				 ((size_t)1 << 25) * sizeof(struct msh_table_entry));
	assert_int_equal(msh_table_footprint(1),
			 sizeof(struct msh_table) + 8 * sizeof(struct msh_table_entry));
	assert_int_equal(msh_table_footprint(5),
			 sizeof(struct msh_table) + 16 * sizeof(struct msh_table_entry));

	errno = 0;
	assert_null(msh_table_init(NULL, 4));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(msh_table_init(mem, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(msh_table_init(mem, (1u << 24) + 1));
	assert_int_equal(errno, EINVAL);

	memset(mem, 0xa5, sizeof(mem));
	t = msh_table_init(mem, 5);
	assert_ptr_equal(t, (void *)mem);
	assert_int_equal(t->mask, 15);
	assert_int_equal(t->max, 5);
	assert_int_equal(t->n, 0);
	for (uint32_t i = 0; i <= t->mask; i++)
		assert_int_equal(t->slot[i].used, 0);
}

static void
test_add_lookup_del(void **state)
{
	struct msh_table *t = table_new(8);
	struct msh_name ticks = name_of("ticks"), quotes = name_of("quotes");
	int v1, v2, v3;

	(void)state;
	assert_null(msh_table_lookup(t, &ticks));
	assert_int_equal(msh_table_add(t, &ticks, &v1), 0);
	assert_int_equal(t->n, 1);
	assert_ptr_equal(msh_table_lookup(t, &ticks), &v1);
	assert_null(msh_table_lookup(t, &quotes));

	/* Duplicate: refused, the first value stays. */
	assert_int_equal(msh_table_add(t, &ticks, &v2), -EEXIST);
	assert_ptr_equal(msh_table_lookup(t, &ticks), &v1);
	assert_int_equal(t->n, 1);

	/* NULL value: refused for a new name and for a present one. */
	assert_int_equal(msh_table_add(t, &quotes, NULL), -EINVAL);
	assert_int_equal(msh_table_add(t, &ticks, NULL), -EINVAL);
	assert_null(msh_table_lookup(t, &quotes));
	assert_int_equal(t->n, 1);

	assert_int_equal(msh_table_add(t, &quotes, &v3), 0);
	assert_ptr_equal(msh_table_lookup(t, &quotes), &v3);
	assert_int_equal(t->n, 2);

	assert_int_equal(msh_table_del(t, &ticks), 0);
	assert_int_equal(t->n, 1);
	assert_null(msh_table_lookup(t, &ticks));
	assert_ptr_equal(msh_table_lookup(t, &quotes), &v3);
	assert_int_equal(msh_table_del(t, &ticks), -ENOENT);
	assert_int_equal(t->n, 1);

	/* Re-adding after delete takes the new value. */
	assert_int_equal(msh_table_add(t, &ticks, &v2), 0);
	assert_ptr_equal(msh_table_lookup(t, &ticks), &v2);
	assert_int_equal(msh_table_del(t, &quotes), 0);
	assert_int_equal(msh_table_del(t, &ticks), 0);
	assert_int_equal(t->n, 0);
	assert_int_equal(msh_table_del(t, &ticks), -ENOENT);
	free(t);
}

static void
test_full(void **state)
{
	enum { MAX = 5 };
	struct msh_table *t = table_new(MAX);
	struct msh_name n[MAX + 1];
	int v[MAX + 1];
	char s[16];

	(void)state;
	for (int i = 0; i <= MAX; i++) {
		snprintf(s, sizeof(s), "full%d", i);
		n[i] = name_of(s);
	}
	for (int i = 0; i < MAX; i++)
		assert_int_equal(msh_table_add(t, &n[i], &v[i]), 0);
	assert_int_equal(t->n, MAX);
	assert_int_equal(msh_table_add(t, &n[MAX], &v[MAX]), -ENOSPC);
	assert_null(msh_table_lookup(t, &n[MAX]));
	/* A present name is still reported as present when full. */
	assert_int_equal(msh_table_add(t, &n[0], &v[0]), -EEXIST);
	assert_int_equal(t->n, MAX);
	for (int i = 0; i < MAX; i++)
		assert_ptr_equal(msh_table_lookup(t, &n[i]), &v[i]);

	assert_int_equal(msh_table_del(t, &n[2]), 0);
	assert_int_equal(msh_table_add(t, &n[MAX], &v[MAX]), 0);
	assert_int_equal(msh_table_add(t, &n[2], &v[2]), -ENOSPC);
	assert_ptr_equal(msh_table_lookup(t, &n[MAX]), &v[MAX]);
	assert_null(msh_table_lookup(t, &n[2]));
	free(t);
}

static void
test_near_names(void **state)
{
	/* Pairs that differ only in byte 9 (the last), byte 8, bytes 8 and 9
	 * swapped, or padding versus a last character. */
	static const char *const raw[] = {
		"abcdefghij", "abcdefghik", "abcdefghXj", "abcdefghji",
		"abcdefgh  ", "abcdefghi ", "bbcdefghij", "abcdefghi!",
	};
	enum { N = MSH_ARRAY_SIZE(raw) };
	struct msh_table *t = table_new(16);
	struct msh_name n[N];
	int v[N];

	(void)state;
	for (uint32_t i = 0; i < N; i++) {
		n[i] = name_raw(raw[i]);
		assert_int_equal(msh_table_add(t, &n[i], &v[i]), 0);
	}
	for (uint32_t i = 0; i < N; i++)
		assert_ptr_equal(msh_table_lookup(t, &n[i]), &v[i]);
	for (uint32_t i = 0; i < N; i += 2) {
		assert_int_equal(msh_table_del(t, &n[i]), 0);
		assert_null(msh_table_lookup(t, &n[i]));
		assert_ptr_equal(msh_table_lookup(t, &n[i + 1]), &v[i + 1]);
	}
	free(t);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Two names with the same 32-bit hash (found by search, so the test holds
 * whatever the hash function): the table must compare names, not hashes. */
static void
test_full_hash_collision(void **state)
{
	enum { TRIES = 300000 };
	uint64_t *h = malloc(TRIES * sizeof(*h));
	struct msh_table *t = table_new(8);
	struct msh_name a, b;
	char s[16];
	uint32_t i, ia = 0, ib = 0;
	int va, vb;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < TRIES; i++) {
		snprintf(s, sizeof(s), "c%u", i);
		a = name_of(s);
		h[i] = (uint64_t)msh_name_hash(&a) << 32 | i;
	}
	qsort(h, TRIES, sizeof(*h), cmp_u64);
	for (i = 1; i < TRIES; i++)
		if (h[i] >> 32 == h[i - 1] >> 32) {
			ia = (uint32_t)h[i - 1];
			ib = (uint32_t)h[i];
			break;
		}
	assert_true(i < TRIES);
	free(h);
	snprintf(s, sizeof(s), "c%u", ia);
	a = name_of(s);
	snprintf(s, sizeof(s), "c%u", ib);
	b = name_of(s);
	assert_false(msh_name_eq(&a, &b));
	assert_int_equal(msh_name_hash(&a), msh_name_hash(&b));

	assert_int_equal(msh_table_add(t, &a, &va), 0);
	assert_null(msh_table_lookup(t, &b));
	assert_int_equal(msh_table_del(t, &b), -ENOENT);
	assert_int_equal(msh_table_add(t, &b, &vb), 0);
	assert_ptr_equal(msh_table_lookup(t, &a), &va);
	assert_ptr_equal(msh_table_lookup(t, &b), &vb);
	assert_int_equal(msh_table_del(t, &a), 0);
	assert_null(msh_table_lookup(t, &a));
	assert_ptr_equal(msh_table_lookup(t, &b), &vb);
	free(t);
}

static void
test_random_against_model(void **state)
{
	enum { NAMES = 1000, MAX = 256, OPS = 20000 };
	static struct msh_name names[NAMES];
	static int vals[NAMES];
	static bool in[NAMES];
	struct msh_table *t = table_new(MAX);
	uint64_t rng = 0x853c49e6748fea9bull;
	uint32_t n = 0, adds = 0, dels = 0, full = 0;
	char s[16];

	(void)state;
	memset(in, 0, sizeof(in));
	for (uint32_t i = 0; i < NAMES; i++) {
		snprintf(s, sizeof(s), "s%u", i);
		names[i] = name_of(s);
	}
	for (uint32_t op = 1; op <= OPS; op++) {
		uint32_t k = (uint32_t)(t_rand(&rng) % NAMES);
		uint32_t what = (uint32_t)(t_rand(&rng) % 10);
		/* Alternate phases that fill the table and empty it, so deletes
		 * happen at every load factor. */
		uint32_t add_below = (op / 2000) % 2 == 0 ? 7 : 2;

		if (what == 9) {
			assert_ptr_equal(msh_table_lookup(t, &names[k]), in[k] ? &vals[k] : NULL);
		} else if (what < add_below) {
			int want = in[k] ? -EEXIST : n >= MAX ? -ENOSPC : 0;

			assert_int_equal(msh_table_add(t, &names[k], &vals[k]), want);
			if (want == 0) {
				in[k] = true;
				n++;
				adds++;
			} else if (want == -ENOSPC) {
				full++;
			}
		} else {
			/* Mostly delete a present name, sometimes a missing one. */
			if (n > 0 && t_rand(&rng) % 4 != 0)
				while (!in[k])
					k = (k + 1) % NAMES;
			assert_int_equal(msh_table_del(t, &names[k]), in[k] ? 0 : -ENOENT);
			if (in[k]) {
				in[k] = false;
				n--;
				dels++;
			}
		}
		assert_int_equal(t->n, n);
		if (op % 100 == 0)
			for (uint32_t i = 0; i < NAMES; i++)
				if (msh_table_lookup(t, &names[i]) != (in[i] ? &vals[i] : NULL))
					fail_msg("op %u: lookup of s%u disagrees with the model",
						 op, i);
	}
	/* The run filled the table and deleted a lot. */
	assert_true(full > 1000);
	assert_true(dels > 4000);
	assert_true(adds > 4000);
	free(t);
}

struct walk_state {
	int seen[64];
	int base[64];
	uint32_t calls;
	uint32_t stop_after;
};

static int
walk_fn(void *arg, const struct msh_name *name, void *value)
{
	struct walk_state *w = arg;
	int idx = (int)((int *)value - w->base);
	struct msh_name want;
	char s[16];

	assert_true(idx >= 0 && idx < 64);
	snprintf(s, sizeof(s), "w%d", idx);
	want = name_of(s);
	assert_true(msh_name_eq(name, &want));
	w->seen[idx]++;
	w->calls++;
	return w->calls == w->stop_after ? 7 : 0;
}

static void
test_walk(void **state)
{
	enum { N = 40 };
	struct msh_table *t = table_new(64);
	static struct walk_state w;
	struct msh_name n;
	char s[16];

	(void)state;
	memset(&w, 0, sizeof(w));
	assert_int_equal(msh_table_walk(t, walk_fn, &w), 0);
	assert_int_equal(w.calls, 0);

	for (int i = 0; i < N; i++) {
		snprintf(s, sizeof(s), "w%d", i);
		n = name_of(s);
		assert_int_equal(msh_table_add(t, &n, &w.base[i]), 0);
	}
	/* Delete a few so that some entries were shifted. */
	for (int i = 0; i < N; i += 7) {
		snprintf(s, sizeof(s), "w%d", i);
		n = name_of(s);
		assert_int_equal(msh_table_del(t, &n), 0);
	}
	assert_int_equal(msh_table_walk(t, walk_fn, &w), 0);
	assert_int_equal(w.calls, t->n);
	for (int i = 0; i < 64; i++)
		assert_int_equal(w.seen[i], (i < N && i % 7 != 0) ? 1 : 0);

	/* Early stop: the callback's value comes back, no further calls. */
	memset(&w.seen, 0, sizeof(w.seen));
	w.calls = 0;
	w.stop_after = 5;
	assert_int_equal(msh_table_walk(t, walk_fn, &w), 7);
	assert_int_equal(w.calls, 5);
	free(t);
}

static void
test_copy(void **state)
{
	enum { NAMES = 200 };
	static int vals[NAMES];
	struct msh_name names[NAMES];
	struct msh_table *src = table_new(128), *dst = table_new(128), *small = table_new(10),
			 *other = table_new(128);
	char s[16];
	int x;

	(void)state;
	for (uint32_t i = 0; i < NAMES; i++) {
		snprintf(s, sizeof(s), "s%u", i);
		names[i] = name_of(s);
	}
	for (uint32_t i = 0; i < 120; i++)
		assert_int_equal(msh_table_add(src, &names[i], &vals[i]), 0);
	for (uint32_t i = 0; i < 120; i += 3)
		assert_int_equal(msh_table_del(src, &names[i]), 0);
	assert_int_equal(src->n, 80);

	assert_int_equal(msh_table_copy(dst, src), 0);
	assert_int_equal(dst->n, src->n);
	for (uint32_t i = 0; i < NAMES; i++)
		assert_ptr_equal(msh_table_lookup(dst, &names[i]),
				 msh_table_lookup(src, &names[i]));
	/* The copy is independent of its source. */
	assert_int_equal(msh_table_del(dst, &names[1]), 0);
	assert_ptr_equal(msh_table_lookup(src, &names[1]), &vals[1]);

	/* Too small a destination reports it. */
	assert_int_equal(msh_table_copy(small, src), -ENOSPC);
	assert_int_equal(small->n, 10);
	/* A destination that is not empty reports the clash. */
	assert_int_equal(msh_table_add(other, &names[1], &x), 0);
	assert_int_equal(msh_table_copy(other, src), -EEXIST);
	free(src);
	free(dst);
	free(small);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_footprint_and_init_errors),
		cmocka_unit_test(test_add_lookup_del),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_near_names),
		cmocka_unit_test(test_full_hash_collision),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_walk),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests_name("table", tests, NULL, NULL);
}
