/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The one wall-clock helper of the appliance: CLOCK_REALTIME in nanoseconds,
 * read through the vDSO (no system call), so the fast path may use it. The
 * TSC (rte_rdtsc) times intervals; this clock stamps messages and drives the
 * lib/ state machines, whose time is wall-clock nanoseconds.
 */
#ifndef MSH_APP_CLOCK_H
#define MSH_APP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
msh_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif /* MSH_APP_CLOCK_H */
