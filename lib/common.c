/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Shard-name helpers declared in common.h.
 */
#include <errno.h>

#include "common.h"

static bool
name_char_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f;
}

int
msh_name_from_str(struct msh_name *n, const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MSH_NAME_LEN)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!name_char_ok((uint8_t)s[i]))
			return -EINVAL;
	memset(n->b, ' ', MSH_NAME_LEN);
	memcpy(n->b, s, len);
	return 0;
}

bool
msh_name_valid(const struct msh_name *n)
{
	size_t i = 0;

	while (i < MSH_NAME_LEN && name_char_ok(n->b[i]))
		i++;
	if (i == 0)
		return false;
	for (; i < MSH_NAME_LEN; i++)
		if (n->b[i] != ' ')
			return false;
	return true;
}

char *
msh_name_to_str(const struct msh_name *n, char *buf)
{
	size_t len = MSH_NAME_LEN;

	while (len > 0 && n->b[len - 1] == ' ')
		len--;
	memcpy(buf, n->b, len);
	buf[len] = '\0';
	return buf;
}
