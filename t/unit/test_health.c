/* Connection status logic with a fake clock: how answers are judged, the
 * hysteresis, the per-minute summary math, the packed hours, retention,
 * and what the snapshot compiler reads. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "cp_config.h"
#include "cp_health.h"
#include "cp_store.h"

#define T0  (1800000000000LL)     /* a fake "now", on an hour boundary */
#define DAY CP_HEALTH_DAY_MS

static int
judge(long http, const char *body, int *reason)
{
    return cp_health_classify(http, body, strlen(body), 0, reason);
}

START_TEST(classify_answers)
{
    int r;

    ck_assert_int_eq(judge(500, "{\"status\":\"up\"}", &r), CP_HEALTH_DOWN);
    ck_assert_int_eq(r, CP_HR_HTTP);
    ck_assert_int_eq(judge(404, "", &r), CP_HEALTH_DOWN);
    ck_assert_int_eq(judge(302, "", &r), CP_HEALTH_DOWN);
    ck_assert_int_eq(judge(200, "", &r), CP_HEALTH_UP);
    ck_assert_int_eq(judge(204, " \n", &r), CP_HEALTH_UP);
    ck_assert_int_eq(judge(200, "{\"status\":\"up\",\"checks\":{}}", &r),
                     CP_HEALTH_UP);
    ck_assert_int_eq(r, CP_HR_OK);
    ck_assert_int_eq(judge(200, "{\"status\":\"UP\"}", &r), CP_HEALTH_UP);
    ck_assert_int_eq(judge(200, "{\"status\":\"pass\"}", &r), CP_HEALTH_UP);
    ck_assert_int_eq(judge(200, "{\"status\":\"00\"}", &r), CP_HEALTH_UP);
    ck_assert_int_eq(judge(200, "{\"status\":\"degraded\"}", &r),
                     CP_HEALTH_DEGRADED);
    ck_assert_int_eq(r, CP_HR_REPORTED_DEGRADED);
    ck_assert_int_eq(judge(200, "{\"status\":\"warn\"}", &r),
                     CP_HEALTH_DEGRADED);
    ck_assert_int_eq(judge(200, "{\"status\":\"down\"}", &r), CP_HEALTH_DOWN);
    ck_assert_int_eq(r, CP_HR_REPORTED_DOWN);
    ck_assert_int_eq(judge(200, "{\"status\":\"fail\"}", &r), CP_HEALTH_DOWN);
    /* garbage on a 2xx: reachable, not vouching for itself */
    ck_assert_int_eq(judge(200, "<html>It works!</html>", &r),
                     CP_HEALTH_DEGRADED);
    ck_assert_int_eq(r, CP_HR_BODY);
    ck_assert_int_eq(judge(200, "{\"status\":", &r), CP_HEALTH_DEGRADED);
    ck_assert_int_eq(judge(200, "{\"state\":\"up\"}", &r), CP_HEALTH_DEGRADED);
    ck_assert_int_eq(judge(200, "{\"status\":1}", &r), CP_HEALTH_DEGRADED);
    ck_assert_int_eq(judge(200, "{\"status\":\"maybe\"}", &r),
                     CP_HEALTH_DEGRADED);
    ck_assert_int_eq(judge(200, "[\"up\"]", &r), CP_HEALTH_DEGRADED);
    ck_assert_int_eq(cp_health_classify(200, "{\"status\":\"up\"}", 15, 1, &r),
                     CP_HEALTH_DEGRADED);
    ck_assert_int_eq(r, CP_HR_BODY);
}
END_TEST

static void
feed(cp_health_sm_t *sm, int result, int64_t t, cp_health_step_t *st)
{
    cp_health_sm_feed(sm, result, t, 3, 2, st);
}

START_TEST(hysteresis)
{
    cp_health_sm_t   sm = { 0 };
    cp_health_step_t st;

    feed(&sm, CP_HEALTH_UP, T0, &st);
    ck_assert(st.changed && st.from == CP_HEALTH_UNKNOWN);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
    ck_assert(!st.incident_open && !st.incident_close);

    /* two failures: still up */
    feed(&sm, CP_HEALTH_DOWN, T0 + 1000, &st);
    feed(&sm, CP_HEALTH_DOWN, T0 + 2000, &st);
    ck_assert(!st.changed);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
    ck_assert_int_eq(sm.fails, 2);
    /* one success resets the count */
    feed(&sm, CP_HEALTH_UP, T0 + 3000, &st);
    ck_assert_int_eq(sm.fails, 0);
    feed(&sm, CP_HEALTH_DOWN, T0 + 4000, &st);
    feed(&sm, CP_HEALTH_DOWN, T0 + 5000, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
    feed(&sm, CP_HEALTH_DOWN, T0 + 6000, &st);
    ck_assert(st.changed && st.incident_open && !st.incident_close);
    ck_assert_int_eq(sm.state, CP_HEALTH_DOWN);
    ck_assert_int_eq(sm.since_ms, T0 + 6000);

    /* more failures: no second incident */
    feed(&sm, CP_HEALTH_DOWN, T0 + 7000, &st);
    ck_assert(!st.changed && !st.incident_open);

    /* one success is not enough; a failure resets the good count */
    feed(&sm, CP_HEALTH_UP, T0 + 8000, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_DOWN);
    feed(&sm, CP_HEALTH_DOWN, T0 + 9000, &st);
    feed(&sm, CP_HEALTH_UP, T0 + 10000, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_DOWN);
    feed(&sm, CP_HEALTH_UP, T0 + 11000, &st);
    ck_assert(st.changed && st.incident_close && !st.incident_open);
    ck_assert_int_eq(st.from, CP_HEALTH_DOWN);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
    ck_assert_int_eq(sm.since_ms, T0 + 11000);

    /* up and degraded follow at once, with no incident */
    feed(&sm, CP_HEALTH_DEGRADED, T0 + 12000, &st);
    ck_assert(st.changed && !st.incident_open && !st.incident_close);
    ck_assert_int_eq(sm.state, CP_HEALTH_DEGRADED);
    feed(&sm, CP_HEALTH_UP, T0 + 13000, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
}
END_TEST

START_TEST(hysteresis_from_unknown_and_to_degraded)
{
    cp_health_sm_t   sm = { 0 };
    cp_health_step_t st;

    feed(&sm, CP_HEALTH_DOWN, T0, &st);
    feed(&sm, CP_HEALTH_DOWN, T0 + 1, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_UNKNOWN);
    feed(&sm, CP_HEALTH_DOWN, T0 + 2, &st);
    ck_assert(st.incident_open);
    ck_assert_int_eq(st.from, CP_HEALTH_UNKNOWN);
    /* back from down to what the last result says */
    feed(&sm, CP_HEALTH_DEGRADED, T0 + 3, &st);
    feed(&sm, CP_HEALTH_DEGRADED, T0 + 4, &st);
    ck_assert(st.incident_close);
    ck_assert_int_eq(sm.state, CP_HEALTH_DEGRADED);

    /* thresholds of 1: every result flips */
    cp_health_sm_feed(&sm, CP_HEALTH_DOWN, T0 + 5, 1, 1, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_DOWN);
    cp_health_sm_feed(&sm, CP_HEALTH_UP, T0 + 6, 1, 1, &st);
    ck_assert_int_eq(sm.state, CP_HEALTH_UP);
}
END_TEST

static cp_health_sample_t
sample(int64_t at, uint32_t lat, int result)
{
    cp_health_sample_t s = { .at_ms = at, .latency_ms = lat,
                             .http = result == CP_HEALTH_DOWN ? 500 : 200,
                             .result = (uint8_t) result,
                             .reason = result == CP_HEALTH_DOWN ? CP_HR_HTTP
                                                                : CP_HR_OK };
    return s;
}

START_TEST(minute_summaries)
{
    cp_health_hour_t    h;
    cp_health_summary_t s;
    cp_health_sample_t  x;

    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(cp_health_hour_of(T0 + 5 * CP_HEALTH_HOUR_MS + 123),
                     T0 + 5 * CP_HEALTH_HOUR_MS);
    ck_assert_int_eq(cp_health_hour_of(T0 - 1), T0 - CP_HEALTH_HOUR_MS);
    cp_health_hour_init(&h, T0);

    x = sample(T0 + 1000, 10, CP_HEALTH_UP);
    ck_assert_int_eq(cp_health_hour_add(&h, &x), 0);
    x = sample(T0 + 11000, 20, CP_HEALTH_DOWN);
    cp_health_hour_add(&h, &x);
    x = sample(T0 + 21000, 31, CP_HEALTH_DEGRADED);
    cp_health_hour_add(&h, &x);
    cp_health_minute_summary(&h.minutes[0], &s);
    ck_assert_uint_eq(s.checks, 3);
    ck_assert_uint_eq(s.failures, 1);      /* degraded is not a failure */
    ck_assert_uint_eq(s.avg_ms, 20);       /* 61 / 3 = 20.3 */
    ck_assert_uint_eq(s.max_ms, 31);

    /* rounding to nearest, and the next minute is its own */
    x = sample(T0 + 60000, 1, CP_HEALTH_UP);
    cp_health_hour_add(&h, &x);
    x = sample(T0 + 119999, 2, CP_HEALTH_UP);
    cp_health_hour_add(&h, &x);
    cp_health_minute_summary(&h.minutes[1], &s);
    ck_assert_uint_eq(s.checks, 2);
    ck_assert_uint_eq(s.avg_ms, 2);        /* 1.5 rounds up */
    ck_assert_uint_eq(s.max_ms, 2);

    /* clamps of the stored form */
    for (int i = 0; i < 300; i++) {
        x = sample(T0 + 59 * 60000 + i, 70000, CP_HEALTH_DOWN);
        cp_health_hour_add(&h, &x);
    }
    cp_health_minute_summary(&h.minutes[59], &s);
    ck_assert_uint_eq(s.checks, 255);
    ck_assert_uint_eq(s.failures, 255);
    ck_assert_uint_eq(s.avg_ms, 65535);
    ck_assert_uint_eq(s.max_ms, 65535);

    /* another hour is refused; an empty minute is all zero */
    x = sample(T0 + CP_HEALTH_HOUR_MS, 1, CP_HEALTH_UP);
    ck_assert_int_eq(cp_health_hour_add(&h, &x), -1);
    x = sample(T0 - 1, 1, CP_HEALTH_UP);
    ck_assert_int_eq(cp_health_hour_add(&h, &x), -1);
    cp_health_minute_summary(&h.minutes[30], &s);
    ck_assert_uint_eq(s.checks + s.failures + s.avg_ms + s.max_ms, 0);
    cp_health_hour_free(&h);
}
END_TEST

/* a deterministic "network": 8..40 ms with now and then a slow one */
static uint32_t
latency(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return 8 + (*seed >> 16) % 33 + ((*seed >> 8) % 97 == 0 ? 900 : 0);
}

static void
fill_hour(cp_health_hour_t *h, int interval_s, unsigned seed)
{
    cp_health_hour_init(h, T0);
    for (int i = 0; i < 3600 / interval_s; i++) {
        uint32_t           lat = latency(&seed);
        cp_health_sample_t x = sample(T0 + i * interval_s * 1000LL + lat % 7,
                                      lat, i % 50 == 49 ? CP_HEALTH_DOWN
                                                        : CP_HEALTH_UP);
        cp_health_hour_add(h, &x);
    }
}

START_TEST(packed_hours_round_trip)
{
    cp_health_hour_t    h, back;
    cp_health_summary_t m[60], want;
    unsigned char      *raw, *mins;
    size_t              raw_len, mins_len;

    memset(&h, 0, sizeof(h));
    memset(&back, 0, sizeof(back));
    fill_hour(&h, 10, 7);
    ck_assert_uint_eq(h.n, 360);
    ck_assert_int_eq(cp_health_pack_raw(&h, &raw, &raw_len), 0);
    ck_assert_int_eq(cp_health_pack_minutes(&h, &mins, &mins_len), 0);

    cp_health_hour_init(&back, T0);
    ck_assert_int_eq(cp_health_unpack_raw(raw, raw_len, 360, &back), 0);
    ck_assert_uint_eq(back.n, 360);
    for (size_t i = 0; i < h.n; i++) {
        ck_assert_int_eq(back.samples[i].at_ms, h.samples[i].at_ms);
        ck_assert_uint_eq(back.samples[i].latency_ms, h.samples[i].latency_ms);
        ck_assert_uint_eq(back.samples[i].http, h.samples[i].http);
        ck_assert_uint_eq(back.samples[i].result, h.samples[i].result);
        ck_assert_uint_eq(back.samples[i].reason, h.samples[i].reason);
    }
    /* minutes rebuilt from the raw results equal the stored summaries */
    ck_assert_int_eq(cp_health_unpack_minutes(mins, mins_len, m), 0);
    for (int i = 0; i < 60; i++) {
        cp_health_minute_summary(&back.minutes[i], &want);
        ck_assert_uint_eq(m[i].checks, 6);
        ck_assert_uint_eq(m[i].checks, want.checks);
        ck_assert_uint_eq(m[i].failures, want.failures);
        ck_assert_uint_eq(m[i].avg_ms, want.avg_ms);
        ck_assert_uint_eq(m[i].max_ms, want.max_ms);
    }

    /* the sizes docs/operator-guide.md's arithmetic rests on */
    ck_assert_msg(raw_len < 1200, "raw hour is %zu bytes", raw_len);
    ck_assert_msg(mins_len < 200, "minute hour is %zu bytes", mins_len);

    /* damage is refused, never read past */
    cp_health_hour_init(&back, T0);
    ck_assert_int_eq(cp_health_unpack_raw(raw, raw_len, 359, &back), -1);
    ck_assert_int_eq(cp_health_unpack_raw(raw, raw_len - 3, 360, &back), -1);
    ck_assert_int_eq(cp_health_unpack_raw(raw, 4, 360, &back), -1);
    ck_assert_int_eq(cp_health_unpack_raw(raw, raw_len, -1, &back), -1);
    raw[0] = 9;
    ck_assert_int_eq(cp_health_unpack_raw(raw, raw_len, 360, &back), -1);
    mins[mins_len - 1] ^= 0xff;
    ck_assert_int_eq(cp_health_unpack_minutes(mins, mins_len, m), -1);

    free(raw);
    free(mins);
    cp_health_hour_free(&h);
    cp_health_hour_free(&back);
}
END_TEST

static char dbpath[64];
static sqlite3 *hdb;

static void
db_setup(void)
{
    const char *why = NULL;
    int         fd;

    strcpy(dbpath, "/tmp/lgsp-health-XXXXXX");
    fd = mkstemp(dbpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    unlink(dbpath);
    hdb = cp_health_open(dbpath, 1, &why);
    ck_assert_msg(hdb != NULL, "open: %s", why ? why : "?");
}

static void
db_teardown(void)
{
    char p[96];

    sqlite3_close(hdb);
    unlink(dbpath);
    snprintf(p, sizeof(p), "%s-wal", dbpath);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", dbpath);
    unlink(p);
}

static void
sql(const char *s)
{
    char *err = NULL;

    ck_assert_msg(sqlite3_exec(hdb, s, NULL, NULL, &err) == SQLITE_OK,
                  "%s: %s", s, err ? err : "");
}

static long long
count(const char *s)
{
    return cp_db_int(hdb, s, -1);
}

static void
store_at(int64_t target, int64_t hour)
{
    cp_health_hour_t   h;
    cp_health_sample_t x = sample(hour + 5000, 12, CP_HEALTH_UP);

    memset(&h, 0, sizeof(h));
    cp_health_hour_init(&h, hour);
    cp_health_hour_add(&h, &x);
    ck_assert_int_eq(cp_health_store_hour(hdb, target, &h), 0);
    cp_health_hour_free(&h);
}

#define TARGET(id, kind, ref, state, active)                                 \
    "INSERT INTO targets (id, kind, ref_id, name, system_ident, agency_code,"\
    " agency_name, url, interval_s, state, active) VALUES (" #id ", '" kind  \
    "', " #ref ", 'n" #id "', 's', 'H26', 'A', 'http://x/', 10, '" state     \
    "', " #active ");"

START_TEST(retention)
{
    int64_t cursor = 0, now = T0 + 100 * DAY;
    char    q[1024];
    int     n;

    sql(TARGET(1, "system", 11, "up", 1) TARGET(2, "version", 22, "down", 1));
    for (int64_t t = 1; t <= 2; t++) {
        store_at(t, now - 100 * DAY);                 /* past both */
        store_at(t, now - 8 * DAY);                   /* past raw only */
        store_at(t, now - 7 * DAY);                   /* hour ends after cut */
        store_at(t, now - CP_HEALTH_HOUR_MS);         /* recent */
    }
    snprintf(q, sizeof(q),
             "INSERT INTO state_changes (target_id, at_ms, from_state,"
             " to_state) VALUES (1, %lld, 'up', 'down'), (1, %lld, 'up',"
             " 'down'), (1, %lld, 'up', 'down'), (1, %lld, 'down', 'up');"
             "INSERT INTO incidents (id, target_id, opened_ms, closed_ms)"
             " VALUES (1, 1, %lld, %lld), (2, 2, %lld, NULL),"
             " (3, 1, %lld, %lld);"
             "INSERT INTO notifications (incident_id, event, body, state,"
             " next_ms, created_ms) VALUES (1, 'open', '{}', 'sent', 0, 0),"
             " (3, 'open', '{}', 'sent', 0, 0);",
             (long long) (now - 95 * DAY), (long long) (now - 92 * DAY),
             (long long) (now - 91 * DAY), (long long) (now - 1 * DAY),
             (long long) (now - 95 * DAY), (long long) (now - 94 * DAY),
             (long long) (now - 99 * DAY),
             (long long) (now - 10 * DAY), (long long) (now - 9 * DAY));
    sql(q);

    /* a batch of 2: two of the three old state changes go, one stays */
    n = cp_health_prune(hdb, now, 7, 90, &cursor, 2);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(count("SELECT count(*) FROM state_changes"), 2);
    ck_assert_int_eq(count("SELECT count(*) FROM raw_hours"), 4);
    ck_assert_int_eq(count("SELECT count(*) FROM minute_hours"), 6);
    /* the whole old incident went with its notification; the open one,
     * however old, stays */
    ck_assert_int_eq(count("SELECT count(*) FROM incidents WHERE id = 1"), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM incidents WHERE id = 2"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM incidents WHERE id = 3"), 1);
    ck_assert_int_eq(count("SELECT count(*) FROM notifications"), 1);

    n = cp_health_prune(hdb, now, 7, 90, &cursor, 2);
    ck_assert_int_eq(count("SELECT count(*) FROM state_changes"), 1);
    n = cp_health_prune(hdb, now, 7, 90, &cursor, 2);
    ck_assert_int_eq(n, 0);

    /* what is left: raw of the last 7 days, summaries of the last 90 */
    snprintf(q, sizeof(q), "SELECT min(hour_ms) FROM raw_hours");
    ck_assert_int_eq(count(q), now - 7 * DAY);
    /* finished days of summaries are folded into one row each, minute
     * for minute; today's hours stay hours */
    snprintf(q, sizeof(q), "SELECT min(hour_ms) FROM minute_hours");
    ck_assert_int_eq(count(q), (now - 8 * DAY) - (now - 8 * DAY) % DAY);
    ck_assert_int_eq(count("SELECT count(*) FROM minute_hours WHERE n = 1440"),
                     4);
    ck_assert_int_eq(count("SELECT count(*) FROM minute_hours WHERE n = 60"),
                     2);
    {
        sqlite3_stmt              *st;
        static cp_health_summary_t m[CP_HEALTH_DAY_MINUTES];
        int64_t                    day = (now - 7 * DAY) - (now - 7 * DAY) % DAY;
        int                        at = (int) ((now - 7 * DAY - day) / 60000);

        st = cp_db_prepare(hdb, "SELECT data FROM minute_hours WHERE"
                                " target_id = 2 AND hour_ms = ?1");
        sqlite3_bind_int64(st, 1, day);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(cp_health_unpack_summaries(
                             sqlite3_column_blob(st, 0),
                             (size_t) sqlite3_column_bytes(st, 0), 1440, m), 0);
        sqlite3_finalize(st);
        for (int i = 0; i < 1440; i++) {
            ck_assert_uint_eq(m[i].checks, i == at ? 1 : 0);
        }
        ck_assert_uint_eq(m[at].avg_ms, 12);
    }

    /* a longer setting keeps more: nothing more goes at 366/3660 days */
    ck_assert_int_eq(cp_health_prune(hdb, now, 366, 3660, &cursor, 100), 0);
}
END_TEST

static void
collect(void *arg, int kind, int64_t ref)
{
    int64_t *sum = arg;

    *sum += kind * 1000 + ref;
}

START_TEST(down_for_the_snapshot)
{
    int64_t sum = 0;

    sql(TARGET(1, "system", 11, "down", 1) TARGET(2, "version", 22, "down", 1)
        TARGET(3, "version", 33, "up", 1) TARGET(4, "system", 44, "down", 0));
    ck_assert_int_eq(cp_health_each_down(hdb, collect, &sum), 2);
    ck_assert_int_eq(sum, (1000 + 11) + (2000 + 22));
    ck_assert_int_eq(cp_health_state(hdb, CP_HEALTH_KIND_SYSTEM, 11),
                     CP_HEALTH_DOWN);
    ck_assert_int_eq(cp_health_state(hdb, CP_HEALTH_KIND_VERSION, 33),
                     CP_HEALTH_UP);
    ck_assert_int_eq(cp_health_state(hdb, CP_HEALTH_KIND_VERSION, 11),
                     CP_HEALTH_UNKNOWN);
    ck_assert_int_eq(cp_health_state(hdb, CP_HEALTH_KIND_SYSTEM, 999),
                     CP_HEALTH_UNKNOWN);
}
END_TEST

START_TEST(layout_newer_is_refused)
{
    const char *why = NULL;
    sqlite3    *again;

    ck_assert_int_eq(cp_db_version(hdb), cp_health_latest());
    ck_assert_int_eq(count("PRAGMA page_size"), 16384);
    sql("PRAGMA user_version = 99");
    again = cp_health_open(dbpath, 0, &why);
    ck_assert_ptr_null(again);
    ck_assert_ptr_nonnull(strstr(why, "newer"));
}
END_TEST

/* a migration that fails says SQLite's why, read before the handle goes
 * (ASan: heap-use-after-free in make test SANITIZE=1 when it was not) */
START_TEST(migration_error_outlives_the_handle)
{
    const char *why = NULL;
    sqlite3    *again;

    sql("PRAGMA user_version = 0");
    again = cp_health_open(dbpath, 0, &why);
    ck_assert_ptr_null(again);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "already exists") != NULL, "why: %s", why);
}
END_TEST

START_TEST(config_keys)
{
    cp_config_t cf;
    char        path[] = "/tmp/lgsp-hconf-XXXXXX", err[512];
    int         fd = mkstemp(path);
    FILE       *f = fdopen(fd, "w");

    cp_config_defaults(&cf);
    ck_assert_int_eq(cf.health_timeout_ms, 5000);
    ck_assert_int_eq(cf.health_max_connections, 256);
    ck_assert_int_eq(cf.health_fail_threshold, 3);
    ck_assert_int_eq(cf.health_ok_threshold, 2);
    ck_assert_int_eq(cf.health_raw_days, 7);
    ck_assert_int_eq(cf.health_summary_days, 90);
    ck_assert_str_eq(cf.health_webhook, "");

    fputs("health_timeout_ms 1500\nhealth_webhook https://ops.example.vn/h\n"
          "health_webhook ftp://nope\n", f);
    fclose(f);
    ck_assert_int_eq(cp_config_load(&cf, path, err, sizeof(err)), -1);
    ck_assert_int_eq(cf.health_timeout_ms, 1500);
    ck_assert_str_eq(cf.health_webhook, "https://ops.example.vn/h");
    ck_assert_ptr_nonnull(strstr(err, ":3: health_webhook"));
    unlink(path);
}
END_TEST

Suite *
health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("judge");
    TCase *db = tcase_create("store");

    tcase_add_test(tc, classify_answers);
    tcase_add_test(tc, hysteresis);
    tcase_add_test(tc, hysteresis_from_unknown_and_to_degraded);
    tcase_add_test(tc, minute_summaries);
    tcase_add_test(tc, packed_hours_round_trip);
    tcase_add_test(tc, config_keys);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(db, db_setup, db_teardown);
    tcase_add_test(db, retention);
    tcase_add_test(db, down_for_the_snapshot);
    tcase_add_test(db, layout_newer_is_refused);
    tcase_add_test(db, migration_error_outlives_the_handle);
    suite_add_tcase(s, db);
    return s;
}
