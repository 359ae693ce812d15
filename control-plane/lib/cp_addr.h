#ifndef CP_ADDR_H
#define CP_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Addresses: where a provider's URL may point, and which client a failed
 * login is counted against.  Pure (no DNS, no clock).  Parsing is
 * inet_pton's and inet_aton's, so an address is judged as the resolver,
 * libcurl and the gateway would connect to it, not as it is spelled.
 */

typedef enum {
    CP_ADDR_ROUTABLE = 0,   /* anything not below: loopback, private too */
    CP_ADDR_LINK_LOCAL,     /* 169.254.0.0/16, fe80::/10 */
    CP_ADDR_METADATA,       /* a cloud metadata service outside those */
    CP_ADDR_UNSPECIFIED     /* 0.0.0.0/8, :: */
} cp_addr_class_t;

/* An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order.  An
 * IPv6 address that carries an IPv4 one (::ffff:0:0/96, ::/96,
 * 64:ff9b::/96) is judged by the IPv4 address. */
cp_addr_class_t cp_addr_classify(int family, const void *addr);

/* The same for a resolved address (AF_INET or AF_INET6; others are
 * CP_ADDR_ROUTABLE: a unix socket is nobody's metadata service). */
cp_addr_class_t cp_addr_classify_sockaddr(const struct sockaddr *sa);

/* What a class means, for messages. */
const char *cp_addr_class_name(cp_addr_class_t c);

/*
 * The class of a URL's host when the host is an address literal in any
 * spelling a URL parser or resolver reads as one: dotted quad, the
 * inet_aton shorthands (2852039166, 0xa9fea9fe, 0251.0376.0251.0376,
 * 169.254.43518), percent-encoded, with a trailing dot, or a bracketed
 * IPv6 address with or without a zone.  A host name is CP_ADDR_ROUTABLE
 * here: what it resolves to is checked where it is resolved.  text gets
 * the address found, canonically written ("" for a name).
 */
cp_addr_class_t cp_url_class(const char *url, char *text, size_t size);

/*
 * The key failed logins of a client address count against: an IPv4
 * address as is (an IPv4-mapped IPv6 one as IPv4), an IPv6 address as
 * its /64 — one host is given a whole /64, so counting single IPv6
 * addresses would count nothing.  Unparseable text is kept as given.
 */
#define CP_ADDR_KEY_MAX  48
void cp_addr_client_key(const char *addr, char out[CP_ADDR_KEY_MAX]);

#endif /* CP_ADDR_H */
