/* Seals: made, linked, checked against the keys pinned in keys/. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "cp_audit_seal.h"
#include "cp_keys.h"
#include "cp_store.h"
#include "cp_util.h"

/* a domain tag per version, so no other signature of the platform key (a
 * token, a snapshot, an archive manifest) can pass for a seal */
#define SEAL_TAG_1  "LGSP-AUDIT-SEAL-1"
#define SEAL_TAG_2  "LGSP-AUDIT-SEAL-2"
#define SEAL_MSG_MAX  256

#define WHY(...)  snprintf(why, why_size, __VA_ARGS__)

size_t
cp_seal_message(const cp_seal_t *s, unsigned char *m, size_t size)
{
    size_t n, k = strlen(s->kid);

    if (k > 64) {
        k = 64;
    }
    if (size < sizeof(SEAL_TAG_2) + 8 * 3 + 2 * CP_AUDIT_HASH_LEN + k) {
        return 0;
    }
    if (s->version == 1) {
        /* tag, seq, head, time, kid */
        n = sizeof(SEAL_TAG_1);
        memcpy(m, SEAL_TAG_1, n);
        cp_audit_put_be64(m + n, (uint64_t) s->seq);
        n += 8;
        memcpy(m + n, s->head, CP_AUDIT_HASH_LEN);
        n += CP_AUDIT_HASH_LEN;
        cp_audit_put_be64(m + n, (uint64_t) s->sealed_ms);
        n += 8;
    } else {
        /* tag, id, seq, head, time, previous seal's digest, kid */
        n = sizeof(SEAL_TAG_2);
        memcpy(m, SEAL_TAG_2, n);
        cp_audit_put_be64(m + n, (uint64_t) s->id);
        n += 8;
        cp_audit_put_be64(m + n, (uint64_t) s->seq);
        n += 8;
        memcpy(m + n, s->head, CP_AUDIT_HASH_LEN);
        n += CP_AUDIT_HASH_LEN;
        cp_audit_put_be64(m + n, (uint64_t) s->sealed_ms);
        n += 8;
        memcpy(m + n, s->prev, CP_AUDIT_HASH_LEN);
        n += CP_AUDIT_HASH_LEN;
    }
    memcpy(m + n, s->kid, k);
    return n + k;
}

void
cp_seal_digest(const cp_seal_t *s, unsigned char out[CP_AUDIT_HASH_LEN])
{
    unsigned char m[SEAL_MSG_MAX];

    SHA256(m, cp_seal_message(s, m, sizeof(m)), out);
}

int
cp_audit_trusted_sig(const char *keys_dir, sqlite3 *registry,
                     const char *kid, int64_t at_ms,
                     const unsigned char *msg, size_t len,
                     const unsigned char *sig, size_t sig_len,
                     char *why, size_t why_size)
{
    unsigned char *der;
    size_t         der_len;
    int64_t        revoked = cp_key_revoked_ms(keys_dir, kid);
    int            ok;

    if (cp_key_public_der(keys_dir, kid, &der, &der_len) != 0) {
        WHY("signed by key %s, which is not among the keys pinned in %s",
            kid, keys_dir);
        return -1;
    }
    if (registry != NULL) {
        /* a revocation only the registry knows of (one made before
         * keys/ recorded them) counts too: it can only refuse more */
        sqlite3_stmt *st = cp_db_prepare(registry,
                               "SELECT revoked_at FROM signing_keys"
                               " WHERE kid = ?1 AND revoked_at IS NOT NULL");

        if (st != NULL) {
            sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW
                && sqlite3_column_int64(st, 0) * 1000 < revoked)
            {
                revoked = sqlite3_column_int64(st, 0) * 1000;
            }
            sqlite3_finalize(st);
        }
    }
    if (revoked <= at_ms) {
        free(der);
        WHY("signed by key %s after it was revoked", kid);
        return -1;
    }
    ok = cp_audit_check_sig(der, der_len, msg, len, sig, sig_len);
    free(der);
    if (!ok) {
        WHY("bad signature (key %s)", kid);
        return -1;
    }
    return 0;
}

int
cp_seal_trusted(const char *keys_dir, sqlite3 *registry, const cp_seal_t *s,
                char *why, size_t why_size)
{
    unsigned char  msg[SEAL_MSG_MAX];
    size_t         mlen = cp_seal_message(s, msg, sizeof(msg));

    return cp_audit_trusted_sig(keys_dir, registry, s->kid, s->sealed_ms,
                                msg, mlen, s->sig, s->sig_len, why,
                                why_size);
}

/* ------------------------------------------------ audit.db's seal rows */

int
cp_seal_from_row(sqlite3_stmt *st, cp_seal_t *s)
{
    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(st, 0);
    s->seq = sqlite3_column_int64(st, 1);
    s->sealed_ms = sqlite3_column_int64(st, 6);
    s->version = sqlite3_column_type(st, 7) == SQLITE_NULL ? 1 : 2;
    if (sqlite3_column_bytes(st, 2) != CP_AUDIT_HASH_LEN
        || (s->version == 2
            && sqlite3_column_bytes(st, 7) != CP_AUDIT_HASH_LEN)
        || sqlite3_column_bytes(st, 5) <= 0
        || sqlite3_column_bytes(st, 5) > CP_SEAL_MAX_SIG
        || cp_path(s->kid, sizeof(s->kid), "%s",
                   (const char *) sqlite3_column_text(st, 3)) != 0
        || cp_path(s->alg, sizeof(s->alg), "%s",
                   (const char *) sqlite3_column_text(st, 4)) != 0)
    {
        return -1;
    }
    memcpy(s->head, sqlite3_column_blob(st, 2), CP_AUDIT_HASH_LEN);
    if (s->version == 2) {
        memcpy(s->prev, sqlite3_column_blob(st, 7), CP_AUDIT_HASH_LEN);
    }
    s->sig_len = (size_t) sqlite3_column_bytes(st, 5);
    memcpy(s->sig, sqlite3_column_blob(st, 5), s->sig_len);
    return 0;
}

static int
db_seal(sqlite3 *adb, int64_t id, cp_seal_t *s)
{
    sqlite3_stmt *st;
    int           rc = 0;

    st = cp_db_prepare(adb, "SELECT " CP_SEAL_COLUMNS " FROM audit_seals"
                            " WHERE id = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        rc = cp_seal_from_row(st, s) == 0 ? 1 : -1;
    }
    sqlite3_finalize(st);
    return rc;
}

static int
db_insert_seal(sqlite3 *adb, const cp_seal_t *s)
{
    sqlite3_stmt *st;
    int           rc;

    st = cp_db_prepare(adb, "INSERT INTO audit_seals (id, seq, head_hash,"
                            " kid, alg, signature, sealed_ms, prev_digest)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, s->id);
    sqlite3_bind_int64(st, 2, s->seq);
    sqlite3_bind_blob(st, 3, s->head, CP_AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, s->kid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, s->alg, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, s->sig, (int) s->sig_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, s->sealed_ms);
    if (s->version == 2) {
        sqlite3_bind_blob(st, 8, s->prev, CP_AUDIT_HASH_LEN, SQLITE_STATIC);
    }
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return rc;
}

int
cp_seal_same(const cp_seal_t *a, const cp_seal_t *b)
{
    return a->version == b->version && a->id == b->id && a->seq == b->seq
           && a->sealed_ms == b->sealed_ms
           && memcmp(a->head, b->head, CP_AUDIT_HASH_LEN) == 0
           && memcmp(a->prev, b->prev, CP_AUDIT_HASH_LEN) == 0
           && strcmp(a->kid, b->kid) == 0 && a->sig_len == b->sig_len
           && memcmp(a->sig, b->sig, a->sig_len) == 0;
}

/*
 * An audit.db from before the checkpoint: its seals (unlinked, version 1)
 * and archived days become the file's first lines.  Only then: once a
 * linked seal exists, a missing checkpoint means someone removed it.
 */
static int
ckpt_create(sqlite3 *adb, const char *dir, cp_seal_t *last, int *have,
            char *why, size_t why_size)
{
    sqlite3_stmt      *st;
    cp_ckpt_archive_t  a;
    int64_t            n = 0, id;

    if (cp_db_int(adb, "SELECT count(*) FROM audit_seals"
                       " WHERE prev_digest IS NOT NULL", 0) != 0)
    {
        WHY("%s/%s is missing, but audit.db holds seals written with it:"
            " the checkpoint was removed; nothing is sealed until it is"
            " restored (docs/audit.md)", dir, CP_CKPT_FILE);
        return -1;
    }
    for (id = 1;; id++) {
        int r = db_seal(adb, id, last);

        if (r <= 0) {
            if (r < 0) {
                WHY("audit.db: seal %lld is malformed", (long long) id);
                return -1;
            }
            break;
        }
        if (cp_ckpt_append_seal(dir, last) != 0) {
            WHY("%s/%s: %s", dir, CP_CKPT_FILE, strerror(errno));
            return -1;
        }
        *have = 1;
        n++;
    }
    if (n != cp_db_int(adb, "SELECT count(*) FROM audit_seals", -1)) {
        WHY("audit.db: its seals are not numbered 1..%lld", (long long) n);
        return -1;
    }
    st = cp_db_prepare(adb, "SELECT day, first_seq, last_seq, records,"
                            " manifest_sha256, created_ms"
                            " FROM audit_archives ORDER BY first_seq");
    if (st == NULL) {
        WHY("audit.db: cannot read audit_archives");
        return -1;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        memset(&a, 0, sizeof(a));
        cp_path(a.day, sizeof(a.day), "%s", sqlite3_column_text(st, 0));
        a.first_seq = sqlite3_column_int64(st, 1);
        a.last_seq = sqlite3_column_int64(st, 2);
        a.records = sqlite3_column_int64(st, 3);
        cp_path(a.manifest, sizeof(a.manifest), "%s",
                sqlite3_column_text(st, 4));
        a.created_ms = sqlite3_column_int64(st, 5);
        if (cp_ckpt_append_archive(dir, &a) != 0) {
            sqlite3_finalize(st);
            WHY("%s/%s: %s", dir, CP_CKPT_FILE, strerror(errno));
            return -1;
        }
    }
    sqlite3_finalize(st);
    return 0;
}

/* Under audit.db's write lock: the last seal, with file and rows agreeing. */
static int
ckpt_sync(sqlite3 *adb, const char *dir, cp_seal_t *last, int *have,
          char *why, size_t why_size)
{
    cp_seal_t  row;
    int64_t    m;
    int        exists, r;

    *have = 0;
    r = cp_ckpt_last_seal(dir, last, &exists, why, why_size);
    if (r < 0) {
        return -1;
    }
    if (!exists) {
        return ckpt_create(adb, dir, last, have, why, why_size);
    }
    m = cp_db_int(adb, "SELECT coalesce(max(id), 0) FROM audit_seals", -1);
    if (r == 0) {
        if (m != 0) {
            WHY("audit.db holds %lld seals that %s/%s does not: they were"
                " added behind lgspd's back", (long long) m, dir,
                CP_CKPT_FILE);
            return -1;
        }
        return 0;
    }
    *have = 1;
    if (m == last->id - 1) {
        /* a crash came between the file's fsync and audit.db's commit */
        return db_insert_seal(adb, last) == 0 ? 0
               : (WHY("audit.db: %s", sqlite3_errmsg(adb)), -1);
    }
    if (m != last->id) {
        WHY("audit.db's last seal is %lld but the checkpoint's is %lld: seals"
            " were added or removed behind lgspd's back", (long long) m,
            (long long) last->id);
        return -1;
    }
    if (db_seal(adb, m, &row) != 1 || !cp_seal_same(&row, last)) {
        WHY("seal %lld in audit.db is not the one in %s/%s", (long long) m,
            dir, CP_CKPT_FILE);
        return -1;
    }
    return 0;
}

static int
read_chain(sqlite3 *adb, cp_audit_head_t *head, cp_audit_head_t *base)
{
    sqlite3_stmt *st;
    int           rc = -1;

    st = cp_db_prepare(adb, "SELECT head_seq, head_hash, base_seq, base_hash"
                            " FROM audit_chain WHERE id = 1");
    if (st != NULL && sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_bytes(st, 1) == CP_AUDIT_HASH_LEN
        && sqlite3_column_bytes(st, 3) == CP_AUDIT_HASH_LEN)
    {
        head->seq = sqlite3_column_int64(st, 0);
        memcpy(head->hash, sqlite3_column_blob(st, 1), CP_AUDIT_HASH_LEN);
        base->seq = sqlite3_column_int64(st, 2);
        memcpy(base->hash, sqlite3_column_blob(st, 3), CP_AUDIT_HASH_LEN);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* the records after the last seal, recomputed up to the head */
static int
check_tail(sqlite3 *adb, const cp_seal_t *last, cp_audit_head_t *head,
           char *why, size_t why_size)
{
    cp_audit_head_t  base, at;
    sqlite3_stmt    *st;
    unsigned char    h[CP_AUDIT_HASH_LEN];
    int              step;

    if (read_chain(adb, head, &base) != 0) {
        WHY("audit.db: the chain head is missing");
        return -1;
    }
    at = base;
    if (last != NULL && last->seq > base.seq) {
        /* the sealed record still in audit.db: it must be the sealed one */
        st = cp_db_prepare(adb, "SELECT hash FROM audit_records"
                                " WHERE seq = ?1");
        if (st == NULL) {
            return -1;
        }
        sqlite3_bind_int64(st, 1, last->seq);
        step = sqlite3_step(st);
        if (step != SQLITE_ROW
            || sqlite3_column_bytes(st, 0) != CP_AUDIT_HASH_LEN
            || memcmp(sqlite3_column_blob(st, 0), last->head,
                      CP_AUDIT_HASH_LEN) != 0)
        {
            sqlite3_finalize(st);
            WHY("record seq %lld is not the one seal %lld signed",
                (long long) last->seq, (long long) last->id);
            return -1;
        }
        sqlite3_finalize(st);
        at.seq = last->seq;
        memcpy(at.hash, last->head, CP_AUDIT_HASH_LEN);
    } else if (last != NULL && last->seq == base.seq
               && memcmp(base.hash, last->head, CP_AUDIT_HASH_LEN) != 0)
    {
        WHY("the chain's base (seq %lld) is not the one seal %lld signed",
            (long long) base.seq, (long long) last->id);
        return -1;
    }

    st = cp_db_prepare(adb, "SELECT " CP_AUDIT_COLUMNS ", hash"
                            " FROM audit_records WHERE seq > ?1"
                            " ORDER BY seq");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, at.seq);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        cp_audit_row_t row;

        cp_audit_row_from_stmt(row, st, 0);
        cp_audit_hash(at.hash, row, h);
        if (row[CP_AC_SEQ].i != at.seq + 1
            || sqlite3_column_bytes(st, CP_AUDIT_NCOLS) != CP_AUDIT_HASH_LEN
            || memcmp(sqlite3_column_blob(st, CP_AUDIT_NCOLS), h,
                      CP_AUDIT_HASH_LEN) != 0)
        {
            WHY("record seq %lld (after seq %lld, the last sealed) does not"
                " continue the chain", (long long) row[CP_AC_SEQ].i,
                (long long) at.seq);
            sqlite3_finalize(st);
            return -1;
        }
        at.seq = row[CP_AC_SEQ].i;
        memcpy(at.hash, h, CP_AUDIT_HASH_LEN);
    }
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        return -1;
    }
    if (at.seq != head->seq
        || memcmp(at.hash, head->hash, CP_AUDIT_HASH_LEN) != 0)
    {
        WHY("the chain ends at seq %lld but its head says seq %lld",
            (long long) at.seq, (long long) head->seq);
        return -1;
    }
    return 0;
}

int
cp_audit_head_check(sqlite3 *adb, const char *archive_dir,
                    cp_audit_head_t *head, char *why, size_t why_size)
{
    cp_seal_t  last;
    int        have;

    if (cp_db_begin(adb) != 0) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        return -1;
    }
    if (ckpt_sync(adb, archive_dir, &last, &have, why, why_size) != 0
        || check_tail(adb, have ? &last : NULL, head, why, why_size) != 0
        || cp_db_commit(adb) != 0)
    {
        cp_db_rollback(adb);
        return -1;
    }
    return 0;
}

int
cp_audit_seal(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
              const char *archive_dir, const cp_audit_head_t *known,
              cp_seal_t *out, char *why, size_t why_size)
{
    EVP_PKEY         *pkey = NULL;
    cp_seal_t         last, s;
    cp_audit_head_t   head, base;
    unsigned char     msg[SEAL_MSG_MAX], *sig = NULL;
    size_t            mlen;
    char              e[512];
    int               have, rc = -1;

    memset(&s, 0, sizeof(s));
    if (cp_audit_active_key(registry, keys_dir, s.kid, sizeof(s.kid), s.alg,
                            sizeof(s.alg), &pkey) != 0)
    {
        WHY("no usable active signing key");
        return -1;
    }
    /* the head cannot move between checking and sealing it */
    if (cp_db_begin(adb) != 0) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        goto done;
    }
    if (ckpt_sync(adb, archive_dir, &last, &have, why, why_size) != 0) {
        goto rollback;
    }
    /* a seal is only ever chained onto one the platform key made: whoever
     * rewrote the checkpoint's last line gets no signature over their
     * chain */
    if (have && cp_seal_trusted(keys_dir, registry, &last, e, sizeof(e))
                != 0)
    {
        WHY("the last seal (%lld, at seq %lld) is not to be trusted: %s",
            (long long) last.id, (long long) last.seq, e);
        goto rollback;
    }
    if (known != NULL) {
        if (read_chain(adb, &head, &base) != 0) {
            WHY("audit.db: the chain head is missing");
            goto rollback;
        }
        if (head.seq != known->seq
            || memcmp(head.hash, known->hash, CP_AUDIT_HASH_LEN) != 0)
        {
            WHY("the chain head in audit.db (seq %lld) is not the one lgspd"
                " wrote (seq %lld): audit.db was changed behind its back",
                (long long) head.seq, (long long) known->seq);
            goto rollback;
        }
    } else if (check_tail(adb, have ? &last : NULL, &head, why, why_size)
               != 0)
    {
        goto rollback;
    }

    s.version = 2;
    s.id = have ? last.id + 1 : 1;
    s.seq = head.seq;
    memcpy(s.head, head.hash, CP_AUDIT_HASH_LEN);
    s.sealed_ms = cp_now_ms();
    if (have) {
        cp_seal_digest(&last, s.prev);
        if (s.sealed_ms <= last.sealed_ms) {
            s.sealed_ms = last.sealed_ms + 1;   /* seal times only grow */
        }
    }
    mlen = cp_seal_message(&s, msg, sizeof(msg));
    if (cp_audit_sign(pkey, msg, mlen, &sig, &s.sig_len) != 0
        || s.sig_len > CP_SEAL_MAX_SIG)
    {
        WHY("signing failed");
        goto rollback;
    }
    memcpy(s.sig, sig, s.sig_len);
    /* the row first, the file second, the commit last: a failed append
     * leaves neither; a crash after it leaves the file one ahead, which
     * ckpt_sync repairs */
    if (db_insert_seal(adb, &s) != 0) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        goto rollback;
    }
    if (cp_ckpt_append_seal(archive_dir, &s) != 0) {
        WHY("%s/%s: %s", archive_dir, CP_CKPT_FILE, strerror(errno));
        goto rollback;
    }
    if (cp_db_commit(adb) != 0) {
        WHY("audit.db: commit: %s", sqlite3_errmsg(adb));
        goto rollback;
    }
    if (out != NULL) {
        *out = s;
    }
    rc = 0;
    goto done;

rollback:
    cp_db_rollback(adb);
done:
    OPENSSL_free(sig);
    EVP_PKEY_free(pkey);
    return rc;
}
