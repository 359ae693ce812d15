#ifndef CP_SECRET_H
#define CP_SECRET_H

#include <stddef.h>

/* SPEC §5: 32 random bytes, shown once as base64url without padding. */
#define CP_SECRET_BYTES   32
#define CP_SECRET_LEN     CP_B64URL_LEN(CP_SECRET_BYTES)   /* 43 */
#define CP_SECRET_HASH_LEN 32                 /* HMAC-SHA-256 */

/* client_id: "<system>-<p|s>-<8 hex>": the system and environment are
 * readable in logs; the random part makes it unique and not derivable. */
#define CP_CLIENT_ID_MAX  80

#include "cp_b64.h"

int cp_secret_generate(char out[CP_SECRET_LEN + 1]);

/* HMAC-SHA-256(pepper, secret): what the registry stores. */
int cp_secret_hash(const unsigned char *pepper, size_t pepper_len,
                   const char *secret, size_t secret_len,
                   unsigned char out[CP_SECRET_HASH_LEN]);

/*
 * 1 when secret hashes to stored, else 0.  The comparison is constant
 * time, and a stored hash of the wrong length (or none: NULL) still costs
 * one HMAC and one comparison, so timing does not tell an unknown client
 * from a wrong secret.
 */
int cp_secret_verify(const unsigned char *pepper, size_t pepper_len,
                     const char *secret, size_t secret_len,
                     const unsigned char *stored, size_t stored_len);

/* A new client_id for system in env ("production"|"sandbox"). */
int cp_client_id_make(const char *system, const char *env, char *out,
                      size_t size);

#endif /* CP_SECRET_H */
