/*
 * LGSP: parsing compact JWS access tokens (the signature side is in
 * lgsp_jwt_crypto.c, the byte-level readers in lgsp_jwt_json.c).
 *
 * The JSON is read by a small strict scanner, not cJSON: cJSON allocates
 * a node per value on every call, and this runs for every request.  It
 * reads one flat object (the JOSE header or the claims), decodes strings
 * in place in the caller's scratch buffer, and skips values it does not
 * need, nested ones included, up to LGSP_JWT_MAX_DEPTH.
 *
 * Strictness is deliberate: the issuer (libjwt) and this verifier must never
 * read one token two ways.  Hence duplicate member names are refused after
 * their escapes are decoded ("\u0061lg" is "alg"), base64url must be
 * canonical, and numbers in time claims must be plain integers.
 */


#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp_jwt.h"
#include "lgsp_jwt_json.h"


typedef struct {
    lgsp_jwt_str_t          alg;
    lgsp_jwt_str_t          kid;
    lgsp_jwt_str_t          typ;
    unsigned                crit:1;
    unsigned                bad_type:1;
} lgsp_jwt_header_t;


typedef enum {
    LGSP_JWT_PART_HEADER,
    LGSP_JWT_PART_CLAIMS
} lgsp_jwt_part_e;


static lgsp_jwt_rc_e lgsp_jwt_json_object(lgsp_jwt_json_t *js,
    lgsp_jwt_part_e part, lgsp_jwt_header_t *hdr, lgsp_jwt_t *jwt);
static lgsp_jwt_rc_e lgsp_jwt_header_member(lgsp_jwt_json_t *js,
    const lgsp_jwt_str_t *name, lgsp_jwt_header_t *hdr);
static lgsp_jwt_rc_e lgsp_jwt_claims_member(lgsp_jwt_json_t *js,
    const lgsp_jwt_str_t *name, lgsp_jwt_t *jwt);
static lgsp_jwt_rc_e lgsp_jwt_parse_header(lgsp_jwt_t *jwt,
    unsigned char *buf, size_t len);
static lgsp_jwt_rc_e lgsp_jwt_parse_claims(lgsp_jwt_t *jwt,
    unsigned char *buf, size_t len);
static int lgsp_jwt_str_eq(const lgsp_jwt_str_t *s, const char *lit);
static int lgsp_jwt_str_same(const lgsp_jwt_str_t *a,
    const lgsp_jwt_str_t *b);




static const char  *lgsp_jwt_errors[LGSP_JWT_RC_MAX] = {
    [LGSP_JWT_OK]            = "ok",
    [LGSP_JWT_TOO_LONG]      = "token too long",
    [LGSP_JWT_MALFORMED]     = "token is not a compact JWS",
    [LGSP_JWT_NO_SPACE]      = "scratch buffer too small",
    [LGSP_JWT_BAD_JSON]      = "header or claims are not a strict JSON object",
    [LGSP_JWT_DUPLICATE]     = "duplicate member name",
    [LGSP_JWT_BAD_ALG]       = "algorithm missing, none or not supported",
    [LGSP_JWT_NO_KID]        = "no key id",
    [LGSP_JWT_BAD_HEADER]    = "unsupported or ill-typed header parameter",
    [LGSP_JWT_BAD_CLAIM]     = "claim of the wrong type or out of range",
    [LGSP_JWT_ALG_MISMATCH]  = "algorithm differs from the key's",
    [LGSP_JWT_BAD_KEY]       = "key unfit for the algorithm",
    [LGSP_JWT_BAD_SIGNATURE] = "bad signature",
    [LGSP_JWT_CRYPTO_ERROR]  = "crypto library failure",
    [LGSP_JWT_EXPIRED]       = "token expired",
    [LGSP_JWT_NOT_YET_VALID] = "token not yet valid",
    [LGSP_JWT_NO_EXP]        = "token has no expiry"
};


lgsp_jwt_rc_e
lgsp_jwt_parse(lgsp_jwt_t *jwt, const unsigned char *token, size_t len,
    unsigned char *scratch, size_t scratch_len)
{
    return lgsp_jwt_parse_claim(jwt, token, len, scratch, scratch_len,
                                NULL, 0);
}


lgsp_jwt_rc_e
lgsp_jwt_parse_claim(lgsp_jwt_t *jwt, const unsigned char *token, size_t len,
    unsigned char *scratch, size_t scratch_len, const char *name,
    size_t name_len)
{
    size_t                h_len, p_len, s_len, need, n;
    lgsp_jwt_rc_e         rc;
    unsigned char        *hdr, *claims, *sig;
    const unsigned char  *dot1, *dot2, *payload, *signature;

    memset(jwt, 0, sizeof(lgsp_jwt_t));

    if (name != NULL && name_len > 0) {
        jwt->claim_name.data = (const unsigned char *) name;
        jwt->claim_name.len = name_len;
    }

    if (len > LGSP_JWT_MAX_LEN) {
        return LGSP_JWT_TOO_LONG;
    }

    if (token == NULL || len == 0) {
        return LGSP_JWT_MALFORMED;
    }

    dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        return LGSP_JWT_MALFORMED;
    }

    payload = dot1 + 1;

    dot2 = memchr(payload, '.', token + len - payload);
    if (dot2 == NULL) {
        return LGSP_JWT_MALFORMED;
    }

    signature = dot2 + 1;

    /* a third dot is JWE or garbage: neither is an access token here */
    if (memchr(signature, '.', token + len - signature) != NULL) {
        return LGSP_JWT_MALFORMED;
    }

    h_len = dot1 - token;
    p_len = dot2 - payload;
    s_len = token + len - signature;

    if (h_len == 0 || p_len == 0) {
        return LGSP_JWT_MALFORMED;
    }

    need = lgsp_jwt_b64_decoded_len(h_len) + lgsp_jwt_b64_decoded_len(p_len)
           + lgsp_jwt_b64_decoded_len(s_len);

    if (scratch == NULL || need > scratch_len) {
        return LGSP_JWT_NO_SPACE;
    }

    /*
     * The header first, so that "alg":"none" and HS* tokens, often sent
     * with an empty signature, answer BAD_ALG rather than MALFORMED.
     */

    hdr = scratch;

    rc = lgsp_jwt_b64_decode(token, h_len, hdr, &n);
    if (rc != LGSP_JWT_OK) {
        goto failed;
    }

    rc = lgsp_jwt_parse_header(jwt, hdr, n);
    if (rc != LGSP_JWT_OK) {
        goto failed;
    }

    claims = hdr + n;

    rc = lgsp_jwt_b64_decode(payload, p_len, claims, &n);
    if (rc != LGSP_JWT_OK) {
        goto failed;
    }

    rc = lgsp_jwt_parse_claims(jwt, claims, n);
    if (rc != LGSP_JWT_OK) {
        goto failed;
    }

    sig = claims + n;

    rc = lgsp_jwt_b64_decode(signature, s_len, sig, &n);
    if (rc != LGSP_JWT_OK) {
        goto failed;
    }

    if (n == 0) {
        rc = LGSP_JWT_MALFORMED;
        goto failed;
    }

    jwt->sig = sig;
    jwt->sig_len = n;
    jwt->signing_input = token;
    jwt->signing_input_len = dot2 - token;

    return LGSP_JWT_OK;

failed:

    /* a half-filled result must never pass lgsp_jwt_verify() */
    jwt->alg = LGSP_JWT_ALG_UNKNOWN;
    jwt->sig = NULL;
    jwt->sig_len = 0;

    return rc;
}


static lgsp_jwt_rc_e
lgsp_jwt_parse_header(lgsp_jwt_t *jwt, unsigned char *buf, size_t len)
{
    lgsp_jwt_rc_e      rc;
    lgsp_jwt_json_t    js;
    lgsp_jwt_header_t  hdr;

    memset(&hdr, 0, sizeof(lgsp_jwt_header_t));

    js.pos = buf;
    js.end = buf + len;

    rc = lgsp_jwt_json_object(&js, LGSP_JWT_PART_HEADER, &hdr, NULL);
    if (rc != LGSP_JWT_OK) {
        return rc;
    }

    /*
     * Only the two algorithms the platform and the trusted issuers sign
     * with.  "none" and HS* are refused here already; lgsp_jwt_verify()
     * pins the algorithm per key on top of that.
     */

    if (lgsp_jwt_str_eq(&hdr.alg, "RS256")) {
        jwt->alg = LGSP_JWT_ALG_RS256;

    } else if (lgsp_jwt_str_eq(&hdr.alg, "ES256")) {
        jwt->alg = LGSP_JWT_ALG_ES256;

    } else {
        return LGSP_JWT_BAD_ALG;
    }

    if (hdr.bad_type) {
        return LGSP_JWT_BAD_HEADER;
    }

    /* keys are looked up by kid only: without one there is nothing to try */
    if (hdr.kid.data == NULL || hdr.kid.len == 0) {
        return LGSP_JWT_NO_KID;
    }

    /* RFC 7515 §4.1.11: we understand no extension, so any crit is fatal */
    if (hdr.crit) {
        return LGSP_JWT_BAD_HEADER;
    }

    jwt->kid = hdr.kid;
    jwt->typ = hdr.typ;

    return LGSP_JWT_OK;
}


static lgsp_jwt_rc_e
lgsp_jwt_parse_claims(lgsp_jwt_t *jwt, unsigned char *buf, size_t len)
{
    lgsp_jwt_json_t  js;

    js.pos = buf;
    js.end = buf + len;

    return lgsp_jwt_json_object(&js, LGSP_JWT_PART_CLAIMS, NULL, jwt);
}




lgsp_jwt_rc_e
lgsp_jwt_check_time(const lgsp_jwt_t *jwt, int64_t now, int64_t skew)
{
    int64_t  limit;

    if (!jwt->has_exp) {
        return LGSP_JWT_NO_EXP;
    }

    if (skew < 0) {
        skew = 0;
    }

    /* exp and nbf are >= 0 (parse refuses negatives); saturate, not wrap */

    if (__builtin_add_overflow(jwt->exp, skew, &limit)) {
        limit = INT64_MAX;
    }

    if (limit < now) {
        return LGSP_JWT_EXPIRED;
    }

    if (jwt->has_nbf) {
        if (__builtin_add_overflow(now, skew, &limit)) {
            limit = INT64_MAX;
        }

        if (jwt->nbf > limit) {
            return LGSP_JWT_NOT_YET_VALID;
        }
    }

    return LGSP_JWT_OK;
}


int
lgsp_jwt_has_aud(const lgsp_jwt_t *jwt, const char *aud, size_t len)
{
    unsigned  i;

    for (i = 0; i < jwt->naud && i < LGSP_JWT_MAX_AUD; i++) {
        if (jwt->aud[i].len == len
            && memcmp(jwt->aud[i].data, aud, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}




const char *
lgsp_jwt_strerror(lgsp_jwt_rc_e rc)
{
    if ((unsigned) rc >= LGSP_JWT_RC_MAX) {
        return "unknown error";
    }

    return lgsp_jwt_errors[rc];
}


const char *
lgsp_jwt_alg_name(lgsp_jwt_alg_e alg)
{
    switch (alg) {
    case LGSP_JWT_ALG_RS256:
        return "RS256";
    case LGSP_JWT_ALG_ES256:
        return "ES256";
    default:
        return "unknown";
    }
}




/*
 * The top-level object of the header or of the claims, and nothing after
 * it but whitespace.  Member names are kept (they live in the scratch
 * buffer, decoded) to refuse duplicates: RFC 7515 §5.2 lets a parser either
 * refuse them or take the last one, and the issuer's parser may take the
 * first, so the only safe reading is none.
 */
static lgsp_jwt_rc_e
lgsp_jwt_json_object(lgsp_jwt_json_t *js, lgsp_jwt_part_e part,
    lgsp_jwt_header_t *hdr, lgsp_jwt_t *jwt)
{
    unsigned        i, n;
    lgsp_jwt_rc_e   rc;
    lgsp_jwt_str_t  names[LGSP_JWT_MAX_MEMBERS];

    lgsp_jwt_json_skip_ws(js);

    if (js->pos >= js->end || *js->pos != '{') {
        return LGSP_JWT_BAD_JSON;
    }

    js->pos++;
    lgsp_jwt_json_skip_ws(js);

    n = 0;

    if (js->pos < js->end && *js->pos == '}') {
        js->pos++;
        goto end;
    }

    for ( ;; ) {
        if (js->pos >= js->end || *js->pos != '"') {
            return LGSP_JWT_BAD_JSON;
        }

        if (n == LGSP_JWT_MAX_MEMBERS) {
            return LGSP_JWT_BAD_JSON;
        }

        rc = lgsp_jwt_json_string(js, &names[n]);
        if (rc != LGSP_JWT_OK) {
            return rc;
        }

        for (i = 0; i < n; i++) {
            if (names[i].len == names[n].len
                && memcmp(names[i].data, names[n].data, names[n].len) == 0)
            {
                return LGSP_JWT_DUPLICATE;
            }
        }

        lgsp_jwt_json_skip_ws(js);

        if (js->pos >= js->end || *js->pos != ':') {
            return LGSP_JWT_BAD_JSON;
        }

        js->pos++;
        lgsp_jwt_json_skip_ws(js);

        /* the member handlers look at the value's first byte */
        if (js->pos >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        if (part == LGSP_JWT_PART_HEADER) {
            rc = lgsp_jwt_header_member(js, &names[n], hdr);

        } else {
            rc = lgsp_jwt_claims_member(js, &names[n], jwt);
        }

        if (rc != LGSP_JWT_OK) {
            return rc;
        }

        n++;

        lgsp_jwt_json_skip_ws(js);

        if (js->pos >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        if (*js->pos == '}') {
            js->pos++;
            break;
        }

        if (*js->pos != ',') {
            return LGSP_JWT_BAD_JSON;
        }

        js->pos++;
        lgsp_jwt_json_skip_ws(js);
    }

end:

    lgsp_jwt_json_skip_ws(js);

    if (js->pos != js->end) {
        return LGSP_JWT_BAD_JSON;
    }

    return LGSP_JWT_OK;
}


/*
 * A header parameter of the wrong type is noted, not refused at once, so
 * that a bad "alg" is reported as such wherever it stands in the object.
 */
static lgsp_jwt_rc_e
lgsp_jwt_header_member(lgsp_jwt_json_t *js, const lgsp_jwt_str_t *name,
    lgsp_jwt_header_t *hdr)
{
    lgsp_jwt_str_t  *dst;

    if (lgsp_jwt_str_eq(name, "alg")) {
        dst = &hdr->alg;

    } else if (lgsp_jwt_str_eq(name, "kid")) {
        dst = &hdr->kid;

    } else if (lgsp_jwt_str_eq(name, "typ")) {
        dst = &hdr->typ;

    } else {
        if (lgsp_jwt_str_eq(name, "crit")) {
            hdr->crit = 1;
        }

        return lgsp_jwt_json_skip_value(js, 0);
    }

    if (*js->pos != '"') {
        /* alg stays absent, which parse reports as BAD_ALG */
        if (dst != &hdr->alg) {
            hdr->bad_type = 1;
        }

        return lgsp_jwt_json_skip_value(js, 0);
    }

    return lgsp_jwt_json_string(js, dst);
}


static lgsp_jwt_rc_e
lgsp_jwt_claims_member(lgsp_jwt_json_t *js, const lgsp_jwt_str_t *name,
    lgsp_jwt_t *jwt)
{
    int64_t         *num;
    unsigned         total;
    lgsp_jwt_rc_e    rc;
    lgsp_jwt_str_t  *dst, s;

    dst = NULL;
    num = NULL;

    if (lgsp_jwt_str_eq(name, "iss")) {
        dst = &jwt->iss;

    } else if (lgsp_jwt_str_eq(name, "sub")) {
        dst = &jwt->sub;

    } else if (lgsp_jwt_str_eq(name, "client_id")) {
        dst = &jwt->client_id;

    } else if (lgsp_jwt_str_eq(name, "org")) {
        dst = &jwt->org;

    } else if (lgsp_jwt_str_eq(name, "jti")) {
        dst = &jwt->jti;

    } else if (lgsp_jwt_str_eq(name, "exp")) {
        num = &jwt->exp;
        jwt->has_exp = 1;

    } else if (lgsp_jwt_str_eq(name, "nbf")) {
        num = &jwt->nbf;
        jwt->has_nbf = 1;

    } else if (lgsp_jwt_str_eq(name, "iat")) {
        num = &jwt->iat;
        jwt->has_iat = 1;

    } else if (lgsp_jwt_str_same(name, &jwt->claim_name)) {
        dst = &jwt->claim;

    } else if (!lgsp_jwt_str_eq(name, "aud")) {
        return lgsp_jwt_json_skip_value(js, 0);
    }

    if (dst) {
        if (*js->pos != '"') {
            return LGSP_JWT_BAD_CLAIM;
        }

        rc = lgsp_jwt_json_string(js, dst);

        /* the asked-for claim may be one of the known ones ("client_id") */
        if (rc == LGSP_JWT_OK && dst != &jwt->claim
            && lgsp_jwt_str_same(name, &jwt->claim_name))
        {
            jwt->claim = *dst;
        }

        return rc;
    }

    if (num) {
        return lgsp_jwt_json_int(js, num);
    }

    /* "aud": RFC 7519 §4.1.3 allows one string or an array of them */

    if (*js->pos == '"') {
        rc = lgsp_jwt_json_string(js, &jwt->aud[0]);
        jwt->naud = 1;
        return rc;
    }

    if (*js->pos != '[') {
        return LGSP_JWT_BAD_CLAIM;
    }

    js->pos++;
    lgsp_jwt_json_skip_ws(js);

    if (js->pos < js->end && *js->pos == ']') {
        js->pos++;
        return LGSP_JWT_OK;
    }

    total = 0;

    for ( ;; ) {
        if (js->pos >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        if (*js->pos != '"') {
            return LGSP_JWT_BAD_CLAIM;
        }

        /* past LGSP_JWT_MAX_AUD: validated, never matched (fails closed) */
        dst = (total < LGSP_JWT_MAX_AUD) ? &jwt->aud[total] : &s;

        rc = lgsp_jwt_json_string(js, dst);
        if (rc != LGSP_JWT_OK) {
            return rc;
        }

        total++;

        lgsp_jwt_json_skip_ws(js);

        if (js->pos >= js->end) {
            return LGSP_JWT_BAD_JSON;
        }

        if (*js->pos == ']') {
            js->pos++;
            break;
        }

        if (*js->pos != ',') {
            return LGSP_JWT_BAD_JSON;
        }

        js->pos++;
        lgsp_jwt_json_skip_ws(js);
    }

    jwt->naud = (total < LGSP_JWT_MAX_AUD) ? total : LGSP_JWT_MAX_AUD;

    return LGSP_JWT_OK;
}


static int
lgsp_jwt_str_same(const lgsp_jwt_str_t *a, const lgsp_jwt_str_t *b)
{
    return a->data != NULL && b->data != NULL && a->len == b->len
           && memcmp(a->data, b->data, a->len) == 0;
}


static int
lgsp_jwt_str_eq(const lgsp_jwt_str_t *s, const char *lit)
{
    size_t  len;

    len = strlen(lit);

    return s->data != NULL && s->len == len
           && memcmp(s->data, lit, len) == 0;
}
