/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Every handler of a proxy command, run on the worker (worker_cmd.h). A
 * handler changes only what its worker owns, and never waits on another
 * thread: where the spill thread's pool or ring has no room it answers
 * "busy; try again" and leaves the shard as it was.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>

#include "clock.h"
#include "feed.h"
#include "mcast.h"
#include "repl_link.h"
#include "spill_client.h"
#include "worker_cmd.h"

/* Every worker routes the name to the owner; the owner also serves it. */
static int
shard_add(struct msh_worker *w, struct msh_app_shard *as, char *err, size_t errlen)
{
	int rc = msh_table_add(w->shards, &as->shard->conf.name, as);

	if (rc != 0) {
		snprintf(err, errlen, "worker %u's shard table: %s", w->idx,
			 rc == -EEXIST ? "name exists" : "full");
		return -1;
	}
	if (as->worker == w->idx) {
		w->owned[w->n_owned++] = as;
		/* A shard created on a running pair takes the node's role. */
		if (as->repl != NULL && w->running)
			msh_repl_link_shard_start(w, as);
	}
	return 0;
}

/* The owner ends the session; every worker forgets the name (packets for it
 * are then UNKNOWN_SHARD). Idempotent. */
static int
shard_del(struct msh_worker *w, struct msh_app_shard *as)
{
	struct msh_spill_svc *svc = &w->dp->spill;

	if (as->worker == w->idx) {
		if (w->running)
			msh_feed_end_session(w, as);
		as->wk.ended = true; /* spill answers still on their way are dropped */
		/* A journal message being gathered: what it holds goes to the
		 * journal, an empty one back to the pool (it counts in flight). */
		if (msh_spill_journal_flush(svc, as) != 0 || as->wk.jmsg != NULL)
			msh_spill_journal_drop(svc, as);
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

static int
shard_set(const struct msh_cmd_set *a, char *err, size_t errlen)
{
	struct msh_shard *s = a->as->shard;

	if (a->max_bytes != s->conf.max_bytes && msh_shard_set_max_bytes(s, a->max_bytes) != 0) {
		char b1[32], b2[32];

		snprintf(err, errlen, "max_bytes: %s is beyond the %s reserved at creation or "
			 "below two segments (delete and create the shard to grow it)",
			 msh_fmt_size(a->max_bytes, b1, sizeof(b1)),
			 msh_fmt_size((uint64_t)s->n_slots * s->slot_bytes, b2, sizeof(b2)));
		return -1;
	}
	msh_shard_set_on_full(s, a->on_full);
	s->conf.segment_age_ns = a->segment_age_ns;
	return 0;
}

/* On each worker: drop the matching subscriptions of the shards it owns. */
static uint64_t
sub_kick(struct msh_worker *w, uint32_t ip, int32_t port)
{
	uint64_t kicked = 0;

	for (unsigned int i = 0; i < w->n_owned; i++) {
		struct msh_subs *t = &w->owned[i]->wk.subs;

		for (uint32_t j = 0; j < t->max; j++)
			if (t->sub[j].used && t->sub[j].ip == ip &&
			    (port < 0 || t->sub[j].port == port)) {
				msh_subs_del(t, &t->sub[j]);
				kicked++;
			}
	}
	return kicked;
}

/* Journal what came in since the storage seal, then hold acks from now on. */
static int
go_persistent(struct msh_worker *w, struct msh_app_shard *as, uint64_t from, char *err,
	      size_t errlen)
{
	struct msh_spill_svc *svc = &w->dp->spill;
	uint64_t seq = from, end = as->shard->next_seq;

	while (seq < end) {
		uint32_t n = (uint32_t)RTE_MIN(end - seq, (uint64_t)64);
		struct msh_span sp;

		/* Room for n messages of up to max_message bytes each. */
		if (msh_shard_read(as->shard, seq, n, MSH_SPILL_CHUNK, &sp) <= 0 ||
		    msh_spill_journal_room(svc, as, sp.len) != 0 ||
		    msh_spill_journal_add(as, seq, sp.count) != sp.count) {
			snprintf(err, errlen, "the spill thread is busy; try again");
			/* Nothing of this half-made switch may reach the journal. */
			msh_spill_journal_drop(svc, as);
			return -1;
		}
		seq += sp.count;
	}
	msh_spill_journal_flush(svc, as); /* or on the next turn */
	as->wk.persistent = true;
	as->shard->conf.storage = MSH_STORAGE_PERSISTENT;
	return 0;
}

/* Acks stop waiting; what the journal holds stays until its segment (sealed
 * here) is in a spill file, then the spill thread removes it. Every step that
 * can fail comes before the first that changes the shard (a seal is a
 * segment boundary, harmless). */
static int
go_memory(struct msh_worker *w, struct msh_app_shard *as, char *err, size_t errlen)
{
	struct msh_spill_svc *svc = &w->dp->spill;
	struct msh_spill_msg *m = msh_spill_msg_get(svc, as, MSH_SPILL_OP_CLOSE_JOURNAL);

	if (m == NULL || msh_spill_journal_flush(svc, as) != 0) {
		if (m != NULL)
			msh_spill_msg_put(svc, m);
		snprintf(err, errlen, "the spill thread is busy; try again");
		return -1;
	}
	msh_shard_seal(as->shard, msh_wall_ns());
	m->seq = as->shard->next_seq;
	if (msh_spill_send(svc, m) != 0) {
		snprintf(err, errlen, "the spill thread is busy; try again");
		return -1;
	}
	as->wk.persistent = false;
	as->shard->conf.storage = MSH_STORAGE_MEMORY;
	return 0;
}

/* Fault injection for tests (debug stall): the worker does nothing else for
 * @p ms, as a stuck worker would. */
static void
stall(uint32_t ms)
{
	uint64_t end = rte_rdtsc() + (rte_get_tsc_hz() / 1000) * ms;

	while (rte_rdtsc() < end)
		;
}

static int
run(struct msh_worker *w, struct msh_cmd *c)
{
	char *err = c->err;
	size_t errlen = sizeof(c->err);

	c->out = 0;
	switch (c->type) {
	case MSH_CMD_SHARD_ADD:
		return shard_add(w, c->arg.shard, err, errlen);
	case MSH_CMD_SHARD_DEL:
		return shard_del(w, c->arg.shard);
	case MSH_CMD_SHARD_SET:
		return shard_set(&c->arg.set, err, errlen);
	case MSH_CMD_SHARD_SEAL:
		if (msh_shard_seal(c->arg.shard->shard, msh_wall_ns()) != 0) {
			snprintf(err, errlen, "nothing to seal: the active segment is empty");
			return -1;
		}
		return 0;
	case MSH_CMD_SUB_KICK:
		c->out = sub_kick(w, c->arg.kick.ip, c->arg.kick.port);
		return 0;
	case MSH_CMD_STORAGE_SEAL:
		msh_shard_seal(c->arg.shard->shard, msh_wall_ns()); /* empty: a boundary already */
		c->out = c->arg.shard->shard->next_seq;
		return 0;
	case MSH_CMD_GO_PERSISTENT:
		return go_persistent(w, c->arg.persistent.as, c->arg.persistent.from_seq, err,
				     errlen);
	case MSH_CMD_GO_MEMORY:
		return go_memory(w, c->arg.shard, err, errlen);
	case MSH_CMD_REPL_ROLE:
		if (!w->repl) {
			snprintf(err, errlen, "worker %u does not run the replication port", w->idx);
			return -1;
		}
		return msh_repl_link_set_role(w, c->arg.role.promote, err, errlen);
	case MSH_CMD_STALL:
		stall(c->arg.stall.ms);
		return 0;
	case MSH_CMD_FEED_ADD:
		return msh_mcast_feed_add(w, c->arg.feed, err, errlen);
	case MSH_CMD_FEED_DEL:
		msh_mcast_feed_del(w, c->arg.feed);
		return 0;
	}
	snprintf(err, errlen, "unknown command %d", (int)c->type);
	return -1;
}

void
msh_worker_cmd_run(struct msh_worker *w, struct msh_cmd *c)
{
	c->err[0] = '\0';
	c->rc = run(w, c);
	w->st.cmds_run++;
}

void
msh_worker_cmd_drain(struct msh_worker *w)
{
	void *obj;

	while (rte_ring_sc_dequeue(w->cmd_ring, &obj) == 0) {
		struct msh_cmd *c = obj;
		uint32_t st = MSH_CMD_PENDING;

		if (__atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == MSH_CMD_DETACHED) {
			msh_worker_cmd_run(w, c);
			rte_mempool_put(w->dp->cmd_pool, c);
			continue;
		}
		if (!__atomic_compare_exchange_n(&c->state, &st, MSH_CMD_RUNNING, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			/* The caller gave up before it ran: never run late. */
			w->st.cmds_late++;
			rte_mempool_put(w->dp->cmd_pool, c);
			continue;
		}
		msh_worker_cmd_run(w, c);
		st = MSH_CMD_RUNNING;
		if (!__atomic_compare_exchange_n(&c->state, &st, MSH_CMD_DONE, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			/* It gave up while this ran: nobody reads the answer. */
			w->st.cmds_late++;
			rte_mempool_put(w->dp->cmd_pool, c);
		}
	}
}
