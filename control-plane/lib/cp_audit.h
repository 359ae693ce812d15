#ifndef CP_AUDIT_H
#define CP_AUDIT_H

/*
 * audit.db (SPEC §9): the stored record, its canonical bytes and hash
 * chain, seals and their verification.  lgspd (ingest, daily seal,
 * archive) and lgspctl (seal, verify, list, export) share it.
 */

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "cp_home.h"
#include "lgsp_audit.h"

#define CP_AUDIT_HASH_LEN  SHA256_DIGEST_LENGTH

/* the stored columns, in chain (canonical) order; hash is not one of them */
enum {
    CP_AC_SEQ, CP_AC_TXN_ID, CP_AC_REQUEST_ID, CP_AC_START_MS,
    CP_AC_DURATION_US, CP_AC_UPSTREAM_DURATION_US, CP_AC_CONSUMER_ORG,
    CP_AC_CONSUMER_SYSTEM, CP_AC_CLIENT_ID, CP_AC_PROVIDER_ORG,
    CP_AC_PROVIDER_SYSTEM, CP_AC_SERVICE, CP_AC_VERSION, CP_AC_ENVIRONMENT,
    CP_AC_METHOD, CP_AC_ROUTE, CP_AC_STATUS, CP_AC_UPSTREAM_STATUS,
    CP_AC_BYTES_IN, CP_AC_BYTES_OUT, CP_AC_RESULT, CP_AC_REASON,
    CP_AC_GENERATION, CP_AC_INGESTED_MS,
    CP_AUDIT_NCOLS
};

#define CP_AUDIT_COLUMNS                                                   \
    "seq, transaction_id, request_id, start_ms, duration_us,"              \
    " upstream_duration_us, consumer_org, consumer_system, client_id,"     \
    " provider_org, provider_system, service, version, environment,"       \
    " method, route, status, upstream_status, bytes_in, bytes_out,"        \
    " result, reason, generation, ingested_ms"

typedef struct {
    const char  *name;
    int          is_text;
} cp_audit_col_t;

extern const cp_audit_col_t cp_audit_cols[CP_AUDIT_NCOLS];

/* One value: text (s, len; not NUL-terminated) or integer (i). */
typedef struct {
    const char  *s;
    size_t       len;
    int64_t      i;
} cp_audit_val_t;

typedef cp_audit_val_t cp_audit_row_t[CP_AUDIT_NCOLS];

/* A spool record as a row; strings point into rec. */
void cp_audit_row_from_record(cp_audit_row_t row,
                              const lgsp_audit_record_t *rec, int64_t seq,
                              int64_t ingested_ms);

/* A row read by "SELECT " CP_AUDIT_COLUMNS " ..." from column first;
 * strings point into the statement (valid until its next step). */
void cp_audit_row_from_stmt(cp_audit_row_t row, sqlite3_stmt *st,
                            int first);

/* Bind the row to parameters first..first+NCOLS-1. */
void cp_audit_row_bind(sqlite3_stmt *st, const cp_audit_row_t row,
                       int first);

/* hash = SHA-256(prev || canonical bytes of row). */
void cp_audit_hash(const unsigned char prev[CP_AUDIT_HASH_LEN],
                   const cp_audit_row_t row,
                   unsigned char out[CP_AUDIT_HASH_LEN]);

/* Open (and create when asked) home/audit.db at its current layout. */
sqlite3 *cp_audit_open(const cp_home_t *home, int create);

typedef struct {
    sqlite3     *registry;          /* revocations it knows of; may be NULL */
    const char  *keys_dir;          /* the pinned keys: the only trust */
    const char  *archive_dir;       /* archive files and the checkpoint */
    int64_t      now_ms;
    int64_t      seal_interval_ms;  /* audit_seal_interval */
    int          retention_days;    /* audit_retention_days */
} cp_audit_verify_opts_t;

typedef struct {
    int64_t  records, seals;
    int64_t  unsealed;              /* records after the last seal */
    int64_t  unsealed_age_ms;       /* since the oldest of them came */
} cp_audit_verify_res_t;

/*
 * Recompute the chain from the first archived record through the hot
 * rows; check the seals of the checkpoint (linked, each signed by a key
 * pinned in keys/, each head on the chain) and that audit.db's seals are
 * the same; that no archived day inside retention is gone; that no
 * record is unsealed for more than twice the seal interval.  0: all good.
 * -1: the first problem in why (names the record, seal or day).
 */
int cp_audit_verify(sqlite3 *adb, const cp_audit_verify_opts_t *o,
                    cp_audit_verify_res_t *res, char *why, size_t why_size);

/* p[0..7] = v, big-endian: how integers enter the canonical bytes */
void cp_audit_put_be64(unsigned char *p, uint64_t v);

/* Sign msg with SHA-256 and pkey (RSA PKCS#1 v1.5 or ECDSA); the
 * signature is OPENSSL_malloc'd. */
int cp_audit_sign(EVP_PKEY *pkey, const unsigned char *msg, size_t len,
                  unsigned char **sig, size_t *sig_len);

/* 1 when sig is a good signature of msg by the SubjectPublicKeyInfo der. */
int cp_audit_check_sig(const unsigned char *der, size_t der_len,
                       const unsigned char *msg, size_t len,
                       const unsigned char *sig, size_t sig_len);

/* The registry's active signing key: kid, alg and its private half. */
int cp_audit_active_key(sqlite3 *registry, const char *keys_dir, char *kid,
                        size_t kid_size, char *alg, size_t alg_size,
                        EVP_PKEY **pkey);

/* "production" | "sandbox" */
const char *cp_audit_env_name(unsigned env);

#endif /* CP_AUDIT_H */
