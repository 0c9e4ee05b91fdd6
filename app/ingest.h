/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * What publishers and subscribers send a shard's owner: PUBLISH (append,
 * then ACK at once, after the journal, or after the secondary), SUBSCRIBE
 * and UNSUBSCRIBE (tokens, leases, start positions), and MoldUDP64
 * re-requests (answered from memory, or from the spill files through the
 * spill thread). Worker side: called by worker.c's dispatch for the shards
 * this worker owns (or for no shard: then the answer is UNKNOWN_SHARD).
 */
#ifndef MSH_APP_INGEST_H
#define MSH_APP_INGEST_H

#include "dataplane.h"

void msh_ingest_publish(struct msh_worker *w, const struct msh_frame *f, const struct msh_hdr *h,
			struct msh_app_shard *as);
void msh_ingest_subscribe(struct msh_worker *w, const struct msh_frame *f,
			  struct msh_app_shard *as);
void msh_ingest_unsubscribe(struct msh_worker *w, const struct msh_frame *f,
			    struct msh_app_shard *as);
void msh_ingest_retransmit(struct msh_worker *w, const struct msh_frame *f,
			   const struct msh_mold_req *req, struct msh_app_shard *as);

#endif /* MSH_APP_INGEST_H */
