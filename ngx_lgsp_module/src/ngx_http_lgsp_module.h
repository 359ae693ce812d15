#ifndef NGX_HTTP_LGSP_MODULE_H
#define NGX_HTTP_LGSP_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "lgsp_version.h"


#define NGX_HTTP_LGSP_ENV_PRODUCTION  0
#define NGX_HTTP_LGSP_ENV_SANDBOX     1


typedef struct {
    ngx_str_t                   home;       /* $LGSP_HOME */
    ngx_str_t                   socket;     /* home/run/lgspd.sock */
} ngx_http_lgsp_main_conf_t;


typedef struct {
    ngx_flag_t                  gateway;
    ngx_uint_t                  environment;
} ngx_http_lgsp_loc_conf_t;


extern ngx_module_t  ngx_http_lgsp_module;


char *ngx_http_lgsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_lgsp_lgspd_answers(ngx_http_lgsp_main_conf_t *lmcf);


#endif /* NGX_HTTP_LGSP_MODULE_H */
