/* The token endpoint's failure throttle, on a fake clock. */

#include <stdio.h>
#include <stdlib.h>
#include <check.h>

#include "cp_throttle.h"

static cp_throttle_t *t;

static void
setup(void)
{
    t = malloc(sizeof(*t));
    ck_assert_ptr_nonnull(t);
    cp_throttle_init(t, 3, 60, 12345);
}

static void
teardown(void)
{
    free(t);
}

START_TEST(limit_then_window_end)
{
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1000), 0);
    cp_throttle_fail(t, "c:a", 1000);
    cp_throttle_fail(t, "c:a", 1010);
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1010), 0);
    cp_throttle_fail(t, "c:a", 1020);
    /* the third failure closes the door until the window's end */
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1020), 40);
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1059), 1);
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1060), 0);
    /* a new window starts from nothing */
    cp_throttle_fail(t, "c:a", 1060);
    ck_assert_int_eq(cp_throttle_check(t, "c:a", 1061), 0);
}
END_TEST

START_TEST(keys_are_separate)
{
    for (int i = 0; i < 3; i++) {
        cp_throttle_fail(t, "c:a", 1000);
    }
    ck_assert_int_gt(cp_throttle_check(t, "c:a", 1001), 0);
    ck_assert_int_eq(cp_throttle_check(t, "c:b", 1001), 0);
    ck_assert_int_eq(cp_throttle_check(t, "c:", 1001), 0);
    ck_assert_int_eq(cp_throttle_check(t, "c:aa", 1001), 0);
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
    ck_assert_int_gt(cp_throttle_check(t, "a:10.0.0.1", 2000), 0);
}
END_TEST

Suite *
throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *tc = tcase_create("window");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, limit_then_window_end);
    tcase_add_test(tc, keys_are_separate);
    tcase_add_test(tc, flood_stays_bounded);
    suite_add_tcase(s, tc);
    return s;
}
