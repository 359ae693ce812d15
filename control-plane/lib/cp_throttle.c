#include <string.h>

#include "cp_throttle.h"

void
cp_throttle_init(cp_throttle_t *t, uint32_t limit, int window, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->limit = limit;
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

static cp_throttle_slot_t *
find(cp_throttle_t *t, const char *key, int64_t now)
{
    uint32_t i = slot_of(t, key);

    for (int n = 0; n < CP_THROTTLE_PROBE; n++) {
        cp_throttle_slot_t *s = &t->slot[(i + n) % CP_THROTTLE_SLOTS];

        if (live(t, s, now) && strncmp(s->key, key, sizeof(s->key)) == 0) {
            return s;
        }
    }
    return NULL;
}

int
cp_throttle_check(cp_throttle_t *t, const char *key, int64_t now)
{
    cp_throttle_slot_t *s = find(t, key, now);
    int64_t             wait;

    if (s == NULL || s->failures < t->limit) {
        return 0;
    }
    wait = s->window_start + t->window - now;
    return wait > 0 ? (int) wait : 1;
}

void
cp_throttle_fail(cp_throttle_t *t, const char *key, int64_t now)
{
    cp_throttle_slot_t *s = find(t, key, now), *victim = NULL;
    uint32_t            i;

    if (s != NULL) {
        if (s->failures < UINT32_MAX) {
            s->failures++;
        }
        return;
    }
    i = slot_of(t, key);
    for (int n = 0; n < CP_THROTTLE_PROBE; n++) {
        s = &t->slot[(i + n) % CP_THROTTLE_SLOTS];
        if (!live(t, s, now)) {
            victim = s;
            break;
        }
        if (victim == NULL || s->window_start < victim->window_start) {
            victim = s;
        }
    }
    /* keys longer than a slot are truncated; ids and addresses fit */
    strncpy(victim->key, key, sizeof(victim->key) - 1);
    victim->key[sizeof(victim->key) - 1] = '\0';
    victim->window_start = now;
    victim->failures = 1;
}
