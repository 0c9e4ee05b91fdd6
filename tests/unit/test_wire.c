/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/wire: every packet type built, checked byte by byte
 * against the offsets of shared/PROTOCOL.md and parsed back; every truncation,
 * block overrun and underrun, bad magic, version, type, shard, count, sequence
 * and size; skipping blocks; builder capacity; and a seeded fuzz loop that
 * compares the parsers with independent reference decoders. Truncated inputs
 * are copied to heap buffers of their exact length so AddressSanitizer catches
 * any over-read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>

#include "testutil.h"
#include "wire.h"

#define E(sym) (-MSH_WIRE_E_##sym)

/* ---- helpers ----------------------------------------------------------- */

static struct msh_name
name_of(const char *s)
{
	struct msh_name n;

	assert_int_equal(msh_name_from_str(&n, s), 0);
	return n;
}

/* The 20 header bytes at PROTOCOL.md's offsets. */
static void
assert_hdr_bytes(const uint8_t *b, uint8_t type, uint8_t flags, uint16_t count,
		 const struct msh_name *shard)
{
	assert_int_equal(b[0], 0x4D);
	assert_int_equal(b[1], 0x53);
	assert_int_equal(b[2], 1);
	assert_int_equal(b[3], type);
	assert_int_equal(b[4], flags);
	assert_int_equal(b[5], 0);
	assert_be(b + 6, count, 2);
	assert_memory_equal(b + 8, shard->b, 10);
	assert_int_equal(b[18], 0);
	assert_int_equal(b[19], 0);
}

/* Build a PUBLISH with count blocks of the given lengths; message k holds
 * t_msg_byte(seq + k, j). */
static size_t
build_publish(uint8_t *buf, size_t cap, const char *shard, uint8_t flags, uint32_t id,
	      uint64_t seq, uint16_t count, const uint16_t *lens)
{
	static uint8_t msg[65535];
	struct msh_name n = name_of(shard);
	int off = msh_publish_hdr_build(buf, cap, &n, flags, count, id, seq);

	assert_int_equal(off, MSH_PUBLISH_HDR_LEN);
	for (uint16_t k = 0; k < count; k++) {
		for (uint32_t j = 0; j < lens[k]; j++)
			msg[j] = t_msg_byte(seq + k, j);
		off = msh_block_put(buf, cap, (size_t)off, msg, lens[k]);
		assert_true(off > 0);
	}
	return (size_t)off;
}

static size_t
build_mold(uint8_t *buf, size_t cap, const char *session, uint64_t seq, uint16_t count,
	   const uint16_t *lens)
{
	static uint8_t msg[65535];
	struct msh_name n = name_of(session);
	int off = msh_mold_hdr_build(buf, cap, &n, seq, count);

	assert_int_equal(off, MSH_MOLD_HDR_LEN);
	for (uint16_t k = 0; lens != NULL && k < count; k++) {
		for (uint32_t j = 0; j < lens[k]; j++)
			msg[j] = t_msg_byte(seq + k, j);
		off = msh_block_put(buf, cap, (size_t)off, msg, lens[k]);
		assert_true(off > 0);
	}
	return (size_t)off;
}

/* Parsers with one signature, for the type matrix and truncation sweeps. */
static int
p_publish(const void *b, size_t l)
{
	struct msh_publish p;

	return msh_publish_parse(b, l, MSH_MAX_MSG_MTU1500, &p);
}

static int
p_ack(const void *b, size_t l)
{
	struct msh_ack a;

	return msh_ack_parse(b, l, &a);
}

static int
p_subscribe(const void *b, size_t l)
{
	struct msh_subscribe s;

	return msh_subscribe_parse(b, l, &s);
}

static int
p_sub_reply(const void *b, size_t l)
{
	struct msh_sub_reply r;

	return msh_sub_reply_parse(b, l, &r);
}

static int
p_unsubscribe(const void *b, size_t l)
{
	struct msh_hdr h;

	return msh_unsubscribe_parse(b, l, &h);
}

static int
p_unavailable(const void *b, size_t l)
{
	struct msh_unavailable u;

	return msh_unavailable_parse(b, l, &u);
}

static int
p_mold(const void *b, size_t l)
{
	struct msh_mold m;

	return msh_mold_parse(b, l, &m);
}

static int
p_mold_req(const void *b, size_t l)
{
	struct msh_mold_req r;

	return msh_mold_req_parse(b, l, &r);
}

typedef int (*parse_fn)(const void *, size_t);

static const struct {
	uint8_t type;
	parse_fn parse;
	const char *name;
} native_parsers[] = {
	{ MSH_T_PUBLISH, p_publish, "publish" },
	{ MSH_T_ACK, p_ack, "ack" },
	{ MSH_T_SUBSCRIBE, p_subscribe, "subscribe" },
	{ MSH_T_SUB_REPLY, p_sub_reply, "sub_reply" },
	{ MSH_T_UNSUBSCRIBE, p_unsubscribe, "unsubscribe" },
	{ MSH_T_UNAVAILABLE, p_unavailable, "unavailable" },
};

/* One valid sample of every native type, built by the builders. */
static size_t
build_sample(uint8_t type, uint8_t *buf, size_t cap)
{
	static const uint16_t lens[] = { 3, 0, 7 };
	struct msh_name n = name_of("SAMPLE");
	int rc = -1;

	switch (type) {
	case MSH_T_PUBLISH:
		return build_publish(buf, cap, "SAMPLE", MSH_PUB_F_ACK, 7, 100, 3, lens);
	case MSH_T_ACK: {
		struct msh_ack a = { .hdr = { .flags = MSH_S_OK, .count = 3, .shard = n },
				     .publisher_id = 7, .publisher_seq = 100, .shard_seq = 9,
				     .epoch = 2 };
		rc = msh_ack_build(buf, cap, &a);
		break;
	}
	case MSH_T_SUBSCRIBE: {
		struct msh_subscribe s = { .hdr = { .shard = n }, .lease_ms = 5000 };
		rc = msh_subscribe_build(buf, cap, &s);
		break;
	}
	case MSH_T_SUB_REPLY: {
		struct msh_sub_reply r = { .hdr = { .shard = n }, .epoch = 1, .first_seq = 1,
					   .next_seq = 10, .token = 0x1234 };
		rc = msh_sub_reply_build(buf, cap, &r);
		break;
	}
	case MSH_T_UNSUBSCRIBE:
		rc = msh_unsubscribe_build(buf, cap, &n);
		break;
	case MSH_T_UNAVAILABLE: {
		struct msh_unavailable u = { .hdr = { .shard = n }, .asked_seq = 3,
					     .first_seq = 50 };
		rc = msh_unavailable_build(buf, cap, &u);
		break;
	}
	default:
		fail_msg("no sample for type %u", type);
	}
	assert_true(rc > 0);
	return (size_t)rc;
}

/* ---- names of codes ---------------------------------------------------- */

static void
test_status_and_err_strings(void **state)
{
	(void)state;
	assert_string_equal(msh_status_str(MSH_S_OK), "ok");
	assert_string_equal(msh_status_str(2), "shard full");
	assert_string_equal(msh_status_str(MSH_S_TOKEN_REQUIRED), "token required");
	assert_string_equal(msh_status_str(9), "not allowed");
	assert_int_equal(MSH_S_COUNT, 10);
	assert_string_equal(msh_status_str(10), "unknown status");
	assert_string_equal(msh_status_str(UINT_MAX), "unknown status");

	assert_string_equal(msh_wire_err_str(0), "ok");
	assert_string_equal(msh_wire_err_str(E(TRUNCATED)), "shorter than its header");
	assert_string_equal(msh_wire_err_str(MSH_WIRE_E_TRUNCATED), "shorter than its header");
	assert_string_equal(msh_wire_err_str(E(BLOCK_OVERRUN)),
			    "message block runs past the datagram");
	assert_string_equal(msh_wire_err_str(E(BAD_LENGTH)), "length wrong for the type");
	assert_string_equal(msh_wire_err_str(MSH_WIRE_E_COUNT), "unknown wire error");
	assert_string_equal(msh_wire_err_str(-MSH_WIRE_E_COUNT), "unknown wire error");
	assert_string_equal(msh_wire_err_str(INT_MIN), "unknown wire error");
	assert_string_equal(msh_wire_err_str(INT_MAX), "unknown wire error");
	/* every code has a distinct name */
	for (int i = 0; i < MSH_WIRE_E_COUNT; i++)
		for (int j = i + 1; j < MSH_WIRE_E_COUNT; j++)
			assert_string_not_equal(msh_wire_err_str(-i), msh_wire_err_str(-j));
	for (unsigned int i = 0; i < MSH_S_COUNT; i++)
		assert_string_not_equal(msh_status_str(i), "unknown status");
}

/* ---- round trips ------------------------------------------------------- */

static void
test_publish_one_block(void **state)
{
	uint8_t buf[256];
	struct msh_name n = name_of("orders");
	struct msh_publish p;
	int rc;

	(void)state;
	memset(buf, 0xEE, sizeof(buf));
	rc = msh_publish_hdr_build(buf, sizeof(buf), &n, MSH_PUB_F_ACK, 1, 0xA1B2C3D4,
				   0x0102030405060708ull);
	assert_int_equal(rc, 32);
	rc = msh_block_put(buf, sizeof(buf), 32, "hello", 5);
	assert_int_equal(rc, 39);
	assert_int_equal(buf[39], 0xEE);

	/* raw bytes at PROTOCOL.md offsets */
	assert_hdr_bytes(buf, 1, 0x01, 1, &n);
	assert_memory_equal(buf + 8, "orders    ", 10);
	assert_be(buf + 20, 0xA1B2C3D4, 4);
	assert_int_equal(buf[24], 0x01);
	assert_int_equal(buf[31], 0x08);
	assert_be(buf + 24, 0x0102030405060708ull, 8);
	assert_int_equal(buf[32], 0x00);
	assert_int_equal(buf[33], 0x05);
	assert_memory_equal(buf + 34, "hello", 5);

	memset(&p, 0x5A, sizeof(p));
	assert_int_equal(msh_publish_parse(buf, 39, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.hdr.version, 1);
	assert_int_equal(p.hdr.type, MSH_T_PUBLISH);
	assert_int_equal(p.hdr.flags, MSH_PUB_F_ACK);
	assert_int_equal(p.hdr.count, 1);
	assert_true(msh_name_eq(&p.hdr.shard, &n));
	assert_int_equal(p.publisher_id, 0xA1B2C3D4);
	assert_int_equal(p.publisher_seq, 0x0102030405060708ull);
	assert_ptr_equal(p.blocks, buf + 32);
	assert_int_equal(p.blocks_len, 7);
	assert_int_equal(p.max_msg_len, 5);
}

static uint16_t
len_many(uint64_t i)
{
	return (uint16_t)((i * 37) % 23);
}

static void
test_publish_many_blocks(void **state)
{
	uint8_t buf[1500];
	uint16_t lens[60];
	uint16_t longest = 0;
	struct msh_publish p;
	size_t len;

	(void)state;
	for (unsigned int k = 0; k < 60; k++) {
		lens[k] = len_many(5000 + k);
		longest = lens[k] > longest ? lens[k] : longest;
	}
	len = build_publish(buf, sizeof(buf), "TICKS", 0, 42, 5000, 60, lens);
	assert_be(buf + 6, 60, 2);
	assert_be(buf + 24, 5000, 8);
	assert_int_equal(buf[4], 0);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.hdr.count, 60);
	assert_int_equal(p.hdr.flags, 0);
	assert_int_equal(p.publisher_id, 42);
	assert_int_equal(p.publisher_seq, 5000);
	assert_int_equal(p.blocks_len, len - 32);
	assert_int_equal(p.max_msg_len, longest);
	t_check_blocks(p.blocks, p.blocks_len, 5000, 60, len_many);

	/* blocks from the shared test helper parse identically */
	assert_int_equal(msh_publish_hdr_build(buf, sizeof(buf), &p.hdr.shard, 0, 60, 42, 5000),
			 32);
	assert_int_equal(t_blocks(buf + 32, 5000, 60, len_many), len - 32);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.max_msg_len, longest);

	/* the most blocks a count can say: 65535 empty messages */
	{
		size_t big = 32 + 2 * 65535u;
		uint8_t *b = calloc(1, big);
		struct msh_name n = name_of("X");

		assert_non_null(b);
		assert_int_equal(msh_publish_hdr_build(b, big, &n, 0, 65535, 1, 1), 32);
		assert_int_equal(msh_publish_parse(b, big, 0, &p), 0);
		assert_int_equal(p.hdr.count, 65535);
		assert_int_equal(p.blocks_len, 2 * 65535u);
		assert_int_equal(p.max_msg_len, 0);
		assert_int_equal(msh_publish_parse(b, big - 1, 0, &p), E(BLOCK_OVERRUN));
		free(b);
	}
}

static void
test_publish_zero_length_blocks(void **state)
{
	uint8_t buf[128];
	static const uint16_t one[] = { 0 };
	static const uint16_t mix[] = { 0, 5, 0, 0 };
	struct msh_publish p;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "Z", 0, 1, 1, 1, one);
	assert_int_equal(len, 34);
	assert_int_equal(buf[32], 0);
	assert_int_equal(buf[33], 0);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.blocks_len, 2);
	assert_int_equal(p.max_msg_len, 0);

	len = build_publish(buf, sizeof(buf), "Z", 0, 1, 1, 4, mix);
	assert_int_equal(len, 32 + 2 + 7 + 2 + 2);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.hdr.count, 4);
	assert_int_equal(p.max_msg_len, 5);
	/* an empty message still needs its length field */
	assert_int_equal(msh_publish_parse(buf, len - 1, MSH_MAX_MSG_MTU1500, &p),
			 E(BLOCK_OVERRUN));
	assert_int_equal(msh_publish_parse(buf, len - 2, MSH_MAX_MSG_MTU1500, &p),
			 E(BLOCK_OVERRUN));
}

static void
test_ack_round_trip(void **state)
{
	uint8_t buf[64];
	struct msh_ack a = {
		.hdr = { .flags = MSH_S_SHARD_FULL, .count = 0x0102, .shard = name_of("acks.1") },
		.publisher_id = 0x11223344,
		.publisher_seq = 0x2122232425262728ull,
		.shard_seq = 0x3132333435363738ull,
		.epoch = 0x41424344,
	};
	struct msh_ack b;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_ack_build(buf, sizeof(buf), &a), 44);
	assert_hdr_bytes(buf, 2, MSH_S_SHARD_FULL, 0x0102, &a.hdr.shard);
	assert_int_equal(buf[4], 2);
	assert_int_equal(buf[6], 0x01);
	assert_int_equal(buf[7], 0x02);
	assert_be(buf + 20, 0x11223344, 4);
	assert_be(buf + 24, 0x2122232425262728ull, 8);
	assert_be(buf + 32, 0x3132333435363738ull, 8);
	assert_be(buf + 40, 0x41424344, 4);
	assert_int_equal(buf[44], 0xFF);

	memset(&b, 0, sizeof(b));
	assert_int_equal(msh_ack_parse(buf, 44, &b), 0);
	assert_int_equal(b.hdr.type, MSH_T_ACK);
	assert_int_equal(b.hdr.version, 1);
	assert_int_equal(b.hdr.flags, MSH_S_SHARD_FULL);
	assert_int_equal(b.hdr.count, 0x0102);
	assert_true(msh_name_eq(&b.hdr.shard, &a.hdr.shard));
	assert_int_equal(b.publisher_id, a.publisher_id);
	assert_int_equal(b.publisher_seq, a.publisher_seq);
	assert_int_equal(b.shard_seq, a.shard_seq);
	assert_int_equal(b.epoch, a.epoch);
}

static void
test_subscribe_round_trip(void **state)
{
	uint8_t buf[64];
	struct msh_subscribe s = {
		.hdr = { .flags = MSH_SUB_F_RESTART, .shard = name_of("ABCDEFGHIJ") },
		.lease_ms = 0x01020304,
		.start_seq = MSH_START_NEW,
		.token = 0xDEADBEEFCAFEF00Dull,
	};
	struct msh_subscribe t;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_subscribe_build(buf, sizeof(buf), &s), 40);
	assert_hdr_bytes(buf, 3, MSH_SUB_F_RESTART, 0, &s.hdr.shard);
	assert_memory_equal(buf + 8, "ABCDEFGHIJ", 10);
	assert_be(buf + 20, 0x01020304, 4);
	assert_be(buf + 24, UINT64_MAX, 8);
	assert_be(buf + 32, 0xDEADBEEFCAFEF00Dull, 8);
	assert_int_equal(buf[40], 0xFF);

	memset(&t, 0, sizeof(t));
	assert_int_equal(msh_subscribe_parse(buf, 40, &t), 0);
	assert_int_equal(t.hdr.type, MSH_T_SUBSCRIBE);
	assert_int_equal(t.hdr.flags, MSH_SUB_F_RESTART);
	assert_true(msh_name_eq(&t.hdr.shard, &s.hdr.shard));
	assert_int_equal(t.lease_ms, s.lease_ms);
	assert_int_equal(t.start_seq, MSH_START_NEW);
	assert_int_equal(t.token, s.token);

	s.start_seq = MSH_START_OLDEST;
	s.token = 0;
	assert_int_equal(msh_subscribe_build(buf, sizeof(buf), &s), 40);
	assert_be(buf + 24, 0, 8);
	assert_int_equal(msh_subscribe_parse(buf, 40, &t), 0);
	assert_int_equal(t.start_seq, 0);
	assert_int_equal(t.token, 0);
}

static void
test_sub_reply_round_trip(void **state)
{
	uint8_t buf[64];
	struct msh_sub_reply r = {
		.hdr = { .flags = MSH_S_TOKEN_REQUIRED, .shard = name_of("q") },
		.epoch = 0xA0A1A2A3,
		.first_seq = 0xB0B1B2B3B4B5B6B7ull,
		.next_seq = 0xC0C1C2C3C4C5C6C7ull,
		.token = 0xD0D1D2D3D4D5D6D7ull,
	};
	struct msh_sub_reply s;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_sub_reply_build(buf, sizeof(buf), &r), 48);
	assert_hdr_bytes(buf, 4, 8, 0, &r.hdr.shard);
	assert_memory_equal(buf + 8, "q         ", 10);
	assert_be(buf + 20, 0xA0A1A2A3, 4);
	assert_be(buf + 24, 0xB0B1B2B3B4B5B6B7ull, 8);
	assert_be(buf + 32, 0xC0C1C2C3C4C5C6C7ull, 8);
	assert_be(buf + 40, 0xD0D1D2D3D4D5D6D7ull, 8);
	assert_int_equal(buf[48], 0xFF);

	memset(&s, 0, sizeof(s));
	assert_int_equal(msh_sub_reply_parse(buf, 48, &s), 0);
	assert_int_equal(s.hdr.type, MSH_T_SUB_REPLY);
	assert_int_equal(s.hdr.flags, MSH_S_TOKEN_REQUIRED);
	assert_true(msh_name_eq(&s.hdr.shard, &r.hdr.shard));
	assert_int_equal(s.epoch, r.epoch);
	assert_int_equal(s.first_seq, r.first_seq);
	assert_int_equal(s.next_seq, r.next_seq);
	assert_int_equal(s.token, r.token);
}

static void
test_unsubscribe_round_trip(void **state)
{
	uint8_t buf[32];
	struct msh_name n = name_of("~!#");
	struct msh_hdr h;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_unsubscribe_build(buf, sizeof(buf), &n), 20);
	assert_hdr_bytes(buf, 5, 0, 0, &n);
	assert_int_equal(buf[20], 0xFF);
	memset(&h, 0, sizeof(h));
	assert_int_equal(msh_unsubscribe_parse(buf, 20, &h), 0);
	assert_int_equal(h.type, MSH_T_UNSUBSCRIBE);
	assert_int_equal(h.version, 1);
	assert_true(msh_name_eq(&h.shard, &n));
	/* the generic header parser agrees */
	memset(&h, 0, sizeof(h));
	assert_int_equal(msh_hdr_parse(buf, 20, &h), 0);
	assert_int_equal(h.type, 5);
}

static void
test_unavailable_round_trip(void **state)
{
	uint8_t buf[64];
	struct msh_unavailable u = {
		.hdr = { .shard = name_of("gone") },
		.asked_seq = 0x0102030405060708ull,
		.first_seq = 0x1112131415161718ull,
	};
	struct msh_unavailable v;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_unavailable_build(buf, sizeof(buf), &u), 36);
	assert_hdr_bytes(buf, 6, 0, 0, &u.hdr.shard);
	assert_be(buf + 20, 0x0102030405060708ull, 8);
	assert_be(buf + 28, 0x1112131415161718ull, 8);
	assert_int_equal(buf[36], 0xFF);
	memset(&v, 0, sizeof(v));
	assert_int_equal(msh_unavailable_parse(buf, 36, &v), 0);
	assert_int_equal(v.hdr.type, MSH_T_UNAVAILABLE);
	assert_true(msh_name_eq(&v.hdr.shard, &u.hdr.shard));
	assert_int_equal(v.asked_seq, u.asked_seq);
	assert_int_equal(v.first_seq, u.first_seq);
}

static uint16_t
len_mold(uint64_t i)
{
	return (uint16_t)(i % 11);
}

static void
test_mold_round_trip(void **state)
{
	uint8_t buf[512];
	uint16_t lens[20];
	struct msh_name n = name_of("TICKS");
	struct msh_mold m;
	size_t len;

	(void)state;
	for (unsigned int k = 0; k < 20; k++)
		lens[k] = len_mold(0x0102030405060708ull + k);
	memset(buf, 0xEE, sizeof(buf));
	len = build_mold(buf, sizeof(buf), "TICKS", 0x0102030405060708ull, 20, lens);
	assert_memory_equal(buf, "TICKS     ", 10);
	assert_be(buf + 10, 0x0102030405060708ull, 8);
	assert_be(buf + 18, 20, 2);
	assert_be(buf + 20, lens[0], 2);
	assert_int_equal(buf[len], 0xEE);

	memset(&m, 0, sizeof(m));
	assert_int_equal(msh_mold_parse(buf, len, &m), 0);
	assert_true(msh_name_eq(&m.session, &n));
	assert_int_equal(m.seq, 0x0102030405060708ull);
	assert_int_equal(m.count, 20);
	assert_ptr_equal(m.blocks, buf + 20);
	assert_int_equal(m.blocks_len, len - 20);
	t_check_blocks(m.blocks, m.blocks_len, 0x0102030405060708ull, 20, len_mold);

	/* heartbeat and end of session: header only */
	len = build_mold(buf, sizeof(buf), "TICKS", 77, MSH_MOLD_HEARTBEAT, NULL);
	assert_int_equal(len, 20);
	assert_int_equal(buf[18], 0);
	assert_int_equal(buf[19], 0);
	assert_int_equal(msh_mold_parse(buf, 20, &m), 0);
	assert_int_equal(m.count, 0);
	assert_int_equal(m.seq, 77);
	assert_int_equal(m.blocks_len, 0);
	len = build_mold(buf, sizeof(buf), "TICKS", 78, MSH_MOLD_END_OF_SESSION, NULL);
	assert_int_equal(buf[18], 0xFF);
	assert_int_equal(buf[19], 0xFF);
	assert_int_equal(msh_mold_parse(buf, len, &m), 0);
	assert_int_equal(m.count, 0xFFFF);
	assert_int_equal(m.blocks_len, 0);
}

static void
test_mold_req_round_trip(void **state)
{
	uint8_t buf[32];
	struct msh_mold_req r = { .session = name_of("req"), .seq = 0xF1F2F3F4F5F6F7F8ull,
				  .count = 0xABCD };
	struct msh_mold_req s;

	(void)state;
	memset(buf, 0xFF, sizeof(buf));
	assert_int_equal(msh_mold_req_build(buf, sizeof(buf), &r), 20);
	assert_memory_equal(buf, "req       ", 10);
	assert_be(buf + 10, 0xF1F2F3F4F5F6F7F8ull, 8);
	assert_int_equal(buf[18], 0xAB);
	assert_int_equal(buf[19], 0xCD);
	assert_int_equal(buf[20], 0xFF);
	memset(&s, 0, sizeof(s));
	assert_int_equal(msh_mold_req_parse(buf, 20, &s), 0);
	assert_true(msh_name_eq(&s.session, &r.session));
	assert_int_equal(s.seq, r.seq);
	assert_int_equal(s.count, r.count);
	assert_int_equal(msh_mold_req_parse(buf, 21, &s), E(BAD_LENGTH));
}

/* ---- malformed input --------------------------------------------------- */

static void
test_every_truncation(void **state)
{
	uint8_t buf[256];
	static const uint16_t lens[] = { 4, 1, 0, 9 };

	(void)state;
	/* native types */
	for (unsigned int t = 0; t < MSH_ARRAY_SIZE(native_parsers); t++) {
		size_t n = build_sample(native_parsers[t].type, buf, sizeof(buf));

		for (size_t l = 0; l <= n; l++) {
			uint8_t *c = dup_exact(buf, l);
			int rc = native_parsers[t].parse(c, l);
			int want;

			if (l == n)
				want = 0;
			else if (native_parsers[t].type == MSH_T_PUBLISH && l >= 32)
				want = E(BLOCK_OVERRUN);
			else
				want = E(TRUNCATED);
			if (rc != want)
				fail_msg("%s cut to %zu of %zu: %d, want %d",
					 native_parsers[t].name, l, n, rc, want);
			/* the generic header parser needs only 20 bytes */
			assert_int_equal(msh_hdr_parse(c, l, &(struct msh_hdr){ 0 }),
					 l < 20 ? E(TRUNCATED) : 0);
			free(c);
		}
	}
	/* MoldUDP64 with blocks, heartbeat, request */
	{
		size_t n = build_mold(buf, sizeof(buf), "M", 5, 4, lens);

		for (size_t l = 0; l <= n; l++) {
			uint8_t *c = dup_exact(buf, l);

			assert_int_equal(p_mold(c, l),
					 l == n ? 0 : l < 20 ? E(TRUNCATED) : E(BLOCK_OVERRUN));
			free(c);
		}
		n = build_mold(buf, sizeof(buf), "M", 5, MSH_MOLD_HEARTBEAT, NULL);
		for (size_t l = 0; l < n; l++) {
			uint8_t *c = dup_exact(buf, l);

			assert_int_equal(p_mold(c, l), E(TRUNCATED));
			free(c);
		}
		struct msh_mold_req r = { .session = name_of("M"), .seq = 1, .count = 1 };
		n = (size_t)msh_mold_req_build(buf, sizeof(buf), &r);
		for (size_t l = 0; l <= n; l++) {
			uint8_t *c = dup_exact(buf, l);

			assert_int_equal(p_mold_req(c, l), l == n ? 0 : E(TRUNCATED));
			free(c);
		}
	}
}

static void
test_fixed_types_too_long(void **state)
{
	uint8_t buf[256];

	(void)state;
	for (unsigned int t = 1; t < MSH_ARRAY_SIZE(native_parsers); t++) {
		size_t n = build_sample(native_parsers[t].type, buf, sizeof(buf));

		for (size_t extra = 1; extra <= 8; extra++) {
			uint8_t *c;

			buf[n + extra - 1] = 0;
			c = dup_exact(buf, n + extra);
			assert_int_equal(native_parsers[t].parse(c, n + extra), E(BAD_LENGTH));
			free(c);
		}
	}
}

/* Each type-specific parser refuses the other types, before any length check. */
static void
test_type_matrix(void **state)
{
	uint8_t buf[256];

	(void)state;
	for (unsigned int t = 0; t < MSH_ARRAY_SIZE(native_parsers); t++) {
		size_t n = build_sample(native_parsers[t].type, buf, sizeof(buf));

		for (unsigned int u = 0; u < MSH_ARRAY_SIZE(native_parsers); u++) {
			int rc = native_parsers[u].parse(buf, n);

			if (rc != (t == u ? 0 : E(BAD_TYPE)))
				fail_msg("%s parser on a %s packet: %d", native_parsers[u].name,
					 native_parsers[t].name, rc);
		}
	}
}

static void
test_blocks_overrun_underrun(void **state)
{
	uint8_t buf[256];
	static const uint16_t lens[] = { 3, 5 };
	struct msh_publish p;
	uint32_t ml = 12345;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "B", MSH_PUB_F_ACK, 1, 10, 2, lens);
	assert_int_equal(len, 32 + 5 + 7);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);

	/* last block's length says one byte more than there is */
	msh_store_be16(buf + 37, 6);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_OVERRUN));
	assert_int_equal(p.hdr.type, MSH_T_PUBLISH); /* header readable: can ACK MALFORMED */
	assert_int_equal(p.hdr.flags, MSH_PUB_F_ACK);
	/* ... or far past it */
	msh_store_be16(buf + 37, 0xFFFF);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_OVERRUN));
	/* ... or one byte less: a byte is left over */
	msh_store_be16(buf + 37, 4);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_UNDERRUN));
	msh_store_be16(buf + 37, 5);

	/* the second length field cut in half: count 2, one block, one byte */
	{
		uint8_t *c;

		buf[37] = 0x00;
		c = dup_exact(buf, 38);
		assert_int_equal(msh_publish_parse(c, 38, 1438, &p), E(BLOCK_OVERRUN));
		free(c);
		assert_int_equal(msh_blocks_check(buf + 32, 6, 2, &ml), E(BLOCK_OVERRUN));
		assert_int_equal(ml, 12345); /* not written on error */
	}

	/* a trailing byte after the last block */
	buf[len] = 0;
	assert_int_equal(msh_publish_parse(buf, len + 1, 1438, &p), E(BLOCK_UNDERRUN));
	/* count says more or fewer blocks than there are */
	msh_store_be16(buf + 6, 3);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_OVERRUN));
	msh_store_be16(buf + 6, 1);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_UNDERRUN));
	msh_store_be16(buf + 6, 0xFFFF);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BLOCK_OVERRUN));
	msh_store_be16(buf + 6, 2);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);

	/* msh_blocks_check directly */
	assert_int_equal(msh_blocks_check(buf, 0, 0, NULL), 0);
	assert_int_equal(msh_blocks_check(buf + 32, 1, 0, NULL), E(BLOCK_UNDERRUN));
	assert_int_equal(msh_blocks_check(buf + 32, 0, 1, NULL), E(BLOCK_OVERRUN));
	assert_int_equal(msh_blocks_check(buf + 32, 1, 1, NULL), E(BLOCK_OVERRUN));
	assert_int_equal(msh_blocks_check(buf + 32, 12, 2, NULL), 0);
	assert_int_equal(msh_blocks_check(buf + 32, 12, 2, &ml), 0);
	assert_int_equal(ml, 5);
	assert_int_equal(msh_blocks_check(buf + 32, 12, UINT32_MAX, &ml), E(BLOCK_OVERRUN));
}

static void
test_blocks_skip(void **state)
{
	uint8_t buf[1500];
	uint32_t len = t_blocks(buf, 5000, 60, len_many), off = 0;

	(void)state;
	assert_int_equal(msh_blocks_check(buf, len, 60, NULL), 0);
	/* Block n starts where the first n blocks end, up to the end of the run. */
	for (uint32_t n = 0; n <= 60; n++) {
		assert_int_equal(msh_blocks_skip(buf, n), off);
		if (n < 60) {
			/* what is left is a run of the remaining blocks */
			assert_int_equal(msh_blocks_check(buf + off, len - off, 60 - n, NULL), 0);
			t_check_blocks(buf + off, len - off, 5000 + n, 60 - n, len_many);
			off += 2 + len_many(5000 + n);
		}
	}
	assert_int_equal(off, len);
	/* Empty messages take their 2-byte length each. */
	memset(buf, 0, 8);
	assert_int_equal(msh_blocks_skip(buf, 4), 8);
	/* n == 0 reads nothing */
	assert_int_equal(msh_blocks_skip(NULL, 0), 0);
}

static void
test_mold_malformed(void **state)
{
	uint8_t buf[128];
	static const uint16_t lens[] = { 2, 2 };
	struct msh_mold m;
	size_t len;

	(void)state;
	len = build_mold(buf, sizeof(buf), "S", 1, 2, lens);
	assert_int_equal(len, 28);
	buf[len] = 0;
	assert_int_equal(msh_mold_parse(buf, len + 1, &m), E(BLOCK_UNDERRUN));
	msh_store_be16(buf + 24, 3);
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BLOCK_OVERRUN));
	msh_store_be16(buf + 24, 2);
	msh_store_be16(buf + 18, 3);
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BLOCK_OVERRUN));
	msh_store_be16(buf + 18, 1);
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BLOCK_UNDERRUN));
	/* heartbeat and end of session never carry blocks */
	msh_store_be16(buf + 18, MSH_MOLD_HEARTBEAT);
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BAD_LENGTH));
	assert_int_equal(msh_mold_parse(buf, 21, &m), E(BAD_LENGTH));
	assert_int_equal(msh_mold_parse(buf, 20, &m), 0);
	msh_store_be16(buf + 18, MSH_MOLD_END_OF_SESSION);
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BAD_LENGTH));
	assert_int_equal(msh_mold_parse(buf, 20, &m), 0);
	/* a bad session before anything else */
	buf[3] = 'x';
	assert_int_equal(msh_mold_parse(buf, len, &m), E(BAD_SHARD));
}

static void
test_count_zero(void **state)
{
	uint8_t buf[64];
	static const uint16_t lens[] = { 3 };
	struct msh_publish p;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "C", MSH_PUB_F_ACK, 9, 1, 1, lens);
	msh_store_be16(buf + 6, 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(COUNT_ZERO));
	assert_int_equal(p.hdr.type, MSH_T_PUBLISH);
	assert_int_equal(p.hdr.flags, MSH_PUB_F_ACK);
	assert_int_equal(p.publisher_id, 9);
	assert_int_equal(msh_publish_parse(buf, 32, 1438, &p), E(COUNT_ZERO));
	/* count is checked before the sequence */
	msh_store_be64(buf + 24, 0);
	assert_int_equal(msh_publish_parse(buf, 32, 1438, &p), E(COUNT_ZERO));
}

static void
test_bad_magic_version_type(void **state)
{
	uint8_t buf[64];
	static const uint16_t lens[] = { 3 };
	static const uint8_t bad_types[] = { 0, 7, 8, 0x81, 0xFF };
	struct msh_publish p;
	struct msh_hdr h;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "H", MSH_PUB_F_ACK, 1, 1, 1, lens);

	/* byte-swapped magic, one bit off, zero */
	static const uint16_t bad_magic[] = { 0x534D, 0x4D52, 0xCD53, 0x0000, 0xFFFF };
	for (unsigned int i = 0; i < MSH_ARRAY_SIZE(bad_magic); i++) {
		msh_store_be16(buf, bad_magic[i]);
		memset(&h, 0xAA, sizeof(h));
		assert_int_equal(msh_hdr_parse(buf, len, &h), E(BAD_MAGIC));
		assert_int_equal(h.type, 0); /* zeroed: nothing to answer */
		memset(&p, 0xAA, sizeof(p));
		assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_MAGIC));
		assert_int_equal(p.hdr.type, 0);
		assert_int_equal(p.hdr.flags, 0);
		/* magic is checked before the length of the fixed types */
		assert_int_equal(p_ack(buf, 20), E(BAD_MAGIC));
	}
	msh_store_be16(buf, MSH_MAGIC);

	for (unsigned int v = 0; v < 256; v++) {
		buf[2] = (uint8_t)v;
		assert_int_equal(msh_hdr_parse(buf, len, &h), v == 1 ? 0 : E(BAD_VERSION));
		assert_int_equal(msh_publish_parse(buf, len, 1438, &p),
				 v == 1 ? 0 : E(BAD_VERSION));
	}
	buf[2] = 1;

	for (unsigned int i = 0; i < MSH_ARRAY_SIZE(bad_types); i++) {
		buf[3] = bad_types[i];
		assert_int_equal(msh_hdr_parse(buf, len, &h), E(BAD_TYPE));
		assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_TYPE));
		assert_int_equal(p.hdr.type, 0);
		assert_int_equal(p_unsubscribe(buf, 20), E(BAD_TYPE));
	}
	for (unsigned int t = 1; t <= 6; t++) {
		buf[3] = (uint8_t)t;
		memset(&h, 0, sizeof(h));
		assert_int_equal(msh_hdr_parse(buf, len, &h), 0);
		assert_int_equal(h.type, t);
		assert_int_equal(h.flags, MSH_PUB_F_ACK);
		assert_int_equal(h.count, 1);
	}
	/* reserved bytes are ignored by the parser */
	buf[3] = MSH_T_PUBLISH;
	buf[5] = 0x55;
	buf[18] = 0x66;
	buf[19] = 0x77;
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);
}

/* Put 10 raw name bytes into a PUBLISH, a mold packet and a mold request. */
static void
check_shard(const char raw[10], int want)
{
	uint8_t buf[64];
	static const uint16_t lens[] = { 1 };
	struct msh_publish p;
	struct msh_hdr h;
	struct msh_mold m;
	struct msh_mold_req r;
	size_t len = build_publish(buf, sizeof(buf), "X", 0, 1, 1, 1, lens);

	memcpy(buf + 8, raw, 10);
	assert_int_equal(msh_hdr_parse(buf, len, &h), want);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), want);
	if (want == 0)
		assert_memory_equal(p.hdr.shard.b, raw, 10);
	len = build_mold(buf, sizeof(buf), "X", 1, 1, lens);
	memcpy(buf, raw, 10);
	assert_int_equal(msh_mold_parse(buf, len, &m), want);
	assert_int_equal(msh_mold_req_parse(buf, 20, &r), want);
}

static void
test_bad_shard(void **state)
{
	(void)state;
	check_shard("orders    ", 0);
	check_shard("ORDERS    ", 0);
	check_shard("a         ", 0);
	check_shard("0123456789", 0);
	check_shard("~!@#$%^&*(", 0);
	check_shard("ord ers   ", E(BAD_SHARD));   /* space in the middle */
	check_shard(" orders   ", E(BAD_SHARD));   /* leading space */
	check_shard("ord\0ers   ", E(BAD_SHARD));  /* NUL in the middle */
	check_shard("orders\0\0\0\0", E(BAD_SHARD)); /* NUL padding */
	check_shard("orders   \0", E(BAD_SHARD));
	check_shard("          ", E(BAD_SHARD));   /* empty */
	check_shard("\0\0\0\0\0\0\0\0\0\0", E(BAD_SHARD));
	check_shard("ord\x7f" "ers   ", E(BAD_SHARD));
	check_shard("ord\x80" "ers   ", E(BAD_SHARD));
	check_shard("orders\t   ", E(BAD_SHARD));
	check_shard("ordersabc\n", E(BAD_SHARD));
}

static void
test_too_large(void **state)
{
	static uint8_t buf[4096];
	uint16_t lens[3] = { 1438 };
	struct msh_publish p;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "BIG", MSH_PUB_F_ACK, 1, 1, 1, lens);
	assert_int_equal(len, 32 + 2 + 1438);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), 0);
	assert_int_equal(p.max_msg_len, 1438);

	lens[0] = 1439;
	len = build_publish(buf, sizeof(buf), "BIG", MSH_PUB_F_ACK, 1, 1, 1, lens);
	memset(&p, 0, sizeof(p));
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_MTU1500, &p), E(TOO_LARGE));
	assert_int_equal(p.hdr.type, MSH_T_PUBLISH); /* can answer TOO_LARGE */
	assert_int_equal(p.hdr.flags, MSH_PUB_F_ACK);
	assert_int_equal(p.max_msg_len, 1439);
	assert_int_equal(msh_publish_parse(buf, len, 1439, &p), 0);
	assert_int_equal(msh_publish_parse(buf, len, MSH_MAX_MSG_ABS, &p), 0);

	/* only the last of three is too big */
	lens[0] = 10;
	lens[1] = 1438;
	lens[2] = 1439;
	len = build_publish(buf, sizeof(buf), "BIG", 0, 1, 1, 3, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(TOO_LARGE));
	assert_int_equal(msh_publish_parse(buf, len, 1439, &p), 0);
	assert_int_equal(p.max_msg_len, 1439);

	/* structure is checked before size */
	assert_int_equal(msh_publish_parse(buf, len + 1, 1438, &p), E(BLOCK_UNDERRUN));
	assert_int_equal(msh_publish_parse(buf, len - 1, 1438, &p), E(BLOCK_OVERRUN));

	/* max_msg 0 admits only empty messages */
	lens[0] = 0;
	len = build_publish(buf, sizeof(buf), "BIG", 0, 1, 1, 1, lens);
	assert_int_equal(msh_publish_parse(buf, len, 0, &p), 0);
}

static void
test_publisher_seq(void **state)
{
	uint8_t buf[64];
	static const uint16_t lens[] = { 1, 1, 1 };
	struct msh_publish p;
	size_t len;

	(void)state;
	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, 0, 1, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_SEQ));

	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, 1, 1, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);
	assert_int_equal(p.publisher_seq, 1);

	/* seq + count (the next seq, which dedupe computes) must not wrap, so the
	 * last usable seq is UINT64_MAX - 1 */
	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, UINT64_MAX - 1, 1, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);
	assert_int_equal(p.publisher_seq, UINT64_MAX - 1);
	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, UINT64_MAX, 1, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_SEQ));
	assert_int_equal(p.publisher_seq, UINT64_MAX);
	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, UINT64_MAX - 1, 2, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_SEQ));

	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, UINT64_MAX - 3, 3, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), 0);
	len = build_publish(buf, sizeof(buf), "SEQ", 0, 1, UINT64_MAX - 2, 3, lens);
	assert_int_equal(msh_publish_parse(buf, len, 1438, &p), E(BAD_SEQ));
	assert_int_equal(p.publisher_seq, UINT64_MAX - 2);
	/* the largest count against a small seq is fine */
	msh_store_be64(buf + 24, 1);
	msh_store_be16(buf + 6, 0xFFFF);
	assert_int_equal(msh_publish_parse(buf, 32, 1438, &p), E(BLOCK_OVERRUN));

	/* the sequence is checked before the blocks */
	msh_store_be64(buf + 24, 0);
	buf[len] = 0;
	assert_int_equal(msh_publish_parse(buf, len + 1, 1438, &p), E(BAD_SEQ));
}

/* ---- builders ---------------------------------------------------------- */

#define GUARD 0xA5

static void
assert_untouched(const uint8_t *b, size_t n, const char *what, size_t cap)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != GUARD)
			fail_msg("%s with cap %zu wrote byte %zu", what, cap, i);
}

static void
test_builders_enospc(void **state)
{
	uint8_t buf[64];
	struct msh_name n = name_of("CAP");
	struct msh_ack a = { .hdr = { .shard = n } };
	struct msh_subscribe s = { .hdr = { .shard = n } };
	struct msh_sub_reply r = { .hdr = { .shard = n } };
	struct msh_unavailable u = { .hdr = { .shard = n } };
	struct msh_mold_req q = { .session = n };

	(void)state;
	for (unsigned int which = 0; which < 8; which++) {
		static const size_t need[] = { 32, 44, 40, 48, 20, 36, 20, 20 };
		static const char *const what[] = { "publish_hdr", "ack",	  "subscribe",
						    "sub_reply",   "unsubscribe", "unavailable",
						    "mold_hdr",	   "mold_req" };

		for (size_t cap = 0; cap <= need[which]; cap++) {
			int rc = 0;

			memset(buf, GUARD, sizeof(buf));
			switch (which) {
			case 0:
				rc = msh_publish_hdr_build(buf, cap, &n, 0, 1, 1, 1);
				break;
			case 1:
				rc = msh_ack_build(buf, cap, &a);
				break;
			case 2:
				rc = msh_subscribe_build(buf, cap, &s);
				break;
			case 3:
				rc = msh_sub_reply_build(buf, cap, &r);
				break;
			case 4:
				rc = msh_unsubscribe_build(buf, cap, &n);
				break;
			case 5:
				rc = msh_unavailable_build(buf, cap, &u);
				break;
			case 6:
				rc = msh_mold_hdr_build(buf, cap, &n, 1, 1);
				break;
			case 7:
				rc = msh_mold_req_build(buf, cap, &q);
				break;
			}
			if (cap < need[which]) {
				if (rc != -ENOSPC)
					fail_msg("%s cap %zu: %d", what[which], cap, rc);
				assert_untouched(buf, sizeof(buf), what[which], cap);
			} else {
				assert_int_equal(rc, (int)need[which]);
				assert_untouched(buf + cap, sizeof(buf) - cap, what[which], cap);
			}
		}
	}

	/* reserved header bytes are written as 0 over a dirty buffer */
	memset(buf, 0xFF, sizeof(buf));
	msh_hdr_build(buf, MSH_T_ACK, 0, 0, &n);
	assert_int_equal(buf[5], 0);
	assert_int_equal(buf[18], 0);
	assert_int_equal(buf[19], 0);
	assert_int_equal(buf[20], 0xFF);
}

static void
test_block_put(void **state)
{
	uint8_t buf[16];

	(void)state;
	memset(buf, GUARD, sizeof(buf));
	assert_int_equal(msh_block_put(buf, 10, 3, "abcde", 5), 10);
	assert_int_equal(buf[3], 0);
	assert_int_equal(buf[4], 5);
	assert_memory_equal(buf + 5, "abcde", 5);
	assert_int_equal(buf[10], GUARD);
	assert_untouched(buf, 3, "block_put", 10);

	memset(buf, GUARD, sizeof(buf));
	assert_int_equal(msh_block_put(buf, 9, 3, "abcde", 5), -ENOSPC);
	assert_int_equal(msh_block_put(buf, 10, 4, "abcde", 5), -ENOSPC);
	assert_int_equal(msh_block_put(buf, 10, 9, NULL, 0), -ENOSPC);  /* half a length */
	assert_int_equal(msh_block_put(buf, 10, 11, NULL, 0), -ENOSPC); /* off past cap */
	assert_int_equal(msh_block_put(buf, 10, SIZE_MAX, "a", 1), -ENOSPC);
	/* an offset the int return cannot express */
	assert_int_equal(msh_block_put(buf, SIZE_MAX, (size_t)INT_MAX - 1, NULL, 0), -ENOSPC);
	assert_untouched(buf, sizeof(buf), "block_put", 10);

	/* an empty message: just the length */
	assert_int_equal(msh_block_put(buf, 10, 8, NULL, 0), 10);
	assert_int_equal(buf[8], 0);
	assert_int_equal(buf[9], 0);
	assert_int_equal(buf[10], GUARD);
	/* a length with its high byte set */
	{
		static uint8_t big[0x1234 + 2];
		static uint8_t msg[0x1234];

		assert_int_equal(msh_block_put(big, sizeof(big), 0, msg, 0x1234), 0x1236);
		assert_int_equal(big[0], 0x12);
		assert_int_equal(big[1], 0x34);
	}
}

/* ---- fuzz -------------------------------------------------------------- */

/* Reference decoders written from PROTOCOL.md without wire.c's code, so the
 * fuzz loop checks every return value, not only the absence of crashes. */
static uint64_t
ref_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static bool
ref_name_ok(const uint8_t *p)
{
	int n = 10;

	while (n > 0 && p[n - 1] == ' ')
		n--;
	if (n == 0)
		return false;
	for (int i = 0; i < n; i++)
		if (p[i] < 0x21 || p[i] > 0x7E)
			return false;
	return true;
}

static int
ref_blocks(const uint8_t *p, size_t len, uint32_t count, uint32_t *maxl)
{
	size_t off = 0;
	uint32_t m = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t l;

		if (off + 2 > len)
			return E(BLOCK_OVERRUN);
		l = (uint32_t)ref_be(p + off, 2);
		if (off + 2 + l > len)
			return E(BLOCK_OVERRUN);
		off += 2 + l;
		if (l > m)
			m = l;
	}
	if (off != len)
		return E(BLOCK_UNDERRUN);
	*maxl = m;
	return 0;
}

static int
ref_hdr(const uint8_t *b, size_t len)
{
	if (len < 20)
		return E(TRUNCATED);
	if (b[0] != 0x4D || b[1] != 0x53)
		return E(BAD_MAGIC);
	if (b[2] != 1)
		return E(BAD_VERSION);
	if (b[3] == 0 || b[3] > 6)
		return E(BAD_TYPE);
	if (!ref_name_ok(b + 8))
		return E(BAD_SHARD);
	return 0;
}

static int
ref_fixed(const uint8_t *b, size_t len, uint8_t type, size_t n)
{
	int rc = ref_hdr(b, len);

	if (rc)
		return rc;
	if (b[3] != type)
		return E(BAD_TYPE);
	return len < n ? E(TRUNCATED) : len > n ? E(BAD_LENGTH) : 0;
}

static int
ref_publish(const uint8_t *b, size_t len, uint32_t max_msg, uint32_t *maxl)
{
	int rc = ref_fixed(b, len, 1, len);
	uint64_t count, seq;

	if (rc)
		return rc;
	if (len < 32)
		return E(TRUNCATED);
	count = ref_be(b + 6, 2);
	seq = ref_be(b + 24, 8);
	if (count == 0)
		return E(COUNT_ZERO);
	if (seq == 0 || seq + count < seq)
		return E(BAD_SEQ);
	rc = ref_blocks(b + 32, len - 32, (uint32_t)count, maxl);
	if (rc)
		return rc;
	return *maxl > max_msg ? E(TOO_LARGE) : 0;
}

static int
ref_mold(const uint8_t *b, size_t len)
{
	uint32_t count, m;

	if (len < 20)
		return E(TRUNCATED);
	if (!ref_name_ok(b))
		return E(BAD_SHARD);
	count = (uint32_t)ref_be(b + 18, 2);
	if (count == 0 || count == 0xFFFF)
		return len == 20 ? 0 : E(BAD_LENGTH);
	return ref_blocks(b + 20, len - 20, count, &m);
}

static int
ref_mold_req(const uint8_t *b, size_t len)
{
	if (len != 20)
		return len < 20 ? E(TRUNCATED) : E(BAD_LENGTH);
	return ref_name_ok(b) ? 0 : E(BAD_SHARD);
}

#define FUZZ_CAP 2048
#define FUZZ_ITERS 200000
#define FUZZ_SEED 0x9E3779B97F4A7C15ull

static void
fuzz_random_name(uint64_t *rs, uint8_t *p)
{
	unsigned int n = 1 + (unsigned int)(t_rand(rs) % 10);

	memset(p, ' ', 10);
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(0x21 + t_rand(rs) % 94);
}

/* A valid PUBLISH (kind 0), MoldUDP64 packet (kind 1) or other native packet. */
static size_t
fuzz_base(uint64_t *rs, unsigned int kind, uint8_t *b, uint32_t *max_msg)
{
	uint64_t r = t_rand(rs);
	unsigned int count = 1 + (unsigned int)(r % 8);
	size_t off;

	*max_msg = (r >> 8) % 4 == 0 ? (uint32_t)(t_rand(rs) % 40) : MSH_MAX_MSG_MTU1500;
	if (kind == 0) {
		static const uint64_t seqs[] = { 1, 2, UINT64_MAX, UINT64_MAX - 8, 1ull << 63 };
		uint64_t seq = (r >> 16) % 2 ? t_rand(rs) : seqs[(r >> 17) % 5];
		struct msh_name n;

		fuzz_random_name(rs, n.b);
		msh_hdr_build(b, MSH_T_PUBLISH, (uint8_t)(r >> 24), (uint16_t)count, &n);
		msh_store_be32(b + 20, (uint32_t)t_rand(rs));
		msh_store_be64(b + 24, seq);
		off = 32;
	} else if (kind == 1) {
		uint16_t c = (r >> 16) % 8 == 0 ? (uint16_t)((r >> 20) % 2 ? 0 : 0xFFFF)
						 : (uint16_t)count;

		fuzz_random_name(rs, b);
		msh_store_be64(b + 10, t_rand(rs));
		msh_store_be16(b + 18, c);
		if (c == 0 || c == 0xFFFF)
			return 20;
		off = 20;
	} else {
		uint8_t type = (uint8_t)(2 + (r >> 16) % 5);

		off = build_sample(type, b, FUZZ_CAP);
		fuzz_random_name(rs, b + 8);
		for (size_t i = 20; i < off; i++)
			b[i] = (uint8_t)t_rand(rs);
		return off;
	}
	for (unsigned int k = 0; k < count; k++) {
		uint64_t q = t_rand(rs);
		uint16_t l = q % 16 == 0 ? (uint16_t)(1437 + q % 4 - 1) : (uint16_t)((q >> 8) % 40);

		if (off + 2 + l > FUZZ_CAP - 16)
			l = 0;
		msh_store_be16(b + off, l);
		for (uint16_t j = 0; j < l; j++)
			b[off + 2 + j] = (uint8_t)(q >> (j % 8));
		off += 2u + l;
	}
	return off;
}

static size_t
fuzz_mutate(uint64_t *rs, uint8_t *b, size_t len)
{
	static const uint16_t v16[] = { 0, 1, 2, 0xFFFF, 0x4D53, 0x0100, 0x0001, 0x2020 };
	static const uint64_t v64[] = { 0, 1, UINT64_MAX, UINT64_MAX - 1 };
	unsigned int n = (unsigned int)(t_rand(rs) % 4);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t r = t_rand(rs);

		switch (r % 7) {
		case 0:
			if (len)
				b[(r >> 8) % len] = (uint8_t)(r >> 40);
			break;
		case 1:
			if (len)
				b[(r >> 8) % len] ^= (uint8_t)(1u << ((r >> 40) % 8));
			break;
		case 2:
			len = (size_t)((r >> 8) % (len + 1));
			break;
		case 3:
			for (unsigned int k = 1 + (unsigned int)((r >> 8) % 8); k > 0; k--)
				if (len < FUZZ_CAP)
					b[len++] = (uint8_t)t_rand(rs);
			break;
		case 4:
		case 5:
			if (len >= 2) {
				size_t at = (r >> 8) % MSH_MIN(len - 1, 40);

				msh_store_be16(b + at, v16[(r >> 32) % MSH_ARRAY_SIZE(v16)]);
			}
			break;
		case 6: {
			size_t at = (r >> 8) % 2 ? 24 : 10;

			if (len >= at + 8)
				msh_store_be64(b + at, v64[(r >> 32) % MSH_ARRAY_SIZE(v64)]);
			break;
		}
		}
	}
	return len;
}

static void
test_fuzz(void **state)
{
	static uint8_t w[FUZZ_CAP];
	uint8_t *heap = malloc(FUZZ_CAP);
	uint64_t rs = FUZZ_SEED;
	unsigned int pub_hits[MSH_WIRE_E_COUNT] = { 0 }, mold_hits[MSH_WIRE_E_COUNT] = { 0 };
	unsigned int fixed_ok = 0;

	(void)state;
	assert_non_null(heap);
	for (unsigned int it = 0; it < FUZZ_ITERS; it++) {
		uint64_t r = t_rand(&rs);
		uint32_t max_msg = MSH_MAX_MSG_MTU1500, ref_max = 0;
		size_t len;
		const uint8_t *b;
		int rc, want;

		if (r % 10 < 2) {
			/* random bytes, half of them behind a valid magic and version */
			len = (size_t)(t_rand(&rs) % 128);
			for (size_t i = 0; i < len; i++)
				w[i] = (uint8_t)t_rand(&rs);
			if (len >= 3 && (r >> 8) % 2) {
				w[0] = 0x4D;
				w[1] = 0x53;
				w[2] = 1;
			}
		} else {
			unsigned int kind = r % 10 < 6 ? 0 : r % 10 < 9 ? 1 : 2;

			len = fuzz_base(&rs, kind, w, &max_msg);
			len = fuzz_mutate(&rs, w, len);
		}
		/* the datagram ends where the allocation ends */
		b = heap + FUZZ_CAP - len;
		memmove(heap + FUZZ_CAP - len, w, len);

		{
			struct msh_publish p;

			rc = msh_publish_parse(b, len, max_msg, &p);
			want = ref_publish(b, len, max_msg, &ref_max);
			if (rc != want)
				fail_msg("iteration %u: publish %d, reference %d (len %zu)", it, rc,
					 want, len);
			pub_hits[-rc]++;
			if (rc == 0) {
				assert_true(p.blocks_len <= len);
				assert_ptr_equal(p.blocks, b + 32);
				assert_int_equal(p.blocks_len, len - 32);
				assert_int_equal(p.max_msg_len, ref_max);
				assert_true(p.max_msg_len <= max_msg);
				assert_true(p.hdr.count >= 1);
				assert_true(p.publisher_seq >= 1);
				assert_true(p.publisher_seq + p.hdr.count > p.publisher_seq);
				assert_int_equal(p.publisher_seq, ref_be(b + 24, 8));
				assert_int_equal(p.publisher_id, ref_be(b + 20, 4));
				assert_int_equal(p.hdr.flags, b[4]);
			} else if (rc == E(TOO_LARGE)) {
				assert_int_equal(p.max_msg_len, ref_max);
			}
			/* the header is filled exactly when it was readable */
			assert_int_equal(p.hdr.type, ref_hdr(b, len) == 0 ? b[3] : 0);
		}
		{
			struct msh_hdr h;

			assert_int_equal(msh_hdr_parse(b, len, &h), ref_hdr(b, len));
		}
		{
			struct msh_mold m;

			rc = msh_mold_parse(b, len, &m);
			want = ref_mold(b, len);
			if (rc != want)
				fail_msg("iteration %u: mold %d, reference %d (len %zu)", it, rc,
					 want, len);
			mold_hits[-rc]++;
			if (rc == 0) {
				assert_true(m.blocks_len <= len);
				assert_ptr_equal(m.blocks, b + 20);
				assert_true(m.blocks + m.blocks_len == b + len);
				assert_int_equal(m.count, ref_be(b + 18, 2));
				assert_int_equal(m.seq, ref_be(b + 10, 8));
				assert_true(msh_name_valid(&m.session));
			}
		}
		{
			struct msh_mold_req q;

			assert_int_equal(msh_mold_req_parse(b, len, &q), ref_mold_req(b, len));
		}
		for (unsigned int t = 1; t < MSH_ARRAY_SIZE(native_parsers); t++) {
			static const size_t fixed[] = { 0, 44, 40, 48, 20, 36 };

			rc = native_parsers[t].parse(b, len);
			want = ref_fixed(b, len, native_parsers[t].type, fixed[t]);
			if (rc != want)
				fail_msg("iteration %u: %s %d, reference %d (len %zu)", it,
					 native_parsers[t].name, rc, want, len);
			fixed_ok += rc == 0;
		}
	}
	free(heap);

	/* the loop reached every outcome, so the comparisons above meant something */
	for (int e = 0; e < MSH_WIRE_E_COUNT; e++) {
		if (e != MSH_WIRE_E_BAD_LENGTH && pub_hits[e] == 0)
			fail_msg("fuzz never produced publish result -%d", e);
		if (e != MSH_WIRE_E_COUNT_ZERO && e != MSH_WIRE_E_TOO_LARGE &&
		    e != MSH_WIRE_E_BAD_SEQ && e != MSH_WIRE_E_BAD_MAGIC &&
		    e != MSH_WIRE_E_BAD_VERSION && e != MSH_WIRE_E_BAD_TYPE && mold_hits[e] == 0)
			fail_msg("fuzz never produced mold result -%d", e);
	}
	assert_int_equal(pub_hits[MSH_WIRE_E_BAD_LENGTH], 0);
	assert_true(pub_hits[0] > 1000);
	assert_true(mold_hits[0] > 1000);
	assert_true(fixed_ok > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_err_strings),
		cmocka_unit_test(test_publish_one_block),
		cmocka_unit_test(test_publish_many_blocks),
		cmocka_unit_test(test_publish_zero_length_blocks),
		cmocka_unit_test(test_ack_round_trip),
		cmocka_unit_test(test_subscribe_round_trip),
		cmocka_unit_test(test_sub_reply_round_trip),
		cmocka_unit_test(test_unsubscribe_round_trip),
		cmocka_unit_test(test_unavailable_round_trip),
		cmocka_unit_test(test_mold_round_trip),
		cmocka_unit_test(test_mold_req_round_trip),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_fixed_types_too_long),
		cmocka_unit_test(test_type_matrix),
		cmocka_unit_test(test_blocks_overrun_underrun),
		cmocka_unit_test(test_blocks_skip),
		cmocka_unit_test(test_mold_malformed),
		cmocka_unit_test(test_count_zero),
		cmocka_unit_test(test_bad_magic_version_type),
		cmocka_unit_test(test_bad_shard),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_publisher_seq),
		cmocka_unit_test(test_builders_enospc),
		cmocka_unit_test(test_block_put),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
