/*
 * GET /lgsp/metrics: Prometheus text exposition (format 0.0.4), SPEC §11.
 *
 * Per service version, environment and result: a request counter and a
 * latency histogram, counted in the log phase by
 * ngx_http_lgsp_metrics_count() with a few relaxed atomic adds into a
 * shared zone that a reload keeps.  A version's slot is its id modulo the
 * table size, the id stored in the slot: no hashing, no lock.  Two
 * versions on one slot (only past NGX_HTTP_LGSP_METRICS_SLOTS versions)
 * are told apart by the stored id; the later one counts into the overflow
 * slot, and lgsp_metrics_slot_collisions_total says so.
 *
 * The handler adds gateway-wide counters kept elsewhere (denials, rate
 * limits, token cache, snapshots, audit spool) and appends what lgspd
 * writes to $LGSP_HOME/run/metrics.prom (control-plane/lgspd/metrics.c)
 * with that file's age, so one scrape covers both halves and still
 * answers when lgspd is down.
 */

#include <sys/stat.h>
#include <fcntl.h>

#include "ngx_http_lgsp_module.h"
#include "lgsp_spool.h"


#define NGX_HTTP_LGSP_METRICS_MAGIC    0x4c4753504d455431ULL  /* LGSPMET1 */
#define NGX_HTTP_LGSP_METRICS_SLOTS    1024
#define NGX_HTTP_LGSP_METRICS_BUCKETS  12      /* 11 bounds and +Inf */
#define NGX_HTTP_LGSP_METRICS_NAME     64
#define NGX_HTTP_LGSP_METRICS_FILE_MAX 65536
/* per version slot and result: the counter, 12 buckets, sum, count */
#define NGX_HTTP_LGSP_METRICS_SERIES_LEN  (16 * 200)


typedef struct {
    uint64_t            count;
    uint64_t            sum_ms;
    uint64_t            bucket[NGX_HTTP_LGSP_METRICS_BUCKETS];
} ngx_http_lgsp_metrics_result_t;

typedef struct {
    uint64_t            key;        /* version id * 2 + environment + 1 */
    uint32_t            named;      /* the names below are written */
    u_char              service_len;
    u_char              version_len;
    u_char              pad[2];
    u_char              service[NGX_HTTP_LGSP_METRICS_NAME];
    u_char              version[NGX_HTTP_LGSP_METRICS_NAME];
    ngx_http_lgsp_metrics_result_t  result[2];    /* 00, 01 */
} ngx_http_lgsp_metrics_slot_t;

/* SPEC §4's error codes and the audit's reasons for a client that stalled
 * or left (no answer carries those); any other counts as "other" */
static const char  *ngx_http_lgsp_metrics_reasons[] = {
    "invalid_path", "invalid_request_id", "bad_request", "missing_token",
    "invalid_token", "token_expired", "identity_rejected", "no_grant",
    "unknown_service", "method_not_allowed", "version_retired",
    "body_too_large", "uri_too_long", "rate_limited", "quota_exceeded",
    "internal_error", "upstream_error", "provider_unavailable",
    "upstream_timeout", "client_timeout", "client_closed", "other"
};

#define NGX_HTTP_LGSP_METRICS_NREASONS                                      \
    (sizeof(ngx_http_lgsp_metrics_reasons) / sizeof(const char *))

typedef struct {
    uint64_t                      magic;
    uint64_t                      collisions;
    uint64_t                      denials[NGX_HTTP_LGSP_METRICS_NREASONS];
    /* slot 0 counts calls that named no known version; the last slot is
     * the overflow */
    ngx_http_lgsp_metrics_slot_t  slots[NGX_HTTP_LGSP_METRICS_SLOTS + 1];
} ngx_http_lgsp_metrics_shm_t;


/* upper bounds in ms, and as Prometheus prints them in seconds */
static const ngx_msec_t  ngx_http_lgsp_metrics_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static const char  *ngx_http_lgsp_metrics_le[] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf"
};


static ngx_int_t ngx_http_lgsp_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_lgsp_metrics_handler(ngx_http_request_t *r);
static u_char *ngx_http_lgsp_metrics_versions(u_char *p, u_char *end,
    ngx_http_lgsp_metrics_shm_t *m);
static u_char *ngx_http_lgsp_metrics_control(ngx_http_request_t *r,
    u_char *p, u_char *end, ngx_http_lgsp_main_conf_t *lmcf, time_t now);


static ngx_http_lgsp_metrics_shm_t  *ngx_http_lgsp_metrics_shm;


ngx_int_t
ngx_http_lgsp_metrics_zone_add(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf)
{
    ngx_str_t        name = ngx_string("lgsp_metrics");
    ngx_shm_zone_t  *zone;

    /* the slab allocator's own books need room beside the table */
    zone = ngx_shared_memory_add(cf, &name,
                                 sizeof(ngx_http_lgsp_metrics_shm_t)
                                 + 64 * 1024,
                                 &ngx_http_lgsp_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_lgsp_metrics_init_zone;
    zone->data = lmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_lgsp_metrics_shm_t  *m;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        /* a reload: the counters go on */
        m = shpool->data;

        if (m == NULL || m->magic != NGX_HTTP_LGSP_METRICS_MAGIC) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "lgsp: zone \"%V\" has another layout; restart "
                          "nginx", &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = m;
        ngx_http_lgsp_metrics_shm = m;
        return NGX_OK;
    }

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_lgsp_metrics_shm_t));
    if (m == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "lgsp: zone \"%V\" is too small", &shm_zone->shm.name);
        return NGX_ERROR;
    }

    m->magic = NGX_HTTP_LGSP_METRICS_MAGIC;
    shpool->data = m;
    shm_zone->data = m;
    ngx_http_lgsp_metrics_shm = m;

    return NGX_OK;
}


/*
 * The log phase: one call per request that reached the module.  The slot
 * is found by index; a free one is claimed with one compare-and-swap the
 * first time a version is called; then three relaxed adds.
 */

void
ngx_http_lgsp_metrics_count(ngx_http_lgsp_ctx_t *ctx, ngx_uint_t result,
    const char *reason, ngx_msec_t duration)
{
    uint64_t                         key, expected;
    ngx_uint_t                       i, b;
    lgsp_sv_t                        s;
    ngx_http_lgsp_metrics_shm_t     *m;
    ngx_http_lgsp_metrics_slot_t    *slot;
    ngx_http_lgsp_metrics_result_t  *res;

    m = ngx_http_lgsp_metrics_shm;
    if (m == NULL) {
        return;
    }

    if (ctx->version && ctx->snap) {
        key = ctx->version->id * 2
              + (ctx->environment == LGSP_ENV_SANDBOX) + 1;
        slot = &m->slots[1 + key % (NGX_HTTP_LGSP_METRICS_SLOTS - 1)];

        expected = __atomic_load_n(&slot->key, __ATOMIC_ACQUIRE);

        if (expected == 0) {
            if (__atomic_compare_exchange_n(&slot->key, &expected, key, 0,
                                            __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
            {
                /* ours: name it, then let the scraper see the names */
                s = lgsp_snap_sv(ctx->snap, ctx->version->service);
                slot->service_len = (u_char) ngx_min(s.len,
                                              NGX_HTTP_LGSP_METRICS_NAME);
                ngx_memcpy(slot->service, s.data, slot->service_len);

                s = lgsp_snap_sv(ctx->snap, ctx->version->version);
                slot->version_len = (u_char) ngx_min(s.len,
                                              NGX_HTTP_LGSP_METRICS_NAME);
                ngx_memcpy(slot->version, s.data, slot->version_len);

                __atomic_store_n(&slot->named, 1, __ATOMIC_RELEASE);
                expected = key;
            }
        }

        if (expected != key) {
            __atomic_fetch_add(&m->collisions, 1, __ATOMIC_RELAXED);
            slot = &m->slots[NGX_HTTP_LGSP_METRICS_SLOTS];
        }

    } else {
        slot = &m->slots[0];
    }

    for (b = 0; b < NGX_HTTP_LGSP_METRICS_BUCKETS - 1; b++) {
        if (duration <= ngx_http_lgsp_metrics_bounds[b]) {
            break;
        }
    }

    res = &slot->result[result ? 1 : 0];
    __atomic_fetch_add(&res->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&res->sum_ms, duration, __ATOMIC_RELAXED);
    __atomic_fetch_add(&res->bucket[b], 1, __ATOMIC_RELAXED);

    if (reason == NULL) {
        return;
    }

    /* denials only: a short scan of the codes */
    for (i = 0; i < NGX_HTTP_LGSP_METRICS_NREASONS - 1; i++) {
        if (ngx_strcmp(reason, ngx_http_lgsp_metrics_reasons[i]) == 0) {
            break;
        }
    }

    __atomic_fetch_add(&m->denials[i], 1, __ATOMIC_RELAXED);
}


char *
ngx_http_lgsp_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_lgsp_metrics_handler;

    return NGX_CONF_OK;
}


#define ngx_http_lgsp_metrics_load(v)  __atomic_load_n(&(v), __ATOMIC_RELAXED)


static ngx_int_t
ngx_http_lgsp_metrics_handler(ngx_http_request_t *r)
{
    size_t                        len;
    int64_t                       now_ms, age;
    u_char                        spool[NGX_MAX_PATH];
    int64_t                       backlog;
    uint32_t                      segments;
    ngx_int_t                     rc;
    ngx_uint_t                    i, used;
    ngx_buf_t                    *b;
    ngx_time_t                   *tp;
    ngx_chain_t                   out;
    lgsp_tcache_t                *tc;
    lgsp_tcache_stats_t           ts;
    const lgsp_snapshot_t        *snap;
    ngx_http_lgsp_main_conf_t    *lmcf;
    ngx_http_lgsp_snapshot_sh_t  *sh;
    ngx_http_lgsp_metrics_shm_t  *m;

    rc = ngx_http_lgsp_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lgsp_module);
    m = ngx_http_lgsp_metrics_shm;

    used = 0;

    for (i = 0; m && i <= NGX_HTTP_LGSP_METRICS_SLOTS; i++) {
        if (ngx_http_lgsp_metrics_load(m->slots[i].result[0].count)
            || ngx_http_lgsp_metrics_load(m->slots[i].result[1].count))
        {
            used++;
        }
    }

    len = 16384 + used * 2 * NGX_HTTP_LGSP_METRICS_SERIES_LEN
          + NGX_HTTP_LGSP_METRICS_FILE_MAX;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    if (m) {
        b->last = ngx_http_lgsp_metrics_versions(b->last, b->end, m);

        b->last = ngx_slprintf(b->last, b->end,
            "# HELP lgsp_denials_total Calls the gateway refused or could "
            "not complete, by SPEC error code.\n"
            "# TYPE lgsp_denials_total counter\n");

        for (i = 0; i < NGX_HTTP_LGSP_METRICS_NREASONS; i++) {
            b->last = ngx_slprintf(b->last, b->end,
                                   "lgsp_denials_total{reason=\"%s\"} %uL\n",
                                   ngx_http_lgsp_metrics_reasons[i],
                                   ngx_http_lgsp_metrics_load(
                                       m->denials[i]));
        }

        b->last = ngx_slprintf(b->last, b->end,
            "# HELP lgsp_metrics_slot_collisions_total Calls counted in the "
            "overflow series because two versions share a slot.\n"
            "# TYPE lgsp_metrics_slot_collisions_total counter\n"
            "lgsp_metrics_slot_collisions_total %uL\n",
            ngx_http_lgsp_metrics_load(m->collisions));
    }

    b->last = ngx_slprintf(b->last, b->end,
        "# HELP lgsp_rate_limited_total Calls refused by a rate limit or "
        "quota (429), dry-run refusals included.\n"
        "# TYPE lgsp_rate_limited_total counter\n"
        "lgsp_rate_limited_total %uL\n",
        ngx_http_lgsp_limit_rejected());

    tc = ngx_http_lgsp_tcache_get();

    if (tc) {
        lgsp_tcache_stats(tc, &ts);
        b->last = ngx_slprintf(b->last, b->end,
            "# HELP lgsp_token_cache_hits_total Tokens found verified in "
            "the cache.\n"
            "# TYPE lgsp_token_cache_hits_total counter\n"
            "lgsp_token_cache_hits_total %uL\n"
            "# HELP lgsp_token_cache_misses_total Tokens verified by "
            "signature.\n"
            "# TYPE lgsp_token_cache_misses_total counter\n"
            "lgsp_token_cache_misses_total %uL\n"
            "# HELP lgsp_token_cache_evictions_total Cached tokens pushed "
            "out by newer ones.\n"
            "# TYPE lgsp_token_cache_evictions_total counter\n"
            "lgsp_token_cache_evictions_total %uL\n",
            ts.hits, ts.misses, ts.evictions);
    }

    snap = ngx_http_lgsp_current_snapshot();
    sh = ngx_http_lgsp_snapshot_shared(lmcf);
    age = snap ? now_ms - snap->header->created_ms : 0;

    b->last = ngx_slprintf(b->last, b->end,
        "# HELP lgsp_snapshot_generation Registry snapshot generation this "
        "worker serves (0: none yet).\n"
        "# TYPE lgsp_snapshot_generation gauge\n"
        "lgsp_snapshot_generation %uL\n"
        "# HELP lgsp_snapshot_age_seconds Time since that snapshot was "
        "compiled.\n"
        "# TYPE lgsp_snapshot_age_seconds gauge\n"
        "lgsp_snapshot_age_seconds %L.%03L\n"
        "# HELP lgsp_snapshots_refused_total Snapshot files the workers "
        "refused as invalid.\n"
        "# TYPE lgsp_snapshots_refused_total counter\n"
        "lgsp_snapshots_refused_total %uA\n",
        snap ? snap->header->generation : (uint64_t) 0,
        age < 0 ? (int64_t) 0 : age / 1000,
        age < 0 ? (int64_t) 0 : age % 1000,
        sh ? (ngx_atomic_uint_t) sh->refused : 0);

    /* a few segment headers: cheap, and what matters most when lgspd is
     * down is exactly this */
    backlog = -1;
    segments = 0;

    if (lmcf->home.len && lmcf->home.len < sizeof(spool) - 8) {
        ngx_snprintf(spool, sizeof(spool), "%V/spool%Z", &lmcf->home);
        backlog = lgsp_spool_backlog((const char *) spool, &segments);
    }

    if (backlog >= 0) {
        b->last = ngx_slprintf(b->last, b->end,
            "# HELP lgsp_audit_spool_backlog Audit records written by the "
            "gateway and not yet in audit.db.\n"
            "# TYPE lgsp_audit_spool_backlog gauge\n"
            "lgsp_audit_spool_backlog %L\n"
            "# HELP lgsp_audit_spool_segments Audit spool segment files.\n"
            "# TYPE lgsp_audit_spool_segments gauge\n"
            "lgsp_audit_spool_segments %uD\n",
            backlog, segments);
    }

    b->last = ngx_slprintf(b->last, b->end,
        "# HELP lgsp_audit_dropped_total Audit records lost (a full disk), "
        "counted and alarmed.\n"
        "# TYPE lgsp_audit_dropped_total counter\n"
        "lgsp_audit_dropped_total %uL\n"
        "# HELP lgsp_lgspd_up 1 when lgspd accepts connections.\n"
        "# TYPE lgsp_lgspd_up gauge\n"
        "lgsp_lgspd_up %d\n",
        __atomic_load_n(ngx_http_lgsp_counter(NGX_HTTP_LGSP_AUDIT_DROPPED),
                        __ATOMIC_RELAXED),
        ngx_http_lgsp_lgspd_answers(lmcf) ? 1 : 0);

    b->last = ngx_http_lgsp_metrics_control(r, b->last, b->end, lmcf,
                                            tp->sec);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static u_char *
ngx_http_lgsp_metrics_labels(u_char *p, u_char *end,
    ngx_http_lgsp_metrics_slot_t *slot, ngx_uint_t idx, ngx_uint_t result)
{
    u_char  *env;

    if (idx == 0 || idx == NGX_HTTP_LGSP_METRICS_SLOTS) {
        /* no version resolved, or the overflow */
        return ngx_slprintf(p, end,
                            "service=\"%s\",version=\"%s\",environment=\"\","
                            "result=\"%s\"",
                            idx ? "_other" : "", idx ? "_other" : "",
                            result ? "01" : "00");
    }

    env = (u_char *) ((slot->key - 1) % 2 ? "sandbox" : "production");

    return ngx_slprintf(p, end,
                        "service=\"%*s\",version=\"%*s\",environment=\"%s\","
                        "result=\"%s\"",
                        (size_t) slot->service_len, slot->service,
                        (size_t) slot->version_len, slot->version, env,
                        result ? "01" : "00");
}


static u_char *
ngx_http_lgsp_metrics_versions(u_char *p, u_char *end,
    ngx_http_lgsp_metrics_shm_t *m)
{
    uint64_t                         n, cum;
    ngx_uint_t                       i, k, b, pass;
    ngx_http_lgsp_metrics_slot_t    *slot;
    ngx_http_lgsp_metrics_result_t  *res;

    /* one pass per metric family: Prometheus wants each family together */
    for (pass = 0; pass < 2; pass++) {

        if (pass == 0) {
            p = ngx_slprintf(p, end,
                "# HELP lgsp_requests_total Calls that reached the gateway, "
                "by service version and result (00 success, 01 failure).\n"
                "# TYPE lgsp_requests_total counter\n");
        } else {
            p = ngx_slprintf(p, end,
                "# HELP lgsp_request_duration_seconds Time from the "
                "request's first byte to the end of the response.\n"
                "# TYPE lgsp_request_duration_seconds histogram\n");
        }

        for (i = 0; i <= NGX_HTTP_LGSP_METRICS_SLOTS; i++) {
            slot = &m->slots[i];

            if (i != 0 && i != NGX_HTTP_LGSP_METRICS_SLOTS
                && !__atomic_load_n(&slot->named, __ATOMIC_ACQUIRE))
            {
                continue;
            }

            for (k = 0; k < 2; k++) {
                res = &slot->result[k];

                /* the count is read first and the buckets after it: a
                 * call counted in between shows in the buckets only,
                 * so +Inf is taken as the bucket total, never less than
                 * a bucket */
                n = ngx_http_lgsp_metrics_load(res->count);
                if (n == 0) {
                    continue;
                }

                if (pass == 0) {
                    p = ngx_slprintf(p, end, "lgsp_requests_total{");
                    p = ngx_http_lgsp_metrics_labels(p, end, slot, i, k);
                    p = ngx_slprintf(p, end, "} %uL\n", n);
                    continue;
                }

                cum = 0;

                for (b = 0; b < NGX_HTTP_LGSP_METRICS_BUCKETS; b++) {
                    cum += ngx_http_lgsp_metrics_load(res->bucket[b]);
                    p = ngx_slprintf(p, end,
                                     "lgsp_request_duration_seconds_bucket{");
                    p = ngx_http_lgsp_metrics_labels(p, end, slot, i, k);
                    p = ngx_slprintf(p, end, ",le=\"%s\"} %uL\n",
                                     ngx_http_lgsp_metrics_le[b], cum);
                }

                n = ngx_http_lgsp_metrics_load(res->sum_ms);
                p = ngx_slprintf(p, end, "lgsp_request_duration_seconds_sum{");
                p = ngx_http_lgsp_metrics_labels(p, end, slot, i, k);
                p = ngx_slprintf(p, end, "} %uL.%03uL\n", n / 1000, n % 1000);

                p = ngx_slprintf(p, end,
                                 "lgsp_request_duration_seconds_count{");
                p = ngx_http_lgsp_metrics_labels(p, end, slot, i, k);
                p = ngx_slprintf(p, end, "} %uL\n", cum);
            }
        }
    }

    return p;
}


/*
 * lgspd's own gauges: the file it rewrites every second, appended as it
 * is, with its age.  Missing or unreadable: only lgsp_control_up 0.
 */

static u_char *
ngx_http_lgsp_metrics_control(ngx_http_request_t *r, u_char *p, u_char *end,
    ngx_http_lgsp_main_conf_t *lmcf, time_t now)
{
    int          fd;
    u_char       path[NGX_MAX_PATH];
    ssize_t      n;
    struct stat  st;

    fd = -1;

    if (lmcf->home.len && lmcf->home.len < sizeof(path) - 32) {
        ngx_snprintf(path, sizeof(path), "%V/run/metrics.prom%Z",
                     &lmcf->home);
        fd = open((const char *) path, O_RDONLY | O_CLOEXEC);
    }

    if (fd == -1 || fstat(fd, &st) != 0
        || st.st_size > NGX_HTTP_LGSP_METRICS_FILE_MAX
        || (size_t) (end - p) < (size_t) st.st_size + 512)
    {
        if (fd != -1) {
            close(fd);
        }

        return ngx_slprintf(p, end,
            "# HELP lgsp_control_metrics_up 1 when lgspd's metrics file "
            "could be read.\n"
            "# TYPE lgsp_control_metrics_up gauge\n"
            "lgsp_control_metrics_up 0\n");
    }

    p = ngx_slprintf(p, end,
        "# HELP lgsp_control_metrics_up 1 when lgspd's metrics file could "
        "be read.\n"
        "# TYPE lgsp_control_metrics_up gauge\n"
        "lgsp_control_metrics_up 1\n"
        "# HELP lgsp_control_metrics_age_seconds Time since lgspd last "
        "wrote its metrics (it does every second).\n"
        "# TYPE lgsp_control_metrics_age_seconds gauge\n"
        "lgsp_control_metrics_age_seconds %T\n",
        now > st.st_mtime ? now - st.st_mtime : 0);

    n = read(fd, p, (size_t) st.st_size);
    close(fd);

    if (n > 0) {
        p += n;

        if (p[-1] != '\n') {
            *p++ = '\n';
        }
    }

    return p;
}
