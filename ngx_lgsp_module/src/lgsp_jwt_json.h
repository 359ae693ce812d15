/*
 * LGSP: the byte-level readers under lgsp_jwt.c -- strict base64url and a
 * strict, allocation-free JSON scanner.  Internal to the JWT code: cJSON
 * allocates a node per value on every call, and this runs per request.
 */

#ifndef LGSP_JWT_JSON_H
#define LGSP_JWT_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "lgsp_jwt.h"


typedef struct {
    unsigned char          *pos;
    unsigned char          *end;
} lgsp_jwt_json_t;


/* base64url (RFC 4648 §5) without padding, canonical tail bits only */
size_t lgsp_jwt_b64_decoded_len(size_t len);
lgsp_jwt_rc_e lgsp_jwt_b64_decode(const unsigned char *src, size_t len,
    unsigned char *dst, size_t *out_len);

void lgsp_jwt_json_skip_ws(lgsp_jwt_json_t *js);
/* a string, its escapes decoded in place (the scanner owns the bytes) */
lgsp_jwt_rc_e lgsp_jwt_json_string(lgsp_jwt_json_t *js, lgsp_jwt_str_t *out);
lgsp_jwt_rc_e lgsp_jwt_json_number(lgsp_jwt_json_t *js);
/* a plain non-negative integer (time claims) */
lgsp_jwt_rc_e lgsp_jwt_json_int(lgsp_jwt_json_t *js, int64_t *out);
/* any value, nested ones up to LGSP_JWT_MAX_DEPTH */
lgsp_jwt_rc_e lgsp_jwt_json_skip_value(lgsp_jwt_json_t *js, unsigned depth);

#endif /* LGSP_JWT_JSON_H */
