/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The replication port (replicas = 2, docs/REPLICATION.md), run by worker 0,
 * which in this version owns the node state machine and every shard of a pair
 * appliance. The primary streams what it appends as DATA frames (lib/repl
 * decides, go-back-N on NAK or timeout), the secondary appends them at the
 * same sequence numbers and acks cumulatively; acks = all holds a publisher's
 * ACK until the secondary's ack passes it (acks.c). Worker side.
 */
#ifndef MSH_APP_REPL_LINK_H
#define MSH_APP_REPL_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"

/** Poll the replication port once. @return frames received. */
uint16_t msh_repl_link_rx(struct msh_worker *w);

/** Every turn: DATA the primary owes, ACKs the secondary owes; then one burst. */
void msh_repl_link_turn(struct msh_worker *w);

/**
 * Every millisecond: node timers (HELLO, failover), retransmission timers,
 * the peer's MAC and its liveness on the ingest network, lag snapshots.
 */
void msh_repl_link_housekeeping(struct msh_worker *w);

/** A shard joins the running pair: it takes the node's role and epoch. */
void msh_repl_link_shard_start(struct msh_worker *w, struct msh_app_shard *as);

/**
 * Promote (@p promote) or demote this node now (a command). @return 0, or -1
 * with "already primary" / "already secondary" in @p err.
 */
int msh_repl_link_set_role(struct msh_worker *w, bool promote, char *err, size_t errlen);

#endif /* MSH_APP_REPL_LINK_H */
