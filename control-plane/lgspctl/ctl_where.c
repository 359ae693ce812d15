/*
 * Where a system's URLs may point (docs/operator-guide.md, "Where provider
 * URLs may point").  lgspd fetches health URLs and nginx forwards to
 * upstream URLs from inside the platform's network, so a URL at a
 * link-local, cloud metadata or unspecified address would make the
 * platform fetch its host's cloud credentials or its own ports for
 * whoever registered it.  Such a URL is refused unless the system it
 * belongs to is allowed (--allow-link-local, recorded in the change log).
 * Only literal addresses can be judged here; a name is judged when lgspd
 * resolves it (health checks, the snapshot), against the same flag.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_addr.h"
#include "cp_cli.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_util.h"

static int
where(sqlite3 *db, const char *what, const char *opt, const char *url,
      const char *hint)
{
    char            addr[64];
    cp_addr_class_t c;

    c = cp_url_class(url, addr, sizeof(addr));
    if (c == CP_ADDR_ROUTABLE) {
        return 0;
    }
    return cp_refuse(db, "%s: %s %s: %s is %s; %s", what, opt, url, addr,
                     cp_addr_class_name(c), hint);
}

int
ctl_url_where(sqlite3 *db, const char *what, const char *opt,
              const char *url, int allowed)
{
    if (url == NULL || url[0] == '\0' || allowed) {
        return 0;
    }
    return where(db, what, opt, url, "a provider URL may point there only"
                 " with --allow-link-local (recorded in the change log)");
}

int
ctl_allow_link_local(sqlite3 *db, long long system_id, int allow)
{
    sqlite3_stmt *st;
    char         *before, object[96];
    int           rc;

    st = cp_db_prepare(db, "SELECT ident FROM systems WHERE id = ?1");
    if (st == NULL) {
        return cp_refuse(db, "system %lld: cannot read", system_id);
    }
    sqlite3_bind_int64(st, 1, system_id);
    rc = sqlite3_step(st);
    snprintf(object, sizeof(object), "system:%s",
             rc == SQLITE_ROW ? (const char *) sqlite3_column_text(st, 0)
                              : "?");
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW) {
        return cp_refuse(db, "system %lld: no such system", system_id);
    }

    before = cp_change_row(db, "systems", system_id);
    st = cp_db_prepare(db, "UPDATE systems SET allow_link_local = ?2"
                           " WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(db, "%s: not changed", object);
    }
    sqlite3_bind_int64(st, 1, system_id);
    sqlite3_bind_int(st, 2, allow != 0);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(db, "%s: %s", object, sqlite3_errmsg(db));
    }
    /* an action of its own, so `lgspctl log` shows who allowed it and when
     * whichever verb carried the flag */
    if (cp_record(db, "systems", system_id, object,
                  allow ? "allow-link-local" : "refuse-link-local", before)
        != 0)
    {
        return cp_refuse(db, "%s: not changed", object);
    }
    return 0;
}

int
ctl_system_urls_where(sqlite3 *db, long long system_id, const char *what)
{
    sqlite3_stmt *st;
    int           rc = 0;

    /* every URL the system owns: its level-1 URL, and each of its
     * versions' upstreams and level-2 URL */
    st = cp_db_prepare(db,
        "SELECT 'its --health-url', health_url FROM systems WHERE id = ?1"
        " UNION ALL SELECT sv.code || '/' || v.version || ' --upstream',"
        "   v.upstream FROM versions v JOIN services sv"
        "   ON sv.id = v.service_id WHERE sv.provider_system_id = ?1"
        "   AND v.state != 'retired'"
        " UNION ALL SELECT sv.code || '/' || v.version"
        "   || ' --sandbox-upstream', v.sandbox_upstream FROM versions v"
        "   JOIN services sv ON sv.id = v.service_id"
        "   WHERE sv.provider_system_id = ?1 AND v.state != 'retired'"
        " UNION ALL SELECT sv.code || '/' || v.version || ' --health-url',"
        "   v.health_url FROM versions v JOIN services sv"
        "   ON sv.id = v.service_id WHERE sv.provider_system_id = ?1"
        "   AND v.state != 'retired'");
    if (st == NULL) {
        return cp_refuse(db, "%s: cannot read the system's URLs", what);
    }
    sqlite3_bind_int64(st, 1, system_id);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *url = (const char *) sqlite3_column_text(st, 1);

        if (url != NULL) {
            rc = where(db, what, (const char *) sqlite3_column_text(st, 0),
                       url, "change that URL first");
        }
    }
    sqlite3_finalize(st);
    return rc;
}
