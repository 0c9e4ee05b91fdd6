/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Replication between the two appliances of a pair (docs/REPLICATION.md): the
 * frames of the replication link (codecs with strict validation), the per-shard
 * state a primary keeps about its secondary (what was sent and acked, go-back-N
 * retransmission, lag, the acks=all queue of publisher acks) and the state a
 * secondary keeps (apply at exactly next_seq, duplicates, NAK on a gap), each
 * shard's epoch history and the catch-up decision derived from it, and the node
 * state machine (roles, epochs, failover, split-brain policy). Everything is
 * driven by explicit (event, now_ns) calls and returns decisions, so it is
 * deterministic under test and the daemon does all the I/O. No DPDK, no
 * allocation (memory is handed in), no system calls.
 *
 * Threading: a struct msh_repl_shard belongs to the shard's owner lcore, like
 * the shard; a struct msh_repl_node to one lcore (the one that handles HELLO
 * frames and timers), which passes role and epoch changes to the owners. The
 * codecs hold no state and are thread-safe.
 */
#ifndef MSH_REPL_H
#define MSH_REPL_H

#include "common.h"
#include "segment.h"
#include "shard.h"

/*
 * Frames. Every integer is unsigned big-endian. Every frame starts with the
 * 24-byte common header; a shard is named by a 16-byte field: the 10-byte name
 * (as on the ingest wire) then 6 zero bytes. Reserved bytes and undefined flag
 * bits are written 0 and a frame with any of them set is rejected (version 1
 * has no optional extensions; a new layout gets a new version).
 *
 * Common header (24):
 *   0  2  magic 0x4D52 ("MR", not the ingest "MS": a misdirected datagram fails)
 *   2  1  version = 1
 *   3  1  type: 1 DATA, 2 ACK, 3 NAK, 4 HELLO, 5 SYNC_REQ, 6 SYNC_REPLY
 *   4  1  flags (per type)
 *   5  1  role of the sender: 1 PRIMARY, 2 SECONDARY
 *   6  2  count: DATA messages; HELLO and SYNC_REQ entries; SYNC_REPLY history
 *         entries; 0 in ACK and NAK
 *   8  4  epoch of the sender (>= 1)
 *  12  4  node id of the sender (!= 0)
 *  16  8  sender's clock in ns when built (echoed by ACK for round trips)
 *
 * DATA (64 + blocks), primary -> secondary: flags bit 0 PUB (publisher fields
 * valid), bit 1 RESET (count 0, no blocks: "I no longer hold anything below
 * first_seq: restart there"; msg_epoch is the epoch of message first_seq).
 *  24 16  shard
 *  40  8  first_seq (>= 1; first_seq + count does not wrap)
 *  48  4  msg_epoch: epoch in which these messages were first appended (0 =
 *         unknown, else <= epoch); a frame never spans two msg_epochs
 *  52  4  publisher_id (PUB) else 0
 *  56  8  publisher_seq of the first message (PUB: >= 1) else 0
 *  64  .. count MoldUDP64 blocks exactly as stored (2-byte length, data)
 *
 * ACK (64), secondary -> primary, cumulative:
 *  24 16  shard
 *  40  8  next_seq: the secondary holds every message below it
 *  48  8  echo_ns: header clock of the DATA frame that last advanced next_seq
 *  56  8  applied_ns: secondary's clock when it applied next_seq - 1
 *
 * NAK (56), secondary -> primary: a gap was seen.
 *  24 16  shard
 *  40  8  expected_seq: the secondary's next_seq (also a cumulative ack)
 *  48  8  seen_seq: first_seq of the frame that showed the gap (> expected)
 *
 * HELLO and SYNC_REQ (32 + 40 * count): HELLO is the heartbeat, both ways;
 * SYNC_REQ is sent by a node that must catch up before it follows. Flags (both):
 * bit 0 INGEST_UP (the sender's ingest port is up and receiving), bit 1 SYNCING.
 *  24  4  shards_total: shards the sender holds (entries may span frames)
 *  28  4  reserved
 *  32 40n entries: shard (16), next_seq (8), first_seq retained (8),
 *         last_epoch (4: history epoch of message next_seq - 1, 0 if none),
 *         reserved (4)
 *
 * SYNC_REPLY (64 + 12 * count), primary -> syncing node, one per shard:
 *  24 16  shard
 *  40  8  first_seq retained by the primary
 *  48  8  next_seq of the primary
 *  56  1  status: 0 OK, 1 UNKNOWN_SHARD (count must be 0)
 *  57  7  reserved
 *  64 12n epoch history, oldest first: epoch (4), start_seq (8); epochs and
 *         starts strictly increasing, count <= MSH_REPL_HIST
 */
#define MSH_REPL_MAGIC 0x4D52u
#define MSH_REPL_VERSION 1
#define MSH_REPL_HDR_LEN 24
#define MSH_REPL_SHARD_LEN 16
#define MSH_REPL_DATA_HDR_LEN 64
#define MSH_REPL_ACK_LEN 64
#define MSH_REPL_NAK_LEN 56
#define MSH_REPL_SUMMARY_HDR_LEN 32
#define MSH_REPL_POS_LEN 40
#define MSH_REPL_SYNC_REPLY_HDR_LEN 64
#define MSH_REPL_HIST_ENTRY_LEN 12
/** Default UDP port of the replication link (both ends). */
#define MSH_REPL_UDP_PORT 9002

/** Epochs of history kept per shard (older ones are assumed common). */
#define MSH_REPL_HIST 16
/** Recent publishes remembered per shard, to tag DATA frames with publisher ranges. */
#define MSH_REPL_PUB_RING 32

#define MSH_REPL_F_DATA_PUB 0x01u
#define MSH_REPL_F_DATA_RESET 0x02u
#define MSH_REPL_F_INGEST_UP 0x01u
#define MSH_REPL_F_SYNCING 0x02u

#define MSH_REPL_SYNC_OK 0
#define MSH_REPL_SYNC_UNKNOWN_SHARD 1

enum msh_repl_type {
	MSH_REPL_T_DATA = 1,
	MSH_REPL_T_ACK = 2,
	MSH_REPL_T_NAK = 3,
	MSH_REPL_T_HELLO = 4,
	MSH_REPL_T_SYNC_REQ = 5,
	MSH_REPL_T_SYNC_REPLY = 6,
};

enum msh_repl_role { MSH_REPL_PRIMARY = 1, MSH_REPL_SECONDARY = 2 };

/* Why a frame could not be parsed: 0 is success, parsers return the negative
 * value, and the same list names the drop counters. */
#define foreach_msh_repl_err                                                    \
	_(TRUNCATED, "shorter than its header or its fixed length")             \
	_(BAD_MAGIC, "bad magic")                                               \
	_(BAD_VERSION, "unsupported version")                                   \
	_(BAD_TYPE, "unknown or unexpected type")                               \
	_(BAD_LENGTH, "longer than the type and count allow")                   \
	_(BAD_FLAGS, "undefined or contradictory flags")                        \
	_(BAD_ROLE, "role neither primary nor secondary")                       \
	_(BAD_EPOCH, "epoch 0, or message epoch above the frame's epoch")       \
	_(BAD_NODE, "sender node id 0")                                         \
	_(BAD_SHARD, "shard name invalid or its padding not zero")              \
	_(BAD_SEQ, "sequence 0 or range that wraps")                            \
	_(BAD_COUNT, "count 0 where messages are needed, or not 0 where none")  \
	_(BLOCK_OVERRUN, "message block runs past the frame")                   \
	_(BLOCK_UNDERRUN, "bytes left after the last message block")            \
	_(TOO_LARGE, "message larger than the limit")                           \
	_(BAD_RESERVED, "reserved bytes not zero")                              \
	_(BAD_HISTORY, "epoch history not strictly increasing")                 \
	_(BAD_STATUS, "unknown status")

enum msh_repl_err {
	MSH_REPL_OK = 0,
#define _(sym, str) MSH_REPL_E_##sym,
	foreach_msh_repl_err
#undef _
	MSH_REPL_E_COUNT
};

/** Text of a parse error (positive or negative value accepted). */
const char *msh_repl_err_str(int err);

/** Common header, host order. */
struct msh_repl_hdr {
	uint8_t type;
	uint8_t flags;
	uint8_t role; /**< enum msh_repl_role */
	uint16_t count;
	uint32_t epoch;
	uint32_t node_id;
	uint64_t ts_ns;
};

/** DATA view: blocks point into the frame. */
struct msh_repl_data {
	struct msh_repl_hdr hdr;
	struct msh_name shard;
	uint64_t first_seq;
	uint32_t msg_epoch;
	uint32_t publisher_id;  /**< valid with MSH_REPL_F_DATA_PUB */
	uint64_t publisher_seq; /**< valid with MSH_REPL_F_DATA_PUB */
	const uint8_t *blocks;
	uint32_t blocks_len;
	uint32_t max_msg_len; /**< longest message (parse output) */
};

struct msh_repl_ack {
	struct msh_repl_hdr hdr;
	struct msh_name shard;
	uint64_t next_seq;
	uint64_t echo_ns;
	uint64_t applied_ns;
};

struct msh_repl_nak {
	struct msh_repl_hdr hdr;
	struct msh_name shard;
	uint64_t expected_seq;
	uint64_t seen_seq;
};

/** A shard's position, as HELLO and SYNC_REQ carry it. */
struct msh_repl_pos {
	struct msh_name shard;
	uint64_t next_seq;
	uint64_t first_seq;
	uint32_t last_epoch;
};

/** HELLO or SYNC_REQ view: entries stay in the frame (msh_repl_pos_at()). */
struct msh_repl_summary {
	struct msh_repl_hdr hdr;
	uint32_t shards_total;
	const uint8_t *entries; /**< hdr.count validated entries */
};

/** One epoch of a shard's history: messages from start_seq on were first
 * appended in @p epoch (until the next entry's start). */
struct msh_repl_epoch {
	uint32_t epoch;
	uint64_t start_seq;
};

struct msh_repl_sync_reply {
	struct msh_repl_hdr hdr; /**< hdr.count = n_hist */
	struct msh_name shard;
	uint64_t first_seq;
	uint64_t next_seq;
	uint8_t status; /**< MSH_REPL_SYNC_* */
	struct msh_repl_epoch hist[MSH_REPL_HIST];
};

/**
 * Parse the common header: length, magic, version, known type, role, epoch,
 * node id, reserved byte. @return 0 or a negative enum msh_repl_err.
 */
int msh_repl_hdr_parse(const void *buf, size_t len, struct msh_repl_hdr *h);

/**
 * Parse a DATA frame of exactly @p len bytes. Checks flags (only PUB and RESET;
 * RESET needs count 0, no PUB and no blocks; otherwise count >= 1), first_seq
 * and the range, msg_epoch <= epoch, the publisher fields (zero without PUB,
 * publisher_seq >= 1 with it), the shard, and that count blocks end exactly at
 * the end of the frame, none longer than @p max_msg.
 * @return 0 or a negative enum msh_repl_err.
 */
int msh_repl_data_parse(const void *buf, size_t len, uint32_t max_msg, struct msh_repl_data *d);
/** Parse an ACK (no flags, count 0, next_seq >= 1). */
int msh_repl_ack_parse(const void *buf, size_t len, struct msh_repl_ack *a);
/** Parse a NAK (no flags, count 0, 1 <= expected_seq < seen_seq). */
int msh_repl_nak_parse(const void *buf, size_t len, struct msh_repl_nak *n);
/** Parse a HELLO or SYNC_REQ; every entry is checked (shard, next_seq >= 1,
 * first_seq <= next_seq, reserved). */
int msh_repl_summary_parse(const void *buf, size_t len, struct msh_repl_summary *s);
/** Parse a SYNC_REPLY: status, count <= MSH_REPL_HIST (0 with UNKNOWN_SHARD),
 * strictly increasing history, first_seq <= next_seq. */
int msh_repl_sync_reply_parse(const void *buf, size_t len, struct msh_repl_sync_reply *r);

/** Entry @p i of a parsed summary (i < s->hdr.count). */
void msh_repl_pos_at(const struct msh_repl_summary *s, uint16_t i, struct msh_repl_pos *p);

/*
 * Builders write into buf (capacity cap) and return the frame length, or
 * -ENOSPC if it does not fit (nothing written). They set magic, version and
 * type themselves; the rest comes from the structs as given.
 */
/** DATA header only (64 bytes): d->blocks_len bytes of blocks must follow. */
int msh_repl_data_hdr_build(void *buf, size_t cap, const struct msh_repl_data *d);
/** Whole DATA frame: the header then a copy of d->blocks. */
int msh_repl_data_build(void *buf, size_t cap, const struct msh_repl_data *d);
int msh_repl_ack_build(void *buf, size_t cap, const struct msh_repl_ack *a);
int msh_repl_nak_build(void *buf, size_t cap, const struct msh_repl_nak *n);
/** HELLO or SYNC_REQ (h->type) with @p n entries (h->count is set to n). */
int msh_repl_summary_build(void *buf, size_t cap, const struct msh_repl_hdr *h,
			   uint32_t shards_total, const struct msh_repl_pos *pos, uint16_t n);
int msh_repl_sync_reply_build(void *buf, size_t cap, const struct msh_repl_sync_reply *r);

/** Bytes of message blocks a DATA frame may carry in a UDP payload of @p payload bytes. */
static inline uint32_t
msh_repl_data_room(uint32_t payload)
{
	return payload > MSH_REPL_DATA_HDR_LEN ? payload - MSH_REPL_DATA_HDR_LEN : 0;
}

/*
 * Per-shard state.
 */

/* Counters of one shard's replication, primary and secondary side together
 * (a node changes roles; the counters keep their history). */
#define foreach_msh_repl_counter                                                       \
	_(data_tx_frames, "DATA frames to send (including retransmissions)")           \
	_(data_tx_msgs, "messages in DATA frames to send")                             \
	_(data_tx_bytes, "bytes of blocks in DATA frames to send")                     \
	_(retx_frames, "DATA frames sent again (go-back-N)")                           \
	_(retx_msgs, "messages sent again")                                            \
	_(rewind_nak, "go-back-N after a NAK")                                         \
	_(rewind_timeout, "go-back-N after the ack timeout")                           \
	_(nak_ignored, "NAKs ignored: that seq was rewound to within the hold-off")    \
	_(acks_rx, "ACKs received")                                                    \
	_(naks_rx, "NAKs received")                                                    \
	_(stale_acks, "ACKs below the acked seq (reordered)")                          \
	_(bad_acks, "ACKs or NAKs beyond what this shard holds")                       \
	_(peer_regressed, "ACKs or NAKs below acked_seq: the secondary lost messages") \
	_(resets_tx, "RESET frames: the secondary needed messages no longer held")     \
	_(tx_too_large, "messages too large for a DATA frame (replication stalls)")    \
	_(pending_queued, "publisher acks queued for the secondary's ack (acks=all)")  \
	_(pending_released, "queued publisher acks released")                          \
	_(pending_full, "publisher acks refused: queue full")                          \
	_(pending_dropped, "queued publisher acks dropped (demoted before acked)")     \
	_(sync_req_rx, "SYNC_REQ entries answered")                                    \
	_(applied_frames, "DATA frames applied")                                       \
	_(applied_msgs, "messages applied")                                            \
	_(dup_frames, "DATA frames already held entirely")                             \
	_(dup_msgs, "messages already held")                                           \
	_(partial_frames, "DATA frames partly held (the rest applied)")                \
	_(gap_frames, "DATA frames after a gap (not applied)")                         \
	_(naks_tx, "NAKs to send")                                                     \
	_(naks_suppressed, "NAKs held back (same gap within the hold-off)")            \
	_(stale_epoch, "frames from a lower epoch (dropped)")                          \
	_(epoch_adopted, "higher epochs adopted from DATA")                            \
	_(not_secondary, "DATA received while primary (dropped)")                      \
	_(sync_drops, "DATA received while syncing (dropped)")                         \
	_(apply_full, "DATA refused: shard full")                                      \
	_(apply_too_large, "DATA with a message above max_message (config mismatch)")  \
	_(diverged, "DATA whose message epoch contradicts the history")                \
	_(resets_rx, "restarts at the primary's first retained seq")                   \
	_(reset_lost_msgs, "messages skipped by restarts (never received)")            \
	_(syncs, "catch-up decisions applied")                                         \
	_(sync_truncated_msgs, "messages dropped by catch-up truncation")              \
	_(sync_unknown, "catch-up answers: the primary has no such shard")

struct msh_repl_shard_stats {
#define _(name, doc) uint64_t name;
	foreach_msh_repl_counter
#undef _
};

struct msh_repl_shard_conf {
	uint64_t ack_timeout_ns;  /**< primary: go back to acked_seq after this without progress */
	uint64_t retx_holdoff_ns; /**< primary: ignore a NAK for the seq rewound to this recently */
	uint64_t nak_holdoff_ns;  /**< secondary: one NAK per gap per this long at most */
	uint32_t window_msgs;     /**< primary: unacked messages in flight at most (0 = no limit) */
	uint32_t pending_cap;     /**< acks=all publisher acks queued at most */
};

/** A publisher ack waiting for the secondary (acks=all): everything the app
 * needs to send the PROTOCOL.md ACK later. */
struct msh_repl_pending {
	uint64_t end_seq;       /**< release once acked_seq >= end_seq */
	uint64_t shard_seq;     /**< first appended (0 if none) */
	uint64_t publisher_seq; /**< echoed */
	uint32_t publisher_id;
	uint32_t ip;            /**< publisher's address, host order */
	uint16_t port;          /**< publisher's UDP port */
	uint16_t count;         /**< messages appended by the datagram */
	uint8_t mac[6];         /**< publisher's (or the gateway's) MAC, to reply without ARP */
	uint8_t status;         /**< enum msh_status to report */
	uint8_t rsvd;
};

/** One recent publish: which publisher range a shard_seq range came from. */
struct msh_repl_pub {
	uint64_t first_seq;
	uint64_t publisher_seq;
	uint32_t count;
	uint32_t publisher_id;
};

struct msh_repl_shard {
	struct msh_shard *shard;
	struct msh_repl_shard_conf conf;
	enum msh_repl_role role;
	uint32_t epoch;   /**< epoch this shard works in */
	bool syncing;     /**< secondary: waiting for SYNC_REPLY; DATA is dropped */
	uint64_t held_from; /**< lowest seq this node may hold (memory or disk); 1 unless
			     *   it restarted past a gap (RESET) or the app knows better */
	/* Epoch history, oldest first. */
	uint32_t n_hist;
	struct msh_repl_epoch hist[MSH_REPL_HIST];
	/* Primary. */
	bool peer_known;  /**< the secondary's position is known (an ACK or NAK came) */
	uint64_t start_seq; /**< where sending started while the position is unknown */
	uint64_t sent_seq;  /**< next seq to send */
	uint64_t acked_seq; /**< the secondary holds everything below (0: nothing confirmed) */
	uint64_t peer_ts;   /**< newest secondary clock seen in its ACK/NAK/HELLO/SYNC_REQ */
	uint64_t lo_seq, high_seq; /**< [lo, high): sent since start */
	uint64_t run_lo, run_hi;   /**< [run_lo, run_hi): sent since, below lo (catch-up) */
	uint64_t last_tx_ns;
	uint64_t last_progress_ns; /**< last ack advance, rewind, or start from idle */
	uint64_t last_rewind_ns;
	uint64_t last_rewind_seq;
	uint64_t rtt_ns;         /**< last round trip (ACK echo) */
	uint64_t ack_lag_ns;     /**< last: append of acked_seq - 1 to its ack */
	uint64_t ack_lag_max_ns;
	uint32_t pub_head, pub_n;
	struct msh_repl_pub pub[MSH_REPL_PUB_RING];
	uint32_t pend_head, pend_n;
	struct msh_repl_pending *pend; /**< conf.pending_cap entries after this struct */
	/* Secondary. */
	bool ack_due;         /**< an ACK should go out (msh_repl_ack_fill()) */
	uint64_t echo_ns;     /**< header clock of the DATA that last advanced next_seq */
	uint64_t applied_ns;  /**< when it was applied */
	uint64_t last_nak_ns;
	uint64_t last_nak_seq;
	struct msh_repl_shard_stats stats;
};

/** Bytes for a msh_repl_shard with @p pending_cap queued acks. */
size_t msh_repl_shard_footprint(uint32_t pending_cap);

/**
 * Build the replication state of shard @p s in @p mem (@p len >=
 * msh_repl_shard_footprint(conf->pending_cap), 8-byte aligned). It starts as a
 * secondary in epoch 0, syncing, with an empty history; the app seeds the
 * history of a recovered shard with msh_repl_hist_push() and then calls
 * msh_repl_primary_start() or msh_repl_secondary_start().
 * @return the state (at @p mem) or NULL with errno EINVAL.
 */
struct msh_repl_shard *msh_repl_shard_init(void *mem, size_t len, struct msh_shard *s,
					   const struct msh_repl_shard_conf *conf);

/**
 * Record that messages from @p start_seq on belong to @p epoch. An entry whose
 * range is empty (its start is @p start_seq) is replaced; entries at or past
 * start_seq with a lower epoch are dropped; the oldest entry goes when full.
 * @return 0, or -EINVAL if epoch is not above the last entry's.
 */
int msh_repl_hist_push(struct msh_repl_shard *rs, uint32_t epoch, uint64_t start_seq);

/** Epoch in which message @p seq was first appended (0 if before the history). */
uint32_t msh_repl_hist_epoch_of(const struct msh_repl_shard *rs, uint64_t seq);

/** This shard's position for HELLO and SYNC_REQ. */
void msh_repl_pos_get(const struct msh_repl_shard *rs, struct msh_repl_pos *p);

/* ---- primary side ----------------------------------------------------- */

/**
 * Become the primary of this shard in @p epoch (after the node promoted):
 * appends (epoch, next_seq) to the history, and starts sending at next_seq
 * with the secondary's position unknown until its first ACK, NAK or HELLO entry
 * (msh_repl_on_ack() and friends then move sent_seq to it).
 */
void msh_repl_primary_start(struct msh_repl_shard *rs, uint32_t epoch, uint64_t now_ns);

/**
 * Remember that the publish just appended @p count messages from @p first_seq
 * for publisher range [publisher_seq, publisher_seq + count), so DATA frames
 * can carry it (the secondary then has publisher dedupe state after failover).
 * Call after each successful msh_shard_publish() with appended > 0.
 */
void msh_repl_note_publish(struct msh_repl_shard *rs, uint64_t first_seq, uint32_t count,
			   uint32_t publisher_id, uint64_t publisher_seq);

/** What the next DATA frame carries (msh_repl_tx_next()). */
struct msh_repl_tx {
	struct msh_span span;  /**< blocks (span.count 0 with RESET) */
	uint32_t msg_epoch;
	uint8_t flags;         /**< MSH_REPL_F_DATA_* */
	uint32_t publisher_id;
	uint64_t publisher_seq;
	bool retx;             /**< resends messages sent before */
};

/**
 * Decide the next DATA frame: the run from sent_seq (at most @p max_bytes of
 * blocks, at most 65535 messages, never across a segment, an epoch boundary or
 * a publish boundary it knows), within the window. If the secondary needs
 * messages that memory no longer holds, a RESET frame to the first retained
 * one. Advances sent_seq.
 * @return 1 with @p tx filled, 0 if there is nothing to send now.
 */
int msh_repl_tx_next(struct msh_repl_shard *rs, uint64_t now_ns, uint32_t max_bytes,
		     struct msh_repl_tx *tx);

/** Fill a DATA view from @p tx (to pass to msh_repl_data_build()). */
void msh_repl_tx_data(const struct msh_repl_shard *rs, const struct msh_repl_tx *tx,
		      const struct msh_repl_hdr *h, struct msh_repl_data *d);

/*
 * ACK, NAK, HELLO entries and SYNC_REQ from the secondary are ordered by the
 * clock in their header (the secondary's, monotonic): one older than the newest
 * already used is a reordered leftover and is ignored (stale_acks). A newer one
 * below acked_seq means the secondary lost messages: sending goes back there.
 */

/**
 * An ACK from the secondary. Advances acked_seq (and sent_seq if it lagged),
 * measures the round trip from echo_ns and the ack lag from the receive
 * timestamp of message next_seq - 1. The first ACK after a start or SYNC_REQ
 * sets both sent_seq and acked_seq to it. Release queued publisher acks with
 * msh_repl_pending_pop() afterwards.
 */
void msh_repl_on_ack(struct msh_repl_shard *rs, const struct msh_repl_ack *a, uint64_t now_ns);

/**
 * A NAK: expected_seq is a cumulative ack; the primary goes back to it
 * (go-back-N) unless it went back to the same seq less than retx_holdoff_ns ago
 * (the NAKs of every frame after one loss must not cause one rewind each).
 */
void msh_repl_on_nak(struct msh_repl_shard *rs, const struct msh_repl_nak *n, uint64_t now_ns);

/**
 * The secondary's position from an entry of its HELLO (@p h): used only while
 * the position is unknown (an idle secondary sends no ACK), and not from a
 * syncing or other-epoch node.
 */
void msh_repl_on_peer_pos(struct msh_repl_shard *rs, const struct msh_repl_hdr *h,
			  const struct msh_repl_pos *p, uint64_t now_ns);

/**
 * Timers: after ack_timeout_ns without progress, go back to acked_seq (or to
 * where sending started while the position is unknown). @return 1 if it did.
 */
int msh_repl_primary_tick(struct msh_repl_shard *rs, uint64_t now_ns);

/**
 * A SYNC_REQ entry @p p for this shard (header @p h): answer with this shard's
 * view (first and next seq, history) in @p r (r->hdr left to the caller but
 * r->hdr.count), and wait for the syncing node's ACK before sending again from
 * where it then is. Also answers (without the rest) when not primary.
 */
void msh_repl_on_sync_req(struct msh_repl_shard *rs, const struct msh_repl_hdr *h,
			  const struct msh_repl_pos *p, uint64_t now_ns,
			  struct msh_repl_sync_reply *r);

/** Replication lag of this shard, as the primary sees it. */
struct msh_repl_lag {
	uint64_t msgs;        /**< next_seq - acked_seq */
	uint64_t ns;          /**< age of the oldest unacked message (0 if none or not in memory) */
	uint64_t ack_lag_ns;  /**< append of the last acked message to its ack */
	uint64_t ack_lag_max_ns;
	uint64_t rtt_ns;
	bool peer_known;
};
void msh_repl_lag_get(const struct msh_repl_shard *rs, uint64_t now_ns, struct msh_repl_lag *l);

/**
 * Queue a publisher ack until the secondary holds @p p->end_seq - 1 (acks=all).
 * FIFO: appends are in shard_seq order, so end_seq never decreases.
 * @return 0, -ENOSPC (queue full: counted; the app sends no ack and the
 *         publisher retries), or -EINVAL (end_seq below the previous entry's).
 */
int msh_repl_pending_push(struct msh_repl_shard *rs, const struct msh_repl_pending *p);

/** Pop the oldest queued ack if acked_seq has passed it. @return 1 with @p out, else 0. */
int msh_repl_pending_pop(struct msh_repl_shard *rs, struct msh_repl_pending *out);

/** Pop the oldest queued ack whatever acked_seq (demotion: it will never be
 * released; counted as dropped). @return 1 with @p out, else 0. */
int msh_repl_pending_drain(struct msh_repl_shard *rs, struct msh_repl_pending *out);

/* ---- secondary side --------------------------------------------------- */

/**
 * Follow a primary in @p epoch. With @p syncing, DATA is dropped until
 * msh_repl_sync_apply() (a demoted primary or a restarted node must catch up
 * first; a secondary that stays a secondary across an epoch change also
 * syncs, which costs one round trip). Drops every queued publisher ack:
 * drain them first with msh_repl_pending_drain() to answer them.
 */
void msh_repl_secondary_start(struct msh_repl_shard *rs, uint32_t epoch, bool syncing);

enum msh_repl_verdict {
	MSH_REPL_APPLIED = 0,  /**< appended at next_seq (maybe after skipping held messages) */
	MSH_REPL_DUPLICATE,    /**< held already: re-ACK so the primary advances */
	MSH_REPL_GAP,          /**< starts past next_seq: NAK (unless held back) */
	MSH_REPL_RESET,        /**< restarted at the primary's first retained seq */
	MSH_REPL_STALE_EPOCH,  /**< from a lower epoch: dropped, no reply */
	MSH_REPL_SYNCING,      /**< dropped: catch-up first */
	MSH_REPL_NOT_SECONDARY,/**< dropped: this shard is primary */
	MSH_REPL_FULL,         /**< shard full (or a segment waits for the spill lcore):
				 *   no reply, the primary will retry */
	MSH_REPL_TOO_LARGE,    /**< a message above max_message: dropped (config mismatch) */
	MSH_REPL_DIVERGED,     /**< msg_epoch older than the history's last: dropped, resync */
};

/** What to send back after msh_repl_apply(). */
struct msh_repl_reply {
	bool ack;              /**< send an ACK (msh_repl_ack_fill()) */
	bool nak;              /**< send a NAK with these: */
	uint64_t expected_seq;
	uint64_t seen_seq;
};

/**
 * Apply a parsed DATA frame. A frame from a lower epoch than rs->epoch is
 * dropped; a higher one is adopted. Messages below next_seq are skipped
 * (counted), the rest appended with msh_shard_append_at(); publisher ranges
 * (PUB) advance the shard's dedupe table; a new msg_epoch extends the history.
 * @return enum msh_repl_verdict; @p out says what to send.
 */
enum msh_repl_verdict msh_repl_apply(struct msh_repl_shard *rs, const struct msh_repl_data *d,
				     uint64_t now_ns, struct msh_repl_reply *out);

/** Fill an ACK for this shard (hdr left to the caller) and clear ack_due. */
void msh_repl_ack_fill(struct msh_repl_shard *rs, struct msh_repl_ack *a);

/** The catch-up decision for one shard. */
struct msh_repl_sync_decision {
	bool not_primary;     /**< the answer is not from a primary: ignore it, keep syncing */
	bool unknown_shard;   /**< the primary has no such shard: nothing to do here */
	uint64_t truncate_to; /**< 0, or msh_shard_truncate(shard, truncate_to) */
	uint64_t reset_to;    /**< 0, or msh_shard_reset(shard, reset_to) after that */
	uint64_t diverge_seq; /**< first seq where the histories differ (0 if none) */
};

/**
 * Decide, from the primary's SYNC_REPLY, how this shard must change to become a
 * prefix of the primary's: from held_from on, it keeps the longest run where
 * both histories give the same epoch (an epoch has one primary, so same epoch =
 * same messages), and never more than the primary's next_seq; if it then ends
 * before the primary's first retained message, it restarts there. An epoch
 * unknown on one side (before that history's oldest entry) and known on the
 * other counts as different: the follower drops and fetches again rather than
 * risk keeping messages that differ. Pure: nothing changes.
 */
void msh_repl_sync_decide(const struct msh_repl_shard *rs, const struct msh_repl_sync_reply *r,
			  struct msh_repl_sync_decision *d);

/**
 * Carry out decision @p d taken on reply @p r: truncate and/or reset the
 * shard, trim the history (after a reset it restarts with the primary's epoch
 * of reset_to), leave syncing and make an ACK due (it tells the primary where
 * to send from). Idempotent: after an error it may be called again.
 * @return 0, -EAGAIN (not_primary: nothing done), or the shard's error (-EBUSY:
 *         a segment waits for the spill lcore; call again later).
 */
int msh_repl_sync_apply(struct msh_repl_shard *rs, const struct msh_repl_sync_decision *d,
			const struct msh_repl_sync_reply *r);

/* ---- node: roles, epochs, failover ------------------------------------- */

#define foreach_msh_repl_node_counter                                                    \
	_(frames_rx, "valid frames from the peer")                                       \
	_(foreign_rx, "frames from a node id other than the configured peer")            \
	_(stale_rx, "frames from a lower epoch (dropped; the peer is told)")             \
	_(epochs_adopted, "higher epochs adopted from the peer")                         \
	_(promotions_auto, "promotions after the peer went silent on both networks")     \
	_(promotions_start, "promotions at start-up (start_primary)")                    \
	_(promotions_manual, "promotions by command")                                    \
	_(demotions_epoch, "demotions: the peer had a higher epoch")                     \
	_(demotions_manual, "demotions by command")                                      \
	_(demotions_dual, "demotions: both primary in one epoch (lower node id yields)") \
	_(split_brain_holds, "promotions withheld: peer silent on replication only")     \
	_(hello_tx, "HELLO frames due")                                                  \
	_(sync_req_tx, "SYNC_REQ frames due")

struct msh_repl_node_stats {
#define _(name, doc) uint64_t name;
	foreach_msh_repl_node_counter
#undef _
};

/** Why the node wants an operator (the current condition; NONE when clear). */
#define foreach_msh_repl_alarm                                                                     \
	_(NONE, "none")                                                                            \
	_(SPLIT_BRAIN_HOLD, "peer silent on replication but alive on ingest: promote by hand")     \
	_(INGEST_UNKNOWN, "peer silent on replication, its ingest state unknown: promote by hand") \
	_(AUTO_OFF, "peer silent, automatic promotion off: promote by hand")                       \
	_(NEVER_FOLLOWED, "peer silent, this node never followed a primary: promote by hand")      \
	_(NO_PRIMARY, "both nodes are secondary: promote one by hand")                             \
	_(DUAL_PRIMARY, "both nodes were primary in one epoch (misconfigured node ids?)")          \
	_(PEER_INGEST_DOWN, "the primary reports its ingest port down")

enum msh_repl_alarm {
#define _(sym, str) MSH_REPL_ALARM_##sym,
	foreach_msh_repl_alarm
#undef _
	MSH_REPL_ALARM_COUNT
};

const char *msh_repl_alarm_str(enum msh_repl_alarm a);

/** What the app must do after a node call (bits, OR-ed into *act). */
#define MSH_REPL_ACT_SEND_HELLO 0x01u    /**< send HELLO now (timer, or tell a stale peer) */
#define MSH_REPL_ACT_SEND_SYNC_REQ 0x02u /**< send SYNC_REQ with every shard's position */
#define MSH_REPL_ACT_PROMOTED 0x04u      /**< now primary: msh_repl_primary_start() per shard */
#define MSH_REPL_ACT_DEMOTED 0x08u       /**< was primary, now secondary: every shard:
					  *   drain queued acks, then secondary_start */
#define MSH_REPL_ACT_EPOCH 0x10u         /**< epoch changed: if secondary, every shard:
					  *   msh_repl_secondary_start(rs, epoch, n->syncing) */
#define MSH_REPL_ACT_ALARM 0x20u         /**< n->alarm changed */

/** Peer's ingest liveness as the app observes it on the ingest network. */
enum msh_repl_ingest { MSH_REPL_INGEST_UNKNOWN = 0, MSH_REPL_INGEST_ALIVE, MSH_REPL_INGEST_SILENT };

struct msh_repl_node_conf {
	uint32_t node_id;           /**< this node (!= 0) */
	uint32_t peer_id;           /**< the other node of the pair (!= 0, != node_id) */
	uint32_t epoch;             /**< highest epoch known at start (e.g. from spill files) */
	uint64_t hello_interval_ns; /**< HELLO period (> 0) */
	uint64_t silence_ns;        /**< peer silence that starts failover (> hello_interval) */
	uint64_t sync_retry_ns;     /**< SYNC_REQ repeat while unanswered (> 0) */
	bool auto_promote;          /**< promote on silence (with the ingest rule) */
	bool start_primary;         /**< at start-up, become primary unless a primary answers */
};

struct msh_repl_node {
	struct msh_repl_node_conf conf;
	enum msh_repl_role role;
	uint32_t epoch;
	bool syncing;        /**< must catch up before following (secondary only) */
	bool sync_sent;      /**< a SYNC_REQ went out since syncing began */
	bool followed;       /**< has heard a primary of its own epoch since start */
	bool start_pending;  /**< start_primary not decided yet */
	bool peer_heard;
	bool local_ingest_up;
	enum msh_repl_role peer_role;
	uint32_t peer_epoch;
	bool peer_ingest_up; /**< from the peer's HELLO flags */
	enum msh_repl_ingest peer_ingest;
	enum msh_repl_alarm alarm;
	bool hello_any;       /**< a HELLO was due at least once */
	bool stale_hello_any; /**< a stale peer was told at least once */
	uint64_t start_ns;
	uint64_t last_rx_ns;
	uint64_t last_hello_ns;
	uint64_t last_stale_hello_ns;
	uint64_t last_sync_ns;
	uint64_t both_secondary_ns; /**< since when both have been secondary (0: not) */
	struct msh_repl_node_stats stats;
};

/**
 * Start a node: secondary, in conf->epoch, syncing, peer unknown. Every node
 * starts as a secondary; start_primary and the failover rules decide when it
 * becomes primary (msh_repl_node_tick()).
 * @return 0, or -EINVAL (node ids 0 or equal, zero intervals, silence not above
 *         the HELLO interval).
 */
int msh_repl_node_init(struct msh_repl_node *n, const struct msh_repl_node_conf *conf,
		       uint64_t now_ns);

/** Fill a header for a frame of @p type from this node. */
void msh_repl_node_hdr(const struct msh_repl_node *n, uint8_t type, uint64_t now_ns,
		       struct msh_repl_hdr *h);

enum msh_repl_rx {
	MSH_REPL_RX_ACCEPT = 0, /**< process the frame */
	MSH_REPL_RX_STALE,      /**< lower epoch: drop it (HELLO is due to tell the peer) */
	MSH_REPL_RX_FOREIGN,    /**< not from the configured peer: drop it */
};

/**
 * Every parsed frame from the replication link goes through here first, with
 * the HELLO flags in h->flags. It keeps the peer's liveness, role and epoch,
 * fences lower epochs, adopts higher ones (a primary demotes itself and must
 * catch up), resolves two primaries in one epoch (the lower node id yields).
 * @return enum msh_repl_rx; actions are OR-ed into @p act.
 */
enum msh_repl_rx msh_repl_node_rx(struct msh_repl_node *n, const struct msh_repl_hdr *h,
				  uint64_t now_ns, uint32_t *act);

/**
 * Timers: HELLO due, SYNC_REQ repeat, start-up decision, failover. A secondary
 * that has heard nothing from the peer for silence_ns promotes itself only if
 * auto_promote is on, it has followed a primary since it started, and the app
 * reports the peer SILENT on the ingest network; otherwise it stays secondary
 * and raises an alarm (split brain is prevented, not resolved).
 */
void msh_repl_node_tick(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act);

/** Command: become primary now (epoch bump). @return 0, or -EALREADY if primary. */
int msh_repl_node_promote(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act);

/** Command: become secondary (same epoch; sync with the peer). @return 0 or -EALREADY. */
int msh_repl_node_demote(struct msh_repl_node *n, uint64_t now_ns, uint32_t *act);

/** The app's view of the peer on the ingest network (probes, its traffic). */
void msh_repl_node_peer_ingest(struct msh_repl_node *n, enum msh_repl_ingest state);

/** This node's own ingest port state, advertised in HELLO (INGEST_UP). */
void msh_repl_node_local_ingest(struct msh_repl_node *n, bool up);

/** Every shard has applied its SYNC_REPLY: stop sending SYNC_REQ. */
void msh_repl_node_sync_done(struct msh_repl_node *n);

/** Whether the peer has been heard within silence_ns. */
bool msh_repl_node_peer_alive(const struct msh_repl_node *n, uint64_t now_ns);

#endif /* MSH_REPL_H */
