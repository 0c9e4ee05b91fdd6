/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/shard: region layout, publish (dedupe + all-or-nothing
 * append), seal by size, age and command, reads across segments, reject and
 * evict at max_bytes, live limit changes, hooks; the secondary's side:
 * append at given sequence numbers (overlap, gap, full), truncation inside
 * the active segment, across sealed ones and below what memory retains, its
 * effect on publisher dedupe, and reset.
 */
#include <errno.h>

#include "shard.h"
#include "testutil.h"
#include "wire.h"

#define SEG 8192u

static uint16_t
len_100(uint64_t i)
{
	(void)i;
	return 100;
}

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 300);
}

static void
conf_small(struct msh_shard_conf *c, uint32_t segments, enum msh_on_full on_full)
{
	memset(c, 0, sizeof(*c));
	msh_name_from_str(&c->name, "t");
	c->segment_bytes = SEG;
	c->max_bytes = (uint64_t)segments * SEG;
	c->on_full = on_full;
	c->max_message = 1438;
	c->max_publishers = 16;
	c->replicas = 1;
	c->acks = MSH_ACKS_ONE;
}

static struct msh_shard *
shard_new(const struct msh_shard_conf *c)
{
	size_t len = msh_shard_footprint(c);
	void *mem;
	struct msh_shard *s;

	assert_true(len > 0);
	mem = aligned_alloc(64, MSH_ALIGN_UP(len, (size_t)64));
	assert_non_null(mem);
	s = msh_shard_init(mem, len, c, 1);
	assert_non_null(s);
	return s;
}

/* Publish messages [from, from + n) as one datagram of publisher 7. */
static void
pub(struct msh_shard *s, uint64_t from, uint32_t n, uint16_t (*len_of)(uint64_t), uint64_t now,
    struct msh_pub_result *r)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, from, n, len_of);

	msh_shard_publish(s, 7, from, buf, len, n, now, r);
}

/* Read every retained message from @p from to the end, checking contents. */
static uint64_t
read_all(const struct msh_shard *s, uint64_t from, uint16_t (*len_of)(uint64_t))
{
	struct msh_span sp;
	uint64_t seq = from;
	int n;

	while ((n = msh_shard_read(s, seq, 64, 1400, &sp)) > 0) {
		assert_true(sp.first_seq == seq);
		t_check_blocks(sp.data, sp.len, seq, (uint32_t)n, len_of);
		seq += (uint64_t)n;
	}
	assert_int_equal(n, 0);
	return seq;
}

static void
test_footprint_and_init_errors(void **state)
{
	struct msh_shard_conf c;
	uint8_t *mem;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	assert_true(msh_shard_footprint(&c) >= 4 * SEG);
	c.max_bytes = SEG; /* fewer than two segments */
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.segment_bytes = 1024; /* below the minimum slot */
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.max_publishers = 0;
	assert_int_equal(msh_shard_footprint(&c), 0);
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	c.max_message = SEG; /* a segment could not hold one message */
	assert_int_equal(msh_shard_footprint(&c), 0);

	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	mem = aligned_alloc(64, msh_shard_footprint(&c) + 64);
	errno = 0;
	assert_null(msh_shard_init(mem, msh_shard_footprint(&c) - 1, &c, 1));
	assert_int_equal(errno, EINVAL);
	assert_null(msh_shard_init(mem + 8, msh_shard_footprint(&c), &c, 1));
	assert_null(msh_shard_init(mem, msh_shard_footprint(&c), &c, 0));
	assert_non_null(msh_shard_init(mem, msh_shard_footprint(&c), &c, 1));
	free(mem);
}

static void
test_publish_and_read_across_segments(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;

	(void)state;
	conf_small(&c, 16, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	assert_int_equal(msh_shard_read(s, 1, 10, 1400, &(struct msh_span){0}), 0);
	while (seq < 500) {
		uint32_t n = 1 + (uint32_t)(seq % 9);

		pub(s, seq, n, len_var, seq, &r);
		assert_int_equal(r.status, MSH_S_OK);
		assert_int_equal(r.appended, n);
		assert_true(r.first_seq == seq); /* one publisher: shard_seq == publisher_seq */
		seq += n;
	}
	assert_true(s->seg_n > 3); /* crossed several segments */
	assert_true(s->stats.sealed_size == s->seg_n - 1);
	assert_true(s->next_seq == seq);
	assert_true(msh_shard_first_seq(s) == 1);
	assert_true(read_all(s, 1, len_var) == seq);
	/* Start in the middle of each segment too. */
	for (uint64_t q = 1; q < seq; q += 13)
		assert_true(read_all(s, q, len_var) == seq);
	/* Segments chain without holes: each ends where the next begins. */
	{
		const struct msh_segment *a = msh_shard_find(s, 1);
		uint32_t n = 0;

		while (a != NULL) {
			n++;
			assert_true(a->count > 0);
			if (msh_segment_end_seq(a) == s->next_seq)
				break;
			const struct msh_segment *b = msh_shard_find(s, msh_segment_end_seq(a));

			assert_non_null(b);
			assert_true(b->first_seq == msh_segment_end_seq(a));
			a = b;
		}
		assert_int_equal(n, s->seg_n);
	}
	assert_true(s->stats.appended_msgs == seq - 1);
	free(s);
}

static void
test_batch_spanning_segments_is_contiguous(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	/* 8192-byte slots hold 69 messages of 100 bytes (118 bytes each with
	 * block header and index); a batch of 150 spans three segments. */
	pub(s, 1, 150, len_100, 1, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 150);
	assert_int_equal(s->seg_n, 3);
	assert_true(read_all(s, 1, len_100) == 151);
	free(s);
}

static void
test_reject_at_limit_is_all_or_nothing(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1, next;

	(void)state;
	conf_small(&c, 2, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	for (;;) {
		pub(s, seq, 10, len_100, 0, &r);
		if (r.status != MSH_S_OK)
			break;
		seq += 10;
	}
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	assert_int_equal(r.appended, 0);
	assert_true(r.first_seq == 0);
	next = s->next_seq;
	assert_true(next == seq); /* nothing of the refused datagram went in */
	assert_true(s->stats.full_rejects == 1);
	assert_true(s->stats.full_reject_msgs == 10);
	/* The refused datagram is not a duplicate when retried: the
	 * publisher did not advance. Once room is made, the retry goes in at
	 * the next shard_seq. */
	pub(s, seq, 10, len_100, 0, &r);
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	assert_true(s->stats.dup_datagrams == 0);
	msh_shard_set_on_full(s, MSH_ON_FULL_EVICT);
	pub(s, seq, 10, len_100, 0, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 10);
	assert_true(r.first_seq == next);
	assert_true(s->stats.evicted_segments == 1);
	msh_shard_set_on_full(s, MSH_ON_FULL_REJECT);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == s->next_seq);
	free(s);
}

static int evicted_calls;
static uint64_t evicted_last_first;

static void
on_evict(void *ctx, struct msh_shard *s, struct msh_segment *seg)
{
	(void)ctx;
	(void)s;
	assert_true(msh_segment_sealed(seg));
	evicted_calls++;
	evicted_last_first = seg->first_seq;
}

static void
test_evict_drops_oldest(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;
	struct msh_span sp;

	(void)state;
	conf_small(&c, 3, MSH_ON_FULL_EVICT);
	s = shard_new(&c);
	evicted_calls = 0;
	msh_shard_set_hooks(s, NULL, on_evict, NULL);
	while (seq < 2000) {
		pub(s, seq, 10, len_100, 0, &r);
		assert_int_equal(r.status, MSH_S_OK);
		seq += 10;
	}
	assert_true(evicted_calls > 0);
	assert_true(s->stats.evicted_segments == (uint64_t)evicted_calls);
	assert_true(s->seg_n <= 3);
	assert_true(msh_shard_mem_used(s) <= c.max_bytes);
	/* What remains is the newest, contiguous, up to next_seq. */
	assert_true(msh_shard_first_seq(s) > evicted_last_first);
	assert_true(s->stats.evicted_msgs == msh_shard_first_seq(s) - 1);
	assert_int_equal(msh_shard_read(s, 1, 1, 1400, &sp), -ERANGE);
	assert_int_equal(msh_shard_read(s, msh_shard_first_seq(s) - 1, 1, 1400, &sp), -ERANGE);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == seq);
	free(s);
}

static int sealed_calls[3];

static void
on_seal(void *ctx, struct msh_shard *s, struct msh_segment *seg, enum msh_seal_reason why)
{
	(void)ctx;
	(void)s;
	assert_true(msh_segment_sealed(seg));
	sealed_calls[why]++;
}

static void
test_seal_by_age_and_command(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	c.segment_age_ns = 1000;
	s = shard_new(&c);
	memset(sealed_calls, 0, sizeof(sealed_calls));
	msh_shard_set_hooks(s, on_seal, NULL, NULL);
	assert_int_equal(msh_shard_tick(s, 5000), 0); /* no segment yet */
	assert_int_equal(msh_shard_seal(s, 5000), -ENODATA);
	pub(s, 1, 5, len_100, 10000, &r);
	assert_int_equal(msh_shard_tick(s, 10999), 0);
	assert_int_equal(msh_shard_tick(s, 11000), 1);
	assert_int_equal(sealed_calls[MSH_SEAL_AGE], 1);
	assert_null(s->active);
	assert_int_equal(msh_shard_tick(s, 99999), 0); /* nothing open: no empty segments */
	pub(s, 6, 5, len_100, 20000, &r);
	assert_int_equal(s->seg_n, 2);
	assert_true(s->active->first_seq == 6);
	assert_int_equal(msh_shard_seal(s, 20001), 0);
	assert_int_equal(sealed_calls[MSH_SEAL_MANUAL], 1);
	assert_true(s->stats.sealed_age == 1 && s->stats.sealed_manual == 1);
	assert_true(read_all(s, 1, len_100) == 11);
	free(s);
}

static void
test_dedupe_through_publish(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	pub(s, 1, 10, len_100, 0, &r);
	assert_int_equal(r.appended, 10);
	pub(s, 1, 10, len_100, 0, &r); /* whole duplicate */
	assert_int_equal(r.status, MSH_S_DUPLICATE);
	assert_int_equal(r.appended, 0);
	assert_true(r.first_seq == 0);
	pub(s, 5, 10, len_100, 0, &r); /* 5..14: 11..14 are new */
	assert_int_equal(r.status, MSH_S_OK);
	assert_int_equal(r.appended, 4);
	assert_true(r.first_seq == 11);
	pub(s, 20, 2, len_100, 0, &r); /* gap of 15..19 */
	assert_int_equal(r.status, MSH_S_OK);
	assert_true(r.gap == 5);
	assert_true(r.first_seq == 15); /* shard_seq has no holes */
	assert_true(s->stats.dup_datagrams == 1);
	assert_true(s->stats.dup_msgs == 10 + 6);
	assert_true(s->stats.partial_overlaps == 1);
	assert_true(s->stats.publisher_gaps == 1 && s->stats.publisher_gap_msgs == 5);
	assert_true(s->next_seq == 17);
	free(s);
}

static void
test_live_limit_changes(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t seq = 1;

	(void)state;
	conf_small(&c, 6, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	assert_int_equal(msh_shard_set_max_bytes(s, 7 * (uint64_t)SEG), -EINVAL); /* beyond reservation */
	assert_int_equal(msh_shard_set_max_bytes(s, SEG), -EINVAL);
	while (s->seg_n < 5) {
		pub(s, seq, 10, len_100, 0, &r);
		seq += 10;
	}
	/* Shrink below what is held: reject refuses until memory frees. */
	assert_int_equal(msh_shard_set_max_bytes(s, 2 * (uint64_t)SEG), 0);
	do {
		pub(s, seq, 10, len_100, 0, &r);
		if (r.status == MSH_S_OK)
			seq += 10;
	} while (r.status == MSH_S_OK);
	assert_int_equal(r.status, MSH_S_SHARD_FULL);
	/* Switch to evict: the oldest go, the limit holds. */
	msh_shard_set_on_full(s, MSH_ON_FULL_EVICT);
	for (int k = 0; k < 50; k++) {
		pub(s, seq, 10, len_100, 0, &r);
		assert_int_equal(r.status, MSH_S_OK);
		seq += 10;
	}
	assert_true(s->seg_n <= 2);
	assert_true(read_all(s, msh_shard_first_seq(s), len_100) == seq);
	free(s);
}

/* Random batches, random sizes, random reads against a model of what must
 * be retained. */
static void
test_random_against_model(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t rng = 0x9e3779b97f4a7c15ull, seq = 1;

	(void)state;
	conf_small(&c, 5, MSH_ON_FULL_EVICT);
	s = shard_new(&c);
	for (int k = 0; k < 20000; k++) {
		uint32_t n = 1 + (uint32_t)(t_rand(&rng) % 40);
		struct msh_span sp;
		uint64_t first, q;
		int got;

		pub(s, seq, n, len_var, (uint64_t)k, &r);
		assert_int_equal(r.status, MSH_S_OK);
		assert_true(r.first_seq == seq);
		seq += n;
		first = msh_shard_first_seq(s);
		assert_true(first <= seq);
		q = first + t_rand(&rng) % (seq - first);
		got = msh_shard_read(s, q, 1 + (uint32_t)(t_rand(&rng) % 50), 1400, &sp);
		assert_true(got > 0);
		t_check_blocks(sp.data, sp.len, q, (uint32_t)got, len_var);
		if (first > 1)
			assert_int_equal(msh_shard_read(s, first - 1, 1, 1400, &sp), -ERANGE);
	}
	assert_true(s->stats.evicted_msgs + (s->next_seq - msh_shard_first_seq(s)) ==
		    s->stats.appended_msgs);
	free(s);
}

/* ---- replication support: append_at, truncate, reset ----------------- */

/* Messages of a second history: same lengths, other bytes (t_msg_byte of a
 * far-away index), so a test sees which history a seq holds. */
#define OTHER 1000000u

static uint32_t
blocks_of(uint8_t *buf, uint64_t first, uint32_t n, uint16_t (*len_of)(uint64_t))
{
	return t_blocks(buf, first, n, len_of);
}

static void
pub_as(struct msh_shard *s, uint32_t id, uint64_t pseq, uint64_t content, uint32_t n,
       uint64_t now, struct msh_pub_result *r)
{
	static uint8_t buf[70000];
	uint32_t len = t_blocks(buf, content, n, len_100);

	msh_shard_publish(s, id, pseq, buf, len, n, now, r);
}

/* Check that seq .. seq+n-1 hold the messages of content index from.. */
static void
check_range(const struct msh_shard *s, uint64_t seq, uint64_t from, uint64_t n,
	    uint16_t (*len_of)(uint64_t))
{
	struct msh_span sp;

	while (n > 0) {
		int got = msh_shard_read(s, seq, (uint32_t)MSH_MIN(n, 64u), 65535, &sp);

		assert_true(got > 0);
		t_check_blocks(sp.data, sp.len, from, (uint32_t)got, len_of);
		seq += (uint64_t)got;
		from += (uint64_t)got;
		n -= (uint64_t)got;
	}
}

static void
test_append_at_exact_overlap_gap(void **state)
{
	static uint8_t buf[70000];
	struct msh_shard_conf c;
	struct msh_shard *s, *p;
	struct msh_pub_result r;
	uint32_t len;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	len = blocks_of(buf, 1, 10, len_var);
	assert_int_equal(msh_shard_append_at(s, 1, buf, len, 10, 5), 0);
	assert_true(s->next_seq == 11);
	/* The same run again, a run overlapping the end, one starting inside:
	 * "already have (the start of) it", nothing appended. */
	assert_int_equal(msh_shard_append_at(s, 1, buf, len, 10, 5), -EALREADY);
	len = blocks_of(buf, 8, 6, len_var);
	assert_int_equal(msh_shard_append_at(s, 8, buf, len, 6, 5), -EALREADY);
	/* A gap: 11 is missing. */
	len = blocks_of(buf, 12, 3, len_var);
	assert_int_equal(msh_shard_append_at(s, 12, buf, len, 3, 5), -ENOMSG);
	assert_int_equal(msh_shard_append_at(s, 11, buf, len, 0, 5), -EINVAL);
	assert_int_equal(msh_shard_append_at(s, 0, buf, len, 3, 5), -EINVAL);
	assert_int_equal(msh_shard_append_at(s, UINT64_MAX - 1, buf, len, 3, 5), -EINVAL);
	assert_true(s->next_seq == 11);
	assert_true(s->stats.appended_msgs == 10);
	len = blocks_of(buf, 11, 300, len_var);
	assert_int_equal(msh_shard_append_at(s, 11, buf, len, 300, 6), 0);
	assert_true(read_all(s, 1, len_var) == 311);
	assert_true(msh_shard_ts(s, 5) == 5 && msh_shard_ts(s, 11) == 6);
	assert_true(msh_shard_ts(s, 311) == 0);

	/* Fed the same messages in other batches, a secondary lays its
	 * segments out exactly as the primary did. */
	p = shard_new(&c);
	for (uint64_t q = 1; q < 311;) {
		uint32_t n = (uint32_t)MSH_MIN(1 + q % 13, 311 - q);

		pub(p, q, n, len_var, 0, &r);
		assert_int_equal(r.status, MSH_S_OK);
		q += n;
	}
	assert_int_equal(p->seg_n, s->seg_n);
	for (uint64_t q = 1; q < 311; q++)
		assert_true(msh_shard_find(p, q)->first_seq == msh_shard_find(s, q)->first_seq);
	free(p);
	free(s);
}

static void
test_append_at_full_reject_and_evict(void **state)
{
	static uint8_t buf[70000];
	struct msh_shard_conf c;
	struct msh_shard *s;
	uint32_t len = blocks_of(buf, 1, 10, len_100);
	uint64_t next;

	(void)state;
	conf_small(&c, 2, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	while (msh_shard_append_at(s, s->next_seq, buf, len, 10, 0) == 0)
		;
	next = s->next_seq;
	assert_int_equal(msh_shard_append_at(s, next, buf, len, 10, 0), -ENOSPC);
	assert_true(s->next_seq == next);
	assert_true(s->stats.full_rejects == 2 && s->stats.full_reject_msgs == 20);
	msh_shard_set_on_full(s, MSH_ON_FULL_EVICT);
	assert_int_equal(msh_shard_append_at(s, next, buf, len, 10, 0), 0);
	assert_true(s->next_seq == next + 10);
	assert_true(s->stats.evicted_segments == 1);
	free(s);
}

struct trunc_log {
	int n;
	uint64_t first[8];
	uint32_t keep[8];
};

static void
on_truncate(void *ctx, struct msh_shard *s, struct msh_segment *seg, uint32_t keep)
{
	struct trunc_log *t = ctx;

	(void)s;
	assert_true(t->n < 8);
	assert_true(keep < seg->count); /* only called for segments that change */
	t->first[t->n] = seg->first_seq;
	t->keep[t->n] = keep;
	t->n++;
}

static void
test_truncate_inside_active(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	struct trunc_log log = {0};
	struct msh_span sp;
	uint32_t room;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	msh_shard_set_truncate_hook(s, on_truncate, &log);
	pub(s, 1, 30, len_100, 10, &r);
	room = msh_segment_room(s->active);
	assert_int_equal(msh_shard_truncate(s, 21), 0);
	assert_true(s->next_seq == 21);
	assert_int_equal(s->seg_n, 1);
	assert_non_null(s->active);
	assert_int_equal(s->active->count, 20);
	assert_int_equal(s->active->data_len, 20 * 102);
	assert_int_equal(msh_segment_room(s->active), room + 10 * (102 + MSH_IDX_ENTRY_LEN));
	assert_int_equal(log.n, 1);
	assert_true(log.first[0] == 1 && log.keep[0] == 20);
	assert_true(s->stats.truncations == 1 && s->stats.truncated_msgs == 10);
	assert_true(s->stats.truncated_bytes == 10 * 102);
	assert_true(s->stats.appended_msgs == 30); /* counters only grow */
	assert_int_equal(msh_shard_read(s, 21, 10, 1400, &sp), 0);
	assert_true(read_all(s, 1, len_100) == 21);
	/* The next messages go in at 21 in the same segment, other content. */
	{
		static uint8_t buf[4096];
		uint32_t len = blocks_of(buf, OTHER, 5, len_100);

		assert_int_equal(msh_shard_append_at(s, 21, buf, len, 5, 20), 0);
	}
	assert_int_equal(s->seg_n, 1);
	check_range(s, 1, 1, 20, len_100);
	check_range(s, 21, OTHER, 5, len_100);
	/* No-ops and errors. */
	assert_int_equal(msh_shard_truncate(s, 26), 0);
	assert_int_equal(msh_shard_truncate(s, 1000), 0);
	assert_int_equal(msh_shard_truncate(s, 0), -EINVAL);
	assert_true(s->next_seq == 26 && s->stats.truncations == 1);
	free(s);
}

static void
test_truncate_across_sealed(void **state)
{
	static uint8_t buf[70000];
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	struct trunc_log log = {0};
	uint64_t cap_msgs = 0;
	uint32_t len;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	msh_shard_set_truncate_hook(s, on_truncate, &log);
	/* 68 messages of 100 bytes per segment ((8192 - 64) / 118): 1-68,
	 * 69-136, 137-150. */
	pub(s, 1, 150, len_100, 10, &r);
	assert_int_equal(s->seg_n, 3);
	assert_true(msh_shard_find(s, 69)->first_seq == 69);
	assert_int_equal(msh_shard_truncate(s, 50), 0);
	/* Newest first: the active one and the second go whole, the first keeps 49. */
	assert_int_equal(log.n, 3);
	assert_true(log.first[0] == 137 && log.keep[0] == 0);
	assert_true(log.first[1] == 69 && log.keep[1] == 0);
	assert_true(log.first[2] == 1 && log.keep[2] == 49);
	assert_int_equal(s->seg_n, 1);
	assert_null(s->active);
	assert_int_equal(s->n_free, s->n_slots - 1);
	assert_true(msh_segment_sealed(msh_shard_find(s, 1)));
	assert_int_equal(msh_shard_find(s, 1)->count, 49);
	assert_null(msh_shard_find(s, 50));
	assert_true(s->stats.truncated_msgs == 101);
	assert_true(s->stats.truncated_bytes == 101 * 102);
	assert_true(read_all(s, 1, len_100) == 50);
	/* A sealed segment stays sealed: 50 opens a new one. Every freed slot
	 * is usable again: the shard now takes exactly the messages that fit
	 * three more segments. */
	len = blocks_of(buf, OTHER, 1, len_100);
	while (msh_shard_append_at(s, s->next_seq, buf, len, 1, 20) == 0)
		cap_msgs++;
	assert_true(cap_msgs == 3 * 68);
	assert_int_equal(s->seg_n, 4);
	assert_true(msh_shard_find(s, 50)->first_seq == 50);
	check_range(s, 1, 1, 49, len_100);

	/* At a segment boundary: the segment before keeps all it had. */
	log.n = 0;
	assert_int_equal(msh_shard_truncate(s, 118), 0); /* 50-117 is the second segment */
	assert_int_equal(s->seg_n, 2);
	assert_int_equal(log.n, 2);
	assert_true(log.first[0] == 186 && log.keep[0] == 0);
	assert_true(log.first[1] == 118 && log.keep[1] == 0);
	assert_int_equal(msh_shard_find(s, 117)->count, 68);
	assert_true(s->next_seq == 118);
	check_range(s, 1, 1, 49, len_100);
	for (uint64_t q = 50; q < 118; q++)
		check_range(s, q, OTHER, 1, len_100);
	free(s);
}

static void
test_truncate_below_retained(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	uint64_t first;

	(void)state;
	conf_small(&c, 3, MSH_ON_FULL_EVICT);
	s = shard_new(&c);
	for (uint64_t q = 1; q < 1000; q += 10)
		pub(s, q, 10, len_100, q, &r);
	first = msh_shard_first_seq(s);
	assert_true(first > 100);
	assert_int_equal(msh_shard_truncate(s, 100), 0);
	assert_int_equal(s->seg_n, 0);
	assert_null(s->active);
	assert_int_equal(s->n_free, s->n_slots);
	assert_true(s->next_seq == 100 && msh_shard_first_seq(s) == 100);
	assert_true(s->stats.truncated_msgs == 1001 - 100);
	/* Message 100 is not in memory: every publisher is forgotten, so the
	 * retry of the last datagram is accepted again. */
	assert_true(s->stats.dedupe_forgotten == 1);
	pub(s, 991, 10, len_100, 2000, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_true(r.first_seq == 100);
	check_range(s, 100, 991, 10, len_100);
	free(s);
}

static void
test_truncate_forgets_only_publishers_past_seq(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;

	(void)state;
	conf_small(&c, 8, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	pub_as(s, 1, 1, 1, 10, 100, &r);   /* A: 1-10 at t=100 */
	pub_as(s, 2, 1, 11, 10, 200, &r);  /* B: 11-20 at t=200 */
	pub_as(s, 3, 1, 21, 5, 300, &r);   /* C: 21-25 at t=300 */
	pub_as(s, 1, 11, 26, 5, 400, &r);  /* A: 26-30 at t=400 */
	assert_true(s->next_seq == 31);
	assert_int_equal(msh_shard_truncate(s, 21), 0);
	/* Appended at or after ts(21) = 300: C and A. B only before. */
	assert_true(s->stats.dedupe_forgotten == 2);
	assert_true(msh_dedupe_next(s->dedupe, 2) == 11);
	assert_true(msh_dedupe_next(s->dedupe, 3) == 1);
	assert_true(msh_dedupe_next(s->dedupe, 1) == 1);
	/* B's retry is still a duplicate; C's and A's retries go in again. */
	pub_as(s, 2, 1, 11, 10, 500, &r);
	assert_int_equal(r.status, MSH_S_DUPLICATE);
	pub_as(s, 3, 1, 21, 5, 500, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_true(r.first_seq == 21);
	pub_as(s, 1, 11, 26, 5, 600, &r);
	assert_int_equal(r.status, MSH_S_OK);
	assert_true(r.first_seq == 26 && r.gap == 10); /* forgotten: 1-10 look skipped */
	check_range(s, 1, 1, 30, len_100);
	/* Truncating at A's new messages (t=600) forgets A alone: C was last
	 * appended at t=500, before message 26. */
	assert_int_equal(msh_shard_truncate(s, 26), 0);
	assert_true(s->stats.dedupe_forgotten == 3);
	assert_true(msh_dedupe_next(s->dedupe, 3) == 6);
	assert_true(msh_dedupe_next(s->dedupe, 1) == 1);
	free(s);
}

static void
test_truncate_and_reset_wait_for_spill(void **state)
{
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	struct msh_segment *seg;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	pub(s, 1, 150, len_100, 10, &r); /* segments at 1, 69, 137 */
	seg = (struct msh_segment *)msh_shard_find(s, 69);
	assert_true(seg->first_seq == 69);
	seg->flags |= MSH_SEG_F_SPILL_PENDING;
	assert_int_equal(msh_shard_truncate(s, 100), -EBUSY);
	assert_int_equal(msh_shard_truncate(s, 69), -EBUSY);
	assert_int_equal(msh_shard_reset(s, 500), -EBUSY);
	assert_true(s->next_seq == 151 && s->seg_n == 3 && s->stats.truncations == 0);
	assert_int_equal(msh_shard_truncate(s, 137), 0); /* above it: allowed */
	assert_true(s->next_seq == 137 && s->seg_n == 2);
	seg->flags = (seg->flags & ~MSH_SEG_F_SPILL_PENDING) | MSH_SEG_F_SPILLED;
	assert_int_equal(msh_shard_truncate(s, 100), 0);
	assert_false(seg->flags & MSH_SEG_F_SPILLED); /* its file is no longer right */
	assert_true(read_all(s, 1, len_100) == 100);
	free(s);
}

static void
test_reset_keeps_dedupe(void **state)
{
	static uint8_t buf[4096];
	struct msh_shard_conf c;
	struct msh_shard *s;
	struct msh_pub_result r;
	struct trunc_log log = {0};
	uint32_t len;

	(void)state;
	conf_small(&c, 4, MSH_ON_FULL_REJECT);
	s = shard_new(&c);
	msh_shard_set_truncate_hook(s, on_truncate, &log);
	pub(s, 1, 100, len_100, 10, &r);
	assert_int_equal(msh_shard_reset(s, 50), -EINVAL); /* backwards: use truncate */
	assert_int_equal(msh_shard_reset(s, 500), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(s->seg_n, 0);
	assert_int_equal(s->n_free, s->n_slots);
	assert_true(s->next_seq == 500 && msh_shard_first_seq(s) == 500);
	assert_true(s->stats.resets == 1 && s->stats.reset_msgs == 100);
	pub(s, 1, 100, len_100, 20, &r); /* publisher state survives */
	assert_int_equal(r.status, MSH_S_DUPLICATE);
	len = blocks_of(buf, OTHER, 3, len_100);
	assert_int_equal(msh_shard_append_at(s, 499, buf, len, 3, 30), -EALREADY);
	assert_int_equal(msh_shard_append_at(s, 500, buf, len, 3, 30), 0);
	check_range(s, 500, OTHER, 3, len_100);
	assert_int_equal(msh_shard_reset(s, 503), 0); /* at next_seq: drops memory only */
	assert_true(s->next_seq == 503 && s->seg_n == 0);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_footprint_and_init_errors),
		cmocka_unit_test(test_publish_and_read_across_segments),
		cmocka_unit_test(test_batch_spanning_segments_is_contiguous),
		cmocka_unit_test(test_reject_at_limit_is_all_or_nothing),
		cmocka_unit_test(test_evict_drops_oldest),
		cmocka_unit_test(test_seal_by_age_and_command),
		cmocka_unit_test(test_dedupe_through_publish),
		cmocka_unit_test(test_live_limit_changes),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_append_at_exact_overlap_gap),
		cmocka_unit_test(test_append_at_full_reject_and_evict),
		cmocka_unit_test(test_truncate_inside_active),
		cmocka_unit_test(test_truncate_across_sealed),
		cmocka_unit_test(test_truncate_below_retained),
		cmocka_unit_test(test_truncate_forgets_only_publishers_past_seq),
		cmocka_unit_test(test_truncate_and_reset_wait_for_spill),
		cmocka_unit_test(test_reset_keeps_dedupe),
	};

	return cmocka_run_group_tests_name("shard", tests, NULL, NULL);
}
