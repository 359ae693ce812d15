#ifndef CP_TIME_H
#define CP_TIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Times as operators type them (SPEC §12): ISO 8601; without an offset a
 * time is the city's local time, UTC+7 (Asia/Ho_Chi_Minh has no DST).
 * Stored as Unix seconds, UTC.  Pure arithmetic, no TZ environment.
 */

#define CP_CITY_OFFSET  (7 * 3600)
#define CP_DAY          86400

/* YYYY-MM-DD only: the start of that city day, in Unix seconds.  0 or -1
 * (not a real date). */
int cp_date_parse(const char *s, int64_t *out);

/* YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS[.fff]] with an optional Z or
 * +HH[[:]MM] / -HH[[:]MM] ('T' may be a space): the one parser of times
 * operators type (audit, health, log, notice, report, reconcile).  Unix
 * ms into *ms; 0 or -1. */
int cp_time_parse_ms(const char *s, int64_t *ms);

/* cp_time_parse_ms() in whole Unix seconds. */
int cp_time_parse(const char *s, int64_t *out);

/* The city date of a Unix time: "YYYY-MM-DD" into out (>= 11 bytes). */
void cp_date_format(int64_t t, char *out, size_t size);

/* UTC ISO 8601 "YYYY-MM-DDTHH:MM:SSZ" (>= 21 bytes). */
void cp_time_format_utc(int64_t t, char *out, size_t size);

/* Days since 1970-01-01 of a civil date, and back. */
int64_t cp_days_from_civil(int y, int m, int d);
void cp_civil_from_days(int64_t z, int *y, int *m, int *d);

#endif /* CP_TIME_H */
