#ifndef CP_JWK_H
#define CP_JWK_H

#include <stddef.h>
#include <cjson/cJSON.h>

/*
 * The public JWK (RFC 7517/7518) of a platform key from its
 * SubjectPublicKeyInfo DER: RSA {kty, n, e}, P-256 {kty, crv, x, y}, plus
 * kid, alg and use "sig".  NULL when the DER is not a key of that alg.
 */
cJSON *cp_jwk_from_der(const unsigned char *der, size_t der_len,
                       const char *kid, const char *alg);

#endif /* CP_JWK_H */
