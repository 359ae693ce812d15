/* The common shape of lgspctl verbs: flags, transactions, refusals. */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cp_cli.h"
#include "cp_password.h"
#include "cp_util.h"
#include "cp_valid.h"

/*
 * getopt_long takes any unambiguous prefix of a long option: an operator
 * typing --upstream-header 'Authorization: ...' would have the secret
 * taken as a file name and echoed in the error.  Only whole names count.
 */
static int
exact_names(int argc, char **argv, const struct option *opts,
            const char *what)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t      n;
        int         known = 0;

        if (strcmp(a, "--") == 0) {
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            continue;
        }
        n = strcspn(a + 2, "=");
        for (const struct option *o = opts; o->name != NULL; o++) {
            if (strlen(o->name) == n && strncmp(o->name, a + 2, n) == 0) {
                known = 1;
                /* the value of a separate-argument option is skipped */
                if (o->has_arg == required_argument && a[2 + n] == '\0') {
                    i++;
                }
                break;
            }
        }
        if (!known) {
            cp_err("%s: unknown option \"%.*s\"", what, (int) (n + 2), a);
            return -1;
        }
    }
    return 0;
}

int
cp_getopt(int argc, char **argv, const struct option *opts, const char *what)
{
    int c;

    if (optind <= 1 && exact_names(argc, argv, opts, what) != 0) {
        optind = argc;
        return '?';
    }
    opterr = 0;
    c = getopt_long(argc, argv, ":", opts, NULL);
    if (c == '?') {
        cp_err("%s: unknown option \"%s\"", what, argv[optind - 1]);
    } else if (c == ':') {
        cp_err("%s: option \"%s\" needs a value", what, argv[optind - 1]);
        c = '?';
    }
    return c;
}

int
cp_tx_begin(sqlite3 *db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        cp_err("registry: %s", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int
cp_tx_commit(sqlite3 *db)
{
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        cp_err("registry: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return CP_EXIT_REFUSED;
    }
    return CP_EXIT_OK;
}

int
cp_refuse(sqlite3 *db, const char *fmt, ...)
{
    va_list ap;

    if (db != NULL && !sqlite3_get_autocommit(db)) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    va_start(ap, fmt);
    cp_verr(fmt, ap);
    va_end(ap);
    return CP_EXIT_REFUSED;
}

int
cp_bad(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cp_verr(fmt, ap);
    va_end(ap);
    return CP_EXIT_USAGE;
}

int
cp_text_arg(const char *what, const char *opt, const char *s, size_t max,
            int flags)
{
    char why[96];

    if (s == NULL || cp_valid_text(s, max, flags, why, sizeof(why)) == 0) {
        return 0;
    }
    return cp_bad("%s: %s %s", what, opt, why);
}

int
cp_read_upstream_header(const char *file, char *out, size_t size)
{
    char    *buf, why[128];
    size_t   len;
    int      rc;

    if (strcmp(file, "-") == 0) {
        buf = cp_read_file("/dev/stdin", CP_HEADER_MAX, &len);
    } else {
        buf = cp_read_file(file, CP_HEADER_MAX, &len);
    }
    if (buf == NULL) {
        cp_err("--upstream-header-file %s: %s", file,
               errno == EFBIG ? "larger than 8 KB" : strerror(errno));
        return CP_EXIT_REFUSED;
    }
    if (strlen(buf) != len) {
        cp_err("--upstream-header-file %s: has a NUL byte", file);
        rc = CP_EXIT_USAGE;
    } else if (cp_parse_upstream_header(buf, out, size, why, sizeof(why))
               != 0)
    {
        /* the value is a secret: say what is wrong, never echo it */
        cp_err("--upstream-header-file %s: %s", file, why);
        rc = CP_EXIT_USAGE;
    } else if (cp_password_check(strchr(out, ':') + 2, why, sizeof(why))
               != 0)
    {
        /* a credential typed by hand meets the seed's password policy
         * (Appendix 01 §2.2 b); the value after "Name: " is the secret */
        cp_err("--upstream-header-file %s: the credential %s (password"
               " policy: at least %d characters with lower case, upper"
               " case, a digit and a special character)", file, why,
               CP_PASSWORD_MIN);
        OPENSSL_cleanse(out, size);
        rc = CP_EXIT_REFUSED;
    } else {
        rc = CP_EXIT_OK;
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}
