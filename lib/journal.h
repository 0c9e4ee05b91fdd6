/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The write-ahead journal of a storage=persistent shard: the messages of its
 * active (unsealed) segment, on disk before their publisher is acked. Records
 * are appended into a buffer, written with pwrite and made durable by one
 * fdatasync covering every record appended since the last (group commit). At
 * restart the journal is replayed: valid records are handed back in order so
 * that the shard can re-append them, and a torn or corrupt tail is reported
 * and cut off. Sealed segments are made durable by their spill files
 * (lib/spill); the journal then forgets them by rolling to a new file and
 * deleting the old ones. Control path, free of DPDK.
 *
 * Files: DIR/NAME-SSSSSSSSSSSSSSSSSSSS.jnl, named like spill files
 * (msh_spilldir_name_part(), then start_seq in 20 digits), so several shards
 * may share a directory with their spill files; "*.jnl.tmp" while a file is
 * created, "*.jnl.orphan" for files set aside by a replay. All integers are
 * little-endian; message blocks keep their MoldUDP64 big-endian lengths.
 *
 *   File header, 64 bytes at offset 0:
 *     off len  field
 *       0   8  magic       "MSHJOURN"
 *       8   4  version     1
 *      12   4  hdr_len     64 (records start here)
 *      16  10  shard       shard name as on the wire (space padded)
 *      26   6  pad         zero
 *      32   8  start_seq   sequence number the first record must start at
 *      40   8  created_ns  CLOCK_REALTIME when the file was created
 *      48  12  reserved    zero, covered by hdr_crc
 *      60   4  hdr_crc     CRC32C of these 64 bytes with hdr_crc zero
 *   Records, back to back from offset 64, each:
 *       0   4  magic       0x31524A4D ("MJR1" on disk)
 *       4   8  first_seq   sequence number of its first message
 *      12   4  count       messages, at least 1
 *      16   4  bytes       bytes of blocks, 2 * count .. MSH_JOURNAL_REC_MAX
 *      20   4  crc         CRC32C of bytes 0..19 of this header, then the blocks
 *      24   .  blocks      count MoldUDP64 blocks (2-byte length, message)
 *   A record's first_seq is the previous record's first_seq + count (the
 *   file's start_seq for the first one); a file's start_seq is where the
 *   previous file's records ended.
 *
 * Rules. A record is durable, and may be acked, once msh_journal_sync()
 * returns a durable_seq above its last message; nothing is ever reported
 * durable that fdatasync has not covered. A record that append refused is not
 * in the journal. A failed write of buffered records (ENOSPC, EDQUOT, EFBIG)
 * cuts the file back to the last whole record and keeps the records buffered,
 * so a later sync retries; any other write error, a failed fdatasync (the
 * kernel may have dropped the dirty pages: retrying could report data durable
 * that is not) or a failed ftruncate fails the journal for good: every call
 * then returns that error, and the shard must stop acking persistently until
 * an operator restarts it (the replay then keeps what is really on disk).
 * Replay stops at the first torn or corrupt record (reported with its file
 * and offset), cuts that file there and sets every later file aside as
 * *.jnl.orphan (reported): records after a hole cannot be re-sequenced.
 * Records acked before a crash are never after a torn record, because each
 * sync covers all earlier records and a roll syncs before the next file.
 *
 * Threading: one owner, the spill lcore; no call may run concurrently on the
 * same journal. Callbacks run on the caller.
 */
#ifndef MSH_JOURNAL_H
#define MSH_JOURNAL_H

#include "common.h"

#define MSH_JOURNAL_MAGIC "MSHJOURN"
#define MSH_JOURNAL_VERSION 1u
#define MSH_JOURNAL_HDR_LEN 64u
#define MSH_JOURNAL_REC_MAGIC 0x31524A4Du
#define MSH_JOURNAL_REC_HDR_LEN 24u
/** Largest bytes of blocks in one record. */
#define MSH_JOURNAL_REC_MAX (64u << 20)
/** Write buffer: default and smallest size. */
#define MSH_JOURNAL_BUF_DEFAULT (1u << 20)
#define MSH_JOURNAL_BUF_MIN (64u << 10)

/* Replay findings, returned and reported negated; apart from lib/spill's. */
#define foreach_msh_journal_err                                                      \
	_(BAD_HEADER, "file header: bad magic, version, shard, start or CRC32C")      \
	_(TRUNCATED, "record cut short by the end of the file (torn write)")          \
	_(BAD_MAGIC, "no record magic where a record should start")                   \
	_(BAD_LENGTH, "record count or length out of range")                          \
	_(CRC, "record CRC32C mismatch")                                              \
	_(BAD_BLOCKS, "record blocks do not hold count messages")                     \
	_(DISCONTIGUOUS, "record does not continue the sequence")                     \
	_(FILE_GAP, "file does not start where the previous one ended")               \
	_(ORPHAN, "after a torn or corrupt record: not replayed, renamed *.orphan")   \
	_(TMP_LEFTOVER, "temporary file of an interrupted file creation (removed)")   \
	_(SEQ_GAP, "journal starts after from_seq: the messages between are lost")    \
	_(BAD_NAME, "file name not NAME-<20 digits>.jnl")

#define MSH_JOURNAL_E_BASE 1200

enum msh_journal_err {
	MSH_JOURNAL_E_NONE = MSH_JOURNAL_E_BASE,
#define _(sym, str) MSH_JOURNAL_E_##sym,
	foreach_msh_journal_err
#undef _
	MSH_JOURNAL_E_END
};

/** Text for a value returned or reported here (or a lib/spill error, or an errno). */
const char *msh_journal_err_str(int err);

#define foreach_msh_journal_counter                                                  \
	_(appends, "records appended")                                               \
	_(append_msgs, "messages appended")                                          \
	_(append_bytes, "bytes appended, record headers included")                   \
	_(writes, "pwrite calls")                                                    \
	_(syncs, "fdatasync calls that succeeded")                                   \
	_(synced_records, "records made durable")                                    \
	_(write_errors, "failed writes (records kept; a later sync retries)")        \
	_(sync_errors, "failed fdatasync (journal failed)")                          \
	_(files_created, "journal files created")                                    \
	_(files_retired, "journal files deleted once their messages were spilled")

struct msh_journal_stats {
#define _(name, doc) uint64_t name;
	foreach_msh_journal_counter
#undef _
};

struct msh_journal_conf {
	const char *dir;       /**< directory (copied); must exist */
	struct msh_name shard; /**< whose journal */
	uint32_t buf_bytes;    /**< write buffer, >= MSH_JOURNAL_BUF_MIN; 0: default */
};

/** What msh_journal_open() found. */
struct msh_journal_replay {
	uint64_t from_seq;     /**< as asked, at least 1 */
	uint64_t first_seq;    /**< first message handed back, 0 if none */
	uint64_t next_seq;     /**< where appends continue: max(from_seq, end of the records) */
	uint64_t records;      /**< records handed back (a record cut at from_seq counts) */
	uint64_t msgs;         /**< messages handed back */
	uint64_t skipped_msgs; /**< valid messages below from_seq, not handed back */
	uint64_t cut_bytes;    /**< bytes cut off the torn file */
	uint64_t torn_off;     /**< offset of the first bad record in its file */
	uint32_t files;        /**< journal files read */
	uint32_t orphans;      /**< files set aside */
	int torn_err;          /**< why the replay stopped early, 0 if it did not */
};

/**
 * A recovered run of messages: @p count blocks, @p len bytes, starting at
 * @p first_seq, valid during the call. Return 0 to go on; anything else stops
 * msh_journal_open(), which then fails with errno ECANCELED and changes no file.
 */
typedef int (*msh_journal_record_fn)(void *arg, uint64_t first_seq, const uint8_t *blocks,
				     uint32_t len, uint32_t count);

/** A finding of the replay: @p err (negative) at byte @p off of the file @p path. */
typedef void (*msh_journal_report_fn)(void *arg, const char *path, uint64_t off, int err);

struct msh_journal;

/**
 * Replay a shard's journal files in conf->dir and open the journal for appends.
 * Records are handed to @p on_record in sequence order, without the messages
 * below @p from_seq (the first sequence number that is not in a durable spill
 * file: msh_spilldir_next_seq(), or 1 for a shard without files), a record
 * straddling it cut at from_seq. If the first record handed back starts above
 * from_seq the hole is reported (MSH_JOURNAL_E_SEQ_GAP) and the shard must
 * continue after it. Torn tails are cut, later files set aside, "*.jnl.tmp"
 * removed, all reported; files whose messages are all below from_seq are
 * deleted. Every file read is fdatasync'ed, so what was handed back is durable.
 * Appends then continue at @p res->next_seq, in the last file read or in a new one.
 * @param on_record, on_report  may be NULL
 * @param res  may be NULL
 * @return the journal, or NULL with errno: EINVAL, ENAMETOOLONG, ENOMEM,
 *         ECANCELED (on_record stopped), or that of a failing system call.
 */
struct msh_journal *msh_journal_open(const struct msh_journal_conf *conf, uint64_t from_seq,
				     msh_journal_record_fn on_record,
				     msh_journal_report_fn on_report, void *arg,
				     struct msh_journal_replay *res);

/**
 * Append one record: @p count MoldUDP64 blocks of @p len bytes, messages
 * first_seq .. first_seq + count - 1. Copied into the write buffer, which is
 * written out (pwrite) when full; not durable until a sync says so.
 * @return 0 when the journal has the record; -EINVAL (first_seq is not
 *         msh_journal_next_seq(), count 0, or blocks that do not hold count
 *         messages of exactly len bytes), -EMSGSIZE (len > MSH_JOURNAL_REC_MAX),
 *         or the -errno of the write that had to make room (ENOSPC ...), or
 *         the journal's failure: the record is then not in the journal.
 */
int msh_journal_append(struct msh_journal *j, uint64_t first_seq, const void *blocks,
		       uint32_t len, uint32_t count);

/**
 * Group commit: write what is buffered and fdatasync once, covering every
 * record appended since the last sync. Nothing pending: no system call.
 * @param durable_seq out (may be NULL): every message below it is on disk;
 *        set on errors too, and then unchanged by this call
 * @return 0, or -errno: a retryable write error (records kept), or the
 *         journal's permanent failure (see the file comment).
 */
int msh_journal_sync(struct msh_journal *j, uint64_t *durable_seq);

/**
 * Start a new file at msh_journal_next_seq(), after a sync (done here).
 * Call it when a segment seals; the old files are deleted by
 * msh_journal_retire() once that segment's spill file is durable. No-op if
 * the current file holds no record.
 * @return 0 or -errno (the journal goes on in the current file).
 */
int msh_journal_roll(struct msh_journal *j);

/**
 * Delete the files (all but the current one) whose messages are all below
 * @p upto_seq: call with the spill file's end once it is durable.
 * @return files deleted, or the -errno of a failing unlink (that file stays).
 */
int msh_journal_retire(struct msh_journal *j, uint64_t upto_seq);

/** Sequence number the next append must start at. */
uint64_t msh_journal_next_seq(const struct msh_journal *j);

/** Every message below this is durable. */
uint64_t msh_journal_durable_seq(const struct msh_journal *j);

/** 0, or the error that failed the journal for good. */
int msh_journal_error(const struct msh_journal *j);

/** Journal files held (the current one included). */
uint32_t msh_journal_nfiles(const struct msh_journal *j);

/** Counters (see foreach_msh_journal_counter). */
const struct msh_journal_stats *msh_journal_stats(const struct msh_journal *j);

/**
 * Close without writing: records appended since the last sync are dropped
 * (they were never reported durable). Files stay. NULL is a no-op.
 */
void msh_journal_close(struct msh_journal *j);

/**
 * Close and delete every journal file (shard deleted, or storage changed to
 * memory once its segments are spilled or no longer wanted).
 * @return 0 or the -errno of the first failing unlink.
 */
int msh_journal_destroy(struct msh_journal *j);

#endif /* MSH_JOURNAL_H */
