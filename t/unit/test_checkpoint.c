/* The audit checkpoint (archive/checkpoints.log): line round trips through
 * the file, refusals of malformed lines, a torn last line, and the seal's
 * signed message (docs/audit.md "Seals and verification"). */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>

#include "cp_audit_checkpoint.h"
#include "cp_audit_seal.h"

static void
make_seal(cp_seal_t *s, int64_t id)
{
    memset(s, 0, sizeof(*s));
    s->version = 2;
    s->id = id;
    s->seq = id * 100;
    s->sealed_ms = 1764800000000LL + id;
    memset(s->head, (int) id, sizeof(s->head));
    memset(s->prev, 0xa0 + (int) id, sizeof(s->prev));
    strcpy(s->kid, "0123456789abcdef");
    strcpy(s->alg, "ES256");
    s->sig_len = 71;
    memset(s->sig, 0x5c, s->sig_len);
}

/* what a scan met, kept whole for the comparisons */
typedef struct {
    cp_seal_t          seals[8];
    size_t             nseals;
    cp_ckpt_archive_t  archives[4];
    size_t             narchives;
} seen_t;

static int
on_seal(void *arg, const cp_seal_t *s)
{
    seen_t *c = arg;

    ck_assert_uint_lt(c->nseals, 8);
    c->seals[c->nseals++] = *s;
    return 0;
}

static int
on_archive(void *arg, const cp_ckpt_archive_t *a)
{
    seen_t *c = arg;

    ck_assert_uint_lt(c->narchives, 4);
    c->archives[c->narchives++] = *a;
    return 0;
}

static int
scan(const char *dir, seen_t *c)
{
    cp_ckpt_visit_t vis = { on_seal, on_archive, c };
    char            why[256];

    memset(c, 0, sizeof(*c));
    return cp_ckpt_scan(dir, &vis, why, sizeof(why));
}

static char *
tmp_dir(void)
{
    static char dir[64];

    strcpy(dir, "/tmp/ckpt-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void
rm_dir(const char *dir)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/%s", dir, CP_CKPT_FILE);
    unlink(path);
    rmdir(dir);
}

START_TEST(round_trip)
{
    char              *dir = tmp_dir(), why[256], path[128];
    cp_seal_t          s1, s2, last;
    cp_ckpt_archive_t  a;
    seen_t             c;
    struct stat        st;
    int                exists;

    make_seal(&s1, 1);
    make_seal(&s2, 2);
    memset(&a, 0, sizeof(a));
    strcpy(a.day, "2026-12-01");
    a.first_seq = 1;
    a.last_seq = 150;
    a.records = 150;
    a.created_ms = 1764800000123LL;
    memset(a.manifest, 'e', 64);

    umask(0);       /* the file's mode is explicit, not the umask's */
    ck_assert_int_eq(cp_ckpt_append_seal(dir, &s1), 0);
    ck_assert_int_eq(cp_ckpt_append_archive(dir, &a), 0);
    ck_assert_int_eq(cp_ckpt_append_seal(dir, &s2), 0);
    umask(022);
    snprintf(path, sizeof(path), "%s/%s", dir, CP_CKPT_FILE);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0640);

    ck_assert_int_eq(scan(dir, &c), 1);
    ck_assert_uint_eq(c.nseals, 2);
    ck_assert_uint_eq(c.narchives, 1);
    ck_assert_mem_eq(&c.seals[0], &s1, sizeof(s1));
    ck_assert_mem_eq(&c.seals[1], &s2, sizeof(s2));
    ck_assert_str_eq(c.archives[0].day, "2026-12-01");
    ck_assert_int_eq(c.archives[0].last_seq, 150);
    ck_assert_int_eq(c.archives[0].created_ms, 1764800000123LL);
    ck_assert_str_eq(c.archives[0].manifest, a.manifest);

    ck_assert_int_eq(cp_ckpt_last_seal(dir, &last, &exists, why,
                                       sizeof(why)), 1);
    ck_assert_mem_eq(&last, &s2, sizeof(s2));

    /* a torn last line (a crash mid-write) is not read, and the next
     * append cuts it off */
    {
        int fd = open(path, O_WRONLY | O_APPEND);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "seal 2 3 300 17", 15), 15);
        close(fd);
    }
    ck_assert_int_eq(scan(dir, &c), 1);
    ck_assert_uint_eq(c.nseals, 2);
    make_seal(&s1, 3);
    ck_assert_int_eq(cp_ckpt_append_seal(dir, &s1), 0);
    ck_assert_int_eq(scan(dir, &c), 1);
    ck_assert_uint_eq(c.nseals, 3);
    ck_assert_int_eq(c.seals[2].id, 3);

    /* a malformed line in the middle stops the scan, naming it */
    {
        cp_ckpt_visit_t vis = { on_seal, on_archive, &c };
        int             fd = open(path, O_WRONLY | O_APPEND);

        ck_assert_int_eq(write(fd, "seal 2 x\n", 9), 9);
        close(fd);
        make_seal(&s1, 4);
        ck_assert_int_eq(cp_ckpt_append_seal(dir, &s1), 0);
        memset(&c, 0, sizeof(c));
        ck_assert_int_eq(cp_ckpt_scan(dir, &vis, why, sizeof(why)), -1);
        ck_assert_ptr_nonnull(strstr(why, ":5: not a checkpoint line"));
    }
    rm_dir(dir);
}
END_TEST

START_TEST(missing_file)
{
    char      *dir = tmp_dir(), why[256];
    seen_t     c;
    cp_seal_t  s;
    int        exists = 1;

    ck_assert_int_eq(scan(dir, &c), 0);
    ck_assert_uint_eq(c.nseals, 0);
    ck_assert_int_eq(cp_ckpt_last_seal(dir, &s, &exists, why, sizeof(why)),
                     0);
    ck_assert_int_eq(exists, 0);
    rm_dir(dir);
}
END_TEST

START_TEST(parse_lines)
{
    static const char *h = "0101010101010101010101010101010101010101010101"
                           "010101010101010101";
    cp_seal_t          s;
    cp_ckpt_archive_t  a;
    char               line[512];

#define PARSE(l) cp_ckpt_parse(l, strlen(l), &s, &a)
    snprintf(line, sizeof(line), "seal 2 1 100 5 %s %s 0123456789abcdef"
             " RS256 ab01", h, h);
    ck_assert_int_eq(PARSE(line), 1);
    ck_assert_int_eq(s.version, 2);
    ck_assert_uint_eq(s.sig_len, 2);
    snprintf(line, sizeof(line), "seal 1 1 100 5 %s - 0123456789abcdef"
             " RS256 ab01", h);
    ck_assert_int_eq(PARSE(line), 1);
    ck_assert_int_eq(s.version, 1);
    snprintf(line, sizeof(line), "archive 2026-12-01 1 9 9 %s 77", h);
    ck_assert_int_eq(PARSE(line), 2);
    ck_assert_int_eq(a.created_ms, 77);

    /* refusals */
    snprintf(line, sizeof(line), "archive 2026-12-01 1 9 9 %s 77 8", h);
    ck_assert_int_eq(PARSE(line), -1);               /* a field too many */
    snprintf(line, sizeof(line), "archive 2026-12-01 9 1 9 %s 77", h);
    ck_assert_int_eq(PARSE(line), -1);               /* last before first */
    snprintf(line, sizeof(line), "seal 3 1 100 5 %s %s k RS256 ab", h, h);
    ck_assert_int_eq(PARSE(line), -1);               /* unknown version */
    snprintf(line, sizeof(line), "seal 2 0 100 5 %s %s k RS256 ab", h, h);
    ck_assert_int_eq(PARSE(line), -1);               /* seal 0 */
    snprintf(line, sizeof(line), "seal 2 1 100 5 %s - k RS256 ab", h);
    ck_assert_int_eq(PARSE(line), -1);               /* v2 without a link */
    snprintf(line, sizeof(line), "seal 2 1 100 5 %.62s %s k RS256 ab", h, h);
    ck_assert_int_eq(PARSE(line), -1);               /* a short hash */
    snprintf(line, sizeof(line), "seal 2 1 100 5 %s %s k RS256 xyz", h, h);
    ck_assert_int_eq(PARSE(line), -1);               /* not hex */
    snprintf(line, sizeof(line), "seal 2 1 1x0 5 %s %s k RS256 ab", h, h);
    ck_assert_int_eq(PARSE(line), -1);               /* not a number */
    ck_assert_int_eq(cp_ckpt_parse("seal\0 2", 7, &s, &a), -1);
    ck_assert_int_eq(PARSE(""), -1);
#undef PARSE
}
END_TEST

START_TEST(seal_message)
{
    cp_seal_t      s, t;
    unsigned char  m[256], d1[32], d2[32];
    size_t         n;

    make_seal(&s, 7);
    n = cp_seal_message(&s, m, sizeof(m));
    /* tag with its NUL, id, seq, head, time, prev, kid */
    ck_assert_uint_eq(n, 18 + 8 + 8 + 32 + 8 + 32 + 16);
    ck_assert_mem_eq(m, "LGSP-AUDIT-SEAL-2\0", 18);
    ck_assert_int_eq(m[18 + 7], 7);                    /* id, big-endian */
    ck_assert_int_eq(m[26 + 7], 700 & 0xff);           /* seq */
    ck_assert_mem_eq(m + n - 16, "0123456789abcdef", 16);
    ck_assert_uint_eq(cp_seal_message(&s, m, 64), 0);  /* too small */

    /* every signed field moves the digest; the signature does not */
    cp_seal_digest(&s, d1);
    t = s;
    t.sig[0] ^= 1;
    cp_seal_digest(&t, d2);
    ck_assert_mem_eq(d1, d2, 32);
    t = s;
    t.prev[31] ^= 1;
    cp_seal_digest(&t, d2);
    ck_assert_mem_ne(d1, d2, 32);
    t = s;
    t.sealed_ms++;
    cp_seal_digest(&t, d2);
    ck_assert_mem_ne(d1, d2, 32);
}
END_TEST

Suite *
checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("lines");

    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, parse_lines);
    tcase_add_test(tc, seal_message);
    suite_add_tcase(s, tc);
    return s;
}
