/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Bounded publisher dedupe table: linear probing with backward-shift deletion
 * (no tombstones, so lookups stay short however long the appliance runs).
 * Written by hand rather than with rte_hash because lib/ stays free of DPDK
 * and the table lives inside the shard's own memory region.
 */
#include <errno.h>

#include "dedupe.h"

static inline uint32_t
pub_hash(uint32_t id)
{
	/* Murmur3 finaliser: publisher ids are often small consecutive numbers. */
	id ^= id >> 16;
	id *= 0x85ebca6bu;
	id ^= id >> 13;
	id *= 0xc2b2ae35u;
	id ^= id >> 16;
	return id;
}

size_t
msh_dedupe_footprint(uint32_t max_publishers)
{
	if (max_publishers == 0 || max_publishers > (1u << 30))
		return 0;
	return sizeof(struct msh_dedupe) +
	       (size_t)msh_pow2_slots(max_publishers) * sizeof(struct msh_dedupe_entry);
}

struct msh_dedupe *
msh_dedupe_init(void *mem, uint32_t max_publishers)
{
	struct msh_dedupe *d = mem;
	uint32_t n;

	if (mem == NULL || max_publishers == 0 || max_publishers > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	n = msh_pow2_slots(max_publishers);
	memset(d, 0, sizeof(*d) + (size_t)n * sizeof(d->slot[0]));
	d->mask = n - 1;
	d->max = max_publishers;
	return d;
}

static const struct msh_dedupe_entry *
lookup(const struct msh_dedupe *d, uint32_t id)
{
	for (uint32_t i = pub_hash(id) & d->mask;; i = (i + 1) & d->mask) {
		const struct msh_dedupe_entry *e = &d->slot[i];

		if (e->next_seq == 0)
			return NULL;
		if (e->publisher_id == id)
			return e;
	}
}

uint64_t
msh_dedupe_next(const struct msh_dedupe *d, uint32_t publisher_id)
{
	const struct msh_dedupe_entry *e = lookup(d, publisher_id);

	return e ? e->next_seq : 1;
}

void
msh_dedupe_check(const struct msh_dedupe *d, uint32_t publisher_id, uint64_t seq,
		 uint32_t count, struct msh_dedupe_verdict *v)
{
	const struct msh_dedupe_entry *e = lookup(d, publisher_id);
	uint64_t next = e ? e->next_seq : 1;
	uint64_t end = seq + count; /* the codec rejects ranges that wrap */
	uint64_t a, b;

	v->gap = 0;
	v->late = false;
	/* Holes first (they lie below next_seq, sorted), then [next_seq, inf):
	 * the first of them that the datagram overlaps is what it appends. */
	for (uint32_t i = 0; e != NULL && i < e->n_holes; i++) {
		a = MSH_MAX(seq, e->hole[i].start);
		b = MSH_MIN(end, e->hole[i].end);
		if (a < b) {
			v->skip = (uint32_t)(a - seq);
			v->take = (uint32_t)(b - a);
			v->late = true;
			return;
		}
	}
	if (end > next) {
		a = MSH_MAX(seq, next);
		v->skip = (uint32_t)(a - seq);
		v->take = (uint32_t)(end - a);
		v->gap = seq > next ? seq - next : 0;
		return;
	}
	v->skip = count;
	v->take = 0;
}

static void
erase(struct msh_dedupe *d, uint32_t i)
{
	/* Backward-shift: pull later entries of the probe run into the hole
	 * when their home slot does not lie (cyclically) between hole and them. */
	uint32_t j = i;

	for (;;) {
		j = (j + 1) & d->mask;
		if (d->slot[j].next_seq == 0)
			break;
		uint32_t home = pub_hash(d->slot[j].publisher_id) & d->mask;

		if (((j - home) & d->mask) >= ((j - i) & d->mask)) {
			d->slot[i] = d->slot[j];
			i = j;
		}
	}
	memset(&d->slot[i], 0, sizeof(d->slot[i]));
	d->live--;
}

static void
forget_oldest(struct msh_dedupe *d)
{
	/* Only when a new publisher arrives at a full table: a linear scan is
	 * acceptable there and keeps the common path free of LRU upkeep. */
	uint32_t victim = UINT32_MAX;
	uint64_t oldest = UINT64_MAX;

	for (uint32_t i = 0; i <= d->mask; i++)
		if (d->slot[i].next_seq != 0 &&
		    (victim == UINT32_MAX || d->slot[i].last_seen < oldest)) {
			oldest = d->slot[i].last_seen;
			victim = i;
		}
	if (victim != UINT32_MAX) {
		erase(d, victim);
		d->forgotten++;
	}
}

static void
hole_remove(struct msh_dedupe_entry *e, uint32_t i)
{
	memmove(&e->hole[i], &e->hole[i + 1], (e->n_holes - i - 1) * sizeof(e->hole[0]));
	e->n_holes--;
}

/* Insert [start, end) at index i, giving up the oldest hole if all are used. */
static void
hole_insert(struct msh_dedupe *d, struct msh_dedupe_entry *e, uint32_t i, uint64_t start,
	    uint64_t end)
{
	if (e->n_holes == MSH_DEDUPE_HOLES) {
		if (i == 0) {
			/* The new hole is the oldest: it is the one given up. */
			d->holes_given_up++;
			return;
		}
		hole_remove(e, 0);
		d->holes_given_up++;
		i--;
	}
	memmove(&e->hole[i + 1], &e->hole[i], (e->n_holes - i) * sizeof(e->hole[0]));
	e->hole[i].start = start;
	e->hole[i].end = end;
	e->n_holes++;
}

static struct msh_dedupe_entry *
find_or_add(struct msh_dedupe *d, uint32_t publisher_id)
{
	uint32_t i;

	for (i = pub_hash(publisher_id) & d->mask;; i = (i + 1) & d->mask) {
		struct msh_dedupe_entry *e = &d->slot[i];

		if (e->next_seq == 0)
			break;
		if (e->publisher_id == publisher_id)
			return e;
	}
	if (d->live >= d->max) {
		forget_oldest(d);
		/* The erase may have shifted entries: probe again for a hole. */
		for (i = pub_hash(publisher_id) & d->mask; d->slot[i].next_seq != 0;
		     i = (i + 1) & d->mask)
			;
	}
	memset(&d->slot[i], 0, sizeof(d->slot[i]));
	d->slot[i].publisher_id = publisher_id;
	d->slot[i].next_seq = 1;
	d->live++;
	return &d->slot[i];
}

void
msh_dedupe_advance(struct msh_dedupe *d, uint32_t publisher_id, uint64_t first, uint64_t end,
		   uint64_t now)
{
	struct msh_dedupe_entry *e = find_or_add(d, publisher_id);

	e->last_seen = now;
	if (first >= e->next_seq) {
		if (first > e->next_seq)
			hole_insert(d, e, e->n_holes, e->next_seq, first);
		e->next_seq = end;
		return;
	}
	/* A late datagram: take [first, end) out of the hole it lies in. */
	for (uint32_t i = 0; i < e->n_holes; i++) {
		struct msh_dedupe_hole *h = &e->hole[i];
		uint64_t hs = h->start, he = h->end;

		if (first < hs || first >= he)
			continue;
		end = MSH_MIN(end, he);
		if (first == hs && end == he)
			hole_remove(e, i);
		else if (first == hs)
			h->start = end;
		else if (end == he)
			h->end = first;
		else {
			h->end = first;
			hole_insert(d, e, i + 1, end, he);
		}
		d->holes_filled++;
		return;
	}
}

void
msh_dedupe_stats_get(const struct msh_dedupe *d, struct msh_dedupe_stats *out)
{
	out->forgotten = d->forgotten;
	out->holes_given_up = d->holes_given_up;
}
