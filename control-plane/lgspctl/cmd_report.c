/*
 * lgspctl report daily|monthly: calls per consumer agency, provider agency
 * and service version over a city day or month (SPEC §9), read from the
 * daily summaries lgspd keeps (cp_audit_summary.h), never from the
 * records: a month is a few thousand summary rows whatever the traffic.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_audit.h"
#include "cp_audit_summary.h"
#include "cp_cli.h"
#include "cp_store.h"
#include "cp_text.h"
#include "cp_time.h"
#include "cp_util.h"
#include "lgsp_spool.h"

#define REPORT_REASONS  32

typedef struct {
    char     *consumer_org, *provider_org, *service, *version;
    int64_t   calls, successes, failures, denials;
    int64_t   bytes_in, bytes_out, duration_us, max_duration_us;
    int       nreasons;
    char     *reason[REPORT_REASONS];
    int64_t   reason_count[REPORT_REASONS];
    int64_t   hist[CP_LAT_BUCKETS];
} report_row_t;

typedef struct {
    report_row_t  *rows;
    size_t         n, cap;
    report_row_t   total;
} report_t;

typedef enum { FMT_TABLE, FMT_JSON, FMT_CSV } report_fmt_t;

static const char *const key_sql =
    " FROM %s WHERE day BETWEEN ?1 AND ?2 AND environment = ?3";

static int
row_cmp_key(const report_row_t *r, const char *c, const char *p,
            const char *s, const char *v)
{
    int d;

    if ((d = strcmp(r->consumer_org, c)) != 0
        || (d = strcmp(r->provider_org, p)) != 0
        || (d = strcmp(r->service, s)) != 0)
    {
        return d;
    }
    return strcmp(r->version, v);
}

/* rows come sorted by key from SQL (BINARY collation = strcmp order) */
static report_row_t *
find_row(report_t *rep, sqlite3_stmt *st)
{
    const char  *c = (const char *) sqlite3_column_text(st, 0);
    const char  *p = (const char *) sqlite3_column_text(st, 1);
    const char  *s = (const char *) sqlite3_column_text(st, 2);
    const char  *v = (const char *) sqlite3_column_text(st, 3);
    size_t       lo = 0, hi = rep->n;

    if (c == NULL || p == NULL || s == NULL || v == NULL) {
        return NULL;
    }
    while (lo < hi) {
        size_t  mid = (lo + hi) / 2;
        int     d = row_cmp_key(&rep->rows[mid], c, p, s, v);

        if (d == 0) {
            return &rep->rows[mid];
        }
        if (d < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

static void
add_reason(report_row_t *r, const char *reason, int64_t count)
{
    int i;

    for (i = 0; i < r->nreasons; i++) {
        if (strcmp(r->reason[i], reason) == 0) {
            r->reason_count[i] += count;
            return;
        }
    }
    if (r->nreasons == REPORT_REASONS) {
        return;
    }
    r->reason[i] = strdup(reason);
    if (r->reason[i] == NULL) {
        return;
    }
    r->reason_count[i] = count;
    r->nreasons++;
}

static sqlite3_stmt *
prepare_range(sqlite3 *db, const char *select, const char *table,
              const char *tail, const char *from, const char *to,
              const char *env)
{
    char           sql[1024], where[256];
    sqlite3_stmt  *st;

    snprintf(where, sizeof(where), key_sql, table);
    if (cp_path(sql, sizeof(sql), "%s%s%s", select, where, tail) != 0) {
        return NULL;
    }
    st = cp_db_prepare(db, sql);
    if (st != NULL) {
        sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    }
    return st;
}

#define KEY_COLS "consumer_org, provider_org, service, version"

static int
report_load(sqlite3 *db, const char *from, const char *to, const char *env,
            report_t *rep)
{
    sqlite3_stmt  *st;
    int            rc;

    st = prepare_range(db, "SELECT " KEY_COLS ", sum(calls), sum(successes),"
                       " sum(failures), sum(denials), sum(bytes_in),"
                       " sum(bytes_out), sum(duration_us),"
                       " max(max_duration_us)", "audit_daily",
                       " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                       from, to, env);
    if (st == NULL) {
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        report_row_t *r;

        if (rep->n == rep->cap) {
            size_t        cap = rep->cap ? rep->cap * 2 : 64;
            report_row_t *more = realloc(rep->rows,
                                         cap * sizeof(report_row_t));

            if (more == NULL) {
                sqlite3_finalize(st);
                return -1;
            }
            rep->rows = more;
            rep->cap = cap;
        }
        r = &rep->rows[rep->n];
        memset(r, 0, sizeof(*r));
        r->consumer_org = strdup((const char *) sqlite3_column_text(st, 0));
        r->provider_org = strdup((const char *) sqlite3_column_text(st, 1));
        r->service = strdup((const char *) sqlite3_column_text(st, 2));
        r->version = strdup((const char *) sqlite3_column_text(st, 3));
        if (r->consumer_org == NULL || r->provider_org == NULL
            || r->service == NULL || r->version == NULL)
        {
            sqlite3_finalize(st);
            return -1;
        }
        rep->n++;
        r->calls = sqlite3_column_int64(st, 4);
        r->successes = sqlite3_column_int64(st, 5);
        r->failures = sqlite3_column_int64(st, 6);
        r->denials = sqlite3_column_int64(st, 7);
        r->bytes_in = sqlite3_column_int64(st, 8);
        r->bytes_out = sqlite3_column_int64(st, 9);
        r->duration_us = sqlite3_column_int64(st, 10);
        r->max_duration_us = sqlite3_column_int64(st, 11);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }

    st = prepare_range(db, "SELECT " KEY_COLS ", reason, sum(count)",
                       "audit_daily_reasons",
                       " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
                       from, to, env);
    if (st == NULL) {
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        report_row_t *r = find_row(rep, st);

        if (r != NULL) {
            add_reason(r, (const char *) sqlite3_column_text(st, 4),
                       sqlite3_column_int64(st, 5));
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }

    st = prepare_range(db, "SELECT " KEY_COLS ", bucket, sum(count)",
                       "audit_daily_latency", " GROUP BY 1, 2, 3, 4, 5",
                       from, to, env);
    if (st == NULL) {
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        report_row_t *r = find_row(rep, st);
        int           b = sqlite3_column_int(st, 4);

        if (r != NULL && b >= 0 && b < CP_LAT_BUCKETS) {
            r->hist[b] += sqlite3_column_int64(st, 5);
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }

    /* the totals line */
    rep->total.consumer_org = rep->total.provider_org = "";
    rep->total.service = rep->total.version = "";
    for (size_t i = 0; i < rep->n; i++) {
        report_row_t *r = &rep->rows[i], *t = &rep->total;

        t->calls += r->calls;
        t->successes += r->successes;
        t->failures += r->failures;
        t->denials += r->denials;
        t->bytes_in += r->bytes_in;
        t->bytes_out += r->bytes_out;
        t->duration_us += r->duration_us;
        if (r->max_duration_us > t->max_duration_us) {
            t->max_duration_us = r->max_duration_us;
        }
        for (int b = 0; b < CP_LAT_BUCKETS; b++) {
            t->hist[b] += r->hist[b];
        }
        for (int k = 0; k < r->nreasons; k++) {
            add_reason(t, r->reason[k], r->reason_count[k]);
        }
    }
    return 0;
}

static void
report_free(report_t *rep)
{
    for (size_t i = 0; i < rep->n; i++) {
        free(rep->rows[i].consumer_org);
        free(rep->rows[i].provider_org);
        free(rep->rows[i].service);
        free(rep->rows[i].version);
        for (int k = 0; k < rep->rows[i].nreasons; k++) {
            free(rep->rows[i].reason[k]);
        }
    }
    for (int k = 0; k < rep->total.nreasons; k++) {
        free(rep->total.reason[k]);
    }
    free(rep->rows);
}

/* ------------------------------------------------------------ output */

static cJSON *
row_json(const report_row_t *r, int with_key)
{
    cJSON  *o = cJSON_CreateObject(), *d, *l;

    if (with_key) {
        cJSON_AddStringToObject(o, "consumer_org", r->consumer_org);
        cJSON_AddStringToObject(o, "provider_org", r->provider_org);
        cJSON_AddStringToObject(o, "service", r->service);
        cJSON_AddStringToObject(o, "version", r->version);
    }
    cJSON_AddNumberToObject(o, "calls", (double) r->calls);
    cJSON_AddNumberToObject(o, "successes", (double) r->successes);
    cJSON_AddNumberToObject(o, "failures", (double) r->failures);
    d = cJSON_AddObjectToObject(o, "denials");
    for (int k = 0; k < r->nreasons; k++) {
        cJSON_AddNumberToObject(d, r->reason[k], (double) r->reason_count[k]);
    }
    cJSON_AddNumberToObject(o, "bytes_in", (double) r->bytes_in);
    cJSON_AddNumberToObject(o, "bytes_out", (double) r->bytes_out);
    l = cJSON_AddObjectToObject(o, "latency_ms");
    cJSON_AddNumberToObject(l, "p50", (double) cp_latency_percentile(
                                r->hist, r->max_duration_us, 0.50) / 1000.0);
    cJSON_AddNumberToObject(l, "p95", (double) cp_latency_percentile(
                                r->hist, r->max_duration_us, 0.95) / 1000.0);
    cJSON_AddNumberToObject(l, "p99", (double) cp_latency_percentile(
                                r->hist, r->max_duration_us, 0.99) / 1000.0);
    cJSON_AddNumberToObject(l, "mean", r->calls
                            ? (double) r->duration_us / (double) r->calls
                              / 1000.0 : 0.0);
    cJSON_AddNumberToObject(l, "max", (double) r->max_duration_us / 1000.0);
    return o;
}

static void
print_json(const report_t *rep, const char *period, const char *from,
           const char *to, const char *env)
{
    cJSON  *o = cJSON_CreateObject(), *rows;
    char   *s;

    cJSON_AddStringToObject(o, "period", period);
    cJSON_AddStringToObject(o, "from", from);
    cJSON_AddStringToObject(o, "to", to);
    cJSON_AddStringToObject(o, "environment", env);
    cJSON_AddStringToObject(o, "timezone", "+07:00");
    rows = cJSON_AddArrayToObject(o, "rows");
    for (size_t i = 0; i < rep->n; i++) {
        cJSON_AddItemToArray(rows, row_json(&rep->rows[i], 1));
    }
    cJSON_AddItemToObject(o, "total", row_json(&rep->total, 0));
    s = cJSON_Print(o);
    if (s != NULL) {
        printf("%s\n", s);
    }
    cJSON_free(s);
    cJSON_Delete(o);
}

static void
denials_text(const report_row_t *r, char sep, char eq, char *out,
             size_t size)
{
    size_t  len = 0;

    out[0] = '\0';
    for (int k = 0; k < r->nreasons && len < size; k++) {
        int n = snprintf(out + len, size - len, "%s%s%c%lld",
                         k ? (char[]) { sep, '\0' } : "", r->reason[k], eq,
                         (long long) r->reason_count[k]);

        if (n < 0 || (size_t) n >= size - len) {
            break;
        }
        len += (size_t) n;
    }
}

/* a text column and its comma: one writer for every CSV of lgspctl */
static void
csv_text(const char *s)
{
    cp_csv_write(stdout, s, strlen(s));
    putchar(',');
}

static void
print_csv_row(const report_row_t *r)
{
    char  reasons[1024];

    denials_text(r, ';', ':', reasons, sizeof(reasons));
    csv_text(r->consumer_org);
    csv_text(r->provider_org);
    csv_text(r->service);
    csv_text(r->version);
    printf("%lld,%lld,%lld,%lld,%.3f,%.3f,%.3f,%lld,%lld,",
           (long long) r->calls, (long long) r->successes,
           (long long) r->failures, (long long) r->denials,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.50) / 1000.0,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.95) / 1000.0,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.99) / 1000.0,
           (long long) r->bytes_in, (long long) r->bytes_out);
    cp_csv_write(stdout, reasons, strlen(reasons));
    putchar('\n');
}

static void
print_csv(const report_t *rep)
{
    printf("consumer_org,provider_org,service,version,calls,successes,"
           "failures,denied,p50_ms,p95_ms,p99_ms,bytes_in,bytes_out,"
           "denials\n");
    for (size_t i = 0; i < rep->n; i++) {
        print_csv_row(&rep->rows[i]);
    }
}

static const char *
dash(const char *s)
{
    return s[0] ? s : "-";
}

static void
print_table_row(const char *c, const char *p, const char *sv,
                const report_row_t *r)
{
    char  reasons[1024];

    denials_text(r, ',', '=', reasons, sizeof(reasons));
    printf("%-12s %-12s %-24s %9lld %9lld %9lld %9lld %8.1f %8.1f %8.1f"
           " %12lld %12lld  %s\n", c, p, sv, (long long) r->calls,
           (long long) r->successes, (long long) r->failures,
           (long long) r->denials,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.50) / 1000.0,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.95) / 1000.0,
           cp_latency_percentile(r->hist, r->max_duration_us, 0.99) / 1000.0,
           (long long) r->bytes_in, (long long) r->bytes_out,
           reasons[0] ? reasons : "-");
}

static void
print_table(const report_t *rep, const char *period, const char *from,
            const char *to, const char *env)
{
    char  sv[128];

    printf("%s report %s%s%s, %s, city time (UTC+7)\n", period, from,
           strcmp(from, to) ? " to " : "", strcmp(from, to) ? to : "", env);
    printf("%-12s %-12s %-24s %9s %9s %9s %9s %8s %8s %8s %12s %12s  %s\n",
           "CONSUMER", "PROVIDER", "SERVICE", "CALLS", "OK", "FAILED",
           "DENIED", "P50_MS", "P95_MS", "P99_MS", "BYTES_IN", "BYTES_OUT",
           "DENIALS");
    for (size_t i = 0; i < rep->n; i++) {
        const report_row_t *r = &rep->rows[i];

        if (r->service[0]) {
            snprintf(sv, sizeof(sv), "%s/%s", r->service, r->version);
        } else {
            snprintf(sv, sizeof(sv), "-");
        }
        print_table_row(dash(r->consumer_org), dash(r->provider_org), sv, r);
    }
    print_table_row("TOTAL", "", "", &rep->total);
}

/* ------------------------------------------------------------ entry */

/* the city's date today */
static void
today(char *out, size_t size)
{
    cp_date_format(cp_now(), out, size);
}

static int
report_run(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "date",   required_argument, NULL, 'd' },
        { "format", required_argument, NULL, 'f' },
        { "env",    required_argument, NULL, 'e' },
        { NULL, 0, NULL, 0 }
    };
    report_fmt_t   fmt = ctl->json ? FMT_JSON : FMT_TABLE;
    const char    *date = NULL, *env = "production", *period = argv[1];
    char           from[16], to[16], buf[16];
    int64_t        t;
    int            c, monthly, y, m, d;
    sqlite3       *adb;
    report_t       rep;

    monthly = strcmp(period, "monthly") == 0;
    optind = 1;
    while ((c = cp_getopt(argc - 1, argv + 1, opts, "report")) != -1) {
        switch (c) {
        case 'd':
            date = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0) {
                fmt = FMT_TABLE;
            } else if (strcmp(optarg, "json") == 0) {
                fmt = FMT_JSON;
            } else if (strcmp(optarg, "csv") == 0) {
                fmt = FMT_CSV;
            } else {
                cp_bad("--format: \"%s\" is not table, json or csv", optarg);
                return ctl_usage(ctl_find("report"));
            }
            break;
        case 'e':
            if (strcmp(optarg, "production") != 0
                && strcmp(optarg, "sandbox") != 0)
            {
                cp_bad("--env: \"%s\" is not production or sandbox", optarg);
                return ctl_usage(ctl_find("report"));
            }
            env = optarg;
            break;
        default:
            return ctl_usage(ctl_find("report"));
        }
    }
    if (optind != argc - 1) {
        return ctl_usage(ctl_find("report"));
    }

    if (date == NULL) {
        today(buf, sizeof(buf));
        date = buf;
    } else if (monthly && strlen(date) == 7) {
        /* YYYY-MM names the month too */
        snprintf(buf, sizeof(buf), "%.7s-01", date);
        date = buf;
    }
    if (cp_date_parse(date, &t) != 0) {
        cp_bad("--date: \"%s\" is not a date (YYYY-MM-DD)", date);
        return ctl_usage(ctl_find("report"));
    }
    cp_date_format(t, from, sizeof(from));
    if (monthly) {
        if (sscanf(from, "%4d-%2d-%2d", &y, &m, &d) != 3) {
            return CP_EXIT_REFUSED;
        }
        snprintf(from, sizeof(from), "%04d-%02d-01", y, m);
        /* the last day: the day before the first of the next month */
        cp_civil_from_days(cp_days_from_civil(m == 12 ? y + 1 : y,
                                              m == 12 ? 1 : m + 1, 1) - 1,
                           &y, &m, &d);
        snprintf(to, sizeof(to), "%04d-%02d-%02d", y, m, d);
    } else {
        memcpy(to, from, sizeof(to));
    }

    adb = cp_audit_open(&ctl->home, 0);
    if (adb == NULL) {
        return CP_EXIT_REFUSED;
    }
    memset(&rep, 0, sizeof(rep));
    if (report_load(adb, from, to, env, &rep) != 0) {
        cp_err("report: audit.db: %s", sqlite3_errmsg(adb));
        report_free(&rep);
        sqlite3_close(adb);
        return CP_EXIT_REFUSED;
    }
    switch (fmt) {
    case FMT_JSON:
        print_json(&rep, period, from, to, env);
        break;
    case FMT_CSV:
        print_csv(&rep);
        break;
    default:
        print_table(&rep, period, from, to, env);
    }
    report_free(&rep);
    sqlite3_close(adb);
    return CP_EXIT_OK;
}

int
cmd_report(ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "daily") == 0
                      || strcmp(argv[1], "monthly") == 0))
    {
        return report_run(ctl, argc, argv);
    }
    return ctl_usage(ctl_find("report"));
}
