/*
 * lgspd's HTTP face on $LGSP_HOME/run/lgspd.sock, behind nginx:
 * libmicrohttpd rather than a parser of our own.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "lgspd.h"
#include "http.h"
#include "token.h"
#include "cp_util.h"

/* Token requests are small; anything larger is refused, never buffered. */
#define LGSPD_BODY_MAX  16384

static void route_ping(const lgspd_request_t *rq, lgspd_reply_t *rp);

static const struct {
    const char     *method;
    const char     *path;
    lgspd_route_pt  handler;
} routes[] = {
    { "GET",  "/lgsp/ping", route_ping },
    { "POST", "/oauth/token", lgspd_token_route },
    { "POST", "/token", lgspd_token_route },
    { "GET",  "/.well-known/jwks.json", lgspd_jwks_route },
    { "GET",  "/lgsp/health", lgspd_route_health },
    { "GET",  "/lgsp/health/services", lgspd_route_health_services },
};

typedef struct {
    char    *body;
    size_t   len;
    int      too_large;
} conn_ctx_t;

void
lgspd_reply_json(lgspd_reply_t *rp, unsigned int status, const char *json)
{
    free(rp->body);
    rp->status = status;
    rp->body = strdup(json);
    rp->body_len = rp->body ? strlen(rp->body) : 0;
    rp->content_type = "application/json";
}

void
lgspd_reply_header(lgspd_reply_t *rp, const char *name, const char *value)
{
    for (int i = 0; i < 3; i++) {
        if (rp->header_name[i] == NULL) {
            rp->header_name[i] = name;
            snprintf(rp->header_value[i], sizeof(rp->header_value[i]), "%s",
                     value);
            return;
        }
    }
}

void
lgspd_reply_error(lgspd_reply_t *rp, unsigned int status, const char *error,
                  const char *message)
{
    cJSON *o = cJSON_CreateObject();
    char  *s;

    cJSON_AddStringToObject(o, "status", "01");
    cJSON_AddStringToObject(o, "error", error);
    cJSON_AddStringToObject(o, "message", message);
    s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    lgspd_reply_json(rp, status, s ? s : "{\"status\":\"01\"}");
    free(s);
}

static void
route_ping(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    (void) rq;
    lgspd_reply_json(rp, 200, "{\"status\":\"00\"}");
}

static void
dispatch(const lgspd_request_t *rq, lgspd_reply_t *rp)
{
    int path_known = 0;

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(rq->url, routes[i].path) != 0) {
            continue;
        }
        path_known = 1;
        if (strcmp(rq->method, routes[i].method) == 0) {
            routes[i].handler(rq, rp);
            return;
        }
    }
    if (path_known) {
        lgspd_reply_error(rp, 405, "method_not_allowed",
                          "method not allowed here");
    } else {
        lgspd_reply_error(rp, 404, "not_found", "no such resource");
    }
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
    conn_ctx_t          *ctx = *con_cls;
    lgspd_request_t      rq;
    lgspd_reply_t        rp;
    struct MHD_Response *resp;
    enum MHD_Result      ret;

    (void) cls;
    (void) version;

    if (ctx == NULL) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL) {
            return MHD_NO;
        }
        *con_cls = ctx;
        return MHD_YES;
    }

    if (*upload_size > 0) {
        if (!ctx->too_large && ctx->len + *upload_size <= LGSPD_BODY_MAX) {
            char *nb = realloc(ctx->body, ctx->len + *upload_size + 1);
            if (nb == NULL) {
                return MHD_NO;
            }
            ctx->body = nb;
            memcpy(ctx->body + ctx->len, upload, *upload_size);
            ctx->len += *upload_size;
            ctx->body[ctx->len] = '\0';
        } else {
            ctx->too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    memset(&rp, 0, sizeof(rp));
    if (ctx->too_large) {
        lgspd_reply_error(&rp, 413, "body_too_large",
                          "request body over 16384 bytes");
    } else {
        rq.conn = conn;
        rq.method = method;
        rq.url = url;
        rq.body = ctx->body ? ctx->body : "";
        rq.body_len = ctx->len;
        dispatch(&rq, &rp);
    }

    if (rp.body == NULL) {
        lgspd_reply_error(&rp, 500, "internal_error", "internal error");
    }
    resp = MHD_create_response_from_buffer(rp.body_len, rp.body,
                                           MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(rp.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", rp.content_type);
    for (int i = 0; i < 3 && rp.header_name[i]; i++) {
        MHD_add_response_header(resp, rp.header_name[i], rp.header_value[i]);
    }
    /* no-store unless the route says otherwise (the JWKS may be cached) */
    if (MHD_get_response_header(resp, "Cache-Control") == NULL) {
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
    ret = MHD_queue_response(conn, rp.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    conn_ctx_t *ctx = *con_cls;

    (void) cls;
    (void) conn;
    (void) toe;
    if (ctx != NULL) {
        if (ctx->body) {
            /* a token request body holds a client secret */
            explicit_bzero(ctx->body, ctx->len);
        }
        free(ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

int
lgspd_http_start(lgspd_t *d)
{
    struct sockaddr_un sun;
    int                fd;

    if (strlen(d->sock_path) >= sizeof(sun.sun_path)) {
        cp_err("%s: socket path too long", d->sock_path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cp_err("socket: %s", strerror(errno));
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, d->sock_path);

    /* a stale socket of a daemon that died: refuse only a live one */
    if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) == 0) {
        cp_err("%s: another lgspd is running", d->sock_path);
        close(fd);
        return -1;
    }
    unlink(d->sock_path);
    /* the nginx workers connect to it (/oauth/token, the JWKS, health):
     * their group has it through run/'s set-group-id bit, nobody else */
    if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0
        || chmod(d->sock_path, 0660) != 0
        || listen(fd, 512) != 0)
    {
        cp_err("%s: %s", d->sock_path, strerror(errno));
        close(fd);
        return -1;
    }
    d->listen_fd = fd;

    d->http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD
                               | MHD_USE_EPOLL,
                               0, NULL, NULL, on_request, d,
                               MHD_OPTION_LISTEN_SOCKET, fd,
                               MHD_OPTION_THREAD_POOL_SIZE, 2,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed,
                               NULL,
                               MHD_OPTION_CONNECTION_TIMEOUT, 30,
                               MHD_OPTION_END);
    if (d->http == NULL) {
        cp_err("%s: cannot start the HTTP server", d->sock_path);
        close(fd);
        unlink(d->sock_path);
        return -1;
    }
    return 0;
}

void
lgspd_http_stop(lgspd_t *d)
{
    if (d->http != NULL) {
        MHD_stop_daemon(d->http);
        d->http = NULL;
    }
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
        d->listen_fd = -1;
        unlink(d->sock_path);
    }
}
