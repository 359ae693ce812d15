/*
 * The audit spool (schemas/lgsp_audit.h): each nginx worker appends its
 * records to its own preallocated, memory-mapped segment file under
 * $LGSP_HOME/spool/.  An append is a memcpy and a commit word: no system
 * call, no lock, no allocation.  A record survives the worker's death the
 * moment it is committed (the pages are MAP_SHARED: they belong to the
 * file, not the process).
 *
 * nginx-free: the module, lgspd, lgspctl and the unit tests link it.
 */

#ifndef LGSP_SPOOL_H
#define LGSP_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lgsp_audit.h"

#define LGSP_SPOOL_PATH_MAX  4096
#define LGSP_SPOOL_MODE      0660     /* segments: worker and lgspd */

typedef struct {
    char                      dir[LGSP_SPOOL_PATH_MAX];
    char                      path[LGSP_SPOOL_PATH_MAX]; /* current segment */
    size_t                    seg_size;
    uint64_t                 *dropped;     /* records lost: shared counter */
    pid_t                     pid;
    uint64_t                  sequence;    /* of the next segment */
    unsigned char            *base;        /* NULL: no open segment */
    lgsp_audit_seg_header_t  *header;
    uint32_t                  next;        /* records committed */
    size_t                    offset;      /* of the next slot */
    time_t                    retry_at;    /* after a failed open */
    int                       last_error;  /* errno of that open */
    /* posix_fallocate; a test replaces it to play a full disk */
    int                     (*allocate)(int fd, off_t offset, off_t len);
} lgsp_spool_t;

/*
 * Prepare a writer for dir (which must exist and be writable).  seg_size 0
 * means LGSP_AUDIT_SEG_SIZE; it must hold the header and one slot.  dropped
 * points at the counter of lost records (in shared memory for the module;
 * never NULL).  Call it in the process that writes (init_process): the
 * segment names carry its pid.  No file is made here: the first append
 * opens the first segment, so a process that writes no record (a worker
 * replaced by a reload before its first call) leaves nothing in the
 * spool.  A dir this process cannot write is reported (-1 with errno) so
 * that the caller can say so at start; it is not fatal: appends drop and
 * count until it can.
 */
int lgsp_spool_init(lgsp_spool_t *sp, const char *dir, size_t seg_size,
                    uint64_t *dropped);

/*
 * Append one record.  0: committed.  -1: dropped and counted (the disk is
 * full or the spool unwritable; errno says why).  A full segment is sealed
 * and the next one opened here, the only path with system calls; after a
 * failed open, appends drop without retrying until the next second.
 */
int lgsp_spool_append(lgsp_spool_t *sp, const lgsp_audit_record_t *rec);

/* Seal the current segment (a clean worker exit) and unmap it.  A writer
 * that appended nothing has no segment: nothing is left behind. */
void lgsp_spool_close(lgsp_spool_t *sp);

/*
 * Set a string field of a record from pointer+length: truncated to the
 * field, bytes outside printable ASCII replaced by '?', so nothing a client
 * sends can break a CSV line or a JSON string.  Use LGSP_AUDIT_SET.
 */
void lgsp_audit_set(char *field, uint8_t *len, size_t cap, const void *src,
                    size_t n);

#define LGSP_AUDIT_SET(rec, name, src, n)                                  \
    lgsp_audit_set((rec)->name, &(rec)->name##_len, sizeof((rec)->name),   \
                   (src), (n))

/* -------- readers: lgspd, lgspctl, /lgsp/status ---------------------- */

/* Is a mapped file of size bytes a segment this code can read?  0 or -1
 * with *why set. */
int lgsp_spool_check(const void *base, size_t size, const char **why);

/* A reader's position in a mapped segment that passed lgsp_spool_check. */
typedef struct {
    const unsigned char      *base;
    size_t                    end;       /* the header's capacity */
    size_t                    offset;    /* of the next slot */
    uint32_t                  index;     /* records read so far */
} lgsp_spool_cursor_t;

void lgsp_spool_cursor(lgsp_spool_cursor_t *c, const void *base);

/* The next committed record into *rec (NULL: skip it): 1, or 0 at the end
 * of the committed records, or -1 at a malformed slot (a damaged file),
 * which ends them too. */
int lgsp_spool_next(lgsp_spool_cursor_t *c, lgsp_audit_record_t *rec);

/* The number of committed records of a checked segment. */
uint32_t lgsp_spool_committed(const void *base);

/*
 * Does a checked segment hold no record, and never will?  True when it has
 * no committed record and is sealed, or its writer is gone (owner_gone:
 * the caller tells, lgspd with kill(pid, 0)).  Such a file is clutter that
 * lgspd removes unread (a writer that died between creating a segment and
 * its first commit leaves one).
 */
int lgsp_spool_empty(const void *base, int owner_gone);

/* The bytes a record takes in a segment (slot header and padding in). */
size_t lgsp_audit_slot_size(const lgsp_audit_record_t *rec);

/* Is name a finished segment file name ("seg.<pid>.<usec>.<n>")?  Its
 * owner pid in *pid. */
int lgsp_spool_name(const char *name, pid_t *pid);

/*
 * Records in dir not yet ingested by lgspd (from each segment's header:
 * committed minus ingested), and the number of segments; -1 when dir
 * cannot be read.  Reads headers only: cheap enough for a status page.
 */
int64_t lgsp_spool_backlog(const char *dir, uint32_t *segments);

#endif /* LGSP_SPOOL_H */
