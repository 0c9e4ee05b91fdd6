/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The arena of one NUMA node: a block of memory (a hugepage memzone in the
 * appliance) from which each shard takes one region at creation and gives it
 * back at deletion. First fit over a sorted list of free extents that
 * coalesce on free. This is control-path only: the fast path works inside a
 * shard's region and never comes here, so the arena needs no lock as long as
 * only the main lcore calls it.
 */
#ifndef MSH_ARENA_H
#define MSH_ARENA_H

#include "common.h"

#define MSH_ARENA_MAX_EXTENTS 1024
#define MSH_ARENA_ALIGN 4096u

struct msh_extent {
	uint64_t off, len;
};

struct msh_arena {
	uint8_t *base;
	uint64_t size;
	uint64_t used;
	uint32_t n_free;
	uint32_t n_regions;
	struct msh_extent free[MSH_ARENA_MAX_EXTENTS];
};

/** Take over [base, base + size); base is aligned up to MSH_ARENA_ALIGN. */
void msh_arena_init(struct msh_arena *a, void *base, uint64_t size);

/**
 * A region of at least @p len bytes, MSH_ARENA_ALIGN aligned.
 * @return the region, or NULL with errno ENOMEM (no extent large enough; the
 *         caller reports largest_free), ENOSPC (MSH_ARENA_MAX_EXTENTS - 1
 *         regions live already) or EINVAL (len 0).
 */
void *msh_arena_alloc(struct msh_arena *a, uint64_t len);

/** Give back a region from msh_arena_alloc() with the same @p len. */
void msh_arena_free(struct msh_arena *a, void *p, uint64_t len);

/** Largest region that msh_arena_alloc() could return now. */
uint64_t msh_arena_largest_free(const struct msh_arena *a);

#endif /* MSH_ARENA_H */
