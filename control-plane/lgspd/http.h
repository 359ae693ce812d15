#ifndef LGSPD_HTTP_H
#define LGSPD_HTTP_H

#include <stddef.h>
#include <microhttpd.h>

/* What a route answers; body is malloc'd and freed by the server. */
typedef struct {
    unsigned int  status;
    char         *body;
    size_t        body_len;
    const char   *content_type;
    const char   *header_name[4];     /* extra headers, NULL-terminated */
    char          header_value[4][256];
} lgspd_reply_t;

typedef struct {
    struct MHD_Connection *conn;
    const char            *method;
    const char            *url;
    const char            *body;      /* the whole request body, bounded */
    size_t                 body_len;
} lgspd_request_t;

typedef void (*lgspd_route_pt)(const lgspd_request_t *rq, lgspd_reply_t *rp);

/* Set the reply to a JSON document (copied). */
void lgspd_reply_json(lgspd_reply_t *rp, unsigned int status,
                      const char *json);
/* Add one extra response header. */
void lgspd_reply_header(lgspd_reply_t *rp, const char *name,
                        const char *value);
/* The gateway's error envelope (SPEC §4). */
void lgspd_reply_error(lgspd_reply_t *rp, unsigned int status,
                       const char *error, const char *message);

/* The platform's own health (health.c): level 1 and level 2. */
void lgspd_route_health(const lgspd_request_t *rq, lgspd_reply_t *rp);
void lgspd_route_health_services(const lgspd_request_t *rq,
                                 lgspd_reply_t *rp);

#endif /* LGSPD_HTTP_H */
