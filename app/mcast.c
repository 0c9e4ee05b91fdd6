/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Multicast feeds in (mcast.h): routing of line datagrams, arbitration into
 * the shard, re-requests, raw capture, and the IGMP host side of each port.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_random.h>

#include "clock.h"
#include "igmp.h"
#include "mcast.h"
#include "spill_client.h"

/* RFC 3376 §8: Robustness Variable 2, Query Interval 125 s, Query Response
 * Interval 10 s, Unsolicited Report Interval 1 s; Older Version Querier
 * Present Timeout = RV * QI + QRI. */
#define IGMP_UNSOLICITED_MS 1000
#define IGMP_OLDER_QUERIER_S 260
#define IGMP_MAX_RECORDS MSH_MCAST_MAX_ROUTES
#define RR_RETRIES 3
#define RR_ARP_MS 100
#define SKEW_SLOTS 4096

/* format = raw, capture_header = on: in front of each datagram (docs/FEEDS.md). */
#define RAW_HDR_LEN 24
#define RAW_HDR_VERSION 1

size_t
msh_mcast_arb_conf(const struct msh_feed_conf *fc, uint32_t mtu, struct msh_arb_conf *ac)
{
	memset(ac, 0, sizeof(*ac));
	if (fc->format != MSH_FEED_MOLDUDP64)
		return 0;
	/* A re-request gets rerequest_timeout more before the gap is given up. */
	ac->gap_timeout_ns = fc->gap_timeout_ns + (fc->rerequest_ip != 0 ? fc->rerequest_timeout_ns
									   : 0);
	ac->max_jump = fc->max_jump;
	ac->hold_pkts = fc->hold_packets;
	ac->max_packet = mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN - MSH_MOLD_HDR_LEN;
	ac->skew_slots = SKEW_SLOTS;
	return msh_arb_footprint(ac);
}

static inline uint64_t
ms_to_tsc(const struct msh_worker *w, uint64_t ms)
{
	return w->dp->tsc_hz / 1000 * ms;
}

/* ---- marks and the shard ---- */

static void
mark_at(struct msh_app_feed *fd, uint64_t shard_seq, uint32_t kind,
	const struct msh_name *session, uint64_t up_seq, uint64_t count, uint64_t ns)
{
	uint64_t k = fd->wk.marks_n;
	struct msh_feed_mark *mk = &fd->wk.marks[k % MSH_FEED_MARKS];

	mk->shard_seq = shard_seq;
	mk->up_seq = up_seq;
	mk->up_count = count;
	mk->ns = ns;
	mk->kind = kind;
	if (session != NULL)
		mk->session = *session;
	else
		memset(&mk->session, ' ', sizeof(mk->session));
	__atomic_store_n(&fd->wk.marks_n, k + 1, __ATOMIC_RELEASE);
}

/* A mark where the shard is now. */
static void
mark(struct msh_app_feed *fd, uint32_t kind, const struct msh_name *session, uint64_t up_seq,
     uint64_t count, uint64_t ns)
{
	mark_at(fd, fd->as->shard->next_seq, kind, session, up_seq, count, ns);
}

struct emit_ctx {
	struct msh_worker *w;
	struct msh_app_feed *fd;
	/* A packet of a new session: where the shard was when its first
	 * message came (the old session's held messages go before it). */
	const struct msh_name *old_session;
	uint64_t session_at;
};

/* Append @p count validated blocks, all or nothing; refusals are counted and
 * marked (the feed goes on). @return 0 or -1. */
static int
append(struct msh_worker *w, struct msh_app_feed *fd, const uint8_t *blocks, uint32_t len,
       uint32_t count, uint64_t rx_ns, uint64_t up_seq)
{
	struct msh_app_shard *as = fd->as;
	uint64_t first;

	if (unlikely(as->wk.persistent &&
		     (as->sp.journal_error != 0 ||
		      msh_spill_journal_room(&w->dp->spill, as, len) != 0))) {
		fd->wk.st.shard_full++;
		goto refused;
	}
	if (unlikely(msh_shard_append(as->shard, blocks, len, count, rx_ns, &first) != 0)) {
		fd->wk.st.shard_full++;
		goto refused;
	}
	if (as->wk.persistent)
		msh_spill_journal_add(as, first, count);
	fd->wk.st.appended_msgs += count;
	return 0;
refused:
	fd->wk.st.refused_msgs += count;
	mark(fd, MSH_MARK_REFUSED, fd->arb ? &fd->arb->session : NULL, up_seq, count, w->now_ns);
	return -1;
}

static int
emit(void *arg, uint64_t seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct emit_ctx *e = arg;
	struct msh_app_feed *fd = e->fd;
	uint32_t longest = 0;

	if (e->old_session != NULL && e->session_at == 0 &&
	    !msh_name_eq(&fd->arb->session, e->old_session))
		e->session_at = fd->as->shard->next_seq;
	msh_blocks_check(blocks, len, count, &longest);
	if (unlikely(longest > fd->as->shard->max_message)) {
		fd->wk.st.too_large++;
		fd->wk.st.refused_msgs += count;
		mark(fd, MSH_MARK_REFUSED, &fd->arb->session, seq, count, e->w->now_ns);
		return -1;
	}
	return append(e->w, fd, blocks, len, count, fd->arb->emit_rx_ns, seq);
}

static void
on_lost(void *arg, const struct msh_arb_gap *g)
{
	struct emit_ctx *e = arg;

	e->fd->wk.st.gaps_reported++;
	mark(e->fd, MSH_MARK_GAP, &e->fd->arb->session, g->first, g->count, e->w->now_ns);
}

/* ---- routing ---- */

const struct msh_mcast_route *
msh_mcast_route(struct msh_worker *w, unsigned int slot, const struct msh_frame *f)
{
	bool group_known = false;

	for (unsigned int i = 0; i < w->n_routes; i++) {
		const struct msh_mcast_route *r = &w->routes[i];

		if (r->group != f->dst_ip || r->slot != slot)
			continue;
		group_known = true;
		if (r->udp_port != f->dst_port)
			continue;
		if (unlikely(r->source != 0 && r->source != f->src_ip)) {
			w->st.app_drop[MSH_APP_DROP_MCAST_SOURCE]++;
			return NULL;
		}
		return r;
	}
	w->st.app_drop[group_known ? MSH_APP_DROP_MCAST_PORT : MSH_APP_DROP_MCAST_NOT_JOINED]++;
	return NULL;
}

/* format = raw: the datagram is one message, after the capture header. */
static void
raw_rx(struct msh_worker *w, struct msh_app_feed *fd, unsigned int line, const struct msh_frame *f)
{
	uint8_t buf[MSH_BLOCK_HDR_LEN + RAW_HDR_LEN + 9216];
	uint32_t hdr = fd->conf.capture_header ? RAW_HDR_LEN : 0;
	uint32_t len = hdr + f->payload_len;
	uint8_t *p = buf + MSH_BLOCK_HDR_LEN;

	if (unlikely(len > fd->as->shard->max_message || len + MSH_BLOCK_HDR_LEN > sizeof(buf))) {
		fd->wk.st.too_large++;
		fd->wk.st.refused_msgs++;
		mark(fd, MSH_MARK_REFUSED, NULL, 0, 1, w->now_ns);
		return;
	}
	msh_store_be16(buf, (uint16_t)len);
	if (hdr != 0) {
		msh_store_be64(p, w->now_ns);
		msh_store_be32(p + 8, f->src_ip);
		msh_store_be16(p + 12, f->src_port);
		msh_store_be16(p + 14, f->dst_port);
		msh_store_be32(p + 16, f->dst_ip);
		p[20] = (uint8_t)line;
		p[21] = RAW_HDR_VERSION;
		p[22] = 0;
		p[23] = 0;
	}
	memcpy(p + hdr, f->payload, f->payload_len);
	if (append(w, fd, buf, MSH_BLOCK_HDR_LEN + len, 1, w->now_ns, 0) == 0)
		fd->wk.st.raw_msgs++;
}

void
msh_mcast_line_rx(struct msh_worker *w, const struct msh_mcast_route *r, const struct msh_frame *f)
{
	struct msh_app_feed *fd = r->feed;
	struct emit_ctx e = { w, fd, NULL, 0 };
	struct msh_name old;
	enum msh_arb_verdict v;
	struct msh_mold m;
	uint64_t before;
	bool started;
	int rc;

	if (unlikely(fd->wk.ended))
		return;
	fd->wk.st.line_pkts[r->line]++;
	fd->wk.last_rx_ns = w->now_ns;
	if (fd->arb == NULL) {
		raw_rx(w, fd, r->line, f);
		return;
	}
	rc = msh_mold_parse(f->payload, f->payload_len, &m);
	if (unlikely(rc != 0)) {
		fd->wk.st.line_bad[r->line]++;
		w->st.wire_drop[-rc]++;
		return;
	}
	started = fd->arb->started;
	before = fd->as->shard->next_seq;
	old = fd->arb->session;
	e.old_session = &old;
	v = msh_arb_rx(fd->arb, r->line, &m, w->now_ns, emit, &e);
	/* The first session adopted, or a new one (start of day, maybe with
	 * a heartbeat or an end): it starts after what the old one held. */
	if (!started && fd->arb->started)
		mark_at(fd, before, MSH_MARK_SESSION, &m.session, m.seq, 0, w->now_ns);
	else if (started && !msh_name_eq(&old, &fd->arb->session))
		mark_at(fd, e.session_at ? e.session_at : fd->as->shard->next_seq,
			MSH_MARK_SESSION, &m.session, m.seq, 0, w->now_ns);
	if (v == MSH_ARB_END)
		mark(fd, MSH_MARK_END, &m.session, m.seq, 0, w->now_ns);
}

/* ---- re-requests ---- */

const struct msh_mcast_route *
msh_mcast_rr_route(struct msh_worker *w, unsigned int slot, const struct msh_frame *f)
{
	for (unsigned int i = 0; i < w->n_routes; i++) {
		const struct msh_mcast_route *r = &w->routes[i];
		const struct msh_app_feed *fd = r->feed;

		if (r->line == 0 && r->slot == slot && fd->conf.rerequest_ip == f->src_ip &&
		    fd->rr_src_port == f->dst_port && fd->conf.rerequest_ip != 0)
			return r;
	}
	return NULL;
}

void
msh_mcast_rr_answer(struct msh_worker *w, const struct msh_mcast_route *r,
		    const struct msh_frame *f)
{
	struct msh_app_feed *fd = r->feed;
	struct emit_ctx e = { w, fd, NULL, 0 };
	uint64_t before;
	struct msh_mold m;

	if (unlikely(fd->wk.ended || fd->arb == NULL))
		return;
	fd->wk.st.rerequest_answers++;
	memcpy(fd->wk.rr_mac, f->src_mac, 6);
	fd->wk.rr_mac_known = true;
	if (msh_mold_parse(f->payload, f->payload_len, &m) != 0) {
		fd->wk.st.rerequest_bad++;
		return;
	}
	before = fd->arb->stats.fill_msgs;
	if (msh_arb_fill(fd->arb, &m, w->now_ns, emit, &e) == MSH_ARB_DROPPED)
		fd->wk.st.rerequest_bad++;
	fd->wk.st.rerequest_msgs += fd->arb->stats.fill_msgs - before;
}

int
msh_mcast_arp_owner(const struct msh_worker *w, unsigned int slot, const struct msh_frame *f)
{
	for (unsigned int i = 0; i < w->n_routes; i++) {
		const struct msh_app_feed *fd = w->routes[i].feed;

		if (w->routes[i].line == 0 && fd->slot[0] == slot && fd->conf.rerequest_ip != 0 &&
		    fd->conf.rerequest_ip == f->arp.sender_ip)
			return (int)fd->worker;
	}
	return -1;
}

void
msh_mcast_arp_learn(struct msh_worker *w, unsigned int slot, const struct msh_frame *f)
{
	for (unsigned int i = 0; i < w->n_feeds; i++) {
		struct msh_app_feed *fd = w->feeds[i];

		if (fd->conf.rerequest_ip == f->arp.sender_ip && fd->slot[0] == slot)
		{
			memcpy(fd->wk.rr_mac, f->arp.sender_mac, 6);
			fd->wk.rr_mac_known = true;
		}
	}
}

/* Token bucket of rerequest_rate requests a second, a tenth of a second deep. */
static bool
rr_take(struct msh_app_feed *fd, uint64_t now_ns)
{
	uint64_t per = 1000000000ull / fd->conf.rerequest_rate, cap = 100000000ull;

	if (cap < per)
		cap = per;
	if (fd->wk.rr_fill_ns == 0 || now_ns < fd->wk.rr_fill_ns)
		fd->wk.rr_tokens_ns = cap;
	else
		fd->wk.rr_tokens_ns += now_ns - fd->wk.rr_fill_ns;
	if (fd->wk.rr_tokens_ns > cap)
		fd->wk.rr_tokens_ns = cap;
	fd->wk.rr_fill_ns = now_ns;
	if (fd->wk.rr_tokens_ns < per)
		return false;
	fd->wk.rr_tokens_ns -= per;
	return true;
}

static void
rr_send(struct msh_worker *w, struct msh_app_feed *fd, const struct msh_arb_gap *g)
{
	struct msh_txq *q = msh_worker_txq(w, fd->slot[0]);
	struct msh_mold_req rq;
	struct rte_mbuf *m;
	uint8_t *p;

	if (!fd->wk.rr_mac_known) {
		if (!fd->wk.rr_skip_counted)
			fd->wk.st.rerequest_no_mac++;
		fd->wk.rr_skip_counted = true;
		if (w->tsc - fd->wk.rr_arp_tsc >= ms_to_tsc(w, RR_ARP_MS)) {
			fd->wk.rr_arp_tsc = w->tsc;
			msh_txq_arp_request(q, fd->conf.rerequest_ip);
		}
		return;
	}
	if (!rr_take(fd, w->now_ns)) {
		if (!fd->wk.rr_skip_counted)
			fd->wk.st.rerequest_limited++;
		fd->wk.rr_skip_counted = true;
		return;
	}
	p = msh_txq_udp(q, &m, fd->wk.rr_mac, fd->conf.rerequest_ip, fd->conf.rerequest_port,
			fd->rr_src_port, MSH_MOLD_REQ_LEN);
	if (p == NULL)
		return;
	rq.session = fd->arb->session;
	rq.seq = g->first;
	rq.count = (uint16_t)RTE_MIN(g->count, (uint64_t)(MSH_MOLD_END_OF_SESSION - 1));
	msh_mold_req_build(p, MSH_MOLD_REQ_LEN, &rq);
	msh_txq_push(q, m, NULL, 0, 0);
	fd->wk.st.rerequests++;
	fd->wk.rr_tries++;
	fd->wk.rr_skip_counted = false;
	fd->wk.rr_asked_ns = w->now_ns;
}

/* A gap open for gap_timeout is asked for, at most RR_RETRIES times spread
 * over rerequest_timeout; lib/arb gives it up after both. */
static void
rr_turn(struct msh_worker *w, struct msh_app_feed *fd)
{
	struct msh_arb_gap g;

	if (!msh_arb_open_gap(fd->arb, &g) || w->now_ns < g.since_ns ||
	    w->now_ns - g.since_ns < fd->gap_timeout_ns)
		return;
	if (fd->wk.rr_first != g.first || fd->wk.rr_since_ns != g.since_ns) {
		fd->wk.rr_first = g.first;
		fd->wk.rr_since_ns = g.since_ns;
		fd->wk.rr_tries = 0;
		fd->wk.rr_skip_counted = false;
	}
	if (fd->wk.rr_tries == 0 ||
	    (fd->wk.rr_tries < RR_RETRIES &&
	     w->now_ns - fd->wk.rr_asked_ns >= fd->conf.rerequest_timeout_ns / RR_RETRIES))
		rr_send(w, fd, &g);
}

/* ---- IGMP ---- */

static bool
v2_mode(const struct msh_worker *w, unsigned int slot)
{
	uint64_t until = w->dp->igmp_v2_until[slot];

	return until != 0 && (int64_t)(until - rte_rdtsc()) > 0;
}

/* The first route of (slot, group) in the table: one membership per group. */
static bool
first_of_group(const struct msh_worker *w, unsigned int k)
{
	for (unsigned int i = 0; i < k; i++)
		if (w->routes[i].slot == w->routes[k].slot && w->routes[i].group == w->routes[k].group)
			return false;
	return true;
}

/* @return false when nothing could be queued (queue full, no mbuf): the
 * caller's timer stays pending and tries again next turn. */
static bool
igmp_send(struct msh_worker *w, unsigned int slot, const struct msh_igmp_record *recs,
	  uint16_t n)
{
	struct msh_txq *q = msh_worker_txq(w, slot);
	struct msh_igmp_port *ip = &w->igmp[slot];
	struct rte_mbuf *m;
	int len;

	if (n == 0)
		return true;
	if (q->n + (v2_mode(w, slot) ? n : 1u) > q->cap) {
		q->st.full++;
		return false;
	}
	if (v2_mode(w, slot)) {
		/* v2 has no sources and one group a message. */
		for (uint16_t i = 0; i < n; i++) {
			bool leave = recs[i].type == MSH_IGMP_CHANGE_TO_INCLUDE ||
				     recs[i].type == MSH_IGMP_BLOCK_OLD_SOURCES;

			m = rte_pktmbuf_alloc(q->pool);
			if (m == NULL) {
				q->st.no_mbuf++;
				return i > 0;
			}
			len = (leave ? msh_igmp_v2_leave_build : msh_igmp_v2_report_build)(
				rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), q->ifc->mac,
				q->ifc->ip, recs[i].group);
			if (len < 0 || rte_pktmbuf_append(m, (uint16_t)len) == NULL) {
				rte_pktmbuf_free(m);
				continue;
			}
			if (!msh_txq_push_raw(q, m))
				return i > 0;
			if (leave)
				ip->leaves++;
			else
				ip->v2_reports++;
		}
		return true;
	}
	m = rte_pktmbuf_alloc(q->pool);
	if (m == NULL) {
		q->st.no_mbuf++;
		return false;
	}
	len = msh_igmp_v3_report_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m),
				       q->ifc->mac, q->ifc->ip, recs, n);
	if (len < 0 || rte_pktmbuf_append(m, (uint16_t)len) == NULL) {
		rte_pktmbuf_free(m);
		return true; /* cannot be built: never will be */
	}
	if (!msh_txq_push_raw(q, m))
		return false;
	ip->reports++;
	return true;
}

/* The record of route @p k: a state (answer to a query), a join or a leave. */
enum rec_what { REC_STATE, REC_JOIN, REC_LEAVE };

static void
record_of(const struct msh_mcast_route *r, enum rec_what what, struct msh_igmp_record *rec)
{
	bool ssm = r->source != 0;

	rec->group = r->group;
	rec->n_src = ssm ? 1 : 0;
	rec->src = ssm ? &r->source : NULL;
	switch (what) {
	case REC_STATE:
		rec->type = ssm ? MSH_IGMP_MODE_IS_INCLUDE : MSH_IGMP_MODE_IS_EXCLUDE;
		break;
	case REC_JOIN:
		rec->type = ssm ? MSH_IGMP_ALLOW_NEW_SOURCES : MSH_IGMP_CHANGE_TO_EXCLUDE;
		break;
	case REC_LEAVE:
		rec->type = ssm ? MSH_IGMP_BLOCK_OLD_SOURCES : MSH_IGMP_CHANGE_TO_INCLUDE;
		break;
	}
}

/* Every membership of @p slot in one report (a general query's answer). */
static bool
igmp_report_all(struct msh_worker *w, unsigned int slot)
{
	struct msh_igmp_record recs[IGMP_MAX_RECORDS];
	uint16_t n = 0;

	for (unsigned int i = 0; i < w->n_routes; i++)
		if (w->routes[i].slot == slot && first_of_group(w, i))
			record_of(&w->routes[i], REC_STATE, &recs[n++]);
	return igmp_send(w, slot, recs, n);
}

static bool
igmp_report_one(struct msh_worker *w, const struct msh_mcast_route *r, enum rec_what what)
{
	struct msh_igmp_record rec;

	record_of(r, what, &rec);
	return igmp_send(w, r->slot, &rec, 1);
}

void
msh_mcast_igmp_rx(struct msh_worker *w, unsigned int slot, const uint8_t *d, uint32_t len)
{
	struct msh_igmp_port *ip = &w->igmp[slot];
	uint64_t max_resp;
	struct msh_igmp q;
	int kind = msh_igmp_frame_parse(d, len, &q);

	if (kind < 0) {
		ip->bad[-kind]++;
		return;
	}
	if (kind != MSH_IGMP_QUERY_V1 && kind != MSH_IGMP_QUERY_V2 && kind != MSH_IGMP_QUERY_V3) {
		ip->ignored++; /* other hosts' reports: v3 hosts do not suppress */
		return;
	}
	ip->queries++;
	if (kind != MSH_IGMP_QUERY_V3)
		w->dp->igmp_v2_until[slot] = w->tsc + ms_to_tsc(w, IGMP_OLDER_QUERIER_S * 1000ull);
	/* Max Resp Time is in tenths of a second; 0 (a v1 query's) means 10 s. */
	max_resp = ms_to_tsc(w, 100ull * (q.max_resp_ds ? q.max_resp_ds : 100));
	if (q.scope == MSH_IGMP_GENERAL) {
		ip->general_due_tsc = msh_igmp_timer_due(ip->general_pending, ip->general_due_tsc,
							 w->tsc, max_resp, rte_rand());
		ip->general_pending = true;
		return;
	}
	for (unsigned int i = 0; i < w->n_routes; i++) {
		struct msh_mcast_route *r = &w->routes[i];

		if (r->slot != slot || r->group != q.group || !first_of_group(w, i))
			continue;
		r->query_due_tsc = msh_igmp_timer_due(r->query_pending, r->query_due_tsc, w->tsc,
						      max_resp, rte_rand());
		r->query_pending = true;
	}
}

static void
igmp_turn(struct msh_worker *w)
{
	for (unsigned int s = 0; s < MSH_MAX_PORT_SLOTS; s++) {
		struct msh_igmp_port *ip = &w->igmp[s];

		if (ip->general_pending && (int64_t)(w->tsc - ip->general_due_tsc) >= 0) {
			if (!igmp_report_all(w, s))
				continue;
			ip->general_pending = false;
			/* The general answer covers every group of the port. */
			for (unsigned int i = 0; i < w->n_routes; i++)
				if (w->routes[i].slot == s)
					w->routes[i].query_pending = false;
		}
	}
	for (unsigned int i = 0; i < w->n_routes; i++) {
		struct msh_mcast_route *r = &w->routes[i];

		if (r->query_pending && (int64_t)(w->tsc - r->query_due_tsc) >= 0 &&
		    igmp_report_one(w, r, REC_STATE))
			r->query_pending = false;
		if (r->unsolicited_left > 0 && (int64_t)(w->tsc - r->unsolicited_tsc) >= 0 &&
		    igmp_report_one(w, r, REC_JOIN)) {
			r->unsolicited_left--;
			r->unsolicited_tsc = w->tsc + msh_igmp_resp_delay(
				ms_to_tsc(w, IGMP_UNSOLICITED_MS), rte_rand());
		}
	}
}

/* ---- timers ---- */

void
msh_mcast_turn(struct msh_worker *w)
{
	bool fresh = false;

	if (w->n_routes == 0)
		return;
	igmp_turn(w);
	for (unsigned int i = 0; i < w->n_feeds; i++) {
		struct msh_app_feed *fd = w->feeds[i];
		struct emit_ctx e = { w, fd, NULL, 0 };

		if (fd->arb == NULL || !fd->arb->gap_open)
			continue;
		if (!fresh) {
			w->now_ns = msh_wall_ns(); /* gaps wait in wall-clock ns */
			fresh = true;
		}
		if (fd->conf.rerequest_ip != 0)
			rr_turn(w, fd);
		msh_arb_tick(fd->arb, w->now_ns, emit, &e, NULL);
	}
}

/* ---- commands ---- */

int
msh_mcast_feed_add(struct msh_worker *w, struct msh_app_feed *fd, char *err, size_t errlen)
{
	unsigned int first = w->n_routes;

	if (w->n_routes + fd->n_lines > MSH_MCAST_MAX_ROUTES) {
		snprintf(err, errlen, "worker %u routes %u lines already, the most", w->idx,
			 w->n_routes);
		return -1;
	}
	if (fd->worker == w->idx && w->n_feeds == MSH_CONF_MAX_FEEDS) {
		snprintf(err, errlen, "worker %u owns %u feeds already, the most", w->idx,
			 w->n_feeds);
		return -1;
	}
	for (unsigned int l = 0; l < fd->n_lines; l++) {
		struct msh_mcast_route *r = &w->routes[w->n_routes++];

		memset(r, 0, sizeof(*r));
		r->group = fd->conf.line[l].group;
		r->udp_port = fd->conf.line[l].port;
		r->source = fd->conf.source;
		r->slot = fd->slot[l];
		r->line = (uint8_t)l;
		r->feed = fd;
	}
	if (fd->worker != w->idx)
		return 0;
	w->feeds[w->n_feeds++] = fd;
	if (fd->arb != NULL)
		msh_arb_set_lost_hook(fd->arb, on_lost);
	/* Join now, and once more within the Unsolicited Report Interval. */
	for (unsigned int i = first; i < w->n_routes; i++) {
		struct msh_mcast_route *r = &w->routes[i];

		igmp_report_one(w, r, REC_JOIN);
		r->unsolicited_left = 1;
		r->unsolicited_tsc = rte_rdtsc() + msh_igmp_resp_delay(
			ms_to_tsc(w, IGMP_UNSOLICITED_MS), rte_rand());
	}
	return 0;
}

void
msh_mcast_feed_del(struct msh_worker *w, struct msh_app_feed *fd)
{
	struct msh_mcast_route gone[MSH_CONF_FEED_LINES];
	unsigned int n_gone = 0;

	for (unsigned int i = 0; i < w->n_routes;) {
		if (w->routes[i].feed != fd) {
			i++;
			continue;
		}
		gone[n_gone++] = w->routes[i];
		/* Keep the order: first_of_group() picks the oldest route. */
		memmove(&w->routes[i], &w->routes[i + 1],
			sizeof(w->routes[0]) * (w->n_routes - i - 1));
		w->n_routes--;
	}
	if (fd->worker != w->idx)
		return;
	if (fd->arb != NULL && !fd->wk.ended) {
		struct emit_ctx e = { w, fd, NULL, 0 };

		w->now_ns = msh_wall_ns();
		msh_arb_flush(fd->arb, w->now_ns, emit, &e);
	}
	fd->wk.ended = true;
	/* Leave the groups no other feed of the port still needs. */
	for (unsigned int k = 0; k < n_gone; k++) {
		bool shared = false;

		for (unsigned int i = 0; i < w->n_routes; i++)
			shared |= w->routes[i].slot == gone[k].slot &&
				  w->routes[i].group == gone[k].group;
		if (!shared)
			igmp_report_one(w, &gone[k], REC_LEAVE);
	}
	for (unsigned int i = 0; i < w->n_feeds; i++)
		if (w->feeds[i] == fd) {
			w->feeds[i] = w->feeds[--w->n_feeds];
			w->feeds[w->n_feeds] = NULL;
			break;
		}
}

void
msh_mcast_stop(struct msh_worker *w)
{
	w->now_ns = msh_wall_ns();
	for (unsigned int i = 0; i < w->n_feeds; i++) {
		struct msh_app_feed *fd = w->feeds[i];
		struct emit_ctx e = { w, fd, NULL, 0 };

		if (fd->arb != NULL)
			msh_arb_flush(fd->arb, w->now_ns, emit, &e);
	}
	for (unsigned int i = 0; i < w->n_routes; i++)
		if (w->routes[i].feed->worker == w->idx && first_of_group(w, i))
			igmp_report_one(w, &w->routes[i], REC_LEAVE);
}
