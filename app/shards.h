/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Shard administration on the main lcore: the one action that creates a
 * shard (used by the configuration and the control socket alike) and the one
 * that deletes it, which is also the unwind path of a create that failed
 * after a worker took the shard. A deleted shard's memory goes back once
 * every worker has let go of it and the spill thread answered everything
 * asked about it; a worker that does not answer in time leaves a tombstone
 * that msh_shards_reap() finishes later. Main side.
 */
#ifndef MSH_APP_SHARDS_H
#define MSH_APP_SHARDS_H

#include <stddef.h>

#include "app.h"

/**
 * Create a shard from @p sc: reserve its memory in the arena, recover its
 * files, build it, hand it to its worker and every other, publish it in the
 * shard table. @return 0 or -1 with "shard create NAME: reason" in @p err.
 */
int msh_shards_create(struct msh_app *app, const struct msh_shard_conf *sc, char *err,
		      size_t errlen);

/**
 * Delete a shard: its subscribers get end of session, every worker forgets
 * it, its memory goes back to the arena (at once, or once its workers answer).
 * @return 0, or -1 with "shard delete NAME: reason" in @p err.
 */
int msh_shards_delete(struct msh_app *app, const struct msh_name *name, char *err, size_t errlen);

/** Finish deletions whose workers have answered since (main loop). */
void msh_shards_reap(struct msh_app *app);

/** Shutdown, workers stopped: free what every shard and tombstone holds. */
void msh_shards_free_all(struct msh_app *app);

#endif /* MSH_APP_SHARDS_H */
