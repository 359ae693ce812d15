/* Registry lookups and the JSON operators see: ids, codes, never secrets. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "cp_changelog.h"
#include "cp_registry.h"
#include "cp_time.h"
#include "cp_util.h"

static sqlite3_stmt *
prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        cp_err("registry: %s", sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

static void
copy_text(char *out, size_t size, sqlite3_stmt *st, int col)
{
    const char *s = (const char *) sqlite3_column_text(st, col);

    snprintf(out, size, "%s", s ? s : "");
}

/* step once: 1 row, 0 none, -1 error */
static int
step_one(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        return 1;
    }
    if (rc == SQLITE_DONE) {
        return 0;
    }
    cp_err("registry: %s", sqlite3_errmsg(db));
    return -1;
}

int
cp_find_agency(sqlite3 *db, const char *code, cp_agency_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    st = prepare(db, "SELECT a.id, a.code, a.state = 'closed'"
                     " FROM agency_codes c JOIN agencies a"
                     " ON a.id = c.agency_id WHERE c.code = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    rc = step_one(db, st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->code, sizeof(out->code), st, 1);
        out->closed = sqlite3_column_int(st, 2);
    }
    sqlite3_finalize(st);
    return rc;
}

int
cp_find_system(sqlite3 *db, const char *ident, cp_system_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    st = prepare(db, "SELECT s.id, s.ident, s.agency_id,"
                     " a.state = 'closed', s.suspended,"
                     " coalesce(s.security_level, 0),"
                     " s.commitment_signed_by IS NOT NULL"
                     " FROM systems s JOIN agencies a ON a.id = s.agency_id"
                     " WHERE s.ident = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, ident, -1, SQLITE_STATIC);
    rc = step_one(db, st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->ident, sizeof(out->ident), st, 1);
        out->agency_id = sqlite3_column_int64(st, 2);
        out->agency_closed = sqlite3_column_int(st, 3);
        out->suspended = sqlite3_column_int(st, 4);
        out->security_level = sqlite3_column_int(st, 5);
        out->committed = sqlite3_column_int(st, 6);
    }
    sqlite3_finalize(st);
    return rc;
}

int
cp_find_service(sqlite3 *db, const char *code, cp_service_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    st = prepare(db, "SELECT v.id, v.code, v.provider_system_id,"
                     " v.suspended, coalesce(v.end_at, 0),"
                     " a.state = 'closed'"
                     " FROM services v JOIN systems s"
                     " ON s.id = v.provider_system_id"
                     " JOIN agencies a ON a.id = s.agency_id"
                     " WHERE v.code = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    rc = step_one(db, st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        copy_text(out->code, sizeof(out->code), st, 1);
        out->provider_id = sqlite3_column_int64(st, 2);
        out->suspended = sqlite3_column_int(st, 3);
        out->end_at = sqlite3_column_int64(st, 4);
        out->provider_closed = sqlite3_column_int(st, 5);
    }
    sqlite3_finalize(st);
    return rc;
}

int
cp_find_version(sqlite3 *db, long long service_id, const char *version,
                cp_version_ref_t *out)
{
    sqlite3_stmt *st;
    int           rc;

    st = prepare(db, "SELECT id, service_id, version, state, suspended,"
                     " coalesce(published_at, 0), coalesce(sunset_at, 0)"
                     " FROM versions WHERE service_id = ?1 AND version = ?2");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, service_id);
    sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC);
    rc = step_one(db, st);
    if (rc == 1) {
        out->id = sqlite3_column_int64(st, 0);
        out->service_id = sqlite3_column_int64(st, 1);
        copy_text(out->version, sizeof(out->version), st, 2);
        copy_text(out->state, sizeof(out->state), st, 3);
        out->suspended = sqlite3_column_int(st, 4);
        out->published_at = sqlite3_column_int64(st, 5);
        out->sunset_at = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    return rc;
}

/* --- JSON views ---------------------------------------------------------- */

static void
add_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, name);
    } else {
        cJSON_AddStringToObject(o, name,
                                (const char *) sqlite3_column_text(st, col));
    }
}

static void
add_int(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, name);
    } else {
        cJSON_AddNumberToObject(o, name,
                                (double) sqlite3_column_int64(st, col));
    }
}

static void
add_bool(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    cJSON_AddBoolToObject(o, name, sqlite3_column_int(st, col) != 0);
}

/* a stored city-day start as the date the operator gave */
static void
add_date(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    char d[16];

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    cp_date_format(sqlite3_column_int64(st, col), d, sizeof(d));
    cJSON_AddStringToObject(o, name, d);
}

cJSON *
cp_agency_json(sqlite3 *db, long long id)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL, *aliases, *former;

    st = prepare(db, "SELECT a.code, a.name, p.code, a.state, a.close_reason,"
                     " a.closed_at, a.created_at, a.id"
                     " FROM agencies a LEFT JOIN agencies p"
                     " ON p.id = a.parent_id WHERE a.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_text(o, "code", st, 0);
        add_text(o, "name", st, 1);
        add_text(o, "parent", st, 2);
        add_text(o, "state", st, 3);
        add_text(o, "close_reason", st, 4);
        add_int(o, "closed_at", st, 5);
        add_int(o, "created_at", st, 6);
        add_int(o, "internal_id", st, 7);
    }
    sqlite3_finalize(st);
    if (o == NULL) {
        return NULL;
    }

    aliases = cJSON_AddArrayToObject(o, "aliases");
    former = cJSON_AddArrayToObject(o, "former_codes");
    st = prepare(db, "SELECT code, kind FROM agency_codes"
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
    sqlite3_stmt *st;
    cJSON        *o = NULL, *c;

    st = prepare(db, "SELECT s.ident, s.id, a.code, s.name, s.health_url,"
                     " s.poll_interval, s.security_level,"
                     " s.commitment_signed_by, s.commitment_date,"
                     " s.suspended, s.suspend_reason, s.created_at,"
                     " a.state = 'closed'"
                     " FROM systems s JOIN agencies a ON a.id = s.agency_id"
                     " WHERE s.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_text(o, "id", st, 0);
        add_int(o, "internal_id", st, 1);
        add_text(o, "agency", st, 2);
        add_text(o, "name", st, 3);
        add_text(o, "health_url", st, 4);
        add_int(o, "poll_interval", st, 5);
        add_int(o, "security_level", st, 6);
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "commitment");
        } else {
            c = cJSON_AddObjectToObject(o, "commitment");
            add_text(c, "signed_by", st, 7);
            add_text(c, "date", st, 8);
        }
        add_bool(o, "suspended", st, 9);
        add_text(o, "suspend_reason", st, 10);
        add_int(o, "created_at", st, 11);
        add_bool(o, "agency_closed", st, 12);
    }
    sqlite3_finalize(st);
    return o;
}

cJSON *
cp_version_json(sqlite3 *db, long long id)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL, *m;
    char          route[CP_SERVICE_CODE_MAX + CP_VERSION_MAX + 2];

    st = prepare(db, "SELECT s.code, v.version, v.id, v.state, v.upstream,"
                     " v.sandbox_upstream, v.methods, v.rate, v.burst,"
                     " v.timeout_ms, v.body_limit, v.health_url, v.fail_fast,"
                     " v.upstream_header IS NOT NULL, v.sandbox_at,"
                     " v.published_at, v.deprecated_at, v.sunset_at,"
                     " v.retired_at, s.code || '/' || w.version,"
                     " v.lifecycle_reason, v.suspended, v.suspend_reason,"
                     " v.created_at"
                     " FROM versions v JOIN services s ON s.id = v.service_id"
                     " LEFT JOIN versions w ON w.id = v.successor_id"
                     " WHERE v.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        snprintf(route, sizeof(route), "%s/%s", sqlite3_column_text(st, 0),
                 sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(o, "route", route);
        add_text(o, "service", st, 0);
        add_text(o, "version", st, 1);
        add_int(o, "internal_id", st, 2);
        add_text(o, "state", st, 3);
        add_text(o, "upstream", st, 4);
        add_text(o, "sandbox_upstream", st, 5);
        m = cJSON_AddArrayToObject(o, "methods");
        for (const char *p = (const char *) sqlite3_column_text(st, 6);
             p && *p; )
        {
            size_t n = strcspn(p, ",");
            char   tok[16];

            snprintf(tok, sizeof(tok), "%.*s", (int) n, p);
            cJSON_AddItemToArray(m, cJSON_CreateString(tok));
            p += n + (p[n] == ',');
        }
        add_int(o, "rate", st, 7);
        add_int(o, "burst", st, 8);
        cJSON_AddNumberToObject(o, "timeout",
                                sqlite3_column_int64(st, 9) / 1000.0);
        add_int(o, "body_limit", st, 10);
        add_text(o, "health_url", st, 11);
        add_bool(o, "fail_fast", st, 12);
        /* the credential itself is never shown, only that there is one */
        add_bool(o, "upstream_credential", st, 13);
        add_int(o, "sandbox_at", st, 14);
        add_int(o, "published_at", st, 15);
        add_int(o, "deprecated_at", st, 16);
        add_int(o, "sunset_at", st, 17);
        add_date(o, "sunset", st, 17);
        add_int(o, "retired_at", st, 18);
        add_text(o, "successor", st, 19);
        add_text(o, "lifecycle_reason", st, 20);
        add_bool(o, "suspended", st, 21);
        add_text(o, "suspend_reason", st, 22);
        add_int(o, "created_at", st, 23);
    }
    sqlite3_finalize(st);
    return o;
}

cJSON *
cp_service_json(sqlite3 *db, long long id)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL, *vs;

    st = prepare(db, "SELECT v.code, v.id, s.ident, a.code, v.name,"
                     " v.purpose, v.end_at, v.end_reason, v.suspended,"
                     " v.suspend_reason, v.created_at"
                     " FROM services v JOIN systems s"
                     " ON s.id = v.provider_system_id"
                     " JOIN agencies a ON a.id = s.agency_id"
                     " WHERE v.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_text(o, "id", st, 0);
        add_text(o, "code", st, 0);
        add_int(o, "internal_id", st, 1);
        add_text(o, "provider", st, 2);
        add_text(o, "provider_agency", st, 3);
        add_text(o, "name", st, 4);
        add_text(o, "purpose", st, 5);
        add_int(o, "end_at", st, 6);
        add_date(o, "end_date", st, 6);
        add_text(o, "end_reason", st, 7);
        add_bool(o, "suspended", st, 8);
        add_text(o, "suspend_reason", st, 9);
        add_int(o, "created_at", st, 10);
    }
    sqlite3_finalize(st);
    if (o == NULL) {
        return NULL;
    }
    vs = cJSON_AddArrayToObject(o, "versions");
    st = prepare(db, "SELECT id FROM versions WHERE service_id = ?1"
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
    sqlite3_stmt *st;
    cJSON        *o = NULL;

    st = prepare(db, "SELECT g.id, c.ident, ca.code, s.code || '/' ||"
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
                     " WHERE g.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        o = cJSON_CreateObject();
        add_int(o, "id", st, 0);
        add_text(o, "consumer", st, 1);
        add_text(o, "consumer_agency", st, 2);
        add_text(o, "service", st, 3);
        add_text(o, "provider", st, 4);
        add_text(o, "provider_agency", st, 5);
        add_text(o, "env", st, 6);
        add_int(o, "rate", st, 7);
        add_int(o, "burst", st, 8);
        add_int(o, "quota", st, 9);
        add_text(o, "state", st, 10);
        add_text(o, "reason", st, 11);
        add_int(o, "request_id", st, 12);
        add_int(o, "created_at", st, 13);
        add_int(o, "revoked_at", st, 14);
    }
    sqlite3_finalize(st);
    return o;
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
    st = prepare(db, "SELECT upstream_header IS NOT NULL FROM versions"
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

    if (s != NULL) {
        puts(s);
        cJSON_free(s);
    }
    cJSON_Delete(doc);
}
