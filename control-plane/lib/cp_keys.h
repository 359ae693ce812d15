#ifndef CP_KEYS_H
#define CP_KEYS_H

#include <stddef.h>
#include <openssl/evp.h>

#define CP_KID_LEN    16              /* hex characters */
#define CP_PEPPER_LEN 32

/*
 * Generate a platform signing key ("RS256": RSA-2048, "ES256": P-256),
 * write its private half to keys_dir/<kid>.pem (0600) and return the kid
 * and the public SubjectPublicKeyInfo (DER, malloc'd).
 */
int cp_key_generate(const char *keys_dir, const char *alg,
                    char kid[CP_KID_LEN + 1], unsigned char **der,
                    size_t *der_len);

/* Load keys_dir/<kid>.pem; NULL on failure. */
EVP_PKEY *cp_key_load_private(const char *keys_dir, const char *kid);

/* The server-side pepper for client secrets: keys_dir/pepper, created
 * (32 random bytes, 0600) when create is set and it does not exist. */
int cp_pepper(const char *keys_dir, int create,
              unsigned char out[CP_PEPPER_LEN]);

#endif /* CP_KEYS_H */
