/*
 * Daily summaries of the audit log.  A batch of records is first counted
 * in memory by group (city day, environment, consumer org, provider org,
 * service, version), then each group is added to audit.db with one upsert
 * per table row: a batch of 2,000 calls costs a handful of statements.
 */

#include <stdlib.h>
#include <string.h>

#include "cp_audit_summary.h"
#include "cp_store.h"
#include "cp_time.h"

#define SUM_REASONS   24          /* distinct reasons kept per group */
#define SUM_INDEX     4096        /* hash slots; a batch has <= 2,000 groups */

typedef struct {
    char     day[16];
    char     environment[16];
    char     consumer_org[LGSP_AUDIT_ORG + 1];
    char     provider_org[LGSP_AUDIT_ORG + 1];
    char     service[LGSP_AUDIT_SERVICE + 1];
    char     version[LGSP_AUDIT_VERSION + 1];
    int64_t  calls, successes, failures, denials;
    int64_t  bytes_in, bytes_out, duration_us, max_duration_us;
    int      nreasons;
    char     reason[SUM_REASONS][LGSP_AUDIT_REASON + 1];
    int64_t  reason_count[SUM_REASONS];
    int64_t  hist[CP_LAT_BUCKETS];
} sum_group_t;

struct cp_summary_s {
    sum_group_t  *groups;
    size_t        ngroups, cap;
    int32_t       index[SUM_INDEX];     /* group + 1; 0 free */
};

/* 2^(k/4), k = 0..3 */
static const double quarter[4] = {
    1.0, 1.18920711500272106672, 1.41421356237309504880,
    1.68179283050742908606
};

int64_t
cp_latency_bound(int b)
{
    if (b < 0) {
        return 0;
    }
    if (b >= CP_LAT_BUCKETS - 1) {
        return INT64_MAX;
    }
    return (int64_t) (1000.0 * (double) (1ULL << (b / 4)) * quarter[b % 4]
                      + 0.5);
}

int
cp_latency_bucket(int64_t us)
{
    int lo = 0, hi = CP_LAT_BUCKETS - 1;

    /* the first bucket whose bound is >= us */
    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (us <= cp_latency_bound(mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

int64_t
cp_latency_percentile(const int64_t hist[CP_LAT_BUCKETS], int64_t max_us,
                      double q)
{
    int64_t total = 0, rank, seen = 0;

    for (int b = 0; b < CP_LAT_BUCKETS; b++) {
        total += hist[b];
    }
    if (total == 0) {
        return 0;
    }
    /* nearest rank: the ceil(q * total)-th smallest */
    rank = (int64_t) (q * (double) total);
    if ((double) rank < q * (double) total) {
        rank++;
    }
    if (rank < 1) {
        rank = 1;
    }
    for (int b = 0; b < CP_LAT_BUCKETS; b++) {
        seen += hist[b];
        if (seen >= rank) {
            int64_t bound = cp_latency_bound(b);

            return bound < max_us ? bound : max_us;
        }
    }
    return max_us;
}

cp_summary_t *
cp_summary_new(void)
{
    return calloc(1, sizeof(cp_summary_t));
}

void
cp_summary_free(cp_summary_t *s)
{
    if (s != NULL) {
        free(s->groups);
        free(s);
    }
}

void
cp_summary_reset(cp_summary_t *s)
{
    s->ngroups = 0;
    memset(s->index, 0, sizeof(s->index));
}

static void
copy_text(char *dst, size_t size, const cp_audit_val_t *v)
{
    size_t n = v->len < size - 1 ? v->len : size - 1;

    if (n > 0) {
        memcpy(dst, v->s, n);
    }
    dst[n] = '\0';
}

static uint32_t
fnv(uint32_t h, const char *s)
{
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 16777619u;
    }
    return (h ^ 0xff) * 16777619u;     /* a separator between the fields */
}

static int
same_group(const sum_group_t *a, const sum_group_t *b)
{
    return strcmp(a->day, b->day) == 0
           && strcmp(a->environment, b->environment) == 0
           && strcmp(a->consumer_org, b->consumer_org) == 0
           && strcmp(a->provider_org, b->provider_org) == 0
           && strcmp(a->service, b->service) == 0
           && strcmp(a->version, b->version) == 0;
}

static sum_group_t *
find_group(cp_summary_t *s, const sum_group_t *key)
{
    uint32_t      h = 2166136261u;
    size_t        slot;
    sum_group_t  *g;

    h = fnv(h, key->day);
    h = fnv(h, key->environment);
    h = fnv(h, key->consumer_org);
    h = fnv(h, key->provider_org);
    h = fnv(h, key->service);
    h = fnv(h, key->version);

    for (slot = h % SUM_INDEX; s->index[slot] != 0;
         slot = (slot + 1) % SUM_INDEX)
    {
        g = &s->groups[s->index[slot] - 1];
        if (same_group(g, key)) {
            return g;
        }
    }
    if (s->ngroups >= SUM_INDEX / 2) {
        return NULL;                  /* the caller flushes first */
    }
    if (s->ngroups == s->cap) {
        size_t        cap = s->cap ? s->cap * 2 : 16;
        sum_group_t  *more = realloc(s->groups, cap * sizeof(sum_group_t));

        if (more == NULL) {
            return NULL;
        }
        s->groups = more;
        s->cap = cap;
    }
    g = &s->groups[s->ngroups++];
    memset(g, 0, sizeof(*g));
    memcpy(g->day, key->day, sizeof(g->day));
    memcpy(g->environment, key->environment, sizeof(g->environment));
    memcpy(g->consumer_org, key->consumer_org, sizeof(g->consumer_org));
    memcpy(g->provider_org, key->provider_org, sizeof(g->provider_org));
    memcpy(g->service, key->service, sizeof(g->service));
    memcpy(g->version, key->version, sizeof(g->version));
    s->index[slot] = (int32_t) s->ngroups;
    return g;
}

int
cp_summary_add(cp_summary_t *s, const cp_audit_row_t row)
{
    static sum_group_t  key;         /* large: kept off the stack */
    sum_group_t        *g;
    char                reason[LGSP_AUDIT_REASON + 1];
    int64_t             start_ms = row[CP_AC_START_MS].i;
    int64_t             d = row[CP_AC_DURATION_US].i;
    int                 i;

    memset(&key, 0, sizeof(key));
    cp_date_format(start_ms >= 0 ? start_ms / 1000
                                 : (start_ms - 999) / 1000,
                   key.day, sizeof(key.day));
    copy_text(key.environment, sizeof(key.environment),
              &row[CP_AC_ENVIRONMENT]);
    copy_text(key.consumer_org, sizeof(key.consumer_org),
              &row[CP_AC_CONSUMER_ORG]);
    copy_text(key.provider_org, sizeof(key.provider_org),
              &row[CP_AC_PROVIDER_ORG]);
    copy_text(key.service, sizeof(key.service), &row[CP_AC_SERVICE]);
    copy_text(key.version, sizeof(key.version), &row[CP_AC_VERSION]);

    g = find_group(s, &key);
    if (g == NULL) {
        return -1;
    }

    g->calls++;
    if (row[CP_AC_RESULT].len == 2 && memcmp(row[CP_AC_RESULT].s, "00", 2)
                                      == 0)
    {
        g->successes++;
    } else {
        g->failures++;
    }
    g->bytes_in += row[CP_AC_BYTES_IN].i;
    g->bytes_out += row[CP_AC_BYTES_OUT].i;
    if (d < 0) {
        d = 0;
    }
    g->duration_us += d;
    if (d > g->max_duration_us) {
        g->max_duration_us = d;
    }
    g->hist[cp_latency_bucket(d)]++;

    if (row[CP_AC_REASON].len == 0) {
        return 0;
    }
    g->denials++;
    copy_text(reason, sizeof(reason), &row[CP_AC_REASON]);
    for (i = 0; i < g->nreasons; i++) {
        if (strcmp(g->reason[i], reason) == 0) {
            break;
        }
    }
    if (i == g->nreasons) {
        if (g->nreasons == SUM_REASONS) {
            /* more distinct reasons than the product has: the last slot
             * takes the rest */
            i = SUM_REASONS - 1;
            memcpy(g->reason[i], "other", sizeof("other"));
        } else {
            memcpy(g->reason[i], reason, sizeof(reason));
            g->nreasons++;
        }
    }
    g->reason_count[i]++;
    return 0;
}

static void
bind_group(sqlite3_stmt *st, const sum_group_t *g)
{
    sqlite3_bind_text(st, 1, g->day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, g->environment, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, g->consumer_org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, g->provider_org, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, g->service, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, g->version, -1, SQLITE_STATIC);
}

#define GROUP_KEY "day, environment, consumer_org, provider_org, service," \
                  " version"

int
cp_summary_flush(cp_summary_t *s, sqlite3 *db)
{
    sqlite3_stmt  *day = NULL, *rsn = NULL, *lat = NULL;
    int            rc = -1;

    if (s->ngroups == 0) {
        return 0;
    }

    day = cp_db_prepare(db,
        "INSERT INTO audit_daily (" GROUP_KEY ", calls, successes, failures,"
        " denials, bytes_in, bytes_out, duration_us, max_duration_us)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
        " ?14) ON CONFLICT (" GROUP_KEY ") DO UPDATE SET"
        " calls = calls + ?7, successes = successes + ?8,"
        " failures = failures + ?9, denials = denials + ?10,"
        " bytes_in = bytes_in + ?11, bytes_out = bytes_out + ?12,"
        " duration_us = duration_us + ?13,"
        " max_duration_us = max(max_duration_us, ?14)");
    rsn = cp_db_prepare(db,
        "INSERT INTO audit_daily_reasons (" GROUP_KEY ", reason, count)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        " ON CONFLICT (" GROUP_KEY ", reason) DO UPDATE SET"
        " count = count + ?8");
    lat = cp_db_prepare(db,
        "INSERT INTO audit_daily_latency (" GROUP_KEY ", bucket, count)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        " ON CONFLICT (" GROUP_KEY ", bucket) DO UPDATE SET"
        " count = count + ?8");
    if (day == NULL || rsn == NULL || lat == NULL) {
        goto done;
    }

    for (size_t i = 0; i < s->ngroups; i++) {
        const sum_group_t *g = &s->groups[i];

        sqlite3_reset(day);
        bind_group(day, g);
        sqlite3_bind_int64(day, 7, g->calls);
        sqlite3_bind_int64(day, 8, g->successes);
        sqlite3_bind_int64(day, 9, g->failures);
        sqlite3_bind_int64(day, 10, g->denials);
        sqlite3_bind_int64(day, 11, g->bytes_in);
        sqlite3_bind_int64(day, 12, g->bytes_out);
        sqlite3_bind_int64(day, 13, g->duration_us);
        sqlite3_bind_int64(day, 14, g->max_duration_us);
        if (sqlite3_step(day) != SQLITE_DONE) {
            goto done;
        }
        for (int r = 0; r < g->nreasons; r++) {
            sqlite3_reset(rsn);
            bind_group(rsn, g);
            sqlite3_bind_text(rsn, 7, g->reason[r], -1, SQLITE_STATIC);
            sqlite3_bind_int64(rsn, 8, g->reason_count[r]);
            if (sqlite3_step(rsn) != SQLITE_DONE) {
                goto done;
            }
        }
        for (int b = 0; b < CP_LAT_BUCKETS; b++) {
            if (g->hist[b] == 0) {
                continue;
            }
            sqlite3_reset(lat);
            bind_group(lat, g);
            sqlite3_bind_int(lat, 7, b);
            sqlite3_bind_int64(lat, 8, g->hist[b]);
            if (sqlite3_step(lat) != SQLITE_DONE) {
                goto done;
            }
        }
    }
    rc = 0;

done:
    sqlite3_finalize(day);
    sqlite3_finalize(rsn);
    sqlite3_finalize(lat);
    cp_summary_reset(s);
    return rc;
}
