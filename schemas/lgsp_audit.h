/*
 * The audit record and the spool segment that carries it from an nginx
 * worker to lgspd (SPEC §9, DESIGN "Audit without loss").
 *
 * Written by the module (ngx_lgsp_module/src/lgsp_spool.c) with plain
 * memory copies into a MAP_SHARED file, read by lgspd
 * (control-plane/lgspd/audit_ingest.c).  Both include this file;
 * docs/audit.md explains it.  Integers are host-endian (the gateway and the
 * control plane run on one host).
 *
 * A segment is a header page then slots, back to back.  A slot holds one
 * record packed: the record's fixed part (integers and string lengths,
 * LGSP_AUDIT_FIXED bytes) then only the bytes of its strings, in field
 * order, padded to 8; a typical record takes ~240 bytes instead of the
 * 700 of lgsp_audit_record_t (fewer pages for the worker to fault in, less
 * to write back and to read).  A slot is present once its commit word
 * equals LGSP_AUDIT_COMMIT: the writer fills the slot, then stores the
 * commit word with release ordering, so a reader that loads the commit
 * word with acquire ordering sees a whole slot (and its size) or none.
 * Slots are committed strictly in order: the first absent slot ends the
 * segment's records.
 */

#ifndef LGSP_AUDIT_H
#define LGSP_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define LGSP_AUDIT_SEG_MAGIC     "LGSPAUD1"   /* 8 bytes, no NUL */
#define LGSP_AUDIT_SEG_VERSION   2            /* 2: packed slots */
#define LGSP_AUDIT_HEADER_SIZE   4096         /* one page: slots align */
#define LGSP_AUDIT_SEG_SIZE      (4u << 20)   /* default segment: 4 MB */
#define LGSP_AUDIT_COMMIT        0x434f4d31u  /* "COM1" */

/* field capacities, in bytes (no NUL: each field has its own length) */
#define LGSP_AUDIT_TXN_ID        32    /* 128-bit id in hex */
#define LGSP_AUDIT_REQUEST_ID    64    /* the client's own request id */
#define LGSP_AUDIT_ORG           32    /* identity code, e.g. H26.107 */
#define LGSP_AUDIT_SYSTEM        64    /* system id */
#define LGSP_AUDIT_CLIENT_ID     64
#define LGSP_AUDIT_SERVICE       64
#define LGSP_AUDIT_VERSION       32
#define LGSP_AUDIT_METHOD        16
#define LGSP_AUDIT_ROUTE         128   /* "service/version", never a query */
#define LGSP_AUDIT_REASON        32    /* denial reason code, "" if allowed */

/* result, as in the gateway's own responses */
#define LGSP_AUDIT_RESULT_OK     0     /* "00" */
#define LGSP_AUDIT_RESULT_FAIL   1     /* "01" */

/* environments: the values of lgsp_snapshot_format.h */
#define LGSP_AUDIT_ENV_PRODUCTION 0
#define LGSP_AUDIT_ENV_SANDBOX    1

/*
 * One exchange.  Strings are bytes [0, len) of their field, not
 * NUL-terminated; fill them with lgsp_audit_set() (lgsp_spool.h), which
 * truncates and keeps only printable ASCII.
 */
typedef struct {
    int64_t   start_ms;              /* request start, UTC, ms since epoch */
    int64_t   duration_us;           /* whole request */
    int64_t   upstream_duration_us;  /* -1: no upstream was called */
    uint64_t  bytes_in;              /* request bytes, as nginx counts them */
    uint64_t  bytes_out;             /* response bytes */
    uint64_t  generation;            /* snapshot generation that decided */
    uint16_t  status;                /* HTTP status sent to the consumer */
    uint16_t  upstream_status;       /* 0: no upstream response */
    uint8_t   result;                /* LGSP_AUDIT_RESULT_* */
    uint8_t   environment;           /* LGSP_AUDIT_ENV_* */

    uint8_t   txn_id_len;
    uint8_t   request_id_len;
    uint8_t   consumer_org_len;
    uint8_t   consumer_system_len;
    uint8_t   client_id_len;
    uint8_t   provider_org_len;
    uint8_t   provider_system_len;
    uint8_t   service_len;
    uint8_t   version_len;
    uint8_t   method_len;
    uint8_t   route_len;
    uint8_t   reason_len;
    uint8_t   pad[6];

    char      txn_id[LGSP_AUDIT_TXN_ID];
    char      request_id[LGSP_AUDIT_REQUEST_ID];
    char      consumer_org[LGSP_AUDIT_ORG];
    char      consumer_system[LGSP_AUDIT_SYSTEM];
    char      client_id[LGSP_AUDIT_CLIENT_ID];
    char      provider_org[LGSP_AUDIT_ORG];
    char      provider_system[LGSP_AUDIT_SYSTEM];
    char      service[LGSP_AUDIT_SERVICE];
    char      version[LGSP_AUDIT_VERSION];
    char      method[LGSP_AUDIT_METHOD];
    char      route[LGSP_AUDIT_ROUTE];
    char      reason[LGSP_AUDIT_REASON];
} lgsp_audit_record_t;

/* the record's integers and lengths: what a slot copies whole */
#define LGSP_AUDIT_FIXED  offsetof(lgsp_audit_record_t, txn_id)

/*
 * A slot: the commit word first, written last; `size` is the whole slot,
 * this header included, a multiple of 8.  The fixed part of the record
 * and then its strings follow.
 */
typedef struct {
    uint32_t  commit;                /* LGSP_AUDIT_COMMIT once complete */
    uint32_t  size;
} lgsp_audit_slot_t;

/* the largest slot: every string at its capacity */
#define LGSP_AUDIT_SLOT_MAX                                                \
    (sizeof(lgsp_audit_slot_t) + sizeof(lgsp_audit_record_t))

/*
 * The segment header.  `sealed` is set (release) by the writer once it will
 * write no more, or by lgspd when it takes over the segment of a dead
 * owner; `committed` is the writer's count of committed slots (a hint: the
 * commit words are the truth); `ingested` is lgspd's position, written
 * after the audit.db transaction that recorded it commits (a hint for the
 * backlog: audit.db holds the truth).
 */
typedef struct {
    char      magic[8];              /* LGSP_AUDIT_SEG_MAGIC */
    uint32_t  version;               /* LGSP_AUDIT_SEG_VERSION */
    uint32_t  header_size;           /* LGSP_AUDIT_HEADER_SIZE */
    uint32_t  fixed_size;            /* LGSP_AUDIT_FIXED */
    uint32_t  capacity;              /* bytes of slots: the file's size */
    int32_t   owner_pid;             /* the writing worker */
    uint32_t  sealed;                /* 0 open, 1 sealed */
    uint64_t  committed;             /* records, not bytes */
    uint64_t  ingested;              /* records */
    int64_t   created_us;            /* UTC, µs */
    uint64_t  sequence;              /* per writer: 0, 1, 2... */
} lgsp_audit_seg_header_t;

_Static_assert(sizeof(lgsp_audit_seg_header_t) <= LGSP_AUDIT_HEADER_SIZE,
               "audit header fits its page");
_Static_assert(LGSP_AUDIT_FIXED % 8 == 0 && sizeof(lgsp_audit_slot_t) == 8,
               "audit slots stay 8-byte aligned");

#endif /* LGSP_AUDIT_H */
