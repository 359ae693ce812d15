#ifndef LGSPCTL_H
#define LGSPCTL_H

#include <limits.h>
#include <sqlite3.h>

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
const ctl_command_t *ctl_find(const char *name);

/* Is lgspd running for this home?  Its pid or 0. */
int ctl_lgspd_pid(const ctl_t *ctl);

int cmd_init(ctl_t *ctl, int argc, char **argv);
int cmd_status(ctl_t *ctl, int argc, char **argv);
int cmd_health(ctl_t *ctl, int argc, char **argv);
int cmd_incident(ctl_t *ctl, int argc, char **argv);

#endif /* LGSPCTL_H */
