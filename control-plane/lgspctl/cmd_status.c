/* lgspctl status: what the control plane sees. */

#include <stdio.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_store.h"
#include "cp_util.h"

static const struct {
    const char *name;
    const char *sql;
} counts[] = {
    { "agencies",    "SELECT count(*) FROM agencies WHERE state = 'active'" },
    { "systems",     "SELECT count(*) FROM systems" },
    { "services",    "SELECT count(*) FROM services" },
    { "versions",    "SELECT count(*) FROM versions" },
    { "grants",      "SELECT count(*) FROM grants WHERE state != 'revoked'" },
    { "credentials", "SELECT count(*) FROM credentials"
                     " WHERE state = 'active'" },
    { "keys",        "SELECT count(*) FROM signing_keys"
                     " WHERE state != 'revoked'" },
};

int
cmd_status(ctl_t *ctl, int argc, char **argv)
{
    cJSON *o, *c;
    char  *s;
    int    pid;
    int64_t backlog;

    (void) argv;
    if (argc != 1) {
        return ctl_usage(ctl_find("status"));
    }
    if (ctl_open(ctl) != 0) {
        return CP_EXIT_REFUSED;
    }
    pid = ctl_lgspd_pid(ctl);
    backlog = ctl_audit_backlog(ctl);

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "home", ctl->home.root);
    cJSON_AddStringToObject(o, "db", ctl->db_path);
    cJSON_AddNumberToObject(o, "layout", cp_db_version(ctl->db));
    cJSON_AddBoolToObject(o, "lgspd_running", pid > 0);
    if (pid > 0) {
        cJSON_AddNumberToObject(o, "lgspd_pid", pid);
    }
    cJSON_AddNumberToObject(o, "audit_backlog", (double) backlog);
    c = cJSON_AddObjectToObject(o, "counts");
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        cJSON_AddNumberToObject(c, counts[i].name,
                                (double) cp_db_int(ctl->db, counts[i].sql,
                                                   0));
    }

    if (ctl->json) {
        s = cJSON_PrintUnformatted(o);
        puts(s);
        cJSON_free(s);
    } else {
        printf("home         %s\n", ctl->home.root);
        printf("registry     %s (layout %d)\n", ctl->db_path,
               cp_db_version(ctl->db));
        if (pid > 0) {
            printf("lgspd        running (pid %d)\n", pid);
        } else {
            printf("lgspd        not running\n");
        }
        printf("audit_backlog %lld\n", (long long) backlog);
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
            printf("%-12s %lld\n", counts[i].name,
                   cp_db_int(ctl->db, counts[i].sql, 0));
        }
    }
    cJSON_Delete(o);
    return CP_EXIT_OK;
}
