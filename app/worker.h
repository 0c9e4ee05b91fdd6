/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A worker lcore's loop (ip_pipeline's thread_main): RX burst, frame
 * dispatch, hand-offs, spill answers, held acks, the replication port,
 * commands, fan-out, housekeeping, one TX burst, idle policy. Worker side.
 */
#ifndef MSH_APP_WORKER_H
#define MSH_APP_WORKER_H

#include "dataplane.h"

/**
 * Fill the loop's state of @p w from @p dp (ports, queues, payload size):
 * main lcore, after the ports are open and before any command runs.
 */
void msh_worker_setup(struct msh_worker *w, struct msh_dp *dp);

/** Worker lcore entry (rte_eal_remote_launch); @p arg is its struct msh_worker. */
int msh_worker_main(void *arg);

#endif /* MSH_APP_WORKER_H */
