/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * First-fit extent allocator for shard regions (see arena.h).
 */
#include <errno.h>

#include "arena.h"

void
msh_arena_init(struct msh_arena *a, void *base, uint64_t size)
{
	uintptr_t b = (uintptr_t)base;
	uintptr_t aligned = MSH_ALIGN_UP(b, (uintptr_t)MSH_ARENA_ALIGN);

	memset(a, 0, sizeof(*a));
	if (size <= aligned - b)
		return;
	a->base = (uint8_t *)aligned;
	a->size = (size - (aligned - b)) & ~(uint64_t)(MSH_ARENA_ALIGN - 1);
	if (a->size > 0) {
		a->free[0].off = 0;
		a->free[0].len = a->size;
		a->n_free = 1;
	}
}

void *
msh_arena_alloc(struct msh_arena *a, uint64_t len)
{
	if (len == 0 || len > UINT64_MAX - MSH_ARENA_ALIGN) {
		errno = EINVAL;
		return NULL;
	}
	/* n live regions leave at most n + 1 free extents: bounding the
	 * regions keeps msh_arena_free() from ever running out of extents. */
	if (a->n_regions >= MSH_ARENA_MAX_EXTENTS - 1) {
		errno = ENOSPC;
		return NULL;
	}
	len = MSH_ALIGN_UP(len, (uint64_t)MSH_ARENA_ALIGN);
	for (uint32_t i = 0; i < a->n_free; i++) {
		struct msh_extent *e = &a->free[i];
		uint64_t off = e->off;

		if (e->len < len)
			continue;
		e->off += len;
		e->len -= len;
		if (e->len == 0) {
			memmove(e, e + 1, (a->n_free - i - 1) * sizeof(*e));
			a->n_free--;
		}
		a->used += len;
		a->n_regions++;
		return a->base + off;
	}
	errno = ENOMEM;
	return NULL;
}

void
msh_arena_free(struct msh_arena *a, void *p, uint64_t len)
{
	uint64_t off = (uint64_t)((uint8_t *)p - a->base);
	uint32_t i = 0;

	len = MSH_ALIGN_UP(len, (uint64_t)MSH_ARENA_ALIGN);
	a->used -= len;
	a->n_regions--;
	while (i < a->n_free && a->free[i].off < off)
		i++;
	/* Merge with the extent before and/or after when they touch. */
	if (i > 0 && a->free[i - 1].off + a->free[i - 1].len == off) {
		a->free[i - 1].len += len;
		if (i < a->n_free && off + len == a->free[i].off) {
			a->free[i - 1].len += a->free[i].len;
			memmove(&a->free[i], &a->free[i + 1], (a->n_free - i - 1) * sizeof(a->free[0]));
			a->n_free--;
		}
		return;
	}
	if (i < a->n_free && off + len == a->free[i].off) {
		a->free[i].off = off;
		a->free[i].len += len;
		return;
	}
	/* A new extent; room is guaranteed by the bound on n_regions. */
	memmove(&a->free[i + 1], &a->free[i], (a->n_free - i) * sizeof(a->free[0]));
	a->free[i].off = off;
	a->free[i].len = len;
	a->n_free++;
}

uint64_t
msh_arena_largest_free(const struct msh_arena *a)
{
	uint64_t m = 0;

	for (uint32_t i = 0; i < a->n_free; i++)
		m = MSH_MAX(m, a->free[i].len);
	return m;
}
