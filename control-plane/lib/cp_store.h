#ifndef CP_STORE_H
#define CP_STORE_H

#include <sqlite3.h>

/* Open an LGSP SQLite file: WAL, busy timeout, foreign keys.  create:
 * made if missing, and owner-only (cp_db_private) either way. */
sqlite3 *cp_db_open(const char *path, int create);

/* Databases hold credentials and the audit trail: make path if missing
 * and bring it and its -wal/-shm to CP_DB_MODE, whatever the umask.
 * 0, or -1 with errno. */
#define CP_DB_MODE  0600
int cp_db_private(const char *path);

/* Apply every migration this program knows, one transaction each.
 * Refuses (-1, message in *why) a database newer than the program. */
int cp_db_migrate(sqlite3 *db, const char **why);

/* The same for another database (audit.db): its own migrations. */
int cp_db_migrate_list(sqlite3 *db, const char *const *migrations, int n,
                       const char **why);

/* PRAGMA user_version. */
int cp_db_version(sqlite3 *db);

/* The newest layout this program knows. */
int cp_db_latest(void);

int cp_db_begin(sqlite3 *db);      /* BEGIN IMMEDIATE */
int cp_db_commit(sqlite3 *db);
void cp_db_rollback(sqlite3 *db);

/* Prepare or report: NULL on error with the message on stderr. */
sqlite3_stmt *cp_db_prepare(sqlite3 *db, const char *sql);

/* Run a one-shot statement that returns one integer (or dflt). */
long long cp_db_int(sqlite3 *db, const char *sql, long long dflt);

#endif /* CP_STORE_H */
