/* lgspctl log [--since TIME]: the operators' change log (SPEC §7). */

#include <stdio.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

static int
usage(void)
{
    return ctl_usage(ctl_find("log"));
}

/* before/after are JSON written by cp_row_json(); keep them as objects */
static void
add_json(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    const char *s = (const char *) sqlite3_column_text(st, col);
    cJSON      *v = s ? cJSON_Parse(s) : NULL;

    if (v == NULL) {
        cJSON_AddNullToObject(o, name);
    } else {
        cJSON_AddItemToObject(o, name, v);
    }
}

int
cmd_log(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "since", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 }
    };
    sqlite3_stmt *st;
    cJSON        *arr = NULL;
    int64_t       since = 0;
    char          ts[32];
    int           c;

    optind = 1;
    while ((c = cp_getopt(argc, argv, opts, "log")) != -1) {
        switch (c) {
        case 's':
            if (cp_time_parse(optarg, &since) != 0) {
                cp_bad("log: --since \"%s\": expected YYYY-MM-DD or"
                       " YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]", optarg);
                return usage();
            }
            break;
        default:
            return usage();
        }
    }
    if (optind != argc) {
        cp_bad("log: unexpected \"%s\"", argv[optind]);
        return usage();
    }
    if (ctl_open(ctl) != 0) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT id, at_ms, os_user, operator, object,"
                                " action, before, after FROM change_log"
                                " WHERE at_ms >= ?1 ORDER BY id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    sqlite3_bind_int64(st, 1, since * 1000);
    if (ctl->json) {
        arr = cJSON_CreateArray();
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t     ms = sqlite3_column_int64(st, 1);
        const char *op = (const char *) sqlite3_column_text(st, 3);

        cp_time_format_utc(ms / 1000, ts, sizeof(ts));
        /* milliseconds before the Z */
        snprintf(ts + 19, sizeof(ts) - 19, ".%03dZ", (int) (ms % 1000));
        if (arr != NULL) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddNumberToObject(o, "id",
                                    (double) sqlite3_column_int64(st, 0));
            cJSON_AddStringToObject(o, "at", ts);
            cJSON_AddNumberToObject(o, "at_ms", (double) ms);
            cJSON_AddStringToObject(o, "os_user",
                                    (const char *) sqlite3_column_text(st, 2));
            if (op != NULL) {
                cJSON_AddStringToObject(o, "operator", op);
            } else {
                cJSON_AddNullToObject(o, "operator");
            }
            cJSON_AddStringToObject(o, "object",
                                    (const char *) sqlite3_column_text(st, 4));
            cJSON_AddStringToObject(o, "action",
                                    (const char *) sqlite3_column_text(st, 5));
            add_json(o, "before", st, 6);
            add_json(o, "after", st, 7);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        printf("%s  %s%s%s%s  %s  %s\n", ts, sqlite3_column_text(st, 2),
               op ? " (" : "", op ? op : "", op ? ")" : "",
               sqlite3_column_text(st, 4), sqlite3_column_text(st, 5));
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            printf("    before: %s\n", sqlite3_column_text(st, 6));
        }
        if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
            printf("    after:  %s\n", sqlite3_column_text(st, 7));
        }
    }
    sqlite3_finalize(st);
    if (arr != NULL) {
        cp_json_print(arr);
    }
    return CP_EXIT_OK;
}
