/*
 * lgspctl credential issue|revoke|list: client credentials of a system for
 * one environment.  The secret is shown once and stored only as
 * HMAC-SHA-256(pepper, secret) (SPEC §5); it never reaches the change log,
 * a listing or --json output other than the issue itself.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_registry.h"
#include "cp_changelog.h"
#include "cp_cli.h"
#include "cp_keys.h"
#include "cp_secret.h"
#include "cp_store.h"
#include "cp_util.h"

static const char *const redact_secret[] = { "secret_hash", NULL };

static int
env_valid(const char *env)
{
    return strcmp(env, "production") == 0 || strcmp(env, "sandbox") == 0;
}

/* The system's row id, when it may hold credentials; -1 with why. */
static long long
usable_system(ctl_t *ctl, const char *ident)
{
    sqlite3_stmt *st;
    long long     id = -1;

    st = cp_db_prepare(ctl->db,
                       "SELECT s.id, s.suspended, a.state, a.code"
                       " FROM systems s JOIN agencies a ON a.id = s.agency_id"
                       " WHERE s.ident = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, ident, -1, SQLITE_STATIC);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        if (sqlite3_column_int(st, 1) != 0) {
            cp_err("credential issue: system %s is suspended", ident);
        } else if (strcmp((const char *) sqlite3_column_text(st, 2),
                          "closed") == 0)
        {
            cp_err("credential issue: system %s belongs to agency %s,"
                   " which is closed", ident, sqlite3_column_text(st, 3));
        } else {
            id = sqlite3_column_int64(st, 0);
        }
        break;
    case SQLITE_DONE:
        cp_err("credential issue: no system \"%s\"", ident);
        break;
    default:
        cp_err("credential issue: %s", sqlite3_errmsg(ctl->db));
    }
    sqlite3_finalize(st);
    return id;
}

static int
client_id_taken(ctl_t *ctl, const char *client_id)
{
    sqlite3_stmt *st;
    int           taken = 1;

    st = cp_db_prepare(ctl->db,
                       "SELECT 1 FROM credentials WHERE client_id = ?1");
    if (st != NULL) {
        sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
        taken = sqlite3_step(st) != SQLITE_DONE;
        sqlite3_finalize(st);
    }
    return taken;
}

static int
credential_issue(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "env", required_argument, NULL, 'e' },
        { NULL, 0, NULL, 0 },
    };
    unsigned char  pepper[CP_PEPPER_LEN], hash[CP_SECRET_HASH_LEN];
    char           secret[CP_SECRET_LEN + 1], client_id[CP_CLIENT_ID_MAX + 1];
    char           object[CP_CLIENT_ID_MAX + 16], *after = NULL;
    const char    *env = "production", *system;
    long long      system_id, cred_id;
    sqlite3_stmt  *st;
    int            c, rc = CP_EXIT_REFUSED, tries;

    while ((c = cp_getopt(argc, argv, opts, "credential issue")) != -1) {
        if (c != 'e') {
            return CP_EXIT_USAGE;
        }
        env = optarg;
    }
    if (optind != argc - 1) {
        return CP_EXIT_USAGE;
    }
    system = argv[optind];
    if (!env_valid(env)) {
        cp_err("credential issue: --env must be sandbox or production");
        return CP_EXIT_USAGE;
    }
    if (cp_pepper(ctl->keys_dir, 0, pepper) != 0) {
        cp_err("credential issue: %s/pepper: %s", ctl->keys_dir,
               strerror(errno));
        return CP_EXIT_REFUSED;
    }
    if (cp_tx_begin(ctl->db) != 0) {
        goto done;
    }
    system_id = usable_system(ctl, system);
    if (system_id < 0) {
        goto rollback;
    }

    /* 32 random bits after the system's name: a clash is rare, not
     * impossible, and a client_id is never reused */
    for (tries = 0; tries < 8; tries++) {
        if (cp_client_id_make(system, env, client_id, sizeof(client_id))
            != 0)
        {
            cp_err("credential issue: cannot make a client id");
            goto rollback;
        }
        if (!client_id_taken(ctl, client_id)) {
            break;
        }
    }
    if (tries == 8 || cp_secret_generate(secret) != 0
        || cp_secret_hash(pepper, sizeof(pepper), secret, strlen(secret),
                          hash) != 0)
    {
        cp_err("credential issue: cannot generate a credential");
        goto rollback;
    }

    st = cp_db_prepare(ctl->db,
                       "INSERT INTO credentials (client_id, system_id, env,"
                       " secret_hash, state, created_at)"
                       " VALUES (?1, ?2, ?3, ?4, 'active', ?5)");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, system_id);
    sqlite3_bind_text(st, 3, env, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, cp_now());
    if (sqlite3_step(st) != SQLITE_DONE) {
        cp_err("credential issue: %s", sqlite3_errmsg(ctl->db));
        sqlite3_finalize(st);
        goto rollback;
    }
    sqlite3_finalize(st);
    cred_id = sqlite3_last_insert_rowid(ctl->db);

    after = cp_row_json(ctl->db, "credentials", cred_id, redact_secret);
    snprintf(object, sizeof(object), "credential:%s", client_id);
    if (after == NULL || cp_changelog(ctl->db, object, "issue", NULL, after)
        != 0 || cp_db_commit(ctl->db) != 0)
    {
        cp_err("credential issue: %s", sqlite3_errmsg(ctl->db));
        goto rollback;
    }

    /* shown this once; only its keyed hash is kept */
    if (ctl->json) {
        cJSON *o = cJSON_CreateObject();
        char  *s;

        cJSON_AddStringToObject(o, "client_id", client_id);
        cJSON_AddStringToObject(o, "client_secret", secret);
        cJSON_AddStringToObject(o, "system", system);
        cJSON_AddStringToObject(o, "env", env);
        s = cJSON_PrintUnformatted(o);
        if (s != NULL) {
            puts(s);
            OPENSSL_cleanse(s, strlen(s));
            cJSON_free(s);
        }
        cJSON_Delete(o);
    } else {
        printf("%s\n%s\n", client_id, secret);
    }
    fflush(stdout);
    rc = CP_EXIT_OK;
    goto done;

rollback:
    cp_db_rollback(ctl->db);
done:
    free(after);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(pepper, sizeof(pepper));
    OPENSSL_cleanse(hash, sizeof(hash));
    return rc;
}

static int
credential_revoke(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    char          object[CP_CLIENT_ID_MAX + 16];
    char         *before = NULL, *after = NULL;
    const char   *client_id;
    long long     id;
    int           rc = CP_EXIT_REFUSED;

    if (argc != 2 || argv[1][0] == '-') {
        return CP_EXIT_USAGE;
    }
    client_id = argv[1];
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT id, state FROM credentials"
                                " WHERE client_id = ?1");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "credential revoke: no credential \"%s\"",
                         client_id);
    }
    id = sqlite3_column_int64(st, 0);
    if (strcmp((const char *) sqlite3_column_text(st, 1), "revoked") == 0) {
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "credential revoke: %s is already revoked",
                         client_id);
    }
    sqlite3_finalize(st);

    before = cp_row_json(ctl->db, "credentials", id, redact_secret);
    st = cp_db_prepare(ctl->db, "UPDATE credentials SET state = 'revoked',"
                                " revoked_at = ?2 WHERE id = ?1");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, cp_now());
    if (sqlite3_step(st) != SQLITE_DONE) {
        cp_err("credential revoke: %s", sqlite3_errmsg(ctl->db));
        sqlite3_finalize(st);
        goto rollback;
    }
    sqlite3_finalize(st);
    after = cp_row_json(ctl->db, "credentials", id, redact_secret);
    snprintf(object, sizeof(object), "credential:%s", client_id);
    if (before == NULL || after == NULL
        || cp_changelog(ctl->db, object, "revoke", before, after) != 0
        || cp_db_commit(ctl->db) != 0)
    {
        cp_err("credential revoke: %s", sqlite3_errmsg(ctl->db));
        goto rollback;
    }
    if (ctl->json) {
        puts(after);
    } else {
        printf("%s revoked\n", client_id);
    }
    rc = CP_EXIT_OK;
    goto done;

rollback:
    cp_db_rollback(ctl->db);
done:
    free(before);
    free(after);
    return rc;
}

static int
credential_list(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "system", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 },
    };
    sqlite3_stmt *st;
    const char   *system = NULL;
    cJSON        *arr;
    char          created[32], revoked[32];
    int           c;

    while ((c = cp_getopt(argc, argv, opts, "credential list")) != -1) {
        if (c != 's') {
            return CP_EXIT_USAGE;
        }
        system = optarg;
    }
    if (optind != argc) {
        return CP_EXIT_USAGE;
    }
    st = cp_db_prepare(ctl->db,
                       "SELECT c.client_id, s.ident, c.env, c.state,"
                       " c.created_at, c.revoked_at"
                       " FROM credentials c JOIN systems s"
                       " ON s.id = c.system_id"
                       " WHERE ?1 IS NULL OR s.ident = ?1 ORDER BY c.id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (system != NULL) {
        sqlite3_bind_text(st, 1, system, -1, SQLITE_STATIC);
    }
    arr = cJSON_CreateArray();
    if (!ctl->json) {
        printf("%-32s %-20s %-10s %-8s %-20s %s\n", "CLIENT_ID", "SYSTEM",
               "ENV", "STATE", "CREATED", "REVOKED");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        ctl_column_time(st, 4, created, sizeof(created));
        ctl_column_time(st, 5, revoked, sizeof(revoked));
        if (ctl->json) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddStringToObject(o, "client_id",
                                    (const char *) sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "system",
                                    (const char *) sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(o, "env",
                                    (const char *) sqlite3_column_text(st, 2));
            cJSON_AddStringToObject(o, "state",
                                    (const char *) sqlite3_column_text(st, 3));
            cJSON_AddStringToObject(o, "created_at", created);
            if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
                cJSON_AddNullToObject(o, "revoked_at");
            } else {
                cJSON_AddStringToObject(o, "revoked_at", revoked);
            }
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-32s %-20s %-10s %-8s %-20s %s\n",
                   sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                   sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
                   created, revoked);
        }
    }
    sqlite3_finalize(st);
    if (ctl->json) {
        cp_json_print(arr);
    } else {
        cJSON_Delete(arr);
    }
    return CP_EXIT_OK;
}

int
cmd_credential(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "issue",  credential_issue,  1 },
        { "revoke", credential_revoke, 1 },
        { "list",   credential_list,   1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "credential");
}
