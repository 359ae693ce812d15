#ifndef CP_LIFECYCLE_H
#define CP_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The lifecycle rules of service versions (SPEC §7, Appendix 01 §3.4-3.5),
 * as pure functions over states and Unix times so their boundaries are
 * unit-tested.  A date an operator gives (sunset, end) is the start of that
 * city day (UTC+7): the version or service stops being callable then.
 */

#define CP_LC_SUNSET_DAYS  180   /* after the successor's publication */
#define CP_LC_END_DAYS     60    /* notice before a service ends */

/* draft -> sandbox (env sandbox); draft|sandbox -> published (production).
 * 0 with *next set, or -1 with why. */
int cp_lc_publish(const char *state, int production, const char **next,
                  char *why, size_t size);

/* Is a sunset at sunset_at at least 180 days after the successor was
 * published (at published_at)? */
int cp_lc_sunset_ok(int64_t published_at, int64_t sunset_at);

/* Is an end at end_at at least 60 days after now? */
int cp_lc_end_ok(int64_t now, int64_t end_at);

/* The first city-day start at or after t: the earliest date an operator
 * may give when t is the first allowed instant. */
int64_t cp_lc_day_at_or_after(int64_t t);

/* Earliest allowed sunset / end (a city-day start). */
int64_t cp_lc_earliest_sunset(int64_t published_at);
int64_t cp_lc_earliest_end(int64_t now);

/* Does retiring a version in this state need --force?  sunset_at 0: none.
 * A draft has no callers; a deprecated version past its sunset is due. */
int cp_lc_retire_needs_force(const char *state, int64_t sunset_at,
                             int64_t now);

/* May a grant be given for a version in this state and environment? */
int cp_lc_callable(const char *state, int production);

#endif /* CP_LIFECYCLE_H */
