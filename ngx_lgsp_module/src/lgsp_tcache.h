
/*
 * LGSP verified-token cache: what a token's signature check established,
 * kept in a memory region that all nginx workers share (an nginx shared
 * zone; a malloc'd buffer in the tests), so a repeated token costs a hash
 * and a few compares instead of a signature check.
 *
 * Pure C, libc only: the module calls it on the hot path; the Check tests
 * and the fuzzer link it directly.
 *
 * Key: SipHash-1-3-128 of the whole token under a random 128-bit key kept
 * in the zone's header.  Keyed and 128 bits wide because a collision with
 * a cached good token would skip its signature check: an attacker who does
 * not know the key cannot aim at a tag, and a chance collision among the
 * tokens of a zone's life is ~2^-128 * n^2.  1-3 rounds rather than 2-4:
 * the key never leaves the zone and the tag never leaves the process (an
 * attacker sees neither, only whether a token was accepted), which is the
 * use 1-3 was made for (Python's and Rust's hash tables); no attack on
 * SipHash-1-3 is known, and the full token costs half the instructions.
 *
 * Value: exp, environment, issuer, kid, and the registry ids of the
 * credential, system and agency.  Those ids are never reused, so a hit can
 * never land on another party's credential; the caller still checks each
 * id (and the kid) against the current snapshot on every hit, which is how
 * revocation, suspension and closure defeat the cache without a flush.
 * The cache itself never checks the environment: the caller compares
 * value.env with the location's.
 *
 * Layout: a header, then buckets of LGSP_TCACHE_WAYS fixed-size entries,
 * the bucket count a power of two (the token's bucket is the first tag
 * word modulo that count), so a zone between two powers of two leaves the
 * rest unused: size it as sizeof(lgsp_tcache_t) + 2^k buckets of
 * LGSP_TCACHE_WAYS * sizeof(lgsp_tcache_entry_t) (1088 bytes).  No
 * pointers: the region may be mapped at different addresses and is reused
 * across "nginx -s reload".
 *
 * Concurrency: no lock.  Each entry has a sequence word (a seqlock): a
 * writer claims it by CAS from even to odd, writes, and releases it with
 * the next even value; a reader copies the entry between two reads of the
 * word and treats a change, or an odd word, as a miss.  So a reader never
 * returns a torn value, and a writer that finds an entry claimed skips it.
 * The odd word also names the claiming process; an entry left odd by a
 * process that died mid-write is taken over by the next writer that finds
 * that process gone (see lgsp_tcache_put()).
 */


#ifndef _LGSP_TCACHE_H_INCLUDED_
#define _LGSP_TCACHE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define LGSP_TCACHE_MAGIC        0x4c47535054434831ULL  /* "LGSPTCH1" */
#define LGSP_TCACHE_VERSION      1

#define LGSP_TCACHE_WAYS         8
#define LGSP_TCACHE_KID_MAX      64
#define LGSP_TCACHE_KEY_LEN      16


typedef struct {
    int64_t                     exp;           /* Unix seconds */
    uint64_t                    issuer_id;
    uint64_t                    credential_id; /* 0: external issuer */
    uint64_t                    system_id;
    uint64_t                    org_agency_id;
    uint8_t                     env;
    uint8_t                     kid_len;
    uint8_t                     kid[LGSP_TCACHE_KID_MAX];
} lgsp_tcache_value_t;


/*
 * The sequence word.  Even (low half zero): nobody is writing; the high
 * half counts the writes.  Odd: claimed, bits 1..31 hold the claiming
 * process's pid (Linux pids fit in 22 bits).  Every write moves the count
 * on, so a reader comparing the word before and after its copy sees any
 * write that overlapped it, short of 2^32 writes to one entry meanwhile.
 */
#define LGSP_TCACHE_SEQ_COUNT(s)    ((uint32_t) ((s) >> 32))
#define LGSP_TCACHE_SEQ_PID(s)      ((pid_t) (((s) & 0xffffffffULL) >> 1))
#define LGSP_TCACHE_SEQ_FREE(n)     ((uint64_t) (uint32_t) (n) << 32)
#define LGSP_TCACHE_SEQ_CLAIM(n, pid)                                        \
    (LGSP_TCACHE_SEQ_FREE(n)                                                 \
     | ((uint64_t) ((uint32_t) (pid) & 0x7fffffff) << 1) | 1)


/*
 * One entry, in 64-bit words only: every word is read and written with
 * relaxed atomics, so the racing copy a seqlock makes is not undefined
 * behaviour, and no word is ever split.
 */
typedef struct {
    uint64_t                    seq;
    uint64_t                    tag[2];
    uint64_t                    meta;          /* valid | env | kid_len */
    uint64_t                    exp;
    uint64_t                    issuer_id;
    uint64_t                    credential_id;
    uint64_t                    system_id;
    uint64_t                    org_agency_id;
    uint64_t                    kid[LGSP_TCACHE_KID_MAX / 8];
} lgsp_tcache_entry_t;


/*
 * The header at the start of the region.  The geometry and the hash key
 * are read by every lookup and written only by lgsp_tcache_init(); the
 * counters, written by every lookup, get their own cache line so they do
 * not keep evicting the key from the other cores.
 */
typedef struct {
    uint64_t                    magic;
    uint32_t                    version;
    uint32_t                    ways;
    uint32_t                    entry_size;
    uint32_t                    header_size;
    uint64_t                    size;          /* of the whole region */
    uint64_t                    nbuckets;      /* a power of two */
    uint64_t                    key[2];
    uint8_t                     pad0[64 - 56];

    uint64_t                    hits;
    uint64_t                    misses;
    uint64_t                    evictions;
    uint64_t                    inserts;
    uint8_t                     pad1[64 - 32];
} lgsp_tcache_t;


typedef struct {
    uint64_t                    hits;
    uint64_t                    misses;
    uint64_t                    evictions;
    uint64_t                    inserts;
    uint64_t                    capacity;      /* entries */
} lgsp_tcache_stats_t;


/* the smallest region lgsp_tcache_init() accepts: one bucket */
#define LGSP_TCACHE_MIN_SIZE                                                 \
    (sizeof(lgsp_tcache_t) + LGSP_TCACHE_WAYS * sizeof(lgsp_tcache_entry_t))


lgsp_tcache_t *lgsp_tcache_init(void *mem, size_t size,
    const uint8_t key[LGSP_TCACHE_KEY_LEN]);
lgsp_tcache_t *lgsp_tcache_attach(void *mem, size_t size);

int lgsp_tcache_get(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    int64_t now, lgsp_tcache_value_t *out);
int lgsp_tcache_put(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    const lgsp_tcache_value_t *v);

/*
 * The same in two steps, for a caller that looks a token up and, on a
 * miss, stores it after verifying: the keyed hash of the token is then
 * computed once, and the writer's pid (which glibc does not cache) is the
 * caller's to give.
 */
void lgsp_tcache_tag(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    uint64_t tag[2]);
int lgsp_tcache_lookup(lgsp_tcache_t *c, const uint64_t tag[2], int64_t now,
    lgsp_tcache_value_t *out);
int lgsp_tcache_insert(lgsp_tcache_t *c, const uint64_t tag[2],
    const lgsp_tcache_value_t *v, pid_t self);

void lgsp_tcache_stats(lgsp_tcache_t *c, lgsp_tcache_stats_t *st);

/* SipHash-c-d, outlen 8 (out[0]) or 16; the cache's tag is 1-3, 16 */
void lgsp_siphash(const uint8_t key[LGSP_TCACHE_KEY_LEN],
    const uint8_t *in, size_t len, unsigned crounds, unsigned drounds,
    size_t outlen, uint64_t out[2]);


#endif /* _LGSP_TCACHE_H_INCLUDED_ */
