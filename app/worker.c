/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A worker lcore's fast path: RX burst from its own queue, parse, act
 * (publish + ack, subscribe, retransmit, ARP and ICMP echo), live fan-out of
 * what the burst appended, one TX burst on its own queue. A packet for a shard
 * another worker owns goes to that worker's hand-off ring (the parsed frame
 * rides in the mbuf's private area), so each shard has one writer; a worker
 * drains its own hand-off ring beside its RX queue. Every N turns (TSC timed)
 * it does housekeeping: age seals, lease expiry, heartbeats. No locks, no
 * allocation beyond mbufs, no logging and no system calls here (the clock is
 * read through the vDSO).
 *
 * TX: replies and feed packets of one turn go out in one burst. A feed packet
 * the queue refuses rolls its subscriber back to that packet's first sequence
 * number, so a full queue delays a feed but never punches a hole in it; a
 * refused reply is dropped and counted (the client retries).
 */
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "appliance.h"

#define RX_BURST 32
#define TXQ_MAX 512
/* Feed packets one subscriber may get per turn: paces history replay and
 * keeps a subscriber far behind from starving the others, yet covers what one
 * RX burst appends (32 datagrams of up to ~80 messages: 32 feed packets) so a
 * live subscriber keeps up at full load. */
#define FEED_PKTS_PER_SUB 64
#define HOUSEKEEPING_US 1000
#define RTXQ_MAX 128       /* replication frames queued per turn */
#define REPL_FRAMES_PER_TURN 64

struct txq {
	uint16_t n;
	struct rte_mbuf *pkt[TXQ_MAX];
	struct msh_sub *sub[TXQ_MAX]; /* feed packets: whose position to roll back */
	uint64_t first_seq[TXQ_MAX];
	uint16_t msgs[TXQ_MAX];
	uint64_t bytes; /* of the queued packets: sent mbufs belong to the driver */
};

struct worker {
	struct msh_app *app;
	struct msh_worker *me; /* identity, shard views, rings */
	struct msh_lcore_stats *st;
	uint16_t port, queue;
	struct rte_mempool *pool;
	const struct msh_iface *ifc;
	uint16_t udp_port, retrans_port;
	uint32_t feed_payload; /* bytes of MoldUDP64 payload (header + blocks) per packet */
	uint64_t tsc, now_ns;
	bool rolled_back; /* a feed packet was refused: positions moved back */
	struct txq tx;
	/* The replication port (replicas = 2): worker 0 only in this version. */
	bool repl;
	uint16_t rport;
	struct rte_mempool *rpool;
	const struct msh_iface *rifc;
	uint16_t rn;
	struct rte_mbuf *rpkt[RTXQ_MAX];
	uint64_t hello_tsc; /* next housekeeping work for the pair */
} __rte_cache_aligned;

static inline uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Allocate a UDP frame to (dst_ip, dst_port) via @p dst_mac with room for
 * @p len payload bytes; returns the payload pointer or NULL (counted). */
static uint8_t *
udp_alloc(struct worker *w, struct rte_mbuf **mp, const uint8_t *dst_mac, uint32_t dst_ip,
	  uint16_t dst_port, uint16_t src_port, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->pool);
	struct msh_udp_flow fl;
	uint8_t *p;

	if (unlikely(m == NULL)) {
		w->st->app_drop[MSH_APP_DROP_NO_MBUF]++;
		return NULL;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, MSH_UDP_HDRS_LEN + len);
	if (unlikely(p == NULL)) {
		rte_pktmbuf_free(m);
		w->st->app_drop[MSH_APP_DROP_NO_MBUF]++;
		return NULL;
	}
	memcpy(fl.src_mac, w->ifc->mac, 6);
	memcpy(fl.dst_mac, dst_mac, 6);
	fl.src_ip = w->ifc->ip;
	fl.dst_ip = dst_ip;
	fl.src_port = src_port;
	fl.dst_port = dst_port;
	fl.ttl = 0;
	if (unlikely(msh_udp_hdr_build(p, MSH_UDP_HDRS_LEN + (size_t)len, &fl, len) < 0)) {
		rte_pktmbuf_free(m);
		w->st->app_drop[MSH_APP_DROP_NO_MBUF]++;
		return NULL;
	}
	*mp = m;
	return p + MSH_UDP_HDRS_LEN;
}

static inline void
tx_push(struct worker *w, struct rte_mbuf *m, struct msh_sub *sub, uint64_t first_seq,
	uint16_t msgs)
{
	struct txq *q = &w->tx;

	/* Checksum last: the payload is written by now. */
	msh_udp_csum_fill(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m));
	q->pkt[q->n] = m;
	q->sub[q->n] = sub;
	q->first_seq[q->n] = first_seq;
	q->msgs[q->n] = msgs;
	q->bytes += rte_pktmbuf_pkt_len(m);
	q->n++;
}

static void
tx_flush(struct worker *w)
{
	struct txq *q = &w->tx;
	uint16_t sent = 0;

	if (q->n == 0)
		return;
	sent = rte_eth_tx_burst(w->port, w->queue, q->pkt, q->n);
	w->st->tx_pkts += sent;
	for (uint16_t i = sent; i < q->n; i++) {
		struct msh_sub *s = q->sub[i];

		q->bytes -= rte_pktmbuf_pkt_len(q->pkt[i]);

		if (s != NULL) {
			if (q->first_seq[i] < s->next_seq)
				s->next_seq = q->first_seq[i];
			s->sent_msgs -= q->msgs[i];
			s->sent_pkts--;
			w->st->feed_rollbacks++;
			w->rolled_back = true;
		} else {
			w->st->app_drop[MSH_APP_DROP_TX_FULL]++;
		}
		rte_pktmbuf_free(q->pkt[i]);
	}
	w->st->tx_bytes += q->bytes;
	q->bytes = 0;
	q->n = 0;
}

/* Replies go back the way the request came: to its source MAC, address and
 * port, so no ARP resolution is needed to answer anyone. */
static uint8_t *
reply_alloc(struct worker *w, struct rte_mbuf **m, const struct msh_frame *f, uint16_t src_port,
	    uint16_t len)
{
	if (w->tx.n >= TXQ_MAX) {
		w->st->app_drop[MSH_APP_DROP_TX_FULL]++;
		return NULL;
	}
	return udp_alloc(w, m, f->src_mac, f->src_ip, f->src_port, src_port, len);
}

static void
send_ack(struct worker *w, const struct msh_frame *f, const struct msh_name *shard,
	 uint8_t status, uint16_t count, uint32_t pub_id, uint64_t pub_seq, uint64_t shard_seq)
{
	struct rte_mbuf *m;
	struct msh_ack a;
	uint8_t *p = reply_alloc(w, &m, f, w->udp_port, MSH_ACK_LEN);

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
	a.epoch = w->app->epoch;
	msh_ack_build(p, MSH_ACK_LEN, &a);
	w->st->acks[status < MSH_S_COUNT ? status : MSH_S_MALFORMED]++;
	tx_push(w, m, NULL, 0, 0);
}

static inline struct msh_app_shard *
shard_lookup(struct worker *w, const struct msh_name *name)
{
	return msh_table_lookup(w->me->shards, name);
}

/* Oldest sequence number the shard still serves: from its spill files when
 * they reach back further than memory (a gap between the two, left by a
 * segment evicted before it could be spilled, is met with UNAVAILABLE). */
static inline uint64_t
retained_first(const struct msh_app_shard *as)
{
	uint64_t mem = msh_shard_first_seq(as->shard);
	uint64_t disk = as->dir ? __atomic_load_n(&as->disk_first, __ATOMIC_ACQUIRE) : 0;

	return disk != 0 && disk < mem ? disk : mem;
}

/* Whether [seq, ...) is to be read from the spill files: older than memory
 * and within what the files hold. */
static inline bool
on_disk(const struct msh_app_shard *as, uint64_t seq)
{
	uint64_t first, next;

	if (as->dir == NULL || seq >= msh_shard_first_seq(as->shard))
		return false;
	first = __atomic_load_n(&as->disk_first, __ATOMIC_ACQUIRE);
	next = __atomic_load_n(&as->disk_next, __ATOMIC_ACQUIRE);
	return first != 0 && seq >= first && seq < next;
}

/* The first sequence number at or after @p seq the shard can still serve:
 * @p seq itself when it is on disk or in memory, else the start of the next
 * range that is (the files, or memory past a gap the files do not cover). */
static inline uint64_t
next_servable(const struct msh_app_shard *as, uint64_t seq)
{
	uint64_t mem = msh_shard_first_seq(as->shard), disk;

	if (seq >= mem || on_disk(as, seq))
		return seq;
	disk = as->dir ? __atomic_load_n(&as->disk_first, __ATOMIC_ACQUIRE) : 0;
	return disk != 0 && seq < disk ? disk : mem;
}

/* One writer per shard: a packet for a shard another worker owns goes to that
 * worker's hand-off ring, the parsed frame with it in the mbuf's private area
 * (its pointers stay valid: they point into the mbuf). @return true when the
 * mbuf was handed over or dropped, false when this worker serves it. */
static inline bool
handoff(struct worker *w, struct rte_mbuf *m, const struct msh_frame *f,
	const struct msh_app_shard *as)
{
	if (likely(as == NULL || as->worker == w->me->idx))
		return false;
	if (m == NULL) {
		/* Handed over, but the shard moved (deleted and created again
		 * elsewhere meanwhile): one writer per shard, so drop it. */
		w->st->app_drop[MSH_APP_DROP_HANDOFF_STALE]++;
		return true;
	}
	memcpy(rte_mbuf_to_priv(m), f, sizeof(*f));
	if (unlikely(rte_ring_mp_enqueue(w->app->workers[as->worker].handoff, m) != 0)) {
		w->st->app_drop[MSH_APP_DROP_HANDOFF_FULL]++;
		rte_pktmbuf_free(m);
	} else {
		w->st->handoff_out++;
	}
	return true;
}

/* Ack a PUBLISH that could not be parsed or placed, echoing what of its
 * publisher_id and publisher_seq the datagram is long enough to hold. */
static void
send_ack_refused(struct worker *w, const struct msh_frame *f, const struct msh_hdr *h,
		 uint8_t status)
{
	send_ack(w, f, &h->shard, status, 0,
		 f->payload_len >= 24 ? msh_load_be32(f->payload + 20) : 0,
		 f->payload_len >= 32 ? msh_load_be64(f->payload + 24) : 0, 0);
}

/* storage = persistent: append, gather the new messages for the journal,
 * and hold the ack until the spill thread has them on disk (release_acks).
 * A DUPLICATE is held until everything appended so far is durable: the copy
 * it duplicates may still be on its way to disk. */
static void
on_publish_persistent(struct worker *w, const struct msh_frame *f, const struct msh_hdr *h,
		      struct msh_app_shard *as, const struct msh_publish *p, bool want_ack)
{
	struct msh_pub_result r;
	struct msh_held_ack *a;

	if (unlikely(as->journal_error != 0 ||
		     msh_spill_journal_room(w->app, as, p->blocks_len) != 0 ||
		     (want_ack && as->pend_n == as->pend_cap))) {
		/* The disk cannot keep up (or failed): refuse before appending. */
		as->persist.busy++;
		if (want_ack)
			send_ack(w, f, &h->shard, MSH_S_SHARD_FULL, 0, p->publisher_id,
				 p->publisher_seq, 0);
		return;
	}
	msh_shard_publish(as->shard, p->publisher_id, p->publisher_seq, p->blocks, p->blocks_len,
			  p->hdr.count, w->now_ns, &r);
	if (r.appended > 0)
		msh_spill_journal_add(as, r.first_seq, r.appended);
	if (!want_ack)
		return;
	if (r.status != MSH_S_OK && r.status != MSH_S_DUPLICATE) {
		send_ack(w, f, &h->shard, r.status, (uint16_t)r.appended, p->publisher_id,
			 p->publisher_seq, r.first_seq);
		return;
	}
	a = &as->pend[(as->pend_head + as->pend_n) % as->pend_cap];
	a->end_seq = r.status == MSH_S_OK ? r.first_seq + r.appended : as->shard->next_seq;
	a->pub_seq = p->publisher_seq;
	a->first_seq = r.first_seq;
	a->pub_id = p->publisher_id;
	a->ip = f->src_ip;
	a->port = f->src_port;
	a->count = (uint16_t)r.appended;
	memcpy(a->mac, f->src_mac, 6);
	a->status = r.status;
	as->pend_n++;
	as->persist.held++;
}

/* Send the held acks whose messages are now on disk. */
static void
release_acks(struct worker *w, struct msh_app_shard *as)
{
	uint64_t durable = __atomic_load_n(&as->durable_seq, __ATOMIC_ACQUIRE);

	while (as->pend_n > 0 && w->tx.n < TXQ_MAX) {
		struct msh_held_ack *a = &as->pend[as->pend_head];
		struct msh_frame f;

		if (a->end_seq > durable)
			break;
		memcpy(f.src_mac, a->mac, 6);
		f.src_ip = a->ip;
		f.src_port = a->port;
		send_ack(w, &f, &as->shard->conf.name, a->status, a->count, a->pub_id, a->pub_seq,
			 a->first_seq);
		as->pend_head = as->pend_head + 1 == as->pend_cap ? 0 : as->pend_head + 1;
		as->pend_n--;
		as->persist.released++;
	}
}

/* ---- replication (replicas = 2, docs/REPLICATION.md) ---------------------
 * Worker 0 owns the replication port, the node state machine and every shard
 * of a pair appliance. The primary streams what it appends as DATA frames
 * (msh_repl_tx_next decides, go-back-N on NAK or timeout), the secondary
 * appends them at the same sequence numbers and acks cumulatively. acks=all
 * holds a publisher's ACK until the secondary's ack passes it. */

/* Ethernet/IPv4/UDP of a frame to the peer's replication address. */
static void
repl_flow(const struct worker *w, uint64_t mac64, struct msh_udp_flow *fl)
{
	memcpy(fl->src_mac, w->rifc->mac, 6);
	memcpy(fl->dst_mac, &mac64, 6);
	fl->src_ip = w->rifc->ip;
	fl->dst_ip = w->app->repl.port.conf->peer_ip;
	fl->src_port = MSH_REPL_UDP_PORT;
	fl->dst_port = MSH_REPL_UDP_PORT;
	fl->ttl = 0;
}

/* A UDP frame to the peer's replication address; NULL (counted) until its
 * MAC is known or when no mbuf is left. */
static uint8_t *
repl_alloc(struct worker *w, struct rte_mbuf **mp, uint16_t len)
{
	struct msh_app_repl *r = &w->app->repl;
	uint64_t mac64 = r->peer_mac;
	struct msh_udp_flow fl;
	struct rte_mbuf *m;
	uint8_t *p;

	if (mac64 == 0) {
		r->no_peer_mac++;
		return NULL;
	}
	if (w->rn >= RTXQ_MAX || (m = rte_pktmbuf_alloc(w->rpool)) == NULL) {
		r->tx_dropped++;
		return NULL;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, MSH_UDP_HDRS_LEN + len);
	if (p == NULL) {
		rte_pktmbuf_free(m);
		r->tx_dropped++;
		return NULL;
	}
	repl_flow(w, mac64, &fl);
	msh_udp_hdr_build(p, MSH_UDP_HDRS_LEN + (size_t)len, &fl, len);
	*mp = m;
	return p + MSH_UDP_HDRS_LEN;
}

/* Queue a built frame: @p len bytes of payload were written (trim the rest). */
static void
repl_push(struct worker *w, struct rte_mbuf *m, uint16_t len, uint16_t room)
{
	if (len < room) {
		/* The UDP and IP lengths were written for room: rewrite them. */
		struct msh_udp_flow fl;

		rte_pktmbuf_trim(m, (uint16_t)(room - len));
		repl_flow(w, w->app->repl.peer_mac, &fl);
		msh_udp_hdr_build(rte_pktmbuf_mtod(m, uint8_t *), MSH_UDP_HDRS_LEN + (size_t)len,
				  &fl, len);
	}
	msh_udp_csum_fill(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m));
	w->rpkt[w->rn++] = m;
	w->app->repl.tx_frames++;
}

static void
repl_flush(struct worker *w)
{
	uint16_t sent;

	if (w->rn == 0)
		return;
	sent = rte_eth_tx_burst(w->rport, 0, w->rpkt, w->rn);
	for (uint16_t i = sent; i < w->rn; i++)
		rte_pktmbuf_free(w->rpkt[i]);
	/* A lost frame is repaired like one lost on the wire (NAK, timeout). */
	w->app->repl.tx_dropped += (uint64_t)(w->rn - sent);
	w->rn = 0;
}

/* An ARP request from @p ifc on @p port for @p ip (peer resolution, ingest probe). */
static void
send_arp_request(struct worker *w, uint16_t port, struct rte_mempool *pool,
		 const struct msh_iface *ifc, uint32_t ip, bool repl_port)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	int len;

	if (m == NULL)
		return;
	len = msh_arp_request_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), ifc,
				    ip);
	if (len <= 0) {
		rte_pktmbuf_free(m);
		return;
	}
	rte_pktmbuf_append(m, (uint16_t)len);
	if (repl_port && w->rn < RTXQ_MAX) {
		w->rpkt[w->rn++] = m;
	} else if (!repl_port && w->tx.n < TXQ_MAX) {
		w->tx.pkt[w->tx.n] = m;
		w->tx.sub[w->tx.n] = NULL;
		w->tx.bytes += (uint64_t)len;
		w->tx.n++;
	} else {
		rte_pktmbuf_free(m);
	}
}

/* HELLO or SYNC_REQ with every replicated shard's position. */
static void
send_summary(struct worker *w, uint8_t type)
{
	struct msh_app *app = w->app;
	struct msh_worker *me = w->me;
	uint16_t room = (uint16_t)(app->repl.port.conf->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN);
	uint16_t per = (uint16_t)((room - MSH_REPL_SUMMARY_HDR_LEN) / MSH_REPL_POS_LEN);
	struct msh_repl_pos pos[64];
	uint32_t total = 0, done = 0;

	per = RTE_MIN(per, (uint16_t)RTE_DIM(pos));
	for (unsigned int i = 0; i < me->n_owned; i++)
		total += me->owned[i]->repl != NULL;
	do {
		struct msh_repl_hdr h;
		struct rte_mbuf *m;
		uint16_t n = 0;
		uint8_t *p;
		int len;

		for (unsigned int i = 0, k = 0; i < me->n_owned && n < per; i++) {
			if (me->owned[i]->repl == NULL)
				continue;
			if (k++ < done)
				continue;
			msh_repl_pos_get(me->owned[i]->repl, &pos[n++]);
		}
		p = repl_alloc(w, &m, room);
		if (p == NULL)
			return;
		msh_repl_node_hdr(&app->repl.node, type, w->now_ns, &h);
		len = msh_repl_summary_build(p, room, &h, total, pos, n);
		if (len < 0) {
			rte_pktmbuf_free(m);
			return;
		}
		repl_push(w, m, (uint16_t)len, room);
		done += n;
	} while (done < total);
}

/* Answer the acks=all publishers whose messages the secondary now holds. */
static void
release_repl_acks(struct worker *w, struct msh_app_shard *as, bool drain)
{
	struct msh_repl_pending p;

	while (w->tx.n < TXQ_MAX &&
	       (drain ? msh_repl_pending_drain(as->repl, &p) : msh_repl_pending_pop(as->repl, &p))) {
		struct msh_frame f;

		memcpy(f.src_mac, p.mac, 6);
		f.src_ip = p.ip;
		f.src_port = p.port;
		/* Demoted before the secondary had it: the publisher must retry at
		 * the new primary, which may or may not have it (dedupe decides). */
		send_ack(w, &f, &as->shard->conf.name, drain ? MSH_S_NOT_PRIMARY : p.status,
			 drain ? 0 : p.count, p.publisher_id, p.publisher_seq,
			 drain ? 0 : p.shard_seq);
	}
}

/* Carry out what the node decided (role, epoch, frames due). */
static void
repl_node_act(struct worker *w, uint32_t act)
{
	struct msh_app *app = w->app;
	struct msh_repl_node *n = &app->repl.node;
	struct msh_worker *me = w->me;

	if (act & (MSH_REPL_ACT_PROMOTED | MSH_REPL_ACT_DEMOTED | MSH_REPL_ACT_EPOCH)) {
		app->epoch = n->epoch;
		app->repl.epoch = n->epoch;
		app->repl.role = n->role;
		for (unsigned int i = 0; i < me->n_owned; i++) {
			struct msh_app_shard *as = me->owned[i];

			if (as->repl == NULL)
				continue;
			as->shard->epoch = n->epoch;
			if (act & MSH_REPL_ACT_PROMOTED) {
				msh_repl_primary_start(as->repl, n->epoch, w->now_ns);
			} else if (n->role == MSH_REPL_SECONDARY) {
				release_repl_acks(w, as, true);
				msh_repl_secondary_start(as->repl, n->epoch, n->syncing);
			}
		}
		MSH_LOG(NOTICE, "replication: %s in epoch %u%s",
			n->role == MSH_REPL_PRIMARY ? "primary" : "secondary", n->epoch,
			n->syncing ? ", catching up" : "");
	}
	if (act & MSH_REPL_ACT_SEND_HELLO)
		send_summary(w, MSH_REPL_T_HELLO);
	if (act & MSH_REPL_ACT_SEND_SYNC_REQ)
		send_summary(w, MSH_REPL_T_SYNC_REQ);
	if (act & MSH_REPL_ACT_ALARM)
		MSH_LOG(WARNING, "replication: %s", msh_repl_alarm_str(n->alarm));
}

static struct msh_app_shard *
repl_shard(struct worker *w, const struct msh_name *name)
{
	struct msh_app_shard *as = shard_lookup(w, name);

	if (as == NULL || as->repl == NULL || as->ended) {
		w->app->repl.rx_unknown_shard++;
		return NULL;
	}
	return as;
}

static void
send_sync_reply(struct worker *w, const struct msh_repl_sync_reply *r0)
{
	uint16_t room = MSH_REPL_SYNC_REPLY_HDR_LEN + MSH_REPL_HIST * MSH_REPL_HIST_ENTRY_LEN;
	struct msh_repl_sync_reply r = *r0;
	struct rte_mbuf *m;
	uint8_t *p = repl_alloc(w, &m, room);
	uint16_t count = r.hdr.count;
	int len;

	if (p == NULL)
		return;
	msh_repl_node_hdr(&w->app->repl.node, MSH_REPL_T_SYNC_REPLY, w->now_ns, &r.hdr);
	r.hdr.count = count;
	len = msh_repl_sync_reply_build(p, room, &r);
	if (len < 0) {
		rte_pktmbuf_free(m);
		return;
	}
	repl_push(w, m, (uint16_t)len, room);
}

static void
send_nak(struct worker *w, struct msh_app_shard *as, uint64_t expected, uint64_t seen)
{
	struct msh_repl_nak n;
	struct rte_mbuf *m;
	uint8_t *p = repl_alloc(w, &m, MSH_REPL_NAK_LEN);

	if (p == NULL)
		return;
	memset(&n, 0, sizeof(n));
	msh_repl_node_hdr(&w->app->repl.node, MSH_REPL_T_NAK, w->now_ns, &n.hdr);
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
repl_check_synced(struct worker *w)
{
	struct msh_worker *me = w->me;

	for (unsigned int i = 0; i < me->n_owned; i++)
		if (me->owned[i]->repl != NULL && me->owned[i]->repl->syncing)
			return;
	msh_repl_node_sync_done(&w->app->repl.node);
}

/* A UDP datagram to the replication port. */
static void
repl_rx(struct worker *w, const struct msh_frame *f)
{
	struct msh_app *app = w->app;
	struct msh_app_repl *r = &app->repl;
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
		repl_node_act(w, act);
		return;
	case MSH_REPL_RX_FOREIGN:
		r->rx_foreign++;
		return;
	default:
		break;
	}
	r->rx_frames++;
	repl_node_act(w, act);
	switch (h.type) {
	case MSH_REPL_T_DATA: {
		struct msh_repl_data d;
		struct msh_repl_reply out;

		rc = msh_repl_data_parse(b, len, 65535, &d);
		if (rc != 0 || (as = repl_shard(w, &d.shard)) == NULL) {
			if (rc != 0)
				r->rx_drop[-rc]++;
			return;
		}
		msh_repl_apply(as->repl, &d, w->now_ns, &out);
		if (out.nak)
			send_nak(w, as, out.expected_seq, out.seen_seq);
		break; /* ACKs go out once per turn (repl_turn) */
	}
	case MSH_REPL_T_ACK: {
		struct msh_repl_ack a;

		rc = msh_repl_ack_parse(b, len, &a);
		if (rc != 0 || (as = repl_shard(w, &a.shard)) == NULL) {
			if (rc != 0)
				r->rx_drop[-rc]++;
			return;
		}
		{
			uint64_t before = as->repl->acked_seq;

			msh_repl_on_ack(as->repl, &a, w->now_ns);
			if (as->repl->acked_seq > before && as->repl_lag_hist != NULL)
				hist_add(as->repl_lag_hist, as->repl->ack_lag_ns);
		}
		release_repl_acks(w, as, false);
		break;
	}
	case MSH_REPL_T_NAK: {
		struct msh_repl_nak n;

		rc = msh_repl_nak_parse(b, len, &n);
		if (rc != 0 || (as = repl_shard(w, &n.shard)) == NULL) {
			if (rc != 0)
				r->rx_drop[-rc]++;
			return;
		}
		msh_repl_on_nak(as->repl, &n, w->now_ns);
		break;
	}
	case MSH_REPL_T_HELLO:
	case MSH_REPL_T_SYNC_REQ: {
		struct msh_repl_summary sm;

		rc = msh_repl_summary_parse(b, len, &sm);
		if (rc != 0) {
			r->rx_drop[-rc]++;
			return;
		}
		for (uint16_t i = 0; i < sm.hdr.count; i++) {
			struct msh_repl_pos pos;
			struct msh_repl_sync_reply rep;

			msh_repl_pos_at(&sm, i, &pos);
			as = repl_shard(w, &pos.shard);
			if (h.type == MSH_REPL_T_HELLO) {
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
		break;
	}
	case MSH_REPL_T_SYNC_REPLY: {
		struct msh_repl_sync_reply rep;
		struct msh_repl_sync_decision dec;
		char name[MSH_NAME_LEN + 1];

		rc = msh_repl_sync_reply_parse(b, len, &rep);
		if (rc != 0 || (as = repl_shard(w, &rep.shard)) == NULL) {
			if (rc != 0)
				r->rx_drop[-rc]++;
			return;
		}
		if (!as->repl->syncing)
			return;
		msh_repl_sync_decide(as->repl, &rep, &dec);
		if (msh_repl_sync_apply(as->repl, &dec, &rep) == 0) {
			if (dec.truncate_to || dec.reset_to)
				MSH_LOG(WARNING, "shard %s: caught up with the primary: truncated to "
					"seq %lu, restarted at %lu (0: no)",
					msh_name_to_str(&as->shard->conf.name, name),
					(unsigned long)dec.truncate_to, (unsigned long)dec.reset_to);
			as->behind = true;
			repl_check_synced(w);
		}
		break;
	}
	default:
		break;
	}
}

/* A frame from the replication port: ARP and ICMP answered there, the
 * peer's MAC learned from anything it sends, UDP to the replication port. */
static void
on_repl_frame(struct worker *w, struct rte_mbuf *m)
{
	struct msh_app_repl *r = &w->app->repl;
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct msh_frame f;
	int kind = msh_frame_parse(d, rte_pktmbuf_data_len(m), w->rifc, &f);
	uint32_t peer = r->port.conf->peer_ip;

	if (kind < 0) {
		w->st->net_drop[-kind]++;
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
			w->st->net_drop[MSH_NET_DROP_UDP_PORT]++;
		return;
	}
	if ((kind == MSH_FRAME_ARP && f.arp.op == MSH_ARP_OP_REQUEST) ||
	    kind == MSH_FRAME_ICMP_ECHO) {
		struct rte_mbuf *rp = rte_pktmbuf_alloc(w->rpool);
		int len;

		if (rp == NULL || w->rn >= RTXQ_MAX) {
			rte_pktmbuf_free(rp);
			return;
		}
		len = kind == MSH_FRAME_ARP
			      ? msh_arp_reply_build(rte_pktmbuf_mtod(rp, uint8_t *),
						    rte_pktmbuf_tailroom(rp), w->rifc, &f)
			      : msh_icmp_echo_reply_build(rte_pktmbuf_mtod(rp, uint8_t *),
							  rte_pktmbuf_tailroom(rp), w->rifc, d, &f);
		if (len <= 0) {
			rte_pktmbuf_free(rp);
			return;
		}
		rte_pktmbuf_append(rp, (uint16_t)len);
		w->rpkt[w->rn++] = rp;
	}
}

/* Every turn: DATA the primary owes, ACKs the secondary owes. */
static void
repl_turn(struct worker *w)
{
	struct msh_worker *me = w->me;
	uint16_t room = (uint16_t)(w->app->repl.port.conf->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN);
	unsigned int frames = 0;

	for (unsigned int i = 0; i < me->n_owned; i++) {
		struct msh_app_shard *as = me->owned[i];
		struct msh_repl_shard *rs = as->repl;

		if (rs == NULL)
			continue;
		if (rs->role == MSH_REPL_PRIMARY) {
			struct msh_repl_tx tx;

			/* Held acks the last ACK covered but a full TX queue kept. */
			if (rs->pend_n > 0)
				release_repl_acks(w, as, false);

			while (frames < REPL_FRAMES_PER_TURN && w->rn < RTXQ_MAX &&
			       w->app->repl.peer_mac != 0 &&
			       msh_repl_tx_next(rs, w->now_ns, msh_repl_data_room(room), &tx) == 1) {
				struct msh_repl_hdr h;
				struct msh_repl_data dd;
				struct rte_mbuf *m;
				uint8_t *p = repl_alloc(w, &m, room);
				int len;

				if (p == NULL)
					break;
				msh_repl_node_hdr(&w->app->repl.node, MSH_REPL_T_DATA, w->now_ns, &h);
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
			msh_repl_node_hdr(&w->app->repl.node, MSH_REPL_T_ACK, w->now_ns, &a.hdr);
			a.shard = as->shard->conf.name;
			msh_repl_ack_fill(rs, &a);
			if (msh_repl_ack_build(p, MSH_REPL_ACK_LEN, &a) < 0) {
				rte_pktmbuf_free(m);
				continue;
			}
			repl_push(w, m, MSH_REPL_ACK_LEN, MSH_REPL_ACK_LEN);
		}
	}
	repl_flush(w);
}

/* Every millisecond: node timers (HELLO, failover), retransmission timers,
 * the peer's MAC and its liveness on the ingest network, lag snapshots. */
static void
repl_housekeeping(struct worker *w)
{
	struct msh_app *app = w->app;
	struct msh_app_repl *r = &app->repl;
	const struct msh_port_conf *pc = r->port.conf;
	uint64_t hello_tsc = pc->hello_interval_ns * (app->tsc_hz / 1000000) / 1000;
	uint64_t silence_tsc = pc->failover_silence_ns * (app->tsc_hz / 1000000) / 1000;
	uint32_t act = 0;

	if (r->peer_mac == 0 && w->tsc - r->last_arp_tsc > app->tsc_hz / 10) {
		send_arp_request(w, w->rport, w->rpool, w->rifc, pc->peer_ip, true);
		r->last_arp_tsc = w->tsc;
	}
	if (pc->peer_ingest_ip != 0) {
		/* The split-brain rule's input: does the peer answer ARP on the
		 * ingest network? Asked every hello interval. */
		if (w->tsc - r->last_probe_tsc >= hello_tsc) {
			send_arp_request(w, w->port, w->pool, w->ifc, pc->peer_ingest_ip, false);
			r->last_probe_tsc = w->tsc;
		}
		msh_repl_node_peer_ingest(&r->node, r->peer_ingest_tsc != 0 &&
							    w->tsc - r->peer_ingest_tsc < silence_tsc
						    ? MSH_REPL_INGEST_ALIVE
						    : MSH_REPL_INGEST_SILENT);
	}
	msh_repl_node_local_ingest(&r->node, true);
	msh_repl_node_tick(&r->node, w->now_ns, &act);
	repl_node_act(w, act);
	for (unsigned int i = 0; i < w->me->n_owned; i++) {
		struct msh_app_shard *as = w->me->owned[i];

		if (as->repl == NULL)
			continue;
		if (as->repl->role == MSH_REPL_PRIMARY)
			msh_repl_primary_tick(as->repl, w->now_ns);
		msh_repl_lag_get(as->repl, w->now_ns, &as->repl_lag);
	}
	repl_flush(w);
}

/* Commands from the control socket, on worker 0. */
int
msh_worker_repl_promote(struct msh_app *app, struct msh_worker *mw, void *arg, char *err,
			size_t errlen)
{
	struct worker *w = mw->fast;
	uint32_t act = 0;
	int rc = *(int *)arg ? msh_repl_node_promote(&app->repl.node, wall_ns(), &act)
			     : msh_repl_node_demote(&app->repl.node, wall_ns(), &act);

	if (rc == -EALREADY) {
		snprintf(err, errlen, "already %s", *(int *)arg ? "primary" : "secondary");
		return -1;
	}
	if (w != NULL) {
		w->now_ns = wall_ns();
		repl_node_act(w, act);
		repl_flush(w);
		tx_flush(w);
	}
	return 0;
}

/* PUBLISH to a shard with replicas = 2: only the primary appends; acks=1
 * answers at once, acks=all once the secondary holds the messages. */
static void
on_publish_replicated(struct worker *w, const struct msh_frame *f, const struct msh_hdr *h,
		      struct msh_app_shard *as, const struct msh_publish *p, bool want_ack)
{
	struct msh_pub_result r;
	struct msh_repl_pending pd;

	if (as->repl->role != MSH_REPL_PRIMARY) {
		as->repl_not_primary++;
		w->st->app_drop[MSH_APP_DROP_NOT_PRIMARY]++;
		if (want_ack)
			send_ack(w, f, &h->shard, MSH_S_NOT_PRIMARY, 0, p->publisher_id,
				 p->publisher_seq, 0);
		return;
	}
	msh_shard_publish(as->shard, p->publisher_id, p->publisher_seq, p->blocks, p->blocks_len,
			  p->hdr.count, w->now_ns, &r);
	if (r.appended > 0)
		msh_repl_note_publish(as->repl, r.first_seq, r.appended, p->publisher_id,
				      p->publisher_seq + (p->hdr.count - r.appended));
	if (!want_ack)
		return;
	if (as->shard->conf.acks != MSH_ACKS_ALL ||
	    (r.status != MSH_S_OK && r.status != MSH_S_DUPLICATE)) {
		send_ack(w, f, &h->shard, r.status, (uint16_t)r.appended, p->publisher_id,
			 p->publisher_seq, r.first_seq);
		return;
	}
	memset(&pd, 0, sizeof(pd));
	/* A DUPLICATE waits for everything so far: its first copy may not have
	 * reached the secondary yet. */
	pd.end_seq = r.status == MSH_S_OK ? r.first_seq + r.appended : as->shard->next_seq;
	pd.shard_seq = r.first_seq;
	pd.publisher_seq = p->publisher_seq;
	pd.publisher_id = p->publisher_id;
	pd.ip = f->src_ip;
	pd.port = f->src_port;
	pd.count = (uint16_t)r.appended;
	memcpy(pd.mac, f->src_mac, 6);
	pd.status = r.status;
	msh_repl_pending_push(as->repl, &pd); /* full: no ack, the publisher retries */
	release_repl_acks(w, as, false);       /* maybe held already (DUPLICATE) */
}

static void
on_publish(struct worker *w, const struct msh_frame *f, const struct msh_hdr *h,
	   struct msh_app_shard *as)
{
	bool want_ack = h->flags & MSH_PUB_F_ACK;
	struct msh_publish p;
	struct msh_pub_result r;
	int rc;

	w->st->publish++;
	if (unlikely(as == NULL || as->ended)) {
		w->st->app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		if (want_ack)
			send_ack_refused(w, f, h, MSH_S_UNKNOWN_SHARD);
		return;
	}
	rc = msh_publish_parse(f->payload, f->payload_len, as->shard->max_message, &p);
	if (unlikely(rc != 0)) {
		w->st->wire_drop[-rc]++;
		if (want_ack)
			send_ack_refused(w, f, h,
					 rc == -MSH_WIRE_E_TOO_LARGE ? MSH_S_TOO_LARGE : MSH_S_MALFORMED);
		return;
	}
	if (as->repl != NULL) {
		on_publish_replicated(w, f, h, as, &p, want_ack);
		return;
	}
	if (as->persistent) {
		on_publish_persistent(w, f, h, as, &p, want_ack);
		return;
	}
	msh_shard_publish(as->shard, p.publisher_id, p.publisher_seq, p.blocks, p.blocks_len,
			  p.hdr.count, w->now_ns, &r);
	if (want_ack)
		send_ack(w, f, &h->shard, r.status, (uint16_t)r.appended, p.publisher_id,
			 p.publisher_seq, r.first_seq);
}

static void
send_sub_reply(struct worker *w, const struct msh_frame *f, const struct msh_name *shard,
	       uint8_t status, const struct msh_app_shard *as, uint64_t token)
{
	const struct msh_shard *s = as ? as->shard : NULL;
	struct rte_mbuf *m;
	struct msh_sub_reply r;
	uint8_t *p = reply_alloc(w, &m, f, w->udp_port, MSH_SUB_REPLY_LEN);

	if (p == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.hdr.type = MSH_T_SUB_REPLY;
	r.hdr.flags = status;
	r.hdr.shard = *shard;
	r.epoch = w->app->epoch;
	r.first_seq = s ? msh_shard_first_seq(s) : 0;
	if (as != NULL && as->dir != NULL)
		r.first_seq = retained_first(as);
	r.next_seq = s ? s->next_seq : 0;
	r.token = token;
	msh_sub_reply_build(p, MSH_SUB_REPLY_LEN, &r);
	tx_push(w, m, NULL, 0, 0);
}

static void
send_unavailable(struct worker *w, const uint8_t *mac, uint32_t ip, uint16_t port,
		 uint16_t src_port, const struct msh_name *shard, uint64_t asked, uint64_t first)
{
	struct rte_mbuf *m;
	struct msh_unavailable u;
	uint8_t *p;

	if (w->tx.n >= TXQ_MAX)
		return;
	p = udp_alloc(w, &m, mac, ip, port, src_port, MSH_UNAVAILABLE_LEN);
	if (p == NULL)
		return;
	memset(&u, 0, sizeof(u));
	u.hdr.type = MSH_T_UNAVAILABLE;
	u.hdr.shard = *shard;
	u.asked_seq = asked;
	u.first_seq = first;
	msh_unavailable_build(p, MSH_UNAVAILABLE_LEN, &u);
	w->st->unavailable++;
	tx_push(w, m, NULL, 0, 0);
}

/* Where a new (or restarted) subscription starts, per PROTOCOL.md. Sets
 * *lost when the start was older than what is retained, so the caller can
 * send UNAVAILABLE after the SUB_REPLY that creates the subscription. */
static uint64_t
start_position(const struct msh_app_shard *as, uint64_t start, bool *lost)
{
	const struct msh_shard *s = as->shard;
	uint64_t first = retained_first(as);

	*lost = false;
	if (start == MSH_START_NEW)
		return s->next_seq;
	if (start == MSH_START_OLDEST)
		return first;
	if (start < first) {
		*lost = true;
		return first;
	}
	return start > s->next_seq ? s->next_seq : start;
}

static void
on_subscribe(struct worker *w, const struct msh_frame *f, struct msh_app_shard *as)
{
	const struct msh_appliance_conf *ac = &w->app->conf.app;
	struct msh_subscribe q;
	struct msh_sub *sub;
	uint64_t bucket, lease_ns, lease;
	bool lost = false;
	int rc = msh_subscribe_parse(f->payload, f->payload_len, &q);

	w->st->subscribe++;
	if (rc != 0) {
		w->st->wire_drop[-rc]++;
		return;
	}
	if (as == NULL || as->ended) {
		w->st->app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		send_sub_reply(w, f, &q.hdr.shard, MSH_S_UNKNOWN_SHARD, NULL, 0);
		return;
	}
	bucket = w->now_ns / MSH_TOKEN_PERIOD_NS;
	if (!msh_token_check(&w->app->token_key, f->src_ip, f->src_port, &q.hdr.shard, bucket,
			     q.token)) {
		if (q.token != 0)
			w->st->app_drop[MSH_APP_DROP_TOKEN_BAD]++;
		send_sub_reply(w, f, &q.hdr.shard, MSH_S_TOKEN_REQUIRED, as,
			       msh_token_make(&w->app->token_key, f->src_ip, f->src_port,
					      &q.hdr.shard, bucket));
		return;
	}
	lease_ns = q.lease_ms ? (uint64_t)q.lease_ms * 1000000ull : ac->lease_default_ns;
	if (lease_ns > ac->lease_max_ns)
		lease_ns = ac->lease_max_ns;
	lease = lease_ns * (w->app->tsc_hz / 1000000) / 1000;
	sub = msh_subs_find(&as->subs, f->src_ip, f->src_port);
	if (sub == NULL) {
		sub = msh_subs_add(&as->subs, f->src_ip, f->src_port, f->src_mac,
				   start_position(as, q.start_seq, &lost), w->tsc, lease);
		if (sub == NULL) {
			send_sub_reply(w, f, &q.hdr.shard, MSH_S_TOO_MANY_SUBSCRIBERS, as,
				       q.token);
			return;
		}
	} else {
		sub->lease_end = w->tsc + lease;
		memcpy(sub->mac, f->src_mac, 6);
		if (q.hdr.flags & MSH_SUB_F_RESTART)
			sub->next_seq = start_position(as, q.start_seq, &lost);
		else if (q.start_seq != MSH_START_NEW && q.start_seq != MSH_START_OLDEST)
			sub->reported_seq = q.start_seq; /* its position, for lag */
	}
	as->behind = true; /* a new or moved subscription may need history */
	send_sub_reply(w, f, &q.hdr.shard, MSH_S_OK, as, q.token);
	if (lost) {
		send_unavailable(w, f->src_mac, f->src_ip, f->src_port, w->udp_port, &q.hdr.shard,
				 q.start_seq, retained_first(as));
		sub->unavailable++;
	}
}

static void
on_unsubscribe(struct worker *w, const struct msh_frame *f, struct msh_app_shard *as)
{
	struct msh_hdr h;
	struct msh_sub *sub;
	int rc = msh_unsubscribe_parse(f->payload, f->payload_len, &h);

	w->st->unsubscribe++;
	if (rc != 0) {
		w->st->wire_drop[-rc]++;
		return;
	}
	if (as == NULL) {
		w->st->app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		return;
	}
	sub = msh_subs_find(&as->subs, f->src_ip, f->src_port);
	if (sub != NULL)
		msh_subs_del(&as->subs, sub);
}

/* One MoldUDP64 packet from @p seq to (mac, ip, port); returns messages in it
 * (0 if nothing to send or no buffer). */
static uint32_t
feed_packet(struct worker *w, const struct msh_app_shard *as, struct msh_sub *owner,
	    const uint8_t *mac, uint32_t ip, uint16_t port, uint16_t src_port, uint64_t seq,
	    uint32_t max_msgs)
{
	const struct msh_shard *s = as->shard;
	struct msh_span sp;
	struct rte_mbuf *m;
	uint8_t *p;
	int n = msh_shard_read(s, seq, RTE_MIN(max_msgs, 0xFFFEu),
			       w->feed_payload - MSH_MOLD_HDR_LEN, &sp);

	if (n <= 0)
		return 0;
	p = udp_alloc(w, &m, mac, ip, port, src_port, (uint16_t)(MSH_MOLD_HDR_LEN + sp.len));
	if (p == NULL)
		return 0;
	msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &s->conf.name, sp.first_seq, (uint16_t)n);
	rte_memcpy(p + MSH_MOLD_HDR_LEN, sp.data, sp.len);
	tx_push(w, m, owner, sp.first_seq, (uint16_t)n);
	return (uint32_t)n;
}

static void
on_retransmit(struct worker *w, const struct msh_frame *f, const struct msh_mold_req *req,
	      struct msh_app_shard *as)
{
	const struct msh_appliance_conf *ac = &w->app->conf.app;
	const struct msh_mold_req rq = *req;
	struct msh_sub *sub;
	uint64_t seq, end, first;
	uint32_t allowed;

	w->st->retrans_requests++;
	if (as == NULL) {
		w->st->app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		return;
	}
	/* Only addresses that proved themselves with a token get answers: the
	 * port cannot be used to reflect data at a third party. */
	sub = msh_subs_find_ip(&as->subs, f->src_ip);
	if (sub == NULL) {
		w->st->app_drop[MSH_APP_DROP_RETRANS_NOT_SUBSCRIBED]++;
		return;
	}
	sub->rerequests++;
	if (rq.count == 0 || rq.count == MSH_MOLD_END_OF_SESSION)
		return;
	first = msh_shard_first_seq(as->shard);
	if (rq.seq < first && !on_disk(as, rq.seq)) {
		send_unavailable(w, f->src_mac, f->src_ip, f->src_port, w->retrans_port,
				 &rq.session, rq.seq, next_servable(as, rq.seq));
		sub->unavailable++;
		return;
	}
	allowed = msh_sub_rt_take(sub, rq.count, w->tsc, w->app->tsc_hz, ac->retrans_rate);
	if (allowed < rq.count)
		w->st->app_drop[MSH_APP_DROP_RETRANS_RATE_LIMITED] += rq.count - allowed;
	if (rq.seq < first) {
		/* Older than memory: the spill thread reads it, the answer goes
		 * out when it comes back (spill_replies). */
		if (allowed > 0)
			msh_spill_read_req(w->app, as, rq.seq, RTE_MIN(rq.seq + allowed, first),
					   UINT32_MAX, f->src_mac, f->src_ip, f->src_port);
		return;
	}
	seq = rq.seq;
	end = RTE_MIN(rq.seq + allowed, as->shard->next_seq);
	while (seq < end && w->tx.n < TXQ_MAX) {
		uint32_t n = feed_packet(w, as, NULL, f->src_mac, f->src_ip, f->src_port,
					 w->retrans_port, seq, (uint32_t)(end - seq));

		if (n == 0)
			break;
		seq += n;
		sub->rerequest_msgs += n;
		w->st->retrans_pkts++;
		w->st->retrans_msgs += n;
	}
}

/* A UDP datagram to one of our ports, from the RX queue (@p m: it may be
 * handed to the shard's owner) or from the hand-off ring (@p m NULL).
 * @return true when @p m was handed over (the caller must not free it). */
static bool
on_udp(struct worker *w, const struct msh_frame *f, struct rte_mbuf *m)
{
	struct msh_app_shard *as;
	struct msh_hdr h;
	int rc;

	if (f->dst_port == w->retrans_port) {
		struct msh_mold_req rq;

		rc = msh_mold_req_parse(f->payload, f->payload_len, &rq);
		if (unlikely(rc != 0)) {
			w->st->retrans_requests++;
			w->st->wire_drop[-rc]++;
			return false;
		}
		as = shard_lookup(w, &rq.session);
		if (handoff(w, m, f, as))
			return true;
		on_retransmit(w, f, &rq, as);
		return false;
	}
	if (f->dst_port != w->udp_port) {
		w->st->net_drop[MSH_NET_DROP_UDP_PORT]++;
		return false;
	}
	rc = msh_hdr_parse(f->payload, f->payload_len, &h);
	if (unlikely(rc != 0)) {
		w->st->wire_drop[-rc]++;
		return false;
	}
	if (unlikely(h.type != MSH_T_PUBLISH && h.type != MSH_T_SUBSCRIBE &&
		     h.type != MSH_T_UNSUBSCRIBE)) {
		w->st->app_drop[MSH_APP_DROP_UNEXPECTED_TYPE]++;
		return false;
	}
	as = shard_lookup(w, &h.shard);
	if (handoff(w, m, f, as))
		return true;
	switch (h.type) {
	case MSH_T_PUBLISH:
		on_publish(w, f, &h, as);
		break;
	case MSH_T_SUBSCRIBE:
		on_subscribe(w, f, as);
		break;
	default:
		on_unsubscribe(w, f, as);
		break;
	}
	return false;
}

/* @return true when @p m was handed to another worker (not ours to free). */
static bool
on_frame(struct worker *w, struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct msh_frame f;
	struct rte_mbuf *r;
	uint8_t *p;
	int kind, len;

	w->st->rx_pkts++;
	w->st->rx_bytes += rte_pktmbuf_pkt_len(m);
	if (unlikely(m->nb_segs != 1)) {
		w->st->net_drop[MSH_NET_DROP_IP_BAD_HDR]++;
		return false;
	}
	kind = msh_frame_parse(d, rte_pktmbuf_data_len(m), w->ifc, &f);
	if (likely(kind == MSH_FRAME_UDP))
		return on_udp(w, &f, m);
	if (kind < 0) {
		w->st->net_drop[-kind]++;
		return false;
	}
	if (kind == MSH_FRAME_ARP && f.arp.op != MSH_ARP_OP_REQUEST) {
		/* We answer rather than ask (replies go to the requester's MAC),
		 * except the probe of the peer appliance's ingest address. */
		if (w->app->repl.on && f.arp.sender_ip == w->app->repl.port.conf->peer_ingest_ip)
			w->app->repl.peer_ingest_tsc = w->tsc;
		return false;
	}
	if (w->tx.n >= TXQ_MAX || (r = rte_pktmbuf_alloc(w->pool)) == NULL) {
		w->st->app_drop[MSH_APP_DROP_NO_MBUF]++;
		return false;
	}
	p = rte_pktmbuf_mtod(r, uint8_t *);
	if (kind == MSH_FRAME_ARP) {
		len = msh_arp_reply_build(p, rte_pktmbuf_tailroom(r), w->ifc, &f);
		w->st->arp_replies++;
	} else {
		len = msh_icmp_echo_reply_build(p, rte_pktmbuf_tailroom(r), w->ifc, d, &f);
		w->st->icmp_replies++;
	}
	if (len <= 0) {
		rte_pktmbuf_free(r);
		return false;
	}
	rte_pktmbuf_append(r, (uint16_t)len);
	w->tx.pkt[w->tx.n] = r;
	w->tx.sub[w->tx.n] = NULL;
	w->tx.bytes += (uint64_t)len;
	w->tx.n++;
	return false;
}

/* Send every subscriber of every shard what it has not had yet. */
static void
fan_out(struct worker *w)
{
	struct msh_worker *me = w->me;
	bool all = w->rolled_back;

	w->rolled_back = false;
	for (unsigned int i = 0; i < me->n_owned; i++) {
		struct msh_app_shard *as = me->owned[i];
		const struct msh_shard *s;
		bool behind = false;

		if (as == NULL || as->subs.n == 0)
			continue;
		s = as->shard;
		/* Nothing appended and nobody behind: nothing to walk. */
		if (!all && !as->behind && as->fed_seq == s->next_seq)
			continue;
		for (uint32_t k = 0; k < as->subs.max; k++) {
			struct msh_sub *sub = &as->subs.sub[k];

			if (!sub->used)
				continue;
			for (int pk = 0; pk < FEED_PKTS_PER_SUB && sub->next_seq < s->next_seq &&
					 w->tx.n < TXQ_MAX;
			     pk++) {
				uint64_t first = msh_shard_first_seq(s);
				uint32_t n;

				if (sub->next_seq < first) {
					if (sub->disk_wait)
						break; /* its read is under way */
					if (on_disk(as, sub->next_seq)) {
						/* Older than memory, on disk: the spill
						 * thread reads it (spill_replies sends). */
						if (msh_spill_read_req(w->app, as, sub->next_seq,
								       first, k, sub->mac, sub->ip,
								       sub->port) == 0)
							sub->disk_wait = true;
						break;
					}
					/* Retention passed it: say what it lost, once,
					 * and carry on from what is left. */
					send_unavailable(w, sub->mac, sub->ip, sub->port, w->udp_port,
							 &s->conf.name, sub->next_seq,
							 next_servable(as, sub->next_seq));
					sub->unavailable++;
					sub->next_seq = next_servable(as, sub->next_seq);
					continue;
				}
				n = feed_packet(w, as, sub, sub->mac, sub->ip, sub->port, w->udp_port,
						sub->next_seq, UINT32_MAX);
				if (n == 0)
					break;
				sub->next_seq += n;
				sub->sent_msgs += n;
				sub->sent_pkts++;
				sub->last_tx = w->tsc;
				w->st->feed_pkts++;
				w->st->feed_msgs += n;
			}
			behind |= sub->next_seq < s->next_seq;
		}
		as->behind = behind;
		as->fed_seq = s->next_seq;
	}
}

static void
heartbeat(struct worker *w, struct msh_app_shard *as, struct msh_sub *sub)
{
	struct rte_mbuf *m;
	uint8_t *p;

	if (w->tx.n >= TXQ_MAX)
		return;
	p = udp_alloc(w, &m, sub->mac, sub->ip, sub->port, w->udp_port, MSH_MOLD_HDR_LEN);
	if (p == NULL)
		return;
	msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, sub->next_seq,
			   MSH_MOLD_HEARTBEAT);
	tx_push(w, m, NULL, 0, 0);
	sub->heartbeats++;
	sub->last_tx = w->tsc;
	w->st->heartbeats++;
}

static void
housekeeping(struct worker *w)
{
	struct msh_app *app = w->app;
	uint64_t hb = app->conf.app.heartbeat_ns * (app->tsc_hz / 1000000) / 1000;

	for (unsigned int i = 0; i < w->me->n_owned; i++) {
		struct msh_app_shard *as = w->me->owned[i];

		if (as == NULL)
			continue;
		msh_shard_tick(as->shard, w->now_ns);
		if (as->dir != NULL)
			msh_spill_kick(app, as, w->tsc);
		w->st->subs_expired += msh_subs_expire(&as->subs, w->tsc);
		for (uint32_t k = 0; k < as->subs.max; k++) {
			struct msh_sub *sub = &as->subs.sub[k];

			if (sub->used && sub->next_seq >= as->shard->next_seq &&
			    w->tsc - sub->last_tx >= hb)
				heartbeat(w, as, sub);
		}
	}
}

void
msh_worker_end_session(struct msh_worker *mw, struct msh_app_shard *as)
{
	struct worker *w = mw->fast;

	if (w == NULL)
		return; /* not on the worker: nobody to tell */
	/* Every subscriber first gets what it has not had yet, then the end of
	 * session (MoldUDP64 count 0xFFFF at the next sequence number). */
	for (uint32_t k = 0; k < as->subs.max; k++) {
		struct msh_sub *sub = &as->subs.sub[k];
		struct rte_mbuf *m;
		uint8_t *p;

		if (!sub->used)
			continue;
		while (sub->next_seq < as->shard->next_seq) {
			uint32_t n;

			if (w->tx.n >= TXQ_MAX)
				tx_flush(w);
			n = feed_packet(w, as, NULL, sub->mac, sub->ip, sub->port, w->udp_port,
					sub->next_seq, UINT32_MAX);
			if (n == 0)
				break;
			sub->next_seq += n;
		}
		if (w->tx.n >= TXQ_MAX)
			tx_flush(w);
		p = udp_alloc(w, &m, sub->mac, sub->ip, sub->port, w->udp_port, MSH_MOLD_HDR_LEN);
		if (p == NULL)
			continue;
		msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, sub->next_seq,
				   MSH_MOLD_END_OF_SESSION);
		tx_push(w, m, NULL, 0, 0);
		msh_subs_del(&as->subs, sub);
	}
	tx_flush(w);
}

/* Send whole blocks of a spill read as MoldUDP64 packets from @p src_port to
 * (mac, ip, port); a subscriber's position follows (and rolls back with a
 * refused packet), a re-request's does not. @return messages queued. */
static uint32_t
send_blocks(struct worker *w, const struct msh_app_shard *as, struct msh_sub *sub,
	    const uint8_t *mac, uint32_t ip, uint16_t port, uint16_t src_port, uint64_t seq,
	    const uint8_t *data, uint32_t len)
{
	uint32_t room = w->feed_payload - MSH_MOLD_HDR_LEN, off = 0, sent = 0;

	while (off < len && w->tx.n < TXQ_MAX) {
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
		p = udp_alloc(w, &m, mac, ip, port, src_port,
			      (uint16_t)(MSH_MOLD_HDR_LEN + (off - start)));
		if (p == NULL)
			break;
		msh_mold_hdr_build(p, MSH_MOLD_HDR_LEN, &as->shard->conf.name, seq, (uint16_t)n);
		rte_memcpy(p + MSH_MOLD_HDR_LEN, data + start, off - start);
		tx_push(w, m, sub, seq, (uint16_t)n);
		seq += n;
		sent += n;
		if (sub != NULL) {
			sub->sent_pkts++;
			w->st->feed_pkts++;
		} else {
			w->st->retrans_pkts++;
		}
	}
	return sent;
}

/* A spill read is back: feed the subscriber (if it still waits for exactly
 * this) or answer the re-request. */
static void
disk_data(struct worker *w, struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	uint32_t n;

	if (as->ended)
		return;
	if (m->sub_idx == UINT32_MAX) {
		n = m->rc == 0 ? send_blocks(w, as, NULL, m->mac, m->ip, m->port, w->retrans_port,
					     m->first_seq, m->data, m->len)
			       : 0;
		as->spill.disk_retrans_msgs += n;
		w->st->retrans_msgs += n;
		{
			struct msh_sub *rs = msh_subs_find_ip(&as->subs, m->ip);

			if (rs != NULL)
				rs->rerequest_msgs += n;
		}
		return;
	}
	if (m->sub_idx < as->subs.max) {
		struct msh_sub *sub = &as->subs.sub[m->sub_idx];

		if (!sub->used || !sub->disk_wait || sub->ip != m->ip || sub->port != m->port)
			return; /* gone, or another subscriber in its slot */
		sub->disk_wait = false;
		as->behind = true;
		if (m->rc != 0 && sub->next_seq == m->seq) {
			uint64_t first = msh_shard_first_seq(as->shard);

			/* A file failed verification (reported, no longer served)
			 * or could not be read: the subscriber is told what it
			 * lost and goes on from memory rather than ask again. */
			send_unavailable(w, sub->mac, sub->ip, sub->port, w->udp_port,
					 &as->shard->conf.name, sub->next_seq, first);
			sub->unavailable++;
			sub->next_seq = RTE_MAX(sub->next_seq, first);
			return;
		}
		if (m->rc != 0 || sub->next_seq != m->first_seq)
			return; /* the position moved meanwhile: fan_out decides again */
		n = send_blocks(w, as, sub, sub->mac, sub->ip, sub->port, w->udp_port,
				m->first_seq, m->data, m->len);
		sub->next_seq += n;
		sub->sent_msgs += n;
		sub->disk_msgs += n;
		sub->last_tx = w->tsc;
		as->spill.disk_feed_msgs += n;
		w->st->feed_msgs += n;
	}
}

/* Answers of the spill thread for this worker's shards. */
static void
spill_replies(struct worker *w)
{
	void *objs[16];
	unsigned int n;

	if (w->me->spill_done == NULL)
		return;
	n = rte_ring_sc_dequeue_burst(w->me->spill_done, objs, RTE_DIM(objs), NULL);
	for (unsigned int i = 0; i < n; i++) {
		struct msh_spill_msg *m = objs[i];

		if (m->op == MSH_SPILL_OP_WRITE)
			msh_spill_written(w->app, m, w->tsc);
		else
			disk_data(w, m);
		msh_spill_msg_free(w->app, m);
	}
}

/* Persistent shards: what this turn appended goes to the spill thread, and
 * acks whose messages reached the disk go out. */
static inline void
persist_turn(struct worker *w)
{
	for (unsigned int i = 0; i < w->me->n_owned; i++) {
		struct msh_app_shard *as = w->me->owned[i];

		if (as->pend == NULL)
			continue;
		/* Held acks still go out after a switch back to memory. */
		msh_spill_journal_flush(w->app, as);
		if (as->pend_n > 0)
			release_acks(w, as);
	}
}

/* Packets other workers received for this worker's shards. */
static uint16_t
drain_handoffs(struct worker *w)
{
	struct rte_mbuf *ho[RX_BURST];
	unsigned int n = rte_ring_sc_dequeue_burst(w->me->handoff, (void **)ho, RX_BURST, NULL);

	if (n == 0)
		return 0;
	w->now_ns = wall_ns();
	w->st->handoff_in += n;
	for (unsigned int i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_mbuf_to_priv(ho[i + 1]));
		on_udp(w, rte_mbuf_to_priv(ho[i]), NULL);
		rte_pktmbuf_free(ho[i]);
	}
	return (uint16_t)n;
}

int
msh_worker_main(void *arg)
{
	struct msh_worker *me = arg;
	struct msh_app *app = me->app;
	struct worker *w;
	struct rte_mbuf *rx[RX_BURST];
	uint64_t hk_period, hk_next, idle = 0;
	bool backoff = app->conf.app.idle == MSH_IDLE_BACKOFF;
	bool has_rx = me->rx_queue >= 0;

	w = rte_zmalloc_socket("msh_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, rte_socket_id());
	if (w == NULL) {
		MSH_LOG(ERR, "worker %u: no memory for its state", me->idx);
		app->quit = true;
		return -1;
	}
	w->app = app;
	w->me = me;
	w->st = &app->stats[rte_lcore_id()];
	w->port = app->ingest.eth.port_id;
	w->queue = me->tx_queue;
	w->pool = app->ingest.eth.pool;
	w->ifc = &app->ingest.ifc;
	w->udp_port = app->ingest.conf->udp_port;
	w->retrans_port = app->ingest.conf->retrans_port;
	w->feed_payload = app->ingest.conf->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN;
	hk_period = app->tsc_hz / 1000000 * HOUSEKEEPING_US;
	hk_next = rte_rdtsc() + hk_period;
	if (app->repl.on && me->idx == 0) {
		w->repl = true;
		w->rport = app->repl.port.eth.port_id;
		w->rpool = app->repl.port.eth.pool;
		w->rifc = &app->repl.port.ifc;
	}
	me->fast = w;
	if (has_rx)
		MSH_LOG(INFO, "worker %u on lcore %u: RX queue %d, TX queue %u, %u shard%s (%s idle)",
			me->idx, rte_lcore_id(), me->rx_queue, w->queue, me->n_owned,
			me->n_owned == 1 ? "" : "s", backoff ? "back-off" : "spin");
	else
		MSH_LOG(INFO, "worker %u on lcore %u: hand-offs only, TX queue %u, %u shard%s "
			"(%s idle)", me->idx, rte_lcore_id(), w->queue, me->n_owned,
			me->n_owned == 1 ? "" : "s", backoff ? "back-off" : "spin");

	while (!app->quit) {
		uint16_t n = has_rx ? rte_eth_rx_burst(w->port, (uint16_t)me->rx_queue, rx, RX_BURST)
				    : 0;

		w->tsc = rte_rdtsc();
		if (n > 0) {
			w->now_ns = wall_ns();
			if (unlikely(w->st->rx_first_ns == 0))
				w->st->rx_first_ns = w->now_ns;
			w->st->rx_last_ns = w->now_ns;
			for (uint16_t i = 0; i < n; i++) {
				if (i + 1 < n)
					rte_prefetch0(rte_pktmbuf_mtod(rx[i + 1], void *));
				if (!on_frame(w, rx[i]))
					rte_pktmbuf_free(rx[i]);
			}
		}
		n += drain_handoffs(w);
		spill_replies(w);
		persist_turn(w);
		if (w->repl) {
			struct rte_mbuf *rr[RX_BURST];
			uint16_t k = rte_eth_rx_burst(w->rport, 0, rr, RX_BURST);

			if (k > 0) {
				w->now_ns = wall_ns();
				for (uint16_t i = 0; i < k; i++) {
					on_repl_frame(w, rr[i]);
					rte_pktmbuf_free(rr[i]);
				}
			}
			n += k;
			/* Acks first (acks=1 ones are due now, acks=all ones were
			 * just released), then what the secondary is owed: both
			 * are a system call on an af_packet port. */
			if (w->tx.n > 0)
				tx_flush(w);
			repl_turn(w);
		}
		if (unlikely(!rte_ring_empty(me->cmd_ring))) {
			tx_flush(w); /* a command may send (end of session): order */
			msh_worker_commands(app, me);
		}
		fan_out(w);
		if (unlikely(w->tsc >= hk_next)) {
			w->now_ns = wall_ns();
			housekeeping(w);
			if (w->repl)
				repl_housekeeping(w);
			hk_next = w->tsc + hk_period;
		}
		if (w->tx.n > 0 || n > 0) {
			tx_flush(w);
			idle = 0;
		} else if (backoff) {
			/* Spin, then pause, then sleep: lets a 2-core test host run
			 * two appliances and the clients. Never the default. */
			idle++;
			if (idle > 512)
				rte_delay_us_sleep(idle > 65536 ? 200 : 20);
			else if (idle > 64)
				rte_pause();
		}
	}
	for (unsigned int i = 0; i < me->n_owned; i++)
		msh_spill_journal_flush(app, me->owned[i]); /* synced before the thread stops */
	tx_flush(w);
	me->fast = NULL;
	rte_free(w);
	return 0;
}
