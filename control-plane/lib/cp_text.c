/* Text in (UTF-8, no control characters) and out (terminal, CSV). */

#include <string.h>

#include "cp_text.h"

size_t
cp_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c;
    size_t   len;

    if (n == 0) {
        return 0;
    }
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    /* C0 and C1 could only start overlong forms; F5..FF lie past U+10FFFF */
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000)
        || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    {
        return 0;
    }
    *cp = c;
    return len;
}

int
cp_utf8_valid(const char *s, size_t n, size_t *bad)
{
    const unsigned char *p = (const unsigned char *) s;
    uint32_t             c;

    for (size_t i = 0, k; i < n; i += k) {
        k = cp_utf8_next(p + i, n - i, &c);
        if (k == 0) {
            if (bad != NULL) {
                *bad = i;
            }
            return 0;
        }
    }
    return 1;
}

void
cp_utf8_write(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    uint32_t             c;

    for (size_t i = 0, k; i < n; i += k) {
        k = cp_utf8_next(p + i, n - i, &c);
        if (k == 0) {
            fputs("\xef\xbf\xbd", out);
            k = 1;
        } else {
            fwrite(p + i, 1, k, out);
        }
    }
}

static int
is_control(uint32_t c, int flags)
{
    /* a bare CR would let a line overwrite itself on a terminal */
    if (c == '\t' || ((flags & CP_TEXT_LINES) && c == '\n')) {
        return 0;
    }
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

int
cp_text_check(const char *s, size_t n, int flags, size_t *bad)
{
    const unsigned char *p = (const unsigned char *) s;
    uint32_t             c;

    for (size_t i = 0, k; i < n; i += k) {
        k = cp_utf8_next(p + i, n - i, &c);
        if (k == 0 || is_control(c, flags)) {
            if (bad != NULL) {
                *bad = i;
            }
            return k == 0 ? CP_TEXT_UTF8 : CP_TEXT_CONTROL;
        }
    }
    return CP_TEXT_OK;
}

void
cp_term_escape(char *out, size_t size, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *) s;
    char                 piece[17];
    size_t               len = 0, m;
    uint32_t             c;

    if (size < 4) {
        if (size > 0) {
            out[0] = '\0';
        }
        return;
    }
    for (size_t i = 0, k; i < n; i += k) {
        k = cp_utf8_next(p + i, n - i, &c);
        if (k == 0) {
            /* a malformed sequence has no length: one byte at a time */
            k = 1;
            snprintf(piece, sizeof(piece), "\\x%02x", p[i]);
        } else if (is_control(c, 0) || c == '\t') {
            piece[0] = '\0';
            for (size_t j = 0; j < k; j++) {
                snprintf(piece + 4 * j, sizeof(piece) - 4 * j, "\\x%02x",
                         p[i + j]);
            }
        } else if (c == '\\') {
            strcpy(piece, "\\\\");
        } else {
            memcpy(piece, p + i, k);
            piece[k] = '\0';
        }
        m = strlen(piece);
        if (len + m + 4 > size) {
            memcpy(out + len, "...", 4);
            return;
        }
        memcpy(out + len, piece, m);
        len += m;
    }
    out[len] = '\0';
}

long
cp_json_nul(const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);
    int         in_string = 0;

    if (nul != NULL) {
        len = (size_t) (nul - text);        /* an escape before it first */
    }
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
        } else if (text[i] == '"') {
            in_string = 0;
        } else if (text[i] == '\\') {
            if (i + 5 < len && text[i + 1] == 'u'
                && memcmp(text + i + 2, "0000", 4) == 0)
            {
                return (long) i;
            }
            i++;                            /* the escaped character */
        }
    }
    return nul != NULL ? (long) (nul - text) : -1;
}

void
cp_csv_write(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    if (n > 0 && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL) {
        fputc('\'', out);
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') {
            fputc('"', out);
        }
        fputc(s[i], out);
    }
    fputc('"', out);
}
