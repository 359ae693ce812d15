/*
 * The raw request path of a gateway call, judged as the client sent it
 * (r->unparsed_uri), before nginx's normalisation could hide an escape.
 */

#ifndef LGSP_PATH_H
#define LGSP_PATH_H

#include <stddef.h>

typedef enum {
    LGSP_PATH_OK = 0,
    LGSP_PATH_INVALID,          /* 400 invalid_path */
    LGSP_PATH_NO_ROUTE          /* 404 unknown_service: no such shape */
} lgsp_path_rc_e;

typedef struct {
    const char  *route;         /* "service/version" */
    size_t       route_len;
    size_t       service_len;   /* route[0 .. service_len) is the service */
    const char  *version;
    size_t       version_len;
    const char  *rest;          /* "" or "/..." exactly as received */
    size_t       rest_len;
    const char  *args;          /* after '?', exactly as received */
    size_t       args_len;
    int          has_args;
} lgsp_path_t;

/*
 * uri: the raw request target (path and query); prefix: the location's
 * name ("/api/"), which the raw path must start with literally.
 * Refused as invalid: "." or ".." segments, also once a ";..." path
 * parameter (';' raw or %3B) is dropped from them; '\', NUL, and the
 * encoded forms %2F %5C %2E %00 anywhere in the path; broken % escapes;
 * a '#' anywhere in the target, query included.
 */
lgsp_path_rc_e lgsp_path_parse(lgsp_path_t *p, const char *uri, size_t len,
    const char *prefix, size_t prefix_len);

/* X-LGSP-Request-Id: 1..64 of [A-Za-z0-9._:-]. */
int lgsp_request_id_valid(const char *id, size_t len);

#endif /* LGSP_PATH_H */
