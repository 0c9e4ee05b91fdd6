/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/spilldir: file names as lib/spill writes them, the load
 * rule (corrupt, truncated, leftover, misnamed and foreign files reported and
 * skipped; gaps, overlaps and epochs), add, drop and trim, reads across file
 * boundaries checked byte for byte against what was written, the descriptor
 * cache bound and verification when a file is opened to read. Each test works
 * in its own mkdtemp directory and removes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"
#include "spill.h"
#include "spilldir.h"
#include "testutil.h"
#include "testfiles.h"

#define SLOT_BYTES 65536u
#define MAX_REP 32

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 301);
}

/* Each test gets a mkdtemp directory in *state; the teardown removes it and
 * everything in it, also when an assertion ended the test early. */
static int
setup(void **state)
{
	char *dir = malloc(64);

	if (dir == NULL)
		return -1;
	strcpy(dir, "/tmp/test_spilldir.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	int rc = t_rm_tree(*state);

	free(*state);
	return rc;
}

/* A fresh subdirectory of the test's directory. */
static void
subdir_new(char *sub, const char *dir, const char *name)
{
	snprintf(sub, PATH_MAX, "%s/%s", dir, name);
	assert_int_equal(mkdir(sub, 0700), 0);
}

static int
tdir_count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* A sealed segment of messages first .. first + count - 1 (len_var lengths,
 * t_msg_byte contents). Free with free(). */
static struct msh_segment *
seg_make(uint64_t first, uint32_t count)
{
	void *slot = aligned_alloc(4096, SLOT_BYTES);
	struct msh_segment *seg;
	uint8_t msg[512];

	assert_non_null(slot);
	seg = msh_segment_init(slot, SLOT_BYTES, first, 11);
	assert_non_null(seg);
	for (uint64_t i = first; i < first + count; i++) {
		uint16_t len = len_var(i);

		for (uint32_t j = 0; j < len; j++)
			msg[j] = t_msg_byte(i, j);
		assert_int_equal(msh_segment_append(seg, msg, len, 5000 + i), 0);
	}
	msh_segment_seal(seg, 22);
	return seg;
}

static void
spill_make(const char *dir, const char *shard, uint64_t first, uint32_t count, uint32_t epoch,
	   char *path)
{
	struct msh_segment *seg = seg_make(first, count);
	struct msh_name n;
	char p[PATH_MAX];

	assert_int_equal(msh_name_from_str(&n, shard), 0);
	assert_int_equal(msh_spill_write(dir, &n, seg, epoch, 33, p, PATH_MAX), 0);
	if (path != NULL)
		strcpy(path, p);
	free(seg);
}

/* What the report callback saw. */
struct rep {
	int n;
	char name[MAX_REP][MSH_SPILL_NAME_MAX + 16];
	int err[MAX_REP];
	bool has_f[MAX_REP];
	uint64_t first_seq[MAX_REP];
};

static void
rep_cb(void *arg, const char *path, int err, const struct msh_spilldir_file *f)
{
	struct rep *r = arg;
	const char *base = strrchr(path, '/');

	assert_true(r->n < MAX_REP);
	assert_true(err < 0);
	assert_non_null(msh_spilldir_err_str(err));
	snprintf(r->name[r->n], sizeof(r->name[0]), "%s", base ? base + 1 : path);
	r->err[r->n] = err;
	r->has_f[r->n] = f != NULL;
	r->first_seq[r->n] = f ? f->first_seq : 0;
	r->n++;
}

/* The report about file @p name: its error (fails if it is not reported once). */
static int
rep_err(const struct rep *r, const char *name)
{
	int found = -1;

	for (int i = 0; i < r->n; i++) {
		if (strcmp(r->name[i], name) != 0)
			continue;
		if (found >= 0)
			fail_msg("%s reported twice", name);
		found = i;
	}
	if (found < 0)
		fail_msg("%s not reported", name);
	return r->err[found];
}

static const char *
base(const char *path)
{
	return strrchr(path, '/') + 1;
}

static struct msh_spilldir *
dir_open(const char *dir, const char *shard, uint32_t fd_cache, bool remove_tmp, struct rep *r)
{
	struct msh_spilldir_conf c;
	struct msh_spilldir *d;

	memset(&c, 0, sizeof(c));
	c.dir = dir;
	assert_int_equal(msh_name_from_str(&c.shard, shard), 0);
	c.fd_cache = fd_cache;
	c.remove_tmp = remove_tmp;
	memset(r, 0, sizeof(*r));
	d = msh_spilldir_open(&c, rep_cb, r);
	assert_non_null(d);
	return d;
}

/* The table must be exactly the files [firsts[k], firsts[k] + counts[k]). */
static void
expect_table(const struct msh_spilldir *d, const uint64_t *firsts, const uint32_t *counts, int n)
{
	assert_int_equal(msh_spilldir_nfiles(d), n);
	for (int k = 0; k < n; k++) {
		const struct msh_spilldir_file *f = msh_spilldir_file(d, (uint32_t)k);

		assert_non_null(f);
		assert_int_equal(f->first_seq, firsts[k]);
		assert_int_equal(f->count, counts[k]);
		assert_int_equal(f->err, 0);
	}
	if (n > 0) {
		assert_int_equal(msh_spilldir_first_seq(d), firsts[0]);
		assert_int_equal(msh_spilldir_next_seq(d), firsts[n - 1] + counts[n - 1]);
	}
	assert_null(msh_spilldir_file(d, (uint32_t)n));
}

/* Reference stream: blocks of messages [first, end) as the segments hold them,
 * with the offset of each message's block. */
struct ref {
	uint64_t first, end;
	uint8_t *data;
	uint32_t *off; /* end - first + 1 entries */
};

static void
ref_make(struct ref *r, uint64_t first, uint64_t end)
{
	uint32_t o = 0;

	r->first = first;
	r->end = end;
	r->off = malloc((end - first + 1) * sizeof(*r->off));
	r->data = malloc((end - first) * 303 + 1);
	assert_non_null(r->off);
	assert_non_null(r->data);
	for (uint64_t i = first; i < end; i++) {
		r->off[i - first] = o;
		o += t_blocks(r->data + o, i, 1, len_var);
	}
	r->off[end - first] = o;
}

static void
ref_free(struct ref *r)
{
	free(r->data);
	free(r->off);
}

/* What a read at @p seq must return: the longest run within the limits. */
static uint32_t
ref_expect(const struct ref *r, uint64_t seq, uint32_t max_msgs, uint32_t room, uint32_t *len)
{
	uint32_t k = 0, base_off = r->off[seq - r->first];

	while (k < max_msgs && seq + k < r->end &&
	       r->off[seq + k + 1 - r->first] - base_off <= room)
		k++;
	*len = r->off[seq + k - r->first] - base_off;
	return k;
}

static void
check_read(struct msh_spilldir *d, const struct ref *r, uint64_t seq, uint32_t max_msgs,
	   uint32_t max_bytes, size_t buflen)
{
	static uint8_t buf[1 << 17];
	struct msh_span sp;
	uint32_t len, want;
	int got;

	assert_true(buflen <= sizeof(buf));
	want = ref_expect(r, seq, max_msgs, (uint32_t)MSH_MIN(max_bytes, buflen), &len);
	got = msh_spilldir_read(d, seq, max_msgs, max_bytes, buf, buflen, &sp);
	if (want == 0) {
		assert_int_equal(got, max_msgs == 0 ? 0 : -EMSGSIZE);
		return;
	}
	if (got != (int)want)
		fail_msg("read seq %llu max %u bytes %u buf %zu: got %d, want %u",
			 (unsigned long long)seq, max_msgs, max_bytes, buflen, got, want);
	assert_int_equal(sp.count, want);
	assert_int_equal(sp.len, len);
	assert_int_equal(sp.first_seq, seq);
	assert_ptr_equal(sp.data, buf);
	assert_memory_equal(buf, r->data + r->off[seq - r->first], len);
	t_check_blocks(buf, len, seq, want, len_var);
}

static void
test_names_match_spill(void **state)
{
	const char *dir = *state;
	static const char *const shards[] = {"TICKS", "a/b%.Z-9_", "~!x", "A-B-C", "0123456789"};
	char path[PATH_MAX], part[3 * MSH_NAME_LEN + 1], want[PATH_MAX];
	uint64_t seq;

	for (size_t k = 0; k < MSH_ARRAY_SIZE(shards); k++) {
		struct msh_name n;

		assert_int_equal(msh_name_from_str(&n, shards[k]), 0);
		spill_make(dir, shards[k], 12345, 3, 1, path);
		size_t plen = msh_spilldir_name_part(&n, part);

		assert_int_equal(plen, strlen(part));
		snprintf(want, sizeof(want), "%s-%020u.seg", part, 12345);
		assert_string_equal(base(path), want);
		assert_int_equal(msh_spilldir_name_parse(base(path), part, ".seg", &seq), 1);
		assert_int_equal(seq, 12345);
	}
	/* The sequence number follows the last '-'; a shard name may hold '-'. */
	assert_int_equal(msh_spilldir_name_parse("a-b-00000000000000000007.seg", "a-b", ".seg",
						 &seq), 1);
	assert_int_equal(seq, 7);
	assert_int_equal(msh_spilldir_name_parse("a-b-00000000000000000007.seg", "a", ".seg",
						 &seq), 0);
	assert_int_equal(msh_spilldir_name_parse("a-7.seg", "a", ".seg", &seq),
			 -MSH_SPILL_E_BAD_NAME);
	assert_int_equal(msh_spilldir_name_parse("a-0000000000000000000x.seg", "a", ".seg", &seq),
			 -MSH_SPILL_E_BAD_NAME);
	assert_int_equal(msh_spilldir_name_parse("a-99999999999999999999.seg", "a", ".seg", &seq),
			 -MSH_SPILL_E_BAD_NAME);
	assert_int_equal(msh_spilldir_name_parse("a-00000000000000000007.seg.tmp", "a", ".seg",
						 &seq), 0);
	assert_int_equal(msh_spilldir_name_parse("a-00000000000000000007.seg.tmp", "a",
						 ".seg.tmp", &seq), 1);
	assert_int_equal(msh_spilldir_name_parse("a.seg", "a", ".seg", &seq), 0);
	assert_int_equal(msh_spilldir_name_parse(".seg", "", ".seg", &seq), 0);
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_non_null(strstr(msh_spilldir_err_str(-MSH_SPILLDIR_E_GAP), "older than a gap"));
	assert_string_equal(msh_spilldir_err_str(-MSH_SPILL_E_DATA_CRC), "blocks CRC32C mismatch");
	assert_string_equal(msh_spilldir_err_str(-ENOENT), strerror(ENOENT));
	assert_string_equal(msh_spilldir_err_str(-MSH_SPILLDIR_E_END), "unknown spill error");
}

static void
test_open_empty_missing_bad_conf(void **state)
{
	const char *dir = *state;
	struct msh_spilldir_conf c;
	struct msh_spilldir *d;
	struct msh_span sp;
	struct rep r;
	char sub[128];
	uint8_t buf[64];

	d = dir_open(dir, "E", 0, false, &r);
	assert_int_equal(msh_spilldir_nfiles(d), 0);
	assert_int_equal(msh_spilldir_first_seq(d), 0);
	assert_int_equal(msh_spilldir_next_seq(d), 0);
	assert_int_equal(msh_spilldir_bytes(d), 0);
	assert_null(msh_spilldir_find(d, 1));
	assert_int_equal(msh_spilldir_read(d, 1, 10, 64, buf, sizeof(buf), &sp), 0);
	assert_int_equal(msh_spilldir_drop_oldest(d), -ENOENT);
	assert_int_equal(r.n, 0);
	msh_spilldir_close(d);
	msh_spilldir_close(NULL);

	memset(&c, 0, sizeof(c));
	snprintf(sub, sizeof(sub), "%s/missing", dir);
	c.dir = sub;
	assert_int_equal(msh_name_from_str(&c.shard, "E"), 0);
	errno = 0;
	assert_null(msh_spilldir_open(&c, NULL, NULL));
	assert_int_equal(errno, ENOENT);
	c.dir = dir;
	c.fd_cache = MSH_SPILLDIR_FD_MAX + 1;
	assert_null(msh_spilldir_open(&c, NULL, NULL));
	assert_int_equal(errno, EINVAL);
	c.fd_cache = 0;
	memset(c.shard.b, 0, sizeof(c.shard.b));
	assert_null(msh_spilldir_open(&c, NULL, NULL));
	assert_int_equal(errno, EINVAL);
}

/* Five contiguous files; every read shape compared with the written stream. */
static void
test_reads_across_files(void **state)
{
	const char *dir = *state;
	static const uint32_t counts[] = {40, 1, 57, 33, 69};
	uint64_t firsts[5], seq = 1, total = 0, rnd = 42;
	struct msh_spilldir *d;
	struct ref ref;
	struct rep r;
	char path[PATH_MAX];

	for (int k = 0; k < 5; k++) {
		firsts[k] = seq;
		spill_make(dir, "TICKS", seq, counts[k], 3, path);
		total += t_file_size(path);
		seq += counts[k];
	}
	/* Another shard's files in the same directory are not looked at. */
	spill_make(dir, "TICK", 1, 10, 3, NULL);
	spill_make(dir, "TICKS-X", 1, 10, 3, NULL);
	d = dir_open(dir, "TICKS", 3, false, &r);
	assert_int_equal(r.n, 0);
	expect_table(d, firsts, counts, 5);
	assert_int_equal(msh_spilldir_bytes(d), total);
	assert_int_equal(msh_spilldir_stats(d)->files_loaded, 5);
	for (uint64_t i = 1; i < seq; i++) {
		const struct msh_spilldir_file *f = msh_spilldir_find(d, i);

		assert_non_null(f);
		assert_true(f->first_seq <= i && i < f->first_seq + f->count);
	}
	assert_null(msh_spilldir_find(d, 0));
	assert_null(msh_spilldir_find(d, seq));

	ref_make(&ref, 1, seq);
	/* Everything from every sequence number in one big read: each crosses
	 * into the following files up to the end. */
	for (uint64_t i = 1; i < seq; i++)
		check_read(d, &ref, i, UINT32_MAX, UINT32_MAX, 1 << 17);
	/* Sequential catch-up in packet-sized reads, as a feed would. */
	for (uint64_t i = 1; i < seq;) {
		static uint8_t pkt[1400];
		struct msh_span sp;
		int n = msh_spilldir_read(d, i, UINT16_MAX, 1400, pkt, sizeof(pkt), &sp);

		assert_true(n > 0);
		assert_memory_equal(pkt, ref.data + ref.off[i - 1], sp.len);
		i += (uint64_t)n;
	}
	/* Random starts and limits, including rooms below the first message. */
	for (int k = 0; k < 3000; k++) {
		uint64_t at = 1 + t_rand(&rnd) % (seq - 1);
		uint32_t max = (uint32_t)(t_rand(&rnd) % 80);
		uint32_t bytes = (uint32_t)(t_rand(&rnd) % 9000);
		size_t buflen = (size_t)(t_rand(&rnd) % 9000);

		check_read(d, &ref, at, max, bytes, buflen);
	}
	/* Outside the table. */
	{
		uint8_t b[512];
		struct msh_span sp;

		assert_int_equal(msh_spilldir_read(d, 0, 10, 512, b, sizeof(b), &sp), 0);
		assert_int_equal(msh_spilldir_read(d, seq, 10, 512, b, sizeof(b), &sp), 0);
		assert_int_equal(msh_spilldir_read(d, UINT64_MAX, 10, 512, b, sizeof(b), &sp), 0);
	}
	assert_true(msh_spilldir_open_fds(d) <= 3);
	assert_int_equal(msh_spilldir_stats(d)->verify_failures, 0);
	ref_free(&ref);
	msh_spilldir_close(d);
}

/* Restart after a crash: a corrupt byte, a torn file, a leftover, strays. */
static void
test_load_reports_and_skips(void **state)
{
	char p[8][PATH_MAX], x[PATH_MAX + 32], other[PATH_MAX];
	uint64_t firsts[] = {41, 61};
	uint32_t counts[] = {20, 20};
	struct msh_spilldir *d;
	struct msh_span sp;
	struct rep r;
	uint8_t buf[4096];

	for (int remove_tmp = 0; remove_tmp <= 1; remove_tmp++) {
		char dir[PATH_MAX];

		subdir_new(dir, (const char *)*state, remove_tmp ? "remove_tmp" : "keep_tmp");
		for (int k = 0; k < 5; k++)
			spill_make(dir, "S", 1 + 20 * (uint64_t)k, 20, 1, p[k]);
		/* A: [1, 21) fine but behind a hole; B: [21, 41) one flipped
		 * byte in its blocks; C, D fine; E: [81, 101) torn. */
		t_file_flip(p[1], MSH_SPILL_HDR_LEN + 100);
		assert_int_equal(truncate(p[4], (off_t)t_file_size(p[4]) - 5), 0);
		/* A leftover of an interrupted write of the next file. */
		snprintf(x, sizeof(x), "%s/S-%020u.seg.tmp", dir, 101);
		t_file_copy(p[3], x);
		/* A file named as this shard's but holding another's. */
		spill_make(dir, "T", 200, 5, 1, other);
		snprintf(x, sizeof(x), "%s/S-%020u.seg", dir, 200);
		assert_int_equal(rename(other, x), 0);
		/* Named for 300 but holding 61.. */
		snprintf(x, sizeof(x), "%s/S-%020u.seg", dir, 300);
		t_file_copy(p[3], x);
		/* A bad number; and strays that are nobody's. */
		snprintf(x, sizeof(x), "%s/S-12.seg", dir);
		t_file_copy(p[3], x);
		snprintf(x, sizeof(x), "%s/notes.txt", dir);
		t_file_copy(p[3], x);
		snprintf(x, sizeof(x), "%s/.hidden.seg", dir);
		t_file_copy(p[3], x);

		d = dir_open(dir, "S", 0, remove_tmp, &r);
		expect_table(d, firsts, counts, 2);
		assert_int_equal(r.n, 7);
		assert_int_equal(rep_err(&r, base(p[0])), -MSH_SPILLDIR_E_GAP);
		assert_int_equal(rep_err(&r, base(p[1])), -MSH_SPILL_E_DATA_CRC);
		assert_int_equal(rep_err(&r, base(p[4])), -MSH_SPILL_E_TRUNCATED);
		assert_int_equal(rep_err(&r, "S-00000000000000000101.seg.tmp"),
				 -MSH_SPILL_E_TMP_LEFTOVER);
		assert_int_equal(rep_err(&r, "S-00000000000000000200.seg"),
				 -MSH_SPILLDIR_E_WRONG_SHARD);
		assert_int_equal(rep_err(&r, "S-00000000000000000300.seg"), -MSH_SPILL_E_BAD_NAME);
		assert_int_equal(rep_err(&r, "S-12.seg"), -MSH_SPILL_E_BAD_NAME);
		assert_int_equal(msh_spilldir_stats(d)->files_reported, 7);
		/* Sequence numbers continue after the last one served. */
		assert_int_equal(msh_spilldir_next_seq(d), 81);
		/* The header is passed along when it could be trusted. */
		for (int i = 0; i < r.n; i++)
			if (r.err[i] == -MSH_SPILLDIR_E_GAP)
				assert_true(r.has_f[i] && r.first_seq[i] == 1);
			else if (r.err[i] == -MSH_SPILL_E_DATA_CRC)
				assert_false(r.has_f[i]);
		/* Nothing of a reported file is served. */
		assert_int_equal(msh_spilldir_read(d, 30, 10, 4096, buf, sizeof(buf), &sp), 0);
		assert_int_equal(msh_spilldir_read(d, 90, 10, 4096, buf, sizeof(buf), &sp), 0);
		assert_int_equal(msh_spilldir_read(d, 41, 100, 4096, buf, sizeof(buf), &sp) > 0, 1);
		/* Reported files stay on disk; the leftover only if asked. */
		assert_true(file_exists(p[0]) && file_exists(p[1]) && file_exists(p[4]));
		snprintf(x, sizeof(x), "%s/S-%020u.seg.tmp", dir, 101);
		assert_int_equal(file_exists(x), !remove_tmp);
		assert_int_equal(tdir_count(dir), 10 - remove_tmp);
		msh_spilldir_close(d);
	}
}

/* A file that holds no message serves nothing and is reported. */
static void
test_load_empty_file(void **state)
{
	const char *dir = *state;
	struct msh_spilldir *d;
	struct rep r;
	char p[PATH_MAX];

	spill_make(dir, "S", 1, 10, 1, NULL);
	spill_make(dir, "S", 11, 0, 1, p);
	d = dir_open(dir, "S", 0, false, &r);
	assert_int_equal(msh_spilldir_nfiles(d), 1);
	assert_int_equal(msh_spilldir_next_seq(d), 11);
	assert_int_equal(rep_err(&r, base(p)), -MSH_SPILLDIR_E_EMPTY);
	msh_spilldir_close(d);
}

struct file_spec {
	uint64_t first;
	uint32_t count;
	uint32_t epoch;
};

/* Write @p n files, load, and check that the table is files[keep[0..nk)] and
 * that every other file is reported with errs[]. */
static void
load_case(const char *parent, const struct file_spec *files, int n, const int *keep, int nk,
	  const int *errs)
{
	static int cases;
	struct msh_spilldir *d;
	char dir[PATH_MAX], path[16][PATH_MAX], name[16];
	uint64_t firsts[16];
	uint32_t counts[16];
	struct rep r;

	snprintf(name, sizeof(name), "case%d", cases++);
	subdir_new(dir, parent, name);
	for (int k = 0; k < n; k++)
		spill_make(dir, "G", files[k].first, files[k].count, files[k].epoch, path[k]);
	d = dir_open(dir, "G", 0, false, &r);
	for (int k = 0; k < nk; k++) {
		firsts[k] = files[keep[k]].first;
		counts[k] = files[keep[k]].count;
	}
	expect_table(d, firsts, counts, nk);
	assert_int_equal(r.n, n - nk);
	for (int k = 0; k < n; k++) {
		bool kept = false;

		for (int i = 0; i < nk; i++)
			kept |= keep[i] == k;
		if (!kept)
			assert_int_equal(rep_err(&r, base(path[k])), errs[k]);
	}
	msh_spilldir_close(d);
}

static void
test_load_gaps_overlaps_epochs(void **state)
{
	const char *dir = *state;

	/* A hole: the run ending at the newest file wins, older ones reported. */
	{
		static const struct file_spec f[] = {
			{1, 10, 1}, {11, 10, 1}, {31, 10, 1}, {41, 10, 1}};
		static const int keep[] = {2, 3};
		static const int errs[] = {-MSH_SPILLDIR_E_GAP, -MSH_SPILLDIR_E_GAP, 0, 0};

		load_case(dir, f, 4, keep, 2, errs);
	}
	/* An overlap: [15, 25) does not chain to the newest [21, 31). */
	{
		static const struct file_spec f[] = {
			{1, 10, 1}, {11, 10, 1}, {15, 10, 1}, {21, 10, 1}};
		static const int keep[] = {0, 1, 3};
		static const int errs[] = {0, 0, -MSH_SPILLDIR_E_OVERLAP, 0};

		load_case(dir, f, 4, keep, 3, errs);
	}
	/* Two runs end at the same place: the longer is kept. */
	{
		static const struct file_spec f[] = {{1, 10, 1}, {6, 15, 1}, {11, 10, 1}};
		static const int keep[] = {0, 2};
		static const int errs[] = {0, -MSH_SPILLDIR_E_OVERLAP, 0};

		load_case(dir, f, 3, keep, 2, errs);
	}
	/* A newer epoch supersedes older history from where it starts, even
	 * when the older epoch went further. (Two files of one directory never
	 * start at the same sequence number: they would have the same name.) */
	{
		static const struct file_spec f[] = {
			{1, 10, 1}, {11, 5, 1}, {21, 10, 1}, {16, 4, 2}};
		static const int keep[] = {0, 1, 3};
		static const int errs[] = {0, 0, -MSH_SPILLDIR_E_OVERLAP, 0};

		load_case(dir, f, 4, keep, 3, errs);
	}
	/* A newer epoch with no predecessor stands alone. */
	{
		static const struct file_spec f[] = {
			{1, 10, 1}, {11, 10, 1}, {21, 10, 1}, {15, 5, 2}};
		static const int keep[] = {3};
		static const int errs[] = {-MSH_SPILLDIR_E_GAP, -MSH_SPILLDIR_E_OVERLAP,
					   -MSH_SPILLDIR_E_OVERLAP, 0};

		load_case(dir, f, 4, keep, 1, errs);
	}
	/* ... but a file of a newer epoch never follows one of an older epoch
	 * backwards: [11, 21) of epoch 3 cannot precede [21, 31) of epoch 2. */
	{
		static const struct file_spec f[] = {{1, 10, 1}, {11, 10, 3}, {21, 10, 2}};
		static const int keep[] = {0, 1};
		static const int errs[] = {0, 0, -MSH_SPILLDIR_E_OVERLAP};

		load_case(dir, f, 3, keep, 2, errs);
	}
	/* Deeper in the run too: [1, 11) of epoch 2 cannot precede [11, 21) of
	 * epoch 1 (history an older primary wrote after a newer one). */
	{
		static const struct file_spec f[] = {{1, 10, 2}, {11, 10, 1}, {21, 10, 3}};
		static const int keep[] = {1, 2};
		static const int errs[] = {-MSH_SPILLDIR_E_GAP, 0, 0};

		load_case(dir, f, 3, keep, 2, errs);
	}
	/* A single file. */
	{
		static const struct file_spec f[] = {{77, 3, 0}};
		static const int keep[] = {0};

		load_case(dir, f, 1, keep, 1, NULL);
	}
}

static void
test_add_drop_trim(void **state)
{
	const char *dir = *state;
	struct msh_spilldir *d, *d2;
	struct rep r, r2;
	struct msh_span sp;
	char p[8][PATH_MAX], other[PATH_MAX], x[PATH_MAX];
	uint8_t buf[8192];
	uint64_t sizes = 0;

	d = dir_open(dir, "ADD", 4, false, &r);
	for (int k = 0; k < 4; k++) {
		spill_make(dir, "ADD", 1 + 10 * (uint64_t)k, 10, 1, p[k]);
		assert_int_equal(msh_spilldir_add(d, p[k]), 0);
		sizes += t_file_size(p[k]);
		assert_int_equal(msh_spilldir_next_seq(d), 11 + 10 * (uint64_t)k);
	}
	assert_int_equal(msh_spilldir_first_seq(d), 1);
	assert_int_equal(msh_spilldir_bytes(d), sizes);
	/* Added files are already open and verified: no reopen to read them. */
	assert_int_equal(msh_spilldir_open_fds(d), 4);
	assert_int_equal(msh_spilldir_read(d, 1, 40, sizeof(buf), buf, sizeof(buf), &sp), 40);
	t_check_blocks(buf, sp.len, 1, 40, len_var);
	assert_int_equal(msh_spilldir_stats(d)->fd_opens, 0);
	assert_int_equal(r.n, 0);

	/* The same segment written again: taken, nothing changes. */
	spill_make(dir, "ADD", 31, 10, 1, NULL);
	assert_int_equal(msh_spilldir_add(d, p[3]), 0);
	assert_int_equal(msh_spilldir_nfiles(d), 4);
	assert_int_equal(msh_spilldir_bytes(d), sizes);
	/* Not newer than the newest: refused, reported, left on disk. */
	spill_make(dir, "ADD", 5, 10, 1, p[4]);
	assert_int_equal(msh_spilldir_add(d, p[4]), -MSH_SPILLDIR_E_STALE);
	assert_int_equal(rep_err(&r, base(p[4])), -MSH_SPILLDIR_E_STALE);
	assert_true(file_exists(p[4]));
	assert_int_equal(unlink(p[4]), 0);
	/* Not this shard's name, not a spill name, corrupt. */
	spill_make(dir, "ADDX", 41, 10, 1, x);
	assert_int_equal(msh_spilldir_add(d, x), -MSH_SPILL_E_BAD_NAME);
	assert_int_equal(unlink(x), 0);
	snprintf(other, sizeof(other), "%s/ADD-1.seg", dir);
	assert_int_equal(msh_spilldir_add(d, other), -MSH_SPILL_E_BAD_NAME);
	spill_make(dir, "ADD", 41, 10, 1, p[4]);
	t_file_flip(p[4], 3);
	assert_int_equal(msh_spilldir_add(d, p[4]), -MSH_SPILL_E_BAD_MAGIC);
	assert_int_equal(msh_spilldir_nfiles(d), 4);
	assert_int_equal(unlink(p[4]), 0);

	/* A newer file starting where a table file ends, inside the run (it
	 * replaces [11, 21) by name): the files after are let go, kept on disk. */
	spill_make(dir, "ADD", 11, 34, 1, p[4]);
	assert_string_equal(p[4], p[1]);
	r.n = 0;
	assert_int_equal(msh_spilldir_add(d, p[4]), 0);
	assert_int_equal(msh_spilldir_nfiles(d), 2);
	assert_int_equal(msh_spilldir_next_seq(d), 45);
	assert_int_equal(r.n, 2);
	assert_int_equal(rep_err(&r, base(p[2])), -MSH_SPILLDIR_E_OVERLAP);
	assert_int_equal(rep_err(&r, base(p[3])), -MSH_SPILLDIR_E_OVERLAP);
	assert_int_equal(msh_spilldir_read(d, 1, 44, sizeof(buf), buf, sizeof(buf), &sp), 44);
	t_check_blocks(buf, sp.len, 1, 44, len_var);

	/* A restart builds the same table as the adds did. */
	d2 = dir_open(dir, "ADD", 0, false, &r2);
	assert_int_equal(msh_spilldir_nfiles(d2), 2);
	assert_int_equal(msh_spilldir_next_seq(d2), 45);
	assert_int_equal(r2.n, 2);
	assert_int_equal(rep_err(&r2, base(p[2])), -MSH_SPILLDIR_E_OVERLAP);
	assert_int_equal(rep_err(&r2, base(p[3])), -MSH_SPILLDIR_E_OVERLAP);
	msh_spilldir_close(d2);
	assert_int_equal(unlink(p[2]), 0);
	assert_int_equal(unlink(p[3]), 0);
	spill_make(dir, "ADD", 45, 5, 1, p[5]);
	assert_int_equal(msh_spilldir_add(d, p[5]), 0);

	/* Drop and trim delete the oldest files. */
	assert_int_equal(msh_spilldir_drop_oldest(d), 0);
	assert_false(file_exists(p[0]));
	assert_int_equal(msh_spilldir_first_seq(d), 11);
	assert_int_equal(msh_spilldir_read(d, 5, 1, sizeof(buf), buf, sizeof(buf), &sp), 0);
	assert_int_equal(msh_spilldir_trim(d, msh_spilldir_bytes(d)), 0);
	assert_int_equal(msh_spilldir_trim(d, msh_spilldir_bytes(d) - 1), 1);
	assert_false(file_exists(p[1]));
	assert_int_equal(msh_spilldir_nfiles(d), 1);
	assert_int_equal(msh_spilldir_bytes(d), t_file_size(p[5]));
	/* A file already gone counts as dropped. */
	assert_int_equal(unlink(p[5]), 0);
	assert_int_equal(msh_spilldir_trim(d, 0), 1);
	assert_int_equal(msh_spilldir_nfiles(d), 0);
	assert_int_equal(msh_spilldir_bytes(d), 0);
	assert_int_equal(msh_spilldir_first_seq(d), 50);
	assert_int_equal(msh_spilldir_next_seq(d), 50);
	assert_int_equal(msh_spilldir_open_fds(d), 0);
	assert_int_equal(msh_spilldir_stats(d)->files_dropped, 3);

	/* After a hole (messages lost between), a new run starts. */
	spill_make(dir, "ADD", 60, 10, 1, p[5]);
	assert_int_equal(msh_spilldir_add(d, p[5]), 0);
	spill_make(dir, "ADD", 90, 10, 1, p[6]);
	r.n = 0;
	assert_int_equal(msh_spilldir_add(d, p[6]), 0);
	assert_int_equal(rep_err(&r, base(p[5])), -MSH_SPILLDIR_E_GAP);
	assert_int_equal(msh_spilldir_first_seq(d), 90);
	assert_int_equal(msh_spilldir_nfiles(d), 1);
	assert_true(file_exists(p[5]));
	msh_spilldir_close(d);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* opendir's own */
}

static void
test_fd_cache_bound(void **state)
{
	const char *dir = *state;
	struct msh_spilldir *d;
	const struct msh_spilldir_stats *st;
	struct msh_span sp;
	struct rep r;
	uint8_t buf[600];
	int base_fds;
	uint64_t opens;

	for (int k = 0; k < 6; k++)
		spill_make(dir, "FD", 1 + 30 * (uint64_t)k, 30, 1, NULL);
	base_fds = count_fds();
	d = dir_open(dir, "FD", 2, false, &r);
	st = msh_spilldir_stats(d);
	assert_int_equal(msh_spilldir_open_fds(d), 0);
	if (base_fds >= 0)
		assert_int_equal(count_fds(), base_fds);
	/* Sequential catch-up in small reads: each file opened once. */
	for (uint64_t i = 1; i < 181;) {
		int n = msh_spilldir_read(d, i, 1000, sizeof(buf), buf, sizeof(buf), &sp);

		assert_true(n > 0);
		t_check_blocks(buf, sp.len, i, (uint32_t)n, len_var);
		i += (uint64_t)n;
		assert_true(msh_spilldir_open_fds(d) <= 2);
		if (base_fds >= 0)
			assert_true(count_fds() <= base_fds + 2);
	}
	assert_int_equal(st->fd_opens, 6);
	assert_int_equal(st->fd_evictions, 4);
	assert_true(st->fd_hits > 0);
	/* LRU: touch files 1, 2, 1, 3: file 1 stays, 2 goes. */
	opens = st->fd_opens;
	assert_true(msh_spilldir_read(d, 1, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_true(msh_spilldir_read(d, 31, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_true(msh_spilldir_read(d, 2, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_true(msh_spilldir_read(d, 61, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_int_equal(st->fd_opens, opens + 3);
	assert_true(msh_spilldir_read(d, 3, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_int_equal(st->fd_opens, opens + 3);
	assert_true(msh_spilldir_read(d, 32, 1, sizeof(buf), buf, sizeof(buf), &sp) > 0);
	assert_int_equal(st->fd_opens, opens + 4);
	assert_int_equal(msh_spilldir_open_fds(d), 2);
	msh_spilldir_close(d);
	if (base_fds >= 0)
		assert_int_equal(count_fds(), base_fds);
}

/* A file that went bad after the load is caught when opened to read, reported
 * once and never served; the files around it still are. */
static void
test_verify_when_opened(void **state)
{
	const char *dir = *state;
	struct msh_spilldir *d;
	struct msh_span sp;
	struct rep r;
	char p[4][PATH_MAX], alt[PATH_MAX];
	uint8_t buf[1 << 14];
	int rc;

	for (int k = 0; k < 4; k++)
		spill_make(dir, "V", 1 + 20 * (uint64_t)k, 20, 1, p[k]);
	d = dir_open(dir, "V", 2, false, &r);
	assert_int_equal(msh_spilldir_nfiles(d), 4);
	/* Bit rot in file 2 ([21, 41)) after the load. */
	t_file_flip(p[1], MSH_SPILL_HDR_LEN + 7);
	rc = msh_spilldir_read(d, 25, 5, sizeof(buf), buf, sizeof(buf), &sp);
	assert_int_equal(rc, -MSH_SPILL_E_DATA_CRC);
	assert_int_equal(r.n, 1);
	assert_int_equal(rep_err(&r, base(p[1])), -MSH_SPILL_E_DATA_CRC);
	assert_int_equal(msh_spilldir_find(d, 25)->err, -MSH_SPILL_E_DATA_CRC);
	/* Marked: the next read fails the same way without a second report. */
	assert_int_equal(msh_spilldir_read(d, 21, 5, sizeof(buf), buf, sizeof(buf), &sp),
			 -MSH_SPILL_E_DATA_CRC);
	assert_int_equal(r.n, 1);
	/* A read that runs into it stops before it, with what came before. */
	assert_int_equal(msh_spilldir_read(d, 15, 100, sizeof(buf), buf, sizeof(buf), &sp), 6);
	t_check_blocks(buf, sp.len, 15, 6, len_var);
	assert_int_equal(msh_spilldir_read(d, 41, 20, sizeof(buf), buf, sizeof(buf), &sp), 20);
	/* File 4 replaced behind the table's back by a valid file with other
	 * content (another segment of the same first_seq, via rename). */
	subdir_new(alt, dir, "alt");
	{
		char q[PATH_MAX];

		spill_make(alt, "V", 61, 7, 1, q);
		assert_int_equal(rename(q, p[3]), 0);
	}
	assert_int_equal(rmdir(alt), 0);
	assert_int_equal(msh_spilldir_read(d, 61, 20, sizeof(buf), buf, sizeof(buf), &sp),
			 -MSH_SPILLDIR_E_CHANGED);
	assert_int_equal(rep_err(&r, base(p[3])), -MSH_SPILLDIR_E_CHANGED);
	/* Deleted behind its back: a cached descriptor still reads what was
	 * verified; an uncached file is gone for good. */
	assert_int_equal(unlink(p[0]), 0);
	assert_int_equal(msh_spilldir_read(d, 1, 20, sizeof(buf), buf, sizeof(buf), &sp), 20);
	assert_int_equal(msh_spilldir_stats(d)->verify_failures, 2);
	msh_spilldir_close(d);
	/* Restart: file 2 is corrupt, so the table is [41, 68) (file 4 now holds
	 * 61..67); then file 3 disappears before it is read. */
	d = dir_open(dir, "V", 2, false, &r);
	assert_int_equal(msh_spilldir_first_seq(d), 41);
	assert_int_equal(msh_spilldir_next_seq(d), 68);
	assert_int_equal(unlink(p[2]), 0);
	assert_int_equal(msh_spilldir_read(d, 41, 20, sizeof(buf), buf, sizeof(buf), &sp),
			 -ENOENT);
	assert_int_equal(msh_spilldir_find(d, 41)->err, -ENOENT);
	assert_int_equal(msh_spilldir_read(d, 61, 20, sizeof(buf), buf, sizeof(buf), &sp), 7);
	assert_int_equal(msh_spilldir_stats(d)->verify_failures, 1);
	assert_true(msh_spilldir_open_fds(d) <= 2);
	msh_spilldir_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_match_spill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_err_str, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_empty_missing_bad_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_across_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_reports_and_skips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_gaps_overlaps_epochs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_drop_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_cache_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_when_opened, setup, teardown),
	};

	return cmocka_run_group_tests_name("spilldir", tests, NULL, NULL);
}
