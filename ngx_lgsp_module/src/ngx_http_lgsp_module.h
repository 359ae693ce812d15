#ifndef NGX_HTTP_LGSP_MODULE_H
#define NGX_HTTP_LGSP_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "lgsp_version.h"
#include "lgsp_snapshot.h"


#define NGX_HTTP_LGSP_ENV_PRODUCTION  LGSP_ENV_PRODUCTION
#define NGX_HTTP_LGSP_ENV_SANDBOX     LGSP_ENV_SANDBOX


typedef struct {
    ngx_str_t                   home;       /* $LGSP_HOME */
    ngx_str_t                   socket;     /* home/run/lgspd.sock */
    time_t                      token_skew;
    size_t                      limit_zone_size;
    ngx_int_t                   txid_index; /* $lgsp_transaction_id */
} ngx_http_lgsp_main_conf_t;


typedef struct {
    ngx_flag_t                  gateway;
    ngx_uint_t                  environment;
    ngx_str_t                   prefix;     /* the location's name */
    ngx_flag_t                  limit_dry_run;
} ngx_http_lgsp_loc_conf_t;


/*
 * A snapshot as one worker holds it: the validated mapping and its public
 * keys, parsed once at load so a request never parses a PEM or DER.
 * Requests pin it (refs) so a swap never unmaps what a request still reads.
 */
typedef struct {
    lgsp_snapshot_t             snap;
    EVP_PKEY                  **keys;       /* by key index; NULL unusable */
    void                       *map;
    size_t                      map_size;
    ngx_uint_t                  refs;
    unsigned                    retired:1;  /* no longer current */
} ngx_http_lgsp_snapshot_t;


/* What the gateway decided about one request; also what audit records. */
typedef struct {
    ngx_http_lgsp_snapshot_t       *holder;
    const lgsp_snap_version_t      *version;
    const lgsp_snap_system_t       *provider;
    const lgsp_snap_agency_t       *provider_agency;
    const lgsp_snap_system_t       *consumer;
    const lgsp_snap_agency_t       *consumer_agency;
    const lgsp_snap_credential_t   *credential;
    const lgsp_snap_grant_t        *grant;

    ngx_str_t                       route;
    ngx_str_t                       upstream_uri;
    ngx_str_t                       client_id;
    ngx_str_t                       request_id;
    ngx_str_t                       rl_policy;  /* RateLimit-Policy */
    ngx_str_t                       rl_state;   /* RateLimit */
    ngx_uint_t                      environment;

    ngx_uint_t                      status;     /* gateway's own answer */
    const char                     *denial;     /* SPEC §4 error code */
    ngx_msec_t                      start;

    unsigned                        allowed:1;
} ngx_http_lgsp_ctx_t;


extern ngx_module_t  ngx_http_lgsp_module;


char *ngx_http_lgsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_lgsp_lgspd_answers(ngx_http_lgsp_main_conf_t *lmcf);

/* access: SPEC §4 steps 1-8 */
ngx_int_t ngx_http_lgsp_access_init(ngx_conf_t *cf);
ngx_http_lgsp_ctx_t *ngx_http_lgsp_get_ctx(ngx_http_request_t *r);

/* errors: the JSON envelope, sent by the module itself */
ngx_int_t ngx_http_lgsp_deny(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *message);

/* limits: SPEC §4 step 6 */
ngx_int_t ngx_http_lgsp_limit_zone_add(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf);
ngx_int_t ngx_http_lgsp_limit(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_loc_conf_t *llcf);
uint64_t ngx_http_lgsp_limit_rejected(void);

/* variables */
ngx_int_t ngx_http_lgsp_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_lgsp_transaction_id(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_http_lgsp_variables_init_worker(ngx_cycle_t *cycle);

/* upstream: the balancer that keeps keepalive with per-request peers */
char *ngx_http_lgsp_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* snapshot: the current one, pinned for the request's lifetime */
ngx_http_lgsp_snapshot_t *ngx_http_lgsp_snapshot_acquire(
    ngx_http_request_t *r);


#endif /* NGX_HTTP_LGSP_MODULE_H */
