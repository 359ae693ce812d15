/*
 * SPEC §9: one audit record per call that reached the module, allowed or
 * denied, written in the log phase into this worker's spool segment
 * (lgsp_spool.c): a memory copy and a commit word, no system call and no
 * wait on lgspd.  Never a body, never the query string.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_spool.h"


static ngx_int_t ngx_http_lgsp_audit_handler(ngx_http_request_t *r);
static const char *ngx_http_lgsp_audit_reason(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_uint_t status, ngx_flag_t answered);


static lgsp_spool_t  ngx_http_lgsp_spool;
static ngx_flag_t    ngx_http_lgsp_spool_open;


ngx_int_t
ngx_http_lgsp_audit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_lgsp_audit_handler;

    return NGX_OK;
}


/* segment names carry the writer's pid: prepared in the worker, not the
 * master; its first segment is made by its first record */

ngx_int_t
ngx_http_lgsp_audit_init_process(ngx_cycle_t *cycle)
{
    u_char                      path[NGX_MAX_PATH];
    ngx_http_lgsp_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_lgsp_module);

    if (lmcf == NULL || lmcf->home.len == 0) {
        return NGX_OK;
    }

    ngx_snprintf(path, sizeof(path), "%V/spool%Z", &lmcf->home);

    if (lgsp_spool_init(&ngx_http_lgsp_spool, (const char *) path, 0,
                        ngx_http_lgsp_counter(NGX_HTTP_LGSP_AUDIT_DROPPED))
        != 0)
    {
        /* not fatal: each append tries again, losses are counted */
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "lgsp: audit spool \"%s\" is not writable; records "
                      "are dropped and counted until it is", path);
    }

    ngx_http_lgsp_spool_open = 1;

    return NGX_OK;
}


void
ngx_http_lgsp_audit_exit_process(ngx_cycle_t *cycle)
{
    if (ngx_http_lgsp_spool_open) {
        lgsp_spool_close(&ngx_http_lgsp_spool);
        ngx_http_lgsp_spool_open = 0;
    }
}


static ngx_int_t
ngx_http_lgsp_audit_handler(ngx_http_request_t *r)
{
    ngx_uint_t                    i, status;
    ngx_flag_t                    answered;
    ngx_msec_t                    upstream_ms;
    ngx_time_t                   *tp;
    ngx_str_t                     txid;
    lgsp_sv_t                     s;
    const char                   *reason;
    lgsp_audit_record_t           rec;
    ngx_http_lgsp_ctx_t          *ctx;
    const lgsp_snapshot_t        *snap;
    ngx_http_upstream_state_t    *state;

    if (!ngx_http_lgsp_spool_open) {
        return NGX_OK;
    }

    ctx = ngx_http_lgsp_get_ctx(r);
    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&rec, sizeof(lgsp_audit_record_t));

    if (ngx_http_lgsp_transaction_id(r, &txid) == NGX_OK) {
        LGSP_AUDIT_SET(&rec, txn_id, txid.data, txid.len);
    }

    LGSP_AUDIT_SET(&rec, request_id, ctx->request_id.data,
                   ctx->request_id.len);
    LGSP_AUDIT_SET(&rec, method, r->method_name.data, r->method_name.len);
    LGSP_AUDIT_SET(&rec, route, ctx->route.data, ctx->route.len);

    tp = ngx_timeofday();
    rec.start_ms = (int64_t) r->start_sec * 1000 + r->start_msec;
    rec.duration_us = ((int64_t) tp->sec * 1000 + tp->msec - rec.start_ms)
                      * 1000;
    if (rec.duration_us < 0) {
        rec.duration_us = 0;
    }

    rec.upstream_duration_us = -1;

    answered = 0;

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        upstream_ms = 0;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (state[i].response_time != (ngx_msec_t) -1) {
                upstream_ms += state[i].response_time;
            }
        }

        rec.upstream_duration_us = (int64_t) upstream_ms * 1000;

        /* nginx writes 502/504 there too when no answer came: only bytes
         * from the provider make it the provider's status */
        state = &state[r->upstream_states->nelts - 1];
        answered = state->bytes_received > 0;
        rec.upstream_status = answered ? (uint16_t) state->status : 0;
    }

    status = r->headers_out.status ? r->headers_out.status : r->err_status;
    rec.status = (uint16_t) status;
    rec.bytes_in = (uint64_t) r->request_length;
    rec.bytes_out = (uint64_t) r->connection->sent;
    rec.environment = ctx->environment == LGSP_ENV_SANDBOX
                      ? LGSP_AUDIT_ENV_SANDBOX : LGSP_AUDIT_ENV_PRODUCTION;

    reason = ngx_http_lgsp_audit_reason(r, ctx, status, answered);
    rec.result = (status < 400 && reason == NULL) ? LGSP_AUDIT_RESULT_OK
                                                  : LGSP_AUDIT_RESULT_FAIL;
    if (reason) {
        LGSP_AUDIT_SET(&rec, reason, reason, ngx_strlen(reason));
    }

    ngx_http_lgsp_metrics_count(ctx, rec.result, reason,
                                (ngx_msec_t) (rec.duration_us / 1000));

    snap = ctx->snap;

    if (snap) {
        rec.generation = snap->header->generation;

        if (ctx->consumer_agency) {
            s = lgsp_snap_sv(snap, ctx->consumer_agency->code);
            LGSP_AUDIT_SET(&rec, consumer_org, s.data, s.len);
        }

        if (ctx->consumer) {
            s = lgsp_snap_sv(snap, ctx->consumer->ident);
            LGSP_AUDIT_SET(&rec, consumer_system, s.data, s.len);
        }

        if (ctx->version) {
            s = lgsp_snap_sv(snap, ctx->version->service);
            LGSP_AUDIT_SET(&rec, service, s.data, s.len);
            s = lgsp_snap_sv(snap, ctx->version->version);
            LGSP_AUDIT_SET(&rec, version, s.data, s.len);
            s = lgsp_snap_sv(snap, ctx->provider->ident);
            LGSP_AUDIT_SET(&rec, provider_system, s.data, s.len);
            s = lgsp_snap_sv(snap, ctx->provider_agency->code);
            LGSP_AUDIT_SET(&rec, provider_org, s.data, s.len);
        }
    }

    LGSP_AUDIT_SET(&rec, client_id, ctx->client_id.data, ctx->client_id.len);

    if (lgsp_spool_append(&ngx_http_lgsp_spool, &rec) != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      "lgsp: audit record dropped (counted)");
    }

    return NGX_OK;
}


/* the gateway's denial, or what went wrong on the way to the provider */

static const char *
ngx_http_lgsp_audit_reason(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t status, ngx_flag_t answered)
{
    if (ctx->denial) {
        return ctx->denial;
    }

    /*
     * The client stalled (client_body_timeout, send_timeout) or went away
     * before the exchange ended.  The status stays what nginx records (408
     * for a body never finished, 400 for one cut short, 499 while the
     * provider was still working, the provider's own once its answer was
     * on its way), so only the reason can tell that the call did not
     * complete, whoever answered: never the gateway's fault
     * (internal_error), never a success.
     */
    if (r->connection->timedout) {
        return "client_timeout";
    }

    if (r->connection->error || status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        return "client_closed";
    }

    if (answered || status < 400) {
        /* the provider's own answer: a failure (01) but no denial */
        return NULL;
    }

    switch (status) {
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "upstream_timeout";
    case NGX_HTTP_BAD_GATEWAY:
        return "upstream_error";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "body_too_large";
    case NGX_HTTP_BAD_REQUEST:
        return "bad_request";
    default:
        return "internal_error";
    }
}
