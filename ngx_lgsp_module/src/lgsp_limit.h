
/*
 * LGSP rate limiting without nginx: GCRA for the grant's rate and the
 * version's cap, a daily quota counted in the city's day, and the values
 * of the RateLimit-Policy and RateLimit headers.
 *
 * Every piece of state is one uint64_t cell in shared memory, at a slot
 * the registry assigns; it is read and written with compare-and-swap only,
 * so workers never take a lock and a worker killed mid-request leaves no
 * lock behind.  Cells must be 8-byte aligned and start zeroed: a zero cell
 * is an idle key.
 *
 * Time: every "now" is microseconds since the Unix epoch on CLOCK_REALTIME
 * (in nginx: ngx_timeofday()->sec * 1000000 + ->msec * 1000).  Wall-clock
 * time rather than CLOCK_MONOTONIC because the cells outlive the workers
 * (the zone is reused across "nginx -s reload"), the quota needs the
 * city's calendar day anyway, and nginx already caches this clock; steps
 * of the wall clock are handled (see lgsp_limit_take()).
 */


#ifndef _LGSP_LIMIT_H_INCLUDED_
#define _LGSP_LIMIT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define LGSP_LIMIT_USEC            1000000ULL
#define LGSP_LIMIT_NSEC            1000000000ULL

/* Asia/Ho_Chi_Minh: UTC+7 all year, no DST */
#define LGSP_LIMIT_TZ_OFFSET       (7 * 3600)
#define LGSP_LIMIT_DAY             86400

/*
 * How far a TAT may lie beyond the latest value a take could have written
 * before it is taken for a wall clock stepped back; larger than any skew
 * between the cached times of two workers.
 */
#define LGSP_LIMIT_CLOCK_SLACK     LGSP_LIMIT_NSEC

/* items in the headers: "grant", "quota", "service" */
#define LGSP_LIMIT_ITEMS_MAX       3

/* enough for either header with all three items at their largest values */
#define LGSP_LIMIT_HEADER_LEN      128


typedef enum {
    LGSP_LIMIT_GRANT = 0,
    LGSP_LIMIT_QUOTA,
    LGSP_LIMIT_SERVICE
} lgsp_limit_kind_e;


typedef struct {
    int                         allowed;

    /* RateLimit-Policy: q and w; quota 0 means no limit, no header item */
    uint32_t                    quota;
    uint32_t                    window;

    /* RateLimit: r and t */
    uint32_t                    remaining;
    uint32_t                    reset;

    /* Retry-After in seconds when refused, >= 1; 0 when allowed */
    uint32_t                    retry_after;

    /* what the refund functions need to give back exactly this take */
    uint64_t                    tat;         /* GCRA: TAT written, ns */
    uint64_t                    interval;    /* GCRA: emission interval, ns */
    uint32_t                    day;         /* quota: city day counted in */
} lgsp_limit_result_t;


typedef struct {
    lgsp_limit_kind_e           kind;
    const lgsp_limit_result_t  *result;
} lgsp_limit_item_t;


uint64_t lgsp_limit_interval(uint32_t rate);
int lgsp_limit_take(uint64_t *tat_cell, uint64_t now, uint32_t rate,
    uint32_t burst, lgsp_limit_result_t *res);
void lgsp_limit_refund(uint64_t *tat_cell, uint64_t now,
    const lgsp_limit_result_t *taken);
void lgsp_limit_peek(const uint64_t *tat_cell, uint64_t now, uint32_t rate,
    uint32_t burst, lgsp_limit_result_t *res);

uint32_t lgsp_limit_local_day(uint64_t now);
int lgsp_limit_quota_take(uint64_t *cell, uint64_t now, uint32_t quota,
    lgsp_limit_result_t *res);
void lgsp_limit_quota_refund(uint64_t *cell,
    const lgsp_limit_result_t *taken);
void lgsp_limit_quota_peek(const uint64_t *cell, uint64_t now,
    uint32_t quota, lgsp_limit_result_t *res);

ssize_t lgsp_limit_format_policy(char *buf, size_t size,
    const lgsp_limit_item_t *items, size_t n);
ssize_t lgsp_limit_format_state(char *buf, size_t size,
    const lgsp_limit_item_t *items, size_t n);


#endif /* _LGSP_LIMIT_H_INCLUDED_ */
