/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Counters for the control path and the log watch (stats.h).
 */
#include <string.h>

#include "feeds.h"
#include "log.h"
#include "stats.h"

void
msh_stats_worker(const struct msh_worker *w, struct msh_lcore_stats *out)
{
	*out = w->st;
	/* Its queue on the ingest port, then those on feed ports. */
	for (unsigned int k = 0; k <= w->dp->n_fports; k++) {
		const struct msh_txq_stats *q = k == 0 ? &w->tx.st : &w->ftx[k].st;

		out->tx_pkts += q->pkts;
		out->tx_bytes += q->bytes;
		out->feed_rollbacks += q->rollbacks;
		out->app_drop[MSH_APP_DROP_TX_FULL] += q->full;
		out->app_drop[MSH_APP_DROP_NO_MBUF] += q->no_mbuf;
	}
}

void
msh_stats_sum(const struct msh_app *app, struct msh_lcore_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		struct msh_lcore_stats ws;

		msh_stats_worker(app->dp.workers[i], &ws);
		msh_lcore_stats_add(sum, &ws);
	}
}

uint64_t
msh_stats_repl_tx_dropped(const struct msh_app *app)
{
	const struct msh_txq_stats *q;

	if (!app->dp.repl.on || app->dp.n_workers == 0)
		return 0;
	q = &app->dp.workers[0]->rtx.st;
	return q->full + q->no_mbuf;
}

static void
print_shard(const struct msh_app_shard *as, FILE *out)
{
	const struct msh_shard *s = as->shard;
	char name[MSH_NAME_LEN + 1];

	msh_name_to_str(&s->conf.name, name);
#define _(f, doc) fprintf(out, "shard.%s.%-20s %lu\n", name, #f, (unsigned long)s->stats.f);
	foreach_msh_shard_counter
#undef _
	fprintf(out, "shard.%s.%-20s %lu\n", name, "next_seq", (unsigned long)s->next_seq);
	fprintf(out, "shard.%s.%-20s %lu\n", name, "first_seq", (unsigned long)msh_shard_first_seq(s));
	fprintf(out, "shard.%s.%-20s %lu\n", name, "mem_used", (unsigned long)msh_shard_mem_used(s));
	fprintf(out, "shard.%s.%-20s %u\n", name, "subscribers", as->wk.subs.n);
	/* One line a counter a subscription; lag is measured against the
	 * position its renewals report, the only proof of what it read. */
	for (uint32_t k = 0; k < as->wk.subs.max; k++) {
		const struct msh_sub *sub = &as->wk.subs.sub[k];
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

void
msh_stats_print(const struct msh_app *app, FILE *out)
{
	struct msh_lcore_stats t;

	msh_stats_sum(app, &t);
#define _(f) fprintf(out, "%-28s %lu\n", #f, (unsigned long)t.f);
	foreach_msh_lcore_counter
#undef _
	fprintf(out, "%-28s %lu\n", "rx_active_ns", (unsigned long)(t.rx_last_ns - t.rx_first_ns));
	for (unsigned int i = 0; i < app->dp.n_workers; i++) {
		const struct msh_worker *w = app->dp.workers[i];
		struct msh_lcore_stats ls;

		msh_stats_worker(w, &ls);
		fprintf(out, "worker.%u.%-19s %u\n", i, "lcore", w->lcore);
		fprintf(out, "worker.%u.%-19s %u\n", i, "shards", w->n_owned);
#define _(f) fprintf(out, "worker.%u.%-19s %lu\n", i, #f, (unsigned long)ls.f);
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
	for (unsigned int i = 0; i < app->n_shards; i++)
		print_shard(app->shard_list[i], out);
	msh_feeds_print(app, out);
}

void
msh_stats_watch(struct msh_app *app)
{
	static uint64_t roles, alarms, truncations;
	const struct msh_repl_link *r = &app->dp.repl;
	const struct msh_repl_node *n = &r->node;
	char name[MSH_NAME_LEN + 1];

	if (!r->on)
		return;
	if (r->role_changes != roles) {
		roles = r->role_changes;
		MSH_LOG(NOTICE, "replication: %s in epoch %u%s",
			n->role == MSH_REPL_PRIMARY ? "primary" : "secondary", n->epoch,
			n->syncing ? ", catching up" : "");
	}
	if (r->alarms != alarms) {
		alarms = r->alarms;
		MSH_LOG(WARNING, "replication: %s", msh_repl_alarm_str(n->alarm));
	}
	if (r->catch_up_truncations != truncations) {
		truncations = r->catch_up_truncations;
		MSH_LOG(WARNING, "shard %s: caught up with the primary: truncated to seq %lu, "
			"restarted at %lu (0: no)", msh_name_to_str(&r->last_truncated, name),
			(unsigned long)r->last_truncate_to, (unsigned long)r->last_reset_to);
	}
}
