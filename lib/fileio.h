/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The few file system calls the spill files, the spill directory table and
 * the journal all need, with their retry loops in one place: whole writes,
 * whole positioned reads, and the fsync of a directory that makes a create or
 * a rename durable. Control path (system calls), free of DPDK.
 */
#ifndef MSH_FILEIO_H
#define MSH_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** write() all @p len bytes (EINTR retried). @return 0 or -errno (-EIO if write returns 0). */
int msh_write_all(int fd, const void *p, size_t len);

/**
 * pread() all @p len bytes at @p off (EINTR retried).
 * @return 0, -errno, or @p short_err when the file ends first.
 */
int msh_pread_all(int fd, void *buf, size_t len, uint64_t off, int short_err);

/** fsync() directory @p dir, so that entries created or renamed in it last. @return 0 or -errno. */
int msh_fsync_dir(const char *dir);

/**
 * Free hugepages of the default size, in MiB, from /proc/meminfo; *mounted
 * says whether a hugetlbfs is mounted (/proc/mounts). @p page_kb (may be
 * NULL) gets the default hugepage size in KiB.
 */
uint64_t msh_hugepages_free_mb(bool *mounted, uint64_t *page_kb);

#endif /* MSH_FILEIO_H */
