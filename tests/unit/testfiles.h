/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * File helpers shared by the unit tests of the on-disk modules (spill,
 * spilldir, journal): removing a test's temporary directory, a file's size,
 * flipping one byte, copying a file. Include after testutil.h.
 */
#ifndef MSH_TESTFILES_H
#define MSH_TESTFILES_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int
t_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/** Remove @p dir and everything in it. @return 0 or -1. */
static inline int
t_rm_tree(const char *dir)
{
	return nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline size_t
t_file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/** Flip one bit of the byte at @p off. */
static inline void
t_file_flip(const char *path, size_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static inline void
t_file_copy(const char *from, const char *to)
{
	uint8_t buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	assert_true(in >= 0);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

#endif /* MSH_TESTFILES_H */
