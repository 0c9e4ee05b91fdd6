/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * MoldUDP64 feeds (feed.h). Segments store records as MoldUDP64 message
 * blocks, so a run of consecutive messages is one contiguous span that goes
 * into the packet with one copy (docs/ARCHITECTURE.md says why a copy and
 * not an external-buffer mbuf at these sizes).
 */
#include <string.h>

#include <rte_memcpy.h>

#include "feed.h"
#include "spill_client.h"

/* Feed packets one subscriber may get per turn: paces history replay and
 * keeps a subscriber far behind from starving the others, yet covers what one
 * RX burst appends (32 datagrams of up to ~80 messages: 32 feed packets) so a
 * live subscriber keeps up at full load. */
#define FEED_PKTS_PER_SUB 64

uint32_t
msh_feed_packet(struct msh_worker *w, const struct msh_app_shard *as, struct msh_sub *owner,
		const uint8_t *mac, uint32_t ip, uint16_t port, uint16_t src_port, uint64_t seq,
		uint32_t max_msgs)
{
	const struct msh_shard *s = as->shard;
	struct msh_span sp;
	struct rte_mbuf *m;
	uint8_t *p;
	int n = msh_shard_read(s, seq, RTE_MIN(max_msgs, 0xFFFEu), w->feed_payload - MSH_MOLD_HDR_LEN,
			       &sp);

	if (n <= 0)
		return 0;
	p = msh_txq_udp(&w->tx, &m, mac, ip, port, src_port, (uint16_t)(MSH_MOLD_HDR_LEN + sp.len));
	if (p == NULL)
		return 0;
	msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &s->conf.name, sp.first_seq, (uint16_t)n);
	rte_memcpy(p + MSH_MOLD_HDR_LEN, sp.data, sp.len);
	msh_txq_push(&w->tx, m, owner, sp.first_seq, (uint16_t)n);
	return (uint32_t)n;
}

void
msh_feed_unavailable(struct msh_worker *w, const uint8_t *mac, uint32_t ip, uint16_t port,
		     uint16_t src_port, const struct msh_name *shard, uint64_t asked, uint64_t first)
{
	struct rte_mbuf *m;
	struct msh_unavailable u;
	uint8_t *p = msh_txq_udp(&w->tx, &m, mac, ip, port, src_port, MSH_UNAVAILABLE_LEN);

	if (p == NULL)
		return;
	memset(&u, 0, sizeof(u));
	u.hdr.type = MSH_T_UNAVAILABLE;
	u.hdr.shard = *shard;
	u.asked_seq = asked;
	u.first_seq = first;
	msh_unavailable_build(p, MSH_UNAVAILABLE_LEN, &u);
	w->st.unavailable++;
	msh_txq_push(&w->tx, m, NULL, 0, 0);
}

/* Feed one subscriber (slot @p k of @p as) up to its per-turn budget. */
static void
feed_sub(struct msh_worker *w, struct msh_app_shard *as, uint32_t k)
{
	struct msh_sub *sub = &as->wk.subs.sub[k];
	const struct msh_shard *s = as->shard;

	for (int pk = 0; pk < FEED_PKTS_PER_SUB && sub->next_seq < s->next_seq &&
			 !msh_txq_full(&w->tx);
	     pk++) {
		uint64_t first = msh_shard_first_seq(s);
		uint32_t n;

		if (sub->next_seq < first) {
			if (sub->disk_wait)
				break; /* its read is under way */
			if (msh_spill_on_disk(as, sub->next_seq)) {
				/* Older than memory, on disk: the spill thread reads
				 * it (msh_feed_disk_data sends). */
				if (msh_spill_read_req(&w->dp->spill, as, sub->next_seq, first, k,
						       sub->mac, sub->ip, sub->port) == 0)
					sub->disk_wait = true;
				break;
			}
			/* Retention passed it: say what it lost, once, and carry
			 * on from what is left. */
			msh_feed_unavailable(w, sub->mac, sub->ip, sub->port, w->udp_port,
					     &s->conf.name, sub->next_seq,
					     msh_spill_next_servable(as, sub->next_seq));
			sub->unavailable++;
			sub->next_seq = msh_spill_next_servable(as, sub->next_seq);
			continue;
		}
		n = msh_feed_packet(w, as, sub, sub->mac, sub->ip, sub->port, w->udp_port,
				    sub->next_seq, UINT32_MAX);
		if (n == 0)
			break;
		sub->next_seq += n;
		sub->sent_msgs += n;
		sub->sent_pkts++;
		sub->last_tx = w->tsc;
		w->st.feed_pkts++;
		w->st.feed_msgs += n;
	}
}

void
msh_feed_fan_out(struct msh_worker *w)
{
	bool all = w->tx.rolled_back;

	w->tx.rolled_back = false;
	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_app_shard *as = w->owned[i];
		const struct msh_shard *s = as->shard;
		bool behind = false;

		if (as->wk.subs.n == 0)
			continue;
		/* Nothing appended and nobody behind: nothing to walk. */
		if (!all && !as->wk.behind && as->wk.fed_seq == s->next_seq)
			continue;
		for (uint32_t k = 0; k < as->wk.subs.max; k++) {
			if (!as->wk.subs.sub[k].used)
				continue;
			feed_sub(w, as, k);
			behind |= as->wk.subs.sub[k].next_seq < s->next_seq;
		}
		as->wk.behind = behind;
		as->wk.fed_seq = s->next_seq;
	}
}

void
msh_feed_heartbeats(struct msh_worker *w, struct msh_app_shard *as, uint64_t hb_tsc)
{
	for (uint32_t k = 0; k < as->wk.subs.max; k++) {
		struct msh_sub *sub = &as->wk.subs.sub[k];
		struct rte_mbuf *m;
		uint8_t *p;

		if (!sub->used || sub->next_seq < as->shard->next_seq || w->tsc - sub->last_tx < hb_tsc)
			continue;
		p = msh_txq_udp(&w->tx, &m, sub->mac, sub->ip, sub->port, w->udp_port,
				MSH_MOLD_HDR_LEN);
		if (p == NULL)
			continue; /* counted; the next subscriber may still get one */
		msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, sub->next_seq,
				   MSH_MOLD_HEARTBEAT);
		msh_txq_push(&w->tx, m, NULL, 0, 0);
		sub->heartbeats++;
		sub->last_tx = w->tsc;
		w->st.heartbeats++;
	}
}

void
msh_feed_end_session(struct msh_worker *w, struct msh_app_shard *as)
{
	for (uint32_t k = 0; k < as->wk.subs.max; k++) {
		struct msh_sub *sub = &as->wk.subs.sub[k];
		struct rte_mbuf *m;
		uint8_t *p;

		if (!sub->used)
			continue;
		while (sub->next_seq < as->shard->next_seq) {
			uint32_t n;

			if (msh_txq_full(&w->tx))
				msh_txq_flush(&w->tx);
			n = msh_feed_packet(w, as, NULL, sub->mac, sub->ip, sub->port, w->udp_port,
					    sub->next_seq, UINT32_MAX);
			if (n == 0)
				break;
			sub->next_seq += n;
		}
		if (msh_txq_full(&w->tx))
			msh_txq_flush(&w->tx);
		p = msh_txq_udp(&w->tx, &m, sub->mac, sub->ip, sub->port, w->udp_port,
				MSH_MOLD_HDR_LEN);
		if (p != NULL) {
			msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, sub->next_seq,
					   MSH_MOLD_END_OF_SESSION);
			msh_txq_push(&w->tx, m, NULL, 0, 0);
		}
		msh_subs_del(&as->wk.subs, sub);
	}
	msh_txq_flush(&w->tx);
}

/* Send whole blocks of a spill read as MoldUDP64 packets from @p src_port to
 * (mac, ip, port); a subscriber's position follows (and rolls back with a
 * refused packet), a re-request's does not. @return messages queued. */
static uint32_t
send_blocks(struct msh_worker *w, const struct msh_app_shard *as, struct msh_sub *sub,
	    const uint8_t *mac, uint32_t ip, uint16_t port, uint16_t src_port, uint64_t seq,
	    const uint8_t *data, uint32_t len)
{
	uint32_t room = w->feed_payload - MSH_MOLD_HDR_LEN, off = 0, sent = 0;

	while (off < len && !msh_txq_full(&w->tx)) {
		uint32_t start = off, n = 0;
		struct rte_mbuf *m;
		uint8_t *p;

		/* As many whole blocks as fit one packet. */
		while (off < len && n < 0xFFFE) {
			uint32_t b = MSH_BLOCK_HDR_LEN + msh_load_be16(data + off);

			if (off + b > len || (off - start) + b > room)
				break;
			off += b;
			n++;
		}
		if (n == 0)
			break; /* a block larger than a packet cannot happen: max_message */
		p = msh_txq_udp(&w->tx, &m, mac, ip, port, src_port,
				(uint16_t)(MSH_MOLD_HDR_LEN + (off - start)));
		if (p == NULL)
			break;
		msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, seq, (uint16_t)n);
		rte_memcpy(p + MSH_MOLD_HDR_LEN, data + start, off - start);
		msh_txq_push(&w->tx, m, sub, seq, (uint16_t)n);
		seq += n;
		sent += n;
		if (sub != NULL) {
			sub->sent_pkts++;
			w->st.feed_pkts++;
		} else {
			w->st.retrans_pkts++;
		}
	}
	return sent;
}

void
msh_feed_disk_data(struct msh_worker *w, struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	struct msh_sub *sub;
	uint32_t n;

	if (as->wk.ended)
		return;
	if (m->sub_idx == UINT32_MAX) {
		n = m->rc == 0 ? send_blocks(w, as, NULL, m->mac, m->ip, m->port, w->retrans_port,
					     m->first_seq, m->data, m->len)
			       : 0;
		as->wk.disk_retrans_msgs += n;
		w->st.retrans_msgs += n;
		sub = msh_subs_find_ip(&as->wk.subs, m->ip);
		if (sub != NULL)
			sub->rerequest_msgs += n;
		return;
	}
	if (m->sub_idx >= as->wk.subs.max)
		return;
	sub = &as->wk.subs.sub[m->sub_idx];
	if (!sub->used || !sub->disk_wait || sub->ip != m->ip || sub->port != m->port)
		return; /* gone, or another subscriber in its slot */
	sub->disk_wait = false;
	as->wk.behind = true;
	if (m->rc != 0 && sub->next_seq == m->seq) {
		uint64_t first = msh_shard_first_seq(as->shard);

		/* A file failed verification (reported, no longer served) or could
		 * not be read: the subscriber is told what it lost and goes on from
		 * memory rather than ask again. */
		msh_feed_unavailable(w, sub->mac, sub->ip, sub->port, w->udp_port,
				     &as->shard->conf.name, sub->next_seq, first);
		sub->unavailable++;
		sub->next_seq = RTE_MAX(sub->next_seq, first);
		return;
	}
	if (m->rc != 0 || sub->next_seq != m->first_seq)
		return; /* the position moved meanwhile: fan-out decides again */
	n = send_blocks(w, as, sub, sub->mac, sub->ip, sub->port, w->udp_port, m->first_seq,
			m->data, m->len);
	sub->next_seq += n;
	sub->sent_msgs += n;
	sub->disk_msgs += n;
	sub->last_tx = w->tsc;
	as->wk.disk_feed_msgs += n;
	w->st.feed_msgs += n;
}
