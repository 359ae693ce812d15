/*
 * SPEC §4 step 6: the grant's rate and burst, its daily quota, then the
 * version's cap that protects the provider.  GCRA cells (lgsp_limit.c)
 * live in one shared zone, indexed by registry ids (never reused), updated
 * by compare-and-swap: no mutex and no tree walk per request.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_limit.h"


#define NGX_HTTP_LGSP_LIMIT_MAGIC  0x4c4753504c494d31ULL   /* "LGSPLIM1" */


typedef struct {
    uint64_t    magic;
    uint64_t    ngrants;        /* grant slots: 2 cells each (rate, quota) */
    uint64_t    nversions;      /* version slots: 1 cell each */
    uint64_t    rejected;       /* 429s (and dry-run would-be 429s) */
    uint64_t    counters[NGX_HTTP_LGSP_NCOUNTERS];
    uint64_t    cells[1];
} ngx_http_lgsp_limit_shm_t;


static ngx_int_t ngx_http_lgsp_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static uint64_t ngx_http_lgsp_limit_clock(void);


static ngx_http_lgsp_limit_shm_t  *ngx_http_lgsp_limits;


ngx_int_t
ngx_http_lgsp_limit_zone_add(ngx_conf_t *cf, ngx_http_lgsp_main_conf_t *lmcf)
{
    ngx_str_t        name = ngx_string("lgsp_limits");
    ngx_shm_zone_t  *zone;

    zone = ngx_shared_memory_add(cf, &name, lmcf->limit_zone_size,
                                 &ngx_http_lgsp_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_lgsp_limit_init_zone;
    zone->data = lmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                      cells;
    ngx_slab_pool_t            *shpool;
    ngx_http_lgsp_limit_shm_t  *lim;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data) {
        /* a reload: keep every cell, so no fresh burst is handed out */
        shm_zone->data = shpool->data;
        ngx_http_lgsp_limits = shpool->data;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_http_lgsp_limits = shpool->data;
        return NGX_OK;
    }

    /* leave a quarter of the zone to the slab allocator's own books */
    cells = (shm_zone->shm.size - shm_zone->shm.size / 4
             - sizeof(ngx_http_lgsp_limit_shm_t)) / sizeof(uint64_t);

    lim = ngx_slab_calloc(shpool, sizeof(ngx_http_lgsp_limit_shm_t)
                                  + cells * sizeof(uint64_t));
    if (lim == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "lgsp: zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    /* four grant cells for each version cell: grants far outnumber them */
    lim->magic = NGX_HTTP_LGSP_LIMIT_MAGIC;
    lim->nversions = cells / 9;
    lim->ngrants = (cells - lim->nversions) / 2;

    shpool->data = lim;
    shm_zone->data = lim;
    ngx_http_lgsp_limits = lim;

    /* log_ctx starts as a one-byte field of the pool: allocate ours */
    shpool->log_ctx = ngx_slab_alloc(shpool, sizeof(" in lgsp zone \"\"")
                                             + shm_zone->shm.name.len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in lgsp zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


/*
 * Gateway-wide counters live beside the rate-limit cells: one zone that
 * every worker shares and that a reload keeps.
 */

uint64_t *
ngx_http_lgsp_counter(ngx_uint_t which)
{
    static uint64_t  unused;

    if (ngx_http_lgsp_limits == NULL || which >= NGX_HTTP_LGSP_NCOUNTERS) {
        return &unused;
    }

    return &ngx_http_lgsp_limits->counters[which];
}


uint64_t
ngx_http_lgsp_limit_rejected(void)
{
    return ngx_http_lgsp_limits
           ? __atomic_load_n(&ngx_http_lgsp_limits->rejected,
                             __ATOMIC_RELAXED)
           : 0;
}


/*
 * $lgsp_ratelimit_policy (state 0) and $lgsp_ratelimit (state 1), made when
 * a header reads them rather than on every request.  Empty when the request
 * did not reach step 6 (every result's quota is 0): no header is sent.
 */

ngx_int_t
ngx_http_lgsp_limit_header(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t state, ngx_str_t *value)
{
    ssize_t            len;
    ngx_uint_t         i;
    uint32_t           key[2 * LGSP_LIMIT_ITEMS_MAX];
    lgsp_limit_item_t  items[LGSP_LIMIT_ITEMS_MAX];

    static u_char      policy[LGSP_LIMIT_HEADER_LEN];
    static size_t      policy_len;
    static uint32_t    policy_key[2 * LGSP_LIMIT_ITEMS_MAX];

    value->len = 0;
    value->data = NULL;

    if (ctx->limits[LGSP_LIMIT_GRANT].quota == 0
        && ctx->limits[LGSP_LIMIT_QUOTA].quota == 0
        && ctx->limits[LGSP_LIMIT_SERVICE].quota == 0)
    {
        return NGX_OK;
    }

    items[0].kind = LGSP_LIMIT_GRANT;
    items[0].result = &ctx->limits[LGSP_LIMIT_GRANT];
    items[1].kind = LGSP_LIMIT_QUOTA;
    items[1].result = &ctx->limits[LGSP_LIMIT_QUOTA];
    items[2].kind = LGSP_LIMIT_SERVICE;
    items[2].result = &ctx->limits[LGSP_LIMIT_SERVICE];

    value->data = ngx_pnalloc(r->pool, LGSP_LIMIT_HEADER_LEN);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    if (state) {
        len = lgsp_limit_format_state((char *) value->data,
                                      LGSP_LIMIT_HEADER_LEN, items,
                                      LGSP_LIMIT_ITEMS_MAX);
        value->len = len > 0 ? (size_t) len : 0;
        return NGX_OK;
    }

    /*
     * The policy is a function of the quotas and windows alone, and a
     * caller's calls repeat them: the worker keeps the last one formatted
     * (a third of the cost of the RateLimit headers on a busy grant).
     */
    for (i = 0; i < LGSP_LIMIT_ITEMS_MAX; i++) {
        key[2 * i] = items[i].result->quota;
        key[2 * i + 1] = items[i].result->window;
    }

    if (policy_len == 0 || ngx_memcmp(key, policy_key, sizeof(key)) != 0) {
        len = lgsp_limit_format_policy((char *) policy, sizeof(policy),
                                       items, LGSP_LIMIT_ITEMS_MAX);
        if (len <= 0) {
            value->len = 0;
            return NGX_OK;
        }

        ngx_memcpy(policy_key, key, sizeof(key));
        policy_len = (size_t) len;
    }

    value->len = ngx_cpymem(value->data, policy, policy_len) - value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_limit_refuse(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_loc_conf_t *llcf, lgsp_limit_result_t *res,
    const char *error)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    __atomic_fetch_add(&ngx_http_lgsp_limits->rejected, 1, __ATOMIC_RELAXED);

    if (llcf->limit_dry_run) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "lgsp: dry run: would refuse \"%V\" with %s",
                      &ctx->route, error);
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT32_LEN);
    h = ngx_list_push(&r->headers_out.headers);

    if (p == NULL || h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    h->value.data = p;
    h->value.len = ngx_sprintf(p, "%uD", res->retry_after) - p;

    return ngx_http_lgsp_deny(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS, error,
                              ngx_strcmp(error, "quota_exceeded") == 0
                              ? "the daily quota of this grant is used up"
                              : "too many requests; retry later");
}


/*
 * The cached time lags the clock by as long as this worker went without
 * updating it (a batch of events, or the CPU taken away after epoll), and
 * another worker's may lag less: a TAT it wrote looks that much further
 * ahead from here.  With a tolerance of burst * T that is a few ms for a
 * high rate, a key well within its limit was refused (seen at 2,000 calls
 * a second on a 100,000/s grant), so a refusal is confirmed by a fresh
 * reading of the clock, which no worker's cached time is ahead of.
 */

static uint64_t
ngx_http_lgsp_limit_clock(void)
{
    struct timeval  tv;

    ngx_gettimeofday(&tv);

    return (uint64_t) tv.tv_sec * 1000000 + (uint64_t) tv.tv_usec;
}


ngx_int_t
ngx_http_lgsp_limit(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_loc_conf_t *llcf)
{
    uint64_t                    now, *grant_cell, *quota_cell, *ver_cell;
    ngx_time_t                 *tp;
    lgsp_limit_result_t        *g, *q, *v;
    const lgsp_snap_grant_t    *grant;
    const lgsp_snap_version_t  *ver;
    ngx_http_lgsp_limit_shm_t  *lim;

    lim = ngx_http_lgsp_limits;
    if (lim == NULL) {
        return NGX_OK;
    }

    grant = ctx->grant;
    ver = ctx->version;

    /*
     * Ids index the cells directly.  Past the zone's capacity two keys
     * share a cell, which can only make their limits stricter, never
     * looser; size lgsp_limit_zone for the registry to avoid it.
     */
    grant_cell = &lim->cells[(grant->id % lim->ngrants) * 2];
    quota_cell = grant_cell + 1;
    ver_cell = &lim->cells[lim->ngrants * 2 + ver->id % lim->nversions];

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000000 + (uint64_t) tp->msec * 1000;

    g = &ctx->limits[LGSP_LIMIT_GRANT];
    q = &ctx->limits[LGSP_LIMIT_QUOTA];
    v = &ctx->limits[LGSP_LIMIT_SERVICE];

    /*
     * Every policy that applies is in the headers whichever refuses: the
     * limits a refusal kept the request from are read, not taken.
     */

    lgsp_limit_take(grant_cell, now, grant->rate, grant->burst, g);

    if (!g->allowed) {
        now = ngx_http_lgsp_limit_clock();
        lgsp_limit_take(grant_cell, now, grant->rate, grant->burst, g);
    }

    if (!g->allowed) {
        lgsp_limit_quota_peek(quota_cell, now, grant->quota, q);
        lgsp_limit_peek(ver_cell, now, ver->rate, ver->burst, v);
        return ngx_http_lgsp_limit_refuse(r, ctx, llcf, g, "rate_limited");
    }

    lgsp_limit_quota_take(quota_cell, now, grant->quota, q);

    if (!q->allowed) {
        lgsp_limit_refund(grant_cell, now, g);
        lgsp_limit_peek(ver_cell, now, ver->rate, ver->burst, v);
        return ngx_http_lgsp_limit_refuse(r, ctx, llcf, q, "quota_exceeded");
    }

    lgsp_limit_take(ver_cell, now, ver->rate, ver->burst, v);

    if (!v->allowed) {
        now = ngx_http_lgsp_limit_clock();
        lgsp_limit_take(ver_cell, now, ver->rate, ver->burst, v);
    }

    if (!v->allowed) {
        /* the cap refused: this caller's share is given back */
        lgsp_limit_refund(grant_cell, now, g);
        lgsp_limit_quota_refund(quota_cell, q);
        return ngx_http_lgsp_limit_refuse(r, ctx, llcf, v, "rate_limited");
    }

    return NGX_OK;
}
