/* lgspd.conf parsing: defaults, overrides, and file:line on every error. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "cp_config.h"

static char path[64];

static void
write_conf(const char *text)
{
    FILE *f;

    strcpy(path, "/tmp/lgsp-conf-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static void
teardown(void)
{
    unlink(path);
}

START_TEST(defaults_then_overrides)
{
    cp_config_t cf;
    char        err[512];

    write_conf("# comment\n\nissuer https://sso.example.vn  # trailing\n"
               "token_lifetime 300\nlog syslog\n");
    cp_config_defaults(&cf);
    ck_assert_int_eq(cf.token_lifetime, 600);
    ck_assert_int_eq(cp_config_load(&cf, path, err, sizeof(err)), 0);
    ck_assert_str_eq(cf.issuer, "https://sso.example.vn");
    ck_assert_int_eq(cf.token_lifetime, 300);
    ck_assert_int_eq(cf.use_syslog, 1);
    ck_assert_int_eq(cf.token_skew, 60);
    ck_assert_int_eq(cf.audit_hot_days, 90);
    ck_assert_int_eq(cf.audit_retention_days, 730);
}
END_TEST

static void
expect_error(const char *text, int line, const char *fragment)
{
    cp_config_t cf;
    char        err[512], want[128];

    write_conf(text);
    cp_config_defaults(&cf);
    ck_assert_int_eq(cp_config_load(&cf, path, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
                  "\"%s\" does not start with \"%s\"", err, want);
    ck_assert_msg(strstr(err, fragment) != NULL, "\"%s\" lacks \"%s\"", err,
                  fragment);
    unlink(path);
}

START_TEST(errors_name_file_and_line)
{
    expect_error("issuer https://x\nbogus 1\n", 2, "unknown directive");
    expect_error("\n\ntoken_lifetime 5\n", 3, "token_lifetime");
    expect_error("token_lifetime 60x\n", 1, "token_lifetime");
    expect_error("log\n", 1, "missing value");
    expect_error("log file\n", 1, "stderr");
    expect_error("issuer http://plain\n", 1, "https");
    expect_error("watch_interval_ms 1000\n", 1, "watch_interval_ms");
    expect_error("audit_hot_days 0\n", 1, "audit_hot_days");
    expect_error("audit_hot_days 100\naudit_retention_days 30\n", 2,
                 "audit_retention_days must be at least audit_hot_days");
}
END_TEST

START_TEST(missing_file)
{
    cp_config_t cf;
    char        err[512];

    cp_config_defaults(&cf);
    ck_assert_int_eq(cp_config_load(&cf, "/nonexistent/lgspd.conf", err,
                                    sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/lgspd.conf:0:"));
}
END_TEST

Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("parse");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, defaults_then_overrides);
    tcase_add_test(tc, errors_name_file_and_line);
    tcase_add_test(tc, missing_file);
    suite_add_tcase(s, tc);
    return s;
}
