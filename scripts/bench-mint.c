/*
 * bench-mint: sign many distinct JWTs with the platform's private key, for
 * the "new token every call" rows of `make bench` (scripts/bench).  Calling
 * /oauth/token 100,000 times would measure lgspd, and `openssl dgst` once
 * per token costs a process each; this signs them in one process.
 *
 *   bench-mint KEY.pem RS256|ES256 HEADER_B64URL PAYLOAD_TEMPLATE FIRST COUNT
 *
 * PAYLOAD_TEMPLATE is the JSON claims with "@N@" where the token's number
 * goes (its jti), so every token differs and none can hit the token cache.
 * One token per line on stdout.  Built by scripts/bench, not by `make`:
 * it is a benchmark tool, never shipped.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define MINT_MAX  8192

static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t             i, o = 0;
    unsigned int       v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (len - i == 1) {
        v = in[i] << 16;
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
    } else if (len - i == 2) {
        v = (in[i] << 16) | (in[i + 1] << 8);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* JOSE wants ES256 signatures as r || s, 32 bytes each, not DER */
static int
der_to_jose(const unsigned char *der, size_t len, unsigned char *out)
{
    const unsigned char  *p = der;
    const BIGNUM         *r, *s;
    ECDSA_SIG            *sig = d2i_ECDSA_SIG(NULL, &p, (long) len);

    if (sig == NULL) {
        return -1;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32) {
        ECDSA_SIG_free(sig);
        return -1;
    }
    ECDSA_SIG_free(sig);
    return 0;
}

int
main(int argc, char **argv)
{
    static char     payload[MINT_MAX], input[MINT_MAX * 2], sig64[1024];
    unsigned char   sig[1024], jose[64];
    const char     *at, *hdr, *tpl;
    size_t          siglen, n, hlen;
    long            first, count, i;
    int             es;
    FILE           *f;
    EVP_PKEY       *key;
    EVP_MD_CTX     *md;

    if (argc != 7) {
        fprintf(stderr, "usage: bench-mint KEY.pem RS256|ES256 HEADER_B64URL"
                " PAYLOAD_TEMPLATE FIRST COUNT\n");
        return 2;
    }
    es = strcmp(argv[2], "ES256") == 0;
    if (!es && strcmp(argv[2], "RS256") != 0) {
        fprintf(stderr, "bench-mint: alg: RS256 or ES256\n");
        return 2;
    }
    hdr = argv[3];
    tpl = argv[4];
    first = strtol(argv[5], NULL, 10);
    count = strtol(argv[6], NULL, 10);
    at = strstr(tpl, "@N@");
    hlen = strlen(hdr);
    if (at == NULL || hlen + strlen(tpl) + 64 > MINT_MAX) {
        fprintf(stderr, "bench-mint: template: needs @N@, under %d bytes\n",
                MINT_MAX);
        return 2;
    }

    f = fopen(argv[1], "r");
    if (f == NULL) {
        perror("bench-mint: key");
        return 1;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL) {
        fprintf(stderr, "bench-mint: key: not a PEM private key\n");
        return 1;
    }
    md = EVP_MD_CTX_new();

    for (i = first; i < first + count; i++) {
        int  k = snprintf(payload, sizeof(payload), "%.*s%ld%s",
                          (int) (at - tpl), tpl, i, at + 3);

        if (k < 0 || (size_t) k >= sizeof(payload)) {
            return 1;
        }
        memcpy(input, hdr, hlen);
        input[hlen] = '.';
        n = hlen + 1 + b64url((unsigned char *) payload, (size_t) k,
                              input + hlen + 1);

        siglen = sizeof(sig);
        if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1
            || EVP_DigestSign(md, sig, &siglen, (unsigned char *) input, n)
               != 1)
        {
            fprintf(stderr, "bench-mint: sign failed\n");
            return 1;
        }
        if (es) {
            if (der_to_jose(sig, siglen, jose) != 0) {
                fprintf(stderr, "bench-mint: bad ECDSA signature\n");
                return 1;
            }
            b64url(jose, 64, sig64);
        } else {
            b64url(sig, siglen, sig64);
        }
        printf("%.*s.%s\n", (int) n, input, sig64);
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return fflush(stdout) == 0 ? 0 : 1;
}
