/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/arb (A/B line arbitration): one line in order, duplicates
 * and the skew, a gap on A filled by B (held packets follow in order), a gap
 * lost on both lines (given up at gap_timeout, reported, the feed goes on), a
 * gap at the tail seen by a heartbeat, different packetization on the two
 * lines, a full hold, session changes and end of session, bad input, a
 * re-request's answer; then a model test: a random upstream stream on two
 * lines with independent 5% loss and a random skew must come out exactly
 * once, in order, byte for byte, with exactly the messages lost on both lines
 * reported as given up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "arb.h"
#include "testutil.h"
#include "wire.h"

#define MAXMSG 200000u

/* The sink: every emitted message, checked against the upstream content. */
struct sink {
	uint64_t first_seq; /* upstream seq of out[0] */
	uint64_t n;         /* messages emitted */
	uint64_t next;      /* the seq it expects next (0: any) */
	uint64_t skipped;   /* seqs jumped over (given-up gaps) */
	bool refuse;
	uint32_t bad;       /* out of order or wrong content */
};

/* Message i of the upstream stream: 1 + i % 13 bytes of a pattern of i. */
static uint32_t
msg_len(uint64_t seq)
{
	return 1 + (uint32_t)(seq % 13);
}

static uint8_t
msg_byte(uint64_t seq, uint32_t k)
{
	return (uint8_t)(seq * 31 + k * 7);
}

static int
sink_emit(void *arg, uint64_t seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct sink *s = arg;
	uint32_t off = 0;

	if (s->refuse)
		return -1;
	if (s->n == 0 && s->next == 0)
		s->first_seq = seq;
	if (s->next != 0 && seq != s->next) {
		if (seq < s->next)
			s->bad++;
		else
			s->skipped += seq - s->next;
	}
	for (uint32_t i = 0; i < count; i++) {
		uint32_t l = msh_load_be16(blocks + off);

		if (l != msg_len(seq + i))
			s->bad++;
		else
			for (uint32_t k = 0; k < l; k++)
				if (blocks[off + 2 + k] != msg_byte(seq + i, k))
					s->bad++;
		off += 2 + l;
	}
	if (off != len)
		s->bad++;
	s->n += count;
	s->next = seq + count;
	return 0;
}

/* A MoldUDP64 packet of upstream messages [seq, seq + count) in @p buf. */
static struct msh_mold
pkt(uint8_t *buf, const char *session, uint64_t seq, uint16_t count)
{
	struct msh_name n;
	struct msh_mold m;
	size_t off = MSH_MOLD_HDR_LEN;
	int rc;

	msh_name_from_str(&n, session);
	msh_mold_hdr_build(buf, MSH_MOLD_HDR_LEN, &n, seq, count);
	if (count != MSH_MOLD_HEARTBEAT && count != MSH_MOLD_END_OF_SESSION)
		for (uint16_t i = 0; i < count; i++) {
			uint32_t l = msg_len(seq + i);

			msh_store_be16(buf + off, (uint16_t)l);
			for (uint32_t k = 0; k < l; k++)
				buf[off + 2 + k] = msg_byte(seq + i, k);
			off += 2 + l;
		}
	rc = msh_mold_parse(buf, off, &m);
	assert_int_equal(rc, 0);
	return m;
}

static struct msh_arb *
arb_new(uint32_t hold, uint64_t timeout)
{
	struct msh_arb_conf c = {
		.gap_timeout_ns = timeout,
		.max_jump = 1000000,
		.hold_pkts = hold,
		.max_packet = 1500,
		.skew_slots = 1024,
	};
	size_t len = msh_arb_footprint(&c);
	void *mem = NULL;
	struct msh_arb *a;

	assert_true(len > 0);
	assert_int_equal(posix_memalign(&mem, 64, len), 0);
	a = msh_arb_init(mem, len, &c);
	assert_non_null(a);
	return a;
}

static void
test_conf(void **state)
{
	struct msh_arb_conf c = {.gap_timeout_ns = 1, .max_jump = 1, .hold_pkts = 4,
				 .max_packet = 1500, .skew_slots = 8};
	uint8_t mem[64];

	(void)state;
	assert_true(msh_arb_footprint(&c) > 0);
	c.skew_slots = 6; /* not a power of two */
	assert_int_equal(msh_arb_footprint(&c), 0);
	c.skew_slots = 8;
	c.hold_pkts = 0;
	assert_int_equal(msh_arb_footprint(&c), 0);
	c.hold_pkts = 4;
	c.max_packet = 10;
	assert_int_equal(msh_arb_footprint(&c), 0);
	c.max_packet = 1500;
	errno = 0;
	assert_null(msh_arb_init(mem, sizeof(mem), &c));
	assert_int_equal(errno, EINVAL);
}

static void
test_one_line(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	uint8_t b[1500];

	(void)state;
	for (uint64_t seq = 100; seq < 200; seq += 10) {
		struct msh_mold m = pkt(b, "FEED", seq, 10);

		assert_int_equal(msh_arb_rx(a, 0, &m, seq, sink_emit, &s), MSH_ARB_EMITTED);
	}
	assert_int_equal(s.n, 100);
	assert_int_equal(s.first_seq, 100); /* the feed starts where it was joined */
	assert_int_equal(s.bad, 0);
	assert_int_equal(a->next_seq, 200);
	assert_int_equal(a->line[0].pkts, 10);
	assert_int_equal(a->line[0].won_msgs, 100);
	assert_int_equal(a->stats.emitted_msgs, 100);
	assert_int_equal(a->stats.gaps_opened, 0);
	free(a);
}

static void
test_duplicates_and_skew(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	uint8_t b[1500];

	(void)state;
	for (uint64_t i = 0; i < 20; i++) {
		struct msh_mold m = pkt(b, "FEED", 1 + i * 5, 5);

		assert_int_equal(msh_arb_rx(a, 0, &m, 1000 * i, sink_emit, &s), MSH_ARB_EMITTED);
		/* B's copy 300 ns later. */
		assert_int_equal(msh_arb_rx(a, 1, &m, 1000 * i + 300, sink_emit, &s),
				 MSH_ARB_DUPLICATE);
	}
	assert_int_equal(s.n, 100);
	assert_int_equal(s.bad, 0);
	assert_int_equal(a->line[0].won_msgs, 100);
	assert_int_equal(a->line[1].won_msgs, 0);
	assert_int_equal(a->line[1].dup_msgs, 100);
	assert_int_equal(a->skew[1].n, 20);
	assert_int_equal(a->skew[1].min, 300);
	assert_int_equal(a->skew[1].max, 300);
	assert_int_equal(a->skew[0].n, 0);
	free(a);
}

static void
test_gap_filled_by_other_line(void **state)
{
	struct msh_arb *a = arb_new(16, 1000000);
	struct sink s = {0};
	struct msh_arb_gap g;
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "FEED", 1, 10);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	/* A loses 11..20; 21..30 and 31..40 arrive on A and wait. */
	m = pkt(b, "FEED", 21, 10);
	assert_int_equal(msh_arb_rx(a, 0, &m, 10, sink_emit, &s), MSH_ARB_HELD);
	m = pkt(b, "FEED", 31, 10);
	assert_int_equal(msh_arb_rx(a, 0, &m, 20, sink_emit, &s), MSH_ARB_HELD);
	assert_int_equal(s.n, 10);
	assert_true(msh_arb_open_gap(a, &g));
	assert_int_equal(g.first, 11);
	assert_int_equal(g.count, 10);
	assert_int_equal(g.since_ns, 10);
	/* B brings 11..20: it goes out, then the held packets, in order. */
	m = pkt(b, "FEED", 11, 10);
	assert_int_equal(msh_arb_rx(a, 1, &m, 30, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(s.n, 40);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.skipped, 0);
	assert_false(msh_arb_open_gap(a, &g));
	assert_int_equal(a->stats.gaps_opened, 1);
	assert_int_equal(a->stats.gaps_filled, 1);
	assert_int_equal(a->line[1].late_fill_msgs, 10);
	assert_int_equal(a->line[1].won_msgs, 10);
	/* B's copies of 21..40 are duplicates now. */
	m = pkt(b, "FEED", 21, 20);
	assert_int_equal(msh_arb_rx(a, 1, &m, 40, sink_emit, &s), MSH_ARB_DUPLICATE);
	assert_int_equal(a->n_held, 0);
	assert_int_equal(a->n_free, 16);
	free(a);
}

static void
test_gap_lost_on_both(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	struct msh_arb_gap g;
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "FEED", 1, 10);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	m = pkt(b, "FEED", 16, 5);
	msh_arb_rx(a, 0, &m, 100, sink_emit, &s);
	msh_arb_rx(a, 1, &m, 150, sink_emit, &s); /* B's copy, also held: a duplicate */
	assert_int_equal(a->line[1].dup_msgs, 5);
	assert_false(msh_arb_tick(a, 1099, sink_emit, &s, &g)); /* not yet */
	assert_true(msh_arb_tick(a, 1100, sink_emit, &s, &g));
	assert_int_equal(g.first, 11);
	assert_int_equal(g.count, 5);
	assert_int_equal(s.n, 15);
	assert_int_equal(s.skipped, 5);
	assert_int_equal(s.bad, 0);
	assert_int_equal(a->stats.gaps_given_up, 1);
	assert_int_equal(a->stats.gap_msgs_lost, 5);
	assert_int_equal(a->next_seq, 21);
	/* A late copy of what was given up changes nothing. */
	m = pkt(b, "FEED", 11, 5);
	assert_int_equal(msh_arb_rx(a, 1, &m, 2000, sink_emit, &s), MSH_ARB_DUPLICATE);
	assert_int_equal(s.n, 15);
	free(a);
}

static void
test_heartbeat_tail_gap(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	struct msh_arb_gap g;
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "FEED", 1, 10);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	/* 11..14 lost, then the feed goes idle: a heartbeat says 15 is next. */
	m = pkt(b, "FEED", 15, MSH_MOLD_HEARTBEAT);
	assert_int_equal(msh_arb_rx(a, 0, &m, 10, sink_emit, &s), MSH_ARB_HEARTBEAT);
	assert_true(msh_arb_open_gap(a, &g));
	assert_int_equal(g.first, 11);
	assert_int_equal(g.count, 4);
	/* A re-request's answer fills it. */
	m = pkt(b, "FEED", 11, 4);
	assert_int_equal(msh_arb_fill(a, &m, 20, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(s.n, 14);
	assert_int_equal(a->stats.fill_msgs, 4);
	assert_false(msh_arb_open_gap(a, &g));
	/* Another tail gap, given up. */
	m = pkt(b, "FEED", 20, MSH_MOLD_HEARTBEAT);
	msh_arb_rx(a, 1, &m, 30, sink_emit, &s);
	assert_true(msh_arb_tick(a, 2000, sink_emit, &s, &g));
	assert_int_equal(g.first, 15);
	assert_int_equal(g.count, 5);
	assert_int_equal(a->next_seq, 20);
	assert_int_equal(a->line[0].heartbeats + a->line[1].heartbeats, 2);
	/* Two gaps with held packets, flushed at once (a feed being removed). */
	m = pkt(b, "FEED", 22, 2);
	msh_arb_rx(a, 0, &m, 3000, sink_emit, &s);
	m = pkt(b, "FEED", 30, 3);
	msh_arb_rx(a, 0, &m, 3001, sink_emit, &s);
	assert_int_equal(a->n_held, 2);
	assert_int_equal(msh_arb_flush(a, 3002, sink_emit, &s), 2 + 6);
	assert_false(msh_arb_open_gap(a, &g));
	assert_int_equal(a->n_held, 0);
	assert_int_equal(a->next_seq, 33);
	assert_int_equal(s.bad, 0);
	free(a);
}

static void
test_other_packetization(void **state)
{
	struct msh_arb *a = arb_new(16, 1000000);
	struct sink s = {0};
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	/* A sends 1..10 and 21..30, B sends 1..7, 8..17, 18..27: overlaps. */
	m = pkt(b, "FEED", 1, 10);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	m = pkt(b, "FEED", 21, 10);
	msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
	m = pkt(b, "FEED", 1, 7);
	assert_int_equal(msh_arb_rx(a, 1, &m, 2, sink_emit, &s), MSH_ARB_DUPLICATE);
	m = pkt(b, "FEED", 8, 10); /* 8..10 had, 11..17 new */
	assert_int_equal(msh_arb_rx(a, 1, &m, 3, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(s.n, 17);
	m = pkt(b, "FEED", 18, 10); /* 18..20 new, then held 21..30 follows */
	assert_int_equal(msh_arb_rx(a, 1, &m, 4, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(s.n, 30);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.skipped, 0);
	assert_int_equal(a->line[1].won_msgs, 10);
	assert_int_equal(a->line[1].dup_msgs, 7 + 3 + 7);
	free(a);
}

static void
test_hold_full(void **state)
{
	struct msh_arb *a = arb_new(2, 1000000);
	struct sink s = {0};
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "FEED", 1, 5);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	m = pkt(b, "FEED", 11, 5);
	assert_int_equal(msh_arb_rx(a, 0, &m, 1, sink_emit, &s), MSH_ARB_HELD);
	m = pkt(b, "FEED", 16, 5);
	assert_int_equal(msh_arb_rx(a, 0, &m, 2, sink_emit, &s), MSH_ARB_HELD);
	/* A third packet does not fit: the gap 6..10 is given up now. */
	m = pkt(b, "FEED", 21, 5);
	assert_int_equal(msh_arb_rx(a, 0, &m, 3, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(a->stats.hold_full, 1);
	assert_int_equal(a->stats.gap_msgs_lost, 5);
	assert_int_equal(s.n, 20);
	assert_int_equal(s.bad, 0);
	assert_int_equal(a->n_held, 0);
	free(a);
}

static void
test_sessions_and_end(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "DAY1", 1, 10);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	m = pkt(b, "DAY1", 20, 5); /* held, then the session ends with a gap */
	msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
	m = pkt(b, "DAY1", 25, MSH_MOLD_END_OF_SESSION);
	assert_int_equal(msh_arb_rx(a, 0, &m, 2, sink_emit, &s), MSH_ARB_END);
	assert_int_equal(s.n, 15); /* the held 20..24 went out */
	assert_int_equal(a->stats.gap_msgs_lost, 9);
	assert_int_equal(a->stats.ends, 1);
	m = pkt(b, "DAY1", 25, 3);
	assert_int_equal(msh_arb_rx(a, 1, &m, 3, sink_emit, &s), MSH_ARB_DROPPED);
	assert_int_equal(a->line[1].after_end, 1);
	/* Start of a new day: the feed follows it from its first packet. */
	m = pkt(b, "DAY2", 1, 4);
	assert_int_equal(msh_arb_rx(a, 1, &m, 4, sink_emit, &s), MSH_ARB_NEW_SESSION);
	assert_int_equal(a->stats.session_changes, 1);
	assert_int_equal(a->next_seq, 5);
	/* A straggler of the old day on the other line is dropped. */
	m = pkt(b, "DAY1", 30, 3);
	assert_int_equal(msh_arb_rx(a, 0, &m, 5, sink_emit, &s), MSH_ARB_DROPPED);
	assert_int_equal(a->line[0].old_session, 1);
	assert_int_equal(a->next_seq, 5);
	free(a);
}

static void
test_bad_input_and_refusal(void **state)
{
	struct msh_arb *a = arb_new(16, 1000);
	struct sink s = {0};
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	m = pkt(b, "FEED", 1, 5);
	msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
	m = pkt(b, "FEED", 5000000, 5); /* far beyond max_jump */
	assert_int_equal(msh_arb_rx(a, 0, &m, 1, sink_emit, &s), MSH_ARB_DROPPED);
	assert_int_equal(a->line[0].far_future, 1);
	assert_false(a->gap_open);
	assert_int_equal(a->n_held, 0);
	s.refuse = true; /* a full shard: counted, the feed goes on */
	m = pkt(b, "FEED", 6, 5);
	assert_int_equal(msh_arb_rx(a, 0, &m, 2, sink_emit, &s), MSH_ARB_EMITTED);
	assert_int_equal(a->stats.emit_refused, 5);
	assert_int_equal(a->next_seq, 11);
	/* A fill before anything started is ignored. */
	{
		struct msh_arb *a2 = arb_new(4, 10);

		assert_int_equal(msh_arb_fill(a2, &m, 0, sink_emit, &s), MSH_ARB_DROPPED);
		free(a2);
	}
	free(a);
}

/* The model: N upstream messages in packets of 1..20, sent on A and B; each
 * line drops 5% independently; B runs behind A by 0..SKEW packets. Ticks
 * come with the packets, the gap timeout exceeds the largest skew, so a gap
 * is given up only when both lines lost it. */
static void
test_model_two_lossy_lines(void **state)
{
	enum { N = 60000, SKEW = 24, PKTS = N };
	static uint64_t pseq[PKTS];
	static uint16_t pcnt[PKTS];
	static bool lost_a[PKTS], lost_b[PKTS];
	uint64_t both_lost_msgs = 0, now = 0, premature = 0;
	uint32_t np = 0;
	uint64_t seq = 1;
	struct msh_arb *a = arb_new(256, 1000ull * (SKEW + 4));
	struct sink s = {0};
	uint8_t b[1500];

	(void)state;
	srandom(20261206);
	while (seq <= N) {
		uint16_t c = (uint16_t)(1 + random() % 20);

		if (seq + c - 1 > N)
			c = (uint16_t)(N - seq + 1);
		pseq[np] = seq;
		pcnt[np] = c;
		lost_a[np] = random() % 100 < 5;
		lost_b[np] = random() % 100 < 5;
		/* The first and last packets arrive on A: the stream's ends are known. */
		if (np == 0)
			lost_a[np] = false;
		seq += c;
		np++;
	}
	lost_a[np - 1] = false;
	for (uint32_t i = 0; i < np; i++)
		if (lost_a[i] && lost_b[i])
			both_lost_msgs += pcnt[i];
	/* Interleave: at step t, A sends packet t, B sends packet t - delay(t). */
	{
		uint32_t bi = 0;

		for (uint32_t t = 0; t < np + SKEW + 1; t++) {
			struct msh_arb_gap g;

			now += 1000;
			if (t < np && !lost_a[t]) {
				struct msh_mold m = pkt(b, "FEED", pseq[t], pcnt[t]);

				msh_arb_rx(a, 0, &m, now, sink_emit, &s);
			}
			/* B catches up at a random pace, never more than SKEW behind. */
			while (bi < np && bi <= t && (t - bi >= SKEW || random() % 2 == 0)) {
				if (!lost_b[bi]) {
					struct msh_mold m = pkt(b, "FEED", pseq[bi], pcnt[bi]);

					msh_arb_rx(a, 1, &m, now + 100, sink_emit, &s);
				}
				bi++;
			}
			if (msh_arb_tick(a, now, sink_emit, &s, &g)) {
				for (uint32_t k = 0; k < np; k++)
					if (pseq[k] >= g.first && pseq[k] < g.first + g.count &&
					    !(lost_a[k] && lost_b[k]) && ++premature)
						fprintf(stderr, "premature give-up: step %u gap %lu+%lu holds packet %u (seq %lu, lost on A %d, "
							"on B %d), B at %u, gap since %lu, now %lu\n",
							t, (unsigned long)g.first, (unsigned long)g.count, k,
							(unsigned long)pseq[k], lost_a[k], lost_b[k], bi,
							(unsigned long)g.since_ns, (unsigned long)now);
			}
		}
		while (bi < np) {
			if (!lost_b[bi]) {
				struct msh_mold m = pkt(b, "FEED", pseq[bi], pcnt[bi]);

				msh_arb_rx(a, 1, &m, now, sink_emit, &s);
			}
			bi++;
		}
		for (int k = 0; k < 3; k++) {
			struct msh_arb_gap g;

			now += 1000ull * (SKEW + 5);
			msh_arb_tick(a, now, sink_emit, &s, &g);
		}
	}
	assert_int_equal(premature, 0); /* no gap given up that a line still delivered */
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.first_seq, 1);
	assert_int_equal(a->next_seq, N + 1);
	assert_int_equal(s.n + s.skipped, N);
	assert_int_equal(s.skipped, both_lost_msgs);
	assert_int_equal(a->stats.gap_msgs_lost, both_lost_msgs);
	assert_int_equal(a->stats.emitted_msgs, N - both_lost_msgs);
	assert_int_equal(a->line[0].won_msgs + a->line[1].won_msgs, N - both_lost_msgs);
	assert_int_equal(a->n_held, 0);
	assert_int_equal(a->n_free, 256);
	assert_true(a->line[1].late_fill_msgs > 0);
	assert_true(a->stats.gaps_filled > 0);
	assert_true(both_lost_msgs > 0); /* the seed must exercise a double loss */
	free(a);
}

/* Review findings, each a scenario that went wrong before its fix. */
static void
test_review_regressions(void **state)
{
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	{
		/* A packet partly covered by held ones is credited only for what
		 * it brings first: won + dup = msgs on each line. */
		struct msh_arb *a = arb_new(16, 1000000);
		struct sink s = {0};

		m = pkt(b, "FEED", 1, 4);
		msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
		m = pkt(b, "FEED", 10, 10);
		msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
		m = pkt(b, "FEED", 15, 10);
		msh_arb_rx(a, 1, &m, 2, sink_emit, &s);
		m = pkt(b, "FEED", 5, 5);
		msh_arb_rx(a, 1, &m, 3, sink_emit, &s);
		assert_int_equal(s.n, 24);
		assert_int_equal(a->line[0].won_msgs + a->line[1].won_msgs, 24);
		assert_int_equal(a->line[1].won_msgs + a->line[1].dup_msgs, a->line[1].msgs);
		free(a);
	}
	{
		/* Hold full with the packet in hand below the first held one: only
		 * what nobody has is lost, the packet itself goes out. */
		struct msh_arb *a = arb_new(1, 1000000);
		struct sink s = {0};

		m = pkt(b, "FEED", 1, 1);
		msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
		m = pkt(b, "FEED", 10, 1);
		msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
		m = pkt(b, "FEED", 5, 1);
		msh_arb_rx(a, 1, &m, 2, sink_emit, &s);
		assert_int_equal(s.n, 2);
		assert_int_equal(a->stats.gap_msgs_lost, 3); /* 2, 3, 4 */
		assert_int_equal(a->n_held, 1);              /* 10 still waits */
		free(a);
	}
	{
		/* A session change ends the old one: held packets go out, its gaps
		 * are counted lost; no skew sample pairs copies across sessions. */
		struct msh_arb *a = arb_new(16, 1000);
		struct sink s = {0};

		m = pkt(b, "DAY1", 1, 4);
		msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
		m = pkt(b, "DAY1", 10, 5);
		msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
		m = pkt(b, "DAY2", 1, 4);
		assert_int_equal(msh_arb_rx(a, 0, &m, 1000000000, sink_emit, &s),
				 MSH_ARB_NEW_SESSION);
		assert_int_equal(a->stats.emitted_msgs, 4 + 5 + 4);
		assert_int_equal(a->stats.gap_msgs_lost, 5);
		m = pkt(b, "DAY2", 1, 4);
		msh_arb_rx(a, 1, &m, 1000000100, sink_emit, &s);
		assert_int_equal(a->skew[1].n, 1);
		assert_int_equal(a->skew[1].max, 100);
		free(a);
	}
	{
		/* End of session gives up every gap, not only the first. */
		struct msh_arb *a = arb_new(16, 1000);
		struct sink s = {0};

		m = pkt(b, "FEED", 1, 4);
		msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
		m = pkt(b, "FEED", 10, 2);
		msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
		m = pkt(b, "FEED", 20, 2);
		msh_arb_rx(a, 0, &m, 2, sink_emit, &s);
		m = pkt(b, "FEED", 22, MSH_MOLD_END_OF_SESSION);
		assert_int_equal(msh_arb_rx(a, 0, &m, 3, sink_emit, &s), MSH_ARB_END);
		assert_int_equal(a->n_held, 0);
		assert_false(a->gap_open);
		assert_int_equal(a->stats.gap_msgs_lost, 5 + 8);
		assert_int_equal(a->stats.emitted_msgs, 8);
		free(a);
	}
	{
		/* A fill of another session, or a fill that is not data, changes
		 * nothing; fill_msgs counts only the fill's own messages. */
		struct msh_arb *a = arb_new(16, 1000000);
		struct sink s = {0};

		m = pkt(b, "FEED", 1, 4);
		msh_arb_rx(a, 0, &m, 0, sink_emit, &s);
		m = pkt(b, "FEED", 10, 10);
		msh_arb_rx(a, 0, &m, 1, sink_emit, &s);
		m = pkt(b, "XXXX", 5, 5);
		assert_int_equal(msh_arb_fill(a, &m, 2, sink_emit, &s), MSH_ARB_DROPPED);
		m = pkt(b, "FEED", 5, MSH_MOLD_END_OF_SESSION);
		assert_int_equal(msh_arb_fill(a, &m, 2, sink_emit, &s), MSH_ARB_DROPPED);
		assert_false(a->ended);
		m = pkt(b, "FEED", 5, 5);
		assert_int_equal(msh_arb_fill(a, &m, 3, sink_emit, &s), MSH_ARB_EMITTED);
		assert_int_equal(a->stats.fill_msgs, 5);
		assert_int_equal(s.n, 19);
		free(a);
	}
	{
		/* Sequence numbers that would wrap are bad input, even first. */
		struct msh_arb *a = arb_new(4, 1000);
		struct sink s = {0};
		struct msh_name n;
		uint8_t raw[64];

		msh_name_from_str(&n, "FEED");
		msh_mold_hdr_build(raw, MSH_MOLD_HDR_LEN, &n, UINT64_MAX - 1, 3);
		for (int i = 0; i < 3; i++) {
			msh_store_be16(raw + MSH_MOLD_HDR_LEN + 3 * i, 1);
			raw[MSH_MOLD_HDR_LEN + 3 * i + 2] = 0;
		}
		assert_int_equal(msh_mold_parse(raw, MSH_MOLD_HDR_LEN + 9, &m), 0);
		assert_int_equal(msh_arb_rx(a, 0, &m, 0, sink_emit, &s), MSH_ARB_DROPPED);
		assert_int_equal(a->line[0].far_future, 1);
		assert_false(a->started);
		free(a);
	}
}

/* Differential: each line packetizes the upstream on its own (1..30
 * messages a packet), loses 0-15% on its own, runs a random skew behind; a
 * big hold with no timeout, then a tiny hold with short timeouts. Every run:
 * exactly once, in order, byte for byte; emitted + lost = total; never a
 * held packet without an open gap; won + dup = msgs per line; with the big
 * hold, exactly what both lines lost is given up. */
struct dpkt {
	uint64_t seq, t;
	uint16_t cnt;
	uint8_t line;
	bool lost;
};

static void
test_differential(void **state)
{
	enum { NMAX = 5000 };
	static struct dpkt pk[2][NMAX];
	static bool lost_on[2][NMAX + 2];
	uint8_t b[1500];

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		for (int r = 0; r < 300; r++) {
			uint32_t np[2], n, ia = 0, ib = 0;
			struct msh_arb *a;
			struct sink s = {0};
			uint64_t both = 0, skew;
			int maxc, loss;

			srandom((unsigned int)(r * 7919 + 1 + mode * 1000003));
			n = 2000 + (uint32_t)(random() % 3000);
			a = arb_new(mode ? 1 + (uint32_t)(random() % 6) : 4096,
				    mode ? 500 + (uint64_t)(random() % 20000) : UINT64_MAX / 4);
			skew = (uint64_t)(random() % 5000);
			maxc = 1 + (int)(random() % 30);
			loss = (int)(random() % 15);
			for (int l = 0; l < 2; l++) {
				uint64_t q = 1;

				np[l] = 0;
				while (q <= n) {
					struct dpkt *d = &pk[l][np[l]++];
					uint16_t c = (uint16_t)(1 + random() % maxc);

					if (q + c - 1 > n)
						c = (uint16_t)(n - q + 1);
					d->seq = q;
					d->cnt = c;
					d->line = (uint8_t)l;
					d->t = (q + c - 1) * 100 +
					       (l ? skew + (uint64_t)(random() % 300)
						  : (uint64_t)(random() % 300));
					d->lost = random() % 100 < loss;
					q += c;
				}
				/* The stream's ends arrive on A; B's first is lost. */
				if (l == 0) {
					pk[0][0].lost = false;
					pk[0][0].t = 0;
					pk[0][np[0] - 1].lost = false;
				} else {
					pk[1][0].lost = true;
				}
				for (uint32_t i = 1; i < np[l]; i++) /* FIFO per line */
					if (pk[l][i].t < pk[l][i - 1].t)
						pk[l][i].t = pk[l][i - 1].t;
				for (uint32_t i = 0; i < np[l]; i++)
					for (uint16_t k = 0; k < pk[l][i].cnt; k++)
						lost_on[l][pk[l][i].seq + k] = pk[l][i].lost;
			}
			for (uint32_t q = 1; q <= n; q++)
				both += lost_on[0][q] && lost_on[1][q];
			while (ia < np[0] || ib < np[1]) {
				struct dpkt *d = ib >= np[1] || (ia < np[0] && pk[0][ia].t <= pk[1][ib].t)
							 ? &pk[0][ia++]
							 : &pk[1][ib++];

				msh_arb_tick(a, d->t, sink_emit, &s, NULL);
				if (!d->lost) {
					struct msh_mold m = pkt(b, "FEED", d->seq, d->cnt);

					msh_arb_rx(a, d->line, &m, d->t, sink_emit, &s);
				}
				if (a->n_held > 0 && !a->gap_open)
					fail_msg("run %d mode %d: held packets and no gap", r, mode);
			}
			msh_arb_flush(a, UINT64_MAX / 2, sink_emit, &s);
			if (s.bad != 0 || a->stats.emitted_msgs + a->stats.gap_msgs_lost != n ||
			    s.n != a->stats.emitted_msgs || s.skipped != a->stats.gap_msgs_lost ||
			    a->line[0].won_msgs + a->line[1].won_msgs != a->stats.emitted_msgs ||
			    a->line[0].won_msgs + a->line[0].dup_msgs != a->line[0].msgs ||
			    a->line[1].won_msgs + a->line[1].dup_msgs != a->line[1].msgs ||
			    (mode == 0 && a->stats.gap_msgs_lost != both))
				fail_msg("run %d mode %d: n %u emitted %lu lost %lu both %lu bad %u "
					 "won %lu+%lu dup %lu+%lu msgs %lu+%lu", r, mode, n,
					 (unsigned long)a->stats.emitted_msgs,
					 (unsigned long)a->stats.gap_msgs_lost, (unsigned long)both,
					 s.bad, (unsigned long)a->line[0].won_msgs,
					 (unsigned long)a->line[1].won_msgs,
					 (unsigned long)a->line[0].dup_msgs,
					 (unsigned long)a->line[1].dup_msgs,
					 (unsigned long)a->line[0].msgs,
					 (unsigned long)a->line[1].msgs);
			free(a);
		}
	}
}

/* The lost hook is told each gap given up (tick, full hold, end, flush)
 * before what follows it is emitted; emit sees each packet's receive time. */
struct hooked {
	struct sink s;
	struct msh_arb *a;
	struct msh_arb_gap lost[8];
	uint64_t lost_at_n[8]; /* messages emitted when the hook ran */
	unsigned int n_lost;
	uint64_t rx_ns[64];    /* emit_rx_ns of each emit call */
	unsigned int n_emit;
};

static int
hooked_emit(void *arg, uint64_t seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct hooked *h = arg;

	if (h->n_emit < 64)
		h->rx_ns[h->n_emit++] = h->a->emit_rx_ns;
	return sink_emit(&h->s, seq, blocks, len, count);
}

static void
hooked_lost(void *arg, const struct msh_arb_gap *g)
{
	struct hooked *h = arg;

	assert_true(h->n_lost < 8);
	h->lost_at_n[h->n_lost] = h->s.n;
	h->lost[h->n_lost++] = *g;
}

static void
test_lost_hook_and_rx_time(void **state)
{
	struct hooked h;
	uint8_t b[1500];
	struct msh_mold m;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.a = arb_new(2, 1000);
	msh_arb_set_lost_hook(h.a, hooked_lost);
	m = pkt(b, "FEED", 1, 4);
	msh_arb_rx(h.a, 0, &m, 100, hooked_emit, &h);
	m = pkt(b, "FEED", 8, 2); /* gap 5-7, held */
	msh_arb_rx(h.a, 1, &m, 200, hooked_emit, &h);
	assert_int_equal(h.n_emit, 1);
	assert_int_equal(h.rx_ns[0], 100);
	assert_true(msh_arb_tick(h.a, 1300, hooked_emit, &h, NULL));
	/* Told first, with the range, then the held packet at its own time. */
	assert_int_equal(h.n_lost, 1);
	assert_int_equal(h.lost[0].first, 5);
	assert_int_equal(h.lost[0].count, 3);
	assert_int_equal(h.lost_at_n[0], 4);
	assert_int_equal(h.n_emit, 2);
	assert_int_equal(h.rx_ns[1], 200);
	/* A full hold (2 slots) gives up early: the hook hears that too. */
	m = pkt(b, "FEED", 12, 1);
	msh_arb_rx(h.a, 0, &m, 1400, hooked_emit, &h);
	m = pkt(b, "FEED", 14, 1);
	msh_arb_rx(h.a, 0, &m, 1500, hooked_emit, &h);
	m = pkt(b, "FEED", 16, 1);
	msh_arb_rx(h.a, 0, &m, 1600, hooked_emit, &h);
	assert_int_equal(h.a->stats.hold_full, 1);
	assert_int_equal(h.n_lost, 2);
	assert_int_equal(h.lost[1].first, 10);
	assert_int_equal(h.lost[1].count, 2);
	/* Flush: every remaining gap, each told once. */
	msh_arb_flush(h.a, 1700, hooked_emit, &h);
	assert_int_equal(h.n_lost, 4);
	assert_int_equal(h.lost[2].first, 13);
	assert_int_equal(h.lost[3].first, 15);
	assert_int_equal(h.a->stats.gaps_given_up, 4);
	assert_int_equal(h.s.bad, 0);
	assert_int_equal(h.s.n, 4 + 2 + 3);
	free(h.a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf),
		cmocka_unit_test(test_one_line),
		cmocka_unit_test(test_duplicates_and_skew),
		cmocka_unit_test(test_gap_filled_by_other_line),
		cmocka_unit_test(test_gap_lost_on_both),
		cmocka_unit_test(test_heartbeat_tail_gap),
		cmocka_unit_test(test_other_packetization),
		cmocka_unit_test(test_hold_full),
		cmocka_unit_test(test_sessions_and_end),
		cmocka_unit_test(test_bad_input_and_refusal),
		cmocka_unit_test(test_model_two_lossy_lines),
		cmocka_unit_test(test_review_regressions),
		cmocka_unit_test(test_differential),
		cmocka_unit_test(test_lost_hook_and_rx_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
