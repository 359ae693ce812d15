/*
 * libFuzzer driver for the JWKS importer (cp_jwks.c): the input is a
 * trusted issuer's JWKS document, as lgspd fetches it or lgspctl issuer
 * reads it, given exactly sized.
 *
 * Every key cp_jwks_keys() hands the snapshot compiler must have a kid of
 * 1..128 bytes and a pinned algorithm, load in the gateway's own loader
 * (lgsp_jwt_key_from_der) as that algorithm, and survive the platform's
 * JWKS writer: cp_jwk_from_der() of it, imported again, gives the same
 * DER.  cp_jwks_check() must agree with the count of keys.
 *
 *   make build/bin/fuzz_jwks
 *   ./fuzz_jwks -dict=t/fuzz/json.dict t/fuzz/corpus/jwks
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cp_jwk.h"
#include "cp_jwks.h"
#include "lgsp_jwt.h"
#include "lgsp_snapshot_format.h"


static void
fuzz_add(void *ctx, const char *kid, uint32_t alg, const unsigned char *der,
    size_t der_len)
{
    int             *keys = ctx;
    size_t           n, back_len;
    cJSON           *jwk;
    uint32_t         back_alg;
    EVP_PKEY        *pkey;
    const char      *why, *name;
    unsigned char   *back;
    lgsp_jwt_alg_e   jalg;

    (*keys)++;

    n = kid ? strlen(kid) : 0;

    if (n == 0 || n > CP_JWK_KID_MAX || der == NULL || der_len == 0) {
        abort();
    }

    if (alg == LGSP_ALG_RS256) {
        name = "RS256";

    } else if (alg == LGSP_ALG_ES256) {
        name = "ES256";

    } else {
        abort();
    }

    /* the gateway loads it, pinned to the same algorithm */
    pkey = lgsp_jwt_key_from_der(der, der_len, &jalg);

    if (pkey == NULL
        || jalg != (alg == LGSP_ALG_RS256 ? LGSP_JWT_ALG_RS256
                                          : LGSP_JWT_ALG_ES256))
    {
        abort();
    }

    EVP_PKEY_free(pkey);

    /* the platform's writer and the importer agree on it */
    jwk = cp_jwk_from_der(der, der_len, kid, name);
    if (jwk == NULL) {
        abort();
    }

    if (cp_jwk_to_der(jwk, &back, &back_len, &back_alg, &why) != 0
        || back_alg != alg || back_len != der_len
        || memcmp(back, der, der_len) != 0)
    {
        abort();
    }

    OPENSSL_free(back);
    cJSON_Delete(jwk);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          keys, n, rc;
    char        *jwks;
    const char  *why;

    if (size > CP_JWKS_MAX + 1) {
        return 0;
    }

    /* exactly sized: the stored JWKS has its NUL, the fetched one not */
    jwks = malloc(size ? size : 1);
    if (jwks == NULL) {
        abort();
    }

    memcpy(jwks, data, size);

    keys = 0;
    n = cp_jwks_keys(jwks, size, fuzz_add, &keys);

    if (n < -1 || (n >= 0 && n != keys) || (n < 0 && keys != 0)) {
        abort();
    }

    why = NULL;
    rc = cp_jwks_check(jwks, size, &why);

    if (rc != (n > 0 ? 0 : -1) || (rc != 0 && why == NULL)) {
        abort();
    }

    free(jwks);

    return 0;
}
