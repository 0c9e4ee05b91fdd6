/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The IGMP layer declared in igmp.h: error names generated from
 * foreach_msh_igmp_err, the builders of IGMPv3 reports and IGMPv2 reports and
 * leaves (Ethernet, IPv4 with Router Alert, IGMP, padding), and the parsers of
 * IGMP messages and of whole frames carrying them. Builders validate their
 * arguments and check the capacity before they write; parsers check each
 * length before they read the bytes it covers, and the IPv4 total length (not
 * the frame length) bounds the message, so Ethernet padding is ignored.
 * Checksums are net.h's msh_inet_csum(). No allocation, no DPDK.
 */
#include <errno.h>

#include "igmp.h"
#include "net_pvt.h"

static const char *const igmp_err_names[MSH_IGMP_E_COUNT] = {
	[MSH_IGMP_OK] = "ok",
#define _(sym, str) [MSH_IGMP_E_##sym] = str,
	foreach_msh_igmp_err
#undef _
};

const char *
msh_igmp_err_str(int err)
{
	return msh_reason_str(igmp_err_names, MSH_ARRAY_SIZE(igmp_err_names), err,
			      "unknown IGMP error");
}

/* Ethernet and IPv4 offsets are net.c's (net_pvt.h); IGMP's own follow. */

/* Internetwork control (CS6), as Linux sends IGMP. */
#define IP_TOS_IGMP 0xC0
#define IP_OPT_EOL 0
#define IP_OPT_NOP 1
#define IP_OPT_RA 0x94 /* copied flag, class 0, number 20 (RFC 2113) */
#define IP_OPT_RA_LEN 4

/* IGMP message: the 8 bytes every version shares, then v3's query fields. */
#define IGMP_TYPE 0
#define IGMP_CODE 1 /* Max Resp Code / Time; reserved in v3 reports */
#define IGMP_CSUM 2
#define IGMP_GROUP 4
#define IGMP_Q_FLAGS 8 /* Resv(4) S(1) QRV(3) */
#define IGMP_Q_QQIC 9
#define IGMP_Q_NSRC 10
#define IGMP_Q_SRC 12
#define IGMP_R_NREC 6 /* v3 report: reserved(16) at 4, record count at 6 */

#define REC_TYPE 0
#define REC_AUX 1
#define REC_NSRC 2
#define REC_GROUP 4
#define REC_SRC 8

#define IGMP_Q_S_FLAG 0x08
#define IGMP_Q_QRV_MASK 0x07
/* RFC 2236 §4: a v1 query means a Max Response Time of 10 s. */
#define IGMP_V1_MAX_RESP_DS 100

static const uint8_t mac_v3_routers[MSH_ETH_ALEN] = {0x01, 0x00, 0x5E, 0x00, 0x00, 0x16};

/* Builders. */

static bool
src_ok(const uint8_t *src_mac, uint32_t src_ip)
{
	return !msh_mac_is_group(src_mac) && !msh_mac_is_zero(src_mac) &&
	       !msh_ipv4_is_multicast(src_ip) && src_ip != MSH_IPV4_BROADCAST;
}

/* A reportable group: multicast, and not all-hosts, whose membership is
 * permanent and never reported (RFC 2236 §6, RFC 3376 §5). */
static bool
group_ok(uint32_t group)
{
	return msh_ipv4_is_multicast(group) && group != MSH_IGMP_ALL_HOSTS;
}

/* Ethernet and the 24-byte IPv4 header with Router Alert in front of an IGMP
 * message of @p igmp_len bytes, and zeros from its end to @p frame_len. */
static void
hdrs_write(uint8_t *buf, uint32_t frame_len, const uint8_t *dst_mac, const uint8_t *src_mac,
	   uint32_t src_ip, uint32_t dst_ip, uint32_t igmp_len)
{
	uint8_t *ip = buf + MSH_ETH_HDR_LEN;
	uint32_t end = MSH_IGMP_HDRS_LEN + igmp_len;

	memcpy(buf + ETH_DST, dst_mac, MSH_ETH_ALEN);
	memcpy(buf + ETH_SRC, src_mac, MSH_ETH_ALEN);
	msh_store_be16(buf + ETH_TYPE, MSH_ETHERTYPE_IPV4);
	ip[IP_VIHL] = 0x40 | (MSH_IGMP_IP_HDR_LEN / 4);
	ip[IP_TOS] = IP_TOS_IGMP;
	msh_store_be16(ip + IP_TOTLEN, (uint16_t)(MSH_IGMP_IP_HDR_LEN + igmp_len));
	/* ID 0 with DF, as net.c's datagrams (RFC 6864: atomic datagrams). */
	msh_store_be16(ip + IP_ID, 0);
	msh_store_be16(ip + IP_FRAG, IP_F_DF);
	/* TTL 1: IGMP never leaves the link (RFC 3376 §4, RFC 2236 §2). */
	ip[IP_TTL] = 1;
	ip[IP_PROTO] = MSH_IPPROTO_IGMP;
	msh_store_be16(ip + IP_CSUM, 0);
	msh_store_be32(ip + IP_SRC, src_ip);
	msh_store_be32(ip + IP_DST, dst_ip);
	ip[IP_OPTS + 0] = IP_OPT_RA;
	ip[IP_OPTS + 1] = IP_OPT_RA_LEN;
	ip[IP_OPTS + 2] = 0; /* value 0: every router examines the packet */
	ip[IP_OPTS + 3] = 0;
	msh_store_be16(ip + IP_CSUM, msh_inet_csum(ip, MSH_IGMP_IP_HDR_LEN, 0));
	if (end < frame_len)
		memset(buf + end, 0, frame_len - end);
}

static bool
rec_type_ok(uint8_t type)
{
	return type >= MSH_IGMP_MODE_IS_INCLUDE && type <= MSH_IGMP_BLOCK_OLD_SOURCES;
}

static bool
rec_ok(const struct msh_igmp_record *r)
{
	if (!rec_type_ok(r->type) || !group_ok(r->group))
		return false;
	if (r->n_src == 0)
		return r->type != MSH_IGMP_ALLOW_NEW_SOURCES &&
		       r->type != MSH_IGMP_BLOCK_OLD_SOURCES;
	if (r->src == NULL)
		return false;
	for (uint16_t i = 0; i < r->n_src; i++) {
		uint32_t s = r->src[i];

		if (s == 0 || s == MSH_IPV4_BROADCAST || msh_ipv4_is_multicast(s))
			return false;
	}
	return true;
}

/* Bytes of the IGMP message for these records (no overflow: at most
 * 65535 * (8 + 4 * 65535)). */
static uint64_t
v3_report_igmp_len(const struct msh_igmp_record *recs, uint16_t n)
{
	uint64_t len = MSH_IGMP_V3_REPORT_HDR_LEN;

	for (uint16_t i = 0; i < n; i++)
		len += MSH_IGMP_V3_REC_HDR_LEN + 4 * (uint64_t)recs[i].n_src;
	return len;
}

uint64_t
msh_igmp_v3_report_len(const struct msh_igmp_record *recs, uint16_t n)
{
	uint64_t len = MSH_IGMP_HDRS_LEN + v3_report_igmp_len(recs, n);

	return MSH_MAX(len, (uint64_t)MSH_ETH_MIN_LEN);
}

int
msh_igmp_v3_report_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			 uint32_t src_ip, const struct msh_igmp_record *recs, uint16_t n)
{
	uint8_t *g = buf + MSH_IGMP_HDRS_LEN;
	uint64_t igmp_len, frame_len;
	uint32_t off;

	if (n == 0 || recs == NULL || !src_ok(src_mac, src_ip))
		return -EINVAL;
	for (uint16_t i = 0; i < n; i++)
		if (!rec_ok(&recs[i]))
			return -EINVAL;
	igmp_len = v3_report_igmp_len(recs, n);
	if (MSH_IGMP_IP_HDR_LEN + igmp_len > 65535u)
		return -EMSGSIZE;
	frame_len = MSH_MAX(MSH_IGMP_HDRS_LEN + igmp_len, (uint64_t)MSH_ETH_MIN_LEN);
	if (cap < frame_len)
		return -ENOSPC;
	hdrs_write(buf, (uint32_t)frame_len, mac_v3_routers, src_mac, src_ip, MSH_IGMP_V3_ROUTERS,
		   (uint32_t)igmp_len);
	g[IGMP_TYPE] = MSH_IGMP_TYPE_V3_REPORT;
	g[IGMP_CODE] = 0;
	msh_store_be16(g + IGMP_CSUM, 0);
	msh_store_be16(g + IGMP_GROUP, 0); /* reserved */
	msh_store_be16(g + IGMP_R_NREC, n);
	off = MSH_IGMP_V3_REPORT_HDR_LEN;
	for (uint16_t i = 0; i < n; i++) {
		const struct msh_igmp_record *r = &recs[i];
		uint8_t *rec = g + off;

		rec[REC_TYPE] = r->type;
		rec[REC_AUX] = 0;
		msh_store_be16(rec + REC_NSRC, r->n_src);
		msh_store_be32(rec + REC_GROUP, r->group);
		for (uint16_t k = 0; k < r->n_src; k++)
			msh_store_be32(rec + REC_SRC + 4 * (uint32_t)k, r->src[k]);
		off += MSH_IGMP_V3_REC_HDR_LEN + 4 * (uint32_t)r->n_src;
	}
	msh_store_be16(g + IGMP_CSUM, msh_inet_csum(g, (size_t)igmp_len, 0));
	return (int)frame_len;
}

static int
v2_build(uint8_t *buf, size_t cap, const uint8_t *src_mac, uint32_t src_ip, uint32_t group,
	 uint8_t type, uint32_t dst_ip)
{
	uint8_t *g = buf + MSH_IGMP_HDRS_LEN;
	uint8_t dst_mac[MSH_ETH_ALEN];

	if (!group_ok(group) || !src_ok(src_mac, src_ip))
		return -EINVAL;
	if (cap < MSH_IGMP_V2_FRAME_LEN)
		return -ENOSPC;
	msh_ipv4_mcast_mac(dst_ip, dst_mac);
	hdrs_write(buf, MSH_IGMP_V2_FRAME_LEN, dst_mac, src_mac, src_ip, dst_ip, MSH_IGMP_V2_LEN);
	g[IGMP_TYPE] = type;
	g[IGMP_CODE] = 0;
	msh_store_be16(g + IGMP_CSUM, 0);
	msh_store_be32(g + IGMP_GROUP, group);
	msh_store_be16(g + IGMP_CSUM, msh_inet_csum(g, MSH_IGMP_V2_LEN, 0));
	return MSH_IGMP_V2_FRAME_LEN;
}

int
msh_igmp_v2_report_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			 uint32_t src_ip, uint32_t group)
{
	return v2_build(buf, cap, src_mac, src_ip, group, MSH_IGMP_TYPE_V2_REPORT, group);
}

int
msh_igmp_v2_leave_build(uint8_t *buf, size_t cap, const uint8_t src_mac[MSH_ETH_ALEN],
			uint32_t src_ip, uint32_t group)
{
	return v2_build(buf, cap, src_mac, src_ip, group, MSH_IGMP_TYPE_V2_LEAVE,
			MSH_IGMP_ALL_ROUTERS);
}

/* Parsers. */

static int
query_parse(const uint8_t *g, uint32_t len, struct msh_igmp *m)
{
	int kind;

	m->max_resp_code = g[IGMP_CODE];
	m->group = msh_load_be32(g + IGMP_GROUP);
	if (len == MSH_IGMP_V2_LEN) {
		if (g[IGMP_CODE] == 0) {
			kind = MSH_IGMP_QUERY_V1;
			m->max_resp_ds = IGMP_V1_MAX_RESP_DS;
			/* RFC 1112: zeroed when sent, ignored when received. */
			m->group = 0;
		} else {
			kind = MSH_IGMP_QUERY_V2;
			m->max_resp_ds = g[IGMP_CODE];
		}
	} else if (len < MSH_IGMP_V3_QUERY_LEN) {
		/* 9 to 11 bytes is no version (RFC 3376 §7.1): ignored. */
		return -MSH_IGMP_E_BAD_LEN;
	} else {
		kind = MSH_IGMP_QUERY_V3;
		m->n_src = msh_load_be16(g + IGMP_Q_NSRC);
		if (4 * (uint32_t)m->n_src > len - MSH_IGMP_V3_QUERY_LEN)
			return -MSH_IGMP_E_BAD_LEN;
		m->s_flag = (g[IGMP_Q_FLAGS] & IGMP_Q_S_FLAG) != 0;
		m->qrv = g[IGMP_Q_FLAGS] & IGMP_Q_QRV_MASK;
		m->qqic = g[IGMP_Q_QQIC];
		m->qqi_s = msh_igmp_v3_code_decode(m->qqic);
		m->max_resp_ds = msh_igmp_v3_code_decode(m->max_resp_code);
		m->src = g + IGMP_Q_SRC;
	}
	if (m->group != 0 && !msh_ipv4_is_multicast(m->group))
		return -MSH_IGMP_E_BAD_GROUP;
	if (m->group == 0 && m->n_src != 0)
		return -MSH_IGMP_E_BAD_GROUP;
	m->scope = m->group == 0   ? MSH_IGMP_GENERAL
		   : m->n_src == 0 ? MSH_IGMP_GROUP
				   : MSH_IGMP_GROUP_SOURCE;
	return kind;
}

static int
v3_report_parse(const uint8_t *g, uint32_t len, struct msh_igmp *m)
{
	uint32_t off = MSH_IGMP_V3_REPORT_HDR_LEN;

	m->n_rec = msh_load_be16(g + IGMP_R_NREC);
	for (uint16_t i = 0; i < m->n_rec; i++) {
		uint32_t rec_len;

		if (len - off < MSH_IGMP_V3_REC_HDR_LEN)
			return -MSH_IGMP_E_BAD_LEN;
		rec_len = MSH_IGMP_V3_REC_HDR_LEN + 4 * (uint32_t)g[off + REC_AUX] +
			  4 * (uint32_t)msh_load_be16(g + off + REC_NSRC);
		if (rec_len > len - off)
			return -MSH_IGMP_E_BAD_LEN;
		off += rec_len;
	}
	m->rec = g + MSH_IGMP_V3_REPORT_HDR_LEN;
	m->rec_len = off - MSH_IGMP_V3_REPORT_HDR_LEN;
	return MSH_IGMP_REPORT_V3;
}

/* The message checks, on a struct already zeroed (and maybe holding the
 * frame-level fields). */
static int
msg_parse(const uint8_t *g, uint32_t len, struct msh_igmp *m)
{
	if (len < MSH_IGMP_V2_LEN)
		return -MSH_IGMP_E_SHORT;
	/* Over the whole message, trailing bytes included (RFC 3376 §4.1.10). */
	if (msh_inet_csum(g, len, 0) != 0)
		return -MSH_IGMP_E_BAD_CSUM;
	m->len = len;
	m->type = g[IGMP_TYPE];
	switch (m->type) {
	case MSH_IGMP_TYPE_QUERY:
		return query_parse(g, len, m);
	case MSH_IGMP_TYPE_V1_REPORT:
	case MSH_IGMP_TYPE_V2_REPORT:
	case MSH_IGMP_TYPE_V2_LEAVE:
		m->max_resp_code = g[IGMP_CODE];
		m->group = msh_load_be32(g + IGMP_GROUP);
		if (!msh_ipv4_is_multicast(m->group))
			return -MSH_IGMP_E_BAD_GROUP;
		return m->type == MSH_IGMP_TYPE_V1_REPORT   ? MSH_IGMP_REPORT_V1
		       : m->type == MSH_IGMP_TYPE_V2_REPORT ? MSH_IGMP_REPORT_V2
							    : MSH_IGMP_LEAVE_V2;
	case MSH_IGMP_TYPE_V3_REPORT:
		return v3_report_parse(g, len, m);
	default:
		return -MSH_IGMP_E_BAD_TYPE;
	}
}

int
msh_igmp_parse(const uint8_t *msg, uint32_t len, struct msh_igmp *m)
{
	memset(m, 0, sizeof(*m));
	return msg_parse(msg, len, m);
}

/* Walk the options of an IPv4 header (RFC 791 §3.1): every option but EOL and
 * NOP carries a length of at least 2 that stays inside the header. */
static bool
ip_opts_scan(const uint8_t *o, uint32_t len, bool *router_alert)
{
	uint32_t i = 0;

	while (i < len) {
		uint8_t type = o[i];
		uint8_t olen;

		if (type == IP_OPT_EOL)
			break;
		if (type == IP_OPT_NOP) {
			i++;
			continue;
		}
		if (len - i < 2)
			return false;
		olen = o[i + 1];
		if (olen < 2 || olen > len - i)
			return false;
		if (type == IP_OPT_RA) {
			if (olen != IP_OPT_RA_LEN)
				return false;
			*router_alert = true;
		}
		i += olen;
	}
	return true;
}

int
msh_igmp_frame_parse(const uint8_t *frame, uint32_t len, struct msh_igmp *m)
{
	const uint8_t *ip = frame + MSH_ETH_HDR_LEN;
	uint32_t avail, hlen, tot;

	memset(m, 0, sizeof(*m));
	if (len < MSH_ETH_HDR_LEN)
		return -MSH_IGMP_E_SHORT;
	memcpy(m->src_mac, frame + ETH_SRC, MSH_ETH_ALEN);
	if (msh_load_be16(frame + ETH_TYPE) != MSH_ETHERTYPE_IPV4)
		return -MSH_IGMP_E_NOT_IPV4;
	avail = len - MSH_ETH_HDR_LEN;
	if (avail < MSH_IPV4_HDR_LEN)
		return -MSH_IGMP_E_SHORT;
	if ((ip[IP_VIHL] >> 4) != 4 || (ip[IP_VIHL] & 0xF) < 5)
		return -MSH_IGMP_E_IP_BAD_HDR;
	hlen = (uint32_t)(ip[IP_VIHL] & 0xF) * 4;
	tot = msh_load_be16(ip + IP_TOTLEN);
	/* The total length, not the frame length, bounds the datagram: bytes
	 * past it are Ethernet padding. */
	if (tot < hlen || tot > avail)
		return -MSH_IGMP_E_IP_BAD_HDR;
	if (!ip_opts_scan(ip + IP_OPTS, hlen - MSH_IPV4_HDR_LEN, &m->router_alert))
		return -MSH_IGMP_E_IP_BAD_HDR;
	if (msh_inet_csum(ip, hlen, 0) != 0)
		return -MSH_IGMP_E_IP_BAD_CSUM;
	if (msh_load_be16(ip + IP_FRAG) & (IP_F_MF | IP_OFFSET_MASK))
		return -MSH_IGMP_E_IP_FRAGMENT;
	if (ip[IP_PROTO] != MSH_IPPROTO_IGMP)
		return -MSH_IGMP_E_NOT_IGMP;
	m->ttl = ip[IP_TTL];
	m->src_ip = msh_load_be32(ip + IP_SRC);
	m->dst_ip = msh_load_be32(ip + IP_DST);
	return msg_parse(ip + hlen, tot - hlen, m);
}

bool
msh_igmp_rec_next(const struct msh_igmp *m, uint32_t *pos, struct msh_igmp_rec_view *r)
{
	const uint8_t *p;
	uint32_t rec_len;

	/* Bounds again, so that a stray *pos cannot lead outside the records. */
	if (m->type != MSH_IGMP_TYPE_V3_REPORT || m->rec == NULL || *pos >= m->rec_len ||
	    m->rec_len - *pos < MSH_IGMP_V3_REC_HDR_LEN)
		return false;
	p = m->rec + *pos;
	r->type = p[REC_TYPE];
	r->aux_words = p[REC_AUX];
	r->n_src = msh_load_be16(p + REC_NSRC);
	r->group = msh_load_be32(p + REC_GROUP);
	r->src = p + REC_SRC;
	rec_len = MSH_IGMP_V3_REC_HDR_LEN + 4 * (uint32_t)r->aux_words + 4 * (uint32_t)r->n_src;
	if (rec_len > m->rec_len - *pos)
		return false;
	*pos += rec_len;
	return true;
}
