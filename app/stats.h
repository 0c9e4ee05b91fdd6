/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Counters as the control path reads them: a worker's (its own counters and
 * its TX queues'), the sum over workers, the shutdown report, and the watch
 * that turns what the workers counted into log lines (role changes, alarms,
 * catch-up truncations), so that no worker ever logs. Main side.
 */
#ifndef MSH_APP_STATS_H
#define MSH_APP_STATS_H

#include <stdio.h>

#include "app.h"

/** Worker @p w's counters, its TX queue's folded in. */
void msh_stats_worker(const struct msh_worker *w, struct msh_lcore_stats *out);

/** Sum of every worker's counters. */
void msh_stats_sum(const struct msh_app *app, struct msh_lcore_stats *sum);

/** Frames the replication port could not send (no mbuf, queue full, refused). */
uint64_t msh_stats_repl_tx_dropped(const struct msh_app *app);

/** Print the counters as "name value" lines (the shutdown report). */
void msh_stats_print(const struct msh_app *app, FILE *out);

/** Log what the workers counted since the last call (main loop). */
void msh_stats_watch(struct msh_app *app);

#endif /* MSH_APP_STATS_H */
