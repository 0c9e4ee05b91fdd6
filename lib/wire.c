/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Parsers and builders for the packets of shared/PROTOCOL.md version 1 (see
 * wire.h): the native header and its six packet types, and MoldUDP64 downstream
 * and request packets, plus the status and wire-error name tables generated
 * from the X-macro lists in wire.h. Parsers check every bound against the
 * datagram length before they read; builders check the capacity before they
 * write anything. No allocation, no state, no DPDK.
 */
#include <errno.h>
#include <limits.h>

#include "wire.h"

/* Tables indexed by value: generated from the lists so that stats, CLI and
 * telemetry cannot disagree with the codes on the wire. A list value past
 * MSH_S_COUNT would fail to compile (excess designated initialiser). */
static const char *const status_names[MSH_S_COUNT] = {
#define _(sym, val, str) [MSH_S_##sym] = str,
	foreach_msh_status
#undef _
};

static const char *const wire_err_names[MSH_WIRE_E_COUNT] = {
	[MSH_WIRE_OK] = "ok",
#define _(sym, str) [MSH_WIRE_E_##sym] = str,
	foreach_msh_wire_err
#undef _
};

const char *
msh_status_str(unsigned int status)
{
	if (status >= MSH_ARRAY_SIZE(status_names) || status_names[status] == NULL)
		return "unknown status";
	return status_names[status];
}

const char *
msh_wire_err_str(int err)
{
	return msh_reason_str(wire_err_names, MSH_ARRAY_SIZE(wire_err_names), err,
			      "unknown wire error");
}

/* Offsets of PROTOCOL.md, named once here so parsers and builders agree. */
#define OFF_MAGIC 0
#define OFF_VERSION 2
#define OFF_TYPE 3
#define OFF_FLAGS 4
#define OFF_RSVD1 5
#define OFF_COUNT 6
#define OFF_SHARD 8
#define OFF_RSVD2 18
#define OFF_BODY MSH_HDR_LEN /* first type-specific field */

#define OFF_MOLD_SESSION 0
#define OFF_MOLD_SEQ 10
#define OFF_MOLD_COUNT 18

int
msh_hdr_parse(const void *buf, size_t len, struct msh_hdr *h)
{
	const uint8_t *b = buf;
	int rc;

	if (MSH_UNLIKELY(len < MSH_HDR_LEN))
		rc = -MSH_WIRE_E_TRUNCATED;
	else if (MSH_UNLIKELY(msh_load_be16(b + OFF_MAGIC) != MSH_MAGIC))
		rc = -MSH_WIRE_E_BAD_MAGIC;
	else if (MSH_UNLIKELY(b[OFF_VERSION] != MSH_VERSION))
		rc = -MSH_WIRE_E_BAD_VERSION;
	else if (MSH_UNLIKELY(b[OFF_TYPE] < MSH_T_PUBLISH || b[OFF_TYPE] > MSH_T_UNAVAILABLE))
		rc = -MSH_WIRE_E_BAD_TYPE;
	else if (MSH_UNLIKELY(!msh_name_valid((const struct msh_name *)(b + OFF_SHARD))))
		rc = -MSH_WIRE_E_BAD_SHARD;
	else
		rc = 0;
	if (MSH_UNLIKELY(rc != 0)) {
		/* type 0 tells callers (msh_publish_parse's) that no header was read */
		memset(h, 0, sizeof(*h));
		return rc;
	}
	h->version = b[OFF_VERSION];
	h->type = b[OFF_TYPE];
	h->flags = b[OFF_FLAGS];
	h->count = msh_load_be16(b + OFF_COUNT);
	memcpy(h->shard.b, b + OFF_SHARD, MSH_NAME_LEN);
	return 0;
}

/* Header of a fixed-size packet: the type must be @p type and the datagram
 * exactly @p fixed bytes long. */
static int
hdr_parse_fixed(const uint8_t *b, size_t len, uint8_t type, size_t fixed, struct msh_hdr *h)
{
	int rc = msh_hdr_parse(b, len, h);

	if (rc != 0)
		return rc;
	if (h->type != type)
		return -MSH_WIRE_E_BAD_TYPE;
	if (len < fixed)
		return -MSH_WIRE_E_TRUNCATED;
	if (len > fixed)
		return -MSH_WIRE_E_BAD_LENGTH;
	return 0;
}

int
msh_blocks_check(const uint8_t *blocks, size_t len, uint32_t count, uint32_t *max_len)
{
	size_t off = 0;
	uint32_t longest = 0;

	/* Every block needs its 2-byte length: reject impossible counts before
	 * walking, which also bounds the loop by len. */
	if (MSH_UNLIKELY((size_t)count > len / MSH_BLOCK_HDR_LEN))
		return -MSH_WIRE_E_BLOCK_OVERRUN;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t l;

		if (MSH_UNLIKELY(len - off < MSH_BLOCK_HDR_LEN))
			return -MSH_WIRE_E_BLOCK_OVERRUN;
		l = msh_load_be16(blocks + off);
		off += MSH_BLOCK_HDR_LEN;
		if (MSH_UNLIKELY(l > len - off))
			return -MSH_WIRE_E_BLOCK_OVERRUN;
		off += l;
		longest = l > longest ? l : longest;
	}
	if (MSH_UNLIKELY(off != len))
		return -MSH_WIRE_E_BLOCK_UNDERRUN;
	if (max_len != NULL)
		*max_len = longest;
	return 0;
}

uint32_t
msh_blocks_skip(const uint8_t *blocks, uint32_t n)
{
	uint32_t off = 0;

	while (n-- > 0)
		off += MSH_BLOCK_HDR_LEN + msh_load_be16(blocks + off);
	return off;
}

/*
 * On error p->hdr is filled whenever the native header parsed (p->hdr.type is
 * then non-zero; a PUBLISH whose body is malformed has p->hdr.type ==
 * MSH_T_PUBLISH), and zeroed otherwise. publisher_id and publisher_seq are
 * filled once the datagram reaches 32 bytes, max_msg_len once the blocks are
 * well formed (so a TOO_LARGE drop can report the size).
 */
int
msh_publish_parse(const void *buf, size_t len, uint32_t max_msg, struct msh_publish *p)
{
	const uint8_t *b = buf;
	uint64_t count;
	uint32_t longest;
	int rc;

	rc = msh_hdr_parse(b, len, &p->hdr);
	if (MSH_UNLIKELY(rc != 0))
		return rc;
	if (MSH_UNLIKELY(p->hdr.type != MSH_T_PUBLISH))
		return -MSH_WIRE_E_BAD_TYPE;
	if (MSH_UNLIKELY(len < MSH_PUBLISH_HDR_LEN))
		return -MSH_WIRE_E_TRUNCATED;
	p->publisher_id = msh_load_be32(b + OFF_BODY);
	p->publisher_seq = msh_load_be64(b + OFF_BODY + 4);
	count = p->hdr.count;
	if (MSH_UNLIKELY(count == 0))
		return -MSH_WIRE_E_COUNT_ZERO;
	/* seq + count, the publisher's next seq, must not wrap: dedupe computes it
	 * and keeps 0 for "no publisher". So the last usable seq is UINT64_MAX - 1. */
	if (MSH_UNLIKELY(p->publisher_seq == 0 || count > UINT64_MAX - p->publisher_seq))
		return -MSH_WIRE_E_BAD_SEQ;
	rc = msh_blocks_check(b + MSH_PUBLISH_HDR_LEN, len - MSH_PUBLISH_HDR_LEN,
			      (uint32_t)count, &longest);
	if (MSH_UNLIKELY(rc != 0))
		return rc;
	p->max_msg_len = longest;
	if (MSH_UNLIKELY(longest > max_msg))
		return -MSH_WIRE_E_TOO_LARGE;
	p->blocks = b + MSH_PUBLISH_HDR_LEN;
	p->blocks_len = (uint32_t)(len - MSH_PUBLISH_HDR_LEN);
	return 0;
}

int
msh_ack_parse(const void *buf, size_t len, struct msh_ack *a)
{
	const uint8_t *b = buf;
	int rc = hdr_parse_fixed(b, len, MSH_T_ACK, MSH_ACK_LEN, &a->hdr);

	if (rc != 0)
		return rc;
	a->publisher_id = msh_load_be32(b + 20);
	a->publisher_seq = msh_load_be64(b + 24);
	a->shard_seq = msh_load_be64(b + 32);
	a->epoch = msh_load_be32(b + 40);
	return 0;
}

int
msh_subscribe_parse(const void *buf, size_t len, struct msh_subscribe *s)
{
	const uint8_t *b = buf;
	int rc = hdr_parse_fixed(b, len, MSH_T_SUBSCRIBE, MSH_SUBSCRIBE_LEN, &s->hdr);

	if (rc != 0)
		return rc;
	s->lease_ms = msh_load_be32(b + 20);
	s->start_seq = msh_load_be64(b + 24);
	s->token = msh_load_be64(b + 32);
	return 0;
}

int
msh_sub_reply_parse(const void *buf, size_t len, struct msh_sub_reply *r)
{
	const uint8_t *b = buf;
	int rc = hdr_parse_fixed(b, len, MSH_T_SUB_REPLY, MSH_SUB_REPLY_LEN, &r->hdr);

	if (rc != 0)
		return rc;
	r->epoch = msh_load_be32(b + 20);
	r->first_seq = msh_load_be64(b + 24);
	r->next_seq = msh_load_be64(b + 32);
	r->token = msh_load_be64(b + 40);
	return 0;
}

int
msh_unsubscribe_parse(const void *buf, size_t len, struct msh_hdr *h)
{
	return hdr_parse_fixed(buf, len, MSH_T_UNSUBSCRIBE, MSH_UNSUBSCRIBE_LEN, h);
}

int
msh_unavailable_parse(const void *buf, size_t len, struct msh_unavailable *u)
{
	const uint8_t *b = buf;
	int rc = hdr_parse_fixed(b, len, MSH_T_UNAVAILABLE, MSH_UNAVAILABLE_LEN, &u->hdr);

	if (rc != 0)
		return rc;
	u->asked_seq = msh_load_be64(b + 20);
	u->first_seq = msh_load_be64(b + 28);
	return 0;
}

int
msh_mold_parse(const void *buf, size_t len, struct msh_mold *m)
{
	const uint8_t *b = buf;
	int rc;

	if (MSH_UNLIKELY(len < MSH_MOLD_HDR_LEN))
		return -MSH_WIRE_E_TRUNCATED;
	memcpy(m->session.b, b + OFF_MOLD_SESSION, MSH_NAME_LEN);
	m->seq = msh_load_be64(b + OFF_MOLD_SEQ);
	m->count = msh_load_be16(b + OFF_MOLD_COUNT);
	if (MSH_UNLIKELY(!msh_name_valid(&m->session)))
		return -MSH_WIRE_E_BAD_SHARD;
	if (m->count == MSH_MOLD_HEARTBEAT || m->count == MSH_MOLD_END_OF_SESSION) {
		if (MSH_UNLIKELY(len != MSH_MOLD_HDR_LEN))
			return -MSH_WIRE_E_BAD_LENGTH;
	} else {
		rc = msh_blocks_check(b + MSH_MOLD_HDR_LEN, len - MSH_MOLD_HDR_LEN, m->count,
				      NULL);
		if (MSH_UNLIKELY(rc != 0))
			return rc;
	}
	m->blocks = b + MSH_MOLD_HDR_LEN;
	m->blocks_len = (uint32_t)(len - MSH_MOLD_HDR_LEN);
	return 0;
}

int
msh_mold_req_parse(const void *buf, size_t len, struct msh_mold_req *r)
{
	const uint8_t *b = buf;

	if (len < MSH_MOLD_REQ_LEN)
		return -MSH_WIRE_E_TRUNCATED;
	if (len > MSH_MOLD_REQ_LEN)
		return -MSH_WIRE_E_BAD_LENGTH;
	memcpy(r->session.b, b + OFF_MOLD_SESSION, MSH_NAME_LEN);
	r->seq = msh_load_be64(b + OFF_MOLD_SEQ);
	r->count = msh_load_be16(b + OFF_MOLD_COUNT);
	/* Same rule as the downstream packet: the session is a shard name. */
	if (!msh_name_valid(&r->session))
		return -MSH_WIRE_E_BAD_SHARD;
	return 0;
}

void
msh_hdr_build(void *buf, uint8_t type, uint8_t flags, uint16_t count,
	      const struct msh_name *shard)
{
	uint8_t *b = buf;

	msh_store_be16(b + OFF_MAGIC, MSH_MAGIC);
	b[OFF_VERSION] = MSH_VERSION;
	b[OFF_TYPE] = type;
	b[OFF_FLAGS] = flags;
	b[OFF_RSVD1] = 0;
	msh_store_be16(b + OFF_COUNT, count);
	memcpy(b + OFF_SHARD, shard->b, MSH_NAME_LEN);
	b[OFF_RSVD2] = 0;
	b[OFF_RSVD2 + 1] = 0;
}

int
msh_publish_hdr_build(void *buf, size_t cap, const struct msh_name *shard, uint8_t flags,
		      uint16_t count, uint32_t publisher_id, uint64_t publisher_seq)
{
	uint8_t *b = buf;

	if (cap < MSH_PUBLISH_HDR_LEN)
		return -ENOSPC;
	msh_hdr_build(b, MSH_T_PUBLISH, flags, count, shard);
	msh_store_be32(b + 20, publisher_id);
	msh_store_be64(b + 24, publisher_seq);
	return MSH_PUBLISH_HDR_LEN;
}

int
msh_block_put(void *buf, size_t cap, size_t off, const void *msg, uint16_t len)
{
	uint8_t *b = buf;
	size_t need = MSH_BLOCK_HDR_LEN + (size_t)len;

	/* The new offset is returned as an int, so it must also fit one. */
	if (off > cap || cap - off < need || off > (size_t)INT_MAX - need)
		return -ENOSPC;
	msh_store_be16(b + off, len);
	if (len > 0)
		memcpy(b + off + MSH_BLOCK_HDR_LEN, msg, len);
	return (int)(off + need);
}

int
msh_ack_build(void *buf, size_t cap, const struct msh_ack *a)
{
	uint8_t *b = buf;

	if (cap < MSH_ACK_LEN)
		return -ENOSPC;
	msh_hdr_build(b, MSH_T_ACK, a->hdr.flags, a->hdr.count, &a->hdr.shard);
	msh_store_be32(b + 20, a->publisher_id);
	msh_store_be64(b + 24, a->publisher_seq);
	msh_store_be64(b + 32, a->shard_seq);
	msh_store_be32(b + 40, a->epoch);
	return MSH_ACK_LEN;
}

int
msh_subscribe_build(void *buf, size_t cap, const struct msh_subscribe *s)
{
	uint8_t *b = buf;

	if (cap < MSH_SUBSCRIBE_LEN)
		return -ENOSPC;
	msh_hdr_build(b, MSH_T_SUBSCRIBE, s->hdr.flags, s->hdr.count, &s->hdr.shard);
	msh_store_be32(b + 20, s->lease_ms);
	msh_store_be64(b + 24, s->start_seq);
	msh_store_be64(b + 32, s->token);
	return MSH_SUBSCRIBE_LEN;
}

int
msh_sub_reply_build(void *buf, size_t cap, const struct msh_sub_reply *r)
{
	uint8_t *b = buf;

	if (cap < MSH_SUB_REPLY_LEN)
		return -ENOSPC;
	msh_hdr_build(b, MSH_T_SUB_REPLY, r->hdr.flags, r->hdr.count, &r->hdr.shard);
	msh_store_be32(b + 20, r->epoch);
	msh_store_be64(b + 24, r->first_seq);
	msh_store_be64(b + 32, r->next_seq);
	msh_store_be64(b + 40, r->token);
	return MSH_SUB_REPLY_LEN;
}

int
msh_unsubscribe_build(void *buf, size_t cap, const struct msh_name *shard)
{
	if (cap < MSH_UNSUBSCRIBE_LEN)
		return -ENOSPC;
	msh_hdr_build(buf, MSH_T_UNSUBSCRIBE, 0, 0, shard);
	return MSH_UNSUBSCRIBE_LEN;
}

int
msh_unavailable_build(void *buf, size_t cap, const struct msh_unavailable *u)
{
	uint8_t *b = buf;

	if (cap < MSH_UNAVAILABLE_LEN)
		return -ENOSPC;
	msh_hdr_build(b, MSH_T_UNAVAILABLE, u->hdr.flags, u->hdr.count, &u->hdr.shard);
	msh_store_be64(b + 20, u->asked_seq);
	msh_store_be64(b + 28, u->first_seq);
	return MSH_UNAVAILABLE_LEN;
}

int
msh_mold_hdr_build(void *buf, size_t cap, const struct msh_name *session, uint64_t seq,
		   uint16_t count)
{
	uint8_t *b = buf;

	if (cap < MSH_MOLD_HDR_LEN)
		return -ENOSPC;
	memcpy(b + OFF_MOLD_SESSION, session->b, MSH_NAME_LEN);
	msh_store_be64(b + OFF_MOLD_SEQ, seq);
	msh_store_be16(b + OFF_MOLD_COUNT, count);
	return MSH_MOLD_HDR_LEN;
}

int
msh_mold_req_build(void *buf, size_t cap, const struct msh_mold_req *r)
{
	uint8_t *b = buf;

	if (cap < MSH_MOLD_REQ_LEN)
		return -ENOSPC;
	memcpy(b + OFF_MOLD_SESSION, r->session.b, MSH_NAME_LEN);
	msh_store_be64(b + OFF_MOLD_SEQ, r->seq);
	msh_store_be16(b + OFF_MOLD_COUNT, r->count);
	return MSH_MOLD_REQ_LEN;
}
