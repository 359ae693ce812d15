#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cp_b64.h"
#include "cp_jwk.h"

/* a big-endian unsigned integer as base64url, at least width bytes */
static int
add_bn(cJSON *o, const char *name, const BIGNUM *bn, int width)
{
    unsigned char buf[1024];
    char          out[CP_B64URL_LEN(sizeof(buf)) + 1];
    int           n = BN_num_bytes(bn);

    if (n < width) {
        n = width;
    }
    if (n <= 0 || (size_t) n > sizeof(buf) || BN_bn2binpad(bn, buf, n) != n) {
        return -1;
    }
    cp_b64url_encode(buf, (size_t) n, out);
    return cJSON_AddStringToObject(o, name, out) ? 0 : -1;
}

static int
add_rsa(cJSON *o, EVP_PKEY *pkey)
{
    BIGNUM *n = NULL, *e = NULL;
    int     rc = -1;

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n)
        && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)
        && cJSON_AddStringToObject(o, "kty", "RSA")
        && add_bn(o, "n", n, 0) == 0 && add_bn(o, "e", e, 0) == 0)
    {
        rc = 0;
    }
    BN_free(n);
    BN_free(e);
    return rc;
}

static int
add_p256(cJSON *o, EVP_PKEY *pkey)
{
    unsigned char point[65];
    char          group[32], x[CP_B64URL_LEN(32) + 1], y[sizeof(x)];
    size_t        len = 0;

    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                        group, sizeof(group), NULL)
        || strcmp(group, "prime256v1") != 0)
    {
        return -1;
    }
    /* the uncompressed point: 0x04 || x || y, each 32 bytes (RFC 7518
     * §6.2.1.2 wants the full width, leading zeros kept) */
    if (!EVP_PKEY_get_octet_string_param(pkey,
                                         OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                         point, sizeof(point), &len)
        || len != sizeof(point) || point[0] != 0x04)
    {
        return -1;
    }
    cp_b64url_encode(point + 1, 32, x);
    cp_b64url_encode(point + 33, 32, y);
    return cJSON_AddStringToObject(o, "kty", "EC")
           && cJSON_AddStringToObject(o, "crv", "P-256")
           && cJSON_AddStringToObject(o, "x", x)
           && cJSON_AddStringToObject(o, "y", y) ? 0 : -1;
}

cJSON *
cp_jwk_from_der(const unsigned char *der, size_t der_len, const char *kid,
                const char *alg)
{
    const unsigned char *p = der;
    EVP_PKEY            *pkey;
    cJSON               *o;
    int                  rc = -1;

    pkey = d2i_PUBKEY(NULL, &p, (long) der_len);
    if (pkey == NULL || p != der + der_len) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    o = cJSON_CreateObject();
    if (o != NULL) {
        if (strcmp(alg, "RS256") == 0 && EVP_PKEY_is_a(pkey, "RSA")) {
            rc = add_rsa(o, pkey);
        } else if (strcmp(alg, "ES256") == 0 && EVP_PKEY_is_a(pkey, "EC")) {
            rc = add_p256(o, pkey);
        }
    }
    if (rc == 0 && cJSON_AddStringToObject(o, "kid", kid)
        && cJSON_AddStringToObject(o, "alg", alg)
        && cJSON_AddStringToObject(o, "use", "sig"))
    {
        EVP_PKEY_free(pkey);
        return o;
    }
    cJSON_Delete(o);
    EVP_PKEY_free(pkey);
    return NULL;
}
