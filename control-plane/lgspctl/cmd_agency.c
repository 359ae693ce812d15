/*
 * lgspctl agency add|rename|close|list: agencies and their identity codes
 * (SPEC §3).  A code, once any agency's (canonical, alias or former),
 * stays that agency's forever: agency_codes rows are never deleted, so a
 * closed or renamed code can never be given again.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_changelog.h"
#include "cp_cli.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_util.h"

#define MAX_ALIASES  8

static int
usage(void)
{
    return ctl_usage(ctl_find("agency"));
}

/* 0 when the code is valid; else a message and CP_EXIT_USAGE */
static int
check_code(const char *what, const char *code)
{
    char why[160];

    if (cp_idcode_check(code, why, sizeof(why)) == CP_IDCODE_INVALID) {
        return cp_bad("%s: %s", what, why);
    }
    return 0;
}

/* Refuse a code any agency ever had: 0 free, CP_EXIT_REFUSED taken. */
static int
code_free(sqlite3 *db, const char *code)
{
    sqlite3_stmt *st;
    int           rc = 0;

    st = cp_db_prepare(db, "SELECT c.kind, a.code, a.state FROM agency_codes c"
                           " JOIN agencies a ON a.id = c.agency_id"
                           " WHERE c.code = ?1");
    if (st == NULL) {
        return cp_refuse(db, "registry: cannot read agency codes");
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *kind = (const char *) sqlite3_column_text(st, 0);
        const char *owner = (const char *) sqlite3_column_text(st, 1);
        const char *state = (const char *) sqlite3_column_text(st, 2);

        if (strcmp(state, "closed") == 0) {
            rc = cp_refuse(db, "agency %s: the code was closed (agency %s);"
                           " a closed code is never reused", code, owner);
        } else if (strcmp(kind, "canonical") == 0) {
            rc = cp_refuse(db, "agency %s: already exists", code);
        } else {
            rc = cp_refuse(db, "agency %s: already the %s code of agency %s;"
                           " a code belongs to one agency forever", code,
                           kind, owner);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int
insert_code(sqlite3 *db, const char *code, long long agency_id,
            const char *kind)
{
    sqlite3_stmt *st;
    int           rc;

    st = cp_db_prepare(db, "INSERT INTO agency_codes (code, agency_id, kind)"
                           " VALUES (?1, ?2, ?3)");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, agency_id);
    sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

static int
print_agency(ctl_t *ctl, long long id, int print_code)
{
    cJSON *o = cp_agency_json(ctl->db, id);

    if (o == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (ctl->json) {
        cp_json_print(o);
        return CP_EXIT_OK;
    }
    if (print_code) {
        puts(cJSON_GetObjectItem(o, "code")->valuestring);
    }
    cJSON_Delete(o);
    return CP_EXIT_OK;
}

static int
agency_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name",   required_argument, NULL, 'n' },
        { "parent", required_argument, NULL, 'p' },
        { "alias",  required_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 }
    };
    const char      *name = NULL, *parent = NULL, *code;
    const char      *aliases[MAX_ALIASES];
    char             gparent[CP_IDCODE_MAX + 1];
    int              naliases = 0, c, rc;
    cp_agency_ref_t  p;
    long long        parent_id = 0, id;
    sqlite3_stmt    *st;

    while ((c = cp_getopt(argc, argv, opts, "agency add")) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'p': parent = optarg; break;
        case 'a':
            if (naliases == MAX_ALIASES) {
                cp_bad("agency add: at most %d aliases", MAX_ALIASES);
                return usage();
            }
            aliases[naliases++] = optarg;
            break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || name == NULL) {
        cp_bad("agency add: needs CODE and --name");
        return usage();
    }
    code = argv[optind];
    if (check_code("agency add", code) || (parent != NULL
        && check_code("agency add --parent", parent)))
    {
        return CP_EXIT_USAGE;
    }
    for (int i = 0; i < naliases; i++) {
        if (check_code("agency add --alias", aliases[i])) {
            return CP_EXIT_USAGE;
        }
        if (strcmp(aliases[i], code) == 0) {
            return cp_bad("agency add: --alias %s is the code itself",
                          aliases[i]);
        }
    }
    if (cp_text_arg("agency add", "--name", name, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    if ((rc = code_free(ctl->db, code)) != 0) {
        return rc;
    }
    for (int i = 0; i < naliases; i++) {
        if ((rc = code_free(ctl->db, aliases[i])) != 0) {
            return rc;
        }
    }
    if (parent != NULL) {
        rc = cp_find_agency(ctl->db, parent, &p);
        if (rc <= 0) {
            return cp_refuse(ctl->db, "agency %s: parent %s does not exist",
                             code, parent);
        }
        if (p.closed) {
            return cp_refuse(ctl->db, "agency %s: parent %s is closed", code,
                             parent);
        }
        parent_id = p.id;
    } else if (cp_idcode_parent(code, gparent, sizeof(gparent)) == 0
               && cp_find_agency(ctl->db, gparent, &p) == 1 && !p.closed)
    {
        /* the code's own grammar names its parent: link it */
        parent_id = p.id;
    }

    st = cp_db_prepare(ctl->db, "INSERT INTO agencies (code, name, parent_id,"
                                " created_at) VALUES (?1, ?2, ?3, ?4)");
    if (st == NULL) {
        return cp_refuse(ctl->db, "agency %s: cannot add", code);
    }
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if (parent_id) {
        sqlite3_bind_int64(st, 3, parent_id);
    }
    sqlite3_bind_int64(st, 4, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return cp_refuse(ctl->db, "agency %s: %s", code,
                         sqlite3_errmsg(ctl->db));
    }
    id = sqlite3_last_insert_rowid(ctl->db);
    if (insert_code(ctl->db, code, id, "canonical") != 0) {
        return cp_refuse(ctl->db, "agency %s: %s", code,
                         sqlite3_errmsg(ctl->db));
    }
    for (int i = 0; i < naliases; i++) {
        /* the same alias twice on one command line */
        if (insert_code(ctl->db, aliases[i], id, "alias") != 0) {
            return cp_refuse(ctl->db, "agency %s: alias %s given twice", code,
                             aliases[i]);
        }
    }

    char object[64];
    snprintf(object, sizeof(object), "agency:%s", code);
    if (cp_record(ctl->db, "agencies", id, object, "add", NULL) != 0) {
        return cp_refuse(ctl->db, "agency %s: not added", code);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_agency(ctl, id, 1);
}

static int
agency_rename(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "name", required_argument, NULL, 'n' },
        { "code", required_argument, NULL, 'c' },
        { NULL, 0, NULL, 0 }
    };
    const char      *name = NULL, *newcode = NULL, *code;
    cp_agency_ref_t  a;
    sqlite3_stmt    *st;
    char            *before, object[64];
    int              c, rc;

    while ((c = cp_getopt(argc, argv, opts, "agency rename")) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'c': newcode = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || (name == NULL && newcode == NULL)) {
        cp_bad("agency rename: needs CODE and --name or --code");
        return usage();
    }
    code = argv[optind];
    if (check_code("agency rename", code)
        || (newcode && check_code("agency rename --code", newcode)))
    {
        return CP_EXIT_USAGE;
    }
    if (cp_text_arg("agency rename", "--name", name, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }

    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_agency(ctl->db, code, &a);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "agency %s: no such agency", code);
    }
    if (a.closed) {
        return cp_refuse(ctl->db, "agency %s: closed; a closed agency is"
                         " final", code);
    }
    before = cp_change_row(ctl->db, "agencies", a.id);

    if (newcode != NULL) {
        if ((rc = code_free(ctl->db, newcode)) != 0) {
            free(before);
            return rc;
        }
        st = cp_db_prepare(ctl->db, "UPDATE agency_codes SET kind = 'former'"
                                    " WHERE code = ?1");
        if (st == NULL) {
            free(before);
            return cp_refuse(ctl->db, "agency %s: cannot rename", code);
        }
        sqlite3_bind_text(st, 1, a.code, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE
            || insert_code(ctl->db, newcode, a.id, "canonical") != 0)
        {
            free(before);
            return cp_refuse(ctl->db, "agency %s: %s", code,
                             sqlite3_errmsg(ctl->db));
        }
    }
    st = cp_db_prepare(ctl->db, "UPDATE agencies SET code = coalesce(?1, code),"
                                " name = coalesce(?2, name) WHERE id = ?3");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "agency %s: cannot rename", code);
    }
    if (newcode) {
        sqlite3_bind_text(st, 1, newcode, -1, SQLITE_STATIC);
    }
    if (name) {
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 3, a.id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "agency %s: %s", code,
                         sqlite3_errmsg(ctl->db));
    }
    snprintf(object, sizeof(object), "agency:%s", a.code);
    if (cp_record(ctl->db, "agencies", a.id, object, "rename", before) != 0) {
        return cp_refuse(ctl->db, "agency %s: not renamed", code);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_agency(ctl, a.id, 0);
}

static int
agency_close(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 }
    };
    const char      *reason = NULL, *code;
    cp_agency_ref_t  a;
    sqlite3_stmt    *st;
    char            *before, object[64];
    int              c, rc;

    while ((c = cp_getopt(argc, argv, opts, "agency close")) != -1) {
        switch (c) {
        case 'r': reason = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || reason == NULL) {
        cp_bad("agency close: needs CODE and --reason");
        return usage();
    }
    code = argv[optind];
    if (check_code("agency close", code)) {
        return CP_EXIT_USAGE;
    }
    if (cp_text_arg("agency close", "--reason", reason, CP_TEXT_MAX, 0)
        != 0)
    {
        return CP_EXIT_USAGE;
    }
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    rc = cp_find_agency(ctl->db, code, &a);
    if (rc <= 0) {
        return cp_refuse(ctl->db, "agency %s: no such agency", code);
    }
    if (a.closed) {
        return cp_refuse(ctl->db, "agency %s: already closed", code);
    }
    before = cp_change_row(ctl->db, "agencies", a.id);
    st = cp_db_prepare(ctl->db, "UPDATE agencies SET state = 'closed',"
                                " close_reason = ?1, closed_at = ?2"
                                " WHERE id = ?3");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "agency %s: cannot close", code);
    }
    sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cp_now());
    sqlite3_bind_int64(st, 3, a.id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "agency %s: %s", code,
                         sqlite3_errmsg(ctl->db));
    }
    snprintf(object, sizeof(object), "agency:%s", a.code);
    if (cp_record(ctl->db, "agencies", a.id, object, "close", before) != 0) {
        return cp_refuse(ctl->db, "agency %s: not closed", code);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    return print_agency(ctl, a.id, 0);
}

static int
agency_list(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    cJSON        *arr = cJSON_CreateArray();

    (void) argv;
    if (argc != 1) {
        cJSON_Delete(arr);
        cp_bad("agency list: takes no arguments");
        return usage();
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM agencies ORDER BY code");
    if (st == NULL) {
        cJSON_Delete(arr);
        return CP_EXIT_REFUSED;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cp_agency_json(ctl->db, sqlite3_column_int64(st, 0));
        if (o != NULL) {
            cJSON_AddItemToArray(arr, o);
        }
    }
    sqlite3_finalize(st);

    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-20s %-7s %-20s %s\n", "CODE", "STATE", "PARENT", "NAME");
    cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        cJSON *p = cJSON_GetObjectItem(o, "parent");
        cJSON *al = cJSON_GetObjectItem(o, "aliases");
        cJSON *fm = cJSON_GetObjectItem(o, "former_codes");
        cJSON *x;

        printf("%-20s %-7s %-20s %s",
               cJSON_GetObjectItem(o, "code")->valuestring,
               cJSON_GetObjectItem(o, "state")->valuestring,
               cJSON_IsString(p) ? p->valuestring : "-",
               cJSON_GetObjectItem(o, "name")->valuestring);
        cJSON_ArrayForEach(x, al) {
            printf(" [alias %s]", x->valuestring);
        }
        cJSON_ArrayForEach(x, fm) {
            printf(" [former %s]", x->valuestring);
        }
        putchar('\n');
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_agency(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",    agency_add,    1 },
        { "rename", agency_rename, 1 },
        { "close",  agency_close,  1 },
        { "list",   agency_list,   1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "agency");
}
