#ifndef LGSPD_H
#define LGSPD_H

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sqlite3.h>

#include "cp_config.h"
#include "cp_home.h"

/* The one server struct (as in redis): defaults, then the config file,
 * then init, then the loop. */
typedef struct {
    cp_config_t          conf;
    cp_home_t            home;
    char                 conf_path[PATH_MAX];
    char                 db_path[PATH_MAX + 32];
    char                 sock_path[PATH_MAX + 32];
    char                 pid_path[PATH_MAX + 32];
    sqlite3             *db;             /* the loop's connection */
    struct MHD_Daemon   *http;
    int                  listen_fd;
    volatile sig_atomic_t stop;
} lgspd_t;

extern lgspd_t lgspd;

int lgspd_http_start(lgspd_t *d);
void lgspd_http_stop(lgspd_t *d);

/* audit_ingest.c: spool → audit.db, seals and archive; every tick.  stop:
 * the last records read and sealed when lgspd stops.  chain_ok: 0 once
 * audit.db was found changed behind lgspd's back (or is not open). */
void lgspd_audit_tick(lgspd_t *d);
void lgspd_audit_stop(lgspd_t *d);
int lgspd_audit_chain_ok(void);
int64_t lgspd_audit_unsealed(void);
/* Connection status poller (health.c): init opens health.db; wait is the
 * loop's one wait (curl_multi_poll with fd as an extra descriptor; 1 when
 * fd is readable); tick runs transfers and the poller's periodic jobs. */
int lgspd_health_init(lgspd_t *d);
int lgspd_health_wait(lgspd_t *d, int fd, int timeout_ms);
void lgspd_health_tick(lgspd_t *d);
void lgspd_health_fini(lgspd_t *d);
sqlite3 *lgspd_health_db(void);
/* issuers.c: trusted issuers' JWKS (URL refetched, file reread when it
 * changes); every tick, never waits; cleans up once d->stop is set */
void lgspd_issuers_tick(lgspd_t *d);

/* metrics.c: the control plane's Prometheus metrics, written to
 * run/metrics.prom for the gateway's /lgsp/metrics; every tick */
void lgspd_metrics_tick(lgspd_t *d);
int64_t lgspd_audit_lag_ms(void);
void lgspd_health_metrics(int *lag_ms, int *targets, int *down,
                          long long *incidents_open);

#endif /* LGSPD_H */
