/*
 * "lgsp_balancer" in an upstream{} block: the peer of each request is the
 * provider the access phase chose from the snapshot.  proxy_pass names
 * this block, so nginx's keepalive module (which matches cached
 * connections by peer address) keeps connections to providers open --
 * "proxy_pass http://$var" to a bare address would open one per request.
 */

#include "ngx_http_lgsp_module.h"


static ngx_int_t ngx_http_lgsp_upstream_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_lgsp_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_lgsp_upstream_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_lgsp_upstream_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_lgsp_upstream_set_session(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_lgsp_upstream_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


char *
ngx_http_lgsp_balancer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"lgsp_balancer\" must come before any other "
                           "balancer and before \"keepalive\"");
        return NGX_CONF_ERROR;
    }

    uscf->peer.init_upstream = ngx_http_lgsp_upstream_init;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_lgsp_upstream_init(ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *us)
{
    us->peer.init = ngx_http_lgsp_upstream_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_upstream_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_msec_t                   timeout;
    ngx_http_upstream_t         *u;
    ngx_http_lgsp_ctx_t         *ctx;
    ngx_http_upstream_conf_t    *ucf;
    const ngx_http_lgsp_peer_t  *peer;

    ctx = ngx_http_lgsp_get_ctx(r);

    if (ctx == NULL || !ctx->allowed) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "lgsp: lgsp_balancer used outside an lgsp_gateway "
                      "location");
        return NGX_ERROR;
    }

    peer = ngx_http_lgsp_snapshot_peer(ctx->snap,
                                       (uint32_t) (ctx->version
                                                   - ctx->snap->versions),
                                       ctx->environment);
    if (peer == NULL) {
        return NGX_ERROR;
    }

    u = r->upstream;
    u->peer.data = (void *) peer;
    u->peer.get = ngx_http_lgsp_upstream_get_peer;
    u->peer.free = ngx_http_lgsp_upstream_free_peer;
    u->peer.tries = 1;
#if (NGX_HTTP_SSL)
    /* nginx calls these unconditionally with proxy_ssl_session_reuse on */
    u->peer.set_session = ngx_http_lgsp_upstream_set_session;
    u->peer.save_session = ngx_http_lgsp_upstream_save_session;
#endif

    /*
     * Per-version timeouts: proxy_*_timeout take no variables, so the
     * request gets its own copy of the upstream configuration (as
     * OpenResty's balancer does).  Timeouts are read at connect time,
     * after this point.
     */

    timeout = ctx->version->timeout_ms;

    if (timeout) {
        ucf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
        if (ucf == NULL) {
            return NGX_ERROR;
        }

        *ucf = *u->conf;
        ucf->connect_timeout = ngx_min(timeout, u->conf->connect_timeout);
        ucf->send_timeout = timeout;
        ucf->read_timeout = timeout;
        u->conf = ucf;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_upstream_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_lgsp_peer_t  *peer = data;

    /* the snapshot the request pinned holds it until the request ends */
    pc->sockaddr = &peer->sockaddr.sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &peer->name;

    return NGX_OK;
}


static void
ngx_http_lgsp_upstream_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    /* one provider address per request: nothing to fall back to */
    pc->tries = 0;
}


#if (NGX_HTTP_SSL)

/*
 * TLS session resumption with providers, as nginx's round robin does it
 * for its peers: the last session per provider address, kept by each
 * worker in the snapshot's peers.  A new snapshot builds new peers, so a
 * version moved elsewhere never offers the old provider's session; the
 * sessions go with the snapshot's peers when no request pins it any more.
 */

static ngx_int_t
ngx_http_lgsp_upstream_set_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_lgsp_peer_t  *peer = data;

    if (peer->ssl_session == NULL) {
        return NGX_OK;
    }

    return ngx_ssl_set_session(pc->connection, peer->ssl_session);
}


static void
ngx_http_lgsp_upstream_save_session(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_lgsp_peer_t  *peer = data;

    ngx_ssl_session_t  *session, *old;

    session = ngx_ssl_get_session(pc->connection);
    if (session == NULL) {
        return;
    }

    old = peer->ssl_session;
    peer->ssl_session = session;

    if (old) {
        ngx_ssl_free_session(old);
    }
}

#endif
