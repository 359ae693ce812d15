/*
 * LGSP: the signature side of token verification, on OpenSSL's EVP API
 * with keys parsed once (from DER) and prepared once per snapshot.
 */

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


lgsp_jwt_rc_e
lgsp_jwt_verify(const lgsp_jwt_t *jwt, EVP_PKEY *key,
    lgsp_jwt_alg_e pinned_alg)
{
    lgsp_jwt_rc_e         rc;
    lgsp_jwt_verifier_t  *v;

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

    if (key == NULL) {
        return LGSP_JWT_BAD_KEY;
    }

    if (!EVP_PKEY_is_a(key, pinned_alg == LGSP_JWT_ALG_RS256 ? "RSA" : "EC"))
    {
        return LGSP_JWT_BAD_KEY;
    }

    /* a context per call: the module prepares one per key instead */
    v = lgsp_jwt_verifier_new(key, pinned_alg);
    if (v == NULL) {
        return LGSP_JWT_CRYPTO_ERROR;
    }

    rc = lgsp_jwt_verify_prepared(jwt, v);
    lgsp_jwt_verifier_free(v);

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
