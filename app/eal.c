/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * EAL start-up from the configuration: core list, run-file prefix, devices
 * (vdevs by devargs, PCI devices by an explicit allow-list; --no-pci when every
 * port is virtual, so the host's own NIC is never probed), and memory:
 * hugepages when the host has enough free, else --no-huge with a clear log line
 * (hugepages=auto), or an error (hugepages=require).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "eal.h"
#include "fileio.h"

#define MAX_EAL_ARGS 64
/* Memory beyond the shard arena: mbuf pools, rings, EAL's own. */
#define EAL_EXTRA_MB 256

static bool
is_vdev(const char *dev)
{
	return strncmp(dev, "net_", 4) == 0 || strncmp(dev, "eth_", 4) == 0;
}

int
msh_eal_start(struct msh_app *app, int extra_argc, char **extra_argv, char *err, size_t errlen)
{
	const struct msh_appliance_conf *a = &app->conf.app;
	static char *argv[MAX_EAL_ARGS];
	static char words[MSH_CONF_PATH_LEN];
	static char mem_mb[32];
	int argc = 0, pci = 0;
	uint64_t need_mb = a->arena_bytes / (1024 * 1024) + EAL_EXTRA_MB, have_mb;
	bool mounted;

	argv[argc++] = "memshard";
	/* "0@0,1-2@1" places lcores on CPUs: EAL's --lcores form; -l otherwise. */
	argv[argc++] = strchr(a->lcores, '@') != NULL ? "--lcores" : "-l";
	argv[argc++] = (char *)a->lcores;
	argv[argc++] = "--file-prefix";
	argv[argc++] = (char *)a->file_prefix;
	for (unsigned int i = 0; i < app->conf.n_ports; i++) {
		const char *dev = app->conf.ports[i].device;

		if (is_vdev(dev)) {
			argv[argc++] = "--vdev";
		} else {
			argv[argc++] = "-a";
			pci++;
		}
		argv[argc++] = (char *)dev;
	}
	if (pci == 0)
		argv[argc++] = "--no-pci";

	have_mb = msh_hugepages_free_mb(&mounted, NULL);
	app->no_huge = a->hugepages == MSH_HUGE_OFF;
	if (a->hugepages != MSH_HUGE_OFF && (!mounted || have_mb < need_mb)) {
		if (a->hugepages == MSH_HUGE_REQUIRE) {
			snprintf(err, errlen,
				 "hugepages=require, but %s%lu MiB of hugepages are free and %lu MiB "
				 "are needed (arena_bytes plus %d MiB); run deploy/setup.sh",
				 mounted ? "" : "hugetlbfs is not mounted and ", have_mb, need_mb,
				 EAL_EXTRA_MB);
			return -1;
		}
		app->no_huge = true;
		fprintf(stderr,
			"memshard: hugepages unavailable (%s%lu MiB free, %lu MiB needed): running "
			"with --no-huge on ordinary memory; expect more TLB misses\n",
			mounted ? "" : "hugetlbfs not mounted, ", have_mb, need_mb);
	}
	if (app->no_huge) {
		snprintf(mem_mb, sizeof(mem_mb), "%lu", need_mb);
		argv[argc++] = "--no-huge";
		argv[argc++] = "-m";
		argv[argc++] = mem_mb;
	} else {
		/* Unlink hugepage files as soon as they are mapped: nothing is
		 * left in hugetlbfs even after kill -9. */
		argv[argc++] = "--huge-unlink";
	}
	if (a->eal_args[0] != '\0') {
		snprintf(words, sizeof(words), "%s", a->eal_args);
		for (char *save = NULL, *w = strtok_r(words, " \t", &save);
		     w != NULL && argc < MAX_EAL_ARGS - 1; w = strtok_r(NULL, " \t", &save))
			argv[argc++] = w;
	}
	for (int i = 0; i < extra_argc && argc < MAX_EAL_ARGS - 1; i++)
		argv[argc++] = extra_argv[i];
	argv[argc] = NULL;

	fprintf(stderr, "memshard: EAL");
	for (int i = 1; i < argc; i++)
		fprintf(stderr, " %s", argv[i]);
	fprintf(stderr, "\n");
	if (rte_eal_init(argc, argv) < 0) {
		snprintf(err, errlen, "EAL start-up failed: %s", rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}
