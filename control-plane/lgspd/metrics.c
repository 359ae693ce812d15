/*
 * The control plane's part of /lgsp/metrics.  lgspd writes its gauges in
 * Prometheus text format to $LGSP_HOME/run/metrics.prom once a second
 * (write a temp file, rename); the gateway's metrics handler appends that
 * file to its own counters, with the file's age, so one scrape shows both
 * halves and still answers when lgspd is down (the age then grows).
 * No fsync: the file is a view, rewritten a second later.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgspd.h"
#include "cp_util.h"

#define METRICS_INTERVAL_MS  1000
#define METRICS_MAX          4096

static int64_t  next_ms;

static int
write_atomic(const char *path, const char *data, size_t len)
{
    char  tmp[PATH_MAX + 64];
    int   fd;

    if (cp_path(tmp, sizeof(tmp), "%s.tmp", path) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* read by the nginx workers, which may run as another user */
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -1;
    }
    if (write(fd, data, len) != (ssize_t) len || fchmod(fd, 0644) != 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return -1;
    }
    return rename(tmp, path);
}

void
lgspd_metrics_tick(lgspd_t *d)
{
    static int  warned;
    char        path[PATH_MAX + 32], buf[METRICS_MAX];
    int64_t     now = cp_now_ms(), lag;
    int         n, lag_ms, targets, down;
    long long   incidents;

    if (now < next_ms) {
        return;
    }
    next_ms = now + METRICS_INTERVAL_MS;

    if (cp_home_path(&d->home, "run/metrics.prom", path, sizeof(path)) != 0)
    {
        return;
    }

    lag = lgspd_audit_lag_ms();
    lgspd_health_metrics(&lag_ms, &targets, &down, &incidents);

    n = snprintf(buf, sizeof(buf),
        "# HELP lgsp_audit_ingest_lag_seconds Time since lgspd last read"
        " every committed record of the audit spool (about one tick while"
        " it keeps up).\n"
        "# TYPE lgsp_audit_ingest_lag_seconds gauge\n"
        "lgsp_audit_ingest_lag_seconds %.3f\n"
        "# HELP lgsp_audit_chain_ok 1 while audit.db is what lgspd wrote;"
        " 0 once it found it changed behind its back (ingestion and sealing"
        " stop).\n"
        "# TYPE lgsp_audit_chain_ok gauge\n"
        "lgsp_audit_chain_ok %d\n"
        "# HELP lgsp_audit_unsealed_records Records in audit.db that no"
        " seal covers yet (sealed every audit_seal_interval).\n"
        "# TYPE lgsp_audit_unsealed_records gauge\n"
        "lgsp_audit_unsealed_records %lld\n"
        "# HELP lgsp_health_poller_lag_seconds Worst delay of a connection"
        " check past its due time over the last window.\n"
        "# TYPE lgsp_health_poller_lag_seconds gauge\n"
        "lgsp_health_poller_lag_seconds %.3f\n"
        "# HELP lgsp_health_targets Systems and service versions whose"
        " connection status is polled.\n"
        "# TYPE lgsp_health_targets gauge\n"
        "lgsp_health_targets %d\n"
        "# HELP lgsp_health_targets_down Polled targets now down.\n"
        "# TYPE lgsp_health_targets_down gauge\n"
        "lgsp_health_targets_down %d\n"
        "# HELP lgsp_incidents_open Incidents opened and not yet closed.\n"
        "# TYPE lgsp_incidents_open gauge\n"
        "lgsp_incidents_open %lld\n",
        lag < 0 ? 0.0 : (double) lag / 1000.0, lgspd_audit_chain_ok(),
        (long long) lgspd_audit_unsealed(),
        (double) lag_ms / 1000.0, targets, down,
        incidents < 0 ? 0 : incidents);
    if (n < 0 || n >= (int) sizeof(buf)) {
        return;
    }

    if (write_atomic(path, buf, (size_t) n) != 0) {
        if (!warned) {
            cp_log("error", "metrics: %s: %s", path, strerror(errno));
            warned = 1;
        }
        return;
    }
    warned = 0;
}
