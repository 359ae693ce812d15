/*
 * The audit ingester: spool segments → audit.db, once per tick of the main
 * loop; the seals (every audit_seal_interval while records come, and when
 * lgspd stops); and the audit cron (archive, pruning).
 *
 * lgspd extends and seals only the chain it wrote: it remembers the head of
 * its last commit (checked once from the last seal when audit.db opens) and
 * refuses to go on from any other head, so a writer of audit.db cannot make
 * it chain onto, or seal, a forgery.
 *
 * Why no record is lost or doubled: the records read from a segment and
 * the segment's new read position are written in one transaction, and the
 * position is read inside that transaction.  A crash before COMMIT leaves
 * both as they were; after it, both moved.  A segment file is deleted only
 * when sealed (nothing more will be written) and fully read.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lgspd.h"
#include "cp_audit.h"
#include "cp_audit_archive.h"
#include "cp_audit_seal.h"
#include "cp_audit_summary.h"
#include "cp_store.h"
#include "cp_util.h"
#include "lgsp_spool.h"

#define INGEST_BATCH       2000     /* records per transaction */
#define INGEST_BUDGET      20000    /* records per tick */
#define CRON_INTERVAL_MS   60000    /* archive checks */
#define ARCHIVE_BATCH      5000     /* records moved per cron run */

static struct {
    sqlite3   *db;
    int64_t    retry_open_ms;
    int64_t    next_cron_ms;
    char       spool[PATH_MAX + 32];
    char       archive[PATH_MAX + 32];
    char       keys[PATH_MAX + 32];
    cp_summary_t *summary;         /* the batch's daily summaries */
    int64_t    caught_up_ms;       /* when the spool was last all read */
    int        behind;             /* this tick left records unread */
    int        full;               /* this tick read all it may read */
    cp_audit_head_t head;          /* the head lgspd last wrote or checked */
    int        tampered;           /* audit.db is not what lgspd wrote */
    int64_t    sealed_seq;         /* the last seal's seq */
    int64_t    next_seal_ms;
    int64_t    seals;              /* made by this lgspd (metrics) */
} audit;

/* audit.db changed behind lgspd's back: stop writing to it.  Records stay
 * in the spool (nothing is lost); an operator investigates with "lgspctl
 * audit verify" and restarts lgspd once audit.db is repaired. */
static void
tampered(const char *why)
{
    if (!audit.tampered) {
        cp_log("error", "audit: %s; ingestion and sealing stopped: the"
               " records wait in the spool (run \"lgspctl audit verify\";"
               " restart lgspd once audit.db is restored)", why);
    }
    audit.tampered = 1;
}

typedef struct {
    char  name[256];
} seg_name_t;

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(((const seg_name_t *) a)->name,
                  ((const seg_name_t *) b)->name);
}

static int
pid_gone(pid_t pid)
{
    return kill(pid, 0) != 0 && errno == ESRCH;
}

/* One batch: records [pos, pos+n) of the segment, read position with them. */
static int
ingest_batch(const char *name, const void *base, uint32_t total,
             uint32_t *pos_out, int *budget)
{
    sqlite3       *db = audit.db;
    sqlite3_stmt  *pos_st = NULL, *head_st = NULL, *ins = NULL, *upd = NULL;
    sqlite3_stmt  *mark = NULL;
    unsigned char  prev[CP_AUDIT_HASH_LEN], hash[CP_AUDIT_HASH_LEN];
    int64_t        seq, now = cp_now_ms();
    uint32_t       pos = 0, n;
    int            rc = -1;

    if (cp_db_begin(db) != 0) {
        cp_log("error", "audit.db: begin: %s", sqlite3_errmsg(db));
        return -1;
    }
    cp_summary_reset(audit.summary);

    pos_st = cp_db_prepare(db, "SELECT position FROM spool_positions"
                               " WHERE segment = ?1");
    head_st = cp_db_prepare(db, "SELECT head_seq, head_hash FROM audit_chain"
                                " WHERE id = 1");
    ins = cp_db_prepare(db, "INSERT INTO audit_records (" CP_AUDIT_COLUMNS
                            ", hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                            " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
                            " ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)"
                            " ON CONFLICT (transaction_id) DO NOTHING");
    upd = cp_db_prepare(db, "UPDATE audit_chain SET head_seq = ?1,"
                            " head_hash = ?2 WHERE id = 1");
    mark = cp_db_prepare(db, "INSERT INTO spool_positions (segment,"
                             " position, updated_ms) VALUES (?1, ?2, ?3)"
                             " ON CONFLICT (segment) DO UPDATE SET"
                             " position = ?2, updated_ms = ?3");
    if (pos_st == NULL || head_st == NULL || ins == NULL || upd == NULL
        || mark == NULL)
    {
        goto rollback;
    }

    sqlite3_bind_text(pos_st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(pos_st) == SQLITE_ROW) {
        int64_t p = sqlite3_column_int64(pos_st, 0);

        if (p < 0 || p > total) {
            cp_log("error", "audit: segment %s: stored position %lld is past"
                   " its %u committed records; left alone", name,
                   (long long) p, total);
            goto rollback;
        }
        pos = (uint32_t) p;
    }
    *pos_out = pos;

    n = total - pos;
    if ((int) n > *budget) {
        n = (uint32_t) *budget;
    }
    if (n > INGEST_BATCH) {
        n = INGEST_BATCH;
    }
    if (n == 0) {
        rc = 0;
        goto rollback;                 /* nothing to write: end the txn */
    }

    if (sqlite3_step(head_st) != SQLITE_ROW
        || sqlite3_column_bytes(head_st, 1) != CP_AUDIT_HASH_LEN)
    {
        cp_log("error", "audit.db: the chain head is missing");
        goto rollback;
    }
    seq = sqlite3_column_int64(head_st, 0);
    memcpy(prev, sqlite3_column_blob(head_st, 1), sizeof(prev));
    if (seq != audit.head.seq || memcmp(prev, audit.head.hash, sizeof(prev)))
    {
        char why[160];

        snprintf(why, sizeof(why), "the chain head in audit.db (seq %lld)"
                 " is not the one lgspd wrote (seq %lld)", (long long) seq,
                 (long long) audit.head.seq);
        tampered(why);
        goto rollback;
    }

    /* slots are packed: walk to the position (a size and twelve length
     * bytes per record, ~20 ns each) */
    lgsp_spool_cursor_t  cur;

    lgsp_spool_cursor(&cur, base);
    while (cur.index < pos && lgsp_spool_next(&cur, NULL) == 1) {
        /* void */
    }

    for (uint32_t i = pos; i < pos + n; i++) {
        lgsp_audit_record_t  rec;
        cp_audit_row_t       row;

        /* committed records never change; the decoded copy keeps the
         * row's strings stable while SQLite reads them */
        if (cur.index != i || lgsp_spool_next(&cur, &rec) != 1) {
            cp_log("error", "audit: segment %s: record %u cannot be read",
                   name, i);
            goto rollback;
        }
        cp_audit_row_from_record(row, &rec, seq + 1, now);
        cp_audit_hash(prev, row, hash);

        sqlite3_reset(ins);
        cp_audit_row_bind(ins, row, 1);
        sqlite3_bind_blob(ins, CP_AUDIT_NCOLS + 1, hash, sizeof(hash),
                          SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            cp_log("error", "audit.db: insert: %s", sqlite3_errmsg(db));
            goto rollback;
        }
        if (sqlite3_changes(db) == 0) {
            /* the belt caught what the position design should make
             * impossible: say so loudly, keep the chain whole */
            cp_log("error", "audit: segment %s slot %u: transaction %.*s is"
                   " already recorded; not recorded twice", name, i,
                   (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s);
            continue;
        }
        if (cp_summary_add(audit.summary, row) != 0) {
            cp_log("error", "audit: summary: out of memory");
            goto rollback;
        }
        seq++;
        memcpy(prev, hash, sizeof(prev));
    }

    /* the summaries move with the records, in their transaction */
    if (cp_summary_flush(audit.summary, db) != 0) {
        cp_log("error", "audit.db: summary: %s", sqlite3_errmsg(db));
        goto rollback;
    }

    sqlite3_bind_int64(upd, 1, seq);
    sqlite3_bind_blob(upd, 2, prev, sizeof(prev), SQLITE_STATIC);
    sqlite3_bind_text(mark, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(mark, 2, pos + n);
    sqlite3_bind_int64(mark, 3, now);
    if (sqlite3_step(upd) != SQLITE_DONE || sqlite3_step(mark) != SQLITE_DONE)
    {
        cp_log("error", "audit.db: %s", sqlite3_errmsg(db));
        goto rollback;
    }
    sqlite3_finalize(pos_st);
    sqlite3_finalize(head_st);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(mark);
    if (cp_db_commit(db) != 0) {
        cp_log("error", "audit.db: commit: %s", sqlite3_errmsg(db));
        cp_db_rollback(db);
        return -1;
    }
    audit.head.seq = seq;
    memcpy(audit.head.hash, prev, sizeof(prev));
    *pos_out = pos + n;
    *budget -= (int) n;
    return 1;

rollback:
    sqlite3_finalize(pos_st);
    sqlite3_finalize(head_st);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(mark);
    cp_db_rollback(db);
    return rc;
}

static int
read_position(const char *name, uint32_t *pos)
{
    sqlite3_stmt *st;
    int           rc = 0;

    *pos = 0;
    st = cp_db_prepare(audit.db, "SELECT position FROM spool_positions"
                                 " WHERE segment = ?1");
    if (st == NULL) {
        return -1;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        *pos = (uint32_t) sqlite3_column_int64(st, 0);
        break;
    case SQLITE_DONE:
        break;
    default:
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

static void
forget_segment(const char *name)
{
    sqlite3_stmt *st;

    st = cp_db_prepare(audit.db, "DELETE FROM spool_positions"
                                 " WHERE segment = ?1");
    if (st != NULL) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
}

static void
ingest_segment(const char *name, pid_t owner, int *budget)
{
    char                      path[PATH_MAX + 300], bad[PATH_MAX + 310];
    int                       fd, r, gone;
    struct stat               st;
    void                     *base;
    const char               *why;
    uint32_t                  total, pos = 0;
    lgsp_audit_seg_header_t  *h;

    if (cp_path(path, sizeof(path), "%s/%s", audit.spool, name) != 0) {
        return;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd == -1) {
        cp_log("error", "audit: %s: %s", path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0 || st.st_size < LGSP_AUDIT_HEADER_SIZE) {
        close(fd);
        why = "shorter than a segment header";
        goto quarantine;
    }
    base = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE,
                MAP_SHARED, fd, 0);
    close(fd);
    if (base == MAP_FAILED) {
        cp_log("error", "audit: %s: mmap: %s", path, strerror(errno));
        return;
    }
    if (lgsp_spool_check(base, (size_t) st.st_size, &why) != 0) {
        munmap(base, (size_t) st.st_size);
        goto quarantine;
    }
    h = base;

    /* nothing to ingest, now or ever (a writer that died before its first
     * commit): no position to keep, no takeover to report */
    gone = pid_gone(owner);
    if (lgsp_spool_empty(base, gone)) {
        munmap(base, (size_t) st.st_size);
        if (unlink(path) != 0) {
            cp_log("error", "audit: %s: unlink: %s", path, strerror(errno));
            return;
        }
        cp_log("info", "audit: removed empty segment %s", name);
        return;
    }

    /*
     * The seal is read before the commit words: a writer commits all its
     * records before it seals, so once sealed is seen, the count read
     * after it is final.
     */
    if (!__atomic_load_n(&h->sealed, __ATOMIC_ACQUIRE) && gone) {
        /* its worker died without sealing: what it committed is all
         * there will ever be */
        __atomic_store_n(&h->sealed, 1, __ATOMIC_RELEASE);
        cp_log("warn", "audit: took over segment %s of dead worker %d",
               name, (int) owner);
    }
    int sealed = __atomic_load_n(&h->sealed, __ATOMIC_ACQUIRE);
    lgsp_spool_cursor_t  cur;

    lgsp_spool_cursor(&cur, base);
    while ((r = lgsp_spool_next(&cur, NULL)) == 1) {
        /* void */
    }
    total = cur.index;
    if (r == -1) {
        /* only a damaged file has one: what follows it cannot be found */
        cp_log("error", "audit: segment %s: slot after record %u is"
               " malformed; the records after it are unreadable", name,
               total);
    }

    /* a plain read first: only this process moves positions, forward, so
     * an equal one means nothing to do and no write transaction */
    r = read_position(name, &pos);
    while (r == 0 && pos < total && *budget > 0) {
        r = ingest_batch(name, base, total, &pos, budget);
        if (r == 1) {
            /* a hint for the backlog, written after the truth committed */
            __atomic_store_n(&h->ingested, pos, __ATOMIC_RELEASE);
            r = 0;
        }
    }
    munmap(base, (size_t) st.st_size);
    if (pos < total) {
        audit.behind = 1;
    }

    if (r == 0 && sealed && pos == total) {
        if (unlink(path) != 0) {
            cp_log("error", "audit: %s: unlink: %s", path, strerror(errno));
            return;
        }
        /* a crash here leaves a position row without a file: harmless,
         * names are never reused */
        forget_segment(name);
    }
    return;

quarantine:
    /* keep it for an operator, out of the way of the ingester */
    cp_path(bad, sizeof(bad), "%s.bad", path);
    cp_log("error", "audit: %s: %s; renamed to %s", path, why, bad);
    rename(path, bad);
}

static void
ingest_spool(void)
{
    DIR            *d;
    struct dirent  *e;
    seg_name_t     *names = NULL;
    size_t          n = 0, cap = 0;
    pid_t           pid;
    int             budget = INGEST_BUDGET;

    d = opendir(audit.spool);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);

        if (len >= sizeof(names[0].name)) {
            continue;
        }
        if (!lgsp_spool_name(e->d_name, &pid)) {
            /* a segment its writer died making holds no record */
            if (len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0
                && strncmp(e->d_name, "seg.", 4) == 0
                && (pid = (pid_t) atoi(e->d_name + 4)) > 0 && pid_gone(pid))
            {
                char path[PATH_MAX + 300];

                if (cp_path(path, sizeof(path), "%s/%s", audit.spool,
                            e->d_name) == 0)
                {
                    unlink(path);
                }
            }
            continue;
        }
        if (n == cap) {
            seg_name_t *more;

            cap = cap ? cap * 2 : 32;
            more = realloc(names, cap * sizeof(seg_name_t));
            if (more == NULL) {
                break;
            }
            names = more;
        }
        memcpy(names[n++].name, e->d_name, len + 1);
    }
    closedir(d);

    if (n > 1) {
        qsort(names, n, sizeof(seg_name_t), cmp_names);
    }
    audit.behind = 0;
    for (size_t i = 0; i < n && budget > 0; i++) {
        lgsp_spool_name(names[i].name, &pid);
        ingest_segment(names[i].name, pid, &budget);
    }
    free(names);
    audit.full = budget <= 0;
    if (!audit.behind && budget > 0) {
        audit.caught_up_ms = cp_now_ms();
    }
}

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
audit_seal(lgspd_t *d, int64_t now)
{
    cp_seal_t      s;
    unsigned char  dg[CP_AUDIT_HASH_LEN];
    char           why[PATH_MAX + 256], hex[2 * CP_AUDIT_HASH_LEN + 1];
    int64_t        t0 = now_us();

    /* once an interval, whatever the outcome: a failure is not retried
     * every tick */
    audit.next_seal_ms = now + d->conf.audit_seal_interval * 1000LL;
    if (cp_audit_seal(audit.db, d->db, audit.keys, audit.archive,
                      &audit.head, &s, why, sizeof(why)) != 0)
    {
        cp_log("error", "audit: seal failed: %s", why);
        return;
    }
    audit.sealed_seq = s.seq;
    audit.seals++;
    /* the log (the journal under systemd) keeps a copy of every seal's
     * digest that the lgsp user cannot rewrite */
    cp_seal_digest(&s, dg);
    cp_hex(dg, sizeof(dg), hex);
    cp_log("info", "audit: seal %lld at seq %lld, digest %s (%lld us)",
           (long long) s.id, (long long) s.seq, hex,
           (long long) (now_us() - t0));
}

static void
audit_cron(lgspd_t *d, int64_t now)
{
    /* a day's file is fixed when it is begun and a day is archived once:
     * while the spool holds more than a tick reads (a backlog after a
     * restart may hold much of that day), the archive waits for it, so
     * that only records that really came late go into a later day's file
     * (a segment that cannot be read holds nothing up) */
    if (audit.full) {
        audit.next_cron_ms = now;
        return;
    }
    /* a day is archived over several ticks, a batch each: come back at
     * the next tick while there is more */
    if (cp_audit_archive_run(audit.db, d->db, audit.keys, audit.archive,
                             d->conf.audit_hot_days,
                             d->conf.audit_retention_days, now,
                             ARCHIVE_BATCH) > 0)
    {
        audit.next_cron_ms = now;
    }
}

/* audit.db opened: the chain since the last seal checked once, from here
 * on lgspd's memory of the head is the check */
static void
audit_opened(void)
{
    char why[PATH_MAX + 256];

    if (cp_audit_head_check(audit.db, audit.archive, &audit.head, why,
                            sizeof(why)) != 0)
    {
        tampered(why);
        return;
    }
    audit.sealed_seq = cp_db_int(audit.db, "SELECT coalesce(max(seq), -1)"
                                           " FROM audit_seals"
                                           " WHERE id = (SELECT max(id)"
                                           " FROM audit_seals)", -1);
    /* what a crash left unsealed is sealed at once */
    audit.next_seal_ms = 0;
}

void
lgspd_audit_tick(lgspd_t *d)
{
    int64_t now = cp_now_ms();

    if (audit.db == NULL) {
        if (now < audit.retry_open_ms) {
            return;
        }
        if (cp_home_path(&d->home, "spool", audit.spool, sizeof(audit.spool))
            || cp_home_path(&d->home, "archive", audit.archive,
                            sizeof(audit.archive))
            || cp_home_path(&d->home, "keys", audit.keys, sizeof(audit.keys)))
        {
            cp_log("error", "audit: LGSP_HOME path too long");
            audit.retry_open_ms = now + 60000;
            return;
        }
        if (audit.summary == NULL) {
            audit.summary = cp_summary_new();
            if (audit.summary == NULL) {
                cp_log("error", "audit: out of memory; retrying in 5 s");
                audit.retry_open_ms = now + 5000;
                return;
            }
        }
        audit.db = cp_audit_open(&d->home, 1);
        if (audit.db == NULL) {
            cp_log("error", "audit: cannot open audit.db; retrying in 5 s");
            audit.retry_open_ms = now + 5000;
            return;
        }
        audit.next_cron_ms = now;
        audit_opened();
    }
    if (audit.tampered) {
        return;
    }

    ingest_spool();

    if (audit.head.seq > audit.sealed_seq && now >= audit.next_seal_ms
        && !audit.tampered)
    {
        audit_seal(d, now);
    }
    if (now >= audit.next_cron_ms) {
        audit.next_cron_ms = now + CRON_INTERVAL_MS;
        audit_cron(d, now);
    }
}

void
lgspd_audit_stop(lgspd_t *d)
{
    if (audit.db == NULL || audit.tampered) {
        return;
    }
    /* what the workers committed until now, then a seal over it: a clean
     * stop leaves nothing unsealed */
    ingest_spool();
    if (audit.head.seq > audit.sealed_seq) {
        audit_seal(d, cp_now_ms());
    }
}

int
lgspd_audit_chain_ok(void)
{
    return audit.db != NULL && !audit.tampered;
}

/* for metrics: records in audit.db that no seal covers yet */
int64_t
lgspd_audit_unsealed(void)
{
    if (audit.db == NULL || audit.head.seq <= audit.sealed_seq) {
        return 0;
    }
    return audit.head.seq - (audit.sealed_seq < 0 ? 0 : audit.sealed_seq);
}

/*
 * For metrics: how long since the ingester last read every committed
 * record of the spool (0 while it keeps up); -1 before audit.db opened.
 */
int64_t
lgspd_audit_lag_ms(void)
{
    if (audit.db == NULL || audit.caught_up_ms == 0) {
        return -1;
    }
    return cp_now_ms() - audit.caught_up_ms;
}
