#ifndef LGSPD_H
#define LGSPD_H

#include <limits.h>
#include <signal.h>
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

/* audit_ingest.c: spool → audit.db, daily seal and archive; every tick */
void lgspd_audit_tick(lgspd_t *d);

#endif /* LGSPD_H */
