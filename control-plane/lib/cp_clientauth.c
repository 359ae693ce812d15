#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <cjson/cJSON.h>

#include "cp_b64.h"
#include "cp_clientauth.h"
#include "cp_text.h"

/* the parameters we read; the others are ignored (RFC 6749 §3.2) */
enum { P_GRANT, P_ID, P_SECRET, P_N };

static const char *const param_names[P_N] = {
    "grant_type", "client_id", "client_secret",
};

typedef struct {
    char   *dst[P_N];
    size_t  size[P_N];
    int     seen[P_N];
} params_t;

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

int
cp_form_decode(const char *in, size_t len, char *out, size_t size)
{
    size_t n = 0;

    if (size == 0) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char) in[i];

        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;

            if (i + 2 >= len) {
                return -1;
            }
            hi = hexval((unsigned char) in[i + 1]);
            lo = hexval((unsigned char) in[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi << 4 | lo;
            i += 2;
        }
        if (c == '\0' || n + 1 >= size) {
            return -1;
        }
        out[n++] = (char) c;
    }
    out[n] = '\0';
    return 0;
}

static int
param_index(const char *name)
{
    for (int i = 0; i < P_N; i++) {
        if (strcmp(name, param_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* Store one parameter; an empty value counts as omitted. */
static int
param_set(params_t *p, int i, const char *value, size_t len,
          int form_encoded, const char **why)
{
    static const char *const too_long[P_N] = {
        "grant_type is too long", "client_id is too long",
        "client_secret is too long",
    };
    static const char *const bad[P_N] = {
        "grant_type is badly encoded", "client_id is badly encoded",
        "client_secret is badly encoded",
    };

    if (p->seen[i]) {
        *why = "a parameter is given more than once";
        return -1;
    }
    p->seen[i] = 1;
    if (form_encoded) {
        if (cp_form_decode(value, len, p->dst[i], p->size[i]) != 0) {
            *why = len >= p->size[i] ? too_long[i] : bad[i];
            return -1;
        }
        return 0;
    }
    if (len >= p->size[i]) {
        *why = too_long[i];
        return -1;
    }
    if (memchr(value, '\0', len) != NULL) {
        *why = bad[i];
        return -1;
    }
    memcpy(p->dst[i], value, len);
    p->dst[i][len] = '\0';
    return 0;
}

static int
parse_form(const char *body, size_t len, params_t *p, const char **why)
{
    const char *s = body, *end = body + len;
    char        name[32];

    while (s < end) {
        const char *amp = memchr(s, '&', (size_t) (end - s));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t) (pe - s));
        const char *ne = eq ? eq : pe;
        int         i;

        if (pe > s) {
            /* names longer than ours are someone else's parameters */
            if ((size_t) (ne - s) < sizeof(name)
                && cp_form_decode(s, (size_t) (ne - s), name, sizeof(name))
                   == 0
                && (i = param_index(name)) >= 0)
            {
                const char *v = eq ? eq + 1 : pe;

                if (param_set(p, i, v, (size_t) (pe - v), 1, why) != 0) {
                    return -1;
                }
            }
        }
        s = pe + (amp != NULL);
    }
    return 0;
}

static int
parse_json(const char *body, size_t len, params_t *p, const char **why)
{
    cJSON      *root, *item;
    const char *end = NULL;
    int         rc = 0;

    /* cJSON would cut a string at a NUL: "a\u0000b" must not pass as "a" */
    if (cp_json_nul(body, len) >= 0) {
        *why = "a parameter is badly encoded";
        return -1;
    }
    /* one JSON text: what follows the object is whitespace or nothing */
    root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    while (root != NULL && end < body + len
           && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
    {
        end++;
    }
    if (root == NULL || !cJSON_IsObject(root) || end != body + len) {
        cJSON_Delete(root);
        *why = "the body is not a JSON object";
        return -1;
    }
    cJSON_ArrayForEach(item, root) {
        int i = item->string ? param_index(item->string) : -1;

        if (i < 0) {
            continue;
        }
        if (!cJSON_IsString(item) || item->valuestring == NULL) {
            *why = "grant_type, client_id and client_secret must be strings";
            rc = -1;
            break;
        }
        if (param_set(p, i, item->valuestring, strlen(item->valuestring), 0,
                      why) != 0)
        {
            rc = -1;
            break;
        }
    }
    /* the parsed tree holds the secret too */
    cJSON_ArrayForEach(item, root) {
        if (cJSON_IsString(item) && item->valuestring != NULL) {
            OPENSSL_cleanse(item->valuestring, strlen(item->valuestring));
        }
    }
    cJSON_Delete(root);
    return rc;
}

/* "Basic token68" (RFC 7617) into id and secret, each form-urlencoded. */
static int
parse_basic(const char *authorization, cp_client_auth_t *ca, const char **why)
{
    unsigned char raw[2 * (CP_AUTH_ID_MAX + CP_AUTH_SECRET_MAX) + 8];
    const char   *s = authorization, *tok;
    const char   *colon;
    size_t        n, toklen;
    int           rc = -1;

    s += strspn(s, " \t");
    if (strncasecmp(s, "Basic", 5) != 0 || (s[5] != ' ' && s[5] != '\t')) {
        *why = "only the Basic authentication scheme is accepted here";
        return -1;
    }
    tok = s + 5 + strspn(s + 5, " \t");
    toklen = strcspn(tok, " \t");
    if (tok[toklen + strspn(tok + toklen, " \t")] != '\0' || toklen == 0) {
        *why = "malformed Basic credentials";
        return -1;
    }
    if (cp_b64_decode(tok, toklen, raw, sizeof(raw) - 1, &n) != 0) {
        *why = "Basic credentials are not valid base64";
        return -1;
    }
    colon = memchr(raw, ':', n);
    if (colon == NULL) {
        *why = "Basic credentials lack the ':' between id and secret";
        goto done;
    }
    if (cp_form_decode((const char *) raw, (size_t) (colon - (char *) raw),
                       ca->client_id, sizeof(ca->client_id)) != 0
        || cp_form_decode(colon + 1,
                          n - (size_t) (colon + 1 - (char *) raw),
                          ca->client_secret, sizeof(ca->client_secret)) != 0)
    {
        *why = "Basic credentials are badly encoded or too long";
        goto done;
    }
    if (ca->client_id[0] == '\0' || ca->client_secret[0] == '\0') {
        *why = "Basic credentials need a client id and a secret";
        goto done;
    }
    ca->method = CP_AUTH_BASIC;
    rc = 0;

done:
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

/* The media type of a Content-Type, without parameters, compared
 * case-insensitively (RFC 9110 §8.3.1). */
static int
media_type_is(const char *content_type, const char *want)
{
    const char *s = content_type + strspn(content_type, " \t");
    size_t      n = strcspn(s, ";");

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        n--;
    }
    return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

int
cp_client_auth_parse(const char *authorization, const char *content_type,
                     const char *body, size_t body_len,
                     cp_client_auth_t *ca, const char **why)
{
    char     body_id[CP_AUTH_ID_MAX + 1] = "";
    char     body_secret[CP_AUTH_SECRET_MAX + 1] = "";
    params_t p;
    int      json = 0, rc = -1;

    memset(ca, 0, sizeof(*ca));
    memset(&p, 0, sizeof(p));
    p.dst[P_GRANT] = ca->grant_type;
    p.size[P_GRANT] = sizeof(ca->grant_type);
    p.dst[P_ID] = body_id;
    p.size[P_ID] = sizeof(body_id);
    p.dst[P_SECRET] = body_secret;
    p.size[P_SECRET] = sizeof(body_secret);

    if (authorization != NULL && parse_basic(authorization, ca, why) != 0) {
        goto done;
    }

    if (body_len > 0 || content_type != NULL) {
        if (content_type == NULL) {
            *why = "a Content-Type is required";
            goto done;
        }
        if (media_type_is(content_type, "application/json")) {
            json = 1;
            if (parse_json(body, body_len, &p, why) != 0) {
                goto done;
            }
        } else if (media_type_is(content_type,
                                 "application/x-www-form-urlencoded"))
        {
            if (parse_form(body, body_len, &p, why) != 0) {
                goto done;
            }
        } else {
            *why = "Content-Type must be application/x-www-form-urlencoded"
                   " or application/json";
            goto done;
        }
    }

    if (ca->method == CP_AUTH_BASIC) {
        if (body_secret[0] != '\0') {
            *why = "more than one client authentication method";
            goto done;
        }
        /* some clients repeat the id in the body: harmless if the same */
        if (body_id[0] != '\0' && strcmp(body_id, ca->client_id) != 0) {
            *why = "client_id in the body differs from the Basic credentials";
            goto done;
        }
    } else if (body_id[0] != '\0' || body_secret[0] != '\0') {
        if (body_id[0] == '\0') {
            *why = "client_secret given without client_id";
            goto done;
        }
        if (body_secret[0] == '\0') {
            *why = "client_secret is missing";
            goto done;
        }
        memcpy(ca->client_id, body_id, sizeof(body_id));
        memcpy(ca->client_secret, body_secret, sizeof(body_secret));
        ca->method = json ? CP_AUTH_JSON : CP_AUTH_FORM;
    }
    rc = 0;

done:
    OPENSSL_cleanse(body_secret, sizeof(body_secret));
    if (rc != 0) {
        cp_client_auth_clear(ca);
    }
    return rc;
}

void
cp_client_auth_clear(cp_client_auth_t *ca)
{
    OPENSSL_cleanse(ca, sizeof(*ca));
}
