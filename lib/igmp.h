/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * IGMP for the host side of a DPDK port that has no kernel to join groups for
 * it: builders of complete Ethernet frames for IGMPv3 Membership Reports
 * (RFC 3376 §4.2) and IGMPv2 Membership Reports and Leave Group messages
 * (RFC 2236), all with TTL 1 and the Router Alert option (RFC 2113); a parser
 * of IGMP messages (queries v1/v2/v3, reports v1/v2/v3, leaves) from either the
 * IPv4 payload or the whole frame, with checksums verified and failures named
 * by one X-macro list; the decoding of the v3 Max Resp Code and QQIC; and a
 * pure timer rule for scheduling the answer to a query. Group MACs and the
 * multicast test are net.h's msh_ipv4_mcast_mac() and msh_ipv4_is_multicast().
 * Works on plain byte buffers, holds no state, allocates nothing, is
 * thread-safe; parsers never read past the length they are given, builders
 * never write past the capacity. Addresses are host order throughout.
 */
#ifndef MSH_IGMP_H
#define MSH_IGMP_H

#include "common.h"
#include "net.h"

#define MSH_IPPROTO_IGMP 2

#define MSH_IGMP_ALL_HOSTS 0xE0000001u	 /**< 224.0.0.1: general queries */
#define MSH_IGMP_ALL_ROUTERS 0xE0000002u /**< 224.0.0.2: IGMPv2 Leave Group */
#define MSH_IGMP_V3_ROUTERS 0xE0000016u	 /**< 224.0.0.22: IGMPv3 reports */

/** IPv4 header of every IGMP frame built here: 20 bytes + Router Alert (IHL 6). */
#define MSH_IGMP_IP_HDR_LEN 24
/** Ethernet + IPv4 with Router Alert: where the IGMP message starts in a built frame. */
#define MSH_IGMP_HDRS_LEN (MSH_ETH_HDR_LEN + MSH_IGMP_IP_HDR_LEN)
/** IGMPv1/v2 message, and the shortest IGMP message of any version. */
#define MSH_IGMP_V2_LEN 8
/** Shortest IGMPv3 query (no sources). */
#define MSH_IGMP_V3_QUERY_LEN 12
/** IGMPv3 report header, before its group records. */
#define MSH_IGMP_V3_REPORT_HDR_LEN 8
/** IGMPv3 group record header, before its sources. */
#define MSH_IGMP_V3_REC_HDR_LEN 8

/** IGMP message types (first byte of the message). */
#define MSH_IGMP_TYPE_QUERY 0x11
#define MSH_IGMP_TYPE_V1_REPORT 0x12
#define MSH_IGMP_TYPE_V2_REPORT 0x16
#define MSH_IGMP_TYPE_V2_LEAVE 0x17
#define MSH_IGMP_TYPE_V3_REPORT 0x22

/**
 * IGMPv3 group record types (RFC 3376 §4.2.12). MODE_IS_* answer a query
 * (current state); the others report a change. Any-source join:
 * CHANGE_TO_EXCLUDE with no sources; any-source leave: CHANGE_TO_INCLUDE with
 * no sources. Source-specific (SSM) join: ALLOW_NEW_SOURCES (or
 * CHANGE_TO_INCLUDE) with the sources; SSM leave: BLOCK_OLD_SOURCES with them.
 */
enum msh_igmp_rec_type {
	MSH_IGMP_MODE_IS_INCLUDE = 1,
	MSH_IGMP_MODE_IS_EXCLUDE = 2,
	MSH_IGMP_CHANGE_TO_INCLUDE = 3,
	MSH_IGMP_CHANGE_TO_EXCLUDE = 4,
	MSH_IGMP_ALLOW_NEW_SOURCES = 5,
	MSH_IGMP_BLOCK_OLD_SOURCES = 6,
};

/** One group record to build: @p src holds @p n_src source addresses (host order). */
struct msh_igmp_record {
	uint8_t type; /**< enum msh_igmp_rec_type */
	uint32_t group;
	uint16_t n_src;
	const uint32_t *src; /**< may be NULL when n_src is 0 */
};

/**
 * Frame length msh_igmp_v3_report_build() needs for these records: headers,
 * records and sources, padded to MSH_ETH_MIN_LEN. Computed in 64 bits, so it
 * is exact even when the report would be too large to send. A caller that must
 * stay within an MTU splits its records over several reports with it.
 */
uint64_t msh_igmp_v3_report_len(const struct msh_igmp_record *recs, uint16_t n);

/**
 * Build an IGMPv3 Membership Report as a complete Ethernet frame: from
 * @p src_mac to 01:00:5e:00:00:16, IPv4 from @p src_ip (0 is allowed, RFC 3376
 * §4.2.13) to 224.0.0.22, TOS 0xC0, ID 0 with DF, TTL 1, Router Alert, protocol
 * 2, both checksums computed; then the @p n records in order, each with aux
 * data length 0. Frames shorter than MSH_ETH_MIN_LEN are padded with zeros.
 * @return the frame length (msh_igmp_v3_report_len()), or
 *         -EINVAL if @p n is 0, @p recs is NULL, @p src_mac is a group or zero
 *         MAC, @p src_ip is multicast or broadcast, a record has an unknown
 *         type, a group that is not multicast or is 224.0.0.1 (never reported,
 *         RFC 3376 §5), sources but a NULL @p src, or
 *         is ALLOW_NEW_SOURCES / BLOCK_OLD_SOURCES with no source (RFC 3376
 *         §5.1 never sends those), or a source that is 0, multicast or
 *         broadcast;
 *         -EMSGSIZE if the IP datagram would exceed 65535 bytes;
 *         -ENOSPC if it does not fit in @p cap (nothing is written then).
 */
int msh_igmp_v3_report_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			     uint32_t src_ip, const struct msh_igmp_record *recs, uint16_t n);

/** Frame length of an IGMPv2 report or leave: 46 bytes padded to MSH_ETH_MIN_LEN. */
#define MSH_IGMP_V2_FRAME_LEN MSH_ETH_MIN_LEN

/**
 * Build an IGMPv2 Membership Report (type 0x16) for @p group, sent to the
 * group itself (IPv4 dst @p group, MAC msh_ipv4_mcast_mac(group)). Same IPv4
 * header as the v3 report (TTL 1, Router Alert, TOS 0xC0, DF); Max Resp Time 0.
 * @return MSH_IGMP_V2_FRAME_LEN, -EINVAL if @p group is not multicast or is
 *         224.0.0.1 (never reported, RFC 2236 §6), @p src_mac is a group or zero
 *         MAC, or @p src_ip is multicast or broadcast; -ENOSPC if @p cap is
 *         smaller than the frame.
 */
int msh_igmp_v2_report_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			     uint32_t src_ip, uint32_t group);

/**
 * Build an IGMPv2 Leave Group (type 0x17) for @p group, sent to 224.0.0.2
 * (MAC 01:00:5e:00:00:02); otherwise as msh_igmp_v2_report_build(), with the
 * same return values.
 */
int msh_igmp_v2_leave_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			    uint32_t src_ip, uint32_t group);

/* Why an IGMP packet was rejected. 0 is success; the parsers return the
 * negative value. The same list names the drop counters. Checked in this
 * order, except that SHORT is also the first message check; NOT_IPV4 to
 * NOT_IGMP come only from msh_igmp_frame_parse(). */
#define foreach_msh_igmp_err                                                                       \
	_(SHORT, "shorter than its Ethernet or IPv4 header, or an IGMP message under 8 bytes")     \
	_(NOT_IPV4, "ethertype not IPv4 (VLAN tagged frames are not supported)")                   \
	_(IP_BAD_HDR, "IPv4 version, IHL, total length or options invalid")                        \
	_(IP_BAD_CSUM, "IPv4 header checksum wrong")                                               \
	_(IP_FRAGMENT, "IPv4 fragment (MF flag or offset)")                                        \
	_(NOT_IGMP, "IP protocol not IGMP (2)")                                                    \
	_(BAD_CSUM, "IGMP checksum wrong")                                                         \
	_(BAD_TYPE, "IGMP message type unknown")                                                   \
	_(BAD_LEN, "IGMP length wrong: a query of 9 to 11 bytes, sources or records past the end") \
	_(BAD_GROUP, "group not multicast, or a general query (group 0) that lists sources")

enum msh_igmp_err {
	MSH_IGMP_OK = 0,
#define _(sym, str) MSH_IGMP_E_##sym,
	foreach_msh_igmp_err
#undef _
	MSH_IGMP_E_COUNT
};

/** Text of an IGMP parse error (positive or negative value accepted; 0 is "ok"). */
const char *msh_igmp_err_str(int err);

/** What a parser found (positive return), by type and, for queries, length (RFC 3376 §7.1). */
enum msh_igmp_kind {
	MSH_IGMP_QUERY_V1 = 1, /**< 8 bytes, Max Resp Code 0 */
	MSH_IGMP_QUERY_V2 = 2, /**< 8 bytes, Max Resp Code not 0 */
	MSH_IGMP_QUERY_V3 = 3, /**< 12 bytes or more */
	MSH_IGMP_REPORT_V1 = 4,
	MSH_IGMP_REPORT_V2 = 5,
	MSH_IGMP_LEAVE_V2 = 6,
	MSH_IGMP_REPORT_V3 = 7,
};

/** Which memberships a query asks about. */
enum msh_igmp_scope {
	MSH_IGMP_GENERAL = 0,	   /**< group 0: every group */
	MSH_IGMP_GROUP = 1,	   /**< one group, any source */
	MSH_IGMP_GROUP_SOURCE = 2, /**< one group, the listed sources (v3 only) */
};

/** Parsed view of an IGMP message: numbers host order, pointers into the message. */
struct msh_igmp {
	uint8_t type;	       /**< MSH_IGMP_TYPE_* */
	uint8_t scope;	       /**< queries: enum msh_igmp_scope */
	uint8_t max_resp_code; /**< as received (v2 Max Resp Time, v3 Max Resp Code) */
	uint8_t s_flag;	       /**< v3 query: Suppress Router-Side Processing */
	uint8_t qrv;	       /**< v3 query: Querier's Robustness Variable, 0..7 */
	uint8_t qqic;	       /**< v3 query: QQIC as received */
	uint16_t n_src;	       /**< v3 query: sources listed */
	uint16_t n_rec;	       /**< v3 report: group records */
	/** Queries (0 = general; always 0 in a v1 query, whose field is ignored), v1/v2
	 *  reports and leaves. */
	uint32_t group;
	/** Queries: Max Response Time in 1/10 s, decoded (v1: the implied 100, i.e. 10 s). */
	uint32_t max_resp_ds;
	uint32_t qqi_s;	    /**< v3 query: Querier's Query Interval in seconds, decoded */
	const uint8_t *src; /**< v3 query: n_src addresses, read them with msh_igmp_src() */
	const uint8_t *rec; /**< v3 report: n_rec records, walk them with msh_igmp_rec_next() */
	uint32_t rec_len;   /**< v3 report: bytes of the records (trailing data excluded) */
	uint32_t len;	    /**< the IGMP message length */
	/* Filled by msh_igmp_frame_parse() only (zero after msh_igmp_parse()). */
	uint8_t src_mac[MSH_ETH_ALEN];
	uint8_t ttl;
	bool router_alert; /**< the IPv4 header carries a Router Alert option */
	uint32_t src_ip;
	uint32_t dst_ip;
};

/**
 * Parse and validate the IGMP message at @p msg of @p len bytes: the IPv4
 * payload, i.e. IP total length minus the header length, so Ethernet padding is
 * not included. Checks, in this order: at least 8 bytes; the checksum over the
 * whole message (RFC 3376 §4.1.2, RFC 2236 §2.3); a known type; for a query, a
 * length of 8 (v1 or v2 by Max Resp Code) or of at least 12 plus 4 per source
 * (v3), anything else is -BAD_LEN (RFC 3376 §7.1); the group (0 or multicast
 * in a query, sources only with a group; multicast in v1/v2 reports and
 * leaves); for a v3 report, that every group record, auxiliary data and sources
 * included, lies within the message. Bytes after the fields are covered by the
 * checksum and otherwise ignored (RFC 3376 §4.1.10, §4.2.11; RFC 2236 §2.5).
 * Group records of unknown type are not an error (§4.2.12: ignored).
 *
 * @p m is zeroed first and filled as far as parsing got.
 * @return an enum msh_igmp_kind, or a negative enum msh_igmp_err.
 */
int msh_igmp_parse(const uint8_t *msg, uint32_t len, struct msh_igmp *m);

/**
 * Parse a whole Ethernet frame of @p len bytes that carries IGMP: untagged
 * IPv4 ethertype; IPv4 version 4, IHL >= 5, total length within the frame
 * (bytes past it are padding), well-formed options (Router Alert is noted in
 * m->router_alert), header checksum, not a fragment, protocol 2; then
 * msh_igmp_parse() on the payload. Addresses are not filtered: RFC 3376 §4.1.12
 * requires accepting queries to any of the interface's addresses, and §9.1
 * advises ignoring general queries not sent to 224.0.0.1 and v2/v3 queries
 * without Router Alert: m->dst_ip and m->router_alert let the caller apply it.
 * @return as msh_igmp_parse(), with the frame-level errors first.
 */
int msh_igmp_frame_parse(const uint8_t *frame, uint32_t len, struct msh_igmp *m);

/** Source address @p i (host order) of a list such as m->src or a record's src. */
static inline uint32_t
msh_igmp_src(const uint8_t *src, uint16_t i)
{
	return msh_load_be32(src + 4 * (uint32_t)i);
}

/** One group record of a parsed v3 report; src points into the message. */
struct msh_igmp_rec_view {
	uint8_t type;	   /**< possibly not an enum msh_igmp_rec_type: then ignore it */
	uint8_t aux_words; /**< auxiliary data length, in 32-bit words */
	uint16_t n_src;
	uint32_t group;
	const uint8_t *src; /**< n_src addresses, read them with msh_igmp_src() */
};

/**
 * Walk the group records of a v3 report that msh_igmp_parse() accepted: set
 * *@p pos to 0, then each call fills @p r with the next record. The bounds were
 * checked by the parser, so this cannot read outside the message.
 * @return true while a record was returned, false after the last one (or if
 *         @p m is not a v3 report).
 */
bool msh_igmp_rec_next(const struct msh_igmp *m, uint32_t *pos, struct msh_igmp_rec_view *r);

/**
 * Decode an IGMPv3 Max Resp Code (result in 1/10 s) or QQIC (result in
 * seconds), RFC 3376 §4.1.1 and §4.1.7: a code below 128 is the value itself;
 * from 128 on, 1|exp(3)|mant(4) means (mant | 0x10) << (exp + 3), 128 to 31744.
 */
static inline uint32_t
msh_igmp_v3_code_decode(uint8_t code)
{
	if (code < 128)
		return code;
	return ((uint32_t)(code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3);
}

/**
 * Delay before answering a query: uniform in [0, @p max_resp) from the
 * caller's random value @p rnd (any 64-bit value; a multiply-shift, so no
 * division and no modulo bias worth the name). 0 when @p max_resp is 0. Units
 * are the caller's (1/10 s, ms, TSC cycles).
 */
static inline uint64_t
msh_igmp_resp_delay(uint64_t max_resp, uint64_t rnd)
{
	return (uint64_t)(((unsigned __int128)rnd * max_resp) >> 64);
}

/**
 * When to send the answer to a query that allows @p max_resp, received at
 * @p now: a pending answer (@p pending, due at @p due) that fires no later than
 * the newly drawn delay is kept, else the answer is due at now + delay (RFC
 * 3376 §5.2 rules 1-2, RFC 2236 §3). Times are in the caller's clock units and
 * only differences are used, so the clock may wrap; a pending answer already
 * overdue is kept. Pure: the caller stores the result in its per-group (or
 * per-interface, for general queries) timer.
 * @return the time the answer is due.
 */
static inline uint64_t
msh_igmp_timer_due(bool pending, uint64_t due, uint64_t now, uint64_t max_resp, uint64_t rnd)
{
	uint64_t delay = msh_igmp_resp_delay(max_resp, rnd);

	if (pending && (int64_t)(due - now) <= (int64_t)delay)
		return due;
	return now + delay;
}

#endif /* MSH_IGMP_H */
