/*
 * libFuzzer driver for lgsp_path.c: the input is the raw request target
 * (r->unparsed_uri) as a client sends it.  Each verdict is checked against
 * a second, deliberately naive reading of the rule in lgsp_path.h (decode
 * every escape, cut each segment at its first ';', compare), so a target
 * the gateway lets through while a provider would climb out of {rest}
 * with it aborts, as does a refusal of a harmless one.  An accepted
 * target must also split into pieces that lie inside it and rebuild it.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ingx_lgsp_module/src \
 *       t/fuzz/fuzz_path.c ngx_lgsp_module/src/lgsp_path.c -o fuzz_path
 *   ./fuzz_path -dict=t/fuzz/path.dict t/fuzz/corpus/path
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp_path.h"


static const struct {
    const char  *name;
    size_t       len;
} fuzz_prefixes[] = {
    { "/api/", 5 },             /* the shipped location */
    { "/", 1 },
    { "/gw/v2/", 7 },
};


static int
fuzz_hex(uint8_t c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


/* the path part, decoded: 1 when some provider could read it as escaping */
static int
fuzz_model_unsafe(const uint8_t *s, size_t len)
{
    int       c, cut;
    size_t    i, seg, dots, other;

    for (i = 0; i < len; i++) {
        if (s[i] == '\\' || s[i] == '\0') {
            return 1;
        }

        if (s[i] == '%') {
            if (len - i < 3) {
                return 1;
            }

            if (fuzz_hex(s[i + 1]) < 0 || fuzz_hex(s[i + 2]) < 0) {
                return 1;
            }

            c = fuzz_hex(s[i + 1]) * 16 + fuzz_hex(s[i + 2]);

            if (c == '/' || c == '\\' || c == '.' || c == 0) {
                return 1;
            }
        }
    }

    /* every escape is whole now; each segment's name before its ';' */
    seg = 0;

    while (seg <= len) {
        dots = 0;
        other = 0;
        cut = 0;

        for (i = seg; i < len && s[i] != '/'; i++) {
            if (cut) {
                continue;
            }

            if (s[i] == ';') {
                cut = 1;

            } else if (s[i] == '%') {
                if (fuzz_hex(s[i + 1]) * 16 + fuzz_hex(s[i + 2]) == ';') {
                    cut = 1;

                } else {
                    other++;
                }

                i += 2;

            } else if (s[i] == '.') {
                dots++;

            } else {
                other++;
            }
        }

        if (other == 0 && (dots == 1 || dots == 2)) {
            return 1;
        }

        seg = i + 1;
    }

    return 0;
}


static int
fuzz_service_ok(const uint8_t *s, size_t n)
{
    size_t  i;

    if (n < 1 || n > 64 || s[0] == '-') {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
fuzz_version_ok(const uint8_t *s, size_t n)
{
    size_t  i;

    if (n < 1 || n > 32 || s[0] == '.' || s[0] == '_' || s[0] == '-') {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '.' || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static lgsp_path_rc_e
fuzz_model(const uint8_t *u, size_t len, const char *prefix,
    size_t prefix_len)
{
    size_t          path_len, i, svc, ver;
    const uint8_t  *q;

    if (memchr(u, '#', len) != NULL) {
        return LGSP_PATH_INVALID;
    }

    q = memchr(u, '?', len);
    path_len = q ? (size_t) (q - u) : len;

    if (fuzz_model_unsafe(u, path_len)) {
        return LGSP_PATH_INVALID;
    }

    if (path_len < prefix_len || memcmp(u, prefix, prefix_len) != 0) {
        return LGSP_PATH_INVALID;
    }

    svc = prefix_len;
    i = svc;

    while (i < path_len && u[i] != '/') {
        i++;
    }

    if (i == path_len || !fuzz_service_ok(u + svc, i - svc)) {
        return LGSP_PATH_NO_ROUTE;
    }

    ver = ++i;

    while (i < path_len && u[i] != '/') {
        i++;
    }

    if (!fuzz_version_ok(u + ver, i - ver)) {
        return LGSP_PATH_NO_ROUTE;
    }

    return LGSP_PATH_OK;
}


static void
fuzz_inside(const uint8_t *u, size_t len, const char *s, size_t n)
{
    if ((const uint8_t *) s < u || (const uint8_t *) s + n > u + len) {
        abort();
    }
}


static int
fuzz_model_request_id(const uint8_t *s, size_t n)
{
    size_t  i;

    if (n < 1 || n > 64) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == ':' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           k, path_len;
    uint8_t         *u;
    lgsp_path_t      p;
    lgsp_path_rc_e   rc, want;

    /* exactly sized: ASan sees a read past the target's last byte */
    u = malloc(size ? size : 1);
    if (u == NULL) {
        return 0;
    }

    memcpy(u, data, size);

    for (k = 0; k < sizeof(fuzz_prefixes) / sizeof(fuzz_prefixes[0]); k++) {
        rc = lgsp_path_parse(&p, (const char *) u, size,
                             fuzz_prefixes[k].name, fuzz_prefixes[k].len);
        want = fuzz_model(u, size, fuzz_prefixes[k].name,
                          fuzz_prefixes[k].len);

        if (rc != want) {
            abort();
        }

        if (rc != LGSP_PATH_OK) {
            continue;
        }

        /* the pieces: inside the target, in order, and nothing lost */
        path_len = p.has_args ? (size_t) (p.args - 1 - (const char *) u)
                              : size;

        fuzz_inside(u, size, p.route, p.route_len);
        fuzz_inside(u, size, p.version, p.version_len);

        if ((const uint8_t *) p.route != u + fuzz_prefixes[k].len
            || p.route_len != p.service_len + 1 + p.version_len
            || p.route[p.service_len] != '/'
            || p.version != p.route + p.service_len + 1)
        {
            abort();
        }

        if (p.rest_len == 0) {
            if (p.route + p.route_len != (const char *) u + path_len) {
                abort();
            }

        } else {
            fuzz_inside(u, size, p.rest, p.rest_len);

            if (p.rest != p.route + p.route_len || p.rest[0] != '/'
                || p.rest + p.rest_len != (const char *) u + path_len)
            {
                abort();
            }
        }

        if (p.has_args) {
            fuzz_inside(u, size, p.args, p.args_len);

            if (p.args[-1] != '?' || p.args + p.args_len
                                     != (const char *) u + size
                || memchr(u, '?', path_len) != NULL)
            {
                abort();
            }

        } else if (p.args_len != 0 || memchr(u, '?', size) != NULL) {
            abort();
        }
    }

    if (lgsp_request_id_valid((const char *) u, size)
        != fuzz_model_request_id(u, size))
    {
        abort();
    }

    free(u);

    return 0;
}
