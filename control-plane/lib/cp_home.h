#ifndef CP_HOME_H
#define CP_HOME_H

#include <limits.h>
#include <sys/types.h>

/* $LGSP_HOME and the layout of SPEC §12. */
typedef struct {
    char root[PATH_MAX];
} cp_home_t;

/* The group of the nginx workers under the systemd units and under make
 * run as root (scripts/setup creates it, and a user of the same name). */
#define CP_GATEWAY_GROUP  "lgsp-gw"

/* Resolve LGSP_HOME (override, else $LGSP_HOME, else ./var). */
int cp_home_resolve(cp_home_t *home, const char *override);

/*
 * Create the folders of the layout with their modes, those the nginx
 * workers reach in the gateway group; idempotent, and an existing home
 * (its published snapshots too) is brought to the same modes.  Prints
 * "prog: path: why" and returns -1 on failure.
 */
int cp_home_layout(const cp_home_t *home, gid_t gateway);

/* home->root + "/" + rel into out; -1 when it does not fit. */
int cp_home_path(const cp_home_t *home, const char *rel, char *out,
                 size_t size);

#endif /* CP_HOME_H */
