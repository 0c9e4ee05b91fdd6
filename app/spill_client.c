/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The shard owner's side of spill and persistence (spill_client.h).
 */
#include <string.h>

#include "spill_client.h"

#define SPILL_RETRY_S 1

void
msh_spill_kick(struct msh_spill_svc *svc, struct msh_app_shard *as, uint64_t tsc)
{
	struct msh_shard *s = as->shard;

	if (as->dir == NULL || tsc < as->wk.spill_retry_tsc)
		return;
	for (uint32_t i = 0; i < s->seg_n; i++) {
		uint32_t j = s->seg_head + i;
		struct msh_segment *seg = s->segs[j >= s->n_slots ? j - s->n_slots : j];
		struct msh_spill_msg *m;

		if (!msh_segment_sealed(seg))
			break; /* the active one, the last */
		if (seg->flags & MSH_SEG_F_SPILLED)
			continue;
		/* One write in flight per shard, oldest first: files then always
		 * continue one another, and a failed write is retried before any
		 * newer segment goes (a newer file would cut the table there). */
		if (seg->flags & MSH_SEG_F_SPILL_PENDING)
			return;
		m = msh_spill_msg_get(svc, as, MSH_SPILL_OP_WRITE);
		if (m == NULL) {
			as->wk.spill_queue_full++;
			return; /* housekeeping tries again */
		}
		m->seg = seg;
		if (msh_spill_send(svc, m) != 0) {
			as->wk.spill_queue_full++;
			return;
		}
		seg->flags |= MSH_SEG_F_SPILL_PENDING;
		as->wk.spill_queued++;
		return;
	}
}

int
msh_spill_read_req(struct msh_spill_svc *svc, struct msh_app_shard *as, uint64_t seq, uint64_t end,
		   uint32_t sub_idx, const uint8_t *mac, uint32_t ip, uint16_t port)
{
	struct msh_spill_msg *m = msh_spill_msg_get(svc, as, MSH_SPILL_OP_READ);

	if (m == NULL) {
		as->wk.spill_queue_full++;
		return -1;
	}
	m->seq = seq;
	m->end = end;
	m->sub_idx = sub_idx;
	memcpy(m->mac, mac, 6);
	m->ip = ip;
	m->port = port;
	if (msh_spill_send(svc, m) != 0) {
		as->wk.spill_queue_full++;
		return -1;
	}
	return 0;
}

void
msh_spill_written(struct msh_spill_svc *svc, struct msh_spill_msg *m, uint64_t tsc)
{
	struct msh_app_shard *as = m->as;
	struct msh_segment *seg = m->seg;

	seg->flags &= ~MSH_SEG_F_SPILL_PENDING;
	if (m->rc == 0) {
		seg->flags |= MSH_SEG_F_SPILLED;
		if (as->shard->conf.spill_release == MSH_RELEASE_EAGER)
			msh_shard_release_spilled(as->shard);
		if (!as->wk.ended)
			msh_spill_kick(svc, as, tsc); /* the next one at once */
	} else {
		as->wk.spill_retry_tsc = tsc + (uint64_t)SPILL_RETRY_S * svc->tsc_hz;
	}
}

int
msh_spill_journal_room(struct msh_spill_svc *svc, struct msh_app_shard *as, uint32_t len)
{
	struct msh_spill_msg *m = as->wk.jmsg;

	if (len > sizeof(m->data))
		return -1;
	if (m != NULL && m->len + len <= sizeof(m->data))
		return 0;
	if (msh_spill_journal_flush(svc, as) != 0 || as->wk.jmsg != NULL)
		return -1; /* the ring would not take it */
	as->wk.jmsg = msh_spill_msg_get(svc, as, MSH_SPILL_OP_JOURNAL);
	return as->wk.jmsg != NULL ? 0 : -1;
}

uint32_t
msh_spill_journal_add(struct msh_app_shard *as, uint64_t first_seq, uint32_t count)
{
	struct msh_spill_msg *m = as->wk.jmsg;
	uint64_t seq = first_seq, end = first_seq + count;

	if (m->count == 0)
		m->first_seq = first_seq;
	/* The appended run may straddle two segments: one span each. */
	while (seq < end) {
		struct msh_span sp;
		int n = msh_shard_read(as->shard, seq, (uint32_t)(end - seq),
				       (uint32_t)(sizeof(m->data) - m->len), &sp);

		if (n <= 0)
			break; /* cannot happen: room was made for the datagram */
		memcpy(m->data + m->len, sp.data, sp.len);
		m->len += sp.len;
		m->count += (uint32_t)n;
		seq += (uint64_t)n;
	}
	return (uint32_t)(seq - first_seq);
}

int
msh_spill_journal_flush(struct msh_spill_svc *svc, struct msh_app_shard *as)
{
	if (as->wk.jmsg == NULL || as->wk.jmsg->count == 0)
		return 0;
	/* Kept on failure (not msh_spill_send): its blocks must reach the journal. */
	if (rte_ring_mp_enqueue(svc->ring, as->wk.jmsg) != 0)
		return -1;
	as->wk.jmsg = NULL;
	return 0;
}

void
msh_spill_journal_drop(struct msh_spill_svc *svc, struct msh_app_shard *as)
{
	if (as->wk.jmsg != NULL) {
		msh_spill_msg_put(svc, as->wk.jmsg);
		as->wk.jmsg = NULL;
	}
}
