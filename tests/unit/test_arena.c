/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/arena: alignment of base and size at init, aligned and
 * disjoint regions, used accounting, ENOMEM with the right largest_free,
 * coalescing in every free order, ENOSPC at MSH_ARENA_MAX_EXTENTS - 1 live
 * regions, and a seeded random run against a page-map model that checks
 * first fit, the number of free extents and largest_free after every step.
 * The arena never writes the memory it manages; the tests only malloc it.
 */
#include <errno.h>

#include "arena.h"
#include "testutil.h"

#define PG ((uint64_t)MSH_ARENA_ALIGN)

/* A heap arena struct of exactly its size, so that ASan catches any write
 * past the free-extent array. */
static struct msh_arena *
arena_new(void *base, uint64_t size)
{
	struct msh_arena *a = malloc(sizeof(*a));

	assert_non_null(a);
	memset(a, 0xa5, sizeof(*a)); /* init must not rely on zeroed memory */
	msh_arena_init(a, base, size);
	return a;
}

/* A 4096-aligned pointer inside a malloc'd block of pages + 1 pages. */
static uint8_t *
page_block(uint64_t pages, void **raw)
{
	*raw = malloc((pages + 1) * PG);
	assert_non_null(*raw);
	return (uint8_t *)MSH_ALIGN_UP((uintptr_t)*raw, (uintptr_t)PG);
}

static void
test_init_aligns(void **state)
{
	void *raw;
	uint8_t *p = page_block(16, &raw);
	struct msh_arena *a;

	(void)state;
	/* Base up to the next page, size down to whole pages after that. */
	a = arena_new(p + 100, 10 * PG);
	assert_ptr_equal(a->base, p + PG);
	assert_int_equal(a->size, 9 * PG);
	assert_int_equal(a->used, 0);
	assert_int_equal(a->n_regions, 0);
	assert_int_equal(a->n_free, 1);
	assert_int_equal(a->free[0].off, 0);
	assert_int_equal(a->free[0].len, 9 * PG);
	assert_int_equal(msh_arena_largest_free(a), 9 * PG);
	free(a);

	/* Aligned base, ragged size. */
	a = arena_new(p, 10 * PG + 5);
	assert_ptr_equal(a->base, p);
	assert_int_equal(a->size, 10 * PG);
	free(a);

	/* One byte too few for the last page after alignment. */
	a = arena_new(p + 1, 2 * PG - 2);
	assert_ptr_equal(a->base, p + PG);
	assert_int_equal(a->size, 0);
	assert_int_equal(a->n_free, 0);
	assert_int_equal(msh_arena_largest_free(a), 0);
	errno = 0;
	assert_null(msh_arena_alloc(a, 1));
	assert_int_equal(errno, ENOMEM);
	free(a);

	/* Exactly one page after alignment. */
	a = arena_new(p + 1, 2 * PG - 1);
	assert_ptr_equal(a->base, p + PG);
	assert_int_equal(a->size, PG);
	assert_ptr_equal(msh_arena_alloc(a, PG), p + PG);
	free(a);

	/* Smaller than the alignment gap: an empty arena. */
	a = arena_new(p + 1, 100);
	assert_int_equal(a->size, 0);
	assert_int_equal(a->n_free, 0);
	errno = 0;
	assert_null(msh_arena_alloc(a, 1));
	assert_int_equal(errno, ENOMEM);
	free(a);
	free(raw);
}

static void
assert_region(const struct msh_arena *a, const uint8_t *r, uint64_t len)
{
	assert_non_null(r);
	assert_int_equal((uintptr_t)r % PG, 0);
	assert_true(r >= a->base);
	assert_true((uint64_t)(r - a->base) + MSH_ALIGN_UP(len, PG) <= a->size);
}

static void
test_alloc_basic(void **state)
{
	void *raw;
	uint8_t *p = page_block(10, &raw);
	struct msh_arena *a = arena_new(p, 10 * PG);
	uint8_t *r1, *r2, *r3, *r4;

	(void)state;
	errno = 0;
	assert_null(msh_arena_alloc(a, 0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(msh_arena_alloc(a, UINT64_MAX));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(a->n_regions, 0);

	r1 = msh_arena_alloc(a, 1);
	assert_region(a, r1, 1);
	assert_ptr_equal(r1, p);
	assert_int_equal(a->used, PG);
	r2 = msh_arena_alloc(a, PG);
	assert_ptr_equal(r2, p + PG);
	assert_int_equal(a->used, 2 * PG);
	r3 = msh_arena_alloc(a, PG + 1); /* rounded up to two pages */
	assert_ptr_equal(r3, p + 2 * PG);
	assert_int_equal(a->used, 4 * PG);
	assert_int_equal(a->n_regions, 3);
	assert_int_equal(msh_arena_largest_free(a), 6 * PG);

	/* Too big by one byte: ENOMEM, nothing changes. */
	errno = 0;
	assert_null(msh_arena_alloc(a, 6 * PG + 1));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(a->used, 4 * PG);
	assert_int_equal(a->n_regions, 3);
	assert_int_equal(msh_arena_largest_free(a), 6 * PG);

	r4 = msh_arena_alloc(a, 6 * PG);
	assert_ptr_equal(r4, p + 4 * PG);
	assert_int_equal(a->used, 10 * PG);
	assert_int_equal(a->n_free, 0);
	assert_int_equal(msh_arena_largest_free(a), 0);
	errno = 0;
	assert_null(msh_arena_alloc(a, 1));
	assert_int_equal(errno, ENOMEM);

	/* Free with the caller's unrounded length. */
	msh_arena_free(a, r3, PG + 1);
	assert_int_equal(a->used, 8 * PG);
	assert_int_equal(msh_arena_largest_free(a), 2 * PG);
	assert_ptr_equal(msh_arena_alloc(a, 2 * PG), r3);
	free(a);
	free(raw);
}

static void
test_enomem_reports_largest(void **state)
{
	void *raw;
	uint8_t *p = page_block(10, &raw);
	struct msh_arena *a = arena_new(p, 10 * PG);
	uint8_t *r[10];

	(void)state;
	for (int i = 0; i < 10; i++) {
		r[i] = msh_arena_alloc(a, PG);
		assert_ptr_equal(r[i], p + (uint64_t)i * PG);
	}
	/* Holes of 2 pages (1-2) and 3 pages (5-7): 5 free, 3 at most at once. */
	msh_arena_free(a, r[1], PG);
	msh_arena_free(a, r[2], PG);
	msh_arena_free(a, r[6], PG);
	msh_arena_free(a, r[5], PG);
	msh_arena_free(a, r[7], PG);
	assert_int_equal(a->n_free, 2);
	assert_int_equal(a->used, 5 * PG);
	assert_int_equal(msh_arena_largest_free(a), 3 * PG);
	errno = 0;
	assert_null(msh_arena_alloc(a, 4 * PG));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(msh_arena_largest_free(a), 3 * PG);

	/* First fit: a page comes from the first hole, three from the second. */
	assert_ptr_equal(msh_arena_alloc(a, 3 * PG), p + 5 * PG);
	assert_int_equal(msh_arena_largest_free(a), 2 * PG);
	assert_ptr_equal(msh_arena_alloc(a, 1), p + PG);
	assert_int_equal(msh_arena_largest_free(a), PG);
	assert_ptr_equal(msh_arena_alloc(a, 1), p + 2 * PG);
	assert_int_equal(msh_arena_largest_free(a), 0);
	assert_int_equal(a->n_free, 0);
	assert_int_equal(a->used, 10 * PG);
	free(a);
	free(raw);
}

static void
test_free_coalesces(void **state)
{
	/* Every order of freeing three neighbours, with a free tail after the
	 * last one and then without. */
	static const int order[6][3] = {
		{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0},
	};
	void *raw;
	uint8_t *p = page_block(14, &raw);

	(void)state;
	for (int tail = 0; tail < 2; tail++)
		for (int o = 0; o < 6; o++) {
			uint64_t size = (12 + 2 * (uint64_t)tail) * PG;
			struct msh_arena *a = arena_new(p, size);
			uint8_t *r[3];

			for (int i = 0; i < 3; i++) {
				r[i] = msh_arena_alloc(a, 4 * PG);
				assert_ptr_equal(r[i], p + (uint64_t)i * 4 * PG);
			}
			assert_int_equal(a->n_free, tail);
			for (int k = 0; k < 3; k++)
				msh_arena_free(a, r[order[o][k]], 4 * PG);
			assert_int_equal(a->n_free, 1);
			assert_int_equal(a->free[0].off, 0);
			assert_int_equal(a->free[0].len, size);
			assert_int_equal(msh_arena_largest_free(a), size);
			assert_int_equal(a->used, 0);
			assert_int_equal(a->n_regions, 0);
			free(a);
		}

	/* The case spelled out: free A and C, then B. */
	{
		struct msh_arena *a = arena_new(p, 12 * PG);
		uint8_t *ra = msh_arena_alloc(a, 4 * PG), *rb = msh_arena_alloc(a, 4 * PG),
			*rc = msh_arena_alloc(a, 4 * PG);

		assert_non_null(ra);
		assert_non_null(rb);
		assert_non_null(rc);
		msh_arena_free(a, ra, 4 * PG);
		msh_arena_free(a, rc, 4 * PG);
		assert_int_equal(a->n_free, 2);
		assert_int_equal(msh_arena_largest_free(a), 4 * PG);
		msh_arena_free(a, rb, 4 * PG);
		assert_int_equal(a->n_free, 1);
		assert_int_equal(msh_arena_largest_free(a), 12 * PG);
		free(a);
	}
	free(raw);
}

static void
test_enospc_at_max_regions(void **state)
{
	enum { PAGES = 2048, LIVE = MSH_ARENA_MAX_EXTENTS - 1 };
	void *raw;
	uint8_t *p = page_block(PAGES, &raw);
	struct msh_arena *a = arena_new(p, PAGES * PG);
	static uint8_t *r[LIVE];

	(void)state;
	for (int i = 0; i < LIVE; i++) {
		r[i] = msh_arena_alloc(a, PG);
		assert_ptr_equal(r[i], p + (uint64_t)i * PG);
	}
	assert_int_equal(a->n_regions, LIVE);
	/* Space is left, but no more regions. */
	assert_int_equal(msh_arena_largest_free(a), (PAGES - LIVE) * PG);
	errno = 0;
	assert_null(msh_arena_alloc(a, PG));
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(a->n_regions, LIVE);
	assert_int_equal(a->used, LIVE * PG);

	/* Free every other region: the most free extents this layout allows. */
	for (int i = 0; i < LIVE; i += 2)
		msh_arena_free(a, r[i], PG);
	assert_int_equal(a->n_regions, LIVE / 2);
	assert_int_equal(a->n_free, LIVE / 2 + 1);
	assert_true(a->n_free <= MSH_ARENA_MAX_EXTENTS);
	/* Fill them again with first fit, up to the limit. */
	for (int i = 0; i < LIVE; i += 2)
		assert_ptr_equal(msh_arena_alloc(a, PG), r[i]);
	assert_int_equal(a->n_free, 1);
	errno = 0;
	assert_null(msh_arena_alloc(a, PG));
	assert_int_equal(errno, ENOSPC);

	/* One back, one more allowed. */
	msh_arena_free(a, r[500], PG);
	assert_ptr_equal(msh_arena_alloc(a, 1), r[500]);
	for (int i = 0; i < LIVE; i++)
		msh_arena_free(a, r[i], PG);
	assert_int_equal(a->n_free, 1);
	assert_int_equal(a->used, 0);
	assert_int_equal(msh_arena_largest_free(a), PAGES * PG);
	free(a);
	free(raw);
}

/* Page-map model: owner[page] is 0 when free, else the region's id. */
struct model {
	uint16_t owner[2048];
	uint32_t pages;
};

static uint32_t
model_first_fit(const struct model *m, uint32_t need)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < m->pages; i++) {
		run = m->owner[i] == 0 ? run + 1 : 0;
		if (run == need)
			return i + 1 - need;
	}
	return UINT32_MAX;
}

static void
model_runs(const struct model *m, uint32_t *n_runs, uint32_t *largest)
{
	uint32_t run = 0;

	*n_runs = 0;
	*largest = 0;
	for (uint32_t i = 0; i < m->pages; i++) {
		if (m->owner[i] == 0) {
			if (run++ == 0)
				(*n_runs)++;
			*largest = MSH_MAX(*largest, run);
		} else {
			run = 0;
		}
	}
}

struct live {
	uint8_t *p;
	uint64_t len;
};

static void
test_random_against_model(void **state)
{
	enum { PAGES = 2048, OPS = 50000, MAXLIVE = 1200 };
	static struct model m;
	static struct live live[MAXLIVE];
	void *raw;
	uint8_t *p = page_block(PAGES, &raw);
	struct msh_arena *a = arena_new(p, PAGES * PG);
	uint64_t rng = 0xda942042e4dd58b5ull, used = 0;
	uint32_t n_live = 0, n_nomem = 0, n_nospc = 0, max_free = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.pages = PAGES;
	for (uint32_t op = 1; op <= OPS; op++) {
		/* Lean to allocating so the arena runs full and into the limit on
		 * regions. Mixed phases take mostly small sizes and sometimes
		 * large ones; single-page phases shred the free space. */
		bool pages_only = (op / 5000) % 2 == 1;
		bool do_alloc = n_live == 0 || t_rand(&rng) % 100 < 55;
		uint32_t n_runs, largest;

		if (do_alloc) {
			uint64_t len = 1 + t_rand(&rng) % (3 * PG);
			uint32_t need, at;
			uint8_t *r;

			if (pages_only)
				len = 1 + t_rand(&rng) % PG;
			else if (t_rand(&rng) % 8 == 0)
				len = 1 + t_rand(&rng) % (256 * PG);
			need = (uint32_t)(MSH_ALIGN_UP(len, PG) / PG);
			at = model_first_fit(&m, need);
			errno = 0;
			r = msh_arena_alloc(a, len);
			if (n_live >= MSH_ARENA_MAX_EXTENTS - 1) {
				assert_null(r);
				assert_int_equal(errno, ENOSPC);
				n_nospc++;
			} else if (at == UINT32_MAX) {
				assert_null(r);
				assert_int_equal(errno, ENOMEM);
				assert_true(msh_arena_largest_free(a) < need * PG);
				n_nomem++;
			} else {
				assert_region(a, r, len);
				/* First fit, hence never on a live region. */
				assert_ptr_equal(r, p + (uint64_t)at * PG);
				for (uint32_t i = at; i < at + need; i++) {
					assert_int_equal(m.owner[i], 0);
					m.owner[i] = (uint16_t)(op % 65535 + 1);
				}
				live[n_live++] = (struct live){.p = r, .len = len};
				used += need * PG;
			}
		} else {
			uint32_t k = (uint32_t)(t_rand(&rng) % n_live);
			uint64_t off = (uint64_t)(live[k].p - p) / PG;
			uint32_t need = (uint32_t)(MSH_ALIGN_UP(live[k].len, PG) / PG);

			msh_arena_free(a, live[k].p, live[k].len);
			for (uint32_t i = 0; i < need; i++)
				m.owner[off + i] = 0;
			used -= need * PG;
			live[k] = live[--n_live];
		}
		model_runs(&m, &n_runs, &largest);
		assert_int_equal(a->n_regions, n_live);
		assert_int_equal(a->used, used);
		assert_int_equal(a->n_free, n_runs);
		assert_int_equal(msh_arena_largest_free(a), (uint64_t)largest * PG);
		/* The bound that keeps free[] from overflowing (arena.c). */
		assert_true(a->n_free <= n_live + 1);
		assert_true(a->n_free < MSH_ARENA_MAX_EXTENTS);
		max_free = MSH_MAX(max_free, a->n_free);
	}
	/* The run hit both limits and fragmented the arena. */
	assert_true(n_nomem > 100);
	assert_true(n_nospc > 100);
	assert_true(max_free > 100);

	while (n_live > 0) {
		n_live--;
		msh_arena_free(a, live[n_live].p, live[n_live].len);
	}
	assert_int_equal(a->used, 0);
	assert_int_equal(a->n_regions, 0);
	assert_int_equal(a->n_free, 1);
	assert_int_equal(msh_arena_largest_free(a), PAGES * PG);
	free(a);
	free(raw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_aligns),
		cmocka_unit_test(test_alloc_basic),
		cmocka_unit_test(test_enomem_reports_largest),
		cmocka_unit_test(test_free_coalesces),
		cmocka_unit_test(test_enospc_at_max_regions),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
