/* The seed's password policy (Appendix 01 §2.2 b). */

#include <stdio.h>
#include <string.h>

#include "cp_password.h"

int
cp_password_check(const char *secret, char *why, size_t size)
{
    size_t      chars = 0;
    int         lower = 0, upper = 0, digit = 0, special = 0;
    const char *missing[4];
    int         n = 0;

    for (const unsigned char *p = (const unsigned char *) secret; *p; p++) {
        /* count characters, not bytes: a UTF-8 continuation byte is not
         * a character of its own */
        if ((*p & 0xc0) != 0x80) {
            chars++;
        }
        if (*p >= 'a' && *p <= 'z') {
            lower = 1;
        } else if (*p >= 'A' && *p <= 'Z') {
            upper = 1;
        } else if (*p >= '0' && *p <= '9') {
            digit = 1;
        } else if (*p > ' ' && *p < 0x7f) {
            special = 1;
        }
    }
    if (chars < CP_PASSWORD_MIN) {
        snprintf(why, size, "shorter than %d characters", CP_PASSWORD_MIN);
        return -1;
    }
    if (!lower) missing[n++] = "a lower-case letter";
    if (!upper) missing[n++] = "an upper-case letter";
    if (!digit) missing[n++] = "a digit";
    if (!special) missing[n++] = "a special character";
    if (n == 0) {
        return 0;
    }
    snprintf(why, size, "needs %s%s%s%s%s%s%s", missing[0],
             n > 1 ? (n == 2 ? " and " : ", ") : "", n > 1 ? missing[1] : "",
             n > 2 ? (n == 3 ? " and " : ", ") : "", n > 2 ? missing[2] : "",
             n > 3 ? " and " : "", n > 3 ? missing[3] : "");
    return -1;
}
