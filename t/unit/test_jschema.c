/* The JSON Schema subset validator: what it refuses and where it says
 * the fault is; a keyword it does not know is a schema error, never a
 * silent pass. */

#include <string.h>
#include <check.h>
#include <cjson/cJSON.h>

#include "cp_forms.h"
#include "cp_jschema.h"

static int
check(const char *schema, const char *doc, char *at, char *why)
{
    cJSON *s = cJSON_Parse(schema), *d = cJSON_Parse(doc);
    int    rc;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(d);
    rc = cp_jschema_validate(s, d, at, 256, why, 256);
    cJSON_Delete(s);
    cJSON_Delete(d);
    return rc;
}

START_TEST(paths_and_reasons)
{
    char at[256], why[256];
    const char *s = "{\"type\":\"object\",\"required\":[\"a\"],"
        "\"additionalProperties\":false,\"properties\":{"
        "\"a\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/n\"}},"
        "\"b/c\":{\"type\":\"string\",\"maxLength\":1}},"
        "\"$defs\":{\"n\":{\"type\":\"integer\",\"minimum\":1}}}";

    ck_assert_int_eq(check(s, "{\"a\":[1,2]}", at, why), 0);
    ck_assert_int_eq(check(s, "{}", at, why), -1);
    ck_assert_str_eq(at, "/a");
    ck_assert_str_eq(why, "is required");
    ck_assert_int_eq(check(s, "{\"a\":[1,0]}", at, why), -1);
    ck_assert_str_eq(at, "/a/1");
    ck_assert_str_eq(why, "must be at least 1");
    ck_assert_int_eq(check(s, "{\"a\":[1.5]}", at, why), -1);
    ck_assert_str_eq(at, "/a/0");
    /* 2.0 is an integer in JSON Schema, as in python-jsonschema */
    ck_assert_int_eq(check(s, "{\"a\":[2.0]}", at, why), 0);
    ck_assert_int_eq(check(s, "{\"a\":[],\"x\":1}", at, why), -1);
    ck_assert_str_eq(at, "/x");
    /* lengths are characters; "/" in a key is escaped as ~1 */
    ck_assert_int_eq(check(s, "{\"a\":[],\"b/c\":\"\xe1\xba\xa0\"}", at, why),
                     0);
    ck_assert_int_eq(check(s, "{\"a\":[],\"b/c\":\"ab\"}", at, why), -1);
    ck_assert_str_eq(at, "/b~1c");
    ck_assert_int_eq(check(s, "[]", at, why), -1);
    ck_assert_str_eq(at, "");
}
END_TEST

START_TEST(schema_errors)
{
    char at[256], why[256];

    ck_assert_int_eq(check("{\"oneOf\":[]}", "1", at, why), -2);
    ck_assert(strstr(why, "oneOf") != NULL);
    ck_assert_int_eq(check("{\"$ref\":\"#/$defs/none\"}", "1", at, why), -2);
    ck_assert_int_eq(check("{\"$ref\":\"other.json\"}", "1", at, why), -2);
    ck_assert_int_eq(check("{\"type\":\"string\",\"pattern\":\"(\"}", "\"a\"",
                           at, why), -2);
}
END_TEST

START_TEST(shipped_forms_compile)
{
    char   why[512];
    cJSON *d = cJSON_Parse("{\"form\":\"02\"}");

    /* the compiled-in schema for 02 answers; 04 does not exist */
    ck_assert_int_eq(cp_form_validate(d, "02", why, sizeof(why)), -1);
    ck_assert(strncmp(why, "/agency: is required", 20) == 0);
    ck_assert_int_eq(cp_form_validate(d, "01", why, sizeof(why)), -1);
    ck_assert(strncmp(why, "/form: must be \"01\"", 19) == 0
              || strncmp(why, "/agency", 7) == 0);
    ck_assert_int_eq(cp_form_validate(d, "04", why, sizeof(why)), -1);
    ck_assert_str_eq(why, "no schema for form 04");
    cJSON_Delete(d);
}
END_TEST

static cJSON *
form_text(const char *text, size_t len, const char *form, char *why)
{
    return cp_form_parse(text, len, "f.json", form, why, 512);
}

/*
 * Found by t/fuzz/fuzz_forms.c: a member given twice passed, lgspctl
 * reading the first and other JSON tools the last.  A NUL byte is named
 * as such, an escaped one as before.
 */
START_TEST(forms_refuse_repeated_names_and_nul)
{
    static const char nul[] = "{\"form\":\"03\",\"system\":\"a\0b\"}";
    char              why[512];
    const char       *t;

    t = "{\"form\":\"03\",\"system\":\"a\",\"system\":\"b\"}";
    ck_assert_ptr_null(form_text(t, strlen(t), "03", why));
    ck_assert_str_eq(why, "f.json: /system: is given twice");

    t = "{\"form\":\"02\",\"contact\":{\"name\":\"a\",\"unit\":\"b\","
        "\"name\":\"c\"}}";
    ck_assert_ptr_null(form_text(t, strlen(t), "02", why));
    ck_assert_str_eq(why, "f.json: /contact/name: is given twice");

    /* the same name in two objects is no repeat */
    t = "{\"form\":\"02\",\"agency\":{\"name\":\"a\"},\"contact\":"
        "{\"name\":\"c\"}}";
    ck_assert_ptr_null(form_text(t, strlen(t), "02", why));
    ck_assert(strstr(why, "twice") == NULL);

    ck_assert_ptr_null(form_text(nul, sizeof(nul) - 1, "03", why));
    ck_assert_str_eq(why, "f.json: line 1: a NUL byte");
    t = "{\"form\":\"03\",\n\"system\":\"a\\u0000b\"}";
    ck_assert_ptr_null(form_text(t, strlen(t), "03", why));
    ck_assert_str_eq(why, "f.json: line 2: a string holds \\u0000");
}
END_TEST

Suite *
jschema_suite(void)
{
    Suite *s = suite_create("jschema");
    TCase *tc = tcase_create("validate");

    tcase_add_test(tc, paths_and_reasons);
    tcase_add_test(tc, schema_errors);
    tcase_add_test(tc, shipped_forms_compile);
    tcase_add_test(tc, forms_refuse_repeated_names_and_nul);
    suite_add_tcase(s, tc);
    return s;
}
