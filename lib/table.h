/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The shard table: 10-byte shard name -> value (the appliance stores the
 * shard and its owner lcore). Fixed capacity, open addressing over memory
 * handed in by the caller; lookups allocate nothing and compare names with two
 * loads. Written by hand rather than with rte_hash so that lib/ stays free of
 * DPDK; the appliance publishes a new table to its workers by swapping a
 * pointer (copy on write), so a lookup never sees a half-made entry.
 *
 * Threading: not synchronised; one writer, or readers only.
 */
#ifndef MSH_TABLE_H
#define MSH_TABLE_H

#include "common.h"

struct msh_table_entry {
	struct msh_name name;
	uint16_t used;
	uint32_t hash;
	void *value;
};

struct msh_table {
	uint32_t mask; /**< slots - 1 */
	uint32_t max;  /**< entries allowed (half the slots) */
	uint32_t n;
	uint32_t rsvd;
	struct msh_table_entry slot[];
};

/** Bytes for a table of at most @p max entries (0 if max is 0 or above 2^24). */
size_t msh_table_footprint(uint32_t max);

/** Initialise in @p mem. @return the table or NULL (errno EINVAL). */
struct msh_table *msh_table_init(void *mem, uint32_t max);

/** Hash of a name (also usable to spread shards over lcores). */
uint32_t msh_name_hash(const struct msh_name *n);

/** Value for @p name, or NULL. */
void *msh_table_lookup(const struct msh_table *t, const struct msh_name *name);

/** Insert. @return 0, -EEXIST if present, -ENOSPC if full, -EINVAL for a NULL value. */
int msh_table_add(struct msh_table *t, const struct msh_name *name, void *value);

/** Remove. @return 0 or -ENOENT. */
int msh_table_del(struct msh_table *t, const struct msh_name *name);

/** Visit every entry in slot order; stop early when @p fn returns non-zero. */
int msh_table_walk(const struct msh_table *t,
		   int (*fn)(void *arg, const struct msh_name *name, void *value), void *arg);

/** Copy every entry of @p src into the empty table @p dst (for copy on write). */
int msh_table_copy(struct msh_table *dst, const struct msh_table *src);

#endif /* MSH_TABLE_H */
