/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Why the appliance dropped a packet, and the per-worker event counters: one
 * X-macro list each (VPP's foreach_*_error), so the struct, the shutdown
 * report, the control socket and telemetry use the same names. Each counter
 * is a 64-bit word written by one worker only; other threads read it (a torn
 * read cannot happen on x86-64).
 */
#ifndef MSH_APP_COUNTERS_H
#define MSH_APP_COUNTERS_H

#include <stdint.h>

#include "net.h"
#include "wire.h"

/* Why the appliance dropped a packet or refused a request, beyond the codec
 * (msh_wire_err) and packet-layer (msh_net_drop) reasons. */
#define foreach_msh_app_drop                                                                       \
	_(UNKNOWN_SHARD, "shard not served here")                                                  \
	_(NO_LISTENER, "UDP to a port memshard does not serve")                                    \
	_(UNEXPECTED_TYPE, "a reply type sent to the appliance")                                   \
	_(TOKEN_BAD, "SUBSCRIBE with a wrong or stale token")                                      \
	_(RETRANS_NOT_SUBSCRIBED, "re-request from an address with no subscription")              \
	_(RETRANS_RATE_LIMITED, "re-request messages over the requester's rate")                  \
	_(NOT_PRIMARY, "publish to a secondary")                                                   \
	_(NO_MBUF, "no mbuf for a reply or feed packet")                                           \
	_(TX_FULL, "transmit queue full (reply, heartbeat, UNAVAILABLE or ARP dropped)")          \
	_(HANDOFF_FULL, "the owning worker's hand-off ring was full")                              \
	_(HANDOFF_STALE, "handed over for a shard that moved to another worker meanwhile")       \
	_(MCAST_NOT_JOINED, "multicast to a group no feed joined on that port")                    \
	_(MCAST_PORT, "multicast to a joined group, but a UDP port no feed listens on")           \
	_(MCAST_SOURCE, "multicast from a source other than the feed's source = (SSM)")

enum msh_app_drop {
#define _(sym, doc) MSH_APP_DROP_##sym,
	foreach_msh_app_drop
#undef _
	MSH_APP_DROP_COUNT
};

/* Per-worker event counters. */
#define foreach_msh_lcore_counter                                                                  \
	_(rx_pkts) _(rx_bytes) _(tx_pkts) _(tx_bytes) _(arp_replies) _(icmp_replies) _(publish)    \
	_(subscribe) _(unsubscribe) _(retrans_requests) _(feed_pkts) _(feed_msgs) _(heartbeats)   \
	_(retrans_pkts) _(retrans_msgs) _(unavailable) _(feed_rollbacks) _(subs_expired)         \
	_(handoff_out) _(handoff_in) _(cmds_run) _(cmds_late)

/** A worker's counters (written by that worker only). */
struct msh_lcore_stats {
#define _(f) uint64_t f;
	foreach_msh_lcore_counter
#undef _
	uint64_t rx_first_ns, rx_last_ns; /**< wall clock of the first and last RX burst */
	uint64_t acks[MSH_S_COUNT];
	uint64_t net_drop[MSH_NET_DROP_COUNT];
	uint64_t wire_drop[MSH_WIRE_E_COUNT];
	uint64_t app_drop[MSH_APP_DROP_COUNT];
};

/* Symbols of the status and drop reasons (OK, BAD_MAGIC, UNKNOWN_SHARD...),
 * from the same X-macro lists as the enums. */
extern const char *const msh_status_sym[MSH_S_COUNT];
extern const char *const msh_wire_err_sym[MSH_WIRE_E_COUNT];
extern const char *const msh_net_drop_sym[MSH_NET_DROP_COUNT];
extern const char *const msh_app_drop_sym[MSH_APP_DROP_COUNT];

/** Add every counter of @p add to @p sum (wall-clock stamps excepted). */
void msh_lcore_stats_add(struct msh_lcore_stats *sum, const struct msh_lcore_stats *add);

#endif /* MSH_APP_COUNTERS_H */
