/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/common: shard names made from strings (valid, invalid,
 * padding), names checked as raw wire bytes, names turned back into strings,
 * name comparison, the big-endian loads and stores at aligned and unaligned
 * offsets, and the hash table sizing of msh_pow2_slots().
 */
#include <errno.h>

#include "testutil.h"

static void
assert_name_bytes(const struct msh_name *n, const char *ten)
{
	assert_memory_equal(n->b, ten, MSH_NAME_LEN);
}

static void
test_from_str_valid(void **state)
{
	struct msh_name n;

	(void)state;
	memset(&n, 0, sizeof(n));
	assert_int_equal(msh_name_from_str(&n, "ticks"), 0);
	assert_name_bytes(&n, "ticks     ");
	assert_true(msh_name_valid(&n));

	assert_int_equal(msh_name_from_str(&n, "A"), 0);
	assert_name_bytes(&n, "A         "); /* no byte of "ticks" left */
	assert_true(msh_name_valid(&n));

	assert_int_equal(msh_name_from_str(&n, "0123456789"), 0);
	assert_name_bytes(&n, "0123456789");
	assert_true(msh_name_valid(&n));

	/* The ends of the printable range, 0x21 and 0x7e. */
	assert_int_equal(msh_name_from_str(&n, "!~"), 0);
	assert_name_bytes(&n, "!~        ");
	assert_true(msh_name_valid(&n));
}

static void
test_from_str_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"01234567890", /* 11 characters */
		"a b",
		" ab",
		"ab ",
		"a\tb",
		"a\x7f",
		"caf\xc3\xa9",
		"\x80",
		"\x1f",
	};
	struct msh_name n;

	(void)state;
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad); i++)
		if (msh_name_from_str(&n, bad[i]) != -EINVAL)
			fail_msg("bad name %zu was accepted", i);
}

static struct msh_name
raw(const char *ten)
{
	struct msh_name n;

	memcpy(n.b, ten, MSH_NAME_LEN);
	return n;
}

static void
test_valid_raw(void **state)
{
	static const char *const good[] = {
		"ticks     ",
		"A         ",
		"0123456789",
		"012345678 ",
		"!~!~!~!~!~",
	};
	static const char *const bad[] = {
		"          ", /* all padding */
		" ticks    ", /* leading space */
		"ti cks    ", /* inner space followed by a character */
		"ticks    x",
		"tick\0     ",
		"ticks\0\0\0\0\0", /* NUL padding */
		"\0ticks    ",
		"tick\x7f     ",
		"caf\xc3\xa9     ",
		"tick\t     ",
		"\x80         ",
	};
	struct msh_name n;

	(void)state;
	for (size_t i = 0; i < MSH_ARRAY_SIZE(good); i++) {
		n = raw(good[i]);
		if (!msh_name_valid(&n))
			fail_msg("good name %zu refused", i);
	}
	for (size_t i = 0; i < MSH_ARRAY_SIZE(bad); i++) {
		n = raw(bad[i]);
		if (msh_name_valid(&n))
			fail_msg("bad name %zu accepted", i);
	}
	/* Every byte value in the first position, rest padding. */
	for (unsigned int c = 0; c < 256; c++) {
		n = raw("          ");
		n.b[0] = (uint8_t)c;
		assert_int_equal(msh_name_valid(&n), c > 0x20 && c < 0x7f);
	}
	/* And in the last position after nine valid bytes. */
	for (unsigned int c = 0; c < 256; c++) {
		n = raw("abcdefghi ");
		n.b[9] = (uint8_t)c;
		assert_int_equal(msh_name_valid(&n), c >= 0x20 && c < 0x7f);
	}
}

static void
test_to_str(void **state)
{
	static const char *const names[] = {"ticks", "A", "0123456789", "!~", "abcdefghi"};
	struct msh_name n;
	char buf[16];

	(void)state;
	for (size_t i = 0; i < MSH_ARRAY_SIZE(names); i++) {
		assert_int_equal(msh_name_from_str(&n, names[i]), 0);
		memset(buf, 'X', sizeof(buf));
		assert_ptr_equal(msh_name_to_str(&n, buf), buf);
		assert_string_equal(buf, names[i]);
		/* Writes the string and its NUL, nothing after. */
		for (size_t j = strlen(names[i]) + 1; j < sizeof(buf); j++)
			assert_int_equal(buf[j], 'X');
	}
	/* Only trailing padding is stripped. */
	n = raw("a b       ");
	assert_string_equal(msh_name_to_str(&n, buf), "a b");
	n = raw("          ");
	assert_string_equal(msh_name_to_str(&n, buf), "");
}

static void
test_name_eq(void **state)
{
	struct msh_name a = raw("abcdefghij"), b;

	(void)state;
	b = a;
	assert_true(msh_name_eq(&a, &b));
	/* A difference in any one byte, the last two included, counts. */
	for (int i = 0; i < MSH_NAME_LEN; i++) {
		b = a;
		b.b[i] ^= 1;
		if (msh_name_eq(&a, &b))
			fail_msg("names differing in byte %d compare equal", i);
	}
	b = raw("abcdefghji");
	assert_false(msh_name_eq(&a, &b));
}

static void
test_be_store_order(void **state)
{
	uint8_t b[8];

	(void)state;
	msh_store_be16(b, 0x0102);
	assert_int_equal(b[0], 0x01);
	assert_int_equal(b[1], 0x02);
	msh_store_be32(b, 0x01020304u);
	assert_memory_equal(b, "\x01\x02\x03\x04", 4);
	msh_store_be64(b, 0x0102030405060708ull);
	assert_memory_equal(b, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);

	assert_int_equal(msh_load_be16("\xab\xcd"), 0xabcd);
	assert_int_equal(msh_load_be32("\xde\xad\xbe\xef"), 0xdeadbeefu);
	assert_true(msh_load_be64("\xfe\xdc\xba\x98\x76\x54\x32\x10") == 0xfedcba9876543210ull);
}

static void
test_be_unaligned(void **state)
{
	uint64_t rng = 0x5851f42d4c957f2dull;
	uint8_t buf[32] __attribute__((aligned(16)));
	uint8_t save[32];

	(void)state;
	for (int round = 0; round < 200; round++) {
		uint64_t v = t_rand(&rng);

		for (unsigned int off = 0; off < 16; off++) {
			for (unsigned int i = 0; i < sizeof(buf); i++)
				buf[i] = (uint8_t)(0x40 + i);
			memcpy(save, buf, sizeof(buf));

			msh_store_be16(buf + off, (uint16_t)v);
			assert_be(buf + off, (uint16_t)v, 2);
			assert_int_equal(msh_load_be16(buf + off), (uint16_t)v);
			msh_store_be32(buf + off, (uint32_t)v);
			assert_be(buf + off, (uint32_t)v, 4);
			assert_int_equal(msh_load_be32(buf + off), (uint32_t)v);
			msh_store_be64(buf + off, v);
			assert_be(buf + off, v, 8);
			assert_true(msh_load_be64(buf + off) == v);
			/* Nothing written outside the field. */
			assert_memory_equal(buf, save, off);
			assert_memory_equal(buf + off + 8, save + off + 8, sizeof(buf) - off - 8);
		}
	}
	/* Loads at odd offsets of a known byte string. */
	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(msh_load_be16(buf + 1), 0x0102);
	assert_int_equal(msh_load_be32(buf + 3), 0x03040506u);
	assert_true(msh_load_be64(buf + 5) == 0x05060708090a0b0cull);
	assert_true(msh_load_be64(buf + 7) == 0x0708090a0b0c0d0eull);
}

static void
test_pow2_slots(void **state)
{
	(void)state;
	/* Never fewer than 8 slots. */
	assert_int_equal(msh_pow2_slots(0), 8);
	assert_int_equal(msh_pow2_slots(1), 8);
	assert_int_equal(msh_pow2_slots(4), 8);
	/* At least twice max, rounded up to a power of two. */
	assert_int_equal(msh_pow2_slots(5), 16);
	assert_int_equal(msh_pow2_slots(8), 16);
	assert_int_equal(msh_pow2_slots(9), 32);
	assert_int_equal(msh_pow2_slots(1000), 2048);
	assert_int_equal(msh_pow2_slots(1024), 2048);
	assert_int_equal(msh_pow2_slots(1025), 4096);
	/* The limits the dedupe (1 << 30) and name (1 << 24) tables accept. */
	assert_int_equal(msh_pow2_slots(1u << 24), 1u << 25);
	assert_int_equal(msh_pow2_slots((1u << 30) - 1), 1u << 31);
	assert_int_equal(msh_pow2_slots(1u << 30), 1u << 31);
	for (uint32_t max = 1; max < 5000; max++) {
		uint32_t n = msh_pow2_slots(max);

		if ((n & (n - 1)) != 0 || n < 2 * max || (n > 8 && n / 2 >= 2 * max))
			fail_msg("msh_pow2_slots(%u) = %u", max, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_str_valid),
		cmocka_unit_test(test_from_str_invalid),
		cmocka_unit_test(test_valid_raw),
		cmocka_unit_test(test_to_str),
		cmocka_unit_test(test_name_eq),
		cmocka_unit_test(test_be_store_order),
		cmocka_unit_test(test_be_unaligned),
		cmocka_unit_test(test_pow2_slots),
	};

	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
