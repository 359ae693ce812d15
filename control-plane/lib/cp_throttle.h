#ifndef CP_THROTTLE_H
#define CP_THROTTLE_H

#include <stdint.h>

#include "cp_addr.h"

/*
 * Failed-attempt counters of the token endpoint, in fixed windows of
 * `window` seconds per key.  A bounded table (no allocation, no growth
 * under a flood of made-up ids): when the probed slots are all busy, the
 * key with the fewest failures gives way (the oldest among equals), so a
 * flood of one-off keys cannot wipe the count of a key being guessed
 * hard.  Not thread safe: the caller holds a lock.  Time is passed in, so
 * tests use a fake clock.
 */

#define CP_THROTTLE_SLOTS  1024
#define CP_THROTTLE_PROBE  8
/* an address key, a space, a client id (CP_AUTH_ID_MAX), the NUL */
#define CP_THROTTLE_KEY    (CP_ADDR_KEY_MAX + 1 + 128 + 1)

typedef struct {
    char      key[CP_THROTTLE_KEY];
    int64_t   window_start;
    uint32_t  failures;
} cp_throttle_slot_t;

typedef struct {
    int                 window;
    uint64_t            seed;      /* keyed hash: no chosen collisions */
    cp_throttle_slot_t  slot[CP_THROTTLE_SLOTS];
} cp_throttle_t;

void cp_throttle_init(cp_throttle_t *t, int window, uint64_t seed);

/* The failures of key in its current window (0 when none); *retry, when
 * there are some, gets the seconds until that window ends (at least 1). */
uint32_t cp_throttle_count(const cp_throttle_t *t, const char *key,
                           int64_t now, int *retry);

/* Count one failure of key at now; the new count. */
uint32_t cp_throttle_fail(cp_throttle_t *t, const char *key, int64_t now);

/*
 * The token endpoint's rule (docs/integration-guide.md, "Tokens"), in
 * windows of CP_AUTH_WINDOW seconds.  An address is an IPv4 address or an
 * IPv6 /64 (cp_addr_client_key).
 * - An address with CP_AUTH_PER_ADDRESS failures of any kind (malformed
 *   requests, unknown ids, wrong secrets) is refused outright.
 * - A client id with CP_AUTH_PER_PAIR wrong secrets from one address is
 *   refused from that address only: a stranger guessing someone else's
 *   secret locks out nobody but the stranger.
 * - A client id with CP_AUTH_PER_CLIENT wrong secrets from all addresses
 *   together is being guessed from many: until that window ends, a single
 *   wrong secret refuses its address for that client.  An address that
 *   has not failed is still answered, so the right secret is never
 *   locked out; a guesser needs a fresh address per guess.
 * Refused means 429 slow_down with Retry-After, before the secret is
 * looked at, so a refused guess learns nothing.
 */
#define CP_AUTH_WINDOW       60
#define CP_AUTH_PER_ADDRESS  100
#define CP_AUTH_PER_PAIR     10
#define CP_AUTH_PER_CLIENT   100

typedef struct {
    cp_throttle_t  by_address;
    cp_throttle_t  by_pair;        /* "address client_id" */
    cp_throttle_t  by_client;
} cp_auth_throttle_t;

void cp_auth_throttle_init(cp_auth_throttle_t *a, uint64_t seed);

/* 0 when a request from addr may be looked at; else Retry-After. */
int cp_auth_throttle_address(const cp_auth_throttle_t *a, const char *addr,
                             int64_t now);

/* 0 when client_id's secret may be checked for addr; else Retry-After. */
int cp_auth_throttle_client(const cp_auth_throttle_t *a,
                            const char *client_id, const char *addr,
                            int64_t now);

/* Count a refusal from addr, of client_id's secret (NULL when the request
 * named no client).  1 when this one put client_id at the per-client
 * ceiling (worth one log line), else 0. */
int cp_auth_throttle_fail(cp_auth_throttle_t *a, const char *client_id,
                          const char *addr, int64_t now);

#endif /* CP_THROTTLE_H */
