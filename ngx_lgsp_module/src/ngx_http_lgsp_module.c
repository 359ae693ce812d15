/*
 * ngx_http_lgsp_module: directives, configuration and initialisation.
 * The jobs of the data path live in one file each (status, snapshot,
 * access, ...); nginx-free logic lives in lgsp_*.c.
 */

#include "ngx_http_lgsp_module.h"


static void *ngx_http_lgsp_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_lgsp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_lgsp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_lgsp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_lgsp_home(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lgsp_environment(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_lgsp_gateway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_lgsp_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_lgsp_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_lgsp_init_process(ngx_cycle_t *cycle);
static void ngx_http_lgsp_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_lgsp_commands[] = {

    { ngx_string("lgsp_home"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_lgsp_home,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lgsp_gateway"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_lgsp_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lgsp_loc_conf_t, gateway),
      NULL },

    { ngx_string("lgsp_token_skew"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lgsp_main_conf_t, token_skew),
      NULL },

    { ngx_string("lgsp_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lgsp_main_conf_t, limit_zone_size),
      NULL },

    { ngx_string("lgsp_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_lgsp_main_conf_t, token_cache_size),
      NULL },

    { ngx_string("lgsp_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_lgsp_loc_conf_t, limit_dry_run),
      NULL },

    { ngx_string("lgsp_balancer"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_lgsp_balancer,
      0,
      0,
      NULL },

    { ngx_string("lgsp_environment"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_lgsp_environment,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("lgsp_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_lgsp_status,
      0,
      0,
      NULL },

    { ngx_string("lgsp_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_lgsp_metrics,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_lgsp_module_ctx = {
    ngx_http_lgsp_preconfiguration,        /* preconfiguration */
    ngx_http_lgsp_postconfiguration,       /* postconfiguration */

    ngx_http_lgsp_create_main_conf,        /* create main configuration */
    ngx_http_lgsp_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_lgsp_create_loc_conf,         /* create location configuration */
    ngx_http_lgsp_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_lgsp_module = {
    NGX_MODULE_V1,
    &ngx_http_lgsp_module_ctx,             /* module context */
    ngx_http_lgsp_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_lgsp_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_lgsp_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* each job of the data path adds its one call here */

static ngx_int_t
ngx_http_lgsp_init_process(ngx_cycle_t *cycle)
{
    /*
     * nginx runs init_process in its cache manager and cache loader too
     * (NGX_PROCESS_HELPER, with ngx_worker left at 0).  They serve no
     * request: they must not take worker 0's slot in the status table,
     * load snapshots or own a spool segment, and they end with exit()
     * without exit_process.  Only the processes that serve requests take
     * part: workers, and nginx itself under "master_process off".
     */
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (ngx_http_lgsp_variables_init_worker(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_lgsp_snapshot_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_lgsp_audit_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_lgsp_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_lgsp_audit_exit_process(cycle);
    ngx_http_lgsp_snapshot_exit_process(cycle);
}


static void *
ngx_http_lgsp_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_lgsp_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_lgsp_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->home = { 0, NULL };
     *     lmcf->socket = { 0, NULL };
     *     lmcf->snapshot_zone = NULL;
     */

    lmcf->token_skew = NGX_CONF_UNSET;
    lmcf->limit_zone_size = NGX_CONF_UNSET_SIZE;
    lmcf->token_cache_size = NGX_CONF_UNSET_SIZE;

    return lmcf;
}


static char *
ngx_http_lgsp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_lgsp_main_conf_t *lmcf = conf;

    u_char  *p;

    ngx_conf_init_value(lmcf->token_skew, 60);
    ngx_conf_init_size_value(lmcf->limit_zone_size, 16 * 1024 * 1024);
    ngx_conf_init_size_value(lmcf->token_cache_size, 8 * 1024 * 1024);

    if (lmcf->token_cache_size && lmcf->token_cache_size < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lgsp_token_cache\" of %uz bytes is too small, "
                           "it must be 0 (off) or at least 64k",
                           lmcf->token_cache_size);
        return NGX_CONF_ERROR;
    }

    if (lmcf->limit_zone_size < 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lgsp_limit_zone\" of %uz bytes is too small, "
                           "it must be at least 64k", lmcf->limit_zone_size);
        return NGX_CONF_ERROR;
    }

    if (lmcf->home.len == 0) {
        /* the module may be loaded without a gateway configured */
        return NGX_CONF_OK;
    }

    if (ngx_http_lgsp_limit_zone_add(cf, lmcf) != NGX_OK
        || ngx_http_lgsp_tcache_zone_add(cf, lmcf) != NGX_OK
        || ngx_http_lgsp_metrics_zone_add(cf, lmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    lmcf->socket.len = lmcf->home.len + sizeof("/run/lgspd.sock") - 1;
    lmcf->socket.data = ngx_pnalloc(cf->pool, lmcf->socket.len + 1);
    if (lmcf->socket.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(lmcf->socket.data, lmcf->home.data, lmcf->home.len);
    p = ngx_cpymem(p, "/run/lgspd.sock", sizeof("/run/lgspd.sock") - 1);
    *p = '\0';

    if (ngx_http_lgsp_snapshot_add_zone(cf, lmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_lgsp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_lgsp_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_lgsp_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }

    llcf->gateway = NGX_CONF_UNSET;
    llcf->environment = NGX_CONF_UNSET_UINT;
    llcf->limit_dry_run = NGX_CONF_UNSET;

    return llcf;
}


static char *
ngx_http_lgsp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_lgsp_loc_conf_t *prev = parent;
    ngx_http_lgsp_loc_conf_t *conf = child;

    ngx_http_lgsp_main_conf_t  *lmcf;

    ngx_conf_merge_value(conf->gateway, prev->gateway, 0);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, "");
    ngx_conf_merge_value(conf->limit_dry_run, prev->limit_dry_run, 0);
    ngx_conf_merge_uint_value(conf->environment, prev->environment,
                              NGX_HTTP_LGSP_ENV_PRODUCTION);

    if (conf->gateway) {
        lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_lgsp_module);
        if (lmcf->home.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"lgsp_gateway\" needs \"lgsp_home\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lgsp_home(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lgsp_main_conf_t *lmcf = conf;

    ngx_str_t        *value;
    ngx_file_info_t   fi;

    if (lmcf->home.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    lmcf->home = value[1];

    /* the socket path must fit a sockaddr_un */
    if (lmcf->home.len == 0
        || lmcf->home.data[0] != '/'
        || lmcf->home.len + sizeof("/run/lgspd.sock") > 108)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be an absolute path of at most "
                           "92 characters", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    while (lmcf->home.len > 1
           && lmcf->home.data[lmcf->home.len - 1] == '/')
    {
        lmcf->home.len--;
    }

    if (ngx_file_info(lmcf->home.data, &fi) == NGX_FILE_ERROR
        || !ngx_is_dir(&fi))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it is not a directory", &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lgsp_environment(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lgsp_loc_conf_t *llcf = conf;

    ngx_str_t  *value;

    if (llcf->environment != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "production") == 0) {
        llcf->environment = NGX_HTTP_LGSP_ENV_PRODUCTION;

    } else if (ngx_strcmp(value[1].data, "sandbox") == 0) {
        llcf->environment = NGX_HTTP_LGSP_ENV_SANDBOX;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"production\" or \"sandbox\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_lgsp_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_lgsp_loc_conf_t *llcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK || !llcf->gateway) {
        return rv;
    }

    /* the raw path is judged against the location's literal prefix */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->named
#if (NGX_PCRE)
        || clcf->regex
#endif
        || clcf->exact_match
        || clcf->name.len == 0
        || clcf->name.data[clcf->name.len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" needs a prefix location ending in "
                           "\"/\", not \"%V\"", &cmd->name, &clcf->name);
        return NGX_CONF_ERROR;
    }

    llcf->prefix = clcf->name;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_lgsp_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_lgsp_add_variables(cf);
}


static ngx_int_t
ngx_http_lgsp_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_lgsp_access_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_lgsp_headers_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_lgsp_audit_init(cf);
}

