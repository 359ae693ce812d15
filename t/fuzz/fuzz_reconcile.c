/*
 * libFuzzer driver for the partner CSV of lgspctl reconcile
 * (cp_reconcile.c): the input is the file.  It is cut into lines as
 * cmd_reconcile.c's read_line() cuts them (at each '\n', or after 4097
 * bytes), each given exactly sized, until the first refusal, as lgspctl
 * stops there.
 *
 * Checked: a refusal's message is text a terminal only shows (UTF-8, no
 * control character: the partner's bytes come out escaped) and fits its
 * buffer; a row has an id of the allowed alphabet and length, a status of
 * 100..599 and strings inside the reader; and the row written again
 * (quoted fields, the time at another offset) is read back the same.
 *
 *   make build/bin/fuzz_reconcile
 *   ./fuzz_reconcile -dict=t/fuzz/reconcile.dict t/fuzz/corpus/reconcile
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_reconcile.h"
#include "cp_text.h"
#include "cp_time.h"


static cp_reconcile_csv_t  fuzz_csv, fuzz_again;
static char                fuzz_why[CP_RECONCILE_WHY_MAX];


static void
fuzz_id(const char *s, size_t max)
{
    size_t  n;

    n = strlen(s);

    if (n > max || strspn(s, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
                   != n)
    {
        abort();
    }
}


static void
fuzz_in_reader(const cp_reconcile_csv_t *c, const char *s)
{
    if (s[0] != '\0'
        && (s < c->buf || s + strlen(s) >= c->buf + sizeof(c->buf)))
    {
        abort();
    }
}


/* ISO 8601 at an offset of +-14:59, the one that keeps the year in range */
static void
fuzz_iso(int64_t ms, char *out, size_t size)
{
    int      y, m, d, sign;
    int64_t  off, local, days, sec;

    for (sign = 1; sign >= -1; sign -= 2) {
        off = sign * (14 * 3600 + 59 * 60) * 1000LL;
        local = ms + off;
        days = local >= 0 ? local / 86400000 : (local - 86399999) / 86400000;
        sec = (local - days * 86400000) / 1000;

        cp_civil_from_days(days, &y, &m, &d);

        if (y >= 1970 && y <= 9999) {
            break;
        }
    }

    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", y, m, d,
             (int) (sec / 3600), (int) (sec / 60 % 60), (int) (sec % 60),
             (int) (((ms % 1000) + 1000) % 1000),
             sign > 0 ? "+14:59" : "-1459");     /* both spellings */
}


static void
fuzz_round_trip(const cp_reconcile_row_t *row)
{
    int                  rc;
    char                 line[512], iso[64];
    cp_reconcile_row_t   back;
    static const char    header[] = "\"TIME\",request_id, transaction_id\t,"
                                    "status\r\n";

    cp_reconcile_csv_init(&fuzz_again);

    if (cp_reconcile_csv_line(&fuzz_again, header, sizeof(header) - 1,
                              &back, fuzz_why, sizeof(fuzz_why)) != 0)
    {
        abort();
    }

    fuzz_iso(row->ms, iso, sizeof(iso));
    snprintf(line, sizeof(line), "\"%s\",\"%s\",%s,\"%d\"", iso, row->rid,
             row->txn, row->status);

    rc = cp_reconcile_csv_line(&fuzz_again, line, strlen(line), &back,
                               fuzz_why, sizeof(fuzz_why));

    if (rc != 1 || back.ms != row->ms || back.status != row->status
        || strcmp(back.txn, row->txn) != 0 || strcmp(back.rid, row->rid) != 0)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                *line;
    long                 lines;
    size_t               off, n, bad;
    const uint8_t       *nl;
    cp_reconcile_row_t   row;

    cp_reconcile_csv_init(&fuzz_csv);
    rc = 0;
    lines = 0;

    for (off = 0; off < size; off += n) {
        nl = memchr(data + off, '\n', size - off);
        n = nl ? (size_t) (nl - data - off) + 1 : size - off;

        if (n > CP_RECONCILE_LINE_MAX + 1) {
            n = CP_RECONCILE_LINE_MAX + 1;
        }

        /* exactly sized: ASan sees a read past the line */
        lines++;
        line = malloc(n);
        if (line == NULL) {
            abort();
        }

        memcpy(line, data + off, n);

        memset(fuzz_why, 0x55, sizeof(fuzz_why));
        rc = cp_reconcile_csv_line(&fuzz_csv, line, n, &row, fuzz_why,
                                   sizeof(fuzz_why));
        free(line);

        if (rc < 0) {
            break;
        }

        if (rc > 1 || fuzz_csv.line != lines) {
            abort();
        }

        if (rc == 1) {
            if (!fuzz_csv.header
                || (row.txn[0] == '\0' && row.rid[0] == '\0')
                || row.status < 100 || row.status > 599)
            {
                abort();
            }

            fuzz_id(row.txn, 32);
            fuzz_id(row.rid, 64);
            fuzz_in_reader(&fuzz_csv, row.txn);
            fuzz_in_reader(&fuzz_csv, row.rid);

            fuzz_round_trip(&row);
        }
    }

    if (rc >= 0) {
        memset(fuzz_why, 0x55, sizeof(fuzz_why));
        rc = cp_reconcile_csv_end(&fuzz_csv, fuzz_why, sizeof(fuzz_why));

        if (rc != (fuzz_csv.header ? 0 : -1)) {
            abort();
        }
    }

    /* what the operator's terminal gets: shown, never acted on */
    if (rc < 0
        && (memchr(fuzz_why, '\0', sizeof(fuzz_why)) == NULL
            || cp_text_check(fuzz_why, strlen(fuzz_why), 0, &bad)
               != CP_TEXT_OK))
    {
        abort();
    }

    return 0;
}
