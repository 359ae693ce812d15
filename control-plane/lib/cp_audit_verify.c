/*
 * lgspctl audit verify: the chain, the seals and the archive, trusting
 * nothing a writer of audit.db or lgsp.db could have made (docs/audit.md
 * "Verification").
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cp_audit.h"
#include "cp_audit_archive.h"
#include "cp_audit_seal.h"
#include "cp_store.h"
#include "cp_time.h"
#include "cp_util.h"

#define WHY(...)  snprintf(v->why, v->why_size, __VA_ARGS__)

/* what the walk needs of a checkpoint seal (its signature is checked as
 * the file is read, then dropped: a seal a minute for years) */
typedef struct {
    int64_t        id, seq;
    unsigned char  head[CP_AUDIT_HASH_LEN];
    unsigned char  checked;             /* its record was met */
} seal_ref_t;

typedef struct {
    const cp_audit_verify_opts_t *o;
    unsigned char  prev[CP_AUDIT_HASH_LEN];
    int64_t        last_seq;
    int64_t        records;
    seal_ref_t    *seals;               /* the checkpoint's, in file order */
    size_t         nseals, scap;
    cp_ckpt_archive_t *archives;
    size_t         narchives, acap;
    cp_seal_t      last;                /* the seal read before, in full */
    sqlite3_stmt  *rows;                /* audit.db's seals, in step */
    int            rows_done;
    int64_t        row_id;              /* the id of the row rows holds */
    int64_t        db_missing;          /* first seal audit.db lacks */
    size_t         cur;                 /* the next seal to meet */
    int64_t        sealed_seq;          /* the last seal's seq, -1: none */
    int64_t        unsealed_ms;         /* ingested_ms of sealed_seq + 1 */
    int64_t        base_seq;            /* audit_chain's base */
    unsigned char  base_hash[CP_AUDIT_HASH_LEN];
    int            base_found;
    char          *why;
    size_t         why_size;
} verify_t;

static int
grow(void **arr, size_t n, size_t *cap, size_t elem)
{
    void *p;

    if (n < *cap) {
        return 0;
    }
    *cap = *cap ? *cap * 2 : 256;
    p = realloc(*arr, *cap * elem);
    if (p == NULL) {
        return -1;
    }
    *arr = p;
    return 0;
}

/*
 * The checkpoint's seals at seq: they are in seq order (checked before the
 * walk), so a cursor moves with the records; one the walk passed without
 * its record stays unchecked.
 */
static void
match_seals(verify_t *v, int64_t seq, const unsigned char *h, int *bad,
            size_t *which)
{
    *bad = 0;
    while (v->cur < v->nseals && v->seals[v->cur].seq < seq) {
        v->cur++;
    }
    for (; v->cur < v->nseals && v->seals[v->cur].seq == seq; v->cur++) {
        if (memcmp(v->seals[v->cur].head, h, CP_AUDIT_HASH_LEN) != 0) {
            *bad = 1;
            *which = v->cur;
            return;
        }
        v->seals[v->cur].checked = 1;
    }
}

/* one record of the chain, from the archive or the hot table */
static int
verify_row(verify_t *v, const cp_audit_row_t row,
           const unsigned char *stored, size_t stored_len)
{
    unsigned char h[CP_AUDIT_HASH_LEN];
    int64_t       seq = row[CP_AC_SEQ].i;
    size_t        which = 0;
    int           bad;

    if (seq != v->last_seq + 1) {
        WHY("record seq %lld (transaction %.*s): expected seq %lld;"
            " records are missing or out of order", (long long) seq,
            (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s,
            (long long) (v->last_seq + 1));
        return -1;
    }
    cp_audit_hash(v->prev, row, h);
    if (stored_len != CP_AUDIT_HASH_LEN || memcmp(h, stored, sizeof(h)) != 0)
    {
        WHY("record seq %lld (transaction %.*s): hash does not match"
            " its content and the chain before it", (long long) seq,
            (int) row[CP_AC_TXN_ID].len, row[CP_AC_TXN_ID].s);
        return -1;
    }
    match_seals(v, seq, h, &bad, &which);
    if (bad) {
        WHY("seal %lld at seq %lld: the sealed head does not match the chain"
            " (record seq %lld, transaction %.*s)",
            (long long) v->seals[which].id, (long long) seq,
            (long long) seq, (int) row[CP_AC_TXN_ID].len,
            row[CP_AC_TXN_ID].s);
        return -1;
    }
    if (seq == v->sealed_seq + 1) {
        v->unsealed_ms = row[CP_AC_INGESTED_MS].i;
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

/*
 * The checkpoint's seals among themselves: numbered 1..n, each linked to
 * the one before (the unlinked seals of an older audit.db only before the
 * first linked one), heads that never go back, each signed by a pinned key.
 */
static int
check_link(verify_t *v, const cp_seal_t *s, const cp_seal_t *p)
{
    unsigned char  d[CP_AUDIT_HASH_LEN];
    char           e[512];

    if (s->id != (int64_t) v->nseals + 1) {
        WHY("the checkpoint's seal %zu is numbered %lld: seals are"
            " missing", v->nseals + 1, (long long) s->id);
        return -1;
    }
    if (p != NULL && s->seq < p->seq) {
        WHY("seal %lld at seq %lld goes back before seal %lld",
            (long long) s->id, (long long) s->seq, (long long) p->id);
        return -1;
    }
    if (s->version == 1 && p != NULL && p->version == 2) {
        WHY("seal %lld is unlinked after linked seals", (long long) s->id);
        return -1;
    }
    if (s->version == 2) {
        if (p != NULL) {
            cp_seal_digest(p, d);
        } else {
            memset(d, 0, sizeof(d));
        }
        if (memcmp(d, s->prev, sizeof(d)) != 0) {
            WHY("seal %lld at seq %lld does not link to seal %lld: a"
                " seal was removed or replaced", (long long) s->id,
                (long long) s->seq, (long long) s->id - 1);
            return -1;
        }
    }
    if (cp_seal_trusted(v->o->keys_dir, v->o->registry, s, e, sizeof(e))
        != 0)
    {
        WHY("seal %lld at seq %lld: %s", (long long) s->id,
            (long long) s->seq, e);
        return -1;
    }
    return 0;
}

static void
next_row(verify_t *v)
{
    if (sqlite3_step(v->rows) == SQLITE_ROW) {
        v->row_id = sqlite3_column_int64(v->rows, 0);
    } else {
        v->rows_done = 1;
    }
}

/* audit.db's seal rows, read in step with the file: the checkpoint's
 * (its last may not be copied yet: a crash between the file and the
 * commit) */
static int
check_row(verify_t *v, const cp_seal_t *s)
{
    cp_seal_t row;

    if (v->db_missing != 0) {
        return 0;               /* only the last may be missing: see after */
    }
    if (v->rows_done) {
        v->db_missing = s->id;
        return 0;
    }
    if (v->row_id > s->id) {
        WHY("seal %lld of the checkpoint is missing from audit.db: it was"
            " removed", (long long) s->id);
        return -1;
    }
    if (v->row_id < s->id) {
        WHY("seal %lld in audit.db is not in the checkpoint %s/%s",
            (long long) v->row_id, v->o->archive_dir, CP_CKPT_FILE);
        return -1;
    }
    if (cp_seal_from_row(v->rows, &row) != 0 || !cp_seal_same(&row, s)) {
        WHY("seal %lld at seq %lld in audit.db differs from the checkpoint"
            " %s/%s: it was replaced", (long long) s->id,
            (long long) sqlite3_column_int64(v->rows, 1), v->o->archive_dir,
            CP_CKPT_FILE);
        return -1;
    }
    next_row(v);
    return 0;
}

static int
on_seal(void *arg, const cp_seal_t *s)
{
    verify_t   *v = arg;
    seal_ref_t *r;

    if (check_link(v, s, v->nseals ? &v->last : NULL) != 0
        || check_row(v, s) != 0)
    {
        return -1;
    }
    if (grow((void **) &v->seals, v->nseals, &v->scap, sizeof(*r)) != 0) {
        WHY("out of memory");
        return -1;
    }
    r = &v->seals[v->nseals++];
    r->id = s->id;
    r->seq = s->seq;
    memcpy(r->head, s->head, CP_AUDIT_HASH_LEN);
    r->checked = 0;
    v->last = *s;
    return 0;
}

static int
on_archive(void *arg, const cp_ckpt_archive_t *a)
{
    verify_t *v = arg;

    if (grow((void **) &v->archives, v->narchives, &v->acap, sizeof(*a))
        != 0)
    {
        WHY("out of memory");
        return -1;
    }
    v->archives[v->narchives++] = *a;
    return 0;
}

static int64_t
day_number(const char *day)
{
    int y, m, d;

    if (sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3) {
        return -1;
    }
    return cp_days_from_civil(y, m, d);
}

/*
 * Every archived day still inside retention (on or after today -
 * retention_days, as the archive job deletes) is in audit_archives, not
 * marked deleted, with the manifest the checkpoint recorded.  The files
 * themselves are read by the walk.
 */
static int
verify_retention(verify_t *v, sqlite3 *adb)
{
    const cp_audit_verify_opts_t *o = v->o;
    sqlite3_stmt  *st;
    int64_t        keep_from = cp_audit_city_day(o->now_ms)
                               - o->retention_days;
    char           until[16];
    int            rc = 0;

    st = cp_db_prepare(adb, "SELECT manifest_sha256, deleted_ms"
                            " FROM audit_archives WHERE day = ?1");
    if (st == NULL) {
        WHY("audit.db: cannot read audit_archives");
        return -1;
    }
    for (size_t i = 0; rc == 0 && i < v->narchives; i++) {
        const cp_ckpt_archive_t *a = &v->archives[i];
        int64_t                  day = day_number(a->day);
        int                      later = 0;

        /* a day written again after a crash: its last line counts */
        for (size_t k = i + 1; k < v->narchives; k++) {
            later |= strcmp(v->archives[k].day, a->day) == 0;
        }
        if (later || day < keep_from) {
            continue;
        }
        cp_audit_day_name(day + o->retention_days, until, sizeof(until));
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, a->day, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            WHY("the archive of %s (seq %lld..%lld) is gone from audit.db"
                " but must be kept until %s (audit_retention_days %d)",
                a->day, (long long) a->first_seq, (long long) a->last_seq,
                until, o->retention_days);
            rc = -1;
        } else if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            WHY("the archive of %s (seq %lld..%lld) is marked deleted but"
                " must be kept until %s (audit_retention_days %d)", a->day,
                (long long) a->first_seq, (long long) a->last_seq, until,
                o->retention_days);
            rc = -1;
        } else if (sqlite3_column_text(st, 0) == NULL
                   || strcmp((const char *) sqlite3_column_text(st, 0),
                             a->manifest) != 0)
        {
            WHY("the archive of %s is not the one the checkpoint recorded",
                a->day);
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    if (rc != 0) {
        return rc;
    }

    /* and a day marked deleted early that the checkpoint never saw */
    st = cp_db_prepare(adb, "SELECT day FROM audit_archives"
                            " WHERE deleted_ms IS NOT NULL ORDER BY day");
    if (st == NULL) {
        return -1;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *) sqlite3_column_text(st, 0);
        int64_t     day = d ? day_number(d) : -1;

        if (day >= keep_from) {
            cp_audit_day_name(day + o->retention_days, until, sizeof(until));
            WHY("the archive of %s is marked deleted but must be kept until"
                " %s (audit_retention_days %d)", d, until,
                o->retention_days);
            rc = -1;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* the checkpoint, seal by seal, with audit.db's seal rows in step */
static int
read_checkpoint(verify_t *v, sqlite3 *adb)
{
    cp_ckpt_visit_t  vis = { on_seal, on_archive, v };
    int              r;

    v->rows = cp_db_prepare(adb, "SELECT " CP_SEAL_COLUMNS
                                 " FROM audit_seals ORDER BY id");
    if (v->rows == NULL) {
        WHY("audit.db: cannot read the seals");
        return -1;
    }
    next_row(v);
    r = cp_ckpt_scan(v->o->archive_dir, &vis, v->why, v->why_size);
    if (r < 0) {
        return -1;
    }
    if (r == 0 && !v->rows_done) {
        if (cp_db_int(adb, "SELECT count(*) FROM audit_seals"
                           " WHERE prev_digest IS NOT NULL", 0) > 0)
        {
            WHY("%s/%s is missing, but audit.db holds seals written with"
                " it: the checkpoint was removed", v->o->archive_dir,
                CP_CKPT_FILE);
        } else {
            WHY("%s/%s does not exist yet: audit.db is older than it;"
                " start lgspd once to create it", v->o->archive_dir,
                CP_CKPT_FILE);
        }
        return -1;
    }
    if (!v->rows_done) {
        WHY("seal %lld in audit.db is not in the checkpoint %s/%s",
            (long long) v->row_id, v->o->archive_dir, CP_CKPT_FILE);
        return -1;
    }
    if (v->db_missing != 0 && v->db_missing < (int64_t) v->nseals) {
        WHY("seal %lld of the checkpoint is missing from audit.db",
            (long long) v->db_missing);
        return -1;
    }
    v->sealed_seq = v->nseals ? v->seals[v->nseals - 1].seq : -1;
    return 0;
}

/* records after the last seal: how many, since when; too old fails */
static int
verify_unsealed(verify_t *v, cp_audit_verify_res_t *res)
{
    int64_t from = v->sealed_seq < 0 ? 0 : v->sealed_seq;

    res->unsealed = v->last_seq > from ? v->last_seq - from : 0;
    res->unsealed_age_ms = 0;
    if (res->unsealed == 0) {
        return 0;
    }
    /* a record older than the walk (pruned) counts as ingested long ago */
    res->unsealed_age_ms = v->unsealed_ms > 0
                           ? v->o->now_ms - v->unsealed_ms : v->o->now_ms;
    if (res->unsealed_age_ms > 2 * v->o->seal_interval_ms) {
        WHY("%lld records after seq %lld are unsealed, the oldest ingested"
            " %lld s ago: more than twice audit_seal_interval (%lld s);"
            " until sealed they can be removed from the end undetected"
            " (is lgspd running?)", (long long) res->unsealed,
            (long long) from, (long long) (res->unsealed_age_ms / 1000),
            (long long) (v->o->seal_interval_ms / 1000));
        return -1;
    }
    return 0;
}

int
cp_audit_verify(sqlite3 *adb, const cp_audit_verify_opts_t *o,
                cp_audit_verify_res_t *res, char *why, size_t why_size)
{
    verify_t       vv, *v = &vv;
    sqlite3_stmt  *st = NULL;
    int            rc = -1, step;
    int64_t        head_seq, base_seq, start_seq;
    unsigned char  head_hash[CP_AUDIT_HASH_LEN], base_hash[CP_AUDIT_HASH_LEN];

    memset(v, 0, sizeof(*v));
    memset(res, 0, sizeof(*res));
    v->o = o;
    v->why = why;
    v->why_size = why_size;
    why[0] = '\0';

    /* one read transaction: lgspd may ingest meanwhile */
    if (sqlite3_exec(adb, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        return -1;
    }
    st = cp_db_prepare(adb, "SELECT head_seq, head_hash, base_seq, base_hash"
                            " FROM audit_chain WHERE id = 1");
    if (st == NULL || sqlite3_step(st) != SQLITE_ROW
        || sqlite3_column_bytes(st, 1) != CP_AUDIT_HASH_LEN
        || sqlite3_column_bytes(st, 3) != CP_AUDIT_HASH_LEN)
    {
        WHY("audit.db: the chain head is missing");
        goto done;
    }
    head_seq = sqlite3_column_int64(st, 0);
    memcpy(head_hash, sqlite3_column_blob(st, 1), CP_AUDIT_HASH_LEN);
    base_seq = sqlite3_column_int64(st, 2);
    memcpy(base_hash, sqlite3_column_blob(st, 3), CP_AUDIT_HASH_LEN);
    sqlite3_finalize(st);
    st = NULL;

    if (read_checkpoint(v, adb) != 0 || verify_retention(v, adb) != 0)
    {
        goto done;
    }

    /* the archive first: it holds the start of the chain */
    v->base_seq = base_seq;
    memcpy(v->base_hash, base_hash, CP_AUDIT_HASH_LEN);
    cp_audit_archive_set_trust(o->keys_dir, o->registry);
    if (cp_audit_archive_walk(adb, o->archive_dir, verify_archived, v,
                              &v->last_seq, v->prev, why, why_size) != 0)
    {
        goto done;
    }
    start_seq = v->last_seq - v->records;
    if (base_seq > v->last_seq
        || (base_seq == v->last_seq
            && memcmp(v->prev, base_hash, CP_AUDIT_HASH_LEN) != 0)
        || (base_seq < v->last_seq && v->base_found != 1))
    {
        WHY("the hot log does not continue the archive (archive ends at"
            " seq %lld, hot log starts after seq %lld)",
            (long long) v->last_seq, (long long) base_seq);
        goto done;
    }

    /* rows at or below the archive's end are the archived copies a crash
     * left before they were pruned: the file is the truth */
    st = cp_db_prepare(adb, "SELECT " CP_AUDIT_COLUMNS ", hash"
                            " FROM audit_records WHERE seq > ?1"
                            " ORDER BY seq");
    if (st == NULL) {
        WHY("audit.db: cannot read the records");
        goto done;
    }
    sqlite3_bind_int64(st, 1, v->last_seq);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        cp_audit_row_t row;

        cp_audit_row_from_stmt(row, st, 0);
        if (verify_row(v, row, sqlite3_column_blob(st, CP_AUDIT_NCOLS),
                       (size_t) sqlite3_column_bytes(st, CP_AUDIT_NCOLS))
            != 0)
        {
            goto done;
        }
    }
    if (step != SQLITE_DONE) {
        WHY("audit.db: %s", sqlite3_errmsg(adb));
        goto done;
    }
    if (v->last_seq != head_seq
        || memcmp(v->prev, head_hash, CP_AUDIT_HASH_LEN) != 0)
    {
        WHY("the chain ends at seq %lld but its head says seq %lld:"
            " records after seq %lld are missing or changed",
            (long long) v->last_seq, (long long) head_seq,
            (long long) v->last_seq);
        goto done;
    }
    for (size_t i = 0; i < v->nseals; i++) {
        /* seq 0 seals an empty chain; the records of a seal older than the
         * oldest archive kept are gone (legal retention, checked above):
         * only its signature can still be checked */
        if (!v->seals[i].checked && v->seals[i].seq > start_seq) {
            WHY("seal %lld at seq %lld: no such record in the chain",
                (long long) v->seals[i].id, (long long) v->seals[i].seq);
            goto done;
        }
    }
    if (verify_unsealed(v, res) != 0) {
        goto done;
    }
    res->records = v->records;
    res->seals = (int64_t) v->nseals;
    rc = 0;

done:
    sqlite3_finalize(st);
    sqlite3_exec(adb, "COMMIT", NULL, NULL, NULL);
    cp_audit_archive_set_trust(NULL, NULL);
    sqlite3_finalize(v->rows);
    free(v->seals);
    free(v->archives);
    return rc;
}
