/*
 * The audit archive job: choose the day, write its file, delete its rows
 * from audit.db, apply retention.  Files are daily, hash-linked and signed.
 *
 * A file: the magic line, the body (a zlib stream of records, each its
 * canonical bytes then its hash), the manifest (text, "key value" lines),
 * its signature line, and a fixed trailer "manifest_at <offset>\n".  The
 * manifest names the body's digest, the chain around the records and the
 * previous file's manifest hash; its own hash is in audit_archives.
 *
 * Crash safety: a file is written as <name>.tmp, fsynced, renamed and the
 * directory fsynced before its row is inserted; only a recorded file
 * counts, and only then are its rows deleted from audit.db (in batches,
 * base_seq/base_hash moving with each).  A crash before the row leaves the
 * rows in audit.db and the day is written again; after it, the deletion
 * resumes where it stopped.
 *
 * The format of a record and of the manifest is cp_audit_archive_format.c;
 * reading and checking files is cp_audit_archive_walk.c.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "cp_audit_archive.h"
#include "cp_audit_archive_priv.h"
#include "cp_audit_checkpoint.h"
#include "cp_store.h"
#include "cp_util.h"

int64_t
cp_audit_city_day(int64_t ms)
{
    int64_t t = ms + CITY_MS;

    return t >= 0 ? t / DAY_MS : -((-t + DAY_MS - 1) / DAY_MS);
}

void
cp_audit_day_name(int64_t day, char *out, size_t size)
{
    time_t    t = (time_t) (day * 86400);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%d", &tm);
}

/* ------------------------------------------------------------- write */

/* the day being written, across calls */
static struct {
    int            active;
    int64_t        day;
    char           name[64], tmp[PATH_MAX + 80], path[PATH_MAX + 80];
    int            fd;
    z_stream       z;
    EVP_MD_CTX    *md;
    int64_t        first_seq, last_seq, next_seq, min_start, max_start, body_bytes;
    unsigned char  prev_hash[CP_AUDIT_HASH_LEN], cur[CP_AUDIT_HASH_LEN];
    unsigned char  prev_manifest[CP_AUDIT_HASH_LEN];
    unsigned char  rec[REC_MAX];
    unsigned char  zout[IO_CHUNK];
} w;

static void
writer_abort(void)
{
    if (!w.active) {
        return;
    }
    deflateEnd(&w.z);
    EVP_MD_CTX_free(w.md);
    w.md = NULL;
    close(w.fd);
    unlink(w.tmp);
    w.active = 0;
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t r = write(fd, p, len);

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += r;
        len -= (size_t) r;
    }
    return 0;
}

static int
deflate_some(int flush)
{
    int zrc;

    do {
        w.z.next_out = w.zout;
        w.z.avail_out = sizeof(w.zout);
        zrc = deflate(&w.z, flush);
        if (zrc == Z_STREAM_ERROR) {
            return -1;
        }
        size_t n = sizeof(w.zout) - w.z.avail_out;
        if (n > 0) {
            if (write_all(w.fd, w.zout, n) != 0) {
                return -1;
            }
            EVP_DigestUpdate(w.md, w.zout, n);
            w.body_bytes += (int64_t) n;
        }
    } while (w.z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    return 0;
}

/* the hash of row seq in audit.db, or of the chain's base when it is it */
static int
row_hash(sqlite3 *adb, int64_t seq, unsigned char out[CP_AUDIT_HASH_LEN])
{
    sqlite3_stmt *st = cp_db_prepare(adb, "SELECT hash FROM audit_records"
                                          " WHERE seq = ?1");
    int           rc = -1;

    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_bytes(st, 0) == CP_AUDIT_HASH_LEN)
    {
        memcpy(out, sqlite3_column_blob(st, 0), CP_AUDIT_HASH_LEN);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

static int
chain_base(sqlite3 *adb, int64_t *seq, unsigned char hash[CP_AUDIT_HASH_LEN])
{
    sqlite3_stmt *st = cp_db_prepare(adb, "SELECT base_seq, base_hash FROM"
                                          " audit_chain WHERE id = 1");
    int           rc = -1;

    if (st == NULL) {
        return -1;
    }
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_bytes(st, 1) == CP_AUDIT_HASH_LEN)
    {
        *seq = sqlite3_column_int64(st, 0);
        memcpy(hash, sqlite3_column_blob(st, 1), CP_AUDIT_HASH_LEN);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* rows (base, min(base+budget, last)] leave audit.db; base moves with them */
static int64_t
delete_batch(sqlite3 *adb, int64_t base, int64_t last, int budget)
{
    sqlite3_stmt  *del = NULL, *upd = NULL;
    unsigned char  h[CP_AUDIT_HASH_LEN];
    int64_t        hi = last - base > budget ? base + budget : last;

    if (cp_db_begin(adb) != 0) {
        cp_log("error", "audit archive: begin: %s", sqlite3_errmsg(adb));
        return -1;
    }
    if (row_hash(adb, hi, h) != 0) {
        cp_log("error", "audit archive: record seq %lld is missing from"
               " audit.db; cannot move the chain's base", (long long) hi);
        goto rollback;
    }
    del = cp_db_prepare(adb, "DELETE FROM audit_records"
                             " WHERE seq > ?1 AND seq <= ?2");
    upd = cp_db_prepare(adb, "UPDATE audit_chain SET base_seq = ?1,"
                             " base_hash = ?2 WHERE id = 1");
    if (del == NULL || upd == NULL) {
        goto rollback;
    }
    sqlite3_bind_int64(del, 1, base);
    sqlite3_bind_int64(del, 2, hi);
    sqlite3_bind_int64(upd, 1, hi);
    sqlite3_bind_blob(upd, 2, h, sizeof(h), SQLITE_STATIC);
    if (sqlite3_step(del) != SQLITE_DONE || sqlite3_step(upd) != SQLITE_DONE)
    {
        cp_log("error", "audit archive: %s", sqlite3_errmsg(adb));
        goto rollback;
    }
    sqlite3_finalize(del);
    sqlite3_finalize(upd);
    if (cp_db_commit(adb) != 0) {
        cp_log("error", "audit archive: commit: %s", sqlite3_errmsg(adb));
        cp_db_rollback(adb);
        return -1;
    }
    return hi - base;

rollback:
    sqlite3_finalize(del);
    sqlite3_finalize(upd);
    cp_db_rollback(adb);
    return -1;
}

/* the last archive: its last seq, day and manifest hash (0s: none) */
static int
last_archive(sqlite3 *adb, int64_t *last_seq, int64_t *day,
             unsigned char manifest[CP_AUDIT_HASH_LEN])
{
    sqlite3_stmt *st = cp_db_prepare(adb, "SELECT last_seq, day,"
                                          " manifest_sha256 FROM"
                                          " audit_archives ORDER BY"
                                          " last_seq DESC LIMIT 1");
    int           rc = 0;
    size_t        hl;

    *last_seq = 0;
    *day = INT64_MIN;
    memset(manifest, 0, CP_AUDIT_HASH_LEN);
    if (st == NULL) {
        return -1;
    }
    switch (sqlite3_step(st)) {
    case SQLITE_ROW: {
        const char *d = (const char *) sqlite3_column_text(st, 1);
        const char *m = (const char *) sqlite3_column_text(st, 2);
        struct tm   tm;

        *last_seq = sqlite3_column_int64(st, 0);
        memset(&tm, 0, sizeof(tm));
        if (d == NULL || m == NULL
            || sscanf(d, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon,
                      &tm.tm_mday) != 3
            || cp_archive_unhex(m, strlen(m), manifest, CP_AUDIT_HASH_LEN,
                                &hl) != 0)
        {
            rc = -1;
            break;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *day = (int64_t) timegm(&tm) / 86400;
        break;
    }
    case SQLITE_DONE:
        break;
    default:
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* start the next day's file if one is due: 1 started, 0 none due, -1 */
static int
writer_begin(sqlite3 *adb, const char *dir, int64_t today, int hot_days)
{
    sqlite3_stmt  *st;
    int64_t        last, last_day, base, min_start, day;
    unsigned char  base_hash[CP_AUDIT_HASH_LEN];

    if (last_archive(adb, &last, &last_day, w.prev_manifest) != 0
        || chain_base(adb, &base, base_hash) != 0 || base != last)
    {
        cp_log("error", "audit archive: cannot read the archive's end");
        return -1;
    }
    st = cp_db_prepare(adb, "SELECT min(start_ms) FROM audit_records"
                            " WHERE seq > ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, last);
    if (sqlite3_step(st) != SQLITE_ROW
        || sqlite3_column_type(st, 0) == SQLITE_NULL)
    {
        sqlite3_finalize(st);
        return 0;
    }
    min_start = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);

    /* days are archived once each: a record of an archived day ingested
     * late goes into the next day's file */
    day = cp_audit_city_day(min_start);
    if (last_day != INT64_MIN && day <= last_day) {
        day = last_day + 1;
    }
    if (day + hot_days >= today) {
        return 0;
    }

    /* the file ends with the last record of that day in chain order */
    st = cp_db_prepare(adb, "SELECT max(seq) FROM audit_records"
                            " WHERE start_ms < ?1 AND seq > ?2");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, (day + 1) * DAY_MS - CITY_MS);
    sqlite3_bind_int64(st, 2, last);
    if (sqlite3_step(st) != SQLITE_ROW
        || sqlite3_column_type(st, 0) == SQLITE_NULL)
    {
        sqlite3_finalize(st);
        return 0;
    }
    w.last_seq = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);

    /* never archive a record that is still hot: a late record of an old
     * day waits behind it (and goes into a later day's file) */
    st = cp_db_prepare(adb, "SELECT min(seq) FROM audit_records"
                            " WHERE start_ms >= ?1 AND seq > ?2");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, (today - hot_days) * DAY_MS - CITY_MS);
    sqlite3_bind_int64(st, 2, last);
    if (sqlite3_step(st) == SQLITE_ROW
        && sqlite3_column_type(st, 0) != SQLITE_NULL
        && sqlite3_column_int64(st, 0) <= w.last_seq)
    {
        w.last_seq = sqlite3_column_int64(st, 0) - 1;
    }
    sqlite3_finalize(st);
    if (w.last_seq <= last) {
        return 0;
    }

    memset(&w.z, 0, sizeof(w.z));
    w.day = day;
    cp_audit_day_name(day, w.name, sizeof(w.name));
    strncat(w.name, ".lgar", sizeof(w.name) - strlen(w.name) - 1);
    memmove(w.name + 6, w.name, strlen(w.name) + 1);
    memcpy(w.name, "audit-", 6);
    if (cp_path(w.path, sizeof(w.path), "%s/%s", dir, w.name) != 0
        || cp_path(w.tmp, sizeof(w.tmp), "%s.tmp", w.path) != 0)
    {
        cp_log("error", "audit archive: path too long");
        return -1;
    }
    w.fd = open(w.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    /* the mode is ours, not the umask's */
    if (w.fd != -1 && fchmod(w.fd, 0640) != 0) {
        close(w.fd);
        w.fd = -1;
    }
    if (w.fd == -1) {
        cp_log("error", "audit archive: %s: %s", w.tmp, strerror(errno));
        return -1;
    }
    w.md = EVP_MD_CTX_new();
    if (w.md == NULL || EVP_DigestInit_ex(w.md, EVP_sha256(), NULL) != 1
        || deflateInit(&w.z, Z_DEFAULT_COMPRESSION) != Z_OK)
    {
        EVP_MD_CTX_free(w.md);
        close(w.fd);
        unlink(w.tmp);
        return -1;
    }
    w.active = 1;
    if (write_all(w.fd, CP_ARCHIVE_MAGIC, sizeof(CP_ARCHIVE_MAGIC) - 1) != 0)
    {
        cp_log("error", "audit archive: %s: %s", w.tmp, strerror(errno));
        writer_abort();
        return -1;
    }
    w.first_seq = w.next_seq = last + 1;
    w.body_bytes = 0;
    w.min_start = INT64_MAX;
    w.max_start = INT64_MIN;
    memcpy(w.prev_hash, base_hash, sizeof(base_hash));
    memcpy(w.cur, base_hash, sizeof(base_hash));
    return 1;
}

/* up to budget more rows into the file: rows written, -1 */
static int64_t
writer_feed(sqlite3 *adb, int budget)
{
    sqlite3_stmt *st;
    int64_t       n = 0;
    int           step;

    st = cp_db_prepare(adb, "SELECT " CP_AUDIT_COLUMNS ", hash"
                            " FROM audit_records WHERE seq >= ?1"
                            " AND seq <= ?2 ORDER BY seq LIMIT ?3");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_int64(st, 1, w.next_seq);
    sqlite3_bind_int64(st, 2, w.last_seq);
    sqlite3_bind_int64(st, 3, budget);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        cp_audit_row_t row;
        unsigned char  h[CP_AUDIT_HASH_LEN];
        size_t         len;

        cp_audit_row_from_stmt(row, st, 0);
        /* never sign into the archive what the chain does not vouch for */
        cp_audit_hash(w.cur, row, h);
        if (row[CP_AC_SEQ].i != w.next_seq
            || sqlite3_column_bytes(st, CP_AUDIT_NCOLS) != CP_AUDIT_HASH_LEN
            || memcmp(h, sqlite3_column_blob(st, CP_AUDIT_NCOLS),
                      sizeof(h)) != 0)
        {
            cp_log("error", "audit archive: record seq %lld does not continue"
                   " the chain (run lgspctl audit verify); not archived",
                   (long long) w.next_seq);
            goto fail;
        }
        len = cp_audit_archive_encode(row, h, w.rec, sizeof(w.rec));
        if (len == 0) {
            cp_log("error", "audit archive: record seq %lld is too large",
                   (long long) w.next_seq);
            goto fail;
        }
        w.z.next_in = w.rec;
        w.z.avail_in = (uInt) len;
        if (deflate_some(Z_NO_FLUSH) != 0) {
            cp_log("error", "audit archive: %s: %s", w.tmp, strerror(errno));
            goto fail;
        }
        if (row[CP_AC_START_MS].i < w.min_start) {
            w.min_start = row[CP_AC_START_MS].i;
        }
        if (row[CP_AC_START_MS].i > w.max_start) {
            w.max_start = row[CP_AC_START_MS].i;
        }
        memcpy(w.cur, h, sizeof(h));
        w.next_seq++;
        n++;
    }
    if (step != SQLITE_DONE) {
        cp_log("error", "audit archive: %s", sqlite3_errmsg(adb));
        goto fail;
    }
    sqlite3_finalize(st);
    if (n == 0 && w.next_seq <= w.last_seq) {
        cp_log("error", "audit archive: record seq %lld is missing",
               (long long) w.next_seq);
        return -1;
    }
    return n;
fail:
    sqlite3_finalize(st);
    return -1;
}

static int
fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (fd == -1) {
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* seal the file, put it in place, record it */
static int
writer_finish(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
              const char *dir, int64_t now)
{
    cp_audit_manifest_t  m;
    cp_ckpt_archive_t    ca;
    EVP_PKEY            *pkey = NULL;
    sqlite3_stmt        *st = NULL;
    unsigned char        msg[MANIFEST_MAX + 32], *sig = NULL;
    unsigned char        mh[CP_AUDIT_HASH_LEN];
    unsigned int         dl;
    size_t               sig_len = 0, mlen;
    char                 text[MANIFEST_MAX], hex[2 * CP_ARCHIVE_MAX_SIG + 1];
    char                 trailer[CP_ARCHIVE_TRAILER + 1], mhex[65];
    int                  len, rc = -1;

    w.z.next_in = NULL;
    w.z.avail_in = 0;
    if (deflate_some(Z_FINISH) != 0) {
        cp_log("error", "audit archive: %s: %s", w.tmp, strerror(errno));
        return -1;
    }
    memset(&m, 0, sizeof(m));
    cp_audit_day_name(w.day, m.day, sizeof(m.day));
    m.first_seq = w.first_seq;
    m.last_seq = w.last_seq;
    m.records = w.last_seq - w.first_seq + 1;
    m.min_start_ms = w.min_start;
    m.max_start_ms = w.max_start;
    memcpy(m.prev_hash, w.prev_hash, CP_AUDIT_HASH_LEN);
    memcpy(m.last_hash, w.cur, CP_AUDIT_HASH_LEN);
    memcpy(m.prev_manifest, w.prev_manifest, CP_AUDIT_HASH_LEN);
    m.body_bytes = w.body_bytes;
    EVP_DigestFinal_ex(w.md, m.body_sha256, &dl);
    m.created_ms = now;

    if (cp_audit_active_key(registry, keys_dir, m.kid, sizeof(m.kid), m.alg,
                            sizeof(m.alg), &pkey) != 0)
    {
        cp_log("error", "audit archive: no signing key; %s not archived",
               m.day);
        return -1;
    }
    len = cp_audit_manifest_format(&m, text, sizeof(text));
    mlen = len > 0
           ? cp_archive_sig_message(msg, sizeof(msg), text, (size_t) len)
           : 0;
    if (mlen == 0 || cp_audit_sign(pkey, msg, mlen, &sig, &sig_len) != 0
        || sig_len > CP_ARCHIVE_MAX_SIG)
    {
        cp_log("error", "audit archive: %s: signing failed", m.day);
        goto done;
    }
    cp_archive_sha256(text, (size_t) len, mh);
    cp_hex(mh, sizeof(mh), mhex);
    cp_hex(sig, sig_len, hex);
    snprintf(trailer, sizeof(trailer), "manifest_at %020lld\n",
             (long long) (sizeof(CP_ARCHIVE_MAGIC) - 1 + (size_t) m.body_bytes));
    if (write_all(w.fd, text, (size_t) len) != 0
        || write_all(w.fd, "signature ", 10) != 0
        || write_all(w.fd, hex, strlen(hex)) != 0
        || write_all(w.fd, "\n", 1) != 0
        || write_all(w.fd, trailer, CP_ARCHIVE_TRAILER) != 0
        || fsync(w.fd) != 0)
    {
        cp_log("error", "audit archive: %s: %s", w.tmp, strerror(errno));
        goto done;
    }
    if (rename(w.tmp, w.path) != 0 || fsync_dir(dir) != 0) {
        cp_log("error", "audit archive: %s: %s", w.path, strerror(errno));
        goto done;
    }

    /* the checkpoint outside audit.db learns of the day before audit.db
     * does: erasing a day inside retention is then caught (a crash before
     * the row writes the day again, and its last line counts) */
    memset(&ca, 0, sizeof(ca));
    memcpy(ca.day, m.day, sizeof(ca.day));
    ca.first_seq = m.first_seq;
    ca.last_seq = m.last_seq;
    ca.records = m.records;
    memcpy(ca.manifest, mhex, sizeof(ca.manifest));
    ca.created_ms = now;
    if (cp_ckpt_append_archive(dir, &ca) != 0) {
        cp_log("error", "audit archive: %s/%s: %s", dir, CP_CKPT_FILE,
               strerror(errno));
        goto done;
    }

    /* from here the file is the truth; a crash before this row only
     * means the day is written again */
    if (cp_db_begin(adb) != 0) {
        cp_log("error", "audit archive: begin: %s", sqlite3_errmsg(adb));
        goto done;
    }
    st = cp_db_prepare(adb, "INSERT INTO audit_archives (day, file,"
                            " first_seq, last_seq, min_start_ms, max_start_ms,"
                            " records, manifest_sha256, created_ms)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (st == NULL) {
        cp_db_rollback(adb);
        goto done;
    }
    sqlite3_bind_text(st, 1, m.day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, w.name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, m.first_seq);
    sqlite3_bind_int64(st, 4, m.last_seq);
    sqlite3_bind_int64(st, 5, m.min_start_ms);
    sqlite3_bind_int64(st, 6, m.max_start_ms);
    sqlite3_bind_int64(st, 7, m.records);
    sqlite3_bind_text(st, 8, mhex, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 9, now);
    if (sqlite3_step(st) != SQLITE_DONE || cp_db_commit(adb) != 0) {
        cp_log("error", "audit archive: %s", sqlite3_errmsg(adb));
        cp_db_rollback(adb);
        goto done;
    }
    cp_log("info", "audit: archived %s: seq %lld..%lld, %lld records, %lld"
           " bytes", w.name, (long long) m.first_seq, (long long) m.last_seq,
           (long long) m.records, (long long) m.body_bytes);
    rc = 0;
done:
    sqlite3_finalize(st);
    OPENSSL_free(sig);
    EVP_PKEY_free(pkey);
    return rc;
}

/* files of days before today - retention_days: mark, then unlink */
static int64_t
retention(sqlite3 *adb, const char *dir, int64_t today, int retention_days,
          int64_t now)
{
    static int     swept;
    sqlite3_stmt  *st, *mark;
    char           cutoff[16], path[PATH_MAX + 80];
    int64_t        n = 0;

    cp_audit_day_name(today - retention_days, cutoff, sizeof(cutoff));
    /* once per process, finish the unlinks a crash interrupted */
    st = cp_db_prepare(adb, swept
        ? "SELECT id, file, deleted_ms FROM audit_archives"
          " WHERE deleted_ms IS NULL AND day < ?1 ORDER BY first_seq"
        : "SELECT id, file, deleted_ms FROM audit_archives"
          " WHERE deleted_ms IS NOT NULL OR day < ?1 ORDER BY first_seq");
    mark = cp_db_prepare(adb, "UPDATE audit_archives SET deleted_ms = ?2"
                              " WHERE id = ?1 AND deleted_ms IS NULL");
    if (st == NULL || mark == NULL) {
        sqlite3_finalize(st);
        sqlite3_finalize(mark);
        return -1;
    }
    swept = 1;
    sqlite3_bind_text(st, 1, cutoff, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *f = (const char *) sqlite3_column_text(st, 1);

        if (f == NULL || strchr(f, '/') != NULL
            || cp_path(path, sizeof(path), "%s/%s", dir, f) != 0)
        {
            continue;
        }
        if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
            /* recorded first: a file gone without its mark would read as
             * tampering */
            sqlite3_reset(mark);
            sqlite3_bind_int64(mark, 1, sqlite3_column_int64(st, 0));
            sqlite3_bind_int64(mark, 2, now);
            if (sqlite3_step(mark) != SQLITE_DONE) {
                cp_log("error", "audit archive: %s", sqlite3_errmsg(adb));
                break;
            }
            cp_log("info", "audit: %s is past retention (%d days); deleted",
                   f, retention_days);
            n++;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            cp_log("error", "audit archive: %s: %s", path, strerror(errno));
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(mark);
    return n;
}

int64_t
cp_audit_archive_run(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
                     const char *archive_dir, int hot_days,
                     int retention_days, int64_t now_ms, int max_records)
{
    int64_t        today = cp_audit_city_day(now_ms), done = 0, n;
    int64_t        last, last_day, base;
    unsigned char  h[CP_AUDIT_HASH_LEN];

    if (max_records < 1) {
        max_records = 1;
    }
    while (done < max_records) {
        int budget = (int) (max_records - done);

        if (!w.active) {
            /* the rows of the last recorded file still in audit.db go
             * first: the file is the truth */
            if (last_archive(adb, &last, &last_day, h) != 0
                || chain_base(adb, &base, h) != 0)
            {
                cp_log("error", "audit archive: cannot read audit.db");
                return -1;
            }
            if (base > last) {
                cp_log("error", "audit archive: the chain's base (seq %lld)"
                       " is past the last archive (seq %lld)",
                       (long long) base, (long long) last);
                return -1;
            }
            if (base < last) {
                n = delete_batch(adb, base, last, budget);
                if (n < 0) {
                    return -1;
                }
                done += n;
                continue;
            }
            n = writer_begin(adb, archive_dir, today, hot_days);
            if (n < 0) {
                writer_abort();
                return -1;
            }
            if (n == 0) {
                break;
            }
        }
        n = writer_feed(adb, budget);
        if (n < 0) {
            writer_abort();
            return -1;
        }
        done += n;
        if (w.next_seq > w.last_seq) {
            int r = writer_finish(adb, registry, keys_dir, archive_dir,
                                  now_ms);

            close(w.fd);
            deflateEnd(&w.z);
            EVP_MD_CTX_free(w.md);
            w.md = NULL;
            if (r != 0) {
                unlink(w.tmp);
            }
            w.active = 0;
            if (r != 0) {
                return -1;
            }
            done++;                /* more may be due: come back soon */
        }
    }
    if (done < max_records) {
        n = retention(adb, archive_dir, today, retention_days, now_ms);
        if (n < 0) {
            return -1;
        }
    }
    return done;
}
