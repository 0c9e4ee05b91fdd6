/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Read-only statistics registered with DPDK telemetry under /memshard/, so the
 * stock client (dpdk-telemetry.py -f FILE_PREFIX) lists and reads them:
 *   /memshard/stats         appliance counters, acks by status, drops by reason
 *   /memshard/shards        shard names
 *   /memshard/shard,NAME    one shard: sequence range, memory, counters
 *   /memshard/feeds         multicast feed names
 *   /memshard/feed,NAME     one feed: arbitration and per-line counters
 * Handlers run on EAL's telemetry thread and only read single-writer counters.
 */
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include "feeds.h"
#include "stats.h"
#include "telemetry.h"

static struct msh_app *tel_app;

static void
add_named(struct rte_tel_data *d, const char *prefix, const char *sym, uint64_t v)
{
	char key[RTE_TEL_MAX_STRING_LEN];

	snprintf(key, sizeof(key), "%s%s", prefix, sym);
	rte_tel_data_add_dict_u64(d, key, v);
}

static int
tel_stats_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct msh_lcore_stats t;

	msh_stats_sum(tel_app, &t);
	rte_tel_data_start_dict(d);
#define _(f) rte_tel_data_add_dict_u64(d, #f, t.f);
	foreach_msh_lcore_counter
#undef _
	for (unsigned int i = 0; i < MSH_S_COUNT; i++)
		add_named(d, "ack_", msh_status_sym[i], t.acks[i]);
	for (unsigned int i = 1; i < MSH_NET_DROP_COUNT; i++)
		add_named(d, "drop_", msh_net_drop_sym[i], t.net_drop[i]);
	for (unsigned int i = 1; i < MSH_WIRE_E_COUNT; i++)
		add_named(d, "drop_", msh_wire_err_sym[i], t.wire_drop[i]);
	for (unsigned int i = 0; i < MSH_APP_DROP_COUNT; i++)
		add_named(d, "drop_", msh_app_drop_sym[i], t.app_drop[i]);
	rte_tel_data_add_dict_u64(d, "arena_used", tel_app->arena.used);
	rte_tel_data_add_dict_u64(d, "arena_bytes", tel_app->arena.size);
	return 0;
}

static int
tel_shards_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char name[MSH_NAME_LEN + 1];

	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (unsigned int i = 0; i < tel_app->n_shards; i++)
		rte_tel_data_add_array_string(
			d, msh_name_to_str(&tel_app->shard_list[i]->shard->conf.name, name));
	return 0;
}

static int
tel_shard_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct msh_name n;
	const struct msh_app_shard *as;
	const struct msh_shard *s;

	if (params == NULL || msh_name_from_str(&n, params) != 0)
		return -EINVAL;
	as = msh_table_lookup(tel_app->shards, &n);
	if (as == NULL)
		return -ENOENT;
	s = as->shard;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "next_seq", s->next_seq);
	rte_tel_data_add_dict_u64(d, "first_seq", msh_shard_first_seq(s));
	rte_tel_data_add_dict_u64(d, "mem_used", msh_shard_mem_used(s));
	rte_tel_data_add_dict_u64(d, "max_bytes", s->conf.max_bytes);
	rte_tel_data_add_dict_u64(d, "subscribers", as->wk.subs.n);
#define _(f, doc) rte_tel_data_add_dict_u64(d, #f, s->stats.f);
	foreach_msh_shard_counter
#undef _
	if (as->repl != NULL) {
		/* Refreshed by the owner every millisecond. */
		rte_tel_data_add_dict_u64(d, "repl_primary", as->repl->role == MSH_REPL_PRIMARY);
		rte_tel_data_add_dict_u64(d, "repl_acked_seq", as->repl->acked_seq);
		rte_tel_data_add_dict_u64(d, "repl_lag_msgs", as->wk.repl_lag.msgs);
		rte_tel_data_add_dict_u64(d, "repl_lag_us", as->wk.repl_lag.ns / 1000);
		rte_tel_data_add_dict_u64(d, "repl_ack_lag_us", as->wk.repl_lag.ack_lag_ns / 1000);
		rte_tel_data_add_dict_u64(d, "repl_ack_lag_max_us",
					  as->wk.repl_lag.ack_lag_max_ns / 1000);
		rte_tel_data_add_dict_u64(d, "repl_acks_waiting", as->repl->pend_n);
	}
	if (as->dir != NULL) {
		rte_tel_data_add_dict_u64(d, "spill_files", as->sp.files);
		rte_tel_data_add_dict_u64(d, "spill_write_errors", as->sp.write_errors);
		rte_tel_data_add_dict_u64(d, "spill_bad_files", as->sp.bad_files);
		rte_tel_data_add_dict_u64(d, "disk_first_seq", as->sp.disk_first);
		rte_tel_data_add_dict_u64(d, "disk_next_seq", as->sp.disk_next);
	}
	return 0;
}

static int
tel_feeds_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
	for (unsigned int i = 0; i < tel_app->n_feeds; i++)
		rte_tel_data_add_array_string(d, tel_app->feed_list[i]->conf.name);
	return 0;
}

static int
tel_feed_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct msh_app_feed *fd = params ? msh_feeds_find(tel_app, params) : NULL;
	char key[RTE_TEL_MAX_STRING_LEN];

	if (fd == NULL)
		return params == NULL ? -EINVAL : -ENOENT;
	rte_tel_data_start_dict(d);
#define _(f, doc) rte_tel_data_add_dict_u64(d, #f, fd->wk.st.f);
	foreach_msh_feed_counter
#undef _
	rte_tel_data_add_dict_u64(d, "marks", fd->wk.marks_n);
	if (fd->arb == NULL)
		return 0;
#define _(f, doc) rte_tel_data_add_dict_u64(d, #f, fd->arb->stats.f);
	foreach_msh_arb_counter
#undef _
	rte_tel_data_add_dict_u64(d, "next_upstream_seq", fd->arb->next_seq);
	rte_tel_data_add_dict_u64(d, "gap_open", fd->arb->gap_open);
	for (unsigned int l = 0; l < fd->n_lines; l++) {
#define _(f, doc)                                                                                  \
	snprintf(key, sizeof(key), "%c_%s", 'a' + l, #f);                                          \
	rte_tel_data_add_dict_u64(d, key, fd->arb->line[l].f);
		foreach_msh_arb_line_counter
#undef _
		snprintf(key, sizeof(key), "%c_skew_p99_ns", 'a' + l);
		rte_tel_data_add_dict_u64(d, key, hist_pct(&fd->arb->skew[l], 99));
	}
	return 0;
}

static int
tel_repl_locked(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct msh_repl_node *n = &tel_app->dp.repl.node;

	if (!tel_app->dp.repl.on)
		return -ENOENT;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "role", n->role == MSH_REPL_PRIMARY ? "primary" :
					       "secondary");
	rte_tel_data_add_dict_u64(d, "epoch", n->epoch);
	rte_tel_data_add_dict_u64(d, "syncing", n->syncing);
	rte_tel_data_add_dict_string(d, "alarm", msh_repl_alarm_str(n->alarm));
#define _(f, doc) rte_tel_data_add_dict_u64(d, #f, n->stats.f);
	foreach_msh_repl_node_counter
#undef _
	return 0;
}

/* Each handler runs on the telemetry thread under the shards lock (see
 * struct msh_app), and answers nothing once shutdown has begun. */
#define LOCKED(h)                                                                                  \
	static int h(const char *cmd, const char *params, struct rte_tel_data *d)                  \
	{                                                                                          \
		int rc = -EBUSY;                                                                   \
                                                                                                   \
		pthread_mutex_lock(&tel_app->shards_lock);                                         \
		if (!tel_app->tel_closed)                                                          \
			rc = h##_locked(cmd, params, d);                                           \
		pthread_mutex_unlock(&tel_app->shards_lock);                                       \
		return rc;                                                                         \
	}
LOCKED(tel_stats)
LOCKED(tel_shards)
LOCKED(tel_shard)
LOCKED(tel_repl)
LOCKED(tel_feeds)
LOCKED(tel_feed)

void
msh_telemetry_register(struct msh_app *app)
{
	tel_app = app;
	rte_telemetry_register_cmd("/memshard/stats", tel_stats,
				   "memshard counters: packets, acks by status, drops by reason");
	rte_telemetry_register_cmd("/memshard/shards", tel_shards, "memshard shard names");
	rte_telemetry_register_cmd("/memshard/shard", tel_shard,
				   "one memshard shard. Parameters: shard name");
	rte_telemetry_register_cmd("/memshard/feeds", tel_feeds, "memshard multicast feed names");
	rte_telemetry_register_cmd("/memshard/feed", tel_feed,
				   "one memshard feed: per-line and arbitration counters. "
				   "Parameters: feed name");
	rte_telemetry_register_cmd("/memshard/repl", tel_repl,
				   "memshard replication: role, epoch, alarm, node counters");
}
