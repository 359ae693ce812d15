#ifndef CP_KEYS_H
#define CP_KEYS_H

#include <stddef.h>
#include <stdint.h>
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

/* 1 when kid is one cp_key_generate makes (16 lower-case hex digits): a
 * kid read from a database or a file names nothing else in keys/. */
int cp_key_kid_ok(const char *kid);

/*
 * The pinned public half of a platform key: keys_dir/<kid>.pub (DER
 * SubjectPublicKeyInfo, written with the key and never removed), or for a
 * key older than that, derived from keys_dir/<kid>.pem (and pinned).
 * malloc'd into *der.  -1 with errno ENOENT when keys/ knows no such key.
 */
int cp_key_public_der(const char *keys_dir, const char *kid,
                      unsigned char **der, size_t *der_len);

/* Record in keys_dir/<kid>.revoked (0600) when the key was revoked;
 * an existing record is kept (the first revocation counts). */
int cp_key_mark_revoked(const char *keys_dir, const char *kid,
                        int64_t at_ms);

/* When keys/ says the key was revoked (UTC ms), INT64_MAX if never. */
int64_t cp_key_revoked_ms(const char *keys_dir, const char *kid);

#endif /* CP_KEYS_H */
