/*
 * lgspctl reconcile FILE.csv [--as consumer|provider CODE|SYSTEM]: đối soát
 * (SPEC §9).  A partner sends its own list of transactions; we compare it
 * with our audit records over the same window and print what only one
 * side has, and where the statuses differ.  Exit 0 when both agree, 1
 * when they differ, 2 on a bad file (with its line number).
 *
 * The CSV format is documented in docs/integration-guide.md
 * ("Reconciliation").  Matching is by our transaction id when the row has
 * one, else by the partner's own request id (X-LGSP-Request-Id).  A
 * consumer compares the status it received; a provider the status it
 * answered (our upstream status), and only calls we forwarded to it.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_audit.h"
#include "cp_cli.h"
#include "cp_reconcile.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

enum { AS_ALL, AS_CONSUMER, AS_PROVIDER };

/* which of our records a partner can know of; ?9 is its code or system */
static const char *const party_sql[] = {
    [AS_ALL]      = "",
    [AS_CONSUMER] = " AND (consumer_org = ?9 OR consumer_system = ?9)",
    [AS_PROVIDER] = (" AND (provider_org = ?9 OR provider_system = ?9)"
                     " AND upstream_duration_us >= 0"),
};

typedef struct {
    const char  *file;
    int          as;
    const char  *party;
    cJSON       *only_theirs, *only_ours, *mismatched;
    int64_t      rows, matched;
} rc_t;

/* "FILE:LINE: what" (the partner's text in what already escaped) */
static int
bad_line(const rc_t *rc, long line, const char *what)
{
    fprintf(stderr, "lgspctl: %s:%ld: %s\n", rc->file, line, what);
    return CP_EXIT_USAGE;
}

/*
 * The next line of in into buf (size bytes), its '\n' included, NULs and
 * all: its length, or -1 at the end of the file.  A line longer than
 * size - 1 bytes stops there; cp_reconcile_csv_line() calls it too long.
 */
static long
read_line(FILE *in, char *buf, size_t size)
{
    size_t n = 0;
    int    ch = EOF;

    while (n + 1 < size && (ch = getc(in)) != EOF) {
        buf[n++] = (char) ch;
        if (ch == '\n') {
            break;
        }
    }
    return n == 0 && ch == EOF ? -1 : (long) n;
}

/* Read the partner's file into the temp table theirs.  0 or an exit code. */
static int
load_csv(rc_t *rc, sqlite3 *db, FILE *in, int64_t *min_ms, int64_t *max_ms)
{
    cp_reconcile_csv_t         csv;
    char                       why[CP_RECONCILE_WHY_MAX];
    char                       line[CP_RECONCILE_LINE_MAX + 2];
    long                       len;
    int                        k;
    cp_reconcile_row_t         row;
    sqlite3_stmt              *ins, *dup;
    int                        ret = 0;

    ins = cp_db_prepare(db, "INSERT INTO temp.theirs (line, txn, rid, ms,"
                            " status) VALUES (?1, ?2, ?3, ?4, ?5)");
    dup = cp_db_prepare(db, "SELECT line FROM temp.theirs WHERE"
                            " (?1 <> '' AND txn = ?1)"
                            " OR (?1 = '' AND txn = '' AND rid = ?2)");
    if (ins == NULL || dup == NULL) {
        sqlite3_finalize(ins);
        sqlite3_finalize(dup);
        return CP_EXIT_REFUSED;
    }

    *min_ms = INT64_MAX;
    *max_ms = INT64_MIN;
    cp_reconcile_csv_init(&csv);

    while ((len = read_line(in, line, sizeof(line))) >= 0) {
        k = cp_reconcile_csv_line(&csv, line, (size_t) len, &row, why,
                                  sizeof(why));
        if (k < 0) {
            ret = bad_line(rc, csv.line, why);
            goto done;
        }
        if (k == 0) {
            continue;
        }

        sqlite3_reset(dup);
        sqlite3_bind_text(dup, 1, row.txn, -1, SQLITE_STATIC);
        sqlite3_bind_text(dup, 2, row.rid, -1, SQLITE_STATIC);
        if (sqlite3_step(dup) == SQLITE_ROW) {
            snprintf(why, sizeof(why), "the same transaction as line %lld",
                     (long long) sqlite3_column_int64(dup, 0));
            ret = bad_line(rc, csv.line, why);
            goto done;
        }

        sqlite3_reset(ins);
        sqlite3_bind_int64(ins, 1, csv.line);
        sqlite3_bind_text(ins, 2, row.txn, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, row.rid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, row.ms);
        sqlite3_bind_int64(ins, 5, row.status);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            cp_err("reconcile: %s", sqlite3_errmsg(db));
            ret = CP_EXIT_REFUSED;
            goto done;
        }
        rc->rows++;
        if (row.ms < *min_ms) {
            *min_ms = row.ms;
        }
        if (row.ms > *max_ms) {
            *max_ms = row.ms;
        }
    }
    if (ferror(in)) {
        cp_err("%s: %s", rc->file, strerror(errno));
        ret = CP_EXIT_REFUSED;
    } else if (cp_reconcile_csv_end(&csv, why, sizeof(why)) != 0) {
        ret = bad_line(rc, csv.line ? csv.line : 1, why);
    }

done:
    sqlite3_finalize(ins);
    sqlite3_finalize(dup);
    return ret;
}

static void
iso(int64_t ms, char *out, size_t size)
{
    char base[32];

    cp_time_format_utc(ms >= 0 ? ms / 1000 : (ms - 999) / 1000, base,
                       sizeof(base));
    /* "...:SSZ" → "...:SS.mmmZ" */
    snprintf(out, size, "%.19s.%03dZ", base, (int) (((ms % 1000) + 1000)
                                                     % 1000));
}

static void
note(cJSON *list, const char *txn, const char *rid, int64_t ms, int ours,
     int theirs)
{
    cJSON  *o = cJSON_CreateObject();
    char    t[40];

    iso(ms, t, sizeof(t));
    cJSON_AddStringToObject(o, "transaction_id", txn);
    cJSON_AddStringToObject(o, "request_id", rid);
    cJSON_AddStringToObject(o, "time", t);
    if (ours >= 0) {
        cJSON_AddNumberToObject(o, "our_status", ours);
    }
    if (theirs >= 0) {
        cJSON_AddNumberToObject(o, "their_status", theirs);
    }
    cJSON_AddItemToArray(list, o);
}

/* Match each of their rows with one of our records. */
static int
match_rows(rc_t *rc, sqlite3 *db)
{
    char           sql_txn[512], sql_rid[768];
    sqlite3_stmt  *rows, *by_txn, *by_rid, *mark;
    int            ret = -1, step;
    const char    *status_col = rc->as == AS_PROVIDER ? "upstream_status"
                                                      : "status";

    snprintf(sql_txn, sizeof(sql_txn),
             "SELECT transaction_id, request_id, start_ms, %s FROM"
             " audit_records WHERE transaction_id = ?1%s", status_col,
             party_sql[rc->as]);
    /* the partner's own ids need not be unique: the nearest in time of
     * those not matched yet */
    snprintf(sql_rid, sizeof(sql_rid),
             "SELECT transaction_id, request_id, start_ms, %s FROM"
             " audit_records WHERE request_id = ?2%s AND transaction_id"
             " NOT IN (SELECT txn FROM temp.matched)"
             " ORDER BY abs(start_ms - ?3) LIMIT 1", status_col,
             party_sql[rc->as]);

    rows = cp_db_prepare(db, "SELECT txn, rid, ms, status FROM temp.theirs"
                             " ORDER BY line");
    by_txn = cp_db_prepare(db, sql_txn);
    by_rid = cp_db_prepare(db, sql_rid);
    mark = cp_db_prepare(db, "INSERT OR IGNORE INTO temp.matched (txn)"
                             " VALUES (?1)");
    if (rows == NULL || by_txn == NULL || by_rid == NULL || mark == NULL) {
        goto done;
    }

    while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
        const char    *txn = (const char *) sqlite3_column_text(rows, 0);
        const char    *rid = (const char *) sqlite3_column_text(rows, 1);
        int64_t        ms = sqlite3_column_int64(rows, 2);
        int            theirs = sqlite3_column_int(rows, 3), ours;
        sqlite3_stmt  *q = txn[0] ? by_txn : by_rid;

        sqlite3_reset(q);
        sqlite3_clear_bindings(q);
        if (txn[0]) {
            sqlite3_bind_text(q, 1, txn, -1, SQLITE_STATIC);
        } else {
            sqlite3_bind_text(q, 2, rid, -1, SQLITE_STATIC);
            sqlite3_bind_int64(q, 3, ms);
        }
        if (rc->as != AS_ALL) {
            sqlite3_bind_text(q, 9, rc->party, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(q) != SQLITE_ROW) {
            note(rc->only_theirs, txn, rid, ms, -1, theirs);
            continue;
        }
        rc->matched++;
        ours = sqlite3_column_int(q, 3);
        sqlite3_reset(mark);
        sqlite3_bind_text(mark, 1, (const char *) sqlite3_column_text(q, 0),
                          -1, SQLITE_TRANSIENT);
        if (sqlite3_step(mark) != SQLITE_DONE) {
            goto done;
        }
        if (ours != theirs) {
            note(rc->mismatched, (const char *) sqlite3_column_text(q, 0),
                 (const char *) sqlite3_column_text(q, 1),
                 sqlite3_column_int64(q, 2), ours, theirs);
        }
    }
    ret = step == SQLITE_DONE ? 0 : -1;

done:
    sqlite3_finalize(rows);
    sqlite3_finalize(by_txn);
    sqlite3_finalize(by_rid);
    sqlite3_finalize(mark);
    return ret;
}

/* Our records in the window that none of their rows matched. */
static int
ours_unmatched(rc_t *rc, sqlite3 *db, int64_t since, int64_t until)
{
    char           sql[768];
    sqlite3_stmt  *st;
    int            step;

    snprintf(sql, sizeof(sql),
             "SELECT transaction_id, request_id, start_ms, %s FROM"
             " audit_records WHERE start_ms BETWEEN ?1 AND ?2%s AND"
             " transaction_id NOT IN (SELECT txn FROM temp.matched)"
             " ORDER BY start_ms, seq",
             rc->as == AS_PROVIDER ? "upstream_status" : "status",
             party_sql[rc->as]);
    st = cp_db_prepare(db, sql);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    if (rc->as != AS_ALL) {
        sqlite3_bind_text(st, 9, rc->party, -1, SQLITE_STATIC);
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        note(rc->only_ours, (const char *) sqlite3_column_text(st, 0),
             (const char *) sqlite3_column_text(st, 1),
             sqlite3_column_int64(st, 2), sqlite3_column_int(st, 3), -1);
    }
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : -1;
}

static void
print_list(const char *what, const cJSON *list)
{
    const cJSON *o;

    cJSON_ArrayForEach(o, list) {
        const cJSON *ours = cJSON_GetObjectItem(o, "our_status");
        const cJSON *theirs = cJSON_GetObjectItem(o, "their_status");
        const char  *txn = cJSON_GetObjectItem(o, "transaction_id")
                           ->valuestring;
        const char  *rid = cJSON_GetObjectItem(o, "request_id")->valuestring;

        printf("%-12s %-32s %-24s %s", what, txn[0] ? txn : "-",
               rid[0] ? rid : "-",
               cJSON_GetObjectItem(o, "time")->valuestring);
        if (ours) {
            printf(" ours=%d", ours->valueint);
        }
        if (theirs) {
            printf(" theirs=%d", theirs->valueint);
        }
        printf("\n");
    }
}

int
cmd_reconcile(ctl_t *ctl, int argc, char **argv)
{
    rc_t        rc;
    const char *file = NULL, *as = NULL;
    int64_t     since = 0, until = 0, min_ms, max_ms;
    int         has_since = 0, has_until = 0, ret, differ;
    FILE       *in;
    sqlite3    *adb;
    cJSON      *o;
    char        t1[40], t2[40];

    memset(&rc, 0, sizeof(rc));
    /* by hand, not getopt: --as takes two words (consumer|provider CODE) */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--as") == 0) {
            if (i + 2 >= argc) {
                cp_bad("reconcile: --as needs consumer|provider and a code");
                return ctl_usage(ctl_find("reconcile"));
            }
            as = argv[++i];
            rc.party = argv[++i];
        } else if (strcmp(a, "--since") == 0 || strcmp(a, "--until") == 0) {
            int u = a[2] == 'u';

            if (i + 1 >= argc) {
                cp_bad("reconcile: option \"%s\" needs a value", a);
                return ctl_usage(ctl_find("reconcile"));
            }
            if (cp_time_parse_ms(argv[++i], u ? &until : &since) != 0) {
                cp_bad("%s: \"%s\" is not ISO 8601", a, argv[i]);
                return ctl_usage(ctl_find("reconcile"));
            }
            *(u ? &has_until : &has_since) = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            cp_bad("reconcile: unknown option \"%s\"", a);
            return ctl_usage(ctl_find("reconcile"));
        } else if (file != NULL) {
            cp_bad("reconcile: one file only (\"%s\" and \"%s\")", file, a);
            return ctl_usage(ctl_find("reconcile"));
        } else {
            file = a;
        }
    }
    if (as != NULL) {
        if (strcmp(as, "consumer") == 0) {
            rc.as = AS_CONSUMER;
        } else if (strcmp(as, "provider") == 0) {
            rc.as = AS_PROVIDER;
        } else {
            cp_bad("--as: \"%s\" is not consumer or provider", as);
            return ctl_usage(ctl_find("reconcile"));
        }
        if (rc.party[0] == '\0' || rc.party[0] == '-') {
            cp_bad("--as %s needs an agency code or a system id", as);
            return ctl_usage(ctl_find("reconcile"));
        }
    }
    if (file == NULL) {
        cp_bad("reconcile: which file?");
        return ctl_usage(ctl_find("reconcile"));
    }
    rc.file = file;

    in = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (in == NULL) {
        cp_err("%s: %s", file, strerror(errno));
        return CP_EXIT_REFUSED;
    }
    adb = cp_audit_open(&ctl->home, 0);
    if (adb == NULL) {
        if (in != stdin) {
            fclose(in);
        }
        return CP_EXIT_REFUSED;
    }
    /* temp tables: the comparison writes nothing to audit.db */
    if (sqlite3_exec(adb, "CREATE TEMP TABLE theirs (line INTEGER, txn TEXT,"
                          " rid TEXT, ms INTEGER, status INTEGER);"
                          " CREATE INDEX temp.theirs_txn ON theirs (txn);"
                          " CREATE INDEX temp.theirs_rid ON theirs (rid);"
                          " CREATE TEMP TABLE matched (txn TEXT PRIMARY"
                          " KEY)", NULL, NULL, NULL) != SQLITE_OK)
    {
        cp_err("reconcile: %s", sqlite3_errmsg(adb));
        ret = CP_EXIT_REFUSED;
        goto out;
    }

    ret = load_csv(&rc, adb, in, &min_ms, &max_ms);
    if (ret != 0) {
        goto out;
    }
    if (rc.rows == 0 && !(has_since && has_until)) {
        fprintf(stderr, "lgspctl: %s: no transactions, and no --since and"
                " --until to say which window\n", file);
        ret = CP_EXIT_USAGE;
        goto out;
    }
    /* the window their file covers, to the whole second */
    if (!has_since) {
        since = min_ms - ((min_ms % 1000) + 1000) % 1000;
    }
    if (!has_until) {
        until = max_ms - ((max_ms % 1000) + 1000) % 1000 + 999;
    }

    rc.only_theirs = cJSON_CreateArray();
    rc.only_ours = cJSON_CreateArray();
    rc.mismatched = cJSON_CreateArray();
    if (match_rows(&rc, adb) != 0 || ours_unmatched(&rc, adb, since, until)
        != 0)
    {
        cp_err("reconcile: audit.db: %s", sqlite3_errmsg(adb));
        ret = CP_EXIT_REFUSED;
        goto out;
    }

    differ = cJSON_GetArraySize(rc.only_theirs)
             + cJSON_GetArraySize(rc.only_ours)
             + cJSON_GetArraySize(rc.mismatched);
    iso(since, t1, sizeof(t1));
    iso(until, t2, sizeof(t2));
    if (ctl->json) {
        char *s;

        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "since", t1);
        cJSON_AddStringToObject(o, "until", t2);
        cJSON_AddStringToObject(o, "as", rc.as == AS_CONSUMER ? "consumer"
                                : rc.as == AS_PROVIDER ? "provider" : "all");
        cJSON_AddNumberToObject(o, "rows", (double) rc.rows);
        cJSON_AddNumberToObject(o, "matched", (double) rc.matched);
        cJSON_AddBoolToObject(o, "agree", differ == 0);
        cJSON_AddItemToObject(o, "missing_ours", rc.only_theirs);
        cJSON_AddItemToObject(o, "missing_theirs", rc.only_ours);
        cJSON_AddItemToObject(o, "mismatched", rc.mismatched);
        rc.only_theirs = rc.only_ours = rc.mismatched = NULL;
        s = cJSON_Print(o);
        if (s != NULL) {
            printf("%s\n", s);
        }
        cJSON_free(s);
        cJSON_Delete(o);
    } else {
        print_list("missing-ours", rc.only_theirs);
        print_list("missing-theirs", rc.only_ours);
        print_list("mismatch", rc.mismatched);
        printf("reconcile: %s to %s: %lld rows, %lld matched, %d missing in"
               " our log, %d missing in theirs, %d status mismatches\n",
               t1, t2, (long long) rc.rows, (long long) rc.matched,
               cJSON_GetArraySize(rc.only_theirs),
               cJSON_GetArraySize(rc.only_ours),
               cJSON_GetArraySize(rc.mismatched));
    }
    ret = differ ? CP_EXIT_REFUSED : CP_EXIT_OK;

out:
    cJSON_Delete(rc.only_theirs);
    cJSON_Delete(rc.only_ours);
    cJSON_Delete(rc.mismatched);
    sqlite3_close(adb);
    if (in != stdin) {
        fclose(in);
    }
    return ret;
}
