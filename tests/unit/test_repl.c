/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/repl: every frame built, checked byte by byte against the
 * offsets of repl.h and parsed back; every parse error from a mutated valid
 * frame (and a check that each error code is reached); every truncation on an
 * exact-length heap copy (AddressSanitizer sees over-reads); a seeded mutation
 * fuzz loop. Then the state: epoch history, the primary's go-back-N, ordering
 * of the secondary's frames, lag, the acks=all queue, the secondary's apply
 * verdicts, catch-up decisions, and the node's roles, epochs and failover
 * rules. Finally two appliances simulated in memory, each with a shard, a
 * replication state and a node, over a seeded lossy, duplicating and
 * reordering link: thousands of messages at 5% loss end byte-identical; a
 * failover with a returning old primary that truncates what the new one never
 * had; a cut replication link with the peer alive on ingest that must not
 * promote. The simulation's frame handling is what the daemon has to do.
 */
#include <errno.h>

#include "repl.h"
#include "shard.h"
#include "testutil.h"
#include "wire.h"

#define E(sym) (-MSH_REPL_E_##sym)
#define SEG 8192u
#define PAYLOAD 1472u /* UDP payload with a 1500-byte MTU */

static struct msh_name
name_of(const char *s)
{
	struct msh_name n;

	assert_int_equal(msh_name_from_str(&n, s), 0);
	return n;
}

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 300);
}

static uint16_t
len_100(uint64_t i)
{
	(void)i;
	return 100;
}

static struct msh_repl_hdr
hdr_of(uint8_t type, uint8_t flags, uint8_t role, uint32_t epoch, uint32_t node, uint64_t ts)
{
	struct msh_repl_hdr h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.flags = flags;
	h.role = role;
	h.epoch = epoch;
	h.node_id = node;
	h.ts_ns = ts;
	return h;
}

static void
assert_common(const uint8_t *b, uint8_t type, uint8_t flags, uint8_t role, uint16_t count,
	      uint32_t epoch, uint32_t node, uint64_t ts)
{
	assert_be(b + 0, 0x4D52, 2);
	assert_int_equal(b[2], 1);
	assert_int_equal(b[3], type);
	assert_int_equal(b[4], flags);
	assert_int_equal(b[5], role);
	assert_be(b + 6, count, 2);
	assert_be(b + 8, epoch, 4);
	assert_be(b + 12, node, 4);
	assert_be(b + 16, ts, 8);
}

static void
assert_shard_field(const uint8_t *p, const char *name)
{
	struct msh_name n = name_of(name);

	assert_memory_equal(p, n.b, MSH_NAME_LEN);
	for (int i = MSH_NAME_LEN; i < MSH_REPL_SHARD_LEN; i++)
		assert_int_equal(p[i], 0);
}

/* ---- valid frames, shared by the codec tests ----------------------------- */

static size_t
mk_data(uint8_t *buf, size_t cap, uint16_t count, uint8_t flags)
{
	static uint8_t blocks[4096];
	struct msh_repl_data d;
	int n;

	memset(&d, 0, sizeof(d));
	d.hdr = hdr_of(MSH_REPL_T_DATA, flags, MSH_REPL_PRIMARY, 7, 1, 0x1122334455667788ull);
	d.hdr.count = count;
	d.shard = name_of("ticks");
	d.first_seq = 1000;
	d.msg_epoch = 5;
	if (flags & MSH_REPL_F_DATA_PUB) {
		d.publisher_id = 42;
		d.publisher_seq = 77;
	}
	d.blocks = blocks;
	d.blocks_len = count ? t_blocks(blocks, 1000, count, len_var) : 0;
	n = msh_repl_data_build(buf, cap, &d);
	assert_true(n > 0);
	return (size_t)n;
}

static size_t
mk_ack(uint8_t *buf)
{
	struct msh_repl_ack a;

	memset(&a, 0, sizeof(a));
	a.hdr = hdr_of(MSH_REPL_T_ACK, 0, MSH_REPL_SECONDARY, 7, 2, 99);
	a.shard = name_of("ticks");
	a.next_seq = 1234;
	a.echo_ns = 5555;
	a.applied_ns = 6666;
	assert_int_equal(msh_repl_ack_build(buf, MSH_REPL_ACK_LEN, &a), MSH_REPL_ACK_LEN);
	return MSH_REPL_ACK_LEN;
}

static size_t
mk_nak(uint8_t *buf)
{
	struct msh_repl_nak k;

	memset(&k, 0, sizeof(k));
	k.hdr = hdr_of(MSH_REPL_T_NAK, 0, MSH_REPL_SECONDARY, 7, 2, 99);
	k.shard = name_of("ticks");
	k.expected_seq = 100;
	k.seen_seq = 120;
	assert_int_equal(msh_repl_nak_build(buf, MSH_REPL_NAK_LEN, &k), MSH_REPL_NAK_LEN);
	return MSH_REPL_NAK_LEN;
}

static size_t
mk_summary(uint8_t *buf, uint8_t type, uint16_t n)
{
	struct msh_repl_pos pos[3];
	struct msh_repl_hdr h = hdr_of(type, MSH_REPL_F_INGEST_UP, MSH_REPL_SECONDARY, 7, 2, 9);
	const char *names[3] = {"a", "bb", "ccc"};
	int len;

	for (int i = 0; i < 3; i++) {
		pos[i].shard = name_of(names[i]);
		pos[i].next_seq = 100u * (unsigned)(i + 1);
		pos[i].first_seq = 10u * (unsigned)(i + 1);
		pos[i].last_epoch = (uint32_t)(i + 5);
	}
	len = msh_repl_summary_build(buf, PAYLOAD, &h, 3, pos, n);
	assert_int_equal(len, MSH_REPL_SUMMARY_HDR_LEN + n * MSH_REPL_POS_LEN);
	return (size_t)len;
}

static size_t
mk_sync_reply(uint8_t *buf, uint16_t n_hist, uint8_t status)
{
	struct msh_repl_sync_reply r;
	int len;

	memset(&r, 0, sizeof(r));
	r.hdr = hdr_of(MSH_REPL_T_SYNC_REPLY, 0, MSH_REPL_PRIMARY, 9, 1, 3);
	r.hdr.count = n_hist;
	r.shard = name_of("ticks");
	r.first_seq = 5;
	r.next_seq = 500;
	r.status = status;
	for (uint16_t i = 0; i < n_hist; i++) {
		r.hist[i].epoch = 3u + 2u * i;
		r.hist[i].start_seq = 1u + 100u * i;
	}
	len = msh_repl_sync_reply_build(buf, PAYLOAD, &r);
	assert_int_equal(len, MSH_REPL_SYNC_REPLY_HDR_LEN + n_hist * MSH_REPL_HIST_ENTRY_LEN);
	return (size_t)len;
}

/* ---- codecs ------------------------------------------------------------- */

static void
test_data_round_trip(void **state)
{
	uint8_t buf[PAYLOAD];
	struct msh_repl_data d;
	size_t len;

	(void)state;
	len = mk_data(buf, sizeof(buf), 5, MSH_REPL_F_DATA_PUB);
	assert_common(buf, MSH_REPL_T_DATA, MSH_REPL_F_DATA_PUB, MSH_REPL_PRIMARY, 5, 7, 1,
		      0x1122334455667788ull);
	assert_shard_field(buf + 24, "ticks");
	assert_be(buf + 40, 1000, 8);
	assert_be(buf + 48, 5, 4);
	assert_be(buf + 52, 42, 4);
	assert_be(buf + 56, 77, 8);
	assert_int_equal(msh_repl_data_parse(buf, len, 1438, &d), 0);
	assert_int_equal(d.hdr.type, MSH_REPL_T_DATA);
	assert_int_equal(d.hdr.count, 5);
	assert_true(d.hdr.ts_ns == 0x1122334455667788ull);
	assert_true(d.first_seq == 1000 && d.msg_epoch == 5);
	assert_true(d.publisher_id == 42 && d.publisher_seq == 77);
	assert_ptr_equal(d.blocks, buf + 64);
	t_check_blocks(d.blocks, d.blocks_len, 1000, 5, len_var);
	assert_int_equal(d.max_msg_len, 248); /* 1000..1004: (i * 37) % 300, 100 to 248 */
	{
		struct msh_name t = name_of("ticks");

		assert_true(msh_name_eq(&d.shard, &t));
	}

	/* RESET: header only. */
	len = mk_data(buf, sizeof(buf), 0, MSH_REPL_F_DATA_RESET);
	assert_int_equal(len, MSH_REPL_DATA_HDR_LEN);
	assert_int_equal(msh_repl_data_parse(buf, len, 1438, &d), 0);
	assert_int_equal(d.hdr.count, 0);
	assert_int_equal(d.blocks_len, 0);
	/* Header-only builder, and capacity. */
	{
		uint8_t h2[MSH_REPL_DATA_HDR_LEN];
		struct msh_repl_data v;

		len = mk_data(buf, sizeof(buf), 3, 0);
		assert_int_equal(msh_repl_data_parse(buf, len, 1438, &v), 0);
		assert_int_equal(msh_repl_data_hdr_build(h2, sizeof(h2), &v), 64);
		assert_memory_equal(h2, buf, 64);
		assert_int_equal(msh_repl_data_hdr_build(h2, 63, &v), -ENOSPC);
		assert_int_equal(msh_repl_data_build(buf, len - 1, &v), -ENOSPC);
	}
}

static void
test_fixed_frames_round_trip(void **state)
{
	uint8_t buf[PAYLOAD];
	struct msh_repl_ack a;
	struct msh_repl_nak k;

	(void)state;
	mk_ack(buf);
	assert_common(buf, MSH_REPL_T_ACK, 0, MSH_REPL_SECONDARY, 0, 7, 2, 99);
	assert_shard_field(buf + 24, "ticks");
	assert_be(buf + 40, 1234, 8);
	assert_be(buf + 48, 5555, 8);
	assert_be(buf + 56, 6666, 8);
	assert_int_equal(msh_repl_ack_parse(buf, MSH_REPL_ACK_LEN, &a), 0);
	assert_true(a.next_seq == 1234 && a.echo_ns == 5555 && a.applied_ns == 6666);
	assert_true(a.hdr.epoch == 7 && a.hdr.node_id == 2 && a.hdr.role == MSH_REPL_SECONDARY);
	assert_int_equal(msh_repl_ack_build(buf, MSH_REPL_ACK_LEN - 1, &a), -ENOSPC);

	mk_nak(buf);
	assert_common(buf, MSH_REPL_T_NAK, 0, MSH_REPL_SECONDARY, 0, 7, 2, 99);
	assert_be(buf + 40, 100, 8);
	assert_be(buf + 48, 120, 8);
	assert_int_equal(msh_repl_nak_parse(buf, MSH_REPL_NAK_LEN, &k), 0);
	assert_true(k.expected_seq == 100 && k.seen_seq == 120);
	assert_int_equal(msh_repl_nak_build(buf, MSH_REPL_NAK_LEN - 1, &k), -ENOSPC);
}

static void
test_summary_and_sync_reply_round_trip(void **state)
{
	uint8_t buf[PAYLOAD];
	struct msh_repl_summary s;
	struct msh_repl_pos p;
	struct msh_repl_sync_reply r;
	size_t len;

	(void)state;
	len = mk_summary(buf, MSH_REPL_T_HELLO, 3);
	assert_common(buf, MSH_REPL_T_HELLO, MSH_REPL_F_INGEST_UP, MSH_REPL_SECONDARY, 3, 7, 2, 9);
	assert_be(buf + 24, 3, 4);
	assert_be(buf + 28, 0, 4);
	assert_shard_field(buf + 32 + 40, "bb");
	assert_be(buf + 32 + 40 + 16, 200, 8);
	assert_be(buf + 32 + 40 + 24, 20, 8);
	assert_be(buf + 32 + 40 + 32, 6, 4);
	assert_int_equal(msh_repl_summary_parse(buf, len, &s), 0);
	assert_int_equal(s.hdr.count, 3);
	assert_int_equal(s.shards_total, 3);
	assert_int_equal(s.hdr.flags, MSH_REPL_F_INGEST_UP);
	msh_repl_pos_at(&s, 2, &p);
	assert_true(msh_name_eq(&p.shard, &(struct msh_name){{'c', 'c', 'c', ' ', ' ', ' ', ' ',
								' ', ' ', ' '}}));
	assert_true(p.next_seq == 300 && p.first_seq == 30 && p.last_epoch == 7);
	len = mk_summary(buf, MSH_REPL_T_SYNC_REQ, 0);
	assert_int_equal(msh_repl_summary_parse(buf, len, &s), 0);
	assert_int_equal(s.hdr.type, MSH_REPL_T_SYNC_REQ);
	assert_int_equal(s.hdr.count, 0);
	{
		struct msh_repl_hdr h = hdr_of(MSH_REPL_T_HELLO, 0, 1, 1, 1, 0);

		assert_int_equal(msh_repl_summary_build(buf, 31, &h, 0, NULL, 0), -ENOSPC);
	}

	len = mk_sync_reply(buf, 3, MSH_REPL_SYNC_OK);
	assert_common(buf, MSH_REPL_T_SYNC_REPLY, 0, MSH_REPL_PRIMARY, 3, 9, 1, 3);
	assert_shard_field(buf + 24, "ticks");
	assert_be(buf + 40, 5, 8);
	assert_be(buf + 48, 500, 8);
	assert_int_equal(buf[56], 0);
	assert_be(buf + 64 + 12, 5, 4);
	assert_be(buf + 64 + 16, 101, 8);
	assert_int_equal(msh_repl_sync_reply_parse(buf, len, &r), 0);
	assert_int_equal(r.hdr.count, 3);
	assert_true(r.first_seq == 5 && r.next_seq == 500 && r.status == MSH_REPL_SYNC_OK);
	assert_true(r.hist[2].epoch == 7 && r.hist[2].start_seq == 201);
	len = mk_sync_reply(buf, 0, MSH_REPL_SYNC_UNKNOWN_SHARD);
	assert_int_equal(msh_repl_sync_reply_parse(buf, len, &r), 0);
	assert_int_equal(r.status, MSH_REPL_SYNC_UNKNOWN_SHARD);
	assert_int_equal(msh_repl_sync_reply_build(buf, 63, &r), -ENOSPC);
}

/* Parse @p len bytes of @p src as the frame kind @p kind, from an exact-size
 * heap copy. */
enum kind { K_DATA, K_ACK, K_NAK, K_SUMMARY, K_SYNC_REPLY, K_HDR };

static int
parse_as(enum kind kind, const uint8_t *src, size_t len, uint32_t max_msg)
{
	uint8_t *p;
	struct msh_repl_data d;
	struct msh_repl_ack a;
	struct msh_repl_nak k;
	struct msh_repl_summary s;
	struct msh_repl_sync_reply r;
	struct msh_repl_hdr h;
	int rc = 0;

	assert_true(len <= PAYLOAD + 1);
	p = dup_exact(src, MSH_MIN(len, (size_t)PAYLOAD + 1)); /* bounded for gcc -O3 */

	switch (kind) {
	case K_DATA:
		rc = msh_repl_data_parse(p, len, max_msg, &d);
		break;
	case K_ACK:
		rc = msh_repl_ack_parse(p, len, &a);
		break;
	case K_NAK:
		rc = msh_repl_nak_parse(p, len, &k);
		break;
	case K_SUMMARY:
		rc = msh_repl_summary_parse(p, len, &s);
		break;
	case K_SYNC_REPLY:
		rc = msh_repl_sync_reply_parse(p, len, &r);
		break;
	case K_HDR:
		rc = msh_repl_hdr_parse(p, len, &h);
		break;
	}
	free(p);
	return rc;
}

static bool err_seen[MSH_REPL_E_COUNT];

/* A mutation of a valid frame and the error it must give. */
static void
expect(enum kind kind, const uint8_t *b, size_t len, uint32_t max_msg, int want, const char *what)
{
	int rc = parse_as(kind, b, len, max_msg);

	if (rc != want)
		fail_msg("%s: got %d (%s), want %d (%s)", what, rc, msh_repl_err_str(rc), want,
			 msh_repl_err_str(want));
	if (want < 0)
		err_seen[-want] = true;
}

#define MUT(kind, maker, max, off, val, want)                                   \
	do {                                                                    \
		uint8_t m_[PAYLOAD];                                            \
		size_t l_ = MSH_MIN((size_t)(maker), sizeof(m_));               \
		memcpy(m_, fb, l_);                                             \
		m_[off] = (uint8_t)(val);                                       \
		expect(kind, m_, l_, max, want, #kind " byte " #off " = " #val); \
	} while (0)

static void
test_every_parse_error(void **state)
{
	uint8_t fb[PAYLOAD], m[PAYLOAD];
	size_t len;

	(void)state;
	memset(err_seen, 0, sizeof(err_seen));

	/* Common header, through the DATA parser and the bare one. */
	len = mk_data(fb, sizeof(fb), 3, 0);
	expect(K_DATA, fb, len, 1438, 0, "valid DATA");
	expect(K_HDR, fb, 23, 0, E(TRUNCATED), "header 23 bytes");
	MUT(K_DATA, len, 1438, 0, 0x4E, E(BAD_MAGIC));
	MUT(K_DATA, len, 1438, 1, 0x53, E(BAD_MAGIC)); /* "MS": an ingest datagram */
	MUT(K_DATA, len, 1438, 2, 2, E(BAD_VERSION));
	MUT(K_DATA, len, 1438, 3, 0, E(BAD_TYPE));
	MUT(K_DATA, len, 1438, 3, 7, E(BAD_TYPE));
	MUT(K_DATA, len, 1438, 3, MSH_REPL_T_ACK, E(BAD_TYPE)); /* valid type, wrong parser */
	MUT(K_DATA, len, 1438, 5, 0, E(BAD_ROLE));
	MUT(K_DATA, len, 1438, 5, 3, E(BAD_ROLE));
	memcpy(m, fb, len);
	memset(m + 8, 0, 4);
	expect(K_DATA, m, len, 1438, E(BAD_EPOCH), "epoch 0");
	memcpy(m, fb, len);
	memset(m + 12, 0, 4);
	expect(K_DATA, m, len, 1438, E(BAD_NODE), "node 0");

	/* DATA body. */
	expect(K_DATA, fb, 63, 1438, E(TRUNCATED), "DATA 63 bytes");
	MUT(K_DATA, len, 1438, 4, 0x04, E(BAD_FLAGS));
	MUT(K_DATA, len, 1438, 4, MSH_REPL_F_DATA_PUB | MSH_REPL_F_DATA_RESET, E(BAD_FLAGS));
	MUT(K_DATA, len, 1438, 24, 0x01, E(BAD_SHARD));        /* unprintable */
	MUT(K_DATA, len, 1438, 24, ' ', E(BAD_SHARD));         /* leading space */
	MUT(K_DATA, len, 1438, 24 + 12, 1, E(BAD_SHARD));      /* padding not zero */
	memcpy(m, fb, len);
	memset(m + 40, 0, 8);
	expect(K_DATA, m, len, 1438, E(BAD_SEQ), "first_seq 0");
	memcpy(m, fb, len);
	msh_store_be64(m + 40, UINT64_MAX - 1); /* + 3 wraps */
	expect(K_DATA, m, len, 1438, E(BAD_SEQ), "range wraps");
	MUT(K_DATA, len, 1438, 51, 8, E(BAD_EPOCH)); /* msg_epoch 8 > epoch 7 */
	MUT(K_DATA, len, 1438, 55, 1, E(BAD_RESERVED)); /* publisher_id without PUB */
	MUT(K_DATA, len, 1438, 63, 1, E(BAD_RESERVED)); /* publisher_seq without PUB */
	MUT(K_DATA, len, 1438, 7, 0, E(BAD_COUNT));    /* count 0, not RESET */
	MUT(K_DATA, len, 1438, 7, 4, E(BLOCK_OVERRUN)); /* one block more than there is */
	MUT(K_DATA, len, 1438, 7, 2, E(BLOCK_UNDERRUN)); /* bytes left after two */
	MUT(K_DATA, len, 1438, 64, 0xFF, E(BLOCK_OVERRUN)); /* first length too long */
	expect(K_DATA, fb, len - 1, 1438, E(BLOCK_OVERRUN), "last block cut");
	expect(K_DATA, fb, len, 173, E(TOO_LARGE), "message above max_msg"); /* 100, 137, 174 */
	expect(K_DATA, fb, len, 174, 0, "longest message at max_msg");
	memcpy(m, fb, len);
	m[len] = 0;
	expect(K_DATA, m, len + 1, 1438, E(BLOCK_UNDERRUN), "one byte past the blocks");
	len = mk_data(fb, sizeof(fb), 3, MSH_REPL_F_DATA_PUB);
	memcpy(m, fb, len);
	memset(m + 56, 0, 8);
	expect(K_DATA, m, len, 1438, E(BAD_SEQ), "PUB with publisher_seq 0");
	memcpy(m, fb, len);
	msh_store_be64(m + 56, UINT64_MAX - 1);
	expect(K_DATA, m, len, 1438, E(BAD_SEQ), "publisher range wraps");
	len = mk_data(fb, sizeof(fb), 0, MSH_REPL_F_DATA_RESET);
	MUT(K_DATA, len, 1438, 7, 1, E(BAD_COUNT)); /* RESET with a message */
	memcpy(m, fb, len);
	m[len] = 0;
	expect(K_DATA, m, len + 1, 1438, E(BAD_LENGTH), "RESET with bytes after the header");

	/* ACK and NAK. */
	len = mk_ack(fb);
	expect(K_ACK, fb, len, 0, 0, "valid ACK");
	expect(K_ACK, fb, len - 1, 0, E(TRUNCATED), "ACK short");
	memcpy(m, fb, len);
	m[len] = 0;
	expect(K_ACK, m, len + 1, 0, E(BAD_LENGTH), "ACK long");
	MUT(K_ACK, len, 0, 4, 1, E(BAD_FLAGS));
	MUT(K_ACK, len, 0, 7, 1, E(BAD_COUNT));
	MUT(K_ACK, len, 0, 30, 1, E(BAD_SHARD));
	memcpy(m, fb, len);
	memset(m + 40, 0, 8);
	expect(K_ACK, m, len, 0, E(BAD_SEQ), "ACK next_seq 0");
	MUT(K_NAK, mk_ack(fb), 0, 3, MSH_REPL_T_ACK, E(BAD_TYPE)); /* an ACK to the NAK parser */
	len = mk_nak(fb);
	expect(K_NAK, fb, len, 0, 0, "valid NAK");
	expect(K_NAK, fb, len - 1, 0, E(TRUNCATED), "NAK short");
	memcpy(m, fb, len);
	memset(m + 40, 0, 8);
	expect(K_NAK, m, len, 0, E(BAD_SEQ), "NAK expected 0");
	MUT(K_NAK, len, 0, 55, 100, E(BAD_SEQ)); /* seen == expected */
	MUT(K_NAK, len, 0, 4, 2, E(BAD_FLAGS));

	/* HELLO and SYNC_REQ. */
	len = mk_summary(fb, MSH_REPL_T_HELLO, 2);
	expect(K_SUMMARY, fb, len, 0, 0, "valid HELLO");
	MUT(K_SUMMARY, len, 0, 3, MSH_REPL_T_NAK, E(BAD_TYPE));
	expect(K_SUMMARY, fb, 31, 0, E(TRUNCATED), "HELLO header short");
	expect(K_SUMMARY, fb, len - 1, 0, E(TRUNCATED), "HELLO entry short");
	memcpy(m, fb, len);
	memset(m + len, 0, 40);
	expect(K_SUMMARY, m, len + 40, 0, E(BAD_LENGTH), "HELLO extra entry beyond count");
	MUT(K_SUMMARY, len, 0, 4, 0x04, E(BAD_FLAGS));
	MUT(K_SUMMARY, len, 0, 29, 1, E(BAD_RESERVED));
	MUT(K_SUMMARY, len, 0, 32 + 40 + 37, 1, E(BAD_RESERVED)); /* entry reserved */
	MUT(K_SUMMARY, len, 0, 32 + 40 + 11, 1, E(BAD_SHARD));
	memcpy(m, fb, len);
	memset(m + 32 + 16, 0, 8);
	expect(K_SUMMARY, m, len, 0, E(BAD_SEQ), "entry next_seq 0");
	memcpy(m, fb, len);
	msh_store_be64(m + 32 + 24, 101);
	expect(K_SUMMARY, m, len, 0, E(BAD_SEQ), "entry first_seq > next_seq");
	memcpy(m, fb, len);
	msh_store_be32(m + 32 + 32, 8);
	expect(K_SUMMARY, m, len, 0, E(BAD_EPOCH), "entry last_epoch above the frame's");

	/* SYNC_REPLY. */
	len = mk_sync_reply(fb, 3, MSH_REPL_SYNC_OK);
	expect(K_SYNC_REPLY, fb, len, 0, 0, "valid SYNC_REPLY");
	expect(K_SYNC_REPLY, fb, 63, 0, E(TRUNCATED), "SYNC_REPLY header short");
	expect(K_SYNC_REPLY, fb, len - 1, 0, E(TRUNCATED), "SYNC_REPLY history short");
	memcpy(m, fb, len);
	memset(m + len, 0, 12);
	expect(K_SYNC_REPLY, m, len + 12, 0, E(BAD_LENGTH), "SYNC_REPLY long");
	MUT(K_SYNC_REPLY, len, 0, 4, 1, E(BAD_FLAGS));
	MUT(K_SYNC_REPLY, len, 0, 56, 2, E(BAD_STATUS));
	MUT(K_SYNC_REPLY, len, 0, 60, 1, E(BAD_RESERVED));
	MUT(K_SYNC_REPLY, len, 0, 7, 17, E(BAD_COUNT)); /* above MSH_REPL_HIST */
	MUT(K_SYNC_REPLY, len, 0, 56, 1, E(BAD_COUNT)); /* UNKNOWN_SHARD with history */
	MUT(K_SYNC_REPLY, len, 0, 24, 0x7F, E(BAD_SHARD));
	memcpy(m, fb, len);
	memset(m + 40, 0, 8);
	expect(K_SYNC_REPLY, m, len, 0, E(BAD_SEQ), "first_seq 0");
	memcpy(m, fb, len);
	msh_store_be64(m + 40, 501);
	expect(K_SYNC_REPLY, m, len, 0, E(BAD_SEQ), "first_seq > next_seq");
	MUT(K_SYNC_REPLY, len, 0, 64 + 3, 0, E(BAD_EPOCH));  /* history epoch 0 */
	MUT(K_SYNC_REPLY, len, 0, 64 + 24 + 3, 10, E(BAD_EPOCH)); /* above the frame's 9 */
	memcpy(m, fb, len);
	memset(m + 64 + 4, 0, 8);
	expect(K_SYNC_REPLY, m, len, 0, E(BAD_SEQ), "history start 0");
	MUT(K_SYNC_REPLY, len, 0, 64 + 12 + 3, 3, E(BAD_HISTORY)); /* epochs 3, 3 */
	MUT(K_SYNC_REPLY, len, 0, 64 + 12 + 11, 1, E(BAD_HISTORY)); /* starts 1, 1 */
	memcpy(m, fb, len);
	msh_store_be64(m + 64 + 24 + 4, 501);
	expect(K_SYNC_REPLY, m, len, 0, E(BAD_HISTORY), "history start past next_seq");

	for (int e = 1; e < MSH_REPL_E_COUNT; e++)
		if (!err_seen[e])
			fail_msg("no test reaches error %d (%s)", e, msh_repl_err_str(-e));
}

static void
test_every_truncation(void **state)
{
	uint8_t fb[PAYLOAD];
	struct {
		enum kind kind;
		size_t len;
		uint8_t b[PAYLOAD];
	} f[7];
	int n = 0;

	(void)state;
	f[n].kind = K_DATA, f[n].len = mk_data(f[n].b, PAYLOAD, 9, MSH_REPL_F_DATA_PUB), n++;
	f[n].kind = K_DATA, f[n].len = mk_data(f[n].b, PAYLOAD, 0, MSH_REPL_F_DATA_RESET), n++;
	f[n].kind = K_ACK, f[n].len = mk_ack(f[n].b), n++;
	f[n].kind = K_NAK, f[n].len = mk_nak(f[n].b), n++;
	f[n].kind = K_SUMMARY, f[n].len = mk_summary(f[n].b, MSH_REPL_T_HELLO, 3), n++;
	f[n].kind = K_SUMMARY, f[n].len = mk_summary(f[n].b, MSH_REPL_T_SYNC_REQ, 1), n++;
	f[n].kind = K_SYNC_REPLY, f[n].len = mk_sync_reply(f[n].b, 4, 0), n++;
	(void)fb;
	for (int i = 0; i < n; i++) {
		assert_int_equal(parse_as(f[i].kind, f[i].b, f[i].len, 1438), 0);
		for (size_t l = 0; l < f[i].len; l++) {
			int rc = parse_as(f[i].kind, f[i].b, l, 1438);

			assert_true(rc < 0);
			if (l < MSH_REPL_HDR_LEN)
				assert_int_equal(rc, E(TRUNCATED));
		}
	}
}

/* Random byte flips in valid frames: a parser never reads past the frame
 * (exact heap copies), and what it accepts builds back to the same bytes. */
static void
test_mutation_fuzz(void **state)
{
	uint64_t rng = 0xC0FFEE;
	uint8_t base[5][PAYLOAD], m[PAYLOAD], out[PAYLOAD];
	size_t blen[5];
	enum kind kinds[5] = {K_DATA, K_ACK, K_NAK, K_SUMMARY, K_SYNC_REPLY};
	int accepted = 0;

	(void)state;
	blen[0] = mk_data(base[0], PAYLOAD, 4, MSH_REPL_F_DATA_PUB);
	blen[1] = mk_ack(base[1]);
	blen[2] = mk_nak(base[2]);
	blen[3] = mk_summary(base[3], MSH_REPL_T_HELLO, 3);
	blen[4] = mk_sync_reply(base[4], 3, 0);
	for (int it = 0; it < 60000; it++) {
		int k = (int)(t_rand(&rng) % 5);
		size_t len = blen[k];
		uint8_t *p;
		int rc, flips = 1 + (int)(t_rand(&rng) % 3);

		memcpy(m, base[k], len);
		for (int f = 0; f < flips; f++)
			m[t_rand(&rng) % len] ^= (uint8_t)(1u << (t_rand(&rng) % 8));
		if (t_rand(&rng) % 8 == 0)
			len -= t_rand(&rng) % len;
		p = dup_exact(m, len);
		switch (kinds[k]) {
		case K_DATA: {
			struct msh_repl_data d;

			rc = msh_repl_data_parse(p, len, 1438, &d);
			if (rc == 0)
				assert_int_equal(msh_repl_data_build(out, sizeof(out), &d),
						 (int)len);
			break;
		}
		case K_ACK: {
			struct msh_repl_ack a;

			rc = msh_repl_ack_parse(p, len, &a);
			if (rc == 0)
				assert_int_equal(msh_repl_ack_build(out, sizeof(out), &a),
						 (int)len);
			break;
		}
		case K_NAK: {
			struct msh_repl_nak a;

			rc = msh_repl_nak_parse(p, len, &a);
			if (rc == 0)
				assert_int_equal(msh_repl_nak_build(out, sizeof(out), &a),
						 (int)len);
			break;
		}
		case K_SUMMARY: {
			struct msh_repl_summary s;
			struct msh_repl_pos pos[8];

			rc = msh_repl_summary_parse(p, len, &s);
			if (rc == 0) {
				assert_true(s.hdr.count <= 8);
				for (uint16_t i = 0; i < s.hdr.count; i++)
					msh_repl_pos_at(&s, i, &pos[i]);
				assert_int_equal(msh_repl_summary_build(out, sizeof(out), &s.hdr,
									s.shards_total, pos,
									s.hdr.count),
						 (int)len);
			}
			break;
		}
		default: {
			struct msh_repl_sync_reply r;

			rc = msh_repl_sync_reply_parse(p, len, &r);
			if (rc == 0)
				assert_int_equal(msh_repl_sync_reply_build(out, sizeof(out), &r),
						 (int)len);
			break;
		}
		}
		if (rc == 0) {
			assert_memory_equal(out, p, len);
			accepted++;
		} else {
			assert_true(rc < 0 && -rc < MSH_REPL_E_COUNT);
		}
		free(p);
	}
	/* Some flips land in fields any value of which is valid (clocks,
	 * payload bytes): the round trip was exercised, not only refusals. */
	assert_true(accepted > 1000);
}

static void
test_names(void **state)
{
	(void)state;
	for (int e = 0; e < MSH_REPL_E_COUNT; e++) {
		assert_non_null(msh_repl_err_str(e));
		assert_string_equal(msh_repl_err_str(e), msh_repl_err_str(-e));
		for (int f = 0; f < e; f++)
			assert_true(strcmp(msh_repl_err_str(e), msh_repl_err_str(f)) != 0);
	}
	assert_string_equal(msh_repl_err_str(MSH_REPL_E_COUNT), "unknown replication frame error");
	assert_string_equal(msh_repl_err_str(-2147483647 - 1), "unknown replication frame error");
	assert_string_equal(msh_repl_err_str(-MSH_REPL_E_BAD_HISTORY),
			    "epoch history not strictly increasing");
	assert_string_equal(msh_repl_alarm_str(MSH_REPL_ALARM_NONE), "none");
	assert_string_equal(msh_repl_alarm_str(MSH_REPL_ALARM_COUNT), "unknown alarm");
	for (int a = 0; a < MSH_REPL_ALARM_COUNT; a++)
		assert_non_null(msh_repl_alarm_str((enum msh_repl_alarm)a));
}

/* ---- per-shard state helpers ------------------------------------------- */

static void
conf_shard(struct msh_shard_conf *c, uint32_t segments, enum msh_on_full on_full)
{
	memset(c, 0, sizeof(*c));
	msh_name_from_str(&c->name, "ticks");
	c->segment_bytes = SEG;
	c->max_bytes = (uint64_t)segments * SEG;
	c->on_full = on_full;
	c->max_message = 1438;
	c->max_publishers = 16;
	c->replicas = 2;
	c->acks = MSH_ACKS_ALL;
}

static struct msh_shard *
shard_new(uint32_t segments, enum msh_on_full on_full)
{
	struct msh_shard_conf c;
	size_t len;
	void *mem;
	struct msh_shard *s;

	conf_shard(&c, segments, on_full);
	len = msh_shard_footprint(&c);
	assert_true(len > 0);
	mem = aligned_alloc(64, MSH_ALIGN_UP(len, (size_t)64));
	assert_non_null(mem);
	s = msh_shard_init(mem, len, &c, 1);
	assert_non_null(s);
	return s;
}

static const struct msh_repl_shard_conf rconf = {
	.ack_timeout_ns = 500000,
	.retx_holdoff_ns = 100000,
	.nak_holdoff_ns = 100000,
	.window_msgs = 512,
	.pending_cap = 4096,
};

static struct msh_repl_shard *
rs_new(struct msh_shard *s, const struct msh_repl_shard_conf *c)
{
	size_t len = msh_repl_shard_footprint(c->pending_cap);
	void *mem = aligned_alloc(64, MSH_ALIGN_UP(len, (size_t)64));
	struct msh_repl_shard *rs;

	assert_non_null(mem);
	rs = msh_repl_shard_init(mem, len, s, c);
	assert_non_null(rs);
	return rs;
}

/* Append messages [from, from + n) (content index from..) as the primary. */
static void
pub_n(struct msh_repl_shard *rs, uint32_t id, uint64_t pseq, uint64_t content, uint32_t n,
      uint16_t (*len_of)(uint64_t), uint64_t now)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, content, n, len_of);
	struct msh_pub_result r;

	msh_shard_publish(rs->shard, id, pseq, buf, len, n, now, &r);
	assert_int_equal(r.status, MSH_S_OK);
	msh_repl_note_publish(rs, r.first_seq, r.appended, id, pseq);
}

/* DATA as the secondary would parse it, from a primary's tx. */
static void
tx_to_data(const struct msh_repl_shard *rs, const struct msh_repl_tx *tx, uint32_t epoch,
	   uint64_t ts, struct msh_repl_data *d)
{
	struct msh_repl_hdr h = hdr_of(MSH_REPL_T_DATA, 0, MSH_REPL_PRIMARY, epoch, 1, ts);
	uint32_t longest = 0;

	msh_repl_tx_data(rs, tx, &h, d);
	if (d->blocks_len)
		assert_int_equal(msh_blocks_check(d->blocks, d->blocks_len, d->hdr.count, &longest),
				 0);
	d->max_msg_len = longest;
}

static struct msh_repl_ack
ack_of(uint64_t next, uint64_t ts, uint64_t echo)
{
	struct msh_repl_ack a;

	memset(&a, 0, sizeof(a));
	a.hdr = hdr_of(MSH_REPL_T_ACK, 0, MSH_REPL_SECONDARY, 3, 2, ts);
	a.next_seq = next;
	a.echo_ns = echo;
	return a;
}

static struct msh_repl_nak
nak_of(uint64_t expected, uint64_t seen, uint64_t ts)
{
	struct msh_repl_nak k;

	memset(&k, 0, sizeof(k));
	k.hdr = hdr_of(MSH_REPL_T_NAK, 0, MSH_REPL_SECONDARY, 3, 2, ts);
	k.expected_seq = expected;
	k.seen_seq = seen;
	return k;
}

static void
free_pair(struct msh_repl_shard *rs)
{
	free(rs->shard);
	free(rs);
}

/* ---- epoch history ------------------------------------------------------ */

static void
test_history(void **state)
{
	struct msh_repl_shard *rs = rs_new(shard_new(4, MSH_ON_FULL_REJECT), &rconf);

	(void)state;
	assert_int_equal(msh_repl_hist_epoch_of(rs, 1), 0);
	assert_int_equal(msh_repl_hist_push(rs, 3, 1), 0);
	assert_int_equal(msh_repl_hist_push(rs, 3, 50), 0); /* same epoch: no-op */
	assert_int_equal(rs->n_hist, 1);
	assert_int_equal(msh_repl_hist_push(rs, 2, 60), -EINVAL);
	assert_int_equal(msh_repl_hist_push(rs, 0, 60), -EINVAL);
	assert_int_equal(msh_repl_hist_push(rs, 4, 100), 0);
	assert_int_equal(msh_repl_hist_push(rs, 6, 100), 0); /* epoch 4 was empty: replaced */
	assert_int_equal(rs->n_hist, 2);
	assert_int_equal(msh_repl_hist_epoch_of(rs, 99), 3);
	assert_int_equal(msh_repl_hist_epoch_of(rs, 100), 6);
	assert_int_equal(msh_repl_hist_epoch_of(rs, 1u << 30), 6);
	for (uint32_t e = 7; e < 7 + MSH_REPL_HIST; e++)
		assert_int_equal(msh_repl_hist_push(rs, e, 100u * e), 0);
	assert_int_equal(rs->n_hist, MSH_REPL_HIST);
	/* The oldest went: before the oldest kept start the epoch is unknown. */
	assert_int_equal(rs->hist[0].epoch, 7 + MSH_REPL_HIST - MSH_REPL_HIST);
	assert_int_equal(msh_repl_hist_epoch_of(rs, 1), 0);
	free_pair(rs);
}

/* ---- primary ------------------------------------------------------------- */

static void
test_tx_splits_at_epoch_and_publish(void **state)
{
	struct msh_repl_shard *p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_tx tx;
	struct msh_repl_ack a;

	(void)state;
	/* Messages 1-20 from an older epoch (recovered), then epoch 5. */
	pub_n(p, 1, 1, 1, 20, len_100, 10);
	msh_repl_hist_push(p, 3, 1);
	msh_repl_primary_start(p, 5, 100);
	assert_true(p->sent_seq == 21 && p->acked_seq == 0 && !p->peer_known);
	assert_int_equal(msh_repl_hist_epoch_of(p, 21), 5);
	pub_n(p, 9, 1, 21, 4, len_100, 200);  /* 21-24 publisher 9 */
	pub_n(p, 8, 30, 25, 6, len_100, 200); /* 25-30 publisher 8 */
	assert_int_equal(msh_repl_tx_next(p, 300, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 21 && tx.span.count == 4 && tx.msg_epoch == 5);
	assert_true(tx.flags == MSH_REPL_F_DATA_PUB && tx.publisher_id == 9 &&
		    tx.publisher_seq == 1 && !tx.retx);
	assert_int_equal(msh_repl_tx_next(p, 300, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 25 && tx.span.count == 6 && tx.publisher_id == 8 &&
		    tx.publisher_seq == 30);
	assert_int_equal(msh_repl_tx_next(p, 300, 1408, &tx), 0);
	/* The secondary is at 1: go back; epoch 3 ends at 21. */
	a = ack_of(1, 400, 0);
	msh_repl_on_ack(p, &a, 400);
	assert_true(p->peer_known && p->sent_seq == 1 && p->acked_seq == 1);
	assert_int_equal(msh_repl_tx_next(p, 500, 1408, &tx), 1);
	/* 1400 bytes hold 13 blocks of 102, and no publish is remembered for 1-20. */
	assert_true(tx.span.first_seq == 1 && tx.span.count == 13 && tx.msg_epoch == 3);
	assert_true(tx.flags == 0 && tx.publisher_id == 0 && tx.retx == false);
	assert_int_equal(msh_repl_tx_next(p, 500, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 14 && tx.span.count == 7 && tx.msg_epoch == 3);
	assert_int_equal(msh_repl_tx_next(p, 500, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 21 && tx.msg_epoch == 5 && tx.retx);
	assert_true(p->stats.retx_frames == 1 && p->stats.retx_msgs == 4);
	/* With no publish remembered, the epoch boundary alone ends a frame. */
	p->pub_n = 0;
	a = ack_of(1, 550, 0);
	p->peer_known = false;
	msh_repl_on_ack(p, &a, 550);
	assert_int_equal(msh_repl_tx_next(p, 560, 65535, &tx), 1);
	assert_true(tx.span.first_seq == 1 && tx.span.count == 20 && tx.msg_epoch == 3);
	assert_int_equal(msh_repl_tx_next(p, 560, 65535, &tx), 1);
	assert_true(tx.span.first_seq == 21 && tx.span.count == 10 && tx.msg_epoch == 5);
	assert_true(tx.flags == 0);
	/* A secondary that acks beyond what this shard holds is refused. */
	a = ack_of(1000, 600, 0);
	msh_repl_on_ack(p, &a, 600);
	assert_true(p->stats.bad_acks == 1 && p->acked_seq == 1);
	/* A publish larger than a frame: each frame names its own publisher_seq. */
	pub_n(p, 9, 100, 31, 30, len_100, 700); /* 31-60 */
	p->sent_seq = 31;
	assert_int_equal(msh_repl_tx_next(p, 800, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 31 && tx.span.count == 13 && tx.publisher_seq == 100);
	assert_int_equal(msh_repl_tx_next(p, 800, 1408, &tx), 1);
	assert_true(tx.span.first_seq == 44 && tx.publisher_id == 9 && tx.publisher_seq == 113);
	free_pair(p);
}

static void
test_go_back_n(void **state)
{
	struct msh_repl_shard *p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_tx tx;
	struct msh_repl_ack a;
	struct msh_repl_nak k;
	uint64_t t = 1000;

	(void)state;
	msh_repl_primary_start(p, 3, t);
	a = ack_of(1, ++t, 0);
	msh_repl_on_ack(p, &a, t);
	for (uint64_t q = 1; q <= 100; q += 10)
		pub_n(p, 1, q, q, 10, len_100, t);
	while (msh_repl_tx_next(p, t, 1408, &tx) == 1)
		;
	assert_true(p->sent_seq == 101);
	/* NAK for 31: a cumulative ack of 1-30, then back to 31. */
	k = nak_of(31, 41, ++t);
	msh_repl_on_nak(p, &k, t);
	assert_true(p->acked_seq == 31 && p->sent_seq == 31 && p->stats.rewind_nak == 1);
	while (msh_repl_tx_next(p, t, 1408, &tx) == 1)
		assert_true(tx.retx);
	/* More NAKs for 31 (one per frame in flight) within the hold-off: ignored. */
	for (int i = 0; i < 5; i++) {
		k = nak_of(31, 51 + (uint64_t)i * 10, ++t);
		msh_repl_on_nak(p, &k, t);
	}
	assert_true(p->sent_seq == 101 && p->stats.nak_ignored == 5 && p->stats.rewind_nak == 1);
	/* After the hold-off, the same NAK rewinds again (the resend was lost too). */
	t += rconf.retx_holdoff_ns;
	k = nak_of(31, 61, t);
	msh_repl_on_nak(p, &k, t);
	assert_true(p->sent_seq == 31 && p->stats.rewind_nak == 2);
	while (msh_repl_tx_next(p, t, 1408, &tx) == 1)
		;
	/* ACK 60; then nothing for ack_timeout: back to 60. */
	a = ack_of(60, ++t, 0);
	msh_repl_on_ack(p, &a, t);
	assert_int_equal(msh_repl_primary_tick(p, t + rconf.ack_timeout_ns - 1), 0);
	assert_int_equal(msh_repl_primary_tick(p, t + rconf.ack_timeout_ns), 1);
	assert_true(p->sent_seq == 60 && p->stats.rewind_timeout == 1);
	/* Nothing in flight: no rewind however long it is quiet. */
	a = ack_of(101, t + rconf.ack_timeout_ns + 1, 0);
	msh_repl_on_ack(p, &a, t + rconf.ack_timeout_ns + 1);
	assert_true(p->sent_seq == 101);
	assert_int_equal(msh_repl_primary_tick(p, t + 100 * rconf.ack_timeout_ns), 0);
	free_pair(p);
}

static void
test_window_and_ordering(void **state)
{
	struct msh_repl_shard_conf c = rconf;
	struct msh_repl_shard *p;
	struct msh_repl_tx tx;
	struct msh_repl_ack a;
	struct msh_repl_nak k;

	(void)state;
	c.window_msgs = 25;
	p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &c);
	msh_repl_primary_start(p, 3, 0);
	a = ack_of(1, 10, 0);
	msh_repl_on_ack(p, &a, 10);
	pub_n(p, 1, 1, 1, 100, len_100, 20);
	while (msh_repl_tx_next(p, 30, 1408, &tx) == 1)
		;
	assert_true(p->sent_seq == 26); /* 25 in flight at most */
	a = ack_of(11, 40, 35);
	msh_repl_on_ack(p, &a, 50);
	assert_true(p->rtt_ns == 15);
	while (msh_repl_tx_next(p, 60, 1408, &tx) == 1)
		;
	assert_true(p->sent_seq == 36);
	/* A reordered, older ACK says nothing; an older NAK neither. */
	a = ack_of(5, 39, 0);
	msh_repl_on_ack(p, &a, 70);
	k = nak_of(6, 9, 38);
	msh_repl_on_nak(p, &k, 70);
	assert_true(p->acked_seq == 11 && p->sent_seq == 36 && p->stats.stale_acks == 2);
	/* A newer one below acked_seq: the secondary lost messages; go back. */
	k = nak_of(4, 30, 41);
	msh_repl_on_nak(p, &k, 80);
	assert_true(p->acked_seq == 4 && p->sent_seq == 4 && p->stats.peer_regressed == 1);
	free_pair(p);
}

static void
test_lag(void **state)
{
	struct msh_repl_shard *p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_lag l;
	struct msh_repl_ack a;

	(void)state;
	msh_repl_primary_start(p, 3, 0);
	pub_n(p, 1, 1, 1, 10, len_100, 1000);  /* 1-10 at 1 us */
	pub_n(p, 1, 11, 11, 10, len_100, 5000); /* 11-20 at 5 us */
	msh_repl_lag_get(p, 6000, &l);
	assert_false(l.peer_known);
	assert_true(l.msgs == 0 && l.ns == 0); /* unknown, not "no lag" */
	a = ack_of(11, 7000, 6500);
	msh_repl_on_ack(p, &a, 8000);
	msh_repl_lag_get(p, 9000, &l);
	assert_true(l.peer_known);
	assert_true(l.msgs == 10);
	assert_true(l.ns == 9000 - 5000);        /* oldest unacked: 11, appended at 5 us */
	assert_true(l.ack_lag_ns == 8000 - 1000); /* 10 appended at 1 us, acked at 8 us */
	assert_true(l.rtt_ns == 1500);
	a = ack_of(21, 9500, 0);
	msh_repl_on_ack(p, &a, 12000);
	msh_repl_lag_get(p, 13000, &l);
	assert_true(l.msgs == 0 && l.ns == 0);
	assert_true(l.ack_lag_ns == 7000 && l.ack_lag_max_ns == 7000);
	free_pair(p);
}

static void
test_pending_release_order(void **state)
{
	struct msh_repl_shard_conf c = rconf;
	struct msh_repl_shard *p;
	struct msh_repl_pending e, out;
	struct msh_repl_ack a;
	uint64_t ends[6] = {5, 5, 8, 12, 12, 20};

	(void)state;
	c.pending_cap = 5;
	p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &c);
	msh_repl_primary_start(p, 3, 0);
	pub_n(p, 1, 1, 1, 30, len_100, 10);
	memset(&e, 0, sizeof(e));
	for (int i = 0; i < 6; i++) {
		e.end_seq = ends[i];
		e.publisher_seq = 100 + (uint64_t)i;
		e.ip = 0x0A000001u + (uint32_t)i;
		e.port = (uint16_t)(5000 + i);
		assert_int_equal(msh_repl_pending_push(p, &e), i < 5 ? 0 : -ENOSPC);
	}
	assert_true(p->stats.pending_full == 1 && p->stats.pending_queued == 5);
	e.end_seq = 11; /* below the last queued: out of order */
	assert_int_equal(msh_repl_pending_push(p, &e), -EINVAL);
	/* Position unknown: acked_seq is 0 and nothing is released on a guess. */
	assert_int_equal(msh_repl_pending_pop(p, &out), 0);
	a = ack_of(4, 10, 0);
	msh_repl_on_ack(p, &a, 20);
	assert_int_equal(msh_repl_pending_pop(p, &out), 0);
	a = ack_of(5, 11, 0);
	msh_repl_on_ack(p, &a, 21);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	assert_true(out.publisher_seq == 100 && out.ip == 0x0A000001u && out.port == 5000);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	assert_true(out.publisher_seq == 101);
	assert_int_equal(msh_repl_pending_pop(p, &out), 0); /* 8 > 5 */
	a = ack_of(11, 12, 0);
	msh_repl_on_ack(p, &a, 22);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	assert_true(out.publisher_seq == 102);
	assert_int_equal(msh_repl_pending_pop(p, &out), 0); /* 12 > 11 */
	/* Wrap around the ring, then drain on demotion. */
	e.end_seq = 25;
	e.publisher_seq = 200;
	assert_int_equal(msh_repl_pending_push(p, &e), 0);
	assert_int_equal(msh_repl_pending_push(p, &e), 0);
	assert_int_equal(msh_repl_pending_push(p, &e), 0);
	assert_int_equal(msh_repl_pending_push(p, &e), -ENOSPC);
	a = ack_of(12, 13, 0);
	msh_repl_on_ack(p, &a, 23);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	assert_true(out.publisher_seq == 103);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	assert_true(out.publisher_seq == 104);
	assert_int_equal(msh_repl_pending_pop(p, &out), 0);
	assert_int_equal(msh_repl_pending_drain(p, &out), 1);
	assert_true(out.publisher_seq == 200);
	msh_repl_secondary_start(p, 5, true); /* drops the other two */
	assert_int_equal(msh_repl_pending_drain(p, &out), 0);
	assert_true(p->stats.pending_released == 5 && p->stats.pending_dropped == 3);
	free_pair(p);
}

/* ---- secondary ------------------------------------------------------------ */

static void
test_apply_verdicts(void **state)
{
	struct msh_repl_shard *p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_shard *s = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_tx tx[8];
	struct msh_repl_data d;
	struct msh_repl_reply r;
	struct msh_repl_ack a;
	int n = 0;

	(void)state;
	msh_repl_primary_start(p, 3, 0);
	a = ack_of(1, 1, 0);
	msh_repl_on_ack(p, &a, 1);
	pub_n(p, 42, 1, 1, 10, len_100, 10);  /* 1-10 */
	pub_n(p, 42, 11, 11, 10, len_100, 10); /* 11-20 */
	pub_n(p, 43, 1, 21, 10, len_100, 10); /* 21-30 */
	while (n < 8 && msh_repl_tx_next(p, 20, 1408, &tx[n]) == 1)
		n++;
	assert_int_equal(n, 3);

	msh_repl_secondary_start(s, 3, true);
	tx_to_data(p, &tx[0], 3, 100, &d);
	assert_int_equal(msh_repl_apply(s, &d, 1000, &r), MSH_REPL_SYNCING);
	assert_false(r.ack || r.nak);
	s->syncing = false;
	assert_int_equal(msh_repl_apply(s, &d, 1000, &r), MSH_REPL_APPLIED);
	assert_true(r.ack && !r.nak && s->ack_due);
	assert_true(s->shard->next_seq == 11);
	assert_int_equal(msh_repl_hist_epoch_of(s, 1), 3);
	assert_true(msh_dedupe_next(s->shard->dedupe, 42) == 11); /* PUB: dedupe follows */
	{
		struct msh_repl_ack out;

		msh_repl_ack_fill(s, &out);
		assert_true(out.next_seq == 11 && out.echo_ns == 100 && out.applied_ns == 1000);
		assert_false(s->ack_due);
	}
	/* Duplicate: re-ACK. */
	assert_int_equal(msh_repl_apply(s, &d, 1001, &r), MSH_REPL_DUPLICATE);
	assert_true(r.ack && s->stats.dup_frames == 1 && s->stats.dup_msgs == 10);
	/* Gap (21-30 before 11-20): NAK 11, then held back for the same gap. */
	tx_to_data(p, &tx[2], 3, 101, &d);
	assert_int_equal(msh_repl_apply(s, &d, 2000, &r), MSH_REPL_GAP);
	assert_true(r.nak && r.expected_seq == 11 && r.seen_seq == 21);
	assert_int_equal(msh_repl_apply(s, &d, 2000 + rconf.nak_holdoff_ns - 1, &r), MSH_REPL_GAP);
	assert_false(r.nak);
	assert_int_equal(msh_repl_apply(s, &d, 2000 + rconf.nak_holdoff_ns, &r), MSH_REPL_GAP);
	assert_true(r.nak);
	assert_true(s->stats.naks_tx == 2 && s->stats.naks_suppressed == 1 &&
		    s->stats.gap_frames == 3);
	/* Partial overlap: a frame 6-20 (its 6-10 held) appends 11-20 only. */
	{
		struct msh_repl_tx t2;

		p->sent_seq = 6;
		p->pub_n = 0; /* no publisher range: a resend after the ring moved on */
		assert_int_equal(msh_repl_tx_next(p, 30, 1408, &t2), 1);
		assert_true(t2.span.first_seq == 6 && t2.span.count == 13);
		tx_to_data(p, &t2, 3, 102, &d);
	}
	assert_int_equal(msh_repl_apply(s, &d, 3000, &r), MSH_REPL_APPLIED);
	assert_true(s->shard->next_seq == 19);
	{
		struct msh_span sp;

		assert_int_equal(msh_shard_read(s->shard, 1, 18, 65535, &sp), 18);
		t_check_blocks(sp.data, sp.len, 1, 18, len_100);
	}
	assert_true(s->stats.partial_frames == 1 && s->stats.dup_msgs == 15);
	assert_true(msh_dedupe_next(s->shard->dedupe, 42) == 11); /* no PUB on a resend */
	/* Lower epoch: dropped, counted, no reply; higher: adopted. */
	tx_to_data(p, &tx[1], 2, 103, &d);
	assert_int_equal(msh_repl_apply(s, &d, 3001, &r), MSH_REPL_STALE_EPOCH);
	assert_false(r.ack || r.nak);
	assert_true(s->stats.stale_epoch == 1 && s->shard->next_seq == 19);
	tx_to_data(p, &tx[1], 4, 104, &d);
	assert_int_equal(msh_repl_apply(s, &d, 3002, &r), MSH_REPL_APPLIED); /* 19-20 new */
	assert_true(s->epoch == 4 && s->stats.epoch_adopted == 1 && s->shard->next_seq == 21);
	/* A message epoch older than the history's last: divergence. */
	tx_to_data(p, &tx[2], 4, 105, &d);
	d.msg_epoch = 2;
	assert_int_equal(msh_repl_apply(s, &d, 3003, &r), MSH_REPL_DIVERGED);
	assert_true(s->stats.diverged == 1 && s->shard->next_seq == 21);
	/* A message too long for this shard (configurations differ). */
	d.msg_epoch = 3;
	d.max_msg_len = 1439;
	assert_int_equal(msh_repl_apply(s, &d, 3004, &r), MSH_REPL_TOO_LARGE);
	d.max_msg_len = 100;
	assert_int_equal(msh_repl_apply(s, &d, 3005, &r), MSH_REPL_APPLIED);
	assert_true(msh_dedupe_next(s->shard->dedupe, 43) == 11);
	/* As primary it takes no DATA. */
	msh_repl_primary_start(s, 6, 4000);
	d.hdr.epoch = 6;
	assert_int_equal(msh_repl_apply(s, &d, 4001, &r), MSH_REPL_NOT_SECONDARY);
	assert_true(s->stats.not_secondary == 1);
	free_pair(p);
	free_pair(s);
}

static void
test_apply_full_and_reset(void **state)
{
	static uint8_t buf[4096];
	struct msh_repl_shard *s = rs_new(shard_new(2, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_shard *p = rs_new(shard_new(3, MSH_ON_FULL_EVICT), &rconf);
	struct msh_repl_data d;
	struct msh_repl_reply r;
	struct msh_repl_tx tx;
	struct msh_repl_ack a;

	(void)state;
	msh_repl_secondary_start(s, 3, false);
	memset(&d, 0, sizeof(d));
	d.hdr = hdr_of(MSH_REPL_T_DATA, 0, MSH_REPL_PRIMARY, 3, 1, 1);
	d.hdr.count = 10;
	d.blocks = buf;
	d.max_msg_len = 100;
	for (d.first_seq = 1;; d.first_seq += 10) {
		d.blocks_len = t_blocks(buf, d.first_seq, 10, len_100);
		if (msh_repl_apply(s, &d, 10, &r) != MSH_REPL_APPLIED)
			break;
	}
	assert_true(s->stats.apply_full == 1 && !r.ack && !r.nak);
	assert_true(s->shard->next_seq == d.first_seq);

	/* The primary evicted what a new secondary needs: RESET to its first. */
	msh_repl_primary_start(p, 3, 0);
	for (uint64_t q = 1; q < 1000; q += 10)
		pub_n(p, 1, q, q, 10, len_100, 10);
	assert_true(msh_shard_first_seq(p->shard) > 1);
	free_pair(s);
	s = rs_new(shard_new(3, MSH_ON_FULL_EVICT), &rconf);
	msh_repl_hist_push(s, 2, 1); /* what it had is gone after the restart */
	msh_repl_secondary_start(s, 3, false);
	a = ack_of(1, 20, 0);
	msh_repl_on_ack(p, &a, 20);
	assert_int_equal(msh_repl_tx_next(p, 30, 1408, &tx), 1);
	assert_true(tx.flags == MSH_REPL_F_DATA_RESET && tx.span.count == 0);
	assert_true(tx.span.first_seq == msh_shard_first_seq(p->shard) && tx.msg_epoch == 3);
	assert_true(p->stats.resets_tx == 1);
	tx_to_data(p, &tx, 3, 40, &d);
	assert_int_equal(msh_repl_apply(s, &d, 50, &r), MSH_REPL_RESET);
	assert_true(r.ack);
	assert_true(s->shard->next_seq == tx.span.first_seq);
	assert_true(s->stats.resets_rx == 1 && s->stats.reset_lost_msgs == tx.span.first_seq - 1);
	assert_int_equal(msh_repl_hist_epoch_of(s, tx.span.first_seq), 3);
	assert_int_equal(s->n_hist, 1); /* the skipped range's epochs are unknown */
	assert_true(s->held_from == tx.span.first_seq); /* and nothing below is held */
	assert_int_equal(msh_repl_hist_epoch_of(s, 1), 0);
	/* Nothing more until the secondary acks the restart (the window counts
	 * from acked_seq); then the next frame carries on from there. */
	assert_int_equal(msh_repl_tx_next(p, 60, 1408, &tx), 0);
	msh_repl_ack_fill(s, &a);
	a.hdr = hdr_of(MSH_REPL_T_ACK, 0, MSH_REPL_SECONDARY, 3, 2, 55);
	msh_repl_on_ack(p, &a, 60);
	assert_true(p->acked_seq == msh_shard_first_seq(p->shard));
	assert_int_equal(msh_repl_tx_next(p, 60, 1408, &tx), 1);
	assert_false(tx.retx);
	tx_to_data(p, &tx, 3, 70, &d);
	assert_int_equal(msh_repl_apply(s, &d, 80, &r), MSH_REPL_APPLIED);
	free_pair(p);
	free_pair(s);
}

/* ---- catch-up decisions ---------------------------------------------------- */

/* A follower shard holding messages 1..next-1 with history @p h. */
static struct msh_repl_shard *
follower(uint64_t next, const struct msh_repl_epoch *h, uint32_t n)
{
	static uint8_t buf[70000];
	struct msh_repl_shard *rs = rs_new(shard_new(64, MSH_ON_FULL_REJECT), &rconf);

	for (uint64_t q = 1; q < next;) {
		uint32_t k = (uint32_t)MSH_MIN(next - q, 100u);
		uint32_t len = t_blocks(buf, q, k, len_100);

		assert_int_equal(msh_shard_append_at(rs->shard, q, buf, len, k, q), 0);
		q += k;
	}
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(msh_repl_hist_push(rs, h[i].epoch, h[i].start_seq), 0);
	msh_repl_secondary_start(rs, 9, true);
	return rs;
}

static struct msh_repl_sync_reply
leader_view(uint64_t first, uint64_t next, const struct msh_repl_epoch *h, uint16_t n)
{
	struct msh_repl_sync_reply r;

	memset(&r, 0, sizeof(r));
	r.hdr = hdr_of(MSH_REPL_T_SYNC_REPLY, 0, MSH_REPL_PRIMARY, 9, 1, 0);
	r.hdr.count = n;
	r.first_seq = first;
	r.next_seq = next;
	memcpy(r.hist, h, n * sizeof(h[0]));
	return r;
}

static void
check_decision(uint64_t fnext, const struct msh_repl_epoch *fh, uint32_t fn, uint64_t lfirst,
	       uint64_t lnext, const struct msh_repl_epoch *lh, uint16_t ln, uint64_t want_trunc,
	       uint64_t want_reset, uint64_t want_diverge)
{
	struct msh_repl_shard *rs = follower(fnext, fh, fn);
	struct msh_repl_sync_reply r = leader_view(lfirst, lnext, lh, ln);
	struct msh_repl_sync_decision d;

	msh_repl_sync_decide(rs, &r, &d);
	if (d.truncate_to != want_trunc || d.reset_to != want_reset ||
	    d.diverge_seq != want_diverge)
		fail_msg("decision truncate %llu reset %llu diverge %llu, want %llu %llu %llu",
			 (unsigned long long)d.truncate_to, (unsigned long long)d.reset_to,
			 (unsigned long long)d.diverge_seq, (unsigned long long)want_trunc,
			 (unsigned long long)want_reset, (unsigned long long)want_diverge);
	free_pair(rs);
}

static void
test_sync_decisions(void **state)
{
	const struct msh_repl_epoch f3[] = {{3, 1}};
	const struct msh_repl_epoch l34[] = {{3, 1}, {4, 301}};
	const struct msh_repl_epoch f35[] = {{3, 1}, {5, 200}};
	const struct msh_repl_epoch l346[] = {{3, 1}, {4, 150}, {6, 300}};
	const struct msh_repl_epoch l4[] = {{4, 50}};
	const struct msh_repl_epoch l2[] = {{2, 1}};

	(void)state;
	/* Same history, follower behind: nothing to drop. */
	check_decision(200, f3, 1, 1, 371, l34, 2, 0, 0, 0);
	/* Old primary returning: it kept 301-350 of epoch 3, the new primary
	 * wrote epoch 4 from 301. */
	check_decision(351, f3, 1, 1, 371, l34, 2, 301, 0, 301);
	/* The same before the new primary appended anything (its epoch 4 starts
	 * at its next_seq): cut to its next_seq, no divergence inside. */
	check_decision(351, f3, 1, 1, 301, l34, 2, 301, 0, 0);
	/* Several failovers: they first differ where the leader's epoch 4 began. */
	check_decision(260, f35, 2, 1, 400, l346, 3, 150, 0, 150);
	/* A follower without history (say, recovered and not seeded) keeps only
	 * what the leader does not know either: before its epoch 4. */
	check_decision(100, NULL, 0, 1, 400, l4, 1, 50, 0, 50);
	/* A leader that started empty in a later epoch: everything goes. */
	check_decision(100, l2, 1, 1, 1, l4, 1, 1, 0, 0);
	/* A leader whose history starts at 50 does not vouch for 1-49: fetched again. */
	check_decision(100, l2, 1, 1, 80, l4, 1, 1, 0, 1);
	/* Two histories that both lost their oldest entries agree where both are
	 * unknown. */
	{
		const struct msh_repl_epoch fa[] = {{7, 500}}, la[] = {{7, 500}, {9, 900}};

		check_decision(950, fa, 1, 1, 1000, la, 2, 900, 0, 900);
	}
	/* After a RESET the follower holds nothing below it: the histories are
	 * compared from there (without held_from it would fetch all again). */
	{
		const struct msh_repl_epoch fr[] = {{3, 800}}, lr[] = {{1, 1}, {3, 500}};
		struct msh_repl_shard *rs = follower(900, fr, 1);
		struct msh_repl_sync_reply r = leader_view(1, 1000, lr, 2);
		struct msh_repl_sync_decision d;

		msh_repl_sync_decide(rs, &r, &d);
		assert_true(d.truncate_to == 1 && d.diverge_seq == 1);
		rs->held_from = 800;
		msh_repl_sync_decide(rs, &r, &d);
		assert_true(d.truncate_to == 0 && d.diverge_seq == 0 && d.reset_to == 0);
		free_pair(rs);
	}
	/* Behind the leader's retention: restart at its first retained. */
	check_decision(100, f3, 1, 500, 900, f3, 1, 0, 500, 0);
	check_decision(351, f3, 1, 320, 371, l34, 2, 301, 320, 301);
}

static void
test_sync_apply(void **state)
{
	const struct msh_repl_epoch fh[] = {{3, 1}, {5, 300}};
	const struct msh_repl_epoch lh[] = {{3, 1}, {4, 301}, {6, 400}};
	struct msh_repl_shard *rs = follower(351, fh, 2);
	struct msh_repl_sync_reply r = leader_view(1, 450, lh, 3);
	struct msh_repl_sync_decision d;

	(void)state;
	/* Follower: 3 from 1, 5 from 300 (it was primary then); leader: 4 from
	 * 301. At 300 they differ (5 vs 3). */
	msh_repl_sync_decide(rs, &r, &d);
	assert_true(d.truncate_to == 300 && d.diverge_seq == 300 && d.reset_to == 0);
	assert_int_equal(msh_repl_sync_apply(rs, &d, &r), 0);
	assert_true(rs->shard->next_seq == 300 && !rs->syncing && rs->ack_due);
	assert_int_equal(rs->n_hist, 1); /* epoch 5 described only dropped messages */
	assert_true(rs->stats.syncs == 1 && rs->stats.sync_truncated_msgs == 51);
	assert_true(rs->shard->stats.truncations == 1);
	/* Applying it again changes nothing. */
	assert_int_equal(msh_repl_sync_apply(rs, &d, &r), 0);
	assert_true(rs->shard->next_seq == 300 && rs->stats.sync_truncated_msgs == 51);
	/* A reset takes the leader's epoch at reset_to as the only history. */
	r.first_seq = 420;
	rs->syncing = true;
	msh_repl_sync_decide(rs, &r, &d);
	assert_true(d.truncate_to == 0 && d.reset_to == 420);
	assert_int_equal(msh_repl_sync_apply(rs, &d, &r), 0);
	assert_true(rs->shard->next_seq == 420 && rs->n_hist == 1 && rs->hist[0].epoch == 6 &&
		    rs->hist[0].start_seq == 420 && rs->held_from == 420);
	/* Not from a primary: ignored. Unknown shard: stop syncing, nothing else. */
	rs->syncing = true;
	r.hdr.role = MSH_REPL_SECONDARY;
	msh_repl_sync_decide(rs, &r, &d);
	assert_true(d.not_primary);
	assert_int_equal(msh_repl_sync_apply(rs, &d, &r), -EAGAIN);
	assert_true(rs->syncing);
	r.hdr.role = MSH_REPL_PRIMARY;
	r.status = MSH_REPL_SYNC_UNKNOWN_SHARD;
	msh_repl_sync_decide(rs, &r, &d);
	assert_true(d.unknown_shard && d.truncate_to == 0 && d.reset_to == 0);
	assert_int_equal(msh_repl_sync_apply(rs, &d, &r), 0);
	assert_true(!rs->syncing && rs->stats.sync_unknown == 1 && rs->shard->next_seq == 420);
	free_pair(rs);
}

static void
test_sync_req_answer(void **state)
{
	struct msh_repl_shard *p = rs_new(shard_new(16, MSH_ON_FULL_REJECT), &rconf);
	struct msh_repl_sync_reply r;
	struct msh_repl_pos pos;
	struct msh_repl_hdr h;
	struct msh_repl_ack a;
	struct msh_repl_pending e = {0}, out;

	(void)state;
	msh_repl_hist_push(p, 3, 1);
	pub_n(p, 1, 1, 1, 40, len_100, 10);
	msh_repl_primary_start(p, 5, 20);
	pub_n(p, 1, 41, 41, 10, len_100, 30);
	a = ack_of(45, 100, 0);
	msh_repl_on_ack(p, &a, 100);
	e.end_seq = 51;
	msh_repl_pending_push(p, &e);
	memset(&pos, 0, sizeof(pos));
	pos.next_seq = 30; /* it restarted with less */
	h = hdr_of(MSH_REPL_T_SYNC_REQ, MSH_REPL_F_SYNCING, MSH_REPL_SECONDARY, 5, 2, 200);
	msh_repl_on_sync_req(p, &h, &pos, 210, &r);
	assert_true(r.first_seq == 1 && r.next_seq == 51 && r.status == MSH_REPL_SYNC_OK);
	assert_int_equal(r.hdr.count, 2);
	assert_true(r.hist[0].epoch == 3 && r.hist[1].epoch == 5 && r.hist[1].start_seq == 41);
	assert_true(!p->peer_known && p->acked_seq == 30 && p->start_seq == 30);
	/* Its ACK once synced sets the position; an older SYNC_REQ then is a
	 * leftover and changes nothing. */
	a = ack_of(30, 300, 0);
	msh_repl_on_ack(p, &a, 310);
	assert_true(p->peer_known && p->sent_seq == 30);
	h.ts_ns = 250;
	msh_repl_on_sync_req(p, &h, &pos, 320, &r);
	assert_true(p->peer_known && r.next_seq == 51);
	a = ack_of(51, 400, 0);
	msh_repl_on_ack(p, &a, 410);
	assert_int_equal(msh_repl_pending_pop(p, &out), 1);
	/* HELLO positions of an idle secondary: used only while unknown. */
	msh_repl_primary_start(p, 7, 500);
	pos.next_seq = 51;
	h = hdr_of(MSH_REPL_T_HELLO, MSH_REPL_F_SYNCING, MSH_REPL_SECONDARY, 7, 2, 600);
	msh_repl_on_peer_pos(p, &h, &pos, 600);
	assert_false(p->peer_known); /* still syncing */
	h.flags = 0;
	msh_repl_on_peer_pos(p, &h, &pos, 610);
	assert_true(p->peer_known && p->acked_seq == 51);
	free_pair(p);
}

/* ---- node ------------------------------------------------------------------ */

#define US 1000ull
#define MS 1000000ull

static const struct msh_repl_node_conf nconf_a = {
	.node_id = 1, .peer_id = 2, .epoch = 0, .hello_interval_ns = 1 * MS,
	.silence_ns = 10 * MS, .sync_retry_ns = 2 * MS, .auto_promote = true,
};

static struct msh_repl_hdr
peer_hello(uint8_t role, uint32_t epoch, uint32_t node, bool ingest_up, uint64_t ts)
{
	return hdr_of(MSH_REPL_T_HELLO, ingest_up ? MSH_REPL_F_INGEST_UP : 0, role, epoch, node,
		      ts);
}

static void
test_node_init_and_epochs(void **state)
{
	struct msh_repl_node a, b;
	struct msh_repl_node_conf c = nconf_a;
	uint32_t act = 0;

	(void)state;
	c.peer_id = 1;
	assert_int_equal(msh_repl_node_init(&a, &c, 0), -EINVAL);
	c = nconf_a;
	c.silence_ns = c.hello_interval_ns;
	assert_int_equal(msh_repl_node_init(&a, &c, 0), -EINVAL);
	c = nconf_a;
	c.node_id = 0;
	assert_int_equal(msh_repl_node_init(&a, &c, 0), -EINVAL);
	assert_int_equal(msh_repl_node_init(&a, &nconf_a, 0), 0);
	c = nconf_a;
	c.node_id = 2;
	c.peer_id = 1;
	assert_int_equal(msh_repl_node_init(&b, &c, 0), 0);
	assert_true(a.role == MSH_REPL_SECONDARY && a.epoch == 1 && a.syncing);
	/* Promotions alternate epochs by node: the lower id takes odd ones. */
	assert_int_equal(msh_repl_node_promote(&a, 10, &act), 0);
	assert_true(a.epoch == 3 && a.role == MSH_REPL_PRIMARY);
	assert_true(act & MSH_REPL_ACT_PROMOTED && act & MSH_REPL_ACT_EPOCH &&
		    act & MSH_REPL_ACT_SEND_HELLO);
	assert_int_equal(msh_repl_node_promote(&a, 11, &act), -EALREADY);
	act = 0;
	assert_int_equal(msh_repl_node_promote(&b, 10, &act), 0);
	assert_true(b.epoch == 2);
	/* b hears a: a higher epoch; b demotes and must catch up. */
	act = 0;
	{
		struct msh_repl_hdr h = peer_hello(MSH_REPL_PRIMARY, 3, 1, true, 20);

		assert_int_equal(msh_repl_node_rx(&b, &h, 20, &act), MSH_REPL_RX_ACCEPT);
	}
	assert_true(b.role == MSH_REPL_SECONDARY && b.epoch == 3 && b.syncing && b.followed);
	assert_true(act & MSH_REPL_ACT_DEMOTED && act & MSH_REPL_ACT_EPOCH &&
		    act & MSH_REPL_ACT_SEND_SYNC_REQ);
	assert_true(b.stats.demotions_epoch == 1);
	/* b promotes again: above every epoch seen, even for it. */
	act = 0;
	msh_repl_node_promote(&b, 30, &act);
	assert_true(b.epoch == 4);
	act = 0;
	msh_repl_node_promote(&a, 30, &act); /* a is still primary */
	assert_int_equal(msh_repl_node_demote(&a, 40, &act), 0);
	assert_true(act & MSH_REPL_ACT_DEMOTED && a.role == MSH_REPL_SECONDARY && a.epoch == 3);
	assert_int_equal(msh_repl_node_demote(&a, 41, &act), -EALREADY);
	{
		struct msh_repl_hdr h = peer_hello(MSH_REPL_PRIMARY, 4, 2, true, 50);

		act = 0;
		msh_repl_node_rx(&a, &h, 50, &act);
		act = 0;
		msh_repl_node_promote(&a, 60, &act);
		assert_true(a.epoch == 5);
	}
	/* Frames from anyone but the configured peer are not taken. */
	{
		struct msh_repl_hdr h = peer_hello(MSH_REPL_PRIMARY, 99, 7, true, 70);

		assert_int_equal(msh_repl_node_rx(&a, &h, 70, &act), MSH_REPL_RX_FOREIGN);
		assert_true(a.epoch == 5 && a.stats.foreign_rx == 1);
	}
}

static void
test_node_stale_and_dual_primary(void **state)
{
	struct msh_repl_node a, b;
	struct msh_repl_node_conf c = nconf_a;
	struct msh_repl_hdr h;
	uint32_t act = 0;

	(void)state;
	msh_repl_node_init(&a, &nconf_a, 0);
	msh_repl_node_promote(&a, 0, &act);
	/* An old primary still sending at epoch 1: dropped, told once per
	 * quarter HELLO interval. */
	h = hdr_of(MSH_REPL_T_DATA, 0, MSH_REPL_PRIMARY, 1, 2, 5);
	act = 0;
	assert_int_equal(msh_repl_node_rx(&a, &h, 1 * MS, &act), MSH_REPL_RX_STALE);
	assert_true(act & MSH_REPL_ACT_SEND_HELLO);
	act = 0;
	assert_int_equal(msh_repl_node_rx(&a, &h, 1 * MS + 1, &act), MSH_REPL_RX_STALE);
	assert_false(act & MSH_REPL_ACT_SEND_HELLO);
	act = 0;
	msh_repl_node_rx(&a, &h, 1 * MS + MS / 4, &act);
	assert_true(act & MSH_REPL_ACT_SEND_HELLO);
	assert_true(a.stats.stale_rx == 3 && a.role == MSH_REPL_PRIMARY && a.epoch == 3);

	/* Two primaries in one epoch (misconfiguration): the lower id yields. */
	c.node_id = 2;
	c.peer_id = 1;
	msh_repl_node_init(&b, &c, 0);
	b.role = MSH_REPL_PRIMARY;
	b.epoch = 3;
	h = peer_hello(MSH_REPL_PRIMARY, 3, 1, true, 10);
	act = 0;
	msh_repl_node_rx(&b, &h, 2 * MS, &act);
	assert_true(b.role == MSH_REPL_PRIMARY && b.alarm == MSH_REPL_ALARM_DUAL_PRIMARY);
	assert_true(act & MSH_REPL_ACT_ALARM);
	h = peer_hello(MSH_REPL_PRIMARY, 3, 2, true, 10);
	act = 0;
	msh_repl_node_rx(&a, &h, 2 * MS, &act);
	assert_true(a.role == MSH_REPL_SECONDARY && act & MSH_REPL_ACT_DEMOTED);
	assert_true(a.stats.demotions_dual == 1 && a.alarm == MSH_REPL_ALARM_DUAL_PRIMARY);
}

/* A secondary that followed a primary, then hears nothing. */
static void
followed_secondary(struct msh_repl_node *b, const struct msh_repl_node_conf *c)
{
	struct msh_repl_hdr h = peer_hello(MSH_REPL_PRIMARY, 3, 2, true, 1);
	uint32_t act = 0;

	msh_repl_node_init(b, c, 0);
	msh_repl_node_rx(b, &h, 1 * MS, &act);
	assert_true(b->followed && b->epoch == 3);
	msh_repl_node_sync_done(b);
}

static void
test_node_failover_rules(void **state)
{
	struct msh_repl_node b;
	struct msh_repl_node_conf c = nconf_a;
	uint32_t act = 0;
	uint64_t t;

	(void)state;
	/* Link silent, peer's ingest unknown: no promotion, alarm. */
	followed_secondary(&b, &c);
	for (t = 2 * MS; t < 1 * MS + c.silence_ns; t += 100 * US) {
		act = 0;
		msh_repl_node_tick(&b, t, &act);
		assert_false(act & MSH_REPL_ACT_PROMOTED);
		assert_int_equal(b.alarm, MSH_REPL_ALARM_NONE);
	}
	act = 0;
	msh_repl_node_tick(&b, 1 * MS + c.silence_ns, &act);
	assert_true(act & MSH_REPL_ACT_ALARM && b.alarm == MSH_REPL_ALARM_INGEST_UNKNOWN);
	assert_true(b.role == MSH_REPL_SECONDARY && b.epoch == 3);
	/* Peer alive on ingest: the split-brain hold, counted once. */
	msh_repl_node_peer_ingest(&b, MSH_REPL_INGEST_ALIVE);
	for (t = 12 * MS; t < 100 * MS; t += 1 * MS) {
		act = 0;
		msh_repl_node_tick(&b, t, &act);
		assert_false(act & MSH_REPL_ACT_PROMOTED);
	}
	assert_true(b.alarm == MSH_REPL_ALARM_SPLIT_BRAIN_HOLD && b.stats.split_brain_holds == 1);
	assert_true(b.role == MSH_REPL_SECONDARY && b.epoch == 3);
	/* Silent there too: it promotes. */
	msh_repl_node_peer_ingest(&b, MSH_REPL_INGEST_SILENT);
	act = 0;
	msh_repl_node_tick(&b, 100 * MS, &act);
	assert_true(act & MSH_REPL_ACT_PROMOTED && act & MSH_REPL_ACT_ALARM);
	assert_true(b.role == MSH_REPL_PRIMARY && b.epoch == 5 && b.alarm == MSH_REPL_ALARM_NONE);
	assert_true(b.stats.promotions_auto == 1);

	/* auto_promote off: never, whatever the ingest says. */
	c.auto_promote = false;
	followed_secondary(&b, &c);
	msh_repl_node_peer_ingest(&b, MSH_REPL_INGEST_SILENT);
	act = 0;
	msh_repl_node_tick(&b, 50 * MS, &act);
	assert_true(b.role == MSH_REPL_SECONDARY && b.alarm == MSH_REPL_ALARM_AUTO_OFF);
	assert_int_equal(msh_repl_node_promote(&b, 51 * MS, &act), 0); /* by hand */
	assert_true(b.role == MSH_REPL_PRIMARY && b.stats.promotions_manual == 1);

	/* Never followed a primary (it may be the empty one): by hand only. */
	c.auto_promote = true;
	msh_repl_node_init(&b, &c, 0);
	msh_repl_node_peer_ingest(&b, MSH_REPL_INGEST_SILENT);
	act = 0;
	msh_repl_node_tick(&b, 50 * MS, &act);
	assert_true(b.role == MSH_REPL_SECONDARY && b.alarm == MSH_REPL_ALARM_NEVER_FOLLOWED);
	/* Hearing the peer again clears a silence alarm. */
	{
		struct msh_repl_hdr h = peer_hello(MSH_REPL_PRIMARY, 3, 2, true, 1);

		act = 0;
		msh_repl_node_rx(&b, &h, 51 * MS, &act);
		assert_true(act & MSH_REPL_ACT_ALARM && b.alarm == MSH_REPL_ALARM_NONE);
		/* ...and a primary without its ingest raises another. */
		h.flags = 0;
		act = 0;
		msh_repl_node_rx(&b, &h, 52 * MS, &act);
		assert_true(b.alarm == MSH_REPL_ALARM_PEER_INGEST_DOWN);
		assert_true(msh_repl_node_peer_alive(&b, 52 * MS + c.silence_ns - 1));
		assert_false(msh_repl_node_peer_alive(&b, 52 * MS + c.silence_ns));
	}
}

static void
test_node_start_rules(void **state)
{
	struct msh_repl_node a, b;
	struct msh_repl_node_conf ca = nconf_a, cb = nconf_a;
	struct msh_repl_hdr h;
	uint32_t act = 0;

	(void)state;
	ca.start_primary = true;
	cb.node_id = 2;
	cb.peer_id = 1;
	/* A fresh pair: a starts primary once it hears b as a secondary. */
	msh_repl_node_init(&a, &ca, 0);
	msh_repl_node_init(&b, &cb, 0);
	act = 0;
	msh_repl_node_tick(&a, 0, &act);
	assert_true(act & MSH_REPL_ACT_SEND_HELLO && a.role == MSH_REPL_SECONDARY);
	h = peer_hello(MSH_REPL_SECONDARY, 1, 2, true, 0);
	msh_repl_node_rx(&a, &h, 100 * US, &act);
	act = 0;
	msh_repl_node_tick(&a, 200 * US, &act);
	assert_true(act & MSH_REPL_ACT_PROMOTED && a.role == MSH_REPL_PRIMARY && a.epoch == 3);
	assert_true(a.stats.promotions_start == 1);
	/* b (not start_primary) never promotes next to a live secondary; after
	 * the silence time it says there is no primary. */
	h = peer_hello(MSH_REPL_SECONDARY, 1, 1, true, 0);
	act = 0;
	msh_repl_node_rx(&b, &h, 100 * US, &act);
	for (uint64_t t = 0; t <= 20 * MS; t += 500 * US) {
		h.ts_ns = t;
		msh_repl_node_rx(&b, &h, t, &act);
		act = 0;
		msh_repl_node_tick(&b, t, &act);
		assert_true(b.role == MSH_REPL_SECONDARY);
	}
	assert_true(b.alarm == MSH_REPL_ALARM_NO_PRIMARY);
	h = peer_hello(MSH_REPL_PRIMARY, 3, 1, true, 0);
	act = 0;
	msh_repl_node_rx(&b, &h, 21 * MS, &act);
	assert_true(b.alarm == MSH_REPL_ALARM_NONE && b.followed && b.epoch == 3);

	/* start_primary with a primary already there: it follows instead. */
	msh_repl_node_init(&a, &ca, 0);
	h = peer_hello(MSH_REPL_PRIMARY, 4, 2, true, 0);
	act = 0;
	msh_repl_node_rx(&a, &h, 100 * US, &act);
	for (uint64_t t = 0; t <= 30 * MS; t += 1 * MS) {
		msh_repl_node_rx(&a, &h, t, &act);
		act = 0;
		msh_repl_node_tick(&a, t, &act);
		assert_false(act & MSH_REPL_ACT_PROMOTED);
	}
	assert_true(a.role == MSH_REPL_SECONDARY && a.epoch == 4 && !a.start_pending);

	/* start_primary alone: waits silence_ns, and the ingest rule holds. */
	msh_repl_node_init(&a, &ca, 0);
	act = 0;
	msh_repl_node_tick(&a, 9 * MS, &act);
	assert_true(a.role == MSH_REPL_SECONDARY && a.alarm == MSH_REPL_ALARM_NONE);
	msh_repl_node_tick(&a, 10 * MS, &act);
	assert_true(a.role == MSH_REPL_SECONDARY && a.alarm == MSH_REPL_ALARM_INGEST_UNKNOWN);
	msh_repl_node_peer_ingest(&a, MSH_REPL_INGEST_SILENT);
	act = 0;
	msh_repl_node_tick(&a, 11 * MS, &act);
	assert_true(act & MSH_REPL_ACT_PROMOTED && a.stats.promotions_start == 1);
}

/* ---- two appliances over a lossy link ------------------------------------- */

#define MAXF 16384

struct frame {
	uint64_t due;
	uint8_t to;
	uint16_t len;
	uint8_t buf[PAYLOAD];
};

struct sim;

struct snode {
	struct sim *sim;
	int idx;
	struct msh_repl_node node;
	struct msh_repl_shard *rs;
	bool frozen;          /* dead: not run, receives nothing */
	uint32_t pub_id;
	uint64_t pseq;        /* next publisher_seq */
	uint64_t salt;        /* content index of a message = pseq + salt */
	uint64_t released;
	uint64_t last_released_pseq;
	uint64_t drained;
	bool check_release;   /* a released ack must be held by the peer */
	struct msh_repl_sync_decision last_decision;
	uint32_t decisions;
};

struct sim {
	struct frame *f;
	uint32_t n;
	uint64_t rng;
	uint32_t loss_pm, dup_pm;
	uint64_t delay_ns, jitter_ns;
	bool cut;
	uint64_t now;
	uint64_t sent, lost, duplicated, overflow;
	struct snode nd[2];
};

static void
sim_send(struct snode *from, const uint8_t *buf, int len)
{
	struct sim *sm = from->sim;
	int copies = 1;

	assert_true(len > 0 && len <= (int)PAYLOAD);
	sm->sent++;
	if (sm->cut || t_rand(&sm->rng) % 1000 < sm->loss_pm) {
		sm->lost++;
		return;
	}
	if (t_rand(&sm->rng) % 1000 < sm->dup_pm) {
		copies = 2;
		sm->duplicated++;
	}
	while (copies-- > 0) {
		struct frame *f;

		if (sm->n == MAXF) {
			sm->overflow++;
			return;
		}
		f = &sm->f[sm->n++];
		f->due = sm->now + sm->delay_ns + t_rand(&sm->rng) % (sm->jitter_ns + 1);
		f->to = (uint8_t)(1 - from->idx);
		f->len = (uint16_t)len;
		memcpy(f->buf, buf, (size_t)len);
	}
}

static void
send_summary(struct snode *x, uint8_t type)
{
	uint8_t buf[PAYLOAD];
	struct msh_repl_hdr h;
	struct msh_repl_pos pos;

	msh_repl_node_hdr(&x->node, type, x->sim->now, &h);
	msh_repl_pos_get(x->rs, &pos);
	sim_send(x, buf, msh_repl_summary_build(buf, sizeof(buf), &h, 1, &pos, 1));
}

static void
send_ack(struct snode *x)
{
	uint8_t buf[PAYLOAD];
	struct msh_repl_ack a;

	msh_repl_node_hdr(&x->node, MSH_REPL_T_ACK, x->sim->now, &a.hdr);
	msh_repl_ack_fill(x->rs, &a);
	sim_send(x, buf, msh_repl_ack_build(buf, sizeof(buf), &a));
}

/* What the daemon does with the node's decisions. */
static void
do_actions(struct snode *x, uint32_t act)
{
	struct msh_repl_pending p;

	if (act & MSH_REPL_ACT_PROMOTED)
		msh_repl_primary_start(x->rs, x->node.epoch, x->sim->now);
	if ((act & (MSH_REPL_ACT_DEMOTED | MSH_REPL_ACT_EPOCH)) &&
	    x->node.role == MSH_REPL_SECONDARY) {
		/* Never released: these publishers get no ack and retry. */
		while (msh_repl_pending_drain(x->rs, &p))
			x->drained++;
		msh_repl_secondary_start(x->rs, x->node.epoch, x->node.syncing);
	}
	if (act & MSH_REPL_ACT_SEND_HELLO)
		send_summary(x, MSH_REPL_T_HELLO);
	if (act & MSH_REPL_ACT_SEND_SYNC_REQ)
		send_summary(x, MSH_REPL_T_SYNC_REQ);
}

static void
release_acks(struct snode *x)
{
	struct msh_repl_pending p;
	const struct msh_shard *peer = x->sim->nd[1 - x->idx].rs->shard;

	while (msh_repl_pending_pop(x->rs, &p)) {
		/* acks=all: the secondary holds the datagram's messages. */
		if (x->check_release)
			assert_true(peer->next_seq >= p.end_seq);
		assert_true(p.publisher_seq > x->last_released_pseq);
		x->last_released_pseq = p.publisher_seq;
		x->released++;
	}
}

static void
on_frame(struct snode *x, const uint8_t *b, uint16_t len)
{
	uint64_t now = x->sim->now;
	struct msh_repl_hdr h;
	uint32_t act = 0;
	enum msh_repl_rx v;

	assert_int_equal(msh_repl_hdr_parse(b, len, &h), 0);
	v = msh_repl_node_rx(&x->node, &h, now, &act);
	do_actions(x, act);
	if (v != MSH_REPL_RX_ACCEPT)
		return;
	switch (h.type) {
	case MSH_REPL_T_DATA: {
		struct msh_repl_data d;
		struct msh_repl_reply r;

		assert_int_equal(msh_repl_data_parse(b, len, x->rs->shard->max_message, &d), 0);
		msh_repl_apply(x->rs, &d, now, &r);
		if (r.nak) {
			uint8_t buf[PAYLOAD];
			struct msh_repl_nak k;

			msh_repl_node_hdr(&x->node, MSH_REPL_T_NAK, now, &k.hdr);
			k.shard = x->rs->shard->conf.name;
			k.expected_seq = r.expected_seq;
			k.seen_seq = r.seen_seq;
			sim_send(x, buf, msh_repl_nak_build(buf, sizeof(buf), &k));
		}
		break;
	}
	case MSH_REPL_T_ACK: {
		struct msh_repl_ack a;

		assert_int_equal(msh_repl_ack_parse(b, len, &a), 0);
		msh_repl_on_ack(x->rs, &a, now);
		release_acks(x);
		break;
	}
	case MSH_REPL_T_NAK: {
		struct msh_repl_nak k;

		assert_int_equal(msh_repl_nak_parse(b, len, &k), 0);
		msh_repl_on_nak(x->rs, &k, now);
		release_acks(x);
		break;
	}
	case MSH_REPL_T_HELLO:
	case MSH_REPL_T_SYNC_REQ: {
		struct msh_repl_summary s;
		struct msh_repl_pos pos;

		assert_int_equal(msh_repl_summary_parse(b, len, &s), 0);
		for (uint16_t i = 0; i < s.hdr.count; i++) {
			msh_repl_pos_at(&s, i, &pos);
			if (!msh_name_eq(&pos.shard, &x->rs->shard->conf.name))
				continue;
			if (h.type == MSH_REPL_T_HELLO) {
				msh_repl_on_peer_pos(x->rs, &s.hdr, &pos, now);
				release_acks(x);
			} else if (x->node.role == MSH_REPL_PRIMARY) {
				uint8_t buf[PAYLOAD];
				struct msh_repl_sync_reply r;
				uint16_t count;

				msh_repl_on_sync_req(x->rs, &s.hdr, &pos, now, &r);
				count = r.hdr.count;
				msh_repl_node_hdr(&x->node, MSH_REPL_T_SYNC_REPLY, now, &r.hdr);
				r.hdr.count = count;
				sim_send(x, buf, msh_repl_sync_reply_build(buf, sizeof(buf), &r));
			}
		}
		break;
	}
	case MSH_REPL_T_SYNC_REPLY: {
		struct msh_repl_sync_reply r;
		struct msh_repl_sync_decision d;

		assert_int_equal(msh_repl_sync_reply_parse(b, len, &r), 0);
		if (!x->rs->syncing)
			break; /* a second answer to a repeated SYNC_REQ */
		msh_repl_sync_decide(x->rs, &r, &d);
		if (msh_repl_sync_apply(x->rs, &d, &r) == 0) {
			x->last_decision = d;
			x->decisions++;
			msh_repl_node_sync_done(&x->node); /* its only shard */
			send_ack(x);
		}
		break;
	}
	}
}

static void
sim_step(struct sim *sm, uint64_t dt)
{
	sm->now += dt;
	for (uint32_t i = 0; i < sm->n;) {
		if (sm->f[i].due > sm->now) {
			i++;
			continue;
		}
		{
			struct frame f = sm->f[i];

			sm->f[i] = sm->f[--sm->n];
			if (!sm->nd[f.to].frozen)
				on_frame(&sm->nd[f.to], f.buf, f.len);
		}
	}
	for (int k = 0; k < 2; k++) {
		struct snode *x = &sm->nd[k];
		uint32_t act = 0;

		if (x->frozen)
			continue;
		msh_repl_node_tick(&x->node, sm->now, &act);
		do_actions(x, act);
		if (x->rs->role == MSH_REPL_PRIMARY) {
			struct msh_repl_tx tx;

			msh_repl_primary_tick(x->rs, sm->now);
			for (int j = 0; j < 16 && msh_repl_tx_next(x->rs, sm->now,
								   msh_repl_data_room(PAYLOAD),
								   &tx) == 1;
			     j++) {
				uint8_t buf[PAYLOAD];
				struct msh_repl_hdr h;
				struct msh_repl_data d;

				msh_repl_node_hdr(&x->node, MSH_REPL_T_DATA, sm->now, &h);
				msh_repl_tx_data(x->rs, &tx, &h, &d);
				sim_send(x, buf, msh_repl_data_build(buf, sizeof(buf), &d));
			}
		} else if (x->rs->ack_due && !x->rs->syncing) {
			send_ack(x); /* one cumulative ACK per turn */
		}
	}
}

/* The app's publish path on a primary, acks=all. */
static void
sim_publish(struct snode *x, uint32_t n)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, x->pseq + x->salt, n, len_var);
	struct msh_pub_result r;
	struct msh_repl_pending p;

	assert_int_equal(x->node.role, MSH_REPL_PRIMARY);
	msh_shard_publish(x->rs->shard, x->pub_id, x->pseq, buf, len, n, x->sim->now, &r);
	assert_int_equal(r.status, MSH_S_OK);
	msh_repl_note_publish(x->rs, r.first_seq, r.appended, x->pub_id, x->pseq);
	memset(&p, 0, sizeof(p));
	p.end_seq = x->rs->shard->next_seq;
	p.shard_seq = r.first_seq;
	p.publisher_id = x->pub_id;
	p.publisher_seq = x->pseq;
	p.count = (uint16_t)r.appended;
	assert_int_equal(msh_repl_pending_push(x->rs, &p), 0);
	x->pseq += n;
}

static struct sim *
sim_new(uint64_t seed, uint32_t loss_pm, uint32_t dup_pm)
{
	struct sim *sm = calloc(1, sizeof(*sm));
	struct msh_repl_node_conf c = nconf_a;

	assert_non_null(sm);
	sm->f = malloc(MAXF * sizeof(*sm->f));
	assert_non_null(sm->f);
	sm->rng = seed;
	sm->loss_pm = loss_pm;
	sm->dup_pm = dup_pm;
	sm->delay_ns = 20 * US;
	sm->jitter_ns = 30 * US; /* frames overtake each other */
	sm->now = 1 * MS;
	for (int k = 0; k < 2; k++) {
		struct snode *x = &sm->nd[k];

		x->sim = sm;
		x->idx = k;
		c.node_id = (uint32_t)k + 1;
		c.peer_id = 2 - (uint32_t)k;
		assert_int_equal(msh_repl_node_init(&x->node, &c, sm->now), 0);
		msh_repl_node_local_ingest(&x->node, true);
		x->rs = rs_new(shard_new(1024, MSH_ON_FULL_REJECT), &rconf);
		x->pub_id = 7 + (uint32_t)k;
		x->pseq = 1;
		x->check_release = true;
	}
	return sm;
}

static void
sim_free(struct sim *sm)
{
	for (int k = 0; k < 2; k++)
		free_pair(sm->nd[k].rs);
	free(sm->f);
	free(sm);
}

/* Run until the primary @p p has everything acked by the other node. */
static void
sim_settle(struct sim *sm, int p, uint64_t max_steps)
{
	struct snode *x = &sm->nd[p], *y = &sm->nd[1 - p];

	for (uint64_t i = 0; i < max_steps; i++) {
		if (x->rs->peer_known && x->rs->acked_seq == x->rs->shard->next_seq &&
		    y->rs->shard->next_seq == x->rs->shard->next_seq && !y->rs->syncing)
			return;
		sim_step(sm, 1 * US);
	}
	fail_msg("not settled: primary next %llu acked %llu, secondary next %llu syncing %d",
		 (unsigned long long)x->rs->shard->next_seq,
		 (unsigned long long)x->rs->acked_seq,
		 (unsigned long long)y->rs->shard->next_seq, y->rs->syncing);
}

/* Same messages, byte for byte, at the same sequence numbers. */
static void
assert_same_messages(const struct msh_shard *a, const struct msh_shard *b)
{
	struct msh_span x, y;

	assert_true(a->next_seq == b->next_seq);
	assert_true(msh_shard_first_seq(a) == msh_shard_first_seq(b));
	for (uint64_t q = msh_shard_first_seq(a); q < a->next_seq;) {
		int n = msh_shard_read(a, q, 64, 65535, &x);
		int m = msh_shard_read(b, q, (uint32_t)n, 65535, &y);

		assert_true(n > 0 && m > 0);
		assert_int_equal(x.len, (uint32_t)(m == n ? y.len : x.len));
		if (m < n) /* segment boundaries differ: compare the shorter run */
			n = msh_shard_read(a, q, (uint32_t)m, 65535, &x);
		assert_int_equal(n, m);
		assert_int_equal(x.len, y.len);
		assert_memory_equal(x.data, y.data, x.len);
		q += (uint64_t)n;
	}
}

/* Same messages, same segments, same bytes (receive timestamps differ): what
 * a secondary that only ever followed has. A truncation or an age seal may
 * move segment boundaries; then only assert_same_messages() holds. */
static void
assert_identical(const struct msh_shard *a, const struct msh_shard *b)
{
	assert_same_messages(a, b);
	assert_int_equal(a->seg_n, b->seg_n);
	for (uint64_t q = msh_shard_first_seq(a); q < a->next_seq;) {
		const struct msh_segment *x = msh_shard_find(a, q), *y = msh_shard_find(b, q);

		assert_non_null(x);
		assert_non_null(y);
		assert_true(x->first_seq == y->first_seq);
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->data_len, y->data_len);
		assert_memory_equal(x->data, y->data, x->data_len);
		q = msh_segment_end_seq(x);
	}
}

/* Start the pair: node 0 promoted by command, node 1 follows it. */
static void
sim_start(struct sim *sm)
{
	uint32_t act = 0;

	assert_int_equal(msh_repl_node_promote(&sm->nd[0].node, sm->now, &act), 0);
	do_actions(&sm->nd[0], act);
	for (int i = 0; i < 5000 && !sm->nd[1].node.followed; i++)
		sim_step(sm, 1 * US);
	assert_true(sm->nd[1].node.followed);
	sim_settle(sm, 0, 200000);
	assert_true(sm->nd[1].decisions == 1);
}

static void
test_pair_lossy_link(void **state)
{
	struct sim *sm = sim_new(0x5EED5EED, 50, 20); /* 5% loss, 2% duplicated */
	struct snode *a = &sm->nd[0], *b = &sm->nd[1];
	uint64_t rng = 77;

	(void)state;
	sim_start(sm);
	while (a->pseq <= 20000) {
		if (t_rand(&rng) % 3 == 0)
			sim_publish(a, 1 + (uint32_t)(t_rand(&rng) % 8));
		sim_step(sm, 1 * US);
	}
	sim_settle(sm, 0, 2000000);
	assert_true(a->rs->shard->next_seq > 20000);
	assert_identical(a->rs->shard, b->rs->shard);
	/* Contents are what was published. */
	{
		struct msh_span sp;
		uint64_t q = 1;
		int n;

		while ((n = msh_shard_read(b->rs->shard, q, 64, 65535, &sp)) > 0) {
			t_check_blocks(sp.data, sp.len, q, (uint32_t)n, len_var);
			q += (uint64_t)n;
		}
		assert_true(q == a->rs->shard->next_seq);
	}
	/* Every publisher ack released, in order, none before the secondary had it. */
	assert_true(a->released == a->rs->stats.pending_queued);
	assert_int_equal(a->rs->pend_n, 0);
	/* The link really was lossy, and repair really ran. */
	assert_true(sm->lost > 100 && sm->duplicated > 50);
	assert_true(a->rs->stats.retx_frames > 0 && a->rs->stats.rewind_nak > 0);
	assert_true(b->rs->stats.gap_frames > 0 && b->rs->stats.dup_frames > 0);
	assert_true(b->rs->stats.naks_tx > 0 && a->rs->stats.stale_acks > 0);
	/* The secondary learnt the publisher's ranges from PUB frames. */
	assert_true(msh_dedupe_next(b->rs->shard->dedupe, a->pub_id) > 1);
	assert_true(msh_dedupe_next(b->rs->shard->dedupe, a->pub_id) <=
		    msh_dedupe_next(a->rs->shard->dedupe, a->pub_id));
	assert_true(a->node.role == MSH_REPL_PRIMARY && b->node.role == MSH_REPL_SECONDARY);
	assert_int_equal(a->node.epoch, b->node.epoch);
	assert_true(sm->overflow == 0);
	sim_free(sm);
}

static void
test_failover_and_returning_primary(void **state)
{
	struct sim *sm = sim_new(0xFA110FE2, 50, 20);
	struct snode *a = &sm->nd[0], *b = &sm->nd[1];
	uint64_t before, t0;

	(void)state;
	b->salt = 1000000; /* b's messages differ from a's */
	sim_start(sm);
	assert_int_equal(a->node.epoch, 3);
	while (a->pseq <= 300) {
		sim_publish(a, 5);
		sim_step(sm, 5 * US);
	}
	sim_settle(sm, 0, 200000);
	assert_true(b->rs->shard->next_seq == 301);
	/* The link goes; a takes 50 more that b never sees, then dies. */
	sm->cut = true;
	before = a->released;
	for (int i = 0; i < 10; i++) {
		sim_publish(a, 5);
		sim_step(sm, 5 * US);
	}
	assert_true(a->rs->shard->next_seq == 351 && a->released == before);
	a->frozen = true;
	/* b: silence, but a's ingest state unknown: no promotion yet. */
	t0 = sm->now;
	while (sm->now - t0 < 20 * MS)
		sim_step(sm, 10 * US);
	assert_true(b->node.role == MSH_REPL_SECONDARY);
	assert_int_equal(b->node.alarm, MSH_REPL_ALARM_INGEST_UNKNOWN);
	/* The app sees a silent on the ingest network too: b takes over. */
	msh_repl_node_peer_ingest(&b->node, MSH_REPL_INGEST_SILENT);
	sim_step(sm, 10 * US);
	assert_true(b->node.role == MSH_REPL_PRIMARY && b->node.epoch == 4);
	assert_true(b->rs->role == MSH_REPL_PRIMARY && msh_repl_hist_epoch_of(b->rs, 301) == 4);
	while (b->pseq <= 70) {
		sim_publish(b, 7);
		sim_step(sm, 5 * US);
	}
	assert_true(b->rs->shard->next_seq == 371);
	/* a comes back, still primary in epoch 3, link repaired. */
	sm->cut = false;
	a->frozen = false;
	a->check_release = false; /* b truncates nothing, but a's acks are now moot */
	sim_settle(sm, 1, 400000);
	assert_true(a->node.role == MSH_REPL_SECONDARY && a->node.epoch == 4);
	assert_true(a->node.stats.demotions_epoch == 1 && b->node.stats.stale_rx > 0);
	/* It dropped what b never had (301-350), took b's 301-370. */
	assert_true(a->decisions == 1);
	assert_true(a->last_decision.truncate_to == 301 && a->last_decision.diverge_seq == 301);
	assert_true(a->rs->stats.sync_truncated_msgs == 50);
	assert_true(a->rs->shard->stats.truncations == 1);
	assert_true(a->drained == 10 && a->released == before); /* never acked to publishers */
	assert_same_messages(a->rs->shard, b->rs->shard);
	{
		struct msh_span sp;
		int n = msh_shard_read(a->rs->shard, 301, 7, 65535, &sp);

		assert_int_equal(n, 7);
		t_check_blocks(sp.data, sp.len, 1 + b->salt, 7, len_var);
	}
	assert_int_equal(a->rs->n_hist, 2);
	assert_memory_equal(a->rs->hist, b->rs->hist, 2 * sizeof(a->rs->hist[0]));
	/* And it replicates onwards from b. */
	b->check_release = true;
	for (int i = 0; i < 50; i++) {
		sim_publish(b, 3);
		sim_step(sm, 5 * US);
	}
	sim_settle(sm, 1, 200000);
	assert_same_messages(a->rs->shard, b->rs->shard);
	sim_free(sm);
}

/* The primary restarts with empty memory and is promoted by hand (the
 * operator chose it): the secondary must not keep messages the new primary's
 * history does not have, even though it never was primary itself. */
static void
test_secondary_follows_restarted_primary(void **state)
{
	struct sim *sm = sim_new(0x12E5A127, 20, 10);
	struct snode *a = &sm->nd[0], *b = &sm->nd[1];
	struct msh_repl_node_conf c = nconf_a;
	uint32_t act = 0;

	(void)state;
	sim_start(sm);
	while (a->pseq <= 200) {
		sim_publish(a, 4);
		sim_step(sm, 5 * US);
	}
	sim_settle(sm, 0, 200000);
	assert_true(b->rs->shard->next_seq == 201);
	/* a restarts: new memory, its epoch from disk, promoted by command. */
	free_pair(a->rs);
	a->rs = rs_new(shard_new(1024, MSH_ON_FULL_REJECT), &rconf);
	c.epoch = 3;
	assert_int_equal(msh_repl_node_init(&a->node, &c, sm->now), 0);
	msh_repl_node_local_ingest(&a->node, true);
	a->pseq = 1;
	a->salt = 5000000;
	a->last_released_pseq = 0;
	assert_int_equal(msh_repl_node_promote(&a->node, sm->now, &act), 0);
	do_actions(a, act);
	assert_true(a->node.epoch == 5);
	while (a->pseq <= 30) {
		sim_publish(a, 3);
		sim_step(sm, 5 * US);
	}
	sim_settle(sm, 0, 400000);
	assert_true(b->decisions == 2);
	assert_true(b->last_decision.truncate_to == 1 && b->last_decision.diverge_seq == 1);
	assert_true(b->rs->stats.sync_truncated_msgs == 200);
	assert_same_messages(a->rs->shard, b->rs->shard);
	{
		struct msh_span sp;

		assert_int_equal(msh_shard_read(b->rs->shard, 1, 3, 65535, &sp), 3);
		t_check_blocks(sp.data, sp.len, 1 + a->salt, 3, len_var);
	}
	sim_free(sm);
}

static void
test_split_brain_link_cut_peer_alive(void **state)
{
	struct sim *sm = sim_new(0xB4A1, 0, 0);
	struct snode *a = &sm->nd[0], *b = &sm->nd[1];
	uint64_t t0;

	(void)state;
	sim_start(sm);
	for (int i = 0; i < 20; i++) {
		sim_publish(a, 5);
		sim_step(sm, 5 * US);
	}
	sim_settle(sm, 0, 200000);
	/* Only the replication link is cut; the app sees a alive on ingest. */
	sm->cut = true;
	msh_repl_node_peer_ingest(&b->node, MSH_REPL_INGEST_ALIVE);
	t0 = sm->now;
	for (int i = 0; sm->now - t0 < 50 * MS; i++) {
		if (i % 10 == 0)
			sim_publish(a, 2); /* a keeps taking publishes */
		sim_step(sm, 10 * US);
	}
	assert_true(a->rs->shard->next_seq > b->rs->shard->next_seq + 500);
	assert_true(b->node.role == MSH_REPL_SECONDARY && b->node.epoch == 3);
	assert_int_equal(b->node.alarm, MSH_REPL_ALARM_SPLIT_BRAIN_HOLD);
	assert_true(b->node.stats.split_brain_holds == 1 && b->node.stats.promotions_auto == 0);
	assert_true(a->node.role == MSH_REPL_PRIMARY);
	/* Link back: the alarm clears, b catches up, nothing is truncated. */
	sm->cut = false;
	sim_settle(sm, 0, 400000);
	assert_true(b->node.stats.frames_rx > 0 && msh_repl_node_peer_alive(&b->node, sm->now));
	assert_int_equal(b->node.alarm, MSH_REPL_ALARM_NONE);
	assert_identical(a->rs->shard, b->rs->shard);
	assert_true(a->rs->shard->stats.truncations == 0 && b->rs->shard->stats.truncations == 0);
	assert_true(a->rs->stats.rewind_timeout > 0);
	sim_free(sm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_round_trip),
		cmocka_unit_test(test_fixed_frames_round_trip),
		cmocka_unit_test(test_summary_and_sync_reply_round_trip),
		cmocka_unit_test(test_every_parse_error),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_mutation_fuzz),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_history),
		cmocka_unit_test(test_tx_splits_at_epoch_and_publish),
		cmocka_unit_test(test_go_back_n),
		cmocka_unit_test(test_window_and_ordering),
		cmocka_unit_test(test_lag),
		cmocka_unit_test(test_pending_release_order),
		cmocka_unit_test(test_apply_verdicts),
		cmocka_unit_test(test_apply_full_and_reset),
		cmocka_unit_test(test_sync_decisions),
		cmocka_unit_test(test_sync_apply),
		cmocka_unit_test(test_sync_req_answer),
		cmocka_unit_test(test_node_init_and_epochs),
		cmocka_unit_test(test_node_stale_and_dual_primary),
		cmocka_unit_test(test_node_failover_rules),
		cmocka_unit_test(test_node_start_rules),
		cmocka_unit_test(test_pair_lossy_link),
		cmocka_unit_test(test_failover_and_returning_primary),
		cmocka_unit_test(test_secondary_follows_restarted_primary),
		cmocka_unit_test(test_split_brain_link_cut_peer_alive),
	};

	return cmocka_run_group_tests_name("repl", tests, NULL, NULL);
}
