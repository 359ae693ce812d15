#ifndef CP_SNAPSHOT_H
#define CP_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

/*
 * The snapshot compiler: lgsp.db, read in one transaction, into the binary
 * layout of schemas/lgsp_snapshot_format.h (docs/snapshot-format.md).
 */

typedef struct {
    const char  *issuer;          /* the platform's "iss" (lgspd.conf) */
    uint64_t     generation;
    int64_t      now_ms;          /* created_ms, and the clock for dates */
    sqlite3     *health_db;       /* health.db: who is down; NULL: nobody */
} cp_snapshot_opts_t;

typedef struct {
    uint8_t     *data;            /* the whole file, malloc'd */
    size_t       size;
    int64_t      next_due;        /* Unix s of the next registry date that
                                     changes the snapshot; 0 none */
    uint32_t     agencies, systems, credentials, versions, grants, keys,
                 issuers;
} cp_snapshot_t;

/*
 * External issuers' keys: the JWKS parser (another file) sets this hook;
 * while it is NULL, external issuers travel without keys.  The hook calls
 * add() once per usable key; alg is LGSP_ALG_*, der a SubjectPublicKeyInfo.
 */
typedef void (*cp_snapshot_add_key_pt)(void *ctx, const char *kid,
    uint32_t alg, const unsigned char *der, size_t der_len);
typedef int (*cp_snapshot_jwks_pt)(const char *jwks, size_t len,
    cp_snapshot_add_key_pt add, void *ctx);
extern cp_snapshot_jwks_pt  cp_snapshot_jwks_hook;

/* 0 on success; -1 with the reason in err. */
int cp_snapshot_compile(sqlite3 *db, const cp_snapshot_opts_t *opts,
    cp_snapshot_t *out, char *err, size_t err_size);
void cp_snapshot_free(cp_snapshot_t *snap);

/*
 * Snapshot and control files hold providers' upstream credentials: the
 * owner writes them, the nginx workers read them through the gateway
 * group (snapshots/ is set-group-id), nobody else.
 */
#define CP_SNAPSHOT_MODE  0640

/*
 * Publish into dir (snapshots/): snap.<gen>.tmp, fsync, verify with the
 * module's reader, rename to snap.<gen>, fsync dir, then store the
 * generation in dir/current.  0 on success; -1 with err.
 */
int cp_snapshot_publish(const char *dir, const cp_snapshot_t *snap,
    char *err, size_t err_size);

/* The generation in dir/current, 0 when none. */
uint64_t cp_snapshot_current(const char *dir);

/* The highest generation published in dir (current or any snap.N). */
uint64_t cp_snapshot_last_generation(const char *dir);

/* Remove snap.N files older than the newest keep + 1 (and stray .tmp
 * files of older generations).  Returns the number removed. */
int cp_snapshot_prune(const char *dir, uint64_t current, int keep);

#endif /* CP_SNAPSHOT_H */
