/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A shard: a named, sequenced log of messages held in fixed-size segments.
 * Everything a shard uses lives in one region of memory handed in by the
 * caller (a hugepage memzone in the appliance, malloc in the tests): this
 * header, the segment list, the free-slot stack, the publisher dedupe table,
 * then max_bytes / segment_bytes slots. Creating a shard reserves all of its
 * memory, so the fast path never allocates and memory is never over-committed.
 *
 * Sequence numbers start at 1 and have no holes. A publish is all-or-nothing:
 * either every new message of the datagram is appended or none (SHARD_FULL).
 * At max_bytes, on_full=reject refuses the publish; on_full=evict drops the
 * oldest sealed segments first. Segments already on disk (MSH_SEG_F_SPILLED)
 * are dropped whatever on_full says; a segment waiting for the spill lcore
 * (MSH_SEG_F_SPILL_PENDING) is never dropped: the publish is refused until it
 * is written (spill_waits).
 *
 * Threading: one writer, the owning worker lcore, does every call here except
 * the read-only accessors on sealed segments. Hooks run on the writer.
 */
#ifndef MSH_SHARD_H
#define MSH_SHARD_H

#include "common.h"
#include "config.h"
#include "dedupe.h"
#include "segment.h"

/** Slots are page aligned so that spill files can be written with O_DIRECT. */
#define MSH_SLOT_ALIGN 4096u

enum msh_seal_reason { MSH_SEAL_SIZE = 0, MSH_SEAL_AGE, MSH_SEAL_MANUAL };

#define foreach_msh_shard_counter                                              \
	_(pub_datagrams, "publish datagrams decided")                          \
	_(appended_msgs, "messages appended")                                  \
	_(appended_bytes, "bytes of message blocks appended")                  \
	_(dup_datagrams, "datagrams that were wholly duplicate")               \
	_(dup_msgs, "duplicate messages skipped")                              \
	_(partial_overlaps, "datagrams that partly overlapped")                \
	_(publisher_gaps, "publisher sequence jumps forward")                  \
	_(publisher_gap_msgs, "publisher messages skipped over (holes)")        \
	_(late_fills, "datagrams appended late into a hole (reordered)")       \
	_(full_rejects, "datagrams refused: shard full")                       \
	_(full_reject_msgs, "messages refused: shard full")                    \
	_(evicted_segments, "segments evicted")                                \
	_(evicted_msgs, "messages evicted")                                    \
	_(sealed_size, "segments sealed by size")                              \
	_(sealed_age, "segments sealed by age")                                \
	_(sealed_manual, "segments sealed by command")                         \
	_(released_segments, "spilled segments dropped from memory")           \
	_(released_msgs, "messages of spilled segments dropped from memory")   \
	_(spill_waits, "datagrams refused: oldest segment not yet on disk")    \
	_(truncations, "truncations (a newer history replaced the tail)")      \
	_(truncated_msgs, "messages dropped by truncation")                    \
	_(truncated_bytes, "bytes of message blocks dropped by truncation")    \
	_(resets, "restarts at a later sequence number (catch-up)")            \
	_(reset_msgs, "messages dropped from memory by a restart")             \
	_(dedupe_forgotten, "publishers forgotten because truncation undid them")

struct msh_shard_stats {
#define _(name, doc) uint64_t name;
	foreach_msh_shard_counter
#undef _
};

struct msh_shard;
/** Called on the writer when a segment is sealed (e.g. to queue it for spill). */
typedef void (*msh_seal_hook_t)(void *ctx, struct msh_shard *s, struct msh_segment *seg,
				enum msh_seal_reason why);
/** Called on the writer just before a segment's slot is reused. */
typedef void (*msh_evict_hook_t)(void *ctx, struct msh_shard *s, struct msh_segment *seg);
/**
 * Called on the writer before truncation or reset takes messages out of a
 * segment: @p keep of its messages stay (0: the whole segment goes and its slot
 * is freed right after the call). Unlike eviction, the dropped messages must
 * not be served from anywhere else either: a spill file of the segment, or one
 * queued to be written, is now wrong and must be discarded or rewritten.
 */
typedef void (*msh_truncate_hook_t)(void *ctx, struct msh_shard *s, struct msh_segment *seg,
				    uint32_t keep);

struct msh_shard {
	/* Hot: read on every publish. */
	struct msh_segment *active; /**< open segment, NULL until the next append */
	uint64_t next_seq;          /**< next shard_seq to assign */
	struct msh_dedupe *dedupe;
	uint32_t max_message;
	uint32_t epoch;
	enum msh_on_full on_full;
	uint32_t slot_bytes;   /**< size of every slot */
	uint32_t n_slots;      /**< slots in the region */
	uint32_t slot_limit;   /**< slots allowed now (max_bytes / slot_bytes) */
	uint32_t n_free;       /**< entries on the free stack */
	uint32_t seg_head;     /**< index of the oldest segment in segs[] */
	uint32_t seg_n;        /**< segments held, oldest first, active last */
	struct msh_segment **segs; /**< ring of n_slots entries */
	void **free_slots;         /**< stack of n_slots entries */
	uint8_t *slots;            /**< first slot */
	msh_seal_hook_t on_seal;
	msh_evict_hook_t on_evict;
	void *hook_ctx;
	msh_truncate_hook_t on_truncate;
	void *truncate_ctx;
	struct msh_shard_stats stats MSH_CACHE_ALIGNED;
	struct msh_shard_conf conf;
	size_t region_bytes;
};

/** Outcome of msh_shard_publish(), as the ACK reports it. */
struct msh_pub_result {
	uint8_t status;     /**< enum msh_status: OK, DUPLICATE or SHARD_FULL */
	uint32_t appended;  /**< messages appended by this datagram */
	uint64_t first_seq; /**< shard_seq of the first appended, 0 if none */
	uint64_t gap;       /**< publisher messages skipped over (counted) */
};

/**
 * Bytes of memory a shard with this configuration needs, or 0 if the
 * configuration cannot make a shard (see msh_shard_conf_check()).
 */
size_t msh_shard_footprint(const struct msh_shard_conf *conf);

/**
 * Build a shard in @p mem (@p len >= msh_shard_footprint(conf), 64-byte aligned).
 * The shard keeps a copy of @p conf. Sequence numbers start at @p first_seq
 * (1 for a new shard; later after recovery).
 * @return the shard (at @p mem) or NULL with errno EINVAL (bad conf, memory too
 *         small or misaligned).
 */
struct msh_shard *msh_shard_init(void *mem, size_t len, const struct msh_shard_conf *conf,
				 uint64_t first_seq);

/** Install hooks (any may be NULL). */
void msh_shard_set_hooks(struct msh_shard *s, msh_seal_hook_t on_seal, msh_evict_hook_t on_evict,
			 void *ctx);

/**
 * The PUBLISH action: dedupe against the publisher's history, then append the
 * new messages all-or-nothing. @p blocks holds @p count blocks validated by the
 * codec (each at most max_message bytes).
 */
void msh_shard_publish(struct msh_shard *s, uint32_t publisher_id, uint64_t publisher_seq,
		       const uint8_t *blocks, uint32_t blocks_len, uint32_t count, uint64_t now_ns,
		       struct msh_pub_result *r);

/**
 * Append @p count validated blocks, all or nothing, stamped @p now_ns.
 * @param first_seq out: shard_seq of the first appended message
 * @return 0, or -ENOSPC when the shard is full (on_full=reject, or evict with
 *         nothing left to evict).
 */
int msh_shard_append(struct msh_shard *s, const uint8_t *blocks, uint32_t blocks_len,
		     uint32_t count, uint64_t now_ns, uint64_t *first_seq);

/**
 * Append a run received from the primary at exactly the primary's sequence
 * numbers: @p first_seq must be next_seq. Same all-or-nothing append and the
 * same on_full behaviour as msh_shard_append() (a refusal is counted in
 * full_rejects). @p blocks holds @p count blocks validated by the codec, each
 * at most max_message bytes. The dedupe table is not touched (the caller
 * records publisher ranges it knows with msh_dedupe_advance()).
 * @return 0;
 *         -EALREADY if first_seq < next_seq (the shard already holds the start
 *         of the run: a duplicate or an overlap; nothing appended);
 *         -ENOMSG if first_seq > next_seq (a gap: messages next_seq..first_seq-1
 *         are missing; nothing appended);
 *         -ENOSPC when the shard is full;
 *         -EINVAL if count is 0, first_seq is 0 or the range wraps.
 */
int msh_shard_append_at(struct msh_shard *s, uint64_t first_seq, const uint8_t *blocks,
			uint32_t blocks_len, uint32_t count, uint64_t now_ns);

/**
 * Drop every message with shard_seq >= @p seq, so that the next append gets
 * @p seq. Segments wholly at or past seq are freed (newest first); the one
 * holding seq - 1 keeps its first messages and, if it was sealed, stays sealed
 * (the next append opens a new segment). The truncate hook is called for each
 * segment before it changes. A seq below what memory retains drops every
 * segment (the messages in between were evicted: their spill files must go too).
 *
 * Publisher dedupe: the table does not record which shard_seq a publisher's
 * messages got, only when the publisher was last appended (its last_seen, the
 * now_ns of that append). Every publisher appended at or after the receive
 * timestamp of message @p seq may have had messages dropped, so it is forgotten
 * (as if never seen: its next datagram and any retry are accepted again and
 * counted as a gap). Publishers appended only before that keep their state,
 * which is still exact. If message seq is no longer in memory, every publisher
 * is forgotten. This is conservative: a retry of a forgotten publisher's
 * message that survived below seq is appended a second time. It relies on the
 * writer's clock never going backwards between appends.
 *
 * A segment waiting for the spill lcore (MSH_SEG_F_SPILL_PENDING) is neither
 * cut nor freed: if one would be, nothing changes and -EBUSY tells the caller
 * to try again once it is written. A cut segment loses MSH_SEG_F_SPILLED (its
 * file holds messages that are gone; the hook is where to discard it).
 *
 * Counters: appended_* stay as they were (counters only grow); truncated_msgs
 * counts next_seq - seq, truncated_bytes the bytes freed from memory.
 * @return 0 (also when seq >= next_seq: nothing to drop), -EBUSY (see above),
 *         or -EINVAL if seq is 0.
 */
int msh_shard_truncate(struct msh_shard *s, uint64_t seq);

/**
 * Drop every message held in memory and continue at @p next_seq (>= the
 * current next_seq): a secondary so far behind that the primary no longer has
 * the messages it needs starts again at the primary's first retained one. The
 * messages dropped are identical on the primary (they precede the skipped
 * range), so publisher dedupe state is kept. The truncate hook is called with
 * keep 0 for each segment.
 * @return 0, -EBUSY if a segment waits for the spill lcore (nothing changed),
 *         or -EINVAL if next_seq < the current next_seq.
 */
int msh_shard_reset(struct msh_shard *s, uint64_t next_seq);

/** Install the truncate hook (NULL to remove) and its context. */
void msh_shard_set_truncate_hook(struct msh_shard *s, msh_truncate_hook_t on_truncate, void *ctx);

/** Receive timestamp of message @p seq, or 0 if it is not in memory. */
uint64_t msh_shard_ts(const struct msh_shard *s, uint64_t seq);

/**
 * Read the longest contiguous run from @p seq (at most @p max_count messages
 * and @p max_bytes bytes of blocks; runs stop at segment boundaries). This is
 * also the primary's replication source: the span is the stored bytes, ready to
 * follow a DATA header (see repl.h).
 * @return messages in @p out (> 0); 0 if seq >= next_seq (nothing yet);
 *         -ERANGE if seq is older than what memory retains;
 *         -EMSGSIZE if the message at seq is longer than max_bytes.
 */
int msh_shard_read(const struct msh_shard *s, uint64_t seq, uint32_t max_count,
		   uint32_t max_bytes, struct msh_span *out);

/** First shard_seq retained in memory (next_seq when empty). */
uint64_t msh_shard_first_seq(const struct msh_shard *s);

/** Segment holding @p seq, or NULL. */
const struct msh_segment *msh_shard_find(const struct msh_shard *s, uint64_t seq);

/** Seal the active segment if it is older than segment_age. @return 1 if sealed. */
int msh_shard_tick(struct msh_shard *s, uint64_t now_ns);

/** Seal the active segment now. @return 0, or -ENODATA if there is none or it is empty. */
int msh_shard_seal(struct msh_shard *s, uint64_t now_ns);

/** Bytes of segment memory in use (held segments times slot size). */
static inline uint64_t
msh_shard_mem_used(const struct msh_shard *s)
{
	return (uint64_t)s->seg_n * s->slot_bytes;
}

/**
 * Change max_bytes live, within the memory reserved at creation. Shrinking
 * below the segments held evicts (on_full=evict) or waits for them to go.
 * @return 0 or -EINVAL (beyond the reservation or below two segments).
 */
int msh_shard_set_max_bytes(struct msh_shard *s, uint64_t max_bytes);

/** Change on_full live. */
void msh_shard_set_on_full(struct msh_shard *s, enum msh_on_full on_full);

/**
 * Drop from memory the oldest segments that are on disk (MSH_SEG_F_SPILLED),
 * stopping at the first that is not (segments are dropped oldest first).
 * For a release-on-spill policy; memory pressure drops spilled segments
 * anyway, whatever on_full says, since nothing is lost.
 * @return segments dropped.
 */
uint32_t msh_shard_release_spilled(struct msh_shard *s);

#endif /* MSH_SHARD_H */
