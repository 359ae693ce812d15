/*
 * Reading a snapshot (schemas/lgsp_snapshot_format.h): validate once at load,
 * then O(1), allocation-free lookups on the request path.  nginx-free, so
 * the unit tests and the fuzzer link it directly.
 */

#ifndef LGSP_SNAPSHOT_H
#define LGSP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "lgsp_snapshot_format.h"

typedef struct {
    const char  *data;
    size_t       len;
} lgsp_sv_t;

typedef struct {
    const uint8_t                  *base;
    size_t                          size;
    const lgsp_snap_header_t       *header;

    const char                     *strings;
    size_t                          strings_size;

    const lgsp_snap_agency_t       *agencies;
    uint32_t                        nagencies;
    const lgsp_snap_agency_code_t  *agency_codes;
    uint32_t                        nagency_codes;
    const lgsp_snap_system_t       *systems;
    uint32_t                        nsystems;
    const lgsp_snap_credential_t   *credentials;
    uint32_t                        ncredentials;
    const lgsp_snap_version_t      *versions;
    uint32_t                        nversions;
    const lgsp_snap_grant_t        *grants;
    uint32_t                        ngrants;
    const lgsp_snap_key_t          *keys;
    uint32_t                        nkeys;
    const lgsp_snap_issuer_t       *issuers;
    uint32_t                        nissuers;

    /* hash indexes; count is a power of two (0: absent, lookups miss) */
    struct {
        const lgsp_snap_slot_t     *slots;
        uint32_t                    count;
    } idx_agency_code, idx_system, idx_system_id, idx_credential,
      idx_credential_id, idx_route, idx_grant, idx_key, idx_issuer;
} lgsp_snapshot_t;

/*
 * Validate the whole file (magic, major, size, checksum, every section's
 * bounds and alignment, every string and record reference, every index
 * slot) and fill snap.  0 on success; -1 with the reason in err.  After
 * success no lookup can read outside [base, base + size).
 */
int lgsp_snapshot_load(lgsp_snapshot_t *snap, const void *base, size_t size,
    char *err, size_t err_size);

uint32_t lgsp_snap_hash(const void *key, size_t len);

/*
 * The bytes an index of `kind` (LGSP_SEC_IDX_*) hashes for record `rec`:
 * the writer builds indexes and the loader checks them with this one
 * function.  snap needs strings and the records the index names (and, for
 * the grant index, systems and versions); rec must be in range.
 */
size_t lgsp_snap_index_key(const lgsp_snapshot_t *snap, uint32_t kind,
    uint32_t rec, const void **key, uint8_t buf[20]);

static inline lgsp_sv_t
lgsp_snap_sv(const lgsp_snapshot_t *snap, lgsp_snap_str_t s)
{
    lgsp_sv_t sv = { snap->strings + s.off, s.len };
    return sv;
}

/* Lookups: NULL when absent. */
const lgsp_snap_version_t *lgsp_snap_route(const lgsp_snapshot_t *snap,
    const char *route, size_t len);                 /* "service/version" */
const lgsp_snap_agency_t *lgsp_snap_agency_by_code(
    const lgsp_snapshot_t *snap, const char *code, size_t len); /* aliases */
const lgsp_snap_system_t *lgsp_snap_system(const lgsp_snapshot_t *snap,
    const char *ident, size_t len);
const lgsp_snap_system_t *lgsp_snap_system_by_id(const lgsp_snapshot_t *snap,
    uint64_t id);
const lgsp_snap_credential_t *lgsp_snap_credential(
    const lgsp_snapshot_t *snap, const char *client_id, size_t len);
const lgsp_snap_credential_t *lgsp_snap_credential_by_id(
    const lgsp_snapshot_t *snap, uint64_t id);
const lgsp_snap_grant_t *lgsp_snap_grant(const lgsp_snapshot_t *snap,
    uint64_t system_id, uint64_t version_id, uint32_t env);
const lgsp_snap_key_t *lgsp_snap_key(const lgsp_snapshot_t *snap,
    const char *kid, size_t len);
/*
 * Trusted issuers choose their kids, so one kid may be another issuer's
 * too, and an issuer trusted in both environments brings the same keys
 * twice: the key of that kid issued by iss for env, or by the issuer of
 * that id.
 */
const lgsp_snap_key_t *lgsp_snap_key_issued(const lgsp_snapshot_t *snap,
    const char *kid, size_t len, const char *iss, size_t iss_len,
    uint32_t env);
const lgsp_snap_key_t *lgsp_snap_key_of_issuer(const lgsp_snapshot_t *snap,
    const char *kid, size_t len, uint64_t issuer_id);
const lgsp_snap_issuer_t *lgsp_snap_issuer(const lgsp_snapshot_t *snap,
    const char *iss, size_t len);
/* The same issuer may be trusted in both environments with different
 * audiences (issuers are unique by (iss, env)): the one for env. */
const lgsp_snap_issuer_t *lgsp_snap_issuer_env(const lgsp_snapshot_t *snap,
    const char *iss, size_t len, uint32_t env);

/*
 * The generation in a mapped snapshots/current (atomic load); 0 when the
 * mapping is too small or its magic is wrong.
 */
uint64_t lgsp_snap_control_generation(const void *base, size_t size);

#endif /* LGSP_SNAPSHOT_H */
