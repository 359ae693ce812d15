#ifndef CP_PASSWORD_H
#define CP_PASSWORD_H

#include <stddef.h>

/*
 * The password policy of the regulation (Appendix 01 §2.2 b) for secrets
 * an operator enters by hand (an upstream credential): at least 8
 * characters, with a lower-case letter, an upper-case letter, a digit and
 * a special character.  0, or -1 with why (which never quotes the secret).
 */

#define CP_PASSWORD_MIN  8

int cp_password_check(const char *secret, char *why, size_t size);

#endif /* CP_PASSWORD_H */
