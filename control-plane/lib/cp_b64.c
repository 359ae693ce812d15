#include <string.h>

#include "cp_b64.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
cp_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i;
    char  *p = out;

    for (i = 0; i + 2 < len; i += 3) {
        *p++ = b64url[in[i] >> 2];
        *p++ = b64url[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *p++ = b64url[((in[i + 1] & 0x0f) << 2) | (in[i + 2] >> 6)];
        *p++ = b64url[in[i + 2] & 0x3f];
    }
    if (len - i == 1) {
        *p++ = b64url[in[i] >> 2];
        *p++ = b64url[(in[i] & 0x03) << 4];
    } else if (len - i == 2) {
        *p++ = b64url[in[i] >> 2];
        *p++ = b64url[((in[i] & 0x03) << 4) | (in[i + 1] >> 4)];
        *p++ = b64url[(in[i + 1] & 0x0f) << 2];
    }
    *p = '\0';
}

static int
value(int c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

static int
decode(const char *in, size_t len, unsigned char *out, size_t out_size,
       size_t *out_len, int url)
{
    size_t        n = 0;
    unsigned int  acc = 0;
    int           bits = 0;

    if (!url && len % 4 == 0) {
        /* padding only at the end, at most two */
        for (int pad = 0; pad < 2 && len > 0 && in[len - 1] == '='; pad++) {
            len--;
        }
    }
    if (len % 4 == 1) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        int v = value((unsigned char) in[i], url);

        if (v < 0) {
            return -1;
        }
        acc = (acc << 6) | (unsigned int) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= out_size) {
                return -1;
            }
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* the leftover bits of the last character must be zero (canonical) */
    if (acc != 0) {
        return -1;
    }
    *out_len = n;
    return 0;
}

int
cp_b64_decode(const char *in, size_t len, unsigned char *out,
              size_t out_size, size_t *out_len)
{
    return decode(in, len, out, out_size, out_len, 0);
}

int
cp_b64url_decode(const char *in, size_t len, unsigned char *out,
                 size_t out_size, size_t *out_len)
{
    return decode(in, len, out, out_size, out_len, 1);
}
