/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Shard creation and deletion (shards.h).
 */
#include <errno.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_malloc.h>

#include "feeds.h"
#include "log.h"
#include "proxy.h"
#include "shards.h"
#include "spill_admin.h"

#define INFLIGHT_WAIT_S 10

/* The worker a new shard goes to: the configured one, or the one with the
 * fewest shards. */
static unsigned int
pick_worker(const struct msh_app *app, const struct msh_shard_conf *sc)
{
	unsigned int count[MSH_MAX_WORKERS] = {0}, best = 0;

	if (sc->worker != MSH_WORKER_AUTO)
		return sc->worker;
	for (unsigned int i = 0; i < app->n_shards; i++)
		count[app->shard_list[i]->worker]++;
	for (unsigned int i = 1; i < app->dp.n_workers; i++)
		if (count[i] < count[best])
			best = i;
	return best;
}

/* Everything a shard holds, whatever stage its creation reached. */
static void
shard_free(struct msh_app *app, struct msh_app_shard *as)
{
	msh_spill_forget(app, as);
	rte_free(as->repl);
	rte_free(as->repl_lag_hist);
	if (as->region != NULL)
		msh_arena_free(&app->arena, as->region, as->region_len);
	rte_free(as->wk.subs.sub);
	rte_free(as);
}

/* Settings the configuration accepts but this appliance cannot serve are
 * refused, never silently ignored. */
static int
check_conf(const struct msh_app *app, const struct msh_shard_conf *sc, const char *name,
	   char *err, size_t errlen)
{
	const struct msh_repl_link *r = &app->dp.repl;
	uint32_t room;

	if (msh_table_lookup(app->shards, &sc->name) != NULL) {
		snprintf(err, errlen, "shard create %s: a shard of that name exists", name);
		return -1;
	}
	if (app->n_shards >= MSH_CONF_MAX_SHARDS) {
		snprintf(err, errlen, "shard create %s: already %u shards, the most one appliance "
			 "serves", name, MSH_CONF_MAX_SHARDS);
		return -1;
	}
	if (sc->worker != MSH_WORKER_AUTO && sc->worker >= app->dp.n_workers) {
		snprintf(err, errlen, "shard create %s: worker %u, but there are %u workers (0 to "
			 "%u)", name, sc->worker, app->dp.n_workers, app->dp.n_workers - 1);
		return -1;
	}
	if (sc->egress.group != 0) {
		/* Accepted by the configuration, not served yet: refused, never ignored. */
		snprintf(err, errlen, "shard create %s: egress (a multicast copy of the feed) is "
			 "not built yet in this version", name);
		return -1;
	}
	if (sc->replicas != 2)
		return 0;
	if (!r->on) {
		snprintf(err, errlen, "shard create %s: replicas=2 needs a [port NAME] with "
			 "role = replication", name);
		return -1;
	}
	if (sc->storage == MSH_STORAGE_PERSISTENT || sc->spill == MSH_SPILL_DISK) {
		/* A catch-up truncation would have to remove spill files. */
		snprintf(err, errlen, "shard create %s: replicas=2 with spill=disk or "
			 "storage=persistent is not built yet", name);
		return -1;
	}
	room = msh_repl_data_room(r->port.conf->mtu - MSH_IPV4_HDR_LEN - MSH_UDP_HDR_LEN);
	if (sc->max_message + MSH_BLOCK_HDR_LEN > room) {
		snprintf(err, errlen, "shard create %s: max_message %u does not fit a replication "
			 "frame on [port %s] (mtu %u allows %u)", name, sc->max_message,
			 r->port.conf->name, r->port.conf->mtu, room - MSH_BLOCK_HDR_LEN);
		return -1;
	}
	return 0;
}

static int
repl_state(struct msh_app *app, struct msh_app_shard *as)
{
	struct msh_repl_shard_conf rsc = {
		.ack_timeout_ns = 20 * 1000000ull,
		.retx_holdoff_ns = 2 * 1000000ull,
		.nak_holdoff_ns = 2 * 1000000ull,
		.window_msgs = 0,
		.pending_cap = 8192,
	};
	size_t rlen = msh_repl_shard_footprint(rsc.pending_cap);
	int socket = app->dp.ingest.eth.socket;
	void *rmem = rte_zmalloc_socket("msh_repl_shard", rlen, RTE_CACHE_LINE_SIZE, socket);

	as->repl = rmem ? msh_repl_shard_init(rmem, rlen, as->shard, &rsc) : NULL;
	if (as->repl == NULL)
		rte_free(rmem);
	as->repl_lag_hist = rte_zmalloc_socket("msh_repl_lag", sizeof(struct hist),
					       RTE_CACHE_LINE_SIZE, socket);
	return as->repl != NULL && as->repl_lag_hist != NULL ? 0 : -1;
}

/* Wait (bounded) until the spill thread answered everything about @p as. */
static bool
wait_inflight(const struct msh_app_shard *as)
{
	uint64_t deadline = rte_get_timer_cycles() + INFLIGHT_WAIT_S * rte_get_timer_hz();

	while (__atomic_load_n(&as->inflight, __ATOMIC_ACQUIRE) != 0) {
		if (rte_get_timer_cycles() > deadline)
			return false;
		rte_delay_us_sleep(100);
	}
	return true;
}

/* Tell every worker to let go of @p as. Nothing is sent when it fails (-1
 * with @p err): the shard stays served as it was. */
static int
withdraw_send(struct msh_app *app, struct msh_app_shard *as, struct msh_del_cmds *d, char *err,
	      size_t errlen)
{
	if (app->n_tomb == MSH_MAX_TOMBSTONES) {
		snprintf(err, errlen, "%u deletions are still under way (a worker does not "
			 "answer); try again", app->n_tomb);
		return -1;
	}
	return msh_proxy_shard_del(&app->dp, as, d, err, errlen);
}

/* Free @p as now if every worker and the spill thread have let go, else leave
 * it to a tombstone (msh_shards_reap). @return 0 when freed, 1 when left. */
static int
withdraw_finish(struct msh_app *app, struct msh_app_shard *as, struct msh_del_cmds *d)
{
	struct msh_tombstone *t;

	if (msh_proxy_del_poll(&app->dp, d) && wait_inflight(as)) {
		shard_free(app, as);
		return 0;
	}
	t = &app->tomb[app->n_tomb++]; /* room checked by withdraw_send */
	memset(t, 0, sizeof(*t));
	t->as = as;
	t->del = *d;
	t->since_tsc = rte_get_timer_cycles();
	return 1;
}

int
msh_shards_create(struct msh_app *app, const struct msh_shard_conf *sc, char *err, size_t errlen)
{
	char name[MSH_NAME_LEN + 1], b1[32], b2[32], b3[32], b4[32], why[256];
	int socket = app->dp.ingest.eth.socket;
	struct msh_app_shard *as;
	uint64_t first_seq = 1;
	size_t len;
	void *subs_mem;

	msh_name_to_str(&sc->name, name);
	if (check_conf(app, sc, name, err, errlen) != 0)
		return -1;
	len = msh_shard_footprint(sc);
	if (len == 0) {
		snprintf(err, errlen, "shard create %s: configuration cannot make a shard", name);
		return -1;
	}
	as = rte_zmalloc_socket("msh_app_shard", sizeof(*as), RTE_CACHE_LINE_SIZE, socket);
	subs_mem = rte_zmalloc_socket("msh_subs", msh_subs_footprint(sc->max_subscribers),
				      RTE_CACHE_LINE_SIZE, socket);
	if (as == NULL || subs_mem == NULL) {
		rte_free(as);
		rte_free(subs_mem);
		snprintf(err, errlen, "shard create %s: out of memory for its state", name);
		return -1;
	}
	msh_subs_init(&as->wk.subs, subs_mem, sc->max_subscribers);
	as->region = msh_arena_alloc(&app->arena, len);
	if (as->region == NULL) {
		snprintf(err, errlen,
			 "shard create %s: needs %s of arena (max_bytes %s plus its tables), but "
			 "the largest free region on node %d is %s of arena_bytes %s",
			 name, msh_fmt_size(MSH_ALIGN_UP(len, (size_t)MSH_ARENA_ALIGN), b1, sizeof(b1)),
			 msh_fmt_size(sc->max_bytes, b2, sizeof(b2)), socket,
			 msh_fmt_size(msh_arena_largest_free(&app->arena), b3, sizeof(b3)),
			 msh_fmt_size(app->conf.app.arena_bytes, b4, sizeof(b4)));
		goto fail;
	}
	as->region_len = len;
	if (sc->spill == MSH_SPILL_DISK) {
		/* Sequence numbers continue after the last one on disk. */
		first_seq = msh_spill_recover(app, as, sc, why, sizeof(why));
		if (first_seq == 0) {
			snprintf(err, errlen, "shard create %s: %s", name, why);
			goto fail;
		}
	}
	as->shard = msh_shard_init(as->region, len, sc, first_seq);
	as->shard->epoch = app->dp.epoch;
	if (sc->storage == MSH_STORAGE_PERSISTENT &&
	    msh_spill_journal_open(app, as, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "shard create %s: %s", name, why);
		goto fail;
	}
	if (sc->replicas == 2 && repl_state(app, as) != 0) {
		snprintf(err, errlen, "shard create %s: no memory for its replication state", name);
		goto fail;
	}
	as->worker = pick_worker(app, sc);
	as->owner_lcore = app->dp.workers[as->worker]->lcore;
	if (msh_proxy_shard_add(&app->dp, as, why, sizeof(why)) != 0) {
		struct msh_del_cmds d;
		char why2[256];

		snprintf(err, errlen, "shard create %s: %s", name, why);
		/* Some workers may hold it (or get it late): take it back from
		 * every one, the same way a delete does. */
		if (withdraw_send(app, as, &d, why2, sizeof(why2)) != 0)
			MSH_LOG(ERR, "shard create %s: rollback not sent (%s); its memory is left "
				"allocated", name, why2);
		else
			withdraw_finish(app, as, &d);
		return -1;
	}
	pthread_mutex_lock(&app->shards_lock);
	msh_table_add(app->shards, &as->shard->conf.name, as);
	app->shard_list[app->n_shards++] = as;
	pthread_mutex_unlock(&app->shards_lock);
	MSH_LOG(NOTICE, "shard %s: %s in %u segments of %s, on_full=%s, worker %u (lcore %u)%s%s, "
		"next seq %lu", name, msh_fmt_size(sc->max_bytes, b1, sizeof(b1)),
		as->shard->n_slots, msh_fmt_size(sc->segment_bytes, b2, sizeof(b2)),
		sc->on_full == MSH_ON_FULL_EVICT ? "evict" : "reject", as->worker, as->owner_lcore,
		sc->spill == MSH_SPILL_DISK ? ", spill to " : "",
		sc->spill == MSH_SPILL_DISK ? sc->spill_dir : "", (unsigned long)first_seq);
	return 0;
fail:
	shard_free(app, as);
	return -1;
}

int
msh_shards_delete(struct msh_app *app, const struct msh_name *n, char *err, size_t errlen)
{
	struct msh_app_shard *as = msh_table_lookup(app->shards, n);
	char name[MSH_NAME_LEN + 1], why[256];
	struct msh_del_cmds d;
	unsigned int i;

	msh_name_to_str(n, name);
	if (as == NULL) {
		snprintf(err, errlen, "shard delete %s: no such shard", name);
		return -1;
	}
	if (msh_feeds_of_shard(app, as) != NULL) {
		snprintf(err, errlen, "shard delete %s: feed %s feeds it; delete the feed first",
			 name, msh_feeds_of_shard(app, as)->conf.name);
		return -1;
	}
	if (withdraw_send(app, as, &d, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "shard delete %s: %s", name, why);
		return -1;
	}
	/* Out of the table and list before its memory may go (and any
	 * telemetry read of it is over: the lock). */
	pthread_mutex_lock(&app->shards_lock);
	msh_table_del(app->shards, n);
	for (i = 0; i < app->n_shards && app->shard_list[i] != as; i++)
		;
	app->shard_list[i] = app->shard_list[app->n_shards - 1];
	app->n_shards--;
	app->shard_list[app->n_shards] = NULL;
	pthread_mutex_unlock(&app->shards_lock);
	if (withdraw_finish(app, as, &d) == 0)
		MSH_LOG(NOTICE, "shard %s: deleted, session ended", name);
	else
		MSH_LOG(WARNING, "shard %s: deleted; its memory goes back once every worker and "
			"the spill thread have let go of it", name);
	return 0;
}

void
msh_shards_reap(struct msh_app *app)
{
	for (unsigned int k = 0; k < app->n_tomb;) {
		struct msh_tombstone *t = &app->tomb[k];
		bool waiting = !msh_proxy_del_poll(&app->dp, &t->del);
		char name[MSH_NAME_LEN + 1];

		if (waiting || __atomic_load_n(&t->as->inflight, __ATOMIC_ACQUIRE) != 0) {
			if (!t->logged &&
			    rte_get_timer_cycles() - t->since_tsc > 10 * rte_get_timer_hz()) {
				MSH_LOG(WARNING, "shard %s: deleted 10 s ago, still held by %s",
					msh_name_to_str(&t->as->shard->conf.name, name),
					waiting ? "a worker that does not answer" : "the spill thread");
				t->logged = true;
			}
			k++;
			continue;
		}
		MSH_LOG(NOTICE, "shard %s: every worker let go; its memory is freed",
			msh_name_to_str(&t->as->shard->conf.name, name));
		shard_free(app, t->as);
		app->tomb[k] = app->tomb[--app->n_tomb];
	}
}

void
msh_shards_free_all(struct msh_app *app)
{
	for (unsigned int i = 0; i < app->n_shards; i++)
		msh_spill_forget(app, app->shard_list[i]);
	for (unsigned int k = 0; k < app->n_tomb; k++)
		msh_spill_forget(app, app->tomb[k].as);
}
