/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Subscriptions of one shard and the stateless SUBSCRIBE token.
 *
 * Token (PROTOCOL.md "Address validation"): SipHash-2-4 keyed with the
 * appliance's secret over (source address, source port, shard, time bucket).
 * It is valid in its bucket and the one before, so a token lives between one
 * and two buckets; the appliance keeps no state for addresses that have not
 * echoed one, and a spoofed source never gets more than one SUB_REPLY.
 *
 * A subscription is keyed by (address, port). It has a send position (the
 * next sequence number to send), the position the subscriber last reported in
 * a renewal (its lag is measured against that), a lease, the time of its last
 * packet (for heartbeats), and a token bucket for retransmissions.
 *
 * Threading: owned by the shard's writer lcore.
 */
#ifndef MSH_SUB_H
#define MSH_SUB_H

#include "common.h"

struct msh_token_key {
	uint64_t k0, k1;
};

/** SipHash-2-4 of @p len bytes (the reference algorithm, 64-bit output). */
uint64_t msh_siphash24(const struct msh_token_key *key, const void *data, size_t len);

/**
 * Token for a source: SipHash over address, port, shard and @p bucket (the
 * caller's time divided by the token period). Never 0 (0 means "no token").
 */
uint64_t msh_token_make(const struct msh_token_key *key, uint32_t ip, uint16_t port,
			const struct msh_name *shard, uint64_t bucket);

/** True when @p token was made for this source in @p bucket or bucket - 1. */
bool msh_token_check(const struct msh_token_key *key, uint32_t ip, uint16_t port,
		     const struct msh_name *shard, uint64_t bucket, uint64_t token);

struct msh_sub {
	uint32_t ip;           /**< subscriber address (host order) */
	uint16_t port;         /**< subscriber UDP port */
	uint8_t mac[6];        /**< where its SUBSCRIBE came from (next hop back) */
	uint64_t next_seq;     /**< next sequence number to send it */
	uint64_t reported_seq; /**< next expected, as its last renewal said */
	uint64_t lease_end;    /**< caller's clock: expires at */
	uint64_t last_tx;      /**< caller's clock: last packet sent */
	uint64_t created;
	double rt_tokens;      /**< retransmission budget (messages) */
	uint64_t rt_last;      /**< caller's clock: last refill */
	/* counters */
	uint64_t sent_msgs, sent_pkts, heartbeats, rerequests, rerequest_msgs;
	uint64_t rerequest_limited, unavailable;
	uint64_t disk_msgs;    /**< messages sent to it from spill files */
	bool disk_wait;        /**< a read from the spill files is under way for it */
	bool used;
};

struct msh_subs {
	uint32_t max;
	uint32_t n;
	struct msh_sub *sub; /**< max entries, memory handed in */
};

/** Bytes for @p max subscriptions. */
size_t msh_subs_footprint(uint32_t max);
/** Initialise over @p mem. */
void msh_subs_init(struct msh_subs *t, void *mem, uint32_t max);

/** Subscription of (ip, port), or NULL. */
struct msh_sub *msh_subs_find(struct msh_subs *t, uint32_t ip, uint16_t port);

/** True if any subscription comes from @p ip (retransmission requests may use another port). */
struct msh_sub *msh_subs_find_ip(struct msh_subs *t, uint32_t ip);

/**
 * Create a subscription. @return it, or NULL with errno EEXIST (exists) or
 * ENOSPC (max reached: TOO_MANY_SUBSCRIBERS).
 */
struct msh_sub *msh_subs_add(struct msh_subs *t, uint32_t ip, uint16_t port, const uint8_t mac[6],
			     uint64_t next_seq, uint64_t now, uint64_t lease);

/** End a subscription. */
void msh_subs_del(struct msh_subs *t, struct msh_sub *s);

/**
 * Drop every subscription whose lease ended before @p now.
 * @return the number dropped.
 */
uint32_t msh_subs_expire(struct msh_subs *t, uint64_t now);

/**
 * Take @p want messages of retransmission budget; the bucket refills at
 * @p rate messages per @p hz clock units, holding at most one second's worth.
 * @return how many may be sent now (0..want).
 */
uint32_t msh_sub_rt_take(struct msh_sub *s, uint32_t want, uint64_t now, uint64_t hz,
			 uint32_t rate);

#endif /* MSH_SUB_H */
