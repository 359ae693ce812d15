/*
 * lgspd's publisher: compile lgsp.db into a snapshot and publish it for
 * the nginx workers (docs/snapshot-format.md), at start, whenever another
 * connection commits to lgsp.db (PRAGMA data_version moves), and when a
 * date in the registry comes due.  Tables are never re-read on a timer:
 * between those events the loop reads one pragma per tick.
 */

#include <stdio.h>
#include <string.h>

#include "lgspd.h"
#include "publish.h"
#include "cp_snapshot.h"
#include "cp_store.h"
#include "cp_util.h"

/* after a failed publication, try again no sooner than this */
#define LGSPD_PUBLISH_RETRY_MS  1000

static struct {
    char      dir[PATH_MAX + 32];
    uint64_t  generation;        /* last published */
    int64_t   data_version;
    int64_t   next_due;          /* Unix s; 0 none */
    int64_t   retry_at_ms;       /* 0: not failing */
    int       requested;
} pub;

static int64_t
data_version(sqlite3 *db)
{
    return (int64_t) cp_db_int(db, "PRAGMA data_version", -1);
}

static int
publish(lgspd_t *d, const char *why)
{
    cp_snapshot_opts_t  o;
    cp_snapshot_t       snap;
    char                err[PATH_MAX + 256];
    int64_t             started = cp_now_ms();
    int                 removed;

    /* read before compiling: a commit racing the compile moves it again
     * and is published at the next tick */
    pub.data_version = data_version(d->db);
    pub.requested = 0;

    o.issuer = d->conf.issuer;
    o.generation = pub.generation + 1;
    o.now_ms = started;
    o.health_db = lgspd_health_db();

    if (cp_snapshot_compile(d->db, &o, &snap, err, sizeof(err)) != 0) {
        cp_log("error", "snapshot %llu: compile: %s",
               (unsigned long long) o.generation, err);
        pub.retry_at_ms = started + LGSPD_PUBLISH_RETRY_MS;
        return -1;
    }
    if (cp_snapshot_publish(pub.dir, &snap, err, sizeof(err)) != 0) {
        cp_log("error", "snapshot %llu: publish: %s",
               (unsigned long long) o.generation, err);
        cp_snapshot_free(&snap);
        pub.retry_at_ms = started + LGSPD_PUBLISH_RETRY_MS;
        return -1;
    }

    pub.generation = o.generation;
    pub.next_due = snap.next_due;
    pub.retry_at_ms = 0;
    removed = cp_snapshot_prune(pub.dir, pub.generation,
                                d->conf.keep_snapshots);
    cp_log("info", "published snapshot %llu (%s): %zu bytes, %u agencies,"
           " %u systems, %u credentials, %u versions, %u grants, %u keys"
           " in %lld ms%s",
           (unsigned long long) pub.generation, why, snap.size,
           snap.agencies, snap.systems, snap.credentials, snap.versions,
           snap.grants, snap.keys, (long long) (cp_now_ms() - started),
           removed ? "; old files removed" : "");
    cp_snapshot_free(&snap);
    return 0;
}

int
lgspd_publish_start(lgspd_t *d)
{
    if (cp_home_path(&d->home, "snapshots", pub.dir, sizeof(pub.dir)) != 0) {
        cp_log("error", "snapshots: path too long");
        return -1;
    }
    /* generations only grow, across restarts too: start past anything
     * on disk, a stray .tmp included */
    pub.generation = cp_snapshot_last_generation(pub.dir);
    return publish(d, "start");
}

void
lgspd_publish_request(void)
{
    pub.requested = 1;
}

void
lgspd_publish_cron(lgspd_t *d)
{
    int64_t  now = cp_now_ms();

    if (pub.dir[0] == '\0') {
        return;
    }
    if (pub.retry_at_ms != 0) {
        if (now >= pub.retry_at_ms) {
            publish(d, "retry");
        }
        return;
    }
    if (pub.requested) {
        publish(d, "requested");
    } else if (data_version(d->db) != pub.data_version) {
        publish(d, "registry changed");
    } else if (pub.next_due != 0 && now / 1000 >= pub.next_due) {
        publish(d, "a registry date came due");
    }
}

uint64_t
lgspd_publish_generation(void)
{
    return pub.generation;
}
