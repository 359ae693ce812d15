/*
 * Unit tests for cp_jwks.c (a trusted issuer's JWK into the DER key the
 * gateway loads) and for the extra claim lgsp_jwt_parse_claim() keeps.
 * Keys are generated here; a JWK is made from a key's DER by cp_jwk.c (the
 * platform's own JWKS writer), so a round trip must give the same DER.
 */

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cp_b64.h"
#include "cp_jwk.h"
#include "cp_jwks.h"
#include "lgsp_jwt.h"
#include "lgsp_snapshot_format.h"

static EVP_PKEY *
keygen(const char *type, const char *param, unsigned int bits)
{
    EVP_PKEY     *k = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(EVP_PKEY_keygen_init(c), 1);
    if (param != NULL) {
        ck_assert_int_eq(EVP_PKEY_CTX_set_group_name(c, param), 1);
    } else {
        ck_assert_int_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(c, bits), 1);
    }
    ck_assert_int_eq(EVP_PKEY_generate(c, &k), 1);
    EVP_PKEY_CTX_free(c);
    return k;
}

/* the public JWK of a key, as the platform's JWKS shows it */
static cJSON *
jwk_of(EVP_PKEY *k, const char *alg, unsigned char **der, int *der_len)
{
    cJSON *j;

    *der = NULL;
    *der_len = i2d_PUBKEY(k, der);
    ck_assert_int_gt(*der_len, 0);
    j = cp_jwk_from_der(*der, (size_t) *der_len, "k1", alg);
    ck_assert_ptr_nonnull(j);
    return j;
}

static void
expect_refused(const cJSON *jwk, const char *reason_part)
{
    unsigned char *der = NULL;
    size_t         len = 0;
    uint32_t       alg = 0;
    const char    *why = NULL;

    ck_assert_int_eq(cp_jwk_to_der(jwk, &der, &len, &alg, &why), -1);
    ck_assert_ptr_null(der);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, reason_part) != NULL, "why: %s", why);
}

static void
set_str(cJSON *j, const char *name, const char *v)
{
    cJSON_DeleteItemFromObjectCaseSensitive(j, name);
    cJSON_AddStringToObject(j, name, v);
}

START_TEST(test_rsa_round_trip)
{
    EVP_PKEY      *k = keygen("RSA", NULL, 2048);
    unsigned char *der, *out;
    int            der_len;
    size_t         out_len;
    uint32_t       alg = 0;
    const char    *why = NULL;
    cJSON         *j = jwk_of(k, "RS256", &der, &der_len);

    ck_assert_int_eq(cp_jwk_to_der(j, &out, &out_len, &alg, &why), 0);
    ck_assert_uint_eq(alg, LGSP_ALG_RS256);
    ck_assert_uint_eq(out_len, (size_t) der_len);
    ck_assert_mem_eq(out, der, out_len);
    OPENSSL_free(out);

    /* without alg and use the key is still an RS256 key */
    cJSON_DeleteItemFromObject(j, "alg");
    cJSON_DeleteItemFromObject(j, "use");
    ck_assert_int_eq(cp_jwk_to_der(j, &out, &out_len, &alg, &why), 0);
    ck_assert_uint_eq(alg, LGSP_ALG_RS256);
    OPENSSL_free(out);

    cJSON_Delete(j);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_ec_round_trip)
{
    EVP_PKEY      *k = keygen("EC", "P-256", 0);
    unsigned char *der, *out;
    int            der_len;
    size_t         out_len;
    uint32_t       alg = 0;
    const char    *why = NULL;
    cJSON         *j = jwk_of(k, "ES256", &der, &der_len);

    ck_assert_int_eq(cp_jwk_to_der(j, &out, &out_len, &alg, &why), 0);
    ck_assert_uint_eq(alg, LGSP_ALG_ES256);
    ck_assert_uint_eq(out_len, (size_t) der_len);
    ck_assert_mem_eq(out, der, out_len);

    /* and the gateway loads it as ES256 */
    {
        lgsp_jwt_alg_e  a = LGSP_JWT_ALG_UNKNOWN;
        EVP_PKEY       *loaded = lgsp_jwt_key_from_der(out, out_len, &a);

        ck_assert_ptr_nonnull(loaded);
        ck_assert_int_eq(a, LGSP_JWT_ALG_ES256);
        EVP_PKEY_free(loaded);
    }
    OPENSSL_free(out);
    cJSON_Delete(j);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_rsa_refusals)
{
    EVP_PKEY      *k = keygen("RSA", NULL, 2048);
    EVP_PKEY      *small = keygen("RSA", NULL, 1024);
    unsigned char *der;
    int            der_len;
    cJSON         *j = jwk_of(k, "RS256", &der, &der_len), *c;

    OPENSSL_free(der);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "alg", "ES256");
    expect_refused(c, "other than RS256");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "alg", "HS256");
    expect_refused(c, "other than RS256");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "use", "enc");
    expect_refused(c, "signatures");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "e", "AAAC");                 /* 2: even */
    expect_refused(c, "not an RSA public key");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "n", "not base64url!");
    expect_refused(c, "n or e");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    cJSON_DeleteItemFromObject(c, "e");
    expect_refused(c, "n or e");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "kty", "oct");
    expect_refused(c, "neither RSA nor EC");
    cJSON_Delete(c);
    cJSON_Delete(j);

    /* under 2048 bits: refused, however well formed */
    j = jwk_of(small, "RS256", &der, &der_len);
    OPENSSL_free(der);
    expect_refused(j, "2048");
    cJSON_Delete(j);

    EVP_PKEY_free(k);
    EVP_PKEY_free(small);
}
END_TEST

START_TEST(test_ec_refusals)
{
    EVP_PKEY      *k = keygen("EC", "P-256", 0);
    unsigned char *der, y[33];
    char           y64[CP_B64URL_LEN(32) + 1];
    size_t         n;
    int            der_len;
    cJSON         *j = jwk_of(k, "ES256", &der, &der_len), *c;

    OPENSSL_free(der);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "crv", "P-384");
    expect_refused(c, "P-256");
    cJSON_Delete(c);

    c = cJSON_Duplicate(j, 1);
    set_str(c, "alg", "RS256");
    expect_refused(c, "other than ES256");
    cJSON_Delete(c);

    /* 31 bytes: the full width is required */
    c = cJSON_Duplicate(j, 1);
    set_str(c, "x", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg");
    expect_refused(c, "32 bytes");
    cJSON_Delete(c);

    /* a point off the curve: y with one bit flipped */
    ck_assert_int_eq(cp_b64url_decode(
        cJSON_GetObjectItem(j, "y")->valuestring,
        strlen(cJSON_GetObjectItem(j, "y")->valuestring), y, sizeof(y), &n),
        0);
    ck_assert_uint_eq(n, 32);
    y[31] ^= 1;
    cp_b64url_encode(y, 32, y64);
    c = cJSON_Duplicate(j, 1);
    set_str(c, "y", y64);
    expect_refused(c, "point on P-256");
    cJSON_Delete(c);

    cJSON_Delete(j);
    EVP_PKEY_free(k);
}
END_TEST

typedef struct {
    int   n;
    char  kids[4][32];
    uint32_t algs[4];
} seen_t;

static void
collect(void *ctx, const char *kid, uint32_t alg, const unsigned char *der,
        size_t der_len)
{
    seen_t *s = ctx;

    ck_assert_ptr_nonnull(der);
    ck_assert_uint_gt(der_len, 0);
    if (s->n < 4) {
        snprintf(s->kids[s->n], sizeof(s->kids[0]), "%s", kid);
        s->algs[s->n] = alg;
    }
    s->n++;
}

START_TEST(test_jwks_document)
{
    EVP_PKEY      *r = keygen("RSA", NULL, 2048), *e = keygen("EC", "P-256", 0);
    EVP_PKEY      *small = keygen("RSA", NULL, 1024);
    unsigned char *der;
    int            der_len;
    cJSON         *doc = cJSON_CreateObject(), *keys, *j;
    char          *text;
    const char    *why;
    seen_t         s;

    keys = cJSON_AddArrayToObject(doc, "keys");
    j = jwk_of(r, "RS256", &der, &der_len);
    OPENSSL_free(der);
    set_str(j, "kid", "rsa-1");
    cJSON_AddItemToArray(keys, j);
    j = jwk_of(small, "RS256", &der, &der_len);     /* skipped: too small */
    OPENSSL_free(der);
    set_str(j, "kid", "small");
    cJSON_AddItemToArray(keys, j);
    j = jwk_of(e, "ES256", &der, &der_len);
    OPENSSL_free(der);
    set_str(j, "kid", "ec-1");
    cJSON_AddItemToArray(keys, j);
    j = jwk_of(e, "ES256", &der, &der_len);         /* skipped: no kid */
    OPENSSL_free(der);
    cJSON_DeleteItemFromObject(j, "kid");
    cJSON_AddItemToArray(keys, j);

    text = cJSON_PrintUnformatted(doc);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(cp_jwks_keys(text, strlen(text), collect, &s), 2);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.kids[0], "rsa-1");
    ck_assert_uint_eq(s.algs[0], LGSP_ALG_RS256);
    ck_assert_str_eq(s.kids[1], "ec-1");
    ck_assert_uint_eq(s.algs[1], LGSP_ALG_ES256);
    ck_assert_int_eq(cp_jwks_check(text, strlen(text), &why), 0);
    free(text);

    ck_assert_int_eq(cp_jwks_keys("[]", 2, collect, &s), -1);
    ck_assert_int_eq(cp_jwks_keys("{\"keys\":{}}", 11, collect, &s), -1);
    ck_assert_int_eq(cp_jwks_keys("{\"keys\":[", 9, collect, &s), -1);
    ck_assert_int_eq(cp_jwks_check("{\"keys\":[]}", 11, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "no usable key"));
    ck_assert_int_eq(cp_jwks_check("<html>", 6, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "not a JWKS"));
    ck_assert_int_eq(cp_jwks_check("{}", CP_JWKS_MAX + 1, &why), -1);

    cJSON_Delete(doc);
    EVP_PKEY_free(r);
    EVP_PKEY_free(e);
    EVP_PKEY_free(small);
}
END_TEST

/* parse does not verify: a token of any signature bytes will do here */
static size_t
token(const char *claims, char *out, size_t size)
{
    static const char hdr[] = "{\"alg\":\"RS256\",\"kid\":\"k1\"}";
    char              h[128], c[512];

    cp_b64url_encode((const unsigned char *) hdr, strlen(hdr), h);
    ck_assert_uint_lt(CP_B64URL_LEN(strlen(claims)), sizeof(c));
    cp_b64url_encode((const unsigned char *) claims, strlen(claims), c);
    return (size_t) snprintf(out, size, "%s.%s.AAAA", h, c);
}

START_TEST(test_parse_claim)
{
    char           t[1024];
    unsigned char  scratch[LGSP_JWT_SCRATCH_SIZE];
    lgsp_jwt_t     jwt;
    size_t         n;

    n = token("{\"sub\":\"u-1\",\"sid\":\"cons-sys\",\"client_id\":\"c9\"}",
              t, sizeof(t));
    ck_assert_int_eq(lgsp_jwt_parse_claim(&jwt, (unsigned char *) t, n,
                     scratch, sizeof(scratch), "sid", 3), LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.claim.len, 8);
    ck_assert_mem_eq(jwt.claim.data, "cons-sys", 8);
    ck_assert_mem_eq(jwt.sub.data, "u-1", 3);

    /* a known claim asked for by name is kept in both places */
    ck_assert_int_eq(lgsp_jwt_parse_claim(&jwt, (unsigned char *) t, n,
                     scratch, sizeof(scratch), "client_id", 9), LGSP_JWT_OK);
    ck_assert_uint_eq(jwt.claim.len, 2);
    ck_assert_mem_eq(jwt.claim.data, "c9", 2);
    ck_assert_mem_eq(jwt.client_id.data, "c9", 2);

    /* absent: data NULL; plain parse keeps none */
    ck_assert_int_eq(lgsp_jwt_parse_claim(&jwt, (unsigned char *) t, n,
                     scratch, sizeof(scratch), "azp", 3), LGSP_JWT_OK);
    ck_assert_ptr_null(jwt.claim.data);
    ck_assert_int_eq(lgsp_jwt_parse(&jwt, (unsigned char *) t, n, scratch,
                                    sizeof(scratch)), LGSP_JWT_OK);
    ck_assert_ptr_null(jwt.claim.data);

    /* not a string: refused, never read as a system id */
    n = token("{\"sub\":\"u-1\",\"sid\":42}", t, sizeof(t));
    ck_assert_int_eq(lgsp_jwt_parse_claim(&jwt, (unsigned char *) t, n,
                     scratch, sizeof(scratch), "sid", 3), LGSP_JWT_BAD_CLAIM);
    ck_assert_int_eq(lgsp_jwt_parse(&jwt, (unsigned char *) t, n, scratch,
                                    sizeof(scratch)), LGSP_JWT_OK);
}
END_TEST

Suite *
jwks_suite(void)
{
    Suite *s = suite_create("jwks");
    TCase *tc = tcase_create("jwk_to_der");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rsa_round_trip);
    tcase_add_test(tc, test_ec_round_trip);
    tcase_add_test(tc, test_rsa_refusals);
    tcase_add_test(tc, test_ec_refusals);
    tcase_add_test(tc, test_jwks_document);
    suite_add_tcase(s, tc);

    tc = tcase_create("system_claim");
    tcase_add_test(tc, test_parse_claim);
    suite_add_tcase(s, tc);
    return s;
}
