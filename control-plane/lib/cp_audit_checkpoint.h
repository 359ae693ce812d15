#ifndef CP_AUDIT_CHECKPOINT_H
#define CP_AUDIT_CHECKPOINT_H

/*
 * The audit checkpoint: archive/checkpoints.log, an append-only text file
 * outside audit.db with one line per seal and one per archived day
 * (docs/audit.md "Seals").  A writer of audit.db who deletes or replaces
 * seals, or erases an archived day, is caught by comparison with it.
 *
 *   seal 2 <id> <seq> <sealed_ms> <head hex> <prev hex> <kid> <alg> <sig hex>
 *   seal 1 <id> <seq> <sealed_ms> <head hex> - <kid> <alg> <sig hex>
 *   archive <day> <first_seq> <last_seq> <records> <manifest sha256> <ms>
 *
 * "seal 1" lines are the seals of an audit.db older than the checkpoint,
 * copied once when it is created.  A last line without its newline is a
 * write a crash cut short: readers ignore it, the next append removes it.
 */

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "cp_audit.h"

#define CP_CKPT_FILE      "checkpoints.log"
#define CP_SEAL_MAX_SIG   1024

typedef struct {
    int            version;          /* 2; 1: an older, unlinked seal */
    int64_t        id, seq, sealed_ms;
    unsigned char  head[CP_AUDIT_HASH_LEN];
    unsigned char  prev[CP_AUDIT_HASH_LEN];  /* digest of seal id - 1 */
    char           kid[72], alg[16];
    unsigned char  sig[CP_SEAL_MAX_SIG];
    size_t         sig_len;
} cp_seal_t;

typedef struct {
    char     day[16];                /* YYYY-MM-DD, UTC+7 */
    int64_t  first_seq, last_seq, records, created_ms;
    char     manifest[65];           /* manifest_sha256, hex */
} cp_ckpt_archive_t;

/* What cp_ckpt_scan calls for each line: 0 goes on, -1 stops the scan
 * (the callback has written why). */
typedef struct {
    int   (*seal)(void *arg, const cp_seal_t *s);
    int   (*archive)(void *arg, const cp_ckpt_archive_t *a);
    void   *arg;
} cp_ckpt_visit_t;

/* Every complete line in file order, one at a time (the file grows by a
 * line a minute for years: it is never read whole).  1 the file was read,
 * 0 it does not exist, -1 a malformed line (why names it) or a callback
 * stopped. */
int cp_ckpt_scan(const char *archive_dir, const cp_ckpt_visit_t *vis,
                 char *why, size_t why_size);

/* The last seal line only (read from the end).  1 found, 0 none (*exists
 * says whether the file exists), -1 with why. */
int cp_ckpt_last_seal(const char *archive_dir, cp_seal_t *s, int *exists,
                      char *why, size_t why_size);

/* Append one line and fsync (the file is created 0640). 0 or -1 (errno). */
int cp_ckpt_append_seal(const char *archive_dir, const cp_seal_t *s);
int cp_ckpt_append_archive(const char *archive_dir,
                           const cp_ckpt_archive_t *a);

/* Parse one line (without its newline) into a seal or an archive: 1 a
 * seal, 2 an archive, -1 malformed.  For the unit tests and the reader. */
int cp_ckpt_parse(const char *line, size_t len, cp_seal_t *s,
                  cp_ckpt_archive_t *a);

#endif /* CP_AUDIT_CHECKPOINT_H */
