/* The partner's CSV file of lgspctl reconcile, line by line. */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cp_reconcile.h"
#include "cp_text.h"
#include "cp_time.h"
#include "lgsp_audit.h"

static const char *const col_names[CP_RECONCILE_NCOLS] = {
    "transaction_id", "request_id", "time", "status"
};

/* why = fmt with the partner's text arg escaped for the terminal */
static int
bad(char *why, size_t size, const char *fmt, const char *arg)
{
    char shown[4 * CP_RECONCILE_LINE_MAX + 4];

    cp_term_escape(shown, sizeof(shown), arg, strlen(arg));
    snprintf(why, size, fmt, shown);
    return -1;
}

/*
 * One line into fields: RFC 4180 quoting ("..." with "" for a quote), no
 * line breaks inside fields.  The count, or -1 on a broken quote or more
 * than max fields.
 */
static int
split_csv(char *line, char **f, int max)
{
    int   n = 0;
    char *p = line, *w;

    for (;;) {
        if (n == max) {
            return -1;
        }
        if (*p == '"') {
            f[n++] = w = ++p;
            for (;;) {
                if (*p == '\0') {
                    return -1;
                }
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (*p != ',' && *p != '\0') {
                return -1;
            }
            *w = '\0';
        } else {
            f[n++] = p;
            p += strcspn(p, ",");
        }
        if (*p == '\0') {
            break;
        }
        *p++ = '\0';
    }
    /* surrounding blanks are not part of a value */
    for (int i = 0; i < n; i++) {
        char *e;

        while (*f[i] == ' ' || *f[i] == '\t') {
            f[i]++;
        }
        e = f[i] + strlen(f[i]);
        while (e > f[i] && (e[-1] == ' ' || e[-1] == '\t')) {
            *--e = '\0';
        }
    }
    return n;
}

/* [A-Za-z0-9._:-]{1,max}, as the gateway takes X-LGSP-Request-Id */
static int
valid_id(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max) {
        return 0;
    }
    for (; *s; s++) {
        char c = *s;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':'
              || c == '-'))
        {
            return 0;
        }
    }
    return 1;
}

/* three digits, 100..599: no sign, no blanks strtol would skip */
static int
http_status(const char *s, int *status)
{
    if (strlen(s) != 3 || s[0] < '1' || s[0] > '5' || s[1] < '0'
        || s[1] > '9' || s[2] < '0' || s[2] > '9')
    {
        return -1;
    }
    *status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    return 0;
}

void
cp_reconcile_csv_init(cp_reconcile_csv_t *c)
{
    memset(c, 0, sizeof(*c));
    for (int k = 0; k < CP_RECONCILE_NCOLS; k++) {
        c->col[k] = -1;
    }
}

static int
header(cp_reconcile_csv_t *c, char **f, int n, char *why, size_t size)
{
    int k;

    /* the header names the columns, in any order */
    for (int i = 0; i < n; i++) {
        for (k = 0; k < CP_RECONCILE_NCOLS; k++) {
            if (strcasecmp(f[i], col_names[k]) == 0) {
                if (c->col[k] >= 0) {
                    return bad(why, size, "column \"%s\" twice",
                               col_names[k]);
                }
                c->col[k] = i;
                break;
            }
        }
        if (k == CP_RECONCILE_NCOLS) {
            return bad(why, size, "unknown column \"%s\"", f[i]);
        }
    }
    if (c->col[CP_RECONCILE_TIME] < 0 || c->col[CP_RECONCILE_STATUS] < 0
        || (c->col[CP_RECONCILE_TXN] < 0 && c->col[CP_RECONCILE_RID] < 0))
    {
        return bad(why, size, "the header needs time, status and"
                   " transaction_id or request_id%s", "");
    }
    c->header = 1;
    return 0;
}

int
cp_reconcile_csv_line(cp_reconcile_csv_t *c, const char *line, size_t len,
                      cp_reconcile_row_t *row, char *why, size_t size)
{
    char       *f[CP_RECONCILE_FIELDS], *s = c->buf;
    const char *time;
    int         n, want = 0;

    c->line++;
    if (len > CP_RECONCILE_LINE_MAX) {
        return bad(why, size, "line too long%s", "");
    }
    /* a NUL would end the line early for every string function below */
    if (memchr(line, '\0', len) != NULL) {
        return bad(why, size, "a NUL byte in the line%s", "");
    }
    memcpy(s, line, len);
    if (len > 0 && s[len - 1] == '\n') {
        len--;
    }
    if (len > 0 && s[len - 1] == '\r') {
        len--;
    }
    s[len] = '\0';
    if (c->line == 1 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
        s += 3;                                             /* a BOM */
    }
    if (s[0] == '\0') {
        return 0;
    }
    n = split_csv(s, f, CP_RECONCILE_FIELDS);
    if (n < 0) {
        return bad(why, size, "broken quoting or too many columns%s", "");
    }
    if (!c->header) {
        return header(c, f, n, why, size) == 0 ? 0 : -1;
    }

    for (int k = 0; k < CP_RECONCILE_NCOLS; k++) {
        if (c->col[k] >= want) {
            want = c->col[k] + 1;
        }
    }
    if (n != want) {
        char num[32];

        snprintf(num, sizeof(num), "%d", want);
        return bad(why, size, "%s columns expected, as in the header", num);
    }
    row->txn = c->col[CP_RECONCILE_TXN] >= 0 ? f[c->col[CP_RECONCILE_TXN]]
                                             : "";
    row->rid = c->col[CP_RECONCILE_RID] >= 0 ? f[c->col[CP_RECONCILE_RID]]
                                             : "";
    if (row->txn[0] == '\0' && row->rid[0] == '\0') {
        return bad(why, size, "neither a transaction_id nor a"
                   " request_id%s", "");
    }
    if ((row->txn[0] && !valid_id(row->txn, LGSP_AUDIT_TXN_ID))
        || (row->rid[0] && !valid_id(row->rid, LGSP_AUDIT_REQUEST_ID)))
    {
        return bad(why, size, "\"%s\" is not a transaction or request id",
                   row->txn[0] ? row->txn : row->rid);
    }
    time = f[c->col[CP_RECONCILE_TIME]];
    if (cp_time_parse_ms(time, &row->ms) != 0) {
        return bad(why, size, "time \"%s\" is not ISO 8601", time);
    }
    if (http_status(f[c->col[CP_RECONCILE_STATUS]], &row->status) != 0) {
        return bad(why, size, "status \"%s\" is not an HTTP status",
                   f[c->col[CP_RECONCILE_STATUS]]);
    }
    return 1;
}

int
cp_reconcile_csv_end(const cp_reconcile_csv_t *c, char *why, size_t size)
{
    if (!c->header) {
        return bad(why, size, "no header line%s", "");
    }
    return 0;
}
