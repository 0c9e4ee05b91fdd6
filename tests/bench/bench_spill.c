/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Disk benchmark of the spill path, no DPDK: (a) spill write throughput of
 * 16 MiB segment files with msh_spill_write (write, fsync, rename, directory
 * fsync) and their read-back through msh_spilldir (verify on open, pread),
 * (b) the bare disk's sequential write rate measured in the same run on the
 * same file system (O_DIRECT 1 MiB writes), (c) journal append + fdatasync
 * latency for one 64-byte message per sync beside a bare pwrite + fdatasync
 * loop, and group commit with N records per sync. Works in a private
 * directory under -d, removed at the end; every phase is time-bounded (under
 * a minute in all by default). Prints Markdown tables, or with -t one line
 * per figure. Timings never fail anything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "journal.h"
#include "segment.h"
#include "spill.h"
#include "spilldir.h"

#define SEGMENT (16u << 20)
#define RAW_BLOCK (1u << 20)
#define MSG64 62u /* a 64-byte block: 2-byte length + 62 */
/* Shortest timed phase: a sample of a fraction of a second says little. */
#define MIN_NS 3000000000ull

static char work[PATH_MAX];
static int tsv;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what, int err)
{
	fprintf(stderr, "bench_spill: %s: %s\n", what, msh_journal_err_str(err));
	exit(1);
}

/* Remove every file of the work directory, then the directory. */
static void
cleanup(void)
{
	DIR *d;
	struct dirent *de;
	char p[PATH_MAX + 256];

	if (work[0] == '\0' || (d = opendir(work)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || de->d_name[1] == '.'))
			continue;
		snprintf(p, sizeof(p), "%s/%s", work, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(work);
	work[0] = '\0';
}

static void
fill_random(uint8_t *p, size_t len, uint64_t seed)
{
	/* Not zeros: some devices compress or deduplicate them. */
	for (size_t i = 0; i + 8 <= len; i += 8) {
		seed ^= seed >> 12;
		seed ^= seed << 25;
		seed ^= seed >> 27;
		uint64_t v = seed * 2685821657736338717ull;

		memcpy(p + i, &v, 8);
	}
}

/* The mount point and type of the file system holding @p dir. */
static void
fs_of(const char *dir, char *out, size_t len)
{
	char real[PATH_MAX], dev[256], mnt[PATH_MAX], type[64];
	size_t best = 0;
	FILE *f = fopen("/proc/self/mounts", "r");

	snprintf(out, len, "unknown");
	if (f == NULL || realpath(dir, real) == NULL) {
		if (f != NULL)
			fclose(f);
		return;
	}
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
		size_t ml = strlen(mnt);

		bool under = real[ml] == '/' || real[ml] == '\0' || ml == 1;

		if (strncmp(real, mnt, ml) == 0 && under && ml >= best) {
			best = ml;
			snprintf(out, len, "%s on %s (%s)", type, mnt, dev);
		}
	}
	fclose(f);
}

static void
row(const char *name, double v, const char *unit, const char *detail)
{
	if (tsv)
		printf("%s\t%.1f\t%s\n", name, v, unit);
	else
		printf("| %s | %.0f %s | %s |\n", name, v, unit, detail);
}

/* (a) ------------------------------------------------------------------------------------- */

static struct msh_segment *
segment_make(uint16_t msg)
{
	struct msh_segment *seg;
	void *slot = aligned_alloc(4096, SEGMENT);
	uint8_t m[65535];
	uint64_t i = 0;

	if (slot == NULL)
		die("aligned_alloc", -ENOMEM);
	seg = msh_segment_init(slot, SEGMENT, 1, 1);
	fill_random(m, sizeof(m) & ~7ul, 7);
	while (msh_segment_append(seg, m + (i * 13) % 4096, msg, i) == 0)
		i++;
	msh_segment_seal(seg, 2);
	return seg;
}

static void
bench_spill_write(uint32_t files, double budget_s, uint16_t msg, double *mbs_out)
{
	struct msh_segment *seg = segment_make(msg);
	struct msh_spilldir_conf c;
	struct msh_spilldir *d;
	struct msh_name n;
	uint64_t t0, t, bytes = 0, budget = (uint64_t)(budget_s * 1e9);
	uint64_t first = seg->first_seq;
	uint32_t done = 0;
	char detail[256];
	double mbs, crc_mbs;
	static uint8_t rbuf[1 << 16];
	int rc;

	msh_name_from_str(&n, "bench");
	/* CRC32C alone, to tell CPU from disk. */
	t0 = now_ns();
	for (int k = 0; k < 8; k++)
		seg->rsvd[0] ^= (uint8_t)msh_crc32c(0, seg->data, seg->data_len);
	crc_mbs = 8.0 * seg->data_len / ((double)(now_ns() - t0) / 1e9) / 1e6;

	/* At least @p files files and MIN_NS; past @p files the names come
	 * round again, so a file is replaced (rename over it) and the disk
	 * space used stays at @p files segments. */
	t0 = now_ns();
	for (t = t0; (done < files || t - t0 < MIN_NS) && t - t0 < budget; done++) {
		seg->first_seq = first + (uint64_t)(done % files) * seg->count;
		rc = msh_spill_write(work, &n, seg, 1, t, NULL, 0);
		if (rc != 0)
			die("msh_spill_write", rc);
		bytes += MSH_SPILL_HDR_LEN + seg->data_len +
			 (uint64_t)seg->count * MSH_SPILL_IDX_LEN;
		t = now_ns();
	}
	mbs = (double)bytes / ((double)(t - t0) / 1e9) / 1e6;
	*mbs_out = mbs;
	snprintf(detail, sizeof(detail),
		 "%u files of %u x %u-byte messages, %.0f MB in %.2f s; each: buffered write, "
		 "fsync, rename, fsync of the directory",
		 done, seg->count, msg, (double)bytes / 1e6, (double)(t - t0) / 1e9);
	row("spill write, 16 MiB segment files (msh_spill_write)", mbs, "MB/s", detail);
	row("CRC32C of the blocks (msh_crc32c, in memory)", crc_mbs, "MB/s",
	    "part of every spill write and every verification");

	/* Read back as a catch-up reader would: 64 KiB at a time. The files
	 * are in the page cache; each is verified in full when opened. */
	memset(&c, 0, sizeof(c));
	c.dir = work;
	c.shard = n;
	d = msh_spilldir_open(&c, NULL, NULL);
	if (d == NULL)
		die("msh_spilldir_open", -errno);
	t0 = now_ns();
	bytes = 0;
	for (uint64_t q = first; q < msh_spilldir_next_seq(d);) {
		struct msh_span sp;
		int k = msh_spilldir_read(d, q, UINT32_MAX, sizeof(rbuf), rbuf, sizeof(rbuf), &sp);

		if (k <= 0)
			die("msh_spilldir_read", k ? k : -EIO);
		q += (uint64_t)k;
		bytes += sp.len;
	}
	t = now_ns();
	snprintf(detail, sizeof(detail),
		 "%u files (page cache), verified in full on open, then pread into a 64 KiB "
		 "buffer",
		 msh_spilldir_nfiles(d));
	row("spilldir sequential read back (msh_spilldir_read)",
	    (double)bytes / ((double)(t - t0) / 1e9) / 1e6, "MB/s", detail);
	while (msh_spilldir_nfiles(d) > 0)
		msh_spilldir_drop_oldest(d);
	msh_spilldir_close(d);
	free(seg);
}

/* (b) ------------------------------------------------------------------------------------- */

/* Sequential 1 MiB writes to one file of @p total bytes, round again from
 * the start until MIN_NS has passed; then fdatasync. */
static double
raw_write(const char *path, bool direct, uint64_t total, uint64_t budget, uint8_t *buf,
	  char *detail, size_t dlen)
{
	uint64_t t0, t, done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0),
		      0600);

	if (fd < 0)
		return -errno;
	t0 = now_ns();
	for (t = t0; (done < total || t - t0 < MIN_NS) && t - t0 < budget; t = now_ns()) {
		ssize_t n = pwrite(fd, buf, RAW_BLOCK, (off_t)(done % total));

		if (n != (ssize_t)RAW_BLOCK)
			die("raw write", n < 0 ? -errno : -EIO);
		done += RAW_BLOCK;
	}
	if (fdatasync(fd) != 0)
		die("fdatasync", -errno);
	t = now_ns();
	close(fd);
	unlink(path);
	snprintf(detail, dlen, "%s writes of 1 MiB over a %.0f MB file, %.0f MB then fdatasync, "
		 "in %.2f s", direct ? "O_DIRECT" : "buffered", (double)total / 1e6,
		 (double)done / 1e6, (double)(t - t0) / 1e9);
	return (double)done / ((double)(t - t0) / 1e9) / 1e6;
}

static void
bench_raw(uint64_t total, double budget_s, double spill_mbs)
{
	char path[PATH_MAX + 16], detail[256];
	uint64_t budget = (uint64_t)(budget_s * 1e9), t0, t, done = 0;
	uint8_t *buf = aligned_alloc(4096, RAW_BLOCK);
	double mbs;
	uint32_t files = 0;

	if (buf == NULL)
		die("aligned_alloc", -ENOMEM);
	fill_random(buf, RAW_BLOCK, 11);
	snprintf(path, sizeof(path), "%s/raw", work);
	mbs = raw_write(path, true, total, budget / 2, buf, detail, sizeof(detail));
	if (mbs == -EINVAL) /* tmpfs and some others refuse O_DIRECT */
		mbs = raw_write(path, false, total, budget / 2, buf, detail, sizeof(detail));
	if (mbs < 0)
		die(path, (int)mbs);
	row("bare disk, sequential writes", mbs, "MB/s", detail);
	snprintf(detail, sizeof(detail), "spill write MB/s / bare disk MB/s");
	row("spill write as a share of the bare disk", 100.0 * spill_mbs / mbs, "%", detail);

	/* What msh_spill_write does without CRC, index and rename: a 16 MiB
	 * file written through the page cache, then fsync. */
	t0 = now_ns();
	for (t = t0; (files < total / SEGMENT || t - t0 < MIN_NS) && t - t0 < budget / 2;
	     files++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0)
			die(path, -errno);
		for (uint32_t k = 0; k < SEGMENT / RAW_BLOCK; k++)
			if (write(fd, buf, RAW_BLOCK) != (ssize_t)RAW_BLOCK)
				die("buffered write", -errno);
		if (fsync(fd) != 0)
			die("fsync", -errno);
		close(fd);
		done += SEGMENT;
		t = now_ns();
	}
	unlink(path);
	free(buf);
	snprintf(detail, sizeof(detail),
		 "%u x (open O_TRUNC, 16 x 1 MiB buffered write, fsync), %.0f MB in %.2f s", files,
		 (double)done / 1e6, (double)(t - t0) / 1e9);
	mbs = (double)done / ((double)(t - t0) / 1e9) / 1e6;
	row("bare 16 MiB file, buffered write + fsync", mbs, "MB/s", detail);
}

/* (c) ------------------------------------------------------------------------------------- */

static struct msh_journal *
journal_new(const char *shard)
{
	struct msh_journal_conf c;
	struct msh_journal *j;

	memset(&c, 0, sizeof(c));
	c.dir = work;
	msh_name_from_str(&c.shard, shard);
	j = msh_journal_open(&c, 1, NULL, NULL, NULL, NULL);
	if (j == NULL)
		die("msh_journal_open", -errno);
	return j;
}

static void
lat_row(const char *name, const struct hist *h, double secs)
{
	if (tsv) {
		printf("%s\tp50_us\t%.1f\n%s\tp99_us\t%.1f\n%s\tmax_us\t%.1f\n%s\tops_s\t%.0f\n",
		       name, hist_pct(h, 50) / 1e3, name, hist_pct(h, 99) / 1e3, name,
		       h->max / 1e3, name, (double)h->n / secs);
		return;
	}
	printf("| %s | %.0f | %.0f | %.0f | %.0f | %llu |\n", name, hist_pct(h, 50) / 1e3,
	       hist_pct(h, 99) / 1e3, h->max / 1e3, (double)h->n / secs,
	       (unsigned long long)h->n);
}

static void
bench_journal(uint32_t iters, double budget_s)
{
	static struct hist hj, hb;
	uint8_t block[2 + MSG64], rec[MSH_JOURNAL_REC_HDR_LEN + sizeof(block)];
	uint64_t budget = (uint64_t)(budget_s * 1e9), t0, t, seq = 1, off = 0;
	struct msh_journal *j = journal_new("lat");
	char path[PATH_MAX + 16];
	int fd, rc;

	msh_store_be16(block, MSG64);
	fill_random(block + 2, MSG64 & ~7u, 3);
	memset(rec, 0xA5, sizeof(rec));
	snprintf(path, sizeof(path), "%s/bare", work);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(path, -errno);
	/* The two loops take turns, one sync each, so that both see the same
	 * disk (background writeback of the phases before, other tenants);
	 * the first 50 turns warm up and are not counted. */
	t0 = now_ns();
	t = t0;
	for (uint32_t i = 0; hj.n < iters && t - t0 < budget; i++) {
		uint64_t a = now_ns(), b, durable;

		rc = msh_journal_append(j, seq, block, sizeof(block), 1);
		if (rc == 0)
			rc = msh_journal_sync(j, &durable);
		if (rc != 0)
			die("journal", rc);
		seq++;
		b = now_ns();
		if (pwrite(fd, rec, sizeof(rec), (off_t)off) != (ssize_t)sizeof(rec) ||
		    fdatasync(fd) != 0)
			die("bare pwrite+fdatasync", -errno);
		off += sizeof(rec);
		t = now_ns();
		if (i >= 50) {
			hist_add(&hj, b - a);
			hist_add(&hb, t - b);
		}
	}
	t = now_ns();
	if (!tsv) {
		printf("\n| one 64-byte message per fdatasync (turns taken) | p50 us | p99 us | "
		       "max us | syncs/s | samples |\n");
		printf("|---|---:|---:|---:|---:|---:|\n");
	}
	/* Each loop's rate over its own share of the time. */
	lat_row("msh_journal_append + msh_journal_sync (88-byte record)", &hj, hj.sum / 1e9);
	lat_row("bare pwrite (88 bytes, appending) + fdatasync, same file system", &hb,
		hb.sum / 1e9);
	close(fd);
	unlink(path);
	msh_journal_destroy(j);
}

static void
bench_group(double budget_s)
{
	static const uint32_t per_sync[] = {1, 8, 64, 512};
	uint8_t block[2 + MSG64];
	uint64_t budget = (uint64_t)(budget_s * 1e9);

	msh_store_be16(block, MSG64);
	fill_random(block + 2, MSG64 & ~7u, 5);
	if (!tsv) {
		printf("\n| group commit: records per sync (N) | records/s | fdatasync/s | "
		       "records per fdatasync | sync p50 us | sync p99 us |\n");
		printf("|---:|---:|---:|---:|---:|---:|\n");
	}
	for (size_t k = 0; k < MSH_ARRAY_SIZE(per_sync); k++) {
		static struct hist h;
		struct msh_journal *j = journal_new("grp");
		const struct msh_journal_stats *st = msh_journal_stats(j);
		uint64_t t0 = now_ns(), t = t0, seq = 1;
		double secs;
		int rc;

		memset(&h, 0, sizeof(h));
		while (t - t0 < budget) {
			uint64_t a;

			/* N records arrive (from the workers' rings), then the
			 * spill lcore commits them with one sync. */
			for (uint32_t r = 0; r < per_sync[k]; r++, seq++) {
				rc = msh_journal_append(j, seq, block, sizeof(block), 1);
				if (rc != 0)
					die("append", rc);
			}
			a = now_ns();
			rc = msh_journal_sync(j, NULL);
			if (rc != 0)
				die("sync", rc);
			t = now_ns();
			hist_add(&h, t - a);
		}
		secs = (double)(t - t0) / 1e9;
		if (tsv)
			printf("group_%u\trecords_s\t%.0f\tsyncs_s\t%.0f\n", per_sync[k],
			       (double)st->synced_records / secs, (double)st->syncs / secs);
		else
			printf("| %u | %.0f | %.0f | %.1f | %.0f | %.0f |\n", per_sync[k],
			       (double)st->synced_records / secs, (double)st->syncs / secs,
			       st->syncs ? (double)st->synced_records / (double)st->syncs : 0.0,
			       hist_pct(&h, 50) / 1e3, hist_pct(&h, 99) / 1e3);
		msh_journal_destroy(j);
	}
}

int
main(int argc, char **argv)
{
	const char *dir = "/var/tmp";
	uint32_t files = 16, iters = 2000;
	uint16_t msg = 64;
	double scale = 1.0;
	struct statvfs vfs;
	char fs[PATH_MAX + 400];
	double spill_mbs = 0;
	int opt;

	while ((opt = getopt(argc, argv, "d:f:n:m:s:th")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'f':
			files = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			iters = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'm':
			msg = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			scale = strtod(optarg, NULL);
			break;
		case 't':
			tsv = 1;
			break;
		default:
			printf("usage: %s [-d dir, default /var/tmp] [-f segment files, 16]\n"
			       "  [-n fdatasync samples, 2000] [-m message bytes, 64]\n"
			       "  [-s time budget scale, 1: under 60 s] [-t tsv]\n",
			       argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (files == 0 || iters == 0 || msg == 0 || msg > 1400 || scale <= 0 || scale > 10) {
		fprintf(stderr, "bench_spill: -f, -n positive; -m 1..1400; -s in (0, 10]\n");
		return 2;
	}
	snprintf(work, sizeof(work), "%s/msh-bench-spill.XXXXXX", dir);
	if (mkdtemp(work) == NULL) {
		fprintf(stderr, "bench_spill: mkdtemp %s: %s\n", work, strerror(errno));
		work[0] = '\0';
		return 1;
	}
	atexit(cleanup);
	/* Room for the spill files and the raw file, with a margin. */
	if (statvfs(work, &vfs) == 0) {
		uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		uint64_t need = (uint64_t)files * SEGMENT * 2 + (64u << 20);

		if (avail < need) {
			files = (uint32_t)MSH_MAX(1, (avail / 3) / SEGMENT);
			fprintf(stderr, "bench_spill: %.0f MB free in %s: %u files only\n",
				avail / 1e6, dir, files);
		}
	}
	fs_of(work, fs, sizeof(fs));
	if (!tsv) {
		printf("Directory %s: %s\n\n", dir, fs);
		printf("| throughput | result | how |\n|---|---:|---|\n");
	}
	/* Budgets: 12 + 8 + 2 x 7 + 4 x 3.5 = 48 s at most, plus set-up. */
	bench_spill_write(files, 12 * scale, msg, &spill_mbs);
	bench_raw((uint64_t)files * SEGMENT, 8 * scale, spill_mbs);
	bench_journal(iters, 7 * scale);
	bench_group(3.5 * scale);
	cleanup();
	return 0;
}
