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

/* what a seal signs: a domain tag, so no other signature of the platform
 * key (a token, a snapshot) can pass for a seal */
#define SEAL_TAG "LGSP-AUDIT-SEAL-1"

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

static void
put_be64(unsigned char *p, uint64_t v)
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
            put_be64(p, (uint64_t) row[c].i);
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

/* the message a seal signs */
static size_t
seal_message(unsigned char *m, int64_t seq, const unsigned char *hash,
             int64_t sealed_ms, const char *kid)
{
    size_t n = sizeof(SEAL_TAG), k = strlen(kid);

    memcpy(m, SEAL_TAG, n);                   /* with its NUL */
    put_be64(m + n, (uint64_t) seq);
    n += 8;
    memcpy(m + n, hash, CP_AUDIT_HASH_LEN);
    n += CP_AUDIT_HASH_LEN;
    put_be64(m + n, (uint64_t) sealed_ms);
    n += 8;
    if (k > 64) {
        k = 64;
    }
    memcpy(m + n, kid, k);
    return n + k;
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

int
cp_audit_seal(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
              int64_t *seq_out)
{
    EVP_PKEY       *pkey = NULL;
    sqlite3_stmt   *st = NULL;
    unsigned char   hash[CP_AUDIT_HASH_LEN], msg[256], *sig = NULL;
    size_t          sig_len, mlen;
    char            kid[80], alg[16];
    int64_t         seq, now = cp_now_ms();
    int             rc = -1;

    if (cp_audit_active_key(registry, keys_dir, kid, sizeof(kid), alg,
                            sizeof(alg), &pkey) != 0)
    {
        return -1;
    }
    /* the head cannot move between reading and sealing it */
    if (cp_db_begin(adb) != 0) {
        cp_err("audit seal: %s", sqlite3_errmsg(adb));
        goto done;
    }
    st = cp_db_prepare(adb, "SELECT head_seq, head_hash FROM audit_chain"
                            " WHERE id = 1");
    if (st == NULL || sqlite3_step(st) != SQLITE_ROW
        || sqlite3_column_bytes(st, 1) != CP_AUDIT_HASH_LEN)
    {
        cp_err("audit seal: cannot read the chain head");
        goto rollback;
    }
    seq = sqlite3_column_int64(st, 0);
    memcpy(hash, sqlite3_column_blob(st, 1), CP_AUDIT_HASH_LEN);
    sqlite3_finalize(st);
    st = NULL;

    mlen = seal_message(msg, seq, hash, now, kid);
    if (cp_audit_sign(pkey, msg, mlen, &sig, &sig_len) != 0) {
        cp_err("audit seal: signing failed");
        goto rollback;
    }
    st = cp_db_prepare(adb, "INSERT INTO audit_seals (seq, head_hash, kid,"
                            " alg, signature, sealed_ms)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (st == NULL) {
        goto rollback;
    }
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_blob(st, 2, hash, CP_AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, alg, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, sig, (int) sig_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    if (sqlite3_step(st) != SQLITE_DONE || cp_db_commit(adb) != 0) {
        cp_err("audit seal: %s", sqlite3_errmsg(adb));
        goto rollback;
    }
    *seq_out = seq;
    rc = 0;
    goto done;

rollback:
    cp_db_rollback(adb);
done:
    sqlite3_finalize(st);
    OPENSSL_free(sig);
    EVP_PKEY_free(pkey);
    return rc;
}

int64_t
cp_audit_last_seal_ms(sqlite3 *adb)
{
    return cp_db_int(adb, "SELECT max(sealed_ms) FROM audit_seals", 0);
}

/* ------------------------------------------------------------------ */

typedef struct {
    int64_t        seq;
    unsigned char  hash[CP_AUDIT_HASH_LEN];
    int64_t        id;
    int            checked;
} seal_ref_t;

typedef struct {
    unsigned char  prev[CP_AUDIT_HASH_LEN];
    int64_t        last_seq;
    int64_t        records;
    seal_ref_t    *seals;
    size_t         nseals;
    int64_t        base_seq;                /* audit_chain's base */
    unsigned char  base_hash[CP_AUDIT_HASH_LEN];
    int            base_found;
    char          *why;
    size_t         why_size;
} verify_t;

/* one record of the chain, from the archive or the hot table */
static int
verify_row(verify_t *v, const cp_audit_row_t row,
           const unsigned char *stored, size_t stored_len)
{
    unsigned char h[CP_AUDIT_HASH_LEN];
    int64_t       seq = row[CP_AC_SEQ].i;

    if (seq != v->last_seq + 1) {
        snprintf(v->why, v->why_size,
                 "record seq %lld (transaction %.*s): expected seq %lld;"
                 " records are missing or out of order", (long long) seq,
                 (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s,
                 (long long) (v->last_seq + 1));
        return -1;
    }
    cp_audit_hash(v->prev, row, h);
    if (stored_len != CP_AUDIT_HASH_LEN || memcmp(h, stored, sizeof(h)) != 0)
    {
        snprintf(v->why, v->why_size,
                 "record seq %lld (transaction %.*s): hash does not match"
                 " its content and the chain before it", (long long) seq,
                 (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s);
        return -1;
    }
    for (size_t i = 0; i < v->nseals; i++) {
        if (v->seals[i].seq == seq) {
            if (memcmp(v->seals[i].hash, h, sizeof(h)) != 0) {
                snprintf(v->why, v->why_size,
                         "seal %lld at seq %lld: the sealed head does not"
                         " match the chain (record seq %lld, transaction"
                         " %.*s)", (long long) v->seals[i].id,
                         (long long) seq, (long long) seq,
                         (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s);
                return -1;
            }
            v->seals[i].checked = 1;
        }
    }
    memcpy(v->prev, h, sizeof(h));
    v->last_seq = seq;
    v->records++;
    return 0;
}

static int
verify_archived(void *ctx, const cp_audit_row_t row,
                const unsigned char hash[CP_AUDIT_HASH_LEN])
{
    verify_t *v = ctx;

    if (v->records == 0 && row[CP_AC_SEQ].i - 1 == v->base_seq) {
        /* nothing pruned yet past the oldest kept archive's start */
        v->base_found = memcmp(v->prev, v->base_hash, CP_AUDIT_HASH_LEN) == 0
                        ? 1 : -1;
    }
    if (verify_row(v, row, hash, CP_AUDIT_HASH_LEN) != 0) {
        return -1;
    }
    /* after a crash in the middle of pruning, the hot log's base is
     * inside the last archive */
    if (row[CP_AC_SEQ].i == v->base_seq) {
        v->base_found = memcmp(hash, v->base_hash, CP_AUDIT_HASH_LEN) == 0
                        ? 1 : -1;
    }
    return 0;
}

/* every seal: signed by a key of the registry that was not revoked then */
static int
verify_signatures(sqlite3 *adb, sqlite3 *registry, verify_t *v,
                  int64_t *nseals)
{
    sqlite3_stmt  *st, *kst;
    unsigned char  msg[256];
    size_t         mlen;
    int            rc = 0, step;

    st = cp_db_prepare(adb, "SELECT id, seq, head_hash, kid, signature,"
                            " sealed_ms FROM audit_seals ORDER BY id");
    kst = cp_db_prepare(registry, "SELECT public_der, revoked_at"
                                  " FROM signing_keys WHERE kid = ?1");
    if (st == NULL || kst == NULL) {
        sqlite3_finalize(st);
        sqlite3_finalize(kst);
        snprintf(v->why, v->why_size, "cannot read the seals");
        return -1;
    }
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t     id = sqlite3_column_int64(st, 0);
        int64_t     seq = sqlite3_column_int64(st, 1);
        const char *kid = (const char *) sqlite3_column_text(st, 3);
        int64_t     at = sqlite3_column_int64(st, 5);

        if (sqlite3_column_bytes(st, 2) != CP_AUDIT_HASH_LEN || kid == NULL) {
            snprintf(v->why, v->why_size, "seal %lld: malformed",
                     (long long) id);
            rc = -1;
            break;
        }
        mlen = seal_message(msg, seq, sqlite3_column_blob(st, 2), at, kid);
        sqlite3_reset(kst);
        sqlite3_bind_text(kst, 1, kid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(kst) != SQLITE_ROW) {
            snprintf(v->why, v->why_size,
                     "seal %lld at seq %lld: signed by unknown key %s",
                     (long long) id, (long long) seq, kid);
            rc = -1;
        } else if (sqlite3_column_type(kst, 1) != SQLITE_NULL
                   && sqlite3_column_int64(kst, 1) * 1000 <= at)
        {
            snprintf(v->why, v->why_size,
                     "seal %lld at seq %lld: signed by key %s after it was"
                     " revoked", (long long) id, (long long) seq, kid);
            rc = -1;
        } else if (!cp_audit_check_sig(sqlite3_column_blob(kst, 0),
                                       (size_t) sqlite3_column_bytes(kst, 0),
                                       msg, mlen,
                                       sqlite3_column_blob(st, 4),
                                       (size_t) sqlite3_column_bytes(st, 4)))
        {
            snprintf(v->why, v->why_size,
                     "seal %lld at seq %lld: bad signature (key %s)",
                     (long long) id, (long long) seq, kid);
            rc = -1;
        }
        (*nseals)++;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(kst);
    return rc;
}

static int
load_seals(sqlite3 *adb, verify_t *v)
{
    sqlite3_stmt *st;
    size_t        cap = 0;

    st = cp_db_prepare(adb, "SELECT id, seq, head_hash FROM audit_seals"
                            " ORDER BY id");
    if (st == NULL) {
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (v->nseals == cap) {
            seal_ref_t *n;

            cap = cap ? cap * 2 : 64;
            n = realloc(v->seals, cap * sizeof(seal_ref_t));
            if (n == NULL) {
                sqlite3_finalize(st);
                return -1;
            }
            v->seals = n;
        }
        v->seals[v->nseals].id = sqlite3_column_int64(st, 0);
        v->seals[v->nseals].seq = sqlite3_column_int64(st, 1);
        v->seals[v->nseals].checked = 0;
        memset(v->seals[v->nseals].hash, 0, CP_AUDIT_HASH_LEN);
        if (sqlite3_column_bytes(st, 2) == CP_AUDIT_HASH_LEN) {
            memcpy(v->seals[v->nseals].hash, sqlite3_column_blob(st, 2),
                   CP_AUDIT_HASH_LEN);
        }
        v->nseals++;
    }
    sqlite3_finalize(st);
    return 0;
}

int
cp_audit_verify(sqlite3 *adb, sqlite3 *registry, const char *archive_dir,
                int64_t *records, int64_t *seals, char *why,
                size_t why_size)
{
    verify_t       v;
    sqlite3_stmt  *st = NULL;
    int            rc = -1, step;
    int64_t        head_seq, base_seq, start_seq;
    unsigned char  head_hash[CP_AUDIT_HASH_LEN], base_hash[CP_AUDIT_HASH_LEN];

    memset(&v, 0, sizeof(v));
    v.why = why;
    v.why_size = why_size;
    *records = 0;
    *seals = 0;
    why[0] = '\0';

    /* one read transaction: lgspd may ingest meanwhile */
    if (sqlite3_exec(adb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, why_size, "audit.db: %s", sqlite3_errmsg(adb));
        return -1;
    }
    st = cp_db_prepare(adb, "SELECT head_seq, head_hash, base_seq, base_hash"
                            " FROM audit_chain WHERE id = 1");
    if (st == NULL || sqlite3_step(st) != SQLITE_ROW
        || sqlite3_column_bytes(st, 1) != CP_AUDIT_HASH_LEN
        || sqlite3_column_bytes(st, 3) != CP_AUDIT_HASH_LEN)
    {
        snprintf(why, why_size, "audit.db: the chain head is missing");
        goto done;
    }
    head_seq = sqlite3_column_int64(st, 0);
    memcpy(head_hash, sqlite3_column_blob(st, 1), CP_AUDIT_HASH_LEN);
    base_seq = sqlite3_column_int64(st, 2);
    memcpy(base_hash, sqlite3_column_blob(st, 3), CP_AUDIT_HASH_LEN);
    sqlite3_finalize(st);
    st = NULL;

    if (load_seals(adb, &v) != 0) {
        snprintf(why, why_size, "audit.db: cannot read the seals");
        goto done;
    }

    /* the archive first: it holds the start of the chain */
    v.base_seq = base_seq;
    memcpy(v.base_hash, base_hash, CP_AUDIT_HASH_LEN);
    if (cp_audit_archive_walk(adb, archive_dir, verify_archived, &v,
                              &v.last_seq, v.prev, why, why_size) != 0)
    {
        goto done;
    }
    start_seq = v.last_seq - v.records;
    if (base_seq > v.last_seq
        || (base_seq == v.last_seq
            && memcmp(v.prev, base_hash, CP_AUDIT_HASH_LEN) != 0)
        || (base_seq < v.last_seq && v.base_found != 1))
    {
        snprintf(why, why_size,
                 "the hot log does not continue the archive (archive ends at"
                 " seq %lld, hot log starts after seq %lld)",
                 (long long) v.last_seq, (long long) base_seq);
        goto done;
    }

    /* rows at or below the archive's end are the archived copies a crash
     * left before they were pruned: the file is the truth */
    st = cp_db_prepare(adb, "SELECT " CP_AUDIT_COLUMNS ", hash"
                            " FROM audit_records WHERE seq > ?1"
                            " ORDER BY seq");
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, v.last_seq);
    }
    if (st == NULL) {
        snprintf(why, why_size, "audit.db: cannot read the records");
        goto done;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        cp_audit_row_t row;

        cp_audit_row_from_stmt(row, st, 0);
        if (verify_row(&v, row, sqlite3_column_blob(st, CP_AUDIT_NCOLS),
                       (size_t) sqlite3_column_bytes(st, CP_AUDIT_NCOLS))
            != 0)
        {
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        snprintf(why, why_size, "audit.db: %s", sqlite3_errmsg(adb));
        goto done;
    }
    if (v.last_seq != head_seq
        || memcmp(v.prev, head_hash, CP_AUDIT_HASH_LEN) != 0)
    {
        snprintf(why, why_size,
                 "the chain ends at seq %lld but its head says seq %lld:"
                 " records after seq %lld are missing or changed",
                 (long long) v.last_seq, (long long) head_seq,
                 (long long) v.last_seq);
        goto done;
    }
    for (size_t i = 0; i < v.nseals; i++) {
        /* seq 0 seals an empty chain; the records of a seal older than the
         * oldest archive kept are gone (legal retention): only its
         * signature can still be checked */
        if (!v.seals[i].checked && v.seals[i].seq > start_seq) {
            snprintf(why, why_size,
                     "seal %lld at seq %lld: no such record in the chain",
                     (long long) v.seals[i].id, (long long) v.seals[i].seq);
            goto done;
        }
    }
    if (verify_signatures(adb, registry, &v, seals) != 0) {
        goto done;
    }
    *records = v.records;
    rc = 0;

done:
    sqlite3_finalize(st);
    sqlite3_exec(adb, "COMMIT", NULL, NULL, NULL);
    free(v.seals);
    return rc;
}
