/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * What the worker side shares, and all it sees of the appliance: the workers
 * (identity, rings, shard views, TX queues, counters), the ports, the pair's
 * link state and the spill service. The main lcore fills it at start-up and
 * then only reads it (and sets quit); a worker writes its own struct
 * msh_worker and, for worker 0 of a pair, the link state. Worker-side files
 * include this and never a main-side header (tools/check_deps.py).
 */
#ifndef MSH_APP_DATAPLANE_H
#define MSH_APP_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ring.h>

#include "config.h"
#include "counters.h"
#include "igmp.h"
#include "net.h"
#include "net/ethdev.h"
#include "repl.h"
#include "shard_state.h"
#include "spill_msg.h"
#include "sub.h"
#include "table.h"
#include "txq.h"

#define MSH_MAX_WORKERS 128
/** Ports a worker polls for feeds: slot 0 is the ingest port, then the
 *  ports with role = feed in configuration order. */
#define MSH_MAX_PORT_SLOTS MSH_CONF_MAX_PORTS
/** Multicast bindings (a feed's lines) every worker routes. */
#define MSH_MCAST_MAX_ROUTES (MSH_CONF_FEED_LINES * MSH_CONF_MAX_FEEDS)

struct msh_app_feed; /* mcast.h */

/**
 * One line of a feed as every worker routes it: datagrams to group:udp_port
 * on port slot @p slot belong to @p feed's line @p line. The owner of the
 * feed serves them; another worker hands them over. Each worker has its own
 * copy (changed by its commands only), with its IGMP answer timer.
 */
struct msh_mcast_route {
	uint32_t group;           /**< host order */
	uint32_t source;          /**< SSM source, 0: any */
	uint16_t udp_port;
	uint8_t slot;
	uint8_t line;             /**< 0 = A, 1 = B */
	struct msh_app_feed *feed;
	bool query_pending;       /**< a group-specific query waits for its answer */
	uint64_t query_due_tsc;
	uint8_t unsolicited_left; /**< owner: join reports still to repeat */
	uint64_t unsolicited_tsc; /**< owner: when the next one goes */
};

/** A worker's IGMP host state on one port slot (RFC 3376 §5, RFC 2236 §3). */
struct msh_igmp_port {
	bool general_pending;      /**< a general query waits for its answer */
	uint64_t general_due_tsc;
	/* counters */
	uint64_t queries, reports, leaves, v2_reports, ignored, bad[MSH_IGMP_E_COUNT];
};
struct msh_app_port {
	struct msh_ethdev eth;
	struct msh_iface ifc;
	const struct msh_port_conf *conf;
};

/**
 * The pair (replicas = 2, docs/REPLICATION.md): the replication port, the
 * node state machine and the peer as seen on both networks. Worker 0 owns it
 * (in this version it owns every shard of a pair appliance); the main lcore
 * reads it.
 */
struct msh_repl_link {
	bool on;                       /**< a replication port is configured */
	struct msh_app_port port;
	struct msh_repl_node node;
	volatile uint64_t peer_mac;    /**< the peer's MAC on the link (0: unknown) */
	volatile uint64_t peer_ingest_tsc; /**< last ARP answer from its ingest address */
	uint64_t last_probe_tsc, last_arp_tsc;
	/* counters (worker 0) */
	uint64_t rx_frames, tx_frames, rx_drop[MSH_REPL_E_COUNT], rx_stale, rx_foreign,
		rx_unknown_shard, no_peer_mac;
	/* events for the main lcore's log (stats.c watches them) */
	uint64_t role_changes, alarms, catch_up_truncations;
	uint64_t last_truncate_to, last_reset_to;
	struct msh_name last_truncated;
};

/**
 * A worker lcore and everything it owns. Its view of the shard table (every
 * shard, to route packets to the owner) and its list of owned shards change
 * only on the worker itself, through commands (worker_cmd.c), so the fast
 * path reads them without locks. Other workers reach it through its hand-off
 * ring (mbufs of packets for its shards, the parsed frame in the mbuf's
 * private area), the main lcore through its command ring, the spill thread
 * through its reply ring.
 */
struct msh_worker {
	/* Identity and rings: fixed before launch (main lcore). */
	struct msh_dp *dp;
	unsigned int idx;          /**< 0 .. n_workers-1 */
	unsigned int lcore;
	int rx_queue;              /**< ingest RX queue it polls, or -1 (hand-offs only) */
	uint16_t tx_queue;         /**< its own ingest TX queue */
	struct rte_ring *cmd_ring; /**< main lcore -> this worker: struct msh_cmd * */
	struct rte_ring *handoff;  /**< other workers -> this worker: mbufs (MP/SC) */
	struct rte_ring *spill_done; /**< spill thread -> this worker: answered messages */

	/* Changed by its commands only. */
	struct msh_table *shards;  /**< name -> struct msh_app_shard, every shard */
	struct msh_app_shard *owned[MSH_CONF_MAX_SHARDS];
	unsigned int n_owned;

	/* The loop's state. */
	volatile bool running;     /**< launched: commands go through its ring (main sets) */
	bool repl;                 /**< it runs the replication port */
	uint16_t udp_port, retrans_port;
	uint32_t feed_payload;     /**< bytes of MoldUDP64 payload (header + blocks) per packet */
	uint64_t tsc, now_ns;      /**< this turn's clocks */
	struct msh_txq tx;         /**< ingest port */
	struct msh_txq rtx;        /**< replication port (repl only) */
	/* Multicast feeds (mcast.c), changed by its commands only. */
	struct msh_mcast_route routes[MSH_MCAST_MAX_ROUTES];
	unsigned int n_routes;
	struct msh_app_feed *feeds[MSH_CONF_MAX_FEEDS]; /**< the feeds it owns */
	unsigned int n_feeds;
	struct msh_txq ftx[MSH_MAX_PORT_SLOTS];         /**< slot 1..: its queue on feed ports */
	struct msh_igmp_port igmp[MSH_MAX_PORT_SLOTS];
	uint64_t mcast_tsc;        /**< last feed timer turn */
	struct msh_lcore_stats st; /**< counters, this worker only */
} __rte_cache_aligned;

/** The worker side's shared context (see the file comment). */
struct msh_dp {
	const struct msh_conf *conf;
	struct msh_app_port ingest;
	/** Ports with role = feed: slot 1 + i. Worker k polls RX queue k of each
	 *  while k < its rx_queues and has TX queue k on it (IGMP, re-requests). */
	struct msh_app_port fports[MSH_MAX_PORT_SLOTS - 1];
	unsigned int n_fports;
	/** Per port slot: an IGMPv1/v2 querier was heard, IGMPv2 until this TSC
	 *  (RFC 3376 §7.2.1, per interface: any worker that hears one stores it). */
	volatile uint64_t igmp_v2_until[MSH_MAX_PORT_SLOTS];
	struct msh_repl_link repl;
	struct msh_worker *workers[MSH_MAX_WORKERS]; /**< each on its lcore's NUMA node */
	unsigned int n_workers;
	struct msh_spill_svc spill;
	struct rte_mempool *cmd_pool; /**< struct msh_cmd messages (proxy.c, worker_cmd.c) */
	struct msh_token_key token_key;
	uint64_t tsc_hz;
	volatile uint32_t epoch;   /**< this node's; worker 0 of a pair moves it */
	volatile bool quit;
};

/** The port of slot @p slot (0: ingest). */
static inline struct msh_app_port *
msh_dp_port(struct msh_dp *dp, unsigned int slot)
{
	return slot == 0 ? &dp->ingest : &dp->fports[slot - 1];
}

/** Worker @p w's TX queue on slot @p slot. */
static inline struct msh_txq *
msh_worker_txq(struct msh_worker *w, unsigned int slot)
{
	return slot == 0 ? &w->tx : &w->ftx[slot];
}

/** Token buckets: a SUBSCRIBE token is valid for 1 to 2 of these. */
#define MSH_TOKEN_PERIOD_NS (30ull * 1000000000ull)

/** @p ns in TSC cycles at @p hz. */
static inline uint64_t
msh_ns_to_tsc(uint64_t ns, uint64_t hz)
{
	return ns * (hz / 1000000) / 1000;
}

#endif /* MSH_APP_DATAPLANE_H */
