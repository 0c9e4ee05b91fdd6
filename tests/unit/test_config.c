/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/config.c: defaults, every key of every section, the size,
 * duration, count, address and hex parsers, the error message of each kind of
 * bad line (line number, section and key), the whole-file checks, unreadable
 * files, the dump -> load round trip and the documented example file, which is
 * read from $MSH_CONF_EXAMPLE or config/memshard.conf (run from the top).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define assert_has(s, sub)                                                                    \
	do {                                                                                  \
		if (strstr((s), (sub)) == NULL)                                               \
			fail_msg("\"%s\"\n    lacks \"%s\"", (s), (sub));                    \
	} while (0)

/* Room for a few confs; struct msh_conf is ~90K, too big for a test's stack. */
static struct msh_conf *
conf_new(void)
{
	struct msh_conf *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	return c;
}

/* Load text as "t.conf"; on failure the message is in err. */
static int
load(struct msh_conf *c, const char *text, char *err)
{
	err[0] = '\0';
	return msh_conf_load_string(c, text, "t.conf", err, MSH_CONF_ERR_LEN);
}

/* Whole-file cases: each loads (want "") or fails with want in its error and
 * leaves the configuration untouched (a file that parses but fails a check is
 * not taken either). */
struct load_case {
	const char *text;
	const char *want;
};

static void
load_cases(const struct load_case *cases, size_t n)
{
	struct msh_conf *c = conf_new(), *before = conf_new();
	char err[MSH_CONF_ERR_LEN];

	for (size_t i = 0; i < n; i++) {
		int rc;

		msh_conf_defaults(c);
		memcpy(before, c, sizeof(*c));
		rc = load(c, cases[i].text, err);
		if (cases[i].want[0] == '\0') {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			continue;
		}
		if (rc != -EINVAL)
			fail_msg("case %zu gave %d, want -EINVAL (%s)", i, rc, err);
		assert_has(err, cases[i].want);
		assert_memory_equal(c, before, sizeof(*c));
	}
	free(c);
	free(before);
}

static char *
dump(const struct msh_conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(msh_conf_dump(c, f), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

static char *
read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	if (f == NULL)
		fail_msg("cannot open %s (run from the repository top or set MSH_CONF_EXAMPLE)",
			 path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	len = ftell(f);
	assert_true(len > 0);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static void
test_defaults(void **state)
{
	struct msh_conf *c = conf_new(), *e = conf_new();
	const struct msh_appliance_conf *a = &c->app;
	struct msh_shard_conf s;
	struct msh_port_conf p;
	char err[MSH_CONF_ERR_LEN];

	msh_conf_defaults(c);
	assert_string_equal(a->lcores, "0-1");
	assert_int_equal(a->workers, 1);
	assert_int_equal(a->arena_bytes, 512ull << 20);
	assert_int_equal(a->hugepages, MSH_HUGE_AUTO);
	assert_string_equal(a->file_prefix, "memshard");
	assert_string_equal(a->eal_args, "");
	assert_int_equal(a->idle, MSH_IDLE_SPIN);
	assert_string_equal(a->control_socket, "/run/memshard/memshard.sock");
	assert_int_equal(a->lease_default_ns, 10ull * 1000000000);
	assert_int_equal(a->lease_max_ns, 300ull * 1000000000);
	assert_int_equal(a->heartbeat_ns, 1000000000ull);
	assert_int_equal(a->retrans_rate, 100000);
	assert_int_equal(a->token_secret, 0);
	assert_string_equal(a->log_level, "notice");
	assert_int_equal(c->n_ports, 0);
	assert_int_equal(c->n_shards, 0);
	assert_string_equal(c->path, "");

	msh_port_conf_defaults(&p);
	assert_string_equal(p.name, "");
	assert_int_equal(p.role, MSH_PORT_INGEST);
	assert_string_equal(p.device, "");
	assert_int_equal(p.ipv4, 0);
	assert_int_equal(p.prefix_len, 0);
	assert_int_equal(p.udp_port, 9000);
	assert_int_equal(p.retrans_port, 9001);
	assert_int_equal(p.mtu, 1500);
	assert_int_equal(p.rx_queues, 1);

	msh_shard_conf_defaults(&s);
	assert_int_equal(s.storage, MSH_STORAGE_MEMORY);
	assert_int_equal(s.replicas, 1);
	assert_int_equal(s.acks, MSH_ACKS_ONE);
	assert_int_equal(s.segment_bytes, 16ull << 20);
	assert_int_equal(s.segment_age_ns, 0);
	assert_int_equal(s.max_bytes, 128ull << 20);
	assert_int_equal(s.on_full, MSH_ON_FULL_REJECT);
	assert_int_equal(s.spill, MSH_SPILL_OFF);
	assert_string_equal(s.spill_dir, "/var/lib/memshard");
	assert_int_equal(s.max_message, 1438);
	assert_int_equal(s.max_publishers, 1024);
	assert_int_equal(s.max_subscribers, 64);

	/* An empty file (and one of comments only) gives exactly the defaults. */
	memset(e, 0xa5, sizeof(*e));
	assert_int_equal(load(e, "", err), 0);
	strcpy(c->path, "t.conf");
	assert_memory_equal(c, e, sizeof(*c));
	assert_int_equal(load(e, "# nothing\n; here\n\n", err), 0);
	assert_memory_equal(c, e, sizeof(*c));

	/* A shard of defaults: valid once it fits in the arena. */
	assert_int_equal(load(e, "[appliance]\narena_bytes = 1G\n[shard ticks]\n", err), 0);
	assert_int_equal(e->n_shards, 1);
	strcpy(err, "");
	assert_int_equal(msh_shard_conf_check(&e->shards[0], err, sizeof(err)), 0);
	free(c);
	free(e);
}

static void
test_appliance_keys(void **state)
{
	struct msh_appliance_conf a;
	char err[MSH_CONF_ERR_LEN] = "";

#define SET(k, v) assert_int_equal(msh_conf_set_appliance(&a, k, v, err, sizeof(err)), 0)
	memset(&a, 0, sizeof(a));
	SET("lcores", "0@0,1@1,2@1");
	assert_string_equal(a.lcores, "0@0,1@1,2@1");
	SET("lcores", "0,2-5");
	assert_string_equal(a.lcores, "0,2-5");
	SET("workers", "4");
	assert_int_equal(a.workers, 4);
	SET("arena_bytes", "2G");
	assert_int_equal(a.arena_bytes, 2ull << 30);
	SET("hugepages", "require");
	assert_int_equal(a.hugepages, MSH_HUGE_REQUIRE);
	SET("hugepages", "off");
	assert_int_equal(a.hugepages, MSH_HUGE_OFF);
	SET("file_prefix", "msh-b_2");
	assert_string_equal(a.file_prefix, "msh-b_2");
	SET("eal_args", "--no-pci --log-level=lib.eal:debug");
	assert_string_equal(a.eal_args, "--no-pci --log-level=lib.eal:debug");
	SET("idle", "backoff");
	assert_int_equal(a.idle, MSH_IDLE_BACKOFF);
	SET("control_socket", "/tmp/b.sock");
	assert_string_equal(a.control_socket, "/tmp/b.sock");
	SET("lease_default", "500ms");
	assert_int_equal(a.lease_default_ns, 500000000ull);
	SET("lease_max", "1h");
	assert_int_equal(a.lease_max_ns, 3600ull * 1000000000);
	SET("heartbeat", "250ms");
	assert_int_equal(a.heartbeat_ns, 250000000ull);
	SET("retrans_rate", "5000");
	assert_int_equal(a.retrans_rate, 5000);
	SET("token_secret", "0x5eed5eed5eed5eed");
	assert_int_equal(a.token_secret, 0x5eed5eed5eed5eedull);
	SET("token_secret", "DEADbeef");
	assert_int_equal(a.token_secret, 0xdeadbeefull);
	SET("token_secret", "0");
	assert_int_equal(a.token_secret, 0);
	SET("log_level", "debug");
	assert_string_equal(a.log_level, "debug");
	/* A shorter string after a longer one leaves no bytes of the old one. */
	SET("eal_args", "-v");
	assert_string_equal(a.eal_args, "-v");
	assert_int_equal(a.eal_args[3], 0);
#undef SET

	assert_int_equal(msh_conf_set_appliance(&a, "lcore", "0", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "lcore: unknown key (one of lcores, workers, arena_bytes, "
				 "hugepages, file_prefix, eal_args, idle, control_socket, "
				 "lease_default, lease_max, heartbeat, retrans_rate, "
				 "token_secret, log_level)");
	/* err may be NULL. */
	assert_int_equal(msh_conf_set_appliance(&a, "workers", "x", NULL, 0), -EINVAL);
}

static void
test_port_keys(void **state)
{
	struct msh_port_conf p;
	char err[MSH_CONF_ERR_LEN] = "";

#define SET(k, v) assert_int_equal(msh_conf_set_port(&p, k, v, err, sizeof(err)), 0)
	msh_port_conf_defaults(&p);
	SET("role", "replication");
	assert_int_equal(p.role, MSH_PORT_REPLICATION);
	SET("device", "0000:03:00.1");
	assert_string_equal(p.device, "0000:03:00.1");
	SET("device", "net_af_packet0,iface=msh0");
	assert_string_equal(p.device, "net_af_packet0,iface=msh0");
	SET("address", "10.77.0.1/24");
	assert_int_equal(p.ipv4, 0x0a4d0001);
	assert_int_equal(p.prefix_len, 24);
	SET("address", "192.168.1.200/32");
	assert_int_equal(p.ipv4, 0xc0a801c8);
	assert_int_equal(p.prefix_len, 32);
	SET("address", "");
	assert_int_equal(p.ipv4, 0);
	assert_int_equal(p.prefix_len, 0);
	SET("udp_port", "19000");
	assert_int_equal(p.udp_port, 19000);
	SET("retrans_port", "65535");
	assert_int_equal(p.retrans_port, 65535);
	SET("mtu", "9000");
	assert_int_equal(p.mtu, 9000);
	SET("rx_queues", "4");
	assert_int_equal(p.rx_queues, 4);
	SET("role", "feed");
	assert_int_equal(p.role, MSH_PORT_FEED);
	SET("role", "ingest");
	assert_int_equal(p.role, MSH_PORT_INGEST);
#undef SET

	assert_int_equal(msh_conf_set_port(&p, "iface", "x", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "iface: unknown key (one of role, device, address, udp_port, "
				 "retrans_port, mtu, rx_queues, peer, peer_ingest, node_id, "
				 "peer_node_id, start_role, failover, failover_silence, "
				 "hello_interval)");
}

static void
test_shard_keys(void **state)
{
	struct msh_shard_conf s;
	char err[MSH_CONF_ERR_LEN] = "";

#define SET(k, v) assert_int_equal(msh_conf_set_shard(&s, k, v, err, sizeof(err)), 0)
	msh_shard_conf_defaults(&s);
	SET("storage", "persistent");
	assert_int_equal(s.storage, MSH_STORAGE_PERSISTENT);
	SET("replicas", "2");
	assert_int_equal(s.replicas, 2);
	SET("acks", "all");
	assert_int_equal(s.acks, MSH_ACKS_ALL);
	SET("acks", "1");
	assert_int_equal(s.acks, MSH_ACKS_ONE);
	SET("segment_bytes", "1536K");
	assert_int_equal(s.segment_bytes, 1536ull << 10);
	SET("segment_bytes", "64K");
	assert_int_equal(s.segment_bytes, 64ull << 10);
	SET("segment_bytes", "4194300K");
	assert_int_equal(s.segment_bytes, (4ull << 30) - 4096);
	SET("segment_age", "30s");
	assert_int_equal(s.segment_age_ns, 30ull * 1000000000);
	SET("max_bytes", "8G");
	assert_int_equal(s.max_bytes, 8ull << 30);
	SET("on_full", "evict");
	assert_int_equal(s.on_full, MSH_ON_FULL_EVICT);
	SET("spill", "disk");
	assert_int_equal(s.spill, MSH_SPILL_DISK);
	SET("spill_dir", "/srv/memshard/spill");
	assert_string_equal(s.spill_dir, "/srv/memshard/spill");
	SET("max_message", "8K");
	assert_int_equal(s.max_message, 8192);
	SET("max_message", "65535");
	assert_int_equal(s.max_message, 65535);
	SET("max_publishers", "1048576");
	assert_int_equal(s.max_publishers, 1048576);
	SET("max_subscribers", "1");
	assert_int_equal(s.max_subscribers, 1);
#undef SET

	assert_int_equal(msh_conf_set_shard(&s, "name", "x", err, sizeof(err)), -ENOENT);
	assert_has(err, "name: unknown key (one of storage, replicas, acks, segment_bytes, ");
	assert_has(err, ", max_subscribers, worker, egress, egress_ttl)");
}

static void
test_sizes(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "64M", 0, 64ull << 20 },
		{ "1G", 0, 1ull << 30 },
		{ "4KiB", 0, 4096 },
		{ "4kib", 0, 4096 },
		{ "4KB", 0, 4096 },
		{ "512", 0, 512 },
		{ "512B", 0, 512 },
		{ "1t", 0, 1ull << 40 },
		{ "0", 0, 0 },
		{ "007K", 0, 7 << 10 },
		{ "16777215T", 0, 16777215ull << 40 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16777216T", -EINVAL, 0 },
		{ "99999999999T", -EINVAL, 0 },
		{ "18446744073709551616", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "12Q", -EINVAL, 0 },
		{ " 5M", -EINVAL, 0 },
		{ "5M ", -EINVAL, 0 },
		{ "5 M", -EINVAL, 0 },
		{ "+5", -EINVAL, 0 },
		{ "M", -EINVAL, 0 },
		{ "5iB", -EINVAL, 0 },
		{ "5MiBB", -EINVAL, 0 },
		{ "5MBi", -EINVAL, 0 },
		{ "1.5M", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
	};
	char buf[32];

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		uint64_t v = 12345;
		int rc = msh_parse_size(cases[i].s, &v);

		if (rc != cases[i].rc)
			fail_msg("msh_parse_size(\"%s\") = %d, want %d", cases[i].s, rc,
				 cases[i].rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("msh_parse_size(\"%s\") gave %" PRIu64, cases[i].s, v);
		if (rc != 0)
			assert_int_equal(v, 12345); /* untouched on error */
	}
	assert_int_equal(msh_parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);

	assert_string_equal(msh_fmt_size(64ull << 20, buf, sizeof(buf)), "64M");
	assert_string_equal(msh_fmt_size(1ull << 30, buf, sizeof(buf)), "1G");
	assert_string_equal(msh_fmt_size(1536ull << 10, buf, sizeof(buf)), "1536K");
	assert_string_equal(msh_fmt_size(100, buf, sizeof(buf)), "100");
	assert_string_equal(msh_fmt_size(0, buf, sizeof(buf)), "0");
	assert_string_equal(msh_fmt_size(3ull << 40, buf, sizeof(buf)), "3T");
	assert_string_equal(msh_fmt_size(1ull << 50, buf, sizeof(buf)), "1024T");
	assert_string_equal(msh_fmt_size(UINT64_MAX, buf, sizeof(buf)), "18446744073709551615");
}

static void
test_durations(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "500ms", 0, 500000000ull },
		{ "5m", 0, 300000000000ull },
		{ "0", 0, 0 },
		{ "0s", 0, 0 },
		{ "2h", 0, 7200000000000ull },
		{ "7us", 0, 7000 },
		{ "3ns", 0, 3 },
		{ "18446744073709551615ns", 0, UINT64_MAX },
		{ "10", -EINVAL, 0 },
		{ "1.5s", -EINVAL, 0 },
		{ "18446744073709552s", -EINVAL, 0 },
		{ "99999999999999999999ns", -EINVAL, 0 },
		{ "5M", -EINVAL, 0 },
		{ "5S", -EINVAL, 0 },
		{ "5 s", -EINVAL, 0 },
		{ " 5s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },
		{ "+1s", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "s", -EINVAL, 0 },
		{ "5sec", -EINVAL, 0 },
		{ "1m30s", -EINVAL, 0 },
	};
	char buf[32], err[MSH_CONF_ERR_LEN] = "";
	struct msh_appliance_conf a;

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		uint64_t v = 12345;
		int rc = msh_parse_duration(cases[i].s, &v);

		if (rc != cases[i].rc)
			fail_msg("msh_parse_duration(\"%s\") = %d, want %d", cases[i].s, rc,
				 cases[i].rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("msh_parse_duration(\"%s\") gave %" PRIu64, cases[i].s, v);
	}

	assert_string_equal(msh_fmt_duration(500000000ull, buf, sizeof(buf)), "500ms");
	assert_string_equal(msh_fmt_duration(300000000000ull, buf, sizeof(buf)), "5m");
	assert_string_equal(msh_fmt_duration(0, buf, sizeof(buf)), "0");
	assert_string_equal(msh_fmt_duration(90000000000ull, buf, sizeof(buf)), "90s");
	assert_string_equal(msh_fmt_duration(1500000ull, buf, sizeof(buf)), "1500us");
	assert_string_equal(msh_fmt_duration(7200000000000ull, buf, sizeof(buf)), "2h");
	assert_string_equal(msh_fmt_duration(1, buf, sizeof(buf)), "1ns");

	memset(&a, 0, sizeof(a));
	assert_int_equal(msh_conf_set_appliance(&a, "lease_default", "10", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "lease_default: '10' has no unit (add one of ns, us, ms, s, m "
				 "or h, e.g. 10s)");
	assert_int_equal(msh_conf_set_appliance(&a, "heartbeat", "1.5s", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "heartbeat: '1.5s' is not a duration (use a whole number and a "
				 "unit ns, us, ms, s, m or h, e.g. 500ms)");
	assert_int_equal(msh_conf_set_appliance(&a, "heartbeat", "2s", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "heartbeat: '2s' is out of range (1ms to 1s)");
	assert_int_equal(msh_conf_set_appliance(&a, "lease_max", "25h", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "lease_max: '25h' is out of range (100ms to 24h)");
}

static void
test_enums(void **state)
{
	struct msh_shard_conf s;
	struct msh_port_conf p;
	struct msh_appliance_conf a;
	char err[MSH_CONF_ERR_LEN] = "";

	msh_shard_conf_defaults(&s);
	assert_int_equal(msh_conf_set_shard(&s, "on_full", "drop", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "on_full: 'drop' is not one of reject, evict");
	assert_int_equal(msh_conf_set_shard(&s, "on_full", "Reject", err, sizeof(err)), -EINVAL);
	assert_int_equal(msh_conf_set_shard(&s, "on_full", "", err, sizeof(err)), -EINVAL);
	assert_int_equal(s.on_full, MSH_ON_FULL_REJECT); /* untouched */
	assert_int_equal(msh_conf_set_shard(&s, "acks", "2", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "acks: '2' is not one of 1, all");
	assert_int_equal(msh_conf_set_shard(&s, "storage", "disk", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "storage: 'disk' is not one of memory, persistent");
	assert_int_equal(msh_conf_set_shard(&s, "spill", "on", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "spill: 'on' is not one of off, disk");

	msh_port_conf_defaults(&p);
	assert_int_equal(msh_conf_set_port(&p, "role", "repl", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "role: 'repl' is not one of ingest, replication, feed");

	memset(&a, 0, sizeof(a));
	assert_int_equal(msh_conf_set_appliance(&a, "hugepages", "yes", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "hugepages: 'yes' is not one of auto, require, off");
	assert_int_equal(msh_conf_set_appliance(&a, "idle", "sleep", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "idle: 'sleep' is not one of spin, backoff");
	assert_int_equal(msh_conf_set_appliance(&a, "log_level", "verbose", err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "log_level: 'verbose' is not one of error, warning, notice, info, "
				 "debug");
}

/* Counts, sizes with ranges, addresses, hex and strings: the setter's refusals. */
static void
test_bad_values(void **state)
{
	static const struct {
		char sect; /* a, p or s */
		const char *key, *val, *want;
	} cases[] = {
		{ 'a', "workers", "+5", "workers: '+5' is not a number (use a whole number from 1 "
					"to 128)" },
		{ 'a', "workers", " 5", "workers: ' 5' is not a number" },
		{ 'a', "workers", "-1", "workers: '-1' is not a number" },
		{ 'a', "workers", "5x", "workers: '5x' is not a number" },
		{ 'a', "workers", "", "workers: '' is not a number" },
		{ 'a', "workers", "0", "workers: '0' is out of range (1 to 128)" },
		{ 'a', "workers", "129", "workers: '129' is out of range (1 to 128)" },
		{ 'a', "workers", "99999999999999999999999",
		  "workers: '99999999999999999999999' is out of range (1 to 128)" },
		{ 'p', "udp_port", "65536", "udp_port: '65536' is out of range (1 to 65535)" },
		{ 'p', "mtu", "100", "mtu: '100' is out of range (576 to 9216)" },
		{ 's', "replicas", "3", "replicas: '3' is out of range (1 to 2)" },
		{ 'a', "arena_bytes", "1M", "arena_bytes: '1M' is out of range (at least 2M)" },
		{ 'a', "arena_bytes", "3X", "arena_bytes: '3X' is not a size (use a number with an "
					    "optional K, M, G or T suffix, e.g. 64M)" },
		{ 's', "segment_bytes", "3X", "segment_bytes: '3X' is not a size (use a number "
					      "with an optional K, M, G or T suffix, e.g. 64M)" },
		{ 's', "segment_bytes", "32K",
		  "segment_bytes: '32K' is out of range (64K to 4194300K)" },
		{ 's', "segment_bytes", "4G",
		  "segment_bytes: '4G' is out of range (64K to 4194300K)" },
		{ 's', "segment_bytes", "65537",
		  "segment_bytes: '65537' is not a multiple of 4K (segments are page-aligned)" },
		{ 's', "max_message", "0", "max_message: '0' is out of range (1 to 65535)" },
		{ 's', "max_message", "64K", "max_message: '64K' is out of range (1 to 65535)" },
		{ 's', "segment_age", "-5s", "segment_age: '-5s' is not a duration" },
		{ 'p', "address", "10.77.0.1", "address: '10.77.0.1' has no prefix length (use "
					       "a.b.c.d/len, e.g. 10.77.0.1/24)" },
		{ 'p', "address", "10.77.0.1/0", "address: '10.77.0.1/0' has a bad prefix length "
						 "(use 1 to 32 after the /" },
		{ 'p', "address", "10.77.0.1/33", "has a bad prefix length" },
		{ 'p', "address", "10.77.0.1/", "has a bad prefix length" },
		{ 'p', "address", "10.77.0.1/24x", "has a bad prefix length" },
		{ 'p', "address", "10.77.0.1/+24", "has a bad prefix length" },
		{ 'p', "address", "10.77.0/24", "address: '10.77.0/24' is not an IPv4 address (use "
						"a.b.c.d/len, e.g. 10.77.0.1/24)" },
		{ 'p', "address", "10.77.0.256/24", "is not an IPv4 address" },
		{ 'p', "address", "msh0/24", "is not an IPv4 address" },
		{ 'p', "address", "0.0.0.0/8", "address: '0.0.0.0/8' is not a unicast address" },
		{ 'p', "address", "224.0.0.1/4", "is not a unicast address" },
		{ 'p', "address", "255.255.255.255/32", "is not a unicast address" },
		{ 'a', "token_secret", "0x", "token_secret: '0x' is not a 64-bit hex number (use 1 "
					     "to 16 hex digits with an optional 0x" },
		{ 'a', "token_secret", "xyz", "is not a 64-bit hex number" },
		{ 'a', "token_secret", "", "is not a 64-bit hex number" },
		{ 'a', "token_secret", "0x10000000000000000", "is not a 64-bit hex number" },
		{ 'a', "token_secret", "-1", "is not a 64-bit hex number" },
		{ 's', "spill_dir", "var/lib",
		  "spill_dir: 'var/lib' is not an absolute path (start it with /)" },
		{ 's', "spill_dir", "", "spill_dir: must not be empty" },
		{ 's', "spill_dir", "/a b ", "spill_dir: '/a b ' has leading or trailing spaces" },
		{ 'a', "eal_args", "--a;b", "eal_args: '--a;b' contains ';', which starts a "
					    "comment" },
		{ 'a', "eal_args", "a\tb", "eal_args: contains a control character" },
		{ 'a', "file_prefix", "a.b", "file_prefix: 'a.b' may hold only letters, digits, "
					     "'_' and '-'" },
		{ 'a', "file_prefix", "", "file_prefix: must not be empty" },
		{ 'a', "lcores", "1-0", "lcores: '1-0' is not a core list (use numbers and ranges, "
					"e.g. 0-1 or 0,2-5, or LCORE@CPU with a CPU up to 1023: "
					"0@0,1@1,2@1)" },
		{ 'a', "lcores", "1-2@1", "is not a core list" },
		{ 'a', "lcores", "0@", "is not a core list" },
		{ 'a', "lcores", "0@1-2", "is not a core list" },
		{ 'a', "lcores", "0@1024", "is not a core list" },
		{ 'a', "lcores", "0-1024", "lcores: lcore 1024 is beyond the 128 lcores" },
		{ 'a', "lcores", "0,", "is not a core list" },
		{ 'a', "lcores", "0-", "is not a core list" },
		{ 'a', "lcores", "(0-1)@0", "is not a core list" },
		{ 'a', "lcores", "", "lcores: must not be empty" },
		{ 'p', "device", "net_tap0, iface=x",
		  "device: 'net_tap0, iface=x' must not contain spaces" },
		{ 'a', "log_level", "", "log_level: '' is not one of error" },
	};
	char err[MSH_CONF_ERR_LEN];

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		struct msh_appliance_conf a, a0;
		struct msh_port_conf p, p0;
		struct msh_shard_conf s, s0;
		int rc;

		memset(&a, 0, sizeof(a));
		msh_port_conf_defaults(&p);
		msh_shard_conf_defaults(&s);
		memcpy(&a0, &a, sizeof(a));
		memcpy(&p0, &p, sizeof(p));
		memcpy(&s0, &s, sizeof(s));
		strcpy(err, "");
		if (cases[i].sect == 'a')
			rc = msh_conf_set_appliance(&a, cases[i].key, cases[i].val, err,
						    sizeof(err));
		else if (cases[i].sect == 'p')
			rc = msh_conf_set_port(&p, cases[i].key, cases[i].val, err, sizeof(err));
		else
			rc = msh_conf_set_shard(&s, cases[i].key, cases[i].val, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("%s = '%s' gave %d, want -EINVAL", cases[i].key, cases[i].val, rc);
		assert_has(err, cases[i].want);
		/* A refused value changes nothing. */
		assert_memory_equal(&a, &a0, sizeof(a));
		assert_memory_equal(&p, &p0, sizeof(p));
		assert_memory_equal(&s, &s0, sizeof(s));
	}
}

/* Lcore ids index per-lcore arrays of RTE_MAX_LCORE (128) in the appliance, so
 * the list refuses 128 and up, in the -l form and left of @; a CPU right of @
 * may go up to 1023, as EAL's --lcores takes. */
static void
test_lcore_limit(void **state)
{
	static const char *const good[] = {
		"127", "0-127", "0,127", "127@0", "0@0,127@1", "0@1023", "127@1023",
	};
	static const struct {
		const char *val, *want;
	} bad[] = {
		{ "128", "lcores: lcore 128 is beyond the 128 lcores this build supports "
			 "(0 to 127)" },
		{ "0-128", "lcores: lcore 128 is beyond the 128 lcores this build supports "
			   "(0 to 127)" },
		{ "1000", "lcores: lcore 1000 is beyond the 128 lcores this build supports "
			  "(0 to 127)" },
		{ "0,2-1000", "lcores: lcore 1000 is beyond the 128 lcores" },
		{ "128@0", "lcores: lcore 128 is beyond the 128 lcores this build supports "
			   "(0 to 127)" },
		{ "0@0,128@1", "lcores: lcore 128 is beyond the 128 lcores" },
		{ "1000@1", "lcores: lcore 1000 is beyond the 128 lcores this build supports "
			    "(0 to 127)" },
		{ "0@0,1000@1", "lcores: lcore 1000 is beyond the 128 lcores" },
	};
	struct msh_appliance_conf a, a0;
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN];

	for (size_t i = 0; i < MSH_ARRAY_SIZE(good); i++) {
		memset(&a, 0, sizeof(a));
		if (msh_conf_set_appliance(&a, "lcores", good[i], err, sizeof(err)) != 0)
			fail_msg("lcores = %s refused: %s", good[i], err);
		assert_string_equal(a.lcores, good[i]);
	}
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad); i++) {
		int rc;

		memset(&a, 0, sizeof(a));
		memcpy(&a0, &a, sizeof(a));
		strcpy(err, "");
		rc = msh_conf_set_appliance(&a, "lcores", bad[i].val, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("lcores = %s gave %d, want -EINVAL", bad[i].val, rc);
		assert_has(err, bad[i].want);
		assert_memory_equal(&a, &a0, sizeof(a));
	}

	/* From a file: the line and the section, as every other bad value. */
	assert_int_equal(load(c, "[appliance]\nlcores = 0@0,127@1\nworkers = 1\n", err), 0);
	assert_string_equal(c->app.lcores, "0@0,127@1");
	assert_int_equal(load(c, "[appliance]\nworkers = 1\nlcores = 0,200\n", err), -EINVAL);
	assert_string_equal(err, "t.conf:3: [appliance] lcores: lcore 200 is beyond the 128 "
				 "lcores this build supports (0 to 127)");
	assert_int_equal(load(c, "[appliance]\nlcores = 0@0,1000@1\n", err), -EINVAL);
	assert_string_equal(err, "t.conf:2: [appliance] lcores: lcore 1000 is beyond the 128 "
				 "lcores this build supports (0 to 127)");
	free(c);
}

/* A string that does not fit "key = value" in one line of the file is refused, so
 * that whatever is set can be written out and read back. */
/* "/xxx..." of len characters, in buf. */
static const char *
path_of_len(char *buf, size_t len)
{
	memset(buf, 'x', len);
	buf[0] = '/';
	buf[len] = '\0';
	return buf;
}

/* A string that does not fit "key = value" in one line of the file is refused, so
 * that whatever is set can be written out and read back. */
static void
test_string_limits(void **state)
{
	struct msh_appliance_conf a;
	struct msh_shard_conf s;
	char err[MSH_CONF_ERR_LEN], val[300];

	memset(&a, 0, sizeof(a));
	assert_int_equal(msh_conf_set_appliance(&a, "control_socket", path_of_len(val, 107), err,
						sizeof(err)), 0);
	assert_int_equal(msh_conf_set_appliance(&a, "control_socket", path_of_len(val, 108), err,
						sizeof(err)), -EINVAL);
	assert_string_equal(err, "control_socket: too long (108 characters, at most 107)");

	/* 198 characters per line: "eal_args = " leaves 187. */
	assert_int_equal(msh_conf_set_appliance(&a, "eal_args", path_of_len(val, 187), err,
						sizeof(err)), 0);
	assert_int_equal(strlen(a.eal_args), 187);
	assert_int_equal(msh_conf_set_appliance(&a, "eal_args", path_of_len(val, 188), err,
						sizeof(err)), -EINVAL);
	assert_string_equal(err, "eal_args: too long (188 characters, at most 187)");

	msh_shard_conf_defaults(&s);
	assert_int_equal(msh_conf_set_shard(&s, "spill_dir", path_of_len(val, 186), err,
					    sizeof(err)), 0);
	assert_int_equal(strlen(s.spill_dir), 186);
	assert_int_equal(msh_conf_set_shard(&s, "spill_dir", path_of_len(val, 187), err,
					    sizeof(err)), -EINVAL);
	assert_string_equal(err, "spill_dir: too long (187 characters, at most 186)");
}

static void
test_bad_lines(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		/* bad value */
		{ "# ticks\n[shard ticks]\nsegment_bytes = 3X\n",
		  "t.conf:3: [shard ticks] segment_bytes: '3X' is not a size (use a number with an "
		  "optional K, M, G or T suffix, e.g. 64M)" },
		{ "[appliance]\nworkers = 1\n\n[port in]\nmtu = big\n",
		  "t.conf:5: [port in] mtu: 'big' is not a number (use a whole number from 576 to "
		  "9216)" },
		{ "[appliance]\nheartbeat = 10\n",
		  "t.conf:2: [appliance] heartbeat: '10' has no unit" },
		{ "[shard ticks]\non_full = drop\n",
		  "t.conf:2: [shard ticks] on_full: 'drop' is not one of reject, evict" },
		/* unknown key */
		{ "[shard ticks]\nstorage = memory\nsegment_byts = 64M\n",
		  "t.conf:3: [shard ticks] segment_byts: unknown key (one of storage, replicas, " },
		{ "[appliance]\nlcores = 0-1\n[port in]\nworkers = 2\n",
		  "t.conf:4: [port in] workers: unknown key (one of role, device, address, " },
		/* unknown section */
		{ "[appliance]\nworkers = 1\n[shrad ticks]\nstorage = memory\n",
		  "t.conf:3: [shrad ticks]: unknown section type 'shrad' (use [appliance], [port "
		  "NAME], [shard NAME] or [feed NAME])" },
		{ "[Appliance]\n", "t.conf:1: [Appliance]: unknown section type 'Appliance'" },
		{ "[]\n", "t.conf:1: []: unknown section type ''" },
		/* duplicate sections */
		{ "[shard ticks]\n[shard other]\nstorage = memory\n[shard ticks]\n",
		  "t.conf:4: [shard ticks]: duplicate section (first at line 1)" },
		{ "[shard ticks]\n[shard ticks]\n",
		  "t.conf:2: [shard ticks]: duplicate section (first at line 1)" },
		{ "[port in]\ndevice = a\n[port in]\n",
		  "t.conf:3: [port in]: duplicate section (first at line 1)" },
		{ "[appliance]\nworkers = 1\n[shard a]\n[appliance]\n",
		  "t.conf:4: [appliance]: duplicate section (first at line 1)" },
		/* bad names */
		{ "[appliance]\n[shard waytoolongname]\n",
		  "t.conf:2: [shard waytoolongname]: not a shard name (1 to 10 printable ASCII "
		  "characters, no spaces)" },
		{ "[shard two words]\n", "t.conf:1: [shard two words]: not a shard name" },
		{ "[shard]\n", "t.conf:1: [shard]: needs a name: [shard NAME]" },
		{ "[port]\n", "t.conf:1: [port]: needs a name: [port NAME]" },
		{ "[port a/b]\n", "t.conf:1: [port a/b]: not a port name" },
		{ "[appliance main]\n", "t.conf:1: [appliance main]: [appliance] takes no name" },
		/* missing '=' */
		{ "[shard ticks]\nstorage = memory\nsegment_bytes 64M\n",
		  "t.conf:3: [shard ticks] 'segment_bytes 64M': missing '=' (write key = value)" },
		{ "[shard ticks]\nsegment_bytes: 64M\n",
		  "t.conf:2: [shard ticks] 'segment_bytes: 64M': missing '='" },
		{ "[appliance]\n= 5\n", "t.conf:2: [appliance] '= 5': missing key before '='" },
		/* the shape of the file */
		{ "workers = 2\n[appliance]\n",
		  "t.conf:1: workers: key outside a section (put it under [appliance], [port "
		  "NAME], [shard NAME] or [feed NAME])" },
		{ "[appliance]\nworkers = 1\nworkers = 1\n",
		  "t.conf:3: [appliance] workers: set twice (first at line 2)" },
		{ "[shard ticks\n", "t.conf:1: [shard ticks: unterminated section header (use "
				   "[appliance], [port NAME], [shard NAME] or [feed NAME])" },
		{ "[shard ticks] spill\n", "t.conf:1: [shard ticks] spill: text after the section "
					   "header" },
		{ "[appliance]\nworkers = 1 # one\n",
		  "t.conf:2: [appliance] workers: '1 # one' is not a number" },
		/* the first error is the one reported */
		{ "[appliance]\nbare\nworkers = x\n", "t.conf:2: [appliance] 'bare': missing '='" },
		{ "[appliance]\nworkers = x\nbare\n", "t.conf:2: [appliance] workers: 'x' is not" },
	};
	struct msh_conf *c = conf_new(), *before = conf_new();
	char err[MSH_CONF_ERR_LEN];

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		int rc;

		assert_int_equal(load(c, "[appliance]\nworkers = 1\n", err), 0);
		memcpy(before, c, sizeof(*c));
		rc = load(c, cases[i].text, err);
		if (cases[i].want[0] == '\0') {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			continue;
		}
		if (rc != -EINVAL)
			fail_msg("case %zu gave %d, want -EINVAL (%s)", i, rc, err);
		assert_has(err, cases[i].want);
		/* A failed load leaves the configuration as it was. */
		assert_memory_equal(c, before, sizeof(*c));
	}
	free(c);
	free(before);
}

static void
test_file_layout(void **state)
{
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], *text, *p;
	int rc;

	/* BOM, CRLF, indentation, blank lines, both comment styles, an inline ';'
	 * comment and empty sections. Indentation must not make a continuation line. */
	rc = load(c,
		  "\xef\xbb\xbf[appliance]\r\n"
		  "  arena_bytes = 4G\r\n"
		  "\tworkers = 1 ; the only one\r\n"
		  "\r\n"
		  "   # comment\r\n"
		  "   ; comment\r\n"
		  "[shard a]\r\n"
		  "  [ shard   b ]   # spaces inside the brackets\r\n"
		  "    max_subscribers = 5\r\n"
		  "    max_publishers=7\r\n"
		  "[shard c]",
		  err);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c->app.arena_bytes, 4ull << 30);
	assert_int_equal(c->app.workers, 1);
	assert_int_equal(c->n_shards, 3);
	assert_memory_equal(c->shards[0].name.b, "a         ", MSH_NAME_LEN);
	assert_memory_equal(c->shards[1].name.b, "b         ", MSH_NAME_LEN);
	assert_int_equal(c->shards[1].max_subscribers, 5);
	assert_int_equal(c->shards[1].max_publishers, 7);
	assert_int_equal(c->shards[2].max_subscribers, 64);

	/* Too many ports and shards, each named at its line. */
	assert_int_equal(load(c,
			      "[port a]\n[port b]\n[port c]\n[port d]\n[port e]\n", err),
			 -EINVAL);
	assert_string_equal(err, "t.conf:5: [port e]: too many ports (at most 4)");
	text = calloc(MSH_CONF_MAX_SHARDS + 2, 16);
	assert_non_null(text);
	p = text;
	for (int i = 0; i <= MSH_CONF_MAX_SHARDS; i++)
		p += sprintf(p, "[shard s%d]\n", i);
	assert_int_equal(load(c, text, err), -EINVAL);
	assert_string_equal(err, "t.conf:257: [shard s256]: too many shards (at most 256)");
	free(text);

	/* Lines inih would cut are refused. */
	text = calloc(1, 400);
	assert_non_null(text);
	strcpy(text, "[appliance]\neal_args = ");
	memset(text + strlen(text), 'x', 250);
	strcat(text, "\nworkers = 1\n");
	assert_int_equal(load(c, text, err), -EINVAL);
	assert_string_equal(err, "t.conf:2: line too long (261 characters, at most 198)");
	free(text);
	free(c);
}

static void
test_cross_checks(void **state)
{
	static const struct load_case cases[] = {
		{ "[appliance]\narena_bytes = 4G\n[shard ticks]\nsegment_bytes = 64M\n"
		  "max_bytes = 100M\n",
		  "t.conf: [shard ticks] segment_bytes: 64M is more than half of max_bytes 100M (a "
		  "shard keeps at least two segments)" },
		{ "[shard ticks]\nsegment_bytes = 64K\nmax_bytes = 128M\nmax_message = 65535\n",
		  "t.conf: [shard ticks] segment_bytes: 64K holds fewer than 16 messages of "
		  "max_message 65535 (make it at least 1028K)" },
		{ "[shard ticks]\nmax_bytes = 128M\nacks = all\n",
		  "t.conf: [shard ticks] acks: acks=all needs replicas=2" },
		{ "[shard ticks]\nmax_bytes = 128M\nstorage = persistent\n",
		  "t.conf: [shard ticks] storage: storage=persistent needs spill=disk" },
		{ "[shard ticks]\nmax_bytes = 128M\nreplicas = 2\n",
		  "t.conf: [shard ticks] replicas: 2 needs a [port NAME] with role = replication" },
		{ "[shard ticks]\nmax_bytes = 1G\n",
		  "t.conf: [shard ticks] max_bytes: 1G does not fit in arena_bytes 512M (a shard "
		  "reserves its max_bytes when created)" },
		{ "[port in]\ndevice = a\naddress = 10.0.0.1/24\n[shard ticks]\nmax_bytes = 128M\n"
		  "max_message = 1439\n",
		  "t.conf: [shard ticks] max_message: 1439 does not fit one datagram on [port in] "
		  "(mtu 1500 allows 1438)" },
		{ "[port in]\naddress = 10.0.0.1/24\n",
		  "t.conf: [port in] device: missing (a PCI address such as 0000:03:00.0, or vdev "
		  "devargs such as net_af_packet0,iface=eth0)" },
		{ "[port in]\ndevice = a\n",
		  "t.conf: [port in] address: missing (the port's own a.b.c.d/len, e.g. "
		  "10.77.0.1/24)" },
		{ "[port a]\ndevice = x\naddress = 10.0.0.1/24\n[port b]\ndevice = y\n"
		  "address = 10.0.1.1/24\n",
		  "t.conf: [port b] role: a second ingest port ([port a] is one); at most one" },
		{ "[port a]\nrole = replication\ndevice = x\naddress = 10.0.0.1/24\npeer = 10.0.0.2\n"
		  "[port b]\nrole = replication\ndevice = y\naddress = 10.0.1.1/24\n"
		  "peer = 10.0.1.2\n",
		  "t.conf: [port b] role: a second replication port ([port a] is one)" },
		{ "[port a]\nrole = replication\ndevice = x\naddress = 10.0.0.1/24\n",
		  "t.conf: [port a] peer: missing (the other appliance's replication address, "
		  "a.b.c.d)" },
		{ "[port a]\nrole = replication\ndevice = x\naddress = 10.0.0.1/24\n"
		  "peer = 10.0.0.2\nnode_id = 2\n",
		  "t.conf: [port a] peer_node_id: 2 is node_id too" },
		{ "[port a]\nrole = replication\ndevice = x\naddress = 10.0.0.1/24\n"
		  "peer = 10.0.0.2\nhello_interval = 2s\n",
		  "t.conf: [port a] hello_interval: must be below failover_silence" },
		{ "[port a]\nrole = replication\ndevice = x\naddress = 10.0.0.1/24\n"
		  "peer = 10.0.0.256\n",
		  "t.conf:5: [port a] peer: '10.0.0.256' is not an IPv4 address" },
		{ "[port a]\ndevice = x\naddress = 10.0.0.1/24\n[port b]\nrole = replication\n"
		  "device = x\naddress = 10.0.1.1/24\npeer = 10.0.1.2\n",
		  "t.conf: [port b] device: 'x' is also [port a]'s" },
		{ "[port a]\ndevice = x\naddress = 10.0.0.1/24\nretrans_port = 9000\n",
		  "t.conf: [port a] retrans_port: 9000 is udp_port too" },
		{ "[port a]\ndevice = x\naddress = 10.0.0.1/24\nrx_queues = 2\n",
		  "t.conf: [port a] rx_queues: 2 is more than workers (1); each queue needs a "
		  "worker" },
		{ "[appliance]\nworkers = 2\n",
		  "t.conf: [appliance] workers: 2 workers need 3 lcores (the main lcore and one "
		  "per worker), lcores 0-1 has 2" },
		{ "[shard ticks]\nworker = 1\n",
		  "t.conf: [shard ticks] worker: 1 but there are 1 workers (0 to 0)" },
		{ "[shard ticks]\nworker = any\n",
		  "t.conf:2: [shard ticks] worker: 'any' is not auto or a worker index 0 to 127" },
		{ "[shard ticks]\nworker = 128\n", "is not auto or a worker index" },
		{ "[appliance]\nlcores = 0-2\nworkers = 2\n[port a]\ndevice = x\n"
		  "address = 10.0.0.1/24\n[port b]\nrole = replication\ndevice = y\n"
		  "address = 10.0.1.1/30\npeer = 10.0.1.2\n",
		  "t.conf: [appliance] workers: 2, but an appliance with a replication port runs "
		  "one worker in this version (set workers = 1)" },
		{ "[port b]\nrole = replication\ndevice = y\naddress = 10.0.1.1/30\n"
		  "peer = 10.0.1.2\n[shard ticks]\nreplicas = 2\nspill = disk\n",
		  "t.conf: [shard ticks] replicas: 2 with spill = disk or storage = persistent is "
		  "not built yet" },
		{ "[port b]\nrole = replication\ndevice = y\naddress = 10.0.1.1/30\n"
		  "peer = 10.0.1.2\n[shard ticks]\nreplicas = 2\n",
		  "t.conf: [shard ticks] max_message: 1438 does not fit a replication frame on "
		  "[port b] (mtu 1500 allows 1406)" },
		{ "[appliance]\nlease_default = 10m\n",
		  "t.conf: [appliance] lease_default: 10m is longer than lease_max 5m" },
		/* and what they allow */
		{ "[appliance]\nlcores = 0,2-3\nworkers = 2\narena_bytes = 4G\n"
		  "[port a]\ndevice = x\naddress = 10.0.0.1/24\nmtu = 9000\nrx_queues = 2\n"
		  "[shard ticks]\nstorage = persistent\nspill = disk\n"
		  "max_message = 8938\nworker = 1\n[shard big]\nmax_bytes = 4G\n"
		  "segment_bytes = 2G\nworker = auto\n",
		  "" },
	};
	load_cases(cases, MSH_ARRAY_SIZE(cases));
}

/* msh_shard_conf_check() on structs filled in code, as "shard create" does. */
static void
test_shard_check(void **state)
{
	struct msh_shard_conf s;
	char err[MSH_CONF_ERR_LEN];

	msh_shard_conf_defaults(&s);
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), -EINVAL);
	assert_has(err, "name: not a shard name");
	assert_int_equal(msh_name_from_str(&s.name, "ticks"), 0);
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), 0);

	s.segment_bytes = 1000;
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "segment_bytes: '1000' is out of range (64K to 4194300K)");
	s.segment_bytes = 64 << 10;
	s.max_bytes = 256ull << 40; /* 2^32 segments */
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "max_bytes: 256T is more than 4294967295 segments of 64K");
	s.max_bytes = 1ull << 30;
	s.on_full = 7;
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "on_full: '?7' is not one of reject, evict");
	s.on_full = MSH_ON_FULL_EVICT;
	s.acks = MSH_ACKS_ALL;
	s.replicas = 2;
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), 0);
	s.replicas = 1;
	assert_int_equal(msh_shard_conf_check(&s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "acks: acks=all needs replicas=2");
}

static void
test_unreadable(void **state)
{
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], path[] = "/tmp/test_config_XXXXXX";
	FILE *f;
	int fd;

	assert_int_equal(msh_conf_load(c, "/nonexistent/memshard.conf", err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err,
			    "/nonexistent/memshard.conf: cannot open: No such file or directory");
	assert_int_equal(msh_conf_load(c, "/", err, sizeof(err)), -EISDIR);
	assert_string_equal(err, "/: cannot read: Is a directory");

	/* A real file: its path labels the errors, and it loads when valid. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("[appliance]\nworkers = none\n", f);
	fclose(f);
	assert_int_equal(msh_conf_load(c, path, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, path, strlen(path)) == 0);
	assert_has(err, ":2: [appliance] workers: 'none' is not a number");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[appliance]\nworkers = 1\n", f);
	fclose(f);
	assert_int_equal(msh_conf_load(c, path, err, sizeof(err)), 0);
	assert_string_equal(c->path, path);

	/* Not a text file. */
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[appliance]\nwor\0kers = 1\n", 1, 26, f);
	fclose(f);
	assert_int_equal(msh_conf_load(c, path, err, sizeof(err)), -EINVAL);
	assert_has(err, ":2: line holds a NUL byte (not a text file?)");
	unlink(path);
	free(c);
}

static void
roundtrip(const struct msh_conf *c)
{
	struct msh_conf *back = conf_new();
	char err[MSH_CONF_ERR_LEN], *text = dump(c), *again, *line;

	if (msh_conf_load_string(back, text, c->path, err, sizeof(err)) != 0)
		fail_msg("%s\n--- dump ---\n%s", err, text);
	assert_memory_equal(c, back, sizeof(*c));
	again = dump(back);
	assert_string_equal(text, again);
	for (line = text; *line != '\0'; line = strchr(line, '\n') + 1)
		assert_true(strchr(line, '\n') - line <= 198);
	free(text);
	free(again);
	free(back);
}

static void
test_dump_roundtrip(void **state)
{
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], dir[200];
	struct msh_shard_conf *s;
	struct msh_port_conf *p;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	/* Defaults, with nothing declared. */
	msh_conf_defaults(c);
	roundtrip(c);

	/* Every key away from its default. */
	rc = load(c,
		  "[appliance]\nlcores = 2-9\nworkers = 7\narena_bytes = 3G\nhugepages = off\n"
		  "file_prefix = rt\neal_args = --no-pci --vdev net_null0\nidle = backoff\n"
		  "control_socket = /tmp/rt.sock\nlease_default = 1500ms\nlease_max = 2h\n"
		  "heartbeat = 200ms\nretrans_rate = 77\ntoken_secret = 0x00000000deadbeef\n"
		  "log_level = info\n"
		  "[port wire]\ndevice = 0000:03:00.0\naddress = 10.77.0.1/24\nudp_port = 7000\n"
		  "retrans_port = 7001\nmtu = 9000\nrx_queues = 7\n"
		  "[shard ticks]\nstorage = persistent\n"
		  "segment_bytes = 1536K\nsegment_age = 90s\nmax_bytes = 3100K\non_full = evict\n"
		  "spill = disk\nspill_dir = /srv/spill\nspill_release = lazy\nmax_message = 8000\n"
		  "max_publishers = 3\nmax_subscribers = 65536\nworker = 6\n"
		  "[shard !~]\nsegment_age = 1ns\nmax_bytes = 3G\nsegment_bytes = 1G\n"
		  "max_message = 1\n",
		  err);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_ports, 1);
	assert_int_equal(c->n_shards, 2);
	roundtrip(c);
	/* A pair appliance's keys (one worker, replicated shards), away from
	 * their defaults too. */
	msh_conf_defaults(c);
	rc = load(c,
		  "[port wire]\ndevice = 0000:03:00.0\naddress = 10.77.0.1/24\n"
		  "[port peer]\nrole = replication\ndevice = net_memif0,role=server\n"
		  "address = 10.78.0.2/30\nudp_port = 1\nretrans_port = 65535\nmtu = 576\n"
		  "peer = 10.78.0.1\npeer_ingest = 10.77.0.9\nnode_id = 7\npeer_node_id = 3\n"
		  "start_role = primary\nfailover = manual\nfailover_silence = 250ms\n"
		  "hello_interval = 20ms\n"
		  "[shard ticks]\nreplicas = 2\nacks = all\nmax_message = 482\n",
		  err);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_ports, 2);
	roundtrip(c);

	/* Built in code, as the control socket would, with strings at their limits. */
	msh_conf_defaults(c);
	strcpy(c->path, "built");
	assert_int_equal(msh_conf_set_appliance(&c->app, "arena_bytes", "1T", err, sizeof(err)),
			 0);
	p = &c->ports[c->n_ports++];
	msh_port_conf_defaults(p);
	strcpy(p->name, "a.b-c_0123456789012345678901234");
	assert_int_equal(msh_conf_set_port(p, "device", "net_null0", err, sizeof(err)), 0);
	assert_int_equal(msh_conf_set_port(p, "address", "1.2.3.4/32", err, sizeof(err)), 0);
	for (int i = 0; i < MSH_CONF_MAX_SHARDS; i++) {
		char name[16];

		s = &c->shards[c->n_shards++];
		msh_shard_conf_defaults(s);
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(msh_name_from_str(&s->name, name), 0);
		assert_int_equal(msh_conf_set_shard(s, "segment_age", "5m", err, sizeof(err)), 0);
	}
	assert_int_equal(msh_conf_set_shard(s, "spill_dir", path_of_len(dir, 186), err,
					    sizeof(err)), 0);
	roundtrip(c);

	/* A name that cannot be written in a header is refused before anything is written. */
	assert_int_equal(msh_name_from_str(&s->name, "a]b"), 0);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(msh_conf_dump(c, f), -EINVAL);
	fclose(f);
	assert_int_equal(len, 0);
	free(text);
	free(c);
}

static void
test_example_file(void **state)
{
	const char *path = getenv("MSH_CONF_EXAMPLE");
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], *example, *text, *line;
	const struct msh_shard_conf *s;
	unsigned int keys = 0;

	if (path == NULL || path[0] == '\0')
		path = "config/memshard.conf";
	example = read_all(path);
	if (msh_conf_load(c, path, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_ports, 2);
	assert_string_equal(c->ports[0].name, "ingest");
	assert_int_equal(c->ports[0].role, MSH_PORT_INGEST);
	assert_string_equal(c->ports[0].device, "net_af_packet0,iface=msh0");
	assert_int_equal(c->ports[0].ipv4, 0x0a4d0001);
	assert_int_equal(c->ports[0].prefix_len, 24);
	assert_int_equal(c->n_shards, 1);
	s = &c->shards[0];
	assert_memory_equal(s->name.b, "ticks     ", MSH_NAME_LEN);
	assert_int_equal(msh_shard_conf_check(s, err, sizeof(err)), 0);

	/* Every key the dump writes (that is, every key there is) is in the example,
	 * preceded by its comment. */
	text = dump(c);
	for (line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
		size_t klen = strcspn(line, " \n");
		const char *eq = line + klen, *at;
		char needle[64];

		if (*line == '#' || *line == '[' || strncmp(eq, " =", 2) != 0)
			continue;
		/* "key = value" or "key =" for an empty value. */
		snprintf(needle, sizeof(needle), "\n%.*s =", (int)(eq - line), line);
		at = strstr(example, needle);
		while (at != NULL && at[strlen(needle)] != ' ' && at[strlen(needle)] != '\n')
			at = strstr(at + 1, needle);
		if (at == NULL)
			fail_msg("%s does not set key '%.*s'", path, (int)(eq - line), line);
		/* The line before it is a comment. */
		while (at > example && at[-1] != '\n')
			at--;
		if (*at != '#')
			fail_msg("%s: key '%.*s' has no comment", path, (int)(eq - line), line);
		keys++;
	}
	assert_int_equal(keys, 14 + 2 * 15 + 16); /* two ports in the example */
	free(text);
	free(example);
	free(c);
}

/* ---- multicast feeds ([feed NAME], role = feed, shard egress) ---- */

/* Two feed ports and two shards: what the feed cases below build on. */
#define FEED_BASE                                                                             \
	"[port in]\ndevice = a\naddress = 10.0.0.1/24\n"                                      \
	"[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\n"                        \
	"[port mdB]\nrole = feed\ndevice = c\naddress = 10.2.0.1/24\n"                        \
	"[shard ticks]\n[shard other]\n"

static void
test_mcast_addr(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint32_t group;
		uint16_t port;
		const char *name, *want; /* on success / the reason of a refusal */
	} cases[] = {
		{ "239.1.1.1:30001", 0, 0xef010101, 30001, "", NULL },
		{ "239.255.255.255:1", 0, 0xefffffff, 1, "", NULL },
		{ "224.0.1.0:65535", 0, 0xe0000100, 65535, "", NULL },
		{ "224.0.0.255:5", 0 - EINVAL, 0, 0, NULL,
		  "'224.0.0.255:5' is in 224.0.0.0/24, the link-local control block" },
		{ "239.1.1.1:30001@feed_A-1.x", 0, 0xef010101, 30001, "feed_A-1.x", NULL },
		{ "239.1.1.1:7@a234567890123456789012345678901", 0, 0xef010101, 7,
		  "a234567890123456789012345678901", NULL },
		{ "224.0.0.5:5", -EINVAL, 0, 0, NULL,
		  "'224.0.0.5:5' is in 224.0.0.0/24, the link-local control block (IGMP, OSPF, "
		  "...); use another group, e.g. 239.1.1.1:30001" },
		{ "224.0.0.1", -EINVAL, 0, 0, NULL, "is in 224.0.0.0/24" },
		{ "240.0.0.1:1", -EINVAL, 0, 0, NULL,
		  "'240.0.0.1:1' is not a multicast group (use one in 224.0.0.0/4, e.g. "
		  "239.1.1.1:30001)" },
		{ "223.255.255.255:1", -EINVAL, 0, 0, NULL, "is not a multicast group" },
		{ "10.0.0.1:1", -EINVAL, 0, 0, NULL, "is not a multicast group" },
		{ "0.0.0.0:1", -EINVAL, 0, 0, NULL, "is not a multicast group" },
		{ "239.1.1.1", -EINVAL, 0, 0, NULL,
		  "'239.1.1.1' needs a UDP port (GROUP:PORT[@PORTNAME], e.g. 239.1.1.1:30001)" },
		{ "239.1.1.1@mdA", -EINVAL, 0, 0, NULL, "needs a UDP port" },
		{ "239.1.1.1:0", -EINVAL, 0, 0, NULL,
		  "'239.1.1.1:0' has a bad UDP port (use 1 to 65535 after the ':', e.g. "
		  "239.1.1.1:30001)" },
		{ "239.1.1.1:65536", -EINVAL, 0, 0, NULL, "'239.1.1.1:65536' has a bad UDP port" },
		{ "239.1.1.1:99999999999999999999999", -EINVAL, 0, 0, NULL, "has a bad UDP port" },
		{ "239.1.1.1:", -EINVAL, 0, 0, NULL, "has a bad UDP port" },
		{ "239.1.1.1:+5", -EINVAL, 0, 0, NULL, "has a bad UDP port" },
		{ "239.1.1.1:-5", -EINVAL, 0, 0, NULL, "has a bad UDP port" },
		{ "239.1.1.1:@mdA", -EINVAL, 0, 0, NULL, "has a bad UDP port" },
		{ "239.1.1.1:30001x", -EINVAL, 0, 0, NULL,
		  "'239.1.1.1:30001x' has text after the UDP port (GROUP:PORT[@PORTNAME], e.g. "
		  "239.1.1.1:30001@feed0)" },
		{ "239.1.1.1:30001 ", -EINVAL, 0, 0, NULL, "has text after the UDP port" },
		{ "239.1.1.1:30001:2", -EINVAL, 0, 0, NULL, "has text after the UDP port" },
		{ "239.1.1.1:30001@", -EINVAL, 0, 0, NULL,
		  "'239.1.1.1:30001@' has a bad port name after '@' (the NAME of a [port NAME]: "
		  "1 to 31 letters, digits, '_', '-' or '.')" },
		{ "239.1.1.1:30001@a/b", -EINVAL, 0, 0, NULL, "has a bad port name after '@'" },
		{ "239.1.1.1:30001@a b", -EINVAL, 0, 0, NULL, "has a bad port name after '@'" },
		{ "239.1.1.1:30001@mdA ", -EINVAL, 0, 0, NULL, "has a bad port name after '@'" },
		{ "239.1.1.1:30001@a@b", -EINVAL, 0, 0, NULL, "has a bad port name after '@'" },
		{ "239.1.1.1:7@a2345678901234567890123456789012", -EINVAL, 0, 0, NULL,
		  "has a bad port name after '@'" },
		{ "239.1.1:30001", -EINVAL, 0, 0, NULL,
		  "'239.1.1:30001' does not start with a multicast group (GROUP:PORT[@PORTNAME], "
		  "e.g. 239.1.1.1:30001)" },
		{ "239.1.1.256:1", -EINVAL, 0, 0, NULL, "does not start with a multicast group" },
		{ " 239.1.1.1:1", -EINVAL, 0, 0, NULL, "does not start with a multicast group" },
		{ "feed:30001", -EINVAL, 0, 0, NULL, "does not start with a multicast group" },
		{ ":30001", -EINVAL, 0, 0, NULL, "does not start with a multicast group" },
	};
	struct msh_mcast_addr a, a0;
	char err[MSH_CONF_ERR_LEN], buf[64];

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		int rc;

		memset(&a, 0xa5, sizeof(a));
		memcpy(&a0, &a, sizeof(a));
		strcpy(err, "");
		rc = msh_parse_mcast_addr(cases[i].s, &a, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("msh_parse_mcast_addr(\"%s\") = %d, want %d (%s)", cases[i].s, rc,
				 cases[i].rc, err);
		if (rc != 0) {
			assert_has(err, cases[i].want);
			assert_memory_equal(&a, &a0, sizeof(a)); /* untouched on error */
			continue;
		}
		assert_int_equal(a.group, cases[i].group);
		assert_int_equal(a.port, cases[i].port);
		assert_string_equal(a.port_name, cases[i].name);
		/* The rest of the name is cleared: equal settings are equal bytes. */
		for (size_t j = strlen(a.port_name); j < sizeof(a.port_name); j++)
			assert_int_equal(a.port_name[j], 0);
		assert_string_equal(msh_fmt_mcast_addr(&a, buf, sizeof(buf)), cases[i].s);
	}

	/* Empty: not set, all zero. */
	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(msh_parse_mcast_addr("", &a, err, sizeof(err)), 0);
	memset(&a0, 0, sizeof(a0));
	assert_memory_equal(&a, &a0, sizeof(a));
	assert_string_equal(msh_fmt_mcast_addr(&a, buf, sizeof(buf)), "");
	assert_int_equal(msh_parse_mcast_addr(NULL, &a, err, sizeof(err)), -EINVAL);
	assert_int_equal(msh_parse_mcast_addr("239.1.1.1", &a, NULL, 0), -EINVAL);

	/* Half a setting is written so that it reads back refused, not as unset. */
	a.port = 5;
	assert_string_equal(msh_fmt_mcast_addr(&a, buf, sizeof(buf)), "0.0.0.0:5");
	assert_int_equal(msh_parse_mcast_addr(buf, &a0, err, sizeof(err)), -EINVAL);
	memset(&a, 0, sizeof(a));
	strcpy(a.port_name, "mdA");
	assert_string_equal(msh_fmt_mcast_addr(&a, buf, sizeof(buf)), "0.0.0.0:0@mdA");
	a.group = 0xef010101;
	assert_string_equal(msh_fmt_mcast_addr(&a, buf, sizeof(buf)), "239.1.1.1:0@mdA");
	assert_int_equal(msh_parse_mcast_addr(buf, &a0, err, sizeof(err)), -EINVAL);
	/* A name without its NUL is written whole, and too long to read back. */
	a.port = 1;
	memset(a.port_name, 'x', sizeof(a.port_name));
	msh_fmt_mcast_addr(&a, buf, sizeof(buf));
	assert_int_equal(strlen(buf), strlen("239.1.1.1:1@") + MSH_CONF_PORT_NAME_LEN);
	assert_int_equal(msh_parse_mcast_addr(buf, &a0, err, sizeof(err)), -EINVAL);
	assert_has(err, "has a bad port name after '@'");
}

static void
test_feed_keys(void **state)
{
	struct msh_feed_conf f, z;
	struct msh_shard_conf s;
	char err[MSH_CONF_ERR_LEN] = "", name[MSH_NAME_LEN + 1];

	/* Defaults. */
	memset(&f, 0xa5, sizeof(f));
	msh_feed_conf_defaults(&f);
	memset(&z, 0, sizeof(z));
	assert_string_equal(f.name, "");
	assert_memory_equal(&f.shard, &z.shard, sizeof(f.shard)); /* not set */
	assert_memory_equal(&f.line[0], &z.line[0], sizeof(f.line[0]));
	assert_memory_equal(&f.line[1], &z.line[1], sizeof(f.line[1]));
	assert_int_equal(f.source, 0);
	assert_int_equal(f.format, MSH_FEED_MOLDUDP64);
	assert_int_equal(f.gap_timeout_ns, 5000000ull);
	assert_int_equal(f.hold_packets, 4096);
	assert_int_equal(f.max_jump, 1000000);
	assert_int_equal(f.rerequest_ip, 0);
	assert_int_equal(f.rerequest_port, 0);
	assert_int_equal(f.rerequest_timeout_ns, 50000000ull);
	assert_int_equal(f.rerequest_rate, 100);
	assert_false(f.capture_header);
	msh_shard_conf_defaults(&s);
	assert_memory_equal(&s.egress, &z.line[0], sizeof(s.egress));
	assert_int_equal(s.egress_ttl, 1);

#define SET(k, v) assert_int_equal(msh_conf_set_feed(&f, k, v, err, sizeof(err)), 0)
	SET("shard", "ticks");
	assert_string_equal(msh_name_to_str(&f.shard, name), "ticks");
	SET("shard", "!~]#x");
	assert_string_equal(msh_name_to_str(&f.shard, name), "!~]#x");
	SET("line_a", "239.1.2.3:30001@mdA");
	assert_int_equal(f.line[0].group, 0xef010203);
	assert_int_equal(f.line[0].port, 30001);
	assert_string_equal(f.line[0].port_name, "mdA");
	SET("line_a", "239.1.2.3:30001");
	assert_string_equal(f.line[0].port_name, "");
	assert_int_equal(f.line[0].port_name[1], 0); /* the old name is gone */
	SET("line_b", "239.1.2.4:30002@mdB");
	assert_int_equal(f.line[1].group, 0xef010204);
	assert_int_equal(f.line[1].port, 30002);
	assert_string_equal(f.line[1].port_name, "mdB");
	SET("line_b", "");
	assert_memory_equal(&f.line[1], &z.line[1], sizeof(f.line[1]));
	SET("source", "10.90.1.1");
	assert_int_equal(f.source, 0x0a5a0101);
	SET("format", "raw");
	assert_int_equal(f.format, MSH_FEED_RAW);
	SET("gap_timeout", "10us");
	assert_int_equal(f.gap_timeout_ns, 10000);
	SET("gap_timeout", "10s");
	assert_int_equal(f.gap_timeout_ns, 10000000000ull);
	SET("hold_packets", "65535");
	assert_int_equal(f.hold_packets, 65535);
	SET("hold_packets", "1");
	assert_int_equal(f.hold_packets, 1);
	SET("max_jump", "4294967296");
	assert_int_equal(f.max_jump, 1ull << 32);
	SET("max_jump", "1");
	assert_int_equal(f.max_jump, 1);
	SET("rerequest", "10.90.1.1:30010");
	assert_int_equal(f.rerequest_ip, 0x0a5a0101);
	assert_int_equal(f.rerequest_port, 30010);
	SET("rerequest_timeout", "1ms");
	assert_int_equal(f.rerequest_timeout_ns, 1000000);
	SET("rerequest_rate", "100000");
	assert_int_equal(f.rerequest_rate, 100000);
	SET("capture_header", "on");
	assert_true(f.capture_header);
	SET("capture_header", "off");
	assert_false(f.capture_header);
	SET("rerequest", "");
	assert_int_equal(f.rerequest_ip, 0);
	assert_int_equal(f.rerequest_port, 0);
	SET("source", "");
	assert_int_equal(f.source, 0);
	SET("shard", "");
	assert_memory_equal(&f.shard, &z.shard, sizeof(f.shard));
#undef SET

	assert_int_equal(msh_conf_set_feed(&f, "line", "x", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "line: unknown key (one of shard, line_a, line_b, source, format, "
				 "gap_timeout, hold_packets, max_jump, rerequest, "
				 "rerequest_timeout, rerequest_rate, capture_header)");
	assert_int_equal(msh_conf_set_feed(&f, "line_a", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(msh_conf_set_feed(NULL, "line_a", "", err, sizeof(err)), -EINVAL);

	/* The shard's egress keys. */
	assert_int_equal(msh_conf_set_shard(&s, "egress", "239.192.10.1:31001@in", err,
					    sizeof(err)), 0);
	assert_int_equal(s.egress.group, 0xefc00a01);
	assert_int_equal(s.egress.port, 31001);
	assert_string_equal(s.egress.port_name, "in");
	assert_int_equal(msh_conf_set_shard(&s, "egress_ttl", "255", err, sizeof(err)), 0);
	assert_int_equal(s.egress_ttl, 255);
	assert_int_equal(msh_conf_set_shard(&s, "egress", "", err, sizeof(err)), 0);
	assert_int_equal(s.egress.group, 0);
}

/* Every refusal of a feed key: by the setter (which then changes nothing) and in
 * a file (which names the line, the section and the key). */
static void
test_feed_bad_values(void **state)
{
	static const struct {
		const char *key, *val, *want;
	} cases[] = {
		{ "shard", "waytoolongname", "shard: 'waytoolongname' is not a shard name (1 to "
					     "10 printable ASCII characters, no spaces)" },
		{ "shard", "a\x01", "shard: 'a\x01' is not a shard name" },
		{ "line_a", "239.1.1.1", "line_a: '239.1.1.1' needs a UDP port (GROUP:PORT"
					 "[@PORTNAME], e.g. 239.1.1.1:30001)" },
		{ "line_a", "224.0.0.5:30001", "line_a: '224.0.0.5:30001' is in 224.0.0.0/24, "
					       "the link-local control block" },
		{ "line_a", "10.0.0.1:30001", "line_a: '10.0.0.1:30001' is not a multicast "
					      "group (use one in 224.0.0.0/4" },
		{ "line_b", "240.0.0.1:30001", "line_b: '240.0.0.1:30001' is not a multicast "
					       "group" },
		{ "line_b", "239.1.1.1:0", "line_b: '239.1.1.1:0' has a bad UDP port (use 1 to "
					   "65535 after the ':'" },
		{ "line_a", "239.1.1.1:65536", "line_a: '239.1.1.1:65536' has a bad UDP port" },
		{ "line_a", "239.1.1.1:30001 junk", "line_a: '239.1.1.1:30001 junk' has text "
						    "after the UDP port" },
		{ "line_a", "239.1.1.1:30001@a/b", "line_a: '239.1.1.1:30001@a/b' has a bad port "
						   "name after '@'" },
		{ "line_a", "mdA:30001", "line_a: 'mdA:30001' does not start with a multicast "
					 "group" },
		{ "source", "239.1.1.1", "source: '239.1.1.1' is not a unicast address" },
		{ "source", "0.0.0.0", "source: '0.0.0.0' is not a unicast address" },
		{ "source", "255.255.255.255", "source: '255.255.255.255' is not a unicast "
					       "address" },
		{ "source", "10.0.0", "source: '10.0.0' is not an IPv4 address (a.b.c.d" },
		{ "source", "10.0.0.1/24", "source: '10.0.0.1/24' is not an IPv4 address" },
		{ "format", "itch", "format: 'itch' is not one of moldudp64, raw" },
		{ "format", "MoldUDP64", "format: 'MoldUDP64' is not one of moldudp64, raw" },
		{ "gap_timeout", "5", "gap_timeout: '5' has no unit (add one of ns, us, ms, s, m "
				      "or h, e.g. 5s)" },
		{ "gap_timeout", "9us", "gap_timeout: '9us' is out of range (10us to 10s)" },
		{ "gap_timeout", "11s", "gap_timeout: '11s' is out of range (10us to 10s)" },
		{ "gap_timeout", "0", "gap_timeout: '0' is out of range (10us to 10s)" },
		{ "hold_packets", "0", "hold_packets: '0' is out of range (1 to 65535)" },
		{ "hold_packets", "65536", "hold_packets: '65536' is out of range (1 to 65535)" },
		{ "hold_packets", "4k", "hold_packets: '4k' is not a number (use a whole number "
					"from 1 to 65535)" },
		{ "max_jump", "0", "max_jump: '0' is out of range (1 to 4294967296)" },
		{ "max_jump", "4294967297", "max_jump: '4294967297' is out of range (1 to "
					    "4294967296)" },
		{ "rerequest", "10.90.1.1", "rerequest: '10.90.1.1' needs a UDP port (ADDR:PORT, "
					    "e.g. 10.80.0.1:30010)" },
		{ "rerequest", "10.90.1.1:0", "rerequest: '10.90.1.1:0' has a bad UDP port (use 1 "
					      "to 65535 after the ':'" },
		{ "rerequest", "10.90.1.1:65536", "rerequest: '10.90.1.1:65536' has a bad UDP "
						  "port" },
		{ "rerequest", "10.90.1.1:5x", "rerequest: '10.90.1.1:5x' has a bad UDP port" },
		{ "rerequest", "239.1.1.1:5", "rerequest: '239.1.1.1:5' is not a unicast address "
					      "(the re-request server's ADDR:PORT" },
		{ "rerequest", "0.0.0.0:5", "rerequest: '0.0.0.0:5' is not a unicast address" },
		{ "rerequest", "10.90.1:5", "rerequest: '10.90.1:5' is not an IPv4 address and "
					    "UDP port (use ADDR:PORT, e.g. 10.80.0.1:30010)" },
		{ "rerequest", "10.90.1.1@mdA", "rerequest: '10.90.1.1@mdA' is not an IPv4 "
						"address and UDP port" },
		{ "rerequest_timeout", "999us", "rerequest_timeout: '999us' is out of range (1ms "
						"to 10s)" },
		{ "rerequest_timeout", "11s", "rerequest_timeout: '11s' is out of range (1ms to "
					      "10s)" },
		{ "rerequest_rate", "0", "rerequest_rate: '0' is out of range (1 to 100000)" },
		{ "rerequest_rate", "100001", "rerequest_rate: '100001' is out of range (1 to "
					      "100000)" },
		{ "capture_header", "yes", "capture_header: 'yes' is not one of off, on" },
		{ "capture_header", "1", "capture_header: '1' is not one of off, on" },
	};
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], text[256], want[300];
	struct msh_feed_conf f, f0;

	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		int rc;

		msh_feed_conf_defaults(&f);
		memcpy(&f0, &f, sizeof(f));
		strcpy(err, "");
		rc = msh_conf_set_feed(&f, cases[i].key, cases[i].val, err, sizeof(err));
		if (rc != -EINVAL)
			fail_msg("%s = '%s' gave %d, want -EINVAL", cases[i].key, cases[i].val, rc);
		assert_has(err, cases[i].want);
		assert_memory_equal(&f, &f0, sizeof(f)); /* a refused value changes nothing */

		snprintf(text, sizeof(text), FEED_BASE "[feed itch]\n%s = %s\n",
			 cases[i].key, cases[i].val);
		rc = load(c, text, err);
		if (rc != -EINVAL)
			fail_msg("file with %s = '%s' gave %d, want -EINVAL", cases[i].key,
				 cases[i].val, rc);
		snprintf(want, sizeof(want), "t.conf:15: [feed itch] %s", cases[i].want);
		assert_has(err, want);
	}

	/* A name starting with ';' would read back as a comment; the setter says so. */
	msh_feed_conf_defaults(&f);
	assert_int_equal(msh_conf_set_feed(&f, "shard", ";x", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "shard: ';x' starts with ';', which starts a comment in the "
				 "configuration file");
	assert_int_equal(msh_conf_set_feed(&f, "shard", "x;", err, sizeof(err)), 0);

	/* The shard's egress keys, in a file too. */
	assert_int_equal(load(c, FEED_BASE "[shard e]\negress = 239.1.1.1\n", err), -EINVAL);
	assert_string_equal(err, "t.conf:15: [shard e] egress: '239.1.1.1' needs a UDP port "
				 "(GROUP:PORT[@PORTNAME], e.g. 239.1.1.1:30001)");
	assert_int_equal(load(c, "[shard e]\negress = 224.0.0.251:5353\n", err), -EINVAL);
	assert_has(err, "t.conf:2: [shard e] egress: '224.0.0.251:5353' is in 224.0.0.0/24");
	assert_int_equal(load(c, "[shard e]\negress_ttl = 0\n", err), -EINVAL);
	assert_string_equal(err, "t.conf:2: [shard e] egress_ttl: '0' is out of range (1 to 255)");
	assert_int_equal(load(c, "[shard e]\negress_ttl = 256\n", err), -EINVAL);
	assert_string_equal(err, "t.conf:2: [shard e] egress_ttl: '256' is out of range (1 to "
				 "255)");
	free(c);
}

/* A [feed NAME] section setting every key, on the ports and shards of a file. */
static void
test_feed_section(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[feed]\n", "t.conf:1: [feed]: needs a name: [feed NAME]" },
		{ "[feed a/b]\n", "t.conf:1: [feed a/b]: not a feed name (1 to 31 letters, digits, "
				  "'_', '-' or '.')" },
		{ "[feed two words]\n", "t.conf:1: [feed two words]: not a feed name" },
		{ "[feed a2345678901234567890123456789012]\n", "t.conf:1: [feed "
		  "a2345678901234567890123456789012]: not a feed name" },
		{ "[shard ticks]\n[feed f]\nshard = ticks\n[feed f]\n",
		  "t.conf:4: [feed f]: duplicate section (first at line 2)" },
		{ "[feed f]\nlines = 2\n",
		  "t.conf:2: [feed f] lines: unknown key (one of shard, line_a, line_b, source, "
		  "format, gap_timeout, hold_packets, max_jump, rerequest, rerequest_timeout, "
		  "rerequest_rate, capture_header)" },
		{ "[feed f]\nshard = a\nhold_packets = 1\nshard = b\n",
		  "t.conf:4: [feed f] shard: set twice (first at line 2)" },
		{ "[feed f] x\n", "t.conf:1: [feed f] x: text after the section header" },
		{ "[feed f\n", "t.conf:1: [feed f: unterminated section header" },
		{ "[feeds f]\n", "t.conf:1: [feeds f]: unknown section type 'feeds' (use "
				 "[appliance], [port NAME], [shard NAME] or [feed NAME])" },
	};
	struct msh_conf *c = conf_new();
	const struct msh_feed_conf *f;
	char err[MSH_CONF_ERR_LEN], name[MSH_NAME_LEN + 1], *text, *p;
	int rc;

	rc = load(c,
		  FEED_BASE
		  "[feed itch]\n"
		  "shard = ticks\n"
		  "line_a = 239.192.1.1:30001@mdA\n"
		  "line_b = 239.192.2.1:30002@mdB\n"
		  "source = 10.90.1.1\n"
		  "format = raw\n"
		  "gap_timeout = 250us\n"
		  "hold_packets = 512\n"
		  "max_jump = 4294967296\n"
		  "rerequest = 10.90.1.2:30010\n"
		  "rerequest_timeout = 20ms\n"
		  "rerequest_rate = 2500\n"
		  "capture_header = on\n"
		  "[feed ouch.2]\n"
		  "shard = other\n"
		  "line_a = 239.192.1.1:30001\n",
		  err);
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(c->n_feeds, 2);
	f = &c->feeds[0];
	assert_string_equal(f->name, "itch");
	assert_string_equal(msh_name_to_str(&f->shard, name), "ticks");
	assert_int_equal(f->line[0].group, 0xefc00101);
	assert_int_equal(f->line[0].port, 30001);
	assert_string_equal(f->line[0].port_name, "mdA");
	assert_int_equal(f->line[1].group, 0xefc00201);
	assert_int_equal(f->line[1].port, 30002);
	assert_string_equal(f->line[1].port_name, "mdB");
	assert_int_equal(f->source, 0x0a5a0101);
	assert_int_equal(f->format, MSH_FEED_RAW);
	assert_int_equal(f->gap_timeout_ns, 250000);
	assert_int_equal(f->hold_packets, 512);
	assert_int_equal(f->max_jump, 1ull << 32);
	assert_int_equal(f->rerequest_ip, 0x0a5a0102);
	assert_int_equal(f->rerequest_port, 30010);
	assert_int_equal(f->rerequest_timeout_ns, 20000000);
	assert_int_equal(f->rerequest_rate, 2500);
	assert_true(f->capture_header);
	assert_int_equal(msh_feed_conf_check(f, err, sizeof(err)), 0);

	/* The second one: its keys' defaults, line A on the ingest port (the same
	 * GROUP:PORT as itch's line A, on another port). */
	f = &c->feeds[1];
	assert_string_equal(f->name, "ouch.2");
	assert_string_equal(msh_name_to_str(&f->shard, name), "other");
	assert_int_equal(f->line[0].group, 0xefc00101);
	assert_string_equal(f->line[0].port_name, "");
	assert_int_equal(f->line[1].group, 0);
	assert_int_equal(f->format, MSH_FEED_MOLDUDP64);
	assert_int_equal(f->gap_timeout_ns, 5000000);
	assert_int_equal(f->hold_packets, 4096);
	assert_int_equal(f->max_jump, 1000000);
	assert_int_equal(f->rerequest_ip, 0);
	assert_int_equal(f->rerequest_timeout_ns, 50000000);
	assert_int_equal(f->rerequest_rate, 100);
	assert_false(f->capture_header);
	assert_int_equal(c->ports[1].role, MSH_PORT_FEED);
	assert_int_equal(c->ports[2].role, MSH_PORT_FEED);

	/* The section itself: names, duplicates, the limit, unknown and repeated keys. */
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad); i++) {
		rc = load(c, bad[i].text, err);
		if (rc != -EINVAL)
			fail_msg("case %zu gave %d, want -EINVAL (%s)", i, rc, err);
		assert_has(err, bad[i].want);
	}
	assert_int_equal(c->n_feeds, 2); /* failed loads left it as it was */

	/* 32 feeds at most, the 33rd named at its line; a port and a feed may share a name. */
	text = calloc(MSH_CONF_MAX_FEEDS + 2, 16);
	assert_non_null(text);
	p = text;
	for (int i = 0; i <= MSH_CONF_MAX_FEEDS; i++)
		p += sprintf(p, "[feed f%d]\n", i);
	assert_int_equal(load(c, text, err), -EINVAL);
	assert_string_equal(err, "t.conf:33: [feed f32]: too many feeds (at most 32)");
	free(text);
	rc = load(c, "[port in]\ndevice = a\naddress = 10.0.0.1/24\n[shard in]\n[feed in]\n"
		  "shard = in\nline_a = 239.1.1.1:1@in\n", err);
	if (rc != 0)
		fail_msg("%s", err);
	free(c);
}

/* Store @p v in the field of @p size bytes at @p p. */
static void
put_field(void *p, size_t size, uint64_t v)
{
	uint8_t v8 = (uint8_t)v;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	switch (size) {
	case 1:
		memcpy(p, &v8, 1);
		break;
	case 2:
		memcpy(p, &v16, 2);
		break;
	case 4:
		memcpy(p, &v32, 4);
		break;
	default:
		assert_int_equal(size, 8);
		memcpy(p, &v, 8);
		break;
	}
}

/* msh_feed_conf_check() on structs filled in code, as "feed create" would. */
static void
test_feed_check(void **state)
{
	/* Each key's range, as the setter has it: the field, a bad value, the refusal. */
	static const struct {
		size_t off, size;
		uint64_t v;
		const char *want;
	} cases[] = {
#define FLD(f) offsetof(struct msh_feed_conf, f), sizeof(((struct msh_feed_conf *)0)->f)
		{ FLD(hold_packets), 0, "hold_packets: '0' is out of range (1 to 65535)" },
		{ FLD(hold_packets), 65536, "hold_packets: '65536' is out of range" },
		{ FLD(max_jump), 0, "max_jump: '0' is out of range (1 to 4294967296)" },
		{ FLD(max_jump), (1ull << 32) + 1, "max_jump: '4294967297' is out of range" },
		{ FLD(gap_timeout_ns), 9999, "gap_timeout: '9999ns' is out of range (10us to "
					     "10s)" },
		{ FLD(rerequest_timeout_ns), 0, "rerequest_timeout: '0' is out of range (1ms to "
						"10s)" },
		{ FLD(rerequest_rate), 0, "rerequest_rate: '0' is out of range (1 to 100000)" },
		{ FLD(format), 7, "format: '?7' is not one of moldudp64, raw" },
		{ FLD(source), 0xef010101, "source: '239.1.1.1' is not a unicast address" },
		{ FLD(rerequest_ip), 0x0a000001, "rerequest: '10.0.0.1:0' has a bad UDP port" },
		{ FLD(rerequest_port), 5, "rerequest: '0.0.0.0:5' is not a unicast address" },
		{ FLD(line[0].port), 0, "line_a: '239.1.1.1:0@mdA' has a bad UDP port" },
		{ FLD(line[0].group), 0xe0000005, "line_a: '224.0.0.5:30001@mdA' is in "
						  "224.0.0.0/24" },
		{ FLD(line[1].port), 5, "line_b: '0.0.0.0:5' is not a multicast group" },
		{ FLD(line[1].group), 0x0a000001, "line_b: '10.0.0.1:0' is not a multicast group" },
#undef FLD
	};
	struct msh_feed_conf f, g;
	char err[MSH_CONF_ERR_LEN];

	msh_feed_conf_defaults(&f);
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "name: not a feed name (1 to 31 letters, digits, '_', '-' or "
				 "'.')");
	strcpy(f.name, "a/b");
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_has(err, "name: not a feed name");
	memset(f.name, 'x', sizeof(f.name)); /* no NUL */
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_has(err, "name: not a feed name");
	memset(f.name, 0, sizeof(f.name));
	strcpy(f.name, "itch");
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "shard: missing (the NAME of the [shard NAME] the feed appends "
				 "to)");
	memcpy(f.shard.b, "tic ks    ", MSH_NAME_LEN);
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "shard: not a shard name (1 to 10 printable ASCII characters, no "
				 "spaces)");
	assert_int_equal(msh_name_from_str(&f.shard, ";x"), 0);
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_has(err, "shard: ';x' starts with ';'");
	assert_int_equal(msh_name_from_str(&f.shard, "ticks"), 0);
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line_a: missing (GROUP:PORT[@PORTNAME], e.g. 239.1.1.1:30001)");
	assert_int_equal(msh_conf_set_feed(&f, "line_a", "239.1.1.1:30001@mdA", err, sizeof(err)),
			 0);
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);

	/* Line B: not line A's GROUP:PORT@PORTNAME; a different name, group or port is fine. */
	f.line[1] = f.line[0];
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line_b: '239.1.1.1:30001@mdA' is line_a too (line B needs its "
				 "own group, UDP port or port; leave it empty for one line)");
	strcpy(f.line[1].port_name, "mdB");
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);
	f.line[1] = f.line[0];
	f.line[1].port++;
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);
	f.line[1] = f.line[0];
	f.line[1].group++;
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);

	/* capture_header belongs to format = raw. */
	f.capture_header = true;
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "capture_header: only with format = raw");
	f.format = MSH_FEED_RAW;
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);

	/* Each key's range, as the setter has it. */
	f.capture_header = false;
	f.format = MSH_FEED_MOLDUDP64;
	memset(&f.line[1], 0, sizeof(f.line[1]));
	assert_int_equal(msh_feed_conf_check(&f, err, sizeof(err)), 0);
	for (size_t i = 0; i < MSH_ARRAY_SIZE(cases); i++) {
		memcpy(&g, &f, sizeof(g));
		put_field((uint8_t *)&g + cases[i].off, cases[i].size, cases[i].v);
		strcpy(err, "");
		if (msh_feed_conf_check(&g, err, sizeof(err)) != -EINVAL)
			fail_msg("case %zu passed (%s)", i, err);
		assert_has(err, cases[i].want);
	}
	/* A port name without its NUL. */
	memcpy(&g, &f, sizeof(g));
	memset(g.line[0].port_name, 'x', sizeof(g.line[0].port_name));
	assert_int_equal(msh_feed_conf_check(&g, err, sizeof(err)), -EINVAL);
	assert_has(err, "line_a: '239.1.1.1:30001@xxxxxxxx");
	assert_has(err, "has a bad port name after '@'");
}

/* What a feed needs from the rest of the file, the feed port role, shard egress. */
static void
test_feed_cross_checks(void **state)
{
#define REPL_PORT                                                                             \
	"[port r]\nrole = replication\ndevice = r\naddress = 10.9.0.1/30\npeer = 10.9.0.2\n"
	static const struct load_case cases[] = {
		/* the feed's own rules, prefixed with its section */
		{ FEED_BASE "[feed f]\nline_a = 239.1.1.1:1\n",
		  "t.conf: [feed f] shard: missing (the NAME of the [shard NAME] the feed appends "
		  "to)" },
		{ FEED_BASE "[feed f]\nshard = ticks\n",
		  "t.conf: [feed f] line_a: missing (GROUP:PORT[@PORTNAME], e.g. "
		  "239.1.1.1:30001)" },
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdA\n"
			    "line_b = 239.1.1.1:1@mdA\n",
		  "t.conf: [feed f] line_b: '239.1.1.1:1@mdA' is line_a too" },
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1\ncapture_header = on\n",
		  "t.conf: [feed f] capture_header: only with format = raw" },
		/* the shard */
		{ FEED_BASE "[feed f]\nshard = nope\nline_a = 239.1.1.1:1\n",
		  "t.conf: [feed f] shard: no [shard NAME] section declares 'nope'" },
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1\n"
			    "[feed g]\nshard = ticks\nline_a = 239.1.1.2:1\n",
		  "t.conf: [feed g] shard: 'ticks' is fed by [feed f] too (one feed per shard)" },
		{ REPL_PORT "[shard ticks]\nreplicas = 2\nmax_message = 1000\n"
			    "[port in]\ndevice = a\naddress = 10.0.0.1/24\n"
			    "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1\n",
		  "t.conf: [feed f] shard: [shard ticks] has replicas = 2; a fed shard with "
		  "replicas = 2 is not built yet" },
		/* the ports */
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdC\n",
		  "t.conf: [feed f] line_a: no [port NAME] section declares 'mdC'" },
		{ FEED_BASE REPL_PORT "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdA\n"
				      "line_b = 239.1.1.2:1@r\n",
		  "t.conf: [feed f] line_b: [port r] has role = replication (a feed line needs a "
		  "port with role = feed or ingest)" },
		{ "[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\n[shard ticks]\n"
		  "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdA\nline_b = 239.1.1.2:1\n",
		  "t.conf: [feed f] line_b: no @PORTNAME, and no [port NAME] has role = ingest "
		  "(name a port with role = feed: GROUP:PORT@PORTNAME)" },
		/* one binding of a GROUP:PORT per port */
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdA\n"
			    "[feed g]\nshard = other\nline_a = 239.1.1.2:1@mdA\n"
			    "line_b = 239.1.1.1:1@mdA\n",
		  "t.conf: [feed g] line_b: 239.1.1.1:1 on [port mdA] is [feed f]'s line_a too "
		  "(one feed per group and UDP port on a port)" },
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@in\n"
			    "[feed g]\nshard = other\nline_a = 239.1.1.1:1\n",
		  "t.conf: [feed g] line_a: 239.1.1.1:1 on [port in] is [feed f]'s line_a too" },
		{ FEED_BASE "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1\n"
			    "line_b = 239.1.1.1:1@in\n",
		  "t.conf: [feed f] line_b: 239.1.1.1:1 on [port in] is line_a too" },
		/* feed ports: device and address like any port; not the ingest nor the
		 * replication port */
		{ "[port mdA]\nrole = feed\naddress = 10.1.0.1/24\n",
		  "t.conf: [port mdA] device: missing" },
		{ "[port mdA]\nrole = feed\ndevice = b\n", "t.conf: [port mdA] address: missing" },
		{ "[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\nrx_queues = 2\n",
		  "t.conf: [port mdA] rx_queues: 2 is more than workers (1)" },
		{ FEED_BASE "[port mdC]\nrole = feed\ndevice = b\naddress = 10.3.0.1/24\n",
		  "t.conf: [port mdC] device: 'b' is also [port mdA]'s" },
		{ FEED_BASE "[port x]\nrole = feed\ndevice = x\naddress = 10.3.0.1/24\n"
			    "[port y]\nrole = feed\n",
		  "t.conf:18: [port y]: too many ports (at most 4)" },
		{ "[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\n[shard ticks]\n"
		  "replicas = 2\n",
		  "t.conf: [shard ticks] replicas: 2 needs a [port NAME] with role = replication" },
		/* egress */
		{ FEED_BASE "[shard e]\negress = 239.2.2.2:1@mdA\n",
		  "t.conf: [shard e] egress: [port mdA] has role = feed; egress goes out of the "
		  "ingest port in this version (name it, or leave @PORTNAME out)" },
		{ FEED_BASE REPL_PORT "[shard e]\negress = 239.2.2.2:1@r\n",
		  "t.conf: [shard e] egress: [port r] has role = replication; egress goes out of "
		  "the ingest port" },
		{ FEED_BASE "[shard e]\negress = 239.2.2.2:1@nope\n",
		  "t.conf: [shard e] egress: no [port NAME] section declares 'nope'" },
		{ "[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\n"
		  "[shard e]\negress = 239.2.2.2:1\n",
		  "t.conf: [shard e] egress: needs a [port NAME] with role = ingest (egress goes "
		  "out of the ingest port in this version)" },
		{ FEED_BASE "[shard e]\negress = 239.2.2.2:1\n[shard f]\n"
			    "[shard g]\negress = 239.2.2.2:2@in\n",
		  "t.conf: [shard g] egress: group 239.2.2.2 is [shard e]'s egress group too (each "
		  "shard needs a group of its own)" },
		/* and what they allow: several feed ports, a feed port's unused UDP ports,
		 * one GROUP:PORT on two ports, lines on the ingest port, a fed shard with an
		 * egress, egress groups of their own */
		{ FEED_BASE "[port mdC]\nrole = feed\ndevice = d\naddress = 10.3.0.1/24\n"
			    "udp_port = 9001\nretrans_port = 9001\n"
			    "[shard third]\negress = 239.2.2.3:1@in\negress_ttl = 32\n"
			    "[shard fourth]\negress = 239.2.2.4:1\n"
			    "[feed f]\nshard = ticks\nline_a = 239.1.1.1:1@mdA\n"
			    "line_b = 239.1.1.1:1@mdB\n"
			    "[feed g]\nshard = other\nline_a = 239.1.1.1:1@mdC\n"
			    "line_b = 239.1.1.1:1\n"
			    "[feed h]\nshard = third\nline_a = 239.1.1.1:2@in\n"
			    "line_b = 239.1.1.2:1\n"
			    "[feed i]\nshard = fourth\nline_a = 239.1.1.1:2@mdA\n"
			    "source = 10.1.0.9\nrerequest = 10.1.0.9:30010\n",
		  "" },
		/* a feed port does not take the ingest port's place */
		{ "[port mdA]\nrole = feed\ndevice = b\naddress = 10.1.0.1/24\n"
		  "[port in]\ndevice = a\naddress = 10.0.0.1/24\n"
		  "[port mdB]\nrole = feed\ndevice = c\naddress = 10.2.0.1/24\n"
		  "[port in2]\ndevice = d\naddress = 10.3.0.1/24\n",
		  "t.conf: [port in2] role: a second ingest port ([port in] is one); at most one" },
	};
#undef REPL_PORT
	struct msh_conf *c = conf_new(), *before = conf_new();
	char err[MSH_CONF_ERR_LEN];

	load_cases(cases, MSH_ARRAY_SIZE(cases));
	/* The allowed case, as loaded. */
	assert_int_equal(load(c, cases[MSH_ARRAY_SIZE(cases) - 2].text, err), 0);
	assert_int_equal(c->n_ports, 4);
	assert_int_equal(c->ports[3].role, MSH_PORT_FEED);
	assert_int_equal(c->n_feeds, 4);
	assert_int_equal(c->shards[2].egress.group, 0xef020203);
	assert_string_equal(c->shards[2].egress.port_name, "in");
	assert_int_equal(c->shards[2].egress_ttl, 32);
	assert_int_equal(c->shards[3].egress_ttl, 1);
	free(c);
	free(before);
}

/* The dump writes [feed NAME] sections after the shards, every key, and they load
 * back equal; a feed name that cannot be written is refused before anything is. */
static void
test_feed_dump(void **state)
{
	static const char *const bad[] = { "", "a]b", "a b" };
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], *text = NULL, *shard_at, *feed_at;
	struct msh_feed_conf *f;
	struct msh_shard_conf *s;
	struct msh_port_conf *p;
	size_t len = 0;
	FILE *out;
	int rc;

	rc = load(c,
		  FEED_BASE
		  "[shard eg]\negress = 239.192.10.1:31001@in\negress_ttl = 64\n"
		  "[feed itch]\nshard = ticks\nline_a = 239.192.1.1:30001@mdA\n"
		  "line_b = 239.192.2.1:30002@mdB\nsource = 10.90.1.1\nformat = raw\n"
		  "gap_timeout = 250us\nhold_packets = 512\nmax_jump = 4294967296\n"
		  "rerequest = 10.90.1.2:30010\nrerequest_timeout = 20ms\nrerequest_rate = 2500\n"
		  "capture_header = on\n"
		  "[feed b]\nshard = other\nline_a = 224.0.1.0:65535\n",
		  err);
	if (rc != 0)
		fail_msg("%s", err);
	roundtrip(c);
	text = dump(c);
	shard_at = strstr(text, "\n[shard eg]\n");
	feed_at = strstr(text, "\n[feed itch]\n");
	assert_non_null(shard_at);
	assert_non_null(feed_at);
	assert_true(shard_at < feed_at);
	assert_has(text, "\negress = 239.192.10.1:31001@in\n");
	assert_has(text, "\negress_ttl = 64\n");
	assert_has(text, "\nline_b = 239.192.2.1:30002@mdB\n");
	assert_has(text, "\nrerequest = 10.90.1.2:30010\n");
	assert_has(text, "\ncapture_header = on\n");
	assert_has(text, "\n[feed b]\n# the [shard NAME] the feed's messages are appended to "
			 "(required); default none\nshard = other\n");
	assert_has(text, "\nline_b =\n");
	free(text);

	/* Built in code: 32 feeds with names at their limit, each on its own shard. */
	msh_conf_defaults(c);
	strcpy(c->path, "built");
	assert_int_equal(msh_conf_set_appliance(&c->app, "arena_bytes", "8G", err, sizeof(err)),
			 0);
	p = &c->ports[c->n_ports++];
	msh_port_conf_defaults(p);
	strcpy(p->name, "in");
	assert_int_equal(msh_conf_set_port(p, "device", "net_null0", err, sizeof(err)), 0);
	assert_int_equal(msh_conf_set_port(p, "address", "1.2.3.4/32", err, sizeof(err)), 0);
	for (int i = 0; i < MSH_CONF_MAX_FEEDS; i++) {
		char name[40], val[64];

		s = &c->shards[c->n_shards++];
		msh_shard_conf_defaults(s);
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(msh_name_from_str(&s->name, name), 0);
		snprintf(val, sizeof(val), "239.200.0.%d:%d@in", i + 1, 40000 + i);
		assert_int_equal(msh_conf_set_shard(s, "egress", val, err, sizeof(err)), 0);
		f = &c->feeds[c->n_feeds++];
		msh_feed_conf_defaults(f);
		snprintf(f->name, sizeof(f->name), "%031u", (unsigned int)i);
		assert_int_equal(strlen(f->name), MSH_CONF_PORT_NAME_LEN - 1);
		assert_int_equal(msh_conf_set_feed(f, "shard", name, err, sizeof(err)), 0);
		snprintf(val, sizeof(val), "239.100.0.%d:%d@in", i + 1, 30000 + i);
		assert_int_equal(msh_conf_set_feed(f, "line_a", val, err, sizeof(err)), 0);
		assert_int_equal(msh_feed_conf_check(f, err, sizeof(err)), 0);
	}
	roundtrip(c);

	/* Feed names that cannot be written in a header: nothing is written. */
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad) + 1; i++) {
		f = &c->feeds[MSH_CONF_MAX_FEEDS - 1];
		if (i < MSH_ARRAY_SIZE(bad))
			snprintf(f->name, sizeof(f->name), "%s", bad[i]);
		else
			memset(f->name, 'x', sizeof(f->name)); /* no NUL */
		text = NULL;
		len = 0;
		out = open_memstream(&text, &len);
		assert_non_null(out);
		assert_int_equal(msh_conf_dump(c, out), -EINVAL);
		fclose(out);
		assert_int_equal(len, 0);
		free(text);
	}
	c->n_feeds = MSH_CONF_MAX_FEEDS + 1;
	text = NULL;
	len = 0;
	out = open_memstream(&text, &len);
	assert_non_null(out);
	assert_int_equal(msh_conf_dump(c, out), -EINVAL);
	fclose(out);
	free(text);
	free(c);
}

/* The commented-out feed example of config/memshard.conf ("#key = value" lines):
 * taken in, it loads, and every feed key is there after its own comment. */
static void
test_example_feed(void **state)
{
	const char *path = getenv("MSH_CONF_EXAMPLE");
	struct msh_conf *c = conf_new();
	char err[MSH_CONF_ERR_LEN], *example, *text, *out, *line;
	const struct msh_feed_conf *f;
	char name[MSH_NAME_LEN + 1];
	int keys = -1;

	if (path == NULL || path[0] == '\0')
		path = "config/memshard.conf";
	example = read_all(path);
	text = calloc(1, strlen(example) + 1);
	assert_non_null(text);
	out = text;
	for (line = example; *line != '\0';) {
		size_t n = strcspn(line, "\n");

		/* "#[port mdA]", "#role = feed": the example; "# ..." and "#" explain. */
		if (line[0] == '#' && (line[1] == '[' || (line[1] >= 'a' && line[1] <= 'z')))
			line++, n--;
		memcpy(out, line, n);
		out += n;
		line += n;
		if (*line == '\n')
			*out++ = *line++;
	}
	*out = '\0';
	if (msh_conf_load_string(c, text, path, err, sizeof(err)) != 0)
		fail_msg("the example with its commented-out sections taken in: %s", err);
	assert_int_equal(c->n_ports, 4);
	assert_int_equal(c->ports[2].role, MSH_PORT_FEED);
	assert_int_equal(c->ports[3].role, MSH_PORT_FEED);
	assert_int_equal(c->n_feeds, 1);
	f = &c->feeds[0];
	assert_string_equal(f->name, "itch");
	assert_string_equal(msh_name_to_str(&f->shard, name), "ticks");
	assert_string_equal(f->line[0].port_name, c->ports[2].name);
	assert_string_equal(f->line[1].port_name, c->ports[3].name);
	assert_int_equal(f->format, MSH_FEED_MOLDUDP64);
	assert_int_equal(msh_feed_conf_check(f, err, sizeof(err)), 0);

	/* Every feed key (what the dump writes for it), commented out, after a comment
	 * that gives its default. */
	free(text);
	text = dump(c);
	for (line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
		size_t klen = strcspn(line, " \n");
		char needle[64];
		const char *at, *doc, *prev;

		if (*line == '[')
			keys = strncmp(line, "[feed itch]\n", 12) == 0 ? 0 : -1;
		if (*line == '#' || *line == '[' || *line == '\n' || keys < 0)
			continue;
		keys++;
		snprintf(needle, sizeof(needle), "\n#%.*s = ", (int)klen, line);
		at = strstr(example, needle);
		if (at == NULL)
			fail_msg("%s: no '#%.*s = ' in the feed example", path, (int)klen, line);
		/* Back over the "# " lines right above it. */
		for (doc = ++at; doc > example; doc = prev) {
			prev = doc - 1;
			while (prev > example && prev[-1] != '\n')
				prev--;
			if (strncmp(prev, "# ", 2) != 0)
				break;
		}
		if (doc == at || memmem(doc, (size_t)(at - doc), "Default: ", 9) == NULL)
			fail_msg("%s: feed key '%.*s' has no comment with its default", path,
				 (int)klen, line);
	}
	assert_int_equal(keys, 12);
	free(text);
	free(example);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),       cmocka_unit_test(test_appliance_keys),
		cmocka_unit_test(test_port_keys),      cmocka_unit_test(test_shard_keys),
		cmocka_unit_test(test_sizes),          cmocka_unit_test(test_durations),
		cmocka_unit_test(test_enums),          cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_string_limits),  cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_file_layout),    cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_shard_check),    cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_dump_roundtrip), cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_lcore_limit),    cmocka_unit_test(test_mcast_addr),
		cmocka_unit_test(test_feed_keys),      cmocka_unit_test(test_feed_bad_values),
		cmocka_unit_test(test_feed_section),   cmocka_unit_test(test_feed_check),
		cmocka_unit_test(test_feed_cross_checks), cmocka_unit_test(test_feed_dump),
		cmocka_unit_test(test_example_feed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
