
/*
 * LGSP verified-token cache: see lgsp_tcache.h for the key, the value, the
 * layout and the seqlock.
 */


#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lgsp_tcache.h"


/*
 * Several processes share the region: a 64-bit atomic that fell back to a
 * libatomic lock would be a lock private to each process, i.e. none.
 */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics must be lock-free");

_Static_assert(sizeof(lgsp_tcache_t) == 128, "header: two cache lines");
_Static_assert(sizeof(lgsp_tcache_entry_t) == 136, "entry: 17 words");
_Static_assert(LGSP_TCACHE_KID_MAX % 8 == 0 && LGSP_TCACHE_KID_MAX < 256,
               "kid: whole words, length in a byte");


#define LGSP_TCACHE_META_VALID      0x1ULL
#define LGSP_TCACHE_META_ENV(m)     ((uint8_t) ((m) >> 8))
#define LGSP_TCACHE_META_KID_LEN(m) ((uint8_t) ((m) >> 16))

#define LGSP_TCACHE_KID_WORDS       (LGSP_TCACHE_KID_MAX / 8)

#define lgsp_tcache_load(p)     __atomic_load_n(p, __ATOMIC_RELAXED)
#define lgsp_tcache_store(p, v) __atomic_store_n(p, v, __ATOMIC_RELAXED)
#define lgsp_tcache_count(p)    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED)


static lgsp_tcache_entry_t *lgsp_tcache_bucket(lgsp_tcache_t *c,
    const uint64_t tag[2]);
static int lgsp_tcache_read(lgsp_tcache_entry_t *e, uint64_t seq,
    lgsp_tcache_entry_t *copy);
static int lgsp_tcache_claimer_gone(uint64_t seq, pid_t self);


/*
 * SipHash-c-d (Aumasson, Bernstein; after the reference code), 64- or
 * 128-bit output.  The cache keys tokens with SipHash-1-3-128 (see
 * lgsp_tcache.h for why 1-3); the unit tests run the same body as 2-4
 * against the reference vectors and as 1-3 against published ones.
 */

#define LGSP_SIP_ROTL(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define LGSP_SIP_ROUND                                                       \
    do {                                                                     \
        v0 += v1; v1 = LGSP_SIP_ROTL(v1, 13); v1 ^= v0;                      \
        v0 = LGSP_SIP_ROTL(v0, 32);                                          \
        v2 += v3; v3 = LGSP_SIP_ROTL(v3, 16); v3 ^= v2;                      \
        v0 += v3; v3 = LGSP_SIP_ROTL(v3, 21); v3 ^= v0;                      \
        v2 += v1; v1 = LGSP_SIP_ROTL(v1, 17); v1 ^= v2;                      \
        v2 = LGSP_SIP_ROTL(v2, 32);                                          \
    } while (0)


static inline uint64_t
lgsp_sip_le64(const uint8_t *p)
{
    uint64_t  v;

    /* one unaligned load where the compiler can (tokens sit anywhere) */
    memcpy(&v, p, sizeof(v));

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif

    return v;
}


/* inlined with constant rounds, so the cache's 1-3 has no loop counters */
static inline __attribute__((always_inline)) void
lgsp_siphash_body(const uint8_t *key, const uint8_t *in, size_t len,
    unsigned crounds, unsigned drounds, int wide, uint64_t out[2])
{
    size_t    i, left;
    unsigned  r;
    uint64_t  k0, k1, v0, v1, v2, v3, m, b;

    k0 = lgsp_sip_le64(key);
    k1 = lgsp_sip_le64(key + 8);

    v0 = 0x736f6d6570736575ULL ^ k0;
    v1 = 0x646f72616e646f6dULL ^ k1 ^ (wide ? 0xee : 0);
    v2 = 0x6c7967656e657261ULL ^ k0;
    v3 = 0x7465646279746573ULL ^ k1;

    for (i = 0; i + 8 <= len; i += 8) {
        m = lgsp_sip_le64(in + i);
        v3 ^= m;
        for (r = 0; r < crounds; r++) {
            LGSP_SIP_ROUND;
        }
        v0 ^= m;
    }

    b = (uint64_t) len << 56;

    for (left = len - i; left > 0; left--) {
        b |= (uint64_t) in[i + left - 1] << (8 * (left - 1));
    }

    v3 ^= b;
    for (r = 0; r < crounds; r++) {
        LGSP_SIP_ROUND;
    }
    v0 ^= b;

    v2 ^= wide ? 0xee : 0xff;
    for (r = 0; r < drounds; r++) {
        LGSP_SIP_ROUND;
    }
    out[0] = v0 ^ v1 ^ v2 ^ v3;

    if (!wide) {
        return;
    }

    v1 ^= 0xdd;
    for (r = 0; r < drounds; r++) {
        LGSP_SIP_ROUND;
    }
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}


void
lgsp_siphash(const uint8_t key[LGSP_TCACHE_KEY_LEN], const uint8_t *in,
    size_t len, unsigned crounds, unsigned drounds, size_t outlen,
    uint64_t out[2])
{
    lgsp_siphash_body(key, in, len, crounds, drounds, outlen == 16, out);
}


/*
 * Formats the region: the largest power-of-two number of buckets that
 * fits, all entries empty.  The key must be fresh random bytes (the module
 * draws them at zone creation and never logs them).  mem must be 8-byte
 * aligned (an nginx zone is page-aligned); the header is 128 bytes, so
 * entries keep the region's alignment.  Returns NULL when the region holds
 * less than one bucket.
 */

lgsp_tcache_t *
lgsp_tcache_init(void *mem, size_t size,
    const uint8_t key[LGSP_TCACHE_KEY_LEN])
{
    uint64_t        fit, nbuckets;
    lgsp_tcache_t  *c;

    if (mem == NULL || ((uintptr_t) mem & 7) != 0
        || size < LGSP_TCACHE_MIN_SIZE)
    {
        return NULL;
    }

    fit = (size - sizeof(lgsp_tcache_t))
          / (LGSP_TCACHE_WAYS * sizeof(lgsp_tcache_entry_t));

    for (nbuckets = 1; nbuckets <= fit / 2; nbuckets *= 2) {
        /* void */
    }

    c = mem;

    /* a stale magic must not validate a half-formatted region */
    __atomic_store_n(&c->magic, 0, __ATOMIC_RELAXED);

    memset(mem, 0, sizeof(lgsp_tcache_t)
                   + nbuckets * LGSP_TCACHE_WAYS
                     * sizeof(lgsp_tcache_entry_t));

    c->version = LGSP_TCACHE_VERSION;
    c->ways = LGSP_TCACHE_WAYS;
    c->entry_size = sizeof(lgsp_tcache_entry_t);
    c->header_size = sizeof(lgsp_tcache_t);
    c->size = size;
    c->nbuckets = nbuckets;
    memcpy(c->key, key, LGSP_TCACHE_KEY_LEN);

    __atomic_store_n(&c->magic, LGSP_TCACHE_MAGIC, __ATOMIC_RELEASE);

    return c;
}


/*
 * Validates a region formatted earlier (a zone reused across a reload):
 * same magic, layout version, entry shape and size, and a geometry that
 * fits.  The entries and the key are kept, so cached tokens stay valid.
 * Returns NULL for anything else; the caller then formats it afresh.
 */

lgsp_tcache_t *
lgsp_tcache_attach(void *mem, size_t size)
{
    uint64_t        n;
    lgsp_tcache_t  *c;

    if (mem == NULL || ((uintptr_t) mem & 7) != 0
        || size < LGSP_TCACHE_MIN_SIZE)
    {
        return NULL;
    }

    c = mem;

    if (__atomic_load_n(&c->magic, __ATOMIC_ACQUIRE) != LGSP_TCACHE_MAGIC
        || c->version != LGSP_TCACHE_VERSION
        || c->ways != LGSP_TCACHE_WAYS
        || c->entry_size != sizeof(lgsp_tcache_entry_t)
        || c->header_size != sizeof(lgsp_tcache_t)
        || c->size != size)
    {
        return NULL;
    }

    n = c->nbuckets;

    if (n == 0 || (n & (n - 1)) != 0
        || n > (size - sizeof(lgsp_tcache_t))
               / (LGSP_TCACHE_WAYS * sizeof(lgsp_tcache_entry_t)))
    {
        return NULL;
    }

    return c;
}


static lgsp_tcache_entry_t *
lgsp_tcache_bucket(lgsp_tcache_t *c, const uint64_t tag[2])
{
    lgsp_tcache_entry_t  *entries;

    entries = (lgsp_tcache_entry_t *) ((uint8_t *) c + sizeof(lgsp_tcache_t));

    return entries + (tag[0] & (c->nbuckets - 1)) * LGSP_TCACHE_WAYS;
}


/*
 * The reader's half of the seqlock: seq was loaded (acquire) and is even.
 * The words are copied with relaxed loads; the acquire fence keeps the
 * second load of seq after them, so if any copied word came from a write
 * that began after the first load, that write's odd seq is visible by
 * then and the copy is refused.
 */

static int
lgsp_tcache_read(lgsp_tcache_entry_t *e, uint64_t seq,
    lgsp_tcache_entry_t *copy)
{
    int  i;

    copy->tag[0] = lgsp_tcache_load(&e->tag[0]);
    copy->tag[1] = lgsp_tcache_load(&e->tag[1]);
    copy->meta = lgsp_tcache_load(&e->meta);
    copy->exp = lgsp_tcache_load(&e->exp);
    copy->issuer_id = lgsp_tcache_load(&e->issuer_id);
    copy->credential_id = lgsp_tcache_load(&e->credential_id);
    copy->system_id = lgsp_tcache_load(&e->system_id);
    copy->org_agency_id = lgsp_tcache_load(&e->org_agency_id);

    for (i = 0; i < LGSP_TCACHE_KID_WORDS; i++) {
        copy->kid[i] = lgsp_tcache_load(&e->kid[i]);
    }

    __atomic_thread_fence(__ATOMIC_ACQUIRE);

    return lgsp_tcache_load(&e->seq) == seq;
}


/*
 * A hit is a live entry whose tag is the token's and whose exp >= now.
 * now is Unix seconds; to honour the verifier's clock skew (SPEC §5,
 * default 60 s) pass now - skew, as the verifier accepts exp + skew.
 * nbf needs no check here: it held when the token was cached, and time
 * moves on.  The value is copied to *out only on a hit, and only from a
 * copy no write overlapped; an entry being written is a miss (the caller
 * verifies the token and puts it again, which is harmless).
 *
 * Returns 1 on a hit, 0 on a miss.  No allocation, no system call: a hash
 * of the token, at most LGSP_TCACHE_WAYS tag compares, one copy.
 */

int
lgsp_tcache_get(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    int64_t now, lgsp_tcache_value_t *out)
{
    uint64_t  tag[2];

    lgsp_tcache_tag(c, token, len, tag);

    return lgsp_tcache_lookup(c, tag, now, out);
}


void
lgsp_tcache_tag(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    uint64_t tag[2])
{
    lgsp_siphash_body((const uint8_t *) c->key, token, len, 1, 3, 1, tag);
}


int
lgsp_tcache_lookup(lgsp_tcache_t *c, const uint64_t tag[2], int64_t now,
    lgsp_tcache_value_t *out)
{
    int                   i;
    uint8_t               kid_len;
    uint64_t              seq;
    lgsp_tcache_entry_t  *bucket, *e, copy;

    bucket = lgsp_tcache_bucket(c, tag);

    for (i = 0; i < LGSP_TCACHE_WAYS; i++) {
        e = &bucket[i];

        seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);

        if ((seq & 1)
            || lgsp_tcache_load(&e->tag[0]) != tag[0]
            || lgsp_tcache_load(&e->tag[1]) != tag[1])
        {
            continue;
        }

        /* the tag matched a consistent copy, or the copy is refused */

        if (!lgsp_tcache_read(e, seq, &copy)
            || copy.tag[0] != tag[0] || copy.tag[1] != tag[1]
            || !(copy.meta & LGSP_TCACHE_META_VALID))
        {
            continue;
        }

        kid_len = LGSP_TCACHE_META_KID_LEN(copy.meta);

        if ((int64_t) copy.exp < now || kid_len > LGSP_TCACHE_KID_MAX) {
            break;
        }

        out->exp = (int64_t) copy.exp;
        out->issuer_id = copy.issuer_id;
        out->credential_id = copy.credential_id;
        out->system_id = copy.system_id;
        out->org_agency_id = copy.org_agency_id;
        out->env = LGSP_TCACHE_META_ENV(copy.meta);
        out->kid_len = kid_len;
        memcpy(out->kid, copy.kid, LGSP_TCACHE_KID_MAX);

        lgsp_tcache_count(&c->hits);
        return 1;
    }

    lgsp_tcache_count(&c->misses);
    return 0;
}


/*
 * An odd seq whose pid no longer exists: its writer died mid-write, and
 * a dead process writes no more, so the entry may be taken over.  A live
 * pid (kill() says 0 or EPERM), our own pid (another thread of ours), or a
 * pid reused by an unrelated process keeps the entry claimed: the cost is
 * one lost slot, never a torn entry.  Assumes every process sharing the
 * zone sees the others' pids, as nginx's workers do (one pid namespace).
 */

static int
lgsp_tcache_claimer_gone(uint64_t seq, pid_t self)
{
    pid_t  pid;

    pid = LGSP_TCACHE_SEQ_PID(seq);

    if (pid == self) {
        return 0;
    }

    /* not a pid we write: garbage, which no live writer owns */
    if (pid <= 0) {
        return 1;
    }

    return kill(pid, 0) == -1 && errno == ESRCH;
}


/*
 * Inserts the value for the token, or replaces the token's entry.  The
 * slot, in order: the token's own entry; an empty one; one stuck odd by a
 * dead writer; else the entry with the smallest exp, which is evicted
 * (and counted).  Smallest exp rather than oldest insert: it needs no
 * clock here, an expired entry always has a smaller exp than a live one
 * (so expired entries go first), and among live ones it drops the token
 * with the least time left to save verifications.
 *
 * Lock-free: the slot is claimed by CAS from the seq value read when it
 * was chosen, so the choice rests on what the slot held at that moment;
 * if another writer got there first, the put is skipped.  Two processes
 * putting the same token at once may leave two entries for it, both with
 * the same value; a later put replaces the first, the other ages out.
 *
 * Returns 1 when stored, 0 when skipped (contention), -1 for a kid longer
 * than LGSP_TCACHE_KID_MAX (such a token is simply not cached).  At most
 * one system call (getpid()), plus one kill(pid, 0) when the bucket is
 * full and holds an entry claimed by another process.
 */

int
lgsp_tcache_put(lgsp_tcache_t *c, const uint8_t *token, size_t len,
    const lgsp_tcache_value_t *v)
{
    uint64_t  tag[2];

    if (v->kid_len > LGSP_TCACHE_KID_MAX) {
        return -1;
    }

    lgsp_tcache_tag(c, token, len, tag);

    return lgsp_tcache_insert(c, tag, v, getpid());
}


int
lgsp_tcache_insert(lgsp_tcache_t *c, const uint64_t tag[2],
    const lgsp_tcache_value_t *v, pid_t self)
{
    int                   i, evict, stuck;
    int64_t               oldest_exp;
    uint8_t               kid[LGSP_TCACHE_KID_MAX];
    uint32_t              count;
    uint64_t              seq, expected, claim, kw;
    uint64_t              match_seq, empty_seq, odd_seq, oldest_seq;
    lgsp_tcache_entry_t  *bucket, *e, *slot, *match, *empty, *oldest,
                         *odd, copy;

    if (v->kid_len > LGSP_TCACHE_KID_MAX) {
        return -1;
    }

    bucket = lgsp_tcache_bucket(c, tag);

    match = NULL;
    empty = NULL;
    oldest = NULL;
    odd = NULL;

    /* the seq read with each candidate, to claim it by CAS from that */
    match_seq = 0;
    empty_seq = 0;
    odd_seq = 0;
    oldest_seq = 0;
    oldest_exp = 0;

    for (i = 0; i < LGSP_TCACHE_WAYS; i++) {
        e = &bucket[i];

        seq = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);

        if (seq & 1) {
            if (odd == NULL && LGSP_TCACHE_SEQ_PID(seq) != self) {
                odd = e;
                odd_seq = seq;
            }
            continue;
        }

        if (!lgsp_tcache_read(e, seq, &copy)) {
            continue;
        }

        if (!(copy.meta & LGSP_TCACHE_META_VALID)) {
            if (empty == NULL) {
                empty = e;
                empty_seq = seq;
            }
            continue;
        }

        if (copy.tag[0] == tag[0] && copy.tag[1] == tag[1]) {
            match = e;
            match_seq = seq;
            break;
        }

        if (oldest == NULL || (int64_t) copy.exp < oldest_exp) {
            oldest = e;
            oldest_seq = seq;
            oldest_exp = (int64_t) copy.exp;
        }
    }

    evict = 0;
    stuck = 0;

    if (match) {
        slot = match;
        expected = match_seq;

    } else if (empty) {
        slot = empty;
        expected = empty_seq;

    } else if (odd && lgsp_tcache_claimer_gone(odd_seq, self)) {
        slot = odd;
        expected = odd_seq;
        stuck = 1;

    } else if (oldest) {
        slot = oldest;
        expected = oldest_seq;
        evict = 1;

    } else {
        return 0;
    }

    /*
     * Taking over a stuck entry moves the count on, so readers that saw
     * the entry before the dead writer claimed it still see a change.
     */
    count = LGSP_TCACHE_SEQ_COUNT(expected) + (stuck ? 1 : 0);
    claim = LGSP_TCACHE_SEQ_CLAIM(count, self);

    if (!__atomic_compare_exchange_n(&slot->seq, &expected, claim, 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    {
        return 0;
    }

    /* no data store may become visible before the odd seq */
    __atomic_thread_fence(__ATOMIC_RELEASE);

    memset(kid, 0, sizeof(kid));
    memcpy(kid, v->kid, v->kid_len);

    lgsp_tcache_store(&slot->tag[0], tag[0]);
    lgsp_tcache_store(&slot->tag[1], tag[1]);
    lgsp_tcache_store(&slot->meta, LGSP_TCACHE_META_VALID
                                   | (uint64_t) v->env << 8
                                   | (uint64_t) v->kid_len << 16);
    lgsp_tcache_store(&slot->exp, (uint64_t) v->exp);
    lgsp_tcache_store(&slot->issuer_id, v->issuer_id);
    lgsp_tcache_store(&slot->credential_id, v->credential_id);
    lgsp_tcache_store(&slot->system_id, v->system_id);
    lgsp_tcache_store(&slot->org_agency_id, v->org_agency_id);

    for (i = 0; i < LGSP_TCACHE_KID_WORDS; i++) {
        memcpy(&kw, kid + 8 * i, 8);
        lgsp_tcache_store(&slot->kid[i], kw);
    }

    __atomic_store_n(&slot->seq, LGSP_TCACHE_SEQ_FREE(count + 1),
                     __ATOMIC_RELEASE);

    lgsp_tcache_count(&c->inserts);

    if (evict) {
        lgsp_tcache_count(&c->evictions);
    }

    return 1;
}


void
lgsp_tcache_stats(lgsp_tcache_t *c, lgsp_tcache_stats_t *st)
{
    st->hits = lgsp_tcache_load(&c->hits);
    st->misses = lgsp_tcache_load(&c->misses);
    st->evictions = lgsp_tcache_load(&c->evictions);
    st->inserts = lgsp_tcache_load(&c->inserts);
    st->capacity = c->nbuckets * LGSP_TCACHE_WAYS;
}
