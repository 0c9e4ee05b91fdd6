/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A shard's spill directory (see spilldir.h): the load rule that rebuilds the
 * table from the files at restart, adding and dropping files, and reads through
 * an LRU cache of verified descriptors. Control path only, one owner.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "spilldir.h"

#define SEQ_DIGITS 20
#define NAME_PART_MAX (3 * MSH_NAME_LEN + 1)
#define NO_PRED UINT32_MAX

static const char *const spilldir_err_names[] = {
#define _(sym, str) str,
	foreach_msh_spilldir_err
#undef _
};

_Static_assert(MSH_ARRAY_SIZE(spilldir_err_names) ==
		       MSH_SPILLDIR_E_END - MSH_SPILLDIR_E_BASE - 1,
	       "one string per spilldir error");
_Static_assert(MSH_SPILL_E_END <= MSH_SPILLDIR_E_BASE, "spill and spilldir errors apart");

/* One cached descriptor; fd < 0 when free. next_seq/next_off remember where
 * the last read stopped so that a sequential reader skips the index lookup. */
struct fd_slot {
	int fd;
	uint64_t first_seq; /* the table file it belongs to */
	uint64_t used;      /* LRU tick */
	uint64_t next_seq;
	uint32_t next_off;
};

struct msh_spilldir {
	char *dir;
	struct msh_name shard;
	char part[NAME_PART_MAX];
	msh_spilldir_report_fn report;
	void *arg;
	/* The table: files[head .. head + n), oldest first, contiguous. */
	struct msh_spilldir_file *files;
	uint32_t head, n, cap;
	uint64_t first_seq, next_seq, bytes;
	uint32_t n_slots;
	uint64_t tick;
	struct fd_slot slots[MSH_SPILLDIR_FD_MAX];
	struct msh_spilldir_stats stats;
};

const char *
msh_spilldir_err_str(int err)
{
	unsigned int e = err < 0 ? 0u - (unsigned int)err : (unsigned int)err;

	if (e > MSH_SPILLDIR_E_BASE && e < MSH_SPILLDIR_E_END)
		return spilldir_err_names[e - MSH_SPILLDIR_E_BASE - 1];
	return msh_spill_err_str(err);
}

/* Must produce what lib/spill's file_name() writes before "-<seq>.seg"; a unit
 * test compares the two on names that need escaping. */
size_t
msh_spilldir_name_part(const struct msh_name *shard, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = MSH_NAME_LEN, o = 0;

	while (len > 0 && shard->b[len - 1] == ' ')
		len--;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = shard->b[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-') {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return o;
}

int
msh_spilldir_name_parse(const char *file, const char *part, const char *suffix, uint64_t *seq)
{
	size_t len = strlen(file), sl = strlen(suffix), pl = strlen(part);
	const char *dash = NULL;
	uint64_t v = 0;

	if (len <= sl || strcmp(file + len - sl, suffix) != 0)
		return 0;
	/* The sequence number is after the last '-' (a shard name may hold '-'). */
	for (const char *p = file; p < file + len - sl; p++)
		if (*p == '-')
			dash = p;
	if (dash == NULL || (size_t)(dash - file) != pl || memcmp(file, part, pl) != 0)
		return 0;
	if ((size_t)(file + len - sl - (dash + 1)) != SEQ_DIGITS)
		return -MSH_SPILL_E_BAD_NAME;
	for (const char *p = dash + 1; p < file + len - sl; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -MSH_SPILL_E_BAD_NAME;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*seq = v;
	return 1;
}

static uint64_t
file_end(const struct msh_spilldir_file *f)
{
	return f->first_seq + f->count;
}

/* Is a newer than b by the load rule's order: epoch, then end, then first? */
static bool
file_newer(const struct msh_spilldir_file *a, const struct msh_spilldir_file *b)
{
	if (a->epoch != b->epoch)
		return a->epoch > b->epoch;
	if (file_end(a) != file_end(b))
		return file_end(a) > file_end(b);
	return a->first_seq < b->first_seq;
}

static int
path_of(const struct msh_spilldir *d, const char *name, char *path)
{
	int n = snprintf(path, PATH_MAX, "%s/%s", d->dir, name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static void
report(struct msh_spilldir *d, const char *name, int err, const struct msh_spilldir_file *f)
{
	char path[PATH_MAX];

	d->stats.files_reported++;
	if (d->report == NULL)
		return;
	if (path_of(d, name, path) != 0)
		snprintf(path, sizeof(path), "%s", name);
	d->report(d->arg, path, err, f);
}

/* Verify @p name in full and fill @p f from its header; checks the name's
 * sequence number, the shard and that the file is not empty. */
static int
file_verify(struct msh_spilldir *d, const char *name, uint64_t name_seq,
	    struct msh_spilldir_file *f, bool *trusted)
{
	struct msh_spill_file sf;
	char path[PATH_MAX];
	int rc;

	*trusted = false;
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	rc = path_of(d, name, path);
	if (rc == 0)
		rc = msh_spill_open(path, &sf);
	if (rc != 0)
		return rc;
	f->first_seq = sf.first_seq;
	f->bytes = sf.size;
	f->count = sf.count;
	f->data_len = sf.data_len;
	f->epoch = sf.epoch;
	*trusted = true;
	if (sf.first_seq != name_seq)
		rc = -MSH_SPILL_E_BAD_NAME;
	else if (!msh_name_eq(&sf.shard, &d->shard))
		rc = -MSH_SPILLDIR_E_WRONG_SHARD;
	else if (sf.count == 0)
		rc = -MSH_SPILLDIR_E_EMPTY;
	msh_spill_close(&sf);
	return rc;
}

/* Descriptor cache ------------------------------------------------------------------ */

static void
slot_close(struct fd_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

static struct fd_slot *
slot_find(struct msh_spilldir *d, uint64_t first_seq)
{
	for (uint32_t i = 0; i < d->n_slots; i++)
		if (d->slots[i].fd >= 0 && d->slots[i].first_seq == first_seq)
			return &d->slots[i];
	return NULL;
}

static void
slot_forget(struct msh_spilldir *d, uint64_t first_seq)
{
	struct fd_slot *s = slot_find(d, first_seq);

	if (s != NULL)
		slot_close(s);
}

/* A free slot, else the least recently used one, closed. */
static struct fd_slot *
slot_take(struct msh_spilldir *d)
{
	struct fd_slot *lru = &d->slots[0];

	for (uint32_t i = 0; i < d->n_slots; i++) {
		if (d->slots[i].fd < 0)
			return &d->slots[i];
		if (d->slots[i].used < lru->used)
			lru = &d->slots[i];
	}
	slot_close(lru);
	d->stats.fd_evictions++;
	return lru;
}

static void
slot_fill(struct msh_spilldir *d, struct fd_slot *s, int fd, const struct msh_spilldir_file *f)
{
	s->fd = fd;
	s->first_seq = f->first_seq;
	s->used = ++d->tick;
	s->next_seq = UINT64_MAX;
	s->next_off = 0;
}

/*
 * Open file @p name for reading and verify it in full, filling @p v from its
 * header. The descriptor is opened first and the path verified after; the
 * inode behind the path must be the descriptor's before and after, so what was
 * verified is what will be read (files are immutable once renamed into place,
 * and only the owner renames or deletes them).
 */
static int
fd_open_verified(struct msh_spilldir *d, const char *name, uint64_t seq,
		 struct msh_spilldir_file *v, bool *trusted, int *fdp)
{
	struct stat st1, st2;
	char path[PATH_MAX];
	int fd, rc;

	*trusted = false;
	rc = path_of(d, name, path);
	if (rc != 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st1) != 0) {
		rc = -errno;
		goto fail;
	}
	rc = file_verify(d, name, seq, v, trusted);
	if (rc != 0)
		goto fail;
	if (stat(path, &st2) != 0) {
		rc = -errno;
		goto fail;
	}
	if (st1.st_ino != st2.st_ino || st1.st_dev != st2.st_dev ||
	    (uint64_t)st1.st_size != v->bytes) {
		rc = -MSH_SPILLDIR_E_CHANGED;
		goto fail;
	}
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

/* The table -------------------------------------------------------------------------- */

static struct msh_spilldir_file *
tab(const struct msh_spilldir *d, uint32_t i)
{
	return &d->files[d->head + i];
}

static int
tab_push(struct msh_spilldir *d, const struct msh_spilldir_file *f)
{
	if (d->head + d->n == d->cap) {
		if (d->head > 0) {
			memmove(d->files, d->files + d->head, (size_t)d->n * sizeof(*d->files));
			d->head = 0;
		} else {
			uint32_t ncap = d->cap ? d->cap * 2 : 64;
			struct msh_spilldir_file *nf = realloc(d->files, ncap * sizeof(*nf));

			if (nf == NULL || ncap < d->cap)
				return -ENOMEM;
			d->files = nf;
			d->cap = ncap;
		}
	}
	*tab(d, d->n) = *f;
	if (d->n == 0)
		d->first_seq = f->first_seq;
	d->n++;
	d->next_seq = file_end(f);
	d->bytes += f->bytes;
	return 0;
}

/* Let go of table files [from, n) (kept on disk), reporting each with @p why,
 * or GAP/OVERLAP relative to @p run_first when why is 0. A file named
 * @p replaced was renamed over by the file being added: not reported. */
static void
tab_release_tail(struct msh_spilldir *d, uint32_t from, int why, uint64_t run_first,
		 const char *replaced)
{
	for (uint32_t i = from; i < d->n; i++) {
		struct msh_spilldir_file *f = tab(d, i);
		int err = why ? why
			      : (file_end(f) <= run_first ? -MSH_SPILLDIR_E_GAP
							  : -MSH_SPILLDIR_E_OVERLAP);

		slot_forget(d, f->first_seq);
		d->bytes -= f->bytes;
		if (strcmp(f->name, replaced) != 0)
			report(d, f->name, err, f);
	}
	d->n = from;
	if (d->n == 0) {
		d->head = 0;
		d->first_seq = d->next_seq = 0;
	} else {
		d->next_seq = file_end(tab(d, d->n - 1));
	}
}

static uint32_t
tab_index(const struct msh_spilldir *d, uint64_t seq)
{
	uint32_t lo = 0, hi = d->n;

	/* Last file whose first_seq <= seq; the caller has checked the range. */
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (tab(d, mid)->first_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Load -------------------------------------------------------------------------------- */

struct ent {
	uint64_t seq;
	int kind; /* 1 a .seg name, 2 a .seg.tmp leftover, 3 a bad name */
	char name[];
};

struct cand {
	struct msh_spilldir_file f;
	uint64_t run;  /* messages of the longest run ending here */
	uint32_t pred; /* index of the previous file of that run */
	bool keep;
};

static int
ent_cmp(const void *a, const void *b)
{
	const struct ent *x = *(const struct ent *const *)a;
	const struct ent *y = *(const struct ent *const *)b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
cand_end_cmp(const void *a, const void *b, void *arg)
{
	const struct cand *c = arg;
	uint64_t x = file_end(&c[*(const uint32_t *)a].f), y = file_end(&c[*(const uint32_t *)b].f);

	return (x > y) - (x < y);
}

/* The newest file anchors the table: highest epoch, then end; between files
 * ending at the same place, the longer run, then the longer file. */
static bool
anchor_better(const struct cand *a, const struct cand *b)
{
	if (a->f.epoch != b->f.epoch || file_end(&a->f) != file_end(&b->f))
		return file_newer(&a->f, &b->f);
	if (a->run != b->run)
		return a->run > b->run;
	return a->f.first_seq < b->f.first_seq;
}

/* This shard's entries of the directory, sorted by sequence then name. */
static int
list_dir(struct msh_spilldir *d, struct ent ***entsp, size_t *np)
{
	struct ent **ents = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	DIR *dir = opendir(d->dir);

	if (dir == NULL)
		return -errno;
	for (;;) {
		uint64_t seq = UINT64_MAX;
		struct ent *e;
		int kind, r;

		errno = 0;
		de = readdir(dir);
		if (de == NULL) {
			rc = -errno;
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		r = msh_spilldir_name_parse(de->d_name, d->part, ".seg", &seq);
		kind = r == 1 ? 1 : 3;
		if (r == 0) {
			r = msh_spilldir_name_parse(de->d_name, d->part, ".seg.tmp", &seq);
			kind = 2;
			if (r == 0)
				continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct ent **ne = realloc(ents, ncap * sizeof(*ents));

			if (ne == NULL) {
				rc = -ENOMEM;
				break;
			}
			ents = ne;
			cap = ncap;
		}
		e = malloc(sizeof(*e) + strlen(de->d_name) + 1);
		if (e == NULL) {
			rc = -ENOMEM;
			break;
		}
		e->seq = r == 1 ? seq : UINT64_MAX;
		e->kind = kind;
		strcpy(e->name, de->d_name);
		ents[n++] = e;
	}
	closedir(dir);
	if (rc == 0 && n > 1)
		qsort(ents, n, sizeof(*ents), ent_cmp);
	*entsp = ents;
	*np = n;
	return rc;
}

/* Longest contiguous run ending at each candidate (they are sorted by
 * first_seq, so every possible predecessor, which starts earlier, is done). */
static int
runs_compute(struct cand *c, size_t n)
{
	uint32_t *by_end = malloc((n ? n : 1) * sizeof(*by_end));

	if (by_end == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		by_end[i] = (uint32_t)i;
	qsort_r(by_end, n, sizeof(*by_end), cand_end_cmp, c);
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = n;

		c[i].run = c[i].f.count;
		c[i].pred = NO_PRED;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (file_end(&c[by_end[mid]].f) < c[i].f.first_seq)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && file_end(&c[by_end[lo]].f) == c[i].f.first_seq; lo++) {
			const struct cand *p = &c[by_end[lo]];

			if (p->f.epoch > c[i].f.epoch)
				continue;
			uint64_t run = p->run + c[i].f.count;

			if (c[i].pred == NO_PRED || run > c[i].run ||
			    (run == c[i].run && file_newer(&p->f, &c[c[i].pred].f))) {
				c[i].run = run;
				c[i].pred = by_end[lo];
			}
		}
	}
	free(by_end);
	return 0;
}

static int
load(struct msh_spilldir *d, bool remove_tmp)
{
	struct ent **ents = NULL;
	struct cand *c = NULL;
	size_t n = 0, nc = 0, anchor = 0;
	int rc;

	rc = list_dir(d, &ents, &n);
	if (rc == 0 && n > 0) {
		c = malloc(n * sizeof(*c));
		if (c == NULL)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct ent *e = ents[i];
		bool trusted;
		int err;

		if (e->kind == 2) {
			report(d, e->name, -MSH_SPILL_E_TMP_LEFTOVER, NULL);
			if (remove_tmp) {
				char path[PATH_MAX];

				if (path_of(d, e->name, path) == 0)
					unlink(path);
			}
			continue;
		}
		if (e->kind == 3) {
			report(d, e->name, -MSH_SPILL_E_BAD_NAME, NULL);
			continue;
		}
		err = file_verify(d, e->name, e->seq, &c[nc].f, &trusted);
		if (err == -ENOMEM) {
			rc = err;
			break;
		}
		if (err != 0) {
			report(d, e->name, err, trusted ? &c[nc].f : NULL);
			continue;
		}
		c[nc].keep = false;
		nc++;
	}
	if (rc == 0 && nc > 0)
		rc = runs_compute(c, nc);
	if (rc == 0 && nc > 0) {
		for (size_t i = 1; i < nc; i++)
			if (anchor_better(&c[i], &c[anchor]))
				anchor = i;
		for (uint32_t i = (uint32_t)anchor; i != NO_PRED; i = c[i].pred)
			c[i].keep = true;
		/* c[] is in first_seq order, so the kept files go in in order. */
		for (size_t i = 0; rc == 0 && i < nc; i++)
			if (c[i].keep)
				rc = tab_push(d, &c[i].f);
		d->stats.files_loaded = d->n;
		for (size_t i = 0; rc == 0 && i < nc; i++)
			if (!c[i].keep)
				report(d, c[i].f.name,
				       file_end(&c[i].f) <= d->first_seq ? -MSH_SPILLDIR_E_GAP
									 : -MSH_SPILLDIR_E_OVERLAP,
				       &c[i].f);
	}
	for (size_t i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	free(c);
	return rc;
}

struct msh_spilldir *
msh_spilldir_open(const struct msh_spilldir_conf *conf, msh_spilldir_report_fn report_fn,
		  void *arg)
{
	struct msh_spilldir *d;
	int rc;

	if (conf == NULL || conf->dir == NULL || conf->dir[0] == '\0' ||
	    !msh_name_valid(&conf->shard) || conf->fd_cache > MSH_SPILLDIR_FD_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (strlen(conf->dir) + 1 + MSH_SPILL_NAME_MAX >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL || (d->dir = strdup(conf->dir)) == NULL) {
		free(d);
		errno = ENOMEM;
		return NULL;
	}
	d->shard = conf->shard;
	msh_spilldir_name_part(&d->shard, d->part);
	d->report = report_fn;
	d->arg = arg;
	d->n_slots = conf->fd_cache ? conf->fd_cache : MSH_SPILLDIR_FD_DEFAULT;
	for (uint32_t i = 0; i < MSH_SPILLDIR_FD_MAX; i++)
		d->slots[i].fd = -1;
	rc = load(d, conf->remove_tmp);
	if (rc != 0) {
		msh_spilldir_close(d);
		errno = -rc;
		return NULL;
	}
	return d;
}

void
msh_spilldir_close(struct msh_spilldir *d)
{
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < MSH_SPILLDIR_FD_MAX; i++)
		slot_close(&d->slots[i]);
	free(d->files);
	free(d->dir);
	free(d);
}

uint64_t
msh_spilldir_first_seq(const struct msh_spilldir *d)
{
	return d->first_seq;
}

uint64_t
msh_spilldir_next_seq(const struct msh_spilldir *d)
{
	return d->next_seq;
}

uint32_t
msh_spilldir_nfiles(const struct msh_spilldir *d)
{
	return d->n;
}

uint64_t
msh_spilldir_bytes(const struct msh_spilldir *d)
{
	return d->bytes;
}

const struct msh_spilldir_file *
msh_spilldir_file(const struct msh_spilldir *d, uint32_t i)
{
	return i < d->n ? tab(d, i) : NULL;
}

const struct msh_spilldir_file *
msh_spilldir_find(const struct msh_spilldir *d, uint64_t seq)
{
	if (d->n == 0 || seq < d->first_seq || seq >= d->next_seq)
		return NULL;
	return tab(d, tab_index(d, seq));
}

uint32_t
msh_spilldir_open_fds(const struct msh_spilldir *d)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < d->n_slots; i++)
		k += d->slots[i].fd >= 0;
	return k;
}

const struct msh_spilldir_stats *
msh_spilldir_stats(const struct msh_spilldir *d)
{
	return &d->stats;
}

/* Add and drop ------------------------------------------------------------------------ */

/* Table index of the file ending at @p seq, or NO_PRED. */
static uint32_t
tab_ending_at(const struct msh_spilldir *d, uint64_t seq)
{
	uint32_t i;

	if (d->n == 0 || seq <= d->first_seq || seq > d->next_seq)
		return NO_PRED;
	i = tab_index(d, seq - 1);
	return file_end(tab(d, i)) == seq ? i : NO_PRED;
}

int
msh_spilldir_add(struct msh_spilldir *d, const char *path)
{
	const char *name = strrchr(path, '/');
	struct msh_spilldir_file f;
	struct fd_slot *s;
	uint64_t seq;
	uint32_t pred;
	bool trusted;
	int rc, fd;

	name = name ? name + 1 : path;
	if (strlen(name) >= MSH_SPILL_NAME_MAX)
		return -ENAMETOOLONG;
	rc = msh_spilldir_name_parse(name, d->part, ".seg", &seq);
	if (rc <= 0)
		return -MSH_SPILL_E_BAD_NAME;
	/* The descriptor goes into the read cache: the verification here is
	 * the one the read path relies on. */
	rc = fd_open_verified(d, name, seq, &f, &trusted, &fd);
	if (rc != 0) {
		report(d, name, rc, trusted ? &f : NULL);
		return rc;
	}
	if (d->n > 0 && f.first_seq >= d->first_seq && f.first_seq < d->next_seq) {
		struct msh_spilldir_file *same = tab(d, tab_index(d, f.first_seq));

		/* The same segment written again (a retried spill renamed over
		 * the file, perhaps one found bad): same messages, new inode;
		 * swap the descriptor and serve it again. */
		if (same->first_seq == f.first_seq && same->count == f.count &&
		    same->data_len == f.data_len && same->epoch == f.epoch) {
			slot_forget(d, f.first_seq);
			d->bytes = d->bytes - same->bytes + f.bytes;
			same->bytes = f.bytes;
			same->err = 0;
			slot_fill(d, slot_take(d), fd, &f);
			return 0;
		}
	}
	if (d->n > 0 && !file_newer(&f, tab(d, d->n - 1))) {
		close(fd);
		report(d, name, -MSH_SPILLDIR_E_STALE, &f);
		return -MSH_SPILLDIR_E_STALE;
	}
	pred = tab_ending_at(d, f.first_seq);
	if (pred != NO_PRED && tab(d, pred)->epoch > f.epoch)
		pred = NO_PRED;
	if (pred == NO_PRED)
		tab_release_tail(d, 0, 0, f.first_seq, f.name);
	else if (pred + 1 < d->n)
		tab_release_tail(d, pred + 1, -MSH_SPILLDIR_E_OVERLAP, 0, f.name);
	rc = tab_push(d, &f);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	s = slot_take(d);
	slot_fill(d, s, fd, &f);
	d->stats.files_added++;
	return 0;
}

int
msh_spilldir_drop_oldest(struct msh_spilldir *d)
{
	struct msh_spilldir_file *f;
	char path[PATH_MAX];
	int rc;

	if (d->n == 0)
		return -ENOENT;
	f = tab(d, 0);
	rc = path_of(d, f->name, path);
	if (rc != 0)
		return rc;
	slot_forget(d, f->first_seq);
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	d->bytes -= f->bytes;
	d->head++;
	d->n--;
	d->stats.files_dropped++;
	if (d->n == 0)
		d->head = 0;
	d->first_seq = d->n ? tab(d, 0)->first_seq : d->next_seq;
	return 0;
}

int
msh_spilldir_trim(struct msh_spilldir *d, uint64_t max_bytes)
{
	int dropped = 0;

	while (d->n > 0 && d->bytes > max_bytes) {
		int rc = msh_spilldir_drop_oldest(d);

		if (rc != 0)
			return rc;
		dropped++;
	}
	return dropped;
}

/* Read -------------------------------------------------------------------------------- */

/* The errors that mean "this file will never be served": it failed
 * verification, changed, or is gone. Others (EMFILE, EIO, ENOMEM) may pass. */
static bool
err_permanent(int rc)
{
	return rc <= -MSH_SPILL_E_BASE || rc == -ENOENT;
}

static int
file_failed(struct msh_spilldir *d, struct msh_spilldir_file *f, int rc)
{
	if (err_permanent(rc)) {
		slot_forget(d, f->first_seq);
		f->err = rc;
		d->stats.verify_failures++;
		report(d, f->name, rc, f);
	} else {
		d->stats.io_errors++;
	}
	return rc;
}

static int
slot_get(struct msh_spilldir *d, struct msh_spilldir_file *f, struct fd_slot **sp)
{
	struct fd_slot *s = slot_find(d, f->first_seq);
	struct msh_spilldir_file v;
	bool trusted;
	int fd, rc;

	if (s != NULL) {
		s->used = ++d->tick;
		d->stats.fd_hits++;
		*sp = s;
		return 0;
	}
	rc = fd_open_verified(d, f->name, f->first_seq, &v, &trusted, &fd);
	if (rc != 0)
		return rc;
	if (v.count != f->count || v.data_len != f->data_len || v.epoch != f->epoch ||
	    v.bytes != f->bytes) {
		close(fd);
		return -MSH_SPILLDIR_E_CHANGED;
	}
	d->stats.fd_opens++;
	s = slot_take(d);
	slot_fill(d, s, fd, f);
	*sp = s;
	return 0;
}

/* Copy messages from one file: @p room bytes and @p max messages at most.
 * @return messages copied (0: the first does not fit), or a negative error. */
static int
read_file(struct msh_spilldir *d, struct msh_spilldir_file *f, uint64_t seq, uint32_t max,
	  uint8_t *out, uint32_t room, uint32_t *lenp)
{
	struct fd_slot *s;
	uint32_t off, want, p = 0, k = 0;
	uint64_t end = file_end(f);
	int rc;

	if (f->err != 0)
		return f->err;
	rc = slot_get(d, f, &s);
	if (rc != 0)
		return file_failed(d, f, rc);
	if (s->next_seq == seq) {
		off = s->next_off;
	} else {
		uint8_t e[MSH_SPILL_IDX_LEN];

		rc = msh_pread_all(s->fd, e, sizeof(e),
				   (uint64_t)MSH_SPILL_HDR_LEN + f->data_len +
					   (seq - f->first_seq) * MSH_SPILL_IDX_LEN,
				   -MSH_SPILL_E_IO);
		if (rc != 0)
			return file_failed(d, f, rc);
		memcpy(&off, e + 8, sizeof(off));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		off = __builtin_bswap32(off);
#endif
		if (off >= f->data_len)
			return file_failed(d, f, -MSH_SPILLDIR_E_CHANGED);
	}
	want = MSH_MIN(room, f->data_len - off);
	if (want < MSH_BLOCK_HDR_LEN)
		return 0;
	rc = msh_pread_all(s->fd, out, want, (uint64_t)MSH_SPILL_HDR_LEN + off, -MSH_SPILL_E_IO);
	if (rc != 0)
		return file_failed(d, f, rc);
	/* Whole blocks only: the read may end inside the last one. */
	while (k < max && seq + k < end && p + MSH_BLOCK_HDR_LEN <= want) {
		uint32_t bl = MSH_BLOCK_HDR_LEN + msh_load_be16(out + p);

		if (bl > want - p)
			break;
		p += bl;
		k++;
	}
	s->next_seq = seq + k;
	s->next_off = off + p;
	*lenp = p;
	return (int)k;
}

int
msh_spilldir_read(struct msh_spilldir *d, uint64_t seq, uint32_t max_msgs, uint32_t max_bytes,
		  void *buf, size_t buflen, struct msh_span *span)
{
	uint32_t room = (uint32_t)MSH_MIN((uint64_t)max_bytes, (uint64_t)buflen);
	uint32_t i, msgs = 0, len = 0;
	uint64_t at = seq;

	span->data = buf;
	span->len = 0;
	span->count = 0;
	span->first_seq = seq;
	if (d->n == 0 || seq < d->first_seq || seq >= d->next_seq || max_msgs == 0)
		return 0;
	for (i = tab_index(d, seq); i < d->n && msgs < max_msgs; i++) {
		struct msh_spilldir_file *f = tab(d, i);
		uint32_t got = 0;
		int k;

		/* No room for another block: do not open the next file for nothing. */
		if (msgs > 0 && room - len < MSH_BLOCK_HDR_LEN)
			break;
		k = read_file(d, f, at, max_msgs - msgs, (uint8_t *)buf + len, room - len, &got);

		if (k < 0 && msgs == 0)
			return k;
		if (k <= 0)
			break;
		msgs += (uint32_t)k;
		len += got;
		at += (uint64_t)k;
		if (at < file_end(f))
			break; /* out of room or of max_msgs inside this file */
	}
	if (msgs == 0)
		return -EMSGSIZE;
	span->len = len;
	span->count = msgs;
	d->stats.reads++;
	d->stats.read_msgs += msgs;
	d->stats.read_bytes += len;
	return (int)msgs;
}
