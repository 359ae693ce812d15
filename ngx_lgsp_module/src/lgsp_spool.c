/*
 * The audit spool writer and the few reader helpers lgspd shares with it.
 * See lgsp_spool.h and docs/audit.md.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lgsp_spool.h"


static int lgsp_spool_open_segment(lgsp_spool_t *sp);
static void lgsp_spool_seal(lgsp_spool_t *sp);


static int
lgsp_spool_fallocate(int fd, off_t offset, off_t len)
{
    /* posix_fallocate returns the error instead of setting errno */
    return posix_fallocate(fd, offset, len);
}


int
lgsp_spool_init(lgsp_spool_t *sp, const char *dir, size_t seg_size,
    uint64_t *dropped)
{
    size_t  n;

    memset(sp, 0, sizeof(lgsp_spool_t));

    if (seg_size == 0) {
        seg_size = LGSP_AUDIT_SEG_SIZE;
    }

    n = strlen(dir);

    /* a segment holds at least one record of any size */
    if (dropped == NULL
        || seg_size < LGSP_AUDIT_HEADER_SIZE + LGSP_AUDIT_SLOT_MAX
        || seg_size > (1u << 30) || n + 64 >= sizeof(sp->dir))
    {
        errno = EINVAL;
        return -1;
    }

    memcpy(sp->dir, dir, n + 1);
    sp->seg_size = seg_size;
    sp->dropped = dropped;
    sp->pid = getpid();
    sp->allocate = lgsp_spool_fallocate;

    /* the segment waits for the first record (lgsp_spool_append): nginx
     * starts and replaces workers on every reload, and a 4 MB file per
     * worker that served nothing would pile up while lgspd is away.  The
     * spool is only checked, so that a wrong mode shows at start. */
    return access(sp->dir, W_OK | X_OK);
}


static int
lgsp_spool_open_segment(lgsp_spool_t *sp)
{
    int                       fd, err;
    char                      tmp[LGSP_SPOOL_PATH_MAX];
    void                     *base;
    struct timeval            tv;
    lgsp_audit_seg_header_t  *h;

    gettimeofday(&tv, NULL);

    /*
     * pid + creation time in µs + per-writer sequence: unique across
     * restarts and pid reuse.  The file is made under a ".tmp" name and
     * renamed once its header is written, so lgspd never sees a segment
     * without one.
     */
    if (snprintf(sp->path, sizeof(sp->path), "%s/seg.%d.%lld.%llu", sp->dir,
                 (int) sp->pid,
                 (long long) tv.tv_sec * 1000000 + tv.tv_usec,
                 (unsigned long long) sp->sequence)
            >= (int) sizeof(sp->path)
        || snprintf(tmp, sizeof(tmp), "%s.tmp", sp->path)
            >= (int) sizeof(tmp))
    {
        errno = ENAMETOOLONG;
        return -1;
    }

    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, LGSP_SPOOL_MODE);
    if (fd == -1) {
        return -1;
    }

    /* lgspd, the other user of the gateway group (spool/ is set-group-id),
     * marks segments ingested and sealed: group read-write, whatever the
     * umask nginx was started with */
    if (fchmod(fd, LGSP_SPOOL_MODE) != 0) {
        err = errno;
        goto failed;
    }

    /* the blocks exist now, so a later store into the mapping cannot fail
     * with SIGBUS on a full disk */
    err = sp->allocate(fd, 0, (off_t) sp->seg_size);
    if (err != 0) {
        goto failed;
    }

    base = mmap(NULL, sp->seg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                0);
    if (base == MAP_FAILED) {
        err = errno;
        goto failed;
    }

    h = base;
    memcpy(h->magic, LGSP_AUDIT_SEG_MAGIC, sizeof(h->magic));
    h->version = LGSP_AUDIT_SEG_VERSION;
    h->header_size = LGSP_AUDIT_HEADER_SIZE;
    h->fixed_size = LGSP_AUDIT_FIXED;
    h->capacity = (uint32_t) sp->seg_size;
    h->owner_pid = (int32_t) sp->pid;
    h->created_us = (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
    h->sequence = sp->sequence;

    if (rename(tmp, sp->path) != 0) {
        err = errno;
        munmap(base, sp->seg_size);
        goto failed;
    }

    close(fd);

    sp->base = base;
    sp->header = h;
    sp->next = 0;
    sp->offset = LGSP_AUDIT_HEADER_SIZE;
    sp->sequence++;

    return 0;

failed:

    close(fd);
    unlink(tmp);
    sp->path[0] = '\0';
    errno = err;
    return -1;
}


static void
lgsp_spool_seal(lgsp_spool_t *sp)
{
    if (sp->base == NULL) {
        return;
    }

    /* release: every commit before the seal is visible to whoever sees it */
    __atomic_store_n(&sp->header->sealed, 1, __ATOMIC_RELEASE);

    munmap(sp->base, sp->seg_size);
    sp->base = NULL;
    sp->header = NULL;
}


/* the strings of a record, in field (and slot) order */
#define LGSP_AUDIT_STRINGS  12

static const struct {
    size_t  data;
    size_t  len;
    size_t  cap;
} lgsp_audit_strings[LGSP_AUDIT_STRINGS] = {
#define LGSP_AUDIT_STRING(f)                                                 \
    { offsetof(lgsp_audit_record_t, f),                                     \
      offsetof(lgsp_audit_record_t, f##_len),                               \
      sizeof(((lgsp_audit_record_t *) 0)->f) }
    LGSP_AUDIT_STRING(txn_id),
    LGSP_AUDIT_STRING(request_id),
    LGSP_AUDIT_STRING(consumer_org),
    LGSP_AUDIT_STRING(consumer_system),
    LGSP_AUDIT_STRING(client_id),
    LGSP_AUDIT_STRING(provider_org),
    LGSP_AUDIT_STRING(provider_system),
    LGSP_AUDIT_STRING(service),
    LGSP_AUDIT_STRING(version),
    LGSP_AUDIT_STRING(method),
    LGSP_AUDIT_STRING(route),
    LGSP_AUDIT_STRING(reason),
#undef LGSP_AUDIT_STRING
};


/* a string's length, never past its field (LGSP_AUDIT_SET keeps it so) */
static size_t
lgsp_audit_len(const lgsp_audit_record_t *rec, size_t i)
{
    size_t  len;

    len = ((const uint8_t *) rec)[lgsp_audit_strings[i].len];

    return len < lgsp_audit_strings[i].cap ? len : lgsp_audit_strings[i].cap;
}


/* each string's length into len[], and the slot's size */
static size_t
lgsp_audit_lens(const lgsp_audit_record_t *rec, size_t len[])
{
    size_t  i, n;

    n = sizeof(lgsp_audit_slot_t) + LGSP_AUDIT_FIXED;

    for (i = 0; i < LGSP_AUDIT_STRINGS; i++) {
        len[i] = lgsp_audit_len(rec, i);
        n += len[i];
    }

    return (n + 7) & ~(size_t) 7;
}


size_t
lgsp_audit_slot_size(const lgsp_audit_record_t *rec)
{
    size_t  len[LGSP_AUDIT_STRINGS];

    return lgsp_audit_lens(rec, len);
}


int
lgsp_spool_append(lgsp_spool_t *sp, const lgsp_audit_record_t *rec)
{
    size_t              i, size, len[LGSP_AUDIT_STRINGS];
    time_t              now;
    unsigned char      *p;
    lgsp_audit_slot_t  *slot;

    /* the lengths once: for the size, the fixed part and the copies */
    size = lgsp_audit_lens(rec, len);

    if (sp->base != NULL && sp->offset + size > sp->seg_size) {
        lgsp_spool_seal(sp);
    }

    if (sp->base == NULL) {
        now = time(NULL);

        if (sp->dropped == NULL) {
            errno = EINVAL;
            return -1;
        }

        if (now < sp->retry_at) {
            __atomic_fetch_add(sp->dropped, 1, __ATOMIC_RELAXED);
            errno = sp->last_error;
            return -1;
        }

        if (lgsp_spool_open_segment(sp) != 0) {
            sp->last_error = errno;
            sp->retry_at = now + 1;
            __atomic_fetch_add(sp->dropped, 1, __ATOMIC_RELAXED);
            return -1;
        }
    }

    slot = (lgsp_audit_slot_t *) (sp->base + sp->offset);
    slot->size = (uint32_t) size;

    p = (unsigned char *) (slot + 1);
    memcpy(p, rec, LGSP_AUDIT_FIXED);

    for (i = 0; i < LGSP_AUDIT_STRINGS; i++) {
        p[lgsp_audit_strings[i].len] = (uint8_t) len[i];
    }

    p += LGSP_AUDIT_FIXED;

    for (i = 0; i < LGSP_AUDIT_STRINGS; i++) {
        memcpy(p, (const char *) rec + lgsp_audit_strings[i].data, len[i]);
        p += len[i];
    }

    /* the commit word last: a reader that sees it sees the whole record */
    __atomic_store_n(&slot->commit, LGSP_AUDIT_COMMIT, __ATOMIC_RELEASE);

    sp->offset += size;
    sp->next++;
    __atomic_store_n(&sp->header->committed, sp->next, __ATOMIC_RELEASE);

    return 0;
}


void
lgsp_spool_close(lgsp_spool_t *sp)
{
    lgsp_spool_seal(sp);
}


/* is any of the 8 bytes outside 0x20..0x7e? (bit tricks, "haszero" family) */
#define LGSP_ONES   0x0101010101010101ULL
#define LGSP_HIGHS  0x8080808080808080ULL
#define LGSP_UNPRINTABLE(x)                                                  \
    ((((x) - LGSP_ONES * 0x20) & ~(x) & LGSP_HIGHS)                          \
     | ((((x) + LGSP_ONES) | (x)) & LGSP_HIGHS))


void
lgsp_audit_set(char *field, uint8_t *len, size_t cap, const void *src,
    size_t n)
{
    size_t               i;
    uint64_t             w;
    const unsigned char *p = src;

    if (cap > 255) {
        cap = 255;
    }

    if (src == NULL) {
        n = 0;
    }

    if (n > cap) {
        n = cap;
    }

    /* eight bytes at a time while they are all printable (they nearly
     * always are: most fields come from the validated registry) */
    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);

        if (LGSP_UNPRINTABLE(w)) {
            break;
        }

        memcpy(field + i, &w, 8);
    }

    for ( /* void */ ; i < n; i++) {
        field[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char) p[i] : '?';
    }

    *len = (uint8_t) n;
}


int
lgsp_spool_check(const void *base, size_t size, const char **why)
{
    const lgsp_audit_seg_header_t  *h = base;

    if (size < LGSP_AUDIT_HEADER_SIZE) {
        *why = "shorter than a segment header";
        return -1;
    }

    if (memcmp(h->magic, LGSP_AUDIT_SEG_MAGIC, sizeof(h->magic)) != 0) {
        *why = "not an audit segment (bad magic)";
        return -1;
    }

    if (h->version != LGSP_AUDIT_SEG_VERSION
        || h->header_size != LGSP_AUDIT_HEADER_SIZE
        || h->fixed_size != LGSP_AUDIT_FIXED)
    {
        *why = "segment layout of another version";
        return -1;
    }

    if (h->capacity < LGSP_AUDIT_HEADER_SIZE || h->capacity > size) {
        *why = "capacity larger than the file";
        return -1;
    }

    return 0;
}


void
lgsp_spool_cursor(lgsp_spool_cursor_t *c, const void *base)
{
    const lgsp_audit_seg_header_t  *h = base;

    c->base = base;
    c->end = h->capacity;
    c->offset = LGSP_AUDIT_HEADER_SIZE;
    c->index = 0;
}


/*
 * The slot at the cursor if it is committed and well-formed; NULL at the
 * end of the committed records.  A malformed slot (a size or lengths that
 * do not add up: only a damaged file has one) ends them too, with *bad
 * set, so no reader walks off its mapping.
 */

static const lgsp_audit_slot_t *
lgsp_spool_slot(const lgsp_spool_cursor_t *c, int *bad)
{
    size_t                    i, n;
    const unsigned char      *fixed;
    const lgsp_audit_slot_t  *slot;

    *bad = 0;

    if (c->offset + sizeof(lgsp_audit_slot_t) + LGSP_AUDIT_FIXED > c->end) {
        return NULL;
    }

    slot = (const lgsp_audit_slot_t *) (c->base + c->offset);

    if (__atomic_load_n(&slot->commit, __ATOMIC_ACQUIRE)
        != LGSP_AUDIT_COMMIT)
    {
        return NULL;
    }

    fixed = (const unsigned char *) (slot + 1);
    n = sizeof(lgsp_audit_slot_t) + LGSP_AUDIT_FIXED;

    for (i = 0; i < LGSP_AUDIT_STRINGS; i++) {
        n += fixed[lgsp_audit_strings[i].len];
    }

    if (slot->size % 8 != 0 || slot->size != ((n + 7) & ~(size_t) 7)
        || slot->size > c->end - c->offset)
    {
        *bad = 1;
        return NULL;
    }

    return slot;
}


int
lgsp_spool_next(lgsp_spool_cursor_t *c, lgsp_audit_record_t *rec)
{
    int                       bad;
    size_t                    i, len, cap;
    const unsigned char      *p;
    const lgsp_audit_slot_t  *slot;

    slot = lgsp_spool_slot(c, &bad);
    if (slot == NULL) {
        return bad ? -1 : 0;
    }

    if (rec != NULL) {
        p = (const unsigned char *) (slot + 1);
        memset(rec, 0, sizeof(lgsp_audit_record_t));
        memcpy(rec, p, LGSP_AUDIT_FIXED);
        p += LGSP_AUDIT_FIXED;

        for (i = 0; i < LGSP_AUDIT_STRINGS; i++) {
            len = ((uint8_t *) rec)[lgsp_audit_strings[i].len];
            cap = lgsp_audit_strings[i].cap;

            /* a length past its field: keep what fits, read past it */
            memcpy((char *) rec + lgsp_audit_strings[i].data, p,
                   len < cap ? len : cap);
            if (len > cap) {
                ((uint8_t *) rec)[lgsp_audit_strings[i].len] = (uint8_t) cap;
            }

            p += len;
        }
    }

    c->offset += slot->size;
    c->index++;

    return 1;
}


uint32_t
lgsp_spool_committed(const void *base)
{
    lgsp_spool_cursor_t  c;

    lgsp_spool_cursor(&c, base);

    while (lgsp_spool_next(&c, NULL) == 1) {
        /* void */
    }

    return c.index;
}


int
lgsp_spool_empty(const void *base, int owner_gone)
{
    const lgsp_audit_seg_header_t  *h = base;

    /* the seal before the commit words, as every reader: once sealed,
     * a count of none is final */
    if (!__atomic_load_n(&h->sealed, __ATOMIC_ACQUIRE) && !owner_gone) {
        return 0;
    }

    return lgsp_spool_committed(base) == 0;
}


int
lgsp_spool_name(const char *name, pid_t *pid)
{
    long  v;
    char *end;

    if (strncmp(name, "seg.", 4) != 0) {
        return 0;
    }

    v = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || v <= 0) {
        return 0;
    }

    /* "<usec>.<n>" and nothing after: ".tmp" files are not segments yet */
    end++;
    while (*end >= '0' && *end <= '9') {
        end++;
    }

    if (*end++ != '.' || *end < '0' || *end > '9') {
        return 0;
    }

    while (*end >= '0' && *end <= '9') {
        end++;
    }

    if (*end != '\0') {
        return 0;
    }

    *pid = (pid_t) v;
    return 1;
}


int64_t
lgsp_spool_backlog(const char *dir, uint32_t *segments)
{
    int                       fd;
    DIR                      *d;
    char                      path[LGSP_SPOOL_PATH_MAX];
    void                     *base;
    pid_t                     pid;
    int64_t                   backlog = 0;
    uint32_t                  n = 0, committed;
    uint64_t                  ingested;
    struct stat               st;
    struct dirent            *e;
    const char               *why;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    while ((e = readdir(d)) != NULL) {
        if (!lgsp_spool_name(e->d_name, &pid)
            || snprintf(path, sizeof(path), "%s/%s", dir, e->d_name)
               >= (int) sizeof(path))
        {
            continue;
        }

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            continue;
        }

        if (fstat(fd, &st) != 0 || st.st_size < LGSP_AUDIT_HEADER_SIZE) {
            close(fd);
            continue;
        }

        base = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);

        if (base == MAP_FAILED) {
            continue;
        }

        if (lgsp_spool_check(base, (size_t) st.st_size, &why) == 0) {
            const lgsp_audit_seg_header_t *h = base;

            committed = lgsp_spool_committed(base);
            ingested = __atomic_load_n(&h->ingested, __ATOMIC_ACQUIRE);

            if (committed > ingested) {
                backlog += (int64_t) (committed - ingested);
            }

            n++;
        }

        munmap(base, (size_t) st.st_size);
    }

    closedir(d);

    if (segments != NULL) {
        *segments = n;
    }

    return backlog;
}
