/*
 * Reading the audit archive: walk every archived record in chain order,
 * checking each file against its audit_archives row and its manifest
 * (hash, link, chain, body digest, counts, signature) on the way.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "cp_audit_archive.h"
#include "cp_audit_archive_priv.h"
#include "cp_audit_seal.h"
#include "cp_store.h"
#include "cp_util.h"

/* what signatures are checked against during a walk (verify only) */
static struct {
    const char  *keys_dir;
    sqlite3     *registry;
} trust;

void
cp_audit_archive_set_trust(const char *keys_dir, sqlite3 *registry)
{
    trust.keys_dir = keys_dir;
    trust.registry = registry;
}

/* ------------------------------------------------------------- walk */

typedef struct {
    const char     *file;
    char           *why;
    size_t          why_size;
} werr_t;

#define FAIL(e, ...)                                                       \
    do {                                                                   \
        int k_ = snprintf((e)->why, (e)->why_size, "archive file %s: ",    \
                          (e)->file);                                      \
        if (k_ > 0 && (size_t) k_ < (e)->why_size) {                       \
            snprintf((e)->why + k_, (e)->why_size - (size_t) k_,           \
                     __VA_ARGS__);                                         \
        }                                                                  \
    } while (0)

/* the manifest of an open file; its text in buf */
static int
read_manifest(int fd, werr_t *e, cp_audit_manifest_t *m, char *buf,
              size_t *signed_len, int64_t *size_out)
{
    struct stat   st;
    char          trailer[CP_ARCHIVE_TRAILER + 1];
    int64_t       at, len;
    const char   *why;
    char          magic[sizeof(CP_ARCHIVE_MAGIC)];

    if (fstat(fd, &st) != 0
        || st.st_size < (off_t) (sizeof(CP_ARCHIVE_MAGIC) - 1
                                 + CP_ARCHIVE_TRAILER)
        || pread(fd, magic, sizeof(magic) - 1, 0)
           != (ssize_t) (sizeof(magic) - 1)
        || memcmp(magic, CP_ARCHIVE_MAGIC, sizeof(magic) - 1) != 0
        || pread(fd, trailer, CP_ARCHIVE_TRAILER,
                 st.st_size - CP_ARCHIVE_TRAILER) != CP_ARCHIVE_TRAILER)
    {
        FAIL(e, "not an archive file (magic or trailer)");
        return -1;
    }
    trailer[CP_ARCHIVE_TRAILER] = '\0';
    if (memcmp(trailer, "manifest_at ", 12) != 0
        || trailer[CP_ARCHIVE_TRAILER - 1] != '\n'
        || cp_archive_parse_i64(trailer + 12, CP_ARCHIVE_TRAILER - 13, &at) != 0
        || at < (int64_t) sizeof(CP_ARCHIVE_MAGIC) - 1
        || (len = st.st_size - CP_ARCHIVE_TRAILER - at) <= 0
        || len > MANIFEST_MAX
        || pread(fd, buf, (size_t) len, at) != len)
    {
        FAIL(e, "bad trailer");
        return -1;
    }
    if (cp_audit_manifest_parse(buf, (size_t) len, m, signed_len, &why) != 0)
    {
        FAIL(e, "%s", why);
        return -1;
    }
    if (m->body_bytes != at - (int64_t) (sizeof(CP_ARCHIVE_MAGIC) - 1)) {
        FAIL(e, "the body's length does not match its manifest");
        return -1;
    }
    *size_out = st.st_size;
    return 0;
}

static int
check_signature(const cp_audit_manifest_t *m, const char *text,
                size_t signed_len, werr_t *e)
{
    unsigned char  msg[MANIFEST_MAX + 32];
    size_t         mlen = cp_archive_sig_message(msg, sizeof(msg), text,
                                                 signed_len);
    char           why[512];

    if (mlen == 0) {
        FAIL(e, "cannot check the signature");
        return -1;
    }
    /* the keys pinned in keys/, never a key a database offers */
    if (cp_audit_trusted_sig(trust.keys_dir, trust.registry, m->kid,
                             m->created_ms, msg, mlen, m->sig, m->sig_len,
                             why, sizeof(why)) != 0)
    {
        FAIL(e, "%s", why);
        return -1;
    }
    return 0;
}

static int
check_body_digest(int fd, const cp_audit_manifest_t *m, werr_t *e)
{
    EVP_MD_CTX    *ctx = EVP_MD_CTX_new();
    unsigned char  buf[IO_CHUNK], d[CP_AUDIT_HASH_LEN];
    off_t          off = sizeof(CP_ARCHIVE_MAGIC) - 1;
    int64_t        left = m->body_bytes;
    unsigned int   dl;
    int            rc = -1;

    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        FAIL(e, "out of memory");
        goto done;
    }
    while (left > 0) {
        size_t  want = left < (int64_t) sizeof(buf) ? (size_t) left
                                                     : sizeof(buf);
        ssize_t r = pread(fd, buf, want, off);

        if (r <= 0) {
            FAIL(e, "read: %s", r < 0 ? strerror(errno) : "short file");
            goto done;
        }
        EVP_DigestUpdate(ctx, buf, (size_t) r);
        off += r;
        left -= r;
    }
    EVP_DigestFinal_ex(ctx, d, &dl);
    if (memcmp(d, m->body_sha256, sizeof(d)) != 0) {
        FAIL(e, "the compressed records do not match the manifest's digest");
        goto done;
    }
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* inflate the body; check each record's seq and hash; call back */
static int
read_body(int fd, const cp_audit_manifest_t *m, werr_t *e,
          cp_audit_archive_cb cb, void *ctx, int *stopped)
{
    z_stream       z;
    unsigned char *in = malloc(IO_CHUNK), *out = malloc(2 * REC_MAX);
    size_t         have = 0, cap = 2 * REC_MAX;
    off_t          off = sizeof(CP_ARCHIVE_MAGIC) - 1;
    int64_t        left = m->body_bytes, seq = m->first_seq - 1;
    unsigned char  prev[CP_AUDIT_HASH_LEN];
    int            zrc = Z_OK, rc = -1, zinit = 0;

    memcpy(prev, m->prev_hash, sizeof(prev));
    memset(&z, 0, sizeof(z));
    if (in == NULL || out == NULL || inflateInit(&z) != Z_OK) {
        FAIL(e, "out of memory");
        goto done;
    }
    zinit = 1;
    for (;;) {
        if (z.avail_in == 0 && left > 0) {
            size_t  want = left < IO_CHUNK ? (size_t) left : IO_CHUNK;
            ssize_t r = pread(fd, in, want, off);

            if (r <= 0) {
                FAIL(e, "read: %s", r < 0 ? strerror(errno) : "short file");
                goto done;
            }
            off += r;
            left -= r;
            z.next_in = in;
            z.avail_in = (uInt) r;
        }
        if (zrc != Z_STREAM_END) {
            z.next_out = out + have;
            z.avail_out = (uInt) (cap - have);
            zrc = inflate(&z, Z_NO_FLUSH);
            if (zrc != Z_OK && zrc != Z_STREAM_END
                && !(zrc == Z_BUF_ERROR && z.avail_in == 0 && left == 0))
            {
                FAIL(e, "the compressed records are corrupt (zlib: %s)",
                     z.msg ? z.msg : "error");
                goto done;
            }
            have = cap - z.avail_out;
        }
        /* every whole record in the buffer */
        size_t used = 0;
        for (;;) {
            cp_audit_row_t row;
            unsigned char  h[CP_AUDIT_HASH_LEN], want[CP_AUDIT_HASH_LEN];
            ssize_t        n = cp_audit_archive_decode(out + used,
                                                       have - used, row, h);

            if (n < 0) {
                FAIL(e, "record after seq %lld is malformed",
                     (long long) seq);
                goto done;
            }
            if (n == 0) {
                break;
            }
            used += (size_t) n;
            if (row[CP_AC_SEQ].i != seq + 1 || seq + 1 > m->last_seq) {
                FAIL(e, "record seq %lld (transaction %.*s): expected seq"
                     " %lld", (long long) row[CP_AC_SEQ].i,
                     (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s,
                     (long long) (seq + 1));
                goto done;
            }
            cp_audit_hash(prev, row, want);
            if (memcmp(want, h, sizeof(h)) != 0) {
                FAIL(e, "record seq %lld (transaction %.*s): hash does not"
                     " match its content and the chain before it",
                     (long long) row[CP_AC_SEQ].i,
                     (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s);
                goto done;
            }
            memcpy(prev, h, sizeof(prev));
            seq++;
            if (cb != NULL && !*stopped && cb(ctx, row, h) != 0) {
                *stopped = 1;
            }
        }
        memmove(out, out + used, have - used);
        have -= used;
        if (zrc == Z_STREAM_END || (left == 0 && z.avail_in == 0
                                    && zrc != Z_OK))
        {
            break;
        }
        if (*stopped) {
            rc = 0;
            goto done;
        }
        if (have == cap) {
            FAIL(e, "record after seq %lld is too long", (long long) seq);
            goto done;
        }
        if (left == 0 && z.avail_in == 0 && zrc == Z_OK && have == 0
            && z.avail_out != 0)
        {
            /* input ended without the end of the stream */
            FAIL(e, "the compressed records are truncated");
            goto done;
        }
    }
    if (zrc != Z_STREAM_END || have != 0) {
        FAIL(e, "the compressed records are truncated");
        goto done;
    }
    if (seq != m->last_seq || memcmp(prev, m->last_hash, sizeof(prev)) != 0)
    {
        FAIL(e, "holds records up to seq %lld, its manifest says %lld",
             (long long) seq, (long long) m->last_seq);
        goto done;
    }
    rc = 0;
done:
    if (zinit) {
        inflateEnd(&z);
    }
    free(in);
    free(out);
    return rc;
}

int
cp_audit_archive_walk(sqlite3 *adb, const char *archive_dir,
                      cp_audit_archive_cb cb, void *ctx, int64_t *start_seq,
                      unsigned char start_hash[CP_AUDIT_HASH_LEN],
                      char *why, size_t why_size)
{
    return cp_audit_archive_walk_range(adb, archive_dir, INT64_MIN,
                                       INT64_MAX, cb, ctx, start_seq,
                                       start_hash, why, why_size);
}

int
cp_audit_archive_walk_range(sqlite3 *adb, const char *archive_dir,
                            int64_t since, int64_t until,
                            cp_audit_archive_cb cb, void *ctx,
                            int64_t *start_seq,
                            unsigned char start_hash[CP_AUDIT_HASH_LEN],
                            char *why, size_t why_size)
{
    sqlite3_stmt        *st;
    cp_audit_manifest_t  m;
    unsigned char        prev_manifest[CP_AUDIT_HASH_LEN];
    unsigned char        prev_last[CP_AUDIT_HASH_LEN], mh[CP_AUDIT_HASH_LEN];
    char                 text[MANIFEST_MAX], path[PATH_MAX + 64];
    char                 file[128];
    int64_t              prev_seq = 0, fsize;
    int                  have_prev_hash = 1, first = 1, stopped = 0;
    int                  rc = -1, step;
    size_t               signed_len;
    werr_t               e = { file, why, why_size };

    *start_seq = 0;
    memset(start_hash, 0, CP_AUDIT_HASH_LEN);
    memset(prev_manifest, 0, sizeof(prev_manifest));
    memset(prev_last, 0, sizeof(prev_last));
    why[0] = '\0';
    file[0] = '\0';

    st = cp_db_prepare(adb, "SELECT day, file, first_seq, last_seq, records,"
                            " manifest_sha256, deleted_ms"
                            " FROM audit_archives ORDER BY first_seq");
    if (st == NULL) {
        snprintf(why, why_size, "audit.db: cannot read audit_archives");
        return -1;
    }
    while (!stopped && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *f = (const char *) sqlite3_column_text(st, 1);
        const char *mhex = (const char *) sqlite3_column_text(st, 5);
        int64_t     fs = sqlite3_column_int64(st, 2);
        int64_t     ls = sqlite3_column_int64(st, 3);
        size_t      hl;
        int         fd;

        if (cp_path(file, sizeof(file), "%s", f ? f : "?") != 0
            || strchr(file, '/') != NULL || mhex == NULL
            || cp_archive_unhex(mhex, strlen(mhex), mh, sizeof(mh), &hl) != 0
            || hl != sizeof(mh))
        {
            FAIL(&e, "its row in audit_archives is malformed");
            goto done;
        }
        if (fs != prev_seq + 1 || ls < fs) {
            FAIL(&e, "covers seq %lld..%lld, expected to start at seq %lld"
                 " (an archive is missing)", (long long) fs, (long long) ls,
                 (long long) (prev_seq + 1));
            goto done;
        }
        if (sqlite3_column_type(st, 6) != SQLITE_NULL) {
            /* deleted for retention: its manifest hash still links */
            memcpy(prev_manifest, mh, sizeof(mh));
            prev_seq = ls;
            have_prev_hash = 0;
            continue;
        }

        if (cp_path(path, sizeof(path), "%s/%s", archive_dir, file) != 0) {
            FAIL(&e, "path too long");
            goto done;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            FAIL(&e, "%s", strerror(errno));
            goto done;
        }
        if (read_manifest(fd, &e, &m, text, &signed_len, &fsize) != 0) {
            close(fd);
            goto done;
        }
        {
            unsigned char got[CP_AUDIT_HASH_LEN];

            cp_archive_sha256(text, signed_len, got);
            if (memcmp(got, mh, sizeof(mh)) != 0) {
                close(fd);
                FAIL(&e, "its manifest does not match the hash recorded in"
                     " audit_archives");
                goto done;
            }
        }
        if (m.first_seq != fs || m.last_seq != ls
            || m.records != sqlite3_column_int64(st, 4)
            || strcmp(m.day, (const char *) sqlite3_column_text(st, 0)) != 0)
        {
            close(fd);
            FAIL(&e, "its manifest does not match its row in audit_archives");
            goto done;
        }
        if (memcmp(m.prev_manifest, prev_manifest, sizeof(mh)) != 0) {
            close(fd);
            FAIL(&e, "does not link to the previous archive's manifest");
            goto done;
        }
        if (have_prev_hash
            && memcmp(m.prev_hash, prev_last, sizeof(prev_last)) != 0)
        {
            close(fd);
            FAIL(&e, "its chain does not continue the previous archive's");
            goto done;
        }
        if (trust.keys_dir != NULL
            && check_signature(&m, text, signed_len, &e) != 0)
        {
            close(fd);
            goto done;
        }
        if (first) {
            *start_seq = m.first_seq - 1;
            memcpy(start_hash, m.prev_hash, CP_AUDIT_HASH_LEN);
            first = 0;
        }
        if (m.max_start_ms >= since && m.min_start_ms <= until) {
            if (check_body_digest(fd, &m, &e) != 0
                || read_body(fd, &m, &e, cb, ctx, &stopped) != 0)
            {
                close(fd);
                goto done;
            }
        }
        close(fd);
        memcpy(prev_manifest, mh, sizeof(mh));
        memcpy(prev_last, m.last_hash, sizeof(prev_last));
        have_prev_hash = 1;
        prev_seq = ls;
    }
    if (!stopped && step != SQLITE_DONE) {
        snprintf(why, why_size, "audit.db: %s", sqlite3_errmsg(adb));
        goto done;
    }
    if (first && prev_seq > 0) {
        /* every archive was deleted: the chain restarts after them, and
         * only the hot log's base can say from which hash */
        sqlite3_stmt *b;

        *start_seq = prev_seq;
        b = cp_db_prepare(adb, "SELECT base_hash FROM"
                                             " audit_chain WHERE id = 1");
        if (b != NULL && sqlite3_step(b) == SQLITE_ROW
            && sqlite3_column_bytes(b, 0) == CP_AUDIT_HASH_LEN)
        {
            memcpy(start_hash, sqlite3_column_blob(b, 0), CP_AUDIT_HASH_LEN);
        }
        sqlite3_finalize(b);
    }
    rc = stopped ? 1 : 0;
done:
    sqlite3_finalize(st);
    return rc;
}
