/*
 * libFuzzer driver for the snapshot loader and its lookups.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ischemas \
 *     -Ingx_lgsp_module/src t/fuzz/fuzz_snapshot.c \
 *     ngx_lgsp_module/src/lgsp_snapshot.c -lcrypto -o build/bin/fuzz_snapshot
 * (make fuzz).  Seeds: snapshots compiled by lgspd (any snap.N file).
 * The fuzzer's bytes are copied to an 8-aligned buffer of exactly their
 * size, as a mapping would be, so ASan sees any read past the end.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lgsp_snapshot.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lgsp_snapshot_t  s;
    char             err[256];
    void            *f;

    /* exactly size bytes (posix_memalign takes any size), 8-aligned */
    if (posix_memalign(&f, 8, size ? size : 1) != 0) {
        return 0;
    }
    memcpy(f, data, size);

    if (lgsp_snapshot_load(&s, f, size, err, sizeof(err)) == 0) {
        /* accepted: walk every record and every lookup */
        for (uint32_t i = 0; i < s.nversions; i++) {
            lgsp_sv_t r = lgsp_snap_sv(&s, s.versions[i].route);
            lgsp_snap_route(&s, r.data, r.len);
        }
        for (uint32_t i = 0; i < s.nagency_codes; i++) {
            lgsp_sv_t c = lgsp_snap_sv(&s, s.agency_codes[i].code);
            lgsp_snap_agency_by_code(&s, c.data, c.len);
        }
        for (uint32_t i = 0; i < s.nsystems; i++) {
            lgsp_sv_t id = lgsp_snap_sv(&s, s.systems[i].ident);
            lgsp_snap_system(&s, id.data, id.len);
            lgsp_snap_system_by_id(&s, s.systems[i].id);
        }
        for (uint32_t i = 0; i < s.ncredentials; i++) {
            lgsp_sv_t c = lgsp_snap_sv(&s, s.credentials[i].client_id);
            lgsp_snap_credential(&s, c.data, c.len);
            lgsp_snap_credential_by_id(&s, s.credentials[i].id);
        }
        for (uint32_t i = 0; i < s.ngrants; i++) {
            lgsp_snap_grant(&s, s.systems[s.grants[i].consumer].id,
                            s.versions[s.grants[i].version].id,
                            s.grants[i].env);
        }
        for (uint32_t i = 0; i < s.nkeys; i++) {
            lgsp_sv_t k = lgsp_snap_sv(&s, s.keys[i].kid);
            lgsp_snap_key(&s, k.data, k.len);
        }
        for (uint32_t i = 0; i < s.nissuers; i++) {
            lgsp_sv_t is = lgsp_snap_sv(&s, s.issuers[i].iss);
            lgsp_snap_issuer(&s, is.data, is.len);
            lgsp_snap_issuer_env(&s, is.data, is.len, 1);
        }
        lgsp_snap_route(&s, "absent/v1", 9);
        lgsp_snap_grant(&s, 1, 2, 0);
        lgsp_snap_key(&s, "", 0);
    }
    free(f);
    return 0;
}
