/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Shard table: linear probing, backward-shift deletion (see table.h).
 */
#include <errno.h>

#include "table.h"

uint32_t
msh_name_hash(const struct msh_name *n)
{
	uint64_t a, h;
	uint16_t b;

	memcpy(&a, n->b, 8);
	memcpy(&b, n->b + 8, 2);
	/* Multiply-xorshift over the 8 + 2 name bytes. */
	h = (a ^ ((uint64_t)b << 48) ^ b) * 0x9E3779B97F4A7C15ull;
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

size_t
msh_table_footprint(uint32_t max)
{
	if (max == 0 || max > (1u << 24))
		return 0;
	return sizeof(struct msh_table) +
	       (size_t)msh_pow2_slots(max) * sizeof(struct msh_table_entry);
}

struct msh_table *
msh_table_init(void *mem, uint32_t max)
{
	struct msh_table *t = mem;
	size_t len = msh_table_footprint(max);

	if (mem == NULL || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	memset(t, 0, len);
	t->mask = msh_pow2_slots(max) - 1;
	t->max = max;
	return t;
}

void *
msh_table_lookup(const struct msh_table *t, const struct msh_name *name)
{
	uint32_t h = msh_name_hash(name);

	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct msh_table_entry *e = &t->slot[i];

		if (!e->used)
			return NULL;
		if (e->hash == h && msh_name_eq(&e->name, name))
			return e->value;
	}
}

int
msh_table_add(struct msh_table *t, const struct msh_name *name, void *value)
{
	uint32_t h = msh_name_hash(name);
	uint32_t i;

	if (value == NULL)
		return -EINVAL;
	for (i = h & t->mask; t->slot[i].used; i = (i + 1) & t->mask)
		if (t->slot[i].hash == h && msh_name_eq(&t->slot[i].name, name))
			return -EEXIST;
	if (t->n >= t->max)
		return -ENOSPC;
	t->slot[i].name = *name;
	t->slot[i].hash = h;
	t->slot[i].value = value;
	t->slot[i].used = 1;
	t->n++;
	return 0;
}

int
msh_table_del(struct msh_table *t, const struct msh_name *name)
{
	uint32_t h = msh_name_hash(name);
	uint32_t i, j;

	for (i = h & t->mask;; i = (i + 1) & t->mask) {
		if (!t->slot[i].used)
			return -ENOENT;
		if (t->slot[i].hash == h && msh_name_eq(&t->slot[i].name, name))
			break;
	}
	for (j = i;;) {
		j = (j + 1) & t->mask;
		if (!t->slot[j].used)
			break;
		uint32_t home = t->slot[j].hash & t->mask;

		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slot[i] = t->slot[j];
			i = j;
		}
	}
	memset(&t->slot[i], 0, sizeof(t->slot[i]));
	t->n--;
	return 0;
}

int
msh_table_walk(const struct msh_table *t,
	       int (*fn)(void *arg, const struct msh_name *name, void *value), void *arg)
{
	for (uint32_t i = 0; i <= t->mask; i++) {
		int rc;

		if (!t->slot[i].used)
			continue;
		rc = fn(arg, &t->slot[i].name, t->slot[i].value);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
copy_one(void *arg, const struct msh_name *name, void *value)
{
	return msh_table_add(arg, name, value);
}

int
msh_table_copy(struct msh_table *dst, const struct msh_table *src)
{
	return msh_table_walk(src, copy_one, dst);
}
