/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The spill thread: the only place that does disk I/O for shards once they
 * are published. Clients send it messages (spill_msg.h) over one
 * multi-producer ring: write this sealed segment, read this range back,
 * append these blocks to the journal, take or drop a journal. It answers a
 * worker's requests on that worker's reply ring, so a worker never blocks on
 * a disk and the segment it asked about stays its own (a segment waiting to
 * be written is pinned with MSH_SEG_F_SPILL_PENDING and never reused). It
 * runs as a DPDK control thread (rte_ctrl_thread_create) on the control-plane
 * CPUs, sees only the service handle and the shards' state, and never calls
 * into the main lcore's code.
 */
#ifndef MSH_APP_SPILL_THREAD_H
#define MSH_APP_SPILL_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "spill_msg.h"
#include "spilldir.h"

/**
 * Make the service's pool, request ring and @p n_workers reply rings on NUMA
 * node @p socket, and start the thread. @return 0 or -1 with @p err.
 */
int msh_spill_thread_start(struct msh_spill_svc *svc, unsigned int n_workers, int socket,
			   uint64_t tsc_hz, char *err, size_t errlen);

/** Stop it after it has answered everything queued; free the rings and the pool. */
void msh_spill_thread_stop(struct msh_spill_svc *svc);

/**
 * The spill directory's report of a file it will not serve (a
 * msh_spilldir_report_fn; @p arg is the shard): counted and logged. Given to
 * msh_spilldir_open(); runs where the table is read.
 */
void msh_spill_report_bad(void *arg, const char *path, int err,
			  const struct msh_spilldir_file *f);

/** Publish the file table's range to the owner (next before first). */
void msh_spill_publish_range(struct msh_app_shard *as);

#endif /* MSH_APP_SPILL_THREAD_H */
