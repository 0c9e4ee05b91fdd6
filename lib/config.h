/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The appliance configuration: one INI file (libinih) with an [appliance]
 * section, one [port NAME] section per DPDK port, one [shard NAME] section
 * per shard declared at start and one [feed NAME] section per multicast feed
 * taken in. config/memshard.conf documents every key.
 *
 * Keys are set through one function per section (msh_conf_set_*), shared by the
 * file loader, the control socket (shard create / shard set) and the tests, so
 * that a value is checked the same way wherever it comes from. Errors keep their
 * context: "memshard.conf:12: [shard ticks] segment_bytes: '3X' is not a size
 * (use a number with an optional K, M, G or T suffix, e.g. 64M)".
 *
 * Control path only; not thread-safe.
 */
#ifndef MSH_CONFIG_H
#define MSH_CONFIG_H

#include <stdio.h>

#include "common.h"

#define MSH_CONF_ERR_LEN 256
/** Lcore ids [appliance] lcores may name: 0 to MSH_CONF_MAX_LCORE - 1. The appliance
 * indexes its per-lcore state by rte_lcore_id(), so app/ static-asserts this equal to
 * the RTE_MAX_LCORE of the DPDK it is built with (128 in Debian's). The lib does not
 * include DPDK, hence a number of its own. */
#define MSH_CONF_MAX_LCORE 128
#define MSH_CONF_MAX_PORTS 4
#define MSH_CONF_MAX_SHARDS 256
#define MSH_CONF_PATH_LEN 256
#define MSH_CONF_PORT_NAME_LEN 32
#define MSH_CONF_MAX_FEEDS 32
/** A feed's two lines: line A is 0, line B is 1 (lib/arb.h's MSH_ARB_LINES). */
#define MSH_CONF_FEED_LINES 2

enum msh_storage { MSH_STORAGE_MEMORY = 0, MSH_STORAGE_PERSISTENT };
enum msh_on_full { MSH_ON_FULL_REJECT = 0, MSH_ON_FULL_EVICT };
enum msh_acks { MSH_ACKS_ONE = 1, MSH_ACKS_ALL = 2 };
enum msh_spill { MSH_SPILL_OFF = 0, MSH_SPILL_DISK };
enum msh_spill_release { MSH_RELEASE_EAGER = 0, MSH_RELEASE_LAZY };
enum msh_idle { MSH_IDLE_SPIN = 0, MSH_IDLE_BACKOFF };
enum msh_hugepages { MSH_HUGE_AUTO = 0, MSH_HUGE_REQUIRE, MSH_HUGE_OFF };
enum msh_port_role { MSH_PORT_INGEST = 0, MSH_PORT_REPLICATION, MSH_PORT_FEED };
enum msh_start_role { MSH_START_SECONDARY = 0, MSH_START_PRIMARY };
enum msh_failover { MSH_FAILOVER_AUTO = 0, MSH_FAILOVER_MANUAL };
enum msh_feed_format { MSH_FEED_MOLDUDP64 = 0, MSH_FEED_RAW };

/** A multicast destination GROUP:PORT[@PORTNAME] (feed lines, shard egress). */
struct msh_mcast_addr {
	uint32_t group;  /**< host order, 224.0.0.0/4; 0: not set */
	uint16_t port;   /**< UDP port */
	char port_name[MSH_CONF_PORT_NAME_LEN]; /**< [port NAME]; "" = the ingest port */
};

/** Per-shard settings ([shard NAME] keys, "shard create" arguments). */
struct msh_shard_conf {
	struct msh_name name;
	enum msh_storage storage;    /**< storage = memory | persistent */
	uint8_t replicas;            /**< replicas = 1 | 2 */
	enum msh_acks acks;          /**< acks = 1 | all */
	uint64_t segment_bytes;      /**< segment_bytes = size, 64K..4G-4K, a multiple of 4K */
	uint64_t segment_age_ns;     /**< segment_age = duration, 0 = never */
	uint64_t max_bytes;          /**< max_bytes = size, >= 2 segments */
	enum msh_on_full on_full;    /**< on_full = reject | evict */
	enum msh_spill spill;        /**< spill = off | disk */
	char spill_dir[MSH_CONF_PATH_LEN]; /**< spill_dir = path */
	enum msh_spill_release spill_release; /**< spill_release = eager | lazy */
	uint32_t max_message;        /**< max_message = size, 1..65535 */
	uint32_t max_publishers;     /**< max_publishers = count (dedupe table bound) */
	uint32_t max_subscribers;    /**< max_subscribers = count */
	uint32_t worker;             /**< worker = index or auto (MSH_WORKER_AUTO) */
	/* Multicast egress (docs/FEEDS.md): the shard also sent as a MoldUDP64 feed. */
	struct msh_mcast_addr egress; /**< egress = GROUP:PORT[@PORTNAME], empty: none */
	uint8_t egress_ttl;           /**< egress_ttl = 1..255, default 1 (the local network) */
};

/** [shard] worker = auto: the appliance picks the worker with the fewest shards. */
#define MSH_WORKER_AUTO UINT32_MAX

/** One DPDK port ([port NAME]). */
struct msh_port_conf {
	char name[MSH_CONF_PORT_NAME_LEN];
	enum msh_port_role role;  /**< role = ingest | replication | feed */
	char device[MSH_CONF_PATH_LEN]; /**< device = vdev devargs or PCI address */
	uint32_t ipv4;            /**< address = a.b.c.d/len (host order) */
	uint8_t prefix_len;
	uint16_t udp_port;        /**< udp_port = 9000 */
	uint16_t retrans_port;    /**< retrans_port = 9001 */
	uint16_t mtu;             /**< mtu = 1500 */
	uint16_t rx_queues;       /**< rx_queues = workers on this port */
	/* role = replication only: the pair (docs/REPLICATION.md). */
	uint32_t peer_ip;         /**< peer = the other appliance's replication address */
	uint32_t peer_ingest_ip;  /**< peer_ingest = its ingest address (0: unknown) */
	uint32_t node_id;         /**< node_id = this appliance, 1.. */
	uint32_t peer_node_id;    /**< peer_node_id = the other one */
	enum msh_start_role start_role; /**< start_role = primary | secondary */
	enum msh_failover failover;     /**< failover = auto | manual */
	uint64_t failover_silence_ns;   /**< failover_silence = duration */
	uint64_t hello_interval_ns;     /**< hello_interval = duration */
};

/**
 * One multicast feed ([feed NAME], "feed create"): lines A and B of one
 * upstream feed, appended to one shard (docs/FEEDS.md).
 */
struct msh_feed_conf {
	char name[MSH_CONF_PORT_NAME_LEN]; /**< letters, digits, '_', '-', '.' */
	struct msh_name shard;        /**< shard = NAME (required) */
	struct msh_mcast_addr line[MSH_CONF_FEED_LINES]; /**< line_a (required), line_b */
	uint32_t source;              /**< source = a.b.c.d (SSM), 0: any source */
	enum msh_feed_format format;  /**< format = moldudp64 | raw */
	uint64_t gap_timeout_ns;      /**< gap_timeout = duration */
	uint32_t hold_packets;        /**< hold_packets = count held past a gap */
	uint64_t max_jump;            /**< max_jump = count: further ahead is bad input */
	uint32_t rerequest_ip;        /**< rerequest = ADDR:PORT, 0: none */
	uint16_t rerequest_port;
	uint64_t rerequest_timeout_ns; /**< rerequest_timeout = duration */
	uint32_t rerequest_rate;      /**< rerequest_rate = requests/s */
	bool capture_header;          /**< capture_header = on | off (format = raw) */
};

/** [appliance] settings. */
struct msh_appliance_conf {
	char lcores[64];          /**< lcores = EAL core list, e.g. 0-1 */
	uint32_t workers;         /**< workers = number of worker lcores */
	uint64_t arena_bytes;     /**< arena_bytes = size per NUMA node */
	enum msh_hugepages hugepages; /**< hugepages = auto | require | off */
	char file_prefix[64];     /**< file_prefix = EAL run-file prefix */
	char eal_args[MSH_CONF_PATH_LEN]; /**< eal_args = extra EAL arguments */
	enum msh_idle idle;       /**< idle = spin | backoff */
	char control_socket[MSH_CONF_PATH_LEN]; /**< control_socket = path */
	uint64_t lease_default_ns; /**< lease_default = duration */
	uint64_t lease_max_ns;    /**< lease_max = duration */
	uint64_t heartbeat_ns;    /**< heartbeat = duration, <= 1s */
	uint32_t retrans_rate;    /**< retrans_rate = messages/s per requester */
	uint64_t token_secret;    /**< token_secret = 64-bit hex, 0 = random */
	char log_level[16];       /**< log_level = error | warning | notice | info | debug */
};

struct msh_conf {
	char path[MSH_CONF_PATH_LEN];
	struct msh_appliance_conf app;
	unsigned int n_ports;
	struct msh_port_conf ports[MSH_CONF_MAX_PORTS];
	unsigned int n_shards;
	struct msh_shard_conf shards[MSH_CONF_MAX_SHARDS];
	unsigned int n_feeds;
	struct msh_feed_conf feeds[MSH_CONF_MAX_FEEDS];
};

/** Fill @p c with every default (what an empty file gives). */
void msh_conf_defaults(struct msh_conf *c);
void msh_shard_conf_defaults(struct msh_shard_conf *s);
void msh_port_conf_defaults(struct msh_port_conf *p);
void msh_feed_conf_defaults(struct msh_feed_conf *f);

/**
 * Load an INI file on top of the defaults and check the result as a whole.
 * The first error stops the load; @p c is written only on success.
 * @param err  out: on error, "FILE:LINE: [SECTION] KEY: reason" (or "FILE: reason"
 *             for an error that is not on one line, such as an unreadable file or
 *             a cross-key check, which names the section and key instead)
 * @return 0, or -EINVAL (bad content) / -errno (unreadable file).
 */
int msh_conf_load(struct msh_conf *c, const char *path, char *err, size_t errlen);

/** Same as msh_conf_load() from a string (tests, control socket); @p name labels errors. */
int msh_conf_load_string(struct msh_conf *c, const char *text, const char *name, char *err,
			 size_t errlen);

/**
 * Set one key. The reason for a refusal is written to @p err (which may be NULL)
 * without the file/line prefix, naming the key and the accepted form:
 * "segment_bytes: '3X' is not a size (use a number with an optional K, M, G or T
 * suffix, e.g. 64M)". A refused value leaves the struct unchanged.
 * @return 0, -ENOENT for an unknown key, -EINVAL for a bad value.
 */
int msh_conf_set_shard(struct msh_shard_conf *s, const char *key, const char *val, char *err,
		       size_t errlen);
int msh_conf_set_port(struct msh_port_conf *p, const char *key, const char *val, char *err,
		      size_t errlen);
int msh_conf_set_feed(struct msh_feed_conf *f, const char *key, const char *val, char *err,
		      size_t errlen);
int msh_conf_set_appliance(struct msh_appliance_conf *a, const char *key, const char *val,
			   char *err, size_t errlen);

/**
 * Check one shard: its name, every key's own range (so a struct filled in code
 * gets the checks a file does) and the cross-key rules (segment_bytes <=
 * max_bytes/2 etc.). The rules that need the whole file (arena, ports) are
 * checked by msh_conf_load(). @p err gets "KEY: reason".
 */
int msh_shard_conf_check(const struct msh_shard_conf *s, char *err, size_t errlen);

/**
 * Check one feed on its own: its name, every key's range, line_a set, lines A
 * and B not the same GROUP:PORT@PORTNAME, a source only with IGMPv3-style
 * source filtering (a unicast address), rerequest set with its port. What
 * needs the rest of the configuration (the shard, the ports) is checked by
 * msh_conf_load() for the file, and by the appliance for "feed create".
 * @p err gets "KEY: reason".
 */
int msh_feed_conf_check(const struct msh_feed_conf *f, char *err, size_t errlen);

/**
 * Parse GROUP:PORT[@PORTNAME]: a multicast group (224.0.0.0/4 but not
 * 224.0.0.0/24, the link-local control block), a UDP port 1..65535 and an
 * optional port name. An empty string clears @p out (not set).
 * @return 0 or -EINVAL with the reason in @p err, naming the value and the form
 *         but no key ("'239.1.1.1' needs a UDP port (GROUP:PORT[@PORTNAME], e.g.
 *         239.1.1.1:30001)"); the key setters put "KEY: " in front. @p out is
 *         written only on success.
 */
int msh_parse_mcast_addr(const char *s, struct msh_mcast_addr *out, char *err, size_t errlen);
/** Format it back the way msh_parse_mcast_addr() reads it ("" when not set). */
char *msh_fmt_mcast_addr(const struct msh_mcast_addr *a, char *buf, size_t len);

/**
 * Write the configuration as a valid INI file that msh_conf_load() reads back
 * equal: every key of every section, each after a comment with its doc and default.
 * @return 0, -EINVAL (nothing written) if a port, shard or feed name cannot be
 *         written in a section header, -EIO on a write error.
 */
int msh_conf_dump(const struct msh_conf *c, FILE *out);

/**
 * Parse a size: digits with an optional K, M, G or T suffix (powers of 1024,
 * optional trailing B or iB, case-insensitive): "64M", "1G", "512", "4KiB".
 * @return 0 or -EINVAL (also on overflow).
 */
int msh_parse_size(const char *s, uint64_t *out);

/**
 * Parse a duration: digits with a unit ns, us, ms, s, m or h ("500ms", "5m");
 * a bare "0" means zero. A number without a unit is refused (ambiguous).
 * @return 0 or -EINVAL (also on overflow).
 */
int msh_parse_duration(const char *s, uint64_t *ns);

/** Format a size / duration the way the parsers read it back ("64M", "500ms"). */
char *msh_fmt_size(uint64_t v, char *buf, size_t len);
char *msh_fmt_duration(uint64_t ns, char *buf, size_t len);

#endif /* MSH_CONFIG_H */
