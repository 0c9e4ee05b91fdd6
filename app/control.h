/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The control socket (memshardctl's): one line of text in, one line of JSON
 * out, commands from one table. Main side.
 */
#ifndef MSH_APP_CONTROL_H
#define MSH_APP_CONTROL_H

#include <stddef.h>

#include "app.h"

/** Open the control socket ([appliance] control_socket). @return 0 or -1 with @p err. */
int msh_control_open(struct msh_app *app, char *err, size_t errlen);
/** Serve control clients for at most @p timeout_ms (main lcore loop). */
void msh_control_poll(struct msh_app *app, int timeout_ms);
/** Close every client and remove the socket. */
void msh_control_close(void);

#endif /* MSH_APP_CONTROL_H */
