#ifndef CP_B64_H
#define CP_B64_H

#include <stddef.h>

/* Encoded length of n bytes in base64url without padding (RFC 7515 §2). */
#define CP_B64URL_LEN(n)  (((n) * 4 + 2) / 3)

/* base64url, no padding, NUL-terminated; out holds CP_B64URL_LEN(len)+1. */
void cp_b64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * Strict decoders: -1 on any character outside the alphabet, a bad
 * length, or output over out_size.  cp_b64_decode takes the standard
 * alphabet with or without '=' padding (HTTP Basic, RFC 7617);
 * cp_b64url_decode takes the url alphabet without padding (JOSE).
 */
int cp_b64_decode(const char *in, size_t len, unsigned char *out,
                  size_t out_size, size_t *out_len);
int cp_b64url_decode(const char *in, size_t len, unsigned char *out,
                     size_t out_size, size_t *out_len);

#endif /* CP_B64_H */
