/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Counter symbols and sums (counters.h), and the appliance's log type.
 */
#include <string.h>

#include <rte_log.h>

#include "counters.h"
#include "log.h"

RTE_LOG_REGISTER(msh_logtype_app, memshard.app, NOTICE);

const char *const msh_status_sym[MSH_S_COUNT] = {
#define _(sym, val, str) #sym,
	foreach_msh_status
#undef _
};
const char *const msh_wire_err_sym[MSH_WIRE_E_COUNT] = {
	"OK",
#define _(sym, str) #sym,
	foreach_msh_wire_err
#undef _
};
const char *const msh_net_drop_sym[MSH_NET_DROP_COUNT] = {
	"NONE",
#define _(sym, str) #sym,
	foreach_msh_net_drop
#undef _
};
const char *const msh_app_drop_sym[MSH_APP_DROP_COUNT] = {
#define _(sym, doc) #sym,
	foreach_msh_app_drop
#undef _
};

void
msh_lcore_stats_add(struct msh_lcore_stats *sum, const struct msh_lcore_stats *add)
{
	uint64_t first = sum->rx_first_ns, last = sum->rx_last_ns;
	const uint64_t *src = (const uint64_t *)add;
	uint64_t *dst = (uint64_t *)sum;

	for (size_t i = 0; i < sizeof(*sum) / sizeof(uint64_t); i++)
		dst[i] += src[i];
	/* Summing wall-clock stamps would be meaningless: the earliest first,
	 * the latest last. */
	sum->rx_first_ns = first == 0 || (add->rx_first_ns != 0 && add->rx_first_ns < first)
				   ? add->rx_first_ns
				   : first;
	sum->rx_last_ns = add->rx_last_ns > last ? add->rx_last_ns : last;
}
