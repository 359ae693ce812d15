/*
 * What the snapshot compiler (cp_snapshot.c: lgsp.db into records) and
 * the snapshot writer (cp_snapshot_file.c: records into a file, publish,
 * prune) share.  Private to the two.
 */

#ifndef CP_SNAPSHOT_PRIV_H
#define CP_SNAPSHOT_PRIV_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_snapshot.h"

/* ---- growable buffers ------------------------------------------------- */

typedef struct {
    uint8_t  *p;
    size_t    len;
    size_t    cap;
    int       oom;
} buf_t;

static inline void *
buf_push(buf_t *b, size_t n)
{
    if (b->oom) {
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t  cap = b->cap ? b->cap : 256;
        void   *p;

        while (cap < b->len + n) {
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    memset(b->p + b->len, 0, n);
    b->len += n;
    return b->p + b->len - n;
}

typedef struct {
    buf_t     strings;
    buf_t     agencies, codes, systems, credentials, versions, grants, keys,
              issuers;
    buf_t     agency_parent;     /* uint64 parent id per agency */
    char     *err;
    size_t    err_size;
    int64_t   now;               /* Unix s */
} compiler_t;

#define NREC(c, f, type)  ((uint32_t) ((c)->f.len / sizeof(type)))
#define REC(c, f, type)   ((type *) (c)->f.p)

static inline void
cerr(compiler_t *c, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(c->err, c->err_size, fmt, ap);
    va_end(ap);
}

/* Index the records, lay out the file, checksum it: out->data.  0 or -1
 * with the reason in c->err. */
int cp_snapshot_assemble(compiler_t *c, const cp_snapshot_opts_t *o,
    cp_snapshot_t *out);

#endif /* CP_SNAPSHOT_PRIV_H */
