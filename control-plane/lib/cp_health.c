/*
 * Connection status logic shared by lgspd (which polls), lgspctl (which
 * shows) and the snapshot compiler (which flags what is down).
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>
#include <cjson/cJSON.h>

#include "cp_health.h"
#include "cp_store.h"
#include "health_migrations.h"

/* packed blob: format byte, raw length (LE u32), deflate stream */
#define PACK_FORMAT      1
#define PACK_HEAD        5
#define RAW_RECORD       10   /* delta u32, http u16, result, reason, lat u16 */
#define MINUTE_RECORD    6    /* checks, failures, avg u16, max u16 */

static const char *const state_names[] = {
    "unknown", "up", "degraded", "down"
};

static const char *const reason_names[CP_HR_MAX] = {
    "ok", "http_status", "timeout", "connect", "dns", "tls", "redirects",
    "bad_body", "reported_degraded", "reported_down", "error"
};

const char *
cp_health_state_name(int state)
{
    return state >= 0 && state <= CP_HEALTH_DOWN ? state_names[state] : "?";
}

int
cp_health_state_parse(const char *name)
{
    for (int i = 0; i <= CP_HEALTH_DOWN; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *
cp_health_reason_name(int reason)
{
    return reason >= 0 && reason < CP_HR_MAX ? reason_names[reason] : "?";
}

/*
 * The shape agencies answer (docs/integration-guide.md, "Connection
 * status"): {"status": "up"|"degraded"|"down", "checks": {...}}.  The
 * words of the common health formats are taken too (IETF draft
 * "pass/warn/fail", Spring's "UP/DOWN", the LGSP envelope's "00/01").
 */
int
cp_health_classify(long http_status, const char *body, size_t len,
                   int truncated, int *reason)
{
    static const struct {
        const char *word;
        int         result;
    } words[] = {
        { "up", CP_HEALTH_UP }, { "ok", CP_HEALTH_UP },
        { "pass", CP_HEALTH_UP }, { "00", CP_HEALTH_UP },
        { "degraded", CP_HEALTH_DEGRADED }, { "warn", CP_HEALTH_DEGRADED },
        { "down", CP_HEALTH_DOWN }, { "fail", CP_HEALTH_DOWN },
        { "01", CP_HEALTH_DOWN },
    };
    cJSON      *doc, *st;
    size_t      i;
    int         result = -1;

    if (http_status < 200 || http_status > 299) {
        *reason = CP_HR_HTTP;
        return CP_HEALTH_DOWN;
    }
    /* the endpoint answers, but not in the agreed shape: reachable (no
     * incident, no fail-fast 503), yet not vouching for itself either */
    if (truncated) {
        *reason = CP_HR_BODY;
        return CP_HEALTH_DEGRADED;
    }
    for (i = 0; i < len && isspace((unsigned char) body[i]); i++) {
        /* a level-1 URL may answer 204 or an empty 200 */
    }
    if (i == len) {
        *reason = CP_HR_OK;
        return CP_HEALTH_UP;
    }

    doc = cJSON_ParseWithLength(body, len);
    st = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "status")
                             : NULL;
    if (cJSON_IsString(st)) {
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
            if (strcasecmp(st->valuestring, words[i].word) == 0) {
                result = words[i].result;
                break;
            }
        }
    }
    cJSON_Delete(doc);

    switch (result) {
    case CP_HEALTH_UP:
        *reason = CP_HR_OK;
        return CP_HEALTH_UP;
    case CP_HEALTH_DEGRADED:
        *reason = CP_HR_REPORTED_DEGRADED;
        return CP_HEALTH_DEGRADED;
    case CP_HEALTH_DOWN:
        *reason = CP_HR_REPORTED_DOWN;
        return CP_HEALTH_DOWN;
    default:
        *reason = CP_HR_BODY;
        return CP_HEALTH_DEGRADED;
    }
}

void
cp_health_sm_feed(cp_health_sm_t *sm, int result, int64_t now_ms,
                  int fail_threshold, int ok_threshold,
                  cp_health_step_t *step)
{
    int to = sm->state;

    memset(step, 0, sizeof(*step));
    step->from = sm->state;

    if (result == CP_HEALTH_DOWN) {
        sm->oks = 0;
        if (sm->fails < 1000000) {
            sm->fails++;
        }
        if (sm->fails >= fail_threshold) {
            to = CP_HEALTH_DOWN;
        }
    } else {
        sm->fails = 0;
        if (sm->oks < 1000000) {
            sm->oks++;
        }
        if (sm->state != CP_HEALTH_DOWN || sm->oks >= ok_threshold) {
            to = result;
        }
    }

    step->to = to;
    if (to != sm->state) {
        step->changed = 1;
        step->incident_open = (to == CP_HEALTH_DOWN);
        step->incident_close = (sm->state == CP_HEALTH_DOWN);
        sm->state = to;
        sm->since_ms = now_ms;
    }
}

int64_t
cp_health_hour_of(int64_t t_ms)
{
    return t_ms - (t_ms % CP_HEALTH_HOUR_MS + CP_HEALTH_HOUR_MS)
                  % CP_HEALTH_HOUR_MS;
}

void
cp_health_hour_init(cp_health_hour_t *h, int64_t hour_ms)
{
    free(h->samples);
    memset(h, 0, sizeof(*h));
    h->hour_ms = hour_ms;
}

void
cp_health_hour_free(cp_health_hour_t *h)
{
    free(h->samples);
    memset(h, 0, sizeof(*h));
}

int
cp_health_hour_add(cp_health_hour_t *h, const cp_health_sample_t *s)
{
    cp_health_minute_t *m;
    int64_t             off = s->at_ms - h->hour_ms;

    if (off < 0 || off >= CP_HEALTH_HOUR_MS) {
        return -1;
    }
    m = &h->minutes[off / CP_HEALTH_MINUTE_MS];
    m->checks++;
    if (s->result == CP_HEALTH_DOWN) {
        m->failures++;
    }
    m->latency_sum += s->latency_ms;
    if (s->latency_ms > m->latency_max) {
        m->latency_max = s->latency_ms;
    }

    /* samples arrive in time order; one that does not (a clock step)
     * would break the deltas of the packed form: keep it in the minutes
     * only */
    if (h->n > 0 && s->at_ms < h->samples[h->n - 1].at_ms) {
        h->dropped++;
        return 0;
    }
    if (h->n == h->cap) {
        size_t              cap = h->cap ? h->cap * 2 : 64;
        cp_health_sample_t *ns;

        if (h->n >= CP_HEALTH_HOUR_SAMPLES) {
            h->dropped++;
            return 0;
        }
        if (cap > CP_HEALTH_HOUR_SAMPLES) {
            cap = CP_HEALTH_HOUR_SAMPLES;
        }
        ns = realloc(h->samples, cap * sizeof(*ns));
        if (ns == NULL) {
            h->dropped++;
            return -1;
        }
        h->samples = ns;
        h->cap = cap;
    }
    h->samples[h->n++] = *s;
    return 0;
}

void
cp_health_minute_summary(const cp_health_minute_t *m,
                         cp_health_summary_t *out)
{
    uint64_t avg = 0;

    if (m->checks > 0) {
        avg = (m->latency_sum + m->checks / 2) / m->checks;
    }
    out->checks = m->checks > 255 ? 255 : m->checks;
    out->failures = m->failures > 255 ? 255 : m->failures;
    out->avg_ms = avg > 65535 ? 65535 : (unsigned) avg;
    out->max_ms = m->latency_max > 65535 ? 65535 : m->latency_max;
}

/* Records of `size` bytes, stored as byte planes (every record's byte 0,
 * then every byte 1, ...): latencies and deltas change little from one
 * check to the next, so each plane is long runs deflate shrinks well. */
static int
pack(const unsigned char *rows, size_t n, size_t size, unsigned char **out,
     size_t *out_len)
{
    size_t         raw_len = n * size;
    unsigned char *planes, *buf;
    uLongf         zlen;

    planes = malloc(raw_len ? raw_len : 1);
    if (planes == NULL) {
        return -1;
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t b = 0; b < size; b++) {
            planes[b * n + r] = rows[r * size + b];
        }
    }
    zlen = compressBound(raw_len);
    buf = malloc(PACK_HEAD + zlen);
    if (buf == NULL) {
        free(planes);
        return -1;
    }
    if (compress2(buf + PACK_HEAD, &zlen, planes, raw_len, 6) != Z_OK) {
        free(planes);
        free(buf);
        return -1;
    }
    free(planes);
    buf[0] = PACK_FORMAT;
    buf[1] = raw_len & 0xff;
    buf[2] = (raw_len >> 8) & 0xff;
    buf[3] = (raw_len >> 16) & 0xff;
    buf[4] = (raw_len >> 24) & 0xff;
    *out = buf;
    *out_len = PACK_HEAD + zlen;
    return 0;
}

/* The inverse of pack(): exactly n records of size bytes, or -1. */
static unsigned char *
unpack(const unsigned char *in, size_t len, size_t n, size_t size)
{
    size_t         raw_len = n * size;
    unsigned char *planes, *rows;
    uLongf         got = raw_len;

    if (len < PACK_HEAD || in[0] != PACK_FORMAT
        || n > CP_HEALTH_HOUR_SAMPLES
        || (size_t) in[1] + ((size_t) in[2] << 8) + ((size_t) in[3] << 16)
               + ((size_t) in[4] << 24) != raw_len)
    {
        return NULL;
    }
    planes = malloc(raw_len ? raw_len : 1);
    rows = malloc(raw_len ? raw_len : 1);
    if (planes == NULL || rows == NULL
        || uncompress(planes, &got, in + PACK_HEAD, len - PACK_HEAD) != Z_OK
        || got != raw_len)
    {
        free(planes);
        free(rows);
        return NULL;
    }
    for (size_t r = 0; r < n; r++) {
        for (size_t b = 0; b < size; b++) {
            rows[r * size + b] = planes[b * n + r];
        }
    }
    free(planes);
    return rows;
}

static void
put16(unsigned char *p, unsigned v)
{
    p[0] = v & 0xff;
    p[1] = (v >> 8) & 0xff;
}

static void
put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

static unsigned
get16(const unsigned char *p)
{
    return p[0] | ((unsigned) p[1] << 8);
}

static uint32_t
get32(const unsigned char *p)
{
    return get16(p) | ((uint32_t) get16(p + 2) << 16);
}

int
cp_health_pack_raw(const cp_health_hour_t *h, unsigned char **out,
                   size_t *out_len)
{
    unsigned char *rows = malloc(h->n ? h->n * RAW_RECORD : 1);
    int64_t        prev = h->hour_ms;
    int            rc;

    if (rows == NULL) {
        return -1;
    }
    for (size_t i = 0; i < h->n; i++) {
        const cp_health_sample_t *s = &h->samples[i];
        unsigned char            *p = rows + i * RAW_RECORD;

        put32(p, (uint32_t) (s->at_ms - prev));
        put16(p + 4, s->http);
        p[6] = s->result;
        p[7] = s->reason;
        put16(p + 8, s->latency_ms > 65535 ? 65535 : s->latency_ms);
        prev = s->at_ms;
    }
    rc = pack(rows, h->n, RAW_RECORD, out, out_len);
    free(rows);
    return rc;
}

int
cp_health_unpack_raw(const void *data, size_t len, int n,
                     cp_health_hour_t *h)
{
    unsigned char *rows;
    int64_t        at = h->hour_ms;

    if (n < 0 || (rows = unpack(data, len, (size_t) n, RAW_RECORD)) == NULL) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const unsigned char *p = rows + (size_t) i * RAW_RECORD;
        cp_health_sample_t   s;

        at += get32(p);
        s.at_ms = at;
        s.http = (uint16_t) get16(p + 4);
        s.result = p[6];
        s.reason = p[7];
        s.latency_ms = get16(p + 8);
        if (s.result > CP_HEALTH_DOWN || s.reason >= CP_HR_MAX
            || cp_health_hour_add(h, &s) != 0)
        {
            free(rows);
            return -1;
        }
    }
    free(rows);
    return 0;
}

int
cp_health_pack_summaries(const cp_health_summary_t *m, int n,
                         unsigned char **out, size_t *out_len)
{
    unsigned char rows[CP_HEALTH_DAY_MINUTES * MINUTE_RECORD];

    if (n < 0 || n > CP_HEALTH_DAY_MINUTES) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        unsigned char *p = rows + i * MINUTE_RECORD;

        p[0] = (unsigned char) m[i].checks;
        p[1] = (unsigned char) m[i].failures;
        put16(p + 2, m[i].avg_ms);
        put16(p + 4, m[i].max_ms);
    }
    return pack(rows, (size_t) n, MINUTE_RECORD, out, out_len);
}

int
cp_health_pack_minutes(const cp_health_hour_t *h, unsigned char **out,
                       size_t *out_len)
{
    cp_health_summary_t s[60];

    for (int i = 0; i < 60; i++) {
        cp_health_minute_summary(&h->minutes[i], &s[i]);
    }
    return cp_health_pack_summaries(s, 60, out, out_len);
}

int
cp_health_unpack_minutes(const void *data, size_t len,
                         cp_health_summary_t out[60])
{
    return cp_health_unpack_summaries(data, len, 60, out);
}

int
cp_health_unpack_summaries(const void *data, size_t len, int n,
                           cp_health_summary_t *out)
{
    unsigned char *rows;

    if (n < 0 || n > CP_HEALTH_DAY_MINUTES
        || (rows = unpack(data, len, (size_t) n, MINUTE_RECORD)) == NULL)
    {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const unsigned char *p = rows + i * MINUTE_RECORD;

        out[i].checks = p[0];
        out[i].failures = p[1];
        out[i].avg_ms = get16(p + 2);
        out[i].max_ms = get16(p + 4);
    }
    free(rows);
    return 0;
}

int
cp_health_latest(void)
{
    return (int) HEALTH_MIGRATIONS_N;
}

/* SQLite's message lives in the handle, which a failed open closes: the
 * caller gets a copy that outlives it */
static const char *
health_why(sqlite3 *db, const char *why)
{
    static char  msg[256];

    snprintf(msg, sizeof(msg), "%s", db ? why : "out of memory");
    sqlite3_close(db);
    return msg;
}

sqlite3 *
cp_health_open(const char *path, int create, const char **why)
{
    sqlite3 *db;

    /* 16 KB pages hold six day rows of summaries where 4 KB pages hold
     * one and waste the rest; the size can only be chosen before the
     * file switches to WAL, so a new file is made here first (an empty
     * file is a new database to SQLite: owner-only from the start) */
    if (create && access(path, F_OK) != 0) {
        if (cp_db_private(path) != 0) {
            *why = strerror(errno);
            return NULL;
        }
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE
                                       | SQLITE_OPEN_CREATE, NULL)
                != SQLITE_OK
            || sqlite3_exec(db, "PRAGMA page_size = 16384;"
                                " PRAGMA journal_mode = WAL;",
                            NULL, NULL, NULL) != SQLITE_OK)
        {
            *why = health_why(db, sqlite3_errmsg(db));
            return NULL;
        }
        sqlite3_close(db);
    }
    db = cp_db_open(path, create);

    if (db == NULL) {
        *why = "cannot open";
        return NULL;
    }
    if (cp_db_migrate_list(db, health_migrations, cp_health_latest(), why)
        != 0)
    {
        *why = health_why(db, *why);
        return NULL;
    }
    return db;
}

static int
store_blob(sqlite3 *hdb, const char *sql, int64_t target_id, int64_t hour,
           int n, const unsigned char *blob, size_t len)
{
    sqlite3_stmt *st;
    int           rc;

    if (sqlite3_prepare_v2(hdb, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, target_id);
    sqlite3_bind_int64(st, 2, hour);
    sqlite3_bind_int(st, 3, n);
    sqlite3_bind_blob(st, 4, blob, (int) len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
cp_health_store_hour(sqlite3 *hdb, int64_t target_id,
                     const cp_health_hour_t *h)
{
    unsigned char *blob;
    size_t         len;
    int            rc;

    if (cp_health_pack_raw(h, &blob, &len) != 0) {
        return -1;
    }
    rc = store_blob(hdb, "INSERT OR REPLACE INTO raw_hours"
                         " (target_id, hour_ms, n, data)"
                         " VALUES (?1, ?2, ?3, ?4)",
                    target_id, h->hour_ms, (int) h->n, blob, len);
    free(blob);
    if (rc != 0 || cp_health_pack_minutes(h, &blob, &len) != 0) {
        return -1;
    }
    rc = store_blob(hdb, "INSERT OR REPLACE INTO minute_hours"
                         " (target_id, hour_ms, n, data)"
                         " VALUES (?1, ?2, 60, ?4)",
                    target_id, h->hour_ms, 60, blob, len);
    free(blob);
    return rc;
}

static int delete_with(sqlite3 *hdb, const char *sql, int64_t a, int64_t b);

static int
delete_day(sqlite3 *hdb, int64_t target, int64_t day)
{
    return delete_with(hdb, "DELETE FROM minute_hours WHERE target_id = ?2"
                            " AND hour_ms >= ?1 AND hour_ms < ?1 + 86400000",
                       day, target) < 0 ? -1 : 0;
}

/* Run a DELETE with ?1 = cutoff (and ?2 = a limit or target id); rows
 * changed or -1. */
static int
delete_with(sqlite3 *hdb, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st;
    int           rc;

    if (sqlite3_prepare_v2(hdb, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(hdb) : -1;
}

/*
 * Fold a target's finished days of hour rows (n = 60) into one row per
 * UTC day (n = 1440, keyed by the day's start): one deflate stream over
 * a day costs about half of 24 over its hours.  Only days before today,
 * so lgspd never writes an hour of a day already folded.
 */
static int
compact_days(sqlite3 *hdb, int64_t target, int64_t now_ms)
{
    cp_health_summary_t *day = NULL, part[60];
    sqlite3_stmt        *st;
    int64_t              today = now_ms - now_ms % CP_HEALTH_DAY_MS, cur = -1;
    unsigned char       *blob = NULL;
    size_t               len;
    int                  rc = 0, step;
    int64_t              first;

    st = cp_db_prepare(hdb, "SELECT min(hour_ms) FROM minute_hours"
                            " WHERE target_id = ?1 AND n = 60"
                            " AND hour_ms < ?2");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, target);
    sqlite3_bind_int64(st, 2, today);
    step = sqlite3_step(st);
    if (step != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
        sqlite3_finalize(st);
        return step == SQLITE_ROW ? 0 : -1;
    }
    first = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);

    st = cp_db_prepare(hdb, "SELECT hour_ms, n, data FROM minute_hours"
                            " WHERE target_id = ?1 AND hour_ms >= ?2"
                            " AND hour_ms < ?3 ORDER BY hour_ms");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, target);
    sqlite3_bind_int64(st, 2, first - first % CP_HEALTH_DAY_MS);
    sqlite3_bind_int64(st, 3, today);
    day = calloc(CP_HEALTH_DAY_MINUTES, sizeof(*day));
    if (day == NULL) {
        sqlite3_finalize(st);
        return -1;
    }
    for (;;) {
        int64_t hour = 0, d = -2;
        int     n = 0;

        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            hour = sqlite3_column_int64(st, 0);
            n = sqlite3_column_int(st, 1);
            d = hour - hour % CP_HEALTH_DAY_MS;
        }
        if (d != cur && cur >= 0) {
            /* the day's rows are all read: replace them with one */
            if (cp_health_pack_summaries(day, CP_HEALTH_DAY_MINUTES, &blob,
                                         &len) != 0
                || delete_day(hdb, target, cur) != 0
                || store_blob(hdb, "INSERT INTO minute_hours (target_id,"
                                   " hour_ms, n, data)"
                                   " VALUES (?1, ?2, ?3, ?4)",
                              target, cur, CP_HEALTH_DAY_MINUTES, blob, len)
                   != 0)
            {
                rc = -1;
            }
            free(blob);
            blob = NULL;
            memset(day, 0, CP_HEALTH_DAY_MINUTES * sizeof(*day));
        }
        if (step != SQLITE_ROW || rc != 0) {
            break;
        }
        cur = d;
        if (n == CP_HEALTH_DAY_MINUTES) {
            /* a day folded before, and an hour written after it */
            cp_health_unpack_summaries(sqlite3_column_blob(st, 2),
                                       (size_t) sqlite3_column_bytes(st, 2),
                                       n, day);
        } else if (n == 60
                   && cp_health_unpack_minutes(sqlite3_column_blob(st, 2),
                          (size_t) sqlite3_column_bytes(st, 2), part) == 0)
        {
            int off = (int) ((hour - d) / CP_HEALTH_MINUTE_MS);

            for (int i = 0; i < 60; i++) {
                if (part[i].checks > 0) {
                    day[off + i] = part[i];
                }
            }
        }
    }
    sqlite3_finalize(st);
    free(day);
    return rc;
}

int
cp_health_prune(sqlite3 *hdb, int64_t now_ms, int raw_days,
                int summary_days, int64_t *cursor, int batch)
{
    int64_t       raw_cut = now_ms - (int64_t) raw_days * CP_HEALTH_DAY_MS;
    int64_t       sum_cut = now_ms - (int64_t) summary_days * CP_HEALTH_DAY_MS;
    int64_t       ids[256];
    int           n = 0, total = 0, rc;
    sqlite3_stmt *st;

    if (batch > 256) {
        batch = 256;
    }
    /* hour rows are keyed by target first: delete target by target, each
     * a short range of the primary key, never a scan of the table */
    if (sqlite3_prepare_v2(hdb, "SELECT id FROM targets WHERE id > ?1"
                                " ORDER BY id LIMIT ?2", -1, &st, NULL)
        != SQLITE_OK)
    {
        return -1;
    }
    sqlite3_bind_int64(st, 1, *cursor);
    sqlite3_bind_int(st, 2, batch);
    while (n < batch && sqlite3_step(st) == SQLITE_ROW) {
        ids[n++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    *cursor = n < batch ? 0 : ids[n - 1];

    if (cp_db_begin(hdb) != 0) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        /* an hour row goes once all of its hour is past the cutoff */
        rc = delete_with(hdb, "DELETE FROM raw_hours WHERE target_id = ?2"
                              " AND hour_ms + 3600000 <= ?1",
                         raw_cut, ids[i]);
        if (rc < 0) {
            goto failed;
        }
        total += rc;
        rc = delete_with(hdb, "DELETE FROM minute_hours WHERE target_id = ?2"
                              " AND hour_ms + n * 60000 <= ?1",
                         sum_cut, ids[i]);
        if (rc < 0 || compact_days(hdb, ids[i], now_ms) != 0) {
            goto failed;
        }
        total += rc;
    }

    static const char *const by_age[] = {
        "DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes"
        " WHERE at_ms < ?1 ORDER BY at_ms LIMIT ?2)",
        "DELETE FROM notifications WHERE id IN (SELECT n.id"
        " FROM notifications n JOIN incidents i ON i.id = n.incident_id"
        " WHERE i.closed_ms < ?1 AND n.state != 'pending' LIMIT ?2)",
        "DELETE FROM incidents WHERE id IN (SELECT i.id FROM incidents i"
        " WHERE i.closed_ms < ?1 AND NOT EXISTS (SELECT 1 FROM notifications"
        " n WHERE n.incident_id = i.id) LIMIT ?2)",
    };
    for (size_t i = 0; i < sizeof(by_age) / sizeof(by_age[0]); i++) {
        rc = delete_with(hdb, by_age[i], sum_cut, batch);
        if (rc < 0) {
            goto failed;
        }
        total += rc;
    }
    if (cp_db_commit(hdb) != 0) {
        goto failed;
    }
    return total;

failed:
    cp_db_rollback(hdb);
    return -1;
}

int
cp_health_each_down(sqlite3 *hdb, cp_health_down_pt fn, void *arg)
{
    sqlite3_stmt *st;
    int           n = 0, rc;

    if (sqlite3_prepare_v2(hdb, "SELECT kind, ref_id FROM targets"
                                " WHERE state = 'down' AND active = 1",
                           -1, &st, NULL) != SQLITE_OK)
    {
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *kind = (const char *) sqlite3_column_text(st, 0);

        fn(arg, strcmp(kind, "system") == 0 ? CP_HEALTH_KIND_SYSTEM
                                            : CP_HEALTH_KIND_VERSION,
           sqlite3_column_int64(st, 1));
        n++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? n : -1;
}

int
cp_health_state(sqlite3 *hdb, int kind, int64_t ref_id)
{
    sqlite3_stmt *st;
    int           state = CP_HEALTH_UNKNOWN, rc;

    if (sqlite3_prepare_v2(hdb, "SELECT state FROM targets"
                                " WHERE kind = ?1 AND ref_id = ?2",
                           -1, &st, NULL) != SQLITE_OK)
    {
        return -1;
    }
    sqlite3_bind_text(st, 1, kind == CP_HEALTH_KIND_SYSTEM ? "system"
                                                           : "version",
                      -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ref_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        state = cp_health_state_parse((const char *) sqlite3_column_text(st, 0));
    } else if (rc != SQLITE_DONE) {
        state = -1;
    }
    sqlite3_finalize(st);
    return state;
}
