#include <stdio.h>

#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_migrations.h"

sqlite3 *
cp_db_open(const char *path, int create)
{
    sqlite3 *db;
    int      flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

    if (create) {
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
    return cp_db_migrate_with(db, lgsp_migrations, cp_db_latest(), why);
}

int
cp_db_migrate_with(sqlite3 *db, const char *const *migrations, int n,
                   const char **why)
{
    int  have = cp_db_version(db);
    char pragma[64];

    if (have < 0) {
        *why = "cannot read the layout version";
        return -1;
    }
    if (have > n) {
        *why = "the database is newer than this program; upgrade LGSP";
        return -1;
    }
    for (int v = have + 1; v <= n; v++) {
        if (cp_db_begin(db) != 0) {
            *why = sqlite3_errmsg(db);
            return -1;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v);
        if (sqlite3_exec(db, migrations[v - 1], NULL, NULL, NULL)
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
