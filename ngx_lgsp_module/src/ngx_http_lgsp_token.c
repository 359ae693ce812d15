/*
 * SPEC §4 steps 3 and 4: the bearer token (a verified-token cache hit, or
 * a full check with the key the snapshot pins), then who is calling.
 * Every token-level failure is 401 with WWW-Authenticate (RFC 6750 §3).
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_jwt.h"


static ngx_int_t ngx_http_lgsp_bad_token(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, const char *error, const char *message);
static ngx_int_t ngx_http_lgsp_token_cached(ngx_http_lgsp_ctx_t *ctx,
    const uint64_t tag[2], time_t now, time_t skew);


static ngx_int_t
ngx_http_lgsp_bad_token(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    const char *error, const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");

    if (ngx_strcmp(error, "missing_token") == 0) {
        ngx_str_set(&h->value, "Bearer realm=\"lgsp\"");

    } else {
        ngx_str_set(&h->value, "Bearer realm=\"lgsp\", "
                               "error=\"invalid_token\"");
    }

    r->headers_out.www_authenticate = h;

    return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_UNAUTHORIZED, error, message);
}


ngx_int_t
ngx_http_lgsp_token(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_main_conf_t *lmcf)
{
    u_char                        *token;
    size_t                         len, aud_len;
    ngx_str_t                     *auth;
    lgsp_jwt_t                     jwt;
    lgsp_jwt_rc_e                  rc;
    lgsp_jwt_verifier_t           *verifier;
    const char                    *aud;
    const lgsp_snapshot_t         *snap;
    const lgsp_snap_key_t         *key;
    const lgsp_snap_issuer_t      *iss;
    const lgsp_snap_system_t      *sys;
    const lgsp_snap_agency_t      *org;
    const lgsp_snap_credential_t  *cred;
    time_t                         now;
    uint64_t                       tag[2];
    lgsp_tcache_t                 *tc;
    lgsp_tcache_value_t            cached;
    lgsp_jwt_str_t                 subject;
    u_char                         scratch[LGSP_JWT_SCRATCH_SIZE];

    if (r->headers_in.authorization == NULL) {
        return ngx_http_lgsp_bad_token(r, ctx, "missing_token",
                                       "an Authorization: Bearer token is "
                                       "required");
    }

    auth = &r->headers_in.authorization->value;

    /* the scheme is case-insensitive (RFC 9110 §11.1); compared exactly
     * first, as nearly every client spells it */
    if (auth->len < sizeof("Bearer ") - 1
        || (ngx_memcmp(auth->data, "Bearer ", sizeof("Bearer ") - 1) != 0
            && ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                               sizeof("Bearer ") - 1) != 0))
    {
        return ngx_http_lgsp_bad_token(r, ctx, "missing_token",
                                       "the Authorization scheme must be "
                                       "Bearer");
    }

    token = auth->data + sizeof("Bearer ") - 1;
    len = auth->len - (sizeof("Bearer ") - 1);

    while (len && *token == ' ') {
        token++;
        len--;
    }

    if (len > LGSP_JWT_MAX_LEN) {
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token is too long");
    }

    now = ngx_time();

    /* the token's keyed hash, once: for the lookup and, on a miss, the
     * store after verifying */
    tc = ngx_http_lgsp_tcache_get();

    if (tc) {
        lgsp_tcache_tag(tc, token, len, tag);

        if (ngx_http_lgsp_token_cached(ctx, tag, now, lmcf->token_skew)
            == NGX_OK)
        {
            return NGX_OK;
        }
    }

    /* a miss, or a hit the snapshot no longer stands behind: the full
     * check, which also says precisely why a token is refused */

    rc = lgsp_jwt_parse(&jwt, token, len, scratch, sizeof(scratch));
    if (rc != LGSP_JWT_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "lgsp: token refused: %s", lgsp_jwt_strerror(rc));
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token is malformed");
    }

    snap = ctx->snap;

    /* the key of this kid from this issuer, trusted in this environment:
     * another issuer's key of the same kid never stands in for it */
    key = lgsp_snap_key_issued(snap, (const char *) jwt.kid.data,
                               jwt.kid.len, (const char *) jwt.iss.data,
                               jwt.iss.len, (uint32_t) ctx->environment);
    if (key == NULL) {
        if (lgsp_snap_key(snap, (const char *) jwt.kid.data, jwt.kid.len)
            == NULL)
        {
            return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                           "the token's key is unknown");
        }

        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token's issuer is not trusted "
                                       "here");
    }

    iss = &snap->issuers[key->issuer];

    /* the claim that names the calling system: sub, unless a trusted
     * issuer says otherwise; the token is read again to keep it */

    subject = jwt.sub;

    if (!(iss->flags & LGSP_ISSUER_PLATFORM)
        && !(iss->system_claim.len == 3
             && ngx_memcmp(snap->strings + iss->system_claim.off, "sub", 3)
                == 0))
    {
        rc = lgsp_jwt_parse_claim(&jwt, token, len, scratch,
                                  sizeof(scratch),
                                  snap->strings + iss->system_claim.off,
                                  iss->system_claim.len);
        if (rc != LGSP_JWT_OK) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "lgsp: token refused: %s", lgsp_jwt_strerror(rc));
            return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                           "the token is malformed");
        }

        subject = jwt.claim;
    }

    if (iss->flags & LGSP_ISSUER_PLATFORM) {
        aud = ctx->environment == LGSP_ENV_SANDBOX ? "lgsp:sandbox"
                                                   : "lgsp:production";
        aud_len = ngx_strlen(aud);

    } else {
        aud = snap->strings + iss->audience.off;
        aud_len = iss->audience.len;
    }

    if (!lgsp_jwt_has_aud(&jwt, aud, aud_len)) {
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token is not for this "
                                       "environment");
    }

    if (key->verify_until && now > key->verify_until) {
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token's key is retired");
    }

    verifier = ngx_http_lgsp_snapshot_key(snap,
                                          (uint32_t) (key - snap->keys));

    rc = lgsp_jwt_verify_prepared(&jwt, verifier);
    if (rc != LGSP_JWT_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "lgsp: token refused: %s", lgsp_jwt_strerror(rc));
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token's signature is not valid");
    }

    rc = lgsp_jwt_check_time(&jwt, now, lmcf->token_skew);
    if (rc == LGSP_JWT_EXPIRED) {
        return ngx_http_lgsp_bad_token(r, ctx, "token_expired",
                                       "the token has expired");
    }

    if (rc != LGSP_JWT_OK) {
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token is not valid now");
    }

    /* the credential: a revoked one is gone from the snapshot */

    if (iss->flags & LGSP_ISSUER_PLATFORM) {
        cred = lgsp_snap_credential(snap, (const char *) jwt.client_id.data,
                                    jwt.client_id.len);
        if (cred == NULL || cred->env != ctx->environment) {
            return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                           "the token's credential is "
                                           "revoked");
        }

        ctx->credential = cred;
        ctx->client_id.data = (u_char *) snap->strings + cred->client_id.off;
        ctx->client_id.len = cred->client_id.len;
    }

    /* a token that names no system is not one we issue or accept */

    if (subject.data == NULL || subject.len == 0) {
        return ngx_http_lgsp_bad_token(r, ctx, "invalid_token",
                                       "the token names no calling system");
    }

    /* step 4: who is calling */

    sys = lgsp_snap_system(snap, (const char *) subject.data, subject.len);

    if (sys == NULL
        || (ctx->credential && &snap->systems[ctx->credential->system] != sys))
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                  "identity_rejected",
                                  "the calling system is not registered");
    }

    ctx->consumer = sys;
    ctx->consumer_agency = &snap->agencies[sys->agency];

    if (sys->flags & LGSP_SYSTEM_SUSPENDED) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                  "identity_rejected",
                                  "the calling system is suspended");
    }

    if (ctx->consumer_agency->flags & LGSP_AGENCY_CLOSED) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                  "identity_rejected",
                                  "the calling agency's code is closed");
    }

    if (jwt.org.len == 0) {
        if (iss->flags & LGSP_ISSUER_PLATFORM) {
            return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                      "identity_rejected",
                                      "the token names no agency");
        }

    } else {
        org = lgsp_snap_agency_by_code(snap, (const char *) jwt.org.data,
                                       jwt.org.len);
        if (org != ctx->consumer_agency) {
            return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                      "identity_rejected",
                                      "the token's agency is not the "
                                      "calling system's");
        }
    }

    if (tc && jwt.has_exp && jwt.kid.len <= LGSP_TCACHE_KID_MAX) {
        ngx_memzero(&cached, sizeof(lgsp_tcache_value_t));
        cached.exp = jwt.exp;
        cached.env = (uint8_t) ctx->environment;
        cached.issuer_id = iss->id;
        cached.credential_id = ctx->credential ? ctx->credential->id : 0;
        cached.system_id = sys->id;
        cached.org_agency_id = ctx->consumer_agency->id;
        cached.kid_len = (uint8_t) jwt.kid.len;
        ngx_memcpy(cached.kid, jwt.kid.data, jwt.kid.len);

        (void) lgsp_tcache_insert(tc, tag, &cached, ngx_pid);
    }

    return NGX_OK;
}


/*
 * A token verified before: what it was bound to (key, issuer, credential,
 * system, agency -- by ids that are never reused) must still stand in the
 * current snapshot, so a revocation or suspension defeats the cache as
 * soon as the snapshot that carries it is loaded, without a flush.
 */

static ngx_int_t
ngx_http_lgsp_token_cached(ngx_http_lgsp_ctx_t *ctx, const uint64_t tag[2],
    time_t now, time_t skew)
{
    lgsp_tcache_t                 *tc;
    lgsp_tcache_value_t            v;
    const lgsp_snapshot_t         *snap;
    const lgsp_snap_key_t         *key;
    const lgsp_snap_system_t      *sys;
    const lgsp_snap_agency_t      *agency;
    const lgsp_snap_credential_t  *cred;

    tc = ngx_http_lgsp_tcache_get();

    if (!lgsp_tcache_lookup(tc, tag, (int64_t) (now - skew), &v)
        || v.env != ctx->environment)
    {
        return NGX_DECLINED;
    }

    snap = ctx->snap;

    key = lgsp_snap_key_of_issuer(snap, (const char *) v.kid, v.kid_len,
                                  v.issuer_id);
    if (key == NULL
        || !(snap->issuers[key->issuer].env_mask
             & LGSP_ENV_BIT(ctx->environment))
        || (key->verify_until && now > key->verify_until))
    {
        return NGX_DECLINED;
    }

    sys = lgsp_snap_system_by_id(snap, v.system_id);
    if (sys == NULL || (sys->flags & LGSP_SYSTEM_SUSPENDED)) {
        return NGX_DECLINED;
    }

    agency = &snap->agencies[sys->agency];
    if (agency->id != v.org_agency_id || (agency->flags & LGSP_AGENCY_CLOSED))
    {
        return NGX_DECLINED;
    }

    if (v.credential_id) {
        cred = lgsp_snap_credential_by_id(snap, v.credential_id);
        if (cred == NULL || cred->env != ctx->environment
            || &snap->systems[cred->system] != sys)
        {
            return NGX_DECLINED;
        }

        ctx->credential = cred;
        ctx->client_id.data = (u_char *) snap->strings + cred->client_id.off;
        ctx->client_id.len = cred->client_id.len;
    }

    ctx->consumer = sys;
    ctx->consumer_agency = agency;

    return NGX_OK;
}
