/*
 * The verified-token cache (lgsp_tcache.c) in a shared zone: a repeated
 * token costs a keyed hash and O(1) checks against the current snapshot,
 * not a signature check.  Entries hold registry ids, never reused, so a
 * cached token can never land on someone else's credential.
 */

#include "ngx_http_lgsp_module.h"
#include "lgsp_tcache.h"


typedef struct {
    void      *region;
    size_t     size;
} ngx_http_lgsp_tcache_sh_t;


static ngx_int_t ngx_http_lgsp_tcache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static lgsp_tcache_t  *ngx_http_lgsp_tcache;


ngx_int_t
ngx_http_lgsp_tcache_zone_add(ngx_conf_t *cf, ngx_http_lgsp_main_conf_t *lmcf)
{
    ngx_str_t        name = ngx_string("lgsp_tokens");
    ngx_shm_zone_t  *zone;

    if (lmcf->token_cache_size == 0) {
        return NGX_OK;
    }

    zone = ngx_shared_memory_add(cf, &name, lmcf->token_cache_size,
                                 &ngx_http_lgsp_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_lgsp_tcache_init_zone;
    zone->data = lmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_tcache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                      size;
    uint8_t                     key[LGSP_TCACHE_KEY_LEN];
    ngx_slab_pool_t            *shpool;
    ngx_http_lgsp_tcache_sh_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {
        /* a reload: verified tokens stay verified */
        sh = shpool->data;
        ngx_http_lgsp_tcache = lgsp_tcache_attach(sh->region, sh->size);
        if (ngx_http_lgsp_tcache == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "lgsp: zone \"%V\" is damaged",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        shm_zone->data = sh;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_lgsp_tcache_sh_t));
    shpool->log_ctx = ngx_slab_alloc(shpool, sizeof(" in lgsp zone \"\"")
                                             + shm_zone->shm.name.len);
    if (sh == NULL || shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in lgsp zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* leave a quarter to the slab allocator's own books */
    size = shm_zone->shm.size - shm_zone->shm.size / 4;

    sh->region = ngx_slab_alloc(shpool, size);
    if (sh->region == NULL || size < LGSP_TCACHE_MIN_SIZE) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "lgsp: zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    sh->size = size;

    /* the hash key is secret: a guessed key would let a forged token
     * collide with a cached good one */
    if (RAND_bytes(key, sizeof(key)) != 1) {
        return NGX_ERROR;
    }

    ngx_http_lgsp_tcache = lgsp_tcache_init(sh->region, size, key);
    ngx_explicit_memzero(key, sizeof(key));

    if (ngx_http_lgsp_tcache == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


lgsp_tcache_t *
ngx_http_lgsp_tcache_get(void)
{
    return ngx_http_lgsp_tcache;
}
