/*
 * The home's layout and the databases' modes (docs/operator-guide.md,
 * "Users, groups and modes"): what lgspctl init makes is the same under
 * umask 000, and what an older release left open is closed again.
 */

#define _XOPEN_SOURCE 700

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <check.h>

#include "cp_home.h"
#include "cp_snapshot.h"
#include "cp_store.h"

static cp_home_t  home;
static mode_t     saved_umask;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void
setup(void)
{
    strcpy(home.root, "/tmp/lgsp-home-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(home.root));
    /* the operator's umask must not matter */
    saved_umask = umask(0);
}

static void
teardown(void)
{
    umask(saved_umask);
    nftw(home.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static mode_t
mode_of(const char *rel)
{
    char         path[PATH_MAX + 32];
    struct stat  sb;

    ck_assert_int_eq(cp_home_path(&home, rel, path, sizeof(path)), 0);
    ck_assert_msg(lstat(path, &sb) == 0, "%s missing", path);
    return sb.st_mode & 07777;
}

static void
touch(const char *rel, mode_t mode)
{
    char  path[PATH_MAX + 32];
    FILE *f;

    ck_assert_int_eq(cp_home_path(&home, rel, path, sizeof(path)), 0);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("x\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(layout_modes_under_umask_000)
{
    static const struct {
        const char *rel;
        mode_t      mode;
    } want[] = {
        { "", 0750 }, { "keys", 0700 }, { "snapshots", 02750 },
        { "spool", 02770 }, { "run", 02750 }, { "run/workers", 02770 },
        { "nginx", 0750 }, { "nginx/logs", 0750 }, { "nginx/tmp", 0750 },
        { "catalog", 02750 }, { "archive", 0750 },
    };

    /* the test's own group: one any user may give its folders */
    ck_assert_int_eq(cp_home_layout(&home, getegid()), 0);
    ck_assert_int_eq(cp_home_layout(&home, getegid()), 0);   /* again */
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(mode_of(want[i].rel) == want[i].mode,
                      "%s: %04o, not %04o", want[i].rel,
                      (unsigned) mode_of(want[i].rel),
                      (unsigned) want[i].mode);
    }
}
END_TEST

START_TEST(layout_closes_an_open_home)
{
    char  path[PATH_MAX + 32];

    ck_assert_int_eq(cp_home_layout(&home, getegid()), 0);
    touch("snapshots/snap.1", 0644);
    ck_assert_int_eq(cp_home_path(&home, "snapshots", path, sizeof(path)),
                     0);
    ck_assert_int_eq(chmod(path, 0755), 0);
    ck_assert_int_eq(chmod(home.root, 0777), 0);

    ck_assert_int_eq(cp_home_layout(&home, getegid()), 0);
    ck_assert_uint_eq(mode_of("snapshots/snap.1"), CP_SNAPSHOT_MODE);
    ck_assert_uint_eq(mode_of("snapshots"), 02750);
    ck_assert_uint_eq(mode_of(""), 0750);
}
END_TEST

START_TEST(databases_owner_only)
{
    char      path[PATH_MAX + 32];
    sqlite3  *db;

    ck_assert_int_eq(cp_home_path(&home, "x.db", path, sizeof(path)), 0);
    db = cp_db_open(path, 1);
    ck_assert_ptr_nonnull(db);
    ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (a); INSERT INTO t"
                                  " VALUES (1)", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_uint_eq(mode_of("x.db"), CP_DB_MODE);
    ck_assert_uint_eq(mode_of("x.db-wal"), CP_DB_MODE);   /* SQLite's */
    ck_assert_uint_eq(mode_of("x.db-shm"), CP_DB_MODE);

    /* an older release's files, opened again */
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(cp_home_path(&home, "x.db-wal", path, sizeof(path)),
                     0);
    ck_assert_int_eq(chmod(path, 0666), 0);
    ck_assert_int_eq(cp_home_path(&home, "x.db", path, sizeof(path)), 0);
    ck_assert_int_eq(cp_db_private(path), 0);
    ck_assert_uint_eq(mode_of("x.db"), CP_DB_MODE);
    ck_assert_uint_eq(mode_of("x.db-wal"), CP_DB_MODE);
    sqlite3_close(db);
}
END_TEST

Suite *
home_suite(void)
{
    Suite *s = suite_create("home");
    TCase *tc = tcase_create("modes");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, layout_modes_under_umask_000);
    tcase_add_test(tc, layout_closes_an_open_home);
    tcase_add_test(tc, databases_owner_only);
    suite_add_tcase(s, tc);
    return s;
}
