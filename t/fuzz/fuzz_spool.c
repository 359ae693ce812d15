/*
 * libFuzzer driver for the packed audit spool (lgsp_spool.c, layout 2).
 * Two properties, on one input:
 *
 * - round trip: records built from the input (arbitrary bytes and lengths
 *   through LGSP_AUDIT_SET) are appended into an in-memory segment until
 *   the next would not fit, then read back through the cursor: the same
 *   records, field for field, in order, and as many as were appended;
 * - damage: the input's bytes then overwrite the slot area, and the reader
 *   must stay inside the segment (ASan: the buffer is exactly its size),
 *   return only lengths within their fields, and agree with
 *   lgsp_spool_committed().
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ischemas \
 *       -Ingx_lgsp_module/src t/fuzz/fuzz_spool.c \
 *       ngx_lgsp_module/src/lgsp_spool.c -o fuzz_spool
 *   ./fuzz_spool -max_len=8192
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp_spool.h"


/* a small segment: a few records of any size fit, rollover never runs */
#define FUZZ_SEG  (LGSP_AUDIT_HEADER_SIZE + 6 * LGSP_AUDIT_SLOT_MAX)


static void
fuzz_record(lgsp_audit_record_t *r, const uint8_t **p, size_t *left)
{
    size_t  n;

    memset(r, 0, sizeof(*r));

#define FUZZ_FIELD(f)                                                        \
    n = *left ? (size_t) **p % (sizeof(r->f) + 8) : 0;                       \
    if (*left) { (*p)++; (*left)--; }                                        \
    if (n > *left) { n = *left; }                                            \
    LGSP_AUDIT_SET(r, f, *p, n);                                             \
    *p += n;                                                                 \
    *left -= n

    FUZZ_FIELD(txn_id);
    FUZZ_FIELD(request_id);
    FUZZ_FIELD(consumer_org);
    FUZZ_FIELD(consumer_system);
    FUZZ_FIELD(client_id);
    FUZZ_FIELD(provider_org);
    FUZZ_FIELD(provider_system);
    FUZZ_FIELD(service);
    FUZZ_FIELD(version);
    FUZZ_FIELD(method);
    FUZZ_FIELD(route);
    FUZZ_FIELD(reason);

#undef FUZZ_FIELD

    r->start_ms = (int64_t) *left * 1000;
    r->status = (uint16_t) (*left % 600);
    r->generation = *left;
}


static void
fuzz_check_lengths(const lgsp_audit_record_t *r)
{
    if (r->txn_id_len > sizeof(r->txn_id)
        || r->request_id_len > sizeof(r->request_id)
        || r->consumer_org_len > sizeof(r->consumer_org)
        || r->consumer_system_len > sizeof(r->consumer_system)
        || r->client_id_len > sizeof(r->client_id)
        || r->provider_org_len > sizeof(r->provider_org)
        || r->provider_system_len > sizeof(r->provider_system)
        || r->service_len > sizeof(r->service)
        || r->version_len > sizeof(r->version)
        || r->method_len > sizeof(r->method)
        || r->route_len > sizeof(r->route)
        || r->reason_len > sizeof(r->reason))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       rc;
    size_t                    left, i, n;
    uint8_t                  *seg;
    uint64_t                  dropped = 0;
    const uint8_t            *p;
    lgsp_spool_t              sp;
    lgsp_audit_record_t       recs[64], got;
    lgsp_spool_cursor_t       c;
    lgsp_audit_seg_header_t  *h;

    seg = calloc(1, FUZZ_SEG);
    if (seg == NULL) {
        return 0;
    }

    h = (lgsp_audit_seg_header_t *) seg;
    memcpy(h->magic, LGSP_AUDIT_SEG_MAGIC, sizeof(h->magic));
    h->version = LGSP_AUDIT_SEG_VERSION;
    h->header_size = LGSP_AUDIT_HEADER_SIZE;
    h->fixed_size = LGSP_AUDIT_FIXED;
    h->capacity = FUZZ_SEG;

    /* a writer on the buffer, as lgsp_spool_append() finds one open */
    memset(&sp, 0, sizeof(sp));
    sp.seg_size = FUZZ_SEG;
    sp.dropped = &dropped;
    sp.base = seg;
    sp.header = h;
    sp.offset = LGSP_AUDIT_HEADER_SIZE;

    p = data;
    left = size;

    for (n = 0; n < 64 && left > 0; n++) {
        fuzz_record(&recs[n], &p, &left);

        if (sp.offset + lgsp_audit_slot_size(&recs[n]) > FUZZ_SEG) {
            break;
        }

        if (lgsp_spool_append(&sp, &recs[n]) != 0) {
            abort();
        }
    }

    lgsp_spool_cursor(&c, seg);

    for (i = 0; i < n; i++) {
        if (lgsp_spool_next(&c, &got) != 1
            || memcmp(&got, &recs[i], sizeof(got)) != 0)
        {
            abort();
        }
    }

    if (lgsp_spool_next(&c, NULL) != 0 || lgsp_spool_committed(seg) != n) {
        abort();
    }

    /* damage: the input over the slots, then read what the reader will */
    for (i = 0; i < size && LGSP_AUDIT_HEADER_SIZE + i < FUZZ_SEG; i++) {
        seg[LGSP_AUDIT_HEADER_SIZE + i] ^= data[i];
    }

    lgsp_spool_cursor(&c, seg);

    while ((rc = lgsp_spool_next(&c, &got)) == 1) {
        fuzz_check_lengths(&got);
    }

    if (c.offset > FUZZ_SEG || c.index != lgsp_spool_committed(seg)) {
        abort();
    }

    free(seg);

    return 0;
}
