/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/journal: append, group commit and replay byte for byte; a
 * torn tail cut at every byte of the last record and a flipped byte in each of
 * its bytes, both detected with the valid prefix recovered; rolling, retiring,
 * replay from a sequence number inside a record, later files set aside after a
 * corrupt one; and a full file system (RLIMIT_FSIZE, and a small tmpfs when
 * the test runs as root) returning an error without moving durable_seq. Each
 * test works in its own mkdtemp directory and removes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "spill.h"
#include "testutil.h"
#include "testfiles.h"

#define MAX_REP 16

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 301);
}

static uint16_t
len_64(uint64_t i)
{
	(void)i;
	return 62; /* a 64-byte block */
}

/* Per test: a mkdtemp directory, and what the teardown must undo even when
 * an assertion ended the test early (a lowered file size limit, a mount). */
struct tstate {
	char dir[64];
	bool mounted;
	bool fsize_set;
	struct rlimit fsize;
};

static int
setup(void **state)
{
	struct tstate *ts = calloc(1, sizeof(*ts));

	if (ts == NULL)
		return -1;
	strcpy(ts->dir, "/tmp/test_journal.XXXXXX");
	if (mkdtemp(ts->dir) == NULL) {
		free(ts);
		return -1;
	}
	*state = ts;
	return 0;
}

static int
teardown(void **state)
{
	struct tstate *ts = *state;
	int rc = 0;

	if (ts->fsize_set) {
		setrlimit(RLIMIT_FSIZE, &ts->fsize);
		signal(SIGXFSZ, SIG_DFL);
	}
	if (ts->mounted && umount2(ts->dir, MNT_DETACH) != 0)
		rc = -1;
	if (t_rm_tree(ts->dir) != 0)
		rc = -1;
	free(ts);
	return rc;
}

/* Names in @p dir ending with @p suffix. */
static int
tdir_count(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t sl = strlen(suffix);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		n += de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0;
	}
	closedir(d);
	return n;
}

static void
jpath(char *path, const char *dir, const char *shard, uint64_t start)
{
	snprintf(path, PATH_MAX, "%s/%s-%020llu.jnl", dir, shard, (unsigned long long)start);
}

/* Everything replay handed back, and every report. */
struct got {
	uint8_t *data;
	size_t len, cap;
	uint64_t next;  /* sequence expected next */
	uint64_t first; /* first handed back */
	uint32_t calls;
	int stop_after; /* > 0: stop on that call */
	int n_rep;
	char rep_name[MAX_REP][96];
	uint64_t rep_off[MAX_REP];
	int rep_err[MAX_REP];
};

static int
got_rec(void *arg, uint64_t first_seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct got *g = arg;

	assert_true(count > 0 && len >= 2 * count);
	if (g->calls == 0) {
		g->first = first_seq;
		g->next = first_seq;
	}
	if (first_seq != g->next)
		fail_msg("record at %llu, expected %llu", (unsigned long long)first_seq,
			 (unsigned long long)g->next);
	if (g->len + len > g->cap) {
		g->cap = (g->len + len) * 2;
		g->data = realloc(g->data, g->cap);
		assert_non_null(g->data);
	}
	memcpy(g->data + g->len, blocks, len);
	g->len += len;
	g->next += count;
	g->calls++;
	return g->stop_after > 0 && (int)g->calls == g->stop_after;
}

static void
got_report(void *arg, const char *path, uint64_t off, int err)
{
	struct got *g = arg;
	const char *b = strrchr(path, '/');

	assert_true(g->n_rep < MAX_REP);
	assert_true(err < 0);
	assert_non_null(msh_journal_err_str(err));
	snprintf(g->rep_name[g->n_rep], sizeof(g->rep_name[0]), "%s", b ? b + 1 : path);
	g->rep_off[g->n_rep] = off;
	g->rep_err[g->n_rep] = err;
	g->n_rep++;
}

static void
got_reset(struct got *g)
{
	free(g->data);
	memset(g, 0, sizeof(*g));
}

static struct msh_journal *
j_open(const char *dir, uint64_t from, uint32_t buf_bytes, struct got *g,
       struct msh_journal_replay *res)
{
	struct msh_journal_conf c;
	struct msh_journal *j;

	memset(&c, 0, sizeof(c));
	c.dir = dir;
	assert_int_equal(msh_name_from_str(&c.shard, "J"), 0);
	c.buf_bytes = buf_bytes;
	got_reset(g);
	j = msh_journal_open(&c, from, got_rec, got_report, g, res);
	if (j == NULL)
		fail_msg("msh_journal_open: %s", strerror(errno));
	return j;
}

/* Append messages [first, first + count) as one record. */
static int
j_append(struct msh_journal *j, uint64_t first, uint32_t count, uint16_t (*len_of)(uint64_t))
{
	static uint8_t buf[1 << 20];
	uint32_t len = t_blocks(buf, first, count, len_of);

	return msh_journal_append(j, first, buf, len, count);
}

/* Append records of sizes counts[] from @p first; returns the next sequence. */
static uint64_t
j_fill(struct msh_journal *j, uint64_t first, int nrec, uint16_t (*len_of)(uint64_t))
{
	for (int k = 0; k < nrec; k++) {
		uint32_t count = 1 + (uint32_t)(k % 7);

		assert_int_equal(j_append(j, first, count, len_of), 0);
		first += count;
	}
	return first;
}

static void
expect_got(const struct got *g, uint64_t first, uint64_t end, uint16_t (*len_of)(uint64_t))
{
	if (end == first) {
		assert_int_equal(g->calls, 0);
		return;
	}
	assert_int_equal(g->first, first);
	assert_int_equal(g->next, end);
	t_check_blocks(g->data, (uint32_t)g->len, first, (uint32_t)(end - first), len_of);
}

static int
rep_find(const struct got *g, int err)
{
	for (int i = 0; i < g->n_rep; i++)
		if (g->rep_err[i] == err)
			return i;
	fail_msg("no report of %s", msh_journal_err_str(err));
	return -1;
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_string_equal(msh_journal_err_str(-MSH_JOURNAL_E_CRC), "record CRC32C mismatch");
	assert_string_equal(msh_journal_err_str(MSH_JOURNAL_E_TRUNCATED),
			    "record cut short by the end of the file (torn write)");
	assert_string_equal(msh_journal_err_str(-ENOSPC), strerror(ENOSPC));
	assert_string_equal(msh_journal_err_str(-MSH_JOURNAL_E_END), "unknown spill error");
}

static void
test_append_sync_replay(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	const struct msh_journal_stats *st;
	struct msh_journal *j;
	struct got g = {0};
	char path[PATH_MAX];
	uint64_t end, durable = 0;

	j = j_open(dir, 1, 0, &g, &res);
	st = msh_journal_stats(j);
	assert_int_equal(res.next_seq, 1);
	assert_int_equal(res.files, 0);
	assert_int_equal(g.calls, 0);
	assert_int_equal(msh_journal_nfiles(j), 1);
	jpath(path, dir, "J", 1);
	assert_int_equal(t_file_size(path), MSH_JOURNAL_HDR_LEN);
	/* Nothing pending: a sync makes no system call. */
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, 1);
	assert_int_equal(st->syncs, 0);

	end = j_fill(j, 1, 100, len_var);
	/* Appended, not durable: nothing claims otherwise before the sync. */
	assert_int_equal(msh_journal_next_seq(j), end);
	assert_int_equal(msh_journal_durable_seq(j), 1);
	assert_int_equal(st->writes, 0); /* still in the buffer */
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, end);
	assert_int_equal(st->syncs, 1);
	assert_int_equal(st->synced_records, 100);
	assert_int_equal(st->appends, 100);
	assert_int_equal(st->writes, 1);
	assert_int_equal(t_file_size(path), MSH_JOURNAL_HDR_LEN + st->append_bytes);
	msh_journal_close(j);

	j = j_open(dir, 1, 0, &g, &res);
	expect_got(&g, 1, end, len_var);
	assert_int_equal(res.records, 100);
	assert_int_equal(res.msgs, end - 1);
	assert_int_equal(res.first_seq, 1);
	assert_int_equal(res.next_seq, end);
	assert_int_equal(res.files, 1);
	assert_int_equal(res.torn_err, 0);
	assert_int_equal(g.n_rep, 0);
	assert_int_equal(msh_journal_durable_seq(j), end);
	/* Appends continue in the same file. */
	assert_int_equal(j_append(j, end, 3, len_var), 0);
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, end + 3);
	assert_int_equal(msh_journal_nfiles(j), 1);
	msh_journal_close(j);
	j = j_open(dir, 1, 0, &g, NULL);
	expect_got(&g, 1, end + 3, len_var);
	msh_journal_close(j);
	got_reset(&g);
}

static void
test_append_rejects(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_conf c;
	struct msh_journal *j;
	struct got g = {0};
	uint8_t b[16] = {0, 3, 'a', 'b', 'c', 0, 1, 'x'};

	j = j_open(dir, 10, 0, &g, NULL);
	assert_int_equal(msh_journal_next_seq(j), 10);
	assert_int_equal(msh_journal_append(j, 11, b, 5, 1), -EINVAL); /* not next */
	assert_int_equal(msh_journal_append(j, 9, b, 5, 1), -EINVAL);
	assert_int_equal(msh_journal_append(j, 10, b, 5, 0), -EINVAL); /* no message */
	assert_int_equal(msh_journal_append(j, 10, b, 6, 1), -EINVAL); /* len != blocks */
	assert_int_equal(msh_journal_append(j, 10, b, 5, 2), -EINVAL);
	assert_int_equal(msh_journal_append(j, 10, b, 1, 1), -EINVAL);
	assert_int_equal(msh_journal_append(j, 10, b, MSH_JOURNAL_REC_MAX + 1, 1), -EMSGSIZE);
	assert_int_equal(msh_journal_append(j, 10, b, 8, 2), 0);
	assert_int_equal(msh_journal_next_seq(j), 12);
	assert_int_equal(msh_journal_stats(j)->appends, 1);
	msh_journal_close(j);
	msh_journal_close(NULL);

	memset(&c, 0, sizeof(c));
	c.dir = dir;
	assert_null(msh_journal_open(&c, 1, NULL, NULL, NULL, NULL)); /* no shard name */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(msh_name_from_str(&c.shard, "J"), 0);
	c.buf_bytes = 100;
	assert_null(msh_journal_open(&c, 1, NULL, NULL, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	c.buf_bytes = 0;
	c.dir = "/nonexistent/memshard/journal";
	assert_null(msh_journal_open(&c, 1, NULL, NULL, NULL, NULL));
	assert_int_equal(errno, ENOENT);
	got_reset(&g);
}

/* N records per sync: one fdatasync each time, whatever N is. */
static void
test_group_commit(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	static const int per_sync[] = {1, 7, 100, 1000};
	const struct msh_journal_stats *st;
	struct msh_journal *j;
	struct got g = {0};
	uint64_t seq = 1, durable, recs = 0;
	int syncs = 0;

	/* The smallest buffer, so the larger batches are written in parts. */
	j = j_open(dir, 1, MSH_JOURNAL_BUF_MIN, &g, NULL);
	st = msh_journal_stats(j);
	for (size_t k = 0; k < MSH_ARRAY_SIZE(per_sync); k++) {
		for (int r = 0; r < per_sync[k]; r++) {
			assert_int_equal(j_append(j, seq, 1, len_64), 0);
			seq++;
			assert_int_equal(msh_journal_durable_seq(j), seq - 1 - (uint64_t)r);
		}
		recs += (uint64_t)per_sync[k];
		assert_int_equal(msh_journal_sync(j, &durable), 0);
		syncs++;
		assert_int_equal(durable, seq);
		assert_int_equal(st->syncs, syncs);
		assert_int_equal(st->synced_records, recs);
	}
	assert_true(st->writes > (uint64_t)syncs); /* 1000 records do not fit 64 KiB */
	/* A record larger than the buffer goes straight to the file. */
	assert_int_equal(j_append(j, seq, 900, len_var), 0);
	seq += 900;
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, seq);
	msh_journal_close(j);
	j = j_open(dir, 1, 0, &g, NULL);
	assert_int_equal(g.next, seq);
	assert_int_equal(g.calls, recs + 1);
	msh_journal_close(j);
	got_reset(&g);
}

/* Write @p nrec records (last one @p last_count messages), sync, close;
 * returns the offset where the last record starts. */
static size_t
make_journal(const char *dir, int nrec, uint32_t last_count, uint64_t *end)
{
	struct msh_journal *j;
	struct got g = {0};
	char path[PATH_MAX];
	uint64_t seq;
	size_t last;

	j = j_open(dir, 1, 0, &g, NULL);
	seq = j_fill(j, 1, nrec - 1, len_var);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	jpath(path, dir, "J", 1);
	last = t_file_size(path);
	assert_int_equal(j_append(j, seq, last_count, len_var), 0);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	*end = seq + last_count;
	msh_journal_close(j);
	got_reset(&g);
	return last;
}

static void
file_put(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static uint8_t *
file_get(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	uint8_t *b;

	*len = t_file_size(path);
	b = malloc(*len);
	assert_true(fd >= 0 && b != NULL);
	assert_int_equal(read(fd, b, *len), (ssize_t)*len);
	close(fd);
	return b;
}

/* A crash while the last record was being written: cut the file at every
 * byte of it. The records before come back whole, the torn one is reported at
 * its offset and cut off, and appends continue where the valid ones end. */
static void
test_torn_tail_every_offset(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char path[PATH_MAX];
	uint64_t end, prev_end;
	size_t last, size;
	uint8_t *orig;

	last = make_journal(dir, 20, 5, &end);
	prev_end = end - 5;
	jpath(path, dir, "J", 1);
	orig = file_get(path, &size);
	for (size_t cut = last; cut < size; cut++) {
		file_put(path, orig, cut);
		j = j_open(dir, 1, 0, &g, &res);
		expect_got(&g, 1, prev_end, len_var);
		assert_int_equal(res.next_seq, prev_end);
		assert_int_equal(msh_journal_next_seq(j), prev_end);
		if (cut == last) {
			/* Ends on a record boundary: nothing torn. */
			assert_int_equal(res.torn_err, 0);
			assert_int_equal(g.n_rep, 0);
		} else {
			assert_int_equal(res.torn_err, -MSH_JOURNAL_E_TRUNCATED);
			assert_int_equal(res.torn_off, last);
			assert_int_equal(res.cut_bytes, cut - last);
			assert_int_equal(g.n_rep, 1);
			assert_int_equal(g.rep_off[0], last);
			assert_int_equal(g.rep_err[0], -MSH_JOURNAL_E_TRUNCATED);
		}
		assert_int_equal(t_file_size(path), last);
		/* The journal goes on from there, and a replay sees it all. */
		assert_int_equal(j_append(j, prev_end, 2, len_var), 0);
		assert_int_equal(msh_journal_sync(j, NULL), 0);
		msh_journal_close(j);
		j = j_open(dir, 1, 0, &g, &res);
		expect_got(&g, 1, prev_end + 2, len_var);
		assert_int_equal(res.torn_err, 0);
		msh_journal_close(j);
	}
	/* Zeros where the last record should be (a crash after the size was
	 * updated but before the data reached the disk). */
	file_put(path, orig, size);
	{
		int fd = open(path, O_WRONLY);

		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)last), 0);
		assert_int_equal(ftruncate(fd, (off_t)size), 0);
		close(fd);
	}
	j = j_open(dir, 1, 0, &g, &res);
	expect_got(&g, 1, prev_end, len_var);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_BAD_MAGIC);
	msh_journal_close(j);
	free(orig);
	got_reset(&g);
}

/* One flipped byte anywhere in the last record is caught. */
static void
test_corrupt_last_record_every_byte(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char path[PATH_MAX];
	uint64_t end;
	size_t last, size;
	uint8_t *orig;

	last = make_journal(dir, 10, 3, &end);
	jpath(path, dir, "J", 1);
	orig = file_get(path, &size);
	for (size_t off = last; off < size; off++) {
		orig[off] ^= 0x10;
		file_put(path, orig, size);
		orig[off] ^= 0x10;
		j = j_open(dir, 1, 0, &g, &res);
		expect_got(&g, 1, end - 3, len_var);
		if (res.torn_err == 0 || res.torn_off != last)
			fail_msg("flip at %zu: torn_err %d off %llu", off, res.torn_err,
				 (unsigned long long)res.torn_off);
		assert_int_equal(t_file_size(path), last);
		msh_journal_close(j);
	}
	free(orig);
	got_reset(&g);
}

static void
test_roll_retire_from_seq(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char p1[PATH_MAX], p2[PATH_MAX], p3[PATH_MAX];
	uint64_t s1, s2, s3;

	j = j_open(dir, 1, 0, &g, NULL);
	/* Rolling an empty file does nothing. */
	assert_int_equal(msh_journal_roll(j), 0);
	assert_int_equal(msh_journal_nfiles(j), 1);
	s1 = j_fill(j, 1, 30, len_var);
	/* A roll syncs first. */
	assert_int_equal(msh_journal_roll(j), 0);
	assert_int_equal(msh_journal_durable_seq(j), s1);
	assert_int_equal(msh_journal_nfiles(j), 2);
	s2 = j_fill(j, s1, 30, len_var);
	assert_int_equal(msh_journal_roll(j), 0);
	s3 = j_fill(j, s2, 30, len_var);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	jpath(p1, dir, "J", 1);
	jpath(p2, dir, "J", s1);
	jpath(p3, dir, "J", s2);
	assert_int_equal(tdir_count(dir, ".jnl"), 3);
	/* The segment up to s1 - 1 is spilled: only the first file goes; the
	 * current file is never retired. */
	assert_int_equal(msh_journal_retire(j, s1 + 5), 1);
	assert_int_equal(access(p1, F_OK), -1);
	assert_int_equal(msh_journal_retire(j, s3), 1);
	assert_int_equal(access(p2, F_OK), -1);
	assert_int_equal(access(p3, F_OK), 0);
	assert_int_equal(msh_journal_nfiles(j), 1);
	assert_int_equal(msh_journal_stats(j)->files_retired, 2);
	msh_journal_close(j);

	/* Replay from a sequence number inside a record (the third holds
	 * s2 + 3 .. s2 + 5): cut there exactly. */
	j = j_open(dir, s2 + 4, 0, &g, &res);
	expect_got(&g, s2 + 4, s3, len_var);
	assert_int_equal(res.skipped_msgs, 4);
	assert_int_equal(res.first_seq, s2 + 4);
	assert_int_equal(res.next_seq, s3);
	assert_int_equal(g.n_rep, 0);
	msh_journal_close(j);
	/* From a record boundary: the records before are skipped whole. */
	j = j_open(dir, s2 + 3, 0, &g, &res);
	expect_got(&g, s2 + 3, s3, len_var);
	assert_int_equal(res.skipped_msgs, 3);
	assert_int_equal(res.records, 28);
	assert_int_equal(g.calls, 28);
	msh_journal_close(j);

	/* Spill files already hold everything (a crash between the spill and
	 * the retire): nothing comes back, the old file goes, appends start
	 * at from_seq in a new file. */
	j = j_open(dir, s3 + 10, 0, &g, &res);
	assert_int_equal(g.calls, 0);
	assert_int_equal(res.skipped_msgs, s3 - s2);
	assert_int_equal(res.next_seq, s3 + 10);
	assert_int_equal(msh_journal_next_seq(j), s3 + 10);
	assert_int_equal(access(p3, F_OK), -1);
	assert_int_equal(msh_journal_nfiles(j), 1);
	assert_int_equal(j_append(j, s3 + 10, 1, len_var), 0);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	msh_journal_close(j);

	/* The journal starts after from_seq: the messages between are lost
	 * (e.g. a spill file was corrupt). Reported; appends continue after. */
	j = j_open(dir, 5, 0, &g, &res);
	expect_got(&g, s3 + 10, s3 + 11, len_var);
	assert_int_equal(g.rep_err[rep_find(&g, -MSH_JOURNAL_E_SEQ_GAP)], -MSH_JOURNAL_E_SEQ_GAP);
	assert_int_equal(res.next_seq, s3 + 11);
	msh_journal_close(j);

	/* The record callback may stop the open; no file is changed. */
	got_reset(&g);
	{
		struct msh_journal_conf c;

		memset(&c, 0, sizeof(c));
		c.dir = dir;
		assert_int_equal(msh_name_from_str(&c.shard, "J"), 0);
		g.stop_after = 1;
		assert_null(msh_journal_open(&c, 1, got_rec, got_report, &g, NULL));
		assert_int_equal(errno, ECANCELED);
	}
	assert_int_equal(tdir_count(dir, ".jnl"), 1);
	got_reset(&g);
}

/* A corrupt record in an older file: everything after it is set aside. */
static void
test_corrupt_middle_orphans_later(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char p1[PATH_MAX], p2[PATH_MAX], x[PATH_MAX + 16];
	uint64_t s1, s2, good_end = 0;
	size_t off5 = 0;
	int fd;

	j = j_open(dir, 1, 0, &g, NULL);
	s1 = 1;
	for (int k = 0; k < 10; k++) {
		if (k == 5) {
			assert_int_equal(msh_journal_sync(j, NULL), 0);
			jpath(p1, dir, "J", 1);
			off5 = t_file_size(p1);
			good_end = s1;
		}
		assert_int_equal(j_append(j, s1, 4, len_var), 0);
		s1 += 4;
	}
	assert_int_equal(msh_journal_roll(j), 0);
	s2 = j_fill(j, s1, 10, len_var);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	msh_journal_close(j);
	jpath(p2, dir, "J", s1);
	/* Record 5 of the first file: a flipped bit in its blocks. */
	fd = open(p1, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff", 1, (off_t)off5 + MSH_JOURNAL_REC_HDR_LEN + 1), 1);
	close(fd);
	/* Leftover of an interrupted creation. */
	snprintf(x, sizeof(x), "%s/J-%020llu.jnl.tmp", dir, (unsigned long long)s2);
	fd = open(x, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);

	j = j_open(dir, 1, 0, &g, &res);
	expect_got(&g, 1, good_end, len_var);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_CRC);
	assert_int_equal(res.torn_off, off5);
	assert_int_equal(res.orphans, 1);
	assert_int_equal(res.next_seq, good_end);
	assert_int_equal(g.rep_off[rep_find(&g, -MSH_JOURNAL_E_CRC)], off5);
	assert_string_equal(g.rep_name[rep_find(&g, -MSH_JOURNAL_E_ORPHAN)], strrchr(p2, '/') + 1);
	assert_int_equal(rep_find(&g, -MSH_JOURNAL_E_TMP_LEFTOVER) >= 0, 1);
	assert_int_equal(g.n_rep, 3);
	assert_int_equal(access(x, F_OK), -1);
	assert_int_equal(tdir_count(dir, ".jnl.orphan"), 1);
	assert_int_equal(t_file_size(p1), off5);
	/* New messages follow the recovered ones; a replay sees no orphan. */
	assert_int_equal(j_append(j, good_end, 2, len_var), 0);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	msh_journal_close(j);
	j = j_open(dir, 1, 0, &g, &res);
	expect_got(&g, 1, good_end + 2, len_var);
	assert_int_equal(g.n_rep, 0);
	assert_int_equal(msh_journal_destroy(j), 0);
	assert_int_equal(tdir_count(dir, ".jnl"), 0);
	got_reset(&g);
}

/* A damaged file header: the file and those after it are set aside. */
static void
test_bad_header(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char p1[PATH_MAX];
	uint64_t end;
	int fd;

	make_journal(dir, 5, 1, &end);
	jpath(p1, dir, "J", 1);
	fd = open(p1, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 20), 1); /* inside the shard name */
	close(fd);
	j = j_open(dir, 1, 0, &g, &res);
	assert_int_equal(g.calls, 0);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_BAD_HEADER);
	assert_int_equal(res.orphans, 1);
	assert_int_equal(res.next_seq, 1);
	assert_int_equal(tdir_count(dir, ".jnl.orphan"), 1);
	assert_int_equal(tdir_count(dir, ".jnl"), 1); /* the new one */
	msh_journal_close(j);
	got_reset(&g);
}

/* Fill the journal to the file size limit: the sync fails, durable_seq stays,
 * the file is cut back to whole records, and once there is room the same
 * records become durable. */
static void
test_full_rlimit_fsize(void **state)
{
	struct tstate *ts = *state;
	const char *dir = ts->dir;
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	struct rlimit old, lim;
	char path[PATH_MAX];
	uint64_t seq, durable, d0;
	size_t size0;
	int rc;

	j = j_open(dir, 1, MSH_JOURNAL_BUF_MIN, &g, NULL);
	seq = j_fill(j, 1, 200, len_var);
	assert_int_equal(msh_journal_sync(j, &d0), 0);
	jpath(path, dir, "J", 1);
	size0 = t_file_size(path);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	ts->fsize = old;
	ts->fsize_set = true; /* the teardown restores it if this test fails */
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = size0 + 1000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	/* Buffered appends succeed; the sync that writes them cannot. */
	assert_int_equal(j_append(j, seq, 50, len_var), 0);
	rc = msh_journal_sync(j, &durable);
	/* A write that fails after part of the batch, or a refused one. */
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(durable, d0);
	assert_int_equal(msh_journal_durable_seq(j), d0);
	assert_int_equal(msh_journal_error(j), 0);
	assert_int_equal(msh_journal_stats(j)->write_errors, 1);
	assert_int_equal(t_file_size(path), size0);
	/* Appends that overflow the buffer fail too, and are not taken. */
	for (rc = 0; rc == 0;) {
		uint64_t before = msh_journal_next_seq(j);

		rc = j_append(j, before, 100, len_var);
		if (rc != 0)
			assert_int_equal(msh_journal_next_seq(j), before);
	}
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(msh_journal_durable_seq(j), d0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	ts->fsize_set = false;

	/* Room again: the kept records go out with the next sync. */
	seq = msh_journal_next_seq(j);
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, seq);
	msh_journal_close(j);
	j = j_open(dir, 1, 0, &g, &res);
	assert_int_equal(res.torn_err, 0);
	assert_int_equal(g.next, seq);
	msh_journal_close(j);
	got_reset(&g);
}

/* A real ENOSPC: a 256 KiB tmpfs (root only; skipped otherwise). */
static void
test_full_tmpfs(void **state)
{
	struct tstate *ts = *state;
	const char *dir = ts->dir;
	struct msh_journal *j;
	struct got g = {0};
	char filler[PATH_MAX], path[PATH_MAX];
	uint64_t seq = 1, durable, d0 = 1;
	int rc = 0, fd;
	size_t size0 = 0;
	static uint8_t zero[64 << 10];

	if (geteuid() != 0 || mount("tmpfs", dir, "tmpfs", 0, "size=256k,mode=0700") != 0)
		skip();
	ts->mounted = true; /* the teardown unmounts if this test fails */
	/* Something to free later. */
	snprintf(filler, sizeof(filler), "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	close(fd);

	j = j_open(dir, 1, 0, &g, NULL);
	jpath(path, dir, "J", 1);
	for (int k = 0; k < 10000; k++) {
		assert_int_equal(j_append(j, seq, 8, len_var), 0);
		size0 = t_file_size(path);
		rc = msh_journal_sync(j, &durable);
		if (rc != 0)
			break;
		seq += 8;
		d0 = durable;
		assert_int_equal(durable, seq);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(durable, d0);
	assert_int_equal(msh_journal_durable_seq(j), d0);
	assert_int_equal(msh_journal_error(j), 0);
	assert_int_equal(t_file_size(path), size0);
	assert_int_equal(unlink(filler), 0);
	assert_int_equal(msh_journal_sync(j, &durable), 0);
	assert_int_equal(durable, seq + 8);
	msh_journal_close(j);
	j = j_open(dir, 1, 0, &g, NULL);
	expect_got(&g, 1, seq + 8, len_var);
	msh_journal_close(j);
	got_reset(&g);
	unlink(path);
	assert_int_equal(umount(dir), 0);
	ts->mounted = false;
}

/* An encoder written from journal.h's format table alone, byte by byte. */
static void
put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
hand_header(uint8_t *h, const char *shard, uint64_t start)
{
	memset(h, 0, 64);
	memcpy(h, "MSHJOURN", 8);
	put_le(h + 8, 1, 4);
	put_le(h + 12, 64, 4);
	memset(h + 16, ' ', 10);
	memcpy(h + 16, shard, strlen(shard));
	put_le(h + 32, start, 8);
	put_le(h + 60, msh_crc32c(0, h, 64), 4);
}

static size_t
hand_record(uint8_t *r, uint64_t first, uint32_t count)
{
	uint32_t len = t_blocks(r + 24, first, count, len_var);

	memcpy(r, "MJR1", 4);
	put_le(r + 4, first, 8);
	put_le(r + 12, count, 4);
	put_le(r + 16, len, 4);
	put_le(r + 20, msh_crc32c(msh_crc32c(0, r, 20), r + 24, len), 4);
	return 24 + len;
}

static void
test_format_by_hand(void **state)
{
	const char *dir = ((struct tstate *)*state)->dir;
	static uint8_t want[1 << 16], have[1 << 16];
	struct msh_journal_replay res;
	struct msh_journal *j;
	struct got g = {0};
	char path[PATH_MAX], p2[PATH_MAX];
	size_t len = 64, hl;
	uint8_t *file;

	/* What the journal writes is what the format says, byte for byte
	 * (created_ns and with it hdr_crc aside). */
	j = j_open(dir, 100, 0, &g, NULL);
	assert_int_equal(j_append(j, 100, 3, len_var), 0);
	assert_int_equal(j_append(j, 103, 1, len_var), 0);
	assert_int_equal(msh_journal_sync(j, NULL), 0);
	msh_journal_close(j);
	hand_header(want, "J", 100);
	len += hand_record(want + len, 100, 3);
	len += hand_record(want + len, 103, 1);
	jpath(path, dir, "J", 100);
	file = file_get(path, &hl);
	assert_int_equal(hl, len);
	assert_memory_equal(file, want, 40);
	assert_memory_equal(file + 48, want + 48, 12);
	assert_memory_equal(file + 64, want + 64, len - 64);
	free(file);

	/* And what is written by hand replays. */
	file_put(path, want, len);
	j = j_open(dir, 100, 0, &g, &res);
	expect_got(&g, 100, 104, len_var);
	assert_int_equal(res.torn_err, 0);
	msh_journal_close(j);

	/* A record with a good CRC that skips a sequence number. */
	memcpy(have, want, len);
	hl = len + hand_record(have + len, 105, 2);
	file_put(path, have, hl);
	j = j_open(dir, 100, 0, &g, &res);
	expect_got(&g, 100, 104, len_var);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_DISCONTIGUOUS);
	assert_int_equal(res.torn_off, len);
	assert_int_equal(t_file_size(path), len);
	msh_journal_close(j);

	/* A next file that does not start where this one ends. */
	hand_header(have, "J", 107);
	hl = 64 + hand_record(have + 64, 107, 2);
	jpath(p2, dir, "J", 107);
	file_put(p2, have, hl);
	j = j_open(dir, 100, 0, &g, &res);
	expect_got(&g, 100, 104, len_var);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_FILE_GAP);
	assert_int_equal(res.orphans, 1);
	assert_int_equal(g.rep_err[0], -MSH_JOURNAL_E_FILE_GAP);
	assert_int_equal(g.rep_err[1], -MSH_JOURNAL_E_ORPHAN);
	assert_int_equal(access(p2, F_OK), -1);
	msh_journal_close(j);

	/* A header naming another shard. */
	hand_header(have, "K", 104);
	jpath(p2, dir, "J", 104);
	file_put(p2, have, 64);
	j = j_open(dir, 100, 0, &g, &res);
	assert_int_equal(res.torn_err, -MSH_JOURNAL_E_BAD_HEADER);
	msh_journal_close(j);
	got_reset(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_err_str, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_sync_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_last_record_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roll_retire_from_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_middle_orphans_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_by_hand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_rlimit_fsize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_tmpfs, setup, teardown),
	};

	return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
