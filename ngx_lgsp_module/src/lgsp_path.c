#include <string.h>

#include "lgsp_path.h"

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/*
 * A segment a provider would read as "." or "..".  Tomcat, Jetty and
 * Spring drop a path parameter (";..." to the end of the segment) before
 * resolving dot segments, so "..;x" climbs like "..": the name is what
 * precedes the first ';', raw or encoded as %3B (a stack that decodes
 * first and strips after sees the same), and its dots count raw or as %2E.
 * s[0 .. n) holds only well-formed escapes (path_is_safe checked them).
 */
static int
segment_is_dot(const char *s, size_t n)
{
    size_t dots = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == ';') {
            break;
        }
        if (s[i] == '%') {
            int c = hexval((unsigned char) s[i + 1]) * 16
                    + hexval((unsigned char) s[i + 2]);

            if (c == ';') {
                break;
            }
            if (c != '.') {
                return 0;
            }
            i += 2;
        } else if (s[i] != '.') {
            return 0;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

/* The path part must carry no way of climbing out of {rest}. */
static int
path_is_safe(const char *s, size_t len)
{
    size_t seg = 0;             /* start of the current segment */

    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            if (segment_is_dot(s + seg, i - seg)) {
                return 0;
            }
            seg = i + 1;
            continue;
        }
        if (s[i] == '\\' || s[i] == '\0') {
            return 0;
        }
        if (s[i] == '%') {
            int hi, lo, c;

            if (len - i < 3) {      /* a '%' needs two hex digits */
                return 0;
            }
            hi = hexval((unsigned char) s[i + 1]);
            lo = hexval((unsigned char) s[i + 2]);
            if (hi < 0 || lo < 0) {
                return 0;
            }
            c = hi * 16 + lo;
            if (c == '/' || c == '\\' || c == '.' || c == 0) {
                return 0;
            }
            i += 2;
        }
    }
    return 1;
}

static int
service_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int  ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || (c == '-' && i > 0);
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static int
version_ok(const char *s, size_t n)
{
    if (n < 1 || n > 32) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int  ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9')
                  || (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

lgsp_path_rc_e
lgsp_path_parse(lgsp_path_t *p, const char *uri, size_t len,
    const char *prefix, size_t prefix_len)
{
    const char *q, *path_end, *s, *slash;
    size_t      path_len;

    memset(p, 0, sizeof(*p));
    p->rest = "";
    p->args = "";

    /*
     * A fragment is never sent (RFC 9112 §3.2): nginx ends its own URI and
     * args at a '#', while {rest} and the query would carry it to the
     * provider raw, so the two would judge different targets.
     */
    if (memchr(uri, '#', len) != NULL) {
        return LGSP_PATH_INVALID;
    }

    q = memchr(uri, '?', len);
    path_end = q ? q : uri + len;
    path_len = (size_t) (path_end - uri);

    if (!path_is_safe(uri, path_len)) {
        return LGSP_PATH_INVALID;
    }
    if (q != NULL) {
        p->has_args = 1;
        p->args = q + 1;
        p->args_len = len - path_len - 1;
    }

    /* the location matched the normalised URI; the raw one must agree */
    if (path_len < prefix_len || memcmp(uri, prefix, prefix_len) != 0) {
        return LGSP_PATH_INVALID;
    }

    s = uri + prefix_len;
    slash = memchr(s, '/', (size_t) (path_end - s));
    if (slash == NULL || !service_ok(s, (size_t) (slash - s))) {
        return LGSP_PATH_NO_ROUTE;
    }
    p->route = s;
    p->service_len = (size_t) (slash - s);

    p->version = slash + 1;
    s = memchr(p->version, '/', (size_t) (path_end - p->version));
    p->version_len = (size_t) ((s ? s : path_end) - p->version);
    if (!version_ok(p->version, p->version_len)) {
        return LGSP_PATH_NO_ROUTE;
    }
    p->route_len = p->service_len + 1 + p->version_len;

    if (s != NULL) {
        p->rest = s;
        p->rest_len = (size_t) (path_end - s);
    }
    return LGSP_PATH_OK;
}

int
lgsp_request_id_valid(const char *id, size_t len)
{
    if (len < 1 || len > 64) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
              || c == '-'))
        {
            return 0;
        }
    }
    return 1;
}
