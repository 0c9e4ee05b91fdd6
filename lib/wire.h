/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Codecs for every packet of shared/PROTOCOL.md version 1: the native header
 * (PUBLISH, ACK, SUBSCRIBE, SUB_REPLY, UNSUBSCRIBE, UNAVAILABLE) and MoldUDP64
 * (downstream and request packets). Parsers check every bound and never read
 * past the datagram; builders write into a caller's buffer and never past its
 * capacity. Parsed views point into the caller's datagram (no copies).
 * Thread-safe: no state.
 */
#ifndef MSH_WIRE_H
#define MSH_WIRE_H

#include "common.h"

#define MSH_MAGIC 0x4D53u
#define MSH_VERSION 1
#define MSH_HDR_LEN 20
#define MSH_PUBLISH_HDR_LEN 32
#define MSH_ACK_LEN 44
#define MSH_SUBSCRIBE_LEN 40
#define MSH_SUB_REPLY_LEN 48
#define MSH_UNSUBSCRIBE_LEN 20
#define MSH_UNAVAILABLE_LEN 36
#define MSH_MOLD_HDR_LEN 20
#define MSH_MOLD_REQ_LEN 20

/** Largest message that fits a 1500-byte MTU datagram (PROTOCOL.md "Sizes"). */
#define MSH_MAX_MSG_MTU1500 1438u
/** Largest message a block length can express. */
#define MSH_MAX_MSG_ABS 65535u

/** MoldUDP64 message count of a heartbeat and of an end-of-session packet. */
#define MSH_MOLD_HEARTBEAT 0u
#define MSH_MOLD_END_OF_SESSION 0xFFFFu

/** SUBSCRIBE start_seq meaning "only new messages". */
#define MSH_START_NEW UINT64_MAX
/** SUBSCRIBE start_seq meaning "oldest retained". */
#define MSH_START_OLDEST 0u

/** PUBLISH flags. */
#define MSH_PUB_F_ACK 0x01u
/** SUBSCRIBE flags. */
#define MSH_SUB_F_RESTART 0x01u

enum msh_type {
	MSH_T_PUBLISH = 1,
	MSH_T_ACK = 2,
	MSH_T_SUBSCRIBE = 3,
	MSH_T_SUB_REPLY = 4,
	MSH_T_UNSUBSCRIBE = 5,
	MSH_T_UNAVAILABLE = 6,
};

/* Reply status codes: one list so the CLI, stats and telemetry print the same
 * names (VPP's foreach_*_error). */
#define foreach_msh_status                                                     \
	_(OK, 0, "ok")                                                         \
	_(DUPLICATE, 1, "duplicate")                                           \
	_(SHARD_FULL, 2, "shard full")                                         \
	_(UNKNOWN_SHARD, 3, "unknown shard")                                   \
	_(MALFORMED, 4, "malformed")                                           \
	_(NOT_PRIMARY, 5, "not primary")                                       \
	_(TOO_LARGE, 6, "too large")                                           \
	_(TOO_MANY_SUBSCRIBERS, 7, "too many subscribers")                     \
	_(TOKEN_REQUIRED, 8, "token required")                                 \
	_(NOT_ALLOWED, 9, "not allowed")

enum msh_status {
#define _(sym, val, str) MSH_S_##sym = val,
	foreach_msh_status
#undef _
	MSH_S_COUNT
};

/** Name of a status code ("shard full"), or "unknown status". */
const char *msh_status_str(unsigned int status);

/* Why a datagram could not be parsed. 0 is success; parsers return the
 * negative value. The same list names the drop counters. */
#define foreach_msh_wire_err                                                   \
	_(TRUNCATED, "shorter than its header")                                \
	_(BAD_MAGIC, "bad magic")                                              \
	_(BAD_VERSION, "unsupported version")                                  \
	_(BAD_TYPE, "unknown or unexpected type")                              \
	_(BAD_SHARD, "shard name not printable ASCII padded with spaces")      \
	_(COUNT_ZERO, "message count 0")                                       \
	_(BLOCK_OVERRUN, "message block runs past the datagram")               \
	_(BLOCK_UNDERRUN, "bytes left after the last message block")           \
	_(TOO_LARGE, "message larger than the limit")                          \
	_(BAD_SEQ, "sequence 0 or range that wraps")                           \
	_(BAD_LENGTH, "length wrong for the type")

enum msh_wire_err {
	MSH_WIRE_OK = 0,
#define _(sym, str) MSH_WIRE_E_##sym,
	foreach_msh_wire_err
#undef _
	MSH_WIRE_E_COUNT
};

/** Text for a wire error (positive or negative value accepted). */
const char *msh_wire_err_str(int err);

/** Parsed native header (host order). */
struct msh_hdr {
	uint8_t version;
	uint8_t type;
	uint8_t flags; /**< flags in requests, status in replies */
	uint16_t count;
	struct msh_name shard;
};

/** PUBLISH view: blocks points into the datagram. */
struct msh_publish {
	struct msh_hdr hdr;
	uint32_t publisher_id;
	uint64_t publisher_seq; /**< seq of the first message, from 1 */
	const uint8_t *blocks;  /**< count blocks, exactly blocks_len bytes */
	uint32_t blocks_len;
	uint32_t max_msg_len; /**< longest message in the datagram */
};

struct msh_ack {
	struct msh_hdr hdr; /**< flags holds the status; count = appended */
	uint32_t publisher_id;
	uint64_t publisher_seq;
	uint64_t shard_seq; /**< first appended, 0 if none */
	uint32_t epoch;
};

struct msh_subscribe {
	struct msh_hdr hdr;
	uint32_t lease_ms;
	uint64_t start_seq;
	uint64_t token;
};

struct msh_sub_reply {
	struct msh_hdr hdr; /**< flags holds the status */
	uint32_t epoch;
	uint64_t first_seq;
	uint64_t next_seq;
	uint64_t token;
};

struct msh_unavailable {
	struct msh_hdr hdr;
	uint64_t asked_seq;
	uint64_t first_seq;
};

/** MoldUDP64 downstream packet view. */
struct msh_mold {
	struct msh_name session;
	uint64_t seq;
	uint16_t count;
	const uint8_t *blocks;
	uint32_t blocks_len;
};

/** MoldUDP64 request packet. */
struct msh_mold_req {
	struct msh_name session;
	uint64_t seq;
	uint16_t count;
};

/**
 * Parse the 20-byte native header: magic, version, known type, reserved bytes
 * ignored. The shard name is checked (printable, space padded).
 * @return 0 or a negative enum msh_wire_err.
 */
int msh_hdr_parse(const void *buf, size_t len, struct msh_hdr *h);

/**
 * Parse a PUBLISH datagram of exactly @p len bytes: header of type PUBLISH,
 * count >= 1, publisher_seq >= 1 and seq + count not wrapping, count blocks
 * that end exactly at the datagram's end, each message at most @p max_msg
 * bytes. On error, @p p->hdr is still filled when the header was readable
 * (so the caller can answer MALFORMED or TOO_LARGE if an ACK was asked for).
 * @return 0 or a negative enum msh_wire_err.
 */
int msh_publish_parse(const void *buf, size_t len, uint32_t max_msg, struct msh_publish *p);

/**
 * Walk @p count blocks in [blocks, blocks+len): they must end exactly at len.
 * @param max_len  out: longest message seen (may be NULL)
 * @return 0, -MSH_WIRE_E_BLOCK_OVERRUN or -MSH_WIRE_E_BLOCK_UNDERRUN.
 */
int msh_blocks_check(const uint8_t *blocks, size_t len, uint32_t count, uint32_t *max_len);

/**
 * Byte offset of block @p n in a run of blocks, i.e. the bytes the first
 * @p n blocks take: for dropping the messages a shard already holds from the
 * front of a publish or replication frame. No bounds are checked: the run
 * must have been validated (msh_blocks_check()) and hold at least @p n blocks.
 * @return the offset; 0 when @p n is 0.
 */
uint32_t msh_blocks_skip(const uint8_t *blocks, uint32_t n);

int msh_ack_parse(const void *buf, size_t len, struct msh_ack *a);
int msh_subscribe_parse(const void *buf, size_t len, struct msh_subscribe *s);
int msh_sub_reply_parse(const void *buf, size_t len, struct msh_sub_reply *r);
int msh_unsubscribe_parse(const void *buf, size_t len, struct msh_hdr *h);
int msh_unavailable_parse(const void *buf, size_t len, struct msh_unavailable *u);

/** Parse a MoldUDP64 downstream packet; count 0 and 0xFFFF carry no blocks. */
int msh_mold_parse(const void *buf, size_t len, struct msh_mold *m);
/** Parse a 20-byte MoldUDP64 request packet. */
int msh_mold_req_parse(const void *buf, size_t len, struct msh_mold_req *r);

/*
 * Builders: write the packet into buf (capacity cap) and return its length,
 * or -ENOSPC if it does not fit. Header reserved fields are written as 0;
 * magic and version are always MSH_MAGIC and MSH_VERSION.
 */
void msh_hdr_build(void *buf, uint8_t type, uint8_t flags, uint16_t count,
		   const struct msh_name *shard);
/** PUBLISH header only (32 bytes); the caller appends count blocks after it. */
int msh_publish_hdr_build(void *buf, size_t cap, const struct msh_name *shard, uint8_t flags,
			  uint16_t count, uint32_t publisher_id, uint64_t publisher_seq);
/** Append one message block at @p off; returns the new offset or -ENOSPC. */
int msh_block_put(void *buf, size_t cap, size_t off, const void *msg, uint16_t len);
int msh_ack_build(void *buf, size_t cap, const struct msh_ack *a);
int msh_subscribe_build(void *buf, size_t cap, const struct msh_subscribe *s);
int msh_sub_reply_build(void *buf, size_t cap, const struct msh_sub_reply *r);
int msh_unsubscribe_build(void *buf, size_t cap, const struct msh_name *shard);
int msh_unavailable_build(void *buf, size_t cap, const struct msh_unavailable *u);
/** MoldUDP64 header only (20 bytes); blocks follow. */
int msh_mold_hdr_build(void *buf, size_t cap, const struct msh_name *session, uint64_t seq,
		       uint16_t count);
int msh_mold_req_build(void *buf, size_t cap, const struct msh_mold_req *r);

#endif /* MSH_WIRE_H */
