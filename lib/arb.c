/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A/B line arbitration (arb.h). The hold is a small array of packet
 * descriptors kept sorted by sequence number over fixed-size slots (a free
 * stack), so a packet past a gap costs one copy and an insertion among at most
 * hold_pkts; in the common case (no gap) a packet is emitted straight from the
 * caller's buffer and nothing is copied.
 */
#include <errno.h>
#include <string.h>

#include "arb.h"

struct msh_arb_held {
	uint64_t seq;
	uint64_t rx_ns; /* when it arrived */
	uint32_t count, len, slot;
};

struct msh_arb_seen {
	uint64_t seq_plus1; /* 0: empty */
	uint64_t t_ns;
	uint32_t line;
};

#define NO_LINE MSH_ARB_LINES

static size_t
align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

size_t
msh_arb_footprint(const struct msh_arb_conf *c)
{
	if (c == NULL || c->hold_pkts == 0 || c->hold_pkts > 65535 ||
	    c->max_packet < MSH_MOLD_HDR_LEN || c->skew_slots == 0 ||
	    (c->skew_slots & (c->skew_slots - 1)) != 0 || c->max_jump == 0)
		return 0;
	return align8(sizeof(struct msh_arb)) + align8(sizeof(struct msh_arb_held) * c->hold_pkts) +
	       align8(sizeof(uint32_t) * c->hold_pkts) + align8((size_t)c->hold_pkts * c->max_packet) +
	       sizeof(struct msh_arb_seen) * c->skew_slots;
}

struct msh_arb *
msh_arb_init(void *mem, size_t len, const struct msh_arb_conf *c)
{
	size_t need = msh_arb_footprint(c);
	struct msh_arb *a = mem;
	uint8_t *p;

	if (mem == NULL || need == 0 || len < need || ((uintptr_t)mem & 7) != 0) {
		errno = EINVAL;
		return NULL;
	}
	memset(mem, 0, need);
	a->conf = *c;
	p = (uint8_t *)mem + align8(sizeof(*a));
	a->held = (struct msh_arb_held *)p;
	p += align8(sizeof(struct msh_arb_held) * c->hold_pkts);
	a->free_slot = (uint32_t *)p;
	p += align8(sizeof(uint32_t) * c->hold_pkts);
	a->slots = p;
	p += align8((size_t)c->hold_pkts * c->max_packet);
	a->seen = (struct msh_arb_seen *)p;
	for (uint32_t i = 0; i < c->hold_pkts; i++)
		a->free_slot[i] = c->hold_pkts - 1 - i;
	a->n_free = c->hold_pkts;
	return a;
}

static uint64_t known_end_of(const struct msh_arb *a);

/* Emit blocks of [seq, seq + count) from @p blocks, dropping what is below
 * next_seq; next_seq moves to the end. */
static void
emit_from(struct msh_arb *a, uint64_t seq, const uint8_t *blocks, uint32_t len, uint32_t count,
	  uint64_t rx_ns, msh_arb_emit_fn emit, void *arg)
{
	uint64_t end = seq + count;
	uint32_t skip, off;

	if (end <= a->next_seq)
		return;
	skip = seq < a->next_seq ? (uint32_t)(a->next_seq - seq) : 0;
	off = msh_blocks_skip(blocks, skip);
	a->emit_rx_ns = rx_ns;
	if (emit(arg, seq + skip, blocks + off, len - off, count - skip) != 0)
		a->stats.emit_refused += count - skip;
	else
		a->stats.emitted_msgs += count - skip;
	a->next_seq = end;
}

static void
hold_remove_first(struct msh_arb *a)
{
	a->free_slot[a->n_free++] = a->held[0].slot;
	memmove(&a->held[0], &a->held[1], sizeof(a->held[0]) * (a->n_held - 1));
	a->n_held--;
}

/* Emit the held packets that are in order now. */
static void
drain(struct msh_arb *a, msh_arb_emit_fn emit, void *arg)
{
	while (a->n_held > 0 && a->held[0].seq <= a->next_seq) {
		const struct msh_arb_held *h = &a->held[0];
		const uint8_t *pkt = a->slots + (size_t)h->slot * a->conf.max_packet;

		emit_from(a, h->seq, pkt, h->len, h->count, h->rx_ns, emit, arg);
		hold_remove_first(a);
	}
}

/* One past the highest sequence number known to exist (held packets,
 * heartbeats): gap_end while a gap is open. */
static uint64_t
known_end_of(const struct msh_arb *a)
{
	return a->gap_open ? a->gap_end : a->next_seq;
}

/* After next_seq moved or something past it became known: open, move or
 * close the gap. @p end: the end of what is known to exist. */
static void
update_gap(struct msh_arb *a, uint64_t end, uint64_t now_ns)
{
	uint64_t head = a->n_held > 0 ? a->held[0].seq : end;

	if (a->next_seq < end) {
		if (!a->gap_open) {
			a->gap_open = true;
			a->stats.gaps_opened++;
			a->gap.since_ns = now_ns;
		} else if (a->gap.first != a->next_seq) {
			a->gap.since_ns = now_ns; /* its head moved: a new wait */
		}
		a->gap.first = a->next_seq;
		/* What the next give-up skips: up to the first held packet. */
		a->gap.count = (head > a->next_seq ? head : end) - a->next_seq;
		a->gap_end = end;
	} else if (a->gap_open) {
		a->gap_open = false;
		a->stats.gaps_filled++;
	}
}

/* Skip the open gap: up to the first held packet (or the end known), and
 * never past @p limit (a packet in hand that is not held). */
static bool
give_up_to(struct msh_arb *a, uint64_t limit, uint64_t now_ns, msh_arb_emit_fn emit, void *arg,
	   struct msh_arb_gap *lost)
{
	uint64_t end = a->gap_end, to;

	if (!a->gap_open)
		return false;
	to = a->n_held > 0 ? a->held[0].seq : end;
	if (limit < to)
		to = limit;
	if (lost != NULL) {
		lost->first = a->next_seq;
		lost->count = to - a->next_seq;
		lost->since_ns = a->gap.since_ns;
	}
	if (a->on_lost != NULL && to > a->next_seq) {
		struct msh_arb_gap g = { a->next_seq, to - a->next_seq, a->gap.since_ns };

		a->on_lost(arg, &g);
	}
	a->stats.gaps_given_up++;
	a->stats.gap_msgs_lost += to - a->next_seq;
	a->next_seq = to;
	a->gap_open = false;
	drain(a, emit, arg);
	update_gap(a, end, now_ns);
	return true;
}

static bool
give_up(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg,
	struct msh_arb_gap *lost)
{
	return give_up_to(a, UINT64_MAX, now_ns, emit, arg, lost);
}

/* Every gap at once: what is held goes out, what is missing is counted lost. */
static void
give_up_all(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg)
{
	while (give_up(a, now_ns, emit, arg, NULL))
		;
}

static void
reset(struct msh_arb *a, const struct msh_name *session, uint64_t seq)
{
	while (a->n_held > 0)
		hold_remove_first(a);
	a->session = *session;
	a->started = true;
	a->ended = false;
	a->gap_open = false;
	a->gap_end = seq;
	a->next_seq = seq;
	/* Skew samples pair copies of one session only. */
	memset(a->seen, 0, sizeof(*a->seen) * a->conf.skew_slots);
}

static void
seen_note(struct msh_arb *a, unsigned int line, uint64_t seq, uint64_t now_ns)
{
	struct msh_arb_seen *s = &a->seen[seq & (a->conf.skew_slots - 1)];

	if (line >= MSH_ARB_LINES)
		return;
	s->seq_plus1 = seq + 1;
	s->t_ns = now_ns;
	s->line = line;
}

/* A copy of packet @p seq arrived second on @p line: how much later. */
static void
seen_skew(struct msh_arb *a, unsigned int line, uint64_t seq, uint64_t now_ns)
{
	struct msh_arb_seen *s = &a->seen[seq & (a->conf.skew_slots - 1)];

	if (line >= MSH_ARB_LINES || s->seq_plus1 != seq + 1 || s->line == line)
		return;
	hist_add(&a->skew[line], now_ns >= s->t_ns ? now_ns - s->t_ns : 0);
	s->seq_plus1 = 0; /* one loser a packet */
}

/* Hold a packet past the gap. @return false when there is no room. */
static bool
hold(struct msh_arb *a, const struct msh_mold *m, uint64_t now_ns)
{
	uint32_t len = m->blocks_len, i, slot;

	if (a->n_free == 0 || len > a->conf.max_packet)
		return false;
	slot = a->free_slot[--a->n_free];
	memcpy(a->slots + (size_t)slot * a->conf.max_packet, m->blocks, len);
	/* After every held packet of a lower or equal seq: emitted in order. */
	for (i = a->n_held; i > 0 && a->held[i - 1].seq > m->seq; i--)
		;
	memmove(&a->held[i + 1], &a->held[i], sizeof(a->held[0]) * (a->n_held - i));
	a->held[i].seq = m->seq;
	a->held[i].rx_ns = now_ns;
	a->held[i].count = m->count;
	a->held[i].len = len;
	a->held[i].slot = slot;
	a->n_held++;
	return true;
}

/* Messages of [seq, end) that are neither below next_seq nor in a held
 * packet: what this copy brings first. Held packets are sorted by seq and may
 * overlap (the lines may packetize differently). */
static uint64_t
fresh_msgs(const struct msh_arb *a, uint64_t seq, uint64_t end)
{
	uint64_t cur = seq > a->next_seq ? seq : a->next_seq, fresh = 0;

	for (uint32_t i = 0; i < a->n_held && cur < end; i++) {
		const struct msh_arb_held *h = &a->held[i];
		uint64_t hend = h->seq + h->count;

		if (h->seq >= end)
			break;
		if (hend <= cur)
			continue;
		if (h->seq > cur)
			fresh += h->seq - cur;
		cur = hend;
	}
	return cur < end ? fresh + (end - cur) : fresh;
}

static enum msh_arb_verdict
rx(struct msh_arb *a, unsigned int line, const struct msh_mold *m, uint64_t now_ns,
   msh_arb_emit_fn emit, void *arg)
{
	struct msh_arb_line_stats *ls = line < MSH_ARB_LINES ? &a->line[line] : NULL;
	struct msh_arb_line_stats none;
	enum msh_arb_verdict v = MSH_ARB_EMITTED;
	bool data = m->count != MSH_MOLD_HEARTBEAT && m->count != MSH_MOLD_END_OF_SESSION;
	uint64_t end, known, fresh;
	bool was_gap;

	a->last_fresh = 0;
	if (ls == NULL) {
		memset(&none, 0, sizeof(none));
		ls = &none;
	}
	ls->pkts++;
	if (data)
		ls->msgs += m->count;
	/* Sequence numbers that would wrap are bad input, first packet or not. */
	if (data && m->count > UINT64_MAX - m->seq) {
		ls->far_future++;
		return MSH_ARB_DROPPED;
	}
	if (!a->started) {
		reset(a, &m->session, m->seq);
	} else if (!msh_name_eq(&m->session, &a->session)) {
		if (a->have_left && msh_name_eq(&m->session, &a->left)) {
			ls->old_session++;
			return MSH_ARB_DROPPED;
		}
		/* The old session is over: what it holds goes out, its gaps are lost. */
		give_up_all(a, now_ns, emit, arg);
		a->left = a->session;
		a->have_left = true;
		a->stats.session_changes++;
		reset(a, &m->session, m->seq);
		v = MSH_ARB_NEW_SESSION;
	}
	if (a->ended) {
		ls->after_end++;
		return MSH_ARB_DROPPED;
	}
	if (m->seq > a->next_seq && m->seq - a->next_seq > a->conf.max_jump) {
		ls->far_future++;
		return MSH_ARB_DROPPED;
	}
	if (m->count == MSH_MOLD_END_OF_SESSION) {
		/* Nothing more comes in this session: what is missing is lost. */
		a->stats.ends++;
		if (m->seq > known_end_of(a))
			update_gap(a, m->seq, now_ns);
		give_up_all(a, now_ns, emit, arg);
		a->ended = true;
		return MSH_ARB_END;
	}
	if (m->count == MSH_MOLD_HEARTBEAT) {
		ls->heartbeats++;
		if (m->seq > known_end_of(a))
			update_gap(a, m->seq, now_ns); /* lost at the tail */
		return v == MSH_ARB_NEW_SESSION ? v : MSH_ARB_HEARTBEAT;
	}
	end = m->seq + m->count;
	fresh = end > a->next_seq ? fresh_msgs(a, m->seq, end) : 0;
	if (fresh == 0) {
		ls->dup_msgs += m->count;
		seen_skew(a, line, m->seq, now_ns);
		return MSH_ARB_DUPLICATE;
	}
	a->last_fresh = fresh;
	ls->won_msgs += fresh;
	ls->dup_msgs += m->count - fresh;
	known = known_end_of(a) > end ? known_end_of(a) : end;
	was_gap = a->gap_open;
	if (fresh == m->count)
		seen_note(a, line, m->seq, now_ns);
	else
		seen_skew(a, line, m->seq, now_ns);
	/* Past a gap: hold it for the other line to fill what is missing. With
	 * no room the first gap cannot wait: skip what nobody has, never past
	 * this packet (its messages are in hand), and try again; each round
	 * moves next_seq forward or frees slots. */
	while (m->seq > a->next_seq) {
		if (hold(a, m, now_ns)) {
			update_gap(a, known, now_ns);
			return v == MSH_ARB_NEW_SESSION ? v : MSH_ARB_HELD;
		}
		a->stats.hold_full++;
		update_gap(a, known, now_ns);
		give_up_to(a, m->seq, now_ns, emit, arg, NULL);
		was_gap = false;
	}
	if (was_gap)
		ls->late_fill_msgs += fresh;
	emit_from(a, m->seq, m->blocks, m->blocks_len, m->count, now_ns, emit, arg);
	drain(a, emit, arg);
	update_gap(a, known, now_ns);
	return v;
}

enum msh_arb_verdict
msh_arb_rx(struct msh_arb *a, unsigned int line, const struct msh_mold *m, uint64_t now_ns,
	   msh_arb_emit_fn emit, void *arg)
{
	return rx(a, line < MSH_ARB_LINES ? line : NO_LINE, m, now_ns, emit, arg);
}

enum msh_arb_verdict
msh_arb_fill(struct msh_arb *a, const struct msh_mold *m, uint64_t now_ns, msh_arb_emit_fn emit,
	     void *arg)
{
	enum msh_arb_verdict v;

	/* Only data of the current session fills: a stray answer never changes
	 * the session or ends it. */
	if (!a->started || a->ended || !msh_name_eq(&m->session, &a->session) ||
	    m->count == MSH_MOLD_HEARTBEAT || m->count == MSH_MOLD_END_OF_SESSION)
		return MSH_ARB_DROPPED;
	v = rx(a, NO_LINE, m, now_ns, emit, arg);
	a->stats.fill_msgs += a->last_fresh;
	return v;
}

bool
msh_arb_tick(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg,
	     struct msh_arb_gap *lost)
{
	/* A clock read before the gap opened (another lcore's, a packet's
	 * timestamp) never counts as late. */
	if (!a->gap_open || now_ns < a->gap.since_ns ||
	    now_ns - a->gap.since_ns < a->conf.gap_timeout_ns)
		return false;
	return give_up(a, now_ns, emit, arg, lost);
}

bool
msh_arb_open_gap(const struct msh_arb *a, struct msh_arb_gap *out)
{
	if (!a->gap_open)
		return false;
	*out = a->gap;
	return true;
}

uint64_t
msh_arb_flush(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg)
{
	uint64_t before = a->stats.gap_msgs_lost;

	give_up_all(a, now_ns, emit, arg);
	return a->stats.gap_msgs_lost - before;
}
