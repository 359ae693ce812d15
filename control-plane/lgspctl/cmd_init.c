/*
 * lgspctl init: the home's folders (modes and groups), the registry, the
 * pepper and the first signing key.  Idempotent: run again, it brings an
 * existing home to the modes of this release and keeps what is there.
 */

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "lgspctl.h"
#include "cp_audit.h"
#include "cp_cli.h"
#include "cp_keys.h"
#include "cp_store.h"
#include "cp_util.h"

static int
in_group(gid_t gid)
{
    gid_t  groups[NGROUPS_MAX];
    int    n = getgroups(NGROUPS_MAX, groups);

    if (getegid() == gid) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (groups[i] == gid) {
            return 1;
        }
    }
    return 0;
}

/*
 * The group of the nginx workers, given the folders they reach: the one
 * named, else lgsp-gw where it exists and can be given (as root, or as a
 * member: the lgsp user of the systemd units), else our own primary group
 * (make run as an ordinary user, where one user is both).
 */
static int
gateway_group(const char *name, gid_t *gid)
{
    struct group   *gr;
    char           *end;
    unsigned long   n;

    if (name == NULL) {
        gr = getgrnam(CP_GATEWAY_GROUP);
        *gid = gr != NULL && (geteuid() == 0 || in_group(gr->gr_gid))
               ? gr->gr_gid : getegid();
        return 0;
    }
    gr = getgrnam(name);
    if (gr != NULL) {
        *gid = gr->gr_gid;
        return 0;
    }
    errno = 0;
    n = strtoul(name, &end, 10);
    if (*name >= '0' && *name <= '9' && *end == '\0' && errno == 0
        && n < (gid_t) -1)
    {
        *gid = (gid_t) n;
        return 0;
    }
    cp_err("init: --gateway-group %s: no such group", name);
    return -1;
}

int
cmd_init(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        { "gateway-group", required_argument, NULL, 'g' },
        { NULL, 0, NULL, 0 },
    };
    unsigned char  pepper[CP_PEPPER_LEN], *der = NULL;
    size_t         der_len;
    char           kid[CP_KID_LEN + 1];
    const char    *why;
    sqlite3_stmt  *st;
    sqlite3       *adb;
    const char    *group = NULL;
    gid_t          gateway;
    int            c, rc = CP_EXIT_REFUSED;

    while ((c = cp_getopt(argc, argv, opts, "init")) != -1) {
        if (c != 'g') {
            return ctl_usage(ctl_find("init"));
        }
        group = optarg;
    }
    if (optind != argc) {
        return ctl_usage(ctl_find("init"));
    }
    if (gateway_group(group, &gateway) != 0) {
        return CP_EXIT_REFUSED;
    }

    if (cp_home_layout(&ctl->home, gateway) != 0) {
        return CP_EXIT_REFUSED;
    }
    /* a relative home resolves now that it exists */
    cp_home_resolve(&ctl->home, ctl->home.root);

    ctl->db = cp_db_open(ctl->db_path, 1);
    if (ctl->db == NULL) {
        return CP_EXIT_REFUSED;
    }
    if (cp_db_migrate(ctl->db, &why) != 0) {
        cp_err("%s: %s", ctl->db_path, why);
        return CP_EXIT_REFUSED;
    }
    if (cp_pepper(ctl->keys_dir, 1, pepper) != 0) {
        cp_err("%s/pepper: %s", ctl->keys_dir, strerror(errno));
        return CP_EXIT_REFUSED;
    }
    OPENSSL_cleanse(pepper, sizeof(pepper));

    /* the audit log lives apart from the registry (SPEC §9) */
    adb = cp_audit_open(&ctl->home, 1);
    if (adb == NULL) {
        return CP_EXIT_REFUSED;
    }
    sqlite3_close(adb);

    if (cp_db_int(ctl->db, "SELECT count(*) FROM signing_keys", 0) > 0) {
        if (!ctl->json) {
            printf("%s: already initialised (layout %d)\n", ctl->db_path,
                   cp_db_version(ctl->db));
        } else {
            printf("{\"db\":\"%s\",\"layout\":%d,\"created\":false}\n",
                   ctl->db_path, cp_db_version(ctl->db));
        }
        return CP_EXIT_OK;
    }

    if (cp_key_generate(ctl->keys_dir, "RS256", kid, &der, &der_len) != 0) {
        cp_err("signing key: cannot generate in %s", ctl->keys_dir);
        return CP_EXIT_REFUSED;
    }
    st = cp_db_prepare(ctl->db,
                       "INSERT INTO signing_keys (kid, alg, public_der,"
                       " state, created_at) VALUES (?1, 'RS256', ?2,"
                       " 'active', ?3)");
    if (st == NULL) {
        goto done;
    }
    sqlite3_bind_text(st, 1, kid, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, der, (int) der_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp_now());
    if (sqlite3_step(st) != SQLITE_DONE) {
        cp_err("%s: %s", ctl->db_path, sqlite3_errmsg(ctl->db));
        sqlite3_finalize(st);
        goto done;
    }
    sqlite3_finalize(st);

    if (ctl->json) {
        printf("{\"db\":\"%s\",\"layout\":%d,\"created\":true,"
               "\"kid\":\"%s\"}\n", ctl->db_path, cp_db_version(ctl->db),
               kid);
    } else {
        printf("%s: initialised (layout %d), signing key %s\n",
               ctl->db_path, cp_db_version(ctl->db), kid);
    }
    rc = CP_EXIT_OK;

done:
    OPENSSL_free(der);
    return rc;
}
