/* Identity codes (SPEC §3): both grammars, messages naming the bad group,
 * parents. */

#include <string.h>
#include <check.h>

#include "cp_idcode.h"

static const struct {
    const char        *code;
    cp_idcode_kind_t   kind;
} valid[] = {
    { "H26",                  CP_IDCODE_CURRENT },
    { "G01",                  CP_IDCODE_CURRENT },
    { "K26",                  CP_IDCODE_CURRENT },
    { "H26.107",              CP_IDCODE_CURRENT },
    { "H26.107.05",           CP_IDCODE_CURRENT },
    { "H26.107.05.A1",        CP_IDCODE_CURRENT },
    { "G12.18",               CP_IDCODE_CURRENT },
    /* exactly 35 characters */
    { "H26.107.05.01.02.03.04.05.06.07.089", CP_IDCODE_CURRENT },
    { "000.00.00.H26",        CP_IDCODE_LEGACY },
    { "000.00.18.G12",        CP_IDCODE_LEGACY },
    { "000.01.13.H26",        CP_IDCODE_LEGACY },
    { "012.05.18.G12",        CP_IDCODE_LEGACY },
    { "999.99.99.Z99",        CP_IDCODE_LEGACY },
};

START_TEST(accepts_both_grammars)
{
    char why[256];

    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(cp_idcode_check(valid[i].code, why, sizeof(why))
                      == valid[i].kind, "%s: %s", valid[i].code, why);
    }
}
END_TEST

static const struct {
    const char *code;
    const char *why;       /* the whole message */
} invalid[] = {
    { "000.0X.00.H26",  "\"000.0X.00.H26\": group 2 \"0X\" must be 2 digits" },
    { "00.00.00.H26",   "\"00.00.00.H26\": group 1 \"00\" must be 3 digits" },
    { "000.00.001.H26", "\"000.00.001.H26\": group 3 \"001\" must be 2 digits" },
    { "000.00.00.26H",  "\"000.00.00.26H\": group 4 \"26H\" must be a letter"
                        " and 2 digits (the level-1 group, e.g. H26)" },
    { "000.00.00.H2",   "\"000.00.00.H2\": group 4 \"H2\" must be a letter"
                        " and 2 digits (the level-1 group, e.g. H26)" },
    { "000.00.00",      "\"000.00.00\": has 3 groups; a legacy code is"
                        " DDD.DD.DD.XNN (4 groups)" },
    { "1.011442.000.00.00.H38", "\"1.011442.000.00.00.H38\": has 6 groups;"
                        " a legacy code is DDD.DD.DD.XNN (4 groups)" },
    { "H2.107",         "\"H2.107\": group 1 \"H2\" must be a letter and 2"
                        " digits (the level-1 group, e.g. H26)" },
    { "HH26.107",       "\"HH26.107\": group 1 \"HH26\" must be a letter and"
                        " 2 digits (the level-1 group, e.g. H26)" },
    { "h26.107",        "\"h26.107\": group 1 has lower case 'h'; identity"
                        " codes are upper case" },
    { "H26.107.0a",     "\"H26.107.0a\": group 3 has lower case 'a'; identity"
                        " codes are upper case" },
    { "H26. 107",       "\"H26. 107\": group 2 has a space" },
    { " H26",           "\" H26\": group 1 has a space" },
    { "H26..107",       "\"H26..107\": group 2 is empty" },
    { ".H26",           "\".H26\": group 1 is empty" },
    { "H26.",           "\"H26.\": group 2 is empty" },
    { "H26.107.",       "\"H26.107.\": group 3 is empty" },
    { "000..00.H26",    "\"000..00.H26\": group 2 is empty" },
    { "H26-107",        "\"H26-107\": group 1 has '-'; only 0-9, A-Z and '.'"
                        " are allowed" },
    { "H26.107\n",      "\"H26.107\n\": group 2 has byte 0x0a; only 0-9, A-Z"
                        " and '.' are allowed" },
    { "",               "the identity code is empty" },
    { "H26.107.05.01.02.03.04.05.06.07.0891",
                        "\"H26.107.05.01.02.03.04.05.06.07.0891\": longer than"
                        " 35 characters" },
};

START_TEST(refuses_with_the_bad_group)
{
    char why[256];

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(cp_idcode_check(invalid[i].code, why, sizeof(why))
                      == CP_IDCODE_INVALID, "accepted \"%s\"",
                      invalid[i].code);
        ck_assert_str_eq(why, invalid[i].why);
    }
    ck_assert_int_eq(cp_idcode_check(NULL, why, sizeof(why)),
                     CP_IDCODE_INVALID);
    /* the message is optional */
    ck_assert_int_eq(cp_idcode_check("h26", NULL, 0), CP_IDCODE_INVALID);
}
END_TEST

START_TEST(more_refusals)
{
    static const char *const bad[] = {
        "H", "26", "H26.10 7", "H26.107.05 ", "000.00.00.H26.01",
        "000.00.00.h26", "000,00,00,H26", "0000.00.00.H26",
        "000.00.00.H260", "000.00.0.H26", "H26/107", "H\xc3\xa0N",
        "1.011442", "...", ".", "A00.", "H26.107..05", "000.00.00.X0A",
    };
    char why[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(cp_idcode_check(bad[i], why, sizeof(why))
                      == CP_IDCODE_INVALID, "accepted \"%s\"", bad[i]);
        ck_assert_msg(why[0] != '\0', "no message for \"%s\"", bad[i]);
    }
}
END_TEST

static const struct {
    const char *code;
    int         rc;
    const char *parent;
} parents[] = {
    { "H26.107.05",     0, "H26.107" },
    { "H26.107",        0, "H26" },
    { "H26",            1, NULL },
    { "G01.A1.B2.C3",   0, "G01.A1.B2" },
    { "000.00.18.G12",  0, "000.00.00.G12" },
    { "000.01.13.H26",  0, "000.00.13.H26" },
    { "012.05.18.G12",  0, "000.05.18.G12" },
    { "012.00.18.G12",  0, "000.00.18.G12" },
    { "000.05.00.H26",  0, "000.00.00.H26" },
    { "000.00.00.H26",  1, NULL },
    { "h26.107",       -1, NULL },
    { "1.011442.000.00.00.H38", -1, NULL },
};

START_TEST(parent_by_grammar)
{
    char out[CP_IDCODE_MAX + 1];

    for (size_t i = 0; i < sizeof(parents) / sizeof(parents[0]); i++) {
        out[0] = '\0';
        ck_assert_msg(cp_idcode_parent(parents[i].code, out, sizeof(out))
                      == parents[i].rc, "%s", parents[i].code);
        if (parents[i].parent != NULL) {
            ck_assert_str_eq(out, parents[i].parent);
            /* the parent is itself a valid code of the same grammar */
            ck_assert_int_eq(cp_idcode_check(out, NULL, 0),
                             cp_idcode_check(parents[i].code, NULL, 0));
        }
    }
    /* out too small is refused, not truncated */
    ck_assert_int_eq(cp_idcode_parent("H26.107", out, 4), -1);
}
END_TEST

START_TEST(parent_chain_reaches_level_one)
{
    char a[CP_IDCODE_MAX + 1], b[CP_IDCODE_MAX + 1];
    int  steps = 0;

    strcpy(a, "012.05.18.G12");
    while (cp_idcode_parent(a, b, sizeof(b)) == 0) {
        strcpy(a, b);
        steps++;
    }
    ck_assert_int_eq(steps, 3);
    ck_assert_str_eq(a, "000.00.00.G12");
}
END_TEST

Suite *
idcode_suite(void)
{
    Suite *s = suite_create("idcode");
    TCase *tc = tcase_create("grammars");

    tcase_add_test(tc, accepts_both_grammars);
    tcase_add_test(tc, refuses_with_the_bad_group);
    tcase_add_test(tc, more_refusals);
    tcase_add_test(tc, parent_by_grammar);
    tcase_add_test(tc, parent_chain_reaches_level_one);
    suite_add_tcase(s, tc);
    return s;
}
