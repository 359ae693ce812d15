/*
 * The snapshot writer: the compiler's records laid out as one indexed,
 * checksummed file (docs/snapshot-format.md), then published into
 * snapshots/ (tmp, fsync, verify, rename, the control file) and pruned.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "cp_snapshot.h"
#include "cp_snapshot_priv.h"
#include "cp_util.h"
#include "lgsp_snapshot.h"


/* ---- indexes and assembly --------------------------------------------- */

static void
view_of(const compiler_t *c, lgsp_snapshot_t *v)
{
    memset(v, 0, sizeof(*v));
    v->strings = (const char *) c->strings.p;
    v->strings_size = c->strings.len;
    v->agency_codes = (const void *) c->codes.p;
    v->systems = (const void *) c->systems.p;
    v->credentials = (const void *) c->credentials.p;
    v->versions = (const void *) c->versions.p;
    v->grants = (const void *) c->grants.p;
    v->keys = (const void *) c->keys.p;
    v->issuers = (const void *) c->issuers.p;
}

static int
build_index(const compiler_t *c, uint32_t kind, uint32_t n, buf_t *out)
{
    lgsp_snapshot_t    v;
    lgsp_snap_slot_t  *slots;
    uint32_t           count = 2;

    /* at most half full: short probes, and always an empty slot */
    while (count < 2 * (uint64_t) n) {
        if (count >= 0x40000000u) {
            return -1;
        }
        count *= 2;
    }
    slots = buf_push(out, (size_t) count * sizeof(*slots));
    if (slots == NULL) {
        return -1;
    }
    view_of(c, &v);
    for (uint32_t r = 0; r < n; r++) {
        const void  *key;
        uint8_t      kb[20];
        size_t       len = lgsp_snap_index_key(&v, kind, r, &key, kb);
        uint32_t     h = lgsp_snap_hash(key, len), i = h & (count - 1);

        while (slots[i].record != 0) {
            i = (i + 1) & (count - 1);
        }
        slots[i].hash = h;
        slots[i].record = r + 1;
    }
    return 0;
}

typedef struct {
    uint32_t      kind;
    uint32_t      record_size;
    const buf_t  *b;
} out_section_t;

int
cp_snapshot_assemble(compiler_t *c, const cp_snapshot_opts_t *o,
    cp_snapshot_t *out)
{
    buf_t                idx[9];
    static const struct {
        uint32_t  kind;
        uint32_t  source;        /* which record buffer it indexes */
    } idx_kinds[9] = {
        { LGSP_SEC_IDX_AGENCY_CODE, 1 }, { LGSP_SEC_IDX_SYSTEM, 2 },
        { LGSP_SEC_IDX_SYSTEM_ID, 2 }, { LGSP_SEC_IDX_CREDENTIAL, 3 },
        { LGSP_SEC_IDX_CREDENTIAL_ID, 3 }, { LGSP_SEC_IDX_ROUTE, 4 },
        { LGSP_SEC_IDX_GRANT, 5 }, { LGSP_SEC_IDX_KEY, 6 },
        { LGSP_SEC_IDX_ISSUER, 7 },
    };
    uint32_t             nsrc[8];
    out_section_t        secs[18];
    size_t               nsecs = 0, off, total;
    lgsp_snap_header_t  *h;
    lgsp_snap_section_t *t;
    uint8_t             *file;
    unsigned int         md_len;
    int                  rc = -1;

    nsrc[1] = NREC(c, codes, lgsp_snap_agency_code_t);
    nsrc[2] = NREC(c, systems, lgsp_snap_system_t);
    nsrc[3] = NREC(c, credentials, lgsp_snap_credential_t);
    nsrc[4] = NREC(c, versions, lgsp_snap_version_t);
    nsrc[5] = NREC(c, grants, lgsp_snap_grant_t);
    nsrc[6] = NREC(c, keys, lgsp_snap_key_t);
    nsrc[7] = NREC(c, issuers, lgsp_snap_issuer_t);

    memset(idx, 0, sizeof(idx));
    for (int i = 0; i < 9; i++) {
        if (build_index(c, idx_kinds[i].kind, nsrc[idx_kinds[i].source],
                        &idx[i]) != 0)
        {
            cerr(c, "index: out of memory");
            goto done;
        }
    }

#define SEC(k, rs, buf)                                                      \
    secs[nsecs].kind = k;                                                    \
    secs[nsecs].record_size = rs;                                            \
    secs[nsecs].b = buf;                                                     \
    nsecs++;

    SEC(LGSP_SEC_STRINGS, 0, &c->strings);
    SEC(LGSP_SEC_AGENCIES, sizeof(lgsp_snap_agency_t), &c->agencies);
    SEC(LGSP_SEC_AGENCY_CODES, sizeof(lgsp_snap_agency_code_t), &c->codes);
    SEC(LGSP_SEC_SYSTEMS, sizeof(lgsp_snap_system_t), &c->systems);
    SEC(LGSP_SEC_CREDENTIALS, sizeof(lgsp_snap_credential_t),
        &c->credentials);
    SEC(LGSP_SEC_VERSIONS, sizeof(lgsp_snap_version_t), &c->versions);
    SEC(LGSP_SEC_GRANTS, sizeof(lgsp_snap_grant_t), &c->grants);
    SEC(LGSP_SEC_KEYS, sizeof(lgsp_snap_key_t), &c->keys);
    SEC(LGSP_SEC_ISSUERS, sizeof(lgsp_snap_issuer_t), &c->issuers);
    for (int i = 0; i < 9; i++) {
        SEC(idx_kinds[i].kind, sizeof(lgsp_snap_slot_t), &idx[i]);
    }
#undef SEC

    off = sizeof(*h) + nsecs * sizeof(*t);
    total = off;
    for (size_t i = 0; i < nsecs; i++) {
        total = (total + 7) & ~(size_t) 7;
        total += secs[i].b->len;
    }
    total = (total + 7) & ~(size_t) 7;

    file = calloc(1, total);
    if (file == NULL) {
        cerr(c, "out of memory (%zu bytes)", total);
        goto done;
    }
    h = (lgsp_snap_header_t *) file;
    t = (lgsp_snap_section_t *) (file + sizeof(*h));
    memcpy(h->magic, LGSP_SNAP_MAGIC, 8);
    h->major = LGSP_SNAP_MAJOR;
    h->minor = LGSP_SNAP_MINOR;
    h->nsections = (uint32_t) nsecs;
    h->generation = o->generation;
    h->created_ms = o->now_ms;
    h->file_size = total;

    for (size_t i = 0; i < nsecs; i++) {
        off = (off + 7) & ~(size_t) 7;
        t[i].kind = secs[i].kind;
        t[i].record_size = secs[i].record_size;
        t[i].offset = off;
        t[i].size = secs[i].b->len;
        t[i].count = secs[i].record_size
                     ? (uint32_t) (secs[i].b->len / secs[i].record_size) : 0;
        if (secs[i].b->len) {
            memcpy(file + off, secs[i].b->p, secs[i].b->len);
        }
        off += secs[i].b->len;
    }
    off = sizeof(*h) + nsecs * sizeof(*t);
    if (EVP_Digest(file + off, total - off, h->body_sha256, &md_len,
                   EVP_sha256(), NULL) != 1)
    {
        free(file);
        cerr(c, "SHA-256 failed");
        goto done;
    }

    out->data = file;
    out->size = total;
    out->agencies = NREC(c, agencies, lgsp_snap_agency_t);
    out->systems = nsrc[2];
    out->credentials = nsrc[3];
    out->versions = nsrc[4];
    out->grants = nsrc[5];
    out->keys = nsrc[6];
    out->issuers = nsrc[7];
    rc = 0;

done:
    for (int i = 0; i < 9; i++) {
        free(idx[i].p);
    }
    return rc;
}

/* ---- files ------------------------------------------------------------ */

static int
fsync_dir(const char *dir)
{
    int  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int  rc;

    if (fd < 0) {
        return -1;
    }
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t  n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

/* Map dir/current read-write, creating it at its full size once. */
static lgsp_snap_control_t *
control_map(const char *dir, int create)
{
    char                  path[4096];
    int                   fd;
    struct stat           sb;
    lgsp_snap_control_t  *ctl;

    if (cp_path(path, sizeof(path), "%s/current", dir) != 0) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    fd = open(path, (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC,
              CP_SNAPSHOT_MODE);
    if (fd < 0) {
        return NULL;
    }
    /* the mode whatever the umask, and on a file an older release made */
    if (fstat(fd, &sb) != 0
        || (create && fchmod(fd, CP_SNAPSHOT_MODE) != 0))
    {
        close(fd);
        return NULL;
    }
    if (sb.st_size < LGSP_SNAP_CONTROL_SIZE) {
        lgsp_snap_control_t  init;

        /* grow only, never truncate: a worker may have it mapped */
        if (!create) {
            close(fd);
            errno = ENODATA;
            return NULL;
        }
        memset(&init, 0, sizeof(init));
        memcpy(init.magic, LGSP_SNAP_CONTROL_MAGIC, 8);
        if (pwrite(fd, &init, sizeof(init), 0) != (ssize_t) sizeof(init)
            || fsync(fd) != 0)
        {
            close(fd);
            return NULL;
        }
    }
    ctl = mmap(NULL, LGSP_SNAP_CONTROL_SIZE,
               create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
               0);
    close(fd);
    return ctl == MAP_FAILED ? NULL : ctl;
}

uint64_t
cp_snapshot_current(const char *dir)
{
    lgsp_snap_control_t  *ctl = control_map(dir, 0);
    uint64_t              gen;

    if (ctl == NULL) {
        return 0;
    }
    gen = lgsp_snap_control_generation(ctl, LGSP_SNAP_CONTROL_SIZE);
    munmap(ctl, LGSP_SNAP_CONTROL_SIZE);
    return gen;
}

static int
snap_gen(const char *name, uint64_t *gen, int *tmp)
{
    char                *end;
    unsigned long long   g;

    if (strncmp(name, "snap.", 5) != 0 || !isdigit((unsigned char) name[5])) {
        return -1;
    }
    errno = 0;
    g = strtoull(name + 5, &end, 10);
    if (errno != 0) {
        return -1;
    }
    if (*end == '\0') {
        *tmp = 0;
    } else if (strcmp(end, ".tmp") == 0) {
        *tmp = 1;
    } else {
        return -1;
    }
    *gen = g;
    return 0;
}

uint64_t
cp_snapshot_last_generation(const char *dir)
{
    uint64_t        last = cp_snapshot_current(dir), g;
    DIR            *d = opendir(dir);
    struct dirent  *de;
    int             tmp;

    if (d == NULL) {
        return last;
    }
    while ((de = readdir(d)) != NULL) {
        if (snap_gen(de->d_name, &g, &tmp) == 0 && g > last) {
            last = g;
        }
    }
    closedir(d);
    return last;
}

int
cp_snapshot_publish(const char *dir, const cp_snapshot_t *snap, char *err,
    size_t err_size)
{
    char                  tmp[4096], path[4096];
    const lgsp_snap_header_t *h = (const void *) snap->data;
    lgsp_snapshot_t       check;
    lgsp_snap_control_t  *ctl;
    void                 *map;
    char                  why[256];
    int                   fd;

    if (cp_path(path, sizeof(path), "%s/snap.%llu", dir,
                (unsigned long long) h->generation) != 0
        || cp_path(tmp, sizeof(tmp), "%s.tmp", path) != 0)
    {
        snprintf(err, err_size, "%s: path too long", dir);
        return -1;
    }

    /* workers run as another user: they read it through the gateway
     * group, the mode set before a byte of the credentials is written */
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, CP_SNAPSHOT_MODE);
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fchmod(fd, CP_SNAPSHOT_MODE) != 0
        || write_all(fd, snap->data, snap->size) != 0
        || fsync(fd) != 0)
    {
        snprintf(err, err_size, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }

    /* verify what is on disk, with the reader the workers use */
    map = mmap(NULL, snap->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        snprintf(err, err_size, "%s: mmap: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (lgsp_snapshot_load(&check, map, snap->size, why, sizeof(why)) != 0) {
        munmap(map, snap->size);
        snprintf(err, err_size, "%s: does not verify: %s", tmp, why);
        unlink(tmp);
        return -1;
    }
    munmap(map, snap->size);

    if (rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }

    ctl = control_map(dir, 1);
    if (ctl == NULL) {
        snprintf(err, err_size, "%s/current: %s", dir, strerror(errno));
        return -1;
    }
    ctl->published_ms = h->created_ms;
    __atomic_store_n(&ctl->generation, h->generation, __ATOMIC_RELEASE);
    msync(ctl, LGSP_SNAP_CONTROL_SIZE, MS_SYNC);
    munmap(ctl, LGSP_SNAP_CONTROL_SIZE);
    return 0;
}

int
cp_snapshot_prune(const char *dir, uint64_t current, int keep)
{
    DIR            *d = opendir(dir);
    struct dirent  *de;
    uint64_t        g;
    int             tmp, removed = 0;
    char            path[4096];

    if (d == NULL) {
        return 0;
    }
    /*
     * A worker that has a file mapped keeps it after the unlink; one that
     * read the generation but has not opened the file yet retries at its
     * next tick with the newer generation.  So "in use" never blocks a
     * removal: keep is how many older files stay for inspection and for a
     * rollback by hand.
     */
    while ((de = readdir(d)) != NULL) {
        if (snap_gen(de->d_name, &g, &tmp) != 0) {
            continue;
        }
        if ((tmp && g < current)
            || (!tmp && g < current && current - g > (uint64_t) keep))
        {
            if (cp_path(path, sizeof(path), "%s/%s", dir, de->d_name) == 0
                && unlink(path) == 0)
            {
                removed++;
            }
        }
    }
    closedir(d);
    return removed;
}
