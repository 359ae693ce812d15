#ifndef NGX_HTTP_LGSP_MODULE_H
#define NGX_HTTP_LGSP_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/evp.h>

#include "lgsp_version.h"
#include "lgsp_snapshot.h"
#include "lgsp_tcache.h"
#include "lgsp_jwt.h"
#include "lgsp_limit.h"


#define NGX_HTTP_LGSP_ENV_PRODUCTION  LGSP_ENV_PRODUCTION
#define NGX_HTTP_LGSP_ENV_SANDBOX     LGSP_ENV_SANDBOX


typedef struct {
    ngx_str_t                   home;       /* $LGSP_HOME */
    ngx_str_t                   socket;     /* home/run/lgspd.sock */
    time_t                      token_skew;
    size_t                      limit_zone_size;
    size_t                      token_cache_size;
    ngx_int_t                   txid_index; /* $lgsp_transaction_id */
    ngx_shm_zone_t             *snapshot_zone;
} ngx_http_lgsp_main_conf_t;


/* the snapshot zone: which worker serves which generation */
#define NGX_HTTP_LGSP_WORKER_SLOTS    64

typedef struct {
    ngx_pid_t                   pid;        /* 0: free */
    uint64_t                    generation; /* 0: none loaded yet */
    int64_t                     loaded_ms;  /* Unix ms */
} ngx_http_lgsp_worker_slot_t;

typedef struct {
    ngx_atomic_t                refused;    /* snapshots refused */
    ngx_http_lgsp_worker_slot_t workers[NGX_HTTP_LGSP_WORKER_SLOTS];
} ngx_http_lgsp_snapshot_sh_t;

typedef struct ngx_http_lgsp_snapshot_map_s  ngx_http_lgsp_snapshot_map_t;


typedef struct {
    ngx_flag_t                  gateway;
    ngx_uint_t                  environment;
    ngx_str_t                   prefix;     /* the location's name */
    ngx_flag_t                  limit_dry_run;
} ngx_http_lgsp_loc_conf_t;




/* A provider's address, made once per snapshot (not per request) */
typedef struct {
    ngx_sockaddr_t              sockaddr;
    socklen_t                   socklen;
    ngx_str_t                   name;
    ngx_str_t                   host;       /* the Host header to send */
    u_char                      text[NGX_SOCKADDR_STRLEN];
#if (NGX_HTTP_SSL)
    /* the last TLS session with this provider, this worker's own */
    ngx_ssl_session_t          *ssl_session;
#endif
} ngx_http_lgsp_peer_t;


/*
 * client headers that do not pass: as many as the gateway writes are
 * overwritten in place, more mean a rebuild (ngx_http_lgsp_proxy_headers.c)
 */
#define NGX_HTTP_LGSP_STALE_MAX  8


/* What the gateway decided about one request; also what audit records. */
typedef struct {
    const lgsp_snapshot_t          *snap;       /* pinned to the pool */
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
    ngx_uint_t                      environment;

    ngx_uint_t                      status;     /* gateway's own answer */
    const char                     *denial;     /* SPEC §4 error code */
    ngx_msec_t                      start;

    /* step 6, by lgsp_limit_kind_e; formatted only when a header reads it */
    lgsp_limit_result_t             limits[LGSP_LIMIT_ITEMS_MAX];

    /* step 1 found them, step 8 overwrites them (ngx_http_lgsp_proxy_headers.c) */
    ngx_table_elt_t                *stale[NGX_HTTP_LGSP_STALE_MAX];
    ngx_uint_t                      nstale;

    unsigned                        allowed:1;
} ngx_http_lgsp_ctx_t;


extern ngx_module_t  ngx_http_lgsp_module;


char *ngx_http_lgsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_lgsp_lgspd_answers(ngx_http_lgsp_main_conf_t *lmcf);

/* access: SPEC §4 steps 1-8 */
ngx_int_t ngx_http_lgsp_access_init(ngx_conf_t *cf);
ngx_http_lgsp_ctx_t *ngx_http_lgsp_get_ctx(ngx_http_request_t *r);
/* SPEC §6 headers to the provider (ngx_http_lgsp_proxy_headers.c) */
void ngx_http_lgsp_proxy_headers_init(void);
ngx_int_t ngx_http_lgsp_scan_headers(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx);
ngx_int_t ngx_http_lgsp_proxy_headers(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx);
/* steps 3 and 4 (ngx_http_lgsp_token.c) */
ngx_int_t ngx_http_lgsp_token(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_main_conf_t *lmcf);

/* errors: the JSON envelope, sent by the module itself */
ngx_int_t ngx_http_lgsp_deny(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *message);
/* NGX_OK for GET and HEAD, else 405 with Allow */
ngx_int_t ngx_http_lgsp_get_only(ngx_http_request_t *r);

/* limits: SPEC §4 step 6 */
ngx_int_t ngx_http_lgsp_limit_zone_add(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf);
ngx_int_t ngx_http_lgsp_limit(ngx_http_request_t *r, ngx_http_lgsp_ctx_t *ctx,
    ngx_http_lgsp_loc_conf_t *llcf);
uint64_t ngx_http_lgsp_limit_rejected(void);
ngx_int_t ngx_http_lgsp_limit_header(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_uint_t state, ngx_str_t *value);

/* the verified-token cache (lgsp_tcache.h), NULL when off */
ngx_int_t ngx_http_lgsp_tcache_zone_add(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf);
lgsp_tcache_t *ngx_http_lgsp_tcache_get(void);

/* gateway-wide counters in shared memory (kept across reloads) */
enum {
    NGX_HTTP_LGSP_AUDIT_DROPPED = 0,
    NGX_HTTP_LGSP_NCOUNTERS = 16
};

uint64_t *ngx_http_lgsp_counter(ngx_uint_t which);

/* audit: one record per call, in the log phase */
ngx_int_t ngx_http_lgsp_audit_init(ngx_conf_t *cf);
ngx_int_t ngx_http_lgsp_audit_init_process(ngx_cycle_t *cycle);
void ngx_http_lgsp_audit_exit_process(ngx_cycle_t *cycle);

/* variables: the module's decisions, for the proxy and the headers */
typedef enum {
    NGX_HTTP_LGSP_VAR_SCHEME = 0,
    NGX_HTTP_LGSP_VAR_HOST,
    NGX_HTTP_LGSP_VAR_SNI,
    NGX_HTTP_LGSP_VAR_URI,
    NGX_HTTP_LGSP_VAR_ORG,
    NGX_HTTP_LGSP_VAR_SYSTEM,
    NGX_HTTP_LGSP_VAR_ENVIRONMENT,
    NGX_HTTP_LGSP_VAR_AUTHORIZATION,
    NGX_HTTP_LGSP_VAR_DEPRECATION,
    NGX_HTTP_LGSP_VAR_SUNSET,
    NGX_HTTP_LGSP_VAR_LINK,
    NGX_HTTP_LGSP_VAR_RL_POLICY,
    NGX_HTTP_LGSP_VAR_RL_STATE,
} ngx_http_lgsp_var_e;

ngx_int_t ngx_http_lgsp_ctx_value(ngx_http_request_t *r,
    ngx_http_lgsp_ctx_t *ctx, ngx_uint_t which, ngx_str_t *value);
/* Deprecation, Sunset, Link, RateLimit-Policy, RateLimit on answers */
ngx_int_t ngx_http_lgsp_headers_init(ngx_conf_t *cf);

ngx_int_t ngx_http_lgsp_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_lgsp_transaction_id(ngx_http_request_t *r, ngx_str_t *id);
ngx_int_t ngx_http_lgsp_variables_init_worker(ngx_cycle_t *cycle);

/* upstream: the balancer that keeps keepalive with per-request peers */
char *ngx_http_lgsp_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* snapshot (ngx_http_lgsp_snapshot.c) */
ngx_int_t ngx_http_lgsp_snapshot_add_zone(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf);
ngx_int_t ngx_http_lgsp_snapshot_init_process(ngx_cycle_t *cycle);
void ngx_http_lgsp_snapshot_exit_process(ngx_cycle_t *cycle);
ngx_http_lgsp_snapshot_sh_t *ngx_http_lgsp_snapshot_shared(
    ngx_http_lgsp_main_conf_t *lmcf);
/*
 * The snapshot this worker serves, NULL before the first one.  The pointer
 * (and every pointer into it) stays valid until the handler returns to the
 * event loop; a request that keeps pointers across events (an upstream
 * round trip) pins the snapshot to its pool instead.
 */
const lgsp_snapshot_t *ngx_http_lgsp_current_snapshot(void);
const lgsp_snapshot_t *ngx_http_lgsp_snapshot_pin(ngx_http_request_t *r);
/* The address of version index v in environment env; NULL: unresolved. */
const ngx_http_lgsp_peer_t *ngx_http_lgsp_snapshot_peer(
    const lgsp_snapshot_t *snap, uint32_t v, ngx_uint_t env);
/* The prepared public key of key index i of a loaded snapshot, or NULL. */
lgsp_jwt_verifier_t *ngx_http_lgsp_snapshot_key(const lgsp_snapshot_t *snap,
    uint32_t index);

/* metrics (ngx_http_lgsp_metrics.c): GET /lgsp/metrics, and the log
 * phase's count of one call (result 0: "00", 1: "01") */
char *ngx_http_lgsp_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_lgsp_metrics_zone_add(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf);
void ngx_http_lgsp_metrics_count(ngx_http_lgsp_ctx_t *ctx, ngx_uint_t result,
    const char *reason, ngx_msec_t duration);


#endif /* NGX_HTTP_LGSP_MODULE_H */
