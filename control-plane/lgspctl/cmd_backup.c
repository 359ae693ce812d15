/*
 * lgspctl backup FILE / restore FILE (SPEC §11).
 *
 * backup copies lgsp.db with SQLite's online backup API, so it is
 * consistent while lgspd and other lgspctl runs use the registry.
 *
 * restore never resurrects what was revoked or closed since the backup:
 * within one transaction on the live registry it takes the backup's rows,
 * then re-applies from the current registry every terminal state (grants,
 * credentials and signing keys revoked, agencies closed -- matched by id,
 * ids are never reused), keeps every change-log entry made since the
 * backup, and keeps sqlite_sequence at least where it was, so no id is
 * ever handed out twice.  Suspensions are reversible and are not carried.
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

/* Statements run with main = the live registry, bk = the backup staged.
 * Each carries something forward from main into bk; counted by name. */
static const struct {
    const char *count;      /* NULL: not counted */
    const char *sql;
} carry[] = {
    { NULL,
      "INSERT INTO bk.change_log (id, at_ms, os_user, operator, object,"
      " action, before, after) SELECT id, at_ms, os_user, operator, object,"
      " action, before, after FROM main.change_log"
      " WHERE id > (SELECT coalesce(max(id), 0) FROM bk.change_log)" },
    { "grants_revoked",
      "UPDATE bk.grants SET state = 'revoked',"
      " revoked_at = (SELECT g.revoked_at FROM main.grants g"
      "   WHERE g.id = grants.id),"
      " reason = coalesce((SELECT g.reason FROM main.grants g"
      "   WHERE g.id = grants.id), reason)"
      " WHERE state != 'revoked'"
      " AND id IN (SELECT id FROM main.grants WHERE state = 'revoked')" },
    { "credentials_revoked",
      "UPDATE bk.credentials SET state = 'revoked',"
      " revoked_at = (SELECT c.revoked_at FROM main.credentials c"
      "   WHERE c.id = credentials.id)"
      " WHERE state != 'revoked'"
      " AND id IN (SELECT id FROM main.credentials WHERE state = 'revoked')" },
    { "keys_revoked",
      "UPDATE bk.signing_keys SET state = 'revoked',"
      " revoked_at = (SELECT k.revoked_at FROM main.signing_keys k"
      "   WHERE k.id = signing_keys.id),"
      " revoke_reason = (SELECT k.revoke_reason FROM main.signing_keys k"
      "   WHERE k.id = signing_keys.id)"
      " WHERE state != 'revoked'"
      " AND id IN (SELECT id FROM main.signing_keys"
      "   WHERE state = 'revoked')" },
    /* an agency added and closed after the backup: its codes stay closed */
    { "agencies_closed",
      "INSERT INTO bk.agencies (id, code, name, parent_id, state,"
      " close_reason, closed_at, created_at)"
      " SELECT a.id, a.code, a.name, CASE WHEN a.parent_id IN"
      "   (SELECT id FROM bk.agencies) THEN a.parent_id END,"
      " 'closed', a.close_reason, a.closed_at, a.created_at"
      " FROM main.agencies a WHERE a.state = 'closed'"
      " AND a.id NOT IN (SELECT id FROM bk.agencies)" },
    { "agencies_closed",
      "UPDATE bk.agencies SET state = 'closed',"
      " code = (SELECT a.code FROM main.agencies a WHERE a.id = agencies.id),"
      " close_reason = (SELECT a.close_reason FROM main.agencies a"
      "   WHERE a.id = agencies.id),"
      " closed_at = (SELECT a.closed_at FROM main.agencies a"
      "   WHERE a.id = agencies.id)"
      " WHERE state != 'closed'"
      " AND id IN (SELECT id FROM main.agencies WHERE state = 'closed')" },
    /* a closed agency keeps every code it had (renames since included) */
    { NULL,
      "DELETE FROM bk.agency_codes WHERE agency_id IN"
      " (SELECT id FROM main.agencies WHERE state = 'closed')" },
    { NULL,
      "INSERT OR IGNORE INTO bk.agency_codes (code, agency_id, kind)"
      " SELECT code, agency_id, kind FROM main.agency_codes"
      " WHERE agency_id IN (SELECT id FROM main.agencies"
      "   WHERE state = 'closed')" },
    /* no id is ever handed out twice */
    { NULL,
      "INSERT INTO bk.sqlite_sequence (name, seq)"
      " SELECT name, seq FROM main.sqlite_sequence"
      " WHERE name NOT IN (SELECT name FROM bk.sqlite_sequence)" },
    { NULL,
      "UPDATE bk.sqlite_sequence SET seq = (SELECT m.seq FROM"
      " main.sqlite_sequence m WHERE m.name = sqlite_sequence.name)"
      " WHERE seq < (SELECT m.seq FROM main.sqlite_sequence m"
      "   WHERE m.name = sqlite_sequence.name)" },
};

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

/* Replace every table of main by bk's rows (bk carries main's since). */
static int
replace_tables(sqlite3 *db)
{
    sqlite3_stmt *st;
    char          sql[256];
    int           rc = 0;

    st = cp_db_prepare(db, "SELECT name FROM main.sqlite_master"
                           " WHERE type = 'table'"
                           " AND name NOT LIKE 'sqlite_%' ORDER BY name");
    if (st == NULL) {
        return -1;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *) sqlite3_column_text(st, 0);

        /* table names come from our own schema; still, only plain ones */
        if (strspn(t, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(t)
            || cp_path(sql, sizeof(sql), "DELETE FROM main.%s", t) != 0
            || run(db, sql) != 0
            || cp_path(sql, sizeof(sql),
                       "INSERT INTO main.%s SELECT * FROM bk.%s", t, t) != 0
            || run(db, sql) != 0)
        {
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    if (rc == 0
        && (run(db, "DELETE FROM main.sqlite_sequence") != 0
            || run(db, "INSERT INTO main.sqlite_sequence (name, seq)"
                       " SELECT name, seq FROM bk.sqlite_sequence") != 0))
    {
        rc = -1;
    }
    return rc;
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

int
cmd_restore(ctl_t *ctl, int argc, char **argv)
{
    static const char *const counts[] = {
        "grants_revoked", "credentials_revoked", "keys_revoked",
        "agencies_closed",
    };
    char          staging[PATH_MAX + 64];
    sqlite3_stmt *st;
    long long     last = 0, n[4] = { 0, 0, 0, 0 };
    cJSON        *rep;
    char         *after;
    int           rc = CP_EXIT_REFUSED;

    if (argc != 2 || argv[1][0] == '-') {
        cp_bad("restore: needs FILE");
        return ctl_usage(ctl_find("restore"));
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
    if (stage(argv[1], staging, &last) != 0) {
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
    if (cp_tx_begin(ctl->db) != 0) {
        goto detach;
    }
    for (size_t i = 0; i < sizeof(carry) / sizeof(carry[0]); i++) {
        if (run(ctl->db, carry[i].sql) != 0) {
            cp_refuse(ctl->db, "restore: %s", sqlite3_errmsg(ctl->db));
            goto detach;
        }
        for (size_t k = 0; carry[i].count && k < 4; k++) {
            if (strcmp(carry[i].count, counts[k]) == 0) {
                n[k] += sqlite3_changes(ctl->db);
            }
        }
    }
    if (replace_tables(ctl->db) != 0) {
        cp_refuse(ctl->db, "restore: %s", sqlite3_errmsg(ctl->db));
        goto detach;
    }
    rep = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "file", argv[1]);
    cJSON_AddNumberToObject(rep, "backup_last_change", (double) last);
    for (size_t k = 0; k < 4; k++) {
        cJSON_AddNumberToObject(rep, counts[k], (double) n[k]);
    }
    after = cJSON_PrintUnformatted(rep);
    if (cp_changelog(ctl->db, "registry", "restore", NULL, after) != 0) {
        cJSON_free(after);
        cJSON_Delete(rep);
        cp_refuse(ctl->db, "restore: change log: %s",
                  sqlite3_errmsg(ctl->db));
        goto detach;
    }
    cJSON_free(after);
    if ((rc = cp_tx_commit(ctl->db)) == CP_EXIT_OK) {
        if (ctl->json) {
            cp_json_print(rep);
            rep = NULL;
        } else {
            printf("restored %s (last change %lld); re-applied since:"
                   " %lld grants revoked, %lld credentials revoked,"
                   " %lld keys revoked, %lld agencies closed\n", argv[1],
                   last, n[0], n[1], n[2], n[3]);
        }
    }
    cJSON_Delete(rep);

detach:
    sqlite3_exec(ctl->db, "DETACH DATABASE bk", NULL, NULL, NULL);
    sqlite3_exec(ctl->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL);
out:
    unlink_db(staging);
    return rc;
}
