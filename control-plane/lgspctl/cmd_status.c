/* lgspctl status: what the control plane sees. */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_snapshot.h"
#include "cp_store.h"
#include "cp_util.h"

/*
 * Which generation each nginx worker serves.  Their shared-memory table is
 * out of reach from here, so each worker also writes
 * run/workers/worker-<slot>.gen ("pid generation loaded_ms") whenever it
 * swaps; a file whose pid is gone is a worker of the past and is not
 * shown.  The workers run as another user: kill(pid, 0) answering EPERM
 * means alive.
 */
/* "worker-<slot>.gen" (not the worker's "….gen.<pid>" being written) */
static int
worker_slot(const char *name, unsigned *slot)
{
    char *end;

    if (strncmp(name, "worker-", 7) != 0 || name[7] < '0' || name[7] > '9') {
        return -1;
    }
    *slot = (unsigned) strtoul(name + 7, &end, 10);
    return strcmp(end, ".gen") == 0 ? 0 : -1;
}

static cJSON *
workers(const ctl_t *ctl, uint64_t published, int *all_current)
{
    char            dir[PATH_MAX + 32], path[PATH_MAX + 300], *buf;
    DIR            *d;
    struct dirent  *de;
    cJSON          *arr = cJSON_CreateArray();
    int             n = 0;

    *all_current = 1;
    if (cp_home_path(&ctl->home, "run/workers", dir, sizeof(dir)) != 0
        || (d = opendir(dir)) == NULL)
    {
        *all_current = 0;
        return arr;
    }
    while ((de = readdir(d)) != NULL) {
        long long           pid, loaded;
        unsigned long long  gen;
        unsigned            slot;
        cJSON              *w;

        if (worker_slot(de->d_name, &slot) != 0
            || cp_path(path, sizeof(path), "%s/%s", dir, de->d_name) != 0
            || (buf = cp_read_file(path, 128, NULL)) == NULL)
        {
            continue;
        }
        if (sscanf(buf, "%lld %llu %lld", &pid, &gen, &loaded) != 3
            || pid <= 0
            || (kill((pid_t) pid, 0) != 0 && errno == ESRCH))
        {
            free(buf);
            continue;
        }
        free(buf);
        w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "slot", slot);
        cJSON_AddNumberToObject(w, "pid", (double) pid);
        cJSON_AddNumberToObject(w, "generation", (double) gen);
        cJSON_AddBoolToObject(w, "current", gen == published);
        cJSON_AddItemToArray(arr, w);
        if (gen != published) {
            *all_current = 0;
        }
        n++;
    }
    closedir(d);
    if (n == 0) {
        *all_current = 0;
    }
    return arr;
}

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
    cJSON    *o, *c, *sn, *ws;
    char     *s, snapdir[PATH_MAX + 32];
    int       pid, all_current;
    uint64_t  published = 0;
    int64_t   backlog;
    long long open_requests;
    int       overdue;

    (void) argv;
    if (argc != 1) {
        return ctl_usage(ctl_find("status"));
    }
    if (ctl_open(ctl) != 0) {
        return CP_EXIT_REFUSED;
    }
    pid = ctl_lgspd_pid(ctl);
    if (cp_home_path(&ctl->home, "snapshots", snapdir, sizeof(snapdir))
        == 0)
    {
        published = cp_snapshot_current(snapdir);
    }
    backlog = ctl_audit_backlog(ctl);
    overdue = ctl_requests_overdue(ctl, &open_requests);

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "home", ctl->home.root);
    cJSON_AddStringToObject(o, "db", ctl->db_path);
    cJSON_AddNumberToObject(o, "layout", cp_db_version(ctl->db));
    cJSON_AddBoolToObject(o, "lgspd_running", pid > 0);
    if (pid > 0) {
        cJSON_AddNumberToObject(o, "lgspd_pid", pid);
    }
    sn = cJSON_AddObjectToObject(o, "snapshot");
    cJSON_AddNumberToObject(sn, "generation", (double) published);
    ws = workers(ctl, published, &all_current);
    cJSON_AddBoolToObject(sn, "workers_current", published && all_current);
    cJSON_AddItemToObject(sn, "workers", ws);
    cJSON_AddNumberToObject(o, "audit_backlog", (double) backlog);
    cJSON_AddNumberToObject(o, "requests_open", (double) open_requests);
    cJSON_AddNumberToObject(o, "requests_overdue", overdue);
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
        if (published) {
            printf("snapshot     generation %llu published\n",
                   (unsigned long long) published);
        } else {
            printf("snapshot     none published\n");
        }
        for (cJSON *w = ws->child; w; w = w->next) {
            printf("worker %-5d pid %d, generation %.0f%s\n",
                   cJSON_GetObjectItem(w, "slot")->valueint,
                   cJSON_GetObjectItem(w, "pid")->valueint,
                   cJSON_GetObjectItem(w, "generation")->valuedouble,
                   cJSON_IsTrue(cJSON_GetObjectItem(w, "current"))
                   ? "" : " (behind)");
        }
        if (ws->child == NULL) {
            printf("workers      none reporting\n");
        }
        printf("audit_backlog %lld\n", (long long) backlog);
        printf("requests     %lld open, %d overdue (5 working days)\n",
               open_requests, overdue);
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
            printf("%-12s %lld\n", counts[i].name,
                   cp_db_int(ctl->db, counts[i].sql, 0));
        }
    }
    cJSON_Delete(o);
    return CP_EXIT_OK;
}
