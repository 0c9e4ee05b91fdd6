/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The main lcore's side of spill and persistence: recovering a shard's files
 * and journal before it is published, changing a live shard's storage
 * (through the owner's proxy commands and spill messages, never by writing
 * what the spill thread owns), freeing what a withdrawn shard held, and the
 * shutdown flush. Main side.
 */
#ifndef MSH_APP_SPILL_ADMIN_H
#define MSH_APP_SPILL_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "app.h"

/**
 * Recover a spill shard's files before it is built: sets the disk range from
 * the verified files, logs and counts every file that is not served.
 * @return the shard's next sequence number (1 when there are no files), or 0
 * with a reason in @p err.
 */
uint64_t msh_spill_recover(struct msh_app *app, struct msh_app_shard *as,
			   const struct msh_shard_conf *c, char *err, size_t errlen);

/**
 * storage = persistent, after the shard is built from its spill files and
 * before it is published: replay the journal into it (re-appending what the
 * files lack), open it for appends, set durable_seq. @return 0 or -1 with @p err.
 */
int msh_spill_journal_open(struct msh_app *app, struct msh_app_shard *as, char *err,
			   size_t errlen);

/**
 * Change a live shard's storage. To persistent: the owner seals the active
 * segment, a journal opened at the boundary is handed to the spill thread,
 * and the owner holds acks of messages from there on until they are on disk.
 * To memory: acks stop waiting at once; the journal stays until the segment
 * sealed at the switch is in a spill file. @return 0 or -1 with @p err.
 */
int msh_spill_set_storage(struct msh_app *app, struct msh_app_shard *as, enum msh_storage to,
			  char *err, size_t errlen);

/** Free what the spill side holds for @p as (withdrawn, no requests in flight). */
void msh_spill_forget(struct msh_app *app, struct msh_app_shard *as);

/**
 * At shutdown, workers stopped: seal every spill shard's active segment and
 * write whatever is not on disk yet (bounded: 30 s, and one try after a write
 * error), so a restart finds all of it.
 */
void msh_spill_flush(struct msh_app *app, uint64_t now_ns);

#endif /* MSH_APP_SPILL_ADMIN_H */
