/*
 * Reading a snapshot.  lgsp_snapshot_load() checks everything once, so
 * that the lookups below can trust every offset, string reference and
 * record index without a check of their own: a lookup never reads outside
 * the mapping, whatever the file holds.  No nginx header, no allocation.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>

#include "lgsp_snapshot.h"

#define ERR(...)  do { fail(err, err_size, __VA_ARGS__); return -1; } while (0)

static void
fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL || err_size == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

uint32_t
lgsp_snap_hash(const void *key, size_t len)
{
    const uint8_t  *p = key;
    uint64_t        h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return (uint32_t) (h ^ (h >> 32));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t) (v >> (8 * i));
    }
}

/* ---- validation ------------------------------------------------------- */

static int
str_ok(const lgsp_snapshot_t *snap, lgsp_snap_str_t s)
{
    /* the byte after the string is its NUL: C callers may rely on it */
    return (uint64_t) s.off + s.len < snap->strings_size
           && snap->strings[(size_t) s.off + s.len] == '\0';
}

static int
idx_ok(uint32_t i, uint32_t n)
{
    return i < n;
}

static int
parent_ok(uint32_t i, uint32_t n)
{
    return i == LGSP_SNAP_NONE || i < n;
}

typedef struct {
    uint32_t      kind;
    uint32_t      record_size;   /* 0: bytes */
    const char   *name;
} known_section_t;

static const known_section_t  known[] = {
    { LGSP_SEC_STRINGS, 0, "strings" },
    { LGSP_SEC_AGENCIES, sizeof(lgsp_snap_agency_t), "agencies" },
    { LGSP_SEC_AGENCY_CODES, sizeof(lgsp_snap_agency_code_t),
      "agency codes" },
    { LGSP_SEC_SYSTEMS, sizeof(lgsp_snap_system_t), "systems" },
    { LGSP_SEC_CREDENTIALS, sizeof(lgsp_snap_credential_t), "credentials" },
    { LGSP_SEC_VERSIONS, sizeof(lgsp_snap_version_t), "versions" },
    { LGSP_SEC_GRANTS, sizeof(lgsp_snap_grant_t), "grants" },
    { LGSP_SEC_KEYS, sizeof(lgsp_snap_key_t), "keys" },
    { LGSP_SEC_ISSUERS, sizeof(lgsp_snap_issuer_t), "issuers" },
    { LGSP_SEC_IDX_AGENCY_CODE, sizeof(lgsp_snap_slot_t),
      "agency code index" },
    { LGSP_SEC_IDX_SYSTEM, sizeof(lgsp_snap_slot_t), "system index" },
    { LGSP_SEC_IDX_SYSTEM_ID, sizeof(lgsp_snap_slot_t), "system id index" },
    { LGSP_SEC_IDX_CREDENTIAL, sizeof(lgsp_snap_slot_t),
      "credential index" },
    { LGSP_SEC_IDX_CREDENTIAL_ID, sizeof(lgsp_snap_slot_t),
      "credential id index" },
    { LGSP_SEC_IDX_ROUTE, sizeof(lgsp_snap_slot_t), "route index" },
    { LGSP_SEC_IDX_GRANT, sizeof(lgsp_snap_slot_t), "grant index" },
    { LGSP_SEC_IDX_KEY, sizeof(lgsp_snap_slot_t), "key index" },
    { LGSP_SEC_IDX_ISSUER, sizeof(lgsp_snap_slot_t), "issuer index" },
};

#define NKNOWN  (sizeof(known) / sizeof(known[0]))

size_t
lgsp_snap_index_key(const lgsp_snapshot_t *snap, uint32_t kind, uint32_t rec,
    const void **key, uint8_t buf[20])
{
    lgsp_snap_str_t  s;

    switch (kind) {
    case LGSP_SEC_IDX_AGENCY_CODE:
        s = snap->agency_codes[rec].code;
        break;
    case LGSP_SEC_IDX_SYSTEM:
        s = snap->systems[rec].ident;
        break;
    case LGSP_SEC_IDX_SYSTEM_ID:
        put_u64(buf, snap->systems[rec].id);
        *key = buf;
        return 8;
    case LGSP_SEC_IDX_CREDENTIAL:
        s = snap->credentials[rec].client_id;
        break;
    case LGSP_SEC_IDX_CREDENTIAL_ID:
        put_u64(buf, snap->credentials[rec].id);
        *key = buf;
        return 8;
    case LGSP_SEC_IDX_ROUTE:
        s = snap->versions[rec].route;
        break;
    case LGSP_SEC_IDX_GRANT:
        put_u64(buf, snap->systems[snap->grants[rec].consumer].id);
        put_u64(buf + 8, snap->versions[snap->grants[rec].version].id);
        put_u32(buf + 16, snap->grants[rec].env);
        *key = buf;
        return 20;
    case LGSP_SEC_IDX_KEY:
        s = snap->keys[rec].kid;
        break;
    default: /* LGSP_SEC_IDX_ISSUER */
        s = snap->issuers[rec].iss;
        break;
    }
    *key = snap->strings + s.off;
    return s.len;
}

static int
check_index(const lgsp_snapshot_t *snap, uint32_t kind, const char *name,
    const lgsp_snap_slot_t *slots, uint32_t count, uint32_t nrecords,
    char *err, size_t err_size)
{
    uint32_t     empty = 0;
    const void  *key;
    size_t       len;
    uint8_t      buf[20];

    if (count == 0) {
        return 0;
    }
    if ((count & (count - 1)) != 0) {
        ERR("%s: %u slots is not a power of two", name, count);
    }
    for (uint32_t i = 0; i < count; i++) {
        if (slots[i].record == 0) {
            empty++;
            continue;
        }
        if (slots[i].record - 1 >= nrecords) {
            ERR("%s: slot %u names record %u of %u", name, i,
                slots[i].record - 1, nrecords);
        }
        len = lgsp_snap_index_key(snap, kind, slots[i].record - 1, &key, buf);
        if (lgsp_snap_hash(key, len) != slots[i].hash) {
            ERR("%s: slot %u holds a wrong hash", name, i);
        }
    }
    if (empty == 0) {
        /* a probe for an absent key would never end */
        ERR("%s: no empty slot", name);
    }
    return 0;
}

static int
check_records(const lgsp_snapshot_t *snap, char *err, size_t err_size)
{
    uint32_t  i;

    for (i = 0; i < snap->nagencies; i++) {
        const lgsp_snap_agency_t *a = &snap->agencies[i];
        if (!str_ok(snap, a->code) || !str_ok(snap, a->name)) {
            ERR("agency %u: string out of bounds", i);
        }
        if (!parent_ok(a->parent, snap->nagencies)) {
            ERR("agency %u: parent %u out of range", i, a->parent);
        }
    }
    for (i = 0; i < snap->nagency_codes; i++) {
        const lgsp_snap_agency_code_t *c = &snap->agency_codes[i];
        if (!str_ok(snap, c->code)) {
            ERR("agency code %u: string out of bounds", i);
        }
        if (!idx_ok(c->agency, snap->nagencies)) {
            ERR("agency code %u: agency %u out of range", i, c->agency);
        }
    }
    for (i = 0; i < snap->nsystems; i++) {
        const lgsp_snap_system_t *s = &snap->systems[i];
        if (!str_ok(snap, s->ident)) {
            ERR("system %u: string out of bounds", i);
        }
        if (!idx_ok(s->agency, snap->nagencies)) {
            ERR("system %u: agency %u out of range", i, s->agency);
        }
    }
    for (i = 0; i < snap->ncredentials; i++) {
        const lgsp_snap_credential_t *c = &snap->credentials[i];
        if (!str_ok(snap, c->client_id)) {
            ERR("credential %u: string out of bounds", i);
        }
        if (!idx_ok(c->system, snap->nsystems)) {
            ERR("credential %u: system %u out of range", i, c->system);
        }
        if (c->env > LGSP_ENV_SANDBOX) {
            ERR("credential %u: environment %u unknown", i, c->env);
        }
    }
    for (i = 0; i < snap->nversions; i++) {
        const lgsp_snap_version_t *v = &snap->versions[i];
        if (!str_ok(snap, v->service) || !str_ok(snap, v->version)
            || !str_ok(snap, v->route) || !str_ok(snap, v->successor)
            || !str_ok(snap, v->upstream_header_name)
            || !str_ok(snap, v->upstream_header_value))
        {
            ERR("version %u: string out of bounds", i);
        }
        if (!idx_ok(v->provider, snap->nsystems)) {
            ERR("version %u: provider %u out of range", i, v->provider);
        }
        for (int e = 0; e < 2; e++) {
            const lgsp_snap_upstream_t *u = &v->upstream[e];
            if (!str_ok(snap, u->url) || !str_ok(snap, u->host)
                || !str_ok(snap, u->path))
            {
                ERR("version %u: upstream string out of bounds", i);
            }
            if ((u->family != 0 && u->family != 4 && u->family != 6)
                || u->tls > 1)
            {
                ERR("version %u: upstream address family %u unknown", i,
                    u->family);
            }
        }
    }
    for (i = 0; i < snap->ngrants; i++) {
        const lgsp_snap_grant_t *g = &snap->grants[i];
        if (!idx_ok(g->consumer, snap->nsystems)) {
            ERR("grant %u: consumer %u out of range", i, g->consumer);
        }
        if (!idx_ok(g->version, snap->nversions)) {
            ERR("grant %u: version %u out of range", i, g->version);
        }
        if (g->env > LGSP_ENV_SANDBOX) {
            ERR("grant %u: environment %u unknown", i, g->env);
        }
    }
    for (i = 0; i < snap->nkeys; i++) {
        const lgsp_snap_key_t *k = &snap->keys[i];
        if (!str_ok(snap, k->kid) || !str_ok(snap, k->der)) {
            ERR("key %u: string out of bounds", i);
        }
        if (!idx_ok(k->issuer, snap->nissuers)) {
            ERR("key %u: issuer %u out of range", i, k->issuer);
        }
        if (k->alg != LGSP_ALG_RS256 && k->alg != LGSP_ALG_ES256) {
            ERR("key %u: algorithm %u unknown", i, k->alg);
        }
    }
    for (i = 0; i < snap->nissuers; i++) {
        const lgsp_snap_issuer_t *s = &snap->issuers[i];
        if (!str_ok(snap, s->iss) || !str_ok(snap, s->audience)
            || !str_ok(snap, s->system_claim))
        {
            ERR("issuer %u: string out of bounds", i);
        }
    }
    return 0;
}

int
lgsp_snapshot_load(lgsp_snapshot_t *snap, const void *base, size_t size,
    char *err, size_t err_size)
{
    const uint8_t              *p = base;
    const lgsp_snap_header_t   *h;
    const lgsp_snap_section_t  *sec;
    uint64_t                    table_end;
    uint8_t                     md[EVP_MAX_MD_SIZE];
    unsigned int                md_len = 0;
    lgsp_snapshot_t             s;

    memset(snap, 0, sizeof(*snap));
    memset(&s, 0, sizeof(s));

    if (base == NULL || size < sizeof(lgsp_snap_header_t)) {
        ERR("%zu bytes: shorter than the header", size);
    }
    if (((uintptr_t) base & 7) != 0) {
        ERR("mapping is not 8-byte aligned");
    }
    h = base;
    if (memcmp(h->magic, LGSP_SNAP_MAGIC, 8) != 0) {
        ERR("not a snapshot (bad magic)");
    }
    if (h->major != LGSP_SNAP_MAJOR) {
        ERR("layout %u.%u: this reader knows major %u only", h->major,
            h->minor, LGSP_SNAP_MAJOR);
    }
    if (h->file_size != size) {
        ERR("header says %llu bytes, file has %zu (truncated?)",
            (unsigned long long) h->file_size, size);
    }
    table_end = sizeof(*h) + (uint64_t) h->nsections * sizeof(*sec);
    if (h->nsections > 4096 || table_end > size) {
        ERR("section table (%u entries) out of bounds", h->nsections);
    }

    if (EVP_Digest(p + table_end, size - table_end, md, &md_len,
                   EVP_sha256(), NULL) != 1
        || md_len != 32)
    {
        ERR("cannot compute SHA-256");
    }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* the fuzzer build skips this one comparison so that mutated inputs
     * reach the structure checks behind it */
    if (memcmp(md, h->body_sha256, 32) != 0) {
        ERR("checksum mismatch");
    }
#endif

    s.base = base;
    s.size = size;
    s.header = h;
    sec = (const lgsp_snap_section_t *) (p + sizeof(*h));

    for (uint32_t i = 0; i < h->nsections; i++) {
        const known_section_t  *k = NULL;
        const void             *at;

        for (size_t j = 0; j < NKNOWN; j++) {
            if (known[j].kind == sec[i].kind) {
                k = &known[j];
                break;
            }
        }
        if (sec[i].offset < table_end || sec[i].offset > size
            || sec[i].size > size - sec[i].offset)
        {
            ERR("section %u (kind %u) out of bounds", i, sec[i].kind);
        }
        if (k == NULL) {
            continue;       /* a newer minor's section: ignored */
        }
        if (sec[i].record_size != k->record_size) {
            ERR("%s: record size %u, expected %u", k->name,
                sec[i].record_size, k->record_size);
        }
        if (k->record_size != 0) {
            if (sec[i].offset % 8 != 0) {
                ERR("%s: offset not 8-byte aligned", k->name);
            }
            if ((uint64_t) sec[i].count * k->record_size != sec[i].size) {
                ERR("%s: %u records of %u bytes do not make %llu bytes",
                    k->name, sec[i].count, k->record_size,
                    (unsigned long long) sec[i].size);
            }
        }
        at = p + sec[i].offset;

#define TAKE(field, nfield, type)                                            \
        if (s.field != NULL) {                                               \
            ERR("%s: section twice", k->name);                               \
        }                                                                    \
        s.field = (const type *) at;                                         \
        s.nfield = sec[i].count;

#define TAKE_IDX(idx)                                                        \
        if (s.idx.slots != NULL) {                                           \
            ERR("%s: section twice", k->name);                               \
        }                                                                    \
        s.idx.slots = at;                                                    \
        s.idx.count = sec[i].count;

        switch (sec[i].kind) {
        case LGSP_SEC_STRINGS:
            if (s.strings != NULL) {
                ERR("%s: section twice", k->name);
            }
            s.strings = at;
            s.strings_size = sec[i].size;
            break;
        case LGSP_SEC_AGENCIES:
            TAKE(agencies, nagencies, lgsp_snap_agency_t);
            break;
        case LGSP_SEC_AGENCY_CODES:
            TAKE(agency_codes, nagency_codes, lgsp_snap_agency_code_t);
            break;
        case LGSP_SEC_SYSTEMS:
            TAKE(systems, nsystems, lgsp_snap_system_t);
            break;
        case LGSP_SEC_CREDENTIALS:
            TAKE(credentials, ncredentials, lgsp_snap_credential_t);
            break;
        case LGSP_SEC_VERSIONS:
            TAKE(versions, nversions, lgsp_snap_version_t);
            break;
        case LGSP_SEC_GRANTS:
            TAKE(grants, ngrants, lgsp_snap_grant_t);
            break;
        case LGSP_SEC_KEYS:
            TAKE(keys, nkeys, lgsp_snap_key_t);
            break;
        case LGSP_SEC_ISSUERS:
            TAKE(issuers, nissuers, lgsp_snap_issuer_t);
            break;
        case LGSP_SEC_IDX_AGENCY_CODE:
            TAKE_IDX(idx_agency_code);
            break;
        case LGSP_SEC_IDX_SYSTEM:
            TAKE_IDX(idx_system);
            break;
        case LGSP_SEC_IDX_SYSTEM_ID:
            TAKE_IDX(idx_system_id);
            break;
        case LGSP_SEC_IDX_CREDENTIAL:
            TAKE_IDX(idx_credential);
            break;
        case LGSP_SEC_IDX_CREDENTIAL_ID:
            TAKE_IDX(idx_credential_id);
            break;
        case LGSP_SEC_IDX_ROUTE:
            TAKE_IDX(idx_route);
            break;
        case LGSP_SEC_IDX_GRANT:
            TAKE_IDX(idx_grant);
            break;
        case LGSP_SEC_IDX_KEY:
            TAKE_IDX(idx_key);
            break;
        case LGSP_SEC_IDX_ISSUER:
            TAKE_IDX(idx_issuer);
            break;
        }
#undef TAKE
#undef TAKE_IDX
    }

    if (s.strings == NULL || s.strings_size == 0) {
        ERR("no strings section");
    }
    if (check_records(&s, err, err_size) != 0) {
        return -1;
    }

#define CHECK_IDX(idx, kind, name, n)                                        \
    if (check_index(&s, kind, name, s.idx.slots, s.idx.count, n, err,        \
                    err_size) != 0)                                          \
    {                                                                        \
        return -1;                                                           \
    }

    CHECK_IDX(idx_agency_code, LGSP_SEC_IDX_AGENCY_CODE, "agency code index",
              s.nagency_codes);
    CHECK_IDX(idx_system, LGSP_SEC_IDX_SYSTEM, "system index", s.nsystems);
    CHECK_IDX(idx_system_id, LGSP_SEC_IDX_SYSTEM_ID, "system id index",
              s.nsystems);
    CHECK_IDX(idx_credential, LGSP_SEC_IDX_CREDENTIAL, "credential index",
              s.ncredentials);
    CHECK_IDX(idx_credential_id, LGSP_SEC_IDX_CREDENTIAL_ID,
              "credential id index", s.ncredentials);
    CHECK_IDX(idx_route, LGSP_SEC_IDX_ROUTE, "route index", s.nversions);
    CHECK_IDX(idx_grant, LGSP_SEC_IDX_GRANT, "grant index", s.ngrants);
    CHECK_IDX(idx_key, LGSP_SEC_IDX_KEY, "key index", s.nkeys);
    CHECK_IDX(idx_issuer, LGSP_SEC_IDX_ISSUER, "issuer index", s.nissuers);
#undef CHECK_IDX

    *snap = s;
    return 0;
}

/* ---- lookups ---------------------------------------------------------- */

/*
 * Linear probing from the hash.  The loader proved that every index has an
 * empty slot, so the walk ends; the bound on steps is for the reader.
 */
#define PROBE(idx, h, rec, match)                                            \
    do {                                                                     \
        uint32_t  mask_, i_;                                                 \
        if ((idx).count == 0) {                                              \
            return NULL;                                                     \
        }                                                                    \
        mask_ = (idx).count - 1;                                             \
        i_ = (h) & mask_;                                                    \
        for (uint32_t n_ = 0; n_ < (idx).count; n_++, i_ = (i_ + 1) & mask_) \
        {                                                                    \
            const lgsp_snap_slot_t *sl_ = &(idx).slots[i_];                  \
            if (sl_->record == 0) {                                          \
                return NULL;                                                 \
            }                                                                \
            if (sl_->hash == (h)) {                                          \
                rec = sl_->record - 1;                                       \
                if (match) {                                                 \
                    return RESULT(rec);                                      \
                }                                                            \
            }                                                                \
        }                                                                    \
        return NULL;                                                         \
    } while (0)

static int
str_eq(const lgsp_snapshot_t *snap, lgsp_snap_str_t s, const char *p,
    size_t len)
{
    return s.len == len && memcmp(snap->strings + s.off, p, len) == 0;
}

const lgsp_snap_version_t *
lgsp_snap_route(const lgsp_snapshot_t *snap, const char *route, size_t len)
{
    uint32_t  h = lgsp_snap_hash(route, len), r;

#define RESULT(r)  (&snap->versions[r])
    PROBE(snap->idx_route, h, r,
          str_eq(snap, snap->versions[r].route, route, len));
#undef RESULT
}

const lgsp_snap_agency_t *
lgsp_snap_agency_by_code(const lgsp_snapshot_t *snap, const char *code,
    size_t len)
{
    uint32_t  h = lgsp_snap_hash(code, len), r;

#define RESULT(r)  (&snap->agencies[snap->agency_codes[r].agency])
    PROBE(snap->idx_agency_code, h, r,
          str_eq(snap, snap->agency_codes[r].code, code, len));
#undef RESULT
}

const lgsp_snap_system_t *
lgsp_snap_system(const lgsp_snapshot_t *snap, const char *ident, size_t len)
{
    uint32_t  h = lgsp_snap_hash(ident, len), r;

#define RESULT(r)  (&snap->systems[r])
    PROBE(snap->idx_system, h, r,
          str_eq(snap, snap->systems[r].ident, ident, len));
#undef RESULT
}

const lgsp_snap_system_t *
lgsp_snap_system_by_id(const lgsp_snapshot_t *snap, uint64_t id)
{
    uint8_t   key[8];
    uint32_t  h, r;

    put_u64(key, id);
    h = lgsp_snap_hash(key, 8);

#define RESULT(r)  (&snap->systems[r])
    PROBE(snap->idx_system_id, h, r, snap->systems[r].id == id);
#undef RESULT
}

const lgsp_snap_credential_t *
lgsp_snap_credential(const lgsp_snapshot_t *snap, const char *client_id,
    size_t len)
{
    uint32_t  h = lgsp_snap_hash(client_id, len), r;

#define RESULT(r)  (&snap->credentials[r])
    PROBE(snap->idx_credential, h, r,
          str_eq(snap, snap->credentials[r].client_id, client_id, len));
#undef RESULT
}

const lgsp_snap_credential_t *
lgsp_snap_credential_by_id(const lgsp_snapshot_t *snap, uint64_t id)
{
    uint8_t   key[8];
    uint32_t  h, r;

    put_u64(key, id);
    h = lgsp_snap_hash(key, 8);

#define RESULT(r)  (&snap->credentials[r])
    PROBE(snap->idx_credential_id, h, r, snap->credentials[r].id == id);
#undef RESULT
}

const lgsp_snap_grant_t *
lgsp_snap_grant(const lgsp_snapshot_t *snap, uint64_t system_id,
    uint64_t version_id, uint32_t env)
{
    uint8_t   key[20];
    uint32_t  h, r;

    put_u64(key, system_id);
    put_u64(key + 8, version_id);
    put_u32(key + 16, env);
    h = lgsp_snap_hash(key, 20);

#define RESULT(r)  (&snap->grants[r])
    PROBE(snap->idx_grant, h, r,
          snap->systems[snap->grants[r].consumer].id == system_id
          && snap->versions[snap->grants[r].version].id == version_id
          && snap->grants[r].env == env);
#undef RESULT
}

const lgsp_snap_key_t *
lgsp_snap_key(const lgsp_snapshot_t *snap, const char *kid, size_t len)
{
    uint32_t  h = lgsp_snap_hash(kid, len), r;

#define RESULT(r)  (&snap->keys[r])
    PROBE(snap->idx_key, h, r, str_eq(snap, snap->keys[r].kid, kid, len));
#undef RESULT
}

const lgsp_snap_key_t *
lgsp_snap_key_issued(const lgsp_snapshot_t *snap, const char *kid,
    size_t len, const char *iss, size_t iss_len, uint32_t env)
{
    uint32_t  h = lgsp_snap_hash(kid, len), r;

    if (env > LGSP_ENV_SANDBOX) {
        return NULL;
    }

#define RESULT(r)  (&snap->keys[r])
    PROBE(snap->idx_key, h, r,
          str_eq(snap, snap->keys[r].kid, kid, len)
          && snap->keys[r].issuer < snap->nissuers
          && str_eq(snap, snap->issuers[snap->keys[r].issuer].iss, iss,
                    iss_len)
          && (snap->issuers[snap->keys[r].issuer].env_mask
              & LGSP_ENV_BIT(env)));
#undef RESULT
}

const lgsp_snap_key_t *
lgsp_snap_key_of_issuer(const lgsp_snapshot_t *snap, const char *kid,
    size_t len, uint64_t issuer_id)
{
    uint32_t  h = lgsp_snap_hash(kid, len), r;

#define RESULT(r)  (&snap->keys[r])
    PROBE(snap->idx_key, h, r,
          str_eq(snap, snap->keys[r].kid, kid, len)
          && snap->keys[r].issuer < snap->nissuers
          && snap->issuers[snap->keys[r].issuer].id == issuer_id);
#undef RESULT
}

const lgsp_snap_issuer_t *
lgsp_snap_issuer(const lgsp_snapshot_t *snap, const char *iss, size_t len)
{
    uint32_t  h = lgsp_snap_hash(iss, len), r;

#define RESULT(r)  (&snap->issuers[r])
    PROBE(snap->idx_issuer, h, r,
          str_eq(snap, snap->issuers[r].iss, iss, len));
#undef RESULT
}

const lgsp_snap_issuer_t *
lgsp_snap_issuer_env(const lgsp_snapshot_t *snap, const char *iss,
    size_t len, uint32_t env)
{
    uint32_t  h = lgsp_snap_hash(iss, len), r;

    if (env > LGSP_ENV_SANDBOX) {
        return NULL;
    }

#define RESULT(r)  (&snap->issuers[r])
    PROBE(snap->idx_issuer, h, r,
          str_eq(snap, snap->issuers[r].iss, iss, len)
          && (snap->issuers[r].env_mask & LGSP_ENV_BIT(env)));
#undef RESULT
}

uint64_t
lgsp_snap_control_generation(const void *base, size_t size)
{
    const lgsp_snap_control_t  *c = base;

    if (base == NULL || size < sizeof(*c)
        || memcmp(c->magic, LGSP_SNAP_CONTROL_MAGIC, 8) != 0)
    {
        return 0;
    }
    return __atomic_load_n(&c->generation, __ATOMIC_ACQUIRE);
}
