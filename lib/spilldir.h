/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A shard's spill directory: the table of its spill files (lib/spill.h format)
 * that may be served, rebuilt from the directory at restart, extended as the
 * spill lcore writes files, trimmed from the oldest end for disk retention, and
 * read through a small LRU cache of open file descriptors with pread. The
 * directory may be shared by several shards: only files whose name carries
 * this shard's name are looked at. Every file is verified in full
 * (msh_spill_open) before it enters the table and again each time it is opened
 * for reading; a file that fails is reported through a callback and never
 * served. The table always holds one contiguous run of sequence numbers.
 *
 * Load rule. Files are first classified: "*.seg.tmp" leftovers, badly named,
 * torn, truncated or corrupt files, files whose header names another shard or
 * another first_seq, and empty files are reported and skipped. Of the rest the
 * newest file is the one with the highest (epoch, end sequence); the table is
 * the longest contiguous run ending at it, walking back through files whose
 * end is the next file's first_seq and whose epoch is not higher. Every other
 * valid file is reported: MSH_SPILLDIR_E_GAP when it ends at or before the
 * run's first sequence (older history behind a hole), MSH_SPILLDIR_E_OVERLAP
 * otherwise (it overlaps the run, or lies past it in an older epoch). Reported
 * files are never deleted (they may be the only copy of something an operator
 * wants); only msh_spilldir_drop_oldest() deletes, and only table files.
 *
 * Threading: one owner, the spill lcore (or the main lcore before the workers
 * start). No function may be called concurrently on the same msh_spilldir;
 * the report callback runs on the caller of the function that found the
 * problem. Control path: system calls and malloc.
 */
#ifndef MSH_SPILLDIR_H
#define MSH_SPILLDIR_H

#include "common.h"
#include "segment.h"
#include "spill.h"

/** Default and largest number of descriptors kept open for reads. */
#define MSH_SPILLDIR_FD_DEFAULT 8u
#define MSH_SPILLDIR_FD_MAX 64u

/* Reasons this module adds to lib/spill's, returned and reported negated. */
#define foreach_msh_spilldir_err                                                          \
	_(WRONG_SHARD, "header names another shard than the file name")                   \
	_(EMPTY, "file holds no messages")                                                \
	_(GAP, "older than a gap in the sequence: not contiguous with the newer files")   \
	_(OVERLAP, "overlaps the retained files, or lies past them in an older epoch")    \
	_(STALE, "not newer than the newest retained file")                               \
	_(CHANGED, "file changed since it was listed")

#define MSH_SPILLDIR_E_BASE 1100

enum msh_spilldir_err {
	MSH_SPILLDIR_E_NONE = MSH_SPILLDIR_E_BASE,
#define _(sym, str) MSH_SPILLDIR_E_##sym,
	foreach_msh_spilldir_err
#undef _
	MSH_SPILLDIR_E_END
};

/** Text for a value returned or reported by this module (or by lib/spill, or an errno). */
const char *msh_spilldir_err_str(int err);

#define foreach_msh_spilldir_counter                                              \
	_(files_loaded, "files retained at load")                                 \
	_(files_reported, "files reported and not served")                        \
	_(files_added, "files added after a spill")                               \
	_(files_dropped, "files deleted for retention")                           \
	_(reads, "reads that returned messages")                                  \
	_(read_msgs, "messages read")                                             \
	_(read_bytes, "bytes of blocks read")                                     \
	_(fd_hits, "reads of a file whose descriptor was cached")                 \
	_(fd_opens, "files opened and verified for reading")                      \
	_(fd_evictions, "cached descriptors closed to make room")                 \
	_(verify_failures, "files that failed verification when opened to read") \
	_(io_errors, "reads failed by a system call")

struct msh_spilldir_stats {
#define _(name, doc) uint64_t name;
	foreach_msh_spilldir_counter
#undef _
};

/** One spill file of the table (or, in a report, a file that was not taken). */
struct msh_spilldir_file {
	uint64_t first_seq; /**< sequence number of its first message */
	uint64_t bytes;     /**< size of the file on disk */
	uint32_t count;     /**< messages */
	uint32_t data_len;  /**< bytes of message blocks */
	uint32_t epoch;     /**< replication epoch of the segment */
	int err;            /**< 0 while served; else why it stopped being served */
	char name[MSH_SPILL_NAME_MAX]; /**< file name in the directory */
};

/**
 * Called for every file that is not (or no longer) served, with the reason:
 * a negative lib/spill error, a negative MSH_SPILLDIR_E_*, or -errno.
 * @param path the file
 * @param f    what its header says, or NULL when the header was not trusted
 */
typedef void (*msh_spilldir_report_fn)(void *arg, const char *path, int err,
				       const struct msh_spilldir_file *f);

struct msh_spilldir_conf {
	const char *dir;        /**< directory of the spill files (copied) */
	struct msh_name shard;  /**< whose files */
	uint32_t fd_cache;      /**< descriptors kept open, 1..MSH_SPILLDIR_FD_MAX; 0: default */
	bool remove_tmp;        /**< delete this shard's "*.seg.tmp" after reporting them */
};

struct msh_spilldir;

/**
 * Load a shard's spill files from conf->dir with the rule in the file comment,
 * verifying each file in full; @p report (may be NULL) is kept for later
 * reports too. The directory must exist. Leftover temporaries are deleted
 * only with conf->remove_tmp, which is safe only while no writer runs.
 * @return the table, or NULL with errno: EINVAL (bad conf), ENAMETOOLONG,
 *         ENOMEM, or the error of opendir/readdir.
 */
struct msh_spilldir *msh_spilldir_open(const struct msh_spilldir_conf *conf,
				       msh_spilldir_report_fn report, void *arg);

/** Close cached descriptors and free the table; files stay on disk. NULL is a no-op. */
void msh_spilldir_close(struct msh_spilldir *d);

/**
 * First sequence number on disk, and the one after the last: the table holds
 * [first_seq, next_seq). Both are 0 when no file was ever retained; after the
 * last file is dropped both equal the old next_seq. A shard recovering from
 * disk continues at next_seq (or at 1 when it is 0).
 */
uint64_t msh_spilldir_first_seq(const struct msh_spilldir *d);
uint64_t msh_spilldir_next_seq(const struct msh_spilldir *d);

/** Files in the table, and the sum of their sizes. */
uint32_t msh_spilldir_nfiles(const struct msh_spilldir *d);
uint64_t msh_spilldir_bytes(const struct msh_spilldir *d);

/** File @p i of the table, oldest first (i < nfiles); valid until the table changes. */
const struct msh_spilldir_file *msh_spilldir_file(const struct msh_spilldir *d, uint32_t i);

/** The table file holding @p seq, or NULL; valid until the table changes. */
const struct msh_spilldir_file *msh_spilldir_find(const struct msh_spilldir *d, uint64_t seq);

/** Descriptors currently open in the read cache (at most conf->fd_cache). */
uint32_t msh_spilldir_open_fds(const struct msh_spilldir *d);

/** Counters (see foreach_msh_spilldir_counter). */
const struct msh_spilldir_stats *msh_spilldir_stats(const struct msh_spilldir *d);

/**
 * Take a file the spill lcore has just written (the path msh_spill_write()
 * returned; it must be in the table's directory). The file is verified in full
 * and its descriptor goes into the read cache (recent files are read most).
 * Usually the file continues the table at next_seq. Otherwise the load rule
 * decides, so that a restart would build the same table: a file not newer than
 * the newest (by epoch, then end) is refused with -MSH_SPILLDIR_E_STALE; a newer
 * one that does not continue the run starts where a table file ends (the files
 * after it are let go and reported OVERLAP) or starts a new run (all table
 * files are let go and reported GAP or OVERLAP). Files let go stay on disk.
 * @return 0; -MSH_SPILLDIR_E_STALE, -MSH_SPILLDIR_E_EMPTY,
 *         -MSH_SPILLDIR_E_WRONG_SHARD, -MSH_SPILL_E_BAD_NAME (name not this
 *         shard's or not its first_seq), a lib/spill verification error, or
 *         -errno. A refused file is reported too and left on disk.
 */
int msh_spilldir_add(struct msh_spilldir *d, const char *path);

/**
 * Delete the oldest table file (its descriptor is closed first).
 * @return 0, -ENOENT if the table is empty, or -errno of unlink (the file
 *         then stays in the table). A file already gone counts as deleted.
 */
int msh_spilldir_drop_oldest(struct msh_spilldir *d);

/**
 * Drop oldest files until the table's bytes are at most @p max_bytes (disk
 * retention per shard; 0 deletes every file).
 * @return files dropped, or the -errno of the first failing drop.
 */
int msh_spilldir_trim(struct msh_spilldir *d, uint64_t max_bytes);

/**
 * Copy whole MoldUDP64 blocks, messages @p seq, seq + 1, ..., into @p buf, for a
 * feed packet or a re-request served from disk: at most @p max_msgs messages and
 * min(@p max_bytes, @p buflen) bytes, continuing into the next files when one
 * ends. Uses pread on cached descriptors (a sequential reader costs one pread
 * per file per call); a file is verified in full when its descriptor is opened.
 * Reads at most min(max_bytes, buflen) bytes from each file touched.
 * @param span out: data = buf, len, count, first_seq = seq
 * @return messages copied (> 0); 0 if @p seq is not in the table or max_msgs is
 *         0; -EMSGSIZE if the message at seq is longer than the room; a
 *         negative lib/spill or MSH_SPILLDIR_E_* error if its file failed
 *         verification (it is then reported once and marked, see
 *         msh_spilldir_file::err); or -errno (EMFILE, EIO, ...: nothing marked,
 *         a later call retries). An error in a later file ends the copy early
 *         with what was read before it.
 */
int msh_spilldir_read(struct msh_spilldir *d, uint64_t seq, uint32_t max_msgs, uint32_t max_bytes,
		      void *buf, size_t buflen, struct msh_span *span);

/**
 * The name part a shard's files start with (before "-<20 digits>.seg"): the
 * shard name without its padding, every byte outside [A-Za-z0-9_-] written as
 * '%' and two upper-case hex digits, as lib/spill names files. @p buf holds
 * 3 * MSH_NAME_LEN + 1 bytes. @return the length.
 */
size_t msh_spilldir_name_part(const struct msh_name *shard, char *buf);

/**
 * Split a directory entry named PART-<20 digits>SUFFIX.
 * @return 1 with *seq set when it is @p part's file with @p suffix; 0 when the
 *         name before its last '-' is not @p part or the suffix differs (not
 *         this shard's); -MSH_SPILL_E_BAD_NAME when it is this shard's name and
 *         suffix around something other than 20 digits.
 */
int msh_spilldir_name_parse(const char *file, const char *part, const char *suffix,
			    uint64_t *seq);

#endif /* MSH_SPILLDIR_H */
