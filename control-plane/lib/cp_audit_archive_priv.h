/*
 * What the audit archive's three files share: the file format
 * (cp_audit_archive_format.c), reading and checking files
 * (cp_audit_archive_walk.c) and the archive job (cp_audit_archive.c).
 * Private to the three.
 */

#ifndef CP_AUDIT_ARCHIVE_PRIV_H
#define CP_AUDIT_ARCHIVE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "cp_audit_archive.h"

#define DAY_MS        (86400LL * 1000)
#define CITY_MS       (7LL * 3600 * 1000)
#define IO_CHUNK      (64 * 1024)
#define REC_MAX       (CP_AUDIT_NCOLS * (4 + CP_ARCHIVE_MAX_TEXT) \
                       + CP_AUDIT_HASH_LEN)
#define MANIFEST_MAX  4096

int cp_archive_unhex(const char *s, size_t len, unsigned char *out,
    size_t out_size, size_t *out_len);
int cp_archive_parse_i64(const char *v, size_t len, int64_t *out);
void cp_archive_sha256(const void *data, size_t len,
    unsigned char out[CP_AUDIT_HASH_LEN]);
/* The signed message: the signature tag (with its NUL), then the
 * manifest text.  Its length, 0 if it does not fit in size. */
size_t cp_archive_sig_message(unsigned char *msg, size_t size,
    const char *manifest, size_t len);

#endif /* CP_AUDIT_ARCHIVE_PRIV_H */
