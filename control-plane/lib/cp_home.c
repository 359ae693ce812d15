#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cp_home.h"
#include "cp_util.h"

int
cp_home_resolve(cp_home_t *home, const char *override)
{
    const char *h = override;

    if (h == NULL || *h == '\0') {
        h = getenv("LGSP_HOME");
    }
    if (h == NULL || *h == '\0') {
        h = "./var";
    }
    if (realpath(h, home->root) == NULL) {
        /* not created yet: keep it as given, made absolute by the caller */
        if (strlen(h) >= sizeof(home->root)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(home->root, h);
    }
    return 0;
}

int
cp_home_path(const cp_home_t *home, const char *rel, char *out, size_t size)
{
    return cp_path(out, size, "%s/%s", home->root, rel);
}

int
cp_home_layout(const cp_home_t *home)
{
    /*
     * keys/ holds the private signing keys and the secret pepper: owner
     * only.  spool/ is written by the nginx workers, which run as the owner
     * of the home under make run and as the lgsp user under systemd.
     */
    static const struct {
        const char *rel;
        mode_t      mode;
    } dirs[] = {
        { "",          0755 },
        { "keys",      0700 },
        { "snapshots", 0755 },
        { "spool",     0770 },
        { "run",       0755 },
        { "nginx",     0755 },
        { "nginx/logs", 0755 },
        { "nginx/tmp", 0700 },
        { "catalog",   0755 },
        { "archive",   0750 },
    };
    char path[PATH_MAX + 32];

    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (cp_home_path(home, dirs[i].rel, path, sizeof(path)) != 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (mkdir(path, dirs[i].mode) != 0 && errno != EEXIST) {
            return -1;
        }
        if (chmod(path, dirs[i].mode) != 0) {
            return -1;
        }
    }
    return 0;
}
