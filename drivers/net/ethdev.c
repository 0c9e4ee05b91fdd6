/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Port set-up on DPDK ethdev (see ethdev.h).
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "ethdev.h"

#define RX_DESC 1024
#define TX_DESC 1024
#define POOL_MBUFS 16383 /* 2^n - 1 is optimal for the ring behind the pool */
#define POOL_CACHE 256

int
msh_ethdev_open(const struct msh_port_conf *pc, uint16_t nb_rx, uint16_t nb_tx,
		uint16_t priv_size, struct msh_ethdev *p, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	char name[RTE_ETH_NAME_MAX_LEN], pool[RTE_MEMPOOL_NAMESIZE];
	const char *comma = strchr(pc->device, ',');
	uint32_t room, overhead, need, mbufs;
	size_t nlen = comma ? (size_t)(comma - pc->device) : strlen(pc->device);
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(name, sizeof(name), "%.*s", (int)nlen, pc->device);
	if (rte_eth_dev_get_port_by_name(name, &p->port_id) != 0) {
		snprintf(err, errlen, "[port %s] device: no DPDK port named '%s' (probe failed?)",
			 pc->name, name);
		return -1;
	}
	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc != 0) {
		snprintf(err, errlen, "[port %s]: device info: %s", pc->name, rte_strerror(-rc));
		return -1;
	}
	if (nb_rx > info.max_rx_queues || nb_tx > info.max_tx_queues) {
		snprintf(err, errlen, "[port %s]: needs %u RX queues (rx_queues) and %u TX queues "
			 "(one per worker), but %s has %u RX / %u TX (net_af_packet: add qpairs=N "
			 "to the device)", pc->name, nb_rx, nb_tx, name, info.max_rx_queues,
			 info.max_tx_queues);
		return -1;
	}
	/* net_af_packet spreads what it receives over all its qpairs (a
	 * PACKET_FANOUT group): a queue nobody polls would swallow packets. */
	if (strcmp(info.driver_name, "net_af_packet") == 0 && nb_rx != info.max_rx_queues) {
		snprintf(err, errlen, "[port %s] rx_queues: %u, but %s has qpairs=%u and spreads "
			 "what it receives over all of them; set rx_queues = %u", pc->name, nb_rx,
			 name, info.max_rx_queues, info.max_rx_queues);
		return -1;
	}
	p->socket = rte_eth_dev_socket_id(p->port_id);
	if (p->socket < 0)
		p->socket = 0;
	snprintf(pool, sizeof(pool), "msh_pool_%u", p->port_id);
	/* One mbuf holds one whole frame of the port's MTU (jumbo frames too), so
	 * the fast path never deals with chained mbufs. */
	room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_BUF_SIZE,
		       (uint32_t)(RTE_PKTMBUF_HEADROOM + pc->mtu + RTE_ETHER_HDR_LEN +
				  RTE_ETHER_CRC_LEN));
	/* Enough for every RX and TX descriptor, each worker's hand-off ring
	 * (4096) and per-lcore caches, with room to spare; 2^n - 1. */
	need = (uint32_t)nb_rx * RX_DESC + (uint32_t)nb_tx * (TX_DESC + 4096) +
	       ((uint32_t)nb_tx + 1) * POOL_CACHE * 2 + 4096;
	mbufs = pc->mtu > 1500 ? POOL_MBUFS / 4 : POOL_MBUFS;
	while (mbufs < need)
		mbufs = mbufs * 2 + 1;
	p->pool = rte_pktmbuf_pool_create(pool, mbufs,
					  POOL_CACHE, RTE_ALIGN(priv_size, RTE_MBUF_PRIV_ALIGN),
					  (uint16_t)room, p->socket);
	if (p->pool == NULL) {
		snprintf(err, errlen, "[port %s]: mbuf pool on node %d: %s", pc->name, p->socket,
			 rte_strerror(rte_errno));
		return -1;
	}
	memset(&conf, 0, sizeof(conf));
	/* Some PMDs (net_af_packet) report a 1518-byte frame limit in their
	 * device info yet take a larger MTU through set_mtu, up to what their
	 * buffers hold: configure within the reported limit, then raise it. */
	overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	conf.rxmode.mtu = RTE_MIN((uint32_t)pc->mtu, info.max_rx_pktlen - overhead);
	/* Spread flows over the RX queues where the device can (RSS on a NIC;
	 * net_af_packet spreads its queues with PACKET_FANOUT_HASH itself). */
	if (nb_rx > 1 && info.flow_type_rss_offloads != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
			info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	}
	rc = rte_eth_dev_configure(p->port_id, nb_rx, nb_tx, &conf);
	if (rc == 0 && conf.rxmode.mtu < pc->mtu) {
		rc = rte_eth_dev_set_mtu(p->port_id, pc->mtu);
		if (rc != 0) {
			snprintf(err, errlen, "[port %s] mtu: %s refuses %u: %s (for net_af_packet "
				 "raise framesz and blocksz in the device arguments)", pc->name,
				 name, pc->mtu, rte_strerror(-rc));
			rte_mempool_free(p->pool);
			p->pool = NULL;
			return -1;
		}
	}
	for (uint16_t q = 0; rc == 0 && q < nb_rx; q++)
		rc = rte_eth_rx_queue_setup(p->port_id, q, RX_DESC, p->socket, NULL, p->pool);
	for (uint16_t q = 0; rc == 0 && q < nb_tx; q++)
		rc = rte_eth_tx_queue_setup(p->port_id, q, TX_DESC, p->socket, NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(p->port_id);
	if (rc != 0) {
		snprintf(err, errlen, "[port %s]: configuring %s: %s", pc->name, name,
			 rte_strerror(-rc));
		rte_mempool_free(p->pool);
		p->pool = NULL;
		return -1;
	}
	/* Our own L2 filter decides what is for us; some vdevs need this to
	 * see frames for the MAC we answer ARP with. */
	rte_eth_promiscuous_enable(p->port_id);
	rte_eth_macaddr_get(p->port_id, &p->mac);
	p->nb_rx = nb_rx;
	p->nb_tx = nb_tx;
	return 0;
}

void
msh_ethdev_close(struct msh_ethdev *p)
{
	if (p->pool == NULL)
		return;
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
	rte_mempool_free(p->pool);
	p->pool = NULL;
}
