/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/spill: CRC32C vectors, write and verified read-back of a
 * segment, detection of corrupt and torn files, the restart scan and write
 * failures. Each test works in its own mkdtemp directory and removes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "segment.h"
#include "spill.h"
#include "testutil.h"
#include "testfiles.h"

#define SLOT_BYTES 65536u
#define FIRST_SEQ 1000u

static uint16_t
len_var(uint64_t i)
{
	return (uint16_t)((i * 37) % 301);
}

static void
tdir_new(char *dir)
{
	strcpy(dir, "/tmp/test_spill.XXXXXX");
	assert_non_null(mkdtemp(dir));
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

/* A sealed segment of @p count messages first..; len_var lengths, message i
 * stamped 5000 + i. Free with free(). */
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
spill_make(const char *dir, const char *shard, uint64_t first, uint32_t count, char *path)
{
	struct msh_segment *seg = seg_make(first, count);
	struct msh_name n;

	assert_int_equal(msh_name_from_str(&n, shard), 0);
	assert_int_equal(msh_spill_write(dir, &n, seg, 7, 33, path, PATH_MAX), 0);
	free(seg);
}

static void
expect_open(const char *path, int err)
{
	struct msh_spill_file f;
	int rc = msh_spill_open(path, &f);

	if (rc != err)
		fail_msg("open: got %d (%s), want %d (%s)", rc, msh_spill_err_str(rc), err,
			 msh_spill_err_str(err));
	if (rc == 0)
		msh_spill_close(&f);
	else
		assert_null(f.buf);
}

static void
test_crc32c_vectors(void **state)
{
	const char *s = "123456789";
	static uint8_t big[1000];

	(void)state;
	assert_int_equal(msh_crc32c(0, s, 9), 0xE3069283u);
	assert_int_equal(msh_crc32c(0, "", 0), 0);
	assert_int_equal(msh_crc32c(0, NULL, 0), 0);
	for (size_t k = 0; k <= 9; k++)
		assert_int_equal(msh_crc32c(msh_crc32c(0, s, k), s + k, 9 - k), 0xE3069283u);
	/* 32 zero bytes: RFC 3720 B.4 vector. */
	assert_int_equal(msh_crc32c(0, big, 32), 0x8A9136AAu);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	for (size_t k = 1; k < sizeof(big); k += 37)
		assert_int_equal(msh_crc32c(msh_crc32c(0, big, k), big + k, sizeof(big) - k),
				 msh_crc32c(0, big, sizeof(big)));
}

static void
test_err_str(void **state)
{
	(void)state;
	assert_string_equal(msh_spill_err_str(0), "ok");
	assert_string_equal(msh_spill_err_str(-MSH_SPILL_E_TRUNCATED),
			    "file shorter than its header says");
	assert_string_equal(msh_spill_err_str(MSH_SPILL_E_TMP_LEFTOVER),
			    "temporary file left by an interrupted write");
	assert_string_equal(msh_spill_err_str(-MSH_SPILL_E_END), "unknown spill error");
	assert_string_equal(msh_spill_err_str(-ENOENT), strerror(ENOENT));
	assert_non_null(msh_spill_err_str(INT_MIN));
}

static void
test_write_open_read_back(void **state)
{
	uint32_t count = 300;
	struct msh_segment *seg = seg_make(FIRST_SEQ, count);
	char dir[64], path[PATH_MAX], want[PATH_MAX];
	struct msh_spill_file f;
	struct msh_span sp, ss;
	struct msh_name n;
	uint64_t i;

	(void)state;
	tdir_new(dir);
	assert_int_equal(msh_name_from_str(&n, "TICKS"), 0);
	assert_int_equal(msh_spill_write(dir, &n, seg, 7, 33, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/TICKS-%020u.seg", dir, FIRST_SEQ);
	assert_string_equal(path, want);
	assert_int_equal(tdir_count(dir), 1);
	assert_int_equal(t_file_size(path),
			 MSH_SPILL_HDR_LEN + seg->data_len + count * MSH_SPILL_IDX_LEN);

	assert_int_equal(msh_spill_open(path, &f), 0);
	assert_true(msh_name_eq(&f.shard, &n));
	assert_int_equal(f.epoch, 7);
	assert_int_equal(f.first_seq, FIRST_SEQ);
	assert_int_equal(f.count, count);
	assert_int_equal(f.data_len, seg->data_len);
	assert_int_equal(f.created_ns, 11);
	assert_int_equal(f.sealed_ns, 22);
	assert_int_equal(f.written_ns, 33);
	assert_memory_equal(f.blocks, seg->data, seg->data_len);

	/* Every message alone, byte for byte, with its timestamp. */
	for (i = FIRST_SEQ; i < FIRST_SEQ + count; i++) {
		assert_int_equal(msh_spill_read(&f, i, 1, UINT32_MAX, &sp), 1);
		assert_int_equal(sp.first_seq, i);
		assert_int_equal(sp.count, 1);
		t_check_blocks(sp.data, sp.len, i, 1, len_var);
		assert_int_equal(msh_spill_ts(&f, i), 5000 + i);
	}
	/* Multi-message spans agree with the segment's own, and walk all. */
	for (i = FIRST_SEQ; i < FIRST_SEQ + count; i += sp.count) {
		assert_true(msh_spill_read(&f, i, 17, 1400, &sp) > 0);
		assert_int_equal(msh_segment_span(seg, i, 17, 1400, &ss), sp.count);
		assert_int_equal(ss.len, sp.len);
		assert_memory_equal(ss.data, sp.data, sp.len);
		assert_true(sp.len <= 1400 && sp.count <= 17);
		t_check_blocks(sp.data, sp.len, i, sp.count, len_var);
	}
	assert_int_equal(i, FIRST_SEQ + count);
	/* The whole file in one span. */
	assert_int_equal(msh_spill_read(&f, FIRST_SEQ, UINT32_MAX, UINT32_MAX, &sp), count);
	assert_int_equal(sp.len, f.data_len);
	t_check_blocks(sp.data, sp.len, FIRST_SEQ, count, len_var);
	/* max_bytes: exactly the first message, one byte less, and nothing. */
	i = FIRST_SEQ + 1; /* len_var(1001) != 0 */
	assert_int_equal(msh_spill_read(&f, i, 10, 2 + len_var(i), &sp), 1);
	assert_int_equal(msh_spill_read(&f, i, 10, 1 + len_var(i), &sp), 0);
	assert_int_equal(msh_spill_read(&f, i, 0, UINT32_MAX, &sp), 0);
	/* Outside the file. */
	assert_int_equal(msh_spill_read(&f, FIRST_SEQ - 1, 10, UINT32_MAX, &sp), 0);
	assert_int_equal(msh_spill_read(&f, FIRST_SEQ + count, 10, UINT32_MAX, &sp), 0);
	assert_int_equal(msh_spill_read(&f, UINT64_MAX, 10, UINT32_MAX, &sp), 0);
	msh_spill_close(&f);
	msh_spill_close(&f);

	free(seg);
	assert_int_equal(t_rm_tree(dir), 0);
}

static void
test_write_rejects_and_escapes(void **state)
{
	struct msh_segment *seg = seg_make(5, 3);
	char dir[64], path[PATH_MAX], want[PATH_MAX];
	struct msh_spill_file f;
	struct msh_name n;

	(void)state;
	tdir_new(dir);
	/* A name with '/', '%' and '.' becomes one safe path component. */
	assert_int_equal(msh_name_from_str(&n, "a/b%.Z-9_"), 0);
	assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/a%%2Fb%%25%%2EZ-9_-%020u.seg", dir, 5);
	assert_string_equal(path, want);
	assert_int_equal(msh_spill_open(path, &f), 0);
	assert_true(msh_name_eq(&f.shard, &n));
	msh_spill_close(&f);
	/* path_out too small: nothing written. */
	assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, path, 8), -ENAMETOOLONG);
	/* Not sealed, bad name. */
	seg->flags = 0;
	assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, NULL, 0), -EINVAL);
	msh_segment_seal(seg, 3);
	memset(n.b, 0, sizeof(n.b));
	assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, NULL, 0), -EINVAL);
	assert_int_equal(tdir_count(dir), 1);
	free(seg);
	assert_int_equal(t_rm_tree(dir), 0);
}

static void
test_corrupt_bytes_detected(void **state)
{
	char dir[64], path[PATH_MAX], bad[PATH_MAX + 8];
	size_t data_len, size;
	struct {
		size_t off;
		int err;
	} cases[] = {
		{0, -MSH_SPILL_E_BAD_MAGIC},
		{7, -MSH_SPILL_E_BAD_MAGIC},
		{8, -MSH_SPILL_E_BAD_VERSION},
		{12, -MSH_SPILL_E_BAD_VERSION},
		{16, -MSH_SPILL_E_HEADER_CRC},  /* shard */
		{33, -MSH_SPILL_E_HEADER_CRC},  /* first_seq */
		{66, -MSH_SPILL_E_HEADER_CRC},  /* written_ns */
		{72, -MSH_SPILL_E_HEADER_CRC},  /* data_crc */
		{81, -MSH_SPILL_E_HEADER_CRC},  /* hdr_crc itself */
		{127, -MSH_SPILL_E_HEADER_CRC}, /* reserved */
		{128, -MSH_SPILL_E_DATA_CRC},   /* first block's length */
		{0, -MSH_SPILL_E_DATA_CRC},     /* last block byte, set below */
		{0, -MSH_SPILL_E_INDEX_CRC},    /* first index entry, set below */
		{0, -MSH_SPILL_E_INDEX_CRC},    /* last byte of the file */
	};
	struct msh_spill_file f;

	(void)state;
	tdir_new(dir);
	spill_make(dir, "CORRUPT", 1, 50, path);
	assert_int_equal(msh_spill_open(path, &f), 0);
	data_len = f.data_len;
	msh_spill_close(&f);
	size = t_file_size(path);
	cases[11].off = MSH_SPILL_HDR_LEN + data_len - 1;
	cases[12].off = MSH_SPILL_HDR_LEN + data_len;
	cases[13].off = size - 1;

	snprintf(bad, sizeof(bad), "%s.bad", path);
	for (size_t k = 0; k < MSH_ARRAY_SIZE(cases); k++) {
		t_file_copy(path, bad);
		expect_open(bad, 0);
		t_file_flip(bad, cases[k].off);
		expect_open(bad, cases[k].err);
	}
	/* Wrong magic, written whole. */
	t_file_copy(path, bad);
	{
		int fd = open(bad, O_WRONLY);

		assert_int_equal(pwrite(fd, "NOTSPILL", 8, 0), 8);
		close(fd);
	}
	expect_open(bad, -MSH_SPILL_E_BAD_MAGIC);
	expect_open(path, 0);
	assert_int_equal(t_rm_tree(dir), 0);
}

static void
test_truncated_and_extended(void **state)
{
	char dir[64], path[PATH_MAX], bad[PATH_MAX + 8];
	size_t size, lens[8];

	(void)state;
	tdir_new(dir);
	spill_make(dir, "TORN", 1, 40, path);
	size = t_file_size(path);
	lens[0] = 0;
	lens[1] = 1;
	lens[2] = MSH_SPILL_HDR_LEN - 1;
	lens[3] = MSH_SPILL_HDR_LEN;
	lens[4] = MSH_SPILL_HDR_LEN + 1;
	lens[5] = size / 2;
	lens[6] = size - MSH_SPILL_IDX_LEN;
	lens[7] = size - 1;
	snprintf(bad, sizeof(bad), "%s.bad", path);
	for (size_t k = 0; k < MSH_ARRAY_SIZE(lens); k++) {
		t_file_copy(path, bad);
		assert_int_equal(truncate(bad, (off_t)lens[k]), 0);
		expect_open(bad, -MSH_SPILL_E_TRUNCATED);
	}
	/* Longer than the header says: a torn append or a wrong data_len. */
	t_file_copy(path, bad);
	assert_int_equal(truncate(bad, (off_t)size + 1), 0);
	expect_open(bad, -MSH_SPILL_E_SIZE_MISMATCH);
	/* Not there. */
	assert_int_equal(unlink(bad), 0);
	expect_open(bad, -ENOENT);
	assert_int_equal(t_rm_tree(dir), 0);
}

/* Rewrite the offset of index entry @p i of @p path and fix both CRCs, as a
 * buggy writer would: only the index walk can catch it. */
static void
file_set_off(const char *path, uint32_t data_len, uint32_t count, uint32_t i, uint32_t off)
{
	static uint8_t buf[SLOT_BYTES * 2];
	size_t size = t_file_size(path);
	uint8_t *idx = buf + MSH_SPILL_HDR_LEN + data_len;
	uint32_t crc;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0 && size <= sizeof(buf));
	assert_int_equal(pread(fd, buf, size, 0), (ssize_t)size);
	memcpy(idx + i * MSH_SPILL_IDX_LEN + 8, &off, 4);
	crc = msh_crc32c(0, idx, count * MSH_SPILL_IDX_LEN);
	memcpy(buf + 76, &crc, 4);
	memset(buf + 80, 0, 4);
	crc = msh_crc32c(0, buf, MSH_SPILL_HDR_LEN);
	memcpy(buf + 80, &crc, 4);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	close(fd);
}

static void
test_bad_index_detected(void **state)
{
	char dir[64], path[PATH_MAX], bad[PATH_MAX + 8];
	struct msh_spill_file f;
	uint32_t data_len, count = 20, off1, offs[5];

	(void)state;
	tdir_new(dir);
	spill_make(dir, "IDX", 1, count, path);
	assert_int_equal(msh_spill_open(path, &f), 0);
	data_len = f.data_len;
	memcpy(&off1, f.index + MSH_SPILL_IDX_LEN + 8, 4);
	msh_spill_close(&f);
	offs[0] = off1;          /* unchanged: still valid */
	offs[1] = off1 + 1;      /* inside the blocks, not on a block */
	offs[2] = 0;             /* not ascending */
	offs[3] = data_len;      /* at the end */
	offs[4] = UINT32_MAX;    /* far outside */
	snprintf(bad, sizeof(bad), "%s.bad", path);
	for (size_t k = 0; k < MSH_ARRAY_SIZE(offs); k++) {
		t_file_copy(path, bad);
		file_set_off(bad, data_len, count, 1, offs[k]);
		expect_open(bad, k == 0 ? 0 : -MSH_SPILL_E_BAD_INDEX);
	}
	/* The last entry too: its block must end exactly at data_len. */
	t_file_copy(path, bad);
	file_set_off(bad, data_len, count, count - 1, data_len - 2);
	expect_open(bad, -MSH_SPILL_E_BAD_INDEX);
	assert_int_equal(t_rm_tree(dir), 0);
}

struct scan_rec {
	int n;
	char path[8][PATH_MAX];
	int err[8];
	uint64_t first_seq[8];
	uint32_t count[8];
};

static int
scan_cb(void *arg, const char *path, const struct msh_spill_file *f, int err)
{
	struct scan_rec *r = arg;

	assert_true(r->n < 8);
	snprintf(r->path[r->n], PATH_MAX, "%s", path);
	r->err[r->n] = err;
	if (err == 0) {
		assert_non_null(f);
		r->first_seq[r->n] = f->first_seq;
		r->count[r->n] = f->count;
	} else {
		assert_null(f);
	}
	r->n++;
	return 0;
}

static int
scan_stop(void *arg, const char *path, const struct msh_spill_file *f, int err)
{
	int *calls = arg;

	(void)path;
	(void)f;
	(void)err;
	return ++*calls == 2 ? 42 : 0;
}

static void
test_scan_order_and_errors(void **state)
{
	char dir[64], p1[PATH_MAX], p2[PATH_MAX], p3[PATH_MAX], p4[PATH_MAX], x[PATH_MAX + 16];
	struct scan_rec r = {0};
	int calls = 0;

	(void)state;
	tdir_new(dir);
	/* Written out of order; "Z" < "a" would sort differently by name. */
	spill_make(dir, "a", 900, 10, p3);
	spill_make(dir, "Z", 100000, 5, p4);
	spill_make(dir, "b", 9, 20, p1);
	spill_make(dir, "a", 29, 30, p2);
	t_file_flip(p2, MSH_SPILL_HDR_LEN + 3);
	/* A leftover of an interrupted write, a stray file, a misnamed one. */
	snprintf(x, sizeof(x), "%s/a-%020u.seg.tmp", dir, 950);
	t_file_copy(p3, x);
	snprintf(x, sizeof(x), "%s/notes.txt", dir);
	t_file_copy(p3, x);
	snprintf(x, sizeof(x), "%s/a-%020u.seg", dir, 901);
	t_file_copy(p3, x);

	assert_int_equal(msh_spill_scan(dir, scan_cb, &r), 0);
	assert_int_equal(r.n, 6);
	assert_string_equal(r.path[0], p1);
	assert_int_equal(r.err[0], 0);
	assert_int_equal(r.first_seq[0], 9);
	assert_int_equal(r.count[0], 20);
	assert_string_equal(r.path[1], p2);
	assert_int_equal(r.err[1], -MSH_SPILL_E_DATA_CRC);
	assert_string_equal(r.path[2], p3);
	assert_int_equal(r.err[2], 0);
	assert_int_equal(r.first_seq[2], 900);
	assert_int_equal(r.err[3], -MSH_SPILL_E_BAD_NAME); /* 901 holds 900 */
	assert_int_equal(r.err[4], -MSH_SPILL_E_TMP_LEFTOVER);
	assert_non_null(strstr(r.path[4], ".seg.tmp"));
	assert_string_equal(r.path[5], p4);
	assert_int_equal(r.err[5], 0);
	assert_int_equal(r.first_seq[5], 100000);
	/* The leftover is reported, not deleted. */
	assert_int_equal(tdir_count(dir), 7);

	assert_int_equal(msh_spill_scan(dir, scan_stop, &calls), 42);
	assert_int_equal(calls, 2);
	assert_int_equal(t_rm_tree(dir), 0);
	assert_int_equal(msh_spill_scan(dir, scan_cb, &r), -ENOENT);
}

static void
test_scan_empty_dir(void **state)
{
	char dir[64];
	struct scan_rec r = {0};

	(void)state;
	tdir_new(dir);
	assert_int_equal(msh_spill_scan(dir, scan_cb, &r), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(t_rm_tree(dir), 0);
}

static void
test_write_failures_leave_nothing(void **state)
{
	struct msh_segment *seg = seg_make(1, 10);
	char dir[64], sub[128], path[PATH_MAX];
	struct msh_name n;

	(void)state;
	tdir_new(dir);
	assert_int_equal(msh_name_from_str(&n, "FAIL"), 0);
	snprintf(sub, sizeof(sub), "%s/missing", dir);
	assert_int_equal(msh_spill_write(sub, &n, seg, 1, 2, path, sizeof(path)), -ENOENT);
	assert_int_equal(tdir_count(dir), 0);
	/* A read-only directory, unless root (who may write anyway). */
	if (geteuid() != 0) {
		assert_int_equal(chmod(dir, 0500), 0);
		assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, path, sizeof(path)),
				 -EACCES);
		assert_int_equal(chmod(dir, 0700), 0);
		assert_int_equal(tdir_count(dir), 0);
	}
	free(seg);
	assert_int_equal(t_rm_tree(dir), 0);
}

static void
test_empty_segment(void **state)
{
	struct msh_segment *seg = seg_make(77, 0);
	char dir[64], path[PATH_MAX];
	struct msh_spill_file f;
	struct msh_span sp;
	struct msh_name n;

	(void)state;
	tdir_new(dir);
	assert_int_equal(msh_name_from_str(&n, "E"), 0);
	assert_int_equal(msh_spill_write(dir, &n, seg, 1, 2, path, sizeof(path)), 0);
	assert_int_equal(t_file_size(path), MSH_SPILL_HDR_LEN);
	assert_int_equal(msh_spill_open(path, &f), 0);
	assert_int_equal(f.count, 0);
	assert_int_equal(msh_spill_read(&f, 77, 1, UINT32_MAX, &sp), 0);
	msh_spill_close(&f);
	free(seg);
	assert_int_equal(t_rm_tree(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_err_str),
		cmocka_unit_test(test_write_open_read_back),
		cmocka_unit_test(test_write_rejects_and_escapes),
		cmocka_unit_test(test_corrupt_bytes_detected),
		cmocka_unit_test(test_truncated_and_extended),
		cmocka_unit_test(test_bad_index_detected),
		cmocka_unit_test(test_scan_order_and_errors),
		cmocka_unit_test(test_scan_empty_dir),
		cmocka_unit_test(test_write_failures_leave_nothing),
		cmocka_unit_test(test_empty_segment),
	};

	return cmocka_run_group_tests_name("spill", tests, NULL, NULL);
}
