/*
 * lgspctl grant add|set|suspend|resume|revoke|list: a consumer system's
 * access to one service version in one environment, with its rate, burst
 * and daily quota.  Revoke is final; a grant id is never reused.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_lifecycle.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_util.h"

#define LIMIT_MAX  1000000
#define QUOTA_MAX  1000000000LL

enum { O_CONSUMER = 256, O_SERVICE, O_ENV, O_RATE, O_BURST, O_QUOTA,
       O_REASON, O_PROVIDER };

typedef struct {
    long long  rate, burst, quota;
    int        has_rate, has_burst, has_quota;   /* has_quota 2: none */
} limits_t;

static int
usage(void)
{
    return ctl_usage(ctl_find("grant"));
}

/* 0 taken, 1 not a limit option, CP_EXIT_USAGE bad */
static int
limit_opt(int c, const char *arg, limits_t *l, const char *what,
          int allow_none)
{
    switch (c) {
    case O_RATE:
        if (cp_parse_uint(arg, "/s", LIMIT_MAX, &l->rate) != 0
            || l->rate < 1)
        {
            return cp_bad("%s: --rate \"%s\": expected N/s, 1..%d", what,
                          arg, LIMIT_MAX);
        }
        l->has_rate = 1;
        return 0;
    case O_BURST:
        if (cp_parse_uint(arg, NULL, LIMIT_MAX, &l->burst) != 0
            || l->burst < 1)
        {
            return cp_bad("%s: --burst \"%s\": expected 1..%d", what, arg,
                          LIMIT_MAX);
        }
        l->has_burst = 1;
        return 0;
    case O_QUOTA:
        if (allow_none && strcmp(arg, "none") == 0) {
            l->has_quota = 2;
            return 0;
        }
        if (cp_parse_uint(arg, "/day", QUOTA_MAX, &l->quota) != 0
            || l->quota < 1)
        {
            return cp_bad("%s: --quota \"%s\": expected N/day, 1..%lld%s",
                          what, arg, QUOTA_MAX, allow_none ? " or none" : "");
        }
        l->has_quota = 1;
        return 0;
    }
    return 1;
}

static int
parse_id(const char *what, const char *arg, long long *id)
{
    if (cp_parse_uint(arg, NULL, 0x7fffffffffffffffLL, id) != 0 || *id < 1) {
        return cp_bad("%s: \"%s\": a grant id is a positive integer", what,
                      arg);
    }
    return 0;
}

static int
print_grant(ctl_t *ctl, long long id, int print_id)
{
    if (ctl->json) {
        cJSON *o = cp_grant_json(ctl->db, id);
        if (o == NULL) {
            return CP_EXIT_REFUSED;
        }
        cp_json_print(o);
    } else if (print_id) {
        printf("%lld\n", id);
    }
    return CP_EXIT_OK;
}

static int
grant_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "consumer", required_argument, NULL, O_CONSUMER },
        { "service",  required_argument, NULL, O_SERVICE },
        { "env",      required_argument, NULL, O_ENV },
        { "rate",     required_argument, NULL, O_RATE },
        { "burst",    required_argument, NULL, O_BURST },
        { "quota",    required_argument, NULL, O_QUOTA },
        { NULL, 0, NULL, 0 }
    };
    const char       *consumer = NULL, *route = NULL, *env = "production";
    char              code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    char              object[64];
    limits_t          l = { 10, 10, 0, 0, 0, 0 };
    cp_system_ref_t   c;
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    long long         id;
    int               o, rc, production;

    while ((o = cp_getopt(argc, argv, opts, "grant add")) != -1) {
        switch (o) {
        case O_CONSUMER: consumer = optarg; break;
        case O_SERVICE: route = optarg; break;
        case O_ENV: env = optarg; break;
        default:
            rc = o == '?' ? 1 : limit_opt(o, optarg, &l, "grant add", 0);
            if (rc != 0) {
                return usage();
            }
        }
    }
    if (optind != argc || consumer == NULL || route == NULL) {
        cp_bad("grant add: needs --consumer and --service");
        return usage();
    }
    if (strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0) {
        cp_bad("grant add: --env: sandbox or production");
        return usage();
    }
    production = strcmp(env, "production") == 0;
    if (cp_valid_system_id(consumer) != 0) {
        cp_bad("grant add: --consumer \"%s\" is not a system id", consumer);
        return usage();
    }
    if (cp_parse_route(route, 0, code, ver) != 0) {
        cp_bad("grant add: --service \"%s\": expected CODE/VERSION", route);
        return usage();
    }

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    if (cp_find_system(ctl->db, consumer, &c) <= 0) {
        return cp_refuse(ctl->db, "grant: consumer %s does not exist",
                         consumer);
    }
    if (c.agency_closed) {
        return cp_refuse(ctl->db, "grant: the agency of consumer %s is"
                         " closed", consumer);
    }
    if (cp_find_service(ctl->db, code, &s) <= 0
        || cp_find_version(ctl->db, s.id, ver, &v) <= 0)
    {
        return cp_refuse(ctl->db, "grant: service %s does not exist", route);
    }
    if (s.provider_closed) {
        return cp_refuse(ctl->db, "grant: the provider agency of %s is"
                         " closed", route);
    }
    if (s.end_at != 0 && s.end_at <= cp_now()) {
        return cp_refuse(ctl->db, "grant: service %s has ended", code);
    }
    if (!cp_lc_callable(v.state, production)) {
        return cp_refuse(ctl->db, "grant: %s is %s, not callable in %s%s",
                         route, v.state, env, production
                         ? " (publish it to production first)"
                         : " (publish it to sandbox first)");
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM grants"
                                " WHERE consumer_system_id = ?1"
                                " AND version_id = ?2 AND env = ?3"
                                " AND state != 'revoked'");
    if (st == NULL) {
        return cp_refuse(ctl->db, "grant: cannot add");
    }
    sqlite3_bind_int64(st, 1, c.id);
    sqlite3_bind_int64(st, 2, v.id);
    sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "grant: %s already has grant %lld for %s"
                         " in %s", consumer, id, route, env);
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(ctl->db, "INSERT INTO grants (consumer_system_id,"
                                " version_id, env, rate, burst, quota,"
                                " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)");
    if (st == NULL) {
        return cp_refuse(ctl->db, "grant: cannot add");
    }
    sqlite3_bind_int64(st, 1, c.id);
    sqlite3_bind_int64(st, 2, v.id);
    sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l.rate);
    /* a burst below the rate would refuse a steady caller: default it up */
    sqlite3_bind_int64(st, 5, l.has_burst ? l.burst
                              : (l.rate > l.burst ? l.rate : l.burst));
    if (l.has_quota) {
        sqlite3_bind_int64(st, 6, l.quota);
    }
    sqlite3_bind_int64(st, 7, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return cp_refuse(ctl->db, "grant: %s", sqlite3_errmsg(ctl->db));
    }
    id = sqlite3_last_insert_rowid(ctl->db);
    snprintf(object, sizeof(object), "grant:%lld", id);
    if (cp_record(ctl->db, "grants", id, object, "add", NULL) != 0) {
        return cp_refuse(ctl->db, "grant: not added");
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_grant(ctl, id, 1);
}

/* Begin and read a grant's state: 0, or an exit status. */
static int
begin_grant(ctl_t *ctl, long long id, char *state, size_t size)
{
    sqlite3_stmt *st;
    int           found;

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT state FROM grants WHERE id = ?1");
    if (st == NULL) {
        return cp_refuse(ctl->db, "grant %lld: cannot read", id);
    }
    sqlite3_bind_int64(st, 1, id);
    found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        snprintf(state, size, "%s", sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (!found) {
        return cp_refuse(ctl->db, "grant %lld: no such grant", id);
    }
    if (strcmp(state, "revoked") == 0) {
        return cp_refuse(ctl->db, "grant %lld: revoked; a revoked grant is"
                         " final", id);
    }
    return 0;
}

/* Run an UPDATE of grant ?1 with text ?2, limits ?3..?6 and now ?7 (a
 * statement binds the ones it names; the others are out of range and
 * ignored), record it, commit. */
static int
change_grant(ctl_t *ctl, long long id, const char *action, const char *sql,
             const char *text, const limits_t *l)
{
    sqlite3_stmt *st;
    char         *before, object[64];
    int           rc;

    before = cp_change_row(ctl->db, "grants", id);
    st = cp_db_prepare(ctl->db, sql);
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "grant %lld: cannot %s", id, action);
    }
    sqlite3_bind_int64(st, 1, id);
    if (text) {
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    }
    if (l != NULL) {
        if (l->has_rate) sqlite3_bind_int64(st, 3, l->rate);
        if (l->has_burst) sqlite3_bind_int64(st, 4, l->burst);
        if (l->has_quota == 1) sqlite3_bind_int64(st, 5, l->quota);
        sqlite3_bind_int(st, 6, l->has_quota == 2);
    }
    sqlite3_bind_int64(st, 7, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "grant %lld: %s", id,
                         sqlite3_errmsg(ctl->db));
    }
    snprintf(object, sizeof(object), "grant:%lld", id);
    if (cp_record(ctl->db, "grants", id, object, action, before) != 0) {
        return cp_refuse(ctl->db, "grant %lld: not changed", id);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_grant(ctl, id, 0);
}

static int
grant_set(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "rate",  required_argument, NULL, O_RATE },
        { "burst", required_argument, NULL, O_BURST },
        { "quota", required_argument, NULL, O_QUOTA },
        { NULL, 0, NULL, 0 }
    };
    limits_t   l;
    long long  id;
    char       state[16];
    int        o, rc;

    memset(&l, 0, sizeof(l));
    while ((o = cp_getopt(argc, argv, opts, "grant set")) != -1) {
        rc = o == '?' ? 1 : limit_opt(o, optarg, &l, "grant set", 1);
        if (rc != 0) {
            return usage();
        }
    }
    if (optind + 1 != argc || parse_id("grant set", argv[optind], &id)) {
        return usage();
    }
    if (!l.has_rate && !l.has_burst && !l.has_quota) {
        cp_bad("grant set: nothing to set");
        return usage();
    }
    if ((rc = begin_grant(ctl, id, state, sizeof(state))) != 0) {
        return rc;
    }
    return change_grant(ctl, id, "set",
                        "UPDATE grants SET rate = coalesce(?3, rate),"
                        " burst = coalesce(?4, burst),"
                        " quota = CASE WHEN ?6 THEN NULL"
                        "   ELSE coalesce(?5, quota) END"
                        " WHERE id = ?1", NULL, &l);
}

static int
grant_suspend_resume(ctl_t *ctl, int argc, char **argv, int suspend)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char *reason = NULL;
    const char *what = suspend ? "grant suspend" : "grant resume";
    long long   id;
    char        state[16];
    int         o, rc;

    while ((o = cp_getopt(argc, argv, opts, what)) != -1) {
        switch (o) {
        case O_REASON: reason = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || reason == NULL) {
        cp_bad("%s: needs ID and --reason", what);
        return usage();
    }
    if (parse_id(what, argv[optind], &id)) {
        return usage();
    }
    if (cp_text_arg(what, "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return usage();
    }
    if ((rc = begin_grant(ctl, id, state, sizeof(state))) != 0) {
        return rc;
    }
    if (suspend && strcmp(state, "suspended") == 0) {
        return cp_refuse(ctl->db, "grant %lld: already suspended", id);
    }
    if (!suspend && strcmp(state, "active") == 0) {
        return cp_refuse(ctl->db, "grant %lld: not suspended", id);
    }
    return change_grant(ctl, id, suspend ? "suspend" : "resume",
                        suspend ? "UPDATE grants SET state = 'suspended',"
                                  " reason = ?2 WHERE id = ?1"
                                : "UPDATE grants SET state = 'active',"
                                  " reason = ?2 WHERE id = ?1",
                        reason, NULL);
}

static int
grant_suspend(ctl_t *ctl, int argc, char **argv)
{
    return grant_suspend_resume(ctl, argc, argv, 1);
}

static int
grant_resume(ctl_t *ctl, int argc, char **argv)
{
    return grant_suspend_resume(ctl, argc, argv, 0);
}

static int
grant_revoke(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char *reason = NULL;
    long long   id;
    char        state[16];
    int         o, rc;

    while ((o = cp_getopt(argc, argv, opts, "grant revoke")) != -1) {
        switch (o) {
        case O_REASON: reason = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || parse_id("grant revoke", argv[optind], &id)) {
        return usage();
    }
    if (cp_text_arg("grant revoke", "--reason", reason, CP_TEXT_MAX, 0)
        != 0)
    {
        return usage();
    }
    if ((rc = begin_grant(ctl, id, state, sizeof(state))) != 0) {
        return rc;
    }
    return change_grant(ctl, id, "revoke",
                        "UPDATE grants SET state = 'revoked',"
                        " reason = coalesce(?2, reason), revoked_at = ?7"
                        " WHERE id = ?1", reason, NULL);
}

/* --consumer/--provider X: an agency code (any of its codes) or a system.
 * Binds the agency id or system id; 0, or an exit status. */
static int
resolve_party(sqlite3 *db, const char *what, const char *x, long long *agency,
              long long *system)
{
    cp_agency_ref_t a;
    cp_system_ref_t s;

    *agency = *system = 0;
    if (cp_valid_system_id(x) == 0) {
        if (cp_find_system(db, x, &s) <= 0) {
            return cp_refuse(db, "grant list: %s %s: no such system", what,
                             x);
        }
        *system = s.id;
        return 0;
    }
    if (cp_idcode_check(x, NULL, 0) != CP_IDCODE_INVALID) {
        if (cp_find_agency(db, x, &a) <= 0) {
            return cp_refuse(db, "grant list: %s %s: no such agency", what,
                             x);
        }
        *agency = a.id;
        return 0;
    }
    cp_bad("grant list: %s \"%s\": neither an agency code nor a system id",
           what, x);
    return usage();
}

static int
grant_list(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "consumer", required_argument, NULL, O_CONSUMER },
        { "provider", required_argument, NULL, O_PROVIDER },
        { NULL, 0, NULL, 0 }
    };
    const char   *consumer = NULL, *provider = NULL;
    long long     ca = 0, cs = 0, pa = 0, ps = 0;
    sqlite3_stmt *st;
    cJSON        *arr, *g;
    int           o, rc;

    while ((o = cp_getopt(argc, argv, opts, "grant list")) != -1) {
        switch (o) {
        case O_CONSUMER: consumer = optarg; break;
        case O_PROVIDER: provider = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc) {
        cp_bad("grant list: unexpected \"%s\"", argv[optind]);
        return usage();
    }
    if (consumer
        && (rc = resolve_party(ctl->db, "--consumer", consumer, &ca, &cs)))
    {
        return rc;
    }
    if (provider
        && (rc = resolve_party(ctl->db, "--provider", provider, &pa, &ps)))
    {
        return rc;
    }
    st = cp_db_prepare(ctl->db,
        "SELECT g.id FROM grants g"
        " JOIN systems c ON c.id = g.consumer_system_id"
        " JOIN versions v ON v.id = g.version_id"
        " JOIN services s ON s.id = v.service_id"
        " JOIN systems p ON p.id = s.provider_system_id"
        " WHERE (?1 = 0 OR c.agency_id = ?1) AND (?2 = 0 OR c.id = ?2)"
        " AND (?3 = 0 OR p.agency_id = ?3) AND (?4 = 0 OR p.id = ?4)"
        " ORDER BY g.id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    sqlite3_bind_int64(st, 1, ca);
    sqlite3_bind_int64(st, 2, cs);
    sqlite3_bind_int64(st, 3, pa);
    sqlite3_bind_int64(st, 4, ps);
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        g = cp_grant_json(ctl->db, sqlite3_column_int64(st, 0));
        if (g != NULL) {
            cJSON_AddItemToArray(arr, g);
        }
    }
    sqlite3_finalize(st);
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-6s %-20s %-28s %-10s %-9s %-8s %-6s %s\n", "ID", "CONSUMER",
           "SERVICE", "ENV", "STATE", "RATE", "BURST", "QUOTA");
    cJSON_ArrayForEach(g, arr) {
        cJSON *q = cJSON_GetObjectItem(g, "quota");
        char   rate[16], quota[24];

        snprintf(rate, sizeof(rate), "%d/s",
                 cJSON_GetObjectItem(g, "rate")->valueint);
        if (cJSON_IsNumber(q)) {
            snprintf(quota, sizeof(quota), "%.0f/day", q->valuedouble);
        } else {
            snprintf(quota, sizeof(quota), "-");
        }
        printf("%-6d %-20s %-28s %-10s %-9s %-8s %-6d %s\n",
               cJSON_GetObjectItem(g, "id")->valueint,
               cJSON_GetObjectItem(g, "consumer")->valuestring,
               cJSON_GetObjectItem(g, "service")->valuestring,
               cJSON_GetObjectItem(g, "env")->valuestring,
               cJSON_GetObjectItem(g, "state")->valuestring, rate,
               cJSON_GetObjectItem(g, "burst")->valueint, quota);
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_grant(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",     grant_add,     1 },
        { "set",     grant_set,     1 },
        { "suspend", grant_suspend, 1 },
        { "resume",  grant_resume,  1 },
        { "revoke",  grant_revoke,  1 },
        { "list",    grant_list,    1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "grant");
}
