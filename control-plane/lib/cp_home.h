#ifndef CP_HOME_H
#define CP_HOME_H

#include <limits.h>

/* $LGSP_HOME and the layout of SPEC §12. */
typedef struct {
    char root[PATH_MAX];
} cp_home_t;

/* Resolve LGSP_HOME (override, else $LGSP_HOME, else ./var). */
int cp_home_resolve(cp_home_t *home, const char *override);

/* Create the folders of the layout with their modes; idempotent. */
int cp_home_layout(const cp_home_t *home);

/* home->root + "/" + rel into out; -1 when it does not fit. */
int cp_home_path(const cp_home_t *home, const char *rel, char *out,
                 size_t size);

#endif /* CP_HOME_H */
