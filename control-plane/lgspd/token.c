/*
 * The token endpoint (SPEC §5; RFC 6749 §4.4 client credentials, errors
 * as §5.2) and the JWKS of the platform keys.
 *
 * Runs on libmicrohttpd's threads: each thread has its own SQLite
 * connection (the main loop keeps its own); the pepper, the signing key's
 * PEM and the failure throttles are shared under one mutex, held only for
 * copies and counters, never while signing.
 *
 * Failed client authentications are counted by cp_auth_throttle (its
 * header has the rule): per address, per client id and address, and per
 * client id from everywhere, so that a stranger's guesses slow the
 * stranger and never lock out the owner of the id.  The address is
 * X-Real-IP, which nginx sets to the peer it saw (conf/lgspd-proxy.conf
 * replaces a client-sent one); lgspd listens on a unix socket only, so
 * nothing else can set it.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <cjson/cJSON.h>
#include <jwt.h>

#include "lgspd.h"
#include "token.h"
#include "cp_clientauth.h"
#include "cp_jwk.h"
#include "cp_keys.h"
#include "cp_secret.h"
#include "cp_store.h"
#include "cp_throttle.h"
#include "cp_util.h"

#define TOKEN_ADDR_MAX      46      /* an IPv6 address in text */
#define TOKEN_PEM_MAX       16384

static pthread_once_t  token_once = PTHREAD_ONCE_INIT;
static pthread_key_t   token_db_key;
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned char   token_pepper[CP_PEPPER_LEN];
static int             token_pepper_ok;

/* the active key's private PEM, re-read when the active kid changes */
static struct {
    char    kid[CP_KID_LEN + 1];
    char   *pem;
    size_t  len;
} token_signer;

static cp_auth_throttle_t  token_throttle;

static void
close_db(void *db)
{
    sqlite3_close(db);
}

static void
token_init(void)
{
    char     keys[PATH_MAX + 32];
    uint64_t seed = 0;

    pthread_key_create(&token_db_key, close_db);
    if (cp_home_path(&lgspd.home, "keys", keys, sizeof(keys)) == 0
        && cp_pepper(keys, 0, token_pepper) == 0)
    {
        token_pepper_ok = 1;
    } else {
        cp_log("error", "token endpoint: cannot read the pepper in %s",
               keys);
    }
    cp_random(&seed, sizeof(seed));
    cp_auth_throttle_init(&token_throttle, seed);
}

/* This thread's registry connection, opened on first use. */
static sqlite3 *
thread_db(void)
{
    sqlite3 *db = pthread_getspecific(token_db_key);

    if (db == NULL) {
        db = cp_db_open(lgspd.db_path, 0);
        if (db != NULL && pthread_setspecific(token_db_key, db) != 0) {
            sqlite3_close(db);
            db = NULL;
        }
    }
    return db;
}

/* ---- replies ----------------------------------------------------------- */

static void
oauth_error(lgspd_reply_t *rp, unsigned int status, const char *error,
            const char *description)
{
    cJSON *o = cJSON_CreateObject();
    char  *s;

    cJSON_AddStringToObject(o, "error", error);
    cJSON_AddStringToObject(o, "error_description", description);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    lgspd_reply_json(rp, status, s ? s : "{\"error\":\"server_error\"}");
    free(s);
    if (status == 401) {
        /* RFC 6749 §5.2; a 401 always names a scheme (RFC 9110 §15.5.2) */
        lgspd_reply_header(rp, "WWW-Authenticate", "Basic realm=\"lgsp\"");
    }
}

static void
slow_down(lgspd_reply_t *rp, int wait)
{
    char after[16];

    oauth_error(rp, 429, "slow_down",
                "too many failed attempts; retry later");
    snprintf(after, sizeof(after), "%d", wait);
    lgspd_reply_header(rp, "Retry-After", after);
}

/* ---- who is asking ----------------------------------------------------- */

static int
address_ok(const char *s, size_t n)
{
    if (n == 0 || n > TOKEN_ADDR_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strchr("0123456789abcdefABCDEF.:", s[i]) == NULL) {
            return 0;
        }
    }
    return 1;
}

/*
 * The client's address as nginx saw it: X-Real-IP, which nginx always
 * sets (a client-sent one is replaced, never passed on).  X-Forwarded-For
 * is not read: a proxy config that appends to it would let the client
 * write its first hops.  Only address characters pass, so a log line
 * cannot be forged through it; without one the request came straight to
 * the socket, from this host.
 */
static void
client_address(struct MHD_Connection *conn, char out[TOKEN_ADDR_MAX + 1])
{
    const char *v;

    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Real-IP");
    if (v != NULL && address_ok(v, strlen(v))) {
        memcpy(out, v, strlen(v) + 1);
        return;
    }
    strcpy(out, "local");
}

/* A client id as it may appear in a log line: the id's own alphabet. */
static void
loggable(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (; *in && n + 1 < size; in++) {
        unsigned char c = (unsigned char) *in;

        out[n++] = (char) ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                           || (c >= '0' && c <= '9') || c == '-' || c == '.'
                           || c == '_' ? c : '?');
    }
    out[n] = '\0';
}

static int
address_throttled(const char *addr)
{
    int wait;

    pthread_mutex_lock(&token_lock);
    wait = cp_auth_throttle_address(&token_throttle, addr, cp_now());
    pthread_mutex_unlock(&token_lock);
    return wait;
}

static int
client_throttled(const char *client_id, const char *addr)
{
    int wait;

    pthread_mutex_lock(&token_lock);
    wait = cp_auth_throttle_client(&token_throttle, client_id, addr,
                                   cp_now());
    pthread_mutex_unlock(&token_lock);
    return wait;
}

static void
count_failure(const char *client_id, const char *who, const char *addr)
{
    int ceiling;

    pthread_mutex_lock(&token_lock);
    ceiling = cp_auth_throttle_fail(&token_throttle, client_id, addr,
                                    cp_now());
    pthread_mutex_unlock(&token_lock);
    if (ceiling) {
        cp_log("warn", "token: client %s: %d wrong secrets within %d s from"
               " several addresses; until the window ends, one more from"
               " an address refuses it", who, CP_AUTH_PER_CLIENT,
               CP_AUTH_WINDOW);
    }
}

/* ---- signing ----------------------------------------------------------- */

/*
 * A copy of the active key's PEM (the caller wipes and frees it), its kid
 * and alg.  The active kid is read on every request — one row of a tiny
 * table — so a rotation takes effect on the next token.
 */
static char *
signing_key(sqlite3 *db, char kid[CP_KID_LEN + 1], jwt_alg_t *alg,
            size_t *len)
{
    sqlite3_stmt *st;
    char          path[PATH_MAX + 64], *copy = NULL;
    int           found = 0;

    if (sqlite3_prepare_v2(db, "SELECT kid, alg FROM signing_keys"
                               " WHERE state = 'active'"
                               " ORDER BY id DESC LIMIT 1", -1, &st, NULL)
        != SQLITE_OK)
    {
        return NULL;
    }
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_bytes(st, 0) == CP_KID_LEN)
    {
        memcpy(kid, sqlite3_column_text(st, 0), CP_KID_LEN + 1);
        *alg = strcmp((const char *) sqlite3_column_text(st, 1), "ES256") == 0
               ? JWT_ALG_ES256 : JWT_ALG_RS256;
        found = 1;
    }
    sqlite3_finalize(st);
    if (!found) {
        return NULL;
    }

    pthread_mutex_lock(&token_lock);
    if (strcmp(token_signer.kid, kid) != 0) {
        size_t n;
        char  *pem = NULL;

        if (cp_path(path, sizeof(path), "%s/keys/%s.pem", lgspd.home.root,
                    kid) == 0)
        {
            pem = cp_read_file(path, TOKEN_PEM_MAX, &n);
        }
        if (pem != NULL) {
            if (token_signer.pem != NULL) {
                OPENSSL_cleanse(token_signer.pem, token_signer.len);
                free(token_signer.pem);
            }
            token_signer.pem = pem;
            token_signer.len = n;
            memcpy(token_signer.kid, kid, CP_KID_LEN + 1);
            cp_log("info", "signing tokens with key %s", kid);
        } else {
            cp_log("error", "signing key %s: cannot read %s", kid, path);
        }
    }
    if (strcmp(token_signer.kid, kid) == 0) {
        copy = malloc(token_signer.len + 1);
        if (copy != NULL) {
            memcpy(copy, token_signer.pem, token_signer.len + 1);
            *len = token_signer.len;
        }
    }
    pthread_mutex_unlock(&token_lock);
    return copy;
}

typedef struct {
    const char *client_id;
    const char *system;
    const char *org;
    const char *env;
} token_claims_t;

/* The signed JWT (malloc'd) and its jti, or NULL. */
static char *
sign_token(sqlite3 *db, const token_claims_t *c, char kid[CP_KID_LEN + 1],
           char jti[33])
{
    unsigned char  raw[16];
    char           aud[32], *pem, *token = NULL;
    size_t         pem_len = 0;
    jwt_alg_t      alg = JWT_ALG_RS256;
    jwt_t         *jwt = NULL;
    long           now = (long) cp_now();

    pem = signing_key(db, kid, &alg, &pem_len);
    if (pem == NULL) {
        return NULL;
    }
    if (cp_random(raw, sizeof(raw)) != 0) {
        goto done;
    }
    cp_hex(raw, sizeof(raw), jti);
    snprintf(aud, sizeof(aud), "lgsp:%s", c->env);

    if (jwt_new(&jwt) != 0
        || jwt_add_grant(jwt, "iss", lgspd.conf.issuer) != 0
        || jwt_add_grant(jwt, "sub", c->system) != 0
        || jwt_add_grant(jwt, "client_id", c->client_id) != 0
        || jwt_add_grant(jwt, "org", c->org) != 0
        || jwt_add_grant(jwt, "aud", aud) != 0
        || jwt_add_grant_int(jwt, "iat", now) != 0
        || jwt_add_grant_int(jwt, "nbf", now) != 0
        || jwt_add_grant_int(jwt, "exp", now + lgspd.conf.token_lifetime)
           != 0
        || jwt_add_grant(jwt, "jti", jti) != 0
        || jwt_add_header(jwt, "kid", kid) != 0
        || jwt_set_alg(jwt, alg, (const unsigned char *) pem,
                       (int) pem_len) != 0)
    {
        goto done;
    }
    token = jwt_encode_str(jwt);

done:
    jwt_free(jwt);
    OPENSSL_cleanse(pem, pem_len);
    free(pem);
    return token;
}

/* ---- the endpoint ------------------------------------------------------ */

typedef struct {
    int   found;
    int   active;
    int   suspended;
    int   agency_closed;
    char  env[16];
    char  system[72];
    char  org[40];
} token_client_t;

/* The credential, its system and agency; the secret is checked against
 * the stored hash (or a dummy when there is none) in constant time. */
static int
authenticate(sqlite3 *db, const cp_client_auth_t *ca, token_client_t *tc)
{
    sqlite3_stmt *st;
    int           ok = 0, rc;

    memset(tc, 0, sizeof(*tc));
    if (sqlite3_prepare_v2(db,
            "SELECT c.secret_hash, c.state, c.env, s.ident, s.suspended,"
            " a.code, a.state FROM credentials c"
            " JOIN systems s ON s.id = c.system_id"
            " JOIN agencies a ON a.id = s.agency_id"
            " WHERE c.client_id = ?1", -1, &st, NULL) != SQLITE_OK)
    {
        return -1;
    }
    sqlite3_bind_text(st, 1, ca->client_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        tc->found = 1;
        ok = cp_secret_verify(token_pepper, sizeof(token_pepper),
                              ca->client_secret, strlen(ca->client_secret),
                              sqlite3_column_blob(st, 0),
                              (size_t) sqlite3_column_bytes(st, 0));
        tc->active = strcmp((const char *) sqlite3_column_text(st, 1),
                            "active") == 0;
        snprintf(tc->env, sizeof(tc->env), "%s", sqlite3_column_text(st, 2));
        snprintf(tc->system, sizeof(tc->system), "%s",
                 sqlite3_column_text(st, 3));
        tc->suspended = sqlite3_column_int(st, 4) != 0;
        snprintf(tc->org, sizeof(tc->org), "%s", sqlite3_column_text(st, 5));
        tc->agency_closed = strcmp((const char *) sqlite3_column_text(st, 6),
                                   "closed") == 0;
    } else if (rc == SQLITE_DONE) {
        /* the same work as for a known id: no timing oracle */
        cp_secret_verify(token_pepper, sizeof(token_pepper),
                         ca->client_secret, strlen(ca->client_secret),
                         NULL, 0);
    } else {
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return ok;
}

void
lgspd_token_route(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    static const char *const methods[] = {
        "none", "basic", "form", "json",
    };
    cp_client_auth_t  ca;
    token_client_t    tc;
    token_claims_t    claims;
    sqlite3          *db;
    const char       *why = NULL, *authz, *ctype;
    char              addr[TOKEN_ADDR_MAX + 1], who[CP_AUTH_ID_MAX + 1];
    char              kid[CP_KID_LEN + 1], jti[33], *token, *s;
    int               wait, ok;
    cJSON            *o;

    pthread_once(&token_once, token_init);
    client_address(rq->conn, addr);

    if ((wait = address_throttled(addr)) > 0) {
        cp_log("warn", "token refused: slow_down for address %s", addr);
        slow_down(rp, wait);
        return;
    }

    authz = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_AUTHORIZATION);
    ctype = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_TYPE);
    if (cp_client_auth_parse(authz, ctype, rq->body, rq->body_len, &ca,
                             &why) != 0)
    {
        cp_log("warn", "token refused: invalid_request (%s) from %s", why,
               addr);
        count_failure(NULL, NULL, addr);
        oauth_error(rp, 400, "invalid_request", why);
        return;
    }
    if (ca.grant_type[0] == '\0') {
        cp_log("warn", "token refused: invalid_request (no grant_type)"
               " from %s", addr);
        count_failure(NULL, NULL, addr);
        oauth_error(rp, 400, "invalid_request", "grant_type is missing");
        goto done;
    }
    if (strcmp(ca.grant_type, "client_credentials") != 0) {
        cp_log("warn", "token refused: unsupported_grant_type from %s",
               addr);
        count_failure(NULL, NULL, addr);
        oauth_error(rp, 400, "unsupported_grant_type",
                    "only grant_type client_credentials is supported");
        goto done;
    }
    if (ca.method == CP_AUTH_NONE) {
        cp_log("warn", "token refused: invalid_client (no credentials)"
               " from %s", addr);
        count_failure(NULL, NULL, addr);
        oauth_error(rp, 401, "invalid_client",
                    "client authentication is required");
        goto done;
    }

    loggable(ca.client_id, who, sizeof(who));
    if ((wait = client_throttled(ca.client_id, addr)) > 0) {
        cp_log("warn", "token refused: slow_down for client %s from %s",
               who, addr);
        slow_down(rp, wait);
        goto done;
    }

    db = thread_db();
    ok = token_pepper_ok && db != NULL ? authenticate(db, &ca, &tc) : -1;
    if (ok < 0) {
        cp_log("error", "token endpoint: %s",
               db ? sqlite3_errmsg(db) : "registry unavailable");
        oauth_error(rp, 500, "server_error", "the server cannot issue now");
        goto done;
    }
    if (!ok || !tc.active) {
        cp_log("warn", "token refused: invalid_client for client %s (%s,"
               " %s) from %s", who,
               !tc.found ? "unknown client" : !ok ? "wrong secret"
                                                  : "credential revoked",
               methods[ca.method], addr);
        count_failure(ca.client_id, who, addr);
        oauth_error(rp, 401, "invalid_client",
                    "client authentication failed");
        goto done;
    }
    if (tc.suspended || tc.agency_closed) {
        cp_log("warn", "token refused: unauthorized_client for client %s"
               " (%s) from %s", who,
               tc.suspended ? "system suspended" : "agency closed", addr);
        oauth_error(rp, 400, "unauthorized_client",
                    tc.suspended ? "the client's system is suspended"
                                 : "the client's agency is closed");
        goto done;
    }

    claims.client_id = ca.client_id;
    claims.system = tc.system;
    claims.org = tc.org;
    claims.env = tc.env;
    token = sign_token(db, &claims, kid, jti);
    if (token == NULL) {
        cp_log("error", "token endpoint: cannot sign a token (no usable"
               " active key)");
        oauth_error(rp, 500, "server_error", "the server cannot issue now");
        goto done;
    }

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "access_token", token);
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    cJSON_AddNumberToObject(o, "expires_in", lgspd.conf.token_lifetime);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(token);
    lgspd_reply_json(rp, 200, s ? s : "");
    free(s);
    if (rp->body == NULL || rp->body_len == 0) {
        oauth_error(rp, 500, "server_error", "the server cannot issue now");
        goto done;
    }
    /* RFC 6749 §5.1: never cached (Cache-Control: no-store is the default) */
    lgspd_reply_header(rp, "Pragma", "no-cache");
    cp_log("info", "token issued: client %s system %s env %s kid %s jti %s"
           " (%s) from %s", who, tc.system, tc.env, kid, jti,
           methods[ca.method], addr);

done:
    cp_client_auth_clear(&ca);
}

void
lgspd_jwks_route(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    sqlite3_stmt *st;
    sqlite3      *db;
    cJSON        *doc, *keys;
    char         *s;

    (void) rq;
    pthread_once(&token_once, token_init);
    db = thread_db();
    if (db == NULL || sqlite3_prepare_v2(db,
            "SELECT kid, alg, public_der FROM signing_keys"
            " WHERE state = 'active'"
            " OR (state = 'retiring' AND verify_until > ?1)"
            " ORDER BY id DESC", -1, &st, NULL) != SQLITE_OK)
    {
        lgspd_reply_error(rp, 500, "internal_error", "internal error");
        return;
    }
    sqlite3_bind_int64(st, 1, cp_now());
    doc = cJSON_CreateObject();
    keys = cJSON_AddArrayToObject(doc, "keys");
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *kid = (const char *) sqlite3_column_text(st, 0);
        cJSON      *jwk;

        jwk = cp_jwk_from_der(sqlite3_column_blob(st, 2),
                              (size_t) sqlite3_column_bytes(st, 2), kid,
                              (const char *) sqlite3_column_text(st, 1));
        if (jwk == NULL) {
            cp_log("error", "jwks: key %s has an unusable public key", kid);
            continue;
        }
        cJSON_AddItemToArray(keys, jwk);
    }
    sqlite3_finalize(st);
    s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    lgspd_reply_json(rp, 200, s ? s : "{\"keys\":[]}");
    free(s);
    lgspd_reply_header(rp, "Cache-Control", "public, max-age=60");
}
