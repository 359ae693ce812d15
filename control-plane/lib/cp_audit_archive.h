#ifndef CP_AUDIT_ARCHIVE_H
#define CP_AUDIT_ARCHIVE_H

/*
 * The audit archive (SPEC §9 "Kept"): records older than audit_hot_days
 * leave audit.db for one sealed file per city day in $LGSP_HOME/archive/,
 * compressed, hash-linked to the previous file and signed; files older
 * than audit_retention_days are deleted.  docs/audit.md has the format.
 *
 * A file holds a contiguous run of the chain (first_seq..last_seq), so
 * the chain continues from one file to the next and into audit.db
 * (audit_chain.base_seq/base_hash).  Once its row is in audit_archives
 * the file is the truth: the rows it holds are then deleted from
 * audit.db in small batches, and readers ignore hot rows at or below the
 * last archived seq.
 */

#include <stdint.h>
#include <sys/types.h>
#include <sqlite3.h>

#include "cp_audit.h"

#define CP_ARCHIVE_MAGIC      "LGSP-AUDIT-ARCHIVE 1\n"
#define CP_ARCHIVE_SIG_TAG    "LGSP-AUDIT-ARCHIVE-1"
#define CP_ARCHIVE_MAX_TEXT   4096       /* per text column of a record */
#define CP_ARCHIVE_MAX_SIG    1024
#define CP_ARCHIVE_TRAILER    33         /* "manifest_at %020lld\n" */

/* What a file says about itself; all but the signature is signed. */
typedef struct {
    char           day[16];              /* YYYY-MM-DD, UTC+7 */
    int64_t        first_seq, last_seq, records;
    int64_t        min_start_ms, max_start_ms;
    unsigned char  prev_hash[CP_AUDIT_HASH_LEN];     /* chain before first */
    unsigned char  last_hash[CP_AUDIT_HASH_LEN];
    unsigned char  prev_manifest[CP_AUDIT_HASH_LEN]; /* previous file's */
    int64_t        body_bytes;
    unsigned char  body_sha256[CP_AUDIT_HASH_LEN];
    int64_t        created_ms;
    char           kid[80], alg[16];
    unsigned char  sig[CP_ARCHIVE_MAX_SIG];
    size_t         sig_len;
} cp_audit_manifest_t;

/*
 * The manifest text, without its signature line: what is signed and
 * hashed (manifest_sha256).  Length, or -1 if it does not fit.
 */
int cp_audit_manifest_format(const cp_audit_manifest_t *m, char *out,
                             size_t size);

/*
 * Parse a manifest with its signature line (text is not NUL-terminated);
 * *signed_len is the length of the signed part.  0, or -1 with why.
 */
int cp_audit_manifest_parse(const char *text, size_t len,
                            cp_audit_manifest_t *m, size_t *signed_len,
                            const char **why);

/* A record in a file: its canonical bytes (docs/audit.md "Hash chain")
 * then its hash.  Length written, 0 if a text is over CP_ARCHIVE_MAX_TEXT
 * or it does not fit. */
size_t cp_audit_archive_encode(const cp_audit_row_t row,
                               const unsigned char hash[CP_AUDIT_HASH_LEN],
                               unsigned char *out, size_t size);

/* One record from buf: bytes used, 0 if buf holds only part of one, -1 if
 * malformed.  The row's texts point into buf. */
ssize_t cp_audit_archive_decode(const unsigned char *buf, size_t len,
                                cp_audit_row_t row,
                                unsigned char hash[CP_AUDIT_HASH_LEN]);

/* Called for each archived record, oldest first; non-zero stops. */
typedef int (*cp_audit_archive_cb)(void *ctx, const cp_audit_row_t row,
                                   const unsigned char hash[CP_AUDIT_HASH_LEN]);

/*
 * Walk every archived record in chain order, checking each file against
 * its row in audit_archives and its manifest (manifest hash, link to the
 * previous manifest, chain continuity, body digest, counts, every
 * record's hash, and the signature against the registry's keys when a
 * registry was set).  Before the first callback, *start_seq and
 * start_hash are set to the chain position the oldest kept archive
 * continues (0 and zeros when there is none).  0 when walked to the end,
 * 1 when a callback stopped it, -1 with why (naming the file).
 */
int cp_audit_archive_walk(sqlite3 *adb, const char *archive_dir,
                          cp_audit_archive_cb cb, void *ctx,
                          int64_t *start_seq,
                          unsigned char start_hash[CP_AUDIT_HASH_LEN],
                          char *why, size_t why_size);

/* The same, reading only the files whose records may start within
 * [since, until] (UTC ms); the others are checked by manifest only. */
int cp_audit_archive_walk_range(sqlite3 *adb, const char *archive_dir,
                                int64_t since, int64_t until,
                                cp_audit_archive_cb cb, void *ctx,
                                int64_t *start_seq,
                                unsigned char start_hash[CP_AUDIT_HASH_LEN],
                                char *why, size_t why_size);

/*
 * The archive job (lgspd): finish deleting the rows of the last archived
 * file; else archive the oldest hot city day (UTC+7) if it is older than
 * hot_days; then delete files older than retention_days.  At most
 * max_records rows read or deleted per call (a day's file is written over
 * several calls), so ingestion never waits long.  Returns the rows
 * handled (> 0: call again soon), -1 on error (logged).
 */
int64_t cp_audit_archive_run(sqlite3 *adb, sqlite3 *registry,
                             const char *keys_dir, const char *archive_dir,
                             int hot_days, int retention_days,
                             int64_t now_ms, int max_records);

/* Check archive signatures during a walk against the keys pinned in
 * keys_dir (and revocations the registry knows of); NULL: not checked. */
void cp_audit_archive_set_trust(const char *keys_dir, sqlite3 *registry);

/* The city day (UTC+7) of a UTC ms time, as days since 1970-01-01. */
int64_t cp_audit_city_day(int64_t ms);

/* A city day number as "YYYY-MM-DD" (>= 11 bytes). */
void cp_audit_day_name(int64_t day, char *out, size_t size);

#endif /* CP_AUDIT_ARCHIVE_H */
