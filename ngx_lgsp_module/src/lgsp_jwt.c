/*
 * LGSP: verification of compact JWS access tokens.
 *
 * The JSON here is a small strict scanner, not cJSON: cJSON allocates a node
 * per value on every call, and this runs for every request.  It reads one
 * flat object (the JOSE header or the claims), decodes strings in place in
 * the caller's scratch buffer, and skips values it does not need, nested
 * ones included, up to LGSP_JWT_MAX_DEPTH.
 *
 * Strictness is deliberate: the issuer (libjwt) and this verifier must never
 * read one token two ways.  Hence duplicate member names are refused after
 * their escapes are decoded ("\u0061lg" is "alg"), base64url must be
 * canonical, and numbers in time claims must be plain integers.
 */


#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "lgsp_jwt.h"


#define LGSP_JWT_RSA_MIN_BITS    2048
#define LGSP_JWT_RSA_MAX_BITS    8192
#define LGSP_JWT_ES256_SIG_LEN   64


typedef struct {
    unsigned char          *pos;
    unsigned char          *end;
} lgsp_jwt_json_t;


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


static size_t lgsp_jwt_b64_decoded_len(size_t len);
static lgsp_jwt_rc_e lgsp_jwt_b64_decode(const unsigned char *src, size_t len,
    unsigned char *dst, size_t *out_len);
static void lgsp_jwt_json_skip_ws(lgsp_jwt_json_t *js);
static lgsp_jwt_rc_e lgsp_jwt_json_string(lgsp_jwt_json_t *js,
    lgsp_jwt_str_t *out);
static lgsp_jwt_rc_e lgsp_jwt_json_number(lgsp_jwt_json_t *js);
static lgsp_jwt_rc_e lgsp_jwt_json_int(lgsp_jwt_json_t *js, int64_t *out);
static lgsp_jwt_rc_e lgsp_jwt_json_skip_value(lgsp_jwt_json_t *js,
    unsigned depth);
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
lgsp_jwt_verify(const lgsp_jwt_t *jwt, EVP_PKEY *key,
    lgsp_jwt_alg_e pinned_alg)
{
    int                   ok;
    size_t                sig_len;
    EVP_MD_CTX           *md;
    lgsp_jwt_rc_e         rc;
    EVP_PKEY_CTX         *pctx;
    unsigned char         der[LGSP_JWT_ES256_DER_MAX];
    const unsigned char  *sig;

    /*
     * Before anything else: the key decides the algorithm.  This is what
     * makes an HS256 token "signed" with the PEM of an RSA public key
     * worthless (the libjwt alg-confusion pitfall).
     */
    if (jwt == NULL
        || jwt->alg == LGSP_JWT_ALG_UNKNOWN
        || jwt->alg != pinned_alg)
    {
        return LGSP_JWT_ALG_MISMATCH;
    }

    if (key == NULL || jwt->sig == NULL) {
        return key == NULL ? LGSP_JWT_BAD_KEY : LGSP_JWT_BAD_SIGNATURE;
    }

    switch (pinned_alg) {

    case LGSP_JWT_ALG_RS256:
        if (!EVP_PKEY_is_a(key, "RSA")) {
            return LGSP_JWT_BAD_KEY;
        }

        /* RFC 7518 §3.3: the signature is exactly the modulus length */
        if (jwt->sig_len != (size_t) EVP_PKEY_get_size(key)) {
            return LGSP_JWT_BAD_SIGNATURE;
        }

        sig = jwt->sig;
        sig_len = jwt->sig_len;
        break;

    case LGSP_JWT_ALG_ES256:
        if (!EVP_PKEY_is_a(key, "EC")) {
            return LGSP_JWT_BAD_KEY;
        }

        /* RFC 7518 §3.4: fixed-width r || s, never DER on the wire */
        if (jwt->sig_len != LGSP_JWT_ES256_SIG_LEN) {
            return LGSP_JWT_BAD_SIGNATURE;
        }

        sig_len = lgsp_jwt_es256_sig_to_der(jwt->sig, der);
        sig = der;
        break;

    default:
        return LGSP_JWT_ALG_MISMATCH;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        rc = LGSP_JWT_CRYPTO_ERROR;
        goto done;
    }

    pctx = NULL;

    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) != 1) {
        rc = LGSP_JWT_CRYPTO_ERROR;
        goto done;
    }

    /* PKCS#1 v1.5 is the default today; say it so a provider cannot differ */
    if (pinned_alg == LGSP_JWT_ALG_RS256
        && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
    {
        rc = LGSP_JWT_CRYPTO_ERROR;
        goto done;
    }

    ok = EVP_DigestVerify(md, sig, sig_len, jwt->signing_input,
                          jwt->signing_input_len);

    rc = (ok == 1) ? LGSP_JWT_OK : LGSP_JWT_BAD_SIGNATURE;

done:

    EVP_MD_CTX_free(md);

    /*
     * A refused signature leaves errors on the thread's queue; nginx would
     * report them later against an unrelated TLS connection.
     */
    if (rc != LGSP_JWT_OK) {
        ERR_clear_error();
    }

    return rc;
}


struct lgsp_jwt_verifier_s {
    EVP_PKEY_CTX          *ctx;
    lgsp_jwt_alg_e         alg;
    size_t                 rsa_size;
};


/* fetched once per process: the implicit fetch of EVP_sha256() takes a
 * lock on every call */
static EVP_MD  *lgsp_jwt_sha256;


lgsp_jwt_verifier_t *
lgsp_jwt_verifier_new(EVP_PKEY *key, lgsp_jwt_alg_e alg)
{
    lgsp_jwt_verifier_t  *v;

    if (key == NULL
        || (alg == LGSP_JWT_ALG_RS256 && !EVP_PKEY_is_a(key, "RSA"))
        || (alg == LGSP_JWT_ALG_ES256 && !EVP_PKEY_is_a(key, "EC"))
        || (alg != LGSP_JWT_ALG_RS256 && alg != LGSP_JWT_ALG_ES256))
    {
        return NULL;
    }

    if (lgsp_jwt_sha256 == NULL) {
        lgsp_jwt_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (lgsp_jwt_sha256 == NULL) {
            return NULL;
        }
    }

    v = calloc(1, sizeof(lgsp_jwt_verifier_t));
    if (v == NULL) {
        return NULL;
    }

    v->alg = alg;
    v->rsa_size = alg == LGSP_JWT_ALG_RS256 ? (size_t) EVP_PKEY_get_size(key)
                                            : 0;
    v->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);

    if (v->ctx == NULL
        || EVP_PKEY_verify_init(v->ctx) != 1
        || EVP_PKEY_CTX_set_signature_md(v->ctx, lgsp_jwt_sha256) != 1
        || (alg == LGSP_JWT_ALG_RS256
            && EVP_PKEY_CTX_set_rsa_padding(v->ctx, RSA_PKCS1_PADDING) != 1))
    {
        lgsp_jwt_verifier_free(v);
        ERR_clear_error();
        return NULL;
    }

    return v;
}


void
lgsp_jwt_verifier_free(lgsp_jwt_verifier_t *v)
{
    if (v != NULL) {
        EVP_PKEY_CTX_free(v->ctx);
        free(v);
    }
}


lgsp_jwt_rc_e
lgsp_jwt_verify_prepared(const lgsp_jwt_t *jwt, lgsp_jwt_verifier_t *v)
{
    size_t                sig_len;
    unsigned int          digest_len;
    unsigned char         digest[EVP_MAX_MD_SIZE];
    unsigned char         der[LGSP_JWT_ES256_DER_MAX];
    const unsigned char  *sig;

    /* the key decides the algorithm, before anything else (as above) */
    if (jwt == NULL || v == NULL
        || jwt->alg == LGSP_JWT_ALG_UNKNOWN || jwt->alg != v->alg)
    {
        return v == NULL ? LGSP_JWT_BAD_KEY : LGSP_JWT_ALG_MISMATCH;
    }

    if (jwt->sig == NULL) {
        return LGSP_JWT_BAD_SIGNATURE;
    }

    if (v->alg == LGSP_JWT_ALG_RS256) {
        if (jwt->sig_len != v->rsa_size) {
            return LGSP_JWT_BAD_SIGNATURE;
        }

        sig = jwt->sig;
        sig_len = jwt->sig_len;

    } else {
        if (jwt->sig_len != LGSP_JWT_ES256_SIG_LEN) {
            return LGSP_JWT_BAD_SIGNATURE;
        }

        sig_len = lgsp_jwt_es256_sig_to_der(jwt->sig, der);
        sig = der;
    }

    if (EVP_Digest(jwt->signing_input, jwt->signing_input_len, digest,
                   &digest_len, lgsp_jwt_sha256, NULL) != 1)
    {
        ERR_clear_error();
        return LGSP_JWT_CRYPTO_ERROR;
    }

    if (EVP_PKEY_verify(v->ctx, sig, sig_len, digest, digest_len) != 1) {
        ERR_clear_error();
        return LGSP_JWT_BAD_SIGNATURE;
    }

    return LGSP_JWT_OK;
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


EVP_PKEY *
lgsp_jwt_key_from_der(const unsigned char *der, size_t len,
    lgsp_jwt_alg_e *alg_out)
{
    int                   bits;
    char                  group[64];
    size_t                group_len;
    EVP_PKEY             *key;
    lgsp_jwt_alg_e        alg;
    const unsigned char  *p;

    if (der == NULL || len == 0 || len > LONG_MAX) {
        return NULL;
    }

    p = der;

    key = d2i_PUBKEY(NULL, &p, (long) len);
    if (key == NULL) {
        goto failed;
    }

    /* the snapshot carries exactly one key per entry: trailing bytes lie */
    if (p != der + len) {
        goto failed;
    }

    /* "RSA" is rsaEncryption only: RSA-PSS keys are not RS256 keys */
    if (EVP_PKEY_is_a(key, "RSA")) {
        bits = EVP_PKEY_get_bits(key);

        /* the top bound keeps one forged token from costing a worker ms */
        if (bits < LGSP_JWT_RSA_MIN_BITS || bits > LGSP_JWT_RSA_MAX_BITS) {
            goto failed;
        }

        alg = LGSP_JWT_ALG_RS256;

    } else if (EVP_PKEY_is_a(key, "EC")) {
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, sizeof(group), &group_len)
            != 1)
        {
            goto failed;
        }

        if (strcmp(group, "prime256v1") != 0) {
            goto failed;
        }

        alg = LGSP_JWT_ALG_ES256;

    } else {
        goto failed;
    }

    if (alg_out) {
        *alg_out = alg;
    }

    return key;

failed:

    EVP_PKEY_free(key);
    ERR_clear_error();

    return NULL;
}


size_t
lgsp_jwt_es256_sig_to_der(const unsigned char raw[64],
    unsigned char der[LGSP_JWT_ES256_DER_MAX])
{
    size_t                i, n, len, pad;
    unsigned char        *p;
    const unsigned char  *half;

    /*
     * Written out rather than through ECDSA_SIG + BIGNUMs: the same DER,
     * but no allocation per request.  Each half is an unsigned big-endian
     * INTEGER: drop leading zeros, keep one byte, add 0x00 if the top bit
     * is set so it stays positive.
     */

    p = der + 2;

    for (i = 0; i < 2; i++) {
        half = raw + 32 * i;
        n = 32;

        while (n > 1 && *half == 0) {
            half++;
            n--;
        }

        pad = (*half & 0x80) ? 1 : 0;

        *p++ = 0x02;
        *p++ = (unsigned char) (n + pad);

        if (pad) {
            *p++ = 0x00;
        }

        memcpy(p, half, n);
        p += n;
    }

    /* at most 2 * 35 = 70 content bytes: always the short length form */
    len = p - der;

    der[0] = 0x30;
    der[1] = (unsigned char) (len - 2);

    return len;
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


/* base64url, RFC 4648 §5, without padding (RFC 7515 §2) */

static size_t
lgsp_jwt_b64_decoded_len(size_t len)
{
    /* a remainder of 1 is invalid; the decoder says so, this only bounds */
    return len / 4 * 3 + (len % 4 == 3 ? 2 : len % 4 == 2 ? 1 : 0);
}


static lgsp_jwt_rc_e
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

static void
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
static lgsp_jwt_rc_e
lgsp_jwt_json_string(lgsp_jwt_json_t *js, lgsp_jwt_str_t *out)
{
    size_t          n;
    unsigned        cp, lo;
    unsigned char  *r, *w, *start, c;

    r = js->pos + 1;
    w = r;
    start = r;

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
static lgsp_jwt_rc_e
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
static lgsp_jwt_rc_e
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


static lgsp_jwt_rc_e
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
static lgsp_jwt_rc_e
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
