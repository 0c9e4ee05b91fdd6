/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Publisher ACKs: sent at once, or held and released in order (acks.h).
 */
#include <string.h>

#include "acks.h"

void
msh_ack_send(struct msh_worker *w, const struct msh_ack_to *to, const struct msh_name *shard,
	     uint8_t status, uint16_t count, uint32_t pub_id, uint64_t pub_seq, uint64_t shard_seq)
{
	struct rte_mbuf *m;
	struct msh_ack a;
	uint8_t *p = msh_txq_udp(&w->tx, &m, to->mac, to->ip, to->port, w->udp_port, MSH_ACK_LEN);

	if (p == NULL)
		return;
	memset(&a, 0, sizeof(a));
	a.hdr.type = MSH_T_ACK;
	a.hdr.flags = status;
	a.hdr.count = count;
	a.hdr.shard = *shard;
	a.publisher_id = pub_id;
	a.publisher_seq = pub_seq;
	a.shard_seq = shard_seq;
	a.epoch = w->dp->epoch;
	msh_ack_build(p, MSH_ACK_LEN, &a);
	w->st.acks[status < MSH_S_COUNT ? status : MSH_S_MALFORMED]++;
	msh_txq_push(&w->tx, m, NULL, 0, 0);
}

void
msh_ack_refused(struct msh_worker *w, const struct msh_ack_to *to, const struct msh_name *shard,
		const uint8_t *payload, uint32_t len, uint8_t status)
{
	msh_ack_send(w, to, shard, status, 0, len >= 24 ? msh_load_be32(payload + 20) : 0,
		     len >= 32 ? msh_load_be64(payload + 24) : 0, 0);
}

void
msh_ack_hold(struct msh_app_shard *as, const struct msh_ack_to *to, uint64_t end_seq,
	     uint8_t status, uint16_t count, uint32_t pub_id, uint64_t pub_seq, uint64_t first_seq)
{
	struct msh_held_ack *a = &as->pend[(as->wk.pend_head + as->wk.pend_n) % as->pend_cap];

	a->end_seq = end_seq;
	a->pub_seq = pub_seq;
	a->first_seq = first_seq;
	a->pub_id = pub_id;
	a->ip = to->ip;
	a->port = to->port;
	a->count = count;
	memcpy(a->mac, to->mac, 6);
	a->status = status;
	as->wk.pend_n++;
	as->wk.persist.held++;
}

/* Held until the journal has them. */
static void
release_durable(struct msh_worker *w, struct msh_app_shard *as)
{
	uint64_t durable = __atomic_load_n(&as->sp.durable_seq, __ATOMIC_ACQUIRE);

	while (as->wk.pend_n > 0 && !msh_txq_full(&w->tx)) {
		struct msh_held_ack *a = &as->pend[as->wk.pend_head];
		struct msh_ack_to to;

		if (a->end_seq > durable)
			break;
		memcpy(to.mac, a->mac, 6);
		to.ip = a->ip;
		to.port = a->port;
		msh_ack_send(w, &to, &as->shard->conf.name, a->status, a->count, a->pub_id,
			     a->pub_seq, a->first_seq);
		as->wk.pend_head = as->wk.pend_head + 1 == as->pend_cap ? 0 : as->wk.pend_head + 1;
		as->wk.pend_n--;
		as->wk.persist.released++;
	}
}

/* Held until the secondary has them (acks = all). */
static void
release_replicated(struct msh_worker *w, struct msh_app_shard *as, bool demoted)
{
	struct msh_repl_pending p;

	while (!msh_txq_full(&w->tx) && (demoted ? msh_repl_pending_drain(as->repl, &p)
						  : msh_repl_pending_pop(as->repl, &p))) {
		struct msh_ack_to to;

		memcpy(to.mac, p.mac, 6);
		to.ip = p.ip;
		to.port = p.port;
		msh_ack_send(w, &to, &as->shard->conf.name, demoted ? MSH_S_NOT_PRIMARY : p.status,
			     demoted ? 0 : p.count, p.publisher_id, p.publisher_seq,
			     demoted ? 0 : p.shard_seq);
	}
}

void
msh_acks_release(struct msh_worker *w, struct msh_app_shard *as, bool demoted)
{
	if (as->wk.pend_n > 0)
		release_durable(w, as);
	if (as->repl != NULL && (demoted || as->repl->pend_n > 0))
		release_replicated(w, as, demoted);
}
