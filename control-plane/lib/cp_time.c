/* ISO 8601 dates and times in the city's zone (UTC+7), without libc TZ. */

#include <stdio.h>
#include <string.h>

#include "cp_time.h"

/* Howard Hinnant's days_from_civil: exact for the proleptic Gregorian
 * calendar, no table, no timegm()/TZ dependence. */
int64_t
cp_days_from_civil(int y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
cp_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) (yoe + era * 400 + (*m <= 2));
}

static int
digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int
days_in_month(int y, int m)
{
    static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

/* YYYY-MM-DD at s; days since the epoch */
static int
date_at(const char *s, int64_t *days)
{
    int y, m, d;

    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m)
        || s[7] != '-' || digits(s + 8, 2, &d))
    {
        return -1;
    }
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1
        || d > days_in_month(y, m))
    {
        return -1;
    }
    *days = cp_days_from_civil(y, m, d);
    return 0;
}

int
cp_date_parse(const char *s, int64_t *out)
{
    int64_t days;

    if (s == NULL || strlen(s) != 10 || date_at(s, &days) != 0) {
        return -1;
    }
    *out = days * CP_DAY - CP_CITY_OFFSET;
    return 0;
}

int
cp_time_parse_ms(const char *s, int64_t *ms)
{
    int64_t     days, sec;
    int         hh, mm, ss = 0, frac = 0, fd = 0, oh, om = 0;
    int         off = CP_CITY_OFFSET;
    const char *p;

    if (s == NULL) {
        return -1;
    }
    if (strlen(s) == 10) {
        if (cp_date_parse(s, &sec) != 0) {
            return -1;
        }
        *ms = sec * 1000;
        return 0;
    }
    if (strlen(s) < 16 || date_at(s, &days) != 0
        || (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &hh)
        || s[13] != ':' || digits(s + 14, 2, &mm) || hh > 23 || mm > 59)
    {
        return -1;
    }
    p = s + 16;
    if (*p == ':') {
        if (digits(p + 1, 2, &ss) || ss > 59) {
            return -1;
        }
        p += 3;
        /* audit records carry milliseconds; finer digits are dropped */
        if (*p == '.') {
            for (p++; *p >= '0' && *p <= '9'; p++) {
                if (fd < 3) {
                    frac = frac * 10 + (*p - '0');
                    fd++;
                }
            }
            if (fd == 0) {
                return -1;
            }
            for (; fd < 3; fd++) {
                frac *= 10;
            }
        }
    }
    if (*p == 'Z') {
        off = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        /* +HH, +HHMM or +HH:MM */
        if (digits(p + 1, 2, &oh)) {
            return -1;
        }
        off = *p == '-' ? -1 : 1;
        p += 3;
        if (*p == ':') {
            p++;
        }
        if (*p >= '0' && *p <= '9') {
            if (digits(p, 2, &om)) {
                return -1;
            }
            p += 2;
        }
        if (oh > 14 || om > 59) {
            return -1;
        }
        off *= oh * 3600 + om * 60;
    }
    if (*p != '\0') {
        return -1;
    }
    sec = days * CP_DAY + hh * 3600 + mm * 60 + ss - off;
    *ms = sec * 1000 + frac;
    return 0;
}

int
cp_time_parse(const char *s, int64_t *out)
{
    int64_t ms;

    if (cp_time_parse_ms(s, &ms) != 0) {
        return -1;
    }
    *out = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    return 0;
}

void
cp_date_format(int64_t t, char *out, size_t size)
{
    int     y, m, d;
    int64_t local = t + CP_CITY_OFFSET;
    int64_t days = local >= 0 ? local / CP_DAY : (local - CP_DAY + 1) / CP_DAY;

    cp_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04d-%02d-%02d", y, m, d);
}

void
cp_time_format_utc(int64_t t, char *out, size_t size)
{
    int     y, m, d;
    int64_t days = t >= 0 ? t / CP_DAY : (t - CP_DAY + 1) / CP_DAY;
    int64_t sec = t - days * CP_DAY;

    cp_civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
             (int) (sec / 3600), (int) (sec / 60 % 60), (int) (sec % 60));
}
