/* audit.db: rows, canonical bytes, the hash chain, seals. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cp_audit.h"
#include "cp_audit_archive.h"
#include "cp_keys.h"
#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_audit_migrations.h"

const cp_audit_col_t cp_audit_cols[CP_AUDIT_NCOLS] = {
    [CP_AC_SEQ]                  = { "seq", 0 },
    [CP_AC_TXN_ID]               = { "transaction_id", 1 },
    [CP_AC_REQUEST_ID]           = { "request_id", 1 },
    [CP_AC_START_MS]             = { "start_ms", 0 },
    [CP_AC_DURATION_US]          = { "duration_us", 0 },
    [CP_AC_UPSTREAM_DURATION_US] = { "upstream_duration_us", 0 },
    [CP_AC_CONSUMER_ORG]         = { "consumer_org", 1 },
    [CP_AC_CONSUMER_SYSTEM]      = { "consumer_system", 1 },
    [CP_AC_CLIENT_ID]            = { "client_id", 1 },
    [CP_AC_PROVIDER_ORG]         = { "provider_org", 1 },
    [CP_AC_PROVIDER_SYSTEM]      = { "provider_system", 1 },
    [CP_AC_SERVICE]              = { "service", 1 },
    [CP_AC_VERSION]              = { "version", 1 },
    [CP_AC_ENVIRONMENT]          = { "environment", 1 },
    [CP_AC_METHOD]               = { "method", 1 },
    [CP_AC_ROUTE]                = { "route", 1 },
    [CP_AC_STATUS]               = { "status", 0 },
    [CP_AC_UPSTREAM_STATUS]      = { "upstream_status", 0 },
    [CP_AC_BYTES_IN]             = { "bytes_in", 0 },
    [CP_AC_BYTES_OUT]            = { "bytes_out", 0 },
    [CP_AC_RESULT]               = { "result", 1 },
    [CP_AC_REASON]               = { "reason", 1 },
    [CP_AC_GENERATION]           = { "generation", 0 },
    [CP_AC_INGESTED_MS]          = { "ingested_ms", 0 },
};

const char *
cp_audit_env_name(unsigned env)
{
    return env == LGSP_AUDIT_ENV_SANDBOX ? "sandbox" : "production";
}

#define TEXT(col, field)                                                   \
    row[col].s = rec->field;                                               \
    row[col].len = rec->field##_len <= sizeof(rec->field)                  \
                   ? rec->field##_len : sizeof(rec->field)

void
cp_audit_row_from_record(cp_audit_row_t row, const lgsp_audit_record_t *rec,
                         int64_t seq, int64_t ingested_ms)
{
    memset(row, 0, sizeof(cp_audit_row_t));
    row[CP_AC_SEQ].i = seq;
    TEXT(CP_AC_TXN_ID, txn_id);
    TEXT(CP_AC_REQUEST_ID, request_id);
    row[CP_AC_START_MS].i = rec->start_ms;
    row[CP_AC_DURATION_US].i = rec->duration_us;
    row[CP_AC_UPSTREAM_DURATION_US].i = rec->upstream_duration_us;
    TEXT(CP_AC_CONSUMER_ORG, consumer_org);
    TEXT(CP_AC_CONSUMER_SYSTEM, consumer_system);
    TEXT(CP_AC_CLIENT_ID, client_id);
    TEXT(CP_AC_PROVIDER_ORG, provider_org);
    TEXT(CP_AC_PROVIDER_SYSTEM, provider_system);
    TEXT(CP_AC_SERVICE, service);
    TEXT(CP_AC_VERSION, version);
    row[CP_AC_ENVIRONMENT].s = cp_audit_env_name(rec->environment);
    row[CP_AC_ENVIRONMENT].len = strlen(row[CP_AC_ENVIRONMENT].s);
    TEXT(CP_AC_METHOD, method);
    TEXT(CP_AC_ROUTE, route);
    row[CP_AC_STATUS].i = rec->status;
    row[CP_AC_UPSTREAM_STATUS].i = rec->upstream_status;
    /* bytes fit an int64 by far; the cast keeps SQLite's signed type */
    row[CP_AC_BYTES_IN].i = (int64_t) rec->bytes_in;
    row[CP_AC_BYTES_OUT].i = (int64_t) rec->bytes_out;
    row[CP_AC_RESULT].s = rec->result == LGSP_AUDIT_RESULT_OK ? "00" : "01";
    row[CP_AC_RESULT].len = 2;
    TEXT(CP_AC_REASON, reason);
    row[CP_AC_GENERATION].i = (int64_t) rec->generation;
    row[CP_AC_INGESTED_MS].i = ingested_ms;
}

#undef TEXT

void
cp_audit_row_from_stmt(cp_audit_row_t row, sqlite3_stmt *st, int first)
{
    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            const unsigned char *s = sqlite3_column_text(st, first + c);
            row[c].s = s ? (const char *) s : "";
            row[c].len = (size_t) sqlite3_column_bytes(st, first + c);
            row[c].i = 0;
        } else {
            row[c].s = NULL;
            row[c].len = 0;
            row[c].i = sqlite3_column_int64(st, first + c);
        }
    }
}

void
cp_audit_row_bind(sqlite3_stmt *st, const cp_audit_row_t row, int first)
{
    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            sqlite3_bind_text(st, first + c, row[c].s, (int) row[c].len,
                              SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_int64(st, first + c, row[c].i);
        }
    }
}

void
cp_audit_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

/*
 * Canonical bytes: each column in order, an integer as 8 bytes big-endian
 * (two's complement), a text as its length in 4 bytes big-endian then its
 * bytes.  Unambiguous, and independent of how SQLite or JSON store them.
 */
void
cp_audit_hash(const unsigned char prev[CP_AUDIT_HASH_LEN],
              const cp_audit_row_t row, unsigned char out[CP_AUDIT_HASH_LEN])
{
    /* every text of a spool record is under 256 bytes; a longer one can
     * only come from an edited database row, and hashes all the same */
    unsigned char  stack[8192], *buf = stack, *p;
    size_t         need = CP_AUDIT_HASH_LEN;

    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        need += cp_audit_cols[c].is_text ? 4 + row[c].len : 8;
    }
    if (need > sizeof(stack)) {
        buf = malloc(need);
        if (buf == NULL) {
            /* no memory: a hash of nothing, which verify reports */
            memset(out, 0, CP_AUDIT_HASH_LEN);
            return;
        }
    }
    p = buf;
    memcpy(p, prev, CP_AUDIT_HASH_LEN);
    p += CP_AUDIT_HASH_LEN;
    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            *p++ = (unsigned char) (row[c].len >> 24);
            *p++ = (unsigned char) (row[c].len >> 16);
            *p++ = (unsigned char) (row[c].len >> 8);
            *p++ = (unsigned char) row[c].len;
            if (row[c].len > 0) {
                memcpy(p, row[c].s, row[c].len);
            }
            p += row[c].len;
        } else {
            cp_audit_put_be64(p, (uint64_t) row[c].i);
            p += 8;
        }
    }
    SHA256(buf, (size_t) (p - buf), out);
    if (buf != stack) {
        free(buf);
    }
}

sqlite3 *
cp_audit_open(const cp_home_t *home, int create)
{
    char         path[PATH_MAX + 32];
    sqlite3     *db;
    const char  *why;

    if (cp_home_path(home, "audit.db", path, sizeof(path)) != 0) {
        cp_err("LGSP_HOME: path too long");
        return NULL;
    }
    if (!create && access(path, F_OK) != 0) {
        cp_err("%s: no audit log; run \"lgspctl init\" first", path);
        return NULL;
    }
    db = cp_db_open(path, create);
    if (db == NULL) {
        return NULL;
    }
    if (cp_db_migrate_list(db, lgsp_audit_migrations,
                           (int) LGSP_AUDIT_MIGRATIONS_N, &why) != 0)
    {
        cp_err("%s: %s", path, why);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int
cp_audit_sign(EVP_PKEY *pkey, const unsigned char *msg, size_t len,
              unsigned char **sig, size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int         rc = -1;

    *sig = NULL;
    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(ctx, NULL, sig_len, msg, len) != 1)
    {
        goto done;
    }
    *sig = OPENSSL_malloc(*sig_len);
    if (*sig == NULL || EVP_DigestSign(ctx, *sig, sig_len, msg, len) != 1) {
        OPENSSL_free(*sig);
        *sig = NULL;
        goto done;
    }
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
cp_audit_check_sig(const unsigned char *der, size_t der_len,
                   const unsigned char *msg, size_t len,
                   const unsigned char *sig, size_t sig_len)
{
    const unsigned char *p = der;
    EVP_PKEY            *pkey = d2i_PUBKEY(NULL, &p, (long) der_len);
    EVP_MD_CTX          *ctx;
    int                  ok = 0;

    if (pkey == NULL) {
        return 0;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx != NULL
        && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) == 1
        && EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1)
    {
        ok = 1;
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return ok;
}

int
cp_audit_active_key(sqlite3 *registry, const char *keys_dir, char *kid,
                    size_t kid_size, char *alg, size_t alg_size,
                    EVP_PKEY **pkey)
{
    sqlite3_stmt *st;
    int           rc = -1;

    st = cp_db_prepare(registry,
                       "SELECT kid, alg FROM signing_keys"
                       " WHERE state = 'active' ORDER BY id DESC LIMIT 1");
    if (st == NULL) {
        return -1;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        cp_err("audit seal: no active signing key in the registry");
        goto done;
    }
    if (cp_path(kid, kid_size, "%s", sqlite3_column_text(st, 0)) != 0
        || cp_path(alg, alg_size, "%s", sqlite3_column_text(st, 1)) != 0)
    {
        cp_err("audit seal: bad key row");
        goto done;
    }
    *pkey = cp_key_load_private(keys_dir, kid);
    if (*pkey == NULL) {
        cp_err("audit seal: %s/%s.pem: cannot load the private key",
               keys_dir, kid);
        goto done;
    }
    rc = 0;
done:
    sqlite3_finalize(st);
    return rc;
}
