/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The MoldUDP64 feeds of the shards a worker owns: live fan-out of what is
 * new, history replay (from memory, or from the spill files through the
 * spill thread), heartbeats, UNAVAILABLE where retention passed a reader, and
 * end of session. A slow subscriber falls behind on its own: each has its
 * own position and at most FEED_PKTS_PER_SUB packets a turn. Worker side.
 */
#ifndef MSH_APP_FEED_H
#define MSH_APP_FEED_H

#include <stdint.h>

#include "dataplane.h"

/**
 * One MoldUDP64 packet of the shard's messages from @p seq (at most
 * @p max_msgs) to (mac, ip, port) from @p src_port; @p owner is the
 * subscriber whose position rolls back if the driver refuses it (NULL for a
 * re-request). @return messages in it (0: nothing to send or no buffer).
 */
uint32_t msh_feed_packet(struct msh_worker *w, const struct msh_app_shard *as,
			 struct msh_sub *owner, const uint8_t *mac, uint32_t ip, uint16_t port,
			 uint16_t src_port, uint64_t seq, uint32_t max_msgs);

/** Queue an UNAVAILABLE: @p asked is gone, @p first is the oldest still served. */
void msh_feed_unavailable(struct msh_worker *w, const uint8_t *mac, uint32_t ip, uint16_t port,
			  uint16_t src_port, const struct msh_name *shard, uint64_t asked,
			  uint64_t first);

/** Send every subscriber of every owned shard what it has not had yet. */
void msh_feed_fan_out(struct msh_worker *w);

/** Heartbeats to the caught-up subscribers of @p as idle for a heartbeat interval. */
void msh_feed_heartbeats(struct msh_worker *w, struct msh_app_shard *as, uint64_t hb_tsc);

/** A spill read is back: feed the subscriber still waiting for it, or answer the re-request. */
void msh_feed_disk_data(struct msh_worker *w, struct msh_spill_msg *m);

/**
 * Every subscriber of @p as gets what it has not had yet, then the end of
 * session (MoldUDP64 count 0xFFFF at the next sequence number), and goes.
 * Flushes the TX queue as it fills.
 */
void msh_feed_end_session(struct msh_worker *w, struct msh_app_shard *as);

#endif /* MSH_APP_FEED_H */
