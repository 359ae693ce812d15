#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cp_changelog.h"
#include "cp_util.h"

static const char *
os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());

    return pw ? pw->pw_name : "unknown";
}

int
cp_changelog(sqlite3 *db, const char *object, const char *action,
             const char *before, const char *after)
{
    sqlite3_stmt *st;
    const char   *op = getenv("LGSP_OPERATOR");
    int           rc;

    if (sqlite3_prepare_v2(db,
            "INSERT INTO change_log (at_ms, os_user, operator, object,"
            " action, before, after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            -1, &st, NULL) != SQLITE_OK)
    {
        return -1;
    }
    sqlite3_bind_int64(st, 1, cp_now_ms());
    sqlite3_bind_text(st, 2, os_user(), -1, SQLITE_TRANSIENT);
    if (op != NULL && *op != '\0') {
        sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(st, 4, object, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
    if (before != NULL) {
        sqlite3_bind_text(st, 6, before, -1, SQLITE_STATIC);
    }
    if (after != NULL) {
        sqlite3_bind_text(st, 7, after, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static int
redacted(const char *name, const char *const *redact)
{
    for (; redact && *redact; redact++) {
        if (strcmp(name, *redact) == 0) {
            return 1;
        }
    }
    return 0;
}

char *
cp_row_json(sqlite3 *db, const char *table, long long id,
            const char *const *redact)
{
    static const char *const tables[] = {
        "agencies", "systems", "services", "versions", "grants",
        "credentials", "signing_keys", "issuers", "requests", "notices",
    };
    sqlite3_stmt *st;
    char          sql[128], *out = NULL;
    cJSON        *o;
    int           known = 0;

    /* the table name cannot be bound: accept only the registry's own */
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        known |= strcmp(table, tables[i]) == 0;
    }
    if (!known) {
        return NULL;
    }
    snprintf(sql, sizeof(sql), "SELECT * FROM %s WHERE id = ?1", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *name = sqlite3_column_name(st, c);

            if (redacted(name, redact)) {
                continue;
            }
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_INTEGER:
                cJSON_AddNumberToObject(o, name,
                                        (double) sqlite3_column_int64(st, c));
                break;
            case SQLITE_FLOAT:
                cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, c));
                break;
            case SQLITE_TEXT:
                cJSON_AddStringToObject(o, name,
                                    (const char *) sqlite3_column_text(st, c));
                break;
            case SQLITE_BLOB:
                /* keys and hashes: their presence, never their bytes */
                cJSON_AddStringToObject(o, name, "(binary)");
                break;
            default:
                cJSON_AddNullToObject(o, name);
            }
        }
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    sqlite3_finalize(st);
    return out;
}
