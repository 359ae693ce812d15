/*
 * lgspd: the control-plane daemon.  It publishes the registry to the
 * gateway, issues tokens, ingests the audit spool and polls health.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lgspd.h"
#include "publish.h"
#include "cp_store.h"
#include "cp_util.h"

lgspd_t lgspd;

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: lgspd [-c FILE] [-H HOME]\n"
            "  -c FILE  configuration (default $LGSP_HOME/lgspd.conf)\n"
            "  -H HOME  platform home (default $LGSP_HOME, else ./var)\n"
            "  -t       check the configuration and exit\n");
}

static int
write_pid(const char *path)
{
    char buf[32];
    int  n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());

    return cp_write_file_atomic(path, buf, (size_t) n, 0644);
}

int
main(int argc, char **argv)
{
    lgspd_t    *d = &lgspd;
    const char *home = NULL, *conf = NULL, *why = NULL;
    char        err[PATH_MAX + 256];
    int         c, test_only = 0, sfd;
    sigset_t    mask;

    cp_progname = "lgspd";
    d->listen_fd = -1;
    /* a belt: every file is made with its own mode, but one that is not
     * must not be readable by the gateway's users or anyone else */
    umask(077);

    while ((c = getopt(argc, argv, "c:H:th")) != -1) {
        switch (c) {
        case 'c': conf = optarg; break;
        case 'H': home = optarg; break;
        case 't': test_only = 1; break;
        case 'h': usage(stdout); return CP_EXIT_OK;
        default:  usage(stderr); return CP_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return CP_EXIT_USAGE;
    }

    if (cp_home_resolve(&d->home, home) != 0) {
        cp_err("LGSP_HOME: %s", strerror(errno));
        return CP_EXIT_REFUSED;
    }
    if (conf != NULL) {
        snprintf(d->conf_path, sizeof(d->conf_path), "%s", conf);
    } else if (cp_home_path(&d->home, "lgspd.conf", d->conf_path,
                            sizeof(d->conf_path)) != 0)
    {
        cp_err("LGSP_HOME: path too long");
        return CP_EXIT_REFUSED;
    }

    cp_config_defaults(&d->conf);
    if (cp_config_load(&d->conf, d->conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return CP_EXIT_REFUSED;
    }
    if (test_only) {
        printf("%s: configuration is valid\n", d->conf_path);
        return CP_EXIT_OK;
    }
    cp_log_init(d->conf.use_syslog);

    if (cp_home_path(&d->home, "lgsp.db", d->db_path, sizeof(d->db_path))
        || cp_home_path(&d->home, "run/lgspd.sock", d->sock_path,
                        sizeof(d->sock_path))
        || cp_home_path(&d->home, "run/lgspd.pid", d->pid_path,
                        sizeof(d->pid_path)))
    {
        cp_err("LGSP_HOME: path too long");
        return CP_EXIT_REFUSED;
    }

    if (access(d->db_path, F_OK) != 0) {
        cp_err("%s: no registry; run \"lgspctl init\" first", d->db_path);
        return CP_EXIT_REFUSED;
    }
    d->db = cp_db_open(d->db_path, 0);
    if (d->db == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (cp_db_migrate(d->db, &why) != 0) {
        cp_err("%s: %s", d->db_path, why);
        return CP_EXIT_REFUSED;
    }

    /* signals arrive as a file descriptor so the one loop sees them */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        cp_err("signalfd: %s", strerror(errno));
        return CP_EXIT_REFUSED;
    }

    if (lgspd_http_start(d) != 0) {
        return CP_EXIT_REFUSED;
    }
    if (lgspd_health_init(d) != 0) {
        lgspd_http_stop(d);
        return CP_EXIT_REFUSED;
    }
    if (write_pid(d->pid_path) != 0) {
        cp_err("%s: %s", d->pid_path, strerror(errno));
        lgspd_http_stop(d);
        return CP_EXIT_REFUSED;
    }
    cp_log("info", "started: home %s, socket %s, registry layout %d",
           d->home.root, d->sock_path, cp_db_version(d->db));
    lgspd_publish_start(d);

    while (!d->stop) {
        struct signalfd_siginfo si;

        if (lgspd_health_wait(d, sfd, d->conf.watch_interval_ms) > 0
            && read(sfd, &si, sizeof(si)) == sizeof(si))
        {
            if (si.ssi_signo == SIGHUP) {
                cp_log("info", "SIGHUP: nothing to reload yet");
            } else {
                cp_log("info", "signal %u: stopping", si.ssi_signo);
                d->stop = 1;
            }
        }
        lgspd_publish_cron(d);
        lgspd_audit_tick(d);
        lgspd_health_tick(d);
        lgspd_issuers_tick(d);
        lgspd_metrics_tick(d);
    }

    lgspd_audit_stop(d);
    lgspd_http_stop(d);
    lgspd_health_fini(d);
    unlink(d->pid_path);
    sqlite3_close(d->db);
    cp_log("info", "stopped");
    return CP_EXIT_OK;
}
