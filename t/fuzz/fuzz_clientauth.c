/*
 * libFuzzer driver for the token endpoint's client authentication
 * (cp_clientauth.c): Basic, form fields and JSON bodies.  The input reads
 * like the request lgspd gets:
 *
 *     Authorization: Basic YTpi
 *     Content-Type: application/x-www-form-urlencoded
 *
 *     grant_type=client_credentials&client_id=...
 *
 * header lines up to the first empty one (only those two names count, the
 * first of each, cut at a NUL as libmicrohttpd hands them over), then the
 * body, exactly sized.  Without an empty line there is no body.
 *
 * Checked: a refusal leaves nothing behind and gives a static reason; an
 * acceptance has every field terminated inside its array, an id exactly
 * when there is a secret, the method the request used, a JSON body that
 * is one JSON text and holds no NUL; and what was accepted, sent again in
 * each of the three shapes, is read back the same.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *       -Icontrol-plane/lib t/fuzz/fuzz_clientauth.c \
 *       control-plane/lib/cp_clientauth.c control-plane/lib/cp_b64.c \
 *       -lcjson -lcrypto -o fuzz_clientauth
 *   ./fuzz_clientauth -dict=t/fuzz/clientauth.dict t/fuzz/corpus/clientauth
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "cp_clientauth.h"


#define FUZZ_FORM  "application/x-www-form-urlencoded"
#define FUZZ_JSON  "application/json"


/* a header's value: malloc'd, NUL-terminated, or NULL when absent */
static char *
fuzz_header(const uint8_t *data, size_t hlen, const char *name)
{
    char           *v;
    size_t          n, k, e;
    const uint8_t  *p, *end, *nl;

    n = strlen(name);
    p = data;
    end = data + hlen;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        e = (size_t) ((nl ? nl : end) - p);

        if (e > n && p[n] == ':' && strncasecmp((const char *) p, name, n) == 0)
        {
            k = n + 1;

            while (k < e && (p[k] == ' ' || p[k] == '\t')) {
                k++;
            }

            v = malloc(e - k + 1);
            if (v == NULL) {
                abort();
            }

            memcpy(v, p + k, e - k);
            v[e - k] = '\0';

            return v;
        }

        p += e + 1;
    }

    return NULL;
}


/* the body was read as JSON: the media type, as cp_clientauth.c compares */
static int
fuzz_is_json(const char *ctype)
{
    size_t  n;

    if (ctype == NULL) {
        return 0;
    }

    ctype += strspn(ctype, " \t");
    n = strcspn(ctype, ";");

    while (n > 0 && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t')) {
        n--;
    }

    return n == sizeof(FUZZ_JSON) - 1
           && strncasecmp(ctype, FUZZ_JSON, n) == 0;
}


static void
fuzz_terminated(const char *s, size_t size)
{
    if (memchr(s, '\0', size) == NULL) {
        abort();
    }
}


static int
fuzz_zero(const void *p, size_t n)
{
    const uint8_t  *b = p;
    size_t          i;

    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }

    return 1;
}


/* form-urlencode s onto out at *n: every byte but the unreserved ones */
static void
fuzz_form_put(char *out, size_t *n, const char *s, int all)
{
    static const char  hex[] = "0123456789ABCDEF";
    unsigned char      c;

    for (; *s; s++) {
        c = (unsigned char) *s;

        if (all ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9') || c == '-' || c == '_'
                   || c == '.' || c == '~')
                : (c != '%' && c != '+' && c != ':'))
        {
            out[(*n)++] = (char) c;

        } else {
            out[(*n)++] = '%';
            out[(*n)++] = hex[c >> 4];
            out[(*n)++] = hex[c & 15];
        }
    }
}


static size_t
fuzz_b64(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t             i, n;
    unsigned           v;

    n = 0;

    for (i = 0; i < len; i += 3) {
        v = (unsigned) in[i] << 16;
        v |= (i + 1 < len) ? (unsigned) in[i + 1] << 8 : 0;
        v |= (i + 2 < len) ? in[i + 2] : 0;

        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = (i + 1 < len) ? a[(v >> 6) & 63] : '=';
        out[n++] = (i + 2 < len) ? a[v & 63] : '=';
    }

    out[n] = '\0';

    return n;
}


static void
fuzz_same(const cp_client_auth_t *a, const cp_client_auth_t *b,
    cp_auth_method_t method)
{
    if (b->method != method
        || strcmp(a->grant_type, b->grant_type) != 0
        || strcmp(a->client_id, b->client_id) != 0
        || strcmp(a->client_secret, b->client_secret) != 0)
    {
        abort();
    }
}


/* the accepted request, sent again as a form, as JSON and as Basic */
static void
fuzz_round_trip(const cp_client_auth_t *ca)
{
    int                rc;
    char              *body, *hdr, *json, *raw;
    size_t             n, m;
    cJSON             *o;
    const char        *why;
    cp_auth_method_t   creds;
    cp_client_auth_t   again;

    creds = ca->method == CP_AUTH_NONE ? CP_AUTH_NONE : CP_AUTH_FORM;

    body = malloc(3 * (sizeof(ca->grant_type) + sizeof(ca->client_id)
                       + sizeof(ca->client_secret)) + 64);
    if (body == NULL) {
        abort();
    }

    n = 0;
    memcpy(body + n, "grant_type=", 11);
    n += 11;
    fuzz_form_put(body, &n, ca->grant_type, 1);

    if (creds != CP_AUTH_NONE) {
        memcpy(body + n, "&client_id=", 11);
        n += 11;
        fuzz_form_put(body, &n, ca->client_id, 1);
        memcpy(body + n, "&client_secret=", 15);
        n += 15;
        fuzz_form_put(body, &n, ca->client_secret, 1);
    }

    rc = cp_client_auth_parse(NULL, FUZZ_FORM, body, n, &again, &why);
    if (rc != 0) {
        abort();
    }

    fuzz_same(ca, &again, creds);
    cp_client_auth_clear(&again);

    o = cJSON_CreateObject();
    if (o == NULL
        || cJSON_AddStringToObject(o, "grant_type", ca->grant_type) == NULL
        || (creds != CP_AUTH_NONE
            && (cJSON_AddStringToObject(o, "client_id", ca->client_id)
                == NULL
                || cJSON_AddStringToObject(o, "client_secret",
                                           ca->client_secret) == NULL)))
    {
        abort();
    }

    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);

    if (json == NULL) {
        abort();
    }

    rc = cp_client_auth_parse(NULL, FUZZ_JSON, json, strlen(json), &again,
                              &why);
    if (rc != 0) {
        abort();
    }

    fuzz_same(ca, &again, creds == CP_AUTH_NONE ? CP_AUTH_NONE
                                                : CP_AUTH_JSON);
    cp_client_auth_clear(&again);
    cJSON_free(json);

    if (creds == CP_AUTH_NONE) {
        free(body);
        return;
    }

    /* Basic: the id and secret form-urlencoded, only where they must be */
    raw = malloc(3 * (sizeof(ca->client_id) + sizeof(ca->client_secret)));
    hdr = malloc(4 * sizeof(ca->client_id) + 4 * sizeof(ca->client_secret)
                 + 32);
    if (raw == NULL || hdr == NULL) {
        abort();
    }

    m = 0;
    fuzz_form_put(raw, &m, ca->client_id, 0);
    raw[m++] = ':';
    fuzz_form_put(raw, &m, ca->client_secret, 0);

    /* what parse_basic has room for: 2 * (id + secret) + 7 bytes */
    if (m <= 2 * (CP_AUTH_ID_MAX + CP_AUTH_SECRET_MAX) + 7) {
        memcpy(hdr, "Basic ", 6);
        fuzz_b64((const unsigned char *) raw, m, hdr + 6);

        n = 0;
        memcpy(body + n, "grant_type=", 11);
        n += 11;
        fuzz_form_put(body, &n, ca->grant_type, 1);

        rc = cp_client_auth_parse(hdr, FUZZ_FORM, body, n, &again, &why);
        if (rc != 0) {
            abort();
        }

        fuzz_same(ca, &again, CP_AUTH_BASIC);
        cp_client_auth_clear(&again);
    }

    free(raw);
    free(hdr);
    free(body);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                rc;
    char              *authz, *ctype, *body, *text;
    size_t             hlen, blen;
    cJSON             *doc;
    const char        *why, *end;
    const uint8_t     *sep;
    cp_client_auth_t   ca;

    sep = size >= 2 ? memmem(data, size, "\n\n", 2) : NULL;
    hlen = sep ? (size_t) (sep - data) : size;
    blen = sep ? size - hlen - 2 : 0;

    authz = fuzz_header(data, hlen, "Authorization");
    ctype = fuzz_header(data, hlen, "Content-Type");

    /* exactly sized: lgspd's copy ends in a NUL, the parser must not care */
    body = malloc(blen ? blen : 1);
    if (body == NULL) {
        abort();
    }

    if (blen) {
        memcpy(body, sep + 2, blen);
    }

    why = NULL;
    rc = cp_client_auth_parse(authz, ctype, body, blen, &ca, &why);

    if (rc != 0) {
        /* a reason that quotes nothing of the request, and no leftovers */
        if (rc != -1 || why == NULL || !fuzz_zero(&ca, sizeof(ca))
            || (why >= body && why < body + blen)
            || (authz && why >= authz && why <= authz + strlen(authz))
            || (ctype && why >= ctype && why <= ctype + strlen(ctype)))
        {
            abort();
        }

        goto done;
    }

    fuzz_terminated(ca.grant_type, sizeof(ca.grant_type));
    fuzz_terminated(ca.client_id, sizeof(ca.client_id));
    fuzz_terminated(ca.client_secret, sizeof(ca.client_secret));

    switch (ca.method) {

    case CP_AUTH_NONE:
        if (ca.client_id[0] != '\0' || ca.client_secret[0] != '\0') {
            abort();
        }

        break;

    case CP_AUTH_BASIC:
        if (authz == NULL) {
            abort();
        }

        /* fall through */

    case CP_AUTH_FORM:
    case CP_AUTH_JSON:
        if (ca.client_id[0] == '\0' || ca.client_secret[0] == '\0') {
            abort();
        }

        break;

    default:
        abort();
    }

    if (authz != NULL && ca.method != CP_AUTH_BASIC) {
        abort();
    }

    if (fuzz_is_json(ctype)) {
        /* one JSON text and nothing after it, as a strict reader sees */
        text = malloc(blen + 1);
        if (text == NULL) {
            abort();
        }

        memcpy(text, body, blen);
        text[blen] = '\0';

        doc = cJSON_ParseWithLengthOpts(text, blen + 1, &end, 1);
        if (doc == NULL || memchr(body, '\0', blen) != NULL) {
            abort();
        }

        cJSON_Delete(doc);
        free(text);
    }

    fuzz_round_trip(&ca);
    cp_client_auth_clear(&ca);

done:

    free(authz);
    free(ctype);
    free(body);

    return 0;
}
