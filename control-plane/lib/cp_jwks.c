/*
 * Trusted issuers' JWKS into the keys the gateway verifies with: each JWK
 * becomes a DER SubjectPublicKeyInfo through OpenSSL 3's EVP_PKEY_fromdata,
 * the same form the platform's own keys travel in, so the module loads
 * both alike (lgsp_jwt_key_from_der) and pins the algorithm per key.
 */

#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include "cp_b64.h"
#include "cp_jwks.h"
#include "lgsp_snapshot_format.h"

#define RSA_MIN_BITS  2048
#define RSA_MAX_BITS  8192       /* what the module accepts */

static const char *
str_member(const cJSON *o, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* a base64url member decoded into out: its length, or -1 */
static long
b64_member(const cJSON *o, const char *name, unsigned char *out,
           size_t size)
{
    const char *s = str_member(o, name);
    size_t      n;

    if (s == NULL
        || cp_b64url_decode(s, strlen(s), out, size, &n) != 0 || n == 0)
    {
        return -1;
    }
    return (long) n;
}

static EVP_PKEY *
fromdata(const char *type, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *pctx;
    EVP_PKEY     *pkey = NULL;

    pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    {
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

static EVP_PKEY *
rsa_key(const cJSON *jwk, const char **why)
{
    unsigned char   nb[RSA_MAX_BITS / 8 + 1], eb[8];
    long            nl, el;
    BIGNUM         *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld;
    OSSL_PARAM     *params = NULL;
    EVP_PKEY       *pkey = NULL;
    int             bits;

    nl = b64_member(jwk, "n", nb, sizeof(nb));
    el = b64_member(jwk, "e", eb, sizeof(eb));
    if (nl < 0 || el < 0) {
        *why = "RSA key without a usable n or e";
        return NULL;
    }
    n = BN_bin2bn(nb, (int) nl, NULL);
    e = BN_bin2bn(eb, (int) el, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (n != NULL && e != NULL && bld != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    /* a public exponent of 1 or an even one is no RSA key at all */
    if (params != NULL && BN_is_odd(e) && !BN_is_one(e)) {
        pkey = fromdata("RSA", params);
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    if (pkey == NULL) {
        *why = "not an RSA public key";
        return NULL;
    }
    bits = EVP_PKEY_get_bits(pkey);
    if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) {
        *why = "RSA key under 2048 or over 8192 bits";
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static EVP_PKEY *
p256_key(const cJSON *jwk, const char **why)
{
    unsigned char   point[65], buf[33];
    const char     *crv = str_member(jwk, "crv");
    OSSL_PARAM      params[3];
    EVP_PKEY       *pkey;
    EVP_PKEY_CTX   *cctx;

    if (crv == NULL || strcmp(crv, "P-256") != 0) {
        *why = "EC key not on P-256";
        return NULL;
    }
    /* RFC 7518 §6.2.1.2: x and y are the full 32 bytes each */
    point[0] = 0x04;
    if (b64_member(jwk, "x", buf, sizeof(buf)) != 32) {
        *why = "EC key x is not 32 bytes";
        return NULL;
    }
    memcpy(point + 1, buf, 32);
    if (b64_member(jwk, "y", buf, sizeof(buf)) != 32) {
        *why = "EC key y is not 32 bytes";
        return NULL;
    }
    memcpy(point + 33, buf, 32);

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    pkey = fromdata("EC", params);
    if (pkey == NULL) {
        *why = "EC key is not a point on P-256";
        return NULL;
    }
    /* a point off the curve is an invalid-curve attack waiting to happen */
    cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (cctx == NULL || EVP_PKEY_public_check(cctx) != 1) {
        EVP_PKEY_CTX_free(cctx);
        EVP_PKEY_free(pkey);
        *why = "EC key is not a point on P-256";
        return NULL;
    }
    EVP_PKEY_CTX_free(cctx);
    return pkey;
}

int
cp_jwk_to_der(const cJSON *jwk, unsigned char **der, size_t *der_len,
              uint32_t *alg, const char **why)
{
    const char    *kty, *use, *jalg;
    EVP_PKEY      *pkey;
    unsigned char *out = NULL;
    int            n;

    *der = NULL;
    *der_len = 0;
    if (!cJSON_IsObject(jwk)) {
        *why = "a key is not a JSON object";
        return -1;
    }
    kty = str_member(jwk, "kty");
    use = str_member(jwk, "use");
    jalg = str_member(jwk, "alg");
    if (cJSON_GetObjectItemCaseSensitive(jwk, "use") != NULL
        && (use == NULL || strcmp(use, "sig") != 0))
    {
        *why = "key not for signatures (use)";
        return -1;
    }
    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        *alg = LGSP_ALG_RS256;
        if (cJSON_GetObjectItemCaseSensitive(jwk, "alg") != NULL
            && (jalg == NULL || strcmp(jalg, "RS256") != 0))
        {
            *why = "RSA key for an algorithm other than RS256";
            return -1;
        }
        pkey = rsa_key(jwk, why);
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        *alg = LGSP_ALG_ES256;
        if (cJSON_GetObjectItemCaseSensitive(jwk, "alg") != NULL
            && (jalg == NULL || strcmp(jalg, "ES256") != 0))
        {
            *why = "EC key for an algorithm other than ES256";
            return -1;
        }
        pkey = p256_key(jwk, why);
    } else {
        *why = "key type is neither RSA nor EC";
        return -1;
    }
    if (pkey == NULL) {
        return -1;
    }
    n = i2d_PUBKEY(pkey, &out);
    EVP_PKEY_free(pkey);
    if (n <= 0) {
        *why = "cannot encode the key";
        return -1;
    }
    *der = out;
    *der_len = (size_t) n;
    return 0;
}

static int
kid_ok(const char *kid)
{
    size_t len;

    if (kid == NULL) {
        return 0;
    }
    len = strlen(kid);
    return len > 0 && len <= CP_JWK_KID_MAX;
}

int
cp_jwks_keys(const char *jwks, size_t len, cp_snapshot_add_key_pt add,
             void *ctx)
{
    cJSON       *doc, *keys, *k;
    int          usable = 0;

    if (jwks == NULL || len > CP_JWKS_MAX) {
        return -1;
    }
    doc = cJSON_ParseWithLength(jwks, len);
    keys = cJSON_GetObjectItemCaseSensitive(doc, "keys");
    if (!cJSON_IsArray(keys)) {
        cJSON_Delete(doc);
        return -1;
    }
    cJSON_ArrayForEach(k, keys) {
        const char    *kid = str_member(k, "kid"), *why;
        unsigned char *der;
        size_t         der_len;
        uint32_t       alg;

        /* keys are found by kid: one without is of no use */
        if (!kid_ok(kid)
            || cp_jwk_to_der(k, &der, &der_len, &alg, &why) != 0)
        {
            continue;
        }
        if (add != NULL) {
            add(ctx, kid, alg, der, der_len);
        }
        OPENSSL_free(der);
        usable++;
    }
    cJSON_Delete(doc);
    return usable;
}

int
cp_jwks_check(const char *jwks, size_t len, const char **why)
{
    int n;

    if (len > CP_JWKS_MAX) {
        *why = "the JWKS is over 256 KB";
        return -1;
    }
    n = cp_jwks_keys(jwks, len, NULL, NULL);
    if (n < 0) {
        *why = "not a JWKS (a JSON object with a \"keys\" array)";
        return -1;
    }
    if (n == 0) {
        *why = "no usable key (RSA of 2048 bits or more, or EC P-256,"
               " each with a kid)";
        return -1;
    }
    return 0;
}
