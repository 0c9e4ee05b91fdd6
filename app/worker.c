/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The worker loop (worker.h). A packet enters in msh_worker_main's RX burst,
 * on_frame() parses it, on_udp() finds its shard and either hands it to the
 * owning worker's ring (one writer per shard; the parsed frame rides in the
 * mbuf's private area) or gives it to ingest.c. After the burst come the
 * hand-offs, the spill thread's answers, held acks, the replication port,
 * commands and fan-out; every millisecond (TSC timed) housekeeping: age
 * seals, spill writes, lease expiry, heartbeats. No locks, no allocation
 * beyond mbufs, no logging and no system calls here (the clock is read
 * through the vDSO).
 */
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "acks.h"
#include "clock.h"
#include "feed.h"
#include "ingest.h"
#include "mcast.h"
#include "repl_link.h"
#include "spill_client.h"
#include "worker.h"
#include "worker_cmd.h"

#define RX_BURST 32
#define HOUSEKEEPING_US 1000
#define RTXQ_MAX 128 /* replication frames queued per turn */

void
msh_worker_setup(struct msh_worker *w, struct msh_dp *dp)
{
	const struct msh_port_conf *pc = dp->ingest.conf;

	w->dp = dp;
	w->udp_port = pc->udp_port;
	w->retrans_port = pc->retrans_port;
	w->feed_payload = pc->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN;
	msh_txq_init(&w->tx, dp->ingest.eth.port_id, w->tx_queue, MSH_TXQ_MAX, dp->ingest.eth.pool,
		     &dp->ingest.ifc);
	for (unsigned int k = 0; k < dp->n_fports; k++) {
		struct msh_app_port *p = &dp->fports[k];

		msh_txq_init(&w->ftx[k + 1], p->eth.port_id, w->tx_queue, MSH_TXQ_MAX, p->eth.pool,
			     &p->ifc);
	}
	w->repl = dp->repl.on && w->idx == 0;
	if (w->repl)
		msh_txq_init(&w->rtx, dp->repl.port.eth.port_id, 0, RTXQ_MAX, dp->repl.port.eth.pool,
			     &dp->repl.port.ifc);
}

/* One writer per shard: a packet for a shard another worker owns goes to that
 * worker's hand-off ring, the parsed frame with it in the mbuf's private area
 * (its pointers stay valid: they point into the mbuf). @return true when the
 * mbuf was handed over or dropped, false when this worker serves it. */
static inline bool
handoff_to(struct msh_worker *w, struct rte_mbuf *m, const struct msh_frame *f,
	   unsigned int owner)
{
	if (likely(owner == w->idx))
		return false;
	if (m == NULL) {
		/* Handed over, but the shard moved (deleted and created again
		 * elsewhere meanwhile): one writer per shard, so drop it. */
		w->st.app_drop[MSH_APP_DROP_HANDOFF_STALE]++;
		return true;
	}
	memcpy(rte_mbuf_to_priv(m), f, sizeof(*f));
	if (unlikely(rte_ring_mp_enqueue(w->dp->workers[owner]->handoff, m) != 0)) {
		w->st.app_drop[MSH_APP_DROP_HANDOFF_FULL]++;
		rte_pktmbuf_free(m);
	} else {
		w->st.handoff_out++;
	}
	return true;
}

static inline bool
handoff(struct msh_worker *w, struct rte_mbuf *m, const struct msh_frame *f,
	const struct msh_app_shard *as)
{
	return as != NULL && handoff_to(w, m, f, as->worker);
}

/* A datagram of a multicast feed line, or the unicast answer of a
 * re-request server; @return true when @p m was handed over. */
static bool
on_feed_udp(struct msh_worker *w, const struct msh_frame *f, struct rte_mbuf *m,
	    unsigned int slot)
{
	const struct msh_mcast_route *r;

	if (msh_ipv4_is_multicast(f->dst_ip)) {
		r = msh_mcast_route(w, slot, f);
		if (r == NULL)
			return false;
		if (handoff_to(w, m, f, r->feed->worker))
			return true;
		if (m == NULL)
			r->feed->wk.st.handed_over++;
		msh_mcast_line_rx(w, r, f);
		return false;
	}
	r = msh_mcast_rr_route(w, slot, f);
	if (r == NULL) {
		w->st.net_drop[MSH_NET_DROP_UDP_PORT]++;
		return false;
	}
	if (handoff_to(w, m, f, r->feed->worker))
		return true;
	msh_mcast_rr_answer(w, r, f);
	return false;
}

/* A UDP datagram to one of our ports, from the RX queue (@p m: it may be
 * handed to the shard's owner) or from the hand-off ring (@p m NULL).
 * @return true when @p m was handed over (the caller must not free it). */
static bool
on_udp(struct msh_worker *w, const struct msh_frame *f, struct rte_mbuf *m, unsigned int slot)
{
	struct msh_app_shard *as;
	struct msh_hdr h;
	int rc;

	if (unlikely(slot != 0 || msh_ipv4_is_multicast(f->dst_ip)))
		return on_feed_udp(w, f, m, slot);
	if (f->dst_port == w->retrans_port) {
		struct msh_mold_req rq;

		rc = msh_mold_req_parse(f->payload, f->payload_len, &rq);
		if (unlikely(rc != 0)) {
			w->st.retrans_requests++;
			w->st.wire_drop[-rc]++;
			return false;
		}
		as = msh_table_lookup(w->shards, &rq.session);
		if (handoff(w, m, f, as))
			return true;
		msh_ingest_retransmit(w, f, &rq, as);
		return false;
	}
	if (f->dst_port != w->udp_port)
		return on_feed_udp(w, f, m, slot); /* a re-request answer, or no listener */
	rc = msh_hdr_parse(f->payload, f->payload_len, &h);
	if (unlikely(rc != 0)) {
		w->st.wire_drop[-rc]++;
		return false;
	}
	if (unlikely(h.type != MSH_T_PUBLISH && h.type != MSH_T_SUBSCRIBE &&
		     h.type != MSH_T_UNSUBSCRIBE)) {
		w->st.app_drop[MSH_APP_DROP_UNEXPECTED_TYPE]++;
		return false;
	}
	as = msh_table_lookup(w->shards, &h.shard);
	if (handoff(w, m, f, as))
		return true;
	switch (h.type) {
	case MSH_T_PUBLISH:
		msh_ingest_publish(w, f, &h, as);
		break;
	case MSH_T_SUBSCRIBE:
		msh_ingest_subscribe(w, f, as);
		break;
	default:
		msh_ingest_unsubscribe(w, f, as);
		break;
	}
	return false;
}

/* A frame from port slot @p slot. @return true when @p m was handed to
 * another worker (not ours to free). */
static bool
on_frame(struct msh_worker *w, struct rte_mbuf *m, unsigned int slot)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct msh_repl_link *r = &w->dp->repl;
	struct msh_txq *q = msh_worker_txq(w, slot);
	struct msh_frame f;
	int kind;

	w->st.rx_pkts++;
	w->st.rx_bytes += rte_pktmbuf_pkt_len(m);
	if (unlikely(m->nb_segs != 1)) {
		w->st.net_drop[MSH_NET_DROP_IP_BAD_HDR]++;
		return false;
	}
	kind = msh_frame_parse(d, rte_pktmbuf_data_len(m), q->ifc, &f);
	if (likely(kind == MSH_FRAME_UDP))
		return on_udp(w, &f, m, slot);
	if (kind < 0) {
		/* IGMP; a snooping switch's querier may send from 0.0.0.0. */
		if ((kind == -MSH_NET_DROP_IP_PROTO ||
		     (kind == -MSH_NET_DROP_IP_BAD_SRC && f.src_ip == 0)) &&
		    f.proto == MSH_IPPROTO_IGMP) {
			msh_mcast_igmp_rx(w, slot, d, rte_pktmbuf_data_len(m));
			return false;
		}
		w->st.net_drop[-kind]++;
		return false;
	}
	if (kind == MSH_FRAME_ARP && f.arp.op != MSH_ARP_OP_REQUEST) {
		/* We answer rather than ask (replies go to the requester's MAC),
		 * except the probe of the peer appliance's ingest address and
		 * the re-request servers of feeds. */
		if (r->on && slot == 0 && f.arp.sender_ip == r->port.conf->peer_ingest_ip)
			w->dp->repl.peer_ingest_tsc = w->tsc;
		if (w->n_routes > 0) {
			int owner = msh_mcast_arp_owner(w, slot, &f);

			/* A re-request server's MAC goes to its feed's owner. */
			if (owner >= 0 && handoff_to(w, m, &f, (unsigned int)owner))
				return true;
			msh_mcast_arp_learn(w, slot, &f);
		}
		return false;
	}
	if (msh_txq_answer(q, kind, d, &f)) {
		if (kind == MSH_FRAME_ARP)
			w->st.arp_replies++;
		else
			w->st.icmp_replies++;
	}
	return false;
}

/* The slot of a port id (hand-offs carry the port they came in on). */
static inline unsigned int
port_slot(const struct msh_dp *dp, uint16_t port_id)
{
	for (unsigned int k = 0; k < dp->n_fports; k++)
		if (dp->fports[k].eth.port_id == port_id)
			return k + 1;
	return 0;
}

/* One burst from each feed port this worker polls. */
static uint16_t
poll_feed_ports(struct msh_worker *w)
{
	struct msh_dp *dp = w->dp;
	struct rte_mbuf *rx[RX_BURST];
	uint16_t total = 0;

	for (unsigned int k = 0; k < dp->n_fports; k++) {
		struct msh_app_port *p = &dp->fports[k];
		uint16_t n;

		if (w->idx >= p->conf->rx_queues)
			continue;
		n = rte_eth_rx_burst(p->eth.port_id, (uint16_t)w->idx, rx, RX_BURST);
		if (n == 0)
			continue;
		w->now_ns = msh_wall_ns();
		for (uint16_t i = 0; i < n; i++) {
			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
			if (!on_frame(w, rx[i], k + 1))
				rte_pktmbuf_free(rx[i]);
		}
		total += n;
	}
	return total;
}

static inline void
flush_feed_ports(struct msh_worker *w)
{
	for (unsigned int k = 1; k <= w->dp->n_fports; k++)
		if (w->ftx[k].n > 0)
			msh_txq_flush(&w->ftx[k]);
}

/* Packets other workers received for this worker's shards. */
static uint16_t
drain_handoffs(struct msh_worker *w)
{
	struct rte_mbuf *ho[RX_BURST];
	unsigned int n = rte_ring_sc_dequeue_burst(w->handoff, (void **)ho, RX_BURST, NULL);

	if (n == 0)
		return 0;
	w->now_ns = msh_wall_ns();
	w->st.handoff_in += n;
	for (unsigned int i = 0; i < n; i++) {
		const struct msh_frame *f = rte_mbuf_to_priv(ho[i]);

		if (i + 1 < n)
			rte_prefetch0(rte_mbuf_to_priv(ho[i + 1]));
		/* ARP from a feed's re-request server, else UDP. */
		if (unlikely(f->ethertype == MSH_ETHERTYPE_ARP))
			msh_mcast_arp_learn(w, port_slot(w->dp, ho[i]->port), f);
		else
			on_udp(w, f, NULL, port_slot(w->dp, ho[i]->port));
		rte_pktmbuf_free(ho[i]);
	}
	return (uint16_t)n;
}

/* Answers of the spill thread for this worker's shards. */
static void
spill_replies(struct msh_worker *w)
{
	struct msh_spill_svc *svc = &w->dp->spill;
	void *objs[16];
	unsigned int n;

	if (w->spill_done == NULL)
		return;
	n = rte_ring_sc_dequeue_burst(w->spill_done, objs, RTE_DIM(objs), NULL);
	for (unsigned int i = 0; i < n; i++) {
		struct msh_spill_msg *m = objs[i];

		if (m->op == MSH_SPILL_OP_WRITE)
			msh_spill_written(svc, m, w->tsc);
		else
			msh_feed_disk_data(w, m);
		msh_spill_msg_put(svc, m);
	}
}

/* Persistent shards: what this turn appended goes to the spill thread, and
 * acks whose messages reached the disk go out (still after a switch back to
 * memory). */
static inline void
persist_turn(struct msh_worker *w)
{
	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_app_shard *as = w->owned[i];

		if (as->pend == NULL)
			continue;
		msh_spill_journal_flush(&w->dp->spill, as);
		if (as->wk.pend_n > 0)
			msh_acks_release(w, as, false);
	}
}

static void
housekeeping(struct msh_worker *w)
{
	uint64_t hb = msh_ns_to_tsc(w->dp->conf->app.heartbeat_ns, w->dp->tsc_hz);

	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_app_shard *as = w->owned[i];

		msh_shard_tick(as->shard, w->now_ns);
		if (as->dir != NULL)
			msh_spill_kick(&w->dp->spill, as, w->tsc);
		w->st.subs_expired += msh_subs_expire(&as->wk.subs, w->tsc);
		msh_feed_heartbeats(w, as, hb);
	}
}

/* Idle policy "back-off": spin, then pause, then sleep; lets a 2-core test
 * host run two appliances and the clients. Never the default. */
static inline void
idle_backoff(uint64_t *idle)
{
	++*idle;
	if (*idle > 512)
		rte_delay_us_sleep(*idle > 65536 ? 200 : 20);
	else if (*idle > 64)
		rte_pause();
}

int
msh_worker_main(void *arg)
{
	struct msh_worker *w = arg;
	struct msh_dp *dp = w->dp;
	struct rte_mbuf *rx[RX_BURST];
	uint64_t hk_period = dp->tsc_hz / 1000000 * HOUSEKEEPING_US;
	uint64_t hk_next = rte_rdtsc() + hk_period, idle = 0;
	bool backoff = dp->conf->app.idle == MSH_IDLE_BACKOFF;
	bool has_rx = w->rx_queue >= 0;
	bool has_fports = dp->n_fports > 0;
	uint64_t mcast_period = dp->tsc_hz / 100000; /* feed timers: every 10 us */

	while (!dp->quit) {
		uint16_t n = has_rx ? rte_eth_rx_burst(w->tx.port, (uint16_t)w->rx_queue, rx, RX_BURST)
				    : 0;

		w->tsc = rte_rdtsc();
		if (n > 0) {
			w->now_ns = msh_wall_ns();
			if (unlikely(w->st.rx_first_ns == 0))
				w->st.rx_first_ns = w->now_ns;
			w->st.rx_last_ns = w->now_ns;
			for (uint16_t i = 0; i < n; i++) {
				if (i + 1 < n)
					rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
				if (!on_frame(w, rx[i], 0))
					rte_pktmbuf_free(rx[i]);
			}
		}
		if (has_fports)
			n += poll_feed_ports(w);
		n += drain_handoffs(w);
		spill_replies(w);
		persist_turn(w);
		if (w->repl) {
			n += msh_repl_link_rx(w);
			/* Acks first (acks=1 ones are due now, acks=all ones were
			 * just released), then what the secondary is owed: both
			 * are a system call on an af_packet port. */
			if (w->tx.n > 0)
				msh_txq_flush(&w->tx);
			msh_repl_link_turn(w);
		}
		if (unlikely(!rte_ring_empty(w->cmd_ring))) {
			msh_txq_flush(&w->tx); /* a command may send (end of session): order */
			msh_worker_cmd_drain(w);
		}
		msh_feed_fan_out(w);
		if (w->n_routes > 0 && w->tsc - w->mcast_tsc >= mcast_period) {
			w->mcast_tsc = w->tsc;
			msh_mcast_turn(w);
		}
		if (has_fports)
			flush_feed_ports(w);
		if (unlikely(w->tsc >= hk_next)) {
			w->now_ns = msh_wall_ns();
			housekeeping(w);
			if (w->repl)
				msh_repl_link_housekeeping(w);
			hk_next = w->tsc + hk_period;
		}
		if (w->tx.n > 0 || n > 0) {
			msh_txq_flush(&w->tx);
			idle = 0;
		} else if (backoff) {
			idle_backoff(&idle);
		}
	}
	msh_mcast_stop(w); /* held feed packets into their shards first */
	for (unsigned int i = 0; i < w->n_owned; i++)
		msh_spill_journal_flush(&dp->spill, w->owned[i]); /* synced before the thread stops */
	msh_txq_flush(&w->tx);
	flush_feed_ports(w);
	return 0;
}
