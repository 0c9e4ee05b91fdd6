/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Publisher ACKs, sent at once or held until a watermark passes them: the
 * journal's durable_seq (storage = persistent) or the secondary's ack
 * (replicas = 2, acks = all; the queue is lib/repl's). Worker side: the
 * shard's owner only.
 */
#ifndef MSH_APP_ACKS_H
#define MSH_APP_ACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane.h"

/** Where an ACK goes: the source of the PUBLISH it answers. */
struct msh_ack_to {
	uint8_t mac[6];
	uint32_t ip;
	uint16_t port;
};

/** Build and queue one ACK on the worker's ingest queue (counted by status). */
void msh_ack_send(struct msh_worker *w, const struct msh_ack_to *to, const struct msh_name *shard,
		  uint8_t status, uint16_t count, uint32_t pub_id, uint64_t pub_seq,
		  uint64_t shard_seq);

/**
 * Ack a PUBLISH that could not be parsed or placed, echoing what of its
 * publisher_id and publisher_seq the datagram (@p payload) is long enough to hold.
 */
void msh_ack_refused(struct msh_worker *w, const struct msh_ack_to *to,
		     const struct msh_name *shard, const uint8_t *payload, uint32_t len,
		     uint8_t status);

/** Room to hold one more ACK of @p as until the journal has its messages. */
static inline bool
msh_ack_can_hold(const struct msh_app_shard *as)
{
	return as->wk.pend_n < as->pend_cap;
}

/** Hold an ACK until durable_seq reaches @p end_seq (room checked first). */
void msh_ack_hold(struct msh_app_shard *as, const struct msh_ack_to *to, uint64_t end_seq,
		  uint8_t status, uint16_t count, uint32_t pub_id, uint64_t pub_seq,
		  uint64_t first_seq);

/**
 * Send the held ACKs of @p as whose watermark has passed: the journal's for
 * persistence, the secondary's for acks = all. With @p demoted, every ACK held
 * for the secondary is answered NOT_PRIMARY (the publisher retries at the new
 * primary, whose dedupe decides).
 */
void msh_acks_release(struct msh_worker *w, struct msh_app_shard *as, bool demoted);

#endif /* MSH_APP_ACKS_H */
