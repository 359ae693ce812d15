/*
 * GET /lgsp/status: is this gateway ready, and what does it serve.
 */

#include <sys/socket.h>
#include <sys/un.h>

#include "ngx_http_lgsp_module.h"
#include "lgsp_spool.h"


#define NGX_HTTP_LGSP_STATUS_MAX  8192


static ngx_int_t ngx_http_lgsp_status_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_lgsp_workers_loaded(ngx_http_lgsp_snapshot_sh_t *sh,
    ngx_uint_t nworkers);


char *
ngx_http_lgsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_lgsp_status_handler;

    return NGX_CONF_OK;
}


/*
 * lgspd answers when its socket accepts a connection.  A connect() to a
 * listening unix socket completes at once or fails at once (no listener,
 * backlog full), so the status request never waits on the control plane.
 */

ngx_int_t
ngx_http_lgsp_lgspd_answers(ngx_http_lgsp_main_conf_t *lmcf)
{
    int                 fd, rc;
    struct sockaddr_un  sun;

    if (lmcf->socket.len == 0 || lmcf->socket.len >= sizeof(sun.sun_path)) {
        return 0;
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return 0;
    }

    ngx_memzero(&sun, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ngx_memcpy(sun.sun_path, lmcf->socket.data, lmcf->socket.len);

    rc = connect(fd, (struct sockaddr *) &sun, sizeof(sun));
    close(fd);

    return rc == 0;
}


/*
 * Ready needs every worker of this configuration to have loaded a
 * snapshot (SPEC §12), which the shared table tells.
 */

static ngx_uint_t
ngx_http_lgsp_workers_loaded(ngx_http_lgsp_snapshot_sh_t *sh,
    ngx_uint_t nworkers)
{
    ngx_uint_t  i;

    if (sh == NULL) {
        return 0;
    }

    for (i = 0; i < nworkers && i < NGX_HTTP_LGSP_WORKER_SLOTS; i++) {
        if (sh->workers[i].pid == 0 || sh->workers[i].generation == 0) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_lgsp_status_handler(ngx_http_request_t *r)
{
    int64_t                       now_ms, age;
    ngx_int_t                     rc, lgspd, ready;
    ngx_uint_t                    i, first;
    ngx_buf_t                    *b;
    ngx_time_t                   *tp;
    ngx_chain_t                   out;
    ngx_core_conf_t              *ccf;
    const lgsp_snapshot_t        *snap;
    ngx_http_lgsp_main_conf_t    *lmcf;
    ngx_http_lgsp_snapshot_sh_t  *sh;
    lgsp_tcache_t                *tc;
    lgsp_tcache_stats_t           ts;
    int64_t                       backlog;
    uint32_t                      segments;
    u_char                        spool[NGX_MAX_PATH];

    rc = ngx_http_lgsp_get_only(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_lgsp_module);
    lgspd = ngx_http_lgsp_lgspd_answers(lmcf);
    snap = ngx_http_lgsp_current_snapshot();
    sh = ngx_http_lgsp_snapshot_shared(lmcf);
    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    ready = lgspd && snap != NULL
            && ngx_http_lgsp_workers_loaded(sh, ccf->worker_processes);

    tp = ngx_timeofday();
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_LGSP_STATUS_MAX);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_slprintf(b->last, b->end,
                           "{\"ready\":%s,\"lgspd\":%s,"
                           "\"module_version\":\"" LGSP_VERSION "\","
                           "\"pid\":%P,\"generation\":%uL",
                           ready ? "true" : "false",
                           lgspd ? "true" : "false",
                           ngx_pid,
                           snap ? snap->header->generation : (uint64_t) 0);

    if (snap) {
        age = now_ms - snap->header->created_ms;

        b->last = ngx_slprintf(b->last, b->end,
                               ",\"snapshot_age_ms\":%L,"
                               "\"counts\":{\"agencies\":%uD,"
                               "\"systems\":%uD,\"credentials\":%uD,"
                               "\"versions\":%uD,\"grants\":%uD,"
                               "\"keys\":%uD}",
                               age < 0 ? (int64_t) 0 : age,
                               snap->nagencies, snap->nsystems,
                               snap->ncredentials, snap->nversions,
                               snap->ngrants, snap->nkeys);

    } else {
        b->last = ngx_slprintf(b->last, b->end,
                               ",\"snapshot_age_ms\":null,\"counts\":null");
    }

    tc = ngx_http_lgsp_tcache_get();

    if (tc) {
        lgsp_tcache_stats(tc, &ts);
        b->last = ngx_slprintf(b->last, b->end,
                               ",\"token_cache\":{\"hits\":%uL,"
                               "\"misses\":%uL,\"inserts\":%uL,"
                               "\"evictions\":%uL,\"capacity\":%uL}",
                               ts.hits, ts.misses, ts.inserts, ts.evictions,
                               ts.capacity);
    }

    b->last = ngx_slprintf(b->last, b->end,
                           ",\"rate_limited\":%uL",
                           ngx_http_lgsp_limit_rejected());

    /* the audit spool: what lgspd has not ingested yet, and what a full
     * disk lost (SPEC §9: counted and shown, never silent) */
    backlog = -1;
    segments = 0;

    if (lmcf->home.len && lmcf->home.len < sizeof(spool) - 8) {
        ngx_snprintf(spool, sizeof(spool), "%V/spool%Z", &lmcf->home);
        backlog = lgsp_spool_backlog((const char *) spool, &segments);
    }

    b->last = ngx_slprintf(b->last, b->end,
                           ",\"audit\":{\"backlog\":%L,\"segments\":%uD,"
                           "\"dropped\":%uL}",
                           backlog, segments,
                           __atomic_load_n(ngx_http_lgsp_counter(
                                               NGX_HTTP_LGSP_AUDIT_DROPPED),
                                           __ATOMIC_RELAXED));

    b->last = ngx_slprintf(b->last, b->end,
                           ",\"refused_snapshots\":%uA,\"workers\":[",
                           sh ? (ngx_atomic_uint_t) sh->refused : 0);

    first = 1;

    for (i = 0; sh && i < NGX_HTTP_LGSP_WORKER_SLOTS; i++) {
        if (sh->workers[i].pid == 0) {
            continue;
        }

        b->last = ngx_slprintf(b->last, b->end,
                               "%s{\"slot\":%ui,\"pid\":%P,"
                               "\"generation\":%uL,\"loaded_ms\":%L}",
                               first ? "" : ",", i, sh->workers[i].pid,
                               sh->workers[i].generation,
                               sh->workers[i].loaded_ms);
        first = 0;
    }

    b->last = ngx_slprintf(b->last, b->end, "]}\n");

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
