/*
 * The data path: SPEC §4 steps 1 to 8, in that order, on every call of a
 * location with "lgsp_gateway on" (the token and identity steps are in
 * ngx_http_lgsp_token.c, the limits in ngx_http_lgsp_limit.c).  Every
 * lookup is an O(1) probe of the pinned snapshot; nothing is allocated
 * beyond the request's pool.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_path.h"


static ngx_int_t ngx_http_lgsp_access_handler(ngx_http_request_t *r);
static void ngx_http_lgsp_ctx_cleanup(void *data);
static ngx_int_t ngx_http_lgsp_route(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_http_lgsp_loc_conf_t *llcf);
static ngx_int_t ngx_http_lgsp_grant(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx);
static ngx_int_t ngx_http_lgsp_forward(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, lgsp_path_t *path);
static ngx_int_t ngx_http_lgsp_chunked_limit(ngx_http_request_t *r,
    uint64_t limit);


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

    ngx_http_lgsp_proxy_headers_init();

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

    if (ngx_http_lgsp_scan_headers(r, ctx) != NGX_OK) {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                  "invalid_request_id",
                                  "X-LGSP-Request-Id must be 1 to 64 "
                                  "of A-Z a-z 0-9 . _ : -");
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

    /* a chunked body to a version that takes none: refused unread */
    if ((r->headers_in.content_length_n > 0
         && (uint64_t) r->headers_in.content_length_n
            > ctx->version->body_limit)
        || (r->headers_in.chunked && ctx->version->body_limit == 0))
    {
        return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "body_too_large",
                                  "the request body is over this service's "
                                  "limit");
    }

    if (r->headers_in.chunked
        && ngx_http_lgsp_chunked_limit(r, ctx->version->body_limit) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
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

    if (ngx_http_lgsp_proxy_headers(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->allowed = 1;

    return NGX_OK;
}


/*
 * A chunked body has no length to judge at step 5: nginx counts it as it
 * reads it, against the location's client_max_body_size.  This request
 * gets its own copy of the location's core configuration with the
 * version's limit there, so the body reader refuses it past that limit
 * (413, the body_too_large envelope of lgsp-errors.conf).  The per-location
 * array of configurations is shared by every request, hence copied too;
 * an internal redirect replaces both.
 */

static ngx_int_t
ngx_http_lgsp_chunked_limit(ngx_http_request_t *r, uint64_t limit)
{
    void                      **loc_conf;
    ngx_http_core_loc_conf_t   *clcf, *copy;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->client_max_body_size != 0
        && (uint64_t) clcf->client_max_body_size <= limit)
    {
        return NGX_OK;
    }

    loc_conf = ngx_palloc(r->pool, ngx_http_max_module * sizeof(void *));
    copy = ngx_palloc(r->pool, sizeof(ngx_http_core_loc_conf_t));

    if (loc_conf == NULL || copy == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(loc_conf, r->loc_conf, ngx_http_max_module * sizeof(void *));
    ngx_memcpy(copy, clcf, sizeof(ngx_http_core_loc_conf_t));

    /* never 0 here (refused above): to nginx 0 means "unlimited" */
    copy->client_max_body_size = (off_t) limit;

    loc_conf[ngx_http_core_module.ctx_index] = copy;
    r->loc_conf = loc_conf;

    return NGX_OK;
}
