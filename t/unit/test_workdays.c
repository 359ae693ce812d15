/* The 5-working-day rule (Art. 10.2) across weekends and holidays, the
 * holiday list's format, and the seed's password policy. */

#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "cp_password.h"
#include "cp_time.h"
#include "cp_workdays.h"

/* a city time "YYYY-MM-DDTHH:MM:SS" (UTC+7) as Unix seconds */
static int64_t
at(const char *s)
{
    int64_t t;

    ck_assert_int_eq(cp_time_parse(s, &t), 0);
    return t;
}

static const char tet2026[] =
    "# Tết 2026 as shipped\n"
    "2026-01-01              Tết Dương lịch\n"
    "2026-02-14..2026-02-22  Tết Nguyên đán\n"
    "2026-04-27              Giỗ Tổ Hùng Vương\n"
    "2026-04-30              Chiến thắng\n"
    "2026-05-01              Quốc tế Lao động\n"
    "  \n";

static cp_holidays_t h;
static char          why[160];

static void
setup(void)
{
    ck_assert_int_eq(cp_holidays_parse(tet2026, &h, why, sizeof(why)), 0);
}

static void
teardown(void)
{
    cp_holidays_free(&h);
}

START_TEST(plain_week)
{
    /* Monday 2026-03-02: days 1..5 are Tue..Mon; due at the start of Tue */
    int64_t filed = at("2026-03-02T10:00:00");

    ck_assert_int_eq(cp_request_due(&h, filed), at("2026-03-10T00:00:00"));
    ck_assert(!cp_request_overdue(&h, filed, at("2026-03-09T23:59:59")));
    ck_assert(cp_request_overdue(&h, filed, at("2026-03-10T00:00:00")));
    /* filing at 23:59 or at 00:00 the same city day changes nothing */
    ck_assert_int_eq(cp_request_due(&h, at("2026-03-02T00:00:00")),
                     cp_request_due(&h, at("2026-03-02T23:59:59")));
}
END_TEST

START_TEST(friday_before_tet)
{
    /* Friday 2026-02-13; 14..22 are Tết: working days are 23..27 Feb */
    int64_t filed = at("2026-02-13T16:30:00");

    ck_assert_int_eq(cp_request_due(&h, filed), at("2026-02-28T00:00:00"));
    ck_assert(!cp_request_overdue(&h, filed, at("2026-02-27T23:59:59")));
    ck_assert(cp_request_overdue(&h, filed, at("2026-02-28T00:00:00")));
    ck_assert_int_eq(cp_workdays_between(&h, filed,
                                         at("2026-02-22T12:00:00")), 0);
    ck_assert_int_eq(cp_workdays_between(&h, filed,
                                         at("2026-02-25T12:00:00")), 3);
    /* without the list, only the weekend would count */
    ck_assert_int_eq(cp_request_due(NULL, filed), at("2026-02-21T00:00:00"));
}
END_TEST

START_TEST(weekend_filing)
{
    /* Saturday 2026-03-07: Monday 9 is day 1, Friday 13 day 5 */
    ck_assert_int_eq(cp_request_due(&h, at("2026-03-07T09:00:00")),
                     at("2026-03-14T00:00:00"));
    ck_assert_int_eq(cp_request_due(&h, at("2026-03-08T09:00:00")),
                     at("2026-03-14T00:00:00"));
}
END_TEST

START_TEST(april_holidays)
{
    /* Thursday 2026-04-23: 24 Fri, (27 holiday), 28, 29, (30, 1 May
     * holidays), 4 May, 5 May */
    ck_assert_int_eq(cp_request_due(&h, at("2026-04-23T11:00:00")),
                     at("2026-05-06T00:00:00"));
    ck_assert(!cp_workday(&h, cp_city_day(at("2026-04-27T12:00:00"))));
    ck_assert(cp_workday(&h, cp_city_day(at("2026-04-28T12:00:00"))));
    ck_assert(!cp_workday(&h, cp_city_day(at("2026-04-25T12:00:00"))));
}
END_TEST

START_TEST(city_day_not_utc_day)
{
    /* 2026-03-06T20:00Z is Saturday 03:00 in the city: not a work day */
    int64_t t;

    ck_assert_int_eq(cp_time_parse("2026-03-06T20:00:00Z", &t), 0);
    ck_assert(!cp_workday(&h, cp_city_day(t)));
    ck_assert_int_eq(cp_time_parse("2026-03-06T16:59:59Z", &t), 0);
    ck_assert(cp_workday(&h, cp_city_day(t)));
}
END_TEST

START_TEST(worked_saturday)
{
    cp_holidays_t w;

    ck_assert_int_eq(cp_holidays_parse("+2026-03-07 làm bù\n", &w, why,
                                       sizeof(why)), 0);
    ck_assert(cp_workday(&w, cp_city_day(at("2026-03-07T12:00:00"))));
    /* Friday 6: Sat 7 (worked), 9, 10, 11, 12 */
    ck_assert_int_eq(cp_request_due(&w, at("2026-03-06T12:00:00")),
                     at("2026-03-13T00:00:00"));
    cp_holidays_free(&w);
}
END_TEST

START_TEST(list_refusals)
{
    cp_holidays_t x;

    ck_assert_int_eq(cp_holidays_parse("2026-02-30 x\n", &x, why,
                                       sizeof(why)), -1);
    ck_assert_str_eq(why, "line 1: expected YYYY-MM-DD (a real date)");
    ck_assert_int_eq(cp_holidays_parse("# c\n\n2026-1-01 x\n", &x, why,
                                       sizeof(why)), -1);
    ck_assert(strncmp(why, "line 3:", 7) == 0);
    ck_assert_int_eq(cp_holidays_parse("2026-02-22..2026-02-14 x\n", &x,
                                       why, sizeof(why)), -1);
    ck_assert_int_eq(cp_holidays_parse("2026-01-01..2026-03-01 x\n", &x,
                                       why, sizeof(why)), -1);
    ck_assert_int_eq(cp_holidays_parse("2026-01-01x\n", &x, why,
                                       sizeof(why)), -1);
    /* "+" is for weekend days only: a typo must not go unnoticed */
    ck_assert_int_eq(cp_holidays_parse("+2026-03-06 x\n", &x, why,
                                       sizeof(why)), -1);
    ck_assert_int_eq(cp_holidays_load("/nonexistent/holidays.txt", &x, why,
                                      sizeof(why)), -1);
    ck_assert_int_eq(cp_holidays_parse("", &x, why, sizeof(why)), 0);
    ck_assert_uint_eq(x.noff, 0);
    cp_holidays_free(&x);
}
END_TEST

START_TEST(shipped_list_parses)
{
    cp_holidays_t x;

    ck_assert_int_eq(cp_holidays_load("conf/holidays.txt", &x, why,
                                      sizeof(why)), 0);
    ck_assert(!cp_workday(&x, cp_city_day(at("2026-02-16T12:00:00"))));
    ck_assert(!cp_workday(&x, cp_city_day(at("2027-01-01T12:00:00"))));
    ck_assert(cp_workday(&x, cp_city_day(at("2026-02-13T12:00:00"))));
    cp_holidays_free(&x);
}
END_TEST

START_TEST(password_policy)
{
    char w[160];

    ck_assert_int_eq(cp_password_check("Bearer ups-3cr3t-Value", w,
                                       sizeof(w)), 0);
    ck_assert_int_eq(cp_password_check("Aa1!aaaa", w, sizeof(w)), 0);
    ck_assert_int_eq(cp_password_check("Aa1!aaa", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "shorter than 8 characters");
    ck_assert_int_eq(cp_password_check("aa1!aaaa", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "needs an upper-case letter");
    ck_assert_int_eq(cp_password_check("AA1!AAAA", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "needs a lower-case letter");
    ck_assert_int_eq(cp_password_check("Aab!aaaa", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "needs a digit");
    ck_assert_int_eq(cp_password_check("Aa1aaaaa", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "needs a special character");
    ck_assert_int_eq(cp_password_check("abcdefgh", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "needs an upper-case letter, a digit and a special"
                     " character");
    /* 8 bytes but 4 characters */
    ck_assert_int_eq(cp_password_check("Ạ1!ạ", w, sizeof(w)), -1);
    ck_assert_str_eq(w, "shorter than 8 characters");
    /* the reason never quotes the secret */
    ck_assert(strstr(w, "Ạ") == NULL);
}
END_TEST

Suite *
workdays_suite(void)
{
    Suite *s = suite_create("workdays");
    TCase *tc = tcase_create("rule");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, plain_week);
    tcase_add_test(tc, friday_before_tet);
    tcase_add_test(tc, weekend_filing);
    tcase_add_test(tc, april_holidays);
    tcase_add_test(tc, city_day_not_utc_day);
    tcase_add_test(tc, worked_saturday);
    tcase_add_test(tc, list_refusals);
    tcase_add_test(tc, shipped_list_parses);
    suite_add_tcase(s, tc);

    tc = tcase_create("password");
    tcase_add_test(tc, password_policy);
    suite_add_tcase(s, tc);
    return s;
}
