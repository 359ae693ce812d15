#ifndef CP_AUDIT_ARCHIVE_H
#define CP_AUDIT_ARCHIVE_H

/*
 * The audit archive (SPEC §9 "Kept"): records older than audit_hot_days
 * leave audit.db for one sealed file per day in $LGSP_HOME/archive/,
 * compressed, hash-linked to the previous day's and signed; files older
 * than audit_retention_days are deleted.  docs/audit.md has the format.
 */

#include <stdint.h>
#include <sqlite3.h>

#include "cp_audit.h"

/* Called for each archived record, oldest first; non-zero stops. */
typedef int (*cp_audit_archive_cb)(void *ctx, const cp_audit_row_t row,
                                   const unsigned char hash[CP_AUDIT_HASH_LEN]);

/*
 * Walk every archived record in chain order, checking each file against
 * its manifest (digest, counts, link to the previous manifest, signature
 * against the registry's keys when registry is not NULL).  Before the
 * first callback, *start_seq and start_hash are set to the chain position
 * the oldest kept archive continues (0 and zeros when there is none).
 * 0, or -1 with why.
 */
int cp_audit_archive_walk(sqlite3 *adb, const char *archive_dir,
                          cp_audit_archive_cb cb, void *ctx,
                          int64_t *start_seq,
                          unsigned char start_hash[CP_AUDIT_HASH_LEN],
                          char *why, size_t why_size);

/*
 * The daily job: archive whole local days (UTC+7) older than hot_days,
 * at most max_records records per call (so ingestion never waits long),
 * and delete archive files older than retention_days.  Returns records
 * archived, -1 on error (logged).
 */
int64_t cp_audit_archive_run(sqlite3 *adb, sqlite3 *registry,
                             const char *keys_dir, const char *archive_dir,
                             int hot_days, int retention_days,
                             int64_t now_ms, int max_records);

/* The registry used to check archive signatures during a walk. */
void cp_audit_archive_set_registry(sqlite3 *registry);

#endif /* CP_AUDIT_ARCHIVE_H */
