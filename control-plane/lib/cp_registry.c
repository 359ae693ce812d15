/* Registry lookups and the JSON operators see: ids, codes, never secrets. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cp_changelog.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_text.h"
#include "cp_time.h"
#include "cp_util.h"

static void
copy_text(char *out, size_t size, sqlite3_stmt *st, int col)
{
    const char *s = (const char *) sqlite3_column_text(st, col);

    snprintf(out, size, "%s", s ? s : "");
}

/*
 * The one row of sql whose ?1 is key (and ?2 the service, for a version):
 * 1 with *out at the row, for the caller to read and finalize; 0 none;
 * -1 error (printed).
 */
static int
find_row(sqlite3 *db, const char *sql, const char *key, long long service_id,
         sqlite3_stmt **out)
{
    sqlite3_stmt *st;
    int           rc;

    st = cp_db_prepare(db, sql);
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) > 1) {
        sqlite3_bind_int64(st, 2, service_id);
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = st;
        return 1;
    }
    if (rc != SQLITE_DONE) {
        cp_err("registry: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
cp_find_agency(sqlite3 *db, const char *code, cp_agency_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    rc = find_row(db, "SELECT a.id, a.code, a.state = 'closed'"
                      " FROM agency_codes c JOIN agencies a"
                      " ON a.id = c.agency_id WHERE c.code = ?1",
                  code, 0, &st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->code, sizeof(out->code), st, 1);
        out->closed = sqlite3_column_int(st, 2);
        sqlite3_finalize(st);
    }
    return rc;
}

int
cp_find_system(sqlite3 *db, const char *ident, cp_system_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    rc = find_row(db, "SELECT s.id, s.ident, s.agency_id,"
                      " a.state = 'closed', s.suspended,"
                      " coalesce(s.security_level, 0),"
                      " s.commitment_signed_by IS NOT NULL,"
                      " s.allow_link_local"
                      " FROM systems s JOIN agencies a ON a.id = s.agency_id"
                      " WHERE s.ident = ?1", ident, 0, &st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->ident, sizeof(out->ident), st, 1);
        out->agency_id = sqlite3_column_int64(st, 2);
        out->agency_closed = sqlite3_column_int(st, 3);
        out->suspended = sqlite3_column_int(st, 4);
        out->security_level = sqlite3_column_int(st, 5);
        out->committed = sqlite3_column_int(st, 6);
        out->allow_link_local = sqlite3_column_int(st, 7);
        sqlite3_finalize(st);
    }
    return rc;
}

int
cp_find_service(sqlite3 *db, const char *code, cp_service_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    rc = find_row(db, "SELECT v.id, v.code, v.provider_system_id,"
                      " v.suspended, coalesce(v.end_at, 0),"
                      " a.state = 'closed', s.allow_link_local"
                      " FROM services v JOIN systems s"
                      " ON s.id = v.provider_system_id"
                      " JOIN agencies a ON a.id = s.agency_id"
                      " WHERE v.code = ?1", code, 0, &st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->code, sizeof(out->code), st, 1);
        out->provider_id = sqlite3_column_int64(st, 2);
        out->suspended = sqlite3_column_int(st, 3);
        out->end_at = sqlite3_column_int64(st, 4);
        out->provider_closed = sqlite3_column_int(st, 5);
        out->provider_allow_link_local = sqlite3_column_int(st, 6);
        sqlite3_finalize(st);
    }
    return rc;
}

int
cp_find_version(sqlite3 *db, long long service_id, const char *version,
                cp_version_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    rc = find_row(db, "SELECT id, service_id, version, state, suspended,"
                      " coalesce(published_at, 0), coalesce(sunset_at, 0)"
                      " FROM versions WHERE version = ?1 AND service_id = ?2",
                  version, service_id, &st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        out->service_id = sqlite3_column_int64(st, 1);
        copy_text(out->version, sizeof(out->version), st, 2);
        copy_text(out->state, sizeof(out->state), st, 3);
        out->suspended = sqlite3_column_int(st, 4);
        out->published_at = sqlite3_column_int64(st, 5);
        out->sunset_at = sqlite3_column_int64(st, 6);
        sqlite3_finalize(st);
    }
    return rc;
}

/* --- JSON views ---------------------------------------------------------- */

/* How one column of a view's row becomes a JSON member; NULL stays null. */
typedef enum {
    F_TEXT,
    F_INT,
    F_BOOL,                 /* 0/1 column, never null */
    F_DATE,                 /* a stored city-day start, as the date given */
    F_SECONDS,              /* milliseconds shown as seconds, never null */
    F_LIST,                 /* "a,b,c" as an array of strings */
    F_END
} field_kind_t;

typedef struct {
    const char    *name;
    field_kind_t   kind;
    int            col;
} field_t;

static void
add_list(cJSON *o, const char *name, const char *p)
{
    cJSON *a = cJSON_AddArrayToObject(o, name);

    while (p != NULL && *p) {
        size_t n = strcspn(p, ",");
        char   tok[16];

        snprintf(tok, sizeof(tok), "%.*s", (int) n, p);
        cJSON_AddItemToArray(a, cJSON_CreateString(tok));
        p += n + (p[n] == ',');
    }
}

static void
add_fields(cJSON *o, sqlite3_stmt *st, const field_t *f)
{
    char d[16];

    for (; f->kind != F_END; f++) {
        int null = sqlite3_column_type(st, f->col) == SQLITE_NULL;

        switch (f->kind) {
        case F_BOOL:
            cJSON_AddBoolToObject(o, f->name,
                                  sqlite3_column_int(st, f->col) != 0);
            continue;
        case F_SECONDS:
            cJSON_AddNumberToObject(o, f->name,
                                    sqlite3_column_int64(st, f->col) / 1000.0);
            continue;
        case F_LIST:
            add_list(o, f->name,
                     (const char *) sqlite3_column_text(st, f->col));
            continue;
        default:
            break;
        }
        if (null) {
            cJSON_AddNullToObject(o, f->name);
        } else if (f->kind == F_TEXT) {
            cJSON_AddStringToObject(o, f->name,
                (const char *) sqlite3_column_text(st, f->col));
        } else if (f->kind == F_INT) {
            cJSON_AddNumberToObject(o, f->name,
                (double) sqlite3_column_int64(st, f->col));
        } else {
            cp_date_format(sqlite3_column_int64(st, f->col), d, sizeof(d));
            cJSON_AddStringToObject(o, f->name, d);
        }
    }
}

/* The row of sql (?1 = id) as an object, or NULL when there is none. */
static cJSON *
view(sqlite3 *db, const char *sql, long long id, const field_t *fields)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL;

    st = cp_db_prepare(db, sql);
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_fields(o, st, fields);
    }
    sqlite3_finalize(st);
    return o;
}

cJSON *
cp_agency_json(sqlite3 *db, long long id)
{
    static const field_t fields[] = {
        { "code", F_TEXT, 0 }, { "name", F_TEXT, 1 },
        { "parent", F_TEXT, 2 }, { "state", F_TEXT, 3 },
        { "close_reason", F_TEXT, 4 }, { "closed_at", F_INT, 5 },
        { "created_at", F_INT, 6 }, { "internal_id", F_INT, 7 },
        { NULL, F_END, 0 }
    };
    sqlite3_stmt *st;
    cJSON        *o, *aliases, *former;

    o = view(db, "SELECT a.code, a.name, p.code, a.state, a.close_reason,"
                 " a.closed_at, a.created_at, a.id"
                 " FROM agencies a LEFT JOIN agencies p"
                 " ON p.id = a.parent_id WHERE a.id = ?1", id, fields);
    if (o == NULL) {
        return NULL;
    }

    aliases = cJSON_AddArrayToObject(o, "aliases");
    former = cJSON_AddArrayToObject(o, "former_codes");
    st = cp_db_prepare(db, "SELECT code, kind FROM agency_codes"
                           " WHERE agency_id = ?1 AND kind != 'canonical'"
                           " ORDER BY code");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *kind = (const char *) sqlite3_column_text(st, 1);
            cJSON_AddItemToArray(strcmp(kind, "alias") == 0 ? aliases : former,
                cJSON_CreateString((const char *) sqlite3_column_text(st, 0)));
        }
        sqlite3_finalize(st);
    }
    return o;
}

cJSON *
cp_system_json(sqlite3 *db, long long id)
{
    static const field_t head[] = {
        { "id", F_TEXT, 0 }, { "internal_id", F_INT, 1 },
        { "agency", F_TEXT, 2 }, { "name", F_TEXT, 3 },
        { "health_url", F_TEXT, 4 }, { "poll_interval", F_INT, 5 },
        { "security_level", F_INT, 6 },
        { NULL, F_END, 0 }
    }, commitment[] = {
        { "signed_by", F_TEXT, 7 }, { "date", F_TEXT, 8 },
        { NULL, F_END, 0 }
    }, tail[] = {
        { "suspended", F_BOOL, 9 }, { "suspend_reason", F_TEXT, 10 },
        { "created_at", F_INT, 11 }, { "agency_closed", F_BOOL, 12 },
        { "allow_link_local", F_BOOL, 13 },
        { NULL, F_END, 0 }
    };
    sqlite3_stmt *st;
    cJSON        *o = NULL;

    st = cp_db_prepare(db, "SELECT s.ident, s.id, a.code, s.name,"
                           " s.health_url, s.poll_interval, s.security_level,"
                           " s.commitment_signed_by, s.commitment_date,"
                           " s.suspended, s.suspend_reason, s.created_at,"
                           " a.state = 'closed', s.allow_link_local"
                           " FROM systems s JOIN agencies a"
                           " ON a.id = s.agency_id WHERE s.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_fields(o, st, head);
        /* a commitment is one object or null, never half of one */
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "commitment");
        } else {
            add_fields(cJSON_AddObjectToObject(o, "commitment"), st,
                       commitment);
        }
        add_fields(o, st, tail);
    }
    sqlite3_finalize(st);
    return o;
}

cJSON *
cp_version_json(sqlite3 *db, long long id)
{
    static const field_t fields[] = {
        { "route", F_TEXT, 24 },
        { "service", F_TEXT, 0 }, { "version", F_TEXT, 1 },
        { "internal_id", F_INT, 2 }, { "state", F_TEXT, 3 },
        { "upstream", F_TEXT, 4 }, { "sandbox_upstream", F_TEXT, 5 },
        { "methods", F_LIST, 6 }, { "rate", F_INT, 7 },
        { "burst", F_INT, 8 }, { "timeout", F_SECONDS, 9 },
        { "body_limit", F_INT, 10 }, { "health_url", F_TEXT, 11 },
        { "fail_fast", F_BOOL, 12 },
        /* the credential itself is never shown, only that there is one */
        { "upstream_credential", F_BOOL, 13 },
        { "sandbox_at", F_INT, 14 }, { "published_at", F_INT, 15 },
        { "deprecated_at", F_INT, 16 }, { "sunset_at", F_INT, 17 },
        { "sunset", F_DATE, 17 }, { "retired_at", F_INT, 18 },
        { "successor", F_TEXT, 19 }, { "lifecycle_reason", F_TEXT, 20 },
        { "suspended", F_BOOL, 21 }, { "suspend_reason", F_TEXT, 22 },
        { "created_at", F_INT, 23 },
        { NULL, F_END, 0 }
    };

    return view(db, "SELECT s.code, v.version, v.id, v.state, v.upstream,"
                    " v.sandbox_upstream, v.methods, v.rate, v.burst,"
                    " v.timeout_ms, v.body_limit, v.health_url, v.fail_fast,"
                    " v.upstream_header IS NOT NULL, v.sandbox_at,"
                    " v.published_at, v.deprecated_at, v.sunset_at,"
                    " v.retired_at, s.code || '/' || w.version,"
                    " v.lifecycle_reason, v.suspended, v.suspend_reason,"
                    " v.created_at, s.code || '/' || v.version"
                    " FROM versions v JOIN services s ON s.id = v.service_id"
                    " LEFT JOIN versions w ON w.id = v.successor_id"
                    " WHERE v.id = ?1", id, fields);
}

cJSON *
cp_service_json(sqlite3 *db, long long id)
{
    static const field_t fields[] = {
        { "id", F_TEXT, 0 }, { "code", F_TEXT, 0 },
        { "internal_id", F_INT, 1 }, { "provider", F_TEXT, 2 },
        { "provider_agency", F_TEXT, 3 }, { "name", F_TEXT, 4 },
        { "purpose", F_TEXT, 5 }, { "end_at", F_INT, 6 },
        { "end_date", F_DATE, 6 }, { "end_reason", F_TEXT, 7 },
        { "suspended", F_BOOL, 8 }, { "suspend_reason", F_TEXT, 9 },
        { "created_at", F_INT, 10 },
        { NULL, F_END, 0 }
    };
    sqlite3_stmt *st;
    cJSON        *o, *vs;

    o = view(db, "SELECT v.code, v.id, s.ident, a.code, v.name,"
                 " v.purpose, v.end_at, v.end_reason, v.suspended,"
                 " v.suspend_reason, v.created_at"
                 " FROM services v JOIN systems s"
                 " ON s.id = v.provider_system_id"
                 " JOIN agencies a ON a.id = s.agency_id"
                 " WHERE v.id = ?1", id, fields);
    if (o == NULL) {
        return NULL;
    }
    vs = cJSON_AddArrayToObject(o, "versions");
    st = cp_db_prepare(db, "SELECT id FROM versions WHERE service_id = ?1"
                           " ORDER BY id");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW) {
            cJSON *v = cp_version_json(db, sqlite3_column_int64(st, 0));
            if (v != NULL) {
                cJSON_AddItemToArray(vs, v);
            }
        }
        sqlite3_finalize(st);
    }
    return o;
}

cJSON *
cp_grant_json(sqlite3 *db, long long id)
{
    static const field_t fields[] = {
        { "id", F_INT, 0 }, { "consumer", F_TEXT, 1 },
        { "consumer_agency", F_TEXT, 2 }, { "service", F_TEXT, 3 },
        { "provider", F_TEXT, 4 }, { "provider_agency", F_TEXT, 5 },
        { "env", F_TEXT, 6 }, { "rate", F_INT, 7 }, { "burst", F_INT, 8 },
        { "quota", F_INT, 9 }, { "state", F_TEXT, 10 },
        { "reason", F_TEXT, 11 }, { "request_id", F_INT, 12 },
        { "created_at", F_INT, 13 }, { "revoked_at", F_INT, 14 },
        { NULL, F_END, 0 }
    };

    return view(db, "SELECT g.id, c.ident, ca.code, s.code || '/' ||"
                    " v.version, p.ident, pa.code, g.env, g.rate, g.burst,"
                    " g.quota, g.state, g.reason, g.request_id,"
                    " g.created_at, g.revoked_at"
                    " FROM grants g"
                    " JOIN systems c ON c.id = g.consumer_system_id"
                    " JOIN agencies ca ON ca.id = c.agency_id"
                    " JOIN versions v ON v.id = g.version_id"
                    " JOIN services s ON s.id = v.service_id"
                    " JOIN systems p ON p.id = s.provider_system_id"
                    " JOIN agencies pa ON pa.id = p.agency_id"
                    " WHERE g.id = ?1", id, fields);
}

/* --- change log -------------------------------------------------------- */

char *
cp_change_row(sqlite3 *db, const char *table, long long id)
{
    static const char *const secrets[] = {
        "upstream_header", "secret_hash", NULL
    };
    char   *row;
    cJSON  *o;
    long long has;
    sqlite3_stmt *st;

    row = cp_row_json(db, table, id, secrets);
    if (row == NULL || strcmp(table, "versions") != 0) {
        return row;
    }
    st = cp_db_prepare(db, "SELECT upstream_header IS NOT NULL FROM versions"
                     " WHERE id = ?1");
    if (st == NULL) {
        return row;
    }
    sqlite3_bind_int64(st, 1, id);
    has = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    o = cJSON_Parse(row);
    free(row);
    if (o == NULL) {
        return NULL;
    }
    cJSON_AddBoolToObject(o, "upstream_credential", has != 0);
    row = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return row;
}

int
cp_record(sqlite3 *db, const char *table, long long id, const char *object,
          const char *action, char *before)
{
    char *after = cp_change_row(db, table, id);
    int   rc;

    rc = cp_changelog(db, object, action, before, after);
    if (rc != 0) {
        cp_err("change log: %s", sqlite3_errmsg(db));
    }
    free(before);
    free(after);
    return rc;
}

void
cp_json_print(cJSON *doc)
{
    char *s = cJSON_PrintUnformatted(doc);

    /* cJSON passes string bytes through as they are */
    if (s != NULL) {
        cp_utf8_write(stdout, s, strlen(s));
        putchar('\n');
        cJSON_free(s);
    }
    cJSON_Delete(doc);
}
