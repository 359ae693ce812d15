/* What the nouns share: NOUN VERB dispatch, times in listings. */

#include <getopt.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "lgspctl.h"
#include "cp_config.h"
#include "cp_time.h"
#include "cp_util.h"

int
ctl_dispatch(ctl_t *ctl, int argc, char **argv, const ctl_verb_t *verbs,
             const char *noun)
{
    const ctl_command_t *cmd = ctl_find(noun);

    if (argc < 2) {
        cp_err("%s: which verb?", noun);
        return ctl_usage(cmd);
    }
    for (const ctl_verb_t *v = verbs; v->name != NULL; v++) {
        if (strcmp(v->name, argv[1]) == 0) {
            if (v->needs_db && ctl_open(ctl) != 0) {
                return CP_EXIT_REFUSED;
            }
            int rc;

            optind = 1;
            rc = v->exec(ctl, argc - 1, argv + 1);
            /* bad usage always shows the usage, whoever found it */
            if (rc == CP_EXIT_USAGE && !ctl_usage_shown) {
                ctl_usage(cmd);
            }
            return rc;
        }
    }
    cp_err("%s: unknown verb \"%s\"", noun, argv[1]);
    return ctl_usage(cmd);
}

void
ctl_column_time(sqlite3_stmt *st, int col, char *buf, size_t size)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        snprintf(buf, size, "-");
        return;
    }
    cp_time_format_utc(sqlite3_column_int64(st, col), buf, size);
}

int
ctl_config(ctl_t *ctl, cp_config_t *cf)
{
    char path[PATH_MAX + 32], err[PATH_MAX + 256];

    cp_config_defaults(cf);
    if (cp_home_path(&ctl->home, "lgspd.conf", path, sizeof(path)) != 0) {
        cp_err("LGSP_HOME: path too long");
        return -1;
    }
    if (access(path, F_OK) != 0) {
        return 0;
    }
    if (cp_config_load(cf, path, err, sizeof(err)) != 0) {
        cp_err("%s", err);
        return -1;
    }
    return 0;
}
