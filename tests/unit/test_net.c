/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/net: Internet checksums against a plain RFC 1071
 * reference, UDP frames built and parsed back, a frame written out by hand,
 * every drop reason, truncation at every length (exact-size heap copies, so
 * AddressSanitizer sees any overread), Ethernet padding and IPv4 options, ARP
 * request/reply and ICMP echo exchanges, the neighbour table (learn, lookup,
 * expiry, capacity, request rate limit, against a model), multicast MACs, and
 * a seeded mutation fuzz loop that checks what the parser accepts.
 */
#include <errno.h>

#include "net.h"
#include "testutil.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))

static const struct msh_iface us = {
	.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
	.ip = IP4(10, 11, 0, 1),
	.prefix_len = 24,
};

static const struct msh_iface peer = {
	.mac = {0x3c, 0xfd, 0xfe, 0xaa, 0xbb, 0xcc},
	.ip = IP4(10, 11, 0, 2),
	.prefix_len = 24,
};

/* A UDP datagram from peer 10.11.0.2:47001 to us 10.11.0.1:9000 carrying
 * "MSH publish: hello, shard!", ID 0x1c46, DF, TTL 64, both checksums set
 * (IP 0x0a59, UDP 0x7f6c): written out and summed by an independent script. */
static const uint8_t known_frame[] = {
	/* Ethernet: dst, src, type */
	0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x3c, 0xfd, 0xfe, 0xaa, 0xbb, 0xcc, 0x08, 0x00,
	/* IPv4 */
	0x45, 0x00, 0x00, 0x36, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x0a, 0x59,
	0x0a, 0x0b, 0x00, 0x02, 0x0a, 0x0b, 0x00, 0x01,
	/* UDP */
	0xb7, 0x99, 0x23, 0x28, 0x00, 0x22, 0x7f, 0x6c,
	/* payload */
	0x4d, 0x53, 0x48, 0x20, 0x70, 0x75, 0x62, 0x6c, 0x69, 0x73, 0x68, 0x3a, 0x20, 0x68,
	0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20, 0x73, 0x68, 0x61, 0x72, 0x64, 0x21,
};

/* The pseudo-header sum, written from RFC 768 (ref_csum is testutil.h's). */
static uint32_t
ref_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	return (src >> 16) + (src & 0xFFFF) + (dst >> 16) + (dst & 0xFFFF) + proto + len;
}

static int
parse_exact(const uint8_t *frame, uint32_t len, const struct msh_iface *ifc, struct msh_frame *f)
{
	uint8_t *c = dup_exact(frame, len);
	int r = msh_frame_parse(c, len, ifc, f);

	/* Pointers into the copy would dangle: rebase them onto the original. */
	if (f->payload != NULL)
		f->payload = frame + (f->payload - c);
	free(c);
	return r;
}

static void
flow_from(struct msh_udp_flow *fl, const struct msh_iface *from, const struct msh_iface *to,
	  uint16_t sport, uint16_t dport)
{
	memset(fl, 0, sizeof(*fl));
	memcpy(fl->src_mac, from->mac, 6);
	memcpy(fl->dst_mac, to->mac, 6);
	fl->src_ip = from->ip;
	fl->dst_ip = to->ip;
	fl->src_port = sport;
	fl->dst_port = dport;
}

static uint8_t
payload_byte(uint32_t i)
{
	return (uint8_t)(i * 7 + 3);
}

/* A UDP frame peer -> us with @p plen payload bytes; returns its length. */
static uint32_t
udp_frame(uint8_t *buf, size_t cap, uint16_t plen, bool csum)
{
	struct msh_udp_flow fl;

	flow_from(&fl, &peer, &us, 47001, 9000);
	assert_int_equal(msh_udp_hdr_build(buf, cap, &fl, plen), MSH_UDP_HDRS_LEN);
	for (uint32_t i = 0; i < plen; i++)
		buf[MSH_UDP_HDRS_LEN + i] = payload_byte(i);
	if (csum)
		msh_udp_csum_fill(buf, MSH_UDP_HDRS_LEN + plen);
	return MSH_UDP_HDRS_LEN + plen;
}

/* Recompute the IPv4 header checksum of a frame with the reference, within len. */
static void
fix_ip_csum(uint8_t *fr, uint32_t len)
{
	uint32_t hlen;

	if (len < 34)
		return;
	hlen = (uint32_t)(fr[14] & 0xF) * 4;
	if (hlen < 20 || 14 + hlen > len)
		return;
	fr[24] = fr[25] = 0;
	msh_store_be16(fr + 24, ref_csum(fr + 14, hlen, 0));
}

/* Recompute the UDP or ICMP checksum with the reference, if the lengths fit. */
static void
fix_l4_csum(uint8_t *fr, uint32_t len)
{
	uint32_t hlen, tot, l4len;
	uint8_t *l4;

	if (len < 34)
		return;
	hlen = (uint32_t)(fr[14] & 0xF) * 4;
	tot = msh_load_be16(fr + 16);
	if (hlen < 20 || tot < hlen + 8 || 14 + tot > len)
		return;
	l4 = fr + 14 + hlen;
	l4len = tot - hlen;
	if (fr[23] == MSH_IPPROTO_UDP) {
		uint16_t ulen = msh_load_be16(l4 + 4);
		uint16_t c;

		if (ulen < 8 || ulen > l4len)
			return;
		l4[6] = l4[7] = 0;
		c = ref_csum(l4, ulen,
			     ref_pseudo(msh_load_be32(fr + 26), msh_load_be32(fr + 30), 17, ulen));
		msh_store_be16(l4 + 6, c ? c : 0xFFFF);
	} else if (fr[23] == MSH_IPPROTO_ICMP) {
		l4[2] = l4[3] = 0;
		msh_store_be16(l4 + 2, ref_csum(l4, l4len, 0));
	}
}

/* An ICMP echo request @p from -> @p to with @p dlen data bytes; returns its length. */
static uint32_t
icmp_echo_frame(uint8_t *buf, const struct msh_iface *from, uint32_t dst_ip, uint16_t id,
		uint16_t seq, uint16_t dlen)
{
	uint8_t *ip = buf + 14, *c = buf + 34;

	memcpy(buf, us.mac, 6);
	memcpy(buf + 6, from->mac, 6);
	msh_store_be16(buf + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	msh_store_be16(ip + 2, (uint16_t)(28 + dlen));
	msh_store_be16(ip + 4, 0x1234);
	ip[8] = 63;
	ip[9] = MSH_IPPROTO_ICMP;
	msh_store_be32(ip + 12, from->ip);
	msh_store_be32(ip + 16, dst_ip);
	c[0] = 8;
	c[1] = 0;
	msh_store_be16(c + 4, id);
	msh_store_be16(c + 6, seq);
	for (uint32_t i = 0; i < dlen; i++)
		c[8 + i] = (uint8_t)(0xA0 + i);
	fix_ip_csum(buf, 42u + dlen);
	fix_l4_csum(buf, 42u + dlen);
	return 42u + dlen;
}

/* Insert 4 bytes of IPv4 options (NOP NOP NOP EOL) into a frame; returns the new length. */
static uint32_t
add_ip_options(uint8_t *fr, uint32_t len)
{
	static const uint8_t opts[4] = {1, 1, 1, 0};

	memmove(fr + 38, fr + 34, len - 34);
	memcpy(fr + 34, opts, 4);
	fr[14] = 0x46;
	msh_store_be16(fr + 16, (uint16_t)(msh_load_be16(fr + 16) + 4));
	fix_ip_csum(fr, len + 4);
	return len + 4;
}

static void
test_drop_strings(void **state)
{
	(void)state;
	assert_reason_names(msh_net_drop_str, MSH_NET_DROP_COUNT, "none", "unknown drop reason");
	assert_string_equal(msh_net_drop_str(-MSH_NET_DROP_VLAN),
			    "802.1Q/802.1ad tagged frame (not supported)");
}

static void
test_csum_against_reference(void **state)
{
	static const uint8_t rfc[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	uint8_t buf[700];
	uint64_t seed = 0x1071;

	(void)state;
	/* RFC 1071 section 3's example sums to 0xddf2. */
	assert_int_equal(msh_inet_csum(rfc, 8, 0), 0x220d);
	assert_int_equal(ref_csum(rfc, 8, 0), 0x220d);
	assert_int_equal(msh_inet_csum(NULL, 0, 0), 0xFFFF);

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)t_rand(&seed);
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len + off <= 600; len++) {
			uint32_t init = (uint32_t)t_rand(&seed);

			if (len % 3 == 0)
				init = 0;
			assert_int_equal(msh_inet_csum(buf + off, len, init),
					 ref_csum(buf + off, len, init));
		}
	}
	/* All-0xFF words stress the carries. */
	memset(buf, 0xFF, sizeof(buf));
	for (size_t len = 0; len <= sizeof(buf); len += 37)
		assert_int_equal(msh_inet_csum(buf, len, 0xFFFFFFFFu),
				 ref_csum(buf, len, 0xFFFFFFFFu));
	/* Chaining: every piece but the last of even length. */
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)t_rand(&seed);
	for (size_t a = 0; a <= 200; a += 2) {
		uint32_t s = msh_csum_partial(buf, a, 0);

		assert_true(s < (1u << 17));
		assert_int_equal(msh_csum_fold(msh_csum_partial(buf + a, 301 - a, s)),
				 ref_csum(buf, 301, 0));
	}
	assert_int_equal(msh_ipv4_pseudo_sum(0x0A0B0002, 0x0A0B0001, 17, 34),
			 ref_pseudo(0x0A0B0002, 0x0A0B0001, 17, 34));
}

static void
check_udp_fields(const struct msh_frame *f, const uint8_t *fr, uint16_t plen)
{
	assert_memory_equal(f->dst_mac, us.mac, 6);
	assert_memory_equal(f->src_mac, peer.mac, 6);
	assert_int_equal(f->ethertype, 0x0800);
	assert_int_equal(f->l3_off, 14);
	assert_int_equal(f->l4_off, 34);
	assert_int_equal(f->ip_len, 28 + plen);
	assert_int_equal(f->ttl, 64);
	assert_int_equal(f->proto, 17);
	assert_int_equal(f->src_ip, peer.ip);
	assert_int_equal(f->dst_ip, us.ip);
	assert_int_equal(f->src_port, 47001);
	assert_int_equal(f->dst_port, 9000);
	assert_ptr_equal(f->payload, fr + 42);
	assert_int_equal(f->payload_len, plen);
}

static void
test_udp_build_parse_roundtrip(void **state)
{
	static uint8_t buf[2048];
	struct msh_frame f;

	(void)state;
	for (uint32_t plen = 0; plen <= 1472; plen += (plen < 64 ? 1 : 97)) {
		uint32_t len = udp_frame(buf, sizeof(buf), (uint16_t)plen, true);
		uint16_t ucs = msh_load_be16(buf + 40);

		/* Header bytes as RFC 791/768 lay them out. */
		assert_int_equal(buf[14], 0x45);
		assert_int_equal(buf[15], 0);
		assert_int_equal(msh_load_be16(buf + 16), 28 + plen);
		assert_int_equal(msh_load_be16(buf + 18), 0);
		assert_int_equal(msh_load_be16(buf + 20), 0x4000);
		assert_int_equal(buf[22], 64);
		assert_int_equal(msh_load_be16(buf + 38), 8 + plen);
		/* Both checksums verify with the reference. */
		assert_int_equal(ref_csum(buf + 14, 20, 0), 0);
		assert_int_not_equal(ucs, 0);
		assert_int_equal(ref_csum(buf + 34, 8 + plen, ref_pseudo(peer.ip, us.ip, 17,
									 (uint16_t)(8 + plen))),
				 0);
		assert_int_equal(parse_exact(buf, len, &us, &f), MSH_FRAME_UDP);
		check_udp_fields(&f, buf, (uint16_t)plen);
		for (uint32_t i = 0; i < plen; i++)
			assert_int_equal(f.payload[i], payload_byte(i));
	}

	/* TTL of the flow is honoured; checksum 0 (none) is accepted. */
	{
		struct msh_udp_flow fl;

		flow_from(&fl, &peer, &us, 1, 2);
		fl.ttl = 7;
		assert_int_equal(msh_udp_hdr_build(buf, sizeof(buf), &fl, 3), 42);
		memcpy(buf + 42, "abc", 3);
		assert_int_equal(msh_load_be16(buf + 40), 0);
		assert_int_equal(parse_exact(buf, 45, &us, &f), MSH_FRAME_UDP);
		assert_int_equal(f.ttl, 7);
		assert_int_equal(f.payload_len, 3);
		assert_memory_equal(f.payload, "abc", 3);
	}
}

static void
test_udp_csum_zero_sent_as_ffff(void **state)
{
	uint8_t buf[128];
	struct msh_frame f;
	uint32_t len = udp_frame(buf, sizeof(buf), 20, false);
	uint16_t c = ref_csum(buf + 34, 28, ref_pseudo(peer.ip, us.ip, 17, 28));
	uint32_t w = msh_load_be16(buf + 42) + c;

	(void)state;
	/* Add the would-be checksum into a payload word (one's complement):
	 * the segment then sums to 0xFFFF and its checksum computes to 0. */
	w = (w & 0xFFFF) + (w >> 16);
	msh_store_be16(buf + 42, (uint16_t)w);
	assert_int_equal(ref_csum(buf + 34, 28, ref_pseudo(peer.ip, us.ip, 17, 28)), 0);
	msh_udp_csum_fill(buf, len);
	assert_int_equal(msh_load_be16(buf + 40), 0xFFFF);
	assert_int_equal(parse_exact(buf, len, &us, &f), MSH_FRAME_UDP);
}

static void
test_udp_builder_errors(void **state)
{
	uint8_t buf[128], copy[128];
	struct msh_udp_flow fl;

	(void)state;
	flow_from(&fl, &us, &peer, 9000, 47001);
	assert_int_equal(msh_udp_hdr_build(buf, 41, &fl, 0), -ENOSPC);
	assert_int_equal(msh_udp_hdr_build(buf, 42, &fl, 0), 42);
	assert_int_equal(msh_udp_hdr_build(buf, 100, &fl, 59), -ENOSPC);
	assert_int_equal(msh_udp_hdr_build(buf, 100, &fl, 58), 42);
	assert_int_equal(msh_udp_hdr_build(buf, 100, &fl, 65535), -EMSGSIZE);
	assert_int_equal(msh_udp_hdr_build(buf, 100, &fl, MSH_UDP_MAX_PAYLOAD), -ENOSPC);

	/* csum_fill leaves what is not a complete IPv4/UDP frame alone. */
	udp_frame(buf, sizeof(buf), 30, false);
	memcpy(copy, buf, sizeof(buf));
	msh_udp_csum_fill(buf, 71); /* UDP length runs past the frame */
	assert_memory_equal(buf, copy, sizeof(buf));
	msh_udp_csum_fill(buf, 20);
	assert_memory_equal(buf, copy, sizeof(buf));
	buf[23] = 6; /* TCP */
	memcpy(copy, buf, sizeof(buf));
	msh_udp_csum_fill(buf, 72);
	assert_memory_equal(buf, copy, sizeof(buf));
	buf[23] = 17;
	buf[12] = 0x86; /* not IPv4 */
	memcpy(copy, buf, sizeof(buf));
	msh_udp_csum_fill(buf, 72);
	assert_memory_equal(buf, copy, sizeof(buf));
}

static void
test_known_frame(void **state)
{
	static const char text[] = "MSH publish: hello, shard!";
	struct msh_frame f;
	uint8_t buf[sizeof(known_frame)];

	(void)state;
	assert_int_equal(parse_exact(known_frame, sizeof(known_frame), &us, &f), MSH_FRAME_UDP);
	assert_memory_equal(f.src_mac, peer.mac, 6);
	assert_int_equal(f.src_ip, IP4(10, 11, 0, 2));
	assert_int_equal(f.dst_ip, IP4(10, 11, 0, 1));
	assert_int_equal(f.src_port, 47001);
	assert_int_equal(f.dst_port, 9000);
	assert_int_equal(f.ip_len, 54);
	assert_int_equal(f.payload_len, sizeof(text) - 1);
	assert_memory_equal(f.payload, text, sizeof(text) - 1);
	assert_int_equal(msh_inet_csum(known_frame + 14, 20, 0), 0);

	/* Our builder, given the same flow and payload, writes the same bytes
	 * except the IP ID (ours is 0) and so the IP checksum. */
	{
		struct msh_udp_flow fl;

		flow_from(&fl, &peer, &us, 47001, 9000);
		assert_int_equal(msh_udp_hdr_build(buf, sizeof(buf), &fl, sizeof(text) - 1), 42);
		memcpy(buf + 42, text, sizeof(text) - 1);
		msh_udp_csum_fill(buf, sizeof(buf));
		assert_memory_equal(buf, known_frame, 18);
		assert_memory_equal(buf + 20, known_frame + 20, 4);
		assert_memory_equal(buf + 26, known_frame + 26, sizeof(buf) - 26);
		assert_int_equal(ref_csum(buf + 14, 20, 0), 0);
	}
}

/* Record one expected drop in @p seen. */
static void
expect_drop(const uint8_t *fr, uint32_t len, const struct msh_iface *ifc, enum msh_net_drop d,
	    bool *seen)
{
	struct msh_frame f;
	int r = parse_exact(fr, len, ifc, &f);

	if (r != -(int)d)
		fail_msg("expected drop %s, got %d (%s)", msh_net_drop_str(d), r,
			 r < 0 ? msh_net_drop_str(r) : "accepted");
	seen[d] = true;
}

static void
test_every_drop_reason(void **state)
{
	bool seen[MSH_NET_DROP_COUNT] = {false};
	uint8_t base[128], fr[128], arp[64], icmp[128];
	uint32_t len, alen, ilen;
	struct msh_frame f;
	struct msh_iface mc = us;

	(void)state;
	len = udp_frame(base, sizeof(base), 16, true);
	alen = (uint32_t)msh_arp_request_build(arp, sizeof(arp), &peer, us.ip);
	ilen = icmp_echo_frame(icmp, &peer, us.ip, 1, 1, 8);
	memcpy(arp, us.mac, 6); /* unicast ARP is fine too */
	assert_int_equal(parse_exact(base, len, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(parse_exact(arp, alen, &us, &f), MSH_FRAME_ARP);
	assert_int_equal(parse_exact(icmp, ilen, &us, &f), MSH_FRAME_ICMP_ECHO);
	mc.accept_multicast = true;

	/* L2 */
	expect_drop(base, 13, &us, MSH_NET_DROP_SHORT, seen);
	expect_drop(base, 33, &us, MSH_NET_DROP_SHORT, seen);
	expect_drop(arp, 41, &us, MSH_NET_DROP_SHORT, seen);
	memcpy(fr, base, len);
	fr[5] ^= 1; /* another unicast MAC */
	expect_drop(fr, len, &us, MSH_NET_DROP_NOT_OUR_MAC, seen);
	msh_ipv4_mcast_mac(IP4(239, 1, 1, 1), fr);
	expect_drop(fr, len, &us, MSH_NET_DROP_NOT_OUR_MAC, seen);
	memcpy(fr, base, len);
	fr[6] |= 1; /* group source */
	expect_drop(fr, len, &us, MSH_NET_DROP_BAD_SRC_MAC, seen);
	memset(fr + 6, 0, 6);
	expect_drop(fr, len, &us, MSH_NET_DROP_BAD_SRC_MAC, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 12, 0x8100);
	expect_drop(fr, len, &us, MSH_NET_DROP_VLAN, seen);
	msh_store_be16(fr + 12, 0x88A8);
	expect_drop(fr, len, &us, MSH_NET_DROP_VLAN, seen);
	msh_store_be16(fr + 12, 0x86DD);
	expect_drop(fr, len, &us, MSH_NET_DROP_ETHERTYPE, seen);
	msh_store_be16(fr + 12, 0x0000);
	expect_drop(fr, len, &us, MSH_NET_DROP_ETHERTYPE, seen);

	/* ARP */
	memcpy(fr, arp, alen);
	fr[15] = 6; /* htype IEEE 802 */
	expect_drop(fr, alen, &us, MSH_NET_DROP_ARP_BAD, seen);
	memcpy(fr, arp, alen);
	fr[18] = 8; /* hlen */
	expect_drop(fr, alen, &us, MSH_NET_DROP_ARP_BAD, seen);
	memcpy(fr, arp, alen);
	fr[21] = 3; /* RARP request */
	expect_drop(fr, alen, &us, MSH_NET_DROP_ARP_BAD, seen);
	memcpy(fr, arp, alen);
	fr[22] |= 1; /* group sender MAC */
	expect_drop(fr, alen, &us, MSH_NET_DROP_ARP_BAD, seen);
	memcpy(fr, arp, alen);
	msh_store_be32(fr + 38, IP4(10, 11, 0, 3));
	expect_drop(fr, alen, &us, MSH_NET_DROP_ARP_NOT_FOR_US, seen);

	/* IPv4 header */
	memcpy(fr, base, len);
	fr[14] = 0x65;
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_HDR, seen);
	fr[14] = 0x44; /* IHL 4 */
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_HDR, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 16, (uint16_t)(len - 14 + 1)); /* past the frame */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_HDR, seen);
	msh_store_be16(fr + 16, 19); /* shorter than the header */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_HDR, seen);
	memcpy(fr, base, len);
	fr[14] = 0x4F; /* IHL 15: 60 bytes, more than the total length */
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_HDR, seen);
	memcpy(fr, base, len);
	fr[24] ^= 0x40;
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_CSUM, seen);
	memcpy(fr, base, len);
	fr[22] = 1; /* TTL changed, checksum not */
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_CSUM, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 20, 0x2000); /* MF */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_FRAGMENT, seen);
	msh_store_be16(fr + 20, 0x0001); /* last fragment, offset 8 */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_FRAGMENT, seen);

	static const uint32_t bad_src[] = {
		0, IP4(0, 1, 2, 3), IP4(127, 0, 0, 1), IP4(224, 0, 0, 1), IP4(240, 0, 0, 1),
		0xFFFFFFFFu, IP4(10, 11, 0, 1) /* ours */, IP4(10, 11, 0, 255) /* subnet bcast */,
	};
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad_src); i++) {
		memcpy(fr, base, len);
		msh_store_be32(fr + 26, bad_src[i]);
		fix_ip_csum(fr, len);
		fix_l4_csum(fr, len);
		expect_drop(fr, len, &us, MSH_NET_DROP_IP_BAD_SRC, seen);
	}
	static const uint32_t bad_dst[] = {
		IP4(10, 11, 0, 9), IP4(10, 11, 0, 255), 0, IP4(239, 1, 2, 3), IP4(127, 0, 0, 1),
	};
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad_dst); i++) {
		memcpy(fr, base, len);
		msh_store_be32(fr + 30, bad_dst[i]);
		fix_ip_csum(fr, len);
		fix_l4_csum(fr, len);
		expect_drop(fr, len, &us, MSH_NET_DROP_IP_NOT_FOR_US, seen);
	}
	memcpy(fr, base, len);
	fr[23] = 6;
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_IP_PROTO, seen);

	/* ICMP */
	memcpy(fr, icmp, ilen);
	fr[42] ^= 1;
	expect_drop(fr, ilen, &us, MSH_NET_DROP_ICMP_BAD, seen);
	memcpy(fr, icmp, ilen);
	msh_store_be16(fr + 16, 20 + 4); /* 4 bytes of ICMP */
	fix_ip_csum(fr, ilen);
	expect_drop(fr, ilen, &us, MSH_NET_DROP_ICMP_BAD, seen);
	memcpy(fr, icmp, ilen);
	fr[34] = 0; /* echo reply */
	fix_l4_csum(fr, ilen);
	expect_drop(fr, ilen, &us, MSH_NET_DROP_ICMP_NOT_ECHO, seen);
	memcpy(fr, icmp, ilen);
	fr[35] = 1; /* code 1 */
	fix_l4_csum(fr, ilen);
	expect_drop(fr, ilen, &us, MSH_NET_DROP_ICMP_NOT_ECHO, seen);
	ilen = icmp_echo_frame(fr, &peer, 0xFFFFFFFFu, 1, 1, 8);
	expect_drop(fr, ilen, &us, MSH_NET_DROP_ICMP_NOT_UNICAST, seen);
	ilen = icmp_echo_frame(fr, &peer, IP4(224, 0, 0, 1), 1, 1, 8);
	msh_ipv4_mcast_mac(IP4(224, 0, 0, 1), fr);
	expect_drop(fr, ilen, &mc, MSH_NET_DROP_ICMP_NOT_UNICAST, seen);

	/* UDP */
	memcpy(fr, base, len);
	msh_store_be16(fr + 38, (uint16_t)(msh_load_be16(fr + 38) - 1));
	fix_l4_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_LEN, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 38, (uint16_t)(msh_load_be16(fr + 38) + 1));
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_LEN, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 16, 20 + 7); /* 7 bytes of UDP */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_LEN, seen);
	memcpy(fr, base, len);
	fr[50] ^= 0x10;
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_CSUM, seen);
	memcpy(fr, base, len);
	msh_store_be16(fr + 36, 9001); /* ports are in the checksum */
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_CSUM, seen);
	memcpy(fr, base, len);
	fr[29] = 3; /* so is the source address (pseudo-header) */
	fix_ip_csum(fr, len);
	expect_drop(fr, len, &us, MSH_NET_DROP_UDP_BAD_CSUM, seen);

	/* UDP_PORT is the caller's verdict (it knows its listeners). */
	for (int d = 1; d < MSH_NET_DROP_COUNT; d++)
		if (d != MSH_NET_DROP_UDP_PORT && !seen[d])
			fail_msg("drop reason %s never triggered", msh_net_drop_str(d));
}

/* Every prefix of a valid frame shorter than @p min_ok is dropped, every
 * longer one up to @p len accepted as @p kind. */
static void
truncate_all(const uint8_t *fr, uint32_t len, uint32_t min_ok, int kind)
{
	struct msh_frame f;

	for (uint32_t l = 0; l <= len; l++) {
		int r = parse_exact(fr, l, &us, &f);

		if (l < min_ok) {
			if (r >= 0)
				fail_msg("prefix of %u bytes accepted", l);
			assert_true(r > -MSH_NET_DROP_COUNT);
		} else {
			assert_int_equal(r, kind);
		}
	}
}

static void
test_truncation(void **state)
{
	uint8_t fr[256];
	uint32_t len;
	int alen;

	(void)state;
	len = udp_frame(fr, sizeof(fr), 100, true);
	truncate_all(fr, len, len, MSH_FRAME_UDP);
	len = add_ip_options(fr, len);
	truncate_all(fr, len, len, MSH_FRAME_UDP);
	len = udp_frame(fr, sizeof(fr), 0, true);
	truncate_all(fr, len, len, MSH_FRAME_UDP);
	len = icmp_echo_frame(fr, &peer, us.ip, 7, 9, 56);
	truncate_all(fr, len, len, MSH_FRAME_ICMP_ECHO);
	/* The ARP payload ends at 42; the rest of the 60 bytes is padding. */
	alen = msh_arp_request_build(fr, sizeof(fr), &peer, us.ip);
	assert_int_equal(alen, 60);
	truncate_all(fr, (uint32_t)alen, 42, MSH_FRAME_ARP);
}

static void
test_padding_and_options(void **state)
{
	uint8_t fr[256];
	struct msh_frame f;
	uint32_t len;

	(void)state;
	/* 10 bytes of UDP payload: the NIC pads the 52-byte frame to 60, and
	 * some pad with garbage. payload_len comes from the UDP length. */
	len = udp_frame(fr, sizeof(fr), 10, true);
	assert_int_equal(len, 52);
	for (uint32_t i = len; i < 60; i++)
		fr[i] = (uint8_t)(0xEE + i);
	assert_int_equal(parse_exact(fr, 60, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(f.ip_len, 38);
	assert_int_equal(f.payload_len, 10);
	/* More padding than data. */
	memset(fr + len, 0, 100);
	assert_int_equal(parse_exact(fr, len + 100, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(f.payload_len, 10);

	/* IPv4 options: IHL honoured. */
	len = udp_frame(fr, sizeof(fr), 33, true);
	len = add_ip_options(fr, len);
	assert_int_equal(parse_exact(fr, len, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(f.l4_off, 38);
	assert_int_equal(f.ip_len, 24 + 8 + 33);
	assert_ptr_equal(f.payload, fr + 46);
	assert_int_equal(f.payload_len, 33);
	for (uint32_t i = 0; i < 33; i++)
		assert_int_equal(f.payload[i], payload_byte(i));
	/* The UDP checksum does not cover the options: refilling keeps it. */
	{
		uint16_t c = msh_load_be16(fr + 44);

		msh_udp_csum_fill(fr, len);
		assert_int_equal(msh_load_be16(fr + 44), c);
	}
	/* Maximal options (IHL 15). */
	len = udp_frame(fr, sizeof(fr), 5, true);
	memmove(fr + 74, fr + 34, len - 34);
	memset(fr + 34, 1, 40);
	fr[14] = 0x4F;
	msh_store_be16(fr + 16, 60 + 13);
	fix_ip_csum(fr, len + 40);
	assert_int_equal(parse_exact(fr, len + 40, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(f.l4_off, 74);
	assert_int_equal(f.payload_len, 5);
}

static void
test_multicast_and_broadcast_dst(void **state)
{
	uint8_t fr[128];
	struct msh_frame f;
	struct msh_iface mc = us;
	struct msh_udp_flow fl;
	uint32_t len;

	(void)state;
	mc.accept_multicast = true;
	flow_from(&fl, &peer, &us, 5000, 6000);
	fl.dst_ip = IP4(239, 1, 2, 3);
	msh_ipv4_mcast_mac(fl.dst_ip, fl.dst_mac);
	assert_int_equal(msh_udp_hdr_build(fr, sizeof(fr), &fl, 4), 42);
	memcpy(fr + 42, "tick", 4);
	len = 46;
	msh_udp_csum_fill(fr, len);
	assert_int_equal(parse_exact(fr, len, &mc, &f), MSH_FRAME_UDP);
	assert_int_equal(f.dst_ip, IP4(239, 1, 2, 3));
	assert_int_equal(parse_exact(fr, len, &us, &f), -MSH_NET_DROP_NOT_OUR_MAC);
	/* Multicast group to our own MAC: L3 decides. */
	memcpy(fr, us.mac, 6);
	assert_int_equal(parse_exact(fr, len, &us, &f), -MSH_NET_DROP_IP_NOT_FOR_US);
	assert_int_equal(parse_exact(fr, len, &mc, &f), MSH_FRAME_UDP);

	/* Limited broadcast is accepted with or without multicast. */
	flow_from(&fl, &peer, &us, 5000, 6000);
	fl.dst_ip = MSH_IPV4_BROADCAST;
	memset(fl.dst_mac, 0xFF, 6);
	assert_int_equal(msh_udp_hdr_build(fr, sizeof(fr), &fl, 0), 42);
	msh_udp_csum_fill(fr, 42);
	assert_int_equal(parse_exact(fr, 42, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(parse_exact(fr, 42, &mc, &f), MSH_FRAME_UDP);
}

static void
test_mcast_mac(void **state)
{
	static const uint8_t a[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
	static const uint8_t b[6] = {0x01, 0x00, 0x5e, 0x7f, 0xff, 0xff};
	uint8_t m[6];

	(void)state;
	msh_ipv4_mcast_mac(IP4(224, 1, 2, 3), m);
	assert_memory_equal(m, a, 6);
	msh_ipv4_mcast_mac(IP4(239, 255, 255, 255), m);
	assert_memory_equal(m, b, 6);
	/* The 24th bit is lost: 224.129.2.3 shares 224.1.2.3's MAC. */
	msh_ipv4_mcast_mac(IP4(224, 129, 2, 3), m);
	assert_memory_equal(m, a, 6);
	assert_true(msh_mac_is_group(m));
	assert_true(msh_ipv4_is_multicast(IP4(224, 0, 0, 0)));
	assert_true(msh_ipv4_is_multicast(IP4(239, 255, 255, 255)));
	assert_false(msh_ipv4_is_multicast(IP4(223, 255, 255, 255)));
	assert_false(msh_ipv4_is_multicast(IP4(240, 0, 0, 0)));
	assert_int_equal(msh_ipv4_mask(0), 0);
	assert_int_equal(msh_ipv4_mask(24), 0xFFFFFF00u);
	assert_int_equal(msh_ipv4_mask(32), 0xFFFFFFFFu);
}

static void
test_arp_exchange(void **state)
{
	uint8_t req[64], rep[64], small[59];
	struct msh_frame f, g;
	int len;

	(void)state;
	/* The peer resolves us. */
	memset(req, 0xAA, sizeof(req));
	len = msh_arp_request_build(req, sizeof(req), &peer, us.ip);
	assert_int_equal(len, 60);
	assert_memory_equal(req, "\xff\xff\xff\xff\xff\xff", 6);
	for (int i = 42; i < 60; i++)
		assert_int_equal(req[i], 0);
	assert_int_equal(parse_exact(req, 60, &us, &f), MSH_FRAME_ARP);
	assert_int_equal(f.arp.op, MSH_ARP_OP_REQUEST);
	assert_memory_equal(f.arp.sender_mac, peer.mac, 6);
	assert_int_equal(f.arp.sender_ip, peer.ip);
	assert_int_equal(f.arp.target_ip, us.ip);
	assert_true(msh_mac_is_zero(f.arp.target_mac));
	assert_int_equal(f.l3_off, 14);

	assert_int_equal(msh_arp_reply_build(small, sizeof(small), &us, &f), -ENOSPC);
	memset(rep, 0xAA, sizeof(rep));
	len = msh_arp_reply_build(rep, sizeof(rep), &us, &f);
	assert_int_equal(len, 60);
	for (int i = 42; i < 60; i++)
		assert_int_equal(rep[i], 0);
	/* The reply, as the peer parses it. */
	assert_int_equal(parse_exact(rep, 60, &peer, &g), MSH_FRAME_ARP);
	assert_memory_equal(g.dst_mac, peer.mac, 6);
	assert_memory_equal(g.src_mac, us.mac, 6);
	assert_int_equal(g.arp.op, MSH_ARP_OP_REPLY);
	assert_memory_equal(g.arp.sender_mac, us.mac, 6);
	assert_int_equal(g.arp.sender_ip, us.ip);
	assert_memory_equal(g.arp.target_mac, peer.mac, 6);
	assert_int_equal(g.arp.target_ip, peer.ip);
	/* A reply is not itself answered. */
	assert_int_equal(msh_arp_reply_build(req, sizeof(req), &peer, &g), -EINVAL);

	/* In place, from a view of the buffer being overwritten. */
	memcpy(rep, req, 60);
	assert_int_equal(msh_frame_parse(rep, 60, &us, &f), MSH_FRAME_ARP);
	assert_int_equal(msh_arp_reply_build(rep, sizeof(rep), &us, &f), 60);
	assert_int_equal(parse_exact(rep, 60, &peer, &g), MSH_FRAME_ARP);
	assert_int_equal(g.arp.op, MSH_ARP_OP_REPLY);

	/* A request for someone else: dropped, fields still there for a refresh. */
	len = msh_arp_request_build(req, sizeof(req), &peer, IP4(10, 11, 0, 3));
	assert_int_equal(parse_exact(req, 60, &us, &f), -MSH_NET_DROP_ARP_NOT_FOR_US);
	assert_int_equal(f.arp.sender_ip, peer.ip);
	assert_int_equal(msh_arp_reply_build(rep, sizeof(rep), &us, &f), -EINVAL);
	/* Gratuitous ARP (sender = target = the peer). */
	len = msh_arp_request_build(req, sizeof(req), &peer, peer.ip);
	assert_int_equal(parse_exact(req, 60, &us, &f), -MSH_NET_DROP_ARP_NOT_FOR_US);
	assert_int_equal(msh_arp_request_build(small, 59, &us, peer.ip), -ENOSPC);
	/* Our own request, seen by the peer, is for it. */
	assert_int_equal(msh_arp_request_build(req, sizeof(req), &us, peer.ip), 60);
	assert_int_equal(parse_exact(req, 60, &peer, &f), MSH_FRAME_ARP);
	assert_int_equal(f.arp.sender_ip, us.ip);
	/* A non-ARP frame is not answered. */
	memset(&f, 0, sizeof(f));
	assert_int_equal(msh_arp_reply_build(rep, sizeof(rep), &us, &f), -EINVAL);
}

/* Check an echo reply @p rep (length @p len) to the request data described by the args. */
static void
check_echo_reply(const uint8_t *rep, int len, uint16_t id, uint16_t seq, const uint8_t *data,
		 uint16_t dlen)
{
	assert_int_equal(len, MSH_MAX(42 + dlen, 60));
	assert_memory_equal(rep, peer.mac, 6);
	assert_memory_equal(rep + 6, us.mac, 6);
	assert_int_equal(msh_load_be16(rep + 12), 0x0800);
	assert_int_equal(rep[14], 0x45);
	assert_int_equal(msh_load_be16(rep + 16), 28 + dlen);
	assert_int_equal(rep[23], 1);
	assert_int_equal(msh_load_be32(rep + 26), us.ip);
	assert_int_equal(msh_load_be32(rep + 30), peer.ip);
	assert_int_equal(ref_csum(rep + 14, 20, 0), 0);
	assert_int_equal(rep[34], 0);
	assert_int_equal(rep[35], 0);
	assert_int_equal(msh_load_be16(rep + 38), id);
	assert_int_equal(msh_load_be16(rep + 40), seq);
	assert_int_equal(ref_csum(rep + 34, 8 + dlen, 0), 0);
	if (dlen)
		assert_memory_equal(rep + 42, data, dlen);
	for (int i = 42 + dlen; i < len; i++)
		assert_int_equal(rep[i], 0);
}

static void
test_icmp_echo(void **state)
{
	static uint8_t req[1600], rep[1600], data[1600];
	struct msh_frame f;
	uint32_t len;
	int r;

	(void)state;
	for (uint16_t dlen = 0; dlen <= 1472; dlen = (uint16_t)(dlen < 70 ? dlen + 1 : dlen * 2)) {
		len = icmp_echo_frame(req, &peer, us.ip, 0xBEEF, dlen, dlen);
		assert_int_equal(parse_exact(req, len, &us, &f), MSH_FRAME_ICMP_ECHO);
		assert_int_equal(f.icmp_id, 0xBEEF);
		assert_int_equal(f.icmp_seq, dlen);
		assert_int_equal(f.payload_len, dlen);
		assert_int_equal(f.src_ip, peer.ip);
		memcpy(data, req + 42, dlen);
		memset(rep, 0xAA, sizeof(rep)); /* padding must be written, not inherited */
		r = msh_icmp_echo_reply_build(rep, sizeof(rep), &us, req, &f);
		check_echo_reply(rep, r, 0xBEEF, dlen, data, dlen);
		/* In place. */
		memset(req + len, 0xAA, sizeof(req) - len);
		r = msh_icmp_echo_reply_build(req, sizeof(req), &us, req, &f);
		check_echo_reply(req, r, 0xBEEF, dlen, data, dlen);
	}

	/* A request with IPv4 options: the reply has none, data intact, in place. */
	len = icmp_echo_frame(req, &peer, us.ip, 1, 2, 100);
	memcpy(data, req + 42, 100);
	len = add_ip_options(req, len);
	assert_int_equal(parse_exact(req, len, &us, &f), MSH_FRAME_ICMP_ECHO);
	assert_int_equal(f.l4_off, 38);
	r = msh_icmp_echo_reply_build(req, len, &us, req, &f);
	check_echo_reply(req, r, 1, 2, data, 100);

	/* Capacity and kind. */
	len = icmp_echo_frame(req, &peer, us.ip, 1, 2, 100);
	assert_int_equal(parse_exact(req, len, &us, &f), MSH_FRAME_ICMP_ECHO);
	assert_int_equal(msh_icmp_echo_reply_build(rep, 141, &us, req, &f), -ENOSPC);
	assert_int_equal(msh_icmp_echo_reply_build(rep, 142, &us, req, &f), 142);
	len = icmp_echo_frame(req, &peer, us.ip, 1, 2, 0);
	assert_int_equal(parse_exact(req, len, &us, &f), MSH_FRAME_ICMP_ECHO);
	assert_int_equal(msh_icmp_echo_reply_build(rep, 59, &us, req, &f), -ENOSPC);
	len = udp_frame(req, sizeof(req), 10, true);
	assert_int_equal(parse_exact(req, len, &us, &f), MSH_FRAME_UDP);
	assert_int_equal(msh_icmp_echo_reply_build(rep, sizeof(rep), &us, req, &f), -EINVAL);
}

#define T_TIMEOUT 300000u /* 5 minutes in ms */
#define T_INTERVAL 1000u  /* 1 s */

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0xA};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0xB};

static void
test_neigh_learn_lookup_expiry(void **state)
{
	static struct msh_neigh n;
	const uint32_t ip = IP4(10, 11, 0, 2);
	const uint64_t t0 = UINT64_MAX - 1000; /* the clock wraps during the test */

	(void)state;
	msh_neigh_init(&n, T_TIMEOUT, T_INTERVAL);
	assert_null(msh_neigh_lookup(&n, ip, t0));
	assert_int_equal(msh_neigh_learn(&n, ip, mac_a, t0), 0);
	assert_memory_equal(msh_neigh_lookup(&n, ip, t0), mac_a, 6);
	assert_memory_equal(msh_neigh_lookup(&n, ip, t0 + T_TIMEOUT - 1), mac_a, 6);
	assert_null(msh_neigh_lookup(&n, ip, t0 + T_TIMEOUT));
	/* Relearning refreshes and may change the MAC. */
	assert_int_equal(msh_neigh_learn(&n, ip, mac_b, t0 + 100), 0);
	assert_memory_equal(msh_neigh_lookup(&n, ip, t0 + T_TIMEOUT + 99), mac_b, 6);
	assert_null(msh_neigh_lookup(&n, ip, t0 + T_TIMEOUT + 100));
	assert_int_equal(n.live, 1);
	assert_null(msh_neigh_lookup(&n, IP4(10, 11, 0, 3), t0));
	assert_null(msh_neigh_lookup(&n, 0, t0));

	/* Expiry sweeps. */
	assert_int_equal(msh_neigh_expire(&n, t0 + T_TIMEOUT + 99), 0);
	assert_int_equal(msh_neigh_expire(&n, t0 + T_TIMEOUT + 100), 1);
	assert_int_equal(n.live, 0);
	assert_null(msh_neigh_lookup(&n, ip, t0 + 200));

	/* What cannot be a neighbour. */
	assert_int_equal(msh_neigh_learn(&n, 0, mac_a, 0), -EINVAL);
	assert_int_equal(msh_neigh_learn(&n, MSH_IPV4_BROADCAST, mac_a, 0), -EINVAL);
	assert_int_equal(msh_neigh_learn(&n, IP4(224, 0, 0, 5), mac_a, 0), -EINVAL);
	assert_int_equal(msh_neigh_learn(&n, ip, (const uint8_t *)"\x01\0\x5e\0\0\1", 0), -EINVAL);
	assert_int_equal(msh_neigh_learn(&n, ip, (const uint8_t *)"\0\0\0\0\0\0", 0), -EINVAL);
	assert_int_equal(n.live, 0);
}

static void
test_neigh_capacity(void **state)
{
	static struct msh_neigh n;
	uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0};

	(void)state;
	msh_neigh_init(&n, T_TIMEOUT, T_INTERVAL);
	for (uint32_t i = 0; i < MSH_NEIGH_MAX; i++) {
		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		assert_int_equal(msh_neigh_learn(&n, IP4(10, 0, 0, 0) + i + 1, mac, i), 0);
	}
	assert_int_equal(n.live, MSH_NEIGH_MAX);
	for (uint32_t i = 0; i < MSH_NEIGH_MAX; i++) {
		const uint8_t *m = msh_neigh_lookup(&n, IP4(10, 0, 0, 0) + i + 1, MSH_NEIGH_MAX);

		assert_non_null(m);
		assert_int_equal(m[5], (uint8_t)i);
	}
	/* Full: the newcomer replaces the entry learnt least recently. */
	mac[5] = 0xEE;
	assert_int_equal(msh_neigh_learn(&n, IP4(10, 1, 0, 0), mac, 1000), 0);
	assert_int_equal(n.live, MSH_NEIGH_MAX);
	assert_int_equal(n.evicted, 1);
	assert_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 1), 1000));
	assert_non_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 2), 1000));
	assert_non_null(msh_neigh_lookup(&n, IP4(10, 1, 0, 0), 1000));
	/* Refreshing the oldest saves it; the next oldest goes. */
	assert_int_equal(msh_neigh_learn(&n, IP4(10, 0, 0, 2), mac, 1001), 0);
	assert_int_equal(msh_neigh_learn(&n, IP4(10, 1, 0, 1), mac, 1002), 0);
	assert_non_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 2), 1002));
	assert_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 3), 1002));
	/* An unresolved entry takes a slot like any other (10.0.0.4 goes)... */
	assert_true(msh_neigh_need_request(&n, IP4(10, 2, 0, 0), 2000));
	assert_int_equal(n.live, MSH_NEIGH_MAX);
	assert_int_equal(n.evicted, 3);
	assert_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 4), 2000));
	/* ... but is the first to go when a MAC arrives. */
	assert_int_equal(msh_neigh_learn(&n, IP4(10, 1, 0, 2), mac, 2001), 0);
	assert_non_null(msh_neigh_lookup(&n, IP4(10, 0, 0, 5), 2001));
	assert_true(msh_neigh_need_request(&n, IP4(10, 2, 0, 0), 2001)); /* forgotten */
	/* When entries have expired, they make room and nothing live is evicted. */
	{
		uint64_t ev = n.evicted;
		uint64_t late = 3000 + T_TIMEOUT;

		assert_int_equal(msh_neigh_learn(&n, IP4(10, 3, 0, 0), mac, late), 0);
		assert_int_equal(n.evicted, ev);
		assert_int_equal(n.live, 1);
		assert_null(msh_neigh_lookup(&n, IP4(10, 1, 0, 0), late));
		assert_non_null(msh_neigh_lookup(&n, IP4(10, 3, 0, 0), late));
	}
	/* need_request alone cannot grow the table past its capacity. */
	for (uint32_t i = 0; i < 3 * MSH_NEIGH_MAX; i++)
		assert_true(msh_neigh_need_request(&n, IP4(10, 4, 0, 0) + i, 400000));
	assert_int_equal(n.live, MSH_NEIGH_MAX);
}

static void
test_neigh_need_request(void **state)
{
	static struct msh_neigh n;
	const uint32_t ip = IP4(10, 11, 0, 2), ip2 = IP4(10, 11, 0, 3);

	(void)state;
	msh_neigh_init(&n, T_TIMEOUT, T_INTERVAL);
	assert_true(msh_neigh_need_request(&n, ip, 5000));
	assert_false(msh_neigh_need_request(&n, ip, 5000));
	assert_false(msh_neigh_need_request(&n, ip, 5000 + T_INTERVAL - 1));
	assert_true(msh_neigh_need_request(&n, ip2, 5001)); /* per address */
	assert_true(msh_neigh_need_request(&n, ip, 5000 + T_INTERVAL));
	assert_false(msh_neigh_need_request(&n, ip, 5000 + T_INTERVAL + 1));
	assert_null(msh_neigh_lookup(&n, ip, 7000)); /* unresolved */
	/* Resolved: no request while valid, then one after expiry. */
	assert_int_equal(msh_neigh_learn(&n, ip, mac_a, 10000), 0);
	assert_false(msh_neigh_need_request(&n, ip, 10000));
	assert_false(msh_neigh_need_request(&n, ip, 10000 + T_TIMEOUT - 1));
	assert_true(msh_neigh_need_request(&n, ip, 10000 + T_TIMEOUT));
	assert_false(msh_neigh_need_request(&n, ip, 10000 + T_TIMEOUT + 1));
	/* A learnt entry never asked for starts unthrottled once expired. */
	assert_int_equal(msh_neigh_learn(&n, IP4(10, 11, 0, 9), mac_b, 2000), 0);
	assert_true(msh_neigh_need_request(&n, IP4(10, 11, 0, 9), 2000 + T_TIMEOUT));
	/* Group and unusable addresses are never resolved by ARP. */
	assert_false(msh_neigh_need_request(&n, IP4(239, 1, 2, 3), 0));
	assert_false(msh_neigh_need_request(&n, MSH_IPV4_BROADCAST, 0));
	assert_false(msh_neigh_need_request(&n, 0, 0));
	/* Unresolved entries age out (ip2), as do expired resolved ones (.9). */
	assert_int_equal(n.live, 3);
	assert_int_equal(msh_neigh_expire(&n, 2000 + T_TIMEOUT - 1), 0);
	assert_int_equal(msh_neigh_expire(&n, 5001 + T_TIMEOUT), 2);
	assert_null(msh_neigh_lookup(&n, IP4(10, 11, 0, 9), 5001 + T_TIMEOUT));
	assert_true(msh_neigh_need_request(&n, ip2, 5001 + T_TIMEOUT));
}

static void
test_neigh_learn_frame(void **state)
{
	static struct msh_neigh n;
	uint8_t fr[128];
	struct msh_frame f;
	struct msh_udp_flow fl;
	struct msh_iface far = peer;
	uint32_t len;
	int kind;

	(void)state;
	msh_neigh_init(&n, T_TIMEOUT, T_INTERVAL);
	len = udp_frame(fr, sizeof(fr), 4, true);
	kind = parse_exact(fr, len, &us, &f);
	assert_true(msh_neigh_learn_frame(&n, &us, &f, kind, 1));
	assert_memory_equal(msh_neigh_lookup(&n, peer.ip, 1), peer.mac, 6);

	/* Off-subnet source: its MAC is a router's. */
	far.ip = IP4(192, 168, 7, 7);
	flow_from(&fl, &far, &us, 1, 2);
	assert_int_equal(msh_udp_hdr_build(fr, sizeof(fr), &fl, 0), 42);
	kind = parse_exact(fr, 42, &us, &f);
	assert_int_equal(kind, MSH_FRAME_UDP);
	assert_false(msh_neigh_learn_frame(&n, &us, &f, kind, 2));
	assert_null(msh_neigh_lookup(&n, far.ip, 2));

	/* ARP request to us: sender learnt. */
	far = peer;
	far.ip = IP4(10, 11, 0, 77);
	msh_arp_request_build(fr, sizeof(fr), &far, us.ip);
	kind = parse_exact(fr, 60, &us, &f);
	assert_true(msh_neigh_learn_frame(&n, &us, &f, kind, 3));
	assert_non_null(msh_neigh_lookup(&n, far.ip, 3));
	/* An ARP probe (sender 0.0.0.0) is answered but not learnt. */
	far.ip = 0;
	msh_arp_request_build(fr, sizeof(fr), &far, us.ip);
	kind = parse_exact(fr, 60, &us, &f);
	assert_int_equal(kind, MSH_FRAME_ARP);
	assert_false(msh_neigh_learn_frame(&n, &us, &f, kind, 4));
	/* A claim to our own address is not learnt; nor is a drop. */
	far.ip = us.ip;
	msh_arp_request_build(fr, sizeof(fr), &far, us.ip);
	kind = parse_exact(fr, 60, &us, &f);
	assert_false(msh_neigh_learn_frame(&n, &us, &f, kind, 5));
	far.ip = IP4(10, 11, 0, 78);
	msh_arp_request_build(fr, sizeof(fr), &far, IP4(10, 11, 0, 79));
	kind = parse_exact(fr, 60, &us, &f);
	assert_int_equal(kind, -MSH_NET_DROP_ARP_NOT_FOR_US);
	assert_false(msh_neigh_learn_frame(&n, &us, &f, kind, 6));
	assert_null(msh_neigh_lookup(&n, far.ip, 6));
	assert_int_equal(n.live, 2);
}

/* Slot an address lands in when alone in the table: its home. */
static uint32_t
neigh_home_of(struct msh_neigh *n, uint32_t ip)
{
	msh_neigh_init(n, T_TIMEOUT, T_INTERVAL);
	assert_int_equal(msh_neigh_learn(n, ip, mac_a, 0), 0);
	for (uint32_t i = 0; i < MSH_NEIGH_SLOTS; i++)
		if (n->slot[i].ip == ip)
			return i;
	fail_msg("address not in the table");
	return 0;
}

/* Removals from a probe cluster that wraps from the last slot to the first:
 * every survivor must still be found (backward-shift deletion across the
 * end of the array). */
static void
test_neigh_wraparound_removal(void **state)
{
	static struct msh_neigh n;
	uint32_t cand[64], nc = 0;
	uint64_t seed = 0x3A9;

	(void)state;
	/* Addresses whose home is one of the last 4 or first 3 slots. */
	for (uint32_t ip = IP4(10, 0, 0, 1); nc < MSH_ARRAY_SIZE(cand); ip++) {
		uint32_t h = neigh_home_of(&n, ip);

		if (h >= MSH_NEIGH_SLOTS - 4 || h < 3)
			cand[nc++] = ip;
	}
	for (int trial = 0; trial < 500; trial++) {
		uint32_t pick[12];
		bool gone[12];
		uint32_t np = 6 + (uint32_t)(t_rand(&seed) % 7);

		msh_neigh_init(&n, T_TIMEOUT, T_INTERVAL);
		for (uint32_t k = 0; k < np; k++) {
			bool dup;

			do {
				pick[k] = cand[t_rand(&seed) % nc];
				dup = false;
				for (uint32_t q = 0; q < k; q++)
					dup |= pick[q] == pick[k];
			} while (dup);
			/* A few entries learnt at 0 expire at T_TIMEOUT; the rest at 100. */
			gone[k] = t_rand(&seed) % 3 == 0;
			assert_int_equal(msh_neigh_learn(&n, pick[k], mac_a, gone[k] ? 0 : 100), 0);
		}
		msh_neigh_expire(&n, T_TIMEOUT);
		for (uint32_t k = 0; k < np; k++) {
			const uint8_t *m = msh_neigh_lookup(&n, pick[k], T_TIMEOUT);

			if (gone[k])
				assert_null(m);
			else
				assert_non_null(m);
		}
	}
}

/* Random learn/lookup/need_request/expire against a plain array. Phase one
 * stays under capacity, so table and model agree exactly; phase two overflows
 * it, and then what the table returns must still be right. */
struct model_ent {
	uint64_t updated, requested;
	uint8_t mac;
	bool known, resolved, asked;
};

static uint64_t
neigh_model_run(uint32_t pool, uint64_t timeout, uint32_t iters, uint64_t seed)
{
	static struct msh_neigh n;
	static struct model_ent m[1024];
	const uint64_t interval = 20;
	uint64_t now = 0;

	msh_neigh_init(&n, timeout, interval);
	memset(m, 0, sizeof(m));
	for (uint32_t it = 0; it < iters; it++) {
		uint32_t k = (uint32_t)(t_rand(&seed) % pool);
		/* Addresses spread like a /16 but collide in the hash now and then. */
		uint32_t ip = IP4(10, 11, 0, 0) + k * 17 + 1;
		struct model_ent *e = &m[k];
		uint32_t op = (uint32_t)(t_rand(&seed) % 64);
		bool valid;

		now += t_rand(&seed) % 4;
		valid = e->known && e->resolved && now - e->updated < timeout;
		if (op < 20) {
			uint8_t mac[6] = {0x02, 0, 0, 0, (uint8_t)(it >> 8), (uint8_t)it};

			assert_int_equal(msh_neigh_learn(&n, ip, mac, now), 0);
			e->known = e->resolved = true;
			e->updated = now;
			e->mac = (uint8_t)it;
		} else if (op < 48) {
			const uint8_t *mac = msh_neigh_lookup(&n, ip, now);

			if (mac != NULL) {
				assert_true(valid);
				assert_int_equal(mac[5], e->mac);
			} else if (n.evicted == 0) {
				assert_false(valid);
			}
		} else if (op < 63) {
			bool want = msh_neigh_need_request(&n, ip, now);

			if (n.evicted == 0) {
				bool exp = !valid && !(e->known && e->asked &&
						       now - e->requested < interval);

				assert_int_equal(want, exp);
			}
			if (want)
				assert_null(msh_neigh_lookup(&n, ip, now));
			if (want) {
				e->known = e->asked = true;
				e->requested = now;
			}
		} else {
			msh_neigh_expire(&n, now);
			for (uint32_t j = 0; j < pool; j++) {
				struct model_ent *x = &m[j];

				if (x->known && (x->resolved ? now - x->updated >= timeout
							     : now - x->requested >= timeout))
					memset(x, 0, sizeof(*x));
			}
		}
		assert_true(n.live <= MSH_NEIGH_MAX);
	}
	/* Every occupied slot is reachable by its own lookup. */
	for (uint32_t i = 0; i < MSH_NEIGH_SLOTS; i++) {
		const struct msh_neigh_entry *s = &n.slot[i];

		if (s->ip != 0 && s->resolved && now - s->updated < timeout)
			assert_ptr_equal(msh_neigh_lookup(&n, s->ip, now), s->mac);
	}
	return n.evicted;
}

static void
test_neigh_against_model(void **state)
{
	(void)state;
	assert_int_equal(neigh_model_run(200, 500, 200000, 0xA5A5), 0);
	assert_int_equal(neigh_model_run(200, 100000, 200000, 0xA5A6), 0);
	assert_true(neigh_model_run(1000, 5000, 200000, 0x5A5A) > 1000);
}

/* What the parser accepted must agree with the bytes. */
static void
check_accepted(const uint8_t *fr, uint32_t len, const struct msh_iface *ifc, int kind,
	       const struct msh_frame *f)
{
	static uint8_t rep[2048];

	assert_true(len >= 14);
	assert_true(memcmp(fr, ifc->mac, 6) == 0 || (fr[0] & 1));
	assert_false(msh_mac_is_group(f->src_mac));
	if (kind == MSH_FRAME_ARP) {
		assert_true(len >= 42);
		assert_int_equal(f->arp.target_ip, ifc->ip);
		assert_int_equal(f->arp.target_ip, msh_load_be32(fr + 38));
		assert_int_equal(f->arp.sender_ip, msh_load_be32(fr + 28));
		if (f->arp.op == MSH_ARP_OP_REQUEST) {
			assert_int_equal(msh_arp_reply_build(rep, sizeof(rep), ifc, f), 60);
			assert_memory_equal(rep, f->arp.sender_mac, 6);
			assert_int_equal(msh_load_be32(rep + 38), f->arp.sender_ip);
		} else {
			assert_int_equal(f->arp.op, MSH_ARP_OP_REPLY);
		}
		return;
	}
	uint32_t hlen = (uint32_t)(fr[14] & 0xF) * 4;

	assert_int_equal(f->l4_off, 14 + hlen);
	assert_int_equal(f->ip_len, msh_load_be16(fr + 16));
	assert_true(14u + f->ip_len <= len);
	assert_int_equal(fr[14] >> 4, 4);
	assert_int_equal(ref_csum(fr + 14, hlen, 0), 0);
	assert_int_equal(msh_load_be16(fr + 20) & 0x3FFF, 0);
	assert_int_equal(f->src_ip, msh_load_be32(fr + 26));
	assert_int_equal(f->dst_ip, msh_load_be32(fr + 30));
	assert_true(f->dst_ip == ifc->ip || f->dst_ip == MSH_IPV4_BROADCAST ||
		    (ifc->accept_multicast && msh_ipv4_is_multicast(f->dst_ip)));
	assert_true(f->payload >= fr + f->l4_off + 8);
	assert_true(f->payload + f->payload_len == fr + 14 + f->ip_len);
	if (kind == MSH_FRAME_UDP) {
		uint16_t ulen = msh_load_be16(fr + f->l4_off + 4);

		assert_int_equal(ulen, f->ip_len - hlen);
		assert_int_equal(f->src_port, msh_load_be16(fr + f->l4_off));
		assert_int_equal(f->dst_port, msh_load_be16(fr + f->l4_off + 2));
		if (msh_load_be16(fr + f->l4_off + 6) != 0)
			assert_int_equal(ref_csum(fr + f->l4_off, ulen,
						  ref_pseudo(f->src_ip, f->dst_ip, 17, ulen)),
					 0);
	} else {
		int r;

		assert_int_equal(kind, MSH_FRAME_ICMP_ECHO);
		assert_int_equal(fr[f->l4_off], 8);
		assert_int_equal(ref_csum(fr + f->l4_off, f->ip_len - hlen, 0), 0);
		r = msh_icmp_echo_reply_build(rep, sizeof(rep), ifc, fr, f);
		assert_true(r >= 60);
		assert_int_equal(ref_csum(rep + 14, 20, 0), 0);
		assert_int_equal(ref_csum(rep + 34, 8 + f->payload_len, 0), 0);
	}
}

static void
test_fuzz_mutations(void **state)
{
	static uint8_t bases[8][256];
	static uint32_t base_len[8];
	static uint8_t work[512];
	struct msh_iface mc = us;
	struct msh_udp_flow fl;
	uint64_t seed = 0xF022;
	uint32_t counts[4] = {0};
	uint32_t nb = 0;

	(void)state;
	mc.accept_multicast = true;
	/* The valid frames to mutate: UDP with and without checksum, with IP
	 * options, multicast; ARP request and reply; ICMP echo with and without data. */
	base_len[0] = udp_frame(bases[0], 256, 64, true);
	base_len[1] = udp_frame(bases[1], 256, 3, false);
	base_len[2] = add_ip_options(bases[2], udp_frame(bases[2], 256, 100, true));
	base_len[3] = (uint32_t)msh_arp_request_build(bases[3], 256, &peer, us.ip);
	base_len[4] = (uint32_t)msh_arp_request_build(bases[4], 256, &peer, us.ip);
	bases[4][21] = MSH_ARP_OP_REPLY;
	base_len[5] = icmp_echo_frame(bases[5], &peer, us.ip, 3, 4, 40);
	flow_from(&fl, &peer, &us, 7, 8);
	fl.dst_ip = IP4(239, 0, 0, 1);
	msh_ipv4_mcast_mac(fl.dst_ip, fl.dst_mac);
	assert_int_equal(msh_udp_hdr_build(bases[6], 256, &fl, 20), 42);
	base_len[6] = 62;
	msh_udp_csum_fill(bases[6], 62);
	base_len[7] = icmp_echo_frame(bases[7], &peer, us.ip, 5, 6, 0);
	nb = 8;

	for (uint32_t it = 0; it < 100000; it++) {
		uint32_t b = (uint32_t)(t_rand(&seed) % nb);
		uint32_t len = base_len[b];
		uint32_t muts = 1 + (uint32_t)(t_rand(&seed) % 4);
		const struct msh_iface *ifc = (t_rand(&seed) & 1) ? &us : &mc;
		struct msh_frame f;
		uint8_t *c;
		int r;

		memcpy(work, bases[b], len);
		for (uint32_t k = 0; k < muts; k++) {
			uint64_t x = t_rand(&seed);

			switch (x % 8) {
			case 0: /* truncate */
				len = (uint32_t)((x >> 8) % (len + 1));
				break;
			case 1: /* pad with random bytes */
				for (uint32_t e = (x >> 8) % 64; e > 0 && len < 400; e--)
					work[len++] = (uint8_t)t_rand(&seed);
				break;
			case 2: /* flip a bit in the headers */
				if (len > 0)
					work[(x >> 8) % MSH_MIN(len, 64u)] ^=
						(uint8_t)(1u << ((x >> 20) % 8));
				break;
			default: /* random byte anywhere */
				if (len > 0)
					work[(x >> 8) % len] = (uint8_t)(x >> 32);
				break;
			}
		}
		/* Half the time repair checksums so that later checks are reached. */
		if (t_rand(&seed) & 1) {
			fix_ip_csum(work, len);
			fix_l4_csum(work, len);
		}
		c = dup_exact(work, len);
		r = msh_frame_parse(c, len, ifc, &f);
		if (r > 0) {
			assert_true(r <= MSH_FRAME_ICMP_ECHO);
			check_accepted(c, len, ifc, r, &f);
			counts[r]++;
		} else {
			assert_true(r < 0 && r > -MSH_NET_DROP_COUNT);
			assert_int_not_equal(r, -MSH_NET_DROP_UDP_PORT);
			counts[0]++;
		}
		free(c);
	}
	/* The loop reached every outcome. */
	for (int k = 0; k < 4; k++)
		assert_true(counts[k] > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_strings),
		cmocka_unit_test(test_csum_against_reference),
		cmocka_unit_test(test_udp_build_parse_roundtrip),
		cmocka_unit_test(test_udp_csum_zero_sent_as_ffff),
		cmocka_unit_test(test_udp_builder_errors),
		cmocka_unit_test(test_known_frame),
		cmocka_unit_test(test_every_drop_reason),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_padding_and_options),
		cmocka_unit_test(test_multicast_and_broadcast_dst),
		cmocka_unit_test(test_mcast_mac),
		cmocka_unit_test(test_arp_exchange),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_neigh_learn_lookup_expiry),
		cmocka_unit_test(test_neigh_capacity),
		cmocka_unit_test(test_neigh_need_request),
		cmocka_unit_test(test_neigh_learn_frame),
		cmocka_unit_test(test_neigh_wraparound_removal),
		cmocka_unit_test(test_neigh_against_model),
		cmocka_unit_test(test_fuzz_mutations),
	};

	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
