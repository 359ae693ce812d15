/*
 * The data path: SPEC §4 steps 1-5 and 8, in that order, on every call of
 * a location with "lgsp_gateway on".  Every lookup is an O(1) probe of the
 * pinned snapshot; nothing is allocated beyond the request's pool.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_jwt.h"
#include "lgsp_path.h"


static ngx_int_t ngx_http_lgsp_access_handler(ngx_http_request_t *r);
static void ngx_http_lgsp_ctx_cleanup(void *data);
static ngx_int_t ngx_http_lgsp_route(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_http_lgsp_loc_conf_t *llcf);
static ngx_int_t ngx_http_lgsp_token(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_http_lgsp_main_conf_t *lmcf);
static ngx_int_t ngx_http_lgsp_token_cached(ngx_http_lgsp_ctx_t *ctx,
    const uint64_t tag[2], time_t now, time_t skew);
static ngx_int_t ngx_http_lgsp_grant(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx);
static ngx_int_t ngx_http_lgsp_forward(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, lgsp_path_t *path);
static ngx_table_elt_t *ngx_http_lgsp_find_header(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_lgsp_upstream_credential(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx);


static const struct {
    ngx_uint_t   nginx;
    uint32_t     lgsp;
    const char  *name;
} ngx_http_lgsp_methods[] = {
    { NGX_HTTP_GET,     LGSP_METHOD_GET,     "GET" },
    { NGX_HTTP_HEAD,    LGSP_METHOD_HEAD,    "HEAD" },
    { NGX_HTTP_POST,    LGSP_METHOD_POST,    "POST" },
    { NGX_HTTP_PUT,     LGSP_METHOD_PUT,     "PUT" },
    { NGX_HTTP_PATCH,   LGSP_METHOD_PATCH,   "PATCH" },
    { NGX_HTTP_DELETE,  LGSP_METHOD_DELETE,  "DELETE" },
    { NGX_HTTP_OPTIONS, LGSP_METHOD_OPTIONS, "OPTIONS" },
};


ngx_int_t
ngx_http_lgsp_access_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_lgsp_access_handler;

    return NGX_OK;
}


/*
 * The context must outlive an internal redirect (error_page after a
 * failed upstream), which clears r->ctx: like the realip module, keep it
 * findable through the pool cleanup that also unpins the snapshot.
 */

ngx_http_lgsp_ctx_t *
ngx_http_lgsp_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_lgsp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_lgsp_module);
    if (ctx != NULL) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_lgsp_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_lgsp_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_http_lgsp_ctx_cleanup(void *data)
{
    /* only a marker that finds the context (the snapshot has its own) */
    (void) data;
}


static ngx_int_t
ngx_http_lgsp_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    lgsp_path_t                 path;
    ngx_table_elt_t            *h;
    ngx_pool_cleanup_t         *cln;
    ngx_http_lgsp_ctx_t        *ctx;
    ngx_http_lgsp_loc_conf_t   *llcf;
    ngx_http_lgsp_main_conf_t  *lmcf;

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_lgsp_module);

    if (!llcf->gateway || r != r->main) {
        return NGX_DECLINED;
    }

    if (ngx_http_lgsp_get_ctx(r) != NULL) {
        /* decided already: an internal redirect came back here */
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_lgsp_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_lgsp_ctx_t));
    ctx->environment = llcf->environment;
    ctx->start = ngx_current_msec;
    cln->handler = ngx_http_lgsp_ctx_cleanup;
    ngx_http_set_ctx(r, ctx, ngx_http_lgsp_module);

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lgsp_module);

    /* step 1: the raw path */

    switch (lgsp_path_parse(&path, (const char *) r->unparsed_uri.data,
                            r->unparsed_uri.len,
                            (const char *) llcf->prefix.data,
                            llcf->prefix.len))
    {
    case LGSP_PATH_OK:
        break;

    case LGSP_PATH_INVALID:
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                  "invalid_path",
                                  "the request path is not acceptable");

    default:
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_NOT_FOUND,
                                  "unknown_service",
                                  "no such service version");
    }

    ctx->route.data = (u_char *) path.route;
    ctx->route.len = path.route_len;

    h = ngx_http_lgsp_find_header(r, "x-lgsp-request-id",
                                  sizeof("x-lgsp-request-id") - 1);
    if (h != NULL) {
        if (!lgsp_request_id_valid((const char *) h->value.data,
                                   h->value.len))
        {
            return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                      "invalid_request_id",
                                      "X-LGSP-Request-Id must be 1 to 64 "
                                      "of A-Z a-z 0-9 . _ : -");
        }
        ctx->request_id = h->value;
    }

    /* step 2: the service version, in this environment */

    ctx->snap = ngx_http_lgsp_snapshot_pin(r);
    if (ctx->snap == NULL) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "provider_unavailable",
                                  "the gateway has no configuration yet");
    }

    rc = ngx_http_lgsp_route(r, ctx, llcf);
    if (rc != NGX_OK) {
        return rc;
    }

    /* steps 3 and 4: the token and the caller's identity */

    rc = ngx_http_lgsp_token(r, ctx, lmcf);
    if (rc != NGX_OK) {
        return rc;
    }

    /* step 5: the grant and the method */

    rc = ngx_http_lgsp_grant(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (r->headers_in.content_length_n > 0
        && (uint64_t) r->headers_in.content_length_n
           > ctx->version->body_limit)
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body_too_large",
                                  "the request body is over this service's "
                                  "limit");
    }

    /* step 6: rate limits */

    rc = ngx_http_lgsp_limit(r, ctx, llcf);
    if (rc != NGX_OK) {
        return rc;
    }

    /* step 7: a provider health says is down, when the version asks */

    if ((ctx->version->flags & LGSP_VERSION_FAIL_FAST)
        && ((ctx->version->flags & LGSP_VERSION_DOWN)
            || (ctx->provider->flags & LGSP_SYSTEM_DOWN)))
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "provider_unavailable",
                                  "the provider is down; try again later");
    }

    /* step 8: what the proxy needs */

    return ngx_http_lgsp_forward(r, ctx, &path);
}


static ngx_int_t
ngx_http_lgsp_route(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_loc_conf_t *llcf)
{
    time_t                      now;
    const lgsp_snapshot_t      *snap;
    const lgsp_snap_version_t  *v;

    snap = ctx->snap;

    v = lgsp_snap_route(snap, (const char *) ctx->route.data, ctx->route.len);

    /* retired is said as such (410), wherever it was callable before */
    if (v != NULL && (v->flags & LGSP_VERSION_RETIRED)) {
        ctx->version = v;
        ctx->provider = &snap->systems[v->provider];
        ctx->provider_agency = &snap->agencies[ctx->provider->agency];
        return ngx_http_lgsp_deny(r, ctx, 410, "version_retired",
                                  "this service version is retired");
    }

    if (v == NULL
        || !(v->flags & (ctx->environment == LGSP_ENV_SANDBOX
                         ? LGSP_VERSION_SANDBOX : LGSP_VERSION_PRODUCTION)))
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_NOT_FOUND,
                                  "unknown_service",
                                  "no such service version in this "
                                  "environment");
    }

    ctx->version = v;
    ctx->provider = &snap->systems[v->provider];
    ctx->provider_agency = &snap->agencies[ctx->provider->agency];

    now = ngx_time();

    if ((v->sunset_at && now >= v->sunset_at)
        || (v->end_at && now >= v->end_at)
        || (ctx->provider_agency->flags & LGSP_AGENCY_CLOSED))
    {
        return ngx_http_lgsp_deny(r, ctx, 410, "version_retired",
                                  "this service version is retired");
    }

    if ((v->flags & LGSP_VERSION_SUSPENDED)
        || (ctx->provider->flags & LGSP_SYSTEM_SUSPENDED))
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "provider_unavailable",
                                  "this service is suspended");
    }

    return NGX_OK;
}


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


static ngx_int_t
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

    if (auth->len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(auth->data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
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


static ngx_int_t
ngx_http_lgsp_grant(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx)
{
    u_char                   *p, *last;
    ngx_uint_t                i;
    ngx_table_elt_t          *h;
    const lgsp_snap_grant_t  *g;

    g = lgsp_snap_grant(ctx->snap, ctx->consumer->id,
                        ctx->version->id, (uint32_t) ctx->environment);

    if (g == NULL || (g->flags & LGSP_GRANT_SUSPENDED)) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_FORBIDDEN, "no_grant",
                                  g ? "the grant for this service is "
                                      "suspended"
                                    : "no grant for this service in this "
                                      "environment");
    }

    ctx->grant = g;

    for (i = 0; i < sizeof(ngx_http_lgsp_methods)
                    / sizeof(ngx_http_lgsp_methods[0]); i++)
    {
        if (r->method == ngx_http_lgsp_methods[i].nginx
            && (ctx->version->methods & ngx_http_lgsp_methods[i].lgsp))
        {
            return NGX_OK;
        }
    }

    /* 405 names what is allowed (RFC 9110 §15.5.6) */

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE, "
                                    "OPTIONS"));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = p;

    for (i = 0; i < sizeof(ngx_http_lgsp_methods)
                    / sizeof(ngx_http_lgsp_methods[0]); i++)
    {
        if (ctx->version->methods & ngx_http_lgsp_methods[i].lgsp) {
            if (last != p) {
                *last++ = ',';
                *last++ = ' ';
            }
            last = ngx_cpymem(last, ngx_http_lgsp_methods[i].name,
                              ngx_strlen(ngx_http_lgsp_methods[i].name));
        }
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;
    h->value.len = last - p;

    return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_NOT_ALLOWED,
                              "method_not_allowed",
                              "this method is not allowed for this "
                              "service version");
}


/*
 * The upstream URI: the version's path prefix, then {rest} and the query
 * exactly as the client sent them (no decoding, no re-encoding).
 */

static ngx_int_t
ngx_http_lgsp_forward(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    lgsp_path_t *path)
{
    u_char                      *p;
    size_t                       len;
    lgsp_sv_t                    prefix;
    const lgsp_snap_upstream_t  *up;

    up = &ctx->version->upstream[ctx->environment];

    if (up->family == 0) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                  "upstream_error",
                                  "the provider's address cannot be "
                                  "resolved");
    }

    prefix = lgsp_snap_sv(ctx->snap, up->path);

    /* "http://host/base/" + "/x" is "/base/x", not "/base//x" */
    if (prefix.len && prefix.data[prefix.len - 1] == '/'
        && path->rest_len && path->rest[0] == '/')
    {
        prefix.len--;
    }

    len = prefix.len + path->rest_len + 1 + 1 + path->args_len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->upstream_uri.data = p;

    p = ngx_cpymem(p, prefix.data, prefix.len);
    p = ngx_cpymem(p, path->rest, path->rest_len);

    if (p == ctx->upstream_uri.data) {
        *p++ = '/';
    }

    if (path->has_args) {
        *p++ = '?';
        p = ngx_cpymem(p, path->args, path->args_len);
    }

    ctx->upstream_uri.len = p - ctx->upstream_uri.data;

    if (ngx_http_lgsp_upstream_credential(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->allowed = 1;

    return NGX_OK;
}


/*
 * The version's own credential for its provider ("X-Api-Key: ..."): any
 * copy the client sent is dropped and the gateway's added, by rebuilding
 * the request's header list (the proxy passes that list through).  An
 * Authorization credential needs none of this: the shipped configuration
 * sets Authorization from $lgsp_upstream_authorization.
 */

static ngx_int_t
ngx_http_lgsp_upstream_credential(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx)
{
    u_char           *lowcase;
    lgsp_sv_t         name, value;
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    name = lgsp_snap_sv(ctx->snap, ctx->version->upstream_header_name);

    if (name.len == 0
        || (name.len == sizeof("Authorization") - 1
            && ngx_strncasecmp((u_char *) name.data,
                               (u_char *) "Authorization", name.len) == 0))
    {
        return NGX_OK;
    }

    value = lgsp_snap_sv(ctx->snap, ctx->version->upstream_header_value);

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == name.len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name.data, name.len)
               == 0)
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    nh = ngx_list_push(&headers);
    lowcase = ngx_pnalloc(r->pool, name.len);

    if (nh == NULL || lowcase == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(lowcase, (u_char *) name.data, name.len);

    nh->key.data = (u_char *) name.data;
    nh->key.len = name.len;
    nh->value.data = (u_char *) value.data;
    nh->value.len = value.len;
    nh->lowcase_key = lowcase;
    nh->hash = ngx_hash_key(lowcase, name.len);

    r->headers_in.headers = headers;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_lgsp_find_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].lowcase_key, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}
