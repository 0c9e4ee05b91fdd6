/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Unit tests of lib/sub: SipHash-2-4 against the reference vectors, tokens,
 * the subscription table, lease expiry, retransmission budget.
 */
#include <errno.h>

#include "sub.h"
#include "testutil.h"

static const struct msh_token_key ref_key = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

static void
test_siphash_reference_vectors(void **state)
{
	uint8_t in[64];

	(void)state;
	for (int i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	/* From the SipHash paper (appendix A) and its reference vectors. */
	assert_true(msh_siphash24(&ref_key, in, 15) == 0xa129ca6149be45e5ull);
	assert_true(msh_siphash24(&ref_key, in, 0) == 0x726fdb47dd0e0e31ull);
	/* vectors_sip64[8] (8 bytes, the full-block path with an empty tail). */
	assert_true(msh_siphash24(&ref_key, in, 8) == 0x93f5f5799a932462ull);
}

static void
test_token_binds_source_shard_and_time(void **state)
{
	struct msh_token_key k = {0x1234, 0x5678}, other = {0x1234, 0x5679};
	struct msh_name a, b;
	uint64_t t;

	(void)state;
	msh_name_from_str(&a, "ticks");
	msh_name_from_str(&b, "ticks2");
	t = msh_token_make(&k, 0x0a4d0002, 40000, &a, 100);
	assert_true(t != 0);
	assert_true(msh_token_check(&k, 0x0a4d0002, 40000, &a, 100, t));
	assert_true(msh_token_check(&k, 0x0a4d0002, 40000, &a, 101, t)); /* previous bucket */
	assert_false(msh_token_check(&k, 0x0a4d0002, 40000, &a, 102, t)); /* too old */
	assert_false(msh_token_check(&k, 0x0a4d0002, 40000, &a, 99, t));  /* from the future */
	assert_false(msh_token_check(&k, 0x0a4d0003, 40000, &a, 100, t)); /* other address */
	assert_false(msh_token_check(&k, 0x0a4d0002, 40001, &a, 100, t)); /* other port */
	assert_false(msh_token_check(&k, 0x0a4d0002, 40000, &b, 100, t)); /* other shard */
	assert_false(msh_token_check(&other, 0x0a4d0002, 40000, &a, 100, t)); /* other secret */
	assert_false(msh_token_check(&k, 0x0a4d0002, 40000, &a, 100, 0));
}

static void
test_table_add_find_del_expire(void **state)
{
	struct msh_sub mem[3];
	struct msh_subs t;
	uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
	struct msh_sub *s1, *s2, *s3;

	(void)state;
	msh_subs_init(&t, mem, 3);
	s1 = msh_subs_add(&t, 1, 100, mac, 5, 1000, 500);
	assert_non_null(s1);
	assert_true(s1->next_seq == 5 && s1->reported_seq == 5 && s1->lease_end == 1500);
	assert_null(msh_subs_add(&t, 1, 100, mac, 5, 1000, 500));
	assert_int_equal(errno, EEXIST);
	s2 = msh_subs_add(&t, 1, 101, mac, 1, 1000, 900);
	s3 = msh_subs_add(&t, 2, 100, mac, 1, 1000, 100);
	assert_non_null(s2);
	assert_non_null(s3);
	assert_null(msh_subs_add(&t, 3, 100, mac, 1, 1000, 100));
	assert_int_equal(errno, ENOSPC);
	assert_ptr_equal(msh_subs_find(&t, 1, 101), s2);
	assert_null(msh_subs_find(&t, 2, 101));
	assert_ptr_equal(msh_subs_find_ip(&t, 2), s3);
	assert_null(msh_subs_find_ip(&t, 9));
	assert_int_equal(msh_subs_expire(&t, 1100), 0);
	assert_int_equal(msh_subs_expire(&t, 1101), 1); /* s3's lease ended at 1100 */
	assert_null(msh_subs_find(&t, 2, 100));
	assert_int_equal(t.n, 2);
	msh_subs_del(&t, s1);
	msh_subs_del(&t, s1); /* idempotent */
	assert_int_equal(t.n, 1);
	assert_non_null(msh_subs_add(&t, 3, 100, mac, 1, 2000, 100)); /* slot reused */
	assert_int_equal(msh_subs_expire(&t, 1901), 1);            /* s2 */
	assert_int_equal(t.n, 1);
}

static void
test_retransmission_budget(void **state)
{
	struct msh_sub mem[1];
	struct msh_subs t;
	uint8_t mac[6] = {0};
	struct msh_sub *s;

	(void)state;
	msh_subs_init(&t, mem, 1);
	s = msh_subs_add(&t, 1, 1, mac, 1, 0, 1000);
	/* 1000 msgs/s with a clock of 1000 units/s: starts empty. */
	assert_int_equal(msh_sub_rt_take(s, 10, 0, 1000, 1000), 0);
	assert_int_equal(msh_sub_rt_take(s, 10, 5, 1000, 1000), 5);
	assert_int_equal(msh_sub_rt_take(s, 10, 5, 1000, 1000), 0);
	/* A long idle period refills to one second's worth, no more. */
	assert_int_equal(msh_sub_rt_take(s, 5000, 100000, 1000, 1000), 1000);
	assert_int_equal(msh_sub_rt_take(s, 3, 100001, 1000, 1000), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference_vectors),
		cmocka_unit_test(test_token_binds_source_shard_and_time),
		cmocka_unit_test(test_table_add_find_del_expire),
		cmocka_unit_test(test_retransmission_budget),
	};

	return cmocka_run_group_tests_name("sub", tests, NULL, NULL);
}
