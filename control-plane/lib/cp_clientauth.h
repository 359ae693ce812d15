#ifndef CP_CLIENTAUTH_H
#define CP_CLIENTAUTH_H

#include <stddef.h>

/*
 * Client authentication of a token request (RFC 6749 §2.3.1, §4.4.2), in
 * the shapes provincial LGSP clients send: HTTP Basic with the
 * form-urlencoded id and secret, form fields, or a JSON body with the same
 * names.  Pure: no I/O, so it is unit tested and fuzzable.
 */

#define CP_AUTH_GRANT_MAX   64
#define CP_AUTH_ID_MAX      128
#define CP_AUTH_SECRET_MAX  256

typedef enum {
    CP_AUTH_NONE = 0,      /* no client authentication in the request */
    CP_AUTH_BASIC,
    CP_AUTH_FORM,
    CP_AUTH_JSON
} cp_auth_method_t;

typedef struct {
    cp_auth_method_t method;
    char             grant_type[CP_AUTH_GRANT_MAX + 1];     /* "" if none */
    char             client_id[CP_AUTH_ID_MAX + 1];
    char             client_secret[CP_AUTH_SECRET_MAX + 1];
} cp_client_auth_t;

/*
 * Parse the Authorization header (NULL if absent), the Content-Type (NULL
 * if absent) and the body.  0: *ca filled (method CP_AUTH_NONE when the
 * request carries no credentials, grant_type "" when it has none); -1: an
 * invalid_request, with *why a short description safe to send back (it
 * never quotes the input).  Empty parameters count as omitted (RFC 6749
 * §3.2); a parameter given twice, two authentication methods at once,
 * an id without a secret (or the reverse) are invalid requests.
 */
int cp_client_auth_parse(const char *authorization, const char *content_type,
                         const char *body, size_t body_len,
                         cp_client_auth_t *ca, const char **why);

/* Wipe the secret (and the rest) once done. */
void cp_client_auth_clear(cp_client_auth_t *ca);

/*
 * application/x-www-form-urlencoded decoding of one name or value: '+' is
 * a space, %XX a byte.  -1 on a bad escape, a NUL byte, or more than
 * size - 1 bytes; out is NUL-terminated.
 */
int cp_form_decode(const char *in, size_t len, char *out, size_t size);

#endif /* CP_CLIENTAUTH_H */
