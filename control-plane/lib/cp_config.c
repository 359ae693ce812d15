#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cp_config.h"

void
cp_config_defaults(cp_config_t *cf)
{
    memset(cf, 0, sizeof(*cf));
    strcpy(cf->issuer, "https://lgsp.hanoi.gov.vn");
    cf->token_lifetime = 600;
    cf->token_skew = 60;
    cf->use_syslog = 0;
    cf->watch_interval_ms = 50;
    cf->keep_snapshots = 4;
    cf->audit_hot_days = 90;
    cf->audit_seal_interval = 60;
    cf->audit_retention_days = 730;
    cf->health_timeout_ms = 5000;
    cf->health_max_connections = 256;
    cf->health_fail_threshold = 3;
    cf->health_ok_threshold = 2;
    cf->health_raw_days = 7;
    cf->health_summary_days = 90;
    cf->health_flush_s = 60;
    cf->jwks_refresh_s = 300;
}

static int
parse_int(const char *v, int min, int max, int *out)
{
    char *end;
    long  n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
        return -1;
    }
    *out = (int) n;
    return 0;
}

int
cp_config_load(cp_config_t *cf, const char *path, char *err, size_t err_size)
{
    FILE *f;
    char  line[1024];
    int   lineno = 0, rc = 0;

    f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_size, "%s:0: cannot open: %s", path,
                 strerror(errno));
        return -1;
    }

    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        char *key, *val, *end;
        const char *why = NULL;

        lineno++;
        key = line;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            why = "line too long";
            goto bad;
        }
        line[strcspn(line, "#\r\n")] = '\0';
        key = line + strspn(line, " \t");
        if (*key == '\0') {
            continue;
        }
        val = key + strcspn(key, " \t");
        if (*val != '\0') {
            *val++ = '\0';
        }
        val += strspn(val, " \t");
        end = val + strlen(val);
        while (end > val && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
        if (*val == '\0') {
            why = "missing value";
            goto bad;
        }

        if (strcmp(key, "issuer") == 0) {
            if (strlen(val) >= sizeof(cf->issuer)
                || strncmp(val, "https://", 8) != 0)
            {
                why = "issuer must be an https:// URL of under 256 bytes";
                goto bad;
            }
            strcpy(cf->issuer, val);
        } else if (strcmp(key, "token_lifetime") == 0) {
            if (parse_int(val, 60, 86400, &cf->token_lifetime) != 0) {
                why = "token_lifetime must be seconds between 60 and 86400";
                goto bad;
            }
        } else if (strcmp(key, "token_skew") == 0) {
            if (parse_int(val, 0, 600, &cf->token_skew) != 0) {
                why = "token_skew must be seconds between 0 and 600";
                goto bad;
            }
        } else if (strcmp(key, "log") == 0) {
            if (strcmp(val, "stderr") == 0) {
                cf->use_syslog = 0;
            } else if (strcmp(val, "syslog") == 0) {
                cf->use_syslog = 1;
            } else {
                why = "log must be \"stderr\" or \"syslog\"";
                goto bad;
            }
        } else if (strcmp(key, "watch_interval_ms") == 0) {
            if (parse_int(val, 10, 250, &cf->watch_interval_ms) != 0) {
                why = "watch_interval_ms must be between 10 and 250";
                goto bad;
            }
        } else if (strcmp(key, "jwks_refresh_s") == 0) {
            if (parse_int(val, 1, 86400, &cf->jwks_refresh_s) != 0) {
                why = "jwks_refresh_s must be between 1 and 86400";
                goto bad;
            }
        } else if (strcmp(key, "keep_snapshots") == 0) {
            if (parse_int(val, 1, 100, &cf->keep_snapshots) != 0) {
                why = "keep_snapshots must be between 1 and 100";
                goto bad;
            }
        } else if (strcmp(key, "audit_seal_interval") == 0) {
            if (parse_int(val, 1, 86400, &cf->audit_seal_interval) != 0) {
                why = "audit_seal_interval must be seconds between 1 and"
                      " 86400";
                goto bad;
            }
        } else if (strcmp(key, "audit_hot_days") == 0) {
            if (parse_int(val, 1, 3650, &cf->audit_hot_days) != 0) {
                why = "audit_hot_days must be days between 1 and 3650";
                goto bad;
            }
        } else if (strcmp(key, "audit_retention_days") == 0) {
            if (parse_int(val, 1, 36500, &cf->audit_retention_days) != 0) {
                why = "audit_retention_days must be days between 1 and 36500";
                goto bad;
            }
        } else if (strcmp(key, "health_timeout_ms") == 0) {
            if (parse_int(val, 100, 60000, &cf->health_timeout_ms) != 0) {
                why = "health_timeout_ms must be between 100 and 60000";
                goto bad;
            }
        } else if (strcmp(key, "health_max_connections") == 0) {
            if (parse_int(val, 1, 10000, &cf->health_max_connections) != 0) {
                why = "health_max_connections must be between 1 and 10000";
                goto bad;
            }
        } else if (strcmp(key, "health_fail_threshold") == 0) {
            if (parse_int(val, 1, 100, &cf->health_fail_threshold) != 0) {
                why = "health_fail_threshold must be between 1 and 100";
                goto bad;
            }
        } else if (strcmp(key, "health_ok_threshold") == 0) {
            if (parse_int(val, 1, 100, &cf->health_ok_threshold) != 0) {
                why = "health_ok_threshold must be between 1 and 100";
                goto bad;
            }
        } else if (strcmp(key, "health_raw_days") == 0) {
            if (parse_int(val, 1, 366, &cf->health_raw_days) != 0) {
                why = "health_raw_days must be between 1 and 366";
                goto bad;
            }
        } else if (strcmp(key, "health_summary_days") == 0) {
            /* Appendix 01 §2.3.2: at least 3 months */
            if (parse_int(val, 90, 3660, &cf->health_summary_days) != 0) {
                why = "health_summary_days must be between 90 and 3660";
                goto bad;
            }
        } else if (strcmp(key, "health_flush_s") == 0) {
            if (parse_int(val, 1, 3600, &cf->health_flush_s) != 0) {
                why = "health_flush_s must be seconds between 1 and 3600";
                goto bad;
            }
        } else if (strcmp(key, "health_webhook") == 0) {
            if (strlen(val) >= sizeof(cf->health_webhook)
                || (strncmp(val, "https://", 8) != 0
                    && strncmp(val, "http://", 7) != 0))
            {
                why = "health_webhook must be an http(s):// URL of under"
                      " 512 bytes";
                goto bad;
            }
            strcpy(cf->health_webhook, val);
        } else {
            snprintf(err, err_size, "%s:%d: unknown directive \"%s\"",
                     path, lineno, key);
            rc = -1;
            break;
        }
        continue;

    bad:
        snprintf(err, err_size, "%s:%d: %s: %s", path, lineno, key, why);
        rc = -1;
    }

    fclose(f);
    if (rc == 0 && cf->audit_retention_days < cf->audit_hot_days) {
        snprintf(err, err_size, "%s:%d: audit_retention_days must be at"
                 " least audit_hot_days", path, lineno);
        rc = -1;
    }
    return rc;
}
