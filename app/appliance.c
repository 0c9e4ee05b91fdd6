/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Start-up and shutdown, on the main lcore: EAL, the workers' state on their
 * NUMA nodes, the ingest port, the node's shard arena, the spill thread, the
 * replication port, shards from the configuration, the control socket and
 * telemetry, then the worker launch. The main loop serves the control socket,
 * logs what the workers counted and finishes deletions. A clean shutdown
 * spills what memory holds, stops the ports, frees hugepage memory and
 * removes EAL's run files. It never touches packets.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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
#include "clock.h"
#include "control.h"
#include "eal.h"
#include "feeds.h"
#include "log.h"
#include "proxy.h"
#include "shards.h"
#include "spill_admin.h"
#include "spill_thread.h"
#include "stats.h"
#include "telemetry.h"
#include "worker.h"

/* The configuration refuses lcore ids the per-lcore tables could not hold. */
_Static_assert(MSH_CONF_MAX_LCORE <= RTE_MAX_LCORE,
	       "MSH_CONF_MAX_LCORE must not exceed DPDK's RTE_MAX_LCORE");
_Static_assert(MSH_MAX_WORKERS <= MSH_SPILL_MAX_WORKERS, "a spill reply ring per worker");

struct msh_app msh_app;

static void
on_signal(int sig)
{
	(void)sig;
	msh_app.dp.quit = true;
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
	struct msh_repl_link *r = &app->dp.repl;
	const struct msh_port_conf *rc = r->port.conf;
	struct msh_repl_node_conf nc;

	if (msh_ethdev_open(rc, 1, 1, sizeof(struct msh_frame), &r->port.eth, err, errlen) != 0)
		return -1;
	memcpy(r->port.ifc.mac, r->port.eth.mac.addr_bytes, 6);
	r->port.ifc.ip = rc->ipv4;
	r->port.ifc.prefix_len = rc->prefix_len;
	memset(&nc, 0, sizeof(nc));
	nc.node_id = rc->node_id;
	nc.peer_id = rc->peer_node_id;
	nc.epoch = app->dp.epoch;
	nc.hello_interval_ns = rc->hello_interval_ns;
	nc.silence_ns = rc->failover_silence_ns;
	nc.sync_retry_ns = rc->hello_interval_ns * 2;
	nc.auto_promote = rc->failover == MSH_FAILOVER_AUTO;
	nc.start_primary = rc->start_role == MSH_START_PRIMARY;
	if (msh_repl_node_init(&r->node, &nc, msh_wall_ns()) != 0) {
		snprintf(err, errlen, "[port %s]: bad replication settings", rc->name);
		return -1;
	}
	MSH_LOG(NOTICE, "replication: port %u %u.%u.%u.%u, peer %u.%u.%u.%u (node %u, peer %u), "
		"starts %s, failover %s after %lu ms", r->port.eth.port_id, rc->ipv4 >> 24,
		(rc->ipv4 >> 16) & 255, (rc->ipv4 >> 8) & 255, rc->ipv4 & 255, rc->peer_ip >> 24,
		(rc->peer_ip >> 16) & 255, (rc->peer_ip >> 8) & 255, rc->peer_ip & 255, rc->node_id,
		rc->peer_node_id, nc.start_primary ? "primary" : "secondary",
		nc.auto_promote ? "auto" : "manual", (unsigned long)(nc.silence_ns / 1000000));
	return 0;
}

/* Each worker's state on its lcore's NUMA node, mapped to lcores and queues. */
static int
workers_init(struct msh_app *app, const struct msh_port_conf *pc, char *err, size_t errlen)
{
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);

	app->dp.n_workers = app->conf.app.workers;
	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		struct msh_worker *w;

		if (lcore >= RTE_MAX_LCORE) {
			snprintf(err, errlen, "[appliance] lcores: '%s' has %u lcores beside the "
				 "main one, workers wants %u", app->conf.app.lcores, i,
				 app->dp.n_workers);
			return -1;
		}
		w = rte_zmalloc_socket("msh_worker", sizeof(*w), RTE_CACHE_LINE_SIZE,
				       (int)rte_lcore_to_socket_id(lcore));
		if (w == NULL) {
			snprintf(err, errlen, "no memory for worker %u's state", i);
			return -1;
		}
		app->dp.workers[i] = w;
		w->dp = &app->dp;
		w->idx = i;
		w->lcore = lcore;
		w->rx_queue = i < pc->rx_queues ? (int)i : -1;
		w->tx_queue = (uint16_t)i;
		lcore = rte_get_next_lcore(lcore, 1, 0);
	}
	return 0;
}

/* Rings and shard tables; warns when a worker sits on another NUMA node than
 * the port (every packet would cross the interconnect). */
static int
workers_rings(struct msh_app *app, char *err, size_t errlen)
{
	size_t tlen = msh_table_footprint(MSH_CONF_MAX_SHARDS);
	int socket = app->dp.ingest.eth.socket;

	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		struct msh_worker *w = app->dp.workers[i];
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
	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		struct msh_worker *w = app->dp.workers[i];
		void *m;

		if (w == NULL)
			continue;
		rte_ring_free(w->cmd_ring);
		if (w->handoff != NULL) {
			while (rte_ring_dequeue(w->handoff, &m) == 0)
				rte_pktmbuf_free(m);
			rte_ring_free(w->handoff);
		}
		rte_free(w->shards);
		rte_free(w);
		app->dp.workers[i] = NULL;
	}
}

static void
log_workers(const struct msh_app *app)
{
	const char *idle = app->conf.app.idle == MSH_IDLE_BACKOFF ? "back-off" : "spin";

	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		const struct msh_worker *w = app->dp.workers[i];

		if (w->rx_queue >= 0)
			MSH_LOG(INFO, "worker %u on lcore %u: RX queue %d, TX queue %u, %u shard%s "
				"(%s idle)", i, w->lcore, w->rx_queue, w->tx_queue, w->n_owned,
				w->n_owned == 1 ? "" : "s", idle);
		else
			MSH_LOG(INFO, "worker %u on lcore %u: hand-offs only, TX queue %u, %u shard%s "
				"(%s idle)", i, w->lcore, w->tx_queue, w->n_owned,
				w->n_owned == 1 ? "" : "s", idle);
	}
}

/* Ports, memory, threads and shards, in that order. @return 0 or -1 with @p err. */
static int
start(struct msh_app *app, const struct msh_port_conf *pc, char *err, size_t errlen)
{
	struct msh_dp *dp = &app->dp;
	size_t tlen;

	dp->conf = &app->conf;
	dp->tsc_hz = rte_get_tsc_hz();
	dp->epoch = 1;
	if (app->conf.app.token_secret != 0) {
		dp->token_key.k0 = app->conf.app.token_secret;
		dp->token_key.k1 = ~app->conf.app.token_secret;
	} else if (getrandom(&dp->token_key, sizeof(dp->token_key), 0) !=
		   (ssize_t)sizeof(dp->token_key)) {
		snprintf(err, errlen, "no random token secret: %s", strerror(errno));
		return -1;
	}
	if (workers_init(app, pc, err, errlen) != 0)
		return -1;
	if (msh_ethdev_open(pc, pc->rx_queues, (uint16_t)dp->n_workers, sizeof(struct msh_frame),
			    &dp->ingest.eth, err, errlen) != 0)
		return -1;
	dp->ingest.conf = pc;
	memcpy(dp->ingest.ifc.mac, dp->ingest.eth.mac.addr_bytes, 6);
	dp->ingest.ifc.ip = pc->ipv4;
	dp->ingest.ifc.prefix_len = pc->prefix_len;
	/* Multicast reaches the software filter (mcast.c), which keeps what a
	 * feed joined and counts the rest by reason. */
	dp->ingest.ifc.accept_multicast = true;
	for (unsigned int i = 0; i < app->conf.n_ports; i++) {
		const struct msh_port_conf *fc = &app->conf.ports[i];
		struct msh_app_port *fp;

		if (fc->role != MSH_PORT_FEED)
			continue;
		fp = &dp->fports[dp->n_fports++];
		if (msh_ethdev_open(fc, fc->rx_queues, (uint16_t)dp->n_workers,
				    sizeof(struct msh_frame), &fp->eth, err, errlen) != 0) {
			dp->n_fports--;
			return -1;
		}
		fp->conf = fc;
		memcpy(fp->ifc.mac, fp->eth.mac.addr_bytes, 6);
		fp->ifc.ip = fc->ipv4;
		fp->ifc.prefix_len = fc->prefix_len;
		fp->ifc.accept_multicast = true;
		MSH_LOG(NOTICE, "feed port %s: port %u %u.%u.%u.%u/%u, %u RX queue%s", fc->name,
			fp->eth.port_id, fc->ipv4 >> 24, (fc->ipv4 >> 16) & 255,
			(fc->ipv4 >> 8) & 255, fc->ipv4 & 255, fc->prefix_len, fc->rx_queues,
			fc->rx_queues == 1 ? "" : "s");
	}

	app->arena_mz = rte_memzone_reserve_aligned("msh_arena_0", app->conf.app.arena_bytes,
						    dp->ingest.eth.socket, 0, MSH_ARENA_ALIGN);
	if (app->arena_mz == NULL) {
		snprintf(err, errlen, "[appliance] arena_bytes: cannot reserve %lu bytes on node %d: "
			 "%s", (unsigned long)app->conf.app.arena_bytes, dp->ingest.eth.socket,
			 rte_strerror(rte_errno));
		return -1;
	}
	msh_arena_init(&app->arena, app->arena_mz->addr, app->arena_mz->len);
	tlen = msh_table_footprint(MSH_CONF_MAX_SHARDS);
	app->shards = msh_table_init(rte_zmalloc("msh_shard_table", tlen, RTE_CACHE_LINE_SIZE),
				     MSH_CONF_MAX_SHARDS);
	if (app->shards == NULL) {
		snprintf(err, errlen, "no memory for the shard table");
		return -1;
	}
	/* Always started: a shard with spill = disk may be created live. */
	if (workers_rings(app, err, errlen) != 0 || msh_proxy_init(dp, err, errlen) != 0 ||
	    msh_spill_thread_start(&dp->spill, dp->n_workers, dp->ingest.eth.socket, dp->tsc_hz,
				   err, errlen) != 0)
		return -1;
	if (dp->repl.on && repl_start(app, err, errlen) != 0)
		return -1;
	for (unsigned int i = 0; i < dp->n_workers; i++) {
		msh_worker_setup(dp->workers[i], dp);
		dp->workers[i]->spill_done = dp->spill.done[i];
	}
	for (unsigned int i = 0; i < app->conf.n_shards; i++)
		if (msh_shards_create(app, &app->conf.shards[i], err, errlen) != 0)
			return -1;
	for (unsigned int i = 0; i < app->conf.n_feeds; i++)
		if (msh_feeds_create(app, &app->conf.feeds[i], err, errlen) != 0)
			return -1;
	return msh_control_open(app, err, errlen);
}

int
msh_appliance_run(struct msh_app *app, int extra_argc, char **extra_argv)
{
	char err[512], runtime_dir[256];
	const struct msh_port_conf *pc = ingest_port_conf(&app->conf);
	const char *dbg = getenv("MEMSHARD_DEBUG");
	struct msh_dp *dp = &app->dp;
	int rc = 0;

	if (pc == NULL) {
		fprintf(stderr, "memshard: %s: no [port NAME] with role = ingest\n", app->conf.path);
		return 1;
	}
	pthread_mutex_init(&app->shards_lock, NULL);
	app->debug_commands = dbg != NULL && strcmp(dbg, "1") == 0;
	for (unsigned int i = 0; i < app->conf.n_ports; i++)
		if (app->conf.ports[i].role == MSH_PORT_REPLICATION) {
			dp->repl.on = true;
			dp->repl.port.conf = &app->conf.ports[i];
		}
	/* One lcore owns the pair's node state machine and its shards. */
	if (dp->repl.on && app->conf.app.workers != 1) {
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
	if (start(app, pc, err, sizeof(err)) != 0)
		goto fail;
	msh_telemetry_register(app);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	log_workers(app);
	MSH_LOG(NOTICE, "ready: %u.%u.%u.%u/%u udp %u retrans %u on port %u "
		"(%02x:%02x:%02x:%02x:%02x:%02x), %u shard%s, %u worker%s, %u RX queue%s%s%s, "
		"control %s",
		pc->ipv4 >> 24, (pc->ipv4 >> 16) & 255, (pc->ipv4 >> 8) & 255, pc->ipv4 & 255,
		pc->prefix_len, pc->udp_port, pc->retrans_port, dp->ingest.eth.port_id,
		dp->ingest.ifc.mac[0], dp->ingest.ifc.mac[1], dp->ingest.ifc.mac[2],
		dp->ingest.ifc.mac[3], dp->ingest.ifc.mac[4], dp->ingest.ifc.mac[5],
		app->n_shards, app->n_shards == 1 ? "" : "s", dp->n_workers,
		dp->n_workers == 1 ? "" : "s", pc->rx_queues, pc->rx_queues == 1 ? "" : "s",
		app->no_huge ? ", no hugepages" : "",
		app->debug_commands ? ", debug commands on" : "", app->conf.app.control_socket);
	for (unsigned int i = 0; i < dp->n_workers; i++) {
		dp->workers[i]->running = true;
		rte_eal_remote_launch(msh_worker_main, dp->workers[i], dp->workers[i]->lcore);
	}

	while (!dp->quit) {
		msh_control_poll(app, 20);
		msh_stats_watch(app);
		msh_feeds_watch(app);
		msh_shards_reap(app);
		msh_feeds_reap(app);
	}

	MSH_LOG(NOTICE, "shutting down");
	rte_eal_mp_wait_lcore();
	for (unsigned int i = 0; i < dp->n_workers; i++)
		dp->workers[i]->running = false;
	/* Workers are gone: the main lcore may touch the shards. What a spill
	 * shard holds in memory goes to disk, so a restart finds all of it. */
	msh_spill_flush(app, msh_wall_ns());
	msh_spill_thread_stop(&dp->spill);
	msh_stats_print(app, stdout);
	fflush(stdout);
	goto out;
fail:
	fprintf(stderr, "memshard: %s\n", err);
	rc = 1;
out:
	dp->quit = true;
	rte_eal_mp_wait_lcore();
	msh_control_close();
	msh_spill_thread_stop(&dp->spill);
	pthread_mutex_lock(&app->shards_lock);
	app->tel_closed = true; /* the shards' and workers' memory goes next */
	pthread_mutex_unlock(&app->shards_lock);
	msh_feeds_free_all(app);
	msh_shards_free_all(app);
	/* Hand-off rings hold mbufs of the port's pool: free them first. */
	workers_free(app);
	msh_proxy_fini(dp);
	msh_ethdev_close(&dp->ingest.eth);
	for (unsigned int k = 0; k < dp->n_fports; k++)
		msh_ethdev_close(&dp->fports[k].eth);
	if (dp->repl.on)
		msh_ethdev_close(&dp->repl.port.eth);
	if (app->arena_mz != NULL)
		rte_memzone_free(app->arena_mz);
	rte_eal_cleanup();
	remove_runtime_dir(runtime_dir);
	return rc;
}
