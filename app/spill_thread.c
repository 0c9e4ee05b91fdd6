/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The spill thread (spill_thread.h): writes sealed segments to files with
 * lib/spill (temp name, fsync, rename, fsync of the directory), keeps each
 * shard's table of files (lib/spilldir), reads ranges back for subscribers and
 * re-requests that reach past memory, and appends to persistent shards'
 * journals with one fdatasync per burst (group commit). It owns the sp part
 * of every shard (shard_state.h) while the shard is published.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "shard_state.h"
#include "spill.h"
#include "spill_thread.h"

#define SPILL_RING 1024
#define SPILL_MSGS 255 /* 2^n - 1 for the mempool's ring; ~12 MiB with the chunks */
#define SPILL_RETRY_S 1

static pthread_t spill_tid;
static bool spill_running;

void
msh_spill_publish_range(struct msh_app_shard *as)
{
	uint64_t first = msh_spilldir_first_seq(as->dir), next = msh_spilldir_next_seq(as->dir);

	/* next before first, so an owner that sees a first sees a next at
	 * least as new. */
	__atomic_store_n(&as->sp.disk_next, next, __ATOMIC_RELEASE);
	__atomic_store_n(&as->sp.disk_first, first == next ? 0 : first, __ATOMIC_RELEASE);
}

void
msh_spill_report_bad(void *arg, const char *path, int err, const struct msh_spilldir_file *f)
{
	struct msh_app_shard *as = arg;

	as->sp.bad_files++;
	MSH_LOG(WARNING, "spill file %s: %s; not served%s", path, msh_spilldir_err_str(err),
		f != NULL ? "" : " (header not trusted)");
}

/* After a switch to storage = memory: the journal goes once the spill files
 * hold everything it held (the segment sealed at the switch). */
static void
close_journal_if_done(struct msh_app_shard *as)
{
	uint64_t at = as->sp.journal_close_at;
	char name[MSH_NAME_LEN + 1];

	if (at == 0 || as->sp.journal == NULL || msh_spilldir_next_seq(as->dir) < at)
		return;
	msh_journal_destroy(as->sp.journal);
	as->sp.journal = NULL;
	as->sp.journal_close_at = 0;
	__atomic_fetch_add(&as->sp.journals_closed, 1, __ATOMIC_RELEASE);
	MSH_LOG(NOTICE, "shard %s: storage = memory from seq %lu on; journal removed",
		msh_name_to_str(&as->shard->conf.name, name), (unsigned long)at);
}

static void
do_write(struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	const struct msh_shard_conf *c = &as->shard->conf;
	char path[MSH_CONF_PATH_LEN + MSH_SPILL_NAME_MAX + 2];
	int rc;

	/* A persistent shard's journal moves to a new file at the segment's
	 * end, so the old file can go once the segment's own file is durable. */
	if (as->sp.journal != NULL)
		msh_journal_roll(as->sp.journal);
	rc = msh_spill_write(c->spill_dir, &c->name, m->seg, m->seg->epoch, msh_wall_ns(), path,
			     sizeof(path));
	if (rc == 0)
		rc = msh_spilldir_add(as->dir, path);
	if (rc == 0 && as->sp.journal != NULL) {
		msh_journal_retire(as->sp.journal, m->seg->first_seq + m->seg->count);
		close_journal_if_done(as);
	}
	if (rc == 0) {
		as->sp.files++;
		as->sp.bytes += MSH_SPILL_HDR_LEN + m->seg->data_len +
				(uint64_t)m->seg->count * MSH_SPILL_IDX_LEN;
		as->sp.last_error = 0;
		msh_spill_publish_range(as);
	} else {
		char name[MSH_NAME_LEN + 1];

		/* Logged once per failure streak, counted every time. */
		if (as->sp.last_error != rc)
			MSH_LOG(ERR, "shard %s: spilling seq %lu..%lu to %s: %s; the segment stays "
				"in memory and is retried every %d s", msh_name_to_str(&c->name, name),
				(unsigned long)m->seg->first_seq,
				(unsigned long)(m->seg->first_seq + m->seg->count - 1), c->spill_dir,
				msh_spilldir_err_str(rc), SPILL_RETRY_S);
		as->sp.write_errors++;
		as->sp.last_error = rc;
	}
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
		as->sp.reads++;
		as->sp.read_msgs += (uint64_t)n;
		m->first_seq = sp.first_seq;
		m->count = sp.count;
		m->len = sp.len;
		m->rc = 0;
	} else {
		if (n < 0)
			as->sp.read_errors++;
		m->count = 0;
		m->len = 0;
		m->rc = n < 0 ? n : -ENOENT;
		msh_spill_publish_range(as); /* a file may have been marked bad: the range moved */
	}
}

/* The main lcore opened a journal at a storage boundary: it is this
 * thread's from now on. */
static void
do_open_journal(struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;

	as->sp.journal = m->journal;
	as->sp.journal_close_at = 0;
	__atomic_store_n(&as->sp.durable_seq, m->seq, __ATOMIC_RELEASE);
}

/* Append a gathered run to the shard's journal (the sync comes after the
 * whole burst: group commit). */
static void
do_journal(struct msh_spill_msg *m)
{
	struct msh_app_shard *as = m->as;
	int rc;

	if (as->sp.journal_error != 0 || as->sp.journal == NULL)
		return;
	rc = msh_journal_append(as->sp.journal, m->first_seq, m->data, m->len, m->count);
	if (rc != 0) {
		char name[MSH_NAME_LEN + 1];

		/* Never durable: no ack will ever be sent for it or after it. */
		as->sp.journal_error = rc;
		MSH_LOG(ERR, "shard %s: journal append at seq %lu: %s; acks of persistent "
			"publishes stop until a restart", msh_name_to_str(&as->shard->conf.name, name),
			(unsigned long)m->first_seq, msh_journal_err_str(rc));
	}
}

/* Journals whose last sync failed with a retryable error (disk full): the
 * thread tries again when idle, so held acks are not stranded waiting for a
 * new publish. Each entry holds one of the shard's inflight counts, so the
 * shard is not freed while it is listed. */
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
		uint64_t durable = as->sp.durable_seq;
		int rc = as->sp.journal == NULL || as->sp.journal_error != 0
				 ? 0
				 : msh_journal_sync(as->sp.journal, &durable);

		if (rc != 0 && msh_journal_error(as->sp.journal) == 0) {
			i++; /* still failing: later */
			continue;
		}
		if (as->sp.journal != NULL && as->sp.journal_error == 0) {
			__atomic_store_n(&as->sp.durable_seq, durable, __ATOMIC_RELEASE);
			if (rc != 0)
				as->sp.journal_error = rc;
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

		if (ms[i]->op != MSH_SPILL_OP_JOURNAL || as->sp.journal_error != 0 ||
		    as->sp.journal == NULL)
			continue;
		for (unsigned int k = 0; k < i && !seen; k++)
			seen = ms[k]->op == MSH_SPILL_OP_JOURNAL && ms[k]->as == as;
		if (seen)
			continue;
		rc = msh_journal_sync(as->sp.journal, &durable);
		__atomic_store_n(&as->sp.durable_seq, durable, __ATOMIC_RELEASE);
		if (rc != 0 && msh_journal_error(as->sp.journal) == 0)
			sync_retry_add(as);
		if (rc != 0 && msh_journal_error(as->sp.journal) != 0) {
			char name[MSH_NAME_LEN + 1];

			as->sp.journal_error = rc;
			MSH_LOG(ERR, "shard %s: journal: %s; acks of persistent publishes stop until "
				"a restart", msh_name_to_str(&as->shard->conf.name, name),
				msh_journal_err_str(rc));
		}
	}
}

/* One burst of requests: journal work first and in ring order (a journal is
 * taken before blocks for it are appended), synced together, so acks wait one
 * fdatasync however many publishes the burst holds; then the rest. */
static void
run_burst(struct msh_spill_svc *svc, struct msh_spill_msg **ms, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (ms[i]->op == MSH_SPILL_OP_OPEN_JOURNAL)
			do_open_journal(ms[i]);
		else if (ms[i]->op == MSH_SPILL_OP_JOURNAL)
			do_journal(ms[i]);
	}
	sync_journals(ms, n);
	for (unsigned int i = 0; i < n; i++) {
		struct msh_spill_msg *m = ms[i];

		switch (m->op) {
		case MSH_SPILL_OP_JOURNAL:
		case MSH_SPILL_OP_OPEN_JOURNAL:
			msh_spill_msg_put(svc, m);
			continue;
		case MSH_SPILL_OP_CLOSE_JOURNAL:
			m->as->sp.journal_close_at = m->seq;
			close_journal_if_done(m->as);
			msh_spill_msg_put(svc, m);
			continue;
		case MSH_SPILL_OP_WRITE:
			do_write(m);
			break;
		case MSH_SPILL_OP_READ:
			do_read(m);
			break;
		}
		/* The reply ring holds every message there is: it cannot be full.
		 * This thread may wait; a worker never does. */
		while (rte_ring_sp_enqueue(svc->done[m->as->worker], m) != 0)
			rte_delay_us_sleep(10);
	}
}

static void *
spill_main(void *arg)
{
	struct msh_spill_svc *svc = arg;
	struct msh_spill_msg *ms[32];
	unsigned int idle = 0;

	for (;;) {
		unsigned int n;

		if (svc->quit && rte_ring_empty(svc->ring)) {
			/* Stopping: one more try, then let the shards go. */
			sync_retry_run();
			while (n_sync_retry > 0)
				__atomic_fetch_sub(&sync_retry[--n_sync_retry]->inflight, 1,
						   __ATOMIC_RELEASE);
			break;
		}
		n = rte_ring_sc_dequeue_burst(svc->ring, (void **)ms, RTE_DIM(ms), NULL);
		if (n == 0) {
			/* A control thread: sleeping costs a worker nothing. */
			if (n_sync_retry > 0 && idle % 1000 == 0)
				sync_retry_run();
			rte_delay_us_sleep(++idle > 100 ? 200 : 20);
			continue;
		}
		idle = 0;
		run_burst(svc, ms, n);
	}
	return NULL;
}

int
msh_spill_thread_start(struct msh_spill_svc *svc, unsigned int n_workers, int socket,
		       uint64_t tsc_hz, char *err, size_t errlen)
{
	int rc;

	svc->tsc_hz = tsc_hz;
	svc->pool = rte_mempool_create("msh_spill_msgs", SPILL_MSGS, sizeof(struct msh_spill_msg),
				       32, 0, NULL, NULL, NULL, NULL, socket, 0);
	svc->ring = rte_ring_create("msh_spill", SPILL_RING, socket, RING_F_SC_DEQ);
	if (svc->pool == NULL || svc->ring == NULL) {
		snprintf(err, errlen, "spill thread: no memory for its ring and %u messages of %zu "
			 "bytes on node %d", SPILL_MSGS, sizeof(struct msh_spill_msg), socket);
		return -1;
	}
	for (unsigned int i = 0; i < n_workers && i < MSH_SPILL_MAX_WORKERS; i++) {
		char name[RTE_RING_NAMESIZE];

		snprintf(name, sizeof(name), "msh_spill_done_%u", i);
		/* Room for every message of the pool: the thread never drops one. */
		svc->done[i] = rte_ring_create(name, SPILL_MSGS + 1, socket,
					       RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (svc->done[i] == NULL) {
			snprintf(err, errlen, "spill thread: no memory for worker %u's reply ring", i);
			return -1;
		}
		svc->n_done = i + 1;
	}
	svc->quit = false;
	/* A control thread: it runs on the control-plane CPUs, not a worker's. */
	rc = rte_ctrl_thread_create(&spill_tid, "msh-spill", NULL, spill_main, svc);
	if (rc != 0) {
		snprintf(err, errlen, "spill thread: %s", strerror(rc < 0 ? -rc : rc));
		return -1;
	}
	spill_running = true;
	return 0;
}

void
msh_spill_thread_stop(struct msh_spill_svc *svc)
{
	if (spill_running) {
		svc->quit = true;
		pthread_join(spill_tid, NULL);
		spill_running = false;
	}
	for (unsigned int i = 0; i < svc->n_done; i++) {
		void *m;

		if (svc->done[i] == NULL)
			continue;
		while (rte_ring_dequeue(svc->done[i], &m) == 0)
			rte_mempool_put(svc->pool, m);
		rte_ring_free(svc->done[i]);
		svc->done[i] = NULL;
	}
	svc->n_done = 0;
	rte_ring_free(svc->ring);
	rte_mempool_free(svc->pool);
	svc->ring = NULL;
	svc->pool = NULL;
}
