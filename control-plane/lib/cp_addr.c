/*
 * Address classes and client keys (cp_addr.h).  Why these ranges: a
 * provider URL is fetched by lgspd (health checks) and forwarded to by
 * nginx, both on the platform's own network, where 169.254.169.254 (and
 * fd00:ec2::254, 100.100.100.200) answer with the host's cloud
 * credentials, the rest of the link-local ranges reach whatever shares
 * the platform's link, and 0.0.0.0 or :: reach the platform host itself.
 */

#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cp_addr.h"

/* cloud metadata services at addresses outside the link-local ranges */
static const struct {
    int            family;
    unsigned char  addr[16];
} metadata[] = {
    /* AWS IMDS over IPv6: fd00:ec2::254 */
    { AF_INET6, { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                  0x02, 0x54 } },
    /* Alibaba Cloud: 100.100.100.200 */
    { AF_INET, { 100, 100, 100, 200 } },
};

static cp_addr_class_t
classify4(const unsigned char *b)
{
    if (b[0] == 0) {
        /* "this network" (RFC 1122): connecting to it reaches this host */
        return CP_ADDR_UNSPECIFIED;
    }
    if (b[0] == 169 && b[1] == 254) {
        return CP_ADDR_LINK_LOCAL;
    }
    return CP_ADDR_ROUTABLE;
}

cp_addr_class_t
cp_addr_classify(int family, const void *addr)
{
    static const unsigned char zero[12], mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    }, nat64[12] = {
        0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
    };
    const unsigned char *b = addr;

    for (size_t i = 0; i < sizeof(metadata) / sizeof(metadata[0]); i++) {
        if (metadata[i].family == family
            && memcmp(metadata[i].addr, b, family == AF_INET ? 4 : 16) == 0)
        {
            return CP_ADDR_METADATA;
        }
    }
    if (family == AF_INET) {
        return classify4(b);
    }
    if (family != AF_INET6) {
        return CP_ADDR_ROUTABLE;
    }
    if (memcmp(b, zero, 12) == 0) {
        /* :: itself, and the deprecated IPv4-compatible ::a.b.c.d; ::1 is
         * loopback, which the IPv4 rule would take for 0.0.0.1 */
        if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) {
            return b[15] == 0 ? CP_ADDR_UNSPECIFIED : CP_ADDR_ROUTABLE;
        }
        return cp_addr_classify(AF_INET, b + 12);
    }
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0) {
        return cp_addr_classify(AF_INET, b + 12);
    }
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
        return CP_ADDR_LINK_LOCAL;
    }
    return CP_ADDR_ROUTABLE;
}

cp_addr_class_t
cp_addr_classify_sockaddr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return cp_addr_classify(AF_INET,
                                &((const struct sockaddr_in *) sa)->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        return cp_addr_classify(AF_INET6,
                              &((const struct sockaddr_in6 *) sa)->sin6_addr);
    }
    return CP_ADDR_ROUTABLE;
}

const char *
cp_addr_class_name(cp_addr_class_t c)
{
    switch (c) {
    case CP_ADDR_LINK_LOCAL:
        return "link-local (169.254.0.0/16 or fe80::/10, where cloud"
               " metadata services answer)";
    case CP_ADDR_METADATA:
        return "a cloud metadata service";
    case CP_ADDR_UNSPECIFIED:
        return "unspecified (0.0.0.0/8 or ::, which reach the platform host"
               " itself)";
    default:
        return "routable";
    }
}

static int
hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        return (c | 0x20) - 'a' + 10;
    }
    return -1;
}

/* The URL's authority without userinfo, percent-decoded, into out. */
static int
authority(const char *url, char *out, size_t size)
{
    const char *a = strstr(url, "://"), *end, *at;
    size_t      n = 0;

    if (a == NULL) {
        return -1;
    }
    a += 3;
    end = a + strcspn(a, "/?#\\");
    for (at = a; at < end; at++) {
        if (*at == '@') {
            a = at + 1;
        }
    }
    for (const char *p = a; p < end; p++) {
        int hi, lo;

        if (n + 1 >= size) {
            return -1;
        }
        if (*p == '%' && end - p >= 3
            && (hi = hex_digit(p[1])) >= 0 && (lo = hex_digit(p[2])) >= 0)
        {
            out[n++] = (char) (hi * 16 + lo);
            p += 2;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return 0;
}

cp_addr_class_t
cp_url_class(const char *url, char *text, size_t size)
{
    char            host[512], *e;
    unsigned char   addr[16];
    struct in_addr  a4;
    int             family;
    size_t          n;

    if (size > 0) {
        text[0] = '\0';
    }
    if (authority(url, host, sizeof(host)) != 0) {
        return CP_ADDR_ROUTABLE;
    }
    if (host[0] == '[') {
        e = strchr(host, ']');
        if (e == NULL) {
            return CP_ADDR_ROUTABLE;
        }
        *e = '\0';
        /* a zone ("%eth0", "%25eth0" before decoding) picks an interface,
         * not another address */
        host[1 + strcspn(host + 1, "%")] = '\0';
        if (inet_pton(AF_INET6, host + 1, addr) != 1) {
            return CP_ADDR_ROUTABLE;
        }
        family = AF_INET6;
    } else {
        host[strcspn(host, ":")] = '\0';
        n = strlen(host);
        /* "169.254.169.254." is the same address to libcurl */
        if (n > 1 && host[n - 1] == '.') {
            host[n - 1] = '\0';
        }
        /* inet_aton, not inet_pton: it reads the shorthands getaddrinfo
         * and libcurl read (2852039166, 0xa9fea9fe, 0251.0376.0251.0376) */
        if (inet_aton(host, &a4) == 0) {
            return CP_ADDR_ROUTABLE;
        }
        memcpy(addr, &a4, 4);
        family = AF_INET;
    }
    if (size > 0) {
        inet_ntop(family, addr, text, (socklen_t) size);
    }
    return cp_addr_classify(family, addr);
}

void
cp_addr_client_key(const char *addr, char out[CP_ADDR_KEY_MAX])
{
    unsigned char  b[16];
    char           s[CP_ADDR_KEY_MAX];

    snprintf(s, sizeof(s), "%s", addr);
    s[strcspn(s, "%")] = '\0';
    if (inet_pton(AF_INET, s, b) == 1) {
        inet_ntop(AF_INET, b, out, CP_ADDR_KEY_MAX);
        return;
    }
    if (inet_pton(AF_INET6, s, b) != 1) {
        snprintf(out, CP_ADDR_KEY_MAX, "%s", addr);
        return;
    }
    if (memcmp(b, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
        inet_ntop(AF_INET, b + 12, out, CP_ADDR_KEY_MAX);
        return;
    }
    memset(b + 8, 0, 8);
    /* a /64 written out is at most "ffff:ffff:ffff:ffff::/64" */
    inet_ntop(AF_INET6, b, out, CP_ADDR_KEY_MAX - 3);
    strcat(out, "/64");
}
