/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The write-ahead journal of persistent shards (see journal.h for the format
 * and the rules): replay and repair at open, buffered appends, group commit
 * with one fdatasync, rolling to new files and retiring spilled ones. Control
 * path only, one owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "spill.h"
#include "spilldir.h"

/* File header offsets. */
#define OFF_MAGIC 0
#define OFF_VERSION 8
#define OFF_HDR_LEN 12
#define OFF_SHARD 16
#define OFF_START 32
#define OFF_CREATED 40
#define OFF_HDR_CRC 60
/* Record header offsets. */
#define REC_MAGIC 0
#define REC_FIRST 4
#define REC_COUNT 12
#define REC_BYTES 16
#define REC_CRC 20

#define NAME_PART_MAX (3 * MSH_NAME_LEN + 1)
#define JNAME_MAX (NAME_PART_MAX + 1 + 20 + sizeof(".jnl.orphan"))
#define RD_BUF (1u << 20)
#define NO_SEQ UINT64_MAX

static const char *const journal_err_names[] = {
#define _(sym, str) str,
	foreach_msh_journal_err
#undef _
};

_Static_assert(MSH_ARRAY_SIZE(journal_err_names) == MSH_JOURNAL_E_END - MSH_JOURNAL_E_BASE - 1,
	       "one string per journal error");
_Static_assert(MSH_SPILLDIR_E_END <= MSH_JOURNAL_E_BASE, "spilldir and journal errors apart");

struct jfile {
	uint64_t start; /* start_seq of its header */
	uint64_t end;   /* after its last record (the current file: updated on roll) */
	char name[JNAME_MAX];
};

struct msh_journal {
	char *dir;
	struct msh_name shard;
	char part[NAME_PART_MAX];
	int fd;             /* the current file, files[nfiles - 1] */
	uint64_t write_off; /* end of the whole records written to it */
	uint8_t *buf;       /* records appended, not yet written */
	uint32_t buf_len, buf_cap;
	uint64_t next_seq;    /* after the last record appended */
	uint64_t written_seq; /* after the last record written */
	uint64_t durable_seq; /* after the last record covered by fdatasync */
	uint64_t recs_buffered, recs_written, recs_durable;
	int err; /* permanent failure */
	struct jfile *files;
	uint32_t nfiles, cap;
	struct msh_journal_stats stats;
};

const char *
msh_journal_err_str(int err)
{
	unsigned int e = err < 0 ? 0u - (unsigned int)err : (unsigned int)err;

	if (e > MSH_JOURNAL_E_BASE && e < MSH_JOURNAL_E_END)
		return journal_err_names[e - MSH_JOURNAL_E_BASE - 1];
	return msh_spilldir_err_str(err);
}

/* Do @p count blocks fill exactly @p len bytes? */
static bool
blocks_walk(const uint8_t *b, uint32_t len, uint32_t count)
{
	uint64_t off = 0;

	for (uint32_t i = 0; i < count; i++) {
		if (off + MSH_BLOCK_HDR_LEN > len)
			return false;
		off += MSH_BLOCK_HDR_LEN + msh_load_be16(b + off);
	}
	return off == len;
}

/* Bytes of the first @p n of the blocks at @p b (the caller knows they are there). */
static uint32_t
blocks_skip(const uint8_t *b, uint64_t n)
{
	uint32_t off = 0;

	for (uint64_t i = 0; i < n; i++)
		off += MSH_BLOCK_HDR_LEN + msh_load_be16(b + off);
	return off;
}

static int
path_of(const struct msh_journal *j, const char *name, char *path)
{
	int n = snprintf(path, PATH_MAX, "%s/%s", j->dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void
file_name(const struct msh_journal *j, uint64_t start, char *name)
{
	snprintf(name, JNAME_MAX, "%s-%020llu.jnl", j->part, (unsigned long long)start);
}

static void
hdr_encode(const struct msh_journal *j, uint64_t start, uint8_t *h)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	memset(h, 0, MSH_JOURNAL_HDR_LEN);
	memcpy(h + OFF_MAGIC, MSH_JOURNAL_MAGIC, 8);
	msh_store_le32(h + OFF_VERSION, MSH_JOURNAL_VERSION);
	msh_store_le32(h + OFF_HDR_LEN, MSH_JOURNAL_HDR_LEN);
	memcpy(h + OFF_SHARD, j->shard.b, MSH_NAME_LEN);
	msh_store_le64(h + OFF_START, start);
	msh_store_le64(h + OFF_CREATED, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	msh_store_le32(h + OFF_HDR_CRC, msh_crc32c(0, h, MSH_JOURNAL_HDR_LEN));
}

static bool
hdr_valid(const struct msh_journal *j, const uint8_t *h, uint64_t name_seq)
{
	uint8_t c[MSH_JOURNAL_HDR_LEN];

	memcpy(c, h, sizeof(c));
	memset(c + OFF_HDR_CRC, 0, 4);
	return memcmp(h + OFF_MAGIC, MSH_JOURNAL_MAGIC, 8) == 0 &&
	       msh_load_le32(h + OFF_VERSION) == MSH_JOURNAL_VERSION &&
	       msh_load_le32(h + OFF_HDR_LEN) == MSH_JOURNAL_HDR_LEN &&
	       msh_crc32c(0, c, sizeof(c)) == msh_load_le32(h + OFF_HDR_CRC) &&
	       memcmp(h + OFF_SHARD, j->shard.b, MSH_NAME_LEN) == 0 &&
	       msh_load_le64(h + OFF_START) == name_seq;
}

static int
files_reserve(struct msh_journal *j, uint32_t more)
{
	if (j->nfiles + more > j->cap) {
		uint32_t ncap = MSH_MAX(j->cap * 2, j->nfiles + more + 4);
		struct jfile *nf = realloc(j->files, ncap * sizeof(*nf));

		if (nf == NULL)
			return -ENOMEM;
		j->files = nf;
		j->cap = ncap;
	}
	return 0;
}

/* Create file @p start through a temporary name: header, fsync, rename,
 * fsync of the directory, so that it exists whole or not at all. */
static int
file_create(struct msh_journal *j, uint64_t start, int *fdp, char *name)
{
	uint8_t h[MSH_JOURNAL_HDR_LEN];
	char path[PATH_MAX], tmp[PATH_MAX];
	ssize_t n;
	int fd, rc;

	file_name(j, start, name);
	rc = path_of(j, name, path);
	if (rc != 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	hdr_encode(j, start, h);
	do {
		n = pwrite(fd, h, sizeof(h), 0);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(h))
		rc = n < 0 ? -errno : -EIO;
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc != 0) {
		close(fd);
		unlink(tmp);
		return rc;
	}
	rc = msh_fsync_dir(j->dir);
	if (rc != 0) {
		/* Its name may not survive a crash: records synced into it
		 * could vanish, so it is not used. */
		close(fd);
		unlink(path);
		return rc;
	}
	j->stats.files_created++;
	*fdp = fd;
	return 0;
}

/* Writing ----------------------------------------------------------------------------- */

static bool
err_retryable(int rc)
{
	return rc == -ENOSPC || rc == -EDQUOT || rc == -EFBIG;
}

/* Write @p iov at write_off. On failure the file is cut back to write_off so
 * that it ends on a whole record; errors that may be transient leave the
 * journal usable. */
static int
write_out(struct msh_journal *j, struct iovec *iov, int cnt)
{
	uint64_t off = j->write_off;
	int rc;

	while (cnt > 0) {
		ssize_t n = pwritev(j->fd, iov, cnt, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto fail;
		}
		j->stats.writes++;
		off += (uint64_t)n;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	j->write_off = off;
	return 0;
fail:
	j->stats.write_errors++;
	if (ftruncate(j->fd, (off_t)j->write_off) != 0 || !err_retryable(rc))
		j->err = rc;
	return rc;
}

static int
flush(struct msh_journal *j)
{
	struct iovec iov = {j->buf, j->buf_len};
	int rc;

	if (j->buf_len == 0)
		return 0;
	rc = write_out(j, &iov, 1);
	if (rc != 0)
		return rc;
	j->buf_len = 0;
	j->written_seq = j->next_seq;
	j->recs_written += j->recs_buffered;
	j->recs_buffered = 0;
	return 0;
}

int
msh_journal_append(struct msh_journal *j, uint64_t first_seq, const void *blocks, uint32_t len,
		   uint32_t count)
{
	uint8_t h[MSH_JOURNAL_REC_HDR_LEN];
	uint64_t rec = (uint64_t)MSH_JOURNAL_REC_HDR_LEN + len;
	int rc;

	if (j->err)
		return j->err;
	if (len > MSH_JOURNAL_REC_MAX)
		return -EMSGSIZE;
	if (count == 0 || first_seq != j->next_seq || first_seq + count < first_seq ||
	    !blocks_walk(blocks, len, count))
		return -EINVAL;
	msh_store_le32(h + REC_MAGIC, MSH_JOURNAL_REC_MAGIC);
	msh_store_le64(h + REC_FIRST, first_seq);
	msh_store_le32(h + REC_COUNT, count);
	msh_store_le32(h + REC_BYTES, len);
	msh_store_le32(h + REC_CRC, msh_crc32c(msh_crc32c(0, h, REC_CRC), blocks, len));

	if (j->buf_len + rec > j->buf_cap) {
		rc = flush(j);
		if (rc != 0)
			return rc;
	}
	if (rec > j->buf_cap) {
		/* Larger than the buffer: straight to the file. */
		struct iovec iov[2] = {{h, sizeof(h)}, {(void *)(uintptr_t)blocks, len}};

		rc = write_out(j, iov, 2);
		if (rc != 0)
			return rc;
		j->written_seq = first_seq + count;
		j->recs_written++;
	} else {
		memcpy(j->buf + j->buf_len, h, sizeof(h));
		memcpy(j->buf + j->buf_len + sizeof(h), blocks, len);
		j->buf_len += (uint32_t)rec;
		j->recs_buffered++;
	}
	j->next_seq = first_seq + count;
	j->stats.appends++;
	j->stats.append_msgs += count;
	j->stats.append_bytes += rec;
	return 0;
}

int
msh_journal_sync(struct msh_journal *j, uint64_t *durable_seq)
{
	int rc = j->err;

	if (rc == 0)
		rc = flush(j);
	if (rc == 0 && j->written_seq != j->durable_seq) {
		if (fdatasync(j->fd) != 0) {
			/* Never retried: after a failed fdatasync the kernel
			 * may have marked the pages clean (see journal.h). */
			rc = -errno;
			j->err = rc;
			j->stats.sync_errors++;
		} else {
			j->durable_seq = j->written_seq;
			j->stats.syncs++;
			j->stats.synced_records += j->recs_written - j->recs_durable;
			j->recs_durable = j->recs_written;
		}
	}
	if (durable_seq != NULL)
		*durable_seq = j->durable_seq;
	return rc;
}

int
msh_journal_roll(struct msh_journal *j)
{
	struct jfile *cur;
	int fd, rc;

	rc = msh_journal_sync(j, NULL);
	if (rc != 0)
		return rc;
	cur = &j->files[j->nfiles - 1];
	if (cur->start == j->next_seq)
		return 0;
	rc = files_reserve(j, 1);
	if (rc != 0)
		return rc;
	cur = &j->files[j->nfiles - 1];
	rc = file_create(j, j->next_seq, &fd, j->files[j->nfiles].name);
	if (rc != 0)
		return rc;
	cur->end = j->next_seq;
	close(j->fd);
	j->fd = fd;
	j->write_off = MSH_JOURNAL_HDR_LEN;
	j->files[j->nfiles].start = j->next_seq;
	j->files[j->nfiles].end = j->next_seq;
	j->nfiles++;
	return 0;
}

int
msh_journal_retire(struct msh_journal *j, uint64_t upto_seq)
{
	char path[PATH_MAX];
	int done = 0;

	for (uint32_t i = 0; i + 1 < j->nfiles;) {
		if (j->files[i].end > upto_seq) {
			i++;
			continue;
		}
		if (path_of(j, j->files[i].name, path) == 0 && unlink(path) != 0 &&
		    errno != ENOENT)
			return -errno;
		memmove(&j->files[i], &j->files[i + 1], (j->nfiles - i - 1) * sizeof(*j->files));
		j->nfiles--;
		j->stats.files_retired++;
		done++;
	}
	return done;
}

uint64_t
msh_journal_next_seq(const struct msh_journal *j)
{
	return j->next_seq;
}

uint64_t
msh_journal_durable_seq(const struct msh_journal *j)
{
	return j->durable_seq;
}

int
msh_journal_error(const struct msh_journal *j)
{
	return j->err;
}

uint32_t
msh_journal_nfiles(const struct msh_journal *j)
{
	return j->nfiles;
}

const struct msh_journal_stats *
msh_journal_stats(const struct msh_journal *j)
{
	return &j->stats;
}

static void
journal_free(struct msh_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j->files);
	free(j->buf);
	free(j->dir);
	free(j);
}

void
msh_journal_close(struct msh_journal *j)
{
	if (j != NULL)
		journal_free(j);
}

int
msh_journal_destroy(struct msh_journal *j)
{
	char path[PATH_MAX];
	int rc = 0;

	for (uint32_t i = 0; i < j->nfiles; i++)
		if (path_of(j, j->files[i].name, path) == 0 && unlink(path) != 0 &&
		    errno != ENOENT && rc == 0)
			rc = -errno;
	journal_free(j);
	return rc;
}

/* Replay ------------------------------------------------------------------------------ */

/* A window on a file being replayed, refilled as records are walked. */
struct rd {
	int fd;
	uint64_t size;
	uint8_t *buf;
	size_t cap;
	uint64_t base; /* file offset of buf[0] */
	size_t len;
};

/* Point *p at bytes [off, off + n) of the file (the caller checked size). */
static int
rd_get(struct rd *r, uint64_t off, size_t n, const uint8_t **p)
{
	size_t want;
	int rc;

	if (off >= r->base && off + n <= r->base + r->len) {
		*p = r->buf + (off - r->base);
		return 0;
	}
	if (n > r->cap) {
		uint8_t *nb = malloc(n);

		if (nb == NULL)
			return -ENOMEM;
		free(r->buf);
		r->buf = nb;
		r->cap = n;
	}
	want = (size_t)MSH_MIN((uint64_t)r->cap, r->size - off);
	r->len = 0;
	rc = msh_pread_all(r->fd, r->buf, want, off, -EIO);
	if (rc != 0)
		return rc;
	r->base = off;
	r->len = want;
	*p = r->buf;
	return 0;
}

struct rec {
	uint64_t first_seq;
	uint32_t count, bytes;
	const uint8_t *blocks;
};

/* Check the record at @p off; 1 at the end of the file, 0 for a good record,
 * a negative journal error for a bad one, or -errno. */
static int
rec_check(struct rd *r, uint64_t off, uint64_t expect, struct rec *out)
{
	uint64_t left = r->size - off;
	const uint8_t *h;
	uint32_t crc;
	int rc;

	if (left == 0)
		return 1;
	if (left < MSH_JOURNAL_REC_HDR_LEN)
		return -MSH_JOURNAL_E_TRUNCATED;
	rc = rd_get(r, off, MSH_JOURNAL_REC_HDR_LEN, &h);
	if (rc != 0)
		return rc;
	if (msh_load_le32(h + REC_MAGIC) != MSH_JOURNAL_REC_MAGIC)
		return -MSH_JOURNAL_E_BAD_MAGIC;
	out->first_seq = msh_load_le64(h + REC_FIRST);
	out->count = msh_load_le32(h + REC_COUNT);
	out->bytes = msh_load_le32(h + REC_BYTES);
	crc = msh_load_le32(h + REC_CRC);
	if (out->count == 0 || out->bytes < 2ull * out->count || out->bytes > MSH_JOURNAL_REC_MAX ||
	    out->first_seq + out->count < out->first_seq)
		return -MSH_JOURNAL_E_BAD_LENGTH;
	if (left - MSH_JOURNAL_REC_HDR_LEN < out->bytes)
		return -MSH_JOURNAL_E_TRUNCATED;
	rc = rd_get(r, off, MSH_JOURNAL_REC_HDR_LEN + (size_t)out->bytes, &h);
	if (rc != 0)
		return rc;
	out->blocks = h + MSH_JOURNAL_REC_HDR_LEN;
	if (msh_crc32c(msh_crc32c(0, h, REC_CRC), out->blocks, out->bytes) != crc)
		return -MSH_JOURNAL_E_CRC;
	if (!blocks_walk(out->blocks, out->bytes, out->count))
		return -MSH_JOURNAL_E_BAD_BLOCKS;
	if (out->first_seq != expect)
		return -MSH_JOURNAL_E_DISCONTIGUOUS;
	return 0;
}

/* One directory entry of this shard; kind: 1 .jnl, 2 .jnl.tmp, 3 bad name. */
struct ent {
	uint64_t seq;
	int kind;
	int fd;
	uint64_t size, valid; /* file size, and end of its last good record */
	uint64_t end;         /* sequence after its last good record */
	bool used;            /* read and kept */
	bool orphan;          /* to be set aside */
	char name[JNAME_MAX];
};

struct replay {
	struct msh_journal *j;
	msh_journal_record_fn on_record;
	msh_journal_report_fn on_report;
	void *arg;
	struct msh_journal_replay *res;
	struct rd rd;
};

static void
rp_report(struct replay *rp, const char *name, uint64_t off, int err)
{
	char path[PATH_MAX];

	if (rp->on_report == NULL)
		return;
	if (path_of(rp->j, name, path) != 0)
		snprintf(path, sizeof(path), "%s", name);
	rp->on_report(rp->arg, path, off, err);
}

static int
ent_cmp(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
list_dir(struct msh_journal *j, struct ent **entsp, size_t *np)
{
	struct ent *ents = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	DIR *dir = opendir(j->dir);

	if (dir == NULL)
		return -errno;
	for (;;) {
		uint64_t seq = UINT64_MAX;
		int kind, r;

		errno = 0;
		de = readdir(dir);
		if (de == NULL) {
			rc = -errno;
			break;
		}
		if (de->d_name[0] == '.' || strlen(de->d_name) >= JNAME_MAX)
			continue;
		r = msh_spilldir_name_parse(de->d_name, j->part, ".jnl", &seq);
		kind = r == 1 ? 1 : 3;
		if (r == 0) {
			r = msh_spilldir_name_parse(de->d_name, j->part, ".jnl.tmp", &seq);
			kind = 2;
			if (r == 0)
				continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct ent *ne = realloc(ents, ncap * sizeof(*ents));

			if (ne == NULL) {
				rc = -ENOMEM;
				break;
			}
			ents = ne;
			cap = ncap;
		}
		memset(&ents[n], 0, sizeof(ents[n]));
		ents[n].seq = r == 1 ? seq : UINT64_MAX;
		ents[n].kind = kind;
		ents[n].fd = -1;
		strcpy(ents[n].name, de->d_name);
		n++;
	}
	closedir(dir);
	if (rc == 0 && n > 1)
		qsort(ents, n, sizeof(*ents), ent_cmp);
	*entsp = ents;
	*np = n;
	return rc;
}

/* Hand back record @p rc without what lies below from_seq. */
static int
deliver(struct replay *rp, const struct rec *rc)
{
	struct msh_journal_replay *res = rp->res;
	uint64_t from = res->from_seq, end = rc->first_seq + rc->count;
	uint64_t first = rc->first_seq;
	const uint8_t *b = rc->blocks;
	uint32_t len = rc->bytes;

	if (end <= from) {
		res->skipped_msgs += rc->count;
		return 0;
	}
	if (first < from) {
		uint32_t skip = blocks_skip(b, from - first);

		res->skipped_msgs += from - first;
		b += skip;
		len -= skip;
		first = from;
	}
	if (res->first_seq == 0)
		res->first_seq = first;
	res->records++;
	res->msgs += end - first;
	if (rp->on_record != NULL &&
	    rp->on_record(rp->arg, first, b, len, (uint32_t)(end - first)) != 0)
		return -ECANCELED;
	return 0;
}

/*
 * Read one file: its header, then records until the end or the first bad one
 * (e->valid is where the good ones end). Nothing is changed on disk here.
 * @return 0 and *stop when the replay must not go past this file, or -errno.
 */
static int
replay_file(struct replay *rp, struct ent *e, uint64_t *expect, bool *stop)
{
	uint8_t h[MSH_JOURNAL_HDR_LEN];
	struct msh_journal_replay *res = rp->res;
	char path[PATH_MAX];
	struct stat st;
	uint64_t off;
	int rc;

	rc = path_of(rp->j, e->name, path);
	if (rc != 0)
		return rc;
	e->fd = open(path, O_RDWR | O_CLOEXEC);
	if (e->fd < 0 || fstat(e->fd, &st) != 0)
		return -errno;
	e->size = (uint64_t)st.st_size;
	if (e->size < MSH_JOURNAL_HDR_LEN || msh_pread_all(e->fd, h, sizeof(h), 0, -EIO) != 0 ||
	    !hdr_valid(rp->j, h, e->seq)) {
		rp_report(rp, e->name, 0, -MSH_JOURNAL_E_BAD_HEADER);
		res->torn_err = -MSH_JOURNAL_E_BAD_HEADER;
		e->orphan = true;
		*stop = true;
		return 0;
	}
	if (*expect != NO_SEQ && e->seq != *expect) {
		rp_report(rp, e->name, 0, -MSH_JOURNAL_E_FILE_GAP);
		res->torn_err = -MSH_JOURNAL_E_FILE_GAP;
		e->orphan = true;
		*stop = true;
		return 0;
	}
	if (*expect == NO_SEQ && e->seq > res->from_seq)
		rp_report(rp, e->name, MSH_JOURNAL_HDR_LEN, -MSH_JOURNAL_E_SEQ_GAP);
	res->files++;
	e->used = true;
	*expect = e->seq;
	rp->rd.fd = e->fd;
	rp->rd.size = e->size;
	rp->rd.base = 0;
	rp->rd.len = 0;
	for (off = MSH_JOURNAL_HDR_LEN;;) {
		struct rec r;

		rc = rec_check(&rp->rd, off, *expect, &r);
		if (rc == 1)
			break;
		if (rc <= -MSH_JOURNAL_E_BASE) {
			rp_report(rp, e->name, off, rc);
			res->torn_err = rc;
			res->torn_off = off;
			res->cut_bytes = e->size - off;
			*stop = true;
			break;
		}
		if (rc != 0)
			return rc;
		rc = deliver(rp, &r);
		if (rc != 0)
			return rc;
		off += MSH_JOURNAL_REC_HDR_LEN + (uint64_t)r.bytes;
		*expect = r.first_seq + r.count;
	}
	e->valid = off;
	e->end = *expect;
	return 0;
}

/* Change the disk as the replay decided: cut the torn file, set files aside,
 * remove temporaries, and make what was handed back durable. */
static int
replay_apply(struct replay *rp, struct ent *ents, size_t n)
{
	char path[PATH_MAX], to[PATH_MAX + 8];
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct ent *e = &ents[i];

		rc = path_of(rp->j, e->name, path);
		if (rc != 0)
			return rc;
		if (e->kind == 2) {
			rp_report(rp, e->name, 0, -MSH_JOURNAL_E_TMP_LEFTOVER);
			unlink(path);
		} else if (e->kind == 3) {
			rp_report(rp, e->name, 0, -MSH_JOURNAL_E_BAD_NAME);
		} else if (e->orphan) {
			rp_report(rp, e->name, 0, -MSH_JOURNAL_E_ORPHAN);
			snprintf(to, sizeof(to), "%s.orphan", path);
			if (rename(path, to) != 0)
				return -errno;
			rp->res->orphans++;
		} else if (e->used) {
			if (e->valid < e->size && ftruncate(e->fd, (off_t)e->valid) != 0)
				return -errno;
			if (fdatasync(e->fd) != 0)
				return -errno;
		}
	}
	return msh_fsync_dir(rp->j->dir);
}

static int
replay(struct msh_journal *j, uint64_t from, struct replay *rp)
{
	struct msh_journal_replay *res = rp->res;
	struct ent *ents = NULL;
	size_t n = 0, last = SIZE_MAX;
	uint64_t expect = NO_SEQ;
	bool stop = false;
	int rc;

	res->from_seq = from;
	rp->rd.cap = RD_BUF;
	rp->rd.buf = malloc(RD_BUF);
	if (rp->rd.buf == NULL)
		return -ENOMEM;
	rc = list_dir(j, &ents, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (ents[i].kind != 1)
			continue;
		if (stop) {
			ents[i].orphan = true;
			continue;
		}
		rc = replay_file(rp, &ents[i], &expect, &stop);
		if (rc == 0 && ents[i].used)
			last = i;
	}
	if (rc == 0)
		rc = replay_apply(rp, ents, n);
	if (rc == 0)
		rc = files_reserve(j, (uint32_t)n + 1);
	/* Every file read stays known (retired below if all spilled); the
	 * last one is the current file unless appends must start past it. */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct jfile *f;

		if (!ents[i].used)
			continue;
		f = &j->files[j->nfiles++];
		f->start = ents[i].seq;
		f->end = ents[i].end;
		snprintf(f->name, sizeof(f->name), "%s", ents[i].name);
	}
	if (rc == 0) {
		uint64_t end = last != SIZE_MAX ? ents[last].end : 0;

		if (last != SIZE_MAX && end >= from) {
			j->fd = ents[last].fd;
			ents[last].fd = -1;
			j->write_off = ents[last].valid;
			j->next_seq = end;
		} else {
			struct jfile *f = &j->files[j->nfiles];

			rc = file_create(j, from, &j->fd, f->name);
			if (rc == 0) {
				f->start = f->end = from;
				j->nfiles++;
				j->write_off = MSH_JOURNAL_HDR_LEN;
				j->next_seq = from;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (ents[i].fd >= 0)
			close(ents[i].fd);
	free(ents);
	free(rp->rd.buf);
	return rc;
}

struct msh_journal *
msh_journal_open(const struct msh_journal_conf *conf, uint64_t from_seq,
		 msh_journal_record_fn on_record, msh_journal_report_fn on_report, void *arg,
		 struct msh_journal_replay *res)
{
	struct msh_journal_replay local;
	struct replay rp;
	struct msh_journal *j;
	int rc;

	if (conf == NULL || conf->dir == NULL || conf->dir[0] == '\0' ||
	    !msh_name_valid(&conf->shard) ||
	    (conf->buf_bytes != 0 && conf->buf_bytes < MSH_JOURNAL_BUF_MIN)) {
		errno = EINVAL;
		return NULL;
	}
	if (strlen(conf->dir) + 1 + JNAME_MAX + sizeof(".tmp") >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (res == NULL)
		res = &local;
	memset(res, 0, sizeof(*res));
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		goto nomem;
	j->fd = -1;
	j->buf_cap = conf->buf_bytes ? conf->buf_bytes : MSH_JOURNAL_BUF_DEFAULT;
	j->dir = strdup(conf->dir);
	j->buf = malloc(j->buf_cap);
	if (j->dir == NULL || j->buf == NULL)
		goto nomem;
	j->shard = conf->shard;
	msh_spilldir_name_part(&j->shard, j->part);

	memset(&rp, 0, sizeof(rp));
	rp.j = j;
	rp.on_record = on_record;
	rp.on_report = on_report;
	rp.arg = arg;
	rp.res = res;
	rc = replay(j, MSH_MAX(from_seq, 1), &rp);
	if (rc != 0) {
		journal_free(j);
		errno = -rc;
		return NULL;
	}
	/* What was read is on disk now (replay_apply synced it). */
	j->written_seq = j->durable_seq = j->next_seq;
	res->next_seq = j->next_seq;
	rc = msh_journal_retire(j, res->from_seq);
	if (rc < 0) {
		journal_free(j);
		errno = -rc;
		return NULL;
	}
	return j;
nomem:
	if (j != NULL)
		journal_free(j);
	errno = ENOMEM;
	return NULL;
}
