#ifndef CP_WORKDAYS_H
#define CP_WORKDAYS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Working days (Art. 10.2: a request is answered within 5 working days):
 * Monday to Friday in the city's calendar, minus the public holidays of an
 * editable list, plus the weekend days the list declares worked (make-up
 * days).  Pure arithmetic over city days (days since 1970-01-01, UTC+7);
 * the list is parsed from text so the rule is unit-tested without files.
 *
 * List format, one entry a line ('#' starts a comment):
 *   YYYY-MM-DD              name      a holiday
 *   YYYY-MM-DD..YYYY-MM-DD  name      every day of a span (Tết)
 *   +YYYY-MM-DD             name      a weekend day that is worked
 */

#define CP_REQUEST_WORKDAYS  5
#define CP_HOLIDAYS_MAX      4096

typedef struct {
    int64_t  *off;            /* sorted city days that are not worked */
    size_t    noff;
    int64_t  *on;             /* sorted weekend days that are worked */
    size_t    non;
} cp_holidays_t;

/* Parse a list; 0, or -1 with "line N: why" (h is left empty). */
int cp_holidays_parse(const char *text, cp_holidays_t *h, char *why,
                      size_t size);

/* Read and parse a file; -1 with why ("path: line N: ..."). */
int cp_holidays_load(const char *path, cp_holidays_t *h, char *why,
                     size_t size);

void cp_holidays_free(cp_holidays_t *h);

/* Is this city day (days since the epoch) a working day? */
int cp_workday(const cp_holidays_t *h, int64_t day);

/* The city day of a Unix time. */
int64_t cp_city_day(int64_t t);

/* Working days strictly after the city day of `from` up to and including
 * the city day of `to` (0 when to is not after from). */
int cp_workdays_between(const cp_holidays_t *h, int64_t from, int64_t to);

/* When a request filed at filed_at becomes overdue (Unix seconds): the
 * start of the city day after its 5th working day, counted from the day
 * after filing (the filing day itself does not count). */
int64_t cp_request_due(const cp_holidays_t *h, int64_t filed_at);

int cp_request_overdue(const cp_holidays_t *h, int64_t filed_at,
                       int64_t now);

#endif /* CP_WORKDAYS_H */
