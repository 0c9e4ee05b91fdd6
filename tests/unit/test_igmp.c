/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/igmp: IGMPv2 report and leave and IGMPv3 report frames
 * compared byte for byte with vectors written out by hand from the RFC 3376 /
 * RFC 2236 / RFC 2113 layouts; both checksums recomputed by a plain RFC 1071
 * sum in the test; build-then-parse round trips over seeded random records;
 * queries of every version and scope written by hand and parsed, as whole
 * frames and as IPv4 payloads; v3 Max Resp Code and QQIC decoding in both
 * forms; every builder error and every parse error; truncation at every
 * length (exact-size heap copies, so AddressSanitizer sees any overread); IP
 * options; the record walker's bounds; group MACs; the answer-delay timer rule;
 * and a seeded mutation fuzz loop that checks what the parser accepts.
 */
#include <errno.h>

#include "igmp.h"
#include "testutil.h"

#define IP4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((c) << 8) | (d))

static const uint8_t our_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
#define OUR_IP IP4(10, 11, 0, 1)
#define QUERIER_IP IP4(10, 11, 0, 254)
#define GROUP_A IP4(239, 1, 2, 3)
#define GROUP_SSM IP4(232, 1, 1, 1)

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Zero a 16-bit checksum field at @p field, sum @p len bytes at @p p, store it. */
static void
ref_fill(uint8_t *p, size_t len, uint8_t *field)
{
	uint16_t c;

	field[0] = field[1] = 0;
	c = ref_csum(p, len, 0);
	field[0] = (uint8_t)(c >> 8);
	field[1] = (uint8_t)c;
}

/* Where the IGMP message starts in a frame, by its IHL. */
static uint32_t
l4_off(const uint8_t *frame)
{
	return 14 + (uint32_t)(frame[14] & 0xF) * 4;
}

static uint32_t
ip_tot(const uint8_t *frame)
{
	return (uint32_t)(frame[16] << 8 | frame[17]);
}

/* Recompute both checksums of an IPv4/IGMP frame from its header fields, as
 * the test understands them. */
static void
ref_refix(uint8_t *frame)
{
	uint32_t off = l4_off(frame);

	ref_fill(frame + 14, off - 14, frame + 24);
	ref_fill(frame + off, ip_tot(frame) - (off - 14), frame + off + 2);
}

/* A whole frame around an IGMP message, written by hand: Ethernet to the
 * group MAC of @p dst, IPv4 TTL 1 protocol 2 with (IHL 6) or without (IHL 5)
 * Router Alert, both checksums. Returns the frame length (not padded). */
static uint32_t
t_frame(uint8_t *buf, uint32_t dst, const uint8_t *msg, uint32_t msg_len, bool ra)
{
	static const uint8_t querier_mac[6] = {0x3c, 0xfd, 0xfe, 0xaa, 0xbb, 0xcc};
	uint32_t hlen = ra ? 24 : 20;
	uint8_t *ip = buf + 14;

	buf[0] = 0x01;
	buf[1] = 0x00;
	buf[2] = 0x5e;
	buf[3] = (uint8_t)((dst >> 16) & 0x7f);
	buf[4] = (uint8_t)(dst >> 8);
	buf[5] = (uint8_t)dst;
	memcpy(buf + 6, querier_mac, 6);
	buf[12] = 0x08;
	buf[13] = 0x00;
	memset(ip, 0, hlen);
	ip[0] = (uint8_t)(0x40 | hlen / 4);
	ip[2] = (uint8_t)((hlen + msg_len) >> 8);
	ip[3] = (uint8_t)(hlen + msg_len);
	ip[8] = 1;
	ip[9] = 2;
	put32(ip + 12, QUERIER_IP);
	put32(ip + 16, dst);
	if (ra) {
		ip[20] = 0x94;
		ip[21] = 0x04;
	}
	memcpy(ip + hlen, msg, msg_len);
	ref_refix(buf);
	return 14 + hlen + msg_len;
}

/* Parse an exact-size heap copy, so ASan sees any read past @p len; pointers
 * into the copy are rebased onto the original. */
static int
frame_parse_exact(const uint8_t *frame, uint32_t len, struct msh_igmp *m)
{
	uint8_t *c = dup_exact(frame, len);
	int r = msh_igmp_frame_parse(c, len, m);

	if (m->src != NULL)
		m->src = frame + (m->src - c);
	if (m->rec != NULL)
		m->rec = frame + (m->rec - c);
	free(c);
	return r;
}

static int
msg_parse_exact(const uint8_t *msg, uint32_t len, struct msh_igmp *m)
{
	uint8_t *c = dup_exact(msg, len);
	int r = msh_igmp_parse(c, len, m);

	if (m->src != NULL)
		m->src = msg + (m->src - c);
	if (m->rec != NULL)
		m->rec = msg + (m->rec - c);
	free(c);
	return r;
}

/* What RFC 3376 §4.2 and RFC 2113 make of the IPv4 header of any report we send. */
static void
check_ip_hdr(const uint8_t *frame, uint32_t dst, uint32_t igmp_len)
{
	const uint8_t *ip = frame + 14;

	assert_be(frame + 12, 0x0800, 2);
	assert_int_equal(ip[0], 0x46);
	assert_int_equal(ip[1], 0xc0);
	assert_be(ip + 2, 24 + igmp_len, 2);
	assert_be(ip + 6, 0x4000, 2);
	assert_int_equal(ip[8], 1);
	assert_int_equal(ip[9], 2);
	assert_be(ip + 12, OUR_IP, 4);
	assert_be(ip + 16, dst, 4);
	assert_be(ip + 20, 0x94040000, 4);
	assert_int_equal(ref_csum(ip, 24, 0), 0);
	assert_int_equal(ref_csum(ip + 24, igmp_len, 0), 0);
}

static void
test_err_strings(void **state)
{
	(void)state;
	assert_reason_names(msh_igmp_err_str, MSH_IGMP_E_COUNT, "ok", "unknown IGMP error");
	assert_string_equal(msh_igmp_err_str(-MSH_IGMP_E_BAD_CSUM), "IGMP checksum wrong");
}

/* RFC 2236 §2: type 0x16, Max Resp Time 0, checksum, group; sent to the group.
 * Checksums summed by hand: IP 0xe907, IGMP 0xf8fa. */
static const uint8_t v2_report_239_1_2_3[60] = {
	/* Ethernet: 01:00:5e + low 23 bits of 239.1.2.3, our MAC, IPv4 */
	0x01, 0x00, 0x5e, 0x01, 0x02, 0x03, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
	/* IPv4: IHL 6, TOS 0xc0, total 32, ID 0, DF, TTL 1, proto 2, csum, src, dst */
	0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0xe9, 0x07,
	0x0a, 0x0b, 0x00, 0x01, 0xef, 0x01, 0x02, 0x03,
	/* Router Alert (RFC 2113): type 0x94, length 4, value 0 */
	0x94, 0x04, 0x00, 0x00,
	/* IGMP: type, max resp, checksum, group */
	0x16, 0x00, 0xf8, 0xfa, 0xef, 0x01, 0x02, 0x03,
	/* Ethernet padding to 60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* RFC 2236 §2: Leave Group, type 0x17, to 224.0.0.2. IP 0xfa09, IGMP 0xf7fa. */
static const uint8_t v2_leave_239_1_2_3[60] = {
	0x01, 0x00, 0x5e, 0x00, 0x00, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
	0x46, 0xc0, 0x00, 0x20, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0xfa, 0x09,
	0x0a, 0x0b, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x02,
	0x94, 0x04, 0x00, 0x00,
	0x17, 0x00, 0xf7, 0xfa, 0xef, 0x01, 0x02, 0x03,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* RFC 3376 §4.2: type 0x22, reserved, checksum, reserved, number of records;
 * each record: type, aux data len, number of sources, group, sources. Here an
 * any-source join of 239.1.2.3 (CHANGE_TO_EXCLUDE {}) and an SSM join of
 * 232.1.1.1 from 10.0.0.1 and 10.0.0.2 (ALLOW_NEW_SOURCES). IP 0xf9dd, IGMP 0xe6f0. */
static const uint8_t v3_report_two_recs[70] = {
	/* Ethernet: to 01:00:5e:00:00:16 (224.0.0.22) */
	0x01, 0x00, 0x5e, 0x00, 0x00, 0x16, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
	/* IPv4: total 56 */
	0x46, 0xc0, 0x00, 0x38, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0xf9, 0xdd,
	0x0a, 0x0b, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x16,
	0x94, 0x04, 0x00, 0x00,
	/* IGMPv3 report header: 2 records */
	0x22, 0x00, 0xe6, 0xf0, 0x00, 0x00, 0x00, 0x02,
	/* record 1: CHANGE_TO_EXCLUDE_MODE, aux 0, 0 sources, 239.1.2.3 */
	0x04, 0x00, 0x00, 0x00, 0xef, 0x01, 0x02, 0x03,
	/* record 2: ALLOW_NEW_SOURCES, aux 0, 2 sources, 232.1.1.1, 10.0.0.1, 10.0.0.2 */
	0x05, 0x00, 0x00, 0x02, 0xe8, 0x01, 0x01, 0x01,
	0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02,
};

static void
test_v2_known_bytes(void **state)
{
	uint8_t buf[128];

	(void)state;
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v2_report_build(buf, sizeof(buf), our_mac, OUR_IP, GROUP_A), 60);
	assert_memory_equal(buf, v2_report_239_1_2_3, 60);
	assert_int_equal(buf[60], 0xAA);
	check_ip_hdr(buf, GROUP_A, 8);

	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v2_leave_build(buf, 60, our_mac, OUR_IP, GROUP_A), 60);
	assert_memory_equal(buf, v2_leave_239_1_2_3, 60);
	assert_int_equal(buf[60], 0xAA);
	check_ip_hdr(buf, MSH_IGMP_ALL_ROUTERS, 8);
}

static void
test_v3_known_bytes(void **state)
{
	static const uint32_t srcs[2] = {IP4(10, 0, 0, 1), IP4(10, 0, 0, 2)};
	const struct msh_igmp_record recs[2] = {
		{.type = MSH_IGMP_CHANGE_TO_EXCLUDE, .group = GROUP_A},
		{.type = MSH_IGMP_ALLOW_NEW_SOURCES, .group = GROUP_SSM, .n_src = 2, .src = srcs},
	};
	uint8_t buf[128];

	(void)state;
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v3_report_len(recs, 2), 70);
	assert_int_equal(msh_igmp_v3_report_build(buf, 70, our_mac, OUR_IP, recs, 2), 70);
	assert_memory_equal(buf, v3_report_two_recs, 70);
	assert_int_equal(buf[70], 0xAA);
	check_ip_hdr(buf, MSH_IGMP_V3_ROUTERS, 32);
}

/* One record without sources: 54 bytes, padded to 60 with zeros. */
static void
test_v3_padding_and_src_zero(void **state)
{
	const struct msh_igmp_record leave = {.type = MSH_IGMP_CHANGE_TO_INCLUDE, .group = GROUP_A};
	struct msh_igmp m;
	uint8_t buf[64];

	(void)state;
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v3_report_len(&leave, 1), 60);
	/* Source 0.0.0.0: a host with no address yet (RFC 3376 §4.2.13). */
	assert_int_equal(msh_igmp_v3_report_build(buf, 60, our_mac, 0, &leave, 1), 60);
	for (int i = 54; i < 60; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[60], 0xAA);
	assert_be(buf + 16, 24 + 16, 2);
	assert_int_equal(ref_csum(buf + 14, 24, 0), 0);
	assert_int_equal(ref_csum(buf + 38, 16, 0), 0);
	assert_int_equal(frame_parse_exact(buf, 60, &m), MSH_IGMP_REPORT_V3);
	assert_int_equal(m.src_ip, 0);
	assert_int_equal(m.len, 16);
	assert_int_equal(m.n_rec, 1);
}

/* Every built frame's checksums, recomputed independently, over random reports. */
static void
test_checksums_independent(void **state)
{
	static uint32_t srcs[64];
	static uint8_t buf[2048];
	uint64_t seed = 0x3376;

	(void)state;
	for (uint32_t i = 0; i < MSH_ARRAY_SIZE(srcs); i++)
		srcs[i] = IP4(10, 1 + i / 200, (i * 7) & 0xFF, 1 + i % 250);
	for (int it = 0; it < 2000; it++) {
		struct msh_igmp_record recs[8];
		uint16_t n = (uint16_t)(1 + t_rand(&seed) % 8);
		uint32_t igmp_len = 8, stored_ip, stored_igmp;
		int len;

		for (uint16_t k = 0; k < n; k++) {
			recs[k].type = (uint8_t)(1 + t_rand(&seed) % 6);
			recs[k].group = IP4(224 + t_rand(&seed) % 16, t_rand(&seed) & 0xFF, 1,
					    1 + t_rand(&seed) % 250);
			recs[k].n_src = (uint16_t)(t_rand(&seed) % 10);
			if (recs[k].n_src == 0 && recs[k].type >= MSH_IGMP_ALLOW_NEW_SOURCES)
				recs[k].n_src = 1;
			recs[k].src = srcs + t_rand(&seed) % 50;
			igmp_len += 8 + 4u * recs[k].n_src;
		}
		len = msh_igmp_v3_report_build(buf, sizeof(buf), our_mac, OUR_IP, recs, n);
		assert_int_equal(len, MSH_MAX(38 + igmp_len, 60u));
		check_ip_hdr(buf, MSH_IGMP_V3_ROUTERS, igmp_len);
		/* The stored values are the ones a zeroed field sums to. */
		stored_ip = (uint32_t)(buf[24] << 8 | buf[25]);
		stored_igmp = (uint32_t)(buf[40] << 8 | buf[41]);
		ref_fill(buf + 14, 24, buf + 24);
		ref_fill(buf + 38, igmp_len, buf + 40);
		assert_int_equal(stored_ip, buf[24] << 8 | buf[25]);
		assert_int_equal(stored_igmp, buf[40] << 8 | buf[41]);
	}
}

static void
test_v3_roundtrip(void **state)
{
	static uint32_t srcs[300];
	static uint8_t buf[4096];
	uint64_t seed = 0x2236;

	(void)state;
	for (uint32_t i = 0; i < MSH_ARRAY_SIZE(srcs); i++)
		srcs[i] = IP4(192, 0, 2 + i / 250, 1 + i % 250);
	for (int it = 0; it < 1000; it++) {
		struct msh_igmp_record recs[16];
		struct msh_igmp_rec_view v;
		struct msh_igmp m, p;
		uint16_t n = (uint16_t)(1 + t_rand(&seed) % 16);
		uint32_t pos = 0;
		uint16_t k = 0;
		int len;

		for (uint16_t j = 0; j < n; j++) {
			recs[j].type = (uint8_t)(1 + t_rand(&seed) % 6);
			recs[j].group = IP4(225 + t_rand(&seed) % 14, t_rand(&seed) & 0xFF,
					    t_rand(&seed) & 0xFF, t_rand(&seed) & 0xFF);
			recs[j].n_src = (uint16_t)(t_rand(&seed) % 20);
			if (recs[j].n_src == 0 && recs[j].type >= MSH_IGMP_ALLOW_NEW_SOURCES)
				recs[j].n_src = 3;
			recs[j].src = recs[j].n_src ? srcs + t_rand(&seed) % 280 : NULL;
		}
		len = msh_igmp_v3_report_build(buf, sizeof(buf), our_mac, OUR_IP, recs, n);
		assert_true(len >= 60);
		assert_int_equal((uint64_t)len, msh_igmp_v3_report_len(recs, n));
		assert_int_equal(frame_parse_exact(buf, (uint32_t)len, &m), MSH_IGMP_REPORT_V3);
		assert_int_equal(m.type, MSH_IGMP_TYPE_V3_REPORT);
		assert_int_equal(m.n_rec, n);
		assert_memory_equal(m.src_mac, our_mac, 6);
		assert_int_equal(m.src_ip, OUR_IP);
		assert_int_equal(m.dst_ip, MSH_IGMP_V3_ROUTERS);
		assert_int_equal(m.ttl, 1);
		assert_true(m.router_alert);
		assert_int_equal(m.len, ip_tot(buf) - 24);
		assert_int_equal(m.rec_len, m.len - 8);
		assert_ptr_equal(m.rec, buf + 46);
		while (msh_igmp_rec_next(&m, &pos, &v)) {
			assert_true(k < n);
			assert_int_equal(v.type, recs[k].type);
			assert_int_equal(v.aux_words, 0);
			assert_int_equal(v.group, recs[k].group);
			assert_int_equal(v.n_src, recs[k].n_src);
			for (uint16_t s = 0; s < v.n_src; s++)
				assert_int_equal(msh_igmp_src(v.src, s), recs[k].src[s]);
			k++;
		}
		assert_int_equal(k, n);
		assert_int_equal(pos, m.rec_len);
		/* The same message as an IPv4 payload: same view, no IP fields. */
		assert_int_equal(msg_parse_exact(buf + 38, m.len, &p), MSH_IGMP_REPORT_V3);
		assert_int_equal(p.n_rec, n);
		assert_int_equal(p.rec_len, m.rec_len);
		assert_ptr_equal(p.rec, buf + 46);
		assert_int_equal(p.ttl, 0);
		assert_false(p.router_alert);
		assert_int_equal(p.src_ip, 0);
	}
}

static void
test_v2_roundtrip(void **state)
{
	static const uint32_t groups[] = {IP4(224, 0, 0, 2), IP4(224, 0, 1, 0),
					  IP4(239, 255, 255, 255), IP4(232, 128, 0, 1),
					  IP4(224, 0, 0, 22)};
	uint8_t buf[60], mac[6];
	struct msh_igmp m;

	(void)state;
	for (uint32_t i = 0; i < MSH_ARRAY_SIZE(groups); i++) {
		uint32_t g = groups[i];

		assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, OUR_IP, g), 60);
		check_ip_hdr(buf, g, 8);
		msh_ipv4_mcast_mac(g, mac);
		assert_memory_equal(buf, mac, 6);
		assert_int_equal(frame_parse_exact(buf, 60, &m), MSH_IGMP_REPORT_V2);
		assert_int_equal(m.type, 0x16);
		assert_int_equal(m.group, g);
		assert_int_equal(m.dst_ip, g);
		assert_int_equal(m.len, 8);
		assert_int_equal(m.max_resp_code, 0);
		assert_true(m.router_alert);

		assert_int_equal(msh_igmp_v2_leave_build(buf, 60, our_mac, OUR_IP, g), 60);
		check_ip_hdr(buf, MSH_IGMP_ALL_ROUTERS, 8);
		assert_int_equal(frame_parse_exact(buf, 60, &m), MSH_IGMP_LEAVE_V2);
		assert_int_equal(m.type, 0x17);
		assert_int_equal(m.group, g);
		assert_int_equal(m.dst_ip, MSH_IGMP_ALL_ROUTERS);
		/* Without the Ethernet padding, and as a bare payload. */
		assert_int_equal(frame_parse_exact(buf, 46, &m), MSH_IGMP_LEAVE_V2);
		assert_int_equal(msg_parse_exact(buf + 38, 8, &m), MSH_IGMP_LEAVE_V2);
		assert_int_equal(m.group, g);
	}
	/* A v1 report (0x12) from another host is recognised too (RFC 2236 §3 suppression). */
	{
		uint8_t msg[8] = {0x12, 0, 0, 0, 239, 1, 2, 3};

		ref_fill(msg, 8, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 8, &m), MSH_IGMP_REPORT_V1);
		assert_int_equal(m.group, GROUP_A);
	}
}

/* Queries as a querier sends them, written by hand (checksums filled in). */
static void
test_queries(void **state)
{
	uint8_t frame[128];
	struct msh_igmp m;
	uint32_t len;

	(void)state;
	{ /* v1: 8 bytes, Max Resp Code 0: 10 s implied, group ignored */
		uint8_t q[8] = {0x11, 0, 0, 0, 1, 2, 3, 4};

		ref_fill(q, 8, q + 2);
		len = t_frame(frame, MSH_IGMP_ALL_HOSTS, q, 8, false);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V1);
		assert_int_equal(m.scope, MSH_IGMP_GENERAL);
		assert_int_equal(m.group, 0);
		assert_int_equal(m.max_resp_ds, 100);
		assert_false(m.router_alert);
		assert_int_equal(m.ttl, 1);
		assert_int_equal(m.src_ip, QUERIER_IP);
		assert_int_equal(m.dst_ip, MSH_IGMP_ALL_HOSTS);
	}
	{ /* v2 general: Max Resp Time 100 = 10.0 s */
		uint8_t q[8] = {0x11, 100, 0, 0, 0, 0, 0, 0};

		ref_fill(q, 8, q + 2);
		len = t_frame(frame, MSH_IGMP_ALL_HOSTS, q, 8, true);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V2);
		assert_int_equal(m.scope, MSH_IGMP_GENERAL);
		assert_int_equal(m.max_resp_code, 100);
		assert_int_equal(m.max_resp_ds, 100);
		assert_true(m.router_alert);
	}
	{ /* v2 group-specific, 1.0 s, to the group */
		uint8_t q[8] = {0x11, 10, 0, 0, 239, 1, 2, 3};

		ref_fill(q, 8, q + 2);
		len = t_frame(frame, GROUP_A, q, 8, true);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V2);
		assert_int_equal(m.scope, MSH_IGMP_GROUP);
		assert_int_equal(m.group, GROUP_A);
		assert_int_equal(m.dst_ip, GROUP_A);
		assert_int_equal(m.max_resp_ds, 10);
	}
	{ /* v3 general: QRV 2, QQIC 125 s, Max Resp Code 100 (10.0 s) */
		uint8_t q[12] = {0x11, 100, 0, 0, 0, 0, 0, 0, 0x02, 125, 0, 0};

		ref_fill(q, 12, q + 2);
		len = t_frame(frame, MSH_IGMP_ALL_HOSTS, q, 12, true);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V3);
		assert_int_equal(m.scope, MSH_IGMP_GENERAL);
		assert_int_equal(m.max_resp_ds, 100);
		assert_int_equal(m.qrv, 2);
		assert_int_equal(m.s_flag, 0);
		assert_int_equal(m.qqic, 125);
		assert_int_equal(m.qqi_s, 125);
		assert_int_equal(m.n_src, 0);
		assert_int_equal(m.len, 12);
	}
	{ /* v3 group-specific, S flag, QRV 2, exponential codes: 0x8F = 24.8 s,
	   * QQIC 0x90 = (0x10 << 4) = 256 s */
		uint8_t q[12] = {0x11, 0x8F, 0, 0, 239, 1, 2, 3, 0x0A, 0x90, 0, 0};

		ref_fill(q, 12, q + 2);
		len = t_frame(frame, GROUP_A, q, 12, true);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V3);
		assert_int_equal(m.scope, MSH_IGMP_GROUP);
		assert_int_equal(m.group, GROUP_A);
		assert_int_equal(m.max_resp_code, 0x8F);
		assert_int_equal(m.max_resp_ds, 248);
		assert_int_equal(m.s_flag, 1);
		assert_int_equal(m.qrv, 2);
		assert_int_equal(m.qqi_s, 256);
	}
	{ /* v3 group-and-source-specific: 232.1.1.1 from 10.0.0.1, 10.0.0.2; 0xFF
	   * = 3174.4 s; QRV 7; 4 bytes of additional data (ignored, §4.1.10) */
		uint8_t q[24] = {0x11, 0xFF, 0, 0, 232, 1, 1, 1, 0x07, 60, 0, 2,
				 10,   0,    0, 1, 10,  0, 0, 2, 0xde, 0xad, 0xbe, 0xef};

		ref_fill(q, 24, q + 2);
		len = t_frame(frame, GROUP_SSM, q, 24, true);
		assert_int_equal(frame_parse_exact(frame, len, &m), MSH_IGMP_QUERY_V3);
		assert_int_equal(m.scope, MSH_IGMP_GROUP_SOURCE);
		assert_int_equal(m.group, GROUP_SSM);
		assert_int_equal(m.max_resp_ds, 31744);
		assert_int_equal(m.qrv, 7);
		assert_int_equal(m.qqi_s, 60);
		assert_int_equal(m.n_src, 2);
		assert_int_equal(m.len, 24);
		assert_ptr_equal(m.src, frame + 38 + 12);
		assert_int_equal(msh_igmp_src(m.src, 0), IP4(10, 0, 0, 1));
		assert_int_equal(msh_igmp_src(m.src, 1), IP4(10, 0, 0, 2));
		/* As the IPv4 payload. */
		assert_int_equal(msg_parse_exact(q, 24, &m), MSH_IGMP_QUERY_V3);
		assert_int_equal(m.scope, MSH_IGMP_GROUP_SOURCE);
		assert_ptr_equal(m.src, q + 12);
		assert_int_equal(m.ttl, 0);
	}
}

static void
test_v3_code_decode(void **state)
{
	uint32_t prev = 0;

	(void)state;
	/* Linear form: the value itself, in 1/10 s for Max Resp Code. */
	assert_int_equal(msh_igmp_v3_code_decode(0), 0);
	assert_int_equal(msh_igmp_v3_code_decode(1), 1);
	assert_int_equal(msh_igmp_v3_code_decode(100), 100); /* 10.0 s */
	assert_int_equal(msh_igmp_v3_code_decode(127), 127);
	/* Exponential form 1|exp|mant: (mant | 0x10) << (exp + 3). */
	assert_int_equal(msh_igmp_v3_code_decode(0x80), 128);	   /* exp 0 mant 0 */
	assert_int_equal(msh_igmp_v3_code_decode(0x8F), 248);	   /* exp 0 mant 15: 24.8 s */
	assert_int_equal(msh_igmp_v3_code_decode(0x90), 256);	   /* exp 1 mant 0 */
	assert_int_equal(msh_igmp_v3_code_decode(0xA5), 21 << 5);  /* exp 2 mant 5 */
	assert_int_equal(msh_igmp_v3_code_decode(0xF0), 16 << 10); /* exp 7 mant 0 */
	assert_int_equal(msh_igmp_v3_code_decode(0xFF), 31744);	   /* the largest */
	/* Never decreasing over all codes, so a larger code never means less time. */
	for (uint32_t c = 0; c < 256; c++) {
		uint32_t v = msh_igmp_v3_code_decode((uint8_t)c);

		assert_true(v >= prev);
		prev = v;
	}
	/* Through the parser: Max Resp Code and QQIC share the rule. */
	for (uint32_t c = 0; c < 256; c++) {
		uint8_t q[12] = {0x11, (uint8_t)c, 0, 0, 0, 0, 0, 0, 2, (uint8_t)(255 - c), 0, 0};
		struct msh_igmp m;

		ref_fill(q, 12, q + 2);
		assert_int_equal(msg_parse_exact(q, 12, &m), MSH_IGMP_QUERY_V3);
		assert_int_equal(m.max_resp_ds, msh_igmp_v3_code_decode((uint8_t)c));
		assert_int_equal(m.qqi_s, msh_igmp_v3_code_decode((uint8_t)(255 - c)));
	}
}

static void
test_builder_errors(void **state)
{
	static const uint8_t group_mac[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
	static const uint8_t zero_mac[6];
	static const uint32_t good_src[1] = {IP4(10, 0, 0, 1)};
	static const uint32_t bad_srcs[3] = {0, IP4(239, 0, 0, 1), 0xFFFFFFFFu};
	const struct msh_igmp_record ok = {.type = MSH_IGMP_CHANGE_TO_EXCLUDE, .group = GROUP_A};
	struct msh_igmp_record r;
	uint8_t buf[128];

	(void)state;
	/* v3: arguments. */
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &ok, 0), -EINVAL);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, NULL, 1), -EINVAL);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, group_mac, OUR_IP, &ok, 1), -EINVAL);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, zero_mac, OUR_IP, &ok, 1), -EINVAL);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, GROUP_A, &ok, 1), -EINVAL);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, 0xFFFFFFFFu, &ok, 1), -EINVAL);
	for (uint8_t t = 0; t < 10; t++) {
		r = ok;
		r.type = t;
		assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1),
				 t >= 1 && t <= 4 ? 60 : -EINVAL);
	}
	r = ok;
	r.group = IP4(10, 0, 0, 1);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1), -EINVAL);
	r.group = MSH_IGMP_ALL_HOSTS;
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1), -EINVAL);
	r.group = IP4(240, 0, 0, 1);
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1), -EINVAL);
	r = ok;
	r.n_src = 1; /* src NULL */
	assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1), -EINVAL);
	for (uint8_t t = MSH_IGMP_ALLOW_NEW_SOURCES; t <= MSH_IGMP_BLOCK_OLD_SOURCES; t++) {
		r = ok;
		r.type = t;
		assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1),
				 -EINVAL);
		r.n_src = 1;
		r.src = good_src;
		assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1), 60);
	}
	for (int i = 0; i < 3; i++) {
		r = ok;
		r.n_src = 1;
		r.src = &bad_srcs[i];
		assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, &r, 1),
				 -EINVAL);
	}
	/* A bad record after a good one still fails, before anything is written. */
	{
		struct msh_igmp_record two[2] = {ok, ok};

		two[1].type = 9;
		memset(buf, 0xAA, sizeof(buf));
		assert_int_equal(msh_igmp_v3_report_build(buf, 128, our_mac, OUR_IP, two, 2),
				 -EINVAL);
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xAA);
	}
	/* v3: capacity. 54 bytes padded to 60: 59 is too small, and nothing is written. */
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v3_report_build(buf, 59, our_mac, OUR_IP, &ok, 1), -ENOSPC);
	assert_int_equal(msh_igmp_v3_report_build(buf, 0, our_mac, OUR_IP, &ok, 1), -ENOSPC);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAA);
	{
		static const uint32_t s2[2] = {IP4(10, 0, 0, 1), IP4(10, 0, 0, 2)};
		const struct msh_igmp_record big = {MSH_IGMP_MODE_IS_INCLUDE, GROUP_A, 2, s2};
		const struct msh_igmp_record two[2] = {ok, big};

		assert_int_equal(msh_igmp_v3_report_len(two, 2), 70);
		assert_int_equal(msh_igmp_v3_report_build(buf, 69, our_mac, OUR_IP, two, 2),
				 -ENOSPC);
		assert_int_equal(msh_igmp_v3_report_build(buf, 70, our_mac, OUR_IP, two, 2), 70);
	}

	/* v2. */
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, OUR_IP, IP4(10, 0, 0, 1)),
			 -EINVAL);
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, OUR_IP, 0), -EINVAL);
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, OUR_IP, MSH_IGMP_ALL_HOSTS),
			 -EINVAL);
	assert_int_equal(msh_igmp_v2_leave_build(buf, 60, our_mac, OUR_IP, IP4(240, 0, 0, 1)),
			 -EINVAL);
	assert_int_equal(msh_igmp_v2_leave_build(buf, 60, group_mac, OUR_IP, GROUP_A), -EINVAL);
	assert_int_equal(msh_igmp_v2_leave_build(buf, 60, zero_mac, OUR_IP, GROUP_A), -EINVAL);
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, GROUP_A, GROUP_A), -EINVAL);
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, 0xFFFFFFFFu, GROUP_A), -EINVAL);
	memset(buf, 0xAA, sizeof(buf));
	assert_int_equal(msh_igmp_v2_report_build(buf, 59, our_mac, OUR_IP, GROUP_A), -ENOSPC);
	assert_int_equal(msh_igmp_v2_leave_build(buf, 0, our_mac, OUR_IP, GROUP_A), -ENOSPC);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0xAA);
	assert_int_equal(msh_igmp_v2_report_build(buf, 60, our_mac, 0, GROUP_A), 60);
}

/* The IPv4 total length limit: 24 + 8 + 8 + 4 * 16373 = 65532 fits, one more source does not. */
static void
test_v3_largest(void **state)
{
	const uint16_t most = 16373;
	uint32_t *srcs = malloc(sizeof(uint32_t) * (most + 1u));
	struct msh_igmp_record r = {.type = MSH_IGMP_MODE_IS_INCLUDE, .group = GROUP_A};
	struct msh_igmp_record two[2];
	uint32_t want = 14 + 24 + 8 + 8 + 4u * most;
	uint8_t *buf = malloc(want);
	struct msh_igmp m;
	int len;

	(void)state;
	assert_non_null(srcs);
	assert_non_null(buf);
	for (uint32_t i = 0; i <= most; i++)
		srcs[i] = IP4(10, i >> 16, (i >> 8) & 0xFF, 1 + (i & 0x7F));
	r.src = srcs;
	r.n_src = most;
	assert_int_equal(msh_igmp_v3_report_len(&r, 1), want);
	len = msh_igmp_v3_report_build(buf, want, our_mac, OUR_IP, &r, 1);
	assert_int_equal(len, want);
	assert_be(buf + 16, 65532, 2);
	assert_int_equal(ref_csum(buf + 38, 65532 - 24, 0), 0);
	assert_int_equal(frame_parse_exact(buf, want, &m), MSH_IGMP_REPORT_V3);
	r.n_src = most + 1;
	assert_int_equal(msh_igmp_v3_report_len(&r, 1), want + 4);
	assert_int_equal(msh_igmp_v3_report_build(buf, want, our_mac, OUR_IP, &r, 1), -EMSGSIZE);
	/* Checked before the capacity. */
	assert_int_equal(msh_igmp_v3_report_build(buf, 0, our_mac, OUR_IP, &r, 1), -EMSGSIZE);
	/* Far past 16 bits, the length is still exact. */
	r.n_src = 65535;
	two[0] = two[1] = r;
	two[0].n_src = 16000;
	assert_int_equal(msh_igmp_v3_report_len(two, 2), 38 + 8 + 16 + 4ull * (16000 + 65535));
	free(srcs);
	free(buf);
}

/* Corrupt a valid frame in one way each and expect the error that names it. */
static void
test_parse_errors(void **state)
{
	static const uint8_t q3[20] = {0x11, 100, 0, 0, 232, 1, 1, 1, 2, 125, 0, 2,
				       10,   0,   0, 1, 10,  0, 0, 2};
	uint8_t base[128], f[128], q[8];
	struct msh_igmp m;
	uint32_t blen, len;

	(void)state;
	memcpy(base, v3_report_two_recs, 70);
	blen = 70;
#define EXPECT(l, err) assert_int_equal(frame_parse_exact(f, (l), &m), -MSH_IGMP_E_##err)
#define RESET() (memcpy(f, base, blen), len = blen)
	assert_int_equal(frame_parse_exact(base, blen, &m), MSH_IGMP_REPORT_V3);

	/* SHORT: runt Ethernet, runt IPv4, IGMP message under 8 bytes. */
	RESET();
	EXPECT(0, SHORT);
	EXPECT(13, SHORT);
	EXPECT(14 + 19, SHORT);
	f[16] = 0;
	f[17] = 24 + 7;
	ref_refix(f);
	EXPECT(len, SHORT);
	assert_int_equal(msg_parse_exact(f + 38, 7, &m), -MSH_IGMP_E_SHORT);
	assert_int_equal(msg_parse_exact(f + 38, 0, &m), -MSH_IGMP_E_SHORT);

	/* NOT_IPV4: ARP, an 802.1Q tag. */
	RESET();
	f[12] = 0x08;
	f[13] = 0x06;
	EXPECT(len, NOT_IPV4);
	f[12] = 0x81;
	f[13] = 0x00;
	EXPECT(len, NOT_IPV4);
	assert_memory_equal(m.src_mac, our_mac, 6);

	/* IP_BAD_HDR: version, IHL, total length, options. */
	RESET();
	f[14] = 0x66;
	EXPECT(len, IP_BAD_HDR);
	f[14] = 0x44;
	EXPECT(len, IP_BAD_HDR);
	RESET();
	f[16] = 0;
	f[17] = 23; /* below IHL 6 */
	EXPECT(len, IP_BAD_HDR);
	RESET();
	f[17]++; /* one past the frame */
	EXPECT(len, IP_BAD_HDR);
	RESET();
	f[35] = 3; /* Router Alert of length 3 */
	ref_refix(f);
	EXPECT(len, IP_BAD_HDR);
	f[35] = 5; /* runs past the header */
	ref_refix(f);
	EXPECT(len, IP_BAD_HDR);
	f[35] = 1; /* length below 2 */
	ref_refix(f);
	EXPECT(len, IP_BAD_HDR);
	f[34] = 1; /* NOP, NOP, NOP, then an option with no length byte */
	f[35] = 1;
	f[36] = 1;
	f[37] = 0x07;
	ref_refix(f);
	EXPECT(len, IP_BAD_HDR);

	/* IP_BAD_CSUM. */
	RESET();
	f[22] ^= 0x01; /* TTL */
	EXPECT(len, IP_BAD_CSUM);

	/* IP_FRAGMENT: MF, then an offset. */
	RESET();
	f[20] = 0x20;
	f[21] = 0;
	ref_refix(f);
	EXPECT(len, IP_FRAGMENT);
	f[20] = 0x00;
	f[21] = 0x10;
	ref_refix(f);
	EXPECT(len, IP_FRAGMENT);

	/* NOT_IGMP. */
	RESET();
	f[23] = 17;
	ref_refix(f);
	EXPECT(len, NOT_IGMP);

	/* BAD_CSUM: any IGMP byte, or a byte past the records inside the IP length. */
	for (uint32_t i = 38; i < 70; i++) {
		RESET();
		f[i] ^= 0x40;
		EXPECT(len, BAD_CSUM);
	}
	RESET();
	f[17] += 2; /* two bytes of additional data, their sum not in the checksum */
	f[70] = 0x12;
	f[71] = 0x34;
	ref_fill(f + 14, 24, f + 24);
	EXPECT(72, BAD_CSUM);
	ref_refix(f); /* summed: additional data is then ignored */
	assert_int_equal(frame_parse_exact(f, 72, &m), MSH_IGMP_REPORT_V3);
	assert_int_equal(m.len, 34);
	assert_int_equal(m.rec_len, 24);

	/* BAD_TYPE: well summed, unknown types (0x13 is DVMRP, 0x1e mtrace). */
	{
		static const uint8_t types[] = {0x00, 0x10, 0x13, 0x14, 0x1e, 0x21, 0x23, 0xff};

		for (uint32_t i = 0; i < sizeof(types); i++) {
			uint8_t msg[8] = {types[i], 0, 0, 0, 239, 1, 2, 3};

			ref_fill(msg, 8, msg + 2);
			assert_int_equal(msg_parse_exact(msg, 8, &m), -MSH_IGMP_E_BAD_TYPE);
			assert_int_equal(m.type, types[i]);
		}
	}

	/* BAD_LEN: queries of 9 to 11 bytes, v3 query sources past the end. */
	for (uint32_t l = 9; l < 12; l++) {
		uint8_t msg[12] = {0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0};

		ref_fill(msg, l, msg + 2);
		assert_int_equal(msg_parse_exact(msg, l, &m), -MSH_IGMP_E_BAD_LEN);
	}
	{
		uint8_t msg[20];

		memcpy(msg, q3, 20);
		msg[11] = 3; /* three sources, room for two */
		ref_fill(msg, 20, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 20, &m), -MSH_IGMP_E_BAD_LEN);
		msg[10] = 0x40; /* 16386 sources: 4 * n is not truncated to 16 bits */
		msg[11] = 2;
		ref_fill(msg, 20, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 20, &m), -MSH_IGMP_E_BAD_LEN);
	}
	/* BAD_LEN: v3 report records: a record header past the end, sources past
	 * the end, auxiliary data past the end. */
	RESET();
	f[45] = 3; /* three records */
	ref_refix(f);
	EXPECT(len, BAD_LEN);
	RESET();
	f[57] = 3; /* record 2: three sources */
	ref_refix(f);
	EXPECT(len, BAD_LEN);
	RESET();
	f[55] = 1; /* record 2: one word of aux data */
	ref_refix(f);
	EXPECT(len, BAD_LEN);
	RESET();
	f[48] = 0x01; /* record 1: 256 sources */
	ref_refix(f);
	EXPECT(len, BAD_LEN);

	/* BAD_GROUP: query group unicast or class E, a general query listing
	 * sources, v1/v2 reports and leaves for non-groups. */
	{
		static const uint32_t bad[] = {IP4(10, 0, 0, 1), IP4(240, 0, 0, 1), 0xFFFFFFFFu};

		for (uint32_t i = 0; i < MSH_ARRAY_SIZE(bad); i++) {
			uint8_t q12[12] = {0x11, 100, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0};

			memset(q, 0, sizeof(q));
			q[0] = 0x11;
			q[1] = 100;
			put32(q + 4, bad[i]);
			ref_fill(q, 8, q + 2);
			assert_int_equal(msg_parse_exact(q, 8, &m), -MSH_IGMP_E_BAD_GROUP);
			put32(q12 + 4, bad[i]);
			ref_fill(q12, 12, q12 + 2);
			assert_int_equal(msg_parse_exact(q12, 12, &m), -MSH_IGMP_E_BAD_GROUP);
			for (uint32_t t = 0; t < 3; t++) {
				q[0] = (uint8_t[]){0x12, 0x16, 0x17}[t];
				q[1] = 0;
				ref_fill(q, 8, q + 2);
				assert_int_equal(msg_parse_exact(q, 8, &m), -MSH_IGMP_E_BAD_GROUP);
			}
		}
		{
			uint8_t msg[20];

			memcpy(msg, q3, 20);
			memset(msg + 4, 0, 4); /* group 0 with two sources */
			ref_fill(msg, 20, msg + 2);
			assert_int_equal(msg_parse_exact(msg, 20, &m), -MSH_IGMP_E_BAD_GROUP);
		}
		memset(q, 0, sizeof(q));
		q[0] = 0x17; /* leave for group 0 */
		ref_fill(q, 8, q + 2);
		assert_int_equal(msg_parse_exact(q, 8, &m), -MSH_IGMP_E_BAD_GROUP);
	}
#undef EXPECT
#undef RESET
}

/* Every shorter length of every kind of frame is rejected, with the error the
 * check order predicts; nothing reads past the length (ASan). */
static void
test_truncation(void **state)
{
	static const uint8_t q3[20] = {0x11, 0xFF, 0, 0, 232, 1, 1, 1, 2, 125, 0, 2,
				       10,   0,    0, 1, 10,  0, 0, 2};
	uint8_t frames[4][128];
	uint32_t lens[4];
	struct msh_igmp m;

	(void)state;
	memcpy(frames[0], v2_report_239_1_2_3, 60);
	lens[0] = 60;
	memcpy(frames[1], v2_leave_239_1_2_3, 60);
	lens[1] = 60;
	memcpy(frames[2], v3_report_two_recs, 70);
	lens[2] = 70;
	lens[3] = t_frame(frames[3], GROUP_SSM, q3, 20, true);
	for (uint32_t b = 0; b < 4; b++) {
		uint32_t ip_end = 14 + ip_tot(frames[b]);

		for (uint32_t l = 0; l <= lens[b]; l++) {
			int r = frame_parse_exact(frames[b], l, &m);

			if (l < 34)
				assert_int_equal(r, -MSH_IGMP_E_SHORT);
			else if (l < ip_end)
				assert_int_equal(r, -MSH_IGMP_E_IP_BAD_HDR);
			else
				assert_true(r > 0); /* the rest is padding */
		}
	}
	/* The message alone, cut short, and re-summed so that the checksum
	 * cannot be what catches it: the structure checks must. */
	for (uint32_t b = 2; b < 4; b++) {
		const uint8_t *msg = frames[b] + 38;
		uint32_t mlen = ip_tot(frames[b]) - 24;

		for (uint32_t l = 0; l < mlen; l++) {
			uint8_t cut[64];
			int r;

			memcpy(cut, msg, l);
			if (l >= 4)
				ref_fill(cut, l, cut + 2);
			r = msg_parse_exact(cut, l, &m);
			if (l < 8)
				assert_int_equal(r, -MSH_IGMP_E_SHORT);
			else if (b == 3 && l == 8)
				/* 8 bytes with a nonzero code: a v2 query, by length (§7.1) */
				assert_int_equal(r, MSH_IGMP_QUERY_V2);
			else
				assert_int_equal(r, -MSH_IGMP_E_BAD_LEN);
			/* Not re-summed: a checksum (or length) error. */
			r = msg_parse_exact(msg, l, &m);
			assert_true(r == -MSH_IGMP_E_SHORT || r == -MSH_IGMP_E_BAD_CSUM);
		}
	}
}

static void
test_ip_options(void **state)
{
	static const uint8_t q[8] = {0x11, 100, 0xee, 0x9b, 0, 0, 0, 0};
	uint8_t f[128], g[128];
	struct msh_igmp m;
	uint32_t len;

	(void)state;
	assert_int_equal(ref_csum(q, 8, 0), 0);
	/* IHL 5: no Router Alert, accepted, noted. */
	len = t_frame(f, MSH_IGMP_ALL_HOSTS, q, 8, false);
	assert_int_equal(frame_parse_exact(f, len, &m), MSH_IGMP_QUERY_V2);
	assert_false(m.router_alert);
	/* IHL 9: NOP, a 7-byte record route, Router Alert, EOL, then bytes after
	 * EOL that are not looked at. */
	memcpy(g, f, 14);
	memcpy(g + 14, f + 14, 20);
	g[14] = 0x49;
	g[17] = 36 + 8;
	{
		static const uint8_t opts[12] = {0x01, 0x07, 0x07, 0x04, 0, 0,
						 0,    0,    0x94, 0x04, 0, 0};

		memcpy(g + 34, opts, 12);
	}
	g[46] = 0x00; /* EOL */
	g[47] = 0xff;
	g[48] = 0xff;
	g[49] = 0xff;
	memcpy(g + 50, q, 8);
	ref_refix(g);
	assert_int_equal(frame_parse_exact(g, 58, &m), MSH_IGMP_QUERY_V2);
	assert_true(m.router_alert);
	assert_int_equal(m.len, 8);
	/* EOL first: the Router Alert after it does not count. */
	g[34] = 0x00;
	ref_refix(g);
	assert_int_equal(frame_parse_exact(g, 58, &m), MSH_IGMP_QUERY_V2);
	assert_false(m.router_alert);
	/* DF is not a fragment. */
	len = t_frame(f, MSH_IGMP_ALL_HOSTS, q, 8, true);
	f[20] = 0x40;
	ref_refix(f);
	assert_int_equal(frame_parse_exact(f, len, &m), MSH_IGMP_QUERY_V2);
}

static void
test_rec_next_bounds(void **state)
{
	struct msh_igmp_rec_view v;
	struct msh_igmp m;
	uint32_t pos;

	(void)state;
	assert_int_equal(frame_parse_exact(v3_report_two_recs, 70, &m), MSH_IGMP_REPORT_V3);
	assert_ptr_equal(m.rec, v3_report_two_recs + 46);
	pos = 0;
	assert_true(msh_igmp_rec_next(&m, &pos, &v));
	assert_int_equal(pos, 8);
	assert_int_equal(v.type, MSH_IGMP_CHANGE_TO_EXCLUDE);
	assert_true(msh_igmp_rec_next(&m, &pos, &v));
	assert_int_equal(pos, 24);
	assert_false(msh_igmp_rec_next(&m, &pos, &v));
	assert_int_equal(pos, 24);
	/* A stray cursor: past the end, inside the last header, or pointing at
	 * bytes whose counts run past the end. */
	pos = 1000;
	assert_false(msh_igmp_rec_next(&m, &pos, &v));
	pos = 20;
	assert_false(msh_igmp_rec_next(&m, &pos, &v));
	pos = 12; /* reads 0xe8010101 as a header: 257 sources */
	assert_false(msh_igmp_rec_next(&m, &pos, &v));
	assert_int_equal(pos, 12);
	/* A v3 report the parser rejected: nothing to walk. */
	{
		uint8_t msg[8] = {0x22, 0, 0, 0, 0, 0, 0, 1};

		ref_fill(msg, 8, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 8, &m), -MSH_IGMP_E_BAD_LEN);
		assert_int_equal(m.type, MSH_IGMP_TYPE_V3_REPORT);
		pos = 0;
		assert_false(msh_igmp_rec_next(&m, &pos, &v));
	}
	/* Not a v3 report. */
	assert_int_equal(frame_parse_exact(v2_report_239_1_2_3, 60, &m), MSH_IGMP_REPORT_V2);
	pos = 0;
	assert_false(msh_igmp_rec_next(&m, &pos, &v));
	/* A v3 report with no records: valid, nothing to walk. */
	{
		uint8_t msg[8] = {0x22, 0, 0, 0, 0, 0, 0, 0};

		ref_fill(msg, 8, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 8, &m), MSH_IGMP_REPORT_V3);
		assert_int_equal(m.n_rec, 0);
		pos = 0;
		assert_false(msh_igmp_rec_next(&m, &pos, &v));
	}
	/* Unknown record types and aux data are walked over, not rejected (§4.2.12). */
	{
		uint8_t msg[36] = {0x22, 0, 0, 0, 0, 0, 0, 2,
				   /* type 9, 1 aux word, 1 source */
				   9, 1, 0, 1, 239, 1, 2, 3, 10, 0, 0, 1, 0xa, 0xb, 0xc, 0xd,
				   /* MODE_IS_EXCLUDE, 0 sources */
				   2, 0, 0, 0, 239, 1, 2, 4, 0x77, 0x77, 0x77, 0x77};

		ref_fill(msg, 36, msg + 2);
		assert_int_equal(msg_parse_exact(msg, 36, &m), MSH_IGMP_REPORT_V3);
		assert_int_equal(m.rec_len, 24);
		assert_ptr_equal(m.rec, msg + 8);
		pos = 0;
		assert_true(msh_igmp_rec_next(&m, &pos, &v));
		assert_int_equal(v.type, 9);
		assert_int_equal(v.aux_words, 1);
		assert_int_equal(v.n_src, 1);
		assert_int_equal(msh_igmp_src(v.src, 0), IP4(10, 0, 0, 1));
		assert_true(msh_igmp_rec_next(&m, &pos, &v));
		assert_int_equal(v.type, MSH_IGMP_MODE_IS_EXCLUDE);
		assert_int_equal(v.group, IP4(239, 1, 2, 4));
		assert_false(msh_igmp_rec_next(&m, &pos, &v));
	}
}

static void
test_mcast_mac(void **state)
{
	static const uint8_t v3r[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x16};
	static const uint8_t a[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
	uint8_t m[6];

	(void)state;
	msh_ipv4_mcast_mac(MSH_IGMP_V3_ROUTERS, m);
	assert_memory_equal(m, v3r, 6);
	msh_ipv4_mcast_mac(GROUP_A, m);
	assert_memory_equal(m, a, 6);
	/* Only 23 bits: 239.129.2.3 and 224.1.2.3 share 239.1.2.3's MAC. */
	msh_ipv4_mcast_mac(IP4(239, 129, 2, 3), m);
	assert_memory_equal(m, a, 6);
	msh_ipv4_mcast_mac(IP4(224, 1, 2, 3), m);
	assert_memory_equal(m, a, 6);
	assert_true(msh_ipv4_is_multicast(IP4(224, 0, 0, 0)));
	assert_true(msh_ipv4_is_multicast(MSH_IGMP_V3_ROUTERS));
	assert_true(msh_ipv4_is_multicast(IP4(239, 255, 255, 255)));
	assert_false(msh_ipv4_is_multicast(IP4(223, 255, 255, 255)));
	assert_false(msh_ipv4_is_multicast(IP4(240, 0, 0, 0)));
	assert_false(msh_ipv4_is_multicast(0));
}

static void
test_timer(void **state)
{
	const uint64_t max = 100; /* 10 s in 1/10 s */
	uint32_t hist[10] = {0};
	uint64_t seed = 0x7153;

	(void)state;
	assert_int_equal(msh_igmp_resp_delay(max, 0), 0);
	assert_int_equal(msh_igmp_resp_delay(max, UINT64_MAX), max - 1);
	assert_int_equal(msh_igmp_resp_delay(0, UINT64_MAX), 0);
	assert_int_equal(msh_igmp_resp_delay(1, UINT64_MAX), 0);
	assert_int_equal(msh_igmp_resp_delay(UINT64_MAX, UINT64_MAX), UINT64_MAX - 1);
	/* Uniform enough: 100000 draws in 10 bins of 10 values, each near 10000. */
	for (int i = 0; i < 100000; i++) {
		uint64_t d = msh_igmp_resp_delay(max, t_rand(&seed));

		assert_true(d < max);
		hist[d / 10]++;
	}
	for (int i = 0; i < 10; i++)
		assert_true(hist[i] > 9500 && hist[i] < 10500);

	/* No pending answer: now + delay. rnd = 2^63: half of max. */
	assert_int_equal(msh_igmp_timer_due(false, 0, 1000, max, 1ull << 63), 1050);
	/* Pending sooner than the new delay: kept. Later: replaced. Equal: kept. */
	assert_int_equal(msh_igmp_timer_due(true, 1020, 1000, max, 1ull << 63), 1020);
	assert_int_equal(msh_igmp_timer_due(true, 1090, 1000, max, 1ull << 63), 1050);
	assert_int_equal(msh_igmp_timer_due(true, 1050, 1000, max, 1ull << 63), 1050);
	/* Overdue pending: kept (it fires at once). */
	assert_int_equal(msh_igmp_timer_due(true, 990, 1000, max, 1ull << 63), 990);
	/* Max Resp 0: answer now, unless something is already due. */
	assert_int_equal(msh_igmp_timer_due(false, 0, 1000, 0, 12345), 1000);
	assert_int_equal(msh_igmp_timer_due(true, 5000, 1000, 0, 12345), 1000);
	/* Across the clock's wrap. */
	assert_int_equal(msh_igmp_timer_due(false, 0, UINT64_MAX - 9, max, 1ull << 63), 40);
	assert_int_equal(msh_igmp_timer_due(true, 5, UINT64_MAX - 9, max, 1ull << 63), 5);
	assert_int_equal(msh_igmp_timer_due(true, 90, UINT64_MAX - 9, max, 1ull << 63), 40);
}

/* Random mutations of valid frames: nothing crashes or reads out of bounds,
 * and whatever is accepted is well formed by the test's own reading. */
static void
test_fuzz_mutations(void **state)
{
	static const uint8_t q3[20] = {0x11, 0x8F, 0, 0, 232, 1, 1, 1, 0x0A, 125, 0, 2,
				       10,   0,    0, 1, 10,  0, 0, 2};
	static const uint8_t q2[8] = {0x11, 100, 0, 0, 239, 1, 2, 3};
	static uint8_t bases[5][128], work[256];
	uint32_t base_len[5], counts[2] = {0};
	uint64_t seed = 0xF133;
	uint8_t q2c[8];

	(void)state;
	memcpy(bases[0], v2_report_239_1_2_3, 60);
	base_len[0] = 60;
	memcpy(bases[1], v2_leave_239_1_2_3, 60);
	base_len[1] = 60;
	memcpy(bases[2], v3_report_two_recs, 70);
	base_len[2] = 70;
	base_len[3] = t_frame(bases[3], GROUP_SSM, q3, 20, true);
	memcpy(q2c, q2, 8);
	ref_fill(q2c, 8, q2c + 2);
	base_len[4] = t_frame(bases[4], GROUP_A, q2c, 8, true);

	for (uint32_t it = 0; it < 100000; it++) {
		uint32_t b = (uint32_t)(t_rand(&seed) % 5);
		uint32_t len = base_len[b];
		uint32_t muts = 1 + (uint32_t)(t_rand(&seed) % 4);
		bool refix = (t_rand(&seed) & 1) != 0;
		struct msh_igmp m;
		int r;

		memcpy(work, bases[b], len);
		for (uint32_t k = 0; k < muts; k++) {
			uint64_t x = t_rand(&seed);

			switch (x % 6) {
			case 0: /* truncate */
				len = (uint32_t)((x >> 8) % (len + 1));
				break;
			case 1: /* append random bytes */
				for (uint32_t e = (x >> 8) % 32; e > 0 && len < 200; e--)
					work[len++] = (uint8_t)t_rand(&seed);
				break;
			case 2: /* flip a bit */
				if (len > 0)
					work[(x >> 8) % len] ^= (uint8_t)(1u << ((x >> 20) % 8));
				break;
			default: /* random byte in the IP and IGMP headers */
				if (len > 14)
					work[14 + (x >> 8) % MSH_MIN(len - 14, 40u)] =
						(uint8_t)(x >> 32);
				break;
			}
		}
		/* Re-summing lets mutations get past the checksums half the time. */
		if (refix && len >= 34 && (work[14] & 0xF) >= 5 && l4_off(work) + 4 <= len &&
		    14 + ip_tot(work) <= len && ip_tot(work) >= l4_off(work) - 14 + 4)
			ref_refix(work);
		r = frame_parse_exact(work, len, &m);
		assert_true(r != 0 && r > -MSH_IGMP_E_COUNT && r <= MSH_IGMP_REPORT_V3);
		counts[r > 0]++;
		if (r > 0) {
			uint32_t off = l4_off(work), tot = ip_tot(work);
			struct msh_igmp_rec_view v;
			uint32_t pos = 0, n = 0;

			assert_true(14 + tot <= len);
			assert_int_equal(work[23], 2);
			assert_int_equal(ref_csum(work + 14, off - 14, 0), 0);
			assert_int_equal(ref_csum(work + off, tot - (off - 14), 0), 0);
			assert_int_equal(m.len, tot - (off - 14));
			assert_int_equal(m.type, work[off]);
			if (r == MSH_IGMP_REPORT_V3) {
				while (msh_igmp_rec_next(&m, &pos, &v))
					n++;
				assert_int_equal(n, m.n_rec);
				assert_int_equal(pos, m.rec_len);
				assert_true(8 + m.rec_len <= m.len);
			} else if (r == MSH_IGMP_QUERY_V3) {
				assert_true(12 + 4u * m.n_src <= m.len);
			}
		}
	}
	/* Both outcomes are exercised. */
	assert_true(counts[0] > 1000);
	assert_true(counts[1] > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_strings),
		cmocka_unit_test(test_v2_known_bytes),
		cmocka_unit_test(test_v3_known_bytes),
		cmocka_unit_test(test_v3_padding_and_src_zero),
		cmocka_unit_test(test_checksums_independent),
		cmocka_unit_test(test_v3_roundtrip),
		cmocka_unit_test(test_v2_roundtrip),
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_v3_code_decode),
		cmocka_unit_test(test_builder_errors),
		cmocka_unit_test(test_v3_largest),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_ip_options),
		cmocka_unit_test(test_rec_next_bounds),
		cmocka_unit_test(test_mcast_mac),
		cmocka_unit_test(test_timer),
		cmocka_unit_test(test_fuzz_mutations),
	};

	return cmocka_run_group_tests_name("igmp", tests, NULL, NULL);
}
