/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The spill thread (see spill_thread.h): writes sealed segments to files with
 * lib/spill (temp name, fsync, rename, fsync of the directory), keeps each
 * shard's table of files (lib/spilldir) and reads ranges back for subscribers
 * and re-requests that reach past memory. Workers talk to it through
 * messages from one mempool: requests on app->spill_ring (multi-producer),
 * replies on the owning worker's spill_done ring. Blocking I/O happens here
 * only; workers never wait for it.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "appliance.h"
#include "journal.h"
#include "spill.h"
#include "spilldir.h"

#define SPILL_RING 1024
#define SPILL_MSGS 255 /* 2^n - 1 for the mempool's ring; ~12 MiB with the chunks */
#define SPILL_RETRY_S 1

static uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Publish the table's range to the owner: next before first, so an owner that
 * sees a first sees a next at least as new. */
static void
publish_range(struct msh_app_shard *as)
{
	uint64_t first = msh_spilldir_first_seq(as->dir), next = msh_spilldir_next_seq(as->dir);

	__atomic_store_n(&as->disk_next, next, __ATOMIC_RELEASE);
	__atomic_store_n(&as->disk_first, first == next ? 0 : first, __ATOMIC_RELEASE);
}

static void
report(void *arg, const char *path, int err, const struct msh_spilldir_file *f)
{
	struct msh_app_shard *as = arg;

	as->spill.bad_files++;
	MSH_LOG(WARNING, "spill file %s: %s; not served%s", path, msh_spilldir_err_str(err),
		f != NULL ? "" : " (header not trusted)");
}

/* After a switch to storage = memory: the journal goes once the spill files
 * hold everything it held (the segment sealed at the switch). */
static void
close_journal_if_done(struct msh_app_shard *as)
{
	uint64_t at = as->journal_close_at;
	char name[MSH_NAME_LEN + 1];

	if (at == 0 || as->journal == NULL || msh_spilldir_next_seq(as->dir) < at)
		return;
	msh_journal_destroy(as->journal);
	as->journal = NULL;
	as->journal_close_at = 0;
	MSH_LOG(NOTICE, "shard %s: storage = memory from seq %lu on; journal removed",
		msh_name_to_str(&as->shard->conf.name, name), (unsigned long)at);
}

static void
do_write(struct msh_app *app, struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	const struct msh_shard_conf *c = &as->shard->conf;
	char path[MSH_CONF_PATH_LEN + MSH_SPILL_NAME_MAX + 2];
	int rc;

	/* A persistent shard's journal moves to a new file at the segment's
	 * end, so the old file can go once the segment's own file is durable. */
	if (as->journal != NULL)
		msh_journal_roll(as->journal);
	rc = msh_spill_write(c->spill_dir, &c->name, m->seg, m->seg->epoch, wall_ns(), path,
			     sizeof(path));
	if (rc == 0)
		rc = msh_spilldir_add(as->dir, path);
	if (rc == 0 && as->journal != NULL) {
		msh_journal_retire(as->journal, m->seg->first_seq + m->seg->count);
		close_journal_if_done(as);
	}
	if (rc == 0) {
		as->spill.files++;
		as->spill.bytes += MSH_SPILL_HDR_LEN + m->seg->data_len +
				   (uint64_t)m->seg->count * MSH_SPILL_IDX_LEN;
		publish_range(as);
	} else {
		char name[MSH_NAME_LEN + 1];

		/* Logged once per failure streak, counted every time. */
		if (as->spill.last_error != rc)
			MSH_LOG(ERR, "shard %s: spilling seq %lu..%lu to %s: %s; the segment stays "
				"in memory and is retried every %d s", msh_name_to_str(&c->name, name),
				(unsigned long)m->seg->first_seq,
				(unsigned long)(m->seg->first_seq + m->seg->count - 1), c->spill_dir,
				msh_spilldir_err_str(rc), SPILL_RETRY_S);
		as->spill.write_errors++;
		as->spill.last_error = rc;
	}
	if (rc == 0)
		as->spill.last_error = 0;
	m->rc = rc;
}

static void
do_read(struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	struct msh_span sp;
	uint64_t want = m->end - m->seq;
	int n = msh_spilldir_read(as->dir, m->seq, (uint32_t)RTE_MIN(want, (uint64_t)UINT32_MAX),
				  MSH_SPILL_CHUNK, m->data, sizeof(m->data), &sp);

	if (n > 0) {
		as->spill.reads++;
		as->spill.read_msgs += (uint64_t)n;
		m->first_seq = sp.first_seq;
		m->count = sp.count;
		m->len = sp.len;
		m->rc = 0;
	} else {
		if (n < 0)
			as->spill.read_errors++;
		m->count = 0;
		m->len = 0;
		m->rc = n < 0 ? n : -ENOENT;
		publish_range(as); /* a file may have been marked bad: the range moved */
	}
}

/* Append a gathered run to the shard's journal (the sync comes after the
 * whole burst: group commit). */
static void
do_journal(struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	int rc;

	if (as->journal_error != 0 || as->journal == NULL)
		return;
	rc = msh_journal_append(as->journal, m->first_seq, m->data, m->len, m->count);
	if (rc != 0) {
		char name[MSH_NAME_LEN + 1];

		/* Never durable: no ack will ever be sent for it or after it. */
		as->journal_error = rc;
		MSH_LOG(ERR, "shard %s: journal append at seq %lu: %s; acks of persistent "
			"publishes stop until a restart", msh_name_to_str(&as->shard->conf.name, name),
			(unsigned long)m->first_seq, msh_journal_err_str(rc));
	}
}

/* Journals whose last sync failed with a retryable error (disk full): the
 * spill thread tries again when idle, so held acks are not stranded waiting
 * for a new publish. Each entry holds one of the shard's inflight counts, so
 * the shard is not freed while it is listed. */
#define SYNC_RETRY_MAX 64
static struct msh_app_shard *sync_retry[SYNC_RETRY_MAX];
static unsigned int n_sync_retry;

static void
sync_retry_add(struct msh_app_shard *as)
{
	for (unsigned int i = 0; i < n_sync_retry; i++)
		if (sync_retry[i] == as)
			return;
	if (n_sync_retry == SYNC_RETRY_MAX)
		return; /* the next publish's sync retries it anyway */
	__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
	sync_retry[n_sync_retry++] = as;
}

static void
sync_retry_run(void)
{
	for (unsigned int i = 0; i < n_sync_retry;) {
		struct msh_app_shard *as = sync_retry[i];
		uint64_t durable = as->durable_seq;
		int rc = as->journal == NULL || as->journal_error != 0
				 ? 0
				 : msh_journal_sync(as->journal, &durable);

		if (rc != 0 && msh_journal_error(as->journal) == 0) {
			i++; /* still failing: later */
			continue;
		}
		if (as->journal != NULL && as->journal_error == 0) {
			__atomic_store_n(&as->durable_seq, durable, __ATOMIC_RELEASE);
			if (rc != 0)
				as->journal_error = rc;
		}
		sync_retry[i] = sync_retry[--n_sync_retry];
		__atomic_fetch_sub(&as->inflight, 1, __ATOMIC_RELEASE);
	}
}

/* One fdatasync per journal the burst touched; then the acks may go. */
static void
sync_journals(struct msh_spill_msg **ms, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct msh_app_shard *as = ms[i]->as;
		uint64_t durable;
		int rc;
		bool seen = false;

		if (ms[i]->op != MSH_SPILL_OP_JOURNAL || as->journal_error != 0 || as->journal == NULL)
			continue;
		for (unsigned int k = 0; k < i && !seen; k++)
			seen = ms[k]->op == MSH_SPILL_OP_JOURNAL && ms[k]->as == as;
		if (seen)
			continue;
		rc = msh_journal_sync(as->journal, &durable);
		__atomic_store_n(&as->durable_seq, durable, __ATOMIC_RELEASE);
		if (rc != 0 && msh_journal_error(as->journal) == 0)
			sync_retry_add(as);
		if (rc != 0 && msh_journal_error(as->journal) != 0) {
			char name[MSH_NAME_LEN + 1];

			as->journal_error = rc;
			MSH_LOG(ERR, "shard %s: journal: %s; acks of persistent publishes stop until "
				"a restart", msh_name_to_str(&as->shard->conf.name, name),
				msh_journal_err_str(rc));
		}
	}
}

static void *
spill_main(void *arg)
{
	struct msh_app *app = arg;
	void *objs[32];
	unsigned int idle = 0;

	while (!app->spill_quit || !rte_ring_empty(app->spill_ring) || n_sync_retry > 0) {
		if (app->spill_quit && rte_ring_empty(app->spill_ring)) {
			/* Stopping: one more try, then let the shards go. */
			sync_retry_run();
			while (n_sync_retry > 0)
				__atomic_fetch_sub(&sync_retry[--n_sync_retry]->inflight, 1,
						   __ATOMIC_RELEASE);
			break;
		}
		unsigned int n = rte_ring_sc_dequeue_burst(app->spill_ring, objs, RTE_DIM(objs),
							   NULL);

		if (n == 0) {
			/* A control thread: sleeping costs a worker nothing. */
			if (n_sync_retry > 0 && idle % 1000 == 0)
				sync_retry_run();
			rte_delay_us_sleep(++idle > 100 ? 200 : 20);
			continue;
		}
		idle = 0;
		/* Journal appends first, synced together, so acks wait one
		 * fdatasync however many publishes the burst holds. */
		for (unsigned int i = 0; i < n; i++)
			if (((struct msh_spill_msg *)objs[i])->op == MSH_SPILL_OP_JOURNAL)
				do_journal(objs[i]);
		sync_journals((struct msh_spill_msg **)objs, n);
		for (unsigned int i = 0; i < n; i++) {
			struct msh_spill_msg *m = objs[i];
			struct msh_worker *w = &app->workers[m->as->worker];

			if (m->op == MSH_SPILL_OP_JOURNAL) {
				msh_spill_msg_free(app, m);
				continue;
			}
			if (m->op == MSH_SPILL_OP_CLOSE_JOURNAL) {
				m->as->journal_close_at = m->seq;
				close_journal_if_done(m->as);
				msh_spill_msg_free(app, m);
				continue;
			}
			if (m->op == MSH_SPILL_OP_WRITE)
				do_write(app, m);
			else
				do_read(m);
			/* The worker's reply ring holds every message there is. */
			while (rte_ring_sp_enqueue(w->spill_done, m) != 0)
				rte_delay_us_sleep(10);
		}
	}
	return NULL;
}

int
msh_spill_start(struct msh_app *app, char *err, size_t errlen)
{
	int socket = app->ingest.eth.socket, rc;

	/* Always started: a shard with spill = disk may be created live. */
	app->spill_pool = rte_mempool_create("msh_spill_msgs", SPILL_MSGS,
					     sizeof(struct msh_spill_msg), 32, 0, NULL, NULL, NULL,
					     NULL, socket, 0);
	app->spill_ring = rte_ring_create("msh_spill", SPILL_RING, socket, RING_F_SC_DEQ);
	if (app->spill_pool == NULL || app->spill_ring == NULL) {
		snprintf(err, errlen, "spill thread: no memory for its ring and %u messages of %zu "
			 "bytes on node %d", SPILL_MSGS, sizeof(struct msh_spill_msg), socket);
		return -1;
	}
	for (unsigned int i = 0; i < app->n_workers; i++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "msh_spill_done_%u", i);
		/* Room for every message of the pool: the thread never drops one. */
		app->workers[i].spill_done = rte_ring_create(name, SPILL_MSGS + 1, socket,
							     RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (app->workers[i].spill_done == NULL) {
			snprintf(err, errlen, "spill thread: no memory for worker %u's reply ring", i);
			return -1;
		}
	}
	app->spill_quit = false;
	/* A control thread: it runs on the control-plane CPUs, not a worker's. */
	rc = rte_ctrl_thread_create(&app->spill_thread, "msh-spill", NULL, spill_main, app);
	if (rc != 0) {
		snprintf(err, errlen, "spill thread: %s", strerror(rc < 0 ? -rc : rc));
		return -1;
	}
	app->spill_running = true;
	return 0;
}

void
msh_spill_stop(struct msh_app *app)
{
	if (app->spill_running) {
		app->spill_quit = true;
		pthread_join(app->spill_thread, NULL);
		app->spill_running = false;
	}
	for (unsigned int i = 0; i < app->n_workers; i++) {
		void *m;

		if (app->workers[i].spill_done == NULL)
			continue;
		while (rte_ring_dequeue(app->workers[i].spill_done, &m) == 0)
			rte_mempool_put(app->spill_pool, m);
		rte_ring_free(app->workers[i].spill_done);
		app->workers[i].spill_done = NULL;
	}
	rte_ring_free(app->spill_ring);
	rte_mempool_free(app->spill_pool);
	app->spill_ring = NULL;
	app->spill_pool = NULL;
}

uint64_t
msh_spill_recover(struct msh_app *app, struct msh_app_shard *as, const struct msh_shard_conf *c,
		  char *err, size_t errlen)
{
	struct msh_spilldir_conf dc = {.dir = c->spill_dir, .shard = c->name};
	char name[MSH_NAME_LEN + 1];
	uint64_t next;

	msh_name_to_str(&c->name, name);
	if (mkdir(c->spill_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "spill_dir %s: cannot create it: %s", c->spill_dir,
			 strerror(errno));
		return 0;
	}
	if (access(c->spill_dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "spill_dir %s: not writable: %s", c->spill_dir,
			 strerror(errno));
		return 0;
	}
	/* No writer runs for this shard yet: temporaries are torn writes. */
	dc.remove_tmp = true;
	as->dir = msh_spilldir_open(&dc, report, as);
	if (as->dir == NULL) {
		snprintf(err, errlen, "spill_dir %s: %s", c->spill_dir, strerror(errno));
		return 0;
	}
	publish_range(as);
	next = msh_spilldir_next_seq(as->dir);
	if (msh_spilldir_nfiles(as->dir) > 0 || as->spill.bad_files > 0)
		MSH_LOG(NOTICE, "shard %s: recovered %u spill file%s from %s, seq %lu..%lu; %lu "
			"file%s not served (see above)", name, msh_spilldir_nfiles(as->dir),
			msh_spilldir_nfiles(as->dir) == 1 ? "" : "s", c->spill_dir,
			(unsigned long)msh_spilldir_first_seq(as->dir),
			(unsigned long)(next ? next - 1 : 0), (unsigned long)as->spill.bad_files,
			as->spill.bad_files == 1 ? "" : "s");
	return next ? next : 1;
}

void
msh_spill_forget(struct msh_app *app, struct msh_app_shard *as)
{
	msh_spilldir_close(as->dir);
	as->dir = NULL;
	msh_journal_close(as->journal);
	as->journal = NULL;
	if (as->jmsg != NULL && app->spill_pool != NULL)
		rte_mempool_put(app->spill_pool, as->jmsg);
	as->jmsg = NULL;
	rte_free(as->pend);
	as->pend = NULL;
}

struct replay_ctx {
	struct msh_app_shard *as;
	uint64_t now_ns;
	int rc;
};

static int
replay_record(void *arg, uint64_t first_seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct replay_ctx *rc = arg;
	struct msh_shard *s = rc->as->shard;
	uint64_t first;

	if (first_seq > s->next_seq) {
		char name[MSH_NAME_LEN + 1];

		/* The journal starts past the spill files (the newest file was
		 * lost or failed verification; reported as SEQ_GAP): those
		 * messages are gone, the shard continues after the hole. */
		MSH_LOG(ERR, "shard %s: seq %lu..%lu are in neither a spill file nor the "
			"journal; continuing at %lu", msh_name_to_str(&s->conf.name, name),
			(unsigned long)s->next_seq, (unsigned long)(first_seq - 1),
			(unsigned long)first_seq);
		rc->as->spill.bad_files++;
		if (msh_shard_reset(s, first_seq) != 0) {
			rc->rc = -EBUSY;
			return 1;
		}
	}
	if (first_seq != s->next_seq) {
		rc->rc = -EINVAL;
		return 1;
	}
	rc->rc = msh_shard_append(s, blocks, len, count, rc->now_ns, &first);
	return rc->rc != 0;
}

static void
replay_report(void *arg, const char *path, uint64_t off, int err)
{
	struct replay_ctx *rc = arg;

	rc->as->spill.bad_files++;
	MSH_LOG(WARNING, "journal %s at byte %lu: %s", path, (unsigned long)off,
		msh_journal_err_str(err));
}

int
msh_spill_journal_open(struct msh_app *app, struct msh_app_shard *as, char *err, size_t errlen)
{
	const struct msh_shard_conf *c = &as->shard->conf;
	struct msh_journal_conf jc = {.dir = c->spill_dir, .shard = c->name};
	struct replay_ctx ctx = {.as = as, .now_ns = wall_ns()};
	struct msh_journal_replay res;
	char name[MSH_NAME_LEN + 1];

	as->pend_cap = 8192;
	if (as->pend == NULL)
			as->pend = rte_zmalloc_socket("msh_held_acks", sizeof(*as->pend) * as->pend_cap,
					      RTE_CACHE_LINE_SIZE, app->ingest.eth.socket);
	if (as->pend == NULL) {
		snprintf(err, errlen, "no memory for %u held acks", as->pend_cap);
		return -1;
	}
	as->journal = msh_journal_open(&jc, as->shard->next_seq, replay_record, replay_report,
				       &ctx, &res);
	if (as->journal == NULL) {
		snprintf(err, errlen, "journal in %s: %s%s", c->spill_dir, strerror(errno),
			 ctx.rc != 0 ? " (its records do not fit the shard's memory)" : "");
		return -1;
	}
	if (res.next_seq != as->shard->next_seq) {
		/* A hole (SEQ_GAP, reported): continue after it. */
		snprintf(err, errlen, "journal continues at seq %lu, the shard at %lu",
			 (unsigned long)res.next_seq, (unsigned long)as->shard->next_seq);
		return -1;
	}
	as->durable_seq = msh_journal_durable_seq(as->journal);
	as->persistent = true;
	if (res.msgs > 0 || res.torn_err != 0)
		MSH_LOG(NOTICE, "shard %s: journal replayed %lu messages (seq %lu..%lu) from %u "
			"file%s%s%s", msh_name_to_str(&c->name, name), (unsigned long)res.msgs,
			(unsigned long)res.first_seq, (unsigned long)(res.next_seq - 1), res.files,
			res.files == 1 ? "" : "s", res.torn_err ? "; torn tail cut: " : "",
			res.torn_err ? msh_journal_err_str(res.torn_err) : "");
	return 0;
}

int
msh_spill_journal_room(struct msh_app *app, struct msh_app_shard *as, uint32_t len)
{
	void *obj;

	if (len > sizeof(as->jmsg->data))
		return -1;
	if (as->jmsg != NULL && as->jmsg->len + len <= sizeof(as->jmsg->data))
		return 0;
	msh_spill_journal_flush(app, as);
	if (as->jmsg != NULL)
		return -1; /* the ring would not take it */
	if (rte_mempool_get(app->spill_pool, &obj) != 0)
		return -1;
	as->jmsg = obj;
	as->jmsg->op = MSH_SPILL_OP_JOURNAL;
	as->jmsg->as = as;
	as->jmsg->len = 0;
	as->jmsg->count = 0;
	as->jmsg->first_seq = 0;
	__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
	return 0;
}

uint32_t
msh_spill_journal_add(struct msh_app_shard *as, uint64_t first_seq, uint32_t count)
{
	struct msh_spill_msg *m = as->jmsg;
	uint64_t seq = first_seq, end = first_seq + count;

	if (m->count == 0)
		m->first_seq = first_seq;
	/* The appended run may straddle two segments: one span each. */
	while (seq < end) {
		struct msh_span sp;
		int n = msh_shard_read(as->shard, seq, (uint32_t)(end - seq),
				       (uint32_t)(sizeof(m->data) - m->len), &sp);

		if (n <= 0)
			break; /* cannot happen: room was made for the datagram */
		memcpy(m->data + m->len, sp.data, sp.len);
		m->len += sp.len;
		m->count += (uint32_t)n;
		seq += (uint64_t)n;
	}
	return (uint32_t)(seq - first_seq);
}

void
msh_spill_journal_flush(struct msh_app *app, struct msh_app_shard *as)
{
	if (as->jmsg == NULL || as->jmsg->count == 0)
		return;
	if (rte_ring_mp_enqueue(app->spill_ring, as->jmsg) == 0)
		as->jmsg = NULL;
}

void
msh_spill_kick(struct msh_app *app, struct msh_app_shard *as, uint64_t tsc)
{
	struct msh_shard *s = as->shard;

	if (as->dir == NULL || tsc < as->spill_retry_tsc)
		return;
	for (uint32_t i = 0; i < s->seg_n; i++) {
		uint32_t j = s->seg_head + i;
		struct msh_segment *seg;
		void *obj;
		struct msh_spill_msg *m;

		seg = s->segs[j >= s->n_slots ? j - s->n_slots : j];
		if (!msh_segment_sealed(seg))
			break; /* the active one, the last */
		if (seg->flags & MSH_SEG_F_SPILLED)
			continue;
		/* One write in flight per shard, oldest first: files then always
		 * continue one another, and a failed write is retried before any
		 * newer segment goes (a newer file would cut the table there). */
		if (seg->flags & MSH_SEG_F_SPILL_PENDING)
			return;
		if (rte_mempool_get(app->spill_pool, &obj) != 0) {
			as->spill.queue_full++;
			return; /* housekeeping tries again */
		}
		m = obj;
		m->op = MSH_SPILL_OP_WRITE;
		m->as = as;
		m->seg = seg;
		m->rc = 0;
		__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
		if (rte_ring_mp_enqueue(app->spill_ring, m) != 0) {
			__atomic_fetch_sub(&as->inflight, 1, __ATOMIC_RELAXED);
			rte_mempool_put(app->spill_pool, m);
			as->spill.queue_full++;
			return;
		}
		seg->flags |= MSH_SEG_F_SPILL_PENDING;
		as->spill.queued++;
		return;
	}
}

int
msh_spill_read_req(struct msh_app *app, struct msh_app_shard *as, uint64_t seq, uint64_t end,
		   uint32_t sub_idx, const uint8_t *mac, uint32_t ip, uint16_t port)
{
	struct msh_spill_msg *m;
	void *obj;

	if (rte_mempool_get(app->spill_pool, &obj) != 0) {
		as->spill.queue_full++;
		return -1;
	}
	m = obj;
	m->op = MSH_SPILL_OP_READ;
	m->as = as;
	m->seg = NULL;
	m->seq = seq;
	m->end = end;
	m->sub_idx = sub_idx;
	memcpy(m->mac, mac, 6);
	m->ip = ip;
	m->port = port;
	m->rc = 0;
	__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
	if (rte_ring_mp_enqueue(app->spill_ring, m) != 0) {
		__atomic_fetch_sub(&as->inflight, 1, __ATOMIC_RELAXED);
		rte_mempool_put(app->spill_pool, m);
		as->spill.queue_full++;
		return -1;
	}
	return 0;
}

void
msh_spill_msg_free(struct msh_app *app, struct msh_spill_msg *m)
{
	__atomic_fetch_sub(&m->as->inflight, 1, __ATOMIC_RELEASE);
	rte_mempool_put(app->spill_pool, m);
}

void
msh_spill_written(struct msh_app *app, struct msh_spill_msg *m, uint64_t tsc)
{
	struct msh_app_shard *as = m->as;
	struct msh_segment *seg = m->seg;

	seg->flags &= ~MSH_SEG_F_SPILL_PENDING;
	if (m->rc == 0) {
		seg->flags |= MSH_SEG_F_SPILLED;
		if (as->shard->conf.spill_release == MSH_RELEASE_EAGER)
			msh_shard_release_spilled(as->shard);
		if (!as->ended)
			msh_spill_kick(app, as, tsc); /* the next one at once */
	} else {
		as->spill_retry_tsc = tsc + (uint64_t)SPILL_RETRY_S * app->tsc_hz;
	}
}

/* Sealed segments of @p as not on disk yet. */
static uint32_t
unspilled(const struct msh_app_shard *as)
{
	const struct msh_shard *s = as->shard;
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->seg_n; i++) {
		uint32_t j = s->seg_head + i;
		const struct msh_segment *seg = s->segs[j >= s->n_slots ? j - s->n_slots : j];

		n += msh_segment_sealed(seg) && !(seg->flags & MSH_SEG_F_SPILLED);
	}
	return n;
}

void
msh_spill_flush(struct msh_app *app, uint64_t now_ns)
{
	uint64_t deadline = rte_get_timer_cycles() + 30 * rte_get_timer_hz();
	uint64_t left = 0, errors0 = 0, errors = 0;

	for (unsigned int i = 0; i < app->n_shards; i++) {
		struct msh_app_shard *as = app->shard_list[i];

		if (as->dir == NULL)
			continue;
		msh_shard_seal(as->shard, now_ns);
		errors0 += as->spill.write_errors;
	}
	for (;;) {
		left = 0;
		errors = 0;
		for (unsigned int i = 0; i < app->n_workers; i++) {
			void *m;

			while (rte_ring_sc_dequeue(app->workers[i].spill_done, &m) == 0) {
				if (((struct msh_spill_msg *)m)->op == MSH_SPILL_OP_WRITE)
					msh_spill_written(app, m, 0);
				msh_spill_msg_free(app, m);
			}
		}
		for (unsigned int i = 0; i < app->n_shards; i++) {
			struct msh_app_shard *as = app->shard_list[i];

			if (as->dir == NULL)
				continue;
			errors += as->spill.write_errors;
			left += unspilled(as);
			as->spill_retry_tsc = 0;
			msh_spill_kick(app, as, 0);
		}
		/* One try: a failing disk does not hold shutdown. */
		if (left == 0 || errors != errors0 || rte_get_timer_cycles() > deadline)
			break;
		rte_delay_us_sleep(1000);
	}
	if (left > 0)
		MSH_LOG(ERR, "shutdown: %lu sealed segment%s could not be spilled (see above); "
			"their messages are not on disk", (unsigned long)left, left == 1 ? "" : "s");
}

/* ---- storage changes on a live shard (control socket) ---- */

static int
owner_seal(struct msh_app *app, struct msh_worker *w, void *arg, char *err, size_t errlen)
{
	struct msh_app_shard *as = arg;

	msh_shard_seal(as->shard, wall_ns()); /* -ENODATA: empty, already a boundary */
	as->switch_seq = as->shard->next_seq;
	return 0;
}

/* Owner: journal what came in since the seal, then hold acks from now on. */
static int
owner_go_persistent(struct msh_app *app, struct msh_worker *w, void *arg, char *err,
		    size_t errlen)
{
	struct msh_app_shard *as = arg;
	uint64_t seq = as->switch_seq, end = as->shard->next_seq;

	while (seq < end) {
		uint32_t n = (uint32_t)RTE_MIN(end - seq, (uint64_t)64);
		struct msh_span sp;

		/* Room for n messages of up to max_message bytes each. */
		if (msh_shard_read(as->shard, seq, n, MSH_SPILL_CHUNK, &sp) <= 0 ||
		    msh_spill_journal_room(app, as, sp.len) != 0 ||
		    msh_spill_journal_add(as, seq, sp.count) != sp.count) {
			snprintf(err, errlen, "the spill thread is busy; try again");
			/* Nothing of this half-made switch may reach the journal. */
			if (as->jmsg != NULL) {
				msh_spill_msg_free(app, as->jmsg);
				as->jmsg = NULL;
			}
			return -1;
		}
		seq += sp.count;
	}
	msh_spill_journal_flush(app, as);
	as->persistent = true;
	return 0;
}

/* Owner: acks stop waiting; what the journal holds stays until its segment
 * (sealed here) is in a spill file, then the spill thread removes it. */
static int
owner_go_memory(struct msh_app *app, struct msh_worker *w, void *arg, char *err, size_t errlen)
{
	struct msh_app_shard *as = arg;
	struct msh_spill_msg *m;
	void *obj;

	if (rte_mempool_get(app->spill_pool, &obj) != 0) {
		snprintf(err, errlen, "the spill thread is busy; try again");
		return -1;
	}
	as->persistent = false;
	msh_spill_journal_flush(app, as);
	msh_shard_seal(as->shard, wall_ns());
	m = obj;
	m->op = MSH_SPILL_OP_CLOSE_JOURNAL;
	m->as = as;
	m->seq = as->shard->next_seq;
	__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
	while (rte_ring_mp_enqueue(app->spill_ring, m) != 0)
		rte_pause();
	return 0;
}

int
msh_spill_set_storage(struct msh_app *app, struct msh_app_shard *as, enum msh_storage to,
		      char *err, size_t errlen)
{
	struct msh_shard_conf *c = &as->shard->conf;
	struct msh_journal_conf jc = {.dir = c->spill_dir, .shard = c->name};
	struct msh_journal_replay res;

	if (to == c->storage)
		return 0;
	if (to == MSH_STORAGE_MEMORY) {
		if (msh_app_call(app, as->worker, owner_go_memory, as, err, errlen) != 0)
			return -1;
		c->storage = to;
		return 0;
	}
	if (as->dir == NULL) {
		snprintf(err, errlen, "storage=persistent needs spill=disk (fixed at creation)");
		return -1;
	}
	if (as->journal != NULL) {
		snprintf(err, errlen, "the journal of the previous persistent period is still "
			 "open until its segment is spilled; try again");
		return -1;
	}
	if (msh_app_call(app, as->worker, owner_seal, as, err, errlen) != 0)
		return -1;
	as->pend_cap = 8192;
	if (as->pend == NULL)
		as->pend = rte_zmalloc_socket("msh_held_acks", sizeof(*as->pend) * as->pend_cap,
					      RTE_CACHE_LINE_SIZE, app->ingest.eth.socket);
	if (as->pend == NULL) {
		snprintf(err, errlen, "no memory for %u held acks", as->pend_cap);
		return -1;
	}
	/* Starts empty at the boundary: older journal files are deleted. */
	as->durable_seq = as->switch_seq;
	as->journal = msh_journal_open(&jc, as->switch_seq, NULL, NULL, NULL, &res);
	if (as->journal == NULL) {
		snprintf(err, errlen, "journal in %s: %s", c->spill_dir, strerror(errno));
		return -1;
	}
	if (msh_app_call(app, as->worker, owner_go_persistent, as, err, errlen) != 0) {
		/* The spill thread may be using the journal (a segment's roll):
		 * it removes it itself once the files reach the boundary. */
		struct msh_spill_msg *m;
		void *obj;

		if (rte_mempool_get(app->spill_pool, &obj) == 0) {
			m = obj;
			m->op = MSH_SPILL_OP_CLOSE_JOURNAL;
			m->as = as;
			m->seq = as->switch_seq;
			__atomic_fetch_add(&as->inflight, 1, __ATOMIC_RELAXED);
			while (rte_ring_mp_enqueue(app->spill_ring, m) != 0)
				rte_delay_us_sleep(10);
		}
		return -1;
	}
	c->storage = to;
	return 0;
}
