/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Feed creation and deletion, multicast filters, JSON and the log watch
 * (feeds.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "clock.h"
#include "feeds.h"
#include "log.h"
#include "proxy.h"

static const char *const line_name[MSH_CONF_FEED_LINES] = {"A", "B"};

static char *
ip_str(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

struct msh_app_feed *
msh_feeds_find(const struct msh_app *app, const char *name)
{
	for (unsigned int i = 0; i < app->n_feeds; i++)
		if (strcmp(app->feed_list[i]->conf.name, name) == 0)
			return app->feed_list[i];
	return NULL;
}

struct msh_app_feed *
msh_feeds_of_shard(const struct msh_app *app, const struct msh_app_shard *as)
{
	for (unsigned int i = 0; i < app->n_feeds; i++)
		if (app->feed_list[i]->as == as)
			return app->feed_list[i];
	return NULL;
}

/* The port slot a line names ("" or the ingest port's name: 0; a feed port:
 * 1..). @return the slot or -1 with @p err. */
static int
slot_of(const struct msh_app *app, const struct msh_mcast_addr *a, const char *key, char *err,
	size_t errlen)
{
	const struct msh_dp *dp = &app->dp;

	if (a->port_name[0] == '\0' || strcmp(a->port_name, dp->ingest.conf->name) == 0)
		return 0;
	for (unsigned int k = 0; k < dp->n_fports; k++)
		if (strcmp(a->port_name, dp->fports[k].conf->name) == 0)
			return (int)k + 1;
	snprintf(err, errlen, "%s: no [port %s] with role = ingest or feed", key, a->port_name);
	return -1;
}

/* The group MACs of every feed line on @p slot go to the port's filter;
 * a PMD without one gets all-multicast (the software filter still drops
 * what no feed joined). */
static void
filters_update(struct msh_app *app, unsigned int slot)
{
	struct msh_app_port *p = msh_dp_port(&app->dp, slot);
	struct rte_ether_addr macs[MSH_MCAST_MAX_ROUTES];
	uint32_t n = 0;
	int rc;

	for (unsigned int i = 0; i < app->n_feeds; i++) {
		const struct msh_app_feed *fd = app->feed_list[i];

		for (unsigned int l = 0; l < fd->n_lines; l++)
			if (fd->slot[l] == slot)
				msh_ipv4_mcast_mac(fd->conf.line[l].group, macs[n++].addr_bytes);
	}
	if (app->allmulti[slot])
		return;
	rc = rte_eth_dev_set_mc_addr_list(p->eth.port_id, n ? macs : NULL, n);
	if (rc == 0)
		return;
	rc = rte_eth_allmulticast_enable(p->eth.port_id);
	app->allmulti[slot] = true;
	MSH_LOG(NOTICE, "port %s: the driver has no multicast address filter; all-multicast %s "
		"(groups no feed joined are dropped and counted as MCAST_NOT_JOINED)",
		p->conf->name, rc == 0 ? "on" : "could not be turned on either");
}

static void log_marks(struct msh_app_feed *fd);

/* Every worker has let go (or none is running): what it marked last (the
 * owner's final flush) is logged, then the memory goes. */
static void
feed_free(struct msh_app_feed *fd)
{
	if (fd == NULL)
		return;
	log_marks(fd);
	rte_free(fd->arb);
	rte_free(fd);
}

/* The checks that need the running appliance. */
static int
check(struct msh_app *app, const struct msh_feed_conf *fc, struct msh_app_feed *fd, char *err,
      size_t errlen)
{
	const struct msh_port_conf *ing = app->dp.ingest.conf;
	char name[MSH_NAME_LEN + 1], key[16];

	if (msh_feeds_find(app, fc->name) != NULL) {
		snprintf(err, errlen, "a feed of that name exists");
		return -1;
	}
	if (app->n_feeds + app->n_feed_tomb >= MSH_CONF_MAX_FEEDS) {
		snprintf(err, errlen, "already %u feeds (or deletions under way), the most",
			 app->n_feeds + app->n_feed_tomb);
		return -1;
	}
	fd->as = msh_table_lookup(app->shards, &fc->shard);
	msh_name_to_str(&fc->shard, name);
	if (fd->as == NULL) {
		snprintf(err, errlen, "shard: no shard '%s' (create it first)", name);
		return -1;
	}
	if (fd->as->repl != NULL) {
		snprintf(err, errlen, "shard: '%s' has replicas = 2; a feed into a replicated "
			 "shard is not built yet", name);
		return -1;
	}
	if (msh_feeds_of_shard(app, fd->as) != NULL) {
		snprintf(err, errlen, "shard: '%s' is fed by feed %s already (one feed a shard)",
			 name, msh_feeds_of_shard(app, fd->as)->conf.name);
		return -1;
	}
	fd->n_lines = fc->line[1].group != 0 ? 2 : 1;
	for (unsigned int l = 0; l < fd->n_lines; l++) {
		int slot;

		snprintf(key, sizeof(key), "line_%c", l == 0 ? 'a' : 'b');
		slot = slot_of(app, &fc->line[l], key, err, errlen);
		if (slot < 0)
			return -1;
		fd->slot[l] = (uint8_t)slot;
		if (l == 1 && slot == fd->slot[0] && fc->line[1].group == fc->line[0].group &&
		    fc->line[1].port == fc->line[0].port) {
			snprintf(err, errlen, "line_b: the same group, UDP port and port as line_a");
			return -1;
		}
		for (unsigned int i = 0; i < app->n_feeds; i++) {
			const struct msh_app_feed *o = app->feed_list[i];

			for (unsigned int k = 0; k < o->n_lines; k++) {
				char g[16];

				/* One membership a group and port: one source filter. */
				if (o->slot[k] == slot && o->conf.line[k].group == fc->line[l].group &&
				    o->conf.source != fc->source) {
					snprintf(err, errlen, "%s: %s on that port is also feed %s's, "
						 "with another source (one IGMP membership a group)",
						 key, ip_str(fc->line[l].group, g, sizeof(g)),
						 o->conf.name);
					return -1;
				}
				if (o->slot[k] == slot && o->conf.line[k].group == fc->line[l].group &&
				    o->conf.line[k].port == fc->line[l].port) {
					snprintf(err, errlen, "%s: %s:%u on that port is feed %s's "
						 "line %s", key, ip_str(fc->line[l].group, g, sizeof(g)),
						 fc->line[l].port, o->conf.name, line_name[k]);
					return -1;
				}
			}
		}
	}
	if (fc->rerequest_ip != 0) {
		const struct msh_app_port *p = msh_dp_port(&app->dp, fd->slot[0]);

		fd->rr_src_port = fc->line[0].port;
		if (!msh_ipv4_on_subnet(&p->ifc, fc->rerequest_ip)) {
			snprintf(err, errlen, "rerequest: the server is not on [port %s]'s subnet "
				 "(line A's port; no routing in this version)", p->conf->name);
			return -1;
		}
		if (fd->slot[0] == 0 &&
		    (fd->rr_src_port == ing->udp_port || fd->rr_src_port == ing->retrans_port)) {
			snprintf(err, errlen, "rerequest: answers come to line A's UDP port %u, which "
				 "is [port %s]'s udp_port or retrans_port", fd->rr_src_port, ing->name);
			return -1;
		}
		for (unsigned int i = 0; i < app->n_feeds; i++) {
			const struct msh_app_feed *o = app->feed_list[i];

			if (o->conf.rerequest_ip != 0 && o->slot[0] == fd->slot[0] &&
			    o->rr_src_port == fd->rr_src_port) {
				snprintf(err, errlen, "rerequest: answers would come to UDP port %u, "
					 "as feed %s's do (give line A another port)",
					 fd->rr_src_port, o->conf.name);
				return -1;
			}
		}
	}
	return 0;
}

int
msh_feeds_create(struct msh_app *app, const struct msh_feed_conf *fc, char *err, size_t errlen)
{
	struct msh_app_feed *fd;
	struct msh_arb_conf ac;
	char why[256], g[2][24], name[MSH_NAME_LEN + 1], b1[32];
	uint32_t mtu = 0;
	size_t alen;
	int socket;

	if (msh_feed_conf_check(fc, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "feed create %s: %s", fc->name, why);
		return -1;
	}
	fd = rte_zmalloc("msh_feed", sizeof(*fd), RTE_CACHE_LINE_SIZE);
	if (fd == NULL) {
		snprintf(err, errlen, "feed create %s: out of memory", fc->name);
		return -1;
	}
	fd->conf = *fc;
	if (check(app, fc, fd, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "feed create %s: %s", fc->name, why);
		feed_free(fd);
		return -1;
	}
	fd->worker = fd->as->worker;
	fd->gap_timeout_ns = fc->gap_timeout_ns;
	socket = (int)rte_lcore_to_socket_id(fd->as->owner_lcore);
	for (unsigned int l = 0; l < fd->n_lines; l++)
		mtu = RTE_MAX(mtu, (uint32_t)msh_dp_port(&app->dp, fd->slot[l])->conf->mtu);
	alen = msh_mcast_arb_conf(fc, mtu, &ac);
	if (fc->format == MSH_FEED_MOLDUDP64) {
		void *mem = alen ? rte_zmalloc_socket("msh_arb", alen, RTE_CACHE_LINE_SIZE, socket)
				 : NULL;

		fd->arb = mem ? msh_arb_init(mem, alen, &ac) : NULL;
		if (fd->arb == NULL) {
			rte_free(mem);
			snprintf(err, errlen, "feed create %s: no memory for its arbiter (%s for "
				 "hold_packets %u)", fc->name, msh_fmt_size(alen, b1, sizeof(b1)),
				 fc->hold_packets);
			feed_free(fd);
			return -1;
		}
	}
	pthread_mutex_lock(&app->shards_lock);
	app->feed_list[app->n_feeds++] = fd;
	pthread_mutex_unlock(&app->shards_lock);
	for (unsigned int l = 0; l < fd->n_lines; l++)
		filters_update(app, fd->slot[l]);
	if (msh_proxy_feed_add(&app->dp, fd, why, sizeof(why)) != 0) {
		char why2[256];

		snprintf(err, errlen, "feed create %s: %s", fc->name, why);
		if (msh_feeds_delete(app, fc->name, why2, sizeof(why2)) != 0)
			MSH_LOG(ERR, "feed create %s: rollback: %s", fc->name, why2);
		return -1;
	}
	for (unsigned int l = 0; l < fd->n_lines; l++)
		msh_fmt_mcast_addr(&fc->line[l], g[l], sizeof(g[l]));
	MSH_LOG(NOTICE, "feed %s: line A %s%s%s into shard %s (worker %u), %s, gap_timeout %s%s",
		fc->name, g[0], fd->n_lines > 1 ? ", line B " : "", fd->n_lines > 1 ? g[1] : "",
		msh_name_to_str(&fc->shard, name), fd->worker,
		fc->format == MSH_FEED_RAW ? "raw" : "moldudp64",
		msh_fmt_duration(fc->gap_timeout_ns, b1, sizeof(b1)),
		fc->rerequest_ip ? ", re-requests on" : "");
	return 0;
}

int
msh_feeds_delete(struct msh_app *app, const char *name, char *err, size_t errlen)
{
	struct msh_app_feed *fd = msh_feeds_find(app, name);
	struct msh_del_cmds d;
	char why[256];
	unsigned int i;

	if (fd == NULL) {
		snprintf(err, errlen, "feed delete %s: no such feed (see 'feed list')", name);
		return -1;
	}
	if (msh_proxy_feed_del(&app->dp, fd, &d, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "feed delete %s: %s", name, why);
		return -1;
	}
	pthread_mutex_lock(&app->shards_lock);
	for (i = 0; i < app->n_feeds && app->feed_list[i] != fd; i++)
		;
	app->feed_list[i] = app->feed_list[--app->n_feeds];
	app->feed_list[app->n_feeds] = NULL;
	pthread_mutex_unlock(&app->shards_lock);
	for (unsigned int l = 0; l < fd->n_lines; l++)
		filters_update(app, fd->slot[l]);
	if (msh_proxy_del_poll(&app->dp, &d)) {
		MSH_LOG(NOTICE, "feed %s: deleted, groups left", name);
		feed_free(fd);
		return 0;
	}
	app->feed_tomb[app->n_feed_tomb].fd = fd;
	app->feed_tomb[app->n_feed_tomb].del = d;
	app->n_feed_tomb++;
	MSH_LOG(WARNING, "feed %s: deleted; its memory goes back once every worker let go", name);
	return 0;
}

void
msh_feeds_reap(struct msh_app *app)
{
	for (unsigned int k = 0; k < app->n_feed_tomb;) {
		struct msh_feed_tomb *t = &app->feed_tomb[k];

		if (!msh_proxy_del_poll(&app->dp, &t->del)) {
			k++;
			continue;
		}
		feed_free(t->fd);
		app->feed_tomb[k] = app->feed_tomb[--app->n_feed_tomb];
	}
}

void
msh_feeds_free_all(struct msh_app *app)
{
	for (unsigned int i = 0; i < app->n_feeds; i++)
		feed_free(app->feed_list[i]);
	app->n_feeds = 0;
	for (unsigned int k = 0; k < app->n_feed_tomb; k++)
		feed_free(app->feed_tomb[k].fd);
	app->n_feed_tomb = 0;
}

/* ---- reporting ---- */

static const char *
mark_kind_str(uint32_t k)
{
	static const char *const s[] = {"gap", "session", "end", "refused"};

	return k < MSH_ARRAY_SIZE(s) ? s[k] : "?";
}

static json_t *
mark_json(const struct msh_feed_mark *mk)
{
	char sess[MSH_NAME_LEN + 1];
	json_t *o = json_object();

	json_object_set_new(o, "kind", json_string(mark_kind_str(mk->kind)));
	json_object_set_new(o, "shard_seq", json_integer((json_int_t)mk->shard_seq));
	json_object_set_new(o, "session", json_string(msh_name_to_str(&mk->session, sess)));
	json_object_set_new(o, "upstream_seq", json_integer((json_int_t)mk->up_seq));
	json_object_set_new(o, "upstream_count", json_integer((json_int_t)mk->up_count));
	json_object_set_new(o, "time_ns", json_integer((json_int_t)mk->ns));
	return o;
}

static json_t *
hist_json(const struct hist *h)
{
	json_t *o = json_object();

	json_object_set_new(o, "samples", json_integer((json_int_t)h->n));
	json_object_set_new(o, "p50_us", json_real((double)hist_pct(h, 50) / 1000.0));
	json_object_set_new(o, "p99_us", json_real((double)hist_pct(h, 99) / 1000.0));
	json_object_set_new(o, "p99_9_us", json_real((double)hist_pct(h, 99.9) / 1000.0));
	json_object_set_new(o, "max_us", json_real((double)h->max / 1000.0));
	return o;
}

json_t *
msh_feeds_json(const struct msh_app *app, const struct msh_app_feed *fd, bool full)
{
	const struct msh_feed_conf *fc = &fd->conf;
	const struct msh_feed_stats *st = &fd->wk.st;
	char buf[64], name[MSH_NAME_LEN + 1];
	json_t *o = json_object(), *lines = json_array(), *c;
	uint64_t n = __atomic_load_n(&fd->wk.marks_n, __ATOMIC_ACQUIRE);

	json_object_set_new(o, "name", json_string(fc->name));
	json_object_set_new(o, "shard", json_string(msh_name_to_str(&fc->shard, name)));
	json_object_set_new(o, "format", json_string(fc->format == MSH_FEED_RAW ? "raw" :
						     "moldudp64"));
	json_object_set_new(o, "worker", json_integer(fd->worker));
	for (unsigned int l = 0; l < fd->n_lines; l++) {
		json_t *e = json_object();

		json_object_set_new(e, "line", json_string(line_name[l]));
		json_object_set_new(e, "group", json_string(msh_fmt_mcast_addr(&fc->line[l], buf,
										 sizeof(buf))));
		json_object_set_new(e, "port", json_string(msh_dp_port((struct msh_dp *)&app->dp,
								       fd->slot[l])->conf->name));
		json_object_set_new(e, "datagrams", json_integer((json_int_t)st->line_pkts[l]));
		json_object_set_new(e, "malformed", json_integer((json_int_t)st->line_bad[l]));
		if (fd->arb != NULL) {
			const struct msh_arb_line_stats *ls = &fd->arb->line[l];

#define _(f, doc) json_object_set_new(e, #f, json_integer((json_int_t)ls->f));
			foreach_msh_arb_line_counter
#undef _
			json_object_set_new(e, "skew", hist_json(&fd->arb->skew[l]));
		}
		json_array_append_new(lines, e);
	}
	json_object_set_new(o, "lines", lines);
	json_object_set_new(o, "source", fc->source ? json_string(ip_str(fc->source, buf,
									   sizeof(buf)))
						    : json_null());
	if (fd->arb != NULL) {
		const struct msh_arb *a = fd->arb;
		struct msh_arb_gap g;

		json_object_set_new(o, "session", a->started ?
				    json_string(msh_name_to_str(&a->session, name)) : json_null());
		json_object_set_new(o, "ended", json_boolean(a->ended));
		json_object_set_new(o, "next_upstream_seq", json_integer((json_int_t)a->next_seq));
		json_object_set_new(o, "held_packets", json_integer(a->n_held));
		if (msh_arb_open_gap(a, &g)) {
			json_t *gj = json_object();
			uint64_t now = msh_wall_ns();

			json_object_set_new(gj, "first", json_integer((json_int_t)g.first));
			json_object_set_new(gj, "count", json_integer((json_int_t)g.count));
			json_object_set_new(gj, "age_us", json_integer((json_int_t)(
				now > g.since_ns ? (now - g.since_ns) / 1000 : 0)));
			json_object_set_new(o, "gap", gj);
		} else {
			json_object_set_new(o, "gap", json_null());
		}
	}
	json_object_set_new(o, "gap_timeout_ns", json_integer((json_int_t)fc->gap_timeout_ns));
	if (fc->rerequest_ip != 0) {
		char s[96];

		snprintf(s, sizeof(s), "%s:%u", ip_str(fc->rerequest_ip, buf, sizeof(buf)),
			 fc->rerequest_port);
		json_object_set_new(o, "rerequest", json_string(s));
		json_object_set_new(o, "rerequest_server_mac_known", json_boolean(fd->wk.rr_mac_known));
	} else {
		json_object_set_new(o, "rerequest", json_null());
	}
	c = json_object();
#define _(f, doc) json_object_set_new(c, #f, json_integer((json_int_t)st->f));
	foreach_msh_feed_counter
#undef _
	if (fd->arb != NULL) {
#define _(f, doc) json_object_set_new(c, #f, json_integer((json_int_t)fd->arb->stats.f));
		foreach_msh_arb_counter
#undef _
	}
	json_object_set_new(c, "marks", json_integer((json_int_t)n));
	json_object_set_new(o, "counters", c);
	if (full) {
		json_t *marks = json_array();
		/* The oldest slot may be being overwritten: the last MARKS - 1. */
		uint64_t from = n > MSH_FEED_MARKS - 1 ? n - (MSH_FEED_MARKS - 1) : 0;

		for (uint64_t k = from; k < n; k++) {
			const struct msh_feed_mark *mk = fd->wk.marks + k % MSH_FEED_MARKS;

			json_array_append_new(marks, mark_json(mk));
		}
		json_object_set_new(o, "marks", marks);
	}
	return o;
}

json_t *
msh_feeds_igmp_json(const struct msh_app *app)
{
	json_t *a = json_array();

	for (unsigned int s = 0; s < 1 + app->dp.n_fports; s++) {
		struct msh_igmp_port sum;
		json_t *o = json_object(), *bad = json_object();
		bool v2 = false;

		memset(&sum, 0, sizeof(sum));
		for (unsigned int i = 0; i < app->dp.n_workers; i++) {
			const struct msh_igmp_port *p = &app->dp.workers[i]->igmp[s];

			sum.queries += p->queries;
			sum.reports += p->reports;
			sum.leaves += p->leaves;
			sum.v2_reports += p->v2_reports;
			sum.ignored += p->ignored;
			for (unsigned int k = 1; k < MSH_IGMP_E_COUNT; k++)
				sum.bad[k] += p->bad[k];
		}
		json_object_set_new(o, "port", json_string(msh_dp_port((struct msh_dp *)&app->dp,
								       s)->conf->name));
		v2 = app->dp.igmp_v2_until[s] != 0 &&
		     (int64_t)(app->dp.igmp_v2_until[s] - rte_rdtsc()) > 0;
		json_object_set_new(o, "version", json_integer(v2 ? 2 : 3));
#define _(f) json_object_set_new(o, #f, json_integer((json_int_t)sum.f));
		_(queries) _(reports) _(leaves) _(v2_reports) _(ignored)
#undef _
		for (unsigned int k = 1; k < MSH_IGMP_E_COUNT; k++)
			if (sum.bad[k])
				json_object_set_new(bad, msh_igmp_err_str((int)k),
						    json_integer((json_int_t)sum.bad[k]));
		json_object_set_new(o, "malformed", bad);
		json_array_append_new(a, o);
	}
	return a;
}

void
msh_feeds_print(const struct msh_app *app, FILE *out)
{
	for (unsigned int i = 0; i < app->n_feeds; i++) {
		const struct msh_app_feed *fd = app->feed_list[i];
		const char *nm = fd->conf.name;

#define _(f, doc) fprintf(out, "feed.%s.%-22s %lu\n", nm, #f, (unsigned long)fd->wk.st.f);
		foreach_msh_feed_counter
#undef _
		if (fd->arb != NULL) {
#define _(f, doc) fprintf(out, "feed.%s.%-22s %lu\n", nm, #f, (unsigned long)fd->arb->stats.f);
			foreach_msh_arb_counter
#undef _
		}
		for (unsigned int l = 0; l < fd->n_lines; l++) {
			fprintf(out, "feed.%s.%s.%-20s %lu\n", nm, line_name[l], "datagrams",
				(unsigned long)fd->wk.st.line_pkts[l]);
			fprintf(out, "feed.%s.%s.%-20s %lu\n", nm, line_name[l], "malformed",
				(unsigned long)fd->wk.st.line_bad[l]);
			if (fd->arb == NULL)
				continue;
#define _(f, doc) fprintf(out, "feed.%s.%s.%-20s %lu\n", nm, line_name[l], #f,              \
			  (unsigned long)fd->arb->line[l].f);
			foreach_msh_arb_line_counter
#undef _
		}
	}
	for (unsigned int s = 0; s < 1 + app->dp.n_fports; s++) {
		uint64_t q = 0, r = 0, lv = 0, v2 = 0, bad = 0;

		for (unsigned int i = 0; i < app->dp.n_workers; i++) {
			const struct msh_igmp_port *p = &app->dp.workers[i]->igmp[s];

			q += p->queries;
			r += p->reports;
			lv += p->leaves;
			v2 += p->v2_reports;
			for (unsigned int k = 1; k < MSH_IGMP_E_COUNT; k++)
				bad += p->bad[k];
		}
		if (q + r + lv + v2 + bad == 0)
			continue;
		fprintf(out, "igmp.%s.queries %lu\nigmp.%s.reports %lu\nigmp.%s.leaves %lu\n"
			"igmp.%s.v2_reports %lu\nigmp.%s.malformed %lu\n",
			msh_dp_port((struct msh_dp *)&app->dp, s)->conf->name, (unsigned long)q,
			msh_dp_port((struct msh_dp *)&app->dp, s)->conf->name, (unsigned long)r,
			msh_dp_port((struct msh_dp *)&app->dp, s)->conf->name, (unsigned long)lv,
			msh_dp_port((struct msh_dp *)&app->dp, s)->conf->name, (unsigned long)v2,
			msh_dp_port((struct msh_dp *)&app->dp, s)->conf->name, (unsigned long)bad);
	}
}

/* Log what @p fd marked since the last call. */
static void
log_marks(struct msh_app_feed *fd)
{
	{
		uint64_t n = __atomic_load_n(&fd->wk.marks_n, __ATOMIC_ACQUIRE);
		uint64_t k = fd->mn.marks_logged;

		if (k == n)
			return;
		/* The oldest slot may be being overwritten: the last MARKS - 1 only. */
		if (n - k > MSH_FEED_MARKS - 1) {
			MSH_LOG(WARNING, "feed %s: %lu events not logged (more than %u at once; "
				"see the counters)", fd->conf.name,
				(unsigned long)(n - k - (MSH_FEED_MARKS - 1)), MSH_FEED_MARKS - 1);
			k = n - (MSH_FEED_MARKS - 1);
		}
		for (; k < n; k++) {
			const struct msh_feed_mark *mk = &fd->wk.marks[k % MSH_FEED_MARKS];
			char sess[MSH_NAME_LEN + 1];

			msh_name_to_str(&mk->session, sess);
			switch (mk->kind) {
			case MSH_MARK_GAP:
				MSH_LOG(WARNING, "feed %s: gap: upstream %s seq %lu-%lu (%lu messages) "
					"lost on every line; the shard goes on at seq %lu",
					fd->conf.name, sess, (unsigned long)mk->up_seq,
					(unsigned long)(mk->up_seq + mk->up_count - 1),
					(unsigned long)mk->up_count, (unsigned long)mk->shard_seq);
				break;
			case MSH_MARK_SESSION:
				MSH_LOG(NOTICE, "feed %s: upstream session %s from seq %lu, at shard "
					"seq %lu", fd->conf.name, sess, (unsigned long)mk->up_seq,
					(unsigned long)mk->shard_seq);
				break;
			case MSH_MARK_END:
				MSH_LOG(NOTICE, "feed %s: upstream session %s ended at seq %lu",
					fd->conf.name, sess, (unsigned long)mk->up_seq);
				break;
			default:
				MSH_LOG(WARNING, "feed %s: %lu messages from upstream seq %lu refused "
					"by the shard (full, or over max_message)", fd->conf.name,
					(unsigned long)mk->up_count, (unsigned long)mk->up_seq);
				break;
			}
		}
		fd->mn.marks_logged = n;
	}
}

void
msh_feeds_watch(struct msh_app *app)
{
	for (unsigned int i = 0; i < app->n_feeds; i++)
		log_marks(app->feed_list[i]);
}
