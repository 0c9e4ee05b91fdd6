/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Publishes, subscriptions and re-requests on the shard's owner (ingest.h).
 */
#include <string.h>

#include "acks.h"
#include "feed.h"
#include "ingest.h"
#include "spill_client.h"

static inline void
reply_to(const struct msh_frame *f, struct msh_ack_to *to)
{
	memcpy(to->mac, f->src_mac, 6);
	to->ip = f->src_ip;
	to->port = f->src_port;
}

/* storage = persistent: append, gather the new messages for the journal,
 * and hold the ack until the spill thread has them on disk. A DUPLICATE is
 * held until everything appended so far is durable: the copy it duplicates
 * may still be on its way to disk. */
static void
publish_persistent(struct msh_worker *w, const struct msh_ack_to *to, struct msh_app_shard *as,
		   const struct msh_publish *p, bool want_ack)
{
	struct msh_pub_result r;

	if (unlikely(as->sp.journal_error != 0 ||
		     msh_spill_journal_room(&w->dp->spill, as, p->blocks_len) != 0 ||
		     (want_ack && !msh_ack_can_hold(as)))) {
		/* The disk cannot keep up (or failed): refuse before appending. */
		as->wk.persist.busy++;
		if (want_ack)
			msh_ack_send(w, to, &p->hdr.shard, MSH_S_SHARD_FULL, 0, p->publisher_id,
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
		msh_ack_send(w, to, &p->hdr.shard, r.status, (uint16_t)r.appended, p->publisher_id,
			     p->publisher_seq, r.first_seq);
		return;
	}
	msh_ack_hold(as, to, r.status == MSH_S_OK ? r.first_seq + r.appended : as->shard->next_seq,
		     r.status, (uint16_t)r.appended, p->publisher_id, p->publisher_seq, r.first_seq);
}

/* replicas = 2: only the primary appends; acks=1 answers at once, acks=all
 * once the secondary holds the messages. */
static void
publish_replicated(struct msh_worker *w, const struct msh_ack_to *to, struct msh_app_shard *as,
		   const struct msh_publish *p, bool want_ack)
{
	struct msh_pub_result r;
	struct msh_repl_pending pd;

	if (as->repl->role != MSH_REPL_PRIMARY) {
		as->wk.repl_not_primary++;
		w->st.app_drop[MSH_APP_DROP_NOT_PRIMARY]++;
		if (want_ack)
			msh_ack_send(w, to, &p->hdr.shard, MSH_S_NOT_PRIMARY, 0, p->publisher_id,
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
		msh_ack_send(w, to, &p->hdr.shard, r.status, (uint16_t)r.appended, p->publisher_id,
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
	pd.ip = to->ip;
	pd.port = to->port;
	pd.count = (uint16_t)r.appended;
	memcpy(pd.mac, to->mac, 6);
	pd.status = r.status;
	msh_repl_pending_push(as->repl, &pd); /* full: no ack, the publisher retries */
	msh_acks_release(w, as, false);       /* maybe held already (DUPLICATE) */
}

void
msh_ingest_publish(struct msh_worker *w, const struct msh_frame *f, const struct msh_hdr *h,
		   struct msh_app_shard *as)
{
	bool want_ack = h->flags & MSH_PUB_F_ACK;
	struct msh_ack_to to;
	struct msh_publish p;
	struct msh_pub_result r;
	int rc;

	w->st.publish++;
	reply_to(f, &to);
	if (unlikely(as == NULL || as->wk.ended)) {
		w->st.app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		if (want_ack)
			msh_ack_refused(w, &to, &h->shard, f->payload, f->payload_len,
					MSH_S_UNKNOWN_SHARD);
		return;
	}
	rc = msh_publish_parse(f->payload, f->payload_len, as->shard->max_message, &p);
	if (unlikely(rc != 0)) {
		w->st.wire_drop[-rc]++;
		if (want_ack)
			msh_ack_refused(w, &to, &h->shard, f->payload, f->payload_len,
					rc == -MSH_WIRE_E_TOO_LARGE ? MSH_S_TOO_LARGE
								    : MSH_S_MALFORMED);
		return;
	}
	if (as->repl != NULL) {
		publish_replicated(w, &to, as, &p, want_ack);
		return;
	}
	if (as->wk.persistent) {
		publish_persistent(w, &to, as, &p, want_ack);
		return;
	}
	msh_shard_publish(as->shard, p.publisher_id, p.publisher_seq, p.blocks, p.blocks_len,
			  p.hdr.count, w->now_ns, &r);
	if (want_ack)
		msh_ack_send(w, &to, &h->shard, r.status, (uint16_t)r.appended, p.publisher_id,
			     p.publisher_seq, r.first_seq);
}

static void
send_sub_reply(struct msh_worker *w, const struct msh_frame *f, const struct msh_name *shard,
	       uint8_t status, const struct msh_app_shard *as, uint64_t token)
{
	const struct msh_shard *s = as ? as->shard : NULL;
	struct rte_mbuf *m;
	struct msh_sub_reply r;
	uint8_t *p = msh_txq_udp(&w->tx, &m, f->src_mac, f->src_ip, f->src_port, w->udp_port,
				 MSH_SUB_REPLY_LEN);

	if (p == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.hdr.type = MSH_T_SUB_REPLY;
	r.hdr.flags = status;
	r.hdr.shard = *shard;
	r.epoch = w->dp->epoch;
	r.first_seq = as != NULL ? msh_spill_retained_first(as) : 0;
	r.next_seq = s ? s->next_seq : 0;
	r.token = token;
	msh_sub_reply_build(p, MSH_SUB_REPLY_LEN, &r);
	msh_txq_push(&w->tx, m, NULL, 0, 0);
}

/* Where a new (or restarted) subscription starts, per PROTOCOL.md. Sets
 * *lost when the start was older than what is retained, so the caller can
 * send UNAVAILABLE after the SUB_REPLY that creates the subscription. */
static uint64_t
start_position(const struct msh_app_shard *as, uint64_t start, bool *lost)
{
	const struct msh_shard *s = as->shard;
	uint64_t first = msh_spill_retained_first(as);

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

void
msh_ingest_subscribe(struct msh_worker *w, const struct msh_frame *f, struct msh_app_shard *as)
{
	const struct msh_appliance_conf *ac = &w->dp->conf->app;
	struct msh_subscribe q;
	struct msh_sub *sub;
	uint64_t bucket, lease_ns, lease;
	bool lost = false;
	int rc = msh_subscribe_parse(f->payload, f->payload_len, &q);

	w->st.subscribe++;
	if (rc != 0) {
		w->st.wire_drop[-rc]++;
		return;
	}
	if (as == NULL || as->wk.ended) {
		w->st.app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		send_sub_reply(w, f, &q.hdr.shard, MSH_S_UNKNOWN_SHARD, NULL, 0);
		return;
	}
	bucket = w->now_ns / MSH_TOKEN_PERIOD_NS;
	if (!msh_token_check(&w->dp->token_key, f->src_ip, f->src_port, &q.hdr.shard, bucket,
			     q.token)) {
		if (q.token != 0)
			w->st.app_drop[MSH_APP_DROP_TOKEN_BAD]++;
		send_sub_reply(w, f, &q.hdr.shard, MSH_S_TOKEN_REQUIRED, as,
			       msh_token_make(&w->dp->token_key, f->src_ip, f->src_port,
					      &q.hdr.shard, bucket));
		return;
	}
	lease_ns = q.lease_ms ? (uint64_t)q.lease_ms * 1000000ull : ac->lease_default_ns;
	if (lease_ns > ac->lease_max_ns)
		lease_ns = ac->lease_max_ns;
	lease = msh_ns_to_tsc(lease_ns, w->dp->tsc_hz);
	sub = msh_subs_find(&as->wk.subs, f->src_ip, f->src_port);
	if (sub == NULL) {
		sub = msh_subs_add(&as->wk.subs, f->src_ip, f->src_port, f->src_mac,
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
	as->wk.behind = true; /* a new or moved subscription may need history */
	send_sub_reply(w, f, &q.hdr.shard, MSH_S_OK, as, q.token);
	if (lost) {
		msh_feed_unavailable(w, f->src_mac, f->src_ip, f->src_port, w->udp_port,
				     &q.hdr.shard, q.start_seq, msh_spill_retained_first(as));
		sub->unavailable++;
	}
}

void
msh_ingest_unsubscribe(struct msh_worker *w, const struct msh_frame *f, struct msh_app_shard *as)
{
	struct msh_hdr h;
	struct msh_sub *sub;
	int rc = msh_unsubscribe_parse(f->payload, f->payload_len, &h);

	w->st.unsubscribe++;
	if (rc != 0) {
		w->st.wire_drop[-rc]++;
		return;
	}
	if (as == NULL) {
		w->st.app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		return;
	}
	sub = msh_subs_find(&as->wk.subs, f->src_ip, f->src_port);
	if (sub != NULL)
		msh_subs_del(&as->wk.subs, sub);
}

void
msh_ingest_retransmit(struct msh_worker *w, const struct msh_frame *f,
		      const struct msh_mold_req *req, struct msh_app_shard *as)
{
	const struct msh_appliance_conf *ac = &w->dp->conf->app;
	const struct msh_mold_req rq = *req;
	struct msh_sub *sub;
	uint64_t seq, end, first;
	uint32_t allowed;

	w->st.retrans_requests++;
	if (as == NULL) {
		w->st.app_drop[MSH_APP_DROP_UNKNOWN_SHARD]++;
		return;
	}
	/* Only addresses that proved themselves with a token get answers: the
	 * port cannot be used to reflect data at a third party. */
	sub = msh_subs_find_ip(&as->wk.subs, f->src_ip);
	if (sub == NULL) {
		w->st.app_drop[MSH_APP_DROP_RETRANS_NOT_SUBSCRIBED]++;
		return;
	}
	sub->rerequests++;
	if (rq.count == 0 || rq.count == MSH_MOLD_END_OF_SESSION)
		return;
	first = msh_shard_first_seq(as->shard);
	if (rq.seq < first && !msh_spill_on_disk(as, rq.seq)) {
		msh_feed_unavailable(w, f->src_mac, f->src_ip, f->src_port, w->retrans_port,
				     &rq.session, rq.seq, msh_spill_next_servable(as, rq.seq));
		sub->unavailable++;
		return;
	}
	allowed = msh_sub_rt_take(sub, rq.count, w->tsc, w->dp->tsc_hz, ac->retrans_rate);
	if (allowed < rq.count)
		w->st.app_drop[MSH_APP_DROP_RETRANS_RATE_LIMITED] += rq.count - allowed;
	if (rq.seq < first) {
		/* Older than memory: the spill thread reads it, the answer goes out
		 * when it comes back (msh_feed_disk_data). */
		if (allowed > 0)
			msh_spill_read_req(&w->dp->spill, as, rq.seq,
					   RTE_MIN(rq.seq + allowed, first), UINT32_MAX, f->src_mac,
					   f->src_ip, f->src_port);
		return;
	}
	seq = rq.seq;
	end = RTE_MIN(rq.seq + allowed, as->shard->next_seq);
	while (seq < end && !msh_txq_full(&w->tx)) {
		uint32_t n = msh_feed_packet(w, as, NULL, f->src_mac, f->src_ip, f->src_port,
					     w->retrans_port, seq, (uint32_t)(end - seq));

		if (n == 0)
			break;
		seq += n;
		sub->rerequest_msgs += n;
		w->st.retrans_pkts++;
		w->st.retrans_msgs += n;
	}
}
