/*
 * The worker's view of the registry: the snapshot lgspd publishes in
 * $LGSP_HOME/snapshots (docs/snapshot-format.md).
 *
 * Each worker maps snapshots/current (the control file) and, from a timer,
 * compares its generation with the one it serves.  When it moved, the
 * worker maps snap.<generation>, validates all of it with
 * lgsp_snapshot_load(), and only then swaps its pointer; a file that does
 * not validate is refused (one [error] line, a counter in shared memory)
 * and the previous snapshot keeps serving.  The request path never maps or
 * validates: it follows the pointer.
 *
 * A mapping is reference counted: one reference for being current, one per
 * request that pinned it (ngx_http_lgsp_snapshot_pin()), released by the
 * request pool's cleanup.  The previous mapping is unmapped when its last
 * reference goes, so a request that waits on an upstream for a minute keeps
 * the strings it points into.  Unlinked files stay readable while mapped,
 * so lgspd may remove old files at any time.
 */

#include <sys/mman.h>

#include "ngx_http_lgsp_module.h"
#include "lgsp_jwt.h"


#define NGX_HTTP_LGSP_SNAPSHOT_TICK       100      /* ms */
#define NGX_HTTP_LGSP_ZONE_SIZE           (64 * 1024)
#define NGX_HTTP_LGSP_WORKER_FILE_ACCESS  0640     /* worker-<slot>.gen */


struct ngx_http_lgsp_snapshot_map_s {
    lgsp_snapshot_t              snap;      /* first: pins hand out &snap */
    lgsp_jwt_verifier_t        **keys;      /* by key index, parsed once */
    ngx_http_lgsp_peer_t        *peers;     /* by version index x 2 envs */
    u_char                      *hosts;     /* the peers' "host:port" */
    void                        *addr;
    size_t                       size;
    uint64_t                     generation;
    ngx_uint_t                   refs;
};


typedef struct {
    ngx_http_lgsp_snapshot_sh_t *sh;
    ngx_slab_pool_t             *shpool;
} ngx_http_lgsp_snapshot_zone_t;


static ngx_int_t ngx_http_lgsp_snapshot_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_lgsp_snapshot_tick(ngx_event_t *ev);
static ngx_int_t ngx_http_lgsp_snapshot_check(ngx_log_t *log);
static ngx_int_t ngx_http_lgsp_snapshot_load(ngx_log_t *log,
    uint64_t generation);
static void ngx_http_lgsp_snapshot_release(ngx_http_lgsp_snapshot_map_t *m);
static void ngx_http_lgsp_snapshot_cleanup(void *data);
static void ngx_http_lgsp_snapshot_report(ngx_log_t *log);
static void *ngx_http_lgsp_snapshot_map_control(ngx_log_t *log);
static ngx_int_t ngx_http_lgsp_snapshot_parse_keys(
    ngx_http_lgsp_snapshot_map_t *m, ngx_log_t *log);
static void ngx_http_lgsp_snapshot_free(ngx_http_lgsp_snapshot_map_t *m);
static ngx_int_t ngx_http_lgsp_snapshot_make_peers(
    ngx_http_lgsp_snapshot_map_t *m, ngx_log_t *log);


/* per worker */
static ngx_http_lgsp_main_conf_t     *ngx_http_lgsp_snapshot_lmcf;
static ngx_http_lgsp_snapshot_map_t  *ngx_http_lgsp_snapshot_current_map;
static void                          *ngx_http_lgsp_control;
static uint64_t                       ngx_http_lgsp_refused_generation;
static ngx_event_t                    ngx_http_lgsp_snapshot_timer;
static ngx_connection_t               ngx_http_lgsp_snapshot_dummy;


const lgsp_snapshot_t *
ngx_http_lgsp_current_snapshot(void)
{
    ngx_http_lgsp_snapshot_map_t  *m = ngx_http_lgsp_snapshot_current_map;

    return m ? &m->snap : NULL;
}


const lgsp_snapshot_t *
ngx_http_lgsp_snapshot_pin(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t            *cln;
    ngx_http_lgsp_snapshot_map_t  *m = ngx_http_lgsp_snapshot_current_map;

    if (m == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    m->refs++;
    cln->handler = ngx_http_lgsp_snapshot_cleanup;
    cln->data = m;

    return &m->snap;
}


ngx_http_lgsp_snapshot_sh_t *
ngx_http_lgsp_snapshot_shared(ngx_http_lgsp_main_conf_t *lmcf)
{
    ngx_http_lgsp_snapshot_zone_t  *zone;

    if (lmcf->snapshot_zone == NULL) {
        return NULL;
    }

    zone = lmcf->snapshot_zone->data;

    return zone->sh;
}


static void
ngx_http_lgsp_snapshot_cleanup(void *data)
{
    ngx_http_lgsp_snapshot_release(data);
}


static void
ngx_http_lgsp_snapshot_release(ngx_http_lgsp_snapshot_map_t *m)
{
    if (--m->refs > 0) {
        return;
    }

    ngx_http_lgsp_snapshot_free(m);
}


static void
ngx_http_lgsp_snapshot_free(ngx_http_lgsp_snapshot_map_t *m)
{
    uint32_t  i;

    if (m->keys) {
        for (i = 0; i < m->snap.nkeys; i++) {
            lgsp_jwt_verifier_free(m->keys[i]);
        }

        ngx_free(m->keys);
    }

    if (m->peers) {
#if (NGX_HTTP_SSL)
        for (i = 0; i < m->snap.nversions * 2; i++) {
            if (m->peers[i].ssl_session) {
                ngx_ssl_free_session(m->peers[i].ssl_session);
            }
        }
#endif
        ngx_free(m->peers);
    }

    if (m->hosts) {
        ngx_free(m->hosts);
    }

    munmap(m->addr, m->size);
    ngx_free(m);
}


/*
 * The public keys, parsed from DER once per snapshot: a request never
 * parses a key (libjwt 1.10 would re-read the PEM on every call).  A key
 * that does not parse, or whose algorithm is not the one the snapshot
 * pins, stays NULL and its tokens are refused.
 */

static ngx_int_t
ngx_http_lgsp_snapshot_parse_keys(ngx_http_lgsp_snapshot_map_t *m,
    ngx_log_t *log)
{
    uint32_t                i;
    EVP_PKEY               *pkey;
    lgsp_sv_t               der;
    lgsp_jwt_alg_e          alg;
    const lgsp_snap_key_t  *k;

    m->keys = NULL;

    if (m->snap.nkeys == 0) {
        return NGX_OK;
    }

    m->keys = ngx_calloc(m->snap.nkeys * sizeof(lgsp_jwt_verifier_t *), log);
    if (m->keys == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < m->snap.nkeys; i++) {
        k = &m->snap.keys[i];
        der = lgsp_snap_sv(&m->snap, k->der);

        pkey = lgsp_jwt_key_from_der((const unsigned char *) der.data,
                                     der.len, &alg);

        /* the verifier keeps its own reference to the key */
        if (pkey != NULL && (uint32_t) alg == k->alg) {
            m->keys[i] = lgsp_jwt_verifier_new(pkey, alg);
        }

        EVP_PKEY_free(pkey);

        if (m->keys[i] == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "lgsp: key \"%*s\" of snapshot %uL is unusable; "
                          "its tokens are refused", (size_t) k->kid.len,
                          m->snap.strings + k->kid.off,
                          m->snap.header->generation);
        }
    }

    return NGX_OK;
}


/*
 * Every version's provider address in both environments, as the balancer
 * hands it to nginx, and its Host header: built here once, so a request
 * copies no address and formats no name.
 */

static ngx_int_t
ngx_http_lgsp_snapshot_make_peers(ngx_http_lgsp_snapshot_map_t *m,
    ngx_log_t *log)
{
    u_char                      *p;
    size_t                       len;
    uint32_t                     v, env;
    lgsp_sv_t                    host;
    struct sockaddr_in          *sin;
    ngx_http_lgsp_peer_t        *peer;
    const lgsp_snap_upstream_t  *up;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6         *sin6;
#endif

    m->peers = NULL;
    m->hosts = NULL;

    if (m->snap.nversions == 0) {
        return NGX_OK;
    }

    m->peers = ngx_calloc(m->snap.nversions * 2 * sizeof(ngx_http_lgsp_peer_t),
                          log);
    if (m->peers == NULL) {
        return NGX_ERROR;
    }

    /* one buffer for every Host that names a port */
    len = 1;

    for (v = 0; v < m->snap.nversions; v++) {
        for (env = 0; env < 2; env++) {
            up = &m->snap.versions[v].upstream[env];
            len += up->host.len + sizeof(":65535") - 1;
        }
    }

    m->hosts = ngx_alloc(len, log);
    if (m->hosts == NULL) {
        return NGX_ERROR;
    }

    p = m->hosts;

    for (v = 0; v < m->snap.nversions; v++) {
        for (env = 0; env < 2; env++) {
            up = &m->snap.versions[v].upstream[env];
            peer = &m->peers[v * 2 + env];

            host = lgsp_snap_sv(&m->snap, up->host);
            peer->host.data = (u_char *) host.data;
            peer->host.len = host.len;

            if (host.len && up->port != (up->tls ? 443 : 80)) {
                peer->host.data = p;
                p = ngx_sprintf(p, "%*s:%ud", host.len, host.data,
                                (ngx_uint_t) up->port);
                peer->host.len = p - peer->host.data;
            }

            switch (up->family) {

#if (NGX_HAVE_INET6)
            case 6:
                sin6 = &peer->sockaddr.sockaddr_in6;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(up->port);
                ngx_memcpy(&sin6->sin6_addr, up->addr, 16);
                peer->socklen = sizeof(struct sockaddr_in6);
                break;
#endif

            case 4:
                sin = &peer->sockaddr.sockaddr_in;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(up->port);
                ngx_memcpy(&sin->sin_addr, up->addr, 4);
                peer->socklen = sizeof(struct sockaddr_in);
                break;

            default:
                /* unresolved: socklen 0, the access phase answers 502 */
                continue;
            }

            peer->name.data = peer->text;
            peer->name.len = ngx_sock_ntop(&peer->sockaddr.sockaddr,
                                           peer->socklen, peer->text,
                                           NGX_SOCKADDR_STRLEN, 1);
        }
    }

    return NGX_OK;
}


const ngx_http_lgsp_peer_t *
ngx_http_lgsp_snapshot_peer(const lgsp_snapshot_t *snap, uint32_t v,
    ngx_uint_t env)
{
    const ngx_http_lgsp_peer_t          *peer;
    const ngx_http_lgsp_snapshot_map_t  *m;

    m = (const ngx_http_lgsp_snapshot_map_t *) snap;

    if (m->peers == NULL || v >= snap->nversions || env > 1) {
        return NULL;
    }

    peer = &m->peers[v * 2 + env];

    return peer->socklen ? peer : NULL;
}


lgsp_jwt_verifier_t *
ngx_http_lgsp_snapshot_key(const lgsp_snapshot_t *snap, uint32_t index)
{
    const ngx_http_lgsp_snapshot_map_t  *m;

    m = (const ngx_http_lgsp_snapshot_map_t *) snap;

    return (m->keys && index < snap->nkeys) ? m->keys[index] : NULL;
}


/* ---- the shared table of workers ------------------------------------- */

ngx_int_t
ngx_http_lgsp_snapshot_add_zone(ngx_conf_t *cf,
    ngx_http_lgsp_main_conf_t *lmcf)
{
    ngx_str_t                       name = ngx_string("lgsp_snapshot");
    ngx_http_lgsp_snapshot_zone_t  *zone;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_lgsp_snapshot_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    lmcf->snapshot_zone = ngx_shared_memory_add(cf, &name,
                                                NGX_HTTP_LGSP_ZONE_SIZE,
                                                &ngx_http_lgsp_module);
    if (lmcf->snapshot_zone == NULL) {
        return NGX_ERROR;
    }

    if (lmcf->snapshot_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is already used",
                           &name);
        return NGX_ERROR;
    }

    lmcf->snapshot_zone->init = ngx_http_lgsp_snapshot_init_zone;
    lmcf->snapshot_zone->data = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_lgsp_snapshot_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_lgsp_snapshot_zone_t  *ozone = data;

    size_t                          len;
    ngx_http_lgsp_snapshot_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload: the table and the refused counter carry over */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_lgsp_snapshot_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_lgsp_snapshot_sh_t));
    zone->shpool->data = zone->sh;

    len = sizeof(" in lgsp zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in lgsp zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


/* ---- worker start and the timer --------------------------------------- */

ngx_int_t
ngx_http_lgsp_snapshot_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i;
    ngx_core_conf_t              *ccf;
    ngx_http_lgsp_main_conf_t    *lmcf;
    ngx_http_lgsp_snapshot_sh_t  *sh;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_lgsp_module);
    if (lmcf == NULL || lmcf->home.len == 0) {
        return NGX_OK;
    }

    ngx_http_lgsp_snapshot_lmcf = lmcf;

    sh = ngx_http_lgsp_snapshot_shared(lmcf);
    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (sh && ngx_worker < NGX_HTTP_LGSP_WORKER_SLOTS) {
        /* slots past the worker count belong to workers of an older
         * configuration that had more of them */
        if (ngx_worker == 0) {
            for (i = ccf->worker_processes;
                 i < NGX_HTTP_LGSP_WORKER_SLOTS;
                 i++)
            {
                sh->workers[i].pid = 0;
            }
        }

        sh->workers[ngx_worker].generation = 0;
        sh->workers[ngx_worker].loaded_ms = 0;
        sh->workers[ngx_worker].pid = ngx_pid;
    }

    /* serve the current generation from the first request on */
    (void) ngx_http_lgsp_snapshot_check(cycle->log);

    ngx_http_lgsp_snapshot_dummy.fd = (ngx_socket_t) -1;
    ngx_http_lgsp_snapshot_timer.handler = ngx_http_lgsp_snapshot_tick;
    ngx_http_lgsp_snapshot_timer.log = cycle->log;
    ngx_http_lgsp_snapshot_timer.data = &ngx_http_lgsp_snapshot_dummy;
    ngx_http_lgsp_snapshot_timer.cancelable = 1;

    ngx_add_timer(&ngx_http_lgsp_snapshot_timer,
                  NGX_HTTP_LGSP_SNAPSHOT_TICK);

    return NGX_OK;
}


void
ngx_http_lgsp_snapshot_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_lgsp_snapshot_sh_t  *sh;

    if (ngx_http_lgsp_snapshot_lmcf == NULL) {
        return;
    }

    sh = ngx_http_lgsp_snapshot_shared(ngx_http_lgsp_snapshot_lmcf);

    /* a new worker may already hold this slot: clear only our own */
    if (sh && ngx_worker < NGX_HTTP_LGSP_WORKER_SLOTS
        && sh->workers[ngx_worker].pid == ngx_pid)
    {
        sh->workers[ngx_worker].pid = 0;
    }
}


static void
ngx_http_lgsp_snapshot_tick(ngx_event_t *ev)
{
    (void) ngx_http_lgsp_snapshot_check(ev->log);

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, NGX_HTTP_LGSP_SNAPSHOT_TICK);
    }
}


static void *
ngx_http_lgsp_snapshot_map_control(ngx_log_t *log)
{
    u_char           path[NGX_MAX_PATH];
    void            *addr;
    ngx_fd_t         fd;
    ngx_file_info_t  fi;

    ngx_snprintf(path, sizeof(path), "%V/snapshots/current%Z",
                 &ngx_http_lgsp_snapshot_lmcf->home);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        /* lgspd has not published yet: the next tick looks again */
        return NULL;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) < LGSP_SNAP_CONTROL_SIZE)
    {
        ngx_close_file(fd);
        return NULL;
    }

    addr = mmap(NULL, LGSP_SNAP_CONTROL_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    ngx_close_file(fd);

    if (addr == MAP_FAILED) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "lgsp: mmap(\"%s\") failed", path);
        return NULL;
    }

    return addr;
}


static ngx_int_t
ngx_http_lgsp_snapshot_check(ngx_log_t *log)
{
    uint64_t                       generation;
    ngx_http_lgsp_snapshot_map_t  *m;

    if (ngx_http_lgsp_control == NULL) {
        ngx_http_lgsp_control = ngx_http_lgsp_snapshot_map_control(log);
        if (ngx_http_lgsp_control == NULL) {
            return NGX_DECLINED;
        }
    }

    generation = lgsp_snap_control_generation(ngx_http_lgsp_control,
                                              LGSP_SNAP_CONTROL_SIZE);
    m = ngx_http_lgsp_snapshot_current_map;

    if (generation == 0
        || (m && m->generation == generation)
        || generation == ngx_http_lgsp_refused_generation)
    {
        return NGX_OK;
    }

    return ngx_http_lgsp_snapshot_load(log, generation);
}


static ngx_int_t
ngx_http_lgsp_snapshot_load(ngx_log_t *log, uint64_t generation)
{
    u_char                         path[NGX_MAX_PATH];
    char                           err[256];
    void                          *addr;
    size_t                         size;
    ngx_fd_t                       fd;
    ngx_err_t                      e;
    ngx_file_info_t                fi;
    ngx_http_lgsp_snapshot_sh_t   *sh;
    ngx_http_lgsp_snapshot_map_t  *m, *old;

    ngx_snprintf(path, sizeof(path), "%V/snapshots/snap.%uL%Z",
                 &ngx_http_lgsp_snapshot_lmcf->home, generation);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;

        /* lgspd published again and pruned this one: take the newer one
         * at the next tick */
        if (lgsp_snap_control_generation(ngx_http_lgsp_control,
                                         LGSP_SNAP_CONTROL_SIZE)
            != generation)
        {
            return NGX_AGAIN;
        }

        ngx_snprintf((u_char *) err, sizeof(err), "cannot open: %s%Z",
                     strerror(e));
        goto refused;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_close_file(fd);
        ngx_snprintf((u_char *) err, sizeof(err), "fstat failed%Z");
        goto refused;
    }

    size = (size_t) ngx_file_size(&fi);
    if (size < sizeof(lgsp_snap_header_t)) {
        ngx_close_file(fd);
        ngx_snprintf((u_char *) err, sizeof(err), "%uz bytes: too short%Z",
                     size);
        goto refused;
    }

    addr = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    ngx_close_file(fd);

    if (addr == MAP_FAILED) {
        ngx_snprintf((u_char *) err, sizeof(err), "mmap failed: %s%Z",
                     strerror(ngx_errno));
        goto refused;
    }

    m = ngx_alloc(sizeof(ngx_http_lgsp_snapshot_map_t), log);
    if (m == NULL) {
        munmap(addr, size);
        return NGX_ERROR;
    }

    if (lgsp_snapshot_load(&m->snap, addr, size, err, sizeof(err)) != 0) {
        munmap(addr, size);
        ngx_free(m);
        goto refused;
    }

    if (m->snap.header->generation != generation) {
        ngx_snprintf((u_char *) err, sizeof(err),
                     "it says generation %uL%Z",
                     m->snap.header->generation);
        munmap(addr, size);
        ngx_free(m);
        goto refused;
    }

    m->addr = addr;
    m->size = size;
    m->generation = generation;
    m->refs = 1;                 /* being current */

    m->peers = NULL;

    if (ngx_http_lgsp_snapshot_parse_keys(m, log) != NGX_OK
        || ngx_http_lgsp_snapshot_make_peers(m, log) != NGX_OK)
    {
        ngx_http_lgsp_snapshot_free(m);
        return NGX_ERROR;
    }

    old = ngx_http_lgsp_snapshot_current_map;
    ngx_http_lgsp_snapshot_current_map = m;

    if (old) {
        ngx_http_lgsp_snapshot_release(old);
    }

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "lgsp: snapshot %uL loaded (%uz bytes)", generation, size);

    ngx_http_lgsp_snapshot_report(log);

    return NGX_OK;

refused:

    /* once per generation: the next good one clears it */
    ngx_http_lgsp_refused_generation = generation;

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "lgsp: snapshot \"%s\" refused: %s; still serving "
                  "generation %uL", path, err,
                  ngx_http_lgsp_snapshot_current_map
                  ? ngx_http_lgsp_snapshot_current_map->generation : 0);

    sh = ngx_http_lgsp_snapshot_shared(ngx_http_lgsp_snapshot_lmcf);
    if (sh) {
        (void) ngx_atomic_fetch_add(&sh->refused, 1);
    }

    return NGX_DECLINED;
}


/*
 * Tell who looks: the shared table (for /lgsp/status) and a one-line file
 * run/workers/worker-<slot>.gen (for lgspctl status, which cannot read
 * nginx's shared memory).  The file is replaced by rename, never
 * rewritten.  run/workers/ is the one folder of run/ the workers may
 * write; lgspctl reads the file through the gateway group.
 */

static void
ngx_http_lgsp_snapshot_report(ngx_log_t *log)
{
    u_char                        path[NGX_MAX_PATH], tmp[NGX_MAX_PATH];
    u_char                        line[128], *p;
    int64_t                       now_ms;
    ngx_fd_t                      fd;
    ngx_time_t                   *tp;
    ngx_http_lgsp_snapshot_sh_t  *sh;
    ngx_http_lgsp_snapshot_map_t *m = ngx_http_lgsp_snapshot_current_map;

    tp = ngx_timeofday();
    now_ms = (int64_t) tp->sec * 1000 + tp->msec;

    sh = ngx_http_lgsp_snapshot_shared(ngx_http_lgsp_snapshot_lmcf);

    if (sh && ngx_worker < NGX_HTTP_LGSP_WORKER_SLOTS) {
        sh->workers[ngx_worker].pid = ngx_pid;
        sh->workers[ngx_worker].loaded_ms = now_ms;
        sh->workers[ngx_worker].generation = m->generation;
    }

    ngx_snprintf(path, sizeof(path), "%V/run/workers/worker-%ui.gen%Z",
                 &ngx_http_lgsp_snapshot_lmcf->home, ngx_worker);
    ngx_snprintf(tmp, sizeof(tmp), "%V/run/workers/worker-%ui.gen.%P%Z",
                 &ngx_http_lgsp_snapshot_lmcf->home, ngx_worker, ngx_pid);

    p = ngx_snprintf(line, sizeof(line), "%P %uL %L\n", ngx_pid,
                     m->generation, now_ms);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_HTTP_LGSP_WORKER_FILE_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        /* a home laid out by an older lgspctl init has no run/workers/ */
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      ngx_open_file_n " \"%s\" failed", tmp);
        return;
    }

    /* readable by the group whatever the umask nginx was started with */
    if (fchmod(fd, NGX_HTTP_LGSP_WORKER_FILE_ACCESS) == -1
        || ngx_write_fd(fd, line, p - line) != p - line)
    {
        ngx_close_file(fd);
        ngx_delete_file(tmp);
        return;
    }

    ngx_close_file(fd);

    if (ngx_rename_file(tmp, path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "lgsp: rename(\"%s\") failed", tmp);
        ngx_delete_file(tmp);
    }
}
