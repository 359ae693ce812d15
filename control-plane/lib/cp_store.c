#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_migrations.h"

/*
 * SQLite makes a new database with 0644 less the umask, and its -wal and
 * -shm with the database's mode: the file made here first, 0600, is what
 * they all take.  Files an older release made are tightened too.
 */
int
cp_db_private(const char *path)
{
    static const char *const  sidecars[] = { "-wal", "-shm", "-journal" };
    char                      side[PATH_MAX + 64];
    int                       fd, rc;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, CP_DB_MODE);
    if (fd < 0) {
        return -1;
    }
    rc = fchmod(fd, CP_DB_MODE);
    close(fd);
    for (size_t i = 0; rc == 0 && i < sizeof(sidecars) / sizeof(sidecars[0]);
         i++)
    {
        if (cp_path(side, sizeof(side), "%s%s", path, sidecars[i]) != 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (chmod(side, CP_DB_MODE) != 0 && errno != ENOENT) {
            rc = -1;
        }
    }
    return rc;
}

sqlite3 *
cp_db_open(const char *path, int create)
{
    sqlite3 *db;
    int      flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    if (create) {
        if (cp_db_private(path) != 0) {
            cp_err("%s: %s", path, strerror(errno));
            return NULL;
        }
        flags |= SQLITE_OPEN_CREATE;
    }
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        cp_err("%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;"
                     " PRAGMA synchronous=NORMAL;", NULL, NULL, NULL)
        != SQLITE_OK)
    {
        cp_err("%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int
cp_db_latest(void)
{
    return (int) LGSP_MIGRATIONS_N;
}

int
cp_db_version(sqlite3 *db)
{
    return (int) cp_db_int(db, "PRAGMA user_version", -1);
}

int
cp_db_migrate(sqlite3 *db, const char **why)
{
    return cp_db_migrate_list(db, lgsp_migrations, cp_db_latest(), why);
}

int
cp_db_migrate_list(sqlite3 *db, const char *const *migrations, int latest,
                   const char **why)
{
    int  have = cp_db_version(db);
    char pragma[64];

    if (have < 0) {
        *why = "cannot read the layout version";
        return -1;
    }
    if (have > latest) {
        *why = "the database is newer than this program; upgrade LGSP";
        return -1;
    }
    for (int n = have + 1; n <= latest; n++) {
        if (cp_db_begin(db) != 0) {
            *why = sqlite3_errmsg(db);
            return -1;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", n);
        if (sqlite3_exec(db, migrations[n - 1], NULL, NULL, NULL)
                != SQLITE_OK
            || sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK)
        {
            *why = sqlite3_errmsg(db);
            cp_db_rollback(db);
            return -1;
        }
        if (cp_db_commit(db) != 0) {
            *why = sqlite3_errmsg(db);
            return -1;
        }
    }
    return 0;
}

int
cp_db_begin(sqlite3 *db)
{
    return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
           ? 0 : -1;
}

int
cp_db_commit(sqlite3 *db)
{
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void
cp_db_rollback(sqlite3 *db)
{
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

sqlite3_stmt *
cp_db_prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        cp_err("database: %s", sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

long long
cp_db_int(sqlite3 *db, const char *sql, long long dflt)
{
    sqlite3_stmt *st;
    long long     v = dflt;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return dflt;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}
