/* The audit archive's file format: records and manifest round trips,
 * refusals of damaged input, the city day. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <check.h>

#include "cp_audit_archive.h"

static void
make_row(cp_audit_row_t row, int64_t seq, const char *txn)
{
    memset(row, 0, sizeof(cp_audit_row_t));
    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            row[c].s = cp_audit_cols[c].name;
            row[c].len = strlen(row[c].s);
        } else {
            row[c].i = (int64_t) c * 1000 - 7;
        }
    }
    row[CP_AC_SEQ].i = seq;
    row[CP_AC_TXN_ID].s = txn;
    row[CP_AC_TXN_ID].len = strlen(txn);
    row[CP_AC_REASON].len = 0;               /* an empty text */
    row[CP_AC_UPSTREAM_DURATION_US].i = -1;  /* a negative integer */
}

static int
rows_equal(const cp_audit_row_t a, const cp_audit_row_t b)
{
    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text
            ? a[c].len != b[c].len
              || (a[c].len && memcmp(a[c].s, b[c].s, a[c].len) != 0)
            : a[c].i != b[c].i)
        {
            return 0;
        }
    }
    return 1;
}

START_TEST(record_round_trip)
{
    cp_audit_row_t row, back;
    unsigned char  h[CP_AUDIT_HASH_LEN], h2[CP_AUDIT_HASH_LEN], zero[32];
    unsigned char  buf[4096];
    size_t         n;

    memset(zero, 0, sizeof(zero));
    make_row(row, 42, "abc123");
    cp_audit_hash(zero, row, h);
    n = cp_audit_archive_encode(row, h, buf, sizeof(buf));
    ck_assert_uint_gt(n, CP_AUDIT_HASH_LEN);
    ck_assert_int_eq(cp_audit_archive_decode(buf, n, back, h2), (ssize_t) n);
    ck_assert(rows_equal(row, back));
    ck_assert_mem_eq(h, h2, sizeof(h));
    /* the decoded row hashes to the same chain hash */
    cp_audit_hash(zero, back, h2);
    ck_assert_mem_eq(h, h2, sizeof(h));

    /* every strict prefix is "need more", never a record */
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_eq(cp_audit_archive_decode(buf, k, back, h2), 0);
    }
    /* no room: refused */
    ck_assert_uint_eq(cp_audit_archive_encode(row, h, buf, n - 1), 0);
}
END_TEST

START_TEST(record_refusals)
{
    cp_audit_row_t row, back;
    unsigned char  h[CP_AUDIT_HASH_LEN] = { 0 }, buf[16384];
    static char    big[CP_ARCHIVE_MAX_TEXT + 1];
    size_t         n;

    make_row(row, 1, "t");
    memset(big, 'x', sizeof(big));
    row[CP_AC_ROUTE].s = big;
    row[CP_AC_ROUTE].len = sizeof(big);
    ck_assert_uint_eq(cp_audit_archive_encode(row, h, buf, sizeof(buf)), 0);

    /* a length field over the limit is malformed, not "need more" */
    make_row(row, 1, "t");
    n = cp_audit_archive_encode(row, h, buf, sizeof(buf));
    ck_assert_uint_gt(n, 0);
    buf[8] = 0x7f;              /* transaction_id's length, first byte */
    ck_assert_int_eq(cp_audit_archive_decode(buf, n, back, h), -1);
}
END_TEST

/* many records through zlib and back, decoded as a stream is */
START_TEST(compressed_stream_round_trip)
{
    enum { N = 2000 };
    unsigned char  prev[CP_AUDIT_HASH_LEN] = { 0 }, h[CP_AUDIT_HASH_LEN];
    unsigned char *plain = malloc(N * 1024), *z = malloc(N * 1024);
    unsigned char *back = malloc(N * 1024);
    uLongf         zlen = N * 1024, blen = N * 1024;
    size_t         len = 0, off = 0;
    char           txn[40];
    int64_t        seq = 0;

    ck_assert(plain && z && back);
    for (int i = 1; i <= N; i++) {
        cp_audit_row_t row;

        snprintf(txn, sizeof(txn), "txn-%d", i);
        make_row(row, i, txn);
        cp_audit_hash(prev, row, h);
        len += cp_audit_archive_encode(row, h, plain + len, N * 1024 - len);
        memcpy(prev, h, sizeof(h));
    }
    ck_assert_int_eq(compress(z, &zlen, plain, len), Z_OK);
    ck_assert_uint_lt(zlen, len / 3);          /* it does compress */
    ck_assert_int_eq(uncompress(back, &blen, z, zlen), Z_OK);
    ck_assert_uint_eq(blen, len);

    memset(prev, 0, sizeof(prev));
    while (off < blen) {
        cp_audit_row_t row;
        unsigned char  want[CP_AUDIT_HASH_LEN];
        ssize_t        n = cp_audit_archive_decode(back + off, blen - off,
                                                   row, h);

        ck_assert_int_gt(n, 0);
        ck_assert_int_eq(row[CP_AC_SEQ].i, seq + 1);
        cp_audit_hash(prev, row, want);
        ck_assert_mem_eq(want, h, sizeof(h));
        memcpy(prev, h, sizeof(h));
        off += (size_t) n;
        seq++;
    }
    ck_assert_int_eq(seq, N);
    free(plain);
    free(z);
    free(back);
}
END_TEST

static void
make_manifest(cp_audit_manifest_t *m)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->day, "2025-03-04");
    m->first_seq = 101;
    m->last_seq = 250;
    m->records = 150;
    m->min_start_ms = 1741064400000;
    m->max_start_ms = 1741150799999;
    memset(m->prev_hash, 0xab, CP_AUDIT_HASH_LEN);
    memset(m->last_hash, 0x01, CP_AUDIT_HASH_LEN);
    memset(m->prev_manifest, 0xfe, CP_AUDIT_HASH_LEN);
    m->body_bytes = 8780;
    memset(m->body_sha256, 0x5a, CP_AUDIT_HASH_LEN);
    m->created_ms = 1741300000123;
    strcpy(m->kid, "3479de3b32d942db");
    strcpy(m->alg, "ES256");
}

static size_t
with_sig(const cp_audit_manifest_t *m, char *out, size_t size)
{
    int n = cp_audit_manifest_format(m, out, size);

    ck_assert_int_gt(n, 0);
    return (size_t) n + (size_t) snprintf(out + n, size - (size_t) n,
                                          "signature 30450221deadbeef\n");
}

START_TEST(manifest_round_trip)
{
    cp_audit_manifest_t  m, back;
    char                 text[4096];
    size_t               len, signed_len;
    const char          *why;
    int                  n;

    make_manifest(&m);
    n = cp_audit_manifest_format(&m, text, sizeof(text));
    len = with_sig(&m, text, sizeof(text));
    ck_assert_int_eq(cp_audit_manifest_parse(text, len, &back, &signed_len,
                                             &why), 0);
    ck_assert_uint_eq(signed_len, (size_t) n);
    ck_assert_str_eq(back.day, m.day);
    ck_assert_int_eq(back.first_seq, 101);
    ck_assert_int_eq(back.last_seq, 250);
    ck_assert_int_eq(back.records, 150);
    ck_assert_int_eq(back.min_start_ms, m.min_start_ms);
    ck_assert_int_eq(back.max_start_ms, m.max_start_ms);
    ck_assert_int_eq(back.body_bytes, 8780);
    ck_assert_int_eq(back.created_ms, m.created_ms);
    ck_assert_mem_eq(back.prev_hash, m.prev_hash, CP_AUDIT_HASH_LEN);
    ck_assert_mem_eq(back.last_hash, m.last_hash, CP_AUDIT_HASH_LEN);
    ck_assert_mem_eq(back.prev_manifest, m.prev_manifest, CP_AUDIT_HASH_LEN);
    ck_assert_mem_eq(back.body_sha256, m.body_sha256, CP_AUDIT_HASH_LEN);
    ck_assert_str_eq(back.kid, m.kid);
    ck_assert_str_eq(back.alg, "ES256");
    ck_assert_uint_eq(back.sig_len, 8);
    ck_assert_int_eq(back.sig[0], 0x30);
    ck_assert_int_eq(back.sig[7], 0xef);

    /* no room: refused, not truncated */
    ck_assert_int_eq(cp_audit_manifest_format(&m, text, 100), -1);
}
END_TEST

START_TEST(manifest_refusals)
{
    cp_audit_manifest_t  m, back;
    char                 text[4096], bad[4096];
    size_t               len, sl;
    const char          *why;
    char                *p;

    make_manifest(&m);
    len = with_sig(&m, text, sizeof(text));

    /* trailing bytes after the signature line */
    memcpy(bad, text, len);
    memcpy(bad + len, "x\n", 2);
    ck_assert_int_eq(cp_audit_manifest_parse(bad, len + 2, &back, &sl, &why),
                     -1);
    /* truncated: no signature */
    p = strstr(text, "signature");
    ck_assert_int_eq(cp_audit_manifest_parse(text, (size_t) (p - text), &back,
                                             &sl, &why), -1);
    /* a hash that is not hex */
    memcpy(bad, text, len);
    p = strstr(bad, "last_hash ") + 10;
    *p = 'G';
    ck_assert_int_eq(cp_audit_manifest_parse(bad, len, &back, &sl, &why), -1);
    /* a short hash */
    memcpy(bad, text, len);
    p = strstr(bad, "prev_hash ") + 10;
    memmove(p, p + 2, len - (size_t) (p - bad) - 2);
    ck_assert_int_eq(cp_audit_manifest_parse(bad, len - 2, &back, &sl, &why),
                     -1);
    /* lines out of order */
    memcpy(bad, text, len);
    p = strstr(bad, "first_seq");
    memcpy(p, "last_seq ", 9);
    ck_assert_int_eq(cp_audit_manifest_parse(bad, len, &back, &sl, &why), -1);
    /* counts that disagree with the range */
    m.records = 149;
    len = with_sig(&m, text, sizeof(text));
    ck_assert_int_eq(cp_audit_manifest_parse(text, len, &back, &sl, &why), -1);
    ck_assert_str_eq(why, "inconsistent manifest");
    /* a number with junk */
    make_manifest(&m);
    len = with_sig(&m, text, sizeof(text));
    memcpy(bad, text, len);
    p = strstr(bad, "body_bytes 8780") + 14;
    *p = 'x';
    ck_assert_int_eq(cp_audit_manifest_parse(bad, len, &back, &sl, &why), -1);
}
END_TEST

START_TEST(city_day)
{
    /* 2025-03-04T17:00:00Z is midnight of 2025-03-05 in UTC+7 */
    int64_t mid = 1741107600000LL;

    ck_assert_int_eq(cp_audit_city_day(mid), 20152);
    ck_assert_int_eq(cp_audit_city_day(mid - 1), 20151);
    ck_assert_int_eq(cp_audit_city_day(0), 0);
    ck_assert_int_eq(cp_audit_city_day(-7 * 3600 * 1000LL), 0);
    ck_assert_int_eq(cp_audit_city_day(-7 * 3600 * 1000LL - 1), -1);
}
END_TEST

Suite *
archive_suite(void)
{
    Suite *s = suite_create("archive");
    TCase *tc = tcase_create("format");

    tcase_add_test(tc, record_round_trip);
    tcase_add_test(tc, record_refusals);
    tcase_add_test(tc, compressed_stream_round_trip);
    tcase_add_test(tc, manifest_round_trip);
    tcase_add_test(tc, manifest_refusals);
    tcase_add_test(tc, city_day);
    suite_add_tcase(s, tc);
    return s;
}
