#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "cp_keys.h"
#include "cp_util.h"

int
cp_key_generate(const char *keys_dir, const char *alg,
                char kid[CP_KID_LEN + 1], unsigned char **der,
                size_t *der_len)
{
    EVP_PKEY      *pkey = NULL;
    BIO           *bio = NULL;
    unsigned char *pub = NULL, digest[SHA256_DIGEST_LENGTH];
    char           hex[2 * SHA256_DIGEST_LENGTH + 1], path[4096];
    char          *pem;
    long           pem_len;
    int            n, rc = -1;

    if (strcmp(alg, "RS256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    } else if (strcmp(alg, "ES256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else {
        errno = EINVAL;
        return -1;
    }
    if (pkey == NULL) {
        return -1;
    }

    n = i2d_PUBKEY(pkey, &pub);
    if (n <= 0) {
        goto done;
    }

    /* the kid names the public key itself, so it can never collide with
     * another key's by accident */
    SHA256(pub, (size_t) n, digest);
    cp_hex(digest, sizeof(digest), hex);
    memcpy(kid, hex, CP_KID_LEN);
    kid[CP_KID_LEN] = '\0';

    bio = BIO_new(BIO_s_mem());
    if (bio == NULL
        || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
    {
        goto done;
    }
    pem_len = BIO_get_mem_data(bio, &pem);
    if (cp_path(path, sizeof(path), "%s/%s.pem", keys_dir, kid) != 0
        || cp_write_file_atomic(path, pem, (size_t) pem_len, 0600) != 0)
    {
        goto done;
    }
    /* the public half is pinned beside it for good: audit seals and
     * archives are verified against keys/, never against a database */
    if (cp_path(path, sizeof(path), "%s/%s.pub", keys_dir, kid) != 0
        || cp_write_file_atomic(path, pub, (size_t) n, 0600) != 0)
    {
        cp_path(path, sizeof(path), "%s/%s.pem", keys_dir, kid);
        unlink(path);
        goto done;
    }

    *der = pub;
    *der_len = (size_t) n;
    pub = NULL;
    rc = 0;

done:
    OPENSSL_free(pub);
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return rc;
}

EVP_PKEY *
cp_key_load_private(const char *keys_dir, const char *kid)
{
    char      path[4096];
    FILE     *f;
    EVP_PKEY *pkey;

    if (cp_path(path, sizeof(path), "%s/%s.pem", keys_dir, kid) != 0) {
        return NULL;
    }
    f = fopen(path, "r");
    if (f == NULL) {
        return NULL;
    }
    pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return pkey;
}

int
cp_pepper(const char *keys_dir, int create, unsigned char out[CP_PEPPER_LEN])
{
    char    path[4096];
    size_t  len;
    char   *buf;

    if (cp_path(path, sizeof(path), "%s/pepper", keys_dir) != 0) {
        return -1;
    }
    buf = cp_read_file(path, CP_PEPPER_LEN, &len);
    if (buf != NULL) {
        if (len != CP_PEPPER_LEN) {
            free(buf);
            errno = EINVAL;
            return -1;
        }
        memcpy(out, buf, CP_PEPPER_LEN);
        OPENSSL_cleanse(buf, len);
        free(buf);
        return 0;
    }
    if (!create || errno != ENOENT) {
        return -1;
    }
    if (cp_random(out, CP_PEPPER_LEN) != 0) {
        return -1;
    }
    return cp_write_file_atomic(path, out, CP_PEPPER_LEN, 0600);
}

int
cp_key_kid_ok(const char *kid)
{
    size_t n = 0;

    /* a kid names a file in keys/: only what cp_key_generate makes */
    for (; kid[n] != '\0'; n++) {
        if (!((kid[n] >= '0' && kid[n] <= '9')
              || (kid[n] >= 'a' && kid[n] <= 'f')))
        {
            return 0;
        }
    }
    return n == CP_KID_LEN;
}

int
cp_key_public_der(const char *keys_dir, const char *kid, unsigned char **der,
                  size_t *der_len)
{
    char      path[4096];
    size_t    len;
    char     *buf;
    EVP_PKEY *pkey;
    int       n;

    *der = NULL;
    if (!cp_key_kid_ok(kid)
        || cp_path(path, sizeof(path), "%s/%s.pub", keys_dir, kid) != 0)
    {
        errno = EINVAL;
        return -1;
    }
    buf = cp_read_file(path, 16384, &len);
    if (buf != NULL) {
        *der = (unsigned char *) buf;
        *der_len = len;
        return 0;
    }
    if (errno != ENOENT) {
        return -1;
    }
    /* a key made before public halves were pinned: its private half */
    pkey = cp_key_load_private(keys_dir, kid);
    if (pkey == NULL) {
        errno = ENOENT;
        return -1;
    }
    n = i2d_PUBKEY(pkey, NULL);
    buf = n > 0 ? malloc((size_t) n) : NULL;
    if (buf != NULL) {
        unsigned char *p = (unsigned char *) buf;

        n = i2d_PUBKEY(pkey, &p);
    }
    EVP_PKEY_free(pkey);
    if (buf == NULL || n <= 0) {
        free(buf);
        errno = ENOMEM;
        return -1;
    }
    /* pin it now; if keys/ is not ours to write, the private half
     * still vouches next time */
    (void) cp_write_file_atomic(path, buf, (size_t) n, 0600);
    *der = (unsigned char *) buf;
    *der_len = (size_t) n;
    return 0;
}

int
cp_key_mark_revoked(const char *keys_dir, const char *kid, int64_t at_ms)
{
    char path[4096], line[32];
    int  n;

    if (!cp_key_kid_ok(kid)
        || cp_path(path, sizeof(path), "%s/%s.revoked", keys_dir, kid) != 0)
    {
        errno = EINVAL;
        return -1;
    }
    if (access(path, F_OK) == 0) {
        return 0;                       /* a revocation is final */
    }
    n = snprintf(line, sizeof(line), "%lld\n", (long long) at_ms);
    return cp_write_file_atomic(path, line, (size_t) n, 0600);
}

int64_t
cp_key_revoked_ms(const char *keys_dir, const char *kid)
{
    char     path[4096], *buf, *end;
    size_t   len;
    int64_t  ms = INT64_MAX;

    if (!cp_key_kid_ok(kid)
        || cp_path(path, sizeof(path), "%s/%s.revoked", keys_dir, kid) != 0)
    {
        return INT64_MAX;
    }
    buf = cp_read_file(path, 64, &len);
    if (buf != NULL) {
        long long v = strtoll(buf, &end, 10);

        /* unreadable content: revoked since always (fail closed) */
        ms = (end != buf && v >= 0) ? (int64_t) v : 0;
        free(buf);
    }
    return ms;
}
