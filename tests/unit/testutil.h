/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Helpers shared by the unit tests: cmocka includes, building message blocks,
 * and a deterministic PRNG.
 */
#ifndef MSH_TESTUTIL_H
#define MSH_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

/* Deterministic xorshift64*: the same seed gives the same run, so a failure
 * can be reproduced. */
static inline uint64_t
t_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Fill message i of a test stream: its bytes are a function of (i, j) so a
 * reader can check every byte without keeping a copy. */
static inline uint8_t
t_msg_byte(uint64_t i, uint32_t j)
{
	return (uint8_t)(i * 131 + j * 7 + (i >> 8));
}

/* Write @p count blocks for messages first..first+count-1, each of length
 * len_of(i), into buf; returns the bytes written. */
static inline uint32_t
t_blocks(uint8_t *buf, uint64_t first, uint32_t count, uint16_t (*len_of)(uint64_t))
{
	uint32_t off = 0;

	for (uint32_t k = 0; k < count; k++) {
		uint64_t i = first + k;
		uint16_t len = len_of(i);

		msh_store_be16(buf + off, len);
		for (uint32_t j = 0; j < len; j++)
			buf[off + 2 + j] = t_msg_byte(i, j);
		off += 2 + len;
	}
	return off;
}

/* Check @p count blocks at @p p hold messages first.. as t_blocks wrote them. */
static inline void
t_check_blocks(const uint8_t *p, uint32_t len, uint64_t first, uint32_t count,
	       uint16_t (*len_of)(uint64_t))
{
	uint32_t off = 0;

	for (uint32_t k = 0; k < count; k++) {
		uint64_t i = first + k;
		uint16_t l = msh_load_be16(p + off);

		assert_int_equal(l, len_of(i));
		for (uint32_t j = 0; j < l; j++)
			if (p[off + 2 + j] != t_msg_byte(i, j))
				fail_msg("message %llu byte %u differs", (unsigned long long)i, j);
		off += 2 + l;
	}
	assert_int_equal(off, len);
}

/* A heap copy of exactly len bytes: a parser reading past len hits ASan's
 * redzone. malloc(0) is avoided; no parser reads a 0-byte input. */
static inline uint8_t *
dup_exact(const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

/* Big-endian expectation written out by hand, independent of common.h. */
static inline void
assert_be(const uint8_t *p, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++) {
		uint8_t want = (uint8_t)(v >> (8 * (bytes - 1 - i)));

		if (p[i] != want)
			fail_msg("byte %u of a %u-byte field is 0x%02x, want 0x%02x", i, bytes,
				 p[i], want);
	}
}

/*
 * A reason-name function (msh_*_err_str, msh_net_drop_str): 0 is @p zero;
 * every code 1..count-1 has a name of its own, the same for -code and code,
 * never @p unknown; count and INT_MIN are @p unknown.
 */
static inline void
assert_reason_names(const char *(*fn)(int), int count, const char *zero, const char *unknown)
{
	assert_string_equal(fn(0), zero);
	for (int e = 1; e < count; e++) {
		const char *s = fn(-e);

		assert_non_null(s);
		assert_true(strlen(s) > 3);
		assert_ptr_equal(s, fn(e));
		assert_string_not_equal(s, unknown);
		for (int f = 1; f < e; f++)
			assert_string_not_equal(s, fn(f));
	}
	assert_string_equal(fn(count), unknown);
	assert_string_equal(fn(-2147483647 - 1), unknown);
}

/* Internet checksum as RFC 1071 writes it (big-endian 16-bit words, an odd
 * byte padded with zero, end-around carry, complement), slow on purpose and
 * independent of lib/net, over [p, p+len) plus @p init: the value for a
 * checksum field, 0 over a correct header. test_net and test_igmp share it. */
static inline uint16_t
ref_csum(const uint8_t *p, size_t len, uint32_t init)
{
	uint64_t s = init;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)~s;
}

#endif /* MSH_TESTUTIL_H */
