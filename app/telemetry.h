/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Read-only statistics under /memshard/ in DPDK telemetry. Main side.
 */
#ifndef MSH_APP_TELEMETRY_H
#define MSH_APP_TELEMETRY_H

#include "app.h"

/** Register the /memshard/ commands with DPDK telemetry. */
void msh_telemetry_register(struct msh_app *app);

#endif /* MSH_APP_TELEMETRY_H */
