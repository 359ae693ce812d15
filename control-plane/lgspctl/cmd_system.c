/*
 * lgspctl system add|commitment|suspend|resume|list: the information
 * systems (HTTT/CSDL) of agencies.  A system needs a security commitment
 * (Form 03) or an approved security level before it may offer a service.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_forms.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

static int
usage(void)
{
    return ctl_usage(ctl_find("system"));
}

static int
print_system(ctl_t *ctl, long long id, const char *ident)
{
    if (ctl->json) {
        cJSON *o = cp_system_json(ctl->db, id);
        if (o == NULL) {
            return CP_EXIT_REFUSED;
        }
        cp_json_print(o);
    } else if (ident != NULL) {
        puts(ident);
    }
    return CP_EXIT_OK;
}

static int
bad_ident(const char *what, const char *ident)
{
    return cp_bad("%s: \"%s\": a system id is [a-z][a-z0-9-]{1,63}", what,
                  ident);
}

/* --poll-interval: 0, or the usage exit status after saying why */
static int
poll_interval(const char *what, const char *arg, long long *poll)
{
    if (cp_parse_uint(arg, "s", 86400, poll) != 0 || *poll < 1) {
        cp_bad("%s: --poll-interval: 1..86400 seconds", what);
        return usage();
    }
    return 0;
}

static int
system_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "agency",         required_argument, NULL, 'a' },
        { "name",           required_argument, NULL, 'n' },
        { "health-url",     required_argument, NULL, 'h' },
        { "poll-interval",  required_argument, NULL, 'p' },
        { "security-level", required_argument, NULL, 's' },
        { "allow-link-local", no_argument,     NULL, 'L' },
        { NULL, 0, NULL, 0 }
    };
    const char      *agency = NULL, *name = NULL, *health = NULL, *ident;
    long long        poll = 60, level = 0, id;
    cp_agency_ref_t  a;
    cp_system_ref_t  s;
    sqlite3_stmt    *st;
    char             why[128], object[96];
    int              c, rc, allow = 0;

    while ((c = cp_getopt(argc, argv, opts, "system add")) != -1) {
        switch (c) {
        case 'a': agency = optarg; break;
        case 'n': name = optarg; break;
        case 'h': health = optarg; break;
        case 'p':
            if (poll_interval("system add", optarg, &poll) != 0) {
                return CP_EXIT_USAGE;
            }
            break;
        case 'L': allow = 1; break;
        case 's':
            if (cp_parse_uint(optarg, NULL, 5, &level) != 0 || level < 1) {
                cp_bad("system add: --security-level: 1..5");
                return usage();
            }
            break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || agency == NULL || name == NULL) {
        cp_bad("system add: needs ID, --agency and --name");
        return usage();
    }
    ident = argv[optind];
    if (cp_valid_system_id(ident) != 0) {
        return bad_ident("system add", ident);
    }
    if (cp_text_arg("system add", "--name", name, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    if (health != NULL && cp_valid_url(health, why, sizeof(why)) != 0) {
        return cp_bad("system add: --health-url: %s", why);
    }

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_agency(ctl->db, agency, &a);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "system %s: agency %s does not exist",
                         ident, agency);
    }
    if (a.closed) {
        return cp_refuse(ctl->db, "system %s: agency %s is closed", ident,
                         agency);
    }
    if (cp_find_system(ctl->db, ident, &s) != 0) {
        return cp_refuse(ctl->db, "system %s: already exists", ident);
    }
    if ((rc = ctl_url_where(ctl->db, "system add", "--health-url", health,
                            allow)) != 0)
    {
        return rc;
    }
    st = cp_db_prepare(ctl->db, "INSERT INTO systems (ident, agency_id, name,"
                                " health_url, poll_interval, security_level,"
                                " created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)");
    if (st == NULL) {
        return cp_refuse(ctl->db, "system %s: cannot add", ident);
    }
    sqlite3_bind_text(st, 1, ident, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a.id);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    if (health) {
        sqlite3_bind_text(st, 4, health, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 5, poll);
    if (level) {
        sqlite3_bind_int64(st, 6, level);
    }
    sqlite3_bind_int64(st, 7, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return cp_refuse(ctl->db, "system %s: %s", ident,
                         sqlite3_errmsg(ctl->db));
    }
    id = sqlite3_last_insert_rowid(ctl->db);
    snprintf(object, sizeof(object), "system:%s", ident);
    if (cp_record(ctl->db, "systems", id, object, "add", NULL) != 0) {
        return cp_refuse(ctl->db, "system %s: not added", ident);
    }
    if (allow && (rc = ctl_allow_link_local(ctl->db, id, 1)) != 0) {
        return rc;
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_system(ctl, id, ident);
}

/* UPDATE one system row under the change log; refusals already checked */
static int
update_system(ctl_t *ctl, const cp_system_ref_t *s, const char *action,
              const char *sql, const char *t1, const char *t2,
              const char *t3)
{
    sqlite3_stmt *st;
    char         *before, object[96];
    int           rc;

    before = cp_change_row(ctl->db, "systems", s->id);
    st = cp_db_prepare(ctl->db, sql);
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "system %s: cannot %s", s->ident, action);
    }
    sqlite3_bind_int64(st, 1, s->id);
    if (t1) {
        sqlite3_bind_text(st, 2, t1, -1, SQLITE_STATIC);
    }
    if (t2) {
        sqlite3_bind_text(st, 3, t2, -1, SQLITE_STATIC);
    }
    if (t3) {
        sqlite3_bind_text(st, 4, t3, -1, SQLITE_STATIC);
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "system %s: %s", s->ident,
                         sqlite3_errmsg(ctl->db));
    }
    snprintf(object, sizeof(object), "system:%s", s->ident);
    if (cp_record(ctl->db, "systems", s->id, object, action, before) != 0) {
        return cp_refuse(ctl->db, "system %s: not changed", s->ident);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_system(ctl, s->id, NULL);
}

/* Begin and find the system: 0, or the exit status of a refusal. */
static int
begin_find(ctl_t *ctl, const char *ident, cp_system_ref_t *s)
{
    int rc;

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_system(ctl->db, ident, s);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "system %s: no such system", ident);
    }
    return 0;
}

/*
 * system set: the level-1 URL, the poll interval, and where the system's
 * URLs may point.  Allowing comes before the URL it allows; taking the
 * permission back is refused while a URL of the system still needs it.
 */
static int
system_set(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "health-url",          required_argument, NULL, 'h' },
        { "poll-interval",       required_argument, NULL, 'p' },
        { "allow-link-local",    no_argument,       NULL, 'L' },
        { "no-allow-link-local", no_argument,       NULL, 'N' },
        { NULL, 0, NULL, 0 }
    };
    const char      *health = NULL, *ident;
    long long        poll = 0;
    cp_system_ref_t  s;
    sqlite3_stmt    *st;
    char             why[128], object[96], *before;
    int              c, rc, allow = 0, refuse = 0;

    while ((c = cp_getopt(argc, argv, opts, "system set")) != -1) {
        switch (c) {
        case 'h': health = optarg; break;
        case 'p':
            if (poll_interval("system set", optarg, &poll) != 0) {
                return CP_EXIT_USAGE;
            }
            break;
        case 'L': allow = 1; break;
        case 'N': refuse = 1; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || (!health && !poll && !allow && !refuse)) {
        cp_bad("system set: needs ID and something to set");
        return usage();
    }
    if (allow && refuse) {
        cp_bad("system set: --allow-link-local or --no-allow-link-local,"
               " not both");
        return usage();
    }
    ident = argv[optind];
    if (cp_valid_system_id(ident) != 0) {
        return bad_ident("system set", ident);
    }
    if (health != NULL && strcmp(health, "none") == 0) {
        health = "";
    } else if (health != NULL && cp_valid_url(health, why, sizeof(why)) != 0) {
        return cp_bad("system set: --health-url: %s", why);
    }
    if ((rc = begin_find(ctl, ident, &s)) != 0) {
        return rc;
    }
    if (s.agency_closed) {
        return cp_refuse(ctl->db, "system %s: its agency is closed", ident);
    }
    if (allow && !s.allow_link_local
        && (rc = ctl_allow_link_local(ctl->db, s.id, 1)) != 0)
    {
        return rc;
    }
    if ((rc = ctl_url_where(ctl->db, "system set", "--health-url", health,
                            !refuse && (allow || s.allow_link_local))) != 0)
    {
        return rc;
    }
    if (health != NULL || poll != 0) {
        before = cp_change_row(ctl->db, "systems", s.id);
        st = cp_db_prepare(ctl->db, "UPDATE systems SET"
                                    " health_url = CASE WHEN ?2 IS NULL"
                                    "   THEN health_url ELSE nullif(?2, '')"
                                    "   END,"
                                    " poll_interval = coalesce(?3,"
                                    "   poll_interval) WHERE id = ?1");
        if (st == NULL) {
            free(before);
            return cp_refuse(ctl->db, "system %s: cannot set", ident);
        }
        sqlite3_bind_int64(st, 1, s.id);
        if (health) {
            sqlite3_bind_text(st, 2, health, -1, SQLITE_STATIC);
        }
        if (poll) {
            sqlite3_bind_int64(st, 3, poll);
        }
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            free(before);
            return cp_refuse(ctl->db, "system %s: %s", ident,
                             sqlite3_errmsg(ctl->db));
        }
        snprintf(object, sizeof(object), "system:%s", ident);
        if (cp_record(ctl->db, "systems", s.id, object, "set", before) != 0)
        {
            return cp_refuse(ctl->db, "system %s: not changed", ident);
        }
    }
    if (refuse && s.allow_link_local
        && ((rc = ctl_system_urls_where(ctl->db, s.id, "system set")) != 0
            || (rc = ctl_allow_link_local(ctl->db, s.id, 0)) != 0))
    {
        return rc;
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_system(ctl, s.id, NULL);
}

static int
system_commitment(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "signed-by",  required_argument, NULL, 's' },
        { "date",       required_argument, NULL, 'd' },
        { "form",       required_argument, NULL, 'f' },
        { "print-form", no_argument,       NULL, 'p' },
        { NULL, 0, NULL, 0 }
    };
    const char      *by = NULL, *date = NULL, *ident, *file = NULL;
    cp_system_ref_t  s;
    cJSON           *form = NULL;
    char            *form_text = NULL, why[800];
    int64_t          t;
    int              c, rc, print = 0;

    while ((c = cp_getopt(argc, argv, opts, "system commitment")) != -1) {
        switch (c) {
        case 's': by = optarg; break;
        case 'd': date = optarg; break;
        case 'f': file = optarg; break;
        case 'p': print = 1; break;
        default: return usage();
        }
    }
    if (print && file == NULL) {
        cp_bad("system commitment: --print-form needs --form FILE");
        return usage();
    }
    if (file != NULL && (by != NULL || date != NULL)) {
        cp_bad("system commitment: with --form, the signer and date come"
               " from the form");
        return usage();
    }
    if (print) {
        /* printing for signature changes nothing and needs no ID */
        form = cp_form_load(file, "03", why, sizeof(why));
        if (form == NULL) {
            cp_err("system commitment: %s", why);
            return CP_EXIT_REFUSED;
        }
        cp_form_render(form, stdout);
        cJSON_Delete(form);
        return CP_EXIT_OK;
    }
    if (optind + 1 != argc || (file == NULL && (by == NULL || date == NULL)))
    {
        cp_bad("system commitment: needs ID, and --signed-by and --date or"
               " --form");
        return usage();
    }
    ident = argv[optind];
    if (file != NULL) {
        form = cp_form_load(file, "03", why, sizeof(why));
        if (form == NULL) {
            cp_err("system commitment: %s", why);
            return CP_EXIT_REFUSED;
        }
        if (strcmp(cp_form_str(form, "system"), ident) != 0) {
            cp_err("system commitment: %s: /system: the form is for %s,"
                   " not %s", file, cp_form_str(form, "system"), ident);
            cJSON_Delete(form);
            return CP_EXIT_REFUSED;
        }
        by = cp_form_str(form, "signer/name");
        date = cp_form_str(form, "date");
        form_text = cJSON_PrintUnformatted(form);
    }
    rc = CP_EXIT_USAGE;
    if (cp_valid_system_id(ident) != 0) {
        bad_ident("system commitment", ident);
        goto out;
    }
    if (cp_text_arg("system commitment", file ? "/signer/name"
                    : "--signed-by", by, CP_TEXT_MAX, 0) != 0)
    {
        goto out;
    }
    if (cp_date_parse(date, &t) != 0) {
        cp_bad("system commitment: %s \"%s\": expected a real YYYY-MM-DD",
               file ? "/date" : "--date", date);
        goto out;
    }
    if (t > cp_now()) {
        cp_bad("system commitment: %s %s is in the future",
               file ? "/date" : "--date", date);
        goto out;
    }
    if ((rc = begin_find(ctl, ident, &s)) != 0) {
        goto out;
    }
    if (s.agency_closed) {
        rc = cp_refuse(ctl->db, "system %s: its agency is closed", ident);
        goto out;
    }
    /* a commitment without a form clears an older form: the record says
     * what was signed last */
    rc = update_system(ctl, &s, "commitment",
                       "UPDATE systems SET commitment_signed_by = ?2,"
                       " commitment_date = ?3, commitment_form = ?4"
                       " WHERE id = ?1", by, date, form_text);
out:
    cJSON_free(form_text);
    cJSON_Delete(form);
    return rc;
}

static int
system_suspend_resume(ctl_t *ctl, int argc, char **argv, int suspend)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };
    const char      *reason = NULL, *ident;
    const char      *verb = suspend ? "system suspend" : "system resume";
    cp_system_ref_t  s;
    int              c, rc;

    while ((c = cp_getopt(argc, argv, opts, verb)) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || reason == NULL) {
        cp_bad("%s: needs ID and --reason", verb);
        return usage();
    }
    ident = argv[optind];
    if (cp_valid_system_id(ident) != 0) {
        return bad_ident(verb, ident);
    }
    if (cp_text_arg(verb, "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    if ((rc = begin_find(ctl, ident, &s)) != 0) {
        return rc;
    }
    if (suspend && s.suspended) {
        return cp_refuse(ctl->db, "system %s: already suspended", ident);
    }
    if (!suspend && !s.suspended) {
        return cp_refuse(ctl->db, "system %s: not suspended", ident);
    }
    return update_system(ctl, &s, suspend ? "suspend" : "resume",
                         suspend ? "UPDATE systems SET suspended = 1,"
                                   " suspend_reason = ?2 WHERE id = ?1"
                                 : "UPDATE systems SET suspended = 0,"
                                   " suspend_reason = ?2 WHERE id = ?1",
                         reason, NULL, NULL);
}

static int
system_suspend(ctl_t *ctl, int argc, char **argv)
{
    return system_suspend_resume(ctl, argc, argv, 1);
}

static int
system_resume(ctl_t *ctl, int argc, char **argv)
{
    return system_suspend_resume(ctl, argc, argv, 0);
}

static int
system_list(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    cJSON        *arr, *o;

    (void) argv;
    if (argc != 1) {
        cp_bad("system list: takes no arguments");
        return usage();
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM systems ORDER BY ident");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    arr = cJSON_CreateArray();
    while (sqlite3_step(st) == SQLITE_ROW) {
        o = cp_system_json(ctl->db, sqlite3_column_int64(st, 0));
        if (o != NULL) {
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-24s %-16s %-9s %-10s %s\n", "ID", "AGENCY", "STATE",
           "SECURITY", "NAME");
    cJSON_ArrayForEach(o, arr) {
        cJSON *lvl = cJSON_GetObjectItem(o, "security_level");
        char   sec[16];

        if (cJSON_IsNumber(lvl)) {
            snprintf(sec, sizeof(sec), "level %d", lvl->valueint);
        } else {
            snprintf(sec, sizeof(sec), "%s",
                     cJSON_IsObject(cJSON_GetObjectItem(o, "commitment"))
                     ? "form 03" : "-");
        }
        printf("%-24s %-16s %-9s %-10s %s\n",
               cJSON_GetObjectItem(o, "id")->valuestring,
               cJSON_GetObjectItem(o, "agency")->valuestring,
               cJSON_IsTrue(cJSON_GetObjectItem(o, "suspended"))
               ? "suspended" : "active", sec,
               cJSON_GetObjectItem(o, "name")->valuestring);
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_system(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",        system_add,        1 },
        { "set",        system_set,        1 },
        { "commitment", system_commitment, 1 },
        { "suspend",    system_suspend,    1 },
        { "resume",     system_resume,     1 },
        { "list",       system_list,       1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "system");
}
