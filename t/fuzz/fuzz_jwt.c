/*
 * libFuzzer driver for lgsp_jwt.c: the input is the bearer token as it
 * comes off the wire.  An input holding a newline (never part of a token)
 * is read instead as "header JSON \n claims JSON" and encoded into a token
 * first, so the JSON scanner is fuzzed directly rather than through base64.
 *
 * Parses the token, and when that succeeds verifies it with keys made once
 * at start-up (a forged signature passing aborts), then runs the time and
 * audience checks and asserts what parse promises: every string lies
 * inside the scratch buffer, and a failed parse can never be verified.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ingx_lgsp_module/src \
 *       t/fuzz/fuzz_jwt.c ngx_lgsp_module/src/lgsp_jwt*.c -lcrypto -o fuzz_jwt
 *   ./fuzz_jwt -max_len=9000 t/fuzz/corpus/jwt
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

#include "lgsp_jwt.h"


static EVP_PKEY       *rsa_key;
static EVP_PKEY       *ec_key;
static unsigned char  *scratch;


static EVP_PKEY *
fuzz_public_key(EVP_PKEY *priv, lgsp_jwt_alg_e want)
{
    int              n;
    EVP_PKEY        *key;
    unsigned char   *der;
    lgsp_jwt_alg_e   alg;

    der = NULL;
    n = i2d_PUBKEY(priv, &der);
    if (n <= 0) {
        abort();
    }

    key = lgsp_jwt_key_from_der(der, n, &alg);
    if (key == NULL || alg != want) {
        abort();
    }

    OPENSSL_free(der);
    EVP_PKEY_free(priv);

    return key;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    rsa_key = fuzz_public_key(EVP_RSA_gen(2048), LGSP_JWT_ALG_RS256);
    ec_key = fuzz_public_key(EVP_EC_gen("P-256"), LGSP_JWT_ALG_ES256);

    /* heap, exactly sized: ASan sees any write past the scratch */
    scratch = malloc(LGSP_JWT_SCRATCH_SIZE);
    if (scratch == NULL) {
        abort();
    }

    return 0;
}


static void
fuzz_in_scratch(const lgsp_jwt_str_t *s)
{
    if (s->data == NULL) {
        if (s->len != 0) {
            abort();
        }

        return;
    }

    if (s->data < scratch
        || s->len > LGSP_JWT_SCRATCH_SIZE
        || s->data + s->len > scratch + LGSP_JWT_SCRATCH_SIZE)
    {
        abort();
    }
}


/* the allocation-free DER encoder must agree with libcrypto's */
static void
fuzz_es256_der(const uint8_t *raw)
{
    int             n;
    size_t          len;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char   der[LGSP_JWT_ES256_DER_MAX], *ref;

    len = lgsp_jwt_es256_sig_to_der(raw, der);

    es = ECDSA_SIG_new();
    r = BN_bin2bn(raw, 32, NULL);
    s = BN_bin2bn(raw + 32, 32, NULL);

    if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
        abort();
    }

    ref = NULL;
    n = i2d_ECDSA_SIG(es, &ref);

    if (n <= 0 || (size_t) n != len || memcmp(der, ref, len) != 0) {
        abort();
    }

    OPENSSL_free(ref);
    ECDSA_SIG_free(es);
}


static size_t
fuzz_b64url(const uint8_t *in, size_t len, uint8_t *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t             i, n;
    unsigned           v;

    n = 0;

    for (i = 0; i < len; i += 3) {
        v = in[i] << 16;
        v |= (i + 1 < len) ? in[i + 1] << 8 : 0;
        v |= (i + 2 < len) ? in[i + 2] : 0;

        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];

        if (i + 1 < len) {
            out[n++] = a[(v >> 6) & 63];
        }

        if (i + 2 < len) {
            out[n++] = a[v & 63];
        }
    }

    return n;
}


static int fuzz_token(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc;
    size_t                 n, len;
    uint8_t               *tok, *buf;
    const uint8_t         *nl;
    static const uint8_t   sig[64] = { 1 };

    if (size >= 64) {
        fuzz_es256_der(data);
    }

    nl = memchr(data, '\n', size);
    if (nl == NULL || size > LGSP_JWT_MAX_LEN) {
        return fuzz_token(data, size);
    }

    buf = malloc(size / 3 * 4 + 8 + 86 + 2);
    if (buf == NULL) {
        abort();
    }

    n = fuzz_b64url(data, nl - data, buf);
    buf[n++] = '.';
    n += fuzz_b64url(nl + 1, data + size - nl - 1, buf + n);
    buf[n++] = '.';
    n += fuzz_b64url(sig, sizeof(sig), buf + n);

    /* exactly sized again, so ASan still sees over-reads */
    len = n;
    tok = malloc(len);
    if (tok == NULL) {
        abort();
    }

    memcpy(tok, buf, len);
    free(buf);

    rc = fuzz_token(tok, len);
    free(tok);

    return rc;
}


static int
fuzz_token(const uint8_t *data, size_t size)
{
    unsigned        i;
    EVP_PKEY       *key;
    lgsp_jwt_t      jwt;
    lgsp_jwt_rc_e   rc;

    rc = lgsp_jwt_parse(&jwt, data, size, scratch, LGSP_JWT_SCRATCH_SIZE);

    if ((unsigned) rc >= LGSP_JWT_RC_MAX
        || lgsp_jwt_strerror(rc) == NULL)
    {
        abort();
    }

    if (rc != LGSP_JWT_OK) {
        if (jwt.alg != LGSP_JWT_ALG_UNKNOWN
            || lgsp_jwt_verify(&jwt, rsa_key, LGSP_JWT_ALG_RS256)
               != LGSP_JWT_ALG_MISMATCH
            || lgsp_jwt_verify(&jwt, ec_key, LGSP_JWT_ALG_ES256)
               != LGSP_JWT_ALG_MISMATCH)
        {
            abort();
        }

        return 0;
    }

    if (size > LGSP_JWT_MAX_LEN
        || (jwt.alg != LGSP_JWT_ALG_RS256 && jwt.alg != LGSP_JWT_ALG_ES256)
        || jwt.kid.len == 0
        || jwt.naud > LGSP_JWT_MAX_AUD
        || jwt.sig_len == 0
        || jwt.signing_input != data
        || jwt.signing_input_len >= size)
    {
        abort();
    }

    fuzz_in_scratch(&jwt.kid);
    fuzz_in_scratch(&jwt.typ);
    fuzz_in_scratch(&jwt.iss);
    fuzz_in_scratch(&jwt.sub);
    fuzz_in_scratch(&jwt.client_id);
    fuzz_in_scratch(&jwt.org);
    fuzz_in_scratch(&jwt.jti);

    for (i = 0; i < jwt.naud; i++) {
        fuzz_in_scratch(&jwt.aud[i]);
        if (!lgsp_jwt_has_aud(&jwt, (const char *) jwt.aud[i].data,
                              jwt.aud[i].len))
        {
            abort();
        }
    }

    if (jwt.sig < scratch
        || jwt.sig + jwt.sig_len > scratch + LGSP_JWT_SCRATCH_SIZE)
    {
        abort();
    }

    /* nobody holds the private keys: a pass would be a forgery */
    key = (jwt.alg == LGSP_JWT_ALG_RS256) ? rsa_key : ec_key;

    if (lgsp_jwt_verify(&jwt, key, jwt.alg) == LGSP_JWT_OK) {
        abort();
    }

    /* and the pin: the other key's algorithm is refused before crypto */
    if (lgsp_jwt_verify(&jwt, key == rsa_key ? ec_key : rsa_key,
                        jwt.alg == LGSP_JWT_ALG_RS256 ? LGSP_JWT_ALG_ES256
                                                      : LGSP_JWT_ALG_RS256)
        != LGSP_JWT_ALG_MISMATCH)
    {
        abort();
    }

    (void) lgsp_jwt_check_time(&jwt, 1700000000, 60);
    (void) lgsp_jwt_check_time(&jwt, INT64_MAX, INT64_MAX);
    (void) lgsp_jwt_check_time(&jwt, 0, -1);
    (void) lgsp_jwt_has_aud(&jwt, "lgsp:production", 15);

    return 0;
}
