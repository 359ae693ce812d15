/*
 * libFuzzer driver for lgsp_tcache.c: the input is a program of puts and
 * gets on a small zone (one or two buckets, so eviction is constant),
 * checked against a model of what the cache may answer: a hit returns
 * exactly the value last put for that token, never another token's and
 * never an expired one; a put from a single writer always lands and can be
 * read back at once; the counters add up.  Arbitrary token bytes go
 * through the hash, and a "damage" op writes garbage into the zone, after
 * which only memory safety and the bounds of the returned value are
 * checked (and attach must still refuse or accept without crashing).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ingx_lgsp_module/src \
 *       t/fuzz/fuzz_tcache.c ngx_lgsp_module/src/lgsp_tcache.c -o fuzz_tcache
 *   ./fuzz_tcache -max_len=4096 t/fuzz/corpus/tcache
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp_tcache.h"


#define FUZZ_TOKENS      32
#define FUZZ_NOW         1748736000LL


typedef struct {
    const uint8_t       *p;
    size_t               left;
} fuzz_input_t;


static uint8_t
fuzz_byte(fuzz_input_t *in)
{
    uint8_t  b;

    if (in->left == 0) {
        return 0;
    }

    b = *in->p++;
    in->left--;

    return b;
}


static size_t
fuzz_token(uint8_t *buf, size_t size, unsigned k)
{
    return (size_t) snprintf((char *) buf, size, "fuzz.token.%u", k);
}


static void
fuzz_value(lgsp_tcache_value_t *v, unsigned k, int64_t exp, uint8_t salt)
{
    int  i;

    memset(v, 0, sizeof(lgsp_tcache_value_t));

    v->exp = exp;
    v->env = (uint8_t) (k ^ salt);
    v->issuer_id = 100 + k + ((uint64_t) salt << 32);
    v->credential_id = 200 + k;
    v->system_id = 300 + k + ((uint64_t) salt << 40);
    v->org_agency_id = 400 + k;
    v->kid_len = (uint8_t) ((k + salt) % (LGSP_TCACHE_KID_MAX + 1));

    for (i = 0; i < v->kid_len; i++) {
        v->kid[i] = (uint8_t) (k + salt + i);
    }
}


static int
fuzz_same(const lgsp_tcache_value_t *a, const lgsp_tcache_value_t *b)
{
    return a->exp == b->exp && a->env == b->env
           && a->issuer_id == b->issuer_id
           && a->credential_id == b->credential_id
           && a->system_id == b->system_id
           && a->org_agency_id == b->org_agency_id
           && a->kid_len == b->kid_len
           && memcmp(a->kid, b->kid, a->kid_len) == 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   damaged, rc, have[FUZZ_TOKENS];
    size_t                zone_size, len, off;
    uint8_t               op, tok[64], key[LGSP_TCACHE_KEY_LEN];
    unsigned              k;
    int64_t               now, exp;
    uint64_t              puts, gets;
    fuzz_input_t          in;
    lgsp_tcache_t        *c;
    lgsp_tcache_stats_t   st;
    lgsp_tcache_value_t   v, out, model[FUZZ_TOKENS];

    static uint64_t       region[(LGSP_TCACHE_MIN_SIZE * 2 + 7) / 8];

    in.p = data;
    in.left = size;

    zone_size = (fuzz_byte(&in) & 1) ? LGSP_TCACHE_MIN_SIZE * 2
                                     : LGSP_TCACHE_MIN_SIZE;

    for (k = 0; k < LGSP_TCACHE_KEY_LEN; k++) {
        key[k] = fuzz_byte(&in);
    }

    c = lgsp_tcache_init(region, zone_size, key);
    if (c == NULL) {
        abort();
    }

    memset(have, 0, sizeof(have));
    damaged = 0;
    puts = 0;
    gets = 0;

    while (in.left > 0) {
        op = fuzz_byte(&in);
        k = fuzz_byte(&in) % FUZZ_TOKENS;
        now = FUZZ_NOW + (int8_t) fuzz_byte(&in);

        switch (op % 5) {

        case 0:     /* put a known token */
        case 1:
            exp = FUZZ_NOW + (int8_t) fuzz_byte(&in);
            fuzz_value(&v, k, exp, fuzz_byte(&in));
            len = fuzz_token(tok, sizeof(tok), k);

            rc = lgsp_tcache_put(c, tok, len, &v);
            puts++;

            if (!damaged) {
                if (rc != 1) {
                    abort();
                }

                model[k] = v;
                have[k] = 1;

                gets++;
                if (!lgsp_tcache_get(c, tok, len, exp, &out)
                    || !fuzz_same(&out, &v))
                {
                    abort();
                }
            }

            break;

        case 2:     /* get a known token */
            len = fuzz_token(tok, sizeof(tok), k);
            gets++;

            if (lgsp_tcache_get(c, tok, len, now, &out)) {
                if (out.kid_len > LGSP_TCACHE_KID_MAX) {
                    abort();
                }

                if (!damaged
                    && (!have[k] || out.exp < now
                        || !fuzz_same(&out, &model[k])))
                {
                    abort();
                }
            }

            break;

        case 3:     /* arbitrary bytes as a token: put, then read back */
            len = fuzz_byte(&in) % (in.left + 1);
            fuzz_value(&v, k, FUZZ_NOW + 1000, (uint8_t) len);

            rc = lgsp_tcache_put(c, in.p, len, &v);
            puts++;
            gets++;

            if (!damaged
                && (rc != 1
                    || !lgsp_tcache_get(c, in.p, len, FUZZ_NOW, &out)
                    || !fuzz_same(&out, &v)))
            {
                abort();
            }

            /* the bytes may spell a known token: then they replaced it */
            for (k = 0; k < FUZZ_TOKENS; k++) {
                if (fuzz_token(tok, sizeof(tok), k) == len
                    && memcmp(tok, in.p, len) == 0)
                {
                    model[k] = v;
                    have[k] = 1;
                }
            }

            in.p += len;
            in.left -= len;
            break;

        default:    /* damage the zone */
            off = ((size_t) fuzz_byte(&in) << 8 | fuzz_byte(&in)) % zone_size;
            ((uint8_t *) region)[off] = fuzz_byte(&in);
            damaged = 1;

            c = lgsp_tcache_attach(region, zone_size);
            if (c == NULL) {
                return 0;
            }

            break;
        }
    }

    if (!damaged) {
        lgsp_tcache_stats(c, &st);

        if (st.inserts != puts || st.hits + st.misses != gets) {
            abort();
        }
    }

    return 0;
}
