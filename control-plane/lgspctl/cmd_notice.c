/*
 * lgspctl notice add|list: announcements to the agencies (Art. 11.6).
 * Maintenance is announced at least 24 hours ahead (sooner only forced,
 * with a recorded reason); deprecations, retirements and service endings
 * announce themselves through ctl_notice_auto(), called by the service
 * verbs in their own transaction.  `notice list` shows what is current or
 * upcoming (what the catalog will publish).
 */

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

#define NOTICE_AHEAD     (24 * 3600)      /* Art. 11.6 */
#define NOTICE_TEXT_MAX  2000

enum { O_KIND = 256, O_START, O_END, O_TEXT, O_TARGET, O_FORCE, O_REASON,
       O_ALL };

static int
usage(void)
{
    return ctl_usage(ctl_find("notice"));
}

static const char *
announcer(void)
{
    const char    *op = getenv("LGSP_OPERATOR");
    struct passwd *pw;

    if (op != NULL && *op) {
        return op;
    }
    pw = getpwuid(geteuid());
    return pw != NULL ? pw->pw_name : "unknown";
}

static long long
insert_notice(sqlite3 *db, const char *kind, const char *target,
              int64_t start, int64_t end, const char *text,
              const char *reason)
{
    sqlite3_stmt *st;
    char          object[64];
    long long     id;
    int           rc;

    st = cp_db_prepare(db, "INSERT INTO notices (kind, target, start_at,"
                           " end_at, text, forced_reason, created_by,"
                           " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    if (target) {
        sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, start);
    if (end) {
        sqlite3_bind_int64(st, 4, end);
    }
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    if (reason) {
        sqlite3_bind_text(st, 6, reason, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(st, 7, announcer(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return -1;
    }
    id = sqlite3_last_insert_rowid(db);
    snprintf(object, sizeof(object), "notice:%lld", id);
    return cp_record(db, "notices", id, object, "add", NULL) == 0 ? id : -1;
}

long long
ctl_notice_auto(sqlite3 *db, const char *kind, const char *target,
                int64_t start, int64_t end, const char *text,
                const char *reason)
{
    return insert_notice(db, kind, target, start, end, text, reason);
}

static cJSON *
notice_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    char   t[32];

    cJSON_AddNumberToObject(o, "id", (double) sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "kind",
                            (const char *) sqlite3_column_text(st, 1));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "target",
                                (const char *) sqlite3_column_text(st, 2));
    }
    cp_time_format_utc(sqlite3_column_int64(st, 3), t, sizeof(t));
    cJSON_AddStringToObject(o, "start", t);
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        cp_time_format_utc(sqlite3_column_int64(st, 4), t, sizeof(t));
        cJSON_AddStringToObject(o, "end", t);
    }
    cJSON_AddStringToObject(o, "text",
                            (const char *) sqlite3_column_text(st, 5));
    if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "forced_reason",
                                (const char *) sqlite3_column_text(st, 6));
    }
    if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
        cJSON_AddStringToObject(o, "created_by",
                                (const char *) sqlite3_column_text(st, 7));
    }
    cJSON_AddBoolToObject(o, "current", sqlite3_column_int64(st, 3)
                                        <= cp_now());
    return o;
}

static int
notice_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "kind",   required_argument, NULL, O_KIND },
        { "start",  required_argument, NULL, O_START },
        { "end",    required_argument, NULL, O_END },
        { "text",   required_argument, NULL, O_TEXT },
        { "target", required_argument, NULL, O_TARGET },
        { "force",  no_argument,       NULL, O_FORCE },
        { "reason", required_argument, NULL, O_REASON },
        { NULL, 0, NULL, 0 }
    };
    const char       *kind = NULL, *start_s = NULL, *end_s = NULL;
    const char       *text = NULL, *target = NULL, *reason = NULL;
    char              code[CP_SERVICE_CODE_MAX + 1], ver[CP_VERSION_MAX + 1];
    cp_service_ref_t  s;
    cp_version_ref_t  v;
    int64_t           start, end, now;
    long long         id;
    int               c, rc, force = 0;

    while ((c = cp_getopt(argc, argv, opts, "notice add")) != -1) {
        switch (c) {
        case O_KIND: kind = optarg; break;
        case O_START: start_s = optarg; break;
        case O_END: end_s = optarg; break;
        case O_TEXT: text = optarg; break;
        case O_TARGET: target = optarg; break;
        case O_FORCE: force = 1; break;
        case O_REASON: reason = optarg; break;
        default: return usage();
        }
    }
    if (optind != argc || kind == NULL || start_s == NULL || end_s == NULL
        || text == NULL)
    {
        cp_bad("notice add: needs --kind, --start, --end and --text");
        return usage();
    }
    if (strcmp(kind, "maintenance") != 0) {
        cp_bad("notice add: --kind \"%s\": only maintenance is announced by"
               " hand (deprecation, retirement and service-end notices come"
               " from the service verbs)", kind);
        return usage();
    }
    if (cp_time_parse(start_s, &start) != 0) {
        cp_bad("notice add: --start \"%s\" is not an ISO 8601 time",
               start_s);
        return usage();
    }
    if (cp_time_parse(end_s, &end) != 0) {
        cp_bad("notice add: --end \"%s\" is not an ISO 8601 time", end_s);
        return usage();
    }
    if (end <= start) {
        cp_bad("notice add: --end must be after --start");
        return usage();
    }
    if (cp_text_arg("notice add", "--text", text, NOTICE_TEXT_MAX, 0) != 0) {
        return usage();
    }
    if (force != (reason != NULL)) {
        cp_bad("notice add: --force and --reason go together");
        return usage();
    }
    if (cp_text_arg("notice add", "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return usage();
    }
    if (target != NULL && cp_parse_route(target, 1, code, ver) != 0) {
        cp_bad("notice add: --target \"%s\": expected CODE or CODE/VERSION",
               target);
        return usage();
    }

    now = cp_now();
    if (end <= now) {
        cp_err("notice add: the maintenance would already be over");
        return CP_EXIT_REFUSED;
    }
    if (!force && start - now < NOTICE_AHEAD) {
        int64_t ahead = start > now ? start - now : 0;

        cp_err("notice add: maintenance starting in %lldh%02lld is announced"
               " less than 24 hours ahead (Art. 11.6); move it, or --force"
               " --reason", (long long) (ahead / 3600),
               (long long) (ahead % 3600 / 60));
        return CP_EXIT_REFUSED;
    }
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    if (target != NULL) {
        if (cp_find_service(ctl->db, code, &s) <= 0
            || (ver[0] && cp_find_version(ctl->db, s.id, ver, &v) <= 0))
        {
            return cp_refuse(ctl->db, "notice add: --target %s does not"
                             " exist", target);
        }
    }
    id = insert_notice(ctl->db, kind, target, start, end, text, reason);
    if (id < 0) {
        return cp_refuse(ctl->db, "notice add: not added");
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    if (ctl->json) {
        sqlite3_stmt *st = cp_db_prepare(ctl->db,
            "SELECT id, kind, target, start_at, end_at, text, forced_reason,"
            " created_by FROM notices WHERE id = ?1");

        if (st == NULL) {
            return CP_EXIT_REFUSED;
        }
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            cp_json_print(notice_json(st));
        }
        sqlite3_finalize(st);
    } else {
        printf("%lld\n", id);
    }
    return CP_EXIT_OK;
}

static int
notice_list(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, O_ALL },
        { NULL, 0, NULL, 0 }
    };
    sqlite3_stmt *st;
    cJSON        *arr, *o;
    int           c, all = 0;

    while ((c = cp_getopt(argc, argv, opts, "notice list")) != -1) {
        switch (c) {
        case O_ALL: all = 1; break;
        default: return usage();
        }
    }
    if (optind != argc) {
        cp_bad("notice list: unexpected \"%s\"", argv[optind]);
        return usage();
    }
    st = cp_db_prepare(ctl->db, "SELECT id, kind, target, start_at, end_at,"
                                " text, forced_reason, created_by"
                                " FROM notices WHERE ?1 OR end_at IS NULL"
                                " OR end_at > ?2 ORDER BY start_at, id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    sqlite3_bind_int(st, 1, all);
    sqlite3_bind_int64(st, 2, cp_now());
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON_AddItemToArray(arr, notice_json(st));
    }
    sqlite3_finalize(st);
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-5s %-12s %-20s %-20s %-20s %s\n", "ID", "KIND", "TARGET",
           "START", "END", "TEXT");
    cJSON_ArrayForEach(o, arr) {
        cJSON *t = cJSON_GetObjectItem(o, "target");
        cJSON *e = cJSON_GetObjectItem(o, "end");
        cJSON *f = cJSON_GetObjectItem(o, "forced_reason");

        printf("%-5d %-12s %-20s %-20s %-20s %s%s%s%s\n",
               cJSON_GetObjectItem(o, "id")->valueint,
               cJSON_GetObjectItem(o, "kind")->valuestring,
               t ? t->valuestring : "-",
               cJSON_GetObjectItem(o, "start")->valuestring,
               e ? e->valuestring : "-",
               cJSON_GetObjectItem(o, "text")->valuestring,
               f ? " [forced: " : "", f ? f->valuestring : "", f ? "]" : "");
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_notice(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",  notice_add,  1 },
        { "list", notice_list, 1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "notice");
}
