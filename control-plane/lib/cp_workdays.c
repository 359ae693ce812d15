/* Working days and the 5-working-day rule of Art. 10.2. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_time.h"
#include "cp_util.h"
#include "cp_workdays.h"

int64_t
cp_city_day(int64_t t)
{
    int64_t s = t + CP_CITY_OFFSET;

    /* floor, also before the epoch */
    return s >= 0 ? s / CP_DAY : -((-s + CP_DAY - 1) / CP_DAY);
}

static int
cmp_day(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}

static int
has_day(const int64_t *days, size_t n, int64_t day)
{
    return n > 0 && bsearch(&day, days, n, sizeof(day), cmp_day) != NULL;
}

static int
push_day(int64_t **days, size_t *n, int64_t day)
{
    int64_t *p;

    if (*n >= CP_HOLIDAYS_MAX) {
        return -1;
    }
    p = realloc(*days, (*n + 1) * sizeof(day));
    if (p == NULL) {
        return -1;
    }
    p[(*n)++] = day;
    *days = p;
    return 0;
}

/* YYYY-MM-DD at s, exactly 10 characters, a real date: its city day */
static int
day_at(const char *s, int64_t *day)
{
    char    buf[11];
    int64_t t;

    memcpy(buf, s, 10);
    buf[10] = '\0';
    if (cp_date_parse(buf, &t) != 0) {
        return -1;
    }
    *day = cp_city_day(t);
    return 0;
}

void
cp_holidays_free(cp_holidays_t *h)
{
    free(h->off);
    free(h->on);
    memset(h, 0, sizeof(*h));
}

int
cp_holidays_parse(const char *text, cp_holidays_t *h, char *why, size_t size)
{
    const char *p = text;
    int         line = 0;

    memset(h, 0, sizeof(*h));
    while (*p) {
        size_t      n = strcspn(p, "\n");
        const char *s = p, *e = p + n;
        int64_t     a, b;
        int         worked = 0;

        line++;
        p = *e ? e + 1 : e;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r')) {
            s++;
        }
        if (s == e || *s == '#') {
            continue;
        }
        if (*s == '+') {
            worked = 1;
            s++;
        }
        if (e - s < 10 || day_at(s, &a) != 0) {
            snprintf(why, size, "line %d: expected YYYY-MM-DD (a real date)",
                     line);
            goto fail;
        }
        s += 10;
        b = a;
        if (e - s >= 2 && s[0] == '.' && s[1] == '.') {
            if (worked || e - s < 12 || day_at(s + 2, &b) != 0 || b < a) {
                snprintf(why, size, "line %d: expected a span"
                         " YYYY-MM-DD..YYYY-MM-DD, first day first", line);
                goto fail;
            }
            if (b - a > 31) {
                snprintf(why, size, "line %d: a span longer than a month",
                         line);
                goto fail;
            }
            s += 12;
        }
        if (s < e && *s != ' ' && *s != '\t' && *s != '\r') {
            snprintf(why, size, "line %d: a date must be followed by a space"
                     " and its name", line);
            goto fail;
        }
        for (int64_t d = a; d <= b; d++) {
            if (worked && cp_workday(NULL, d)) {
                snprintf(why, size, "line %d: +DATE marks a worked weekend"
                         " day; this date is a weekday", line);
                goto fail;
            }
            if (worked ? push_day(&h->on, &h->non, d)
                       : push_day(&h->off, &h->noff, d))
            {
                snprintf(why, size, "line %d: too many days (at most %d)",
                         line, CP_HOLIDAYS_MAX);
                goto fail;
            }
        }
    }
    if (h->noff) {
        qsort(h->off, h->noff, sizeof(int64_t), cmp_day);
    }
    if (h->non) {
        qsort(h->on, h->non, sizeof(int64_t), cmp_day);
    }
    return 0;
fail:
    cp_holidays_free(h);
    return -1;
}

int
cp_holidays_load(const char *path, cp_holidays_t *h, char *why, size_t size)
{
    char  inner[160];
    char *text;
    int   rc;

    text = cp_read_file(path, 1 << 20, NULL);
    if (text == NULL) {
        snprintf(why, size, "%s: %s", path, strerror(errno));
        memset(h, 0, sizeof(*h));
        return -1;
    }
    rc = cp_holidays_parse(text, h, inner, sizeof(inner));
    free(text);
    if (rc != 0) {
        snprintf(why, size, "%s: %s", path, inner);
    }
    return rc;
}

int
cp_workday(const cp_holidays_t *h, int64_t day)
{
    /* 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Monday */
    int64_t wd = ((day + 3) % 7 + 7) % 7;

    if (h == NULL) {
        return wd < 5;
    }
    if (wd >= 5) {
        return has_day(h->on, h->non, day);
    }
    return !has_day(h->off, h->noff, day);
}

int
cp_workdays_between(const cp_holidays_t *h, int64_t from, int64_t to)
{
    int64_t a = cp_city_day(from), b = cp_city_day(to);
    int     n = 0;

    for (int64_t d = a + 1; d <= b; d++) {
        n += cp_workday(h, d);
    }
    return n;
}

int64_t
cp_request_due(const cp_holidays_t *h, int64_t filed_at)
{
    int64_t d = cp_city_day(filed_at);
    int     n = 0;

    /* the list holds at most CP_HOLIDAYS_MAX days off, so this ends */
    while (n < CP_REQUEST_WORKDAYS) {
        d++;
        n += cp_workday(h, d);
    }
    return (d + 1) * CP_DAY - CP_CITY_OFFSET;
}

int
cp_request_overdue(const cp_holidays_t *h, int64_t filed_at, int64_t now)
{
    return now >= cp_request_due(h, filed_at);
}
