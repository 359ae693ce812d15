/*
 * lgspctl service publish|deprecate|retire: a version's lifecycle (SPEC
 * §7): draft -> sandbox -> published -> deprecated -> retired.  The date
 * rules are in cp_lifecycle.c; every change is announced in the notices.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cmd_service.h"
#include "cp_cli.h"
#include "cp_lifecycle.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

enum {
    O_ENV = 256, O_SUNSET, O_SUCCESSOR, O_FORCE, O_REASON,
};


int
service_publish(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "env", required_argument, NULL, O_ENV },
        { NULL, 0, NULL, 0 }
    };
    const char       *env = "production", *next;
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    char              route[160], why[160], *before;
    int               c, rc, production;

    while ((c = cp_getopt(argc, argv, opts, "service publish")) != -1) {
        switch (c) {
        case O_ENV: env = optarg; break;
        default: return service_usage();
        }
    }
    if (optind + 1 != argc) {
        cp_bad("service publish: needs CODE/VERSION");
        return service_usage();
    }
    if (strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0) {
        cp_bad("service publish: --env: sandbox or production");
        return service_usage();
    }
    production = strcmp(env, "production") == 0;
    rc = service_begin_route(ctl, "service publish", argv[optind], 0, &s, &v,
                             route, sizeof(route));
    if (rc != 0) {
        return rc;
    }
    if (s.provider_closed) {
        return cp_refuse(ctl->db, "service %s: the provider's agency is"
                         " closed", route);
    }
    if (s.end_at != 0 && s.end_at <= cp_now()) {
        return cp_refuse(ctl->db, "service %s: the service has ended", route);
    }
    if (cp_lc_publish(v.state, production, &next, why, sizeof(why)) != 0) {
        return cp_refuse(ctl->db, "service %s: %s", route, why);
    }
    before = cp_change_row(ctl->db, "versions", v.id);
    st = cp_db_prepare(ctl->db, production
                       ? "UPDATE versions SET state = ?2, published_at = ?3"
                         " WHERE id = ?1"
                       : "UPDATE versions SET state = ?2, sandbox_at = ?3"
                         " WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "service %s: cannot publish", route);
    }
    sqlite3_bind_int64(st, 1, v.id);
    sqlite3_bind_text(st, 2, next, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "service %s: %s", route,
                         sqlite3_errmsg(ctl->db));
    }
    return service_finish_version(ctl, v.id, route, "publish", before);
}

int
service_deprecate(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "sunset",    required_argument, NULL, O_SUNSET },
        { "successor", required_argument, NULL, O_SUCCESSOR },
        { "force",     no_argument,       NULL, O_FORCE },
        { "reason",    required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char       *sunset = NULL, *succ = NULL, *reason = NULL;
    cp_service_ref_t  s;
    cp_version_ref_t  v, w;
    sqlite3_stmt     *st;
    int64_t           sunset_at;
    char              route[160], d1[16], d2[16], *before;
    int               c, rc, force = 0;

    while ((c = cp_getopt(argc, argv, opts, "service deprecate")) != -1) {
        switch (c) {
        case O_SUNSET: sunset = optarg; break;
        case O_SUCCESSOR: succ = optarg; break;
        case O_FORCE: force = 1; break;
        case O_REASON: reason = optarg; break;
        default: return service_usage();
        }
    }
    if (optind + 1 != argc || sunset == NULL) {
        cp_bad("service deprecate: needs CODE/VERSION and --sunset");
        return service_usage();
    }
    if (cp_date_parse(sunset, &sunset_at) != 0) {
        cp_bad("service deprecate: --sunset \"%s\": expected a real"
               " YYYY-MM-DD", sunset);
        return service_usage();
    }
    if (succ != NULL && cp_valid_version(succ) != 0) {
        cp_bad("service deprecate: --successor \"%s\" is not a version",
               succ);
        return service_usage();
    }
    if (service_check_force("service deprecate", force, reason) != 0) {
        return service_usage();
    }
    rc = service_begin_route(ctl, "service deprecate", argv[optind], 0, &s, &v,
                             route, sizeof(route));
    if (rc != 0) {
        return rc;
    }
    if (strcmp(v.state, "published") != 0) {
        return cp_refuse(ctl->db, "service %s: the version is %s; only a"
                         " published version can be deprecated", route,
                         v.state);
    }

    /* the successor: named, or the newest published other version */
    if (succ != NULL) {
        if (cp_find_version(ctl->db, s.id, succ, &w) <= 0) {
            return cp_refuse(ctl->db, "service %s: successor %s does not"
                             " exist", route, succ);
        }
        if (w.id == v.id || strcmp(w.state, "published") != 0) {
            return cp_refuse(ctl->db, "service %s: successor %s is not"
                             " another published version", route, succ);
        }
    } else {
        st = cp_db_prepare(ctl->db, "SELECT version FROM versions"
                                    " WHERE service_id = ?1 AND id != ?2"
                                    " AND state = 'published'"
                                    " ORDER BY published_at DESC, id DESC"
                                    " LIMIT 1");
        if (st == NULL) {
            return cp_refuse(ctl->db, "service %s: cannot deprecate", route);
        }
        sqlite3_bind_int64(st, 1, s.id);
        sqlite3_bind_int64(st, 2, v.id);
        rc = sqlite3_step(st) == SQLITE_ROW
             ? cp_find_version(ctl->db, s.id,
                               (const char *) sqlite3_column_text(st, 0), &w)
             : 0;
        sqlite3_finalize(st);
        if (rc <= 0) {
            return cp_refuse(ctl->db, "service %s: no successor version is"
                             " published; publish one first", route);
        }
    }
    if (!force && !cp_lc_sunset_ok(w.published_at, sunset_at)) {
        cp_date_format(w.published_at, d1, sizeof(d1));
        cp_date_format(cp_lc_earliest_sunset(w.published_at), d2,
                       sizeof(d2));
        return cp_refuse(ctl->db, "service %s: sunset %s is less than %d"
                         " days after %s/%s was published (%s); the earliest"
                         " is %s, or --force --reason", route, sunset,
                         CP_LC_SUNSET_DAYS, s.code, w.version, d1, d2);
    }
    before = cp_change_row(ctl->db, "versions", v.id);
    st = cp_db_prepare(ctl->db, "UPDATE versions SET state = 'deprecated',"
                                " deprecated_at = ?2, sunset_at = ?3,"
                                " successor_id = ?4, lifecycle_reason = ?5"
                                " WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "service %s: cannot deprecate", route);
    }
    sqlite3_bind_int64(st, 1, v.id);
    sqlite3_bind_int64(st, 2, cp_now());
    sqlite3_bind_int64(st, 3, sunset_at);
    sqlite3_bind_int64(st, 4, w.id);
    if (reason) {
        sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "service %s: %s", route,
                         sqlite3_errmsg(ctl->db));
    }
    cp_date_format(sunset_at, d1, sizeof(d1));
    if (service_announce(ctl, "deprecation", route, cp_now(), sunset_at,
                         reason, "%s is deprecated: callable until %s, then"
                         " retired; use %s/%s", route, d1, s.code,
                         w.version) != 0)
    {
        free(before);
        return cp_refuse(ctl->db, "service %s: not deprecated", route);
    }
    return service_finish_version(ctl, v.id, route,
                                  force ? "deprecate-forced" : "deprecate",
                                  before);
}

int
service_retire(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "force",  no_argument,       NULL, O_FORCE },
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char       *reason = NULL;
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    sqlite3_stmt     *st;
    char              route[160], d[16], *before;
    int               c, rc, force = 0;

    while ((c = cp_getopt(argc, argv, opts, "service retire")) != -1) {
        switch (c) {
        case O_FORCE: force = 1; break;
        case O_REASON: reason = optarg; break;
        default: return service_usage();
        }
    }
    if (optind + 1 != argc) {
        cp_bad("service retire: needs CODE/VERSION");
        return service_usage();
    }
    if (service_check_force("service retire", force, reason) != 0) {
        return service_usage();
    }
    rc = service_begin_route(ctl, "service retire", argv[optind], 0, &s, &v,
                             route, sizeof(route));
    if (rc != 0) {
        return rc;
    }
    if (strcmp(v.state, "retired") == 0) {
        return cp_refuse(ctl->db, "service %s: already retired", route);
    }
    if (!force && cp_lc_retire_needs_force(v.state, v.sunset_at, cp_now())) {
        if (v.sunset_at != 0) {
            cp_date_format(v.sunset_at, d, sizeof(d));
            return cp_refuse(ctl->db, "service %s: its sunset is %s; retiring"
                             " before it needs --force --reason", route, d);
        }
        return cp_refuse(ctl->db, "service %s: the version is %s with no"
                         " sunset; deprecate it first, or --force --reason",
                         route, v.state);
    }
    before = cp_change_row(ctl->db, "versions", v.id);
    st = cp_db_prepare(ctl->db, "UPDATE versions SET state = 'retired',"
                                " retired_at = ?2, lifecycle_reason ="
                                " coalesce(?3, lifecycle_reason)"
                                " WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "service %s: cannot retire", route);
    }
    sqlite3_bind_int64(st, 1, v.id);
    sqlite3_bind_int64(st, 2, cp_now());
    if (reason) {
        sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "service %s: %s", route,
                         sqlite3_errmsg(ctl->db));
    }
    if (service_announce(ctl, "retirement", route, cp_now(),
                         cp_now() + 30 * CP_DAY, reason,
                         "%s is retired and no longer callable",
                         route) != 0)
    {
        free(before);
        return cp_refuse(ctl->db, "service %s: not retired", route);
    }
    return service_finish_version(ctl, v.id, route,
                                  force ? "retire-forced" : "retire", before);
}
