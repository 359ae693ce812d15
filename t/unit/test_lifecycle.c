/* Lifecycle rules at their boundaries (180 days, 60 days), city dates,
 * and the shapes of operator input. */

#include <string.h>
#include <check.h>

#include "cp_lifecycle.h"
#include "cp_time.h"
#include "cp_valid.h"

#define DAY  86400

START_TEST(dates_are_city_days)
{
    int64_t t;
    char    s[32];

    /* 2025-01-01 00:00 +07:00 == 2024-12-31T17:00:00Z */
    ck_assert_int_eq(cp_date_parse("2025-01-01", &t), 0);
    ck_assert_int_eq(t, 1735664400);
    cp_date_format(t, s, sizeof(s));
    ck_assert_str_eq(s, "2025-01-01");
    cp_date_format(t - 1, s, sizeof(s));
    ck_assert_str_eq(s, "2024-12-31");
    cp_time_format_utc(t, s, sizeof(s));
    ck_assert_str_eq(s, "2024-12-31T17:00:00Z");

    ck_assert_int_eq(cp_date_parse("2024-02-29", &t), 0);
    ck_assert_int_eq(cp_date_parse("2025-02-29", &t), -1);
    ck_assert_int_eq(cp_date_parse("2025-13-01", &t), -1);
    ck_assert_int_eq(cp_date_parse("2025-04-31", &t), -1);
    ck_assert_int_eq(cp_date_parse("2025-1-01", &t), -1);
    ck_assert_int_eq(cp_date_parse("2025-01-01x", &t), -1);
    ck_assert_int_eq(cp_date_parse("", &t), -1);
}
END_TEST

START_TEST(times_with_and_without_offset)
{
    int64_t t;

    ck_assert_int_eq(cp_time_parse("2025-01-01T07:00:00Z", &t), 0);
    ck_assert_int_eq(t, 1735714800);
    ck_assert_int_eq(cp_time_parse("2025-01-01T14:00", &t), 0);   /* +07 */
    ck_assert_int_eq(t, 1735714800);
    ck_assert_int_eq(cp_time_parse("2025-01-01 14:00:00+07:00", &t), 0);
    ck_assert_int_eq(t, 1735714800);
    ck_assert_int_eq(cp_time_parse("2025-01-01T02:00:00-05:00", &t), 0);
    ck_assert_int_eq(t, 1735714800);
    ck_assert_int_eq(cp_time_parse("2025-01-01", &t), 0);
    ck_assert_int_eq(t, 1735664400);
    ck_assert_int_eq(cp_time_parse("2025-01-01T24:00", &t), -1);
    ck_assert_int_eq(cp_time_parse("2025-01-01T10:00+7", &t), -1);
    ck_assert_int_eq(cp_time_parse("2025-01-01T10:00Zjunk", &t), -1);
    ck_assert_int_eq(cp_time_parse("yesterday", &t), -1);
}
END_TEST

/* the grammar audit list and reconcile relied on before the parsers were
 * one: milliseconds, +HH and +HHMM offsets, and no 31 February */
START_TEST(times_in_ms)
{
    int64_t ms;

    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T14:00:00.25", &ms), 0);
    ck_assert_int_eq(ms, 1735714800250LL);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T14:00:00.0109", &ms), 0);
    ck_assert_int_eq(ms, 1735714800010LL);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T14:00:00+07", &ms), 0);
    ck_assert_int_eq(ms, 1735714800000LL);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T02:00:00-0500", &ms), 0);
    ck_assert_int_eq(ms, 1735714800000LL);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T14:00:00.", &ms), -1);
    ck_assert_int_eq(cp_time_parse_ms("2025-02-31T10:00", &ms), -1);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T10:00+15", &ms), -1);
    ck_assert_int_eq(cp_time_parse_ms("2025-01-01T10:00+07:0", &ms), -1);
}
END_TEST

START_TEST(sunset_180_days)
{
    int64_t pub = 1735714800;       /* 2025-01-01 14:00 city time */
    char    s[16];

    ck_assert(!cp_lc_sunset_ok(pub, pub + 179 * DAY));
    ck_assert(!cp_lc_sunset_ok(pub, pub + 180 * DAY - 1));
    ck_assert(cp_lc_sunset_ok(pub, pub + 180 * DAY));
    ck_assert(cp_lc_sunset_ok(pub, pub + 181 * DAY));
    ck_assert(!cp_lc_sunset_ok(pub, pub - DAY));

    /* published mid-day: day 180's start comes too early, day 181 is the
     * first date that keeps the full 180 days */
    cp_date_format(cp_lc_earliest_sunset(pub), s, sizeof(s));
    ck_assert_str_eq(s, "2025-07-01");    /* 2025-01-01 + 181 days */
    ck_assert(cp_lc_sunset_ok(pub, cp_lc_earliest_sunset(pub)));
    ck_assert(!cp_lc_sunset_ok(pub, cp_lc_earliest_sunset(pub) - DAY));

    /* published exactly at a city midnight: day 180 is allowed */
    ck_assert_int_eq(cp_date_parse("2025-01-01", &pub), 0);
    cp_date_format(cp_lc_earliest_sunset(pub), s, sizeof(s));
    ck_assert_str_eq(s, "2025-06-30");
}
END_TEST

START_TEST(end_60_days)
{
    int64_t now = 1735714800;
    char    s[16];

    ck_assert(!cp_lc_end_ok(now, now + 59 * DAY));
    ck_assert(!cp_lc_end_ok(now, now + 60 * DAY - 1));
    ck_assert(cp_lc_end_ok(now, now + 60 * DAY));
    ck_assert(!cp_lc_end_ok(now, now));
    cp_date_format(cp_lc_earliest_end(now), s, sizeof(s));
    ck_assert_str_eq(s, "2025-03-03");    /* 2025-01-01 + 61 days */
    ck_assert(cp_lc_end_ok(now, cp_lc_earliest_end(now)));
}
END_TEST

START_TEST(day_rounding)
{
    int64_t d;

    ck_assert_int_eq(cp_date_parse("2025-03-10", &d), 0);
    ck_assert_int_eq(cp_lc_day_at_or_after(d), d);
    ck_assert_int_eq(cp_lc_day_at_or_after(d + 1), d + DAY);
    ck_assert_int_eq(cp_lc_day_at_or_after(d - 1), d);
}
END_TEST

START_TEST(states)
{
    const char *next = NULL;
    char        why[128];

    ck_assert_int_eq(cp_lc_publish("draft", 0, &next, why, sizeof(why)), 0);
    ck_assert_str_eq(next, "sandbox");
    ck_assert_int_eq(cp_lc_publish("draft", 1, &next, why, sizeof(why)), 0);
    ck_assert_str_eq(next, "published");
    ck_assert_int_eq(cp_lc_publish("sandbox", 1, &next, why, sizeof(why)), 0);
    ck_assert_str_eq(next, "published");
    ck_assert_int_eq(cp_lc_publish("sandbox", 0, &next, why, sizeof(why)), -1);
    ck_assert_int_eq(cp_lc_publish("published", 1, &next, why, sizeof(why)),
                     -1);
    ck_assert_ptr_nonnull(strstr(why, "published"));
    ck_assert_int_eq(cp_lc_publish("retired", 1, &next, why, sizeof(why)), -1);
    ck_assert_int_eq(cp_lc_publish("deprecated", 0, &next, why, sizeof(why)),
                     -1);

    ck_assert(cp_lc_callable("sandbox", 0));
    ck_assert(!cp_lc_callable("sandbox", 1));
    ck_assert(cp_lc_callable("published", 1));
    ck_assert(cp_lc_callable("published", 0));
    ck_assert(cp_lc_callable("deprecated", 1));
    ck_assert(!cp_lc_callable("draft", 0));
    ck_assert(!cp_lc_callable("retired", 1));
    ck_assert(!cp_lc_callable("retired", 0));

    ck_assert(!cp_lc_retire_needs_force("draft", 0, 100));
    ck_assert(cp_lc_retire_needs_force("published", 0, 100));
    ck_assert(cp_lc_retire_needs_force("sandbox", 0, 100));
    ck_assert(cp_lc_retire_needs_force("deprecated", 200, 199));
    ck_assert(!cp_lc_retire_needs_force("deprecated", 200, 200));
}
END_TEST

START_TEST(operator_input)
{
    char       code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    char       out[128], why[128], hdr[64];
    long long  v;

    ck_assert_int_eq(cp_valid_system_id("hr-db"), 0);
    ck_assert_int_eq(cp_valid_system_id("a"), -1);
    ck_assert_int_eq(cp_valid_system_id("1abc"), -1);
    ck_assert_int_eq(cp_valid_system_id("Hr-db"), -1);
    ck_assert_int_eq(cp_valid_system_id("hr_db"), -1);
    ck_assert_int_eq(cp_valid_system_id(
        "a1234567890123456789012345678901234567890123456789012345678901234"),
        -1);                                     /* 65 characters */
    ck_assert_int_eq(cp_valid_system_id(
        "a123456789012345678901234567890123456789012345678901234567890123"),
        0);                                      /* 64 */

    ck_assert_int_eq(cp_parse_route("citizens/v1", 0, code, ver), 0);
    ck_assert_str_eq(code, "citizens");
    ck_assert_str_eq(ver, "v1");
    ck_assert_int_eq(cp_parse_route("citizens", 0, code, ver), -1);
    ck_assert_int_eq(cp_parse_route("citizens", 1, code, ver), 0);
    ck_assert_str_eq(ver, "");
    ck_assert_int_eq(cp_parse_route("Citizens/v1", 0, code, ver), -1);
    ck_assert_int_eq(cp_parse_route("citizens/", 0, code, ver), -1);
    ck_assert_int_eq(cp_parse_route("citizens/.v1", 0, code, ver), -1);
    ck_assert_int_eq(cp_parse_route("citizens/v1/x", 0, code, ver), -1);
    ck_assert_int_eq(cp_parse_route("citizens/2.0-beta_1", 0, code, ver), 0);

    ck_assert_int_eq(cp_valid_url("http://127.0.0.1:9000/x", why, 128), 0);
    ck_assert_int_eq(cp_valid_url("https://api.example.vn", why, 128), 0);
    ck_assert_int_eq(cp_valid_url("ftp://x", why, 128), -1);
    ck_assert_int_eq(cp_valid_url("http://", why, 128), -1);
    ck_assert_int_eq(cp_valid_url("http:///path", why, 128), -1);
    ck_assert_int_eq(cp_valid_url("http://a b", why, 128), -1);
    ck_assert_int_eq(cp_valid_url("http://u:p@host/", why, 128), -1);

    ck_assert_int_eq(cp_parse_methods("get,Post,GET", out, sizeof(out), why,
                                      sizeof(why)), 0);
    ck_assert_str_eq(out, "GET,POST");
    ck_assert_int_eq(cp_parse_methods("GET,,POST", out, sizeof(out), why,
                                      sizeof(why)), -1);
    ck_assert_int_eq(cp_parse_methods("FETCH", out, sizeof(out), why,
                                      sizeof(why)), -1);

    ck_assert_int_eq(cp_parse_uint("20/s", "/s", 1000000, &v), 0);
    ck_assert_int_eq(v, 20);
    ck_assert_int_eq(cp_parse_uint("20", "/s", 1000000, &v), 0);
    ck_assert_int_eq(cp_parse_uint("20/m", "/s", 1000000, &v), -1);
    ck_assert_int_eq(cp_parse_uint("-1", NULL, 10, &v), -1);
    ck_assert_int_eq(cp_parse_uint("11", NULL, 10, &v), -1);
    ck_assert_int_eq(cp_parse_uint("", NULL, 10, &v), -1);
    ck_assert_int_eq(cp_parse_uint("99999999999999999999", NULL, 10, &v), -1);

    strcpy(out, "Authorization:   Basic abc  \r\n");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), 0);
    ck_assert_str_eq(hdr, "Authorization: Basic abc");
    strcpy(out, "X-Api-Key:k\nX-Other: 1\n");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), -1);
    strcpy(out, "X-LGSP-Consumer-Org: H26");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), -1);
    strcpy(out, "Host: evil");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), -1);
    strcpy(out, "Bad Name: v");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), -1);
    strcpy(out, "X-Key:   ");
    ck_assert_int_eq(cp_parse_upstream_header(out, hdr, sizeof(hdr), why,
                                              sizeof(why)), -1);
}
END_TEST

Suite *
lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("rules");

    tcase_add_test(tc, dates_are_city_days);
    tcase_add_test(tc, times_with_and_without_offset);
    tcase_add_test(tc, times_in_ms);
    tcase_add_test(tc, sunset_180_days);
    tcase_add_test(tc, end_60_days);
    tcase_add_test(tc, day_rounding);
    tcase_add_test(tc, states);
    tcase_add_test(tc, operator_input);
    suite_add_tcase(s, tc);
    return s;
}
