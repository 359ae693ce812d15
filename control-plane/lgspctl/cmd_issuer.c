/*
 * lgspctl issuer add|list|remove: trusted external issuers (the national
 * identity platform VDXP, a city SSO).  Their tokens are checked like the
 * platform's own against the keys of their JWKS; the claim named by
 * --system-claim (default sub) names the registered calling system.  A
 * JWKS file is read here (and by lgspd again when it changes); a URL is
 * fetched by lgspd, which keeps the last good set when a fetch fails.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_cli.h"
#include "cp_config.h"
#include "cp_jwks.h"
#include "cp_registry.h"
#include "cp_store.h"
#include "cp_util.h"
#include "cp_valid.h"
#include "lgsp_snapshot_format.h"

#define ISSUER_TEXT_MAX    255
#define ISSUER_CLAIM_MAX   64
#define ISSUER_URL_MAX     1024

enum { O_JWKS = 256, O_AUDIENCE, O_ENV, O_CLAIM };

static int
usage(void)
{
    return ctl_usage(ctl_find("issuer"));
}

/* printable ASCII without space, quote or backslash: what an iss or an
 * audience looks like, and nothing a log line or JSON could trip on */
static int
text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max) {
        return 0;
    }
    for (; *s; s++) {
        if (*s < 0x21 || *s > 0x7e || *s == '"' || *s == '\\') {
            return 0;
        }
    }
    return 1;
}

static int
claim_ok(const char *s)
{
    static const char *const reserved[] = {
        "iss", "aud", "exp", "nbf", "iat", "jti", NULL
    };
    size_t n = strlen(s);

    if (n == 0 || n > ISSUER_CLAIM_MAX) {
        return 0;
    }
    for (const char *p = s; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || strchr("_.:-", *p)))
        {
            return 0;
        }
    }
    for (int i = 0; reserved[i]; i++) {
        if (strcmp(s, reserved[i]) == 0) {
            return 0;
        }
    }
    return 1;
}

static int
is_url(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static void
add_kid(void *ctx, const char *kid, uint32_t alg, const unsigned char *der,
        size_t der_len)
{
    cJSON *k = cJSON_CreateObject();

    (void) der;
    (void) der_len;
    if (k == NULL) {
        return;
    }
    cJSON_AddStringToObject(k, "kid", kid);
    cJSON_AddStringToObject(k, "alg", alg == LGSP_ALG_ES256 ? "ES256"
                                                             : "RS256");
    cJSON_AddItemToArray(ctx, k);
}

static cJSON *
issuer_json(sqlite3 *db, long long id)
{
    sqlite3_stmt *st;
    cJSON        *o = NULL, *keys;
    const char   *jwks;

    st = cp_db_prepare(db, "SELECT id, iss, env, audience, system_claim,"
                           " jwks_source, jwks, fetched_at, created_at"
                           " FROM issuers WHERE id = ?1");
    if (st == NULL) {
        return NULL;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW && (o = cJSON_CreateObject())) {
        cJSON_AddNumberToObject(o, "id", (double) sqlite3_column_int64(st, 0));
        cJSON_AddStringToObject(o, "iss",
                                (const char *) sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(o, "env",
                                (const char *) sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "audience",
                                (const char *) sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(o, "system_claim",
                                (const char *) sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(o, "jwks_source",
                                (const char *) sqlite3_column_text(st, 5));
        keys = cJSON_AddArrayToObject(o, "keys");
        jwks = (const char *) sqlite3_column_text(st, 6);
        if (jwks != NULL && keys != NULL) {
            cp_jwks_keys(jwks, (size_t) sqlite3_column_bytes(st, 6), add_kid,
                         keys);
        }
        if (sqlite3_column_type(st, 7) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "fetched_at");
        } else {
            cJSON_AddNumberToObject(o, "fetched_at",
                                    (double) sqlite3_column_int64(st, 7));
        }
        cJSON_AddNumberToObject(o, "created_at",
                                (double) sqlite3_column_int64(st, 8));
    }
    sqlite3_finalize(st);
    return o;
}

/* the platform's own iss, from lgspd.conf: an external issuer must not
 * pass for it ("" when the file cannot be read) */
static void
platform_iss(const ctl_t *ctl, char *out, size_t size)
{
    cp_config_t  cf;
    char         path[PATH_MAX + 32], err[PATH_MAX + 256];

    out[0] = '\0';
    cp_config_defaults(&cf);
    if (cp_home_path(&ctl->home, "lgspd.conf", path, sizeof(path)) == 0
        && cp_config_load(&cf, path, err, sizeof(err)) == 0)
    {
        snprintf(out, size, "%s", cf.issuer);
    }
}

static int
issuer_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "jwks",         required_argument, NULL, O_JWKS },
        { "audience",     required_argument, NULL, O_AUDIENCE },
        { "env",          required_argument, NULL, O_ENV },
        { "system-claim", required_argument, NULL, O_CLAIM },
        { NULL, 0, NULL, 0 }
    };
    const char   *iss, *src = NULL, *aud = NULL, *env = "production";
    const char   *claim = "sub", *why;
    char          source[PATH_MAX + 1], own[256], object[64];
    char         *jwks = NULL;
    size_t        jwks_len = 0;
    sqlite3_stmt *st;
    long long     id;
    int           o, rc;

    while ((o = cp_getopt(argc, argv, opts, "issuer add")) != -1) {
        switch (o) {
        case O_JWKS: src = optarg; break;
        case O_AUDIENCE: aud = optarg; break;
        case O_ENV: env = optarg; break;
        case O_CLAIM: claim = optarg; break;
        default: return usage();
        }
    }
    if (optind + 1 != argc || src == NULL || aud == NULL) {
        cp_bad("issuer add: needs ISS, --jwks and --audience");
        return usage();
    }
    iss = argv[optind];
    if (!text_ok(iss, ISSUER_TEXT_MAX)) {
        cp_bad("issuer add: ISS: 1 to %d printable characters, no space,"
               " quote or backslash", ISSUER_TEXT_MAX);
        return usage();
    }
    if (!text_ok(aud, ISSUER_TEXT_MAX)) {
        cp_bad("issuer add: --audience: 1 to %d printable characters, no"
               " space, quote or backslash", ISSUER_TEXT_MAX);
        return usage();
    }
    if (strcmp(env, "sandbox") != 0 && strcmp(env, "production") != 0) {
        cp_bad("issuer add: --env: sandbox or production");
        return usage();
    }
    if (!claim_ok(claim)) {
        cp_bad("issuer add: --system-claim \"%s\": a claim name of 1 to %d"
               " of A-Z a-z 0-9 _ . : -, not a registered time, audience"
               " or issuer claim", claim, ISSUER_CLAIM_MAX);
        return usage();
    }
    platform_iss(ctl, own, sizeof(own));
    if (own[0] != '\0' && strcmp(own, iss) == 0) {
        return cp_refuse(NULL, "issuer add: %s is the platform's own"
                         " issuer", iss);
    }

    if (is_url(src)) {
        if (!text_ok(src, ISSUER_URL_MAX)) {
            cp_bad("issuer add: --jwks: a URL of at most %d characters",
                   ISSUER_URL_MAX);
            return usage();
        }
        snprintf(source, sizeof(source), "%s", src);
    } else {
        /* lgspd rereads it from wherever it runs: keep the full path,
         * text as any other that is stored and listed */
        if (cp_text_arg("issuer add", "--jwks", src, PATH_MAX, 0) != 0) {
            return usage();
        }
        if (realpath(src, source) == NULL) {
            return cp_refuse(NULL, "issuer add: %s: %s", src,
                             strerror(errno));
        }
        jwks = cp_read_file(source, CP_JWKS_MAX, &jwks_len);
        if (jwks == NULL) {
            return cp_refuse(NULL, "issuer add: %s: cannot read (or over"
                             " 256 KB)", source);
        }
        if (cp_jwks_check(jwks, jwks_len, &why) != 0) {
            free(jwks);
            return cp_refuse(NULL, "issuer add: %s: %s", source, why);
        }
    }

    if (cp_tx_begin(ctl->db) != 0) {
        free(jwks);
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM issuers WHERE iss = ?1"
                                " AND env = ?2");
    if (st == NULL) {
        free(jwks);
        return cp_refuse(ctl->db, "issuer add: cannot read the registry");
    }
    sqlite3_bind_text(st, 1, iss, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, env, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        free(jwks);
        return cp_refuse(ctl->db, "issuer add: %s is already issuer %lld"
                         " in %s", iss, id, env);
    }
    sqlite3_finalize(st);

    st = cp_db_prepare(ctl->db, "INSERT INTO issuers (iss, env, audience,"
                                " jwks_source, system_claim, jwks,"
                                " fetched_at, created_at)"
                                " VALUES (?1,?2,?3,?4,?5,?6,?7,?7)");
    if (st == NULL) {
        free(jwks);
        return cp_refuse(ctl->db, "issuer add: cannot add");
    }
    sqlite3_bind_text(st, 1, iss, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, env, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, aud, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, claim, -1, SQLITE_STATIC);
    if (jwks != NULL) {
        sqlite3_bind_text(st, 6, jwks, (int) jwks_len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 7, cp_now());
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    free(jwks);
    if (rc != SQLITE_DONE) {
        return cp_refuse(ctl->db, "issuer add: %s", sqlite3_errmsg(ctl->db));
    }
    id = sqlite3_last_insert_rowid(ctl->db);
    snprintf(object, sizeof(object), "issuer:%lld", id);
    if (cp_record(ctl->db, "issuers", id, object, "add", NULL) != 0) {
        return cp_refuse(ctl->db, "issuer add: not added");
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    ctl_warn_if_no_lgspd(ctl);
    if (ctl->json) {
        cJSON *j = issuer_json(ctl->db, id);

        if (j != NULL) {
            cp_json_print(j);
        }
    } else {
        printf("%lld\n", id);
    }
    return CP_EXIT_OK;
}

static int
issuer_remove(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    long long     id;
    char         *before, object[64];
    int           rc;

    if (argc != 2 || cp_parse_uint(argv[1], NULL, 0x7fffffffffffffffLL, &id)
        != 0 || id < 1)
    {
        cp_bad("issuer remove: needs an issuer id (a positive integer)");
        return usage();
    }
    if (cp_tx_begin(ctl->db) != 0) {
        return CP_EXIT_REFUSED;
    }
    before = cp_change_row(ctl->db, "issuers", id);
    if (before == NULL) {
        return cp_refuse(ctl->db, "issuer %lld: no such issuer", id);
    }
    st = cp_db_prepare(ctl->db, "DELETE FROM issuers WHERE id = ?1");
    if (st == NULL) {
        free(before);
        return cp_refuse(ctl->db, "issuer %lld: cannot remove", id);
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(before);
        return cp_refuse(ctl->db, "issuer %lld: %s", id,
                         sqlite3_errmsg(ctl->db));
    }
    snprintf(object, sizeof(object), "issuer:%lld", id);
    if (cp_record(ctl->db, "issuers", id, object, "remove", before) != 0) {
        return cp_refuse(ctl->db, "issuer %lld: not removed", id);
    }
    if ((rc = cp_tx_commit(ctl->db)) != 0) {
        return rc;
    }
    ctl_warn_if_no_lgspd(ctl);
    return CP_EXIT_OK;
}

static int
issuer_list(ctl_t *ctl, int argc, char **argv)
{
    sqlite3_stmt *st;
    cJSON        *arr, *i;

    if (argc != 1) {
        cp_bad("issuer list: unexpected \"%s\"", argv[1]);
        return usage();
    }
    st = cp_db_prepare(ctl->db, "SELECT id FROM issuers ORDER BY id");
    if (st == NULL) {
        return CP_EXIT_REFUSED;
    }
    arr = cJSON_CreateArray();
    while (arr != NULL && sqlite3_step(st) == SQLITE_ROW) {
        i = issuer_json(ctl->db, sqlite3_column_int64(st, 0));
        if (i != NULL) {
            cJSON_AddItemToArray(arr, i);
        }
    }
    sqlite3_finalize(st);
    if (arr == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (ctl->json) {
        cp_json_print(arr);
        return CP_EXIT_OK;
    }
    printf("%-5s %-36s %-10s %-24s %-10s %-4s %s\n", "ID", "ISS", "ENV",
           "AUDIENCE", "CLAIM", "KEYS", "JWKS");
    cJSON_ArrayForEach(i, arr) {
        printf("%-5d %-36s %-10s %-24s %-10s %-4d %s\n",
               cJSON_GetObjectItem(i, "id")->valueint,
               cJSON_GetObjectItem(i, "iss")->valuestring,
               cJSON_GetObjectItem(i, "env")->valuestring,
               cJSON_GetObjectItem(i, "audience")->valuestring,
               cJSON_GetObjectItem(i, "system_claim")->valuestring,
               cJSON_GetArraySize(cJSON_GetObjectItem(i, "keys")),
               cJSON_GetObjectItem(i, "jwks_source")->valuestring);
    }
    cJSON_Delete(arr);
    return CP_EXIT_OK;
}

int
cmd_issuer(ctl_t *ctl, int argc, char **argv)
{
    static const ctl_verb_t verbs[] = {
        { "add",    issuer_add,    1 },
        { "remove", issuer_remove, 1 },
        { "list",   issuer_list,   1 },
        { NULL, NULL, 0 }
    };

    return ctl_dispatch(ctl, argc, argv, verbs, "issuer");
}
