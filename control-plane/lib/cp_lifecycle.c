/* Version lifecycle rules: states and the 180-day / 60-day notice rules. */

#include <stdio.h>
#include <string.h>

#include "cp_lifecycle.h"
#include "cp_time.h"

int
cp_lc_publish(const char *state, int production, const char **next,
              char *why, size_t size)
{
    if (production) {
        /* production may skip sandbox */
        if (strcmp(state, "draft") == 0 || strcmp(state, "sandbox") == 0) {
            *next = "published";
            return 0;
        }
    } else if (strcmp(state, "draft") == 0) {
        *next = "sandbox";
        return 0;
    }
    snprintf(why, size, "the version is %s; publishing to %s needs %s",
             state, production ? "production" : "sandbox",
             production ? "draft or sandbox" : "draft");
    return -1;
}

int
cp_lc_sunset_ok(int64_t published_at, int64_t sunset_at)
{
    return sunset_at - published_at >= (int64_t) CP_LC_SUNSET_DAYS * CP_DAY;
}

int
cp_lc_end_ok(int64_t now, int64_t end_at)
{
    return end_at - now >= (int64_t) CP_LC_END_DAYS * CP_DAY;
}

int64_t
cp_lc_day_at_or_after(int64_t t)
{
    int64_t local = t + CP_CITY_OFFSET;
    int64_t day = local >= 0 ? (local + CP_DAY - 1) / CP_DAY
                             : local / CP_DAY;

    return day * CP_DAY - CP_CITY_OFFSET;
}

int64_t
cp_lc_earliest_sunset(int64_t published_at)
{
    return cp_lc_day_at_or_after(published_at
                                 + (int64_t) CP_LC_SUNSET_DAYS * CP_DAY);
}

int64_t
cp_lc_earliest_end(int64_t now)
{
    return cp_lc_day_at_or_after(now + (int64_t) CP_LC_END_DAYS * CP_DAY);
}

int
cp_lc_retire_needs_force(const char *state, int64_t sunset_at, int64_t now)
{
    if (strcmp(state, "draft") == 0) {
        return 0;
    }
    if (strcmp(state, "deprecated") == 0 && sunset_at != 0
        && now >= sunset_at)
    {
        return 0;
    }
    return 1;
}

int
cp_lc_callable(const char *state, int production)
{
    if (strcmp(state, "published") == 0 || strcmp(state, "deprecated") == 0) {
        return 1;
    }
    return !production && strcmp(state, "sandbox") == 0;
}
