/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Spill messages (spill_msg.h): one get, one put and one send with its
 * rollback, for every client of the spill thread.
 */
#include <string.h>

#include "shard_state.h"
#include "spill_msg.h"

struct msh_spill_msg *
msh_spill_msg_get(struct msh_spill_svc *svc, struct msh_app_shard *as, enum msh_spill_op op)
{
	struct msh_spill_msg *m;
	void *obj;

	if (svc->pool == NULL || rte_mempool_get(svc->pool, &obj) != 0)
		return NULL;
	m = obj;
	/* The header only: data[] is written before it is read. */
	memset(m, 0, offsetof(struct msh_spill_msg, data));
	m->op = op;
	m->as = as;
	__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
	return m;
}

void
msh_spill_msg_put(struct msh_spill_svc *svc, struct msh_spill_msg *m)
{
	__atomic_fetch_sub(&m->as->inflight, 1, __ATOMIC_RELEASE);
	rte_mempool_put(svc->pool, m);
}

int
msh_spill_send(struct msh_spill_svc *svc, struct msh_spill_msg *m)
{
	if (rte_ring_mp_enqueue(svc->ring, m) == 0)
		return 0;
	msh_spill_msg_put(svc, m);
	return -1;
}
