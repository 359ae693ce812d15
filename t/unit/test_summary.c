/* Audit summaries: latency buckets, percentiles read from them, and the
 * grouping of records by city day into audit.db's summary tables. */

#include <stdint.h>
#include <string.h>
#include <check.h>
#include <sqlite3.h>

#include "cp_audit_summary.h"

START_TEST(test_bounds)
{
    ck_assert_int_eq(cp_latency_bound(0), 1000);
    ck_assert_int_eq(cp_latency_bound(4), 2000);
    ck_assert_int_eq(cp_latency_bound(1), 1189);
    ck_assert_int_eq(cp_latency_bound(40), 1024000);
    ck_assert(cp_latency_bound(CP_LAT_BUCKETS - 1) == INT64_MAX);
    for (int b = 1; b < CP_LAT_BUCKETS; b++) {
        ck_assert(cp_latency_bound(b) > cp_latency_bound(b - 1));
    }
}
END_TEST

START_TEST(test_bucket)
{
    ck_assert_int_eq(cp_latency_bucket(0), 0);
    ck_assert_int_eq(cp_latency_bucket(1000), 0);
    ck_assert_int_eq(cp_latency_bucket(1001), 1);
    ck_assert_int_eq(cp_latency_bucket(2000), 4);
    ck_assert_int_eq(cp_latency_bucket(2001), 5);
    ck_assert_int_eq(cp_latency_bucket(INT64_MAX), CP_LAT_BUCKETS - 1);
    /* every duration lands in the bucket whose bounds hold it */
    for (int64_t us = 1; us < 100000000; us = us * 3 / 2 + 1) {
        int b = cp_latency_bucket(us);

        ck_assert(us <= cp_latency_bound(b));
        ck_assert(us > cp_latency_bound(b - 1));
    }
}
END_TEST

START_TEST(test_percentile)
{
    int64_t hist[CP_LAT_BUCKETS];

    memset(hist, 0, sizeof(hist));
    ck_assert_int_eq(cp_latency_percentile(hist, 0, 0.5), 0);

    /* 90 calls of 1.5 ms, 10 of 30 ms */
    hist[cp_latency_bucket(1500)] = 90;
    hist[cp_latency_bucket(30000)] = 10;
    ck_assert_int_eq(cp_latency_percentile(hist, 30000, 0.50),
                     cp_latency_bound(cp_latency_bucket(1500)));
    ck_assert_int_eq(cp_latency_percentile(hist, 30000, 0.90),
                     cp_latency_bound(cp_latency_bucket(1500)));
    /* the 91st is in the top bucket, read no higher than the max */
    ck_assert_int_eq(cp_latency_percentile(hist, 30000, 0.91), 30000);
    ck_assert_int_eq(cp_latency_percentile(hist, 30000, 0.99), 30000);
    ck_assert(cp_latency_percentile(hist, 30000, 0.5) >= 1500);
    ck_assert(cp_latency_percentile(hist, 30000, 0.5) < 1500 * 1.19);
}
END_TEST

static void
row(cp_audit_row_t r, int64_t start_ms, const char *consumer,
    const char *result, const char *reason, int64_t dur)
{
    memset(r, 0, sizeof(cp_audit_row_t));
#define T(c, v) r[c].s = v; r[c].len = strlen(v)
    T(CP_AC_CONSUMER_ORG, consumer);
    T(CP_AC_PROVIDER_ORG, "H26.107");
    T(CP_AC_SERVICE, "citizen");
    T(CP_AC_VERSION, "v1");
    T(CP_AC_ENVIRONMENT, "production");
    T(CP_AC_RESULT, result);
    T(CP_AC_REASON, reason);
#undef T
    r[CP_AC_START_MS].i = start_ms;
    r[CP_AC_DURATION_US].i = dur;
    r[CP_AC_BYTES_IN].i = 10;
    r[CP_AC_BYTES_OUT].i = 100;
}

static long long
q(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    long long     v = -1;

    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static const char *schema =
    "CREATE TABLE audit_daily (day, environment, consumer_org, provider_org,"
    " service, version, calls, successes, failures, denials, bytes_in,"
    " bytes_out, duration_us, max_duration_us, PRIMARY KEY (day,"
    " environment, consumer_org, provider_org, service, version));"
    "CREATE TABLE audit_daily_reasons (day, environment, consumer_org,"
    " provider_org, service, version, reason, count, PRIMARY KEY (day,"
    " environment, consumer_org, provider_org, service, version, reason));"
    "CREATE TABLE audit_daily_latency (day, environment, consumer_org,"
    " provider_org, service, version, bucket, count, PRIMARY KEY (day,"
    " environment, consumer_org, provider_org, service, version, bucket));";

START_TEST(test_flush)
{
    sqlite3        *db;
    cp_summary_t   *s = cp_summary_new();
    cp_audit_row_t  r;
    /* 2026-03-01 00:00 +07 = 2026-02-28 17:00 UTC */
    int64_t         midnight = 1772298000000LL;

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);

    for (int pass = 0; pass < 2; pass++) {
        row(r, midnight - 1, "H26.108", "00", "", 1500);     /* Feb 28 */
        ck_assert_int_eq(cp_summary_add(s, r), 0);
        row(r, midnight, "H26.108", "00", "", 1500);         /* Mar 1 */
        ck_assert_int_eq(cp_summary_add(s, r), 0);
        row(r, midnight + 5, "H26.108", "01", "no_grant", 900);
        ck_assert_int_eq(cp_summary_add(s, r), 0);
        row(r, midnight + 6, "", "01", "missing_token", 800);
        ck_assert_int_eq(cp_summary_add(s, r), 0);
        ck_assert_int_eq(cp_summary_flush(s, db), 0);
    }

    ck_assert_int_eq(q(db, "SELECT calls FROM audit_daily WHERE day ="
                           " '2026-02-28'"), 2);
    ck_assert_int_eq(q(db, "SELECT calls FROM audit_daily WHERE day ="
                           " '2026-03-01' AND consumer_org = 'H26.108'"), 4);
    ck_assert_int_eq(q(db, "SELECT failures FROM audit_daily WHERE day ="
                           " '2026-03-01' AND consumer_org = 'H26.108'"), 2);
    ck_assert_int_eq(q(db, "SELECT denials FROM audit_daily WHERE day ="
                           " '2026-03-01' AND consumer_org = ''"), 2);
    ck_assert_int_eq(q(db, "SELECT count FROM audit_daily_reasons WHERE"
                           " reason = 'no_grant'"), 2);
    ck_assert_int_eq(q(db, "SELECT sum(count) FROM audit_daily_latency"), 8);
    ck_assert_int_eq(q(db, "SELECT max_duration_us FROM audit_daily WHERE"
                           " day = '2026-03-01' AND consumer_org ="
                           " 'H26.108'"), 1500);
    ck_assert_int_eq(q(db, "SELECT bytes_out FROM audit_daily WHERE day ="
                           " '2026-02-28'"), 200);

    /* a reset forgets what a rolled-back batch counted */
    row(r, midnight, "H26.108", "00", "", 1500);
    ck_assert_int_eq(cp_summary_add(s, r), 0);
    cp_summary_reset(s);
    ck_assert_int_eq(cp_summary_flush(s, db), 0);
    ck_assert_int_eq(q(db, "SELECT sum(calls) FROM audit_daily"), 8);

    cp_summary_free(s);
    sqlite3_close(db);
}
END_TEST

Suite *
summary_suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("latency");

    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_bucket);
    tcase_add_test(tc, test_percentile);
    suite_add_tcase(s, tc);
    tc = tcase_create("flush");
    tcase_add_test(tc, test_flush);
    suite_add_tcase(s, tc);
    return s;
}
