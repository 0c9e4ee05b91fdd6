/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Feed administration on the main lcore (docs/FEEDS.md): the one action that
 * creates a multicast feed (from the configuration or "feed create") and the
 * one that deletes it, the ports' multicast filters, the JSON that "feed
 * show" and telemetry give, and the log watch that reports gaps and session
 * changes the owners marked. Main side.
 */
#ifndef MSH_APP_FEEDS_H
#define MSH_APP_FEEDS_H

#include <stdio.h>

#include <jansson.h>

#include "app.h"
#include "mcast.h"

/**
 * Check @p fc against the running appliance (its shard, ports, bindings),
 * build the feed on its shard's worker and route it on every worker (the
 * owner joins). @return 0 or -1 with "feed create NAME: reason" in @p err.
 */
int msh_feeds_create(struct msh_app *app, const struct msh_feed_conf *fc, char *err,
		     size_t errlen);

/**
 * Delete a feed: its owner emits what it holds (gaps given up) and leaves
 * the groups, every worker forgets it. @return 0 or -1 with @p err.
 */
int msh_feeds_delete(struct msh_app *app, const char *name, char *err, size_t errlen);

/** The feed named @p name, or NULL. */
struct msh_app_feed *msh_feeds_find(const struct msh_app *app, const char *name);

/** The feed that feeds shard @p as, or NULL. */
struct msh_app_feed *msh_feeds_of_shard(const struct msh_app *app,
					const struct msh_app_shard *as);

/** A feed as JSON: settings, per-line counters and skew, gap state; @p full adds the marks. */
json_t *msh_feeds_json(const struct msh_app *app, const struct msh_app_feed *fd, bool full);

/** IGMP counters of every port, summed over the workers. */
json_t *msh_feeds_igmp_json(const struct msh_app *app);

/** Shutdown report lines (feed.NAME.COUNTER VALUE). */
void msh_feeds_print(const struct msh_app *app, FILE *out);

/** Log the gaps, session changes and refusals marked since the last call (main loop). */
void msh_feeds_watch(struct msh_app *app);

/** Finish deletions whose workers have answered since (main loop). */
void msh_feeds_reap(struct msh_app *app);

/** Shutdown, workers stopped: free every feed. */
void msh_feeds_free_all(struct msh_app *app);

#endif /* MSH_APP_FEEDS_H */
