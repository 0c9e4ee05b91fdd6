/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The replication port on worker 0 (repl_link.h). Nothing here logs: role
 * changes, alarms and catch-up truncations are counted in the link state and
 * the main lcore logs them (stats.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "acks.h"
#include "clock.h"
#include "repl_link.h"

#define RX_BURST 32
#define REPL_FRAMES_PER_TURN 64

static uint16_t
link_room(const struct msh_worker *w)
{
	return (uint16_t)(w->dp->repl.port.conf->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN);
}

/* A UDP frame to the peer's replication address; NULL (counted) until its
 * MAC is known or when no mbuf is left. */
static uint8_t *
repl_alloc(struct msh_worker *w, struct rte_mbuf **mp, uint16_t len)
{
	struct msh_repl_link *r = &w->dp->repl;
	uint64_t mac64 = r->peer_mac;
	uint8_t mac[8];

	if (mac64 == 0) {
		r->no_peer_mac++;
		return NULL;
	}
	memcpy(mac, &mac64, sizeof(mac));
	return msh_txq_udp(&w->rtx, mp, mac, r->port.conf->peer_ip, MSH_REPL_UDP_PORT,
			   MSH_REPL_UDP_PORT, len);
}

/* Queue a built frame: @p len bytes of payload were written of @p room. */
static void
repl_push(struct msh_worker *w, struct rte_mbuf *m, uint16_t len, uint16_t room)
{
	msh_txq_udp_trim(&w->rtx, m, len, room);
	msh_txq_push(&w->rtx, m, NULL, 0, 0);
	w->dp->repl.tx_frames++;
}

/* HELLO or SYNC_REQ with every replicated shard's position. */
static void
send_summary(struct msh_worker *w, uint8_t type)
{
	struct msh_repl_link *r = &w->dp->repl;
	uint16_t room = link_room(w);
	uint16_t per = (uint16_t)((room - MSH_REPL_SUMMARY_HDR_LEN) / MSH_REPL_POS_LEN);
	struct msh_repl_pos pos[64];
	uint32_t total = 0, done = 0;

	per = RTE_MIN(per, (uint16_t)RTE_DIM(pos));
	for (unsigned int i = 0; i < w->n_owned; i++)
		total += w->owned[i]->repl != NULL;
	do {
		struct msh_repl_hdr h;
		struct rte_mbuf *m;
		uint16_t n = 0;
		uint8_t *p;
		int len;

		for (unsigned int i = 0, k = 0; i < w->n_owned && n < per; i++) {
			if (w->owned[i]->repl == NULL)
				continue;
			if (k++ < done)
				continue;
			msh_repl_pos_get(w->owned[i]->repl, &pos[n++]);
		}
		p = repl_alloc(w, &m, room);
		if (p == NULL)
			return;
		msh_repl_node_hdr(&r->node, type, w->now_ns, &h);
		len = msh_repl_summary_build(p, room, &h, total, pos, n);
		if (len < 0) {
			rte_pktmbuf_free(m);
			return;
		}
		repl_push(w, m, (uint16_t)len, room);
		done += n;
	} while (done < total);
}

/* Carry out what the node decided (role, epoch, frames due). */
static void
node_act(struct msh_worker *w, uint32_t act)
{
	struct msh_repl_link *r = &w->dp->repl;
	struct msh_repl_node *n = &r->node;

	if (act & (MSH_REPL_ACT_PROMOTED | MSH_REPL_ACT_DEMOTED | MSH_REPL_ACT_EPOCH)) {
		w->dp->epoch = n->epoch;
		for (unsigned int i = 0; i < w->n_owned; i++) {
			struct msh_app_shard *as = w->owned[i];

			if (as->repl == NULL)
				continue;
			as->shard->epoch = n->epoch;
			if (act & MSH_REPL_ACT_PROMOTED) {
				msh_repl_primary_start(as->repl, n->epoch, w->now_ns);
			} else if (n->role == MSH_REPL_SECONDARY) {
				msh_acks_release(w, as, true);
				msh_repl_secondary_start(as->repl, n->epoch, n->syncing);
			}
		}
		r->role_changes++;
	}
	if (act & MSH_REPL_ACT_SEND_HELLO)
		send_summary(w, MSH_REPL_T_HELLO);
	if (act & MSH_REPL_ACT_SEND_SYNC_REQ)
		send_summary(w, MSH_REPL_T_SYNC_REQ);
	if (act & MSH_REPL_ACT_ALARM)
		r->alarms++;
}

static struct msh_app_shard *
repl_shard(struct msh_worker *w, const struct msh_name *name)
{
	struct msh_app_shard *as = msh_table_lookup(w->shards, name);

	if (as == NULL || as->repl == NULL || as->wk.ended) {
		w->dp->repl.rx_unknown_shard++;
		return NULL;
	}
	return as;
}

static void
send_sync_reply(struct msh_worker *w, const struct msh_repl_sync_reply *r0)
{
	uint16_t room = MSH_REPL_SYNC_REPLY_HDR_LEN + MSH_REPL_HIST * MSH_REPL_HIST_ENTRY_LEN;
	struct msh_repl_sync_reply r = *r0;
	struct rte_mbuf *m;
	uint8_t *p = repl_alloc(w, &m, room);
	uint16_t count = r.hdr.count;
	int len;

	if (p == NULL)
		return;
	msh_repl_node_hdr(&w->dp->repl.node, MSH_REPL_T_SYNC_REPLY, w->now_ns, &r.hdr);
	r.hdr.count = count;
	len = msh_repl_sync_reply_build(p, room, &r);
	if (len < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	repl_push(w, m, (uint16_t)len, room);
}

static void
send_nak(struct msh_worker *w, struct msh_app_shard *as, uint64_t expected, uint64_t seen)
{
	struct msh_repl_nak n;
	struct rte_mbuf *m;
	uint8_t *p = repl_alloc(w, &m, MSH_REPL_NAK_LEN);

	if (p == NULL)
		return;
	memset(&n, 0, sizeof(n));
	msh_repl_node_hdr(&w->dp->repl.node, MSH_REPL_T_NAK, w->now_ns, &n.hdr);
	n.shard = as->shard->conf.name;
	n.expected_seq = expected;
	n.seen_seq = seen;
	if (msh_repl_nak_build(p, MSH_REPL_NAK_LEN, &n) < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	repl_push(w, m, MSH_REPL_NAK_LEN, MSH_REPL_NAK_LEN);
}

/* Are all replicated shards caught up with the primary? */
static void
check_synced(struct msh_worker *w)
{
	for (unsigned int i = 0; i < w->n_owned; i++)
		if (w->owned[i]->repl != NULL && w->owned[i]->repl->syncing)
			return;
	msh_repl_node_sync_done(&w->dp->repl.node);
}

static void
on_summary(struct msh_worker *w, const struct msh_repl_hdr *h, const void *b, size_t len)
{
	struct msh_repl_summary sm;
	int rc = msh_repl_summary_parse(b, len, &sm);

	if (rc != 0) {
		w->dp->repl.rx_drop[-rc]++;
		return;
	}
	for (uint16_t i = 0; i < sm.hdr.count; i++) {
		struct msh_repl_pos pos;
		struct msh_repl_sync_reply rep;
		struct msh_app_shard *as;

		msh_repl_pos_at(&sm, i, &pos);
		as = repl_shard(w, &pos.shard);
		if (h->type == MSH_REPL_T_HELLO) {
			if (as != NULL)
				msh_repl_on_peer_pos(as->repl, &sm.hdr, &pos, w->now_ns);
			continue;
		}
		memset(&rep, 0, sizeof(rep));
		rep.shard = pos.shard;
		if (as != NULL)
			msh_repl_on_sync_req(as->repl, &sm.hdr, &pos, w->now_ns, &rep);
		else
			rep.status = MSH_REPL_SYNC_UNKNOWN_SHARD;
		send_sync_reply(w, &rep);
	}
}

static void
on_sync_reply(struct msh_worker *w, const void *b, size_t len)
{
	struct msh_repl_link *r = &w->dp->repl;
	struct msh_repl_sync_reply rep;
	struct msh_repl_sync_decision dec;
	struct msh_app_shard *as;
	int rc = msh_repl_sync_reply_parse(b, len, &rep);

	if (rc != 0) {
		r->rx_drop[-rc]++;
		return;
	}
	as = repl_shard(w, &rep.shard);
	if (as == NULL || !as->repl->syncing)
		return;
	msh_repl_sync_decide(as->repl, &rep, &dec);
	if (msh_repl_sync_apply(as->repl, &dec, &rep) != 0)
		return;
	if (dec.truncate_to || dec.reset_to) {
		r->last_truncated = as->shard->conf.name;
		r->last_truncate_to = dec.truncate_to;
		r->last_reset_to = dec.reset_to;
		r->catch_up_truncations++;
	}
	as->wk.behind = true;
	check_synced(w);
}

/* A UDP datagram to the replication port. */
static void
repl_rx(struct msh_worker *w, const struct msh_frame *f)
{
	struct msh_repl_link *r = &w->dp->repl;
	const void *b = f->payload;
	size_t len = f->payload_len;
	struct msh_repl_hdr h;
	struct msh_app_shard *as;
	uint32_t act = 0;
	int rc = msh_repl_hdr_parse(b, len, &h);

	if (rc != 0) {
		r->rx_drop[-rc]++;
		return;
	}
	switch (msh_repl_node_rx(&r->node, &h, w->now_ns, &act)) {
	case MSH_REPL_RX_STALE:
		r->rx_stale++;
		node_act(w, act);
		return;
	case MSH_REPL_RX_FOREIGN:
		r->rx_foreign++;
		return;
	default:
		break;
	}
	r->rx_frames++;
	node_act(w, act);
	switch (h.type) {
	case MSH_REPL_T_DATA: {
		struct msh_repl_data d;
		struct msh_repl_reply out;

		rc = msh_repl_data_parse(b, len, 65535, &d);
		if (rc != 0) {
			r->rx_drop[-rc]++;
			return;
		}
		if ((as = repl_shard(w, &d.shard)) == NULL)
			return;
		msh_repl_apply(as->repl, &d, w->now_ns, &out);
		if (out.nak)
			send_nak(w, as, out.expected_seq, out.seen_seq);
		break; /* ACKs go out once per turn (msh_repl_link_turn) */
	}
	case MSH_REPL_T_ACK: {
		struct msh_repl_ack a;
		uint64_t before;

		rc = msh_repl_ack_parse(b, len, &a);
		if (rc != 0) {
			r->rx_drop[-rc]++;
			return;
		}
		if ((as = repl_shard(w, &a.shard)) == NULL)
			return;
		before = as->repl->acked_seq;
		msh_repl_on_ack(as->repl, &a, w->now_ns);
		if (as->repl->acked_seq > before && as->repl_lag_hist != NULL)
			hist_add(as->repl_lag_hist, as->repl->ack_lag_ns);
		msh_acks_release(w, as, false);
		break;
	}
	case MSH_REPL_T_NAK: {
		struct msh_repl_nak n;

		rc = msh_repl_nak_parse(b, len, &n);
		if (rc != 0) {
			r->rx_drop[-rc]++;
			return;
		}
		if ((as = repl_shard(w, &n.shard)) == NULL)
			return;
		msh_repl_on_nak(as->repl, &n, w->now_ns);
		break;
	}
	case MSH_REPL_T_HELLO:
	case MSH_REPL_T_SYNC_REQ:
		on_summary(w, &h, b, len);
		break;
	case MSH_REPL_T_SYNC_REPLY:
		on_sync_reply(w, b, len);
		break;
	default:
		break;
	}
}

/* A frame from the replication port: ARP and ICMP answered there, the
 * peer's MAC learned from anything it sends, UDP to the replication port. */
static void
on_frame(struct msh_worker *w, struct rte_mbuf *m)
{
	struct msh_repl_link *r = &w->dp->repl;
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct msh_frame f;
	int kind = msh_frame_parse(d, rte_pktmbuf_data_len(m), &r->port.ifc, &f);
	uint32_t peer = r->port.conf->peer_ip;

	if (kind < 0) {
		w->st.net_drop[-kind]++;
		return;
	}
	if ((kind == MSH_FRAME_ARP && f.arp.sender_ip == peer) ||
	    (kind != MSH_FRAME_ARP && f.src_ip == peer)) {
		uint64_t mac64 = 0;

		memcpy(&mac64, kind == MSH_FRAME_ARP ? f.arp.sender_mac : f.src_mac, 6);
		r->peer_mac = mac64;
	}
	if (kind == MSH_FRAME_UDP) {
		if (f.dst_port == MSH_REPL_UDP_PORT && f.src_ip == peer)
			repl_rx(w, &f);
		else
			w->st.net_drop[MSH_NET_DROP_UDP_PORT]++;
		return;
	}
	if ((kind == MSH_FRAME_ARP && f.arp.op == MSH_ARP_OP_REQUEST) ||
	    kind == MSH_FRAME_ICMP_ECHO)
		msh_txq_answer(&w->rtx, kind, d, &f);
}

uint16_t
msh_repl_link_rx(struct msh_worker *w)
{
	struct rte_mbuf *rx[RX_BURST];
	uint16_t n = rte_eth_rx_burst(w->rtx.port, 0, rx, RX_BURST);

	if (n > 0)
		w->now_ns = msh_wall_ns();
	for (uint16_t i = 0; i < n; i++) {
		on_frame(w, rx[i]);
		rte_pktmbuf_free(rx[i]);
	}
	return n;
}

void
msh_repl_link_turn(struct msh_worker *w)
{
	struct msh_repl_link *r = &w->dp->repl;
	uint16_t room = link_room(w);
	unsigned int frames = 0;

	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_app_shard *as = w->owned[i];
		struct msh_repl_shard *rs = as->repl;

		if (rs == NULL)
			continue;
		if (rs->role == MSH_REPL_PRIMARY) {
			struct msh_repl_tx tx;

			/* Held acks the last ACK covered but a full TX queue kept. */
			if (rs->pend_n > 0)
				msh_acks_release(w, as, false);
			while (frames < REPL_FRAMES_PER_TURN && !msh_txq_full(&w->rtx) &&
			       r->peer_mac != 0 &&
			       msh_repl_tx_next(rs, w->now_ns, msh_repl_data_room(room), &tx) == 1) {
				struct msh_repl_hdr h;
				struct msh_repl_data dd;
				struct rte_mbuf *m;
				uint8_t *p = repl_alloc(w, &m, room);
				int len;

				if (p == NULL)
					break;
				msh_repl_node_hdr(&r->node, MSH_REPL_T_DATA, w->now_ns, &h);
				msh_repl_tx_data(rs, &tx, &h, &dd);
				len = msh_repl_data_build(p, room, &dd);
				if (len < 0) {
					rte_pktmbuf_free(m);
					break;
				}
				repl_push(w, m, (uint16_t)len, room);
				frames++;
			}
		} else if (rs->ack_due) {
			struct msh_repl_ack a;
			struct rte_mbuf *m;
			uint8_t *p = repl_alloc(w, &m, MSH_REPL_ACK_LEN);

			if (p == NULL)
				continue;
			memset(&a, 0, sizeof(a));
			msh_repl_node_hdr(&r->node, MSH_REPL_T_ACK, w->now_ns, &a.hdr);
			a.shard = as->shard->conf.name;
			msh_repl_ack_fill(rs, &a);
			if (msh_repl_ack_build(p, MSH_REPL_ACK_LEN, &a) < 0) {
				rte_pktmbuf_free(m);
				continue;
			}
			repl_push(w, m, MSH_REPL_ACK_LEN, MSH_REPL_ACK_LEN);
		}
	}
	msh_txq_flush(&w->rtx);
}

void
msh_repl_link_housekeeping(struct msh_worker *w)
{
	struct msh_dp *dp = w->dp;
	struct msh_repl_link *r = &dp->repl;
	const struct msh_port_conf *pc = r->port.conf;
	uint64_t hello_tsc = msh_ns_to_tsc(pc->hello_interval_ns, dp->tsc_hz);
	uint64_t silence_tsc = msh_ns_to_tsc(pc->failover_silence_ns, dp->tsc_hz);
	uint32_t act = 0;

	if (r->peer_mac == 0 && w->tsc - r->last_arp_tsc > dp->tsc_hz / 10) {
		msh_txq_arp_request(&w->rtx, pc->peer_ip);
		r->last_arp_tsc = w->tsc;
	}
	if (pc->peer_ingest_ip != 0) {
		/* The split-brain rule's input: does the peer answer ARP on the
		 * ingest network? Asked every hello interval. */
		if (w->tsc - r->last_probe_tsc >= hello_tsc) {
			msh_txq_arp_request(&w->tx, pc->peer_ingest_ip);
			r->last_probe_tsc = w->tsc;
		}
		msh_repl_node_peer_ingest(&r->node, r->peer_ingest_tsc != 0 &&
							    w->tsc - r->peer_ingest_tsc < silence_tsc
						    ? MSH_REPL_INGEST_ALIVE
						    : MSH_REPL_INGEST_SILENT);
	}
	msh_repl_node_local_ingest(&r->node, true);
	msh_repl_node_tick(&r->node, w->now_ns, &act);
	node_act(w, act);
	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_app_shard *as = w->owned[i];

		if (as->repl == NULL)
			continue;
		if (as->repl->role == MSH_REPL_PRIMARY)
			msh_repl_primary_tick(as->repl, w->now_ns);
		msh_repl_lag_get(as->repl, w->now_ns, &as->wk.repl_lag);
	}
	msh_txq_flush(&w->rtx);
}

void
msh_repl_link_shard_start(struct msh_worker *w, struct msh_app_shard *as)
{
	const struct msh_repl_node *n = &w->dp->repl.node;

	as->shard->epoch = n->epoch;
	if (n->role == MSH_REPL_PRIMARY)
		msh_repl_primary_start(as->repl, n->epoch, w->now_ns);
	else
		msh_repl_secondary_start(as->repl, n->epoch, n->syncing);
}

int
msh_repl_link_set_role(struct msh_worker *w, bool promote, char *err, size_t errlen)
{
	struct msh_repl_node *n = &w->dp->repl.node;
	uint32_t act = 0;
	int rc;

	w->now_ns = msh_wall_ns();
	rc = promote ? msh_repl_node_promote(n, w->now_ns, &act)
		     : msh_repl_node_demote(n, w->now_ns, &act);
	if (rc == -EALREADY) {
		snprintf(err, errlen, "already %s", promote ? "primary" : "secondary");
		return -1;
	}
	node_act(w, act);
	if (w->running) {
		msh_txq_flush(&w->rtx);
		msh_txq_flush(&w->tx);
	}
	return 0;
}
