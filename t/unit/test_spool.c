/* The audit spool writer: a segment only once a record needs it, append,
 * commit, seal, rollover, torn records, a full disk counted, and the
 * reader helpers lgspd relies on. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>

#include "lgsp_spool.h"

/* the smallest segment: room for one record of any size, five of fill() */
#define SMALL_SEG (LGSP_AUDIT_HEADER_SIZE + LGSP_AUDIT_SLOT_MAX)
#define FILL_SLOT 120       /* 8 + 72 fixed + 32 txn + 7 service, padded */

static char dir[64];

static void
setup(void)
{
    strcpy(dir, "/tmp/lgsp-spool-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    char           p[320];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
}

static void
fill(lgsp_audit_record_t *r, int n)
{
    char txn[40];

    memset(r, 0, sizeof(*r));
    snprintf(txn, sizeof(txn), "%032x", n);
    LGSP_AUDIT_SET(r, txn_id, txn, strlen(txn));
    LGSP_AUDIT_SET(r, service, "ho-tich", 7);
    r->start_ms = 1700000000000LL + n;
    r->status = 200;
    r->result = LGSP_AUDIT_RESULT_OK;
}

/* the names of the segment files in dir, sorted; returns how many */
static int
segments(char names[][128], int max)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    int            n = 0;
    pid_t          pid;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        ck_assert_msg(lgsp_spool_name(e->d_name, &pid),
                      "unexpected file %s", e->d_name);
        ck_assert_int_eq(pid, getpid());
        ck_assert_int_lt(n, max);
        ck_assert_uint_lt(strlen(e->d_name), 128);
        memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    }
    closedir(d);
    qsort(names, (size_t) n, 128, (int (*)(const void *, const void *)) strcmp);
    return n;
}

/* record i of a mapped segment, through the reader's cursor */
static lgsp_audit_record_t
record_at(const void *base, uint32_t i)
{
    lgsp_spool_cursor_t  c;
    lgsp_audit_record_t  r;

    lgsp_spool_cursor(&c, base);
    while (c.index < i) {
        ck_assert_int_eq(lgsp_spool_next(&c, NULL), 1);
    }
    ck_assert_int_eq(lgsp_spool_next(&c, &r), 1);

    return r;
}

/* the slot of record i, committed or not (walking the sizes) */
static lgsp_audit_slot_t *
slot_at(void *base, uint32_t i)
{
    unsigned char  *p = (unsigned char *) base + LGSP_AUDIT_HEADER_SIZE;

    while (i--) {
        p += ((lgsp_audit_slot_t *) p)->size;
    }

    return (lgsp_audit_slot_t *) p;
}

static void *
map(const char *name, size_t *size)
{
    char        p[256];
    int         fd;
    struct stat st;
    void       *base;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    base = mmap(NULL, (size_t) st.st_size, PROT_READ | PROT_WRITE,
                MAP_SHARED, fd, 0);
    close(fd);
    ck_assert_ptr_ne(base, MAP_FAILED);
    *size = (size_t) st.st_size;
    return base;
}

START_TEST(append_commits_in_place)
{
    lgsp_spool_t              sp;
    lgsp_audit_record_t       r;
    uint64_t                  dropped = 0;
    char                      names[4][128];
    size_t                    size;
    void                     *base;
    const char               *why;
    lgsp_audit_seg_header_t  *h;

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, &dropped), 0);
    for (int i = 0; i < 2; i++) {
        fill(&r, i);
        ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    }
    ck_assert_int_eq(segments(names, 4), 1);

    base = map(names[0], &size);
    ck_assert_uint_eq(size, LGSP_AUDIT_SEG_SIZE);     /* preallocated */
    ck_assert_int_eq(lgsp_spool_check(base, size, &why), 0);
    h = base;
    ck_assert_int_eq(h->owner_pid, getpid());
    ck_assert_uint_eq(h->sealed, 0);
    ck_assert_uint_eq(h->committed, 2);
    ck_assert_uint_eq(lgsp_spool_committed(base), 2);

    /* packed: the fixed part and only the strings' bytes */
    ck_assert_uint_eq(lgsp_audit_slot_size(&r), FILL_SLOT);
    ck_assert_uint_eq(slot_at(base, 1)->size, FILL_SLOT);
    ck_assert_ptr_eq(slot_at(base, 1),
                     (char *) base + LGSP_AUDIT_HEADER_SIZE + FILL_SLOT);

    r = record_at(base, 1);
    ck_assert_uint_eq(r.start_ms, 1700000000001LL);
    ck_assert_uint_eq(r.status, 200);
    ck_assert_uint_eq(r.txn_id_len, 32);
    ck_assert_int_eq(memcmp(r.txn_id, "00000000000000000000000000000001",
                            32), 0);
    ck_assert_uint_eq(r.service_len, 7);
    ck_assert_int_eq(memcmp(r.service, "ho-tich", 7), 0);
    ck_assert_uint_eq(r.request_id_len, 0);
    ck_assert_int_eq(lgsp_spool_backlog(dir, NULL), 2);

    lgsp_spool_close(&sp);
    ck_assert_uint_eq(h->sealed, 1);                  /* seen through our map */
    ck_assert_uint_eq(dropped, 0);
    munmap(base, size);
}
END_TEST

/* nginx starts workers (and its cache helpers) on every reload: one that
 * writes nothing must leave nothing in the spool */
START_TEST(segment_made_by_the_first_record)
{
    lgsp_spool_t         sp;
    lgsp_audit_record_t  r;
    uint64_t             dropped = 0;
    char                 names[2][128];
    size_t               size;
    void                *base;

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, &dropped), 0);
    ck_assert_int_eq(segments(names, 2), 0);
    lgsp_spool_close(&sp);
    ck_assert_int_eq(segments(names, 2), 0);

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, &dropped), 0);
    ck_assert_int_eq(segments(names, 2), 0);
    fill(&r, 0);
    ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    ck_assert_int_eq(segments(names, 2), 1);
    lgsp_spool_close(&sp);

    /* what it wrote stays, sealed, for lgspd */
    ck_assert_int_eq(segments(names, 2), 1);
    base = map(names[0], &size);
    ck_assert_uint_eq(((lgsp_audit_seg_header_t *) base)->sealed, 1);
    ck_assert_uint_eq(lgsp_spool_committed(base), 1);
    ck_assert_int_eq(lgsp_spool_empty(base, 1), 0);
    munmap(base, size);
    ck_assert_uint_eq(dropped, 0);
}
END_TEST

/* a segment header as a writer leaves it after lgsp_spool_open_segment,
 * before any commit */
static void
empty_header(void *page)
{
    lgsp_audit_seg_header_t  *h = page;

    memset(page, 0, LGSP_AUDIT_HEADER_SIZE + LGSP_AUDIT_SLOT_MAX);
    memcpy(h->magic, LGSP_AUDIT_SEG_MAGIC, sizeof(h->magic));
    h->version = LGSP_AUDIT_SEG_VERSION;
    h->header_size = LGSP_AUDIT_HEADER_SIZE;
    h->fixed_size = LGSP_AUDIT_FIXED;
    h->capacity = LGSP_AUDIT_HEADER_SIZE + LGSP_AUDIT_SLOT_MAX;
    h->owner_pid = 1;
}

START_TEST(empty_segments_are_told_apart)
{
    static unsigned char      seg[LGSP_AUDIT_HEADER_SIZE
                                  + LGSP_AUDIT_SLOT_MAX];
    lgsp_audit_seg_header_t  *h = (lgsp_audit_seg_header_t *) seg;
    lgsp_audit_slot_t        *slot;
    const char               *why;

    empty_header(seg);
    ck_assert_int_eq(lgsp_spool_check(seg, sizeof(seg), &why), 0);

    /* its writer lives and may still commit: kept */
    ck_assert_int_eq(lgsp_spool_empty(seg, 0), 0);
    /* its writer died before the first commit, or sealed it empty */
    ck_assert_int_eq(lgsp_spool_empty(seg, 1), 1);
    h->sealed = 1;
    ck_assert_int_eq(lgsp_spool_empty(seg, 0), 1);

    /* one committed record makes it worth ingesting, whoever owns it */
    slot = (lgsp_audit_slot_t *) (seg + LGSP_AUDIT_HEADER_SIZE);
    slot->size = (uint32_t) ((sizeof(lgsp_audit_slot_t) + LGSP_AUDIT_FIXED
                              + 7) & ~(size_t) 7);
    slot->commit = LGSP_AUDIT_COMMIT;
    ck_assert_uint_eq(lgsp_spool_committed(seg), 1);
    ck_assert_int_eq(lgsp_spool_empty(seg, 0), 0);
    ck_assert_int_eq(lgsp_spool_empty(seg, 1), 0);

    /* a slot written but not committed is no record */
    slot->commit = 0;
    h->sealed = 0;
    ck_assert_int_eq(lgsp_spool_empty(seg, 1), 1);
}
END_TEST

START_TEST(full_segment_seals_and_rolls_over)
{
    lgsp_spool_t         sp;
    lgsp_audit_record_t  r;
    uint64_t             dropped = 0;
    char                 names[4][128];
    size_t               size;
    void                *a, *b;
    uint32_t             nseg;

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, SMALL_SEG, &dropped), 0);
    for (int i = 0; i < 8; i++) {
        fill(&r, i);
        ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    }
    ck_assert_int_eq(segments(names, 4), 2);
    ck_assert_int_eq(lgsp_spool_backlog(dir, &nseg), 8);
    ck_assert_uint_eq(nseg, 2);

    /* names sort by creation time: the first holds 0..4, sealed (a sixth
     * record did not fit: 6 * 120 > 704) */
    a = map(names[0], &size);
    ck_assert_uint_eq(((lgsp_audit_seg_header_t *) a)->sealed, 1);
    ck_assert_uint_eq(((lgsp_audit_seg_header_t *) a)->sequence, 0);
    ck_assert_uint_eq(lgsp_spool_committed(a), 5);
    ck_assert_uint_eq(record_at(a, 4).start_ms, 1700000000004LL);
    munmap(a, size);

    b = map(names[1], &size);
    ck_assert_uint_eq(((lgsp_audit_seg_header_t *) b)->sealed, 0);
    ck_assert_uint_eq(((lgsp_audit_seg_header_t *) b)->sequence, 1);
    ck_assert_uint_eq(lgsp_spool_committed(b), 3);
    ck_assert_uint_eq(record_at(b, 0).start_ms, 1700000000005LL);

    /* an ingested position in the header lowers the backlog */
    ((lgsp_audit_seg_header_t *) b)->ingested = 2;
    ck_assert_int_eq(lgsp_spool_backlog(dir, NULL), 6);
    munmap(b, size);
    lgsp_spool_close(&sp);
    ck_assert_uint_eq(dropped, 0);
}
END_TEST

START_TEST(torn_record_is_not_read)
{
    lgsp_spool_t         sp;
    lgsp_audit_record_t  r;
    uint64_t             dropped = 0;
    char                 names[2][128];
    size_t               size;
    void                *base;
    lgsp_audit_slot_t   *slot;

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, &dropped), 0);
    fill(&r, 0);
    ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    ck_assert_int_eq(segments(names, 2), 1);
    base = map(names[0], &size);

    /* a writer that died between the copy and the commit word: slot 1
     * is written (our own copy of what append writes) but not committed */
    slot = slot_at(base, 0);
    memcpy(slot_at(base, 1), slot, FILL_SLOT);
    slot_at(base, 1)->commit = 0;
    ck_assert_uint_eq(lgsp_spool_committed(base), 1);
    ck_assert_int_eq(lgsp_spool_backlog(dir, NULL), 1);

    /* and a committed slot after a gap does not count either: slots
     * commit in order, the first absent one ends the records */
    memcpy(slot_at(base, 2), slot, FILL_SLOT);
    ck_assert_uint_eq(slot_at(base, 2)->commit, LGSP_AUDIT_COMMIT);
    ck_assert_uint_eq(lgsp_spool_committed(base), 1);

    /* the commit word makes it whole */
    slot_at(base, 1)->commit = LGSP_AUDIT_COMMIT;
    ck_assert_uint_eq(lgsp_spool_committed(base), 3);

    /* a damaged size (or lengths that do not add up to it) ends the
     * records there, reported, and nothing is read past the mapping */
    slot_at(base, 2)->size = FILL_SLOT + 8;
    {
        lgsp_spool_cursor_t  c;

        lgsp_spool_cursor(&c, base);
        ck_assert_int_eq(lgsp_spool_next(&c, NULL), 1);
        ck_assert_int_eq(lgsp_spool_next(&c, NULL), 1);
        ck_assert_int_eq(lgsp_spool_next(&c, NULL), -1);
        ck_assert_uint_eq(c.index, 2);
    }
    slot_at(base, 2)->size = (uint32_t) (size - LGSP_AUDIT_HEADER_SIZE);
    ck_assert_uint_eq(lgsp_spool_committed(base), 2);
    slot_at(base, 2)->size = FILL_SLOT;
    ((unsigned char *) (slot_at(base, 2) + 1))
        [offsetof(lgsp_audit_record_t, reason_len)] = 200;
    ck_assert_uint_eq(lgsp_spool_committed(base), 2);
    munmap(base, size);
    lgsp_spool_close(&sp);
}
END_TEST

static int
no_space(int fd, off_t offset, off_t len)
{
    (void) fd; (void) offset; (void) len;
    return ENOSPC;
}

START_TEST(full_disk_counts_dropped_records)
{
    lgsp_spool_t         sp;
    lgsp_audit_record_t  r;
    uint64_t             dropped = 0;
    char                 names[4][128];

    ck_assert_int_eq(lgsp_spool_init(&sp, dir, SMALL_SEG, &dropped), 0);
    fill(&r, 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    }
    /* the segment is full and the next cannot be allocated */
    sp.allocate = no_space;
    for (int i = 0; i < 4; i++) {
        errno = 0;
        ck_assert_int_eq(lgsp_spool_append(&sp, &r), -1);
        ck_assert_int_eq(errno, ENOSPC);
    }
    ck_assert_uint_eq(dropped, 4);
    /* the full segment was sealed, no half-made file is left behind */
    ck_assert_int_eq(segments(names, 4), 1);
    ck_assert_int_eq(lgsp_spool_backlog(dir, NULL), 5);

    /* space again: after the retry delay the spool writes again */
    sp.allocate = posix_fallocate;
    sp.retry_at = 0;
    ck_assert_int_eq(lgsp_spool_append(&sp, &r), 0);
    ck_assert_int_eq(segments(names, 4), 2);
    ck_assert_uint_eq(dropped, 4);
    lgsp_spool_close(&sp);
}
END_TEST

START_TEST(unwritable_spool_reports_and_counts)
{
    lgsp_spool_t         sp;
    lgsp_audit_record_t  r;
    uint64_t             dropped = 0;
    char                 names[2][128];

    memset(&sp, 0, sizeof(sp));
    /* an impossible segment size is refused outright */
    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 100, &dropped), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, NULL), -1);
    ck_assert_int_eq(lgsp_spool_init(&sp, "/nonexistent/spool", 0, &dropped),
                     -1);
    ck_assert_int_eq(errno, ENOENT);
    fill(&r, 0);
    ck_assert_int_eq(lgsp_spool_append(&sp, &r), -1);
    ck_assert_uint_eq(dropped, 1);

    /* a full disk shows at the first record, which makes the first
     * segment: dropped, counted, no half-made file */
    ck_assert_int_eq(lgsp_spool_init(&sp, dir, 0, &dropped), 0);
    sp.allocate = no_space;
    errno = 0;
    ck_assert_int_eq(lgsp_spool_append(&sp, &r), -1);
    ck_assert_int_eq(errno, ENOSPC);
    ck_assert_uint_eq(dropped, 2);
    ck_assert_int_eq(segments(names, 2), 0);
    lgsp_spool_close(&sp);
    ck_assert_int_eq(segments(names, 2), 0);
}
END_TEST

START_TEST(set_truncates_and_sanitises)
{
    lgsp_audit_record_t r;
    char                long_id[200];

    memset(&r, 0, sizeof(r));
    memset(long_id, 'a', sizeof(long_id));
    LGSP_AUDIT_SET(&r, request_id, long_id, sizeof(long_id));
    ck_assert_uint_eq(r.request_id_len, LGSP_AUDIT_REQUEST_ID);

    LGSP_AUDIT_SET(&r, reason, "no\"gr\nant\xc3", 10);
    ck_assert_uint_eq(r.reason_len, 10);
    ck_assert_int_eq(memcmp(r.reason, "no\"gr?ant?", 10), 0);

    LGSP_AUDIT_SET(&r, method, NULL, 5);
    ck_assert_uint_eq(r.method_len, 0);
}
END_TEST


/* every byte value at every position of the word-at-a-time part and the
 * tail, against the byte rule: printable ASCII kept, the rest '?' */
START_TEST(set_sanitises_every_byte_everywhere)
{
    int                  b, pos;
    char                 in[21], want[21];
    lgsp_audit_record_t  r;

    for (b = 0; b < 256; b++) {
        for (pos = 0; pos < (int) sizeof(in); pos++) {
            memset(in, 'x', sizeof(in));
            in[pos] = (char) b;
            memcpy(want, in, sizeof(in));
            want[pos] = (b >= 0x20 && b < 0x7f) ? (char) b : '?';

            memset(&r, 0, sizeof(r));
            LGSP_AUDIT_SET(&r, reason, in, sizeof(in));

            ck_assert_uint_eq(r.reason_len, sizeof(in));
            ck_assert_msg(memcmp(r.reason, want, sizeof(in)) == 0,
                          "byte 0x%02x at %d", b, pos);
        }
    }
}
END_TEST

START_TEST(segment_names_and_layout_checks)
{
    pid_t       pid = 0;
    char        page[LGSP_AUDIT_HEADER_SIZE];
    const char *why;

    ck_assert(lgsp_spool_name("seg.123.1700000000000000.0", &pid));
    ck_assert_int_eq(pid, 123);
    ck_assert(!lgsp_spool_name("seg.123.1700000000000000.0.tmp", &pid));
    ck_assert(!lgsp_spool_name("seg.0.1.2", &pid));
    ck_assert(!lgsp_spool_name("seg.12", &pid));
    ck_assert(!lgsp_spool_name("seg.12.3.", &pid));
    ck_assert(!lgsp_spool_name("other", &pid));

    memset(page, 0, sizeof(page));
    ck_assert_int_eq(lgsp_spool_check(page, sizeof(page), &why), -1);
    ck_assert_str_eq(why, "not an audit segment (bad magic)");
    memcpy(page, LGSP_AUDIT_SEG_MAGIC, 8);
    ck_assert_int_eq(lgsp_spool_check(page, sizeof(page), &why), -1);
    ck_assert_int_eq(lgsp_spool_check(page, 10, &why), -1);
}
END_TEST

Suite *
spool_suite(void)
{
    Suite *s = suite_create("spool");
    TCase *w = tcase_create("writer");
    TCase *r = tcase_create("readers");

    tcase_add_checked_fixture(w, setup, teardown);
    tcase_add_test(w, segment_made_by_the_first_record);
    tcase_add_test(w, append_commits_in_place);
    tcase_add_test(w, full_segment_seals_and_rolls_over);
    tcase_add_test(w, torn_record_is_not_read);
    tcase_add_test(w, full_disk_counts_dropped_records);
    tcase_add_test(w, unwritable_spool_reports_and_counts);
    suite_add_tcase(s, w);

    tcase_add_checked_fixture(r, setup, teardown);
    tcase_add_test(r, set_truncates_and_sanitises);
    tcase_add_test(r, set_sanitises_every_byte_everywhere);
    tcase_add_test(r, segment_names_and_layout_checks);
    tcase_add_test(r, empty_segments_are_told_apart);
    suite_add_tcase(s, r);
    return s;
}
