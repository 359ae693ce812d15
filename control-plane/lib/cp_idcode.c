/* Identity code grammars (SPEC §3): validation that names the bad group. */

#include <stdio.h>
#include <string.h>

#include "cp_idcode.h"

#define why_set(...)  do { if (why != NULL) snprintf(why, size, __VA_ARGS__); } while (0)

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int
all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i])) {
            return 0;
        }
    }
    return 1;
}

/* a level-1 group: one letter and two digits (G01, H26, K26) */
static int
level1(const char *p, size_t n)
{
    return n == 3 && is_upper(p[0]) && is_digit(p[1]) && is_digit(p[2]);
}

/* Split into at most 8 groups; the caller has checked for empty groups. */
static int
split(const char *code, const char *start[], size_t len[], int max)
{
    int         n = 0;
    const char *p = code;

    for (;;) {
        size_t l = strcspn(p, ".");
        if (n == max) {
            return max + 1;
        }
        start[n] = p;
        len[n++] = l;
        if (p[l] == '\0') {
            return n;
        }
        p += l + 1;
    }
}

static cp_idcode_kind_t
check_legacy(const char *code, const char *g[], size_t l[], int n, char *why,
             size_t size)
{
    static const size_t  width[] = { 3, 2, 2 };

    if (n != 4) {
        why_set("\"%s\": has %d group%s; a legacy code is DDD.DD.DD.XNN"
                " (4 groups)", code, n, n == 1 ? "" : "s");
        return CP_IDCODE_INVALID;
    }
    for (int i = 0; i < 3; i++) {
        if (l[i] != width[i] || !all_digits(g[i], l[i])) {
            why_set("\"%s\": group %d \"%.*s\" must be %zu digits", code,
                    i + 1, (int) l[i], g[i], width[i]);
            return CP_IDCODE_INVALID;
        }
    }
    if (!level1(g[3], l[3])) {
        why_set("\"%s\": group 4 \"%.*s\" must be a letter and 2 digits"
                " (the level-1 group, e.g. H26)", code, (int) l[3], g[3]);
        return CP_IDCODE_INVALID;
    }
    return CP_IDCODE_LEGACY;
}

static cp_idcode_kind_t
check_current(const char *code, const char *g[], size_t l[], int n,
              char *why, size_t size)
{
    if (!level1(g[0], l[0])) {
        why_set("\"%s\": group 1 \"%.*s\" must be a letter and 2 digits"
                " (the level-1 group, e.g. H26)", code, (int) l[0], g[0]);
        return CP_IDCODE_INVALID;
    }
    /* lower levels: letters and digits, already checked character-wise */
    (void) n;
    return CP_IDCODE_CURRENT;
}

cp_idcode_kind_t
cp_idcode_check(const char *code, char *why, size_t size)
{
    const char *g[CP_IDCODE_MAX + 1];
    size_t      l[CP_IDCODE_MAX + 1], len;
    int         n, group = 1;

    if (code == NULL || *code == '\0') {
        why_set("the identity code is empty");
        return CP_IDCODE_INVALID;
    }
    len = strlen(code);
    if (len > CP_IDCODE_MAX) {
        why_set("\"%.40s%s\": longer than %d characters", code,
                len > 40 ? "..." : "", CP_IDCODE_MAX);
        return CP_IDCODE_INVALID;
    }
    for (size_t i = 0; i < len; i++) {
        char c = code[i];

        if (c == '.') {
            if (i == 0 || code[i - 1] == '.' || i + 1 == len) {
                why_set("\"%s\": group %d is empty", code,
                        i == 0 ? 1 : group + (code[i - 1] != '.'));
                return CP_IDCODE_INVALID;
            }
            group++;
            continue;
        }
        if (is_digit(c) || is_upper(c)) {
            continue;
        }
        if (c >= 'a' && c <= 'z') {
            why_set("\"%s\": group %d has lower case '%c'; identity codes"
                    " are upper case", code, group, c);
        } else if (c == ' ' || c == '\t') {
            why_set("\"%s\": group %d has a space", code, group);
        } else if ((unsigned char) c < 0x20 || (unsigned char) c >= 0x7f) {
            why_set("\"%s\": group %d has byte 0x%02x; only 0-9, A-Z and"
                    " '.' are allowed", code, group, (unsigned char) c);
        } else {
            why_set("\"%s\": group %d has '%c'; only 0-9, A-Z and '.' are"
                    " allowed", code, group, c);
        }
        return CP_IDCODE_INVALID;
    }

    n = split(code, g, l, CP_IDCODE_MAX);

    /* the current grammar starts with its level-1 letter; legacy with
     * digits.  An administrative-procedure code (1.011442.000.00.00.H38)
     * starts with a digit and fails the legacy shape. */
    if (is_upper(code[0])) {
        return check_current(code, g, l, n, why, size);
    }
    return check_legacy(code, g, l, n, why, size);
}

int
cp_idcode_parent(const char *code, char *out, size_t size)
{
    cp_idcode_kind_t  kind = cp_idcode_check(code, NULL, 0);
    size_t            len = code ? strlen(code) : 0;
    const char       *dot;

    if (kind == CP_IDCODE_INVALID || len + 1 > size) {
        return -1;
    }
    if (kind == CP_IDCODE_CURRENT) {
        dot = strrchr(code, '.');
        if (dot == NULL) {
            return 1;
        }
        memcpy(out, code, (size_t) (dot - code));
        out[dot - code] = '\0';
        return 0;
    }

    /* legacy DDD.DD.DD.XNN: groups at offsets 0 (level 4), 4 (level 3),
     * 7 (level 2); the most specific non-zero one goes to zeros */
    static const struct { size_t off, len; } lv[] = { {0, 3}, {4, 2}, {7, 2} };

    memcpy(out, code, len + 1);
    for (size_t i = 0; i < 3; i++) {
        if (strspn(code + lv[i].off, "0") >= lv[i].len) {
            continue;
        }
        memset(out + lv[i].off, '0', lv[i].len);
        return 0;
    }
    return 1;
}
