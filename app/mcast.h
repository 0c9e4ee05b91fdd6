/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Multicast feeds in (docs/FEEDS.md): a feed's lines A and B arrive as UDP
 * multicast on the ingest port or on ports with role = feed; the worker that
 * owns the feed's shard arbitrates them (lib/arb: the first copy of every
 * upstream sequence number wins) and appends each message once, in upstream
 * order, to the shard, whose own sequence numbers stay dense. Gaps both lines
 * lost wait gap_timeout, are asked of the exchange's re-request server when
 * one is configured, and are otherwise given up and recorded (a counter, a
 * mark the feed shows, a log line from the main lcore's watch). format = raw
 * appends every datagram as one message. IGMP membership (joins, leaves,
 * answers to queries) is sent from here too, since no kernel owns the port.
 *
 * struct msh_app_feed is split like a shard: the fixed part, set by the main
 * lcore before any worker sees it; wk, written by the owning worker only
 * (its counters and marks, read by the main lcore as single-writer words).
 * Worker side.
 */
#ifndef MSH_APP_MCAST_H
#define MSH_APP_MCAST_H

#include <stdbool.h>
#include <stdint.h>

#include "arb.h"
#include "dataplane.h"

/** What a mark records (the feed shows the last MSH_FEED_MARKS). */
enum msh_feed_mark_kind {
	MSH_MARK_GAP = 0,     /**< upstream messages lost on every line */
	MSH_MARK_SESSION,     /**< a new upstream session started */
	MSH_MARK_END,         /**< end of session received */
	MSH_MARK_REFUSED,     /**< messages the shard refused (full, too large) */
};

/** One event in the feed's history, at a shard position. */
struct msh_feed_mark {
	uint64_t shard_seq;   /**< the shard's next seq when it happened */
	uint64_t up_seq;      /**< upstream: first seq concerned */
	uint64_t up_count;    /**< upstream: messages concerned */
	uint64_t ns;          /**< wall clock */
	struct msh_name session;
	uint32_t kind;        /**< enum msh_feed_mark_kind */
};

#define MSH_FEED_MARKS 32

/* The owner's counters of a feed, beside lib/arb's per-line ones. */
#define foreach_msh_feed_counter                                                                   \
	_(appended_msgs, "messages appended to the shard")                                         \
	_(refused_msgs, "messages the shard refused (full, or over max_message)")                  \
	_(too_large, "messages over the shard's max_message (refused)")                            \
	_(shard_full, "appends refused: the shard is full (on_full = reject) or busy")             \
	_(raw_msgs, "format = raw: datagrams appended")                                            \
	_(rerequests, "MoldUDP64 requests sent to the re-request server")                          \
	_(rerequest_limited, "requests not sent: rerequest_rate")                                  \
	_(rerequest_no_mac, "requests not sent: the server's MAC unknown yet (ARP asked)")         \
	_(rerequest_answers, "answer packets from the re-request server")                          \
	_(rerequest_msgs, "messages the answers brought first")                                    \
	_(rerequest_bad, "answers not MoldUDP64, or of another session")                           \
	_(gaps_reported, "gaps given up and marked")                                               \
	_(handed_over, "line packets other workers handed to the owner")

struct msh_feed_stats {
#define _(f, doc) uint64_t f;
	foreach_msh_feed_counter
#undef _
	uint64_t line_pkts[MSH_CONF_FEED_LINES];   /**< datagrams received per line */
	uint64_t line_bad[MSH_CONF_FEED_LINES];    /**< not MoldUDP64 (wire reason counted too) */
};

/** The owning worker's part of a feed. */
struct msh_feed_wk {
	struct msh_feed_stats st;
	uint64_t marks_n; /**< __atomic: marks written; the last is marks[(n-1) % MARKS] */
	struct msh_feed_mark marks[MSH_FEED_MARKS];
	uint64_t last_rx_ns;
	/* Re-requests: the gap asked for, and the rate bucket. */
	uint64_t rr_first, rr_since_ns, rr_asked_ns;
	uint32_t rr_tries;
	bool rr_skip_counted;  /**< this try's no-MAC / rate skip is counted already */
	uint64_t rr_tokens_ns; /**< bucket level, in ns of rate */
	uint64_t rr_fill_ns;
	uint8_t rr_mac[6];     /**< the server's MAC, once known */
	bool rr_mac_known;
	uint64_t rr_arp_tsc;
	bool ended;            /**< deleted: packets still in flight are dropped */
};

/** A feed as the appliance serves it. */
struct msh_app_feed {
	/* Fixed while published (the main lcore, before any worker sees it). */
	struct msh_feed_conf conf;
	struct msh_app_shard *as;
	unsigned int worker;         /**< the shard's owner */
	uint8_t slot[MSH_CONF_FEED_LINES]; /**< port slot of each line */
	uint8_t n_lines;
	uint16_t rr_src_port;        /**< our UDP port for the re-request server's answers */
	struct msh_arb *arb;         /**< format = moldudp64: its memory on the owner's node */
	uint64_t gap_timeout_ns;     /**< before a re-request (or giving up, without one) */
	struct msh_feed_wk wk;
	struct {
		uint64_t marks_logged; /**< marks the log watch has reported */
	} mn;                          /**< the main lcore's part */
};

/** Bytes of the arbiter of a feed of @p fc (0: format = raw), with its conf in @p ac. */
size_t msh_mcast_arb_conf(const struct msh_feed_conf *fc, uint32_t mtu, struct msh_arb_conf *ac);

/**
 * A UDP datagram to a multicast address on @p slot, or a unicast one on a
 * feed port: the route it belongs to, or NULL (dropped and counted).
 */
const struct msh_mcast_route *msh_mcast_route(struct msh_worker *w, unsigned int slot,
					      const struct msh_frame *f);

/** Serve a line's datagram (the route's feed is this worker's). */
void msh_mcast_line_rx(struct msh_worker *w, const struct msh_mcast_route *r,
		       const struct msh_frame *f);

/** The route (line A's) of the feed a unicast datagram on @p slot answers a re-request of. */
const struct msh_mcast_route *msh_mcast_rr_route(struct msh_worker *w, unsigned int slot,
						 const struct msh_frame *f);

/** Serve a re-request server's answer (the route's feed is this worker's). */
void msh_mcast_rr_answer(struct msh_worker *w, const struct msh_mcast_route *r,
			 const struct msh_frame *f);

/** An IGMP frame on @p slot (@p d, @p len: the whole frame). */
void msh_mcast_igmp_rx(struct msh_worker *w, unsigned int slot, const uint8_t *d, uint32_t len);

/** The worker owning the feed whose re-request server sent this ARP on @p slot, or -1. */
int msh_mcast_arp_owner(const struct msh_worker *w, unsigned int slot, const struct msh_frame *f);

/** Learn the MAC of a re-request server from an ARP packet on @p slot (its owner). */
void msh_mcast_arp_learn(struct msh_worker *w, unsigned int slot, const struct msh_frame *f);

/**
 * Timers, every turn (cheap when nothing waits): gaps past gap_timeout
 * (re-request, then give up), IGMP answers and repeated reports.
 */
void msh_mcast_turn(struct msh_worker *w);

/** The loop ends: owned feeds emit what they hold and leave their groups. */
void msh_mcast_stop(struct msh_worker *w);

/** Commands (worker_cmd.c): route @p fd on this worker; the owner joins. */
int msh_mcast_feed_add(struct msh_worker *w, struct msh_app_feed *fd, char *err, size_t errlen);
/** Forget @p fd; the owner emits what is held (gaps given up) and leaves. */
void msh_mcast_feed_del(struct msh_worker *w, struct msh_app_feed *fd);

#endif /* MSH_APP_MCAST_H */
