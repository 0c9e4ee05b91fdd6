/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Host jitter probe: spin on the current CPU reading CLOCK_MONOTONIC and
 * count the gaps between consecutive reads. Gaps are time the CPU was taken
 * away (hypervisor, interrupts, other threads); no program on this host can
 * show a latency tail shorter than them. Run pinned (taskset) on each CPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"

static uint64_t
mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5.0;
	uint64_t start = mono_ns(), end = start + (uint64_t)(secs * 1e9), prev = start;
	uint64_t over10 = 0, over100 = 0, over1000 = 0, max = 0, stolen = 0;

	if (secs <= 0 || secs > 600) {
		fprintf(stderr, "usage: bench_jitter [seconds, 0..600]\n");
		return 2;
	}
	for (;;) {
		uint64_t t = mono_ns(), g = t - prev;

		prev = t;
		if (g > 10000) {
			over10++;
			stolen += g;
			if (g > 100000)
				over100++;
			if (g > 1000000)
				over1000++;
		}
		max = MSH_MAX(max, g);
		if (t >= end)
			break;
	}
	printf("%.0f s: gaps > 10 us %lu, > 100 us %lu, > 1 ms %lu; longest %.1f us; "
	       "%.3f%% of the time taken away\n",
	       secs, (unsigned long)over10, (unsigned long)over100, (unsigned long)over1000,
	       (double)max / 1000.0, 100.0 * (double)stolen / (double)(end - start));
	return 0;
}
