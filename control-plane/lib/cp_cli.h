#ifndef CP_CLI_H
#define CP_CLI_H

#include <getopt.h>
#include <sqlite3.h>

/*
 * What every lgspctl verb does the same way: flags through getopt_long
 * (unknown flag or missing value: a message, usage, exit 2), one
 * transaction per command, refusals as "lgspctl: what: why" with exit 1.
 */

/* getopt_long with our messages; returns the option, -1 at the end, or
 * '?' after printing what was wrong (the caller prints usage). */
int cp_getopt(int argc, char **argv, const struct option *opts,
              const char *what);

/* BEGIN IMMEDIATE, or print why: 0 or -1. */
int cp_tx_begin(sqlite3 *db);

/* COMMIT, or print why and roll back: CP_EXIT_OK or CP_EXIT_REFUSED. */
int cp_tx_commit(sqlite3 *db);

/* Roll back any open transaction, print "lgspctl: fmt", return 1. */
int cp_refuse(sqlite3 *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Bad usage: print "lgspctl: fmt" and return 2 (the caller adds usage). */
int cp_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read an upstream credential header from a file or "-" (stdin), check
 * and normalise it into out.  0; CP_EXIT_REFUSED when it cannot be read;
 * CP_EXIT_USAGE when it is not one "Name: value" line (message printed). */
/* A text argument checked by cp_valid_text() (NULL: not given, nothing to
 * check): 0, or CP_EXIT_USAGE after "lgspctl: WHAT: OPT <why>". */
int cp_text_arg(const char *what, const char *opt, const char *s,
                size_t max, int flags);

int cp_read_upstream_header(const char *file, char *out, size_t size);

#endif /* CP_CLI_H */
