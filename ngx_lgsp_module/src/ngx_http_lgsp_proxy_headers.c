/*
 * SPEC §6: the headers the provider receives.  The gateway's own
 * (X-LGSP-Transaction-Id, -Consumer-Org, -Consumer-System, -Environment and
 * the version's upstream credential) replace any copy the client sent, and
 * the client's Authorization (its token) never passes.
 *
 * A provider behind the gateway sees only the gateway's connection, so it
 * may believe what the gateway says about the client: X-Forwarded-For,
 * X-Real-IP and Forwarded are the address nginx accepted the connection
 * from (after the realip module, when the ops team configured one), never
 * the client's own words.  The other X-Forwarded-* (Host, Proto, Port,
 * Prefix) are dropped: frameworks build URLs and decide "secure" from
 * them.  So are the method overrides (X-HTTP-Method-Override, X-HTTP-Method,
 * X-Method-Override): a provider that honours them would run a DELETE the
 * version's method list refused, sent as an allowed POST.
 *
 * The module edits the request's header list, which the proxy forwards
 * as it is, instead of the configuration setting each header from a
 * variable: one pass over the client's headers at step 1 (which also finds
 * X-LGSP-Request-Id), and at step 8 the client's stale entries are
 * overwritten in place with the gateway's, the rest appended.  That is
 * ~1,500 instructions a call cheaper than five proxy_set_header variables,
 * and a location that proxies with a configuration of its own still never
 * forwards the token.  Only when the client sent more stale headers than
 * the gateway has to write is the list rebuilt without them.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_path.h"


/* the four of SPEC §6, the three forwarding headers, the credential */
#define NGX_HTTP_LGSP_OURS_MAX  8

#if (NGX_HTTP_LGSP_STALE_MAX < NGX_HTTP_LGSP_OURS_MAX)
#error "every stale header must have a slot for one of ours"
#endif


typedef struct {
    ngx_str_t   key;
    ngx_str_t   lowcase;
    ngx_uint_t  hash;
} ngx_http_lgsp_hname_t;


/*
 * The client headers that never reach a provider as sent: the first seven
 * the gateway writes itself, the rest it drops.  Their hashes are filled
 * at configuration.
 */
static ngx_http_lgsp_hname_t  ngx_http_lgsp_hnames[] = {
    { ngx_string("X-LGSP-Transaction-Id"),
      ngx_string("x-lgsp-transaction-id"), 0 },
    { ngx_string("X-LGSP-Consumer-Org"),
      ngx_string("x-lgsp-consumer-org"), 0 },
    { ngx_string("X-LGSP-Consumer-System"),
      ngx_string("x-lgsp-consumer-system"), 0 },
    { ngx_string("X-LGSP-Environment"),
      ngx_string("x-lgsp-environment"), 0 },
    { ngx_string("X-Forwarded-For"),
      ngx_string("x-forwarded-for"), 0 },
    { ngx_string("X-Real-IP"),
      ngx_string("x-real-ip"), 0 },
    { ngx_string("Forwarded"),
      ngx_string("forwarded"), 0 },
    { ngx_string("Authorization"),
      ngx_string("authorization"), 0 },
    { ngx_string("X-Forwarded-Host"),
      ngx_string("x-forwarded-host"), 0 },
    { ngx_string("X-Forwarded-Proto"),
      ngx_string("x-forwarded-proto"), 0 },
    { ngx_string("X-Forwarded-Port"),
      ngx_string("x-forwarded-port"), 0 },
    { ngx_string("X-Forwarded-Prefix"),
      ngx_string("x-forwarded-prefix"), 0 },
    { ngx_string("X-HTTP-Method-Override"),
      ngx_string("x-http-method-override"), 0 },
    { ngx_string("X-HTTP-Method"),
      ngx_string("x-http-method"), 0 },
    { ngx_string("X-Method-Override"),
      ngx_string("x-method-override"), 0 },
};

#define NGX_HTTP_LGSP_H_TXID           0
#define NGX_HTTP_LGSP_H_ORG            1
#define NGX_HTTP_LGSP_H_SYSTEM         2
#define NGX_HTTP_LGSP_H_ENVIRONMENT    3
#define NGX_HTTP_LGSP_H_XFF            4
#define NGX_HTTP_LGSP_H_REAL_IP        5
#define NGX_HTTP_LGSP_H_FORWARDED      6
#define NGX_HTTP_LGSP_H_AUTHORIZATION  7

#define NGX_HTTP_LGSP_H_NAMES                                                \
    (sizeof(ngx_http_lgsp_hnames) / sizeof(ngx_http_lgsp_hnames[0]))


static ngx_int_t ngx_http_lgsp_header_is(ngx_table_elt_t *h,
    ngx_str_t *lowcase);
static ngx_uint_t ngx_http_lgsp_stale(ngx_table_elt_t *h, ngx_str_t *cred);
static ngx_int_t ngx_http_lgsp_forwarded(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_lgsp_rebuild_headers(ngx_http_request_t *r,
    ngx_str_t *cred, ngx_table_elt_t *ours, ngx_uint_t n);


/* most client headers are shorter than any of the names: they stop there */
static size_t  ngx_http_lgsp_hname_min;


void
ngx_http_lgsp_proxy_headers_init(void)
{
    ngx_uint_t  i;

    ngx_http_lgsp_hname_min = ngx_http_lgsp_hnames[0].lowcase.len;

    for (i = 0; i < NGX_HTTP_LGSP_H_NAMES; i++) {
        ngx_http_lgsp_hnames[i].hash =
            ngx_hash_key(ngx_http_lgsp_hnames[i].lowcase.data,
                         ngx_http_lgsp_hnames[i].lowcase.len);

        ngx_http_lgsp_hname_min = ngx_min(ngx_http_lgsp_hname_min,
                                          ngx_http_lgsp_hnames[i].lowcase.len);
    }
}


static ngx_int_t
ngx_http_lgsp_header_is(ngx_table_elt_t *h, ngx_str_t *lowcase)
{
    return h->key.len == lowcase->len
           && ngx_memcmp(h->lowcase_key, lowcase->data, lowcase->len) == 0;
}


/* a client header that does not pass: one of the names, or the credential's */

static ngx_uint_t
ngx_http_lgsp_stale(ngx_table_elt_t *h, ngx_str_t *cred)
{
    ngx_uint_t  i;

    if (cred && ngx_http_lgsp_header_is(h, cred)) {
        return 1;
    }

    if (h->key.len < ngx_http_lgsp_hname_min) {
        return 0;
    }

    for (i = 0; i < NGX_HTTP_LGSP_H_NAMES; i++) {
        if (h->hash == ngx_http_lgsp_hnames[i].hash
            && ngx_http_lgsp_header_is(h, &ngx_http_lgsp_hnames[i].lowcase))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Step 1: X-LGSP-Request-Id (NGX_DECLINED when it is malformed), and the
 * client's copies of the gateway's headers, remembered for step 8.
 */

ngx_int_t
ngx_http_lgsp_scan_headers(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static ngx_str_t  request_id = ngx_string("x-lgsp-request-id");

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_lgsp_header_is(&h[i], &request_id)) {
            if (!lgsp_request_id_valid((const char *) h[i].value.data,
                                       h[i].value.len))
            {
                return NGX_DECLINED;
            }

            ctx->request_id = h[i].value;
            continue;
        }

        if (ngx_http_lgsp_stale(&h[i], NULL)) {
            if (ctx->nstale < NGX_HTTP_LGSP_STALE_MAX) {
                ctx->stale[ctx->nstale] = &h[i];
            }

            /* counted past the array: step 8 then rebuilds the list */
            ctx->nstale++;
        }
    }
}


/* Step 8: the gateway's headers into the list the proxy forwards. */

ngx_int_t
ngx_http_lgsp_proxy_headers(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx)
{
    u_char           *lowcase;
    ngx_str_t         cred, *credp, txid, forwarded;
    lgsp_sv_t         name, value, code, ident;
    ngx_uint_t        i, n, nstale;
    ngx_list_part_t  *part;
    ngx_table_elt_t   ours[NGX_HTTP_LGSP_OURS_MAX], *h;

    if (ngx_http_lgsp_transaction_id(r, &txid) != NGX_OK
        || ngx_http_lgsp_forwarded(r, &forwarded) != NGX_OK)
    {
        return NGX_ERROR;
    }

    code = lgsp_snap_sv(ctx->snap, ctx->consumer_agency->code);
    ident = lgsp_snap_sv(ctx->snap, ctx->consumer->ident);

    n = 0;

#define NGX_HTTP_LGSP_OURS(which, v, vlen)                                    \
    ours[n].hash = ngx_http_lgsp_hnames[which].hash;                         \
    ours[n].key = ngx_http_lgsp_hnames[which].key;                           \
    ours[n].lowcase_key = ngx_http_lgsp_hnames[which].lowcase.data;          \
    ours[n].value.data = (u_char *) (v);                                     \
    ours[n].value.len = (vlen);                                              \
    n++

    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_TXID, txid.data, txid.len);
    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_ORG, code.data, code.len);
    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_SYSTEM, ident.data, ident.len);

    if (ctx->environment == LGSP_ENV_SANDBOX) {
        NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_ENVIRONMENT, "sandbox",
                           sizeof("sandbox") - 1);

    } else {
        NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_ENVIRONMENT, "production",
                           sizeof("production") - 1);
    }

    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_XFF, r->connection->addr_text.data,
                       r->connection->addr_text.len);
    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_REAL_IP, r->connection->addr_text.data,
                       r->connection->addr_text.len);
    NGX_HTTP_LGSP_OURS(NGX_HTTP_LGSP_H_FORWARDED, forwarded.data,
                       forwarded.len);

#undef NGX_HTTP_LGSP_OURS

    /* the version's own credential for its provider, under its own name */

    credp = NULL;
    name = lgsp_snap_sv(ctx->snap, ctx->version->upstream_header_name);

    if (name.len) {
        value = lgsp_snap_sv(ctx->snap, ctx->version->upstream_header_value);

        lowcase = ngx_pnalloc(r->pool, name.len);
        if (lowcase == NULL) {
            return NGX_ERROR;
        }

        ngx_strlow(lowcase, (u_char *) name.data, name.len);

        cred.data = lowcase;
        cred.len = name.len;

        ours[n].hash = ngx_hash_key(lowcase, name.len);
        ours[n].key.data = (u_char *) name.data;
        ours[n].key.len = name.len;
        ours[n].lowcase_key = lowcase;
        ours[n].value.data = (u_char *) value.data;
        ours[n].value.len = value.len;
        n++;

        /* a name of the client's own, e.g. X-Api-Key: not found at step 1 */
        if (!(ours[n - 1].hash
                == ngx_http_lgsp_hnames[NGX_HTTP_LGSP_H_AUTHORIZATION].hash
              && ngx_http_lgsp_header_is(&ours[n - 1],
                     &ngx_http_lgsp_hnames[NGX_HTTP_LGSP_H_AUTHORIZATION]
                     .lowcase)))
        {
            credp = &cred;

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

                if (ngx_http_lgsp_header_is(&h[i], &cred)) {
                    if (ctx->nstale < NGX_HTTP_LGSP_STALE_MAX) {
                        ctx->stale[ctx->nstale] = &h[i];
                    }

                    ctx->nstale++;
                }
            }
        }
    }

    /*
     * The token is gone from here on, for every module; so are the
     * client's forwarding headers: $proxy_add_x_forwarded_for in a
     * location's own configuration cannot bring them back, and nothing
     * points to the list entries about to be overwritten.
     */
    r->headers_in.authorization = NULL;

#if (NGX_HTTP_X_FORWARDED_FOR)
#if (nginx_version >= 1023000)
    r->headers_in.x_forwarded_for = NULL;
#else
    r->headers_in.x_forwarded_for.nelts = 0;
#endif
#endif

#if (NGX_HTTP_REALIP)
    r->headers_in.x_real_ip = NULL;
#endif

    if (ctx->nstale > n) {
        return ngx_http_lgsp_rebuild_headers(r, credp, ours, n);
    }

    nstale = ctx->nstale;

    for (i = 0; i < n; i++) {
        if (i < nstale) {
            *ctx->stale[i] = ours[i];
            continue;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ours[i];
    }

    return NGX_OK;
}


/*
 * RFC 7239: "for=192.0.2.1", an IPv6 address quoted in brackets, "unknown"
 * for a unix socket; and the scheme the client used.
 */

static ngx_int_t
ngx_http_lgsp_forwarded(ngx_http_request_t *r, ngx_str_t *value)
{
    u_char            *p;
    const char        *proto;
    ngx_connection_t  *c;

    c = r->connection;
    proto = "http";

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        proto = "https";
    }
#endif

    p = ngx_pnalloc(r->pool, sizeof("for=\"[]\";proto=https") - 1
                             + ngx_max(c->addr_text.len,
                                       sizeof("unknown") - 1));
    if (p == NULL) {
        return NGX_ERROR;
    }

    value->data = p;

    switch (c->sockaddr->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        p = ngx_sprintf(p, "for=\"[%V]\"", &c->addr_text);
        break;
#endif

    case AF_INET:
        p = ngx_sprintf(p, "for=%V", &c->addr_text);
        break;

    default:
        p = ngx_cpymem(p, "for=unknown", sizeof("for=unknown") - 1);
    }

    p = ngx_sprintf(p, ";proto=%s", proto);

    value->len = p - value->data;

    return NGX_OK;
}


/* more stale headers than ours: a new list without any of them */

static ngx_int_t
ngx_http_lgsp_rebuild_headers(ngx_http_request_t *r, ngx_str_t *cred,
    ngx_table_elt_t *ours, ngx_uint_t n)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

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

        if (ngx_http_lgsp_stale(&h[i], cred)) {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    for (i = 0; i < n; i++) {
        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = ours[i];
    }

    r->headers_in.headers = headers;

    return NGX_OK;
}
