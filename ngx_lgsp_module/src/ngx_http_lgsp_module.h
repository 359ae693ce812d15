#ifndef NGX_HTTP_LGSP_MODULE_H
#define NGX_HTTP_LGSP_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "lgsp_version.h"
#include "lgsp_snapshot.h"


#define NGX_HTTP_LGSP_ENV_PRODUCTION  0
#define NGX_HTTP_LGSP_ENV_SANDBOX     1


typedef struct {
    ngx_str_t                   home;       /* $LGSP_HOME */
    ngx_str_t                   socket;     /* home/run/lgspd.sock */
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
} ngx_http_lgsp_loc_conf_t;


extern ngx_module_t  ngx_http_lgsp_module;


char *ngx_http_lgsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_lgsp_lgspd_answers(ngx_http_lgsp_main_conf_t *lmcf);

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


#endif /* NGX_HTTP_LGSP_MODULE_H */
