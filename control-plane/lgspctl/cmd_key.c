/*
 * lgspctl key rotate|revoke|list: the platform's signing keys (SPEC §5).
 * Rotation keeps the previous key for verification until the last token
 * it signed has expired (verify_until = now + token lifetime + skew, from
 * lgspd.conf); a revoked key is final.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <cjson/cJSON.h>

#include "lgspctl.h"
#include "cp_registry.h"
#include "cp_changelog.h"
#include "cp_cli.h"
#include "cp_config.h"
#include "cp_keys.h"
#include "cp_store.h"
#include "cp_util.h"
#include "cp_valid.h"

static int
key_changelog(ctl_t *ctl, long long id, const char *kid, const char *action,
              const char *before)
{
    char  object[CP_KID_LEN + 8], *after;
    int   rc;

    after = cp_row_json(ctl->db, "signing_keys", id, NULL);
    snprintf(object, sizeof(object), "key:%s", kid);
    rc = after != NULL
         ? cp_changelog(ctl->db, object, action, before, after) : -1;
    free(after);
    return rc;
}

static int
key_rotate(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "alg", required_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 },
    };
    cp_config_t    cf;
    sqlite3_stmt  *st = NULL, *upd = NULL;
    unsigned char *der = NULL;
    size_t         der_len;
    char           kid[CP_KID_LEN + 1], pem[PATH_MAX + 64];
    const char    *alg = "RS256";
    cJSON         *retired;
    int64_t        now, verify_until;
    int            c, rc = CP_EXIT_REFUSED;

    while ((c = cp_getopt(argc, argv, opts, "key rotate")) != -1) {
        if (c != 'a') {
            return CP_EXIT_USAGE;
        }
        alg = optarg;
    }
    if (optind != argc) {
        return CP_EXIT_USAGE;
    }
    if (strcmp(alg, "RS256") != 0 && strcmp(alg, "ES256") != 0) {
        cp_err("key rotate: --alg must be RS256 or ES256");
        return CP_EXIT_USAGE;
    }
    if (ctl_config(ctl, &cf) != 0) {
        return CP_EXIT_REFUSED;
    }

    if (cp_key_generate(ctl->keys_dir, alg, kid, &der, &der_len) != 0) {
        cp_err("key rotate: cannot generate a key in %s: %s", ctl->keys_dir,
               strerror(errno));
        return CP_EXIT_REFUSED;
    }
    retired = cJSON_CreateArray();
    if (cp_tx_begin(ctl->db) != 0) {
        goto fail;
    }
    now = cp_now();
    verify_until = now + cf.token_lifetime + cf.token_skew;

    st = cp_db_prepare(ctl->db, "SELECT id, kid FROM signing_keys"
                                " WHERE state = 'active'");
    upd = cp_db_prepare(ctl->db,
                        "UPDATE signing_keys SET state = 'retiring',"
                        " retiring_at = ?2, verify_until = ?3 WHERE id = ?1");
    if (st == NULL || upd == NULL) {
        goto rollback;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        long long   id = sqlite3_column_int64(st, 0);
        const char *old = (const char *) sqlite3_column_text(st, 1);
        char       *before = cp_row_json(ctl->db, "signing_keys", id, NULL);
        int         ok;

        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, id);
        sqlite3_bind_int64(upd, 2, now);
        sqlite3_bind_int64(upd, 3, verify_until);
        ok = before != NULL && sqlite3_step(upd) == SQLITE_DONE
             && key_changelog(ctl, id, old, "retire", before) == 0;
        free(before);
        if (!ok) {
            cp_err("key rotate: %s", sqlite3_errmsg(ctl->db));
            goto rollback;
        }
        cJSON_AddItemToArray(retired, cJSON_CreateString(old));
    }
    sqlite3_finalize(st);
    sqlite3_finalize(upd);
    upd = NULL;

    st = cp_db_prepare(ctl->db,
                       "INSERT INTO signing_keys (kid, alg, public_der, state,"
                       " created_at) VALUES (?1, ?2, ?3, 'active', ?4)");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, alg, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, der, (int) der_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_DONE
        || key_changelog(ctl, sqlite3_last_insert_rowid(ctl->db), kid,
                         "rotate", NULL) != 0
        || cp_db_commit(ctl->db) != 0)
    {
        cp_err("key rotate: %s", sqlite3_errmsg(ctl->db));
        goto rollback;
    }
    sqlite3_finalize(st);
    st = NULL;

    if (ctl->json) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddStringToObject(o, "kid", kid);
        cJSON_AddStringToObject(o, "alg", alg);
        cJSON_AddItemToObject(o, "retiring", retired);
        retired = NULL;
        cJSON_AddNumberToObject(o, "verify_until", (double) verify_until);
        cp_json_print(o);
    } else {
        printf("%s\n", kid);
    }
    rc = CP_EXIT_OK;
    goto done;

rollback:
    cp_db_rollback(ctl->db);
fail:
    /* the new key never became known: neither half is kept (a pinned
     * public half would vouch for a key that never signed) */
    if (cp_path(pem, sizeof(pem), "%s/%s.pem", ctl->keys_dir, kid) == 0) {
        unlink(pem);
    }
    if (cp_path(pem, sizeof(pem), "%s/%s.pub", ctl->keys_dir, kid) == 0) {
        unlink(pem);
    }
done:
    sqlite3_finalize(st);
    sqlite3_finalize(upd);
    cJSON_Delete(retired);
    OPENSSL_free(der);
    return rc;
}

static int
key_revoke(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "reason", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    sqlite3_stmt *st;
    const char   *reason = NULL, *kid;
    char         *before = NULL;
    long long     id;
    int64_t       now;
    int           c, rc = CP_EXIT_REFUSED;

    while ((c = cp_getopt(argc, argv, opts, "key revoke")) != -1) {
        if (c != 'r') {
            return CP_EXIT_USAGE;
        }
        reason = optarg;
    }
    if (optind != argc - 1 || reason == NULL || reason[0] == '\0') {
        return CP_EXIT_USAGE;
    }
    if (cp_text_arg("key revoke", "--reason", reason, CP_TEXT_MAX, 0) != 0) {
        return CP_EXIT_USAGE;
    }
    kid = argv[optind];
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT id, state FROM signing_keys"
                                " WHERE kid = ?1");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "key revoke: no key \"%s\"", kid);
    }
    id = sqlite3_column_int64(st, 0);
    if (strcmp((const char *) sqlite3_column_text(st, 1), "revoked") == 0) {
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "key revoke: %s is already revoked", kid);
    }
    /* revoking the signing key would leave the platform unable to issue:
     * a new key must be signing first */
    if (strcmp((const char *) sqlite3_column_text(st, 1), "active") == 0) {
        sqlite3_finalize(st);
        return cp_refuse(ctl->db, "key revoke: %s is the active signing"
                         " key; run \"lgspctl key rotate\" first, then"
                         " revoke it", kid);
    }
    sqlite3_finalize(st);

    before = cp_row_json(ctl->db, "signing_keys", id, NULL);
    st = cp_db_prepare(ctl->db, "UPDATE signing_keys SET state = 'revoked',"
                                " revoked_at = ?2, revoke_reason = ?3"
                                " WHERE id = ?1");
    if (st == NULL) {
        goto rollback;
    }
    now = cp_now();
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    if (before == NULL || sqlite3_step(st) != SQLITE_DONE
        || key_changelog(ctl, id, kid, "revoke", before) != 0
        || cp_db_commit(ctl->db) != 0)
    {
        cp_err("key revoke: %s", sqlite3_errmsg(ctl->db));
        sqlite3_finalize(st);
        goto rollback;
    }
    sqlite3_finalize(st);
    /* keys/ keeps the revocation too: audit verification trusts keys/,
     * not a registry that a database writer could un-revoke */
    if (cp_key_mark_revoked(ctl->keys_dir, kid, now * 1000) != 0) {
        cp_err("key revoke: %s/%s.revoked: %s", ctl->keys_dir, kid,
               strerror(errno));
        goto done;
    }
    if (ctl->json) {
        printf("{\"kid\":\"%s\",\"state\":\"revoked\"}\n", kid);
    } else {
        printf("%s revoked\n", kid);
    }
    rc = CP_EXIT_OK;
    goto done;

rollback:
    cp_db_rollback(ctl->db);
done:
    free(before);
    return rc;
}

static int
key_list(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    cJSON        *arr;
    char          created[32], until[32], revoked[32];
    int64_t       now = cp_now();

    (void) argv;
    if (argc != 1) {
        return CP_EXIT_USAGE;
    }
    st = cp_db_prepare(ctl->db,
                       "SELECT kid, alg, state, created_at, verify_until,"
                       " revoked_at, revoke_reason FROM signing_keys"
                       " ORDER BY id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    arr = cJSON_CreateArray();
    if (!ctl->json) {
        printf("%-16s %-5s %-8s %-8s %-20s %-20s %s\n", "KID", "ALG",
               "STATE", "IN_JWKS", "CREATED", "VERIFY_UNTIL", "REVOKED");
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *) sqlite3_column_text(st, 2);
        int         published;

        /* what /.well-known/jwks.json shows */
        published = strcmp(state, "active") == 0
                    || (strcmp(state, "retiring") == 0
                        && sqlite3_column_int64(st, 4) > now);
        ctl_column_time(st, 3, created, sizeof(created));
        ctl_column_time(st, 4, until, sizeof(until));
        ctl_column_time(st, 5, revoked, sizeof(revoked));
        if (ctl->json) {
            cJSON *o = cJSON_CreateObject();

            cJSON_AddStringToObject(o, "kid",
                                    (const char *) sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "alg",
                                    (const char *) sqlite3_column_text(st, 1));
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddBoolToObject(o, "in_jwks", published);
            cJSON_AddStringToObject(o, "created_at", created);
            if (sqlite3_column_type(st, 4) == SQLITE_NULL) {
                cJSON_AddNullToObject(o, "verify_until");
            } else {
                cJSON_AddStringToObject(o, "verify_until", until);
            }
            if (sqlite3_column_type(st, 5) == SQLITE_NULL) {
                cJSON_AddNullToObject(o, "revoked_at");
                cJSON_AddNullToObject(o, "revoke_reason");
            } else {
                cJSON_AddStringToObject(o, "revoked_at", revoked);
                cJSON_AddStringToObject(o, "revoke_reason",
                                    (const char *) sqlite3_column_text(st, 6));
            }
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-16s %-5s %-8s %-8s %-20s %-20s %s\n",
                   sqlite3_column_text(st, 0), sqlite3_column_text(st, 1),
                   state, published ? "yes" : "no", created, until, revoked);
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
cmd_key(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "rotate", key_rotate, 1 },
        { "revoke", key_revoke, 1 },
        { "list",   key_list,   1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "key");
}
