#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cp_secret.h"
#include "cp_util.h"

int
cp_secret_generate(char out[CP_SECRET_LEN + 1])
{
    unsigned char raw[CP_SECRET_BYTES];

    if (cp_random(raw, sizeof(raw)) != 0) {
        return -1;
    }
    cp_b64url_encode(raw, sizeof(raw), out);
    OPENSSL_cleanse(raw, sizeof(raw));
    return 0;
}

int
cp_secret_hash(const unsigned char *pepper, size_t pepper_len,
               const char *secret, size_t secret_len,
               unsigned char out[CP_SECRET_HASH_LEN])
{
    unsigned int n = 0;

    if (HMAC(EVP_sha256(), pepper, (int) pepper_len,
             (const unsigned char *) secret, secret_len, out, &n) == NULL
        || n != CP_SECRET_HASH_LEN)
    {
        return -1;
    }
    return 0;
}

int
cp_secret_verify(const unsigned char *pepper, size_t pepper_len,
                 const char *secret, size_t secret_len,
                 const unsigned char *stored, size_t stored_len)
{
    static const unsigned char none[CP_SECRET_HASH_LEN];
    unsigned char              mac[CP_SECRET_HASH_LEN];
    int                        ok, usable;

    usable = stored != NULL && stored_len == CP_SECRET_HASH_LEN;
    if (cp_secret_hash(pepper, pepper_len, secret, secret_len, mac) != 0) {
        return 0;
    }
    ok = CRYPTO_memcmp(mac, usable ? stored : none, CP_SECRET_HASH_LEN) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ok && usable;
}

int
cp_client_id_make(const char *system, const char *env, char *out,
                  size_t size)
{
    unsigned char raw[4];
    char          hex[9];

    if (strcmp(env, "production") != 0 && strcmp(env, "sandbox") != 0) {
        return -1;
    }
    if (cp_random(raw, sizeof(raw)) != 0) {
        return -1;
    }
    cp_hex(raw, sizeof(raw), hex);
    return cp_path(out, size, "%s-%c-%s", system, env[0], hex);
}
