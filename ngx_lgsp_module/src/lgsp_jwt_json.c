/*
 * LGSP: strict base64url and the strict JSON scanner of lgsp_jwt.c
 * (lgsp_jwt_json.h says why it is not cJSON).
 */

#include <limits.h>
#include <string.h>

#include "lgsp_jwt_json.h"


static int lgsp_jwt_hex4(const unsigned char *p, unsigned *out);
static size_t lgsp_jwt_utf8_len(const unsigned char *p,
    const unsigned char *end);
static lgsp_jwt_rc_e lgsp_jwt_json_literal(lgsp_jwt_json_t *js,
    const char *lit, size_t len);


/* -1: not in the base64url alphabet (RFC 4648 §5); '=' is refused too */
static const signed char  lgsp_jwt_b64url[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1
};


/* bytes a JSON string holds as they are: printable ASCII but '"' and '\\' */
static const unsigned char  lgsp_jwt_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};


/* base64url, RFC 4648 §5, without padding (RFC 7515 §2) */

size_t
lgsp_jwt_b64_decoded_len(size_t len)
{
    /* a remainder of 1 is invalid; the decoder says so, this only bounds */
    return len / 4 * 3 + (len % 4 == 3 ? 2 : len % 4 == 2 ? 1 : 0);
}


lgsp_jwt_rc_e
lgsp_jwt_b64_decode(const unsigned char *src, size_t len, unsigned char *dst,
    size_t *out_len)
{
    int             a, b, c, d;
    size_t          i, rest;
    unsigned char  *p;

    rest = len % 4;

    if (rest == 1) {
        return LGSP_JWT_MALFORMED;
    }

    p = dst;

    for (i = 0; i + 4 <= len; i += 4) {
        a = lgsp_jwt_b64url[src[i]];
        b = lgsp_jwt_b64url[src[i + 1]];
        c = lgsp_jwt_b64url[src[i + 2]];
        d = lgsp_jwt_b64url[src[i + 3]];

        if ((a | b | c | d) < 0) {
            return LGSP_JWT_MALFORMED;
        }

        *p++ = (unsigned char) (a << 2 | b >> 4);
        *p++ = (unsigned char) (b << 4 | c >> 2);
        *p++ = (unsigned char) (c << 6 | d);
    }

    /*
     * The unused low bits of the last character must be zero: otherwise
     * several spellings decode to one token, and the verified-token cache,
     * keyed by the token's bytes, would hold each of them.
     */

    if (rest >= 2) {
        a = lgsp_jwt_b64url[src[i]];
        b = lgsp_jwt_b64url[src[i + 1]];

        if ((a | b) < 0) {
            return LGSP_JWT_MALFORMED;
        }

        *p++ = (unsigned char) (a << 2 | b >> 4);

        if (rest == 2) {
            if (b & 0x0f) {
                return LGSP_JWT_MALFORMED;
            }

        } else {
            c = lgsp_jwt_b64url[src[i + 2]];

            if (c < 0 || (c & 0x03)) {
                return LGSP_JWT_MALFORMED;
            }

            *p++ = (unsigned char) (b << 4 | c >> 2);
        }
    }

    *out_len = p - dst;

    return LGSP_JWT_OK;
}


/* the strict JSON scanner (RFC 8259) */

void
lgsp_jwt_json_skip_ws(lgsp_jwt_json_t *js)
{
    while (js->pos < js->end
           && (*js->pos == ' ' || *js->pos == '\t' || *js->pos == '\n'
               || *js->pos == '\r'))
    {
        js->pos++;
    }
}


static int
lgsp_jwt_hex4(const unsigned char *p, unsigned *out)
{
    unsigned  i, v, c;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            c = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        v = v << 4 | c;
    }

    *out = v;

    return 0;
}


/*
 * Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t
lgsp_jwt_utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t         n, i;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = (c == 0xe0) ? 0xa0 : 0x80;
        hi = (c == 0xed) ? 0x9f : 0xbf;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = (c == 0xf0) ? 0x90 : 0x80;
        hi = (c == 0xf4) ? 0x8f : 0xbf;

    } else {
        return 0;
    }

    if ((size_t) (end - p) < n) {
        return 0;
    }

    if (p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


/*
 * Decodes the string at js->pos (on its opening quote) in place: every
 * escape is shorter than what it stands for, so the write position never
 * passes the read position.  All of RFC 8259's escapes are decoded, except
 * \u0000, refused because a NUL inside a claim would cut it short for any
 * C string consumer down the line (headers, logs).
 */
lgsp_jwt_rc_e
lgsp_jwt_json_string(lgsp_jwt_json_t *js, lgsp_jwt_str_t *out)
{
    size_t          n;
    unsigned        cp, lo;
    unsigned char  *r, *w, *start, c;

    r = js->pos + 1;
    start = r;

    /* the common case, a run with nothing to unescape: skipped in place */
    while (r < js->end && lgsp_jwt_plain[*r]) {
        r++;
    }

    w = r;

    for ( ;; ) {
        if (r >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        c = *r;

        if (c == '"') {
            break;
        }

        if (c < 0x20) {
            return LGSP_JWT_BAD_JSON;
        }

        if (c >= 0x80) {
            n = lgsp_jwt_utf8_len(r, js->end);
            if (n == 0) {
                return LGSP_JWT_BAD_JSON;
            }

            memmove(w, r, n);
            w += n;
            r += n;
            continue;
        }

        if (c != '\\') {
            *w++ = c;
            r++;
            continue;
        }

        if (js->end - r < 2) {
            return LGSP_JWT_BAD_JSON;
        }

        switch (r[1]) {
        case '"':  *w++ = '"';  r += 2; continue;
        case '\\': *w++ = '\\'; r += 2; continue;
        case '/':  *w++ = '/';  r += 2; continue;
        case 'b':  *w++ = '\b'; r += 2; continue;
        case 'f':  *w++ = '\f'; r += 2; continue;
        case 'n':  *w++ = '\n'; r += 2; continue;
        case 'r':  *w++ = '\r'; r += 2; continue;
        case 't':  *w++ = '\t'; r += 2; continue;
        case 'u':  break;
        default:   return LGSP_JWT_BAD_JSON;
        }

        if (js->end - r < 6 || lgsp_jwt_hex4(r + 2, &cp) != 0) {
            return LGSP_JWT_BAD_JSON;
        }

        r += 6;

        if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff)) {
            return LGSP_JWT_BAD_JSON;
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (js->end - r < 6 || r[0] != '\\' || r[1] != 'u'
                || lgsp_jwt_hex4(r + 2, &lo) != 0
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return LGSP_JWT_BAD_JSON;
            }

            r += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }

        if (cp < 0x80) {
            *w++ = (unsigned char) cp;

        } else if (cp < 0x800) {
            *w++ = (unsigned char) (0xc0 | cp >> 6);
            *w++ = (unsigned char) (0x80 | (cp & 0x3f));

        } else if (cp < 0x10000) {
            *w++ = (unsigned char) (0xe0 | cp >> 12);
            *w++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            *w++ = (unsigned char) (0x80 | (cp & 0x3f));

        } else {
            *w++ = (unsigned char) (0xf0 | cp >> 18);
            *w++ = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            *w++ = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            *w++ = (unsigned char) (0x80 | (cp & 0x3f));
        }
    }

    out->data = start;
    out->len = w - start;

    js->pos = r + 1;

    return LGSP_JWT_OK;
}


/* any RFC 8259 number, skipped: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
lgsp_jwt_rc_e
lgsp_jwt_json_number(lgsp_jwt_json_t *js)
{
    unsigned char  *p, *end;

    p = js->pos;
    end = js->end;

    if (p < end && *p == '-') {
        p++;
    }

    if (p >= end) {
        return LGSP_JWT_BAD_JSON;
    }

    if (*p == '0') {
        p++;

    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

    } else {
        return LGSP_JWT_BAD_JSON;
    }

    if (p < end && *p == '.') {
        p++;

        if (p >= end || *p < '0' || *p > '9') {
            return LGSP_JWT_BAD_JSON;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p >= end || *p < '0' || *p > '9') {
            return LGSP_JWT_BAD_JSON;
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    js->pos = p;

    return LGSP_JWT_OK;
}


/*
 * A NumericDate (RFC 7519 §2) as we accept it: a plain non-negative integer
 * that fits int64_t.  "1.5", "1e9", "-1" and 2^63 are refused, not rounded:
 * the issuer only ever writes integers.
 */
lgsp_jwt_rc_e
lgsp_jwt_json_int(lgsp_jwt_json_t *js, int64_t *out)
{
    int64_t         v;
    unsigned        d;
    unsigned char  *p, *end;

    p = js->pos;
    end = js->end;

    if (p >= end || *p < '0' || *p > '9') {
        return LGSP_JWT_BAD_CLAIM;
    }

    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') {
        return LGSP_JWT_BAD_JSON;
    }

    v = 0;

    while (p < end && *p >= '0' && *p <= '9') {
        d = *p - '0';

        if (v > (INT64_MAX - d) / 10) {
            return LGSP_JWT_BAD_CLAIM;
        }

        v = v * 10 + d;
        p++;
    }

    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return LGSP_JWT_BAD_CLAIM;
    }

    js->pos = p;
    *out = v;

    return LGSP_JWT_OK;
}


lgsp_jwt_rc_e
lgsp_jwt_json_literal(lgsp_jwt_json_t *js, const char *lit, size_t len)
{
    if ((size_t) (js->end - js->pos) < len
        || memcmp(js->pos, lit, len) != 0)
    {
        return LGSP_JWT_BAD_JSON;
    }

    js->pos += len;

    return LGSP_JWT_OK;
}


/*
 * Validates and steps over any value.  Member names inside nested objects
 * are not checked for duplicates: nothing is read from them.
 */
lgsp_jwt_rc_e
lgsp_jwt_json_skip_value(lgsp_jwt_json_t *js, unsigned depth)
{
    unsigned char   close;
    lgsp_jwt_rc_e   rc;
    lgsp_jwt_str_t  s;

    if (js->pos >= js->end) {
        return LGSP_JWT_BAD_JSON;
    }

    switch (*js->pos) {

    case '"':
        return lgsp_jwt_json_string(js, &s);

    case 't':
        return lgsp_jwt_json_literal(js, "true", 4);

    case 'f':
        return lgsp_jwt_json_literal(js, "false", 5);

    case 'n':
        return lgsp_jwt_json_literal(js, "null", 4);

    case '{':
    case '[':
        break;

    default:
        return lgsp_jwt_json_number(js);
    }

    if (depth >= LGSP_JWT_MAX_DEPTH) {
        return LGSP_JWT_BAD_JSON;
    }

    close = (*js->pos == '{') ? '}' : ']';
    js->pos++;

    lgsp_jwt_json_skip_ws(js);

    if (js->pos < js->end && *js->pos == close) {
        js->pos++;
        return LGSP_JWT_OK;
    }

    for ( ;; ) {
        if (close == '}') {
            if (js->pos >= js->end || *js->pos != '"') {
                return LGSP_JWT_BAD_JSON;
            }

            rc = lgsp_jwt_json_string(js, &s);
            if (rc != LGSP_JWT_OK) {
                return rc;
            }

            lgsp_jwt_json_skip_ws(js);

            if (js->pos >= js->end || *js->pos != ':') {
                return LGSP_JWT_BAD_JSON;
            }

            js->pos++;
            lgsp_jwt_json_skip_ws(js);
        }

        rc = lgsp_jwt_json_skip_value(js, depth + 1);
        if (rc != LGSP_JWT_OK) {
            return rc;
        }

        lgsp_jwt_json_skip_ws(js);

        if (js->pos >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        if (*js->pos == close) {
            js->pos++;
            return LGSP_JWT_OK;
        }

        if (*js->pos != ',') {
            return LGSP_JWT_BAD_JSON;
        }

        js->pos++;
        lgsp_jwt_json_skip_ws(js);
    }
}
