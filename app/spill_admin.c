/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Spill and persistence on the main lcore (spill_admin.h). Before a shard is
 * published and after it is withdrawn, the main lcore may fill and free its
 * spill part; in between it only sends messages: the spill thread takes a
 * journal with OPEN_JOURNAL and drops it with CLOSE_JOURNAL.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_malloc.h>

#include "clock.h"
#include "journal.h"
#include "log.h"
#include "proxy.h"
#include "spill_admin.h"
#include "spill_client.h"
#include "spill_thread.h"
#include "spilldir.h"

#define HELD_ACKS 8192

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
	as->dir = msh_spilldir_open(&dc, msh_spill_report_bad, as);
	if (as->dir == NULL) {
		snprintf(err, errlen, "spill_dir %s: %s", c->spill_dir, strerror(errno));
		return 0;
	}
	msh_spill_publish_range(as);
	next = msh_spilldir_next_seq(as->dir);
	if (msh_spilldir_nfiles(as->dir) > 0 || as->sp.bad_files > 0)
		MSH_LOG(NOTICE, "shard %s: recovered %u spill file%s from %s, seq %lu..%lu; %lu "
			"file%s not served (see above)", name, msh_spilldir_nfiles(as->dir),
			msh_spilldir_nfiles(as->dir) == 1 ? "" : "s", c->spill_dir,
			(unsigned long)msh_spilldir_first_seq(as->dir),
			(unsigned long)(next ? next - 1 : 0), (unsigned long)as->sp.bad_files,
			as->sp.bad_files == 1 ? "" : "s");
	return next ? next : 1;
}

void
msh_spill_forget(struct msh_app *app, struct msh_app_shard *as)
{
	msh_spilldir_close(as->dir);
	as->dir = NULL;
	msh_journal_close(as->sp.journal);
	as->sp.journal = NULL;
	if (app->dp.spill.pool != NULL)
		msh_spill_journal_drop(&app->dp.spill, as);
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
		rc->as->sp.bad_files++;
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

	rc->as->sp.bad_files++;
	MSH_LOG(WARNING, "journal %s at byte %lu: %s", path, (unsigned long)off,
		msh_journal_err_str(err));
}

/* The held-ack ring of a persistent shard, made once. */
static int
held_acks(struct msh_app *app, struct msh_app_shard *as, char *err, size_t errlen)
{
	struct msh_held_ack *p;

	if (as->pend != NULL)
		return 0;
	p = rte_zmalloc_socket("msh_held_acks", sizeof(*p) * HELD_ACKS, RTE_CACHE_LINE_SIZE,
			       app->dp.ingest.eth.socket);
	if (p == NULL) {
		snprintf(err, errlen, "no memory for %u held acks", HELD_ACKS);
		return -1;
	}
	as->pend_cap = HELD_ACKS;
	/* The owner may look at pend before it is told to hold acks. */
	__atomic_store_n(&as->pend, p, __ATOMIC_RELEASE);
	return 0;
}

int
msh_spill_journal_open(struct msh_app *app, struct msh_app_shard *as, char *err, size_t errlen)
{
	const struct msh_shard_conf *c = &as->shard->conf;
	struct msh_journal_conf jc = {.dir = c->spill_dir, .shard = c->name};
	struct replay_ctx ctx = {.as = as, .now_ns = msh_wall_ns()};
	struct msh_journal_replay res;
	char name[MSH_NAME_LEN + 1];

	if (held_acks(app, as, err, errlen) != 0)
		return -1;
	as->sp.journal = msh_journal_open(&jc, as->shard->next_seq, replay_record, replay_report,
					  &ctx, &res);
	if (as->sp.journal == NULL) {
		snprintf(err, errlen, "journal in %s: %s%s", c->spill_dir, strerror(errno),
			 ctx.rc != 0 ? " (its records do not fit the shard's memory)" : "");
		return -1;
	}
	as->mn.journals_opened++;
	if (res.next_seq != as->shard->next_seq) {
		/* A hole (SEQ_GAP, reported): continue after it. */
		snprintf(err, errlen, "journal continues at seq %lu, the shard at %lu",
			 (unsigned long)res.next_seq, (unsigned long)as->shard->next_seq);
		return -1;
	}
	as->sp.durable_seq = msh_journal_durable_seq(as->sp.journal);
	as->wk.persistent = true;
	if (res.msgs > 0 || res.torn_err != 0)
		MSH_LOG(NOTICE, "shard %s: journal replayed %lu messages (seq %lu..%lu) from %u "
			"file%s%s%s", msh_name_to_str(&c->name, name), (unsigned long)res.msgs,
			(unsigned long)res.first_seq, (unsigned long)(res.next_seq - 1), res.files,
			res.files == 1 ? "" : "s", res.torn_err ? "; torn tail cut: " : "",
			res.torn_err ? msh_journal_err_str(res.torn_err) : "");
	return 0;
}

/* A journal message from the main lcore: it may wait a little for room (the
 * control path may; a worker never does). */
static int
send_journal_msg(struct msh_app *app, struct msh_app_shard *as, enum msh_spill_op op,
		 struct msh_journal *j, uint64_t seq)
{
	struct msh_spill_svc *svc = &app->dp.spill;
	uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz();
	struct msh_spill_msg *m;

	while ((m = msh_spill_msg_get(svc, as, op)) == NULL) {
		if (rte_get_timer_cycles() > end)
			return -1;
		rte_delay_us_sleep(100);
	}
	m->journal = j;
	m->seq = seq;
	while (rte_ring_mp_enqueue(svc->ring, m) != 0) {
		if (rte_get_timer_cycles() > end) {
			msh_spill_msg_put(svc, m);
			return -1;
		}
		rte_delay_us_sleep(100);
	}
	return 0;
}

int
msh_spill_set_storage(struct msh_app *app, struct msh_app_shard *as, enum msh_storage to,
		      char *err, size_t errlen)
{
	const struct msh_shard_conf *c = &as->shard->conf;
	struct msh_journal_conf jc = {.dir = c->spill_dir, .shard = c->name};
	struct msh_journal_replay res;
	struct msh_journal *j;
	uint64_t boundary;

	if (to == c->storage)
		return 0;
	if (to == MSH_STORAGE_MEMORY)
		return msh_proxy_go_memory(&app->dp, as, err, errlen);
	if (as->dir == NULL) {
		snprintf(err, errlen, "storage=persistent needs spill=disk (fixed at creation)");
		return -1;
	}
	if (as->mn.journals_opened != __atomic_load_n(&as->sp.journals_closed, __ATOMIC_ACQUIRE)) {
		snprintf(err, errlen, "the journal of the previous persistent period is still "
			 "open until its segment is spilled; try again");
		return -1;
	}
	if (held_acks(app, as, err, errlen) != 0 ||
	    msh_proxy_storage_seal(&app->dp, as, &boundary, err, errlen) != 0)
		return -1;
	/* Starts empty at the boundary: older journal files are deleted. */
	j = msh_journal_open(&jc, boundary, NULL, NULL, NULL, &res);
	if (j == NULL) {
		snprintf(err, errlen, "journal in %s: %s", c->spill_dir, strerror(errno));
		return -1;
	}
	/* Handed over, never written here: the spill thread may be using the
	 * shard's spill part right now. */
	if (send_journal_msg(app, as, MSH_SPILL_OP_OPEN_JOURNAL, j, boundary) != 0) {
		msh_journal_destroy(j);
		snprintf(err, errlen, "the spill thread is busy; try again");
		return -1;
	}
	as->mn.journals_opened++;
	if (msh_proxy_go_persistent(&app->dp, as, boundary, err, errlen) != 0) {
		/* The spill thread removes the journal once the files reach the
		 * boundary. */
		if (send_journal_msg(app, as, MSH_SPILL_OP_CLOSE_JOURNAL, NULL, boundary) != 0) {
			char name[MSH_NAME_LEN + 1];

			MSH_LOG(ERR, "shard %s: could not tell the spill thread to drop the "
				"journal opened at seq %lu", msh_name_to_str(&c->name, name),
				(unsigned long)boundary);
		}
		return -1;
	}
	return 0;
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
	struct msh_spill_svc *svc = &app->dp.spill;
	uint64_t deadline = rte_get_timer_cycles() + 30 * rte_get_timer_hz();
	uint64_t left = 0, errors0 = 0, errors = 0;

	for (unsigned int i = 0; i < app->n_shards; i++) {
		struct msh_app_shard *as = app->shard_list[i];

		if (as->dir == NULL)
			continue;
		msh_shard_seal(as->shard, now_ns);
		errors0 += as->sp.write_errors;
	}
	for (;;) {
		left = 0;
		errors = 0;
		for (unsigned int i = 0; i < svc->n_done; i++) {
			void *m;

			while (rte_ring_sc_dequeue(svc->done[i], &m) == 0) {
				if (((struct msh_spill_msg *)m)->op == MSH_SPILL_OP_WRITE)
					msh_spill_written(svc, m, 0);
				msh_spill_msg_put(svc, m);
			}
		}
		for (unsigned int i = 0; i < app->n_shards; i++) {
			struct msh_app_shard *as = app->shard_list[i];

			if (as->dir == NULL)
				continue;
			errors += __atomic_load_n(&as->sp.write_errors, __ATOMIC_ACQUIRE);
			left += unspilled(as);
			msh_spill_retry_now(as);
			msh_spill_kick(svc, as, 0);
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
