#ifndef CP_THROTTLE_H
#define CP_THROTTLE_H

#include <stdint.h>

/*
 * Failed-attempt throttle of the token endpoint: at most `limit` failures
 * per key (a client id, an address) in a fixed window of `window`
 * seconds; past that, the key is refused until its window ends.  A
 * bounded table (no allocation, no growth under a flood of made-up ids):
 * when the probed slots are all busy the oldest window is evicted.  Not
 * thread safe: the caller holds a lock.  Time is passed in, so tests use
 * a fake clock.
 */

#define CP_THROTTLE_SLOTS  1024
#define CP_THROTTLE_PROBE  8
#define CP_THROTTLE_KEY    136

typedef struct {
    char      key[CP_THROTTLE_KEY];
    int64_t   window_start;
    uint32_t  failures;
} cp_throttle_slot_t;

typedef struct {
    uint32_t            limit;
    int                 window;
    uint64_t            seed;      /* keyed hash: no chosen collisions */
    cp_throttle_slot_t  slot[CP_THROTTLE_SLOTS];
} cp_throttle_t;

void cp_throttle_init(cp_throttle_t *t, uint32_t limit, int window,
                      uint64_t seed);

/* 0 when key may try now; else the seconds until it may (Retry-After). */
int cp_throttle_check(cp_throttle_t *t, const char *key, int64_t now);

/* Count one failure of key at now. */
void cp_throttle_fail(cp_throttle_t *t, const char *key, int64_t now);

#endif /* CP_THROTTLE_H */
