/* The token endpoint's failure counters and its rule, on a fake clock. */

#include <stdio.h>
#include <stdlib.h>
#include <check.h>

#include "cp_throttle.h"

static cp_throttle_t      *t;
static cp_auth_throttle_t *a;

static void
setup(void)
{
    t = malloc(sizeof(*t));
    a = malloc(sizeof(*a));
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(a);
    cp_throttle_init(t, 60, 12345);
    cp_auth_throttle_init(a, 12345);
}

static void
teardown(void)
{
    free(t);
    free(a);
}

/* ---- the counters ------------------------------------------------------- */

START_TEST(count_then_window_end)
{
    int retry = -1;

    ck_assert_uint_eq(cp_throttle_count(t, "k", 1000, &retry), 0);
    ck_assert_int_eq(retry, -1);
    ck_assert_uint_eq(cp_throttle_fail(t, "k", 1000), 1);
    ck_assert_uint_eq(cp_throttle_fail(t, "k", 1010), 2);
    ck_assert_uint_eq(cp_throttle_fail(t, "k", 1020), 3);
    ck_assert_uint_eq(cp_throttle_count(t, "k", 1020, &retry), 3);
    ck_assert_int_eq(retry, 40);
    ck_assert_uint_eq(cp_throttle_count(t, "k", 1059, &retry), 3);
    ck_assert_int_eq(retry, 1);
    /* the window is fixed from the first failure: then nothing */
    ck_assert_uint_eq(cp_throttle_count(t, "k", 1060, &retry), 0);
    ck_assert_uint_eq(cp_throttle_fail(t, "k", 1060), 1);
}
END_TEST

START_TEST(keys_are_separate)
{
    for (int i = 0; i < 3; i++) {
        cp_throttle_fail(t, "c:a", 1000);
    }
    ck_assert_uint_eq(cp_throttle_count(t, "c:a", 1001, NULL), 3);
    ck_assert_uint_eq(cp_throttle_count(t, "c:b", 1001, NULL), 0);
    ck_assert_uint_eq(cp_throttle_count(t, "c:", 1001, NULL), 0);
    ck_assert_uint_eq(cp_throttle_count(t, "c:aa", 1001, NULL), 0);
}
END_TEST

START_TEST(flood_stays_bounded)
{
    char key[32];

    /* a flood of made-up ids evicts, never grows, never crashes */
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "c:flood-%d", i);
        cp_throttle_fail(t, key, 2000);
    }
    /* a key that keeps failing is still caught once it is counted */
    for (int i = 0; i < 3; i++) {
        cp_throttle_fail(t, "a:10.0.0.1", 2000);
    }
    ck_assert_uint_eq(cp_throttle_count(t, "a:10.0.0.1", 2000, NULL), 3);
}
END_TEST

START_TEST(flood_spares_the_heavy)
{
    char key[32];

    /* a key guessed hard keeps its count through a flood of one-off keys
     * meant to push it out */
    for (int i = 0; i < 9; i++) {
        cp_throttle_fail(t, "victim", 3000);
    }
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "flood-%d", i);
        cp_throttle_fail(t, key, 3001);
    }
    ck_assert_uint_eq(cp_throttle_count(t, "victim", 3002, NULL), 9);
}
END_TEST

/* ---- the rule ----------------------------------------------------------- */

/* n wrong secrets for client from addr at now */
static void
guess(const char *client, const char *addr, int n, int64_t now)
{
    for (int i = 0; i < n; i++) {
        cp_auth_throttle_fail(a, client, addr, now);
    }
}

START_TEST(stranger_locks_out_only_itself)
{
    /* the lockout of issue 26: ten wrong secrets for someone else's id */
    guess("owner-id", "203.0.113.9", CP_AUTH_PER_PAIR, 1000);
    ck_assert_int_gt(cp_auth_throttle_client(a, "owner-id", "203.0.113.9",
                                             1001), 0);
    /* the owner, from its own address, is still checked */
    ck_assert_int_eq(cp_auth_throttle_client(a, "owner-id", "198.51.100.7",
                                             1001), 0);
    ck_assert_int_eq(cp_auth_throttle_address(a, "198.51.100.7", 1001), 0);
    /* the stranger may still try other ids, within its address's room */
    ck_assert_int_eq(cp_auth_throttle_client(a, "other-id", "203.0.113.9",
                                             1001), 0);
    ck_assert_int_eq(cp_auth_throttle_address(a, "203.0.113.9", 1001), 0);
}
END_TEST

START_TEST(pair_limit_and_retry_after)
{
    guess("c", "192.0.2.1", CP_AUTH_PER_PAIR - 1, 1000);
    ck_assert_int_eq(cp_auth_throttle_client(a, "c", "192.0.2.1", 1000), 0);
    guess("c", "192.0.2.1", 1, 1020);
    ck_assert_int_eq(cp_auth_throttle_client(a, "c", "192.0.2.1", 1020), 40);
    ck_assert_int_eq(cp_auth_throttle_client(a, "c", "192.0.2.1", 1060), 0);
}
END_TEST

START_TEST(address_limit_counts_everything)
{
    char id[32];

    /* malformed requests (no id) and unknown ids both count */
    guess(NULL, "192.0.2.2", CP_AUTH_PER_ADDRESS / 2, 1000);
    for (int i = 0; i < CP_AUTH_PER_ADDRESS / 2 - 1; i++) {
        snprintf(id, sizeof(id), "made-up-%d", i);
        guess(id, "192.0.2.2", 1, 1000);
    }
    ck_assert_int_eq(cp_auth_throttle_address(a, "192.0.2.2", 1000), 0);
    guess(NULL, "192.0.2.2", 1, 1000);
    ck_assert_int_eq(cp_auth_throttle_address(a, "192.0.2.2", 1000), 60);
    ck_assert_int_eq(cp_auth_throttle_address(a, "192.0.2.3", 1000), 0);
}
END_TEST

START_TEST(ipv6_counts_per_64)
{
    /* one host has a /64: its addresses are one address here */
    guess("c", "2001:db8:1:2::1", CP_AUTH_PER_PAIR / 2, 1000);
    guess("c", "2001:db8:1:2:ffff::9", CP_AUTH_PER_PAIR / 2, 1000);
    ck_assert_int_gt(cp_auth_throttle_client(a, "c", "2001:db8:1:2::77",
                                             1001), 0);
    ck_assert_int_eq(cp_auth_throttle_client(a, "c", "2001:db8:1:3::1",
                                             1001), 0);
    /* an IPv4-mapped address is its IPv4 address */
    guess("d", "::ffff:192.0.2.5", CP_AUTH_PER_PAIR, 1000);
    ck_assert_int_gt(cp_auth_throttle_client(a, "d", "192.0.2.5", 1001), 0);
}
END_TEST

START_TEST(distributed_guessing_slows_never_locks)
{
    char addr[32];
    int  crossed = 0;

    /* many addresses, a few guesses each, all for one id */
    for (int i = 0; i < CP_AUTH_PER_CLIENT / 5; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 200, i % 200);
        for (int k = 0; k < 5; k++) {
            crossed += cp_auth_throttle_fail(a, "target", addr, 1000);
        }
    }
    ck_assert_int_eq(crossed, 1);
    /* past the ceiling, an address that failed once is refused ... */
    guess("target", "10.2.0.1", 1, 1010);
    ck_assert_int_eq(cp_auth_throttle_client(a, "target", "10.2.0.1", 1010),
                     50);
    ck_assert_int_gt(cp_auth_throttle_client(a, "target", "10.1.0.3", 1010),
                     0);
    /* ... one that has not (the owner's) is answered */
    ck_assert_int_eq(cp_auth_throttle_client(a, "target", "198.51.100.7",
                                             1010), 0);
    /* other ids from the same addresses keep the usual ten */
    guess("bystander", "10.2.0.1", 1, 1010);
    ck_assert_int_eq(cp_auth_throttle_client(a, "bystander", "10.2.0.1",
                                             1010), 0);
    /* the ceiling's window ends: one failure is one of ten again */
    ck_assert_int_eq(cp_auth_throttle_client(a, "target", "10.2.0.1", 1060),
                     0);
}
END_TEST

START_TEST(pair_keys_do_not_collide)
{
    /* an id that looks like "address id" is not that pair */
    guess("x", "192.0.2.8", CP_AUTH_PER_PAIR, 1000);
    ck_assert_int_eq(cp_auth_throttle_client(a, "192.0.2.8 x", "local",
                                             1001), 0);
    ck_assert_int_eq(cp_auth_throttle_client(a, "x", "192.0.2.80", 1001), 0);
}
END_TEST

Suite *
throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("counters");
    TCase *tr = tcase_create("rule");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, count_then_window_end);
    tcase_add_test(tc, keys_are_separate);
    tcase_add_test(tc, flood_stays_bounded);
    tcase_add_test(tc, flood_spares_the_heavy);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_test(tr, stranger_locks_out_only_itself);
    tcase_add_test(tr, pair_limit_and_retry_after);
    tcase_add_test(tr, address_limit_counts_everything);
    tcase_add_test(tr, ipv6_counts_per_64);
    tcase_add_test(tr, distributed_guessing_slows_never_locks);
    tcase_add_test(tr, pair_keys_do_not_collide);
    suite_add_tcase(s, tr);
    return s;
}
