/*
 * Client secrets and client authentication parsing: base64(url), the
 * keyed hash and its constant-time check, client ids, and every shape a
 * token request may take (Basic, form, JSON) with its refusals.
 */

#include <stdio.h>
#include <string.h>
#include <check.h>

#include "cp_b64.h"
#include "cp_clientauth.h"
#include "cp_secret.h"

/* ---- base64 ------------------------------------------------------------ */

START_TEST(b64url_round_trip)
{
    static const struct {
        const char *raw, *enc;
    } v[] = {
        { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy" }, { "\xfb\xff\xbf", "-_-_" },
    };
    char          enc[32];
    unsigned char dec[32];
    size_t        n;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cp_b64url_encode((const unsigned char *) v[i].raw,
                         strlen(v[i].raw), enc);
        ck_assert_str_eq(enc, v[i].enc);
        ck_assert_int_eq(cp_b64url_decode(enc, strlen(enc), dec,
                                          sizeof(dec), &n), 0);
        ck_assert_uint_eq(n, strlen(v[i].raw));
        ck_assert(memcmp(dec, v[i].raw, n) == 0);
    }
}
END_TEST

START_TEST(b64_strict)
{
    unsigned char out[32];
    size_t        n;

    ck_assert_int_eq(cp_b64_decode("Zm9vYg==", 8, out, sizeof(out), &n), 0);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(cp_b64_decode("Zm9vYg", 6, out, sizeof(out), &n), 0);
    ck_assert_int_eq(cp_b64_decode("+/+/", 4, out, sizeof(out), &n), 0);
    /* not the url alphabet in Basic, nor the standard one in JOSE */
    ck_assert_int_eq(cp_b64_decode("-_-_", 4, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64url_decode("+/+/", 4, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64url_decode("Zg==", 4, out, sizeof(out), &n), -1);
    /* bad length, stray padding, non-canonical trailing bits, junk */
    ck_assert_int_eq(cp_b64_decode("Zm9vY", 5, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64_decode("Zg=a", 4, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64_decode("Zh==", 4, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64_decode("Zm 9v", 5, out, sizeof(out), &n), -1);
    ck_assert_int_eq(cp_b64_decode("Zg===", 5, out, sizeof(out), &n), -1);
    /* output bound */
    ck_assert_int_eq(cp_b64_decode("Zm9vYmFy", 8, out, 5, &n), -1);
}
END_TEST

/* ---- secrets ----------------------------------------------------------- */

START_TEST(hmac_rfc4231_case2)
{
    unsigned char mac[CP_SECRET_HASH_LEN];
    char          hex[2 * CP_SECRET_HASH_LEN + 1];
    static const char want[] =
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    ck_assert_int_eq(cp_secret_hash((const unsigned char *) "Jefe", 4,
                                    "what do ya want for nothing?", 28,
                                    mac), 0);
    for (size_t i = 0; i < sizeof(mac); i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    ck_assert_str_eq(hex, want);
}
END_TEST

START_TEST(secret_shape_and_verify)
{
    unsigned char pepper[32], other[32], stored[CP_SECRET_HASH_LEN];
    char          a[CP_SECRET_LEN + 1], b[CP_SECRET_LEN + 1];
    unsigned char raw[64];
    size_t        n;

    memset(pepper, 7, sizeof(pepper));
    memset(other, 8, sizeof(other));
    ck_assert_int_eq(cp_secret_generate(a), 0);
    ck_assert_int_eq(cp_secret_generate(b), 0);
    ck_assert_uint_eq(strlen(a), 43);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                "qrstuvwxyz0123456789-_"), 43);
    ck_assert_int_eq(cp_b64url_decode(a, 43, raw, sizeof(raw), &n), 0);
    ck_assert_uint_eq(n, 32);

    ck_assert_int_eq(cp_secret_hash(pepper, 32, a, 43, stored), 0);
    ck_assert_int_eq(cp_secret_verify(pepper, 32, a, 43, stored, 32), 1);
    ck_assert_int_eq(cp_secret_verify(pepper, 32, b, 43, stored, 32), 0);
    /* the pepper is part of the key: a stolen database is not enough */
    ck_assert_int_eq(cp_secret_verify(other, 32, a, 43, stored, 32), 0);
    /* a prefix of the secret is not the secret */
    ck_assert_int_eq(cp_secret_verify(pepper, 32, a, 42, stored, 32), 0);
    /* no hash, or one of the wrong size, never matches */
    ck_assert_int_eq(cp_secret_verify(pepper, 32, a, 43, NULL, 0), 0);
    ck_assert_int_eq(cp_secret_verify(pepper, 32, a, 43, stored, 31), 0);
}
END_TEST

START_TEST(client_ids)
{
    char a[CP_CLIENT_ID_MAX + 1], b[CP_CLIENT_ID_MAX + 1], small[8];
    char sys[65];

    ck_assert_int_eq(cp_client_id_make("tphn-cons", "production", a,
                                       sizeof(a)), 0);
    ck_assert_int_eq(strncmp(a, "tphn-cons-p-", 12), 0);
    ck_assert_uint_eq(strlen(a), 20);
    ck_assert_uint_eq(strspn(a + 12, "0123456789abcdef"), 8);
    ck_assert_int_eq(cp_client_id_make("tphn-cons", "production", b,
                                       sizeof(b)), 0);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(cp_client_id_make("x1", "sandbox", a, sizeof(a)), 0);
    ck_assert_int_eq(strncmp(a, "x1-s-", 5), 0);
    ck_assert_int_eq(cp_client_id_make("x1", "prod", a, sizeof(a)), -1);
    ck_assert_int_eq(cp_client_id_make("x1", "sandbox", small,
                                       sizeof(small)), -1);
    /* the longest system id fits */
    memset(sys, 'a', 64);
    sys[64] = '\0';
    ck_assert_int_eq(cp_client_id_make(sys, "sandbox", a, sizeof(a)), 0);
}
END_TEST

/* ---- client authentication --------------------------------------------- */

static const char *FORM = "application/x-www-form-urlencoded";
static const char *JSON = "application/json";

static int
parse(const char *authz, const char *ctype, const char *body,
      cp_client_auth_t *ca, const char **why)
{
    *why = NULL;
    return cp_client_auth_parse(authz, ctype, body, body ? strlen(body) : 0,
                                ca, why);
}

static void
refused(const char *authz, const char *ctype, const char *body,
        const char *fragment)
{
    cp_client_auth_t ca;
    const char      *why;

    ck_assert_msg(parse(authz, ctype, body, &ca, &why) == -1,
                  "accepted: %s | %s", authz ? authz : "-", body ? body : "-");
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, fragment) != NULL, "\"%s\" lacks \"%s\"", why,
                  fragment);
    /* nothing of a refused request survives */
    ck_assert_str_eq(ca.client_secret, "");
}

START_TEST(form_fields)
{
    cp_client_auth_t ca;
    const char      *why;

    ck_assert_int_eq(parse(NULL, FORM, "grant_type=client_credentials"
                           "&client_id=a-p-1&client_secret=s3cr%2Bt+x",
                           &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_FORM);
    ck_assert_str_eq(ca.grant_type, "client_credentials");
    ck_assert_str_eq(ca.client_id, "a-p-1");
    ck_assert_str_eq(ca.client_secret, "s3cr+t x");

    /* parameters in any order, unknown ones and a charset ignored */
    ck_assert_int_eq(parse(NULL, "Application/X-WWW-Form-Urlencoded;"
                           " charset=UTF-8",
                           "scope=a+b&client_secret=z&foo&client_id=i"
                           "&grant_type=client_credentials&", &ca, &why), 0);
    ck_assert_str_eq(ca.client_id, "i");
    ck_assert_str_eq(ca.client_secret, "z");

    /* no credentials at all: for the caller to answer invalid_client */
    ck_assert_int_eq(parse(NULL, FORM, "grant_type=client_credentials", &ca,
                           &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_NONE);
    /* an empty value is an omitted parameter (RFC 6749 §3.2) */
    ck_assert_int_eq(parse(NULL, FORM, "grant_type=&client_id=&"
                           "client_secret=", &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_NONE);
    ck_assert_str_eq(ca.grant_type, "");
    /* no body, no content type: nothing, not an error */
    ck_assert_int_eq(parse(NULL, NULL, NULL, &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_NONE);
}
END_TEST

START_TEST(form_refusals)
{
    refused(NULL, FORM, "client_id=a&client_id=b&client_secret=x",
            "more than once");
    refused(NULL, FORM, "grant_type=a&grant_type=a", "more than once");
    refused(NULL, FORM, "client_id=a", "client_secret is missing");
    refused(NULL, FORM, "client_secret=x", "without client_id");
    refused(NULL, FORM, "client_id=a&client_secret=%zz", "badly encoded");
    refused(NULL, FORM, "client_id=a&client_secret=%4", "badly encoded");
    refused(NULL, FORM, "client_id=a%00b&client_secret=x", "badly encoded");
    refused(NULL, "text/plain", "client_id=a&client_secret=x",
            "Content-Type");
    refused(NULL, NULL, "client_id=a&client_secret=x", "Content-Type");
}
END_TEST

START_TEST(form_bounds)
{
    char             body[1024], id[CP_AUTH_ID_MAX + 2];
    cp_client_auth_t ca;
    const char      *why;

    memset(id, 'i', CP_AUTH_ID_MAX);
    id[CP_AUTH_ID_MAX] = '\0';
    snprintf(body, sizeof(body), "client_id=%s&client_secret=x", id);
    ck_assert_int_eq(parse(NULL, FORM, body, &ca, &why), 0);
    ck_assert_uint_eq(strlen(ca.client_id), CP_AUTH_ID_MAX);

    id[CP_AUTH_ID_MAX] = 'i';
    id[CP_AUTH_ID_MAX + 1] = '\0';
    snprintf(body, sizeof(body), "client_id=%s&client_secret=x", id);
    refused(NULL, FORM, body, "too long");
}
END_TEST

START_TEST(json_body)
{
    cp_client_auth_t ca;
    const char      *why;

    ck_assert_int_eq(parse(NULL, "application/json; charset=utf-8",
                           "{\"grant_type\":\"client_credentials\","
                           "\"client_id\":\"a-s-2\",\"client_secret\":"
                           "\"p\\u0041ss\",\"extra\":[1,2]}", &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_JSON);
    ck_assert_str_eq(ca.client_id, "a-s-2");
    ck_assert_str_eq(ca.client_secret, "pAss");
    ck_assert_str_eq(ca.grant_type, "client_credentials");

    refused(NULL, JSON, "{\"client_id\":\"a\",", "not a JSON object");
    refused(NULL, JSON, "[\"client_id\"]", "not a JSON object");
    refused(NULL, JSON, "", "not a JSON object");
    refused(NULL, JSON, "{\"client_id\":\"a\",\"client_secret\":7}",
            "must be strings");
    refused(NULL, JSON, "{\"client_id\":\"a\",\"client_id\":\"a\","
            "\"client_secret\":\"x\"}", "more than once");
    refused(NULL, JSON, "{\"client_id\":\"a\\u0000b\",\"client_secret\":"
            "\"x\"}", "badly encoded");
    refused(NULL, JSON, "{\"client_id\":\"a\"}", "client_secret is missing");
}
END_TEST

/*
 * Found by t/fuzz/fuzz_clientauth.c: a secret the form accepts, sent back
 * as JSON, was refused because "\\u0000" (an escaped backslash, then
 * "u0000") was taken for an escaped NUL; a raw NUL byte inside a string
 * cut it unseen; anything after the object was ignored.
 */
START_TEST(json_body_strict_and_exact)
{
    static const char raw_nul[] = "{\"grant_type\":\"client_credentials\","
        "\"client_id\":\"a\0b\",\"client_secret\":\"x\"}";
    cp_client_auth_t ca;
    const char      *why;

    ck_assert_int_eq(parse(NULL, JSON, "{\"grant_type\":\"client_credentials\","
                           "\"client_id\":\"a\\\\u0000b\",\"client_secret\":"
                           "\"x\"}", &ca, &why), 0);
    ck_assert_str_eq(ca.client_id, "a\\u0000b");
    ck_assert_int_eq(cp_client_auth_parse(NULL, JSON, raw_nul,
                                          sizeof(raw_nul) - 1, &ca, &why),
                     -1);
    ck_assert_ptr_nonnull(strstr(why, "badly encoded"));
    refused(NULL, JSON, "{\"client_id\":\"a\\\\\\u0000\",\"client_secret\":"
            "\"x\"}", "badly encoded");
    refused(NULL, JSON, "{\"grant_type\":\"client_credentials\"}x",
            "not a JSON object");
    refused(NULL, JSON, "{\"grant_type\":\"client_credentials\"}{}",
            "not a JSON object");
    ck_assert_int_eq(parse(NULL, JSON, " {\"grant_type\":\"x\"} \r\n\t", &ca,
                           &why), 0);
    ck_assert_str_eq(ca.grant_type, "x");
}
END_TEST

START_TEST(basic_header)
{
    cp_client_auth_t ca;
    const char      *why;

    /* "a-p-1:s3cret" */
    ck_assert_int_eq(parse("Basic YS1wLTE6czNjcmV0", FORM,
                           "grant_type=client_credentials", &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_BASIC);
    ck_assert_str_eq(ca.client_id, "a-p-1");
    ck_assert_str_eq(ca.client_secret, "s3cret");

    /* scheme is case-insensitive; id and secret are form-urlencoded:
     * "a%3Ab:x%2By+z%25" -> "a:b", "x+y z%" */
    ck_assert_int_eq(parse("basic  YSUzQWI6eCUyQnkreiUyNQ==", JSON,
                           "{\"grant_type\":\"client_credentials\"}", &ca,
                           &why), 0);
    ck_assert_str_eq(ca.client_id, "a:b");
    ck_assert_str_eq(ca.client_secret, "x+y z%");

    /* the same id repeated in the body is tolerated */
    ck_assert_int_eq(parse("Basic YS1wLTE6czNjcmV0", FORM,
                           "grant_type=client_credentials&client_id=a-p-1",
                           &ca, &why), 0);
    ck_assert_int_eq(ca.method, CP_AUTH_BASIC);
}
END_TEST

START_TEST(basic_refusals)
{
    refused("Basic !!!!", FORM, "grant_type=client_credentials",
            "not valid base64");
    refused("Basic YS1wLTE6czNjcmV0=", FORM, "", "not valid base64");
    refused("Basic", FORM, "", "only the Basic");
    refused("Basic ", FORM, "", "malformed");
    refused("Basic YS1wLTE6czNjcmV0 extra", FORM, "", "malformed");
    refused("Bearer abc", FORM, "", "only the Basic");
    refused("BasicYS1wLTE6czNjcmV0", FORM, "", "only the Basic");
    /* "nocolon" */
    refused("Basic bm9jb2xvbg==", FORM, "", "':'");
    /* ":secret" and "id:" */
    refused("Basic OnNlY3JldA==", FORM, "", "need a client id");
    refused("Basic aWQ6", FORM, "", "need a client id");
    /* "id:%zz" */
    refused("Basic aWQ6JXp6", FORM, "", "badly encoded");
    /* two methods at once */
    refused("Basic YS1wLTE6czNjcmV0", FORM,
            "grant_type=client_credentials&client_id=a-p-1&client_secret=x",
            "more than one");
    refused("Basic YS1wLTE6czNjcmV0", JSON,
            "{\"client_secret\":\"s3cret\"}", "more than one");
    refused("Basic YS1wLTE6czNjcmV0", FORM, "client_id=other", "differs");
}
END_TEST

START_TEST(form_decode_bounds)
{
    char out[4];

    ck_assert_int_eq(cp_form_decode("abc", 3, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "abc");
    ck_assert_int_eq(cp_form_decode("abcd", 4, out, sizeof(out)), -1);
    ck_assert_int_eq(cp_form_decode("%41%42%43", 9, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "ABC");
    ck_assert_int_eq(cp_form_decode("%4", 2, out, sizeof(out)), -1);
    ck_assert_int_eq(cp_form_decode("%", 1, out, sizeof(out)), -1);
    ck_assert_int_eq(cp_form_decode("%00", 3, out, sizeof(out)), -1);
    ck_assert_int_eq(cp_form_decode("", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(cp_form_decode("a", 1, out, 0), -1);
}
END_TEST

Suite *
secret_suite(void)
{
    Suite *s = suite_create("secret");
    TCase *tc;

    tc = tcase_create("base64");
    tcase_add_test(tc, b64url_round_trip);
    tcase_add_test(tc, b64_strict);
    suite_add_tcase(s, tc);

    tc = tcase_create("secret");
    tcase_add_test(tc, hmac_rfc4231_case2);
    tcase_add_test(tc, secret_shape_and_verify);
    tcase_add_test(tc, client_ids);
    suite_add_tcase(s, tc);

    tc = tcase_create("client_auth");
    tcase_add_test(tc, form_fields);
    tcase_add_test(tc, form_refusals);
    tcase_add_test(tc, form_bounds);
    tcase_add_test(tc, json_body);
    tcase_add_test(tc, json_body_strict_and_exact);
    tcase_add_test(tc, basic_header);
    tcase_add_test(tc, basic_refusals);
    tcase_add_test(tc, form_decode_bounds);
    suite_add_tcase(s, tc);
    return s;
}
