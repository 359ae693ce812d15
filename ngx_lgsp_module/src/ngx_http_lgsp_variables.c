/*
 * $lgsp_* variables: how the shipped configuration hands the module's
 * decisions to the proxy (proxy_pass, proxy_set_header) and to add_header
 * (an empty value adds no header), without a header filter of our own.
 */

#include "ngx_http_lgsp_module.h"




static ngx_int_t ngx_http_lgsp_txid_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_lgsp_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_lgsp_vars[] = {

    { ngx_string("lgsp_transaction_id"), NULL,
      ngx_http_lgsp_txid_variable, 0, 0, 0 },

    { ngx_string("lgsp_upstream_scheme"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_SCHEME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_upstream_host"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_upstream_sni"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_SNI, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_upstream_uri"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_URI, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_consumer_org"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_ORG, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_consumer_system"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_SYSTEM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_environment"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_ENVIRONMENT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_upstream_authorization"), NULL,
      ngx_http_lgsp_ctx_variable, NGX_HTTP_LGSP_VAR_AUTHORIZATION,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_deprecation"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_DEPRECATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_sunset"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_SUNSET, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_link"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_LINK, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_ratelimit_policy"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_RL_POLICY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("lgsp_ratelimit"), NULL, ngx_http_lgsp_ctx_variable,
      NGX_HTTP_LGSP_VAR_RL_STATE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* a random per-worker prefix and a counter: unique without a syscall */
static u_char    ngx_http_lgsp_txid_prefix[16];
static uint64_t  ngx_http_lgsp_txid_counter;


ngx_int_t
ngx_http_lgsp_add_variables(ngx_conf_t *cf)
{
    ngx_int_t                   index;
    ngx_http_variable_t        *var, *v;
    ngx_http_lgsp_main_conf_t  *lmcf;

    for (v = ngx_http_lgsp_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_lgsp_module);

    index = ngx_http_get_variable_index(cf, &ngx_http_lgsp_vars[0].name);
    if (index == NGX_ERROR) {
        return NGX_ERROR;
    }

    lmcf->txid_index = index;

    return NGX_OK;
}


ngx_int_t
ngx_http_lgsp_variables_init_worker(ngx_cycle_t *cycle)
{
    u_char  rnd[8];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "lgsp: RAND_bytes() failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(ngx_http_lgsp_txid_prefix, rnd, sizeof(rnd));

    return NGX_OK;
}


/* cached per request, and the cache survives internal redirects */

ngx_int_t
ngx_http_lgsp_transaction_id(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_http_variable_value_t  *v;
    ngx_http_lgsp_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lgsp_module);

    v = ngx_http_get_indexed_variable(r->main, lmcf->txid_index);
    if (v == NULL || v->not_found) {
        return NGX_ERROR;
    }

    id->data = v->data;
    id->len = v->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_txid_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char    *p, be[8];
    ngx_int_t  i;
    uint64_t   n;

    p = ngx_pnalloc(r->pool, 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = ++ngx_http_lgsp_txid_counter;

    ngx_memcpy(p, ngx_http_lgsp_txid_prefix, 16);

    /* the counter in 16 hex digits, big-endian (not ngx_sprintf: its
     * format parsing costs ~300 instructions a call) */
    for (i = 7; i >= 0; i--) {
        be[i] = (u_char) n;
        n >>= 8;
    }

    ngx_hex_dump(p + 16, be, sizeof(be));

    v->data = p;
    v->len = 32;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_ctx_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t             value;
    ngx_http_lgsp_ctx_t  *ctx;

    ctx = ngx_http_lgsp_get_ctx(r);

    if (ctx == NULL || ctx->snap == NULL || ctx->version == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_http_lgsp_ctx_value(r, ctx, data, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = value.data;
    v->len = value.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* one value of the module's decision; empty when it does not apply */

ngx_int_t
ngx_http_lgsp_ctx_value(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t which, ngx_str_t *value)
{
    u_char                      *p;
    size_t                       len;
    ngx_str_t                    str;
    lgsp_sv_t                    s, name;
    const lgsp_snapshot_t       *snap;
    ngx_http_lgsp_loc_conf_t    *llcf;
    const lgsp_snap_upstream_t  *up;
    const ngx_http_lgsp_peer_t  *peer;

    snap = ctx->snap;
    up = &ctx->version->upstream[ctx->environment];
    s.data = NULL;
    s.len = 0;

    switch ((ngx_http_lgsp_var_e) which) {

    case NGX_HTTP_LGSP_VAR_SCHEME:
        s.data = up->tls ? "https" : "http";
        s.len = up->tls ? 5 : 4;
        break;

    case NGX_HTTP_LGSP_VAR_HOST:
        /* "host[:port]", made once per snapshot with the peer */
        peer = ngx_http_lgsp_snapshot_peer(snap,
                                           (uint32_t) (ctx->version
                                                       - snap->versions),
                                           ctx->environment);
        if (peer) {
            s.data = (const char *) peer->host.data;
            s.len = peer->host.len;

        } else {
            s = lgsp_snap_sv(snap, up->host);
        }
        break;

    case NGX_HTTP_LGSP_VAR_RL_POLICY:
    case NGX_HTTP_LGSP_VAR_RL_STATE:
        if (ngx_http_lgsp_limit_header(r, ctx,
                                       which == NGX_HTTP_LGSP_VAR_RL_STATE,
                                       &str)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
        s.data = (const char *) str.data;
        s.len = str.len;
        break;

    case NGX_HTTP_LGSP_VAR_SNI:
        s = lgsp_snap_sv(snap, up->host);
        break;

    case NGX_HTTP_LGSP_VAR_URI:
        s.data = (const char *) ctx->upstream_uri.data;
        s.len = ctx->upstream_uri.len;
        break;

    case NGX_HTTP_LGSP_VAR_ORG:
        if (ctx->consumer_agency) {
            s = lgsp_snap_sv(snap, ctx->consumer_agency->code);
        }
        break;

    case NGX_HTTP_LGSP_VAR_SYSTEM:
        if (ctx->consumer) {
            s = lgsp_snap_sv(snap, ctx->consumer->ident);
        }
        break;

    case NGX_HTTP_LGSP_VAR_ENVIRONMENT:
        s.data = ctx->environment == LGSP_ENV_SANDBOX ? "sandbox"
                                                      : "production";
        s.len = ngx_strlen(s.data);
        break;

    case NGX_HTTP_LGSP_VAR_AUTHORIZATION:
        name = lgsp_snap_sv(snap, ctx->version->upstream_header_name);
        if (name.len == sizeof("Authorization") - 1
            && ngx_strncasecmp((u_char *) name.data,
                               (u_char *) "Authorization", name.len) == 0)
        {
            s = lgsp_snap_sv(snap, ctx->version->upstream_header_value);
        }
        break;

    case NGX_HTTP_LGSP_VAR_DEPRECATION:
        if (ctx->version->flags & LGSP_VERSION_DEPRECATED) {
            /* RFC 9745: a Structured Field date, "@" and Unix seconds */
            p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
            if (p == NULL) {
                return NGX_ERROR;
            }
            len = ngx_sprintf(p, "@%L", ctx->version->deprecated_at) - p;
            s.data = (const char *) p;
            s.len = len;
        }
        break;

    case NGX_HTTP_LGSP_VAR_SUNSET:
        if ((ctx->version->flags & LGSP_VERSION_DEPRECATED)
            && ctx->version->sunset_at)
        {
            p = ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT"));
            if (p == NULL) {
                return NGX_ERROR;
            }
            len = ngx_http_time(p, ctx->version->sunset_at) - p;
            s.data = (const char *) p;
            s.len = len;
        }
        break;

    case NGX_HTTP_LGSP_VAR_LINK:
        if ((ctx->version->flags & LGSP_VERSION_DEPRECATED)
            && ctx->version->successor.len)
        {
            llcf = ngx_http_get_module_loc_conf(r, ngx_http_lgsp_module);
            name = lgsp_snap_sv(snap, ctx->version->successor);
            len = 1 + llcf->prefix.len + name.len
                  + sizeof("/>; rel=\"successor-version\"") - 1;
            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }
            ngx_sprintf(p, "<%V%*s/>; rel=\"successor-version\"",
                        &llcf->prefix, name.len, name.data);
            s.data = (const char *) p;
            s.len = len;
        }
        break;
    }

    value->data = (u_char *) s.data;
    value->len = s.len;

    return NGX_OK;
}
