/* The audit archive: daily files, hash-linked and signed. */

#include <string.h>

#include "cp_audit_archive.h"
#include "cp_util.h"

static sqlite3 *archive_registry;

void
cp_audit_archive_set_registry(sqlite3 *registry)
{
    archive_registry = registry;
}

int
cp_audit_archive_walk(sqlite3 *adb, const char *archive_dir,
                      cp_audit_archive_cb cb, void *ctx, int64_t *start_seq,
                      unsigned char start_hash[CP_AUDIT_HASH_LEN],
                      char *why, size_t why_size)
{
    (void) adb; (void) archive_dir; (void) cb; (void) ctx;
    (void) why; (void) why_size;
    *start_seq = 0;
    memset(start_hash, 0, CP_AUDIT_HASH_LEN);
    return 0;
}

int64_t
cp_audit_archive_run(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
                     const char *archive_dir, int hot_days,
                     int retention_days, int64_t now_ms, int max_records)
{
    (void) adb; (void) registry; (void) keys_dir; (void) archive_dir;
    (void) hot_days; (void) retention_days; (void) now_ms; (void) max_records;
    return 0;
}
