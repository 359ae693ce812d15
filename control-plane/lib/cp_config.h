#ifndef CP_CONFIG_H
#define CP_CONFIG_H

#include <stdio.h>

/* lgspd.conf: "key value" lines, '#' comments.  Defaults first, then the
 * file overrides them; any error stops the daemon with file:line. */
typedef struct {
    char issuer[256];          /* the "iss" of platform tokens */
    int  token_lifetime;       /* seconds */
    int  token_skew;           /* seconds the data path tolerates */
    int  use_syslog;           /* log stderr|syslog */
    int  watch_interval_ms;    /* how often lgsp.db's data_version is read */
    int  keep_snapshots;       /* published files kept besides the current */
    int  audit_hot_days;       /* audit records kept in audit.db */
    int  audit_seal_interval;  /* seconds between seals while records come */
    int  audit_retention_days; /* then in archive/, until deleted */
    /* connection status (SPEC §8) */
    int  health_timeout_ms;        /* total per check; connect gets half */
    int  health_max_connections;   /* open to agencies at once */
    int  health_fail_threshold;    /* failed checks in a row: down */
    int  health_ok_threshold;      /* good checks in a row: back from down */
    int  health_raw_days;          /* raw results kept */
    int  health_summary_days;      /* state changes, summaries, incidents */
    char health_webhook[512];      /* incident notifications; "" none */
    int  health_flush_s;           /* results a crash may lose, seconds */
    int  jwks_refresh_s;           /* trusted issuers' URL JWKS refetched */
} cp_config_t;

void cp_config_defaults(cp_config_t *cf);

/* 0 on success; -1 with "file:line: message" written to err. */
int cp_config_load(cp_config_t *cf, const char *path, char *err,
                   size_t err_size);

#endif /* CP_CONFIG_H */
