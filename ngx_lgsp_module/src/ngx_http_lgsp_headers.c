/*
 * The headers an answer carries because of the module's decision: the
 * deprecation headers of a deprecated version (RFC 9745, RFC 8594, the
 * successor Link) and the RateLimit headers of a call that reached the
 * limits.  A header filter rather than add_header with variables: nginx's
 * script engine would evaluate five variables on every answer, mostly to
 * find them empty.
 */

#include "ngx_http_lgsp_module.h"


static ngx_int_t ngx_http_lgsp_header_filter(ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static const struct {
    ngx_str_t   name;
    ngx_uint_t  which;
} ngx_http_lgsp_headers[] = {
    { ngx_string("Deprecation"), NGX_HTTP_LGSP_VAR_DEPRECATION },
    { ngx_string("Sunset"), NGX_HTTP_LGSP_VAR_SUNSET },
    { ngx_string("Link"), NGX_HTTP_LGSP_VAR_LINK },
    { ngx_string("RateLimit-Policy"), NGX_HTTP_LGSP_VAR_RL_POLICY },
    { ngx_string("RateLimit"), NGX_HTTP_LGSP_VAR_RL_STATE },
};


ngx_int_t
ngx_http_lgsp_headers_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_lgsp_header_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_header_filter(ngx_http_request_t *r)
{
    ngx_str_t             value;
    ngx_uint_t            i;
    ngx_table_elt_t      *h;
    ngx_http_lgsp_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    /* found again after an internal redirect to an error page */
    ctx = ngx_http_lgsp_get_ctx(r);

    if (ctx == NULL || ctx->snap == NULL || ctx->version == NULL) {
        return ngx_http_next_header_filter(r);
    }

    for (i = 0; i < sizeof(ngx_http_lgsp_headers)
                    / sizeof(ngx_http_lgsp_headers[0]); i++)
    {
        if (ngx_http_lgsp_ctx_value(r, ctx, ngx_http_lgsp_headers[i].which,
                                    &value)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (value.len == 0) {
            continue;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = ngx_http_lgsp_headers[i].name;
        h->value = value;
    }

    return ngx_http_next_header_filter(r);
}
