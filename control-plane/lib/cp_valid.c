/* Shapes of identifiers, URLs, methods and limits typed by operators. */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cp_text.h"
#include "cp_util.h"
#include "cp_valid.h"

static int
lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
cp_valid_system_id(const char *s)
{
    size_t n = strlen(s);

    if (n < 2 || n > CP_SYSTEM_ID_MAX || !(s[0] >= 'a' && s[0] <= 'z')) {
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        if (!lower_alnum(s[i]) && s[i] != '-') {
            return -1;
        }
    }
    return 0;
}

int
cp_valid_service_code(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > CP_SERVICE_CODE_MAX || !lower_alnum(s[0])) {
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        if (!lower_alnum(s[i]) && s[i] != '-') {
            return -1;
        }
    }
    return 0;
}

int
cp_valid_version(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > CP_VERSION_MAX || !isalnum((unsigned char) s[0])) {
        return -1;
    }
    for (size_t i = 1; i < n; i++) {
        if (!isalnum((unsigned char) s[i]) && !strchr("._-", s[i])) {
            return -1;
        }
    }
    return 0;
}

int
cp_parse_route(const char *s, int allow_bare, char *code, char *version)
{
    const char *slash = strchr(s, '/');
    size_t      n = slash ? (size_t) (slash - s) : strlen(s);

    if (n > CP_SERVICE_CODE_MAX) {
        return -1;
    }
    memcpy(code, s, n);
    code[n] = '\0';
    if (cp_valid_service_code(code) != 0) {
        return -1;
    }
    if (slash == NULL) {
        version[0] = '\0';
        return allow_bare ? 0 : -1;
    }
    if (strlen(slash + 1) > CP_VERSION_MAX
        || cp_valid_version(slash + 1) != 0)
    {
        return -1;
    }
    strcpy(version, slash + 1);
    return 0;
}

int
cp_valid_url(const char *s, char *why, size_t size)
{
    const char *host;
    size_t      hl;

    if (strlen(s) > CP_URL_MAX) {
        snprintf(why, size, "longer than %d characters", CP_URL_MAX);
        return -1;
    }
    if (strncmp(s, "http://", 7) == 0) {
        host = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        host = s + 8;
    } else {
        snprintf(why, size, "must start with http:// or https://");
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char) *p <= 0x20 || *p == 0x7f) {
            snprintf(why, size, "has a space or control character");
            return -1;
        }
    }
    /* stored, listed and sent: the same bytes everywhere (RFC 3987) */
    if (!cp_utf8_valid(s, strlen(s), NULL)) {
        snprintf(why, size, "is not valid UTF-8");
        return -1;
    }
    hl = strcspn(host, "/?#");
    /* userinfo would put a credential in argv and in every listing */
    if (memchr(host, '@', hl) != NULL) {
        snprintf(why, size, "must not carry user:password@ (use"
                 " --upstream-header-file)");
        return -1;
    }
    if (hl == 0 || host[0] == ':') {
        snprintf(why, size, "has no host");
        return -1;
    }
    return 0;
}

int
cp_parse_methods(const char *s, char *out, size_t size, char *why,
                 size_t wsize)
{
    static const char *const known[] = {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    };
    char     tok[16];
    unsigned seen = 0;
    size_t   used = 0;

    if (*s == '\0') {
        snprintf(why, wsize, "no method given");
        return -1;
    }
    for (const char *p = s; ; ) {
        size_t n = strcspn(p, ",");
        size_t k;

        if (n == 0 || n >= sizeof(tok)) {
            snprintf(why, wsize, "\"%s\": an empty or unknown method", s);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            tok[i] = (char) toupper((unsigned char) p[i]);
        }
        tok[n] = '\0';
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            if (strcmp(tok, known[k]) == 0) {
                break;
            }
        }
        if (k == sizeof(known) / sizeof(known[0])) {
            snprintf(why, wsize, "unknown method \"%s\" (GET, HEAD, POST,"
                     " PUT, PATCH, DELETE, OPTIONS)", tok);
            return -1;
        }
        if (!(seen & (1u << k))) {
            seen |= 1u << k;
            if (used + n + 2 > size) {
                snprintf(why, wsize, "too many methods");
                return -1;
            }
            used += (size_t) snprintf(out + used, size - used, "%s%s",
                                      used ? "," : "", tok);
        }
        if (p[n] == '\0') {
            break;
        }
        p += n + 1;
    }
    return 0;
}

int
cp_parse_uint(const char *s, const char *suffix, long long max,
              long long *out)
{
    char      *end;
    long long  v;

    if (!isdigit((unsigned char) s[0])) {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v < 0 || v > max) {
        return -1;
    }
    if (*end != '\0' && (suffix == NULL || strcmp(end, suffix) != 0)) {
        return -1;
    }
    *out = v;
    return 0;
}

int
cp_parse_upstream_header(char *buf, char *out, size_t osize, char *why,
                         size_t size)
{
    static const char *const reserved[] = {
        "host", "content-length", "transfer-encoding", "connection",
        "upgrade", "te", "trailer", "keep-alive", "proxy-connection",
    };
    size_t  n = strlen(buf), nl;
    char   *colon, *v;

    /* one final newline (CRLF or LF) is what an editor leaves */
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '\r') {
            buf[--n] = '\0';
        }
    }
    colon = strchr(buf, ':');
    if (colon == NULL || colon == buf) {
        snprintf(why, size, "expected one line \"Name: value\"");
        return -1;
    }
    nl = (size_t) (colon - buf);
    for (size_t i = 0; i < nl; i++) {
        unsigned char c = (unsigned char) buf[i];
        if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c)) {
            snprintf(why, size, "the header name is not a token");
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == nl && strncasecmp(buf, reserved[i], nl) == 0)
        {
            snprintf(why, size, "the header \"%.*s\" is the gateway's own",
                     (int) nl, buf);
            return -1;
        }
    }
    if (nl >= 7 && strncasecmp(buf, "X-LGSP-", 7) == 0) {
        snprintf(why, size, "X-LGSP-* headers are the gateway's own");
        return -1;
    }
    v = colon + 1;
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    if (*v == '\0') {
        snprintf(why, size, "the header has no value");
        return -1;
    }
    for (char *p = v; *p; p++) {
        unsigned char c = (unsigned char) *p;
        /* a second line would be a second header (request smuggling) */
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(why, size, "expected one line \"Name: value\" with"
                     " no control characters");
            return -1;
        }
    }
    /* trailing blanks are not part of the value */
    for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');) {
        *--e = '\0';
    }
    if (cp_path(out, osize, "%.*s: %s", (int) nl, buf, v) != 0) {
        snprintf(why, size, "the header is too long");
        return -1;
    }
    return 0;
}

int
cp_valid_text(const char *s, size_t max, int flags, char *why, size_t size)
{
    size_t n = strlen(s), bad = 0;

    if (n == 0 || n > max) {
        snprintf(why, size, "must be 1 to %zu bytes long", max);
        return -1;
    }
    switch (cp_text_check(s, n, flags, &bad)) {
    case CP_TEXT_OK:
        return 0;
    case CP_TEXT_UTF8:
        snprintf(why, size, "is not valid UTF-8 (byte %zu)", bad + 1);
        return -1;
    default:
        snprintf(why, size, "has a control character (byte %zu)", bad + 1);
        return -1;
    }
}
