/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A/B line arbitration of one MoldUDP64 feed (issue 11): the same upstream
 * session arrives on two lines that lose packets independently; the first copy
 * of every upstream sequence number wins and each message is emitted exactly
 * once, in upstream order. A packet past a gap is held (copied into a slot of
 * the arbiter's memory) while the gap waits up to gap_timeout for the other
 * line; when the gap fills, the held packets follow in order; when it does not
 * (or the hold is full), the gap is given up, reported and skipped. Per line
 * it counts packets, messages, first copies won, duplicates and late fills,
 * and how much later each losing copy arrived (the A-B skew, a histogram).
 *
 * Session rules: the first session seen is adopted and its first sequence
 * number is where the feed starts (earlier messages are not ours); a packet of
 * a new session (start of day) ends the old one (what it held goes out, its
 * gaps are counted lost) and resets the arbiter to it; packets of the
 * session it left are dropped and counted; after end of session (count
 * 0xFFFF) the session's packets are ignored until a new session starts. A
 * sequence number more than max_jump past what is expected, or a packet whose
 * sequence numbers would wrap past 2^64, is bad input (counted, not held,
 * opens no gap).
 *
 * Single writer (the worker that owns the feed's shard), no allocation after
 * init, time from the caller (nanoseconds), free of DPDK.
 */
#ifndef MSH_ARB_H
#define MSH_ARB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "hist.h"
#include "wire.h"

#define MSH_ARB_LINES 2 /**< line A is 0, line B is 1 */

struct msh_arb_conf {
	uint64_t gap_timeout_ns; /**< how long a gap waits for the other line */
	uint64_t max_jump;       /**< a seq further than this past the expected is bad input */
	uint32_t hold_pkts;      /**< packets held past a gap, at most (1..65535) */
	uint32_t max_packet;     /**< bytes of message blocks one held packet may carry */
	uint32_t skew_slots;     /**< packets remembered for the skew, a power of two */
};

/** Per-line counters. */
#define foreach_msh_arb_line_counter                                                               \
	_(pkts, "MoldUDP64 packets received")                                                      \
	_(msgs, "messages in them")                                                                \
	_(won_msgs, "messages this line delivered first (emitted or held); won + dup = msgs")     \
	_(dup_msgs, "messages the other line had delivered already")                               \
	_(late_fill_msgs, "messages that filled a gap open at their arrival")                      \
	_(heartbeats, "heartbeats")                                                                \
	_(old_session, "packets of the session the feed has left")                                 \
	_(after_end, "packets of a session after its end")                                         \
	_(far_future, "packets too far past the expected sequence number (bad input)")

struct msh_arb_line_stats {
#define _(f, doc) uint64_t f;
	foreach_msh_arb_line_counter
#undef _
};

/** Feed-wide counters. */
#define foreach_msh_arb_counter                                                                    \
	_(emitted_msgs, "messages emitted, in order")                                              \
	_(emit_refused, "messages the sink refused (counted, then skipped)")                       \
	_(gaps_opened, "gaps seen (a sequence number past the expected)")                          \
	_(gaps_filled, "gaps the other line filled in time")                                       \
	_(gaps_given_up, "gaps skipped after gap_timeout or a full hold")                          \
	_(gap_msgs_lost, "messages in the gaps given up")                                          \
	_(hold_full, "gaps given up early because the hold was full")                              \
	_(fill_msgs, "messages filled from elsewhere (msh_arb_fill: a re-request's answer)")       \
	_(session_changes, "new upstream sessions")                                                \
	_(ends, "end-of-session packets")

struct msh_arb_stats {
#define _(f, doc) uint64_t f;
	foreach_msh_arb_counter
#undef _
};

/**
 * Where emitted messages go: @p count whole MoldUDP64 message blocks
 * (@p len bytes) from upstream sequence number @p seq. @return 0, or non-zero
 * when the sink refused them (counted in emit_refused; the feed goes on).
 */
typedef int (*msh_arb_emit_fn)(void *arg, uint64_t seq, const uint8_t *blocks, uint32_t len,
			       uint32_t count);

/** A gap: messages [first, first + count) no line has delivered. */
struct msh_arb_gap {
	uint64_t first, count;
	uint64_t since_ns; /**< when it opened */
};

/**
 * Called when a gap is given up (gap_timeout, a full hold, a session change or
 * end, a flush), before the messages after it are emitted: @p g is the range
 * lost on every line. @p arg is the one passed to the call that gave it up.
 */
typedef void (*msh_arb_lost_fn)(void *arg, const struct msh_arb_gap *g);

/** What the arbiter did with one packet. */
enum msh_arb_verdict {
	MSH_ARB_EMITTED = 0, /**< new messages were emitted (maybe held ones after it) */
	MSH_ARB_HELD,        /**< past a gap: held until the gap fills or is given up */
	MSH_ARB_DUPLICATE,   /**< every message in it was had already */
	MSH_ARB_HEARTBEAT,   /**< a heartbeat (it may have opened a gap at the tail) */
	MSH_ARB_NEW_SESSION, /**< a new session began with it (then as EMITTED) */
	MSH_ARB_END,         /**< end of session */
	MSH_ARB_DROPPED,     /**< old session, after the end, or too far ahead (counted) */
};

struct msh_arb_held; /* private */
struct msh_arb_seen; /* private */

struct msh_arb {
	struct msh_arb_conf conf;
	struct msh_name session;   /**< current session (valid once started) */
	struct msh_name left;      /**< the session it left (valid once changed) */
	bool started, ended, have_left;
	uint64_t next_seq;         /**< next upstream seq to emit */
	bool gap_open;
	struct msh_arb_gap gap;    /**< while gap_open: [next_seq, first held packet or end) */
	uint64_t gap_end;          /**< while gap_open: one past the last seq known to exist */
	uint32_t n_held;
	uint64_t last_fresh;       /**< messages the last packet brought first */
	/** While emit runs: when the packet its blocks come from was received
	 *  (the now_ns of the call that brought it, held packets included). */
	uint64_t emit_rx_ns;
	msh_arb_lost_fn on_lost;   /**< optional (msh_arb_set_lost_hook) */
	struct msh_arb_stats stats;
	struct msh_arb_line_stats line[MSH_ARB_LINES];
	struct hist skew[MSH_ARB_LINES]; /**< ns a line's copy arrived after the winner's */
	/* memory after this struct: held index, held slots, skew table */
	struct msh_arb_held *held;  /**< hold_pkts entries, sorted by seq (n_held used) */
	uint8_t *slots;             /**< hold_pkts x max_packet bytes */
	uint32_t *free_slot;        /**< stack of free slot numbers */
	uint32_t n_free;
	struct msh_arb_seen *seen;  /**< skew_slots entries, direct-mapped by seq */
};

/** Bytes for an arbiter with @p conf (0 when the conf is unusable). */
size_t msh_arb_footprint(const struct msh_arb_conf *conf);

/**
 * Lay an arbiter out in @p mem (@p len >= msh_arb_footprint(), 8-byte aligned).
 * @return it, or NULL with errno EINVAL.
 */
struct msh_arb *msh_arb_init(void *mem, size_t len, const struct msh_arb_conf *conf);

/** Install (or with NULL remove) the hook told about every gap given up. */
static inline void
msh_arb_set_lost_hook(struct msh_arb *a, msh_arb_lost_fn fn)
{
	a->on_lost = fn;
}

/**
 * One parsed MoldUDP64 packet (msh_mold_parse) from @p line at @p now_ns.
 * Messages that become in order are passed to @p emit, in upstream order.
 */
enum msh_arb_verdict msh_arb_rx(struct msh_arb *a, unsigned int line, const struct msh_mold *m,
				uint64_t now_ns, msh_arb_emit_fn emit, void *arg);

/**
 * Timers: a gap open for gap_timeout is given up (its range in @p lost, which
 * may be NULL) and the held packets after it are emitted; the next gap, if
 * any, starts its own wait at @p now_ns. @return true when a gap was given up.
 */
bool msh_arb_tick(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg,
		  struct msh_arb_gap *lost);

/**
 * Give up every gap now and emit everything held (the feed is being removed,
 * or the caller knows nothing more will come). @return messages given up.
 */
uint64_t msh_arb_flush(struct msh_arb *a, uint64_t now_ns, msh_arb_emit_fn emit, void *arg);

/**
 * The gap waiting now, for a re-request to the exchange. @return false when
 * there is none.
 */
bool msh_arb_open_gap(const struct msh_arb *a, struct msh_arb_gap *out);

/**
 * Fill a gap from elsewhere (a re-request's answer): as a packet from no line.
 * Only data of the current session is taken (else DROPPED); fill_msgs counts
 * the messages it brought first.
 */
enum msh_arb_verdict msh_arb_fill(struct msh_arb *a, const struct msh_mold *m, uint64_t now_ns,
				  msh_arb_emit_fn emit, void *arg);

#endif /* MSH_ARB_H */
