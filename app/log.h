/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The appliance's log type (memshard.app). Only the main lcore and start-up
 * code log; workers count events instead, and the main lcore's watch
 * (stats.c) turns what they counted into log lines.
 */
#ifndef MSH_APP_LOG_H
#define MSH_APP_LOG_H

#include <rte_log.h>

extern int msh_logtype_app;
#define MSH_LOG(level, fmt, ...)                                                                   \
	rte_log(RTE_LOG_##level, msh_logtype_app, "memshard: " fmt "\n", ##__VA_ARGS__)

#endif /* MSH_APP_LOG_H */
