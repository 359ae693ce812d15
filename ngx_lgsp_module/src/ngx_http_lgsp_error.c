/*
 * The gateway's own answers: the JSON envelope of SPEC §4, sent from the
 * access phase, so no error_page or default HTML page is involved.
 */

#include "ngx_http_lgsp_module.h"


#define NGX_HTTP_LGSP_ENVELOPE                                               \
    "{\"status\":\"01\",\"error\":\"\",\"message\":\"\","                    \
    "\"transaction_id\":\"\"}\n"


ngx_int_t
ngx_http_lgsp_deny(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *message)
{
    size_t        len;
    ngx_int_t     rc;
    ngx_str_t     txid;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    ctx->status = status;
    ctx->denial = error;

    if (ngx_http_lgsp_transaction_id(r, &txid) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* error and message are the module's own constants: no escaping */
    len = sizeof(NGX_HTTP_LGSP_ENVELOPE) - 1 + ngx_strlen(error)
          + ngx_strlen(message) + txid.len;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"status\":\"01\",\"error\":\"%s\","
                          "\"message\":\"%s\",\"transaction_id\":\"%V\"}\n",
                          error, message, &txid);
    b->last_buf = 1;
    b->last_in_chain = 1;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/*
 * The status endpoints answer GET and HEAD: any other method is 405 with
 * the Allow that RFC 9110 §15.5.6 asks for, and the envelope of
 * lgsp-errors.conf (the error page keeps the headers set here).
 */

ngx_int_t
ngx_http_lgsp_get_only(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD");

    return NGX_HTTP_NOT_ALLOWED;
}
