/* Address classes of provider URLs, and client keys of the throttle. */

#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>

#include "cp_addr.h"

static cp_addr_class_t
class_of(const char *url)
{
    char text[64];

    return cp_url_class(url, text, sizeof(text));
}

/* url's host is the literal expect, of class c */
static void
check_url(const char *url, cp_addr_class_t c, const char *expect)
{
    char text[64];

    ck_assert_msg(cp_url_class(url, text, sizeof(text)) == c,
                  "%s: class %d, expected %d", url,
                  (int) cp_url_class(url, text, sizeof(text)), (int) c);
    ck_assert_msg(strcmp(text, expect) == 0, "%s: \"%s\", expected \"%s\"",
                  url, text, expect);
}

START_TEST(link_local_in_every_spelling)
{
    static const char *const urls[] = {
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254:80/",
        "https://169.254.169.254./",              /* trailing dot */
        "http://2852039166/",                     /* one decimal number */
        "http://0xa9fea9fe/",                     /* one hex number */
        "http://0XA9FEA9FE/",
        "http://0251.0376.0251.0376/",            /* octal parts */
        "http://0xa9.0xfe.0xa9.0xfe/",            /* hex parts */
        "http://169.254.43518/",                  /* a.b.c16 */
        "http://169.16689662/",                   /* a.b24 */
        "http://169.254.169.0376/",               /* one octal part */
        "http://%31%36%39.254.169.254/",          /* percent-encoded */
        "http://[::ffff:169.254.169.254]/",       /* IPv4-mapped */
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::169.254.169.254]/",            /* IPv4-compatible */
        "http://[64:ff9b::a9fe:a9fe]/",           /* NAT64 */
        "http://user@169.254.169.254/",           /* userinfo is not host */
        "http://169.254.169.254?x",
        "http://169.254.169.254#x",
    };

    char text[64];

    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        ck_assert_msg(cp_url_class(urls[i], text, sizeof(text))
                      == CP_ADDR_LINK_LOCAL, "%s: not link-local", urls[i]);
        /* the message names the address, however it was spelled */
        ck_assert_msg(strstr(text, "169.254.169.254") != NULL
                      || strstr(text, "a9fe:a9fe") != NULL,
                      "%s: \"%s\"", urls[i], text);
    }
}
END_TEST

START_TEST(link_local_v6)
{
    check_url("http://[fe80::1]/", CP_ADDR_LINK_LOCAL, "fe80::1");
    check_url("http://[fe80::1%25eth0]:8080/", CP_ADDR_LINK_LOCAL, "fe80::1");
    check_url("http://[FEBF:ffff::1]/", CP_ADDR_LINK_LOCAL, "febf:ffff::1");
    check_url("http://[fec0::1]/", CP_ADDR_ROUTABLE, "fec0::1");
    check_url("http://169.254.0.1/", CP_ADDR_LINK_LOCAL, "169.254.0.1");
    check_url("http://169.255.0.1/", CP_ADDR_ROUTABLE, "169.255.0.1");
    check_url("http://169.253.255.255/", CP_ADDR_ROUTABLE, "169.253.255.255");
}
END_TEST

START_TEST(unspecified)
{
    check_url("http://0.0.0.0:8080/", CP_ADDR_UNSPECIFIED, "0.0.0.0");
    check_url("http://0/", CP_ADDR_UNSPECIFIED, "0.0.0.0");
    check_url("http://0x0/", CP_ADDR_UNSPECIFIED, "0.0.0.0");
    check_url("http://0.1.2.3/", CP_ADDR_UNSPECIFIED, "0.1.2.3");
    check_url("http://[::]/", CP_ADDR_UNSPECIFIED, "::");
    check_url("http://[0:0:0:0:0:0:0:0]:80/", CP_ADDR_UNSPECIFIED, "::");
    check_url("http://[::ffff:0.0.0.0]/", CP_ADDR_UNSPECIFIED,
              "::ffff:0.0.0.0");
}
END_TEST

START_TEST(metadata)
{
    check_url("http://[fd00:ec2::254]/", CP_ADDR_METADATA, "fd00:ec2::254");
    check_url("http://100.100.100.200/", CP_ADDR_METADATA, "100.100.100.200");
    check_url("http://[fd00:ec2::253]/", CP_ADDR_ROUTABLE, "fd00:ec2::253");
}
END_TEST

START_TEST(routable_and_names)
{
    /* the tests' providers and ordinary networks stay usable */
    check_url("http://127.0.0.1:8080/x", CP_ADDR_ROUTABLE, "127.0.0.1");
    check_url("http://[::1]/", CP_ADDR_ROUTABLE, "::1");
    check_url("http://10.0.0.5/", CP_ADDR_ROUTABLE, "10.0.0.5");
    check_url("https://192.168.1.1/", CP_ADDR_ROUTABLE, "192.168.1.1");
    check_url("http://2130706433/", CP_ADDR_ROUTABLE, "127.0.0.1");
    /* names are judged where they are resolved */
    check_url("https://api.example.gov.vn/v1", CP_ADDR_ROUTABLE, "");
    check_url("http://metadata.google.internal/", CP_ADDR_ROUTABLE, "");
    check_url("http://169.254.169.254.nip.io/", CP_ADDR_ROUTABLE, "");
    check_url("http://0xa9.fe.a9.fe/", CP_ADDR_ROUTABLE, "");
    check_url("http://1.2.3.4.5/", CP_ADDR_ROUTABLE, "");
    /* not URLs at all */
    ck_assert_int_eq(class_of("169.254.169.254"), CP_ADDR_ROUTABLE);
    ck_assert_int_eq(class_of("http://[fe80::1/"), CP_ADDR_ROUTABLE);
    ck_assert_int_eq(class_of(""), CP_ADDR_ROUTABLE);
}
END_TEST

START_TEST(resolved_addresses)
{
    struct sockaddr_in   s4;
    struct sockaddr_in6  s6;
    struct sockaddr      su = { .sa_family = AF_UNIX };

    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    inet_pton(AF_INET, "169.254.169.254", &s4.sin_addr);
    ck_assert_int_eq(cp_addr_classify_sockaddr((struct sockaddr *) &s4),
                     CP_ADDR_LINK_LOCAL);
    inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
    ck_assert_int_eq(cp_addr_classify_sockaddr((struct sockaddr *) &s4),
                     CP_ADDR_ROUTABLE);
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:169.254.1.1", &s6.sin6_addr);
    ck_assert_int_eq(cp_addr_classify_sockaddr((struct sockaddr *) &s6),
                     CP_ADDR_LINK_LOCAL);
    inet_pton(AF_INET6, "::", &s6.sin6_addr);
    ck_assert_int_eq(cp_addr_classify_sockaddr((struct sockaddr *) &s6),
                     CP_ADDR_UNSPECIFIED);
    ck_assert_int_eq(cp_addr_classify_sockaddr(&su), CP_ADDR_ROUTABLE);
    ck_assert_ptr_nonnull(strstr(cp_addr_class_name(CP_ADDR_LINK_LOCAL),
                                 "169.254.0.0/16"));
}
END_TEST

START_TEST(client_keys)
{
    char key[CP_ADDR_KEY_MAX];

    cp_addr_client_key("192.0.2.1", key);
    ck_assert_str_eq(key, "192.0.2.1");
    cp_addr_client_key("::ffff:192.0.2.1", key);
    ck_assert_str_eq(key, "192.0.2.1");
    cp_addr_client_key("2001:db8:1:2:3:4:5:6", key);
    ck_assert_str_eq(key, "2001:db8:1:2::/64");
    cp_addr_client_key("2001:DB8:1:2::9", key);
    ck_assert_str_eq(key, "2001:db8:1:2::/64");
    cp_addr_client_key("fe80::1%eth0", key);
    ck_assert_str_eq(key, "fe80::/64");
    cp_addr_client_key("::1", key);
    ck_assert_str_eq(key, "::/64");
    cp_addr_client_key("local", key);
    ck_assert_str_eq(key, "local");
}
END_TEST

Suite *
addr_suite(void)
{
    Suite *s = suite_create("addr");
    TCase *tc = tcase_create("classes");
    TCase *tk = tcase_create("client keys");

    tcase_add_test(tc, link_local_in_every_spelling);
    tcase_add_test(tc, link_local_v6);
    tcase_add_test(tc, unspecified);
    tcase_add_test(tc, metadata);
    tcase_add_test(tc, routable_and_names);
    tcase_add_test(tc, resolved_addresses);
    suite_add_tcase(s, tc);
    tcase_add_test(tk, client_keys);
    suite_add_tcase(s, tk);
    return s;
}
