/* archive/checkpoints.log: the seals and archived days, outside audit.db. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp_audit_checkpoint.h"
#include "cp_audit_archive_priv.h"
#include "cp_util.h"

#define LINE_MAX_LEN   (64 + 2 * CP_SEAL_MAX_SIG + 4 * 65 + 64)
#define MAX_FIELDS     10
#define TAIL_CHUNK     65536

static int
ckpt_path(const char *dir, char *out, size_t size)
{
    return cp_path(out, size, "%s/%s", dir, CP_CKPT_FILE);
}

/* split on single spaces; the fields point into buf (NUL-terminated) */
static int
split(char *buf, char **f, int max)
{
    int   n = 0;
    char *p = buf, *tok;

    while ((tok = strsep(&p, " ")) != NULL) {
        if (n == max || *tok == '\0') {
            return -1;
        }
        f[n++] = tok;
    }
    return n;
}

static int
num(const char *s, int64_t *out)
{
    char      *end;
    long long  v;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = v;
    return 0;
}

static int
hash_field(const char *s, unsigned char out[CP_AUDIT_HASH_LEN])
{
    size_t n;

    return strlen(s) == 2 * CP_AUDIT_HASH_LEN
           && cp_archive_unhex(s, strlen(s), out, CP_AUDIT_HASH_LEN, &n) == 0
           ? 0 : -1;
}

static int
name_field(const char *s, char *out, size_t size)
{
    size_t n = strlen(s);

    if (n == 0 || n >= size) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
        {
            return -1;
        }
    }
    memcpy(out, s, n + 1);
    return 0;
}

int
cp_ckpt_parse(const char *line, size_t len, cp_seal_t *s,
              cp_ckpt_archive_t *a)
{
    char  buf[LINE_MAX_LEN + 1], *f[MAX_FIELDS];
    int   n;

    if (len == 0 || len > LINE_MAX_LEN || memchr(line, '\0', len) != NULL) {
        return -1;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    n = split(buf, f, MAX_FIELDS);

    if (n == 10 && strcmp(f[0], "seal") == 0) {
        int64_t v;

        memset(s, 0, sizeof(*s));
        if (num(f[1], &v) != 0 || (v != 1 && v != 2)) {
            return -1;
        }
        s->version = (int) v;
        if (num(f[2], &s->id) != 0 || s->id < 1 || num(f[3], &s->seq) != 0
            || num(f[4], &s->sealed_ms) != 0 || hash_field(f[5], s->head) != 0
            || (s->version == 2 ? hash_field(f[6], s->prev)
                                : strcmp(f[6], "-")) != 0
            || name_field(f[7], s->kid, sizeof(s->kid)) != 0
            || name_field(f[8], s->alg, sizeof(s->alg)) != 0
            || strlen(f[9]) == 0
            || cp_archive_unhex(f[9], strlen(f[9]), s->sig, sizeof(s->sig),
                                &s->sig_len) != 0)
        {
            return -1;
        }
        return 1;
    }
    if (n == 7 && strcmp(f[0], "archive") == 0) {
        unsigned char m[CP_AUDIT_HASH_LEN];

        memset(a, 0, sizeof(*a));
        if (strlen(f[1]) != 10 || name_field(f[1], a->day, sizeof(a->day))
            || num(f[2], &a->first_seq) != 0 || num(f[3], &a->last_seq) != 0
            || num(f[4], &a->records) != 0 || hash_field(f[5], m) != 0
            || num(f[6], &a->created_ms) != 0
            || a->last_seq < a->first_seq)
        {
            return -1;
        }
        memcpy(a->manifest, f[5], 65);
        return 2;
    }
    return -1;
}

static int
format_seal(const cp_seal_t *s, char *out, size_t size)
{
    char head[65], prev[65], sig[2 * CP_SEAL_MAX_SIG + 1];
    int  n;

    if (s->sig_len == 0 || s->sig_len > CP_SEAL_MAX_SIG) {
        return -1;
    }
    cp_hex(s->head, CP_AUDIT_HASH_LEN, head);
    cp_hex(s->prev, CP_AUDIT_HASH_LEN, prev);
    cp_hex(s->sig, s->sig_len, sig);
    n = snprintf(out, size, "seal %d %lld %lld %lld %s %s %s %s %s\n",
                 s->version, (long long) s->id, (long long) s->seq,
                 (long long) s->sealed_ms, head,
                 s->version == 2 ? prev : "-", s->kid, s->alg, sig);
    return n < 0 || (size_t) n >= size ? -1 : n;
}

/*
 * Append one line: the file opened for appending, a torn last line (a
 * crash in the middle of a write) cut off first, one write, fsync; the
 * folder synced too when the file is new.
 */
static int
append_line(const char *dir, const char *line, size_t len)
{
    char         path[PATH_MAX + 32], c;
    struct stat  st;
    int          fd, created, rc = -1;
    off_t        end;

    if (ckpt_path(dir, path, sizeof(path)) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    created = access(path, F_OK) != 0;
    fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd == -1) {
        return -1;
    }
    /* seals (under audit.db's write lock) and archived days (lgspd's
     * archive job, outside it) both append: one at a time */
    if (flock(fd, LOCK_EX) != 0 || fchmod(fd, 0640) != 0
        || fstat(fd, &st) != 0)
    {
        goto done;
    }
    end = st.st_size;
    while (end > 0 && pread(fd, &c, 1, end - 1) == 1 && c != '\n') {
        end--;
    }
    if (end != st.st_size && ftruncate(fd, end) != 0) {
        goto done;
    }
    if (write(fd, line, len) != (ssize_t) len || fsync(fd) != 0) {
        int e = errno;

        /* a partial line is cut off by the next append */
        errno = e ? e : EIO;
        goto done;
    }
    if (created) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd == -1 || fsync(dfd) != 0) {
            if (dfd != -1) {
                close(dfd);
            }
            goto done;
        }
        close(dfd);
    }
    rc = 0;
done:
    close(fd);
    return rc;
}

int
cp_ckpt_append_seal(const char *dir, const cp_seal_t *s)
{
    char line[LINE_MAX_LEN + 2];
    int  n = format_seal(s, line, sizeof(line));

    if (n < 0) {
        errno = EINVAL;
        return -1;
    }
    return append_line(dir, line, (size_t) n);
}

int
cp_ckpt_append_archive(const char *dir, const cp_ckpt_archive_t *a)
{
    char line[256];
    int  n;

    n = snprintf(line, sizeof(line), "archive %s %lld %lld %lld %s %lld\n",
                 a->day, (long long) a->first_seq, (long long) a->last_seq,
                 (long long) a->records, a->manifest,
                 (long long) a->created_ms);
    if (n < 0 || (size_t) n >= sizeof(line)) {
        errno = EINVAL;
        return -1;
    }
    return append_line(dir, line, (size_t) n);
}

int
cp_ckpt_scan(const char *dir, const cp_ckpt_visit_t *vis, char *why,
             size_t why_size)
{
    char               path[PATH_MAX + 32], *line = NULL;
    size_t             cap = 0;
    ssize_t            n;
    long               lineno = 0;
    cp_seal_t          s;
    cp_ckpt_archive_t  a;
    FILE              *f;
    int                rc = 1;

    if (ckpt_path(dir, path, sizeof(path)) != 0) {
        snprintf(why, why_size, "archive folder: path too long");
        return -1;
    }
    f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* a line a minute for years: one line at a time, never the file */
    while (rc == 1 && (n = getline(&line, &cap, f)) > 0) {
        int kind;

        lineno++;
        if (line[n - 1] != '\n') {
            break;                  /* a torn last line is not a line */
        }
        kind = cp_ckpt_parse(line, (size_t) n - 1, &s, &a);
        if (kind == 1) {
            rc = vis->seal(vis->arg, &s) == 0 ? 1 : -1;
        } else if (kind == 2) {
            rc = vis->archive(vis->arg, &a) == 0 ? 1 : -1;
        } else {
            snprintf(why, why_size, "%s:%ld: not a checkpoint line", path,
                     lineno);
            rc = -1;
        }
    }
    if (rc == 1 && ferror(f)) {
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int
cp_ckpt_last_seal(const char *dir, cp_seal_t *s, int *exists, char *why,
                  size_t why_size)
{
    char               path[PATH_MAX + 32], *buf = NULL;
    struct stat        st;
    cp_ckpt_archive_t  a;
    size_t             want = TAIL_CHUNK;
    int                fd, rc = -1;

    *exists = 0;
    if (ckpt_path(dir, path, sizeof(path)) != 0) {
        snprintf(why, why_size, "archive folder: path too long");
        return -1;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    *exists = 1;
    if (fstat(fd, &st) != 0) {
        snprintf(why, why_size, "%s: %s", path, strerror(errno));
        goto done;
    }
    /* seals come every minute, archived days once a day: the last seal
     * is in the last few lines; read more only when it is not */
    for (;;) {
        size_t  n = (size_t) st.st_size < want ? (size_t) st.st_size : want;
        off_t   off = st.st_size - (off_t) n;
        char   *end, *nl;

        free(buf);
        buf = malloc(n + 1);
        if (buf == NULL || pread(fd, buf, n, off) != (ssize_t) n) {
            snprintf(why, why_size, "%s: cannot read", path);
            goto done;
        }
        end = buf + n;
        /* a torn last line (no newline) is not a line */
        while (end > buf && end[-1] != '\n') {
            end--;
        }
        while (end > buf) {
            char *line;

            nl = end - 1;                   /* this line's newline */
            line = nl;
            while (line > buf && line[-1] != '\n') {
                line--;
            }
            if (line == buf && off > 0) {
                break;                      /* may be cut: read more */
            }
            switch (cp_ckpt_parse(line, (size_t) (nl - line), s, &a)) {
            case 1:
                rc = 1;
                goto done;
            case 2:
                break;
            default:
                snprintf(why, why_size, "%s: a line near its end is not a"
                         " checkpoint line", path);
                goto done;
            }
            end = line;
        }
        if (off == 0) {
            rc = 0;
            goto done;
        }
        want *= 4;
    }
done:
    free(buf);
    close(fd);
    return rc;
}
