/*
 * The binary snapshot: the registry compiled for the data path.
 * Written by lgspd (control-plane/lib/cp_snapshot.c), mapped read-only by
 * every nginx worker (ngx_lgsp_module/src/lgsp_snapshot.c).  Both include
 * this file; docs/snapshot-format.md explains it.
 *
 * File = header, section table, then sections.  All integers are
 * little-endian (the gateway and the control plane run on one host), all
 * records are fixed-size and 8-byte aligned.  Records point at each other
 * by record index within this snapshot (LGSP_SNAP_NONE for none) and carry
 * their registry id (never reused) for caches, rate limits and audit.
 *
 * Readers refuse another major; they ignore section kinds they do not know
 * (a newer minor), so lgspd and the module can be upgraded one at a time.
 */

#ifndef LGSP_SNAPSHOT_FORMAT_H
#define LGSP_SNAPSHOT_FORMAT_H

#include <stdint.h>

#define LGSP_SNAP_MAGIC        "LGSPSNP1"   /* 8 bytes, no NUL */
#define LGSP_SNAP_MAJOR        1
#define LGSP_SNAP_MINOR        0
#define LGSP_SNAP_NONE         0xffffffffu

/* environments, as stored in records and as bits in masks */
#define LGSP_ENV_PRODUCTION    0
#define LGSP_ENV_SANDBOX       1
#define LGSP_ENV_BIT(env)      (1u << (env))

/* section kinds */
enum {
    LGSP_SEC_STRINGS = 1,        /* bytes: every string, NUL-terminated */
    LGSP_SEC_AGENCIES,           /* lgsp_snap_agency_t[] */
    LGSP_SEC_AGENCY_CODES,       /* lgsp_snap_agency_code_t[]: codes+aliases */
    LGSP_SEC_SYSTEMS,            /* lgsp_snap_system_t[] */
    LGSP_SEC_CREDENTIALS,        /* lgsp_snap_credential_t[] (active only) */
    LGSP_SEC_VERSIONS,           /* lgsp_snap_version_t[] */
    LGSP_SEC_GRANTS,             /* lgsp_snap_grant_t[] (not revoked) */
    LGSP_SEC_KEYS,               /* lgsp_snap_key_t[] (not revoked) */
    LGSP_SEC_ISSUERS,            /* lgsp_snap_issuer_t[] */
    /* hash indexes: lgsp_snap_slot_t[] (record_size 8, count = slots) */
    LGSP_SEC_IDX_AGENCY_CODE = 32, /* code -> agency_codes */
    LGSP_SEC_IDX_SYSTEM,         /* ident -> systems */
    LGSP_SEC_IDX_SYSTEM_ID,      /* id -> systems */
    LGSP_SEC_IDX_CREDENTIAL,     /* client_id -> credentials */
    LGSP_SEC_IDX_CREDENTIAL_ID,  /* id -> credentials */
    LGSP_SEC_IDX_ROUTE,          /* "service/version" -> versions */
    LGSP_SEC_IDX_GRANT,          /* (system id, version id, env) -> grants */
    LGSP_SEC_IDX_KEY,            /* kid -> keys */
    LGSP_SEC_IDX_ISSUER,         /* iss -> issuers */
};

typedef struct {
    uint32_t   off;              /* into LGSP_SEC_STRINGS */
    uint32_t   len;              /* bytes, without the NUL */
} lgsp_snap_str_t;

typedef struct {
    uint32_t   kind;
    uint32_t   record_size;      /* 0 for byte sections */
    uint64_t   offset;           /* from the start of the file */
    uint64_t   size;             /* bytes */
    uint32_t   count;            /* records (or index slots) */
    uint32_t   reserved;
} lgsp_snap_section_t;

typedef struct {
    char       magic[8];
    uint16_t   major;
    uint16_t   minor;
    uint32_t   nsections;
    uint64_t   generation;
    int64_t    created_ms;       /* Unix ms, UTC */
    uint64_t   file_size;
    uint8_t    body_sha256[32];  /* of bytes [sizeof header + table, end) */
    /* lgsp_snap_section_t sections[nsections] follows */
} lgsp_snap_header_t;

/* agencies */
#define LGSP_AGENCY_CLOSED     0x01

typedef struct {
    uint64_t         id;
    lgsp_snap_str_t  code;       /* canonical identity code */
    lgsp_snap_str_t  name;
    uint32_t         flags;
    uint32_t         parent;     /* agency index or NONE */
} lgsp_snap_agency_t;

typedef struct {
    lgsp_snap_str_t  code;       /* canonical, alias or former code */
    uint32_t         agency;     /* agency index */
    uint32_t         reserved;
} lgsp_snap_agency_code_t;

/* systems */
#define LGSP_SYSTEM_SUSPENDED  0x01
#define LGSP_SYSTEM_DOWN       0x02   /* health says level 1 is down */

typedef struct {
    uint64_t         id;
    lgsp_snap_str_t  ident;      /* [a-z][a-z0-9-]{1,63} */
    uint32_t         agency;     /* agency index */
    uint32_t         flags;
} lgsp_snap_system_t;

typedef struct {
    uint64_t         id;
    lgsp_snap_str_t  client_id;
    uint32_t         system;     /* system index */
    uint32_t         env;
} lgsp_snap_credential_t;

/* service versions: one record per version, the service's fields folded in */
#define LGSP_VERSION_SANDBOX      0x0001   /* callable in sandbox */
#define LGSP_VERSION_PRODUCTION   0x0002   /* callable in production */
#define LGSP_VERSION_DEPRECATED   0x0004
#define LGSP_VERSION_RETIRED      0x0008
#define LGSP_VERSION_SUSPENDED    0x0010   /* version or its service */
#define LGSP_VERSION_FAIL_FAST    0x0020   /* 503 at once while down */
#define LGSP_VERSION_DOWN         0x0040   /* level 2 health is down */

/* methods bitmask */
#define LGSP_METHOD_GET      0x01
#define LGSP_METHOD_HEAD     0x02
#define LGSP_METHOD_POST     0x04
#define LGSP_METHOD_PUT      0x08
#define LGSP_METHOD_PATCH    0x10
#define LGSP_METHOD_DELETE   0x20
#define LGSP_METHOD_OPTIONS  0x40

typedef struct {
    lgsp_snap_str_t  url;        /* as registered: scheme://host[:port]/path */
    lgsp_snap_str_t  host;       /* for the Host header and TLS SNI */
    lgsp_snap_str_t  path;       /* prefix, "" or starting with '/' */
    uint8_t          addr[16];   /* resolved by lgspd; network order */
    uint8_t          family;     /* 4 or 6; 0: unresolved (502) */
    uint8_t          tls;
    uint16_t         port;
    uint32_t         reserved;
} lgsp_snap_upstream_t;

typedef struct {
    uint64_t             id;                 /* versions.id */
    uint64_t             service_id;
    lgsp_snap_str_t      service;            /* code */
    lgsp_snap_str_t      version;
    lgsp_snap_str_t      route;              /* "service/version" */
    uint32_t             provider;           /* system index */
    uint32_t             flags;
    uint32_t             methods;
    uint32_t             timeout_ms;
    uint64_t             body_limit;         /* bytes */
    lgsp_snap_upstream_t upstream[2];        /* by environment */
    lgsp_snap_str_t      upstream_header_name;   /* "" when none */
    lgsp_snap_str_t      upstream_header_value;  /* a secret */
    int64_t              deprecated_at;      /* Unix s, 0 none */
    int64_t              sunset_at;          /* Unix s, 0 none */
    int64_t              end_at;             /* the service ends, 0 none */
    lgsp_snap_str_t      successor;          /* "service/version" or "" */
    uint32_t             rate;               /* version cap, req/s; 0 none */
    uint32_t             burst;
} lgsp_snap_version_t;

#define LGSP_GRANT_SUSPENDED   0x01

typedef struct {
    uint64_t         id;
    uint32_t         consumer;   /* system index */
    uint32_t         version;    /* version index */
    uint32_t         env;
    uint32_t         flags;
    uint32_t         rate;       /* req/s */
    uint32_t         burst;
    uint32_t         quota;      /* per city day, 0 none */
    uint32_t         reserved;
} lgsp_snap_grant_t;

/* signing keys: the platform's and trusted issuers' */
#define LGSP_ALG_RS256         1
#define LGSP_ALG_ES256         2

typedef struct {
    uint64_t         id;
    lgsp_snap_str_t  kid;
    lgsp_snap_str_t  der;        /* SubjectPublicKeyInfo, in STRINGS */
    uint32_t         alg;
    uint32_t         issuer;     /* issuer index */
    int64_t          verify_until;  /* Unix s, 0 = no end */
} lgsp_snap_key_t;

#define LGSP_ISSUER_PLATFORM   0x01   /* audience is lgsp:<environment> */

typedef struct {
    uint64_t         id;         /* issuers.id, 0 for the platform */
    lgsp_snap_str_t  iss;
    lgsp_snap_str_t  audience;   /* external issuers */
    lgsp_snap_str_t  system_claim;
    uint32_t         env_mask;   /* LGSP_ENV_BIT()s it may be used in */
    uint32_t         flags;
} lgsp_snap_issuer_t;

/*
 * A hash index: `count` slots, a power of two, linear probing.  A slot is
 * (hash32, record index + 1); 0 in record is an empty slot.  Every index
 * keeps at least one empty slot so a probe always ends.  The hash is
 * lgsp_snap_hash() (FNV-1a 64, folded) over the key bytes; for
 * LGSP_SEC_IDX_GRANT the key is the 20 bytes (system id u64, version id
 * u64, env u32) little-endian; for the *_ID indexes the 8-byte id.
 */
typedef struct {
    uint32_t   hash;
    uint32_t   record;           /* index + 1, 0 = empty */
} lgsp_snap_slot_t;

/*
 * snapshots/current: the control file every worker keeps mapped.  lgspd
 * creates it once at its full size and never truncates it (a worker would
 * take SIGBUS); afterwards it only stores a new generation with one atomic
 * 64-bit store, after snap.<generation> has been renamed into place.
 * Workers read generation with an atomic load.  published_ms is written
 * before the generation and is informational only.
 */
#define LGSP_SNAP_CONTROL_MAGIC  "LGSPGEN1"   /* 8 bytes, no NUL */
#define LGSP_SNAP_CONTROL_SIZE   64

typedef struct {
    char       magic[8];
    uint64_t   generation;       /* 0: nothing published yet */
    int64_t    published_ms;     /* Unix ms, UTC */
    uint64_t   reserved[5];
} lgsp_snap_control_t;

#endif /* LGSP_SNAPSHOT_FORMAT_H */
