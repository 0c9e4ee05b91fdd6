/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The control socket, on the main lcore: a Unix stream socket where each
 * request is one line of text ("shard show ticks") and each reply one line of
 * JSON: {"ok":true,"result":...} or {"ok":false,"error":"..."}. Commands are a
 * table (name, usage, help, handler), so help, dispatch and the README cannot
 * drift apart. Several clients at once; a client that sends garbage gets an
 * error, one that disconnects mid-command harms nothing. The main lcore only
 * reads what the worker writes (single-writer 64-bit counters and positions),
 * so no command ever stalls the data path; commands that change a shard run
 * on the worker through its proxy (proxy.h) while the main lcore waits, so the
 * worker stays the only writer of shards and its shard table. Replies wait in
 * a per-client buffer: a client that does not read never blocks the main
 * lcore (its further commands wait; after CTL_STUCK_S it is dropped).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "app.h"
#include "clock.h"
#include "control.h"
#include "feeds.h"
#include "journal.h"
#include "log.h"
#include "proxy.h"
#include "shards.h"
#include "spill_admin.h"
#include "spilldir.h"
#include "stats.h"

#define CTL_MAX_CLIENTS 16
#define CTL_LINE_MAX 4096
#define CTL_MAX_ARGS 16

/* Replies wait in a client's output buffer until it reads them: the socket
 * never blocks the main lcore. While CTL_OUT_MAX bytes wait, its next commands
 * wait too; one that takes none of its replies for CTL_STUCK_S is dropped. */
#define CTL_OUT_MAX (256u * 1024u)
#define CTL_STUCK_S 30

struct ctl_client {
	int fd;
	size_t len;
	char buf[CTL_LINE_MAX];
	char *out;
	size_t out_len, out_off, out_cap;
	uint64_t stuck_since;    /**< timer cycles: replies waiting, none taken since (0: none) */
	bool eof;                /**< it shut its side: answer what it sent, then close */
};

/* Control-socket counters (main lcore). */
static struct {
	uint64_t accepted, refused_busy, dropped_stuck, dropped_overlong, commands;
} ctl_stats;

static int listen_fd = -1;
static char sock_path[MSH_CONF_PATH_LEN];
static struct ctl_client clients[CTL_MAX_CLIENTS];
/* "stats reset" keeps a baseline here instead of touching the worker's
 * counters (which only the worker writes). */
static struct msh_lcore_stats baseline;

typedef json_t *(*ctl_fn_t)(struct msh_app *app, int argc, char **argv, char *err,
			    size_t errlen);

struct ctl_cmd {
	const char *name; /* one or two words */
	const char *usage;
	const char *help;
	int min_args, max_args;
	ctl_fn_t fn;
	bool debug; /* only with MEMSHARD_DEBUG=1 (fault injection for tests) */
};

static char *
ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

static struct msh_app_shard *
shard_arg(struct msh_app *app, const char *name, char *err, size_t errlen)
{
	struct msh_name n;
	struct msh_app_shard *as;

	if (msh_name_from_str(&n, name) != 0) {
		snprintf(err, errlen, "'%s' is not a shard name (1 to 10 printable ASCII "
			 "characters, no spaces)", name);
		return NULL;
	}
	as = msh_table_lookup(app->shards, &n);
	if (as == NULL)
		snprintf(err, errlen, "no shard '%s' (see 'shard list')", name);
	return as;
}

static json_t *repl_shard_json(const struct msh_app_shard *as);

static json_t *
shard_json(const struct msh_app_shard *as, bool full)
{
	const struct msh_shard *s = as->shard;
	char name[MSH_NAME_LEN + 1];
	json_t *o = json_object(), *c;

	msh_name_to_str(&s->conf.name, name);
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "next_seq", json_integer((json_int_t)s->next_seq));
	json_object_set_new(o, "first_seq", json_integer((json_int_t)msh_shard_first_seq(s)));
	json_object_set_new(o, "messages",
			    json_integer((json_int_t)(s->next_seq - msh_shard_first_seq(s))));
	json_object_set_new(o, "segments", json_integer(s->seg_n));
	json_object_set_new(o, "mem_used", json_integer((json_int_t)msh_shard_mem_used(s)));
	json_object_set_new(o, "max_bytes", json_integer((json_int_t)s->conf.max_bytes));
	json_object_set_new(o, "on_full",
			    json_string(s->on_full == MSH_ON_FULL_EVICT ? "evict" : "reject"));
	json_object_set_new(o, "subscribers", json_integer(as->wk.subs.n));
	if (!full)
		return o;
	json_object_set_new(o, "segment_bytes", json_integer((json_int_t)s->conf.segment_bytes));
	json_object_set_new(o, "segment_age_ns", json_integer((json_int_t)s->conf.segment_age_ns));
	json_object_set_new(o, "max_message", json_integer(s->conf.max_message));
	json_object_set_new(o, "storage", json_string(s->conf.storage == MSH_STORAGE_PERSISTENT ?
						      "persistent" : "memory"));
	if (as->pend != NULL) {
		json_t *ps = json_object();

		json_object_set_new(ps, "durable_seq", json_integer((json_int_t)as->sp.durable_seq));
		json_object_set_new(ps, "acks_waiting", json_integer(as->wk.pend_n));
#define _(f) json_object_set_new(ps, #f, json_integer((json_int_t)as->wk.persist.f));
		_(held) _(released) _(busy)
#undef _
		json_object_set_new(ps, "journal_error", as->sp.journal_error == 0 ? json_null() :
				    json_string(msh_journal_err_str(as->sp.journal_error)));
		json_object_set_new(o, "persistent", ps);
	}
	json_object_set_new(o, "spill", json_string(s->conf.spill == MSH_SPILL_DISK ? "disk" : "off"));
	if (as->dir != NULL) {
		json_t *sp = json_object();

		json_object_set_new(sp, "dir", json_string(s->conf.spill_dir));
		json_object_set_new(sp, "release", json_string(s->conf.spill_release ==
							       MSH_RELEASE_EAGER ? "eager" : "lazy"));
		json_object_set_new(sp, "disk_first_seq", json_integer((json_int_t)as->sp.disk_first));
		json_object_set_new(sp, "disk_next_seq", json_integer((json_int_t)as->sp.disk_next));
#define _(f) json_object_set_new(sp, #f, json_integer((json_int_t)as->sp.f));
		_(files) _(bytes) _(write_errors) _(bad_files) _(reads) _(read_msgs) _(read_errors)
#undef _
		json_object_set_new(sp, "queued", json_integer((json_int_t)as->wk.spill_queued));
		json_object_set_new(sp, "queue_full",
				    json_integer((json_int_t)as->wk.spill_queue_full));
#define _(f) json_object_set_new(sp, #f, json_integer((json_int_t)as->wk.f));
		_(disk_feed_msgs) _(disk_retrans_msgs)
#undef _
		json_object_set_new(sp, "last_error", as->sp.last_error == 0 ? json_null() :
				    json_string(msh_spilldir_err_str(as->sp.last_error)));
		json_object_set_new(o, "spill_state", sp);
	}
	json_object_set_new(o, "replicas", json_integer(s->conf.replicas));
	if (as->repl != NULL)
		json_object_set_new(o, "replication", repl_shard_json(as));
	json_object_set_new(o, "worker", json_integer(as->worker));
	json_object_set_new(o, "owner_lcore", json_integer(as->owner_lcore));
	c = json_object();
#define _(f, doc) json_object_set_new(c, #f, json_integer((json_int_t)s->stats.f));
	foreach_msh_shard_counter
#undef _
	{
		struct msh_dedupe_stats ds;

		msh_dedupe_stats_get(s->dedupe, &ds);
		json_object_set_new(c, "publishers_forgotten", json_integer((json_int_t)ds.forgotten));
		json_object_set_new(c, "publisher_holes_given_up",
				    json_integer((json_int_t)ds.holes_given_up));
	}
	json_object_set_new(o, "counters", c);
	return o;
}

static json_t *
cmd_version(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	json_t *o = json_object();

	json_object_set_new(o, "version", json_string(MSH_VERSION_STR));
	json_object_set_new(o, "protocol", json_integer(MSH_VERSION));
	json_object_set_new(o, "epoch", json_integer(app->dp.epoch));
	return o;
}

static json_t *
cmd_stats(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_lcore_stats t;
	json_t *o = json_object(), *acks = json_object(), *drops = json_object(), *shards;
	const uint64_t *cur = (const uint64_t *)&t, *base = (const uint64_t *)&baseline;
	uint64_t *d = (uint64_t *)&t;

	msh_stats_sum(app, &t);
	for (size_t i = 0; i < sizeof(t) / sizeof(uint64_t); i++)
		d[i] = cur[i] - base[i];
#define _(f) json_object_set_new(o, #f, json_integer((json_int_t)t.f));
	foreach_msh_lcore_counter
#undef _
	for (unsigned int i = 0; i < MSH_S_COUNT; i++)
		json_object_set_new(acks, msh_status_sym[i], json_integer((json_int_t)t.acks[i]));
	for (unsigned int i = 1; i < MSH_NET_DROP_COUNT; i++)
		json_object_set_new(drops, msh_net_drop_sym[i], json_integer((json_int_t)t.net_drop[i]));
	for (unsigned int i = 1; i < MSH_WIRE_E_COUNT; i++)
		json_object_set_new(drops, msh_wire_err_sym[i], json_integer((json_int_t)t.wire_drop[i]));
	for (unsigned int i = 0; i < MSH_APP_DROP_COUNT; i++)
		json_object_set_new(drops, msh_app_drop_sym[i], json_integer((json_int_t)t.app_drop[i]));
	json_object_set_new(o, "acks", acks);
	json_object_set_new(o, "drops", drops);
	json_object_set_new(o, "arena_bytes", json_integer((json_int_t)app->arena.size));
	json_object_set_new(o, "arena_used", json_integer((json_int_t)app->arena.used));
	{
		/* Per worker (its lcore, queues, shards, and what it did) and memory
		 * per NUMA node: one arena per node, on the ingest port's node in
		 * this version. */
		json_t *lc = json_array(), *mem = json_array(), *m = json_object();

		for (unsigned int i = 0; i < app->dp.n_workers; i++) {
			const struct msh_worker *w = app->dp.workers[i];
			struct msh_lcore_stats wst, *ls = &wst;
			json_t *e = json_object();

			json_object_set_new(e, "worker", json_integer(i));
			json_object_set_new(e, "lcore", json_integer(w->lcore));
			json_object_set_new(e, "node", json_integer(rte_lcore_to_socket_id(w->lcore)));
			json_object_set_new(e, "rx_queue", json_integer(w->rx_queue));
			json_object_set_new(e, "tx_queue", json_integer(w->tx_queue));
			json_object_set_new(e, "shards", json_integer(w->n_owned));
			msh_stats_worker(w, &wst);
#define _(f) json_object_set_new(e, #f, json_integer((json_int_t)ls->f));
			_(rx_pkts) _(tx_pkts) _(publish) _(feed_msgs) _(handoff_out) _(handoff_in)
#undef _
			json_object_set_new(e, "handoff_full", json_integer((json_int_t)
					    ls->app_drop[MSH_APP_DROP_HANDOFF_FULL]));
			json_array_append_new(lc, e);
		}
		json_object_set_new(m, "node", json_integer(app->dp.ingest.eth.socket));
		json_object_set_new(m, "arena_bytes", json_integer((json_int_t)app->arena.size));
		json_object_set_new(m, "arena_used", json_integer((json_int_t)app->arena.used));
		json_array_append_new(mem, m);
		json_object_set_new(o, "workers", lc);
		json_object_set_new(o, "memory", mem);
	}
	{
		/* Per port, as the PMD counts it (what reached memshard or not). */
		struct rte_eth_stats es;
		json_t *ports = json_array(), *p = json_object();

		if (rte_eth_stats_get(app->dp.ingest.eth.port_id, &es) == 0) {
			json_object_set_new(p, "name", json_string(app->dp.ingest.conf->name));
			json_object_set_new(p, "port_id", json_integer(app->dp.ingest.eth.port_id));
			json_object_set_new(p, "ipackets", json_integer((json_int_t)es.ipackets));
			json_object_set_new(p, "opackets", json_integer((json_int_t)es.opackets));
			json_object_set_new(p, "ibytes", json_integer((json_int_t)es.ibytes));
			json_object_set_new(p, "obytes", json_integer((json_int_t)es.obytes));
			json_object_set_new(p, "imissed", json_integer((json_int_t)es.imissed));
			json_object_set_new(p, "ierrors", json_integer((json_int_t)es.ierrors));
			json_object_set_new(p, "oerrors", json_integer((json_int_t)es.oerrors));
			json_object_set_new(p, "rx_nombuf", json_integer((json_int_t)es.rx_nombuf));
			json_array_append_new(ports, p);
		} else {
			json_decref(p);
		}
		json_object_set_new(o, "ports", ports);
	}
	{
		/* Publisher-side totals over every shard. */
		json_t *tot = json_object();
		struct msh_shard_stats sum;

		memset(&sum, 0, sizeof(sum));
		for (unsigned int i = 0; i < app->n_shards; i++) {
			const struct msh_shard_stats *ss = &app->shard_list[i]->shard->stats;
#define _(f, doc) sum.f += ss->f;
			foreach_msh_shard_counter
#undef _
		}
#define _(f, doc) json_object_set_new(tot, #f, json_integer((json_int_t)sum.f));
		foreach_msh_shard_counter
#undef _
		json_object_set_new(o, "shard_totals", tot);
	}
	{
		json_t *ctl = json_object();

#define _(f) json_object_set_new(ctl, #f, json_integer((json_int_t)ctl_stats.f));
		_(accepted) _(refused_busy) _(dropped_stuck) _(dropped_overlong) _(commands)
#undef _
		json_object_set_new(ctl, "deletions_pending", json_integer(app->n_tomb));
		json_object_set_new(o, "control", ctl);
	}
	shards = json_array();
	for (unsigned int i = 0; i < app->n_shards; i++)
		json_array_append_new(shards, shard_json(app->shard_list[i], false));
	json_object_set_new(o, "shards", shards);
	return o;
}

static json_t *
cmd_stats_reset(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	msh_stats_sum(app, &baseline);
	return json_string("counters reset (shard counters and positions are not)");
}

static json_t *
cmd_shard_list(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < app->n_shards; i++)
		json_array_append_new(a, shard_json(app->shard_list[i], false));
	return a;
}

static json_t *
cmd_shard_show(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_app_shard *as = shard_arg(app, argv[0], err, errlen);

	return as ? shard_json(as, true) : NULL;
}

static json_t *
cmd_sub_list(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	json_t *a = json_array();
	char ip[20], name[MSH_NAME_LEN + 1];
	uint64_t hz = app->dp.tsc_hz, now = rte_get_tsc_cycles();

	for (unsigned int i = 0; i < app->n_shards; i++) {
		const struct msh_app_shard *as = app->shard_list[i];
		const struct msh_shard *s = as->shard;

		msh_name_to_str(&s->conf.name, name);
		if (argc > 0 && strcmp(argv[0], name) != 0)
			continue;
		for (uint32_t k = 0; k < as->wk.subs.max; k++) {
			const struct msh_sub *sub = &as->wk.subs.sub[k];
			json_t *o;

			if (!sub->used)
				continue;
			o = json_object();
			json_object_set_new(o, "shard", json_string(name));
			json_object_set_new(o, "address", json_string(ip_str(sub->ip, ip, sizeof(ip))));
			json_object_set_new(o, "port", json_integer(sub->port));
			json_object_set_new(o, "next_seq", json_integer((json_int_t)sub->next_seq));
			json_object_set_new(o, "reported_seq",
					    json_integer((json_int_t)sub->reported_seq));
			json_object_set_new(o, "lag", json_integer((json_int_t)(
				s->next_seq - RTE_MIN(sub->reported_seq, s->next_seq))));
			json_object_set_new(o, "lease_left_ms", json_integer(
				sub->lease_end > now ? (json_int_t)((sub->lease_end - now) * 1000 / hz)
						     : 0));
			json_object_set_new(o, "sent_msgs", json_integer((json_int_t)sub->sent_msgs));
			json_object_set_new(o, "rerequests", json_integer((json_int_t)sub->rerequests));
			json_object_set_new(o, "unavailable",
					    json_integer((json_int_t)sub->unavailable));
			json_array_append_new(a, o);
		}
	}
	if (argc > 0 && json_array_size(a) == 0 && shard_arg(app, argv[0], err, errlen) == NULL) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
cmd_config_dump(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *s;

	if (f == NULL || msh_conf_dump(&app->conf, f) != 0) {
		if (f)
			fclose(f);
		free(text);
		snprintf(err, errlen, "config dump failed");
		return NULL;
	}
	fclose(f);
	s = json_string(text);
	free(text);
	return s;
}

static json_t *
cmd_shutdown(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	app->dp.quit = true;
	return json_string("shutting down");
}

/* The running configuration's entry for a shard (config dump shows live changes). */
static struct msh_shard_conf *
conf_entry(struct msh_app *app, const struct msh_name *n)
{
	for (unsigned int i = 0; i < app->conf.n_shards; i++)
		if (msh_name_eq(&app->conf.shards[i].name, n))
			return &app->conf.shards[i];
	return NULL;
}

/* Apply KEY=VALUE words to @p sc with the same setters the config file uses. */
static int
apply_kv(struct msh_shard_conf *sc, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL || eq == argv[i]) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", argv[i]);
			return -1;
		}
		*eq = '\0';
		if (msh_conf_set_shard(sc, argv[i], eq + 1, err, errlen) != 0)
			return -1;
	}
	return 0;
}

static json_t *
cmd_shard_create(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_shard_conf sc;

	msh_shard_conf_defaults(&sc);
	if (msh_name_from_str(&sc.name, argv[0]) != 0) {
		snprintf(err, errlen, "'%s' is not a shard name (1 to 10 printable ASCII "
			 "characters, no spaces)", argv[0]);
		return NULL;
	}
	if (apply_kv(&sc, argc - 1, argv + 1, err, errlen) != 0 ||
	    msh_shard_conf_check(&sc, err, errlen) != 0)
		return NULL;
	if (msh_shards_create(app, &sc, err, errlen) != 0)
		return NULL;
	if (app->conf.n_shards < MSH_CONF_MAX_SHARDS)
		app->conf.shards[app->conf.n_shards++] = sc;
	return shard_json(msh_table_lookup(app->shards, &sc.name), true);
}

static json_t *
cmd_shard_set(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	static const char *const live[] = {"on_full", "max_bytes", "segment_age", "storage"};
	struct msh_shard_conf next, *ce;
	struct msh_cmd_set set;
	struct msh_app_shard *as = shard_arg(app, argv[0], err, errlen);

	if (as == NULL)
		return NULL;
	for (int i = 1; i < argc; i++) {
		bool ok = false;

		if (strchr(argv[i], '=') == NULL) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", argv[i]);
			return NULL;
		}

		for (size_t k = 0; k < MSH_ARRAY_SIZE(live); k++)
			ok |= strncmp(argv[i], live[k], strlen(live[k])) == 0 &&
			      argv[i][strlen(live[k])] == '=';
		if (!ok) {
			snprintf(err, errlen, "'%s': only on_full, max_bytes, segment_age and storage "
				 "change on a live shard; the others are fixed at creation", argv[i]);
			return NULL;
		}
	}
	next = as->shard->conf;
	if (apply_kv(&next, argc - 1, argv + 1, err, errlen) != 0 ||
	    msh_shard_conf_check(&next, err, errlen) != 0)
		return NULL;
	set.as = as;
	set.max_bytes = next.max_bytes;
	set.segment_age_ns = next.segment_age_ns;
	set.on_full = next.on_full;
	if (msh_proxy_shard_set(&app->dp, &set, err, errlen) != 0)
		return NULL;
	/* What was applied shows in 'config dump' even if the storage change
	 * that comes last is refused. */
	ce = conf_entry(app, &as->shard->conf.name);
	if (ce != NULL)
		*ce = as->shard->conf;
	if (next.storage != as->shard->conf.storage) {
		char why[200];

		if (msh_spill_set_storage(app, as, next.storage, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "storage: %s (the other keys were applied)", why);
			return NULL;
		}
		if (ce != NULL)
			*ce = as->shard->conf;
	}
	return shard_json(as, true);
}

static json_t *
cmd_shard_seal(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_app_shard *as = shard_arg(app, argv[0], err, errlen);

	if (as == NULL || msh_proxy_shard_seal(&app->dp, as, err, errlen) != 0)
		return NULL;
	return shard_json(as, false);
}

static json_t *
cmd_shard_delete(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_app_shard *as = shard_arg(app, argv[0], err, errlen);
	struct msh_name n;

	if (as == NULL)
		return NULL;
	n = as->shard->conf.name;
	if (msh_shards_delete(app, &n, err, errlen) != 0)
		return NULL;
	for (unsigned int i = 0; i < app->conf.n_shards; i++)
		if (msh_name_eq(&app->conf.shards[i].name, &n)) {
			app->conf.shards[i] = app->conf.shards[--app->conf.n_shards];
			break;
		}
	return json_string("deleted; its subscribers were sent end of session");
}

static json_t *
cmd_sub_kick(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	char addr[32], *colon;
	int32_t port = -1;
	uint64_t kicked;
	uint32_t ip;
	struct in_addr in;
	json_t *o;

	snprintf(addr, sizeof(addr), "%s", argv[0]);
	colon = strchr(addr, ':');
	if (colon != NULL) {
		char *end;
		long p = strtol(colon + 1, &end, 10);

		if (*end != '\0' || p < 1 || p > 65535) {
			snprintf(err, errlen, "'%s': port must be 1 to 65535", argv[0]);
			return NULL;
		}
		port = (int32_t)p;
		*colon = '\0';
	}
	if (inet_pton(AF_INET, addr, &in) != 1) {
		snprintf(err, errlen, "'%s' is not ADDR or ADDR:PORT (IPv4)", argv[0]);
		return NULL;
	}
	ip = ntohl(in.s_addr);
	if (msh_proxy_sub_kick(&app->dp, ip, port, &kicked, err, errlen) != 0)
		return NULL;
	if (kicked == 0) {
		snprintf(err, errlen, "no subscription from %s", argv[0]);
		return NULL;
	}
	o = json_object();
	json_object_set_new(o, "kicked", json_integer((json_int_t)kicked));
	return o;
}

static json_t *cmd_help(struct msh_app *app, int argc, char **argv, char *err, size_t errlen);

static json_t *
repl_shard_json(const struct msh_app_shard *as)
{
	const struct msh_repl_shard *rs = as->repl;
	const struct msh_repl_lag *l = &as->wk.repl_lag;
	json_t *o = json_object(), *c = json_object();

	json_object_set_new(o, "role", json_string(rs->role == MSH_REPL_PRIMARY ? "primary" :
						    "secondary"));
	json_object_set_new(o, "acks", json_string(as->shard->conf.acks == MSH_ACKS_ALL ? "all" :
						    "1"));
	json_object_set_new(o, "syncing", json_boolean(rs->syncing));
	json_object_set_new(o, "acked_seq", json_integer((json_int_t)rs->acked_seq));
	json_object_set_new(o, "sent_seq", json_integer((json_int_t)rs->sent_seq));
	json_object_set_new(o, "lag_msgs", json_integer((json_int_t)l->msgs));
	json_object_set_new(o, "lag_us", json_integer((json_int_t)(l->ns / 1000)));
	json_object_set_new(o, "ack_lag_us", json_integer((json_int_t)(l->ack_lag_ns / 1000)));
	json_object_set_new(o, "ack_lag_max_us",
			    json_integer((json_int_t)(l->ack_lag_max_ns / 1000)));
	json_object_set_new(o, "rtt_us", json_integer((json_int_t)(l->rtt_ns / 1000)));
	if (as->repl_lag_hist != NULL) {
		const struct hist *h = as->repl_lag_hist;

		json_object_set_new(o, "ack_lag_samples", json_integer((json_int_t)h->n));
		json_object_set_new(o, "ack_lag_p50_us",
				    json_real((double)hist_pct(h, 50) / 1000.0));
		json_object_set_new(o, "ack_lag_p99_us",
				    json_real((double)hist_pct(h, 99) / 1000.0));
		json_object_set_new(o, "ack_lag_p99_9_us",
				    json_real((double)hist_pct(h, 99.9) / 1000.0));
	}
	json_object_set_new(o, "peer_known", json_boolean(l->peer_known));
	json_object_set_new(o, "acks_waiting", json_integer(rs->pend_n));
	json_object_set_new(o, "not_primary", json_integer((json_int_t)as->wk.repl_not_primary));
#define _(f, doc) json_object_set_new(c, #f, json_integer((json_int_t)rs->stats.f));
	foreach_msh_repl_counter
#undef _
	json_object_set_new(o, "counters", c);
	return o;
}

static json_t *
cmd_repl_status(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	const struct msh_repl_link *r = &app->dp.repl;
	const struct msh_repl_node *n = &r->node;
	json_t *o, *shards, *c, *drops;
	uint64_t now = msh_wall_ns();

	if (!r->on) {
		snprintf(err, errlen, "no replication port: this appliance is not one of a pair");
		return NULL;
	}
	o = json_object();
	json_object_set_new(o, "role", json_string(n->role == MSH_REPL_PRIMARY ? "primary" :
						   "secondary"));
	json_object_set_new(o, "epoch", json_integer(n->epoch));
	json_object_set_new(o, "node_id", json_integer(n->conf.node_id));
	json_object_set_new(o, "peer_id", json_integer(n->conf.peer_id));
	json_object_set_new(o, "syncing", json_boolean(n->syncing));
	json_object_set_new(o, "peer_alive", json_boolean(msh_repl_node_peer_alive(n, now)));
	json_object_set_new(o, "peer_role", json_string(!n->peer_heard ? "unknown" :
							n->peer_role == MSH_REPL_PRIMARY ? "primary" :
							"secondary"));
	json_object_set_new(o, "peer_epoch", json_integer(n->peer_epoch));
	json_object_set_new(o, "peer_ingest", json_string(
		n->peer_ingest == MSH_REPL_INGEST_ALIVE ? "alive" :
		n->peer_ingest == MSH_REPL_INGEST_SILENT ? "silent" : "unknown"));
	json_object_set_new(o, "peer_mac_known", json_boolean(r->peer_mac != 0));
	json_object_set_new(o, "failover", json_string(n->conf.auto_promote ? "auto" : "manual"));
	json_object_set_new(o, "alarm", json_string(msh_repl_alarm_str(n->alarm)));
	c = json_object();
#define _(f, doc) json_object_set_new(c, #f, json_integer((json_int_t)n->stats.f));
	foreach_msh_repl_node_counter
#undef _
	json_object_set_new(c, "rx_frames", json_integer((json_int_t)r->rx_frames));
	json_object_set_new(c, "tx_frames", json_integer((json_int_t)r->tx_frames));
	json_object_set_new(c, "tx_dropped",
			    json_integer((json_int_t)msh_stats_repl_tx_dropped(app)));
	json_object_set_new(c, "rx_stale", json_integer((json_int_t)r->rx_stale));
	json_object_set_new(c, "rx_foreign", json_integer((json_int_t)r->rx_foreign));
	json_object_set_new(c, "rx_unknown_shard", json_integer((json_int_t)r->rx_unknown_shard));
	json_object_set_new(c, "no_peer_mac", json_integer((json_int_t)r->no_peer_mac));
	drops = json_object();
	for (int i = 1; i < MSH_REPL_E_COUNT; i++)
		if (r->rx_drop[i])
			json_object_set_new(drops, msh_repl_err_str(i),
					    json_integer((json_int_t)r->rx_drop[i]));
	json_object_set_new(c, "rx_malformed", drops);
	json_object_set_new(o, "counters", c);
	shards = json_object();
	for (unsigned int i = 0; i < app->n_shards; i++) {
		const struct msh_app_shard *as = app->shard_list[i];
		char name[MSH_NAME_LEN + 1];

		if (as->repl != NULL)
			json_object_set_new(shards, msh_name_to_str(&as->shard->conf.name, name),
					    repl_shard_json(as));
	}
	json_object_set_new(o, "shards", shards);
	return o;
}

static json_t *
repl_role_cmd(struct msh_app *app, int promote, char *err, size_t errlen)
{
	if (!app->dp.repl.on) {
		snprintf(err, errlen, "no replication port: this appliance is not one of a pair");
		return NULL;
	}
	if (msh_proxy_repl_role(&app->dp, promote, err, errlen) != 0)
		return NULL;
	return cmd_repl_status(app, 0, NULL, err, errlen);
}

static json_t *
cmd_repl_promote(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	return repl_role_cmd(app, 1, err, errlen);
}

static json_t *
cmd_repl_demote(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	return repl_role_cmd(app, 0, err, errlen);
}

static json_t *
cmd_debug_stall(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	char *end;
	unsigned long wk = strtoul(argv[0], &end, 10), ms;

	if (*end != '\0' || argv[0][0] == '\0') {
		snprintf(err, errlen, "'%s' is not a worker number", argv[0]);
		return NULL;
	}
	ms = strtoul(argv[1], &end, 10);
	if (*end != '\0' || argv[1][0] == '\0' || ms == 0 || ms > 60000) {
		snprintf(err, errlen, "'%s': milliseconds must be 1 to 60000", argv[1]);
		return NULL;
	}
	if (msh_proxy_stall(&app->dp, (unsigned int)wk, (uint32_t)ms, err, errlen) != 0)
		return NULL;
	return json_string("stalling");
}

static json_t *
cmd_feed_list(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	json_t *a = json_array();

	for (unsigned int i = 0; i < app->n_feeds; i++)
		json_array_append_new(a, msh_feeds_json(app, app->feed_list[i], false));
	return a;
}

static json_t *
cmd_feed_show(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	const struct msh_app_feed *fd = msh_feeds_find(app, argv[0]);

	if (fd == NULL) {
		snprintf(err, errlen, "no feed '%s' (see 'feed list')", argv[0]);
		return NULL;
	}
	return msh_feeds_json(app, fd, true);
}

static json_t *
cmd_feed_create(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	struct msh_feed_conf fc;

	msh_feed_conf_defaults(&fc);
	if (strlen(argv[0]) >= sizeof(fc.name)) {
		snprintf(err, errlen, "'%s' is not a feed name (1 to %zu letters, digits, '_', '-' "
			 "or '.')", argv[0], sizeof(fc.name) - 1);
		return NULL;
	}
	snprintf(fc.name, sizeof(fc.name), "%s", argv[0]);
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL || eq == argv[i]) {
			snprintf(err, errlen, "'%s' is not KEY=VALUE", argv[i]);
			return NULL;
		}
		*eq = '\0';
		if (msh_conf_set_feed(&fc, argv[i], eq + 1, err, errlen) != 0)
			return NULL;
	}
	if (msh_feeds_create(app, &fc, err, errlen) != 0)
		return NULL;
	if (app->conf.n_feeds < MSH_CONF_MAX_FEEDS)
		app->conf.feeds[app->conf.n_feeds++] = fc;
	return msh_feeds_json(app, msh_feeds_find(app, fc.name), true);
}

static json_t *
cmd_feed_delete(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	if (msh_feeds_delete(app, argv[0], err, errlen) != 0)
		return NULL;
	for (unsigned int i = 0; i < app->conf.n_feeds; i++)
		if (strcmp(app->conf.feeds[i].name, argv[0]) == 0) {
			app->conf.feeds[i] = app->conf.feeds[--app->conf.n_feeds];
			break;
		}
	return json_string("deleted; what it held went into the shard, its groups were left");
}

static json_t *
cmd_igmp_status(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	return msh_feeds_igmp_json(app);
}

static const struct ctl_cmd commands[] = {
	{"help", "help", "list the commands", 0, 0, cmd_help, false},
	{"version", "version", "version, protocol version, epoch", 0, 0, cmd_version, false},
	{"stats", "stats", "counters: packets, acks by status, drops by reason, shards", 0, 0,
	 cmd_stats, false},
	{"stats reset", "stats reset", "start the appliance counters from zero", 0, 0,
	 cmd_stats_reset, false},
	{"shard list", "shard list", "every shard: sequence range, memory, subscribers", 0, 0,
	 cmd_shard_list, false},
	{"shard show", "shard show NAME", "one shard: settings and counters", 1, 1,
	 cmd_shard_show, false},
	{"shard create", "shard create NAME [KEY=VALUE...]",
	 "new shard; keys as in [shard NAME] (units: 64M, 1G, 500ms, 5m)", 1, CTL_MAX_ARGS,
	 cmd_shard_create, false},
	{"shard set", "shard set NAME KEY=VALUE...",
	 "change on_full, max_bytes (within its reservation), segment_age or storage live", 2,
	 CTL_MAX_ARGS, cmd_shard_set, false},
	{"shard seal", "shard seal NAME", "seal the active segment now", 1, 1, cmd_shard_seal, false},
	{"shard delete", "shard delete NAME", "end its MoldUDP64 session and free its memory", 1,
	 1, cmd_shard_delete, false},
	{"feed list", "feed list", "every multicast feed: lines, counters, gap state", 0, 0,
	 cmd_feed_list, false},
	{"feed show", "feed show NAME", "one feed: per-line counters, A-B skew, gap marks", 1, 1,
	 cmd_feed_show, false},
	{"feed create", "feed create NAME shard=SHARD line_a=GROUP:PORT[@PORT] [KEY=VALUE...]",
	 "join a multicast feed into a shard; keys as in [feed NAME] (docs/FEEDS.md)", 1,
	 CTL_MAX_ARGS, cmd_feed_create, false},
	{"feed delete", "feed delete NAME", "leave the feed's groups; the shard stays", 1, 1,
	 cmd_feed_delete, false},
	{"igmp status", "igmp status", "IGMP per port: version, queries, reports, leaves", 0, 0,
	 cmd_igmp_status, false},
	{"sub list", "sub list [SHARD]", "subscribers: address, position, lag, lease", 0, 1,
	 cmd_sub_list, false},
	{"sub kick", "sub kick ADDR[:PORT]", "end the subscriptions of an address", 1, 1,
	 cmd_sub_kick, false},
	{"config dump", "config dump", "the running configuration as a config file", 0, 0,
	 cmd_config_dump, false},
	{"repl status", "repl status", "the pair: role, epoch, peer, alarm, lag per shard", 0, 0,
	 cmd_repl_status, false},
	{"repl promote", "repl promote", "become primary now (epoch rises; see docs/REPLICATION.md)",
	 0, 0, cmd_repl_promote, false},
	{"repl demote", "repl demote", "become secondary and follow the peer", 0, 0,
	 cmd_repl_demote, false},
	{"shutdown", "shutdown", "stop the appliance cleanly", 0, 0, cmd_shutdown, false},
	{"debug stall", "debug stall WORKER MS",
	 "keep a worker busy for MS ms, as a stuck one would (MEMSHARD_DEBUG=1 only)", 2, 2,
	 cmd_debug_stall, true},
};

static json_t *
cmd_help(struct msh_app *app, int argc, char **argv, char *err, size_t errlen)
{
	json_t *a = json_array();

	for (size_t i = 0; i < MSH_ARRAY_SIZE(commands); i++) {
		json_t *o;

		if (commands[i].debug && !app->debug_commands)
			continue;
		o = json_object();

		json_object_set_new(o, "usage", json_string(commands[i].usage));
		json_object_set_new(o, "help", json_string(commands[i].help));
		json_array_append_new(a, o);
	}
	return a;
}

/* Run one request line; returns the JSON reply (without newline), malloc'd. */
static char *
dispatch(struct msh_app *app, char *line)
{
	char *argv[CTL_MAX_ARGS], *save = NULL, err[512] = "";
	int argc = 0;
	const struct ctl_cmd *cmd = NULL;
	json_t *reply = json_object(), *res = NULL;
	int used = 0;
	char *out;

	for (char *w = strtok_r(line, " \t\r", &save); w != NULL; w = strtok_r(NULL, " \t\r", &save)) {
		if (argc == CTL_MAX_ARGS) {
			snprintf(err, sizeof(err), "too many words (at most %d)", CTL_MAX_ARGS);
			goto out;
		}
		argv[argc++] = w;
	}
	if (argc == 0) {
		snprintf(err, sizeof(err), "empty command (try 'help')");
		goto out;
	}
	/* Longest match first: "stats reset" before "stats". */
	for (size_t i = 0; i < MSH_ARRAY_SIZE(commands); i++) {
		const char *sp = strchr(commands[i].name, ' ');
		int words = sp ? 2 : 1;

		if (words > argc)
			continue;
		if (sp ? (strncmp(argv[0], commands[i].name, (size_t)(sp - commands[i].name)) == 0 &&
			  argv[0][sp - commands[i].name] == '\0' && strcmp(argv[1], sp + 1) == 0)
		       : strcmp(argv[0], commands[i].name) == 0) {
			if (cmd == NULL || words > used) {
				cmd = &commands[i];
				used = words;
			}
		}
	}
	if (cmd == NULL) {
		snprintf(err, sizeof(err), "unknown command '%s' (try 'help')", argv[0]);
		goto out;
	}
	if (cmd->debug && !app->debug_commands) {
		snprintf(err, sizeof(err), "'%s' is a debug command: start the appliance with "
			 "MEMSHARD_DEBUG=1 to use it", cmd->name);
		goto out;
	}
	if (argc - used < cmd->min_args || argc - used > cmd->max_args) {
		snprintf(err, sizeof(err), "usage: %s", cmd->usage);
		goto out;
	}
	res = cmd->fn(app, argc - used, argv + used, err, sizeof(err));
out:
	if (res != NULL) {
		json_object_set_new(reply, "ok", json_true());
		json_object_set_new(reply, "result", res);
	} else {
		json_object_set_new(reply, "ok", json_false());
		json_object_set_new(reply, "error", json_string(err[0] ? err : "failed"));
	}
	out = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	return out;
}

static void
client_close(struct ctl_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = c->out_cap = 0;
	c->stuck_since = 0;
	c->eof = false;
}

static size_t
out_pending(const struct ctl_client *c)
{
	return c->out_len - c->out_off;
}

/* Send what the client will take now (non-blocking). */
static void
client_flush(struct ctl_client *c)
{
	size_t before = out_pending(c);

	while (c->fd >= 0 && out_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	if (out_pending(c) == 0) {
		c->out_len = c->out_off = 0;
		c->stuck_since = 0;
	} else if (c->stuck_since == 0 || out_pending(c) < before) {
		c->stuck_since = rte_get_timer_cycles();
	}
}

/* Queue one reply line and send what the client takes. */
static void
client_reply(struct ctl_client *c, const char *text)
{
	size_t len = strlen(text);

	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_len = c->out_off = 0;
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + len + 1)
			cap *= 2;
		p = realloc(c->out, cap);
		if (p == NULL) {
			client_close(c);
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, text, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	client_flush(c);
}

/* Run the complete lines the client sent, while its replies fit. */
static void
client_lines(struct msh_app *app, struct ctl_client *c)
{
	char *nl;

	while (c->fd >= 0 && out_pending(c) < CTL_OUT_MAX &&
	       (nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t line_len = (size_t)(nl - c->buf);
		char *reply;

		*nl = '\0';
		if (memchr(c->buf, '\0', line_len) != NULL) {
			client_reply(c, "{\"ok\":false,\"error\":\"binary data in a command\"}");
			if (c->fd >= 0)
				client_close(c);
			return;
		}
		ctl_stats.commands++;
		reply = dispatch(app, c->buf);
		client_reply(c, reply);
		free(reply);
		if (c->fd < 0)
			return;
		memmove(c->buf, nl + 1, c->len - line_len - 1);
		c->len -= line_len + 1;
	}
	if (c->fd >= 0 && c->len == sizeof(c->buf)) {
		ctl_stats.dropped_overlong++;
		client_reply(c, "{\"ok\":false,\"error\":\"command longer than 4096 bytes\"}");
		if (c->fd >= 0)
			client_close(c);
	}
}

static void
client_read(struct msh_app *app, struct ctl_client *c)
{
	ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		client_close(c); /* gone, possibly mid-command: nothing to undo */
		return;
	}
	if (n == 0) {
		/* Shut its side (or gone): what it sent is still answered. */
		c->eof = true;
		client_lines(app, c);
		if (c->fd >= 0 && out_pending(c) == 0)
			client_close(c);
		return;
	}
	c->len += (size_t)n;
	client_lines(app, c);
}

int
msh_control_open(struct msh_app *app, char *err, size_t errlen)
{
	const char *path = app->conf.app.control_socket;
	struct sockaddr_un sa;
	struct stat st;
	char dir[MSH_CONF_PATH_LEN], *slash;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "[appliance] control_socket: '%s' is longer than %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755); /* /run/memshard on a fresh host; exists otherwise */
	}
	/* A stale socket from a killed appliance: remove it, but never a file
	 * that is something else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "[appliance] control_socket: '%s' exists and is not a "
				 "socket", path);
			return -1;
		}
		unlink(path);
	}
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(listen_fd, 16) != 0) {
		snprintf(err, errlen, "[appliance] control_socket: '%s': %s", path, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		listen_fd = -1;
		return -1;
	}
	chmod(path, 0660);
	snprintf(sock_path, sizeof(sock_path), "%s", path);
	return 0;
}

void
msh_control_poll(struct msh_app *app, int timeout_ms)
{
	struct pollfd pfd[CTL_MAX_CLIENTS + 1];
	int idx[CTL_MAX_CLIENTS + 1], n = 0;
	uint64_t now = rte_get_timer_cycles(), stuck = CTL_STUCK_S * rte_get_timer_hz();

	if (listen_fd < 0) {
		usleep((useconds_t)timeout_ms * 1000);
		return;
	}
	pfd[n].fd = listen_fd;
	pfd[n].events = POLLIN;
	idx[n++] = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct ctl_client *c = &clients[i];

		if (c->fd < 0)
			continue;
		if (c->eof && out_pending(c) == 0 && memchr(c->buf, '\n', c->len) == NULL) {
			client_close(c); /* answered everything it sent */
			continue;
		}
		if (c->stuck_since != 0 && now - c->stuck_since > stuck) {
			MSH_LOG(WARNING, "control: a client took none of its %zu bytes of replies "
				"for %d s; dropped", out_pending(c), CTL_STUCK_S);
			ctl_stats.dropped_stuck++;
			client_close(c);
			continue;
		}
		pfd[n].fd = c->fd;
		/* Its commands wait while too many of its replies do. */
		pfd[n].events = (short)((out_pending(c) < CTL_OUT_MAX && !c->eof ? POLLIN : 0) |
					(out_pending(c) > 0 ? POLLOUT : 0));
		idx[n++] = i;
	}
	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
		return;
	for (int k = 1; k < n; k++) {
		struct ctl_client *c = &clients[idx[k]];

		if (pfd[k].revents & POLLOUT) {
			client_flush(c);
			if (c->fd >= 0)
				client_lines(app, c); /* room again: the commands it sent */
		}
		if (c->fd >= 0 && (pfd[k].revents & POLLERR))
			client_close(c);
		else if (c->fd >= 0 && !c->eof && (pfd[k].revents & (POLLIN | POLLHUP)))
			client_read(app, c);
	}
	if (pfd[0].revents & POLLIN) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		int slot = -1;

		if (fd < 0)
			return;
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			if (clients[i].fd < 0) {
				slot = i;
				break;
			}
		if (slot < 0) {
			static const char busy[] =
				"{\"ok\":false,\"error\":\"too many control clients\"}\n";

			ctl_stats.refused_busy++;
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* nothing more to tell it */
			}
			close(fd);
			return;
		}
		ctl_stats.accepted++;
		clients[slot].fd = fd;
		clients[slot].len = 0;
	}
}

void
msh_control_close(void)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_close(&clients[i]);
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
		unlink(sock_path);
	}
}
