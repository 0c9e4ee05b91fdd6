/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The packet layer declared in net.h: the drop-reason names generated from
 * foreach_msh_net_drop, Internet checksums, the Ethernet/ARP/IPv4/UDP/ICMP
 * parser, the frame builders and the neighbour table. The parser checks each
 * length against the frame before it reads the bytes it covers, and the IPv4
 * total length (not the frame length) bounds everything above L3, so
 * Ethernet padding is ignored. Builders check the capacity before they write.
 * No allocation, no DPDK.
 */
#include <errno.h>

#include "net.h"
#include "net_pvt.h"

static const char *const net_drop_names[MSH_NET_DROP_COUNT] = {
	[MSH_NET_DROP_NONE] = "none",
#define _(sym, str) [MSH_NET_DROP_##sym] = str,
	foreach_msh_net_drop
#undef _
};

const char *
msh_net_drop_str(int drop)
{
	return msh_reason_str(net_drop_names, MSH_ARRAY_SIZE(net_drop_names), drop,
			      "unknown drop reason");
}

static const uint8_t mac_broadcast[MSH_ETH_ALEN] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

/* Ethernet and IPv4 offsets: net_pvt.h. */

#define UDP_SPORT 0
#define UDP_DPORT 2
#define UDP_LEN 4
#define UDP_CSUM 6

#define ICMP_TYPE 0
#define ICMP_CODE 1
#define ICMP_CSUM 2
#define ICMP_ID 4
#define ICMP_SEQ 6
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8

#define ARP_HTYPE 0
#define ARP_PTYPE 2
#define ARP_HLEN 4
#define ARP_PLEN 5
#define ARP_OP 6
#define ARP_SHA 8
#define ARP_SPA 14
#define ARP_THA 18
#define ARP_TPA 24
#define ARP_HTYPE_ETHER 1

/*
 * Checksum. The sum is taken over native-order loads, 8 bytes at a time as two
 * 32-bit halves into a 64-bit accumulator (no carry is lost before 2^32
 * additions), then folded to 16 bits and byte-swapped to host order: the
 * one's complement sum commutes with byte swapping (RFC 1071, 2(B)).
 */
uint32_t
msh_csum_partial(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	uint64_t a0 = 0, a1 = 0;
	uint64_t acc;
	uint16_t s;

	while (len >= 32) {
		uint64_t v[4];

		memcpy(v, b, sizeof(v));
		a0 += (uint32_t)v[0];
		a1 += v[0] >> 32;
		a0 += (uint32_t)v[1];
		a1 += v[1] >> 32;
		a0 += (uint32_t)v[2];
		a1 += v[2] >> 32;
		a0 += (uint32_t)v[3];
		a1 += v[3] >> 32;
		b += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, b, sizeof(v));
		a0 += (uint32_t)v;
		a1 += v >> 32;
		b += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, b, sizeof(v));
		a0 += v;
		b += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;

		memcpy(&v, b, sizeof(v));
		a1 += v;
		b += 2;
		len -= 2;
	}
	/* A last odd byte is the high half of a big-endian word: pad with zero. */
	if (len == 1) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		a0 += b[0];
#else
		a0 += (uint32_t)b[0] << 8;
#endif
	}
	acc = (a0 & 0xFFFFFFFFu) + (a0 >> 32) + (a1 & 0xFFFFFFFFu) + (a1 >> 32);
	acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
	acc = (acc & 0xFFFFFFFFu) + (acc >> 32);
	acc = (acc & 0xFFFF) + (acc >> 16);
	acc = (acc & 0xFFFF) + (acc >> 16);
	acc = (acc & 0xFFFF) + (acc >> 16);
	s = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = __builtin_bswap16(s);
#endif
	sum = (sum & 0xFFFF) + (sum >> 16);
	sum = (sum & 0xFFFF) + (sum >> 16);
	return sum + s;
}

/* Address checks. */

static bool
mac_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, MSH_ETH_ALEN) == 0;
}

static bool
l2_dst_ok(const struct msh_iface *ifc, const uint8_t *dst)
{
	if (mac_eq(dst, ifc->mac) || mac_eq(dst, mac_broadcast))
		return true;
	return ifc->accept_multicast && msh_mac_is_group(dst);
}

/* Directed broadcast of our subnet (only prefixes up to /30 have one). */
static bool
ip_is_subnet_bcast(const struct msh_iface *ifc, uint32_t ip)
{
	uint32_t mask = msh_ipv4_mask(ifc->prefix_len);

	return ifc->prefix_len <= 30 && msh_ipv4_on_subnet(ifc, ip) && (ip | mask) == 0xFFFFFFFFu;
}

/* A source we could answer: not a martian (0/8, 127/8, 224/4 and above), not
 * a broadcast and not ourselves (a looped or spoofed frame). */
static bool
ip_src_ok(const struct msh_iface *ifc, uint32_t ip)
{
	uint32_t net = ip >> 24;

	if (net == 0 || net == 127 || net >= 224 || ip == ifc->ip)
		return false;
	return !ip_is_subnet_bcast(ifc, ip);
}

static bool
ip_dst_ok(const struct msh_iface *ifc, uint32_t ip)
{
	if ((ip == ifc->ip && ip != 0) || ip == MSH_IPV4_BROADCAST)
		return true;
	return ifc->accept_multicast && msh_ipv4_is_multicast(ip);
}

/* Parser. */

static int
arp_parse(const uint8_t *frame, uint32_t len, const struct msh_iface *ifc, struct msh_frame *f)
{
	const uint8_t *a = frame + MSH_ETH_HDR_LEN;
	uint16_t op;

	if (len - MSH_ETH_HDR_LEN < MSH_ARP_LEN)
		return -MSH_NET_DROP_SHORT;
	if (msh_load_be16(a + ARP_HTYPE) != ARP_HTYPE_ETHER ||
	    msh_load_be16(a + ARP_PTYPE) != MSH_ETHERTYPE_IPV4 || a[ARP_HLEN] != MSH_ETH_ALEN ||
	    a[ARP_PLEN] != 4)
		return -MSH_NET_DROP_ARP_BAD;
	op = msh_load_be16(a + ARP_OP);
	if (op != MSH_ARP_OP_REQUEST && op != MSH_ARP_OP_REPLY)
		return -MSH_NET_DROP_ARP_BAD;
	f->arp.op = op;
	memcpy(f->arp.sender_mac, a + ARP_SHA, MSH_ETH_ALEN);
	memcpy(f->arp.target_mac, a + ARP_THA, MSH_ETH_ALEN);
	f->arp.sender_ip = msh_load_be32(a + ARP_SPA);
	f->arp.target_ip = msh_load_be32(a + ARP_TPA);
	/* A reply to a group or zero MAC would go nowhere or everywhere. */
	if (msh_mac_is_group(f->arp.sender_mac) || msh_mac_is_zero(f->arp.sender_mac))
		return -MSH_NET_DROP_ARP_BAD;
	if (f->arp.target_ip != ifc->ip || ifc->ip == 0)
		return -MSH_NET_DROP_ARP_NOT_FOR_US;
	return MSH_FRAME_ARP;
}

static int
udp_parse(const uint8_t *frame, uint32_t l4_len, struct msh_frame *f)
{
	const uint8_t *u = frame + f->l4_off;
	uint16_t ulen;

	if (l4_len < MSH_UDP_HDR_LEN)
		return -MSH_NET_DROP_UDP_BAD_LEN;
	ulen = msh_load_be16(u + UDP_LEN);
	if (ulen != l4_len)
		return -MSH_NET_DROP_UDP_BAD_LEN;
	f->src_port = msh_load_be16(u + UDP_SPORT);
	f->dst_port = msh_load_be16(u + UDP_DPORT);
	/* Checksum 0: the sender computed none (RFC 768). */
	if (msh_load_be16(u + UDP_CSUM) != 0 &&
	    msh_inet_csum(u, ulen,
			  msh_ipv4_pseudo_sum(f->src_ip, f->dst_ip, MSH_IPPROTO_UDP, ulen)) != 0)
		return -MSH_NET_DROP_UDP_BAD_CSUM;
	f->payload = u + MSH_UDP_HDR_LEN;
	f->payload_len = ulen - MSH_UDP_HDR_LEN;
	return MSH_FRAME_UDP;
}

static int
icmp_parse(const uint8_t *frame, uint32_t l4_len, const struct msh_iface *ifc,
	   struct msh_frame *f)
{
	const uint8_t *c = frame + f->l4_off;

	if (l4_len < MSH_ICMP_ECHO_HDR_LEN || msh_inet_csum(c, l4_len, 0) != 0)
		return -MSH_NET_DROP_ICMP_BAD;
	if (c[ICMP_TYPE] != ICMP_ECHO_REQUEST || c[ICMP_CODE] != 0)
		return -MSH_NET_DROP_ICMP_NOT_ECHO;
	/* Like Linux's icmp_echo_ignore_broadcasts: no reply storms. */
	if (f->dst_ip != ifc->ip)
		return -MSH_NET_DROP_ICMP_NOT_UNICAST;
	f->icmp_id = msh_load_be16(c + ICMP_ID);
	f->icmp_seq = msh_load_be16(c + ICMP_SEQ);
	f->payload = c + MSH_ICMP_ECHO_HDR_LEN;
	f->payload_len = l4_len - MSH_ICMP_ECHO_HDR_LEN;
	return MSH_FRAME_ICMP_ECHO;
}

static int
ipv4_parse(const uint8_t *frame, uint32_t len, const struct msh_iface *ifc, struct msh_frame *f)
{
	const uint8_t *ip = frame + MSH_ETH_HDR_LEN;
	uint32_t avail = len - MSH_ETH_HDR_LEN;
	uint32_t hlen, tot;

	if (avail < MSH_IPV4_HDR_LEN)
		return -MSH_NET_DROP_SHORT;
	if ((ip[IP_VIHL] >> 4) != 4 || (ip[IP_VIHL] & 0xF) < 5)
		return -MSH_NET_DROP_IP_BAD_HDR;
	hlen = (uint32_t)(ip[IP_VIHL] & 0xF) * 4;
	tot = msh_load_be16(ip + IP_TOTLEN);
	/* The total length, not the frame length, bounds the datagram: bytes
	 * past it are Ethernet padding. */
	if (tot < hlen || tot > avail)
		return -MSH_NET_DROP_IP_BAD_HDR;
	if (msh_inet_csum(ip, hlen, 0) != 0)
		return -MSH_NET_DROP_IP_BAD_CSUM;
	if (msh_load_be16(ip + IP_FRAG) & (IP_F_MF | IP_OFFSET_MASK))
		return -MSH_NET_DROP_IP_FRAGMENT;
	f->ip_len = (uint16_t)tot;
	f->l4_off = (uint16_t)(MSH_ETH_HDR_LEN + hlen);
	f->ttl = ip[IP_TTL];
	f->proto = ip[IP_PROTO];
	f->src_ip = msh_load_be32(ip + IP_SRC);
	f->dst_ip = msh_load_be32(ip + IP_DST);
	if (!ip_src_ok(ifc, f->src_ip))
		return -MSH_NET_DROP_IP_BAD_SRC;
	if (!ip_dst_ok(ifc, f->dst_ip))
		return -MSH_NET_DROP_IP_NOT_FOR_US;
	switch (f->proto) {
	case MSH_IPPROTO_UDP:
		return udp_parse(frame, tot - hlen, f);
	case MSH_IPPROTO_ICMP:
		return icmp_parse(frame, tot - hlen, ifc, f);
	default:
		return -MSH_NET_DROP_IP_PROTO;
	}
}

int
msh_frame_parse(const uint8_t *frame, uint32_t len, const struct msh_iface *ifc,
		struct msh_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (MSH_UNLIKELY(len < MSH_ETH_HDR_LEN))
		return -MSH_NET_DROP_SHORT;
	memcpy(f->dst_mac, frame + ETH_DST, MSH_ETH_ALEN);
	memcpy(f->src_mac, frame + ETH_SRC, MSH_ETH_ALEN);
	f->ethertype = msh_load_be16(frame + ETH_TYPE);
	if (!l2_dst_ok(ifc, f->dst_mac))
		return -MSH_NET_DROP_NOT_OUR_MAC;
	if (msh_mac_is_group(f->src_mac) || msh_mac_is_zero(f->src_mac))
		return -MSH_NET_DROP_BAD_SRC_MAC;
	f->l3_off = MSH_ETH_HDR_LEN;
	switch (f->ethertype) {
	case MSH_ETHERTYPE_IPV4:
		return ipv4_parse(frame, len, ifc, f);
	case MSH_ETHERTYPE_ARP:
		return arp_parse(frame, len, ifc, f);
	case MSH_ETHERTYPE_VLAN:
	case MSH_ETHERTYPE_QINQ:
	case MSH_ETHERTYPE_QINQ_OLD:
		return -MSH_NET_DROP_VLAN;
	default:
		return -MSH_NET_DROP_ETHERTYPE;
	}
}

/* Builders. */

static void
eth_write(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(buf + ETH_DST, dst, MSH_ETH_ALEN);
	memcpy(buf + ETH_SRC, src, MSH_ETH_ALEN);
	msh_store_be16(buf + ETH_TYPE, type);
}

/* A 20-byte IPv4 header: ID 0 with DF (RFC 6864 allows it for atomic
 * datagrams), checksum included. */
static void
ipv4_hdr_write(uint8_t *ip, uint16_t tot, uint8_t proto, uint8_t ttl, uint32_t src, uint32_t dst)
{
	ip[IP_VIHL] = 0x45;
	ip[IP_TOS] = 0;
	msh_store_be16(ip + IP_TOTLEN, tot);
	msh_store_be16(ip + IP_ID, 0);
	msh_store_be16(ip + IP_FRAG, IP_F_DF);
	ip[IP_TTL] = ttl;
	ip[IP_PROTO] = proto;
	msh_store_be16(ip + IP_CSUM, 0);
	msh_store_be32(ip + IP_SRC, src);
	msh_store_be32(ip + IP_DST, dst);
	msh_store_be16(ip + IP_CSUM, msh_inet_csum(ip, MSH_IPV4_HDR_LEN, 0));
}

int
msh_udp_hdr_build(uint8_t *buf, size_t cap, const struct msh_udp_flow *fl, uint16_t payload_len)
{
	uint8_t *u = buf + MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN;

	if (payload_len > MSH_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (cap < (size_t)MSH_UDP_HDRS_LEN + payload_len)
		return -ENOSPC;
	eth_write(buf, fl->dst_mac, fl->src_mac, MSH_ETHERTYPE_IPV4);
	ipv4_hdr_write(buf + MSH_ETH_HDR_LEN,
		       (uint16_t)(MSH_IPV4_HDR_LEN + MSH_UDP_HDR_LEN + payload_len),
		       MSH_IPPROTO_UDP, fl->ttl ? fl->ttl : MSH_IPV4_DEFAULT_TTL, fl->src_ip,
		       fl->dst_ip);
	msh_store_be16(u + UDP_SPORT, fl->src_port);
	msh_store_be16(u + UDP_DPORT, fl->dst_port);
	msh_store_be16(u + UDP_LEN, (uint16_t)(MSH_UDP_HDR_LEN + payload_len));
	msh_store_be16(u + UDP_CSUM, 0);
	return MSH_UDP_HDRS_LEN;
}

void
msh_udp_csum_fill(uint8_t *frame, uint32_t frame_len)
{
	const uint8_t *ip = frame + MSH_ETH_HDR_LEN;
	uint32_t hlen, ulen;
	uint16_t c;
	uint8_t *u;

	if (frame_len < MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN ||
	    msh_load_be16(frame + ETH_TYPE) != MSH_ETHERTYPE_IPV4 ||
	    ip[IP_PROTO] != MSH_IPPROTO_UDP)
		return;
	hlen = (uint32_t)(ip[IP_VIHL] & 0xF) * 4;
	if (hlen < MSH_IPV4_HDR_LEN || frame_len < MSH_ETH_HDR_LEN + hlen + MSH_UDP_HDR_LEN)
		return;
	u = frame + MSH_ETH_HDR_LEN + hlen;
	ulen = msh_load_be16(u + UDP_LEN);
	if (ulen < MSH_UDP_HDR_LEN || MSH_ETH_HDR_LEN + hlen + ulen > frame_len)
		return;
	msh_store_be16(u + UDP_CSUM, 0);
	c = msh_inet_csum(u, ulen,
			  msh_ipv4_pseudo_sum(msh_load_be32(ip + IP_SRC),
					      msh_load_be32(ip + IP_DST), MSH_IPPROTO_UDP,
					      (uint16_t)ulen));
	/* 0 on the wire means "no checksum" (RFC 768): send its other form. */
	msh_store_be16(u + UDP_CSUM, c ? c : 0xFFFF);
}

static void
arp_write(uint8_t *buf, const uint8_t *eth_dst, const struct msh_iface *ifc, uint16_t op,
	  const uint8_t *tha, uint32_t tpa)
{
	uint8_t *a = buf + MSH_ETH_HDR_LEN;

	eth_write(buf, eth_dst, ifc->mac, MSH_ETHERTYPE_ARP);
	msh_store_be16(a + ARP_HTYPE, ARP_HTYPE_ETHER);
	msh_store_be16(a + ARP_PTYPE, MSH_ETHERTYPE_IPV4);
	a[ARP_HLEN] = MSH_ETH_ALEN;
	a[ARP_PLEN] = 4;
	msh_store_be16(a + ARP_OP, op);
	memcpy(a + ARP_SHA, ifc->mac, MSH_ETH_ALEN);
	msh_store_be32(a + ARP_SPA, ifc->ip);
	memcpy(a + ARP_THA, tha, MSH_ETH_ALEN);
	msh_store_be32(a + ARP_TPA, tpa);
	memset(buf + MSH_ETH_HDR_LEN + MSH_ARP_LEN, 0,
	       MSH_ETH_MIN_LEN - MSH_ETH_HDR_LEN - MSH_ARP_LEN);
}

int
msh_arp_reply_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc,
		    const struct msh_frame *req)
{
	uint8_t tha[MSH_ETH_ALEN];
	uint32_t tpa = req->arp.sender_ip;

	if (req->ethertype != MSH_ETHERTYPE_ARP || req->arp.op != MSH_ARP_OP_REQUEST ||
	    req->arp.target_ip != ifc->ip || ifc->ip == 0 ||
	    msh_mac_is_group(req->arp.sender_mac) || msh_mac_is_zero(req->arp.sender_mac))
		return -EINVAL;
	if (cap < MSH_ETH_MIN_LEN)
		return -ENOSPC;
	/* Copied first: req may describe buf itself (reply built in place). */
	memcpy(tha, req->arp.sender_mac, MSH_ETH_ALEN);
	arp_write(buf, tha, ifc, MSH_ARP_OP_REPLY, tha, tpa);
	return MSH_ETH_MIN_LEN;
}

int
msh_arp_request_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc, uint32_t target_ip)
{
	static const uint8_t unknown[MSH_ETH_ALEN];

	if (cap < MSH_ETH_MIN_LEN)
		return -ENOSPC;
	arp_write(buf, mac_broadcast, ifc, MSH_ARP_OP_REQUEST, unknown, target_ip);
	return MSH_ETH_MIN_LEN;
}

int
msh_icmp_echo_reply_build(uint8_t *buf, size_t cap, const struct msh_iface *ifc,
			  const uint8_t *req_frame, const struct msh_frame *f)
{
	const uint32_t hdrs = MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN + MSH_ICMP_ECHO_HDR_LEN;
	uint8_t *c = buf + MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN;
	uint8_t dst_mac[MSH_ETH_ALEN];
	uint32_t dst_ip = f->src_ip;
	uint16_t id = f->icmp_id, seq = f->icmp_seq;
	uint32_t plen = f->payload_len;
	uint32_t len, frame_len;

	if (f->ethertype != MSH_ETHERTYPE_IPV4 || f->proto != MSH_IPPROTO_ICMP ||
	    f->l4_off < MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN ||
	    plen > 65535u - MSH_IPV4_HDR_LEN - MSH_ICMP_ECHO_HDR_LEN)
		return -EINVAL;
	len = hdrs + plen;
	frame_len = MSH_MAX(len, (uint32_t)MSH_ETH_MIN_LEN);
	if (cap < frame_len)
		return -ENOSPC;
	memcpy(dst_mac, f->src_mac, MSH_ETH_ALEN);
	/* Data first: built in place, it moves left over the request's options
	 * (or stays) before the headers overwrite the request's. */
	memmove(buf + hdrs, req_frame + f->l4_off + MSH_ICMP_ECHO_HDR_LEN, plen);
	memset(buf + len, 0, frame_len - len);
	eth_write(buf, dst_mac, ifc->mac, MSH_ETHERTYPE_IPV4);
	ipv4_hdr_write(buf + MSH_ETH_HDR_LEN,
		       (uint16_t)(MSH_IPV4_HDR_LEN + MSH_ICMP_ECHO_HDR_LEN + plen),
		       MSH_IPPROTO_ICMP, MSH_IPV4_DEFAULT_TTL, ifc->ip, dst_ip);
	c[ICMP_TYPE] = ICMP_ECHO_REPLY;
	c[ICMP_CODE] = 0;
	msh_store_be16(c + ICMP_CSUM, 0);
	msh_store_be16(c + ICMP_ID, id);
	msh_store_be16(c + ICMP_SEQ, seq);
	msh_store_be16(c + ICMP_CSUM, msh_inet_csum(c, MSH_ICMP_ECHO_HDR_LEN + plen, 0));
	return (int)frame_len;
}

void
msh_ipv4_mcast_mac(uint32_t ip, uint8_t mac[MSH_ETH_ALEN])
{
	mac[0] = 0x01;
	mac[1] = 0x00;
	mac[2] = 0x5E;
	mac[3] = (uint8_t)((ip >> 16) & 0x7F);
	mac[4] = (uint8_t)(ip >> 8);
	mac[5] = (uint8_t)ip;
}

/* Neighbour table. */

_Static_assert((MSH_NEIGH_SLOTS & (MSH_NEIGH_SLOTS - 1)) == 0, "slots must be a power of two");
_Static_assert(MSH_NEIGH_MAX < MSH_NEIGH_SLOTS, "an empty slot must end every probe");

#define NEIGH_MASK (MSH_NEIGH_SLOTS - 1)

static uint32_t
neigh_home(uint32_t ip)
{
	/* Fibonacci hashing: consecutive addresses spread over the table. */
	return (uint32_t)(((uint64_t)(ip * 0x9E3779B1u) * MSH_NEIGH_SLOTS) >> 32);
}

static int
neigh_find(const struct msh_neigh *n, uint32_t ip)
{
	for (uint32_t i = neigh_home(ip);; i = (i + 1) & NEIGH_MASK) {
		if (n->slot[i].ip == ip)
			return (int)i;
		if (n->slot[i].ip == 0)
			return -1;
	}
}

static bool
neigh_expired(const struct msh_neigh *n, const struct msh_neigh_entry *e, uint64_t now)
{
	if (e->resolved)
		return now - e->updated >= n->timeout;
	return now - e->requested >= n->timeout;
}

/* Backward-shift deletion (Knuth's algorithm R): no tombstones, so probes stay
 * short. An entry moves into the hole unless its home lies cyclically in
 * (hole, its slot]. */
static void
neigh_remove(struct msh_neigh *n, uint32_t i)
{
	uint32_t j = i;

	for (;;) {
		n->slot[i].ip = 0;
		for (;;) {
			uint32_t k;

			j = (j + 1) & NEIGH_MASK;
			if (n->slot[j].ip == 0) {
				n->live--;
				return;
			}
			k = neigh_home(n->slot[j].ip);
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		n->slot[i] = n->slot[j];
		i = j;
	}
}

uint32_t
msh_neigh_expire(struct msh_neigh *n, uint64_t now)
{
	uint32_t removed = 0;

	/* A removal may shift a later entry into slot i: look at i again. */
	for (uint32_t i = 0; i < MSH_NEIGH_SLOTS; i++) {
		while (n->slot[i].ip != 0 && neigh_expired(n, &n->slot[i], now)) {
			neigh_remove(n, i);
			removed++;
		}
	}
	return removed;
}

/* Free one entry: expired ones, else the oldest unresolved, else the resolved
 * one learnt least recently. */
static void
neigh_make_room(struct msh_neigh *n, uint64_t now)
{
	uint64_t best_age = 0;
	int victim = -1;
	bool victim_resolved = true;

	if (msh_neigh_expire(n, now) > 0)
		return;
	for (uint32_t i = 0; i < MSH_NEIGH_SLOTS; i++) {
		const struct msh_neigh_entry *e = &n->slot[i];
		uint64_t age;

		if (e->ip == 0)
			continue;
		age = now - (e->resolved ? e->updated : e->requested);
		if (victim < 0 || (victim_resolved && !e->resolved) ||
		    (victim_resolved == (bool)e->resolved && age > best_age)) {
			victim = (int)i;
			victim_resolved = e->resolved;
			best_age = age;
		}
	}
	neigh_remove(n, (uint32_t)victim);
	n->evicted++;
}

/* Add @p ip, known absent; returns its entry with times and MAC cleared. */
static struct msh_neigh_entry *
neigh_insert(struct msh_neigh *n, uint32_t ip, uint64_t now)
{
	uint32_t i;

	if (n->live >= MSH_NEIGH_MAX)
		neigh_make_room(n, now);
	for (i = neigh_home(ip); n->slot[i].ip != 0; i = (i + 1) & NEIGH_MASK)
		;
	memset(&n->slot[i], 0, sizeof(n->slot[i]));
	n->slot[i].ip = ip;
	n->live++;
	return &n->slot[i];
}

void
msh_neigh_init(struct msh_neigh *n, uint64_t timeout, uint64_t request_interval)
{
	memset(n, 0, sizeof(*n));
	n->timeout = timeout;
	n->request_interval = request_interval;
}

static bool
neigh_ip_ok(uint32_t ip)
{
	return ip != 0 && ip != MSH_IPV4_BROADCAST && !msh_ipv4_is_multicast(ip);
}

int
msh_neigh_learn(struct msh_neigh *n, uint32_t ip, const uint8_t *mac, uint64_t now)
{
	struct msh_neigh_entry *e;
	int i;

	if (!neigh_ip_ok(ip) || msh_mac_is_group(mac) || msh_mac_is_zero(mac))
		return -EINVAL;
	i = neigh_find(n, ip);
	e = i >= 0 ? &n->slot[i] : neigh_insert(n, ip, now);
	memcpy(e->mac, mac, MSH_ETH_ALEN);
	e->resolved = 1;
	e->updated = now;
	return 0;
}

bool
msh_neigh_learn_frame(struct msh_neigh *n, const struct msh_iface *ifc, const struct msh_frame *f,
		      int kind, uint64_t now)
{
	const uint8_t *mac;
	uint32_t ip;

	switch (kind) {
	case MSH_FRAME_ARP:
		ip = f->arp.sender_ip;
		mac = f->arp.sender_mac;
		break;
	case MSH_FRAME_UDP:
	case MSH_FRAME_ICMP_ECHO:
		ip = f->src_ip;
		mac = f->src_mac;
		break;
	default:
		return false;
	}
	if (ip == ifc->ip || !msh_ipv4_on_subnet(ifc, ip) || ip_is_subnet_bcast(ifc, ip))
		return false;
	return msh_neigh_learn(n, ip, mac, now) == 0;
}

const uint8_t *
msh_neigh_lookup(const struct msh_neigh *n, uint32_t ip, uint64_t now)
{
	const struct msh_neigh_entry *e;
	int i;

	if (ip == 0)
		return NULL;
	i = neigh_find(n, ip);
	if (i < 0)
		return NULL;
	e = &n->slot[i];
	if (!e->resolved || now - e->updated >= n->timeout)
		return NULL;
	return e->mac;
}

bool
msh_neigh_need_request(struct msh_neigh *n, uint32_t ip, uint64_t now)
{
	struct msh_neigh_entry *e;
	int i;

	if (!neigh_ip_ok(ip))
		return false;
	i = neigh_find(n, ip);
	if (i < 0) {
		e = neigh_insert(n, ip, now);
	} else {
		e = &n->slot[i];
		if (e->resolved && now - e->updated < n->timeout)
			return false;
		if (e->asked && now - e->requested < n->request_interval)
			return false;
	}
	e->asked = 1;
	e->requested = now;
	return true;
}
