#ifndef CP_JWKS_H
#define CP_JWKS_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "cp_snapshot.h"

/* a JWKS larger than this is refused, wherever it comes from */
#define CP_JWKS_MAX      (256 * 1024)
#define CP_JWK_KID_MAX   128

/*
 * One public JWK (RFC 7517/7518) into a DER SubjectPublicKeyInfo the
 * gateway can load: RSA n/e of 2048 to 8192 bits gives RS256, EC P-256
 * x/y (a point on the curve) gives ES256; "use", when given, must be
 * "sig" and "alg", when given, must be the one the key implies.  0 with
 * *der malloc'd (free it), or -1 with why set to a static reason.
 */
int cp_jwk_to_der(const cJSON *jwk, unsigned char **der, size_t *der_len,
                  uint32_t *alg, const char **why);

/*
 * The snapshot compiler's hook (cp_snapshot_jwks_hook): add() for every
 * usable key of a JWKS document ({"keys":[...]}); keys it cannot use are
 * skipped.  The number of usable keys, or -1 when it is not a JWKS.
 */
int cp_jwks_keys(const char *jwks, size_t len, cp_snapshot_add_key_pt add,
                 void *ctx);

/* Is this document a JWKS with at least one usable key?  0, or -1 with a
 * reason (static) for the operator. */
int cp_jwks_check(const char *jwks, size_t len, const char **why);

#endif /* CP_JWKS_H */
