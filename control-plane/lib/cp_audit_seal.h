#ifndef CP_AUDIT_SEAL_H
#define CP_AUDIT_SEAL_H

/*
 * Seals (SPEC §9, docs/audit.md "Seals"): the chain head signed with the
 * platform key, each seal linked to the one before it, written to
 * audit.db and to the checkpoint file; signatures checked against the keys
 * pinned in keys/ only.
 */

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "cp_audit.h"
#include "cp_audit_checkpoint.h"

typedef struct {
    int64_t        seq;
    unsigned char  hash[CP_AUDIT_HASH_LEN];
} cp_audit_head_t;

/* The bytes a seal signs (version 1 or 2); their length. */
size_t cp_seal_message(const cp_seal_t *s, unsigned char *m, size_t size);

/* SHA-256 of the seal's message: what the next seal links to. */
void cp_seal_digest(const cp_seal_t *s, unsigned char out[CP_AUDIT_HASH_LEN]);

/*
 * A signature by kid made at at_ms, checked against the public key pinned
 * in keys_dir, and refused when keys/ or the registry (when given) say the
 * key was revoked by then.  0, or -1 with why ("not among the keys pinned
 * in keys/", "revoked", "bad signature").
 */
int cp_audit_trusted_sig(const char *keys_dir, sqlite3 *registry,
                         const char *kid, int64_t at_ms,
                         const unsigned char *msg, size_t len,
                         const unsigned char *sig, size_t sig_len,
                         char *why, size_t why_size);

/*
 * A seal signed by a key pinned in keys_dir and not revoked at its time:
 * cp_audit_trusted_sig over its message.  0, or -1 with why.
 */
int cp_seal_trusted(const char *keys_dir, sqlite3 *registry,
                    const cp_seal_t *s, char *why, size_t why_size);

/* audit_seals' columns in the order cp_seal_from_row reads them */
#define CP_SEAL_COLUMNS  "id, seq, head_hash, kid, alg, signature," \
                         " sealed_ms, prev_digest"

/* One audit_seals row (CP_SEAL_COLUMNS) as a seal: 0, -1 malformed. */
int cp_seal_from_row(sqlite3_stmt *st, cp_seal_t *s);

/* Whether two seals are the same signed seal. */
int cp_seal_same(const cp_seal_t *a, const cp_seal_t *b);

/*
 * The chain as lgspd may extend and seal it: inside one write transaction,
 * make the checkpoint and audit.db agree (create the checkpoint from an
 * audit.db older than it; copy into audit.db a seal a crash left only in
 * the file), then recompute the records after the last seal up to the
 * head.  *head is the head they vouch for.  0, or -1 with why.
 */
int cp_audit_head_check(sqlite3 *adb, const char *archive_dir,
                        cp_audit_head_t *head, char *why, size_t why_size);

/*
 * Seal the head: sign (seal id, seq, head hash, time, the previous seal's
 * digest, kid) with the registry's active key (private half in keys_dir),
 * store it in audit.db and append it to the checkpoint, in one write
 * transaction.  With known (lgspd: the head it wrote last), the head in
 * audit.db must be that one; without, the records since the last seal are
 * recomputed first.  Refuses, and signs nothing, if the chain or the seals
 * were changed.  0 with the seal in *out (may be NULL), or -1 with why.
 */
int cp_audit_seal(sqlite3 *adb, sqlite3 *registry, const char *keys_dir,
                  const char *archive_dir, const cp_audit_head_t *known,
                  cp_seal_t *out, char *why, size_t why_size);

#endif /* CP_AUDIT_SEAL_H */
