
/*
 * Unit tests of lgsp_tcache.c: SipHash against the reference vectors, the
 * lookup rules, eviction, zone reuse, writers that died mid-write, and
 * threads and processes racing on one region (a torn read would return a
 * value whose fields do not all derive from the token asked for).
 */


#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lgsp_tcache.h"


#define NOW              1748736000LL      /* 2025-06-01 00:00:00 UTC */
#define BIG_SIZE         (LGSP_TCACHE_MIN_SIZE * 64)


static const uint8_t  test_key[LGSP_TCACHE_KEY_LEN] = {
    0x5a, 0x11, 0x93, 0x0c, 0xe4, 0x27, 0x68, 0xb1,
    0x0f, 0xd2, 0x3e, 0x75, 0xa9, 0x4c, 0x80, 0x16
};

static void           *mem;
static size_t          mem_size;
static lgsp_tcache_t  *cache;


/* the reference vectors_sip128: key 00..0f, message 00..(i-1) */

static const char  *sip128_vectors[64] = {
    "a3817f04ba25a8e66df67214c7550293", "da87c1d86b99af44347659119b22fc45",
    "8177228da4a45dc7fca38bdef60affe4", "9c70b60c5267a94e5f33b6b02985ed51",
    "f88164c12d9c8faf7d0f6e7c7bcd5579", "1368875980776f8854527a07690e9627",
    "14eeca338b208613485ea0308fd7a15e", "a1f1ebbed8dbc153c0b84aa61ff08239",
    "3b62a9ba6258f5610f83e264f31497b4", "264499060ad9baabc47f8b02bb6d71ed",
    "00110dc378146956c95447d3f3d0fbba", "0151c568386b6677a2b4dc6f81e5dc18",
    "d626b266905ef35882634df68532c125", "9869e247e9c08b10d029934fc4b952f7",
    "31fcefac66d7de9c7ec7485fe4494902", "5493e99933b0a8117e08ec0f97cfc3d9",
    "6ee2a4ca67b054bbfd3315bf85230577", "473d06e8738db89854c066c47ae47740",
    "a426e5e423bf4885294da481feaef723", "78017731cf65fab074d5208952512eb1",
    "9e25fc833f2290733e9344a5e83839eb", "568e495abe525a218a2214cd3e071d12",
    "4a29b54552d16b9a469c10528eff0aae", "c9d184ddd5a9f5e0cf8ce29a9abf691c",
    "2db479ae78bd50d8882a8a178a6132ad", "8ece5f042d5e447b5051b9eacb8d8f6f",
    "9c0b53b4b3c307e87eaee08678141f66", "abf248af69a6eae4bfd3eb2f129eeb94",
    "0664da1668574b88b935f3027358aef4", "aa4b9dc4bf337de90cd4fd3c467c6ab7",
    "ea5c7f471faf6bde2b1ad7d4686d2287", "2939b0183223fafc1723de4f52c43d35",
    "7c3956ca5eeafc3e363e9d556546eb68", "77c6077146f01c32b6b69d5f4ea9ffcf",
    "37a6986cb8847edf0925f0f1309b54de", "a705f0e69da9a8f907241a2e923c8cc8",
    "3dc47d1f29c448461e9e76ed904f6711", "0d62bf01e6fc0e1a0d3c4751c5d3692b",
    "8c03468bca7c669ee4fd5e084bbee7b5", "528a5bb93baf2c9c4473cce5d0d22bd9",
    "df6a301e95c95dad97ae0cc8c6913bd8", "801189902c857f39e73591285e70b6db",
    "e617346ac9c231bb3650ae34ccca0c5b", "27d93437efb721aa401821dcec5adf89",
    "89237d9ded9c5e78d8b1c9b166cc7342", "4a6d8091bf5e7d651189fa94a250b14c",
    "0e33f96055e7ae893ffc0e3dcf492902", "e61c432b720b19d18ec8d84bdc63151b",
    "f7e5aef549f782cf379055a608269b16", "438d030fd0b7a54fa837f2ad201a6403",
    "a590d3ee4fbf04e3247e0d27f286423f", "5fe2c1a172fe93c4b15cd37caef9f538",
    "2c97325cbd06b36eb2133dd08b3a017c", "92c814227a6bca949ff0659f002ad39e",
    "dce850110bd8328cfbd50841d6911d87", "67f14984c7da791248e32bb5922583da",
    "1938f2cf72d54ee97e94166fa91d2a36", "74481e9646ed49fe0f6224301604698e",
    "57fca5de98a9d6d8006438d0583d8a1d", "9fecde1cefdc1cbed4763674d9575359",
    "e3040c00eb28f15366ca73cbd872e740", "7697009a6a831dfecca91c5993670f7a",
    "5853542321f567a005d547a4f04759bd", "5150d1772f50834a503e069a973fbd7c"
};


/*
 * SipHash-1-3 with 64-bit output, low 32 bits, key 00..0f, message
 * 00..(i-1): the vectors Linux tests its 64-bit hsiphash() with (which is
 * SipHash-1-3 truncated), from the reference implementation.
 */

static const uint32_t  sip13_vectors[64] = {
    0x050fc4dcU, 0x7d57ca93U, 0x4dc7d44dU, 0xe7ddf7fbU,
    0x88d38328U, 0x49533b67U, 0xc59f22a7U, 0x9bb11140U,
    0x8d299a8eU, 0x6c063de4U, 0x92ff097fU, 0xf94dc352U,
    0x57b4d9a2U, 0x1229ffa7U, 0xc0f95d34U, 0x2a519956U,
    0x7d908b66U, 0x63dbd80cU, 0xb473e63eU, 0x8d297d1cU,
    0xa6cce040U, 0x2b45f844U, 0xa320872eU, 0xdae6c123U,
    0x67349c8cU, 0x705b0979U, 0xca9913a5U, 0x4ade3b35U,
    0xef6cd00dU, 0x4ab1e1f4U, 0x43c5e663U, 0x8c21d1bcU,
    0x16a7b60dU, 0x7a8ff9bfU, 0x1f2a753eU, 0xbf186b91U,
    0xada26206U, 0xa3c33057U, 0xae3a36a1U, 0x7b108392U,
    0x99e41531U, 0x3f1ad944U, 0xc8138825U, 0xc28949a6U,
    0xfaf8876bU, 0x9f042196U, 0x68b1d623U, 0x8b5114fdU,
    0xdf074c46U, 0x12cc86b3U, 0x0a52098fU, 0x9d292f9aU,
    0xa2f41f12U, 0x43a71ed0U, 0x73f0bce6U, 0x70a7e980U,
    0x243c6d75U, 0xfdb71513U, 0xa67d8a08U, 0xb7e8f148U,
    0xf7a644eeU, 0x0f1837f2U, 0x4b6694e0U, 0xb7bbb3a8U,
};


/*
 * Tokens and values derived from a number: every field of the value is a
 * different function of it, so a value mixing two entries never passes
 * value_check().
 */

static size_t
token_make(uint8_t *buf, size_t size, uint32_t id)
{
    int  n;

    n = snprintf((char *) buf, size,
                 "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0LSV1In0.sig-%u", id);

    ck_assert(n > 0 && (size_t) n < size);

    return (size_t) n;
}


static void
value_make(lgsp_tcache_value_t *v, uint32_t id, int64_t exp)
{
    int  i;

    memset(v, 0, sizeof(lgsp_tcache_value_t));

    v->exp = exp;
    v->env = (uint8_t) (id & 1);
    v->issuer_id = 1000000ULL + id;
    v->credential_id = (id % 3 == 0) ? 0 : 2000000ULL + id;
    v->system_id = 3000000ULL + id * 7ULL;
    v->org_agency_id = 4000000ULL + id * 13ULL;
    v->kid_len = (uint8_t) (id % (LGSP_TCACHE_KID_MAX + 1));

    for (i = 0; i < v->kid_len; i++) {
        v->kid[i] = (uint8_t) (id * 31 + i);
    }
}


/* 1 when v is exactly value_make(id, exp) in every field */

static int
value_check(const lgsp_tcache_value_t *v, uint32_t id, int64_t exp)
{
    lgsp_tcache_value_t  want;

    value_make(&want, id, exp);

    return v->exp == want.exp
           && v->env == want.env
           && v->issuer_id == want.issuer_id
           && v->credential_id == want.credential_id
           && v->system_id == want.system_id
           && v->org_agency_id == want.org_agency_id
           && v->kid_len == want.kid_len
           && memcmp(v->kid, want.kid, want.kid_len) == 0;
}


static int
put_id(uint32_t id, int64_t exp)
{
    size_t               len;
    uint8_t              tok[128];
    lgsp_tcache_value_t  v;

    len = token_make(tok, sizeof(tok), id);
    value_make(&v, id, exp);

    return lgsp_tcache_put(cache, tok, len, &v);
}


/* 1: a hit holding exactly the value put for id with that exp */

static int
hit_id(uint32_t id, int64_t exp, int64_t now)
{
    size_t               len;
    uint8_t              tok[128];
    lgsp_tcache_value_t  out;

    len = token_make(tok, sizeof(tok), id);

    if (!lgsp_tcache_get(cache, tok, len, now, &out)) {
        return 0;
    }

    ck_assert_msg(value_check(&out, id, exp), "token %u: wrong value", id);

    return 1;
}


static uint64_t
bucket_of(uint32_t id)
{
    size_t    len;
    uint8_t   tok[128];
    uint64_t  tag[2];

    len = token_make(tok, sizeof(tok), id);
    lgsp_tcache_tag(cache, tok, len, tag);

    return tag[0] & (cache->nbuckets - 1);
}


/* the first n ids after *from that land in bucket b */

static void
ids_in_bucket(uint64_t b, uint32_t *ids, int n, uint32_t from)
{
    int       k;
    uint32_t  id;

    for (k = 0, id = from; k < n; id++) {
        ck_assert_msg(id < from + 1000000, "no ids found for bucket");

        if (bucket_of(id) == b) {
            ids[k++] = id;
        }
    }
}


static lgsp_tcache_entry_t *
entries(void)
{
    return (lgsp_tcache_entry_t *) ((uint8_t *) cache + sizeof(*cache));
}


static lgsp_tcache_stats_t
stats(void)
{
    lgsp_tcache_stats_t  st;

    lgsp_tcache_stats(cache, &st);

    return st;
}


static void
region_alloc(size_t size)
{
    mem_size = size;
    mem = aligned_alloc(64, (size + 63) & ~(size_t) 63);
    ck_assert_ptr_nonnull(mem);
    memset(mem, 0xa5, size);
}


static void
tcache_setup_big(void)
{
    region_alloc(BIG_SIZE);
    cache = lgsp_tcache_init(mem, mem_size, test_key);
    ck_assert_ptr_nonnull(cache);
}


/* one bucket: every token competes for the same LGSP_TCACHE_WAYS slots */

static void
tcache_setup_one(void)
{
    region_alloc(LGSP_TCACHE_MIN_SIZE);
    cache = lgsp_tcache_init(mem, mem_size, test_key);
    ck_assert_ptr_nonnull(cache);
}


static void
tcache_teardown(void)
{
    free(mem);
    mem = NULL;
    cache = NULL;
}


/* a pid that belonged to a process now gone */

static pid_t
dead_pid(void)
{
    int    status;
    pid_t  pid;

    pid = fork();
    ck_assert_int_ge(pid, 0);

    if (pid == 0) {
        _exit(0);
    }

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(kill(pid, 0), -1);

    return pid;
}


/* --- SipHash ------------------------------------------------------------ */

START_TEST(test_siphash_vectors)
{
    int       i, j;
    uint8_t   key[16], in[64], got[16];
    uint64_t  out[2];
    unsigned  want;

    for (i = 0; i < 16; i++) {
        key[i] = (uint8_t) i;
    }

    for (i = 0; i < 64; i++) {
        in[i] = (uint8_t) i;
    }

    for (i = 0; i < 64; i++) {
        lgsp_siphash(key, in, (size_t) i, 2, 4, 16, out);

        for (j = 0; j < 8; j++) {
            got[j] = (uint8_t) (out[0] >> (8 * j));
            got[8 + j] = (uint8_t) (out[1] >> (8 * j));
        }

        for (j = 0; j < 16; j++) {
            ck_assert_int_eq(sscanf(sip128_vectors[i] + 2 * j, "%2x", &want),
                             1);
            ck_assert_msg(got[j] == want, "length %d, byte %d", i, j);
        }
    }
}
END_TEST


START_TEST(test_siphash13_vectors)
{
    int       i;
    uint8_t   key[16], in[64];
    uint64_t  out[2];

    for (i = 0; i < 16; i++) {
        key[i] = (uint8_t) i;
    }

    for (i = 0; i < 64; i++) {
        in[i] = (uint8_t) i;
    }

    for (i = 0; i < 64; i++) {
        lgsp_siphash(key, in, (size_t) i, 1, 3, 8, out);
        ck_assert_msg((uint32_t) out[0] == sip13_vectors[i],
                      "length %d: %08x, want %08x", i, (uint32_t) out[0],
                      sip13_vectors[i]);
    }
}
END_TEST


/* the cache's tag is SipHash-1-3-128 under the zone's key, nothing else */

START_TEST(test_tcache_tag_is_sip13)
{
    uint64_t  a[2], b[2];

    lgsp_tcache_tag(cache, (const uint8_t *) "eyJhbGciOi.x.y", 14, a);
    lgsp_siphash(test_key, (const uint8_t *) "eyJhbGciOi.x.y", 14, 1, 3, 16,
                 b);

    ck_assert(a[0] == b[0] && a[1] == b[1]);

    lgsp_siphash(test_key, (const uint8_t *) "eyJhbGciOi.x.y", 14, 2, 4, 16,
                 b);

    ck_assert(a[0] != b[0] && a[1] != b[1]);
}
END_TEST


START_TEST(test_siphash_keyed)
{
    uint8_t   key2[16];
    uint64_t  a[2], b[2];

    memcpy(key2, test_key, 16);
    key2[15] ^= 0x80;

    lgsp_siphash(test_key, (const uint8_t *) "token", 5, 1, 3, 16, a);
    lgsp_siphash(key2, (const uint8_t *) "token", 5, 1, 3, 16, b);

    ck_assert(a[0] != b[0] && a[1] != b[1]);
}
END_TEST


/* --- lookups ------------------------------------------------------------ */

START_TEST(test_round_trip)
{
    uint32_t  id;

    /* kid lengths 0..64 and both environments, with and without credential */
    for (id = 1; id <= 65; id++) {
        ck_assert_int_eq(put_id(id, NOW + 600), 1);
    }

    /* 65 tokens in 512 slots: no bucket overflowed, or this proves nothing */
    ck_assert_uint_eq(stats().evictions, 0);

    for (id = 1; id <= 65; id++) {
        ck_assert_msg(hit_id(id, NOW + 600, NOW), "token %u missed", id);
    }

    ck_assert_uint_eq(stats().hits, 65);
    ck_assert_uint_eq(stats().inserts, 65);
    ck_assert_uint_eq(stats().misses, 0);
}
END_TEST


START_TEST(test_round_trip_every_field)
{
    uint8_t              tok[] = "header.payload.signature";
    lgsp_tcache_value_t  v, out;

    memset(&v, 0, sizeof(v));
    v.exp = INT64_MAX;
    v.env = 0xfe;
    v.issuer_id = UINT64_MAX;
    v.credential_id = 0;
    v.system_id = 0x8000000000000001ULL;
    v.org_agency_id = 42;
    v.kid_len = LGSP_TCACHE_KID_MAX;
    memset(v.kid, 'k', LGSP_TCACHE_KID_MAX);
    v.kid[0] = 0;
    v.kid[63] = 0xff;

    ck_assert_int_eq(lgsp_tcache_put(cache, tok, sizeof(tok) - 1, &v), 1);

    memset(&out, 0x55, sizeof(out));
    ck_assert_int_eq(lgsp_tcache_get(cache, tok, sizeof(tok) - 1, NOW, &out),
                     1);

    ck_assert(out.exp == INT64_MAX);
    ck_assert_uint_eq(out.env, 0xfe);
    ck_assert(out.issuer_id == UINT64_MAX);
    ck_assert(out.credential_id == 0);
    ck_assert(out.system_id == 0x8000000000000001ULL);
    ck_assert(out.org_agency_id == 42);
    ck_assert_uint_eq(out.kid_len, LGSP_TCACHE_KID_MAX);
    ck_assert_mem_eq(out.kid, v.kid, LGSP_TCACHE_KID_MAX);
}
END_TEST


START_TEST(test_miss_other_token)
{
    size_t               len, i;
    uint8_t              tok[128], alt[129];
    lgsp_tcache_value_t  out;

    len = token_make(tok, sizeof(tok), 7);
    ck_assert_int_eq(put_id(7, NOW + 600), 1);
    ck_assert(hit_id(7, NOW + 600, NOW));

    /* one byte changed, anywhere */
    for (i = 0; i < len; i++) {
        memcpy(alt, tok, len);
        alt[i] ^= 0x01;
        ck_assert_msg(!lgsp_tcache_get(cache, alt, len, NOW, &out),
                      "byte %zu changed still hit", i);
    }

    /* a prefix, one byte more, one byte less */
    ck_assert(!lgsp_tcache_get(cache, tok, len - 1, NOW, &out));
    ck_assert(!lgsp_tcache_get(cache, tok, 0, NOW, &out));

    memcpy(alt, tok, len);
    alt[len] = 'x';
    ck_assert(!lgsp_tcache_get(cache, alt, len + 1, NOW, &out));

    /* a never-put token */
    ck_assert(!hit_id(8, NOW + 600, NOW));

    ck_assert_uint_eq(stats().hits, 1);
    ck_assert_uint_eq(stats().misses, len + 4);
}
END_TEST


START_TEST(test_miss_leaves_out_alone)
{
    uint8_t              tok[] = "never.put.token";
    lgsp_tcache_value_t  out, before;

    memset(&out, 0x33, sizeof(out));
    before = out;

    ck_assert(!lgsp_tcache_get(cache, tok, sizeof(tok) - 1, NOW, &out));
    ck_assert_mem_eq(&out, &before, sizeof(out));
}
END_TEST


START_TEST(test_expiry_boundary)
{
    ck_assert_int_eq(put_id(3, NOW), 1);

    ck_assert(hit_id(3, NOW, NOW - 1000));
    ck_assert(hit_id(3, NOW, NOW));
    ck_assert(!hit_id(3, NOW, NOW + 1));

    /* the caller's skew: pass now - skew */
    ck_assert(hit_id(3, NOW, NOW + 60 - 60));
    ck_assert(!hit_id(3, NOW, NOW + 61 - 60));

    ck_assert_uint_eq(stats().hits, 3);
    ck_assert_uint_eq(stats().misses, 2);
}
END_TEST


START_TEST(test_replace)
{
    lgsp_tcache_stats_t  st;

    ck_assert_int_eq(put_id(5, NOW + 10), 1);
    ck_assert_int_eq(put_id(5, NOW + 900), 1);

    ck_assert(hit_id(5, NOW + 900, NOW + 500));

    st = stats();
    ck_assert_uint_eq(st.inserts, 2);
    ck_assert_uint_eq(st.evictions, 0);
}
END_TEST


START_TEST(test_kid_too_long)
{
    uint8_t              tok[] = "a.b.c";
    lgsp_tcache_value_t  v, out;

    value_make(&v, 64, NOW + 600);
    v.kid_len = LGSP_TCACHE_KID_MAX + 1;

    ck_assert_int_eq(lgsp_tcache_put(cache, tok, 5, &v), -1);
    ck_assert(!lgsp_tcache_get(cache, tok, 5, NOW, &out));
    ck_assert_uint_eq(stats().inserts, 0);
}
END_TEST


START_TEST(test_empty_token)
{
    lgsp_tcache_value_t  v, out;

    value_make(&v, 9, NOW + 600);

    ck_assert_int_eq(lgsp_tcache_put(cache, (const uint8_t *) "", 0, &v), 1);
    ck_assert_int_eq(lgsp_tcache_get(cache, (const uint8_t *) "", 0, NOW,
                                     &out), 1);
    ck_assert(value_check(&out, 9, NOW + 600));
    ck_assert(!lgsp_tcache_get(cache, (const uint8_t *) "\0", 1, NOW, &out));
}
END_TEST


/* --- eviction ----------------------------------------------------------- */

START_TEST(test_one_bucket_capacity)
{
    uint32_t  id;

    ck_assert_uint_eq(stats().capacity, LGSP_TCACHE_WAYS);

    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert_int_eq(put_id(id, NOW + 100 + id), 1);
    }

    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert(hit_id(id, NOW + 100 + id, NOW));
    }

    ck_assert_uint_eq(stats().evictions, 0);
    ck_assert_uint_eq(stats().inserts, LGSP_TCACHE_WAYS);
}
END_TEST


START_TEST(test_evict_expired_first)
{
    uint32_t  id;

    /* inserted first, so the oldest too, but not expired: must stay */
    ck_assert_int_eq(put_id(0, NOW + 50), 1);

    for (id = 1; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert_int_eq(put_id(id, id == 4 ? NOW - 30 : NOW + 100 + id), 1);
    }

    ck_assert_int_eq(put_id(100, NOW + 600), 1);

    ck_assert(hit_id(100, NOW + 600, NOW));
    ck_assert(!hit_id(4, NOW - 30, NOW - 60));   /* gone, even with skew */
    ck_assert(hit_id(0, NOW + 50, NOW));

    for (id = 1; id < LGSP_TCACHE_WAYS; id++) {
        if (id != 4) {
            ck_assert(hit_id(id, NOW + 100 + id, NOW));
        }
    }

    ck_assert_uint_eq(stats().evictions, 1);
    ck_assert_uint_eq(stats().inserts, LGSP_TCACHE_WAYS + 1);
}
END_TEST


START_TEST(test_evict_smallest_exp)
{
    uint32_t  id;

    /* exp falls with each insert: the newest entry is the one to go */
    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert_int_eq(put_id(id, NOW + 1000 - id), 1);
    }

    ck_assert_int_eq(put_id(200, NOW + 5000), 1);
    ck_assert(!hit_id(LGSP_TCACHE_WAYS - 1, NOW + 1000 - LGSP_TCACHE_WAYS + 1,
                      NOW));

    ck_assert_int_eq(put_id(201, NOW + 5000), 1);
    ck_assert(!hit_id(LGSP_TCACHE_WAYS - 2, NOW + 1000 - LGSP_TCACHE_WAYS + 2,
                      NOW));

    for (id = 0; id < LGSP_TCACHE_WAYS - 2; id++) {
        ck_assert(hit_id(id, NOW + 1000 - id, NOW));
    }

    ck_assert(hit_id(200, NOW + 5000, NOW));
    ck_assert(hit_id(201, NOW + 5000, NOW));
    ck_assert_uint_eq(stats().evictions, 2);
}
END_TEST


/* a bucket of a many-bucket zone fills and evicts on its own */

START_TEST(test_evict_one_bucket_of_many)
{
    int       k;
    uint32_t  ids[LGSP_TCACHE_WAYS + 1], other[1];

    ck_assert_uint_ge(cache->nbuckets, 16);

    ids_in_bucket(3, ids, LGSP_TCACHE_WAYS + 1, 0);
    ids_in_bucket(4, other, 1, 0);

    ck_assert_int_eq(put_id(other[0], NOW + 10), 1);

    for (k = 0; k < LGSP_TCACHE_WAYS; k++) {
        ck_assert_int_eq(put_id(ids[k], k == 2 ? NOW - 1 : NOW + 100 + k), 1);
    }

    ck_assert_uint_eq(stats().evictions, 0);

    ck_assert_int_eq(put_id(ids[LGSP_TCACHE_WAYS], NOW + 700), 1);

    ck_assert_uint_eq(stats().evictions, 1);
    ck_assert(!hit_id(ids[2], NOW - 1, NOW - 5));
    ck_assert(hit_id(ids[LGSP_TCACHE_WAYS], NOW + 700, NOW));

    for (k = 0; k < LGSP_TCACHE_WAYS; k++) {
        if (k != 2) {
            ck_assert(hit_id(ids[k], NOW + 100 + k, NOW));
        }
    }

    /* the entry with the smallest exp of the zone was in another bucket */
    ck_assert(hit_id(other[0], NOW + 10, NOW));
}
END_TEST


/* --- the zone ----------------------------------------------------------- */

START_TEST(test_init_geometry)
{
    lgsp_tcache_t  *c;

    ck_assert_ptr_null(lgsp_tcache_init(mem, LGSP_TCACHE_MIN_SIZE - 1,
                                        test_key));
    ck_assert_ptr_null(lgsp_tcache_init((uint8_t *) mem + 4,
                                        LGSP_TCACHE_MIN_SIZE, test_key));
    ck_assert_ptr_null(lgsp_tcache_init(NULL, BIG_SIZE, test_key));

    /* room for 5 buckets: a power of two is kept, 4 */
    c = lgsp_tcache_init(mem, sizeof(lgsp_tcache_t)
                              + 5 * LGSP_TCACHE_WAYS
                                * sizeof(lgsp_tcache_entry_t) + 100,
                         test_key);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->nbuckets, 4);

    c = lgsp_tcache_init(mem, BIG_SIZE, test_key);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->nbuckets, 64);
    ck_assert_mem_eq(c->key, test_key, LGSP_TCACHE_KEY_LEN);
}
END_TEST


START_TEST(test_init_clears)
{
    ck_assert_int_eq(put_id(1, NOW + 600), 1);
    ck_assert(hit_id(1, NOW + 600, NOW));

    cache = lgsp_tcache_init(mem, mem_size, test_key);
    ck_assert_ptr_nonnull(cache);

    ck_assert(!hit_id(1, NOW + 600, NOW));
    ck_assert_uint_eq(stats().inserts, 0);
    ck_assert_uint_eq(stats().hits, 0);
}
END_TEST


START_TEST(test_attach_keeps_entries)
{
    uint32_t        id;
    lgsp_tcache_t  *c;

    for (id = 0; id < 20; id++) {
        ck_assert_int_eq(put_id(id, NOW + 600), 1);
    }

    c = lgsp_tcache_attach(mem, mem_size);
    ck_assert_ptr_eq(c, cache);

    for (id = 0; id < 20; id++) {
        ck_assert(hit_id(id, NOW + 600, NOW));
    }

    ck_assert_uint_eq(stats().inserts, 20);
    ck_assert_uint_eq(stats().hits, 20);
}
END_TEST


/* no pointers inside: a copy at another address is the same cache */

START_TEST(test_attach_elsewhere)
{
    void           *copy;
    lgsp_tcache_t  *c;

    ck_assert_int_eq(put_id(11, NOW + 600), 1);

    copy = aligned_alloc(64, BIG_SIZE);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, mem, BIG_SIZE);

    c = lgsp_tcache_attach(copy, BIG_SIZE);
    ck_assert_ptr_eq(c, copy);

    free(mem);
    mem = copy;
    cache = c;

    ck_assert(hit_id(11, NOW + 600, NOW));
}
END_TEST


START_TEST(test_attach_refuses)
{
    size_t          i;
    uint8_t        *p;
    lgsp_tcache_t   saved;

    saved = *cache;
    p = mem;

    /* wrong size either way, too small, misaligned, NULL */
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size - 1));
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size + 8));
    ck_assert_ptr_null(lgsp_tcache_attach(mem, 64));
    ck_assert_ptr_null(lgsp_tcache_attach(p + 8, mem_size - 8));
    ck_assert_ptr_null(lgsp_tcache_attach(NULL, mem_size));

    /* each header field damaged in turn */
    cache->magic ^= 1;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    cache->version++;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    cache->ways = 4;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    cache->entry_size += 8;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    cache->header_size = 64;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    cache->nbuckets = 12;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    cache->nbuckets = 0;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    cache->nbuckets = 128;
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
    *cache = saved;

    ck_assert_ptr_eq(lgsp_tcache_attach(mem, mem_size), cache);

    /* zeroes, garbage */
    memset(mem, 0, mem_size);
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));

    srand(7);
    for (i = 0; i < mem_size; i++) {
        p[i] = (uint8_t) rand();
    }
    ck_assert_ptr_null(lgsp_tcache_attach(mem, mem_size));
}
END_TEST


/* --- writers mid-write, dead or alive ---------------------------------- */

/* the way of the one-bucket cache that holds token id */

static lgsp_tcache_entry_t *
entry_of(uint32_t id)
{
    int                   i;
    size_t                len;
    uint8_t               tok[128];
    uint64_t              tag[2];
    lgsp_tcache_entry_t  *e;

    len = token_make(tok, sizeof(tok), id);
    lgsp_tcache_tag(cache, tok, len, tag);

    e = entries();

    for (i = 0; i < LGSP_TCACHE_WAYS; i++) {
        if (e[i].tag[0] == tag[0] && e[i].tag[1] == tag[1]) {
            return &e[i];
        }
    }

    ck_abort_msg("token %u not in the bucket", id);

    return NULL;
}


START_TEST(test_odd_seq_is_a_miss)
{
    uint64_t              seq;
    lgsp_tcache_entry_t  *e;

    ck_assert_int_eq(put_id(1, NOW + 600), 1);

    e = entry_of(1);
    seq = e->seq;
    ck_assert_uint_eq(seq & 1, 0);

    e->seq = LGSP_TCACHE_SEQ_CLAIM(LGSP_TCACHE_SEQ_COUNT(seq), getpid());
    ck_assert(!hit_id(1, NOW + 600, NOW));

    e->seq = LGSP_TCACHE_SEQ_FREE(LGSP_TCACHE_SEQ_COUNT(seq) + 1);
    ck_assert(hit_id(1, NOW + 600, NOW));
}
END_TEST


START_TEST(test_dead_writer_taken_over)
{
    uint32_t              id, count;
    lgsp_tcache_entry_t  *e;

    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert_int_eq(put_id(id, NOW + 100 + id), 1);
    }

    /* token 5's writer died between its claim and its release */
    e = entry_of(5);
    count = LGSP_TCACHE_SEQ_COUNT(e->seq);
    e->seq = LGSP_TCACHE_SEQ_CLAIM(count, dead_pid());
    e->system_id = 0xdead;

    ck_assert(!hit_id(5, NOW + 105, NOW));

    ck_assert_int_eq(put_id(50, NOW + 10), 1);

    /* the stuck slot was used: nobody live was evicted */
    ck_assert_uint_eq(stats().evictions, 0);
    ck_assert(hit_id(50, NOW + 10, NOW));

    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        if (id != 5) {
            ck_assert(hit_id(id, NOW + 100 + id, NOW));
        }
    }

    /* taken over with the count moved on, and released even */
    ck_assert_uint_eq(e->seq, LGSP_TCACHE_SEQ_FREE(count + 2));
}
END_TEST


static void
live_writer_kept(pid_t owner)
{
    uint32_t              id;
    uint64_t              stuck;
    lgsp_tcache_entry_t  *e;

    for (id = 0; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert_int_eq(put_id(id, NOW + 100 + id), 1);
    }

    /* token 0 holds the smallest exp: being written, it must not be taken */
    e = entry_of(0);
    stuck = LGSP_TCACHE_SEQ_CLAIM(LGSP_TCACHE_SEQ_COUNT(e->seq), owner);
    e->seq = stuck;

    ck_assert_int_eq(put_id(60, NOW + 900), 1);

    ck_assert_uint_eq(e->seq, stuck);
    ck_assert_uint_eq(stats().evictions, 1);
    ck_assert(hit_id(60, NOW + 900, NOW));
    ck_assert(!hit_id(1, NOW + 101, NOW));      /* next smallest went */

    for (id = 2; id < LGSP_TCACHE_WAYS; id++) {
        ck_assert(hit_id(id, NOW + 100 + id, NOW));
    }
}


START_TEST(test_live_writer_kept)
{
    int    status;
    pid_t  child;

    /* another process, alive and busy */
    child = fork();
    ck_assert_int_ge(child, 0);

    if (child == 0) {
        pause();
        _exit(0);
    }

    live_writer_kept(child);

    kill(child, SIGKILL);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
}
END_TEST


START_TEST(test_own_thread_writer_kept)
{
    live_writer_kept(getpid());
}
END_TEST


/* --- threads and processes racing -------------------------------------- */

#define RACE_THREADS     4
#define RACE_TOKENS      48
#define RACE_MAX_OPS     20000000


typedef struct {
    uint32_t             seed;
    uint64_t             hits;
    uint64_t             puts;
    uint64_t             torn;
    uint64_t             bad_put;
} race_worker_t;


static double
race_clock(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void *
race_worker(void *arg)
{
    int                   rc;
    size_t                len;
    uint8_t               tok[128];
    uint32_t              id, x;
    uint64_t              ops;
    double                end;
    race_worker_t        *w;
    lgsp_tcache_value_t   v, out;

    w = arg;
    x = w->seed;
    end = race_clock() + 1.0;

    for (ops = 0; ops < RACE_MAX_OPS; ops++) {
        if ((ops & 1023) == 0 && race_clock() > end) {
            break;
        }

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;

        id = x % RACE_TOKENS;
        len = (size_t) snprintf((char *) tok, sizeof(tok),
                                "race.token-%u.%0*u", id, (int) (id % 40), id);

        if (x & 0x100000) {
            value_make(&v, id, NOW + id);
            rc = lgsp_tcache_put(cache, tok, len, &v);
            w->puts += (rc == 1);
            w->bad_put += (rc == -1);

        } else if (lgsp_tcache_get(cache, tok, len, NOW, &out)) {
            w->hits++;
            w->torn += !value_check(&out, id, NOW + id);
        }
    }

    return NULL;
}


static void
race_run(race_worker_t *w, uint32_t seed)
{
    int        i;
    pthread_t  tid[RACE_THREADS];

    for (i = 0; i < RACE_THREADS; i++) {
        memset(&w[i], 0, sizeof(race_worker_t));
        w[i].seed = seed + 0x9e3779b9u * (i + 1);
        ck_assert_int_eq(pthread_create(&tid[i], NULL, race_worker, &w[i]),
                         0);
    }

    for (i = 0; i < RACE_THREADS; i++) {
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);
    }
}


/* 48 tokens in 16 slots of 2 buckets: constant eviction and contention */

START_TEST(test_race_threads)
{
    int                  i;
    uint64_t             hits, puts;
    race_worker_t        w[RACE_THREADS];
    lgsp_tcache_stats_t  st;

    cache = lgsp_tcache_init(mem, LGSP_TCACHE_MIN_SIZE * 2, test_key);
    ck_assert_ptr_nonnull(cache);
    ck_assert_uint_eq(cache->nbuckets, 2);

    race_run(w, 1);

    hits = 0;
    puts = 0;

    for (i = 0; i < RACE_THREADS; i++) {
        ck_assert_uint_eq(w[i].torn, 0);
        ck_assert_uint_eq(w[i].bad_put, 0);
        hits += w[i].hits;
        puts += w[i].puts;
    }

    /* the race really ran both ways */
    ck_assert_uint_gt(hits, 1000);
    ck_assert_uint_gt(puts, 1000);

    st = stats();
    ck_assert_uint_eq(st.hits, hits);
    ck_assert_uint_eq(st.inserts, puts);
    ck_assert_uint_gt(st.evictions, 0);
}
END_TEST


/* two processes of four threads each on a MAP_SHARED region, as in nginx */

START_TEST(test_race_processes)
{
    int                  i, status;
    void                *shm;
    pid_t                child;
    uint64_t             hits;
    race_worker_t        w[RACE_THREADS];
    lgsp_tcache_stats_t  st;

    shm = mmap(NULL, LGSP_TCACHE_MIN_SIZE * 2, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(shm != MAP_FAILED);

    cache = lgsp_tcache_init(shm, LGSP_TCACHE_MIN_SIZE * 2, test_key);
    ck_assert_ptr_nonnull(cache);

    child = fork();
    ck_assert_int_ge(child, 0);

    if (child == 0) {
        race_run(w, 2);

        for (i = 0; i < RACE_THREADS; i++) {
            if (w[i].torn || w[i].bad_put) {
                _exit(1);
            }
        }

        _exit(0);
    }

    race_run(w, 3);

    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);

    hits = 0;

    for (i = 0; i < RACE_THREADS; i++) {
        ck_assert_uint_eq(w[i].torn, 0);
        hits += w[i].hits;
    }

    /* the other process's hits are counted in the shared header too */
    st = stats();
    ck_assert_uint_gt(st.hits, hits);
    ck_assert_uint_gt(hits, 1000);

    /* every entry is left released: nobody died mid-write */
    for (i = 0; i < 2 * LGSP_TCACHE_WAYS; i++) {
        ck_assert_uint_eq(entries()[i].seq & 1, 0);
    }

    cache = NULL;
    ck_assert_int_eq(munmap(shm, LGSP_TCACHE_MIN_SIZE * 2), 0);
}
END_TEST


Suite *
tcache_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("tcache");

    tc = tcase_create("siphash");
    tcase_add_test(tc, test_siphash_vectors);
    tcase_add_test(tc, test_siphash13_vectors);
    tcase_add_test(tc, test_siphash_keyed);
    suite_add_tcase(s, tc);

    tc = tcase_create("lookup");
    tcase_add_checked_fixture(tc, tcache_setup_big, tcache_teardown);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_tcache_tag_is_sip13);
    tcase_add_test(tc, test_round_trip_every_field);
    tcase_add_test(tc, test_miss_other_token);
    tcase_add_test(tc, test_miss_leaves_out_alone);
    tcase_add_test(tc, test_expiry_boundary);
    tcase_add_test(tc, test_replace);
    tcase_add_test(tc, test_kid_too_long);
    tcase_add_test(tc, test_empty_token);
    suite_add_tcase(s, tc);

    tc = tcase_create("eviction");
    tcase_add_checked_fixture(tc, tcache_setup_one, tcache_teardown);
    tcase_add_test(tc, test_one_bucket_capacity);
    tcase_add_test(tc, test_evict_expired_first);
    tcase_add_test(tc, test_evict_smallest_exp);
    suite_add_tcase(s, tc);

    tc = tcase_create("eviction_many");
    tcase_add_checked_fixture(tc, tcache_setup_big, tcache_teardown);
    tcase_add_test(tc, test_evict_one_bucket_of_many);
    suite_add_tcase(s, tc);

    tc = tcase_create("zone");
    tcase_add_checked_fixture(tc, tcache_setup_big, tcache_teardown);
    tcase_add_test(tc, test_init_geometry);
    tcase_add_test(tc, test_init_clears);
    tcase_add_test(tc, test_attach_keeps_entries);
    tcase_add_test(tc, test_attach_elsewhere);
    tcase_add_test(tc, test_attach_refuses);
    suite_add_tcase(s, tc);

    tc = tcase_create("stuck_writer");
    tcase_add_checked_fixture(tc, tcache_setup_one, tcache_teardown);
    tcase_add_test(tc, test_odd_seq_is_a_miss);
    tcase_add_test(tc, test_dead_writer_taken_over);
    tcase_add_test(tc, test_live_writer_kept);
    tcase_add_test(tc, test_own_thread_writer_kept);
    suite_add_tcase(s, tc);

    tc = tcase_create("race");
    tcase_add_checked_fixture(tc, tcache_setup_big, tcache_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_race_threads);
    tcase_add_test(tc, test_race_processes);
    suite_add_tcase(s, tc);

    return s;
}
