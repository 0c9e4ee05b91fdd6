/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A worker's TX queue on one port (txq.h).
 */
#include <string.h>

#include <rte_ethdev.h>

#include "txq.h"

void
msh_txq_init(struct msh_txq *q, uint16_t port, uint16_t queue, uint16_t cap,
	     struct rte_mempool *pool, const struct msh_iface *ifc)
{
	memset(q, 0, sizeof(*q));
	q->port = port;
	q->queue = queue;
	q->cap = cap < MSH_TXQ_MAX ? cap : MSH_TXQ_MAX;
	q->pool = pool;
	q->ifc = ifc;
}

uint8_t *
msh_txq_udp(struct msh_txq *q, struct rte_mbuf **mp, const uint8_t *dst_mac, uint32_t dst_ip,
	    uint16_t dst_port, uint16_t src_port, uint16_t len)
{
	struct rte_mbuf *m;
	struct msh_udp_flow fl;
	uint8_t *p;

	if (unlikely(msh_txq_full(q))) {
		q->st.full++;
		return NULL;
	}
	m = rte_pktmbuf_alloc(q->pool);
	if (unlikely(m == NULL)) {
		q->st.no_mbuf++;
		return NULL;
	}
	p = (uint8_t *)rte_pktmbuf_append(m, MSH_UDP_HDRS_LEN + len);
	memcpy(fl.src_mac, q->ifc->mac, 6);
	memcpy(fl.dst_mac, dst_mac, 6);
	fl.src_ip = q->ifc->ip;
	fl.dst_ip = dst_ip;
	fl.src_port = src_port;
	fl.dst_port = dst_port;
	fl.ttl = 0;
	if (unlikely(p == NULL ||
		     msh_udp_hdr_build(p, MSH_UDP_HDRS_LEN + (size_t)len, &fl, len) < 0)) {
		rte_pktmbuf_free(m);
		q->st.no_mbuf++;
		return NULL;
	}
	*mp = m;
	return p + MSH_UDP_HDRS_LEN;
}

void
msh_txq_udp_trim(struct msh_txq *q, struct rte_mbuf *m, uint16_t len, uint16_t room)
{
	uint8_t *p = rte_pktmbuf_mtod(m, uint8_t *);
	struct msh_udp_flow fl;

	if (len >= room)
		return;
	/* The UDP and IP lengths were written for room: rewrite them. */
	rte_pktmbuf_trim(m, (uint16_t)(room - len));
	memcpy(fl.dst_mac, p, 6);
	memcpy(fl.src_mac, p + 6, 6);
	fl.src_ip = q->ifc->ip;
	fl.dst_ip = msh_load_be32(p + MSH_ETH_HDR_LEN + 16);
	fl.src_port = msh_load_be16(p + MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN);
	fl.dst_port = msh_load_be16(p + MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN + 2);
	fl.ttl = 0;
	msh_udp_hdr_build(p, MSH_UDP_HDRS_LEN + (size_t)len, &fl, len);
}

void
msh_txq_push(struct msh_txq *q, struct rte_mbuf *m, struct msh_sub *sub, uint64_t first_seq,
	     uint16_t msgs)
{
	/* Checksum last: the payload is written by now. */
	msh_udp_csum_fill(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m));
	q->pkt[q->n] = m;
	q->sub[q->n] = sub;
	q->first_seq[q->n] = first_seq;
	q->msgs[q->n] = msgs;
	q->bytes += rte_pktmbuf_pkt_len(m);
	q->n++;
}

bool
msh_txq_push_raw(struct msh_txq *q, struct rte_mbuf *m)
{
	if (unlikely(msh_txq_full(q))) {
		q->st.full++;
		rte_pktmbuf_free(m);
		return false;
	}
	q->pkt[q->n] = m;
	q->sub[q->n] = NULL;
	q->bytes += rte_pktmbuf_pkt_len(m);
	q->n++;
	return true;
}

uint16_t
msh_txq_flush(struct msh_txq *q)
{
	uint16_t sent;

	if (q->n == 0)
		return 0;
	sent = rte_eth_tx_burst(q->port, q->queue, q->pkt, q->n);
	q->st.pkts += sent;
	for (uint16_t i = sent; i < q->n; i++) {
		struct msh_sub *s = q->sub[i];

		q->bytes -= rte_pktmbuf_pkt_len(q->pkt[i]);
		if (s != NULL) {
			if (q->first_seq[i] < s->next_seq)
				s->next_seq = q->first_seq[i];
			s->sent_msgs -= q->msgs[i];
			s->sent_pkts--;
			q->st.rollbacks++;
			q->rolled_back = true;
		} else {
			q->st.full++;
		}
		rte_pktmbuf_free(q->pkt[i]);
	}
	q->st.bytes += q->bytes;
	q->bytes = 0;
	q->n = 0;
	return sent;
}

bool
msh_txq_answer(struct msh_txq *q, int kind, const uint8_t *d, const struct msh_frame *f)
{
	struct rte_mbuf *r;
	uint8_t *p;
	int len;

	if (msh_txq_full(q)) {
		q->st.full++;
		return false;
	}
	r = rte_pktmbuf_alloc(q->pool);
	if (r == NULL) {
		q->st.no_mbuf++;
		return false;
	}
	p = rte_pktmbuf_mtod(r, uint8_t *);
	len = kind == MSH_FRAME_ARP
		      ? msh_arp_reply_build(p, rte_pktmbuf_tailroom(r), q->ifc, f)
		      : msh_icmp_echo_reply_build(p, rte_pktmbuf_tailroom(r), q->ifc, d, f);
	if (len <= 0) {
		rte_pktmbuf_free(r);
		return false;
	}
	rte_pktmbuf_append(r, (uint16_t)len);
	msh_txq_push_raw(q, r);
	return true;
}

void
msh_txq_arp_request(struct msh_txq *q, uint32_t ip)
{
	struct rte_mbuf *m;
	int len;

	if (msh_txq_full(q)) {
		q->st.full++;
		return;
	}
	m = rte_pktmbuf_alloc(q->pool);
	if (m == NULL) {
		q->st.no_mbuf++;
		return;
	}
	len = msh_arp_request_build(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_tailroom(m), q->ifc,
				    ip);
	if (len <= 0) {
		rte_pktmbuf_free(m);
		return;
	}
	rte_pktmbuf_append(m, (uint16_t)len);
	msh_txq_push_raw(q, m);
}
