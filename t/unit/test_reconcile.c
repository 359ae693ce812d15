/* The partner's CSV of lgspctl reconcile (cp_reconcile.c), line by line:
 * the header, the rows, and every way a file is refused. */

#include <stdlib.h>
#include <string.h>
#include <check.h>

#include "cp_reconcile.h"

static cp_reconcile_csv_t  csv;
static cp_reconcile_row_t  row;
static char                why[CP_RECONCILE_WHY_MAX];

static int
line_n(const char *s, size_t n)
{
    why[0] = '\0';
    return cp_reconcile_csv_line(&csv, s, n, &row, why, sizeof(why));
}

static int
line(const char *s)
{
    return line_n(s, strlen(s));
}

static void
setup(void)
{
    cp_reconcile_csv_init(&csv);
}

/* a file whose line 2 is bad: the result and why */
static int
second(const char *header, const char *body)
{
    cp_reconcile_csv_init(&csv);
    ck_assert_int_eq(line(header), 0);
    return line(body);
}

START_TEST(header_and_rows)
{
    ck_assert_int_eq(line("\xef\xbb\xbfStatus, TIME ,request_id,"
                          "transaction_id\r\n"), 0);
    ck_assert_int_eq(csv.line, 1);
    ck_assert_int_eq(line("\n"), 0);
    ck_assert_int_eq(line("\r\n"), 0);
    ck_assert_int_eq(line("200,2026-03-01T08:15:02,,7f3a9c0e5b2d41e8a6c4f19d"
                          "0b7e2a53\r\n"), 1);
    ck_assert_int_eq(csv.line, 4);
    ck_assert_str_eq(row.txn, "7f3a9c0e5b2d41e8a6c4f19d0b7e2a53");
    ck_assert_str_eq(row.rid, "");
    ck_assert_int_eq(row.status, 200);
    /* city time, UTC+7 */
    ck_assert_int_eq(row.ms, 1772327702000LL);

    /* quoted, a doubled quote inside, blanks around an unquoted value;
     * the last line may lack its line break */
    ck_assert_int_eq(line("\"403\", 2026-03-01T08:15:09.5+07:00 ,"
                          "\"hs-2026:0\"\"\",\"\""), -1);
    ck_assert_str_eq(why, "\"hs-2026:0\"\" is not a transaction or request"
                     " id");
    ck_assert_int_eq(line("\"403\", 2026-03-01T08:15:09.5+07:00 ,"
                          "\"hs-2026:0\","), 1);
    ck_assert_str_eq(row.rid, "hs-2026:0");
    ck_assert_int_eq(row.ms, 1772327709500LL);
    ck_assert_int_eq(row.status, 403);
    ck_assert_int_eq(cp_reconcile_csv_end(&csv, why, sizeof(why)), 0);
}
END_TEST

START_TEST(header_refusals)
{
    ck_assert_int_eq(cp_reconcile_csv_end(&csv, why, sizeof(why)), -1);
    ck_assert_str_eq(why, "no header line");

    ck_assert_int_eq(line("transaction_id,time,status,time\n"), -1);
    ck_assert_str_eq(why, "column \"time\" twice");
    setup();
    ck_assert_int_eq(line("transaction_id,when,status\n"), -1);
    ck_assert_str_eq(why, "unknown column \"when\"");
    setup();
    ck_assert_int_eq(line("transaction_id,status\n"), -1);
    ck_assert_str_eq(why, "the header needs time, status and transaction_id"
                     " or request_id");
    setup();
    ck_assert_int_eq(line("time,status\n"), -1);
    /* a BOM only on the first line */
    setup();
    ck_assert_int_eq(line("\n"), 0);
    ck_assert_int_eq(line("\xef\xbb\xbftime,status,request_id\n"), -1);
    ck_assert_str_eq(why, "unknown column \"\xef\xbb\xbftime\"");
}
END_TEST

START_TEST(row_refusals)
{
    static const struct {
        const char *line, *why;
    } bad[] = {
        { "abc,2026-01-01T00:00:00Z", "3 columns expected, as in the header" },
        { "abc,2026-01-01T00:00:00Z,200,x", "3 columns expected, as in the"
          " header" },
        { ",2026-01-01T00:00:00Z,200", "neither a transaction_id nor a"
          " request_id" },
        { "ab c,2026-01-01T00:00:00Z,200", "\"ab c\" is not a transaction or"
          " request id" },
        { "012345678901234567890123456789012,2026-01-01T00:00:00Z,200",
          "\"012345678901234567890123456789012\" is not a transaction or"
          " request id" },
        { "abc,yesterday,200", "time \"yesterday\" is not ISO 8601" },
        { "abc,2026-01-01T00:00:00Z,OK", "status \"OK\" is not an HTTP status" },
        { "abc,2026-01-01T00:00:00Z,600", "status \"600\" is not an HTTP"
          " status" },
        { "abc,2026-01-01T00:00:00Z,99", "status \"99\" is not an HTTP"
          " status" },
        /* strtol took these */
        { "abc,2026-01-01T00:00:00Z,+200", "status \"+200\" is not an HTTP"
          " status" },
        { "abc,2026-01-01T00:00:00Z,\v200", "status \"\\x0b200\" is not an"
          " HTTP status" },
        /* only the line break goes: a CR before it is the field's */
        { "abc,2026-01-01T00:00:00Z,200\r\r\n", "status \"200\\x0d\" is not an"
          " HTTP status" },
        { "\"abc,2026-01-01T00:00:00Z,200", "broken quoting or too many"
          " columns" },
        { "\"abc\"x,2026-01-01T00:00:00Z,200", "broken quoting or too many"
          " columns" },
        { "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "broken quoting or too many"
          " columns" },
        /* the partner's text cannot drive the operator's terminal */
        { "abc,\x1b]0;pwned\x07,200", "time \"\\x1b]0;pwned\\x07\" is not ISO"
          " 8601" },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(second("transaction_id,time,status\n", bad[i].line)
                      == -1, "%s", bad[i].line);
        ck_assert_str_eq(why, bad[i].why);
        ck_assert_int_eq(csv.line, 2);
    }
}
END_TEST

/*
 * lgspctl read lines with fgets(): a NUL ended the line for strlen(),
 * and the bytes after it up to the buffer's end were dropped; a line
 * over 4096 bytes with a NUL early in it escaped the length check, its
 * tail read as the next line.  A NUL is now refused where it is.
 */
START_TEST(nul_and_length)
{
    static const char nul[] = "abc,2026-01-01T00:00:00Z,200\0,x\n";
    char              *big;

    ck_assert_int_eq(line("transaction_id,time,status\n"), 0);
    ck_assert_int_eq(line_n(nul, sizeof(nul) - 1), -1);
    ck_assert_str_eq(why, "a NUL byte in the line");

    /* 4096 bytes with the line break: the longest line */
    big = malloc(CP_RECONCILE_LINE_MAX + 1);
    ck_assert_ptr_nonnull(big);
    memset(big, ' ', CP_RECONCILE_LINE_MAX);
    memcpy(big, "abc,2026-01-01T00:00:00Z,200", 28);
    big[CP_RECONCILE_LINE_MAX - 1] = '\n';
    setup();
    ck_assert_int_eq(line("transaction_id,time,status\n"), 0);
    ck_assert_int_eq(line_n(big, CP_RECONCILE_LINE_MAX), 1);
    ck_assert_int_eq(row.status, 200);
    big[CP_RECONCILE_LINE_MAX - 1] = ' ';
    big[CP_RECONCILE_LINE_MAX] = '\n';
    ck_assert_int_eq(line_n(big, CP_RECONCILE_LINE_MAX + 1), -1);
    ck_assert_str_eq(why, "line too long");
    free(big);
}
END_TEST

Suite *
reconcile_suite(void)
{
    Suite *s = suite_create("reconcile");
    TCase *tc = tcase_create("csv");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, header_and_rows);
    tcase_add_test(tc, header_refusals);
    tcase_add_test(tc, row_refusals);
    tcase_add_test(tc, nul_and_length);
    suite_add_tcase(s, tc);
    return s;
}
