/*
 * lgspctl audit list|export|seal|verify: the audit log (SPEC §9).
 * list and export read the archive files, then audit.db.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_registry.h"
#include "cp_audit.h"
#include "cp_audit_seal.h"
#include "cp_audit_archive.h"
#include "cp_store.h"
#include "cp_text.h"
#include "cp_time.h"
#include "cp_util.h"
#include "lgsp_spool.h"


typedef struct {
    int          has_since, has_until;
    int64_t      since, until;           /* UTC ms, inclusive */
    const char  *consumer, *provider, *service, *version, *result;
    const char  *txn, *request_id;
    int64_t      limit;                  /* 0: none */
} audit_filter_t;

typedef enum { OUT_TABLE, OUT_JSON, OUT_CSV } out_format_t;

typedef struct {
    out_format_t     format;
    const audit_filter_t *f;
    int64_t          n;
    int              stop;
} out_t;

/* ---------------------------------------------------------------- time */

static void
format_time(int64_t ms, int local, char *out, size_t size)
{
    time_t    t = (time_t) (ms / 1000 + (local ? CP_CITY_OFFSET : 0));
    struct tm tm;
    char      base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%03d%s", base, (int) (ms % 1000),
             local ? "+07:00" : "Z");
}

/* -------------------------------------------------------------- filter */

static int
text_is(const cp_audit_val_t *v, const char *want)
{
    return strlen(want) == v->len && memcmp(v->s, want, v->len) == 0;
}

static int
filter_match(const audit_filter_t *f, const cp_audit_row_t row)
{
    int64_t start = row[CP_AC_START_MS].i;

    return (!f->has_since || start >= f->since)
        && (!f->has_until || start <= f->until)
        && (f->consumer == NULL || text_is(&row[CP_AC_CONSUMER_ORG], f->consumer)
            || text_is(&row[CP_AC_CONSUMER_SYSTEM], f->consumer))
        && (f->provider == NULL || text_is(&row[CP_AC_PROVIDER_ORG], f->provider)
            || text_is(&row[CP_AC_PROVIDER_SYSTEM], f->provider))
        && (f->service == NULL || text_is(&row[CP_AC_SERVICE], f->service))
        && (f->version == NULL || text_is(&row[CP_AC_VERSION], f->version))
        && (f->result == NULL || text_is(&row[CP_AC_RESULT], f->result))
        && (f->txn == NULL || text_is(&row[CP_AC_TXN_ID], f->txn))
        && (f->request_id == NULL
            || text_is(&row[CP_AC_REQUEST_ID], f->request_id));
}

/* -------------------------------------------------------------- output */

/* texts are printable ASCII (the spool writer makes them so); quotes and
 * backslashes are all JSON needs escaped; CSV gets cp_csv_write, which
 * also keeps a request id like "-2+3" from running as a formula */
static void
put_json_text(const cp_audit_val_t *v)
{
    putchar('"');
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char) v->s[i];

        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar(c);
        } else if (c < 0x20 || c >= 0x7f) {
            printf("\\u%04x", c);
        } else {
            putchar(c);
        }
    }
    putchar('"');
}

static void
out_begin(out_t *o)
{
    if (o->format == OUT_JSON) {
        putchar('[');
    } else if (o->format == OUT_CSV) {
        for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
            printf("%s,", cp_audit_cols[c].name);
            if (c == CP_AC_START_MS) {
                printf("start_time,");
            }
        }
        printf("hash\r\n");
    } else {
        printf("%-29s %-32s %-20s %-24s %-10s %-6s %4s %-3s %-16s %9s\n",
               "START (UTC+7)", "TRANSACTION", "CONSUMER",
               "SERVICE/VERSION", "ENV", "METHOD", "HTTP", "RES", "REASON",
               "MS");
    }
}

static void
out_end(out_t *o)
{
    if (o->format == OUT_JSON) {
        printf("]\n");
    }
}

static int
out_row(void *ctx, const cp_audit_row_t row,
        const unsigned char hash[CP_AUDIT_HASH_LEN])
{
    out_t *o = ctx;
    char   ts[48], hex[2 * CP_AUDIT_HASH_LEN + 1];

    if (o->stop || !filter_match(o->f, row)) {
        return o->stop;
    }
    cp_hex(hash, CP_AUDIT_HASH_LEN, hex);

    switch (o->format) {
    case OUT_JSON:
        printf("%s{", o->n ? "," : "");
        for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
            printf("\"%s\":", cp_audit_cols[c].name);
            if (cp_audit_cols[c].is_text) {
                put_json_text(&row[c]);
            } else {
                printf("%lld", (long long) row[c].i);
            }
            putchar(',');
            if (c == CP_AC_START_MS) {
                format_time(row[c].i, 0, ts, sizeof(ts));
                printf("\"start_time\":\"%s\",", ts);
            }
        }
        printf("\"hash\":\"%s\"}", hex);
        break;

    case OUT_CSV:
        for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
            if (cp_audit_cols[c].is_text) {
                cp_csv_write(stdout, row[c].s, row[c].len);
            } else {
                printf("%lld", (long long) row[c].i);
            }
            putchar(',');
            if (c == CP_AC_START_MS) {
                format_time(row[c].i, 0, ts, sizeof(ts));
                printf("%s,", ts);
            }
        }
        printf("%s\r\n", hex);
        break;

    default:
        format_time(row[CP_AC_START_MS].i, 1, ts, sizeof(ts));
        printf("%-29s %-32.*s %-20.*s %.*s/%-*.*s %-10.*s %-6.*s %4lld %-3.*s"
               " %-16.*s %9.3f\n",
               ts, (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s,
               (int) row[CP_AC_CONSUMER_SYSTEM].len,
               row[CP_AC_CONSUMER_SYSTEM].s,
               (int) row[CP_AC_SERVICE].len, row[CP_AC_SERVICE].s,
               (int) (row[CP_AC_SERVICE].len < 23
                      ? 23 - row[CP_AC_SERVICE].len : 0),
               (int) row[CP_AC_VERSION].len, row[CP_AC_VERSION].s,
               (int) row[CP_AC_ENVIRONMENT].len, row[CP_AC_ENVIRONMENT].s,
               (int) row[CP_AC_METHOD].len, row[CP_AC_METHOD].s,
               (long long) row[CP_AC_STATUS].i,
               (int) row[CP_AC_RESULT].len, row[CP_AC_RESULT].s,
               (int) row[CP_AC_REASON].len, row[CP_AC_REASON].s,
               (double) row[CP_AC_DURATION_US].i / 1000.0);
    }
    o->n++;
    if (o->f->limit > 0 && o->n >= o->f->limit) {
        o->stop = 1;
    }
    return 0;
}

/* ------------------------------------------------------------- queries */

static int
query_hot(sqlite3 *adb, out_t *o)
{
    const audit_filter_t *f = o->f;
    char                  sql[2048];
    sqlite3_stmt         *st;
    int                   step, i = 1;

    /* constant fragments only; every value is bound */
    snprintf(sql, sizeof(sql), "SELECT " CP_AUDIT_COLUMNS ", hash"
             " FROM audit_records WHERE seq > (SELECT coalesce(max(last_seq),"
            " 0) FROM audit_archives)");
#define CLAUSE(cond, text)                                                 \
    if (cond) {                                                            \
        strncat(sql, text, sizeof(sql) - strlen(sql) - 1);                 \
    }
    CLAUSE(f->has_since, " AND start_ms >= ?1")
    CLAUSE(f->has_until, " AND start_ms <= ?2")
    CLAUSE(f->consumer, " AND (consumer_system = ?3 OR consumer_org = ?3)")
    CLAUSE(f->provider, " AND (provider_system = ?4 OR provider_org = ?4)")
    CLAUSE(f->service, " AND service = ?5")
    CLAUSE(f->version, " AND version = ?6")
    CLAUSE(f->result, " AND result = ?7")
    CLAUSE(f->txn, " AND transaction_id = ?8")
    CLAUSE(f->request_id, " AND request_id = ?9")
#undef CLAUSE
    strncat(sql, " ORDER BY start_ms, seq", sizeof(sql) - strlen(sql) - 1);

    st = cp_db_prepare(adb, sql);
    if (st == NULL) {
        return -1;
    }
    (void) i;
    if (f->has_since) sqlite3_bind_int64(st, 1, f->since);
    if (f->has_until) sqlite3_bind_int64(st, 2, f->until);
    if (f->consumer) sqlite3_bind_text(st, 3, f->consumer, -1, SQLITE_STATIC);
    if (f->provider) sqlite3_bind_text(st, 4, f->provider, -1, SQLITE_STATIC);
    if (f->service) sqlite3_bind_text(st, 5, f->service, -1, SQLITE_STATIC);
    if (f->version) sqlite3_bind_text(st, 6, f->version, -1, SQLITE_STATIC);
    if (f->result) sqlite3_bind_text(st, 7, f->result, -1, SQLITE_STATIC);
    if (f->txn) sqlite3_bind_text(st, 8, f->txn, -1, SQLITE_STATIC);
    if (f->request_id) {
        sqlite3_bind_text(st, 9, f->request_id, -1, SQLITE_STATIC);
    }

    while (!o->stop && (step = sqlite3_step(st)) == SQLITE_ROW) {
        cp_audit_row_t row;

        cp_audit_row_from_stmt(row, st, 0);
        if (sqlite3_column_bytes(st, CP_AUDIT_NCOLS) == CP_AUDIT_HASH_LEN) {
            out_row(o, row, sqlite3_column_blob(st, CP_AUDIT_NCOLS));
        }
    }
    sqlite3_finalize(st);
    return 0;
}

static int
audit_query(ctl_t *ctl, int argc, char **argv, int export)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' },
        { "until", required_argument, NULL, 'u' },
        { "consumer", required_argument, NULL, 'c' },
        { "provider", required_argument, NULL, 'p' },
        { "service", required_argument, NULL, 'v' },
        { "result", required_argument, NULL, 'r' },
        { "transaction", required_argument, NULL, 't' },
        { "request-id", required_argument, NULL, 'q' },
        { "limit", required_argument, NULL, 'l' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 }
    };
    audit_filter_t  f;
    out_t           o;
    sqlite3        *adb;
    char            archive[PATH_MAX + 32], *slash, *end, why[512];
    int             c, have_format = 0;
    int64_t         seq;
    unsigned char   h[CP_AUDIT_HASH_LEN];

    memset(&f, 0, sizeof(f));
    memset(&o, 0, sizeof(o));
    o.f = &f;
    o.format = ctl->json ? OUT_JSON : OUT_TABLE;
    if (!export) {
        f.limit = 1000;
    }

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'u':
            if (cp_time_parse_ms(optarg, c == 's' ? &f.since : &f.until) != 0) {
                cp_err("--%s: \"%s\" is not an ISO 8601 time",
                       c == 's' ? "since" : "until", optarg);
                return CP_EXIT_USAGE;
            }
            *(c == 's' ? &f.has_since : &f.has_until) = 1;
            break;
        case 'c': f.consumer = optarg; break;
        case 'p': f.provider = optarg; break;
        case 'v':
            f.service = optarg;
            slash = strchr(optarg, '/');
            if (slash != NULL) {
                *slash = '\0';
                f.version = slash + 1;
            }
            if (*f.service == '\0' || (slash && *f.version == '\0')) {
                cp_err("--service: expected CODE or CODE/VERSION");
                return CP_EXIT_USAGE;
            }
            break;
        case 'r':
            if (strcmp(optarg, "00") != 0 && strcmp(optarg, "01") != 0) {
                cp_err("--result: must be 00 or 01");
                return CP_EXIT_USAGE;
            }
            f.result = optarg;
            break;
        case 't': f.txn = optarg; break;
        case 'q': f.request_id = optarg; break;
        case 'l':
            errno = 0;
            f.limit = strtoll(optarg, &end, 10);
            if (errno || *end || end == optarg || f.limit < 1) {
                cp_err("--limit: must be a positive number");
                return CP_EXIT_USAGE;
            }
            break;
        case 'f':
            if (!export) {
                return ctl_usage(ctl_find("audit"));
            }
            if (strcmp(optarg, "csv") == 0) {
                o.format = OUT_CSV;
            } else if (strcmp(optarg, "json") == 0) {
                o.format = OUT_JSON;
            } else {
                cp_err("--format: must be csv or json");
                return CP_EXIT_USAGE;
            }
            have_format = 1;
            break;
        default:
            return ctl_usage(ctl_find("audit"));
        }
    }
    if (optind != argc || (export && !have_format)) {
        return ctl_usage(ctl_find("audit"));
    }
    if (f.has_since && f.has_until && f.until < f.since) {
        cp_err("--until is before --since");
        return CP_EXIT_USAGE;
    }

    adb = cp_audit_open(&ctl->home, 0);
    if (adb == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (cp_home_path(&ctl->home, "archive", archive, sizeof(archive)) != 0) {
        sqlite3_close(adb);
        cp_err("LGSP_HOME: path too long");
        return CP_EXIT_REFUSED;
    }

    /* one read transaction: the archive list and the hot rows agree even
     * while lgspd archives and prunes */
    if (sqlite3_exec(adb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        cp_err("audit.db: %s", sqlite3_errmsg(adb));
        sqlite3_close(adb);
        return CP_EXIT_REFUSED;
    }
    out_begin(&o);
    /* the archive holds the older records: it comes first */
    if (cp_audit_archive_walk_range(adb, archive,
                                    f.has_since ? f.since : INT64_MIN,
                                    f.has_until ? f.until : INT64_MAX,
                                    out_row, &o, &seq, h, why,
                                    sizeof(why)) < 0)
    {
        out_end(&o);
        cp_err("audit archive: %s", why);
        sqlite3_exec(adb, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(adb);
        return CP_EXIT_REFUSED;
    }
    query_hot(adb, &o);
    out_end(&o);
    sqlite3_exec(adb, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(adb);
    return CP_EXIT_OK;
}

/* --------------------------------------------------------- seal, verify */

static int
audit_seal(ctl_t *ctl)
{
    sqlite3    *adb;
    cp_seal_t   s;
    char        archive[PATH_MAX + 32], why[PATH_MAX + 256];
    int         rc;

    if (ctl_open(ctl) != 0
        || cp_home_path(&ctl->home, "archive", archive, sizeof(archive)))
    {
        return CP_EXIT_REFUSED;
    }
    adb = cp_audit_open(&ctl->home, 1);
    if (adb == NULL) {
        return CP_EXIT_REFUSED;
    }
    /* no head is known here: the records since the last seal are
     * recomputed before the head is signed */
    rc = cp_audit_seal(adb, ctl->db, ctl->keys_dir, archive, NULL, &s, why,
                       sizeof(why));
    sqlite3_close(adb);
    if (rc != 0) {
        cp_err("audit seal: %s", why);
        return CP_EXIT_REFUSED;
    }
    if (ctl->json) {
        printf("{\"seal\":%lld,\"sealed_seq\":%lld}\n", (long long) s.id,
               (long long) s.seq);
    } else {
        printf("sealed the audit chain at seq %lld (seal %lld)\n",
               (long long) s.seq, (long long) s.id);
    }
    return CP_EXIT_OK;
}

static int
audit_verify(ctl_t *ctl)
{
    sqlite3                 *adb;
    cp_config_t              cf;
    cp_audit_verify_opts_t   o;
    cp_audit_verify_res_t    res;
    char                     archive[PATH_MAX + 32], why[PATH_MAX + 512];
    int                      rc;

    if (ctl_open(ctl) != 0 || ctl_config(ctl, &cf) != 0) {
        return CP_EXIT_REFUSED;
    }
    adb = cp_audit_open(&ctl->home, 0);
    if (adb == NULL
        || cp_home_path(&ctl->home, "archive", archive, sizeof(archive)))
    {
        sqlite3_close(adb);
        return CP_EXIT_REFUSED;
    }
    memset(&o, 0, sizeof(o));
    o.registry = ctl->db;
    o.keys_dir = ctl->keys_dir;
    o.archive_dir = archive;
    o.now_ms = cp_now_ms();
    o.seal_interval_ms = cf.audit_seal_interval * 1000LL;
    o.retention_days = cf.audit_retention_days;
    rc = cp_audit_verify(adb, &o, &res, why, sizeof(why));
    sqlite3_close(adb);
    if (ctl->json) {
        cJSON *j = cJSON_CreateObject();

        cJSON_AddBoolToObject(j, "ok", rc == 0);
        if (rc == 0) {
            cJSON_AddNumberToObject(j, "records", (double) res.records);
            cJSON_AddNumberToObject(j, "seals", (double) res.seals);
            cJSON_AddNumberToObject(j, "unsealed", (double) res.unsealed);
            cJSON_AddNumberToObject(j, "unsealed_age_s",
                                    (double) res.unsealed_age_ms / 1000.0);
        } else {
            cJSON_AddStringToObject(j, "error", why);
        }
        cp_json_print(j);
    }
    if (rc != 0) {
        cp_err("audit verify: %s", why);
        return CP_EXIT_REFUSED;
    }
    if (!ctl->json) {
        printf("OK: %lld records, %lld seals", (long long) res.records,
               (long long) res.seals);
        if (res.unsealed > 0) {
            printf("; %lld after the last seal, the oldest ingested %.1f s"
                   " ago", (long long) res.unsealed,
                   (double) res.unsealed_age_ms / 1000.0);
        }
        printf("\n");
    }
    return CP_EXIT_OK;
}

/* ---------------------------------------------------------------- entry */

int
cmd_audit(ctl_t *ctl, int argc, char **argv)
{
    if (argc < 2) {
        return ctl_usage(ctl_find("audit"));
    }
    if (strcmp(argv[1], "list") == 0) {
        return audit_query(ctl, argc - 1, argv + 1, 0);
    }
    if (strcmp(argv[1], "export") == 0) {
        return audit_query(ctl, argc - 1, argv + 1, 1);
    }
    if (strcmp(argv[1], "seal") == 0 && argc == 2) {
        return audit_seal(ctl);
    }
    if (strcmp(argv[1], "verify") == 0 && argc == 2) {
        return audit_verify(ctl);
    }
    return ctl_usage(ctl_find("audit"));
}

/* for lgspctl status: records in the spool not yet in audit.db */
int64_t
ctl_audit_backlog(const ctl_t *ctl)
{
    char spool[PATH_MAX + 32];

    if (cp_home_path(&ctl->home, "spool", spool, sizeof(spool)) != 0) {
        return -1;
    }
    return lgsp_spool_backlog(spool, NULL);
}
