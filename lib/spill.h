/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Spill files: the on-disk form of one sealed segment, written by the spill
 * lcore, read back to serve sequence numbers that live only on disk, and
 * scanned at restart to rebuild shard metadata. This module owns the file
 * format, CRC32C, the crash-safe write (temp file, fsync, rename, fsync of the
 * directory), full verification on open, span reads and the directory scan.
 * Everything here is control path (system calls, malloc) and free of DPDK.
 *
 * File format, version 1. All integers little-endian (a local format, not a
 * wire format); the message blocks keep their MoldUDP64 big-endian lengths.
 *
 *   Header, 128 bytes at offset 0:
 *     off len  field
 *       0   8  magic         "MSHSPILL" (ASCII, no terminator)
 *       8   4  version       1
 *      12   4  hdr_len       128 (bytes of this header; blocks start here)
 *      16  10  shard         shard name as on the wire (space padded)
 *      26   2  pad           zero
 *      28   4  epoch         replication epoch of the segment
 *      32   8  first_seq     shard sequence number of message 0
 *      40   4  count         messages in the file
 *      44   4  data_len      bytes of message blocks
 *      48   8  created_ns    when the segment was opened
 *      56   8  sealed_ns     when it was sealed
 *      64   8  written_ns    when this file was written
 *      72   4  data_crc      CRC32C of the data_len bytes of blocks
 *      76   4  index_crc     CRC32C of the count * 12 bytes of index
 *      80   4  hdr_crc       CRC32C of these 128 bytes with hdr_crc zero
 *      84  44  reserved      zero when written, covered by hdr_crc, not
 *                            otherwise interpreted when read
 *   Blocks, data_len bytes at offset 128: exactly the segment's blocks,
 *     message first_seq first (2-byte big-endian length, then the message).
 *   Index, count entries of 12 bytes at offset 128 + data_len, in sequence
 *     order: { ts_ns u64 (receive timestamp), off u32 (offset of the block
 *     from the start of the blocks) }.
 *   The file is exactly 128 + data_len + 12 * count bytes.
 *
 * File names: DIR/NAME-SSSSSSSSSSSSSSSSSSSS.seg where SSSS... is first_seq in
 * 20 decimal digits (so names sort like sequence numbers) and NAME is the
 * shard name without its padding, with every byte outside [A-Za-z0-9_-]
 * written as '%' and two upper-case hex digits ("a/b" -> "a%2Fb"). The
 * sequence number is the text after the last '-'. A file is first written as
 * the same name plus ".tmp" and renamed once it is on disk.
 *
 * Threading: msh_spill_write() and msh_spill_scan() may run on any thread; an
 * open msh_spill_file is immutable and may be read concurrently.
 */
#ifndef MSH_SPILL_H
#define MSH_SPILL_H

#include "common.h"
#include "segment.h"

#define MSH_SPILL_MAGIC "MSHSPILL"
#define MSH_SPILL_VERSION 1u
#define MSH_SPILL_HDR_LEN 128u
#define MSH_SPILL_IDX_LEN 12u
/** Bytes of the longest file name msh_spill_write() makes (without DIR/). */
#define MSH_SPILL_NAME_MAX (3 * MSH_NAME_LEN + 1 + 20 + sizeof(".seg.tmp"))

/* Verification failures, each returned negated. They start at
 * MSH_SPILL_E_BASE so they never collide with a negative errno, which the
 * functions below return for system call failures. */
#define foreach_msh_spill_err                                                  \
	_(TRUNCATED, "file shorter than its header says")                      \
	_(BAD_MAGIC, "bad magic")                                              \
	_(BAD_VERSION, "unsupported version or header length")                 \
	_(HEADER_CRC, "header CRC32C mismatch")                                \
	_(DATA_CRC, "blocks CRC32C mismatch")                                  \
	_(INDEX_CRC, "index CRC32C mismatch")                                  \
	_(BAD_INDEX, "index does not walk the blocks")                         \
	_(BAD_SHARD, "shard name not printable ASCII padded with spaces")      \
	_(SIZE_MISMATCH, "file longer than its header says")                   \
	_(IO, "file changed size while being read")                            \
	_(BAD_NAME, "file name not NAME-<20 digits>.seg or not its first_seq") \
	_(TMP_LEFTOVER, "temporary file left by an interrupted write")

#define MSH_SPILL_E_BASE 1000

enum msh_spill_err {
	MSH_SPILL_E_NONE = MSH_SPILL_E_BASE,
#define _(sym, str) MSH_SPILL_E_##sym,
	foreach_msh_spill_err
#undef _
	MSH_SPILL_E_END
};

/**
 * Text for a value returned by this module: a spill error (negative or
 * positive), 0, or a negative errno (strerror's text).
 */
const char *msh_spill_err_str(int err);

/**
 * CRC32C (Castagnoli), chainable: start with crc 0 and pass the result of one
 * call as @p crc of the next; the pre and post inversions are done inside.
 * msh_crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t msh_crc32c(uint32_t crc, const void *p, size_t len);

/** A verified spill file held in memory. Fields are in host order. */
struct msh_spill_file {
	uint8_t *buf;          /**< the whole file (owned; freed by close) */
	size_t size;           /**< bytes of buf */
	const uint8_t *blocks; /**< buf + MSH_SPILL_HDR_LEN */
	const uint8_t *index;  /**< count entries of MSH_SPILL_IDX_LEN bytes */
	struct msh_name shard;
	uint32_t epoch;
	uint32_t count;
	uint32_t data_len;
	uint64_t first_seq;
	uint64_t created_ns;
	uint64_t sealed_ns;
	uint64_t written_ns;
};

/**
 * Write sealed segment @p seg of @p shard to a new file in @p dir (see the
 * file comment for its name): temp file written with full write() loops,
 * fsync, rename over any file of the same name, fsync of the directory. On
 * failure the temp file is removed.
 * @param now_ns   stored as written_ns
 * @param path_out if not NULL, receives the final path (@p path_len bytes)
 * @return 0, -EINVAL (segment not sealed, bad shard name), -ENAMETOOLONG
 *         (path does not fit path_out or PATH_MAX), or the -errno of the
 *         failing system call. When a failure happens after the rename
 *         (directory fsync) the file exists but may not survive a crash.
 */
int msh_spill_write(const char *dir, const struct msh_name *shard, const struct msh_segment *seg,
		    uint32_t epoch, uint64_t now_ns, char *path_out, size_t path_len);

/**
 * Read the file at @p path into memory and verify all of it: size, magic,
 * version, header CRC, shard name, blocks CRC, index CRC, and that the index
 * offsets walk the blocks exactly from 0 to data_len.
 * @return 0 with @p f filled (release with msh_spill_close()), a negative
 *         spill error for a torn or corrupt file, or -errno (ENOENT, EACCES,
 *         ENOMEM, ...). On error @p f holds nothing to release.
 */
int msh_spill_open(const char *path, struct msh_spill_file *f);

/** Free what msh_spill_open() loaded; @p f may be closed twice. */
void msh_spill_close(struct msh_spill_file *f);

/**
 * As msh_segment_span(): the longest run starting at @p seq of at most
 * @p max_count messages and @p max_bytes bytes of blocks; @p out->data points
 * into @p f and is valid until msh_spill_close().
 * @return messages in @p out, 0 if seq is outside the file or the first
 *         message is larger than max_bytes.
 */
int msh_spill_read(const struct msh_spill_file *f, uint64_t seq, uint32_t max_count,
		   uint32_t max_bytes, struct msh_span *out);

/** Receive timestamp of message @p seq, which must be in the file. */
uint64_t msh_spill_ts(const struct msh_spill_file *f, uint64_t seq);

/** Callback of msh_spill_scan(): return 0 to go on, anything else to stop. */
typedef int (*msh_spill_scan_fn)(void *arg, const char *path, const struct msh_spill_file *f,
				 int err);

/**
 * Open every spill file of @p dir in first_seq order (the number in the file
 * name; ties by name) and call @p fn for each: err 0 and @p f verified for a
 * good file (f is closed when fn returns), or err < 0 and f NULL for one
 * that is not to be served: a spill error from msh_spill_open(), -errno if it
 * could not be read, -MSH_SPILL_E_BAD_NAME if the name does not parse or does
 * not match the header's first_seq. "*.seg.tmp" leftovers of interrupted
 * writes are reported with -MSH_SPILL_E_TMP_LEFTOVER and not deleted: the
 * caller decides (a writer may still be running). Other names, including
 * dot files, are ignored.
 * @return 0, the first nonzero value returned by fn, or -errno if the
 *         directory cannot be read (or -ENOMEM).
 */
int msh_spill_scan(const char *dir, msh_spill_scan_fn fn, void *arg);

#endif /* MSH_SPILL_H */
