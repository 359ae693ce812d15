/*
 * lgspctl health show|history, lgspctl incident list: connection status
 * as lgspd recorded it in health.db (read only; lgspd is its one writer).
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_registry.h"
#include "cp_health.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"


/* The city's time, for people; JSON carries UTC. */
static const char *
city_time(int64_t ms, char *buf, size_t size)
{
    time_t    s = (time_t) (ms / 1000) + CP_CITY_OFFSET;
    struct tm tm;

    if (ms <= 0) {
        return "-";
    }
    gmtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static const char *
utc_time(int64_t ms, char *buf, size_t size)
{
    time_t    s = (time_t) (ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static void
add_time(cJSON *o, const char *key, sqlite3_stmt *st, int col)
{
    char buf[32];

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        cJSON_AddNullToObject(o, key);
    } else {
        cJSON_AddStringToObject(o, key,
                                utc_time(sqlite3_column_int64(st, col), buf,
                                         sizeof(buf)));
    }
}

static const char *
text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? (const char *) t : "";
}

/* health.db, read only; NULL (and a message) when lgspd never made it. */
static sqlite3 *
open_health(ctl_t *ctl)
{
    char     path[PATH_MAX + 32];
    sqlite3 *db = NULL;

    if (cp_home_path(&ctl->home, "health.db", path, sizeof(path)) != 0) {
        cp_err("LGSP_HOME: path too long");
        return NULL;
    }
    if (access(path, F_OK) != 0) {
        cp_err("%s: no connection status yet (lgspd creates it)", path);
        return NULL;
    }
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cp_err("%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    if (cp_db_version(db) != cp_health_latest()) {
        cp_err("%s: layout %d, this lgspctl reads %d", path,
               cp_db_version(db), cp_health_latest());
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void
print_show_header(void)
{
    printf("%-28s %-5s %-14s %-8s %-19s %-19s %7s  %s\n", "TARGET", "LEVEL",
           "AGENCY", "STATE", "SINCE", "LAST CHECK", "MS", "REASON");
}

static int
health_show(ctl_t *ctl, int argc, char **argv)
{
    sqlite3      *hdb;
    sqlite3_stmt *st;
    cJSON        *o = NULL, *arr = NULL, *t;
    const char   *system = argc > 2 ? argv[2] : NULL;
    char          b1[32], b2[32];
    int           n = 0;

    if (argc > 3) {
        return ctl_usage(ctl_find("health"));
    }
    if ((hdb = open_health(ctl)) == NULL) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(hdb,
        "SELECT kind, name, system_ident, agency_code, state, state_since_ms,"
        "       last_check_ms, last_latency_ms, last_http, last_reason, url,"
        "       interval_s, fails, oks"
        "  FROM targets WHERE active = 1 AND (?1 IS NULL OR system_ident = ?1)"
        " ORDER BY system_ident, kind DESC, name");
    if (st == NULL) {
        sqlite3_close(hdb);
        return CP_EXIT_REFUSED;
    }
    if (system) {
        sqlite3_bind_text(st, 1, system, -1, SQLITE_STATIC);
    }
    if (ctl->json) {
        o = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(o, "targets");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int level = strcmp(text(st, 0), "system") == 0 ? 1 : 2;

        if (n++ == 0 && !ctl->json) {
            print_show_header();
        }
        if (ctl->json) {
            t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "target", text(st, 1));
            cJSON_AddNumberToObject(t, "level", level);
            cJSON_AddStringToObject(t, "system", text(st, 2));
            cJSON_AddStringToObject(t, "agency", text(st, 3));
            cJSON_AddStringToObject(t, "url", text(st, 10));
            cJSON_AddNumberToObject(t, "interval_s", sqlite3_column_int(st, 11));
            cJSON_AddStringToObject(t, "state", text(st, 4));
            add_time(t, "since", st, 5);
            add_time(t, "last_check", st, 6);
            if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
                cJSON_AddNullToObject(t, "latency_ms");
            } else {
                cJSON_AddNumberToObject(t, "latency_ms",
                                        sqlite3_column_int(st, 7));
            }
            cJSON_AddNumberToObject(t, "http", sqlite3_column_int(st, 8));
            if (sqlite3_column_type(st, 9) == SQLITE_NULL) {
                cJSON_AddNullToObject(t, "reason");
            } else {
                cJSON_AddStringToObject(t, "reason", text(st, 9));
            }
            cJSON_AddNumberToObject(t, "failures_in_a_row",
                                    sqlite3_column_int(st, 12));
            cJSON_AddNumberToObject(t, "successes_in_a_row",
                                    sqlite3_column_int(st, 13));
            cJSON_AddItemToArray(arr, t);
        } else {
            printf("%-28s %-5d %-14s %-8s %-19s %-19s %7d  %s\n",
                   text(st, 1), level, text(st, 3), text(st, 4),
                   city_time(sqlite3_column_int64(st, 5), b1, sizeof(b1)),
                   city_time(sqlite3_column_int64(st, 6), b2, sizeof(b2)),
                   sqlite3_column_int(st, 7), text(st, 9));
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(hdb);

    if (system != NULL && n == 0) {
        cJSON_Delete(o);
        cp_err("%s: not polled (no such system, or no health URL)", system);
        return CP_EXIT_REFUSED;
    }
    if (n == 0 && !ctl->json) {
        print_show_header();
    }
    if (ctl->json) {
        cp_json_print(o);
    }
    return CP_EXIT_OK;
}

static int
health_history(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' },
        { "raw", no_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };
    sqlite3            *hdb;
    sqlite3_stmt       *st;
    cJSON              *o = NULL, *changes = NULL, *mins = NULL, *raws = NULL;
    const char         *name;
    int64_t             since = cp_now_ms() - CP_HEALTH_HOUR_MS, id;
    int                 c, raw = 0, kind;
    char                b1[32];

    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (cp_time_parse_ms(optarg, &since) != 0) {
                cp_err("--since: \"%s\" is not an ISO 8601 time"
                       " (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM])", optarg);
                return CP_EXIT_USAGE;
            }
            break;
        case 'r':
            raw = 1;
            break;
        default:
            return ctl_usage(ctl_find("health"));
        }
    }
    if (optind != argc - 1) {
        return ctl_usage(ctl_find("health"));
    }
    name = argv[optind];
    kind = strchr(name, '/') ? CP_HEALTH_KIND_VERSION : CP_HEALTH_KIND_SYSTEM;
    if ((hdb = open_health(ctl)) == NULL) {
        return CP_EXIT_REFUSED;
    }

    st = cp_db_prepare(hdb, "SELECT id, state FROM targets WHERE kind = ?1"
                            " AND name = ?2 ORDER BY active DESC, id DESC"
                            " LIMIT 1");
    if (st == NULL) {
        sqlite3_close(hdb);
        return CP_EXIT_REFUSED;
    }
    sqlite3_bind_text(st, 1, kind == CP_HEALTH_KIND_SYSTEM ? "system"
                                                           : "version",
                      -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        sqlite3_close(hdb);
        cp_err("%s: no connection status recorded", name);
        return CP_EXIT_REFUSED;
    }
    id = sqlite3_column_int64(st, 0);
    if (ctl->json) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "target", name);
        cJSON_AddNumberToObject(o, "level",
                                kind == CP_HEALTH_KIND_SYSTEM ? 1 : 2);
        cJSON_AddStringToObject(o, "state", text(st, 1));
        cJSON_AddStringToObject(o, "since", utc_time(since, b1, sizeof(b1)));
        changes = cJSON_AddArrayToObject(o, "state_changes");
        mins = cJSON_AddArrayToObject(o, "minutes");
        if (raw) {
            raws = cJSON_AddArrayToObject(o, "results");
        }
    } else {
        printf("%s: %s\n\nState changes since %s:\n", name, text(st, 1),
               city_time(since, b1, sizeof(b1)));
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(hdb, "SELECT at_ms, from_state, to_state, reason"
                            " FROM state_changes WHERE target_id = ?1"
                            " AND at_ms >= ?2 ORDER BY at_ms, id");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, since);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (ctl->json) {
                cJSON *e = cJSON_CreateObject();

                add_time(e, "at", st, 0);
                cJSON_AddStringToObject(e, "from", text(st, 1));
                cJSON_AddStringToObject(e, "to", text(st, 2));
                cJSON_AddStringToObject(e, "reason", text(st, 3));
                cJSON_AddItemToArray(changes, e);
            } else {
                printf("  %s  %-8s -> %-8s %s\n",
                       city_time(sqlite3_column_int64(st, 0), b1, sizeof(b1)),
                       text(st, 1), text(st, 2), text(st, 3));
            }
        }
        sqlite3_finalize(st);
    }

    if (!ctl->json) {
        printf("\nPer minute:\n  %-19s %6s %8s %7s %7s\n", "MINUTE", "CHECKS",
               "FAILURES", "AVG MS", "MAX MS");
    }
    /* rows are hours (n = 60) or, once a day is over, days (n = 1440) */
    st = cp_db_prepare(hdb, "SELECT hour_ms, data, n FROM minute_hours"
                            " WHERE target_id = ?1 AND hour_ms >= ?2 - 86400000"
                            " AND hour_ms + n * 60000 > ?2 ORDER BY hour_ms");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, since);
        while (sqlite3_step(st) == SQLITE_ROW) {
            static cp_health_summary_t m[CP_HEALTH_DAY_MINUTES];
            int64_t                    hour = sqlite3_column_int64(st, 0);
            int                        nmin = sqlite3_column_int(st, 2);

            if (cp_health_unpack_summaries(sqlite3_column_blob(st, 1),
                                           (size_t) sqlite3_column_bytes(st,
                                                                         1),
                                           nmin, m) != 0)
            {
                cp_err("health.db: damaged summaries at %s",
                       city_time(hour, b1, sizeof(b1)));
                continue;
            }
            for (int i = 0; i < nmin; i++) {
                int64_t at = hour + i * CP_HEALTH_MINUTE_MS;

                if (m[i].checks == 0 || at + CP_HEALTH_MINUTE_MS <= since) {
                    continue;
                }
                if (ctl->json) {
                    cJSON *e = cJSON_CreateObject();

                    cJSON_AddStringToObject(e, "minute",
                                            utc_time(at, b1, sizeof(b1)));
                    cJSON_AddNumberToObject(e, "checks", m[i].checks);
                    cJSON_AddNumberToObject(e, "failures", m[i].failures);
                    cJSON_AddNumberToObject(e, "avg_ms", m[i].avg_ms);
                    cJSON_AddNumberToObject(e, "max_ms", m[i].max_ms);
                    cJSON_AddItemToArray(mins, e);
                } else {
                    printf("  %-19s %6u %8u %7u %7u\n",
                           city_time(at, b1, sizeof(b1)), m[i].checks,
                           m[i].failures, m[i].avg_ms, m[i].max_ms);
                }
            }
        }
        sqlite3_finalize(st);
    }

    if (raw) {
        if (!ctl->json) {
            printf("\nResults:\n  %-19s %-8s %4s %7s  %s\n", "AT", "RESULT",
                   "HTTP", "MS", "REASON");
        }
        st = cp_db_prepare(hdb, "SELECT hour_ms, n, data FROM raw_hours"
                                " WHERE target_id = ?1 AND hour_ms >= ?2"
                                " ORDER BY hour_ms");
        if (st != NULL) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, cp_health_hour_of(since));
        }
        while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
            cp_health_hour_t h;

            memset(&h, 0, sizeof(h));
            cp_health_hour_init(&h, sqlite3_column_int64(st, 0));
            if (cp_health_unpack_raw(sqlite3_column_blob(st, 2),
                                     (size_t) sqlite3_column_bytes(st, 2),
                                     sqlite3_column_int(st, 1), &h) == 0)
            {
                for (size_t i = 0; i < h.n; i++) {
                    const cp_health_sample_t *s = &h.samples[i];

                    if (s->at_ms < since) {
                        continue;
                    }
                    if (ctl->json) {
                        cJSON *e = cJSON_CreateObject();

                        cJSON_AddStringToObject(e, "at",
                                                utc_time(s->at_ms, b1,
                                                         sizeof(b1)));
                        cJSON_AddStringToObject(e, "result",
                                            cp_health_state_name(s->result));
                        cJSON_AddNumberToObject(e, "http", s->http);
                        cJSON_AddNumberToObject(e, "latency_ms",
                                                s->latency_ms);
                        cJSON_AddStringToObject(e, "reason",
                                            cp_health_reason_name(s->reason));
                        cJSON_AddItemToArray(raws, e);
                    } else {
                        printf("  %-19s %-8s %4u %7u  %s\n",
                               city_time(s->at_ms, b1, sizeof(b1)),
                               cp_health_state_name(s->result), s->http,
                               s->latency_ms,
                               cp_health_reason_name(s->reason));
                    }
                }
            }
            cp_health_hour_free(&h);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(hdb);
    if (ctl->json) {
        cp_json_print(o);
    }
    return CP_EXIT_OK;
}

int
cmd_health(ctl_t *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "show") == 0) {
        return health_show(ctl, argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "history") == 0) {
        return health_history(ctl, argc, argv);
    }
    return ctl_usage(ctl_find("health"));
}

int
cmd_incident(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "open", no_argument, NULL, 'o' },
        { "since", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 }
    };
    sqlite3      *hdb;
    sqlite3_stmt *st;
    cJSON        *o = NULL, *arr = NULL;
    int64_t       since = 0;
    int           c, open_only = 0;
    char          b1[32], b2[32], dur[32];

    if (argc < 2 || strcmp(argv[1], "list") != 0) {
        return ctl_usage(ctl_find("incident"));
    }
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            open_only = 1;
            break;
        case 's':
            if (cp_time_parse_ms(optarg, &since) != 0) {
                cp_err("--since: \"%s\" is not an ISO 8601 time"
                       " (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM])", optarg);
                return CP_EXIT_USAGE;
            }
            break;
        default:
            return ctl_usage(ctl_find("incident"));
        }
    }
    if (optind != argc) {
        return ctl_usage(ctl_find("incident"));
    }
    if ((hdb = open_health(ctl)) == NULL) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(hdb,
        "SELECT i.id, t.name, t.kind, t.system_ident, t.agency_code,"
        "       i.opened_ms, i.closed_ms, i.reason, i.close_reason"
        "  FROM incidents i JOIN targets t ON t.id = i.target_id"
        " WHERE (?1 = 0 OR i.closed_ms IS NULL)"
        "   AND (i.closed_ms IS NULL OR i.closed_ms >= ?2)"
        " ORDER BY i.id DESC");
    if (st == NULL) {
        sqlite3_close(hdb);
        return CP_EXIT_REFUSED;
    }
    sqlite3_bind_int(st, 1, open_only);
    sqlite3_bind_int64(st, 2, since);
    if (ctl->json) {
        o = cJSON_CreateObject();
        arr = cJSON_AddArrayToObject(o, "incidents");
    } else {
        printf("%5s %-28s %-14s %-19s %-19s %9s  %s\n", "ID", "TARGET",
               "AGENCY", "OPENED", "CLOSED", "DURATION", "REASON");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int     open = sqlite3_column_type(st, 6) == SQLITE_NULL;
        int64_t opened = sqlite3_column_int64(st, 5);
        int64_t end = open ? cp_now_ms() : sqlite3_column_int64(st, 6);
        int64_t secs = (end - opened) / 1000;

        if (ctl->json) {
            cJSON *e = cJSON_CreateObject();

            cJSON_AddNumberToObject(e, "id", sqlite3_column_int(st, 0));
            cJSON_AddStringToObject(e, "target", text(st, 1));
            cJSON_AddNumberToObject(e, "level",
                                    strcmp(text(st, 2), "system") == 0 ? 1
                                                                       : 2);
            cJSON_AddStringToObject(e, "system", text(st, 3));
            cJSON_AddStringToObject(e, "agency", text(st, 4));
            add_time(e, "opened", st, 5);
            add_time(e, "closed", st, 6);
            cJSON_AddNumberToObject(e, "duration_s", (double) secs);
            cJSON_AddStringToObject(e, "reason", text(st, 7));
            if (!open) {
                cJSON_AddStringToObject(e, "close_reason", text(st, 8));
            }
            cJSON_AddItemToArray(arr, e);
        } else {
            snprintf(dur, sizeof(dur), "%lldm%02llds%s",
                     (long long) (secs / 60), (long long) (secs % 60),
                     open ? "+" : "");
            printf("%5d %-28s %-14s %-19s %-19s %9s  %s\n",
                   sqlite3_column_int(st, 0), text(st, 1), text(st, 4),
                   city_time(opened, b1, sizeof(b1)),
                   open ? "open" : city_time(end, b2, sizeof(b2)), dur,
                   text(st, 7));
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(hdb);
    if (ctl->json) {
        cp_json_print(o);
    }
    return CP_EXIT_OK;
}
