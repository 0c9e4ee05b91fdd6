/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The appliance's shared state: configuration, ports, shards with their
 * subscriptions, and per-lcore counters. The worker lcore owns every shard it
 * serves (one writer); the main lcore only reads counters, which are plain
 * 64-bit words written by one lcore (torn reads cannot happen on x86-64).
 */
#ifndef MSH_APPLIANCE_H
#define MSH_APPLIANCE_H

#include <pthread.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_ring.h>

#include "arena.h"
#include "config.h"
#include "hist.h"
#include "net.h"
#include "net/ethdev.h"
#include "repl.h"
#include "shard.h"
#include "spill_thread.h"
#include "sub.h"
#include "table.h"
#include "wire.h"

extern int msh_logtype_app;
#define MSH_LOG(level, fmt, ...)                                                                   \
	rte_log(RTE_LOG_##level, msh_logtype_app, "memshard: " fmt "\n", ##__VA_ARGS__)

/* Why the appliance dropped a packet or refused a request, beyond the codec
 * (msh_wire_err) and packet-layer (msh_net_drop) reasons. */
#define foreach_msh_app_drop                                                                       \
	_(UNKNOWN_SHARD, "shard not served here")                                                  \
	_(NO_LISTENER, "UDP to a port memshard does not serve")                                    \
	_(UNEXPECTED_TYPE, "a reply type sent to the appliance")                                   \
	_(TOKEN_BAD, "SUBSCRIBE with a wrong or stale token")                                      \
	_(RETRANS_NOT_SUBSCRIBED, "re-request from an address with no subscription")              \
	_(RETRANS_RATE_LIMITED, "re-request messages over the requester's rate")                  \
	_(NOT_PRIMARY, "publish to a secondary")                                                   \
	_(NO_MBUF, "no mbuf for a reply or feed packet")                                           \
	_(TX_FULL, "transmit queue full (reply dropped)")                                          \
	_(HANDOFF_FULL, "the owning worker's hand-off ring was full")                              \
	_(HANDOFF_STALE, "handed over for a shard that moved to another worker meanwhile")

enum msh_app_drop {
#define _(sym, doc) MSH_APP_DROP_##sym,
	foreach_msh_app_drop
#undef _
	MSH_APP_DROP_COUNT
};

/* Per-lcore event counters: one list for the struct, the shutdown report,
 * the control socket and telemetry, so their names cannot drift apart. */
#define foreach_msh_lcore_counter                                                                  \
	_(rx_pkts) _(rx_bytes) _(tx_pkts) _(tx_bytes) _(arp_replies) _(icmp_replies) _(publish)    \
	_(subscribe) _(unsubscribe) _(retrans_requests) _(feed_pkts) _(feed_msgs) _(heartbeats)   \
	_(retrans_pkts) _(retrans_msgs) _(unavailable) _(feed_rollbacks) _(subs_expired)         \
	_(handoff_out) _(handoff_in)

/** Per-lcore counters (written by that lcore only). */
struct msh_lcore_stats {
#define _(f) uint64_t f;
	foreach_msh_lcore_counter
#undef _
	uint64_t rx_first_ns, rx_last_ns; /**< wall clock of the first and last RX burst */
	uint64_t acks[MSH_S_COUNT];
	uint64_t net_drop[MSH_NET_DROP_COUNT];
	uint64_t wire_drop[MSH_WIRE_E_COUNT];
	uint64_t app_drop[MSH_APP_DROP_COUNT];
} __rte_cache_aligned;

/* Symbols of the status and drop reasons (OK, BAD_MAGIC, UNKNOWN_SHARD...),
 * from the same X-macro lists as the enums. */
extern const char *const msh_status_sym[MSH_S_COUNT];
extern const char *const msh_wire_err_sym[MSH_WIRE_E_COUNT];
extern const char *const msh_net_drop_sym[MSH_NET_DROP_COUNT];
extern const char *const msh_app_drop_sym[MSH_APP_DROP_COUNT];

/** A publisher's ACK held until its messages are on disk (storage = persistent). */
struct msh_held_ack {
	uint64_t end_seq;   /**< sent once durable_seq >= end_seq */
	uint64_t pub_seq, first_seq;
	uint32_t pub_id, ip;
	uint16_t port, count;
	uint8_t mac[6];
	uint8_t status;
};

/** A shard as the appliance serves it. */
struct msh_app_shard {
	struct msh_shard *shard;
	struct msh_subs subs;
	unsigned int worker;      /**< index of the owning worker (fixed) */
	unsigned int owner_lcore; /**< its lcore */
	/* Fan-out bookkeeping (worker only): every subscriber had everything up
	 * to fed_seq and none is behind, so a turn with nothing new skips it. */
	uint64_t fed_seq;
	bool behind;
	void *region;         /**< from the arena */
	uint64_t region_len;
	bool ended;
	/* Spill (spill = disk). The spill thread owns dir and writes disk_*
	 * (readers on the owner see them move forward only); the owner writes
	 * spill_retry_tsc; inflight counts messages the spill thread holds. */
	struct msh_spilldir *dir;
	volatile uint64_t disk_first; /**< oldest seq in a verified file, 0: none */
	volatile uint64_t disk_next;  /**< one past the newest seq on disk */
	uint32_t inflight;            /**< __atomic: requests not yet answered */
	uint64_t spill_retry_tsc;     /**< owner: no new writes before (after a failure) */
	/* storage = persistent: the journal is the spill thread's; the owner
	 * gathers appended blocks in jmsg and holds acks in pend[] until
	 * durable_seq (written by the spill thread) passes them. */
	struct msh_journal *journal;
	bool persistent;               /**< owner: acks wait for the journal */
	volatile uint64_t journal_close_at; /**< spill thread: destroy the journal once
					     * the files reach this seq (0: keep it) */
	volatile uint64_t durable_seq; /**< every seq below is on disk */
	volatile int journal_error;    /**< 0, or why nothing more becomes durable */
	struct msh_spill_msg *jmsg;
	uint64_t switch_seq;           /**< a storage change's boundary (control) */
	struct msh_held_ack *pend;
	uint32_t pend_cap, pend_head, pend_n;
	struct {
		uint64_t held, released, held_full, busy;
	} persist;
	/* replicas = 2: the shard's replication state (owner), and a snapshot of
	 * its lag the owner refreshes every millisecond for the control path. */
	struct msh_repl_shard *repl;
	struct msh_repl_lag repl_lag;
	struct hist *repl_lag_hist;    /**< append to the secondary's ack, per advancing ACK */
	uint64_t repl_not_primary; /**< publishes refused: not the primary */
	struct {
		/* spill thread */
		uint64_t files, bytes, write_errors, bad_files, reads, read_msgs, read_errors;
		int last_error;       /**< last write error (-errno), 0 if none */
		/* owner */
		uint64_t queued, queue_full, disk_feed_msgs, disk_retrans_msgs;
	} spill;
};

struct msh_app_port {
	struct msh_ethdev eth;
	struct msh_iface ifc;
	const struct msh_port_conf *conf;
};

#define MSH_MAX_LCORES 128
#define MSH_MAX_WORKERS 128

struct msh_app;
struct msh_worker;

/** A command run on a worker: 0, or -1 with a reason in @p err. */
typedef int (*msh_cmd_fn)(struct msh_app *app, struct msh_worker *w, void *arg, char *err,
			  size_t errlen);

/**
 * A command for a worker (Aeron's proxy): the main lcore enqueues it on the
 * worker's ring and waits for done; the worker runs fn between bursts.
 */
struct msh_cmd {
	msh_cmd_fn fn;
	void *arg;
	volatile int done;
	int rc;
	char err[256];
};

/**
 * A worker lcore and what it owns. Each worker has its own view of the shard
 * table (every shard, to route packets to the owner) and the list of shards
 * it owns; both change only on the worker itself, through commands, so the
 * fast path reads them without locks. Other workers reach it through its
 * hand-off ring (mbufs of packets for its shards, the parsed frame in the
 * mbuf's private area), the main lcore through its command ring.
 */
struct msh_worker {
	struct msh_app *app;
	unsigned int idx;         /**< 0 .. n_workers-1 */
	unsigned int lcore;
	int rx_queue;             /**< ingest RX queue it polls, or -1 (hand-offs only) */
	uint16_t tx_queue;        /**< its own ingest TX queue */
	struct rte_ring *cmd_ring; /**< main lcore -> this worker: struct msh_cmd */
	struct rte_ring *handoff;  /**< other workers -> this worker: mbufs (MP/SC) */
	struct msh_table *shards;  /**< name -> struct msh_app_shard, every shard */
	struct msh_app_shard *owned[MSH_CONF_MAX_SHARDS];
	unsigned int n_owned;
	struct rte_ring *spill_done; /**< spill thread -> this worker: answered requests */
	void *fast;               /**< fast-path state while its loop runs (worker.c) */
} __rte_cache_aligned;

/**
 * The pair (replicas = 2, docs/REPLICATION.md): the replication port, the
 * node state machine and the peer as seen on both networks. The node belongs
 * to worker 0, which in this version owns every shard of a pair appliance.
 */
struct msh_app_repl {
	bool on;                       /**< a replication port is configured */
	struct msh_app_port port;
	struct msh_repl_node node;
	volatile uint64_t peer_mac;    /**< the peer's MAC on the link (0: unknown) */
	volatile uint64_t peer_ingest_tsc; /**< last ARP answer from its ingest address */
	uint64_t last_probe_tsc, last_arp_tsc;
	volatile enum msh_repl_role role; /**< mirror of node.role for the control path */
	volatile uint32_t epoch;
	/* counters (worker 0) */
	uint64_t rx_frames, tx_frames, tx_dropped, rx_drop[MSH_REPL_E_COUNT], rx_stale, rx_foreign,
		rx_unknown_shard, no_peer_mac;
};

struct msh_app {
	struct msh_conf conf;
	struct msh_app_repl repl;
	struct msh_worker workers[MSH_MAX_WORKERS];
	unsigned int n_workers;
	volatile bool worker_running;
	struct msh_app_port ingest;
	struct msh_arena arena;
	/* The spill thread (app/spill.c): requests in, one ring for all workers. */
	struct rte_ring *spill_ring;
	struct rte_mempool *spill_pool;
	pthread_t spill_thread;
	volatile bool spill_running, spill_quit;
	const struct rte_memzone *arena_mz;
	struct msh_table *shards; /**< name -> struct msh_app_shard */
	struct msh_app_shard *shard_list[MSH_CONF_MAX_SHARDS];
	unsigned int n_shards;
	struct msh_token_key token_key;
	uint64_t tsc_hz;
	uint32_t epoch;
	bool no_huge;
	volatile bool quit;
	/* The telemetry thread reads shards through app->shards and shard_list
	 * while the main lcore adds and removes them: both hold this lock for
	 * that (control path only; workers have their own tables). */
	pthread_mutex_t shards_lock;
	bool tel_closed; /**< shutdown: telemetry handlers answer nothing */
	struct msh_lcore_stats stats[MSH_MAX_LCORES];
};

extern struct msh_app msh_app;

/** Token buckets: a SUBSCRIBE token is valid for 1 to 2 of these. */
#define MSH_TOKEN_PERIOD_NS (30ull * 1000000000ull)

/**
 * Create a shard from @p sc (the one action used by the configuration, and
 * later by the control socket): reserve its memory in the arena, build it,
 * publish it in the shard table. Control path (main lcore) only, before the
 * workers start or through them.
 * @return 0 or -1 with "shard create NAME: reason" in @p err.
 */
int msh_app_shard_create(struct msh_app *app, const struct msh_shard_conf *sc, char *err,
			 size_t errlen);

/**
 * Run @p fn on worker @p worker (or here, when no worker runs yet) and wait
 * for it, at most 2 s. Main lcore only. @return fn's result, or -1 with a
 * reason.
 */
int msh_app_call(struct msh_app *app, unsigned int worker, msh_cmd_fn fn, void *arg, char *err,
		 size_t errlen);

/**
 * msh_app_call() on every worker, @p first first (the owner of what changes),
 * then the others in order; stops at the first failure. Main lcore only.
 */
int msh_app_call_all(struct msh_app *app, unsigned int first, msh_cmd_fn fn, void *arg,
		     char *err, size_t errlen);

/** Run queued commands (worker @p w, between bursts). */
void msh_worker_commands(struct msh_app *app, struct msh_worker *w);

/** Delete a shard: end its MoldUDP64 session, free its memory. Main lcore. */
int msh_app_shard_delete(struct msh_app *app, const struct msh_name *name, char *err,
			 size_t errlen);

/** Command (worker 0): promote (*arg 1) or demote (*arg 0) this node. */
int msh_worker_repl_promote(struct msh_app *app, struct msh_worker *w, void *arg, char *err,
			    size_t errlen);

/** Send end of session to every subscriber of @p as (its owner worker @p w). */
void msh_worker_end_session(struct msh_worker *w, struct msh_app_shard *as);

/** Sum of every lcore's counters. */
void msh_app_stats_sum(const struct msh_app *app, struct msh_lcore_stats *sum);

/** Print the counters (non-zero ones) as "name value" lines. */
void msh_app_stats_print(const struct msh_app *app, FILE *out);

/** Worker lcore entry (rte_eal_remote_launch); @p arg is its struct msh_worker. */
int msh_worker_main(void *arg);

/** Build EAL arguments from the configuration and start EAL. @return 0 or -1 (logged). */
int msh_eal_start(struct msh_app *app, int extra_argc, char **extra_argv, char *err,
		  size_t errlen);

/** Open the control socket ([appliance] control_socket). @return 0 or -1 with @p err. */
int msh_control_open(struct msh_app *app, char *err, size_t errlen);
/** Serve control clients for at most @p timeout_ms (main lcore loop). */
void msh_control_poll(struct msh_app *app, int timeout_ms);
/** Close every client and remove the socket. */
void msh_control_close(void);
/** Register the read-only statistics with DPDK telemetry (/memshard/...). */
void msh_telemetry_register(struct msh_app *app);

/** Daemon body after the configuration is loaded. @return process exit status. */
int msh_appliance_run(struct msh_app *app, int extra_argc, char **extra_argv);

#endif /* MSH_APPLIANCE_H */
