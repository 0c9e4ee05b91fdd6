/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Log-linear latency histogram shared by msh-bench, the benchmarks and the
 * appliance (replication ack lag), so all report percentiles the same way.
 * Header-only, DPDK-free; a struct hist is about 60 KB.
 */
#ifndef MSH_HIST_H
#define MSH_HIST_H

#include <math.h>
#include <stdint.h>

#include "common.h"

/* Latency histogram ---------------------------------------------------------------
 * Values below 256 ns have a bucket each; above, each power of two [2^m, 2^m+1)
 * (m = 8..63) has 128 buckets of width 2^(m-7): relative width <= 1/128. */
#define H_LINEAR 256u
#define H_SUB 128u
#define H_BUCKETS (H_LINEAR + 56u * H_SUB)

struct hist {
	uint64_t c[H_BUCKETS];
	uint64_t n, min, max;
	double sum;
};

static inline unsigned int
hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < H_LINEAR)
		return (unsigned int)v;
	msb = 63u - (unsigned int)__builtin_clzll(v);
	shift = msb - 7u;
	return H_LINEAR + (msb - 8u) * H_SUB + (unsigned int)((v >> shift) - H_SUB);
}

/* Middle of a bucket. */
static inline uint64_t
hist_value(unsigned int i)
{
	unsigned int g, shift;
	uint64_t lo;

	if (i < H_LINEAR)
		return i;
	g = (i - H_LINEAR) / H_SUB;
	shift = g + 1u;
	lo = (uint64_t)(H_SUB + (i - H_LINEAR) % H_SUB) << shift;
	return lo + ((uint64_t)1 << shift) / 2;
}

static inline void
hist_add(struct hist *h, uint64_t v)
{
	h->c[hist_index(v)]++;
	if (h->n == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
	h->sum += (double)v;
}

/* Value at percentile @p p (0..100], in ns. */
static inline uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
	rank = MSH_MAX(rank, 1);
	for (unsigned int i = 0; i < H_BUCKETS; i++) {
		seen += h->c[i];
		if (seen >= rank)
			return MSH_MIN(MSH_MAX(hist_value(i), h->min), h->max);
	}
	return h->max;
}

#endif /* MSH_HIST_H */
