/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Typed calls to the workers (proxy.h). The message belongs to the worker
 * from the moment it is queued until its state says DONE; a caller that
 * gives up moves the state to ABANDONED with one compare-and-swap, and which
 * side won that decides who frees it (worker_cmd.h), so nothing ever points
 * into a stack frame that has gone.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "mcast.h"
#include "proxy.h"

int
msh_proxy_init(struct msh_dp *dp, char *err, size_t errlen)
{
	/* No per-lcore cache: the main lcore takes, any worker gives back. */
	dp->cmd_pool = rte_mempool_create("msh_cmds", MSH_CMD_POOL, sizeof(struct msh_cmd), 0, 0,
					  NULL, NULL, NULL, NULL, dp->ingest.eth.socket, 0);
	if (dp->cmd_pool == NULL) {
		snprintf(err, errlen, "no memory for %u worker commands", MSH_CMD_POOL);
		return -1;
	}
	return 0;
}

void
msh_proxy_fini(struct msh_dp *dp)
{
	rte_mempool_free(dp->cmd_pool);
	dp->cmd_pool = NULL;
}

static struct msh_cmd *
cmd_new(struct msh_dp *dp, enum msh_cmd_type type, char *err, size_t errlen)
{
	struct msh_cmd *c;
	void *obj;

	if (rte_mempool_get(dp->cmd_pool, &obj) != 0) {
		snprintf(err, errlen, "every command message is in use (workers not answering?); "
			 "try again");
		return NULL;
	}
	c = obj;
	memset(c, 0, offsetof(struct msh_cmd, err));
	c->err[0] = '\0';
	c->type = type;
	c->state = MSH_CMD_PENDING;
	return c;
}

static void
cmd_free(struct msh_dp *dp, struct msh_cmd *c)
{
	rte_mempool_put(dp->cmd_pool, c);
}

/* Queue @p c for worker @p i. @return 0, or -1 (c freed). */
static int
post(struct msh_dp *dp, unsigned int i, struct msh_cmd *c, char *err, size_t errlen)
{
	if (rte_ring_enqueue(dp->workers[i]->cmd_ring, c) != 0) {
		cmd_free(dp, c);
		snprintf(err, errlen, "worker %u's command ring is full; try again", i);
		return -1;
	}
	return 0;
}

/* The answer of @p c, which the caller owns again (freed here). */
static int
answer(struct msh_dp *dp, struct msh_cmd *c, uint64_t *out, char *err, size_t errlen)
{
	int rc = c->rc;

	if (rc != 0)
		snprintf(err, errlen, "%s", c->err[0] ? c->err : "failed");
	if (out != NULL)
		*out = c->out;
	cmd_free(dp, c);
	return rc;
}

static bool
give_up(struct msh_cmd *c, uint32_t from)
{
	return __atomic_compare_exchange_n(&c->state, &from, MSH_CMD_ABANDONED, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Wait for worker @p i to answer @p c (queued). */
static int
await(struct msh_dp *dp, unsigned int i, struct msh_cmd *c, uint64_t *out, char *err,
      size_t errlen)
{
	uint64_t hz = rte_get_timer_hz(), start = rte_get_timer_cycles();
	uint64_t queued_end = start + hz * MSH_PROXY_WAIT_MS / 1000;
	uint64_t running_end = queued_end + hz * MSH_PROXY_RUNNING_MS / 1000;
	const struct msh_worker *w = dp->workers[i];

	for (;;) {
		uint32_t st = __atomic_load_n(&c->state, __ATOMIC_ACQUIRE);
		uint64_t now = rte_get_timer_cycles();

		if (st == MSH_CMD_DONE)
			return answer(dp, c, out, err, errlen);
		if (st == MSH_CMD_PENDING && now > queued_end && give_up(c, MSH_CMD_PENDING)) {
			snprintf(err, errlen, "worker %u (lcore %u) did not answer within %u ms; not "
				 "applied", i, w->lcore, MSH_PROXY_WAIT_MS);
			return -1;
		}
		if (st == MSH_CMD_RUNNING && now > running_end && give_up(c, MSH_CMD_RUNNING)) {
			snprintf(err, errlen, "worker %u (lcore %u) is still running the command "
				 "after %u ms; its outcome is unknown", i, w->lcore,
				 MSH_PROXY_WAIT_MS + MSH_PROXY_RUNNING_MS);
			return -1;
		}
		rte_delay_us_sleep(20);
	}
}

/* Run @p c on worker @p i and wait for it (here when it is not launched). */
static int
call(struct msh_dp *dp, unsigned int i, struct msh_cmd *c, uint64_t *out, char *err,
     size_t errlen)
{
	struct msh_worker *w = dp->workers[i];

	if (!w->running) {
		msh_worker_cmd_run(w, c);
		return answer(dp, c, out, err, errlen);
	}
	if (post(dp, i, c, err, errlen) != 0)
		return -1;
	return await(dp, i, c, out, err, errlen);
}

/* A command of @p type for worker @p i with the shard argument @p as. */
static int
call_shard(struct msh_dp *dp, unsigned int i, enum msh_cmd_type type, struct msh_app_shard *as,
	   uint64_t *out, char *err, size_t errlen)
{
	struct msh_cmd *c = cmd_new(dp, type, err, errlen);

	if (c == NULL)
		return -1;
	c->arg.shard = as;
	return call(dp, i, c, out, err, errlen);
}

int
msh_proxy_shard_add(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen)
{
	if (call_shard(dp, as->worker, MSH_CMD_SHARD_ADD, as, NULL, err, errlen) != 0)
		return -1;
	for (unsigned int i = 0; i < dp->n_workers; i++)
		if (i != as->worker &&
		    call_shard(dp, i, MSH_CMD_SHARD_ADD, as, NULL, err, errlen) != 0)
			return -1;
	return 0;
}

int
msh_proxy_feed_add(struct msh_dp *dp, struct msh_app_feed *fd, char *err, size_t errlen)
{
	for (unsigned int k = 0; k < dp->n_workers; k++) {
		unsigned int i = k == 0 ? fd->worker : (k <= fd->worker ? k - 1 : k);
		struct msh_cmd *c = cmd_new(dp, MSH_CMD_FEED_ADD, err, errlen);

		if (c == NULL)
			return -1;
		c->arg.feed = fd;
		if (call(dp, i, c, NULL, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* A delete of @p type on every worker, @p owner first: every message is
 * taken before any is sent (msh_proxy_shard_del). */
static int
del_all(struct msh_dp *dp, enum msh_cmd_type type, unsigned int owner, void *arg,
	struct msh_del_cmds *d, char *err, size_t errlen)
{
	uint64_t end = rte_get_timer_cycles() + rte_get_timer_hz() * MSH_PROXY_WAIT_MS / 1000;

	memset(d, 0, sizeof(*d));
	for (unsigned int i = 0; i < dp->n_workers; i++) {
		d->cmd[i] = cmd_new(dp, type, err, errlen);
		if (d->cmd[i] == NULL) {
			for (unsigned int k = 0; k < i; k++)
				cmd_free(dp, d->cmd[k]);
			memset(d, 0, sizeof(*d));
			return -1;
		}
		if (type == MSH_CMD_FEED_DEL)
			d->cmd[i]->arg.feed = arg;
		else
			d->cmd[i]->arg.shard = arg;
	}
	/* The owner first (it ends the session), then the others. */
	for (unsigned int k = 0; k < dp->n_workers; k++) {
		unsigned int i = k == 0 ? owner : (k <= owner ? k - 1 : k);
		struct msh_worker *w = dp->workers[i];

		if (!w->running) {
			msh_worker_cmd_run(w, d->cmd[i]);
			cmd_free(dp, d->cmd[i]);
			d->cmd[i] = NULL;
		} else {
			d->sent[i] = rte_ring_enqueue(w->cmd_ring, d->cmd[i]) == 0;
		}
	}
	while (!msh_proxy_del_poll(dp, d) && rte_get_timer_cycles() < end)
		rte_delay_us_sleep(20);
	return 0;
}

int
msh_proxy_shard_del(struct msh_dp *dp, struct msh_app_shard *as, struct msh_del_cmds *d,
		    char *err, size_t errlen)
{
	return del_all(dp, MSH_CMD_SHARD_DEL, as->worker, as, d, err, errlen);
}

int
msh_proxy_feed_del(struct msh_dp *dp, struct msh_app_feed *fd, struct msh_del_cmds *d,
		   char *err, size_t errlen)
{
	return del_all(dp, MSH_CMD_FEED_DEL, fd->worker, fd, d, err, errlen);
}

bool
msh_proxy_del_poll(struct msh_dp *dp, struct msh_del_cmds *d)
{
	bool all = true;

	for (unsigned int i = 0; i < dp->n_workers; i++) {
		struct msh_cmd *c = d->cmd[i];

		if (c == NULL)
			continue;
		if (!d->sent[i])
			d->sent[i] = rte_ring_enqueue(dp->workers[i]->cmd_ring, c) == 0;
		if (d->sent[i] && __atomic_load_n(&c->state, __ATOMIC_ACQUIRE) == MSH_CMD_DONE) {
			cmd_free(dp, c);
			d->cmd[i] = NULL;
			continue;
		}
		all = false;
	}
	return all;
}

int
msh_proxy_shard_set(struct msh_dp *dp, const struct msh_cmd_set *set, char *err, size_t errlen)
{
	struct msh_cmd *c = cmd_new(dp, MSH_CMD_SHARD_SET, err, errlen);

	if (c == NULL)
		return -1;
	c->arg.set = *set;
	return call(dp, set->as->worker, c, NULL, err, errlen);
}

int
msh_proxy_shard_seal(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen)
{
	return call_shard(dp, as->worker, MSH_CMD_SHARD_SEAL, as, NULL, err, errlen);
}

int
msh_proxy_sub_kick(struct msh_dp *dp, uint32_t ip, int32_t port, uint64_t *kicked, char *err,
		   size_t errlen)
{
	*kicked = 0;
	for (unsigned int i = 0; i < dp->n_workers; i++) {
		struct msh_cmd *c = cmd_new(dp, MSH_CMD_SUB_KICK, err, errlen);
		uint64_t n = 0;

		if (c == NULL)
			return -1;
		c->arg.kick.ip = ip;
		c->arg.kick.port = port;
		if (call(dp, i, c, &n, err, errlen) != 0)
			return -1;
		*kicked += n;
	}
	return 0;
}

int
msh_proxy_storage_seal(struct msh_dp *dp, struct msh_app_shard *as, uint64_t *boundary,
		       char *err, size_t errlen)
{
	return call_shard(dp, as->worker, MSH_CMD_STORAGE_SEAL, as, boundary, err, errlen);
}

int
msh_proxy_go_persistent(struct msh_dp *dp, struct msh_app_shard *as, uint64_t from_seq,
			char *err, size_t errlen)
{
	struct msh_cmd *c = cmd_new(dp, MSH_CMD_GO_PERSISTENT, err, errlen);

	if (c == NULL)
		return -1;
	c->arg.persistent.as = as;
	c->arg.persistent.from_seq = from_seq;
	return call(dp, as->worker, c, NULL, err, errlen);
}

int
msh_proxy_go_memory(struct msh_dp *dp, struct msh_app_shard *as, char *err, size_t errlen)
{
	return call_shard(dp, as->worker, MSH_CMD_GO_MEMORY, as, NULL, err, errlen);
}

int
msh_proxy_repl_role(struct msh_dp *dp, bool promote, char *err, size_t errlen)
{
	struct msh_cmd *c = cmd_new(dp, MSH_CMD_REPL_ROLE, err, errlen);

	if (c == NULL)
		return -1;
	c->arg.role.promote = promote;
	return call(dp, 0, c, NULL, err, errlen);
}

int
msh_proxy_stall(struct msh_dp *dp, unsigned int worker, uint32_t ms, char *err, size_t errlen)
{
	struct msh_cmd *c;

	if (worker >= dp->n_workers) {
		snprintf(err, errlen, "no worker %u (there are %u)", worker, dp->n_workers);
		return -1;
	}
	if (!dp->workers[worker]->running) {
		snprintf(err, errlen, "worker %u is not running", worker);
		return -1;
	}
	c = cmd_new(dp, MSH_CMD_STALL, err, errlen);
	if (c == NULL)
		return -1;
	c->arg.stall.ms = ms;
	c->state = MSH_CMD_DETACHED;
	return post(dp, worker, c, err, errlen);
}
