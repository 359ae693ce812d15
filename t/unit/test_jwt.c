/*
 * Unit tests for lgsp_jwt.c: every token is signed here, at run time, with
 * keys generated once per test case, so no signature is hard-coded.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "lgsp_jwt.h"


typedef enum {
    SIGN_RS256,
    SIGN_ES256,
    SIGN_HS256,     /* HMAC keyed with the PEM of the RSA public key */
    SIGN_NONE       /* empty signature segment */
} sign_e;


#define HDR_RS  "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}"
#define HDR_ES  "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"k2\"}"

#define NOW     1700000000

#define CLAIMS                                                               \
    "{\"iss\":\"https://lgsp.danang.gov.vn\",\"sub\":\"sys-42\","             \
    "\"client_id\":\"cred-7\",\"org\":\"000.00.31.H17\","                     \
    "\"aud\":\"lgsp:production\",\"iat\":1700000000,\"nbf\":1700000000,"      \
    "\"exp\":1700000600,\"jti\":\"9f1c\"}"


static EVP_PKEY       *rsa_priv, *ec_priv;
static EVP_PKEY       *rsa_pub, *ec_pub;
static lgsp_jwt_alg_e  rsa_alg, ec_alg;
static unsigned char  *rsa_pem;
static size_t          rsa_pem_len;

static char            tok[4 * LGSP_JWT_MAX_LEN];
static size_t          tok_len;
static unsigned char   scratch[LGSP_JWT_SCRATCH_SIZE];
static lgsp_jwt_t      jwt;
static unsigned char  *exact;


static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t             i, n;
    unsigned           v;

    n = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        v = in[i] << 16 | in[i + 1] << 8 | in[i + 2];
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
        out[n++] = a[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = in[i] << 16 | in[i + 1] << 8;
        out[n++] = a[v >> 18];
        out[n++] = a[(v >> 12) & 63];
        out[n++] = a[(v >> 6) & 63];
    }

    out[n] = '\0';

    return n;
}


static size_t
b64url_len(size_t len)
{
    return len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}


static EVP_PKEY *
load_pub(EVP_PKEY *priv, lgsp_jwt_alg_e *alg)
{
    int             n;
    EVP_PKEY       *key;
    unsigned char  *der;

    der = NULL;
    n = i2d_PUBKEY(priv, &der);
    ck_assert_int_gt(n, 0);

    key = lgsp_jwt_key_from_der(der, n, alg);
    OPENSSL_free(der);

    return key;
}


static void
keys_setup(void)
{
    BIO   *bio;
    char  *p;
    long   n;

    rsa_priv = EVP_RSA_gen(2048);
    ec_priv = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(rsa_priv);
    ck_assert_ptr_nonnull(ec_priv);

    rsa_pub = load_pub(rsa_priv, &rsa_alg);
    ec_pub = load_pub(ec_priv, &ec_alg);
    ck_assert_ptr_nonnull(rsa_pub);
    ck_assert_ptr_nonnull(ec_pub);

    /* what an attacker finds in the JWKS, as the HMAC secret of HS256 */
    bio = BIO_new(BIO_s_mem());
    ck_assert_int_eq(PEM_write_bio_PUBKEY(bio, rsa_priv), 1);
    n = BIO_get_mem_data(bio, &p);
    rsa_pem = malloc(n);
    memcpy(rsa_pem, p, n);
    rsa_pem_len = n;
    BIO_free(bio);
}


static void
keys_teardown(void)
{
    EVP_PKEY_free(rsa_priv);
    EVP_PKEY_free(ec_priv);
    EVP_PKEY_free(rsa_pub);
    EVP_PKEY_free(ec_pub);
    free(rsa_pem);
    free(exact);
    exact = NULL;
}


static size_t
sign(sign_e how, const char *input, size_t len, unsigned char *sig)
{
    size_t                n;
    EVP_MD_CTX           *md;
    ECDSA_SIG            *es;
    unsigned int          hlen;
    const BIGNUM         *r, *s;
    unsigned char         der[256];
    const unsigned char  *p;

    if (how == SIGN_NONE) {
        return 0;
    }

    if (how == SIGN_HS256) {
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), rsa_pem, (int) rsa_pem_len,
                                   (const unsigned char *) input, len,
                                   sig, &hlen));
        return hlen;
    }

    md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL,
                     how == SIGN_RS256 ? rsa_priv : ec_priv), 1);

    if (how == SIGN_RS256) {
        n = 512;
        ck_assert_int_eq(EVP_DigestSign(md, sig, &n,
                         (const unsigned char *) input, len), 1);
        EVP_MD_CTX_free(md);
        return n;
    }

    n = sizeof(der);
    ck_assert_int_eq(EVP_DigestSign(md, der, &n,
                     (const unsigned char *) input, len), 1);
    EVP_MD_CTX_free(md);

    /* JWS wants r || s, 32 bytes each (RFC 7518 §3.4), not DER */
    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, n);
    ck_assert_ptr_nonnull(es);
    ECDSA_SIG_get0(es, &r, &s);
    ck_assert_int_eq(BN_bn2binpad(r, sig, 32), 32);
    ck_assert_int_eq(BN_bn2binpad(s, sig + 32, 32), 32);
    ECDSA_SIG_free(es);

    return 64;
}


/* header and claims are JSON texts; the token lands in tok/tok_len */
static void
make_n(const char *header, size_t hlen, const char *claims, size_t clen,
    sign_e how)
{
    size_t         n, slen;
    unsigned char  sig[512];

    n = b64url((const unsigned char *) header, hlen, tok);
    tok[n++] = '.';
    n += b64url((const unsigned char *) claims, clen, tok + n);

    slen = sign(how, tok, n, sig);

    tok[n++] = '.';
    n += b64url(sig, slen, tok + n);

    tok_len = n;
}


static void
make(const char *header, const char *claims, sign_e how)
{
    make_n(header, strlen(header), claims, strlen(claims), how);
}


/* replaces the signature segment of tok with raw bytes */
static void
set_sig(const unsigned char *sig, size_t len)
{
    char  *dot;

    dot = strrchr(tok, '.');
    tok_len = dot + 1 - tok;
    tok_len += b64url(sig, len, dot + 1);
}


/*
 * Parses a copy of exactly len bytes, no NUL after it, so ASan or valgrind
 * catch any read past the token.
 */
static lgsp_jwt_rc_e
parse_n(const char *t, size_t len)
{
    free(exact);
    exact = malloc(len ? len : 1);
    memcpy(exact, t, len);

    return lgsp_jwt_parse(&jwt, exact, len, scratch, sizeof(scratch));
}


static lgsp_jwt_rc_e
parse(const char *t)
{
    return parse_n(t, strlen(t));
}


static lgsp_jwt_rc_e
parse_tok(void)
{
    return parse_n(tok, tok_len);
}


/* parse of a token with these claims under the RS256 header, unsigned */
static lgsp_jwt_rc_e
parse_claims(const char *claims)
{
    make(HDR_RS, claims, SIGN_NONE);
    memcpy(tok + tok_len, "AAAA", 5);
    tok_len += 4;

    return parse_tok();
}


static lgsp_jwt_rc_e
parse_header(const char *header)
{
    make(header, CLAIMS, SIGN_NONE);
    memcpy(tok + tok_len, "AAAA", 5);
    tok_len += 4;

    return parse_tok();
}


static int
str_is(const lgsp_jwt_str_t *s, const char *lit)
{
    return s->data != NULL && s->len == strlen(lit)
           && memcmp(s->data, lit, s->len) == 0;
}


/* signatures and algorithms */

START_TEST(test_rs256_ok)
{
    make(HDR_RS, CLAIMS, SIGN_RS256);

    ck_assert_int_eq(rsa_alg, LGSP_JWT_ALG_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(jwt.alg, LGSP_JWT_ALG_RS256);
    ck_assert(str_is(&jwt.kid, "k1"));
    ck_assert(str_is(&jwt.typ, "JWT"));
    ck_assert(str_is(&jwt.iss, "https://lgsp.danang.gov.vn"));
    ck_assert(str_is(&jwt.sub, "sys-42"));
    ck_assert(str_is(&jwt.client_id, "cred-7"));
    ck_assert(str_is(&jwt.org, "000.00.31.H17"));
    ck_assert(str_is(&jwt.jti, "9f1c"));
    ck_assert_uint_eq(jwt.naud, 1);
    ck_assert(str_is(&jwt.aud[0], "lgsp:production"));
    ck_assert(jwt.has_iat && jwt.has_nbf && jwt.has_exp);
    ck_assert_int_eq(jwt.iat, 1700000000);
    ck_assert_int_eq(jwt.nbf, 1700000000);
    ck_assert_int_eq(jwt.exp, 1700000600);
    ck_assert_uint_eq(jwt.sig_len, 256);
    ck_assert_uint_eq(jwt.signing_input_len, strrchr(tok, '.') - tok);

    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW + 10, 60), LGSP_JWT_OK);
}
END_TEST


START_TEST(test_es256_ok)
{
    int   i;
    char  claims[256];

    ck_assert_int_eq(ec_alg, LGSP_JWT_ALG_ES256);

    /* many signatures: r and s with the top bit set or not, both ways */
    for (i = 0; i < 64; i++) {
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"sys-1\",\"exp\":1700000600,\"jti\":\"j%d\"}", i);
        make(HDR_ES, claims, SIGN_ES256);

        ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
        ck_assert_int_eq(jwt.alg, LGSP_JWT_ALG_ES256);
        ck_assert(str_is(&jwt.kid, "k2"));
        ck_assert_uint_eq(jwt.sig_len, 64);
        ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                         LGSP_JWT_OK);
    }
}
END_TEST


START_TEST(test_alg_none)
{
    make("{\"alg\":\"none\",\"kid\":\"k1\"}", CLAIMS, SIGN_NONE);

    ck_assert_int_eq(parse_tok(), LGSP_JWT_BAD_ALG);
    ck_assert_int_eq(jwt.alg, LGSP_JWT_ALG_UNKNOWN);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);

    /* "None", with a signature segment: same answer */
    make("{\"alg\":\"None\",\"kid\":\"k1\"}", CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_BAD_ALG);
}
END_TEST


/*
 * The libjwt #200 attack: HS256 with the RSA public key's PEM as the HMAC
 * secret.  The parser refuses HS* outright; and a caller that ignored that
 * answer still gets ALG_MISMATCH from verify, whatever alg it pins.
 */
START_TEST(test_hs256_with_public_pem)
{
    unsigned char  mac[EVP_MAX_MD_SIZE];
    unsigned int   mac_len;
    char          *dot;

    make("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", CLAIMS,
         SIGN_HS256);

    /* it is a genuine forgery: the MAC checks out with the public PEM */
    dot = strrchr(tok, '.');
    HMAC(EVP_sha256(), rsa_pem, (int) rsa_pem_len, (unsigned char *) tok,
         dot - tok, mac, &mac_len);
    ck_assert_uint_eq(mac_len, 32);

    ck_assert_int_eq(parse_tok(), LGSP_JWT_BAD_ALG);
    ck_assert_uint_eq(jwt.sig_len, 0);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_UNKNOWN),
                     LGSP_JWT_ALG_MISMATCH);

    make("{\"alg\":\"HS512\",\"kid\":\"k1\"}", CLAIMS, SIGN_HS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_BAD_ALG);
}
END_TEST


START_TEST(test_unknown_alg)
{
    static const char  *algs[] = {
        "RS512", "PS256", "ES384", "EdDSA", "rs256", "RS256 ", " RS256",
        "RS2560", "RS25", "", "ES256K"
    };
    char                hdr[128];
    size_t              i;

    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"k1\"}",
                 algs[i]);
        ck_assert_msg(parse_header(hdr) == LGSP_JWT_BAD_ALG, "%s", algs[i]);
        ck_assert_int_eq(jwt.alg, LGSP_JWT_ALG_UNKNOWN);
    }

    ck_assert_int_eq(parse_header("{\"kid\":\"k1\"}"), LGSP_JWT_BAD_ALG);
    ck_assert_int_eq(parse_header("{\"alg\":256,\"kid\":\"k1\"}"),
                     LGSP_JWT_BAD_ALG);
    ck_assert_int_eq(parse_header("{\"alg\":[\"RS256\"],\"kid\":\"k1\"}"),
                     LGSP_JWT_BAD_ALG);
    ck_assert_int_eq(parse_header("{\"alg\":null,\"kid\":\"k1\"}"),
                     LGSP_JWT_BAD_ALG);
}
END_TEST


START_TEST(test_kid)
{
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\"}"), LGSP_JWT_NO_KID);
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"\"}"),
                     LGSP_JWT_NO_KID);
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":7}"),
                     LGSP_JWT_BAD_HEADER);
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"a\","
                                  "\"typ\":1}"),
                     LGSP_JWT_BAD_HEADER);

    /* typ is optional */
    ck_assert_int_eq(parse_header("{\"kid\":\"k\\/1\",\"alg\":\"RS256\"}"),
                     LGSP_JWT_OK);
    ck_assert(str_is(&jwt.kid, "k/1"));
    ck_assert_ptr_null(jwt.typ.data);

    /* no extension is understood, so any crit refuses the token */
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"a\","
                                  "\"crit\":[\"exp\"],\"exp\":1}"),
                     LGSP_JWT_BAD_HEADER);

    /* a failed parse must not leave a verifiable structure behind */
    ck_assert_int_eq(jwt.alg, LGSP_JWT_ALG_UNKNOWN);
}
END_TEST


START_TEST(test_bad_signature)
{
    char  *dot, *c;

    make(HDR_RS, CLAIMS, SIGN_RS256);

    /* one character in the middle of the signature, still base64url */
    dot = strrchr(tok, '.');
    c = dot + 100;
    *c = (*c == 'A') ? 'B' : 'A';

    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_BAD_SIGNATURE);

    make(HDR_ES, CLAIMS, SIGN_ES256);
    dot = strrchr(tok, '.');
    c = dot + 20;
    *c = (*c == 'A') ? 'B' : 'A';

    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_SIGNATURE);
}
END_TEST


/* the prepared verifier the module uses: the same verdicts as verify() */
START_TEST(test_prepared)
{
    char                  *dot, *c;
    lgsp_jwt_verifier_t   *rs, *es;

    rs = lgsp_jwt_verifier_new(rsa_pub, LGSP_JWT_ALG_RS256);
    es = lgsp_jwt_verifier_new(ec_pub, LGSP_JWT_ALG_ES256);
    ck_assert_ptr_nonnull(rs);
    ck_assert_ptr_nonnull(es);

    /* a key of the wrong type is refused when prepared, not per token */
    ck_assert_ptr_null(lgsp_jwt_verifier_new(ec_pub, LGSP_JWT_ALG_RS256));
    ck_assert_ptr_null(lgsp_jwt_verifier_new(rsa_pub, LGSP_JWT_ALG_ES256));
    ck_assert_ptr_null(lgsp_jwt_verifier_new(NULL, LGSP_JWT_ALG_RS256));

    /* one verifier serves many tokens */
    for (int i = 0; i < 3; i++) {
        make(HDR_RS, CLAIMS, SIGN_RS256);
        ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
        ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, rs), LGSP_JWT_OK);
        ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, es),
                         LGSP_JWT_ALG_MISMATCH);

        make(HDR_ES, CLAIMS, SIGN_ES256);
        ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
        ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, es), LGSP_JWT_OK);
        ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, rs),
                         LGSP_JWT_ALG_MISMATCH);
    }

    make(HDR_RS, CLAIMS, SIGN_RS256);
    dot = strrchr(tok, '.');
    c = dot + 100;
    *c = (*c == 'A') ? 'B' : 'A';
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, rs),
                     LGSP_JWT_BAD_SIGNATURE);

    /* and a good one still passes after a failure left nothing behind */
    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, rs), LGSP_JWT_OK);

    make(HDR_ES, CLAIMS, SIGN_ES256);
    dot = strrchr(tok, '.');
    c = dot + 20;
    *c = (*c == 'A') ? 'B' : 'A';
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, es),
                     LGSP_JWT_BAD_SIGNATURE);

    /* wrong signature lengths */
    make(HDR_ES, CLAIMS, SIGN_ES256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    jwt.sig_len--;
    ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, es),
                     LGSP_JWT_BAD_SIGNATURE);

    ck_assert_int_eq(lgsp_jwt_verify_prepared(&jwt, NULL), LGSP_JWT_BAD_KEY);

    lgsp_jwt_verifier_free(rs);
    lgsp_jwt_verifier_free(es);
}
END_TEST


START_TEST(test_payload_altered)
{
    char    sig[512], *dot, altered[sizeof(tok)];
    size_t  n;
    int     i;

    for (i = 0; i < 2; i++) {
        make(i ? HDR_ES : HDR_RS, CLAIMS, i ? SIGN_ES256 : SIGN_RS256);

        dot = strrchr(tok, '.');
        strcpy(sig, dot);

        /* same header and signature, one claim changed */
        n = b64url((const unsigned char *) (i ? HDR_ES : HDR_RS),
                   strlen(i ? HDR_ES : HDR_RS), altered);
        altered[n++] = '.';
        n += b64url((const unsigned char *)
                    "{\"sub\":\"sys-43\",\"exp\":1700000600}", 33,
                    altered + n);
        strcpy(altered + n, sig);

        ck_assert_int_eq(parse(altered), LGSP_JWT_OK);
        ck_assert(str_is(&jwt.sub, "sys-43"));
        ck_assert_int_eq(lgsp_jwt_verify(&jwt, i ? ec_pub : rsa_pub,
                                         i ? LGSP_JWT_ALG_ES256
                                           : LGSP_JWT_ALG_RS256),
                         LGSP_JWT_BAD_SIGNATURE);
    }
}
END_TEST


START_TEST(test_sig_wrong_length)
{
    unsigned char  sig[512];

    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    memcpy(sig, jwt.sig, 256);

    set_sig(sig, 255);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_BAD_SIGNATURE);

    sig[256] = 0;
    set_sig(sig, 257);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_BAD_SIGNATURE);

    make(HDR_ES, CLAIMS, SIGN_ES256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    memcpy(sig, jwt.sig, 64);

    set_sig(sig, 63);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_SIGNATURE);

    sig[64] = 0;
    set_sig(sig, 65);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_SIGNATURE);

    /* a DER signature, as a sloppy issuer would send, is not r || s */
    set_sig(sig, 70);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_SIGNATURE);
}
END_TEST


START_TEST(test_alg_pinned_by_key)
{
    /* a good ES256 token, but its kid's key is pinned RS256 */
    make(HDR_ES, CLAIMS, SIGN_ES256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_OK);

    /* the pin and the key disagree: a caller bug, not a bad token */
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_KEY);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, NULL, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_BAD_KEY);

    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_ES256),
                     LGSP_JWT_ALG_MISMATCH);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, ec_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_BAD_KEY);
    ck_assert_int_eq(lgsp_jwt_verify(NULL, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);
}
END_TEST


START_TEST(test_es256_der)
{
    int             i, j, n;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char   raw[64], der[LGSP_JWT_ES256_DER_MAX], *ref;
    size_t          len;

    /* edge shapes first: zero, leading zero bytes, top bit set */
    for (i = 0; i < 400; i++) {
        for (j = 0; j < 64; j++) {
            raw[j] = (unsigned char) (rand() & 0xff);
        }

        switch (i % 8) {
        case 0: memset(raw, 0, 64); break;
        case 1: memset(raw, 0, 31); memset(raw + 32, 0, 31); break;
        case 2: raw[0] = 0; raw[32] = 0; break;
        case 3: raw[0] |= 0x80; raw[32] |= 0x80; break;
        case 4: memset(raw, 0, 5); raw[5] |= 0x80; break;
        case 5: memset(raw, 0xff, 64); break;
        default: break;
        }

        len = lgsp_jwt_es256_sig_to_der(raw, der);
        ck_assert_uint_le(len, LGSP_JWT_ES256_DER_MAX);

        es = ECDSA_SIG_new();
        r = BN_bin2bn(raw, 32, NULL);
        s = BN_bin2bn(raw + 32, 32, NULL);
        ck_assert_int_eq(ECDSA_SIG_set0(es, r, s), 1);

        ref = NULL;
        n = i2d_ECDSA_SIG(es, &ref);
        ck_assert_int_gt(n, 0);

        ck_assert_uint_eq(len, (size_t) n);
        ck_assert_mem_eq(der, ref, len);

        OPENSSL_free(ref);
        ECDSA_SIG_free(es);
    }
}
END_TEST


/* time and audience */

START_TEST(test_time_boundaries)
{
    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);

    /* exp = 1700000600, skew 60: valid through now = exp + 60 exactly */
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000600, 60), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000660, 60), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000661, 60),
                     LGSP_JWT_EXPIRED);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000601, 0),
                     LGSP_JWT_EXPIRED);

    /* nbf = 1700000000: valid from now = nbf - 60 exactly */
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1699999940, 60), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1699999939, 60),
                     LGSP_JWT_NOT_YET_VALID);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1699999999, 0),
                     LGSP_JWT_NOT_YET_VALID);

    /* a negative skew is no skew, not a tighter window */
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000600, -5), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, 1700000601, -5),
                     LGSP_JWT_EXPIRED);
}
END_TEST


START_TEST(test_time_claims)
{
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\",\"nbf\":1}"), LGSP_JWT_OK);
    ck_assert(!jwt.has_exp);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW, 60), LGSP_JWT_NO_EXP);

    /* nbf in the future, no skew can reach it */
    ck_assert_int_eq(parse_claims("{\"exp\":1800000000,"
                                  "\"nbf\":1700003600}"), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW, 60),
                     LGSP_JWT_NOT_YET_VALID);

    /* no nbf: only exp matters */
    ck_assert_int_eq(parse_claims("{\"exp\":1700000600}"), LGSP_JWT_OK);
    ck_assert(!jwt.has_nbf);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW, 60), LGSP_JWT_OK);

    /* the largest exp: no overflow when the skew is added */
    ck_assert_int_eq(parse_claims("{\"exp\":9223372036854775807,"
                                  "\"nbf\":9223372036854775807}"),
                     LGSP_JWT_OK);
    ck_assert_int_eq(jwt.exp, INT64_MAX);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW, 60),
                     LGSP_JWT_NOT_YET_VALID);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, INT64_MAX, INT64_MAX),
                     LGSP_JWT_OK);

    ck_assert_int_eq(parse_claims("{\"exp\":0}"), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_check_time(&jwt, NOW, 60), LGSP_JWT_EXPIRED);
}
END_TEST


START_TEST(test_aud)
{
    ck_assert_int_eq(parse_claims("{\"aud\":\"lgsp:sandbox\"}"), LGSP_JWT_OK);
    ck_assert(lgsp_jwt_has_aud(&jwt, "lgsp:sandbox", 12));
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:production", 15));
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:sand", 9));
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:sandbox2", 13));

    ck_assert_int_eq(parse_claims("{\"aud\":[\"x\", \"lgsp:production\" ]}"),
                     LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.naud, 2);
    ck_assert(lgsp_jwt_has_aud(&jwt, "lgsp:production", 15));
    ck_assert(lgsp_jwt_has_aud(&jwt, "x", 1));
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:sandbox", 12));

    /* kept: the first four; a fifth is never matched (fails closed) */
    ck_assert_int_eq(parse_claims("{\"aud\":[\"a\",\"b\",\"c\",\"d\","
                                  "\"lgsp:production\"]}"), LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.naud, 4);
    ck_assert(lgsp_jwt_has_aud(&jwt, "d", 1));
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:production", 15));

    ck_assert_int_eq(parse_claims("{\"aud\":[]}"), LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.naud, 0);
    ck_assert(!lgsp_jwt_has_aud(&jwt, "", 0));

    ck_assert_int_eq(parse_claims("{\"sub\":\"s\"}"), LGSP_JWT_OK);
    ck_assert(!lgsp_jwt_has_aud(&jwt, "lgsp:production", 15));

    ck_assert_int_eq(parse_claims("{\"aud\":[\"a\",1]}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"aud\":{\"a\":1}}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"aud\":null}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"aud\":[\"a\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"aud\":[\"a\",]}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"aud\":[\"a\""), LGSP_JWT_BAD_JSON);
}
END_TEST


/* structure: length, dots, base64url */

START_TEST(test_max_length)
{
    char    claims[LGSP_JWT_MAX_LEN];
    char    hdr[64];
    size_t  pad, base, total;
    int     spaces;

    /*
     * Find a padding that makes the signed token exactly 8192 bytes: not
     * every length is reachable with one header, so vary the header too.
     */
    for (spaces = 0; spaces < 4; spaces++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",%*s\"kid\":\"k1\"}",
                 spaces, "");

        for (pad = 5000; pad < 7000; pad++) {
            base = strlen("{\"exp\":1700000600,\"pad\":\"\"}") + pad;
            total = b64url_len(strlen(hdr)) + 1 + b64url_len(base) + 1
                    + b64url_len(256);

            if (total == LGSP_JWT_MAX_LEN) {
                goto found;
            }
        }
    }

    ck_abort_msg("no padding gives an 8192-byte token");

found:

    snprintf(claims, sizeof(claims), "{\"exp\":1700000600,\"pad\":\"%0*d\"}",
             (int) pad, 0);
    make(hdr, claims, SIGN_RS256);
    ck_assert_uint_eq(tok_len, LGSP_JWT_MAX_LEN);

    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_OK);

    /* one more byte, anywhere, and it is refused before anything else */
    tok[tok_len++] = 'A';
    ck_assert_int_eq(parse_tok(), LGSP_JWT_TOO_LONG);
    ck_assert_int_eq(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256),
                     LGSP_JWT_ALG_MISMATCH);

    memset(tok, 'A', 20000);
    ck_assert_int_eq(parse_n(tok, 20000), LGSP_JWT_TOO_LONG);

    /* the scratch bound holds for the largest token */
    ck_assert_int_le(LGSP_JWT_MAX_LEN / 4 * 3, LGSP_JWT_SCRATCH_SIZE);
}
END_TEST


START_TEST(test_scratch_too_small)
{
    make(HDR_RS, CLAIMS, SIGN_RS256);

    ck_assert_int_eq(lgsp_jwt_parse(&jwt, (unsigned char *) tok, tok_len,
                                    scratch, 100), LGSP_JWT_NO_SPACE);
    ck_assert_int_eq(lgsp_jwt_parse(&jwt, (unsigned char *) tok, tok_len,
                                    NULL, 0), LGSP_JWT_NO_SPACE);
    ck_assert_int_eq(lgsp_jwt_parse(&jwt, (unsigned char *) tok, tok_len,
                                    scratch, 1000), LGSP_JWT_OK);
}
END_TEST


START_TEST(test_truncated)
{
    size_t  full, n;
    int     rc;

    make(HDR_RS, CLAIMS, SIGN_RS256);
    full = tok_len;

    /* no prefix of a good token may pass both parse and verify */
    for (n = 0; n < full; n++) {
        rc = parse_n(tok, n);

        if (rc == LGSP_JWT_OK) {
            ck_assert_msg(lgsp_jwt_verify(&jwt, rsa_pub, LGSP_JWT_ALG_RS256)
                          == LGSP_JWT_BAD_SIGNATURE, "prefix %zu", n);

        } else {
            ck_assert_int_ne(rc, LGSP_JWT_TOO_LONG);
        }
    }

    ck_assert_int_eq(parse_n(tok, full), LGSP_JWT_OK);
    ck_assert_int_eq(parse_n(tok, 0), LGSP_JWT_MALFORMED);
}
END_TEST


START_TEST(test_dots)
{
    char  good[sizeof(tok)], buf[sizeof(tok) + 8];
    char *d1, *d2;

    make(HDR_RS, CLAIMS, SIGN_RS256);
    memcpy(good, tok, tok_len + 1);
    d1 = strchr(good, '.');
    d2 = strrchr(good, '.');

    ck_assert_int_eq(parse("abc"), LGSP_JWT_MALFORMED);
    ck_assert_int_eq(parse("."), LGSP_JWT_MALFORMED);
    ck_assert_int_eq(parse(".."), LGSP_JWT_MALFORMED);
    ck_assert_int_eq(parse("..."), LGSP_JWT_MALFORMED);

    /* header.payload only */
    ck_assert_int_eq(parse_n(good, d2 - good), LGSP_JWT_MALFORMED);

    /* header.payload. : empty signature under a known alg */
    ck_assert_int_eq(parse_n(good, d2 + 1 - good), LGSP_JWT_MALFORMED);

    /* extra segments (JWE has five) */
    snprintf(buf, sizeof(buf), "%s.", good);
    ck_assert_int_eq(parse(buf), LGSP_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%s.AAAA", good);
    ck_assert_int_eq(parse(buf), LGSP_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%.*s.%s", (int) (d1 - good), good, d1);
    ck_assert_int_eq(parse(buf), LGSP_JWT_MALFORMED);

    /* empty header, empty payload */
    ck_assert_int_eq(parse(d1), LGSP_JWT_MALFORMED);
    snprintf(buf, sizeof(buf), "%.*s.%s", (int) (d1 - good), good, d2);
    ck_assert_int_eq(parse(buf), LGSP_JWT_MALFORMED);

    ck_assert_int_eq(parse(good), LGSP_JWT_OK);
}
END_TEST


START_TEST(test_base64url)
{
    char    good[sizeof(tok)], buf[sizeof(tok) + 8];
    char   *d2;
    size_t  i, len;
    static const char  bad[] = { '+', '/', '=', ' ', '\n', '\0', '~', '\x80' };

    make(HDR_RS, CLAIMS, SIGN_RS256);
    memcpy(good, tok, tok_len + 1);
    len = tok_len;
    d2 = strrchr(good, '.');

    /* a bad character in each segment, including an embedded NUL */
    for (i = 0; i < sizeof(bad); i++) {
        memcpy(buf, good, len);
        buf[3] = bad[i];
        ck_assert_int_eq(parse_n(buf, len), LGSP_JWT_MALFORMED);

        memcpy(buf, good, len);
        buf[strchr(good, '.') - good + 5] = bad[i];
        ck_assert_int_eq(parse_n(buf, len), LGSP_JWT_MALFORMED);

        memcpy(buf, good, len);
        buf[d2 - good + 7] = bad[i];
        ck_assert_int_eq(parse_n(buf, len), LGSP_JWT_MALFORMED);
    }

    /* padding is refused, even where it would be correct */
    make("{\"alg\":\"RS256\",\"kid\":\"k\"}", "{\"exp\":1}", SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    /* 256-byte signature: 342 characters, base64 would pad with "==" */
    memcpy(tok + tok_len, "==", 3);
    tok_len += 2;
    ck_assert_int_eq(parse_tok(), LGSP_JWT_MALFORMED);
    tok_len -= 1;
    ck_assert_int_eq(parse_tok(), LGSP_JWT_MALFORMED);

    /* a segment of 4k+1 characters cannot be base64 */
    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_uint_eq((tok_len - (strrchr(tok, '.') + 1 - tok)) % 4, 2);
    memcpy(tok + tok_len, "AAA", 3);
    tok_len += 3;
    ck_assert_int_eq(parse_tok(), LGSP_JWT_MALFORMED);

    /*
     * Non-canonical: the signature's last character carries 4 unused bits
     * (342 = 4 * 85 + 2); setting one must be refused, not ignored.
     */
    make(HDR_RS, CLAIMS, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_OK);
    ck_assert(strchr("AQgw", tok[tok_len - 1]) != NULL);

    /* A, Q, g, w are the canonical ones; the next letter sets bit 0 */
    tok[tok_len - 1]++;
    ck_assert_int_eq(parse_tok(), LGSP_JWT_MALFORMED);

    /* same for a 3-character tail: 2 unused bits */
    ck_assert_int_eq(parse_claims("{\"exp\":123}"), LGSP_JWT_OK);
    d2 = strrchr(tok, '.');
    ck_assert_uint_eq((d2 - strchr(tok, '.') - 1) % 4, 3);
    ck_assert(strchr("AEIMQUYcgkosw048", d2[-1]) != NULL);
    d2[-1]++;
    ck_assert_int_eq(parse_tok(), LGSP_JWT_MALFORMED);
}
END_TEST


/* JSON */

START_TEST(test_json_duplicates)
{
    ck_assert_int_eq(parse_claims("{\"exp\":1,\"exp\":2}"),
                     LGSP_JWT_DUPLICATE);
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\",\"x\":1,\"sub\":\"b\"}"),
                     LGSP_JWT_DUPLICATE);
    ck_assert_int_eq(parse_claims("{\"x\":1,\"y\":2,\"x\":[]}"),
                     LGSP_JWT_DUPLICATE);

    /* same name once decoded: what another parser would see */
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\",\"\\u0073ub\":\"b\"}"),
                     LGSP_JWT_DUPLICATE);
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"k\","
                                  "\"alg\":\"none\"}"),
                     LGSP_JWT_DUPLICATE);
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"k\","
                                  "\"\\u0061lg\":\"HS256\"}"),
                     LGSP_JWT_DUPLICATE);

    /* names in nested objects are their own scope */
    ck_assert_int_eq(parse_claims("{\"exp\":5,\"cnf\":{\"exp\":1}}"),
                     LGSP_JWT_OK);
    ck_assert_int_eq(jwt.exp, 5);
}
END_TEST


START_TEST(test_json_numbers)
{
    static const char  *bad_claim[] = {
        "1.5", "1700000600.0", "1e9", "1E9", "-1", "-0", "\"1700000600\"",
        "true", "null", "[1]", "{}",
        "9223372036854775808", "99999999999999999999999999"
    };
    static const char  *bad_json[] = {
        "0123", "00", "1700000600x", "1 2"
    };
    char                buf[128];
    size_t              i;

    for (i = 0; i < sizeof(bad_claim) / sizeof(bad_claim[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"exp\":%s}", bad_claim[i]);
        ck_assert_msg(parse_claims(buf) == LGSP_JWT_BAD_CLAIM, "%s", buf);
    }

    for (i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"nbf\":%s}", bad_json[i]);
        ck_assert_msg(parse_claims(buf) == LGSP_JWT_BAD_JSON, "%s", buf);
    }

    ck_assert_int_eq(parse_claims("{\"iat\":9223372036854775807}"),
                     LGSP_JWT_OK);
    ck_assert_int_eq(jwt.iat, INT64_MAX);
    ck_assert_int_eq(parse_claims("{\"iat\":0}"), LGSP_JWT_OK);
    ck_assert(jwt.has_iat);
    ck_assert_int_eq(jwt.iat, 0);

    /* numbers of claims we do not read: any valid JSON number */
    ck_assert_int_eq(parse_claims("{\"x\":-1.5e+400,\"y\":"
                                  "123456789012345678901234567890,"
                                  "\"z\":0.0,\"exp\":7}"), LGSP_JWT_OK);
    ck_assert_int_eq(jwt.exp, 7);
    ck_assert_int_eq(parse_claims("{\"x\":1.}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"x\":.5}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"x\":1e}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"x\":+1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"x\":-}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"x\":0x10}"), LGSP_JWT_BAD_JSON);
}
END_TEST


START_TEST(test_json_strings)
{
    /* escapes are decoded in place */
    ck_assert_int_eq(parse_claims("{\"iss\":\"a\\/b\\\"c\\\\d\\u00e9"
                                  "\\ud83d\\ude00\\n\"}"), LGSP_JWT_OK);
    ck_assert(str_is(&jwt.iss, "a/b\"c\\d\xc3\xa9\xf0\x9f\x98\x80\n"));

    /* raw UTF-8 passes as is */
    ck_assert_int_eq(parse_claims("{\"org\":\"S\xe1\xbb\x9f N\xe1\xbb\x99i"
                                  " v\xe1\xbb\xa5\"}"), LGSP_JWT_OK);
    ck_assert(str_is(&jwt.org, "S\xe1\xbb\x9f N\xe1\xbb\x99i v\xe1\xbb\xa5"));

    ck_assert_int_eq(parse_claims("{\"sub\":\"\"}"), LGSP_JWT_OK);
    ck_assert_ptr_nonnull(jwt.sub.data);
    ck_assert_uint_eq(jwt.sub.len, 0);
    ck_assert_ptr_null(jwt.iss.data);

    /* NUL, lone surrogates, unknown escapes, short \u */
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\\u0000b\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\ud800\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\ud800\\u0041\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\udc00\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\x41\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\u12\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\\u12g4\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\\\"}"), LGSP_JWT_BAD_JSON);

    /* raw control characters and broken UTF-8 */
    ck_assert_int_eq(parse_claims("{\"sub\":\"a\tb\"}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\xc0\xaf\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\xed\xa0\x80\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\xf4\x90\x80\x80\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\xe1\xbb\"}"),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"\xff\"}"), LGSP_JWT_BAD_JSON);

    /* unterminated */
    ck_assert_int_eq(parse_claims("{\"sub\":\"abc"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub\":\"abc\""), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"sub"), LGSP_JWT_BAD_JSON);

    /* known string claims must be strings */
    ck_assert_int_eq(parse_claims("{\"iss\":5}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"sub\":null}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"org\":[\"a\"]}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"client_id\":{}}"), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(parse_claims("{\"jti\":true}"), LGSP_JWT_BAD_CLAIM);
}
END_TEST


START_TEST(test_json_structure)
{
    char    buf[2048];
    size_t  n;
    int     i, j;

    /* whitespace anywhere JSON allows it */
    ck_assert_int_eq(parse_claims(" \t\r\n{ \"exp\" : 7 ,\"sub\":\"s\" }\n "),
                     LGSP_JWT_OK);
    ck_assert_int_eq(jwt.exp, 7);
    ck_assert(str_is(&jwt.sub, "s"));

    /* nested values of unknown claims are skipped, not read */
    ck_assert_int_eq(parse_claims("{\"cnf\":{\"jwk\":{\"kty\":\"RSA\","
                                  "\"aud\":\"x\",\"e\":[1,true,null,{}]}},"
                                  "\"roles\":[[],[\"a\"],{\"b\":false}],"
                                  "\"aud\":\"lgsp:sandbox\"}"), LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.naud, 1);
    ck_assert(str_is(&jwt.aud[0], "lgsp:sandbox"));

    /* nesting: 8 levels are skipped, 9 refused */
    ck_assert_int_eq(parse_claims("{\"x\":[[[[[[[[1]]]]]]]]}"), LGSP_JWT_OK);
    ck_assert_int_eq(parse_claims("{\"x\":[[[[[[[[[1]]]]]]]]]}"),
                     LGSP_JWT_BAD_JSON);
    for (i = 8; i <= 9; i++) {
        n = snprintf(buf, sizeof(buf), "{\"x\":");

        for (j = 0; j < i; j++) {
            n += snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
        }

        n += snprintf(buf + n, sizeof(buf) - n, "1%.*s}", i,
                      "}}}}}}}}}}}}}}}}");

        ck_assert_msg(parse_claims(buf)
                      == (i == 8 ? LGSP_JWT_OK : LGSP_JWT_BAD_JSON),
                      "%d nested objects", i);
    }

    /* trailing garbage, or not one object */
    ck_assert_int_eq(parse_claims("{\"exp\":1}x"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"exp\":1}{}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"exp\":1},"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("[{\"exp\":1}]"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("\"exp\""), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims(" "), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{}"), LGSP_JWT_OK);

    /* grammar */
    ck_assert_int_eq(parse_claims("{\"a\":1,}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{,\"a\":1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\" 1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{'a':1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{a:1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":tru}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":True}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":[1,]}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":[1 2]}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":{\"b\"}}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":{1:2}}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":[1}"), LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_claims("{\"a\":1"), LGSP_JWT_BAD_JSON);

    /* a NUL byte in the JSON text itself */
    make_n(HDR_RS, strlen(HDR_RS), "{\"a\":1}\0", 8, SIGN_RS256);
    ck_assert_int_eq(parse_tok(), LGSP_JWT_BAD_JSON);

    /* LGSP_JWT_MAX_MEMBERS members pass, one more is refused */
    for (i = LGSP_JWT_MAX_MEMBERS; i <= LGSP_JWT_MAX_MEMBERS + 1; i++) {
        n = snprintf(buf, sizeof(buf), "{\"exp\":1");

        for (j = 1; j < i; j++) {
            n += snprintf(buf + n, sizeof(buf) - n, ",\"m%d\":%d", j, j);
        }

        snprintf(buf + n, sizeof(buf) - n, "}");

        ck_assert_msg(parse_claims(buf)
                      == (i == LGSP_JWT_MAX_MEMBERS ? LGSP_JWT_OK
                                                    : LGSP_JWT_BAD_JSON),
                      "%d members", i);
    }

    /* header JSON faults are reported as such */
    ck_assert_int_eq(parse_header("{\"alg\":\"RS256\",\"kid\":\"k\""),
                     LGSP_JWT_BAD_JSON);
    ck_assert_int_eq(parse_header("[\"RS256\"]"), LGSP_JWT_BAD_JSON);
}
END_TEST


/* keys */

static EVP_PKEY *
der_round_trip(EVP_PKEY *key, lgsp_jwt_alg_e *alg, int extra)
{
    int             n;
    EVP_PKEY       *out;
    unsigned char  *der, *buf;

    der = NULL;
    n = i2d_PUBKEY(key, &der);
    ck_assert_int_gt(n, 0);

    buf = malloc(n + 1);
    memcpy(buf, der, n);
    buf[n] = 0;

    out = lgsp_jwt_key_from_der(buf, n + extra, alg);

    OPENSSL_free(der);
    free(buf);

    return out;
}


START_TEST(test_key_from_der)
{
    EVP_PKEY        *k, *pub;
    EVP_PKEY_CTX    *ctx;
    lgsp_jwt_alg_e   alg;
    unsigned char    junk[64];

    alg = LGSP_JWT_ALG_UNKNOWN;
    pub = der_round_trip(rsa_priv, &alg, 0);
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(alg, LGSP_JWT_ALG_RS256);
    EVP_PKEY_free(pub);

    alg = LGSP_JWT_ALG_UNKNOWN;
    pub = der_round_trip(ec_priv, &alg, 0);
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(alg, LGSP_JWT_ALG_ES256);
    EVP_PKEY_free(pub);

    /* a trailing byte, or one missing */
    ck_assert_ptr_null(der_round_trip(rsa_priv, &alg, 1));
    ck_assert_ptr_null(der_round_trip(ec_priv, &alg, -1));

    k = EVP_RSA_gen(1024);
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_null(der_round_trip(k, &alg, 0));
    EVP_PKEY_free(k);

    k = EVP_EC_gen("P-384");
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_null(der_round_trip(k, &alg, 0));
    EVP_PKEY_free(k);

    k = EVP_EC_gen("secp256k1");
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_null(der_round_trip(k, &alg, 0));
    EVP_PKEY_free(k);

    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ck_assert_ptr_nonnull(k);
    ck_assert_ptr_null(der_round_trip(k, &alg, 0));
    EVP_PKEY_free(k);

    k = NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_int_eq(EVP_PKEY_keygen_init(ctx), 1);
    ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
    ck_assert_int_eq(EVP_PKEY_keygen(ctx, &k), 1);
    EVP_PKEY_CTX_free(ctx);
    ck_assert_ptr_nonnull(k);
    ck_assert(EVP_PKEY_is_a(k, "RSA-PSS"));
    ck_assert_ptr_null(der_round_trip(k, &alg, 0));
    EVP_PKEY_free(k);

    memset(junk, 0x30, sizeof(junk));
    ck_assert_ptr_null(lgsp_jwt_key_from_der(junk, sizeof(junk), &alg));
    ck_assert_ptr_null(lgsp_jwt_key_from_der(junk, 0, &alg));
    ck_assert_ptr_null(lgsp_jwt_key_from_der(NULL, 10, &alg));

    /* alg_out is optional */
    pub = der_round_trip(ec_priv, NULL, 0);
    ck_assert_ptr_nonnull(pub);
    EVP_PKEY_free(pub);
}
END_TEST


START_TEST(test_strerror)
{
    int          i, j;
    const char  *a, *b;

    for (i = 0; i < LGSP_JWT_RC_MAX; i++) {
        a = lgsp_jwt_strerror(i);
        ck_assert_ptr_nonnull(a);
        ck_assert_str_ne(a, "unknown error");

        for (j = 0; j < i; j++) {
            b = lgsp_jwt_strerror(j);
            ck_assert_str_ne(a, b);
        }
    }

    ck_assert_str_eq(lgsp_jwt_strerror(LGSP_JWT_RC_MAX), "unknown error");
    ck_assert_str_eq(lgsp_jwt_strerror((lgsp_jwt_rc_e) -1), "unknown error");
    ck_assert_str_eq(lgsp_jwt_alg_name(LGSP_JWT_ALG_RS256), "RS256");
    ck_assert_str_eq(lgsp_jwt_alg_name(LGSP_JWT_ALG_ES256), "ES256");
    ck_assert_str_eq(lgsp_jwt_alg_name(LGSP_JWT_ALG_UNKNOWN), "unknown");
}
END_TEST


Suite *
jwt_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("jwt");

    tc = tcase_create("signature");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_rs256_ok);
    tcase_add_test(tc, test_es256_ok);
    tcase_add_test(tc, test_prepared);
    tcase_add_test(tc, test_alg_none);
    tcase_add_test(tc, test_hs256_with_public_pem);
    tcase_add_test(tc, test_unknown_alg);
    tcase_add_test(tc, test_kid);
    tcase_add_test(tc, test_bad_signature);
    tcase_add_test(tc, test_payload_altered);
    tcase_add_test(tc, test_sig_wrong_length);
    tcase_add_test(tc, test_alg_pinned_by_key);
    tcase_add_test(tc, test_es256_der);
    suite_add_tcase(s, tc);

    tc = tcase_create("claims");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_time_boundaries);
    tcase_add_test(tc, test_time_claims);
    tcase_add_test(tc, test_aud);
    suite_add_tcase(s, tc);

    tc = tcase_create("structure");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_max_length);
    tcase_add_test(tc, test_scratch_too_small);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_dots);
    tcase_add_test(tc, test_base64url);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_json_duplicates);
    tcase_add_test(tc, test_json_numbers);
    tcase_add_test(tc, test_json_strings);
    tcase_add_test(tc, test_json_structure);
    suite_add_tcase(s, tc);

    tc = tcase_create("keys");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_test(tc, test_key_from_der);
    tcase_add_test(tc, test_strerror);
    suite_add_tcase(s, tc);

    return s;
}
