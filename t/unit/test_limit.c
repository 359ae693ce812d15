
/*
 * Unit tests of lgsp_limit.c with a fake clock: time only moves when a test
 * moves it, so every count below is exact.
 */


#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "lgsp_limit.h"


/* 2025-06-01 00:00:00 UTC, 07:00 in the city */
#define T0_SEC           1748736000ULL
#define T0               (T0_SEC * LGSP_LIMIT_USEC)

/* the next local midnight after T0: 2025-06-01 17:00:00 UTC */
#define MIDNIGHT         ((T0_SEC + 17 * 3600) * LGSP_LIMIT_USEC)

#define MS               1000ULL
#define SEC              LGSP_LIMIT_USEC


static uint64_t              fake_now;
static uint64_t              cell;
static lgsp_limit_result_t   res;


static void
limit_setup(void)
{
    fake_now = T0;
    cell = 0;
    memset(&res, 0, sizeof(res));
}


static void
clock_advance(uint64_t us)
{
    fake_now += us;
}


/* requests taken back to back at the current fake time until one fails */

static unsigned
take_all(uint32_t rate, uint32_t burst)
{
    unsigned  n;

    for (n = 0; n < 100000000; n++) {
        if (!lgsp_limit_take(&cell, fake_now, rate, burst, &res)) {
            break;
        }
    }

    return n;
}


/* GCRA */

START_TEST(test_first_request)
{
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 1);
    ck_assert_int_eq(res.allowed, 1);
    ck_assert_uint_eq(res.quota, 25);
    ck_assert_uint_eq(res.window, 1);
    ck_assert_uint_eq(res.remaining, 5);
    ck_assert_uint_eq(res.reset, 1);
    ck_assert_uint_eq(res.retry_after, 0);
    ck_assert_uint_eq(res.interval, 50000000);

    /* the TAT is in ns: now + T */
    ck_assert_uint_eq(cell, T0 * 1000 + 50000000);
    ck_assert_uint_eq(res.tat, cell);
}
END_TEST


START_TEST(test_burst_then_refused)
{
    uint32_t  i;

    for (i = 0; i <= 5; i++) {
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 1);
        ck_assert_uint_eq(res.remaining, 5 - i);
    }

    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 0);
    ck_assert_int_eq(res.allowed, 0);
    ck_assert_uint_eq(res.remaining, 0);
    ck_assert_uint_eq(res.retry_after, 1);

    /* 6 * 50 ms until idle */
    ck_assert_uint_eq(res.reset, 1);

    /* refusals leave the cell alone */
    ck_assert_uint_eq(cell, T0 * 1000 + 6 * 50000000ULL);

    /* a slot comes back exactly one interval later, not before */
    clock_advance(50 * MS - 1);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 0);
    clock_advance(1);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 1);
    ck_assert_uint_eq(res.remaining, 0);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 5, &res), 0);
}
END_TEST


START_TEST(test_same_microsecond)
{
    /* T = 1 us: only one per microsecond however many arrive */
    ck_assert_uint_eq(take_all(1000000, 0), 1);
    ck_assert_uint_eq(take_all(1000000, 0), 0);
    clock_advance(1);
    ck_assert_uint_eq(take_all(1000000, 0), 1);

    /* a slower key: burst + 1 in the same microsecond */
    cell = 0;
    ck_assert_uint_eq(take_all(1000, 3), 4);
    ck_assert_uint_eq(take_all(1000, 3), 0);
}
END_TEST


START_TEST(test_burst_zero)
{
    int  i;

    ck_assert_uint_eq(take_all(10, 0), 1);
    ck_assert_uint_eq(res.retry_after, 1);

    /* strictly spaced: one per 100 ms, not a microsecond early */
    for (i = 0; i < 50; i++) {
        clock_advance(100 * MS - 1);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 10, 0, &res), 0);
        clock_advance(1);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 10, 0, &res), 1);
        ck_assert_uint_eq(res.remaining, 0);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 10, 0, &res), 0);
    }
}
END_TEST


START_TEST(test_rate_one)
{
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, 0, &res), 1);
    ck_assert_uint_eq(res.quota, 1);
    ck_assert_uint_eq(res.reset, 1);

    clock_advance(SEC - 1);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, 0, &res), 0);
    ck_assert_uint_eq(res.retry_after, 1);

    clock_advance(1);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, 0, &res), 1);

    /* burst 2 at rate 1: 3 at once, then a refusal for 1 s, idle in 3 s */
    cell = 0;
    ck_assert_uint_eq(take_all(1, 2), 3);
    ck_assert_uint_eq(res.retry_after, 1);
    ck_assert_uint_eq(res.reset, 3);
}
END_TEST


START_TEST(test_rate_million)
{
    uint64_t  us;
    unsigned  allowed;

    /* two arrivals every microsecond for one second */
    allowed = 0;

    for (us = 0; us < SEC; us++) {
        allowed += lgsp_limit_take(&cell, fake_now, 1000000, 0, &res);
        allowed += lgsp_limit_take(&cell, fake_now, 1000000, 0, &res);
        clock_advance(1);
    }

    ck_assert_uint_eq(allowed, 1000000);

    /* at 10^6/s with burst 10^6 - 1, q saturates nowhere */
    cell = 0;
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1000000, 999999, &res),
                     1);
    ck_assert_uint_eq(res.quota, 1999999);
    ck_assert_uint_eq(res.remaining, 999999);
}
END_TEST


START_TEST(test_rate_zero_unlimited)
{
    int  i;

    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 0, 0, &res), 1);
    }

    ck_assert_uint_eq(cell, 0);
    ck_assert_uint_eq(res.quota, 0);
    ck_assert_uint_eq(lgsp_limit_interval(0), 0);
}
END_TEST


START_TEST(test_interval)
{
    ck_assert_uint_eq(lgsp_limit_interval(1), 1000000000);
    ck_assert_uint_eq(lgsp_limit_interval(3), 333333333);
    ck_assert_uint_eq(lgsp_limit_interval(1000000), 1000);

    /* absurd rates act as 10^9/s rather than dividing by zero later */
    ck_assert_uint_eq(lgsp_limit_interval(UINT32_MAX), 1);
}
END_TEST


START_TEST(test_retry_after_is_enough)
{
    uint32_t  rate, wait;

    for (rate = 1; rate <= 7; rate += 2) {
        cell = 0;
        fake_now = T0;
        take_all(rate, 1);

        clock_advance(123457);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, rate, 1, &res), 0);
        wait = res.retry_after;
        ck_assert_uint_ge(wait, 1);

        /* rounded up, but by less than a second */
        clock_advance((uint64_t) wait * SEC - SEC);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, rate, 1, &res), 0);

        clock_advance(SEC);
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, rate, 1, &res), 1);
    }
}
END_TEST


START_TEST(test_pacing_at_rate)
{
    int  i;

    /* exactly the rate, burst 0: never refused */
    for (i = 0; i < 200; i++) {
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 0, &res), 1);
        clock_advance(50 * MS);
    }

    /* 1/3 s is not a whole microsecond: the next microsecond up passes */
    cell = 0;

    for (i = 0; i < 3000; i++) {
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 3, 0, &res), 1);
        clock_advance(333334);
    }
}
END_TEST


/* offered at 3 x the rate for 5 s from idle: rate * 5 + burst pass, +-1 */

static unsigned
offer_three_times(uint32_t rate, uint32_t burst)
{
    uint64_t  k;
    unsigned  allowed;

    allowed = 0;

    for (k = 0; k < 15 * (uint64_t) rate; k++) {
        fake_now = T0 + k * SEC / (3 * rate);
        allowed += lgsp_limit_take(&cell, fake_now, rate, burst, &res);
    }

    return allowed;
}


START_TEST(test_three_times_rate)
{
    static const uint32_t  cases[][2] = {
        { 20, 5 }, { 20, 0 }, { 7, 3 }, { 1, 0 }, { 1000, 100 },
        { 999, 9 }, { 1000000, 1000 }
    };

    size_t    i;
    unsigned  allowed, expect;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cell = 0;
        allowed = offer_three_times(cases[i][0], cases[i][1]);
        expect = cases[i][0] * 5 + cases[i][1];

        ck_assert_msg(allowed + 1 >= expect && allowed <= expect + 1,
                      "rate %u burst %u: %u allowed, expected %u +- 1",
                      cases[i][0], cases[i][1], allowed, expect);
    }
}
END_TEST


START_TEST(test_no_drift)
{
    static const uint32_t  rates[] = { 3, 7, 999 };

    size_t    i;
    uint64_t  ms;
    unsigned  allowed, expect;

    /*
     * 1000 s polled every millisecond; burst 1 absorbs the polling delay,
     * so what passes is exactly what the rate allows: 1 s / T per second
     */
    for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        cell = 0;
        allowed = 0;

        for (ms = 0; ms < 1000000; ms++) {
            fake_now = T0 + ms * MS;
            allowed += lgsp_limit_take(&cell, fake_now, rates[i], 1, &res);
        }

        expect = rates[i] * 1000 + 1;

        ck_assert_msg(allowed + 1 >= expect && allowed <= expect + 1,
                      "rate %u: %u allowed in 1000 s, expected %u",
                      rates[i], allowed, expect);
    }
}
END_TEST


START_TEST(test_truncation_bound)
{
    unsigned  allowed, expect, extra;

    /*
     * The one inexactness: T = 10^9 / 33333 ns = 30000.3 is kept as 30000,
     * so the key gets 33333.33/s, +1e-5; over 5 s at most 2 more than
     * exact (1.67), never fewer.
     */
    ck_assert_uint_eq(lgsp_limit_interval(33333), 30000);

    allowed = offer_three_times(33333, 17);
    expect = 33333 * 5 + 17;
    extra = 2;

    ck_assert_msg(allowed + 1 >= expect && allowed <= expect + 1 + extra,
                  "%u allowed, expected %u - 1 .. %u", allowed, expect,
                  expect + 1 + extra);
}
END_TEST


/* the wall clock stepping, and the ends of 64 bits */

START_TEST(test_clock_back_small)
{
    ck_assert_uint_eq(take_all(20, 5), 6);

    /* within the slack: just a delay, no fresh burst */
    fake_now -= 500 * MS;
    ck_assert_uint_eq(take_all(20, 5), 0);
    ck_assert_uint_eq(res.retry_after, 1);

    clock_advance(500 * MS + 50 * MS);
    ck_assert_uint_eq(take_all(20, 5), 1);
}
END_TEST


START_TEST(test_clock_back_large)
{
    int  i;

    ck_assert_uint_eq(take_all(20, 5), 6);

    /* an NTP step of an hour back: the burst stays spent */
    fake_now -= 3600 * SEC;
    ck_assert_uint_eq(take_all(20, 5), 0);
    ck_assert_uint_eq(res.retry_after, 1);
    ck_assert_uint_eq(res.reset, 1);

    /* the cell was pulled down to "burst spent" at the new time */
    ck_assert_uint_eq(cell, fake_now * 1000 + 6 * 50000000ULL);

    /* not locked out for the hour: back to the rate one T later */
    clock_advance(50 * MS - 1);
    ck_assert_uint_eq(take_all(20, 5), 0);
    clock_advance(1);
    ck_assert_uint_eq(take_all(20, 5), 1);

    for (i = 0; i < 100; i++) {
        clock_advance(50 * MS);
        ck_assert_uint_eq(take_all(20, 5), 1);
    }

    /* idle for a while at the new time: the usual burst, not more */
    clock_advance(10 * SEC);
    ck_assert_uint_eq(take_all(20, 5), 6);
}
END_TEST


START_TEST(test_clock_back_while_idle)
{
    /* used once long ago, then the clock steps back a day */
    ck_assert_uint_eq(take_all(20, 5), 6);
    clock_advance(3600 * SEC);
    fake_now -= 86400 * SEC;

    /* the TAT is far ahead: refused once, then the rate, never a burst */
    ck_assert_uint_eq(take_all(20, 5), 0);
    clock_advance(50 * MS);
    ck_assert_uint_eq(take_all(20, 5), 1);
}
END_TEST


START_TEST(test_clock_forward)
{
    ck_assert_uint_eq(take_all(20, 5), 6);

    /* a step forward is indistinguishable from a pause: one burst */
    clock_advance(7 * 86400 * SEC);
    ck_assert_uint_eq(take_all(20, 5), 6);
}
END_TEST


START_TEST(test_tat_near_wrap)
{
    uint64_t  garbage[] = { UINT64_MAX, UINT64_MAX - 1, UINT64_MAX / 2 };
    size_t    i;

    for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        cell = garbage[i];
        fake_now = T0;

        /* taken for a clock stepped back: refused, no wrap to the past */
        ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, 3, &res), 0);
        ck_assert_uint_eq(res.retry_after, 1);
        ck_assert_uint_eq(res.reset, 4);
        ck_assert_uint_eq(cell, T0 * 1000 + 4 * 1000000000ULL);

        clock_advance(SEC);
        ck_assert_uint_eq(take_all(1, 3), 1);
    }
}
END_TEST


START_TEST(test_now_near_wrap)
{
    uint64_t  before;
    unsigned  n;

    /* 10 s before the ns clock runs out (year 2554) */
    fake_now = UINT64_MAX / 1000 - 10 * SEC;

    ck_assert_uint_eq(take_all(1, 2), 3);
    ck_assert_uint_ge(cell, fake_now * 1000);
    ck_assert_uint_eq(res.retry_after, 1);

    /* the TAT climbs to the top and saturates, never wraps */
    for (n = 0; n < 20; n++) {
        before = cell;
        clock_advance(SEC);
        lgsp_limit_take(&cell, fake_now, 1, 2, &res);
        ck_assert_uint_ge(cell, before);
    }

    /* at the very end everything passes rather than a wrapped lock-out */
    fake_now = UINT64_MAX;
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, 2, &res), 1);
    ck_assert_uint_eq(cell, UINT64_MAX);
}
END_TEST


START_TEST(test_extreme_parameters)
{
    /* largest rate and burst: no overflow, header values clamp */
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, UINT32_MAX, UINT32_MAX,
                                     &res), 1);
    ck_assert_uint_eq(res.quota, UINT32_MAX);
    ck_assert_uint_eq(res.remaining, UINT32_MAX);

    /* rate 1 with the largest burst: 2^32 s of tolerance fits in 64 bits */
    cell = 0;
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 1, UINT32_MAX, &res),
                     1);
    ck_assert_uint_eq(res.remaining, UINT32_MAX);
    ck_assert_uint_eq(res.reset, 1);
    ck_assert_uint_eq(cell, T0 * 1000 + 1000000000ULL);
}
END_TEST


/* refund */

START_TEST(test_refund_restores_one)
{
    lgsp_limit_result_t  taken;
    uint64_t             before;

    ck_assert_uint_eq(take_all(20, 2), 3);

    /* a slot comes back, the TAT exactly where it was before the take */
    clock_advance(50 * MS);
    before = cell;
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 2, &taken), 1);
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_uint_eq(cell, before);

    /* exactly one slot: one more passes, then a refusal */
    ck_assert_uint_eq(take_all(20, 2), 1);

    /* from idle: the next take sees the same as the first */
    cell = 0;
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 2, &taken), 1);
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 2, &res), 1);
    ck_assert_uint_eq(res.remaining, 2);
    ck_assert_uint_eq(res.tat, taken.tat);
}
END_TEST


START_TEST(test_refund_nothing_taken)
{
    lgsp_limit_result_t  taken;
    uint64_t             before;

    take_all(20, 2);
    before = cell;

    /* a refused take gave nothing, so nothing comes back */
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 20, 2, &taken), 0);
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_uint_eq(cell, before);

    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 0, 0, &taken), 1);
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_uint_eq(cell, before);
}
END_TEST


START_TEST(test_refund_after_concurrent_take)
{
    lgsp_limit_result_t  ours, theirs;
    uint64_t             without;
    uint64_t             t1;

    /*
     * Ours from idle at T0, theirs half an interval later.  Without ours,
     * theirs would have found the key idle and written t1 + T; "cell - T"
     * would be T/2 below that.
     */
    ck_assert_int_eq(lgsp_limit_take(&cell, T0, 10, 5, &ours), 1);
    t1 = T0 + 50 * MS;
    ck_assert_int_eq(lgsp_limit_take(&cell, t1, 10, 5, &theirs), 1);

    without = 0;
    ck_assert_int_eq(lgsp_limit_take(&without, t1, 10, 5, &res), 1);

    lgsp_limit_refund(&cell, t1, &ours);
    ck_assert_uint_eq(cell, without);

    /* both worlds now let the same number through */
    fake_now = t1;
    ck_assert_uint_eq(take_all(10, 5), 5);
}
END_TEST


START_TEST(test_refund_late)
{
    lgsp_limit_result_t  taken;

    /* refunded after the slot's time has passed: only the unused part */
    ck_assert_int_eq(lgsp_limit_take(&cell, fake_now, 10, 0, &taken), 1);
    clock_advance(30 * MS);
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_uint_eq(cell, fake_now * 1000);

    ck_assert_uint_eq(take_all(10, 0), 1);

    /* long after: nothing to give back, cell untouched */
    clock_advance(5 * SEC);
    cell = T0 * 1000;
    lgsp_limit_refund(&cell, fake_now, &taken);
    ck_assert_uint_eq(cell, T0 * 1000);
}
END_TEST


/* daily quota */

/* peek: what a take would say, without writing */

START_TEST(test_peek_matches_take)
{
    uint64_t             before;
    unsigned             i;
    lgsp_limit_result_t  p, t;

    /* idle: r = burst + 1 before any take */
    lgsp_limit_peek(&cell, fake_now, 10, 4, &p);
    ck_assert_int_eq(p.allowed, 1);
    ck_assert_uint_eq(p.remaining, 5);
    ck_assert_uint_eq(p.quota, 14);
    ck_assert_uint_eq(p.window, 1);
    ck_assert_uint_eq(cell, 0);

    for (i = 0; i < 8; i++) {
        before = cell;
        lgsp_limit_peek(&cell, fake_now, 10, 4, &p);
        ck_assert_uint_eq(cell, before);
        lgsp_limit_take(&cell, fake_now, 10, 4, &t);

        /* a peek says r = n before a take that leaves n - 1 */
        ck_assert_int_eq(p.allowed, t.allowed);
        if (t.allowed) {
            ck_assert_uint_eq(p.remaining, t.remaining + 1);
        } else {
            ck_assert_uint_eq(p.remaining, 0);
            ck_assert_uint_eq(p.retry_after, t.retry_after);
            ck_assert_uint_eq(p.reset, t.reset);
        }
        clock_advance(20 * MS);
    }

    /* nothing a refund could give back */
    before = cell;
    lgsp_limit_peek(&cell, fake_now, 10, 4, &p);
    lgsp_limit_refund(&cell, fake_now, &p);
    ck_assert_uint_eq(cell, before);

    lgsp_limit_peek(&cell, fake_now, 0, 4, &p);
    ck_assert_int_eq(p.allowed, 1);
    ck_assert_uint_eq(p.quota, 0);
}
END_TEST


START_TEST(test_peek_clock_back)
{
    lgsp_limit_result_t  p;

    take_all(10, 2);

    /* the wall clock went back an hour: all spent, as a take would see */
    lgsp_limit_peek(&cell, fake_now - 3600 * SEC, 10, 2, &p);
    ck_assert_int_eq(p.allowed, 0);
    ck_assert_uint_eq(p.remaining, 0);
    ck_assert_uint_eq(p.retry_after, 1);
}
END_TEST


START_TEST(test_quota_peek)
{
    uint64_t             before;
    lgsp_limit_result_t  p, t;

    lgsp_limit_quota_peek(&cell, fake_now, 3, &p);
    ck_assert_int_eq(p.allowed, 1);
    ck_assert_uint_eq(p.remaining, 3);
    ck_assert_uint_eq(p.window, 86400);
    ck_assert_uint_eq(cell, 0);

    lgsp_limit_quota_take(&cell, fake_now, 3, &t);
    lgsp_limit_quota_take(&cell, fake_now, 3, &t);
    before = cell;
    lgsp_limit_quota_peek(&cell, fake_now, 3, &p);
    ck_assert_uint_eq(cell, before);
    ck_assert_uint_eq(p.remaining, 1);
    ck_assert_uint_eq(p.reset, t.reset);

    lgsp_limit_quota_take(&cell, fake_now, 3, &t);
    lgsp_limit_quota_peek(&cell, fake_now, 3, &p);
    ck_assert_int_eq(p.allowed, 0);
    ck_assert_uint_eq(p.remaining, 0);
    ck_assert_uint_eq(p.retry_after, (MIDNIGHT - fake_now) / SEC);

    /* a peek is never refunded */
    lgsp_limit_quota_refund(&cell, &p);
    ck_assert_uint_eq(cell, before + 1);

    /* the next day it is whole again, without a write */
    lgsp_limit_quota_peek(&cell, MIDNIGHT, 3, &p);
    ck_assert_uint_eq(p.remaining, 3);
    ck_assert_uint_eq(cell, before + 1);
}
END_TEST


START_TEST(test_local_day)
{
    /* 1970-01-01 00:00 UTC is 07:00 of day 0 in the city */
    ck_assert_uint_eq(lgsp_limit_local_day(0), 0);
    ck_assert_uint_eq(lgsp_limit_local_day(17 * 3600 * SEC - 1), 0);
    ck_assert_uint_eq(lgsp_limit_local_day(17 * 3600 * SEC), 1);

    ck_assert_uint_eq(lgsp_limit_local_day(T0), T0_SEC / 86400);
    ck_assert_uint_eq(lgsp_limit_local_day(MIDNIGHT - 1), T0_SEC / 86400);
    ck_assert_uint_eq(lgsp_limit_local_day(MIDNIGHT), T0_SEC / 86400 + 1);

    /* the end of 64-bit time still fits a 32-bit day */
    ck_assert_uint_eq(lgsp_limit_local_day(UINT64_MAX),
                      (UINT64_MAX / SEC + 25200) / 86400);
}
END_TEST


START_TEST(test_quota_counts)
{
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 3, &res), 1);
    ck_assert_uint_eq(res.quota, 3);
    ck_assert_uint_eq(res.window, 86400);
    ck_assert_uint_eq(res.remaining, 2);
    ck_assert_uint_eq(res.reset, 17 * 3600);
    ck_assert_uint_eq(res.retry_after, 0);

    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 3, &res), 1);
    ck_assert_uint_eq(res.remaining, 1);
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 3, &res), 1);
    ck_assert_uint_eq(res.remaining, 0);

    clock_advance(SEC / 2);
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 3, &res), 0);
    ck_assert_uint_eq(res.remaining, 0);
    ck_assert_uint_eq(res.retry_after, 17 * 3600);
    ck_assert_uint_eq(res.reset, 17 * 3600);

    /* refusals are not counted */
    ck_assert_uint_eq((uint32_t) cell, 3);
    ck_assert_uint_eq(cell >> 32, T0_SEC / 86400);
}
END_TEST


START_TEST(test_quota_reset_at_midnight)
{
    fake_now = MIDNIGHT - 10 * SEC;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);

    /* the last microsecond of the day: still refused, wait 1 s */
    fake_now = MIDNIGHT - 1;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 0);
    ck_assert_uint_eq(res.retry_after, 1);

    /* 17:00:00.000000 UTC: a new day */
    fake_now = MIDNIGHT;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);
    ck_assert_uint_eq(res.remaining, 1);
    ck_assert_uint_eq(res.reset, 86400);
    ck_assert_uint_eq(res.day, T0_SEC / 86400 + 1);
}
END_TEST


START_TEST(test_quota_boundary_second)
{
    /* whole seconds before midnight give exactly that many */
    fake_now = MIDNIGHT - SEC;
    lgsp_limit_quota_take(&cell, fake_now, 100, &res);
    ck_assert_uint_eq(res.reset, 1);

    fake_now = MIDNIGHT - 2 * SEC;
    lgsp_limit_quota_take(&cell, fake_now, 100, &res);
    ck_assert_uint_eq(res.reset, 2);

    /* a fraction rounds up */
    fake_now = MIDNIGHT - 1500 * MS;
    lgsp_limit_quota_take(&cell, fake_now, 100, &res);
    ck_assert_uint_eq(res.reset, 2);

    fake_now = MIDNIGHT + 1;
    lgsp_limit_quota_take(&cell, fake_now, 100, &res);
    ck_assert_uint_eq(res.reset, 86400);
    ck_assert_uint_eq(res.remaining, 99);
}
END_TEST


START_TEST(test_quota_clock_back)
{
    uint64_t  day;

    /* exhausted just after midnight, then the clock steps back over it */
    fake_now = MIDNIGHT + 5 * SEC;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 1, &res), 1);

    fake_now = MIDNIGHT - 2 * SEC;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 1, &res), 0);

    /* counted in the later day: wait for its end, not a fresh quota */
    ck_assert_uint_eq(res.retry_after, 86400 + 2);
    ck_assert_uint_eq(cell >> 32, T0_SEC / 86400 + 1);

    fake_now = MIDNIGHT + 86400 * SEC;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 1, &res), 1);

    /* a cell from a clock days ahead: today, count kept, next midnight */
    day = T0_SEC / 86400 + 30;
    cell = (day << 32) | 1;
    fake_now = T0;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 1, &res), 0);
    ck_assert_uint_eq(res.retry_after, 17 * 3600);
    ck_assert_uint_eq(cell >> 32, T0_SEC / 86400);

    fake_now = MIDNIGHT;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 1, &res), 1);
}
END_TEST


START_TEST(test_quota_refund)
{
    lgsp_limit_result_t  taken;

    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &taken), 1);
    lgsp_limit_quota_refund(&cell, &taken);
    ck_assert_uint_eq((uint32_t) cell, 1);

    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 0);

    /* refused: nothing to give back */
    lgsp_limit_quota_refund(&cell, &res);
    ck_assert_uint_eq((uint32_t) cell, 2);

    /* the day it was counted in is over: its count is gone already */
    fake_now = MIDNIGHT;
    ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 2, &res), 1);
    lgsp_limit_quota_refund(&cell, &taken);
    ck_assert_uint_eq((uint32_t) cell, 1);
}
END_TEST


START_TEST(test_quota_zero_unlimited)
{
    int  i;

    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(lgsp_limit_quota_take(&cell, fake_now, 0, &res), 1);
    }

    ck_assert_uint_eq(cell, 0);
    ck_assert_uint_eq(res.quota, 0);
}
END_TEST


/* many workers on one cell */

#define THREADS          8
#define PHASES           300
#define ATTEMPTS         200

/* T = 10 us, 500 at once, then a phase of 3 ms brings exactly 300 more */
#define C_RATE           100000
#define C_BURST          499
#define C_STEP           (3 * MS)
#define C_BOUND          (C_BURST + 1 + (PHASES - 1) * 300)

static pthread_barrier_t  barrier;
static uint64_t           shared_now;
static int                refund_odd;

typedef struct {
    unsigned              allowed;
    unsigned              refunded;
    unsigned              refused;
} worker_t;


static void *
gcra_worker(void *arg)
{
    int                   p, i;
    uint64_t              now;
    worker_t             *w;
    lgsp_limit_result_t   r;

    w = arg;

    for (p = 0; p < PHASES; p++) {
        pthread_barrier_wait(&barrier);
        now = __atomic_load_n(&shared_now, __ATOMIC_RELAXED);

        for (i = 0; i < ATTEMPTS; i++) {
            if (!lgsp_limit_take(&cell, now, C_RATE, C_BURST, &r)) {
                w->refused++;
                continue;
            }

            w->allowed++;

            if (refund_odd && (w->allowed & 1)) {
                lgsp_limit_refund(&cell, now, &r);
                w->refunded++;
            }
        }

        pthread_barrier_wait(&barrier);
    }

    return NULL;
}


static unsigned
run_gcra_workers(unsigned *refunded, unsigned *refused)
{
    int        p, i;
    unsigned   allowed;
    pthread_t  tid[THREADS];
    worker_t   w[THREADS];

    memset(w, 0, sizeof(w));
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, THREADS + 1), 0);
    shared_now = T0;

    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_create(&tid[i], NULL, gcra_worker, &w[i]),
                         0);
    }

    for (p = 0; p < PHASES; p++) {
        pthread_barrier_wait(&barrier);
        pthread_barrier_wait(&barrier);
        __atomic_store_n(&shared_now, shared_now + C_STEP, __ATOMIC_RELAXED);
    }

    allowed = *refunded = *refused = 0;

    for (i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        allowed += w[i].allowed;
        *refunded += w[i].refunded;
        *refused += w[i].refused;
    }

    pthread_barrier_destroy(&barrier);

    return allowed;
}


START_TEST(test_concurrent_gcra)
{
    unsigned  allowed, refunded, refused;

    /*
     * 1600 attempts per phase at a shared now, more than can pass: a lost
     * update would let more than the bound through.
     */
    refund_odd = 0;
    allowed = run_gcra_workers(&refunded, &refused);

    ck_assert_uint_eq(allowed, C_BOUND);
    ck_assert_uint_eq(allowed + refused, THREADS * PHASES * ATTEMPTS);
    ck_assert_uint_eq(refunded, 0);
}
END_TEST


START_TEST(test_concurrent_refund)
{
    unsigned  allowed, refunded, refused, drained;

    /*
     * Every other request given back at once: what stays taken is still
     * exactly the bound (slots freed at the end of the last phase are
     * taken by a final drain at the same now).
     */
    refund_odd = 1;
    allowed = run_gcra_workers(&refunded, &refused);

    drained = 0;
    while (lgsp_limit_take(&cell, shared_now - C_STEP, C_RATE, C_BURST, &res)) {
        drained++;
    }

    ck_assert_uint_gt(refunded, 10000);
    ck_assert_uint_eq(allowed - refunded + drained, C_BOUND);
}
END_TEST


static void *
quota_worker(void *arg)
{
    int                   i;
    worker_t             *w;
    lgsp_limit_result_t   r;

    w = arg;

    pthread_barrier_wait(&barrier);

    for (i = 0; i < 5000; i++) {
        if (lgsp_limit_quota_take(&cell, T0, 12345, &r)) {
            w->allowed++;
        }
    }

    return NULL;
}


START_TEST(test_concurrent_quota)
{
    int        i;
    unsigned   allowed;
    pthread_t  tid[THREADS];
    worker_t   w[THREADS];

    memset(w, 0, sizeof(w));
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, THREADS), 0);

    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_create(&tid[i], NULL, quota_worker, &w[i]),
                         0);
    }

    allowed = 0;

    for (i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        allowed += w[i].allowed;
    }

    pthread_barrier_destroy(&barrier);

    ck_assert_uint_eq(allowed, 12345);
    ck_assert_uint_eq((uint32_t) cell, 12345);
}
END_TEST


/* headers */

static lgsp_limit_result_t  grant_res, quota_res, service_res;


static void
headers_setup(void)
{
    uint64_t  c1 = 0, c2 = 0, c3 = 0;

    limit_setup();

    lgsp_limit_take(&c1, T0, 20, 0, &grant_res);
    lgsp_limit_quota_take(&c2, T0, 1000, &quota_res);
    lgsp_limit_take(&c3, T0, 500, 0, &service_res);
}


START_TEST(test_format_spec_example)
{
    char               buf[LGSP_LIMIT_HEADER_LEN];
    lgsp_limit_item_t  items[] = {
        { LGSP_LIMIT_GRANT, &grant_res },
        { LGSP_LIMIT_SERVICE, &service_res }
    };

    ck_assert_int_eq(lgsp_limit_format_policy(buf, sizeof(buf), items, 2),
                     strlen("\"grant\";q=20;w=1, \"service\";q=500;w=1"));
    ck_assert_str_eq(buf, "\"grant\";q=20;w=1, \"service\";q=500;w=1");

    grant_res.remaining = 3;
    lgsp_limit_format_state(buf, sizeof(buf), items, 1);
    ck_assert_str_eq(buf, "\"grant\";r=3;t=1");
}
END_TEST


START_TEST(test_format_all_three)
{
    char               buf[LGSP_LIMIT_HEADER_LEN];
    lgsp_limit_item_t  items[] = {
        { LGSP_LIMIT_GRANT, &grant_res },
        { LGSP_LIMIT_QUOTA, &quota_res },
        { LGSP_LIMIT_SERVICE, &service_res }
    };

    ck_assert_int_gt(lgsp_limit_format_policy(buf, sizeof(buf), items, 3),
                     0);
    ck_assert_str_eq(buf, "\"grant\";q=20;w=1, \"quota\";q=1000;w=86400, "
                          "\"service\";q=500;w=1");

    ck_assert_int_gt(lgsp_limit_format_state(buf, sizeof(buf), items, 3), 0);
    ck_assert_str_eq(buf, "\"grant\";r=0;t=1, \"quota\";r=999;t=61200, "
                          "\"service\";r=0;t=1");
}
END_TEST


START_TEST(test_format_skips_unlimited)
{
    char                 buf[LGSP_LIMIT_HEADER_LEN];
    uint64_t             c = 0;
    lgsp_limit_result_t  none;
    lgsp_limit_item_t    items[] = {
        { LGSP_LIMIT_GRANT, &none },
        { LGSP_LIMIT_QUOTA, NULL },
        { LGSP_LIMIT_SERVICE, &service_res }
    };

    lgsp_limit_take(&c, T0, 0, 0, &none);

    ck_assert_int_eq(lgsp_limit_format_policy(buf, sizeof(buf), items, 3),
                     strlen("\"service\";q=500;w=1"));
    ck_assert_str_eq(buf, "\"service\";q=500;w=1");

    /* nothing applies: empty, the header is not sent */
    ck_assert_int_eq(lgsp_limit_format_state(buf, sizeof(buf), items, 2), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST


START_TEST(test_format_too_small)
{
    char               buf[LGSP_LIMIT_HEADER_LEN];
    size_t             len;
    lgsp_limit_item_t  items[] = {
        { LGSP_LIMIT_GRANT, &grant_res },
        { LGSP_LIMIT_SERVICE, &service_res }
    };

    len = strlen("\"grant\";q=20;w=1, \"service\";q=500;w=1");

    /* room for the NUL is needed; one byte less fails cleanly */
    memset(buf, 'x', sizeof(buf));
    ck_assert_int_eq(lgsp_limit_format_policy(buf, len + 1, items, 2), len);
    ck_assert_uint_eq(buf[len], '\0');

    memset(buf, 'x', sizeof(buf));
    ck_assert_int_eq(lgsp_limit_format_policy(buf, len, items, 2), -1);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(buf[len], 'x');

    /* fails inside the first item too */
    ck_assert_int_eq(lgsp_limit_format_state(buf, 5, items, 1), -1);
    ck_assert_str_eq(buf, "");

    ck_assert_int_eq(lgsp_limit_format_state(buf, 0, items, 1), -1);
}
END_TEST


START_TEST(test_format_bad_items)
{
    char               buf[LGSP_LIMIT_HEADER_LEN];
    lgsp_limit_item_t  items[] = {
        { LGSP_LIMIT_GRANT, &grant_res },
        { LGSP_LIMIT_QUOTA, &quota_res },
        { LGSP_LIMIT_SERVICE, &service_res },
        { LGSP_LIMIT_GRANT, &grant_res }
    };
    lgsp_limit_item_t  twice[] = {
        { LGSP_LIMIT_GRANT, &grant_res },
        { LGSP_LIMIT_GRANT, &grant_res }
    };
    lgsp_limit_item_t  unknown[] = {
        { (lgsp_limit_kind_e) 3, &grant_res }
    };

    ck_assert_int_eq(lgsp_limit_format_policy(buf, sizeof(buf), items, 4),
                     -1);
    ck_assert_int_eq(lgsp_limit_format_policy(buf, sizeof(buf), twice, 2),
                     -1);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(lgsp_limit_format_policy(buf, sizeof(buf), unknown, 1),
                     -1);
}
END_TEST


START_TEST(test_format_largest_fits)
{
    char                 buf[LGSP_LIMIT_HEADER_LEN];
    lgsp_limit_result_t  big;
    lgsp_limit_item_t    items[] = {
        { LGSP_LIMIT_GRANT, &big },
        { LGSP_LIMIT_QUOTA, &big },
        { LGSP_LIMIT_SERVICE, &big }
    };

    big.quota = big.window = big.remaining = big.reset = UINT32_MAX;

    ck_assert_int_gt(lgsp_limit_format_policy(buf, sizeof(buf), items, 3),
                     0);
    ck_assert_int_gt(lgsp_limit_format_state(buf, sizeof(buf), items, 3), 0);
    ck_assert_str_eq(buf, "\"grant\";r=4294967295;t=4294967295, "
                          "\"quota\";r=4294967295;t=4294967295, "
                          "\"service\";r=4294967295;t=4294967295");
}
END_TEST


Suite *
limit_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("limit");

    tc = tcase_create("gcra");
    tcase_add_checked_fixture(tc, limit_setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_first_request);
    tcase_add_test(tc, test_burst_then_refused);
    tcase_add_test(tc, test_same_microsecond);
    tcase_add_test(tc, test_burst_zero);
    tcase_add_test(tc, test_rate_one);
    tcase_add_test(tc, test_rate_million);
    tcase_add_test(tc, test_rate_zero_unlimited);
    tcase_add_test(tc, test_interval);
    tcase_add_test(tc, test_retry_after_is_enough);
    tcase_add_test(tc, test_pacing_at_rate);
    tcase_add_test(tc, test_three_times_rate);
    tcase_add_test(tc, test_no_drift);
    tcase_add_test(tc, test_truncation_bound);
    suite_add_tcase(s, tc);

    tc = tcase_create("clock");
    tcase_add_checked_fixture(tc, limit_setup, NULL);
    tcase_add_test(tc, test_clock_back_small);
    tcase_add_test(tc, test_clock_back_large);
    tcase_add_test(tc, test_clock_back_while_idle);
    tcase_add_test(tc, test_clock_forward);
    tcase_add_test(tc, test_tat_near_wrap);
    tcase_add_test(tc, test_now_near_wrap);
    tcase_add_test(tc, test_extreme_parameters);
    suite_add_tcase(s, tc);

    tc = tcase_create("refund");
    tcase_add_checked_fixture(tc, limit_setup, NULL);
    tcase_add_test(tc, test_refund_restores_one);
    tcase_add_test(tc, test_refund_nothing_taken);
    tcase_add_test(tc, test_refund_after_concurrent_take);
    tcase_add_test(tc, test_refund_late);
    tcase_add_test(tc, test_peek_matches_take);
    tcase_add_test(tc, test_peek_clock_back);
    tcase_add_test(tc, test_quota_peek);
    suite_add_tcase(s, tc);

    tc = tcase_create("quota");
    tcase_add_checked_fixture(tc, limit_setup, NULL);
    tcase_add_test(tc, test_local_day);
    tcase_add_test(tc, test_quota_counts);
    tcase_add_test(tc, test_quota_reset_at_midnight);
    tcase_add_test(tc, test_quota_boundary_second);
    tcase_add_test(tc, test_quota_clock_back);
    tcase_add_test(tc, test_quota_refund);
    tcase_add_test(tc, test_quota_zero_unlimited);
    suite_add_tcase(s, tc);

    tc = tcase_create("concurrency");
    tcase_add_checked_fixture(tc, limit_setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_concurrent_gcra);
    tcase_add_test(tc, test_concurrent_refund);
    tcase_add_test(tc, test_concurrent_quota);
    suite_add_tcase(s, tc);

    tc = tcase_create("headers");
    tcase_add_checked_fixture(tc, headers_setup, NULL);
    tcase_add_test(tc, test_format_spec_example);
    tcase_add_test(tc, test_format_all_three);
    tcase_add_test(tc, test_format_skips_unlimited);
    tcase_add_test(tc, test_format_too_small);
    tcase_add_test(tc, test_format_bad_items);
    tcase_add_test(tc, test_format_largest_fits);
    suite_add_tcase(s, tc);

    return s;
}
