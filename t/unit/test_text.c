/* Text in and out (cp_text.c, cp_valid_text): UTF-8 by RFC 3629 and its
 * usual attacks, control characters, terminal escapes, CSV formulas. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "cp_text.h"
#include "cp_valid.h"

/* a byte string with its length: some hold a NUL */
typedef struct {
    const char *s;
    size_t      n;
    size_t      bad;        /* offset of the first bad byte */
    const char *what;
} bytes_t;

#define B(lit, bad, what)  { lit, sizeof(lit) - 1, bad, what }

static const bytes_t well_formed[] = {
    B("", 0, "empty"),
    B("ASCII only", 0, "ASCII"),
    B("H\xc3\xa0 N\xe1\xbb\x99i", 0, "Vietnamese: 2- and 3-byte forms"),
    B("\xc2\x80", 0, "U+0080, the first 2-byte code point"),
    B("\xdf\xbf", 0, "U+07FF, the last 2-byte code point"),
    B("\xe0\xa0\x80", 0, "U+0800, the first 3-byte code point"),
    B("\xed\x9f\xbf", 0, "U+D7FF, just below the surrogates"),
    B("\xee\x80\x80", 0, "U+E000, just above the surrogates"),
    B("\xef\xbf\xbd", 0, "U+FFFD"),
    B("\xf0\x90\x80\x80", 0, "U+10000, the first 4-byte code point"),
    B("\xf0\x9f\x98\x80", 0, "an emoji"),
    B("\xf4\x8f\xbf\xbf", 0, "U+10FFFF, the last code point"),
    B("a\0b", 0, "NUL is a code point (cp_text_check refuses it)"),
};

static const bytes_t malformed[] = {
    /* overlong forms: "/" and NUL written long to slip past a check */
    B("\xc0\xaf", 0, "overlong / in 2 bytes (C0)"),
    B("\xc1\xbf", 0, "overlong U+007F in 2 bytes (C1)"),
    B("\xc0\x80", 0, "overlong NUL (modified UTF-8)"),
    B("\xe0\x80\xaf", 0, "overlong / in 3 bytes"),
    B("\xe0\x9f\xbf", 0, "overlong U+07FF in 3 bytes"),
    B("\xf0\x80\x80\xaf", 0, "overlong / in 4 bytes"),
    B("\xf0\x8f\xbf\xbf", 0, "overlong U+FFFF in 4 bytes"),
    /* UTF-16 surrogates encoded (CESU-8) */
    B("\xed\xa0\x80", 0, "U+D800, a high surrogate"),
    B("\xed\xbf\xbf", 0, "U+DFFF, a low surrogate"),
    B("\xed\xa0\xbd\xed\xb8\x80", 0, "a surrogate pair encoded apart"),
    /* past U+10FFFF */
    B("\xf4\x90\x80\x80", 0, "U+110000"),
    B("\xf5\x80\x80\x80", 0, "an F5 lead byte"),
    B("\xf8\x88\x80\x80\x80", 0, "a 5-byte form"),
    B("\xfc\x84\x80\x80\x80\x80", 0, "a 6-byte form"),
    B("\xfe", 0, "FE"),
    B("\xff", 0, "FF"),
    /* truncated sequences */
    B("ab\xc3", 2, "a 2-byte lead at the end"),
    B("ab\xe1\x80", 2, "a 3-byte form cut after 2"),
    B("\xf0\x9f\x98", 0, "a 4-byte form cut after 3"),
    B("\xe1\x80z", 0, "a 3-byte form cut by ASCII"),
    /* stray and wrong continuation bytes */
    B("\x80", 0, "a lone continuation byte"),
    B("ok\xbf", 2, "a continuation byte after ASCII"),
    B("\xc3\x28", 0, "a lead byte followed by ASCII"),
    B("\xc3\xa9\xa9", 2, "one continuation byte too many"),
    B("Ha \xff Noi", 3, "Latin-1 in the middle"),
};

START_TEST(well_formed_utf8)
{
    for (size_t i = 0; i < sizeof(well_formed) / sizeof(well_formed[0]);
         i++)
    {
        ck_assert_msg(cp_utf8_valid(well_formed[i].s, well_formed[i].n,
                                    NULL), "%s", well_formed[i].what);
    }
}
END_TEST

START_TEST(malformed_utf8)
{
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        size_t bad = 99;

        ck_assert_msg(!cp_utf8_valid(malformed[i].s, malformed[i].n, &bad),
                      "%s: accepted", malformed[i].what);
        ck_assert_msg(bad == malformed[i].bad, "%s: bad byte %zu, not %zu",
                      malformed[i].what, bad, malformed[i].bad);
    }
}
END_TEST

START_TEST(code_points)
{
    uint32_t c = 0;

    ck_assert_uint_eq(cp_utf8_next((const unsigned char *) "\xe1\xbb\x99",
                                   3, &c), 3);
    ck_assert_uint_eq(c, 0x1ed9);
    ck_assert_uint_eq(cp_utf8_next((const unsigned char *) "\xf4\x8f\xbf\xbf",
                                   4, &c), 4);
    ck_assert_uint_eq(c, 0x10ffff);
    /* the length available counts, not a NUL further on */
    ck_assert_uint_eq(cp_utf8_next((const unsigned char *) "\xc3\xa9", 1, &c),
                      0);
    ck_assert_uint_eq(cp_utf8_next((const unsigned char *) "", 0, &c), 0);
}
END_TEST

static const struct {
    const char *s;
    int         flags;
    int         want;
    size_t      bad;
} checks[] = {
    { "S\xe1\xbb\x9f T\xc6\xb0 ph\xc3\xa1p", 0, CP_TEXT_OK, 0 },
    { "a\tb", 0, CP_TEXT_OK, 0 },                      /* tab is text */
    { "a\nb", 0, CP_TEXT_CONTROL, 1 },                 /* a forged line */
    { "a\nb", CP_TEXT_LINES, CP_TEXT_OK, 0 },
    { "a\rb", CP_TEXT_LINES, CP_TEXT_CONTROL, 1 },     /* overwrites */
    { "red \x1b[31m", 0, CP_TEXT_CONTROL, 4 },         /* ESC */
    { "\x07", 0, CP_TEXT_CONTROL, 0 },                 /* BEL */
    { "x\x7f", 0, CP_TEXT_CONTROL, 1 },                /* DEL */
    { "x\xc2\x9b" "31m", 0, CP_TEXT_CONTROL, 1 },      /* C1 CSI */
    { "x\xc2\x85", CP_TEXT_LINES, CP_TEXT_CONTROL, 1 },/* C1 NEL */
    { "x\xc2\xa0y", 0, CP_TEXT_OK, 0 },                /* NBSP is text */
    { "ok\xc0\xaf", 0, CP_TEXT_UTF8, 2 },
    { "\xed\xa0\x80", CP_TEXT_LINES, CP_TEXT_UTF8, 0 },
};

START_TEST(control_characters)
{
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        size_t bad = 99;
        int    rc = cp_text_check(checks[i].s, strlen(checks[i].s),
                                  checks[i].flags, &bad);

        ck_assert_msg(rc == checks[i].want, "case %zu: %d, not %d", i, rc,
                      checks[i].want);
        if (rc != CP_TEXT_OK) {
            ck_assert_msg(bad == checks[i].bad, "case %zu: byte %zu", i, bad);
        }
    }
    /* a NUL inside the length given is a control character */
    ck_assert_int_eq(cp_text_check("a\0b", 3, CP_TEXT_LINES, NULL),
                     CP_TEXT_CONTROL);
}
END_TEST

START_TEST(valid_text_says_why)
{
    char why[96];

    ck_assert_int_eq(cp_valid_text("H\xc3\xa0 N\xe1\xbb\x99i", 512, 0, why,
                                   sizeof(why)), 0);
    ck_assert_int_eq(cp_valid_text("", 512, 0, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "must be 1 to 512 bytes long");
    ck_assert_int_eq(cp_valid_text("abcdef", 5, 0, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "must be 1 to 5 bytes long");
    ck_assert_int_eq(cp_valid_text("Ha \xff", 512, 0, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "is not valid UTF-8 (byte 4)");
    ck_assert_int_eq(cp_valid_text("a\nb", 512, 0, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "has a control character (byte 2)");
    ck_assert_int_eq(cp_valid_text("a\nb", 512, CP_TEXT_LINES, why,
                                   sizeof(why)), 0);
}
END_TEST

/* what a function printing to a FILE wrote, NUL-terminated */
typedef struct {
    char   *buf;
    size_t  len;
    FILE   *f;
} capture_t;

static void
capture_open(capture_t *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    ck_assert_ptr_nonnull(c->f);
}

static const char *
capture_close(capture_t *c)
{
    fclose(c->f);
    return c->buf;
}

START_TEST(utf8_write_replaces)
{
    capture_t c;

    capture_open(&c);
    cp_utf8_write(c.f, "a\xff" "b\xc3\xa9\xe1\x80", 7);
    ck_assert_str_eq(capture_close(&c),
                     "a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
    free(c.buf);
}
END_TEST

START_TEST(terminal_escapes)
{
    char out[64];

    cp_term_escape(out, sizeof(out), "\x1b]0;owned\x07", 10);
    ck_assert_str_eq(out, "\\x1b]0;owned\\x07");
    cp_term_escape(out, sizeof(out), "a\tb\rc\nd", 7);
    ck_assert_str_eq(out, "a\\x09b\\x0dc\\x0ad");
    cp_term_escape(out, sizeof(out), "x\xc2\x9b" "2J", 5);
    ck_assert_str_eq(out, "x\\xc2\\x9b2J");
    cp_term_escape(out, sizeof(out), "\xff\xc3", 2);
    ck_assert_str_eq(out, "\\xff\\xc3");
    cp_term_escape(out, sizeof(out), "c:\\x1b", 6);
    ck_assert_str_eq(out, "c:\\\\x1b");                 /* not an escape */
    cp_term_escape(out, sizeof(out), "H\xc3\xa0 N\xe1\xbb\x99i", 9);
    ck_assert_str_eq(out, "H\xc3\xa0 N\xe1\xbb\x99i");  /* text as is */
    cp_term_escape(out, 8, "abcdefghij", 10);
    ck_assert_str_eq(out, "abcd...");                   /* cut, marked */
    cp_term_escape(out, 8, "ab\x1b" "cdef", 7);
    ck_assert_str_eq(out, "ab...");                     /* never half \x */
}
END_TEST

START_TEST(csv_neutralises_formulas)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "req-1",              "\"req-1\"" },
        { "-2+3",               "\"'-2+3\"" },
        { "=HYPERLINK(\"x\")",  "\"'=HYPERLINK(\"\"x\"\")\"" },
        { "+1",                 "\"'+1\"" },
        { "@SUM(A1)",           "\"'@SUM(A1)\"" },
        { "\t=1",               "\"'\t=1\"" },
        { "\r=1",               "\"'\r=1\"" },
        { "a=1",                "\"a=1\"" },            /* only leading */
        { "",                   "\"\"" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        capture_t c;

        capture_open(&c);
        cp_csv_write(c.f, cases[i].in, strlen(cases[i].in));
        ck_assert_str_eq(capture_close(&c), cases[i].out);
        free(c.buf);
    }
}
END_TEST

START_TEST(json_nul)
{
    static const bytes_t cases[] = {
        B("{\"a\":\"x\"}", (size_t) -1, "no NUL"),
        B("{\"a\":\"x\\u0000y\"}", 7, "an escaped NUL"),
        B("{\"a\":\"x\\\\u0000y\"}", (size_t) -1,
          "an escaped backslash, then u0000"),
        B("{\"a\":\"x\\\\\\u0000y\"}", 9, "a backslash, then \\u0000"),
        B("{\"a\":\"x\0y\"}", 7, "a NUL byte in a string"),
        B("{}\0", 2, "a NUL byte after the text"),
        B("{\"a\":\"\\u0000\0\"}", 6, "the first of the two"),
        B("\"\\u000", (size_t) -1, "a cut escape"),
        B("\\u0000", (size_t) -1, "outside a string: not JSON at all"),
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(cp_json_nul(cases[i].s, cases[i].n)
                      == (long) cases[i].bad, "%s", cases[i].what);
    }
}
END_TEST

Suite *
text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *in = tcase_create("in");
    TCase *out = tcase_create("out");

    tcase_add_test(in, well_formed_utf8);
    tcase_add_test(in, malformed_utf8);
    tcase_add_test(in, code_points);
    tcase_add_test(in, control_characters);
    tcase_add_test(in, valid_text_says_why);
    tcase_add_test(in, json_nul);
    suite_add_tcase(s, in);
    tcase_add_test(out, utf8_write_replaces);
    tcase_add_test(out, terminal_escapes);
    tcase_add_test(out, csv_neutralises_formulas);
    suite_add_tcase(s, out);
    return s;
}
