#include <stdio.h>
#include <string.h>

#include "cp_throttle.h"

void
cp_throttle_init(cp_throttle_t *t, int window, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->window = window;
    t->seed = seed;
}

static uint32_t
slot_of(const cp_throttle_t *t, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;

    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h = (h ^ *p) * 0x100000001b3ULL;
    }
    h ^= h >> 29;
    return (uint32_t) (h % CP_THROTTLE_SLOTS);
}

static int
live(const cp_throttle_t *t, const cp_throttle_slot_t *s, int64_t now)
{
    return s->key[0] != '\0' && now - s->window_start < t->window;
}

static const cp_throttle_slot_t *
find(const cp_throttle_t *t, const char *key, int64_t now)
{
    uint32_t i = slot_of(t, key);

    for (int n = 0; n < CP_THROTTLE_PROBE; n++) {
        const cp_throttle_slot_t *s = &t->slot[(i + n) % CP_THROTTLE_SLOTS];

        if (live(t, s, now) && strncmp(s->key, key, sizeof(s->key)) == 0) {
            return s;
        }
    }
    return NULL;
}

uint32_t
cp_throttle_count(const cp_throttle_t *t, const char *key, int64_t now,
                  int *retry)
{
    const cp_throttle_slot_t *s = find(t, key, now);
    int64_t                   wait;

    if (s == NULL) {
        return 0;
    }
    wait = s->window_start + t->window - now;
    if (retry != NULL) {
        *retry = wait > 0 ? (int) wait : 1;
    }
    return s->failures;
}

uint32_t
cp_throttle_fail(cp_throttle_t *t, const char *key, int64_t now)
{
    cp_throttle_slot_t *s = (cp_throttle_slot_t *) find(t, key, now);
    cp_throttle_slot_t *victim = NULL;
    uint32_t            i;

    if (s != NULL) {
        if (s->failures < UINT32_MAX) {
            s->failures++;
        }
        return s->failures;
    }
    i = slot_of(t, key);
    for (int n = 0; n < CP_THROTTLE_PROBE; n++) {
        s = &t->slot[(i + n) % CP_THROTTLE_SLOTS];
        if (!live(t, s, now)) {
            victim = s;
            break;
        }
        if (victim == NULL || s->failures < victim->failures
            || (s->failures == victim->failures
                && s->window_start < victim->window_start))
        {
            victim = s;
        }
    }
    /* keys are sized for an address and a whole client id; a longer one
     * is cut, which only merges it with ids sharing its first 128 bytes */
    snprintf(victim->key, sizeof(victim->key), "%s", key);
    victim->window_start = now;
    victim->failures = 1;
    return 1;
}

/* ---- the token endpoint's rule ------------------------------------------ */

void
cp_auth_throttle_init(cp_auth_throttle_t *a, uint64_t seed)
{
    /* one seed, spread: the tables' collisions are unrelated */
    cp_throttle_init(&a->by_address, CP_AUTH_WINDOW, seed);
    cp_throttle_init(&a->by_pair, CP_AUTH_WINDOW,
                     seed ^ 0x9e3779b97f4a7c15ULL);
    cp_throttle_init(&a->by_client, CP_AUTH_WINDOW,
                     seed ^ 0xc2b2ae3d27d4eb4fULL);
}

/* The address before the id: addresses have no space, so the first one
 * ends the address and no two pairs share a key. */
static void
pair_key(char key[CP_THROTTLE_KEY], const char *client_id, const char *addr)
{
    char a[CP_ADDR_KEY_MAX];

    cp_addr_client_key(addr, a);
    snprintf(key, CP_THROTTLE_KEY, "%s %s", a, client_id);
}

int
cp_auth_throttle_address(const cp_auth_throttle_t *a, const char *addr,
                         int64_t now)
{
    char key[CP_ADDR_KEY_MAX];
    int  retry = 0;

    cp_addr_client_key(addr, key);
    return cp_throttle_count(&a->by_address, key, now, &retry)
           >= CP_AUTH_PER_ADDRESS ? retry : 0;
}

int
cp_auth_throttle_client(const cp_auth_throttle_t *a, const char *client_id,
                        const char *addr, int64_t now)
{
    char      key[CP_THROTTLE_KEY];
    int       pair_retry = 0, client_retry = 0;
    uint32_t  pair;

    pair_key(key, client_id, addr);
    pair = cp_throttle_count(&a->by_pair, key, now, &pair_retry);
    if (pair >= CP_AUTH_PER_PAIR) {
        return pair_retry;
    }
    if (pair > 0
        && cp_throttle_count(&a->by_client, client_id, now, &client_retry)
           >= CP_AUTH_PER_CLIENT)
    {
        /* guessed from many: refused until the sooner of the two windows
         * ends (then this address has its ten again) */
        return pair_retry < client_retry ? pair_retry : client_retry;
    }
    return 0;
}

int
cp_auth_throttle_fail(cp_auth_throttle_t *a, const char *client_id,
                      const char *addr, int64_t now)
{
    char key[CP_THROTTLE_KEY];

    cp_addr_client_key(addr, key);
    cp_throttle_fail(&a->by_address, key, now);
    if (client_id == NULL || client_id[0] == '\0') {
        return 0;
    }
    pair_key(key, client_id, addr);
    cp_throttle_fail(&a->by_pair, key, now);
    return cp_throttle_fail(&a->by_client, client_id, now)
           == CP_AUTH_PER_CLIENT;
}
