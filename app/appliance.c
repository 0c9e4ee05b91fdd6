/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The appliance's control path on the main lcore: start-up (EAL, ingest port,
 * the NUMA node's shard arena, shards from the configuration, worker launch),
 * signals, counters, and a clean shutdown that stops the port, frees hugepage
 * memory and removes EAL's run files. It never touches packets.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memzone.h>

#include "appliance.h"

RTE_LOG_REGISTER(msh_logtype_app, memshard.app, NOTICE);

struct msh_app msh_app;

const char *const msh_status_sym[MSH_S_COUNT] = {
#define _(sym, val, str) #sym,
	foreach_msh_status
#undef _
};
const char *const msh_wire_err_sym[MSH_WIRE_E_COUNT] = {
	"OK",
#define _(sym, str) #sym,
	foreach_msh_wire_err
#undef _
};
const char *const msh_net_drop_sym[MSH_NET_DROP_COUNT] = {
	"NONE",
#define _(sym, str) #sym,
	foreach_msh_net_drop
#undef _
};
const char *const msh_app_drop_sym[MSH_APP_DROP_COUNT] = {
#define _(sym, doc) #sym,
	foreach_msh_app_drop
#undef _
};

static uint64_t
now_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
on_signal(int sig)
{
	(void)sig;
	msh_app.quit = true;
}

int
msh_app_call(struct msh_app *app, unsigned int worker, msh_cmd_fn fn, void *arg, char *err,
	     size_t errlen)
{
	struct msh_worker *w = &app->workers[worker];
	struct msh_cmd *c;
	uint64_t deadline;
	int rc;

	if (!app->worker_running)
		return fn(app, w, arg, err, errlen);
	c = rte_zmalloc("msh_cmd", sizeof(*c), RTE_CACHE_LINE_SIZE);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory for a command");
		return -1;
	}
	c->fn = fn;
	c->arg = arg;
	if (rte_ring_enqueue(w->cmd_ring, c) != 0) {
		rte_free(c);
		snprintf(err, errlen, "worker %u's command ring is full; try again", worker);
		return -1;
	}
	deadline = rte_get_timer_cycles() + 2 * rte_get_timer_hz();
	while (!c->done) {
		if (rte_get_timer_cycles() > deadline) {
			/* The worker may still run it: leave c to it (a small leak
			 * in a case that means the worker is stuck anyway). */
			snprintf(err, errlen, "worker %u (lcore %u) did not answer within 2 s",
				 worker, w->lcore);
			return -1;
		}
		rte_delay_us_sleep(20);
	}
	rte_smp_rmb();
	rc = c->rc;
	if (rc != 0)
		snprintf(err, errlen, "%s", c->err);
	rte_free(c);
	return rc;
}

int
msh_app_call_all(struct msh_app *app, unsigned int first, msh_cmd_fn fn, void *arg, char *err,
		 size_t errlen)
{
	if (msh_app_call(app, first, fn, arg, err, errlen) != 0)
		return -1;
	for (unsigned int i = 0; i < app->n_workers; i++)
		if (i != first && msh_app_call(app, i, fn, arg, err, errlen) != 0)
			return -1;
	return 0;
}

void
msh_worker_commands(struct msh_app *app, struct msh_worker *w)
{
	void *obj;

	while (rte_ring_dequeue(w->cmd_ring, &obj) == 0) {
		struct msh_cmd *c = obj;

		c->rc = c->fn(app, w, c->arg, c->err, sizeof(c->err));
		rte_smp_wmb();
		c->done = 1;
	}
}

/* Worker side of create: every worker routes the name to the owner; the
 * owner also serves it. */
static int
worker_add_shard(struct msh_app *app, struct msh_worker *w, void *arg, char *err, size_t errlen)
{
	struct msh_app_shard *as = arg;
	int rc = msh_table_add(w->shards, &as->shard->conf.name, as);

	if (rc != 0) {
		snprintf(err, errlen, "worker %u's shard table: %s", w->idx,
			 rc == -EEXIST ? "name exists" : "full");
		return -1;
	}
	if (as->worker == w->idx) {
		w->owned[w->n_owned++] = as;
		/* A shard created on a running pair takes the node's role. */
		if (as->repl != NULL && app->worker_running) {
			const struct msh_repl_node *n = &app->repl.node;

			as->shard->epoch = n->epoch;
			if (n->role == MSH_REPL_PRIMARY)
				msh_repl_primary_start(as->repl, n->epoch, now_wall_ns());
			else
				msh_repl_secondary_start(as->repl, n->epoch, n->syncing);
		}
	}
	return 0;
}

/* Worker side of delete: the owner ends the session; every worker forgets
 * the name (packets for it are then UNKNOWN_SHARD). Idempotent. */
static int
worker_del_shard(struct msh_app *app, struct msh_worker *w, void *arg, char *err, size_t errlen)
{
	struct msh_app_shard *as = arg;

	if (as->worker == w->idx) {
		msh_worker_end_session(w, as);
		as->ended = true; /* spill answers still on their way are dropped */
		/* A journal message being gathered: what it holds goes to the
		 * journal, an empty one back to the pool (it counts in flight). */
		msh_spill_journal_flush(app, as);
		if (as->jmsg != NULL) {
			msh_spill_msg_free(app, as->jmsg);
			as->jmsg = NULL;
		}
		for (unsigned int i = 0; i < w->n_owned; i++)
			if (w->owned[i] == as) {
				w->owned[i] = w->owned[--w->n_owned];
				w->owned[w->n_owned] = NULL;
				break;
			}
	}
	msh_table_del(w->shards, &as->shard->conf.name);
	return 0;
}

static bool wait_inflight(struct msh_app *app, struct msh_app_shard *as);

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
	for (unsigned int i = 1; i < app->n_workers; i++)
		if (count[i] < count[best])
			best = i;
	return best;
}

int
msh_app_shard_create(struct msh_app *app, const struct msh_shard_conf *sc, char *err,
		     size_t errlen)
{
	char name[MSH_NAME_LEN + 1], b1[32], b2[32], b3[32], b4[32], why[256];
	struct msh_app_shard *as;
	uint64_t first_seq;
	size_t len;
	void *subs_mem;

	msh_name_to_str(&sc->name, name);
	if (msh_table_lookup(app->shards, &sc->name) != NULL) {
		snprintf(err, errlen, "shard create %s: a shard of that name exists", name);
		return -1;
	}
	if (app->n_shards >= MSH_CONF_MAX_SHARDS) {
		snprintf(err, errlen, "shard create %s: already %u shards, the most one appliance "
			 "serves", name, MSH_CONF_MAX_SHARDS);
		return -1;
	}
	if (sc->worker != MSH_WORKER_AUTO && sc->worker >= app->n_workers) {
		snprintf(err, errlen, "shard create %s: worker %u, but there are %u workers (0 to "
			 "%u)", name, sc->worker, app->n_workers, app->n_workers - 1);
		return -1;
	}
	/* Settings the configuration accepts but this version does not serve yet
	 * are refused, never silently ignored. */
	if (sc->replicas == 2) {
		uint32_t room;

		if (!app->repl.on) {
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
		room = msh_repl_data_room(app->repl.port.conf->mtu - MSH_IPV4_HDR_LEN -
					  MSH_UDP_HDR_LEN);
		if (sc->max_message + MSH_BLOCK_HDR_LEN > room) {
			snprintf(err, errlen, "shard create %s: max_message %u does not fit a "
				 "replication frame on [port %s] (mtu %u allows %u)", name,
				 sc->max_message, app->repl.port.conf->name, app->repl.port.conf->mtu,
				 room - MSH_BLOCK_HDR_LEN);
			return -1;
		}
	}

	len = msh_shard_footprint(sc);
	if (len == 0) {
		snprintf(err, errlen, "shard create %s: configuration cannot make a shard", name);
		return -1;
	}
	as = rte_zmalloc_socket("msh_app_shard", sizeof(*as), RTE_CACHE_LINE_SIZE,
				app->ingest.eth.socket);
	subs_mem = rte_zmalloc_socket("msh_subs", msh_subs_footprint(sc->max_subscribers),
				      RTE_CACHE_LINE_SIZE, app->ingest.eth.socket);
	if (as == NULL || subs_mem == NULL) {
		rte_free(as);
		rte_free(subs_mem);
		snprintf(err, errlen, "shard create %s: out of memory for its state", name);
		return -1;
	}
	as->region = msh_arena_alloc(&app->arena, len);
	if (as->region == NULL) {
		snprintf(err, errlen,
			 "shard create %s: needs %s of arena (max_bytes %s plus its tables), but "
			 "the largest free region on node %d is %s of arena_bytes %s",
			 name, msh_fmt_size(MSH_ALIGN_UP(len, (size_t)MSH_ARENA_ALIGN), b1, sizeof(b1)),
			 msh_fmt_size(sc->max_bytes, b2, sizeof(b2)), app->ingest.eth.socket,
			 msh_fmt_size(msh_arena_largest_free(&app->arena), b3, sizeof(b3)),
			 msh_fmt_size(app->conf.app.arena_bytes, b4, sizeof(b4)));
		rte_free(as);
		rte_free(subs_mem);
		return -1;
	}
	as->region_len = len;
	first_seq = 1;
	if (sc->spill == MSH_SPILL_DISK) {
		/* Sequence numbers continue after the last one on disk. */
		first_seq = msh_spill_recover(app, as, sc, why, sizeof(why));
		if (first_seq == 0) {
			snprintf(err, errlen, "shard create %s: %s", name, why);
			msh_arena_free(&app->arena, as->region, len);
			rte_free(as);
			rte_free(subs_mem);
			return -1;
		}
	}
	as->shard = msh_shard_init(as->region, len, sc, first_seq);
	as->shard->epoch = app->epoch;
	if (sc->storage == MSH_STORAGE_PERSISTENT &&
	    msh_spill_journal_open(app, as, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "shard create %s: %s", name, why);
		msh_spill_forget(app, as);
		msh_arena_free(&app->arena, as->region, len);
		rte_free(as);
		rte_free(subs_mem);
		return -1;
	}
	msh_subs_init(&as->subs, subs_mem, sc->max_subscribers);
	if (sc->replicas == 2) {
		struct msh_repl_shard_conf rsc = {
			.ack_timeout_ns = 20 * 1000000ull,
			.retx_holdoff_ns = 2 * 1000000ull,
			.nak_holdoff_ns = 2 * 1000000ull,
			.window_msgs = 0,
			.pending_cap = 8192,
		};
		size_t rlen = msh_repl_shard_footprint(rsc.pending_cap);
		void *rmem = rte_zmalloc_socket("msh_repl_shard", rlen, RTE_CACHE_LINE_SIZE,
						app->ingest.eth.socket);

		as->repl = rmem ? msh_repl_shard_init(rmem, rlen, as->shard, &rsc) : NULL;
		as->repl_lag_hist = rte_zmalloc_socket("msh_repl_lag", sizeof(struct hist),
						       RTE_CACHE_LINE_SIZE, app->ingest.eth.socket);
		if (as->repl == NULL || as->repl_lag_hist == NULL) {
			rte_free(as->repl_lag_hist);
			snprintf(err, errlen, "shard create %s: no memory for its replication state",
				 name);
			rte_free(rmem);
			msh_spill_forget(app, as);
			msh_arena_free(&app->arena, as->region, len);
			rte_free(as);
			rte_free(subs_mem);
			return -1;
		}
	}
	as->worker = pick_worker(app, sc);
	as->owner_lcore = app->workers[as->worker].lcore;
	if (msh_app_call_all(app, as->worker, worker_add_shard, as, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "shard create %s: %s", name, why);
		/* Undo on every worker that took it (the others ignore it). The
		 * owner may have queued spill work for it already. */
		if (msh_app_call_all(app, as->worker, worker_del_shard, as, why, sizeof(why)) != 0 ||
		    !wait_inflight(app, as)) {
			MSH_LOG(ERR, "shard create %s: rollback incomplete; its memory is left "
				"allocated", name);
			return -1;
		}
		msh_spill_forget(app, as);
		rte_free(as->repl);
		rte_free(as->repl_lag_hist);
		msh_arena_free(&app->arena, as->region, len);
		rte_free(subs_mem);
		rte_free(as);
		return -1;
	}
	pthread_mutex_lock(&app->shards_lock);
	msh_table_add(app->shards, &as->shard->conf.name, as);
	app->shard_list[app->n_shards] = as;
	app->n_shards++;
	pthread_mutex_unlock(&app->shards_lock);
	MSH_LOG(NOTICE, "shard %s: %s in %u segments of %s, on_full=%s, worker %u (lcore %u)%s%s, "
		"next seq %lu", name, msh_fmt_size(sc->max_bytes, b1, sizeof(b1)),
		as->shard->n_slots, msh_fmt_size(sc->segment_bytes, b2, sizeof(b2)),
		sc->on_full == MSH_ON_FULL_EVICT ? "evict" : "reject", as->worker, as->owner_lcore,
		sc->spill == MSH_SPILL_DISK ? ", spill to " : "",
		sc->spill == MSH_SPILL_DISK ? sc->spill_dir : "", (unsigned long)first_seq);
	return 0;
}

static bool
wait_inflight(struct msh_app *app, struct msh_app_shard *as)
{
	uint64_t deadline = rte_get_timer_cycles() + 10 * rte_get_timer_hz();

	while (__atomic_load_n(&as->inflight, __ATOMIC_ACQUIRE) != 0) {
		if (!app->worker_running || rte_get_timer_cycles() > deadline)
			return __atomic_load_n(&as->inflight, __ATOMIC_ACQUIRE) == 0;
		rte_delay_us_sleep(100);
	}
	return true;
}

int
msh_app_shard_delete(struct msh_app *app, const struct msh_name *n, char *err, size_t errlen)
{
	struct msh_app_shard *as = msh_table_lookup(app->shards, n);
	char name[MSH_NAME_LEN + 1], why[256];
	unsigned int i;

	msh_name_to_str(n, name);
	if (as == NULL) {
		snprintf(err, errlen, "shard delete %s: no such shard", name);
		return -1;
	}
	if (msh_app_call_all(app, as->worker, worker_del_shard, as, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "shard delete %s: %s", name, why);
		return -1;
	}
	/* Once out of the table and list (and any telemetry read of it is
	 * over: the lock), only the workers' answers still point at it. */
	pthread_mutex_lock(&app->shards_lock);
	msh_table_del(app->shards, n);
	for (i = 0; i < app->n_shards && app->shard_list[i] != as; i++)
		;
	app->shard_list[i] = app->shard_list[app->n_shards - 1];
	app->n_shards--;
	app->shard_list[app->n_shards] = NULL;
	pthread_mutex_unlock(&app->shards_lock);
	/* The spill thread may still hold requests for it: wait for their
	 * answers (the owner frees them) before the memory goes. */
	if (!wait_inflight(app, as)) {
		MSH_LOG(ERR, "shard %s: deleted, but the spill thread still holds %u requests "
			"after 10 s; its memory is left allocated", name,
			__atomic_load_n(&as->inflight, __ATOMIC_ACQUIRE));
		return 0;
	}
	msh_spill_forget(app, as);
	/* No worker sees it any more: its memory goes back to the arena. */
	rte_free(as->repl);
	rte_free(as->repl_lag_hist);
	msh_arena_free(&app->arena, as->region, as->region_len);
	rte_free(as->subs.sub);
	rte_free(as);
	MSH_LOG(NOTICE, "shard %s: deleted, session ended", name);
	return 0;
}

void
msh_app_stats_sum(const struct msh_app *app, struct msh_lcore_stats *sum)
{
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)sum;
	size_t words = sizeof(*sum) / sizeof(uint64_t);

	memset(sum, 0, sizeof(*sum));
	for (unsigned int l = 0; l < MSH_MAX_LCORES; l++) {
		src = (const uint64_t *)&app->stats[l];
		for (size_t i = 0; i < words; i++)
			dst[i] += src[i];
	}
}

void
msh_app_stats_print(const struct msh_app *app, FILE *out)
{
	struct msh_lcore_stats t;
	char name[MSH_NAME_LEN + 1];

	msh_app_stats_sum(app, &t);
#define _(f) fprintf(out, "%-28s %lu\n", #f, (unsigned long)t.f);
	foreach_msh_lcore_counter
#undef _
	/* Summing wall-clock stamps over lcores would be meaningless: take the
	 * earliest first and the latest last. */
	{
		uint64_t first = 0, last = 0;

		for (unsigned int l = 0; l < MSH_MAX_LCORES; l++) {
			const struct msh_lcore_stats *ls = &app->stats[l];

			if (ls->rx_first_ns && (first == 0 || ls->rx_first_ns < first))
				first = ls->rx_first_ns;
			last = RTE_MAX(last, ls->rx_last_ns);
		}
		fprintf(out, "%-28s %lu\n", "rx_active_ns", (unsigned long)(last - first));
	}
	for (unsigned int i = 0; i < app->n_workers; i++) {
		const struct msh_worker *w = &app->workers[i];
		const struct msh_lcore_stats *ls = &app->stats[w->lcore];

		fprintf(out, "worker.%u.%-19s %u\n", i, "lcore", w->lcore);
		fprintf(out, "worker.%u.%-19s %u\n", i, "shards", w->n_owned);
#define _(f) fprintf(out, "worker.%u.%-19s %lu\n", i, #f, (unsigned long)ls->f);
		_(rx_pkts) _(tx_pkts) _(publish) _(feed_msgs) _(handoff_out) _(handoff_in)
#undef _
	}
	for (unsigned int i = 0; i < MSH_S_COUNT; i++)
		if (t.acks[i])
			fprintf(out, "ack.%-24s %lu\n", msh_status_str(i), (unsigned long)t.acks[i]);
	for (unsigned int i = 1; i < MSH_NET_DROP_COUNT; i++)
		if (t.net_drop[i])
			fprintf(out, "drop.net.%-19s %lu  # %s\n", msh_net_drop_sym[i],
				(unsigned long)t.net_drop[i], msh_net_drop_str((int)i));
	for (unsigned int i = 1; i < MSH_WIRE_E_COUNT; i++)
		if (t.wire_drop[i])
			fprintf(out, "drop.wire.%-18s %lu  # %s\n", msh_wire_err_sym[i],
				(unsigned long)t.wire_drop[i], msh_wire_err_str((int)i));
	for (unsigned int i = 0; i < MSH_APP_DROP_COUNT; i++)
		if (t.app_drop[i])
			fprintf(out, "drop.app.%-19s %lu\n", msh_app_drop_sym[i],
				(unsigned long)t.app_drop[i]);
	for (unsigned int i = 0; i < app->n_shards; i++) {
		const struct msh_app_shard *as = app->shard_list[i];
		const struct msh_shard *s = as->shard;

		msh_name_to_str(&s->conf.name, name);
#define _(f, doc) fprintf(out, "shard.%s.%-20s %lu\n", name, #f, (unsigned long)s->stats.f);
		foreach_msh_shard_counter
#undef _
		fprintf(out, "shard.%s.%-20s %lu\n", name, "next_seq", (unsigned long)s->next_seq);
		fprintf(out, "shard.%s.%-20s %lu\n", name, "first_seq",
			(unsigned long)msh_shard_first_seq(s));
		fprintf(out, "shard.%s.%-20s %lu\n", name, "mem_used",
			(unsigned long)msh_shard_mem_used(s));
		fprintf(out, "shard.%s.%-20s %u\n", name, "subscribers", as->subs.n);
		/* One line a counter a subscription; lag is measured against the
		 * position its renewals report, the only proof of what it read. */
		for (uint32_t k = 0; k < as->subs.max; k++) {
			const struct msh_sub *sub = &as->subs.sub[k];
			char who[64];

			if (!sub->used)
				continue;
			snprintf(who, sizeof(who), "sub.%s.%u.%u.%u.%u:%u", name, sub->ip >> 24,
				 (sub->ip >> 16) & 255, (sub->ip >> 8) & 255, sub->ip & 255, sub->port);
#define SUBSTAT(f, v) fprintf(out, "%s.%s %lu\n", who, f, (unsigned long)(v))
			SUBSTAT("next_seq", sub->next_seq);
			SUBSTAT("reported_seq", sub->reported_seq);
			SUBSTAT("lag", s->next_seq - RTE_MIN(sub->reported_seq, s->next_seq));
			SUBSTAT("sent_msgs", sub->sent_msgs);
			SUBSTAT("sent_pkts", sub->sent_pkts);
			SUBSTAT("heartbeats", sub->heartbeats);
			SUBSTAT("rerequests", sub->rerequests);
			SUBSTAT("rerequest_msgs", sub->rerequest_msgs);
			SUBSTAT("unavailable", sub->unavailable);
#undef SUBSTAT
		}
	}
}

/* Remove EAL's run directory (/var/run/dpdk/PREFIX): its files are ours. */
static void
remove_runtime_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static const struct msh_port_conf *
ingest_port_conf(const struct msh_conf *c)
{
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (c->ports[i].role == MSH_PORT_INGEST)
			return &c->ports[i];
	return NULL;
}

/* The replication port and the node (worker 0 runs both once started). */
static int
repl_start(struct msh_app *app, char *err, size_t errlen)
{
	const struct msh_port_conf *rc = app->repl.port.conf;
	struct msh_repl_node_conf nc;

	if (msh_ethdev_open(rc, 1, 1, sizeof(struct msh_frame), &app->repl.port.eth, err,
			    errlen) != 0)
		return -1;
	memcpy(app->repl.port.ifc.mac, app->repl.port.eth.mac.addr_bytes, 6);
	app->repl.port.ifc.ip = rc->ipv4;
	app->repl.port.ifc.prefix_len = rc->prefix_len;
	memset(&nc, 0, sizeof(nc));
	nc.node_id = rc->node_id;
	nc.peer_id = rc->peer_node_id;
	nc.epoch = app->epoch;
	nc.hello_interval_ns = rc->hello_interval_ns;
	nc.silence_ns = rc->failover_silence_ns;
	nc.sync_retry_ns = rc->hello_interval_ns * 2;
	nc.auto_promote = rc->failover == MSH_FAILOVER_AUTO;
	nc.start_primary = rc->start_role == MSH_START_PRIMARY;
	if (msh_repl_node_init(&app->repl.node, &nc, now_wall_ns()) != 0) {
		snprintf(err, errlen, "[port %s]: bad replication settings", rc->name);
		return -1;
	}
	app->repl.role = app->repl.node.role;
	app->repl.epoch = app->repl.node.epoch;
	MSH_LOG(NOTICE, "replication: port %u %u.%u.%u.%u, peer %u.%u.%u.%u (node %u, peer %u), "
		"starts %s, failover %s after %lu ms", app->repl.port.eth.port_id, rc->ipv4 >> 24,
		(rc->ipv4 >> 16) & 255, (rc->ipv4 >> 8) & 255, rc->ipv4 & 255, rc->peer_ip >> 24,
		(rc->peer_ip >> 16) & 255, (rc->peer_ip >> 8) & 255, rc->peer_ip & 255, rc->node_id,
		rc->peer_node_id, nc.start_primary ? "primary" : "secondary",
		nc.auto_promote ? "auto" : "manual", (unsigned long)(nc.silence_ns / 1000000));
	return 0;
}

/* Map workers to lcores and queues; warn when one sits on another NUMA node
 * than the port (every packet would cross the interconnect). */
static int
workers_init(struct msh_app *app, const struct msh_port_conf *pc, char *err, size_t errlen)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	app->n_workers = app->conf.app.workers;
	for (unsigned int i = 0; i < app->n_workers; i++) {
		struct msh_worker *w = &app->workers[i];

		if (lcore >= RTE_MAX_LCORE) {
			snprintf(err, errlen, "[appliance] lcores: '%s' has %u lcores beside the "
				 "main one, workers wants %u", app->conf.app.lcores, i,
				 app->n_workers);
			return -1;
		}
		w->app = app;
		w->idx = i;
		w->lcore = lcore;
		w->rx_queue = i < pc->rx_queues ? (int)i : -1;
		w->tx_queue = (uint16_t)i;
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}
	return 0;
}

static int
workers_rings(struct msh_app *app, char *err, size_t errlen)
{
	size_t tlen = msh_table_footprint(MSH_CONF_MAX_SHARDS);
	int socket = app->ingest.eth.socket;

	for (unsigned int i = 0; i < app->n_workers; i++) {
		struct msh_worker *w = &app->workers[i];
		char name[RTE_RING_NAMESIZE];

		if ((int)rte_lcore_to_socket_id(w->lcore) != socket)
			MSH_LOG(WARNING, "worker %u: lcore %u is on node %u, the ingest port on "
				"node %d: its packets cross nodes", i, w->lcore,
				rte_lcore_to_socket_id(w->lcore), socket);
		snprintf(name, sizeof(name), "msh_cmd_%u", i);
		w->cmd_ring = rte_ring_create(name, 64, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
		/* Any worker may hand packets to any other: multi-producer. */
		snprintf(name, sizeof(name), "msh_handoff_%u", i);
		w->handoff = rte_ring_create(name, 4096, socket, RING_F_SC_DEQ);
		w->shards = msh_table_init(rte_zmalloc_socket("msh_worker_shards", tlen,
							      RTE_CACHE_LINE_SIZE, socket),
					   MSH_CONF_MAX_SHARDS);
		if (w->cmd_ring == NULL || w->handoff == NULL || w->shards == NULL) {
			snprintf(err, errlen, "no memory for worker %u's rings and shard table", i);
			return -1;
		}
	}
	return 0;
}

static void
workers_free(struct msh_app *app)
{
	for (unsigned int i = 0; i < app->n_workers; i++) {
		struct msh_worker *w = &app->workers[i];
		void *m;

		rte_ring_free(w->cmd_ring);
		if (w->handoff != NULL) {
			while (rte_ring_dequeue(w->handoff, &m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(w->handoff);
		}
		rte_free(w->shards);
		w->cmd_ring = w->handoff = NULL;
		w->shards = NULL;
	}
}

int
msh_appliance_run(struct msh_app *app, int extra_argc, char **extra_argv)
{
	char err[512], runtime_dir[256];
	const struct msh_port_conf *pc = ingest_port_conf(&app->conf);
	size_t tlen;
	int rc = 0;

	if (pc == NULL) {
		fprintf(stderr, "memshard: %s: no [port NAME] with role = ingest\n", app->conf.path);
		return 1;
	}
	pthread_mutex_init(&app->shards_lock, NULL);
	for (unsigned int i = 0; i < app->conf.n_ports; i++)
		if (app->conf.ports[i].role == MSH_PORT_REPLICATION) {
			app->repl.on = true;
			app->repl.port.conf = &app->conf.ports[i];
		}
	/* One lcore owns the pair's node state machine and its shards. */
	if (app->repl.on && app->conf.app.workers != 1) {
		fprintf(stderr, "memshard: %s: [appliance] workers: %u, but an appliance with a "
			"replication port runs one worker in this version (set workers = 1)\n",
			app->conf.path, app->conf.app.workers);
		return 1;
	}
	if (msh_eal_start(app, extra_argc, extra_argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "memshard: %s\n", err);
		return 1;
	}
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	rte_log_set_level(msh_logtype_app, RTE_LOG_INFO);
	app->tsc_hz = rte_get_tsc_hz();
	app->epoch = 1;
	if (app->conf.app.token_secret != 0) {
		app->token_key.k0 = app->conf.app.token_secret;
		app->token_key.k1 = ~app->conf.app.token_secret;
	} else if (getrandom(&app->token_key, sizeof(app->token_key), 0) !=
		   (ssize_t)sizeof(app->token_key)) {
		snprintf(err, sizeof(err), "no random token secret: %s", strerror(errno));
		goto fail;
	}
	if (workers_init(app, pc, err, sizeof(err)) != 0)
		goto fail;
	if (msh_ethdev_open(pc, pc->rx_queues, (uint16_t)app->n_workers, sizeof(struct msh_frame),
			    &app->ingest.eth, err, sizeof(err)) != 0)
		goto fail;
	app->ingest.conf = pc;
	memcpy(app->ingest.ifc.mac, app->ingest.eth.mac.addr_bytes, 6);
	app->ingest.ifc.ip = pc->ipv4;
	app->ingest.ifc.prefix_len = pc->prefix_len;
	app->ingest.ifc.accept_multicast = false;

	app->arena_mz = rte_memzone_reserve_aligned("msh_arena_0", app->conf.app.arena_bytes,
						    app->ingest.eth.socket, 0, MSH_ARENA_ALIGN);
	if (app->arena_mz == NULL) {
		snprintf(err, sizeof(err), "[appliance] arena_bytes: cannot reserve %lu bytes on "
			 "node %d: %s", (unsigned long)app->conf.app.arena_bytes,
			 app->ingest.eth.socket, rte_strerror(rte_errno));
		goto fail;
	}
	msh_arena_init(&app->arena, app->arena_mz->addr, app->arena_mz->len);
	tlen = msh_table_footprint(MSH_CONF_MAX_SHARDS);
	app->shards = msh_table_init(rte_zmalloc("msh_shard_table", tlen, RTE_CACHE_LINE_SIZE),
				     MSH_CONF_MAX_SHARDS);
	if (app->shards == NULL) {
		snprintf(err, sizeof(err), "no memory for the shard table");
		goto fail;
	}
	if (workers_rings(app, err, sizeof(err)) != 0 || msh_spill_start(app, err, sizeof(err)) != 0)
		goto fail;
	if (app->repl.on && repl_start(app, err, sizeof(err)) != 0)
		goto fail;
	for (unsigned int i = 0; i < app->conf.n_shards; i++)
		if (msh_app_shard_create(app, &app->conf.shards[i], err, sizeof(err)) != 0)
			goto fail;

	if (msh_control_open(app, err, sizeof(err)) != 0)
		goto fail;
	msh_telemetry_register(app);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	MSH_LOG(NOTICE, "ready: %u.%u.%u.%u/%u udp %u retrans %u on port %u "
		"(%02x:%02x:%02x:%02x:%02x:%02x), %u shard%s, %u worker%s, %u RX queue%s%s, "
		"control %s",
		pc->ipv4 >> 24, (pc->ipv4 >> 16) & 255, (pc->ipv4 >> 8) & 255, pc->ipv4 & 255,
		pc->prefix_len, pc->udp_port, pc->retrans_port, app->ingest.eth.port_id,
		app->ingest.ifc.mac[0], app->ingest.ifc.mac[1], app->ingest.ifc.mac[2],
		app->ingest.ifc.mac[3], app->ingest.ifc.mac[4], app->ingest.ifc.mac[5],
		app->n_shards, app->n_shards == 1 ? "" : "s", app->n_workers,
		app->n_workers == 1 ? "" : "s", pc->rx_queues, pc->rx_queues == 1 ? "" : "s",
		app->no_huge ? ", no hugepages" : "", app->conf.app.control_socket);
	app->worker_running = true;
	for (unsigned int i = 0; i < app->n_workers; i++)
		rte_eal_remote_launch(msh_worker_main, &app->workers[i], app->workers[i].lcore);

	while (!app->quit)
		msh_control_poll(app, 20);

	MSH_LOG(NOTICE, "shutting down");
	rte_eal_mp_wait_lcore();
	app->worker_running = false;
	/* Workers are gone: the main lcore may touch the shards. What a spill
	 * shard holds in memory goes to disk, so a restart finds all of it. */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		msh_spill_flush(app, (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
	}
	msh_spill_stop(app);
	msh_app_stats_print(app, stdout);
	fflush(stdout);
	goto out;
fail:
	fprintf(stderr, "memshard: %s\n", err);
	rc = 1;
out:
	app->quit = true;
	rte_eal_mp_wait_lcore();
	msh_control_close();
	msh_spill_stop(app);
	for (unsigned int i = 0; i < app->n_shards; i++)
		msh_spill_forget(app, app->shard_list[i]);
	/* Hand-off rings hold mbufs of the port's pool: free them first. */
	workers_free(app);
	pthread_mutex_lock(&app->shards_lock);
	app->tel_closed = true; /* the shards' memory goes next */
	pthread_mutex_unlock(&app->shards_lock);
	msh_ethdev_close(&app->ingest.eth);
	if (app->repl.on)
		msh_ethdev_close(&app->repl.port.eth);
	if (app->arena_mz != NULL)
		rte_memzone_free(app->arena_mz);
	rte_eal_cleanup();
	remove_runtime_dir(runtime_dir);
	return rc;
}
