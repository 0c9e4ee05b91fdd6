/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The appliance's own minimal network stack, for ports that have no kernel
 * behind them: Ethernet/ARP/IPv4/UDP/ICMP-echo parsing with every header and
 * checksum validated (msh_frame_parse), builders for UDP headers, ARP requests
 * and replies and ICMP echo replies, Internet checksums, and a bounded
 * neighbour (ARP) table. Works on plain byte buffers (the daemon passes
 * rte_pktmbuf_mtod pointers) so it is unit-tested without DPDK. Parsers never
 * read past the frame length; builders never write past the capacity. Parsing,
 * building and checksums hold no state and are thread-safe; a struct
 * msh_neigh is owned by one lcore (single-threaded, no locks). No allocation.
 */
#ifndef MSH_NET_H
#define MSH_NET_H

#include "common.h"

#define MSH_ETH_ALEN 6
#define MSH_ETH_HDR_LEN 14
/** Shortest Ethernet frame without FCS; builders of whole frames pad to it. */
#define MSH_ETH_MIN_LEN 60
#define MSH_ETHERTYPE_IPV4 0x0800u
#define MSH_ETHERTYPE_ARP 0x0806u
#define MSH_ETHERTYPE_VLAN 0x8100u
#define MSH_ETHERTYPE_QINQ 0x88A8u
#define MSH_ETHERTYPE_QINQ_OLD 0x9100u

#define MSH_IPV4_HDR_LEN 20 /**< without options (IHL 5) */
#define MSH_IPV4_DEFAULT_TTL 64
#define MSH_IPPROTO_ICMP 1
#define MSH_IPPROTO_UDP 17
#define MSH_UDP_HDR_LEN 8
#define MSH_ICMP_ECHO_HDR_LEN 8
#define MSH_ARP_LEN 28
#define MSH_ARP_OP_REQUEST 1
#define MSH_ARP_OP_REPLY 2

/** Ethernet + IPv4 (no options) + UDP: what msh_udp_hdr_build() writes. */
#define MSH_UDP_HDRS_LEN (MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN + MSH_UDP_HDR_LEN)
/** Largest UDP payload an IPv4 total length can carry. */
#define MSH_UDP_MAX_PAYLOAD (65535u - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN)

#define MSH_IPV4_BROADCAST 0xFFFFFFFFu

/* Why a frame was dropped. 0 is "none"; msh_frame_parse() returns the negative
 * value. The same list names the drop counters (VPP's foreach_*_error), so
 * stats, CLI and telemetry agree. Checked in this order. */
#define foreach_msh_net_drop                                                                \
	_(SHORT, "runt frame: shorter than its Ethernet, ARP or IPv4 header")               \
	_(NOT_OUR_MAC, "destination MAC neither ours, broadcast nor an accepted multicast") \
	_(BAD_SRC_MAC, "source MAC multicast or zero")                                      \
	_(VLAN, "802.1Q/802.1ad tagged frame (not supported)")                              \
	_(ETHERTYPE, "ethertype neither IPv4 nor ARP")                                      \
	_(ARP_BAD, "ARP not Ethernet/IPv4, bad opcode or multicast sender")                 \
	_(ARP_NOT_FOR_US, "ARP target address is not ours")                                 \
	_(IP_BAD_HDR, "IPv4 version, IHL or total length invalid")                          \
	_(IP_BAD_CSUM, "IPv4 header checksum wrong")                                        \
	_(IP_FRAGMENT, "IPv4 fragment (MF flag or offset)")                                 \
	_(IP_BAD_SRC, "IPv4 source ours, zero, loopback, multicast or broadcast")           \
	_(IP_NOT_FOR_US, "IPv4 destination not ours, broadcast or an accepted multicast")   \
	_(IP_PROTO, "IP protocol neither UDP nor ICMP")                                     \
	_(ICMP_BAD, "ICMP shorter than its header or checksum wrong")                       \
	_(ICMP_NOT_ECHO, "ICMP other than echo request")                                    \
	_(ICMP_NOT_UNICAST, "ICMP echo to a broadcast or multicast address (ignored)")      \
	_(UDP_BAD_LEN, "UDP length shorter than its header or not the IP payload length")   \
	_(UDP_BAD_CSUM, "UDP checksum wrong")                                               \
	_(UDP_PORT, "no listener on the UDP destination port")

enum msh_net_drop {
	MSH_NET_DROP_NONE = 0,
#define _(sym, str) MSH_NET_DROP_##sym,
	foreach_msh_net_drop
#undef _
	MSH_NET_DROP_COUNT
};

/** Text of a drop reason (positive or negative value accepted; 0 is "none"). */
const char *msh_net_drop_str(int drop);

/** What msh_frame_parse() found (positive), or a negative enum msh_net_drop. */
enum msh_frame_kind {
	MSH_FRAME_UDP = 1,	 /**< valid UDP datagram for us */
	MSH_FRAME_ARP = 2,	 /**< ARP request or reply whose target IP is ours */
	MSH_FRAME_ICMP_ECHO = 3, /**< valid ICMP echo request to our unicast address */
};

/** One port's addresses. ip is host order; prefix_len 0..32 sets the subnet. */
struct msh_iface {
	uint8_t mac[MSH_ETH_ALEN];
	uint32_t ip;
	uint8_t prefix_len;
	bool accept_multicast; /**< accept 224.0.0.0/4 destinations and group MACs */
};

/** Parsed view of a frame: numbers in host order, pointers into the frame. */
struct msh_frame {
	uint8_t dst_mac[MSH_ETH_ALEN];
	uint8_t src_mac[MSH_ETH_ALEN];
	uint16_t ethertype;
	uint16_t l3_off;	/**< offset of the IPv4 or ARP header */
	uint16_t l4_off;	/**< offset of the UDP or ICMP header (IPv4 only: honours IHL) */
	uint16_t ip_len;	/**< IPv4 total length; l3_off + ip_len <= frame length */
	uint8_t ttl;
	uint8_t proto;		/**< IP protocol */
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;	/**< UDP */
	uint16_t dst_port;	/**< UDP */
	uint16_t icmp_id;	/**< ICMP echo */
	uint16_t icmp_seq;	/**< ICMP echo */
	/** UDP payload or ICMP echo data: inside the frame, before any Ethernet padding. */
	const uint8_t *payload;
	uint32_t payload_len;
	struct {
		uint16_t op; /**< MSH_ARP_OP_REQUEST or MSH_ARP_OP_REPLY */
		uint8_t sender_mac[MSH_ETH_ALEN];
		uint8_t target_mac[MSH_ETH_ALEN];
		uint32_t sender_ip;
		uint32_t target_ip;
	} arp;
};

/**
 * Parse and validate one Ethernet frame of @p len bytes received on @p ifc.
 *
 * L2: destination MAC is ours, broadcast, or a group MAC if accept_multicast;
 * source MAC unicast and nonzero; untagged; ethertype IPv4 or ARP.
 * ARP: Ethernet/IPv4 sizes, opcode request or reply, unicast sender MAC, target
 * IP ours. A gratuitous or foreign ARP returns -ARP_NOT_FOR_US with f->arp
 * still filled, so the caller may refresh an entry it already has.
 * IPv4: version 4, IHL >= 5 (options are skipped), total length within the
 * frame (bytes past it are Ethernet padding and ignored), header checksum, not
 * a fragment, a sane source, destination ours, 255.255.255.255 or (if
 * accept_multicast) any 224.0.0.0/4 address; protocol UDP or ICMP.
 * UDP: length equal to the IP payload length, checksum over the pseudo-header
 * unless it is 0 (none). ICMP: checksum, echo request (type 8 code 0) only, to
 * our unicast address. UDP_PORT is left to the caller (it knows its listeners).
 *
 * @p f is zeroed first and filled as far as parsing got; on a drop, only the
 * fields already validated are meaningful.
 * @return an enum msh_frame_kind, or a negative enum msh_net_drop.
 */
int msh_frame_parse(const uint8_t *frame, uint32_t len, const struct msh_iface *ifc,
		    struct msh_frame *f);

/*
 * Internet checksum (RFC 1071), host-order results: store them with
 * msh_store_be16(). A partial sum is a 32-bit value to chain calls; only the
 * last buffer of a chain may have an odd length.
 */

/** Add the bytes of [p, p+len) to the partial sum @p sum; returns a partial sum < 2^17. */
uint32_t msh_csum_partial(const void *p, size_t len, uint32_t sum);

/** Fold a partial sum and complement it: the value for a checksum field. */
static inline uint16_t
msh_csum_fold(uint32_t sum)
{
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return (uint16_t)~sum;
}

/**
 * Checksum of [p, p+len) plus a partial sum. Over a header whose checksum
 * field is filled in, the result is 0 when that checksum is right.
 */
static inline uint16_t
msh_inet_csum(const void *p, size_t len, uint32_t sum)
{
	return msh_csum_fold(msh_csum_partial(p, len, sum));
}

/** Partial sum of the IPv4 pseudo-header (addresses host order, @p l4_len = UDP length). */
static inline uint32_t
msh_ipv4_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t l4_len)
{
	return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + l4_len;
}

/** What msh_udp_hdr_build() needs. Addresses and ports host order. */
struct msh_udp_flow {
	uint8_t src_mac[MSH_ETH_ALEN];
	uint8_t dst_mac[MSH_ETH_ALEN];
	uint32_t src_ip;
	uint32_t dst_ip;
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t ttl; /**< 0 means MSH_IPV4_DEFAULT_TTL */
};

/**
 * Write the 42-byte Ethernet + IPv4 + UDP header for a @p payload_len byte
 * payload that the caller has placed, or will place, at buf + 42. IPv4: no
 * options, ID 0 with DF set, TOS 0, header checksum computed. The UDP checksum
 * is written as 0 ("none", valid for IPv4); call msh_udp_csum_fill() once the
 * payload is in place to compute it. The frame is 42 + payload_len bytes and
 * may be shorter than MSH_ETH_MIN_LEN: NICs pad on transmit, or the caller
 * may append zeros (receivers ignore bytes past the IP total length).
 * @return MSH_UDP_HDRS_LEN, -ENOSPC if @p cap < 42 + payload_len, or
 *         -EMSGSIZE if payload_len > MSH_UDP_MAX_PAYLOAD.
 */
int msh_udp_hdr_build(uint8_t *buf, size_t cap, const struct msh_udp_flow *fl,
		      uint16_t payload_len);

/**
 * Compute and store the UDP checksum (pseudo-header included) of a complete
 * IPv4/UDP frame, such as one made by msh_udp_hdr_build() plus its payload.
 * The IPv4 IHL is honoured and the UDP length field gives the extent; a
 * computed 0 is sent as 0xFFFF. Skipping this call leaves checksum 0, which
 * IPv4 receivers accept as "no checksum". Does nothing if the frame is not
 * IPv4/UDP or its lengths run past @p frame_len.
 */
void msh_udp_csum_fill(uint8_t *frame, uint32_t frame_len);

/**
 * Build the ARP reply to @p req, a request parsed by msh_frame_parse() (kind
 * MSH_FRAME_ARP, op request, target IP ifc->ip): sent from ifc->mac to the
 * requester's MAC, padded with zeros to MSH_ETH_MIN_LEN.
 * @return MSH_ETH_MIN_LEN, -ENOSPC if cap is smaller, -EINVAL if @p req is not
 *         a request for our address.
 */
int msh_arp_reply_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc,
			const struct msh_frame *req);

/**
 * Build a broadcast ARP request for @p target_ip (host order) from @p ifc,
 * padded to MSH_ETH_MIN_LEN. @return MSH_ETH_MIN_LEN or -ENOSPC.
 */
int msh_arp_request_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc,
			  uint32_t target_ip);

/**
 * Build the echo reply to the request @p req_frame that msh_frame_parse()
 * parsed into @p f (kind MSH_FRAME_ICMP_ECHO): addresses swapped, same ICMP
 * id, sequence and data, type 0, TTL MSH_IPV4_DEFAULT_TTL, IPv4 options of the
 * request not echoed, both checksums computed, padded to MSH_ETH_MIN_LEN. @p buf
 * may be @p req_frame itself (reply built in place); no other overlap allowed.
 * @return the frame length, -ENOSPC if it does not fit in @p cap, -EINVAL if
 *         @p f is not an ICMP echo request.
 */
int msh_icmp_echo_reply_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc,
			      const uint8_t *req_frame, const struct msh_frame *f);

/** Ethernet group MAC of an IPv4 multicast group: 01:00:5e + low 23 bits of @p ip. */
void msh_ipv4_mcast_mac(uint32_t ip, uint8_t mac[MSH_ETH_ALEN]);

static inline bool
msh_mac_is_group(const uint8_t *mac)
{
	return (mac[0] & 1) != 0;
}

static inline bool
msh_mac_is_zero(const uint8_t *mac)
{
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0;
}

static inline bool
msh_ipv4_is_multicast(uint32_t ip)
{
	return (ip >> 28) == 0xE;
}

/** Netmask of a prefix length (0..32), host order. */
static inline uint32_t
msh_ipv4_mask(uint8_t prefix_len)
{
	return prefix_len == 0 ? 0 : prefix_len >= 32 ? 0xFFFFFFFFu : ~0u << (32 - prefix_len);
}

/** True when @p ip is on the interface's subnet (the interface's own address included). */
static inline bool
msh_ipv4_on_subnet(const struct msh_iface *ifc, uint32_t ip)
{
	return ((ip ^ ifc->ip) & msh_ipv4_mask(ifc->prefix_len)) == 0;
}

/*
 * Neighbour table: IPv4 address -> MAC for the peers on one port's subnet.
 * Fixed capacity, open addressing with linear probing over storage inside the
 * struct (no allocation). Times are in the caller's clock units (TSC cycles,
 * ms, ...); only differences are used, so the clock may wrap. When a new
 * address finds the table full, an expired or unresolved entry is dropped
 * first, else the one updated least recently. Single-threaded: one lcore owns it.
 */
#define MSH_NEIGH_MAX 256u		 /**< entries held at most */
#define MSH_NEIGH_SLOTS (2 * MSH_NEIGH_MAX) /**< power of two, load <= 1/2 */

struct msh_neigh_entry {
	uint64_t updated;   /**< last learn (resolved entries) */
	uint64_t requested; /**< last time need_request() said yes */
	uint32_t ip;	    /**< 0 = empty slot */
	uint8_t mac[MSH_ETH_ALEN];
	uint8_t resolved; /**< mac is valid (it may still have expired) */
	uint8_t asked;	  /**< requested is set */
};

struct msh_neigh {
	uint64_t timeout;	   /**< a resolved entry is valid this long after its learn */
	uint64_t request_interval; /**< least time between two requests for one address */
	uint32_t live;		   /**< occupied slots */
	uint32_t rsvd;
	uint64_t evicted; /**< entries dropped to make room */
	struct msh_neigh_entry slot[MSH_NEIGH_SLOTS];
};

/**
 * Empty the table. @p timeout: lifetime of a learnt MAC (e.g. 5 minutes);
 * @p request_interval: least time between ARP requests for one address (e.g. 1 s).
 * Both in the clock units later passed as @p now.
 */
void msh_neigh_init(struct msh_neigh *n, uint64_t timeout, uint64_t request_interval);

/**
 * Record that @p ip (host order) is at @p mac, valid until now + timeout.
 * Replaces a different MAC for the same address (the peer moved).
 * @return 0, or -EINVAL if ip is 0, broadcast or multicast or mac is zero or a group MAC.
 */
int msh_neigh_learn(struct msh_neigh *n, uint32_t ip, const uint8_t *mac, uint64_t now);

/**
 * Learn from a frame msh_frame_parse() accepted (@p kind > 0): an ARP sender,
 * or an IPv4 source, provided it is on @p ifc's subnet and not ifc's own
 * address (an off-subnet source's MAC is a router's). Negative kinds are ignored.
 * @return true when an entry was learnt or refreshed.
 */
bool msh_neigh_learn_frame(struct msh_neigh *n, const struct msh_iface *ifc,
			   const struct msh_frame *f, int kind, uint64_t now);

/** MAC of @p ip, or NULL if unknown, unresolved or expired. Valid until the next update. */
const uint8_t *msh_neigh_lookup(const struct msh_neigh *n, uint32_t ip, uint64_t now);

/**
 * Whether the caller should send an ARP request for @p ip now (it then calls
 * msh_arp_request_build()): false while the address has a valid MAC, and at
 * most once per request_interval per address. Records the request (adding an
 * unresolved entry if needed). Multicast and broadcast addresses never need one.
 */
bool msh_neigh_need_request(struct msh_neigh *n, uint32_t ip, uint64_t now);

/** Remove expired resolved entries and unresolved ones older than the timeout. */
uint32_t msh_neigh_expire(struct msh_neigh *n, uint64_t now);

#endif /* MSH_NET_H */
