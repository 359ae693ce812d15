/*
 * The audit archive's file format (docs/audit.md): a record's encoding
 * (its canonical bytes, then its hash), the manifest's text, and the
 * hashing and signed message both the writer and the reader use.  The
 * file's layout around them is described in cp_audit_archive.c.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "cp_audit_archive.h"
#include "cp_audit_archive_priv.h"
#include "cp_util.h"

static void
put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}

static uint64_t
get_be(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* ----------------------------------------------------------- records */

size_t
cp_audit_archive_encode(const cp_audit_row_t row,
                        const unsigned char hash[CP_AUDIT_HASH_LEN],
                        unsigned char *out, size_t size)
{
    size_t n = 0;

    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            if (row[c].len > CP_ARCHIVE_MAX_TEXT || size - n < 4 + row[c].len)
            {
                return 0;
            }
            put_be(out + n, row[c].len, 4);
            if (row[c].len > 0) {
                memcpy(out + n + 4, row[c].s, row[c].len);
            }
            n += 4 + row[c].len;
        } else {
            if (size - n < 8) {
                return 0;
            }
            put_be(out + n, (uint64_t) row[c].i, 8);
            n += 8;
        }
    }
    if (size - n < CP_AUDIT_HASH_LEN) {
        return 0;
    }
    memcpy(out + n, hash, CP_AUDIT_HASH_LEN);
    return n + CP_AUDIT_HASH_LEN;
}

ssize_t
cp_audit_archive_decode(const unsigned char *buf, size_t len,
                        cp_audit_row_t row,
                        unsigned char hash[CP_AUDIT_HASH_LEN])
{
    size_t n = 0;

    for (int c = 0; c < CP_AUDIT_NCOLS; c++) {
        if (cp_audit_cols[c].is_text) {
            size_t l;

            if (len - n < 4) {
                return 0;
            }
            l = (size_t) get_be(buf + n, 4);
            if (l > CP_ARCHIVE_MAX_TEXT) {
                return -1;
            }
            if (len - n - 4 < l) {
                return 0;
            }
            row[c].s = (const char *) buf + n + 4;
            row[c].len = l;
            row[c].i = 0;
            n += 4 + l;
        } else {
            if (len - n < 8) {
                return 0;
            }
            row[c].s = NULL;
            row[c].len = 0;
            row[c].i = (int64_t) get_be(buf + n, 8);
            n += 8;
        }
    }
    if (len - n < CP_AUDIT_HASH_LEN) {
        return 0;
    }
    memcpy(hash, buf + n, CP_AUDIT_HASH_LEN);
    return (ssize_t) (n + CP_AUDIT_HASH_LEN);
}

/* ---------------------------------------------------------- manifest */

int
cp_audit_manifest_format(const cp_audit_manifest_t *m, char *out,
                         size_t size)
{
    char ph[65], lh[65], pm[65], bs[65];
    int  n;

    cp_hex(m->prev_hash, CP_AUDIT_HASH_LEN, ph);
    cp_hex(m->last_hash, CP_AUDIT_HASH_LEN, lh);
    cp_hex(m->prev_manifest, CP_AUDIT_HASH_LEN, pm);
    cp_hex(m->body_sha256, CP_AUDIT_HASH_LEN, bs);
    n = snprintf(out, size,
                 "day %s\nfirst_seq %lld\nlast_seq %lld\nrecords %lld\n"
                 "min_start_ms %lld\nmax_start_ms %lld\nprev_hash %s\n"
                 "last_hash %s\nprev_manifest %s\nbody_bytes %lld\n"
                 "body_sha256 %s\ncreated_ms %lld\nkid %s\nalg %s\n",
                 m->day, (long long) m->first_seq, (long long) m->last_seq,
                 (long long) m->records, (long long) m->min_start_ms,
                 (long long) m->max_start_ms, ph, lh, pm,
                 (long long) m->body_bytes, bs, (long long) m->created_ms,
                 m->kid, m->alg);
    return n < 0 || (size_t) n >= size ? -1 : n;
}

int
cp_archive_unhex(const char *s, size_t len, unsigned char *out, size_t out_size,
      size_t *out_len)
{
    if (len % 2 != 0 || len / 2 > out_size) {
        return -1;
    }
    for (size_t i = 0; i < len; i += 2) {
        int v = 0;

        for (size_t k = i; k < i + 2; k++) {
            char c = s[k];

            v <<= 4;
            if (c >= '0' && c <= '9') {
                v |= c - '0';
            } else if (c >= 'a' && c <= 'f') {
                v |= c - 'a' + 10;
            } else {
                return -1;
            }
        }
        out[i / 2] = (unsigned char) v;
    }
    *out_len = len / 2;
    return 0;
}

/* the next "key value\n" line, which must have this key */
static int
next_line(const char **p, const char *end, const char *key,
          const char **val, size_t *vlen)
{
    size_t      k = strlen(key);
    const char *nl = memchr(*p, '\n', (size_t) (end - *p));

    if (nl == NULL || (size_t) (nl - *p) < k + 1
        || memcmp(*p, key, k) != 0 || (*p)[k] != ' ')
    {
        return -1;
    }
    *val = *p + k + 1;
    *vlen = (size_t) (nl - *val);
    *p = nl + 1;
    return 0;
}

int
cp_archive_parse_i64(const char *v, size_t len, int64_t *out)
{
    char        buf[32], *end;
    long long   x;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }
    memcpy(buf, v, len);
    buf[len] = '\0';
    errno = 0;
    x = strtoll(buf, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = x;
    return 0;
}

int
cp_audit_manifest_parse(const char *text, size_t len, cp_audit_manifest_t *m,
                        size_t *signed_len, const char **why)
{
    static const char *ints[] = { "first_seq", "last_seq", "records",
                                  "min_start_ms", "max_start_ms" };
    static const char *hashes[] = { "prev_hash", "last_hash",
                                    "prev_manifest" };
    const char *p = text, *end = text + len, *v;
    size_t      vl, hl;
    int64_t    *iv[] = { &m->first_seq, &m->last_seq, &m->records,
                         &m->min_start_ms, &m->max_start_ms };
    unsigned char *hv[] = { m->prev_hash, m->last_hash, m->prev_manifest };

    memset(m, 0, sizeof(*m));
    *why = "malformed manifest";
    if (next_line(&p, end, "day", &v, &vl) != 0 || vl != 10) {
        return -1;
    }
    memcpy(m->day, v, vl);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (next_line(&p, end, ints[i], &v, &vl) != 0
            || cp_archive_parse_i64(v, vl, iv[i]) != 0)
        {
            return -1;
        }
    }
    for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
        if (next_line(&p, end, hashes[i], &v, &vl) != 0
            || cp_archive_unhex(v, vl, hv[i], CP_AUDIT_HASH_LEN, &hl) != 0
            || hl != CP_AUDIT_HASH_LEN)
        {
            return -1;
        }
    }
    if (next_line(&p, end, "body_bytes", &v, &vl) != 0
        || cp_archive_parse_i64(v, vl, &m->body_bytes) != 0
        || next_line(&p, end, "body_sha256", &v, &vl) != 0
        || cp_archive_unhex(v, vl, m->body_sha256, CP_AUDIT_HASH_LEN, &hl) != 0
        || hl != CP_AUDIT_HASH_LEN
        || next_line(&p, end, "created_ms", &v, &vl) != 0
        || cp_archive_parse_i64(v, vl, &m->created_ms) != 0
        || next_line(&p, end, "kid", &v, &vl) != 0
        || vl == 0 || vl >= sizeof(m->kid))
    {
        return -1;
    }
    memcpy(m->kid, v, vl);
    if (next_line(&p, end, "alg", &v, &vl) != 0 || vl == 0
        || vl >= sizeof(m->alg))
    {
        return -1;
    }
    memcpy(m->alg, v, vl);
    *signed_len = (size_t) (p - text);
    if (next_line(&p, end, "signature", &v, &vl) != 0
        || cp_archive_unhex(v, vl, m->sig, sizeof(m->sig), &m->sig_len) != 0
        || m->sig_len == 0 || p != end)
    {
        return -1;
    }
    if (m->first_seq < 1 || m->last_seq < m->first_seq
        || m->records != m->last_seq - m->first_seq + 1 || m->body_bytes < 0)
    {
        *why = "inconsistent manifest";
        return -1;
    }
    return 0;
}

void
cp_archive_sha256(const void *data, size_t len,
                  unsigned char out[CP_AUDIT_HASH_LEN])
{
    unsigned int n;

    EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

size_t
cp_archive_sig_message(unsigned char *msg, size_t size, const char *manifest,
            size_t len)
{
    size_t t = sizeof(CP_ARCHIVE_SIG_TAG);      /* with its NUL */

    if (t + len > size) {
        return 0;
    }
    memcpy(msg, CP_ARCHIVE_SIG_TAG, t);
    memcpy(msg + t, manifest, len);
    return t + len;
}
