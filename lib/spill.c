/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Spill files (see spill.h for the format): CRC32C, the crash-safe write of a
 * sealed segment, verification on open, span reads and the restart scan of a
 * spill directory. Control path only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

#include "fileio.h"
#include "spill.h"

/* Header offsets, named once so the writer and the reader agree. */
#define OFF_MAGIC 0
#define OFF_VERSION 8
#define OFF_HDR_LEN 12
#define OFF_SHARD 16
#define OFF_EPOCH 28
#define OFF_FIRST_SEQ 32
#define OFF_COUNT 40
#define OFF_DATA_LEN 44
#define OFF_CREATED 48
#define OFF_SEALED 56
#define OFF_WRITTEN 64
#define OFF_DATA_CRC 72
#define OFF_INDEX_CRC 76
#define OFF_HDR_CRC 80

#define SEQ_DIGITS 20

static const char *const spill_err_names[] = {
#define _(sym, str) str,
	foreach_msh_spill_err
#undef _
};

_Static_assert(MSH_ARRAY_SIZE(spill_err_names) == MSH_SPILL_E_END - MSH_SPILL_E_BASE - 1,
	       "one string per spill error");

const char *
msh_spill_err_str(int err)
{
	unsigned int e = err < 0 ? 0u - (unsigned int)err : (unsigned int)err;

	if (e == 0)
		return "ok";
	if (e > MSH_SPILL_E_BASE && e < MSH_SPILL_E_END)
		return spill_err_names[e - MSH_SPILL_E_BASE - 1];
	if (e >= MSH_SPILL_E_BASE)
		return "unknown spill error";
	return strerror((int)e);
}

uint32_t
msh_crc32c(uint32_t crc, const void *p, size_t len)
{
	const uint8_t *b = p;

	crc = ~crc;
#ifdef __SSE4_2__
	uint64_t c = crc;

	for (; len >= 8; len -= 8, b += 8) {
		uint64_t v;

		memcpy(&v, b, sizeof(v));
		c = _mm_crc32_u64(c, v);
	}
	crc = (uint32_t)c;
	for (; len > 0; len--, b++)
		crc = _mm_crc32_u8(crc, *b);
#else
	/* Bitwise fallback (reflected polynomial 0x82F63B78) for builds
	 * without SSE4.2; slow but only the control path uses it. */
	for (; len > 0; len--, b++) {
		crc ^= *b;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
	}
#endif
	return ~crc;
}

/* Little-endian loads and stores for the file (x86 is little-endian; the
 * swaps keep the format right should this ever build elsewhere). */
static bool
name_byte_plain(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* NAME-SEQ.seg as described in spill.h; @p buf has MSH_SPILL_NAME_MAX bytes. */
static void
file_name(char *buf, const struct msh_name *shard, uint64_t first_seq)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = MSH_NAME_LEN, o = 0;

	while (len > 0 && shard->b[len - 1] == ' ')
		len--;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = shard->b[i];

		if (name_byte_plain(c)) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	snprintf(buf + o, MSH_SPILL_NAME_MAX - o, "-%020llu.seg", (unsigned long long)first_seq);
}

/* Encode index entries [first, first + n) in the file's layout. */
static uint32_t
idx_encode(const struct msh_segment *seg, uint32_t first, uint32_t n, uint8_t *buf)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct msh_idx *e = msh_segment_idx(seg, first + i);

		msh_store_le64(buf + i * MSH_SPILL_IDX_LEN, e->ts_ns);
		msh_store_le32(buf + i * MSH_SPILL_IDX_LEN + 8, e->off);
	}
	return n * MSH_SPILL_IDX_LEN;
}

#define SYNC_PIECE (1u << 20)

static int
write_file(int fd, const struct msh_name *shard, const struct msh_segment *seg, uint32_t epoch,
	   uint64_t now_ns)
{
	uint8_t hdr[MSH_SPILL_HDR_LEN] = {0};
	size_t ilen = (size_t)seg->count * MSH_SPILL_IDX_LEN;
	/* The whole index encoded once (a 16M segment of small messages has a
	 * few MB of it): one CRC pass and one write, instead of hundreds. */
	uint8_t *idx = malloc(ilen ? ilen : 1);
	int rc;

	if (idx == NULL)
		return -ENOMEM;
	idx_encode(seg, 0, seg->count, idx);
	memcpy(hdr + OFF_MAGIC, MSH_SPILL_MAGIC, 8);
	msh_store_le32(hdr + OFF_VERSION, MSH_SPILL_VERSION);
	msh_store_le32(hdr + OFF_HDR_LEN, MSH_SPILL_HDR_LEN);
	memcpy(hdr + OFF_SHARD, shard->b, MSH_NAME_LEN);
	msh_store_le32(hdr + OFF_EPOCH, epoch);
	msh_store_le64(hdr + OFF_FIRST_SEQ, seg->first_seq);
	msh_store_le32(hdr + OFF_COUNT, seg->count);
	msh_store_le32(hdr + OFF_DATA_LEN, seg->data_len);
	msh_store_le64(hdr + OFF_CREATED, seg->created_ns);
	msh_store_le64(hdr + OFF_SEALED, seg->sealed_ns);
	msh_store_le64(hdr + OFF_WRITTEN, now_ns);
	msh_store_le32(hdr + OFF_DATA_CRC, msh_crc32c(0, seg->data, seg->data_len));
	msh_store_le32(hdr + OFF_INDEX_CRC, msh_crc32c(0, idx, ilen));
	msh_store_le32(hdr + OFF_HDR_CRC, msh_crc32c(0, hdr, sizeof(hdr)));

	rc = msh_write_all(fd, hdr, sizeof(hdr));
	/* The blocks in pieces, each handed to writeback at once (as RocksDB's
	 * bytes_per_sync does): the disk writes one piece while the next is
	 * copied, and the final fsync has little left to wait for. */
	for (uint32_t off = 0; rc == 0 && off < seg->data_len; off += SYNC_PIECE) {
		uint32_t n = MSH_MIN(SYNC_PIECE, seg->data_len - off);

		rc = msh_write_all(fd, seg->data + off, n);
		if (rc == 0)
			sync_file_range(fd, (off64_t)MSH_SPILL_HDR_LEN + off, n, SYNC_FILE_RANGE_WRITE);
	}
	if (rc == 0)
		rc = msh_write_all(fd, idx, ilen);
	free(idx);
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	return rc;
}

int
msh_spill_write(const char *dir, const struct msh_name *shard, const struct msh_segment *seg,
		uint32_t epoch, uint64_t now_ns, char *path_out, size_t path_len)
{
	char name[MSH_SPILL_NAME_MAX];
	char path[PATH_MAX], tmp[PATH_MAX];
	int fd, rc, n;

	if (!msh_segment_sealed(seg) || !msh_name_valid(shard))
		return -EINVAL;
	file_name(name, shard, seg->first_seq);
	n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n + sizeof(".tmp") > sizeof(path) ||
	    (path_out != NULL && (size_t)n >= path_len))
		return -ENAMETOOLONG;
	memcpy(tmp, path, (size_t)n);
	memcpy(tmp + n, ".tmp", sizeof(".tmp"));

	/* O_TRUNC, not O_EXCL: a leftover of a crashed write of the same
	 * segment must not block this one. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = write_file(fd, shard, seg, epoch, now_ns);
	if (close(fd) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	rc = msh_fsync_dir(dir);
	if (path_out != NULL)
		memcpy(path_out, path, (size_t)n + 1);
	return rc;
}

static int
read_file(const char *path, uint8_t **bufp, size_t *sizep)
{
	struct stat st;
	uint8_t *buf;
	size_t size, got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -MSH_SPILL_E_IO;
			free(buf);
			goto out;
		}
		got += (size_t)r;
	}
	*bufp = buf;
	*sizep = size;
out:
	close(fd);
	return rc;
}

/* Everything but the I/O: @p f->buf and size are set, the rest is filled. */
static int
verify(struct msh_spill_file *f)
{
	const uint8_t *b = f->buf;
	uint8_t hdr[MSH_SPILL_HDR_LEN];
	uint64_t want;
	uint32_t off;

	if (f->size < MSH_SPILL_HDR_LEN)
		return -MSH_SPILL_E_TRUNCATED;
	if (memcmp(b + OFF_MAGIC, MSH_SPILL_MAGIC, 8) != 0)
		return -MSH_SPILL_E_BAD_MAGIC;
	if (msh_load_le32(b + OFF_VERSION) != MSH_SPILL_VERSION ||
	    msh_load_le32(b + OFF_HDR_LEN) != MSH_SPILL_HDR_LEN)
		return -MSH_SPILL_E_BAD_VERSION;
	memcpy(hdr, b, sizeof(hdr));
	memset(hdr + OFF_HDR_CRC, 0, 4);
	if (msh_crc32c(0, hdr, sizeof(hdr)) != msh_load_le32(b + OFF_HDR_CRC))
		return -MSH_SPILL_E_HEADER_CRC;

	memcpy(f->shard.b, b + OFF_SHARD, MSH_NAME_LEN);
	f->epoch = msh_load_le32(b + OFF_EPOCH);
	f->first_seq = msh_load_le64(b + OFF_FIRST_SEQ);
	f->count = msh_load_le32(b + OFF_COUNT);
	f->data_len = msh_load_le32(b + OFF_DATA_LEN);
	f->created_ns = msh_load_le64(b + OFF_CREATED);
	f->sealed_ns = msh_load_le64(b + OFF_SEALED);
	f->written_ns = msh_load_le64(b + OFF_WRITTEN);
	if (!msh_name_valid(&f->shard))
		return -MSH_SPILL_E_BAD_SHARD;

	want = (uint64_t)MSH_SPILL_HDR_LEN + f->data_len + (uint64_t)f->count * MSH_SPILL_IDX_LEN;
	if (f->size < want)
		return -MSH_SPILL_E_TRUNCATED;
	if (f->size > want)
		return -MSH_SPILL_E_SIZE_MISMATCH;
	f->blocks = b + MSH_SPILL_HDR_LEN;
	f->index = f->blocks + f->data_len;
	if (msh_crc32c(0, f->blocks, f->data_len) != msh_load_le32(b + OFF_DATA_CRC))
		return -MSH_SPILL_E_DATA_CRC;
	if (msh_crc32c(0, f->index, (size_t)f->count * MSH_SPILL_IDX_LEN) !=
	    msh_load_le32(b + OFF_INDEX_CRC))
		return -MSH_SPILL_E_INDEX_CRC;

	/* The CRCs match what the writer computed; this catches a writer that
	 * got it wrong, which must not turn into reads out of the buffer. */
	if (f->first_seq + f->count < f->first_seq)
		return -MSH_SPILL_E_BAD_INDEX;
	off = 0;
	for (uint32_t i = 0; i < f->count; i++) {
		if (msh_load_le32(f->index + (size_t)i * MSH_SPILL_IDX_LEN + 8) != off ||
		    (uint64_t)off + MSH_BLOCK_HDR_LEN > f->data_len)
			return -MSH_SPILL_E_BAD_INDEX;
		want = (uint64_t)off + MSH_BLOCK_HDR_LEN + msh_load_be16(f->blocks + off);
		if (want > f->data_len)
			return -MSH_SPILL_E_BAD_INDEX;
		off = (uint32_t)want;
	}
	if (off != f->data_len)
		return -MSH_SPILL_E_BAD_INDEX;
	return 0;
}

int
msh_spill_open(const char *path, struct msh_spill_file *f)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = read_file(path, &f->buf, &f->size);
	if (rc != 0)
		return rc;
	rc = verify(f);
	if (rc != 0)
		msh_spill_close(f);
	return rc;
}

void
msh_spill_close(struct msh_spill_file *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* msh_idx_off_fn of a spill file's index. */
static inline uint32_t
spill_off(const void *ctx, uint32_t i)
{
	const struct msh_spill_file *f = ctx;

	return i < f->count ? msh_load_le32(f->index + (size_t)i * MSH_SPILL_IDX_LEN + 8) : f->data_len;
}

uint64_t
msh_spill_ts(const struct msh_spill_file *f, uint64_t seq)
{
	return msh_load_le64(f->index + (size_t)(seq - f->first_seq) * MSH_SPILL_IDX_LEN);
}

int
msh_spill_read(const struct msh_spill_file *f, uint64_t seq, uint32_t max_count,
	       uint32_t max_bytes, struct msh_span *out)
{
	const struct msh_idx_view v = {
		.ctx = f,
		.off = spill_off,
		.blocks = f->blocks,
		.first_seq = f->first_seq,
		.count = f->count,
	};

	if (seq < f->first_seq || seq - f->first_seq >= f->count || max_count == 0)
		return 0;
	return (int)msh_idx_span(&v, (uint32_t)(seq - f->first_seq), max_count, max_bytes, out);
}

struct scan_ent {
	uint64_t seq;
	bool ok;  /* the name parsed */
	bool tmp; /* a .seg.tmp leftover */
	char name[];
};

/* Parse NAME-<20 digits>.seg or .seg.tmp; returns false for other names. */
static bool
scan_parse(struct scan_ent *e)
{
	const char *n = e->name, *dash, *p;
	size_t len = strlen(n), sfx;

	if (n[0] == '.')
		return false;
	if (len > 8 && strcmp(n + len - 8, ".seg.tmp") == 0) {
		e->tmp = true;
		sfx = 8;
	} else if (len > 4 && strcmp(n + len - 4, ".seg") == 0) {
		sfx = 4;
	} else {
		return false;
	}
	e->ok = false;
	e->seq = UINT64_MAX;
	dash = strrchr(n, '-');
	if (dash == NULL || (size_t)(n + len - sfx - (dash + 1)) != SEQ_DIGITS)
		return true;
	e->seq = 0;
	for (p = dash + 1; p < n + len - sfx; p++) {
		if (*p < '0' || *p > '9')
			return true;
		if (e->seq > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			e->seq = UINT64_MAX;
			return true;
		}
		e->seq = e->seq * 10 + (uint64_t)(*p - '0');
	}
	e->ok = true;
	return true;
}

static int
scan_cmp(const void *a, const void *b)
{
	const struct scan_ent *x = *(const struct scan_ent *const *)a;
	const struct scan_ent *y = *(const struct scan_ent *const *)b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
scan_one(const char *dir, const struct scan_ent *e, msh_spill_scan_fn fn, void *arg)
{
	char path[PATH_MAX];
	struct msh_spill_file f;
	int n, err, rc;

	n = snprintf(path, sizeof(path), "%s/%s", dir, e->name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return fn(arg, e->name, NULL, -ENAMETOOLONG);
	if (e->tmp)
		return fn(arg, path, NULL, -MSH_SPILL_E_TMP_LEFTOVER);
	if (!e->ok)
		return fn(arg, path, NULL, -MSH_SPILL_E_BAD_NAME);
	err = msh_spill_open(path, &f);
	if (err != 0)
		return fn(arg, path, NULL, err);
	if (f.first_seq != e->seq) {
		msh_spill_close(&f);
		return fn(arg, path, NULL, -MSH_SPILL_E_BAD_NAME);
	}
	rc = fn(arg, path, &f, 0);
	msh_spill_close(&f);
	return rc;
}

int
msh_spill_scan(const char *dir, msh_spill_scan_fn fn, void *arg)
{
	struct scan_ent **ents = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL)
		return -errno;
	/* Collect first: files are visited in sequence order, not in the
	 * directory's order. */
	for (;;) {
		struct scan_ent *e;
		size_t len;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			rc = -errno;
			break;
		}
		len = strlen(de->d_name);
		e = malloc(sizeof(*e) + len + 1);
		if (e == NULL) {
			rc = -ENOMEM;
			break;
		}
		memcpy(e->name, de->d_name, len + 1);
		e->tmp = false;
		if (!scan_parse(e)) {
			free(e);
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct scan_ent **ne = realloc(ents, ncap * sizeof(*ents));

			if (ne == NULL) {
				free(e);
				rc = -ENOMEM;
				break;
			}
			ents = ne;
			cap = ncap;
		}
		ents[n++] = e;
	}
	closedir(d);
	if (rc == 0 && n > 0)
		qsort(ents, n, sizeof(*ents), scan_cmp);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = scan_one(dir, ents[i], fn, arg);
	for (size_t i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return rc;
}
