/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Start-up and shutdown of the appliance, and the main lcore's loop. Main side.
 */
#ifndef MSH_APP_APPLIANCE_H
#define MSH_APP_APPLIANCE_H

#include "app.h"

/** Daemon body after the configuration is loaded. @return process exit status. */
int msh_appliance_run(struct msh_app *app, int extra_argc, char **extra_argv);

#endif /* MSH_APP_APPLIANCE_H */
