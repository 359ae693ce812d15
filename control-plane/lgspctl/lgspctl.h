#ifndef LGSPCTL_H
#define LGSPCTL_H

#include <limits.h>
#include <stdint.h>
#include <sqlite3.h>

#include "cp_config.h"
#include "cp_home.h"

/* What every command gets: the global options and the opened registry. */
typedef struct {
    int          json;            /* --json */
    const char  *db_opt;          /* --db PATH */
    cp_home_t    home;            /* $LGSP_HOME, or the folder of --db */
    char         db_path[PATH_MAX + 32];
    char         keys_dir[PATH_MAX + 32];
    sqlite3     *db;
} ctl_t;

typedef int (*ctl_cmd_pt)(ctl_t *ctl, int argc, char **argv);

typedef struct {
    const char  *name;
    const char  *summary;
    ctl_cmd_pt   exec;
    const char  *usage;           /* the verbs, one per line */
} ctl_command_t;

/* Open lgsp.db (which must exist and be current); prints why on failure. */
int ctl_open(ctl_t *ctl);

/* Print a command's usage on stderr and return CP_EXIT_USAGE. */
int ctl_usage(const ctl_command_t *cmd);
extern int ctl_usage_shown;     /* set by ctl_usage() */
const ctl_command_t *ctl_find(const char *name);

/* lgspd.conf of this home (what lgspd runs with): defaults when the file
 * does not exist (a bare --db); -1 with the file:line on stderr when bad. */
int ctl_config(ctl_t *ctl, cp_config_t *cf);

/* Is lgspd running for this home?  Its pid or 0. */
int ctl_lgspd_pid(const ctl_t *ctl);

/* Call after a commit that changes what the gateway serves. */
void ctl_warn_if_no_lgspd(const ctl_t *ctl);

int cmd_init(ctl_t *ctl, int argc, char **argv);
int cmd_status(ctl_t *ctl, int argc, char **argv);
int cmd_credential(ctl_t *ctl, int argc, char **argv);
int cmd_key(ctl_t *ctl, int argc, char **argv);

/* Registry nouns (agency, system, service, grant): NOUN VERB dispatch.
 * The verb gets argv from the verb on, and the registry already open when
 * needs_db is set. */
typedef struct {
    const char  *name;
    ctl_cmd_pt   exec;
    int          needs_db;
} ctl_verb_t;

int ctl_dispatch(ctl_t *ctl, int argc, char **argv, const ctl_verb_t *verbs,
                 const char *noun);

/* A Unix-seconds column as UTC ISO 8601, or "-" when NULL (listings). */
void ctl_column_time(sqlite3_stmt *st, int col, char *buf, size_t size);

/* ctl_where.c: where a system's URLs may point.  Each returns 0, or
 * CP_EXIT_REFUSED after saying why and rolling back. */
/* url, given as option opt, for a system allowed or not */
int ctl_url_where(sqlite3 *db, const char *what, const char *opt,
                  const char *url, int allowed);
/* allow (or not) the system's URLs there, recorded in the change log */
int ctl_allow_link_local(sqlite3 *db, long long system_id, int allow);
/* every URL the system owns, as for a system that is not allowed */
int ctl_system_urls_where(sqlite3 *db, long long system_id,
                          const char *what);

int cmd_agency(ctl_t *ctl, int argc, char **argv);
int cmd_system(ctl_t *ctl, int argc, char **argv);
int cmd_service(ctl_t *ctl, int argc, char **argv);
int cmd_grant(ctl_t *ctl, int argc, char **argv);
int cmd_log(ctl_t *ctl, int argc, char **argv);
int cmd_backup(ctl_t *ctl, int argc, char **argv);
int cmd_restore(ctl_t *ctl, int argc, char **argv);
int cmd_audit(ctl_t *ctl, int argc, char **argv);

/* cmd_audit.c: audit records in the spool not yet ingested (-1: unknown) */
int64_t ctl_audit_backlog(const ctl_t *ctl);
int cmd_health(ctl_t *ctl, int argc, char **argv);
int cmd_incident(ctl_t *ctl, int argc, char **argv);
int cmd_issuer(ctl_t *ctl, int argc, char **argv);

/* cmd_report.c, cmd_reconcile.c: reports from the audit summaries, and
 * reconciliation with a partner's own list of transactions */
int cmd_report(ctl_t *ctl, int argc, char **argv);
int cmd_reconcile(ctl_t *ctl, int argc, char **argv);


/* Registration workflows (Forms 01-03): requests and notices. */
int cmd_request(ctl_t *ctl, int argc, char **argv);
int cmd_notice(ctl_t *ctl, int argc, char **argv);
/* cmd_request.c: open requests past 5 working days (-1: error); *open
 * gets the open ones */
int ctl_requests_overdue(ctl_t *ctl, long long *open);
/* cmd_notice.c: a notice made by a lifecycle change, inside the caller's
 * transaction and change log; its id or -1 */
long long ctl_notice_auto(sqlite3 *db, const char *kind, const char *target,
                          int64_t start, int64_t end, const char *text,
                          const char *reason);

#endif /* LGSPCTL_H */
