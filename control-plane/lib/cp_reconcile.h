#ifndef CP_RECONCILE_H
#define CP_RECONCILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The partner's CSV file of `lgspctl reconcile` (đối soát, SPEC §9; the
 * format is in docs/integration-guide.md, "Reconciliation"), one line at a
 * time.  Pure: the caller reads the lines and matches the rows, so the
 * parsing is unit tested and fuzzed (t/fuzz/fuzz_reconcile.c).
 */

/* a line's bytes, its line break included */
#define CP_RECONCILE_LINE_MAX  4096
#define CP_RECONCILE_FIELDS    16
/* why: the longest message, the partner's text escaped (\xNN) in it */
#define CP_RECONCILE_WHY_MAX   (4 * CP_RECONCILE_LINE_MAX + 128)

enum {
    CP_RECONCILE_TXN = 0,
    CP_RECONCILE_RID,
    CP_RECONCILE_TIME,
    CP_RECONCILE_STATUS,
    CP_RECONCILE_NCOLS
};

typedef struct {
    long  line;                         /* the line last given, from 1 */
    int   col[CP_RECONCILE_NCOLS];      /* its column in the header, or -1 */
    int   header;                       /* the header line was read */
    char  buf[CP_RECONCILE_LINE_MAX + 1];
} cp_reconcile_csv_t;

typedef struct {
    const char  *txn;       /* "" or a transaction id ([A-Za-z0-9._:-]) */
    const char  *rid;       /* "" or a request id; one of the two is set */
    int64_t      ms;        /* the call's start, Unix ms */
    int          status;    /* 100..599 */
} cp_reconcile_row_t;

void cp_reconcile_csv_init(cp_reconcile_csv_t *c);

/*
 * The next line of the file as read, with its "\n" or "\r\n" if it has
 * one.  1: a row in *row (its strings live in c until the next line);
 * 0: the header or a blank line; -1: the file is bad at line c->line, why
 * says how ("time \"yesterday\" is not ISO 8601").
 */
int cp_reconcile_csv_line(cp_reconcile_csv_t *c, const char *line,
                          size_t len, cp_reconcile_row_t *row, char *why,
                          size_t size);

/* After the last line: 0, or -1 with why when the file had no header. */
int cp_reconcile_csv_end(const cp_reconcile_csv_t *c, char *why,
                         size_t size);

#endif /* CP_RECONCILE_H */
