
/*
 * LGSP rate limiting without nginx: see lgsp_limit.h for the cells and
 * the clock.
 */


#include <string.h>

#include "lgsp_limit.h"


/*
 * The hot path relies on plain 64-bit CAS; refuse to build where it would
 * silently become a libatomic lock, which would not work across processes.
 */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics must be lock-free");


static uint64_t lgsp_limit_add(uint64_t a, uint64_t b);
static uint64_t lgsp_limit_ns(uint64_t now);
static uint32_t lgsp_limit_ceil_sec(uint64_t ns);
static uint32_t lgsp_limit_clamp32(uint64_t v);
static int lgsp_limit_cas(uint64_t *cell, uint64_t *expected,
    uint64_t desired);
static char *lgsp_limit_u32(char *p, uint32_t v);
static ssize_t lgsp_limit_format(char *buf, size_t size,
    const lgsp_limit_item_t *items, size_t n, int state);


/* the item names, quoted as sf-strings, with their lengths */
static const struct {
    const char  *name;
    size_t       len;
} lgsp_limit_names[] = {
    { "\"grant\"", sizeof("\"grant\"") - 1 },
    { "\"quota\"", sizeof("\"quota\"") - 1 },
    { "\"service\"", sizeof("\"service\"") - 1 }
};


/*
 * Times saturate at UINT64_MAX instead of wrapping: a wrapped TAT would be
 * a time long past, i.e. a fresh burst for the key.
 */

static uint64_t
lgsp_limit_add(uint64_t a, uint64_t b)
{
    return (a > UINT64_MAX - b) ? UINT64_MAX : a + b;
}


static uint64_t
lgsp_limit_ns(uint64_t now)
{
    if (now > UINT64_MAX / 1000) {
        return UINT64_MAX;
    }

    return now * 1000;
}


/* header times round up: a client that waits that long is not refused */

static uint32_t
lgsp_limit_ceil_sec(uint64_t ns)
{
    return lgsp_limit_clamp32(ns / LGSP_LIMIT_NSEC
                              + (ns % LGSP_LIMIT_NSEC != 0));
}


static uint32_t
lgsp_limit_clamp32(uint64_t v)
{
    return (v > UINT32_MAX) ? UINT32_MAX : (uint32_t) v;
}


static int
lgsp_limit_cas(uint64_t *cell, uint64_t *expected, uint64_t desired)
{
    return __atomic_compare_exchange_n(cell, expected, desired, 1,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}


/*
 * The emission interval T in nanoseconds.  The TAT is kept in ns, a
 * thousand times finer than the caller's clock, so a rate that does not
 * divide 10^6 keeps its fraction of a microsecond; what is left is the
 * truncation of 10^9 / rate to whole ns, under 1 ns per request: the key
 * never gets less than its rate, and at most rate^2 / 10^9 requests per
 * second more (none for any rate dividing 10^9: 1, 2, 4, 5, 8, 10, 20, 25,
 * ..., 10^6; one per 1000 s at 1000/s).  Rates above 10^9/s act as 10^9/s.
 */

uint64_t
lgsp_limit_interval(uint32_t rate)
{
    uint64_t  interval;

    if (rate == 0) {
        return 0;
    }

    interval = LGSP_LIMIT_NSEC / rate;

    return interval ? interval : 1;
}


/*
 * GCRA.  rate is requests per second, burst the requests allowed at once
 * beyond the first: from idle, burst + 1 requests pass back to back and
 * then one per T = 1/rate s; burst 0 spaces every request by T.  Precisely,
 * with TAT = max(cell, now), a request passes iff TAT - now <= burst * T,
 * and then the cell becomes TAT + T.  rate 0 is no limit: always allowed,
 * cell untouched, res->quota 0 (no header item).
 *
 * Header values: q = rate + burst with w = 1, the most a key can get in any
 * one-second window (burst + 1 at once, then rate - 1 more); r = how many
 * more requests would pass right now; t = seconds until the key is idle
 * again (r back at its top); Retry-After = seconds until the next request
 * passes.  Both round up, so Retry-After >= 1 on refusal.
 *
 * The wall clock stepping back: after an allowed take, TAT <= now +
 * burst * T + T, and time only grows; a TAT beyond that (plus a slack of
 * LGSP_LIMIT_CLOCK_SLACK for workers whose cached times differ) means the
 * clock went back (or the cell held garbage, or a snapshot raised the rate
 * or lowered the burst).  The cell is then pulled down to now + burst * T
 * + T, "the burst all spent": the request is refused, no fresh burst is
 * granted, and the key passes again after T instead of waiting for the
 * clock to catch up.  A step back
 * within the slack just delays the key by at most the step.  A step
 * forward looks like idle time: at most one burst, as after any pause.
 *
 * At the far end of time (now >= UINT64_MAX ns, year 2554) every request
 * passes: the TAT saturates instead of wrapping.
 */

int
lgsp_limit_take(uint64_t *tat_cell, uint64_t now, uint32_t rate,
    uint32_t burst, lgsp_limit_result_t *res)
{
    uint64_t  interval, tolerance, now_ns, horizon, cur, tat, next, ahead;

    memset(res, 0, sizeof(lgsp_limit_result_t));

    if (rate == 0) {
        res->allowed = 1;
        return 1;
    }

    interval = lgsp_limit_interval(rate);

    /* burst < 2^32 and interval <= 10^9 < 2^30: no overflow */
    tolerance = (uint64_t) burst * interval;

    now_ns = lgsp_limit_ns(now);
    horizon = lgsp_limit_add(now_ns, tolerance + interval);

    res->quota = lgsp_limit_clamp32((uint64_t) rate + burst);
    res->window = 1;
    res->interval = interval;

    cur = __atomic_load_n(tat_cell, __ATOMIC_ACQUIRE);

    for ( ;; ) {
        tat = cur;

        if (tat > lgsp_limit_add(horizon, LGSP_LIMIT_CLOCK_SLACK)) {
            tat = horizon;
        }

        if (tat < now_ns) {
            tat = now_ns;
        }

        ahead = tat - now_ns;

        if (ahead > tolerance) {

            /*
             * refusals write nothing, except a clamped TAT: without it the
             * key would be refused until the clock caught up
             */

            if (tat != cur && !lgsp_limit_cas(tat_cell, &cur, tat)) {
                continue;
            }

            res->allowed = 0;
            res->remaining = 0;
            res->reset = lgsp_limit_ceil_sec(ahead);
            res->retry_after = lgsp_limit_ceil_sec(ahead - tolerance);
            res->tat = tat;

            return 0;
        }

        next = lgsp_limit_add(tat, interval);

        if (lgsp_limit_cas(tat_cell, &cur, next)) {
            break;
        }
    }

    ahead = next - now_ns;

    res->allowed = 1;
    res->remaining = (ahead <= tolerance)
                     ? lgsp_limit_clamp32((tolerance - ahead) / interval + 1)
                     : 0;
    res->reset = lgsp_limit_ceil_sec(ahead);
    res->retry_after = 0;
    res->tat = next;

    return 1;
}


/*
 * Gives back the request a take let through, when a later limit (the
 * version cap, the quota) refuses it, so one caller cannot eat another's
 * share.  Other workers may have taken from the cell in between, so
 * "cell - T" is not always right: if one of them found the key idle in the
 * world without our request, it started from its own now, and removing a
 * whole T would leave the cell below where it would be had our request
 * never happened.
 *
 * With a0 the TAT our take wrote (taken->tat) and now no earlier than the
 * now of any take in between, the cell minus min(T, a0 - now) is never
 * below that world: each take in between either found both worlds busy
 * (the gap stays) or narrowed the gap to at least a0 - now.  With the
 * take's own now (nginx's cached time within one handler) a0 - now >= T:
 * exactly one T comes back.  Later, less comes back, but only the part of
 * T that is already in the past, which no request can use any more.  (If
 * another worker's cached time ran ahead of ours by d, the cell may end up
 * at most d below that world: under one request when d < T.)
 *
 * A refused or unlimited take gives back nothing.
 */

void
lgsp_limit_refund(uint64_t *tat_cell, uint64_t now,
    const lgsp_limit_result_t *taken)
{
    uint64_t  now_ns, give, cur, next;

    if (!taken->allowed || taken->interval == 0) {
        return;
    }

    now_ns = lgsp_limit_ns(now);

    if (taken->tat <= now_ns) {
        return;
    }

    give = taken->tat - now_ns;

    if (give > taken->interval) {
        give = taken->interval;
    }

    cur = __atomic_load_n(tat_cell, __ATOMIC_ACQUIRE);

    do {
        next = (cur > give) ? cur - give : 0;

    } while (!lgsp_limit_cas(tat_cell, &cur, next));
}


/*
 * What a take would say now, without taking: the state of a limit that the
 * request never reached because an earlier one refused it, for the
 * RateLimit header.  Writes nothing.  res->allowed says whether a request
 * would pass; the result carries nothing a refund could give back.
 */

void
lgsp_limit_peek(const uint64_t *tat_cell, uint64_t now, uint32_t rate,
    uint32_t burst, lgsp_limit_result_t *res)
{
    uint64_t  interval, tolerance, now_ns, horizon, tat, ahead;

    memset(res, 0, sizeof(lgsp_limit_result_t));

    if (rate == 0) {
        res->allowed = 1;
        return;
    }

    interval = lgsp_limit_interval(rate);
    tolerance = (uint64_t) burst * interval;
    now_ns = lgsp_limit_ns(now);
    horizon = lgsp_limit_add(now_ns, tolerance + interval);

    res->quota = lgsp_limit_clamp32((uint64_t) rate + burst);
    res->window = 1;

    tat = __atomic_load_n(tat_cell, __ATOMIC_ACQUIRE);

    /* as lgsp_limit_take() sees it: a clock stepped back is "all spent" */
    if (tat > lgsp_limit_add(horizon, LGSP_LIMIT_CLOCK_SLACK)) {
        tat = horizon;
    }

    if (tat < now_ns) {
        tat = now_ns;
    }

    ahead = tat - now_ns;

    res->reset = lgsp_limit_ceil_sec(ahead);

    if (ahead > tolerance) {
        res->retry_after = lgsp_limit_ceil_sec(ahead - tolerance);
        return;
    }

    res->allowed = 1;
    res->remaining = lgsp_limit_clamp32((tolerance - ahead) / interval + 1);
}


/* days since 1970-01-01 in Asia/Ho_Chi_Minh */

uint32_t
lgsp_limit_local_day(uint64_t now)
{
    return (uint32_t) ((now / LGSP_LIMIT_USEC + LGSP_LIMIT_TZ_OFFSET)
                       / LGSP_LIMIT_DAY);
}


/*
 * Daily quota.  The cell packs the city's day number (high 32 bits) and the
 * requests counted that day (low 32 bits); a cell of an earlier day (a zero
 * cell included) counts from 0, so the quota resets at local midnight,
 * 17:00 UTC.  quota 0 is no quota: always allowed, res->quota 0.
 *
 * Header values: q = quota, w = 86400, r = quota left today, t = seconds
 * until the next local midnight, rounded up (>= 1); Retry-After = t.
 *
 * The wall clock stepping back over midnight leaves a cell one day ahead:
 * it is counted in that day, never reset, so no fresh quota comes from a
 * clock step; the key waits at most for the end of that day.  A cell more
 * than a day ahead (a clock that was wrong by days) is moved to today
 * keeping its count: still no fresh quota, and the next real midnight
 * resets it rather than a far future one.
 */

int
lgsp_limit_quota_take(uint64_t *cell, uint64_t now, uint32_t quota,
    lgsp_limit_result_t *res)
{
    uint32_t  today, day, count;
    uint64_t  cur, next, midnight;

    memset(res, 0, sizeof(lgsp_limit_result_t));

    if (quota == 0) {
        res->allowed = 1;
        return 1;
    }

    today = lgsp_limit_local_day(now);

    res->quota = quota;
    res->window = LGSP_LIMIT_DAY;

    cur = __atomic_load_n(cell, __ATOMIC_ACQUIRE);

    for ( ;; ) {
        day = (uint32_t) (cur >> 32);
        count = (uint32_t) cur;

        if (day < today) {
            day = today;
            count = 0;

        } else if (day - today > 1) {
            day = today;
        }

        midnight = (uint64_t) (day + 1) * LGSP_LIMIT_DAY
                   - LGSP_LIMIT_TZ_OFFSET;
        midnight = (midnight > UINT64_MAX / LGSP_LIMIT_USEC)
                   ? UINT64_MAX : midnight * LGSP_LIMIT_USEC;

        res->reset = lgsp_limit_ceil_sec(lgsp_limit_ns(midnight - now));
        res->day = day;

        if (count >= quota) {
            next = ((uint64_t) day << 32) | count;

            /* a moved day must stick, or it would be refused for days */

            if (next != cur && !lgsp_limit_cas(cell, &cur, next)) {
                continue;
            }

            res->allowed = 0;
            res->remaining = 0;
            res->retry_after = res->reset;

            return 0;
        }

        next = ((uint64_t) day << 32) | (count + 1);

        if (lgsp_limit_cas(cell, &cur, next)) {
            break;
        }
    }

    res->allowed = 1;
    res->remaining = quota - count - 1;
    res->retry_after = 0;

    return 1;
}


/*
 * Gives back a request the quota counted when a later limit refuses it;
 * nothing once the day it was counted in is over (that count is gone).
 */

void
lgsp_limit_quota_refund(uint64_t *cell, const lgsp_limit_result_t *taken)
{
    uint64_t  cur;

    if (!taken->allowed || taken->quota == 0) {
        return;
    }

    cur = __atomic_load_n(cell, __ATOMIC_ACQUIRE);

    do {
        if ((uint32_t) (cur >> 32) != taken->day || (uint32_t) cur == 0) {
            return;
        }

    } while (!lgsp_limit_cas(cell, &cur, cur - 1));
}


/* as lgsp_limit_peek(), for the quota: the day's count, untouched */

void
lgsp_limit_quota_peek(const uint64_t *cell, uint64_t now, uint32_t quota,
    lgsp_limit_result_t *res)
{
    uint32_t  today, day, count;
    uint64_t  cur, midnight;

    memset(res, 0, sizeof(lgsp_limit_result_t));

    if (quota == 0) {
        res->allowed = 1;
        return;
    }

    today = lgsp_limit_local_day(now);

    res->quota = quota;
    res->window = LGSP_LIMIT_DAY;

    cur = __atomic_load_n(cell, __ATOMIC_ACQUIRE);
    day = (uint32_t) (cur >> 32);
    count = (uint32_t) cur;

    if (day < today) {
        day = today;
        count = 0;

    } else if (day - today > 1) {
        day = today;
    }

    midnight = (uint64_t) (day + 1) * LGSP_LIMIT_DAY - LGSP_LIMIT_TZ_OFFSET;
    midnight = (midnight > UINT64_MAX / LGSP_LIMIT_USEC)
               ? UINT64_MAX : midnight * LGSP_LIMIT_USEC;

    res->reset = lgsp_limit_ceil_sec(lgsp_limit_ns(midnight - now));

    if (count >= quota) {
        res->retry_after = res->reset;
        return;
    }

    res->allowed = 1;
    res->remaining = quota - count;
}


/*
 * RateLimit-Policy and RateLimit values (draft-ietf-httpapi-ratelimit-
 * headers-08): a list of the policies that apply, e.g.
 *
 *     "grant";q=20;w=1, "quota";q=1000;w=86400
 *     "grant";r=3;t=1, "quota";r=998;t=3600
 *
 * Items whose result is NULL or unlimited (quota 0) are left out; when none
 * is left the value is empty and the header must not be sent.  The value is
 * NUL-terminated; the length without the NUL is returned, or -1 when it
 * does not fit (buf is then an empty string) or the items are malformed
 * (more than three, an unknown kind, a kind twice).
 */

ssize_t
lgsp_limit_format_policy(char *buf, size_t size,
    const lgsp_limit_item_t *items, size_t n)
{
    return lgsp_limit_format(buf, size, items, n, 0);
}


ssize_t
lgsp_limit_format_state(char *buf, size_t size,
    const lgsp_limit_item_t *items, size_t n)
{
    return lgsp_limit_format(buf, size, items, n, 1);
}


/*
 * Decimal digits of v at p, no NUL; returns the end.  Hand-written: the
 * headers are formatted on every request, and snprintf's format parsing
 * and locale handling cost thousands of instructions for a few digits.
 */

static char *
lgsp_limit_u32(char *p, uint32_t v)
{
    char   tmp[10], *t;

    t = tmp + sizeof(tmp);

    do {
        *--t = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    memcpy(p, t, tmp + sizeof(tmp) - t);

    return p + (tmp + sizeof(tmp) - t);
}


/* the longest item: ", " "service" ";q=" 10 digits ";w=" 10 digits */
#define LGSP_LIMIT_ITEM_LEN  (2 + 9 + 3 + 10 + 3 + 10)


static ssize_t
lgsp_limit_format(char *buf, size_t size, const lgsp_limit_item_t *items,
    size_t n, int state)
{
    char                        item[LGSP_LIMIT_ITEM_LEN], *p;
    size_t                      i, len, w;
    unsigned                    seen;
    const lgsp_limit_result_t  *res;

    if (size == 0) {
        return -1;
    }

    buf[0] = '\0';

    if (n > LGSP_LIMIT_ITEMS_MAX) {
        return -1;
    }

    len = 0;
    seen = 0;

    for (i = 0; i < n; i++) {

        if ((unsigned) items[i].kind > LGSP_LIMIT_SERVICE
            || (seen & (1u << items[i].kind)))
        {
            buf[0] = '\0';
            return -1;
        }

        seen |= 1u << items[i].kind;

        res = items[i].result;

        if (res == NULL || res->quota == 0) {
            continue;
        }

        /* built aside, then copied only if it fits with the NUL */

        p = item;

        if (len) {
            *p++ = ',';
            *p++ = ' ';
        }

        memcpy(p, lgsp_limit_names[items[i].kind].name,
               lgsp_limit_names[items[i].kind].len);
        p += lgsp_limit_names[items[i].kind].len;

        *p++ = ';';
        *p++ = state ? 'r' : 'q';
        *p++ = '=';
        p = lgsp_limit_u32(p, state ? res->remaining : res->quota);

        *p++ = ';';
        *p++ = state ? 't' : 'w';
        *p++ = '=';
        p = lgsp_limit_u32(p, state ? res->reset : res->window);

        w = p - item;

        if (w >= size - len) {
            buf[0] = '\0';
            return -1;
        }

        memcpy(buf + len, item, w);
        len += w;
        buf[len] = '\0';
    }

    return (ssize_t) len;
}
