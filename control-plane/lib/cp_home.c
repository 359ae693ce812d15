#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp_home.h"
#include "cp_snapshot.h"
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

/*
 * Who reaches what (docs/operator-guide.md, "Users, groups and modes"):
 * the control plane's user owns the home; the nginx workers, in the
 * gateway group, traverse it, read snapshots/, catalog/ and run/ (the
 * socket, lgspd's metrics) and write spool/ and run/workers/.  keys/ and
 * archive/ are the owner's alone.  A set-group-id folder gives what is
 * made in it the gateway group, whichever of the two users makes it.
 */
static const struct {
    const char *rel;
    mode_t      mode;
    int         gateway;          /* in the gateway group */
} cp_home_dirs[] = {
    { "",            0750,  1 },
    { "keys",        0700,  0 },
    { "snapshots",   02750, 1 },
    { "spool",       02770, 1 },
    { "run",         02750, 1 },
    { "run/workers", 02770, 1 },
    { "nginx",       0750,  1 },
    { "nginx/logs",  0750,  1 },
    { "nginx/tmp",   0750,  1 },  /* nginx makes its temp folders in it,
                                     0700 to the worker user */
    { "catalog",     02750, 1 },
    { "archive",     0750,  0 },
};

static int
cp_home_dir(const char *path, mode_t mode, gid_t gid)
{
    struct stat  sb;

    if (mkdir(path, mode & 0777) != 0 && errno != EEXIST) {
        return -1;
    }
    /* followed: a folder may be a link to another disk (archive/) */
    if (stat(path, &sb) != 0) {
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    /* the group first: chmod by a non-root owner keeps the set-group-id
     * bit only on a folder of a group the owner is in */
    if (gid != (gid_t) -1 && sb.st_gid != gid && chown(path, -1, gid) != 0)
    {
        return -1;
    }
    return chmod(path, mode);
}

/* Snapshots published before this layout: the mode and group new ones get
 * (an older release made them world-readable). */
static int
cp_home_snapshot_files(const char *dir, gid_t gid)
{
    DIR            *d;
    struct dirent  *de;
    struct stat     sb;
    int             fd, rc = 0;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }
    fd = dirfd(d);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0
            || !S_ISREG(sb.st_mode))
        {
            continue;
        }
        if ((sb.st_gid != gid
             && fchownat(fd, de->d_name, -1, gid, AT_SYMLINK_NOFOLLOW) != 0)
            || ((sb.st_mode & 07777) != CP_SNAPSHOT_MODE
                && fchmodat(fd, de->d_name, CP_SNAPSHOT_MODE, 0) != 0))
        {
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

int
cp_home_layout(const cp_home_t *home, gid_t gateway)
{
    char  path[PATH_MAX + 32];

    for (size_t i = 0; i < sizeof(cp_home_dirs) / sizeof(cp_home_dirs[0]);
         i++)
    {
        if (cp_home_path(home, cp_home_dirs[i].rel, path, sizeof(path)) != 0)
        {
            cp_err("%s: path too long", home->root);
            return -1;
        }
        if (cp_home_dir(path, cp_home_dirs[i].mode,
                        cp_home_dirs[i].gateway ? gateway : (gid_t) -1)
            != 0)
        {
            cp_err("%s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (cp_home_path(home, "snapshots", path, sizeof(path)) != 0
        || cp_home_snapshot_files(path, gateway) != 0)
    {
        cp_err("%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
