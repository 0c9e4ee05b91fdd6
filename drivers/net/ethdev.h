/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * DPDK ethdev ports for the appliance: the same code opens a real NIC or a
 * vdev (net_af_packet, net_tap, net_memif, net_ring, net_null): RX queues
 * spread over the workers, one TX queue per worker, an mbuf pool on the
 * port's NUMA node.
 */
#ifndef MSH_DRV_ETHDEV_H
#define MSH_DRV_ETHDEV_H

#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#include "config.h"

struct msh_ethdev {
	uint16_t port_id;
	int socket;
	struct rte_ether_addr mac;
	struct rte_mempool *pool;
	uint16_t nb_rx, nb_tx;
};

/**
 * Find the port of @p pc->device (EAL probed it from --vdev or -a), configure
 * @p nb_rx RX and @p nb_tx TX queues with a pool on its NUMA node whose mbufs
 * have @p priv_size bytes of private area (rte_mbuf_to_priv), and start it.
 * @return 0, or -1 with a reason in @p err.
 */
int msh_ethdev_open(const struct msh_port_conf *pc, uint16_t nb_rx, uint16_t nb_tx,
		    uint16_t priv_size, struct msh_ethdev *p, char *err, size_t errlen);

/** Stop and close the port and free its pool. */
void msh_ethdev_close(struct msh_ethdev *p);

#endif /* MSH_DRV_ETHDEV_H */
