/*
 * lgspctl request add|list|approve|reject: Form 02, a consumer system's
 * request for a service version in an environment (Art. 10.2).  The
 * provider approves (which creates the grant, in the same transaction) or
 * rejects; a request still open after 5 working days is overdue.
 */

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_forms.h"
#include "cp_lifecycle.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"
#include "cp_workdays.h"

#define LIMIT_MAX     1000000
#define QUOTA_MAX     1000000000LL
#define PURPOSE_MAX   4000

enum {
    O_CONSUMER = 256, O_SERVICE, O_ENV, O_PURPOSE, O_SCOPE, O_FORM,
    O_PRINT, O_OVERDUE, O_RATE, O_BURST, O_QUOTA, O_BY, O_REASON,
};

static int
usage(void)
{
    return ctl_usage(ctl_find("request"));
}

/* Who decides: --by, else $LGSP_OPERATOR, else the OS user. */
static const char *
decider(const char *by)
{
    const char    *op = getenv("LGSP_OPERATOR");
    struct passwd *pw;

    if (by != NULL) {
        return by;
    }
    if (op != NULL && *op) {
        return op;
    }
    pw = getpwuid(geteuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

/* The holiday list of this home; weekends only (with a warning) when it
 * cannot be read, so a broken list never hides every request. */
static void
load_holidays(const ctl_t *ctl, cp_holidays_t *h)
{
    char path[PATH_MAX + 32], why[PATH_MAX + 200];

    if (cp_home_path(&ctl->home, "holidays.txt", path, sizeof(path)) != 0
        || cp_holidays_load(path, h, why, sizeof(why)) != 0)
    {
        fprintf(stderr, "lgspctl: warning: holidays: %s; counting Monday to"
                " Friday only\n", why);
        memset(h, 0, sizeof(*h));
    }
}

static int
parse_id(const char *what, const char *arg, long long *id)
{
    if (cp_parse_uint(arg, NULL, 0x7fffffffffffffffLL, id) != 0 || *id < 1) {
        return cp_bad("%s: \"%s\": a request id is a positive integer", what,
                      arg);
    }
    return 0;
}

static cJSON *
request_json(sqlite3 *db, long long id, const cp_holidays_t *h, int64_t now)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL;
    char          t[32];

    st = cp_db_prepare(db, "SELECT r.id, c.ident, ca.code,"
                           " s.code || '/' || v.version, p.ident, r.env,"
                           " r.purpose, r.scope, r.state, r.reason,"
                           " r.grant_id, r.created_at, r.decided_at,"
                           " r.decided_by, r.form IS NOT NULL"
                           " FROM requests r"
                           " JOIN systems c ON c.id = r.consumer_system_id"
                           " JOIN agencies ca ON ca.id = c.agency_id"
                           " JOIN versions v ON v.id = r.version_id"
                           " JOIN services s ON s.id = v.service_id"
                           " JOIN systems p ON p.id = s.provider_system_id"
                           " WHERE r.id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t     filed = sqlite3_column_int64(st, 11);
        int64_t     due = cp_request_due(h, filed);
        const char *state = (const char *) sqlite3_column_text(st, 8);

        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", (double) id);
        cJSON_AddStringToObject(o, "consumer",
                                (const char *) sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(o, "consumer_agency",
                                (const char *) sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "service",
                                (const char *) sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(o, "provider",
                                (const char *) sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(o, "env",
                                (const char *) sqlite3_column_text(st, 5));
        cJSON_AddStringToObject(o, "purpose",
                                (const char *) sqlite3_column_text(st, 6));
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            cJSON_AddStringToObject(o, "scope",
                                    (const char *) sqlite3_column_text(st,
                                                                       7));
        }
        cJSON_AddStringToObject(o, "state", state);
        if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
            cJSON_AddStringToObject(o, "reason",
                                    (const char *) sqlite3_column_text(st,
                                                                       9));
        }
        if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
            cJSON_AddNumberToObject(o, "grant_id",
                                    (double) sqlite3_column_int64(st, 10));
        }
        cp_time_format_utc(filed, t, sizeof(t));
        cJSON_AddStringToObject(o, "filed_at", t);
        /* the last day to answer, as a city date */
        cp_date_format(due - 1, t, sizeof(t));
        cJSON_AddStringToObject(o, "due", t);
        cJSON_AddNumberToObject(o, "working_days",
                                cp_workdays_between(h, filed, now));
        cJSON_AddBoolToObject(o, "overdue", strcmp(state, "open") == 0
                              && cp_request_overdue(h, filed, now));
        if (sqlite3_column_type(st, 12) != SQLITE_NULL) {
            cp_time_format_utc(sqlite3_column_int64(st, 12), t, sizeof(t));
            cJSON_AddStringToObject(o, "decided_at", t);
            cJSON_AddStringToObject(o, "decided_by",
                                    (const char *) sqlite3_column_text(st,
                                                                       13));
        }
        cJSON_AddBoolToObject(o, "form", sqlite3_column_int(st, 14));
    }
    sqlite3_finalize(st);
    return o;
}

/* --- add ---------------------------------------------------------------- */

static int
request_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "consumer",   required_argument, NULL, O_CONSUMER },
        { "service",    required_argument, NULL, O_SERVICE },
        { "env",        required_argument, NULL, O_ENV },
        { "purpose",    required_argument, NULL, O_PURPOSE },
        { "scope",      required_argument, NULL, O_SCOPE },
        { "form",       required_argument, NULL, O_FORM },
        { "print-form", no_argument,       NULL, O_PRINT },
        { NULL, 0, NULL, 0 }
    };
    const char       *consumer = NULL, *route = NULL, *env = NULL;
    const char       *purpose = NULL, *scope = NULL, *file = NULL;
    char              code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    char              why[800], object[64], *form_text = NULL;
    cJSON            *form = NULL;
    cp_system_ref_t   c;
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    long long         id;
    int               o, rc, print = 0;

    while ((o = cp_getopt(argc, argv, opts, "request add")) != -1) {
        switch (o) {
        case O_CONSUMER: consumer = optarg; break;
        case O_SERVICE: route = optarg; break;
        case O_ENV: env = optarg; break;
        case O_PURPOSE: purpose = optarg; break;
        case O_SCOPE: scope = optarg; break;
        case O_FORM: file = optarg; break;
        case O_PRINT: print = 1; break;
        default: return usage();
        }
    }
    if (optind != argc) {
        cp_bad("request add: unexpected \"%s\"", argv[optind]);
        return usage();
    }
    if (print && file == NULL) {
        cp_bad("request add: --print-form needs --form FILE");
        return usage();
    }
    if (file != NULL) {
        /* one source of truth: the form says who asks for what */
        if (consumer || route || env || purpose || scope) {
            cp_bad("request add: with --form, the consumer, service,"
                   " environment, purpose and scope come from the form");
            return usage();
        }
        form = cp_form_load(file, "02", why, sizeof(why));
        if (form == NULL) {
            cp_err("request add: %s", why);
            return CP_EXIT_REFUSED;
        }
        if (print) {
            cp_form_render(form, stdout);
            cJSON_Delete(form);
            return CP_EXIT_OK;
        }
        consumer = cp_form_str(form, "consumer");
        route = cp_form_str(form, "service");
        env = cp_form_str(form, "env");
        purpose = cp_form_str(form, "purpose");
        scope = cp_form_str(form, "scope");
        form_text = cJSON_PrintUnformatted(form);
    }
    if (env == NULL) {
        env = "production";
    }
    rc = CP_EXIT_USAGE;
    if (consumer == NULL || route == NULL || purpose == NULL) {
        cp_bad("request add: needs --consumer, --service and --purpose (or"
               " --form)");
        goto out;
    }
    if (strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0) {
        cp_bad("request add: --env: sandbox or production");
        goto out;
    }
    if (cp_valid_system_id(consumer) != 0) {
        cp_bad("request add: --consumer \"%s\" is not a system id", consumer);
        goto out;
    }
    if (cp_parse_route(route, 0, code, ver) != 0) {
        cp_bad("request add: --service \"%s\": expected CODE/VERSION", route);
        goto out;
    }
    /* a purpose and a scope may run over lines */
    if (cp_text_arg("request add", file ? "/purpose" : "--purpose", purpose,
                    PURPOSE_MAX, CP_TEXT_LINES) != 0
        || cp_text_arg("request add", file ? "/scope" : "--scope", scope,
                       PURPOSE_MAX, CP_TEXT_LINES) != 0)
    {
        goto out;
    }

    if (cp_tx_begin(ctl->db) != 0) {
        rc = CP_EXIT_REFUSED;
        goto out;
    }
    if (cp_find_system(ctl->db, consumer, &c) <= 0) {
        rc = cp_refuse(ctl->db, "request: consumer %s does not exist",
                       consumer);
        goto out;
    }
    if (c.agency_closed || c.suspended) {
        rc = cp_refuse(ctl->db, "request: consumer %s is %s", consumer,
                       c.agency_closed ? "of a closed agency" : "suspended");
        goto out;
    }
    if (cp_find_service(ctl->db, code, &s) <= 0
        || cp_find_version(ctl->db, s.id, ver, &v) <= 0)
    {
        rc = cp_refuse(ctl->db, "request: service %s does not exist", route);
        goto out;
    }
    if ((s.end_at != 0 && s.end_at <= cp_now())
        || strcmp(v.state, "retired") == 0)
    {
        rc = cp_refuse(ctl->db, "request: %s is no longer offered", route);
        goto out;
    }
    st = cp_db_prepare(ctl->db,
        "SELECT 'request ' || id FROM requests WHERE consumer_system_id = ?1"
        " AND version_id = ?2 AND env = ?3 AND state = 'open'"
        " UNION ALL SELECT 'grant ' || id FROM grants"
        " WHERE consumer_system_id = ?1 AND version_id = ?2 AND env = ?3"
        " AND state != 'revoked' LIMIT 1");
    if (st == NULL) {
        rc = cp_refuse(ctl->db, "request: cannot add");
        goto out;
    }
    sqlite3_bind_int64(st, 1, c.id);
    sqlite3_bind_int64(st, 2, v.id);
    sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(why, sizeof(why), "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        rc = cp_refuse(ctl->db, "request: %s already has %s for %s in %s",
                       consumer, why, route, env);
        goto out;
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(ctl->db, "INSERT INTO requests (consumer_system_id,"
                                " version_id, env, purpose, scope, form,"
                                " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)");
    if (st == NULL) {
        rc = cp_refuse(ctl->db, "request: cannot add");
        goto out;
    }
    sqlite3_bind_int64(st, 1, c.id);
    sqlite3_bind_int64(st, 2, v.id);
    sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, purpose, -1, SQLITE_STATIC);
    if (scope) {
        sqlite3_bind_text(st, 5, scope, -1, SQLITE_STATIC);
    }
    if (form_text) {
        sqlite3_bind_text(st, 6, form_text, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 7, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        rc = cp_refuse(ctl->db, "request: %s", sqlite3_errmsg(ctl->db));
        goto out;
    }
    id = sqlite3_last_insert_rowid(ctl->db);
    snprintf(object, sizeof(object), "request:%lld", id);
    if (cp_record(ctl->db, "requests", id, object, "add", NULL) != 0) {
        rc = cp_refuse(ctl->db, "request: not added");
        goto out;
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        goto out;
    }
    if (ctl->json) {
        cp_holidays_t h;

        load_holidays(ctl, &h);
        cp_json_print(request_json(ctl->db, id, &h, cp_now()));
        cp_holidays_free(&h);
    } else {
        printf("%lld\n", id);
    }
out:
    cJSON_free(form_text);
    cJSON_Delete(form);
    return rc;
}

/* --- list --------------------------------------------------------------- */

int
ctl_requests_overdue(ctl_t *ctl, long long *open)
{
    sqlite3_stmt  *st;
    cp_holidays_t  h;
    int64_t        now = cp_now();
    int            n = 0;

    *open = 0;
    st = cp_db_prepare(ctl->db, "SELECT created_at FROM requests"
                                " WHERE state = 'open'");
    if (st == NULL) {
        return -1;
    }
    load_holidays(ctl, &h);
    while (sqlite3_step(st) == SQLITE_ROW) {
        (*open)++;
        n += cp_request_overdue(&h, sqlite3_column_int64(st, 0), now);
    }
    sqlite3_finalize(st);
    cp_holidays_free(&h);
    return n;
}

static int
request_list(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "overdue", no_argument, NULL, O_OVERDUE },
        { NULL, 0, NULL, 0 }
    };
    sqlite3_stmt  *st;
    cp_holidays_t  h;
    cJSON         *arr, *o;
    int64_t        now = cp_now();
    int            c, overdue = 0;

    while ((c = cp_getopt(argc, argv, opts, "request list")) != -1) {
        switch (c) {
        case O_OVERDUE: overdue = 1; break;
        default: return usage();
        }
    }
    if (optind != argc) {
        cp_bad("request list: unexpected \"%s\"", argv[optind]);
        return usage();
    }
    st = cp_db_prepare(ctl->db, overdue
                       ? "SELECT id FROM requests WHERE state = 'open'"
                         " ORDER BY id"
                       : "SELECT id FROM requests ORDER BY id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    load_holidays(ctl, &h);
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        o = request_json(ctl->db, sqlite3_column_int64(st, 0), &h, now);
        if (o == NULL) {
            continue;
        }
        if (overdue && !cJSON_IsTrue(cJSON_GetObjectItem(o, "overdue"))) {
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddItemToArray(arr, o);
    }
    sqlite3_finalize(st);
    cp_holidays_free(&h);
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-5s %-9s %-20s %-24s %-10s %-20s %-10s %s\n", "ID", "STATE",
           "CONSUMER", "SERVICE", "ENV", "FILED", "DUE", "NOTE");
    cJSON_ArrayForEach(o, arr) {
        char        note[160] = "";
        const char *state = cJSON_GetObjectItem(o, "state")->valuestring;

        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "overdue"))) {
            snprintf(note, sizeof(note), "OVERDUE (%d working days)",
                     cJSON_GetObjectItem(o, "working_days")->valueint);
        } else if (strcmp(state, "approved") == 0) {
            snprintf(note, sizeof(note), "grant %d, by %s",
                     cJSON_GetObjectItem(o, "grant_id")->valueint,
                     cJSON_GetObjectItem(o, "decided_by")->valuestring);
        } else if (strcmp(state, "rejected") == 0) {
            snprintf(note, sizeof(note), "by %s: %s",
                     cJSON_GetObjectItem(o, "decided_by")->valuestring,
                     cJSON_GetObjectItem(o, "reason")->valuestring);
        }
        printf("%-5d %-9s %-20s %-24s %-10s %-20s %-10s %s\n",
               cJSON_GetObjectItem(o, "id")->valueint, state,
               cJSON_GetObjectItem(o, "consumer")->valuestring,
               cJSON_GetObjectItem(o, "service")->valuestring,
               cJSON_GetObjectItem(o, "env")->valuestring,
               cJSON_GetObjectItem(o, "filed_at")->valuestring,
               cJSON_GetObjectItem(o, "due")->valuestring, note);
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

/* --- approve / reject --------------------------------------------------- */

typedef struct {
    long long  consumer_id, version_id;
    char       env[16];
    char       consumer[CP_SYSTEM_ID_MAX + 1];
    char       route[CP_SERVICE_CODE_MAX + CP_VERSION_MAX + 2];
} req_t;

/* Begin and read an open request: 0, or an exit status. */
static int
begin_open(ctl_t *ctl, long long id, req_t *r)
{
    sqlite3_stmt *st;
    char          state[16] = "";
    int           found;

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT r.state, r.consumer_system_id,"
                                " r.version_id, r.env, c.ident,"
                                " s.code || '/' || v.version"
                                " FROM requests r"
                                " JOIN systems c ON c.id ="
                                "  r.consumer_system_id"
                                " JOIN versions v ON v.id = r.version_id"
                                " JOIN services s ON s.id = v.service_id"
                                " WHERE r.id = ?1");
    if (st == NULL) {
        return cp_refuse(ctl->db, "request %lld: cannot read", id);
    }
    sqlite3_bind_int64(st, 1, id);
    found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(state, sizeof(state), "%s", sqlite3_column_text(st, 0));
        r->consumer_id = sqlite3_column_int64(st, 1);
        r->version_id = sqlite3_column_int64(st, 2);
        snprintf(r->env, sizeof(r->env), "%s", sqlite3_column_text(st, 3));
        snprintf(r->consumer, sizeof(r->consumer), "%s",
                 sqlite3_column_text(st, 4));
        snprintf(r->route, sizeof(r->route), "%s",
                 sqlite3_column_text(st, 5));
    }
    sqlite3_finalize(st);
    if (!found) {
        return cp_refuse(ctl->db, "request %lld: no such request", id);
    }
    if (strcmp(state, "open") != 0) {
        return cp_refuse(ctl->db, "request %lld: already %s", id, state);
    }
    return 0;
}

/* Close the request (inside the transaction) and record it. */
static int
decide(ctl_t *ctl, long long id, const char *state, const char *reason,
       long long grant_id, const char *by)
{
    sqlite3_stmt *st;
    char         *before, object[64];
    int           rc;

    before = cp_change_row(ctl->db, "requests", id);
    st = cp_db_prepare(ctl->db, "UPDATE requests SET state = ?2,"
                                " reason = ?3, grant_id = ?4,"
                                " decided_at = ?5, decided_by = ?6"
                                " WHERE id = ?1 AND state = 'open'");
    if (st == NULL) {
        free(before);
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    if (reason) {
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    }
    if (grant_id) {
        sqlite3_bind_int64(st, 4, grant_id);
    }
    sqlite3_bind_int64(st, 5, cp_now());
    sqlite3_bind_text(st, 6, by, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(ctl->db) == 1
         ? 0 : -1;
    sqlite3_finalize(st);
    if (rc != 0) {
        free(before);
        return -1;
    }
    snprintf(object, sizeof(object), "request:%lld", id);
    return cp_record(ctl->db, "requests", id, object,
                     strcmp(state, "approved") == 0 ? "approve" : "reject",
                     before);
}

static int
request_approve(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "rate",  required_argument, NULL, O_RATE },
        { "burst", required_argument, NULL, O_BURST },
        { "quota", required_argument, NULL, O_QUOTA },
        { "by",    required_argument, NULL, O_BY },
        { NULL, 0, NULL, 0 }
    };
    long long         id, gid, rate = 10, burst = 0, quota = 0;
    const char       *by = NULL;
    req_t             r;
    cp_system_ref_t   c;
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    char              code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    char              object[64];
    int               o, rc, has_burst = 0, has_quota = 0;

    while ((o = cp_getopt(argc, argv, opts, "request approve")) != -1) {
        switch (o) {
        case O_RATE:
            if (cp_parse_uint(optarg, "/s", LIMIT_MAX, &rate) != 0
                || rate < 1)
            {
                cp_bad("request approve: --rate \"%s\": expected N/s,"
                       " 1..%d", optarg, LIMIT_MAX);
                return usage();
            }
            break;
        case O_BURST:
            if (cp_parse_uint(optarg, NULL, LIMIT_MAX, &burst) != 0
                || burst < 1)
            {
                cp_bad("request approve: --burst \"%s\": expected 1..%d",
                       optarg, LIMIT_MAX);
                return usage();
            }
            has_burst = 1;
            break;
        case O_QUOTA:
            if (cp_parse_uint(optarg, "/day", QUOTA_MAX, &quota) != 0
                || quota < 1)
            {
                cp_bad("request approve: --quota \"%s\": expected N/day",
                       optarg);
                return usage();
            }
            has_quota = 1;
            break;
        case O_BY: by = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc) {
        cp_bad("request approve: needs ID");
        return usage();
    }
    if (parse_id("request approve", argv[optind], &id) != 0) {
        return usage();
    }
    if (cp_text_arg("request approve", "--by", by, CP_TEXT_MAX, 0) != 0) {
        return usage();
    }
    if (!has_burst) {
        /* as grant add: a burst below the rate would refuse a steady
         * caller */
        burst = rate > 10 ? rate : 10;
    }
    if ((rc = begin_open(ctl, id, &r)) != 0) {
        return rc;
    }
    /* the grant's own preconditions, checked now, not when filed */
    if (cp_find_system(ctl->db, r.consumer, &c) <= 0 || c.agency_closed) {
        return cp_refuse(ctl->db, "request %lld: consumer %s is gone or its"
                         " agency is closed", id, r.consumer);
    }
    if (cp_parse_route(r.route, 0, code, ver) != 0
        || cp_find_service(ctl->db, code, &s) <= 0
        || cp_find_version(ctl->db, s.id, ver, &v) <= 0)
    {
        return cp_refuse(ctl->db, "request %lld: service %s is gone", id,
                         r.route);
    }
    if (s.provider_closed || (s.end_at != 0 && s.end_at <= cp_now())) {
        return cp_refuse(ctl->db, "request %lld: service %s is no longer"
                         " offered", id, r.route);
    }
    if (!cp_lc_callable(v.state, strcmp(r.env, "production") == 0)) {
        return cp_refuse(ctl->db, "request %lld: %s is %s, not callable in"
                         " %s; publish it first", id, r.route, v.state,
                         r.env);
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM grants"
                                " WHERE consumer_system_id = ?1"
                                " AND version_id = ?2 AND env = ?3"
                                " AND state != 'revoked'");
    if (st == NULL) {
        return cp_refuse(ctl->db, "request %lld: cannot approve", id);
    }
    sqlite3_bind_int64(st, 1, r.consumer_id);
    sqlite3_bind_int64(st, 2, r.version_id);
    sqlite3_bind_text(st, 3, r.env, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        gid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "request %lld: %s already has grant %lld"
                         " for %s in %s", id, r.consumer, gid, r.route,
                         r.env);
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(ctl->db, "INSERT INTO grants (consumer_system_id,"
                                " version_id, env, rate, burst, quota,"
                                " request_id, created_at)"
                                " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
    if (st == NULL) {
        return cp_refuse(ctl->db, "request %lld: cannot approve", id);
    }
    sqlite3_bind_int64(st, 1, r.consumer_id);
    sqlite3_bind_int64(st, 2, r.version_id);
    sqlite3_bind_text(st, 3, r.env, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, rate);
    sqlite3_bind_int64(st, 5, burst);
    if (has_quota) {
        sqlite3_bind_int64(st, 6, quota);
    }
    sqlite3_bind_int64(st, 7, id);
    sqlite3_bind_int64(st, 8, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return cp_refuse(ctl->db, "request %lld: %s", id,
                         sqlite3_errmsg(ctl->db));
    }
    gid = sqlite3_last_insert_rowid(ctl->db);
    snprintf(object, sizeof(object), "grant:%lld", gid);
    if (cp_record(ctl->db, "grants", gid, object, "add", NULL) != 0
        || decide(ctl, id, "approved", NULL, gid, decider(by)) != 0)
    {
        return cp_refuse(ctl->db, "request %lld: not approved", id);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    if (ctl->json) {
        cp_json_print(cp_grant_json(ctl->db, gid));
    } else {
        printf("%lld\n", gid);
    }
    return CP_EXIT_OK;
}

static int
request_reject(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { "by",     required_argument, NULL, O_BY },
        { NULL, 0, NULL, 0 }
    };
    const char    *reason = NULL, *by = NULL;
    long long      id;
    req_t          r;
    int            o, rc;

    while ((o = cp_getopt(argc, argv, opts, "request reject")) != -1) {
        switch (o) {
        case O_REASON: reason = optarg; break;
        case O_BY: by = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || reason == NULL) {
        cp_bad("request reject: needs ID and --reason");
        return usage();
    }
    if (parse_id("request reject", argv[optind], &id) != 0) {
        return usage();
    }
    if (cp_text_arg("request reject", "--reason", reason, CP_TEXT_MAX, 0)
            != 0
        || cp_text_arg("request reject", "--by", by, CP_TEXT_MAX, 0) != 0)
    {
        return usage();
    }
    if ((rc = begin_open(ctl, id, &r)) != 0) {
        return rc;
    }
    if (decide(ctl, id, "rejected", reason, 0, decider(by)) != 0) {
        return cp_refuse(ctl->db, "request %lld: not rejected", id);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    if (ctl->json) {
        cp_holidays_t h;

        load_holidays(ctl, &h);
        cp_json_print(request_json(ctl->db, id, &h, cp_now()));
        cp_holidays_free(&h);
    }
    return CP_EXIT_OK;
}

int
cmd_request(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",     request_add,     1 },
        { "list",    request_list,    1 },
        { "approve", request_approve, 1 },
        { "reject",  request_reject,  1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "request");
}
