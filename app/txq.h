/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * One TX queue of one worker on one port, for every port (ingest and
 * replication), as l3fwd's per-lcore TX buffer and send_burst: packets of one
 * turn are gathered and go out in one burst. A feed packet remembers its
 * subscriber and first sequence number: if the driver refuses it, the
 * subscriber rolls back to it, so a full queue delays a feed but never
 * punches a hole in it; a refused reply is dropped and counted (the client
 * retries). Also the one builder of ARP and ICMP answers and ARP requests.
 * Worker side: used by the queue's worker only.
 */
#ifndef MSH_APP_TXQ_H
#define MSH_APP_TXQ_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "net.h"
#include "sub.h"

#define MSH_TXQ_MAX 512

/** What a queue did (its worker writes, others read). */
struct msh_txq_stats {
	uint64_t pkts, bytes; /**< handed to the driver */
	uint64_t full;        /**< replies dropped: queue full or refused by the driver */
	uint64_t no_mbuf;     /**< packets not built: no mbuf */
	uint64_t rollbacks;   /**< feed packets refused: their subscriber rolled back */
};

struct msh_txq {
	uint16_t port, queue;
	uint16_t cap;          /**< packets per turn, at most MSH_TXQ_MAX */
	uint16_t n;
	bool rolled_back;      /**< a feed packet was refused since the flag was cleared */
	struct rte_mempool *pool;
	const struct msh_iface *ifc;
	uint64_t bytes;        /**< of the queued packets */
	struct msh_txq_stats st;
	struct rte_mbuf *pkt[MSH_TXQ_MAX];
	struct msh_sub *sub[MSH_TXQ_MAX]; /**< feed packets: whose position to roll back */
	uint64_t first_seq[MSH_TXQ_MAX];
	uint16_t msgs[MSH_TXQ_MAX];
};

/** Set up @p q for (port, queue) with mbufs from @p pool, sending as @p ifc. */
void msh_txq_init(struct msh_txq *q, uint16_t port, uint16_t queue, uint16_t cap,
		  struct rte_mempool *pool, const struct msh_iface *ifc);

static inline bool
msh_txq_full(const struct msh_txq *q)
{
	return q->n >= q->cap;
}

/**
 * A UDP frame from @p src_port to @p fl's destination (src fields filled from
 * the queue's interface) with room for @p len payload bytes. @return the
 * payload pointer, or NULL (counted in no_mbuf, or full when the queue is).
 */
uint8_t *msh_txq_udp(struct msh_txq *q, struct rte_mbuf **mp, const uint8_t *dst_mac,
		     uint32_t dst_ip, uint16_t dst_port, uint16_t src_port, uint16_t len);

/** Shorten a frame from msh_txq_udp() to @p len payload bytes (rewrites UDP and IP lengths). */
void msh_txq_udp_trim(struct msh_txq *q, struct rte_mbuf *m, uint16_t len, uint16_t room);

/**
 * Queue a built UDP frame (its checksum filled here, the payload being final);
 * @p sub non-NULL for a feed packet carrying @p msgs messages from @p first_seq.
 */
void msh_txq_push(struct msh_txq *q, struct rte_mbuf *m, struct msh_sub *sub,
		  uint64_t first_seq, uint16_t msgs);

/** Queue a frame as it is (ARP, ICMP, IGMP). @return false when the queue was
 *  full (the mbuf is freed and counted in full). */
bool msh_txq_push_raw(struct msh_txq *q, struct rte_mbuf *m);

/** Send everything queued in one burst. @return packets the driver took. */
uint16_t msh_txq_flush(struct msh_txq *q);

/**
 * Answer an ARP request or ICMP echo (@p kind from msh_frame_parse of @p d)
 * to the interface's address. @return true when an answer was queued.
 */
bool msh_txq_answer(struct msh_txq *q, int kind, const uint8_t *d, const struct msh_frame *f);

/** Queue an ARP request for @p ip from the queue's interface. */
void msh_txq_arp_request(struct msh_txq *q, uint32_t ip);

#endif /* MSH_APP_TXQ_H */
