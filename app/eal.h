/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * EAL start-up from the configuration. Main side.
 */
#ifndef MSH_APP_EAL_H
#define MSH_APP_EAL_H

#include <stddef.h>

#include "app.h"

/** Build EAL arguments from the configuration and start EAL. @return 0 or -1 with @p err. */
int msh_eal_start(struct msh_app *app, int extra_argc, char **extra_argv, char *err,
		  size_t errlen);

#endif /* MSH_APP_EAL_H */
