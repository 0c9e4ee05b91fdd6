/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * memshard daemon entry: command line, configuration load (which stops
 * start-up with "FILE:LINE: [SECTION] KEY: reason" on any error), then the
 * appliance (app/appliance.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "appliance.h"

#define MSH_DEFAULT_CONF "/etc/memshard/memshard.conf"

static const char usage_text[] =
	"NAME\n"
	"    memshard - kernel-bypass in-memory message shards served as MoldUDP64 feeds\n"
	"\n"
	"SYNOPSIS\n"
	"    memshard [-c FILE] [--check] [--dump] [-- EAL-ARGS...]\n"
	"\n"
	"DESCRIPTION\n"
	"    memshard owns DPDK ports, receives PUBLISH datagrams into hugepage-backed\n"
	"    shard segments and serves each shard to subscribers as a MoldUDP64 feed\n"
	"    with retransmission (see PROTOCOL.md). It can also join exchange feeds on\n"
	"    UDP multicast (lines A and B, IGMP on the DPDK port) and append each\n"
	"    upstream message once, in order, to a shard ([feed NAME], docs/FEEDS.md).\n"
	"    Everything it runs with comes from one INI file; config/memshard.conf\n"
	"    documents every key and its default.\n"
	"\n"
	"OPTIONS\n"
	"    -c, --config FILE   configuration file (default " MSH_DEFAULT_CONF ")\n"
	"        --check         load and check the configuration, print 'FILE: ok', exit\n"
	"        --dump          print the configuration as loaded, every key, and exit\n"
	"    -h, --help          this text\n"
	"    -V, --version       version\n"
	"    -- EAL-ARGS         passed to DPDK's EAL after those the file implies\n"
	"                        ([appliance] lcores, file_prefix, eal_args, hugepages)\n"
	"\n"
	"ENVIRONMENT\n"
	"    MEMSHARD_DEBUG=1    also accept the control socket's 'debug' commands\n"
	"                        ('debug stall WORKER MS': keep a worker busy, as a\n"
	"                        stuck one would). For tests; never in production.\n"
	"\n"
	"EXIT STATUS\n"
	"    0 on a clean shutdown or a passed check; 1 on a configuration error, with\n"
	"    one line 'FILE:LINE: [SECTION] KEY: reason' on standard error; 2 on a\n"
	"    usage error.\n"
	"\n"
	"EXAMPLES\n"
	"    memshard -c config/memshard.conf --check\n"
	"    memshard -c /etc/memshard/memshard.conf\n";

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
		{"dump", no_argument, NULL, 'd'},         {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	const char *path = MSH_DEFAULT_CONF;
	char err[MSH_CONF_ERR_LEN + MSH_CONF_PATH_LEN];
	int check = 0, dump = 0, opt;

	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = 1;
			break;
		case 'd':
			dump = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("memshard %s\n", MSH_VERSION_STR);
			return 0;
		default:
			fprintf(stderr, "memshard: see 'memshard --help'\n");
			return 2;
		}
	}
	if (msh_conf_load(&msh_app.conf, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "memshard: %s\n", err);
		return 1;
	}
	if (dump) {
		msh_conf_dump(&msh_app.conf, stdout);
		return 0;
	}
	if (check) {
		const struct msh_conf *c = &msh_app.conf;

		printf("%s: ok (%u port%s, %u shard%s, %u feed%s)\n", path, c->n_ports,
		       c->n_ports == 1 ? "" : "s", c->n_shards, c->n_shards == 1 ? "" : "s",
		       c->n_feeds, c->n_feeds == 1 ? "" : "s");
		return 0;
	}
	return msh_appliance_run(&msh_app, argc - optind, argv + optind);
}
