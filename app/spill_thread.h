/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The spill thread: the only place that does disk I/O for shards. Workers
 * send it messages over one multi-producer ring (write this sealed segment,
 * read this range back from the files); it answers each on the owning
 * worker's reply ring, so a worker never blocks on a disk and the segment it
 * asked about stays its own (a segment waiting to be written is pinned with
 * MSH_SEG_F_SPILL_PENDING and never reused). It runs as a DPDK control thread
 * (rte_ctrl_thread_create) on the control-plane CPUs, not on a worker's.
 */
#ifndef MSH_APP_SPILL_THREAD_H
#define MSH_APP_SPILL_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct msh_app;
struct msh_app_shard;
struct msh_segment;

/** Bytes of message blocks one read brings back (one round trip). */
#define MSH_SPILL_CHUNK (48u * 1024u)

enum msh_spill_op {
	MSH_SPILL_OP_WRITE = 0, /**< write seg to a file; reply: rc */
	MSH_SPILL_OP_READ,      /**< read [seq, end) from the files; reply: the blocks */
	MSH_SPILL_OP_JOURNAL,   /**< append count blocks from first_seq to the journal */
	MSH_SPILL_OP_CLOSE_JOURNAL, /**< storage = memory: drop the journal once seq is spilled */
};

/** A request to the spill thread and, filled in, its reply. */
struct msh_spill_msg {
	enum msh_spill_op op;
	int rc;                   /**< reply: 0 or -errno / -spill error */
	struct msh_app_shard *as;
	struct msh_segment *seg;  /**< WRITE */
	/* READ: where the blocks go once the worker has them. */
	uint64_t seq, end;        /**< wanted [seq, end) */
	uint32_t sub_idx;         /**< subscriber slot it feeds, or UINT32_MAX: a re-request */
	uint32_t ip;
	uint16_t port;
	uint8_t mac[6];
	/* READ reply: whole blocks from first_seq. */
	uint64_t first_seq;
	uint32_t count, len;
	uint8_t data[MSH_SPILL_CHUNK];
};

/** Start the spill thread if any shard may spill. @return 0 or -1 with @p err. */
int msh_spill_start(struct msh_app *app, char *err, size_t errlen);
/** Stop it after it has answered everything queued. */
void msh_spill_stop(struct msh_app *app);

/**
 * Recover a spill shard's files before it is built (main lcore): sets
 * as->disk_first/disk_next from the verified files, logs and counts every
 * file that is not served. @return the shard's next sequence number (1 when
 * there are no files), or 0 with a reason in @p err.
 */
uint64_t msh_spill_recover(struct msh_app *app, struct msh_app_shard *as,
			   const struct msh_shard_conf *c, char *err, size_t errlen);
/**
 * storage = persistent, after the shard is built from its spill files (main
 * lcore): replay the journal into it (re-appending what the files lack), open
 * the journal for appends, set durable_seq. @return 0 or -1 with @p err.
 */
int msh_spill_journal_open(struct msh_app *app, struct msh_app_shard *as, char *err,
			   size_t errlen);
/**
 * Owner: make room in the shard's journal message for @p len more bytes of
 * blocks (sending the full one to the spill thread). @return 0, or -1 when no
 * message could be had: refuse the publish (backpressure).
 */
int msh_spill_journal_room(struct msh_app *app, struct msh_app_shard *as, uint32_t len);
/**
 * Owner: copy messages [first_seq, first_seq + count) of the shard into its
 * journal message (room made first). @return messages copied.
 */
uint32_t msh_spill_journal_add(struct msh_app_shard *as, uint64_t first_seq, uint32_t count);
/** Owner: send the gathered journal message to the spill thread. */
void msh_spill_journal_flush(struct msh_app *app, struct msh_app_shard *as);
/**
 * Change a live shard's storage (main lcore). To persistent: the active
 * segment is sealed, a journal opened at the boundary, and acks of messages
 * from there on wait for the disk. To memory: acks stop waiting at once; the
 * journal stays until the segment sealed at the switch is in a spill file.
 * @return 0 or -1 with @p err.
 */
int msh_spill_set_storage(struct msh_app *app, struct msh_app_shard *as, enum msh_storage to,
			  char *err, size_t errlen);
/** Free what the spill thread holds for @p as (main lcore, no requests in flight). */
void msh_spill_forget(struct msh_app *app, struct msh_app_shard *as);

/** Worker: queue every sealed segment of @p as not yet written or pending. */
void msh_spill_kick(struct msh_app *app, struct msh_app_shard *as, uint64_t tsc);
/**
 * Worker: ask for [seq, end) of @p as to be read back for subscriber slot
 * @p sub_idx (or UINT32_MAX: a re-request to ip:port via mac).
 * @return 0, or -1 when no message could be had (try again later).
 */
int msh_spill_read_req(struct msh_app *app, struct msh_app_shard *as, uint64_t seq, uint64_t end,
		       uint32_t sub_idx, const uint8_t *mac, uint32_t ip, uint16_t port);
/** Worker: give a reply back once handled. */
void msh_spill_msg_free(struct msh_app *app, struct msh_spill_msg *m);
/**
 * Owner (or main, once the workers stopped): apply a WRITE reply to its
 * segment: on disk (then freed at once under spill_release = eager), or back
 * to unspilled with a retry after a pause.
 */
void msh_spill_written(struct msh_app *app, struct msh_spill_msg *m, uint64_t tsc);
/**
 * Main lcore at shutdown, workers stopped: seal every spill shard's active
 * segment and write whatever is not on disk yet (bounded: 30 s, and one try
 * after a write error), so a restart finds all of it.
 */
void msh_spill_flush(struct msh_app *app, uint64_t now_ns);

#endif /* MSH_APP_SPILL_THREAD_H */
