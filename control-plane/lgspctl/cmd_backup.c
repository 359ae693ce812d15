/*
 * lgspctl backup FILE / restore FILE (SPEC §11, §12).
 *
 * backup copies lgsp.db with SQLite's online backup API, so it is
 * consistent while lgspd and other lgspctl runs use the registry.
 *
 * restore rolls back the settings of the objects the backup has; it never
 * rolls back a final state, an object's existence or an id.  Within one
 * transaction on the live registry, table by table (restore_tables and
 * restore_finals below; docs/operator-guide.md "Backups"):
 *
 *   agencies      backup's rows; closures and codes (renames) since stay
 *   agency_codes  live: every code an agency ever had is never free
 *   systems       backup's rows (names, URLs, suspensions, commitments)
 *   services      backup's rows; an end announced since stays
 *   versions      backup's settings; the lifecycle (state, its dates,
 *                 successor, reason) stays live: it only moves forward
 *   grants        backup's limits and suspensions; revocations stay
 *   credentials   revocations stay
 *   requests      decisions (approved, rejected) since stay
 *   issuers       removed since stay removed; JWKS as last fetched
 *   notices       backup's rows
 *   signing_keys  live: the private halves in keys/ are not restored, so
 *                 the key active when restoring stays active, and every
 *                 rotation and revocation stays
 *   change_log    live: history only grows, the restore adds its entry
 *
 * and in every table a row created since the backup is kept as it is
 * (its id stays taken), a row deleted since stays deleted (ids are never
 * reused, so the same id is the same object), and sqlite_sequence never
 * goes down.  This holds only when the live registry is the backup's own
 * later state (restore_lineage); a backup of another registry is refused,
 * and into a registry with no change yet (a lost one) it comes back whole.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgspctl.h"
#include "cp_changelog.h"
#include "cp_cli.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_util.h"

/* Copy src into dst with the online backup API, retrying while busy. */
static int
copy_db(sqlite3 *dst, sqlite3 *src)
{
    sqlite3_backup *b;
    int             rc;

    b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        return SQLITE_ERROR;
    }
    do {
        rc = sqlite3_backup_step(b, 64);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            sqlite3_sleep(20);
        }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A fresh file, owner-only: registries hold upstream credentials. */
static int
create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        return -1;
    }
    close(fd);
    return 0;
}

static void
unlink_db(const char *path)
{
    char p[PATH_MAX + 64];

    unlink(path);
    if (cp_path(p, sizeof(p), "%s-wal", path) == 0) unlink(p);
    if (cp_path(p, sizeof(p), "%s-shm", path) == 0) unlink(p);
    if (cp_path(p, sizeof(p), "%s-journal", path) == 0) unlink(p);
}

int
cmd_backup(ctl_t *ctl, int argc, char **argv)
{
    char      tmp[PATH_MAX + 64];
    sqlite3  *dst = NULL;
    long long last;
    int       rc = CP_EXIT_REFUSED;

    if (argc != 2 || argv[1][0] == '-') {
        cp_bad("backup: needs FILE");
        return ctl_usage(ctl_find("backup"));
    }
    if (cp_text_arg("backup", "FILE", argv[1], PATH_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    if (ctl_open(ctl) != 0) {
        return CP_EXIT_REFUSED;
    }
    if (cp_path(tmp, sizeof(tmp), "%s.tmp-%d", argv[1], (int) getpid())
        != 0)
    {
        return cp_refuse(NULL, "backup %s: path too long", argv[1]);
    }
    if (create_private(tmp) != 0) {
        return cp_refuse(NULL, "backup %s: %s", tmp, strerror(errno));
    }
    if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        cp_err("backup %s: %s", tmp, dst ? sqlite3_errmsg(dst) : "no memory");
        goto done;
    }
    if (copy_db(dst, ctl->db) != SQLITE_OK) {
        cp_err("backup %s: %s", argv[1], sqlite3_errmsg(dst));
        goto done;
    }
    /* one self-contained file, checked before it takes the name */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL)
            != SQLITE_OK
        || cp_db_int(dst, "SELECT count(*) FROM pragma_quick_check"
                          " WHERE quick_check != 'ok'", 1) != 0)
    {
        cp_err("backup %s: the copy does not check out", argv[1]);
        goto done;
    }
    last = cp_db_int(dst, "SELECT coalesce(max(id), 0) FROM change_log", 0);
    sqlite3_close(dst);
    dst = NULL;
    if (rename(tmp, argv[1]) != 0) {
        cp_err("backup %s: %s", argv[1], strerror(errno));
        goto done;
    }
    if (ctl->json) {
        printf("{\"file\":");
        cJSON *f = cJSON_CreateString(argv[1]);
        char  *s = cJSON_PrintUnformatted(f);
        printf("%s,\"last_change\":%lld}\n", s, last);
        cJSON_free(s);
        cJSON_Delete(f);
    } else {
        printf("%s\n", argv[1]);
    }
    rc = CP_EXIT_OK;

done:
    if (dst != NULL) {
        sqlite3_close(dst);
    }
    if (rc != CP_EXIT_OK) {
        unlink_db(tmp);
    }
    return rc;
}

/*
 * What a restore does with each table of the registry.  The statements
 * run with main = the live registry and bk = the backup staged; each
 * brings something of main into bk, which then replaces main.  Ids are
 * never reused, so a row with the same id in both files is one object.
 */

/* kept: the live rows stay whole, a restore never rolls them back */
static const struct {
    const char *name;
    int         kept;
} restore_tables[] = {
    { "agencies",     0 },
    { "agency_codes", 1 },      /* every code an agency had is forever */
    { "change_log",   1 },      /* history only grows */
    { "credentials",  0 },
    { "grants",       0 },
    { "issuers",      0 },
    { "notices",      0 },
    { "requests",     0 },
    { "services",     0 },
    { "signing_keys", 1 },      /* keys/ is not restored: active stays so */
    { "systems",      0 },
    { "versions",     0 },
};

#define RESTORE_TABLES  (sizeof(restore_tables) / sizeof(restore_tables[0]))

/*
 * The final states made since the backup, put onto the backup's row of
 * the same id.  count: the live rows in that state that the backup does
 * not have in it (rows created since included), for the report; apply:
 * NULL when a kept table or the removal of rows already carries it.
 */
static const struct {
    const char *name;           /* in the report; NULL: not reported */
    const char *count;
    const char *apply;
} restore_finals[] = {
    { "agencies_closed",
      "SELECT count(*) FROM main.agencies m WHERE m.state = 'closed'"
      " AND NOT EXISTS (SELECT 1 FROM bk.agencies b WHERE b.id = m.id"
      "   AND b.state = 'closed')",
      "UPDATE bk.agencies SET (state, close_reason, closed_at) ="
      " (SELECT m.state, m.close_reason, m.closed_at FROM main.agencies m"
      "   WHERE m.id = agencies.id)"
      " WHERE id IN (SELECT id FROM main.agencies WHERE state = 'closed')" },
    /* a rename gives the agency its new code for good (the old one turns
     * former, never free): agencies.code follows the agency_codes kept */
    { "agencies_renamed",
      "SELECT count(*) FROM main.agencies m JOIN bk.agencies b"
      " ON b.id = m.id WHERE b.code != m.code",
      "UPDATE bk.agencies SET code = (SELECT m.code FROM main.agencies m"
      "   WHERE m.id = agencies.id)"
      " WHERE id IN (SELECT id FROM main.agencies)" },
    /* an announced end is never withdrawn (`service end` may move it) */
    { "services_ended",
      "SELECT count(*) FROM main.services m WHERE m.end_at IS NOT NULL"
      " AND NOT EXISTS (SELECT 1 FROM bk.services b WHERE b.id = m.id"
      "   AND b.end_at IS m.end_at)",
      "UPDATE bk.services SET (end_at, end_reason) ="
      " (SELECT m.end_at, m.end_reason FROM main.services m"
      "   WHERE m.id = services.id)"
      " WHERE id IN (SELECT id FROM main.services"
      "   WHERE end_at IS NOT NULL)" },
    { "versions_retired",
      "SELECT count(*) FROM main.versions m WHERE m.state = 'retired'"
      " AND NOT EXISTS (SELECT 1 FROM bk.versions b WHERE b.id = m.id"
      "   AND b.state = 'retired')",
      NULL },
    /* a lifecycle only moves forward and consumers were told of each step
     * (SPEC §7): publication, deprecation and retirement since all stay */
    { "versions_advanced",
      "SELECT count(*) FROM main.versions m JOIN bk.versions b"
      " ON b.id = m.id WHERE b.state != m.state",
      "UPDATE bk.versions SET (state, sandbox_at, published_at,"
      " deprecated_at, sunset_at, retired_at, successor_id,"
      " lifecycle_reason) = (SELECT m.state, m.sandbox_at, m.published_at,"
      " m.deprecated_at, m.sunset_at, m.retired_at, m.successor_id,"
      " m.lifecycle_reason FROM main.versions m WHERE m.id = versions.id)"
      " WHERE id IN (SELECT id FROM main.versions)" },
    { "grants_revoked",
      "SELECT count(*) FROM main.grants m WHERE m.state = 'revoked'"
      " AND NOT EXISTS (SELECT 1 FROM bk.grants b WHERE b.id = m.id"
      "   AND b.state = 'revoked')",
      "UPDATE bk.grants SET (state, revoked_at, reason) ="
      " (SELECT m.state, m.revoked_at, coalesce(m.reason, grants.reason)"
      "   FROM main.grants m WHERE m.id = grants.id)"
      " WHERE id IN (SELECT id FROM main.grants WHERE state = 'revoked')" },
    { "credentials_revoked",
      "SELECT count(*) FROM main.credentials m WHERE m.state = 'revoked'"
      " AND NOT EXISTS (SELECT 1 FROM bk.credentials b WHERE b.id = m.id"
      "   AND b.state = 'revoked')",
      "UPDATE bk.credentials SET (state, revoked_at) ="
      " (SELECT m.state, m.revoked_at FROM main.credentials m"
      "   WHERE m.id = credentials.id)"
      " WHERE id IN (SELECT id FROM main.credentials"
      "   WHERE state = 'revoked')" },
    /* the provider's answer was given: a decided request stays decided */
    { "requests_decided",
      "SELECT count(*) FROM main.requests m WHERE m.state != 'open'"
      " AND NOT EXISTS (SELECT 1 FROM bk.requests b WHERE b.id = m.id"
      "   AND b.state != 'open')",
      "UPDATE bk.requests SET (state, reason, grant_id, decided_at,"
      " decided_by) = (SELECT m.state, m.reason, m.grant_id, m.decided_at,"
      " m.decided_by FROM main.requests m WHERE m.id = requests.id)"
      " WHERE id IN (SELECT id FROM main.requests WHERE state != 'open')" },
    /* an issuer removed (for a leaked key, say) is not trusted again */
    { "issuers_removed",
      "SELECT count(*) FROM bk.issuers"
      " WHERE id NOT IN (SELECT id FROM main.issuers)",
      NULL },
    /* the keys an issuer publishes now: an older JWKS could trust again a
     * key the issuer has dropped */
    { NULL, NULL,
      "UPDATE bk.issuers SET (jwks, fetched_at) ="
      " (SELECT m.jwks, m.fetched_at FROM main.issuers m"
      "   WHERE m.id = issuers.id)"
      " WHERE id IN (SELECT id FROM main.issuers)" },
    { "keys_revoked",
      "SELECT count(*) FROM main.signing_keys m WHERE m.state = 'revoked'"
      " AND NOT EXISTS (SELECT 1 FROM bk.signing_keys b WHERE b.id = m.id"
      "   AND b.state = 'revoked')",
      NULL },
    { "keys_rotated_in",
      "SELECT count(*) FROM main.signing_keys"
      " WHERE id NOT IN (SELECT id FROM bk.signing_keys)",
      NULL },
};

#define RESTORE_FINALS  (sizeof(restore_finals) / sizeof(restore_finals[0]))

/* What a restore kept and carried, for its report and change-log entry. */
typedef struct {
    long long  last;                        /* the backup's last change */
    int        whole;                       /* nothing live to keep */
    long long  finals[RESTORE_FINALS];
    long long  created[RESTORE_TABLES];     /* made since, kept */
    long long  removed[RESTORE_TABLES];     /* gone since, kept gone */
} restore_t;

static int
run(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int           rc;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return -1;
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

/* One statement about table t: every %s of fmt names it (our own schema's
 * names, from restore_tables, never input).  Rows changed, or -1. */
static long long
run_on(sqlite3 *db, const char *fmt, const char *t)
{
    char sql[256];

    if (cp_path(sql, sizeof(sql), fmt, t, t, t) != 0 || run(db, sql) != 0) {
        return -1;
    }
    return sqlite3_changes(db);
}

/*
 * Is the live registry the backup's own later state?  Yes (1) when both
 * began with the same first signing key and the backup's last change is
 * in the live change log, the same entry (a restore keeps that log whole,
 * so every backup of this registry passes).  0: the live registry holds
 * nothing to keep (no change ever made: a lost registry created again);
 * -1: another registry, whose rows are no objects of the backup.
 */
static int
restore_lineage(sqlite3 *db)
{
    if (cp_db_int(db, "SELECT count(*) FROM main.change_log", 0) == 0) {
        return 0;
    }
    if (cp_db_int(db, "SELECT (SELECT kid FROM bk.signing_keys ORDER BY id"
                      " LIMIT 1) IS (SELECT kid FROM main.signing_keys"
                      " ORDER BY id LIMIT 1)", 0) != 1)
    {
        return -1;
    }
    return cp_db_int(db, "SELECT NOT EXISTS (SELECT 1 FROM bk.change_log)"
                         " OR EXISTS (SELECT 1 FROM bk.change_log b"
                         " JOIN main.change_log m ON m.id = b.id"
                         " AND m.at_ms = b.at_ms AND m.object = b.object"
                         " AND m.action = b.action"
                         " WHERE b.id = (SELECT max(id) FROM bk.change_log))",
                     0) == 1 ? 1 : -1;
}

/* Every table of the schema needs a rule: a table added without one
 * would silently go back to the backup's rows. */
static int
restore_rules_cover(sqlite3 *db)
{
    sqlite3_stmt *st;
    int           rc = 0;

    st = cp_db_prepare(db, "SELECT name FROM main.sqlite_master"
                           " WHERE type = 'table'"
                           " AND name NOT LIKE 'sqlite_%'");
    if (st == NULL) {
        return -1;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *) sqlite3_column_text(st, 0);
        size_t      i;

        for (i = 0; i < RESTORE_TABLES; i++) {
            if (strcmp(t, restore_tables[i].name) == 0) {
                break;
            }
        }
        if (i == RESTORE_TABLES) {
            cp_err("restore: table %s has no restore rule", t);
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Count, then put onto bk, every final state made since the backup. */
static int
carry_finals(sqlite3 *db, restore_t *r)
{
    for (size_t i = 0; i < RESTORE_FINALS; i++) {
        if (restore_finals[i].count != NULL) {
            r->finals[i] = cp_db_int(db, restore_finals[i].count, -1);
            if (r->finals[i] < 0) {
                return -1;
            }
        }
        if (restore_finals[i].apply != NULL
            && run(db, restore_finals[i].apply) != 0)
        {
            return -1;
        }
    }
    return 0;
}

/* Rows: a kept table is the live one; elsewhere a row gone since stays
 * gone and a row made since stays (removal first: an issuer removed and
 * added again holds the same iss). */
static int
carry_rows(sqlite3 *db, restore_t *r)
{
    for (size_t i = 0; i < RESTORE_TABLES; i++) {
        const char *t = restore_tables[i].name;

        if (restore_tables[i].kept) {
            if (run_on(db, "DELETE FROM bk.%s", t) < 0
                || run_on(db, "INSERT INTO bk.%s SELECT * FROM main.%s", t)
                   < 0)
            {
                return -1;
            }
            continue;
        }
        r->removed[i] = run_on(db, "DELETE FROM bk.%s WHERE id NOT IN"
                                   " (SELECT id FROM main.%s)", t);
        r->created[i] = run_on(db, "INSERT INTO bk.%s SELECT * FROM main.%s"
                                   " WHERE id NOT IN (SELECT id FROM bk.%s)",
                               t);
        if (r->removed[i] < 0 || r->created[i] < 0) {
            return -1;
        }
    }
    return 0;
}

/* Replace every table of main by bk's rows; no sequence ever goes down,
 * so no id is handed out twice. */
static int
replace_tables(sqlite3 *db)
{
    for (size_t i = 0; i < RESTORE_TABLES; i++) {
        const char *t = restore_tables[i].name;

        if (run_on(db, "DELETE FROM main.%s", t) < 0
            || run_on(db, "INSERT INTO main.%s SELECT * FROM bk.%s", t) < 0)
        {
            return -1;
        }
    }
    if (run(db, "INSERT INTO bk.sqlite_sequence (name, seq)"
                " SELECT name, seq FROM main.sqlite_sequence"
                " WHERE name NOT IN (SELECT name FROM bk.sqlite_sequence)")
            != 0
        || run(db, "UPDATE bk.sqlite_sequence SET seq = (SELECT m.seq FROM"
                   " main.sqlite_sequence m"
                   " WHERE m.name = sqlite_sequence.name)"
                   " WHERE seq < (SELECT m.seq FROM main.sqlite_sequence m"
                   "   WHERE m.name = sqlite_sequence.name)") != 0
        || run(db, "DELETE FROM main.sqlite_sequence") != 0
        || run(db, "INSERT INTO main.sqlite_sequence (name, seq)"
                   " SELECT name, seq FROM bk.sqlite_sequence") != 0)
    {
        return -1;
    }
    return 0;
}

/* Stage the backup in a private file and bring it to the current layout. */
static int
stage(const char *file, const char *staging, long long *last)
{
    sqlite3    *src = NULL, *dst = NULL;
    const char *why;
    int         rc = -1, v;

    if (sqlite3_open_v2(file, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cp_err("restore %s: %s", file, src ? sqlite3_errmsg(src) : "no memory");
        goto done;
    }
    v = (int) cp_db_int(src, "PRAGMA user_version", -1);
    if (v < 1 || cp_db_int(src, "SELECT count(*) FROM sqlite_master WHERE"
                                " name IN ('agencies', 'grants',"
                                " 'change_log')", 0) != 3)
    {
        cp_err("restore %s: not an LGSP registry backup", file);
        goto done;
    }
    if (v > cp_db_latest()) {
        cp_err("restore %s: the backup is newer than this lgspctl", file);
        goto done;
    }
    if (create_private(staging) != 0) {
        cp_err("restore %s: %s", staging, strerror(errno));
        goto done;
    }
    if (sqlite3_open_v2(staging, &dst, SQLITE_OPEN_READWRITE, NULL)
            != SQLITE_OK
        || copy_db(dst, src) != SQLITE_OK)
    {
        cp_err("restore %s: %s", file, dst ? sqlite3_errmsg(dst) : "no memory");
        goto done;
    }
    sqlite3_busy_timeout(dst, 5000);
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL)
            != SQLITE_OK
        || cp_db_migrate(dst, &why) != 0)
    {
        cp_err("restore %s: %s", file, sqlite3_errmsg(dst));
        goto done;
    }
    *last = cp_db_int(dst, "SELECT coalesce(max(id), 0) FROM change_log", 0);
    rc = 0;

done:
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc;
}

/* The report: --json, and the restore's own change-log entry. */
static cJSON *
restore_report(const char *file, const restore_t *r)
{
    cJSON *rep = cJSON_CreateObject(), *created, *removed;

    cJSON_AddStringToObject(rep, "file", file);
    cJSON_AddNumberToObject(rep, "backup_last_change", (double) r->last);
    cJSON_AddBoolToObject(rep, "whole", r->whole);
    for (size_t i = 0; i < RESTORE_FINALS; i++) {
        if (restore_finals[i].name != NULL) {
            cJSON_AddNumberToObject(rep, restore_finals[i].name,
                                    (double) r->finals[i]);
        }
    }
    created = cJSON_AddObjectToObject(rep, "created_since");
    removed = cJSON_AddObjectToObject(rep, "removed_since");
    for (size_t i = 0; i < RESTORE_TABLES; i++) {
        if (!restore_tables[i].kept) {
            cJSON_AddNumberToObject(created, restore_tables[i].name,
                                    (double) r->created[i]);
            cJSON_AddNumberToObject(removed, restore_tables[i].name,
                                    (double) r->removed[i]);
        }
    }
    return rep;
}

/* "what: name n, name n" of a report's non-zero counts, for people. */
static void
print_counts(const char *what, const cJSON *o)
{
    const cJSON *c;
    const char  *sep = ": ";

    printf("%s", what);
    cJSON_ArrayForEach(c, o) {
        if (cJSON_IsNumber(c) && c->valuedouble > 0
            && strcmp(c->string, "backup_last_change") != 0)
        {
            printf("%s", sep);
            for (const char *p = c->string; *p; p++) {
                putchar(*p == '_' ? ' ' : *p);
            }
            printf(" %.0f", c->valuedouble);
            sep = ", ";
        }
    }
    printf("%s\n", sep[0] == ':' ? ": none" : "");
}

static void
restore_print(const cJSON *rep, const restore_t *r)
{
    printf("restored %s (its last change: %lld)\n",
           cJSON_GetObjectItem(rep, "file")->valuestring, r->last);
    if (r->whole) {
        printf("the registry held nothing yet: the backup came back"
               " whole\n");
        return;
    }
    print_counts("kept since the backup", rep);
    print_counts("created since the backup, kept",
                 cJSON_GetObjectItem(rep, "created_since"));
    print_counts("removed since the backup, kept removed",
                 cJSON_GetObjectItem(rep, "removed_since"));
}

/* Within the open transaction: carry what must survive into bk, then
 * make main bk, and log the restore. */
static int
restore_swap(ctl_t *ctl, const char *file, restore_t *r, cJSON **report)
{
    char *after;
    int   lineage, rc;

    if (restore_rules_cover(ctl->db) != 0) {
        return cp_refuse(ctl->db, "restore %s: not restored", file);
    }
    lineage = restore_lineage(ctl->db);
    if (lineage < 0) {
        return cp_refuse(ctl->db, "restore %s: the backup is not an earlier"
                         " state of %s (another registry's, or its last"
                         " change is not in this one's log); to bring it"
                         " back whole, move %s away first", file,
                         ctl->db_path, ctl->db_path);
    }
    r->whole = lineage == 0;
    if ((!r->whole && (carry_finals(ctl->db, r) != 0
                       || carry_rows(ctl->db, r) != 0))
        || replace_tables(ctl->db) != 0)
    {
        return cp_refuse(ctl->db, "restore %s: %s", file,
                         sqlite3_errmsg(ctl->db));
    }
    *report = restore_report(file, r);
    after = cJSON_PrintUnformatted(*report);
    rc = after != NULL
         ? cp_changelog(ctl->db, "registry", "restore", NULL, after) : -1;
    cJSON_free(after);
    if (rc != 0) {
        return cp_refuse(ctl->db, "restore: change log: %s",
                         sqlite3_errmsg(ctl->db));
    }
    return cp_tx_commit(ctl->db);
}

int
cmd_restore(ctl_t *ctl, int argc, char **argv)
{
    char          staging[PATH_MAX + 64];
    sqlite3_stmt *st;
    restore_t     r;
    cJSON        *rep = NULL;
    int           rc = CP_EXIT_REFUSED;

    if (argc != 2 || argv[1][0] == '-') {
        cp_bad("restore: needs FILE");
        return ctl_usage(ctl_find("restore"));
    }
    /* the file is named in the report and in the change log */
    if (cp_text_arg("restore", "FILE", argv[1], PATH_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    if (access(argv[1], R_OK) != 0) {
        return cp_refuse(NULL, "restore %s: %s", argv[1], strerror(errno));
    }
    if (access(ctl->db_path, F_OK) != 0) {
        /* nothing to keep: restoring into a lost registry */
        ctl->db = cp_db_open(ctl->db_path, 1);
        if (ctl->db == NULL) {
            return CP_EXIT_REFUSED;
        }
    }
    if (ctl->db == NULL && ctl_open(ctl) != 0) {
        return CP_EXIT_REFUSED;
    } else {
        const char *why;
        if (cp_db_migrate(ctl->db, &why) != 0) {
            return cp_refuse(NULL, "restore: %s: %s", ctl->db_path, why);
        }
    }
    if (cp_path(staging, sizeof(staging), "%s.restore-%d", ctl->db_path,
                (int) getpid()) != 0)
    {
        return cp_refuse(NULL, "restore: path too long");
    }
    memset(&r, 0, sizeof(r));
    if (stage(argv[1], staging, &r.last) != 0) {
        unlink_db(staging);
        return CP_EXIT_REFUSED;
    }

    /* the whole swap is one transaction of the live registry: lgspd and
     * other lgspctl runs see the registry before or after, never between */
    st = cp_db_prepare(ctl->db, "ATTACH DATABASE ?1 AS bk");
    if (st == NULL) {
        goto out;
    }
    sqlite3_bind_text(st, 1, staging, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        cp_err("restore: %s", sqlite3_errmsg(ctl->db));
        rc = CP_EXIT_REFUSED;
        goto out;
    }
    rc = CP_EXIT_REFUSED;
    sqlite3_exec(ctl->db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL);
    if (cp_tx_begin(ctl->db) == 0) {
        rc = restore_swap(ctl, argv[1], &r, &rep);
    }
    if (rc == CP_EXIT_OK) {
        if (ctl->json) {
            cp_json_print(rep);
            rep = NULL;
        } else {
            restore_print(rep, &r);
        }
    }
    cJSON_Delete(rep);
    sqlite3_exec(ctl->db, "DETACH DATABASE bk", NULL, NULL, NULL);
    sqlite3_exec(ctl->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
out:
    unlink_db(staging);
    return rc;
}
